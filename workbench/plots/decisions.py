"""Charts (decisions): the profit curve over target size and the AUC per cohort.

Every function takes ``ax=None`` (a new figure when None), draws, and returns the Axes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from workbench.economics import money

__all__ = ["plot_profit_curve", "plot_cohort_auc"]


def _axes(ax, figsize=(7, 4)):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_profit_curve(curve: pd.DataFrame, decision: dict[str, Any] | None = None, ax=None):
    """Profit over target size (share of eligible profiles contacted, highest scores first), for
    today's scored population when the `decision` (economics.json) is given, else per 1,000
    eligible profiles, with the profit-optimal and the budget cut-off marked. A curve without
    profit (no `economics`) shows conversions per contact and the share of all conversions
    captured instead."""
    ax = _axes(ax)
    population = (decision or {}).get("profiles_scored")
    x = curve["target_share"].to_numpy(dtype=float)
    if "profit_per_profile" not in curve.columns:
        steady = x >= 0.01  # below 1% the rate rests on a handful of contacts: noise
        ax.plot(
            x[steady],
            curve["conversions_per_contact"].to_numpy()[steady],
            color="#08519c",
            label="conversions per contact",
        )
        ax.plot(
            x, curve["captured_share"], color="#e6550d", label="share of all conversions captured"
        )
        ax.set_ylim(0, 1.02)
        ax.yaxis.set_major_formatter(lambda v, _pos: f"{v:.0%}")
        ax.set_title("Conversions by target size (validation cutoff)")
        ax.legend(frameon=False, loc="center right")
    else:
        scale = population if population else 1000
        currency = (decision or {}).get("currency", "")
        ax.plot(x, curve["profit_per_profile"] * scale, color="#08519c", label="profit")
        if (curve["profit_high"] != curve["profit_low"]).any():
            ax.fill_between(
                x, curve["profit_low"] * scale, curve["profit_high"] * scale, color="#08519c",
                alpha=0.15, label="range over validation origins",
            )  # fmt: skip
        ax.axhline(0, color="grey", linewidth=0.8)
        for key, colour, name in (
            ("optimal", "#2ca02c", "profit-optimal"),
            ("within_budget", "#d62728", "within budget"),
        ):
            cut = (decision or {}).get(key)
            if key == "within_budget" and not (decision or {}).get("budget_binds"):
                cut = None  # the budget does not bind: the same line as the optimum
            if cut:
                ax.axvline(cut["target_share"], color=colour, linestyle="--", linewidth=1)
                ax.annotate(
                    f" {name}: top {cut['target_share']:.1%}\n {money(cut['validated_profit'], currency)}",
                    (cut["target_share"], 0.02), xycoords=("data", "axes fraction"),
                    fontsize=8, color=colour,
                )  # fmt: skip
        unit = "today's scored profiles" if population else "per 1,000 eligible profiles"
        ax.set_ylabel(f"profit ({unit})")
        ax.yaxis.set_major_formatter(lambda v, _pos: money(v, currency))
        ax.set_title("Profit by target size (validation cutoff)")
        ax.legend(frameon=False, loc="lower right")
    ax.xaxis.set_major_formatter(lambda v, _pos: f"{v:.0%}")
    ax.set_xlabel("target size: share of profiles contacted, highest scores first")
    ax.set_xlim(0, 1)
    return ax


def plot_cohort_auc(cohorts: pd.DataFrame, ax=None):
    """Validation ROC AUC per cohort with its 95% interval; flagged cohorts in red, the whole
    population's AUC as a line."""
    data = cohorts[cohorts["cohort"] != "all profiles"].reset_index(drop=True)
    data = data[np.isfinite(data["roc_auc"].astype(float))].iloc[::-1]
    ax = _axes(ax, figsize=(7, max(2.5, 0.32 * len(data) + 1.2)))
    overall = cohorts.loc[cohorts["cohort"] == "all profiles", "roc_auc"]
    labels = [f"{c}: {lvl}" for c, lvl in zip(data["cohort"], data["level"], strict=True)]
    flagged = data["flag"].astype("string").fillna("").str.len().to_numpy() > 0
    colours = np.where(flagged, "#c0392b", "#08519c")
    y = np.arange(len(data))
    auc = data["roc_auc"].to_numpy(dtype=float)
    err = [
        auc - data["roc_auc_low"].to_numpy(dtype=float),
        data["roc_auc_high"].to_numpy(dtype=float) - auc,
    ]
    ax.errorbar(auc, y, xerr=err, fmt="none", ecolor="#999999", capsize=3)
    ax.scatter(auc, y, color=colours, zorder=3)
    if len(overall) and np.isfinite(float(overall.iloc[0])):
        ax.axvline(float(overall.iloc[0]), color="grey", linestyle=":", label="all profiles")
        ax.legend(frameon=False, loc="lower left")
    ax.set_yticks(y, labels)
    ax.set_xlabel("ROC AUC on the validation cutoff (95% interval)")
    ax.set_title("How well the model ranks each cohort")
    if data.empty:
        ax.text(0.5, 0.5, "no cohort large enough for an AUC", ha="center", transform=ax.transAxes)
    return ax
