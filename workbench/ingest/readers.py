"""Readers: a file (csv/tsv/whitespace, parquet, jsonl, .gz) or a database table as an Ibis table.

Column types come from DuckDB's detection over the first rows; `materialise` retries with
detection over every row when a later row breaks that guess, and turns any DuckDB error left
into one `DataError` line that names the file and the config key to change.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.datatypes as dt
import pandas as pd

from workbench.errors import ConfigError, DataError
from workbench.ingest import diagnose
from workbench.ingest.sources import (
    TIME_PARTITIONS,
    SourceFiles,
    csv_options,
    list_files,
    read_jsonl,
    read_parquet,
)

if TYPE_CHECKING:
    from workbench.config import EventsConfig


@ibis.udf.scalar.builtin(name="json_extract_string")
def json_text(value: dt.JSON, path: str) -> str:  # type: ignore[valid-type]
    """DuckDB's JSON ->> path: a JSON scalar as plain text ("abc" -> abc)."""


def first_line(exc: BaseException) -> str:
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


def duckdb_message(exc: BaseException, what: str = "events") -> str:
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


def file_message(exc: BaseException, path, what: str = "events") -> str:
    """`duckdb_message`, with the row named where DuckDB's own line number is not that row's."""
    if "Maximum line size" in str(exc) and isinstance(path, Path) and path.is_file():
        found = diagnose.overlong_line(path)
        if found:
            return found
    if isinstance(path, Path) and path.is_file() and "gzip" in str(exc).lower():
        diagnose.check_gzip_complete(path)
    return duckdb_message(exc, what)


def _retry_with_full_scan(exc: BaseException) -> bool:
    """Errors that a type detection over the whole file (not DuckDB's first rows) can cure."""
    import duckdb

    text = str(exc)
    if isinstance(exc, duckdb.ConversionException) or "JSON transform error" in text:
        return True
    return "CSV Error" in text and "utf-8" not in text.lower()


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
    diagnose.check_first_row_width(path, encoding)
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
            f"{path}: cannot read as whitespace-separated text: {first_line(exc)}{hint}"
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


def read_source(
    con, cfg, text_columns: list[str], tmpdir: Path, what: str = "events", *, full_scan=False
):
    """Open the files of `cfg.path` (a file, glob, folder or list; see `sources`) as one Ibis
    table on `con`, with `text_columns` kept as text (ids stay zero-padded), records flattened.

    Column types come from DuckDB's detection over the first rows; with `full_scan` (used again
    when a later row does not fit those types) it looks at every row. `cfg.types` are applied
    by the caller (`sources.apply_types`), which counts the values that do not fit."""
    files = list_files(cfg.path, cfg.format, what)
    fmt = files.fmt
    if fmt != "csv" and (cfg.encoding or cfg.decimal_separator):
        key = "encoding" if cfg.encoding else "decimal_separator"
        raise ConfigError(f"{what}.{key}: only for csv/text files, {files.where} is read as {fmt}")
    if fmt != "csv" and (cfg.header is not None or cfg.names):
        raise ConfigError(f"{what}.header: only for csv files, {files.where} is read as {fmt}")
    paths = [str(f) for f in files.files]
    if fmt == "csv":
        for f in files.files:
            diagnose.check_not_spreadsheet(f, what)
    try:
        if fmt == "parquet":
            table = read_parquet(con, files)
        elif fmt == "jsonl":
            table = read_jsonl(con, files, full_scan)
        elif cfg.delimiter == "whitespace":
            if len(paths) > 1:
                raise ConfigError(f"{what}.path: whitespace-separated text is read from one file")
            parquet = _whitespace_to_parquet(
                con, files.files[0], text_columns, tmpdir, cfg.encoding, cfg.decimal_separator
            )
            table = con.read_parquet(str(parquet))
        else:
            kwargs = csv_options(cfg, files)
            probe = con.read_csv(paths, **kwargs)
            if len(probe.columns) == 1 and any(d in probe.columns[0] for d in ",;\t|"):
                # The sniffer gave up (a ragged file, a cut-off .gz): say where, not "not found".
                for f in files.files:
                    diagnose.check_csv_rows(f, kwargs.get("delim"), cfg.encoding)
            types = {} if kwargs.get("all_varchar") else text_columns
            types = {c: "VARCHAR" for c in types if c in probe.columns}
            if full_scan:
                kwargs["sample_size"] = -1
            table = con.read_csv(paths, types=types, **kwargs) if types or full_scan else probe
    except (ConfigError, DataError):
        raise
    except Exception as exc:  # DuckDB raises many error types for a file in the wrong format
        single = files.files[0] if len(files.files) == 1 else None
        raise DataError(
            f"{files.where}: cannot read as {fmt}: {file_message(exc, single, what)}"
        ) from None
    table = flatten_structs(_partition_columns(table, files))
    if len(table.columns) == 0:
        raise DataError(f"{files.where}: no columns found")
    return table


def _partition_columns(table, files: SourceFiles):
    """Hive partition values as text; time parts (year=, month=, dt=) repeat the timestamp and
    are left out (`source_notices` says so)."""
    keys = [k for k in files.partitions if k in table.columns]
    drop = [k for k in keys if k.lower() in TIME_PARTITIONS]
    keep = {k: table[k].cast("string") for k in keys if k not in drop}
    if keep:
        table = table.mutate(**keep)
    return table.drop(*drop) if drop else table


def source_notices(files: SourceFiles, what: str = "events") -> list[str]:
    """What reading the files decided that the analyst should know."""
    out = []
    drop = [k for k in files.partitions if k.lower() in TIME_PARTITIONS]
    if drop:
        out.append(
            f"{what}: partition folders {drop} repeat the event time and are not read as columns"
        )
    if files.skipped_empty:
        out.append(f"{what}: {files.skipped_empty} empty file(s) skipped")
    return out


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


def mapped_column(columns: dict[str, Any], canonical: str) -> str:
    """The one source column of a canonical column (`timestamp`; see `identity` for lists)."""
    value = columns.get(canonical, canonical)
    return value if isinstance(value, str) else canonical


def require_columns(table, needed: dict[str, str], path: Path) -> None:
    for canonical, source in needed.items():
        if source not in table.columns:
            available = ", ".join(table.columns)
            hint = "" if source == canonical else f" (mapped to {canonical})"
            raise DataError(f"{path}: column '{source}'{hint} not found; available: {available}")


def source_table(con, cfg: EventsConfig, tmpdir: Path, full_scan: bool = False):
    from workbench.ingest.identity import source_columns

    cols = cfg.columns
    text_columns = source_columns(cols.get("profile_id", "profile_id"))
    text_columns.append(mapped_column(cols, "timestamp"))
    if cfg.event_type is None:
        text_columns += source_columns(cols.get("event_type", "event_type"))
    return read_source(con, cfg, text_columns, tmpdir, "events", full_scan=full_scan)


def materialise(con, name: str, build, where, label: str, what: str = "events", retry=True):
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
        path = Path(str(where))
        raise DataError(
            f"{where}: cannot read {label}: {file_message(error, path, what)}"
        ) from None
    raise AssertionError("unreachable")  # pragma: no cover


def scalar_column(col, name: str, canonical: str, where: Path | str):
    """A canonical column must hold one value per row. XDM's identity list (`identityMap.ECID`:
    [{id, primary}, ...]) gives the id flagged primary, else the first; other lists/objects are an error."""
    dtype = col.type()
    if dtype.is_json():
        return json_text(col, "$")
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
    read as DOUBLE) becomes "12346", so events and profiles files agree. A NaN id is a missing
    one (quarantined), never a profile named "nan"."""
    text = col.cast("string").strip()
    if col.type().is_floating():
        text = ibis.cases((col.isnan() | col.isinf(), ibis.null("string")), else_=text)
    return ibis.cases(
        (text.contains(".") & text.endswith("0"), text.re_replace(r"^(-?[0-9]+)\.0+$", r"\1")),
        else_=text,
    )


def frame_table(con, frame, what: str = "events"):
    """A pandas or Arrow frame (events or profiles passed from Python) as a table on `con`."""
    import pyarrow as pa

    if isinstance(frame, pd.DataFrame):
        table = pa.Table.from_pandas(frame, preserve_index=False)
    elif isinstance(frame, (pa.Table, pa.RecordBatch)):
        table = frame if isinstance(frame, pa.Table) else pa.Table.from_batches([frame])
    else:
        raise DataError(
            f"{what}: expected a pandas DataFrame or an Arrow table, got {type(frame).__name__}"
        )
    if table.num_columns == 0:
        raise DataError(f"{what} frame: no columns")
    return flatten_structs(con.create_table(f"_frame_{what}", table, temp=True, overwrite=True))
