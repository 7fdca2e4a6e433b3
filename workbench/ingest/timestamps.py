"""Timestamps: every form an export writes them in, read as naive UTC, one day order per column.

Text timestamps without a `timestamp_format`: ISO-8601 (DuckDB's cast, offsets converted to UTC),
epoch numbers, then date patterns by separator, each with no time, %H:%M, %H:%M:%S or 12-hour
%I:%M(:%S) %p, picked per value from its shape (a failed strptime costs as much as a match).
Month-first and day-first dates can be read two ways (01/02/2024), so a column is read with one
day order only: day-first when more of its values parse that way (`day_order`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.datatypes as dt
import pandas as pd

if TYPE_CHECKING:
    from workbench.config import EventsConfig

MONTH_FIRST_DATES = {"/": "%m/%d/%Y", "-": "%m-%d-%Y"}

DAY_FIRST_DATES = {"/": "%d/%m/%Y", ".": "%d.%m.%Y", "-": "%d-%m-%Y"}

# Timestamps outside this span are quarantined ("timestamp out of range"): they are unit or
# placeholder mistakes (year 47304, 0001-01-01, 9999-12-31), and pandas cannot hold most of them.
EARLIEST_TIMESTAMP = pd.Timestamp("1900-01-01")

LATEST_TIMESTAMP = pd.Timestamp("2200-01-01")

OUT_OF_RANGE = "timestamp out of range (before 1900 or after 2199)"

UNPARSEABLE = "unparseable timestamp"

# Epoch numbers as text: seconds (9-10 digits), milliseconds (12-13), microseconds (15-16) or
# nanoseconds (18-19) for dates from 1973 to 2286; 8 and 14 digits are %Y%m%d(%H%M%S).
EPOCH_TEXT = r"^([0-9]{9,10}|[0-9]{12,13}|[0-9]{15,16}|[0-9]{18,19})$"


@ibis.udf.scalar.builtin(name="try_strptime")
def _try_strptime(value: str, fmt: str) -> dt.Timestamp(timezone=None):  # type: ignore[valid-type]
    """DuckDB's TRY_STRPTIME: NULL instead of an error for text that does not parse."""


@ibis.udf.scalar.builtin(name="make_timestamp")
def _timestamp_from_micros(micros: int) -> dt.Timestamp(timezone=None):  # type: ignore[valid-type]
    """DuckDB's MAKE_TIMESTAMP(BIGINT): microseconds since 1970-01-01 (Ibis has only s and ms)."""


def timestamp_parsers(col, fmt: str | None) -> dict[str, Any]:
    """Parsers for a timestamp column: `neutral` (the only one for typed columns or a given
    timestamp_format), and for text without a format the `month_first` / `day_first` readings
    of what the neutral ones leave unparsed (NULL where they fail)."""
    dtype = col.type()
    if dtype.is_timestamp():
        if dtype.timezone is not None:
            # DuckDB session is UTC, so dropping the zone after conversion keeps the UTC wall time.
            return {"neutral": col.cast(dt.Timestamp(timezone="UTC")).cast(dt.Timestamp())}
        return {"neutral": col}
    if dtype.is_date():
        return {"neutral": col.cast(dt.Timestamp())}
    if dtype.is_integer() and fmt is None:
        # 8-digit integers are dates written as numbers (20150503), not 1970 epoch seconds.
        yyyymmdd = _try_strptime(col.cast("string"), "%Y%m%d")
        is_date = (col >= 10_000_000) & (col < 100_000_000)
        return {"neutral": ibis.cases((is_date, yyyymmdd), else_=_epoch(col))}
    if (dtype.is_floating() or dtype.is_decimal()) and fmt is None:
        return {"neutral": _epoch(col)}
    text = col.cast("string").strip()
    if fmt is not None:
        return {"neutral": _try_strptime(text, fmt)}
    iso = text.try_cast(dt.Timestamp(timezone="UTC")).cast(dt.Timestamp())
    colons = text.length() - text.replace(":", "").length()
    upper = text.upper()
    ampm = upper.endswith("AM") | upper.endswith("PM")
    digits = text.re_search(r"^[0-9]+$")
    neutral = ibis.cases(
        (text.contains("-"), iso),  # every ISO-8601 date has one
        (digits & text.re_search(EPOCH_TEXT), _epoch(text.try_cast("int64"))),
        (digits & (text.length() == 8), _try_strptime(text, "%Y%m%d")),
        (digits & (text.length() == 14), _try_strptime(text, "%Y%m%d%H%M%S")),
        (text.re_search(r"^[0-9]{4}/"), _dated(text, "%Y/%m/%d", colons, ampm)),
        else_=ibis.null(dt.Timestamp()),
    )
    return {
        "neutral": neutral,
        "month_first": _dates(text, MONTH_FIRST_DATES, colons, ampm),
        "day_first": _dates(text, DAY_FIRST_DATES, colons, ampm),
    }


def _dated(text, date: str, colons, ampm):
    """strptime with the date pattern and the one time pattern the value's shape allows."""
    return ibis.cases(
        (ampm & (colons == 2), _try_strptime(text, f"{date} %I:%M:%S %p")),
        (ampm & (colons == 1), _try_strptime(text, f"{date} %I:%M %p")),
        (colons == 2, _try_strptime(text, f"{date} %H:%M:%S")),
        (colons == 1, _try_strptime(text, f"{date} %H:%M")),
        (colons == 0, _try_strptime(text, date)),
        else_=ibis.null(dt.Timestamp()),
    )


def _dates(text, by_separator: dict[str, str], colons, ampm):
    cases = [
        (text.contains(sep), _dated(text, date, colons, ampm)) for sep, date in by_separator.items()
    ]
    return ibis.cases(*cases, else_=ibis.null(dt.Timestamp()))


def _epoch(col):
    """Epoch numbers; the unit follows from the size: seconds below 1e11 (years up to 5138),
    then milliseconds, microseconds (GA4's event_timestamp) and nanoseconds."""
    if col.type().is_integer():
        col = col.try_cast("int64")  # int32 * 1_000_000 would overflow
        size = col.abs()
        micros = ibis.cases(
            (size < 100_000_000_000, col * 1_000_000),
            (size < 100_000_000_000_000, col * 1000),
            (size < 100_000_000_000_000_000, col),
            else_=col // 1000,
        )
    else:
        value = col.cast("float64")
        size = value.abs()
        micros = ibis.cases(
            (size < 1e11, value * 1e6),
            (size < 1e14, value * 1e3),
            (size < 1e17, value),
            (size < 9.2e18, value / 1e3),
            else_=ibis.null("float64"),
        ).round()
    return _timestamp_from_micros(micros.cast("int64"))


def in_range(ts):
    return (ts >= EARLIEST_TIMESTAMP.to_pydatetime()) & (ts < LATEST_TIMESTAMP.to_pydatetime())


def day_order(staged) -> dict[str, Any] | None:
    """How many unparsed values read month-first and day-first; the column takes the order that
    reads more of them (month-first on a tie). None when the timestamp needs no choice."""
    if "_ts_month_first" not in staged.columns:
        return None
    m, d = staged._ts_month_first, staged._ts_day_first
    row = (
        staged.aggregate(
            month_first=m.count(),
            day_first=d.count(),
            both=(m.notnull() & d.notnull()).cast("int64").sum(),
        )
        .to_pyarrow()
        .to_pylist()[0]
    )
    counts = {k: int(v or 0) for k, v in row.items()}
    counts["order"] = "day-first" if counts["day_first"] > counts["month_first"] else "month-first"
    return counts


def timestamp_report(cfg: EventsConfig, column: str, order: dict[str, Any] | None) -> dict:
    if cfg.timestamp_format is not None:
        return {"column": column, "format": cfg.timestamp_format}
    report: dict[str, Any] = {"column": column, "format": "auto"}
    if order is not None:
        report.update(
            day_order=order["order"],
            values_read_month_first=order["month_first"],
            values_read_day_first=order["day_first"],
        )
    return report


def day_order_notices(staged, order: dict[str, Any], column: str) -> list[str]:
    """Say which way dates were read when that was a choice: day-first, or month-first for values
    that all read both ways (01/02/2011) or with as many of each kind."""
    m, d, both = order["month_first"], order["day_first"], order["both"]
    if order["order"] == "day-first":
        return [
            f"{column}: dates read day-first (13/08/2011, 13.08.2011): {d:,} values parse "
            f"that way, {m:,} month-first"
        ]
    if both == 0 or m > d:
        return []
    example = (
        staged.filter(staged._ts_month_first.notnull() & staged._ts_day_first.notnull())
        .select("_raw_timestamp")
        .limit(1)
        .to_pyarrow()
        .to_pylist()
    )
    shown = f" such as {example[0]['_raw_timestamp']!r}" if example else ""
    if m == both:
        return [
            f"{column}: {both:,} dates{shown} read month-first (MM/DD/YYYY), but every one of them "
            "also reads day-first; if they are day-first, set events.timestamp_format "
            "(e.g. '%d/%m/%Y %H:%M')"
        ]
    return [
        f"{column}: mixed day orders: {m:,} values read month-first, {d:,} day-first "
        f"({both:,}{shown} either way); read month-first, the others are quarantined; "
        "set events.timestamp_format if that is wrong"
    ]
