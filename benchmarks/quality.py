"""Scores you can trust on real data (issue 11): a backtest, then what happened.

For each log, `workbench backtest CONFIG --at DATE` runs end to end in a fresh process (wall
and CPU seconds: user + sys of the process and its children, steadier than wall time on a
shared machine). From its run folder it prints the fold ROC AUCs (newest origin first), the
reported ROC AUC against the one realised on what happened after DATE (and the gap every
candidate rule for the reported figure would have had), expected against actual conversions
of the *scored* population overall and per bucket, the share of scored profiles outside the
training range per feature (with PSI), and how many profiles get a factor that contradicts the
goal's direction: per feature as the factors used to be worded, and as the scores word them.

    .venv/bin/python benchmarks/quality.py                         # CDNOW (../shared/datasets/cdnow)
    .venv/bin/python benchmarks/quality.py --logs cdnow my/retail.yaml:2011-11-09 --repeat 3
    .venv/bin/python benchmarks/quality.py --checkout ../other-clone   # another checkout's figures
    .venv/bin/python benchmarks/quality.py --seeds 42 1 2 3 4 5 6      # the spread over fit samples

`--seeds` runs one backtest per `training.seed` (which draws every fit's sample of rows) and
prints the median and range of the realised ROC AUC, the gap and expected against actual:
a change that moves a figure by less than that range has not shown it helps.

A log is `cdnow` (examples/cdnow.yaml as of 1998-03-01) or `CONFIG.yaml:DATE` for any purchase
log or clickstream you have; nothing is downloaded. Targets (CDNOW, 90-day purchase as of
1998-03-01): realised ROC AUC >= 0.825, |reported - realised| <= 0.02, expected within 5% of
actual overall and within x1.5 per bucket, no direction-contradicting factor.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGETS = {"realised": 0.825, "gap": 0.02, "overall": 0.05, "bucket": 1.5}


def parse_log(text: str, checkout: Path = REPO) -> tuple[str, Path, str]:
    """(name, config, as-of date) from `cdnow` or `CONFIG.yaml:DATE`. `cdnow` is the measured
    checkout's own examples/cdnow.yaml (the same log and goal; older checkouts know fewer keys)."""
    if text == "cdnow":
        return "cdnow", checkout / "examples" / "cdnow.yaml", "1998-03-01"
    config, _, at = text.rpartition(":")
    if not config or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", at):
        raise SystemExit(f"--logs {text!r}: expected cdnow or CONFIG.yaml:YYYY-MM-DD")
    return Path(config).stem, Path(config).resolve(), at


def run_backtest(checkout: Path, config: Path, at: str, out: Path, sets: list[str]):
    """(wall seconds, CPU seconds) of one `workbench backtest` in a fresh process."""
    env = {**os.environ, "PYTHONPATH": str(checkout), "WORKBENCH_PROGRESS": "0"}
    cmd = [sys.executable, "-m", "workbench.cli", "backtest", str(config), "--at", at]
    # --json: the run folder for the figures (every checkout since issue 12 prints words
    # without it; older ones, such as the code before issue 11, print JSON and know no --json)
    cli = (checkout / "workbench" / "cli.py").read_text()
    cmd += ["--json"] if '"--json"' in cli else []
    cmd += ["--out", str(out), *sum((["--set", s] for s in sets), [])]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=checkout, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"backtest failed ({done.returncode}): {done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, Path(json.loads(done.stdout)["run_dir"])


# ----------------------------------------------------------------------------- in the checkout
def _direction(code: str, goal: str) -> int:
    """+1: more of it is more goal activity; -1: more of it is less (days since the last one).
    From the feature's name alone, so any checkout's features are judged alike."""
    if code in ("days_since_last_event", f"{goal}_days_since_last"):
        return -1
    pattern = (
        rf"({goal}_count_\w+|events_count_\w+|active_days_\w+|{goal}_days_ever|{goal}_rate_30d)"
    )
    return 1 if re.fullmatch(pattern, code) else 0


def per_feature_contradictions(run: Path) -> int:
    """Profiles whose per-feature factors (3 raising + 1 lowering, worded as before issue 11)
    say less goal activity than the scored median raises the score, or more lowers it."""
    import numpy as np
    import pandas as pd
    import yaml

    from workbench.factors import _top_indices
    from workbench.modeling import load_model

    model = load_model(run / "model")
    frame = pd.read_parquet(run / "scoring_snapshot.parquet")
    config = yaml.safe_load((run / "config.yaml").read_text())
    goal = str(config["goal"]["conditions"][0].get("value", "")).lower()
    outcome = -1 if config["goal"].get("outcome") == "does_not_occur" else 1
    specs = model.feature_specs_
    X = frame[[s.code for s in specs]]
    C = model.contributions(X)[[s.code for s in specs]].to_numpy(float)
    m = np.array([_direction(s.code, goal) * outcome for s in specs])
    V = np.column_stack(
        [
            pd.to_numeric(X[s.code], errors="coerce").to_numpy(float)
            if s.kind == "numeric"
            else np.zeros(len(X))
            for s in specs
        ]
    )
    V = np.nan_to_num(V)
    typical = np.median(V, axis=0)
    bad = np.zeros(len(X), bool)
    rows = np.arange(len(X))
    for idx, sign in (
        (_top_indices(C, 3, largest=True), 1),
        (_top_indices(C, 1, largest=False), -1),
    ):
        for j in range(idx.shape[1]):
            f = np.where(idx[:, j] >= 0, idx[:, j], 0)
            d = m[f] * (V[rows, f] - typical[f])
            bad |= (idx[:, j] >= 0) & (m[f] != 0) & (sign * d < 0)
    return int(bad.sum())


def shown_contradictions(run: Path) -> int | None:
    """Profiles whose factors as the scores word them (factors_json with a typical value) say
    less activity raises the score or more lowers it, values compared within the training range."""
    import numpy as np
    import pandas as pd

    from workbench.modeling import load_model

    scores = pd.read_parquet(run / "scores.parquet", columns=["factors_json"])
    entries = [json.loads(t) for t in scores["factors_json"]]
    if not any(e and "typical" in e[0] for e in entries):
        return None
    model = load_model(run / "model")
    direction = {s.code: s.direction for s in model.feature_specs_}
    goal = -1 if (run / "config.yaml").read_text().find("does_not_occur") >= 0 else 1
    ranges = getattr(model, "ranges_", {})
    bad = 0
    for profile in entries:
        for e in profile:
            d = direction.get(e.get("code"), 0) * goal
            if not d:
                continue
            lo, hi = (ranges.get(e["code"]) or [-np.inf, np.inf])[:2]
            nothing = np.inf if direction[e["code"]] < 0 else 0.0
            v = nothing if e["value"] is None else e["value"]
            t = np.inf if e["typical"] is None else e["typical"]
            more = d * (np.clip(v, lo, hi) - np.clip(t, lo, hi))
            if (e["direction"] == "raises") != (more > 0):
                bad += 1
                break
    return bad


def _unless_older(count, run: Path) -> int | None:
    """The count, or None in a checkout older than the model loader (workbench.modeling)."""
    try:
        from workbench.modeling.persistence import load_model  # noqa: F401
    except ImportError:
        return None
    return count(run)


def figures(run: Path) -> dict:
    """Every figure the report prints, from one backtest's run folder."""
    bt = json.loads((run / "backtest.json").read_text())
    m = json.loads((run / "metrics.json").read_text())
    champ = m["champion"]
    cm = m["models"][champ]
    folds = cm.get("roc_auc_folds") or [cm["roc_auc"]]
    buckets = {b["bucket"]: (b["expected"], b["actual"]) for b in bt["by_bucket"]}
    drift = (m.get("features") or {}).get("drift", {})
    top = sorted(drift.items(), key=lambda kv: -kv[1]["outside"])[:4]
    summary_file = run / "score_summary.json"  # not written before issue 11
    summary = json.loads(summary_file.read_text()) if summary_file.exists() else {}
    at_origins = [
        (
            f["origin"],
            round(sum(b["expected"] for b in f["expected_vs_actual"]["bucket"]), 1),
            sum(b["actual"] for b in f["expected_vs_actual"]["bucket"]),
        )
        for f in m.get("folds", [])
    ]
    return {
        "at_origins": at_origins,
        "champion": champ,
        "folds": [round(f, 4) for f in folds],
        "reported": cm["roc_auc"],
        "reported_as": cm.get("reported_as", "single validation cutoff"),
        "realised": bt["realised_roc_auc"],
        "expected": sum(e for e, _ in buckets.values()),
        "actual": sum(a for _, a in buckets.values()),
        "buckets": buckets,
        "outside": [(c, round(v["outside"], 3), round(v["psi"], 2)) for c, v in top],
        "left_out": sorted((m.get("features") or {}).get("left_out", {})),
        "candidates": {k: round(v["roc_auc"], 4) for k, v in m["models"].items()},
        "per_feature_contradictions": _unless_older(per_feature_contradictions, run),
        "shown_contradictions": _unless_older(shown_contradictions, run),
        "guard": summary.get("factor_direction_guard"),
        "flags": [q for q in m["quality"]["messages"] if q.split(":")[0] in FLAGS],
    }


FLAGS = ("poor quality", "uncertain", "unlike training", "changing population")


# ----------------------------------------------------------------------------- the report
def reported_rules(folds: list[float]) -> dict[str, float]:
    """The figure each candidate rule would report (folds newest first)."""
    import numpy as np

    rules = {"fold mean": float(np.mean(folds)), "newest origin": folds[0]}
    if len(folds) >= 2:
        slope = (folds[0] - folds[-1]) / (len(folds) - 1)
        rules["trend to as_of"] = folds[0] + slope  # one more step of the same size
    return rules


def show(name: str, at: str, fig: dict, times: list, cpus: list) -> None:
    gap = fig["reported"] - fig["realised"]
    over = fig["expected"] / fig["actual"] - 1 if fig["actual"] else float("nan")
    ratios = {k: e / a if a else float("nan") for k, (e, a) in fig["buckets"].items()}
    print(f"== {name} as of {at}: champion {fig['champion']}")
    print(f"  fold ROC AUC (newest first) {fig['folds']}; candidates {fig['candidates']}")
    print(
        f"  reported {fig['reported']:.4f} ({fig['reported_as']}), realised {fig['realised']:.4f}, "
        f"gap {gap:+.4f}"
    )
    rules = reported_rules(fig["folds"])
    print(
        "  gap by rule: " + ", ".join(f"{k} {v - fig['realised']:+.4f}" for k, v in rules.items())
    )
    parts = [f"{k} {e:.0f}/{a} (x{ratios[k]:.2f})" for k, (e, a) in fig["buckets"].items()]
    print(
        f"  expected {fig['expected']:.0f} vs actual {fig['actual']} ({over:+.1%}); "
        + ", ".join(parts)
    )
    if fig["at_origins"]:
        shown = ", ".join(f"{o} {e:.0f}/{a} ({e / a - 1:+.1%})" for o, e, a in fig["at_origins"])
        print(f"  expected vs actual at each validation origin (fold models): {shown}")
    print(f"  outside the training range (feature, share, PSI): {fig['outside']}")
    if fig["left_out"]:
        print(f"  left out so training and scoring agree: {fig['left_out']}")
    print(
        f"  profiles with a direction-contradicting factor: per feature (old wording) "
        f"{fig['per_feature_contradictions']}, as scored {fig['shown_contradictions']}; "
        f"entries withheld by the direction rule {fig['guard']}"
    )
    for flag in fig["flags"]:
        print(f"  flag: {flag[:160]}")
    print(
        f"  wall {statistics.median(times):.1f} s (runs {[round(t, 1) for t in times]}), "
        f"CPU {statistics.median(cpus):.1f} s (runs {[round(c, 1) for c in cpus]}), "
        f"load {os.getloadavg()[0]:.1f}"
    )
    if name == "cdnow":
        worst = max(
            (max(r, 1 / r) for r in ratios.values() if r == r and r > 0), default=float("nan")
        )
        ok = {
            f"realised >= {TARGETS['realised']}": fig["realised"] >= TARGETS["realised"],
            f"|gap| <= {TARGETS['gap']}": abs(gap) <= TARGETS["gap"],
            "overall within 5%": abs(over) <= TARGETS["overall"],
            "buckets within x1.5": worst <= TARGETS["bucket"],
            "no contradicting factor": fig["shown_contradictions"] == 0,
        }
        print("  targets: " + ", ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in ok.items()))


def show_spread(name: str, by_seed: dict[int, dict]) -> None:
    """One line per figure across the training seeds (which draw the fit samples): what a
    change must beat to be more than the draw of the sample."""
    over = {k: f["expected"] / f["actual"] - 1 for k, f in by_seed.items() if f["actual"]}
    rows = {
        "realised": {k: f["realised"] for k, f in by_seed.items()},
        "gap": {k: f["reported"] - f["realised"] for k, f in by_seed.items()},
        "expected vs actual": over,
    }
    formats = {"realised": "{:.4f}", "gap": "{:+.4f}", "expected vs actual": "{:+.1%}"}
    print(f"== {name}: {len(by_seed)} seeds {sorted(by_seed)}")
    for label, v in rows.items():
        values = sorted(v.values())
        fmt = formats[label]
        shown = ", ".join(f"{k}: {fmt.format(v[k])}" for k in sorted(v))
        print(
            f"  {label}: median {fmt.format(statistics.median(values))}, "
            f"range {fmt.format(values[0])} .. {fmt.format(values[-1])} ({shown})"
        )
    champions = [f["champion"] for f in by_seed.values()]
    print("  champions: " + ", ".join(f"{c} {champions.count(c)}" for c in sorted(set(champions))))
    if name == "cdnow":
        met = {
            f"realised >= {TARGETS['realised']}": [
                r >= TARGETS["realised"] for r in rows["realised"].values()
            ],
            f"|gap| <= {TARGETS['gap']}": [abs(g) <= TARGETS["gap"] for g in rows["gap"].values()],
            "overall within 5%": [abs(o) <= TARGETS["overall"] for o in over.values()],
        }
        print(
            "  targets met at: " + ", ".join(f"{k} {sum(v)}/{len(v)} seeds" for k, v in met.items())
        )


def measure(checkout: Path, config: Path, at: str, sets: list[str], repeat: int, keep):
    """(figures of the first backtest, wall seconds, CPU seconds of each of `repeat`)."""
    times, cpus, fig = [], [], None
    with tempfile.TemporaryDirectory(prefix="quality-") as tmp:
        base = keep or Path(tmp)
        for i in range(repeat):
            wall, cpu, run = run_backtest(checkout, config, at, base / f"run{i}", sets)
            times.append(wall)
            cpus.append(cpu)
            if fig is None:
                env = {**os.environ, "PYTHONPATH": str(checkout)}
                cmd = [sys.executable, __file__, "--figures", str(run)]
                out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
                fig = json.loads(out.stdout)
                fig["buckets"] = {k: tuple(v) for k, v in fig["buckets"].items()}
    return fig, times, cpus


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--logs", nargs="+", default=["cdnow"], help="cdnow or CONFIG.yaml:DATE")
    parser.add_argument("--checkout", type=Path, default=REPO, help="the checkout to measure")
    parser.add_argument("--repeat", type=int, default=1, help="backtests per log (median time)")
    parser.add_argument("--set", dest="sets", action="append", default=[], help="config override")
    parser.add_argument(
        "--seeds",
        nargs="+",
        type=int,
        help="one backtest per training.seed; prints the spread of the figures across them",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--keep", type=Path, help="keep the backtest run folders here")
    parser.add_argument("--figures", type=Path, help=argparse.SUPPRESS)  # internal: one run folder
    args = parser.parse_args(argv)
    if args.figures:  # run inside the measured checkout, so its own code reads its files
        print(json.dumps(figures(args.figures), default=str))
        return 0
    checkout = args.checkout.resolve()
    results = {}
    for text in args.logs:
        name, config, at = parse_log(text, checkout)
        if not config.exists():
            print(f"{name}: skipped ({config} not found)")
            continue
        by_seed = {}
        for seed in args.seeds or [None]:
            sets = args.sets + ([f"training.seed={seed}"] if seed is not None else [])
            keep = (
                args.keep / name / (f"seed{seed}" if seed is not None else "")
                if args.keep
                else None
            )
            fig, times, cpus = measure(checkout, config, at, sets, args.repeat, keep)
            show(name if seed is None else f"{name} (training.seed={seed})", at, fig, times, cpus)
            by_seed[seed] = {**fig, "wall": times, "cpu": cpus}
        if args.seeds:
            show_spread(name, by_seed)
            results[name] = {"by_seed": {str(k): v for k, v in by_seed.items()}}
        else:
            results[name] = by_seed[None]
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
