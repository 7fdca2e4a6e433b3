"""Page parts for a scored run's decisions: whom to contact (the `economics` target size), who
the model serves badly (cohorts) and the way to every run of the goal. Each returns an HTML
fragment ("" when the run has nothing to show) for the landing page (and notebook 05) to place,
built with the page's own tables and charts (`reporting.tables`, `reporting.page`)."""

from __future__ import annotations

import html
import os
from typing import Any

import pandas as pd

from workbench.cohorts import AUC_GAP, HISTORY, SPARSE, SPARSE_DAYS
from workbench.economics import money
from workbench.monitoring import CALIBRATION_GAP
from workbench.reporting.page import figure
from workbench.reporting.tables import html_table, number, percent
from workbench.run import INDEX, Run

__all__ = ["economics_section", "cohorts_section", "history_link", "page_section"]

esc = html.escape


def _axes(size: tuple[float, float]):
    from matplotlib.figure import Figure

    return Figure(figsize=size).add_subplot()


def _converts(run: Run) -> str:
    """What the expected counts count: conversions, or churners for a churn goal."""
    return "conversions" if run.config.goal.outcome == "occurs" else "churners reached"


# ----------------------------------------------------------------------------- economics
def _cutoff_text(cut: dict[str, Any], currency: str, noun: str) -> str:
    lowest = cut.get("lowest_probability_contacted")
    floor = f" (probability {percent(lowest)} and above)" if lowest is not None else ""
    return (
        f"the <strong>top {percent(cut['target_share'])}</strong> of scored profiles: "
        f"<strong>{number(cut['contacts'])}</strong> profiles{floor}. Expected "
        f"<strong>{number(round(cut['expected_conversions']))}</strong> {noun} for "
        f"{money(cut['cost'], currency)} of contacts: profit "
        f"<strong>{money(cut['expected_profit'], currency)}</strong>. On the validation cutoff "
        f"the same depth delivered {number(round(cut['validated_conversions']))} {noun}, a profit "
        f"of {money(cut['validated_profit'], currency)}"
    )


def _decision_text(decision: dict[str, Any], segments: list[str], noun: str) -> str:
    cur = decision.get("currency", "")
    breakeven = decision["break_even_probability"]
    if not decision["pays"]:
        return (
            f"<p><strong>No target size pays.</strong> A contact costs "
            f"{money(decision['cost_per_contact'], cur)} and one of the {noun} is worth "
            f"{money(decision['value_per_conversion'], cur)}, so a profile must reach the goal "
            f"with at least {percent(breakeven)} chance; on the validation cutoff no group of "
            "top-scored profiles did. Lower the cost per contact or contact no one.</p>"
        )
    parts = [f"<p>Most profitable: contact {_cutoff_text(decision['optimal'], cur, noun)}.</p>"]
    within = decision.get("within_budget")
    if within and decision.get("budget_binds"):
        parts.append(
            f"<p>Within the budget of {money(decision['budget'], cur)}: contact "
            f"{_cutoff_text(within, cur, noun)}.</p>"
        )
    elif within:
        parts.append(
            f"<p>The budget of {money(decision['budget'], cur)} does not bind: the most "
            f"profitable audience costs {money(decision['optimal']['cost'], cur)}.</p>"
        )
    if segments:
        names = ", ".join(f"<code>{esc(s)}</code>" for s in segments)
        parts.append(f"<p>Segment {names} holds this audience.</p>")
    parts.append(
        f'<p class="sub">Break-even: a profile below {percent(breakeven)} probability costs more '
        "to contact than it is expected to bring. Profit assumes a contacted profile that reaches "
        "the goal is worth the value per conversion and that contacting does not change who "
        "converts (a propensity, not an uplift).</p>"
    )
    return "\n".join(parts)


def _groups_table(groups: pd.DataFrame, currency: str, noun: str) -> str:
    shown = groups.copy()
    for col in ("cost", "value", "profit"):
        if col in shown:
            shown[col] = shown[col].map(lambda v: money(v, currency))
    labels = {"group": "bucket or segment", "expected_conversions": f"expected {noun}"}
    return html_table(shown, labels=labels)


def economics_section(run: Run) -> str:
    """Whom to contact: the profit-optimal and the budget cut-off with the profit curve and
    cost, value and profit per bucket and segment; without `economics`, conversions per
    contact by target size."""
    from workbench.plots.decisions import plot_profit_curve

    body = run.optional_json("economics")
    if not body:
        return ""
    decision = body.get("decision")
    groups = pd.DataFrame(body.get("groups") or [])
    currency = (body.get("economics") or {}).get("currency", "")
    noun = _converts(run)
    if decision:
        marked = [r.name for r in run.config.segments if r.top_by_profit]
        parts = [
            "<h2>Whom to contact: the target size</h2>",
            _decision_text(decision, marked, noun),
        ]
    else:
        parts = [
            "<h2>Whom to contact: conversions by target size</h2>",
            "<p>How many conversions each contact brings as the audience grows from the top "
            "scores down. Add an <code>economics:</code> section (cost_per_contact, "
            "value_per_conversion, budget) to the config to get the most profitable target size."
            "</p>",
        ]
    if run.has("profit_curve"):
        ax = plot_profit_curve(run.read_frame("profit_curve"), decision, ax=_axes((8, 3.6)))
        parts.append(figure(ax, "profit by target size"))
    if len(groups):
        parts.append(_groups_table(groups, currency, noun))
    cutoffs = body.get("validation_cutoffs") or []
    if cutoffs:
        parts.append(
            f'<p class="sub">Curve from the validation cutoff(s) {", ".join(cutoffs)}.</p>'
        )
    return "\n".join(parts)


# ----------------------------------------------------------------------------- cohorts
_COHORT_COLUMNS = [
    "cohort",
    "level",
    "scored_profiles",
    "scored_share",
    "high_share",
    "base_rate",
    "expected",
    "actual",
    "roc_auc",
    "flag",
]
# Short headers keep the table within the page; the sentence above it says which figures are
# today's and which the validation cutoff's.
_COHORT_LABELS = {
    "level": "group",
    "scored_profiles": "scored",
    "scored_share": "share",
    "high_share": "high bucket",
    "base_rate": "base rate",
    "expected": "expected",
    "actual": "actual",
    "roc_auc": "AUC",
}


def cohorts_section(run: Run) -> str:
    """Who the model serves badly: flagged cohorts, the share too sparse to score well, and
    per cohort the scored distribution, base rate, calibration and AUC."""
    if not run.has("cohorts"):
        return ""
    table = run.read_frame("cohorts")
    table["flag"] = table["flag"].astype("string").fillna("").astype(str)
    parts = ["<h2>Who the model serves badly: cohorts</h2>"]
    flagged = table[table["flag"] != ""]
    if len(flagged):
        items = "\n".join(
            f"<li><strong>{esc(str(r.cohort))} = {esc(str(r.level))}</strong>: {esc(r.flag)}</li>"
            for r in flagged.itertuples(index=False)
        )
        parts.append(f'<ul class="failed">\n{items}\n</ul>')
    else:
        parts.append("<p>No cohort is scored markedly worse than the others.</p>")
    sparse = table[(table["cohort"] == HISTORY) & (table["level"].astype(str) == SPARSE)]
    if len(sparse):
        row = sparse.iloc[0]
        ranking = (
            f"on the validation cutoff the model ranked them with an AUC of {row['roc_auc']:.3f}"
            if pd.notna(row["roc_auc"])
            else "too few of them on the validation cutoff to judge the ranking"
        )
        parts.append(
            f"<p><strong>{percent(row['scored_share'])}</strong> of the scored profiles "
            f"({number(int(row['scored_profiles']))}) have fewer than {SPARSE_DAYS} active days "
            f"in the feature lookback: too sparse to score well; {ranking}.</p>"
        )
    # the reasons are listed above; the table says which kind
    table["flag"] = table["flag"].map(
        lambda text: ", ".join(part.split(":")[0] for part in text.split("; ")) if text else ""
    )
    shares = ["scored_share", "high_share", "base_rate"]
    parts.append(
        "<p>Per cohort: today's scored profiles, their share and the share in the high bucket; "
        "on the validation cutoff (outcomes the model never saw) the base rate, expected and "
        f"actual {_converts(run)} and the ROC AUC.</p>"
    )
    parts.append(html_table(table[_COHORT_COLUMNS], percent_columns=shares, labels=_COHORT_LABELS))
    parts.append(
        f'<p class="sub">Flagged when a cohort\'s validation AUC is {AUC_GAP} or more below the '
        "AUC typical of its attribute's cohorts with its 95% interval below it too, or when its "
        f"actual conversions miss the expected ones by more than {CALIBRATION_GAP:.0%} and more "
        "than two standard deviations (README, Cohorts).</p>"
    )
    return "\n".join(parts)


# ----------------------------------------------------------------------------- every run
def history_link(run: Run) -> str:
    """A link to the goal's `index.html` (every run over time; each command rewrites it when
    it ends)."""
    href = os.path.relpath(run.goal_folder / INDEX, run.base / run.name)
    return (
        f'<p><a href="{esc(href)}">Every run of this goal over time</a>: scores, drift and how '
        "earlier scores turned out.</p>"
    )


SECTIONS = {"economics": economics_section, "cohorts": cohorts_section}


def page_section(run: Run, name: str):
    """One of the landing page's parts (`economics`, `cohorts`) for display in a notebook."""
    from IPython.display import HTML

    return HTML(SECTIONS[name](run))
