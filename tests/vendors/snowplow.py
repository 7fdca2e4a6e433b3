"""Snowplow enriched events: gzipped TSV, the 131 canonical fields in order, no header, no
quoting, empty strings for missing values, monthly folders.

Schema: snowplow/documentation docs/pipeline/enriched-tsv-format; types and timestamp text as
snowplow/snowplow-python-analytics-sdk's event_transformer reads them.
"""

from __future__ import annotations

import gzip
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from vendors.world import (
    DEFAULT_PROFILES,
    DEFAULT_SEED,
    HOST,
    REFERRERS,
    Person,
    all_hits,
    hex_id,
    iso,
    new_uuid,
    simulate,
)
from workbench.ingest.sources import SNOWPLOW_ENRICHED_FIELDS as SNOWPLOW_FIELDS


def _sp_ts(ts: float) -> str:
    return iso(ts, sep=" ", z="")


SP = "com.snowplowanalytics.snowplow"
_CONTEXTS = "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-"


def _contexts(rng, spec) -> dict:
    cat, os_, _, br = spec[:4]
    page = {"schema": f"iglu:{SP}/web_page/jsonschema/1-0-0", "data": {"id": new_uuid(rng)}}
    ua = {"schema": f"iglu:{SP}/ua_parser_context/jsonschema/1-0-0",
          "data": {"useragentFamily": br, "osFamily": os_, "deviceFamily": cat}}  # fmt: skip
    dumps = lambda v: json.dumps(v, separators=(",", ":"))  # noqa: E731
    return {"contexts": dumps({"schema": f"{_CONTEXTS}0", "data": [page]}),
            "derived_contexts": dumps({"schema": f"{_CONTEXTS}1", "data": [ua]})}  # fmt: skip


def _base(rng, p: Person, s, h) -> tuple[dict, float, float]:
    """The fields every event of this hit shares: (fields, sent, collected)."""
    dev = s.device
    _, os_, osv, br, brv, _, _, w, hgt = dev.spec
    sent = h.ts + float(rng.uniform(0.05, 2))
    coll = sent + float(rng.uniform(0.02, 0.3))
    base = dict.fromkeys(SNOWPLOW_FIELDS, "")
    contexts = _contexts(rng, dev.spec)
    base.update({
        "app_id": "shop", "platform": "web", "etl_tstamp": _sp_ts(coll + 4.5),
        "collector_tstamp": _sp_ts(coll), "dvce_created_tstamp": _sp_ts(h.ts),
        "dvce_sent_tstamp": _sp_ts(sent),
        "derived_tstamp": _sp_ts(h.ts),  # collector - (sent - created): no clock skew here
        "event_id": new_uuid(rng), "name_tracker": "sp", "v_tracker": "js-3.23.1",
        "v_collector": "ssc-3.2.0-kinesis", "v_etl": "snowplow-enrich-kinesis-4.2.0",
        "user_id": p.user_id if s.logged_in else "",
        "user_ipaddress": f"203.0.113.{int(rng.integers(1, 255))}",
        "domain_userid": dev.sp_domain_userid, "domain_sessionidx": str(s.number),
        "network_userid": dev.sp_network_userid, "domain_sessionid": s.sid,
        "geo_country": p.city[2], "geo_region": p.city[1][:2].upper(), "geo_city": p.city[0],
        "geo_zipcode": f"{int(rng.integers(10000, 99999))}",
        "geo_latitude": f"{p.city[6] + rng.normal(0, 0.05):.4f}",
        "geo_longitude": f"{p.city[7] + rng.normal(0, 0.05):.4f}",
        "geo_region_name": p.city[1], "geo_timezone": p.city[8],
        "page_url": f"https://{HOST}{h.path}", "page_title": h.title, "page_urlscheme": "https",
        "page_urlhost": HOST, "page_urlport": "443", "page_urlpath": h.path,
        "useragent": f"Mozilla/5.0 ({os_} {osv}) {br}/{brv}", "br_lang": "en-US",
        "br_cookies": "1", "br_colordepth": "24", "br_viewwidth": str(w),
        "br_viewheight": str(int(hgt * 0.85)), "os_timezone": p.city[8],
        "dvce_screenwidth": str(w), "dvce_screenheight": str(hgt), "doc_charset": "UTF-8",
        "doc_width": str(w), "doc_height": str(hgt * 3), **contexts,
        "event_format": "jsonschema", "event_version": "1-0-0",
        "event_fingerprint": hex_id(rng, 32),
    })  # fmt: skip
    src, med, camp = s.channel
    if h is s.hits[0] and src:
        ref = REFERRERS.get(src, "")
        if ref:
            base.update({
                "page_referrer": ref, "refr_urlscheme": "https", "refr_urlhost": ref.split("/")[2],
                "refr_urlport": "443", "refr_urlpath": "/", "refr_source": src.title(),
                "refr_medium": "search" if med == "organic" else "unknown",
            })  # fmt: skip
        base.update(mkt_source=src, mkt_medium=med, mkt_campaign=camp or "",
                    page_urlquery=f"utm_source={src}&utm_medium={med}")  # fmt: skip
    return base, sent, coll


def _page_events(rng, base: dict, h, sent: float, coll: float) -> list[dict]:
    out = [dict(base, event="page_view", event_vendor=SP, event_name="page_view")]
    if rng.random() < 0.4:  # activity tracking: a page ping 10 s later
        out.append(dict(
            base, event="page_ping", event_vendor=SP, event_name="page_ping",
            event_id=new_uuid(rng), dvce_created_tstamp=_sp_ts(h.ts + 10),
            derived_tstamp=_sp_ts(h.ts + 10), collector_tstamp=_sp_ts(coll + 10),
            dvce_sent_tstamp=_sp_ts(sent + 10), pp_xoffset_min="0", pp_xoffset_max="0",
            pp_yoffset_min="0", pp_yoffset_max=str(int(rng.integers(100, 3000))),
        ))  # fmt: skip
    return out


def _purchase_events(rng, base: dict, p: Person, o) -> list[dict]:
    """One transaction row, one transaction_item row per line, a checkout:complete struct event."""
    money = {"tr_total": o.total, "tr_tax": o.tax, "tr_shipping": o.shipping}
    money = {k: f"{v:.2f}" for k, v in money.items()} | {
        f"{k}_base": f"{v:.2f}" for k, v in money.items()
    }
    out = [dict(base, event="transaction", event_vendor=SP, event_name="transaction",
                tr_orderid=o.order_id, tr_affiliation="web", tr_city=p.city[0],
                tr_country=p.city[2], tr_currency="USD", base_currency="USD", **money)]  # fmt: skip
    for pr, q in o.lines:
        out.append(dict(
            base, event="transaction_item", event_id=new_uuid(rng), event_vendor=SP,
            event_name="transaction_item", ti_orderid=o.order_id, ti_sku=pr.sku, ti_name=pr.name,
            ti_category=pr.category, ti_price=f"{pr.price:.2f}", ti_quantity=str(q),
            ti_currency="USD", ti_price_base=f"{pr.price:.2f}", base_currency="USD",
        ))  # fmt: skip
    out.append(dict(base, event="struct", event_id=new_uuid(rng), event_vendor="com.google.analytics",
                    event_name="event", se_category="checkout", se_action="complete",
                    se_label=o.order_id, se_value=f"{o.total:.2f}"))  # fmt: skip
    return out


def snowplow_rows(people: list[Person], seed: int = DEFAULT_SEED) -> list[dict]:
    """Enriched events (web only: the app has no Snowplow tracker here), as dicts of text."""
    rng = np.random.default_rng(seed + 6)
    rows = []
    for p, s, h in all_hits(people):
        if s.device.app or h.kind == "login":
            continue
        base, sent, coll = _base(rng, p, s, h)
        if h.kind == "page_view":
            rows += _page_events(rng, base, h, sent, coll)
        elif h.kind in ("view_item", "add_to_cart"):
            view = h.kind == "view_item"
            rows.append(dict(
                base, event="struct", event_vendor="com.google.analytics", event_name="event",
                se_category="product" if view else "cart", se_action="view" if view else "add",
                se_label=h.product.sku, se_property=h.product.category,
                se_value=f"{h.product.price * max(h.qty, 1):.2f}",
            ))  # fmt: skip
        elif h.kind == "purchase":
            rows += _purchase_events(rng, base, p, h.order)
    return rows


def write_snowplow(
    folder: str | Path,
    n_profiles: int = DEFAULT_PROFILES,
    seed: int = DEFAULT_SEED,
    people: list[Person] | None = None,
) -> dict:
    """Enriched events: gzipped TSV, 131 canonical fields, no header, monthly folders."""
    people = people if people is not None else simulate(n_profiles, seed)
    rows = snowplow_rows(people, seed)
    rows.sort(key=lambda r: r["collector_tstamp"])
    root = Path(folder) / "snowplow" / "enriched"
    by_month: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_month[r["collector_tstamp"][:7]].append(r)
    files = []
    for m, rs in sorted(by_month.items()):
        out = root / m[:4] / m[5:7]
        out.mkdir(parents=True, exist_ok=True)
        path = out / "part-00000.tsv.gz"
        lines = []
        for r in rs:
            vals = [r[n] for n in SNOWPLOW_FIELDS]
            assert not any("\t" in v or "\n" in v for v in vals)
            lines.append("\t".join(vals) + "\n")
        with gzip.GzipFile(path, "wb", mtime=0) as fh:
            fh.write("".join(lines).encode())
        files.append(path)
    return {
        "files": [str(f) for f in files],
        "rows": len(rows),
        "by_event": {
            e: sum(r["event"] == e for r in rows)
            for e in ("page_view", "page_ping", "struct", "transaction", "transaction_item")
        },
        "profiles_user_id_else_domain_userid": len(
            {r["user_id"] or r["domain_userid"] for r in rows}
        ),
        "transactions": sum(r["event"] == "transaction" for r in rows),
    }
