"""Reporting: what analysts and marketers read.

- `notebooks`: papermill execution of notebooks 01-05 and their HTML (code hidden);
- `landing`: `report.html`, the run's landing page;
- `display`: headline and key figures, reconciliation and notes for the notebooks;
- `evaluation`: the folds, the drift check and the reported figure as tables (notebook 03);
- `tuner`: the goal tuner's widgets (notebook 02).
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
from workbench.reporting.evaluation import drift_table, fold_table, reported_figure
from workbench.reporting.landing import write_report
from workbench.reporting.notebooks import NOTEBOOKS, NotebookError, export_html, find_notebooks

__all__ = [
    "NOTEBOOKS",
    "NotebookError",
    "as_table",
    "data_warnings",
    "drift_table",
    "fold_table",
    "export_html",
    "find_notebooks",
    "headline",
    "key_figures",
    "notes",
    "quarantine_reasons",
    "reconciliation",
    "reported_figure",
    "write_report",
]
