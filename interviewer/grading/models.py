"""What a grade is. Shared by the offline grader, the LLM rubric, the TUI and batch output."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field


class Band(StrEnum):
    excellent = "excellent"
    good = "good"
    partial = "partial"
    weak = "weak"
    off_topic = "off-topic"


class Flag(StrEnum):
    empty = "empty"
    too_short = "too_short"
    idk = "idk"
    parrot = "parrot"
    keyword_salad = "keyword_salad"
    other_question = "other_question"
    injection_suspected = "injection_suspected"
    off_topic = "off_topic"


# Flags that mean "this is not a real answer": the LLM may not lift the band above offline.
# Not off_topic: the offline grader also says that of a correct answer in words it cannot
# relate to the reference (terse paraphrases, another language), which the LLM can read.
HARD_FLAGS: frozenset[Flag] = frozenset(
    {Flag.parrot, Flag.keyword_salad, Flag.other_question, Flag.injection_suspected}
)


class PointMatch(BaseModel):
    """A reference key point and the span of the answer that best matches it."""

    point: str
    span: str = ""
    similarity: float = 0.0


class Reference(BaseModel):
    """A reference passage a grade relied on, so the user can check it."""

    id: str = Field(description="passage id or 'row' for an inline reference")
    question_id: str | None = None
    source: str = ""
    text: str
    weight: float = 1.0


class Grade(BaseModel):
    """The offline grade: pure function of question, answer and references."""

    score: float = Field(ge=0, le=10, description="0-10, one decimal")
    band: Band
    covered: list[PointMatch] = Field(default_factory=list)
    missed: list[PointMatch] = Field(default_factory=list)
    flags: list[Flag] = Field(default_factory=list)
    features: dict[str, float] = Field(default_factory=dict)
    references: list[Reference] = Field(default_factory=list)
    follow_up: str | None = None
    follow_up_point: str | None = Field(
        default=None, description="the missed key point the follow-up asks about (a follow-up answer is graded against it)"
    )
    calibration_version: str = ""


class Citation(BaseModel):
    """A quote from a numbered reference passage, checked to occur in that passage."""

    passage: int = Field(description="1-based number of the passage as sent to the LLM")
    quote: str
    passage_id: str = ""
    source: str = ""


class CriterionScore(BaseModel):
    score: float = Field(ge=0, le=10)
    reason: str = ""


class LlmGrade(BaseModel):
    """What the LLM rubric said, after validation and citation checks."""

    criteria: dict[str, CriterionScore] = Field(default_factory=dict)
    overall: float = Field(ge=0, le=10)
    missing_points: list[str] = Field(default_factory=list)
    misconceptions: list[str] = Field(default_factory=list)
    model_answer_outline: list[str] = Field(default_factory=list)
    citations: list[Citation] = Field(default_factory=list, description="verified only")
    dropped_citations: int = 0
    follow_up: str | None = None
    model: str = ""
    prompt_version: str = ""
    latency_s: float = 0.0
    usage: dict[str, int] = Field(default_factory=dict)
    cached: bool = False


class FollowUpExchange(BaseModel):
    """The follow-up the interviewer asked and how it went, so a later chat knows about it."""

    question: str
    answer: str
    score: float | None = None
    band: str | None = None
    point: str | None = Field(None, description="the key point it asked about")
    covered: bool = Field(False, description="the answer made that point")
    pending: bool = Field(False, description="the score is the offline one; the LLM's is on its way")


class ChatReply(BaseModel):
    """The interviewer's answer about the feedback; failed citations are counted, not shown."""

    reply: str
    citations: list[Citation] = Field(default_factory=list)
    dropped_citations: int = 0


class Assessment(BaseModel):
    """The final word on one answer: what the TUI shows, batch writes and history stores."""

    score: float = Field(ge=0, le=10)
    band: Band
    grader: str = Field(description="'offline' or 'llm'")
    offline: Grade
    llm: LlmGrade | None = None
    notice: str | None = Field(None, description="fallback or disagreement, shown to the user")
    follow_up: str | None = None
    citations: list[Citation] = Field(default_factory=list)

    @classmethod
    def offline_only(cls, offline: Grade, notice: str | None = None) -> Assessment:
        """The offline grade as the final word (no LLM, or the LLM failed: `notice` says so)."""
        return cls(score=offline.score, band=offline.band, grader="offline", offline=offline,
                   notice=notice, follow_up=offline.follow_up)
