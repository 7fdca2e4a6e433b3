"""Engine-level correctness: events from a database table, and the out-of-core path.

- `events: {table: ..., connection: ...}` reading a table in a DuckDB database file (attached
  read-only) or through an Ibis URL gives the same events.parquet as the equivalent CSV.
- With `duckdb: {memory_limit: "100MB"}` and an events file larger than that limit, ingest and
  snapshots still complete (DuckDB spills; snapshots run in profile partitions) and equal the
  unlimited run exactly.
"""

from __future__ import annotations

import base64

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pcsv
import pytest
from helpers import ingest_quality

from workbench.config import config_from_dict
from workbench.engine import connect, events_table
from workbench.features import plan_features
from workbench.goals import plan_cutoffs, resolve_as_of
from workbench.ingest.sample import generate_sample
from workbench.snapshots import build_snapshots, memory_partitions
from workbench.training_sample import TrainingSample

COLUMNS = {"profile_id": "personID", "timestamp": "timestamp", "event_type": "eventType"}
GOAL = {
    "conditions": [{"field": "event_type", "op": "==", "value": "commerce.purchases"}],
    "window_days": 30,
}


def _write_csv(frame: pd.DataFrame, path) -> None:
    out = frame.copy()
    out["timestamp"] = out["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    pcsv.write_csv(pa.Table.from_pandas(out, preserve_index=False), path)


def _events(path) -> pd.DataFrame:
    frame = pd.read_parquet(path)
    return frame.sort_values(["eventID"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def small_sample():
    events, _ = generate_sample(profiles=300, seed=11)
    return events


def test_events_from_duckdb_table_equal_csv(tmp_path, small_sample):
    csv = tmp_path / "events.csv"
    _write_csv(small_sample, csv)
    db = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("SET TimeZone = 'UTC'")
        frame = small_sample  # noqa: F841 - read by DuckDB's replacement scan
        con.execute("CREATE TABLE experience_events AS SELECT * FROM frame")
        con.execute("CREATE TABLE other AS SELECT 1 AS x")

    def ingest(events_cfg, name):
        cfg = config_from_dict(
            {"events": {**events_cfg, "columns": COLUMNS}, "goal": GOAL}, base_dir=tmp_path
        )
        quality = ingest_quality(cfg, tmp_path / name)
        return quality, _events(tmp_path / name / "events.parquet")

    q_csv, from_csv = ingest({"path": "events.csv"}, "csv")
    q_db, from_db = ingest({"table": "experience_events", "connection": "warehouse.duckdb"}, "db")
    q_url, from_url = ingest({"table": "experience_events", "connection": f"duckdb://{db}"}, "url")

    assert q_csv["rows_kept"] == len(small_sample) > 1000
    for quality, frame in ((q_db, from_db), (q_url, from_url)):
        pd.testing.assert_frame_equal(frame, from_csv, check_exact=True)
        assert quality["reconciles"]
        for key in (
            "rows_read",
            "rows_kept",
            "rows_quarantined",
            "duplicates_dropped",
            "profiles",
            "event_types",
            "first_event",
            "last_event",
            "columns",
        ):
            assert quality[key] == q_csv[key], key
    # the database file is only read
    with duckdb.connect(str(db), read_only=True) as con:
        assert sorted(r[0] for r in con.execute("SHOW TABLES").fetchall()) == [
            "experience_events",
            "other",
        ]


def test_unknown_table_names_the_available_ones(tmp_path):
    from workbench.errors import DataError

    db = tmp_path / "w.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE events_2024 AS SELECT 'a' AS personID")
    cfg = config_from_dict(
        {"events": {"table": "events", "connection": str(db), "columns": COLUMNS}, "goal": GOAL},
        base_dir=tmp_path,
    )
    with pytest.raises(DataError, match="table 'events' not found; available: events_2024"):
        ingest_quality(cfg, tmp_path / "run")


def _snapshots(cfg, run, quality):
    con = connect(cfg)
    events = events_table(con, run / "events.parquet")
    as_of = resolve_as_of(cfg, None, quality["first_event"], quality["last_event"])
    cutoffs = plan_cutoffs(cfg, as_of, quality["first_event"])
    plan = plan_features(events, cfg, None, before=as_of)
    parts = memory_partitions(events, cfg, cutoffs.labelled, plan)
    # the sampling path too: a budget smaller than the rows keeps a deterministic stratified sample
    frame, _ = build_snapshots(
        events,
        cfg,
        cutoffs.labelled,
        plan,
        sample=TrainingSample(20_000, exempt_cutoff=cutoffs.validation, seed=7),
    )
    scoring, _ = build_snapshots(events, cfg, [as_of], plan, with_label=False)
    return parts, frame, scoring


def test_memory_limit_smaller_than_the_events_still_gives_the_same_snapshots(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # DuckDB spills to ./.tmp
    events, _ = generate_sample(profiles=25_000, seed=5)
    # A free-text column (unique per row, so never a feature) makes the file larger than the limit.
    rng = np.random.default_rng(0)
    text = base64.b64encode(rng.bytes(90 * len(events))).decode()
    events["comment"] = [text[i * 120 : (i + 1) * 120] for i in range(len(events))]
    csv = tmp_path / "events.csv"
    _write_csv(events, csv)
    assert csv.stat().st_size > 100 * 10**6

    body = {
        "events": {"path": "events.csv", "columns": COLUMNS, "dedupe": ["eventID"]},
        "goal": GOAL,
        "eligibility": {"active_within_days": 60},
        # the padding is inert: never a feature, so snapshots never read it
        "features": {"lookback_days": 180, "exclude": ["comment"]},
        "training": {"snapshots": 4, "step_days": 30},
    }
    # one thread: DuckDB's advice under a tight limit (with 2, ingest's Parquet write of these
    # wide rows sometimes needs a little more than 100MB when the process is already busy)
    limited = config_from_dict(
        {**body, "duckdb": {"memory_limit": "100MB", "threads": 1}}, base_dir=tmp_path
    )
    unlimited = config_from_dict(body, base_dir=tmp_path)
    q_lim = ingest_quality(limited, tmp_path / "limited")
    q_all = ingest_quality(unlimited, tmp_path / "unlimited")
    assert q_lim["rows_kept"] == q_all["rows_kept"] == len(events)
    pd.testing.assert_frame_equal(
        _events(tmp_path / "limited" / "events.parquet"),
        _events(tmp_path / "unlimited" / "events.parquet"),
    )

    parts_lim, frame_lim, score_lim = _snapshots(limited, tmp_path / "limited", q_lim)
    parts_all, frame_all, score_all = _snapshots(unlimited, tmp_path / "unlimited", q_all)
    assert parts_all == 1 and parts_lim > 1  # the limited run really took the out-of-core path
    assert len(frame_lim) > 20_000 // 2 and frame_lim["label"].nunique() == 2
    # counts, labels and rows exactly; float sums to 1e-9 (parallel summation order differs)
    pd.testing.assert_frame_equal(frame_lim, frame_all, check_exact=False, rtol=1e-9, atol=1e-9)
    pd.testing.assert_frame_equal(score_lim, score_all, check_exact=False, rtol=1e-9, atol=1e-9)
    exact = [c for c in frame_all.columns if not pd.api.types.is_float_dtype(frame_all[c])]
    exact += [c for c in frame_all.columns if "_count_" in c or "active_days" in c]
    pd.testing.assert_frame_equal(frame_lim[exact], frame_all[exact], check_exact=True)


@pytest.mark.parametrize("limit", ["200MB", None])
def test_release_memory_leaves_the_configured_limit(limit):
    """release_memory lowers the limit for a moment (what it frees is measured in
    benchmarks/, RSS is no unit test's business) and sets it back as configured, DuckDB's
    default when not set; the connection keeps working."""
    from workbench.engine import duckdb_connection, release_memory

    con = duckdb_connection(limit)
    before = con.raw_sql("SELECT current_setting('memory_limit')").fetchone()[0]
    table = con.sql("SELECT range % 50000 AS k, range AS v FROM range(3000000)")
    grouped = table.group_by("k").aggregate(n=table.v.nunique())
    assert len(grouped.to_pyarrow()) == 50_000
    release_memory(grouped, limit)
    assert con.raw_sql("SELECT current_setting('memory_limit')").fetchone()[0] == before
    assert len(grouped.to_pyarrow()) == 50_000
