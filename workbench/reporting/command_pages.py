"""What `workbench score` and `workbench backtest` show: a short summary on the terminal and the
sections their run folder's `report.html` adds to the landing page.

- a score run re-scores with a saved model (no retraining): the page says which model, and
  points to the run that trained it for the verdict;
- a backtest ran the pipeline as if today were DATE: the page leads with what then happened
  (realised ranking, expected against actual per bucket and decile, 1 = highest scores).
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.reporting.tables import html_table, number, percent
from workbench.run import Run

__all__ = ["score_text", "backtest_text", "score_section", "backtest_section"]

esc = html.escape


def _bucket_lines(summary: dict[str, Any]) -> list[str]:
    buckets = summary.get("buckets") or {}
    total = sum(buckets.values()) or 1
    return [
        f"  {b:<7} {number(buckets[b]):>9} profiles ({percent(buckets[b] / total)})"
        for b in ("high", "medium", "low")
        if b in buckets
    ]


def score_text(run: Run) -> str:
    """The terminal summary of `workbench score`."""
    summary = run.read_json("score_summary")
    lines = [
        f"scored {number(summary.get('profiles'))} profiles as of {summary.get('as_of')} with "
        f"the saved model {run.record.get('model', '')}",
        *_bucket_lines(summary),
        f"  expected conversions {number(round(summary.get('expected_conversions') or 0))} "
        f"(mean probability {percent(summary.get('mean_probability'))})",
    ]
    segments = summary.get("segments") or []
    if segments:
        lines.append(
            "  segments: " + ", ".join(f"{s['segment']} {number(s['size'])}" for s in segments)
        )
    lines += [f"scores: {run.file('scores_csv')}", f"page: {run.file('report')}"]
    return "\n".join(lines)


def _auc(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, (int, float)) and math.isfinite(v) else "–"


def backtest_text(result: dict[str, Any]) -> str:
    """The terminal summary of `workbench backtest` (from its `backtest.json`)."""
    lines = [
        f"backtest as of {result['at']}: {number(result['profiles'])} profiles scored, then "
        "compared with what happened",
        f"  ROC AUC realised {_auc(result.get('realised_roc_auc'))} "
        f"(the validation figure said {_auc(result.get('validation_roc_auc'))})",
        f"  top 10% converted {number(result.get('realised_lift_top_decile'), 2)}x the average "
        f"rate of {percent(result.get('realised_base_rate'))}",
        "  per bucket: expected vs actual conversions",
    ]
    for row in result.get("by_bucket") or []:
        lines.append(
            f"    {row['bucket']:<7} {number(round(row['expected'] or 0)):>8} expected "
            f"{number(row['actual']):>8} actual  ({number(row['profiles'])} profiles)"
        )
    if result.get("note"):
        lines.append(f"  note: {result['note']}")
    if result.get("run_dir"):
        lines.append(f"page: {Path(result['run_dir']) / 'report.html'}")
    return "\n".join(lines)


def score_section(run: Run) -> str:
    """A score run's note: which saved model scored, and where its verdict is."""
    model = str(run.record.get("model", ""))
    trained = Path(model).parent / "report.html" if model else None
    link = (
        f' Its verdict and factors are on <a href="{esc(trained.as_uri())}">the report of the '
        "run that trained it</a>."
        if trained is not None and trained.exists()
        else ""
    )
    return (
        f'<p class="note">Scored with a saved model, without retraining: <code>{esc(model)}</code>.'
        f"{link}</p>"
    )


def backtest_section(run: Run) -> str:
    """What happened after the backtest date: realised ranking, expected vs actual."""
    result = run.optional_json("backtest")
    if not result:
        return ""
    lead = (
        f"As if today were {esc(result['at'])}: the pipeline saw only the events before it. "
        f"What then happened: ROC AUC {_auc(result.get('realised_roc_auc'))} realised, against "
        f"{_auc(result.get('validation_roc_auc'))} that validation reported; the top 10% "
        f"converted {number(result.get('realised_lift_top_decile'), 2)} times the average rate "
        f"of {percent(result.get('realised_base_rate'))}."
    )
    note = f'<p class="note">{esc(result["note"])}</p>' if result.get("note") else ""
    labels = {"mean_predicted": "expected rate", "actual_rate": "actual rate"}
    tables = ""
    for key, what in (("by_bucket", "bucket"), ("by_decile", "decile (1 = highest scores)")):
        rows = pd.DataFrame(result.get(key) or [])
        if len(rows):
            tables += f"<h3>Per {esc(what)}</h3>" + html_table(rows, labels=labels)
    return f"<h2>What happened after {esc(result['at'])}</h2>\n<p>{lead}</p>{note}{tables}"
