"""Nested columns made into fields (key/value arrays, maps, arrays of objects, lists), profile
ids and event types from several fields, and the identity table; hand-made rows whose fields can
be checked by eye."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import ingest_quality, write_config

from workbench.config import load_config
from workbench.errors import ConfigError, DataError

GOAL = {"conditions": [{"field": "event_type", "value": "purchase"}], "window_days": 30}


def ingest(tmp_path, events: dict, **extra):
    cfg = load_config(write_config(tmp_path, {"events": events, "goal": GOAL, **extra}))
    quality = ingest_quality(cfg, tmp_path / "out")
    frame = pd.read_parquet(tmp_path / "out" / "events.parquet")
    return quality, frame.sort_values("timestamp", ignore_index=True)


def _jsonl(tmp_path, rows, name="e.json"):
    (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    return name


def _param(key, **value):
    return {"key": key, "value": value}


def test_key_value_arrays_become_typed_fields(tmp_path):
    rows = [
        {"u": "a", "t": "2024-01-01T00:00:00Z", "e": "purchase",
         "event_params": [_param("value", int_value="40"), _param("page", string_value="/x")]},
        {"u": "a", "t": "2024-01-02T00:00:00Z", "e": "purchase",
         "event_params": [_param("value", double_value=12.5), _param("mixed", string_value="7")]},
        {"u": "a", "t": "2024-01-03T00:00:00Z", "e": "view",
         "event_params": [_param("mixed", int_value="3")]},
    ]  # fmt: skip
    events = {"path": _jsonl(tmp_path, rows), "columns": {"profile_id": "u", "timestamp": "t",
                                                         "event_type": "e"}}  # fmt: skip
    quality, frame = ingest(tmp_path, events)
    assert quality["columns"]["event_params.value"] == "float64"  # int here, double there
    assert frame["event_params.value"].tolist()[:2] == [40.0, 12.5]
    assert frame["event_params.page"].tolist()[0] == "/x"
    assert (
        quality["columns"]["event_params.mixed"] == "string"
    )  # text on one event, a number on another
    assert frame["event_params.mixed"].tolist()[1:] == ["7", "3"]
    assert any("keys ['mixed'] hold text on some events" in n for n in quality["notices"])
    assert quality["nested"]["event_params"]["kind"] == "key/value"
    assert "event_params" not in quality["columns"]  # its content is in the fields


def test_arrays_of_objects_give_counts_sums_and_distinct_ids(tmp_path):
    rows = [
        {"u": "a", "t": "2024-01-01T00:00:00Z", "e": "purchase",
         "items": [{"item_id": "s1", "price": 10.0, "quantity": "2"},
                   {"item_id": "s2", "price": 5.5, "quantity": "1"},
                   {"item_id": "s1", "price": 10.0, "quantity": "1"}]},
        {"u": "a", "t": "2024-01-02T00:00:00Z", "e": "view", "items": []},
    ]  # fmt: skip
    events = {"path": _jsonl(tmp_path, rows), "types": {"items.quantity": "integer"},
              "columns": {"profile_id": "u", "timestamp": "t", "event_type": "e"}}  # fmt: skip
    quality, frame = ingest(tmp_path, events)
    first, empty = frame.iloc[0], frame.iloc[1]
    assert first["items.items_count"] == 3 and empty["items.items_count"] == 0
    assert first["items.price"] == 25.5 and first["items.quantity"] == 4
    assert sorted(first["items.item_id"]) == ["s1", "s2"]
    assert pd.isna(empty["items.price"])


def test_maps_give_a_field_per_key_and_identity_lists_the_primary_id(tmp_path):
    item = pa.struct([("id", pa.string()), ("primary", pa.bool_())])
    table = pa.table({
        "ts": pa.array(["2024-01-01", "2024-01-02", "2024-01-03"]),
        "eventType": ["view", "purchase", "view"],
        "identityMap": pa.array([
            [("ECID", [{"id": "e1", "primary": True}])],
            [("ECID", [{"id": "e1", "primary": False}]), ("CRMID", [{"id": "c9", "primary": True}])],
            [("ECID", [{"id": "e2", "primary": False}, {"id": "e3", "primary": True}])],
        ], type=pa.map_(pa.string(), pa.list_(item))),
        "attrs": pa.array([[("tier", "gold")], [], [("tier", "silver")]],
                          type=pa.map_(pa.string(), pa.string())),
    })  # fmt: skip
    pq.write_table(table, tmp_path / "x.parquet")
    events = {"path": "x.parquet", "columns": {
        "profile_id": ["identityMap.CRMID", "identityMap.ECID"], "timestamp": "ts",
        "event_type": "eventType"}}  # fmt: skip
    quality, frame = ingest(tmp_path, events)
    assert frame["profile_id"].tolist() == ["e1", "c9", "e3"]  # CRMID, else ECID (primary first)
    assert frame["attrs.tier"].fillna("-").tolist() == ["gold", "-", "silver"]
    assert "identityMap" not in quality["columns"]


def test_a_nested_column_no_field_is_made_from_is_named(tmp_path):
    rows = [{"u": "a", "t": "2024-01-01T00:00:00Z", "grid": [[1, 2], [3]]}]
    events = {"path": _jsonl(tmp_path, rows), "event_type": "purchase",
              "columns": {"profile_id": "u", "timestamp": "t"}}  # fmt: skip
    quality, _ = ingest(tmp_path, events)
    assert any("column 'grid'" in n and "kept but not used" in n for n in quality["notices"])


def test_profile_id_list_takes_the_first_non_empty(tmp_path):
    (tmp_path / "e.csv").write_text(
        "user_id,anon,t,type,event\n"
        ",a1,2024-01-01,page,\n"  # anonymous page call
        "  ,a1,2024-01-02,track,Viewed\n"  # blank user id counts as missing
        "u7,a1,2024-01-03,track,Order Completed\n"
        ",,2024-01-04,page,\n"  # no id at all: quarantined
    )
    events = {"path": "e.csv", "columns": {"profile_id": ["user_id", "anon"], "timestamp": "t",
                                           "event_type": ["event", "type"]}}  # fmt: skip
    quality, frame = ingest(tmp_path, events)
    assert frame["profile_id"].tolist() == ["a1", "a1", "u7"]
    assert frame["event_type"].tolist() == ["page", "Viewed", "Order Completed"]
    assert quality["quarantine_reasons"] == {"missing profile_id": 1}


def test_a_listed_column_that_is_not_there_is_one_line(tmp_path):
    (tmp_path / "e.csv").write_text("anon,t\na1,2024-01-01\n")
    events = {"path": "e.csv", "event_type": "x",
              "columns": {"profile_id": ["userId", "anon"], "timestamp": "t"}}  # fmt: skip
    with pytest.raises(
        DataError, match=r"column 'userId' \(mapped to profile_id\) not found; available: anon, t$"
    ):
        ingest(tmp_path, events)


def test_identity_table_stitches_before_anything_else_and_is_counted(tmp_path):
    (tmp_path / "e.csv").write_text(
        "uid,anon,t\n"
        ",a1,2024-01-01\n,a1,2024-01-02\nu1,a1,2024-01-03\n"  # a1 logs in as u1
        ",a2,2024-01-04\n"  # a2 maps to two users: conflict, the smallest is taken
        ",a3,2024-01-05\n"  # never identified
    )
    (tmp_path / "ids.csv").write_text("anonymous_id,user_id\na1,u1\na2,u3\na2,u2\n")
    body = {"path": "e.csv", "event_type": "purchase",
            "columns": {"profile_id": ["uid", "anon"], "timestamp": "t"}}  # fmt: skip
    identities = {"path": "ids.csv", "columns": {"from": "anonymous_id", "to": "user_id"}}
    quality, frame = ingest(tmp_path, body, identities=identities)
    assert frame["profile_id"].tolist() == ["u1", "u1", "u1", "u2", "a3"]
    assert quality["identities"] == {
        "source": str(tmp_path / "ids.csv"), "ids": 2, "conflicts": 1, "events_stitched": 3,
        "profiles_before": 4, "profiles_after": 3,
    }  # fmt: skip


def test_identities_columns_must_be_from_and_to(tmp_path):
    body = {"events": {"path": "e.csv"}, "goal": GOAL,
            "identities": {"path": "ids.csv", "columns": {"source": "a"}}}  # fmt: skip
    with pytest.raises(ConfigError, match=r"identities.columns: unknown key\(s\) \['source'\]"):
        load_config(write_config(tmp_path, body))
