"""The LLM rubric, minus the network: prompts, the output model, citation checks, blending.

Pure functions only (llm.py does the calling), so every guard rail is unit-testable:
- the answer is fenced as data and fence markers inside it are neutralised;
- passages are numbered [1]..[k], the question's own reference passages first;
- a citation survives only if its passage was sent and its quote occurs in that passage
  (compared after normalising case, white space, quotes and dashes);
- scores outside 0-10 are an error (the caller falls back to the offline grade);
- the final score blends LLM and offline scores, and an answer the offline grader flagged as
  not-a-real-answer (HARD_FLAGS) can never be lifted above its offline band.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from interviewer.grading.calibration import BandCuts
from interviewer.grading.models import (
    HARD_FLAGS,
    Assessment,
    Band,
    Citation,
    CriterionScore,
    FollowUpExchange,
    Grade,
    LlmGrade,
    Reference,
)
from interviewer.wording import dropped_note, printable

if TYPE_CHECKING:  # only the type: templates are loaded by the edges, rendering here is pure
    from interviewer.prompts import PromptTemplate

CRITERIA: tuple[str, ...] = ("correctness", "completeness", "depth", "clarity")

# Final score = LLM_WEIGHT * LLM overall + (1 - LLM_WEIGHT) * offline score, one decimal.
LLM_WEIGHT = 0.6
# When the two graders differ by more than this many points, the feedback says so.
DISAGREEMENT_MARGIN = 3.0
# At most this many passages go into a prompt (own passages are never crowded out by related ones).
MAX_PASSAGES = 8
# Bounds on what one prompt carries: a pasted essay or a huge passage cannot blow the context.
MAX_ANSWER_CHARS = 6000
MAX_PASSAGE_CHARS = 3000
# Quotes shorter than this (after normalisation) prove nothing and are dropped.
MIN_QUOTE_CHARS = 8

BAND_RANK: dict[Band, int] = {
    Band.off_topic: 0,
    Band.weak: 1,
    Band.partial: 2,
    Band.good: 3,
    Band.excellent: 4,
}

FENCE_OPEN = "<<<ANSWER"
FENCE_CLOSE = "ANSWER>>>"
MESSAGE_OPEN = "<<<MESSAGE"
MESSAGE_CLOSE = "MESSAGE>>>"


class RubricError(ValueError):
    """The LLM's reply cannot be used as a grade."""


class RubricParseError(RubricError):
    """Not JSON, or JSON not matching the schema: worth one repair attempt."""


class RubricRangeError(RubricError):
    """Well-formed but a score is outside 0-10: the grade is not trusted, no repair."""


# --- what the LLM must return -------------------------------------------------------------

# Bounds on what one reply can put on screen or in history: a runaway model cannot flood either.
MAX_REPLY_CHARS = 4000
MAX_LINE_CHARS = 500
MAX_LIST_ITEMS = 12

_NUMBER = re.compile(r"^\s*\[?\s*(-?\d+(?:\.\d+)?)\s*\]?\s*(?:/\s*10)?\s*$")


def _number(v: Any) -> Any:
    """"7", "7.5", "[2]", "8/10" as numbers; anything else left for pydantic to reject."""
    if isinstance(v, bool):
        return None  # true/false is not a score
    if isinstance(v, str):
        m = _NUMBER.match(v)
        return float(m.group(1)) if m else v
    return v


def _line(v: Any) -> str:
    """One line of text from whatever the model put there, bounded."""
    if v is None:
        return ""
    if not isinstance(v, str):
        v = json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else str(v)
    return _clip(printable(v).strip(), MAX_LINE_CHARS)


def _lines(v: Any) -> list[str]:
    """A list of short strings: null is empty, one string is a list of one, items bounded."""
    if v is None:
        return []
    if not isinstance(v, list):
        v = [v]
    out = [_line(x) for x in v]
    return [x for x in out if x][:MAX_LIST_ITEMS]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore")


class RubricCriterion(_Strict):
    score: float = Field(description="0 to 10")
    reason: str = Field("", description="one line")

    _score = field_validator("score", mode="before")(_number)
    _reason = field_validator("reason", mode="before")(_line)


class RubricCriteria(_Strict):
    correctness: RubricCriterion
    completeness: RubricCriterion
    depth: RubricCriterion
    clarity: RubricCriterion


class RubricCitation(_Strict):
    passage: int = Field(description="number of a reference passage, as in [n]")
    quote: str = Field(description="words copied verbatim from that passage")


# A citation the model got wrong in shape (no passage number, no quote): kept as one that no
# passage can match, so it is dropped and counted like any other failed citation rather than
# making the whole grade unusable.
_BROKEN_CITATION = {"passage": 0, "quote": ""}


def _citations(v: Any) -> Any:
    if v is None:
        return []
    if not isinstance(v, list):
        v = [v]
    out: list[Any] = []
    for item in v[: MAX_LIST_ITEMS * 2]:
        if not isinstance(item, dict):
            out.append(_BROKEN_CITATION)
            continue
        n = _number(item.get("passage"))
        quote = item.get("quote")
        if isinstance(n, float) and n.is_integer():
            n = int(n)
        if not isinstance(n, int) or isinstance(n, bool) or not isinstance(quote, str):
            out.append(_BROKEN_CITATION)
        else:
            out.append({"passage": n, "quote": printable(quote)[:MAX_LINE_CHARS]})
    return out


class RubricOutput(_Strict):
    """The JSON object the rubric prompt asks for (ranges are checked after parsing).

    Parsing is lenient where leniency loses nothing: numbers given as strings, a missing list
    read as empty, a malformed citation dropped and counted. A missing score is not guessed.
    """

    criteria: RubricCriteria
    overall: float = Field(description="0 to 10")
    missing_points: list[str] = Field(default_factory=list)
    misconceptions: list[str] = Field(default_factory=list)
    model_answer_outline: list[str] = Field(default_factory=list)
    citations: list[RubricCitation] = Field(default_factory=list)
    follow_up: str = Field(
        "", description="one follow-up question on the most important missed point"
    )

    _overall = field_validator("overall", mode="before")(_number)
    _lists = field_validator(
        "missing_points", "misconceptions", "model_answer_outline", mode="before"
    )(_lines)
    _cites = field_validator("citations", mode="before")(_citations)
    _follow = field_validator("follow_up", mode="before")(_line)


class ChatOutput(_Strict):
    """The JSON object the chat prompt asks for."""

    reply: str
    citations: list[RubricCitation] = Field(default_factory=list)

    _cites = field_validator("citations", mode="before")(_citations)

    @field_validator("reply", mode="before")
    @classmethod
    def _reply(cls, v: Any) -> Any:
        return _clip(printable(v).strip(), MAX_REPLY_CHARS) if isinstance(v, str) else v


def strict_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema in the form strict structured outputs accept.

    Every object closes (additionalProperties false) and requires all its properties;
    titles and defaults are dropped.
    """

    def fix(node: Any) -> Any:
        if isinstance(node, dict):
            out = {k: fix(v) for k, v in node.items() if k not in ("title", "default")}
            if out.get("type") == "object" and "properties" in out:
                out["additionalProperties"] = False
                out["required"] = list(out["properties"])
            return out
        if isinstance(node, list):
            return [fix(v) for v in node]
        return node

    schema: dict[str, Any] = fix(model.model_json_schema())
    schema.pop("description", None)  # the model's docstring is about our parsing, not the task
    return schema


# --- passages and prompt -------------------------------------------------------------------


class NumberedPassage(BaseModel):
    """A reference passage as sent to the LLM: [n], where it comes from, its text."""

    n: int
    id: str
    source: str = ""
    question_id: str | None = None
    own: bool = True
    text: str


def number_passages(
    own: Iterable[Reference],
    related: Iterable[Reference] = (),
    limit: int = MAX_PASSAGES,
) -> list[NumberedPassage]:
    """Number passages 1..k: the question's own first, then related ones; duplicates dropped."""
    seen: set[str] = set()
    out: list[NumberedPassage] = []
    for is_own, refs in ((True, own), (False, related)):
        for ref in refs:
            key = normalise(ref.text)
            if not key or key in seen or len(out) >= limit:
                continue
            seen.add(key)
            out.append(
                NumberedPassage(
                    n=len(out) + 1,
                    id=ref.id,
                    source=ref.source,
                    question_id=ref.question_id,
                    own=is_own,
                    text=_clip(ref.text.strip(), MAX_PASSAGE_CHARS),
                )
            )
    return out


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit].rstrip() + " [...]"


def neutralise_fences(text: str) -> str:
    """Break up anything that could close (or open) a data fence inside untrusted text."""
    text = re.sub(r"<{3,}", lambda m: "< " * len(m.group(0)), text)
    return re.sub(r">{3,}", lambda m: " >" * len(m.group(0)), text)


def fence(text: str, open_marker: str = FENCE_OPEN, close_marker: str = FENCE_CLOSE) -> str:
    return f"{open_marker}\n{neutralise_fences(text)}\n{close_marker}"


def format_passages(passages: list[NumberedPassage]) -> str:
    if not passages:
        return "(no reference passages)"
    blocks = []
    for p in passages:
        origin = "reference answer to this question" if p.own else "related passage"
        qid = f", question {p.question_id}" if p.question_id and not p.own else ""
        src = f"source {p.source}, " if p.source else ""
        blocks.append(f"[{p.n}] ({src}{origin}{qid}, id {p.id})\n{neutralise_fences(p.text)}")
    return "\n\n".join(blocks)


def schema_text(model: type[BaseModel]) -> str:
    return json.dumps(strict_schema(model), separators=(",", ":"))


def build_rubric_messages(
    template: PromptTemplate, question: str, answer: str, passages: list[NumberedPassage]
) -> list[dict[str, str]]:
    return template.render(
        question=neutralise_fences(question.strip()),
        answer=fence(_clip(answer, MAX_ANSWER_CHARS)),
        passages=format_passages(passages),
        schema=schema_text(RubricOutput),
    )


def build_repair_messages(
    template: PromptTemplate,
    original: list[dict[str, str]],
    bad_reply: str,
    error: str,
    model: type[BaseModel] = RubricOutput,
) -> list[dict[str, str]]:
    """The original conversation, the unusable reply, and a request to fix it."""
    return [
        *original,
        {"role": "assistant", "content": bad_reply[:4000]},
        *template.render(error=error[:500], schema=schema_text(model)),
    ]


def feedback_summary(assessment: Assessment) -> str:
    """What the grader told the candidate, as plain text for the chat prompt."""
    lines = [f"Score {assessment.score:.1f}/10 ({assessment.band.value}), by {assessment.grader}."]
    if assessment.llm:
        for name, c in assessment.llm.criteria.items():
            lines.append(f"- {name}: {c.score:.1f} - {c.reason}")
        if assessment.llm.missing_points:
            lines.append("Missing: " + "; ".join(assessment.llm.missing_points))
        if assessment.llm.misconceptions:
            lines.append("Misconceptions: " + "; ".join(assessment.llm.misconceptions))
    else:
        missed = [m.point for m in assessment.offline.missed]
        if missed:
            lines.append("Missing: " + "; ".join(missed))
    if assessment.notice:
        lines.append(f"Notice: {assessment.notice}")
    return "\n".join(lines)


def follow_up_summary(exchange: FollowUpExchange | None) -> str:
    """The follow-up question and the candidate's answer to it (fenced: it is data too)."""
    if exchange is None:
        return "(none asked yet)"
    lines = [f"Question: {neutralise_fences(exchange.question.strip())}"]
    if exchange.answer.strip():
        lines.append("Candidate's answer to it:\n" + fence(exchange.answer))
        if exchange.score is not None:
            lines.append(f"Graded {exchange.score:.1f}/10 ({exchange.band}) against that point"
                         + (" by the offline grader; the LLM rubric's grade is not in yet."
                            if exchange.pending else "."))
    else:
        lines.append("The candidate has not answered it.")
    return "\n".join(lines)


def follow_up_task(main_question: str, follow_up: str, point: str) -> str:
    """The question an LLM grades a follow-up answer on: the follow-up, scoped to the one
    reference point it asks about (passage [1]), so completeness is judged against that point
    and not against the whole topic the main answer was graded on."""
    return (
        f"{follow_up.strip()}\n\n(A follow-up question in an interview that began with: "
        f"{main_question.strip()}\nGrade the answer only on the reference point it asks about, "
        f"passage [1]: {point.strip()})"
    )


def build_chat_messages(
    template: PromptTemplate,
    question: str,
    answer: str,
    passages: list[NumberedPassage],
    assessment: Assessment,
    message: str,
    follow_up: FollowUpExchange | None = None,
) -> list[dict[str, str]]:
    """The chat prompt; a template without ${follow_up} (a user's older one) still renders."""
    return template.render(
        question=neutralise_fences(question.strip()),
        answer=fence(answer),
        passages=format_passages(passages),
        feedback=feedback_summary(assessment),
        follow_up=follow_up_summary(follow_up),
        message=fence(message, MESSAGE_OPEN, MESSAGE_CLOSE),
        schema=schema_text(ChatOutput),
    )


# --- parsing and checking the reply --------------------------------------------------------


def extract_json(text: str) -> Any:
    """The JSON object in a reply; tolerates a code fence or prose around it (plain mode), and
    a reasoning model's <think>...</think> preamble."""
    text = re.sub(r"<think>.*?(</think>|$)", "", text.strip(), flags=re.S | re.I).strip()
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # not JSON, an integer of 5,000 digits, nested too deep
        pass
    fenced = re.search(r"```(?:json)?\s*(\{.*\})\s*```", text, re.S)
    candidate = fenced.group(1) if fenced else None
    if candidate is None:
        start, end = text.find("{"), text.rfind("}")
        if start == -1 or end <= start:
            raise RubricParseError("the reply contains no JSON object")
        candidate = text[start : end + 1]
    try:
        return json.loads(candidate)
    except (ValueError, RecursionError) as exc:
        found = _largest_object(text)
        if found is not None:  # prose with braces of its own around the object
            return found
        why = f"{exc.msg} at position {exc.pos}" if isinstance(exc, json.JSONDecodeError) else (
            "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:120])
        raise RubricParseError(f"invalid JSON: {why}") from None


def _largest_object(text: str, tries: int = 64) -> dict[str, Any] | None:
    """The longest JSON object that decodes from some `{` in the text (the first `tries`).
    Two objects of the same shape (two grades) are ambiguous: neither is taken."""
    decoder = json.JSONDecoder()
    found: list[tuple[int, dict[str, Any]]] = []
    i = text.find("{")
    while i != -1 and tries > 0:
        tries -= 1
        try:
            obj, end = decoder.raw_decode(text, i)
        except (ValueError, RecursionError):
            i = text.find("{", i + 1)
            continue
        if isinstance(obj, dict):
            found.append((end - i, obj))
        i = text.find("{", end)
    if not found:
        return None
    best = max(found, key=lambda f: f[0])[1]
    if sum(1 for _, obj in found if set(obj) == set(best)) > 1:  # an example is smaller
        raise RubricParseError("the reply holds more than one JSON object: which is the answer?")
    return best


def _validation_summary(exc: ValidationError) -> str:
    parts = [
        f"{'.'.join(str(x) for x in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()[:5]
    ]
    return "JSON does not match the schema: " + "; ".join(parts)


_M = TypeVar("_M", bound=BaseModel)


def _parse(text: str, model: type[_M]) -> _M:
    data = extract_json(text)
    if isinstance(data, str) and data.strip().startswith("{"):  # the object, JSON-encoded twice
        data = extract_json(data)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RubricParseError(_validation_summary(exc)) from None


def parse_rubric(text: str) -> RubricOutput:
    return _parse(text, RubricOutput)


def parse_chat(text: str) -> ChatOutput:
    return _parse(text, ChatOutput)


def _in_range(x: float) -> bool:
    return not math.isnan(x) and 0.0 <= x <= 10.0


def check_ranges(out: RubricOutput) -> None:
    """Raise RubricRangeError when any score is outside 0-10 (the grade is then not used)."""
    bad = [f"overall={out.overall:g}"] if not _in_range(out.overall) else []
    for name in CRITERIA:
        score = getattr(out.criteria, name).score
        if not _in_range(score):
            bad.append(f"{name}={score:g}")
    if bad:
        raise RubricRangeError("score out of range 0-10: " + ", ".join(bad))


_PUNCT = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "`": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2015": "-",
        "\u2212": "-",
        "\u00ad": None,  # soft hyphen
        "\u200b": None,  # zero-width space
    }
)


def normalise(text: str) -> str:
    """Case, white space, Unicode forms, curly quotes and dashes folded, for quote matching."""
    text = unicodedata.normalize("NFKC", text).translate(_PUNCT).casefold()
    return re.sub(r"\s+", " ", text).strip()


def _clean_quote(quote: str) -> str:
    q = normalise(quote)
    # Surrounding quotation marks and leading/trailing ellipses are not part of the quote.
    prev = None
    while prev != q:
        prev = q
        q = q.strip(" \"'").removeprefix("...").removesuffix("...").strip()
    return q


def verify_citations(
    citations: Iterable[RubricCitation], passages: list[NumberedPassage]
) -> tuple[list[Citation], int]:
    """Keep citations whose passage was sent and whose quote occurs in it; count the rest.

    Duplicates are merged silently (they are not wrong, just repeated).
    """
    by_n = {p.n: p for p in passages}
    texts = {p.n: normalise(p.text) for p in passages}
    kept: list[Citation] = []
    seen: set[tuple[int, str]] = set()
    dropped = 0
    for c in citations:
        q = _clean_quote(c.quote)
        passage = by_n.get(c.passage)
        if passage is None or len(q) < MIN_QUOTE_CHARS or q not in texts[c.passage]:
            dropped += 1
            continue
        if (c.passage, q) in seen:
            continue
        seen.add((c.passage, q))
        kept.append(
            Citation(
                passage=c.passage,
                quote=c.quote.strip().strip("\"'\u201c\u201d\u2018\u2019").strip(),
                passage_id=passage.id,
                source=passage.source,
            )
        )
    return kept, dropped


def to_llm_grade(
    out: RubricOutput,
    passages: list[NumberedPassage],
    *,
    model: str,
    prompt_version: str,
    latency_s: float = 0.0,
    usage: dict[str, int] | None = None,
) -> LlmGrade:
    """A checked LlmGrade: ranges validated, citations verified (failures dropped and counted)."""
    check_ranges(out)
    citations, dropped = verify_citations(out.citations, passages)
    clean = [s.strip() for s in out.missing_points if s.strip()]
    return LlmGrade(
        criteria={
            name: CriterionScore(
                score=round(getattr(out.criteria, name).score, 1),
                reason=getattr(out.criteria, name).reason.strip(),
            )
            for name in CRITERIA
        },
        overall=round(out.overall, 1),
        missing_points=clean,
        misconceptions=[s.strip() for s in out.misconceptions if s.strip()],
        model_answer_outline=[s.strip() for s in out.model_answer_outline if s.strip()],
        citations=citations,
        dropped_citations=dropped,
        follow_up=out.follow_up.strip() or None,
        model=model,
        prompt_version=prompt_version,
        latency_s=round(latency_s, 3),
        usage=dict(usage or {}),
    )


_KEYLIKE = re.compile(r"\b(sk-[A-Za-z0-9_\-]{8,}|Bearer\s+\S+)")


def scrub(text: str, secrets: Sequence[str] = ()) -> str:
    """Remove the API key, long pieces of it, and anything key-shaped from text meant for users
    or logs; and terminal escape sequences, which a hostile endpoint could send to drive the
    user's terminal."""
    for s in secrets:
        if s and len(s) >= 4:
            text = text.replace(s, "***")
            text = _scrub_pieces(text, s)
    return printable(_KEYLIKE.sub("***", text))


def _scrub_pieces(text: str, secret: str) -> str:
    """Replace every run of at least m characters that occurs in the secret (m: half its length,
    between 8 and 16), so an echo of part of the key is not kept either.

    Fast when there is none: any such run contains one of the secret's aligned blocks of m // 2
    characters, and those are looked for first with plain substring search.
    """
    m = max(8, min(16, len(secret) // 2))
    h = m // 2
    if len(secret) < m or not any(
        secret[i : i + h] in text for i in range(0, len(secret) - h + 1, h)
    ):
        return text
    grams = {secret[i : i + m] for i in range(len(secret) - m + 1)}
    out: list[str] = []
    i = start = 0
    while i + m <= len(text):
        if text[i : i + m] in grams:
            j = i + m
            while j < len(text) and text[i : j + 1] in secret:
                j += 1
            out += [text[start:i], "***"]
            i = start = j
        else:
            i += 1
    out.append(text[start:])
    return "".join(out)


def redact_url(url: str) -> str:
    """A URL fit to show: any user:password@ part and any query (`?api-key=...`) removed."""
    url = re.sub(r"(?<=://)[^/@\s]*@", "", url)
    return re.sub(r"[?#].*", "?…", url, flags=re.S)


# --- the final score -----------------------------------------------------------------------


def band_for(score: float) -> Band:
    """Band of a score with the default cuts (the assessor passes the calibration's own)."""
    return BandCuts().band(score)


def lower_band(a: Band, b: Band) -> Band:
    return a if BAND_RANK[a] <= BAND_RANK[b] else b


class Blend(BaseModel):
    """The final score and band, and what to tell the user about how they were reached."""

    score: float
    band: Band
    capped: bool = False
    disagreement: bool = False
    notices: list[str] = Field(default_factory=list)


def blend(offline: Grade, llm: LlmGrade, band_of: Callable[[float], Band] = band_for) -> Blend:
    """Blend the two scores; hard-flagged answers stay at or below their offline score and band.

    final = round(LLM_WEIGHT * llm.overall + (1 - LLM_WEIGHT) * offline.score, 1)
    """
    score = round(LLM_WEIGHT * llm.overall + (1 - LLM_WEIGHT) * offline.score, 1)
    band = band_of(score)
    notices: list[str] = []
    hard = sorted(f.value for f in offline.flags if f in HARD_FLAGS)
    capped = False
    if hard and (score > offline.score or BAND_RANK[band] > BAND_RANK[offline.band]):
        capped = True
        score = min(score, offline.score)
        band = lower_band(band_of(score), offline.band)
        notices.append(
            f"The offline grader flagged this answer ({', '.join(hard)}), so the LLM rubric "
            f"cannot raise it above the offline grade "
            f"({offline.score:.1f}/10, {offline.band.value})."
        )
    gap = abs(llm.overall - offline.score)
    disagreement = gap > DISAGREEMENT_MARGIN
    if disagreement:
        notices.append(
            f"The LLM rubric ({llm.overall:.1f}/10) and the offline grader "
            f"({offline.score:.1f}/10) disagree by {gap:.1f} points"
            + ("" if capped else "; the final score blends both")
            + ". Check the cited passages."
        )
    if llm.dropped_citations:
        notices.append(dropped_note(llm.dropped_citations))
    return Blend(score=score, band=band, capped=capped, disagreement=disagreement, notices=notices)
