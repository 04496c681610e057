"""Matching a question given as text or id to the bank, with the real model."""

from __future__ import annotations

import pytest

from interviewer.bank.loader import load_bank
from interviewer.bank.models import Bank
from interviewer.embedding import Embedder
from interviewer.matching import DEFAULT_THRESHOLD, QuestionMatcher, normalise


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
