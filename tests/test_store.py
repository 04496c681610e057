"""The Chroma index: round trip, incremental updates, model changes, corrupt stores, server mode."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from interviewer.bank.loader import load_bank, load_bank_from
from interviewer.bank.models import Bank
from interviewer.config import load_settings
from interviewer.embedding import Embedder
from interviewer.store import Store, StoreError

pytestmark = pytest.mark.slow


class CountingEmbedder(Embedder):
    """The real model, counting how many texts it was asked to embed."""

    def __init__(self, inner: Embedder, model_id: str | None = None) -> None:
        super().__init__(inner.model_name)
        self._model = inner.load()
        self._cache = inner._cache
        if model_id:
            self.model_id = model_id
        self.calls = 0

    def encode(self, texts, batch_size=64):  # type: ignore[override]
        self.calls += len(texts)
        return super().encode(texts, batch_size)


@pytest.fixture(scope="module")
def bank() -> Bank:
    return load_bank()


@pytest.fixture(scope="module")
def built(tmp_path_factory, embedder, bank):
    """One cold build of the whole bank, shared by the read-only tests below."""
    data = tmp_path_factory.mktemp("index")
    settings = load_settings(data_dir=data)
    store = Store(settings, embedder)
    report = store.ensure_index(bank)
    return settings, store, report


def test_cold_build_indexes_every_passage(built, bank) -> None:
    _, store, report = built
    from interviewer.bank.passages import bank_passages

    assert report.total == len(bank_passages(bank)) == store.count()
    assert report.embedded == report.total


def test_own_passages_come_back_first(built, bank) -> None:
    _, store, _ = built
    checked = 0
    for qid in ("000-17", "001-35", "001-50", "002-7", "003-8", "000-9", "001-27"):
        q = bank.get(qid)
        hits = store.search(q.question, k=3)
        assert hits[0].passage.question_id == qid, (qid, [h.passage.id for h in hits])
        assert hits[0].passage.source == q.source
        assert 0 <= hits[0].distance < hits[-1].distance + 1e-9
        checked += 1
    assert checked == 7


def test_passages_and_exclusion(built) -> None:
    _, store, _ = built
    own = store.passages("000-17")
    assert own and all(p.question_id == "000-17" for p in own)
    hits = store.search("What is dropout?", k=5, exclude_question_id="000-17")
    assert hits and all(h.passage.question_id != "000-17" for h in hits)


def test_unchanged_bank_costs_no_embedding(built, embedder, bank) -> None:
    settings, _, _ = built
    counting = CountingEmbedder(embedder)
    report = Store(settings, counting).ensure_index(bank)
    assert report.embedded == 0 and counting.calls == 0


def test_changed_passage_reembeds_only_it(tmp_path, embedder, bank) -> None:
    small = Bank(sources=bank.sources[:1], questions=[q.model_copy() for q in bank.questions[:5]])
    settings = load_settings(data_dir=tmp_path / "d")
    first = Store(settings, CountingEmbedder(embedder)).ensure_index(small)
    small.questions[0].reference += "\nIt also has a brand new closing sentence about tests."
    del small.questions[4]
    counting = CountingEmbedder(embedder)
    report = Store(settings, counting).ensure_index(small)
    assert 1 <= report.embedded <= 2 and counting.calls == report.embedded
    assert report.deleted >= 1
    assert report.total < first.total + 2


def test_new_topics_or_thin_flag_relabel_passages_without_embedding(tmp_path, embedder,
                                                                    bank) -> None:
    """The curation file changed a question's topics: its passages say so, no model pass."""
    small = Bank(sources=bank.sources[:1], questions=[q.model_copy() for q in bank.questions[:3]])
    settings = load_settings(data_dir=tmp_path / "d")
    Store(settings, CountingEmbedder(embedder)).ensure_index(small)
    small.questions[1] = small.questions[1].model_copy(update={"topics": ["generative"]})
    counting = CountingEmbedder(embedder)
    store = Store(settings, counting)
    assert store.ensure_index(small).embedded == 0 and counting.calls == 0
    [metas] = [store._get_collection(create=False).get(  # noqa: SLF001
        where={"question_id": small.questions[1].id}, include=["metadatas"])["metadatas"]]
    assert metas and all(m["topics"] == "generative" for m in metas)


def test_changed_model_rebuilds(tmp_path, embedder, bank) -> None:
    small = Bank(sources=bank.sources[:1], questions=bank.questions[:3])
    settings = load_settings(data_dir=tmp_path / "d")
    Store(settings, CountingEmbedder(embedder)).ensure_index(small)
    other = CountingEmbedder(embedder, model_id="some/other-model")
    report = Store(settings, other).ensure_index(small)
    assert report.rebuilt and report.embedded == report.total == other.calls


def test_rebuilds_leave_no_old_segment_folders_behind(tmp_path, embedder, bank) -> None:
    small = Bank(sources=bank.sources[:1], questions=bank.questions[:3])
    settings = load_settings(data_dir=tmp_path / "d")
    # A collection of someone else's in the same folder keeps its files.
    other = Store(settings, embedder)._connect()
    col = other.create_collection("theirs", embedding_function=None)
    col.add(ids=["a"], embeddings=[[0.1, 0.2, 0.3]], documents=["x"])

    def folders() -> set[str]:
        return {p.name for p in settings.chroma_dir.iterdir() if p.is_dir()}

    theirs = folders()
    Store(settings, embedder).ensure_index(small)
    first = folders() - theirs
    assert first
    for _ in range(2):
        report = Store(settings, embedder).ensure_index(small, rebuild=True)
        assert report.rebuilt and report.total > 0
    now = folders()
    assert theirs <= now and not (first & now) and len(now - theirs) == len(first)
    assert other.get_collection("theirs", embedding_function=None).count() == 1


def test_corrupt_store_is_a_clear_error_and_rebuild_fixes_it(tmp_path, embedder, bank) -> None:
    small = Bank(sources=bank.sources[:1], questions=bank.questions[:2])
    settings = load_settings(data_dir=tmp_path / "d")
    settings.chroma_dir.mkdir(parents=True)
    (settings.chroma_dir / "chroma.sqlite3").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError) as err:
        Store(settings, embedder).ensure_index(small)
    assert "--rebuild" in (err.value.hint or "")
    report = Store(settings, embedder).ensure_index(small, rebuild=True)
    assert report.rebuilt and report.total > 0


def test_foreign_collection_is_refused(tmp_path, embedder, bank) -> None:
    import chromadb
    from chromadb.config import Settings as CS

    settings = load_settings(data_dir=tmp_path / "d")
    client = chromadb.PersistentClient(
        path=str(settings.chroma_dir), settings=CS(anonymized_telemetry=False, allow_reset=True)
    )
    client.create_collection("passages", embedding_function=None, metadata={"owner": "else"})
    with pytest.raises(StoreError) as err:
        Store(settings, embedder).ensure_index(Bank(questions=bank.questions[:1]))
    assert "not made by interviewer" in str(err.value)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_chroma(path: Path) -> tuple[subprocess.Popen[bytes], str]:
    exe = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
    if not Path(exe).exists():
        pytest.fail("the chroma CLI (from the chromadb package) is not installed")
    port = _free_port()
    with open(path / "server.log", "w") as log:  # the child keeps its own handle
        proc = subprocess.Popen(
            [exe, "run", "--path", str(path / "db"), "--host", "127.0.0.1", "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
        )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("chroma server did not start: " + (path / "server.log").read_text()[-500:])
    return proc, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    proc, url = _start_chroma(tmp_path_factory.mktemp("chroma-server"))
    yield url
    proc.terminate()
    proc.wait(timeout=20)


def test_server_mode_round_trip(chroma_server, tmp_path, embedder, bank) -> None:
    settings = load_settings(data_dir=tmp_path / "d", chroma_url=chroma_server)
    small = Bank(sources=bank.sources, questions=[q for q in bank.questions if q.source == "002"])
    report = Store(settings, embedder).ensure_index(small)
    assert report.embedded == report.total > 0 and report.location == chroma_server
    assert not settings.chroma_dir.exists()  # nothing written locally
    store = Store(settings, embedder)  # a second client sees the shared bank
    hits = store.search(small.questions[6].question, k=2)
    assert hits[0].passage.question_id == small.questions[6].id
    again = Store(settings, CountingEmbedder(embedder)).ensure_index(small)
    assert again.embedded == 0


def test_a_shared_server_keeps_the_passages_of_other_banks(chroma_server, tmp_path, embedder,
                                                            bank) -> None:
    """A class shares one server: a student whose bank lacks the teacher's document must not
    delete its passages; only passages of the student's own sources that it dropped go."""

    def sub(*ids: str, drop: str = "") -> Bank:
        return Bank(sources=[s for s in bank.sources if s.id in ids],
                    questions=[q for q in bank.questions if q.source in ids and q.id != drop])

    def store(who: str) -> Store:
        settings = load_settings(data_dir=tmp_path / who, chroma_url=chroma_server,
                                 collection="shared_class")
        return Store(settings, embedder)

    teacher, student = store("teacher"), store("student")
    full = teacher.ensure_index(sub("002", "003")).total
    report = student.ensure_index(sub("002"))
    assert report.deleted == 0 and report.embedded == 0
    assert student.count() == full
    n = len(student.passages("003-4"))  # the teacher's passages serve the student's searches
    assert n > 0
    dropped = teacher.ensure_index(sub("002", "003", drop="003-4"))
    assert dropped.deleted == n
    assert not student.passages("003-4") and student.count() == full - n


def test_unreachable_server_is_a_clear_error(tmp_path, embedder) -> None:
    settings = load_settings(data_dir=tmp_path, chroma_url=f"http://127.0.0.1:{_free_port()}")
    with pytest.raises(StoreError) as err:
        Store(settings, embedder).ensure_index(Bank())
    assert "cannot reach the Chroma server" in str(err.value)


def test_a_server_that_dies_mid_index_is_a_clear_error(tmp_path, embedder, bank) -> None:
    proc, url = _start_chroma(tmp_path)

    class KillingEmbedder(CountingEmbedder):
        def encode(self, texts, batch_size=64):  # type: ignore[override]
            proc.kill()  # the server goes away while the first batch is embedded
            proc.wait(timeout=20)
            return super().encode(texts, batch_size)

    settings = load_settings(data_dir=tmp_path / "d", chroma_url=url)
    try:
        with pytest.raises(StoreError) as err:
            Store(settings, KillingEmbedder(embedder)).ensure_index(
                Bank(sources=bank.sources, questions=bank.questions[:3]))
    finally:
        proc.kill()
    assert "failed on the Chroma server at " + url in str(err.value)
    assert "chroma run" in (err.value.hint or "") and "--rebuild" not in (err.value.hint or "")


def test_a_server_that_never_answers_times_out(tmp_path, embedder, monkeypatch) -> None:
    import interviewer.store as store_mod

    monkeypatch.setattr(store_mod, "SERVER_CONNECT_TIMEOUT", 1.0)
    with socket.socket() as mute:  # accepts connections (the kernel does), never answers
        mute.bind(("127.0.0.1", 0))
        mute.listen(8)
        url = f"http://127.0.0.1:{mute.getsockname()[1]}"
        settings = load_settings(data_dir=tmp_path, chroma_url=url)
        started = time.monotonic()
        with pytest.raises(StoreError) as err:
            Store(settings, embedder).count()
        assert time.monotonic() - started < 10
    assert "did not answer in time" in str(err.value)


def test_a_server_that_is_not_chroma_or_a_url_that_is_not_one(tmp_path, embedder) -> None:
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    web = ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{web.server_address[1]}"
        with pytest.raises(StoreError) as err:
            Store(load_settings(data_dir=tmp_path, chroma_url=url), embedder).count()
    finally:
        web.shutdown()
    assert "answered, but not as a Chroma server (HTTP 404" in str(err.value)
    for bad in ("not a url", "ftp://host:1", "http://"):
        with pytest.raises(StoreError) as err:
            Store(load_settings(data_dir=tmp_path, chroma_url=bad), embedder).count()
        assert "invalid Chroma URL" in str(err.value), bad


def test_a_file_or_broken_link_where_the_store_goes_is_named(tmp_path, embedder) -> None:
    settings = load_settings(data_dir=tmp_path / "d")
    settings.chroma_dir.parent.mkdir(parents=True)
    settings.chroma_dir.write_text("not a directory")
    for rebuild in (False, True):
        with pytest.raises(StoreError) as err:
            Store(settings, embedder).ensure_index(Bank(), rebuild=rebuild)
        assert "is a file, not a directory" in str(err.value)
        assert "--rebuild" not in (err.value.hint or "")
    assert settings.chroma_dir.read_text() == "not a directory"  # never removed
    settings.chroma_dir.unlink()
    settings.chroma_dir.symlink_to(tmp_path / "gone")
    with pytest.raises(StoreError) as err:
        Store(settings, embedder).count()
    assert "broken symlink" in str(err.value)


def test_user_documents_join_the_bank(tmp_path) -> None:
    user = tmp_path / "corpus"
    user.mkdir()
    (user / "mine.md").write_text(
        "## What is label smoothing?\n\nIt replaces one-hot targets with a mix of the target "
        "and a uniform distribution. It reduces over-confident predictions and helps "
        "calibration of the classifier.\n"
    )
    from interviewer.bank.loader import builtin_corpus_dir

    bank = load_bank_from([builtin_corpus_dir(), user])
    assert bank.get("mine-1").question == "What is label smoothing?"
    assert len(bank.questions) == 112
