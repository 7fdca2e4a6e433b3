"""Features that mean the same at training and scoring: the screen and the drift check.

A feature is only as good as the training rows that show its effect. Two things break that:

- a pair of features identical on every training row (a 365-day count equals the "ever" count
  while every profile has less than a year of history): the model cannot know which one
  matters, and at scoring, where they differ, it may pick either. The longer horizon stays,
  because a window that never cut anything in training has an unknown effect at scoring;
- scored values outside the training range (tenure in a single cohort: every scored profile
  is older than any training profile was). Tree models hold such a value at the range's edge,
  the logistic model clips it there, so a feature whose scored values mostly lie outside is
  left out (no training row shows its effect there), and one with a sizeable share outside is
  named in the report.

`distribution_check` measures, per feature, the share of scored profiles outside the training
range and the population stability index (PSI); `screen_features` applies the two rules.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from workbench.features import RECENCY_FEATURE, FeatureSpec

DUPLICATE_R = 0.999  # |correlation| on the training rows above which two features are one
MOSTLY_OUTSIDE = 0.5  # a feature with more scored profiles outside its training range is left out
FLAG_OUTSIDE = 0.10  # a used feature with more scored profiles outside is named in the report
_SCREEN_ROWS = 20_000  # rows enough to see two features agree on every row, or quantiles


def distribution_check(
    train: pd.DataFrame, scoring: pd.DataFrame, specs: list[FeatureSpec]
) -> dict[str, dict[str, float]]:
    """Per numeric feature: `outside`, the share of scored profiles outside the training range
    (a missing value counts when no training row was missing), and `psi`, the population
    stability index over 10 training-quantile bins plus a missing bin."""
    out = {}
    rows = np.arange(len(train))
    if len(rows) > _SCREEN_ROWS:  # the quantile edges from a sample, the range from every row
        rows = np.random.default_rng(0).choice(len(train), _SCREEN_ROWS, replace=False)
    for s in specs:
        if s.kind != "numeric" or s.code not in scoring.columns:
            continue
        t = pd.to_numeric(train[s.code], errors="coerce").to_numpy(dtype=float)
        v = pd.to_numeric(scoring[s.code], errors="coerce").to_numpy(dtype=float)
        t_ok, v_ok = np.isfinite(t), np.isfinite(v)
        if not t_ok.any() or not len(v):
            continue
        lo, hi = t[t_ok].min(), t[t_ok].max()
        outside = (v_ok & ((v < lo) | (v > hi))) | (~v_ok & t_ok.all())
        some = t[rows][t_ok[rows]]
        edges = np.unique(np.quantile(some if len(some) else t[t_ok], np.linspace(0, 1, 11)[1:-1]))
        a, b = _bin_shares(t, t_ok, edges), _bin_shares(v, v_ok, edges)
        out[s.code] = {
            "outside": float(outside.mean()),
            "psi": float(np.sum((b - a) * np.log(b / a))),
        }
    return out


def _bin_shares(x: np.ndarray, ok: np.ndarray, edges: np.ndarray) -> np.ndarray:
    counts = np.bincount(np.searchsorted(edges, x[ok], side="right"), minlength=len(edges) + 1)
    counts = np.append(counts.astype(float), (~ok).sum())
    return (counts + 0.5) / (counts.sum() + 0.5 * len(counts))  # smoothed: no empty bin


def horizon(code: str) -> float:
    """Longer horizons first: 'ever' and tenure keep their meaning as history grows, a window
    resets; the overall recency first among recencies (the recency rule reads it)."""
    if code == RECENCY_FEATURE:
        return 5.0
    if code.endswith(("_ever", "_days_since_first", "days_since_first_event", "_rate_30d")):
        return 4.0
    window = re.search(r"_(\d+)d$", code)
    return 1.0 + int(window.group(1)) / 10_000 if window else 0.0


def screen_features(
    train: pd.DataFrame,
    specs: list[FeatureSpec],
    drift: dict[str, dict[str, float]],
    seed: int = 42,
) -> tuple[list[FeatureSpec], dict[str, str]]:
    """(the features kept, {code: why it was left out}): duplicates on the training rows keep
    the longer horizon; a feature with more than half of the scored profiles outside its
    training range is left out (never the recency feature, which the models clip)."""
    numeric = [s for s in specs if s.kind == "numeric" and s.code in train.columns]
    rows = np.arange(len(train))
    if len(rows) > _SCREEN_ROWS:
        rows = np.sort(np.random.default_rng(seed).choice(len(train), _SCREEN_ROWS, replace=False))
    # missing (nothing happened) as a value of its own, so equal missing patterns stay equal
    T = np.column_stack(
        [np.nan_to_num(train[s.code].to_numpy(dtype=float)[rows], nan=-1.0) for s in numeric]
    )
    varying = [j for j in range(T.shape[1]) if T[:, j].std() > 0] if len(numeric) else []
    R = np.corrcoef(T[:, varying], rowvar=False) if len(varying) > 1 else np.ones((1, 1))
    order = sorted(range(len(varying)), key=lambda a: -horizon(numeric[varying[a]].code))
    left_out: dict[str, str] = {}
    kept: list[int] = []
    for a in order:
        twin = next((b for b in kept if abs(R[a, b]) > DUPLICATE_R), None)
        if twin is None:
            kept.append(a)
        else:
            code, other = numeric[varying[a]].code, numeric[varying[twin]].code
            left_out[code] = f"the same as '{other}' on every training row"
    for code, d in drift.items():
        if d["outside"] > MOSTLY_OUTSIDE and code != RECENCY_FEATURE and code not in left_out:
            left_out[code] = f"{d['outside']:.0%} of scored profiles lie outside its training range"
    return [s for s in specs if s.code not in left_out], left_out


def flagged_features(drift: dict[str, dict[str, float]], used: list[str]) -> list[str]:
    """Used features with a sizeable share of scored profiles outside the training range."""
    hits = [c for c in used if drift.get(c, {}).get("outside", 0.0) > FLAG_OUTSIDE]
    return sorted(hits, key=lambda c: -drift[c]["outside"])
