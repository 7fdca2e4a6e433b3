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
from workbench.ingest.simulation import (
    COUNTRIES,
    EVENT_TYPES,
    LOYALTY_TIERS,
    N_SKUS,
    PURCHASE,
    draw_traits,
    expand_events,
    simulate_weeks,
)

CHANNELS = ("web", "mobile", "email")
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
    traits = draw_traits(rng, n, days)
    counts = simulate_weeks(rng, traits, weeks, season)
    events = expand_events(rng, counts, traits, t0, days, catalogue)
    person_ids = _fixed_width_ids("P", np.arange(offset, offset + n), width)
    return _events_table(events, person_ids), _profiles_table(
        rng, traits, person_ids, offset, start, width
    )


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
