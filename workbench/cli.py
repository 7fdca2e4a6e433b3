"""`workbench` command line. Errors the user can fix become one line on stderr and an exit code:
2 for config/data problems, 3 when the data is not ready for the goal."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from workbench import __version__
from workbench.errors import DataError, NotReadyError, WorkbenchError


def _print_table(frame, out=sys.stdout) -> None:
    print(frame.to_string(index=False), file=out)


def cmd_validate(args) -> int:
    import pandas as pd

    from workbench.goals import describe_goal
    from workbench.workflow import validate

    found = validate(args.config, out=args.out, as_of=args.as_of, overrides=args.set)
    quality, goal, config = found.quality, found.goal, found.run.config
    print(f"data quality ({quality['source']}):")
    print(
        f"  rows read {quality['rows_read']:,} = kept {quality['rows_kept']:,} + quarantined "
        f"{quality['rows_quarantined']:,} + duplicates dropped {quality['duplicates_dropped']:,}"
    )
    for reason, n in quality["quarantine_reasons"].items():
        print(f"  quarantined: {reason}: {n:,}")
    for notice in quality.get("notices") or []:
        print(f"  notice: {notice}")
    print(
        f"  profiles {quality['profiles']:,}; events {quality['first_event']} .. {quality['last_event']}"
    )
    print(
        "  event types: "
        + ", ".join(f"{k} {v:,}" for k, v in list(quality["event_types"].items())[:12])
    )
    match = (quality.get("profiles_file") or {}).get("match")
    if match:
        print(
            f"  profiles file: {match['matched']:,} of {match['profiles_with_events']:,} "
            f"profiles with events found ({match['share']:.0%})"
        )
        if "warning" in match:
            print(f"  warning: {match['warning']}")
    print(f"goal: {describe_goal(config)}")
    print(f"as of {goal.as_of.date()}; validation cutoff {goal.cutoffs.validation.date()}")
    if goal.cutoffs.left_out:
        print(
            "  left out (outcome window overlaps validation): "
            + ", ".join(str(c.date()) for c in goal.cutoffs.left_out)
        )
    shown = goal.counts.copy()
    shown["cutoff"] = shown["cutoff"].dt.date
    shown["base_rate"] = shown["base_rate"].map(lambda v: "" if pd.isna(v) else f"{v:.1%}")
    _print_table(shown)
    run = found.run
    print(f"wrote {run.file('quality')} and {run.file('quarantine')}")
    if not goal.readiness["ok"]:
        raise NotReadyError(goal.readiness["messages"])
    print("ready: yes")
    return 0


def cmd_snapshot(args) -> int:
    from workbench.workflow import snapshot

    out = Path(args.out)
    if out.suffix not in (".csv", ".parquet"):
        raise DataError(f"{out}: --out must end in .csv or .parquet")
    frame, note = snapshot(args.config, args.at, overrides=args.set)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".csv":
        frame.to_csv(out, index=False)
    else:
        frame.to_parquet(out, index=False)
    if note:
        print(f"note: {note}", file=sys.stderr)
    print(
        f"wrote {len(frame):,} eligible profiles x {frame.shape[1] - 2} features + label to {out}"
    )
    return 0


def cmd_sample(args) -> int:
    from workbench.ingest.sample import write_sample

    started = time.perf_counter()
    config_path = write_sample(args.out, profiles=args.profiles, seed=args.seed)
    print(
        f"wrote sample ({args.profiles:,} profiles, seed {args.seed}) in {time.perf_counter() - started:.1f}s: {config_path}"
    )
    return 0


def cmd_run(args) -> int:
    from workbench.reporting.notebooks import RunKernel, pick_kernel

    # The notebooks' kernel starts (and imports) while this process imports the workflow.
    kernel = RunKernel(pick_kernel())
    kernel.start()
    try:
        from workbench.workflow import run_notebooks

        run = run_notebooks(
            args.config,
            out=Path(args.out) if args.out else None,
            as_of=args.as_of,
            overrides=args.set,
            kernel=kernel,
        )
    finally:
        kernel.shutdown()  # already done when the run got that far
    print(f"report: {run.file('report')}")
    return 0


def cmd_score(args) -> int:
    from workbench.workflow import score

    run = score(args.config, args.model, as_of=args.as_of, out=args.out, overrides=args.set)
    if args.json:
        print(json.dumps({**run.read_json("score_summary"), "run_dir": str(run.path)}, indent=2))
    else:
        from workbench.reporting.command_pages import score_text

        print(score_text(run))
    return 0


def cmd_backtest(args) -> int:
    from workbench.workflow import backtest

    result = backtest(args.config, args.at, out=args.out, overrides=args.set)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        from workbench.reporting.command_pages import backtest_text

        print(backtest_text(result))
    return 0


def cmd_compare(args) -> int:
    from workbench.workflow.comparison import compare_runs

    run = compare_runs(
        args.earlier, args.later, out=args.out, notebook=not args.no_notebook, progress=print
    )
    body = run.read_json("comparison")
    if args.json:
        print(json.dumps({**body, "run_dir": str(run.path)}, indent=2, default=str))
        return 0
    for line in comparison_summary(body):
        print(line)
    page = next((n["html"] for n in run.record.get("notebooks", []) if n.get("html")), None)
    print(f"page: {run.path / page}" if page else f"figures: {run.file('comparison')}")
    print(f"every run of the goal: {run.goal_folder / 'index.html'}")
    return 0


def comparison_summary(body: dict) -> list[str]:
    """The few lines `workbench compare` prints (comparison.json has every figure)."""
    drift, moved = body["score_drift"], body["migration"]
    earlier, later = body["earlier"], body["later"]
    lines = [
        f"earlier: {earlier['run']} ({earlier['kind']}, scores as of {earlier['scoring date']})",
        f"later:   {later['run']} ({later['kind']}, scores as of {later['scoring date']})",
        f"score drift: PSI {drift['psi']:.3f} ({drift['level']}); mean probability "
        f"{drift['earlier_mean_probability']:.1%} -> {drift['later_mean_probability']:.1%}",
    ]
    movers = body.get("feature_drift_top") or []
    if movers:
        lines.append(
            "features that moved most: "
            + ", ".join(f"{m['label']} ({m['psi']:.2f})" for m in movers[:3])
        )
    if moved["profiles_in_both"]:
        lines.append(
            f"buckets: {moved['kept_share']:.0%} of {moved['profiles_in_both']:,} profiles kept "
            f"their bucket (chance alone {moved['chance_kept_share']:.0%}); "
            f"{moved['new_profiles']:,} new, {moved['no_longer_scored']:,} no longer scored"
        )
    realised = body.get("realised")
    if realised:
        lines.append(
            f"realised (earlier run): ROC AUC {realised['roc_auc']:.3f}; "
            f"{realised['actual']:,} conversions against {realised['expected']:,.1f} expected"
        )
    lines += [f"note: {n}" for n in body.get("notes") or []]
    lines += [f"flag: {f}" for f in body.get("flags") or []] or ["flags: none"]
    return lines


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workbench",
        description="Propensity Workbench: goals, snapshots, models, factors, scores.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_set(p):
        p.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a config value, e.g. goal.window_days=60",
        )
        return p

    p = with_set(
        sub.add_parser(
            "validate",
            help="check the data and the goal; write data_quality.json and quarantine.csv",
        )
    )
    p.add_argument("config")
    p.add_argument(
        "--as-of",
        default=None,
        help="scoring date (default: config, else the day after the last event)",
    )
    p.add_argument("--out", default=None, help="output folder (default: the config's output.dir)")
    p.set_defaults(func=cmd_validate)

    p = with_set(
        sub.add_parser(
            "snapshot", help="write one point-in-time snapshot (features + label) at a cutoff"
        )
    )
    p.add_argument("config")
    p.add_argument(
        "--at", required=True, help="cutoff date: features use events strictly before it"
    )
    p.add_argument("--out", required=True, help="output .csv or .parquet")
    p.set_defaults(func=cmd_snapshot)

    p = sub.add_parser(
        "sample", help="write the bundled synthetic sample (events, profiles, config.yaml)"
    )
    p.add_argument("--profiles", type=int, default=20_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_sample)

    p = with_set(
        sub.add_parser("run", help="run notebooks 01-05 with papermill into a new run folder")
    )
    p.add_argument("config")
    p.add_argument(
        "--out", default=None, help="base folder for run folders (default: the config's output.dir)"
    )
    p.add_argument("--as-of", default=None)
    p.set_defaults(func=cmd_run)

    _add_score_commands(sub, with_set)
    _add_compare(sub)
    return parser


def _add_score_commands(sub, with_set) -> None:
    """`score` and `backtest`: a summary on the terminal, `--json` for scripts."""
    p = with_set(sub.add_parser("score", help="re-score with a saved model (no retraining)"))
    p.add_argument("config")
    p.add_argument("--model", required=True, help="a run folder (or its model/ folder)")
    p.add_argument("--as-of", default=None)
    p.add_argument("--out", default=None)
    p.add_argument("--json", action="store_true", help="print the summary as JSON (for scripts)")
    p.set_defaults(func=cmd_score)

    p = with_set(
        sub.add_parser(
            "backtest", help="run the pipeline as if today were DATE and compare with what happened"
        )
    )
    p.add_argument("config")
    p.add_argument("--at", required=True)
    p.add_argument("--out", default=None)
    p.add_argument("--json", action="store_true", help="print the result as JSON (for scripts)")
    p.set_defaults(func=cmd_backtest)


def _add_compare(sub) -> None:
    p = sub.add_parser(
        "compare",
        help="compare two scored runs: drift, bucket migration, factor drift, realised figures",
    )
    p.add_argument("earlier", help="a run folder that scored profiles (the reference)")
    p.add_argument("later", help="a later run folder (its events give the earlier run's outcome)")
    p.add_argument("--out", default=None, help="base folder (default: <goal folder>/compares)")
    p.add_argument(
        "--no-notebook", action="store_true", help="compute in this process, no notebook page"
    )
    p.add_argument("--json", action="store_true", help="print every figure as JSON (for scripts)")
    p.set_defaults(func=cmd_compare)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except NotReadyError as exc:
        print("workbench: not ready:", file=sys.stderr)
        for message in exc.messages:
            print(f"  - {message}", file=sys.stderr)
        return exc.exit_code
    except WorkbenchError as exc:
        print(f"workbench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("workbench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `workbench validate ... | head` closed the pipe: not an error worth a traceback.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
