"""Match a question given as text (or id) to a bank question.

Exact id first, then exact normalised text, then the nearest bank question by embedding
cosine. Below the threshold there is no match: a batch row is then graded against its own
`reference_answer` or reported as unmatched, never graded against the wrong reference.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from interviewer.bank.models import Question
from interviewer.wording import clip

if TYPE_CHECKING:  # pragma: no cover
    from interviewer.embedding import Embedder

# Cosine similarity (all-MiniLM-L6-v2) at or above which a question text is taken to be a
# bank question. Measured by bench/match_threshold.py: 46 hand-written paraphrases of bank
# questions (median 0.84; all but two informal ones at 0.67 or more) against 28 questions the
# bank does not ask, off-domain and machine-learning ones (median 0.37, max 0.61). At 0.65 no
# question outside the bank matched and 42/46 paraphrases matched their question (two informal
# ones fell below; two found a neighbouring question at 0.73 and 0.77, which no threshold fixes:
# the similarity is reported with every row so a reader can check).
DEFAULT_THRESHOLD = 0.65
# Below this a match by meaning is said with the row: wrong neighbours ("What is underfitting?"
# finds "What is overfitting…" at 0.79, "instance normalization" finds batch normalization at
# 0.66) score as high as a loose paraphrase does, so a reader should check those.
SURE_THRESHOLD = 0.80

_NUMBERING = re.compile(r"^\s*(?:q(?:uestion)?\s*)?\d+\s*[.):-]\s*", re.IGNORECASE)
_NON_WORD = re.compile(r"[^\w]+")


def _floor2(x: float) -> float:
    """Two decimals, rounded down: 0.6497 is 'below 0.65', never '0.65 < 0.65'."""
    return math.floor(x * 100) / 100


def normalise(text: str) -> str:
    """Lower case, no accents, numbering or punctuation: 'Q3. What is X?' -> 'what is x'."""
    text = unicodedata.normalize("NFKC", text)
    text = _NUMBERING.sub("", text)
    return " ".join(_NON_WORD.sub(" ", text.lower()).split())


class Match(BaseModel):
    """How a row's question was matched; `question` is None when it was not."""

    model_config = ConfigDict(frozen=True)

    question: Question | None = None
    by: Literal["id", "text", "embedding", "none"] = "none"
    similarity: float | None = None
    best: Question | None = None
    reason: str | None = None

    @property
    def matched(self) -> bool:
        return self.question is not None


class QuestionMatcher:
    """Looks up bank questions by id or text; embeds the bank's questions once, on first need."""

    def __init__(
        self,
        questions: Sequence[Question],
        embedder: Embedder,
        threshold: float = DEFAULT_THRESHOLD,
        cache_size: int = 10_000,
    ) -> None:
        self.questions = list(questions)
        self.embedder = embedder
        self.threshold = threshold
        self._by_id = {q.id: q for q in self.questions}
        # A question whose source lost its answer has nothing to grade against: an id still
        # finds it (and the caller says so), but text never matches it.
        self._matchable = [q for q in self.questions if q.reference.strip()]
        self._index = {q.id: j for j, q in enumerate(self._matchable)}  # row of _bank_matrix
        self._sources = {q.source for q in self.questions}
        self._by_number: dict[int, list[str]] = {}  # 17 -> ['000-17', '001-17', ...]
        for q in self.questions:
            prefix, _, n = q.id.rpartition("-")
            if prefix and n.isdigit() and n.isascii():
                self._by_number.setdefault(int(n), []).append(q.id)
        self._by_text: dict[str, Question] = {}
        for q in self._matchable:
            self._by_text.setdefault(normalise(q.question), q)
        self._matrix: np.ndarray | None = None
        self._cache: OrderedDict[str, Match] = OrderedDict()
        self._cache_size = cache_size

    def _check_ids(
        self,
        out: list[Match | None],
        checks: dict[int, tuple[str, Question]],
        sims: dict[str, np.ndarray],
    ) -> None:
        """A row whose question text is not its question_id's question is graded by the id, and
        says so (the id is explicit; the text may be a typo or a copy-paste slip). `sims`: each
        text's similarities to the bank's questions."""
        for i, (text, q) in checks.items():
            sim = float(sims[text][self._index[q.id]])
            if sim < self.threshold:
                m = out[i]
                assert m is not None
                out[i] = m.model_copy(update={"reason": (
                    f"the row's question {clip(text, 80)!r} is not {q.id}'s "
                    f"{clip(q.question, 80)!r} (similarity {_floor2(sim):.2f}): graded against "
                    f"{q.id}, as question_id says"
                )})

    def _unknown_id(self, qid: str) -> str:
        """Why a question_id finds nothing, with the bank ids it may have meant: '17' is question
        17 of every source (000-17, 001-17, ...), '000-017' is 000-17 written long."""
        said = f"unknown question_id {qid[:80]!r}"
        prefix, _, n = qid.strip().rpartition("-")
        if not (n.isdigit() and n.isascii() and len(n) <= 9):
            return said
        near = [i for i in self._by_number.get(int(n), [])
                if not prefix or i.rpartition("-")[0] == prefix]
        if not near:
            return said
        if len(near) == 1:
            return f"{said}: did you mean {near[0]}?"
        shown = ", ".join(near[:6]) + (", ..." if len(near) > 6 else "")
        return (f"question_id {qid[:80]!r} is ambiguous: {len(near)} bank ids end in "
                f"-{int(n)} ({shown})")

    def _id_shaped(self, text: str) -> bool:
        """'000-99' or '<a source of the bank>-7': meant as an id, not as a question."""
        prefix, _, n = text.rpartition("-")
        return n.isdigit() and n.isascii() and (
            (len(prefix) == 3 and prefix.isdigit()) or prefix in self._sources
        )

    def _bank_matrix(self) -> np.ndarray:
        if self._matrix is None:
            self._matrix = self.embedder.encode([q.question for q in self._matchable])
        return self._matrix

    def match(self, question_id: str | None, question: str | None) -> Match:
        return self.match_many([(question_id, question)])[0]

    def match_many(self, items: Sequence[tuple[str | None, str | None]]) -> list[Match]:
        """Matches for (question_id, question text) pairs; texts are embedded in one batch."""
        out: list[Match | None] = [None] * len(items)
        todo: dict[str, list[int]] = {}
        checks: dict[int, tuple[str, Question]] = {}  # rows whose id and text may disagree
        for i, (qid, text) in enumerate(items):
            note: str | None = None
            if qid:
                q = self._by_id.get(qid.strip())
                if q is not None:
                    out[i] = Match(question=q, by="id", similarity=1.0, best=q)
                    if (text and text.strip() != q.id and q.id in self._index
                            and normalise(text) != normalise(q.question)):
                        checks[i] = (text, q)
                    continue
                note = self._unknown_id(qid)
                if not text:
                    out[i] = Match(reason=note)
                    continue
            assert text is not None
            q = self._by_id.get(text.strip())  # a heading that is just an id, e.g. '## 000-17'
            if q is not None:
                out[i] = Match(question=q, by="id", similarity=1.0, best=q, reason=note)
                continue
            if note is None and self._id_shaped(text.strip()):  # '## 999-99': a mistyped id
                out[i] = Match(reason=f"unknown question id {text.strip()!r}")
                continue
            q = self._by_text.get(normalise(text))
            if q is not None:
                out[i] = Match(question=q, by="text", similarity=1.0, best=q, reason=note)
                continue
            cached = self._cache.get(text)
            if cached is not None:
                self._cache.move_to_end(text)
                if note is not None:  # as for a text matched now: the id's note, then the match's
                    why = "; ".join(x for x in (note, cached.reason) if x)
                    cached = cached.model_copy(update={"reason": why})
                out[i] = cached
                continue
            todo.setdefault(text, []).append(i)
        # One model pass for every text of the batch: those to match and those to check.
        texts = list(dict.fromkeys([*todo, *(t for t, _ in checks.values())]))
        sims: dict[str, np.ndarray] = {}
        if texts and self._matchable:
            sims = dict(zip(texts, self.embedder.encode(texts) @ self._bank_matrix().T,
                            strict=True))
        if checks:
            self._check_ids(out, checks, sims)
        if todo and self._matchable:
            for text in todo:
                row = sims[text]
                j = int(np.argmax(row))
                sim = round(float(row[j]), 4)
                best = self._matchable[j]
                if sim >= self.threshold:
                    unsure = None if sim >= SURE_THRESHOLD else (
                        f"matched by meaning to {best.id} {clip(best.question, 80)!r} "
                        f"(similarity {sim:.2f}): check it is the question you meant"
                    )
                    m = Match(question=best, by="embedding", similarity=sim, best=best,
                              reason=unsure)
                else:
                    m = Match(
                        by="none", similarity=sim, best=best,
                        reason=f"no bank question matches (closest: {best.id} "
                        f"{best.question!r}, similarity {_floor2(sim):.2f} < "
                        f"{self.threshold:.2f})",
                    )
                self._cache[text] = m
                if len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
                for i in todo[text]:
                    qid = items[i][0]
                    if qid:
                        why = "; ".join(x for x in (self._unknown_id(qid), m.reason) if x)
                        out[i] = m.model_copy(update={"reason": why})
                    else:
                        out[i] = m
        elif todo:
            for text, idx in todo.items():
                for i in idx:
                    out[i] = Match(reason=f"no bank question matches {text!r}: the bank is empty")
        return [m if m is not None else Match(reason="no question") for m in out]
