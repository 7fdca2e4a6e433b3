"""Snapshots: one row per eligible profile per cutoff, with point-in-time features and the label.

For a cutoff `c`, features use only events with `timestamp < c` (and profile attributes); the
label uses only the outcome window `[c, c + window_days)`. Everything is one set-based Ibis
expression (events range-joined to the cutoffs, then grouped by profile and cutoff), so any Ibis
backend runs it; `docs/SCALE.md` explains the two-stage aggregation and the out-of-core partitions.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import ibis
import pandas as pd

from workbench.conditions import conditions_expr
from workbench.config import memory_bytes
from workbench.engine import hold_on_disk, release_memory
from workbench.features import (
    RECENCY_FEATURE,
    FeaturePlan,
    event_codes,
    feature_prefixes,
    plan_features,
)
from workbench.goals import (
    DAY,
    cutoff_table,
    eligible_filter,
    goal_hits,
    label_from_hits,
    to_day,
    with_seconds,
)
from workbench.progress import progress as progress_bar

if TYPE_CHECKING:
    from workbench.config import Config
    from workbench.goals import CutoffPlan


def _aggregate_features(joined, plan: FeaturePlan, config: Config):
    """Every event feature and eligibility count per (profile_id, cutoff_s), from `joined`
    (events strictly before each cutoff, one row per event and cutoff).

    Two aggregations instead of one wide one, because ~80 conditional aggregates over every
    event row were most of the snapshot time:

    - per (profile, cutoff, event type, custom-event and eligibility flags): a handful of
      window counts, sums and ages; then per (profile, cutoff) each feature is a conditional
      aggregate over those few rows (a profile has a few types, not thousands of events);
    - distinct counts (ids, active days), which do not add up across types, in their own
      aggregation over the lookback's rows.

    The values are those of the direct conditional aggregates (counts and ages exactly; means
    as sum / count).
    """
    L = plan.lookback_days
    elig = config.eligibility
    windows = sorted(set(plan.windows) | {30, 90, L})
    codes = event_codes(plan)
    prefixes = feature_prefixes(plan)
    age = joined.cutoff_s - joined._t  # seconds before the cutoff, always > 0 here
    keyed = {
        "_et": joined.event_type.isin(plan.event_types).ifelse(
            joined.event_type, ibis.null().cast("string")
        )
    }
    for i, ce in enumerate(plan.custom_events):
        keyed[f"_ce{i}"] = conditions_expr(
            joined, ce.conditions, ce.match, f"custom_events[{i}].conditions"
        )
    if elig.conditions:
        keyed["_elig"] = conditions_expr(joined, elig.conditions, "all", "eligibility.conditions")
    rows = joined.mutate(_age=age, **keyed)

    per_kind: dict[str, Any] = {f"_n{w}": rows.count(where=rows._age <= w * DAY) for w in windows}
    per_kind["_n"] = rows.count()
    per_kind["_prev60"] = rows.count(where=(rows._age > 30 * DAY) & (rows._age <= 90 * DAY))
    per_kind["_last"] = rows._age.min()
    per_kind["_first"] = rows._age.max()
    if elig.active_within_days:
        per_kind["_recent"] = rows.count(where=rows._age <= elig.active_within_days * DAY)
    for j, f in enumerate(plan.numeric_fields):
        value = rows[f].cast("float64")
        for w in sorted({30, L}):
            per_kind[f"_s{j}_{w}"] = value.sum(where=rows._age <= w * DAY)
            per_kind[f"_k{j}_{w}"] = value.count(where=rows._age <= w * DAY)
    kinds = rows.group_by(["profile_id", "cutoff_s", *keyed]).aggregate(**per_kind)

    k = kinds
    is_kind = [k._et == t for t in plan.event_types]
    is_kind += [k[f"_ce{i}"] for i in range(len(plan.custom_events))]
    aggs: dict[str, Any] = {}
    for (prefix, _, _), match in zip(codes, is_kind, strict=True):
        for w in plan.windows:
            aggs[f"{prefix}_count_{w}d"] = k[f"_n{w}"].sum(where=match).fill_null(0)
        aggs[f"{prefix}_days_since_last"] = k._last.min(where=match) / DAY
        aggs[f"{prefix}_days_since_first"] = k._first.max(where=match) / DAY
    for j, f in enumerate(plan.numeric_fields):
        prefix = prefixes[("numeric", f)]
        for w in sorted({30, L}):
            total, count = k[f"_s{j}_{w}"].sum(), k[f"_k{j}_{w}"].sum()
            aggs[f"{prefix}_sum_{w}d"] = total
            aggs[f"{prefix}_mean_{w}d"] = (count > 0).ifelse(
                total / count.cast("float64"), ibis.null().cast("float64")
            )
    aggs["events_count_30d"] = k._n30.sum()
    aggs[f"events_count_{L}d"] = k[f"_n{L}"].sum()
    aggs["_events_prev60d"] = k._prev60.sum()
    aggs[RECENCY_FEATURE] = k._last.min() / DAY
    aggs["days_since_first_event"] = k._first.max() / DAY
    if elig.active_within_days:
        aggs["_recent_events"] = k._recent.sum()
    if elig.conditions:
        counted = k._recent if elig.active_within_days else k._n
        aggs["_eligible_events"] = counted.sum(where=k._elig).fill_null(0)
    features = kinds.group_by(["profile_id", "cutoff_s"]).aggregate(**aggs)

    recent = rows.filter(rows._age <= L * DAY)
    lists = [f for f in plan.id_fields if recent[f].type().is_array()]
    distinct = {
        f"{prefixes[('distinct', f)]}_distinct_{L}d": recent[f].nunique()
        for f in plan.id_fields
        if f not in lists
    }
    distinct[f"active_days_{L}d"] = (recent._t // DAY).nunique()
    counts = recent.group_by(["profile_id", "cutoff_s"]).aggregate(**distinct)
    both = features.left_join(counts, ["profile_id", "cutoff_s"])
    both = both.select(
        *[both[c] for c in features.columns],
        **{c: both[c].fill_null(0) for c in distinct},
    )
    for f in lists:  # the ids of an event's objects (items.item_id): distinct over the unnested
        both = _distinct_in_lists(both, recent, f, f"{prefixes[('distinct', f)]}_distinct_{L}d")
    return both


def _distinct_in_lists(table, recent, field: str, code: str):
    """`table` with `code`: the distinct values of list column `field` per profile and cutoff."""
    values = recent.select("profile_id", "cutoff_s", _v=recent[field].unnest())
    counts = values.group_by(["profile_id", "cutoff_s"]).aggregate(**{code: values._v.nunique()})
    joined = table.left_join(counts, ["profile_id", "cutoff_s"])
    return joined.select(*[joined[c] for c in table.columns], joined[code].fill_null(0).name(code))


def snapshot_expr(
    events,
    config: Config,
    cutoffs: list,
    plan: FeaturePlan,
    profiles=None,
    with_label: bool = True,
    keep: Callable[[Any], Any] | None = None,
):
    """The snapshot as one Ibis expression: one row per eligible profile per cutoff.

    `keep(table)`: a predicate on `profile_id` and `cutoff_s` only (the training sample). It is
    applied to the event rows before they are aggregated, so a sampled-out (profile, cutoff)
    costs nothing, and it selects exactly the rows that filtering the result would.
    """
    ev = with_seconds(events)
    cuts = cutoff_table(cutoffs)
    joined = ev.join(cuts, ev._t < cuts.cutoff_s)
    if keep is not None:
        joined = joined.filter(keep(joined))
    grouped = _aggregate_features(joined, plan, config)
    table = grouped.filter(eligible_filter(grouped))
    table = table.mutate(
        trend_30d_vs_prev60d=(table.events_count_30d + 1) / (table._events_prev60d / 2.0 + 1)
    )
    if with_label:
        hits = goal_hits(events, config, cutoffs)
        joined = table.left_join(hits, ["profile_id", "cutoff_s"])
        # A left join keeps the right keys as `*_right`; drop them so a later join can't collide.
        table = joined.select(
            *[joined[c] for c in table.columns],
            label=label_from_hits(joined.goal_events, config.goal.outcome),
        )
    if profiles is not None and (
        plan.profile_numeric or plan.profile_categorical or plan.profile_dates
    ):
        prefixes = feature_prefixes(plan)
        attrs = [profiles.profile_id]
        for a in plan.profile_numeric:
            attrs.append(profiles[a].cast("float64").name(prefixes[("profile", a)]))
        for a in plan.profile_categorical:
            attrs.append(profiles[a].cast("string").name(prefixes[("profile", a)]))
        for a in plan.profile_dates:
            seconds = profiles[a].cast("timestamp").epoch_seconds().cast("int64")
            attrs.append(seconds.name(f"_date_{prefixes[('profile_date', a)]}"))
        table = table.left_join(profiles.select(attrs), "profile_id")
        for a in plan.profile_dates:
            p = prefixes[("profile_date", a)]
            table = table.mutate(
                **{f"profile_days_since_{p}": (table.cutoff_s - table[f"_date_{p}"]) / DAY}
            )
    columns = ["profile_id", "cutoff_s"] + [s.code for s in plan.specs]
    if with_label:
        columns.append("label")
    return table.select(columns)


def finish_frame(frame: pd.DataFrame, plan: FeaturePlan, with_label: bool = True) -> pd.DataFrame:
    """Engine output -> the snapshot frame contract (UTC cutoff, float64 numerics, categories).

    `frame` is the engine's fresh output and is changed in place (a copy of a million-row
    snapshot was a gigabyte more at the define_goal peak)."""
    cutoff = pd.to_datetime(frame.pop("cutoff_s"), unit="s", utc=True).astype("datetime64[ns, UTC]")
    with warnings.catch_warnings():
        # build_snapshots' frame holds one block per column (converted from Arrow column by
        # column, each freed as it went): pandas calls inserting into it "fragmented", and one
        # insert is all this is
        warnings.simplefilter("ignore", pd.errors.PerformanceWarning)
        frame.insert(1, "cutoff", cutoff)
    frame["profile_id"] = frame["profile_id"].astype(str)
    for spec in plan.specs:
        if spec.kind == "numeric":
            col = frame[spec.code].astype("float64")
            if (
                spec.code.endswith(tuple(f"_count_{w}d" for w in plan.windows))
                or "_sum_" in spec.code
                or "_distinct_" in spec.code
            ):
                col = col.fillna(0.0)
            frame[spec.code] = col
        else:
            levels = plan.profile_categorical.get(_profile_source(plan, spec.code), [])
            values = frame[spec.code].astype("object")
            known = values.isin(levels) | values.isna()
            values = values.where(known, "other")
            cats = levels + (["other"] if (~known).any() or "other" not in levels else [])
            frame[spec.code] = pd.Categorical(values, categories=list(dict.fromkeys(cats)))
    if with_label:
        frame["label"] = frame["label"].astype("int8")
    frame = frame.sort_values(["cutoff", "profile_id"], kind="stable").reset_index(drop=True)
    return frame


def _profile_source(plan: FeaturePlan, code: str) -> str:
    prefixes = feature_prefixes(plan)
    for a in plan.profile_categorical:
        if prefixes[("profile", a)] == code:
            return a
    return code


def sample_predicate(fraction: float, exempt_s: int, seed: int) -> Callable[[Any], Any]:
    """The training sample as a predicate on a table with `profile_id` and `cutoff_s`.

    A hash of (profile, cutoff, seed) keeps the same fraction of every (cutoff, label) stratum in
    expectation, deterministically, without a pass through pandas; rows at the exempt cutoff
    (validation, in epoch seconds) are always kept."""

    def keep(e):
        bucket = (e.profile_id.hash() + e.cutoff_s * 7919 + seed).abs() % 1_000_000
        return (bucket < int(fraction * 1_000_000)) | (e.cutoff_s == exempt_s)

    return keep


@dataclass(frozen=True)
class TrainingSample:
    """Keep at most `max_rows` snapshot rows: a deterministic hash sample stratified by
    (cutoff, label), the same fraction in every stratum, taken in the engine before pandas.

    `exempt_cutoff` (the validation snapshot) is never sampled: metrics use every profile.
    `rows`: the number of rows at the other cutoffs when already known (from `goal_counts`),
    which saves running the whole aggregation once just to count them.
    """

    max_rows: int
    rows: int | None = None
    exempt_cutoff: Any = None
    seed: int = 42


def build_snapshots(
    events,
    config: Config,
    cutoffs: list,
    plan: FeaturePlan | None = None,
    profiles=None,
    *,
    with_label: bool = True,
    sample: TrainingSample | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[pd.DataFrame, FeaturePlan]:
    """Snapshots at `cutoffs` as one pandas frame (profile_id, cutoff, features..., label),
    optionally sampled (`TrainingSample`), in profile partitions when memory asks for it."""
    if plan is None:
        plan = plan_features(events, config, profiles, before=max(cutoffs))
    keep = None  # the sampling predicate on (profile_id, cutoff_s)
    kept = 1.0  # the expected share of (profile, cutoff) groups it keeps
    if sample is not None:
        exempt = sample.exempt_cutoff
        exempt_s = int(to_day(exempt).timestamp()) if exempt is not None else -1
        total = sample.rows
        if total is None:
            full = snapshot_expr(events, config, cutoffs, plan, profiles, with_label)
            total = int(full.filter(full.cutoff_s != exempt_s).count().to_pyarrow().as_py())
        if total > sample.max_rows:
            fraction = sample.max_rows / total
            keep = sample_predicate(fraction, exempt_s, sample.seed)
            exempt_cuts = sum(int(to_day(c).timestamp()) == exempt_s for c in cutoffs)
            kept = (fraction * (len(cutoffs) - exempt_cuts) + exempt_cuts) / len(cutoffs)
            if progress:
                progress(
                    f"sampled {fraction:.1%} of {total:,} snapshot rows (stratified by cutoff and label)"
                )
    # Out of core: DuckDB cannot spill a wide grouped aggregate far enough to honour a small
    # memory_limit, so the same expression runs on disjoint slices of profiles, one at a time.
    parts = memory_partitions(events, config, cutoffs, plan, kept)
    if parts > 1 and progress:
        progress(
            f"building snapshots in {parts} profile partitions to stay within duckdb.memory_limit"
        )
    import pyarrow as pa

    tables = []
    for i in progress_bar(range(parts), "snapshots", parts, "partition"):
        # Slice the events (not the result), so each query's state holds only its profiles.
        sliced = (
            events if parts == 1 else events.filter(events.profile_id.hash().abs() % parts == i)
        )
        part = snapshot_expr(sliced, config, cutoffs, plan, profiles, with_label, keep)
        table = part.to_pyarrow()
        release_memory(events, config.duckdb.memory_limit)  # not kept under the frames
        tables.append(hold_on_disk(table) if i < parts - 1 else table)  # (under the next query)
        del table
    # The partitions joined in Arrow (no copy) and converted once, each column freed as it is
    # converted; not ibis' to_pandas, which turns every column holding a null (most features)
    # into Python objects and casts them back (10 s and gigabytes at 1M profiles), nor a
    # pandas concat of the partitions (a second copy of the snapshot). finish_frame gives the
    # columns their types either way.
    table = pa.concat_tables(tables) if parts > 1 else tables[0]
    tables.clear()
    frame = table.to_pandas(split_blocks=True, self_destruct=True)
    del table
    return finish_frame(frame, plan, with_label), plan


def build_training_snapshots(
    events,
    config: Config,
    cutoffs: CutoffPlan,
    counts: pd.DataFrame,
    plan: FeaturePlan,
    profiles=None,
    progress: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """The labelled snapshots (training cutoffs and validation), sampled to
    `training.max_rows` with the validation snapshot kept whole (`counts`: `counts_by_role`)."""
    validation_rows = int(counts.loc[counts["role"] == "validation", "eligible"].sum())
    training = config.training
    sample = TrainingSample(
        max_rows=max(training.max_rows - validation_rows, training.max_rows // 2),
        rows=int(counts.loc[counts["role"] == "training", "eligible"].sum()),
        exempt_cutoff=cutoffs.validation,
        seed=training.seed,
    )
    frame, _ = build_snapshots(
        events, config, cutoffs.labelled, plan, profiles, sample=sample, progress=progress
    )
    return frame


def memory_partitions(
    events, config: Config, cutoffs: list, plan: FeaturePlan, kept: float = 1.0
) -> int:
    """Profile partitions that keep the grouped state within `duckdb.memory_limit` (1 = one query).

    `kept`: the expected share of (profile, cutoff) groups the training sample keeps."""
    limit = memory_bytes(config.duckdb.memory_limit) if config.engine == "duckdb" else None
    if not limit:
        return 1
    profiles = int(events.profile_id.approx_nunique().to_pyarrow().as_py() or 0)
    # about 16 bytes of aggregate state per feature per (profile, cutoff), twice over (the
    # per-event-type rows and the features built from them), in half the limit (measured at
    # 1M profiles: a 3GB limit then peaks at 3.5 GB of RSS, a quarter only doubled the passes)
    state = profiles * len(cutoffs) * kept * (len(plan.specs) + 8) * 16 * 2
    return max(1, min(256, -(-int(state) // int(limit / 2))))
