"""Command line: parse arguments, call the core, print. Heavy modules are imported lazily."""

from __future__ import annotations

import importlib
import sys
from typing import Annotated

import typer

from interviewer import __version__
from interviewer.commands.common import GlobalOptions

app = typer.Typer(
    name="interviewer",
    help="A terminal coach for deep-learning interviews: practise, grade, evaluate.",
    no_args_is_help=False,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# Each module registers its commands on `app`; one module per job.
COMMAND_MODULES = (
    "interviewer.commands.bank",
    "interviewer.commands.practice",
    "interviewer.commands.grade",
    "interviewer.commands.evaluate",
    "interviewer.commands.config_cmd",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"interviewer {__version__}")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def root(
    ctx: typer.Context,
    data_dir: Annotated[
        str | None, typer.Option(help="Where the index, history and caches live "
                                 "(also INTERVIEWER_DATA_DIR or the config file's data_dir).")
    ] = None,
    chroma_url: Annotated[
        str | None,
        typer.Option(
            help="Use a Chroma server (http://HOST:PORT) instead of the local store.",
            envvar="INTERVIEWER_CHROMA_URL",
        ),
    ] = None,
    offline: Annotated[
        bool | None,
        typer.Option(
            "--offline/--no-offline",
            help="Never call an LLM (--no-offline overrides INTERVIEWER_OFFLINE and the config).",
        ),
    ] = None,
    llm_model: Annotated[str | None, typer.Option(help="Model for the LLM rubric.")] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    """Run without a command to practise in the terminal (same as `interviewer practice`)."""
    ctx.obj = GlobalOptions(
        data_dir=data_dir, chroma_url=chroma_url, offline=offline, llm_model=llm_model
    )
    if ctx.invoked_subcommand is None:
        from interviewer.commands.practice import run_practice

        run_practice(ctx)


for _name in COMMAND_MODULES:
    try:
        _module = importlib.import_module(_name)
    except ModuleNotFoundError as exc:  # a command module not built yet must not break the rest
        if exc.name != _name:
            raise
        continue
    _module.register(app)


# Options of `practice` that also work without the command name, since a bare
# `interviewer` is `interviewer practice`: `interviewer --source 001 --count 5`.
PRACTICE_OPTIONS = ("--source", "--topic", "--count", "--mode", "--seed")


def practice_by_default(argv: list[str]) -> list[str]:
    """Insert `practice` before the first practice option when no command is named."""
    names = {c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands}
    names |= {g.name or "" for g in app.registered_groups}
    if any(a in names for a in argv):
        return argv
    for i, a in enumerate(argv):
        if a.split("=", 1)[0] in PRACTICE_OPTIONS:
            return [*argv[:i], "practice", *argv[i:]]
    return argv


def main() -> None:
    sys.argv[1:] = practice_by_default(sys.argv[1:])
    app()
