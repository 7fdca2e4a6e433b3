"""A warehouse table is queried, not copied: the pruning and the as-of filter run in the
database (its statement log shows them), rows stream in batches, JSONB becomes fields, and the
run gives the same counts as the same table in a DuckDB file."""

from __future__ import annotations

import gzip
import json

import pytest
from helpers import write_config

from workbench.errors import DataError
from workbench.workflow import validate

COLUMNS = """
    message_id  text PRIMARY KEY,
    user_id     text,
    anonymous_id text,
    ts          timestamptz NOT NULL,
    event       text,
    type        text NOT NULL,
    email       text,
    screen_width integer,
    props       jsonb,
    context     jsonb
"""


def _segment_rows(folder) -> list[tuple]:
    rows = []
    for path in sorted(folder.glob("segment/segment-logs/*/*/*.gz")):
        with gzip.open(path, "rt") as fh:
            for line in fh:
                m = json.loads(line)
                props = m.get("properties") or m.get("traits") or {}
                rows.append((
                    m["messageId"], m.get("userId"), m["anonymousId"], m["timestamp"],
                    m.get("event"), m["type"], (m.get("traits") or {}).get("email"),
                    1280, json.dumps(props), json.dumps(m["context"]),
                ))  # fmt: skip
    return rows


@pytest.fixture(scope="module")
def warehouse(postgres_server, vendor_exports):
    """The Segment export as a table `events` with JSONB columns; (server, rows)."""
    folder, _ = vendor_exports
    rows = _segment_rows(folder)
    with postgres_server.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE events ({COLUMNS})")
        with cur.copy("COPY events FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cur.execute("ANALYZE events")
    return postgres_server, rows


def _config(tmp_path, connection: str, as_of: str = "2025-06-01") -> dict:
    return {
        "name": "warehouse",
        "events": {
            "table": "events",
            "connection": connection,
            "columns": {
                "profile_id": ["user_id", "anonymous_id"],
                "timestamp": "ts",
                "event_type": ["event", "type"],
            },
            "dedupe": ["message_id"],
        },  # fmt: skip
        "goal": {
            "conditions": [
                {"field": "event_type", "value": "Order Completed"},
                {"field": "props.total", "op": ">=", "value": 20},
            ],
            "window_days": 30,
        },  # fmt: skip
        "eligibility": {"active_within_days": 60},
        "features": {"lookback_days": 120, "exclude": ["context"]},
        "training": {"snapshots": 3, "step_days": 30},
        "readiness": {"min_positives": 5, "min_negatives": 5},
        "scoring": {"as_of": as_of},
    }


def test_filter_and_pruning_run_in_postgres_and_rows_stream(warehouse, tmp_path):
    server, rows = warehouse
    path = write_config(tmp_path, _config(tmp_path, server.url))
    mark = server.log_mark()
    found = validate(path, out=tmp_path / "out")
    statements = server.statements_since(mark)
    copies = [s for s in statements if s.startswith("COPY (")]
    counts = [s for s in statements if s.startswith("DECLARE") and "COUNT(*)" in s]
    assert len(copies) == 1 and len(counts) == 1, statements
    query = copies[0]
    # the rows left in the database are counted there, not fetched
    assert 'NOT ("t0"."ts" <' in counts[0]
    # the as-of filter is in the query the server ran, on the timestamp column
    assert "WHERE" in query and '"ts" <' in query and "2025-06-01" in query
    # pruned: personal data, a technical column and features.exclude never leave the database
    assert "SELECT *" not in query
    for gone in ('"email"', '"screen_width"', '"context"'):
        assert gone not in query
    assert '"props"' in query and '"message_id"' in query
    # streamed out by the server as CSV, block by block (never the whole table in memory)
    assert query.endswith("TO STDOUT WITH (FORMAT csv, HEADER true)")
    # every row is accounted for: fetched, or left in the database after the as-of date
    quality = found.quality
    source = quality["warehouse"]
    after = sum(r[3] >= "2025-06-01" for r in rows)
    assert source["rows_after_horizon"] == after > 0
    assert quality["rows_read"] == source["rows_fetched"] == len(rows) - after
    assert quality["reconciles"]
    assert set(source["pruned_columns"]) == {"email", "screen_width", "context"}
    # JSONB became fields: numbers typed, the products array made into item fields
    assert quality["columns"]["props.total"] == "float64"
    assert "props.products.products_count" in quality["columns"]
    assert "postgres://" in quality["source"] and str(server.root) in quality["source"]


def test_same_counts_as_the_table_in_a_duckdb_file(warehouse, tmp_path):
    import duckdb
    import pyarrow as pa

    server, _ = warehouse
    pg = validate(write_config(tmp_path, _config(tmp_path, server.url), "pg.yaml"),
                  out=tmp_path / "pg")  # fmt: skip
    # the same table in a DuckDB database file (JSON columns), read in place
    with server.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT message_id, user_id, anonymous_id, ts, event, type, email, "
                    "screen_width, props::text, context::text FROM events")  # fmt: skip
        data = cur.fetchall()
    names = ["message_id", "user_id", "anonymous_id", "ts", "event", "type", "email",
             "screen_width", "props", "context"]  # fmt: skip
    table = pa.table({n: [r[i] for r in data] for i, n in enumerate(names)})
    db = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(db)) as con:
        con.register("rows", table)
        con.execute("CREATE TABLE events AS SELECT * REPLACE (props::JSON AS props, "
                    "context::JSON AS context) FROM rows")  # fmt: skip
    local = validate(write_config(tmp_path, _config(tmp_path, str(db)), "duck.yaml"),
                     out=tmp_path / "duck")  # fmt: skip
    a = pg.goal.counts[["cutoff", "eligible", "positives", "negatives"]]
    b = local.goal.counts[["cutoff", "eligible", "positives", "negatives"]]
    assert a.to_dict("records") == b.to_dict("records")
    # the DuckDB file is read in place, whole; Postgres left the rows after the as-of date there
    left = pg.quality["warehouse"]["rows_after_horizon"]
    assert pg.quality["rows_read"] + left == local.quality["rows_read"]


def test_unknown_table_and_refused_connection_are_one_line(warehouse, tmp_path):
    server, _ = warehouse
    body = _config(tmp_path, server.url)
    body["events"]["table"] = "evnts"
    with pytest.raises(DataError, match=r"table 'evnts' not found; available: events$"):
        validate(write_config(tmp_path, body), out=tmp_path / "o")
    body = _config(tmp_path, "postgres://nobody:secret@/postgres?host=/nonexistent&port=1")
    with pytest.raises(DataError) as err:
        validate(write_config(tmp_path, body), out=tmp_path / "o2")
    assert "\n" not in str(err.value) and "cannot connect" in str(err.value)
    assert "secret" not in str(err.value)  # the password is never printed


def test_columns_csv_cannot_carry_stream_in_batches_through_a_cursor(postgres_server, tmp_path):
    with postgres_server.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE tagged (id text, who text, at timestamptz, tags text[])")
        for i in range(30):
            cur.execute(
                "INSERT INTO tagged VALUES (%s, %s, %s, %s)",
                (f"e{i}", f"p{i % 4}", f"2025-01-{1 + i:02d}T10:00:00Z", ["sale", f"t{i % 3}"]),
            )
    body = _config(tmp_path, postgres_server.url)
    body["events"] = {"table": "tagged", "connection": postgres_server.url, "event_type": "visit",
                      "columns": {"profile_id": "who", "timestamp": "at"}}  # fmt: skip
    body["goal"]["conditions"] = [{"field": "tags", "op": "==", "value": "t1"}]
    body["goal"]["window_days"] = 5
    body["training"] = {"snapshots": 2, "step_days": 5}
    body["features"] = {"lookback_days": 120}  # this table has no `context` to exclude
    body["eligibility"] = {}
    body["scoring"] = {"as_of": "2025-01-25"}
    mark = postgres_server.log_mark()
    found = validate(write_config(tmp_path, body), out=tmp_path / "o")
    statements = postgres_server.statements_since(mark)
    declare = [s for s in statements if s.startswith("DECLARE") and "COUNT(*)" not in s]
    assert len(declare) == 1 and '"t0"."at" <' in declare[0]
    assert any(s.startswith("FETCH FORWARD 50000") for s in statements)
    assert found.quality["columns"]["tags"] == "array<string>"
    assert found.quality["rows_read"] == 24  # 2025-01-01 .. 01-24: before the as-of date


def test_values_survive_the_csv_copy_as_typed(postgres_server, tmp_path):
    import pandas as pd

    with postgres_server.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE odd (who text, at timestamp, kind text, code text, note text, "
                    "ok boolean, amount numeric(10, 2), day date, score double precision)")  # fmt: skip
        cur.execute(
            "INSERT INTO odd VALUES "
            "('p1', '2025-01-02 03:04:05.5', 'buy', '00123', 'a \"quoted\", multi\nline note', "
            "true, 12.50, '2025-01-01', 'NaN'), "
            "('p2', '2025-01-03 00:00:00', 'buy', '', NULL, false, NULL, NULL, 1.5)"
        )
    body = _config(tmp_path, postgres_server.url)
    body["events"] = {"table": "odd", "connection": postgres_server.url, "dedupe": "none",
                      "columns": {"profile_id": "who", "timestamp": "at", "event_type": "kind"}}  # fmt: skip
    body["scoring"] = {"as_of": "2025-02-01"}
    body["features"] = {"lookback_days": 30}
    from helpers import ingest

    from workbench.config import load_config

    quality, path = ingest(load_config(write_config(tmp_path, body)), tmp_path / "o")
    frame = pd.read_parquet(path).sort_values("profile_id", ignore_index=True)
    assert quality["warehouse"]["transfer"].startswith("COPY")
    assert frame["timestamp"].tolist() == [pd.Timestamp("2025-01-02 03:04:05.5"),
                                           pd.Timestamp("2025-01-03")]  # fmt: skip
    assert frame["code"].tolist() == ["00123", ""]  # digits stay text; empty is not missing
    assert frame["note"][0] == 'a "quoted", multi\nline note' and pd.isna(frame["note"][1])
    assert frame["ok"].tolist() == [True, False]
    assert float(frame["amount"][0]) == 12.5 and pd.isna(frame["amount"][1])
    assert pd.isna(frame["score"][0]) or frame["score"][0] != frame["score"][0]  # NaN
    assert frame["day"][0] == pd.Timestamp("2025-01-01").date()
