"""Spaced repetition: when should a question come back? Pure maths, no I/O.

The scheduler is SM-2 (Wozniak, 1990) adapted to a 0-10 score:

* the score maps to SM-2's recall quality ``q = score / 2`` (0-5);
* a *lapse* (``q < 3``, i.e. score below 6) resets the repetition count and brings the
  question back after ``RELEARN_MINUTES`` (10 minutes: the same or the next session);
* a pass grows the interval: 1 day after the first pass, 6 days after the second, then
  ``previous interval x ease``; a score of 10 on top of that gets ``EASY_BONUS``;
* the ease starts at 2.5 and moves by SM-2's rule
  ``ease += 0.1 - (5 - q) * (0.08 + (5 - q) * 0.02)``, never below 1.3, so questions
  answered poorly come back more often even after they are passed.

A poor answer therefore comes back soon and a strong one later; the interval never shrinks on
a pass. Within a review session, a lapsed question comes back at the end of the deck
(`relearn_now`) rather than waiting for the next session. Intervals are in (fractional) days
so the history can store them as plain numbers.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from pydantic import BaseModel, Field

INITIAL_EASE = 2.5
MIN_EASE = 1.3
PASS_SCORE = 6.0
RELEARN_MINUTES = 10
FIRST_INTERVAL_DAYS = 1.0
SECOND_INTERVAL_DAYS = 6.0
EASY_BONUS = 1.3
MAX_INTERVAL_DAYS = 365.0
# At the end of a review session, lapsed questions due within this many minutes are asked again
# (as Anki's "learn ahead" does), at most MAX_RELEARN_ASKS times each per session.
LEARN_AHEAD_MINUTES = 20
MAX_RELEARN_ASKS = 2


class ReviewState(BaseModel):
    """Where one question stands in the review schedule."""

    question_id: str
    ease: float = INITIAL_EASE
    interval_days: float = 0.0
    repetitions: int = Field(default=0, description="passes in a row since the last lapse")
    lapses: int = 0
    due_at: datetime | None = Field(default=None, description="None: never reviewed, due now")
    last_score: float | None = None
    last_reviewed_at: datetime | None = None

    def is_due(self, now: datetime) -> bool:
        return self.due_at is None or self.due_at <= now


def quality(score: float) -> float:
    """SM-2 recall quality (0-5) from a 0-10 score."""
    return max(0.0, min(5.0, score / 2.0))


def next_ease(ease: float, score: float) -> float:
    q = quality(score)
    return max(MIN_EASE, ease + 0.1 - (5 - q) * (0.08 + (5 - q) * 0.02))


def review(state: ReviewState, score: float, now: datetime) -> ReviewState:
    """The state after answering with `score` at `now`."""
    ease = next_ease(state.ease, score)
    if score < PASS_SCORE:
        reps = 0
        lapses = state.lapses + (1 if state.last_reviewed_at is not None else 0)
        interval = RELEARN_MINUTES / (24 * 60)
    else:
        reps = state.repetitions + 1
        lapses = state.lapses
        if reps == 1:
            interval = FIRST_INTERVAL_DAYS
        elif reps == 2:
            interval = SECOND_INTERVAL_DAYS
        else:
            interval = max(state.interval_days, FIRST_INTERVAL_DAYS) * ease
        if score >= 9.5:
            interval *= EASY_BONUS
        interval = min(interval, MAX_INTERVAL_DAYS)
    return ReviewState(
        question_id=state.question_id,
        ease=round(ease, 4),
        interval_days=interval,
        repetitions=reps,
        lapses=lapses,
        due_at=now + timedelta(days=interval),
        last_score=score,
        last_reviewed_at=now,
    )


def review_order(
    question_ids: Iterable[str],
    states: dict[str, ReviewState],
    now: datetime,
    include_new: bool = True,
) -> list[str]:
    """Questions to review now: overdue ones first (most overdue first), then never-seen ones
    in their given order. Questions not yet due are left out."""
    due: list[tuple[datetime, str]] = []
    new: list[str] = []
    for qid in question_ids:
        st = states.get(qid)
        if st is None or st.due_at is None:
            if include_new:
                new.append(qid)
        elif st.due_at <= now:
            due.append((st.due_at, qid))
    due.sort()
    return [qid for _, qid in due] + new


def next_due(states: Iterable[ReviewState]) -> datetime | None:
    """When the next question falls due (for 'nothing to review until ...')."""
    dates = [s.due_at for s in states if s.due_at is not None]
    return min(dates) if dates else None


def relearn_now(
    question_ids: Iterable[str],
    states: dict[str, ReviewState],
    now: datetime,
    asked: dict[str, int] | None = None,
) -> list[str]:
    """Lapsed questions to ask again before a review session ends: failed last time, due within
    LEARN_AHEAD_MINUTES, asked fewer than MAX_RELEARN_ASKS + 1 times; soonest due first."""
    horizon = now + timedelta(minutes=LEARN_AHEAD_MINUTES)
    asked = asked or {}
    out: list[tuple[datetime, str]] = []
    for qid in dict.fromkeys(question_ids):
        st = states.get(qid)
        if (
            st is not None
            and st.due_at is not None
            and st.last_score is not None
            and st.last_score < PASS_SCORE
            and st.due_at <= horizon
            and asked.get(qid, 0) <= MAX_RELEARN_ASKS
        ):
            out.append((st.due_at, qid))
    return [qid for _, qid in sorted(out)]
