"""The question bank's data: plain pydantic models, no I/O."""

from __future__ import annotations

from pydantic import BaseModel, Field

# The controlled topic vocabulary. Topics outside it are rejected by the curation loader.
TOPICS: tuple[str, ...] = (
    "fundamentals",
    "training",
    "optimisation",
    "regularisation",
    "cnn",
    "rnn",
    "transformers",
    "generative",
    "transfer",
    "evaluation",
    "data",
)


class ParseWarning(BaseModel):
    """Something the parser noticed but could not fix: reported by `corpus check`."""

    source: str
    line: int
    message: str
    skipped: bool = False  # the whole document was left out of the bank


class Question(BaseModel):
    """One bank question with its reference answer, split into checkable key points."""

    id: str = Field(description="source stem + ordinal, e.g. '000-17'")
    question: str
    reference: str = Field(description="cleaned reference answer")
    key_points: list[str] = Field(default_factory=list)
    source: str = Field(description="source id (three-digit prefix or user file stem)")
    source_title: str = ""
    topics: list[str] = Field(default_factory=list)
    thin: bool = False
    line: int = Field(0, description="1-based line of the question in its source file")


class Source(BaseModel):
    """A document of the bank."""

    id: str
    title: str
    path: str


class Passage(BaseModel):
    """A chunk of a reference answer as stored in the index."""

    id: str = Field(description="'<question id>#<n>'")
    question_id: str
    source: str
    text: str
    topics: list[str] = Field(default_factory=list)


class Hit(BaseModel):
    """A passage returned by a nearest-neighbour search."""

    passage: Passage
    distance: float


class Bank(BaseModel):
    """All questions from all sources, plus what the parser warned about."""

    sources: list[Source] = Field(default_factory=list)
    questions: list[Question] = Field(default_factory=list)
    warnings: list[ParseWarning] = Field(default_factory=list)

    def get(self, qid: str) -> Question | None:
        for q in self.questions:
            if q.id == qid:
                return q
        return None

    def deck(
        self,
        source: str | None = None,
        topic: str | None = None,
        include_thin: bool = False,
    ) -> list[Question]:
        """Questions for practice or grading: thin ones are left out unless asked for."""
        return [
            q
            for q in self.questions
            if (include_thin or not q.thin)
            and (source is None or q.source == source)
            and (topic is None or topic in q.topics)
        ]
