"""The condition language: `{field, op, value}` tests on events (goals, eligibility, custom
events) and on scored profiles (segments), with one operator table and one missing-value rule.

Operators: `==, !=, >, >=, <, <=, in, not_in, exists, not_exists, contains, starts_with`.

Missing values
--------------
A missing value satisfies `not_exists` and the two negations, `!=` and `not_in`, and nothing
else. A negation is the complement of its positive (`x != v` is "not `x == v`"), so every row
is on exactly one side of a condition and its negation: a profile without a loyalty tier is in
`loyaltyTier != gold`, and an event without a channel is in `channel not_in [store]`.

A field holding lists (`tags: [a, b]`) takes `contains` (does the list hold the value),
`exists` and `not_exists`; comparing a whole list with `==`, `>` or `in` is refused, naming the
field. Values are typed literals of the column's type (a number for a numeric column, a timestamp for
a date column); ordering operators against a number on a text column are refused (text would
compare as words: "18,0" < "5"). Conditions never become `eval`, `exec`, `DataFrame.query` or
SQL text: Ibis expressions for events, pandas masks for profiles.
"""

from __future__ import annotations

import datetime as dt
import operator
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from workbench.errors import ConfigError

if TYPE_CHECKING:
    from workbench.config import Condition

OPERATORS = (
    "==",
    "!=",
    ">",
    ">=",
    "<",
    "<=",
    "in",
    "not_in",
    "exists",
    "not_exists",
    "contains",
    "starts_with",
)
COMPARISONS = {
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
ORDERED = {">", ">=", "<", "<="}
LIST_OPERATORS = {"in", "not_in"}
PRESENCE_OPERATORS = {"exists", "not_exists"}
TEXT_OPERATORS = {"contains", "starts_with"}
# True for a missing value: the complements of `==` and `in`.
NEGATIONS = {"!=", "not_in"}

Kind = Literal["number", "boolean", "timestamp", "text"]


def describe(condition: Condition) -> str:
    """`event_type == purchase`, `channel exists`: a condition as an analyst writes it."""
    if condition.op in PRESENCE_OPERATORS:
        return f"{condition.field} {condition.op.replace('_', ' ')}"
    value = condition.value
    shown = ", ".join(map(str, value)) if isinstance(value, list) else value
    return f"{condition.field} {condition.op.replace('_', ' ')} {shown}"


# ----------------------------------------------------------------------------- values
def coerce(value: Any, kind: Kind, field: str, key: str) -> Any:
    """A config value as a literal of a column of `kind` (timestamps as UTC), or one line."""
    try:
        if kind == "number":
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if kind == "boolean":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("true", "yes", "1"):
                return True
            if text in ("false", "no", "0"):
                return False
            raise ValueError
        if kind == "timestamp":
            if isinstance(value, bool) or not isinstance(value, str | dt.date | dt.datetime):
                raise ValueError
            ts = pd.Timestamp(value)
            return ts.tz_convert("UTC") if ts.tzinfo is not None else ts.tz_localize("UTC")
    except (ValueError, TypeError):
        raise ConfigError(f"{key}: value {value!r} does not fit field '{field}' ({kind})") from None
    return str(value)


def _check_ordered_on_text(condition: Condition, kind: Kind, key: str) -> None:
    value = condition.value
    if (
        condition.op in ORDERED
        and kind == "text"
        and isinstance(value, int | float)
        and not isinstance(value, bool)
    ):
        raise ConfigError(
            f"{key}: field '{condition.field}' holds text, so '{condition.op} {value}' would "
            "compare it as words, not numbers; if it is a number written with a decimal comma "
            "set events.decimal_separator: ','"
        )


def _literals(condition: Condition, kind: Kind, key: str) -> Any:
    _check_ordered_on_text(condition, kind, key)
    if condition.op in LIST_OPERATORS:
        return [coerce(v, kind, condition.field, key) for v in condition.value]
    return coerce(condition.value, kind, condition.field, key)


def _unknown_field(field: str, columns, key: str) -> ConfigError:
    available = ", ".join(sorted(str(c) for c in columns if not str(c).startswith("_")))
    return ConfigError(f"{key}: unknown field '{field}'; available fields: {available}")


# ----------------------------------------------------------------------------- events (Ibis)
def _ibis_kind(dtype) -> Kind:
    if dtype.is_boolean():
        return "boolean"
    if dtype.is_numeric():
        return "number"
    if dtype.is_timestamp() or dtype.is_date():
        return "timestamp"
    return "text"


def _nested(condition: Condition, shown: str, key: str) -> ConfigError:
    return ConfigError(
        f"{key}: field '{condition.field}' holds lists or records ({shown}), so "
        f"'{condition.op}' cannot compare it with {condition.value!r}; use op: contains to test "
        "whether a list holds a value, or exists / not_exists"
    )


def condition_expr(table, condition: Condition, key: str = "conditions"):
    """One condition as an Ibis boolean expression over `table` (never NULL)."""
    name, op = condition.field, condition.op
    if name not in table.columns:
        raise _unknown_field(name, table.columns, key)
    col = table[name]
    if op == "exists":
        return col.notnull()
    if op == "not_exists":
        return col.isnull()
    dtype = col.type()
    if dtype.is_array() and op == "contains":
        value = coerce(condition.value, _ibis_kind(dtype.value_type), name, key)
        return col.contains(value).fill_null(False)
    if dtype.is_array() or dtype.is_struct() or dtype.is_map():
        raise _nested(condition, str(dtype), key)
    if op in TEXT_OPERATORS:
        text = col.cast("string")
        value = str(condition.value)
        hit = text.contains(value) if op == "contains" else text.startswith(value)
        return hit.fill_null(False)
    kind = _ibis_kind(col.type())
    literal = _literals(condition, kind, key)
    if kind == "timestamp":  # the engine's timestamps are naive UTC
        literal = (
            [v.tz_localize(None).to_pydatetime() for v in literal]
            if isinstance(literal, list)
            else literal.tz_localize(None).to_pydatetime()
        )
    if op in LIST_OPERATORS:
        hit = col.isin(literal)
        return hit.fill_null(False) if op == "in" else (~hit).fill_null(True)
    return COMPARISONS[op](col, literal).fill_null(op in NEGATIONS)


def conditions_expr(
    table, conditions: list[Condition], match: str = "all", key: str = "conditions"
):
    """All conditions on the same event (`all`) or at least one of them (`any`); True when empty."""
    import ibis

    if not conditions:
        return ibis.literal(True)
    parts = [condition_expr(table, c, f"{key}[{i}]") for i, c in enumerate(conditions)]
    return ibis.and_(*parts) if match == "all" else ibis.or_(*parts)


# ----------------------------------------------------------------------------- profiles (pandas)
_NESTED = (list, tuple, np.ndarray, dict)


def _pandas_kind(series: pd.Series) -> Kind:
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        dtype = dtype.categories.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_numeric_dtype(dtype):
        return "number"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "timestamp"
    return "text"


def condition_mask(frame: pd.DataFrame, condition: Condition, key: str = "conditions") -> pd.Series:
    """Boolean mask of the rows of `frame` meeting one condition (pandas only, no eval)."""
    from workbench.config import Condition as ConditionModel

    if isinstance(condition, dict):
        condition = ConditionModel.model_validate(condition)
    name, op = condition.field, condition.op
    if name not in frame.columns:
        raise _unknown_field(name, frame.columns, key)
    s = frame[name]
    present = s.notna()
    if op == "exists":
        return present
    if op == "not_exists":
        return ~present
    first = s[present].head(1)
    if s.dtype == object and len(first) and isinstance(first.iloc[0], _NESTED):
        if op == "contains":
            return s.map(lambda v: isinstance(v, _NESTED[:-1]) and condition.value in list(v))
        raise _nested(condition, type(first.iloc[0]).__name__, key)
    if op in TEXT_OPERATORS:
        text = s.astype("string")
        value = str(condition.value)
        hit = (
            text.str.contains(value, regex=False)
            if op == "contains"
            else text.str.startswith(value)
        )
        return present & hit.fillna(False).astype(bool)
    kind = _pandas_kind(s)
    literal = _literals(condition, kind, key)
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype(object if kind == "text" else s.cat.categories.dtype)
    if kind == "timestamp":
        tz = getattr(s.dtype, "tz", None)
        literal = (
            [_to_zone(v, tz) for v in literal]
            if isinstance(literal, list)
            else _to_zone(literal, tz)
        )
    if op in LIST_OPERATORS:
        hit = present & s.isin(literal)
    else:
        positive = "==" if op == "!=" else op
        try:
            hit = present & pd.Series(COMPARISONS[positive](s, literal), index=frame.index)
        except TypeError:
            raise ConfigError(
                f"{key}: {name} {op} {condition.value!r}: cannot compare with a column of "
                f"type {frame[name].dtype}"
            ) from None
        hit = hit.fillna(False).astype(bool)
        if op == "!=":
            return ~hit
        return hit
    return ~hit if op == "not_in" else hit


def _to_zone(ts: pd.Timestamp, tz) -> pd.Timestamp:
    return ts.tz_convert(tz) if tz is not None else ts.tz_convert("UTC").tz_localize(None)
