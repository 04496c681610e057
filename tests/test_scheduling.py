"""The SM-2-style scheduler: poor answers come back soon, strong ones later, ease moves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from interviewer.scheduling import (
    INITIAL_EASE,
    MAX_RELEARN_ASKS,
    MIN_EASE,
    RELEARN_MINUTES,
    ReviewState,
    next_due,
    quality,
    relearn_now,
    review,
    review_order,
)

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def test_quality_maps_score_to_sm2_scale() -> None:
    assert quality(0) == 0 and quality(10) == 5 and quality(7) == 3.5
    assert quality(-3) == 0 and quality(14) == 5


def test_poor_answer_comes_back_within_minutes() -> None:
    s = review(ReviewState(question_id="q"), 2.0, NOW)
    assert s.repetitions == 0
    assert s.due_at == NOW + timedelta(minutes=RELEARN_MINUTES)
    assert s.ease < INITIAL_EASE


def test_strong_answer_comes_back_later_than_poor_one() -> None:
    poor = review(ReviewState(question_id="q"), 3.0, NOW)
    fair = review(ReviewState(question_id="q"), 6.5, NOW)
    strong = review(ReviewState(question_id="q"), 10.0, NOW)
    assert poor.due_at is not None and fair.due_at is not None and strong.due_at is not None
    assert poor.due_at < fair.due_at < strong.due_at


def test_intervals_grow_on_consecutive_passes() -> None:
    s = ReviewState(question_id="q")
    intervals = []
    t = NOW
    for _ in range(5):
        s = review(s, 8.0, t)
        intervals.append(s.interval_days)
        assert s.due_at is not None
        t = s.due_at
    assert intervals[0] == 1.0 and intervals[1] == 6.0
    assert all(b > a for a, b in zip(intervals, intervals[1:], strict=False))


def test_lapse_resets_repetitions_and_counts() -> None:
    s = ReviewState(question_id="q")
    s = review(s, 9.0, NOW)
    s = review(s, 9.0, NOW + timedelta(days=1))
    assert s.repetitions == 2
    s = review(s, 1.0, NOW + timedelta(days=7))
    assert s.repetitions == 0 and s.lapses == 1
    assert s.interval_days == pytest.approx(RELEARN_MINUTES / 1440)


def test_ease_never_below_minimum() -> None:
    s = ReviewState(question_id="q")
    for i in range(20):
        s = review(s, 0.0, NOW + timedelta(hours=i))
    assert s.ease == MIN_EASE


def test_review_order_overdue_first_then_new_and_skips_not_due() -> None:
    states = {
        "a": ReviewState(question_id="a", due_at=NOW - timedelta(days=1)),
        "b": ReviewState(question_id="b", due_at=NOW - timedelta(days=3)),
        "c": ReviewState(question_id="c", due_at=NOW + timedelta(days=2)),
    }
    assert review_order(["a", "b", "c", "d", "e"], states, NOW) == ["b", "a", "d", "e"]
    assert review_order(["a", "b", "c", "d"], states, NOW, include_new=False) == ["b", "a"]
    assert next_due(states.values()) == NOW - timedelta(days=3)


def test_relearn_now_brings_back_only_recent_lapses() -> None:
    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    lapsed = review(ReviewState(question_id="a"), 2.0, now)
    passed = review(ReviewState(question_id="b"), 8.0, now)
    old_lapse = ReviewState(question_id="c", last_score=1.0, due_at=now + timedelta(days=2))
    states = {"a": lapsed, "b": passed, "c": old_lapse}
    assert relearn_now(["a", "b", "c", "d"], states, now) == ["a"]
    # Asked too often already this session: the next session takes it.
    assert relearn_now(["a"], states, now, {"a": MAX_RELEARN_ASKS + 1}) == []
    assert relearn_now(["a"], states, now, {"a": MAX_RELEARN_ASKS}) == ["a"]
