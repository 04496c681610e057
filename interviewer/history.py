"""Practice history in SQLite: every attempt, the review schedule, stats and export.

An attempt is written when the answer is submitted, *before* grading starts, and updated when
the grade arrives, so a crash, a kill or a grader error never loses an answer. Schema changes
are numbered migrations applied in order and recorded in ``PRAGMA user_version``.
No API key or other secret is ever written here: only model names and prompt versions.
"""

from __future__ import annotations

import csv
import functools
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, Field

from interviewer.csv_cells import csv_cell
from interviewer.scheduling import ReviewState

if TYPE_CHECKING:  # pragma: no cover
    from interviewer.grading.models import Assessment, Grade

_T = TypeVar("_T")

# Each entry moves the schema from version i to i + 1. Append only; never edit a shipped one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE attempts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id TEXT NOT NULL DEFAULT '',
        question_id TEXT,
        question TEXT NOT NULL,
        answer TEXT NOT NULL,
        mode TEXT NOT NULL DEFAULT 'practice',
        kind TEXT NOT NULL DEFAULT 'main',
        parent_id INTEGER REFERENCES attempts(id),
        status TEXT NOT NULL DEFAULT 'pending',
        started_at TEXT,
        submitted_at TEXT NOT NULL,
        graded_at TEXT,
        hints_used INTEGER NOT NULL DEFAULT 0,
        reference_shown INTEGER NOT NULL DEFAULT 0,
        offline_grade TEXT,
        llm_grade TEXT,
        score REAL,
        band TEXT,
        grader TEXT,
        embedding_model TEXT,
        calibration_version TEXT,
        llm_model TEXT,
        prompt_version TEXT,
        topics TEXT NOT NULL DEFAULT '[]',
        source TEXT,
        error TEXT
    );
    CREATE INDEX attempts_question ON attempts(question_id);
    CREATE INDEX attempts_submitted ON attempts(submitted_at);
    CREATE TABLE review_state (
        question_id TEXT PRIMARY KEY,
        ease REAL NOT NULL,
        interval_days REAL NOT NULL,
        repetitions INTEGER NOT NULL,
        lapses INTEGER NOT NULL DEFAULT 0,
        due_at TEXT,
        last_score REAL,
        last_reviewed_at TEXT
    );
    """,
    # 2: the key point a follow-up answer is graded against, so a follow-up saved by a session
    # that died before grading it can be graded later, against the same point.
    """
    ALTER TABLE attempts ADD COLUMN follow_point TEXT;
    """,
    # 3: what the user was told about how the grade was reached ("LLM rubric unavailable …",
    # a disagreement), so a grade the LLM failed on is not mistaken for one made offline by choice.
    """
    ALTER TABLE attempts ADD COLUMN notice TEXT;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

EXPORT_COLUMNS = (
    "id",
    "session_id",
    "question_id",
    "question",
    "answer",
    "mode",
    "kind",
    "parent_id",
    "status",
    "started_at",
    "submitted_at",
    "graded_at",
    "hints_used",
    "reference_shown",
    "score",
    "band",
    "grader",
    "embedding_model",
    "calibration_version",
    "llm_model",
    "prompt_version",
    "topics",
    "source",
    "error",
    "offline_grade",
    "llm_grade",
    "follow_point",
    "notice",
)


class HistoryError(RuntimeError):
    """The history database cannot be used (newer schema, corrupt file, bad export path);
    `hint` is the way out."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


def _explain(path: Path, exc: sqlite3.Error) -> HistoryError:
    """What went wrong with the file, and what to do: a damaged file and a read-only folder
    need opposite advice (move the file aside; keep it and point --data-dir elsewhere)."""
    msg = str(exc)
    low = msg.lower()
    if "malformed" in low or "not a database" in low or "corrupt" in low:
        return HistoryError(
            f"the history database {path} is damaged ({msg})",
            hint=f"move it aside (e.g. `mv {path} {path}.damaged`) to start a fresh history; "
            "`sqlite3 FILE .recover` may save its rows",
        )
    if "readonly" in low or "read-only" in low or "unable to open" in low or "permission" in low:
        return HistoryError(
            f"cannot write the history database {path} ({msg}): is {path.parent} writable?",
            hint="use a writable data dir (--data-dir or INTERVIEWER_DATA_DIR); `interviewer "
            "stats` and `interviewer history` can still read it",
        )
    if "locked" in low or "busy" in low:
        return HistoryError(f"the history database {path} is locked by another process ({msg})",
                            hint="try again when the other interviewer has finished")
    if "disk" in low and "full" in low:
        return HistoryError(f"cannot write the history database {path}: the disk is full",
                            hint="free some space and try again")
    return HistoryError(f"history database {path}: {msg}")


def _db_errors(method: Callable[..., _T]) -> Callable[..., _T]:
    """SQLite's errors leave History as HistoryError, with the file and a way out."""

    @functools.wraps(method)
    def wrapper(self: History, *args: Any, **kwargs: Any) -> _T:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise _explain(self.path, exc) from exc

    return wrapper


def utcnow() -> datetime:
    return datetime.now(UTC)


def _ts(d: datetime | None) -> str | None:
    return None if d is None else d.astimezone(UTC).isoformat(timespec="milliseconds")


def _parse_ts(s: str | None) -> datetime | None:
    return None if not s else datetime.fromisoformat(s)


class NewAttempt(BaseModel):
    """What is known when the user submits: enough to never lose the answer."""

    question: str
    answer: str
    question_id: str | None = None
    session_id: str = ""
    mode: str = "practice"
    kind: str = Field(default="main", description="'main', 'follow_up' or 'chat'")
    parent_id: int | None = None
    status: str = "pending"
    started_at: datetime | None = None
    submitted_at: datetime = Field(default_factory=utcnow)
    hints_used: int = 0
    reference_shown: bool = False
    topics: list[str] = Field(default_factory=list)
    source: str | None = None
    follow_point: str | None = Field(
        default=None, description="for a follow-up: the key point it is graded against"
    )


class GradeUpdate(BaseModel):
    """What grading adds to an attempt."""

    score: float | None = None
    band: str | None = None
    grader: str | None = None
    offline_grade: dict[str, Any] | None = None
    llm_grade: dict[str, Any] | None = None
    embedding_model: str | None = None
    calibration_version: str | None = None
    llm_model: str | None = None
    prompt_version: str | None = None
    graded_at: datetime = Field(default_factory=utcnow)
    status: str = "graded"
    notice: str | None = None

    @classmethod
    def offline(
        cls, grade: Grade, embedding_model: str | None, notice: str | None = None
    ) -> GradeUpdate:
        """The offline grade alone; `notice` is what the user was told about it."""
        return cls(
            score=grade.score, band=str(grade.band), grader="offline",
            offline_grade=grade.model_dump(mode="json"), embedding_model=embedding_model,
            calibration_version=grade.calibration_version, notice=notice,
        )

    @classmethod
    def assessed(
        cls, grade: Grade, a: Assessment, embedding_model: str | None = None
    ) -> GradeUpdate:
        """The final grade once the LLM rubric has answered (or failed), the offline one kept."""
        llm = a.llm
        return cls(
            score=a.score, band=str(a.band), grader=a.grader,
            offline_grade=grade.model_dump(mode="json"),
            llm_grade=llm.model_dump(mode="json") if llm else None,
            embedding_model=embedding_model, calibration_version=grade.calibration_version,
            llm_model=llm.model if llm else None,
            prompt_version=llm.prompt_version if llm else None, notice=a.notice,
        )


class TopicStat(BaseModel):
    topic: str
    attempts: int
    average: float


class QuestionStat(BaseModel):
    question_id: str
    question: str
    attempts: int
    average: float
    last_score: float | None = None


class Stats(BaseModel):
    """What the stats screen and `interviewer stats` show."""

    attempts: int = 0
    graded: int = 0
    average: float | None = None
    by_topic: list[TopicStat] = Field(default_factory=list)
    weakest: list[QuestionStat] = Field(default_factory=list)
    trend: list[float] = Field(default_factory=list, description="main-answer scores, oldest first")
    daily: list[tuple[str, float, int]] = Field(default_factory=list, description="(day, avg, n)")
    due_now: int = 0


class History:
    """One SQLite file; safe to use from the UI thread and grading workers at once."""

    def __init__(self, path: Path | str, read_only: bool = False) -> None:
        """Open (and migrate) the file; `read_only` for stats and export, which must work on a
        history in a folder the user cannot write."""
        self.path = Path(path)
        self._lock = threading.RLock()
        memory = str(path) == ":memory:"
        try:
            if not memory and not read_only:
                self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise HistoryError(
                f"cannot create the data dir {self.path.parent}: {exc.strerror or exc}",
                hint="use a writable data dir (--data-dir or INTERVIEWER_DATA_DIR)",
            ) from exc
        try:
            if read_only:
                self._db = _connect_read_only(self.path)
            else:
                self._db = sqlite3.connect(str(path), check_same_thread=False, timeout=10)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA foreign_keys = ON")
            if not memory and not read_only:
                self._db.execute("PRAGMA journal_mode = WAL")
            if read_only:
                if self.version != SCHEMA_VERSION:
                    raise HistoryError(
                        f"{self.path} has schema version {self.version}; this interviewer reads "
                        f"version {SCHEMA_VERSION}",
                        hint="run `interviewer` once with a writable data dir to migrate it",
                    )
            else:
                self.migrate()
            # A damaged page is found now, with a way out, not in the middle of a session.
            check = self._db.execute("PRAGMA quick_check(1)").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError("database disk image is malformed: " + " ".join(str(check).split()))
        except sqlite3.Error as exc:
            raise _explain(self.path, exc) from exc

    # -- schema ---------------------------------------------------------------------------
    @property
    def version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> None:
        """Apply the migrations this file has not seen yet, each in its own transaction."""
        with self._lock:
            current = self.version
            if current > SCHEMA_VERSION:
                raise HistoryError(
                    f"{self.path} has schema version {current}, newer than this interviewer "
                    f"({SCHEMA_VERSION}): upgrade interviewer",
                    hint="pip install --upgrade interviewer, or use another --data-dir",
                )
            for i in range(current, SCHEMA_VERSION):
                # executescript commits first; BEGIN/COMMIT make each step all-or-nothing.
                try:
                    self._db.executescript(
                        "BEGIN;" + MIGRATIONS[i] + f"; PRAGMA user_version = {i + 1}; COMMIT;"
                    )
                except sqlite3.DatabaseError:
                    if self._db.in_transaction:
                        self._db.rollback()
                    raise

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._db:
            yield self._db

    # -- attempts -------------------------------------------------------------------------
    @_db_errors
    def add_attempt(self, a: NewAttempt) -> int:
        """Save an answer before grading; returns the attempt id."""
        with self._tx() as db:
            cur = db.execute(
                """INSERT INTO attempts (session_id, question_id, question, answer, mode, kind,
                   parent_id, status, started_at, submitted_at, hints_used, reference_shown,
                   topics, source, follow_point) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
                (
                    a.session_id,
                    a.question_id,
                    a.question,
                    a.answer,
                    a.mode,
                    a.kind,
                    a.parent_id,
                    a.status,
                    _ts(a.started_at),
                    _ts(a.submitted_at),
                    a.hints_used,
                    int(a.reference_shown),
                    json.dumps(a.topics),
                    a.source,
                    a.follow_point,
                ),
            )
            return int(cur.lastrowid or 0)

    @_db_errors
    def record_grade(self, attempt_id: int, g: GradeUpdate) -> None:
        with self._tx() as db:
            db.execute(
                """UPDATE attempts SET score=?, band=?, grader=?, offline_grade=?, llm_grade=?,
                   embedding_model=COALESCE(?, embedding_model),
                   calibration_version=COALESCE(?, calibration_version),
                   llm_model=COALESCE(?, llm_model), prompt_version=COALESCE(?, prompt_version),
                   graded_at=?, status=?, notice=?, error=NULL WHERE id=?""",
                (
                    g.score,
                    g.band,
                    g.grader,
                    None if g.offline_grade is None else json.dumps(g.offline_grade),
                    None if g.llm_grade is None else json.dumps(g.llm_grade),
                    g.embedding_model,
                    g.calibration_version,
                    g.llm_model,
                    g.prompt_version,
                    _ts(g.graded_at),
                    g.status,
                    g.notice,
                    attempt_id,
                ),
            )

    @_db_errors
    def record_error(self, attempt_id: int, message: str) -> None:
        """Grading failed: the answer stays, marked so it can be graded again later."""
        with self._tx() as db:
            db.execute(
                "UPDATE attempts SET status='error', error=? WHERE id=?", (message[:2000], attempt_id)
            )

    @_db_errors
    def set_hints(self, attempt_id: int, hints_used: int, reference_shown: bool) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE attempts SET hints_used=?, reference_shown=? WHERE id=?",
                (hints_used, int(reference_shown), attempt_id),
            )

    @_db_errors
    def attempt(self, attempt_id: int) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM attempts WHERE id=?", (attempt_id,)).fetchone()
        return None if row is None else _row_dict(row)

    @_db_errors
    def attempts(self, limit: int | None = None) -> list[dict[str, Any]]:
        """All attempts, oldest first (the most recent `limit` if given)."""
        sql = "SELECT * FROM attempts ORDER BY id"
        with self._lock:
            rows = self._db.execute(sql).fetchall()
        out = [_row_dict(r) for r in rows]
        return out[-limit:] if limit else out

    @_db_errors
    def ungraded(self, exclude_session: str = "", limit: int = 20) -> list[dict[str, Any]]:
        """Answers saved but never graded (the app was killed, or the grader failed): main
        answers, and follow-ups whose key point is known."""
        with self._lock:
            rows = self._db.execute(
                """SELECT * FROM attempts WHERE status IN ('pending', 'error') AND answer != ''
                   AND (kind='main' OR (kind='follow_up' AND COALESCE(follow_point, '') != ''))
                   AND session_id != ? ORDER BY id LIMIT ?""",
                (exclude_session, limit),
            ).fetchall()
        return [_row_dict(r) for r in rows]

    # -- review schedule ------------------------------------------------------------------
    @_db_errors
    def review_state(self, question_id: str) -> ReviewState | None:
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM review_state WHERE question_id=?", (question_id,)
            ).fetchone()
        return None if row is None else _state(row)

    @_db_errors
    def review_states(self) -> dict[str, ReviewState]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM review_state").fetchall()
        return {r["question_id"]: _state(r) for r in rows}

    @_db_errors
    def save_review_state(self, s: ReviewState) -> None:
        with self._tx() as db:
            db.execute(
                """INSERT INTO review_state (question_id, ease, interval_days, repetitions, lapses,
                   due_at, last_score, last_reviewed_at) VALUES (?,?,?,?,?,?,?,?)
                   ON CONFLICT(question_id) DO UPDATE SET ease=excluded.ease,
                   interval_days=excluded.interval_days, repetitions=excluded.repetitions,
                   lapses=excluded.lapses, due_at=excluded.due_at, last_score=excluded.last_score,
                   last_reviewed_at=excluded.last_reviewed_at""",
                (
                    s.question_id,
                    s.ease,
                    s.interval_days,
                    s.repetitions,
                    s.lapses,
                    _ts(s.due_at),
                    s.last_score,
                    _ts(s.last_reviewed_at),
                ),
            )

    # -- stats ----------------------------------------------------------------------------
    @_db_errors
    def stats(self, weakest: int = 5, now: datetime | None = None) -> Stats:
        """Graded main answers only: follow-ups are graded against one point, not comparable."""
        now = now or utcnow()
        with self._lock:
            db = self._db
            total = db.execute("SELECT COUNT(*) FROM attempts WHERE kind='main'").fetchone()[0]
            graded_rows = db.execute(
                """SELECT question_id, question, score, topics, submitted_at FROM attempts
                   WHERE kind='main' AND status='graded' AND score IS NOT NULL ORDER BY id"""
            ).fetchall()
            states = db.execute("SELECT due_at FROM review_state").fetchall()
        scores = [float(r["score"]) for r in graded_rows]
        topics: dict[str, list[float]] = {}
        questions: dict[str, tuple[str, list[float]]] = {}
        days: dict[str, list[float]] = {}
        for r in graded_rows:
            s = float(r["score"])
            for t in json.loads(r["topics"] or "[]"):
                topics.setdefault(t, []).append(s)
            qid = r["question_id"] or r["question"][:40]
            questions.setdefault(qid, (r["question"], []))[1].append(s)
            days.setdefault(str(r["submitted_at"])[:10], []).append(s)
        by_topic = sorted(
            (TopicStat(topic=t, attempts=len(v), average=round(sum(v) / len(v), 2))
             for t, v in topics.items()),
            key=lambda x: (x.average, x.topic),
        )
        weak = sorted(
            (
                QuestionStat(
                    question_id=qid, question=q, attempts=len(v),
                    average=round(sum(v) / len(v), 2), last_score=v[-1],
                )
                for qid, (q, v) in questions.items()
            ),
            key=lambda x: (x.average, x.question_id),
        )[:weakest]
        due = sum(1 for r in states if r["due_at"] and datetime.fromisoformat(r["due_at"]) <= now)
        return Stats(
            attempts=int(total),
            graded=len(scores),
            average=round(sum(scores) / len(scores), 2) if scores else None,
            by_topic=by_topic,
            weakest=weak,
            trend=scores,
            daily=[(d, round(sum(v) / len(v), 2), len(v)) for d, v in sorted(days.items())],
            due_now=due,
        )

    # -- export ---------------------------------------------------------------------------
    @_db_errors
    def export(self, path: Path) -> int:
        """Write every attempt to CSV or JSONL (chosen by the file's extension)."""
        suffix = path.suffix.lower()
        if suffix not in (".csv", ".jsonl", ".ndjson"):
            raise HistoryError(f"{path}: export format is chosen by extension: use .csv or .jsonl")
        rows = self.attempts()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("w", encoding="utf-8", newline="") as fh:
                if suffix == ".csv":
                    w = csv.DictWriter(fh, fieldnames=list(EXPORT_COLUMNS))
                    w.writeheader()
                    for r in rows:
                        w.writerow({k: _csv_cell(r.get(k)) for k in EXPORT_COLUMNS})
                else:
                    for r in rows:
                        fh.write(json.dumps({k: r.get(k) for k in EXPORT_COLUMNS}) + "\n")
        except OSError as exc:
            raise HistoryError(f"cannot write {path}: {exc.strerror or exc}") from exc
        return len(rows)


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """Read without writing anything, not even WAL's index file: `mode=ro` where the folder
    allows it, else `immutable=1` (nothing else can be writing to a read-only folder)."""
    if not path.is_file():
        raise sqlite3.OperationalError(f"unable to open database file: {path} does not exist")
    uri = path.resolve().as_uri()
    try:
        db = sqlite3.connect(f"{uri}?mode=ro", uri=True, check_same_thread=False, timeout=10)
        db.execute("PRAGMA user_version").fetchone()
        return db
    except sqlite3.OperationalError:
        return sqlite3.connect(f"{uri}?immutable=1", uri=True, check_same_thread=False)


def _row_dict(row: sqlite3.Row) -> dict[str, Any]:
    d = dict(row)
    for key in ("offline_grade", "llm_grade", "topics"):
        if d.get(key):
            d[key] = json.loads(d[key])
    d["reference_shown"] = bool(d.get("reference_shown"))
    return d


def _csv_cell(v: Any) -> Any:
    if isinstance(v, dict | list):
        return json.dumps(v)
    return csv_cell(v) if isinstance(v, str) else v


def _state(row: sqlite3.Row) -> ReviewState:
    return ReviewState(
        question_id=row["question_id"],
        ease=row["ease"],
        interval_days=row["interval_days"],
        repetitions=row["repetitions"],
        lapses=row["lapses"],
        due_at=_parse_ts(row["due_at"]),
        last_score=row["last_score"],
        last_reviewed_at=_parse_ts(row["last_reviewed_at"]),
    )


def sparkline(values: Sequence[float], width: int = 40, lo: float = 0.0, hi: float = 10.0) -> str:
    """Unicode sparkline of the last `width` values (for `interviewer stats`)."""
    bars = "▁▂▃▄▅▆▇█"
    vals = list(values)[-width:]
    span = (hi - lo) or 1.0
    return "".join(bars[min(7, max(0, int((v - lo) / span * 7.999)))] for v in vals)
