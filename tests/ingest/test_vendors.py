"""The five exports analysts have, each read from its published layout by a config alone (the
example configs in examples/vendors), with counts reconciled against the files and against an
independent DuckDB computation of the goal, and the whole pipeline run on its natural goal."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
from helpers import REPO
from vendors import reference, simulate, write_segment, write_snowplow, write_xdm

from workbench.config import load_config
from workbench.features import specs_from_json
from workbench.run import Run
from workbench.workflow import run_pipeline, validate

EXAMPLES = REPO / "examples" / "vendors"
SMALL = ["readiness.min_positives=20", "readiness.min_negatives=20"]


def _config(folder: Path, name: str) -> Path:
    """The example config, next to the exports (its paths are relative to it)."""
    path = folder / f"{name}.yaml"
    shutil.copy(EXAMPLES / f"{name}.yaml", path)
    return path


def _pipeline(folder: Path, name: str, tmp_path: Path) -> Run:
    return run_pipeline(_config(folder, name), out=tmp_path / name, overrides=SMALL)


def _counts(run: Run) -> list[tuple]:
    rows = run.read_json("goal_summary")["cutoffs"]
    return [(r["cutoff"], r["eligible"], r["positives"], r["negatives"]) for r in rows]


def _recount(folder: Path, export: str, counts: list[tuple]) -> list[tuple]:
    """The reference's counts at the run's cutoffs, once the run's validation origins are
    checked to be the reference's (the newest at as_of - window, then a month apart)."""
    cutoffs = [c[0] for c in counts]
    assert set(reference.ORIGINS) <= set(cutoffs) and max(cutoffs) == reference.ORIGINS[-1]
    return reference.goal_counts(folder, export, cutoffs)


def _features(run: Run) -> set[str]:
    return {s.code for s in specs_from_json(run.file("feature_spec"))}


def _finished(run: Run) -> None:
    """Every stage ran: a champion, factors and a score for every eligible profile."""
    assert run.record["status"] == "ok"
    assert run.read_json("metrics")["champion"] in ("logistic", "boosted", "blend")
    assert len(run.read_frame("factors_global")) > 0
    scores = run.read_frame("scores")
    assert len(scores) == run.read_json("score_summary")["profiles"] > 0


def test_ga4_json_shards_with_event_params_and_items(vendor_exports, tmp_path):
    folder, man = vendor_exports
    run = _pipeline(folder, "ga4", tmp_path)
    quality = run.read_json("quality")
    assert quality["reconciles"] and quality["rows_read"] == man["ga4"]["rows"]
    assert quality["profiles"] == man["ga4"]["profiles_user_id_else_pseudo"]  # user_id, else pseudo
    assert quality["source"].endswith(f"({man['ga4']['shards'] + 1} files)")  # a split day
    columns = quality["columns"]
    assert columns["event_params.value"] == "float64"  # int_value or double_value
    assert columns["event_params.page_location"] == "string"
    assert columns["ecommerce.total_item_quantity"] == "int64"  # declared: text in the export
    assert _counts(run) == _recount(folder, "ga4_json", _counts(run))
    features = _features(run)
    assert {"items_item_id_distinct_180d", "items_quantity_sum_180d"} <= features
    assert "custom_checkout_page_count_180d" in features
    snap = run.read_frame("snapshots")
    assert snap["custom_checkout_page_count_180d"].gt(0).any()
    assert snap["items_item_id_distinct_180d"].gt(1).any()
    # every item bought is counted: the per-event sums add up to the export's quantities
    events = pd.read_parquet(run.file("events"))
    bought = events.loc[events["event_type"] == "purchase", "items.quantity"].sum()
    assert bought == man["ga4"]["items_in_purchases"]
    notices = " ".join(run.read_json("goal_summary")["feature_notices"])
    for technical in ("event_server_timestamp_offset", "event_bundle_sequence_id",
                      "event_params.ga_session_id"):  # fmt: skip
        assert f"'{technical}' is technical" in notices
    assert not any("server_timestamp" in f or "bundle" in f for f in features)
    _finished(run)


def test_ga4_parquet_folder_gives_the_same_counts(vendor_exports, tmp_path):
    folder, man = vendor_exports
    found = validate(
        _config(folder, "ga4"), out=tmp_path, overrides=[*SMALL, "events.path=ga4/parquet/"]
    )
    assert found.quality["rows_read"] == man["ga4"]["rows"]
    got = [tuple(r) for r in found.goal.counts[["cutoff", "eligible", "positives", "negatives"]]
           .assign(cutoff=lambda f: f["cutoff"].dt.strftime("%Y-%m-%d")).itertuples(index=False)]  # fmt: skip
    assert got == _recount(folder, "ga4_parquet", got)


def test_xdm_parquet_hive_folders_with_identity_map(vendor_exports, tmp_path):
    folder, man = vendor_exports
    run = _pipeline(folder, "xdm", tmp_path)
    quality = run.read_json("quality")
    assert quality["reconciles"] and quality["rows_read"] == man["xdm"]["rows"]
    assert quality["profiles"] == man["xdm"]["profiles_crmid_else_ecid"]  # CRMID, else ECID
    assert (
        "events: partition folders ['year', 'month'] repeat the event time" in quality["notices"][0]
    )
    assert "year" not in quality["columns"] and "identityMap" not in quality["columns"]
    assert quality["columns"]["productListItems.priceTotal"] == "float64"
    assert _counts(run) == _recount(folder, "xdm_parquet", _counts(run))
    features = _features(run)
    assert "custom_big_basket_add_count_180d" in features
    # page, campaign and product names are behaviour, not personal data
    assert {
        "web_webpagedetails_name_distinct_180d",
        "marketing_campaignname_distinct_180d",
    } <= features
    assert not any("screenwidth" in f or "viewport" in f for f in features)
    _finished(run)


def test_xdm_json_lines_read_identity_map_as_a_record(vendor_exports, tmp_path):
    folder, man = vendor_exports
    found = validate(
        _config(folder, "xdm"), out=tmp_path, overrides=[*SMALL, "events.path=xdm/jsonl/"]
    )
    assert found.quality["profiles"] == man["xdm"]["profiles_crmid_else_ecid"]
    cutoffs = [(c,) for c in found.goal.counts["cutoff"].dt.strftime("%Y-%m-%d")]
    assert found.goal.counts["positives"].tolist() == [
        p for _, _, p, _ in _recount(folder, "xdm_jsonl", cutoffs)
    ]


def test_segment_track_and_page_calls_stitched_by_the_identity_table(vendor_exports, tmp_path):
    folder, man = vendor_exports
    run = _pipeline(folder, "segment", tmp_path)
    quality = run.read_json("quality")
    seg = man["segment"]
    assert quality["reconciles"] and quality["rows_read"] == seg["rows"]
    assert quality["rows_quarantined"] == 0  # page calls have no `event`, anonymous ones no userId
    assert quality["event_types"]["page"] == seg["by_type"]["page"]
    assert quality["event_types"]["identify"] == seg["by_type"]["identify"]
    assert quality["event_types"]["Order Completed"] == seg["purchases"]
    stitched = quality["identities"]
    assert stitched["profiles_before"] == seg["profiles_userid_else_anonymousid"]
    assert stitched["profiles_after"] == quality["profiles"] == seg["profiles_after_stitching"]
    assert stitched["events_stitched"] > 0 and stitched["conflicts"] == 0
    assert _counts(run) == _recount(folder, "segment", _counts(run))
    assert "properties_products_product_id_distinct_180d" in _features(run)
    notices = run.read_json("goal_summary")["feature_notices"]
    assert "column 'traits.email' looks like personal data and is not used as a feature" in notices
    _finished(run)


def test_snowplow_enriched_tsv_with_structured_events(vendor_exports, tmp_path):
    folder, man = vendor_exports
    run = _pipeline(folder, "snowplow", tmp_path)
    quality = run.read_json("quality")
    sp = man["snowplow"]
    assert quality["reconciles"] and quality["rows_read"] == sp["rows"]
    types = quality["event_types"]
    assert (
        types["cart:add"] + types["product:view"] + types["checkout:complete"]
        == sp["by_event"]["struct"]
    )
    assert "struct" not in types and types["page_view"] == sp["by_event"]["page_view"]
    assert quality["columns"]["geo_zipcode"] == "string"  # leading zeros kept
    assert quality["columns"]["se_value"] == "float64"
    assert quality["columns"]["etl_tstamp"].startswith("timestamp")
    assert _counts(run) == _recount(folder, "snowplow", _counts(run))
    features = _features(run)
    assert {"cart_add_count_30d", "custom_big_product_view_count_180d"} <= features
    assert not any(word in f for f in features for word in ("urlport", "latitude", "viewwidth"))
    _finished(run)


def test_mixpanel_export_with_duplicates_and_technical_fields(vendor_exports, tmp_path):
    folder, man = vendor_exports
    run = _pipeline(folder, "mixpanel", tmp_path)
    quality = run.read_json("quality")
    mp = man["mixpanel"]
    assert quality["reconciles"] and quality["rows_read"] == mp["rows"]
    assert quality["duplicates_dropped"] == mp["duplicates_by_mixpanel_key"] > 0
    assert _counts(run) == _recount(folder, "mixpanel", _counts(run))
    features = _features(run)
    assert not any("processing_time" in f or "screen" in f or "_time_" in f for f in features)
    notices = " ".join(run.read_json("goal_summary")["feature_notices"])
    assert (
        "'properties.mp_processing_time_ms'" in notices and "'properties.$screen_width'" in notices
    )
    factors = run.read_frame("factors_global")
    assert not factors["feature"].str.contains("processing_time").any()
    _finished(run)


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(folder)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_the_exports_are_the_same_bytes_for_the_same_seed(tmp_path):
    for out in ("a", "b"):
        people = simulate(40, seed=3)
        for write in (write_segment, write_snowplow, write_xdm):
            write(tmp_path / out, people=people, seed=3)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")


def test_example_configs_are_valid(tmp_path):
    for path in sorted(EXAMPLES.glob("*.yaml")):
        cfg = load_config(path)
        assert cfg.scoring.as_of is not None, path.name
    assert json.dumps(load_config(EXAMPLES / "snowplow.yaml").events.columns["event_type"][0].model_dump()) \
        == '{"join": ["se_category", "se_action"], "sep": ":"}'  # fmt: skip
