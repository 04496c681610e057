"""Help: every binding and how a session works."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

KEYS: tuple[tuple[str, str], ...] = (
    ("ctrl+s", "send: your answer, your follow-up answer, or a question about the feedback"),
    ("Enter", "new line in the answer"),
    ("ctrl+t", "hint: reveal one key point (recorded; not in mock interviews)"),
    ("ctrl+r", "show the reference answer (recorded; not in mock interviews)"),
    ("ctrl+k", "skip the question (or the follow-up)"),
    ("ctrl+n", "next question (after a mock interview: its report again)"),
    ("PgUp PgDn", "scroll the conversation (also ctrl+↑ ctrl+↓, or the mouse wheel)"),
    ("ctrl+o", "choose a deck and a mode"),
    ("f2", "your stats"),
    ("f1", "this help"),
    ("ctrl+q", "quit (every answer you sent is saved)"),
)

FLOW = (
    "The interviewer asks; you answer and press ctrl+s. The offline grade appears first (score, "
    "key points covered and missed, the reference passages used), then the LLM rubric if it is "
    "on. The interviewer follows up on the most important missed point. After that, or instead, "
    "ask about the feedback: a message ending in '?' is a question to the interviewer.\n\n"
    "Modes: practice (untimed, hints), mock (N questions, a clock, no hints, a report at the "
    "end), review (spaced repetition: questions come back when due)."
)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        table = Table(show_header=False, box=None, padding=(0, 2))
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column()
        for key, what in KEYS:
            table.add_row(key, what)
        with VerticalScroll(id="help-box") as box:
            box.border_title = "help · esc to close"
            yield Static(table)
            yield Static(Text(FLOW), id="help-flow")
        yield Footer()  # this screen's keys, not the practice screen's below it

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)
