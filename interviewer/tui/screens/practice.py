"""The practice screen: the conversation with the interviewer.

Every question is a small state machine: answer -> grading -> follow-up -> discuss. Answers are
written to the history before grading starts; grading runs in thread workers and reports back
with `app.ui` (call_from_thread), so the UI never blocks and a failing grader never loses an answer.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, cast

from rich.console import Group, RenderableType
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, TextArea

from interviewer.bank.models import Question
from interviewer.grading.models import Assessment, ChatReply, FollowUpExchange, Grade, Reference
from interviewer.history import GradeUpdate, HistoryError, NewAttempt, utcnow
from interviewer.scheduling import ReviewState, relearn_now, review
from interviewer.tui.widgets.editor import AnswerEditor, screen_bindings
from interviewer.tui.widgets.feedback import (
    FeedbackCard,
    LlmCard,
    citations_block,
    references_block,
)
from interviewer.tui.widgets.messages import (
    ErrorMessage,
    InterviewerMessage,
    SystemMessage,
    UserMessage,
)
from interviewer.tui.widgets.status import StatusLine, TitleBar
from interviewer.tui.widgets.timer import QuestionTimer
from interviewer.wording import clip, dropped_note, plural

if TYPE_CHECKING:
    from interviewer.tui.app import InterviewerApp, SessionConfig
    from interviewer.tui.screens.report import MockReport

Stage = Literal["answer", "grading", "follow_up", "follow_grading", "discuss"]


@dataclass
class Turn:
    """One question of the session and everything that happened on it."""

    index: int
    question: Question
    started_at: datetime
    started_clock: float
    stage: Stage = "answer"
    hints: list[str] = field(default_factory=list)
    reference_shown: bool = False
    attempt_id: int | None = None
    seconds: float | None = None
    request: Any = None
    grade: Grade | None = None
    assessment: Assessment | None = None
    follow_point: str | None = None
    follow_question: str | None = None
    follow_request: Any = None
    follow_grade: Grade | None = None
    follow_assessment: Assessment | None = None  # with the LLM on: its verdict on the follow-up
    follow_llm_pending: bool = False  # the LLM is grading the follow-up answer
    follow_asked_at: datetime | None = None
    review_before: ReviewState | None = None  # the schedule as it was before this answer
    skipped: bool = False
    error: str | None = None
    discard_warned: tuple[str, str] | None = None  # (key, unsent text) a warning was given about


@dataclass
class MockItem:
    """One answer of a mock interview, for the report."""

    question: Question
    seconds: float
    score: float | None = None
    band: str | None = None
    missed: list[str] = field(default_factory=list)
    skipped: bool = False
    error: str | None = None
    done: bool = False


def is_question_to_interviewer(text: str) -> bool:
    """During a follow-up, a short message ending in '?' is a question, not an answer."""
    return text.rstrip().endswith("?") and len(text) < 300


def _terms(text: str) -> set[str]:
    """Content-word stems: what two texts must share to be about the same thing ("the" is not)."""
    from interviewer.grading.features import content_terms  # numpy: not before the first question

    return set(content_terms(text))


def most_shared(query: str, texts: Sequence[str]) -> str | None:
    """The text sharing the most content words with `query`; None when none shares any."""
    want = _terms(query)
    best = max(texts, key=lambda t: len(want & _terms(t)), default=None)
    return best if best is not None and want & _terms(best) else None


def asked_point(question: str, grade: Grade) -> str | None:
    """The missed key point an LLM-written follow-up asks about: the one sharing the most content
    words with it, when it shares two, or one word no other key point of the reference has
    ("extra" memory, not "training"); None when it asks about nothing the answer missed."""
    want = _terms(question)
    every = [_terms(p.point) for p in grade.covered + grade.missed]
    best, most = None, 0
    for m in grade.missed:
        shared = want & _terms(m.point)
        telling = len(shared) >= 2 or any(sum(t in o for o in every) == 1 for t in shared)
        if shared and telling and len(shared) > most:
            best, most = m.point, len(shared)
    return best


def point_asked_about(question: str, grade: Grade) -> str | None:
    """The missed key point an LLM-written follow-up is about, so the follow-up answer is graded
    against what was asked; the offline choice when it names none (see `asked_point`)."""
    return (
        asked_point(question, grade)
        or grade.follow_up_point
        or (grade.missed[0].point if grade.missed else None)
    )


def passages_about(point: str, message: str, refs: list[Reference], k: int = 2) -> list[Reference]:
    """Offline 'chat': the reference passages sharing the most words with the point asked about."""
    want = _terms(point + " " + message)
    return sorted(refs, key=lambda r: -len(want & _terms(r.text)))[:k]


# Saved with an offline grade while the LLM rubric works on it; the LLM's grade replaces it, so
# it stays only if the app was closed first.
LLM_PENDING_NOTICE = "offline grade only: the LLM rubric had not answered when the app closed"


class PracticeScreen(Screen[None]):
    """Ask, listen, grade, follow up, discuss; then the next question."""

    BINDINGS = screen_bindings()

    def __init__(
        self, config: SessionConfig, deck: list[Question], empty_message: str | None = None
    ) -> None:
        super().__init__()
        self.config = config
        self.deck = list(deck)  # review mode may append lapsed questions
        self.empty_message = empty_message
        self.turn: Turn | None = None
        self.finished = False
        self.mock_items: list[MockItem] = []
        self.report: MockReport | None = None  # a finished mock interview's, to show again
        self.scores: list[float] = []  # final scores of this deck's main answers
        self.last_scored = ""  # "Q1 scored 6.5/10 (good)": the status line keeps it
        self.asked: dict[str, int] = {}  # question id -> times asked in this deck
        self._in_view: tuple[Widget | None, bool] = (None, False)  # newest message, top first?
        self._reading_back = False  # the user scrolled up: a resize must not pull them down
        self._error_shown = False
        self._follow_card: Widget | None = None  # the current follow-up's offline feedback

    @property
    def iapp(self) -> InterviewerApp:
        return cast("InterviewerApp", self.app)

    @property
    def mock(self) -> bool:
        return self.config.mode == "mock"

    # -- layout ---------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield TitleBar(id="titlebar")
        yield VerticalScroll(id="transcript")
        with Horizontal(id="composer"):
            editor = AnswerEditor(id="answer", soft_wrap=True, tab_behavior="indent")
            editor.border_title = "your answer · ctrl+s to send"
            yield editor
            if self.mock:
                yield QuestionTimer(clock=self.iapp.clock, id="timer")
        yield StatusLine(id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.call_after_refresh(self.iapp.start_backend)
        self.update_title()
        self.query_one("#answer", TextArea).focus()
        if not self.deck:
            self.say(SystemMessage(Text(
                (self.empty_message or "no questions to ask")
                + "\nctrl+o chooses another deck, f2 shows your stats, ctrl+q quits."
            )))
            self.finished = True
            return
        if self.mock:
            self.say(SystemMessage(Text(
                f"Mock interview: {plural(len(self.deck), 'question')}, no hints, no feedback until the "
                "end. The clock runs per question; ctrl+s sends your answer."
            )))
        self.ask(0)

    @property
    def status(self) -> StatusLine:
        return self.query_one("#status", StatusLine)

    def set_status(self, message: str, busy: bool = False, turn: Turn | None = None) -> None:
        """For worker threads: the status line is looked up on the UI thread, not theirs; a
        worker still busy with a question the user moved on from says nothing."""
        if self.is_attached and (turn is None or turn is self.turn):
            self.status.show(message, busy)

    def _llm_check(self) -> None:
        """The assessor switches the LLM off after repeated endpoint failures: say so once, with
        the reason, and stop announcing "LLM on"."""
        backend = self.iapp.backend
        if backend is None or not self.iapp.llm_on:
            return
        on, why = backend.llm_status
        if not on:
            self.iapp.llm_on, self.iapp.llm_reason = False, why
            self.update_title()
            self.say(SystemMessage(Text(why), title="LLM off"))

    def update_title(self) -> None:
        bar = self.query_one("#titlebar", TitleBar)
        # The position first: at 80 columns a long deck description is what gets cut.
        pos = f" · Q {self.turn.index + 1}/{len(self.deck)}" if self.turn else ""
        bar.left = f"interviewer{pos} · {self.config.mode} · {self.config.describe()}"
        bar.right = self.iapp.status_text()

    def backend_changed(self) -> None:
        """The grader finished loading (or failed): refresh the title, say if it failed."""
        self.update_title()
        if self.iapp.backend_error and not self._error_shown:
            self._error_shown = True
            self.say(ErrorMessage(Text(
                "The grader could not be loaded: " + self.iapp.backend_error
                + "\nYour answers are still saved in the history; they cannot be graded now."
            ), title="error"))
        elif self.iapp.backend is not None and self.iapp.llm_reason and not self.iapp.llm_said:
            self.iapp.llm_said = True
            self.say(SystemMessage(Text(self.iapp.llm_reason), title="grader ready"))

    def _editor_for(self, title: str, prompt: str = "") -> None:
        """What the editor takes now (its title) and, in the empty box, what it answers: cut in
        the middle to what the box shows, so its end (the actual ask) stays in view."""
        editor = self.editor
        editor.border_title = title
        lines = 3 if self.size.height < 30 else 5
        room = max(40, (max(self.size.width, 40) - 4) * lines - 12)
        if len(prompt) > room:
            tail = min(60, room // 3)
            prompt = prompt[: room - tail - 1].rstrip() + "…" + prompt[-tail:]
        editor.placeholder = prompt

    @property
    def editor(self) -> TextArea:
        return self.query_one("#answer", TextArea)

    def _save(self, what: str, write: Callable[[], Any]) -> Any:
        """Write to the history from any thread; a failure (a full disk, a damaged file) is
        said in the conversation and the session goes on. Returns what `write` returned, or
        None when it failed."""
        try:
            return write()
        except HistoryError as exc:
            note = ErrorMessage(Text(f"Could not save {what} to the history: {exc}"))
            if threading.current_thread() is threading.main_thread():
                self.say(note)
            else:
                self.iapp.ui(self.say, note)
            return None

    @staticmethod
    def _saved(turn: Turn) -> str:
        return "saved" if turn.attempt_id is not None else "NOT saved"

    def say(self, widget: Widget, top: bool = False, scroll: bool = True) -> None:
        """Add to the transcript and keep it in view (or, with scroll=False, keep the view)."""
        transcript = self.query_one("#transcript", VerticalScroll)
        transcript.mount(widget)
        if scroll or self._in_view[0] is None:
            self._in_view = (widget, top)
            self._reading_back = False
        self.call_after_refresh(self._keep_in_view)

    def _keep_in_view(self) -> None:
        """Scroll to the newest message: its top if it asked for that, else the very end."""
        widget, top = self._in_view
        if widget is None or not widget.is_attached:
            return
        if top:
            widget.scroll_visible(top=True, animate=False)
        else:
            self.query_one("#transcript", VerticalScroll).scroll_end(animate=False)

    def on_resize(self) -> None:
        # A short terminal (80x24) gives the conversation the rows: a 3-line editor, not 5.
        self.query_one("#composer").styles.height = 5 if self.size.height < 30 else 7
        # Re-wrapped text changes every offset: without this a smaller window is left mid-way.
        if not self._reading_back:
            self.call_after_refresh(self._keep_in_view)

    def on_mouse_scroll_up(self) -> None:
        self._reading_back = True

    # -- asking ---------------------------------------------------------------------------
    def ask(self, index: int) -> None:
        q = self.deck[index]
        self.asked[q.id] = self.asked.get(q.id, 0) + 1
        self.turn = Turn(index, q, utcnow(), self.iapp.clock())
        topics = ", ".join(q.topics)
        title = f"interviewer · Q{index + 1}/{len(self.deck)} · {q.id}" + (
            f" · {topics}" if topics else ""
        )
        self.say(InterviewerMessage(Text(q.question), title=title))
        editor = self.query_one("#answer", TextArea)
        editor.clear()
        self._editor_for("your answer · ctrl+s to send", f"Q{index + 1}: {q.question}")
        editor.focus()
        # The last question's status ("answer the follow-up") is stale now; its score is not.
        if self.last_scored:
            self.status.show(f"last: {self.last_scored}")
        else:
            self.status.clear()
        if self.mock:
            self.query_one("#timer", QuestionTimer).start()
        self.update_title()
        if self.iapp.first_question_at is None:
            self.iapp.first_question_at = self.iapp.clock()

    def advance(self) -> None:
        nxt = (self.turn.index + 1) if self.turn else 0
        if nxt >= len(self.deck) and self.config.mode == "review":
            self._requeue_lapses()
        if nxt >= len(self.deck):
            self.finish()
        else:
            self.ask(nxt)

    def _requeue_lapses(self) -> None:
        """Review mode: questions answered poorly this session come back before it ends."""
        h = self.iapp.history
        ids = [q.id for q in self.deck]
        states = {qid: st for qid in ids if (st := h.review_state(qid)) is not None}
        again = relearn_now(ids, states, utcnow(), self.asked)
        if not again:
            return
        by_id = {q.id: q for q in self.deck}
        self.deck.extend(by_id[qid] for qid in again)
        n = len(again)
        self.say(SystemMessage(Text(
            f"Before we stop: {plural(n, 'question')} you missed, once more "
            "(a poor answer comes back within minutes, a strong one days later)."
        )))

    def finish(self) -> None:
        self.finished = True
        editor = self.query_one("#answer", TextArea)
        editor.clear()
        if not self.mock:
            self._editor_for("deck finished · ctrl+o another deck · f2 stats")
        if self.mock:
            self.query_one("#timer", QuestionTimer).stop()
            self.maybe_report()
            return
        graded = self.scores
        avg = f", average {sum(graded) / len(graded):.1f}/10" if graded else ""
        self.say(SystemMessage(Text(
            f"That was the last question: {len(graded)} graded{avg}.\n"
            "ctrl+o chooses another deck, f2 shows your stats, ctrl+q quits."
        )))
        self.status.show("deck finished")

    # -- actions --------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """No hints or reference answers in a mock interview: dimmed in the footer, and off."""
        return None if self.mock and action in ("hint", "reference") else True

    def on_key(self, event: events.Key) -> None:
        """A key whose command is off (dimmed) reaches here: say why instead of nothing."""
        if self.mock and event.key in ("ctrl+t", "ctrl+r"):
            event.stop()
            self.notify("No hints or reference answers in a mock interview: the report at the "
                        "end shows what to review.")

    def action_scroll_transcript(self, direction: int) -> None:
        """Read back through the conversation without leaving the editor."""
        transcript = self.query_one("#transcript", VerticalScroll)
        step = max(1, transcript.size.height - 2)
        transcript.scroll_relative(y=direction * step, animate=False)
        self._reading_back = direction < 0 or transcript.scroll_y + step < transcript.max_scroll_y
        if not self._reading_back and transcript.children:  # read down to the end: stay there
            self._in_view = (transcript.children[-1], False)

    def action_submit(self) -> None:
        editor = self.query_one("#answer", TextArea)
        text = editor.text.strip()
        turn = self.turn
        if turn is None or self.finished:
            self.notify("No question is open: ctrl+o chooses a deck.", severity="warning")
            return
        if not text:
            self.notify("Type an answer first (Enter makes a new line).", severity="warning")
            return
        if turn.stage == "answer":
            self._editor_for(editor.border_title or "")  # answered: the prompt goes
            self.submit_main(turn, text)
        elif turn.stage == "follow_up" and not is_question_to_interviewer(text):
            self._editor_for(editor.border_title or "")
            self.submit_follow_up(turn, text)
        elif turn.stage in ("follow_up", "discuss"):
            self.ask_interviewer(turn, text)
        elif turn.stage == "grading" and self.iapp.llm_on and turn.grade is not None:
            self.notify("The LLM rubric is still grading your answer (the status line says how "
                        "long); its follow-up comes next. ctrl+n moves on; the grade will be "
                        "saved.", severity="information")
            return
        else:
            self.notify("Still grading your answer: one moment.", severity="information")
            return
        editor.clear()
        turn.discard_warned = None  # sent: new text is warned about afresh

    def action_hint(self) -> None:
        turn = self.turn
        if turn is None or self.finished:
            return
        if turn.stage != "answer":
            self.notify("Hints are for the question before you answer it.")
            return
        left = [p for p in turn.question.key_points if p not in turn.hints]
        if not left:
            self.notify("No more key points to reveal.")
            return
        turn.hints.append(left[0])
        n = len(turn.question.key_points)
        self.say(SystemMessage(Text(f"hint {len(turn.hints)}/{n}: {left[0]}"), title="hint"))

    def action_reference(self) -> None:
        turn = self.turn
        if turn is None or self.finished:
            return
        q = turn.question
        turn.reference_shown = True
        if turn.attempt_id is not None:
            attempt_id = turn.attempt_id
            self._save("that the reference was shown", lambda: self.iapp.history.set_hints(
                attempt_id, len(turn.hints), True))
        src = self.iapp.source_titles.get(q.source, "")
        body = Text(q.reference)
        body.append(f"\n— {q.source}" + (f" · {src}" if src else "") + f", line {q.line}", style="dim")
        self.say(SystemMessage(body, title="reference answer"), top=True)

    def unsent_text_warned(self, key: str, what: str = "discards it") -> bool:
        """True (and a warning) when a key would throw away the text in the editor.

        Only the same key pressed again, on the very same text, goes ahead: another key, or a
        word typed since the warning, is warned about afresh.
        """
        turn = self.turn
        draft = self.editor.text.strip()
        if turn is None or self.finished or not draft:
            return False
        if turn.discard_warned != (key, draft):
            turn.discard_warned = (key, draft)
            self.notify(
                f"You have unsent text: ctrl+s sends it, {key} again {what}.",
                severity="warning",
            )
            return True
        return False

    @staticmethod
    def _scored(turn: Turn, score: float, band: str) -> str:
        return f"Q{turn.index + 1} scored {score:.1f}/10 ({band})"

    def action_skip(self) -> None:
        turn = self.turn
        if turn is None or self.finished:
            return
        if turn.stage == "follow_up":
            if self.unsent_text_warned("ctrl+k", "skips the follow-up and discards it"):
                return
            self.query_one("#answer", TextArea).clear()  # not a question about the feedback
            self._discuss(turn)
            self.say(SystemMessage(Text("Follow-up skipped. ctrl+n for the next question.")))
            return
        if self.unsent_text_warned("ctrl+k"):
            return
        if turn.stage == "answer":
            self.record_skip(turn)
        self.advance()

    def action_next(self) -> None:
        turn = self.turn
        if self.finished and self.mock and self.report is not None:
            from interviewer.tui.screens.report import ReportScreen

            self.app.push_screen(ReportScreen(self.report))  # the report, once more
            return
        if turn is None or self.finished:
            return
        if self.unsent_text_warned("ctrl+n"):
            return
        if turn.stage == "answer":
            self.record_skip(turn)
        self.advance()

    def leave(self) -> None:
        """The deck is being left (another deck, quitting): a question whose hints or reference
        were shown but that was never answered is recorded as skipped, hints and all."""
        turn = self.turn
        if (turn is not None and not self.finished and turn.stage == "answer"
                and not turn.skipped and (turn.hints or turn.reference_shown)):
            self.record_skip(turn)

    def record_skip(self, turn: Turn) -> None:
        turn.skipped = True
        seconds = self.iapp.clock() - turn.started_clock
        q = turn.question
        self._save("the skip", lambda: self.iapp.history.add_attempt(NewAttempt(
            question=q.question, answer="", question_id=q.id, session_id=self.iapp.session_id,
            mode=self.config.mode, status="skipped", started_at=turn.started_at,
            hints_used=len(turn.hints), reference_shown=turn.reference_shown,
            topics=q.topics, source=q.source,
        )))
        if self.config.mode == "review":  # not knowing it is a lapse: it comes back soon
            self._save("the review schedule", lambda: self._schedule(turn, 0.0))
        if self.mock:
            self.mock_items.append(MockItem(q, seconds, skipped=True, done=True, score=0.0))
        self.say(SystemMessage(Text(f"Q{turn.index + 1} skipped.")))

    def _discuss(self, turn: Turn) -> None:
        """The question is graded: the editor now takes questions about the feedback."""
        turn.stage = "discuss"
        self._editor_for("ask about the feedback · ctrl+s",
                         "ask about the feedback (why is that wrong? explain the missing point) "
                         "· ctrl+n next question")
        self.status.show(*self._settled_status(turn))

    def _schedule(self, turn: Turn, score: float) -> None:
        """Review the question with this score, from its state before this answer: scheduling
        again with the LLM's final score replaces the offline one rather than counting twice."""
        h = self.iapp.history
        qid = turn.question.id
        if turn.review_before is None:
            turn.review_before = h.review_state(qid) or ReviewState(question_id=qid)
        h.save_review_state(review(turn.review_before, score, utcnow()))

    # -- grading the main answer ----------------------------------------------------------
    def submit_main(self, turn: Turn, text: str) -> None:
        q = turn.question
        turn.seconds = self.iapp.clock() - turn.started_clock
        if self.mock:
            self.query_one("#timer", QuestionTimer).stop()
        # Keep going if it fails: the grade is still useful, and the status says "not saved".
        turn.attempt_id = self._save("this answer", lambda: self.iapp.history.add_attempt(
            NewAttempt(
                question=q.question, answer=text, question_id=q.id,
                session_id=self.iapp.session_id, mode=self.config.mode,
                started_at=turn.started_at, hints_used=len(turn.hints),
                reference_shown=turn.reference_shown, topics=q.topics, source=q.source,
            )))
        self.say(UserMessage(text))
        turn.stage = "grading"
        if self.mock:
            item = MockItem(q, turn.seconds)
            self.mock_items.append(item)
            self.iapp.in_thread(lambda: self._grade_main(turn, text, item), "grade")
            self.advance()
            return
        ready = self.iapp.backend_ready.is_set()
        self.status.show("grading…" if ready else f"{self._saved(turn)} · loading the grader…",
                         busy=True)
        self.iapp.in_thread(lambda: self._grade_main(turn, text, None), "grade")

    def _grade_main(self, turn: Turn, text: str, item: MockItem | None) -> None:
        """Worker thread: offline grade, then the LLM rubric if on; history after each."""
        app = self.iapp
        q = turn.question
        try:
            if not app.backend_ready.is_set() and item is None:
                app.ui(self.set_status, f"{self._saved(turn)} · loading the grader…", True, turn)
            backend = app.get_backend()
            if item is None:
                app.ui(self.set_status, "grading…", True, turn)
            from interviewer.embedding import model_id
            from interviewer.grader import GradeRequest

            req = GradeRequest(answer=text, question=q.question, question_id=q.id)
            turn.request = req
            grade = backend.offline(req)
        except Exception as exc:
            msg = f"{type(exc).__name__}: {exc}"
            if (attempt_id := turn.attempt_id) is not None:
                self._save("the error", lambda: app.history.record_error(attempt_id, msg))
            app.ui(self._grade_failed, turn, msg, item)
            return
        embedding = model_id(app.settings.embedding_model)
        if (attempt_id := turn.attempt_id) is not None:
            pending = LLM_PENDING_NOTICE if app.llm_on else None
            self._save("the grade", lambda: app.history.record_grade(
                attempt_id, GradeUpdate.offline(grade, embedding, pending)))
        turn.grade = grade
        if item is None:
            app.ui(self._show_offline, turn, grade)
        if not app.llm_on:
            self._graded(turn, Assessment.offline_only(grade), item)
            return
        with contextlib.suppress(Exception):  # scheduled now: quitting does not wait for the LLM
            self._schedule(turn, grade.score)
        if item is None:
            app.ui(self.set_status, self._llm_wait_message(), True, turn)
        # The offline grade is saved: quitting waits for no LLM (a hanging one takes minutes).
        app.in_thread(lambda: self._grade_llm(turn, req, grade, item, embedding), "llm",
                      tracked=False)

    def _grade_llm(
        self, turn: Turn, req: Any, grade: Grade, item: MockItem | None, embedding: str
    ) -> None:
        """Worker thread: the LLM rubric on top of a saved offline grade."""
        app = self.iapp
        try:
            assessment = app.get_backend().assess(req, offline=grade)
        except Exception as exc:  # the offline grade stands
            assessment = Assessment.offline_only(grade, f"LLM rubric failed: {exc}")
        if (attempt_id := turn.attempt_id) is not None:
            self._save("the LLM grade", lambda: app.history.record_grade(
                attempt_id, GradeUpdate.assessed(grade, assessment, embedding)))
        if item is None:
            app.ui(self._show_llm, turn, assessment)
        self._graded(turn, assessment, item)

    def _graded(self, turn: Turn, assessment: Assessment, item: MockItem | None) -> None:
        """Worker thread, last step: schedule the question, then the follow-up or the report."""
        with contextlib.suppress(Exception):  # the schedule is a convenience; the attempt is saved
            self._schedule(turn, assessment.score)
        turn.assessment = assessment
        if item is not None:
            self.iapp.ui(self._mock_graded, item, assessment)
        else:
            self.iapp.ui(self._after_feedback, turn, assessment)

    def _llm_wait_message(self) -> str:
        """The status while the LLM rubric is asked: how long so far, and the limits a hanging
        endpoint runs into (the timeout on every try; a reply that needs repair costs more)."""
        s = self.iapp.settings
        tries = max(0, int(s.llm_retries)) + 1
        limit = f"up to {s.llm_timeout:.0f} s a try, {tries} {'try' if tries == 1 else 'tries'}"
        return f"asking the LLM rubric… {{s}} s ({limit}) · ctrl+n moves on"

    def _grade_failed(self, turn: Turn, msg: str, item: MockItem | None) -> None:
        turn.error = msg
        if item is not None:
            item.error, item.done = msg, True
            self.maybe_report()
            return
        if turn is not self.turn:
            self.say(ErrorMessage(Text(
                f"Grading Q{turn.index + 1} ({turn.question.id}) failed: {msg}. "
                "Your answer is saved in the history."
            ), title="grading failed"))
            return
        turn.stage = "discuss"
        self._editor_for("grading failed · ctrl+n next question")
        self.status.show("grading failed · your answer is saved · ctrl+n next question")
        saved = f" (attempt #{turn.attempt_id})" if turn.attempt_id is not None else ""
        self.say(ErrorMessage(Text(
            f"Grading failed: {msg}\nYour answer is saved in the history{saved}; "
            "nothing was lost. ctrl+n moves on."
        ), title="grading failed"))

    def _show_offline(self, turn: Turn, grade: Grade) -> None:
        if turn is not self.turn:  # moved on before the grade came: said by _after_feedback
            return
        self.say(FeedbackCard(grade, self.iapp.source_titles), top=True)
        self.status.show(
            self._scored(turn, grade.score, grade.band), busy=False
        )

    def _show_llm(self, turn: Turn, assessment: Assessment) -> None:
        if turn is not self.turn:
            return
        self.say(LlmCard(assessment, self.iapp.source_titles), top=True)

    def _after_feedback(self, turn: Turn, assessment: Assessment) -> None:
        self._llm_check()
        self.scores.append(assessment.score)  # the final score, as the status line said
        self.last_scored = self._scored(turn, assessment.score, assessment.band)
        if turn is not self.turn and turn.grade is not None:
            self.say(SystemMessage(Text(
                f"Q{turn.index + 1} ({turn.question.id}), which you moved on from, scored "
                f"{assessment.score:.1f}/10 ({assessment.band}); its full feedback is in the "
                "history (`interviewer history --export FILE`)."
            ), title="late grade"))
            return
        if turn.grade is None:
            return
        grade = turn.grade
        score = self._scored(turn, assessment.score, assessment.band)
        if grade.missed:
            llm_question = assessment.llm.follow_up if assessment.llm else None
            if llm_question and asked_point(llm_question, grade) is None:
                # About nothing the reference says was missed: its answer could only be graded
                # against an unrelated point, so the offline follow-up is asked instead.
                llm_question = None
            point = (
                point_asked_about(llm_question, grade) if llm_question
                else grade.follow_up_point
            ) or grade.missed[0].point
            turn.follow_point = point
            turn.follow_asked_at = utcnow()
            from interviewer.grading.offline import follow_up_question

            turn.follow_question = llm_question or grade.follow_up or follow_up_question(point)
            turn.stage = "follow_up"
            # The feedback stays in view from its top (score first); the follow-up is below it.
            self.say(InterviewerMessage(Text(turn.follow_question), title="interviewer · follow-up"),
                     scroll=False)
            editor = self.query_one("#answer", TextArea)
            # Also where the answer is typed: at 80x24 the follow-up itself may be below the
            # feedback, out of view.
            self._editor_for("follow-up answer · ctrl+s to send",
                             f"follow-up: {turn.follow_question}")
            self.status.show(f"{score} · answer the follow-up below · ctrl+k skips it")
            if editor.text.strip():  # typed while grading: it was not written for this question
                self.notify("The text in the box was typed before this follow-up was asked: "
                            "ctrl+s would send it as your follow-up answer.", severity="warning")
        else:
            self._discuss(turn)

    # -- the follow-up --------------------------------------------------------------------
    def submit_follow_up(self, turn: Turn, text: str) -> None:
        q = turn.question
        follow_id: int | None = self._save("this answer", lambda: self.iapp.history.add_attempt(
            NewAttempt(
                question=turn.follow_question or "", answer=text, question_id=q.id,
                session_id=self.iapp.session_id, mode=self.config.mode, kind="follow_up",
                parent_id=turn.attempt_id, topics=q.topics, source=q.source,
                follow_point=turn.follow_point, started_at=turn.follow_asked_at,
            )))
        self.say(UserMessage(text, title="you · follow-up"))
        turn.stage = "follow_grading"
        self.status.show("grading the follow-up…", busy=True)
        self.iapp.in_thread(lambda: self._grade_follow_up(turn, text, follow_id), "grade")

    def _grade_follow_up(self, turn: Turn, text: str, attempt_id: int | None) -> None:
        app = self.iapp
        try:
            backend = app.get_backend()
            from interviewer.grader import GradeRequest

            # The main question is the context: the follow-up quotes the point itself, so a
            # right answer would look like a restatement of it (parrot) and its terms like the
            # question's own rather than fresh content.
            req = GradeRequest(answer=text, question=turn.question.question,
                               question_id=turn.question.id,
                               key_points=[turn.follow_point or ""])
            turn.follow_request = req
            grade = backend.offline(req)
        except Exception as exc:
            msg = f"{type(exc).__name__}: {exc}"
            if attempt_id is not None:
                self._save("the error", lambda: app.history.record_error(attempt_id, msg))
            app.ui(self._grade_failed, turn, msg, None)
            return
        from interviewer.embedding import model_id

        llm = app.llm_on
        if attempt_id is not None:
            embedding = model_id(app.settings.embedding_model)
            pending = LLM_PENDING_NOTICE if llm else None
            self._save("the grade", lambda: app.history.record_grade(
                attempt_id, GradeUpdate.offline(grade, embedding, pending)))
        turn.follow_llm_pending = llm
        app.ui(self._show_follow_up, turn, grade)
        if llm:  # like the main answer: quitting waits for no LLM
            app.in_thread(lambda: self._grade_follow_up_llm(turn, req, grade, attempt_id),
                          "llm", tracked=False)

    def _show_follow_up(self, turn: Turn, grade: Grade) -> None:
        turn.follow_grade = grade
        if turn is not self.turn:
            return
        self._follow_card = FeedbackCard(grade, self.iapp.source_titles, title="follow-up feedback")
        self.say(self._follow_card, top=True)
        self._discuss(turn)

    def _settled_status(self, turn: Turn) -> tuple[str, bool]:
        """The status line once a question is graded: its latest score, what is still on its
        way, and what the user can do (a chat reply or a late grade must not lose either)."""
        if turn.stage == "follow_up":
            a = turn.assessment
            scored = f"{self._scored(turn, a.score, a.band)} · " if a else ""
            return f"{scored}answer the follow-up below · ctrl+k skips it", False
        g, fa = turn.follow_grade, turn.follow_assessment
        if g is not None and fa is None and turn.follow_llm_pending:
            return (f"follow-up scored {g.score:.1f}/10 offline · asking the LLM… {{s}} s · "
                    "ctrl+n moves on"), True
        if g is not None:
            score, band = (fa.score, fa.band) if fa is not None else (g.score, g.band)
            return f"follow-up scored {score:.1f}/10 ({band}) · ctrl+n next question", False
        a = turn.assessment
        scored = f"{self._scored(turn, a.score, a.band)} · " if a else ""
        return f"{scored}ctrl+n next question · or ask about the feedback", False

    def _grade_follow_up_llm(self, turn: Turn, req: Any, grade: Grade,
                             attempt_id: int | None) -> None:
        """Worker thread: the LLM rubric on the follow-up answer, scoped to the point it asked
        about; its offline grade is saved and shown already, and stands if this fails."""
        app = self.iapp
        from interviewer.grader import GradeRequest
        from interviewer.grading.rubric import follow_up_task

        llm_req = GradeRequest(
            answer=req.answer, question_id=req.question_id, key_points=req.key_points,
            question=follow_up_task(turn.question.question, turn.follow_question or "",
                                    turn.follow_point or ""),
        )
        try:
            assessment = app.get_backend().assess(llm_req, offline=grade)
        except Exception as exc:  # the offline grade stands
            assessment = Assessment.offline_only(grade, f"LLM rubric failed: {exc}")
        if attempt_id is not None:
            self._save("the LLM grade", lambda: app.history.record_grade(
                attempt_id, GradeUpdate.assessed(grade, assessment)))
        app.ui(self._show_follow_up_llm, turn, assessment)

    def _show_follow_up_llm(self, turn: Turn, assessment: Assessment) -> None:
        turn.follow_assessment, turn.follow_llm_pending = assessment, False
        self._llm_check()
        if turn is not self.turn:
            if assessment.llm is not None:
                self.say(SystemMessage(Text(
                    f"The follow-up on Q{turn.index + 1} ({turn.question.id}), which you moved on "
                    f"from, scored {assessment.score:.1f}/10 ({assessment.band}) with the LLM "
                    "rubric; it is saved in the history."
                ), title="late grade"), scroll=False)
            return
        if assessment.llm is not None or assessment.notice:
            card = LlmCard(assessment, self.iapp.source_titles, title="LLM rubric · follow-up")
            offline_card = self._follow_card
            transcript = self.query_one("#transcript", VerticalScroll)
            if (offline_card is not None and offline_card.is_attached
                    and transcript.children and transcript.children[-1] is not offline_card):
                # A question about the feedback came in between: the verdict goes under the
                # offline card it belongs to, not between that question and its reply.
                transcript.mount(card, after=offline_card)
            else:
                self.say(card, top=True)
        if turn.stage == "discuss":
            self.status.show(*self._settled_status(turn))

    # -- talking about the feedback -------------------------------------------------------
    def ask_interviewer(self, turn: Turn, text: str) -> None:
        self.say(UserMessage(text, title="you · question"))
        if turn.assessment is None or turn.grade is None:
            self.say(SystemMessage(Text("There is no grade to discuss for this question.")))
            return
        if self.iapp.llm_on and turn.request is not None:
            self.status.show("the interviewer is thinking…", busy=True)
            self.iapp.in_thread(lambda: self._chat(turn, text), "chat")
            return
        self._offline_reply(turn, text)

    def _offline_reply(self, turn: Turn, text: str) -> None:
        grade = turn.grade
        assert grade is not None
        points = [p.point for p in grade.missed + grade.covered]
        point = most_shared(text, points) or turn.follow_point or (points[0] if points else "")
        refs = passages_about(point, text, grade.references)
        head = Text("LLM is off, so here is what the reference says about ")
        head.append(f"“{clip(point, 120).rstrip('.;:')}”", style="bold")
        head.append(":")
        body = Group(head, references_block(refs, self.iapp.source_titles, focus=point))
        self.say(InterviewerMessage(body, title="interviewer · from the references"), top=True)

    def _chat(self, turn: Turn, text: str) -> None:
        app = self.iapp
        try:
            backend = app.get_backend()
            assert turn.assessment is not None
            reply = backend.chat(turn.request, turn.assessment, text, self._exchange(turn))
        except Exception as exc:
            app.ui(self._chat_failed, turn, text, f"{type(exc).__name__}: {exc}")
            return
        app.ui(self._show_chat, turn, reply)

    @staticmethod
    def _exchange(turn: Turn) -> FollowUpExchange | None:
        """The follow-up asked on this question, and its answer and grade once given."""
        if not turn.follow_question:
            return None
        grade, req, final = turn.follow_grade, turn.follow_request, turn.follow_assessment
        score = final.score if final else grade.score if grade else None
        band = final.band if final else grade.band if grade else None
        return FollowUpExchange(
            question=turn.follow_question, answer=req.answer if req is not None else "",
            score=score, band=str(band) if band is not None else None,
            point=turn.follow_point, covered=bool(grade and grade.covered),
            pending=final is None and turn.follow_llm_pending,
        )

    def _chat_failed(self, turn: Turn, text: str, msg: str) -> None:
        self._llm_check()
        if turn is not self.turn:
            return
        self.status.show(*self._settled_status(turn))
        self.say(ErrorMessage(Text(f"The LLM could not answer ({msg}); the references instead:")))
        self._offline_reply(turn, text)

    def _show_chat(self, turn: Turn, reply: ChatReply) -> None:
        self._llm_check()
        if turn is not self.turn:  # asked about a question the user has moved on from
            self.notify("The interviewer's answer about an earlier question came too late.")
            return
        self.status.show(*self._settled_status(turn))
        parts: list[RenderableType] = [Text(reply.reply)]
        if reply.citations:
            parts.append(citations_block(reply.citations, self.iapp.source_titles))
        if reply.dropped_citations:
            parts.append(Text(dropped_note(reply.dropped_citations), style="dim"))
        body: RenderableType = Group(*parts)
        self.say(InterviewerMessage(body, title="interviewer"), top=True)

    # -- mock interview -------------------------------------------------------------------
    def _mock_graded(self, item: MockItem, assessment: Assessment) -> None:
        item.score, item.band, item.done = assessment.score, str(assessment.band), True
        item.missed = [p.point for p in assessment.offline.missed]
        if assessment.llm:
            item.missed = assessment.llm.missing_points or item.missed
        self.maybe_report()

    def maybe_report(self) -> None:
        if not (self.mock and self.finished):
            return
        self.query_one("#timer", QuestionTimer).finish()
        pending = sum(1 for i in self.mock_items if not i.done)
        if pending:
            self.status.show(f"grading your answers ({pending} left)…", busy=True)
            return
        self.status.show("mock interview finished · ctrl+n shows the report again")
        self._editor_for("mock interview finished")
        from interviewer.tui.screens.report import ReportScreen, build_report

        self.report = build_report(self.mock_items)
        self.app.push_screen(ReportScreen(self.report))
