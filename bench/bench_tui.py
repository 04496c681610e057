"""How fast the practice TUI feels, measured in a real terminal (tmux), polling the screen.

    python bench/bench_tui.py [--runs 5] [--size 80x24]

Per run: launch `interviewer practice` in a fresh tmux pane and time
  launch -> first question on screen   (budget 1 s)
  launch -> grader ready                (model + index + warm-up, in the background)
  submit -> offline score on screen     (ctrl+s until "scored" appears; budget 1 s)
The data dir is shared across runs (the first run builds the index; pass --cold to rebuild every
run). Prints the median, min and max of each, and the ratio of the median to its budget.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ANSWER = (
    "Backpropagation applies the chain rule to compute the gradient of the loss with respect to "
    "every weight, layer by layer from the output backwards."
)
BUDGET_FIRST_S = 1.0
BUDGET_SCORE_S = 1.0


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout


def wait_for(session: str, needle: str, timeout: float, poll: float = 0.01) -> float:
    """Seconds (perf_counter) at which `needle` was first seen on the pane."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if needle in tmux("capture-pane", "-p", "-t", session):
            return time.perf_counter()
        time.sleep(poll)
    raise TimeoutError(f"{needle!r} not on screen after {timeout:.0f} s")


def one_run(data_dir: Path, size: tuple[int, int]) -> tuple[float, float, float]:
    session = f"bench-tui-{uuid.uuid4().hex[:8]}"
    env = (f"INTERVIEWER_DATA_DIR={data_dir} INTERVIEWER_CONFIG_FILE={data_dir}/none.toml "
           f"PYTHONPATH={REPO} TERM=xterm-256color")
    cmd = (f"cd {REPO} && env {env} {sys.executable} -m interviewer practice "
           "--source 000 --seed 1 --offline; sleep 5")
    t0 = time.perf_counter()
    tmux("new-session", "-d", "-s", session, "-x", str(size[0]), "-y", str(size[1]), cmd)
    try:
        t_first = wait_for(session, "Q1/", 30)
        t_ready = wait_for(session, "grader: ready", 600, poll=0.05)
        tmux("send-keys", "-t", session, "-l", ANSWER)
        wait_for(session, "backwards.", 10)
        t_submit = time.perf_counter()
        tmux("send-keys", "-t", session, "C-s")
        t_score = wait_for(session, "Q1 scored", 120)
        tmux("send-keys", "-t", session, "C-q")
        time.sleep(0.3)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    return t_first - t0, t_ready - t0, t_score - t_submit


def summary(name: str, xs: list[float], budget: float | None) -> str:
    med = statistics.median(xs)
    line = f"{name:<34} median {med:6.2f} s  min {min(xs):6.2f}  max {max(xs):6.2f}"
    if budget:
        line += f"  ratio to {budget:.0f} s budget: {med / budget:.2f}"
    return line


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--size", default="80x24")
    ap.add_argument("--cold", action="store_true", help="a fresh data dir (no index) every run")
    args = ap.parse_args()
    if shutil.which("tmux") is None:
        sys.exit("tmux is required")
    w, h = (int(x) for x in args.size.split("x"))
    base = Path(tempfile.mkdtemp(prefix="bench-tui-"))
    firsts, readies, scores = [], [], []
    try:
        for i in range(args.runs):
            data = base / (f"run{i}" if args.cold else "shared")
            f, r, s = one_run(data, (w, h))
            firsts.append(f)
            readies.append(r)
            scores.append(s)
            print(f"run {i + 1}: first question {f:.2f} s, grader ready {r:.2f} s, "
                  f"submit->score {s:.2f} s", file=sys.stderr)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"interviewer TUI in tmux {w}x{h}, {args.runs} runs, {os.cpu_count()} CPUs"
          + (" (cold: index rebuilt every run)" if args.cold else " (index built by run 1)"))
    print(summary("launch -> first question", firsts, BUDGET_FIRST_S))
    print(summary("launch -> grader ready (background)", readies, None))
    print(summary("submit -> offline score", scores, BUDGET_SCORE_S))


if __name__ == "__main__":
    main()
