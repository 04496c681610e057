"""`interviewer config`: where things live and which settings are in force (never the key)."""

from __future__ import annotations

import typer
from rich.markup import escape

from interviewer.commands.common import CONFIG_HINT, console, fail, settings_from
from interviewer.config import ConfigError, config_file, read_config_file


def _file_state() -> tuple[str, str | None]:
    """The config file's row, and its error if it can't be used (a directory, not UTF-8, bad
    TOML): shown as an error, never as '(absent)', since the user did point at something."""
    path = config_file()
    try:
        read_config_file(path)
    except ConfigError as exc:
        return f"[red]{escape(str(path))} (error: see below)[/]", str(exc)
    return escape(str(path)) + ("" if path.is_file() else " (absent)"), None


def config(ctx: typer.Context) -> None:
    """Show the settings in force, the config file and the data folders."""
    file_row, problem = _file_state()
    s = settings_from(ctx, read_file=problem is None)
    from rich.table import Table

    from interviewer.grading.rubric import redact_url

    table = Table(show_header=True, header_style="bold")
    table.add_column("setting")
    table.add_column("value", overflow="fold")
    table.add_column("env var", style="dim")
    rows = [
        ("config file", file_row, "INTERVIEWER_CONFIG_FILE"),
        ("data dir", str(s.data_dir), "INTERVIEWER_DATA_DIR"),
        ("index", s.chroma_url or str(s.chroma_dir), "INTERVIEWER_CHROMA_URL"),
        ("collection", s.collection, "INTERVIEWER_COLLECTION"),
        ("user corpus", str(s.user_corpus_dir), ""),
        ("history", str(s.history_db), ""),
        ("embedding model", s.embedding_model, "INTERVIEWER_EMBEDDING_MODEL"),
        ("llm model", s.llm_model, "INTERVIEWER_LLM_MODEL"),
        ("llm endpoint", redact_url(s.openai_base_url) if s.openai_base_url else "(OpenAI default)",
         "OPENAI_BASE_URL"),
        ("api key", "set" if s.openai_api_key else "not set", "OPENAI_API_KEY"),
        ("llm timeout / retries", f"{s.llm_timeout:g} s / {s.llm_retries}",
         "INTERVIEWER_LLM_TIMEOUT / _RETRIES"),
        ("offline", str(s.offline).lower(), "INTERVIEWER_OFFLINE"),
    ]
    for name, value, env in rows:  # the file's row is markup already, the rest plain text
        table.add_row(name, value if name == "config file" else escape(value), env)
    console.print(table)
    if problem:
        fail(problem, 2, "the settings shown leave the file out; " + CONFIG_HINT)


def register(app: typer.Typer) -> None:
    app.command()(config)
