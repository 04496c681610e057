"""The offline grader in bank mode: the dev answers graded by `question_id` against the bank's
parsed references, with and without the related passages from the index.

    .venv/bin/python bench/bank_mode.py ../shared/datasets/dl-interview-dev.csv

`eval` grades against the reference in each row; this is how the TUI and `grade` grade a bank
question, and how `RELATED_MIN_SIM` in `interviewer/grader.py` was chosen.
"""

from __future__ import annotations

import sys
from pathlib import Path

from interviewer.bank.loader import load_bank
from interviewer.commands.bank import try_index
from interviewer.commands.evaluate import read_dataset
from interviewer.config import load_settings
from interviewer.embedding import get_embedder
from interviewer.evaluation import pearson
from interviewer.grader import RELATED_MIN_SIM, Grader, GradeRequest


def main(path: Path) -> None:
    rows = [r for r in read_dataset(path) if r.question_id]
    settings = load_settings()
    bank = load_bank(settings)
    rows = [r for r in rows if bank.get(r.question_id or "") is not None]
    embedder = get_embedder(settings.embedding_model)
    embedder.load()
    y = [r.score for r in rows]
    reqs = [
        GradeRequest(answer=r.answer, question=r.question, question_id=r.question_id) for r in rows
    ]
    print(
        f"{len(rows)} answers with a bank question id; related passages at cosine >= "
        f"{RELATED_MIN_SIM}"
    )
    for label, store in (
        ("own reference only", None),
        ("with related passages", try_index(settings, bank)),
    ):
        grades = Grader(embedder, bank=bank, store=store).grade_many(reqs)
        with_related = sum(len(g.references) > 1 for g in grades)
        r = pearson([g.score for g in grades], y)
        print(f"{label:>22}: Pearson {r:.3f} ({with_related} answers had a related passage)")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/datasets/dl-interview-dev.csv"))
