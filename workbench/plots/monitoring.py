"""Charts (runs over time): score and feature drift, bucket migration, factor drift, realised
performance across runs.

Every function takes ``ax=None`` (a new figure when None), draws, and returns the Axes; pyplot
is imported lazily and ``show()`` is never called.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.monitoring import PSI_MAJOR, PSI_MODERATE

__all__ = [
    "plot_score_drift",
    "plot_feature_drift",
    "plot_migration",
    "plot_factor_drift",
    "plot_realised_over_time",
]

_BUCKET_COLOURS = {"low": "#969696", "medium": "#6baed6", "high": "#08519c"}


def _axes(ax, figsize=(7, 4)):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_score_drift(earlier: pd.DataFrame, later: pd.DataFrame, psi: float | None = None, ax=None):
    """The two runs' probability distributions (share of profiles per bin), earlier as an
    outline, later filled; the PSI in the title when given."""
    ax = _axes(ax)
    top = max(float(earlier["probability"].max()), float(later["probability"].max()), 1e-9)
    bins = np.linspace(0, top, 41)
    for frame, label, style in (
        (later, "later run", {"color": "#08519c", "alpha": 0.45, "histtype": "stepfilled"}),
        (earlier, "earlier run", {"histtype": "step", "color": "#333333", "linewidth": 1.5}),
    ):
        weights = np.full(len(frame), 1 / max(len(frame), 1))
        ax.hist(frame["probability"], bins=bins, weights=weights, label=label, **style)
    ax.yaxis.set_major_formatter(lambda v, _pos: f"{v:.0%}")
    ax.set_xlabel("probability")
    ax.set_ylabel("share of scored profiles")
    title = "Score distribution, earlier and later run"
    ax.set_title(title if psi is None else f"{title} (PSI {psi:.2f})")
    ax.legend(frameon=False)
    return ax


def plot_feature_drift(feature_drift: pd.DataFrame, top: int = 12, ax=None):
    """PSI of the `top` features that moved most, with the moderate and major thresholds."""
    data = feature_drift.head(top).iloc[::-1]
    ax = _axes(ax, figsize=(7, max(2.5, 0.35 * len(data) + 1.2)))
    colours = [
        "#c0392b" if v >= PSI_MAJOR else ("#e67e22" if v >= PSI_MODERATE else "#6baed6")
        for v in data["psi"]
    ]
    ax.barh(data["label"].astype(str), data["psi"], color=colours)
    ax.axvline(PSI_MODERATE, color="#e67e22", linestyle=":", label=f"moderate ({PSI_MODERATE})")
    ax.axvline(PSI_MAJOR, color="#c0392b", linestyle=":", label=f"major ({PSI_MAJOR})")
    ax.legend(frameon=False, loc="lower right", fontsize="small")
    ax.set_xlabel("population stability index (PSI)")
    ax.set_title("Features that moved most between the runs")
    if data.empty:
        ax.text(0.5, 0.5, "no features to compare", ha="center", transform=ax.transAxes)
    return ax


def plot_migration(matrix: pd.DataFrame, ax=None):
    """The bucket migration matrix as a heat map: profiles per (earlier bucket, later bucket)."""
    ax = _axes(ax, figsize=(6.5, 4))
    values = matrix.to_numpy(dtype=float)
    ax.imshow(values, cmap="Blues", aspect="auto")
    top = values.max() if values.size else 0
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            v = int(values[i, j])
            ax.text(
                j, i, f"{v:,}", ha="center", va="center", fontsize=9,
                color="white" if top and v > 0.6 * top else "black",
            )  # fmt: skip
    ax.set_xticks(range(values.shape[1]), [str(c) for c in matrix.columns])
    ax.set_yticks(range(values.shape[0]), [str(r) for r in matrix.index])
    ax.set_xlabel("bucket in the later run")
    ax.set_ylabel("bucket in the earlier run")
    ax.set_title("Bucket migration (profiles)")
    return ax


def plot_factor_drift(factor_drift: pd.DataFrame, top: int = 10, ax=None):
    """Each family's share of the factor weight in the earlier and later run."""
    data = factor_drift.head(top).iloc[::-1]
    ax = _axes(ax, figsize=(7, max(2.5, 0.45 * len(data) + 1.2)))
    if data.empty:
        ax.text(0.5, 0.5, "factors not measured", ha="center", va="center", transform=ax.transAxes)
        return ax
    y = np.arange(len(data))
    h = 0.4
    ax.barh(y + h / 2, data["earlier_share"], h, color="#bdbdbd", label="earlier run")
    ax.barh(y - h / 2, data["later_share"], h, color="#08519c", label="later run")
    ax.set_yticks(y, data["family"].astype(str))
    ax.xaxis.set_major_formatter(lambda v, _pos: f"{v:.0%}")
    ax.set_xlabel("share of the factor weight")
    ax.set_title("Which factor families gained or lost weight")
    ax.legend(frameon=False, loc="lower right")
    return ax


def plot_realised_over_time(history: pd.DataFrame, ax=None):
    """Expected (dashed) against realised (solid) conversion rate per bucket across runs.

    `history` has ``as_of``, ``bucket``, ``mean_predicted`` and ``actual_rate`` (one row per
    run and bucket whose outcome is known)."""
    ax = _axes(ax, figsize=(8, 4))
    if history is None or history.empty:
        ax.text(0.5, 0.5, "no run's outcome is known yet", ha="center", transform=ax.transAxes)
        return ax
    # One position per scoring date (runs come at irregular dates; a date axis with one or
    # two dates reads worse than labels).
    dates = sorted(pd.to_datetime(history["as_of"]).dt.strftime("%Y-%m-%d").unique())
    data = history.assign(
        x=pd.to_datetime(history["as_of"]).dt.strftime("%Y-%m-%d").map(dates.index)
    )
    for bucket in ("high", "medium", "low"):
        part = data[data["bucket"] == bucket].sort_values("x")
        if part.empty:
            continue
        colour = _BUCKET_COLOURS[bucket]
        ax.plot(
            part["x"], part["actual_rate"], marker="o", color=colour, label=f"{bucket}: realised"
        )
        ax.plot(
            part["x"], part["mean_predicted"], marker="x", linestyle="--", color=colour,
            label=f"{bucket}: expected",
        )  # fmt: skip
    ax.set_xticks(range(len(dates)), dates)
    ax.set_xlim(-0.5, len(dates) - 0.5)
    ax.set_ylim(0, None)
    ax.yaxis.set_major_formatter(lambda v, _pos: f"{v:.0%}")
    ax.set_xlabel("scoring date of the run")
    ax.set_ylabel("conversion rate")
    ax.set_title("Expected against realised conversion rate per bucket, run by run")
    ax.legend(frameon=False, fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
    return ax
