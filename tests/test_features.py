"""Which columns become which features: identifiers are counted, times are left out, the
analyst can override both; conditions refuse to compare text as numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import ingest_quality, write_config

from workbench.conditions import condition_expr
from workbench.config import load_config
from workbench.engine import duckdb_connection, events_table
from workbench.errors import ConfigError
from workbench.features import looks_like_identifier, looks_like_time, plan_features


@pytest.mark.parametrize(
    "name",
    ["product_id", "categoryId", "item.SKU", "itemid", "visitorid", "transactionid",
     "CustomerID", "InvoiceNo", "order_number", "customer_zip_code_prefix", "StockCode",
     "seller_zip", "ean"],
)  # fmt: skip
def test_identifier_names(name):
    assert looks_like_identifier(name)


@pytest.mark.parametrize(
    "name",
    ["price", "quantity", "amount_paid", "payment_value", "number_of_items", "valid",
     "android_version", "payment_installments", "revenue", "page_views", "buy_num",
     "visitNumber", "hits.hitNumber", "session_number"],
)  # fmt: skip
def test_quantity_names(name):
    assert not looks_like_identifier(name)


@pytest.mark.parametrize("name", ["event_timestamp", "created_at", "orderDate", "epoch_ms"])
def test_time_names(name):
    assert looks_like_time(name)


@pytest.mark.parametrize(
    "name", ["watch_time", "session_duration", "update_count", "days", "spend_to_date"]
)
def test_not_time_names(name):
    assert not looks_like_time(name)


def _plan(tmp_path, features: dict | None = None):
    rng = np.random.default_rng(0)
    n = 600
    events = pd.DataFrame(
        {
            "visitorid": rng.integers(0, 60, n).astype(str),
            "ts": pd.Timestamp("2024-01-01", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 90, n), "D"),
            "event": rng.choice(["view", "addtocart", "transaction"], n),
            "itemid": rng.integers(1000, 1040, n),  # an id stored as a number
            "transactionid": np.where(rng.random(n) < 0.3, rng.integers(1, 50, n), np.nan),
            "event_timestamp": rng.integers(1_700_000_000_000, 1_710_000_000_000, n),
            "price": rng.integers(1, 20, n) * 1.5,
        }
    )
    events.to_parquet(tmp_path / "e.parquet")
    body = {
        "events": {
            "path": "e.parquet",
            "columns": {"profile_id": "visitorid", "timestamp": "ts", "event_type": "event"},
        },
        "goal": {
            "conditions": [{"field": "event_type", "value": "transaction"}],
            "window_days": 30,
        },
    }
    if features:
        body["features"] = features
    cfg = load_config(write_config(tmp_path, body))
    ingest_quality(cfg, tmp_path / "o")
    ev = events_table(duckdb_connection(), tmp_path / "o" / "events.parquet")
    return plan_features(ev, cfg), ev, cfg


def test_numeric_ids_are_counted_and_times_left_out(tmp_path):
    plan, _, _ = _plan(tmp_path)
    assert plan.numeric_fields == ["price"]
    assert sorted(plan.id_fields) == ["itemid", "transactionid"]
    codes = [s.code for s in plan.specs]
    assert "itemid_distinct_365d" in codes
    assert not [c for c in codes if c.startswith(("itemid_sum", "event_timestamp"))]
    notices = " ".join(plan.notices)
    assert "'itemid' looks like an identifier" in notices
    assert "'event_timestamp' looks like a point in time" in notices


def test_analyst_overrides_the_name_guess(tmp_path):
    plan, _, _ = _plan(
        tmp_path, {"identifiers": ["price"], "quantities": ["itemid", "event_timestamp"]}
    )
    assert sorted(plan.numeric_fields) == ["event_timestamp", "itemid"]
    assert "price" in plan.id_fields


def test_unknown_override_column_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match=r"features.quantities: unknown column\(s\) \['itemd'\]"):
        _plan(tmp_path, {"quantities": ["itemd"]})


def test_numeric_profile_ids_become_categories(tmp_path):
    import ibis

    _, ev, cfg = _plan(tmp_path)
    profiles = ibis.memtable(
        pd.DataFrame(
            {
                "profile_id": [str(i) for i in range(60)],
                "customer_zip_code_prefix": [1000 + i % 7 for i in range(60)],
                "age": [float(20 + i % 40) for i in range(60)],
            }
        )
    )
    plan = plan_features(ev, cfg, profiles)
    assert plan.profile_numeric == ["age"]
    assert plan.profile_categorical["customer_zip_code_prefix"][:2] == ["1000", "1001"]


def test_numeric_profile_ids_with_gaps_keep_their_levels(tmp_path):
    """An int id with nulls comes back from the engine as float in pandas; the levels must be
    the text the snapshot's cast gives, or every value would become 'other'."""
    import ibis

    from workbench.snapshots import build_snapshots

    _, ev, cfg = _plan(tmp_path)
    ids = pd.Series([1000 + i % 3 if i % 5 else None for i in range(60)], dtype="Int64")
    profiles = ibis.memtable(
        pd.DataFrame({"profile_id": [str(i) for i in range(60)], "store_id": ids})
    )
    plan = plan_features(ev, cfg, profiles)
    assert plan.profile_categorical["store_id"] == ["1000", "1001", "1002"]
    snap, _ = build_snapshots(ev, cfg, [pd.Timestamp("2024-03-15")], plan, profiles)
    values = set(snap["profile_store_id"].dropna().astype(str))
    assert values and values <= {"1000", "1001", "1002"}


def test_ordering_a_text_column_against_a_number_is_refused(tmp_path):
    from workbench.config import Condition

    _, ev, _ = _plan(tmp_path)
    text = ev.mutate(price_text=ev.price.cast("string"))
    with pytest.raises(ConfigError, match=r"'price_text' holds text.*decimal_separator"):
        condition_expr(text, Condition(field="price_text", op=">=", value=5), "goal.conditions[0]")
    # equality with text and ordering on numbers stay allowed
    condition_expr(text, Condition(field="price_text", op="==", value=5), "k")
    condition_expr(text, Condition(field="price", op=">=", value=5), "k")


@pytest.mark.parametrize(
    "raw, label",
    [("addtocart", "add to cart"), ("commerce.productViews", "product views"),
     ("page_view", "page view"), ("dollar_value", "dollar value")],
)  # fmt: skip
def test_event_names_read_as_words(raw, label):
    from workbench.features import humanize

    assert humanize(raw) == label


@pytest.mark.parametrize(
    "plural, one",
    [("purchases", "purchase"), ("page views", "page view"), ("add to cart", "add to cart"),
     ("inquiries", "inquiry"), ("status", "status"), ("address", "address"),
     ("searches", "search"), ("news", "news"), ("page_views", "page_view")],
)  # fmt: skip
def test_days_since_labels_use_the_singular(plural, one):
    from workbench.features import singular

    assert singular(plural) == one


@pytest.mark.parametrize(
    "one, many",
    [("view", "views"), ("purchases", "purchases"), ("search", "searches"),
     ("add to cart", "add to cart events"), ("page view", "page views"), ("inquiry", "inquiries"),
     ("Big order", "Big orders"), ("day", "days")],
)  # fmt: skip
def test_count_labels_use_the_plural(one, many):
    from workbench.features import plural

    assert plural(one) == many


def test_check_fields_names_the_file_for_a_type_mismatch(tmp_path):
    from workbench.config import Condition
    from workbench.goals import check_fields

    _, ev, cfg = _plan(tmp_path)
    text = ev.mutate(price_text=ev.price.cast("string"))
    cfg.goal.conditions = [Condition(field="price_text", op=">", value=3)]
    with pytest.raises(ConfigError, match=r"config.yaml: goal.conditions\[0\]: field 'price_text'"):
        check_fields(cfg, text.columns, text)


def test_feature_codes_do_not_depend_on_which_event_type_is_more_frequent():
    from workbench.families import plan_specs as _specs
    from workbench.features import FeaturePlan, feature_prefixes

    def plan(types):
        return FeaturePlan(event_types=types, custom_events=[], numeric_fields=[], id_fields=[])

    a, b = plan(["Search", "search", "events"]), plan(["search", "events", "Search"])
    assert feature_prefixes(a) == feature_prefixes(b)
    assert feature_prefixes(a)[("event_type", "search")] == "search"
    assert feature_prefixes(a)[("event_type", "Search")] == "search_2"
    assert feature_prefixes(a)[("event_type", "events")] == "events_2"  # events_count_30d is taken
    codes = [s.code for s in _specs(a)]
    assert len(codes) == len(set(codes))
    labels = {s.code: s.label for s in _specs(a)}
    assert labels["search_count_7d"] != labels["search_2_count_7d"]
