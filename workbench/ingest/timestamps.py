"""Timestamps: every form an export writes them in, read as naive UTC, one day order per column.

Text timestamps without a `timestamp_format`: ISO-8601 (DuckDB's cast, offsets converted to UTC),
epoch numbers, then date patterns by separator, each with no time, %H:%M, %H:%M:%S or 12-hour
%I:%M(:%S) %p, picked per value from its shape (a failed strptime costs as much as a match).
Month-first and day-first dates can be read two ways (01/02/2024), so a column is read with one
day order only: day-first when more of its values parse that way (`day_order`). A column written
both ways in large shares is refused (`check_day_order`): a quarter of its dates could not be
told apart, and a swapped day and month is a silent, wrong date.

Spreadsheet serial dates (Excel, Google Sheets, LibreOffice: days since 1899-12-30, e.g.
45658.25 = 2025-01-01 06:00) are numbers from 20,000 to 80,000 (1954-2119); as epoch seconds
they would all fall on 1 January 1970, so such numbers are read as serial days, with a notice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.datatypes as dt
import pandas as pd

from workbench.errors import DataError

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

# Spreadsheet serial days: 1954-10-03 .. 2119-01-12; the serial of 1970-01-01 is 25,569.
SERIAL_DAYS = (20_000, 80_000)
_SERIAL_EPOCH = 25_569
SERIAL_TEXT = r"^[0-9]{5}(\.[0-9]+)?$"
# Both day orders with at least this share of the dates that only read one way: refused.
MIXED_ORDER_SHARE = 0.05

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
        serial = _is_serial(col)
        neutral = ibis.cases((is_date, yyyymmdd), (serial, _serial(col)), else_=_epoch(col))
        return {"neutral": neutral, "serial": serial.fill_null(False)}
    if (dtype.is_floating() or dtype.is_decimal()) and fmt is None:
        serial = _is_serial(col)
        neutral = ibis.cases((serial, _serial(col)), else_=_epoch(col))
        return {"neutral": neutral, "serial": serial.fill_null(False)}
    text = col.cast("string").strip()
    if fmt is not None:
        return {"neutral": _try_strptime(text, fmt)}
    iso = text.try_cast(dt.Timestamp(timezone="UTC")).cast(dt.Timestamp())
    colons = text.length() - text.replace(":", "").length()
    upper = text.upper()
    ampm = upper.endswith("AM") | upper.endswith("PM")
    digits = text.re_search(r"^[0-9]+$")
    number = text.try_cast("float64")
    serial = text.re_search(SERIAL_TEXT) & _is_serial(number)
    neutral = ibis.cases(
        (text.contains("-"), iso),  # every ISO-8601 date has one
        (serial, _serial(number)),
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
        "serial": serial.fill_null(False),
    }


def _is_serial(number):
    low, high = SERIAL_DAYS
    return (number >= low) & (number < high)


def _serial(number):
    """Spreadsheet serial days (fractions are the time of day) as a timestamp."""
    micros = ((number.cast("float64") - _SERIAL_EPOCH) * 86_400_000_000).round()
    return _timestamp_from_micros(micros.cast("int64"))


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
        dropped = (
            f"; the {m - both:,} that only read month-first are quarantined" if m > both else ""
        )
        return [
            f"{column}: dates read day-first (13/08/2011, 13.08.2011): {d:,} values parse "
            f"that way, {m:,} month-first{dropped}; set events.timestamp_format if that is wrong"
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


def check_day_order(staged, order: dict[str, Any], column: str, where) -> None:
    """Refuse a column written both day-first and month-first in large shares: the dates that
    read both ways (01/02/2011) could then be either, and no single order is right."""
    m, d, both = order["month_first"], order["day_first"], order["both"]
    only_month, only_day = m - both, d - both
    dated = m + d - both
    if not dated or min(only_month, only_day) < max(20, MIXED_ORDER_SHARE * dated):
        return
    examples = {}
    for key, mine, other in (
        ("day", staged._ts_day_first, staged._ts_month_first),
        ("month", staged._ts_month_first, staged._ts_day_first),
    ):
        row = (
            staged.filter(mine.notnull() & other.isnull())
            .select("_raw_timestamp")
            .limit(1)
            .to_pyarrow()
            .to_pylist()
        )
        examples[key] = row[0]["_raw_timestamp"] if row else "?"
    raise DataError(
        f"{where}: column '{column}' mixes day orders: {only_day:,} dates read only day-first "
        f"(e.g. {examples['day']!r}), {only_month:,} only month-first (e.g. "
        f"{examples['month']!r}) and {both:,} either way, which cannot be told apart; set "
        "events.timestamp_format to the file's pattern (e.g. '%d/%m/%Y %H:%M'), or split the "
        "file by where its rows come from"
    )


def serial_notices(staged, column: str) -> list[str]:
    """Say so when timestamps were read as spreadsheet serial days."""
    if "_ts_serial" not in staged.columns:
        return []
    n = int(staged._ts_serial.cast("int64").sum().to_pyarrow().as_py() or 0)
    if n == 0:
        return []
    return [
        f"{column}: {n:,} timestamps are spreadsheet serial day numbers (days since "
        "1899-12-30, e.g. 45658.25 = 2025-01-01 06:00) and were read as such; set "
        "events.timestamp_format if they mean something else"
    ]
