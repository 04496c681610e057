"""`interviewer eval DATASET.csv`: agreement of the grader with human grades.
`interviewer calibrate DATASET.csv`: refit the offline grader's calibration on graded answers.

Both grade every row against the reference in the row: no bank, no index, no Chroma. The other
distinct references of the dataset stand in for the bank in the other_question guard.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from interviewer.commands.common import console, err_console, fail, lit, settings_from

if TYPE_CHECKING:  # pragma: no cover
    from interviewer.evaluation import EvalRow, Metrics
    from interviewer.grader import Grader
    from interviewer.grading.calibration import Calibration
    from interviewer.grading.models import Grade

CHUNK = 64


def read_dataset(path: Path) -> list[EvalRow]:
    """Parse the CSV (or TSV) or exit 2 with `file:line: message`."""
    from interviewer.evaluation import DatasetError, decode_dataset, parse_dataset

    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        fail(f"{path}: no such file", 2)
    except IsADirectoryError:
        fail(f"{path}: is a directory; give one CSV file", 2)
    except OSError as exc:
        fail(f"{path}: cannot read: {exc.strerror}", 2)
    try:
        return parse_dataset(decode_dataset(raw), tsv=path.suffix.lower() == ".tsv")
    except DatasetError as exc:
        where = f"{path}" if exc.line is None else f"{path}:{exc.line}"
        fail(
            f"{where}: {exc.message}",
            2,
            exc.hint
            or "columns: question, reference_answer, answer, score [, question_id, max_score]",
        )


def _json_kind(value: object) -> str:
    """A JSON value's kind in the user's words, not Python's type name."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


EXPECTED = {
    "string_type": "expected a string",
    "dict_type": "expected a JSON object",
    "model_type": "expected a JSON object",
    "model_attributes_type": "expected a JSON object",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "bool_type": "expected true or false",
    "list_type": "expected a list",
}


def read_calibration(path: Path) -> Calibration:
    """A calibration file, or exit 2 naming the file and what is wrong in it (field by field,
    in JSON words: pydantic's own report is long and full of links)."""
    from pydantic import ValidationError

    from interviewer.grader import load_calibration

    hint = "write one with `interviewer calibrate DATASET.csv --output FILE`"
    try:
        return load_calibration(path)
    except FileNotFoundError:
        fail(f"{path}: no such file", 2)
    except IsADirectoryError:
        fail(f"{path}: is a directory, not a calibration file", 2, hint)
    except OSError as exc:
        fail(f"{path}: cannot read: {exc.strerror}", 2)
    except UnicodeDecodeError:
        fail(f"{path}: not UTF-8 text: not a calibration file", 2, hint)
    except json.JSONDecodeError as exc:
        fail(f"{path}:{exc.lineno}: not valid JSON: {exc.msg} (column {exc.colno})", 2, hint)
    except ValidationError as exc:
        problems = []
        for e in exc.errors(include_url=False):
            where = ".".join(str(p) for p in e["loc"])
            if e["type"] == "missing":
                what = "missing"
            elif e["type"] in EXPECTED:
                what = f"{EXPECTED[e['type']]}, got {_json_kind(e.get('input'))}"
            else:
                what = e["msg"].removeprefix("Value error, ")
            problems.append(f"{where}: {what}" if where else what)
        fail(f"{path}: not a calibration file: {'; '.join(problems)}", 2, hint)


def _grader(
    rows: Sequence[EvalRow], model: str, calibration: Calibration | None = None
) -> Grader:
    from interviewer.embedding import EmbeddingModelError, get_embedder
    from interviewer.grader import Grader

    embedder = get_embedder(model)
    try:
        embedder.load()
    except EmbeddingModelError as exc:
        fail(str(exc), 2)
    refs = list(dict.fromkeys(r.reference_answer for r in rows))
    return Grader(embedder, calibration=calibration, other_references=refs)


def grade_rows(rows: Sequence[EvalRow], grader: Grader, progress: bool = True) -> list[Grade]:
    """Grade rows in chunks (one embedding batch each), with a progress bar on stderr."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from interviewer.grader import GradeRequest

    out: list[Grade] = []
    with Progress(
        TextColumn("grading"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err_console,
        transient=True,
        disable=not progress,
    ) as bar:
        task = bar.add_task("grading", total=len(rows))
        for i in range(0, len(rows), CHUNK):
            chunk = rows[i : i + CHUNK]
            reqs = [
                GradeRequest(
                    answer=r.answer,
                    question=r.question,
                    question_id=r.question_id,
                    reference=r.reference_answer,
                )
                for r in chunk
            ]
            out.extend(grader.grade_many(reqs))
            bar.advance(task, len(chunk))
    return out


def _llm_scores(ctx: typer.Context, rows: Sequence[EvalRow], grader: Grader) -> list[float] | None:
    """Final (blended) scores through the Assessor when an LLM is configured, else None."""
    from interviewer.assessor import Assessor
    from interviewer.grader import GradeRequest

    assessor = Assessor(settings_from(ctx), grader)
    on, why = assessor.llm_status
    err_console.print(f"[dim]{lit(why)}[/]", highlight=False)
    if not on:
        return None
    reqs = [
        GradeRequest(r.answer, r.question, r.question_id, r.reference_answer) for r in rows
    ]
    assessed = list(assessor.assess_many(reqs))
    fell_back = [a for a in assessed if a.grader != "llm" and a.notice]
    if fell_back:  # the figures then mix in (or are) offline grades: say how many, and why
        first = fell_back[0].notice or ""
        err_console.print(
            f"[yellow]{len(fell_back)} of {len(assessed)} answers fell back to the offline "
            f"grade[/] (first: {lit(first)})", highlight=False, soft_wrap=True)
    if not any(a.grader == "llm" for a in assessed):
        return None  # nothing the LLM graded: these are the offline figures, titled as such
    return [a.score for a in assessed]


def _fmt(x: float | None) -> str:
    """A figure for the table; `n/a` where it is undefined (the note says why)."""
    return "n/a" if x is None else f"{x:.3f}"


def _print_metrics(m: Metrics, rows: Sequence[EvalRow], as_json: bool, title: str) -> None:
    if as_json:
        typer.echo(json.dumps(m.model_dump()))
        if m.note:
            err_console.print(f"[dim]note: {lit(m.note)}[/]", highlight=False, soft_wrap=True)
        return
    from rich.table import Table

    scales = sorted({r.max_score for r in rows})
    # The first column is the key `--json` uses, so scripts and people read the same names.
    table = Table(title=lit(title), show_header=False)
    table.add_row("n", str(m.n), "answers graded")
    table.add_row("scale", ", ".join(f"0-{s:g}" for s in scales), "the dataset's")
    table.add_row("pearson", _fmt(m.pearson), "Pearson r")
    table.add_row("spearman", _fmt(m.spearman), "Spearman ρ")
    table.add_row("qwk", _fmt(m.qwk), "quadratic weighted kappa, predictions rounded")
    table.add_row("rmse", f"{m.rmse:.3f}", "RMSE, on the dataset's scale")
    table.add_row("mae", f"{m.mae:.3f}", "MAE, on the dataset's scale")
    table.add_row("answers_per_s", f"{m.answers_per_s:.1f}", "grading throughput")
    console.print(table)
    if m.note:
        console.print(f"note: {lit(m.note)}", highlight=False, soft_wrap=True)


def _scale_metrics(
    pred10: Sequence[float], rows: Sequence[EvalRow], seconds: float = 0.0
) -> Metrics:
    """Metrics on the dataset's scale; mixed scales are normalised to 0-10 first."""
    from interviewer.evaluation import metrics, to_scale

    scales = {r.max_score for r in rows}
    if len(scales) == 1:
        top = scales.pop()
        return metrics([to_scale(p, top) for p in pred10], [r.score for r in rows], top, seconds)
    human = [r.score / r.max_score * 10 for r in rows]
    return metrics(list(pred10), human, 10.0, seconds)


def register(app: typer.Typer) -> None:
    @app.command("eval")
    def eval_cmd(
        ctx: typer.Context,
        dataset: Annotated[Path, typer.Argument(help="CSV: question, reference_answer, answer, "
                                                     "score [, question_id, max_score].")],
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
        offline: Annotated[
            bool, typer.Option("--offline", help="Offline grader only, even if an LLM is set.")
        ] = False,
        calibration: Annotated[
            Path | None, typer.Option(help="A calibration JSON to try instead of the shipped one.")
        ] = None,
    ) -> None:
        """Grade every row against its own reference and report agreement with the human scores."""
        rows = read_dataset(dataset)
        settings = settings_from(ctx, offline=offline or None)
        cal = None
        if calibration is not None:
            cal = read_calibration(calibration)
        grader = _grader(rows, settings.embedding_model, cal)
        start = time.perf_counter()
        grades = grade_rows(rows, grader, progress=not as_json)
        seconds = time.perf_counter() - start
        pred = [g.score for g in grades]
        title = f"offline grader ({grader.calibration.version}) on {dataset.name}"
        if not settings.offline:
            final = _llm_scores(ctx, rows, grader)
            if final is not None:
                pred = final
                seconds = time.perf_counter() - start
                title = f"LLM rubric + offline on {dataset.name}"
        _print_metrics(_scale_metrics(pred, rows, seconds), rows, as_json, title)

    @app.command("calibrate")
    def calibrate_cmd(
        ctx: typer.Context,
        dataset: Annotated[Path, typer.Argument(help="Graded answers, same CSV as `eval`.")],
        output: Annotated[
            Path | None,
            typer.Option(help="Where to write the calibration (default: the package's own)."),
        ] = None,
        folds: Annotated[int, typer.Option(min=2, help="Cross-validation folds by question.")] = 5,
        as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    ) -> None:
        """Refit the offline grader's calibration; report figures cross-validated by question."""
        from interviewer.grading.calibration import FEATURES, neutral

        if output is not None and output.resolve() == dataset.resolve():
            fail(f"{output}: is the dataset itself; give another file for the calibration", 2)
        rows = read_dataset(dataset)
        if len({r.group for r in rows}) < folds:
            fail(f"{dataset}: cross-validation needs at least {folds} distinct questions", 2)
        if len({r.score / r.max_score for r in rows}) < 2:  # nothing to fit: weights would blow up
            fail(f"{dataset}: every human score is {rows[0].score:g}; calibration needs graded "
                 "answers that differ", 2)
        if output is not None:  # a bad path is said before the fit, not after it
            if output.is_dir():
                fail(f"{output}: is a directory; give a file name for the calibration", 2)
            try:
                output.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                fail(f"{output.parent}: cannot create: {exc.strerror or exc}", 2)
        settings = settings_from(ctx)
        grader = _grader(rows, settings.embedding_model, neutral())
        grades = grade_rows(rows, grader, progress=not as_json)
        report = calibrate(rows, grades, folds, dataset.name)
        cal = report.pop("calibration")
        assert isinstance(cal, dict)
        target = output or Path(__file__).resolve().parent.parent / "data" / "calibration.json"
        replaced = None
        if output is None:  # the shipped one: say which version it was
            from interviewer.grader import load_calibration

            with contextlib.suppress(Exception):
                replaced = load_calibration().version
        try:
            target.write_text(json.dumps(cal, indent=2) + "\n", "utf-8")
        except OSError as exc:
            fail(f"{target}: cannot write: {exc.strerror}", 2, "pass --output PATH")
        if as_json:
            typer.echo(json.dumps(report))
            return
        console.print(f"calibration {lit(cal['version'])} written to {lit(target)}"
                      + (f" (it replaces the shipped {lit(replaced)}; --output FILE writes "
                         "elsewhere)" if replaced else ""))
        console.print(f"weights: {json.dumps(cal['weights'])}  intercept {cal['intercept']:.3f}")
        cv = report["cross_validated"]
        assert isinstance(cv, dict)
        console.print(
            f"cross-validated by question ({folds} folds, n={cv['n']}): "
            f"Pearson {_fmt(cv['pearson'])}, Spearman {_fmt(cv['spearman'])}, "
            f"QWK {_fmt(cv['qwk'])}, RMSE {cv['rmse']:.3f}, MAE {cv['mae']:.3f}"
        )
        if report.get("note"):
            console.print(f"note: {lit(report['note'])}", highlight=False, soft_wrap=True)
        single = report["single_feature_pearson"]
        assert isinstance(single, dict)
        console.print(
            "single-feature Pearson: "
            + ", ".join(
                f"{k} {_fmt(single[k])}" for k in dict.fromkeys((*FEATURES, *single)) if k in single
            )
        )


def calibrate(
    rows: Sequence[EvalRow], grades: Sequence[Grade], folds: int, name: str
) -> dict[str, object]:
    """Fit on all rows; estimate with GroupKFold by question. Flags' caps apply in both."""
    import numpy as np
    from sklearn.model_selection import GroupKFold

    from interviewer.evaluation import pearson
    from interviewer.grading.calibration import FEATURES, fit, predict
    from interviewer.grading.guards import cap_for

    x = np.array([[g.features[k] for k in FEATURES] for g in grades])
    y01 = np.array([r.score / r.max_score for r in rows])
    caps = np.array([cap_for(g.flags) for g in grades])
    groups = np.array([r.group for r in rows])
    pred = np.zeros(len(rows))
    for train, test in GroupKFold(n_splits=folds).split(x, y01, groups):
        cal_k = fit(x[train], y01[train])
        pred[test] = np.minimum(predict(cal_k, x[test]), caps[test])
    cv = _scale_metrics(np.round(pred, 1).tolist(), rows)
    version = datetime.now(UTC).strftime("%Y-%m-%d.%H%M")
    cal = fit(x, y01, version=version)
    cal.fitted_on = {
        "dataset": name,
        "n": len(rows),
        "questions": len(set(groups.tolist())),
        "folds": folds,
        "cv_pearson": cv.pearson,
        "cv_spearman": cv.spearman,
        "cv_qwk": cv.qwk,
    }
    single_names = sorted({k for g in grades for k in g.features} - {"uncapped_score"})
    single: dict[str, float | None] = {}
    for k in single_names:
        r = pearson([g.features.get(k, 0.0) for g in grades], y01.tolist())
        single[k] = None if r is None else round(r, 4)  # a constant feature has no correlation
    report: dict[str, object] = {
        "calibration": cal.model_dump(),
        "cross_validated": cv.model_dump(),
        "single_feature_pearson": single,
    }
    if cv.note:
        report["note"] = cv.note
    return report
