"""What every command shares: global options, settings, clean error exits."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from interviewer.config import ConfigError, Settings, config_file, load_settings
from interviewer.wording import printable

console = Console()
err_console = Console(stderr=True)


@contextmanager
def counting_bar(
    label: str, transient: bool = True, disable: bool = False
) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr for model work, fed `(done, total)`; hidden while total is 0,
    so work that finds everything cached shows nothing."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err_console, transient=transient, disable=disable,
    ) as bar:
        task = bar.add_task(label, total=None, visible=False)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, visible=total > 0)

        yield update


@dataclass
class GlobalOptions:
    data_dir: str | None = None
    chroma_url: str | None = None
    offline: bool | None = None
    llm_model: str | None = None


CONFIG_HINT = "fix or remove the file, or point INTERVIEWER_CONFIG_FILE at another one"


def settings_from(ctx: typer.Context, *, read_file: bool = True, **overrides: Any) -> Settings:
    """Settings from the environment and config file, then global flags, then command flags.
    `read_file=False` leaves the config file out (for `interviewer config` to show a broken one)."""
    merged: dict[str, Any] = {}
    root = ctx.find_root().obj
    if isinstance(root, GlobalOptions):
        merged.update({f.name: getattr(root, f.name) for f in fields(root)})
    merged.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return load_settings(read_file=read_file, **merged)
    except ConfigError as exc:
        fail(str(exc), 2, CONFIG_HINT)
    except ValidationError as exc:  # never echo the values: one of them may be the key
        problems, in_file = [], False
        for e in exc.errors(include_input=False, include_url=False):
            where, from_file = _origin(str(e["loc"][0]) if e["loc"] else "")
            in_file = in_file or from_file
            problems.append(f"{where}: {e['msg'].removeprefix('Value error, ')}")
        fail(f"invalid configuration: {'; '.join(problems)}", 2, CONFIG_HINT if in_file else None)
    except Exception as exc:  # anything else the settings library trips on: still no traceback
        first = str(exc).splitlines()[0][:200] if str(exc) else "cannot be used"
        fail(f"invalid configuration file {config_file()}: {first}", 2, CONFIG_HINT)


def _origin(key: str) -> tuple[str, bool]:
    """Where a bad setting came from, and whether that is the config file: the environment
    variable when set (it wins over the file), else `file:line: key`, else a command-line flag."""
    field = Settings.model_fields.get(key)
    if field is None:  # an error names an aliased setting by its alias (OPENAI_BASE_URL)
        field = next((f for f in Settings.model_fields.values() if f.validation_alias == key),
                     None)
    alias = field.validation_alias if field is not None else None
    env = alias if isinstance(alias, str) else f"INTERVIEWER_{key.upper()}"
    if env in os.environ:
        return (f"{env} (environment variable)" if env == key else f"{key} (from {env})"), False
    path = config_file()
    try:
        text = path.read_text("utf-8-sig") if path.is_file() else ""
    except (OSError, UnicodeDecodeError):
        text = ""
    for n, line in enumerate(text.splitlines(), 1):
        if re.match(rf"\s*{re.escape(key)}\s*=", line, re.IGNORECASE):
            return f"{path}:{n}: {key}", True
    return f"{key} (from a command-line flag)", False


def lit(value: object) -> str:
    """User text (a question, a file name, a cell) made safe to embed in Rich markup: printed
    as written, never read as a style tag ("[/b]" in a question would raise otherwise), and
    never as a terminal escape sequence."""
    return escape(printable(str(value)))


def fail(message: str, code: int = 2, hint: str | None = None) -> NoReturn:
    """Print a clear error (and a way out) and exit: never a traceback for user mistakes.
    Messages are plain text: they carry file names and user text, never markup."""
    err_console.print(f"[bold red]error:[/] {lit(message)}", highlight=False, soft_wrap=True)
    if hint:
        err_console.print(f"[dim]hint:[/] {lit(hint)}", highlight=False, soft_wrap=True)
    sys.exit(code)
