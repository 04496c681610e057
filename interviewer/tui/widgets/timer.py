"""A per-question clock for mock interviews (the clock is injectable for tests)."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.text import Text
from textual.widgets import Static


def fmt_seconds(s: float) -> str:
    s = max(0, int(s))
    return f"{s // 60:02d}:{s % 60:02d}"


class QuestionTimer(Static):
    """Shows the time spent on the current question; a soft limit turns it red."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, limit_s: float = 180.0, **kwargs: object
    ) -> None:
        super().__init__("", **kwargs)  # type: ignore[arg-type]
        self.clock = clock
        self.limit_s = limit_s
        self.started: float | None = None
        self.stopped: float | None = None
        self.finished = False

    def on_mount(self) -> None:
        self.set_interval(1.0, self.refresh)

    def start(self) -> None:
        self.started = self.clock()
        self.stopped = None
        self.finished = False
        self.refresh()

    def finish(self) -> None:
        """The interview is over: the last question's overrun is in the report, not in red here."""
        self.stop()
        self.finished = True
        self.refresh()

    def stop(self) -> float:
        self.stopped = self.clock()
        return self.elapsed

    @property
    def elapsed(self) -> float:
        if self.started is None:
            return 0.0
        return (self.stopped or self.clock()) - self.started

    def render(self) -> Text:
        if self.finished:
            return Text("⏱ finished", style="dim")
        e = self.elapsed
        style = "bold red" if e > self.limit_s else "bold"
        return Text(f"⏱ {fmt_seconds(e)} / {fmt_seconds(self.limit_s)}", style=style)
