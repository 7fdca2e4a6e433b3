"""Segment's S3 archive: `segment-logs/<source-id>/<received-day>/<file>.gz`, gzipped
newline-delimited JSON (no `.json` in the names), track/page/identify calls, and an identity
table (anonymous id -> user id) from the identify calls.

Schema: segmentio/segment-docs src/connections/spec/common.md, track.md, page.md, identify.md,
ecommerce/v2.md (Order Completed), storage/catalog/amazon-s3/index.md.
"""

from __future__ import annotations

import csv
import datetime as dt
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
    UTC,
    Person,
    all_hits,
    drop_nulls,
    hex_id,
    iso,
    new_uuid,
    simulate,
)

SEGMENT_SOURCE_ID = "Xq3vLm9TzA"


def _base(rng, p: Person, s, h) -> dict:
    """What analytics.js sends with every call of a browser session."""
    dev = s.device
    skew = float(rng.normal(0, 4))  # device clock skew (s): originalTimestamp is the device's clock
    sent = h.ts + float(rng.uniform(0.05, 3.0))
    received = sent + float(rng.uniform(0.02, 0.4))
    src, med, camp = s.channel
    url = f"https://{HOST}{h.path}"
    referrer = REFERRERS.get(src or "", "") if h is s.hits[0] else url
    agent = f"Mozilla/5.0 ({dev.spec[1]}) {dev.spec[3] or 'App'}/{dev.spec[4] or '5.12.0'}"
    ctx = {
        "library": {"name": "analytics.js", "version": "next-1.70.0"},
        "page": {"path": h.path, "referrer": referrer, "search": "", "title": h.title, "url": url},
        "userAgent": agent, "locale": "en-US", "ip": f"203.0.113.{int(rng.integers(1, 255))}",
    }  # fmt: skip
    if camp:
        ctx["campaign"] = {"name": camp, "source": src, "medium": med}
    return {
        "anonymousId": dev.ajs_anonymous_id,
        "userId": p.user_id if s.logged_in else None,  # analytics.js sends null before identify
        "channel": "client", "context": ctx, "integrations": {},
        "messageId": f"ajs-next-{hex_id(rng, 32)}",
        "originalTimestamp": iso(h.ts + skew), "sentAt": iso(sent + skew),
        "receivedAt": iso(received),
        "timestamp": iso(h.ts),  # receivedAt - (sentAt - originalTimestamp)
        "version": 2,
    }  # fmt: skip


def _order_completed(rng, base: dict, s, h) -> dict:
    """Orders are confirmed server side (analytics-node): no page context, a uuid messageId."""
    o = h.order
    products = [{"product_id": pr.pid, "sku": pr.sku, "name": pr.name, "category": pr.category,
                 "price": pr.price, "quantity": q} for pr, q in o.lines]  # fmt: skip
    props = {"order_id": o.order_id, "total": o.total, "subtotal": o.revenue, "revenue": o.revenue,
             "tax": o.tax, "shipping": o.shipping, "discount": 0, "coupon": o.coupon,
             "currency": "USD", "products": products}  # fmt: skip
    return dict(
        base, type="track", event="Order Completed", channel="server",
        context={"library": {"name": "analytics-node", "version": "2.1.2"}},
        messageId=new_uuid(rng), originalTimestamp=iso(h.ts), sentAt=iso(h.ts + 1.2),
        receivedAt=iso(h.ts + 1.3), timestamp=iso(h.ts), properties=props,
        userId=base["userId"] if s.logged_in else None,
    )  # fmt: skip


def _message(rng, p: Person, s, h) -> dict | None:
    base = _base(rng, p, s, h)
    if h.kind == "login":
        traits = {"email": p.email, "plan": p.tier, "createdAt": iso(p.sessions[0].start)}
        return dict(base, type="identify", userId=p.user_id, traits=traits)
    if h.kind == "page_view":
        page = base["context"]["page"]
        props = {"path": h.path, "referrer": page["referrer"], "search": "", "title": h.title,
                 "url": page["url"]}  # fmt: skip
        return dict(base, type="page", name=h.title, properties=props)
    if h.kind in ("view_item", "add_to_cart"):
        pr = h.product
        props = {"product_id": pr.pid, "sku": pr.sku, "name": pr.name, "category": pr.category,
                 "variant": pr.variant, "price": pr.price, "currency": "USD"}  # fmt: skip
        if h.kind == "add_to_cart":
            props.update(quantity=h.qty, cart_id=f"cart-{s.sid[:8]}")
        event = "Product Viewed" if h.kind == "view_item" else "Product Added"
        return dict(base, type="track", event=event, properties=props)
    if h.kind == "purchase":
        return _order_completed(rng, base, s, h)
    return None


def segment_messages(people: list[Person], seed: int = DEFAULT_SEED) -> list[dict]:
    """Track, page and identify calls; `userId` written as null before identify."""
    rng = np.random.default_rng(seed + 4)
    msgs = (_message(rng, p, s, h) for p, s, h in all_hits(people))
    return [drop_nulls(m, keep=("userId",)) for m in msgs if m is not None]


def write_segment(
    folder: str | Path,
    n_profiles: int = DEFAULT_PROFILES,
    seed: int = DEFAULT_SEED,
    people: list[Person] | None = None,
) -> dict:
    """segment-logs/<source-id>/<received-day>/<file>.gz (gzipped NDJSON) + identities.csv."""
    people = people if people is not None else simulate(n_profiles, seed)
    msgs = segment_messages(people, seed)
    rng = np.random.default_rng(seed + 5)
    root = Path(folder) / "segment"
    by_day: dict[int, list[dict]] = defaultdict(list)
    for m in msgs:
        d = dt.datetime.strptime(m["receivedAt"][:10], "%Y-%m-%d").replace(tzinfo=UTC)
        by_day[int(d.timestamp() * 1000)].append(m)  # the UTC day as a unix timestamp (ms)
    files = []
    for day, ms in sorted(by_day.items()):
        out = root / "segment-logs" / SEGMENT_SOURCE_ID / str(day)
        out.mkdir(parents=True, exist_ok=True)
        ms.sort(key=lambda m: m["receivedAt"])
        # a day's archive is a few batch files named by upload time + a hash; no .json suffix
        n_parts = 1 + (len(ms) > 150)
        for k in range(n_parts):
            chunk = ms[k::n_parts]
            name = f"{day + 3_600_000 * (k + 1)}.{hex_id(rng, 8)}.gz"
            path = out / name
            with gzip.GzipFile(path, "wb", mtime=0) as fh:
                fh.write(
                    "".join(json.dumps(m, separators=(",", ":")) + "\n" for m in chunk).encode()
                )
            files.append(path)
    ident = {}
    for m in msgs:
        if m["type"] == "identify":
            ident[m["anonymousId"]] = m["userId"]
    ipath = root / "identities.csv"
    with ipath.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["anonymous_id", "user_id"])
        for a, u in sorted(ident.items()):
            w.writerow([a, u])
    return {
        "files": [str(f) for f in files],
        "identities": str(ipath),
        "rows": len(msgs),
        "by_type": {t: sum(m["type"] == t for m in msgs) for t in ("track", "page", "identify")},
        "rows_without_userId": sum(m.get("userId") is None for m in msgs),
        "rows_without_event": sum("event" not in m for m in msgs),
        "profiles_userid_else_anonymousid": len(
            {m.get("userId") or m["anonymousId"] for m in msgs}
        ),
        "profiles_after_stitching": len(
            {m.get("userId") or ident.get(m["anonymousId"]) or m["anonymousId"] for m in msgs}
        ),
        "purchases": sum(m.get("event") == "Order Completed" for m in msgs),
    }
