"""From features to a 0-10 score: a small logistic model whose parameters live in a versioned JSON.

score = 10 * sigmoid(intercept + sum_i weight_i * feature_i)

Three scale-free features, fitted by regularised least squares on the dev set's human grades
(score / max_score), weights constrained to be non-negative (more similarity never lowers a
grade) and shrunk towards zero (l2=3) so that no single feature dominates. Few parameters on purpose: the model must carry over to questions and
fields it was not fitted on. Pure: fitting takes arrays and returns a Calibration; reading and
writing the JSON is the caller's job.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from interviewer.grading.models import Band

# fresh_content_recall: soft token alignment (BERTScore-style recall over the reference's
#   content words): how much of the reference the answer expresses, in any words. "Fresh":
#   only the reference's words that the question does not already contain count, so an
#   answer that echoes the question's terms (or uses them in another sense: "a transformer
#   is an electrical device") earns nothing for them.
# fresh_lex_recall: share of those fresh content-word stems the answer uses.
# novelty: how much closer the answer's tokens are to the reference than to the question:
#   restating the question earns nothing.
# Plain cosine is measured and reported but left out: it rates a fluent misconception on the
# right topic as highly as a correct answer, and the fit gave it no weight.
# The plain content_recall and lex_recall (question words included) are computed and reported;
# on the dev set the fresh ones fit better (cross-validated Pearson 0.85 against 0.83).
FEATURES: tuple[str, ...] = ("fresh_content_recall", "fresh_lex_recall", "novelty")
# Everything offline.grade computes that a calibration may weigh.
KNOWN_FEATURES: frozenset[str] = frozenset(
    {
        "cos",
        "align_recall",
        "content_recall",
        "fresh_content_recall",
        "align_precision",
        "lex_recall",
        "fresh_lex_recall",
        "novelty",
    }
)


class BandCuts(BaseModel):
    """Lowest 0-10 score of each band; below `weak` the band is off-topic.

    Set at the midpoints between the median cross-validated scores of adjacent human grades on
    the dev set (medians: grade 5 -> 8.3, 4 -> 6.8, 3 -> 5.4, 1-2 -> 3.7, 0 -> 1.0). `weak`
    starts at 2.0, the highest cap of a "not an answer" flag (keyword salad).
    """

    model_config = ConfigDict(allow_inf_nan=False)

    excellent: float = Field(default=7.5, ge=0, le=10)
    good: float = Field(default=6.1, ge=0, le=10)
    partial: float = Field(default=4.6, ge=0, le=10)
    weak: float = Field(default=2.0, ge=0, le=10)

    @model_validator(mode="after")
    def _ordered(self) -> BandCuts:
        if not self.excellent >= self.good >= self.partial >= self.weak:
            raise ValueError("band cut-offs must not decrease: excellent >= good >= partial >= "
                             f"weak (got {self.excellent}, {self.good}, {self.partial}, "
                             f"{self.weak})")
        return self

    def band(self, score: float) -> Band:
        if score >= self.excellent:
            return Band.excellent
        if score >= self.good:
            return Band.good
        if score >= self.partial:
            return Band.partial
        if score >= self.weak:
            return Band.weak
        return Band.off_topic


class Calibration(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False)  # a NaN weight would grade everything NaN

    version: str
    weights: dict[str, float] = Field(description="feature name -> weight on the raw feature")
    intercept: float
    bands: BandCuts = Field(default_factory=BandCuts)
    covered_threshold: float = Field(
        default=0.5, ge=-1, le=1,
        description="key point counts as covered at or above this similarity (a cosine)",
    )
    related_weight: float = Field(
        default=0.5, ge=0, le=1,
        description="share of the gain a related passage can add over the own reference",
    )
    fitted_on: dict[str, object] = Field(default_factory=dict)

    @field_validator("weights")
    @classmethod
    def _known(cls, v: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(v) - KNOWN_FEATURES)
        if unknown:
            raise ValueError(f"unknown feature(s) {unknown}; known: {sorted(KNOWN_FEATURES)}")
        if not v:
            raise ValueError("no weights")
        return v

    @property
    def features(self) -> list[str]:
        return list(self.weights)

    def raw(self, features: dict[str, float]) -> float:
        return self.intercept + sum(w * features[k] for k, w in self.weights.items())

    def score(self, features: dict[str, float]) -> float:
        """Calibrated 0-10 score, not yet capped by flags."""
        z = self.raw(features)
        return 10.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


def fit(
    x: np.ndarray,
    y01: np.ndarray,
    features: Sequence[str] = FEATURES,
    l2: float = 3.0,
    version: str = "dev",
) -> Calibration:
    """Fit sigmoid(b + w.x) to targets in [0, 1] by ridge-penalised least squares.

    Features are standardised for fitting (so the penalty treats them alike) and the weights
    folded back onto raw features so the JSON needs no scaler.
    """
    from scipy.optimize import least_squares

    mu = x.mean(axis=0)
    sd = x.std(axis=0)
    sd[sd == 0] = 1.0
    xs = (x - mu) / sd

    def residuals(w: np.ndarray) -> np.ndarray:
        pred = _sigmoid(xs @ w[1:] + w[0])
        return np.concatenate([pred - y01, math.sqrt(l2) * w[1:]])

    k = x.shape[1]
    lower = np.r_[-np.inf, np.zeros(k)]
    sol = least_squares(residuals, np.r_[0.0, np.full(k, 0.1)], bounds=(lower, np.inf)).x
    weights = sol[1:] / sd
    intercept = float(sol[0] - (mu * weights).sum())
    return Calibration(
        version=version,
        weights={k: float(w) for k, w in zip(features, weights, strict=True)},
        intercept=intercept,
    )


def neutral() -> Calibration:
    """A placeholder for computing features before any fit (the score it gives means nothing)."""
    return Calibration(version="unfitted", weights={k: 0.0 for k in FEATURES}, intercept=0.0)


def predict(cal: Calibration, x: np.ndarray) -> np.ndarray:
    """0-10 scores for a feature matrix whose columns follow `cal.features`."""
    w = np.array([cal.weights[k] for k in cal.features])
    return 10.0 * _sigmoid(x @ w + cal.intercept)
