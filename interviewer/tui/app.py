"""The practice TUI: an interviewer that asks, listens, grades and remembers.

Start-up is kept under a second by doing only cheap work on the UI thread (parse the bank,
open the history, show the first question). The embedding model, the index and the grader are
built by a thread worker; answers submitted before it is ready are saved at once and graded
when it is. Heavy modules (sentence-transformers, chromadb, openai) are imported only there.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel
from textual import work
from textual.app import App
from textual.binding import Binding

from interviewer.bank.models import Bank, Question
from interviewer.config import Settings
from interviewer.grading.models import Assessment, Citation, Grade
from interviewer.history import History, utcnow
from interviewer.scheduling import next_due, review_order

Mode = Literal["practice", "mock", "review"]
MOCK_DEFAULT_COUNT = 5


class Backend(Protocol):
    """What the TUI needs from grading: `interviewer.assessor.Assessor` provides it."""

    @property
    def llm_status(self) -> tuple[bool, str]: ...

    def offline(self, req: Any) -> Grade: ...

    def assess(self, req: Any, offline: Grade | None = None) -> Assessment: ...

    def chat(self, req: Any, assessment: Assessment, message: str) -> tuple[str, list[Citation]]: ...


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


def load_bank_cached(settings: Settings) -> Bank:
    """The bank, from a JSON cache in the data dir when no document or parser file changed.

    Parsing the corpus costs a few hundred milliseconds of the one-second start-up budget;
    validating the cached JSON costs a few tens. Any change to a document, the curation file
    or the bank package's code invalidates the cache.
    """
    import json

    import interviewer
    from interviewer.bank import loader

    folders = loader.bank_folders(settings.user_corpus_dir)
    code = Path(loader.__file__).parent
    files = [p for f in folders for p in [f, *loader.document_files(f), f / loader.CURATION]]
    files += sorted(code.glob("*.py"))
    stamp = json.dumps(
        [interviewer.__version__]
        + [[str(p), p.stat().st_mtime_ns, p.stat().st_size] for p in files if p.exists()]
    )
    cache = settings.data_dir / "bank-cache.json"
    try:
        data = json.loads(cache.read_text("utf-8"))
        if data.get("stamp") == stamp:
            return Bank.model_validate(data["bank"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    bank = loader.load_bank(settings)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        tmp.write_text(json.dumps({"stamp": stamp, "bank": bank.model_dump(mode="json")}), "utf-8")
        tmp.replace(cache)
    except OSError:  # a read-only data dir only costs speed
        pass
    return bank


def default_backend_factory(settings: Settings, bank: Bank) -> Backend:
    """The real grader: bundled embedder, the passage index, Grader and Assessor.

    Runs in a worker thread; every heavy import happens here.
    """
    from interviewer.assessor import Assessor
    from interviewer.embedding import get_embedder
    from interviewer.grader import Grader

    embedder = get_embedder(settings.embedding_model)
    embedder.load()
    store = None
    try:
        from interviewer.store import Store

        store = Store(settings, embedder)
        store.ensure_index(bank)
    except Exception:  # no index: grade against the question's own reference passages
        store = None
    grader = Grader(embedder, bank=bank, store=store)
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
        self.llm_on = False
        self.llm_reason = ""
        self.first_question_at: float | None = None
        self.first_deck: list[Question] = []
        self.backend_shown = False  # the screens know the grader's final state

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
        self.load_backend()

    @work(thread=True, exclusive=True, group="backend")
    def load_backend(self) -> None:
        try:
            backend = self.backend_factory(self.settings, self.bank)
            self._warm_up(backend)
            on, reason = backend.llm_status
            if self.settings.offline:
                on, reason = False, "offline mode"
            self.backend, self.llm_on, self.llm_reason = backend, on, reason
        except Exception as exc:  # shown to the user; answers are still saved
            self.backend_error = f"{type(exc).__name__}: {exc}"
        finally:
            self.backend_ready.set()
        self.call_from_thread(self._backend_loaded)

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

    def status_text(self) -> str:
        if not self.backend_ready.is_set():
            return "grader: loading…"
        if self.backend is None:
            return "grader: unavailable"
        return "grader: ready · LLM " + ("on" if self.llm_on else "off")

    # -- sessions -------------------------------------------------------------------------
    def start_session(self, config: SessionConfig) -> None:
        """A new deck from the chooser: replaces the practice screen."""
        from interviewer.tui.screens.practice import PracticeScreen

        self.config = config
        deck, message = build_deck(self.bank, config, self.history)
        self.switch_screen(PracticeScreen(config, deck, empty_message=message))

    # -- global actions -------------------------------------------------------------------
    def action_help(self) -> None:
        from interviewer.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_stats(self) -> None:
        from interviewer.tui.screens.stats import StatsScreen

        if not isinstance(self.screen, StatsScreen):
            self.push_screen(StatsScreen(self.history.stats()))

    def action_deck(self) -> None:
        from interviewer.tui.screens.start import StartScreen

        if isinstance(self.screen, StartScreen):
            return

        def chosen(config: SessionConfig | None) -> None:
            if config is not None:
                self.start_session(config)

        self.push_screen(StartScreen(self.bank, self.config), chosen)


def run_app(
    settings: Settings, bank: Bank, config: SessionConfig, history_path: Path | None = None
) -> None:
    history = History(history_path or settings.history_db)
    try:
        InterviewerApp(settings, bank, config, history=history).run()
    finally:
        history.close()
