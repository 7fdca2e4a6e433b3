"""Which files a path names (glob, folder, Hive partitions, list), their format from the name
or the content, header-less files and the Snowplow preset, and declared types with the values
that do not fit counted. Each error is one line naming the key."""

from __future__ import annotations

import gzip
import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import ingest_quality, write_config

from workbench.config import load_config
from workbench.errors import ConfigError, DataError
from workbench.ingest.sources import SNOWPLOW_ENRICHED_FIELDS, detect_format

GOAL = {"conditions": [{"field": "event_type", "value": "purchase"}], "window_days": 30}
MAP = {"profile_id": "p", "timestamp": "t"}


def ingest(tmp_path, events: dict, **extra):
    cfg = load_config(write_config(tmp_path, {"events": events, "goal": GOAL, **extra}))
    quality = ingest_quality(cfg, tmp_path / "out")
    return quality, pd.read_parquet(tmp_path / "out" / "events.parquet")


def _jsonl(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_glob_list_and_folder_read_every_file_once(tmp_path):
    for day in (1, 2, 3):
        _jsonl(tmp_path / "shards" / f"events_2024010{day}.json",
               [{"p": f"u{day}", "t": f"2024-01-0{day}T10:00:00Z"}])  # fmt: skip
    (tmp_path / "shards" / "_SUCCESS").write_text("")  # a marker, not data
    base = {"columns": MAP, "event_type": "purchase"}
    quality, events = ingest(tmp_path, {"path": "shards/events_*.json", **base})
    assert quality["rows_read"] == 3 and quality["source"].endswith("(3 files)")
    quality, _ = ingest(tmp_path, {"path": "shards/", **base})
    assert quality["rows_read"] == 3
    listed = ["shards/events_20240101.json", "shards/events_2024010[23].json"]
    quality, _ = ingest(tmp_path, {"path": listed, **base})
    assert quality["rows_read"] == 3


def test_a_glob_that_matches_nothing_is_one_line(tmp_path):
    with pytest.raises(DataError, match=r"events.path: .*nothing_\*.json: no file matches$"):
        ingest(tmp_path, {"path": "nothing_*.json", "columns": MAP, "event_type": "x"})


def test_a_folder_of_two_formats_is_refused_naming_them(tmp_path):
    _jsonl(tmp_path / "mixed" / "a.json", [{"p": "u", "t": "2024-01-01"}])
    (tmp_path / "mixed" / "b.csv").write_text("p,t\nu,2024-01-02\n")
    with pytest.raises(
        DataError, match=r"files of several formats: jsonl \(a.json\), csv \(b.csv\)"
    ):
        ingest(tmp_path, {"path": "mixed", "columns": MAP, "event_type": "x"})


def test_hive_partitions_keep_labels_and_leave_out_time_parts(tmp_path):
    for region, month in (("eu", "01"), ("us", "02")):
        folder = tmp_path / "lake" / f"region={region}" / f"month={month}"
        folder.mkdir(parents=True)
        table = pa.table({"p": ["a", "b"], "t": [f"2024-{month}-01", f"2024-{month}-02"]})
        pq.write_table(table, folder / "part-0.parquet")
    quality, events = ingest(tmp_path, {"path": "lake", "columns": MAP, "event_type": "x"})
    assert quality["rows_read"] == 4
    assert events["region"].tolist().count("eu") == 2
    assert quality["columns"]["region"] == "string"
    assert "month" not in events.columns
    assert any("partition folders ['month'] repeat the event time" in n for n in quality["notices"])


def test_gzipped_json_lines_without_a_json_suffix_are_read_as_json(tmp_path):
    path = tmp_path / "logs" / "1704067200000" / "1704070800000.a1b2.gz"
    path.parent.mkdir(parents=True)
    with gzip.open(path, "wt") as fh:
        fh.write(json.dumps({"p": "u", "t": "2024-01-01T00:00:00Z", "event": "x"}) + "\n")
    assert detect_format(path) == "jsonl"
    quality, events = ingest(tmp_path, {"path": "logs", "columns": {**MAP, "event_type": "event"}})
    assert quality["rows_read"] == 1 and events["event_type"].tolist() == ["x"]


def test_header_less_csv_with_names(tmp_path):
    (tmp_path / "e.tsv").write_text("007\t2024-01-01\tpurchase\t5\n008\t2024-01-02\tview\t\n")
    events = {"path": "e.tsv", "delimiter": "\t", "header": False,
              "names": ["p", "t", "kind", "amount"],
              "columns": {**MAP, "event_type": "kind"}}  # fmt: skip
    quality, frame = ingest(tmp_path, events)
    frame = frame.sort_values("timestamp", ignore_index=True)
    assert quality["rows_read"] == 2 and frame["profile_id"].tolist() == ["007", "008"]
    assert frame["amount"].dropna().tolist() == [5]


@pytest.mark.parametrize(
    "events, message",
    [
        ({"path": "e.csv", "names": ["a"]}, "names: only with header: false"),
        ({"path": "e.csv", "header": False, "names": ["a", "a"]}, "different, non-empty name"),
        ({"path": "e.tsv", "format": "snowplow_enriched", "delimiter": ","}, "sets header, names"),
        ({"path": "e.json", "format": "jsonl", "header": False}, "header and names are for csv"),
        ({"path": "e.csv", "types": {"x": "int"}}, "events.types.x"),
        ({"path": "e.csv", "columns": {"timestamp": ["a", "b"]}}, "timestamp: give one column"),
        ({"path": "e.csv", "columns": {"event_type": [{"join": ["a"]}]}}, "join"),
        ({"path": "e.csv", "columns": {"profile_id": [{"join": ["a", "b"]}]}}, "column names"),
    ],
)
def test_bad_source_keys_are_one_line_naming_the_key(tmp_path, events, message):
    path = write_config(tmp_path, {"events": events, "goal": GOAL})
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "\n" not in str(err.value) and message in str(err.value) and str(path) in str(err.value)


def _snowplow_line(**values) -> str:
    row = dict.fromkeys(SNOWPLOW_ENRICHED_FIELDS, "")
    row.update(values)
    return "\t".join(row[f] for f in SNOWPLOW_ENRICHED_FIELDS) + "\n"


def test_snowplow_preset_reads_131_fields_without_header_or_quoting(tmp_path):
    lines = [
        _snowplow_line(event="page_view", domain_userid="d1", derived_tstamp="2024-01-01 10:00:00.123",
                       geo_zipcode="02134", page_title='"Quoted" title', page_urlport="443"),
        _snowplow_line(event="struct", se_category="cart", se_action="add", user_id="u1",
                       domain_userid="d1", derived_tstamp="2024-01-02 10:00:00.000", se_value="12.5"),
        _snowplow_line(event="struct", se_category="cart", domain_userid="d2",
                       derived_tstamp="2024-01-03 10:00:00.000", se_value="not a number"),
    ]  # fmt: skip
    (tmp_path / "sp").mkdir()
    with gzip.open(tmp_path / "sp" / "part-0.tsv.gz", "wt") as fh:
        fh.write("".join(lines))
    events = {"path": "sp", "format": "snowplow_enriched",
              "columns": {"profile_id": ["user_id", "domain_userid"], "timestamp": "derived_tstamp",
                          "event_type": [{"join": ["se_category", "se_action"], "sep": ":"}, "event"]}}  # fmt: skip
    quality, frame = ingest(tmp_path, events)
    frame = frame.sort_values("timestamp", ignore_index=True)
    assert quality["rows_read"] == 3
    assert frame["event_type"].tolist() == ["page_view", "cart:add", "struct"]  # no action: event
    assert frame["profile_id"].tolist() == ["d1", "u1", "d2"]
    assert (
        frame["geo_zipcode"].tolist()[0] == "02134" and frame["page_title"][0] == '"Quoted" title'
    )
    assert frame["se_value"].tolist()[1] == 12.5 and pd.isna(frame["se_value"][2])
    assert quality["columns"]["page_urlport"] == "int64"
    assert (
        "events.types: se_value (number): 1 values do not fit and are read as missing"
        in quality["notices"]
    )


def test_declared_types_read_bigquery_int64_text_and_count_what_does_not_fit(tmp_path):
    rows = [
        {"p": "u", "t": "1704103200000000", "q": "3", "ecommerce": {"n": "2"}},
        {"p": "u", "t": "1704189600000000", "q": "4.5", "ecommerce": {"n": "x"}},
    ]
    _jsonl(tmp_path / "e.json", rows)
    events = {"path": "e.json", "columns": MAP, "event_type": "purchase",
              "types": {"q": "integer", "ecommerce.n": "integer"}}  # fmt: skip
    quality, frame = ingest(tmp_path, events)
    frame = frame.sort_values("timestamp", ignore_index=True)
    assert quality["columns"]["q"] == "int64" and quality["columns"]["ecommerce.n"] == "int64"
    assert frame["q"].tolist()[0] == 3 and pd.isna(frame["q"][1])  # 4.5 is not an integer
    assert frame["timestamp"].min() == pd.Timestamp("2024-01-01 10:00")  # microseconds as text
    notices = quality["notices"]
    assert "events.types: q (integer): 1 values do not fit and are read as missing" in notices
    assert (
        "events.types: ecommerce.n (integer): 1 values do not fit and are read as missing"
        in notices
    )


def test_a_declared_type_for_no_column_is_one_line(tmp_path):
    _jsonl(tmp_path / "e.json", [{"p": "u", "t": "2024-01-01"}])
    events = {"path": "e.json", "columns": MAP, "event_type": "x", "types": {"qty": "integer"}}
    with pytest.raises(ConfigError, match=r"events.types: unknown column 'qty'; available: p, t"):
        ingest(tmp_path, events)


def test_a_number_condition_on_int64_text_suggests_the_type_not_a_csv_option(tmp_path):
    from workbench.workflow import validate

    rows = [{"p": f"u{i}", "t": f"2024-01-{1 + i:02d}T00:00:00Z", "e": "purchase",
             "ecommerce": {"total_item_quantity": str(i)}} for i in range(20)]  # fmt: skip
    _jsonl(tmp_path / "e.json", rows)
    goal = {"conditions": [{"field": "event_type", "value": "purchase"},
                           {"field": "ecommerce.total_item_quantity", "op": ">=", "value": 1}],
            "window_days": 5}  # fmt: skip
    body = {"events": {"path": "e.json", "columns": {**MAP, "event_type": "e"}}, "goal": goal,
            "training": {"snapshots": 2, "step_days": 5}}  # fmt: skip
    path = write_config(tmp_path, body)
    with pytest.raises(ConfigError) as err:
        validate(path, out=tmp_path / "o")
    message = str(err.value)
    assert "events.types: {ecommerce.total_item_quantity: number}" in message
    assert "decimal_separator" not in message  # a csv-only option, and this is JSON
    body["events"]["types"] = {"ecommerce.total_item_quantity": "integer"}
    found = validate(write_config(tmp_path, body), out=tmp_path / "o2")
    assert found.quality["columns"]["ecommerce.total_item_quantity"] == "int64"
