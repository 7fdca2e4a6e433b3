"""Events: map to canonical columns, parse timestamps, quarantine bad rows, drop duplicates.

Every input row is kept, dropped as a duplicate, or quarantined with a reason, and
`data_quality.json` reconciles `rows_read = rows_kept + rows_quarantined + duplicates_dropped`.
The work runs in DuckDB through Ibis (out-of-core when needed); only summaries come back to Python.
"""

from __future__ import annotations

import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.datatypes as dt
import pandas as pd

from workbench.engine import duckdb_connection, spill_directory
from workbench.errors import ConfigError, DataError
from workbench.ingest.profiles import ingest_profiles, profile_match
from workbench.ingest.readers import (
    detect_format,
    external_table,
    frame_table,
    mapped_column,
    materialise,
    normalise_profile_id,
    require_columns,
    scalar_column,
    source_table,
)
from workbench.ingest.timestamps import (
    OUT_OF_RANGE,
    UNPARSEABLE,
    day_order,
    day_order_notices,
    in_range,
    timestamp_parsers,
    timestamp_report,
)
from workbench.progress import steps

if TYPE_CHECKING:
    from workbench.config import Config, EventsConfig

CANONICAL = ("profile_id", "timestamp", "event_type")


def _check_dedupe_keys(dedupe, columns: list[str], path: Path) -> None:
    missing = [k for k in dedupe if k not in columns] if isinstance(dedupe, list) else []
    if missing:
        raise DataError(
            f"{path}: events.dedupe column(s) {missing} not found; available: {', '.join(columns)}"
        )


def stage_events(source, cfg: EventsConfig, where: Path | str):
    """Map to canonical columns, with the timestamp parsed every way it might need to be.

    Besides `profile_id`, `event_type` and the other columns, the staged rows carry `_ts` (the
    neutral parse), `_ts_month_first`/`_ts_day_first` (text columns without a format only),
    `_ts_missing` and `_raw_timestamp` (the source text, kept for rows that may be quarantined).
    `finish_events` then picks the day order and adds `_reason`."""
    cols = cfg.columns
    needed = {
        "profile_id": mapped_column(cols, "profile_id"),
        "timestamp": mapped_column(cols, "timestamp"),
    }
    if cfg.event_type is None:
        needed["event_type"] = mapped_column(cols, "event_type")
    elif "event_type" in cols:
        raise ConfigError(
            f"{where}: events: give either columns.event_type or a constant event_type, not both"
        )
    require_columns(source, needed, Path(str(where)))

    raw_pid = scalar_column(source[needed["profile_id"]], needed["profile_id"], "profile_id", where)
    pid = normalise_profile_id(raw_pid)
    raw_ts = scalar_column(source[needed["timestamp"]], needed["timestamp"], "timestamp", where)
    parsers = timestamp_parsers(raw_ts, cfg.timestamp_format)
    if cfg.event_type is None:
        raw_type = source[needed["event_type"]]
        event_type = scalar_column(raw_type, needed["event_type"], "event_type", where)
        event_type = event_type.cast("string").strip()
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
    used = set(needed.values())
    rest = [source[c] for c in source.columns if c not in used and c not in CANONICAL]
    clashes = [c for c in source.columns if c in CANONICAL and c not in used]
    if clashes:
        # A column literally named like a canonical one but not mapped to it keeps its data under a new name.
        rest += [source[c].name(f"source_{c}") for c in clashes]
    return source.select(
        pid.name("profile_id"),
        event_type.name("event_type"),
        *rest,
        neutral.name("_ts"),
        *extra,
        ts_missing.name("_ts_missing"),
        ibis.cases((suspect, raw_text), else_=ibis.null("string")).name("_raw_timestamp"),
    )


_STAGING_COLUMNS = ("_ts", "_ts_month_first", "_ts_day_first", "_ts_missing")


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


@dataclass(frozen=True)
class IngestTargets:
    """Where ingest writes: the cleaned events, the quarantined rows and the profiles (named by
    the run folder, `Run.ingest_targets`)."""

    events: Path
    quarantine: Path
    profiles: Path


def _stage(con, cfg: EventsConfig, where, tmpdir: Path, frame=None):
    """The staged events as a temp table (see `stage_events`)."""
    if frame is not None:
        build = lambda full_scan: stage_events(frame_table(con, frame, "events"), cfg, where)  # noqa: E731
        return materialise(con, "_staged_events", build, where, "frame", retry=False)
    if cfg.path is None and cfg.table is None:
        raise ConfigError("events: give path (a file) or table, or pass the events as a frame")
    if cfg.path is None:
        build = lambda full_scan: stage_events(external_table(con, cfg), cfg, where)  # noqa: E731
        return materialise(con, "_staged_events", build, where, "table", retry=False)

    def build(full_scan: bool):
        return stage_events(source_table(con, cfg, tmpdir, full_scan), cfg, where)

    label = f"as {detect_format(cfg.path, cfg.format)}"
    return materialise(con, "_staged_events", build, where, label)


def ingest_events(
    config: Config, targets: IngestTargets, con=None, *, events=None, profiles=None
) -> dict[str, Any]:
    """Read, map, quarantine and dedupe the events (and profiles); write the cleaned events,
    the quarantined rows and the profiles to `targets`.

    `events` / `profiles`: a pandas or Arrow frame instead of the config's files (the config's
    column mapping still applies). Returns the data quality report (`data_quality.json`).
    """
    targets.events.parent.mkdir(parents=True, exist_ok=True)
    cfg = config.events
    con = con or duckdb_connection(
        config.duckdb.memory_limit, config.duckdb.threads, spill_directory()
    )
    if events is not None:
        where = "events frame"
    else:
        where = cfg.path if cfg.path is not None else f"{cfg.connection}:{cfg.table}"
    ts_column = mapped_column(cfg.columns, "timestamp")
    notices: list[str] = []
    with ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="workbench-"))
        bar = stack.enter_context(steps("ingest", 3))
        staged = _stage(con, cfg, where, Path(tmp), events)
        bar("read")
        rows_read = int(staged.count().to_pyarrow().as_py())
        if rows_read == 0:
            raise DataError(f"{where}: file has no rows")
        order = day_order(staged)
        if order is not None:
            notices += day_order_notices(staged, order, ts_column)
        final = finish_events(staged, order)

        bad = final.filter(final._reason.notnull())
        reasons = bad.group_by("_reason").aggregate(rows=bad.count()).to_pandas()
        quarantine_counts = {
            str(r): int(n)
            for r, n in sorted(
                zip(reasons["_reason"], reasons["rows"], strict=True), key=lambda x: -x[1]
            )
        }
        rows_quarantined = int(sum(quarantine_counts.values()))
        quarantine_path = targets.quarantine
        _write_quarantine(con, bad, quarantine_path)
        bar("quarantine")
        _check_enough_rows(final, cfg, where, ts_column, rows_read, quarantine_counts)

        good = final.filter(final._reason.isnull()).drop("_reason", "_raw_timestamp")
        keys = cfg.dedupe
        _check_dedupe_keys(keys, good.columns, Path(str(where)))
        if keys == "none":
            kept = good
        elif keys == "exact":
            kept = good.distinct()
        else:
            kept = _dedupe_by_key(good, keys)
        events_path = targets.events
        con.to_parquet(kept, str(events_path))
        bar("events")

    events = con.read_parquet(str(events_path))
    summary = (
        events.aggregate(
            rows=events.count(),
            profiles=events.profile_id.nunique(),
            first_event=events.timestamp.min(),
            last_event=events.timestamp.max(),
        )
        .to_pandas()
        .iloc[0]
    )
    rows_kept = int(summary["rows"])
    by_type = (
        events.group_by("event_type")
        .aggregate(rows=events.count())
        .order_by(ibis.desc("rows"))
        .to_pandas()
    )
    duplicates_dropped = rows_read - rows_quarantined - rows_kept
    schema = events.schema()
    quality: dict[str, Any] = {
        "source": str(where),
        "rows_read": rows_read,
        "rows_kept": rows_kept,
        "rows_quarantined": rows_quarantined,
        "duplicates_dropped": duplicates_dropped,
        "dedupe": cfg.dedupe,
        "reconciles": rows_read == rows_kept + rows_quarantined + duplicates_dropped
        and duplicates_dropped >= 0,
        "quarantine_reasons": quarantine_counts,
        "profiles": int(summary["profiles"]),
        "event_types": {
            str(t): int(n) for t, n in zip(by_type["event_type"], by_type["rows"], strict=True)
        },
        "first_event": iso_utc(summary["first_event"]),
        "last_event": iso_utc(summary["last_event"]),
        "columns": {name: str(schema[name]) for name in schema.names},
        "files": {"events": str(events_path), "quarantine": str(quarantine_path)},
        "timestamp": timestamp_report(cfg, ts_column, order),
        "notices": notices,
    }
    if config.profiles is not None or profiles is not None:
        profiles_quality = ingest_profiles(config, targets.profiles, con, frame=profiles)
        profiles_quality["match"] = profile_match(
            con.read_parquet(str(events_path)), con.read_parquet(profiles_quality["file"])
        )
        quality["profiles_file"] = profiles_quality
    return quality


def _check_enough_rows(final, cfg, where, column: str, rows_read: int, reasons: dict) -> None:
    """One line instead of a run on nothing: most timestamps unparseable, or every row quarantined."""
    unparseable = reasons.get(UNPARSEABLE, 0)
    if unparseable * 2 > rows_read:
        example = (
            final.filter(final._reason == UNPARSEABLE)
            .select("_raw_timestamp")
            .limit(1)
            .to_pyarrow()
            .to_pylist()
        )
        value = example[0]["_raw_timestamp"] if example else None
        if cfg.timestamp_format is not None:
            hint = f"check events.timestamp_format ({cfg.timestamp_format!r})"
        else:
            hint = "set events.timestamp_format to its pattern (e.g. '%d.%m.%Y %H:%M')"
        raise DataError(
            f"{where}: column '{column}': {unparseable:,} of {rows_read:,} timestamps do not parse "
            f"(e.g. {value!r}); {hint}; the rows are in quarantine.csv"
        )
    if sum(reasons.values()) == rows_read:
        listed = ", ".join(f"{r}: {n:,}" for r, n in reasons.items())
        raise DataError(
            f"{where}: no event rows left: {rows_read:,} read, all quarantined ({listed}); "
            "see quarantine.csv"
        )


def _dedupe_by_key(good, keys: list[str]):
    """Keep the earliest row of each key. Only keys that repeat go through the (sorting) window,
    so a large, mostly unique export costs one hash aggregate instead of a full sort."""
    repeated = good.group_by(keys).aggregate(_n=good.count()).filter(lambda t: t._n > 1).drop("_n")
    has_null = ibis.or_(*[good[k].isnull() for k in keys])
    unique_rows = good.anti_join(repeated, keys)
    candidates = good.semi_join(repeated, keys)
    ranked = candidates.mutate(
        _rank=ibis.row_number().over(
            group_by=[candidates[k] for k in keys],
            order_by=[candidates.timestamp, candidates.profile_id],
        )
    )
    # Rows with a missing key cannot be duplicates of each other: they all stay.
    null_rows = good.filter(has_null)
    return (
        unique_rows.filter(~has_null)
        .union(ranked.filter(ranked._rank == 0).drop("_rank"))
        .union(null_rows, distinct=False)
    )


def _write_quarantine(con, bad, path: Path) -> None:
    """The quarantined rows as read: `timestamp` holds the source text (e.g. '13.08.2011 10:32')."""
    renamed = bad.mutate(timestamp=bad._raw_timestamp).drop("_raw_timestamp")
    renamed = renamed.rename(reason="_reason")
    cols = ["reason"] + [c for c in renamed.columns if c != "reason"]
    # Text everywhere so a mixed-type quarantine still writes; the rows are for people to read.
    renamed = renamed.select([renamed[c].cast("string").name(c) for c in cols])
    con.to_csv(renamed, str(path))


def iso_utc(value) -> str | None:
    if value is None or pd.isna(value):
        return None
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return ts.isoformat()


MAX_EVENT_TYPES_IN_MIX = 12


def build_event_mix(events) -> pd.DataFrame:
    """Events per month and event type (the 12 most frequent types; the rest as `other`)."""
    month = events.timestamp.truncate("M").name("month")
    mix = events.group_by([month, events.event_type]).aggregate(events=events.count()).to_pandas()
    top = mix.groupby("event_type")["events"].sum().nlargest(MAX_EVENT_TYPES_IN_MIX).index
    mix["event_type"] = mix["event_type"].where(mix["event_type"].isin(top), "other")
    mix = (
        mix.groupby(["month", "event_type"], as_index=False)["events"]
        .sum()
        .sort_values(["month", "event_type"])
    )
    return mix.reset_index(drop=True)
