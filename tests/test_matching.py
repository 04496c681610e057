"""Matching a question given as text or id to the bank, with the real model."""

from __future__ import annotations

import pytest

from interviewer.bank.loader import load_bank
from interviewer.bank.models import Bank
from interviewer.embedding import Embedder
from interviewer.matching import DEFAULT_THRESHOLD, SURE_THRESHOLD, QuestionMatcher, normalise


@pytest.fixture(scope="module")
def bank() -> Bank:
    return load_bank()


def test_normalise() -> None:
    assert normalise("Q3. What is  Dropout?") == "what is dropout"
    assert normalise("12) Define stride.") == "define stride"
    assert normalise("What is ReLU?") == normalise("what is relu")


def test_exact_id_and_text_need_no_model(bank: Bank) -> None:
    class NoModel:
        def encode(self, texts: object) -> object:
            raise AssertionError("no embedding needed for exact matches")

    m = QuestionMatcher(bank.questions, NoModel())  # type: ignore[arg-type]
    q = bank.get("001-27")
    assert q is not None
    by_id = m.match("001-27", None)
    assert by_id.by == "id" and by_id.question == q
    by_text = m.match(None, "  what is GRADIENT clipping ")
    assert by_text.by == "text" and by_text.question == q
    heading_id = m.match(None, "001-27")
    assert heading_id.by == "id" and heading_id.question == q  # "## 001-27" names an id
    assert not m.match("999-9", None).matched


@pytest.mark.slow
def test_paraphrases_match_and_unrelated_questions_do_not(
    bank: Bank, embedder: Embedder
) -> None:
    m = QuestionMatcher(bank.questions, embedder)
    got = m.match_many([
        (None, "Explain dropout."),
        (None, "How does an LSTM work?"),
        (None, "Why do transformers need positional encodings?"),
        (None, "What is the capital of France?"),
        (None, "How does a random forest work?"),
        ("999-1", "Explain gradient clipping, please"),  # unknown id: the text decides
    ])
    assert [g.question.id if g.question else None for g in got] == [
        "000-17", "001-43", "001-50", None, None, "001-27"
    ]
    assert all(g.by == "embedding" for g in got[:3])
    assert all(DEFAULT_THRESHOLD <= (g.similarity or 0) < 1 for g in got[:3])
    lost = got[3]
    assert lost.best is not None and (lost.similarity or 1) < DEFAULT_THRESHOLD
    assert lost.reason and "closest" in lost.reason and lost.best.id in lost.reason
    assert got[5].reason and "unknown question_id '999-1'" in got[5].reason
    # a stricter threshold turns a paraphrase into "unmatched"
    strict = QuestionMatcher(bank.questions, embedder, threshold=0.99)
    assert not strict.match(None, "Explain dropout.").matched


def test_questions_without_a_reference_are_never_matched_by_text(
    bank: Bank, embedder: Embedder
) -> None:
    empty = [q for q in bank.questions if not q.reference.strip()]
    assert empty  # 001 lost some answers in its source
    m = QuestionMatcher(bank.questions, embedder)
    for q in empty:
        assert m.match(q.id, None).question == q  # an id still finds it (the caller says why)
        hit = m.match(None, q.question + " ")
        assert hit.question is None or hit.question.reference.strip()


def test_an_id_shaped_heading_that_is_no_id_is_said_to_be_unknown(bank: Bank) -> None:
    class NoModel:
        def encode(self, texts: object) -> object:
            raise AssertionError("an id is not embedded")

    m = QuestionMatcher(bank.questions, NoModel())  # type: ignore[arg-type]
    miss = m.match(None, "999-99")
    assert not miss.matched and "unknown question id '999-99'" in (miss.reason or "")


@pytest.mark.slow
def test_a_loose_match_is_said_and_an_id_that_contradicts_its_text_too(
    bank: Bank, embedder: Embedder
) -> None:
    m = QuestionMatcher(bank.questions, embedder)
    close, loose, contradicted, agreeing = m.match_many([
        (None, "What does dropout do in a neural network?"),
        (None, "What is underfitting?"),  # nearest: the overfitting question, by meaning only
        ("000-17", "What is a convolution kernel?"),
        ("000-17", "Explain the concept of dropout."),
    ])
    assert close.question is not None and close.question.id == "000-17"
    assert (close.similarity or 0) >= SURE_THRESHOLD and close.reason is None
    if loose.matched:  # matched: the row must say it was a loose match to check
        assert (loose.similarity or 1) < SURE_THRESHOLD
        assert loose.reason and "check it is the question you meant" in loose.reason
    assert contradicted.question is not None and contradicted.question.id == "000-17"
    assert contradicted.reason and "is not 000-17's" in contradicted.reason
    assert agreeing.question is not None and agreeing.reason is None


def test_a_similarity_just_under_the_threshold_never_reads_as_equal(bank: Bank) -> None:
    import numpy as np

    class Fixed:
        """Every text lands at cosine 0.6497 from the first bank question."""

        def __init__(self, n: int) -> None:
            self.n = n

        def encode(self, texts: list[str]) -> np.ndarray:
            if len(texts) == self.n:  # the bank's questions: unit basis vectors
                return np.eye(self.n, dtype=np.float32)
            v = np.zeros((len(texts), self.n), dtype=np.float32)
            v[:, 0] = 0.6497
            return v

    n = sum(1 for q in bank.questions if q.reference.strip())
    m = QuestionMatcher(bank.questions, Fixed(n))  # type: ignore[arg-type]
    got = m.match(None, "something else entirely")
    assert not got.matched and got.reason and "similarity 0.64 < 0.65" in got.reason


@pytest.mark.slow
def test_a_cached_match_keeps_its_notes_next_to_the_unknown_id(
    bank: Bank, embedder: Embedder
) -> None:
    """The second time a text is seen (a later chunk of a batch) its match comes from the cache:
    the row must still say the match was loose, or which question was closest."""
    m = QuestionMatcher(bank.questions, embedder)
    loose, lost = "What is instance normalization?", "How do I bake sourdough bread?"
    first = m.match_many([("zzz", loose), ("zzz", lost)])
    m.match_many([(None, loose), (None, lost)])  # the texts are in the cache now
    again = m.match_many([("zzz", loose), ("zzz", lost)])
    assert [g.reason for g in again] == [g.reason for g in first]
    for g in again:
        assert g.reason and g.reason.startswith("unknown question_id 'zzz'; ")
    assert again[1].reason and "closest" in again[1].reason
    if again[0].matched:
        assert again[0].reason and "check it is the question you meant" in again[0].reason


def test_a_short_or_long_written_id_suggests_the_bank_ids_it_may_mean(bank: Bank) -> None:
    class NoModel:
        def encode(self, texts: object) -> object:
            raise AssertionError("an id is not embedded")

    m = QuestionMatcher(bank.questions, NoModel())  # type: ignore[arg-type]
    ends_17 = [q.id for q in bank.questions if q.id.endswith("-17")]
    assert len(ends_17) > 1
    short = m.match("17", None)
    assert not short.matched and short.reason
    assert "ambiguous" in short.reason and all(i in short.reason for i in ends_17[:6])
    long = m.match("000-017", None)
    assert not long.matched and long.reason == "unknown question_id '000-017': did you mean 000-17?"
    assert m.match("zzz", None).reason == "unknown question_id 'zzz'"
    assert m.match("9" * 5000, None).reason == f"unknown question_id {'9' * 80!r}"
