"""Staging: one source's rows mapped to the canonical columns (profile id, timestamp, event
type) with every other column kept under a safe name, timestamps parsed by every candidate
format and the reason a row cannot be kept (`_reason`); `workbench.ingest.events` quarantines,
dedupes and writes what staging gives it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.datatypes as dt

from workbench.errors import ConfigError
from workbench.ingest.identity import (
    event_type_expr,
    profile_id_expr,
    used_columns,
)
from workbench.ingest.nested import expand_nested, is_nested, resolve
from workbench.ingest.readers import (
    mapped_column,
    require_columns,
    scalar_column,
)
from workbench.ingest.sources import (
    apply_types,
    declared_types,
)
from workbench.ingest.timestamps import (
    OUT_OF_RANGE,
    UNPARSEABLE,
    in_range,
    timestamp_parsers,
)

if TYPE_CHECKING:
    from workbench.config import EventsConfig

CANONICAL = ("profile_id", "timestamp", "event_type")

# The names staging gives its own columns (and `cutoff_s`, which snapshots join on): a source
# column so named is kept under another name. Other names starting with '_' (XDM's `_id`) stay.
RESERVED = {"_reason", "_raw_timestamp", "_ts_missing", "_unstitched_id", "cutoff_s"}

_RESERVED_PATTERN = re.compile(r"_ts(_month_first|_day_first|_serial)?|_cast_failed_\d+")
_STAGING_COLUMNS = ("_ts", "_ts_month_first", "_ts_day_first", "_ts_serial", "_ts_missing")


def reserved_renames(columns: list[str]) -> dict[str, str]:
    """Source columns named like the workbench's own (`_reason`, `_ts`, `cutoff_s`...) and the
    names they are kept under (`source_reason`, `source_cutoff_s`), like a column named like a
    canonical one that is not mapped to it."""
    taken = set(columns)
    renames = {}
    for c in columns:
        if c in RESERVED or _RESERVED_PATTERN.fullmatch(c):
            new = f"source_{c.lstrip('_')}"
            while new in taken:
                new += "_"
            taken.add(new)
            renames[c] = new
    return renames


@dataclass
class StageInfo:
    """What staging found besides the rows: notices, the nested columns made into fields, and
    the declared-type checks (boolean `_cast_failed_<i>` columns, counted then dropped)."""

    notices: list[str] = field(default_factory=list)
    nested: dict[str, Any] = field(default_factory=dict)
    checks: list[str] = field(default_factory=list)
    source: dict[str, Any] = field(default_factory=dict)  # what a warehouse query left there


def stage_events(source, cfg: EventsConfig, where: Path | str, info: StageInfo | None = None):
    """Map to canonical columns, with the timestamp parsed every way it might need to be.

    Besides `profile_id`, `event_type` and the other columns (nested ones made into fields, see
    `nested`), the staged rows carry `_ts` (the neutral parse), `_ts_month_first` /
    `_ts_day_first` (text columns without a format only), `_ts_missing` and `_raw_timestamp`
    (the source text, kept for rows that may be quarantined), and `_ts_serial` when the
    timestamps may be spreadsheet serial days. `finish_events` then picks the day order and
    adds `_reason`."""
    info = info if info is not None else StageInfo()
    typed = apply_types(source, declared_types(cfg))
    source = typed.table
    cols = cfg.columns
    if cfg.event_type is not None and "event_type" in cols:
        raise ConfigError(
            f"{where}: events: give either columns.event_type or a constant event_type, not both"
        )
    mapping = {
        "profile_id": cols.get("profile_id", "profile_id"),
        "timestamp": mapped_column(cols, "timestamp"),
    }
    pid = profile_id_expr(source, mapping["profile_id"], where)
    ts_col = mapping["timestamp"]
    found = resolve(source, ts_col)
    if found is None:
        require_columns(source, {"timestamp": ts_col}, Path(str(where)))
    raw_ts = scalar_column(found, ts_col, "timestamp", where)
    parsers = timestamp_parsers(raw_ts, cfg.timestamp_format)
    if cfg.event_type is None:
        mapping["event_type"] = cols.get("event_type", "event_type")
        event_type = event_type_expr(source, mapping["event_type"], where)
    else:
        event_type = ibis.literal(cfg.event_type, type="string")

    # Only text timestamps can be blank; casting typed ones to text would cost a pass over every row.
    is_text = raw_ts.type().is_string()
    ts_missing = raw_ts.isnull() | (raw_ts.strip() == "") if is_text else raw_ts.isnull()
    neutral = parsers["neutral"]
    suspect = (
        pid.isnull()
        | (pid == "")
        | neutral.isnull()
        | ~in_range(neutral)
        | event_type.isnull()
        | (event_type == "")
    )
    raw_text = raw_ts if is_text else raw_ts.cast("string")
    extra = []
    if "month_first" in parsers:
        unparsed = neutral.isnull() & ~ts_missing
        for key in ("month_first", "day_first"):
            extra.append(
                ibis.cases((unparsed, parsers[key]), else_=ibis.null(dt.Timestamp())).name(
                    f"_ts_{key}"
                )
            )
    rest, failed = _other_columns(source, cfg, mapping, typed, info, where)
    return source.select(
        pid.name("profile_id"),
        event_type.name("event_type"),
        *rest,
        neutral.name("_ts"),
        *extra,
        *([parsers["serial"].name("_ts_serial")] if "serial" in parsers else []),
        ts_missing.name("_ts_missing"),
        ibis.cases((suspect, raw_text), else_=ibis.null("string")).name("_raw_timestamp"),
        *failed,
    )


def _other_columns(source, cfg: EventsConfig, mapping: dict, typed, info: StageInfo, where):
    """Every column besides the canonical ones, nested ones made into fields (see `nested`),
    and the `_cast_failed_<i>` checks of the declared types: (columns, checks)."""
    used = used_columns(source, mapping)
    # A dedupe key stays a column even when it is also mapped (Mixpanel's key has `event` and
    # `properties.distinct_id`, which profile_id and event_type read too).
    keys = set(cfg.dedupe) if isinstance(cfg.dedupe, list) else set()
    used -= keys - set(CANONICAL)
    nested = expand_nested(source, used, typed.unknown)
    _check_declared_types(nested.types, source, nested.columns, where)
    info.notices += nested.notices
    info.nested.update(nested.described)
    typed_checks = [f"_cast_failed_{i}" for i in range(len(typed.checks))]
    skip = used | set(CANONICAL) | set(nested.columns) | set(typed_checks)
    rest = [source[c] for c in source.columns if c not in skip and not is_nested(source[c].type())]
    rest += [expr.name(name) for name, expr in nested.columns.items() if name not in CANONICAL]
    clashes = [c for c in source.columns if c in CANONICAL and c not in used]
    if clashes:
        # A column literally named like a canonical one but not mapped to it keeps its data under a new name.
        rest += [source[c].name(f"source_{c}") for c in clashes]
    renames = reserved_renames([e.get_name() for e in rest])
    rest = [e.name(renames[e.get_name()]) if e.get_name() in renames else e for e in rest]
    info.notices += [
        f"column '{old}' is kept as '{new}': the workbench uses that name for its own column"
        for old, new in renames.items()
    ]
    info.checks = typed.checks + list(nested.checks)
    failed = [source[c] for c in typed_checks]
    failed += [
        check.name(f"_cast_failed_{len(typed_checks) + i}")
        for i, check in enumerate(nested.checks.values())
    ]
    return rest, failed


def _check_declared_types(unclaimed: dict[str, str], source, made: dict, where) -> None:
    """A declared type must name a column or a field inside a nested one."""
    if unclaimed:
        name = next(iter(unclaimed))
        known = sorted(set(source.columns) | set(made))
        raise ConfigError(
            f"{where}: events.types: unknown column '{name}'; available: {', '.join(known)}"
        )


def finish_events(staged, order: dict[str, Any] | None):
    """Canonical columns (profile_id, timestamp, event_type, others...) plus `_reason` (NULL for
    good rows) and `_raw_timestamp`, from the staged rows and the chosen day order."""
    ts = staged._ts
    if order is not None:
        chosen = staged._ts_day_first if order["order"] == "day-first" else staged._ts_month_first
        ts = ibis.coalesce(ts, chosen)
    pid, event_type = staged.profile_id, staged.event_type
    reason = ibis.cases(
        (pid.isnull() | (pid == ""), "missing profile_id"),
        (staged._ts_missing, "missing timestamp"),
        (ts.isnull(), UNPARSEABLE),
        (~in_range(ts), OUT_OF_RANGE),
        (event_type.isnull() | (event_type == ""), "missing event_type"),
        else_=ibis.null("string"),
    )
    internal = {"profile_id", "event_type", "_raw_timestamp", *_STAGING_COLUMNS}
    rest = [c for c in staged.columns if c not in internal]
    return staged.select(
        pid,
        ts.name("timestamp"),
        event_type,
        *rest,
        reason.name("_reason"),
        staged._raw_timestamp,
    )
