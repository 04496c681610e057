"""Regressions from a review of crash paths: odd LLM replies, a key echoed back, bad batch rows,
resume next to foreign lines, settings that must not echo values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from llm_server import FakeLLMServer, Reply, chat_reply
from test_llm_rubric import KEY, make, req, rubric, settings_for

from interviewer.batch import BadRow, read_graded, read_rows


def _completion(choices: Any) -> Reply:
    return Reply(body={"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                       "choices": choices})


@pytest.mark.parametrize(
    "choices",
    [
        [None],
        ["just a string"],
        {"a": 1},
        [{"index": 0, "message": "hi", "finish_reason": "stop"}],
        [{"index": 0, "message": {"role": "assistant", "content": ["a", "list"]}}],
        [{"index": 0, "message": {"role": "assistant", "content": 42}}],
    ],
)
def test_odd_completion_shapes_fall_back_to_offline(choices: Any, monkeypatch) -> None:
    with FakeLLMServer() as server:
        server.default = _completion(choices)
        assessor, _ = make(settings_for(server, monkeypatch))
        result = assessor.assess(req())
    assert result.grader == "offline"
    assert result.notice and "unavailable" in result.notice.lower()
    assert "AttributeError" not in result.notice and "KeyError" not in result.notice


def test_a_key_echoed_by_the_server_is_never_kept(monkeypatch, tmp_path) -> None:
    echo = rubric(follow_up=f"Your key is {KEY}, right?",
                  missing_points=[f"the key {KEY}"])
    with FakeLLMServer() as server:
        server.default = chat_reply(echo)
        assessor, _ = make(settings_for(server, monkeypatch))
        result = assessor.assess(req())
    dumped = result.model_dump_json()
    assert KEY not in dumped
    data_dir = Path(__import__("os").environ["INTERVIEWER_DATA_DIR"])
    for f in data_dir.rglob("*"):
        if f.is_file():
            assert KEY.encode() not in f.read_bytes(), f


def test_lone_surrogates_in_a_reply_do_not_escape(monkeypatch) -> None:
    with FakeLLMServer() as server:
        text = json.dumps(rubric(follow_up="odd \ud800 text"), ensure_ascii=True)
        server.default = chat_reply(text)
        assessor, _ = make(settings_for(server, monkeypatch))
        result = assessor.assess(req())
    result.model_dump_json()  # serialisable: nothing unencodable was kept


def test_bad_jsonl_rows_are_reported_not_raised(tmp_path: Path) -> None:
    f = tmp_path / "a.jsonl"
    deep = '{"answer":' + "[" * 50000 + "]" * 50000 + "}"
    f.write_text(
        '{"question_id":"000-1","answer":"a \\ud800 b"}\n' + deep + "\n"
        '{"question_id":"000-17","answer":"fine"}\n', encoding="utf-8",
    )
    items = list(read_rows(f, "jsonl"))
    bad = [i for i in items if isinstance(i, BadRow)]
    assert [b.line for b in bad] == [1, 2]
    assert "surrogate" in bad[0].reason and "nested" in bad[1].reason
    assert len(items) == 3


def test_resume_never_truncates_complete_foreign_lines(tmp_path: Path) -> None:
    f = tmp_path / "out.jsonl"
    f.write_text('{"note": 1}\n{"other": 2}\n{"half": ', encoding="utf-8")
    assert list(read_graded(f, "jsonl", repair=True)) == []
    assert f.read_text(encoding="utf-8") == '{"note": 1}\n{"other": 2}\n'


def test_settings_errors_never_echo_values(monkeypatch, tmp_path) -> None:
    from typer.testing import CliRunner

    from interviewer.cli import app

    cfg = tmp_path / "c.toml"
    cfg.write_text('OPENAI_API_KEY = ["sk-proj-SECRETinList123"]\n')
    monkeypatch.setenv("INTERVIEWER_CONFIG_FILE", str(cfg))
    out = CliRunner().invoke(app, ["config"])
    assert out.exit_code == 2
    assert "SECRETinList" not in out.output and "invalid configuration" in out.output


def test_an_empty_key_is_no_key(monkeypatch) -> None:
    from interviewer.config import load_settings

    monkeypatch.setenv("OPENAI_API_KEY", "")
    assert load_settings().openai_api_key is None
