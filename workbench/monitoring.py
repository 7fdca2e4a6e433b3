"""Two runs compared: how far scores, features, buckets and factors moved, and what changed.

Plain functions on frames; `workbench.workflow.comparison` opens the runs and saves the results.

Population stability index (PSI)
--------------------------------
``PSI = sum over bins of (current share - reference share) * ln(current share / reference
share)``, the earlier run being the reference. Numbers are cut at the reference's deciles (ties
merged, so a count that is 0 for 80% of profiles gets one bin for 0), text by value, and missing
values get a bin of their own. A share of 0 counts as 0.0001 so that a bin empty on one side
gives a large but finite term. The usual reading (`PSI_MODERATE`, `PSI_MAJOR`):

- below 0.10: stable;
- 0.10 to 0.25: a moderate shift, worth a look;
- 0.25 and above: a major shift: the population the model scores is no longer the one it was
  judged on.

Bucket migration
----------------
For profiles scored in both runs: how many went from each bucket to each other bucket, with the
profiles new in the later run and those no longer scored. Buckets are percentile bands, so some
movement is normal (people buy, lapse, come back). The share that kept their bucket is set
against the share that chance alone would keep (same bucket sizes, no relation between the two
runs): Cohen's kappa ``(kept - chance) / (1 - chance)``. A kappa below `MIGRATION_KAPPA` (0.4:
"fair" agreement or worse on Landis and Koch's scale) means the ranking was largely reshuffled.

Realised performance
--------------------
Once an earlier run's outcome window has closed in a later run's data, its scores are set
against what happened (`workbench.scoring.realised_performance`). Flagged: a realised ROC AUC
`AUC_DROP` (0.05) or more below the validation AUC the model was chosen on, and actual
conversions (overall or in a bucket) off the expected ones (the sum of the probabilities) by
more than `CALIBRATION_GAP` (25%) of the expected and by more than two standard deviations of a
count with that mean (``2 * sqrt(expected)``), so that chance alone rarely trips it.

Factor drift
------------
A run's factor weights are the mean absolute contribution of each feature over its scored
profiles (`workbench.factors.global_factors`), summed per family (all features of one event
type, one numeric field, overall activity, one profile attribute) and taken as a share of the
total. A family whose share moved by `FACTOR_SHIFT` (10 percentage points) or more is flagged.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from workbench.features import FeatureSpec

__all__ = [
    "PSI_MODERATE",
    "PSI_MAJOR",
    "MIGRATION_KAPPA",
    "FACTOR_SHIFT",
    "psi_table",
    "psi",
    "score_drift",
    "feature_drift",
    "bucket_migration",
    "migration_summary",
    "feature_families",
    "factor_drift",
    "drift_level",
    "drift_flags",
    "miscalibrated",
    "realised_flags",
]

PSI_MODERATE = 0.10  # from here a shift is worth a look
PSI_MAJOR = 0.25  # from here the scored population is no longer the one the model was judged on
MIGRATION_KAPPA = 0.4  # below this agreement beyond chance, the bucket ranking was reshuffled
FACTOR_SHIFT = 0.10  # a family's share of the factor weight moving this much is flagged
AUC_DROP = 0.05  # a realised AUC this far below the validation AUC is flagged
CALIBRATION_GAP = 0.25  # actual conversions this far off the expected ones (and beyond noise)
PSI_FLOOR = 1e-4  # an empty bin counts as this share
MISSING = "(missing)"
_BUCKETS = ["low", "medium", "high"]


# --------------------------------------------------------------------------- PSI
def _edges(reference: np.ndarray, bins: int) -> np.ndarray:
    """The reference's inner quantiles (deciles for 10 bins), ties merged."""
    finite = reference[np.isfinite(reference)]
    if not finite.size:
        return finite
    # edges at values the reference holds, so a count of 0 for most profiles cuts at 0 and 1
    return np.unique(np.quantile(finite, np.arange(1, bins) / bins, method="inverted_cdf"))


def _bin_labels(edges: np.ndarray) -> list[str]:
    if not len(edges):
        return ["all values"]
    inner = [f"{lo:.4g} to {hi:.4g}" for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    return [f"<= {edges[0]:.4g}", *inner, f"> {edges[-1]:.4g}"]


def psi_table(
    reference: pd.Series | Sequence,
    current: pd.Series | Sequence,
    bins: int = 10,
    categorical: bool | None = None,
) -> pd.DataFrame:
    """The bins behind a PSI: ``bin, reference_share, current_share, psi`` (one row per bin
    that holds a profile on either side, the last column each bin's term; bins as in the module
    docstring: numbers at the reference's deciles, a value ``x`` in the bin ``lo < x <= hi``).

    `categorical` None decides from the data (text or categories are categorical)."""
    ref = pd.Series(reference).reset_index(drop=True)
    cur = pd.Series(current).reset_index(drop=True)
    if categorical is None:
        categorical = isinstance(ref.dtype, pd.CategoricalDtype) or not (
            pd.api.types.is_numeric_dtype(ref) or pd.api.types.is_bool_dtype(ref)
        )
    if categorical:
        r = ref.astype(object).where(ref.notna(), MISSING).astype(str)
        c = cur.astype(object).where(cur.notna(), MISSING).astype(str)
        keys = list(dict.fromkeys([*r.value_counts().index, *c.value_counts().index]))
        labels = keys
    else:
        a = pd.to_numeric(ref, errors="coerce").to_numpy(dtype=float)
        b = pd.to_numeric(cur, errors="coerce").to_numpy(dtype=float)
        edges = _edges(a, bins)
        labels = [*_bin_labels(edges), MISSING]
        missing = len(labels) - 1
        r = pd.Series(np.where(np.isnan(a), missing, np.searchsorted(edges, a, side="left")))
        c = pd.Series(np.where(np.isnan(b), missing, np.searchsorted(edges, b, side="left")))
        keys = list(range(len(labels)))
    ref_share = r.value_counts(normalize=True).reindex(keys, fill_value=0.0).to_numpy(float)
    cur_share = c.value_counts(normalize=True).reindex(keys, fill_value=0.0).to_numpy(float)
    table = pd.DataFrame({"bin": labels, "reference_share": ref_share, "current_share": cur_share})[
        (ref_share > 0) | (cur_share > 0)
    ].reset_index(drop=True)
    now = np.maximum(table["current_share"].to_numpy(float), PSI_FLOOR)
    before = np.maximum(table["reference_share"].to_numpy(float), PSI_FLOOR)
    table["psi"] = (now - before) * np.log(now / before)
    return table


def psi(reference, current, bins: int = 10, categorical: bool | None = None) -> float:
    """Population stability index of `current` against `reference` (module docstring)."""
    if len(reference) == 0 or len(current) == 0:
        return float("nan")
    return float(psi_table(reference, current, bins, categorical)["psi"].sum())


def drift_level(value: float) -> str:
    """`stable`, `moderate` or `major` for a PSI (thresholds `PSI_MODERATE`, `PSI_MAJOR`)."""
    if not np.isfinite(value):
        return "unknown"
    return "major" if value >= PSI_MAJOR else ("moderate" if value >= PSI_MODERATE else "stable")


# --------------------------------------------------------------------------- scores
def score_drift(earlier: pd.DataFrame, later: pd.DataFrame) -> dict[str, Any]:
    """How the probabilities moved: PSI (later against earlier), mean and median probability
    and bucket shares of each run, and the bins behind the PSI (`bins`)."""
    table = psi_table(earlier["probability"], later["probability"], categorical=False)
    value = float(table["psi"].sum())

    def shares(scores: pd.DataFrame) -> dict[str, float]:
        counts = scores["bucket"].astype(str).value_counts(normalize=True)
        return {b: float(counts.get(b, 0.0)) for b in _BUCKETS}

    return {
        "psi": value,
        "level": drift_level(value),
        "earlier_profiles": int(len(earlier)),
        "later_profiles": int(len(later)),
        "earlier_mean_probability": float(earlier["probability"].mean()),
        "later_mean_probability": float(later["probability"].mean()),
        "earlier_median_probability": float(earlier["probability"].median()),
        "later_median_probability": float(later["probability"].median()),
        "earlier_bucket_shares": shares(earlier),
        "later_bucket_shares": shares(later),
        "bins": table,
    }


# --------------------------------------------------------------------------- features
def feature_drift(
    earlier: pd.DataFrame, later: pd.DataFrame, specs: Sequence[FeatureSpec], bins: int = 10
) -> pd.DataFrame:
    """PSI of every feature both snapshots carry, largest first: ``feature, label, family,
    kind, psi, level, earlier, later`` (median for numbers, most frequent value for text)."""
    families = feature_families(specs)
    rows = []
    for spec in specs:
        if spec.code not in earlier.columns or spec.code not in later.columns:
            continue
        categorical = spec.kind == "categorical"
        a, b = earlier[spec.code], later[spec.code]
        value = psi(a, b, bins, categorical)
        rows.append(
            {
                "feature": spec.code,
                "label": spec.label,
                "family": families.get(spec.code, spec.label),
                "kind": spec.kind,
                "psi": value,
                "level": drift_level(value),
                "earlier": _typical(a, categorical),
                "later": _typical(b, categorical),
            }
        )
    cols = ["feature", "label", "family", "kind", "psi", "level", "earlier", "later"]
    frame = pd.DataFrame(rows, columns=cols)
    return frame.sort_values("psi", ascending=False, kind="stable").reset_index(drop=True)


def _typical(values: pd.Series, categorical: bool) -> Any:
    if categorical or not pd.api.types.is_numeric_dtype(values):
        mode = values.dropna().astype(str).mode()
        return str(mode.iloc[0]) if len(mode) else None
    v = pd.to_numeric(values, errors="coerce")
    return float(f"{v.median():.4g}") if v.notna().any() else None


# --------------------------------------------------------------------------- buckets
def bucket_migration(earlier: pd.DataFrame, later: pd.DataFrame) -> pd.DataFrame:
    """Profiles per (earlier bucket, later bucket), joined on ``profile_id``.

    Rows: earlier buckets low, medium, high, then ``new`` (scored only later); columns: later
    buckets low, medium, high, then ``no longer scored`` (scored only earlier)."""
    a = earlier[["profile_id", "bucket"]].astype({"profile_id": str, "bucket": str})
    b = later[["profile_id", "bucket"]].astype({"profile_id": str, "bucket": str})
    joined = a.merge(b, on="profile_id", how="outer", suffixes=("_earlier", "_later"))
    joined["bucket_earlier"] = joined["bucket_earlier"].fillna("new")
    joined["bucket_later"] = joined["bucket_later"].fillna("no longer scored")
    matrix = pd.crosstab(joined["bucket_earlier"], joined["bucket_later"])
    matrix = matrix.reindex(
        index=[*_BUCKETS, "new"], columns=[*_BUCKETS, "no longer scored"], fill_value=0
    ).astype(np.int64)
    matrix.loc["new", "no longer scored"] = 0
    matrix.index.name, matrix.columns.name = "earlier bucket", "later bucket"
    return matrix


def migration_summary(matrix: pd.DataFrame) -> dict[str, Any]:
    """Figures of a `bucket_migration` matrix: profiles in both runs, how many kept their bucket,
    moved up or down, the share chance would keep, Cohen's kappa, the earlier high bucket's
    share still high, and profiles new or no longer scored."""
    core = matrix.loc[_BUCKETS, _BUCKETS].to_numpy(dtype=float)
    both = core.sum()
    kept = float(np.trace(core))
    up = float(np.triu(core, 1).sum())
    down = float(np.tril(core, -1).sum())
    if both:
        chance = float((core.sum(axis=1) / both) @ (core.sum(axis=0) / both))
        kept_share = kept / both
        kappa = (kept_share - chance) / (1 - chance) if chance < 1 else float("nan")
    else:
        chance = kept_share = kappa = float("nan")
    high_before = core[2].sum()
    return {
        "profiles_in_both": int(both),
        "kept_bucket": int(kept),
        "moved_up": int(up),
        "moved_down": int(down),
        "kept_share": kept_share,
        "chance_kept_share": chance,
        "kappa": kappa,
        "high_still_high": float(core[2, 2] / high_before) if high_before else float("nan"),
        "new_profiles": int(matrix.loc["new", _BUCKETS].sum()),
        "no_longer_scored": int(matrix.loc[_BUCKETS, "no longer scored"].sum()),
    }


# --------------------------------------------------------------------------- factors
_WINDOWED = re.compile(r"^(?P<stem>.+?)_(count_\d+d|days_since_last|days_since_first)$")
_AMOUNT = re.compile(r"^(?P<stem>.+?)_(sum|mean)_\d+d$")


def feature_families(specs: Sequence[FeatureSpec]) -> dict[str, str]:
    """Feature code -> the family a marketer reads: all features of one event type or custom
    event (`Purchase`), of one numeric field (`Price total`), overall activity, one profile
    attribute; anything else is its own family."""
    out: dict[str, str] = {}
    stems: dict[str, str] = {}
    for spec in specs:  # the event's name from "Days since last purchase": "Purchase"
        m = _WINDOWED.match(spec.code)
        if m and spec.family in ("event_type", "custom_event"):
            if spec.label.startswith("Days since last "):
                name = spec.label.removeprefix("Days since last ")
                stems[m["stem"]] = name[:1].upper() + name[1:]
    for spec in specs:
        if spec.family in ("event_type", "custom_event") and (m := _WINDOWED.match(spec.code)):
            out[spec.code] = stems.get(m["stem"], spec.label)
        elif spec.family == "numeric_field" and _AMOUNT.match(spec.code):
            name = spec.label.split(" in the last ")[0]
            name = re.sub(r"^(Total|Average) ", "", name)
            out[spec.code] = name[:1].upper() + name[1:]
        elif spec.family == "overall":
            out[spec.code] = "Overall activity"
        elif spec.family == "profile":
            out[spec.code] = spec.label.removesuffix(" (profile)")
        else:
            out[spec.code] = spec.label
    return out


def family_weights(global_factors: pd.DataFrame, families: dict[str, str]) -> pd.Series:
    """Share of the total mean |contribution| per family (sums to 1; empty when no weight)."""
    weights = (
        global_factors.assign(family=global_factors["feature"].map(lambda c: families.get(c, c)))
        .groupby("family")["mean_abs_contribution"]
        .sum()
    )
    total = weights.sum()
    return weights / total if total > 0 else weights * 0.0


def factor_drift(
    earlier: pd.DataFrame, later: pd.DataFrame, families: dict[str, str]
) -> pd.DataFrame:
    """Per family, its share of the factor weight in each run and the change (later - earlier,
    in shares: 0.12 is 12 percentage points), largest change first; `shifted` marks changes of
    `FACTOR_SHIFT` or more. `earlier`/`later` are `global_factors` tables."""
    a, b = family_weights(earlier, families), family_weights(later, families)
    frame = pd.DataFrame({"earlier_share": a, "later_share": b}).fillna(0.0)
    frame["change"] = frame["later_share"] - frame["earlier_share"]
    frame["shifted"] = frame["change"].abs() >= FACTOR_SHIFT - 1e-12
    frame.index.name = "family"
    order = frame["change"].abs().round(12).sort_values(ascending=False, kind="stable").index
    return frame.loc[order].reset_index()


# --------------------------------------------------------------------------- flags
def drift_flags(
    scores: dict[str, Any] | None,
    features: pd.DataFrame | None,
    migration: dict[str, Any] | None,
    factors: pd.DataFrame | None,
    top: int = 5,
) -> list[str]:
    """What an analyst should look at first, in words (thresholds in the module docstring)."""
    flags: list[str] = []
    if scores is not None and scores["level"] in ("moderate", "major"):
        flags.append(
            f"{scores['level']} score drift: PSI of the probability {scores['psi']:.2f} "
            f"(mean probability {scores['earlier_mean_probability']:.1%} -> "
            f"{scores['later_mean_probability']:.1%})"
        )
    if features is not None and len(features):
        major = features[features["level"] == "major"]
        if len(major):
            named = ", ".join(
                f"{r.label} ({r.psi:.2f})" for r in major.head(top).itertuples(index=False)
            )
            more = f" and {len(major) - top} more" if len(major) > top else ""
            flags.append(
                f"{len(major)} feature(s) shifted majorly (PSI >= {PSI_MAJOR}): {named}{more}"
            )
    if migration is not None and np.isfinite(migration.get("kappa", np.nan)):
        if migration["kappa"] < MIGRATION_KAPPA:
            flags.append(
                f"buckets reshuffled: {migration['kept_share']:.0%} of the profiles scored in both "
                f"runs kept their bucket (chance alone: {migration['chance_kept_share']:.0%}; "
                f"kappa {migration['kappa']:.2f} < {MIGRATION_KAPPA})"
            )
    if factors is not None and len(factors):
        for r in factors[factors["shifted"]].itertuples(index=False):
            way = "gained" if r.change > 0 else "lost"
            flags.append(
                f"factor drift: {r.family} {way} {abs(r.change):.0%} points of the factor weight "
                f"({r.earlier_share:.0%} -> {r.later_share:.0%})"
            )
    return flags


def miscalibrated(expected: float, actual: float) -> bool:
    """Actual conversions off the expected ones by more than `CALIBRATION_GAP` of the expected
    and by more than two standard deviations of a count with that mean (2 * sqrt(expected))."""
    if not (np.isfinite(expected) and np.isfinite(actual)) or expected <= 0:
        return False
    gap = abs(actual - expected)
    return bool(gap > CALIBRATION_GAP * expected and gap > 2 * np.sqrt(expected))


def realised_flags(realised: dict[str, Any], validation_auc: float | None) -> list[str]:
    """An earlier run's realised figures against what its model promised, in words."""
    flags: list[str] = []
    auc = realised.get("roc_auc", float("nan"))
    if validation_auc is not None and np.isfinite(auc) and auc <= validation_auc - AUC_DROP:
        flags.append(
            f"the earlier run ranked worse than its validation promised: realised ROC AUC "
            f"{auc:.3f} against {validation_auc:.3f}"
        )
    table = realised["by_bucket"]
    expected, actual = float(table["expected"].sum()), float(table["actual"].sum())
    if miscalibrated(expected, actual):
        flags.append(
            f"expected conversions missed: {actual:,.0f} happened against {expected:,.1f} "
            f"expected ({(actual - expected) / expected:+.0%})"
        )
    for r in table.itertuples(index=False):
        if miscalibrated(float(r.expected), float(r.actual)):
            flags.append(
                f"{r.bucket} bucket: {r.actual:,.0f} conversions against {r.expected:,.1f} "
                f"expected ({(r.actual - r.expected) / r.expected:+.0%})"
            )
    return flags
