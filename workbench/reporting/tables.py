"""Tables and charts as a reader sees them: percentages, thousands separators, a few digits,
headers in words, no index column; charts as embedded PNG for the HTML pages."""

from __future__ import annotations

import base64
import html
import io
import math
import re
from collections.abc import Callable
from typing import Any

import pandas as pd

from workbench.economics import money

__all__ = ["readable", "table_html", "figure_html", "money"]

# The last word of a column name and how its values read.
_PERCENT = {"share", "rate", "probability", "predicted", "contact"}
_THREE = {"psi", "auc", "kappa"}
_MONEY = {"cost", "value", "profit"}
_HEADERS = {
    "psi": "PSI",
    "roc_auc": "ROC AUC",
    "roc_auc_low": "AUC 95% low",
    "roc_auc_high": "AUC 95% high",
}


def _number(v: Any) -> str:
    """A number in a column of mixed values: thousands separators, 3 significant digits."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int) or (isinstance(v, float) and v.is_integer() and abs(v) < 1e15):
        return f"{int(v):,}"
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"
    return str(v)


def _missing(f: Callable[[Any], str]) -> Callable[[Any], str]:
    return lambda v: "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f(v)


def _formatter(column: str, series: pd.Series, currency: str) -> Callable[[Any], str] | None:
    name = column.lower()
    last = re.split(r"[_\s]+", name.strip())[-1]
    if pd.api.types.is_bool_dtype(series):
        return lambda v: "yes" if v else ""
    if not pd.api.types.is_numeric_dtype(series):
        return _missing(_number) if series.dtype == object else None
    if last in _MONEY:
        return _missing(lambda v: money(v, currency))
    if name.startswith("roc_auc") or last in _THREE:
        return _missing(lambda v: f"{v:.3f}")
    if last == "change":
        return _missing(lambda v: f"{v:+.1%}")
    if last in _PERCENT:
        return _missing(lambda v: f"{v:.1%}")
    if pd.api.types.is_integer_dtype(series) or (series.dropna() % 1 == 0).all():
        return _missing(lambda v: f"{int(v):,}")
    return _missing(lambda v: f"{v:,.1f}" if abs(v) >= 10 else f"{v:.3g}")


def _header(column: str) -> str:
    return _HEADERS.get(column, column.replace("_", " "))


def readable(
    frame: pd.DataFrame,
    currency: str = "",
    columns: list[str] | None = None,
    headers: dict[str, str] | None = None,
):
    """A pandas Styler of `frame` (or its `columns`) for a notebook: values formatted by what
    their column holds (shares and rates as %, PSI and AUC with 3 decimals, money with the
    currency, counts with thousands separators), headers in words (or as `headers` names
    them), no index."""
    data = frame[columns] if columns else frame
    data = data.reset_index(drop=not _named_index(data))
    formats = {c: f for c in data.columns if (f := _formatter(c, data[c], currency)) is not None}
    numeric = [
        c
        for c in data.columns
        if pd.api.types.is_numeric_dtype(data[c]) and not pd.api.types.is_bool_dtype(data[c])
    ]
    styler = data.style.format(formats, na_rep="–").hide(axis="index")
    styler = styler.set_properties(**{"text-align": "left"})
    styler = styler.set_properties(subset=numeric, **{"text-align": "right"})
    names = [(headers or {}).get(str(c)) or _header(str(c)) for c in data.columns]
    return styler.relabel_index(names, axis="columns")


def _named_index(frame: pd.DataFrame) -> bool:
    return frame.index.name is not None or not isinstance(frame.index, pd.RangeIndex)


def table_html(
    frame: pd.DataFrame,
    currency: str = "",
    columns: list[str] | None = None,
    headers: dict[str, str] | None = None,
) -> str:
    """`readable` as an HTML table for a page (class `data`)."""
    styler = readable(frame, currency, columns, headers)
    return styler.set_table_attributes('class="data"').to_html()


def figure_html(
    draw: Callable[..., Any], *args: Any, size=(7, 4), alt: str = "", **kwargs: Any
) -> str:
    """`draw(*args, ax=ax, **kwargs)` (a `workbench.plots` function) on a new figure, as an
    embedded PNG `<img>` (no pyplot state, so pages can be written from any process)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=size)
    ax = fig.subplots()
    draw(*args, ax=ax, **kwargs)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return (
        f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}" style="max-width:100%">'
    )
