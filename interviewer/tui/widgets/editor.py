"""The answer editor: a TextArea whose ctrl-key commands run in the order they were typed.

Screen-level priority bindings would jump the queue: keys typed just before ctrl+s could still
be waiting in the editor's message queue when the screen submits. Binding the commands on the
editor itself keeps them in line with the typing, so a fast typist never loses the last words.
"""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import TextArea

COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("ctrl+s", "submit", "Submit"),
    ("ctrl+t", "hint", "Hint"),
    ("ctrl+k", "skip", "Skip"),
    ("ctrl+r", "reference", "Reference"),
    ("ctrl+n", "next", "Next"),
)


def screen_bindings() -> list[Binding]:
    """The same commands for when the editor does not have focus."""
    return [Binding(k, a, d) for k, a, d in COMMANDS]


class AnswerEditor(TextArea):
    """Multi-line answer: Enter makes a new line, ctrl+s sends."""

    BINDINGS = [Binding(k, f"screen.{a}", d) for k, a, d in COMMANDS]
