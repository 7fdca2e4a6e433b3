"""`report.html`: the landing page of a run, with its headline figures and links."""

from __future__ import annotations

import html
from pathlib import Path

from workbench.reporting.display import _dig, _fmt, headline
from workbench.reporting.insights import (
    SECTION_CSS,
    cohorts_section,
    economics_section,
    history_link,
)
from workbench.run import ARTIFACTS, Run

__all__ = ["write_report"]

# The run's files the landing page links to, when present (in `ARTIFACTS` order).
LINKED = {
    "scores_csv",
    "segments",
    "segments_summary",
    "metrics",
    "quality",
    "goal_summary",
    "quarantine",
    "config",
    "model",
    "record",
    "economics",
    "profit_curve",
    "cohorts",
}


def write_report(run: Run) -> Path:
    """Write `report.html`: headline figures, links to each notebook's HTML and to the run's files."""
    record = run.record
    cfg_name = run.title
    figures = headline(run)
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
    for item in ARTIFACTS:
        p = run.file(item.name)
        if item.name in LINKED and p.exists():
            href = item.file + "/" if p.is_dir() else item.file
            files.append(f'<li><a href="{esc(href)}">{esc(href)}</a> – {esc(item.holds)}</li>')
    banner = ""
    if record.get("status") == "failed":
        banner = (
            '<p class="failed"><strong>This run did not finish.</strong> Open the failed '
            "notebook below to see the error; the figures above may be missing.</p>"
        )
    quality = _dig(run.optional_json("metrics"), "quality.messages")
    flagged = [q for q in quality or [] if str(q).startswith(("poor quality", "uncertain"))]
    warnings = (
        '<h2>Read this first</h2>\n<ul class="failed">\n'
        + "\n".join(f"<li>{esc(str(q))}</li>" for q in flagged)
        + "\n</ul>"
        if flagged
        else ""
    )
    # Decisions (issue 15): whom to contact, who the model serves badly, every run over time.
    insights = "\n".join(p for p in (economics_section(run), cohorts_section(run)) if p)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{esc(cfg_name)} – propensity report {esc(run.name)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; color: #222; }}
table {{ border-collapse: collapse; margin: 1rem 0; }}
th, td {{ text-align: left; padding: .3rem .8rem; border-bottom: 1px solid #ddd; }}
tr.failed td, p.failed, ul.failed {{ color: #a00; }}
{SECTION_CSS}
</style></head><body>
<h1>{esc(cfg_name)}: propensity report</h1>
<p>Run <code>{esc(run.name)}</code>, started {esc(str(record.get("started", "")))},
took {float(record.get("seconds", 0)):.0f} s.</p>
{banner}
{warnings}
<h2>Headline figures</h2>
<table>
{rows}
</table>
{insights}
{history_link(run)}
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
    return run.write_text("report", page)
