"""Technical columns are left out by value and by name, personal data stays out while page,
campaign, product and app names stay in, and the objects of an event give point-in-time
distinct counts and conditions."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from helpers import ingest_quality, write_config

from workbench.column_names import is_personal_data
from workbench.conditions import condition_expr
from workbench.config import Condition, load_config
from workbench.engine import duckdb_connection, events_table
from workbench.errors import ConfigError
from workbench.features import plan_features
from workbench.snapshots import build_snapshots
from workbench.technical import epoch_unit, technical_reason

GOAL = {"conditions": [{"field": "event_type", "value": "purchase"}], "window_days": 30}


def _events(tmp_path, frame: pd.DataFrame, features: dict | None = None, name="e.parquet"):
    frame.to_parquet(tmp_path / name)
    body = {"events": {"path": name, "columns": {"profile_id": "p", "timestamp": "t",
                                                 "event_type": "e"}},
            "goal": GOAL, "features": {"lookback_days": 90, **(features or {})}}  # fmt: skip
    cfg = load_config(write_config(tmp_path, body))
    ingest_quality(cfg, tmp_path / "o")
    return events_table(duckdb_connection(), tmp_path / "o" / "events.parquet"), cfg


def test_epoch_numbers_are_left_out_by_value_whatever_their_name(tmp_path):
    n = 40
    t = pd.date_range("2024-01-01", periods=n, freq="D", tz="UTC")
    frame = pd.DataFrame({
        "p": [f"u{i % 5}" for i in range(n)], "t": t, "e": ["view", "purchase"] * (n // 2),
        "server_clock": [int(x.timestamp() * 1000) + 250 for x in t],  # epoch ms, neutral name
        "sent": [x.timestamp() for x in t],  # epoch seconds as floats
        "amount": [float(i % 7) for i in range(n)],
        "engagement_time_msec": [1000 + 37 * i for i in range(n)],  # a duration, not a time
        "mp_processing_time_ms": [int(x.timestamp() * 1000) for x in t],
        "geo_latitude": [51.5] * n, "page_urlport": [443] * n,
    })  # fmt: skip
    events, cfg = _events(tmp_path, frame)
    plan = plan_features(events, cfg)
    assert sorted(plan.numeric_fields) == ["amount", "engagement_time_msec"]
    notices = " ".join(plan.notices)
    assert "'server_clock' holds epoch times (milliseconds since 1970)" in notices
    assert "'sent' holds epoch times (seconds since 1970)" in notices
    for name in ("mp_processing_time_ms", "geo_latitude", "page_urlport"):
        assert f"'{name}' is technical" in notices
    kept, _ = _events(
        tmp_path, frame, {"quantities": ["server_clock", "page_urlport"]}, "f.parquet"
    )
    plan = plan_features(kept, load_config(tmp_path / "config.yaml"))
    assert {"server_clock", "page_urlport"} <= set(plan.numeric_fields)


@pytest.mark.parametrize(
    "low, high, unit",
    [(1.7e9, 1.75e9, "seconds"), (1.7e12, 1.75e12, "milliseconds"),
     (1.7e15, 1.7e15, "microseconds"), (1e9, 9.99e9, None), (5e4, 2.5e6, None), (0, 1.7e9, None)],
)  # fmt: skip
def test_epoch_units(low, high, unit):
    # GA4's event_bundle_sequence_id (1e9 - 1e10) would be 2001 - 2286 in seconds: not epoch-like
    assert epoch_unit(low, high) == unit


def test_known_technical_names():
    for name in ("event_server_timestamp_offset", "event_params.batch_page_id", "br_viewwidth",
                 "device.screenWidth", "properties.$screen_height", "pp_yoffset_max",
                 "br_features_pdf", "refr_urlport"):  # fmt: skip
        assert technical_reason(name), name
    for name in ("event_params.value", "items.quantity", "se_value", "priceTotal", "revenue",
                 "engagement_time_msec", "ga_session_number"):  # fmt: skip
        assert technical_reason(name) is None, name


def test_personal_data_rule_keeps_page_campaign_product_app_and_library_names():
    for name in ("email", "traits.email", "name", "first_name", "traits.name", "context.ip",
                 "user_ipaddress", "phone", "mobile", "customer.name.last", "home.address"):  # fmt: skip
        assert is_personal_data(name), name
    for name in ("web.webPageDetails.name", "marketing.campaignName", "traffic_source.name",
                 "application.name", "context.library.name", "event_name", "items.item_name",
                 "productListItems.name", "device.mobile_brand_name", "br_name", "ti_name",
                 "context.campaign.name"):  # fmt: skip
        assert not is_personal_data(name), name


def _item_events(tmp_path, future: bool):
    rows = [
        ("a", "2024-02-01", "purchase", ["s1", "s2"]),
        ("a", "2024-02-10", "view", ["s2", "s3"]),
        ("a", "2024-02-20", "view", []),
        ("b", "2024-02-15", "view", ["s1"]),
    ]
    if future:  # after the cutoff: must change nothing
        rows += [("a", "2024-03-05", "purchase", ["s4", "s5"]), ("b", "2024-03-02", "view", ["s9"])]
    lines = [{"p": p, "t": t, "e": e, "items": [{"item_id": i, "price": 2.0} for i in ids]}
             for p, t, e, ids in rows]  # fmt: skip
    (tmp_path / "e.json").write_text("".join(json.dumps(r) + "\n" for r in lines))
    body = {"events": {"path": "e.json", "columns": {"profile_id": "p", "timestamp": "t",
                                                    "event_type": "e"}},
            "goal": GOAL, "features": {"lookback_days": 90},
            "custom_events": [{"name": "s2 seen", "conditions": [
                {"field": "items.item_id", "op": "==", "value": "s2"}]}]}  # fmt: skip
    cfg = load_config(write_config(tmp_path, body))
    ingest_quality(cfg, tmp_path / "o")
    return events_table(duckdb_connection(), tmp_path / "o" / "events.parquet"), cfg


@pytest.mark.parametrize("future", [False, True])
def test_distinct_ids_of_an_events_objects_before_the_cutoff_only(tmp_path, future):
    events, cfg = _item_events(tmp_path, future)
    frame, plan = build_snapshots(events, cfg, [pd.Timestamp("2024-03-01")])
    snap = frame.set_index("profile_id")
    assert "items.item_id" in plan.id_fields
    assert snap.loc["a", "items_item_id_distinct_90d"] == 3  # s1, s2, s3
    assert snap.loc["b", "items_item_id_distinct_90d"] == 1
    assert snap.loc["a", "items_price_sum_90d"] == 8.0
    assert snap.loc["a", "custom_s2_seen_count_90d"] == 2
    assert snap.loc["b", "custom_s2_seen_count_90d"] == 0


def test_conditions_on_a_list_field(tmp_path):
    events, _ = _item_events(tmp_path, future=False)

    def rows(**condition) -> int:
        expr = condition_expr(events, Condition(field="items.item_id", **condition))
        return int(events.filter(expr).count().to_pyarrow().as_py())

    assert rows(op="==", value="s2") == 2 and rows(op="!=", value="s2") == 2
    assert rows(op="in", value=["s3", "s1"]) == 3 and rows(op="not_in", value=["s1"]) == 2
    assert rows(op="contains", value="3") == 1 and rows(op="exists") == 3
    assert rows(op="not_exists") == 1  # the empty list
    with pytest.raises(ConfigError, match="is a list of values; use ==, in or contains"):
        rows(op=">=", value="s1")
