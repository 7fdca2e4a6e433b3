"""Snapshots: one row per eligible profile per cutoff, with point-in-time features and the label.

For a cutoff `c`, features use only events with `timestamp < c` (and profile attributes); the
label uses only the outcome window `[c, c + window_days)`. Everything is one set-based Ibis
expression (events range-joined to the cutoffs, then grouped by profile and cutoff), so any Ibis
backend runs it; `docs/SCALE.md` explains the two-stage aggregation and the out-of-core partitions.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
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
    fills_zero,
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
from workbench.stable_sums import stabilise_sums
from workbench.training_sample import TrainingSample, never_sampled, sample_keep

if TYPE_CHECKING:
    from workbench.config import Config
    from workbench.goals import CutoffPlan


def events_before(ev, cutoffs: list, keep: Callable[[Any], Any] | None = None):
    """Each event row (with `_t`) joined to every cutoff it precedes: the rows a snapshot
    aggregates. With `keep` (the training sample, a predicate on profile_id and cutoff_s) the
    events join only the kept (profile, cutoff) pairs, on the profile: a sampled-out pair costs
    no joined row at all, where filtering the range join would build every row first."""
    cuts = cutoff_table(cutoffs)
    if keep is None:
        return ev.join(cuts, ev._t < cuts.cutoff_s)
    pairs = ev.select("profile_id").distinct().cross_join(cuts)
    pairs = pairs.filter(keep(pairs))
    joined = ev.join(pairs, [ev.profile_id == pairs.profile_id, ev._t < pairs.cutoff_s])
    return joined.drop("profile_id_right")


def _per_kind(joined, plan: FeaturePlan, config: Config):
    """First stage: per (profile, cutoff, event type, custom-event and eligibility flags) a
    handful of window counts, sums and ages. A profile has a few kinds, not thousands of
    events, so the features built from these rows are cheap."""
    L = plan.lookback_days
    elig = config.eligibility
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
    windows = sorted(set(plan.windows) | {30, 90, L})
    aggs: dict[str, Any] = {f"_n{w}": rows.count(where=rows._age <= w * DAY) for w in windows}
    aggs["_n"] = rows.count()
    aggs["_prev60"] = rows.count(where=(rows._age > 30 * DAY) & (rows._age <= 90 * DAY))
    aggs["_last"] = rows._age.min()
    aggs["_first"] = rows._age.max()
    if elig.active_within_days:
        aggs["_recent"] = rows.count(where=rows._age <= elig.active_within_days * DAY)
    for j, f in enumerate(plan.numeric_fields):
        value = rows[f].cast("float64")
        for w in sorted({30, L}):
            aggs[f"_s{j}_{w}"] = value.sum(where=rows._age <= w * DAY)
            aggs[f"_k{j}_{w}"] = value.count(where=rows._age <= w * DAY)
        aggs[f"_s{j}_ever"], aggs[f"_k{j}_ever"] = value.sum(), value.count()
    if "_first_of_day" in rows.columns:  # each day counted at its first event (no ids)
        aggs["_days"] = rows.count(where=rows._first_of_day & (rows._age <= L * DAY))
    if "_gap" in rows.columns:  # the goal event's gaps between distinct days (with_goal_gaps)
        new_day = rows._gap > 0
        aggs["_gn"] = rows.count(where=new_day)
        aggs["_gsum"] = rows._gap.sum(where=new_day)
        aggs["_gsq"] = (rows._gap * rows._gap).sum(where=new_day)
        aggs["_glt"] = rows._t.max(where=new_day)
        aggs["_glast"] = rows._gap.argmax(rows._t, where=new_day)
    return rows, rows.group_by(["profile_id", "cutoff_s", *keyed]).aggregate(**aggs)


def _features_from_kinds(k, plan: FeaturePlan, config: Config) -> dict[str, Any]:
    """Second stage: each feature as a conditional aggregate over the per-kind rows `k`."""
    L = plan.lookback_days
    elig = config.eligibility
    prefixes = feature_prefixes(plan)
    is_kind = [k._et == t for t in plan.event_types]
    is_kind += [k[f"_ce{i}"] for i in range(len(plan.custom_events))]
    aggs: dict[str, Any] = {}
    for (prefix, _, _), match in zip(event_codes(plan), is_kind, strict=True):
        for w in plan.windows:
            aggs[f"{prefix}_count_{w}d"] = k[f"_n{w}"].sum(where=match).fill_null(0)
        aggs[f"{prefix}_count_ever"] = k._n.sum(where=match).fill_null(0)
        aggs[f"{prefix}_days_since_last"] = k._last.min(where=match) / DAY
        aggs[f"{prefix}_days_since_first"] = k._first.max(where=match) / DAY
    for j, f in enumerate(plan.numeric_fields):
        prefix = prefixes[("numeric", f)]
        for w, suffix in [*((w, f"{w}d") for w in sorted({30, L})), ("ever", "ever")]:
            total, count = k[f"_s{j}_{w}"].sum(), k[f"_k{j}_{w}"].sum()
            aggs[f"{prefix}_sum_{suffix}"] = total
            aggs[f"{prefix}_mean_{suffix}"] = (count > 0).ifelse(
                total / count.cast("float64"), ibis.null().cast("float64")
            )
    if plan.goal_prefix is not None:
        match = dict(zip([c[0] for c in event_codes(plan)], is_kind, strict=True))[plan.goal_prefix]
        for c in ("_gn", "_gsum", "_gsq"):
            aggs[c] = k[c].sum(where=match).fill_null(0)
        aggs["_glast"] = k._glast.argmax(k._glt, where=match)
    if "_days" in k.columns:
        aggs[f"active_days_{L}d"] = k._days.sum()
    aggs["events_count_30d"] = k._n30.sum()
    aggs[f"events_count_{L}d"] = k[f"_n{L}"].sum()
    aggs["events_count_ever"] = k._n.sum()
    aggs["_events_prev60d"] = k._prev60.sum()
    aggs[RECENCY_FEATURE] = k._last.min() / DAY
    aggs["days_since_first_event"] = k._first.max() / DAY
    if elig.active_within_days:
        aggs["_recent_events"] = k._recent.sum()
    if elig.conditions:
        counted = k._recent if elig.active_within_days else k._n
        aggs["_eligible_events"] = counted.sum(where=k._elig).fill_null(0)
    return aggs


def _aggregate_features(joined, plan: FeaturePlan, config: Config):
    """Every event feature and eligibility count per (profile_id, cutoff_s), from `joined`
    (events strictly before each cutoff, one row per event and cutoff).

    Two aggregations instead of one wide one, because ~80 conditional aggregates over every
    event row were most of the snapshot time (`_per_kind`, then `_features_from_kinds`), and
    the distinct counts (ids, active days), which do not add up across kinds, in their own
    aggregation over the lookback's rows: a second pass over the events joined to every cutoff.
    Without ids to count, active days are counted at each day's first event instead
    (`with_first_of_day`) and the second pass is not made. The values are those of the direct
    conditional aggregates (counts and ages exactly; means as sum / count).
    """
    L = plan.lookback_days
    prefixes = feature_prefixes(plan)
    rows, kinds = _per_kind(joined, plan, config)
    both = kinds.group_by(["profile_id", "cutoff_s"]).aggregate(
        **_features_from_kinds(kinds, plan, config)
    )
    recent = rows.filter(rows._age <= L * DAY)
    lists = [f for f in plan.id_fields if recent[f].type().is_array()]
    distinct = {
        f"{prefixes[('distinct', f)]}_distinct_{L}d": recent[f].nunique()
        for f in plan.id_fields
        if f not in lists
    }
    if "_first_of_day" not in rows.columns:
        distinct[f"active_days_{L}d"] = (recent._t // DAY).nunique()
    if distinct:
        counts = recent.group_by(["profile_id", "cutoff_s"]).aggregate(**distinct)
        joined = both.left_join(counts, ["profile_id", "cutoff_s"])
        both = joined.select(
            *[joined[c] for c in both.columns],
            **{c: joined[c].fill_null(0) for c in distinct},
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


def with_first_of_day(ev):
    """Events with `_first_of_day`: true on a profile's first event of each day (one of them
    when several share the first time). Cutoffs and the lookback start at midnight, so a day's
    events are all before a cutoff or none, all in the lookback or none: the flags inside a
    window count its distinct days exactly, summed over any split of the rows. Used when the
    plan has no ids to count distinct (`snapshot_expr`): then it saves the second pass over the
    events joined to every cutoff (CDNOW: 0.84 -> 0.71 operator seconds); with ids that pass is
    made anyway, and at 1M profiles this window over every event cost 0.5 GB and 8 s more."""
    day = ev._t // DAY
    previous = day.lag().over(ibis.window(group_by=ev.profile_id, order_by=ev._t))
    return ev.mutate(_first_of_day=previous.isnull() | (previous != day))


def with_goal_gaps(ev, plan: FeaturePlan):
    """Events with `_gap`: for a goal event, the days since the previous one (0 on the same
    day), null for other events. A gap looks back only, so every feature made of gaps depends
    on events before the cutoff only; the gaps above 0 are those between the distinct days the
    goal event happened on, which the aggregation sums (`_per_kind`)."""
    goal = conditions_expr(ev, plan.goal_conditions, plan.goal_match, "goal.conditions")
    ev = ev.mutate(_goal=goal.fill_null(False))
    day = ev._t // DAY
    previous = day.lag().over(ibis.window(group_by=[ev.profile_id, ev._goal], order_by=ev._t))
    return ev.mutate(_gap=ev._goal.ifelse((day - previous).cast("float64"), ibis.null("float64")))


def goal_timing(table, plan: FeaturePlan) -> dict[str, Any]:
    """The goal event's timing from its gaps (`with_goal_gaps`): days with it ever, a rate per
    30 days of history, the mean and the last gap between those days, their irregularity
    (coefficient of variation), how overdue the next one is (days since the last / mean gap)
    and a trend (the last `short` days against the rest of the lookback, as rates)."""
    p, L = plan.goal_prefix, plan.lookback_days
    null = ibis.null().cast("float64")
    n = table._gn.cast("float64")
    mean = (table._gn > 0).ifelse(table._gsum / n, null)
    sd = (table._gsq / n - mean * mean).clip(lower=0).sqrt()
    short = max((w for w in plan.windows if w < L), default=L)
    recent = table[f"{p}_count_{short}d"]
    rest = (table[f"{p}_count_{L}d"] - recent) * (short / (L - short) if short < L else 1.0)
    days_ever = (table[f"{p}_count_ever"] > 0).cast("float64") + n
    return {
        f"{p}_days_ever": days_ever,
        f"{p}_rate_30d": 30.0 * days_ever / ibis.greatest(table.days_since_first_event, 30.0),
        f"{p}_gap_mean": mean,
        f"{p}_gap_last": table._glast,
        f"{p}_gap_cv": (table._gn >= 2).ifelse((mean > 0).ifelse(sd / mean, 0.0), null),
        f"{p}_overdue": (mean > 0).ifelse(table[f"{p}_days_since_last"] / mean, null),
        f"{p}_trend": (recent + 1.0) / (rest + 1.0),
    }


def _with_profile_attributes(table, profiles, plan: FeaturePlan):
    """Profile attributes: numbers as is, text as categories, dates as days since the cutoff."""
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
    return table


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

    `keep(table)`: a predicate on `profile_id` and `cutoff_s` only (the training sample). The
    events are joined to the kept (profile, cutoff) pairs only (`events_before`), so a
    sampled-out pair costs nothing, and it selects exactly the rows that filtering the result
    would.
    """
    ev = with_seconds(events)
    if not plan.id_fields:  # active days without a second pass (with_first_of_day)
        ev = with_first_of_day(ev)
    if plan.goal_prefix is not None:
        ev = with_goal_gaps(ev, plan)
    grouped = _aggregate_features(events_before(ev, cutoffs, keep), plan, config)
    table = grouped.filter(eligible_filter(grouped))
    table = table.mutate(
        trend_30d_vs_prev60d=(table.events_count_30d + 1) / (table._events_prev60d / 2.0 + 1)
    )
    if plan.goal_prefix is not None:
        table = table.mutate(**goal_timing(table, plan))
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
        table = _with_profile_attributes(table, profiles, plan)
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
            if fills_zero(spec.code, plan):
                col = col.fillna(0.0)
            frame[spec.code] = col
        else:
            levels = plan.profile_categorical.get(_profile_source(plan, spec.code), [])
            values = frame[spec.code].astype("object")
            known = values.isin(levels) | values.isna()
            values = values.where(known, "other")
            cats = levels + (["other"] if (~known).any() or "other" not in levels else [])
            frame[spec.code] = pd.Categorical(values, categories=list(dict.fromkeys(cats)))
    stabilise_sums(frame, plan)  # the same features whatever order the engine added them in
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
    whole: list | None = None,
) -> tuple[pd.DataFrame, FeaturePlan]:
    """Snapshots at `cutoffs` as one pandas frame (profile_id, cutoff, features..., label),
    optionally sampled (`TrainingSample`; the `whole` cutoffs never are), in profile
    partitions when memory asks for it."""
    if plan is None:
        plan = plan_features(events, config, profiles, before=max(cutoffs))
    keep, kept = None, 1.0  # the sampling predicate, the share of (profile, cutoff) it keeps

    def count_rows(exempt_s: list[int]) -> int:
        full = snapshot_expr(events, config, cutoffs, plan, profiles, with_label)
        return int(full.filter(~full.cutoff_s.isin(exempt_s)).count().to_pyarrow().as_py())

    if sample is not None:
        keep, kept = sample_keep(sample, count_rows, cutoffs, progress)
    if keep is not None and whole:
        keep = never_sampled(keep, [int(to_day(c).timestamp()) for c in whole])
        kept = min(1.0, kept + len(whole) / len(cutoffs))
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


def build_goal_snapshots(
    events,
    config: Config,
    cutoffs: CutoffPlan,
    counts: pd.DataFrame,
    plan: FeaturePlan,
    profiles=None,
    progress: Callable[[str], None] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(labelled, scoring): the snapshots at every training cutoff and validation origin, and
    the scoring snapshot at `as_of`, in one query (`counts`: `counts_by_role`).

    The models fit `training.fit_rows` rows each, so the training cutoffs keep twice that (the
    same share of every cutoff and label); the origins are kept whole unless they alone pass
    `training.max_rows`; the scoring date is never sampled and its label is dropped (its
    outcome window is the future)."""
    t = config.training
    labelled = counts[counts["role"] != "scoring"]
    at_origin = labelled["role"] == "validation"
    origin_rows = int(labelled.loc[at_origin, "eligible"].sum())
    training_budget = min(2 * t.fit_rows, max(t.max_rows - origin_rows, t.max_rows // 2))
    exempt_budget = max(t.max_rows - training_budget, t.max_rows // 2)
    sample = TrainingSample(
        max_rows=training_budget,
        rows=int(labelled.loc[~at_origin, "eligible"].sum()),
        exempt_cutoff=list(cutoffs.origins),
        seed=t.seed,
        exempt_max_rows=exempt_budget,
        exempt_rows=origin_rows,
    )
    when = [*cutoffs.labelled, cutoffs.as_of]
    frame, _ = build_snapshots(
        events,
        config,
        when,
        plan,
        profiles,
        sample=sample,
        progress=progress,
        whole=[cutoffs.as_of],
    )
    scoring = (frame["cutoff"] == pd.Timestamp(cutoffs.as_of, tz="UTC")).to_numpy()
    labelled_rows = frame.loc[~scoring].reset_index(drop=True)
    return labelled_rows, frame.loc[scoring].drop(columns="label").reset_index(drop=True)


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
