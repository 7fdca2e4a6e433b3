"""Mixpanel's raw export API output: newline-delimited `{event, properties}` per month, `time` in
seconds, with the duplicates the export does not remove (same event, distinct_id, time and
$insert_id, processed again later).

Schema: docs.mixpanel.com/reference/raw-event-export, /raw-data-export-api (dedupe key),
/docs/data-structure/property-reference/default-properties, Simplified ID Merge ($device_id,
$user_id, anonymous distinct_id "$device:<id>").
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from vendors.world import (
    DEFAULT_PROFILES,
    DEFAULT_SEED,
    HOST,
    Person,
    all_hits,
    hex_id,
    month_of,
    simulate,
)

MP_EVENTS = {
    "page_view": "$mp_web_page_view",
    "view_item": "Product Viewed",
    "add_to_cart": "Added to Cart",
    "purchase": "Purchase",
}


def _properties(rng, p: Person, s, h) -> dict:
    """Mixpanel's default properties (as the JS SDK sends them) and the event's own."""
    dev = s.device
    _, os_, _, br, brv, _, _, w, hgt = dev.spec
    props = {
        "time": int(h.ts),  # seconds (the export's default; time_in_ms=true gives ms)
        "distinct_id": p.user_id if s.logged_in else f"$device:{dev.mp_device_id}",
        "$browser": br or "Mobile Safari", "$browser_version": float(str(brv or "17.4").split(".")[0]),
        "$city": p.city[0], "$region": p.city[1], "mp_country_code": p.city[2],
        "$current_url": f"https://{HOST}{h.path}", "$device_id": dev.mp_device_id,
        "$initial_referrer": "$direct", "$initial_referring_domain": "$direct",
        "$insert_id": hex_id(rng, 32)[:32], "$lib_version": "2.55.1", "$os": os_,
        "$screen_height": hgt, "$screen_width": w, "mp_lib": "web",
        "mp_processing_time_ms": int(h.ts * 1000) + int(rng.integers(300, 90_000)),
    }  # fmt: skip
    if s.logged_in:
        props["$user_id"] = p.user_id
    src, med, camp = s.channel
    if camp:
        props.update(utm_source=src, utm_medium=med, utm_campaign=camp)
    if h.kind == "page_view":
        props.update(current_page_title=h.title, current_domain=HOST, current_url_path=h.path)
    if h.product is not None and h.kind in ("view_item", "add_to_cart"):
        pr = h.product
        props.update(product_id=pr.sku, product_name=pr.name, category=pr.category, price=pr.price)
        if h.kind == "add_to_cart":
            props["quantity"] = h.qty
    if h.kind == "purchase":
        o = h.order
        items = [{"product_id": pr.sku, "price": pr.price, "quantity": q} for pr, q in o.lines]
        props.update(order_id=o.order_id, revenue=o.revenue, currency="USD",
                     item_count=o.quantity, items=items)  # fmt: skip
    return props


def mixpanel_events(people: list[Person], seed: int = DEFAULT_SEED) -> list[dict]:
    """Every hit but logins, and 1% sent twice (same $insert_id and time, processed later)."""
    rng = np.random.default_rng(seed + 7)
    out = []
    for p, s, h in all_hits(people):
        if h.kind == "login":
            continue
        out.append({"event": MP_EVENTS[h.kind], "properties": _properties(rng, p, s, h)})
        if rng.random() < 0.01:
            dup = json.loads(json.dumps(out[-1]))
            dup["properties"]["mp_processing_time_ms"] += int(rng.integers(1000, 600_000))
            out.append(dup)
    return out


def write_mixpanel(
    folder: str | Path,
    n_profiles: int = DEFAULT_PROFILES,
    seed: int = DEFAULT_SEED,
    people: list[Person] | None = None,
) -> dict:
    """Raw export API output, one NDJSON file per month (as paged by from_date/to_date)."""
    people = people if people is not None else simulate(n_profiles, seed)
    evs = mixpanel_events(people, seed)
    evs.sort(key=lambda e: (e["properties"]["time"], e["properties"]["$insert_id"]))
    root = Path(folder) / "mixpanel"
    root.mkdir(parents=True, exist_ok=True)
    by_month: dict[str, list[dict]] = defaultdict(list)
    for e in evs:
        by_month[month_of(e["properties"]["time"])].append(e)
    files = []
    for m, es in sorted(by_month.items()):
        path = root / f"export_{m}.json"
        path.write_text("".join(json.dumps(e, separators=(",", ":")) + "\n" for e in es))
        files.append(path)
    keys = [
        (
            e["event"],
            e["properties"]["distinct_id"],
            e["properties"]["time"],
            e["properties"]["$insert_id"],
        )
        for e in evs
    ]
    return {
        "files": [str(f) for f in files],
        "rows": len(evs),
        "duplicates_by_mixpanel_key": len(keys) - len(set(keys)),
        "exact_duplicates": len(evs) - len({json.dumps(e, sort_keys=True) for e in evs}),
        "profiles_distinct_id": len({k[1] for k in keys}),
        "purchases": sum(e["event"] == "Purchase" for e in evs),
    }
