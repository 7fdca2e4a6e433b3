"""Technical columns: numbers an export carries that are not behaviour, left out of the features.

Summed into a feature, an epoch time in milliseconds becomes a "total" of ten trillion that a
model happily splits on (Mixpanel's `mp_processing_time_ms` was the second global factor of a
run before this rule). Two tests, each with a notice naming the column:

- **by value**: a number column whose every value is an epoch time (seconds, milliseconds,
  microseconds or nanoseconds since 1970) between 1990 and 2100, whatever its name;
- **by name**: the known technical fields of the common exports, below (an offset, a port, a
  coordinate, a screen size or a sequence number is never epoch-like, so only its name tells).

`features.quantities` keeps a listed column as a quantity all the same.
"""

from __future__ import annotations

import re

# Every value between these (seconds since 1970): 1990-01-01 .. 2100-01-01.
EPOCH_SECONDS = (631_152_000, 4_102_444_800)
EPOCH_UNITS = {"seconds": 1, "milliseconds": 10**3, "microseconds": 10**6, "nanoseconds": 10**9}

# Known technical fields, by their last path part (lower case, `$` dropped), and why.
KNOWN_TECHNICAL = {
    # GA4 BigQuery export (developers.google.com/analytics/bigquery/event-schema)
    "event_server_timestamp_offset": "GA4's clock offset between collection and upload (µs)",
    "event_bundle_sequence_id": "GA4's upload bundle number",
    "event_previous_timestamp": "GA4's previous event time",
    "user_first_touch_timestamp": "GA4's first visit time",
    "set_timestamp_micros": "GA4's user property time",
    "batch_page_id": "GA4's batching id",
    "batch_ordering_id": "GA4's batching order",
    "batch_event_index": "GA4's batching order",
    "ga_session_id": "GA4's session id (the session start as epoch seconds)",
    "time_zone_offset_seconds": "a time zone offset",
    "stream_id": "GA4's data stream id",
    # Snowplow enriched events (docs.snowplow.io, enriched TSV format)
    "txn_id": "Snowplow's transaction id of the tracker",
    "event_fingerprint": "Snowplow's event hash",
    "etl_tags": "Snowplow's pipeline tags",
    "br_cookies": "a browser capability flag",
    # Mixpanel raw export (docs.mixpanel.com, default properties)
    "mp_processing_time_ms": "Mixpanel's processing time (epoch ms)",
    "insert_id": "Mixpanel's deduplication id",
    "lib_version": "a version number",
    "browser_version": "a version number",
    "version": "a version number",  # Segment's spec version, an app's or a browser's
    "event_date": "the event's day as text (repeats the timestamp)",
    # XDM
    "_id": "the event's id",
}
# Words of the last path part that name a technical measure: ports, coordinates, screen and
# window sizes, scroll offsets, colour depth (Snowplow's page_urlport, geo_latitude,
# br_viewwidth, pp_yoffset_max; XDM's device.screenWidth; Mixpanel's $screen_height).
TECHNICAL_WORDS = {
    "port", "urlport", "latitude", "longitude", "lat", "lon", "lng", "width", "height",
    "viewwidth", "viewheight", "screenwidth", "screenheight", "colordepth", "density",
    "offset", "xoffset", "yoffset", "sequence", "fingerprint",
}  # fmt: skip


def _words(column: str) -> list[str]:
    last = column.split(".")[-1].lstrip("$")
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", last).lower()
    return [w for w in re.split(r"[^0-9a-z]+", snake) if w]


# Name prefixes of families of technical fields.
KNOWN_PREFIXES = {"br_features_": "a browser capability flag (Snowplow)"}


def technical_reason(column: str) -> str | None:
    """Why a column is technical by its name (None: it is not, by name)."""
    last = column.split(".")[-1].lstrip("$")
    for prefix, reason in KNOWN_PREFIXES.items():
        if last.startswith(prefix):
            return reason
    known = KNOWN_TECHNICAL.get(last) or KNOWN_TECHNICAL.get(last.lower())
    if known:
        return known
    words = _words(column)
    hits = [w for w in words if w in TECHNICAL_WORDS or w.endswith(("width", "height"))]
    if hits:
        return f"a technical measure ({hits[0]})"
    return None


def epoch_unit(low, high) -> str | None:
    """The epoch unit that puts every value in [low, high] between 1990 and 2100, if any."""
    if low is None or high is None:
        return None
    for unit, scale in EPOCH_UNITS.items():
        if EPOCH_SECONDS[0] * scale <= float(low) and float(high) <= EPOCH_SECONDS[1] * scale:
            return unit
    return None


def epoch_like(scope, columns: list[str]) -> dict[str, str]:
    """{column: unit} for the number columns of `scope` whose every value is an epoch time
    (one aggregate: the min and max of each)."""
    if not columns:
        return {}
    stats = {}
    for i, c in enumerate(columns):
        value = scope[c].cast("float64")
        stats[f"lo{i}"], stats[f"hi{i}"] = value.min(), value.max()
    row = scope.aggregate(**stats).to_pyarrow().to_pylist()[0]
    found = {}
    for i, c in enumerate(columns):
        unit = epoch_unit(row[f"lo{i}"], row[f"hi{i}"])
        if unit is not None:
            found[c] = unit
    return found


def technical_notice(column: str, dtype) -> str | None:
    """The notice for a number, flag or text column that is technical by its name, else None."""
    if not (dtype.is_numeric() or dtype.is_string() or dtype.is_boolean()):
        return None
    reason = technical_reason(column)
    if reason is None:
        return None
    return (
        f"column '{column}' is technical ({reason}) and is not used as a feature "
        "(features.quantities lists columns to use anyway)"
    )


def without_epochs(
    scope, numeric: list[str], quantities: set[str], notices: list[str]
) -> list[str]:
    """`numeric` without the columns whose every value is an epoch time (a notice for each)."""
    candidates = [c for c in numeric if c not in quantities and not scope[c].type().is_boolean()]
    found = epoch_like(scope, candidates)
    for column, unit in found.items():
        notices.append(
            f"column '{column}' holds epoch times ({unit} since 1970) and is not used as a "
            "feature (features.quantities lists columns to use anyway)"
        )
    return [c for c in numeric if c not in found]
