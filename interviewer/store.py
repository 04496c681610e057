"""The one place that talks to Chroma: an embedded persistent store, or a Chroma server.

Chroma never embeds here (its default embedding function downloads a model): every vector
comes from our Embedder. The collection records the embedding model; each passage records a
content hash, so a changed model rebuilds, a changed passage re-embeds, and an unchanged bank
costs no embedding at all (the model is not even loaded).
"""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from interviewer.bank.models import Bank, Hit, Passage, Question
from interviewer.bank.passages import bank_passages, content_hash, embed_text
from interviewer.config import Settings
from interviewer.embedding import Embedder

SCHEMA = 1
EMBED_BATCH = 64
# Chroma's HTTP client waits forever by default: a server that accepts connections and never
# answers would hang every command.
SERVER_CONNECT_TIMEOUT = 10.0
SERVER_TIMEOUT = 60.0

Progress = Callable[[int, int], None]  # (done, total)


class StoreError(Exception):
    """The store can't be used as it is; `hint` says the way out."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


REBUILD_HINT = "run `interviewer index --rebuild` to replace it with a fresh index"


@dataclass
class IndexReport:
    total: int
    embedded: int
    deleted: int
    rebuilt: bool
    location: str


SERVER_HINT = (
    "check the URL and that `chroma run` is up, or use the local store: drop --chroma-url, "
    "unset INTERVIEWER_CHROMA_URL or the config file's chroma_url"
)
_SEGMENT_DIR = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def sweep_orphan_segments(root: Path) -> int:
    """Remove the segment folders Chroma leaves behind when a collection is deleted (each
    rebuild would otherwise keep the old vector index on disk); folders of live segments, of
    any collection, stay. Returns how many were removed."""
    import sqlite3

    db = root / "chroma.sqlite3"
    if not db.is_file():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
            live = {str(r[0]) for r in con.execute("SELECT id FROM segments")}
    except sqlite3.Error:
        return 0  # another layout: leave everything as it is
    removed = 0
    for d in root.iterdir():
        if d.is_dir() and _SEGMENT_DIR.fullmatch(d.name) and d.name not in live:
            shutil.rmtree(d, ignore_errors=True)
            removed += 1
    return removed


_HOST = re.compile(r"^[A-Za-z0-9._\-:\[\]%]+$")


def parse_chroma_url(url: str) -> tuple[str, int, bool]:
    u = urlparse(url if "://" in url else f"http://{url}")
    if u.scheme not in ("http", "https") or not u.hostname or not _HOST.match(u.hostname):
        raise StoreError(f"invalid Chroma URL {url!r}", hint="use http://HOST:PORT")
    try:
        port = u.port or (443 if u.scheme == "https" else 8000)
    except ValueError as exc:
        raise StoreError(f"invalid port in Chroma URL {url!r}", hint="use http://HOST:PORT") from exc
    return u.hostname, port, u.scheme == "https"


class Store:
    """Passages of the bank in a Chroma collection."""

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.settings = settings
        self.embedder = embedder
        self._client: Any = None
        self._collection: Any = None

    @property
    def location(self) -> str:
        return self.settings.chroma_url or str(self.settings.chroma_dir)

    # -- connection -----------------------------------------------------------------------

    def _connect(self) -> Any:
        if self._client is not None:
            return self._client
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=True)
        try:
            if self.settings.chroma_url:
                host, port, ssl = parse_chroma_url(self.settings.chroma_url)
                _probe_server(self.settings.chroma_url, host, port, ssl)
                self._client = chromadb.HttpClient(
                    host=host, port=port, ssl=ssl, settings=chroma_settings
                )
                _bound_wait(self._client)  # the probe above was the heartbeat
            else:
                _check_store_dir(self.settings.chroma_dir)
                self.settings.chroma_dir.mkdir(parents=True, exist_ok=True)
                self._client = chromadb.PersistentClient(
                    path=str(self.settings.chroma_dir), settings=chroma_settings
                )
        except StoreError:
            raise
        except Exception as exc:
            self._client = None
            if self.settings.chroma_url:
                raise StoreError(
                    f"cannot reach the Chroma server at {self.settings.chroma_url}: {_short(exc)}",
                    hint=SERVER_HINT,
                ) from exc
            raise StoreError(
                f"the index at {self.settings.chroma_dir} cannot be opened: {_short(exc)}",
                hint=self._hint_for(exc),
            ) from exc
        return self._client

    def _hint_for(self, exc: Exception) -> str:
        """The way out that fits the failure: --rebuild mends a damaged index, not a server that
        is down or a directory the user cannot write to."""
        text = f"{type(exc).__name__} {exc}".lower()
        if self.settings.chroma_url and any(
            w in text for w in ("connect", "timeout", "timed out", "refused", "protocol", "reset")
        ):
            return ("check that the Chroma server (`chroma run`) is up, then run the command "
                    "again: indexing continues where it stopped")
        if "readonly" in text or "read-only" in text or "permission" in text:
            return (f"check that you can write to {self.settings.chroma_dir}, or use another "
                    "--data-dir")
        if "no space" in text or "disk is full" in text or "database or disk is full" in text:
            return f"free some disk space for {self.settings.chroma_dir}, then run it again"
        return REBUILD_HINT

    @contextlib.contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        """Any failure talking to Chroma becomes a StoreError naming what was being done."""
        try:
            yield
        except StoreError:
            raise
        except Exception as exc:
            where = (f"the Chroma server at {self.settings.chroma_url}" if self.settings.chroma_url
                     else f"the index at {self.settings.chroma_dir}")
            raise StoreError(f"{what} failed on {where}: {_short(exc)}",
                             hint=self._hint_for(exc)) from exc

    def _get_collection(self, create: bool) -> Any:
        if self._collection is not None:
            return self._collection
        client = self._connect()
        name = self.settings.collection
        try:
            if create:
                col = client.get_or_create_collection(
                    name,
                    embedding_function=None,
                    metadata={
                        "embedding_model": self.embedder.model_id,
                        "schema": SCHEMA,
                        "app": "interviewer",
                    },
                    configuration={"hnsw": {"space": "cosine"}},
                )
            else:
                col = client.get_collection(name, embedding_function=None)
        except Exception as exc:
            if not create and _is_missing(exc):
                return None
            raise StoreError(f"the index at {self.location} is unusable: {_short(exc)}",
                             hint=self._hint_for(exc)) from exc
        meta = col.metadata or {}
        if meta.get("app") != "interviewer":
            raise StoreError(
                f"collection {name!r} at {self.location} was not made by interviewer",
                hint=REBUILD_HINT + " (or set INTERVIEWER_COLLECTION to another name)",
            )
        self._collection = col
        return col

    def reset(self) -> None:
        """Drop the collection; for a corrupt embedded store, delete its files."""
        self._collection = None
        if self.settings.chroma_url:
            client = self._connect()
            try:
                client.delete_collection(self.settings.collection)
            except Exception as exc:
                if not _is_missing(exc):
                    raise StoreError(f"cannot delete the collection: {_short(exc)}") from exc
            return
        try:
            client = self._connect()
            client.delete_collection(self.settings.collection)
            sweep_orphan_segments(Path(self.settings.chroma_dir))
        except Exception:
            # Unreadable files: start over. Only our own chroma dir is ever removed.
            self._client = None
            shutil.rmtree(self.settings.chroma_dir, ignore_errors=True)
            try:
                import chromadb

                chromadb.api.client.SharedSystemClient.clear_system_cache()
            except Exception:
                pass

    # -- building ---------------------------------------------------------------------------

    def ensure_index(
        self, bank: Bank, rebuild: bool = False, progress: Progress | None = None
    ) -> IndexReport:
        """Bring the collection in line with the bank, embedding only what changed."""
        rebuilt = False
        if rebuild:
            self.reset()
            rebuilt = True
        col = self._get_collection(create=True)
        if (col.metadata or {}).get("embedding_model") != self.embedder.model_id or (
            col.metadata or {}
        ).get("schema") != SCHEMA:
            self.reset()
            rebuilt = True
            col = self._get_collection(create=True)
        with self._guard("reading the index"):
            existing = col.get(include=["metadatas"])
        metas = dict(zip(existing["ids"], existing["metadatas"], strict=False))
        have = {i: (m or {}).get("hash") for i, m in metas.items()}
        want = {}
        for q, p in bank_passages(bank):
            text = embed_text(q, p)
            want[p.id] = (q, p, text, content_hash(self.embedder.model_id, text))
        todo = [v for pid, v in want.items() if have.get(pid) != v[3]]
        # Same text, new topics or thin flag (the curation file changed): no embedding needed.
        labels = {pid: _metadata(q, p, h) for pid, (q, p, _, h) in want.items() if have.get(pid) == h}
        relabel = [(pid, m) for pid, m in labels.items() if metas[pid] != m]
        if relabel:
            with self._guard("updating passage labels"):
                col.update(ids=[pid for pid, _ in relabel], metadatas=[m for _, m in relabel])
        stale = [pid for pid in have if pid not in want]
        if self.settings.chroma_url:
            # A shared server holds the passages of every bank indexed against it: a teammate's
            # documents are not stale because this bank lacks them; only passages of this
            # bank's own sources that it no longer has are.
            ours = {s.id for s in bank.sources}
            stale = [pid for pid in stale if (metas[pid] or {}).get("source") in ours]
        if stale:
            with self._guard("deleting stale passages"):
                col.delete(ids=stale)
        total = len(todo)
        if progress:
            progress(0, total)
        for start in range(0, total, EMBED_BATCH):
            batch = todo[start : start + EMBED_BATCH]
            vecs = self.embedder.encode([t for _, _, t, _ in batch])
            with self._guard("writing passages"):
                col.upsert(
                    ids=[p.id for _, p, _, _ in batch],
                    embeddings=vecs.tolist(),
                    documents=[p.text for _, p, _, _ in batch],
                    metadatas=[_metadata(q, p, h) for q, p, _, h in batch],
                )
            if progress:
                progress(min(start + EMBED_BATCH, total), total)
        return IndexReport(
            total=len(want), embedded=total, deleted=len(stale), rebuilt=rebuilt,
            location=self.location,
        )

    def count(self) -> int:
        col = self._get_collection(create=False)
        if col is None:
            return 0
        with self._guard("counting passages"):
            return int(col.count())

    # -- reading ----------------------------------------------------------------------------

    def search(self, text: str, k: int = 5, exclude_question_id: str | None = None) -> list[Hit]:
        return self.search_vector(self.embedder.encode([text])[0], k, exclude_question_id)

    def search_vector(
        self, vec: np.ndarray | Sequence[float], k: int = 5, exclude_question_id: str | None = None
    ) -> list[Hit]:
        return self.search_vectors([vec], k, exclude_question_id)[0]

    def search_vectors(
        self,
        vecs: Sequence[np.ndarray | Sequence[float]],
        k: int = 5,
        exclude_question_id: str | None = None,
    ) -> list[list[Hit]]:
        col = self._get_collection(create=False)
        if col is None or not len(vecs):
            return [[] for _ in vecs]
        where = {"question_id": {"$ne": exclude_question_id}} if exclude_question_id else None
        with self._guard("search"):
            n = max(1, min(k, col.count()))
            res = col.query(
                query_embeddings=[np.asarray(v, dtype=np.float32).tolist() for v in vecs],
                n_results=n,
                where=where,
                include=["documents", "metadatas", "distances"],
            )
        out = []
        for ids, docs, metas, dists in zip(
            res["ids"], res["documents"], res["metadatas"], res["distances"], strict=True
        ):
            out.append(
                [
                    Hit(passage=_passage(pid, doc, meta), distance=float(d))
                    for pid, doc, meta, d in zip(ids, docs, metas, dists, strict=True)
                ]
            )
        return out

    def passages(self, question_id: str) -> list[Passage]:
        col = self._get_collection(create=False)
        if col is None:
            return []
        with self._guard("reading passages"):
            res = col.get(where={"question_id": question_id}, include=["documents", "metadatas"])
        ps = [_passage(i, d, m) for i, d, m in zip(res["ids"], res["documents"],
                                                   res["metadatas"], strict=True)]
        return sorted(ps, key=lambda p: int(p.id.rsplit("#", 1)[1]))


def _metadata(q: Question, p: Passage, content_hash: str) -> dict[str, Any]:
    return {"question_id": p.question_id, "source": p.source, "topics": ",".join(p.topics),
            "thin": q.thin, "hash": content_hash}


def _passage(pid: str, doc: str | None, meta: Any) -> Passage:
    meta = meta or {}
    topics = [t for t in str(meta.get("topics", "")).split(",") if t]
    return Passage(
        id=pid, question_id=str(meta.get("question_id", pid.split("#")[0])),
        source=str(meta.get("source", "")), text=doc or "", topics=topics,
    )


def _check_store_dir(path: Path) -> None:
    """A file or a broken symlink where the store goes: --rebuild cannot mend that, so say it."""
    if path.is_symlink() and not path.exists():
        raise StoreError(f"the index path {path} is a broken symlink (to {path.readlink()})",
                         hint="remove the link or make it point to a directory")
    if path.exists() and not path.is_dir():
        raise StoreError(f"the index path {path} is a file, not a directory",
                         hint="move the file away, or use another --data-dir")


def _probe_server(url: str, host: str, port: int, ssl: bool) -> None:
    """One bounded request before Chroma's client (which waits forever) is made: a server that
    never answers, or one that is not Chroma, gets its own message."""
    import httpx

    base = f"{'https' if ssl else 'http'}://{host if ':' not in host else f'[{host}]'}:{port}"
    try:
        r = httpx.get(f"{base}/api/v2/heartbeat", timeout=SERVER_CONNECT_TIMEOUT)
    except httpx.TimeoutException as exc:
        raise StoreError(f"the Chroma server at {url} did not answer in time ({_short(exc)})",
                         hint="check that `chroma run` is up and not stuck") from exc
    except httpx.HTTPError as exc:
        raise StoreError(f"cannot reach the Chroma server at {url}: {_short(exc)}",
                         hint=SERVER_HINT) from exc
    try:
        body = r.json()
    except ValueError:
        body = None
    ok = r.status_code == 200 and isinstance(body, dict) and "nanosecond heartbeat" in body
    if not ok:
        kind = r.headers.get("content-type", "").split(";")[0] or "no content type"
        raise StoreError(
            f"{url} answered, but not as a Chroma server (HTTP {r.status_code}, {kind})",
            hint="check the host and port: `chroma run --host HOST --port PORT` serves the API "
            "this client speaks (v2)",
        )


def _bound_wait(client: Any) -> None:
    """Give Chroma's HTTP session a timeout (it has none) so a server that stops answering
    mid-command fails instead of hanging."""
    import httpx

    session = getattr(getattr(client, "_server", None), "_session", None)
    if isinstance(session, httpx.Client):
        session.timeout = httpx.Timeout(SERVER_TIMEOUT, connect=SERVER_CONNECT_TIMEOUT)


def _is_missing(exc: Exception) -> bool:
    text = f"{type(exc).__name__} {exc}".lower()
    return "notfound" in text or "does not exist" in text or "not found" in text


def _short(exc: Exception) -> str:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return msg[:200]
