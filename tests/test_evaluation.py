"""Metrics against scipy/scikit-learn on random data, and the dataset parser's errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import cohen_kappa_score

from interviewer.evaluation import (
    DatasetError,
    mae,
    metrics,
    parse_dataset,
    pearson,
    qwk,
    rmse,
    spearman,
    to_scale,
)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


def test_pearson_and_spearman_match_scipy(rng: np.random.Generator) -> None:
    x = rng.normal(size=200)
    y = x + rng.normal(size=200)
    assert pearson(x, y) == pytest.approx(pearsonr(x, y)[0], abs=1e-9)
    # Ties: integer grades, as in every human-graded set.
    a = rng.integers(0, 6, size=300).astype(float)
    b = np.clip(a + rng.integers(-2, 3, size=300), 0, 5)
    assert spearman(a, b) == pytest.approx(spearmanr(a, b)[0], abs=1e-9)


def test_degenerate_inputs_give_zero_not_nan() -> None:
    assert pearson([1, 1, 1], [1, 2, 3]) == 0.0
    assert spearman([1.0], [2.0]) == 0.0


def test_qwk_matches_sklearn(rng: np.random.Generator) -> None:
    a = rng.integers(0, 6, size=500)
    b = np.clip(a + rng.integers(-1, 2, size=500), 0, 5)
    ours = qwk(a.tolist(), b.tolist(), 0, 5)
    ref = cohen_kappa_score(a, b, weights="quadratic", labels=list(range(6)))
    assert ours == pytest.approx(ref, abs=1e-9)
    assert qwk([0, 1, 2, 3], [0, 1, 2, 3], 0, 5) == pytest.approx(1.0)


def test_rmse_mae() -> None:
    assert rmse([1, 2, 3], [1, 2, 5]) == pytest.approx(np.sqrt(4 / 3))
    assert mae([1, 2, 3], [2, 2, 5]) == pytest.approx(1.0)


def test_metrics_round_to_the_scale_for_qwk() -> None:
    pred = [to_scale(s, 5) for s in (0.9, 3.1, 5.0, 7.1, 9.9)]  # 0.45 1.55 2.5 3.55 4.95
    m = metrics(pred, [0, 2, 3, 4, 5], 5, seconds=0.5)
    assert m.n == 5
    assert m.qwk == pytest.approx(1.0)  # rounds to 0 2 3 4 5
    assert m.answers_per_s == pytest.approx(10.0)
    assert set(m.model_dump()) == {"n", "pearson", "spearman", "qwk", "rmse", "mae", "answers_per_s"}


HEADER = "question_id,question,reference_answer,answer,score,max_score\n"


def test_parse_reads_rows_with_lines_and_default_scale() -> None:
    text = (
        "question,reference_answer,answer,score\n"
        'What is X?,"X is a thing,\nover two lines",An answer,4\n'
        "What is Y?,Y is another,Other,2.5\n"
    )
    rows = parse_dataset(text)
    assert [r.line for r in rows] == [2, 4]
    assert rows[0].reference_answer.startswith("X is a thing,\nover")
    assert rows[0].max_score == 5.0 and rows[1].score == 2.5
    assert rows[0].group == "What is X?"


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("", 1, "empty"),
        ("question,answer,score\nq,a,1\n", 1, "reference_answer"),
        (HEADER + "1,q,r,a,3,5\n2,q,r,a,high,5\n", 3, "not a number"),
        (HEADER + "1,q,r,a,7,5\n", 2, "outside"),
        (HEADER + "1,q,r,a,3,5\n1,q,r,a,3\n", 3, "expected 6 fields"),
        (HEADER + "1,q,,a,3,5\n", 2, "reference_answer is empty"),
        (HEADER, 2, "no rows"),
    ],
)
def test_parse_errors_name_the_line(text: str, line: int, words: str) -> None:
    with pytest.raises(DatasetError) as err:
        parse_dataset(text)
    assert err.value.line == line
    assert words in err.value.message
