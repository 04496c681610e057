"""`interviewer grade FILE`: grade every answer in a file with the TUI's grader, write a report.

Rows stream through in chunks: read, match to the bank, grade (offline in one embedding batch
per chunk, or the LLM with bounded concurrency), write and flush. An interrupted run keeps what
it wrote and `--resume` carries on from there.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from interviewer.batch import (
    BadRow,
    BatchFileError,
    CitationOut,
    CriterionOut,
    GradedRow,
    LlmOut,
    Row,
    RowWriter,
    Summary,
    input_format,
    is_report,
    numeric_ids,
    output_format,
    read_graded,
    read_rows,
    render_report,
    rows_path,
)
from interviewer.commands.common import console, counting_bar, err_console, fail, lit, settings_from
from interviewer.wording import plural, printable

if TYPE_CHECKING:  # pragma: no cover
    from interviewer.grading.models import Assessment
    from interviewer.matching import Match, QuestionMatcher

# Rows read, matched and graded together. Their answers are embedded in one call before
# grading, so the model sorts them by length and pads little (with batches of
# embedding.BATCH_SIZE, 1,000 answers in chunks of 256 embed in 11.2 s, in one call 10.2 s). Memory
# stays bounded by the chunk.
CHUNK = 256
MAX_LISTED_BAD = 20


class OutFormat(StrEnum):
    jsonl = "jsonl"
    csv = "csv"
    md = "md"
    html = "html"


@dataclass
class RunResult:
    """What a run did: the exit code follows from it."""

    graded: int = 0  # graded in this run
    resumed: int = 0  # already in the output before this run
    bad: list[BadRow] = field(default_factory=list)
    bad_count: int = 0
    stopped: BadRow | None = None  # --strict stopped here
    interrupted: bool = False
    summary: Summary = field(default_factory=Summary)

    @property
    def exit_code(self) -> int:
        if self.graded + self.resumed == 0:
            return 2
        return 1 if self.bad_count or self.stopped else 0


def _to_output(row: Row, match: Match, a: Assessment, question: str) -> GradedRow:
    """Flatten an Assessment into the output row schema."""
    offline = a.offline
    missed = [p.point for p in offline.missed]
    if a.llm is not None and a.llm.missing_points:
        missed = list(a.llm.missing_points)
    refs = [CitationOut(passage_id=r.id, source=r.source, quote=r.text[:300])
            for r in offline.references[:3]]
    # An LLM row cites only what the LLM quoted and the check verified (none if all failed):
    # the offline passages in the same shape would pass for verified quotes.
    if a.grader == "llm":
        cites = [CitationOut(passage_id=c.passage_id or str(c.passage), source=c.source,
                             quote=c.quote) for c in a.citations]
    else:
        cites = refs
    llm = None
    if a.grader == "llm" and a.llm is not None:
        g = a.llm
        llm = LlmOut(
            model=g.model, prompt_version=g.prompt_version, latency_s=g.latency_s,
            usage=dict(g.usage), cached=g.cached, overall=g.overall,
            criteria={k: CriterionOut(score=c.score, reason=c.reason)
                      for k, c in g.criteria.items()},
            misconceptions=list(g.misconceptions),
            model_answer_outline=list(g.model_answer_outline),
            dropped_citations=g.dropped_citations,
        )
    notices = [n for n in (a.notice,) if n]
    q = match.question
    if row.reference_answer:
        if q is None:
            notices.append(f"{match.reason}: graded against the row's reference_answer"
                           if match.reason else "graded against the row's reference_answer")
    elif match.reason:
        notices.append(match.reason)
    return GradedRow(
        id=row.id, line=row.line, question_id=q.id if q else None, question=question,
        answer=row.answer, score=round(float(a.score), 1), band=str(a.band),
        flags=[str(f) for f in offline.flags], covered=[p.point for p in offline.covered],
        missed=missed, citations=cites, follow_up=a.follow_up or offline.follow_up,
        grader=a.grader, notice="; ".join(notices) or None,
        matched_by=match.by if q else "none", match_similarity=match.similarity,
        reference="row" if row.reference_answer else "bank",
        topics=list(q.topics) if q else [], references=refs,
        offline_score=round(float(offline.score), 1), llm=llm,
    )


def _row_texts(rows: Sequence[Row], todo: Sequence[tuple[Row, Match, str]]) -> list[str]:
    """The texts a chunk brought with it, which the grader and the matcher embedded and cached:
    answers, the rows' own reference answers and the key points split from them, and question
    texts (matched or not). Held in the caches they would grow with every distinct one."""
    from interviewer.grading.features import drop_repeated_sentences
    from interviewer.grading.keypoints import split_key_points

    texts = [r.answer for r, _, _ in todo]
    texts += [drop_repeated_sentences(r.answer) for r, _, _ in todo]  # what was embedded
    texts += [q for _, _, q in todo]
    for r in rows:
        if r.question:
            texts.append(r.question)
        if r.reference_answer:
            texts.append(r.reference_answer)
            texts.extend(split_key_points(r.reference_answer))
    return list(dict.fromkeys(texts))


def _bank_texts(matcher: QuestionMatcher) -> set[str]:
    """The bank's questions, references and key points (a row may repeat one of them)."""
    from interviewer.grading.keypoints import split_key_points

    texts: set[str] = set()
    for q in matcher.questions:
        texts.update((q.question, q.reference, *(q.key_points or split_key_points(q.reference))))
    return texts


def _term_as_interrupt() -> Callable[[], None]:
    """Treat SIGTERM as Ctrl-C until the returned function restores the old handler, so a
    terminated run still flushes its rows and writes its report."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, handler)

    def restore() -> None:
        signal.signal(signal.SIGTERM, old)

    return restore


def _remove_if_empty(paths: list[Path]) -> None:
    """Outputs (and their directories) this run created to check they were writable, if
    nothing went into them; `paths` in creation order, so they are undone in reverse."""
    for target in reversed(paths):
        with contextlib.suppress(OSError):
            if target.is_dir():
                target.rmdir()  # only if empty
            elif target.stat().st_size == 0:
                target.unlink()


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


@dataclass(frozen=True)
class _Done:
    """What --resume keeps of a graded row: enough to tell that the input row is the same one
    (its answer, what it asked, which reference) without holding the texts."""

    answer: bytes
    question_id: str
    question: bytes
    own_reference: bool

    @classmethod
    def of(cls, g: GradedRow) -> _Done:
        return cls(_digest(g.answer), (g.question_id or "").casefold(),
                   _digest(" ".join(g.question.split()).casefold()), g.reference == "row")

    def differs(self, row: Row) -> str | None:
        """What in the input row is not what this report graded, or None."""
        if self.answer != _digest(row.answer):
            return "the answer differs"
        if row.question_id and self.question_id and row.question_id.strip().casefold() != (
                self.question_id):
            return "the question_id differs"
        asked = " ".join((row.question or "").split()).casefold()
        if asked and asked != self.question_id and self.question != _digest(asked):
            return "the question differs"
        if bool(row.reference_answer) != self.own_reference:
            return ("it now has a reference_answer" if row.reference_answer
                    else "it no longer has a reference_answer")
        return None


def _same_file(a: Path, b: Path) -> bool:
    """The same file under any name: path, symlink or hard link."""
    try:
        return a.resolve() == b.resolve() or (b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def grade_rows(
    items: Iterator[Row | BadRow],
    *,
    matcher: QuestionMatcher,
    assess: Callable[[list[Any]], Iterator[Assessment]],
    make_request: Callable[..., Any],
    write: Callable[[GradedRow], None],
    done: Collection[str],
    result: RunResult,
    strict: bool = False,
    chunk: int = CHUNK,
    advance: Callable[[int], None] = lambda n: None,
    file: str = "",
    prepare: Callable[[list[str]], object] | None = None,
    release: Callable[[list[str]], object] | None = None,
) -> RunResult:
    """The loop: chunk rows, match, grade, write. Pure of Typer; tests call it directly."""

    def bad(b: BadRow) -> bool:
        """Record a bad row; True when --strict says stop."""
        if not b.file:
            b = b.model_copy(update={"file": file})
        result.bad_count += 1
        if len(result.bad) < MAX_LISTED_BAD:
            result.bad.append(b)
        if strict:
            result.stopped = b
        return strict

    def flush(rows: list[Row]) -> bool:
        if not rows:
            return False
        matches = matcher.match_many([(r.question_id, r.question) for r in rows])
        todo: list[tuple[Row, Match, str]] = []
        stop = False
        for r, m in zip(rows, matches, strict=True):
            ungradable = None  # nothing to grade the answer against: why
            if r.reference_answer:
                pass
            elif m.question is None:
                ungradable = f"unmatched question: {m.reason}; " + (
                    "give an id from the bank or a reference_answer" if r.question_id
                    else "give a question_id or a reference_answer")
            elif not m.question.reference.strip():
                ungradable = (f"question {m.question.id} has no reference answer in the bank "
                              "(its source lost it); give a reference_answer")
            if ungradable is not None:
                advance(1)
                if bad(BadRow(file=file, line=r.line, reason=ungradable)):
                    stop = True
                    break
                continue
            question = r.question or (m.question.question if m.question else r.question_id or "")
            if m.question is not None and question.strip() == m.question.id:  # '## 000-17'
                question = m.question.question
            todo.append((r, m, question))
        if prepare is not None and todo:
            prepare([r.answer for r, _, _ in todo])
        reqs = [
            make_request(
                answer=r.answer, question=q, question_id=m.question.id if m.question else None,
                reference=r.reference_answer,
            )
            for r, m, q in todo
        ]
        for (r, m, q), a in zip(todo, assess(reqs), strict=True):
            write(_to_output(r, m, a, q))
            result.graded += 1
            advance(1)
        if release is not None:  # seen once: drop the chunk's own texts from the caches
            release(_row_texts(rows, todo))
        return stop

    pending: list[Row] = []
    try:
        for item in items:
            if isinstance(item, BadRow):
                if strict:  # grade what came before the bad row, then stop
                    batch, pending = pending, []
                    if flush(batch):
                        return result
                advance(1)
                if bad(item):
                    return result
                continue
            if item.id in done:
                advance(1)
                continue
            pending.append(item)
            if len(pending) >= chunk:
                batch, pending = pending, []
                if flush(batch):
                    return result
        batch, pending = pending, []
        flush(batch)
    except KeyboardInterrupt:
        result.interrupted = True
    return result


def _print_summary(result: RunResult, out: Path, file: Path) -> None:
    """The terminal summary: a table on stdout, bad rows on stderr."""
    from rich.table import Table

    s = result.summary
    table = Table(title=f"Graded {lit(file.name)}", title_justify="left", show_header=False)
    table.add_column("", style="bold")
    table.add_column("", justify="right")
    table.add_row("answers graded", str(s.count))
    if result.resumed:
        table.add_row("  of which from before (--resume)", str(result.resumed))
    table.add_row("rows skipped", str(result.bad_count))
    table.add_row("mean score", f"{s.mean:.1f} / 10" if s.count else "-")
    for band, n in s.bands.items():
        pct = f" ({100 * n / s.count:.0f}%)" if s.count else ""
        table.add_row(f"  {band}", f"{n}{pct}")
    if s.matched_by:
        names = {"id": "id", "text": "same text", "embedding": "similar text",
                 "none": "none (own reference)"}
        parts = []
        for key in ("id", "text", "embedding", "none"):
            if s.matched_by.get(key):
                low = (f", lowest similarity {s.lowest_match:.2f}"
                       if key == "embedding" and s.lowest_match is not None else "")
                parts.append(f"{names[key]} {s.matched_by[key]}{low}")
        table.add_row("question matched by", "; ".join(parts))
    if s.graders:
        table.add_row("grader", ", ".join(f"{k} {v}" for k, v in sorted(s.graders.items())))
    console.print(table)
    for title, shown, rows in (("Weakest topics", s.topics, s.weakest_topics),
                               ("Weakest questions", s.questions, s.weakest_questions)):
        if not shown:
            continue
        t = Table(title=title, title_justify="left")
        t.add_column(title.split()[1][:-1])
        t.add_column("answers", justify="right")
        t.add_column("mean", justify="right")
        for a in rows():
            t.add_row(Text(printable(a.label)), str(a.n), f"{a.mean:.1f}")
        console.print(t)
    if out.exists():  # nothing graded leaves no report behind
        console.print(f"report: {lit(out)}", highlight=False, soft_wrap=True)
    for b in sorted(result.bad, key=lambda b: b.line):
        err_console.print(f"[yellow]skipped[/] {lit(b)}", highlight=False, soft_wrap=True)
    if result.bad_count > len(result.bad):
        err_console.print(f"... and {result.bad_count - len(result.bad)} more", highlight=False)


def _load(settings: Any, llm: bool | None, threshold: float | None) -> tuple[Any, Any, Any]:
    """Bank, model, index, grader, assessor and matcher: the slow part before grading."""
    from interviewer.assessor import Assessor
    from interviewer.bank.loader import load_bank
    from interviewer.commands.bank import try_index
    from interviewer.embedding import EmbeddingModelError, get_embedder
    from interviewer.grader import Grader
    from interviewer.matching import DEFAULT_THRESHOLD, QuestionMatcher

    bank = load_bank(settings)
    embedder = get_embedder(settings.embedding_model)
    try:
        embedder.load()
    except EmbeddingModelError as exc:
        fail(str(exc), 2)
    store = try_index(settings, bank)
    grader = Grader(embedder, bank=bank, store=store,
                    cache_path=settings.bank_encodings)
    # The first run on a machine and model embeds the bank's references once (~10 s).
    with counting_bar("preparing references") as progress:
        grader.warm(progress)
    assessor = Assessor(settings, grader)
    llm_on, why = assessor.llm_status
    if llm and not llm_on:
        hint = "set OPENAI_API_KEY and/or OPENAI_BASE_URL" if "OPENAI_" in why else None
        fail(f"--llm: {why}", 2, f"{hint}, or drop --llm" if hint else "drop --llm")
    if not llm_on and llm is None:
        err_console.print(f"[dim]{lit(why)}[/]", highlight=False)
    matcher = QuestionMatcher(bank.questions, embedder,
                              threshold if threshold is not None else DEFAULT_THRESHOLD)
    return grader, assessor, matcher


def grade_command(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Answers: .jsonl, .csv or .md.", show_default=False)],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Report path; default FILE-graded.jsonl beside FILE."),
    ] = None,
    fmt: Annotated[
        OutFormat | None,
        typer.Option("--format", "-f", help="Output format; default from --out's extension."),
    ] = None,
    llm: Annotated[
        bool | None,
        typer.Option("--llm/--offline", help="Force the LLM rubric on, or grade offline only.",
                     show_default=False),
    ] = None,
    concurrency: Annotated[
        int, typer.Option(min=1, max=64, help="LLM requests in flight at once.")
    ] = 4,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue an interrupted run: skip rows already in --out.")
    ] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --out.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Stop at the first bad row.")] = False,
    threshold: Annotated[
        float | None,
        typer.Option(min=0.0, max=1.0,
                     help="Similarity needed to match a question text to the bank."),
    ] = None,
) -> None:
    """Grade every answer in FILE (JSONL, CSV or Markdown) and write a report.

    Exit status: 0 all rows graded, 1 some rows skipped, 2 nothing graded or unusable file.
    """
    if file.is_dir():
        fail(f"{file}: is a directory, not a file of answers", 2)
    if not file.exists():
        fail(f"{file}: no such file", 2)
    if not file.is_file():  # /dev/null, a pipe: read twice (resume check, then grading)
        fail(f"{file}: not a regular file (a device or a pipe); give a file of answers", 2)
    if resume and overwrite:
        fail("--resume and --overwrite contradict each other", 2,
             "--resume continues the report in --out; --overwrite starts it again")
    try:
        in_fmt = input_format(file)
    except BatchFileError as exc:
        fail(str(exc), 2)
    if out is None:
        out = file.with_name(f"{file.stem}-graded.{fmt.value if fmt else 'jsonl'}")
    try:
        out_fmt = output_format(out, fmt.value if fmt else None)
    except ValueError as exc:
        fail(str(exc), 2)
    rows_file = rows_path(out, out_fmt)
    for target in dict.fromkeys([out, rows_file]):
        if target.is_dir():
            fail(f"--out {target} is a directory", 2, "give a file name, e.g. report.jsonl")
        if _same_file(file, target):
            fail(f"--out {target} would overwrite the input file", 2, "choose another --out")
    stream_fmt = "csv" if out_fmt == "csv" else "jsonl"
    existing = rows_file.exists() and rows_file.stat().st_size > 0
    if existing and not (resume or overwrite):
        fail(f"{rows_file} exists", 2,
             "pass --resume to continue that run, or --overwrite to start again")
    if out != rows_file and out.exists() and out.stat().st_size > 0 and not overwrite:
        # A .md/.html report is rendered over `out` at the end: never over someone's file.
        if not resume:
            fail(f"{out} exists", 2,
                 "pass --resume to continue that run, or --overwrite to start again")
        if not is_report(out, out_fmt):
            fail(f"--resume: {out} is not a report of interviewer grade"
                 + ("" if existing else f" (and there is no {rows_file.name} to resume from)"),
                 2, "--overwrite replaces it, or choose another --out")

    offline_override = None if llm is None else not llm
    settings = settings_from(ctx, offline=offline_override)

    # What an earlier run already graded (--resume): id -> digest of the answer (not the answer:
    # a 100,000-row report must not be held in memory).
    done: dict[str, _Done] = {}
    result = RunResult()
    if resume and existing:
        try:
            for g in read_graded(rows_file, stream_fmt, repair=True, strict=True):
                if g.id not in done:
                    done[g.id] = _Done.of(g)
                    result.summary.add(g)
        except BatchFileError as exc:
            fail(f"--resume: {exc}", 2, "--overwrite starts the report again, or choose another --out")
        result.resumed = len(done)

    # Fail early on an unusable file, before loading the model; one pass counts the rows and
    # checks that a resumed report was made from this very input.
    total = 0
    seen: set[str] = set()
    try:
        # The explicit numeric ids, which a row without an id must not take wherever they are
        # (a cheap pass: reading is fast next to grading).
        numbered = numeric_ids(file, in_fmt)
        for item in read_rows(file, in_fmt, numbered):
            total += 1
            if isinstance(item, Row) and item.id in done:
                seen.add(item.id)
                why = done[item.id].differs(item)
                if why is not None:
                    fail(f"--resume: row {item.id!r} of {rows_file} does not match "
                         f"{file}:{item.line} ({why}): that report belongs to another input", 2,
                         "--overwrite starts the report again, or choose another --out")
    except BatchFileError as exc:
        fail(str(exc), 2)
    except OSError as exc:
        fail(f"{file}: cannot read: {exc.strerror}", 2)
    if set(done) - seen:
        extra = sorted(set(done) - seen)
        fail(f"--resume: {rows_file} has {len(extra)} row(s) whose id is not in {file} "
             f"(e.g. {extra[0]!r}): that report belongs to another input", 2,
             "--overwrite starts the report again, or choose another --out")
    if total == 0:
        if in_fmt == "md":
            fail(f"{file}: no answers to grade (no # or ## headings)", 2,
                 "each heading is a question and the text under it the answer")
        fail(f"{file}: no answers to grade (the file has no rows)", 2,
             "each row needs question_id or question, and answer")

    # ...and on an output that can't be written, before loading the model too.
    created: list[Path] = []
    for target in dict.fromkeys([rows_file, out]):
        try:
            created.extend(d for d in reversed(target.parents) if not d.exists())
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                created.append(target)
            with target.open("a", encoding="utf-8"):
                pass
        except OSError as exc:
            blocker = next((p for p in target.parents if p.exists() and not p.is_dir()), None)
            if blocker is not None:  # mkdir says "File exists", which does not say which
                fail(f"{target}: cannot write: {blocker} is a file, not a directory", 2)
            fail(f"{target}: cannot write: {exc.strerror or exc}", 2)

    from interviewer.grader import GradeRequest

    stop_on_term = _term_as_interrupt()  # `timeout`, CI and kill send SIGTERM: stop like Ctrl-C
    try:
        grader, assessor, matcher = _load(settings, llm, threshold)
    except KeyboardInterrupt:
        stop_on_term()
        _remove_if_empty(created)
        err_console.print("[yellow]interrupted[/] before grading started", highlight=False)
        sys.exit(130)
    except BaseException:  # fail() while loading (no endpoint for --llm, no model)
        stop_on_term()
        _remove_if_empty(created)
        raise

    keep = _bank_texts(matcher)

    def forget(texts: list[str]) -> None:
        """A chunk's texts out of the caches, but the bank's: every chunk may need those."""
        grader.forget([t for t in texts if t not in keep])

    def assess(reqs: Sequence[Any]) -> Iterator[Assessment]:
        return assessor.assess_many(list(reqs), concurrency=concurrency)

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = Progress(
        TextColumn("grading"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TimeRemainingColumn(), console=err_console, transient=False,
    )
    task = progress.add_task("grading", total=total or None)

    def write_and_count(writer: RowWriter) -> Callable[[GradedRow], None]:
        def write(g: GradedRow) -> None:
            writer.write(g)
            result.summary.add(g)

        return write

    try:
        with progress, RowWriter(rows_file, stream_fmt, append=resume) as writer:
            grade_rows(
                read_rows(file, in_fmt, numbered), matcher=matcher, assess=assess,
                make_request=GradeRequest, write=write_and_count(writer), done=done,
                result=result, strict=strict, advance=lambda n: progress.advance(task, n),
                file=str(file), prepare=grader.encode, release=forget,
            )
    except KeyboardInterrupt:
        result.interrupted = True
    except OSError as exc:  # the disk filled up or the output went away mid-run
        fail(f"{rows_file}: cannot write: {exc.strerror or exc}; rows graded so far are kept, "
             "--resume continues", 2)
    finally:
        stop_on_term()
        if result.graded + result.resumed == 0:
            _remove_if_empty(created)  # nothing to report: leave no empty files behind
        elif out_fmt in ("md", "html"):
            try:
                render_report(out_fmt, rows_file, out, file.name, result.bad_count,
                              interrupted=result.interrupted)
            except OSError as exc:
                err_console.print(f"[red]error:[/] {lit(out)}: cannot write the report: "
                                  f"{lit(exc.strerror or exc)}", highlight=False, soft_wrap=True)

    _print_summary(result, out, file)
    if assessor.switched_off:  # the LLM gave up part-way: the rows after it say so; and here
        err_console.print(f"[yellow]{lit(assessor.llm_status[1])}[/]", highlight=False,
                          soft_wrap=True)
    if result.interrupted:
        if result.graded:
            err_console.print(
                f"[yellow]interrupted:[/] {plural(result.graded, 'row')} graded this run "
                f"{'is' if result.graded == 1 else 'are'} saved in {lit(rows_file)}; run again "
                "with --resume to continue", highlight=False, soft_wrap=True)
        elif result.resumed:  # nothing new: the rows from before are where they were
            err_console.print(
                f"[yellow]interrupted:[/] no row was graded this run; {lit(rows_file)} still "
                f"holds the {plural(result.resumed, 'row')} from before: run again with --resume "
                "to continue", highlight=False, soft_wrap=True)
        else:  # and the outputs this run created are gone again: naming them would mislead
            err_console.print("[yellow]interrupted:[/] no row was graded, so nothing was written",
                              highlight=False, soft_wrap=True)
        sys.exit(130)
    if result.stopped is not None:
        err_console.print(f"[red]--strict:[/] stopped at {lit(result.stopped)}", highlight=False)
    elif result.bad_count:
        listed = ("listed above" if result.bad_count <= MAX_LISTED_BAD
                  else f"the first {MAX_LISTED_BAD} listed above")
        err_console.print(f"[yellow]{plural(result.bad_count, 'row')} skipped[/] ({listed})",
                          highlight=False)
    if result.graded + result.resumed == 0:
        err_console.print("[red]error:[/] nothing could be graded", highlight=False)
    code = result.exit_code
    if code:
        sys.exit(code)


def register(app: typer.Typer) -> None:
    app.command("grade")(grade_command)
