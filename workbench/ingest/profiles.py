"""Profiles: one row per profile of attributes, and how well its ids match the events'."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ibis

from workbench.engine import duckdb_connection, write_table
from workbench.errors import ConfigError, DataError
from workbench.ingest.readers import (
    frame_table,
    mapped_column,
    materialise,
    normalise_profile_id,
    read_source,
    require_columns,
    scalar_column,
)
from workbench.ingest.sources import (
    apply_types,
    declared_types,
    failed_cast_notices,
    list_files,
)

if TYPE_CHECKING:
    from workbench.config import Config, ProfilesConfig


def ingest_profiles(
    config: Config, target: Path, con=None, *, frame=None, quarantine: Path | None = None
) -> dict[str, Any]:
    """Profile attributes, written to `target`: one row per profile. Rows without an id, and
    the other rows of a repeated id (the row kept is the one with the most attributes filled
    in, ties broken by the values, so the choice does not depend on row order), go to
    `quarantine` (default `profiles_quarantine.csv` next to `target`) with their reason.
    `frame`: a pandas or Arrow frame instead of `profiles.path`."""
    from workbench.config import ProfilesConfig

    cfg: ProfilesConfig = config.profiles or ProfilesConfig()
    if frame is None and cfg.path is None:
        raise ConfigError(f"{config.where()}: profiles.path is not set")
    where = (
        "profiles frame"
        if frame is not None
        else list_files(cfg.path, cfg.format, "profiles").where
    )
    con = con or duckdb_connection()
    pid_col = mapped_column(cfg.columns, "profile_id")
    checks: list[str] = []
    with tempfile.TemporaryDirectory(prefix="workbench-") as tmp:

        def build(full_scan: bool):
            if frame is not None:
                source = frame_table(con, frame, "profiles")
            else:
                source = read_source(
                    con, cfg, [pid_col], Path(tmp), "profiles", full_scan=full_scan
                )
            typed = apply_types(source, declared_types(cfg))
            if typed.unknown:
                name = next(iter(typed.unknown))
                raise ConfigError(
                    f"{where}: profiles.types: unknown column '{name}'; "
                    f"available: {', '.join(source.columns)}"
                )
            source = typed.table
            checks[:] = typed.checks
            require_columns(source, {"profile_id": pid_col}, where)
            raw_pid = scalar_column(source[pid_col], pid_col, "profile_id", where)
            others = [source[c] for c in source.columns if c != pid_col and c != "profile_id"]
            return source.select(normalise_profile_id(raw_pid).name("profile_id"), *others)

        label = "frame" if frame is not None else f"as {list_files(cfg.path, cfg.format).fmt}"
        table = materialise(
            con, "_staged_profiles", build, where, label, "profiles", retry=frame is None
        )
        notices = failed_cast_notices(table, list(checks), "profiles")
        table = table.drop(*[f"_cast_failed_{i}" for i in range(len(checks))]) if checks else table
        rows_read = int(table.count().to_pyarrow().as_py())
        if rows_read == 0:
            raise DataError(f"{where}: profiles file has no rows")
        missing = table.filter(table.profile_id.isnull() | (table.profile_id == ""))
        rows_missing = int(missing.count().to_pyarrow().as_py())
        kept, repeated = _one_row_per_profile(
            table.filter(table.profile_id.notnull() & (table.profile_id != ""))
        )
        path = Path(target)
        write_table(con, kept, path, "parquet")
        quarantine = quarantine or path.with_name("profiles_quarantine.csv")
        write_table(con, _quarantine_rows(missing, repeated), quarantine, "csv")
    rows_kept = int(con.read_parquet(str(path)).count().to_pyarrow().as_py())
    duplicates = rows_read - rows_missing - rows_kept
    notices += _set_aside_notices(Path(str(where)).name, rows_missing, duplicates, quarantine)
    reasons = {MISSING: rows_missing, DUPLICATE: duplicates}
    return {
        "source": str(where),
        "rows_read": rows_read,
        "rows_kept": rows_kept,
        "rows_quarantined": rows_missing,
        "duplicates_dropped": duplicates,
        "reconciles": rows_read == rows_kept + rows_missing + duplicates,
        "quarantine_reasons": {k: v for k, v in reasons.items() if v},
        "quarantine_file": str(quarantine),
        "columns": [c for c in kept.columns if c != "profile_id"],
        "file": str(path),
        "notices": notices,
    }


def _one_row_per_profile(good):
    """(kept, repeated): per profile id the row with the most attributes filled in, ties
    broken by the values (so the choice does not depend on row order), and the other rows."""
    others = [c for c in good.columns if c != "profile_id"]
    filled = sum((good[c].notnull().cast("int64") for c in others), ibis.literal(0))
    order = [ibis.desc(filled), *[good[c].cast("string") for c in others]]
    ranked = good.mutate(_rank=ibis.row_number().over(group_by=good.profile_id, order_by=order))
    return (
        ranked.filter(ranked._rank == 0).drop("_rank"),
        ranked.filter(ranked._rank > 0).drop("_rank"),
    )


def _set_aside_notices(name: str, missing: int, duplicates: int, quarantine: Path) -> list[str]:
    notices = []
    if missing:
        notices.append(
            f"{name}: {missing:,} rows have no profile id: set aside in {quarantine.name}"
        )
    if duplicates:
        notices.append(
            f"{name}: {duplicates:,} rows repeat a profile id: the row with the most attributes "
            f"filled in is kept, the others are in {quarantine.name}"
        )
    return notices


MISSING = "missing profile_id"
DUPLICATE = "duplicate profile_id (another row of this id is kept)"


def _quarantine_rows(missing, duplicates):
    """The profile rows set aside, as text (for people to read), each with its reason."""
    from workbench.csv_safety import escape_column

    def as_text(table, reason: str):
        cols = [escape_column(table[c].cast("string")).name(c) for c in table.columns]
        return table.select(ibis.literal(reason).name("reason"), *cols)

    return as_text(missing, MISSING).union(as_text(duplicates, DUPLICATE), distinct=False)


LOW_PROFILE_MATCH = 0.5


def profile_match(events, profiles) -> dict[str, Any]:
    """How many of the profiles with events have a row in the profiles file (Ibis tables).

    Profile attributes only help when the ids agree; a CRM export keyed `12346` against events
    keyed `C-12346` matches nobody and every profile feature is silently empty.
    """
    with_events = events.select("profile_id").distinct()
    known = profiles.select("profile_id").distinct()
    matched = with_events.join(known, "profile_id")
    n_events = int(with_events.count().to_pyarrow().as_py())
    n_matched = int(matched.count().to_pyarrow().as_py())
    share = n_matched / n_events if n_events else 0.0
    out: dict[str, Any] = {
        "profiles_with_events": n_events,
        "matched": n_matched,
        "share": round(share, 4),
    }
    if share < LOW_PROFILE_MATCH:
        example_events = [str(v) for v in with_events.limit(3).to_pyarrow().column(0).to_pylist()]
        example_file = [str(v) for v in known.limit(3).to_pyarrow().column(0).to_pylist()]
        out["warning"] = (
            f"only {n_matched:,} of {n_events:,} profiles with events ({share:.0%}) have a row in "
            f"the profiles file: its attributes will be missing for the rest. Ids in the events "
            f"look like {example_events}, in the profiles file like {example_file}"
        )
    return out
