"""Readable numbers and tables for notebooks and pages.

Every table a person reads goes through `readable` (a pandas Styler for notebooks) or
`html_table` (plain HTML for the landing page): friendly column names instead of codes, no
pandas row numbers, shares as percentages, thousands separators, 2-3 significant digits, `–`
for a missing value, no raw JSON columns, and long text kept on one line only where it is short.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable
from typing import Any

import pandas as pd

__all__ = ["number", "percent", "friendly", "readable", "html_table", "formatted", "LABELS"]

# Column names an analyst reads (the files keep their codes).
LABELS = {
    "roc_auc": "ROC AUC",
    "roc_auc_fold_mean": "ROC AUC, mean of the folds",
    "roc_auc_sd": "ROC AUC, spread of the folds (SD)",
    "leading_feature": "moved most by",
    "roc_auc_ci_low": "AUC low (95%)",
    "roc_auc_ci_high": "AUC high (95%)",
    "pr_auc": "PR AUC",
    "log_loss": "log loss",
    "brier": "Brier score",
    "ece": "calibration error",
    "lift_top_decile": "lift in top 10%",
    "fit_seconds": "fit (s)",
    "predict_seconds": "predict (s)",
    "beats_recency": "beats the recency rule",
    "base_rate": "base rate",
    "mean_predicted": "expected rate",
    "actual_rate": "actual rate",
    "expected": "expected conversions",
    "actual": "actual conversions",
    "mean_abs_contribution": "influence (mean |log-odds|)",
    "mean_contribution": "average push (log-odds)",
    "raises_share": "raises the score for",
    "lowers_share": "lowers the score for",
    "coverage": "among own top factors",
    "typical_text": "typical value",
    "value_range": "middle half of values",
    "share": "share of influence",
    "odds_ratio": "odds ratio",
    "odds_ratio_ci_low": "odds ratio low (95%)",
    "odds_ratio_ci_high": "odds ratio high (95%)",
    "p_value": "p-value",
    "per": "per",
    "size": "profiles",
    "mean_probability": "mean probability",
    "expected_conversions": "expected conversions",
    "factor_1": "top factor",
    "factor_2": "second factor",
    "factor_3": "third factor",
    "factor_down": "factor lowering the score",
    "profile_id": "profile",
    "score_date": "scored on",
    "propensity_type": "goal type",
    "label": "factor",
}
# Columns whose values are shares of a whole (0..1), shown as percentages.
_SHARE_WORDS = ("rate", "share", "coverage", "probability", "mean_predicted")


def _missing(v: Any) -> bool:
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v))


def number(v: Any, digits: int = 3) -> str:
    """`1,234,567`, `163`, `12.3`, `0.123`, `0.00456`: thousands separators and `digits`
    significant digits (whole numbers are never rounded); `–` when missing."""
    if _missing(v):
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if not isinstance(v, (int, float)):
        try:
            v = float(v)
        except (TypeError, ValueError):
            return str(v)
    if float(v).is_integer() and abs(v) < 1e15:
        return f"{int(v):,}"
    x = float(v)
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    magnitude = math.floor(math.log10(abs(x))) if x else 0
    decimals = max(0, digits - 1 - magnitude)
    return f"{x:,.{decimals}f}"


def percent(v: Any, digits: int = 3) -> str:
    """A share as a percentage with 2-3 significant digits: `22.1%`, `4.5%`, `0.45%`, `100%`."""
    if _missing(v):
        return "–"
    x = float(v) * 100
    if x == 0:
        return "0%"
    if abs(x) >= 99.95 or x.is_integer():
        return f"{x:.0f}%"
    magnitude = math.floor(math.log10(abs(x)))
    decimals = max(0, min(digits - 1 - magnitude, 2))
    return f"{x:.{decimals}f}%"


def friendly(name: str) -> str:
    """A column code in words: `LABELS`, else `days_since_last` -> `days since last`."""
    return LABELS.get(str(name), str(name).replace("_", " "))


def _is_share(column: str, values: pd.Series) -> bool:
    if not any(w in column for w in _SHARE_WORDS) or not pd.api.types.is_float_dtype(values):
        return False
    finite = values.dropna()
    return bool(len(finite) == 0 or finite.between(0, 1).all())


def formatted(
    frame: pd.DataFrame,
    percent_columns: Iterable[str] | None = None,
    labels: dict[str, str] | None = None,
    columns: Iterable[str] | None = None,
) -> pd.DataFrame:
    """The frame as text: shares as percentages (detected by name, or `percent_columns`),
    numbers with separators and 2-3 significant digits, dates as days, `–` for missing; JSON
    columns dropped, a named index turned into a column, columns renamed in words; `columns`
    picks and orders the columns shown (those present)."""
    out = frame.copy()
    if out.index.name is not None or isinstance(out.index, pd.MultiIndex):
        out = out.reset_index()
    if columns is not None:
        out = out[[c for c in columns if c in out.columns]]
    out = out[[c for c in out.columns if not str(c).endswith("_json")]]
    shares = set(percent_columns) if percent_columns is not None else None
    for col in out.columns:
        values = out[col]
        if shares is not None and col in shares or shares is None and _is_share(str(col), values):
            out[col] = values.map(percent)
        elif pd.api.types.is_datetime64_any_dtype(values):
            out[col] = values.map(lambda v: "–" if _missing(v) else f"{pd.Timestamp(v):%Y-%m-%d}")
        elif pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
            out[col] = values.map(number)
        else:
            out[col] = values.map(lambda v: "–" if _missing(v) else str(v))
    names = {**LABELS, **(labels or {})}
    return out.rename(columns={c: names.get(str(c), friendly(c)) for c in out.columns})


def readable(
    frame: pd.DataFrame,
    columns: Iterable[str] | None = None,
    percent_columns: Iterable[str] | None = None,
    labels: dict[str, str] | None = None,
    transpose: bool = False,
    caption: str | None = None,
    rows: int | None = None,
    empty: str = "Nothing to show.",
):
    """A table for a notebook: `formatted` text without the row numbers, long text wrapped at
    word boundaries, numbers right-aligned and text left; `columns` picks the columns, `rows`
    the first rows; an empty frame shows `empty` instead of a bare header. `transpose=True`
    turns a wide table (one row per model, many figures) into one row per figure."""
    if len(frame) == 0:
        from IPython.display import Markdown

        return Markdown(f"*{empty}*")
    text = formatted(frame if rows is None else frame.head(rows), percent_columns, labels, columns)
    if transpose:
        first = text.columns[0]
        text = text.set_index(first).T.rename_axis("").reset_index()
        text.columns = ["figure", *(friendly(c) for c in text.columns[1:])]
    numeric = [
        c
        for c in text.columns
        if len(text) and text[c].map(lambda v: v == "–" or _looks_numeric(v)).all()
    ]
    words = [c for c in text.columns if c not in numeric]
    styler = text.style.hide(axis="index")
    # JupyterLab right-aligns every cell: say which side each column reads from.
    if numeric:
        styler = styler.set_properties(subset=numeric, **{"text-align": "right"})
    if words:
        styler = styler.set_properties(subset=words, **{"text-align": "left"})
    styler = styler.set_table_styles(
        [
            {"selector": "td", "props": "max-width: 28em; white-space: normal;"},
            {"selector": "th", "props": "text-align: left; white-space: nowrap;"},
        ]
    )
    if caption:
        styler = styler.set_caption(caption)
    return styler


def html_table(
    frame: pd.DataFrame,
    percent_columns: Iterable[str] | None = None,
    labels: dict[str, str] | None = None,
    raw_html: Iterable[str] = (),
    css_class: str = "",
) -> str:
    """A `formatted` table as plain HTML for a page; `raw_html` columns are inserted unescaped
    (links built by the caller from escaped parts)."""
    raw = set(raw_html)
    keep = frame.reset_index(drop=True)
    shown = formatted(keep[[c for c in keep.columns if c not in raw]], percent_columns, labels)
    names = {**LABELS, **(labels or {})}
    text = pd.DataFrame(
        {  # the caller's order of columns, raw ones as given
            (c if c in raw else names.get(str(c), friendly(c))): (
                keep[c].astype(str) if c in raw else shown[names.get(str(c), friendly(c))]
            )
            for c in keep.columns
            if c in raw or not str(c).endswith("_json")
        }
    )
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in text.columns)
    rows = []
    for values in text.itertuples(index=False):
        cells = []
        for col, v in zip(text.columns, values, strict=True):
            body = str(v) if col in raw else html.escape(str(v))
            numeric = col not in raw and _looks_numeric(str(v))
            cells.append(f'<td class="num">{body}</td>' if numeric else f"<td>{body}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    cls = f' class="{css_class}"' if css_class else ""
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _looks_numeric(text: str) -> bool:
    t = text.replace(",", "").replace("%", "").replace("×", "").strip()
    try:
        float(t)
    except ValueError:
        return False
    return True
