"""Sums that do not depend on how the engine scheduled its threads.

DuckDB (and Spark) add a group's values in whatever order its threads met them, so a sum of
floating-point values can differ in its last bits from one run to the next: on Online Retail
28,138 of 56,436 training snapshot rows had `unitprice_sum_365d` differ by up to 3.5e-10
between two runs of the same code. That is far below anything a feature means, but LightGBM
bins distinct values, and two profiles with the same true sum are one value in one run and two
in the next: the boosted model's fold ROC AUC moved in the fourth decimal from run to run and
its realised AUC by 0.001 (0.7471 and 0.7482 in two runs).

`stabilise_sums` rounds each sum of a numeric field to 12 significant digits (the rounding
is a fixed function of its input, and a few units in the last place of a sum of prices with
at most 2-3 decimals never cross a rounding boundary: the true sum sits on the decimal grid)
and rebuilds each mean as that rounded sum divided by the number of values, which the pair
itself gives exactly (sum / mean is the count within rounding). Exact results (integer
counts and gaps, min/max ages) are not touched.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.features import FeaturePlan, feature_prefixes

DIGITS = 12  # significant digits a sum keeps (a double holds 15-17)


def round_significant(x: np.ndarray, digits: int = DIGITS) -> np.ndarray:
    """`x` rounded to `digits` significant decimal digits; zeros, NaN, inf and values too
    small to scale (below 1e-290) unchanged."""
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        magnitude = np.floor(np.log10(np.abs(x)))
        ok = np.isfinite(magnitude) & (magnitude > -290)
        scale = np.power(10.0, np.where(ok, digits - 1 - magnitude, 0.0))
        rounded = np.round(x * scale) / scale
    return np.where(ok, rounded, x)


def _pairs(plan: FeaturePlan, columns) -> list[tuple[str, str | None]]:
    """(sum code, mean code or None) of every numeric field's window that the frame holds."""
    prefixes = feature_prefixes(plan)
    windows = [f"{w}d" for w in sorted({30, plan.lookback_days})] + ["ever"]
    out = []
    for field in plan.numeric_fields:
        prefix = prefixes[("numeric", field)]
        for w in windows:
            total, mean = f"{prefix}_sum_{w}", f"{prefix}_mean_{w}"
            if total in columns:
                out.append((total, mean if mean in columns else None))
    return out


def stabilise_sums(frame: pd.DataFrame, plan: FeaturePlan) -> None:
    """Round the numeric fields' sums and rebuild their means from them, in place (see the
    module's docstring). The frame's numeric columns are float64 already."""
    for total, mean in _pairs(plan, frame.columns):
        s = frame[total].to_numpy(dtype=float)
        rounded = round_significant(s)
        frame[total] = rounded
        if mean is None:
            continue
        m = frame[mean].to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            count = np.round(s / m)
            rebuilt = rounded / count
        usable = np.isfinite(rebuilt) & (count >= 1)
        # a mean of 0 (every value 0) is exact already; one beside a NaN sum stays NaN
        frame[mean] = np.where(usable, rebuilt, round_significant(m))
