"""Measure what a follow-up answer is graded with as its question (the context).

The offline follow-up quotes the missed point ("Your answer didn't develop this point: “…”"),
so with the follow-up's own text as the question a right answer reads as restating it (parrot)
and its terms as the question's rather than fresh content. For every non-thin bank question
with two or more key points, its second point is the follow-up point; this grades, against that
point alone: the point itself as the answer (with the follow-up's text, and with the main
question, as context), another question's point, and "I don't know".

    python bench/follow_up_context.py
"""

from __future__ import annotations

import statistics

from interviewer.bank.loader import load_bank
from interviewer.config import load_settings
from interviewer.embedding import get_embedder
from interviewer.grader import Grader, GradeRequest
from interviewer.grading.offline import follow_up_question


def main() -> None:
    bank = load_bank()
    grader = Grader(get_embedder(load_settings().embedding_model), bank=bank)
    qs = [q for q in bank.questions if not q.thin and len(q.key_points) >= 2]

    def grade(answer: str, question: str, qid: str, point: str) -> tuple[float, bool]:
        g = grader.grade(GradeRequest(answer=answer, question=question, question_id=qid,
                                      key_points=[point]))
        return g.score, bool(g.flags)

    cases: dict[str, list[tuple[float, bool]]] = {}
    for i, q in enumerate(qs):
        point = q.key_points[1]
        other = qs[(i + len(qs) // 5) % len(qs)].key_points[0]
        rows = {
            "the point, follow-up text as context": (point, follow_up_question(point)),
            "the point, main question as context": (point, q.question),
            "another question's point": (other, q.question),
            "I don't know": ("I'm not sure, I don't know.", q.question),
        }
        for name, (answer, question) in rows.items():
            cases.setdefault(name, []).append(grade(answer, question, q.id, point))
    print(f"{len(qs)} follow-up points")
    for name, got in cases.items():
        scores = [s for s, _ in got]
        print(f"{name:40s} mean {statistics.mean(scores):4.1f}  min {min(scores):4.1f}  "
              f"max {max(scores):4.1f}  flagged {sum(f for _, f in got)}")


if __name__ == "__main__":
    main()
