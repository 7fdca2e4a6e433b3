"""Adobe XDM ExperienceEvents: monthly JSONL files and a Hive-partitioned Parquet folder in which
`identityMap` is a real MAP (as XDM defines it: `"meta:xdmType": "map"` of identity lists).

Schema: adobe/xdm components/behaviors/time-series.schema.json (eventType),
fieldgroups/shared/identitymap.schema.json, datatypes/identityitem.schema.json,
datatypes/productlistitem.schema.json, datatypes/marketing/commerce.schema.json,
datatypes/data/order.schema.json, datatypes/webinfo.schema.json; field names in AEP's
"compatibility" form (no `xdm:` prefix, `@id` -> `_id`).
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
    HOST,
    REFERRERS,
    UTC,
    Hit,
    Person,
    all_hits,
    drop_nulls,
    iso,
    new_uuid,
    simulate,
)

XDM_EVENT_TYPES = {
    "page_view": "web.webpagedetails.pageViews",
    "view_item": "commerce.productViews",
    "add_to_cart": "commerce.productListAdds",
    "purchase": "commerce.purchases",
    "app_launch": "application.launch",
}


def _identity_map(s) -> dict:
    """ECID always; CRMID once logged in, then flagged primary (as the Web SDK does)."""
    ident = {"ECID": [{"id": s.device.ecid, "authenticatedState": "ambiguous",
                       "primary": not s.logged_in}]}  # fmt: skip
    if s.logged_in:
        ident["CRMID"] = [{"id": s.person.crm_id, "authenticatedState": "authenticated",
                           "primary": True}]  # fmt: skip
    return ident


def _context(s, h, kind: str) -> dict:
    """application / web, environment and device field groups."""
    cat, os_, osv, br, brv, brand, model, w, hgt = s.device.spec
    out: dict = {}
    if s.device.app:
        out["application"] = {
            "name": "Example Shop iOS",
            "id": "com.example.shop",
            "version": "5.12.0",
        }
        if kind == "app_launch":
            out["application"]["launches"] = {"value": 1}
        out["environment"] = {
            "type": "application",
            "operatingSystem": os_,
            "operatingSystemVersion": osv,
        }
    else:
        page = {
            "name": h.title,
            "URL": f"https://{HOST}{h.path}",
            "siteSection": h.path.split("/")[1] or "home",
        }
        if kind == "page_view":
            page["pageViews"] = {"value": 1}
        out["web"] = {"webPageDetails": page}
        if s.channel[0] and h is s.hits[0]:
            out["web"]["webReferrer"] = {
                "URL": REFERRERS.get(s.channel[0], "") or None,
                "type": "external",
            }
        out["environment"] = {
            "type": "browser",
            "browserDetails": {
                "name": br,
                "version": brv,
                "viewportWidth": w,
                "viewportHeight": int(hgt * 0.85),
            },
        }
    out["device"] = {
        "type": cat,
        "manufacturer": brand,
        "model": model,
        "screenWidth": w,
        "screenHeight": hgt,
    }
    return out  # fmt: skip


def _line(pr, q: int) -> dict:
    return {"SKU": pr.sku, "name": pr.name, "quantity": q, "priceTotal": round(pr.price * q, 2),
            "currencyCode": "USD"}  # fmt: skip


def _commerce(h, kind: str) -> dict:
    if kind in ("view_item", "add_to_cart") and h.product:
        key = "productViews" if kind == "view_item" else "productListAdds"
        return {
            "productListItems": [_line(h.product, max(h.qty, 1))],
            "commerce": {key: {"value": 1}},
        }
    if kind == "purchase" and h.order:
        o = h.order
        payment = {"paymentType": "credit_card", "currencyCode": "USD", "paymentAmount": o.total}
        order = {
            "purchaseID": o.order_id,
            "priceTotal": o.total,
            "currencyCode": "USD",
            "taxAmount": o.tax,
            "payments": [payment],
        }
        return {
            "productListItems": [_line(pr, q) for pr, q in o.lines],
            "commerce": {"purchases": {"value": 1}, "order": order},
        }
    return {}  # fmt: skip


def xdm_rows(people: list[Person], seed: int = DEFAULT_SEED) -> list[dict]:
    """One ExperienceEvent per hit (plus application.launch for app sessions), NULLs left out."""
    rng = np.random.default_rng(seed + 3)
    rows = []
    for _p, s, h in _hits_with_launch(people):
        row: dict = {"_id": new_uuid(rng), "timestamp": iso(h.ts),
                     "eventType": XDM_EVENT_TYPES[h.kind], "identityMap": _identity_map(s)}  # fmt: skip
        row.update(_context(s, h, h.kind))
        src, medium, campaign = s.channel
        if campaign:
            row["marketing"] = {"trackingCode": f"{src}:{medium}", "campaignName": campaign,
                                "campaignGroup": medium}  # fmt: skip
        row.update(_commerce(h, h.kind))
        rows.append(drop_nulls(row))
    return rows


def _hits_with_launch(people):
    """XDM's mobile sessions start with an application.launch event."""
    for p, s, h in all_hits(people):
        if s.device.app and h is s.hits[0]:
            yield p, s, Hit(round(h.ts - 1.0, 3), "app_launch", "/", "Launch")
        if h.kind == "login":
            continue
        yield p, s, h


def _xdm_arrow_schema():
    """The Parquet layout, identityMap a MAP of identity lists as XDM defines it."""
    import pyarrow as pa

    s, f, i = pa.string(), pa.float64(), pa.int64()

    def struct(*fields) -> pa.DataType:
        return pa.struct([(n, t) for n, t in fields])

    measure = struct(("value", f))
    ident = struct(("id", s), ("authenticatedState", s), ("primary", pa.bool_()))
    line = struct(("SKU", s), ("name", s), ("quantity", i), ("priceTotal", f), ("currencyCode", s))
    payment = struct(("paymentType", s), ("currencyCode", s), ("paymentAmount", f))
    order = struct(
        ("purchaseID", s),
        ("priceTotal", f),
        ("currencyCode", s),
        ("taxAmount", f),
        ("payments", pa.list_(payment)),
    )
    page = struct(("name", s), ("URL", s), ("siteSection", s), ("pageViews", measure))
    browser = struct(("name", s), ("version", s), ("viewportWidth", i), ("viewportHeight", i))
    return pa.schema([
        ("_id", s), ("timestamp", pa.timestamp("us", tz="UTC")), ("eventType", s),
        ("identityMap", pa.map_(s, pa.list_(ident))),
        ("application", struct(("name", s), ("id", s), ("version", s), ("launches", measure))),
        ("web", struct(("webPageDetails", page), ("webReferrer", struct(("URL", s), ("type", s))))),
        ("environment", struct(("type", s), ("operatingSystem", s), ("operatingSystemVersion", s),
                               ("browserDetails", browser))),
        ("device", struct(("type", s), ("manufacturer", s), ("model", s), ("screenWidth", i),
                          ("screenHeight", i))),
        ("marketing", struct(("trackingCode", s), ("campaignName", s), ("campaignGroup", s))),
        ("productListItems", pa.list_(line)),
        ("commerce", struct(("productViews", measure), ("productListAdds", measure),
                            ("purchases", measure), ("order", order))),
    ])  # fmt: skip


def write_xdm(
    folder: str | Path,
    n_profiles: int = DEFAULT_PROFILES,
    seed: int = DEFAULT_SEED,
    formats: tuple[str, ...] = ("jsonl", "parquet"),
    people: list[Person] | None = None,
) -> dict:
    """XDM ExperienceEvents: monthly JSONL files and a Hive-partitioned Parquet folder."""
    people = people if people is not None else simulate(n_profiles, seed)
    rows = xdm_rows(people, seed)
    rows.sort(key=lambda r: r["timestamp"])
    root = Path(folder) / "xdm"
    files = []
    by_month: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_month[r["timestamp"][:7]].append(r)
    if "jsonl" in formats:
        out = root / "jsonl"
        out.mkdir(parents=True, exist_ok=True)
        for m, rs in sorted(by_month.items()):
            path = out / f"experience_events_{m}.json"
            path.write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rs))
            files.append(path)
    if "parquet" in formats:
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = _xdm_arrow_schema()
        for m, rs in sorted(by_month.items()):
            conv = []
            for r in rs:
                r2 = dict(r)
                r2["timestamp"] = dt.datetime.strptime(
                    r["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ"
                ).replace(tzinfo=UTC)
                r2["identityMap"] = list(r["identityMap"].items())  # MAP: list of (key, value)
                conv.append(r2)
            year, month = m.split("-")
            out = root / "parquet" / f"year={year}" / f"month={month}"
            out.mkdir(parents=True, exist_ok=True)
            path = out / "part-00000.parquet"
            pq.write_table(pa.Table.from_pylist(conv, schema=schema), path)
            files.append(path)
    return {
        "files": [str(f) for f in files],
        "rows": len(rows),
        "rows_with_crmid": sum("CRMID" in r["identityMap"] for r in rows),
        "profiles_crmid_else_ecid": len(
            {(r["identityMap"].get("CRMID") or r["identityMap"]["ECID"])[0]["id"] for r in rows}
        ),
        "purchases": sum(r["eventType"] == "commerce.purchases" for r in rows),
    }
