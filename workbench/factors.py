"""Influential factors: why each profile got its score, and which factors matter overall.

Every model candidate exposes `contributions(X)`: one column per feature code plus `bias`, in
log-odds, each row summing to the model's raw score (`raw_score`). This module turns
that matrix into what an analyst reads:

- per profile, the top factors that **raise** the score and the top factor that **lowers** it,
  as text (`Purchases in the last 30 days: 3 (raises, high)`) and as JSON;
- global factors (mean absolute contribution over the scored population);
- per bucket, the top factors with their **coverage** and typical value.

Importance (high / medium / low)
--------------------------------
A factor's importance compares the size of its contribution, ``|contribution|`` in log-odds,
with every non-zero contribution in the population being explained (all profiles x all
features; a deterministic sample of at most 200,000 profiles when larger):

- ``high``: at or above the 80th percentile of that distribution (among the strongest fifth
  of all effects seen),
- ``medium``: at or above the median,
- ``low``: below the median.

The two thresholds can be fixed instead with ``thresholds=(medium, high)`` (log-odds), e.g. to
keep importance comparable across weekly re-scores.

Everything is vectorised over the contribution matrix (``numpy.argpartition``); text is built
per feature with one format per distinct value, so a million profiles take seconds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from workbench.factor_text import _formatted_column, format_value
from workbench.features import FeatureSpec

__all__ = [
    "IMPORTANCE_QUANTILES",
    "importance_thresholds",
    "influential_factors",
    "factors_from_contributions",
    "format_value",
    "global_factors",
    "bucket_factors",
]

# Quantiles of the non-zero |contribution| distribution that separate low/medium and medium/high.
IMPORTANCE_QUANTILES = (0.5, 0.8)
_THRESHOLD_SAMPLE_ROWS = 200_000
FACTOR_COLUMNS = ["factor_1", "factor_2", "factor_3", "factor_down", "factors_json"]

_IMPORTANCE = np.array(["low", "medium", "high"], dtype=object)
_DIRECTION = np.array(["lowers", "raises"], dtype=object)  # index: contribution > 0
# the text and JSON ends of a factor, by kind = direction * 3 + importance
SUFFIX_TEXT = pa.array([f" ({d}, {i})" for d in _DIRECTION for i in _IMPORTANCE])
SUFFIX_JSON = pa.array(
    [f', "importance": "{i}", "direction": "{d}"}}' for d in _DIRECTION for i in _IMPORTANCE]
)


# --------------------------------------------------------------------------- contributions
def _spec_map(specs: Sequence[FeatureSpec]) -> dict[str, FeatureSpec]:
    return {s.code: s for s in specs}


def _feature_codes(contributions: pd.DataFrame, specs: Sequence[FeatureSpec]) -> list[str]:
    """Feature columns of a contribution frame: spec order first, then any others; never `bias`."""
    known = [s.code for s in specs if s.code in contributions.columns]
    others = [c for c in contributions.columns if c != "bias" and c not in set(known)]
    return known + others


def importance_thresholds(contrib: np.ndarray) -> tuple[float, float]:
    """(medium, high) thresholds on |contribution|: quantiles of its non-zero distribution."""
    n = contrib.shape[0]
    sample = (
        contrib
        if n <= _THRESHOLD_SAMPLE_ROWS
        else contrib[:: math.ceil(n / _THRESHOLD_SAMPLE_ROWS)]
    )
    a = np.abs(sample[np.isfinite(sample)])
    a = a[a > 0]
    if a.size == 0:
        return (math.inf, math.inf)
    med, high = np.quantile(a, IMPORTANCE_QUANTILES)
    return float(med), float(high)


def _importance_index(absval: np.ndarray, thresholds: tuple[float, float]) -> np.ndarray:
    med, high = thresholds
    pos = absval > 0
    return (pos & (absval >= med)).astype(np.int8) + (pos & (absval >= high)).astype(np.int8)


def _top_indices(c: np.ndarray, k: int, *, largest: bool, chunk: int = 131_072) -> np.ndarray:
    """Per row, column indices of the k largest (or smallest) entries, best first; -1 where the
    entry is not strictly positive (largest) / strictly negative (smallest). Ties: lower column
    index first among the selected. Works in row chunks to bound temporary memory."""
    n, p = c.shape
    out = np.full((n, max(k, 0)), -1, dtype=np.int64)
    if k <= 0 or p == 0:
        return out
    k_eff = min(k, p)
    for start in range(0, n, chunk):
        v = c[start : start + chunk]
        finite = np.isfinite(v)
        if not finite.all():
            v = np.where(finite, v, 0.0)
        key = -v if largest else v  # ascending key: the best first
        if k_eff == 1:
            idx = np.argmin(key, axis=1)[:, None]  # first (lowest) column among ties
        else:
            if k_eff < p:
                part = np.argpartition(key, k_eff - 1, axis=1)[:, :k_eff]
            else:
                part = np.broadcast_to(np.arange(p), key.shape).copy()
            part_key = np.take_along_axis(key, part, axis=1)
            order = np.lexsort((part, part_key), axis=1)
            idx = np.take_along_axis(part, order, axis=1)
        chosen = np.take_along_axis(v, idx, axis=1)
        out[start : start + len(v), :k_eff] = np.where(
            chosen > 0 if largest else chosen < 0, idx, -1
        )
    return out


def _top_sets(c: np.ndarray, top_up: int, top_down: int) -> np.ndarray:
    """Boolean matrix (n x p): is the feature among the profile's own top factors."""
    n, p = c.shape
    mask = np.zeros((n, p), dtype=bool)
    rows = np.arange(n)
    for idx in (_top_indices(c, top_up, largest=True), _top_indices(c, top_down, largest=False)):
        for j in range(idx.shape[1]):
            ok = idx[:, j] >= 0
            mask[rows[ok], idx[ok, j]] = True
    return mask


def factor_slots(c: np.ndarray, top_up: int, top_down: int) -> list[tuple[str, np.ndarray]]:
    """(column name, per-row column index or -1) of each factor slot: the `top_up` largest
    positive entries, then the `top_down` most negative."""
    up = _top_indices(c, top_up, largest=True)
    down = _top_indices(c, top_down, largest=False)
    slots = [(f"factor_{j + 1}", up[:, j]) for j in range(up.shape[1])]
    slots += [
        ("factor_down" if j == 0 else f"factor_down_{j + 1}", down[:, j])
        for j in range(down.shape[1])
    ]
    return slots


def listed_json(json_slots: list[pa.Array], n: int) -> pa.Array:
    """The slots' JSON objects as one JSON list per row (rows without a factor skipped)."""
    if json_slots:
        listed = pc.fill_null(
            pc.binary_join_element_wise(*json_slots, ", ", null_handling="skip"), ""
        )
    else:
        listed = pa.array([""] * n, type=pa.string())
    return pc.binary_join_element_wise("[", listed, "]", "")


def _value_texts(fidx, columns_x, codes, specs_used) -> tuple[np.ndarray, np.ndarray]:
    """Text and JSON of each row's value of feature `fidx[row]` (None where it is -1),
    formatting each distinct value once per feature."""
    n = len(fidx)
    vtext = np.full(n, None, dtype=object)
    vjson = np.full(n, None, dtype=object)
    rows = np.flatnonzero(fidx >= 0)
    fh = fidx[rows]
    order = np.argsort(fh, kind="stable")
    bounds = np.flatnonzero(np.diff(fh[order])) + 1
    for group in np.split(order, bounds) if len(order) else []:
        j = int(fh[group[0]])
        at = rows[group]
        col = columns_x[codes[j]]
        if col is None:
            vtext[at], vjson[at] = "none", "null"
        else:
            vtext[at], vjson[at] = _formatted_column(col, at, specs_used[j])
    return vtext, vjson


def factors_from_contributions(
    contributions: pd.DataFrame,
    X: pd.DataFrame,
    specs: Sequence[FeatureSpec],
    top_up: int = 3,
    top_down: int = 1,
    thresholds: tuple[float, float] | None = None,
) -> pd.DataFrame:
    """`influential_factors` for an already computed contribution frame (rows aligned with X):
    one entry per feature (`factor_groups.grouped_factors` gives one per factor family)."""
    if len(contributions) != len(X):
        raise ValueError(f"contributions has {len(contributions)} rows but X has {len(X)}")
    spec_by_code = _spec_map(specs)
    codes = _feature_codes(contributions, specs)
    specs_used = [spec_by_code.get(c, FeatureSpec(code=c, label=c)) for c in codes]
    c = contributions[codes].to_numpy(dtype=np.float64, na_value=np.nan)
    n = len(c)
    if thresholds is None:
        thresholds = importance_thresholds(c)
    slots = factor_slots(c, top_up, top_down)
    if not codes:  # a model without features explains nothing
        empty = {name: pd.Series([None] * n, dtype=object, index=X.index) for name, _ in slots}
        return pd.DataFrame({**empty, "factors_json": ["[]"] * n}, index=X.index)

    rows_all = np.arange(n)
    # Strings are assembled with Arrow's vectorised kernels: per-feature pieces (label, JSON
    # prefix) and per-kind suffixes are `take`n by index, values are formatted once per
    # distinct value, contributions are cast to text by Arrow (shortest round-trip form).
    label_prefix = pa.array([f"{s.label}: " for s in specs_used], type=pa.string())
    json_prefix = pa.array(
        [
            '{"code": ' + json.dumps(s.code) + ', "label": ' + json.dumps(s.label) + ', "value": '
            for s in specs_used
        ],
        type=pa.string(),
    )
    suffix_text, suffix_json = SUFFIX_TEXT, SUFFIX_JSON
    columns_x = {code: (X[code] if code in X.columns else None) for code in codes}
    out: dict[str, pa.Array] = {}
    json_slots: list[pa.Array] = []
    for name, fidx in slots:
        has = fidx >= 0
        f = np.where(has, fidx, 0)
        val = np.where(has, c[rows_all, f], 0.0)
        kind = (val > 0).astype(np.int64) * 3 + _importance_index(np.abs(val), thresholds)
        vtext, vjson = _value_texts(fidx, columns_x, codes, specs_used)
        f_pa, kind_pa = pa.array(f), pa.array(kind)
        # a row without a factor in this slot has a null value text, so the join is null
        out[name] = pc.binary_join_element_wise(
            label_prefix.take(f_pa),
            pa.array(vtext, type=pa.string()),
            suffix_text.take(kind_pa),
            "",
        )
        json_slots.append(
            pc.binary_join_element_wise(
                json_prefix.take(f_pa),
                pa.array(vjson, type=pa.string()),
                ', "contribution": ',
                pc.cast(pa.array(np.round(val, 6)), pa.string()),
                suffix_json.take(kind_pa),
                "",
            )
        )
    out["factors_json"] = listed_json(json_slots, n)
    return pd.DataFrame({k: _to_pandas_text(v) for k, v in out.items()}, index=X.index)


def _to_pandas_text(arr: pa.Array) -> pd.api.extensions.ExtensionArray | np.ndarray:
    """An Arrow string array as pandas text without a per-string copy when pandas allows."""
    try:
        dtype = pd.StringDtype("pyarrow", na_value=np.nan)
    except TypeError:  # pandas < 2.3: plain object strings
        return arr.to_numpy(zero_copy_only=False)
    return pd.array(arr.to_pandas(types_mapper={pa.string(): dtype}.get), dtype=dtype)


def influential_factors(
    model,
    X: pd.DataFrame,
    specs: list[FeatureSpec],
    top_up: int = 3,
    top_down: int = 1,
    thresholds: tuple[float, float] | None = None,
) -> pd.DataFrame:
    """Per profile (row of X): the top factors that raise and lower its score.

    Parameters
    ----------
    model : a fitted candidate with ``contributions(X)`` (one column per feature + ``bias``).
    X : the feature columns, one row per profile.
    specs : the FeatureSpecs (friendly ``label`` and ``unit`` for the text).
    top_up, top_down : how many raising / lowering factors to keep.
    thresholds : optional fixed (medium, high) |contribution| thresholds; by default the 50th
        and 80th percentiles of the non-zero |contribution| distribution (module docstring).

    Returns
    -------
    DataFrame indexed like X with ``factor_1..factor_{top_up}`` (text, missing when the profile
    has fewer raising factors), ``factor_down`` (text, missing when nothing lowers the score)
    and ``factors_json``: a JSON list of ``{code, label, value, contribution, importance,
    direction}``, raising factors first, contribution in log-odds rounded to 6 decimals.
    """
    return factors_from_contributions(
        model.contributions(X), X, specs, top_up=top_up, top_down=top_down, thresholds=thresholds
    )


# --------------------------------------------------------------------------- summaries
def global_factors(contributions: pd.DataFrame, specs: Sequence[FeatureSpec]) -> pd.DataFrame:
    """Mean absolute contribution per feature over all profiles, with its share of the total.

    Columns: ``feature, label, mean_abs_contribution, share``; sorted by contribution, largest
    first. ``share`` sums to 1 (0 when every contribution is 0). The ``bias`` column is ignored.
    """
    spec_by_code = _spec_map(specs)
    codes = _feature_codes(contributions, specs)
    c = contributions[codes].to_numpy(dtype=np.float64, na_value=np.nan)
    mean_abs = np.nanmean(np.abs(c), axis=0) if len(c) else np.zeros(len(codes))
    mean_abs = np.nan_to_num(mean_abs)
    total = mean_abs.sum()
    out = pd.DataFrame(
        {
            "feature": codes,
            "label": [spec_by_code[c].label if c in spec_by_code else c for c in codes],
            "mean_abs_contribution": mean_abs,
            "share": mean_abs / total if total > 0 else np.zeros(len(codes)),
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


_BUCKET_ORDER = ["low", "medium", "high"]


def bucket_factors(
    contributions: pd.DataFrame,
    X: pd.DataFrame,
    buckets: pd.Series,
    specs: Sequence[FeatureSpec],
    top: int = 10,
    top_up: int = 3,
    top_down: int = 1,
) -> pd.DataFrame:
    """Per bucket, the `top` factors by mean |contribution|, with coverage and typical value.

    Rows of `contributions`, `X` and `buckets` are matched by position. ``coverage`` is the
    share of profiles in the bucket for which the factor is among their own top factors (the
    ``top_up`` raising plus ``top_down`` lowering factors, as in `influential_factors`);
    ``typical_value`` is the median (numeric) or the most frequent value (categorical) in the
    bucket. Columns: ``bucket, feature, label, mean_abs_contribution, coverage, typical_value``;
    buckets in the order low, medium, high (others after), factors largest first.
    """
    if not (len(contributions) == len(X) == len(buckets)):
        raise ValueError(
            f"contributions ({len(contributions)}), X ({len(X)}) and buckets ({len(buckets)}) "
            "must have the same number of rows"
        )
    spec_by_code = _spec_map(specs)
    codes = _feature_codes(contributions, specs)
    c = contributions[codes].to_numpy(dtype=np.float64, na_value=np.nan)
    absc = np.nan_to_num(np.abs(c))
    in_top = _top_sets(c, top_up, top_down)
    b = pd.Series(np.asarray(buckets, dtype=object))
    present = list(pd.unique(b.dropna()))
    ordered = [x for x in _BUCKET_ORDER if x in present] + [
        x for x in present if x not in _BUCKET_ORDER
    ]
    frames = []
    for name in ordered:
        rows = np.flatnonzero((b == name).to_numpy())
        mean_abs = absc[rows].mean(axis=0)
        coverage = in_top[rows].mean(axis=0)
        order = np.lexsort((np.arange(len(codes)), -mean_abs))[:top]
        sub = X.iloc[rows]
        frames.append(
            pd.DataFrame(
                {
                    "bucket": name,
                    "feature": [codes[j] for j in order],
                    "label": [
                        spec_by_code[codes[j]].label if codes[j] in spec_by_code else codes[j]
                        for j in order
                    ],
                    "mean_abs_contribution": mean_abs[order],
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
                }
            )
        )
    cols = ["bucket", "feature", "label", "mean_abs_contribution", "coverage", "typical_value"]
    if not frames:
        return pd.DataFrame(columns=cols)
    return pd.concat(frames, ignore_index=True)[cols]


# --------------------------------------------------------------------------- the factor report
FACTOR_SUMMARY_ROWS = 200_000  # profiles behind the global / per-bucket factor summaries


def build_factor_report(
    model, frame: pd.DataFrame, config, examples: int = 5
) -> dict[str, pd.DataFrame]:
    """Influential factor families of a scoring population: `global`, `by_bucket` (with
    coverage) and `examples` (profiles spread over the score range with their own factors, as
    the scores carry them: `factor_groups.grouped_factors`).

    Global and per-bucket summaries are shares and means: above `FACTOR_SUMMARY_ROWS` profiles a
    seeded sample gives the same picture at a fraction of the TreeSHAP cost (the scores carry
    every profile's own factors)."""
    from workbench.factor_groups import family_contributions, family_tables, grouped_factors
    from workbench.scoring import assign_buckets, assign_percentiles

    specs = model.feature_specs_
    codes = [s.code for s in specs]
    probability = model.propensity(frame[codes])
    bucket_values = assign_buckets(assign_percentiles(probability), config.scoring.buckets)
    if len(frame) > FACTOR_SUMMARY_ROWS:
        rng = np.random.default_rng(config.training.seed)
        keep = np.sort(rng.choice(len(frame), FACTOR_SUMMARY_ROWS, replace=False))
        frame = frame.iloc[keep].reset_index(drop=True)
        probability, bucket_values = probability[keep], bucket_values[keep]
    X = frame[codes]
    contributions = model.contributions(X)
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
