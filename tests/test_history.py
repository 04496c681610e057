"""SQLite history: saved before grading, updated after, migrations, stats, export, no secrets."""

from __future__ import annotations

import csv
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from interviewer.history import (
    SCHEMA_VERSION,
    GradeUpdate,
    History,
    HistoryError,
    NewAttempt,
    sparkline,
)
from interviewer.scheduling import ReviewState, review


def _attempt(h: History, qid: str, score: float | None, topics: list[str], day: int = 1) -> int:
    aid = h.add_attempt(
        NewAttempt(
            question=f"What is {qid}?",
            answer=f"answer to {qid}",
            question_id=qid,
            topics=topics,
            submitted_at=datetime(2026, 1, day, tzinfo=UTC),
        )
    )
    if score is not None:
        h.record_grade(aid, GradeUpdate(score=score, band="good", grader="offline",
                                        offline_grade={"score": score}))
    return aid


def test_attempt_saved_before_grading_then_updated(tmp_path: Path) -> None:
    h = History(tmp_path / "h.sqlite3")
    aid = _attempt(h, "000-1", None, ["cnn"])
    row = h.attempt(aid)
    assert row is not None and row["status"] == "pending" and row["answer"] == "answer to 000-1"
    assert row["score"] is None
    h.record_grade(aid, GradeUpdate(score=7.5, band="good", grader="offline",
                                    offline_grade={"score": 7.5}, embedding_model="m"))
    row = h.attempt(aid)
    assert row is not None
    assert row["status"] == "graded" and row["score"] == 7.5 and row["offline_grade"] == {"score": 7.5}
    assert row["graded_at"] and row["embedding_model"] == "m"


def test_answer_survives_grading_error_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    h = History(path)
    aid = _attempt(h, "000-2", None, [])
    h.record_error(aid, "grader exploded")
    h.close()
    row = History(path).attempt(aid)
    assert row is not None and row["status"] == "error" and row["error"] == "grader exploded"
    assert row["answer"] == "answer to 000-2"


def test_migrations_versioned_and_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    History(path).close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    db.close()
    History(path).close()  # second open applies nothing and does not fail
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(HistoryError, match="newer"):
        History(path)


def test_a_version_1_database_is_migrated_and_keeps_its_answers(tmp_path: Path) -> None:
    from interviewer.history import MIGRATIONS

    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript("BEGIN;" + MIGRATIONS[0] + "; PRAGMA user_version = 1; COMMIT;")
    db.execute("INSERT INTO attempts (session_id, question, answer, submitted_at) "
               "VALUES ('s1', 'q', 'kept', 'now')")
    db.commit()
    db.close()
    h = History(path)
    assert h.version == SCHEMA_VERSION
    (row,) = h.attempts()
    assert row["answer"] == "kept" and row["follow_point"] is None
    fid = h.add_attempt(NewAttempt(question="follow", answer="a", kind="follow_up",
                                   session_id="s1", follow_point="the point"))
    assert h.attempt(fid)["follow_point"] == "the point"  # type: ignore[index]
    assert [r["id"] for r in h.ungraded()] == [row["id"], fid]
    h.close()


def test_stats_by_topic_weakest_and_trend(tmp_path: Path) -> None:
    h = History(tmp_path / "h.sqlite3")
    _attempt(h, "a", 2.0, ["cnn"], day=1)
    _attempt(h, "a", 4.0, ["cnn"], day=2)
    _attempt(h, "b", 9.0, ["rnn", "training"], day=2)
    _attempt(h, "c", None, ["rnn"], day=3)  # ungraded: counted as attempt, not in averages
    s = h.stats()
    assert s.attempts == 4 and s.graded == 3
    assert s.average == pytest.approx(5.0)
    assert [t.topic for t in s.by_topic] == ["cnn", "rnn", "training"]
    assert s.by_topic[0].average == pytest.approx(3.0)
    assert s.weakest[0].question_id == "a" and s.weakest[0].attempts == 2
    assert s.trend == [2.0, 4.0, 9.0]
    assert [d[0] for d in s.daily] == ["2026-01-01", "2026-01-02"]


def test_review_state_roundtrip_and_due_count(tmp_path: Path) -> None:
    h = History(tmp_path / "h.sqlite3")
    now = datetime(2026, 1, 1, tzinfo=UTC)
    st = review(ReviewState(question_id="q1"), 3.0, now)
    h.save_review_state(st)
    h.save_review_state(review(ReviewState(question_id="q2"), 9.0, now))
    assert h.review_state("q1") == st
    assert set(h.review_states()) == {"q1", "q2"}
    assert h.stats(now=now + timedelta(hours=1)).due_now == 1
    h.save_review_state(review(st, 8.0, now + timedelta(hours=1)))
    assert h.review_state("q1").repetitions == 1  # type: ignore[union-attr]


def test_export_csv_and_jsonl(tmp_path: Path) -> None:
    h = History(tmp_path / "h.sqlite3")
    _attempt(h, "a", 6.0, ["cnn"])
    _attempt(h, "b", None, [])
    n = h.export(tmp_path / "out.csv")
    rows = list(csv.DictReader((tmp_path / "out.csv").open()))
    assert n == 2 and rows[0]["question_id"] == "a" and rows[0]["score"] == "6.0"
    assert json.loads(rows[0]["topics"]) == ["cnn"]
    h.export(tmp_path / "out.jsonl")
    lines = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [x["question_id"] for x in lines] == ["a", "b"]
    assert lines[0]["offline_grade"] == {"score": 6.0}
    with pytest.raises(HistoryError, match="csv"):
        h.export(tmp_path / "out.xlsx")


def test_no_api_key_in_schema_or_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-should-not-appear")
    h = History(tmp_path / "h.sqlite3")
    _attempt(h, "a", 5.0, [])
    h.close()
    raw = (tmp_path / "h.sqlite3").read_bytes()
    wal = tmp_path / "h.sqlite3-wal"
    if wal.exists():
        raw += wal.read_bytes()
    assert b"sk-secret" not in raw
    assert "key" not in " ".join(
        r[1] for r in sqlite3.connect(tmp_path / "h.sqlite3").execute("PRAGMA table_info(attempts)")
    )


def test_sparkline_scales() -> None:
    assert sparkline([0, 10]) == "▁█"
    assert len(sparkline(list(range(100)), width=10)) == 10


def test_stats_and_history_commands(isolated_dirs: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from interviewer.cli import app
    from interviewer.config import load_settings

    runner = CliRunner()
    empty = runner.invoke(app, ["stats"])
    assert empty.exit_code == 0 and "No history yet" in empty.output
    h = History(load_settings().history_db)
    main = _attempt(h, "000-1", 3.0, ["cnn"])
    _attempt(h, "000-2", 8.0, ["rnn"])
    h.close()
    out = runner.invoke(app, ["stats"])
    assert out.exit_code == 0, out.output
    assert "2 attempts" in out.output and "cnn" in out.output and "000-1" in out.output
    listing = runner.invoke(app, ["history"], env={"COLUMNS": "160"})
    assert listing.exit_code == 0 and "000-2" in listing.output
    assert "follow-up" not in listing.output
    for limit in ("0", "-3"):
        refused = runner.invoke(app, ["history", "--limit", limit])
        assert refused.exit_code == 2 and "--limit" in refused.output
    h = History(load_settings().history_db)
    h.add_attempt(NewAttempt(question="Can you say more?", answer="More.", question_id="000-1",
                             kind="follow_up", parent_id=main))
    h.close()
    listing = runner.invoke(app, ["history", "--limit", "1"], env={"COLUMNS": "160"})
    assert "000-1 ↳ follow-up: Can you say more?" in listing.output
    assert "000-2" not in listing.output
    target = tmp_path / "out" / "h.jsonl"
    exp = runner.invoke(app, ["history", "--export", str(target)])
    assert exp.exit_code == 0 and "wrote 3 attempts" in exp.output
    assert len(target.read_text().splitlines()) == 3
    again = runner.invoke(app, ["history", "--export", str(target)])  # never clobbered unasked
    assert again.exit_code == 2 and "--overwrite" in again.output
    assert len(target.read_text().splitlines()) == 3
    forced = runner.invoke(app, ["history", "--export", str(target), "--overwrite"])
    assert forced.exit_code == 0 and "wrote 3 attempts" in forced.output
    bad = runner.invoke(app, ["history", "--export", str(tmp_path / "h.xlsx")])
    assert bad.exit_code == 2 and "Traceback" not in bad.output


def _damage(path: Path) -> None:
    """Scribble over the pages after the header: the file still opens as SQLite."""
    data = bytearray(path.read_bytes())
    for i in range(4096 + 100, min(len(data), 4096 * 3), 7):
        data[i] = 0xAB
    path.write_bytes(bytes(data))


def test_a_damaged_history_is_refused_with_a_way_out(isolated_dirs: Path) -> None:
    from typer.testing import CliRunner

    from interviewer.cli import app
    from interviewer.config import load_settings

    path = load_settings().history_db
    h = History(path)
    for k in range(60):
        _attempt(h, f"000-{k % 20 + 1}", 5.0, ["cnn", "training"])
    h.close()
    _damage(path)
    with pytest.raises(HistoryError, match="is damaged") as err:
        History(path)
    assert err.value.hint and "move it aside" in err.value.hint
    runner = CliRunner()
    for args in (["stats"], ["history"], ["history", "--export", str(path.parent / "x.csv")]):
        out = runner.invoke(app, args)
        assert out.exit_code == 2, (args, out.output)
        assert "is damaged" in out.output and "Traceback" not in out.output


def test_read_only_open_reads_and_never_writes(tmp_path: Path) -> None:
    """stats and export open the file read-only: they work where the data dir is read-only,
    and a write through such a handle is a HistoryError that names the folder, not a crash."""
    path = tmp_path / "h.sqlite3"
    h = History(path)
    _attempt(h, "000-1", 4.0, ["cnn"])
    h.close()
    before = path.read_bytes()
    ro = History(path, read_only=True)
    assert ro.stats().attempts == 1 and len(ro.attempts()) == 1
    with pytest.raises(HistoryError, match="cannot write") as err:
        _attempt(ro, "000-2", None, [])
    assert err.value.hint and "--data-dir" in err.value.hint
    ro.close()
    assert path.read_bytes() == before
    with pytest.raises(HistoryError, match="does not exist"):
        History(tmp_path / "none.sqlite3", read_only=True)
