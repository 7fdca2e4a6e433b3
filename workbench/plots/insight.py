"""Charts (the landing page): where the expected conversions are, how factors push each bucket,
and expected against actual conversions at past validation dates.

Every function takes `ax=None`, draws on it (or a new figure) and returns the Axes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["plot_bucket_shares", "plot_factor_push", "plot_history"]

BUCKET_COLOURS = {"low": "#bdbdbd", "medium": "#6baed6", "high": "#08519c"}


def _axes(ax, figsize):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_bucket_shares(buckets: pd.DataFrame, converts: str = "conversions", ax=None):
    """Per bucket (high on top): its share of the profiles beside its share of the expected
    `converts`, annotated with the counts. `buckets` as from `reporting.insight.bucket_table`
    (bucket, profiles, share, expected, expected_share)."""
    ax = _axes(ax, (8, 2.8))
    data = buckets.iloc[::-1].reset_index(drop=True)
    y = np.arange(len(data))
    h = 0.38
    ax.barh(y + h / 2, data["share"], h, color="#c6dbef", label="share of profiles")
    ax.barh(
        y - h / 2,
        data["expected_share"],
        h,
        color=[BUCKET_COLOURS.get(b, "#08519c") for b in data["bucket"]],
        label=f"share of expected {converts}",
    )
    for i, row in data.iterrows():
        ax.annotate(
            f" {row['share']:.0%} · {int(row['profiles']):,} profiles",
            (row["share"], i + h / 2),
            va="center",
            fontsize=8,
        )
        ax.annotate(
            f" {row['expected_share']:.0%} · {row['expected']:,.0f} expected {converts}",
            (row["expected_share"], i - h / 2),
            va="center",
            fontsize=8,
        )
    ax.set_yticks(y, [f"{b} bucket" for b in data["bucket"]])
    ax.set_xlim(0, 1.45)
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0], ["0%", "25%", "50%", "75%", "100%"])
    from matplotlib.patches import Patch

    ax.legend(
        handles=[
            Patch(facecolor="#c6dbef", label="share of profiles"),
            Patch(facecolor=BUCKET_COLOURS["high"], label=f"share of expected {converts}"),
        ],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.16),
        ncol=2,
        frameon=False,
    )
    ax.set_title(f"Where the expected {converts} are")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return ax


def plot_factor_push(factors: pd.DataFrame, ax=None):
    """Average push of each top factor on the scores of each bucket (log-odds; right raises,
    left lowers). `factors` as from `reporting.insight.factor_table` (factor, <bucket>_push)."""
    buckets = [b for b in ("high", "medium", "low") if f"{b}_push" in factors]
    ax = _axes(ax, (8, max(2.6, 0.62 * len(factors) + 1.2)))
    data = factors.iloc[::-1].reset_index(drop=True)
    y = np.arange(len(data))
    h = 0.8 / max(len(buckets), 1)
    for k, bucket in enumerate(buckets):
        ax.barh(
            y + (len(buckets) / 2 - k - 0.5) * h,
            data[f"{bucket}_push"].fillna(0).to_numpy(dtype=float),
            h,
            color=BUCKET_COLOURS[bucket],
            label=f"{bucket} bucket",
        )
    ax.axvline(0, color="#444", linewidth=0.8)
    ax.set_yticks(y, [_short(t) for t in data["factor"].astype(str)])
    ax.set_xlabel("average push on the score (log-odds): right raises it, left lowers it")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3, frameon=False)
    ax.set_title("How the top factors push each bucket")
    return ax


def _short(text: str, width: int = 40) -> str:
    if len(text) <= width:
        return text
    return text[:width].rsplit(" ", 1)[0] + " …"


def plot_history(history: pd.DataFrame, converts: str = "conversions", ax=None):
    """Expected against actual `converts` per bucket at each past validation date (oldest
    left). `history` as from `reporting.insight.history`."""
    origins = sorted(history["origin"].unique())
    ax = _axes(ax, (min(4 + 2.2 * len(origins), 11), 3.2))
    labels, positions = [], []
    x = 0.0
    for origin in origins:
        sub = history[history["origin"] == origin]
        for _, row in sub.iterrows():
            colour = BUCKET_COLOURS.get(str(row["bucket"]), "#08519c")
            ax.bar(x - 0.2, row["expected"], 0.4, color="white", edgecolor=colour, hatch="//")
            ax.bar(x + 0.2, row["actual"], 0.4, color=colour)
            labels.append(f"{row['bucket']}\n{origin}" if len(origins) > 1 else str(row["bucket"]))
            positions.append(x)
            x += 1
        x += 0.6
    ax.set_xticks(positions, labels, fontsize=8)
    ax.set_ylabel(converts)
    from matplotlib.patches import Patch

    ax.legend(
        handles=[
            Patch(facecolor="white", edgecolor="#555", hatch="//", label="expected"),
            Patch(facecolor="#555", label="actual"),
        ],
        loc="upper left",
        frameon=False,
    )
    ax.set_ylim(0, float(history[["expected", "actual"]].max().max()) * 1.25 or 1)
    when = origins[0] if len(origins) == 1 else f"{origins[0]} to {origins[-1]}"
    ax.set_title(f"Expected vs actual {converts} per bucket ({when})")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return ax
