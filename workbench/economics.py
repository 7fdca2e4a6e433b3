"""Scores turned into a decision: how many profiles to contact, given what a contact costs and
what a conversion is worth (the config's optional `economics:` section).

Profit curve
------------
On each validation origin (out of time: the model never saw those outcomes) profiles are taken
highest score first. For a target size ``s`` (a share of the eligible profiles, in steps of
0.1%) the top ``floor(s * n)`` of the ``n`` profiles are contacted, and per eligible profile

- ``contacts(s) = floor(s * n) / n``,
- ``conversions(s)`` = positives among them / ``n``,
- ``profit(s) = value_per_conversion * conversions(s) - cost_per_contact * contacts(s)``.

With several origins each figure is the mean over origins at that target size (``profit_low``
and ``profit_high`` give the range). The **profit-optimal cut-off** is the smallest target size
with the highest mean profit. The **cut-off under the budget** is the profit-optimal one when
it is affordable; otherwise as many of today's top-scored profiles as the budget pays for
(``floor(budget / cost_per_contact)``): going deeper than the budget allows would still add
profit, so the budget is spent, highest scores first.

A cut-off is applied to today's ``N`` scored profiles as the top ``floor(s * N)`` by
probability. Its figures come two ways: **validated** (``N`` times the curve at ``s``: what the
same depth delivered on the validation origins) and **expected** (the sum of today's
probabilities of the profiles contacted). A large gap between the two means today's population
or calibration differs from the validation one.

Without `economics` the same curve is read in conversions: conversions per contact and the share
of all conversions captured at each target size.

The arithmetic assumes a contacted profile that reaches the goal is worth
``value_per_conversion`` and that contacting does not change who converts (a propensity is not
an uplift). For a churn goal a "conversion" is a profile that churns: the value is what reaching
one in time is worth.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from workbench.config import EconomicsConfig

__all__ = [
    "STEPS",
    "profit_curve",
    "target_decision",
    "group_economics",
    "top_profiles",
    "money",
]

STEPS = 1000  # target sizes 0, 0.1%, ..., 100%


def _fold_gains(probability: np.ndarray, label: np.ndarray, steps: int) -> tuple:
    """(contacts, positives) at each target size j/steps, highest probability first."""
    n = len(probability)
    order = np.argsort(-probability, kind="mergesort")
    captured = np.concatenate([[0], np.cumsum(label[order])])
    k = (np.arange(steps + 1) * n) // steps  # floor(s * n) in integers
    return k, captured[k]


def profit_curve(
    frames: Sequence[pd.DataFrame],
    economics: EconomicsConfig | None = None,
    steps: int = STEPS,
) -> pd.DataFrame:
    """The curve over target size from one or more validation frames (``probability``,
    ``label``): ``target_share, contacts_per_profile, conversions_per_profile,
    conversions_per_contact, captured_share`` and, with `economics`, ``profit_per_profile,
    profit_low, profit_high`` (module docstring). One row per target size 0..1."""
    frames = [f for f in frames if len(f)]
    if not frames:
        raise ValueError("profit_curve: no validation rows")
    contacts, conversions, per_contact, captured, profit = [], [], [], [], []
    for frame in frames:
        p = frame["probability"].to_numpy(dtype=np.float64)
        y = frame["label"].to_numpy(dtype=np.int64)
        n, positives = len(p), int(y.sum())
        k, hits = _fold_gains(p, y, steps)
        contacts.append(k / n)
        conversions.append(hits / n)
        with np.errstate(invalid="ignore", divide="ignore"):
            per_contact.append(np.where(k > 0, hits / np.maximum(k, 1), np.nan))
        captured.append(hits / positives if positives else np.full(len(k), np.nan))
        if economics is not None:
            profit.append(
                economics.value_per_conversion * hits / n - economics.cost_per_contact * k / n
            )
    curve = pd.DataFrame(
        {
            "target_share": np.arange(steps + 1) / steps,
            "contacts_per_profile": np.mean(contacts, axis=0),
            "conversions_per_profile": np.mean(conversions, axis=0),
            "conversions_per_contact": _nanmean(per_contact),
            "captured_share": _nanmean(captured),
        }
    )
    if economics is not None:
        curve["profit_per_profile"] = np.mean(profit, axis=0)
        curve["profit_low"] = np.min(profit, axis=0)
        curve["profit_high"] = np.max(profit, axis=0)
    curve.attrs["folds"] = len(frames)
    return curve


def _nanmean(rows: list[np.ndarray]) -> np.ndarray:
    stacked = np.vstack(rows)
    counts = np.sum(~np.isnan(stacked), axis=0)
    sums = np.nansum(stacked, axis=0)
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def top_profiles(probability: Sequence[float] | np.ndarray, contacts: int) -> np.ndarray:
    """A boolean mask of the `contacts` highest probabilities (ties in input order)."""
    p = np.asarray(probability, dtype=np.float64)
    mask = np.zeros(len(p), dtype=bool)
    mask[np.argsort(-p, kind="mergesort")[: max(0, int(contacts))]] = True
    return mask


def _cutoff(
    curve: pd.DataFrame, row: int, top: np.ndarray, economics: EconomicsConfig
) -> dict[str, Any]:
    """A cut-off's figures in today's population (`top`: today's probabilities, descending)."""
    n_today = len(top)
    steps = len(curve) - 1
    contacts = (row * n_today) // steps
    expected = float(top[:contacts].sum())
    cost = contacts * economics.cost_per_contact
    at = curve.iloc[row]
    return {
        "target_share": float(at["target_share"]),
        "contacts": int(contacts),
        "lowest_probability_contacted": float(top[contacts - 1]) if contacts else None,
        "cost": float(cost),
        "expected_conversions": expected,
        "expected_profit": float(economics.value_per_conversion * expected - cost),
        "validated_conversions": float(n_today * at["conversions_per_profile"]),
        "validated_profit": float(n_today * at["profit_per_profile"]),
        "validated_conversions_per_contact": _float(at["conversions_per_contact"]),
    }


def _float(value) -> float | None:
    return None if pd.isna(value) else float(value)


def target_decision(
    curve: pd.DataFrame, probability: Sequence[float] | np.ndarray, economics: EconomicsConfig
) -> dict[str, Any]:
    """The profit-optimal cut-off and, with a budget, the cut-off under the budget, applied to
    today's scored probabilities (module docstring). ``audience`` is the one a
    ``top_by_profit`` segment takes: the budget cut-off when there is a budget, else the
    profit-optimal one. ``break_even_probability`` is cost / value: a profile below it costs
    more to contact than it is expected to bring."""
    if "profit_per_profile" not in curve.columns:
        raise ValueError("target_decision: the curve was built without economics")
    top = np.sort(np.asarray(probability, dtype=np.float64))[::-1]
    steps = len(curve) - 1
    profit = curve["profit_per_profile"].to_numpy(dtype=np.float64)
    best = int(np.argmax(profit))  # the first (smallest) target size with the highest profit
    decision: dict[str, Any] = {
        "profiles_scored": int(len(top)),
        "folds": int(curve.attrs.get("folds", 1)),
        "cost_per_contact": economics.cost_per_contact,
        "value_per_conversion": economics.value_per_conversion,
        "budget": economics.budget,
        "currency": economics.currency,
        "break_even_probability": economics.cost_per_contact / economics.value_per_conversion,
        "optimal": _cutoff(curve, best, top, economics),
        "within_budget": None,
    }
    if economics.budget is not None:
        contacts_today = (np.arange(steps + 1) * len(top)) // steps
        affordable = contacts_today * economics.cost_per_contact <= economics.budget + 1e-9
        row = best
        if not affordable[best]:  # the smallest target size that reaches the most affordable
            row = int(np.argmax(contacts_today == contacts_today[affordable].max()))
        decision["within_budget"] = _cutoff(curve, row, top, economics)
        decision["budget_binds"] = bool(not affordable[best])
    decision["audience"] = dict(decision["within_budget"] or decision["optimal"])
    decision["pays"] = bool(profit[best] > 0)
    return decision


def group_economics(groups: pd.DataFrame, economics: EconomicsConfig | None) -> pd.DataFrame:
    """Per group (``group, kind, profiles, expected_conversions``: buckets and segments) the
    cost of contacting all of it, the value of its expected conversions and the profit."""
    out = groups.copy()
    if economics is None:
        return out
    out["cost"] = out["profiles"] * economics.cost_per_contact
    out["value"] = out["expected_conversions"] * economics.value_per_conversion
    out["profit"] = out["value"] - out["cost"]
    return out


def money(value: Any, currency: str = "") -> str:
    """An amount as a reader sees it: `$1,234`, `1,234 EUR`, `-$56` (`–` when missing)."""
    if value is None or pd.isna(value):
        return "–"
    text = f"{abs(float(value)):,.0f}"
    sign = "-" if float(value) < 0 else ""
    if currency and len(currency) == 1:
        return f"{sign}{currency}{text}"
    return f"{sign}{text} {currency}".strip()
