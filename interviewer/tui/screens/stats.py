"""Stats: attempts, average by topic, weakest questions and the trend of your scores."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Sparkline, Static

from interviewer.history import Stats
from interviewer.wording import clip


def stats_tables(stats: Stats) -> tuple[Text, Table, Table]:
    """The same figures for the screen and for `interviewer stats`."""
    avg = f"{stats.average:.1f}/10" if stats.average is not None else "—"
    head = Text()
    head.append(f"{stats.attempts}", style="bold")
    head.append(" attempt · " if stats.attempts == 1 else " attempts · ")
    head.append(f"{stats.graded}", style="bold")
    head.append(" graded · average ")
    head.append(avg, style="bold")
    head.append(" · ")
    head.append(f"{stats.due_now}", style="bold")
    head.append(" due for review")
    topics = Table(title="average by topic (weakest first)", title_justify="left", expand=True)
    topics.add_column("topic")
    topics.add_column("answers", justify="right")
    topics.add_column("average", justify="right")
    for t in stats.by_topic:
        topics.add_row(Text(t.topic), str(t.attempts), f"{t.average:.1f}")
    weak = Table(title="weakest questions", title_justify="left", expand=True)
    weak.add_column("id", no_wrap=True)
    weak.add_column("question")
    weak.add_column("n", justify="right")
    weak.add_column("avg", justify="right")
    for w in stats.weakest:
        weak.add_row(Text(w.question_id), Text(clip(w.question, 60)), str(w.attempts),
                     f"{w.average:.1f}")
    return head, topics, weak


class StatsScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f2,q", "dismiss", "Close")]

    def __init__(self, stats: Stats) -> None:
        super().__init__()
        self.stats = stats

    def compose(self) -> ComposeResult:
        head, topics, weak = stats_tables(self.stats)
        with VerticalScroll(id="stats-box") as box:
            box.border_title = "your stats · esc to close"
            yield Static(head)
            if self.stats.trend:
                yield Static(Text(f"trend of your last {min(len(self.stats.trend), 60)} scores",
                                  style="bold"))
                yield Sparkline(self.stats.trend[-60:], id="trend")
            else:
                yield Static(Text("No graded answers yet: answer a question to start a trend.",
                                  style="dim"))
            yield Static(topics)
            yield Static(weak)
        yield Footer()  # this screen's keys, not the practice screen's below it

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)
