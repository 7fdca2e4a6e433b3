"""The bundled synthetic sample: multi-channel experience events in Adobe XDM style, plus profiles.

A latent, drifting engagement per profile (an AR(1) process on a weekly grid, with a
year-end seasonal lift) drives every event rate. Purchases depend on engagement, recent
cart adds and email clicks (differently by loyalty tier), a tier x engagement threshold,
age, and a post-purchase lull followed by a replenishment cycle; profiles churn (go dormant) with a hazard that rises sharply as
engagement falls, a few come back, and some sign up during the year. The signal is real but
noisy: a good model of "purchase within 30 days" reaches a validation ROC AUC of roughly
0.8, and a boosted tree beats a logistic model a little.

Everything is vectorised numpy over chunks of `CHUNK_PROFILES` profiles (a loop over weeks,
never over profiles or events). Chunk `k` draws from its own generator seeded with
`(seed, k)`, so the same seed and size always give identical files, and `write_sample`
streams chunk after chunk to Parquet, keeping memory flat up to 1,000,000 profiles.

>>> events, profiles = generate_sample(profiles=1_000, seed=0)   # doctest: +SKIP
>>> write_sample("reports/sample-data", profiles=20_000, seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from workbench.errors import DataError, output_error

EVENT_TYPES = (
    "web.webpagedetails.pageViews",
    "commerce.productViews",
    "commerce.productListAdds",
    "commerce.checkouts",
    "commerce.purchases",
    "directMarketing.emailSent",
    "directMarketing.emailOpened",
    "directMarketing.emailClicked",
    "application.launch",
    "search",
)
(PAGE, PRODUCT, CART, CHECKOUT, PURCHASE, SENT, OPENED, CLICKED, LAUNCH, SEARCH) = range(10)
CHANNELS = ("web", "mobile", "email")
COUNTRIES = ("US", "GB", "DE", "FR", "CA", "AU", "NL", "JP")
COUNTRY_P = (0.36, 0.14, 0.12, 0.10, 0.08, 0.07, 0.07, 0.06)
LOYALTY_TIERS = ("none", "silver", "gold", "platinum")
TIER_P = (0.55, 0.25, 0.14, 0.06)
N_SKUS = 400
CHUNK_PROFILES = 50_000
DEFAULT_START = "2025-01-01"
DEFAULT_DAYS = 365
BIG_ORDER = 150  # the "Big order" custom event threshold in the written config (USD)

EVENT_COLUMNS = (
    "eventID",
    "personID",
    "timestamp",
    "eventType",
    "channel",
    "productListItems.SKU",
    "commerce.order.priceTotal",
)
EVENTS_SCHEMA = pa.schema(
    [
        ("eventID", pa.string()),
        ("personID", pa.string()),
        ("timestamp", pa.timestamp("us", tz="UTC")),
        ("eventType", pa.string()),
        ("channel", pa.string()),
        ("productListItems.SKU", pa.string()),
        ("commerce.order.priceTotal", pa.float64()),
    ]
)
PROFILES_SCHEMA = pa.schema(
    [
        ("personID", pa.string()),
        ("country", pa.string()),
        ("loyaltyTier", pa.string()),
        ("signupDate", pa.date32()),
        ("email", pa.string()),
        ("age", pa.int32()),
    ]
)

_FIRST = ("alex", "sam", "maria", "li", "noah", "emma", "omar", "yuki", "lena", "raj", "ana", "tom")
_LAST = ("smith", "garcia", "muller", "chen", "martin", "rossi", "kim", "silva", "novak", "brown")
_DOMAINS = ("example.com", "example.org", "example.net")

# Engagement dynamics (weekly grid).
_PHI = 0.9  # AR(1) persistence: engagement drifts, so recent behaviour matters more than old
_SHOCK_SD = 0.32
_TIER_SHIFT = np.array([0.0, 0.15, 0.3, 0.45])
# Base weekly rates at engagement 0 for an active profile.
_RATE = {PAGE: 0.10, PRODUCT: 0.075, SEARCH: 0.035, LAUNCH: 0.10}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _fixed_width_ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """`prefix` + zero-padded decimal `numbers`, built as bytes without a Python loop."""
    numbers = np.asarray(numbers, dtype=np.int64)
    digits = (numbers[:, None] // (10 ** np.arange(width - 1, -1, -1, dtype=np.int64))) % 10
    buf = np.empty((len(numbers), len(prefix) + width), dtype=np.uint8)
    buf[:, : len(prefix)] = np.frombuffer(prefix.encode(), dtype=np.uint8)
    buf[:, len(prefix) :] = digits + ord("0")
    size = buf.shape[1]
    offsets = np.arange(0, (len(numbers) + 1) * size, size, dtype=np.int32)
    return pa.StringArray.from_buffers(
        len(numbers), pa.py_buffer(offsets.tobytes()), pa.py_buffer(buf.tobytes())
    )


def _follow(
    ts: np.ndarray,
    key: np.ndarray,
    etype: np.ndarray,
    lead: int,
    follow: int,
    hi: np.ndarray,
    delay: np.ndarray,
) -> np.ndarray:
    """Move the i-th `follow` event of each (profile, week) `key` to just after its i-th `lead`.

    Events of one type are in `key` order and every key has at least as many leads as follows.
    """
    f_idx = np.flatnonzero(etype == follow)
    l_idx = np.flatnonzero(etype == lead)
    rank = np.arange(len(f_idx)) - np.searchsorted(key[f_idx], key[f_idx])
    paired = l_idx[np.searchsorted(key[l_idx], key[f_idx]) + rank]
    ts[f_idx] = np.minimum(ts[paired] + delay[f_idx], hi[f_idx] - 1)
    return ts


def _id_width(profiles: int) -> int:
    return max(7, len(str(max(profiles - 1, 0))))


def _catalogue(seed: int) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """A few hundred SKUs: ids, Zipf-like popularity, list prices (the same for every chunk)."""
    rng = np.random.default_rng([seed, 1])
    codes = rng.choice(90_000, size=N_SKUS, replace=False) + 10_000
    skus = _fixed_width_ids("SKU-", codes, 5)
    popularity = 1.0 / np.arange(1, N_SKUS + 1) ** 1.1
    popularity = rng.permutation(popularity / popularity.sum())
    price = np.round(np.exp(rng.normal(3.3, 0.75, N_SKUS)), 0) - 0.01
    return skus, popularity, np.clip(price, 2.99, 899.99)


def _week_grid(start: str, days: int) -> tuple[int, int, np.ndarray]:
    """(period start in epoch seconds, number of weeks, seasonal lift per week)."""
    t0 = pd.Timestamp(start, tz="UTC")
    if t0 != t0.normalize():
        raise ValueError(f"start must be a date, got {start!r}")
    if not 7 <= days <= 36_500:
        raise ValueError("days must be between 7 and 36,500")
    weeks = -(-days // 7)
    mid = t0 + pd.to_timedelta(np.arange(weeks) * 7 + 3.5, unit="D")
    doy = np.asarray(mid.day_of_year, dtype=float)
    # Year-end shopping lift (Black Friday to Christmas) and a small summer lull.
    season = 0.35 * np.exp(-(((doy - 340) / 22) ** 2)) - 0.12 * np.exp(-(((doy - 205) / 25) ** 2))
    return int(t0.value // 1_000_000_000), weeks, season


def _chunk(
    k: int,
    offset: int,
    n: int,
    seed: int,
    start: str,
    days: int,
    width: int,
    catalogue: tuple[pa.Array, np.ndarray, np.ndarray],
) -> tuple[pa.Table, pa.Table]:
    """Profiles `offset .. offset+n-1` and their events (event ids numbered from 0).

    One generator draws everything in a fixed order (traits, the weekly simulation, event
    details, names), so a seed always gives the same sample."""
    rng = np.random.default_rng([seed, 2, k])
    t0, weeks, season = _week_grid(start, days)
    traits = _draw_traits(rng, n, days)
    counts = _simulate_weeks(rng, traits, weeks, season)
    events = _expand_events(rng, counts, traits, t0, days, catalogue)
    person_ids = _fixed_width_ids("P", np.arange(offset, offset + n), width)
    return _events_table(events, person_ids), _profiles_table(
        rng, traits, person_ids, offset, start, width
    )


def _draw_traits(rng, n: int, days: int) -> dict[str, np.ndarray]:
    """Each profile's country, tier, age, signup, app use, opt-in and latent engagement."""
    country = rng.choice(len(COUNTRIES), size=n, p=COUNTRY_P)
    tier = rng.choice(len(LOYALTY_TIERS), size=n, p=TIER_P)
    age = np.clip(np.round(rng.normal(41, 14, n)), 18, 88).astype(np.int32)
    age_missing = rng.random(n) < 0.07
    new = rng.random(n) < 0.18  # signs up during the period
    signup_day = np.where(
        new, rng.integers(0, days, n), -rng.integers(1, 3 * 365, n)
    )  # days from period start
    app_user = rng.random(n) < 0.30 + 0.08 * tier
    opt_in = rng.random(n) < 0.72
    mobile_share = np.where(app_user, 0.55, 0.08)

    mu = -0.75 + _TIER_SHIFT[tier] + rng.normal(0, 1.0, n) + 0.25 * new
    e = mu + rng.normal(0, _SHOCK_SD / np.sqrt(1 - _PHI**2), n)
    alive = ~((~new) & (rng.random(n) < 0.12))  # some old profiles are already dormant
    dormant_weeks = np.where(alive, 0, 99)
    affinity = rng.normal(0, 0.8, n)  # a persistent taste for buying, seen only in history
    prime_age = (age >= 28) & (age <= 52) & ~age_missing
    high_tier = tier >= 2

    return {
        "n": n,
        "country": country,
        "tier": tier,
        "age": age,
        "age_missing": age_missing,
        "new": new,
        "signup_day": signup_day,
        "app_user": app_user,
        "opt_in": opt_in,
        "mobile_share": mobile_share,
        "mu": mu,
        "e": e,
        "alive": alive,
        "dormant_weeks": dormant_weeks,
        "affinity": affinity,
        "prime_age": prime_age,
        "high_tier": high_tier,
    }


def _simulate_weeks(rng, traits: dict, weeks: int, season: np.ndarray) -> np.ndarray:
    """Weekly event counts per type (types x weeks x profiles): engagement drifts, purchases
    follow carts, clicks and a replenishment cycle, and engagement falling below a threshold
    makes churn likely."""
    n, tier, signup_day = traits["n"], traits["tier"], traits["signup_day"]
    mu, e, alive = traits["mu"], traits["e"], traits["alive"]
    dormant_weeks, affinity = traits["dormant_weeks"], traits["affinity"]
    app_user, opt_in = traits["app_user"], traits["opt_in"]
    prime_age, high_tier = traits["prime_age"], traits["high_tier"]
    counts = np.zeros((len(EVENT_TYPES), weeks, n), dtype=np.uint8)
    cart_lag1 = np.zeros(n, dtype=np.int64)
    cart_lag2 = np.zeros(n, dtype=np.int64)
    click_lag1 = np.zeros(n, dtype=np.int64)
    since_purchase = np.full(n, 99)
    for w in range(weeks):
        started = signup_day < (w + 1) * 7
        e = mu + _PHI * (e - mu) + rng.normal(0, _SHOCK_SD, n)
        ee = e + season[w]
        act = alive & started
        m = np.exp(ee) * act
        page = rng.poisson(_RATE[PAGE] * m)
        product = rng.poisson(_RATE[PRODUCT] * m)
        search = rng.poisson(_RATE[SEARCH] * m)
        launch = rng.poisson(_RATE[LAUNCH] * m * app_user)
        cart = rng.binomial(product, _sigmoid(-1.2 + 0.45 * ee))
        # Marketing keeps mailing dormant profiles for a couple of months, then suppresses them.
        mailable = opt_in & started & (alive | (dormant_weeks < 9))
        sent = (rng.random(n) < 0.16) & mailable
        opened = sent & (rng.random(n) < np.where(alive, _sigmoid(-1.0 + 0.7 * ee), 0.04))
        clicked = opened & (rng.random(n) < _sigmoid(-1.1 + 0.5 * ee))
        page += clicked  # a click lands on the website

        recent_cart = (cart_lag1 + cart_lag2) > 0
        recent_click = (click_lag1 + clicked) > 0
        log_rate = (
            -4.75
            + 1.1 * ee
            + affinity
            + 0.85 * (cart > 0)
            # Loyal members finish what they put in the cart; others mostly need a nudge.
            + np.where(high_tier, 1.1, 0.2) * recent_cart
            + np.where(tier == 0, 0.9, 0.0) * recent_click  # discount-driven email buyers
            + 0.8 * (recent_cart & (clicked > 0))  # a reminder email converts an open cart
            + 0.9 * (high_tier & (ee > 0.5))  # loyal and engaged: a threshold interaction
            + 0.7 * prime_age
            - 1.0 * (since_purchase < 3)  # a short lull right after buying,
            + 0.8 * ((since_purchase >= 4) & (since_purchase <= 7))  # then a replenishment cycle
        )
        purchase = np.minimum(rng.poisson(np.exp(log_rate) * act), 3)
        checkout = purchase + rng.binomial(cart, 0.12)

        for t, c in (
            (PAGE, page),
            (PRODUCT, product),
            (CART, cart),
            (CHECKOUT, checkout),
            (PURCHASE, purchase),
            (SENT, sent),
            (OPENED, opened),
            (CLICKED, clicked),
            (LAUNCH, launch),
            (SEARCH, search),
        ):
            counts[t, w] = np.minimum(c, 255)

        # Churn: the hazard rises as engagement falls, steeply below a threshold.
        hazard = _sigmoid(-5.3 - 1.0 * ee + 1.6 * (ee < -1.3)) * np.where(purchase > 0, 0.4, 1.0)
        churn = act & (rng.random(n) < hazard)
        revive = started & ~alive & (rng.random(n) < 0.003)
        alive = (alive & ~churn) | revive
        e = np.where(revive, mu + 0.3, e)
        dormant_weeks = np.where(alive, 0, dormant_weeks + 1)
        since_purchase = np.where(purchase > 0, 0, since_purchase + 1)
        cart_lag2, cart_lag1, click_lag1 = cart_lag1, cart, clicked.astype(np.int64)

    return counts


def _expand_events(rng, counts: np.ndarray, traits: dict, t0: int, days: int, catalogue) -> dict:
    """Weekly counts -> one row per event with a time, a product, a price and a channel."""
    n, tier, signup_day = traits["n"], traits["tier"], traits["signup_day"]
    mobile_share = traits["mobile_share"]
    skus, popularity, list_price = catalogue
    period_end = t0 + days * 86_400
    prof_parts, week_parts, type_parts = [], [], []
    for t in range(len(EVENT_TYPES)):
        flat = np.flatnonzero(counts[t])
        rep = counts[t].ravel()[flat]
        prof_parts.append(np.repeat(flat % n, rep))
        week_parts.append(np.repeat(flat // n, rep))
        type_parts.append(np.full(int(rep.sum()), t, dtype=np.int8))
    del counts
    prof = np.concatenate(prof_parts)
    week = np.concatenate(week_parts)
    etype = np.concatenate(type_parts)
    m_events = len(prof)

    lo = np.maximum(t0 + week * 7 * 86_400, t0 + signup_day[prof] * 86_400)
    hi = np.minimum(t0 + (week + 1) * 7 * 86_400, period_end)
    ts = lo + (rng.random(m_events) * (hi - lo)).astype(np.int64)
    # Funnels in time order: a purchase follows its checkout by a few minutes; an email is
    # opened after it was sent and clicked right after it was opened.
    key = week.astype(np.int64) * n + prof
    for lead, follow, low, high in (
        (CHECKOUT, PURCHASE, 60, 1_800),
        (SENT, OPENED, 300, 2 * 86_400),
        (OPENED, CLICKED, 10, 600),
    ):
        ts = _follow(ts, key, etype, lead, follow, hi, rng.integers(low, high, m_events))

    sku_kind = np.isin(etype, (PRODUCT, CART, PURCHASE))
    sku = rng.choice(N_SKUS, size=m_events, p=popularity)
    qty = np.minimum(rng.geometric(0.65, m_events), 4)
    spend = np.array([1.0, 1.05, 1.15, 1.3])[tier[prof]]
    price = list_price[sku] * qty * spend * rng.lognormal(0, 0.25, m_events)
    price = np.round(price + np.where(price < 50, 4.99, 0.0), 2)
    channel = np.where(rng.random(m_events) < mobile_share[prof], 1, 0)
    channel = np.where(np.isin(etype, (SENT, OPENED, CLICKED)), 2, channel)
    channel = np.where(etype == LAUNCH, 1, channel)

    # Sort by profile, time, event type with one packed int64 key (faster than lexsort).
    order = np.argsort((prof.astype(np.int64) << 36) | ((ts - t0) << 4) | etype, kind="stable")
    prof, ts, etype = prof[order], ts[order], etype[order]
    sku, price, channel, sku_kind = sku[order], price[order], channel[order], sku_kind[order]

    return {
        "prof": prof,
        "ts": ts,
        "etype": etype,
        "sku": sku,
        "price": price,
        "channel": channel,
        "sku_kind": sku_kind,
        "skus": skus,
    }


def _events_table(ev: dict, person_ids: pa.Array) -> pa.Table:
    prof, ts, etype = ev["prof"], ev["ts"], ev["etype"]
    sku, price, channel, sku_kind, skus = (
        ev["sku"],
        ev["price"],
        ev["channel"],
        ev["sku_kind"],
        ev["skus"],
    )
    m_events = len(prof)
    return pa.table(
        {
            "eventID": pa.nulls(m_events, pa.string()),  # numbered by the caller
            "personID": person_ids.take(pa.array(prof)),
            "timestamp": pa.array(ts * 1_000_000, type=pa.timestamp("us", tz="UTC")),
            "eventType": pa.array(EVENT_TYPES).take(pa.array(etype)),
            "channel": pa.array(CHANNELS).take(pa.array(channel)),
            "productListItems.SKU": skus.take(pa.array(sku, mask=~sku_kind)),
            "commerce.order.priceTotal": pa.array(price, mask=etype != PURCHASE),
        },
        schema=EVENTS_SCHEMA,
    )


def _profiles_table(rng, traits: dict, person_ids, offset: int, start: str, width: int) -> pa.Table:
    n, country, tier, age = traits["n"], traits["country"], traits["tier"], traits["age"]
    age_missing, signup_day = traits["age_missing"], traits["signup_day"]
    first = rng.integers(0, len(_FIRST), n)
    last = rng.integers(0, len(_LAST), n)
    domain = rng.integers(0, len(_DOMAINS), n)
    email = pc.binary_join_element_wise(
        pa.array(_FIRST).take(pa.array(first)),
        ".",
        pa.array(_LAST).take(pa.array(last)),
        _fixed_width_ids("", np.arange(offset, offset + n), width),
        "@",
        pa.array(_DOMAINS).take(pa.array(domain)),
        "",
    )
    signup = pa.array(
        (np.datetime64(start, "D") + signup_day).astype("datetime64[D]"), type=pa.date32()
    )
    profiles = pa.table(
        {
            "personID": person_ids,
            "country": pa.array(COUNTRIES).take(pa.array(country)),
            "loyaltyTier": pa.array(LOYALTY_TIERS).take(pa.array(tier)),
            "signupDate": signup,
            "email": email,
            "age": pa.array(age, type=pa.int32(), mask=age_missing),
        },
        schema=PROFILES_SCHEMA,
    )
    return profiles


def _chunks(profiles: int, seed: int, start: str, days: int) -> Iterator[tuple[pa.Table, pa.Table]]:
    if profiles < 1:
        raise ValueError("profiles must be at least 1")
    if seed < 0:
        raise ValueError("seed must be a non-negative integer")
    catalogue = _catalogue(seed)
    width = _id_width(profiles)
    events_so_far = 0
    for k, offset in enumerate(range(0, profiles, CHUNK_PROFILES)):
        n = min(CHUNK_PROFILES, profiles - offset)
        events, prof = _chunk(k, offset, n, seed, start, days, width, catalogue)
        ids = _fixed_width_ids("E", np.arange(events_so_far, events_so_far + len(events)), 12)
        events = events.set_column(0, "eventID", ids)
        events_so_far += len(events)
        yield events, prof


def generate_sample(
    profiles: int = 20_000, seed: int = 0, start: str = DEFAULT_START, days: int = DEFAULT_DAYS
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(events, profiles) in memory — for small sizes and tests.

    Parameters
    ----------
    profiles : number of profiles (events are ~15–25 per profile over a year).
    seed : non-negative seed; the same seed and size always give identical frames.
    start : first day of the period (UTC date, ``YYYY-MM-DD``).
    days : length of the period; every event falls in ``[start, start + days)``.

    Returns
    -------
    events : one row per experience event, columns `EVENT_COLUMNS`, ``timestamp`` in UTC.
    profiles : one row per profile (``personID``, ``country``, ``loyaltyTier``,
        ``signupDate``, ``email``, ``age``).
    """
    parts = list(_chunks(profiles, seed, start, days))
    events = pa.concat_tables([p[0] for p in parts]).to_pandas()
    prof = pa.concat_tables([p[1] for p in parts]).to_pandas()
    events["timestamp"] = events["timestamp"].astype("datetime64[ns, UTC]")
    prof["signupDate"] = pd.to_datetime(prof["signupDate"]).dt.date
    prof["age"] = prof["age"].astype("Int32")
    return events, prof


_CONFIG = """\
# Generated by workbench.ingest.sample.write_sample ({profiles:,} profiles, seed {seed}):
#   workbench sample --profiles {profiles} --seed {seed} --out <dir>
# Synthetic, XDM-style experience events; paths are relative to this file.
name: sample-purchase-30d
events:
  path: events.parquet
  columns: {{profile_id: personID, timestamp: timestamp, event_type: eventType}}
  dedupe: [eventID]
profiles:
  path: profiles.parquet
  columns: {{profile_id: personID}}
goal:
  outcome: occurs
  match: all
  conditions:
    - {{field: event_type, op: "==", value: commerce.purchases}}
  window_days: 30
eligibility:
  active_within_days: 60
custom_events:
  - {{name: Big order, conditions: [{{field: event_type, op: "==", value: commerce.purchases}}, {{field: commerce.order.priceTotal, op: ">=", value: {big}}}]}}
features:
  lookback_days: 180
training:
  snapshots: 4
  step_days: 30
segments:
  - {{name: high-propensity, bucket: high}}
  - {{name: top-5-percent, percentile_min: 96}}
  - {{name: best-to-contact, top_by_profit: true}}
# Illustrative: a contact costs $1.50 and a purchase brings $20 of margin (orders average ~$80).
economics: {{cost_per_contact: 1.5, value_per_conversion: 20, budget: 3000, currency: "$"}}
reporting:
  cohorts: [country, loyaltyTier]
"""


def messy_rows(events: pa.Table, seed: int) -> pa.Table:
    """What real exports carry and the workbench must account for: re-sent events (same eventID,
    about 1 in 300) and anonymous hits without a person id (about 1 in 1,000)."""
    rng = np.random.default_rng([seed, 7_777_777])
    n = events.num_rows
    resent = events.take(np.sort(rng.choice(n, max(1, n // 300), replace=False)))
    anonymous = events.take(np.sort(rng.choice(n, max(1, n // 1000), replace=False)))
    ids = pa.array([f"{v}-anon" for v in anonymous.column("eventID").to_pylist()], pa.string())
    anonymous = anonymous.set_column(anonymous.schema.get_field_index("eventID"), "eventID", ids)
    anonymous = anonymous.set_column(
        anonymous.schema.get_field_index("personID"),
        "personID",
        pa.nulls(len(anonymous), pa.string()),
    )
    return pa.concat_tables([resent, anonymous]).cast(EVENTS_SCHEMA)


def write_sample(out_dir: str | Path, profiles: int = 20_000, seed: int = 0) -> Path:
    """Write out_dir/events.parquet, out_dir/profiles.parquet and a ready-to-run out_dir/config.yaml.

    Streams chunk by chunk (one Parquet row group per chunk), so 1,000,000 profiles
    (~20M events) fit in a few GB. A last row group adds `messy_rows` (re-sent duplicates and
    anonymous hits) so the data quality report has something to reconcile. Returns the path of
    the config file.
    """
    out = Path(out_dir)
    _check_sample_folder(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        return _write_files(out, profiles, seed)
    except OSError as exc:
        raise output_error(out, exc) from None


SAMPLE_FILES = ("events.parquet", "profiles.parquet", "config.yaml")
_MARK = "# Generated by workbench.ingest.sample.write_sample"


def _check_sample_folder(out: Path) -> None:
    """The sample replaces only an earlier sample: files of any other origin (the analyst's
    own events.parquet or config.yaml) are never overwritten."""
    if out.exists() and not out.is_dir():
        raise DataError(f"{out}: --out is a file, not a folder")
    found = [name for name in SAMPLE_FILES if (out / name).exists()]
    if not found:
        return
    try:
        ours = (out / "config.yaml").read_text(encoding="utf-8").startswith(_MARK)
    except (OSError, UnicodeDecodeError):
        ours = False
    if not ours:
        raise DataError(
            f"{out}: already holds {', '.join(found)}, not written by `workbench sample`: "
            "refusing to overwrite them; choose an empty folder for --out"
        )


def _write_files(out: Path, profiles: int, seed: int) -> Path:
    opts = {"compression": "zstd"}
    with (
        pq.ParquetWriter(out / "events.parquet", EVENTS_SCHEMA, **opts) as ev_writer,
        pq.ParquetWriter(out / "profiles.parquet", PROFILES_SCHEMA, **opts) as prof_writer,
    ):
        first = None
        for events, prof in _chunks(profiles, seed, DEFAULT_START, DEFAULT_DAYS):
            ev_writer.write_table(events)
            prof_writer.write_table(prof)
            first = events if first is None else first
        if first is not None and first.num_rows:
            ev_writer.write_table(messy_rows(first, seed))
    config = out / "config.yaml"
    config.write_text(_CONFIG.format(profiles=profiles, seed=seed, big=BIG_ORDER))
    return config


__all__ = ["EVENT_TYPES", "generate_sample", "write_sample"]
