"""`workbench` command line. Every error becomes one line on stderr and an exit code: 2 for
config/data problems (including a full disk or a read-only folder), 3 when the data is not ready
for the goal, 130 when interrupted, 1 for an unexpected error in the workbench itself (the line
says so; `--debug` shows the traceback)."""

from __future__ import annotations

import argparse
import functools
import json
import os
import signal
import sys
import time
from pathlib import Path

from workbench import __version__
from workbench.errors import ConfigError, NotReadyError, WorkbenchError, os_reason


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
    origins = ", ".join(str(o.date()) for o in goal.cutoffs.origins)
    print(f"as of {goal.as_of.date()}; validation origins (newest first) {origins}")
    shown = goal.counts.copy()
    shown["cutoff"] = shown["cutoff"].dt.date
    shown["base_rate"] = shown["base_rate"].map(lambda v: "" if pd.isna(v) else f"{v:.1%}")
    _print_table(shown)
    run = found.run
    set_aside = [run.file("quarantine")]
    if run.has("profiles_quarantine"):
        set_aside.append(run.file("profiles_quarantine"))
    print(f"wrote {run.file('quality')} and {' and '.join(map(str, set_aside))}")
    if not goal.readiness["ok"]:
        raise NotReadyError(goal.readiness["messages"])
    print("ready: yes")
    return 0


def cmd_snapshot(args) -> int:
    from workbench.workflow import snapshot

    out = Path(args.out)
    frame, note = snapshot(args.config, args.at, overrides=args.set, out=out)
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
    from workbench.reporting.kernel import RunKernel
    from workbench.reporting.notebooks import pick_kernel

    if args.config is None and args.resume is None:
        raise ConfigError("run: give a config file, or --resume RUN to continue a run")
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
            resume=args.resume,
            kernel=kernel,
        )
    finally:
        kernel.shutdown()  # already done when the run got that far
    print(f"report: {run.file('report')}")
    return 0


def cmd_score(args) -> int:
    from workbench.workflow import score

    run = score(
        args.config,
        args.model,
        as_of=args.as_of,
        out=args.out,
        overrides=args.set,
        force=args.force,
    )
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


class _Parser(argparse.ArgumentParser):
    """argparse with its errors in the workbench's one-line form (usage: `--help`)."""

    def error(self, message: str):
        print(f"workbench: error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def _day(flag: str):
    """An argparse type: the flag's text, refused at once unless it is a date."""

    def parse(text: str) -> str:
        from workbench.errors import ConfigError
        from workbench.goals import parse_day

        try:
            parse_day(text, flag)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix(f"{flag} ")) from None
        return text

    return parse


def _whole(minimum: int):
    """An argparse type: a whole number of at least `minimum`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum} (got {value})")
        return value

    return parse


def _command(sub, common, name: str, help: str, with_set: bool = True):
    """A subcommand with `--debug` (and `--set KEY=VALUE` unless `with_set` is False)."""
    p = sub.add_parser(name, help=help, parents=[common])
    if with_set:
        p.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a config value, e.g. goal.window_days=60",
        )
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="workbench",
        description="Propensity Workbench: goals, snapshots, models, factors, scores.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks"
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    command = functools.partial(_command, sub, common)

    p = command(
        "validate", "check the data and the goal; write data_quality.json and quarantine.csv"
    )
    p.add_argument("config")
    p.add_argument(
        "--as-of",
        type=_day("--as-of"),
        default=None,
        help="scoring date (default: config, else the day after the last event)",
    )
    p.add_argument("--out", default=None, help="output folder (default: the config's output.dir)")
    p.set_defaults(func=cmd_validate)

    p = command("snapshot", "write one point-in-time snapshot (features + label) at a cutoff")
    p.add_argument("config")
    p.add_argument(
        "--at",
        required=True,
        type=_day("--at"),
        help="cutoff date: features use events strictly before it",
    )
    p.add_argument("--out", required=True, help="output .csv or .parquet")
    p.set_defaults(func=cmd_snapshot)

    p = command(
        "sample", "write the bundled synthetic sample (events, profiles, config.yaml)", False
    )
    p.add_argument("--profiles", type=_whole(1), default=20_000)
    p.add_argument("--seed", type=_whole(0), default=0)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_sample)

    p = command("run", "run notebooks 01-05 with papermill into a new run folder")
    p.add_argument("config", nargs="?", default=None)
    p.add_argument(
        "--out", default=None, help="base folder for run folders (default: the config's output.dir)"
    )
    p.add_argument("--as-of", type=_day("--as-of"), default=None)
    p.add_argument(
        "--resume",
        default=None,
        metavar="RUN",
        help="continue an interrupted run folder from the first notebook that did not finish",
    )
    p.set_defaults(func=cmd_run)

    _add_score_commands(command)
    _add_compare(command)
    return parser


def _add_score_commands(command) -> None:
    """`score` and `backtest`: a summary on the terminal, `--json` for scripts."""
    p = command("score", "re-score with a saved model (no retraining)")
    p.add_argument("config")
    p.add_argument("--model", required=True, help="a run folder (or its model/ folder)")
    p.add_argument("--as-of", type=_day("--as-of"), default=None)
    p.add_argument("--out", default=None)
    p.add_argument(
        "--force",
        action="store_true",
        help="score even when the config's goal or window differs from the model's",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON (for scripts)")
    p.set_defaults(func=cmd_score)

    p = command("backtest", "run the pipeline as if today were DATE and compare with what happened")
    p.add_argument("config")
    p.add_argument("--at", required=True, type=_day("--at"))
    p.add_argument("--out", default=None)
    p.add_argument("--json", action="store_true", help="print the result as JSON (for scripts)")
    p.set_defaults(func=cmd_backtest)


def _add_compare(command) -> None:
    p = command(
        "compare",
        "compare two scored runs: drift, bucket migration, factor drift, realised figures",
        False,
    )
    p.add_argument("earlier", help="a run folder that scored profiles (the reference)")
    p.add_argument("later", help="a later run folder (its events give the earlier run's outcome)")
    p.add_argument("--out", default=None, help="base folder (default: <goal folder>/compares)")
    p.add_argument(
        "--no-notebook", action="store_true", help="compute in this process, no notebook page"
    )
    p.add_argument("--json", action="store_true", help="print every figure as JSON (for scripts)")
    p.set_defaults(func=cmd_compare)


def _terminate(signum, frame):
    """SIGTERM (a scheduler or `kill`) ends a command like Ctrl-C: runs are marked interrupted."""
    raise KeyboardInterrupt


def unexpected(exc: BaseException) -> tuple[int, str]:
    """(exit code, one line) for an exception that is not a WorkbenchError: an operating-system
    or engine I/O problem is the user's to fix (2); anything else is the workbench's (1)."""
    import duckdb

    first = (str(exc).strip().splitlines() or [""])[0]
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        return 2, f"{where}{os_reason(exc)}"
    if isinstance(exc, duckdb.IOException):
        return 2, f"{os_reason(exc)} ({first})"
    if isinstance(exc, MemoryError | duckdb.OutOfMemoryException):
        return 2, (
            "out of memory: lower duckdb.memory_limit, or score fewer profiles at once "
            f"({type(exc).__name__})"
        )
    hint = "an unexpected error in the workbench; re-run with --debug for the traceback"
    return 1, f"{type(exc).__name__}: {first} ({hint})"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    debug = bool(getattr(args, "debug", False) or os.environ.get("WORKBENCH_DEBUG"))
    try:
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread (called from a worker thread): leave it be
        previous = None
    try:
        return int(args.func(args) or 0)
    except NotReadyError as exc:
        print("workbench: not ready:", file=sys.stderr)
        for message in exc.messages:
            print(f"  - {message}", file=sys.stderr)
        return exc.exit_code
    except WorkbenchError as exc:
        if debug:
            raise
        print(f"workbench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("workbench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `workbench validate ... | head` closed the pipe: not an error worth a traceback.
        sys.stderr.close()
        return 0
    except Exception as exc:
        if debug:
            raise
        code, line = unexpected(exc)
        print(f"workbench: error: {line}", file=sys.stderr)
        return code
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if argv is None:
            _before_exit()


def _before_exit() -> None:
    """The command line's process ends next (`sys.exit(main())`), every file written and
    closed: what is left in memory is freed by reference counts as the interpreter shuts down,
    but its shutdown also runs full garbage collections over every object pandas, matplotlib
    and Ibis made (0.3-0.4 s after a `workbench run`, measured). Frozen, those collections
    skip them; atexit handlers and the flushing of stdout/stderr still run as before. Only
    for the command line (`argv` not given): a caller's process goes on collecting."""
    import gc

    gc.freeze()


if __name__ == "__main__":
    sys.exit(main())
