"""Who the model serves badly: score distribution, base rate, calibration and AUC per cohort.

Cohorts
-------
A cohort attribute is a profile attribute (``reporting.cohorts: [country, loyaltyTier]``, read
from the profiles file) or a feature code of the snapshots (``days_since_first_event``). Text
gives one cohort per value: the `MAX_LEVELS` most frequent among the scored profiles, the rest
together as ``other``, missing values as ``(missing)``. Numbers with more than `MAX_LEVELS`
distinct values are cut at the quartiles of the scored population (``12 to 40``). A
``history`` attribute is always added: **sparse** profiles, with fewer than `SPARSE_DAYS` (2)
active days in the feature lookback, against the rest. The model knows little about sparse
profiles beyond their attributes; their share is the share of profiles too sparse to score
well, and their own AUC says how well it still ranks them.

Per cohort: among today's scored profiles, the count, share, mean probability and share in the
high bucket; on the validation origins (pooled; out of time, so these are outcomes the model
never saw) the profiles, positives, base rate, mean predicted probability, expected against
actual conversions and the ROC AUC with its 95% interval (DeLong), the AUC only with at least
`MIN_CLASS` positives and as many negatives.

Flag rule
---------
A cohort is flagged as **scored markedly worse** when either

- *ranking*: its AUC is at least `AUC_GAP` (0.05) below the AUC typical of the attribute's
  cohorts (their AUCs weighted by validation profiles) and the upper end of its 95% interval is
  below that typical AUC too (the gap is not noise). The whole population's AUC is no yardstick:
  it also counts how well the model separates the cohorts from each other, so it sits above
  every cohort's own AUC whenever the attribute predicts the goal; or
- *calibration*: its actual conversions differ from the expected ones (the sum of its
  probabilities) by more than `CALIBRATION_GAP` (25%) of the expected and by more than two
  standard deviations of a count with that mean (``2 * sqrt(expected)``): volumes planned from
  its scores would be wrong (`workbench.monitoring.miscalibrated`, the rule realised figures
  use too).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from workbench.modeling.metrics import roc_auc_interval
from workbench.monitoring import CALIBRATION_GAP, miscalibrated

__all__ = [
    "AUC_GAP",
    "CALIBRATION_GAP",
    "MAX_LEVELS",
    "MIN_CLASS",
    "SPARSE_DAYS",
    "HISTORY",
    "SPARSE",
    "cohort_levels",
    "sparse_history",
    "cohort_table",
    "cohort_flags",
    "typical_auc",
]

AUC_GAP = 0.05
MAX_LEVELS = 12
MIN_CLASS = 10
SPARSE_DAYS = 2
HISTORY = "history"
SPARSE = "sparse"  # under SPARSE_DAYS active days in the lookback
MISSING = "(missing)"
COLUMNS = [
    "cohort",
    "level",
    "scored_profiles",
    "scored_share",
    "mean_probability",
    "high_share",
    "validation_profiles",
    "positives",
    "base_rate",
    "mean_predicted",
    "expected",
    "actual",
    "roc_auc",
    "roc_auc_low",
    "roc_auc_high",
    "flag",
]


def cohort_levels(
    scored: pd.Series, validation: pd.Series, max_levels: int = MAX_LEVELS
) -> tuple[pd.Series, pd.Series, list[str]]:
    """The cohort of each scored and each validation profile (text) and the cohorts in order
    (module docstring: values, ``other``, ``(missing)``, or quartile ranges for numbers)."""
    s, v = scored.reset_index(drop=True), validation.reset_index(drop=True)
    numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
    if numeric and s.nunique(dropna=True) > max_levels:
        values = pd.to_numeric(s, errors="coerce").dropna().to_numpy(dtype=float)
        edges = (
            np.unique(np.quantile(values, [0.25, 0.5, 0.75], method="inverted_cdf"))
            if len(values)
            else np.array([])
        )
        names = _range_names(edges, float(values.min()) if len(values) else 0.0, values)

        def cut(x: pd.Series) -> pd.Series:
            arr = pd.to_numeric(x, errors="coerce").to_numpy(dtype=float)
            idx = np.minimum(np.searchsorted(edges, arr, side="left"), len(names) - 1)
            out = pd.Series(np.asarray(names, dtype=object)[idx])
            out[np.isnan(arr)] = MISSING
            return out

        a, b = cut(s), cut(v)
        order = names + ([MISSING] if (a == MISSING).any() or (b == MISSING).any() else [])
        return a, b, order
    a = s.astype(object).where(s.notna(), MISSING).astype(str)
    b = v.astype(object).where(v.notna(), MISSING).astype(str)
    counts = a[a != MISSING].value_counts()
    kept = list(counts.index[:max_levels])
    lump = [x for x in kept if x != "other"]
    a = a.where(a.isin([*lump, MISSING]), "other")
    b = b.where(b.isin([*lump, MISSING]), "other")
    order = lump + [x for x in ("other", MISSING) if (a == x).any() or (b == x).any()]
    return a, b, order


def _range_names(edges: np.ndarray, low: float, values: np.ndarray) -> list[str]:
    """Names of the ranges ``x <= e0``, ``e0 < x <= e1``, ... , ``x > e_last``: whole numbers
    read ``1``, ``2 to 3``, ``above 3``; other numbers ``17.04 to 38.51``."""
    if not len(edges):
        return ["all values"]
    whole = bool(np.all(np.mod(values, 1) == 0))
    names = []
    for i, hi in enumerate(edges):
        lo = low if i == 0 else edges[i - 1] + (1 if whole else 0)
        names.append(f"{hi:.4g}" if whole and lo == hi else f"{lo:.4g} to {hi:.4g}")
    return [*names, f"above {edges[-1]:.4g}"]


def sparse_history(frame: pd.DataFrame, lookback_days: int) -> pd.Series | None:
    """``sparse`` (fewer than `SPARSE_DAYS` active days in the lookback) or ``regular`` per
    row of a snapshot; None when the snapshot has no active-days feature."""
    column = f"active_days_{lookback_days}d"
    if column not in frame.columns:
        return None
    days = pd.to_numeric(frame[column], errors="coerce").fillna(0).to_numpy()
    return pd.Series(np.where(days < SPARSE_DAYS, SPARSE, "regular"), dtype=object)


def _validation_figures(p: np.ndarray, y: np.ndarray) -> dict:
    n, positives = len(y), int(y.sum())
    expected = float(p.sum())
    auc = low = high = float("nan")
    if positives >= MIN_CLASS and n - positives >= MIN_CLASS:
        from sklearn.metrics import roc_auc_score

        auc = float(roc_auc_score(y, p))
        low, high = roc_auc_interval(y, p)
    return {
        "validation_profiles": n,
        "positives": positives,
        "base_rate": positives / n if n else float("nan"),
        "mean_predicted": expected / n if n else float("nan"),
        "expected": expected,
        "actual": positives,
        "roc_auc": auc,
        "roc_auc_low": low,
        "roc_auc_high": high,
    }


def _scored_figures(p: np.ndarray, bucket: np.ndarray, total: int) -> dict:
    n = len(p)
    return {
        "scored_profiles": n,
        "scored_share": n / total if total else float("nan"),
        "mean_probability": float(p.mean()) if n else float("nan"),
        "high_share": float((bucket == "high").mean()) if n else float("nan"),
    }


def typical_auc(rows: list[dict]) -> float:
    """The AUC typical of an attribute's cohorts: their AUCs weighted by validation profiles."""
    judged = [(r["roc_auc"], r["validation_profiles"]) for r in rows if np.isfinite(r["roc_auc"])]
    weight = sum(n for _, n in judged)
    return sum(a * n for a, n in judged) / weight if weight else float("nan")


def _flag(row: dict, typical: float, name: str) -> str:
    reasons = []
    if np.isfinite(row["roc_auc"]) and np.isfinite(typical):
        if row["roc_auc"] <= typical - AUC_GAP and row["roc_auc_high"] < typical:
            reasons.append(
                f"ranks worse: AUC {row['roc_auc']:.3f} (95% interval {row['roc_auc_low']:.3f} to "
                f"{row['roc_auc_high']:.3f}) against {typical:.3f} typical of {name} cohorts"
            )
    expected, actual = row["expected"], row["actual"]
    if miscalibrated(expected, actual):
        gap = actual - expected
        way = "more" if gap > 0 else "fewer"
        reasons.append(
            f"miscalibrated: {actual:,} actual conversions against {expected:,.1f} expected "
            f"({abs(gap) / expected:.0%} {way})"
        )
    return "; ".join(reasons)


def cohort_table(
    scored: pd.DataFrame, validation: pd.DataFrame, cohorts: Sequence[str]
) -> pd.DataFrame:
    """One row per cohort (module docstring), the whole population first (``all profiles``).

    `scored` has ``probability``, ``bucket`` and one column per cohort attribute; `validation`
    has ``probability``, ``label`` and the same columns. Returns `COLUMNS`; ``flag`` is empty
    or says why the cohort is scored markedly worse."""
    sp = scored["probability"].to_numpy(dtype=np.float64)
    sb = scored["bucket"].astype(str).to_numpy()
    vp = validation["probability"].to_numpy(dtype=np.float64)
    vy = validation["label"].to_numpy(dtype=np.int64)
    total = len(sp)
    overall = {
        "cohort": "all profiles",
        "level": "all",
        **_scored_figures(sp, sb, total),
        **_validation_figures(vp, vy),
        "flag": "",
    }
    rows = [overall]
    for name in cohorts:
        a, b, order = cohort_levels(scored[name], validation[name])
        a, b = a.to_numpy(), b.to_numpy()
        levels = [
            {
                "cohort": name,
                "level": level,
                **_scored_figures(sp[a == level], sb[a == level], total),
                **_validation_figures(vp[b == level], vy[b == level]),
            }
            for level in order
        ]
        typical = typical_auc(levels)
        rows += [{**row, "flag": _flag(row, typical, name)} for row in levels]
    return pd.DataFrame(rows, columns=COLUMNS)


def cohort_flags(table: pd.DataFrame) -> list[str]:
    """The flagged cohorts in words, one line each."""
    flagged = table[table["flag"].astype("string").fillna("") != ""]
    return [f"{r.cohort} = {r.level}: {r.flag}" for r in flagged.itertuples(index=False)]
