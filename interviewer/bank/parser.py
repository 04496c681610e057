"""One parser for Q&A documents: numbered questions, markdown headings, bare question lines.

Pure: text in, questions and warnings out. What no parser can infer (a question whose line
was lost in the source) comes from the curation file, passed in as `CurationInsert`s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pydantic import BaseModel

from interviewer.bank import text as tx
from interviewer.bank.models import ParseWarning, Question
from interviewer.bank.topics import derive_topics

MIN_POINTS = 2
MIN_POINT_WORDS = 30  # fewer words of checkable content than this: too thin to grade against


class CurationInsert(BaseModel):
    """A question line the source lost: inserted before the line starting with `before`."""

    before: str
    question: str


class ParsedDocument(BaseModel):
    title: str
    questions: list[Question]
    warnings: list[ParseWarning]
    shape: str


@dataclass
class _Cand:
    index: int  # 0-based line index
    text: str
    curated: bool = False


@dataclass
class _Block:
    kind: str  # prose | list | table | formula | label
    lines: list[str] = field(default_factory=list)
    line_no: int = 0


def source_id_for(stem: str) -> str:
    """'000_0c3e…' -> '000'; a user's 'my-notes' stays 'my-notes', 'My notes (v2)' becomes
    'My-notes-v2': question ids are typed on command lines and written in CSV cells, so they
    keep to letters, digits, '_', '.' and '-'."""
    m = re.match(r"^(\d{3})_", stem)
    if m:
        return m.group(1)
    return re.sub(r"[^\w.-]+", "-", stem).strip("-.") or "doc"


# ----------------------------------------------------------------------------- detection


def _code_mask(lines: list[str]) -> list[bool]:
    """Lines of code snippets: fenced blocks, lines that parse as code, and `# comments`
    next to them (which would otherwise read as markdown headings)."""
    code = [tx.looks_like_code(ln) for ln in lines]
    fenced = False
    for i, ln in enumerate(lines):
        if ln.strip().startswith("```"):
            code[i] = True
            fenced = not fenced
        elif fenced:
            code[i] = True
    nonblank = [i for i, ln in enumerate(lines) if ln.strip()]
    pos = {i: k for k, i in enumerate(nonblank)}
    for i in nonblank:
        s = lines[i].strip()
        if s.startswith("# ") and not code[i]:
            k = pos[i]
            near = [nonblank[j] for j in (k - 1, k + 1) if 0 <= j < len(nonblank)]
            if any(code[j] and not lines[j].strip().startswith("```") for j in near):
                code[i] = True  # a comment inside a code snippet, not a heading
    return code


_ENDS_CLAUSE = re.compile(r"[.?!:;]\s*(\*\*)?\s*$")


def _join_wrapped(lines: list[str], code: list[bool]) -> list[str]:
    """A question wrapped over two lines ("12. How do you handle" / "overfitting in CNNs?")
    becomes one line, and its second line a blank one, so line numbers stay true. Only when
    the first line asks (a numbered line, a heading, or a line after a blank one starting
    like a question) and stops mid-clause, and the second starts in lower case and ends the
    question with "?": an answer's list item or sentence does neither."""
    out = list(lines)
    for i in range(len(out) - 1):
        first, nxt = out[i], out[i + 1].strip()
        if code[i] or code[i + 1] or not first.strip() or not nxt:
            continue
        if not (nxt[0].islower() and tx.strip_markup(nxt).rstrip().endswith("?")):
            continue
        if len(tx.words(nxt)) > 20 or tx.NUMBERED_RE.match(nxt) or tx.LIST_RE.match(nxt):
            continue
        m = tx.NUMBERED_RE.match(first) or tx.HEADING_RE.match(first)
        body = m.group("text") if m else first.strip()
        if _ENDS_CLAUSE.search(body) or len(tx.words(body)) > 25:
            continue
        if m is None and not (
            (i == 0 or not out[i - 1].strip())
            and tx.first_word(tx.unlabel(tx.strip_markup(body))) in tx.QUESTION_STARTERS
        ):
            continue
        out[i] = f"{first.rstrip()} {nxt}"
        out[i + 1] = ""
    return out


def _numbered(lines: list[str], code: list[bool], warnings: list[str]) -> list[_Cand]:
    """Question numbers form the sequence 1, 2, 3…; list items inside answers restart it, and
    so may a section of questions ('## Advanced' then '1. …' again) after a heading."""
    found: list[_Cand] = []
    expected = 1
    heading_since = False  # a non-question heading since the last question found
    for i, ln in enumerate(lines):
        if code[i]:
            continue
        if tx.HEADING_RE.match(ln):
            heading_since = True
            continue
        m = tx.NUMBERED_RE.match(ln)
        if not m:
            continue
        num, body = int(m.group("num")), m.group("text")
        indented = len(m.group("indent").expandtabs(4)) >= 2
        if not tx.question_like(body, strict=indented):
            continue
        asks = body.rstrip().endswith("?") or (
            not indented and tx.first_word(tx.unlabel(body)) in tx.QUESTION_STARTERS
        )
        restart = found and num == 1 and heading_since and asks
        if num == expected or restart or (found and expected < num <= expected + 3 and asks):
            if num != expected and not restart:
                warnings.append(f"{i + 1}:question numbering jumps from {expected - 1} to {num}")
            found.append(_Cand(i, tx.unlabel(body)))
            expected = num + 1
            heading_since = False
    return found


def _headings(lines: list[str], code: list[bool]) -> list[_Cand]:
    out = []
    for i, ln in enumerate(lines):
        if code[i]:
            continue
        m = tx.HEADING_RE.match(ln)
        if m and tx.question_like(m.group("text"), heading=True):
            out.append(_Cand(i, tx.unlabel(m.group("text")).rstrip(":").rstrip()))
    return out


_MID_SENTENCE_END = re.compile(r"[.!?]\s+\S")


def _bare(lines: list[str], code: list[bool]) -> tuple[list[_Cand], list[_Cand]]:
    """Question lines standing alone between blank lines (or labelled 'Q3:'); and, for a
    document written without blank lines, one-sentence question lines each followed by an
    answer line ("packed")."""
    spaced, packed = [], []
    for i, ln in enumerate(lines):
        s = ln.strip()
        if not s or code[i] or tx.HEADING_RE.match(ln) or tx.NUMBERED_RE.match(ln):
            continue
        bullet = tx.LIST_RE.match(ln)
        body = bullet.group("text") if bullet else s
        if not tx.bare_question_like(body):
            continue
        before_blank = i == 0 or not lines[i - 1].strip()
        after_blank = i + 1 >= len(lines) or not lines[i + 1].strip()
        labelled = bool(tx.QUESTION_LABEL_RE.match(tx.strip_markup(body)))
        if (before_blank and after_blank) or (labelled and not bullet):
            spaced.append(_Cand(i, tx.unlabel(body)))
        if bullet:
            continue  # a list item is a question only standing alone, never packed
        nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if nxt and not tx.bare_question_like(nxt) and not _MID_SENTENCE_END.search(s):
            packed.append(_Cand(i, tx.unlabel(s)))
    return spaced, packed


def _is_stop(line: str) -> bool:
    """A line after which the current answer is over: outro heading or site boilerplate."""
    m = tx.HEADING_RE.match(line)
    if m:
        return True  # a non-question heading closes the answer above it
    return tx.is_boilerplate(line)


# ----------------------------------------------------------------------------- answers


def _is_label(raw: str, clean: str) -> bool:
    n = len(tx.words(clean))
    if n == 0:
        return False
    bold = raw.lstrip().startswith("**")
    if bold and n <= 10 and (clean.endswith(":") or not re.search(r"[.?!;]$", clean)):
        return True
    return clean.endswith(":") and n <= 5


_PIPE_RULE = re.compile(r"^\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?$")


def _blocks(region: list[tuple[int, str]]) -> list[_Block]:
    """Group answer lines into prose paragraphs, list items, table rows, formulas and labels."""
    items: list[tuple[int, str, str]] = []  # (line_no, kind, text)
    n = len(region)
    for k, (no, raw) in enumerate(region):
        if not raw.strip():
            continue
        clean = tx.strip_markup(raw)
        if not clean or _PIPE_RULE.match(clean):
            continue  # a markdown table's |---|:---:| row
        in_run = (k > 0 and region[k - 1][1].strip()) or (k + 1 < n and region[k + 1][1].strip())
        if "|" in clean and re.search(r"\S\s*\|\s*(\S|$)", clean):
            items.append((no, "pipe", clean))
        elif tx.LIST_RE.match(raw) and not raw.lstrip().startswith("**"):
            m = tx.LIST_RE.match(clean)
            items.append((no, "list", m.group("text") if m else clean))
        elif _is_label(raw, clean) and not in_run:
            items.append((no, "label", clean.rstrip(":").strip()))
        elif tx.looks_like_formula(clean):
            items.append((no, "formula", tx.tidy_formula(clean)))
        elif in_run and not tx.LIST_RE.match(raw):
            items.append((no, "row", clean))
        elif len(tx.words(clean)) <= 8 and not re.search(r"[.?!:;)]$", clean):
            continue  # an image caption or a heading left over from the web page
        else:
            items.append((no, "prose", clean))
    # Consecutive rows (no blank line between) of 3+ lines are a flattened table.
    blocks: list[_Block] = []
    i = 0
    while i < len(items):
        no, kind, text = items[i]
        if kind in ("row", "pipe"):
            j = i
            rows = []
            while j < len(items) and items[j][1] == kind and (
                kind == "pipe" or j == i or items[j][0] == items[j - 1][0] + 1
            ):
                rows.append(items[j][2])
                j += 1
            if kind == "pipe" or len(rows) >= 3:
                blocks.append(_Block("table", rows, no))
            else:
                blocks.extend(_Block("prose", [r], no) for r in rows)
            i = j
            continue
        blocks.append(_Block(kind, [text], no))
        i += 1
    return blocks


def _pipe_rows(rows: list[str]) -> list[str]:
    cells = [[c.strip() for c in r.strip().strip("|").split("|")] for r in rows]
    header, body = cells[0], cells[1:]
    out = []
    for row in body:
        parts = [f"{h}: {c}" if h else c for h, c in zip(header, row, strict=False) if c]
        out.append("; ".join(parts))
    return out


def _answer(
    blocks: list[_Block], bold_labels: set[int]
) -> tuple[str, list[str], list[str]]:
    """(reference text, key points, lost sub-headings) from an answer's blocks."""
    ref_lines: list[str] = []
    points: list[str] = []
    lost: list[str] = []
    for k, b in enumerate(blocks):
        nxt = blocks[k + 1].kind if k + 1 < len(blocks) else None
        if b.kind == "label":
            bold = b.line_no in bold_labels
            keeps = ("prose", "list", "table", "formula") if bold else ("list", "table", "formula")
            if nxt in keeps:
                ref_lines.append(f"{b.lines[0]}:")
            else:
                lost.append(b.lines[0])
            continue
        if b.kind == "formula":
            ref_lines.append(b.lines[0])
            continue
        if b.kind == "table":
            is_pipe = any("|" in r for r in b.lines)
            rows = _pipe_rows(b.lines) if is_pipe else b.lines[1:]
            ref_lines.extend(b.lines if not is_pipe else [b.lines[0].replace("|", " ").strip()] + rows)
            points.extend(r for r in rows if len(tx.words(r)) >= 3)
            continue
        text = b.lines[0]
        if b.kind == "list":
            ref_lines.append(f"- {text}")
            if len(tx.words(text)) >= 3 and not text.endswith(":"):
                points.append(text)
            continue
        # prose: an introducer whose list or table the source lost is dropped
        sentences = tx.split_sentences(text)
        if sentences and sentences[-1].endswith(":") and nxt not in ("list", "table", "formula"):
            sentences = sentences[:-1]
        if not sentences:
            continue
        ref_lines.append(" ".join(sentences))
        points.extend(
            s for s in sentences
            if not s.endswith(":") and not tx.is_fluff(s) and len(tx.words(s)) >= 4
        )
    return "\n".join(ref_lines).strip(), points, lost


# ----------------------------------------------------------------------------- document


def _title(lines: list[str], first_q: int, fallback: str) -> str:
    for ln in lines[: max(first_q, 0)]:
        s = tx.strip_markup(ln.lstrip("# "))
        if s and len(s) <= 120 and not s.endswith((".", "!")):
            return re.sub(r"\s*\((original|raw)\)", "", s).strip()
    return fallback


def parse_document(
    text: str,
    source: str,
    *,
    title: str | None = None,
    inserts: list[CurationInsert] | None = None,
    source_name: str = "",
) -> ParsedDocument:
    """Parse one document into questions; `source` is the id prefix ('000' or a file stem)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    ").split("\n")
    where = source_name or source
    raw_warn: list[str] = []
    code = _code_mask(lines)
    lines = _join_wrapped(lines, code)
    spaced, packed = _bare(lines, code)
    shapes = {
        "numbered": _numbered(lines, code, raw_warn),
        "headings": _headings(lines, code),
        "bare": spaced,
    }
    # Blank lines around a bare question are the stronger sign (a "?" line inside an answer
    # paragraph is not a question): the packed reading is for a document no other reading
    # finds two questions in.
    if max(len(c) for c in shapes.values()) < 2 and len(packed) > len(spaced):
        shapes["bare"] = packed
    shape = max(shapes, key=lambda s: len(shapes[s]))  # ties: numbered > headings > bare
    if shape != "numbered":
        raw_warn = []
    cands = list(shapes[shape])
    for ins in inserts or []:
        at = next((i for i, ln in enumerate(lines) if ln.strip().startswith(ins.before)), None)
        if at is None:
            raw_warn.append(f"0:curated question {ins.question!r}: no line starts with {ins.before!r}")
            continue
        cands.append(_Cand(at, ins.question, curated=True))
    cands.sort(key=lambda c: c.index)
    warnings = [
        ParseWarning(source=where, line=int(w.split(":", 1)[0]), message=w.split(":", 1)[1])
        for w in raw_warn
    ]
    if not cands:
        warnings.append(ParseWarning(source=where, line=0, message="no questions found"))
        return ParsedDocument(title=title or source, questions=[], warnings=warnings, shape=shape)

    starts = {c.index for c in cands}
    questions: list[Question] = []
    for n, c in enumerate(cands, start=1):
        first = c.index if c.curated else c.index + 1
        end = cands[n].index if n < len(cands) else len(lines)
        region: list[tuple[int, str]] = []
        blank_run, last_gap = 0, None
        for i in range(first, end):
            ln = lines[i]
            if i not in starts and _is_stop(ln) and not code[i]:
                if tx.is_boilerplate(ln) and last_gap is not None:
                    region = region[:last_gap]  # the article's outro began at that gap
                break
            if not ln.strip():
                blank_run += 1
                if blank_run == 2:
                    last_gap = len(region)
            else:
                blank_run = 0
            if not code[i]:
                region.append((i + 1, ln))
        opening = next((k for k, (_, ln) in enumerate(region) if ln.strip()), None)
        if opening is not None:  # "A: Dropout is…"
            no, ln = region[opening]
            region[opening] = (no, tx.ANSWER_LABEL_RE.sub(r"\1", ln, count=1))
        bold = {no for no, ln in region if ln.lstrip().startswith("**")}
        reference, points, lost = _answer(_blocks(region), bold)
        qid = f"{source}-{n}"
        for label in lost:
            warnings.append(
                ParseWarning(
                    source=where, line=c.index + 1,
                    message=f"{qid}: sub-heading {label!r} has no content in the source",
                )
            )
        kp_words = sum(len(tx.words(p)) for p in points)
        thin = len(points) < MIN_POINTS or kp_words < MIN_POINT_WORDS
        if not reference:
            warnings.append(
                ParseWarning(source=where, line=c.index + 1, message=f"{qid}: no reference answer")
            )
        questions.append(
            Question(
                id=qid,
                question=c.text,
                reference=reference,
                key_points=points,
                source=source,
                source_title=title or "",
                topics=derive_topics(c.text, reference),
                thin=thin,
                line=c.index + 1,
            )
        )
    seen: dict[str, Question] = {}
    for q in questions:  # the same question twice in one document: one of them is a slip
        key = " ".join(tx.words(q.question.casefold()))
        if key in seen:
            earlier = seen[key]
            warnings.append(ParseWarning(
                source=where, line=q.line,
                message=f"{q.id}: the same question as {earlier.id} (line {earlier.line})",
            ))
        else:
            seen[key] = q
    doc_title = title or _title(lines, cands[0].index, source)
    for q in questions:
        q.source_title = doc_title
    return ParsedDocument(title=doc_title, questions=questions, warnings=warnings, shape=shape)
