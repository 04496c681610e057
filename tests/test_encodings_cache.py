"""The bank's encodings are computed once and reused by the next process, with equal grades."""

from __future__ import annotations

from interviewer.bank.loader import load_bank
from interviewer.bank.models import Bank
from interviewer.grader import Grader, GradeRequest, load_encodings


def test_warm_saves_and_a_new_grader_reuses_it(tmp_path, embedder) -> None:
    full = load_bank()
    bank = Bank(sources=full.sources, questions=[q for q in full.questions if q.source == "002"])
    cache = tmp_path / "bank-encodings.npz"
    first = Grader(embedder, bank=bank, cache_path=cache)
    assert first.warm() > 0 and cache.is_file()
    saved = load_encodings(cache, embedder.model_id)
    assert bank.questions[0].reference in saved and bank.questions[0].key_points[0] in saved

    second = Grader(embedder, bank=bank, cache_path=cache)
    assert second.warm() == 0  # nothing left to embed
    req = GradeRequest(answer="Pooling downsamples feature maps, e.g. max pooling keeps the "
                       "largest value in each window.", question=bank.questions[6].question,
                       question_id=bank.questions[6].id)
    a, b = first.grade(req), second.grade(req)
    assert a.score == b.score and a.features == b.features
    assert [m.point for m in a.covered] == [m.point for m in b.covered]


def test_foreign_or_damaged_cache_is_ignored(tmp_path, embedder) -> None:
    cache = tmp_path / "bank-encodings.npz"
    cache.write_bytes(b"not an npz")
    assert load_encodings(cache, embedder.model_id) == {}
    bank = Bank(questions=load_bank().questions[:3])
    g = Grader(embedder, bank=bank, cache_path=cache)
    assert g.warm() > 0
    assert load_encodings(cache, "some/other-model") == {}
    assert load_encodings(cache, embedder.model_id)
