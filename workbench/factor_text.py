"""A feature's value as an analyst reads it: `3 purchases`, `$12.50`, `2.75 days`, `none`.

Used by every factor text (per feature and per family), formatting each distinct value once.
"""

from __future__ import annotations

import functools
import json
import math

import numpy as np
import pandas as pd

from workbench.features import FeatureSpec, singular

_CURRENCY_SYMBOLS = {"$", "€", "£", "¥"}
_MONEY_UNITS = {"usd", "eur", "gbp", "jpy", "chf", "cad", "aud", "currency", "money"}
_MONEY_WORDS = ("amount", "revenue", "spend", "price", "monetary", "sales", "order_value", "dollar")


@functools.lru_cache(maxsize=4096)  # once per feature, not once per value
def _is_money(spec: FeatureSpec) -> bool:
    unit = (spec.unit or "").strip()
    if unit in _CURRENCY_SYMBOLS or unit.lower() in _MONEY_UNITS:
        return True
    return any(w in spec.code.lower() for w in _MONEY_WORDS)


def format_value(value: object, spec: FeatureSpec) -> str:
    """One value as an analyst reads it: `3`, `12.50 USD`, `$12.50`, `2.75 days`, `3 hours`,
    `none`, `email`.

    Missing -> ``none``; categoricals as text; money (a currency unit, or a code naming an
    amount/revenue/spend) with 2 decimals and thousands separators; whole numbers without
    decimals; other numbers with up to 2 decimals. The unit follows the number (a currency
    symbol precedes it); ``1 days`` is written ``1 day``.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "none"
    if spec.kind == "categorical" or isinstance(value, str):
        return str(value)
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(x):
        return "none"
    unit = (spec.unit or "").strip()
    if unit == "days" and 0 < abs(x) < 1:
        # A fraction of a day reads as hours ("3 hours", not "0.12 days").
        hours = round(abs(x) * 24)
        sign = "-" if x < 0 else ""
        return "under an hour" if hours == 0 else f"{sign}{hours} hour{'s' if hours != 1 else ''}"
    if _is_money(spec):
        text = f"{x:,.2f}"
    elif x.is_integer():
        text = f"{int(x):,}" if abs(x) >= 10_000 else str(int(x))
    else:
        # Precision an analyst reads at a glance: whole days past a day or two, fewer decimals
        # for larger numbers ("313 days", "14.5", "0.27").
        digits = (
            0 if (unit == "days" and abs(x) >= 2) or abs(x) >= 100 else (1 if abs(x) >= 10 else 2)
        )
        text = f"{x:,.{digits}f}" if digits == 0 else f"{x:.{digits}f}".rstrip("0").rstrip(".")
    if not unit:
        return text
    if unit in _CURRENCY_SYMBOLS:
        return f"-{unit}{text[1:]}" if text.startswith("-") else f"{unit}{text}"
    if x == 1 and unit.endswith("s") and len(unit) > 2:
        unit = singular(unit)  # 1 day, 1 purchase, 1 page view
    return f"{text} {unit}"


def _json_value(value: object, spec: FeatureSpec) -> str:
    """The raw value as a JSON literal (numbers as numbers, missing as null, categories as text)."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "null"
    if spec.kind == "categorical" or isinstance(value, str):
        return json.dumps(str(value))
    try:
        x = float(value)
    except (TypeError, ValueError):
        return json.dumps(str(value))
    if math.isnan(x) or math.isinf(x):
        return "null"
    return str(int(x)) if x.is_integer() and abs(x) < 2**53 else repr(x)


def _formatted_column(
    values: pd.Series, rows: np.ndarray, spec: FeatureSpec
) -> tuple[np.ndarray, np.ndarray]:
    """Text and JSON for `values[rows]`, formatting each distinct value once."""
    sub = values.iloc[rows]
    codes, uniques = pd.factorize(sub, use_na_sentinel=True)
    text_u = np.array([format_value(v, spec) for v in uniques] + ["none"], dtype=object)
    json_u = np.array([_json_value(v, spec) for v in uniques] + ["null"], dtype=object)
    codes = np.where(codes < 0, len(uniques), codes)
    return text_u[codes], json_u[codes]


def in_words(value: object, spec: FeatureSpec, family: str = "") -> str:
    """The value in the feature's phrase: "3 purchases in the last 90 days", "12 days since the
    last purchase"; `label: value` for a feature without a phrase or a missing value (the value
    alone when the label already names the family)."""
    text = format_value(value, spec)
    if spec.phrase and text != "none":
        return spec.phrase.format(text)
    if text == "none" and spec.unit == "days":  # days since something that never happened
        text = "never"
    return text if spec.label == family else f"{spec.label}: {text}"
