"""The offline grader on harder splits of a graded dataset than `calibrate`'s GroupKFold:
leave one source article out, and half of the questions against the other half.

    .venv/bin/python bench/grader_splits.py ../shared/datasets/dl-interview-dev.csv

Each split refits the calibration on its training part only (same features and `fit` as
`interviewer calibrate`) and applies the guards' caps, then reports Pearson on the held-out part.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from interviewer.commands.evaluate import _grader, grade_rows, read_dataset
from interviewer.evaluation import pearson
from interviewer.grading.calibration import FEATURES, fit, predict
from interviewer.grading.guards import cap_for


def _fmt(r: float | None) -> str:
    return "n/a" if r is None else f"{r:.3f}"


def main(path: Path) -> None:
    rows = read_dataset(path)
    grades = grade_rows(rows, _grader(rows, "bundled"), progress=False)
    x = np.array([[g.features[k] for k in FEATURES] for g in grades])
    y = np.array([r.score / r.max_score for r in rows])
    caps = np.array([cap_for(g.flags) for g in grades])

    def held_out(train: np.ndarray) -> np.ndarray:
        cal = fit(x[train], y[train])
        return np.minimum(predict(cal, x[~train]), caps[~train])

    source = np.array([r.group.split("-")[0] for r in rows])
    pred = np.zeros(len(rows))
    for s in sorted(set(source)):
        test = source == s
        pred[test] = held_out(~test)
        print(f"leave source {s} out: n={test.sum():3d}  "
              f"pearson {_fmt(pearson(pred[test].tolist(), y[test].tolist()))}")
    print(f"leave one source out, overall: pearson {_fmt(pearson(pred.tolist(), y.tolist()))}")
    questions = sorted({r.group for r in rows})
    half = np.array([r.group in set(questions[::2]) for r in rows])
    for name, train in (("first half -> second", half), ("second half -> first", ~half)):
        p = held_out(train)
        print(f"{name}: pearson {_fmt(pearson(p.tolist(), y[~train].tolist()))}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else
         Path(__file__).resolve().parents[2] / "shared" / "datasets" / "dl-interview-dev.csv")
