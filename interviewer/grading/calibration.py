"""From features to a 0-10 score: a small logistic model whose parameters live in a versioned JSON.

score = 10 * sigmoid(intercept + sum_i weight_i * feature_i)

Four scale-free features, fitted by regularised least squares on the dev set's human grades
(score / max_score). Few parameters on purpose: the model must carry over to questions and
fields it was not fitted on. Pure: fitting takes arrays and returns a Calibration; reading and
writing the JSON is the caller's job.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, Field

from interviewer.grading.models import Band

FEATURES: tuple[str, ...] = ("cos", "align_recall", "lex_recall", "novelty")


class BandCuts(BaseModel):
    """Lowest 0-10 score of each band; below `weak` the band is off-topic."""

    excellent: float = 8.5
    good: float = 6.5
    partial: float = 4.5
    weak: float = 1.5

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
    version: str
    features: list[str] = Field(default_factory=lambda: list(FEATURES))
    weights: dict[str, float]
    intercept: float
    bands: BandCuts = Field(default_factory=BandCuts)
    covered_threshold: float = Field(
        0.55, description="key point counts as covered at or above this similarity"
    )
    related_weight: float = Field(
        0.5, description="share of the gain a related passage can add over the own reference"
    )
    fitted_on: dict[str, object] = Field(default_factory=dict)

    def raw(self, features: dict[str, float]) -> float:
        return self.intercept + sum(self.weights[k] * features.get(k, 0.0) for k in self.features)

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
    l2: float = 0.01,
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

    sol = least_squares(residuals, np.zeros(x.shape[1] + 1)).x
    weights = sol[1:] / sd
    intercept = float(sol[0] - (mu * weights).sum())
    return Calibration(
        version=version,
        features=list(features),
        weights={k: float(w) for k, w in zip(features, weights, strict=True)},
        intercept=intercept,
    )


def predict(cal: Calibration, x: np.ndarray) -> np.ndarray:
    """0-10 scores for a feature matrix whose columns follow `cal.features`."""
    w = np.array([cal.weights[k] for k in cal.features])
    return 10.0 * _sigmoid(x @ w + cal.intercept)
