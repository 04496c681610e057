"""Batch grading speed: `interviewer grade` on 1,000 answers vs a bare SentenceTransformer.encode.

Both run in this process, on the same 1,000 answers (the dev set's answers, made unique so no
cache helps). The grading figure is the whole command run in-process: read the file, match
questions, grade offline (batched), write the JSONL, print the summary. The model load and the
index build happen in a warm-up before the clock starts. Three grading runs, each on 1,000 other
answers: "first ever" starts with no saved encodings (it embeds the bank's references, key points
and related passages once and saves them in the data dir: a one-off per machine and model);
"new process" starts with empty memory caches but the saved encodings, which is what every later
`interviewer grade` costs; "in memory" has the bank's texts already embedded in this process.
Goal: within 2x of the bare encode. The bare encode runs with the model's defaults (batch size
32); we embed in batches of `BATCH_SIZE` (16), which pads less on CPU, so the bare encode at that
batch size is timed too: the ratio to it is our overhead alone.

    python bench/bench_batch.py [--n 1000]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

DEV = Path(__file__).resolve().parents[1] / "datasets" / "dl-interview-dev.csv"
SHARED_DEV = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "dl-interview-dev.csv"


def answers(n: int) -> list[dict[str, str]]:
    path = DEV if DEV.exists() else SHARED_DEV
    with path.open(newline="", encoding="utf-8") as fh:
        dev = list(csv.DictReader(fh))
    rows = []
    for i in range(n):
        d = dev[i % len(dev)]
        # a different tail per copy: every answer is a new text for every cache
        rows.append({"id": str(i), "question_id": d["question_id"],
                     "answer": f"{d['answer']} (Answer {i}.)"})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=4, help="bare-encode runs (median taken)")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    os.environ["INTERVIEWER_DATA_DIR"] = str(tmp / "data")
    os.environ["INTERVIEWER_CONFIG_FILE"] = str(tmp / "config.toml")
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "INTERVIEWER_CHROMA_URL"):
        os.environ.pop(var, None)

    import torch
    from sentence_transformers import SentenceTransformer
    from typer.testing import CliRunner

    from interviewer.cli import app
    from interviewer.embedding import BATCH_SIZE, get_embedder, resolve_model_path

    rows = answers(args.n)
    texts = [r["answer"] for r in rows]
    infile = tmp / "answers.jsonl"
    infile.write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    # the same questions, other (unique) answers: for the run with references already embedded
    again = tmp / "again.jsonl"
    again.write_text("".join(json.dumps({**r, "answer": r["answer"] + " Again."}) + "\n"
                             for r in rows), "utf-8")
    third = tmp / "third.jsonl"
    third.write_text("".join(json.dumps({**r, "answer": r["answer"] + " Third."}) + "\n"
                             for r in rows), "utf-8")
    warm = tmp / "warm.jsonl"
    warm.write_text("".join(json.dumps({**r, "answer": r["answer"] + " warm"}) + "\n"
                            for r in rows[:8]), "utf-8")

    bare = SentenceTransformer(resolve_model_path("bundled"), device="cpu")
    bare.encode(["warm up"] * 8, batch_size=64)
    get_embedder().load()
    runner = CliRunner()
    # warm-up: loads the bank, builds the index (done once per data dir)
    r = runner.invoke(app, ["grade", str(warm), "--out", str(tmp / "warm-out.jsonl"),
                            "--offline"])
    assert r.exit_code == 0, r.output
    from interviewer.config import load_settings

    saved = load_settings().bank_encodings

    def new_process(keep_saved: bool) -> None:
        """A new process starts with no embedded texts in memory."""
        get_embedder()._cache.clear()
        if not keep_saved:
            saved.unlink(missing_ok=True)

    def bare_encode() -> tuple[float, float]:
        """The bare model's own defaults (batch size 32), all 1,000 answers in one call."""
        t, c = time.perf_counter(), time.process_time()
        bare.encode(texts, show_progress_bar=False)
        return time.perf_counter() - t, time.process_time() - c

    def bare_small_batches() -> float:
        """The bare encode at the batch size we use (faster on CPU): our overhead alone."""
        t = time.perf_counter()
        bare.encode(texts, batch_size=BATCH_SIZE, show_progress_bar=False)
        return time.perf_counter() - t

    def grade(path: Path, out: str) -> tuple[float, float]:
        t, c = time.perf_counter(), time.process_time()
        r = runner.invoke(app, ["grade", str(path), "--out", str(tmp / out), "--offline"])
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        assert r.exit_code == 0, r.output
        assert sum(1 for _ in (tmp / out).open()) == args.n
        return wall, cpu

    # bare runs around the grading runs (the machine may be shared): the median is used
    bare_runs = [bare_encode()]
    new_process(keep_saved=False)
    first = grade(infile, "out.jsonl")
    bare_runs.append(bare_encode())
    new_process(keep_saved=True)
    cold = grade(again, "out-again.jsonl")
    bare_runs.append(bare_encode())
    warm_run = grade(third, "out-third.jsonl")
    bare_runs += [bare_encode() for _ in range(max(0, args.repeat - 3))]
    small_s = statistics.median(bare_small_batches() for _ in range(3))
    bare_s = statistics.median(b for b, _ in bare_runs)
    bare_cpu = statistics.median(c for _, c in bare_runs)
    runs = ", ".join(f"{b:.1f}" for b, _ in bare_runs)
    print(f"answers: {args.n} ({len({r['question_id'] for r in rows})} questions); "
          f"torch threads: {torch.get_num_threads()}")
    print(f"bare SentenceTransformer.encode:       {bare_s:6.1f} s wall, {bare_cpu:6.1f} s CPU "
          f"({args.n / bare_s:.0f} answers/s; wall runs {runs})")
    print(f"bare encode at batch size {BATCH_SIZE} (ours):     {small_s:6.1f} s wall "
          f"({args.n / small_s:.0f} answers/s)")
    for name, (w, c) in (("grade, first ever (embeds + saves the bank)", first),
                         ("grade, new process (saved bank encodings)", cold),
                         ("grade, bank texts already in memory     ", warm_run)):
        print(f"{name}: {w:6.1f} s wall, {c:6.1f} s CPU ({args.n / w:.0f} answers/s) "
              f"-> {w / bare_s:.2f}x wall, {c / bare_cpu:.2f}x CPU of the bare encode "
              f"({w / small_s:.2f}x of it at batch size {BATCH_SIZE})")
    print("goal: within 2x of the bare encode")

if __name__ == "__main__":
    main()
