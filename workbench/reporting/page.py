"""The HTML around a page: one stylesheet, embedded charts, navigation between a run's pages."""

from __future__ import annotations

import base64
import html
import io
from typing import Any

__all__ = ["CSS", "document", "figure", "nav"]

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 70rem;
       margin: 1.5rem auto; padding: 0 1.2rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.7rem; margin-bottom: .2rem; } h2 { margin-top: 2rem; font-size: 1.3rem; }
.sub { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: .8rem 0; max-width: 100%; }
th, td { text-align: left; padding: .3rem .7rem; border-bottom: 1px solid #ddd;
         vertical-align: top; }
th { white-space: nowrap; background: #f5f5f5; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
img { max-width: 100%; height: auto; }
.verdict { border-left: .4rem solid #888; padding: .6rem 1rem; background: #f7f7f7; }
.verdict.good { border-color: #2e7d32; } .verdict.usable { border-color: #f9a825; }
.verdict.poor { border-color: #c62828; } .verdict.uncertain { border-color: #6d4c41; }
.verdict strong { font-size: 1.15rem; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1.2rem; }
.facts dt { font-weight: 600; } .facts dd { margin: 0; }
.failed, tr.failed td { color: #a00; }
.note { background: #fff8e1; padding: .5rem .9rem; border-left: .3rem solid #f9a825; }
nav.run { font-size: .9rem; padding: .4rem 0; border-bottom: 1px solid #ddd; }
nav.run a, nav.run strong { margin-right: .9rem; }
code { font-size: .85em; color: #555; }
.raises { color: #1b5e20; } .lowers { color: #8e1b1b; }
"""


def document(title: str, body: str) -> str:
    """A whole page: `<title>`, the stylesheet and the body."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{CSS}</style></head><body>\n"
        f"{body}\n</body></html>\n"
    )


def figure(ax: Any, alt: str) -> str:
    """An embedded SVG of the figure that holds `ax` (closed afterwards), described by `alt`.

    SVG with its text kept as text (the notebooks' figures are drawn the same way): crisp at
    any zoom or print, a third of the PNG's size, and about half the time to draw. Without a
    date and with fixed element ids, the same figure gives the same bytes."""
    import matplotlib
    import matplotlib.pyplot as plt

    fig = ax.figure
    fig.tight_layout()
    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "workbench"}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img src="data:image/svg+xml;base64,{data}" alt="{html.escape(alt)}">'


def nav(links: list[tuple[str, str]], here: str = "") -> str:
    """A navigation bar: (href, text) pairs; the current page is plain text."""
    items = [
        f"<strong>{html.escape(text)}</strong>"
        if href == here
        else f'<a href="{html.escape(href)}">{html.escape(text)}</a>'
        for href, text in links
    ]
    return '<nav class="run">' + " ".join(items) + "</nav>"
