"""Vector similarity helpers, numpy only. Inputs are unit-normalised vectors or token matrices."""

from __future__ import annotations

import numpy as np


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine of two vectors (normalised here too, so callers may pass raw vectors)."""
    na = float(np.linalg.norm(a))
    nb = float(np.linalg.norm(b))
    if na == 0.0 or nb == 0.0:
        return 0.0
    return float(np.dot(a, b) / (na * nb))


def best_matches(
    answer_tokens: np.ndarray, ref_tokens: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """(best cosine of each reference token with any answer token, best of each answer token
    with any reference token): one matrix product that every alignment figure is read from.
    None when either side has no tokens."""
    if len(answer_tokens) == 0 or len(ref_tokens) == 0:
        return None
    sim = ref_tokens @ answer_tokens.T  # (r, a)
    return sim.max(axis=1), sim.max(axis=0)


def soft_alignment(answer_tokens: np.ndarray, ref_tokens: np.ndarray) -> tuple[float, float]:
    """BERTScore-style (recall, precision) of the answer against one reference.

    Recall: for each reference token, its best cosine with any answer token, averaged: how much
    of the reference the answer expresses. Precision: the same from the answer's side: how
    much of the answer is about the reference.
    """
    best = best_matches(answer_tokens, ref_tokens)
    if best is None:
        return 0.0, 0.0
    return float(best[0].mean()), float(best[1].mean())


def span_vectors(tokens: np.ndarray, spans: list[tuple[int, int]]) -> np.ndarray:
    """Unit vectors of token ranges [start, end): mean-pooled like the sentence embedding."""
    out = np.zeros((len(spans), tokens.shape[1]), dtype=np.float32)
    for i, (s, e) in enumerate(spans):
        if e > s:
            v = tokens[s:e].mean(axis=0)
            n = float(np.linalg.norm(v))
            out[i] = v / n if n else v
    return out


def f1(recall: float, precision: float) -> float:
    return 0.0 if recall + precision <= 0 else 2 * recall * precision / (recall + precision)
