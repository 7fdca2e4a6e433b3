"""Influential factors: why each profile got its score, and which factors matter overall.

Every model candidate exposes `contributions(X)`: one column per feature code plus `bias`, in
log-odds, each row summing to the model's raw score (`raw_score`). This module turns
that matrix into what an analyst reads:

- per profile, the top factors that **raise** the score and the top factor that **lowers** it,
  as text (`Purchases in the last 30 days: 3 (raises, high)`) and as JSON;
- global factors and per-bucket factors with direction, coverage and value ranges live in
  `workbench.factor_summary` (re-exported here).

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
    """The slots' JSON objects as one JSON list per row (rows without a factor skipped).

    One join over all slots, each present slot after an earlier present one preceded by ", ":
    the rows' text is built once (at 1M profiles a pass over it is ~0.4 GB; joining with
    placeholders and removing them cost four passes and 1.6 GB of peak)."""
    if not json_slots:
        return pa.array(["[]"] * n, type=pa.string())
    parts: list = ["[", json_slots[0]]
    seen = pc.is_valid(json_slots[0])
    for slot in json_slots[1:]:
        present = pc.is_valid(slot)
        parts += [pc.if_else(pc.and_(present, seen), ", ", ""), slot]
        seen = pc.or_(seen, present)
    return pc.binary_join_element_wise(
        *parts, "]", "", null_handling="replace", null_replacement=""
    )


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


# The summaries (global, per bucket, the factor report) build on the functions above and live
# in `workbench.factor_summary`; they stay importable from here (loaded on first use, since that
# module imports this one).
_SUMMARIES = {"bucket_factors", "build_factor_report", "global_factors"}


def __getattr__(name: str):
    if name in _SUMMARIES:
        from workbench import factor_summary

        return getattr(factor_summary, name)
    raise AttributeError(f"module 'workbench.factors' has no attribute {name!r}")
