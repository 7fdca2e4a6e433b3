"""Running the notebooks of a `workbench run` one by one, interrupting, and resuming.

`run_each` executes the notebooks not yet done on the run's one kernel (`RunKernel`: started
once, its namespace reset before each notebook), recording each in `run.json` as it ends;
`stop_requests` turns Ctrl-C or SIGTERM into an interruption even when the kernel got the signal
first; `mark_interrupted` leaves the run as `.partial`, marked for resuming.

`workbench run --resume RUN` (`open_for_resume`): continue a run that did not finish.

A run killed (`kill -9`, a closed laptop), interrupted (Ctrl-C, SIGTERM) or stopped by a full
disk stays a `.partial` folder with `run.json` listing the notebooks that finished (a run that
ended, ok or failed, is published and never written again). Resuming reopens that folder, keeps those
notebooks (and the files they wrote) and runs the first one that did not finish and every one
after it, with the run's own config and as_of, so a resumed run is the run that was started.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

from workbench.config import load_config
from workbench.errors import ConfigError, WorkbenchError
from workbench.run import PARTIAL_SUFFIX, Run


def _find(path: str | Path) -> Run:
    """The run folder at `path`; `<base>/<stamp>` also finds `<base>/.<stamp>.partial`."""
    path = Path(path)
    partial = path.parent / f".{path.name}{PARTIAL_SUFFIX}"
    if not path.exists() and partial.exists():
        path = partial
    run = Run(path)
    if not run.file("record").is_file() or not run.file("config").is_file():
        raise WorkbenchError(f"{path}: not a run folder (no run.json and config.yaml) to resume")
    return run


def open_for_resume(
    path: str | Path,
    config_path: str | Path | None,
    overrides: list[str] | None,
    as_of: str | None,
    notebooks: list[Path],
) -> tuple[Run, dict[str, Any]]:
    """The run to continue and its record, with the notebooks to keep (the finished ones
    before the first that did not finish) and status `running` again. Refuses a run that
    finished, is still running, is not a `workbench run`, or whose config or as_of differ from
    the ones given."""
    from workbench.reporting.notebooks import pick_kernel

    run = _find(path)
    record = run.record
    if record.get("kind") != "notebooks":
        raise WorkbenchError(
            f"{run.path}: a {record.get('kind', 'different')} run, not one of `workbench run`: "
            "only notebook runs are resumed"
        )
    status = record.get("status")
    if status == "ok" or run.is_finished:
        failed = [nb["name"] for nb in record.get("notebooks", []) if nb.get("status") == "failed"]
        raise WorkbenchError(
            f"{run.path}: this run finished"
            + (f" (failed in {failed[0]}) and stays as it is" if failed else "")
            + "; there is nothing to resume: start a new run with workbench run"
        )
    if run.is_running_elsewhere:
        raise WorkbenchError(f"{run.path}: still running (pid {record.get('pid')})")
    if config_path is not None:
        given = load_config(config_path, overrides).to_yaml_dict()
        if given != run.config.to_yaml_dict():
            raise ConfigError(
                f"{config_path}: differs from the config the run started with "
                f"({run.file('config')}); a resumed run keeps its own config, so start a new "
                "run instead (without --resume)"
            )
    if as_of and as_of != record.get("as_of"):
        raise ConfigError(
            f"--as-of {as_of}: the run started with as_of {record.get('as_of') or '(default)'}; "
            "a resumed run keeps it"
        )
    finished = {nb["name"]: nb for nb in record.get("notebooks", []) if nb.get("status") == "ok"}
    keep = []
    for src in notebooks:  # only an unbroken start of the sequence is kept
        if src.stem not in finished:
            break
        keep.append(finished[src.stem])
    record = {
        **{k: v for k, v in record.items() if k != "error"},
        "notebooks": keep,
        "status": "running",
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "kernel": record.get("kernel") or pick_kernel(),
        "resumed": [*record.get("resumed", []), dt.datetime.now().isoformat(timespec="seconds")],
    }
    run.write_record(record)
    return run, record


@contextlib.contextmanager
def stop_requests():
    """Ctrl-C or SIGTERM while notebooks run: KeyboardInterrupt, and a flag checked after each
    notebook, since the signal also reaches the kernel and papermill may swallow the
    interrupt (the notebook then just "fails")."""
    stop = threading.Event()

    def handler(signum, frame):
        stop.set()
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


# What `_finish` needs once the last notebook is done (report.html, the goal's index.html): 0.6
# s of imports this process would otherwise make after the last notebook, while the user waits.
REPORT_MODULES = (
    "workbench.reporting.landing",
    "workbench.reporting.history",
    "matplotlib.pyplot",
    "matplotlib.backends.backend_agg",
    "matplotlib.backends.backend_svg",  # the landing page's figures are SVG
)


def import_in_background(modules: tuple[str, ...], name: str) -> threading.Thread:
    """Import `modules` in a daemon thread named `name` while this thread waits or works
    without the GIL; the import lock makes code that needs a module still loading wait for it
    instead of importing it twice. A module that fails to import here fails again, with its
    error, where it is used."""

    def load() -> None:
        import importlib

        for module in modules:
            try:
                importlib.import_module(module)
            except Exception:  # noqa: BLE001 - reported where the module is really needed
                pass

    thread = threading.Thread(target=load, name=name, daemon=True)
    thread.start()
    return thread


def preload_report_modules() -> threading.Thread:
    """Import the report's modules in the background while the notebooks run (this process
    only waits on the kernel then)."""
    return import_in_background(REPORT_MODULES, "report-imports")


def run_each(
    run: Run,
    record: dict[str, Any],
    notebooks: list[Path],
    say,
    stop,
    kernel,
    while_pages=None,
    before_last=None,
):
    """Execute the notebooks not yet done (`record["notebooks"]` entries with status ok), one
    by one on `kernel` (a started `RunKernel`), recording each in run.json as it ends; the
    first failure, or None. Each page's HTML is exported in the background while the next
    notebook runs; run.json names the pages once they are written, also when the run stops.
    A stop request (`stop` set) ends it as an interruption, the interrupted notebook not
    recorded. `while_pages(failure)`: called once the notebooks are done, while the last pages
    are still being exported, their entries already naming the pages they will be (the
    landing page is written then, instead of after them). `before_last()`: called as the last
    notebook starts."""
    from workbench.reporting.notebooks import HtmlExports

    preload_report_modules()
    try:
        with HtmlExports(say) as pages:
            failure = _execute_each(run, record, notebooks, say, stop, kernel, pages, before_last)
            if while_pages is not None and not stop.is_set():
                pages.name_pending()
                while_pages(failure)
    except BaseException:
        with contextlib.suppress(Exception):  # a full disk: the notebooks' lines are there
            run.update_record(notebooks=record["notebooks"])
        raise
    run.update_record(notebooks=record["notebooks"])  # with every page's name
    return failure


def _execute_each(run, record, notebooks, say, stop, kernel, pages, before_last=None):
    import nbformat

    from workbench.reporting.notebooks import declared_parameters, notebook_title

    values = {"run_dir": str(run.path), "as_of": record.get("as_of") or "", "interactive": False}
    done = {nb["name"]: nb for nb in record["notebooks"] if nb.get("status") == "ok"}
    for i, src in enumerate(notebooks, 1):
        if src.stem in done:
            say(f"[{i}/{len(notebooks)}] {src.stem}: done before, kept")
            page = done[src.stem].get("html")
            if not page or not (run.path / page).is_file():  # stopped before it was written
                pages.submit(run.path / src.name, done[src.stem])
            continue
        dest = run.path / src.name
        source = nbformat.read(src, as_version=4)  # once, for its parameters and its title
        declared = declared_parameters(source)
        params = {k: v for k, v in values.items() if k in declared}
        say(f"[{i}/{len(notebooks)}] {src.stem} ...")
        if before_last is not None and i == len(notebooks):
            before_last()
        t0 = time.perf_counter()
        failure = kernel.execute(src, dest, params)
        if stop.is_set():
            raise KeyboardInterrupt
        seconds = time.perf_counter() - t0
        entry = notebook_entry(src, dest, params, seconds, None, failure, notebook_title(source))
        record["notebooks"].append(entry)
        pages.submit(dest, entry)  # its "html" is set once the page is written
        run.update_record(notebooks=record["notebooks"])
        say(f"      {src.stem} {'done' if failure is None else 'FAILED'} in {seconds:.1f} s")
        if failure is not None:
            return failure
    return None


def mark_interrupted(run: Run, started: float, say) -> None:
    """Leave an interrupted run as it is (`.partial`, never `latest`), marked for --resume."""
    try:
        seconds = round(time.perf_counter() - started, 1)
        run.update_record(status="interrupted", seconds=seconds)
    except WorkbenchError:  # a full or read-only disk: the next run marks it instead
        pass
    say(f"interrupted: continue with  workbench run --resume {run.path}")


def notebook_entry(src, dest, params, seconds, html_name, failure, title) -> dict[str, Any]:
    """One notebook's line in run.json: what ran, how long, its pages, and why it stopped."""
    return {
        "name": src.stem,
        "title": title,
        "status": "ok" if failure is None else "failed",
        "seconds": round(seconds, 1),
        "parameters": params,
        "ipynb": dest.name if dest.exists() else None,
        "html": html_name,
        "error": failure.error if failure is not None else None,
        "todo": failure.todo if failure is not None else None,
    }
