"""Agreement metrics for `interviewer eval`, and the eval dataset's parser. Pure: text in, numbers out."""

from __future__ import annotations

import codecs
import csv
import io
import math
import re
from collections.abc import Iterator, Sequence

import numpy as np
from numpy.typing import ArrayLike
from pydantic import BaseModel, Field

from interviewer.csv_cells import column_key, excel_sep, header_delimiter
from interviewer.text_sniff import HEAD_BYTES, not_text
from interviewer.wording import clip

REQUIRED_COLUMNS = ("question", "reference_answer", "answer", "score")
# csv's default limit is 128 KiB a field: one long pasted answer would fail the whole file.
FIELD_LIMIT = 64 * 1024 * 1024
SAVE_AS_UTF8 = "save it as UTF-8 (in Excel: Save As → CSV UTF-8)"
EXCEL_UTF8 = "in Excel: Save As → CSV UTF-8"


class DatasetError(ValueError):
    """A malformed eval dataset; `line` is 1-based in the file (the header is line 1), or None
    when the fault is the whole file's (its encoding)."""

    def __init__(self, line: int | None, message: str, hint: str | None = None) -> None:
        super().__init__(message if line is None else f"line {line}: {message}")
        self.line = line
        self.message = message
        self.hint = hint


class EvalRow(BaseModel):
    line: int
    question_id: str | None = None
    question: str
    reference_answer: str
    answer: str
    score: float
    max_score: float = 5.0

    @property
    def group(self) -> str:
        """Rows of one question share a group: cross-validation folds never split it."""
        return self.question_id or self.question


class Metrics(BaseModel):
    n: int
    pearson: float | None = Field(description="None where undefined (see note)")
    spearman: float | None = Field(description="None where undefined (see note)")
    qwk: float | None = Field(description="None where undefined (see note)")
    rmse: float
    mae: float
    answers_per_s: float = Field(0.0, description="grading throughput, model load excluded")
    note: str | None = Field(
        None, exclude=True, description="why a figure is undefined; printed, never in the JSON"
    )


def _line_at(raw: bytes, offset: int) -> int:
    """1-based line of a byte, counting line breaks as the csv reader does (LF, CRLF, lone CR)."""
    head = raw[:offset]
    return head.count(b"\n") + head.count(b"\r") - head.count(b"\r\n") + 1


def decode_dataset(raw: bytes) -> str:
    """The dataset's text. Spreadsheets save UTF-16 or a legacy code page as readily as UTF-8,
    and a wrong file may be binary: each gets its own message, with the line where it applies."""
    problem = not_text(raw[:HEAD_BYTES])
    if problem is not None and problem[0] == "utf16":
        raise DatasetError(None, "UTF-16 text: save it as UTF-8", EXCEL_UTF8)
    nul = problem[1] if problem is not None else raw.find(b"\0")  # anywhere, not just the head
    if nul >= 0:
        raise DatasetError(
            _line_at(raw, nul), "binary data (a NUL byte): not a text/CSV file",
            "give a CSV or TSV file exported as UTF-8 text",
        )
    body = raw.removeprefix(codecs.BOM_UTF8)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        start = max(body.rfind(b"\n", 0, exc.start), body.rfind(b"\r", 0, exc.start)) + 1
        column = len(body[start : exc.start].decode("utf-8")) + 1  # valid up to the bad byte
        raise DatasetError(
            _line_at(body, exc.start),
            f"not UTF-8 text (byte 0x{body[exc.start]:02x} at column {column})",
            SAVE_AS_UTF8,
        ) from None


class _RecordLines:
    """The physical lines under the csv reader, kept per record to tell where a quote opened."""

    def __init__(self, text: str) -> None:
        self._lines = io.StringIO(text, newline="")
        self.record: list[str] = []

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.record.append(line)
        return line


def _breaks(text: str) -> int:
    return text.count("\n") + text.count("\r") - text.count("\r\n")


def _unclosed_quote_line(rec: list[str], line: int, raw: str, expected: int) -> int | None:
    """Where a quote that never closed probably opened, for a record with the wrong field count:
    it swallowed the line breaks after it (a field spans lines), or it ran to the end of the file
    on the record's own line (too few fields and a quote in the line)."""
    for i, field in enumerate(rec):
        if _breaks(field):
            return line + sum(_breaks(f) for f in rec[:i])
    if len(rec) < expected and '"' in raw:
        return line
    return None


MAX_SCALE = 1e9  # squares stay exact in int64 (QWK) and finite (RMSE)
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(nan|inf|infinity)", re.I | re.A)


def _number(text: str, decimal_comma: bool = False) -> float:
    """A plain decimal number: not float()'s '0_5' (5.0) or other scripts' digits ('٣').
    `decimal_comma`: '3,5' is 3.5, as a semicolon-separated spreadsheet writes it."""
    text = text.strip()
    if decimal_comma and text.count(",") == 1 and "." not in text:
        text = text.replace(",", ".")
    if not _NUMBER.fullmatch(text):
        raise ValueError(text)
    return float(text)


def parse_dataset(text: str, tsv: bool = False) -> list[EvalRow]:
    """Rows of an eval CSV (or TSV: `tsv`, or a header with tabs and no commas; or with
    semicolons and no commas, where a score may have a decimal comma). Columns:
    question, reference_answer, answer, score, optional question_id and max_score (default 5).
    Raises DatasetError naming the line."""
    if text.startswith("\ufeff"):
        text = text[1:]
    # The header is the first line with text on it; Excel may put a "sep=;" line before it.
    first = re.search(r"^[^\r\n]*\S[^\r\n]*", text, re.M)
    header_line = first.group() if first else ""
    sep = excel_sep(header_line)
    delimiter = "\t" if tsv else sep or header_delimiter(header_line)
    kind = "TSV" if delimiter == "\t" else "CSV"
    csv.field_size_limit(max(csv.field_size_limit(), FIELD_LIMIT))
    lines = _RecordLines(text)
    # strict: a quote left open mid-file stops at the next quoted field, not rows later.
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    header: list[str] = []
    try:
        while not any(h.strip() for h in header) or excel_sep(delimiter.join(header)):
            header = next(reader)
    except StopIteration:
        raise DatasetError(1, f"the file is empty (expected a {kind} header)") from None
    except csv.Error as exc:
        raise DatasetError(reader.line_num or 1, f"not valid {kind}: {exc}") from None
    at = reader.line_num  # the header's line
    cols = [column_key(h) for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in cols]
    if missing:
        raise DatasetError(at, f"missing column(s) {', '.join(missing)}; header is {clip(repr(header), 200)}")
    dup = next((c for i, c in enumerate(cols) if c and c in cols[:i]), None)
    if dup is not None:
        raise DatasetError(at, f"column {dup!r} appears more than once in the header")
    idx = {c: i for i, c in enumerate(cols)}
    rows: list[EvalRow] = []
    while True:
        line = reader.line_num + 1
        lines.record = []
        try:
            rec = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            at_end = "end of data" in str(exc)  # in a quoted field: counted and hinted below
            if len(lines.record) != 1 and not at_end:
                end = reader.line_num
                where = f" (a quote opened on line {line} only closes on line {end})" \
                    if end > line else ""
                raise DatasetError(line, f"not valid {kind}: {exc}{where}") from None
            # One line on its own ('"a" ,b'): read it leniently, as spreadsheets do.
            rec = next(csv.reader(["".join(lines.record)], delimiter=delimiter))
        if not any(f.strip() for f in rec):
            continue
        if len(rec) != len(cols):
            message = f"expected {len(cols)} fields, found {len(rec)}"
            quote = _unclosed_quote_line(rec, line, "".join(lines.record), len(cols))
            if quote is not None:
                message += f" (an unclosed quote on line {quote}?)"
            raise DatasetError(line, message)

        def get(name: str, rec: list[str] = rec) -> str | None:
            return rec[idx[name]] if name in idx else None

        try:
            score = _number(get("score") or "", decimal_comma=delimiter == ";")
        except ValueError:
            raise DatasetError(line, f"score {clip(repr(get('score')), 60)} is not a number") from None
        raw_max = (get("max_score") or "").strip()
        try:
            max_score = _number(raw_max, decimal_comma=delimiter == ";") if raw_max else 5.0
        except ValueError:
            raise DatasetError(line, f"max_score {clip(repr(raw_max), 60)} is not a number") from None
        if not math.isfinite(max_score):
            raise DatasetError(line, f"max_score {clip(raw_max, 40)} is not a finite number")
        if max_score <= 0:
            raise DatasetError(line, f"max_score must be positive, got {raw_max}")
        if max_score > MAX_SCALE:  # a typo, and its squares would overflow QWK and RMSE
            raise DatasetError(line, f"max_score {raw_max} is above {MAX_SCALE:g}: not a grade scale")
        if not (0 <= score <= max_score) or not math.isfinite(score):
            raise DatasetError(line, f"score {score:g} is outside 0..{max_score:g}")
        question = (get("question") or "").strip()
        reference = (get("reference_answer") or "").strip()
        if not reference:
            raise DatasetError(line, "reference_answer is empty")
        qid = (get("question_id") or "").strip() or None
        rows.append(
            EvalRow(
                line=line,
                question_id=qid,
                question=question,
                reference_answer=reference,
                answer=get("answer") or "",
                score=score,
                max_score=max_score,
            )
        )
    if not rows:
        raise DatasetError(at + 1, "no rows after the header")
    return rows


def correlation_undefined(x: ArrayLike, y: ArrayLike) -> str | None:
    """Why Pearson and Spearman can't be computed on these pairs, or None when they can: a
    correlation needs two points and spread on both sides (0.0 would read as 'no agreement')."""
    a, b = np.asarray(x, float), np.asarray(y, float)
    if len(a) < 2:
        return "there is only one answer" if len(a) == 1 else "there are no answers"
    if b.min() == b.max():
        return f"every human score is {b[0]:g}"
    if a.min() == a.max():
        return f"every predicted score is {a[0]:g}"
    return None


def pearson(x: ArrayLike, y: ArrayLike) -> float | None:
    """Pearson r, or None where it is undefined (see correlation_undefined)."""
    a, b = np.asarray(x, float), np.asarray(y, float)
    if correlation_undefined(a, b) is not None:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def _ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks (ties share their mean rank)."""
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), float)
    ranks[order] = np.arange(len(x), dtype=float)
    _, inv, counts = np.unique(x, return_inverse=True, return_counts=True)
    sums = np.bincount(inv, weights=ranks)
    return sums[inv] / counts[inv]


def spearman(x: ArrayLike, y: ArrayLike) -> float | None:
    """Spearman ρ, or None where it is undefined (constant ranks are constant values)."""
    a, b = np.asarray(x, float), np.asarray(y, float)
    if correlation_undefined(a, b) is not None:
        return None
    return pearson(_ranks(a), _ranks(b))


def qwk(x: Sequence[int], y: Sequence[int], min_rating: int, max_rating: int) -> float | None:
    """Quadratic weighted kappa between two integer ratings on min..max; None where undefined
    (no ratings, or both sides one and the same rating: no disagreement was possible).

    O(n), not the k×k matrix form, so a 0..1e6 scale costs nothing: the (k-1)² weights cancel,
    and with expected counts from the marginals the denominator is E[(a-b')²] for independent
    a, b' = var(a) + var(b) + (mean a - mean b)².
    """
    a = np.clip(np.asarray(x, np.int64), min_rating, max_rating).astype(float)
    b = np.clip(np.asarray(y, np.int64), min_rating, max_rating).astype(float)
    if len(a) == 0:
        return None
    denom = float(a.var() + b.var() + (a.mean() - b.mean()) ** 2)
    if denom == 0:
        return None
    return 1.0 - float(np.mean((a - b) ** 2)) / denom


def rmse(x: ArrayLike, y: ArrayLike) -> float:
    a, b = np.asarray(x, float), np.asarray(y, float)
    return float(np.sqrt(np.mean((a - b) ** 2))) if len(a) else 0.0


def mae(x: ArrayLike, y: ArrayLike) -> float:
    a, b = np.asarray(x, float), np.asarray(y, float)
    return float(np.mean(np.abs(a - b))) if len(a) else 0.0


def to_scale(score10: float, max_score: float) -> float:
    """A 0-10 grade on a dataset's 0..max_score scale."""
    return score10 / 10.0 * max_score


def _r4(x: float | None) -> float | None:
    """Four decimals, and never -0.0 in the JSON."""
    return None if x is None else round(x, 4) + 0.0


def metrics(
    predicted: ArrayLike, human: ArrayLike, max_score: float, seconds: float = 0.0
) -> Metrics:
    """All figures for predictions already mapped to the dataset's scale; a figure that can't be
    computed is None, with a one-line `note` saying why.

    QWK rounds both sides to whole points of the scale (half-point human grades, as when two
    graders are averaged, round half up).
    """
    p = np.asarray(predicted, float)
    h = np.asarray(human, float)
    top = int(math.ceil(max_score))
    pr = np.floor(p + 0.5).astype(np.int64)
    hr = np.floor(h + 0.5).astype(np.int64)
    # With one human grade for every answer, kappa is 0 however close the predictions are
    # (observed and chance disagreement coincide): a 0 that says nothing about the grader.
    one_human = len(hr) > 0 and bool(np.all(np.clip(hr, 0, top) == min(max(hr[0], 0), top)))
    kappa = None if one_human else qwk(pr.tolist(), hr.tolist(), 0, top)
    why = correlation_undefined(p, h)
    undefined = (["Pearson", "Spearman"] if why else []) + (["QWK"] if kappa is None else [])
    reasons = [why] if why else []
    if kappa is None and len(hr) and not (why and why.startswith(("every human", "there"))):
        reasons.append(f"every human score rounds to {min(max(hr[0], 0), top)}")
    note = None
    if undefined:
        names = " and ".join(filter(None, [", ".join(undefined[:-1]), undefined[-1]]))
        note = f"{names} {'are' if len(undefined) > 1 else 'is'} undefined: {'; '.join(reasons)}"
    return Metrics(
        n=len(p),
        pearson=_r4(pearson(p, h)),
        spearman=_r4(spearman(p, h)),
        qwk=_r4(kappa),
        rmse=round(rmse(p, h), 4),
        mae=round(mae(p, h), 4),
        answers_per_s=round(len(p) / seconds, 1) if seconds > 0 else 0.0,
        note=note,
    )
