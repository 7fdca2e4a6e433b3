"""Charts (data): the event mix over time and the base rate per cutoff."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["plot_base_rate", "plot_event_mix"]


def _axes(ax: Axes | None, size: tuple[float, float] = (9, 4)) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=size)
    return ax


def plot_event_mix(event_mix: pd.DataFrame, ax: Axes | None = None, top: int = 8) -> Axes:
    """Events per month by event type, stacked; the `top` most frequent types, the rest as "other".

    `event_mix` has columns `month`, `event_type`, `events` (from `pipeline.prepare_data`).
    A sudden step in one type usually means a tracking change, not customer behaviour.
    """
    ax = _axes(ax)
    if event_mix is None or len(event_mix) == 0:
        ax.text(0.5, 0.5, "no events", ha="center", va="center", transform=ax.transAxes)
        return ax
    df = event_mix.copy()
    df["month"] = pd.to_datetime(df["month"], utc=True).dt.tz_localize(None)
    df["event_type"] = df["event_type"].astype(str)
    totals = df.groupby("event_type")["events"].sum().sort_values(ascending=False)
    keep = set(totals.index[:top])
    df.loc[~df["event_type"].isin(keep), "event_type"] = "other"
    wide = df.pivot_table(
        index="month", columns="event_type", values="events", aggfunc="sum", fill_value=0
    ).sort_index()
    order = [t for t in totals.index if t in wide.columns] + (
        ["other"] if "other" in wide.columns else []
    )
    wide = wide[order]
    if len(wide) == 1:  # a single month: a stacked bar reads better than a flat area
        bottom = 0.0
        for col in wide.columns:
            ax.bar([0], wide[col].to_numpy(), bottom=bottom, label=col)
            bottom += float(wide[col].iloc[0])
        ax.set_xticks([0], [wide.index[0].strftime("%Y-%m")])
    else:
        import matplotlib.dates as mdates

        ax.stackplot(wide.index, *(wide[c].to_numpy() for c in wide.columns), labels=wide.columns)
        locator = mdates.AutoDateLocator(maxticks=10)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_xlabel("month")
    ax.set_ylabel("events")
    ax.set_title("Events per month by event type")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small", frameon=False)
    ax.margins(x=0)
    return ax


def plot_base_rate(cutoffs: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Eligible profiles (bars, by role) and the base rate (line) at each cutoff.

    `cutoffs` has columns `cutoff`, `role`, `eligible`, `positives`, `negatives`, `base_rate`
    (from `pipeline.define_goal` or `tuning.evaluate_goal`; `role` may be missing).
    A base rate that drifts strongly between cutoffs means the goal is seasonal or changing.
    """
    ax = _axes(ax)
    if cutoffs is None or len(cutoffs) == 0:
        ax.text(0.5, 0.5, "no cutoffs", ha="center", va="center", transform=ax.transAxes)
        return ax
    df = cutoffs.sort_values("cutoff").reset_index(drop=True)
    labels = [pd.Timestamp(c).strftime("%Y-%m-%d") for c in df["cutoff"]]
    x = list(range(len(df)))
    roles = df["role"].astype(str) if "role" in df else pd.Series(["cutoff"] * len(df))
    colors = {"training": "#4c72b0", "validation": "#dd8452", "scoring": "#8c8c8c"}
    for role in dict.fromkeys(roles):
        idx = [i for i in x if roles.iloc[i] == role]
        ax.bar(
            idx,
            df.loc[idx, "eligible"].to_numpy(),
            color=colors.get(role, "#55a868"),
            alpha=0.8,
            label=f"eligible ({role})",
        )
    ax.set_xticks(x, labels, rotation=30, ha="right")
    ax.set_ylim(0, max(float(df["eligible"].max()), 1.0) * 1.1)
    ax.set_ylabel("eligible profiles")
    ax.set_xlabel("cutoff")
    rate = ax.twinx()
    rate.plot(
        x, df["base_rate"].to_numpy(dtype=float), color="black", marker="o", label="base rate"
    )
    rate.set_ylabel("base rate")
    top = float(df["base_rate"].max()) if df["base_rate"].notna().any() else 0.0
    rate.set_ylim(0, max(top * 1.35, 0.01))
    rate.yaxis.set_major_formatter(lambda v, _pos: f"{v:.0%}" if top >= 0.05 else f"{v:.1%}")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = rate.get_legend_handles_labels()
    # Beside the chart, never over the bars (the right axis label sits between).
    ax.legend(
        h1 + h2, l1 + l2, loc="upper left", bbox_to_anchor=(1.1, 1), fontsize="small", frameon=False
    )
    ax.set_title("Eligible profiles and base rate per cutoff")
    return ax
