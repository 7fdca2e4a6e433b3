"""Benchmark: ingest of one events table from PostgreSQL and from a DuckDB database file.

The bundled sample (`--profiles 50000`: about 1M events) becomes a table `events` with the
sample's columns plus what warehouse tables carry: a JSONB `props` column, a personal-data
column (`email`) and a technical one (`screen_width`). It is loaded into a throwaway PostgreSQL
server (tests/postgres.py; Debian's `postgresql` package and the `postgres` extra) and into a
DuckDB file. Each ingest (`workbench.ingest.ingest_events`, as `prepare_data` calls it) runs in
its own process so its peak RSS is its own; runs are interleaved and repeated (median).

    .venv/bin/python benchmarks/warehouse.py                      # 50k profiles, 3 repeats
    .venv/bin/python benchmarks/warehouse.py --profiles 5000 --repeat 1
    .venv/bin/python benchmarks/warehouse.py --code /path/to/other/checkout   # another version

Printed per source: seconds, peak RSS, rows, columns fetched and the statement the server ran.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from common import ensure_sample, gb, label, machine, median, print_table  # noqa: E402

COLUMNS = """"eventID" text, "personID" text, "timestamp" timestamptz, "eventType" text,
    channel text, sku text, price double precision, email text, screen_width integer, props jsonb"""


def _table_file(sample: Path, out: Path) -> Path:
    """The warehouse-shaped table as a CSV (for COPY) and a DuckDB file; returns the CSV."""
    import duckdb

    csv = out / "events.csv"
    con = duckdb.connect(str(out / "warehouse.duckdb"))
    con.execute("DROP TABLE IF EXISTS events")
    con.execute(
        'CREATE TABLE events AS SELECT eventID, personID, "timestamp", eventType, channel, '
        '"productListItems.SKU" AS sku, "commerce.order.priceTotal" AS price, '
        "personID || '@example.com' AS email, 1280 AS screen_width, "
        "json_object('total', \"commerce.order.priceTotal\", 'sku', \"productListItems.SKU\", "
        "'items', CASE WHEN \"productListItems.SKU\" IS NULL THEN [] ELSE "
        "[{'sku': \"productListItems.SKU\", 'price': \"commerce.order.priceTotal\"}] END) AS props "
        "FROM read_parquet(?)",
        [str(sample)],
    )
    con.execute("COPY events TO ? (HEADER, DELIMITER ',')", [str(csv)])
    con.close()
    return csv


def _config(out: Path, name: str, connection: str) -> Path:
    import yaml

    body = {
        "name": name,
        "events": {
            "table": "events",
            "connection": connection,
            "columns": {"profile_id": "personID", "timestamp": "timestamp", "event_type": "eventType"},
            "dedupe": ["eventID"],
        },
        "goal": {"conditions": [{"field": "event_type", "value": "commerce.purchases"}],
                 "window_days": 30},
    }  # fmt: skip
    path = out / f"{name}.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


_CHILD = """
import json, sys, time, resource
sys.path.insert(0, {code!r})
from workbench.config import load_config
from workbench.ingest import IngestTargets, ingest_events
from pathlib import Path
cfg = load_config({config!r})
out = Path({out!r}); out.mkdir(parents=True, exist_ok=True)
t = time.perf_counter()
q = ingest_events(cfg, IngestTargets(out / "events.parquet", out / "quarantine.csv", out / "profiles.parquet"))
print(json.dumps({{"seconds": time.perf_counter() - t, "rows": q["rows_kept"],
                  "columns": len(q["columns"]),
                  "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}}))
"""


def _ingest(code: Path, config: Path, out: Path) -> dict:
    script = _CHILD.format(code=str(code), config=str(config), out=str(out))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"ingest of {config.name} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--code", type=Path, default=HERE.parent, help="the checkout to measure")
    args = parser.parse_args()
    from postgres import PostgresServer, skip_reason

    if skip_reason():
        sys.exit(f"cannot start PostgreSQL: {skip_reason()}")
    config_path, _ = ensure_sample(args.profiles)
    sample = config_path.parent / "events.parquet"
    print(machine())
    with (
        tempfile.TemporaryDirectory(prefix="wb-warehouse-", dir="/tmp") as tmp,
        PostgresServer() as pg,
    ):
        out = Path(tmp)
        out.chmod(0o755)
        csv = _table_file(sample, out)
        with pg.connect() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE TABLE events ({COLUMNS})")
            with (
                open(csv, "rb") as fh,
                cur.copy("COPY events FROM STDIN (FORMAT csv, HEADER)") as cp,
            ):
                while chunk := fh.read(1 << 20):
                    cp.write(chunk)
            cur.execute("ANALYZE events")
            cur.execute("SELECT count(*) FROM events")
            rows = cur.fetchone()[0]
        sources = {"postgres": _config(out, "pg", pg.url),
                   "duckdb file": _config(out, "duck", str(out / "warehouse.duckdb"))}  # fmt: skip
        results: dict[str, list[dict]] = {k: [] for k in sources}
        for i in range(args.repeat):
            for name, config in sources.items():  # interleaved
                mark = pg.log_mark()
                results[name].append(_ingest(args.code, config, out / f"run-{name}-{i}"))
                if name == "postgres" and i == 0:
                    declare = [s for s in pg.statements_since(mark) if 'FROM "events"' in s]
                    statement = declare[-1].replace("\n", " ")[:300] if declare else "?"
        table = []
        for name, runs in results.items():
            table.append({
                "source": name, "rows in table": f"{rows:,}",
                "rows kept": f"{runs[0]['rows']:,}", "columns": runs[0]["columns"],
                "seconds (median)": f"{median([r['seconds'] for r in runs]):.1f}",
                "peak RSS (median)": gb(int(median([r["peak"] for r in runs]))),
            })  # fmt: skip
        print(f"\ningest of {label(args.profiles)}-profile sample table, {args.repeat} runs each")
        print_table(table, list(table[0]))
        print(f"\nthe statement Postgres ran: {statement}")


if __name__ == "__main__":
    main()
