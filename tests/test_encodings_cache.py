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


def test_a_first_warm_up_reports_its_progress_and_a_cached_one_nothing(tmp_path, embedder) -> None:
    """The first run on a machine embeds the bank for ~10 s: `grade` and the TUI show a count.
    With an index, the searches behind related passages come first, then everything else."""
    from interviewer.config import load_settings
    from interviewer.store import Store

    full = load_bank()
    bank = Bank(sources=full.sources, questions=[q for q in full.questions if q.source == "002"])
    settings = load_settings(data_dir=tmp_path / "data")
    store = Store(settings, embedder)
    store.ensure_index(bank)
    cache = tmp_path / "bank-encodings.npz"
    heard: list[tuple[int, int]] = []
    first = Grader(embedder, bank=bank, store=store, cache_path=cache)
    embedded = first.warm(lambda done, total: heard.append((done, total)))
    searches = len(bank.deck())
    assert embedded > 0 and heard
    assert [d for d, _ in heard] == sorted(d for d, _ in heard)  # always forward
    assert heard[0] == (0, searches)  # said before the first step, not after it
    grown = next(i for i, (_, t) in enumerate(heard) if t > searches)
    assert heard[grown - 1] == (searches, searches)  # the searches done, then the rest
    assert heard[-1][0] == heard[-1][1] > searches
    quiet: list[tuple[int, int]] = []
    assert Grader(embedder, bank=bank, store=store, cache_path=cache).warm(
        lambda done, total: quiet.append((done, total))) == 0
    assert quiet == []
