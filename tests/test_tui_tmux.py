"""The real app in a real terminal (tmux): type an answer, ctrl+s, read the score off the screen."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from interviewer.history import History

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]

REPO = Path(__file__).resolve().parents[1]
SCORE = re.compile(r"Q1 scored (\d+(?:\.\d)?)/10 \(([a-z-]+)\)")


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout


def wait_screen(session: str, cond: Callable[[str], bool], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = tmux("capture-pane", "-p", "-t", session)
        if cond(screen):
            return screen
        time.sleep(0.1)
    raise AssertionError(f"timed out; screen was:\n{screen}")


def test_real_app_in_tmux_grades_an_answer(tmp_path: Path) -> None:
    session = f"interviewer-test-{uuid.uuid4().hex[:8]}"
    env = {
        "INTERVIEWER_DATA_DIR": str(tmp_path / "data"),
        "INTERVIEWER_CONFIG_FILE": str(tmp_path / "config.toml"),
        "PYTHONPATH": str(REPO),
        "TERM": "xterm-256color",
    }
    exports = " ".join(f"{k}={v}" for k, v in env.items())
    cmd = (f"cd {REPO} && env {exports} {sys.executable} -m interviewer practice "
           f"--source 000 --seed 7 --offline; sleep 30")
    tmux("new-session", "-d", "-s", session, "-x", "100", "-y", "30", cmd)
    try:
        wait_screen(session, lambda s: "Q1/" in s, timeout=30)
        tmux("send-keys", "-t", session, "-l",
             "Backpropagation computes gradients of the loss with the chain rule,")
        tmux("send-keys", "-t", session, "Enter")  # a new line, not a submit
        tmux("send-keys", "-t", session, "-l", "layer by layer from the output backwards.")
        wait_screen(session, lambda s: "layer by layer" in s, timeout=30)
        tmux("send-keys", "-t", session, "C-s")
        screen = wait_screen(session, lambda s: SCORE.search(s) is not None, timeout=300)
        m = SCORE.search(screen)
        assert m is not None
        score = float(m.group(1))
        assert 0 <= score <= 10
        assert "Score " in screen or "scored" in screen
        tmux("send-keys", "-t", session, "C-q")
        time.sleep(1.0)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    # what the screen said is what the history holds, with both lines of the answer
    rows = History(Path(env["INTERVIEWER_DATA_DIR"]) / "history.sqlite3").attempts()
    assert rows and rows[0]["score"] == pytest.approx(score, abs=0.05)
    assert rows[0]["answer"].count("\n") == 1 and rows[0]["band"] == m.group(2)
    assert os.path.exists(env["INTERVIEWER_DATA_DIR"])
