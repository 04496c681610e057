"""Whole flows of the practice TUI, driven by Textual's Pilot, graded by the real grader."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import TextArea

from interviewer.assessor import Assessor
from interviewer.bank.loader import load_bank
from interviewer.bank.models import Bank, Question
from interviewer.config import Settings, load_settings
from interviewer.embedding import Embedder
from interviewer.grader import Grader
from interviewer.history import History, utcnow
from interviewer.scheduling import ReviewState
from interviewer.tui.app import InterviewerApp, SessionConfig, build_deck
from interviewer.tui.screens.practice import PracticeScreen, Turn
from interviewer.tui.screens.report import ReportScreen
from interviewer.tui.widgets.feedback import FeedbackCard
from interviewer.tui.widgets.messages import ErrorMessage, InterviewerMessage, SystemMessage
from interviewer.tui.widgets.timer import QuestionTimer

pytestmark = pytest.mark.slow


@pytest.fixture
def bank() -> Bank:
    return load_bank()


@pytest.fixture
def settings() -> Settings:
    return load_settings(offline=True)


@pytest.fixture
def history(tmp_path: Path) -> History:
    h = History(tmp_path / "history.sqlite3")
    yield h  # type: ignore[misc]
    h.close()


def real_factory(embedder: Embedder) -> Callable[[Settings, Bank], Assessor]:
    return lambda settings, bank: Assessor(settings, Grader(embedder, bank=bank))


def llm_app(monkeypatch: pytest.MonkeyPatch, url: str, key: str, timeout: float, bank: Bank,
            deck: list[Question], history: History, embedder: Embedder) -> InterviewerApp:
    """The app with the real grader and the LLM rubric at `url` (a test server, or a dead port),
    one try per call."""
    monkeypatch.setenv("OPENAI_API_KEY", key)
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    settings = load_settings(llm_model="fake-model", llm_timeout=timeout, llm_retries=0)
    return InterviewerApp(settings, bank, deck=deck, history=history,
                          backend_factory=real_factory(embedder))


def held_factory(
    embedder: Embedder, release: threading.Event
) -> Callable[[Settings, Bank], Assessor]:
    """The real grader, loaded only once `release` is set: a grader still loading."""

    def factory(s: Settings, b: Bank) -> Assessor:
        release.wait(30)
        return real_factory(embedder)(s, b)

    return factory


def no_grader(settings: Settings, bank: Bank) -> Assessor:
    """A grader that cannot load: for flows that never need a grade."""
    raise RuntimeError("x")


def rich_questions(bank: Bank, n: int) -> list[Question]:
    """Questions with several key points, so a one-point answer misses something."""
    qs = [q for q in bank.deck() if len(q.key_points) >= 3]
    assert len(qs) >= n
    return qs[:n]


async def wait_for(pilot: Pilot[Any], cond: Callable[[], bool], timeout: float = 90) -> None:
    loops = int(timeout / 0.05)
    for _ in range(loops):
        if cond():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not met in time")


async def long_transcript(pilot: Pilot[Any], app: InterviewerApp) -> Any:
    """Fill the transcript past one screen (the reference answer, four times) and return it."""
    from textual.containers import VerticalScroll

    for _ in range(4):
        await pilot.press("ctrl+r")
    await pilot.pause()
    return app.screen.query_one("#transcript", VerticalScroll)


async def open_chooser(pilot: Pilot[Any], app: InterviewerApp, timeout: float = 30) -> Any:
    """ctrl+o, then the deck chooser once it is on screen."""
    from interviewer.tui.screens.start import StartScreen

    await pilot.press("ctrl+o")
    await wait_for(pilot, lambda: isinstance(app.screen, StartScreen), timeout=timeout)
    return app.screen


async def new_practice(pilot: Pilot[Any], app: InterviewerApp, old: PracticeScreen,
                       timeout: float = 30) -> PracticeScreen:
    """The practice screen of the deck just chosen, once it has replaced `old`."""
    await wait_for(pilot, lambda: isinstance(app.screen, PracticeScreen)
                   and app.screen is not old, timeout=timeout)
    return practice(app)


def practice(app: InterviewerApp) -> PracticeScreen:
    screen = app.screen
    assert isinstance(screen, PracticeScreen)
    return screen


async def type_answer(pilot: Pilot[Any], text: str) -> None:
    editor = pilot.app.screen.query_one("#answer", TextArea)
    editor.focus()
    editor.insert(text)
    await pilot.pause()


def bare_rubric(overall: float = 6.0) -> dict[str, Any]:
    """A valid rubric reply with nothing in it but its scores: for flows about what is around it."""
    from interviewer.grading.rubric import CRITERIA

    return {"criteria": {c: {"score": overall, "reason": "ok"} for c in CRITERIA},
            "overall": overall, "missing_points": [], "misconceptions": [],
            "model_answer_outline": [], "citations": [], "follow_up": ""}


async def answer_until_follow_up(
    pilot: Pilot[Any], app: InterviewerApp, q: Question
) -> tuple[PracticeScreen, Turn]:
    """Answer `q` with its first key point and wait until the follow-up is asked."""
    screen = practice(app)
    await wait_for(pilot, lambda: app.backend_shown)
    await type_answer(pilot, q.key_points[0])
    await pilot.press("ctrl+s")
    await wait_for(pilot, lambda: screen.turn is not None and screen.turn.stage == "follow_up")
    assert screen.turn is not None
    return screen, screen.turn


def texts(screen: PracticeScreen, kind: type) -> list[str]:
    """What each message says, as plain text: a Text as is, a group with tables rendered
    unwrapped."""
    from rich.text import Text

    from interviewer.tui.widgets.feedback import plain

    def text_of(content: Any) -> str:
        if isinstance(content, str | Text):
            return str(content)
        return plain(content, width=10_000).removesuffix("\n")

    return [text_of(w.content) for w in screen.query(kind)]


async def test_answer_grade_feedback_follow_up_next(
    embedder: Embedder, bank: Bank, settings: Settings, history: History
) -> None:
    q1, q2 = rich_questions(bank, 2)
    app = InterviewerApp(settings, bank, SessionConfig(), deck=[q1, q2], history=history,
                         backend_factory=real_factory(embedder))
    async with app.run_test(size=(100, 40)) as pilot:
        screen = practice(app)
        assert q1.question in " ".join(texts(screen, InterviewerMessage))
        # Enter makes a new line inside the answer; it does not submit.
        await type_answer(pilot, q1.key_points[0])
        await pilot.press("enter")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: screen.turn is not None
                       and screen.turn.stage in ("follow_up", "discuss"))
        turn = screen.turn
        assert turn is not None and turn.grade is not None
        cards = list(screen.query(FeedbackCard))
        assert len(cards) == 1 and cards[0].grade == turn.grade
        row = history.attempts()[0]
        assert row["status"] == "graded" and row["answer"] == q1.key_points[0]
        assert row["score"] == turn.grade.score and row["offline_grade"]["band"] == turn.grade.band
        assert row["embedding_model"] and row["grader"] == "offline"
        # The one covered point leaves others missed: the interviewer follows up on the first.
        assert turn.grade.missed
        assert turn.stage == "follow_up" and turn.follow_point == turn.grade.follow_up_point
        assert turn.follow_point in [m.point for m in turn.grade.missed]
        assert turn.follow_point.rstrip(".;:") in " ".join(texts(screen, InterviewerMessage))
        editor = screen.query_one("#answer", TextArea)
        # where the answer is typed, in view at any size
        assert editor.placeholder == f"follow-up: {turn.follow_question}"
        await type_answer(pilot, "why does that matter?")  # a question: the follow-up stays open
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert turn.stage == "follow_up"
        assert editor.placeholder == f"follow-up: {turn.follow_question}"
        await type_answer(pilot, turn.follow_point)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: turn.stage == "discuss")
        follow = history.attempts()[1]
        assert follow["kind"] == "follow_up" and follow["parent_id"] == row["id"]
        graded_points = [p["point"] for p in follow["offline_grade"]["covered"]] + [
            p["point"] for p in follow["offline_grade"]["missed"]
        ]
        assert graded_points == [turn.follow_point]  # graded against that point only
        # Making the point is not restating the follow-up, though that quotes the point.
        assert follow["offline_grade"]["flags"] == [] and follow["score"] >= 7.0
        # Offline, a question about the feedback is answered with the reference passages.
        await type_answer(pilot, "why is that point important?")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert any("reference says" in t for t in texts(screen, InterviewerMessage))
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert screen.turn is not None and screen.turn.question.id == q2.id
        assert q2.question in " ".join(texts(screen, InterviewerMessage))
        assert editor.placeholder == f"Q2: {q2.question}"
        # the status line keeps the last score on the next question
        assert screen.status.message == f"last: Q1 scored {row['score']:.1f}/10 ({row['band']})"
        # the schedule learnt from the graded answer
        assert history.review_state(q1.id) is not None
        await pilot.press("ctrl+k")  # the last question skipped: the deck is over, and says so
        await pilot.pause()
        assert screen.finished and editor.border_title.startswith("deck finished")


async def test_submit_before_grader_ready_saves_then_grades(
    embedder: Embedder, bank: Bank, settings: Settings, history: History
) -> None:
    release = threading.Event()

    q = rich_questions(bank, 1)[0]
    app = InterviewerApp(settings, bank, deck=[q], history=history,
                         backend_factory=held_factory(embedder, release))
    async with app.run_test() as pilot:
        screen = practice(app)
        await type_answer(pilot, "It is about gradients.")
        await pilot.press("ctrl+s")
        await pilot.pause(0.2)
        rows = history.attempts()
        assert len(rows) == 1 and rows[0]["status"] == "pending"  # saved before grading
        assert screen.status.busy and "loading the grader" in screen.status.message
        assert "loading" in app.status_text()
        release.set()
        await wait_for(pilot, lambda: history.attempts()[0]["status"] == "graded")
        await wait_for(pilot, lambda: not screen.status.busy)
        assert "scored" in screen.status.message


async def test_answer_saved_when_grading_raises(
    bank: Bank, settings: Settings, history: History
) -> None:
    class BrokenGrader:
        def grade(self, req: Any) -> Any:
            raise RuntimeError("the grader fell over")

    q1, q2 = rich_questions(bank, 2)
    app = InterviewerApp(settings, bank, deck=[q1, q2], history=history,
                         backend_factory=lambda s, b: Assessor(s, BrokenGrader()))
    async with app.run_test() as pilot:
        screen = practice(app)
        await type_answer(pilot, "My carefully written answer.")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: bool(list(screen.query(ErrorMessage))))
        row = history.attempts()[0]
        assert row["answer"] == "My carefully written answer."
        assert row["status"] == "error" and "fell over" in row["error"]
        shown = " ".join(texts(screen, ErrorMessage))
        assert "Grading failed" in shown and "saved" in shown
        assert "grading failed" in str(screen.query_one("#answer").border_title)
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert screen.turn is not None and screen.turn.question.id == q2.id


async def test_hint_is_recorded_and_reference_shown(
    embedder: Embedder, bank: Bank, settings: Settings, history: History
) -> None:
    q = rich_questions(bank, 1)[0]
    app = InterviewerApp(settings, bank, deck=[q], history=history,
                         backend_factory=real_factory(embedder))
    async with app.run_test() as pilot:
        screen = practice(app)
        await pilot.press("ctrl+t")
        await pilot.press("ctrl+t")
        hints = [t for t in texts(screen, SystemMessage) if t.startswith("hint")]
        assert hints == [f"hint 1/{len(q.key_points)}: {q.key_points[0]}",
                         f"hint 2/{len(q.key_points)}: {q.key_points[1]}"]
        await pilot.press("ctrl+r")
        await type_answer(pilot, "An answer after two hints.")
        await pilot.press("ctrl+s")
        await pilot.pause(0.1)
        row = history.attempts()[0]
        assert row["hints_used"] == 2 and row["reference_shown"] is True


async def test_mock_interview_to_report(
    embedder: Embedder, bank: Bank, settings: Settings, history: History
) -> None:
    q1, q2, q3 = rich_questions(bank, 3)
    ticks = iter(range(0, 10_000, 7))  # every clock read advances 7 s
    app = InterviewerApp(settings, bank, SessionConfig(mode="mock"), deck=[q1, q2, q3],
                         history=history, backend_factory=real_factory(embedder),
                         clock=lambda: float(next(ticks)))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = practice(app)
        for key in ("ctrl+t", "ctrl+r"):  # no hints or reference in a mock interview...
            app.clear_notifications()
            await pilot.press(key)
            await pilot.pause()
            said = [n.message for n in app._notifications]  # ...and it says so
            assert len(said) == 1 and "No hints or reference answers" in said[0], key
        assert not [t for t in texts(screen, SystemMessage) if t.startswith("hint")]
        assert not [t for t in texts(screen, SystemMessage) if f", line {q1.line}" in t]
        await type_answer(pilot, q1.key_points[0])
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert screen.turn is not None and screen.turn.question.id == q2.id  # no waiting
        assert not list(screen.query(FeedbackCard))  # no feedback during the interview
        await type_answer(pilot, " ".join(q2.key_points))
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.press("ctrl+k")  # skip the third
        await wait_for(pilot, lambda: isinstance(app.screen, ReportScreen), timeout=120)
        report = app.screen.report  # type: ignore[attr-defined]
        assert [r.question_id for r in report.rows] == [q1.id, q2.id, q3.id]
        assert [r.status for r in report.rows] == ["graded", "graded", "skipped"]
        assert all(r.seconds > 0 for r in report.rows)
        s1, s2 = report.rows[0].score, report.rows[1].score
        assert s1 is not None and s2 is not None
        assert s2 > s1  # all key points beat one key point
        assert report.weakest_topics and report.review
        assert report.average == pytest.approx(round((s1 + s2 + 0.0) / 3, 2))
        graded = [r for r in history.attempts() if r["status"] == "graded"]
        assert len(graded) == 2 and all(r["mode"] == "mock" for r in graded)
        await pilot.press("escape")  # close the report: the clock no longer counts (or glows red)
        await pilot.pause()
        timer = screen.query_one(QuestionTimer)
        assert str(timer.render()) == "⏱ finished"


async def test_review_mode_asks_due_questions_first(
    embedder: Embedder, bank: Bank, settings: Settings, history: History
) -> None:
    qs = bank.deck(source="000")[:4]
    now = utcnow()
    history.save_review_state(ReviewState(question_id=qs[0].id, due_at=now - timedelta(days=1)))
    history.save_review_state(ReviewState(question_id=qs[1].id, due_at=now - timedelta(days=3)))
    history.save_review_state(ReviewState(question_id=qs[2].id, due_at=now + timedelta(days=3)))
    config = SessionConfig(mode="review", source="000", seed=3)
    deck, _ = build_deck(bank, config, history)
    ids = [q.id for q in deck]
    assert ids[:2] == [qs[1].id, qs[0].id] and qs[2].id not in ids
    app = InterviewerApp(settings, bank, config, history=history,
                         backend_factory=real_factory(embedder))
    async with app.run_test() as pilot:
        screen = practice(app)
        assert screen.turn is not None and screen.turn.question.id == qs[1].id
        await type_answer(pilot, "I don't know.")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: history.attempts()[0]["status"] == "graded")
        await wait_for(pilot, lambda: (history.review_state(qs[1].id) or
                                       ReviewState(question_id="x")).last_score is not None)
        state = history.review_state(qs[1].id)
        assert state is not None and state.due_at is not None
        assert state.due_at - utcnow() < timedelta(hours=1)  # a poor answer comes back soon
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert screen.turn is not None and screen.turn.question.id == qs[0].id


async def test_review_mode_asks_a_missed_question_again_before_the_end(
    embedder: Embedder, bank: Bank, settings: Settings, history: History
) -> None:
    q = rich_questions(bank, 1)[0]
    app = InterviewerApp(settings, bank, SessionConfig(mode="review"), deck=[q], history=history,
                         backend_factory=real_factory(embedder))
    async with app.run_test() as pilot:
        screen = practice(app)
        for attempt in range(1, 4):
            assert screen.turn is not None and screen.turn.question.id == q.id
            assert screen.asked[q.id] == attempt
            await type_answer(pilot, "I don't know.")
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda n=attempt: len(history.attempts()) >= n
                           and all(a["status"] == "graded" for a in history.attempts()))
            await wait_for(pilot, lambda n=attempt: (history.review_state(q.id) or ReviewState(
                question_id="x")).last_score is not None and len(screen.scores) >= n)
            await pilot.press("ctrl+n")
            await pilot.pause()
        # Asked once and twice again: then the session ends and the next one takes it.
        assert screen.finished
        assert any("once more" in t for t in texts(screen, SystemMessage))
    assert [a["question_id"] for a in history.attempts()] == [q.id] * 3


def test_review_deck_empty_says_when_next_due(bank: Bank, history: History) -> None:
    now = utcnow()
    for q in bank.deck(source="003"):
        history.save_review_state(ReviewState(question_id=q.id, due_at=now + timedelta(days=2)))
    deck, message = build_deck(bank, SessionConfig(mode="review", source="003"), history)
    assert deck == [] and message is not None and "next due" in message


def test_bank_cache_matches_parser_and_notices_new_documents(settings: Settings) -> None:
    from interviewer.bank.loader import bank_folders, load_bank_from

    def parsed() -> Bank:
        return load_bank_from(bank_folders(settings.user_corpus_dir))

    first = load_bank(settings)
    assert (settings.data_dir / "bank-cache.json").exists()
    assert load_bank(settings) == first == parsed()
    settings.user_corpus_dir.mkdir(parents=True, exist_ok=True)
    (settings.user_corpus_dir / "mine.md").write_text(
        "# My questions\n\n## 1. What is a tensor?\n\nA tensor is a multi-dimensional array "
        "of numbers. It generalises vectors and matrices to any number of axes.\n",
        encoding="utf-8",
    )
    assert load_bank(settings) == parsed() != first


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["practice", "--source", "zzz"], "unknown source 'zzz'"),
        (["practice", "--topic", "astrology"], "unknown topic 'astrology'"),
        (["practice", "--mode", "exam"], "unknown mode 'exam'"),
        (["practice", "--count", "0"], "--count must be at least 1"),
    ],
)
def test_practice_bad_options_fail_cleanly(args: list[str], message: str) -> None:
    from typer.testing import CliRunner

    from interviewer.cli import app

    out = CliRunner().invoke(app, args)
    assert out.exit_code == 2
    assert message in out.output and "Traceback" not in out.output


async def test_llm_rubric_follow_up_and_chat_with_citations(
    embedder: Embedder, bank: Bank, history: History, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """LLM on (a real HTTP server on 127.0.0.1): rubric card, its follow-up, a cited chat reply."""
    from llm_server import FakeLLMServer, chat_reply

    from interviewer.grading.rubric import CRITERIA

    key = "sk-test-TUI-0123456789"
    q = rich_questions(bank, 1)[0]
    quote = " ".join(q.key_points[0].split()[:6])
    rubric = {
        "criteria": {c: {"score": 6.0, "reason": f"{c}: partly"} for c in CRITERIA},
        "overall": 6.0,
        "missing_points": ["the LLM's missing point"],
        "misconceptions": [],
        "model_answer_outline": ["one", "two"],
        "citations": [{"passage": 1, "quote": quote}],
        "follow_up": f"LLM follow-up: can you say more about this: {q.key_points[2]}?",
    }
    chat = {"reply": "Because the reference says so, plainly.",
            "citations": [{"passage": 1, "quote": quote}]}
    later = {"reply": "Your follow-up answer was on point.",
             "citations": [{"passage": 99, "quote": quote}]}
    point = q.key_points[2]
    point_quote = " ".join(point.split()[:6])
    follow_rubric = {**rubric, "overall": 8.0, "missing_points": [],
                     "citations": [{"passage": 1, "quote": point_quote}],
                     "follow_up": "A third question nobody should ask?"}
    follow_answer = f"{point} That is the whole idea."
    with FakeLLMServer() as server:
        server.queue(chat_reply(rubric), chat_reply(chat), chat_reply(follow_rubric),
                     chat_reply(later))
        app = llm_app(monkeypatch, server.url, key, 10.0, bank, [q], history, embedder)
        async with app.run_test(size=(120, 50)) as pilot:
            screen = practice(app)
            await wait_for(pilot, lambda: app.backend_shown)
            assert app.llm_on and "LLM on" in app.status_text()
            await type_answer(pilot, q.key_points[0])
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: screen.turn is not None
                           and screen.turn.stage == "follow_up")
            from interviewer.tui.widgets.feedback import LlmCard, plain

            cards = list(screen.query(LlmCard))
            assert len(cards) == 1
            a = cards[0].assessment
            assert a.grader == "llm" and a.llm is not None and a.llm.model
            assert [c.quote for c in a.citations] == [quote]  # verified against the passage
            card_text = plain(cards[0].body)
            assert "verified citations" in card_text and quote in card_text
            assert "a strong answer would cover" in card_text and "• two" in card_text
            assert screen.turn is not None
            assert screen.turn.follow_question == (
                f"LLM follow-up: can you say more about this: {q.key_points[2]}?"
            )
            # The follow-up answer is graded against the point the LLM asked about.
            grade = screen.turn.grade
            assert grade is not None and q.key_points[2] in [m.point for m in grade.missed]
            assert screen.turn.follow_point == q.key_points[2]
            # a question to the interviewer during the follow-up goes to the LLM chat
            await type_answer(pilot, "why is that wrong?")
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: any("plainly" in t
                                              for t in texts(screen, InterviewerMessage)))
            reply = [t for t in texts(screen, InterviewerMessage) if "plainly" in t][0]
            assert quote in reply
            assert screen.turn.stage == "follow_up"  # the follow-up is still open
            sent = server.chat_requests()[1].messages[-1]["content"]
            assert "LLM follow-up: can you say more" in sent and "not answered it" in sent
            # The follow-up answer: graded offline at once, then by the LLM on that point alone.
            await type_answer(pilot, follow_answer)
            await pilot.press("ctrl+s")
            turn = screen.turn
            await wait_for(pilot, lambda: turn.follow_assessment is not None)
            fa = turn.follow_assessment
            assert fa is not None and fa.grader == "llm" and fa.llm is not None
            assert fa.llm.overall == 8.0 and [c.quote for c in fa.citations] == [point_quote]
            assert turn.follow_question == rubric["follow_up"]  # no third question asked
            assert not any("A third question" in t for t in texts(screen, InterviewerMessage))
            sent = server.chat_requests()[2].messages[-1]["content"]
            assert turn.follow_question in sent and q.question in sent
            assert "[1]" in sent and point in sent
            assert f"<<<ANSWER\n{follow_answer}\nANSWER>>>" in sent
            follow_cards = [c for c in screen.query(LlmCard) if "follow-up" in str(c.border_title)]
            assert len(follow_cards) == 1 and point_quote in plain(follow_cards[0].body)
            assert f"follow-up scored {fa.score:.1f}/10" in str(screen.status.render())
            assert screen.turn.stage == "discuss"
            # after the follow-up is answered, the chat knows the answer and its final grade
            await type_answer(pilot, "was my follow-up right?")
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: any("on point" in t
                                              for t in texts(screen, InterviewerMessage)))
            sent = server.chat_requests()[3].messages[-1]["content"]
            assert f"<<<ANSWER\n{follow_answer}\nANSWER>>>" in sent
            assert f"Graded {fa.score:.1f}/10" in sent and "against that point" in sent
            reply = [t for t in texts(screen, InterviewerMessage) if "on point" in t][0]
            assert "1 citation from the LLM did not match" in reply and "[99]" not in reply
        assert len(server.chat_requests()) == 4
    main_row, follow_row = sorted(history.attempts(), key=lambda r: r["id"])
    assert follow_row["kind"] == "follow_up" and follow_row["grader"] == "llm"
    assert follow_row["llm_grade"]["overall"] == 8.0 and follow_row["prompt_version"]
    row = main_row
    assert row["grader"] == "llm" and row["llm_grade"]["overall"] == 6.0
    assert row["llm_model"] and row["prompt_version"]
    raw = (tmp_path / "history.sqlite3").read_bytes()
    wal = tmp_path / "history.sqlite3-wal"
    raw += wal.read_bytes() if wal.exists() else b""
    assert key.encode() not in raw


async def test_a_follow_up_the_llm_fails_to_grade_keeps_its_offline_grade(
    embedder: Embedder, bank: Bank, history: History, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The LLM grades the main answer, then answers 500 for the follow-up: the follow-up's
    offline grade stands, the card says why, and the history keeps grade and notice."""
    from llm_server import FakeLLMServer, chat_reply, error_reply

    from interviewer.tui.widgets.feedback import LlmCard, plain

    q = rich_questions(bank, 1)[0]
    rubric = bare_rubric()
    with FakeLLMServer() as server:
        server.queue(chat_reply(rubric), error_reply(500, "the model fell over"))
        app = llm_app(monkeypatch, server.url, "sk-test-follow", 10.0, bank, [q], history,
                      embedder)
        async with app.run_test(size=(100, 40)) as pilot:
            screen, turn = await answer_until_follow_up(pilot, app, q)
            await type_answer(pilot, f"{turn.follow_point} That is why it matters.")
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: turn.follow_assessment is not None)
            fa = turn.follow_assessment
            assert fa is not None and fa.grader == "offline" and fa.llm is None
            assert turn.follow_grade is not None and fa.score == turn.follow_grade.score
            cards = [c for c in screen.query(LlmCard) if "follow-up" in str(c.border_title)]
            assert len(cards) == 1 and "LLM rubric unavailable" in plain(cards[0].body)
            assert f"follow-up scored {fa.score:.1f}/10" in str(screen.status.render())
    follow = [r for r in history.attempts() if r["kind"] == "follow_up"]
    assert len(follow) == 1 and follow[0]["grader"] == "offline"
    assert follow[0]["score"] == fa.score and "LLM rubric unavailable" in follow[0]["notice"]


async def test_a_question_while_the_follow_up_is_with_the_llm_stays_coherent(
    embedder: Embedder, bank: Bank, history: History, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The follow-up's LLM grade is slow; a question about the feedback overtakes it: the chat
    is told the grade is provisional, the status keeps the pending grade after the reply, the
    late verdict goes under the offline card it belongs to, and the history row says the LLM
    had not answered until it does."""
    from llm_server import FakeLLMServer, chat_reply

    from interviewer.tui.screens.practice import LLM_PENDING_NOTICE
    from interviewer.tui.widgets.feedback import FeedbackCard, LlmCard

    q = rich_questions(bank, 1)[0]
    rubric = bare_rubric()
    with FakeLLMServer() as server:
        server.queue(chat_reply(rubric), chat_reply({**rubric, "overall": 8.0}, delay=4.0),
                     chat_reply({"reply": "Because of the reference.", "citations": []}))
        app = llm_app(monkeypatch, server.url, "sk-test-race", 20.0, bank, [q], history,
                      embedder)
        async with app.run_test(size=(100, 40)) as pilot:
            screen, turn = await answer_until_follow_up(pilot, app, q)
            await type_answer(pilot, f"{turn.follow_point} That is the idea.")
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: turn.stage == "discuss" and turn.follow_llm_pending
                           and len(server.chat_requests()) == 2)
            follow = [r for r in history.attempts() if r["kind"] == "follow_up"]
            assert follow[0]["notice"] == LLM_PENDING_NOTICE  # what a quit now would leave
            assert follow[0]["started_at"] and follow[0]["embedding_model"]
            await type_answer(pilot, "why is that wrong?")
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: any("Because of the reference" in t
                                              for t in texts(screen, InterviewerMessage)))
            sent = server.chat_requests()[2].messages[-1]["content"]
            assert "the LLM rubric's grade is not in yet" in sent
            status = str(screen.status.render())
            assert "offline · asking the LLM" in status, status
            await wait_for(pilot, lambda: turn.follow_assessment is not None, timeout=30)
            final = turn.follow_assessment
            assert final is not None and final.grader == "llm"
            kids = list(screen.query_one("#transcript").children)
            offline_card = next(k for k in kids if isinstance(k, FeedbackCard)
                                and k.border_title == "follow-up feedback")
            llm_card = next(k for k in kids if isinstance(k, LlmCard)
                            and "follow-up" in str(k.border_title))
            assert kids.index(llm_card) == kids.index(offline_card) + 1
            assert f"follow-up scored {final.score:.1f}/10" in str(screen.status.render())
    follow = [r for r in history.attempts() if r["kind"] == "follow_up"]
    assert follow[0]["grader"] == "llm" and follow[0]["notice"] != LLM_PENDING_NOTICE


def test_an_llm_follow_up_names_its_point_by_two_words_or_a_telling_one() -> None:
    from interviewer.grading.models import Band, Grade, PointMatch
    from interviewer.tui.screens.practice import asked_point

    a = "Batch normalization allows faster training with higher learning rates."
    b = "Training deep networks suffers from internal covariate shift."
    c = "It also acts as a mild regularizer."
    grade = Grade(score=4.0, band=Band.weak, covered=[PointMatch(point=b)],
                  missed=[PointMatch(point=a), PointMatch(point=c)], follow_up_point=c)
    # 'training' is in two key points: it names neither.
    assert asked_point("Why does that matter for training stability?", grade) is None
    assert asked_point("Why does it allow higher learning rates?", grade) == a
    assert asked_point("In what sense is it a regularizer?", grade) == c


async def test_cursor_keys_edit_a_long_answer(bank: Bank, settings: Settings,
                                             history: History) -> None:
    """Up/Down/Home/End move the cursor in an answer taller than the editor (they must not
    scroll the editor's view instead), and a printable key types."""
    q = rich_questions(bank, 1)[0]
    app = InterviewerApp(settings, bank, deck=[q], history=history,
                         backend_factory=no_grader)
    async with app.run_test(size=(80, 24)) as pilot:
        editor = app.screen.query_one("#answer", TextArea)
        await type_answer(pilot, "\n".join(f"line {i}" for i in range(20)))
        await pilot.press("up", "up", "up", "home", "X", "end", "Y", "down", "end", "Z")
        await pilot.pause()
        lines = editor.text.split("\n")
        assert lines[16] == "Xline 16Y" and lines[17] == "line 17Z"
        await pilot.press("backspace", "left", "delete")
        await pilot.pause()
        assert editor.text.split("\n")[17] == "line 1"


async def test_transcript_scrolls_from_the_editor(bank: Bank, settings: Settings,
                                                  history: History) -> None:
    from textual.containers import VerticalScroll

    q = rich_questions(bank, 1)[0]
    app = InterviewerApp(settings, bank, deck=[q], history=history,
                         backend_factory=no_grader)
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(6):  # fill the transcript with hints and the reference
            await pilot.press("ctrl+r")
        transcript = app.screen.query_one("#transcript", VerticalScroll)
        await pilot.pause()
        bottom = transcript.scroll_y
        assert bottom > 0
        await pilot.press("ctrl+up")
        await pilot.pause()
        assert transcript.scroll_y < bottom
        await pilot.press("ctrl+down")
        await pilot.pause()
        assert transcript.scroll_y == bottom
        assert app.screen.query_one("#answer").has_focus


async def test_shrinking_the_terminal_keeps_the_latest_message_in_view(
        bank: Bank, settings: Settings, history: History) -> None:
    app = InterviewerApp(settings, bank, deck=rich_questions(bank, 1), history=history,
                         backend_factory=no_grader)
    async with app.run_test(size=(120, 40)) as pilot:
        transcript = await long_transcript(pilot, app)
        last = list(transcript.children)[-1]
        for size in ((80, 24), (60, 20), (120, 40)):
            await pilot.resize_terminal(*size)
            await pilot.pause()
            await pilot.pause()
            top = transcript.scroll_y
            # The newest message is on screen, its start first (a long one is read from the top).
            assert top <= last.virtual_region.y <= top + transcript.scrollable_content_region.height
            assert last.virtual_region.bottom >= top or transcript.max_scroll_y == 0


async def test_resizing_while_reading_back_does_not_jump_to_the_end(
        bank: Bank, settings: Settings, history: History) -> None:
    app = InterviewerApp(settings, bank, deck=rich_questions(bank, 1), history=history,
                         backend_factory=no_grader)
    async with app.run_test(size=(80, 24)) as pilot:
        transcript = await long_transcript(pilot, app)
        await pilot.press("ctrl+up", "ctrl+up")
        await pilot.pause()
        assert transcript.scroll_y < transcript.max_scroll_y
        await pilot.resize_terminal(100, 30)
        await pilot.pause()
        await pilot.pause()
        assert transcript.scroll_y < transcript.max_scroll_y  # still reading back
        for _ in range(6):  # read down to the end: a resize keeps the end in view
            await pilot.press("ctrl+down")
        await pilot.pause()
        assert transcript.scroll_y == transcript.max_scroll_y
        await pilot.resize_terminal(70, 22)
        await pilot.pause()
        await pilot.pause()
        assert transcript.scroll_y == transcript.max_scroll_y
        await pilot.press("ctrl+r")  # something new is said: follow it again
        await pilot.pause()
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        await pilot.pause()
        last = list(transcript.children)[-1]
        top = transcript.scroll_y
        assert top <= last.virtual_region.y <= top + transcript.scrollable_content_region.height


async def test_grader_that_cannot_load_keeps_answers(bank: Bank, settings: Settings,
                                                     history: History) -> None:
    def broken(s: Settings, b: Bank) -> Assessor:
        raise OSError("model files missing")

    q = rich_questions(bank, 1)[0]
    app = InterviewerApp(settings, bank, deck=[q], history=history, backend_factory=broken)
    async with app.run_test() as pilot:
        screen = practice(app)
        await wait_for(pilot, lambda: app.backend_shown)
        assert "unavailable" in app.status_text()
        assert any("model files missing" in t for t in texts(screen, ErrorMessage))
        await type_answer(pilot, "Still worth keeping.")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: history.attempts()[0]["status"] == "error")
        assert history.attempts()[0]["answer"] == "Still worth keeping."


async def test_answers_left_ungraded_by_an_earlier_session_are_graded(
    embedder: Embedder, bank: Bank, settings: Settings, history: History
) -> None:
    from interviewer.history import NewAttempt

    q1, q2 = rich_questions(bank, 2)
    killed = history.add_attempt(NewAttempt(question=q1.question, answer=q1.key_points[0],
                                            question_id=q1.id, session_id="old"))
    failed = history.add_attempt(NewAttempt(question=q1.question, answer="gradients vanish",
                                            question_id=q1.id, session_id="old"))
    history.record_error(failed, "RuntimeError: the grader fell over")
    skipped = history.add_attempt(NewAttempt(question=q1.question, answer="", question_id=q1.id,
                                             session_id="old", status="skipped"))
    point = q1.key_points[1]
    follow = history.add_attempt(NewAttempt(
        question=f"Your answer didn't develop this point: “{point}” Can you explain it?",
        answer=point, question_id=q1.id, session_id="old",
        kind="follow_up", parent_id=killed, follow_point=point,
    ))
    app = InterviewerApp(settings, bank, deck=[q2], history=history,
                         backend_factory=real_factory(embedder))
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: app.regraded == 3)
    rows = {r["id"]: r for r in history.attempts()}
    for aid in (killed, failed, follow):
        assert rows[aid]["status"] == "graded" and rows[aid]["score"] is not None
        assert rows[aid]["error"] is None
    assert rows[skipped]["status"] == "skipped"
    # The main answers move the question in the review schedule, the latest one last.
    state = history.review_state(q1.id)
    assert state is not None and state.last_score == rows[failed]["score"]
    assert state.last_reviewed_at == datetime.fromisoformat(rows[failed]["submitted_at"])
    # The follow-up is graded against its own point, as it would have been at the time.
    fg = rows[follow]["offline_grade"]
    assert [m["point"] for m in fg["covered"] + fg["missed"]] == [point]
    assert fg["flags"] == [] and rows[follow]["score"] >= 7.0  # making it is not parroting


async def test_end_of_deck_says_so_and_skips_are_recorded(bank: Bank, settings: Settings,
                                                          history: History) -> None:
    q = rich_questions(bank, 1)[0]
    app = InterviewerApp(settings, bank, deck=[q], history=history,
                         backend_factory=no_grader)
    async with app.run_test() as pilot:
        screen = practice(app)
        await pilot.press("ctrl+k")
        await pilot.pause()
        assert screen.finished
        assert any("last question" in t for t in texts(screen, SystemMessage))
    row = history.attempts()[0]
    assert row["status"] == "skipped" and row["answer"] == "" and row["question_id"] == q.id


def test_the_point_an_llm_follow_up_asks_about_needs_a_real_shared_word() -> None:
    from interviewer.grading.models import Band, Grade, PointMatch
    from interviewer.tui.screens.practice import point_asked_about

    pivot = "The pivot choice decides the recursion depth."
    space = "Quicksort sorts in place with O(log n) extra stack space."
    grade = Grade(score=4.0, band=Band.weak, missed=[PointMatch(point=pivot), PointMatch(point=space)],
                  follow_up_point=pivot)
    # Shares only "the"/"what"/"does" with the pivot point, "extra" with the space point.
    asked = "How much extra memory does it need, and what is the worst case?"
    assert point_asked_about(asked, grade) == space
    # Nothing in common: the offline choice stands.
    assert point_asked_about("Can you say more about that?", grade) == pivot
    # The offline chat picks the point asked about the same way: function words don't count.
    from interviewer.tui.screens.practice import most_shared

    assert most_shared("why is that the answer?", [pivot, space]) is None
    assert most_shared("why does the pivot matter?", [space, pivot]) == pivot


async def test_moving_on_before_the_grade_loses_neither_text_nor_grade(
    embedder: Embedder, bank: Bank, settings: Settings, history: History
) -> None:
    """Unsent text is never dropped without a warning; a grade that arrives after the user moved
    on is said (not lost), and the old question's status does not stick to the new one."""
    release = threading.Event()

    q1, q2, q3 = rich_questions(bank, 3)
    app = InterviewerApp(settings, bank, deck=[q1, q2, q3], history=history,
                         backend_factory=held_factory(embedder, release))
    async with app.run_test(size=(100, 40)) as pilot:
        screen = practice(app)
        await type_answer(pilot, q1.key_points[0])
        await pilot.press("ctrl+s")
        await pilot.pause(0.2)
        await type_answer(pilot, "a note typed while grading")
        await pilot.press("ctrl+n")  # unsent text: warned, nothing moves
        await pilot.pause()
        assert screen.turn is not None and screen.turn.question.id == q1.id
        assert screen.query_one("#answer", TextArea).text == "a note typed while grading"
        await pilot.press("ctrl+n")  # again: discarded on purpose
        await pilot.pause()
        assert screen.turn is not None and screen.turn.question.id == q2.id
        assert "loading the grader" not in screen.status.message  # not Q1's status
        release.set()
        await wait_for(pilot, lambda: any(w.border_title == "late grade"
                                          for w in screen.query(SystemMessage)))
        late = " ".join(texts(screen, SystemMessage))
        assert f"Q1 ({q1.id}), which you moved on from, scored" in late
        assert screen.turn.question.id == q2.id and screen.turn.stage == "answer"
        assert not screen.status.busy
        # ctrl+k with a typed answer warns too, then skips.
        await type_answer(pilot, "half an answer")
        await pilot.press("ctrl+k")
        await pilot.pause()
        assert screen.turn.question.id == q2.id
        await pilot.press("ctrl+k")
        await pilot.pause()
        assert screen.turn.question.id == q3.id


async def test_tab_types_into_the_answer(bank: Bank, settings: Settings, history: History) -> None:
    q = rich_questions(bank, 1)[0]
    app = InterviewerApp(settings, bank, deck=[q], history=history,
                         backend_factory=no_grader)
    async with app.run_test() as pilot:
        screen = practice(app)
        editor = screen.query_one("#answer", TextArea)
        await pilot.press("a", "tab", "b")
        assert editor.has_focus and editor.text.startswith("a") and editor.text.endswith("b")
        assert len(editor.text) > 2  # the tab went into the answer, not to another widget


async def test_the_llm_switching_itself_off_is_said_with_its_reason(
    embedder: Embedder, bank: Bank, history: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on: every call is "cannot reach"
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    qs = rich_questions(bank, 4)
    app = llm_app(monkeypatch, f"http://127.0.0.1:{port}/v1", "sk-test-switch-off", 2.0, bank, qs,
                  history, embedder)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = practice(app)
        await wait_for(pilot, lambda: app.backend is not None)
        assert app.llm_on
        for q in qs[:3]:
            await type_answer(pilot, q.key_points[0])
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: screen.turn is not None
                           and screen.turn.stage in ("follow_up", "discuss"))
            await pilot.press("ctrl+n")
            await pilot.pause()
        off = [t for w, t in zip(screen.query(SystemMessage), texts(screen, SystemMessage),
                                 strict=True) if w.border_title == "LLM off"]
        assert len(off) == 1 and "cannot reach the LLM endpoint" in off[0]
        assert not app.llm_on and "LLM off" in app.status_text()
    # the history says the LLM failed, not just "offline"
    first = history.attempts()[0]
    assert first["grader"] == "offline" and "cannot reach the LLM endpoint" in first["notice"]


async def test_a_slow_llm_rubric_says_how_long_it_has_waited_and_how_to_move_on(
    embedder: Embedder, bank: Bank, history: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llm_server import FakeLLMServer, chat_reply

    q = rich_questions(bank, 1)[0]
    rubric = bare_rubric()
    with FakeLLMServer() as server:
        server.queue(chat_reply(rubric, delay=3.0))
        app = llm_app(monkeypatch, server.url, "sk-test-slow", 12.0, bank, [q], history, embedder)
        async with app.run_test(size=(100, 40)) as pilot:
            screen = practice(app)
            await wait_for(pilot, lambda: app.backend_shown)
            await type_answer(pilot, " ".join(q.key_points))
            await pilot.press("ctrl+s")
            status = screen.status

            def shown() -> str:
                return str(status.render())

            await wait_for(pilot, lambda: "asking the LLM rubric" in shown())
            assert "up to 12 s a try, 1 try" in shown() and "ctrl+n moves on" in shown()
            await pilot.pause(1.3)
            assert re.search(r"rubric… [1-9]\d* s", shown()), shown()  # it counts
            # The offline grade is in the review schedule already (quitting now loses nothing).
            assert screen.turn is not None and screen.turn.grade is not None
            early = history.review_state(q.id)
            assert early is not None and early.last_score == screen.turn.grade.score
            app.clear_notifications()
            await type_answer(pilot, "typed while waiting")
            await pilot.press("ctrl+s")
            await pilot.pause()
            said = [n.message for n in app._notifications]
            assert said and "still grading" in said[0] and "ctrl+n moves on" in said[0]
            # (the worker sets the assessment; the UI thread then redraws the status)
            await wait_for(pilot, lambda: screen.turn is not None
                           and screen.turn.assessment is not None
                           and "asking the LLM rubric" not in shown(), timeout=30)
            # ...and the final (blended) score replaces it: one review, not two.
            final = history.review_state(q.id)
            assert final is not None and final.last_score == screen.turn.assessment.score
            from interviewer.scheduling import review

            once = review(ReviewState(question_id=q.id), final.last_score, utcnow())
            assert (final.ease, final.interval_days, final.repetitions, final.lapses) == (
                once.ease, once.interval_days, once.repetitions, once.lapses)
            # the deck's average is of the scores shown (blended), not the offline ones
            blended = screen.turn.assessment.score
            assert blended != screen.turn.grade.score
            screen.query_one("#answer", TextArea).clear()  # the text typed while waiting
            await pilot.press("ctrl+n")  # past the follow-up, if any: the deck's end
            await pilot.pause()
            done = [t for t in texts(screen, SystemMessage) if "last question" in t]
            assert done and f"1 graded, average {blended:.1f}/10" in done[0]


async def test_a_new_deck_while_grading_drops_the_old_screen_quietly(
    embedder: Embedder, bank: Bank, settings: Settings, history: History
) -> None:
    """ctrl+o warns about unsent text like ctrl+n; a grade of the replaced deck reaches the
    history without an error on the new screen."""
    from textual.widgets import Button

    from interviewer.tui.screens.start import StartScreen

    release = threading.Event()

    q1, q2 = rich_questions(bank, 2)
    app = InterviewerApp(settings, bank, deck=[q1, q2], history=history,
                         backend_factory=held_factory(embedder, release))
    async with app.run_test(size=(100, 40)) as pilot:
        old = practice(app)
        await type_answer(pilot, q1.key_points[0])
        await pilot.press("ctrl+s")
        await pilot.pause(0.2)
        await type_answer(pilot, "a draft")
        await pilot.press("ctrl+o")  # unsent text: warned, no chooser yet
        await pilot.pause()
        assert not isinstance(app.screen, StartScreen)
        (await open_chooser(pilot, app)).query_one("#start", Button).press()
        new = await new_practice(pilot, app, old)
        release.set()
        await wait_for(pilot, lambda: history.attempts()[0]["status"] == "graded")
        await pilot.pause(0.3)
        assert not list(new.query(ErrorMessage))
        assert app.return_value is None and app.is_running  # no exception took the app down


async def test_a_worker_reporting_to_a_screen_being_replaced_is_not_failed_by_it(
    bank: Bank, settings: Settings, history: History
) -> None:
    """A replaced screen is still attached while its widgets are removed: a grading thread's
    status update landing then must neither raise in the thread (which would mark a good
    grade as an error) nor show an error on the new screen."""
    from textual.widgets import Button

    q1, q2 = rich_questions(bank, 2)
    app = InterviewerApp(settings, bank, deck=[q1, q2], history=history,
                         backend_factory=no_grader)
    raised: list[str] = []
    shown: list[str] = []
    stop = threading.Event()
    async with app.run_test(size=(100, 40)) as pilot:
        notify = app.notify

        def noting(message: str, *args: Any, **kwargs: Any) -> None:
            if kwargs.get("severity") == "error":
                shown.append(message)
            notify(message, *args, **kwargs)

        app.notify = noting  # type: ignore[method-assign]
        target = [practice(app)]

        def report() -> None:
            while not stop.is_set():
                try:
                    app.ui(target[0].set_status, "grading…", True, None)
                except Exception as exc:
                    raised.append(repr(exc))

        thread = threading.Thread(target=report, daemon=True)
        thread.start()
        for _ in range(8):
            target[0] = practice(app)
            (await open_chooser(pilot, app)).query_one("#start", Button).press()
            await new_practice(pilot, app, target[0])
            await pilot.pause(0.1)
        stop.set()
        thread.join(5)
        assert raised == [] and shown == []


async def test_notifications_leave_the_status_line_and_the_footer_in_view(
    bank: Bank, settings: Settings, history: History
) -> None:
    from textual.widgets import Footer
    from textual.widgets._toast import Toast, ToastRack

    q1, q2 = rich_questions(bank, 2)
    app = InterviewerApp(settings, bank, deck=[q1, q2], history=history,
                         backend_factory=no_grader)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        screen = practice(app)
        await pilot.press("ctrl+s")  # nothing typed: a warning toast
        rack = app.screen.get_child_by_type(ToastRack)  # system widgets are not in query()

        def toasts() -> list[Any]:
            return [w.region for w in rack.walk_children(Toast) if w.region.area]

        await wait_for(pilot, lambda: bool(toasts()), timeout=30)
        kept = [screen.status.region, screen.query_one(Footer).region]
        assert all(not t.overlaps(k) for t in toasts() for k in kept)


async def test_unsent_text_is_warned_about_again_after_a_send(
    bank: Bank, settings: Settings, history: History
) -> None:
    q1, q2 = rich_questions(bank, 2)
    app = InterviewerApp(settings, bank, deck=[q1, q2], history=history,
                         backend_factory=no_grader)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = practice(app)
        await type_answer(pilot, "first text")
        await pilot.press("ctrl+n")  # warned
        await pilot.press("ctrl+s")  # sent instead (grading fails: the answer is kept)
        await wait_for(pilot, lambda: screen.turn is not None and screen.turn.stage == "discuss")
        await type_answer(pilot, "second text")
        await pilot.press("ctrl+n")  # a new text: a new warning, nothing thrown away
        await pilot.pause()
        assert screen.turn is not None and screen.turn.question.id == q1.id
        assert screen.query_one("#answer", TextArea).text == "second text"


async def test_every_key_that_would_drop_unsent_text_warns_on_its_own(
    embedder: Embedder, bank: Bank, settings: Settings, history: History
) -> None:
    """A warning from one key does not arm another; new words re-arm it; quitting and skipping
    the follow-up or the discussion warn too, and a skipped follow-up's text is not sent later
    as a question."""
    q1, q2 = rich_questions(bank, 2)
    app = InterviewerApp(settings, bank, deck=[q1, q2], history=history,
                         backend_factory=real_factory(embedder))
    async with app.run_test(size=(100, 40)) as pilot:
        screen = practice(app)
        editor = screen.query_one("#answer", TextArea)
        await type_answer(pilot, "draft one")
        await pilot.press("ctrl+k")  # warned by ctrl+k...
        await pilot.press("ctrl+n")  # ...ctrl+n warns on its own
        await pilot.pause()
        assert screen.turn is not None and screen.turn.question.id == q1.id
        await type_answer(pilot, " and more")
        await pilot.press("ctrl+n")  # new words: warned again
        await pilot.pause()
        assert screen.turn.question.id == q1.id and editor.text == "draft one and more"
        await pilot.press("ctrl+q")  # quitting with unsent text: warned, still running
        await pilot.pause()
        assert app.is_running
        editor.clear()
        await type_answer(pilot, "Dropout randomly drops units during training.")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: screen.turn is not None
                       and screen.turn.stage in ("follow_up", "discuss"), timeout=60)
        assert screen.turn.stage == "follow_up"
        await type_answer(pilot, "a follow-up answer")
        await pilot.press("ctrl+k")  # would drop the follow-up answer: warned
        await pilot.pause()
        assert screen.turn.stage == "follow_up"
        await pilot.press("ctrl+k")  # confirmed: skipped, and the text goes with it
        await pilot.pause()
        assert screen.turn.stage == "discuss" and editor.text == ""
        assert "scored" in screen.status.message  # the score stays in the status line
        await type_answer(pilot, "why is that missing?")
        await pilot.press("ctrl+k")  # skipping on from the discussion: warned
        await pilot.pause()
        assert screen.turn.question.id == q1.id
        await pilot.press("ctrl+k")
        await pilot.pause()
        assert screen.turn.question.id == q2.id
        await pilot.press("ctrl+q")  # nothing unsent: quits
        await pilot.pause()
        assert not app.is_running


async def test_the_mock_report_opens_the_deck_chooser_with_ctrl_o(
    embedder: Embedder, bank: Bank, settings: Settings, history: History
) -> None:

    q = rich_questions(bank, 1)[0]
    app = InterviewerApp(settings, bank, SessionConfig(mode="mock"), deck=[q], history=history,
                         backend_factory=real_factory(embedder))
    async with app.run_test(size=(100, 40)) as pilot:
        await type_answer(pilot, q.key_points[0])
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ReportScreen), timeout=120)
        await open_chooser(pilot, app, timeout=30)
        assert not any(isinstance(s, ReportScreen) for s in app.screen_stack)


async def test_quitting_over_help_or_stats_still_warns_about_unsent_text(
    bank: Bank, settings: Settings, history: History
) -> None:
    """The editor's text is behind the help or stats screen, not gone: ctrl+q warns there too."""
    app = InterviewerApp(settings, bank, deck=rich_questions(bank, 1), history=history,
                         backend_factory=no_grader)
    async with app.run_test(size=(100, 40)) as pilot:
        await type_answer(pilot, "a draft I have not sent")
        for key in ("f1", "f2"):
            await pilot.press(key)
            await pilot.pause()
            assert not isinstance(app.screen, PracticeScreen)
            await pilot.press("ctrl+q")
            await pilot.pause()
            assert app.is_running
            await pilot.press("escape")
            await pilot.pause()
            practice(app).turn.discard_warned = None  # type: ignore[union-attr]
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert app.is_running
        await pilot.press("ctrl+q")  # the same key again, on the same text: quits
        await pilot.pause()
        assert not app.is_running


async def test_a_history_that_fails_is_said_never_a_crash(
    bank: Bank, settings: Settings, history: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A history that fails mid-session (a full disk, a damaged file): the answer cannot be
    saved, the status says so rather than "saved", and f2 says why instead of crashing."""
    from interviewer.history import HistoryError

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise HistoryError("the history database h is damaged (database disk image is malformed)",
                           hint="move it aside")

    release = threading.Event()

    def still_loading(s: Settings, b: Bank) -> Assessor:
        release.wait(30)
        raise RuntimeError("not needed")

    app = InterviewerApp(settings, bank, deck=rich_questions(bank, 1), history=history,
                         backend_factory=still_loading)
    try:
        async with app.run_test(size=(100, 40)) as pilot:
            screen = practice(app)
            monkeypatch.setattr(history, "add_attempt", broken)
            monkeypatch.setattr(history, "stats", broken)
            await type_answer(pilot, "Dropout drops units at random while training.")
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert any("Could not save this answer" in t for t in texts(screen, ErrorMessage))
            assert screen.status.message.startswith("NOT saved · loading the grader")
            await pilot.press("f2")
            await pilot.pause()
            assert app.is_running and isinstance(app.screen, PracticeScreen)
            assert any(n.title == "stats unavailable" for n in app._notifications)
    finally:
        release.set()


async def test_the_title_bar_says_what_the_loading_grader_is_doing(
    bank: Bank, settings: Settings, history: History
) -> None:
    """A first launch builds the index: the title says so, not just "loading"."""
    release = threading.Event()

    def factory(s: Settings, b: Bank, phase: Callable[[str], None]) -> Assessor:
        phase("indexing 64/182 passages…")
        release.wait(30)
        raise RuntimeError("not needed")

    app = InterviewerApp(settings, bank, deck=rich_questions(bank, 1), history=history,
                         backend_factory=factory)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: "indexing" in app.status_text(), timeout=30)
            await pilot.pause()
            bar = app.screen.query_one("#titlebar")
            assert bar.right == "grader: indexing 64/182 passages…"  # type: ignore[attr-defined]
    finally:
        release.set()


async def test_the_deck_chooser_refuses_a_count_below_one(
    bank: Bank, settings: Settings, history: History
) -> None:
    """0 or -5 questions is a mistake, not "all" (the command line refuses --count 0 too)."""
    from textual.widgets import Input


    app = InterviewerApp(settings, bank, deck=rich_questions(bank, 2), history=history,
                         backend_factory=no_grader)
    async with app.run_test(size=(100, 40)) as pilot:
        first = practice(app)
        chooser = await open_chooser(pilot, app, timeout=30)
        for bad in ("0", "-5"):
            chooser.query_one("#count", Input).value = bad
            chooser.action_start()
            await pilot.pause()
            assert app.screen is chooser
        chooser.query_one("#count", Input).value = "1"
        chooser.action_start()
        assert len((await new_practice(pilot, app, first, timeout=30)).deck) == 1


async def test_hints_shown_before_leaving_a_question_unanswered_are_recorded(
    bank: Bank, settings: Settings, history: History
) -> None:
    """A hint used, then another deck or quitting: the question is in the history as skipped,
    with the hint, not lost."""

    q1, q2 = rich_questions(bank, 2)
    app = InterviewerApp(settings, bank, deck=[q1, q2], history=history,
                         backend_factory=no_grader)
    async with app.run_test(size=(100, 40)) as pilot:
        first = practice(app)
        await pilot.press("ctrl+t")
        (await open_chooser(pilot, app)).action_start()
        await new_practice(pilot, app, first)
        [row] = history.attempts()
        assert row["question_id"] == q1.id and row["status"] == "skipped"
        assert row["hints_used"] == 1
        asked = practice(app).turn
        assert asked is not None
        await pilot.press("ctrl+r")
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert not app.is_running
    rows = history.attempts()
    assert len(rows) == 2 and rows[1]["question_id"] == asked.question.id
    assert rows[1]["reference_shown"] is True and rows[1]["status"] == "skipped"
