"""Metrics for propensity scores judged on an out-of-time snapshot.

All functions take the actual outcome `y` (0/1) and a probability `p` and return a float,
so they can be written straight into `metrics.json`.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm, rankdata
from sklearn.metrics import average_precision_score

__all__ = [
    "roc_auc_interval",
    "expected_calibration_error",
    "lift_top_decile",
    "score_metrics",
    "probability_metrics",
    "calibration_table",
    "decile_table",
]

_EPS = 1e-15


def expected_calibration_error(y, p, bins: int = 10) -> float:
    """Weighted mean |observed rate - mean probability| over equal-count bins of `p`.

    Equal-count (quantile) bins are used because propensity scores are usually crowded near
    zero, where equal-width bins would put almost every profile into the first bin.
    """
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    if len(y) == 0:
        return float("nan")
    order = np.argsort(p, kind="mergesort")
    groups = np.array_split(order, min(bins, len(y)))
    err = 0.0
    for g in groups:
        if len(g):
            err += len(g) * abs(y[g].mean() - p[g].mean())
    return float(err / len(y))


def lift_top_decile(y, p) -> float:
    """Positive rate among the 10% highest scores divided by the overall positive rate."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    base = y.mean() if len(y) else 0.0
    if base == 0:
        return float("nan")
    k = max(1, int(np.ceil(0.1 * len(y))))
    top = np.argsort(-p, kind="mergesort")[:k]
    return float(y[top].mean() / base)


def roc_auc_interval(y, p, level: float = 0.95) -> tuple[float, float]:
    """Confidence interval of the ROC AUC by DeLong's method (DeLong et al. 1988, with the
    rank-based computation of Sun & Xu 2014); (nan, nan) without both classes.

    With few positives an AUC is a rough figure: 13 positives leave an interval of about
    +-0.15, which is the difference between a useless and a good model.
    """
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    pos, neg = p[y == 1], p[y == 0]
    m, n = len(pos), len(neg)
    if m < 2 or n < 2:
        return float("nan"), float("nan")
    ranks = rankdata(np.concatenate([pos, neg]))
    # per positive: the share of negatives scored below it (ties count half); per negative alike
    v10 = (ranks[:m] - rankdata(pos)) / n
    v01 = 1.0 - (ranks[m:] - rankdata(neg)) / m
    auc = float(v10.mean())
    se = float(np.sqrt(v10.var(ddof=1) / m + v01.var(ddof=1) / n))
    z = float(norm.ppf(0.5 + level / 2))
    return max(0.0, auc - z * se), min(1.0, auc + z * se)


def _auc_with_interval(y: np.ndarray, p: np.ndarray, level: float = 0.95):
    """(ROC AUC, low, high) from one rank computation (DeLong; see `roc_auc_interval`)."""
    pos, neg = p[y == 1], p[y == 0]
    m, n = len(pos), len(neg)
    if m == 0 or n == 0:
        return float("nan"), float("nan"), float("nan")
    ranks = rankdata(np.concatenate([pos, neg]))
    v10 = (ranks[:m] - rankdata(pos)) / n
    auc = float(v10.mean())
    if m < 2 or n < 2:
        return auc, float("nan"), float("nan")
    v01 = 1.0 - (ranks[m:] - rankdata(neg)) / m
    se = float(np.sqrt(v10.var(ddof=1) / m + v01.var(ddof=1) / n))
    z = float(norm.ppf(0.5 + level / 2))
    return auc, max(0.0, auc - z * se), min(1.0, auc + z * se)


def probability_metrics(y, p) -> dict[str, float]:
    """Log loss, Brier score and ECE: what a calibration changes (the ranking metrics do not)."""
    y = np.asarray(y, dtype=float)
    p = np.clip(np.asarray(p, dtype=float), _EPS, 1 - _EPS)
    return {
        "log_loss": float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p))),
        "brier": float(np.mean((p - y) ** 2)),
        "ece": expected_calibration_error(y, p),
    }


def score_metrics(y, p) -> dict[str, float]:
    """ROC AUC (with its 95% interval), PR AUC, log loss, Brier score, ECE and top-decile lift
    of probabilities `p`."""
    y = np.asarray(y, dtype=int)
    p = np.clip(np.asarray(p, dtype=float), _EPS, 1 - _EPS)
    both = 0 < y.sum() < len(y)
    auc, low, high = _auc_with_interval(y, p)
    return {
        "roc_auc": auc if both else float("nan"),
        "roc_auc_ci_low": low,
        "roc_auc_ci_high": high,
        "pr_auc": float(average_precision_score(y, p)) if both else float("nan"),
        **probability_metrics(y, p),
        "lift_top_decile": lift_top_decile(y, p),
    }


def calibration_table(y, p, bins: int = 10):
    """Mean probability vs observed rate per equal-count bin (for the calibration chart)."""
    import pandas as pd

    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    order = np.argsort(p, kind="mergesort")
    rows = []
    for g in np.array_split(order, min(bins, max(len(y), 1))):
        if len(g):
            rows.append(
                {"mean_probability": p[g].mean(), "observed_rate": y[g].mean(), "n": len(g)}
            )
    return pd.DataFrame(rows)


def decile_table(y, p):
    """Per score decile (1 = highest scores): profiles, positives, rate, lift, cumulative gain."""
    import pandas as pd

    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    order = np.argsort(-p, kind="mergesort")
    base = y.mean() if len(y) else np.nan
    total_pos = y.sum()
    rows = []
    cum = 0.0
    for i, g in enumerate(np.array_split(order, 10), start=1):
        pos = y[g].sum() if len(g) else 0.0
        cum += pos
        rate = pos / len(g) if len(g) else np.nan
        rows.append(
            {
                "decile": i,
                "profiles": len(g),
                "positives": pos,
                "rate": rate,
                "lift": rate / base if base else np.nan,
                "cumulative_gain": cum / total_pos if total_pos else np.nan,
            }
        )
    return pd.DataFrame(rows)
