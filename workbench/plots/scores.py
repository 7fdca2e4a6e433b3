"""Charts (scores): factors, expected vs actual, score distribution, bucket sizes.

Every function takes ``ax=None`` (a new figure when None), draws, and returns the Axes; pyplot
is imported lazily and ``show()`` is never called.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "plot_global_factors",
    "plot_bucket_factors",
    "plot_expected_vs_actual",
    "plot_score_histogram",
    "plot_bucket_sizes",
]

_BUCKET_COLOURS = {"low": "#c0c0c0", "medium": "#6baed6", "high": "#08519c"}
_BUCKET_ORDER = ["low", "medium", "high"]


def _axes(ax, figsize=(7, 4)):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_global_factors(global_factors: pd.DataFrame, top: int = 15, ax=None):
    """Horizontal bars: mean |contribution| (log-odds) of the `top` features, largest on top."""
    data = global_factors.head(top).iloc[::-1]
    ax = _axes(ax, figsize=(7, max(2.5, 0.35 * len(data) + 1)))
    labels = data["label"] if "label" in data else data["feature"]
    ax.barh(labels.astype(str), data["mean_abs_contribution"], color="#08519c")
    if "share" in data:
        for y, (v, s) in enumerate(zip(data["mean_abs_contribution"], data["share"], strict=True)):
            ax.annotate(f" {s:.0%}", (v, y), va="center", fontsize=8)
    ax.set_xlabel("mean |contribution| (log-odds)")
    ax.set_title("Influential factors overall")
    return ax


def plot_bucket_factors(bucket_factors: pd.DataFrame, bucket: str, ax=None):
    """Top factors of one bucket: bars = mean |contribution|, annotated with coverage."""
    data = bucket_factors[bucket_factors["bucket"] == bucket].iloc[::-1]
    ax = _axes(ax, figsize=(7, max(2.5, 0.35 * len(data) + 1)))
    ax.barh(
        data["label"].astype(str),
        data["mean_abs_contribution"],
        color=_BUCKET_COLOURS.get(bucket, "#08519c"),
    )
    for y, (v, cov) in enumerate(zip(data["mean_abs_contribution"], data["coverage"], strict=True)):
        ax.annotate(f" {cov:.0%} of profiles", (v, y), va="center", fontsize=8)
    ax.set_xlabel("mean |contribution| (log-odds)")
    ax.set_title(f"Influential factors: {bucket} bucket")
    if data.empty:
        ax.text(0.5, 0.5, f"no profiles in bucket {bucket!r}", ha="center", transform=ax.transAxes)
    return ax


def plot_expected_vs_actual(table: pd.DataFrame, ax=None):
    """Mean predicted vs actual rate per bucket or decile (a table from `expected_vs_actual`)."""
    key = "bucket" if "bucket" in table.columns else "decile"
    ax = _axes(ax)
    if table.empty:
        ax.text(0.5, 0.5, "not known yet", ha="center", va="center", transform=ax.transAxes)
        return ax
    x = np.arange(len(table))
    w = 0.4
    ax.bar(
        x - w / 2, table["mean_predicted"], w, label="expected (mean predicted)", color="#9ecae1"
    )
    ax.bar(x + w / 2, table["actual_rate"], w, label="actual rate", color="#08519c")
    ax.set_xticks(x, [str(v) for v in table[key]])
    ax.set_xlabel(key)
    ax.set_ylabel("rate")
    ax.set_title(f"Expected vs actual by {key}")
    ax.legend(frameon=False)
    return ax


def plot_score_histogram(scores: pd.DataFrame, ax=None, bins: int = 50):
    """Distribution of probabilities, stacked by bucket when the scores have one."""
    ax = _axes(ax)
    if "bucket" in scores.columns:
        present = [b for b in _BUCKET_ORDER if (scores["bucket"] == b).any()]
        ax.hist(
            [scores.loc[scores["bucket"] == b, "probability"] for b in present],
            bins=np.linspace(0, max(1e-9, float(scores["probability"].max())), bins + 1),
            stacked=True,
            label=present,
            color=[_BUCKET_COLOURS[b] for b in present],
        )
        ax.legend(title="bucket", frameon=False)
    else:
        ax.hist(scores["probability"], bins=bins, color="#08519c")
    ax.set_xlabel("probability")
    ax.set_ylabel("profiles")
    ax.set_title("Score distribution")
    return ax


def plot_bucket_sizes(scores: pd.DataFrame, ax=None):
    """Profiles per bucket (low, medium, high), annotated with counts and shares."""
    ax = _axes(ax, figsize=(5, 3.5))
    counts = scores["bucket"].value_counts().reindex(_BUCKET_ORDER, fill_value=0)
    ax.bar(counts.index, counts.to_numpy(), color=[_BUCKET_COLOURS[b] for b in counts.index])
    total = max(1, int(counts.sum()))
    for i, v in enumerate(counts.to_numpy()):
        ax.annotate(f"{v:,} ({v / total:.0%})", (i, v), ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("profiles")
    ax.set_title("Profiles per bucket")
    return ax
