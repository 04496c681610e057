"""Chunking reference answers into passages for the index, and corpus checks. Pure."""

from __future__ import annotations

import hashlib

import numpy as np

from interviewer.bank.models import Bank, Passage, Question
from interviewer.bank.text import words

MAX_PASSAGE_WORDS = 70


def passages_for(q: Question) -> list[Passage]:
    """Paragraph-level chunks of the reference: each line (paragraph, list item, table row),
    with short neighbours merged up to MAX_PASSAGE_WORDS so a passage is a citable unit."""
    chunks: list[str] = []
    cur: list[str] = []
    n = 0
    for line in (ln.strip() for ln in q.reference.split("\n")):
        if not line:
            continue
        w = len(words(line))
        # flush when full, but never right after an introducer ("…include:")
        if cur and n + w > MAX_PASSAGE_WORDS and not cur[-1].endswith(":"):
            chunks.append("\n".join(cur))
            cur, n = [], 0
        cur.append(line)
        n += w
    if cur:
        chunks.append("\n".join(cur))
    return [
        Passage(id=f"{q.id}#{i}", question_id=q.id, source=q.source, text=t, topics=q.topics)
        for i, t in enumerate(chunks, start=1)
    ]


def embed_text(q: Question, p: Passage) -> str:
    """What gets embedded: the passage in the context of its question, so a question's own
    passages come back first when searched with its text."""
    return f"{q.question}\n{p.text}"


def content_hash(model_id: str, text: str) -> str:
    return hashlib.sha256(f"{model_id}\x00{text}".encode()).hexdigest()[:32]


def bank_passages(bank: Bank) -> list[tuple[Question, Passage]]:
    return [(q, p) for q in bank.questions for p in passages_for(q)]


def find_duplicates(
    bank: Bank, vectors: np.ndarray, threshold: float = 0.82
) -> list[tuple[str, str, float]]:
    """Pairs of questions from different sources that ask the same thing.

    `vectors` are unit-normalised embeddings of the question texts, in bank order.
    """
    qs = bank.questions
    sources = np.array([q.source for q in qs])
    out = []
    # In blocks of rows, pairs found with numpy: a user's document of thousands of questions
    # would otherwise mean an n x n matrix and a Python loop over every pair.
    for start in range(0, len(qs), 512):
        sims = vectors[start : start + 512] @ vectors.T
        rows, cols = np.nonzero(sims >= threshold)
        for r, j in zip(rows.tolist(), cols.tolist(), strict=True):
            i = start + r
            if j > i and sources[i] != sources[j]:
                out.append((qs[i].id, qs[j].id, float(sims[r, j])))
    return sorted(out, key=lambda t: -t[2])
