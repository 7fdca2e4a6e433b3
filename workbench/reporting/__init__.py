"""Reporting: what analysts and marketers read.

- `notebooks`: papermill execution of notebooks 01-05 and their HTML (code hidden);
- `landing`: `report.html`, the run's landing page;
- `display`: headline and key figures, reconciliation and notes for the notebooks;
- `tuner`: the goal tuner's widgets (notebook 02);
- `tables`: tables and charts as a reader sees them (`readable`, `table_html`, `figure_html`);
- `insights`: the landing page's parts for decisions (economics, cohorts, every run);
- `history`: `index.html`, every run of a goal over time (`write_index`).
"""

from workbench.reporting.display import (
    as_table,
    data_warnings,
    headline,
    key_figures,
    notes,
    quarantine_reasons,
    reconciliation,
)
from workbench.reporting.history import write_index
from workbench.reporting.insights import page_section
from workbench.reporting.landing import write_report
from workbench.reporting.notebooks import NOTEBOOKS, NotebookError, export_html, find_notebooks
from workbench.reporting.tables import readable, table_html

__all__ = [
    "NOTEBOOKS",
    "NotebookError",
    "as_table",
    "data_warnings",
    "export_html",
    "find_notebooks",
    "headline",
    "key_figures",
    "notes",
    "page_section",
    "quarantine_reasons",
    "readable",
    "reconciliation",
    "table_html",
    "write_index",
    "write_report",
]
