"""GA4's BigQuery export: daily shards `events_YYYYMMDD`, as BigQuery's JSON export writes them
(INT64 as text, NULL fields left out, `& < >` escaped, a busy day split into numbered files) and
as Parquet (real INT64, nested records).

Schema: developers.google.com/analytics/bigquery/event-schema; field order as `bq show --schema`
dumps of the export and Velir/dbt-ga4 macros/base_select.sql; INT64 as strings and the escaping:
docs.cloud.google.com/bigquery/docs/exporting-data ("Export limitations"); omitted NULLs:
googleapis/nodejs-bigquery#1134. The quirks kept on purpose: `event_params.value` is an
`int_value` for whole-dollar amounts and a `double_value` otherwise; `session_engaged` is text;
`event_date` (and the shard) is in the property's time zone; rows in a shard are not in time
order; `traffic_source` is the user's first acquisition, not the session's.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from vendors.world import (
    DEFAULT_PROFILES,
    DEFAULT_SEED,
    GA4_PROPERTY_TZ,
    HOST,
    REFERRERS,
    UTC,
    Person,
    Product,
    Session,
    drop_nulls,
    simulate,
)

ITEM_TEXT = ("item_id item_name item_brand item_variant item_category item_category2 "
             "item_category3 item_category4 item_category5").split()  # fmt: skip
ITEM_MONEY = (
    "price_in_usd price",
    "item_revenue_in_usd item_revenue item_refund_in_usd item_refund",
)
ITEM_TAIL = ("coupon affiliation location_id item_list_id item_list_name item_list_index "
             "promotion_id promotion_name creative_name creative_slot").split()  # fmt: skip
# The INT64 fields BigQuery's JSON export writes as text.
INT64_KEYS = {
    "event_timestamp", "event_previous_timestamp", "event_bundle_sequence_id",
    "event_server_timestamp_offset", "user_first_touch_timestamp", "int_value",
    "set_timestamp_micros", "total_item_quantity", "unique_items", "quantity",
    "time_zone_offset_seconds",
}  # fmt: skip


def _value(v) -> dict:
    """GA4's value record: whole numbers in int_value, fractions in double_value, text in
    string_value (float_value is unused), so one parameter can be split across two slots."""
    if isinstance(v, str):
        return {"string_value": v}
    if isinstance(v, bool | int | np.integer) or float(v).is_integer():
        return {"int_value": int(v)}
    return {"double_value": float(v)}


def _item(prod: Product, qty: int, purchase: bool, coupon: str | None) -> dict:
    rev = round(prod.price * qty, 2) if purchase else None
    item = dict.fromkeys(ITEM_TEXT + ITEM_TAIL)
    item.update(item_id=prod.sku, item_name=prod.name, item_brand="Example",
                item_variant=prod.variant, item_category=prod.category, coupon=coupon,
                item_list_id="(not set)", item_list_name="(not set)")  # fmt: skip
    item.update(price_in_usd=prod.price, price=prod.price, quantity=qty,
                item_revenue_in_usd=rev, item_revenue=rev, item_refund_in_usd=None,
                item_refund=None)  # fmt: skip
    return item


def _params(s: Session, order: int, name: str, hit, rng) -> dict:
    src, med, camp = s.channel
    url = f"https://{HOST}{hit.path}"
    if src and order < 3:
        url += f"?utm_source={src}&utm_medium={med}" + (f"&utm_campaign={camp}" if camp else "")
    params = {
        "page_location": url, "page_title": hit.title, "ga_session_id": int(s.start),
        "ga_session_number": s.number, "engaged_session_event": 1, "session_engaged": "1",
        "batch_page_id": int(s.start * 1000) % 10**10, "batch_ordering_id": order + 1,
    }  # fmt: skip
    if order == 0 and src:
        params.update(page_referrer=REFERRERS.get(src, "") or None, source=src, medium=med)
        if camp:
            params["campaign"] = camp
    if name == "page_view":
        if order <= 2:
            params["entrances"] = 1
        params["engagement_time_msec"] = int(rng.integers(200, 60000))
    return params


def _commerce(name: str, hit, params: dict) -> tuple[list, dict | None, float | None]:
    """(items, ecommerce, event_value_in_usd) of an event; adds the commerce params."""
    if name in ("view_item", "add_to_cart") and hit.product:
        qty = max(hit.qty, 1)
        params.update(currency="USD", value=round(hit.product.price * qty, 2))
        ecommerce = {"total_item_quantity": qty, "unique_items": 1, "transaction_id": "(not set)"}
        return [_item(hit.product, qty, False, None)], ecommerce, None
    if name == "purchase" and hit.order:
        o = hit.order
        params.update(currency="USD", transaction_id=o.order_id, value=o.revenue, tax=o.tax,
                      shipping=o.shipping)  # fmt: skip
        if o.coupon:
            params["coupon"] = o.coupon
        ecommerce = {
            "total_item_quantity": o.quantity, "purchase_revenue_in_usd": o.revenue,
            "purchase_revenue": o.revenue, "refund_value_in_usd": None, "refund_value": None,
            "shipping_value_in_usd": o.shipping, "shipping_value": o.shipping,
            "tax_value_in_usd": o.tax, "tax_value": o.tax, "unique_items": len(o.lines),
            "transaction_id": o.order_id,
        }  # fmt: skip
        return [_item(pr, q, True, o.coupon) for pr, q in o.lines], ecommerce, o.revenue
    return [], None, None


def _device(s: Session) -> dict:
    cat, os_, osv, br, brv, brand, model, _, _ = s.device.spec
    return {
        "category": cat, "mobile_brand_name": brand or "<Other>",
        "mobile_model_name": model or "<Other>", "mobile_marketing_name": "<Other>",
        "mobile_os_hardware_model": None, "operating_system": os_,
        "operating_system_version": osv, "vendor_id": None, "advertising_id": None,
        "language": "en-us", "is_limited_ad_tracking": "No", "time_zone_offset_seconds": None,
        "browser": None, "browser_version": None,
        "web_info": {"browser": br or "Safari", "browser_version": brv or "17.4", "hostname": HOST},
    }  # fmt: skip


def _user_properties(p: Person, s: Session) -> list[dict]:
    if not s.logged_in:
        return []
    micros = int(s.start * 1e6)
    return [
        {"key": key, "value": {"string_value": value, "set_timestamp_micros": micros}}
        for key, value in (("customer_tier", p.tier), ("logged_in", "yes"))
    ]


def _session_rows(p: Person, s: Session, ltv: dict, rng) -> list[dict]:
    pseudo = f"{s.device.ga_client_id}.{int(s.device.first_seen)}"
    src, med, camp = s.channel
    first = p.sessions[0].channel  # traffic_source: the first acquisition, not this session's
    names = [("first_visit", s.hits[0])] if s.number == 1 else []
    names += [("session_start", s.hits[0])] + [(h.kind, h) for h in s.hits if h.kind != "login"]
    rows = []
    for order, (name, hit) in enumerate(names):
        params = _params(s, order, name, hit, rng)
        items, ecommerce, value_usd = _commerce(name, hit, params)
        ltv[pseudo] += value_usd or 0.0
        local = dt.datetime.fromtimestamp(hit.ts, UTC).astimezone(GA4_PROPERTY_TZ)
        rows.append({
            "event_date": local.strftime("%Y%m%d"),
            "event_timestamp": int(round(hit.ts * 1000)) * 1000 + int(rng.integers(0, 1000)),
            "event_name": name,
            "event_params": [{"key": k, "value": _value(v)} for k, v in params.items() if v is not None],
            "event_previous_timestamp": None,
            "event_value_in_usd": value_usd,
            "event_bundle_sequence_id": int(rng.integers(10**9, 10**10)),
            "event_server_timestamp_offset": int(rng.integers(50_000, 2_500_000)),
            "user_id": p.user_id if s.logged_in else None,
            "user_pseudo_id": pseudo,
            "privacy_info": {"analytics_storage": "Yes", "ads_storage": "Yes", "uses_transient_token": "No"},
            "user_properties": _user_properties(p, s),
            "user_first_touch_timestamp": int(s.device.first_seen * 1e6),
            "user_ltv": {"revenue": round(ltv[pseudo], 2), "currency": "USD"},
            "device": _device(s),
            "geo": {"city": p.city[0], "country": p.city[3], "continent": p.city[4],
                    "region": p.city[1], "sub_continent": p.city[5], "metro": "(not set)"},
            "app_info": None,
            "traffic_source": {"name": first[2] or ("(organic)" if first[1] == "organic" else "(direct)"),
                               "medium": first[1] or "(none)", "source": first[0] or "(direct)"},
            "stream_id": "4178123456",
            "platform": "WEB",
            "event_dimensions": None,
            "ecommerce": ecommerce,
            "items": items,
            "collected_traffic_source": (
                {"manual_campaign_name": camp, "manual_source": src, "manual_medium": med}
                if src and order == 0 else None
            ),
            "is_active_user": True,
        })  # fmt: skip
    return rows


def ga4_rows(people: list[Person], seed: int = DEFAULT_SEED) -> list[dict]:
    """One dict per GA4 event in BigQuery's column order, Python types (int for INT64)."""
    rng = np.random.default_rng(seed + 1)
    rows = []
    for p in people:
        ltv: dict[str, float] = defaultdict(float)
        for s in p.sessions:
            rows += _session_rows(p, s, ltv, rng)
    return rows


def _bq_json(v, key: str = ""):
    """INT64 as JSON strings ("to preserve 64-bit precision"), as BigQuery's export does."""
    if isinstance(v, dict):
        return {k: _bq_json(x, k) for k, x in v.items()}
    if isinstance(v, list):
        return [_bq_json(x, key) for x in v]
    if key in INT64_KEYS and isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    return v


def bq_dumps(row: dict) -> str:
    """One row as BigQuery's JSON export writes it: NULLs left out, INT64 as text, & < > escaped."""
    text = json.dumps(_bq_json(drop_nulls(row)), separators=(",", ":"), ensure_ascii=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def arrow_schema():
    """The export's schema as Parquet holds it (INT64 as int64, repeated records as lists)."""
    import pyarrow as pa

    s, f, i = pa.string(), pa.float64(), pa.int64()

    def struct(names: str, kind=s) -> pa.DataType:
        return pa.struct([(n, kind) for n in names.split()])

    slots = [("string_value", s), ("int_value", i), ("float_value", f), ("double_value", f)]
    item = pa.struct([(n, s) for n in ITEM_TEXT] + [(n, f) for n in ITEM_MONEY[0].split()]
                     + [("quantity", i)] + [(n, f) for n in ITEM_MONEY[1].split()]
                     + [(n, s) for n in ITEM_TAIL])  # fmt: skip
    device = pa.struct(
        [(n, s) for n in ("category mobile_brand_name mobile_model_name mobile_marketing_name "
                          "mobile_os_hardware_model operating_system operating_system_version "
                          "vendor_id advertising_id language is_limited_ad_tracking").split()]
        + [("time_zone_offset_seconds", i), ("browser", s), ("browser_version", s),
           ("web_info", struct("browser browser_version hostname"))]
    )  # fmt: skip
    ecommerce = pa.struct(
        [("total_item_quantity", i)]
        + [(n, f) for n in ("purchase_revenue_in_usd purchase_revenue refund_value_in_usd "
                            "refund_value shipping_value_in_usd shipping_value tax_value_in_usd "
                            "tax_value").split()]
        + [("unique_items", i), ("transaction_id", s)]
    )  # fmt: skip
    return pa.schema([
        ("event_date", s), ("event_timestamp", i), ("event_name", s),
        ("event_params", pa.list_(pa.struct([("key", s), ("value", pa.struct(slots))]))),
        ("event_previous_timestamp", i), ("event_value_in_usd", f),
        ("event_bundle_sequence_id", i), ("event_server_timestamp_offset", i),
        ("user_id", s), ("user_pseudo_id", s),
        ("privacy_info", struct("analytics_storage ads_storage uses_transient_token")),
        ("user_properties", pa.list_(pa.struct([
            ("key", s), ("value", pa.struct([*slots, ("set_timestamp_micros", i)]))]))),
        ("user_first_touch_timestamp", i),
        ("user_ltv", pa.struct([("revenue", f), ("currency", s)])),
        ("device", device),
        ("geo", struct("city country continent region sub_continent metro")),
        ("app_info", struct("id version install_store firebase_app_id install_source")),
        ("traffic_source", struct("name medium source")),
        ("stream_id", s), ("platform", s), ("event_dimensions", struct("hostname")),
        ("ecommerce", ecommerce), ("items", pa.list_(item)),
        ("collected_traffic_source", struct(
            "manual_campaign_id manual_campaign_name manual_source manual_medium manual_term "
            "manual_content gclid dclid srsltid")),
        ("is_active_user", pa.bool_()),
    ])  # fmt: skip


def _shards(rows: list[dict], seed: int) -> dict[str, list[dict]]:
    """Rows by event_date (the property's day), each shard in export order (not time order)."""
    rng = np.random.default_rng(seed + 2)
    shards: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        shards[r["event_date"]].append(r)
    return {day: [rs[i] for i in rng.permutation(len(rs))] for day, rs in sorted(shards.items())}


def write_ga4(
    folder: str | Path,
    n_profiles: int = DEFAULT_PROFILES,
    seed: int = DEFAULT_SEED,
    formats: tuple[str, ...] = ("json", "parquet"),
    people: list[Person] | None = None,
) -> dict:
    """GA4 daily shards events_YYYYMMDD as BigQuery JSON export and/or Parquet: a manifest."""
    people = people if people is not None else simulate(n_profiles, seed)
    rows = ga4_rows(people, seed)
    shards = _shards(rows, seed)
    root = Path(folder) / "ga4"
    files = []
    busiest = max(shards, key=lambda d: len(shards[d]))
    if "json" in formats:
        (root / "json").mkdir(parents=True, exist_ok=True)
        for day, rs in shards.items():
            # a wildcard export of a big day: events_YYYYMMDD-000000000000.json, -...001.json
            half = len(rs) // 2
            parts = [
                (f"events_{day}-{n:012d}.json", chunk)
                for n, chunk in enumerate((rs[:half], rs[half:]))
            ]
            for name, chunk in parts if day == busiest else [(f"events_{day}.json", rs)]:
                path = root / "json" / name
                path.write_text("".join(bq_dumps(r) + "\n" for r in chunk), encoding="utf-8")
                files.append(path)
    if "parquet" in formats:
        import pyarrow as pa
        import pyarrow.parquet as pq

        (root / "parquet").mkdir(parents=True, exist_ok=True)
        for day, rs in shards.items():
            path = root / "parquet" / f"events_{day}.parquet"
            pq.write_table(pa.Table.from_pylist(rs, schema=arrow_schema()), path)
            files.append(path)
    return _manifest(rows, shards, files)


def _number(value: dict) -> float:
    return next(float(value[k]) for k in ("int_value", "double_value") if value.get(k) is not None)


def _manifest(rows: list[dict], shards: dict, files: list[Path]) -> dict:
    purchases = [r for r in rows if r["event_name"] == "purchase"]
    values = [
        next(_number(p["value"]) for p in r["event_params"] if p["key"] == "value")
        for r in purchases
    ]
    return {
        "files": [str(f) for f in files],
        "rows": len(rows),
        "shards": len(shards),
        "rows_without_user_id": sum(r["user_id"] is None for r in rows),
        "profiles_user_id_else_pseudo": len({r["user_id"] or r["user_pseudo_id"] for r in rows}),
        "purchases": len(purchases),
        "purchases_value_ge_50": sum(v >= 50 for v in values),
        "items_in_purchases": sum(i["quantity"] for r in purchases for i in r["items"]),
    }  # fmt: skip
