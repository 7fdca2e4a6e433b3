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


def _direction_bars(ax, data: pd.DataFrame, colour_up: str, colour_down: str) -> None:
    """Diverging bars: the mean raise (right) and the mean lowering (left) of each factor, in
    log-odds, annotated with the shares of profiles it notably raises / lowers. Both halves add
    up to the mean |contribution|; without direction columns the whole bar is drawn right."""
    labels = (data["label"] if "label" in data else data["feature"]).astype(str).to_numpy()
    size = data["mean_abs_contribution"].to_numpy(dtype=float)
    mean = (
        data["mean_contribution"].to_numpy(dtype=float)
        if "mean_contribution" in data
        else size.copy()
    )
    up, down = (size + mean) / 2, (size - mean) / 2
    y = np.arange(len(data))
    ax.barh(y, up, color=colour_up, label="raises the score")
    ax.barh(y, -down, color=colour_down, label="lowers the score")
    ax.axvline(0, color="#444", linewidth=0.8)
    ax.set_yticks(y, [_short(t) for t in labels])
    if "raises_share" in data:
        reach = max(float(np.max(up, initial=0)), float(np.max(down, initial=0)), 1e-9)
        for i, (r, lo) in enumerate(zip(data["raises_share"], data["lowers_share"], strict=True)):
            ax.annotate(f" {r:.0%}", (up[i], i), va="center", fontsize=8, color="#1b5e20")
            ax.annotate(
                f"{lo:.0%} ", (-down[i], i), va="center", ha="right", fontsize=8, color="#8e1b1b"
            )
        ax.set_xlim(-reach * 1.35, reach * 1.35)
    ax.set_xlabel("average push on the score (log-odds); % = profiles it notably moves")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2, frameon=False)


def _short(text: str, width: int = 42) -> str:
    """A long factor label cut at a word boundary (never mid-word) with an ellipsis."""
    if len(text) <= width:
        return text
    cut = text[:width].rsplit(" ", 1)[0]
    return cut + " …"


def plot_global_factors(global_factors: pd.DataFrame, top: int = 15, ax=None):
    """The `top` factors overall: how much each raises (right) and lowers (left) the scores on
    average, with the share of profiles it notably raises / lowers beside each bar."""
    data = global_factors.head(top).iloc[::-1]
    ax = _axes(ax, figsize=(8, max(2.5, 0.38 * len(data) + 1.4)))
    _direction_bars(ax, data, "#2e7d32", "#c62828")
    ax.set_title("Influential factors overall")
    return ax


def plot_bucket_factors(bucket_factors: pd.DataFrame, bucket: str, ax=None):
    """Top factors of one bucket, drawn as in `plot_global_factors` for that bucket's profiles."""
    data = bucket_factors[bucket_factors["bucket"] == bucket].iloc[::-1]
    ax = _axes(ax, figsize=(8, max(2.5, 0.38 * len(data) + 1.4)))
    if data.empty:
        ax.text(0.5, 0.5, f"no profiles in bucket {bucket!r}", ha="center", transform=ax.transAxes)
        ax.set_axis_off()
        return ax
    _direction_bars(ax, data, "#2e7d32", "#c62828")
    ax.set_title(f"Influential factors: {bucket} bucket")
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
    ax.set_xlabel("decile (1 = highest scores)" if key == "decile" else key)
    ax.set_ylabel("rate")
    ax.yaxis.set_major_formatter(lambda v, _pos: f"{v:.0%}")
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
            histtype="stepfilled",  # one shape per bucket, not a bar per bin: half the drawing
        )
        # beside the plot: the bars fill the right of it for a goal most profiles reach
        ax.legend(title="bucket", frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1))
    else:
        ax.hist(scores["probability"], bins=bins, color="#08519c", histtype="stepfilled")
    ax.xaxis.set_major_formatter(lambda v, _pos: f"{v:.0%}")
    ax.set_xlabel("probability of reaching the goal")
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
