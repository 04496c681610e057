"""File readers and writers for `interviewer grade`.

Everything streams: readers yield one row at a time and writers flush one row at a time, so a
file of 100,000 answers runs in bounded memory and an interrupted run keeps what was graded.
A row that cannot be used becomes a `BadRow` naming its file and line; it never stops the rest.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import os
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from pydantic import BaseModel, Field

from interviewer.csv_cells import column_key, csv_cell, csv_uncell, excel_sep, header_delimiter
from interviewer.text_sniff import HEAD_BYTES, not_text
from interviewer.wording import clip, dropped_note, plural, printable

# A long answer is still an answer (the grader reads its first 256 word pieces); the csv
# module's default 128 KiB field limit would call it malformed.
csv.field_size_limit(64 * 1024 * 1024)

INPUT_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "csv",
                  ".md": "md", ".markdown": "md"}
OUTPUT_FORMATS = ("jsonl", "csv", "md", "html")
BAND_ORDER = ("excellent", "good", "partial", "weak", "off-topic")


class Row(BaseModel):
    """One answer to grade, as read from the input file."""

    id: str = Field(description="the row's `id` column, else its line number")
    line: int = Field(description="1-based line where the row starts")
    question_id: str | None = None
    question: str | None = None
    answer: str
    reference_answer: str | None = None
    id_from_line: bool = Field(default=False, exclude=True,
                               description="no `id` column: `id` is the line number")


class BadRow(BaseModel):
    """A row that was skipped, and why: reported as `file:line: reason`."""

    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


class BatchFileError(Exception):
    """The whole file is unusable (unknown format, no header, missing columns)."""

    def __init__(self, file: str, line: int, reason: str) -> None:
        super().__init__(f"{file}:{line}: {reason}" if line else f"{file}: {reason}")
        self.file, self.line, self.reason = file, line, reason


# ---------------------------------------------------------------------------------------------
# Readers


def input_format(path: Path) -> str:
    """The reader for a file, from its extension."""
    fmt = INPUT_SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        extra = (
            " (a JSON array becomes JSON Lines with: jq -c '.[]' FILE > answers.jsonl)"
            if path.suffix.lower() == ".json" else ""
        )
        raise BatchFileError(
            str(path), 0,
            f"unknown input format {path.suffix or '(no extension)'!r}: "
            f"use .jsonl, .csv or .md{extra}",
        )
    return fmt


def check_text_file(path: Path) -> None:
    """Refuse, naming the file, what is not a UTF-8 text file at all (rows can't be reported
    one by one from a binary or UTF-16 file: every line would be 'bad')."""
    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES)
    problem = not_text(head)
    if problem is not None and problem[0] == "utf16":
        raise BatchFileError(str(path), 0, "UTF-16 text: save it as UTF-8 and try again")
    if problem is not None:
        line = head[: problem[1]].count(b"\n") + 1
        raise BatchFileError(str(path), line, "not a text file (binary data: a NUL byte)")


def read_rows(
    path: Path, fmt: str | None = None, numeric_ids: frozenset[str] = frozenset()
) -> Iterator[Row | BadRow]:
    """Rows and bad rows of a file, in file order, one at a time.

    `numeric_ids`: the explicit ids of the file that are numbers (see `numeric_ids`), so that
    a row without an id is named `line-N` when a later row's id is N, not only an earlier one's.
    """
    return _unique_ids(_read_items(path, fmt), str(path), numeric_ids)


def _read_items(path: Path, fmt: str | None) -> Iterator[Row | BadRow]:
    fmt = fmt or input_format(path)
    check_text_file(path)
    if fmt == "jsonl":
        return read_jsonl(path)
    if fmt == "csv":
        return read_csv(path)
    if fmt == "md":
        return read_markdown(path)
    raise BatchFileError(str(path), 0, f"unknown input format {fmt!r}")


def numeric_ids(path: Path, fmt: str | None = None) -> frozenset[str]:
    """The file's explicit ids that are numbers, which a row without an id (named by its line
    number) could collide with; usually none, so the set costs nothing to keep."""
    return frozenset(
        i.id for i in _read_items(path, fmt)
        if isinstance(i, Row) and not i.id_from_line and i.id.isdigit()
    )


def _unique_ids(
    items: Iterable[Row | BadRow], file: str, numeric: frozenset[str] = frozenset()
) -> Iterator[Row | BadRow]:
    """A second row with an id already seen is bad: resume is keyed by id."""
    seen: dict[str, tuple[int, bool]] = {}  # id -> (line, id was that line's number)
    for item in items:
        if isinstance(item, Row):
            if item.id_from_line and (item.id in seen or item.id in numeric):
                # An explicit id elsewhere in the file looks like this row's line number:
                # a longer name for the line, the same in every run, keeps resume exact.
                item = item.model_copy(update={"id": f"line-{item.line}"})
            first = seen.get(item.id)
            if first is not None:
                line, from_line = first
                reason = (f"id {item.id!r} is also the line number given as id to the row at "
                          f"line {line}, which has no id: give that row an id" if from_line
                          else f"duplicate id {item.id!r} (first at line {line})")
                yield BadRow(file=file, line=item.line, reason=reason)
                continue
            seen[item.id] = (item.line, item.id_from_line)
        yield item


def _cr_lines(fh: IO[bytes], chunk: int = 1 << 16) -> Iterator[bytes]:
    """Lines of a file that ends them with a bare CR (old Mac exports), as if they were LF."""
    rest = b""
    while block := fh.read(chunk):
        parts = (rest + block).split(b"\r")
        rest = parts.pop()
        for part in parts:
            yield part + b"\n"
    if rest:
        yield rest


def _physical_lines(fh: IO[bytes]) -> Iterator[bytes]:
    head = fh.read(1 << 16)
    fh.seek(0)
    bare_cr = head.count(b"\r") - head.count(b"\r\n")
    if bare_cr > head.count(b"\n"):  # CR line ends (a \n may sit inside a quoted field)
        return _cr_lines(fh)
    return iter(fh)


def _decoded_lines(path: Path) -> Iterator[tuple[int, str | None, bytes]]:
    """(line number, text or None if not UTF-8 text, raw bytes) per physical line; BOM dropped.

    A NUL byte makes a line not text too: `check_text_file` only looks at the head of the file,
    and binary data further down must not be graded as an answer.
    """
    with path.open("rb") as fh:
        for n, raw in enumerate(_physical_lines(fh), start=1):
            if n == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if b"\x00" in raw:
                yield n, None, raw
                continue
            try:
                yield n, raw.decode("utf-8"), raw
            except UnicodeDecodeError:
                yield n, None, raw


def _undecodable(raw: bytes) -> str:
    nul = raw.find(b"\x00")
    if nul >= 0:
        return f"a NUL byte (binary data, not text) at column {nul + 1}"
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"undecodable bytes (not UTF-8) at column {exc.start + 1}"
    return "undecodable bytes (not UTF-8)"  # pragma: no cover


def _json_kind(value: Any) -> str:
    """What a JSON value is, in JSON's words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _text(value: Any, name: str) -> str | None:
    """A field as text: strings as is, numbers converted, null/empty as None."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(
                f"field {name!r} has an invalid \\u escape (a lone surrogate), not text"
            ) from None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"field {name!r} must be a string, not {_json_kind(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"field {name!r} must be a string, not {value}")
    text = str(value).strip()
    return None if _blank(text) else text


# Characters that show nothing: format (zero-width space, BOM, invisible separators), spaces,
# line/paragraph separators and controls. Text of nothing else looks empty to a reader.
_INVISIBLE = frozenset({"Cf", "Zs", "Zl", "Zp", "Cc"})


def _blank(text: str) -> bool:
    """True when `text` shows nothing: a zero-width space is as empty an answer as spaces."""
    return all(unicodedata.category(c) in _INVISIBLE for c in text)


def _make_row(record: dict[str, Any], file: str, line: int) -> Row | BadRow:
    """Validate one record (JSONL object or CSV row) into a Row."""
    try:
        rid = _text(record.get("id"), "id")
        qid = _text(record.get("question_id"), "question_id")
        question = _text(record.get("question"), "question")
        answer_raw = record.get("answer")
        answer = _text(answer_raw, "answer")
        reference = _text(record.get("reference_answer"), "reference_answer")
    except ValueError as exc:
        return BadRow(file=file, line=line, reason=str(exc))
    if "answer" not in record:
        return BadRow(file=file, line=line, reason="missing 'answer'")
    if answer is None:
        return BadRow(file=file, line=line, reason="empty answer")
    if qid is None and question is None:
        return BadRow(file=file, line=line, reason="needs 'question_id' or 'question'")
    return Row(id=rid or str(line), line=line, question_id=qid, question=question,
               answer=answer, reference_answer=reference, id_from_line=rid is None)


def _first_visible(path: Path) -> tuple[bytes, int]:
    """The file's first byte that is not white space (b"" if none) and its line; BOM skipped.
    Reads in blocks, so a file of blank lines costs no memory."""
    line = 1
    with path.open("rb") as fh:
        block = fh.read(1 << 16)
        if block.startswith(b"\xef\xbb\xbf"):
            block = block[3:]
        while block:
            rest = block.lstrip(b" \t\r\n\f\v")
            line += block[: len(block) - len(rest)].count(b"\n")
            if rest:
                return rest[:1], line
            block = fh.read(1 << 16)
    return b"", line


def _record_keys(record: dict[str, Any]) -> dict[str, Any] | str:
    """A JSON object's keys normalised as CSV headers are (`column_key`); a reason instead if
    two keys become one ({"answer": …, "Answer": …}: which to grade is anyone's guess)."""
    out: dict[str, Any] = {}
    given: dict[str, str] = {}
    for k, v in record.items():
        key = column_key(k)
        if key in out:
            return f"keys {clip(given[key], 40)!r} and {clip(k, 40)!r} are both {key!r}"
        out[key], given[key] = v, k
    return out


def _arrays_per_line(path: Path, line: int) -> bool:
    """The first row is a whole JSON array of values that are not objects (`["000-4", "…"]`):
    a file of one array per line, whose rows are each reported, not an enclosing array."""
    for n, text, _ in _decoded_lines(path):
        if n < line:
            continue
        try:
            value = json.loads(text or "")
        except (ValueError, RecursionError):
            return False
        return isinstance(value, list) and not all(isinstance(v, dict) for v in value)
    return False


def read_jsonl(path: Path) -> Iterator[Row | BadRow]:
    """One JSON object per line; blank lines ignored. A JSON array (`[{...}, {...}]`, on one
    line or pretty-printed) is refused as a whole: read line by line, only the elements that
    happen to sit alone on a line without a trailing comma would be graded."""
    file = str(path)
    first, line = _first_visible(path)
    if first == b"[" and not _arrays_per_line(path, line):
        raise BatchFileError(file, line, "a JSON array, not JSON Lines: write one JSON object "
                             "per line, without the enclosing [ ] (e.g. jq -c '.[]' FILE)")
    for n, text, raw in _decoded_lines(path):
        if text is None:
            yield BadRow(file=file, line=n, reason=_undecodable(raw))
            continue
        if not text.strip():
            continue
        try:  # without its line end, a row cut short is pointed at its end, not "column 1"
            record = json.loads(text.rstrip("\r\n"))
        except json.JSONDecodeError as exc:
            yield BadRow(file=file, line=n,
                         reason=f"malformed JSON: {exc.msg.removesuffix(' at')} (column {exc.colno})")
            continue
        except RecursionError:
            yield BadRow(file=file, line=n, reason="malformed JSON: nested too deeply")
            continue
        except ValueError as exc:  # e.g. an integer of more than 4,300 digits
            yield BadRow(file=file, line=n, reason=f"malformed JSON: {clip(str(exc), 120)}")
            continue
        if not isinstance(record, dict):
            yield BadRow(file=file, line=n,
                         reason=f"expected a JSON object, got {_json_kind(record)}")
            continue
        keyed = _record_keys(record)
        if isinstance(keyed, str):
            yield BadRow(file=file, line=n, reason=keyed)
            continue
        yield _make_row(keyed, file, n)


class _LineFeed:
    """Feeds decoded lines to csv.reader and remembers which ones had bad bytes."""

    def __init__(self, path: Path) -> None:
        self._lines = _decoded_lines(path)
        self.bad: dict[int, str] = {}
        self.consumed = 0
        self.raw: list[str] = []  # the lines of the record being read
        self.exhausted = False

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        try:
            n, text, raw = next(self._lines)
        except StopIteration:
            self.exhausted = True
            raise
        self.consumed = n
        if text is None:
            self.bad[n] = _undecodable(raw)
            text = raw.decode("utf-8", errors="replace").replace("\x00", "\ufffd")
        self.raw.append(text)
        return text


def _delimiter(path: Path) -> str:
    """Tab for a .tsv; otherwise what the header shows (as `eval` reads it too)."""
    if path.suffix.lower() == ".tsv":
        return "\t"
    try:
        with path.open("rb") as fh:
            head = fh.read(1 << 16)
    except OSError:
        return ","
    lines = head.decode("utf-8", errors="replace").lstrip("\ufeff").splitlines()
    first = next((ln for ln in lines if ln.strip()), "")
    return excel_sep(first) or header_delimiter(first)


def read_csv(path: Path) -> Iterator[Row | BadRow]:
    """CSV (or TSV) with a header row; fields may span lines inside quotes."""
    file = str(path)
    feed = _LineFeed(path)
    delimiter = _delimiter(path)
    # strict: a closing quote must be followed by a delimiter, so a quote left open in the
    # middle of the file stops at the next quoted field instead of swallowing rows unseen.
    reader = csv.reader(feed, delimiter=delimiter, strict=True)
    header: list[str] | None = None
    last = 0  # physical line where the previous record ended
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            if header is None:
                raise BatchFileError(file, last + 1, f"header: malformed CSV: {exc}") from None
            if len(feed.raw) == 1 and feed.consumed == last + 1:
                # One line on its own ('"a" ,b'): read it leniently, as spreadsheets do; a
                # stray carriage return inside an unquoted field is read as a space.
                one = feed.raw[0].rstrip("\r\n").replace("\r", " ")
                try:
                    fields = next(csv.reader([one], delimiter=delimiter))
                except csv.Error as exc2:
                    feed.raw = []
                    yield BadRow(file=file, line=last + 1, reason=f"malformed CSV: {exc2}")
                    last = feed.consumed
                    continue
            else:
                start = last + 1
                feed.raw = []
                reason = f"malformed CSV: {exc}"
                if "end of data" in str(exc):  # the file ended inside the quoted field
                    reason = (f"a quote opened on this line never closes: lines "
                              f"{start}-{feed.consumed} could not be read as rows")
                elif feed.consumed > start:
                    reason += (f"; a quote opened on line {start} only closes on line "
                               f"{feed.consumed}: lines {start}-{feed.consumed} were not graded")
                yield BadRow(file=file, line=start, reason=reason)
                if feed.consumed <= last:  # pragma: no cover - no progress, give up
                    break
                last = feed.consumed
                continue
        start, last = last + 1, feed.consumed
        raw, feed.raw = feed.raw, []
        if feed.exhausted and sum(line.count('"') for line in raw) % 2:
            if header is None:
                raise BatchFileError(file, start, "header: a quote opened here never closes")
            # The reader ran into the end of the file inside the record, with an odd count of
            # quotes: one opened and never closed, swallowing every row after it. csv hands that
            # back as one long field, so those rows would silently vanish.
            yield BadRow(file=file, line=start, reason="a quote opened on this line never "
                         f"closes: lines {start}-{last} could not be read as rows")
            continue
        bad = [feed.bad.pop(k) + (f" on line {k}" if k != start else "")
               for k in sorted(feed.bad) if start <= k <= last]
        feed.bad.clear()
        if header is None:
            if bad:
                raise BatchFileError(file, start, f"header: {bad[0]}")
            if not any(f.strip() for f in fields) or excel_sep(delimiter.join(fields)):
                continue  # blank lines, or Excel's "sep=;" line, before the header
            header = [column_key(f) for f in fields]
            dup = next((c for i, c in enumerate(header) if c and c in header[:i]), None)
            if dup is not None:  # which of the two would be graded is anyone's guess
                raise BatchFileError(file, start, f"column {dup!r} appears more than once in "
                                     "the header")
            if "answer" not in header:
                raise BatchFileError(file, start, "no 'answer' column in the header "
                                     f"(found: {clip(', '.join(header), 200)})")
            if "question_id" not in header and "question" not in header:
                raise BatchFileError(file, start, "the header needs a 'question_id' or "
                                     f"'question' column (found: {clip(', '.join(header), 200)})")
            continue
        if not fields or not any(f.strip() for f in fields):
            continue
        if bad:
            yield BadRow(file=file, line=start, reason=bad[0])
            continue
        if len(fields) != len(header):
            yield BadRow(file=file, line=start,
                         reason=f"expected {len(header)} fields, got {len(fields)}")
            continue
        yield _make_row(dict(zip(header, fields, strict=True)), file, start)
    if header is None:
        raise BatchFileError(file, 0, "empty file: no header row")


_HEADING = re.compile(r"^ {0,3}(#{1,2})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})(.*)$")
_FRONT_MATTER_END = frozenset({"---", "..."})


def _front_matter_end(path: Path) -> int:
    """The line that closes a YAML front matter block opened on line 1 (`---`), or 0: its
    `# comments` are not headings, and its keys are not an answer."""
    for n, text, _ in _decoded_lines(path):
        s = (text or "").strip().lstrip("\ufeff")
        if n == 1 and s != "---":
            return 0
        if n > 1 and s in _FRONT_MATTER_END:
            return n
        if n > 200:
            break
    return 0


def _reads_as_question(heading: str) -> bool:
    from interviewer.bank.text import QUESTION_STARTERS, first_word

    h = heading.strip()
    return h.endswith("?") or first_word(h) in QUESTION_STARTERS or bool(
        re.fullmatch(r"[\w.-]+-\d+", h))


def read_markdown(path: Path) -> Iterator[Row | BadRow]:
    """Each `#`/`##` heading is a question and the text under it the answer.

    A heading inside a fenced code block, an HTML comment or a YAML front matter block is not a
    heading. A `#` heading followed by `##` headings is the document's title, not graded, when
    nothing is under it or when it is the first heading and does not read as a question (an
    introduction under "# Deep learning" is no answer to "What is deep learning?").
    """
    file = str(path)
    current: tuple[int, int, str] | None = None  # (line, level, heading text)
    body: list[str] = []
    bad: str | None = None
    fence: tuple[str, int] | None = None  # the open fence's character and length
    in_comment = False
    front_end = _front_matter_end(path)
    headings = 0

    def finish(nxt_level: int | None) -> Row | BadRow | None:
        if current is None:
            return None
        line, level, heading = current
        if level == 1 and nxt_level == 2 and headings == 2 and not _reads_as_question(heading):
            return None  # the document's title, with an introduction under it
        if bad is not None:
            return BadRow(file=file, line=line, reason=bad)
        answer = "\n".join(body).strip()
        if _blank(answer):
            answer = ""
        if not answer and level == 1 and nxt_level == 2:
            return None  # a title
        if _blank(heading):
            return BadRow(file=file, line=line, reason="empty heading: no question")
        if not answer:
            return BadRow(file=file, line=line, reason="empty answer")
        return Row(id=str(line), line=line, question=heading, answer=answer)

    for n, text, raw in _decoded_lines(path):
        if n <= front_end:
            continue
        if text is None:
            if current is None:
                yield BadRow(file=file, line=n, reason=_undecodable(raw))
            elif bad is None:
                bad = f"{_undecodable(raw)} on line {n}"
            continue
        stripped = text.rstrip("\r\n")
        # An HTML comment is not shown, so its headings are not questions.
        if in_comment:
            in_comment = "-->" not in stripped
            continue
        if fence is None and stripped.lstrip().startswith("<!--"):
            in_comment = "-->" not in stripped.split("<!--", 1)[1]
            continue
        fm = _FENCE.match(stripped)
        if fm:
            run, rest = fm.group(1), fm.group(2)
            if fence is None:
                if not (run[0] == "`" and "`" in rest):  # ``` `x` ``` is inline code
                    fence = (run[0], len(run))
            elif run[0] == fence[0] and len(run) >= fence[1] and not rest.strip():
                fence = None  # closed by a run as long as the opening one, with nothing after
        m = _HEADING.match(stripped) if fence is None and not fm else None
        if m:
            headings += 1
            done = finish(len(m.group(1)))
            if done is not None:
                yield done
            current, body, bad = (n, len(m.group(1)), (m.group(2) or "").strip()), [], None
            continue
        if current is not None:
            body.append(stripped)
    done = finish(None)
    if done is not None:
        yield done


# ---------------------------------------------------------------------------------------------
# Graded rows


class CitationOut(BaseModel):
    """A reference passage behind a grade: a verified LLM quote, or the offline reference."""

    passage_id: str = ""
    source: str = ""
    quote: str = ""


class CriterionOut(BaseModel):
    """One rubric criterion as the LLM scored it."""

    score: float
    reason: str = ""


class LlmOut(BaseModel):
    """What the LLM rubric said about a row and how (the provenance history keeps too), so a
    batch grade can be checked and reproduced: which model, which prompt, what it cost."""

    model: str = ""
    prompt_version: str = ""
    latency_s: float = Field(0.0, description="seconds the LLM call took (of the first call "
                             "when `cached`)")
    usage: dict[str, int] = Field(default_factory=dict, description="token counts")
    cached: bool = False
    overall: float = Field(ge=0, le=10, description="the LLM's own overall score")
    criteria: dict[str, CriterionOut] = Field(default_factory=dict)
    misconceptions: list[str] = Field(default_factory=list)
    model_answer_outline: list[str] = Field(default_factory=list)
    dropped_citations: int = Field(0, description="citations that quoted no passage, not shown")


class GradedRow(BaseModel):
    """One output row: what `grade` writes for every graded answer (the JSONL schema)."""

    id: str
    line: int
    question_id: str | None
    question: str
    answer: str
    score: float = Field(ge=0, le=10)
    band: str
    flags: list[str] = Field(default_factory=list)
    covered: list[str] = Field(default_factory=list)
    missed: list[str] = Field(default_factory=list)
    citations: list[CitationOut] = Field(default_factory=list)
    follow_up: str | None = None
    grader: str = Field(description="'offline' or 'llm'")
    notice: str | None = None
    matched_by: str = Field(description="id, text, embedding, or none (row's own reference)")
    match_similarity: float | None = None
    reference: str = Field(description="'bank' or 'row' (the row's reference_answer)")
    topics: list[str] = Field(default_factory=list)
    references: list[CitationOut] = Field(
        default_factory=list, description="the reference passages the offline grade used")
    offline_score: float | None = Field(default=None, ge=0, le=10, description="the offline grade")
    llm: LlmOut | None = Field(default=None, description="the LLM rubric's grade, for grader 'llm'")


CSV_FIELDS = (
    "id", "line", "question_id", "question", "answer", "score", "band", "flags", "covered",
    "missed", "citations", "follow_up", "grader", "notice", "matched_by", "match_similarity",
    "reference", "topics", "offline_score", "llm_score", "model", "prompt_version", "references",
)
# The header of reports written before the LLM columns: appending to one would mix the shapes.
_OLD_CSV_FIELDS = CSV_FIELDS[:18]


_TEXT_CELLS = frozenset({"question", "answer", "follow_up", "notice", "covered", "missed",
                         "citations", "id", "question_id", "model", "prompt_version",
                         "references"})


def _csv_record(row: GradedRow) -> list[str]:
    """Lists become text a spreadsheet shows well: one item per line, flags comma-separated;
    text that a spreadsheet would run as a formula is defused (`csv_cell`)."""
    d = row.model_dump()
    llm = d.pop("llm") or {}
    d.update(llm_score=llm.get("overall"), model=llm.get("model"),
             prompt_version=llm.get("prompt_version"))
    out: list[str] = []
    for name in CSV_FIELDS:
        value = d[name]
        if name in ("flags", "topics"):
            value = ", ".join(value)
        elif name in ("covered", "missed"):
            value = "\n".join(value)
        elif name in ("citations", "references"):
            value = "\n".join(f"[{c['passage_id']}] {c['quote']}" for c in value)
        text = "" if value is None else str(value)
        out.append(csv_cell(text) if name in _TEXT_CELLS else text)
    return out


def _from_csv(raw: dict[str, str]) -> GradedRow:
    record = {k: csv_uncell(v) if k in _TEXT_CELLS else v for k, v in raw.items()}

    def split(text: str, sep: str) -> list[str]:
        return [p.strip() for p in text.split(sep) if p.strip()] if text else []

    sim = record.get("match_similarity") or ""
    offline = record.get("offline_score") or ""
    return GradedRow(
        id=record["id"], line=int(record.get("line") or 0),
        question_id=record.get("question_id") or None, question=record.get("question", ""),
        answer=record.get("answer", ""), score=float(record["score"]), band=record["band"],
        flags=split(record.get("flags", ""), ","), covered=split(record.get("covered", ""), "\n"),
        missed=split(record.get("missed", ""), "\n"), follow_up=record.get("follow_up") or None,
        grader=record.get("grader") or "offline", notice=record.get("notice") or None,
        matched_by=record.get("matched_by") or "none",
        match_similarity=float(sim) if sim else None,
        reference=record.get("reference") or "bank", topics=split(record.get("topics", ""), ","),
        offline_score=float(offline) if offline else None,
    )


def _parse_csv_graded(header: list[str], fields: list[str]) -> GradedRow | None:
    try:
        return _from_csv(dict(zip(header, fields, strict=True)))
    except (KeyError, ValueError):
        return None


# ---------------------------------------------------------------------------------------------
# Writers


def output_format(path: Path, fmt: str | None) -> str:
    if fmt:
        if fmt not in OUTPUT_FORMATS:
            raise ValueError(f"unknown output format {fmt!r}: use {', '.join(OUTPUT_FORMATS)}")
        return fmt
    suffix = path.suffix.lower().lstrip(".")
    aliases = {"ndjson": "jsonl", "markdown": "md", "htm": "html"}
    suffix = aliases.get(suffix, suffix)
    if suffix not in OUTPUT_FORMATS:
        raise ValueError(
            f"cannot tell the output format from {path.name!r}: use an extension "
            f"(.{', .'.join(OUTPUT_FORMATS)}) or --format"
        )
    return suffix


def is_report(path: Path, fmt: str) -> bool:
    """Whether a .md/.html file is a report this command wrote (its first lines say so), so
    `--resume` may render over it; anything else at --out is someone's file."""
    try:
        with path.open("rb") as fh:
            head = fh.read(4096).decode("utf-8", errors="replace")
    except OSError:
        return False
    if fmt == "md":
        return head.startswith("# Grading report: ")
    return head.startswith("<!DOCTYPE html>") and "<title>Grading report: " in head


def rows_path(out: Path, fmt: str) -> Path:
    """Where graded rows are streamed: the output itself, or a JSONL beside a MD/HTML report."""
    return out if fmt in ("jsonl", "csv") else out.with_name(out.name + ".jsonl")


def _truncate_partial_tail(path: Path, keep: int) -> None:
    """Cut a half-written last record left by a crash, so appending stays well-formed."""
    if path.exists() and path.stat().st_size > keep:
        with path.open("r+b") as fh:
            fh.truncate(keep)


def read_graded(
    path: Path, fmt: str, *, repair: bool = False, strict: bool = False
) -> Iterator[GradedRow]:
    """Rows already graded in an output (JSONL or CSV) file, for --resume and reports.

    With `repair`, a trailing half-written record is cut off so the file can be appended to.
    With `strict` (resume), a complete record that is not a graded row raises BatchFileError:
    appending to a file that is not our report would mix its lines with ours.
    """
    if not path.exists():
        return
    if fmt == "jsonl":
        good_end = 0
        with path.open("rb") as fh:
            offset = 0
            for n, raw in enumerate(fh, start=1):
                offset += len(raw)
                if not raw.endswith(b"\n"):
                    break
                good_end = offset  # a complete line is kept, graded row or not
                try:
                    row = GradedRow.model_validate_json(raw)
                except ValueError:
                    if strict and raw.strip():
                        raise BatchFileError(
                            str(path), n, "not a row of an interviewer grade report"
                        ) from None
                    continue
                yield row
        if repair:
            _truncate_partial_tail(path, good_end)
        return
    # CSV: records may span lines, so track byte offsets line by line.
    with path.open("rb") as fh:
        good_end = 0
        offset = 0
        pending: list[str] = []
        header: list[str] | None = None
        for raw in fh:
            offset += len(raw)
            pending.append(raw.decode("utf-8", errors="replace"))
            if not raw.endswith(b"\n"):
                break
            text = "".join(pending)
            if text.count('"') % 2:
                continue  # a quoted field is still open: the record goes on
            pending = []
            try:
                records = list(csv.reader(io.StringIO(text, newline="")))
            except csv.Error:
                records = []
            for fields in records:
                if header is None:
                    header = fields
                    names = tuple(h.strip() for h in header)
                    if strict and names == _OLD_CSV_FIELDS:
                        raise BatchFileError(
                            str(path), 1, "a report of an older version (without the columns "
                            f"{', '.join(CSV_FIELDS[len(_OLD_CSV_FIELDS):])}): it cannot be continued"
                        )
                    if strict and names != CSV_FIELDS:
                        raise BatchFileError(
                            str(path), 1, "not an interviewer grade report (unexpected header)"
                        )
                elif len(fields) == len(header):
                    parsed = _parse_csv_graded(header, fields)
                    if parsed is not None:
                        yield parsed
                    elif strict:
                        raise BatchFileError(
                            str(path), 0, "a record is not a row of an interviewer grade report"
                        )
                elif strict:
                    raise BatchFileError(
                        str(path), 0, f"a record has {len(fields)} fields, not {len(header)}"
                    )
            good_end = offset
    if repair:
        _truncate_partial_tail(path, good_end)


class RowWriter:
    """Appends graded rows to a JSONL or CSV file, flushed and fsync-free per row."""

    def __init__(self, path: Path, fmt: str, *, append: bool = False) -> None:
        self.path, self.fmt = path, fmt
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fresh = not append or not path.exists() or path.stat().st_size == 0
        # Opened at the first row: a run that grades nothing leaves an earlier report intact.
        self._fh: IO[str] | None = None
        self._csv: Any = None
        self.written = 0

    def _open(self) -> IO[str]:
        fh = self.path.open("w" if self._fresh else "a", encoding="utf-8", newline="")
        if self.fmt == "csv":
            self._csv = csv.writer(fh)
            if self._fresh:
                self._csv.writerow(CSV_FIELDS)
        self._fh = fh
        return fh

    def write(self, row: GradedRow) -> None:
        fh = self._fh or self._open()
        if self._csv is not None:
            self._csv.writerow(_csv_record(row))
        else:
            fh.write(row.model_dump_json() + "\n")
        fh.flush()
        self.written += 1

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()

    def __enter__(self) -> RowWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------
# Summary


@dataclass
class _Agg:
    label: str
    n: int = 0
    total: float = 0.0

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else 0.0


@dataclass
class Summary:
    """Running figures over graded rows: count, mean, bands, weakest topics and questions."""

    count: int = 0
    total: float = 0.0
    bands: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BAND_ORDER, 0))
    graders: dict[str, int] = field(default_factory=dict)
    topics: dict[str, _Agg] = field(default_factory=dict)
    questions: dict[str, _Agg] = field(default_factory=dict)
    matched_by: dict[str, int] = field(default_factory=dict)
    lowest_match: float | None = None  # lowest similarity among embedding matches

    def add(self, row: GradedRow) -> None:
        self.count += 1
        self.matched_by[row.matched_by] = self.matched_by.get(row.matched_by, 0) + 1
        if row.matched_by == "embedding" and row.match_similarity is not None:
            low = self.lowest_match
            self.lowest_match = row.match_similarity if low is None else min(low, row.match_similarity)
        self.total += row.score
        self.bands[row.band] = self.bands.get(row.band, 0) + 1
        self.graders[row.grader] = self.graders.get(row.grader, 0) + 1
        for t in row.topics:
            agg = self.topics.setdefault(t, _Agg(t))
            agg.n += 1
            agg.total += row.score
        key = row.question_id or " ".join(row.question.lower().split())[:200]
        label = f"{row.question_id}: {row.question}" if row.question_id else row.question
        # shown on the terminal: an escape sequence in a question must not drive it
        q = self.questions.setdefault(key, _Agg(clip(printable(label), 90)))
        q.n += 1
        q.total += row.score

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    def weakest_topics(self, k: int = 3) -> list[_Agg]:
        return sorted(self.topics.values(), key=lambda a: (a.mean, -a.n, a.label))[:k]

    def weakest_questions(self, k: int = 5) -> list[_Agg]:
        return sorted(self.questions.values(), key=lambda a: (a.mean, -a.n, a.label))[:k]


# ---------------------------------------------------------------------------------------------
# Reports (Markdown, HTML): rendered from the streamed rows, in two passes, in bounded memory


def _summarise(rows: Iterable[GradedRow]) -> Summary:
    s = Summary()
    for r in rows:
        s.add(r)
    return s


def _md_inline(text: str) -> str:
    """Text on one line that Markdown will not read as markup."""
    return re.sub(r"([\\`*_{}\[\]<>#|])", r"\\\1", " ".join(_CONTROL.sub("", text).split()))


_INTERRUPTED = ("The run was interrupted: this report covers the answers graded so far; "
                "the same command with --resume grades the rest.")


def write_markdown_report(
    rows_file: Path, out: Path, title: str, skipped: int = 0, interrupted: bool = False
) -> None:
    """A Markdown report: summary table, then every graded answer."""
    summary = _summarise(read_graded(rows_file, "jsonl"))
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(f"# Grading report: {_md_inline(title)}\n\n")
        fh.write(f"{plural(summary.count, 'answer')} graded, mean score {summary.mean:.1f}/10")
        fh.write(f"; {plural(skipped, 'row')} skipped.\n\n" if skipped else ".\n\n")
        if interrupted:
            fh.write(f"**{_INTERRUPTED}**\n\n")
        fh.write("| Band | Answers |\n|---|---:|\n")
        for band, n in summary.bands.items():
            fh.write(f"| {band} | {n} |\n")
        if summary.topics:
            fh.write("\n**Weakest topics**\n\n| Topic | Answers | Mean |\n|---|---:|---:|\n")
            for a in summary.weakest_topics():
                fh.write(f"| {_md_inline(a.label)} | {a.n} | {a.mean:.1f} |\n")
        if summary.questions:
            fh.write("\n**Weakest questions**\n\n| Question | Answers | Mean |\n|---|---:|---:|\n")
            for a in summary.weakest_questions():
                fh.write(f"| {_md_inline(a.label)} | {a.n} | {a.mean:.1f} |\n")
        fh.write("\n## Answers\n")
        for r in read_graded(rows_file, "jsonl"):
            qid = f" ({_md_inline(r.question_id)})" if r.question_id else ""
            fh.write(f"\n### {_md_inline(r.id)}. {_md_inline(r.question)}{qid}\n\n")
            fh.write(f"**Score {r.score:.1f}/10, {r.band}** (grader: {r.grader}")
            if r.matched_by in ("embedding", "text"):
                sim = f", similarity {r.match_similarity:.2f}" if r.match_similarity else ""
                fh.write(f"; matched by {r.matched_by}{sim}")
            fh.write(")\n\n")
            if r.notice:
                fh.write(f"> Note: {_md_inline(r.notice)}\n\n")
            fh.write("Answer:\n\n")
            for line in _CONTROL.sub("", r.answer).splitlines() or [""]:
                fh.write(f"> {_md_inline(line)}\n" if line.strip() else ">\n")
            fh.write("\n")
            if r.flags:
                fh.write(f"Flags: {', '.join(r.flags)}\n\n")
            for label, items in (("Covered", r.covered), ("Missed", r.missed)):
                if items:
                    fh.write(f"{label}:\n\n")
                    fh.writelines(f"- {_md_inline(p)}\n" for p in items)
                    fh.write("\n")
            if r.follow_up:
                fh.write(f"Follow-up: {_md_inline(r.follow_up)}\n\n")
            if r.llm is not None:
                _md_llm(fh, r, r.llm)
            if r.citations:
                fh.write("Cited by the LLM (verified):\n\n" if r.llm is not None
                         else "Sources:\n\n")
                fh.writelines(
                    f"- `{c.passage_id}` {_md_inline(clip(c.quote, 240))}\n" for c in r.citations
                )
                fh.write("\n")
    os.replace(tmp, out)


def _llm_lists(llm: LlmOut) -> list[tuple[str, list[str]]]:
    """The LLM's lists a report shows, those it filled, with their labels (Markdown and HTML)."""
    return [(label, items) for label, items in (("Misconceptions", llm.misconceptions),
                                                ("Model answer outline", llm.model_answer_outline))
            if items]


def _md_llm(fh: IO[str], r: GradedRow, llm: LlmOut) -> None:
    """An LLM-graded row's provenance and rubric: model, prompt, criterion scores and reasons."""
    offline = f", offline grade {r.offline_score:.1f}" if r.offline_score is not None else ""
    fh.write(f"LLM: {_md_inline(llm.model or '?')}, prompt {_md_inline(llm.prompt_version or '?')}"
             f", overall {llm.overall:.1f}{offline}"
             f"{' (cached)' if llm.cached else f', {llm.latency_s:.1f} s'}\n\n")
    if llm.criteria:
        fh.write("| Criterion | Score | Reason |\n|---|---:|---|\n")
        fh.writelines(f"| {_md_inline(name)} | {c.score:.1f} | {_md_inline(c.reason)} |\n"
                      for name, c in llm.criteria.items())
        fh.write("\n")
    for label, items in _llm_lists(llm):
        fh.write(f"{label}:\n\n")
        fh.writelines(f"- {_md_inline(p)}\n" for p in items)
        fh.write("\n")
    if llm.dropped_citations:
        fh.write(f"{_md_inline(dropped_note(llm.dropped_citations))}\n\n")


# C0 and C1 controls (not \t \n \r) and Unicode noncharacters (U+FDD0-U+FDEF, U+FFFE and
# U+FFFF of every plane): not allowed in XML, a parse error in HTML, and never meant as text.
_CONTROL = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufdd0-\ufdef"
    + "".join(f"{chr(p + 0xFFFE)}{chr(p + 0xFFFF)}" for p in range(0, 0x110000, 0x10000))
    + "]"
)


def _h(text: object) -> str:
    """Escaped text, control characters removed, so the page stays well-formed."""
    return html.escape(_CONTROL.sub("", str(text)), quote=True)


_CSS = """
body{font:15px/1.5 system-ui,-apple-system,Segoe UI,sans-serif;max-width:60rem;margin:2rem auto;
padding:0 1rem;color:#1d232a;background:#fff}
h1{font-size:1.6rem}h2{margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0 1rem}th,td{border:1px solid #ccc;padding:.25rem .6rem;
text-align:left;vertical-align:top}td.n{text-align:right}
.row{border:1px solid #ddd;border-radius:6px;padding:.6rem 1rem;margin:1rem 0}
.row h3{margin:.2rem 0;font-size:1.05rem}.meta{color:#555;font-size:.9rem}
.answer{white-space:pre-wrap;background:#f6f8fa;padding:.5rem .8rem;border-radius:4px}
.band{display:inline-block;padding:0 .5rem;border-radius:3px;font-weight:600;color:#fff}
.b-excellent{background:#1a7f37}.b-good{background:#4d8f2a}.b-partial{background:#b58400}
.b-weak{background:#c4521b}.b-off-topic{background:#a40e26}
.flag{background:#eee;border-radius:3px;padding:0 .3rem;margin-right:.3rem;font-size:.85rem}
.notice{color:#8a4b00}blockquote{margin:.2rem 0 .2rem 1rem;color:#444}
"""


def write_html_report(
    rows_file: Path, out: Path, title: str, skipped: int = 0, interrupted: bool = False
) -> None:
    """One self-contained, well-formed HTML page (inline CSS, no scripts, everything escaped)."""
    summary = _summarise(read_graded(rows_file, "jsonl"))
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8"/>\n')
        fh.write('<meta name="viewport" content="width=device-width, initial-scale=1"/>\n')
        fh.write(f"<title>Grading report: {_h(title)}</title>\n<style>{_CSS}</style>\n")
        fh.write("</head>\n<body>\n")
        fh.write(f"<h1>Grading report: {_h(title)}</h1>\n")
        fh.write(f"<p>{plural(summary.count, 'answer')} graded, mean score {summary.mean:.1f}/10")
        fh.write(f"; {plural(skipped, 'row')} skipped.</p>\n" if skipped else ".</p>\n")
        if interrupted:
            fh.write(f'<p class="flags">{_h(_INTERRUPTED)}</p>\n')
        fh.write("<table><thead><tr><th>Band</th><th>Answers</th></tr></thead><tbody>\n")
        for band, n in summary.bands.items():
            fh.write(f'<tr><td><span class="band b-{_h(band)}">{_h(band)}</span></td>'
                     f'<td class="n">{n}</td></tr>\n')
        fh.write("</tbody></table>\n")
        for heading, aggs in (("Weakest topics", summary.weakest_topics()),
                              ("Weakest questions", summary.weakest_questions())):
            if not aggs:
                continue
            fh.write(f"<h2>{heading}</h2>\n<table><thead><tr><th>{heading.split()[1][:-1]}"
                     "</th><th>Answers</th><th>Mean</th></tr></thead><tbody>\n")
            for a in aggs:
                fh.write(f'<tr><td>{_h(a.label)}</td><td class="n">{a.n}</td>'
                         f'<td class="n">{a.mean:.1f}</td></tr>\n')
            fh.write("</tbody></table>\n")
        fh.write("<h2>Answers</h2>\n")
        for r in read_graded(rows_file, "jsonl"):
            qid = f" ({r.question_id})" if r.question_id else ""
            fh.write(f'<div class="row" id="row-{_h(r.id)}">\n')
            fh.write(f"<h3>{_h(r.id)}. {_h(r.question)}{_h(qid)}</h3>\n")
            fh.write(f'<p class="meta"><span class="band b-{_h(r.band)}">{_h(r.band)}</span> '
                     f"score {r.score:.1f}/10 · grader {_h(r.grader)} · line {r.line}")
            if r.matched_by in ("embedding", "text") and r.match_similarity is not None:
                fh.write(f" · matched by {_h(r.matched_by)}, similarity {r.match_similarity:.2f}")
            fh.write("</p>\n")
            if r.notice:
                fh.write(f'<p class="notice">{_h(r.notice)}</p>\n')
            fh.write(f'<div class="answer">{_h(r.answer)}</div>\n')
            if r.flags:
                fh.write("<p>" + "".join(f'<span class="flag">{_h(f)}</span>' for f in r.flags)
                         + "</p>\n")
            for label, items in (("Covered", r.covered), ("Missed", r.missed)):
                if items:
                    fh.write(f"<p><strong>{label}</strong></p>\n<ul>\n")
                    fh.writelines(f"<li>{_h(p)}</li>\n" for p in items)
                    fh.write("</ul>\n")
            if r.follow_up:
                fh.write(f"<p><strong>Follow-up:</strong> {_h(r.follow_up)}</p>\n")
            if r.llm is not None:
                _html_llm(fh, r, r.llm)
            if r.citations:
                label = "Cited by the LLM (verified)" if r.llm is not None else "Sources"
                fh.write(f"<p><strong>{label}</strong></p>\n<ul>\n")
                fh.writelines(
                    f"<li><code>{_h(c.passage_id)}</code> <blockquote>{_h(clip(c.quote, 400))}"
                    "</blockquote></li>\n" for c in r.citations
                )
                fh.write("</ul>\n")
            fh.write("</div>\n")
        fh.write("</body>\n</html>\n")
    os.replace(tmp, out)


def _html_llm(fh: IO[str], r: GradedRow, llm: LlmOut) -> None:
    """An LLM-graded row's provenance and rubric: model, prompt, criterion scores and reasons."""
    offline = f" · offline grade {r.offline_score:.1f}" if r.offline_score is not None else ""
    took = "cached" if llm.cached else f"{llm.latency_s:.1f} s"
    fh.write(f'<p class="meta">LLM {_h(llm.model or "?")} · prompt {_h(llm.prompt_version or "?")}'
             f" · overall {llm.overall:.1f}{offline} · {took}</p>\n")
    if llm.criteria:
        fh.write("<table><thead><tr><th>Criterion</th><th>Score</th><th>Reason</th></tr>"
                 "</thead><tbody>\n")
        fh.writelines(f'<tr><td>{_h(name)}</td><td class="n">{c.score:.1f}</td>'
                      f"<td>{_h(c.reason)}</td></tr>\n" for name, c in llm.criteria.items())
        fh.write("</tbody></table>\n")
    for label, items in _llm_lists(llm):
        fh.write(f"<p><strong>{label}</strong></p>\n<ul>\n")
        fh.writelines(f"<li>{_h(p)}</li>\n" for p in items)
        fh.write("</ul>\n")
    if llm.dropped_citations:
        fh.write(f"<p>{_h(dropped_note(llm.dropped_citations))}</p>\n")


def render_report(fmt: Literal["md", "html"] | str, rows_file: Path, out: Path, title: str,
                  skipped: int = 0, interrupted: bool = False) -> None:
    if fmt == "md":
        write_markdown_report(rows_file, out, title, skipped, interrupted)
    elif fmt == "html":
        write_html_report(rows_file, out, title, skipped, interrupted)
