"""Feedback cards: the offline grade at once, the LLM rubric when it arrives."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from interviewer.grading.models import Assessment, Band, Citation, Grade, Reference
from interviewer.wording import clip

BAND_STYLE: dict[str, str] = {
    Band.excellent: "bold green",
    Band.good: "green",
    Band.partial: "yellow",
    Band.weak: "red",
    Band.off_topic: "bold red",
}


def score_line(score: float, band: str, label: str) -> Text:
    t = Text()
    t.append(f"Score {score:.1f}/10", style="bold")
    t.append(" · ")
    t.append(str(band), style=BAND_STYLE.get(band, "bold"))
    t.append(f"  ({label})", style="dim")
    return t


def source_label(source: str, titles: Mapping[str, str]) -> str:
    title = titles.get(source, "")
    return f"{source} · {clip(title, 40)}" if title else source or "reference"


def hanging(rows: Sequence[tuple[Text | str, Text | str]], indent: int = 4) -> Table:
    """Marker and text side by side, so a wrapped line lines up under its text, not the margin."""
    grid = Table.grid(padding=0)
    grid.add_column(width=indent, no_wrap=True)
    grid.add_column(ratio=1)
    for marker, text in rows:
        grid.add_row(marker, text)
    return grid


def bullets(title: str, style: str, items: list[Text]) -> Group:
    return Group(Text(title, style=style), hanging([(Text("  • "), t) for t in items]))


def excerpt(text: str, focus: str | None, n: int) -> str:
    """`text` clipped to n characters, starting at the sentence that contains `focus` (a key
    point is a span of its passage) so the part asked about is the part shown."""
    flat = " ".join(text.split())
    i = flat.lower().find(" ".join(focus.split()).lower()[:60]) if focus else -1
    if i <= 0:
        return clip(text, n)
    start = max(flat.rfind(". ", 0, i), flat.rfind("? ", 0, i)) + 2
    return "…" + clip(flat[start if start > 1 else i :], n)


def references_block(
    refs: list[Reference], titles: Mapping[str, str], limit: int = 3, focus: str | None = None
) -> Table:
    rows: list[tuple[Text | str, Text | str]] = []
    for i, r in enumerate(refs[:limit], 1):
        head = Text(source_label(r.source, titles), style="cyan")
        if r.question_id:
            head.append(f" ({r.question_id})", style="dim")
        head.append("\n")
        head.append(excerpt(r.text, focus, 220), style="dim")
        rows.append((Text(f"  [{i}] ", style="bold cyan"), head))
    return hanging(rows, indent=6)


def render_grade(grade: Grade, titles: Mapping[str, str]) -> RenderableType:
    parts: list[RenderableType] = [score_line(grade.score, grade.band, "offline")]
    if grade.flags:
        parts.append(Text("flags: " + ", ".join(str(f) for f in grade.flags), style="yellow"))
    if grade.covered:
        items = []
        for p in grade.covered:
            t = Text(clip(p.point, 160))
            if p.span:
                t.append(f"  “{clip(p.span, 80)}”", style="dim")
            items.append(t)
        parts.append(bullets("✓ covered", "bold green", items))
    if grade.missed:
        parts.append(bullets("✗ missed", "bold red", [Text(clip(p.point, 160)) for p in grade.missed]))
    if grade.references:
        parts.append(Text("sources", style="bold"))
        parts.append(references_block(grade.references, titles))
    return Group(*parts)


def citations_block(citations: list[Citation], titles: Mapping[str, str]) -> Table:
    rows: list[tuple[Text | str, Text | str]] = []
    for c in citations:
        t = Text(f"“{clip(c.quote, 160)}”")
        t.append("  — " + source_label(c.source, titles), style="cyan")
        if c.passage_id:
            t.append(f" ({c.passage_id})", style="dim")
        rows.append((Text(f"  [{c.passage}] ", style="bold cyan"), t))
    return hanging(rows, indent=6)


def render_assessment(a: Assessment, titles: Mapping[str, str]) -> RenderableType:
    llm = a.llm
    if llm is None:
        return Group(Text(a.notice or "LLM rubric unavailable: offline grade stands.", style="yellow"))
    # The card's title says "LLM rubric": the line names the model and the prompt's version.
    label = llm.model + (f" · {llm.prompt_version}" if llm.prompt_version else "")
    parts: list[RenderableType] = [score_line(a.score, a.band, label)]
    if llm.criteria:
        crit = [
            (Text(f"  {name:<14}", style="bold"),
             Text(f"{c.score:4.1f}  ").append(clip(c.reason, 140), style="dim"))
            for name, c in llm.criteria.items()
        ]
        parts.append(hanging(crit, indent=16))
    if llm.missing_points:
        parts.append(bullets("missing", "bold red", [Text(clip(p, 160)) for p in llm.missing_points]))
    if llm.misconceptions:
        parts.append(bullets("misconceptions", "bold yellow",
                             [Text(clip(p, 160)) for p in llm.misconceptions]))
    if llm.model_answer_outline:
        outline = [Text(clip(p, 160)) for p in llm.model_answer_outline[:6]]
        parts.append(bullets("a strong answer would cover", "bold", outline))
    cites = a.citations or llm.citations
    if cites:
        parts.append(Text("verified citations", style="bold"))
        parts.append(citations_block(cites, titles))
    # Dropped citations are counted in the notice (see rubric.blend), not said twice here.
    if a.notice:
        parts.append(Text("note: " + a.notice, style="yellow"))
    return Group(*parts)


def plain(renderable: RenderableType, width: int = 120) -> str:
    """What a card says, as plain text (for tests and logs)."""
    from rich.console import Console

    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    console.print(renderable)
    return console.export_text()


class FeedbackCard(Static):
    """The offline grade of one answer."""

    DEFAULT_CLASSES = "message feedback"

    def __init__(self, grade: Grade, titles: Mapping[str, str], title: str = "feedback") -> None:
        self.body = render_grade(grade, titles)
        super().__init__(self.body)
        self.grade = grade
        self.border_title = title


class LlmCard(Static):
    """The LLM rubric's verdict, shown under the offline card when it arrives."""

    DEFAULT_CLASSES = "message feedback llm"

    def __init__(self, assessment: Assessment, titles: Mapping[str, str],
                 title: str = "LLM rubric") -> None:
        self.body = render_assessment(assessment, titles)
        super().__init__(self.body)
        self.assessment = assessment
        self.border_title = title
