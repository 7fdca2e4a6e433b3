"""Warehouse tables: the work pushed into the database through Ibis, the rows streamed out.

`events: {table: events, connection: <Ibis URL>}` (`postgres://user@host/db`; install the
`postgres` extra, or the Ibis extra of another backend) does not copy the table. One query runs
in the database and
- selects only the columns a run can use: columns in `features.exclude`, named like personal
  data or known to be technical (see `workbench.technical`) never leave the database unless the
  column mapping, `dedupe` or a condition names them;
- keeps only the events before the run's as-of date when it has one (`scoring.as_of`, or the
  `--as-of` of `workbench run`/`validate`/`score`): no stage uses a later event, and the rows
  left in the database are counted (`data_quality.json`: `source.rows_after_horizon`);
- sends JSON/JSONB columns as text, which ingest then parses into fields like a JSON file's.
The result streams into a local file, so memory never holds the table: from Postgres as
`COPY (query) TO STDOUT` in CSV, block by block (read back with the query's types); from other
backends (or columns CSV cannot carry) in Arrow batches through a server-side cursor into
Parquet. Ingest then goes on as for a file: quarantine, dedupe, data quality.

A DuckDB database file (`connection: warehouse.duckdb`) is attached read-only and scanned in
place: DuckDB is the engine, so nothing needs pushing.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import pandas as pd

from workbench.errors import ConfigError, DataError

if TYPE_CHECKING:
    from workbench.config import Config

BATCH_ROWS = 50_000


def redact(url: str) -> str:
    """A connection URL without its password (for messages and data_quality.json)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _heads(paths, columns: list[str]) -> set[str]:
    """The table columns field paths read (`props.total` reads `props`)."""
    out = set()
    for path in paths:
        parts = str(path).split(".")
        for i in range(len(parts), 0, -1):
            head = ".".join(parts[:i])
            if head in columns:
                out.add(head)
                break
    return out


def referenced_columns(config: Config, columns: list[str]) -> set[str]:
    """Every table column the config names: the mapping, dedupe keys, conditions, overrides."""
    from workbench.ingest.identity import source_columns

    cfg = config.events
    paths: list[str] = []
    for canonical in ("profile_id", "timestamp", "event_type"):
        paths += source_columns(cfg.columns.get(canonical, canonical))
    if isinstance(cfg.dedupe, list):
        paths += cfg.dedupe
    conditions = [*config.goal.conditions, *config.eligibility.conditions]
    for ce in config.custom_events:
        conditions += ce.conditions
    paths += [c.field for c in conditions]
    paths += [*config.features.identifiers, *config.features.quantities, *cfg.types]
    return _heads(paths, columns)


def pruned_columns(config: Config, columns: list[str]) -> dict[str, str]:
    """{column: why} for the columns not fetched (no feature could use them)."""
    from workbench.column_names import is_personal_data
    from workbench.technical import technical_reason

    keep = referenced_columns(config, columns)
    excluded = set(config.features.exclude)
    out = {}
    for name in columns:
        if name in keep:
            continue
        if name in excluded:
            out[name] = "features.exclude"
        elif is_personal_data(name):
            out[name] = "personal data"
        elif (reason := technical_reason(name)) is not None:
            out[name] = f"technical: {reason}"
    return out


def _horizon_filter(table, column: str, horizon):
    """`column < horizon` when the column is a timestamp or date in the database, else None."""
    dtype = table[column].type()
    day = pd.Timestamp(horizon)
    if dtype.is_timestamp():
        moment = day.to_pydatetime()
        if dtype.timezone is not None:
            moment = moment.replace(tzinfo=dt.UTC)
        return table[column] < moment
    if dtype.is_date():
        return table[column] < day.date()
    return None


def remote_query(config: Config, table, horizon=None) -> tuple[Any, dict[str, Any]]:
    """The query to run in the database, and what it leaves there (for data_quality.json)."""
    from workbench.ingest.readers import mapped_column

    columns = list(table.columns)
    pruned = pruned_columns(config, columns)
    ts = mapped_column(config.events.columns, "timestamp")
    selected = []
    for name in columns:
        if name in pruned:
            continue
        col = table[name]
        # JSON/JSONB as text: parsed into fields after the transfer (see nested.parse_json_columns)
        selected.append(col.cast("string").name(name) if col.type().is_json() else col)
    json_columns = [c for c in columns if c not in pruned and table[c].type().is_json()]
    report: dict[str, Any] = {"pruned_columns": pruned, "json_columns": json_columns}
    query = table.select(selected)
    if horizon is not None and ts in columns:
        keep = _horizon_filter(table, ts, horizon)
        if keep is not None:
            query = table.filter(keep).select(selected)
            report["horizon"] = str(pd.Timestamp(horizon).date())
            report["rows_after_horizon"] = int(
                table.filter(~keep).count().to_pyarrow().as_py()  # counted in the database
            )
        else:
            report["horizon_note"] = (
                f"column '{ts}' is not a timestamp in the database, so every event is fetched"
            )
    return query, report


def copy_to_csv(src, query, path: Path) -> bool:
    """Postgres: the query's rows as `COPY (query) TO STDOUT (FORMAT csv)`, written to `path`
    block by block as they arrive (several times faster than fetching rows through the
    driver). False, and nothing written, for another backend or a column CSV cannot carry
    (arrays, records, binary): those stream through `stream_to_parquet`."""
    import ibis

    if getattr(src, "name", "") != "postgres":
        return False
    if any(t.is_nested() or t.is_binary() or t.is_interval() for t in query.schema().types):
        return False
    sql = ibis.to_sql(query, dialect="postgres")  # compiled by Ibis: names quoted, values typed
    with src.con.cursor() as cur, open(path, "wb") as fh:
        with cur.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER true)") as copy:
            for block in copy:
                fh.write(block)
    return True


def read_copied(con, query, path: Path):
    """The CSV `copy_to_csv` wrote, with the query's types (never sniffed: a code of digits
    stays text) and an empty quoted value kept as empty text, not missing."""
    from ibis.backends.sql.datatypes import DuckDBType

    columns = {name: DuckDBType.to_string(dtype) for name, dtype in query.schema().items()}
    return con.read_csv(str(path), header=True, columns=columns, auto_detect=False,
                        allow_quoted_nulls=False)  # fmt: skip


def stream_to_parquet(query, path: Path, batch_rows: int = BATCH_ROWS) -> int:
    """Run `query` and write its rows to `path` batch by batch; the number of rows."""
    import pyarrow.parquet as pq

    reader = query.to_pyarrow_batches(chunk_size=batch_rows)
    rows = 0
    with pq.ParquetWriter(path, reader.schema) as writer:
        for batch in reader:
            writer.write_batch(batch)
            rows += batch.num_rows
    return rows


def open_table(con, config: Config, tmpdir: Path, horizon=None) -> tuple[Any, dict[str, Any]]:
    """`events.table` at `events.connection` as a table on `con`, and what reading it did
    (for data_quality.json): a DuckDB file attached read-only, any other Ibis URL queried with
    the pruning and the as-of filter in the database and streamed into a local file."""
    cfg = config.events
    if cfg.connection is None:
        raise ConfigError("events.connection is required with events.table")
    if is_url(cfg.connection):
        table, report = _fetch(con, config, tmpdir, horizon)
    else:
        table, report = _attach(con, cfg), {}
    from workbench.ingest.nested import parse_json_columns
    from workbench.ingest.readers import flatten_structs

    json_columns = report.get("json_columns") or [
        c for c in table.columns if table[c].type().is_json()
    ]
    return flatten_structs(parse_json_columns(table, json_columns)), report


def _attach(con, cfg):
    """A DuckDB database file, attached read-only: the table is scanned in place, never copied."""
    path = Path(cfg.connection)
    if not path.exists():
        raise DataError(f"{path}: database file not found")
    con.attach(str(path), name="source_db", read_only=True)
    # (catalog, schema): a bare "source_db" would be read as a schema of the memory catalog.
    tables = con.list_tables(database=("source_db", "main"))
    if cfg.table not in tables:
        raise DataError(f"{path}: table '{cfg.table}' not found; available: {', '.join(tables)}")
    return con.table(cfg.table, database=("source_db", "main"))


def _check_database_file(url: str) -> None:
    """A file-backed URL (duckdb://, sqlite://) to a file that does not exist would create an
    empty database there: refuse it instead."""
    scheme, _, rest = url.partition("://")
    if scheme.lower() in ("duckdb", "sqlite") and rest and rest != ":memory:":
        path = Path(rest.split("?")[0]).expanduser()
        if not path.is_file():
            raise DataError(f"{url}: database file {path} not found")


def _fetch(con, config: Config, tmpdir: Path, horizon):
    import ibis

    cfg = config.events
    url = cfg.connection
    _check_database_file(url)
    try:
        src = ibis.connect(url)
    except ImportError as exc:
        scheme = url.split("://", 1)[0]
        raise ConfigError(
            f"events.connection: the {scheme} backend is not installed "
            f"(pip install 'propensity-workbench[{scheme}]'): {exc}"
        ) from None
    except Exception as exc:  # a refused connection, a bad password, an unknown database
        text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataError(f"{redact(url)}: cannot connect: {text}") from None
    try:
        tables = src.list_tables()
        if cfg.table not in tables:
            raise DataError(
                f"{redact(url)}: table '{cfg.table}' not found; available: {', '.join(tables)}"
            )
        query, report = remote_query(config, src.table(cfg.table), horizon)
        copied = Path(tmpdir) / "warehouse_events.csv"
        if copy_to_csv(src, query, copied):
            table = read_copied(con, query, copied)
            report["transfer"] = "COPY ... TO STDOUT (csv)"
        else:
            local = Path(tmpdir) / "warehouse_events.parquet"
            stream_to_parquet(query, local)
            table = con.read_parquet(str(local))
            report["transfer"] = f"batches of {BATCH_ROWS:,} rows"
        report["rows_fetched"] = int(table.count().to_pyarrow().as_py())
        report["columns_fetched"] = len(query.columns)
    except (ConfigError, DataError):
        raise
    except Exception as exc:  # each backend raises its own errors
        text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataError(f"{redact(url)}: cannot read table '{cfg.table}': {text}") from None
    finally:
        disconnect = getattr(src, "disconnect", None)
        if disconnect is not None:
            disconnect()
    return table, report


def warehouse_notices(report: dict[str, Any]) -> list[str]:
    """What the query left in the database, in words."""
    out = []
    pruned = report.get("pruned_columns") or {}
    if pruned:
        shown = ", ".join(f"{c} ({why})" for c, why in list(pruned.items())[:8])
        more = f" and {len(pruned) - 8} more" if len(pruned) > 8 else ""
        out.append(f"events: {len(pruned)} column(s) not fetched from the database: {shown}{more}")
    if report.get("rows_after_horizon"):
        out.append(
            f"events: {report['rows_after_horizon']:,} rows on or after {report['horizon']} (the "
            "as-of date) left in the database: no stage uses them"
        )
    if report.get("horizon_note"):
        out.append(f"events: {report['horizon_note']}")
    return out


def is_url(connection: str) -> bool:
    return bool(re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", connection or ""))
