"""Calibration of raw scores into probabilities, fitted on held-out rows only.

A calibrator is plain data (JSON): `{"method": "none"}` (the model's own probabilities) or
`{"method": "platt", "a": .., "b": ..}` (P = expit(a + b * raw score)). Both are monotone
maps, so a calibrator never changes a ranking. Isotonic regression is not offered: its lowest
step is the hold-out's lowest block rate, often about 0, and profiles scored below every
hold-out row (a state training never saw) got a hundredth of their real rate on CDNOW.

References
----------
Platt, J. (1999). Probabilistic outputs for support vector machines.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import expit

CALIBRATIONS = ("none", "platt")

# A Platt map steeper than this is a fit to a (quasi-)separated hold-out, not a calibration.
MAX_PLATT_PARAMETER = 100.0


def fit_1d_logistic(score: np.ndarray, y: np.ndarray, *, increasing: bool = True) -> dict:
    """P(y=1) = expit(a + b * score), by Newton's method on the two-parameter likelihood.

    Each step is halved until the log-likelihood does not fall, with a tiny ridge on b: plain
    Newton diverged to a = -4e11, b = 2e11 on a quasi-separated CDNOW hold-out. `increasing`
    (calibration) rejects a slope b <= 0: a calibrator must not reverse the ranking.
    Returns `{"method": "none"}` when there is no usable fit."""
    score = np.asarray(score, dtype=float)
    y = np.asarray(y, dtype=float)
    if len(score) < 2 or not 0 < y.sum() < len(y):
        return {"method": "none"}
    ridge = 1e-6 * len(score)
    Z = np.column_stack([np.ones_like(score), score])

    def loglik(a_: float, b_: float) -> float:
        z = a_ + b_ * score
        return float(np.sum(y * z - np.logaddexp(0.0, z)) - 0.5 * ridge * b_ * b_)

    a, b = 0.0, 1.0
    current = loglik(a, b)
    for _ in range(50):
        p = expit(a + b * score)
        gradient = Z.T @ (y - p) - np.array([0.0, ridge * b])
        hessian = (Z * (p * (1 - p) + 1e-12)[:, None]).T @ Z + np.diag([1e-9, ridge + 1e-9])
        step = np.linalg.solve(hessian, gradient)
        t = 1.0
        while t > 1e-4 and loglik(a + t * step[0], b + t * step[1]) < current - 1e-12:
            t /= 2
        a, b = a + t * step[0], b + t * step[1]
        current = loglik(a, b)
        if np.max(np.abs(t * step)) < 1e-10:
            break
    usable = np.isfinite(a) and np.isfinite(b) and max(abs(a), abs(b)) <= MAX_PLATT_PARAMETER
    if not usable or (increasing and b <= 0):
        return {"method": "none"}
    return {"method": "platt", "a": float(a), "b": float(b)}


def fit_calibrators(score: np.ndarray, y: np.ndarray) -> dict[str, dict]:
    """Every method fitted on the same held-out raw scores (the choice is made on the folds)."""
    return {"none": {"method": "none"}, "platt": fit_1d_logistic(score, y)}


def calibrated_logit(cal: dict | None, score: np.ndarray) -> np.ndarray:
    """The calibrated log-odds of raw scores (a monotone map, so rankings are unchanged)."""
    if not cal or cal.get("method") == "none":
        return score
    return cal["a"] + cal["b"] * score


def apply_calibrator(cal: dict | None, score: np.ndarray) -> np.ndarray:
    return expit(calibrated_logit(cal, score))


def checked_calibrator(raw: dict) -> dict:
    """A calibrator read back from JSON: only the known methods, numbers as finite floats."""
    if raw.get("method") == "platt":
        values = {k: float(raw[k]) for k in ("a", "b")}
        for k, v in values.items():
            if not math.isfinite(v):
                raise ValueError(f"{k} is {v} (a fitted model's values are finite numbers)")
        return {"method": "platt", **values}
    if raw.get("method") == "none":
        return {"method": "none"}
    raise ValueError(f"unknown calibrator {raw.get('method')!r}")
