"""What every command shares: global options, settings, clean error exits."""

from __future__ import annotations

import sys
from dataclasses import dataclass, fields
from typing import Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console

from interviewer.config import ConfigError, Settings, config_file, load_settings

console = Console()
err_console = Console(stderr=True)


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
        where = ", ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_input=False, include_url=False)
        )
        fail(f"invalid configuration ({config_file()} or environment): {where}")
    except Exception as exc:  # anything else the settings library trips on: still no traceback
        first = str(exc).splitlines()[0][:200] if str(exc) else "cannot be used"
        fail(f"invalid configuration file {config_file()}: {first}", 2, CONFIG_HINT)


def fail(message: str, code: int = 2, hint: str | None = None) -> NoReturn:
    """Print a clear error (and a way out) and exit: never a traceback for user mistakes."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    if hint:
        err_console.print(f"[dim]hint:[/] {hint}", highlight=False, soft_wrap=True)
    sys.exit(code)
