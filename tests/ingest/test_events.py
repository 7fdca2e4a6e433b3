from __future__ import annotations

import gzip
import json

import pandas as pd
import pytest
from helpers import CDNOW, REPO, ingest_quality, write_config

from workbench.cli import main
from workbench.column_names import is_personal_data
from workbench.config import load_config
from workbench.errors import ConfigError, DataError
from workbench.ingest import detect_format

GOAL = {"conditions": [{"field": "event_type", "value": "purchase"}], "window_days": 30}


def ingest(tmp_path, events: dict, **extra):
    cfg = load_config(write_config(tmp_path, {"events": events, "goal": GOAL, **extra}))
    quality = ingest_quality(cfg, tmp_path / "out")
    return quality, pd.read_parquet(tmp_path / "out" / "events.parquet")


def test_csv_mapping_utc_and_quarantine_reconcile(tmp_path):
    (tmp_path / "e.csv").write_text(
        "user,when,kind,amount\n"
        "007,2024-01-01T12:00:00+02:00,purchase,5\n"  # offset -> 10:00 UTC
        "008,2024-01-02 08:00:00,view,\n"  # naive -> taken as UTC
        ",2024-01-03,view,\n"  # missing profile id
        "009,not a date,view,\n"  # unparseable
        "010,,view,\n"  # missing timestamp
        "007,2024-01-01T12:00:00+02:00,purchase,5\n"  # exact duplicate
    )
    quality, events = ingest(
        tmp_path,
        {
            "path": "e.csv",
            "columns": {"profile_id": "user", "timestamp": "when", "event_type": "kind"},
        },
    )
    assert quality["rows_read"] == 6
    assert (
        quality["rows_kept"] == 2
        and quality["duplicates_dropped"] == 1
        and quality["rows_quarantined"] == 3
    )
    assert quality["reconciles"]
    assert quality["quarantine_reasons"] == {
        "missing profile_id": 1,
        "unparseable timestamp": 1,
        "missing timestamp": 1,
    }
    events = events.sort_values("timestamp").reset_index(drop=True)
    assert list(events["profile_id"]) == ["007", "008"]  # ids stay text, zero padding kept
    assert events["timestamp"][0] == pd.Timestamp("2024-01-01 10:00:00")
    assert events["timestamp"][1] == pd.Timestamp("2024-01-02 08:00:00")
    assert set(events.columns) >= {"profile_id", "timestamp", "event_type", "amount"}
    quarantine = pd.read_csv(tmp_path / "out" / "quarantine.csv", dtype=str)
    assert len(quarantine) == 3 and quarantine.columns[0] == "reason"
    assert quality["rows_read"] == 6


def test_parquet_dedupe_by_two_keys_matches_a_reference(tmp_path):
    """Parquet sources are read through the staging expression (no in-memory copy) and keys
    are deduplicated through their hashes: the same rows as keeping, per key, the earliest
    (timestamp, profile) row, with every row that misses a key part kept."""
    import numpy as np

    rng = np.random.default_rng(3)
    n = 3000
    frame = pd.DataFrame(
        {
            "src": rng.choice(["web", "app", None], n, p=[0.45, 0.45, 0.1]),
            "seq": rng.integers(0, 400, n).astype(float),
            "p": rng.choice([f"u{i}" for i in range(50)], n),
            "t": pd.Timestamp("2024-01-01", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 90 * 86400, n), unit="s"),
        }
    )
    frame.loc[rng.choice(n, 100, replace=False), "seq"] = np.nan
    frame = pd.concat([frame, frame.sample(200, random_state=1)], ignore_index=True)
    frame.to_parquet(tmp_path / "e.parquet")
    events = {
        "path": "e.parquet",
        "columns": {"profile_id": "p", "timestamp": "t"},
        "event_type": "purchase",
        "dedupe": ["src", "seq"],
    }
    q, ev = ingest(tmp_path, events)
    missing = frame[frame["src"].isna() | frame["seq"].isna()]
    keyed = frame.drop(missing.index).sort_values(["t", "p"], kind="stable")
    expected = pd.concat([keyed.drop_duplicates(["src", "seq"]), missing])
    assert q["rows_kept"] == len(expected) and q["reconciles"]
    assert q["duplicates_dropped"] == len(frame) - len(expected)

    def rows(df):
        out = df.rename(columns={"p": "profile_id", "t": "timestamp"})
        out = out.assign(timestamp=pd.to_datetime(out["timestamp"], utc=True))
        out = out[["profile_id", "timestamp", "src", "seq"]].astype(str)
        return sorted(map(tuple, out.to_numpy()))

    assert rows(ev) == rows(expected)


def test_unreadable_parquet_is_one_line(tmp_path):
    (tmp_path / "e.parquet").write_bytes(b"PAR1" + b"\x00" * 64 + b"PAR1")
    events = {"path": "e.parquet", "columns": {"profile_id": "p", "timestamp": "t"}}
    with pytest.raises(DataError, match=r"e.parquet") as info:
        ingest(tmp_path, {**events, "event_type": "purchase"})
    assert "\n" not in str(info.value)


def test_dedupe_none_and_by_id(tmp_path):
    rows = "id,p,t\n1,a,2024-01-01\n1,a,2024-01-01\n2,a,2024-01-01\n2,b,2024-01-05\n"
    (tmp_path / "e.csv").write_text(rows)
    base = {
        "path": "e.csv",
        "columns": {"profile_id": "p", "timestamp": "t"},
        "event_type": "purchase",
    }
    q, ev = ingest(tmp_path, {**base, "dedupe": "none"})
    assert q["rows_kept"] == 4 and q["duplicates_dropped"] == 0
    q, ev = ingest(tmp_path, {**base, "dedupe": "exact"})
    assert q["rows_kept"] == 3 and q["duplicates_dropped"] == 1
    q, ev = ingest(tmp_path, {**base, "dedupe": ["id"]})
    assert q["rows_kept"] == 2 and q["duplicates_dropped"] == 2 and q["reconciles"]
    assert set(ev["event_type"]) == {"purchase"}  # the constant event type
    with pytest.raises(DataError, match=r"events.dedupe column\(s\) \['nope'\] not found"):
        ingest(tmp_path, {**base, "dedupe": ["nope"]})


@pytest.mark.parametrize(
    "name, text, delimiter",
    [
        ("e.tsv", "p\tt\tevent_type\nx\t2024-02-01\tview\n", None),
        ("e.csv", "p;t;event_type\nx;2024-02-01;view\n", ";"),
        ("e.txt", "p|t|event_type\nx|2024-02-01|view\n", "|"),
        ("e.txt", " p   t  event_type\r\n x  2024-02-01   view\r\n", "whitespace"),
    ],
)
def test_delimiters(tmp_path, name, text, delimiter):
    (tmp_path / name).write_text(text)
    events = {"path": name, "columns": {"profile_id": "p", "timestamp": "t"}}
    if delimiter:
        events["delimiter"] = delimiter
    q, ev = ingest(tmp_path, events)
    assert q["rows_kept"] == 1 and ev["event_type"][0] == "view" and ev["profile_id"][0] == "x"


def test_parquet_with_timezone_and_gzip_csv(tmp_path):
    frame = pd.DataFrame(
        {
            "profile_id": ["p1", "p2"],
            "timestamp": pd.to_datetime(["2024-05-01 12:00", "2024-05-02 00:30"]).tz_localize(
                "America/New_York"
            ),
            "event_type": ["a", "b"],
        }
    )
    frame.to_parquet(tmp_path / "e.parquet")
    q, ev = ingest(tmp_path, {"path": "e.parquet"})
    assert sorted(ev["timestamp"]) == [
        pd.Timestamp("2024-05-01 16:00"),
        pd.Timestamp("2024-05-02 04:30"),
    ]
    with gzip.open(tmp_path / "e.csv.gz", "wt") as fh:
        fh.write("profile_id,timestamp,event_type\np,2024-01-01,x\n")
    q, ev = ingest(tmp_path, {"path": "e.csv.gz"})
    assert q["rows_kept"] == 1


def test_jsonl_nested_fields_are_flattened(tmp_path):
    lines = [
        {
            "id": "u1",
            "ts": "2024-01-01T00:00:00Z",
            "eventType": "commerce.purchases",
            "commerce": {"order": {"priceTotal": 12.5}},
        },
        {"id": "u2", "ts": "2024-01-02T00:00:00Z", "eventType": "web.pageViews", "commerce": None},
    ]
    (tmp_path / "e.jsonl").write_text("\n".join(json.dumps(x) for x in lines))
    q, ev = ingest(
        tmp_path,
        {
            "path": "e.jsonl",
            "columns": {"profile_id": "id", "timestamp": "ts", "event_type": "eventType"},
        },
    )
    assert "commerce.order.priceTotal" in ev.columns
    assert ev.set_index("profile_id")["commerce.order.priceTotal"]["u1"] == 12.5


def test_timestamp_format_and_common_formats(tmp_path):
    (tmp_path / "e.csv").write_text(
        "p,t\na,20240105\nb,2024-01-06\nc,01/07/2024\nd,20240108\ne,20240109\n"
    )
    q, ev = ingest(
        tmp_path,
        {"path": "e.csv", "columns": {"profile_id": "p", "timestamp": "t"}, "event_type": "x"},
    )
    assert q["rows_kept"] == 5
    q, ev = ingest(
        tmp_path,
        {
            "path": "e.csv",
            "columns": {"profile_id": "p", "timestamp": "t"},
            "event_type": "x",
            "timestamp_format": "%Y%m%d",
        },
    )
    assert q["rows_kept"] == 3 and q["quarantine_reasons"] == {"unparseable timestamp": 2}


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda p: None, "events file not found"),
        (lambda p: (p / "e.csv").write_text(""), "events file is empty"),
        (lambda p: (p / "e.csv").write_text("profile_id,timestamp,event_type\n"), "no rows"),
        (
            lambda p: (p / "e.csv").write_text("user,timestamp,event_type\nx,2024-01-01,v\n"),
            "column 'profile_id' not found; available: user",
        ),
    ],
)
def test_bad_event_files_are_one_clear_line(tmp_path, setup, message):
    setup(tmp_path)
    with pytest.raises(DataError, match=message) as err:
        ingest(tmp_path, {"path": "e.csv"})
    assert "\n" not in str(err.value)


def test_wrong_format_is_a_data_error(tmp_path):
    (tmp_path / "e.parquet").write_text("profile_id,timestamp\nx,2024-01-01\n")
    with pytest.raises(DataError, match="cannot read as parquet"):
        ingest(tmp_path, {"path": "e.parquet"})


def test_constant_and_mapped_event_type_conflict(tmp_path):
    (tmp_path / "e.csv").write_text("p,t,k\nx,2024-01-01,v\n")
    with pytest.raises(ConfigError, match="either columns.event_type or a constant"):
        ingest(
            tmp_path,
            {
                "path": "e.csv",
                "columns": {"profile_id": "p", "timestamp": "t", "event_type": "k"},
                "event_type": "v",
            },
        )


def test_cli_exit_codes_and_one_line_errors(tmp_path, capsys):
    path = write_config(tmp_path, {"events": {"path": "missing.csv"}, "goal": GOAL})
    assert main(["validate", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "missing.csv" in err and "not found" in err
    assert main(["validate", str(tmp_path / "nope.yaml")]) == 2


def test_personal_data_names():
    for name in [
        "email",
        "person.emailAddress",
        "phone_number",
        "firstName",
        "home.address",
        "name",
    ]:
        assert is_personal_data(name), name
    for name in [
        "commerce.order.priceTotal",
        "productListItems.SKU",
        "channel",
        "event_type",
        "loyaltyTier",
    ]:
        assert not is_personal_data(name), name


def test_detect_format():
    from pathlib import Path

    assert detect_format(Path("x.parquet")) == "parquet"
    assert detect_format(Path("x.jsonl.gz")) == "jsonl"
    assert detect_format(Path("x.tsv.gz")) == "csv"


@pytest.mark.skipif(not CDNOW.exists(), reason="../shared/datasets/cdnow is not beside the project")
def test_cdnow_example_config_loads(tmp_path):
    cfg = load_config(REPO / "examples" / "cdnow.yaml")
    quality = ingest_quality(cfg, tmp_path)
    assert quality["rows_read"] == 69_659 and quality["rows_kept"] == 69_659  # dedupe: none
    assert quality["profiles"] == 23_570
    assert quality["first_event"].startswith("1997-01-01") and quality["last_event"].startswith(
        "1998-06-30"
    )
    exact = load_config(REPO / "examples" / "cdnow.yaml", ["events.dedupe=exact"])
    assert ingest_quality(exact, tmp_path / "x")["duplicates_dropped"] == 255


def test_epoch_timestamps_as_numbers_and_text(tmp_path):
    (tmp_path / "e.csv").write_text(
        "p,t\na,1433221332117\nb,1433221332\nc,2015-06-02 05:02:12 UTC\n"
    )
    q, ev = ingest(
        tmp_path,
        {"path": "e.csv", "columns": {"profile_id": "p", "timestamp": "t"}, "event_type": "x"},
    )
    assert q["rows_kept"] == 3
    ts = ev.set_index("profile_id")["timestamp"]
    assert ts["a"] == pd.Timestamp("2015-06-02 05:02:12.117")
    assert ts["b"] == pd.Timestamp("2015-06-02 05:02:12") == ts["c"]
    pd.DataFrame(
        {"profile_id": ["a", "b"], "timestamp": [1433221332117, 1433221332], "event_type": "v"}
    ).to_parquet(tmp_path / "e.parquet")
    q, ev = ingest(tmp_path, {"path": "e.parquet"})
    assert sorted(ev["timestamp"]) == [
        pd.Timestamp("2015-06-02 05:02:12"),
        pd.Timestamp("2015-06-02 05:02:12.117"),
    ]


def test_dedupe_by_id_keeps_the_earliest_and_rows_without_an_id(tmp_path):
    (tmp_path / "e.csv").write_text(
        "id,p,t\n1,a,2024-01-03\n1,a,2024-01-01\n,a,2024-01-02\n,a,2024-01-02\n2,b,2024-01-05\n"
    )
    cfg = {
        "path": "e.csv",
        "columns": {"profile_id": "p", "timestamp": "t"},
        "event_type": "v",
        "dedupe": ["id"],
    }
    q, ev = ingest(tmp_path, cfg)
    assert q["rows_kept"] == 4 and q["duplicates_dropped"] == 1 and q["reconciles"]
    assert ev.loc[ev["id"] == 1, "timestamp"].tolist() == [pd.Timestamp("2024-01-01")]
