"""Feedback cards: the offline grade at once, the LLM rubric when it arrives."""

from __future__ import annotations

import io
from collections.abc import Mapping

from rich.console import Group, RenderableType
from rich.text import Text
from textual.widgets import Static

from interviewer.grading.models import Assessment, Band, Citation, Grade, Reference

BAND_STYLE: dict[str, str] = {
    Band.excellent: "bold green",
    Band.good: "green",
    Band.partial: "yellow",
    Band.weak: "red",
    Band.off_topic: "bold red",
}


def clip(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


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


def references_block(refs: list[Reference], titles: Mapping[str, str], limit: int = 3) -> Text:
    t = Text()
    for i, r in enumerate(refs[:limit], 1):
        t.append(f"  [{i}] ", style="bold cyan")
        t.append(source_label(r.source, titles), style="cyan")
        if r.question_id:
            t.append(f" ({r.question_id})", style="dim")
        t.append("\n      " + clip(r.text, 220) + "\n", style="dim")
    return t


def render_grade(grade: Grade, titles: Mapping[str, str]) -> RenderableType:
    parts: list[RenderableType] = [score_line(grade.score, grade.band, "offline")]
    if grade.flags:
        parts.append(Text("flags: " + ", ".join(str(f) for f in grade.flags), style="yellow"))
    if grade.covered:
        t = Text("✓ covered\n", style="bold green")
        for p in grade.covered:
            t.append("  • " + clip(p.point, 160))
            if p.span:
                t.append(f"  “{clip(p.span, 80)}”", style="dim")
            t.append("\n")
        parts.append(t)
    if grade.missed:
        t = Text("✗ missed\n", style="bold red")
        for p in grade.missed:
            t.append("  • " + clip(p.point, 160) + "\n")
        parts.append(t)
    if grade.references:
        parts.append(Text("sources", style="bold"))
        parts.append(references_block(grade.references, titles))
    return Group(*parts)


def citations_block(citations: list[Citation], titles: Mapping[str, str]) -> Text:
    t = Text()
    for c in citations:
        t.append(f"  [{c.passage}] ", style="bold cyan")
        t.append(f"“{clip(c.quote, 160)}”")
        t.append("  — " + source_label(c.source, titles), style="cyan")
        if c.passage_id:
            t.append(f" ({c.passage_id})", style="dim")
        t.append("\n")
    return t


def render_assessment(a: Assessment, titles: Mapping[str, str]) -> RenderableType:
    llm = a.llm
    if llm is None:
        return Group(Text(a.notice or "LLM rubric unavailable: offline grade stands.", style="yellow"))
    label = f"LLM rubric · {llm.model}" + (f" · prompt {llm.prompt_version}" if llm.prompt_version else "")
    parts: list[RenderableType] = [score_line(a.score, a.band, label)]
    if llm.criteria:
        t = Text()
        for name, c in llm.criteria.items():
            t.append(f"  {name:<14}", style="bold")
            t.append(f"{c.score:4.1f}  ")
            t.append(clip(c.reason, 140) + "\n", style="dim")
        parts.append(t)
    if llm.missing_points:
        t = Text("missing\n", style="bold red")
        for p in llm.missing_points:
            t.append("  • " + clip(p, 160) + "\n")
        parts.append(t)
    if llm.misconceptions:
        t = Text("misconceptions\n", style="bold yellow")
        for p in llm.misconceptions:
            t.append("  • " + clip(p, 160) + "\n")
        parts.append(t)
    cites = a.citations or llm.citations
    if cites:
        parts.append(Text("verified citations", style="bold"))
        parts.append(citations_block(cites, titles))
    if llm.dropped_citations:
        parts.append(Text(f"{llm.dropped_citations} unverifiable citation(s) dropped", style="dim"))
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

    def __init__(self, assessment: Assessment, titles: Mapping[str, str]) -> None:
        self.body = render_assessment(assessment, titles)
        super().__init__(self.body)
        self.assessment = assessment
        self.border_title = "LLM rubric"
