"""Benchmark table: the CDNOW routes side by side, and the pipeline's stages at 100k/1M profiles.

Every figure is also printed as a ratio to one DuckDB scan of the same events, measured in the
same run (one plain `SELECT profile_id, <the snapshot's aggregates> ... WHERE timestamp < cutoff
GROUP BY profile_id` at the validation cutoff, see benchmarks/snapshots.py), so runs on a busy or
a quiet machine can be compared. The load average is printed beside every figure.

CDNOW (`examples/cdnow.yaml`, skipped when its data is not there): `--repeat` interleaved runs of

    five notebooks      `workbench run examples/cdnow.yaml` (papermill, one kernel, HTML report)
    library route       `python -c "workbench.run_pipeline('examples/cdnow.yaml')"` (same stages,
                        no notebooks), also a fresh process, so both include start-up and imports

with medians, the notebook route as a multiple of the library route, and peak RSS of the whole
process tree (kernel included). Samples (`--profiles`), each stage once:

    sample generation   workbench.ingest.sample.write_sample (fresh folder)
    ingest              workflow.prepare_data   (events.parquet, profiles, quality, event mix)
    snapshots           workflow.define_goal    (counts, features, training+validation+scoring snapshots)
    model comparison    workflow.compare        (logistic vs boosted vs recency, champion saved)
    scoring+factors     workflow.explain + workflow.score_and_segment
    workbench run       `workbench run config.yaml` (papermill, notebooks 01-05, HTML report)

`--make-run`: `make run` in a fresh `git clone` of HEAD, a newcomer's first command (venv,
runtime dependencies from PyPI through pip's cache, the sample run): seconds, `.venv` size.

Stages whose modules are not importable print "n/a". Peak RSS of the in-process stages is sampled
per stage; for `workbench run` it is the peak of the whole process tree (kernel included).

    .venv/bin/python benchmarks/run_all.py                         # CDNOW, then 100k and 1M
    .venv/bin/python benchmarks/run_all.py --profiles 1000000 --make-run  # every issue-16 target
    .venv/bin/python benchmarks/run_all.py --profiles 100000 --stages sample ingest snapshots
    .venv/bin/python benchmarks/run_all.py --no-cdnow --profiles 1000000 --stages run scan
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import OUT, gb, label, machine, measured, median, print_table  # noqa: E402

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


REPO = Path(__file__).resolve().parents[1]
CDNOW = REPO / "examples" / "cdnow.yaml"
LIBRARY_ROUTE = "import sys, workbench; workbench.run_pipeline(sys.argv[1], out=sys.argv[2], overrides=sys.argv[3:])"


def load() -> float:
    return os.getloadavg()[0]


def _tree_peak(proc: subprocess.Popen, interval: float = 0.1, timeline=None) -> tuple[int, float]:
    """Wait for `proc`; return (peak RSS of its process tree, seconds). `timeline`: a list that
    gets (unix time, tree RSS) samples."""
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
            if timeline is not None:
                timeline.append((time.time(), total))
        except psutil.Error:
            pass
        time.sleep(interval)
    return peak, time.perf_counter() - started


def notebook_peaks(run_dir: Path, timeline: list[tuple[float, int]]) -> dict[str, tuple]:
    """(seconds, peak RSS of the process tree) while each executed notebook ran (papermill's
    times), and before the first ("before 01": start-up, the goal check, data preparation) and
    after the last ("after 05": the landing page, the index, the exit)."""
    import nbformat

    peaks, spans = {}, []
    for path in sorted(run_dir.glob("[0-9][0-9]_*.ipynb")):
        meta = nbformat.read(path, as_version=4).metadata.get("papermill", {})
        try:
            start = dt.datetime.fromisoformat(meta["start_time"]).timestamp()
            end = dt.datetime.fromisoformat(meta["end_time"]).timestamp()
        except (KeyError, TypeError, ValueError):
            continue
        inside = [rss for t, rss in timeline if start <= t <= end]
        peaks[path.stem] = (end - start, max(inside) if inside else 0)
        spans.append((start, end))
    if spans and timeline:
        first, last = spans[0][0], spans[-1][1]
        before = [rss for t, rss in timeline if t < first]
        after = [rss for t, rss in timeline if t > last]
        peaks["before 01"] = (first - timeline[0][0], max(before, default=0))
        peaks["after the last"] = (timeline[-1][0] - last, max(after, default=0))
    return peaks


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


def timed_command(cmd: list[str], timeline=None) -> dict:
    """Run a command; its wall seconds, the peak RSS of its process tree, the load around it."""
    before = load()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out_lines: list[str] = []
    reader = threading.Thread(target=lambda: out_lines.extend(proc.stdout), daemon=True)
    reader.start()
    peak, seconds = _tree_peak(proc, timeline=timeline)
    reader.join()
    note = (
        ""
        if proc.returncode == 0
        else f"(exit {proc.returncode}: {''.join(out_lines[-3:]).strip()})"
    )
    return {"seconds": seconds, "peak": peak, "load": (before, load()), "note": note}


def cdnow_routes(config: Path, repeat: int, overrides: list[str]) -> list[dict]:
    """The five-notebook and the library route on CDNOW, interleaved, then one scan."""
    from workbench.run import Run

    root = OUT / "cdnow"
    shutil.rmtree(root, ignore_errors=True)
    exe = Path(sys.executable).parent
    sets = [a for o in overrides for a in ("--set", o)]
    routes = {
        "notebooks": lambda out: [
            str(exe / "workbench"),
            "run",
            str(config),
            "--out",
            str(out),
            *sets,
        ],
        "library": lambda out: [
            sys.executable,
            "-c",
            LIBRARY_ROUTE,
            str(config),
            str(out),
            *overrides,
        ],
    }
    rows = []
    print(f"\n== CDNOW ({config.name}), {repeat} interleaved runs per route ==", flush=True)
    for i in range(repeat):
        for route, command in routes.items():
            r = timed_command(command(root / f"{route}-{i}"))
            rows.append({"route": route, "rep": i, **r})
            print(
                f"  {route} #{i + 1}: {r['seconds']:.1f}s, {gb(r['peak'])}, "
                f"load {r['load'][0]:.1f}->{r['load'][1]:.1f} {r['note']}",
                flush=True,
            )
    latest = Run.latest(root / "library-0")
    if latest is not None:
        before = load()
        secs = single_scan(latest.path)
        rows.append(
            {
                "route": "scan",
                "rep": 0,
                "seconds": secs,
                "peak": 0,
                "load": (before, load()),
                "note": "",
            }
        )
    return rows


def report_cdnow(rows: list[dict]) -> dict:
    by = {}
    for r in rows:
        by.setdefault(r["route"], []).append(r)
    scan = by.get("scan", [{}])[0].get("seconds")
    lib = median([r["seconds"] for r in by.get("library", [])])
    table, figures = [], {}
    names = {
        "notebooks": "workbench run (five notebooks)",
        "library": "library route (run_pipeline)",
        "scan": "one DuckDB scan (plain SQL)",
    }
    for route in ("notebooks", "library", "scan"):
        runs = by.get(route, [])
        if not runs:
            continue
        secs = [r["seconds"] for r in runs]
        med = median(secs)
        figures[route] = med
        loads = [x for r in runs for x in r["load"]]
        table.append(
            {
                "route": names[route],
                "median s": f"{med:.2f}",
                "runs": " ".join(f"{x:.1f}" for x in secs),
                "peak RSS": gb(median([r["peak"] for r in runs])) if runs[0]["peak"] else "",
                "x library": f"{med / lib:.2f}x" if lib and route != "scan" else "",
                "x scan": f"{med / scan:.0f}x" if scan and route != "scan" else "",
                "load": f"{min(loads):.1f}-{max(loads):.1f}",
                "note": " ".join(r["note"] for r in runs if r["note"]),
            }
        )
    print()
    print_table(
        table, ["route", "median s", "runs", "peak RSS", "x library", "x scan", "load", "note"]
    )
    return figures


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
                "load": load(),
            }
        )
        shown = "n/a" if seconds is None else f"{seconds:.1f}s"
        print(f"  {NAMES.get(stage, stage)}: {shown} (load {load():.1f}) {note}", flush=True)

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
            shutil.rmtree(root / "reports", ignore_errors=True)
            timeline: list[tuple[float, int]] = []
            r = timed_command(cmd, timeline)
            record("run", r["seconds"], r["peak"], note=r["note"])
            notebooks = Run.latest(root / "reports")
            if notebooks is not None:  # per notebook, as run.json records them
                peaks = notebook_peaks(notebooks.path, timeline)
                outside = {k: peaks.pop(k) for k in ("before 01", "after the last") if k in peaks}
                if "before 01" in outside:
                    record("  before 01", *outside["before 01"], scanned=0)
                for nb in notebooks.record.get("notebooks", []):
                    peak = peaks.get(nb["name"], (None, None))[1]
                    record(f"  {nb['name']}", nb["seconds"], peak, scanned=0)
                if "after the last" in outside:
                    record("  after the last", *outside["after the last"], scanned=0)
    if "scan" in stages and (run_dir / "events.parquet").exists():
        with measured() as m:
            secs = single_scan(run_dir)
        record("scan", secs, m.peak_rss)
    return rows


def fresh_clone_make_run() -> dict:
    """`make run` in a fresh `git clone` of this repository's HEAD, as a newcomer runs it (the
    venv created, the runtime dependencies installed from PyPI through pip's cache, the sample
    run); its seconds, the size of the `.venv` it made, and the commit."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="workbench-clone-") as tmp:
        clone = Path(tmp) / "clone"
        subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
        before = load()
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
        started = time.perf_counter()
        done = subprocess.run(["make", "run"], cwd=clone, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        venv = sum(f.stat().st_size for f in (clone / ".venv").rglob("*") if f.is_file())
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:]
        raise SystemExit(f"fresh-clone make run failed: {tail}")
    return {"seconds": seconds, "venv": venv, "commit": commit, "load": max(before, load())}


def report_make_run(made: dict) -> None:
    print(
        f"\nfresh-clone `make run` (commit {made['commit']}): {made['seconds']:.1f} s, "
        f".venv {made['venv'] / 1e6:,.0f} MB (load {made['load']:.1f}; target < 120 s)"
    )


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
                "peak RSS": gb(r["peak"]) if r["peak"] else "",
                "x single scan": f"{secs / scan:.1f}x" if secs and scan else "",
                "load": f"{r['load']:.1f}",
                "note": r["note"],
            }
        )
    print()
    print_table(
        table,
        ["profiles", "stage", "seconds", "events/s", "peak RSS", "x single scan", "load", "note"],
    )
    print(f"\n{machine()}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profiles", type=int, nargs="*", default=[100_000, 1_000_000])
    ap.add_argument("--stages", nargs="+", default=STAGES + ["scan"], choices=STAGES + ["scan"])
    ap.add_argument("--memory-limit", help="duckdb.memory_limit for every stage, e.g. 4GB")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cdnow", type=Path, default=CDNOW, help="the CDNOW config (routes table)")
    ap.add_argument("--cdnow-events", help="the CDNOW events file, if not where the config says")
    ap.add_argument("--no-cdnow", action="store_true", help="skip the CDNOW routes")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved runs per CDNOW route")
    ap.add_argument(
        "--make-run", action="store_true", help="also time `make run` in a fresh clone (HEAD)"
    )
    ap.add_argument("--json", help="also write the rows to this file")
    args = ap.parse_args(argv)
    print(machine(), flush=True)
    out: dict = {}
    if not args.no_cdnow:
        from workbench.config import load_config

        overrides = (
            [f"events.path={Path(args.cdnow_events).resolve()}"] if args.cdnow_events else []
        )
        events = load_config(args.cdnow, overrides).events.path
        if events is not None and events.exists():
            out["cdnow"] = cdnow_routes(args.cdnow, args.repeat, overrides)
        else:
            print(f"\nCDNOW skipped: {events} not found (--cdnow-events PATH)")
    rows = []
    for p in args.profiles:
        rows += run_size(p, args.stages, args.seed, args.memory_limit)
    if args.make_run:
        out["make_run"] = fresh_clone_make_run()
    if "cdnow" in out:
        print(f"\nCDNOW, median of {args.repeat} interleaved runs per route:")
        report_cdnow(out["cdnow"])
    if rows:
        report(rows)
    if "make_run" in out:
        report_make_run(out["make_run"])
    out["sizes"] = rows
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
