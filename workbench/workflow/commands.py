"""What the CLI commands do, as plain functions: each opens a new run folder and calls the stages.

- `run_notebooks`: the five notebooks through papermill (`workbench run`);
- `run_pipeline`: the same five stages in this process, no notebooks (the library route);
- `validate`, `snapshot`; `score` and `backtest` are in `workflow.later_scores`.

Every command that writes makes a new run folder (`Run.create`, which refuses an output folder
that is or holds an input) and never writes anywhere else, so no input file is ever overwritten
by an output. A run interrupted (Ctrl-C, `kill -9`, a full disk) stays a `.partial` folder
marked `interrupted`; `run_notebooks(resume=...)` continues it from the first notebook that did
not finish.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.config import Config, load_config
from workbench.errors import DataError, NotReadyError, WorkbenchError
from workbench.goals import parse_day, to_day
from workbench.inputs import check_output
from workbench.run import Run, write_frame_file
from workbench.workflow.stages import (
    GoalPlan,
    check_plan,
    compare,
    define_goal,
    explain,
    open_events,
    plan_goal,
    prepare_data,
    score_and_segment,
)

Progress = Callable[[str], Any] | None
ConfigLike = Config | str | Path


def as_config(config: ConfigLike, overrides: list[str] | dict[str, Any] | None = None) -> Config:
    """A Config from a Config or a YAML path (`overrides` as for `workbench --set`)."""
    if isinstance(config, Config):
        if overrides:
            raise WorkbenchError("overrides apply to a config file; edit the Config instead")
        return config
    return load_config(config, overrides)


def check_sources(config: Config, events=None) -> None:
    """Fail before a run folder is made when an input file is missing, naming the config key."""
    from workbench.ingest.sources import list_files

    sources = [("events", config.events.path if events is None else None)]
    if config.profiles is not None:
        sources.append(("profiles", config.profiles.path))
    if config.identities is not None:
        sources.append(("identities", config.identities.path))
    for what, path in sources:
        if path is not None:
            list_files(path, "auto", what, key=f"{config.where()}: {what}.path")
    if events is None and config.events.path is None and config.events.table is None:
        raise DataError(f"{config.where()}: events: give path (a file) or table")


def _ending(started: float, error: BaseException | None) -> dict[str, Any]:
    """run.json's status, seconds (and error) of a run ending now."""
    status = "ok" if error is None else "failed"
    if isinstance(error, KeyboardInterrupt):
        status = "interrupted"
    changes: dict[str, Any] = {"status": status, "seconds": round(time.perf_counter() - started, 1)}
    if error is not None:
        changes["error"] = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return changes


def _report_early(run: Run, record: dict[str, Any], started: float, error, early=None) -> list:
    """Record the end and write the landing page while the last notebook pages are exported
    (their names already in `record`; `early`: sections `landing.draw_early` drew while the
    last notebook ran); the links it was written with, for `_finish`."""
    from workbench.reporting.landing import notebook_links, write_report

    run.update_record(notebooks=record["notebooks"], **_ending(started, error))
    write_report(run, early)
    return notebook_links(run)


def _draw_early_in_background(run: Run, into: dict) -> threading.Thread:
    """`landing.draw_early` in a thread while the last notebook runs on the kernel (this
    process only waits on it then); a section it could not draw is drawn at the end."""

    def draw() -> None:
        from workbench.reporting.landing import draw_early

        with contextlib.suppress(Exception):
            into.update(draw_early(run))

    thread = threading.Thread(target=draw, name="landing-early", daemon=True)
    thread.start()
    return thread


def _finish(
    run: Run,
    started: float,
    error: BaseException | None = None,
    *,
    report: bool = True,
    written: list | None = None,
) -> Run:
    """Record how the run ended, write its landing page, give it its final name (`latest`
    moves only on success) and rewrite the goal's index.html (every run over time). When
    recording the end fails itself (the disk filled up), the run stays `.partial` (the next run
    in the folder marks it interrupted; `--resume` continues it once there is room) and that
    error is raised, unless an earlier `error` is the cause. `written`: the end was recorded
    and the landing page written already (`_report_early`), with these links; it is written
    again only when a page it links to could not be written after all."""
    from workbench.reporting.history import write_index
    from workbench.reporting.landing import notebook_links, write_report
    from workbench.reporting.notebooks import link_pages

    try:
        if written is None:
            run.update_record(**_ending(started, error))
        if report:
            links = notebook_links(run)
            if written is None or links != written:
                write_report(run)
            link_pages(run.path, links)
    except Exception:
        if error is not None:
            return run  # the caller raises `error`: the cause, not this consequence
        raise
    run.publish(succeeded=error is None)
    if report:
        write_index(run.goal_folder)
    return run


# the comparison's libraries (scikit-learn and scipy alone: 0.6 s) and the landing page's
MODEL_MODULES = ("workbench.modeling", "statsmodels.discrete.discrete_model", "lightgbm")


def preload_stage_modules() -> threading.Thread:
    """Import the later stages' libraries in a background thread while the data and the
    snapshots are prepared in this one (DuckDB runs without the GIL there), so the comparison
    does not start by importing them (CDNOW backtest: wall 5.76 -> 5.43 s, medians of 4
    interleaved runs at load 1.6-1.8; CPU seconds within 1-4%)."""
    from workbench.workflow.notebook_run import REPORT_MODULES, import_in_background

    return import_in_background((*MODEL_MODULES, *REPORT_MODULES), "stage-imports")


# ----------------------------------------------------------------------------- the two routes
def run_pipeline(
    config: ConfigLike,
    *,
    out: str | Path | None = None,
    as_of: str | None = None,
    events=None,
    profiles=None,
    overrides: list[str] | None = None,
    progress: Progress = None,
) -> Run:
    """The whole pipeline in this process (no notebooks) into a new run folder: the library
    route. `events`/`profiles`: pandas or Arrow frames instead of the config's files."""
    cfg = as_config(config, overrides)
    check_sources(cfg, events)
    if as_of:
        parse_day(as_of, "as_of")
    say = progress or (lambda _msg: None)
    record = {"kind": "pipeline", "as_of": as_of or "", "overrides": list(overrides or [])}
    run = Run.create(out or cfg.output_dir, cfg, record=record)
    say(f"run folder: {run.base / run.name}")
    started = time.perf_counter()
    preload_stage_modules()
    try:
        prepare_data(run, events=events, profiles=profiles)
        define_goal(run, as_of, progress=progress)
        compare(run)
        explain(run)
        score_and_segment(run)
    except BaseException as exc:
        _finish(run, started, exc)
        raise
    return _finish(run, started)


def run_notebooks(
    config_path: str | Path | None,
    out: str | Path | None = None,
    as_of: str | None = None,
    overrides: list[str] | None = None,
    notebooks_dir: str | Path | None = None,
    kernel_name: str | None = None,
    progress: Progress = print,
    resume: str | Path | None = None,
    kernel=None,
) -> Run:
    """Run the pipeline as notebooks 01-05 into a new run folder (`workbench run`).

    Each notebook is executed by papermill with `run_dir` (and `as_of`) injected, saved with
    its HTML (code hidden) in the run folder; `report.html` links them. The notebooks share one
    kernel, its namespace reset between them (`RunKernel`), and each HTML page is exported while
    the next notebook runs. Raises `NotebookError` when a notebook fails: its executed copy and
    HTML are still in the run folder, which is then published as failed (`latest` does not move).
    Interrupted (Ctrl-C), the run stays a `.partial` folder marked `interrupted`. `resume`: such
    a run folder, continued from the first notebook that did not finish, with its own config
    and as_of. `kernel`: a `RunKernel` the caller started early (the CLI does, before its
    imports); it is shut down at the end.
    """
    from workbench.reporting.kernel import RunKernel
    from workbench.reporting.notebooks import find_notebooks
    from workbench.workflow.notebook_run import (
        mark_interrupted,
        open_for_resume,
        run_each,
        stop_requests,
    )

    say = progress or (lambda _msg: None)
    notebooks = find_notebooks(notebooks_dir)
    started = time.perf_counter()
    if resume is not None:
        run, record = open_for_resume(resume, config_path, overrides, as_of, notebooks)
        say(f"resuming {run.path}")
    else:
        run, record = _start_run(
            config_path, out, as_of, overrides, notebooks, say, kernel_name, kernel
        )
    if kernel is None or kernel.kernel_name != record["kernel"]:  # a resumed run keeps its own
        if kernel is not None:
            kernel.shutdown()
        kernel = RunKernel(record["kernel"])
    kernel.cwd = str(run.path)
    written: list = []
    early: dict = {}
    drawing: list[threading.Thread] = []

    def report_while_pages(failure) -> None:
        kernel.shutdown()  # not needed for the report, and its memory back
        for thread in drawing:
            thread.join()
        written.append(_report_early(run, record, started, failure, early))

    def before_last() -> None:
        drawing.append(_draw_early_in_background(run, early))

    try:
        with stop_requests() as stop, kernel:
            failure = run_each(
                run, record, notebooks, say, stop, kernel, report_while_pages, before_last
            )
    except BaseException as exc:  # Ctrl-C, SIGTERM, a disk that filled up between notebooks
        if isinstance(exc, KeyboardInterrupt):
            mark_interrupted(run, started, say)
        else:
            _finish(run, started, exc)
        raise
    partial = str(run.path)
    _finish(run, started, failure, written=written[0] if written else None)
    if failure is not None:
        # The message names the executed notebook where it now is (the published folder).
        failure.args = (str(failure).replace(partial, str(run.path)),)
        say(f"report (incomplete): {run.file('report')}")
        raise failure
    say(f"done: {len(record['notebooks'])} notebooks in {run.record['seconds']:.0f} s")
    return run


def _start_run(config_path, out, as_of, overrides, notebooks, say, kernel_name, kernel):
    """A new (still hidden) run folder and its record, the data and the goal checked in it."""
    from workbench.reporting.notebooks import pick_kernel

    if config_path is None:
        raise WorkbenchError("run: give a config file (or --resume RUN)")
    cfg = load_config(config_path, overrides)
    check_sources(cfg)
    if as_of:
        parse_day(as_of, "--as-of")
    record = {
        "kind": "notebooks",
        "config": str(Path(config_path).resolve()),
        "overrides": list(overrides or []),
        "as_of": as_of or "",
        "kernel": kernel.kernel_name if kernel is not None else pick_kernel(kernel_name),
        "notebooks": [],
    }
    # Run.create refuses an output folder that is or holds an input, before any work.
    run = Run.create(Path(out) if out is not None else cfg.output_dir, cfg, record=record)
    if any(nb.stem == "02_goal_definition" for nb in notebooks):
        # The goal notebook is among them: check the goal before the run is published. The
        # data is prepared in the (still hidden) run folder, where notebook 01 then reads it
        # instead of preparing it a second time; a goal the data cannot support (or a Ctrl-C
        # here) leaves no folder.
        say("checking the data and the goal ...")
        try:
            check_goal(run, cfg, as_of)
        except BaseException:
            shutil.rmtree(run.path, ignore_errors=True)
            raise
        run.update_record(prepared=True)
    say(f"run folder: {run.base / run.name}")
    return run, record


def check_goal(run: Run, config: Config, as_of: str | None = None) -> GoalPlan:
    """Prepare the data in `run` and plan the goal; NotReadyError when the data cannot support
    it (what `preflight` checks, in the run's own folder)."""
    prepare_data(run)
    goal = plan_goal(open_events(run, config), config, as_of, with_scoring=True)
    if not goal.readiness["ok"]:
        raise NotReadyError(goal.readiness["messages"])
    # notebook 02 plans the same goal on the same events: it reads these counts instead
    run.write_frame("cutoff_counts", goal.counts.assign(as_of=goal.as_of))
    return goal


def preflight(config: Config, as_of: str | None = None, base: str | Path | None = None) -> GoalPlan:
    """What `workbench validate` checks (the data reads, the goal's fields exist and fit, enough
    positives and negatives per cutoff), before `workbench run` makes a run folder: a goal the
    data cannot support stops here (NotReadyError, exit 3) and leaves no folder behind. Works
    in a hidden temporary folder under the output folder (same disk as the runs), removed after."""
    base = Path(base if base is not None else config.output_dir)
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError:
        base = Path(tempfile.gettempdir())
    with tempfile.TemporaryDirectory(prefix=".check-", dir=base) as tmp:
        return check_goal(Run.create(tmp, config, record={"kind": "check"}), config, as_of)


# ----------------------------------------------------------------------------- validate
@dataclass
class Validation:
    """What `workbench validate` found: data quality, the goal's cutoffs and readiness."""

    run: Run
    quality: dict[str, Any]
    goal: GoalPlan


def validate(
    config: ConfigLike,
    *,
    out: str | Path | None = None,
    as_of: str | None = None,
    overrides: list[str] | None = None,
) -> Validation:
    """Read and clean the data, check the goal's fields, count positives per cutoff and judge
    readiness, in a new folder under `out` (default `<output dir>/validate`)."""
    cfg = as_config(config, overrides)
    check_sources(cfg)
    if as_of:
        parse_day(as_of, "--as-of")
    record = {"kind": "validate", "as_of": as_of or ""}
    run = Run.create(out or cfg.output_dir / "validate", cfg, record=record)
    started = time.perf_counter()
    try:
        quality = prepare_data(run)["quality"]
        ctx = open_events(run, cfg)
        goal = plan_goal(ctx, cfg, as_of)
        check_plan(ctx, cfg, goal.as_of, quality)
    except BaseException as exc:
        _finish(run, started, exc, report=False)
        raise
    _finish(run, started, report=False)
    return Validation(run, quality, goal)


# ----------------------------------------------------------------------------- snapshot
def snapshot(
    config: ConfigLike,
    at: str,
    *,
    overrides: list[str] | None = None,
    out: str | Path | None = None,
) -> tuple[pd.DataFrame, str | None]:
    """One point-in-time snapshot (features strictly before `at`, label from the window after
    it), with a note when the outcome window reaches past the data; written to `out` (.csv or
    .parquet, never an input) when given."""
    from workbench.goals import check_fields
    from workbench.snapshots import build_snapshots

    cfg = as_config(config, overrides)
    check_sources(cfg)
    cutoff = parse_day(at, "--at")
    if out is not None:
        out = Path(out)
        if out.suffix not in (".csv", ".parquet"):
            raise DataError(f"{out}: --out must end in .csv or .parquet")
        if out.is_dir():
            raise DataError(f"{out}: --out is a folder, expected a .csv or .parquet file name")
        check_output(out, cfg, what="--out file")
    with tempfile.TemporaryDirectory(prefix="workbench-snapshot-") as tmp:
        run = Run.create(tmp, cfg)
        quality = prepare_data(run)["quality"]
        ctx = open_events(run, cfg)
        check_fields(cfg, ctx.events.columns, ctx.events)
        if cutoff <= to_day(quality["first_event"]):
            raise DataError(
                f"--at {cutoff.date()} is before any data (first event {quality['first_event']})"
            )
        frame, _ = build_snapshots(ctx.events, cfg, [cutoff], profiles=ctx.profiles)
    note = None
    window_end = cutoff + pd.Timedelta(days=cfg.goal.window_days)
    if window_end > to_day(quality["last_event"]) + pd.Timedelta(days=1):
        note = (
            f"the outcome window ends {window_end.date()}, after the last event "
            f"({quality['last_event'][:10]}): labels are incomplete"
        )
    frame = frame.drop(columns=["cutoff"])
    if out is not None:
        write_frame_file(frame, out)
    return frame, note
