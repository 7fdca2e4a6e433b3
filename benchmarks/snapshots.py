"""Benchmark: building every snapshot as the pipeline does, next to a plain DuckDB scan per snapshot.

For each sample size (written once into benchmarks/out/, git-ignored):

1. ingest: `workbench.ingest.ingest_events` (read, map, quarantine, dedupe -> events.parquet), timed alone.
2. workbench snapshots, the calls `workflow.define_goal` makes: goal counts per cutoff, the
   feature plan, the training + validation snapshots (`snapshots.build_snapshots`, one Ibis
   expression over all cutoffs, back to pandas) and the scoring snapshot at as_of.
3. baseline, in the same run on the same events.parquet: for each cutoff one hand-written
   `SELECT profile_id, <the same aggregates> FROM events WHERE timestamp < cutoff GROUP BY
   profile_id` issued straight to DuckDB (one scan per snapshot), and a bare
   `SELECT profile_id, count(*) ... GROUP BY profile_id` per cutoff.

Printed: seconds (median of --repeat), events/s, peak RSS per stage and the ratio
workbench / baseline. Target (issue 6): all snapshots for 1M profiles within 3x the single scan
per snapshot, under 8 GB peak.

    .venv/bin/python benchmarks/snapshots.py                       # 100k and 1M profiles
    .venv/bin/python benchmarks/snapshots.py --profiles 100000 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    OUT,
    ensure_sample,
    gb,
    label,
    lifetime_peak_rss,
    machine,
    measured,
    median,
    print_table,
)

DAY = 86_400


# ----------------------------------------------------------------------------- baseline SQL
def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(float(value))
    return "'" + str(value).replace("'", "''") + "'"


def _cond_sql(cond) -> str:
    """The benchmark's own translation of a config condition (trusted sample config only)."""
    col = _ident(cond.field)
    op, value = cond.op, cond.value
    if op == "exists":
        return f"{col} IS NOT NULL"
    if op == "not_exists":
        return f"{col} IS NULL"
    if op == "contains":
        return f"coalesce(contains(CAST({col} AS VARCHAR), {_lit(value)}), FALSE)"
    if op == "starts_with":
        return f"coalesce(starts_with(CAST({col} AS VARCHAR), {_lit(value)}), FALSE)"
    if op in ("in", "not_in"):
        items = ", ".join(_lit(v) for v in value)
        return (
            f"coalesce({col} IN ({items}), FALSE)"
            if op == "in"
            else f"coalesce({col} NOT IN ({items}), TRUE)"
        )
    sql_op = {"==": "=", "!=": "<>"}.get(op, op)
    return f"coalesce({col} {sql_op} {_lit(value)}, {'TRUE' if op == '!=' else 'FALSE'})"


def _conds_sql(conds, match: str) -> str:
    if not conds:
        return "TRUE"
    joiner = " AND " if match == "all" else " OR "
    return "(" + joiner.join(_cond_sql(c) for c in conds) + ")"


def baseline_sql(events_path: Path, cutoff_s: int, plan, config) -> str:
    """One scan, one GROUP BY: the same features as `snapshots.snapshot_expr` at one cutoff."""
    from workbench.column_names import slug
    from workbench.features import event_codes

    L = plan.lookback_days
    win = lambda w: f"age <= {w * DAY}"  # noqa: E731
    aggs = []
    kinds = [f"event_type = {_lit(t)}" for t in plan.event_types]
    kinds += [_conds_sql(ce.conditions, ce.match) for ce in plan.custom_events]
    for (prefix, _, _), kind in zip(event_codes(plan), kinds, strict=True):
        for w in plan.windows:
            aggs.append(
                f"count(*) FILTER (WHERE {kind} AND {win(w)}) AS {_ident(f'{prefix}_count_{w}d')}"
            )
        aggs.append(
            f"min(age) FILTER (WHERE {kind}) / {DAY} AS {_ident(prefix + '_days_since_last')}"
        )
        aggs.append(
            f"max(age) FILTER (WHERE {kind}) / {DAY} AS {_ident(prefix + '_days_since_first')}"
        )
    for f in plan.numeric_fields:
        v = f"CAST({_ident(f)} AS DOUBLE)"
        for w in sorted({30, L}):
            aggs.append(f"sum({v}) FILTER (WHERE {win(w)}) AS {_ident(f'{slug(f)}_sum_{w}d')}")
            aggs.append(f"avg({v}) FILTER (WHERE {win(w)}) AS {_ident(f'{slug(f)}_mean_{w}d')}")
    for f in plan.id_fields:
        aggs.append(
            f"count(DISTINCT {_ident(f)}) FILTER (WHERE {win(L)}) AS {_ident(f'{slug(f)}_distinct_{L}d')}"
        )
    aggs += [
        f"count(*) FILTER (WHERE {win(30)}) AS events_count_30d",
        f"count(*) FILTER (WHERE {win(L)}) AS events_count_{L}d",
        f"(count(*) FILTER (WHERE {win(30)}) + 1) / (count(*) FILTER (WHERE age > {30 * DAY} AND {win(90)}) / 2.0 + 1) AS trend_30d_vs_prev60d",
        f"count(DISTINCT t // {DAY}) FILTER (WHERE {win(L)}) AS active_days_{L}d",
        f"min(age) / {DAY} AS days_since_last_event",
        f"max(age) / {DAY} AS days_since_first_event",
    ]
    having = []
    elig = config.eligibility
    if elig.active_within_days:
        having.append(f"count(*) FILTER (WHERE {win(elig.active_within_days)}) > 0")
    if elig.conditions:
        span = f" AND {win(elig.active_within_days)}" if elig.active_within_days else ""
        having.append(f"count(*) FILTER (WHERE {_conds_sql(elig.conditions, 'all')}{span}) > 0")
    return (
        f"SELECT profile_id, {', '.join(aggs)}\n"
        f"FROM (SELECT *, CAST(epoch(timestamp) AS BIGINT) AS t, {cutoff_s} - CAST(epoch(timestamp) AS BIGINT) AS age\n"
        f"      FROM read_parquet('{events_path}') WHERE timestamp < to_timestamp({cutoff_s})::TIMESTAMP)\n"
        f"GROUP BY profile_id" + (f" HAVING {' AND '.join(having)}" if having else "")
    )


def count_sql(events_path: Path, cutoff_s: int) -> str:
    return (
        f"SELECT profile_id, count(*) AS n FROM read_parquet('{events_path}') "
        f"WHERE timestamp < to_timestamp({cutoff_s})::TIMESTAMP GROUP BY profile_id"
    )


def duckdb_raw(threads: int | None = None):
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET preserve_insertion_order = false")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    return con


# ----------------------------------------------------------------------------- one size
def prepare(profiles: int, seed: int = 0, memory_limit: str | None = None, reuse: bool = False):
    """Sample (once) and a fresh ingest into benchmarks/out/run-<N>; returns what the stages need."""
    from workbench.config import load_config
    from workbench.ingest import ingest_events
    from workbench.run import Run

    config_path, gen = ensure_sample(profiles, seed)
    config = load_config(
        config_path, [f"duckdb.memory_limit={memory_limit}"] if memory_limit else None
    )
    run = OUT / f"run-{label(profiles)}"
    if reuse and (run / "data_quality.json").exists():
        from common import Measure

        return config, run, json.loads((run / "data_quality.json").read_text()), gen, Measure()
    with measured() as ingest:
        quality = ingest_events(config, Run(run).ingest_targets())
    (run / "data_quality.json").write_text(json.dumps(quality, default=str))
    return config, run, quality, gen, ingest


def workbench_snapshots(config, run: Path, quality: dict) -> dict:
    """The calls `workflow.define_goal` makes, each timed; returns measures and the plan."""
    from workbench.engine import connect, events_table, profiles_table
    from workbench.features import plan_features
    from workbench.goals import goal_counts, plan_cutoffs, resolve_as_of
    from workbench.snapshots import build_snapshots
    from workbench.training_sample import TrainingSample

    con = connect(config)
    events = events_table(con, run / "events.parquet")
    profiles = profiles_table(con, run / "profiles.parquet") if config.profiles else None
    as_of = resolve_as_of(config, None, quality["first_event"], quality["last_event"])
    cplan = plan_cutoffs(config, as_of, quality["first_event"])
    out: dict = {"as_of": as_of, "cutoffs": cplan.labelled}
    with measured() as m:
        counts = goal_counts(events, config, cplan.labelled)
    out["counts"] = m
    with measured() as m:
        fplan = plan_features(events, config, profiles, before=as_of)
    out["plan"] = m
    out["feature_plan"] = fplan
    validation_rows = int(counts.loc[counts["cutoff"] == cplan.validation, "eligible"].sum())
    budget = max(config.training.max_rows - validation_rows, config.training.max_rows // 2)
    with measured() as m:
        frame, _ = build_snapshots(
            events,
            config,
            cplan.labelled,
            fplan,
            profiles,
            with_label=True,
            sample=TrainingSample(
                budget, exempt_cutoff=cplan.validation, seed=config.training.seed
            ),
        )
    m.extra = {
        "rows": len(frame),
        "eligible": int(counts["eligible"].sum()),
        "features": len(fplan.specs),
    }
    out["labelled"] = m
    del frame
    with measured() as m:
        scoring, _ = build_snapshots(events, config, [as_of], fplan, profiles, with_label=False)
    m.extra = {"rows": len(scoring)}
    out["scoring"] = m
    return out


def baseline(run: Path, cutoffs, plan, config, threads=None) -> dict:
    from workbench.goals import to_day

    con = duckdb_raw(threads or config.duckdb.threads)
    path = run / "events.parquet"
    full, bare = [], []
    rows = 0
    with measured() as mf:
        for c in cutoffs:
            cs = int(to_day(c).timestamp())
            with measured() as m:
                table = con.execute(baseline_sql(path, cs, plan, config)).to_arrow_table()
            rows += table.num_rows
            full.append(m.seconds)
    mf.extra = {"rows": rows, "per_cutoff": full}
    with measured() as mb:
        for c in cutoffs:
            cs = int(to_day(c).timestamp())
            with measured() as m:
                con.execute(count_sql(path, cs)).to_arrow_table()
            bare.append(m.seconds)
    mb.extra = {"per_cutoff": bare}
    con.close()
    return {"full": mf, "count": mb}


def run_size(profiles: int, repeat: int, seed: int = 0, memory_limit=None, reuse=False) -> dict:
    print(f"\n== {profiles:,} profiles ==", flush=True)
    config, run, quality, gen, ingest = prepare(profiles, seed, memory_limit, reuse)
    events = quality["rows_kept"]
    print(f"events {events:,}; ingest {ingest.seconds:.1f}s peak {gb(ingest.peak_rss)}", flush=True)
    trials = []
    for i in range(repeat):
        wb = workbench_snapshots(config, run, quality)
        base_l = baseline(run, wb["cutoffs"], wb["feature_plan"], config)
        base_s = baseline(run, [wb["as_of"]], wb["feature_plan"], config)
        trials.append((wb, base_l, base_s))
        print(
            f"  trial {i + 1}: labelled snapshots {wb['labelled'].seconds:.1f}s vs scan "
            f"{base_l['full'].seconds:.1f}s (count-only {base_l['count'].seconds:.1f}s); "
            f"scoring {wb['scoring'].seconds:.1f}s vs {base_s['full'].seconds:.1f}s",
            flush=True,
        )
    med = lambda f: median([f(t) for t in trials])  # noqa: E731
    peak = lambda f: max(f(t) for t in trials)  # noqa: E731
    n_cut = len(trials[0][0]["cutoffs"])
    wb_all = med(lambda t: sum(t[0][k].seconds for k in ("counts", "plan", "labelled", "scoring")))
    base_all = med(lambda t: t[1]["full"].seconds + t[2]["full"].seconds)
    result = {
        "profiles": profiles,
        "events": events,
        "cutoffs": n_cut,
        "features": trials[0][0]["labelled"].extra["features"],
        "snapshot_rows": trials[0][0]["labelled"].extra["rows"],
        "eligible_rows": trials[0][0]["labelled"].extra["eligible"],
        "sample_generation_s": gen.seconds if gen else None,
        "ingest_s": ingest.seconds,
        "ingest_peak": ingest.peak_rss,
        "counts_s": med(lambda t: t[0]["counts"].seconds),
        "plan_s": med(lambda t: t[0]["plan"].seconds),
        "labelled_s": med(lambda t: t[0]["labelled"].seconds),
        "labelled_peak": peak(lambda t: t[0]["labelled"].peak_rss),
        "scoring_s": med(lambda t: t[0]["scoring"].seconds),
        "scoring_peak": peak(lambda t: t[0]["scoring"].peak_rss),
        "define_goal_s": wb_all,
        "scan_labelled_s": med(lambda t: t[1]["full"].seconds),
        "scan_labelled_peak": peak(lambda t: t[1]["full"].peak_rss),
        "scan_all_s": base_all,
        "count_scan_labelled_s": med(lambda t: t[1]["count"].seconds),
        "repeat": repeat,
    }
    result["ratio_labelled"] = result["labelled_s"] / result["scan_labelled_s"]
    result["ratio_define_goal"] = wb_all / base_all
    result["ratio_vs_count_scan"] = result["labelled_s"] / result["count_scan_labelled_s"]
    return result


def report(results: list[dict]) -> None:
    rows = []
    for r in results:
        ev = r["events"]
        n = r["cutoffs"]

        def add(stage, secs, peak, ratio="", scanned=ev, r=r):
            rows.append(
                {
                    "profiles": f"{r['profiles']:,}",
                    "stage": stage,
                    "seconds": f"{secs:.2f}",
                    "events/s": f"{scanned / secs / 1e6:.1f}M" if secs else "",
                    "peak RSS": gb(peak) if peak else "",
                    "ratio": ratio,
                }
            )

        add("ingest (events.parquet)", r["ingest_s"], r["ingest_peak"])
        add(
            f"workbench: {n} training+validation snapshots",
            r["labelled_s"],
            r["labelled_peak"],
            f"{r['ratio_labelled']:.2f}x",
            ev * n,
        )
        add(
            f"baseline: {n} x one GROUP BY scan, same features",
            r["scan_labelled_s"],
            r["scan_labelled_peak"],
            "1.00x",
            ev * n,
        )
        add(
            f"baseline: {n} x bare COUNT(*) GROUP BY",
            r["count_scan_labelled_s"],
            0,
            f"{r['scan_labelled_s'] / r['count_scan_labelled_s']:.2f}x of it",
            ev * n,
        )
        add("workbench: scoring snapshot (as_of)", r["scoring_s"], r["scoring_peak"], "", ev)
        add(
            "workbench: define_goal total (counts+plan+all)",
            r["define_goal_s"],
            0,
            f"{r['ratio_define_goal']:.2f}x",
            ev * (n + 1),
        )
    print()
    print_table(rows, ["profiles", "stage", "seconds", "events/s", "peak RSS", "ratio"])
    for r in results:
        print(
            f"{r['profiles']:,} profiles: {r['events']:,} events, {r['cutoffs']} labelled cutoffs, "
            f"{r['features']} features, {r['snapshot_rows']:,} snapshot rows kept of {r['eligible_rows']:,} eligible; "
            f"medians of {r['repeat']}"
        )
    print(f"process peak RSS {gb(lifetime_peak_rss())}; {machine()}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profiles", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument(
        "--repeat", type=int, default=1, help="repeat the snapshot + scan part; medians"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--memory-limit", help="duckdb.memory_limit for the workbench run, e.g. 4GB")
    ap.add_argument(
        "--reuse-ingest", action="store_true", help="reuse benchmarks/out/run-<N> if present"
    )
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args(argv)
    print(machine(), flush=True)
    results = [
        run_size(p, args.repeat, args.seed, args.memory_limit, args.reuse_ingest)
        for p in args.profiles
    ]
    report(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
