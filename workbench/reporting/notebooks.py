"""Executing the notebooks: papermill with the project's kernel, and HTML with code hidden.

`workbench.workflow.run_notebooks` runs notebooks 01-05 into a run folder with these helpers;
each executed notebook is saved next to its HTML (figures embedded) in the run folder.

One kernel serves a whole run (`workbench.reporting.kernel.RunKernel`): starting a kernel and
importing pandas, DuckDB, LightGBM, statsmodels and matplotlib took most of a small run's time
when each notebook had its own. Each notebook is still executed by papermill on its own, with
its own parameters, and before each one the kernel's user namespace is reset (modules stay
imported), so a notebook sees only what it defines itself: one that works in a run also works
opened alone.
"""

from __future__ import annotations

import functools
import html
import re
import sys
from pathlib import Path
from typing import Any

from workbench.errors import WorkbenchError

# papermill and nbconvert import nbformat, nbformat imports jsonschema, and jsonschema imports
# rfc3987-syntax when it is installed (the `lab` extra's jupyter-events brings it) for its
# "iri" format checker, which compiles a grammar at import: 0.7 s in this process and again in
# the page worker, on every `workbench run` (python-jsonschema/jsonschema#1392, #1521).
# Notebook validation never checks an IRI; marked absent, jsonschema skips that checker.
# (Nothing is changed when it is already imported or not installed.)
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

# The notebooks `workbench run` executes, in order (file stems in `notebooks/`).
NOTEBOOKS = (
    "01_data_prep",
    "02_goal_definition",
    "03_model_comparison",
    "04_factor_report",
    "05_scoring_and_segments",
)

# The monitoring notebook `workbench compare` executes (not part of `workbench run`).
MONITORING = "06_monitoring"

# Exit codes of the errors a notebook may raise (by exception class name, as papermill reports it).
_EXIT_CODES = {"ConfigError": 2, "DataError": 2, "ModelMismatchError": 2, "NotReadyError": 3}


class NotebookError(WorkbenchError):
    """A notebook failed while `workbench run` executed it; the executed copy keeps the error."""

    exit_code = 1

    def __init__(
        self,
        message: str,
        exit_code: int = 1,
        notebook: str | None = None,
        error: str | None = None,
        todo: str | None = None,
    ):
        super().__init__(message)
        self.exit_code = exit_code
        self.notebook = notebook
        self.error = error or message
        self.todo = todo


def find_notebooks(notebooks_dir: str | Path | None = None) -> list[Path]:
    """The notebooks `workbench run` executes, in order: from `notebooks_dir`, else the source
    checkout's `notebooks/` (editable install), else the copies an installed wheel carries
    (the monitoring notebook, which `workbench compare` runs, is not among them)."""
    notebooks_dir = _notebooks_dir(notebooks_dir)
    found = sorted(p for p in notebooks_dir.glob("[0-9][0-9]_*.ipynb") if p.stem != MONITORING)
    if not found:
        raise WorkbenchError(f"{notebooks_dir}: no notebooks (01_*.ipynb ...) found")
    return found


def find_notebook(stem: str, notebooks_dir: str | Path | None = None) -> Path:
    """One notebook by name (`06_monitoring`), found where `find_notebooks` looks."""
    path = _notebooks_dir(notebooks_dir) / f"{stem}.ipynb"
    if not path.is_file():
        raise WorkbenchError(f"{path}: notebook not found")
    return path


def _notebooks_dir(notebooks_dir: str | Path | None) -> Path:
    if notebooks_dir is None:
        import workbench

        package = Path(workbench.__file__).resolve().parent
        checkout = package.parent / "notebooks"
        has_notebooks = checkout.is_dir() and any(checkout.glob("[0-9][0-9]_*.ipynb"))
        notebooks_dir = checkout if has_notebooks else package / "notebooks"
    return Path(notebooks_dir)


def pick_kernel(kernel_name: str | None = None) -> str:
    """`kernel_name` if given, else the project's `workbench` kernel if installed, else `python3`."""
    if kernel_name:
        return kernel_name
    try:
        from jupyter_client.kernelspec import KernelSpecManager

        if "workbench" in KernelSpecManager().find_kernel_specs():
            return "workbench"
    except Exception:  # a broken Jupyter install: fall back to the default kernel
        pass
    return "python3"


@functools.cache
def _html_exporter():
    """One exporter per process: building one loads and compiles its templates."""
    from nbconvert import HTMLExporter

    return HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)


# What to do after a notebook stopped, by the class of the error it raised.
WHAT_TO_DO = {
    "NotReadyError": (
        "the data cannot support this goal yet: lengthen goal.window_days, broaden the goal, "
        "lengthen eligibility.active_within_days or add history (`workbench validate CONFIG` "
        "checks a change in seconds, and the goal tuner in notebook 02 tries them live)"
    ),
    "ConfigError": "correct the config key named in the reason, then run again",
    "DataError": "check the file, column or row named in the reason, then run again",
    "ModelMismatchError": "the data no longer fits the saved model: retrain with `workbench run`",
}
UNEXPECTED = (
    "this is unexpected: the notebook file {ipynb} in the run folder keeps the full details; "
    "please report it with that file"
)
NAV_START, NAV_END = "<!-- run-nav -->", "<!-- /run-nav -->"


def what_to_do(error_class: str, ipynb: str = "the .ipynb") -> str:
    """The advice a failed notebook's page and the landing page give, in one sentence."""
    return WHAT_TO_DO.get(error_class) or UNEXPECTED.format(ipynb=ipynb)


def notebook_title(nb) -> str:
    """The notebook's (or notebook file's) first `# ` heading (`01 · Data preparation: ...`)."""
    if isinstance(nb, (str, Path)):
        import nbformat

        nb = nbformat.read(nb, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return str(nb.metadata.get("name") or "Notebook page")


def _readable_failure(nb, ipynb_name: str) -> None:
    """Replace papermill's red banners and the traceback by the one-line reason and what to do
    (the executed .ipynb keeps them for whoever debugs)."""
    from nbformat.v4 import new_markdown_cell, new_output

    nb.cells = [c for c in nb.cells if "papermill-error-cell-tag" not in c.metadata.get("tags", [])]
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if not errors:
            continue
        err = errors[0]
        ename = str(err.get("ename", ""))
        reason = (str(err.get("evalue", "")).strip().splitlines() or [ename])[0]
        reason = reason if ename in WHAT_TO_DO else f"{ename}: {reason}"
        advice = what_to_do(ename, ipynb_name)
        text = (
            f"<div style='border-left:.4rem solid #c62828;padding:.5rem 1rem;background:#fff5f5'>"
            f"<strong>This step stopped.</strong> {html.escape(reason)}<br>"
            f"What to do: {html.escape(advice)}.</div>"
        )
        cell.outputs = [o for o in cell.outputs if o.get("output_type") != "error"]
        cell.outputs.append(new_output("display_data", data={"text/html": text}))
        nb.cells.insert(
            1, new_markdown_cell(f"**This notebook stopped:** {reason}  \nWhat to do: {advice}.")
        )
        return


def export_html(
    ipynb: str | Path, html_path: str | Path | None = None, title: str | None = None
) -> Path:
    """Export an executed notebook to HTML with code hidden and figures embedded (as the
    notebook drew them), titled by its first heading, with a navigation bar back to the run's
    report (`link_pages`
    fills it in); a failed notebook shows the reason and what to do instead of a traceback."""
    import nbformat

    ipynb = Path(ipynb)
    html_path = Path(html_path) if html_path else ipynb.with_suffix(".html")
    nb = nbformat.read(ipynb, as_version=4)
    title = title or notebook_title(nb)
    _readable_failure(nb, ipynb.name)
    body, _ = _html_exporter().from_notebook_node(nb, resources={"metadata": {"name": title}})
    nav = f'{NAV_START}<nav style="{_NAV_STYLE}"><a href="report.html">← Report</a></nav>{NAV_END}'
    body = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + nav, body, count=1)
    html_path.write_text(body.replace(_WIDE_CSS_FROM, _WIDE_CSS_TO, 1), encoding="utf-8")
    return html_path


_NAV_STYLE = (
    "font:14px system-ui,sans-serif;padding:.5rem 1.5rem;border-bottom:1px solid #ddd;"
    "background:#fafafa"
)
# Wide tables scroll inside their output instead of widening the page.
_WIDE_CSS_FROM = "</style>"
_WIDE_CSS_TO = (
    ".jp-OutputArea-output { overflow-x: auto; max-width: 100%; }\n"
    ".jp-RenderedHTMLCommon table { font-size: 13px; }\n"
    "nav a, nav strong { margin-right: 1rem; }\n</style>"
)


def link_pages(
    run_dir: str | Path, links: list[tuple[str, str]], pages: list[str] | None = None
) -> None:
    """Rewrite the navigation bar of every notebook page in the run folder (or of `pages`
    only): the report, then each page (`links`: (href, text)); the page itself is plain text."""
    run_dir = Path(run_dir)
    for href, _ in links:
        page = run_dir / href
        if href == "report.html" or not page.is_file() or (pages is not None and href not in pages):
            continue
        items = [
            f"<strong>{html.escape(text)}</strong>"
            if h == href
            else f'<a href="{html.escape(h)}">{html.escape(text)}</a>'
            for h, text in links
        ]
        nav = f'{NAV_START}<nav style="{_NAV_STYLE}">{" ".join(items)}</nav>{NAV_END}'
        body = page.read_text(encoding="utf-8")
        pattern = re.escape(NAV_START) + ".*?" + re.escape(NAV_END)
        page.write_text(
            re.sub(pattern, lambda _m, nav=nav: nav, body, count=1, flags=re.S), encoding="utf-8"
        )


class HtmlExports:
    """Exports executed notebooks to HTML in a worker process while the next one runs (a
    context manager: leaving it waits for every page). `submit(ipynb, entry)`; on leaving,
    `entry["html"]` is the page's name; a page that cannot be written is reported through
    `say` and the run goes on (the .ipynb is the record)."""

    def __init__(self, say=None):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.say = say or (lambda _msg: None)
        # A process of its own: nbconvert is pure Python, and in a thread it held the GIL the
        # notebook runner needs. "spawn": this process has zmq and asyncio threads running.
        context = multiprocessing.get_context("spawn")
        # (the worker starts with the first page, not during the kernel's start-up)
        self._pool = ProcessPoolExecutor(
            max_workers=1, mp_context=context, initializer=_start_page_worker
        )
        self._pending: list[tuple[Any, Path, dict[str, Any]]] = []

    def __enter__(self) -> HtmlExports:
        return self

    def __exit__(self, *exc) -> None:
        for future, ipynb, entry in self._pending:
            try:
                entry["html"] = future.result().name
            except Exception as error:  # keep the run going: the .ipynb is the record
                entry["html"] = None  # (it may have been named ahead by `name_pending`)
                self.say(f"      could not export {ipynb.name} to HTML: {error}")
        self._pool.shutdown(wait=True)

    def name_pending(self) -> None:
        """Name in each entry the page it will be once written (`export_html`'s default
        name), for a landing page written while they are; a page that then cannot be
        written loses its name again on leaving."""
        for _future, ipynb, entry in self._pending:
            entry["html"] = entry.get("html") or ipynb.with_suffix(".html").name

    def submit(self, ipynb: Path, entry: dict[str, Any]) -> None:
        if ipynb.exists():
            self._pending.append((self._pool.submit(export_html, ipynb), ipynb, entry))


def _start_page_worker() -> None:
    """The page worker shares the terminal's process group: a Ctrl-C is the run's to handle
    (it finishes the pages already queued), not a traceback from the worker. Its pages are
    written and closed by the time it is told to stop, so it ends at once instead of tearing
    its interpreter down (a quarter of a second the run waited for after its last page)."""
    import atexit
    import os
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    atexit.register(os._exit, 0)


def declared_parameters(nb) -> set[str]:
    """Names assigned in the notebook's (or notebook file's) `parameters` cell (only those are
    injected)."""
    import ast

    if isinstance(nb, (str, Path)):
        import nbformat

        nb = nbformat.read(nb, as_version=4)
    names: set[str] = set()
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            try:
                tree = ast.parse(cell.source)
            except SyntaxError:
                continue
            for node in tree.body:
                targets = (
                    node.targets
                    if isinstance(node, ast.Assign)
                    else [getattr(node, "target", None)]
                )
                names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


# Keep kernel start-up/shut-down logs off the terminal; cell errors stay in the notebook.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=CRITICAL"]


def execute_notebook(
    src: Path,
    dest: Path,
    parameters: dict[str, Any],
    kernel: str,
    cwd: Path,
    km: Any = None,
) -> NotebookError | None:
    """Run one notebook with papermill into `dest` (saved even when it fails); the failure, if
    any, as a `NotebookError` with the exit code of the error the notebook raised. `km`: a
    running kernel's manager (`RunKernel`) to execute on, instead of a new kernel."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    name = src.stem
    from workbench.reporting.papermill_run import register_engine

    engine: dict[str, Any] = {"km": km} if km is not None else {"extra_arguments": KERNEL_ARGUMENTS}
    engine["engine_name"] = register_engine()  # fewer writes of the executed notebook
    try:
        papermill.execute_notebook(
            str(src),
            str(dest),
            parameters=parameters,
            kernel_name=kernel,
            progress_bar=False,
            log_output=False,
            cwd=str(cwd),
            **engine,
        )
    except PapermillExecutionError as exc:
        cause = (str(exc.evalue).strip().splitlines() or [""])[0]
        # The workbench's own errors read as a sentence; others keep their class name.
        error = cause if exc.ename in WHAT_TO_DO and cause else f"{exc.ename}: {cause}"
        return NotebookError(
            f"notebook {name} failed: {error} (see {dest})",
            exit_code=_EXIT_CODES.get(exc.ename, 1),
            notebook=name,
            error=error,
            todo=what_to_do(exc.ename, dest.name),
        )
    except Exception as exc:  # kernel died, notebook unreadable, ...
        error = f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}"
        return NotebookError(
            f"notebook {name} failed: {error}",
            notebook=name,
            error=error,
            todo=what_to_do("", dest.name),
        )
    return None
