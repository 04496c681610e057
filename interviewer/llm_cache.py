"""A SQLite cache of LLM grades, so re-grading the same answer costs no second call.

Keyed by a sha256 of (model, prompt version, question, answer, passages): change any of them
(a new prompt version, a re-indexed passage) and the old entry is simply never hit again.
Only checked grades are stored; nothing secret is (an LlmGrade holds no key).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from interviewer.grading.models import LlmGrade

SCHEMA = """
CREATE TABLE IF NOT EXISTS llm_grades (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    prompt_version TEXT NOT NULL,
    created REAL NOT NULL,
    grade TEXT NOT NULL
)
"""


def cache_key(
    model: str,
    prompt_version: str,
    question: str,
    answer: str,
    passages: Iterable[tuple[str, str, str]],
    endpoint: str = "",
) -> str:
    """sha256 over the exact inputs; passages as (id, source, text) in the order they were sent.

    The endpoint is part of it: two servers can serve different models under one name.
    """
    fields: dict[str, object] = {
        "model": model,
        "prompt_version": prompt_version,
        "question": question,
        "answer": answer,
        "passages": [list(p) for p in passages],
    }
    endpoint = endpoint.rstrip("/")
    if endpoint:  # absent for the default endpoint: its cached grades still count
        fields["endpoint"] = endpoint
    payload = json.dumps(
        fields,
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class LlmCache:
    """Thread-safe get/put of LlmGrade by key; a broken cache file never breaks grading."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._ready = False

    def _connect(self) -> sqlite3.Connection:
        if not self._ready:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=10)
        if not self._ready:
            conn.execute(SCHEMA)
            conn.commit()
            self._ready = True
        return conn

    def get(self, key: str) -> LlmGrade | None:
        with self._lock:
            try:
                conn = self._connect()
                try:
                    row = conn.execute(
                        "SELECT grade FROM llm_grades WHERE key = ?", (key,)
                    ).fetchone()
                finally:
                    conn.close()
            except (sqlite3.Error, OSError):
                return None
        if row is None:
            return None
        try:
            grade = LlmGrade.model_validate_json(row[0])
        except ValueError:
            return None
        return grade.model_copy(update={"cached": True})

    def put(self, key: str, grade: LlmGrade) -> None:
        data = grade.model_copy(update={"cached": False}).model_dump_json()
        with self._lock:
            try:
                conn = self._connect()
                try:
                    conn.execute(
                        "INSERT OR REPLACE INTO llm_grades VALUES (?, ?, ?, ?, ?)",
                        (key, grade.model, grade.prompt_version, time.time(), data),
                    )
                    conn.commit()
                finally:
                    conn.close()
            except (sqlite3.Error, OSError):
                pass  # a read-only or locked cache only costs a repeated call

    def __len__(self) -> int:
        with self._lock:
            try:
                conn = self._connect()
                try:
                    return int(conn.execute("SELECT COUNT(*) FROM llm_grades").fetchone()[0])
                finally:
                    conn.close()
            except (sqlite3.Error, OSError):
                return 0
