"""Small CLI promises: help for every command, version, config without the key."""

from __future__ import annotations

import pytest
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


def test_config_file_with_a_bom_is_read(monkeypatch, tmp_path) -> None:
    cfg = tmp_path / "bom.toml"
    cfg.write_bytes(b'\xef\xbb\xbfllm_model = "bom-model"\n')  # as Notepad saves it
    monkeypatch.setenv("INTERVIEWER_CONFIG_FILE", str(cfg))
    out = runner.invoke(app, ["config"], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert "bom-model" in out.output


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'llm_model = "caf\xe9"\n', ":1: not UTF-8 text (byte 0xe9)"),
        (b'offline = true\nllm_model = \n', ":2: not valid TOML: Invalid value (column 13)"),
    ],
)
def test_unusable_config_file_is_named(monkeypatch, tmp_path, content, expected) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_bytes(content)
    monkeypatch.setenv("INTERVIEWER_CONFIG_FILE", str(cfg))
    out = runner.invoke(app, ["questions", "--json"])
    assert out.exit_code == 2
    assert f"{cfg}{expected}" in out.stderr
    assert "Traceback" not in out.output and "UnicodeDecodeError" not in out.output


def test_config_path_that_is_a_directory(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("INTERVIEWER_CONFIG_FILE", str(tmp_path))
    out = runner.invoke(app, ["questions", "--json"])
    assert out.exit_code == 2
    assert f"{tmp_path}: is a directory" in out.stderr
    out = runner.invoke(app, ["config"], env={"COLUMNS": "300"})
    assert out.exit_code == 2
    assert "(absent)" not in out.stdout and "error" in out.stdout  # the table still shows
    assert "gpt-4o-mini" in out.stdout
    assert f"{tmp_path}: is a directory" in out.stderr


def test_unknown_config_keys_warn_once(monkeypatch, tmp_path) -> None:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text('llm_model = "m"\nLLM_TIMEOUT = 9\nOPENAI_BASE_URL = "http://x"\n'
                   'unknown_key = 1\n[section]\nx = 1\n')
    monkeypatch.setenv("INTERVIEWER_CONFIG_FILE", str(cfg))
    first = runner.invoke(app, ["config"], env={"COLUMNS": "200"})
    assert first.exit_code == 0, first.output
    assert first.stderr.count("warning:") == 1
    assert f"warning: {cfg}: unknown key(s) unknown_key, section — ignored" in first.stderr
    assert "9 s" in first.stdout  # known keys, in any case or by alias, are read and not warned
    second = runner.invoke(app, ["config"], env={"COLUMNS": "200"})
    assert second.exit_code == 0 and "warning" not in second.stderr


def test_a_bad_collection_name_is_a_config_error_not_a_broken_index(monkeypatch, tmp_path) -> None:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text('# shared bank\ncollection = "a b/c"\n')
    monkeypatch.setenv("INTERVIEWER_CONFIG_FILE", str(cfg))
    out = runner.invoke(app, ["index", "--rebuild"], env={"COLUMNS": "300"})
    assert out.exit_code == 2
    assert f"{cfg}:2: collection: a Chroma collection name" in out.output
    assert not (tmp_path / "data" / "chroma").exists()  # nothing was touched, let alone wiped


def test_config_errors_say_where_the_value_came_from(monkeypatch, tmp_path) -> None:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text('llm_model = "m"\nllm_retries = true\n')
    monkeypatch.setenv("INTERVIEWER_CONFIG_FILE", str(cfg))
    out = runner.invoke(app, ["config"], env={"COLUMNS": "300"})
    assert out.exit_code == 2
    assert f"{cfg}:2: llm_retries: a number is expected, not true/false" in out.output
    cfg.write_text('llm_model = "m"\n')
    monkeypatch.setenv("INTERVIEWER_LLM_TIMEOUT", "soon")
    out = runner.invoke(app, ["config"], env={"COLUMNS": "300"})
    assert out.exit_code == 2 and "llm_timeout (from INTERVIEWER_LLM_TIMEOUT)" in out.output


def test_a_key_in_the_config_file_is_warned_about_never_shown(monkeypatch, tmp_path, capsys) -> None:
    from interviewer import config as config_mod

    monkeypatch.setattr(config_mod, "_warned", set())
    cfg = tmp_path / "cfg.toml"
    cfg.write_text('openai_api_key = "sk-in-the-file-SECRET"\n')
    monkeypatch.setenv("INTERVIEWER_CONFIG_FILE", str(cfg))
    out = runner.invoke(app, ["config"], env={"COLUMNS": "300"})
    err = capsys.readouterr().err + out.output
    assert out.exit_code == 0
    assert "holds an API key" in err and "OPENAI_API_KEY" in err
    assert "SECRET" not in err


def test_corpus_add_refuses_a_readme_it_would_never_load(tmp_path) -> None:
    doc = tmp_path / "README.md"
    doc.write_text("## What is X?\n\nX is a thing that does Y for Z reasons.\n", "utf-8")
    out = runner.invoke(app, ["corpus", "add", str(doc)])
    assert out.exit_code == 2 and "rename it" in out.output


def test_user_text_with_rich_markup_is_printed_as_written(monkeypatch, tmp_path) -> None:
    doc = tmp_path / "notes[x].md"
    doc.write_text(
        "# My [b]notes\n\n## What is [/b] batch [red]size?\n\n"
        "The number of [/i] examples processed together in one forward and backward pass "
        "before the weights are updated; larger batches give smoother gradient estimates.\n",
        "utf-8",
    )
    out = runner.invoke(app, ["corpus", "add", str(doc)], env={"COLUMNS": "300"})
    assert out.exit_code == 0, out.output
    assert "added notes[x].md (source notes-x, ids notes-x-1…)" in out.output
    again = runner.invoke(app, ["corpus", "add", str(doc)], env={"COLUMNS": "300"})
    assert again.exit_code == 0 and "already in the bank, unchanged: notes[x].md" in again.output
    out = runner.invoke(app, ["questions", "--source", "notes-x"], env={"COLUMNS": "300"})
    assert out.exit_code == 0, out.output
    assert "What is [/b] batch [red]size?" in out.output
    out = runner.invoke(app, ["grade", str(tmp_path / "no[/b]such.csv")], env={"COLUMNS": "300"})
    assert out.exit_code == 2 and "no[/b]such.csv: no such file" in out.output


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('data_dir = ""', ":1: data_dir: a directory path, not an empty string"),
        ('llm_model = "  "', ":1: llm_model: a model name, not an empty string"),
        ('OPENAI_BASE_URL = "localhost:11434"', ":1: OPENAI_BASE_URL: an http:// or https:// URL"),
    ],
)
def test_values_that_cannot_work_are_config_errors(monkeypatch, tmp_path, line, expected) -> None:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(line + "\n")
    monkeypatch.setenv("INTERVIEWER_CONFIG_FILE", str(cfg))
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    if line.startswith("data_dir"):  # the environment's data dir would win over the file's
        monkeypatch.delenv("INTERVIEWER_DATA_DIR")
    out = runner.invoke(app, ["config"], env={"COLUMNS": "300"})
    assert out.exit_code == 2
    assert f"{cfg}{expected}" in out.output


def test_a_data_dir_under_home_is_expanded(monkeypatch, tmp_path) -> None:
    from interviewer.config import load_settings

    monkeypatch.setenv("HOME", str(tmp_path))
    assert load_settings(data_dir="~/bank").data_dir == tmp_path / "bank"


def test_a_data_dir_that_is_a_file_is_a_configuration_error(monkeypatch, tmp_path) -> None:
    f = tmp_path / "not-a-dir"
    f.write_text("x")
    monkeypatch.setenv("INTERVIEWER_DATA_DIR", str(f))
    for cmd in (["stats"], ["history", "--export", str(tmp_path / "h.jsonl")]):
        out = runner.invoke(app, cmd, env={"COLUMNS": "300"})
        assert out.exit_code == 2, out.output
        assert "INTERVIEWER_DATA_DIR" in out.output and "is a file, not a directory" in out.output


def test_no_offline_overrides_the_environment_and_offline_forces_it(monkeypatch) -> None:
    def offline_row(args: list[str]) -> str:
        out = runner.invoke(app, [*args, "config"], env={"COLUMNS": "200"})
        assert out.exit_code == 0, out.output
        return next(line for line in out.output.splitlines() if "INTERVIEWER_OFFLINE" in line)

    monkeypatch.setenv("INTERVIEWER_OFFLINE", "1")
    assert "true" in offline_row([])
    assert "false" in offline_row(["--no-offline"])
    monkeypatch.delenv("INTERVIEWER_OFFLINE")
    assert "false" in offline_row([]) and "true" in offline_row(["--offline"])
