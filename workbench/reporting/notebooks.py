"""Executing the notebooks: papermill with the project's kernel, and HTML with code hidden.

`workbench.workflow.run_notebooks` runs notebooks 01-05 into a run folder with these helpers;
each executed notebook is saved next to its HTML (figures embedded) in the run folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workbench.errors import WorkbenchError

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
    ):
        super().__init__(message)
        self.exit_code = exit_code
        self.notebook = notebook
        self.error = error or message


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


def export_html(ipynb: str | Path, html_path: str | Path | None = None) -> Path:
    """Export an executed notebook to HTML with code hidden and figures embedded (base64 PNG)."""
    import nbformat
    from nbconvert import HTMLExporter

    ipynb = Path(ipynb)
    html_path = Path(html_path) if html_path else ipynb.with_suffix(".html")
    nb = nbformat.read(ipynb, as_version=4)
    exporter = HTMLExporter(
        exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True
    )
    body, _ = exporter.from_notebook_node(nb)
    html_path.write_text(body, encoding="utf-8")
    return html_path


def declared_parameters(path: Path) -> set[str]:
    """Names assigned in the notebook's `parameters` cell (only those are injected)."""
    import ast

    import nbformat

    nb = nbformat.read(path, as_version=4)
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


def execute_notebook(
    src: Path, dest: Path, parameters: dict[str, Any], kernel: str, cwd: Path
) -> NotebookError | None:
    """Run one notebook with papermill into `dest` (saved even when it fails); the failure, if
    any, as a `NotebookError` with the exit code of the error the notebook raised."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    name = src.stem
    try:
        papermill.execute_notebook(
            str(src),
            str(dest),
            parameters=parameters,
            kernel_name=kernel,
            progress_bar=False,
            log_output=False,
            cwd=str(cwd),
            # Keep kernel start-up/shut-down logs off the terminal; cell errors stay in the notebook.
            extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
        )
    except PapermillExecutionError as exc:
        cause = (str(exc.evalue).strip().splitlines() or [""])[0]
        error = f"{exc.ename}: {cause}" if cause else exc.ename
        return NotebookError(
            f"notebook {name} failed: {error} (see {dest})",
            exit_code=_EXIT_CODES.get(exc.ename, 1),
            notebook=name,
            error=error,
        )
    except Exception as exc:  # kernel died, notebook unreadable, ...
        error = f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}"
        return NotebookError(f"notebook {name} failed: {error}", notebook=name, error=error)
    return None
