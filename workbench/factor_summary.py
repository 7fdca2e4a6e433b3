"""Factor summaries: which factors matter overall and per bucket, in which direction, for whom.

Built on the contribution matrix of `workbench.factors` (log-odds, one column per feature):

- `global_factors`: mean |contribution| per feature over the scored population, its share of
  the total, the mean signed contribution and how many profiles it notably raises or lowers;
- `bucket_factors`: per bucket (low, medium, high) the top factors with the same figures plus
  the values the bucket's profiles have (median, middle half) as text an analyst reads.

Direction and coverage agree with the bars a chart draws from them: a factor "raises" a
profile's score notably when its contribution is at least the population's *medium* importance
threshold (the median non-zero |contribution|, `factors.importance_thresholds`), the same rule
that makes a profile's own factor text say "medium" or "high". So ``raises_share +
lowers_share`` is the share of profiles for whom the factor matters, and a long bar (a large
mean |contribution|) cannot sit beside "0% of profiles". ``coverage`` (the factor is among the
profile's own top 3 raising + 1 lowering factors) is kept as it was.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from workbench.factors import (
    _feature_codes,
    _spec_map,
    _top_sets,
    format_value,
    importance_thresholds,
)
from workbench.features import FeatureSpec

__all__ = ["global_factors", "bucket_factors", "build_factor_report", "example_rows"]

_BUCKET_ORDER = ["low", "medium", "high"]
FACTOR_SUMMARY_ROWS = 200_000  # profiles behind the global / per-bucket factor summaries


def _matrix(contributions: pd.DataFrame, specs: Sequence[FeatureSpec]):
    codes = _feature_codes(contributions, specs)
    c = contributions[codes].to_numpy(dtype=np.float64, na_value=np.nan)
    return codes, np.nan_to_num(c)


def _direction_figures(c: np.ndarray, notable: float) -> dict[str, np.ndarray]:
    """Per column: mean |c|, mean c, and the shares of rows it notably raises / lowers."""
    if len(c) == 0:
        zeros = np.zeros(c.shape[1])
        return {k: zeros for k in ("mean_abs", "mean", "raises", "lowers")}
    return {
        "mean_abs": np.abs(c).mean(axis=0),
        "mean": c.mean(axis=0),
        "raises": (c >= notable).mean(axis=0),
        "lowers": (c <= -notable).mean(axis=0),
    }


def _notable(c: np.ndarray) -> float:
    medium, _ = importance_thresholds(c)
    return medium if np.isfinite(medium) else np.inf


def global_factors(contributions: pd.DataFrame, specs: Sequence[FeatureSpec]) -> pd.DataFrame:
    """Mean absolute contribution per feature over all profiles, with its share of the total.

    Columns: ``feature, label, mean_abs_contribution, share, mean_contribution, raises_share,
    lowers_share``; sorted by contribution, largest first. ``share`` sums to 1 (0 when every
    contribution is 0); the direction columns are described in the module docstring.
    """
    spec_by_code = _spec_map(specs)
    codes, c = _matrix(contributions, specs)
    fig = _direction_figures(c, _notable(c))
    total = fig["mean_abs"].sum()
    out = pd.DataFrame(
        {
            "feature": codes,
            "label": [spec_by_code[c].label if c in spec_by_code else c for c in codes],
            "mean_abs_contribution": fig["mean_abs"],
            "share": fig["mean_abs"] / total if total > 0 else np.zeros(len(codes)),
            "mean_contribution": fig["mean"],
            "raises_share": fig["raises"],
            "lowers_share": fig["lowers"],
        }
    )
    return out.sort_values("mean_abs_contribution", ascending=False, kind="stable").reset_index(
        drop=True
    )


def _typical(values: pd.Series, spec: FeatureSpec | None) -> object:
    if (spec is not None and spec.kind == "categorical") or not pd.api.types.is_numeric_dtype(
        values
    ):
        mode = values.dropna().mode()
        return mode.iloc[0] if len(mode) else None
    v = pd.to_numeric(values, errors="coerce")
    return float(v.median()) if v.notna().any() else float("nan")


def value_range(values: pd.Series, spec: FeatureSpec | None) -> tuple[str, str]:
    """(typical, range) as text: the median and the middle half (``3–12 days``) of a number;
    the most frequent value and its share (``email (64%)``) of a category; ``none`` when the
    bucket has no value (a profile without such events). The range reads in the feature's
    phrase when it has one (``the last purchase was 0.3–2 usual gaps ago``)."""
    spec = spec or FeatureSpec(code=str(values.name), label=str(values.name))
    present = values.dropna()
    if len(present) == 0:
        return "none", "none"
    if spec.kind == "categorical" or not pd.api.types.is_numeric_dtype(values):
        counts = present.astype(str).value_counts()
        top = counts.index[0]
        return top, f"{top} ({counts.iloc[0] / len(values):.0%})"
    v = pd.to_numeric(present, errors="coerce").dropna()
    low, mid, high = (float(q) for q in np.quantile(v, [0.25, 0.5, 0.75]))
    typical = format_value(mid, spec)
    lo_text, hi_text = format_value(low, spec), format_value(high, spec)
    missing = 1 - len(v) / len(values)
    span = lo_text if lo_text == hi_text else f"{_bare(lo_text, hi_text)}–{hi_text}"
    if spec.phrase:  # in the feature's words: "3–7 days with a purchase", not "3–7 days"
        span = spec.phrase.format(span)
    if missing >= 0.5:  # most have none (no such event): that is what is typical
        return "none", f"none for {missing:.0%}; {span} for the others"
    if missing >= 0.25:  # "none" for many: say so beside the range of the others
        span += f" ({missing:.0%} have none)"
    return typical, span


def _bare(low: str, high: str) -> str:
    """`3 days` -> `3` when the high end carries the same unit (`3–12 days`)."""
    lw, hw = low.split(" ", 1), high.split(" ", 1)
    if len(lw) == 2 and len(hw) == 2 and lw[1].rstrip("s") == hw[1].rstrip("s"):
        return lw[0]
    return low


def _bucket_frame(name, rows, codes, c, in_top, X, spec_by_code, notable, top) -> pd.DataFrame:
    fig = _direction_figures(c[rows], notable)
    coverage = in_top[rows].mean(axis=0) if len(rows) else np.zeros(len(codes))
    order = np.lexsort((np.arange(len(codes)), -fig["mean_abs"]))[:top]
    sub = X.iloc[rows]
    texts = [
        value_range(sub[codes[j]], spec_by_code.get(codes[j]))
        if codes[j] in sub.columns
        else ("none", "none")
        for j in order
    ]
    return pd.DataFrame(
        {
            "bucket": name,
            "feature": [codes[j] for j in order],
            "label": [
                spec_by_code[codes[j]].label if codes[j] in spec_by_code else codes[j]
                for j in order
            ],
            "mean_abs_contribution": fig["mean_abs"][order],
            "coverage": coverage[order],
            "typical_value": pd.Series(
                [
                    _typical(sub[codes[j]], spec_by_code.get(codes[j]))
                    if codes[j] in sub.columns
                    else None
                    for j in order
                ],
                dtype=object,
            ),
            "mean_contribution": fig["mean"][order],
            "raises_share": fig["raises"][order],
            "lowers_share": fig["lowers"][order],
            "typical_text": [t for t, _ in texts],
            "value_range": [r for _, r in texts],
        }
    )


BUCKET_FACTOR_COLUMNS = [
    "bucket",
    "feature",
    "label",
    "mean_abs_contribution",
    "coverage",
    "typical_value",
    "mean_contribution",
    "raises_share",
    "lowers_share",
    "typical_text",
    "value_range",
]


def bucket_factors(
    contributions: pd.DataFrame,
    X: pd.DataFrame,
    buckets: pd.Series,
    specs: Sequence[FeatureSpec],
    top: int = 10,
    top_up: int = 3,
    top_down: int = 1,
) -> pd.DataFrame:
    """Per bucket, the `top` factors by mean |contribution|, with direction, coverage and values.

    Rows of `contributions`, `X` and `buckets` are matched by position. ``coverage`` is the
    share of profiles in the bucket for which the factor is among their own top factors (the
    ``top_up`` raising plus ``top_down`` lowering factors, as in `influential_factors`);
    ``typical_value`` is the median (numeric) or the most frequent value (categorical) in the
    bucket; ``mean_contribution`` the signed mean (> 0: it raises this bucket's scores on
    average); ``raises_share`` / ``lowers_share`` the shares it notably raises / lowers (module
    docstring); ``typical_text`` and ``value_range`` the values as text (`value_range`).
    Buckets in the order low, medium, high (others after), factors largest first.
    """
    if not (len(contributions) == len(X) == len(buckets)):
        raise ValueError(
            f"contributions ({len(contributions)}), X ({len(X)}) and buckets ({len(buckets)}) "
            "must have the same number of rows"
        )
    spec_by_code = _spec_map(specs)
    codes, c = _matrix(contributions, specs)
    notable = _notable(c)
    in_top = _top_sets(c, top_up, top_down)
    b = pd.Series(np.asarray(buckets, dtype=object))
    present = list(pd.unique(b.dropna()))
    ordered = [x for x in _BUCKET_ORDER if x in present] + [
        x for x in present if x not in _BUCKET_ORDER
    ]
    frames = [
        _bucket_frame(
            name,
            np.flatnonzero((b == name).to_numpy()),
            codes,
            c,
            in_top,
            X,
            spec_by_code,
            notable,
            top,
        )
        for name in ordered
    ]
    if not frames:
        return pd.DataFrame(columns=BUCKET_FACTOR_COLUMNS)
    return pd.concat(frames, ignore_index=True)[BUCKET_FACTOR_COLUMNS]


# --------------------------------------------------------------------------- the factor report
def build_factor_report(
    model, frame: pd.DataFrame, config, examples: int = 5, explained=None
) -> dict[str, pd.DataFrame]:
    """Influential factor families of a scoring population: `global`, `by_bucket` (with
    coverage) and `examples` (profiles spread over the score range with their own factors, as
    the scores carry them: `factor_groups.grouped_factors`).

    Global and per-bucket summaries are shares and means: above `FACTOR_SUMMARY_ROWS` profiles a
    seeded sample gives the same picture at a fraction of the cost (the scores carry every
    profile's own factors). `explained`: `scoring.explain_profiles` of every row of `frame`,
    when computed already (the summaries then read the sample's rows from it); otherwise only
    the sample's contributions are computed. The families are sums of these per-feature
    contributions, so the hand-over serves them too."""
    from workbench.factor_groups import family_contributions, family_tables, grouped_factors
    from workbench.scoring import assign_buckets, assign_percentiles

    specs = model.feature_specs_
    codes = [s.code for s in specs]
    probability = explained.probability if explained is not None else model.propensity(frame[codes])
    bucket_values = assign_buckets(assign_percentiles(probability), config.scoring.buckets)
    keep = None
    if len(frame) > FACTOR_SUMMARY_ROWS:
        rng = np.random.default_rng(config.training.seed)
        keep = np.sort(rng.choice(len(frame), FACTOR_SUMMARY_ROWS, replace=False))
        frame = frame.iloc[keep].reset_index(drop=True)
        probability, bucket_values = probability[keep], bucket_values[keep]
    X = frame[codes]
    if explained is None:
        contributions = model.contributions(X)
    elif keep is None:
        contributions = explained.contributions
    else:
        contributions = explained.contributions.iloc[keep].reset_index(drop=True)
    buckets = pd.Series(bucket_values, index=frame.index)
    overall, by_bucket = family_tables(contributions, X, buckets, specs)
    picks = example_rows(probability, examples)
    _, G, _ = family_contributions(contributions, specs)
    example_factors, _ = grouped_factors(
        contributions.iloc[picks].reset_index(drop=True),
        X.iloc[picks].reset_index(drop=True),
        specs,
        direction=1 if config.goal.outcome == "occurs" else -1,
        ranges=getattr(model, "ranges_", None),
        thresholds=importance_thresholds(G),
    )
    example_df = pd.concat(
        [
            frame.iloc[picks][["profile_id"]].reset_index(drop=True),
            pd.DataFrame(
                {"probability": probability[picks], "bucket": buckets.iloc[picks].to_numpy()}
            ),
            example_factors[["factor_1", "factor_2", "factor_3", "factor_down"]],
        ],
        axis=1,
    )
    return {"global": overall, "by_bucket": by_bucket, "examples": example_df}


def example_rows(probability, n: int) -> list[int]:
    """Profiles spread over the score range: highest, lowest and evenly between."""
    order = pd.Series(probability).sort_values(ascending=False, kind="stable").index.to_list()
    if n <= 0 or not order:
        return []
    if n >= len(order):
        return order
    step = (len(order) - 1) / max(n - 1, 1)
    return [order[round(i * step)] for i in range(n)]
