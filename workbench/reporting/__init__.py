"""Reporting: what analysts and marketers read.

- `notebooks`: papermill execution of notebooks 01-05 and their HTML (code hidden);
- `landing`: `report.html`, the run's landing page;
- `display`: headline and key figures, reconciliation and notes for the notebooks;
- `evaluation`: the folds, the drift check and the reported figure as tables (notebook 03);
- `tuner`: the goal tuner's widgets (notebook 02);
- `tables`: readable numbers and tables (`readable` for notebooks, `html_table` for pages);
- `insight`: what the landing page says (goal in words, verdict, buckets, factors, history);
- `browser`: headless Chromium renders a run's pages, screenshots and checks them;
- `decisions`: the landing page's parts for decisions (whom to contact, cohorts);
- `history`: `index.html`, every run of a goal over time (`write_index`).
"""

from importlib import import_module
from typing import TYPE_CHECKING

# Loaded on first use: `workbench run` starts its kernel (`reporting.notebooks`) before anything
# heavy is imported, and each HTML page is exported by a fresh worker process; importing every
# page module (pandas, matplotlib) up front took two seconds there.
_WHERE = {
    "page_section": "decisions",
    "as_table": "display",
    "coefficient_table": "display",
    "data_warnings": "display",
    "drift_table": "evaluation",
    "fold_table": "evaluation",
    "reported_figure": "evaluation",
    "figures_table": "display",
    "headline": "display",
    "key_figures": "display",
    "notes": "display",
    "quarantine_reasons": "display",
    "reconciliation": "display",
    "write_index": "history",
    "write_report": "landing",
    "NOTEBOOKS": "notebooks",
    "NotebookError": "notebooks",
    "export_html": "notebooks",
    "find_notebooks": "notebooks",
    "html_table": "tables",
    "number": "tables",
    "percent": "tables",
    "readable": "tables",
}

if TYPE_CHECKING:  # for type checkers and editors: the names as they were
    from workbench.reporting.decisions import page_section
    from workbench.reporting.display import (
        as_table,
        coefficient_table,
        data_warnings,
        figures_table,
        headline,
        key_figures,
        notes,
        quarantine_reasons,
        reconciliation,
    )
    from workbench.reporting.evaluation import drift_table, fold_table, reported_figure
    from workbench.reporting.history import write_index
    from workbench.reporting.landing import write_report
    from workbench.reporting.notebooks import NOTEBOOKS, NotebookError, export_html, find_notebooks
    from workbench.reporting.tables import html_table, number, percent, readable


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(import_module(f"workbench.reporting.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'workbench.reporting' has no attribute {name!r}")


__all__ = [
    "NOTEBOOKS",
    "NotebookError",
    "as_table",
    "coefficient_table",
    "data_warnings",
    "drift_table",
    "fold_table",
    "figures_table",
    "html_table",
    "number",
    "percent",
    "readable",
    "export_html",
    "find_notebooks",
    "headline",
    "key_figures",
    "notes",
    "page_section",
    "quarantine_reasons",
    "reconciliation",
    "reported_figure",
    "write_index",
    "write_report",
]
