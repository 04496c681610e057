"""Title bar (deck, mode, grader status) and a status line with a spinner for slow work."""

from __future__ import annotations

import time

from rich.text import Text
from textual.reactive import reactive
from textual.timer import Timer
from textual.widgets import Static

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


class TitleBar(Static):
    """One line: what is being practised on the left, the grader's state on the right."""

    left: reactive[str] = reactive("")
    right: reactive[str] = reactive("")

    def render(self) -> Text:
        width = self.size.width or 80
        right = self.right
        left = self.left
        room = max(0, width - len(right) - 2)
        if len(left) > room:
            left = left[: max(0, room - 1)] + "…"
        t = Text(" " + left, style="bold")
        t.append(" " * max(1, width - len(left) - len(right) - 2))
        t.append(right + " ", style="italic")
        return t


class StatusLine(Static):
    """What the app is doing right now; a spinner while it works, nothing when idle."""

    message: reactive[str] = reactive("")
    busy: reactive[bool] = reactive(False)

    def __init__(self, **kwargs: object) -> None:
        super().__init__("", **kwargs)  # type: ignore[arg-type]
        self._frame = 0
        self._timer: Timer | None = None
        self._since: float | None = None

    def on_mount(self) -> None:
        self._timer = self.set_interval(0.1, self._tick, pause=True)

    def _tick(self) -> None:
        self._frame = (self._frame + 1) % len(SPINNER)
        self.refresh()

    def watch_busy(self, busy: bool) -> None:
        if self._timer is not None:
            if busy:
                self._timer.resume()
            else:
                self._timer.pause()
        self.set_class(busy, "busy")

    def show(self, message: str, busy: bool = False) -> None:
        """`{s}` in a busy message counts the seconds since it was shown (a long wait says how
        long it has been)."""
        if "{s}" not in message or message != self.message:
            self._since = time.monotonic() if "{s}" in message else None
        self.message = message
        self.busy = busy

    def clear(self) -> None:
        self.show("", False)

    def render(self) -> Text:
        if not self.message:
            return Text("")
        prefix = SPINNER[self._frame] + " " if self.busy else ""
        message = self.message
        if self._since is not None:
            message = message.replace("{s}", str(int(time.monotonic() - self._since)))
        return Text(" " + prefix + message)
