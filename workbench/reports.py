"""Run folders, papermill execution of notebooks 01-05, HTML export and the `report.html` landing page.

`run_notebooks` is what `workbench run` calls: it writes the effective config into a new run
folder, executes the notebooks in order (each reads and writes files in that folder), saves
each executed notebook and its HTML (code hidden, figures embedded), then writes
`report.html` with the headline figures from `metrics.json`.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.config import dump_config, load_config
from workbench.errors import DataError, WorkbenchError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "NOTEBOOKS",
    "NotebookError",
    "as_table",
    "export_html",
    "find_notebooks",
    "headline",
    "key_figures",
    "new_run_dir",
    "notes",
    "pick_kernel",
    "quarantine_reasons",
    "reconciliation",
    "resolve_run_dir",
    "run_notebooks",
    "write_report",
]

# The notebooks `workbench run` executes, in order (file stems in `notebooks/`).
NOTEBOOKS = (
    "01_data_prep",
    "02_goal_definition",
    "03_model_comparison",
    "04_factor_report",
    "05_scoring_and_segments",
)

# Exit codes of the errors a notebook may raise (by exception class name, as papermill reports it).
_EXIT_CODES = {"ConfigError": 2, "DataError": 2, "ModelMismatchError": 2, "NotReadyError": 3}

# Files a run writes that the landing page links to, when present.
_RUN_FILES = (
    ("scores.csv", "scores for every eligible profile"),
    ("segments", "audiences built from the scores (one CSV each)"),
    ("segments_summary.csv", "audience sizes"),
    ("metrics.json", "model metrics (machine-readable)"),
    ("data_quality.json", "rows read, kept and quarantined"),
    ("goal_summary.json", "cutoffs, positives, negatives, readiness"),
    ("quarantine.csv", "rows set aside, with the reason"),
    ("config.yaml", "the configuration this run used"),
    ("model", "the saved champion model"),
    ("run.json", "notebooks, parameters and timings of this run"),
)


class NotebookError(WorkbenchError):
    """A notebook failed while `workbench run` executed it; the executed copy keeps the error."""

    exit_code = 1

    def __init__(self, message: str, exit_code: int = 1, notebook: str | None = None):
        super().__init__(message)
        self.exit_code = exit_code
        self.notebook = notebook


def new_run_dir(base: str | Path, now: dt.datetime | None = None) -> Path:
    """Create `base/<YYYYmmdd-HHMMSS>/` (with `-2`, `-3`... if taken) and point `base/latest` at it.

    An earlier run folder is never reused or overwritten. `latest` is a relative symlink; where
    symlinks are not allowed, `latest.txt` holds the folder name instead.
    """
    base = Path(base)
    base.mkdir(parents=True, exist_ok=True)
    stamp = (now or dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    n = 1
    while True:
        run_dir = base / (stamp if n == 1 else f"{stamp}-{n}")
        try:
            run_dir.mkdir()
            break
        except FileExistsError:
            n += 1
    _point_latest(base, run_dir.name)
    return run_dir.resolve()


def _point_latest(base: Path, name: str) -> None:
    link = base / "latest"
    tmp = base / f".latest-{os.getpid()}"
    try:
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(name, tmp, target_is_directory=True)
        os.replace(tmp, link)  # atomic swap of the pointer
    except OSError:
        if tmp.is_symlink():
            tmp.unlink()
        (base / "latest.txt").write_text(name + "\n")


def find_notebooks(notebooks_dir: str | Path | None = None) -> list[Path]:
    """The notebooks to run, in order: from `notebooks_dir`, else the source checkout's
    `notebooks/` (editable install), else the copies an installed wheel carries."""
    if notebooks_dir is None:
        import workbench

        package = Path(workbench.__file__).resolve().parent
        checkout = package.parent / "notebooks"
        has_notebooks = checkout.is_dir() and any(checkout.glob("[0-9][0-9]_*.ipynb"))
        notebooks_dir = checkout if has_notebooks else package / "notebooks"
    notebooks_dir = Path(notebooks_dir)
    found = sorted(p for p in notebooks_dir.glob("[0-9][0-9]_*.ipynb"))
    if not found:
        raise WorkbenchError(f"{notebooks_dir}: no notebooks (01_*.ipynb ...) found")
    return found


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


def _declared_parameters(path: Path) -> set[str]:
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


def run_notebooks(
    config_path: str | Path,
    out: str | Path | None = None,
    as_of: str | None = None,
    overrides: list[str] | None = None,
    notebooks_dir: str | Path | None = None,
    kernel_name: str | None = None,
    progress: Callable[[str], Any] | None = print,
) -> Path:
    """Run the whole pipeline as notebooks 01-05 into a new run folder and return that folder.

    Parameters
    ----------
    config_path : the YAML config; `overrides` (`["goal.window_days=60", ...]`) are applied on top.
    out : the folder that holds the runs (default: the config's `output_dir`).
    as_of : scoring date `YYYY-MM-DD` (default: the config's `scoring.as_of`, else the data's).
    notebooks_dir : where the notebooks are (default: the repository's `notebooks/`).
    kernel_name : Jupyter kernel (default: `workbench` if installed, else `python3`).
    progress : called with one line per step (default `print`; `None` for silence).

    Raises
    ------
    NotebookError : a notebook failed; its executed copy and HTML are still in the run folder.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    say = progress or (lambda _msg: None)
    cfg = load_config(config_path, overrides)
    for what, path in (
        ("events", cfg.events.path),
        ("profiles", cfg.profiles.path if cfg.profiles else None),
    ):
        if path is not None and not Path(path).exists():  # fail before a run folder is made
            raise DataError(f"{cfg.where()}: {what}.path: {path}: file not found")
    notebooks = find_notebooks(notebooks_dir)
    run_dir = new_run_dir(Path(out) if out is not None else cfg.output_dir)
    dump_config(cfg, run_dir / "config.yaml")
    kernel = pick_kernel(kernel_name)
    values = {"run_dir": str(run_dir), "as_of": as_of or "", "interactive": False}

    record: dict[str, Any] = {
        "config": str(Path(config_path).resolve()),
        "overrides": list(overrides or []),
        "as_of": as_of or "",
        "kernel": kernel,
        "started": dt.datetime.now().isoformat(timespec="seconds"),
        "notebooks": [],
    }
    say(f"run folder: {run_dir}")
    failure: NotebookError | None = None
    t_run = time.perf_counter()
    for i, src in enumerate(notebooks, 1):
        name = src.stem
        dest = run_dir / src.name
        declared = _declared_parameters(src)
        params = {k: v for k, v in values.items() if k in declared}
        say(f"[{i}/{len(notebooks)}] {name} ...")
        t0 = time.perf_counter()
        status, error = "ok", None
        try:
            papermill.execute_notebook(
                str(src),
                str(dest),
                parameters=params,
                kernel_name=kernel,
                progress_bar=False,
                log_output=False,
                cwd=str(run_dir),
                # Keep kernel start-up/shut-down logs off the terminal; cell errors stay in the notebook.
                extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
            )
        except PapermillExecutionError as exc:
            status = "failed"
            cause = (str(exc.evalue).strip().splitlines() or [""])[0]
            error = f"{exc.ename}: {cause}" if cause else exc.ename
            failure = NotebookError(
                f"notebook {name} failed: {error} (see {dest})",
                exit_code=_EXIT_CODES.get(exc.ename, 1),
                notebook=name,
            )
        except Exception as exc:  # kernel died, notebook unreadable, ...
            status = "failed"
            error = f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}"
            failure = NotebookError(f"notebook {name} failed: {error}", notebook=name)
        seconds = time.perf_counter() - t0
        html_name = None
        if dest.exists():
            try:
                html_name = export_html(dest).name
            except Exception as exc:  # keep the run going: the .ipynb is the record
                say(f"      could not export {dest.name} to HTML: {exc}")
        record["notebooks"].append(
            {
                "name": name,
                "status": status,
                "seconds": round(seconds, 1),
                "parameters": params,
                "ipynb": dest.name if dest.exists() else None,
                "html": html_name,
                "error": error,
            }
        )
        say(f"      {name} {'done' if status == 'ok' else 'FAILED'} in {seconds:.1f} s")
        if failure is not None:
            break

    record["seconds"] = round(time.perf_counter() - t_run, 1)
    record["status"] = "failed" if failure else "ok"
    (run_dir / "run.json").write_text(json.dumps(record, indent=2, default=str))
    report = write_report(run_dir, record)
    if failure is not None:
        say(f"report (incomplete): {report}")
        raise failure
    say(f"done: {len(record['notebooks'])} notebooks in {record['seconds']:.0f} s")
    return run_dir


# --------------------------------------------------------------------------- report.html


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _dig(d: Any, *paths: str) -> Any:
    """The first value found at any of the dotted `paths` in nested dicts (None if none)."""
    for p in paths:
        node = d
        for k in p.split("."):
            if isinstance(node, dict) and k in node:
                node = node[k]
            else:
                node = None
                break
        if node is not None:
            return node
    return None


def _fmt(v: Any, kind: str = "") -> str:
    if v is None:
        return "–"
    if kind == "pct" and isinstance(v, (int, float)):
        return f"{v:.1%}"
    if kind == "x" and isinstance(v, (int, float)):
        return f"{v:.2f}×"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:.3f}"
    if isinstance(v, dict):
        return ", ".join(f"{k}: {_fmt(x)}" for k, x in v.items())
    return str(v)


def _scores_summary(run_dir: Path) -> tuple[int | None, dict[str, int] | None]:
    path = run_dir / "scores.parquet"
    if not path.exists():
        return None, None
    try:
        import pyarrow.parquet as pq

        table = (
            pq.read_table(path, columns=["bucket"])
            if "bucket" in pq.read_schema(path).names
            else None
        )
        rows = pq.read_metadata(path).num_rows
    except Exception:
        return None, None
    if table is None:
        return rows, None
    counts = table.column("bucket").to_pandas().astype(str).value_counts()
    order = [b for b in ("high", "medium", "low") if b in counts.index]
    order += [b for b in counts.index if b not in order]
    return rows, {b: int(counts[b]) for b in order}


def headline(run_dir: str | Path) -> dict[str, Any]:
    """The headline figures of a run, read from `metrics.json` (missing ones are None)."""
    run_dir = Path(run_dir)
    m = _read_json(run_dir / "metrics.json")
    champion = _dig(m, "champion.name", "champion")
    if isinstance(champion, dict):
        champion = champion.get("name") or champion.get("model")
    auc = _dig(m, "validation.roc_auc", "champion_metrics.roc_auc", "validation_roc_auc")
    lift = _dig(m, "validation.lift_top_decile", "champion_metrics.lift_top_decile")
    if isinstance(champion, str):
        auc = auc if auc is not None else _dig(m, f"models.{champion}.roc_auc")
        lift = lift if lift is not None else _dig(m, f"models.{champion}.lift_top_decile")
    interval = None
    if isinstance(champion, str):
        low = _dig(m, f"models.{champion}.roc_auc_ci_low")
        high = _dig(m, f"models.{champion}.roc_auc_ci_high")
        if isinstance(low, (int, float)) and isinstance(high, (int, float)) and low == low:
            interval = f"{low:.3f} to {high:.3f}"  # (low == low: not NaN)
    base_rate = _dig(m, "base_rate", "validation.base_rate")
    profiles, positives = _dig(m, "validation.profiles"), _dig(m, "validation.positives")
    if (
        base_rate is None
        and isinstance(profiles, (int, float))
        and profiles
        and positives is not None
    ):
        base_rate = positives / profiles
    scored = _dig(m, "scoring.profiles_scored", "scoring.profiles", "profiles_scored")
    buckets = _dig(m, "scoring.bucket_sizes", "scoring.buckets", "bucket_sizes")
    if scored is None or buckets is None:
        rows, sizes = _scores_summary(run_dir)
        scored = scored if scored is not None else rows
        buckets = buckets if buckets is not None else sizes
    if isinstance(buckets, dict):
        order = [b for b in ("high", "medium", "low") if b in buckets]
        buckets = {b: buckets[b] for b in order + [b for b in buckets if b not in order]}
    return {
        "champion": champion,
        "validation ROC AUC": auc,
        "95% interval of the AUC": interval,
        "lift in top decile": lift,
        "base rate": base_rate,
        "profiles scored": scored,
        "bucket sizes": buckets,
    }


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(d, dict):
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}{k}."))
    elif isinstance(d, list) and len(d) > 6:
        out[prefix[:-1]] = f"{len(d)} items"
    elif isinstance(d, list):
        out[prefix[:-1]] = ", ".join(_fmt(x) for x in d) if d else "–"
    else:
        out[prefix[:-1]] = d
    return out


def as_table(data: dict[str, Any], skip: tuple[str, ...] = ()) -> pd.DataFrame:
    """A nested dict as a two-column table (`figure`, `value`) for display in a notebook."""
    import pandas as pd

    flat = {k: v for k, v in _flatten(data).items() if not k.startswith(skip)}
    return pd.DataFrame(
        {"figure": list(flat), "value": [_fmt(v) for v in flat.values()]}
    ).set_index("figure")


def key_figures(run_dir: str | Path, name: str = "headline") -> pd.DataFrame:
    """The key figures a notebook closes with: `headline` (from metrics.json and the scores)
    or the scalar values of one of the run's JSON files (`data_quality`, `goal_summary`, ...)."""
    import pandas as pd

    run_dir = Path(run_dir)
    if name == "headline":
        kinds = {"validation ROC AUC": "", "lift in top decile": "x", "base rate": "pct"}
        figures = headline(run_dir)
        return pd.DataFrame(
            {
                "figure": list(figures),
                "value": [_fmt(v, kinds.get(k, "")) for k, v in figures.items()],
            }
        ).set_index("figure")
    skip = ("columns", "files", "event_types", "profiles_file.columns", "cutoffs", "features")
    return as_table(_read_json(run_dir / f"{name}.json"), skip=skip)


def notes(messages: list[str] | None, empty: str = "Nothing to flag."):
    """Messages (quality notes, readiness, warnings) as a Markdown bullet list for a notebook."""
    from IPython.display import Markdown

    items = [f"- {m}" for m in messages or []]
    return Markdown("\n".join(items) if items else empty)


def data_warnings(quality: dict[str, Any]) -> list[str]:
    """What an analyst should check before going on: ingest notices (e.g. an ambiguous date
    format) and a profiles file whose ids match few of the profiles with events."""
    messages = [str(m) for key in ("notices", "warnings") for m in quality.get(key) or []]
    match = _dig(quality, "profiles_file.match")
    if isinstance(match, dict) and match.get("warning"):
        messages.append(str(match["warning"]))
    return messages


def reconciliation(quality: dict[str, Any]) -> pd.DataFrame:
    """Rows read = kept + quarantined + duplicates dropped, as a small table (from data_quality)."""
    import pandas as pd

    steps = [
        ("rows read", quality.get("rows_read")),
        ("quarantined (see reasons)", quality.get("rows_quarantined")),
        ("duplicates dropped", quality.get("duplicates_dropped")),
        ("rows kept", quality.get("rows_kept")),
        ("profiles", quality.get("profiles")),
        ("profiles found in the profiles file", _match_text(quality)),
        ("first event", quality.get("first_event")),
        ("last event", quality.get("last_event")),
        ("reconciles", quality.get("reconciles")),
    ]
    steps = [
        (s, v) for s, v in steps if v is not None or s != "profiles found in the profiles file"
    ]
    return pd.DataFrame(
        {"step": [s for s, _ in steps], "value": [_fmt(v) for _, v in steps]}
    ).set_index("step")


def _match_text(quality: dict[str, Any]) -> str | None:
    match = _dig(quality, "profiles_file.match")
    if not isinstance(match, dict):
        return None
    return (
        f"{match.get('matched', 0):,} of {match.get('profiles_with_events', 0):,} "
        f"({float(match.get('share', 0)):.0%})"
    )


def quarantine_reasons(quality: dict[str, Any]) -> pd.DataFrame:
    """Quarantined rows per reason, largest first (from data_quality)."""
    import pandas as pd

    reasons = quality.get("quarantine_reasons") or {}
    frame = pd.DataFrame({"reason": list(reasons), "rows": [int(v) for v in reasons.values()]})
    return frame.sort_values("rows", ascending=False).set_index("reason")


def resolve_run_dir(run_dir: str | Path = "", config: str | Path = "") -> Path:
    """The run folder a notebook works in.

    `run_dir` when given (as `workbench run` does). Else, with `config`, a new run folder
    for that config (its effective config written as `config.yaml`). Else the newest
    `reports/*/latest` run, searched from the current folder and its parent (so notebooks
    opened from `notebooks/` after `make run` find the sample run).
    """
    if str(run_dir):
        path = Path(run_dir).expanduser().resolve()
        if not (path / "config.yaml").exists():
            raise WorkbenchError(f"{path}: not a run folder (no config.yaml); run `workbench run`")
        return path
    here = Path.cwd()
    if str(config):
        cfg = load_config(config)
        base = cfg.output_dir
        if not base.is_absolute() and here.name == "notebooks":
            base = here.parent / base
        path = new_run_dir(base)
        dump_config(cfg, path / "config.yaml")
        print(f"new run folder: {path}")
        return path
    runs = []
    for root in (here, here.parent):
        for latest in (root / "reports").glob("*/latest"):
            target = latest.resolve()
            if (target / "config.yaml").exists():
                runs.append((target.stat().st_mtime, target))
    if not runs:
        raise WorkbenchError(
            "no run folder: set run_dir to a folder made by `workbench run` "
            "(reports/<name>/<time>), or config to a YAML file to start one"
        )
    path = max(runs)[1]
    print(f"using the latest run: {path}")
    return path


def _run_name(run_dir: Path) -> str:
    """The config's name (what the analyst called the goal), else the folder the run sits in."""
    try:
        import yaml

        name = (yaml.safe_load((run_dir / "config.yaml").read_text()) or {}).get("name")
    except (OSError, ValueError):
        name = None
    return str(name) if name else run_dir.parent.name


def write_report(run_dir: str | Path, record: dict[str, Any] | None = None) -> Path:
    """Write `report.html`: headline figures, links to each notebook's HTML and to the run's files."""
    run_dir = Path(run_dir)
    record = record if record is not None else _read_json(run_dir / "run.json")
    cfg_name = _run_name(run_dir)
    figures = headline(run_dir)
    kinds = {"validation ROC AUC": "", "lift in top decile": "x", "base rate": "pct"}
    esc = html.escape

    rows = "\n".join(
        f"<tr><th>{esc(k)}</th><td>{esc(_fmt(v, kinds.get(k, '')))}</td></tr>"
        for k, v in figures.items()
    )
    nb_rows = []
    for nb in record.get("notebooks", []):
        target = nb.get("html") or nb.get("ipynb")
        label = esc(nb["name"])
        link = f'<a href="{esc(target)}">{label}</a>' if target else label
        extra = f'<a href="{esc(nb["ipynb"])}">.ipynb</a>' if nb.get("ipynb") else ""
        status = esc(nb["status"]) + (f": {esc(nb['error'])}" if nb.get("error") else "")
        cls = "ok" if nb["status"] == "ok" else "failed"
        nb_rows.append(
            f'<tr class="{cls}"><td>{link}</td><td>{extra}</td><td>{status}</td>'
            f"<td>{nb.get('seconds', 0):.1f} s</td></tr>"
        )
    files = []
    for fname, what in _RUN_FILES:
        p = run_dir / fname
        if p.exists():
            href = fname + "/" if p.is_dir() else fname
            files.append(f'<li><a href="{esc(href)}">{esc(href)}</a> – {esc(what)}</li>')
    banner = ""
    if record.get("status") == "failed":
        banner = (
            '<p class="failed"><strong>This run did not finish.</strong> Open the failed '
            "notebook below to see the error; the figures above may be missing.</p>"
        )
    quality = _dig(_read_json(run_dir / "metrics.json"), "quality.messages")
    flagged = [q for q in quality or [] if str(q).startswith(("poor quality", "uncertain"))]
    warnings = (
        '<h2>Read this first</h2>\n<ul class="failed">\n'
        + "\n".join(f"<li>{esc(str(q))}</li>" for q in flagged)
        + "\n</ul>"
        if flagged
        else ""
    )
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{esc(cfg_name)} – propensity report {esc(run_dir.name)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; color: #222; }}
table {{ border-collapse: collapse; margin: 1rem 0; }}
th, td {{ text-align: left; padding: .3rem .8rem; border-bottom: 1px solid #ddd; }}
tr.failed td, p.failed, ul.failed {{ color: #a00; }}
</style></head><body>
<h1>{esc(cfg_name)}: propensity report</h1>
<p>Run <code>{esc(run_dir.name)}</code>, started {esc(str(record.get("started", "")))},
took {float(record.get("seconds", 0)):.0f} s.</p>
{banner}
{warnings}
<h2>Headline figures</h2>
<table>
{rows}
</table>
<h2>Notebooks</h2>
<table>
<tr><th>report</th><th>notebook</th><th>status</th><th>time</th></tr>
{chr(10).join(nb_rows)}
</table>
<h2>Files</h2>
<ul>
{chr(10).join(files)}
</ul>
</body></html>
"""
    path = run_dir / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
