"""`practice` (also what `interviewer` alone runs), `stats` and `history`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from interviewer.commands.common import console, fail, lit, settings_from

MODES = ("practice", "mock", "review")


def _open_history(settings: Any, read_only: bool = False) -> Any:
    from interviewer.history import History, HistoryError

    try:
        return History(settings.history_db, read_only=read_only)
    except HistoryError as exc:
        fail(str(exc), hint=exc.hint)


def _practice(
    ctx: typer.Context,
    source: str | None = None,
    topic: str | None = None,
    count: int | None = None,
    mode: str = "practice",
    offline: bool | None = None,
    llm_model: str | None = None,
    seed: int | None = None,
) -> None:
    from interviewer.bank.loader import load_bank
    from interviewer.tui.app import SessionConfig, run_app

    if mode not in MODES:
        fail(f"unknown mode {mode!r}", hint="use one of: " + ", ".join(MODES))
    if count is not None and count < 1:
        fail("--count must be at least 1")
    settings = settings_from(ctx, offline=offline, llm_model=llm_model)
    try:
        bank = load_bank(settings)
    except Exception as exc:  # a broken user corpus file: say which
        fail(f"could not load the question bank: {exc}", hint="run `interviewer corpus check`")
    from interviewer.commands.bank import match_source, match_topic

    source, topic = match_source(bank, source), match_topic(topic)  # ignoring case
    config = SessionConfig(mode=mode, source=source, topic=topic, count=count, seed=seed)  # type: ignore[arg-type]
    run_app(settings, bank, config, _open_history(settings))


def run_practice(ctx: typer.Context) -> None:
    """`interviewer` with no command: practise all sources."""
    _practice(ctx)


def register(app: typer.Typer) -> None:
    @app.command()
    def practice(
        ctx: typer.Context,
        source: Annotated[
            str | None, typer.Option(help="Only questions from this source id (e.g. 000).")
        ] = None,
        topic: Annotated[str | None, typer.Option(help="Only questions on this topic.")] = None,
        count: Annotated[
            int | None, typer.Option(help="Number of questions (mock default 5).")
        ] = None,
        mode: Annotated[
            str, typer.Option(help="practice (untimed, hints), mock (timed, report) or review.")
        ] = "practice",
        offline: Annotated[
            bool | None,
            typer.Option("--offline/--no-offline",
                         help="Never call an LLM (--no-offline overrides INTERVIEWER_OFFLINE)."),
        ] = None,
        llm_model: Annotated[str | None, typer.Option(help="Model for the LLM rubric.")] = None,
        seed: Annotated[
            int | None, typer.Option(help="Shuffle seed, for a repeatable deck.")
        ] = None,
    ) -> None:
        """Practise in the terminal: the interviewer asks, grades, follows up and remembers."""
        _practice(ctx, source, topic, count, mode, offline, llm_model, seed)

    @app.command()
    def stats(ctx: typer.Context) -> None:
        """Your attempts, average by topic, weakest questions and score trend."""
        from interviewer.history import HistoryError, sparkline
        from interviewer.tui.screens.stats import stats_tables

        settings = settings_from(ctx)
        if not settings.history_db.exists():
            console.print("No history yet: run `interviewer` to practise.")
            return
        history = _open_history(settings, read_only=True)
        try:
            s = history.stats()
        except HistoryError as exc:
            fail(str(exc), hint=exc.hint)
        finally:
            history.close()
        head, topics, weak = stats_tables(s)
        console.print(head)
        if s.trend:
            console.print(f"trend  {sparkline(s.trend, width=60)}  (last {min(60, len(s.trend))})")
        if s.by_topic:
            console.print(topics)
        if s.weakest:
            console.print(weak)

    @app.command()
    def history(
        ctx: typer.Context,
        export: Annotated[
            Path | None,
            typer.Option("--export", help="Write every attempt to FILE (.csv or .jsonl)."),
        ] = None,
        limit: Annotated[
            int, typer.Option(min=1, help="How many recent attempts to list.")
        ] = 20,
        overwrite: Annotated[
            bool, typer.Option("--overwrite", help="Replace an existing --export FILE.")
        ] = False,
    ) -> None:
        """List recent attempts, or export them all with --export FILE."""
        from rich import box
        from rich.table import Table

        from interviewer.history import HistoryError
        from interviewer.wording import clip, plural

        settings = settings_from(ctx)
        if export is not None and export.is_file() and export.stat().st_size and not overwrite:
            fail(f"{export}: already exists", hint="pass --overwrite to replace it, or "
                 "give another file name")
        if not settings.history_db.exists():
            if export is None:
                console.print("No attempts yet: run `interviewer` to practise.")
                return
            fail(f"no history to export: {settings.history_db} does not exist",
                 hint="run `interviewer` to practise first")
        h = _open_history(settings, read_only=True)
        try:
            if export is not None:
                n = h.export(export)
                console.print(f"wrote {plural(n, 'attempt')} to {lit(export)}")
                return
            rows = h.attempts(limit=limit)
        except HistoryError as exc:
            fail(str(exc), hint=exc.hint)
        finally:
            h.close()
        if not rows:
            console.print("No attempts yet: run `interviewer` to practise.")
            return
        cells = []
        for r in rows:
            score = f"{r['score']:.1f}" if r["score"] is not None else "—"
            follow = " ↳ follow-up:" if r.get("kind") == "follow_up" else ""
            q = (r["question_id"] or "") + follow + " " + r["question"]
            when = str(r["submitted_at"])[5:16].replace("T", " ")
            cells.append([str(r["id"]), when, r["mode"], q, score, r["band"] or "", r["status"]])
        heads = ("#", "when", "mode", "question", "score", "band", "status")
        # Only the question gives way in a narrow terminal; the figures stay whole.
        others = sum(max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(heads) if i != 3)
        room = max(12, min(60, console.width - others - 2 * (len(heads) - 1) - 2))
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
        for h in heads:
            table.add_column(h, no_wrap=True)
        for c in cells:
            c[3] = clip(c[3], room)
            table.add_row(*c[:3], Text(c[3]), *c[4:])
        console.print(table)
