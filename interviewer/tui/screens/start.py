"""Deck chooser: mode, source, topic and number of questions."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, Select

from interviewer.bank.models import Bank
from interviewer.tui.app import SessionConfig


class StartScreen(ModalScreen[SessionConfig | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, bank: Bank, current: SessionConfig) -> None:
        super().__init__()
        self.bank = bank
        self.current = current

    def compose(self) -> ComposeResult:
        counts: dict[str, int] = {}
        topics: dict[str, int] = {}
        for q in self.bank.deck():
            counts[q.source] = counts.get(q.source, 0) + 1
            for t in q.topics:
                topics[t] = topics.get(t, 0) + 1
        sources = [(f"{s.id} · {s.title[:40]} ({counts.get(s.id, 0)})", s.id)
                   for s in self.bank.sources if counts.get(s.id)]
        with Vertical(id="start-box") as box:
            box.border_title = "choose a deck · esc to cancel"
            with Horizontal(classes="start-row"):
                yield Label("mode")
                yield Select([("practice: untimed, hints", "practice"),
                              ("mock interview: timed, report", "mock"),
                              ("review: spaced repetition", "review")],
                             value=self.current.mode, allow_blank=False, id="mode")
            with Horizontal(classes="start-row"):
                yield Label("source")
                yield Select(sources, prompt="all sources",
                             value=self.current.source or Select.NULL, id="source")
            with Horizontal(classes="start-row"):
                yield Label("topic")
                yield Select([(f"{t} ({n})", t) for t, n in sorted(topics.items())],
                             prompt="all topics", value=self.current.topic or Select.NULL,
                             id="topic")
            with Horizontal(classes="start-row"):
                yield Label("questions")
                yield Input(str(self.current.count or ""), type="integer",
                            placeholder="all (mock: 5)", id="count")
            with Horizontal(id="start-buttons"):
                yield Button("Start", variant="primary", id="start")
                yield Button("Cancel", id="cancel")
        yield Footer()  # this screen's keys, not the practice screen's below it

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "start":
            self.action_start()
        else:
            self.action_cancel()

    def on_input_submitted(self) -> None:
        self.action_start()

    def action_start(self) -> None:
        def val(sel_id: str) -> str | None:
            v = self.query_one(f"#{sel_id}", Select).value
            return v if isinstance(v, str) else None

        raw = self.query_one("#count", Input).value.strip()
        if raw and (not raw.lstrip("-").isdigit() or int(raw) < 1):
            self.notify("The number of questions is 1 or more (empty: all).", severity="warning")
            self.query_one("#count", Input).focus()
            return
        count = int(raw) if raw else None
        mode = val("mode") or "practice"
        self.dismiss(SessionConfig(mode=mode, source=val("source"), topic=val("topic"),  # type: ignore[arg-type]
                                   count=count))

    def action_cancel(self) -> None:
        self.dismiss(None)
