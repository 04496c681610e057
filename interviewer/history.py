"""Practice history in SQLite: every attempt, the review schedule, stats and export.

An attempt is written when the answer is submitted, *before* grading starts, and updated when
the grade arrives, so a crash, a kill or a grader error never loses an answer. Schema changes
are numbered migrations applied in order and recorded in ``PRAGMA user_version``.
No API key or other secret is ever written here: only model names and prompt versions.
"""

from __future__ import annotations

import csv
import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from interviewer.csv_cells import csv_cell
from interviewer.scheduling import ReviewState

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
)


class HistoryError(RuntimeError):
    """The history database cannot be used (newer schema, corrupt file, bad export path)."""


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

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        try:
            if str(path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise HistoryError(
                f"cannot create the data dir {self.path.parent}: {exc.strerror or exc}"
            ) from exc
        try:
            self._db = sqlite3.connect(str(path), check_same_thread=False, timeout=10)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA foreign_keys = ON")
            if str(path) != ":memory:":
                self._db.execute("PRAGMA journal_mode = WAL")
            self.migrate()
        except sqlite3.DatabaseError as exc:
            raise HistoryError(f"cannot open history database {self.path}: {exc}") from exc

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
                    f"({SCHEMA_VERSION}): upgrade interviewer"
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

    def record_grade(self, attempt_id: int, g: GradeUpdate) -> None:
        with self._tx() as db:
            db.execute(
                """UPDATE attempts SET score=?, band=?, grader=?, offline_grade=?, llm_grade=?,
                   embedding_model=COALESCE(?, embedding_model),
                   calibration_version=COALESCE(?, calibration_version),
                   llm_model=COALESCE(?, llm_model), prompt_version=COALESCE(?, prompt_version),
                   graded_at=?, status=?, error=NULL WHERE id=?""",
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
                    attempt_id,
                ),
            )

    def record_error(self, attempt_id: int, message: str) -> None:
        """Grading failed: the answer stays, marked so it can be graded again later."""
        with self._tx() as db:
            db.execute(
                "UPDATE attempts SET status='error', error=? WHERE id=?", (message[:2000], attempt_id)
            )

    def set_hints(self, attempt_id: int, hints_used: int, reference_shown: bool) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE attempts SET hints_used=?, reference_shown=? WHERE id=?",
                (hints_used, int(reference_shown), attempt_id),
            )

    def attempt(self, attempt_id: int) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM attempts WHERE id=?", (attempt_id,)).fetchone()
        return None if row is None else _row_dict(row)

    def attempts(self, limit: int | None = None) -> list[dict[str, Any]]:
        """All attempts, oldest first (the most recent `limit` if given)."""
        sql = "SELECT * FROM attempts ORDER BY id"
        with self._lock:
            rows = self._db.execute(sql).fetchall()
        out = [_row_dict(r) for r in rows]
        return out[-limit:] if limit else out

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
    def review_state(self, question_id: str) -> ReviewState | None:
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM review_state WHERE question_id=?", (question_id,)
            ).fetchone()
        return None if row is None else _state(row)

    def review_states(self) -> dict[str, ReviewState]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM review_state").fetchall()
        return {r["question_id"]: _state(r) for r in rows}

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
