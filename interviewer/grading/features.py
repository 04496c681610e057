"""The figures a grade is computed from. Pure: texts plus precomputed vectors in, numbers out.

Every feature is scale-free (a cosine, a mean of cosines, a ratio), so that a one-sentence
answer to a one-sentence reference and a paragraph against a paragraph land on the same
scale; length enters only through guards, never as a reward.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from interviewer.grading.keypoints import split_sentences
from interviewer.grading.similarity import best_matches, cosine, span_vectors

_WORD = re.compile(r"[^\W_](?:[^\W_]|['’\-])*")  # any script: Cyrillic is words, not empty

_STOP_TEXT = """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself
    yourselves also may might must shall us it's that's there's i'm i'd i'll i've you're
    we're they're don't doesn't didn't isn't aren't wasn't weren't can't cannot won't would've
    one ones like well really much many get gets got make makes made use used uses using way
    thing things lot basically actually sure yes yeah ok okay"""
STOPWORDS: frozenset[str] = frozenset(_STOP_TEXT.split())


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("’", "'"))


@lru_cache(maxsize=1 << 16)  # a batch stems the same few thousand words a million times
def stem(word: str) -> str:
    """A crude suffix stripper: enough to match 'layers' with 'layer', 'trained' with 'training'."""
    for suf in ("ations", "ation", "ings", "ing", "ies", "ed", "es", "s", "ly"):
        if len(word) > len(suf) + 3 and word.endswith(suf):
            return word[: -len(suf)]
    return word


def content_terms(text: str) -> list[str]:
    return [stem(w) for w in words(text) if w not in STOPWORDS and len(w) > 1]


def function_word_ratio(text: str) -> float:
    """Share of words that are function words: about 0.4-0.5 in prose, near 0 in a keyword list."""
    ws = words(text)
    return sum(w in STOPWORDS for w in ws) / len(ws) if ws else 0.0


def lexical_overlap(answer: str, reference: str) -> tuple[float, float]:
    """(recall, precision) of content-word stems: the share of the reference's distinct terms
    the answer uses, and the share of the answer's distinct terms found in the reference."""
    a = set(content_terms(answer))
    r = set(content_terms(reference))
    if not a or not r:
        return 0.0, 0.0
    inter = len(a & r)
    return inter / len(r), inter / len(a)


@dataclass
class Encoded:
    """One text with its sentence vector and token matrix (unit rows), from one model pass.

    `offsets` are the character spans of the token rows, when the tokenizer gave them; they let
    the grader quote the part of the answer that matches a key point.
    """

    text: str
    vector: np.ndarray
    tokens: np.ndarray
    offsets: list[tuple[int, int]] | None = None
    # A reference is compared with every answer of a batch: its token words and content masks
    # are worked out once (see `token_words`, `content_mask`).
    _words: list[str] | None = field(default=None, init=False, repr=False, compare=False)
    _masks: dict[frozenset[str], np.ndarray | None] = field(
        default_factory=dict, init=False, repr=False, compare=False)


@dataclass
class KeyPointMatch:
    point: str
    span: str
    similarity: float


@dataclass
class ReferenceFeatures:
    """Answer-versus-one-reference figures."""

    cos: float
    align_recall: float
    content_recall: float
    align_precision: float
    lex_recall: float
    lex_precision: float
    fresh_content_recall: float = 0.0
    fresh_lex_recall: float = 0.0
    matches: list[KeyPointMatch] = field(default_factory=list)


def token_words(enc: Encoded) -> list[str] | None:
    """The whole word each token row belongs to (lower case), or None without offsets."""
    if enc.offsets is None or len(enc.offsets) != len(enc.tokens):
        return None
    if enc._words is None:
        enc._words = _token_words(enc.text, enc.offsets)
    return enc._words


def _token_words(text: str, offsets: list[tuple[int, int]]) -> list[str]:
    text = text.lower()
    out: list[str] = []
    for a, b in offsets:
        lo, hi = a, b
        while lo > 0 and (text[lo - 1].isalnum() or text[lo - 1] in "'’"):
            lo -= 1
        while hi < len(text) and (text[hi].isalnum() or text[hi] in "'’"):
            hi += 1
        out.append(text[lo:hi].replace("’", "'"))
    return out


def content_mask(enc: Encoded, exclude: frozenset[str] = frozenset()) -> np.ndarray | None:
    """True for tokens that belong to a content word (not a function word or punctuation),
    and whose stem is not in `exclude`.

    BERTScore weights tokens by rarity so that 'the' and ',' do not pad the recall; without
    corpus statistics, dropping function words and punctuation is the same idea. None when
    the token offsets are unknown or nothing is left.
    """
    if exclude in enc._masks:
        return enc._masks[exclude]
    tw = token_words(enc)
    if tw is None:
        return None
    mask = np.array(
        [any(c.isalnum() for c in w) and w not in STOPWORDS and stem(w) not in exclude for w in tw],
        dtype=bool,
    )
    if len(enc._masks) > 64:  # excludes vary by question: keep the memo small
        enc._masks.clear()
    enc._masks[exclude] = found = mask if mask.any() else None
    return found


def _recall_over(ref_best: np.ndarray, reference: Encoded, exclude: frozenset[str]) -> float:
    """Mean of the reference tokens' best matches over its content tokens, minus `exclude`d
    stems (over all content tokens when excluding leaves nothing, all tokens without offsets)."""
    mask = content_mask(reference, exclude) if exclude else None
    if mask is None:
        mask = content_mask(reference)
    picked = ref_best if mask is None else ref_best[mask]
    return float(picked.mean()) if len(picked) else 0.0


def content_recall(
    answer: Encoded, reference: Encoded, exclude: frozenset[str] = frozenset()
) -> float:
    """Soft-alignment recall over the reference's content tokens only (see `_recall_over`)."""
    best = best_matches(answer.tokens, reference.tokens)
    return 0.0 if best is None else _recall_over(best[0], reference, exclude)


def question_terms(question: str) -> frozenset[str]:
    """The stems a question gives away. Hyphenated terms count whole and by their parts, since
    the tokenizer splits "self-attention" into "self", "-", "attention"."""
    return frozenset(
        t for term in content_terms(question) for t in (term, *map(stem, term.split("-"))) if t
    )


def fresh_lex_recall(answer: str, reference: str, question_terms: frozenset[str]) -> float:
    """Share of the reference's content stems the answer uses, counting only stems the question
    did not already give (all of them when the question gives them all)."""
    r = set(content_terms(reference))
    fresh = r - question_terms or r
    if not fresh:
        return 0.0
    return len(set(content_terms(answer)) & fresh) / len(fresh)


def answer_spans(answer: Encoded) -> list[tuple[str, tuple[int, int]]]:
    """The answer's sentences with their token ranges (approximate without offsets)."""
    text = answer.text
    n_tok = len(answer.tokens)
    sents = split_sentences(text)
    if not sents or n_tok == 0:
        return [(text.strip(), (0, n_tok))]
    # Character start of each sentence in the text, searched in order.
    starts: list[int] = []
    pos = 0
    for s in sents:
        i = text.find(s, pos)
        i = pos if i < 0 else i
        starts.append(i)
        pos = i + len(s)
    bounds = [*starts[1:], len(text) + 1]
    spans: list[tuple[str, tuple[int, int]]] = []
    if answer.offsets is not None and len(answer.offsets) == n_tok:
        tok_starts = np.array([o[0] for o in answer.offsets])
        for s, lo, hi in zip(sents, starts, bounds, strict=True):
            idx = np.nonzero((tok_starts >= lo) & (tok_starts < hi))[0]
            if len(idx):
                spans.append((s, (int(idx[0]), int(idx[-1]) + 1)))
    else:  # proportional to characters: good enough to pick a sentence
        total = max(len(text), 1)
        for s, lo, hi in zip(sents, starts, bounds, strict=True):
            a = int(round(lo / total * n_tok))
            b = max(a + 1, int(round(min(hi, total) / total * n_tok)))
            spans.append((s, (a, min(b, n_tok))))
    return spans or [(text.strip(), (0, n_tok))]


def key_point_matches(
    answer: Encoded, points: list[Encoded], spans: list[tuple[str, tuple[int, int]]]
) -> list[KeyPointMatch]:
    """For each key point, how well the answer makes it, and the sentence that makes it.

    Similarity: the mean of the point's content-token recall against the whole answer (it may
    be made across two sentences) and its best cosine with a sentence or the whole answer
    (sentence vectors mean-pooled from the answer's own token matrix: no second model pass).
    The quoted sentence is the one whose tokens align best with the point's content tokens.
    """
    if not points or len(answer.tokens) == 0:
        return [KeyPointMatch(point=p.text, span="", similarity=0.0) for p in points]
    span_vecs = span_vectors(answer.tokens, [s for _, s in spans])
    kp_vecs = np.stack([p.vector for p in points])
    cos_span = kp_vecs @ span_vecs.T  # (k, s)
    cos_whole = kp_vecs @ answer.vector
    out: list[KeyPointMatch] = []
    for j, p in enumerate(points):
        mask = content_mask(p)
        kp_tok = p.tokens if mask is None else p.tokens[mask]
        tok_sims = kp_tok @ answer.tokens.T  # (kp tokens, answer tokens)
        recall = float(tok_sims.max(axis=1).mean())
        per_span = [
            float(tok_sims[:, a:b].max(axis=1).mean()) if b > a else -1.0 for _, (a, b) in spans
        ]
        best = int(np.argmax(per_span))
        cos = max(float(cos_span[j].max()), float(cos_whole[j]))
        out.append(KeyPointMatch(point=p.text, span=spans[best][0], similarity=(recall + cos) / 2))
    return out


def reference_features(
    answer: Encoded,
    reference: Encoded,
    points: list[Encoded] | None = None,
    spans: list[tuple[str, tuple[int, int]]] | None = None,
    question_terms: frozenset[str] = frozenset(),
) -> ReferenceFeatures:
    """Answer-versus-reference figures; the `fresh_` ones ignore the stems in `question_terms`
    (repeating the question's words shows nothing, so they earn nothing there)."""
    best = best_matches(answer.tokens, reference.tokens)  # one product for all four figures
    rec, prec, content, fresh = 0.0, 0.0, 0.0, 0.0
    if best is not None:
        ref_best, answer_best = best
        rec, prec = float(ref_best.mean()), float(answer_best.mean())
        content = _recall_over(ref_best, reference, frozenset())
        fresh = _recall_over(ref_best, reference, question_terms)
    lr, lp = lexical_overlap(answer.text, reference.text)
    matches = (
        key_point_matches(answer, points, spans if spans is not None else answer_spans(answer))
        if points
        else []
    )
    return ReferenceFeatures(
        cos=cosine(answer.vector, reference.vector),
        align_recall=rec,
        content_recall=content,
        align_precision=prec,
        lex_recall=lr,
        lex_precision=lp,
        fresh_content_recall=fresh,
        fresh_lex_recall=fresh_lex_recall(answer.text, reference.text, question_terms),
        matches=matches,
    )


def coverage(matches: list[KeyPointMatch], lo: float, hi: float) -> float:
    """Mean soft credit over key points: 0 below `lo`, 1 above `hi`, linear between."""
    if not matches:
        return 0.0
    return float(np.mean([min(1.0, max(0.0, (m.similarity - lo) / (hi - lo))) for m in matches]))


def length_ratio(answer: str, reference: str) -> float:
    """log2 of answer words over reference words: 0 for the same length."""
    return math.log2((len(words(answer)) + 1) / (len(words(reference)) + 1))


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


RESTATED_MIN_REST_TERMS = 4  # terms of its own the rest of an answer needs to be graded alone


def drop_restated_question(
    answer: str, question: str, filler: frozenset[str] = frozenset()
) -> str:
    """The answer without a copy of the question at its start ("What is dropout? Dropout is…"):
    restating earns nothing, and another question's answer put behind this question's words must
    not borrow their closeness. Unchanged when what follows is too slight to stand alone (a bare
    restatement stays whole: that is for the parrot guard to judge). `filler`: terms that do
    not count as the rest's own (framing words, the field's name)."""
    q_words = re.findall(r"\w+", question.lower())
    if len(q_words) < 3:
        return answer
    m = re.match(r"\W*" + r"\W+".join(map(re.escape, q_words)) + r"\W*", answer, re.IGNORECASE)
    if m is None:
        return answer
    rest = answer[m.end():]
    own = set(content_terms(rest)) - set(content_terms(question)) - filler
    if len(own) < RESTATED_MIN_REST_TERMS:
        return answer
    return rest


def drop_repeated_sentences(answer: str) -> str:
    """The answer with each sentence kept once: saying the same thing again adds nothing, and
    must not buy a longer answer a better score. Unchanged when nothing repeats."""
    parts = [p for p in _SENTENCE_END.split(answer) if p.strip()]
    seen: set[str] = set()
    kept = []
    for p in parts:
        key = " ".join(p.lower().split())
        if key not in seen:
            seen.add(key)
            kept.append(p.strip())
    if len(kept) == len(parts):
        return answer
    return " ".join(kept)
