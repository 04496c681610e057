"""Transcript entries: who said what, styled by speaker in app.tcss."""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text
from textual.widgets import Static


class Message(Static):
    """One entry of the chat transcript."""

    DEFAULT_CLASSES = "message"

    def __init__(self, body: RenderableType, title: str = "", **kwargs: object) -> None:
        super().__init__(body, **kwargs)  # type: ignore[arg-type]
        if title:
            self.border_title = title


class InterviewerMessage(Message):
    DEFAULT_CLASSES = "message interviewer"


class UserMessage(Message):
    DEFAULT_CLASSES = "message user"

    def __init__(self, text: str, title: str = "you", **kwargs: object) -> None:
        super().__init__(Text(text), title=title, **kwargs)


class SystemMessage(Message):
    """Hints, notices, errors: things the app says, not the interviewer."""

    DEFAULT_CLASSES = "message system"


class ErrorMessage(Message):
    DEFAULT_CLASSES = "message error"
