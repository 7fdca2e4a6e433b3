"""Reading experience events and profiles, and accounting for every row.

Every input row is kept, dropped as a duplicate, or quarantined with a reason, and
`data_quality.json` reconciles `rows_read = rows_kept + rows_quarantined + duplicates_dropped`.
The work runs in DuckDB through Ibis (out-of-core when needed); only summaries come back to Python.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.datatypes as dt
import pandas as pd

from workbench.config import DELIMITERS
from workbench.engine import duckdb_connection, spill_directory
from workbench.errors import ConfigError, DataError
from workbench.readiness import profile_match

if TYPE_CHECKING:
    from workbench.config import Config, EventsConfig, ProfilesConfig

CANONICAL = ("profile_id", "timestamp", "event_type")

# Text timestamps without a timestamp_format: ISO-8601 (DuckDB's cast, offsets converted to UTC),
# epoch numbers, then date patterns by separator, each with no time, %H:%M, %H:%M:%S or 12-hour
# %I:%M(:%S) %p, picked per value from its shape (a failed strptime costs as much as a match).
# Neutral ones cannot be read two ways; month-first and day-first ones can (01/02/2024), so a
# column is read with one day order only: day-first when more of its values parse that way.
NEUTRAL_DATES = {"/": "%Y/%m/%d"}  # and yyyymmdd / yyyymmddHHMMSS digits
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


@ibis.udf.scalar.builtin(name="json_extract_string")
def _json_text(value: dt.JSON, path: str) -> str:  # type: ignore[valid-type]
    """DuckDB's JSON ->> path: a JSON scalar as plain text ("abc" -> abc)."""


def detect_format(path: Path, declared: str = "auto") -> str:
    if declared != "auto":
        return declared
    name = path.name.lower()
    for suffix in (".gz", ".gzip", ".zst"):
        name = name.removesuffix(suffix)
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    return "csv"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# Lines of a DuckDB error that only repeat the reader options or generic advice.
_BOILERPLATE = (
    "Original Line",
    "Possible Solution",
    "Possible solutions",
    "*",
    "Try ",
    "This type",
)


def _duckdb_message(exc: BaseException, what: str = "events") -> str:
    """DuckDB's first line plus the line that says what is wrong, and a hint for the config key."""
    lines = [ln.strip() for ln in str(exc).strip().splitlines()]
    first = lines[0] if lines else type(exc).__name__
    detail = next(
        (
            ln
            for raw, ln in zip(str(exc).strip().splitlines()[1:], lines[1:], strict=True)
            if ln and not raw.startswith(" ") and not ln.startswith(_BOILERPLATE)
        ),
        "",
    )
    text = f"{first}: {detail}" if detail and detail not in first else first
    if "not utf-8 encoded" in text.lower() or "invalid unicode" in text.lower():
        text += f" (set {what}.encoding: latin-1, or utf-16)"
    return text


def _retry_with_full_scan(exc: BaseException) -> bool:
    """Errors that a type detection over the whole file (not DuckDB's first rows) can cure."""
    import duckdb

    text = str(exc)
    if isinstance(exc, duckdb.ConversionException) or "JSON transform error" in text:
        return True
    return "CSV Error" in text and "utf-8" not in text.lower()


def _check_file(path: Path | None, what: str) -> Path:
    if path is None:
        raise ConfigError(f"{what}.path is not set")
    if not path.exists():
        raise DataError(f"{path}: {what} file not found")
    if path.is_dir():
        raise DataError(f"{path}: {what} path is a folder, expected a file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: {what} file is empty")
    return path


def _whitespace_to_parquet(
    con,
    path: Path,
    text_columns: list[str],
    tmpdir: Path,
    encoding: str | None,
    decimal: str | None,
) -> Path:
    """Whitespace-separated text (any run of spaces/tabs) is not a DuckDB CSV dialect: convert once.

    Every column is read as text, then each one that is a number in every row of the whole file
    becomes BIGINT or DOUBLE (pandas would guess per chunk and disagree between chunks)."""
    raw = tmpdir / "whitespace_text.parquet"
    out = tmpdir / "whitespace.parquet"
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    try:
        reader = pd.read_csv(
            path,
            sep=r"\s+",
            dtype=str,
            chunksize=500_000,
            engine="c",
            encoding=encoding or "utf-8",
        )
        for chunk in reader:
            table = pa.Table.from_pandas(chunk, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(raw, table.schema)
            writer.write_table(table.cast(writer.schema))
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, pa.ArrowInvalid) as exc:
        hint = " (set encoding: latin-1)" if isinstance(exc, UnicodeDecodeError) else ""
        raise DataError(
            f"{path}: cannot read as whitespace-separated text: {_first_line(exc)}{hint}"
        ) from None
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        raise DataError(f"{path}: file has a header but no rows")
    text = con.read_parquet(str(raw))
    blank = {c: text[c].nullif("") for c in text.columns}
    if decimal == ",":
        blank = {c: v.replace(",", ".") for c, v in blank.items()}
    numeric = [c for c in text.columns if c not in text_columns]
    checks = {}
    for i, c in enumerate(numeric):
        checks[f"n{i}"] = blank[c].count()
        # By pattern: DuckDB's text -> BIGINT cast rounds '11.77' to 12.
        is_int = blank[c].re_search(r"^[+-]?[0-9]{1,18}$")
        checks[f"i{i}"] = is_int.cast("int64").sum()
        checks[f"f{i}"] = blank[c].try_cast("float64").count()
    counts = text.aggregate(**checks).to_pyarrow().to_pylist()[0] if checks else {}
    cast = {}
    for i, c in enumerate(numeric):
        if counts[f"n{i}"] > 0 and (counts[f"i{i}"] or 0) == counts[f"n{i}"]:
            cast[c] = blank[c].cast("int64")
        elif counts[f"n{i}"] > 0 and counts[f"f{i}"] == counts[f"n{i}"]:
            cast[c] = blank[c].cast("float64")
    cols = [cast.get(c, text[c]).name(c) for c in text.columns]
    con.to_parquet(text.select(cols), str(out))
    return out


def _json_keys_beyond(con, path: Path, columns: list[str]) -> bool:
    """True when some record has a top-level key DuckDB's sampled schema left out (it would be
    dropped silently). One parallel pass over the raw objects, much cheaper than a full sniff."""
    found = con.con.execute(
        "SELECT DISTINCT unnest(json_keys(json)) FROM read_json_objects(?, format = 'newline_delimited')",
        [str(path)],
    ).fetchall()
    return bool({k for (k,) in found} - set(columns))


def read_source(
    con,
    path: Path,
    fmt: str,
    delimiter: str | None,
    text_columns: list[str],
    tmpdir: Path,
    what: str = "events",
    *,
    encoding: str | None = None,
    decimal_separator: str | None = None,
    full_scan: bool = False,
):
    """Open a file as an Ibis table on `con`, with `text_columns` kept as text (ids stay zero-padded).

    Column types come from DuckDB's detection over the first rows; with `full_scan` (used again
    when a later row does not fit those types) it looks at every row."""
    path = _check_file(path, what)
    fmt = detect_format(path, fmt)
    if fmt != "csv" and (encoding or decimal_separator):
        key = "encoding" if encoding else "decimal_separator"
        raise ConfigError(f"{what}.{key}: only for csv/text files, {path.name} is read as {fmt}")
    try:
        if fmt == "parquet":
            table = con.read_parquet(str(path))
        elif fmt == "jsonl":
            kwargs: dict[str, Any] = {"format": "newline_delimited"}
            if full_scan:
                kwargs["sample_size"] = -1
            table = con.read_json(str(path), **kwargs)
            if not full_scan and _json_keys_beyond(con, path, table.columns):
                table = con.read_json(str(path), sample_size=-1, **kwargs)
        elif delimiter == "whitespace":
            parquet = _whitespace_to_parquet(
                con, path, text_columns, tmpdir, encoding, decimal_separator
            )
            table = con.read_parquet(str(parquet))
        else:
            kwargs = {"header": True}
            if delimiter is not None:
                kwargs["delim"] = DELIMITERS[delimiter]
            if encoding is not None:
                kwargs["encoding"] = encoding
            if decimal_separator is not None:
                kwargs["decimal_separator"] = decimal_separator
            probe = con.read_csv(str(path), **kwargs)
            types = {c: "VARCHAR" for c in text_columns if c in probe.columns}
            if full_scan:
                kwargs["sample_size"] = -1
            table = con.read_csv(str(path), types=types, **kwargs) if types or full_scan else probe
    except (ConfigError, DataError):
        raise
    except Exception as exc:  # DuckDB raises many error types for a file in the wrong format
        raise DataError(f"{path}: cannot read as {fmt}: {_duckdb_message(exc, what)}") from None
    table = flatten_structs(table)
    if len(table.columns) == 0:
        raise DataError(f"{path}: no columns found")
    return table


def flatten_structs(table):
    """Nested records become dotted columns, e.g. `commerce.order.priceTotal`."""
    while True:
        nested = [c for c in table.columns if table.schema()[c].is_struct()]
        if not nested:
            return table
        cols = []
        for name in table.columns:
            col = table[name]
            if name in nested:
                for field in table.schema()[name].names:
                    cols.append(col[field].name(f"{name}.{field}"))
            else:
                cols.append(col)
        table = table.select(cols)


def _mapped(columns: dict[str, str], canonical: str) -> str:
    return columns.get(canonical, canonical)


def _require_columns(table, needed: dict[str, str], path: Path) -> None:
    for canonical, source in needed.items():
        if source not in table.columns:
            available = ", ".join(table.columns)
            hint = "" if source == canonical else f" (mapped to {canonical})"
            raise DataError(f"{path}: column '{source}'{hint} not found; available: {available}")


def _parsers(col, fmt: str | None) -> dict[str, Any]:
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


def parse_timestamp(col, fmt: str | None, day_first: bool = False):
    """Any timestamp-like column -> naive UTC timestamp; NULL where it cannot be parsed."""
    parsers = _parsers(col, fmt)
    if "month_first" not in parsers:
        return parsers["neutral"]
    return ibis.coalesce(parsers["neutral"], parsers["day_first" if day_first else "month_first"])


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


def _in_range(ts):
    return (ts >= EARLIEST_TIMESTAMP.to_pydatetime()) & (ts < LATEST_TIMESTAMP.to_pydatetime())


def _scalar_column(col, name: str, canonical: str, where: Path | str):
    """A canonical column must hold one value per row. XDM's identity list (`identityMap.ECID`:
    [{id, primary}, ...]) gives the id flagged primary, else the first; other lists/objects are an error."""
    dtype = col.type()
    if dtype.is_json():
        return _json_text(col, "$")
    if canonical == "profile_id" and dtype.is_array() and dtype.value_type.is_struct():
        fields = dtype.value_type.names
        if "id" in fields:
            first = col[0]["id"]
            if "primary" in fields and dtype.value_type["primary"].is_boolean():
                return ibis.coalesce(col.filter(lambda e: e["primary"])[0]["id"], first)
            return first
    if dtype.is_array() or dtype.is_struct() or dtype.is_map():
        raise DataError(
            f"{where}: column '{name}' (mapped to {canonical}) holds lists/objects ({dtype}), "
            f"not one value per row; map columns.{canonical} to a scalar field inside it"
        )
    return col


def normalise_profile_id(col):
    """Ids as text, trimmed; an integral float id ("12346.0", from a column with blanks that was
    read as DOUBLE) becomes "12346", so events and profiles files agree."""
    text = col.cast("string").strip()
    return ibis.cases(
        (text.contains(".") & text.endswith("0"), text.re_replace(r"^(-?[0-9]+)\.0+$", r"\1")),
        else_=text,
    )


def _check_dedupe_keys(dedupe, columns: list[str], path: Path) -> None:
    missing = [k for k in dedupe if k not in columns] if isinstance(dedupe, list) else []
    if missing:
        raise DataError(
            f"{path}: events.dedupe column(s) {missing} not found; available: {', '.join(columns)}"
        )


def _source_table(con, cfg: EventsConfig, tmpdir: Path, full_scan: bool = False):
    if cfg.table is not None:
        return _external_table(con, cfg)
    cols = cfg.columns
    text_columns = [_mapped(cols, "profile_id"), _mapped(cols, "timestamp")]
    if cfg.event_type is None:
        text_columns.append(_mapped(cols, "event_type"))
    return read_source(
        con,
        cfg.path,
        cfg.format,
        cfg.delimiter,
        text_columns,
        tmpdir,
        encoding=cfg.encoding,
        decimal_separator=cfg.decimal_separator,
        full_scan=full_scan,
    )


def _external_table(con, cfg: EventsConfig):
    """`events: {table: ..., connection: ...}`: a DuckDB database file or any Ibis connection URL."""
    conn = cfg.connection
    if conn is None:
        raise ConfigError("events.connection is required with events.table")
    try:
        if "://" not in conn:
            path = Path(conn)
            if not path.exists():
                raise DataError(f"{path}: database file not found")
            # Attach read-only: the table is scanned in place, never copied into memory.
            con.attach(str(path), name="source_db", read_only=True)
            # (catalog, schema): a bare "source_db" would be read as a schema of the memory catalog.
            tables = con.list_tables(database=("source_db", "main"))
            if cfg.table not in tables:
                raise DataError(
                    f"{conn}: table '{cfg.table}' not found; available: {', '.join(tables)}"
                )
            return flatten_structs(con.table(cfg.table, database=("source_db", "main")))
        src = ibis.connect(conn)
        tables = src.list_tables()
        if cfg.table not in tables:
            raise DataError(
                f"{conn}: table '{cfg.table}' not found; available: {', '.join(tables)}"
            )
        # Another backend: stream its rows into the working engine batch by batch.
        batches = src.table(cfg.table).to_pyarrow_batches()
        return flatten_structs(con.create_table("_external_events", batches.read_all(), temp=True))
    except (ConfigError, DataError):
        raise
    except Exception as exc:
        raise DataError(f"{conn}: cannot open table '{cfg.table}': {_first_line(exc)}") from None


def stage_events(source, cfg: EventsConfig, where: Path | str):
    """Map to canonical columns, with the timestamp parsed every way it might need to be.

    Besides `profile_id`, `event_type` and the other columns, the staged rows carry `_ts` (the
    neutral parse), `_ts_month_first`/`_ts_day_first` (text columns without a format only),
    `_ts_missing` and `_raw_timestamp` (the source text, kept for rows that may be quarantined).
    `finish_events` then picks the day order and adds `_reason`."""
    cols = cfg.columns
    needed = {"profile_id": _mapped(cols, "profile_id"), "timestamp": _mapped(cols, "timestamp")}
    if cfg.event_type is None:
        needed["event_type"] = _mapped(cols, "event_type")
    elif "event_type" in cols:
        raise ConfigError(
            f"{where}: events: give either columns.event_type or a constant event_type, not both"
        )
    _require_columns(source, needed, Path(str(where)))

    raw_pid = _scalar_column(
        source[needed["profile_id"]], needed["profile_id"], "profile_id", where
    )
    pid = normalise_profile_id(raw_pid)
    raw_ts = _scalar_column(source[needed["timestamp"]], needed["timestamp"], "timestamp", where)
    parsers = _parsers(raw_ts, cfg.timestamp_format)
    if cfg.event_type is None:
        raw_type = source[needed["event_type"]]
        event_type = _scalar_column(raw_type, needed["event_type"], "event_type", where)
        event_type = event_type.cast("string").strip()
    else:
        event_type = ibis.literal(cfg.event_type, type="string")

    # Only text timestamps can be blank; casting typed ones to text would cost a pass over every row.
    is_text = raw_ts.type().is_string()
    ts_missing = raw_ts.isnull() | (raw_ts.strip() == "") if is_text else raw_ts.isnull()
    neutral = parsers["neutral"]
    suspect = (
        pid.isnull()
        | (pid == "")
        | neutral.isnull()
        | ~_in_range(neutral)
        | event_type.isnull()
        | (event_type == "")
    )
    raw_text = raw_ts if is_text else raw_ts.cast("string")
    extra = []
    if "month_first" in parsers:
        unparsed = neutral.isnull() & ~ts_missing
        for key in ("month_first", "day_first"):
            extra.append(
                ibis.cases((unparsed, parsers[key]), else_=ibis.null(dt.Timestamp())).name(
                    f"_ts_{key}"
                )
            )
    used = set(needed.values())
    rest = [source[c] for c in source.columns if c not in used and c not in CANONICAL]
    clashes = [c for c in source.columns if c in CANONICAL and c not in used]
    if clashes:
        # A column literally named like a canonical one but not mapped to it keeps its data under a new name.
        rest += [source[c].name(f"source_{c}") for c in clashes]
    return source.select(
        pid.name("profile_id"),
        event_type.name("event_type"),
        *rest,
        neutral.name("_ts"),
        *extra,
        ts_missing.name("_ts_missing"),
        ibis.cases((suspect, raw_text), else_=ibis.null("string")).name("_raw_timestamp"),
    )


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


_STAGING_COLUMNS = ("_ts", "_ts_month_first", "_ts_day_first", "_ts_missing")


def finish_events(staged, order: dict[str, Any] | None):
    """Canonical columns (profile_id, timestamp, event_type, others...) plus `_reason` (NULL for
    good rows) and `_raw_timestamp`, from the staged rows and the chosen day order."""
    ts = staged._ts
    if order is not None:
        chosen = staged._ts_day_first if order["order"] == "day-first" else staged._ts_month_first
        ts = ibis.coalesce(ts, chosen)
    pid, event_type = staged.profile_id, staged.event_type
    reason = ibis.cases(
        (pid.isnull() | (pid == ""), "missing profile_id"),
        (staged._ts_missing, "missing timestamp"),
        (ts.isnull(), UNPARSEABLE),
        (~_in_range(ts), OUT_OF_RANGE),
        (event_type.isnull() | (event_type == ""), "missing event_type"),
        else_=ibis.null("string"),
    )
    internal = {"profile_id", "event_type", "_raw_timestamp", *_STAGING_COLUMNS}
    rest = [c for c in staged.columns if c not in internal]
    return staged.select(
        pid,
        ts.name("timestamp"),
        event_type,
        *rest,
        reason.name("_reason"),
        staged._raw_timestamp,
    )


def _materialise(con, name: str, build, where, label: str, what: str = "events", retry=True):
    """Create temp table `name` from `build(full_scan)`. A type guessed from DuckDB's first rows
    that a later row breaks is retried with detection over the whole file; any DuckDB error left
    becomes one DataError line (the first error when the retry fails too: it names the row)."""
    import duckdb

    first: BaseException | None = None
    for full_scan in (False, True):
        try:
            return con.create_table(name, build(full_scan), temp=True, overwrite=True)
        except duckdb.Error as exc:
            if retry and not full_scan and _retry_with_full_scan(exc):
                first = exc
                continue
            error = first or exc
        except DataError:
            if first is None:
                raise
            error = first
        raise DataError(f"{where}: cannot read {label}: {_duckdb_message(error, what)}") from None
    raise AssertionError("unreachable")  # pragma: no cover


def _stage(con, cfg: EventsConfig, where, tmpdir: Path):
    """The staged events as a temp table (see `stage_events`)."""
    if cfg.path is None:
        build = lambda full_scan: stage_events(_external_table(con, cfg), cfg, where)  # noqa: E731
        return _materialise(con, "_staged_events", build, where, "table", retry=False)

    def build(full_scan: bool):
        return stage_events(_source_table(con, cfg, tmpdir, full_scan), cfg, where)

    label = f"as {detect_format(cfg.path, cfg.format)}"
    return _materialise(con, "_staged_events", build, where, label)


def ingest_events(config: Config, out_dir: str | Path, con=None) -> dict[str, Any]:
    """Read, map, quarantine and dedupe the events; write events.parquet, quarantine.csv, data_quality.json.

    Returns the data quality report (also written as JSON).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg = config.events
    con = con or duckdb_connection(
        config.duckdb.memory_limit, config.duckdb.threads, spill_directory()
    )
    where = cfg.path if cfg.path is not None else f"{cfg.connection}:{cfg.table}"
    ts_column = _mapped(cfg.columns, "timestamp")
    notices: list[str] = []
    with tempfile.TemporaryDirectory(prefix="workbench-") as tmp:
        staged = _stage(con, cfg, where, Path(tmp))
        rows_read = int(staged.count().to_pyarrow().as_py())
        if rows_read == 0:
            raise DataError(f"{where}: file has no rows")
        order = day_order(staged)
        if order is not None:
            notices += _day_order_notices(staged, order, ts_column)
        final = finish_events(staged, order)

        bad = final.filter(final._reason.notnull())
        reasons = bad.group_by("_reason").aggregate(rows=bad.count()).to_pandas()
        quarantine_counts = {
            str(r): int(n)
            for r, n in sorted(
                zip(reasons["_reason"], reasons["rows"], strict=True), key=lambda x: -x[1]
            )
        }
        rows_quarantined = int(sum(quarantine_counts.values()))
        quarantine_path = out_dir / "quarantine.csv"
        _write_quarantine(con, bad, quarantine_path)
        _check_enough_rows(final, cfg, where, ts_column, rows_read, quarantine_counts)

        good = final.filter(final._reason.isnull()).drop("_reason", "_raw_timestamp")
        keys = cfg.dedupe
        _check_dedupe_keys(keys, good.columns, Path(str(where)))
        if keys == "none":
            kept = good
        elif keys == "exact":
            kept = good.distinct()
        else:
            kept = _dedupe_by_key(good, keys)
        events_path = out_dir / "events.parquet"
        con.to_parquet(kept, str(events_path))

    events = con.read_parquet(str(events_path))
    summary = (
        events.aggregate(
            rows=events.count(),
            profiles=events.profile_id.nunique(),
            first_event=events.timestamp.min(),
            last_event=events.timestamp.max(),
        )
        .to_pandas()
        .iloc[0]
    )
    rows_kept = int(summary["rows"])
    by_type = (
        events.group_by("event_type")
        .aggregate(rows=events.count())
        .order_by(ibis.desc("rows"))
        .to_pandas()
    )
    duplicates_dropped = rows_read - rows_quarantined - rows_kept
    schema = events.schema()
    quality: dict[str, Any] = {
        "source": str(where),
        "rows_read": rows_read,
        "rows_kept": rows_kept,
        "rows_quarantined": rows_quarantined,
        "duplicates_dropped": duplicates_dropped,
        "dedupe": cfg.dedupe,
        "reconciles": rows_read == rows_kept + rows_quarantined + duplicates_dropped
        and duplicates_dropped >= 0,
        "quarantine_reasons": quarantine_counts,
        "profiles": int(summary["profiles"]),
        "event_types": {
            str(t): int(n) for t, n in zip(by_type["event_type"], by_type["rows"], strict=True)
        },
        "first_event": _iso(summary["first_event"]),
        "last_event": _iso(summary["last_event"]),
        "columns": {name: str(schema[name]) for name in schema.names},
        "files": {"events": str(events_path), "quarantine": str(quarantine_path)},
        "timestamp": _timestamp_report(cfg, ts_column, order),
        "notices": notices,
    }
    if config.profiles is not None:
        profiles_quality = ingest_profiles(config, out_dir, con)
        profiles_quality["match"] = profile_match(
            con.read_parquet(str(events_path)), con.read_parquet(profiles_quality["file"])
        )
        quality["profiles_file"] = profiles_quality
    (out_dir / "data_quality.json").write_text(json.dumps(quality, indent=2, default=str))
    return quality


def _timestamp_report(cfg: EventsConfig, column: str, order: dict[str, Any] | None) -> dict:
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


def _day_order_notices(staged, order: dict[str, Any], column: str) -> list[str]:
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


def _check_enough_rows(final, cfg, where, column: str, rows_read: int, reasons: dict) -> None:
    """One line instead of a run on nothing: most timestamps unparseable, or every row quarantined."""
    unparseable = reasons.get(UNPARSEABLE, 0)
    if unparseable * 2 > rows_read:
        example = (
            final.filter(final._reason == UNPARSEABLE)
            .select("_raw_timestamp")
            .limit(1)
            .to_pyarrow()
            .to_pylist()
        )
        value = example[0]["_raw_timestamp"] if example else None
        if cfg.timestamp_format is not None:
            hint = f"check events.timestamp_format ({cfg.timestamp_format!r})"
        else:
            hint = "set events.timestamp_format to its pattern (e.g. '%d.%m.%Y %H:%M')"
        raise DataError(
            f"{where}: column '{column}': {unparseable:,} of {rows_read:,} timestamps do not parse "
            f"(e.g. {value!r}); {hint}; the rows are in quarantine.csv"
        )
    if sum(reasons.values()) == rows_read:
        listed = ", ".join(f"{r}: {n:,}" for r, n in reasons.items())
        raise DataError(
            f"{where}: no event rows left: {rows_read:,} read, all quarantined ({listed}); "
            "see quarantine.csv"
        )


def _dedupe_by_key(good, keys: list[str]):
    """Keep the earliest row of each key. Only keys that repeat go through the (sorting) window,
    so a large, mostly unique export costs one hash aggregate instead of a full sort."""
    repeated = good.group_by(keys).aggregate(_n=good.count()).filter(lambda t: t._n > 1).drop("_n")
    has_null = ibis.or_(*[good[k].isnull() for k in keys])
    unique_rows = good.anti_join(repeated, keys)
    candidates = good.semi_join(repeated, keys)
    ranked = candidates.mutate(
        _rank=ibis.row_number().over(
            group_by=[candidates[k] for k in keys],
            order_by=[candidates.timestamp, candidates.profile_id],
        )
    )
    # Rows with a missing key cannot be duplicates of each other: they all stay.
    null_rows = good.filter(has_null)
    return (
        unique_rows.filter(~has_null)
        .union(ranked.filter(ranked._rank == 0).drop("_rank"))
        .union(null_rows, distinct=False)
    )


def _write_quarantine(con, bad, path: Path) -> None:
    """The quarantined rows as read: `timestamp` holds the source text (e.g. '13.08.2011 10:32')."""
    renamed = bad.mutate(timestamp=bad._raw_timestamp).drop("_raw_timestamp")
    renamed = renamed.rename(reason="_reason")
    cols = ["reason"] + [c for c in renamed.columns if c != "reason"]
    # Text everywhere so a mixed-type quarantine still writes; the rows are for people to read.
    renamed = renamed.select([renamed[c].cast("string").name(c) for c in cols])
    con.to_csv(renamed, str(path))


def _iso(value) -> str | None:
    if value is None or pd.isna(value):
        return None
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return ts.isoformat()


def ingest_profiles(config: Config, out_dir: str | Path, con=None) -> dict[str, Any]:
    """Profile attributes: one row per profile; rows without an id are quarantined, repeats dropped."""
    cfg: ProfilesConfig = config.profiles  # type: ignore[assignment]
    out_dir = Path(out_dir)
    con = con or duckdb_connection()
    pid_col = _mapped(cfg.columns, "profile_id")
    with tempfile.TemporaryDirectory(prefix="workbench-") as tmp:

        def build(full_scan: bool):
            source = read_source(
                con,
                cfg.path,
                cfg.format,
                cfg.delimiter,
                [pid_col],
                Path(tmp),
                "profiles",
                encoding=cfg.encoding,
                decimal_separator=cfg.decimal_separator,
                full_scan=full_scan,
            )
            _require_columns(source, {"profile_id": pid_col}, cfg.path)
            raw_pid = _scalar_column(source[pid_col], pid_col, "profile_id", cfg.path)
            others = [source[c] for c in source.columns if c != pid_col and c != "profile_id"]
            return source.select(normalise_profile_id(raw_pid).name("profile_id"), *others)

        label = f"as {detect_format(cfg.path, cfg.format)}"
        table = _materialise(con, "_staged_profiles", build, cfg.path, label, "profiles")
        rows_read = int(table.count().to_pyarrow().as_py())
        if rows_read == 0:
            raise DataError(f"{cfg.path}: profiles file has no rows")
        missing = table.filter(table.profile_id.isnull() | (table.profile_id == ""))
        rows_missing = int(missing.count().to_pyarrow().as_py())
        good = table.filter(table.profile_id.notnull() & (table.profile_id != ""))
        ranked = good.mutate(_rank=ibis.row_number().over(group_by=good.profile_id))
        kept = ranked.filter(ranked._rank == 0).drop("_rank")
        path = out_dir / "profiles.parquet"
        con.to_parquet(kept, str(path))
    rows_kept = int(con.read_parquet(str(path)).count().to_pyarrow().as_py())
    return {
        "source": str(cfg.path),
        "rows_read": rows_read,
        "rows_kept": rows_kept,
        "rows_quarantined": rows_missing,
        "duplicates_dropped": rows_read - rows_missing - rows_kept,
        "reconciles": True,
        "columns": [c for c in kept.columns if c != "profile_id"],
        "file": str(path),
    }


PERSONAL_DATA = re.compile(
    r"(^|[._\s])(e?_?mail|email\w*|phone\w*|mobile|name|first_?name|last_?name|full_?name|"
    r"surname|address\w*|street|postcode|zip_?code|ssn|birth_?date|date_?of_?birth|ip_?address)$",
    re.IGNORECASE,
)


def is_personal_data(column: str) -> bool:
    """Columns named like personal data (email, phone, name, address) are never features."""
    last = column.split(".")[-1]
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", last).lower()
    tokens = set(re.split(r"[_\s\-]+", snake))
    return bool(
        tokens
        & {
            "email",
            "mail",
            "phone",
            "mobile",
            "name",
            "firstname",
            "lastname",
            "fullname",
            "surname",
            "address",
            "street",
            "postcode",
            "zipcode",
            "ssn",
            "birthdate",
            "dob",
            "ip",
        }
    ) or bool(PERSONAL_DATA.search(snake))
