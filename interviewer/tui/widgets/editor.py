"""The answer editor: a TextArea whose ctrl-key commands run in the order they were typed.

Screen-level priority bindings would jump the queue: keys typed just before ctrl+s could still
be waiting in the editor's message queue when the screen submits. Binding the commands on the
editor itself keeps them in line with the typing, so a fast typist never loses the last words.
"""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding
from textual.widgets import TextArea

COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("ctrl+s", "submit", "Submit"),
    ("ctrl+t", "hint", "Hint"),
    ("ctrl+k", "skip", "Skip"),
    ("ctrl+r", "reference", "Reference"),
    ("ctrl+n", "next", "Next"),
)


def screen_bindings() -> list[Binding | tuple[str, str] | tuple[str, str, str]]:
    """The same commands for when the editor does not have focus."""
    return [Binding(k, a, d) for k, a, d in COMMANDS]


def _text_area_bindings(without: set[str]) -> list[Binding]:
    """TextArea's bindings as inheritance merges them (a subclass's binding for a key replaces
    its base classes': up moves the cursor, it does not scroll the container), minus the keys
    our commands take."""
    merged: dict[str, list[Binding]] = {}
    for cls in reversed(TextArea.__mro__):
        own: dict[str, list[Binding]] = {}
        for binding in Binding.make_bindings(vars(cls).get("BINDINGS", [])):
            own.setdefault(binding.key, []).append(binding)
        merged.update(own)
    return [b for key, bs in merged.items() if key not in without for b in bs]


class AnswerEditor(TextArea, inherit_bindings=False):
    """Multi-line answer: Enter makes a new line, ctrl+s sends.

    Bindings are not inherited but listed, ours first: an inherited key we rebind (ctrl+k)
    would keep TextArea's place and put "Skip" before "Submit" in the footer.
    """

    BINDINGS: ClassVar[list[Binding | tuple[str, str] | tuple[str, str, str]]] = [
        *(Binding(k, f"screen.{a}", d) for k, a, d in COMMANDS),
        Binding("ctrl+up", "screen.scroll_transcript(-1)", "Scroll up", show=False),
        Binding("ctrl+down", "screen.scroll_transcript(1)", "Scroll down", show=False),
        # Answers are short: page keys read back through the conversation instead.
        Binding("pageup", "screen.scroll_transcript(-1)", "Scroll up", show=False),
        Binding("pagedown", "screen.scroll_transcript(1)", "Scroll down", show=False),
        *_text_area_bindings({k for k, _, _ in COMMANDS} | {"ctrl+up", "ctrl+down", "pageup", "pagedown"}),
    ]
