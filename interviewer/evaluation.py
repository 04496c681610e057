"""Agreement metrics for `interviewer eval`, and the eval dataset's parser. Pure: text in, numbers out."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike
from pydantic import BaseModel, Field

REQUIRED_COLUMNS = ("question", "reference_answer", "answer", "score")


class DatasetError(ValueError):
    """A malformed eval dataset; `line` is 1-based in the file (the header is line 1)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


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
    pearson: float
    spearman: float
    qwk: float
    rmse: float
    mae: float
    answers_per_s: float = Field(0.0, description="grading throughput, model load excluded")


def parse_dataset(text: str) -> list[EvalRow]:
    """Rows of an eval CSV. Columns: question, reference_answer, answer, score, optional
    question_id and max_score (default 5). Raises DatasetError naming the line."""
    if text.startswith("\ufeff"):
        text = text[1:]
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise DatasetError(1, "the file is empty (expected a CSV header)") from None
    except csv.Error as exc:
        raise DatasetError(1, f"not valid CSV: {exc}") from None
    cols = [h.strip().lower() for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in cols]
    if missing:
        raise DatasetError(1, f"missing column(s) {', '.join(missing)}; header is {header!r}")
    idx = {c: i for i, c in enumerate(cols)}
    rows: list[EvalRow] = []
    while True:
        line = reader.line_num + 1
        try:
            rec = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise DatasetError(line, f"not valid CSV: {exc}") from None
        if not any(f.strip() for f in rec):
            continue
        if len(rec) != len(cols):
            raise DatasetError(line, f"expected {len(cols)} fields, found {len(rec)}")

        def get(name: str, rec: list[str] = rec) -> str | None:
            return rec[idx[name]] if name in idx else None

        try:
            score = float(get("score") or "")
        except ValueError:
            raise DatasetError(line, f"score {get('score')!r} is not a number") from None
        raw_max = (get("max_score") or "").strip()
        try:
            max_score = float(raw_max) if raw_max else 5.0
        except ValueError:
            raise DatasetError(line, f"max_score {raw_max!r} is not a number") from None
        if max_score <= 0 or not math.isfinite(max_score):
            raise DatasetError(line, f"max_score must be positive, got {raw_max}")
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
        raise DatasetError(2, "no rows after the header")
    return rows


def pearson(x: ArrayLike, y: ArrayLike) -> float:
    a, b = np.asarray(x, float), np.asarray(y, float)
    if len(a) < 2 or a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def _ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks (ties share their mean rank)."""
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), float)
    ranks[order] = np.arange(len(x), dtype=float)
    _, inv, counts = np.unique(x, return_inverse=True, return_counts=True)
    sums = np.bincount(inv, weights=ranks)
    return sums[inv] / counts[inv]


def spearman(x: ArrayLike, y: ArrayLike) -> float:
    a, b = np.asarray(x, float), np.asarray(y, float)
    if len(a) < 2:
        return 0.0
    return pearson(_ranks(a), _ranks(b))


def qwk(x: Sequence[int], y: Sequence[int], min_rating: int, max_rating: int) -> float:
    """Quadratic weighted kappa between two integer ratings on min..max."""
    a = np.clip(np.asarray(x, int), min_rating, max_rating) - min_rating
    b = np.clip(np.asarray(y, int), min_rating, max_rating) - min_rating
    k = max_rating - min_rating + 1
    if len(a) == 0 or k < 2:
        return 0.0
    observed = np.zeros((k, k))
    np.add.at(observed, (a, b), 1)
    expected = np.outer(np.bincount(a, minlength=k), np.bincount(b, minlength=k)) / len(a)
    i, j = np.indices((k, k))
    weights = (i - j) ** 2 / (k - 1) ** 2
    denom = float((weights * expected).sum())
    return 1.0 if denom == 0 else 1.0 - float((weights * observed).sum()) / denom


def rmse(x: ArrayLike, y: ArrayLike) -> float:
    a, b = np.asarray(x, float), np.asarray(y, float)
    return float(np.sqrt(np.mean((a - b) ** 2))) if len(a) else 0.0


def mae(x: ArrayLike, y: ArrayLike) -> float:
    a, b = np.asarray(x, float), np.asarray(y, float)
    return float(np.mean(np.abs(a - b))) if len(a) else 0.0


def to_scale(score10: float, max_score: float) -> float:
    """A 0-10 grade on a dataset's 0..max_score scale."""
    return score10 / 10.0 * max_score


def metrics(
    predicted: ArrayLike, human: ArrayLike, max_score: float, seconds: float = 0.0
) -> Metrics:
    """All figures for predictions already mapped to the dataset's scale.

    QWK rounds both sides to whole points of the scale (half-point human grades, as when two
    graders are averaged, round half up).
    """
    p = np.asarray(predicted, float)
    h = np.asarray(human, float)
    top = int(math.ceil(max_score))
    pr = np.floor(p + 0.5).astype(int)
    hr = np.floor(h + 0.5).astype(int)
    return Metrics(
        n=len(p),
        pearson=round(pearson(p, h), 4),
        spearman=round(spearman(p, h), 4),
        qwk=round(qwk(pr.tolist(), hr.tolist(), 0, top), 4),
        rmse=round(rmse(p, h), 4),
        mae=round(mae(p, h), 4),
        answers_per_s=round(len(p) / seconds, 1) if seconds > 0 else 0.0,
    )
