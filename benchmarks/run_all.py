"""Benchmark table for the whole pipeline at 100k and 1M profiles (issue 6).

For each size: stage, seconds, events/s, peak RSS and the ratio to the single scan (one plain
DuckDB `SELECT profile_id, <the snapshot's aggregates> ... WHERE timestamp < cutoff GROUP BY
profile_id` at the validation cutoff, see benchmarks/snapshots.py). Stages:

    sample generation   workbench.ingest.sample.write_sample (fresh folder)
    ingest              workflow.prepare_data   (events.parquet, profiles, quality, event mix)
    snapshots           workflow.define_goal    (counts, features, training+validation+scoring snapshots)
    model comparison    workflow.compare        (logistic vs boosted vs recency, champion saved)
    scoring+factors     workflow.explain + workflow.score_and_segment
    workbench run       `workbench run config.yaml` (papermill, notebooks 01-05, HTML report)

Stages whose modules are not importable print "n/a". Peak RSS of the in-process stages is sampled
per stage; for `workbench run` it is the peak of the whole process tree (kernels included).

    .venv/bin/python benchmarks/run_all.py                                  # 100k and 1M
    .venv/bin/python benchmarks/run_all.py --profiles 100000 --stages sample ingest snapshots
"""

from __future__ import annotations

import argparse
import importlib
import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import OUT, gb, label, machine, measured, print_table  # noqa: E402

STAGES = ["sample", "ingest", "snapshots", "models", "scoring", "run"]
NAMES = {
    "sample": "sample generation",
    "ingest": "ingest",
    "snapshots": "snapshots (define_goal)",
    "models": "model comparison",
    "scoring": "scoring + factors + segments",
    "run": "workbench run (5 notebooks)",
    "scan": "single scan (1 snapshot, plain SQL)",
}


def _importable(*modules: str) -> bool:
    try:
        for m in modules:
            importlib.import_module(m)
        return True
    except Exception:  # noqa: BLE001 - any import problem means "not landed yet"
        return False


def _tree_peak(proc: subprocess.Popen, interval: float = 0.1) -> tuple[int, float]:
    """Wait for `proc`; return (peak RSS of its process tree, seconds)."""
    peak = 0
    started = time.perf_counter()
    root = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            procs = [root, *root.children(recursive=True)]
            total = 0
            for p in procs:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
            peak = max(peak, total)
        except psutil.Error:
            pass
        time.sleep(interval)
    return peak, time.perf_counter() - started


def single_scan(run_dir: Path) -> float:
    """Seconds of one plain GROUP BY with the snapshot's aggregates at the validation cutoff."""
    from snapshots import baseline

    from workbench.engine import connect, events_table, profiles_table
    from workbench.features import plan_features
    from workbench.goals import plan_cutoffs, resolve_as_of
    from workbench.run import Run

    run = Run.open(run_dir)
    config = run.config
    quality = run.read_json("quality")
    con = connect(config)
    events = events_table(con, run_dir / "events.parquet")
    profiles = profiles_table(con, run_dir / "profiles.parquet") if config.profiles else None
    as_of = resolve_as_of(config, None, quality["first_event"], quality["last_event"])
    cutoffs = plan_cutoffs(config, as_of, quality["first_event"])
    plan = plan_features(events, config, profiles, before=as_of)
    return baseline(run_dir, [cutoffs.validation], plan, config)["full"].seconds


def run_size(
    profiles: int, stages: list[str], seed: int = 0, memory_limit: str | None = None
) -> list[dict]:
    from workbench.config import load_config
    from workbench.run import Run

    root = OUT / f"runall-{label(profiles)}"
    data = root / "data"
    rows: list[dict] = []
    events = 0
    print(f"\n== {profiles:,} profiles ==", flush=True)

    def record(
        stage: str, seconds: float | None, peak: int | None, scanned: int | None = None, note=""
    ):
        rows.append(
            {
                "profiles": profiles,
                "stage": stage,
                "seconds": seconds,
                "peak": peak,
                "scanned": scanned if scanned is not None else events,
                "note": note,
            }
        )
        shown = "n/a" if seconds is None else f"{seconds:.1f}s"
        print(f"  {NAMES.get(stage, stage)}: {shown} {note}", flush=True)

    if "sample" in stages or not (data / "config.yaml").exists():
        from workbench.ingest.sample import write_sample

        shutil.rmtree(data, ignore_errors=True)
        with measured() as m:
            write_sample(data, profiles=profiles, seed=seed)
        record("sample", m.seconds, m.peak_rss, scanned=0)
    overrides = [f"duckdb.memory_limit={memory_limit}"] if memory_limit else None
    config = load_config(data / "config.yaml", overrides)
    previous = Run.latest(root / "runs")
    if "ingest" in stages or previous is None or not previous.has("events"):
        shutil.rmtree(root / "runs", ignore_errors=True)
        run = Run.create(root / "runs", config)
    else:
        run = previous
    run_dir = run.path
    from workbench import workflow

    def stage(name: str, fn, modules=()):
        if name not in stages:
            return
        if modules and not _importable(*modules):
            record(name, None, None, note="(module not available)")
            return
        with measured() as m:
            fn()
        record(name, m.seconds, m.peak_rss)

    stage("ingest", lambda: workflow.prepare_data(run))
    if (run_dir / "data_quality.json").exists():
        events = json.loads((run_dir / "data_quality.json").read_text())["rows_kept"]
        for r in rows:
            if r["stage"] == "ingest":
                r["scanned"] = events
    stage("snapshots", lambda: workflow.define_goal(run))
    stage("models", lambda: workflow.compare(run), ("workbench.modeling",))
    stage(
        "scoring",
        lambda: (workflow.explain(run), workflow.score_and_segment(run)),
        ("workbench.modeling", "workbench.factors", "workbench.scoring", "workbench.segments"),
    )
    if run.is_partial:  # published, so a later call with --stages can reuse it
        run.publish(succeeded=True)
        run_dir = run.path
    if "run" in stages:
        if not _importable("workbench.reporting", "papermill"):
            record("run", None, None, note="(reports/papermill not available)")
        else:
            exe = Path(sys.executable).parent / "workbench"
            cmd = [str(exe), "run", str(data / "config.yaml"), "--out", str(root / "reports")]
            if memory_limit:
                cmd += ["--set", f"duckdb.memory_limit={memory_limit}"]
            proc = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
            out_lines: list[str] = []
            reader = threading.Thread(target=lambda: out_lines.extend(proc.stdout), daemon=True)
            reader.start()
            peak, seconds = _tree_peak(proc)
            reader.join()
            ok = proc.returncode == 0
            record(
                "run",
                seconds,
                peak,
                note="" if ok else f"(exit {proc.returncode}: {''.join(out_lines[-3:]).strip()})",
            )
    if "scan" in stages and (run_dir / "events.parquet").exists():
        with measured() as m:
            secs = single_scan(run_dir)
        record("scan", secs, m.peak_rss)
    return rows


def report(rows: list[dict]) -> None:
    scans = {r["profiles"]: r["seconds"] for r in rows if r["stage"] == "scan" and r["seconds"]}
    table = []
    for r in rows:
        secs = r["seconds"]
        scan = scans.get(r["profiles"])
        table.append(
            {
                "profiles": f"{r['profiles']:,}",
                "stage": NAMES.get(r["stage"], r["stage"]),
                "seconds": "n/a" if secs is None else f"{secs:.1f}",
                "events/s": f"{r['scanned'] / secs / 1e6:.2f}M" if secs and r["scanned"] else "",
                "peak RSS": gb(r["peak"]) if r["peak"] else "n/a",
                "x single scan": f"{secs / scan:.1f}x" if secs and scan else "",
                "note": r["note"],
            }
        )
    print()
    print_table(
        table, ["profiles", "stage", "seconds", "events/s", "peak RSS", "x single scan", "note"]
    )
    print(f"\n{machine()}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profiles", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--stages", nargs="+", default=STAGES + ["scan"], choices=STAGES + ["scan"])
    ap.add_argument("--memory-limit", help="duckdb.memory_limit for every stage, e.g. 4GB")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="also write the rows to this file")
    args = ap.parse_args(argv)
    print(machine(), flush=True)
    rows = []
    for p in args.profiles:
        rows += run_size(p, args.stages, args.seed, args.memory_limit)
    report(rows)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
