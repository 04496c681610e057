"""Small CLI promises: help for every command, version, config without the key."""

from __future__ import annotations

from typer.testing import CliRunner

from interviewer import __version__
from interviewer.cli import app

runner = CliRunner()


def test_every_command_has_help() -> None:
    top = runner.invoke(app, ["--help"])
    assert top.exit_code == 0
    for cmd in ("questions", "search", "index", "corpus", "practice", "grade", "eval",
                "calibrate", "stats", "history", "config"):
        assert cmd in top.output
        sub = runner.invoke(app, [cmd, "--help"])
        assert sub.exit_code == 0, (cmd, sub.output)
        assert "Usage" in sub.output


def test_version() -> None:
    out = runner.invoke(app, ["--version"])
    assert out.exit_code == 0 and __version__ in out.output


def test_config_shows_settings_but_never_the_key(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-DO-NOT-PRINT-123456")
    monkeypatch.setenv("INTERVIEWER_LLM_MODEL", "llama3.1:8b")
    out = runner.invoke(app, ["config"], env={"COLUMNS": "200"})
    assert out.exit_code == 0
    assert "DO-NOT-PRINT" not in out.output
    assert "llama3.1:8b" in out.output and "set" in out.output


def test_config_file_is_read(monkeypatch, tmp_path) -> None:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text('llm_model = "from-the-file"\nllm_timeout = 12\n')
    monkeypatch.setenv("INTERVIEWER_CONFIG_FILE", str(cfg))
    out = runner.invoke(app, ["config"], env={"COLUMNS": "200"})
    assert "from-the-file" in out.output and "12 s" in out.output
    monkeypatch.setenv("INTERVIEWER_LLM_MODEL", "env-wins")
    out = runner.invoke(app, ["config"], env={"COLUMNS": "200"})
    assert "env-wins" in out.output and "from-the-file" not in out.output


def test_practice_options_work_without_the_command_name() -> None:
    from interviewer.cli import practice_by_default

    assert practice_by_default(["--source", "001"]) == ["practice", "--source", "001"]
    assert practice_by_default(["--offline", "--count=3"]) == ["--offline", "practice", "--count=3"]
    assert practice_by_default(["grade", "f.csv", "--mode", "x"]) == ["grade", "f.csv", "--mode", "x"]
    assert practice_by_default(["--offline"]) == ["--offline"]
    assert practice_by_default(["practice", "--source", "1"]) == ["practice", "--source", "1"]
