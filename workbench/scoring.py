"""Scores: probability, percentile, bucket and influential factors for every eligible profile.

Also the checks of a score against what happened: expected vs actual on the validation
snapshot (per bucket and per decile) and the realised performance of a backtest.

Percentile
----------
``percentile = floor(100 * (profiles scoring strictly lower) / population) + 1``: 1..100,
monotone in probability, tied probabilities share a percentile (the lowest of their block, so a
large block of identical low scores stays ``low`` instead of being lifted into ``medium``).
With distinct probabilities each percentile holds 1% of the population and the top profile of
a population of 100 or more gets 100.

Bucket
------
``low`` below ``scoring.buckets.medium``, ``medium`` from ``medium`` up to (not including)
``high``, ``high`` from ``high`` up: with the defaults (25, 75) percentiles 1-24 are low,
25-74 medium, 75-100 high.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from workbench.config import BucketsConfig
from workbench.errors import DataError, ModelMismatchError
from workbench.factor_groups import grouped_factors
from workbench.factors import FACTOR_COLUMNS
from workbench.features import FeatureSpec
from workbench.progress import steps

__all__ = [
    "SCORE_COLUMNS",
    "BUCKETS",
    "assign_percentiles",
    "assign_buckets",
    "assign_deciles",
    "Explained",
    "explain_profiles",
    "score_profiles",
    "expected_vs_actual",
    "realised_performance",
]

SCORE_COLUMNS = [
    "profile_id",
    "probability",
    "percentile",
    "bucket",
    "factor_1",
    "factor_2",
    "factor_3",
    "factor_down",
    "factors_json",
    "score_date",
    "propensity_type",
]
BUCKETS = ["low", "medium", "high"]
_EMPTY_DTYPES = {"probability": "float64", "percentile": "int16"}


def assign_percentiles(probability: np.ndarray) -> np.ndarray:
    """Percentile 1..100 of each probability within the population (ties share a percentile).

    See the module docstring for the definition. NaN probabilities are rejected.
    """
    p = np.asarray(probability, dtype=np.float64)
    n = p.size
    if n == 0:
        return np.zeros(0, dtype=np.int16)
    if np.isnan(p).any():
        raise ValueError("probability contains NaN; every scored profile needs a probability")
    below = np.searchsorted(np.sort(p, kind="stable"), p, side="left")
    return (below * 100 // n + 1).astype(np.int16)


def assign_deciles(percentile: np.ndarray) -> np.ndarray:
    """Decile 1..10 from percentile 1..100, 1 = the highest scores (percentiles 91-100), as in
    the lift charts and `modeling.metrics.decile_table`: the first decile is the one to target."""
    return (10 - (np.asarray(percentile, dtype=np.int64) - 1) // 10).astype(np.int8)


def assign_buckets(percentile: np.ndarray, buckets: BucketsConfig) -> np.ndarray:
    """``low`` < buckets.medium <= ``medium`` < buckets.high <= ``high`` (object array of text)."""
    pct = np.asarray(percentile)
    out = np.full(pct.shape, "low", dtype=object)
    out[pct >= buckets.medium] = "medium"
    out[pct >= buckets.high] = "high"
    return out


def _buckets_and_type(config: Any) -> tuple[BucketsConfig, str | None]:
    """Accept a whole Config, a ScoringConfig or a BucketsConfig."""
    if isinstance(config, BucketsConfig):
        return config, None
    scoring = getattr(config, "scoring", config)
    buckets = getattr(scoring, "buckets", None)
    if not isinstance(buckets, BucketsConfig):
        raise TypeError("config must be a Config, ScoringConfig or BucketsConfig")
    goal = getattr(config, "goal", None)
    return buckets, (goal.propensity_type if goal is not None else None)


def _check_specs(model: Any, snapshot: pd.DataFrame, specs: Sequence[FeatureSpec]) -> list[str]:
    codes = [s.code for s in specs]
    model_specs = getattr(model, "feature_specs_", None)
    if model_specs is not None:
        model_codes = [s.code for s in model_specs]
        if model_codes != codes:
            missing = sorted(set(model_codes) - set(codes))
            extra = sorted(set(codes) - set(model_codes))
            detail = []
            if missing:
                detail.append(f"model expects {missing} not in the feature spec")
            if extra:
                detail.append(f"feature spec has {extra} the model was not fitted on")
            if not detail:
                detail.append("same features in a different order")
            raise ModelMismatchError(
                "model does not match the feature specification: " + "; ".join(detail)
            )
        for a, b in zip(model_specs, specs, strict=True):
            if a.kind != b.kind:
                raise ModelMismatchError(
                    f"feature {a.code!r}: model was fitted on a {a.kind} feature, data has {b.kind}"
                )
    absent = [c for c in codes if c not in snapshot.columns]
    if absent:
        raise ModelMismatchError(f"scoring snapshot lacks feature column(s) {absent}")
    return codes


def _profile_ids(scoring_snapshot: pd.DataFrame) -> pd.Series:
    """The snapshot's profile ids: present, and each once."""
    if "profile_id" not in scoring_snapshot.columns:
        raise DataError("scoring snapshot has no 'profile_id' column")
    ids = scoring_snapshot["profile_id"]
    if ids.isna().any():
        raise DataError(f"scoring snapshot: {int(ids.isna().sum())} row(s) without a profile_id")
    dup = ids.duplicated(keep=False)
    if dup.any():
        shown = list(pd.unique(ids[dup]))[:5]
        raise DataError(
            f"scoring snapshot: {int(ids[dup].nunique())} profile id(s) appear more than once, "
            f"e.g. {shown}; each profile must be scored exactly once"
        )
    return ids


@dataclass
class Explained:
    """Every profile's probability and additive contributions (`model.contributions`), rows in
    the scoring snapshot's order: what the factor report and the scores are both made from, so
    neither computes them again (`workflow.explain` hands them to `score_and_segment`)."""

    probability: np.ndarray
    contributions: pd.DataFrame

    def __len__(self) -> int:
        return len(self.probability)


def explain_profiles(model: Any, X: pd.DataFrame) -> Explained:
    """The probability and the contributions of every row of X (the model's feature columns)."""
    probability = np.asarray(model.propensity(X), dtype=np.float64).reshape(-1)
    if probability.shape[0] != len(X):
        raise ValueError(f"model returned {probability.shape[0]} probabilities for {len(X)} rows")
    _check_probabilities(probability)
    return Explained(probability, model.contributions(X))


def _check_probabilities(probability: np.ndarray) -> None:
    if not np.all((probability >= 0) & (probability <= 1)):
        raise ModelMismatchError(
            "the model returned probabilities outside [0, 1] (or NaN): its files hold "
            "values no fitted model has; retrain with workbench run"
        )


def score_profiles(
    model: Any,
    scoring_snapshot: pd.DataFrame,
    specs: Sequence[FeatureSpec],
    config: Any,
    score_date: dt.date | str | pd.Timestamp,
    *,
    propensity_type: str | None = None,
    thresholds: tuple[float, float] | None = None,
    explained: Explained | None = None,
) -> pd.DataFrame:
    """Score every profile of the scoring snapshot exactly once.

    Parameters
    ----------
    model : a fitted candidate (``propensity``, ``contributions``, ``feature_specs_``).
    scoring_snapshot : one row per eligible profile at ``as_of`` (``profile_id`` + features).
    specs : the FeatureSpecs the model uses (must match ``model.feature_specs_`` when present).
    config : the whole `Config` (buckets from ``scoring.buckets``, ``propensity_type`` from the
        goal); a ScoringConfig/BucketsConfig also works with ``propensity_type=`` given.
    score_date : the date the scores are as of.
    thresholds : optional fixed (medium, high) importance thresholds (see `workbench.factors`).
    explained : this model's `explain_profiles` of these rows, when already computed.

    The factors are one entry per factor family, never against the goal's direction
    (`workbench.factor_groups`); how many entries that rule withheld is in
    ``scores.attrs["factor_direction_guard"]``.

    Returns
    -------
    DataFrame with exactly `SCORE_COLUMNS`, one row per profile, in the snapshot's order.

    Raises
    ------
    DataError : a profile id appears more than once, or is missing.
    ModelMismatchError : the model's feature specification does not match specs / the data.
    """
    ids = _profile_ids(scoring_snapshot)
    buckets_cfg, goal_type = _buckets_and_type(config)
    ptype = propensity_type or goal_type
    if ptype is None:
        raise TypeError("propensity_type is unknown: pass the whole Config or propensity_type=")
    codes = _check_specs(model, scoring_snapshot, specs)
    if scoring_snapshot.empty:  # no eligible profile at this date: an empty table, not a crash
        return pd.DataFrame(
            {c: pd.Series(dtype=_EMPTY_DTYPES.get(c, "object")) for c in SCORE_COLUMNS}
        )

    X = scoring_snapshot[codes]
    if explained is not None:  # computed earlier (contributions.parquet): checked the same way
        if len(explained) != len(X):
            raise ValueError(f"explained has {len(explained)} rows but the snapshot has {len(X)}")
        _check_probabilities(explained.probability)
    with steps("scoring", 2) as step:
        explained = explained if explained is not None else explain_profiles(model, X)
        probability = explained.probability
        percentile = assign_percentiles(probability)
        bucket = assign_buckets(percentile, buckets_cfg)
        step("probabilities and contributions")
        factors, guard = grouped_factors(
            explained.contributions,
            X,
            specs,
            direction=-1 if ptype == "churn" else 1,
            ranges=getattr(model, "ranges_", None),
            thresholds=thresholds,
        )
        step("factor text")
    n = len(X)
    day = pd.Timestamp(score_date).date()
    scores = pd.DataFrame(
        {
            "profile_id": ids.astype(str).to_numpy(),
            "probability": probability,
            "percentile": percentile,
            "bucket": bucket,
            **{c: factors[c].array for c in FACTOR_COLUMNS},
            "score_date": np.full(n, day, dtype=object),
            "propensity_type": np.full(n, ptype, dtype=object),
        }
    )
    scores = scores[SCORE_COLUMNS]
    scores.attrs["factor_direction_guard"] = guard  # read by score_and_segment
    return scores


# --------------------------------------------------------------------------- expected vs actual
def _group_table(
    key: pd.Series, prob: np.ndarray, label: np.ndarray, levels: list, name: str
) -> pd.DataFrame:
    df = pd.DataFrame({name: key.to_numpy(), "p": prob, "y": label})
    g = df.groupby(name, sort=False)
    t = pd.DataFrame(
        {
            "profiles": g.size(),
            "expected": g["p"].sum(),
            "actual": g["y"].sum(),
        }
    ).reindex(levels)
    t["profiles"] = t["profiles"].fillna(0).astype(np.int64)
    t["expected"] = t["expected"].fillna(0.0)
    t["actual"] = t["actual"].fillna(0).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        t["mean_predicted"] = t["expected"] / t["profiles"].replace(0, np.nan)
        t["actual_rate"] = t["actual"] / t["profiles"].replace(0, np.nan)
    t.index.name = name
    return t.reset_index()[
        [name, "profiles", "mean_predicted", "actual_rate", "expected", "actual"]
    ]


def expected_vs_actual(
    validation: pd.DataFrame,
    prob_col: str,
    buckets_cfg: Any,
    label_col: str = "label",
) -> dict[str, pd.DataFrame]:
    """Predicted against realised rates on a labelled frame (e.g. the validation snapshot).

    Percentiles and buckets are computed within `validation` as for a scored population.
    Returns ``{"bucket": ..., "decile": ...}``; each table has one row per bucket (low, medium,
    high) or decile (1..10, 1 = highest scores), with ``profiles``, ``mean_predicted`` (mean
    probability), ``actual_rate`` (share with label 1), ``expected`` (sum of probabilities) and
    ``actual`` (count of label 1). Empty groups have 0 profiles and NaN rates.
    """
    for col in (prob_col, label_col):
        if col not in validation.columns:
            raise DataError(f"expected_vs_actual: column {col!r} not in {list(validation.columns)}")
    buckets, _ = _buckets_and_type(buckets_cfg)
    prob = validation[prob_col].to_numpy(dtype=np.float64)
    label = validation[label_col].to_numpy(dtype=np.int64)
    pct = assign_percentiles(prob)
    return {
        "bucket": _group_table(
            pd.Series(assign_buckets(pct, buckets)), prob, label, BUCKETS, "bucket"
        ),
        "decile": _group_table(
            pd.Series(assign_deciles(pct)), prob, label, list(range(1, 11)), "decile"
        ),
    }


def realised_performance(scores: pd.DataFrame, actual: pd.DataFrame) -> dict[str, Any]:
    """Backtest: how the scores made at a date compare with what happened afterwards.

    `actual` has ``profile_id`` and ``label`` (1 = the goal happened in the outcome window, or
    for churn goals did not). Scores and actual outcomes are joined on ``profile_id``; profiles
    on one side only are counted and left out. The scores' own percentile and bucket are used.

    Returns a dict: ``profiles``, ``unmatched_scores``, ``unmatched_actual``, ``base_rate``,
    ``roc_auc`` (NaN with a single class), ``lift_top_decile`` (actual rate in decile 1 /
    base rate), ``by_bucket`` and ``by_decile`` (DataFrames as in `expected_vs_actual`).
    """
    from sklearn.metrics import roc_auc_score

    for frame, name, cols in (
        (scores, "scores", ("profile_id", "probability", "percentile", "bucket")),
        (actual, "actual", ("profile_id", "label")),
    ):
        absent = [c for c in cols if c not in frame.columns]
        if absent:
            raise DataError(f"realised_performance: {name} lacks column(s) {absent}")
    if actual["profile_id"].duplicated().any():
        raise DataError("realised_performance: actual outcomes list a profile more than once")
    s = scores[["profile_id", "probability", "percentile", "bucket"]].copy()
    a = actual[["profile_id", "label"]].copy()
    s["profile_id"] = s["profile_id"].astype(str)
    a["profile_id"] = a["profile_id"].astype(str)
    joined = s.merge(a, on="profile_id", how="inner", validate="one_to_one")
    prob = joined["probability"].to_numpy(dtype=np.float64)
    y = joined["label"].to_numpy(dtype=np.int64)
    n = len(joined)
    base = float(y.mean()) if n else float("nan")
    auc = float(roc_auc_score(y, prob)) if n and 0 < y.sum() < n else float("nan")
    decile = assign_deciles(joined["percentile"].to_numpy())
    top = decile == 1
    lift = float(y[top].mean() / base) if top.any() and base > 0 else float("nan")
    return {
        "profiles": int(n),
        "unmatched_scores": int(len(s) - n),
        "unmatched_actual": int(len(a) - n),
        "base_rate": base,
        "roc_auc": auc,
        "lift_top_decile": lift,
        "by_bucket": _group_table(joined["bucket"], prob, y, BUCKETS, "bucket"),
        "by_decile": _group_table(pd.Series(decile), prob, y, list(range(1, 11)), "decile"),
    }
