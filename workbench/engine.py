"""The event engine: Ibis expressions on embedded DuckDB by default, PySpark when data outgrows one machine.

Every feature, label and eligibility rule is written once as an Ibis expression; this module only
decides which backend runs it and how events are opened.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import ibis

from workbench.errors import ConfigError, DataError, output_error

if TYPE_CHECKING:
    from workbench.config import Config


def duckdb_connection(memory_limit: str | None = None, threads: int | None = None, temp_dir=None):
    """An embedded DuckDB backend in UTC, optionally memory-capped (then it spills to disk)."""
    con = ibis.duckdb.connect()
    # Timestamps are UTC everywhere; naive strings are read as UTC.
    con.raw_sql("SET TimeZone = 'UTC'")
    if memory_limit:
        con.raw_sql(f"SET memory_limit = '{_safe_setting(memory_limit)}'")
    if threads:
        con.raw_sql(f"SET threads = {int(threads)}")
    if temp_dir:
        con.raw_sql(f"SET temp_directory = '{_safe_setting(str(temp_dir))}'")
    con.raw_sql("SET preserve_insertion_order = false")
    return con


# What the memory limit drops to for a moment in `release_memory`: low enough that DuckDB's
# buffer manager lets go of everything a finished query left behind.
_RELEASE_TO = "64MB"


def release_memory(table, memory_limit: str | None) -> None:
    """Give back the memory DuckDB keeps after a query of `table` (a no-op on Spark);
    `memory_limit`: the connection's `duckdb.memory_limit` (None: DuckDB's default).

    DuckDB holds freed buffers (up to its memory limit) for the next query; between the
    snapshot queries that memory sat under the pandas frames built from their results (at 1M
    profiles: 3 GB held while the training snapshot was converted and the scoring one built).
    Lowering the limit for a moment makes its buffer manager free them at once (1.9 GB -> 0.4
    GB after a grouped scan of the 1M sample); then the limit is set back. Best effort: when
    the memory is still in use the lower limit is refused and nothing changes."""
    import duckdb

    backend = table.get_backend()
    if getattr(backend, "name", "") != "duckdb":
        return
    try:
        backend.raw_sql(f"SET memory_limit = '{_RELEASE_TO}'")
    except duckdb.Error:  # still in use: keep it
        return
    if memory_limit:
        backend.raw_sql(f"SET memory_limit = '{_safe_setting(memory_limit)}'")
    else:
        backend.raw_sql("RESET memory_limit")


def hold_on_disk(table):
    """`table` (Arrow) written to a file in the spill folder and read back memory-mapped: the
    same table, its memory the operating system's page cache (dropped under pressure) rather
    than this process's heap. For the snapshot partitions already built while the next one's
    query runs: at 1M profiles they held 0.6 GB on top of DuckDB's memory limit. The file is
    unlinked at once; the mapping keeps it readable until the table is let go."""
    import pyarrow as pa

    path = spill_directory() / f"partition-{os.getpid()}-{id(table)}.arrow"
    try:
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        held = pa.ipc.open_file(pa.memory_map(str(path))).read_all()
    except OSError:  # no room in the temporary folder: keep it in memory
        return table
    finally:
        path.unlink(missing_ok=True)
    return held


def _safe_setting(value: str) -> str:
    # Settings come from the config; allow only plain characters so nothing can break out of the quote.
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ._-/:")
    if not value or any(ch not in allowed for ch in value):
        raise ConfigError(f"duckdb setting {value!r} has characters that are not allowed")
    return value


def spark_connection(master: str = "local[2]", conf: dict[str, str] | None = None):
    """An Ibis PySpark backend on a (local or cluster) Spark session in UTC."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - depends on the optional extra
        raise ConfigError(
            "engine: spark needs the optional extra: pip install -e '.[spark]'"
        ) from exc
    builder = SparkSession.builder.master(master).appName("propensity-workbench")
    settings = {
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": "false",
        "spark.sql.shuffle.partitions": "8",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
    }
    if master.startswith("local") and not os.environ.get("PYSPARK_PYTHON"):
        # Python workers (mapInPandas scoring) run this interpreter, so they see the same packages
        # (pyspark reads the variable, not the spark.pyspark.python setting, when it starts).
        os.environ["PYSPARK_PYTHON"] = sys.executable
    settings.update(conf or {})
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # a JVM that does not start, a master that does not answer
        line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(
            f"spark.master {master!r}: cannot start a Spark session ({line}); check spark.master "
            "(e.g. local[2]) and that Java is installed"
        ) from None
    return ibis.pyspark.connect(session)


def connect(config: Config):
    """The backend named by `config.engine`."""
    if config.engine == "spark":
        return spark_connection(config.spark.master, config.spark.conf)
    return duckdb_connection(config.duckdb.memory_limit, config.duckdb.threads, spill_directory())


def spill_directory() -> Path:
    """Where DuckDB spills past its memory limit (not `.tmp` in whatever folder the user is in)."""
    import tempfile

    path = Path(tempfile.gettempdir()) / "workbench-duckdb"
    path.mkdir(parents=True, exist_ok=True)
    return path


def is_spark(con) -> bool:
    return getattr(con, "name", "") == "pyspark"


def events_table(con, path: str | Path):
    """Open canonical events (as written by `data.ingest_events`) on the backend."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: events file not found (run the data preparation step first)")
    return con.read_parquet(str(path))


def profiles_table(con, path: str | Path | None):
    if path is None or not Path(path).exists():
        return None
    return con.read_parquet(str(path))


def write_table(con, table, path: str | Path, fmt: str) -> Path:
    """Write an engine table to `path` as parquet or csv; a full disk or a read-only folder is
    one line naming the file (`DataError`), not an engine traceback."""
    import duckdb

    try:
        if fmt == "parquet":
            con.to_parquet(table, str(path))
        else:
            con.to_csv(table, str(path))
    except (OSError, duckdb.IOException) as exc:
        raise output_error(path, exc) from None
    return Path(path)
