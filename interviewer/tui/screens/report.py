"""The mock interview report: scores, time per answer, weakest topics, what to review."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from interviewer.tui.widgets.feedback import bullets
from interviewer.tui.widgets.timer import fmt_seconds
from interviewer.wording import clip, plural

if TYPE_CHECKING:
    from interviewer.tui.screens.practice import MockItem


class ReportRow(BaseModel):
    question_id: str
    question: str
    score: float | None
    band: str | None
    seconds: float
    status: str = "graded"


class MockReport(BaseModel):
    rows: list[ReportRow]
    average: float | None
    total_seconds: float
    weakest_topics: list[tuple[str, float]] = Field(default_factory=list)
    review: list[tuple[str, str]] = Field(default_factory=list, description="(question id, point)")


def build_report(items: Sequence[MockItem]) -> MockReport:
    rows: list[ReportRow] = []
    topic_scores: dict[str, list[float]] = {}
    for it in items:
        status = "skipped" if it.skipped else ("error" if it.error else "graded")
        rows.append(ReportRow(question_id=it.question.id, question=it.question.question,
                              score=it.score, band=it.band, seconds=it.seconds, status=status))
        if it.score is not None:
            for t in it.question.topics:
                topic_scores.setdefault(t, []).append(it.score)
    scores = [r.score for r in rows if r.score is not None]
    weakest = sorted(((t, sum(v) / len(v)) for t, v in topic_scores.items()), key=lambda x: x[1])
    review: list[tuple[str, str]] = []
    for it in sorted(items, key=lambda i: (i.score if i.score is not None else -1)):
        if it.skipped:
            review.append((it.question.id, "skipped: " + clip(it.question.question, 80)))
        for p in it.missed[:2]:
            review.append((it.question.id, p))
    return MockReport(
        rows=rows,
        average=round(sum(scores) / len(scores), 2) if scores else None,
        total_seconds=sum(r.seconds for r in rows),
        weakest_topics=[(t, round(s, 2)) for t, s in weakest[:3]],
        review=review[:6],
    )


class ReportScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q", "dismiss", "Close"), Binding("ctrl+o", "new_deck", "New deck")]

    def __init__(self, report: MockReport) -> None:
        super().__init__()
        self.report = report

    def compose(self) -> ComposeResult:
        r = self.report
        head = Text("Mock interview report\n", style="bold")
        head.append(f"{plural(len(r.rows), 'question')} · average ")
        head.append(f"{r.average:.1f}/10" if r.average is not None else "—", style="bold")
        head.append(f" · total time {fmt_seconds(r.total_seconds)}")
        table = Table(expand=True)
        table.add_column("#", justify="right")
        table.add_column("question")
        table.add_column("score", justify="right")
        table.add_column("band")
        table.add_column("time", justify="right")
        for i, row in enumerate(r.rows, 1):
            score = f"{row.score:.1f}" if row.score is not None else "—"
            table.add_row(str(i), f"{row.question_id} {clip(row.question, 48)}", score,
                          row.band or row.status, fmt_seconds(row.seconds))
        weak = Text("weakest topics: ", style="bold")
        weak.append(", ".join(f"{t} ({s:.1f})" for t, s in r.weakest_topics) or "—")
        review = bullets("what to review", "bold", [
            Text(f"{qid}: ", style="cyan").append(clip(point, 110), style="default")
            for qid, point in r.review
        ])
        with VerticalScroll(id="report-box") as box:
            box.border_title = "report · esc to close · ctrl+o new deck"
            yield Static(head)
            yield Static(table)
            yield Static(weak)
            yield Static(review)
        yield Footer()  # this screen's keys, not the practice screen's below it

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)

    def action_new_deck(self) -> None:
        """A modal screen keeps the app's keys from the screen below: ctrl+o is bound here."""
        app = self.app
        self.dismiss(None)
        app.call_later(app.action_deck)  # type: ignore[attr-defined]
