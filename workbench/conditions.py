"""The condition language: `{field, op, value}` tests on events (goals, eligibility, custom
events) and on scored profiles (segments), with one operator table and one missing-value rule.

Operators: `==, !=, >, >=, <, <=, in, not_in, exists, not_exists, contains, starts_with`.

Missing values
--------------
A missing value satisfies `not_exists` and the two negations, `!=` and `not_in`, and nothing
else. A negation is the complement of its positive (`x != v` is "not `x == v`"), so every row
is on exactly one side of a condition and its negation: a profile without a loyalty tier is in
`loyaltyTier != gold`, and an event without a channel is in `channel not_in [store]`.

A field holding lists (`items.item_id`) holds a condition when any of its values does (`==`,
`in`, `contains`, `starts_with`; `exists`: a non-empty list), on events and profiles alike;
ordering a list (`>`) and comparing a record (a struct or map) are refused, naming the field.
Values are typed literals of the column's type (a number for a numeric column, a timestamp for
a date column); ordering operators against a number on a text column are refused (text would
compare as words: "18,0" < "5"). Conditions never become `eval`, `exec`, `DataFrame.query` or
SQL text: Ibis expressions for events, pandas masks for profiles.
"""

from __future__ import annotations

import datetime as dt
import operator
from typing import TYPE_CHECKING, Any, Literal

import ibis
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


class TextAsNumberError(ConfigError):
    """An ordering against a number on a text column. The message suggests declaring the type;
    `csv_hint` is the decimal-comma option, which only a csv source has (see check_fields)."""

    def __init__(self, message: str, csv_hint: str):
        super().__init__(f"{message} ({csv_hint})")
        self.message, self.csv_hint = message, csv_hint


def _check_ordered_on_text(condition: Condition, kind: Kind, key: str) -> None:
    value = condition.value
    if (
        condition.op in ORDERED
        and kind == "text"
        and isinstance(value, int | float)
        and not isinstance(value, bool)
    ):
        field = condition.field
        raise TextAsNumberError(
            f"{key}: field '{field}' holds text, so '{condition.op} {value}' would compare it "
            f"as words, not numbers; if it holds numbers written as text, declare them: "
            f"events.types: {{{field}: number}}",
            "a csv with decimal commas: events.decimal_separator: ','",
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
        f"{key}: field '{condition.field}' holds records ({shown}), so '{condition.op}' cannot "
        f"compare it with {condition.value!r}; use one of its fields (e.g. "
        f"{condition.field}.<name>), or exists / not_exists"
    )


def _ordered_list(condition: Condition, key: str) -> ConfigError:
    return ConfigError(
        f"{key}: field '{condition.field}' is a list of values; use ==, in or contains"
    )


def condition_expr(table, condition: Condition, key: str = "conditions"):
    """One condition as an Ibis boolean expression over `table` (never NULL)."""
    name, op = condition.field, condition.op
    if name not in table.columns:
        raise _unknown_field(name, table.columns, key)
    col = table[name]
    if col.type().is_array():
        return _list_condition(col, condition, key)
    if op == "exists":
        return col.notnull()
    if op == "not_exists":
        return col.isnull()
    if col.type().is_struct() or col.type().is_map():
        raise _nested(condition, str(col.type()), key)
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


def _list_condition(col, condition: Condition, key: str):
    """A condition on a list field (`items.item_id`: the ids of an event's objects) holds when
    any value does (`==`, `in`, `contains`, `starts_with`); `exists` means a non-empty list and
    the negations are the complements, as for one value."""
    op = condition.op
    present = col.notnull() & (col.length() > 0)
    if op in PRESENCE_OPERATORS:
        return present if op == "exists" else ~present
    if op in ORDERED:
        raise _ordered_list(condition, key)
    kind = _ibis_kind(col.type().value_type)
    literal = _literals(condition, kind, key)
    values = literal if isinstance(literal, list) else [literal]
    if op in TEXT_OPERATORS:
        text = str(condition.value)
        hits = col.filter(lambda v: v.cast("string").contains(text) if op == "contains"
                          else v.cast("string").startswith(text))  # fmt: skip
        return (hits.length() > 0).fill_null(False)
    hit = ibis.or_(*[col.contains(v) for v in values]).fill_null(False)
    return ~hit if op in NEGATIONS else hit


def conditions_expr(
    table, conditions: list[Condition], match: str = "all", key: str = "conditions"
):
    """All conditions on the same event (`all`) or at least one of them (`any`); True when empty."""
    if not conditions:
        return ibis.literal(True)
    parts = [condition_expr(table, c, f"{key}[{i}]") for i, c in enumerate(conditions)]
    return ibis.and_(*parts) if match == "all" else ibis.or_(*parts)


# ----------------------------------------------------------------------------- profiles (pandas)
_LISTS = (list, tuple, np.ndarray)


def _list_mask(s: pd.Series, condition: Condition, key: str) -> pd.Series:
    """A profile attribute holding lists answers as an event's list field does
    (`_list_condition`): any value meets the condition; exists is a non-empty list."""
    op = condition.op
    lists = s.map(lambda v: list(v) if isinstance(v, _LISTS) else [])
    present = lists.map(len) > 0
    if op in PRESENCE_OPERATORS:
        return present if op == "exists" else ~present
    if op in ORDERED:
        raise _ordered_list(condition, key)
    if op in TEXT_OPERATORS:
        text = str(condition.value)
        test = (
            (lambda v: text in str(v)) if op == "contains" else (lambda v: str(v).startswith(text))
        )
        return lists.map(lambda vs: any(test(v) for v in vs)).astype(bool)
    sample = next(v for vs in lists for v in vs)
    kind: Kind = "number" if isinstance(sample, int | float | np.number) else "text"
    literal = _literals(condition, kind, key)
    values = set(literal if isinstance(literal, list) else [literal])
    wanted = (lambda v: float(v) in values) if kind == "number" else (lambda v: str(v) in values)
    hit = lists.map(lambda vs: any(wanted(v) for v in vs)).astype(bool)
    return ~hit if op in NEGATIONS else hit


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
    first = s[present].head(1)
    if s.dtype == object and len(first) and isinstance(first.iloc[0], dict):
        raise _nested(condition, "dict", key)
    if s.dtype == object and len(first) and isinstance(first.iloc[0], _LISTS):
        return _list_mask(s, condition, key)
    if op == "exists":
        return present
    if op == "not_exists":
        return ~present
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
