"""`reports/<name>/index.html`: every run of a goal over time, with its headline figures, and
expected against realised conversions per bucket for every run whose outcome is known.

Realised figures come from a backtest's own `backtest.json` and from every comparison
(`workbench compare`) in which the run was the earlier one, the newest such comparison winning.
Each command rewrites the index when it ends (`write_index`), so it is never older than the
newest run.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.atomic import write_text
from workbench.errors import WorkbenchError
from workbench.reporting.page import document, figure
from workbench.reporting.tables import html_table
from workbench.run import INDEX, LATEST, SUBFOLDERS, Run

__all__ = ["run_folders", "run_history", "realised_history", "write_index"]

_KINDS = {
    "notebooks": "training run",
    "pipeline": "training run",
    "interactive": "training run",
    "score": "re-scoring",
    "backtest": "backtest",
    "compare": "comparison",
}


def run_folders(folder: str | Path) -> list[Run]:
    """The finished run folders of a goal: its runs, scores/, backtests/ and compares/."""
    folder = Path(folder)
    bases = [folder] + [folder / s for s in SUBFOLDERS if s != "validate"]
    runs = []
    for base in bases:
        if not base.is_dir():
            continue
        for path in sorted(base.iterdir()):
            if path.name.startswith(".") or path.name == LATEST or path.is_symlink():
                continue
            if path.name in SUBFOLDERS or not (path / "run.json").is_file():
                continue
            runs.append(Run(path))
    return runs


def _realised(runs: list[Run]) -> dict[str, dict[str, Any]]:
    """Run path -> its realised figures (``roc_auc``, ``by_bucket``, ``source``)."""
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for run in runs:
        kind = run.record.get("kind")
        if kind == "backtest" and run.has("backtest"):
            bt = run.read_json("backtest")
            found[str(run.path)] = (
                run.name,
                {
                    "roc_auc": bt.get("realised_roc_auc"),
                    "by_bucket": bt.get("by_bucket"),
                    "source": run,
                },
            )
        elif kind == "compare" and run.has("comparison"):
            realised = run.read_json("comparison").get("realised")
            earlier = run.record.get("earlier")
            if realised and earlier:
                previous = found.get(str(Path(earlier)))
                if previous is None or previous[0] <= run.name:
                    found[str(Path(earlier))] = (run.name, {**realised, "source": run})
    return {k: v for k, (_, v) in found.items()}


def _kind(record: dict) -> str:
    kind = _KINDS.get(record.get("kind", ""), record.get("kind") or "run")
    status = record.get("status")
    return kind if status in ("ok", None) else f"{kind} ({status})"


def _link(folder: Path, run: Run) -> str:
    record = run.record
    page = None
    if record.get("kind") == "compare":
        page = next((n.get("html") for n in record.get("notebooks", []) if n.get("html")), None)
        page = page or ("comparison.json" if run.has("comparison") else None)
    elif run.has("report"):
        page = "report.html"
    if page is None:
        return html.escape(run.name)
    href = os.path.relpath(run.path / page, folder)
    return f'<a href="{html.escape(href)}">{html.escape(run.name)}</a>'


def _model_figures(run: Run) -> tuple[str | None, float | None]:
    from workbench.workflow.insights import training_run

    trained = training_run(run)
    metrics = trained.optional_json("metrics") if trained is not None else {}
    champion = metrics.get("champion")
    auc = metrics.get("models", {}).get(champion, {}).get("roc_auc") if champion else None
    return champion, auc


def run_history(folder: str | Path) -> pd.DataFrame:
    """One row per scored run of the goal (newest first): its page, kind (and status when not
    ok), scoring date, goal, model and validation AUC, profiles scored, expected conversions
    and, when known, realised AUC and actual against expected conversions."""
    from workbench.reporting.goal_text import goal_words

    folder = Path(folder)
    runs = run_folders(folder)
    realised = _realised(runs)
    rows = []
    for run in runs:
        record = run.record
        if record.get("kind") == "compare":
            continue
        summary = run.optional_json("score_summary")
        champion, auc = _model_figures(run)
        try:
            goal = goal_words(run.config).outcome
        except WorkbenchError:  # an unreadable config must not hide the other runs
            goal = None
        known = realised.get(str(run.path), {})
        buckets = pd.DataFrame(known.get("by_bucket") or [])
        rows.append(
            {
                "run": _link(folder, run),
                "kind": _kind(record),
                "scored on": summary.get("as_of"),
                "goal": goal,
                "model": champion,
                "AUC (validation)": auc,
                "profiles": summary.get("profiles"),
                "expected": summary.get("expected_conversions"),
                "AUC (realised)": known.get("roc_auc"),
                "actual vs expected": (
                    buckets["actual"].sum() / buckets["expected"].sum() - 1
                    if len(buckets) and buckets["expected"].sum() > 0
                    else None
                ),
                "_started": str(record.get("started", "")),
            }
        )
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame = frame.sort_values(["scored on", "_started"], ascending=False, na_position="last")
    return frame.drop(columns="_started").reset_index(drop=True)


def realised_history(folder: str | Path) -> pd.DataFrame:
    """Per run whose outcome is known and bucket: ``run, as_of, bucket, profiles,
    mean_predicted, actual_rate, expected, actual`` (for the chart across runs)."""
    runs = run_folders(folder)
    frames = []
    for path, known in _realised(runs).items():
        run = Run(path)
        as_of = run.optional_json("score_summary").get("as_of")
        table = pd.DataFrame(known.get("by_bucket") or [])
        if as_of and len(table):
            frames.append(table.assign(run=run.name, as_of=as_of))
    if not frames:
        return pd.DataFrame(columns=["run", "as_of", "bucket", "mean_predicted", "actual_rate"])
    return pd.concat(frames, ignore_index=True)


def _comparisons(folder: Path) -> pd.DataFrame:
    rows = []
    for run in run_folders(folder):
        record = run.record
        if record.get("kind") != "compare":
            continue
        body = run.optional_json("comparison")
        drift, moved = body.get("score_drift") or {}, body.get("migration") or {}
        realised = body.get("realised") or {}
        rows.append(
            {
                "comparison": _link(folder, run),
                "earlier (scored on)": (body.get("earlier") or {}).get("scoring date"),
                "later (scored on)": (body.get("later") or {}).get("scoring date"),
                "score PSI": drift.get("psi"),
                "kept bucket share": moved.get("kept_share"),
                "kappa": moved.get("kappa"),
                "AUC realised (earlier)": realised.get("roc_auc"),
                "flags": "failed"
                if record.get("status") == "failed"
                else len(body.get("flags") or []),
            }
        )
    return pd.DataFrame(rows)


def write_index(folder: str | Path) -> Path:
    """Write `<folder>/index.html`: every run of the goal with its headline figures, the
    comparisons, and expected against realised conversions per bucket across runs."""
    from workbench.plots.monitoring import plot_realised_over_time

    folder = Path(folder)
    runs = run_history(folder)
    history = realised_history(folder)
    compares = _comparisons(folder)
    title = _title(folder)
    parts = [f"<h1>{html.escape(title)}: every run over time</h1>"]
    if runs.empty:
        parts.append("<p>No scored run yet.</p>")
    else:
        goals = runs["goal"].dropna().unique()
        if len(goals) == 1:  # one goal: said once, not on every row
            parts.append(f'<p class="sub">Goal: {html.escape(str(goals[0]))}.</p>')
            runs = runs.drop(columns="goal")
        parts.append(
            "<p>Training runs (<code>workbench run</code>), re-scorings (<code>workbench "
            "score</code>) and backtests, newest scoring date first. Realised figures appear "
            "once a run's outcome window has closed and a later run was compared with it "
            "(<code>workbench compare EARLIER LATER</code>) or the run was a backtest.</p>"
        )
        runs["actual vs expected"] = runs["actual vs expected"].map(
            lambda v: "–" if v is None or pd.isna(v) else f"{v:+.1%}"
        )
        parts.append(html_table(runs, labels={"expected": "expected"}, raw_html=["run"]))
    parts.append("<h2>Expected against realised, run by run</h2>")
    if len(history):
        ax = plot_realised_over_time(history, ax=_axes((9, 3.8)))
        parts.append(figure(ax, "expected against realised conversion rate per bucket"))
        shown = history[
            [
                "run",
                "as_of",
                "bucket",
                "profiles",
                "mean_predicted",
                "actual_rate",
                "expected",
                "actual",
            ]
        ]
        labels = {"as_of": "scored on", "mean_predicted": "expected rate"}
        parts.append(html_table(shown, labels=labels))
    else:
        parts.append("<p>No run's outcome is known yet.</p>")
    if len(compares):
        parts.append("<h2>Comparisons</h2>")
        parts.append(html_table(compares, raw_html=["comparison"]))
    path = folder / INDEX
    write_text(path, document(f"{title}: every run over time", "\n".join(parts)))
    return path


def _axes(size: tuple[float, float]):
    from matplotlib.figure import Figure

    return Figure(figsize=size).add_subplot()


def _title(folder: Path) -> str:
    """The goal's name (its newest run's config name), else the folder's name."""
    for run in reversed(run_folders(folder)):
        try:
            return run.config.name
        except WorkbenchError:  # an unreadable config: try an older run
            continue
    return folder.name
