"""The offline grade: a pure function of texts and their precomputed vectors. No model, no I/O.

References: the question's own reference answer (weight 1) and, for a bank question, passages
of other questions about the same concept (weight `calibration.related_weight`, 0.5). Each
similarity feature is taken against the own reference, and a related passage can only raise it
by its weight times the gain: f = f_own + w * max(0, f_related - f_own). Key points, covered and
missed, always come from the own reference.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from interviewer.grading.calibration import KNOWN_FEATURES, Calibration
from interviewer.grading.features import (
    STOPWORDS,
    Encoded,
    KeyPointMatch,
    ReferenceFeatures,
    answer_spans,
    length_ratio,
    question_terms,
    reference_features,
    words,
)
from interviewer.grading.guards import GuardInput, cap_for, flags_for
from interviewer.grading.models import Flag, Grade, PointMatch, Reference


@dataclass
class RefInput:
    """A reference passage with its encoding; key points only for the own reference."""

    reference: Reference
    encoded: Encoded
    points: list[Encoded] = field(default_factory=list)


def seen_part(answer: Encoded) -> Encoded:
    """The part of the answer the model saw (it truncates long texts): lexical features and
    quotes use the same window, so padding past it can neither help nor be quoted."""
    if answer.offsets and len(answer.offsets) == len(answer.tokens):
        end = answer.offsets[-1][1]
        if end < len(answer.text.rstrip()):
            return Encoded(answer.text[:end], answer.vector, answer.tokens, answer.offsets)
    return answer


_EXAMPLE = re.compile(r"^\W*(for\s+(example|instance)|e\.g\.|such\s+as)\b", re.IGNORECASE)
# A point that leans on the sentence before it ("They can be used for ...") reads as nonsense
# when quoted on its own.
_DANGLING = re.compile(
    r"^\W*(it|its|this|that|these|those|they|their|them|such|he|she|here|there)\b", re.IGNORECASE
)


def _follow_up_point(missed: list[KeyPointMatch], own: RefInput) -> str | None:
    """The missed point most central to the reference (closest to its vector); an example
    ("For instance, ...") is asked about only when no principle is left, and a point that
    starts with "It"/"They"/"This" only when no self-contained one is."""
    if not missed:
        return None
    central = {p.text: float(p.vector @ own.encoded.vector) for p in own.points}

    def rank(m: KeyPointMatch) -> tuple[bool, bool, float]:
        return (not _EXAMPLE.match(m.point), not _DANGLING.match(m.point),
                central.get(m.point, 0.0))

    return max(missed, key=rank).point


def follow_up_question(point: str) -> str:
    """What an interviewer would ask about a point the answer left out."""
    raw = point.strip()
    point = raw.rstrip(".;:")
    # A heading or a term ("Input Layer", "Batch normalization"): ask about it directly. A short
    # sentence ("Push adds an item on top.") is quoted like a long one.
    term_like = (
        len(point.split()) <= 5 and not raw.endswith(".")
        and not any(w in STOPWORDS for w in words(point))
    )
    # Worded for a point the answer may have named without explaining ("use dropout"): the
    # similarity cannot tell a missing point from an undeveloped one.
    if term_like:
        return f"Tell me more about {point}: what is it, and why does it matter here?"
    return (
        f"Your answer didn't develop this point: “{point}.” "
        "Can you explain it in your own words?"
    )


def grade(
    question: Encoded,
    answer: Encoded,
    references: list[RefInput],
    calibration: Calibration,
    others: np.ndarray | None = None,
) -> Grade:
    """Grade one answer.

    `references[0]` is the own reference; `others` stacks the sentence vectors of other
    questions' references (the bank, or the other rows of an eval dataset) for the
    other_question guard.
    """
    if not references:
        raise ValueError("grade() needs at least the question's own reference")
    own = references[0]
    full_text = answer.text
    answer = seen_part(answer)
    if not words(answer.text):
        return Grade(
            score=0.0,
            band=calibration.bands.band(0.0),
            flags=[Flag.empty],
            features={k: 0.0 for k in sorted(KNOWN_FEATURES)},
            missed=[PointMatch(point=p.text) for p in own.points],
            references=[r.reference for r in references],
            follow_up=None,
            calibration_version=calibration.version,
        )

    spans = answer_spans(answer)
    q_terms = question_terms(question.text)
    own_f = reference_features(answer, own.encoded, own.points, spans, q_terms)
    q_f = reference_features(answer, question)

    def values(f: ReferenceFeatures) -> dict[str, float]:
        return {
            "cos": f.cos,
            "align_recall": f.align_recall,
            "content_recall": f.content_recall,
            "fresh_content_recall": f.fresh_content_recall,
            "align_precision": f.align_precision,
            "lex_recall": f.lex_recall,
            "fresh_lex_recall": f.fresh_lex_recall,
            "novelty": f.align_precision - q_f.align_precision,
        }

    base = values(own_f)
    feats = dict(base)
    for rel in references[1:]:
        rel_vals = values(reference_features(answer, rel.encoded, question_terms=q_terms))
        w = rel.reference.weight
        for k, v in rel_vals.items():
            feats[k] = max(feats[k], base[k] + w * max(0.0, v - base[k]))

    cos_other, other_ref_sim = -1.0, 1.0
    if others is not None and len(others):
        sims = others @ answer.vector
        j = int(np.argmax(sims))
        cos_other = float(sims[j])
        other_ref_sim = float(others[j] @ own.encoded.vector)

    flags = flags_for(
        GuardInput(
            answer=answer.text,
            question=question.text,
            reference=own.encoded.text,
            cos_reference=feats["cos"],
            cos_question=q_f.cos,
            cos_other=cos_other,
            other_reference_sim=other_ref_sim,
            fresh_lex_recall=feats["fresh_lex_recall"],
            fresh_content_recall=feats["fresh_content_recall"],
            full_answer=full_text,
        )
    )
    raw = calibration.score(feats)
    score = round(min(raw, cap_for(flags)), 1)

    th = calibration.covered_threshold
    covered = [m for m in own_f.matches if m.similarity >= th]
    missed = [m for m in own_f.matches if m.similarity < th]
    capped = cap_for(flags) < 10.0
    if capped:  # a non-answer covers nothing, whatever its vectors say
        missed, covered = own_f.matches, []

    point = _follow_up_point(missed, own)
    feats.update(
        {
            "question_cos": q_f.cos,
            "other_cos": cos_other,
            "coverage": len(covered) / len(own_f.matches) if own_f.matches else 0.0,
            "length_ratio": length_ratio(answer.text, own.encoded.text),
            "uncapped_score": round(raw, 2),
        }
    )
    return Grade(
        score=score,
        band=calibration.bands.band(score),
        covered=[PointMatch(point=m.point, span=m.span, similarity=round(m.similarity, 3))
                 for m in covered],
        missed=[PointMatch(point=m.point, span=m.span, similarity=round(m.similarity, 3))
                for m in missed],
        flags=flags,
        features={k: round(float(v), 4) for k, v in feats.items()},
        references=[r.reference for r in references],
        follow_up=follow_up_question(point) if point else None,
        follow_up_point=point,
        calibration_version=calibration.version,
    )
