"""Commands over the question bank and its index: questions, search, index, corpus."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from interviewer.bank.models import TOPICS, Bank
from interviewer.commands.common import console, counting_bar, err_console, fail, lit, settings_from
from interviewer.wording import plural

if TYPE_CHECKING:
    from interviewer.config import Settings
    from interviewer.store import IndexReport, Store

corpus_app = typer.Typer(help="Inspect and extend the question bank's source documents.",
                         no_args_is_help=True)


def load_bank_or_fail(settings: Settings) -> Bank:
    from interviewer.bank.loader import CorpusError, load_bank

    try:
        bank = load_bank(settings)
    except CorpusError as exc:
        fail(str(exc), hint=exc.hint)
    for w in bank.warnings:  # a document dropped into the corpus folder that could not be read
        if w.skipped:
            path = settings.user_corpus_dir / w.source
            name = str(path) if path.exists() else w.source
            where = f"{name}:{w.line}" if w.line else name
            err_console.print(f"[yellow]warning:[/] {lit(where)}: {lit(w.message)}; left out of "
                              "the bank", highlight=False, soft_wrap=True)
    return bank


def _ensure_index(
    settings: Settings, bank: Bank, rebuild: bool, quiet: bool, transient: bool
) -> tuple[Store, IndexReport]:
    """Build or update the index with a progress bar while embedding; raises StoreError."""
    from interviewer.embedding import get_embedder
    from interviewer.store import Store

    store = Store(settings, get_embedder(settings.embedding_model))
    with counting_bar("embedding passages", transient=transient, disable=quiet) as progress:
        report = store.ensure_index(bank, rebuild=rebuild, progress=progress)
    return store, report


def build_index(
    settings: Settings, bank: Bank, rebuild: bool = False, quiet: bool = False,
    transient: bool = True,
) -> tuple[Store, IndexReport]:
    """The index, or the command ends with the store's message and the way out."""
    from interviewer.store import StoreError

    try:
        return _ensure_index(settings, bank, rebuild, quiet, transient)
    except StoreError as exc:
        fail(str(exc), hint=exc.hint)


def open_store(settings: Settings, bank: Bank, rebuild: bool = False, quiet: bool = False) -> Store:
    """The index for a command that needs it: built on first use, said in one dim line."""
    store, report = build_index(settings, bank, rebuild=rebuild, quiet=quiet)
    if report.embedded and not quiet:
        err_console.print(
            f"[dim]index: embedded {report.embedded} of {report.total} passages "
            f"({'rebuilt' if report.rebuilt else 'updated'}) at {lit(report.location)}[/]"
        )
    return store


def try_index(settings: Settings, bank: Bank) -> Store | None:
    """The index for grading, where it only adds related passages: a store that can't be used
    is a warning, and grading goes on against each question's own reference."""
    from interviewer.store import StoreError

    try:
        return _ensure_index(settings, bank, rebuild=False, quiet=False, transient=True)[0]
    except StoreError as exc:
        err_console.print(f"[yellow]warning:[/] {lit(exc)}; grading without related passages",
                          highlight=False, soft_wrap=True)
        return None


def match_source(bank: Bank, source: str | None) -> str | None:
    """The bank's id for --source, matched ignoring case (`Team-Notes` is `team-notes`)."""
    if source is None:
        return None
    wanted = source.strip().casefold()
    for s in bank.sources:
        if s.id.casefold() == wanted:
            return s.id
    fail(f"unknown source {source!r}", hint="known: " + ", ".join(s.id for s in bank.sources))


def match_topic(topic: str | None) -> str | None:
    """The vocabulary's topic for --topic, matched ignoring case (`CNN` is `cnn`)."""
    if topic is None:
        return None
    wanted = topic.strip().casefold()
    for t in TOPICS:
        if t.casefold() == wanted:
            return t
    fail(f"unknown topic {topic!r}", hint="known: " + ", ".join(TOPICS))


def questions(
    ctx: typer.Context,
    source: Annotated[str | None, typer.Option(help="Only this source (e.g. 000).")] = None,
    topic: Annotated[str | None, typer.Option(help="Only this topic (e.g. cnn).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List every question of the bank (thin ones too, flagged)."""
    settings = settings_from(ctx)
    bank = load_bank_or_fail(settings)
    qs = bank.deck(source=match_source(bank, source), topic=match_topic(topic), include_thin=True)
    if as_json:
        rows = [
            {
                "id": q.id, "question": q.question, "source": q.source, "topics": q.topics,
                "key_points": q.key_points, "thin": q.thin, "reference": q.reference,
                "source_title": q.source_title,
            }
            for q in qs
        ]
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    from rich.table import Table

    table = Table(show_lines=False, header_style="bold")
    table.add_column("id", no_wrap=True)
    table.add_column("question")
    table.add_column("topics", style="cyan")
    table.add_column("points", justify="right")
    table.add_column("", style="yellow")
    for q in qs:
        table.add_row(Text(q.id), Text(q.question), Text(", ".join(q.topics)),
                      str(len(q.key_points)), "thin" if q.thin else "")
    console.print(table)
    thin = sum(q.thin for q in qs)
    console.print(
        f"{plural(len(qs), 'question')}, {thin} thin (left out of practice and grading decks)"
    )


def search(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="What to look for.")],
    k: Annotated[int, typer.Option("-k", min=1, max=100, help="How many passages.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    chroma_url: Annotated[str | None, typer.Option(help="Chroma server URL.")] = None,
) -> None:
    """The reference passages nearest to TEXT."""
    if not text.strip():
        fail("nothing to search for: TEXT is empty")
    settings = settings_from(ctx, chroma_url=chroma_url)
    bank = load_bank_or_fail(settings)
    store = open_store(settings, bank)
    from interviewer.store import StoreError

    try:
        hits = store.search(text, k=k)
    except StoreError as exc:
        fail(str(exc), hint=exc.hint)
    if as_json:
        typer.echo(json.dumps([
            {"passage_id": h.passage.id, "question_id": h.passage.question_id,
             "source": h.passage.source, "distance": round(h.distance, 4), "text": h.passage.text}
            for h in hits
        ], ensure_ascii=False, indent=2))
        return
    from rich.table import Table

    table = Table(header_style="bold")
    table.add_column("question", no_wrap=True)
    table.add_column("source", no_wrap=True)
    table.add_column("distance", justify="right")
    table.add_column("passage")
    for h in hits:
        table.add_row(Text(h.passage.question_id), Text(h.passage.source), f"{h.distance:.3f}",
                      Text(h.passage.text))
    console.print(table)


def index(
    ctx: typer.Context,
    rebuild: Annotated[bool, typer.Option(help="Drop the index and embed everything again.")] = False,
    chroma_url: Annotated[str | None, typer.Option(help="Chroma server URL.")] = None,
) -> None:
    """Build or update the passage index (only changed passages are embedded)."""
    settings = settings_from(ctx, chroma_url=chroma_url)
    bank = load_bank_or_fail(settings)
    _, report = build_index(settings, bank, rebuild=rebuild, transient=False)
    console.print(
        f"{plural(report.total, 'passage')} from {plural(len(bank.questions), 'question')} "
        f"at {lit(report.location)}: "
        f"{report.embedded} embedded, {report.total - report.embedded} unchanged, "
        f"{report.deleted} removed" + (" (rebuilt)" if report.rebuilt else "")
    )


@corpus_app.command("check")
def corpus_check(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    threshold: Annotated[float, typer.Option(help="Similarity above which two questions "
                                                  "from different sources are duplicates.")] = 0.82,
) -> None:
    """List thin questions, duplicates across sources and parse warnings."""
    settings = settings_from(ctx)
    bank = load_bank_or_fail(settings)
    from interviewer.bank.passages import find_duplicates
    from interviewer.embedding import get_embedder

    vecs = get_embedder(settings.embedding_model).encode([q.question for q in bank.questions])
    dups = find_duplicates(bank, vecs, threshold)
    thin = [q for q in bank.questions if q.thin]
    if as_json:
        typer.echo(json.dumps({
            "sources": [s.model_dump() for s in bank.sources],
            "questions": len(bank.questions),
            "thin": [{"id": q.id, "question": q.question} for q in thin],
            "duplicates": [{"a": a, "b": b, "similarity": round(sim, 3)} for a, b, sim in dups],
            "warnings": [w.model_dump() for w in bank.warnings],
        }, ensure_ascii=False, indent=2))
        return
    for s in bank.sources:
        n = sum(q.source == s.id for q in bank.questions)
        console.print(f"[bold]{lit(s.id)}[/] {lit(s.title)} — {plural(n, 'question')} "
                      f"({lit(Path(s.path).name)})")
    console.print(f"\n[bold]thin[/] ({len(thin)}): too little reference to grade against")
    for q in thin:
        console.print(f"  {lit(q.id)}  {lit(q.question)}")
    console.print(f"\n[bold]duplicates across sources[/] ({len(dups)})")
    by_id = {q.id: q for q in bank.questions}
    for a, b, sim in dups:
        console.print(
            f"  {lit(a)} ~ {lit(b)}  {sim:.2f}  {lit(by_id[a].question)} | {lit(by_id[b].question)}"
        )
    console.print(f"\n[bold]parse warnings[/] ({len(bank.warnings)})")
    for w in bank.warnings:
        console.print(f"  {lit(_where(w.source, w.line))}: {lit(w.message)}", highlight=False)


def _where(source: str, line: int) -> str:
    """`file:line`, or the file alone for a warning about the whole file (line 0)."""
    return f"{source}:{line}" if line > 0 else source


@corpus_app.command("add")
def corpus_add(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A text or markdown Q&A document.")],
    replace: Annotated[
        bool, typer.Option("--replace", help="Overwrite a different document of the same name.")
    ] = False,
) -> None:
    """Add your own document to the bank (parsed and checked first)."""
    settings = settings_from(ctx)
    bank = load_bank_or_fail(settings)
    from interviewer.bank.loader import CorpusError, add_document

    try:
        doc, changed = add_document(file, settings.user_corpus_dir, bank, replace=replace)
    except CorpusError as exc:
        fail(str(exc), hint=exc.hint)
    thin = sum(q.thin for q in doc.questions)
    sid = doc.questions[0].source
    console.print(
        f"{'added' if changed else 'already in the bank, unchanged:'} {lit(file.name)} "
        f"(source {lit(sid)}, ids {lit(sid)}-1…): "
        f"{plural(len(doc.questions), 'question')} ({thin} thin), "
        f"{plural(len(doc.warnings), 'warning')} → {lit(settings.user_corpus_dir)}"
    )
    for w in doc.warnings:
        err_console.print(f"  {lit(_where(w.source, w.line))}: {lit(w.message)}", highlight=False)
    if changed:
        console.print("[dim]the index picks it up on next use (or run `interviewer index`)[/]")


@corpus_app.command("path")
def corpus_path(ctx: typer.Context) -> None:
    """Print the folders the bank is read from (shipped corpus, then yours)."""
    from interviewer.bank.loader import builtin_corpus_dir

    settings = settings_from(ctx)
    typer.echo(builtin_corpus_dir())
    typer.echo(settings.user_corpus_dir)


def register(app: typer.Typer) -> None:
    app.command()(questions)
    app.command()(search)
    app.command()(index)
    app.add_typer(corpus_app, name="corpus")
