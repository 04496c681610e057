"""The practice TUI: an interviewer that asks, listens, grades and remembers.

Start-up is kept under a second by doing only cheap work on the UI thread (parse the bank,
open the history, show the first question). The embedding model, the index and the grader are
built by a thread worker; answers submitted before it is ready are saved at once and graded
when it is. Heavy modules (sentence-transformers, chromadb, openai) are imported only there.
"""

from __future__ import annotations

import contextlib
import inspect
import random
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel
from textual.app import App
from textual.binding import Binding
from textual.widget import Widget

from interviewer.bank.models import Bank, Question
from interviewer.config import Settings
from interviewer.grading.models import Assessment, ChatReply, FollowUpExchange, Grade
from interviewer.history import GradeUpdate, History, HistoryError, utcnow
from interviewer.scheduling import ReviewState, next_due, review, review_order

if TYPE_CHECKING:
    from interviewer.tui.screens.practice import PracticeScreen

Mode = Literal["practice", "mock", "review"]
MOCK_DEFAULT_COUNT = 5


class Backend(Protocol):
    """What the TUI needs from grading: `interviewer.assessor.Assessor` provides it."""

    @property
    def llm_status(self) -> tuple[bool, str]: ...

    def offline(self, req: Any) -> Grade: ...

    def assess(self, req: Any, offline: Grade | None = None) -> Assessment: ...

    def chat(
        self, req: Any, assessment: Assessment, message: str,
        follow_up: FollowUpExchange | None = None,
    ) -> ChatReply: ...


BackendFactory = Callable[[Settings, Bank], Backend]


class SessionConfig(BaseModel):
    """Which questions, in which mode."""

    mode: Mode = "practice"
    source: str | None = None
    topic: str | None = None
    count: int | None = None
    seed: int | None = None

    def describe(self) -> str:
        what = []
        if self.source:
            what.append(f"source {self.source}")
        if self.topic:
            what.append(f"topic {self.topic}")
        return ", ".join(what) or "all sources"


class GraderUnavailable(RuntimeError):
    """The grading backend could not be built (model or index failed to load)."""


def build_deck(
    bank: Bank, config: SessionConfig, history: History | None, now: datetime | None = None
) -> tuple[list[Question], str | None]:
    """The questions of a session, and a message when there are none to ask."""
    base = bank.deck(source=config.source, topic=config.topic)
    if not base:
        return [], f"no questions for {config.describe()} (thin questions are excluded)"
    if config.mode == "review":
        states = history.review_states() if history else {}
        rng = random.Random(config.seed)
        ids = [q.id for q in base]
        rng.shuffle(ids)  # new questions in random order; due ones by due date
        order = review_order(ids, states, now or utcnow())
        deck = [q for q in (bank.get(i) for i in order) if q is not None]
        if not deck:
            due = next_due(s for k, s in states.items() if k in set(ids))
            when = f"; next due {due:%Y-%m-%d %H:%M} UTC" if due else ""
            return [], f"nothing to review for {config.describe()}{when}"
    else:
        deck = list(base)
        random.Random(config.seed).shuffle(deck)
    count = config.count or (MOCK_DEFAULT_COUNT if config.mode == "mock" else None)
    return (deck[:count] if count else deck), None


def default_backend_factory(
    settings: Settings, bank: Bank, phase: Callable[[str], None] = lambda _: None
) -> Backend:
    """The real grader: bundled embedder, the passage index, Grader and Assessor.

    Runs in a worker thread; every heavy import happens here. `phase` hears what it is doing:
    a first launch builds the index, which takes a while on a busy machine.
    """
    from interviewer.assessor import Assessor
    from interviewer.embedding import get_embedder
    from interviewer.grader import Grader

    phase("loading the model…")
    embedder = get_embedder(settings.embedding_model)
    embedder.load()
    store = None
    try:
        from interviewer.store import Store

        phase("opening the index…")
        store = Store(settings, embedder)

        def indexing(done: int, total: int) -> None:
            if total:  # nothing to embed (every launch after the first): nothing to say
                phase(f"indexing {done}/{total} passages…")

        store.ensure_index(bank, progress=indexing)
    except Exception:  # no index: grade against the question's own reference passages
        store = None
    grader = Grader(embedder, bank=bank, store=store, cache_path=settings.bank_encodings)
    # From disk in a fraction of a second; the very first launch embeds the bank once (~10 s,
    # while the user reads the first question) so no later grade waits for a reference.
    phase("preparing the references…")
    grader.warm(lambda done, total: phase(f"preparing the references {done}/{total}…"))
    return Assessor(settings, grader)  # type: ignore[return-value]


class InterviewerApp(App[None]):
    """The practice app. Everything slow is injected or loaded in the background."""

    CSS_PATH = "app.tcss"
    TITLE = "interviewer"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("f1", "help", "Help"),
        Binding("f2", "stats", "Stats"),
        Binding("ctrl+o", "deck", "Deck"),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(
        self,
        settings: Settings,
        bank: Bank,
        config: SessionConfig | None = None,
        *,
        deck: list[Question] | None = None,
        history: History | None = None,
        backend_factory: BackendFactory | None = None,
        clock: Callable[[], float] = time.monotonic,
        warm_up: bool = True,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.bank = bank
        self.config = config or SessionConfig()
        self.initial_deck = deck
        self.history = history if history is not None else History(settings.history_db)
        self.backend_factory = backend_factory or default_backend_factory
        self.clock = clock
        self.warm_up = warm_up
        self.session_id = uuid.uuid4().hex[:12]
        self.source_titles = {s.id: s.title for s in bank.sources}
        self.backend: Backend | None = None
        self.backend_error: str | None = None
        self.backend_ready = threading.Event()
        self.loading_phase = "loading…"
        self.llm_on = False
        self.llm_reason = ""
        self.first_question_at: float | None = None
        self.first_deck: list[Question] = []
        self.backend_shown = False  # the screens know the grader's final state
        self._backend_started = False
        self.regraded = 0
        self.llm_said = False  # the LLM's status is said once per run, not once per deck
        self._grading = 0
        self._grading_done = threading.Condition()

    # -- start-up -------------------------------------------------------------------------
    def on_mount(self) -> None:
        from interviewer.tui.screens.practice import PracticeScreen

        deck, message = (
            (self.initial_deck, None)
            if self.initial_deck is not None
            else build_deck(self.bank, self.config, self.history)
        )
        self.first_deck = deck
        self.push_screen(PracticeScreen(self.config, deck, empty_message=message))
        # Importing torch in a thread competes for the GIL: the practice screen starts the
        # loading once the first question is painted; this timer is only a fallback.
        self.set_timer(1.0, self.start_backend)

    def start_backend(self) -> None:
        """Load the grader in the background, once."""
        if not self._backend_started:
            self._backend_started = True
            self.load_backend()

    def load_backend(self) -> None:
        self.in_thread(self._load_backend, "backend", tracked=False)

    def _load_backend(self) -> None:
        try:
            factory: Any = self.backend_factory
            if "phase" in inspect.signature(factory).parameters:
                backend = factory(self.settings, self.bank, phase=self._loading)
            else:  # a test's factory
                backend = factory(self.settings, self.bank)
            self._warm_up(backend)
            on, reason = backend.llm_status
            if self.settings.offline:
                on, reason = False, "LLM rubric off (--offline): grading offline only."
            self.backend, self.llm_on, self.llm_reason = backend, on, reason
        except Exception as exc:  # shown to the user; answers are still saved
            self.backend_error = f"{type(exc).__name__}: {exc}"
        finally:
            self.backend_ready.set()
        self.ui(self._backend_loaded)
        if self.backend is not None:
            with contextlib.suppress(Exception):  # a convenience: never disturb the session
                self._regrade_saved(self.backend)
            if self.regraded:
                self.ui(self.notify, f"Graded {self.regraded} answer(s) saved by an earlier "
                        "session: see `interviewer history`.")

    def _warm_up(self, backend: Backend) -> None:
        """Grade a throw-away answer so the first real grade does not pay for cold caches."""
        if not self.warm_up:
            return
        deck = self.first_deck or self.bank.deck()
        if not deck:
            return
        q = deck[0]
        try:
            from interviewer.grader import GradeRequest

            backend.offline(GradeRequest(answer=q.question, question=q.question, question_id=q.id))
        except Exception:  # a real grade will report the problem
            pass

    def _regrade_saved(self, backend: Backend) -> None:
        """Grade answers an earlier session saved but could not grade (killed, grader failed)."""
        from interviewer.embedding import model_id
        from interviewer.grader import GradeRequest

        for row in self.history.ungraded(exclude_session=self.session_id):
            try:
                follow_point = row.get("follow_point") if row.get("kind") == "follow_up" else None
                # A follow-up is graded with its bank question as context (empty: the grader
                # takes the bank's), as in the session: the follow-up's text quotes the point.
                grade = backend.offline(GradeRequest(
                    answer=row["answer"], question="" if follow_point else row["question"],
                    question_id=row["question_id"],
                    key_points=[follow_point] if follow_point else None,
                ))
            except Exception as exc:  # still failing: keep the answer and the reason
                self.history.record_error(row["id"], f"{type(exc).__name__}: {exc}")
                continue
            self.history.record_grade(
                row["id"], GradeUpdate.offline(grade, model_id(self.settings.embedding_model)))
            self.regraded += 1
            if row.get("kind") == "main" and row.get("question_id"):
                with contextlib.suppress(Exception):  # the attempt is saved; this is a convenience
                    self._schedule_late(row["question_id"], grade.score, row["submitted_at"])

    def _schedule_late(self, question_id: str, score: float, submitted_at: str) -> None:
        """A main answer graded after the fact moves its question in the review schedule, as if
        graded when it was sent, unless the question has been reviewed since."""
        when = datetime.fromisoformat(submitted_at)
        state = self.history.review_state(question_id) or ReviewState(question_id=question_id)
        if state.last_reviewed_at is not None and state.last_reviewed_at > when:
            return
        self.history.save_review_state(review(state, score, when))

    def _backend_loaded(self) -> None:
        self.backend_shown = True
        for screen in self.screen_stack:
            hook = getattr(screen, "backend_changed", None)
            if hook is not None:
                hook()

    def get_backend(self, timeout: float | None = None) -> Backend:
        """Block (in a worker thread) until the grader is ready."""
        if not self.backend_ready.wait(timeout):
            raise GraderUnavailable("the grader is still loading")
        if self.backend is None:
            raise GraderUnavailable(f"the grader could not be loaded: {self.backend_error}")
        return self.backend

    def in_thread(self, fn: Callable[[], None], name: str, tracked: bool = True) -> None:
        """Run slow work in a daemon thread.

        Not a Textual thread worker: those run in asyncio's default executor, which the event
        loop waits for on exit, so quitting would hang until a torch import finished. Tracked
        jobs (grading) are waited for briefly after quitting, so their results reach the history.
        """
        if tracked:
            with self._grading_done:
                self._grading += 1

        def run() -> None:
            try:
                fn()
            except Exception as exc:  # every job reports its own errors; this is a last resort
                self.ui(self.notify, f"{type(exc).__name__}: {exc}", severity="error")
            finally:
                if tracked:
                    with self._grading_done:
                        self._grading -= 1
                        self._grading_done.notify_all()

        threading.Thread(target=run, name=f"interviewer-{name}", daemon=True).start()

    def ui(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """call_from_thread that is silent once the app has closed (a late grade is still
        in the history; there is just no screen left to show it on)."""
        owner = getattr(fn, "__self__", None)

        def gone() -> bool:
            # A deck chosen since replaced the screen this was for: the grade is in the
            # history, and the new screen is not the place to show it. A screen being removed
            # is still attached while its widgets go: `_pruning` says so.
            return isinstance(owner, Widget) and (
                not owner.is_attached or getattr(owner, "_pruning", False))

        def run() -> None:
            if gone():
                return
            try:
                fn(*args, **kwargs)
            except Exception as exc:
                # Never raised in the worker: its job (a grade reaching the history) is not
                # the UI's to fail. A screen that went meanwhile has nothing to show.
                if not gone():
                    self.notify(f"{type(exc).__name__}: {exc}", severity="error")

        # Closing or closed: call_from_thread would leave a coroutine unawaited. (Not
        # `is_running`: that is still False while the app starts, when a quickly loaded grader
        # must still be announced.)
        if getattr(self, "_closing", False) or getattr(self, "_closed", False):
            return
        with contextlib.suppress(RuntimeError):
            self.call_from_thread(run)

    def wait_for_grading(self, timeout: float) -> bool:
        """After the UI closed: let grades in flight reach the history (True if all did)."""
        if not self.backend_ready.is_set():  # jobs are waiting for the grader: nothing to save
            return self._grading == 0
        with self._grading_done:
            return self._grading_done.wait_for(lambda: self._grading == 0, timeout)

    def _loading(self, what: str) -> None:
        """Worker thread: the grader's loading phase, for the title bar."""
        if what != self.loading_phase:
            self.loading_phase = what
            self.ui(self._phase_changed)

    def _phase_changed(self) -> None:
        for screen in self.screen_stack:
            update = getattr(screen, "update_title", None)
            if update is not None:
                update()

    def status_text(self) -> str:
        if not self.backend_ready.is_set():
            return f"grader: {self.loading_phase}"
        if self.backend is None:
            return "grader: unavailable"
        return "grader: ready · LLM " + ("on" if self.llm_on else "off")

    # -- sessions -------------------------------------------------------------------------
    def start_session(self, config: SessionConfig) -> None:
        """A new deck from the chooser: replaces the practice screen."""
        from interviewer.tui.screens.practice import PracticeScreen

        self.config = config
        for screen in self.screen_stack:
            if isinstance(screen, PracticeScreen):
                screen.leave()
        deck, message = build_deck(self.bank, config, self.history)
        self.switch_screen(PracticeScreen(config, deck, empty_message=message))

    # -- global actions -------------------------------------------------------------------
    def action_help(self) -> None:
        from interviewer.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_stats(self) -> None:
        from interviewer.tui.screens.stats import StatsScreen

        if isinstance(self.screen, StatsScreen):
            return
        try:
            stats = self.history.stats()
        except HistoryError as exc:
            self.notify(f"{exc}" + (f"\n{exc.hint}" if exc.hint else ""),
                        title="stats unavailable", severity="error", timeout=10)
            return
        self.push_screen(StatsScreen(stats))

    async def action_quit(self) -> None:
        """Quit; text typed in the editor but not sent is warned about first (everything sent
        is already in the history), from any screen: help or stats over the practice screen
        hide the editor, not its text."""
        from interviewer.tui.screens.practice import PracticeScreen

        practice = next(
            (s for s in reversed(self.screen_stack) if isinstance(s, PracticeScreen)), None
        )
        if practice is None:
            self.exit()
            return
        # ctrl+q is a priority binding, handled as it arrives; keys typed just before it may
        # still wait in the editor's queue. Checking from that queue sees them in the text.
        practice.editor.call_later(self._quit_unless_unsent, practice)

    def _quit_unless_unsent(self, practice: PracticeScreen) -> None:
        if not practice.unsent_text_warned("ctrl+q", "quits without it"):
            practice.leave()
            self.exit()

    def action_deck(self) -> None:
        from interviewer.tui.screens.start import StartScreen

        if isinstance(self.screen, StartScreen):
            return
        from interviewer.tui.screens.practice import PracticeScreen

        if isinstance(self.screen, PracticeScreen) and self.screen.unsent_text_warned("ctrl+o"):
            return

        def chosen(config: SessionConfig | None) -> None:
            if config is not None:
                self.start_session(config)

        self.push_screen(StartScreen(self.bank, self.config), chosen)


def run_app(settings: Settings, bank: Bank, config: SessionConfig, history: History) -> None:
    """Run the app; on quit, wait briefly for grades in flight, then leave at once.

    The grader may still be loading in a thread (torch imports cannot be interrupted), and a
    loaded torch takes seconds to tear down; the process must not hang on either after the user
    quit, so it ends with os._exit once the history is closed. Answers are already saved, so
    nothing is lost.
    """
    import os
    import sys

    app = InterviewerApp(settings, bank, config, history=history)
    try:
        app.run()
    finally:
        app.wait_for_grading(timeout=3.0)
        history.close()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(app.return_code or 0)
