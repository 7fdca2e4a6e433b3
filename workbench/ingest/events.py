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
import pandas as pd

from workbench.csv_safety import escape_column
from workbench.engine import duckdb_connection, spill_directory, write_table
from workbench.errors import ConfigError, DataError
from workbench.ingest.identity import (
    read_identities,
    stitch,
    stitching_report,
)
from workbench.ingest.nested import needs_discovery
from workbench.ingest.profiles import ingest_profiles, profile_match
from workbench.ingest.readers import (
    frame_table,
    mapped_column,
    materialise,
    source_notices,
    source_table,
)
from workbench.ingest.sources import (
    failed_cast_notices,
    list_files,
)
from workbench.ingest.staging import (
    StageInfo,
    finish_events,
    stage_events,
)
from workbench.ingest.timestamps import (
    UNPARSEABLE,
    check_day_order,
    day_order,
    day_order_notices,
    serial_notices,
    timestamp_report,
)
from workbench.ingest.warehouse import open_table, redact, warehouse_notices
from workbench.progress import steps

if TYPE_CHECKING:
    from workbench.config import Config


def _check_dedupe_keys(dedupe, columns: list[str], path: Path) -> None:
    missing = [k for k in dedupe if k not in columns] if isinstance(dedupe, list) else []
    if missing:
        raise DataError(
            f"{path}: events.dedupe column(s) {missing} not found; available: {', '.join(columns)}"
        )


@dataclass(frozen=True)
class IngestTargets:
    """Where ingest writes: the cleaned events, the quarantined rows, the profiles and the
    profile rows set aside (named by the run folder, `Run.ingest_targets`)."""

    events: Path
    quarantine: Path
    profiles: Path
    profiles_quarantine: Path | None = None  # default: profiles_quarantine.csv next to profiles


def _stage(con, config: Config, where, tmpdir: Path, info: StageInfo, frame=None, horizon=None):
    """The staged events as a temp table (see `stage_events`), ids stitched by the identity
    table when there is one."""
    cfg = config.events
    identities = read_identities(con, config, tmpdir) if config.identities is not None else None

    def staged(source):
        table = stage_events(source, cfg, where, info)
        return stitch(table, identities) if identities is not None else table

    if frame is not None:
        build = lambda full_scan: staged(frame_table(con, frame, "events"))  # noqa: E731
        label, retry = "frame", False
    elif cfg.path is None and cfg.table is None:
        raise ConfigError("events: give path (a file) or table, or pass the events as a frame")
    elif cfg.path is None:

        def build(full_scan: bool):
            table, report = open_table(con, config, tmpdir, horizon)
            info.source = report
            return staged(table)

        label, retry = "table", False
    else:
        fmt = list_files(cfg.path, cfg.format).fmt

        def build(full_scan: bool):
            source = source_table(con, cfg, tmpdir, full_scan)
            if fmt == "jsonl" and needs_discovery(source):
                # finding the keys of key/value arrays and maps is a pass of its own; JSON is
                # parsed once into a temp table rather than once per pass
                source = con.create_table("_raw_events", source, temp=True, overwrite=True)
            return staged(source)

        label, retry = f"as {fmt}", True
    table = materialise(con, "_staged_events", build, where, label, retry=retry)
    if "_raw_events" in con.list_tables():
        con.drop_table("_raw_events", force=True)
    return table, identities


def _staging_report(staged, identities, info: StageInfo, config: Config):
    """Count what staging recorded in helper columns (failed declared types, stitched ids) and
    drop them: (the staged rows, notices, the identities report or None)."""
    helpers = [f"_cast_failed_{i}" for i in range(len(info.checks))]
    notices = failed_cast_notices(staged, info.checks, "events")
    report = None
    if identities is not None:
        report = stitching_report(staged, identities, str(config.identities.path))
        helpers.append("_unstitched_id")
    return (staged.drop(*helpers) if helpers else staged), notices, report


def _where(config: Config, frame) -> str:
    cfg = config.events
    if frame is not None:
        return "events frame"
    if cfg.path is not None:
        return list_files(cfg.path, cfg.format).where
    return f"{redact(cfg.connection or '')}:{cfg.table}"


def ingest_events(
    config: Config,
    targets: IngestTargets,
    con=None,
    *,
    events=None,
    profiles=None,
    horizon=None,
) -> dict[str, Any]:
    """Read, map, quarantine and dedupe the events (and profiles); write the cleaned events,
    the quarantined rows and the profiles to `targets`.

    `events` / `profiles`: a pandas or Arrow frame instead of the config's files (the config's
    column mapping still applies). `horizon`: the run's as-of day; a warehouse table's events
    on or after it stay in the database. Returns the data quality report (`data_quality.json`).
    """
    targets.events.parent.mkdir(parents=True, exist_ok=True)
    cfg = config.events
    con = con or duckdb_connection(
        config.duckdb.memory_limit, config.duckdb.threads, spill_directory()
    )
    where = _where(config, events)
    ts_column = mapped_column(cfg.columns, "timestamp")
    info = StageInfo()
    notices: list[str] = []
    if events is None and cfg.path is not None:
        notices += source_notices(list_files(cfg.path, cfg.format))
    with ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="workbench-"))
        bar = stack.enter_context(steps("ingest", 3))
        staged, identities = _stage(con, config, where, Path(tmp), info, events, horizon)
        staged, type_notices, stitching = _staging_report(staged, identities, info, config)
        notices += warehouse_notices(info.source) + info.notices + type_notices
        bar("read")
        rows_read = int(staged.count().to_pyarrow().as_py())
        if rows_read == 0:
            raise DataError(f"{where}: file has no rows")
        order = day_order(staged)
        if order is not None:
            check_day_order(staged, order, ts_column, where)
            notices += day_order_notices(staged, order, ts_column)
        notices += serial_notices(staged, ts_column)
        final = finish_events(staged, order)

        quarantine_counts = _quarantine(con, final, targets.quarantine)
        bar("quarantine")
        _check_enough_rows(final, cfg, where, ts_column, rows_read, quarantine_counts)
        good = final.filter(final._reason.isnull()).drop("_reason", "_raw_timestamp")
        write_table(con, _deduped(good, cfg.dedupe, where), targets.events, "parquet")
        bar("events")

    quality: dict[str, Any] = {
        "source": str(where),
        **_reconciliation(con, targets.events, rows_read, quarantine_counts, cfg.dedupe),
        "files": {"events": str(targets.events), "quarantine": str(targets.quarantine)},
        "timestamp": timestamp_report(cfg, ts_column, order),
        "notices": notices,
    }
    if info.source:
        quality["warehouse"] = info.source
    if info.nested:
        quality["nested"] = info.nested
    if stitching is not None:
        quality["identities"] = stitching
    if config.profiles is not None or profiles is not None:
        profiles_quality = ingest_profiles(
            config, targets.profiles, con, frame=profiles, quarantine=targets.profiles_quarantine
        )
        profiles_quality["match"] = profile_match(
            con.read_parquet(str(targets.events)), con.read_parquet(profiles_quality["file"])
        )
        quality["profiles_file"] = profiles_quality
        quality["notices"] += profiles_quality.get("notices", [])
    return quality


def _quarantine(con, final, path: Path) -> dict[str, int]:
    """Write the rows set aside (each with its reason) and count them per reason, most first."""
    bad = final.filter(final._reason.notnull())
    reasons = bad.group_by("_reason").aggregate(rows=bad.count()).to_pandas()
    pairs = zip(reasons["_reason"], reasons["rows"], strict=True)
    counts = {str(r): int(n) for r, n in sorted(pairs, key=lambda x: -x[1])}
    _write_quarantine(con, bad, path)
    return counts


def _deduped(good, keys, where):
    """The kept rows without duplicates: none dropped, exact copies, or one row per key."""
    _check_dedupe_keys(keys, good.columns, Path(str(where)))
    if keys == "none":
        return good
    if keys == "exact":
        return good.distinct()
    return _dedupe_by_key(good, keys)


def _reconciliation(con, events_path: Path, rows_read: int, reasons: dict, dedupe) -> dict:
    """What was kept, set aside and dropped, and whether it adds up to the rows read, read back
    from the written events file (what every later stage sees)."""
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
    by_type = (
        events.group_by("event_type")
        .aggregate(rows=events.count())
        .order_by(ibis.desc("rows"))
        .to_pandas()
    )
    rows_kept = int(summary["rows"])
    rows_quarantined = int(sum(reasons.values()))
    duplicates = rows_read - rows_quarantined - rows_kept
    schema = events.schema()
    return {
        "rows_read": rows_read,
        "rows_kept": rows_kept,
        "rows_quarantined": rows_quarantined,
        "duplicates_dropped": duplicates,
        "dedupe": dedupe,
        "reconciles": rows_read == rows_kept + rows_quarantined + duplicates and duplicates >= 0,
        "quarantine_reasons": reasons,
        "profiles": int(summary["profiles"]),
        "event_types": {
            str(t): int(n) for t, n in zip(by_type["event_type"], by_type["rows"], strict=True)
        },
        "first_event": iso_utc(summary["first_event"]),
        "last_event": iso_utc(summary["last_event"]),
        "columns": {name: str(schema[name]) for name in schema.names},
    }


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
    # Text everywhere so a mixed-type quarantine still writes; the rows are for people to read,
    # escaped like every CSV the workbench writes (`workbench.csv_safety`).
    renamed = renamed.select([escape_column(renamed[c].cast("string")).name(c) for c in cols])
    write_table(con, renamed, path, "csv")


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
