"""Offline grading throughput against bare `SentenceTransformer.encode`, measured in one run.

    python bench/bench_grading.py [DATASET.csv] [--n N]

Without a dataset, synthetic answers are graded against a few references. Prints:
- bare encode of the N answers (the floor: one model pass per answer, nothing else);
- grading the same N answers with references already embedded (a session: the bank's
  references are embedded once and cached), and the ratio of the two throughputs (goal >= 0.5);
- cold grading (references embedded in the same run), for completeness;
- single-grade latency (median and p95 of fresh answers, model loaded; goal < 50 ms).
The model load is excluded everywhere. On a busy machine set OMP_NUM_THREADS=1: the figures
then measure the code, not the contention.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from interviewer.embedding import Embedder  # noqa: E402
from interviewer.evaluation import parse_dataset  # noqa: E402
from interviewer.grader import Grader, GradeRequest  # noqa: E402

SYNTH_REFS = [
    ("What is dropout?", "Dropout randomly zeroes a fraction of activations during training so "
     "units cannot co-adapt; it reduces overfitting. At inference all units are used, scaled."),
    ("What is batch normalization?", "Batch normalization normalizes each layer's inputs over the "
     "mini-batch, then applies a learned scale and shift; it stabilises and speeds up training."),
    ("What is transfer learning?", "Transfer learning reuses a model pre-trained on a large "
     "dataset and fine-tunes it on a smaller one for a new task, saving data and compute."),
]
SYNTH_ANSWERS = [
    "It randomly turns off neurons while training, number {i}, so the model overfits less.",
    "You normalise activations per mini-batch and learn a scale and shift, case {i}.",
    "Take a pretrained network and fine-tune it on your small dataset, example {i}.",
]


def requests(dataset: Path | None, n: int) -> list[GradeRequest]:
    if dataset is not None:
        rows = parse_dataset(dataset.read_text("utf-8"))
        base = [GradeRequest(r.answer, r.question, r.question_id, r.reference_answer) for r in rows]
    else:
        base = [
            GradeRequest(SYNTH_ANSWERS[i % 3].format(i=i), SYNTH_REFS[i % 3][0],
                         reference=SYNTH_REFS[i % 3][1])
            for i in range(n)
        ]
    out: list[GradeRequest] = []
    k = 0
    while len(out) < n:  # repeat with a marker so no answer is a cache hit
        for r in base[: n - len(out)]:
            answer = r.answer if k == 0 else f"{r.answer} ({k})"
            out.append(GradeRequest(answer, r.question, r.question_id, r.reference))
        k += 1
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", nargs="?", type=Path)
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--single", type=int, default=30)
    args = ap.parse_args()

    reqs = requests(args.dataset, args.n)
    answers = [r.answer for r in reqs]
    refs = sorted({r.reference or "" for r in reqs})

    embedder = Embedder("bundled")
    t0 = time.perf_counter()
    model = embedder.load()
    load_s = time.perf_counter() - t0
    model.encode(["warm up the model"])  # first call allocates

    # 1. bare encode of the N answers
    t0 = time.perf_counter()
    model.encode(answers, show_progress_bar=False)  # the model's defaults (batch size 32)
    bare_s = time.perf_counter() - t0

    # 2. cold: a fresh grader, references embedded within the timed run
    cold = Grader(Embedder("bundled"))
    cold.embedder._model = model  # same loaded weights, empty caches
    t0 = time.perf_counter()
    cold.grade_many(reqs)
    cold_s = time.perf_counter() - t0

    # 3. warm: references (and their key points) embedded once before, as in a session
    grader = Grader(embedder, other_references=refs)
    warm_reqs = [GradeRequest(f"{r.answer} [w]", r.question, r.question_id, r.reference)
                 for r in reqs]
    grader.grade_many([GradeRequest("warm", r.question, r.question_id, r.reference)
                       for r in {r.reference: r for r in reqs}.values()])
    t0 = time.perf_counter()
    grader.grade_many(warm_reqs)
    warm_s = time.perf_counter() - t0

    # 4. single-grade latency, fresh answers
    lat = []
    for i in range(args.single):
        r = reqs[i % len(reqs)]
        req = GradeRequest(f"{r.answer} [single {i}]", r.question, r.question_id, r.reference)
        t0 = time.perf_counter()
        grader.grade(req)
        lat.append((time.perf_counter() - t0) * 1000)
    lat.sort()

    n = len(reqs)
    print(f"answers: {n} ({'dataset ' + args.dataset.name if args.dataset else 'synthetic'}), "
          f"{len(refs)} references; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    print(f"model load (excluded):          {load_s:6.2f} s")
    print(f"bare SentenceTransformer.encode: {n / bare_s:7.1f} answers/s")
    print(f"grading, references cached:      {n / warm_s:7.1f} answers/s"
          f"   ratio {bare_s / warm_s:.2f} (goal >= 0.5)")
    print(f"grading, cold (refs in the run): {n / cold_s:7.1f} answers/s"
          f"   ratio {bare_s / cold_s:.2f}")
    print(f"single grade: median {statistics.median(lat):.1f} ms, "
          f"p95 {lat[int(0.95 * (len(lat) - 1))]:.1f} ms (goal < 50 ms)")


if __name__ == "__main__":
    main()
