"""Snapshots of the main screens at 80x24 and 120x40.

Deterministic by construction: a fixed question, a fixed grade (these test layout; the real
grader is exercised by test_tui_flows and test_tui_tmux, and a recalibration must not churn
the pictures), no clock text, no spinner (each snapshot waits until the app is idle), cursor
blink off.
Update with `pytest tests/test_tui_snapshots.py --snapshot-update` after checking the change.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import TextArea

from interviewer.bank.loader import load_bank
from interviewer.bank.models import Bank, Question
from interviewer.config import load_settings
from interviewer.grading.models import (
    Assessment,
    Band,
    ChatReply,
    FollowUpExchange,
    Grade,
    PointMatch,
    Reference,
)
from interviewer.history import GradeUpdate, History, NewAttempt
from interviewer.tui.app import InterviewerApp, SessionConfig
from interviewer.tui.screens.practice import MockItem, PracticeScreen
from interviewer.tui.screens.report import ReportScreen, build_report
from interviewer.tui.screens.stats import StatsScreen

SIZES = [(80, 24), (120, 40)]
ANSWER = (
    "Artificial neural networks are layers of connected neurons loosely inspired by the "
    "brain; deep learning uses networks with many hidden layers."
)


def fixed_question(bank: Bank) -> Question:
    q = bank.get("000-1") or bank.deck()[0]
    return q


class FixedBackend:
    """A grade that depends only on the question: the first three key points covered."""

    llm_status = (False, "LLM rubric off (--offline): grading offline only.")

    def __init__(self, bank: Bank) -> None:
        self.bank = bank

    def offline(self, req: Any) -> Grade:
        q = self.bank.get(req.question_id)
        assert q is not None
        points = req.key_points or q.key_points
        return Grade(
            score=5.8,
            band=Band.partial,
            covered=[PointMatch(point=p, span=req.answer[:60], similarity=0.71)
                     for p in points[:3]],
            missed=[PointMatch(point=p, similarity=0.2) for p in points[3:]],
            references=[Reference(id=f"{q.id}#0", question_id=q.id, source=q.source,
                                  text=q.reference)],
            follow_up=f"Can you explain this point: {points[3]}" if len(points) > 3 else None,
            calibration_version="snapshot",
        )

    def assess(self, req: Any, offline: Grade | None = None) -> Assessment:
        g = offline or self.offline(req)
        return Assessment.offline_only(g)

    def chat(self, req: Any, assessment: Assessment, message: str,
             follow_up: FollowUpExchange | None = None) -> ChatReply:
        return ChatReply(reply="")


def make_app(tmp_path: Path, config: SessionConfig | None = None,
             deck: list[Question] | None = None) -> InterviewerApp:
    bank = load_bank()
    settings = load_settings(offline=True)
    return InterviewerApp(
        settings, bank, config or SessionConfig(), deck=deck or [fixed_question(bank)],
        history=History(tmp_path / "h.sqlite3"),
        backend_factory=lambda s, b: FixedBackend(b),
        clock=lambda: 0.0,
    )


async def settle(pilot: Pilot[Any], cond: Callable[[], bool] = lambda: True) -> None:
    app = pilot.app
    assert isinstance(app, InterviewerApp)
    for _ in range(1800):
        screen = app.screen
        busy = isinstance(screen, PracticeScreen) and screen.status.busy
        if app.backend_shown and not busy and cond():
            break
        await pilot.pause(0.05)
    for editor in app.screen.query(TextArea):
        editor.cursor_blink = False
    await pilot.pause()
    # A loaded machine can be caught between a mount and the scroll that follows it
    # (call_after_refresh): wait until every scroll offset has stayed put for a few frames.
    stable, last = 0, None
    for _ in range(100):
        await pilot.wait_for_scheduled_animations()
        offsets = tuple((w.scroll_x, w.scroll_y, w.max_scroll_y)
                        for w in app.screen.query("*") if w.is_scrollable)
        stable = stable + 1 if offsets == last else 0
        if stable >= 3:
            break
        last = offsets
        await pilot.pause(0.05)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_question_screen(snap_compare: Any, tmp_path: Path,
                         size: tuple[int, int]) -> None:
    app = make_app(tmp_path)
    assert snap_compare(app, terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_feedback_screen(snap_compare: Any, tmp_path: Path,
                         size: tuple[int, int]) -> None:
    app = make_app(tmp_path)

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, PracticeScreen)
        screen.query_one("#answer", TextArea).insert(ANSWER)
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: screen.turn is not None
                     and screen.turn.stage in ("follow_up", "discuss"))
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_help_screen(snap_compare: Any, tmp_path: Path,
                     size: tuple[int, int]) -> None:
    app = make_app(tmp_path)

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("f1")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_stats_screen(snap_compare: Any, tmp_path: Path,
                      size: tuple[int, int]) -> None:
    app = make_app(tmp_path)
    bank = app.bank
    for i, (q, score) in enumerate(zip(bank.deck()[:6], [2.0, 4.5, 7.0, 8.5, 3.0, 6.0],
                                       strict=True)):
        aid = app.history.add_attempt(NewAttempt(
            question=q.question, answer="x", question_id=q.id, topics=q.topics,
            submitted_at=datetime(2026, 1, 1 + i, tzinfo=UTC)))
        app.history.record_grade(aid, GradeUpdate(score=score, band="good", grader="offline"))

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("f2")
        await pilot.pause()
        assert isinstance(app.screen, StatsScreen)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_mock_report_screen(snap_compare: Any, tmp_path: Path,
                            size: tuple[int, int]) -> None:
    app = make_app(tmp_path)
    qs = app.bank.deck()[:3]
    items = [
        MockItem(qs[0], 95.0, score=7.5, band="good", missed=[qs[0].key_points[-1]], done=True),
        MockItem(qs[1], 140.0, score=3.0, band="weak", missed=qs[1].key_points[:2], done=True),
        MockItem(qs[2], 12.0, score=0.0, skipped=True, done=True),
    ]

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        app.push_screen(ReportScreen(build_report(items)))
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_deck_chooser_screen(snap_compare: Any, tmp_path: Path) -> None:
    app = make_app(tmp_path)

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("ctrl+o")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
