"""Page parts for a scored run: whom to contact (economics), who the model serves badly
(cohorts) and the way to every run of the goal. Each returns an HTML fragment ("" when the run
has nothing to show) for the landing page to place."""

from __future__ import annotations

import html
import os
from typing import Any

import pandas as pd

from workbench.cohorts import AUC_GAP, HISTORY, SPARSE, SPARSE_DAYS
from workbench.economics import money
from workbench.monitoring import CALIBRATION_GAP
from workbench.reporting.tables import figure_html, table_html
from workbench.run import INDEX, Run

__all__ = ["economics_section", "cohorts_section", "history_link", "page_section", "SECTION_CSS"]

# Styles the fragments rely on (the landing page includes them once).
SECTION_CSS = """
table.data { font-size: .9rem; }
table.data td, table.data th { text-align: right; }
table.data td:first-child, table.data th:first-child { text-align: left; }
p.lead { font-size: 1.1rem; }
p.small { font-size: .85rem; color: #555; }
ul.flags li { color: #a00; }
"""


def _cutoff_text(cut: dict[str, Any], currency: str, noun: str = "conversions") -> str:
    lowest = cut.get("lowest_probability_contacted")
    floor = f" (probability {lowest:.1%} and above)" if lowest is not None else ""
    return (
        f"the <strong>top {cut['target_share']:.1%}</strong> of scored profiles: "
        f"<strong>{cut['contacts']:,}</strong> profiles{floor}. Expected "
        f"<strong>{cut['expected_conversions']:,.0f}</strong> {noun} for "
        f"{money(cut['cost'], currency)} of contacts: profit "
        f"<strong>{money(cut['expected_profit'], currency)}</strong>. On the validation cutoff "
        f"the same depth delivered {cut['validated_conversions']:,.0f} {noun}, a profit of "
        f"{money(cut['validated_profit'], currency)}"
    )


def _decision_text(decision: dict[str, Any], segments: list[str], noun: str) -> str:
    cur = decision.get("currency", "")
    breakeven = decision["break_even_probability"]
    parts = []
    if not decision["pays"]:
        parts.append(
            f"<p class='lead'><strong>No target size pays.</strong> A contact costs "
            f"{money(decision['cost_per_contact'], cur)} and a conversion is worth "
            f"{money(decision['value_per_conversion'], cur)}, so a profile must convert with at "
            f"least {breakeven:.1%} chance; on the validation cutoff no group of top-scored "
            "profiles did. Lower the cost per contact or contact no one.</p>"
        )
        return "\n".join(parts)
    parts.append(
        f"<p class='lead'>Most profitable: contact {_cutoff_text(decision['optimal'], cur, noun)}.</p>"
    )
    within = decision.get("within_budget")
    if within:
        if decision.get("budget_binds"):
            parts.append(
                f"<p class='lead'>Within the budget of {money(decision['budget'], cur)}: contact "
                f"{_cutoff_text(within, cur, noun)}.</p>"
            )
        else:
            parts.append(
                f"<p>The budget of {money(decision['budget'], cur)} does not bind: the most "
                f"profitable audience costs {money(decision['optimal']['cost'], cur)}.</p>"
            )
    if segments:
        names = ", ".join(f"<code>{html.escape(s)}</code>" for s in segments)
        parts.append(f"<p>Segment {names} holds this audience (segments/).</p>")
    parts.append(
        f"<p class='small'>Break-even: a profile below {breakeven:.1%} probability costs more to "
        "contact than it is expected to bring. Profit assumes a contacted profile that reaches "
        "the goal is worth the value per conversion and that contacting does not change who "
        "converts (a propensity, not an uplift).</p>"
    )
    return "\n".join(parts)


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
    parts = []
    if decision:
        parts.append("<h2>Whom to contact</h2>")
        marked = [r.name for r in run.config.segments if r.top_by_profit]
        # a churn goal's positives are churners: the value is reaching them in time
        noun = "conversions" if run.config.goal.outcome == "occurs" else "churners reached"
        parts.append(_decision_text(decision, marked, noun))
    else:
        parts.append("<h2>Conversions by target size</h2>")
        parts.append(
            "<p>How many conversions each contact brings as the audience grows from the top "
            "scores down. Add an <code>economics:</code> section (cost_per_contact, "
            "value_per_conversion, budget) to the config to get the profit-optimal target size."
            "</p>"
        )
    if run.has("profit_curve"):
        curve = run.read_frame("profit_curve")
        parts.append(figure_html(plot_profit_curve, curve, decision, alt="profit by target size"))
    if len(groups):
        parts.append(table_html(groups, currency, headers={"group": "bucket or segment"}))
    cutoffs = body.get("validation_cutoffs") or []
    if cutoffs:
        parts.append(
            f"<p class='small'>Curve from the validation cutoff(s) {', '.join(cutoffs)}.</p>"
        )
    return "\n".join(parts)


_COHORT_COLUMNS = {
    "cohort": "cohort",
    "level": "group",
    "scored_profiles": "scored profiles",
    "scored_share": "share of scored",
    "high_share": "high-bucket share",
    "base_rate": "base rate (validation)",
    "expected": "expected conversions",
    "actual": "actual conversions",
    "roc_auc": "ROC AUC (validation)",
    "flag": "flag",
}


def cohorts_section(run: Run) -> str:
    """Who the model serves badly: flagged cohorts, the share too sparse to score well, and
    per cohort the scored distribution, base rate, calibration and AUC."""
    if not run.has("cohorts"):
        return ""
    table = run.read_frame("cohorts")
    table["flag"] = table["flag"].astype("string").fillna("").astype(str)
    parts = ["<h2>Who the model serves badly</h2>"]
    flagged = table[table["flag"] != ""]
    if len(flagged):
        items = "\n".join(
            f"<li><strong>{html.escape(str(r.cohort))} = {html.escape(str(r.level))}</strong>: "
            f"{html.escape(r.flag)}</li>"
            for r in flagged.itertuples(index=False)
        )
        parts.append(f'<ul class="flags">\n{items}\n</ul>')
    else:
        parts.append("<p>No cohort is scored markedly worse than the others.</p>")
    sparse = table[(table["cohort"] == HISTORY) & (table["level"].astype(str) == SPARSE)]
    if len(sparse):
        row = sparse.iloc[0]
        auc = row["roc_auc"]
        ranking = (
            f"on the validation cutoff the model ranked them with an AUC of {auc:.3f}"
            if pd.notna(auc)
            else "too few of them on the validation cutoff to judge the ranking"
        )
        parts.append(
            f"<p><strong>{row['scored_share']:.1%}</strong> of the scored profiles "
            f"({int(row['scored_profiles']):,}) have fewer than {SPARSE_DAYS} active days in the "
            f"feature lookback: too sparse to score well; {ranking}.</p>"
        )
    # the reasons are listed above; the table says which kind
    table["flag"] = table["flag"].map(
        lambda text: ", ".join(part.split(":")[0] for part in text.split("; ")) if text else ""
    )
    parts.append(table_html(table, columns=list(_COHORT_COLUMNS), headers=_COHORT_COLUMNS))
    parts.append(
        f"<p class='small'>Flagged when a cohort's validation AUC is {AUC_GAP} or more below the "
        "AUC typical of its attribute's cohorts with its 95% interval below it too, or when its "
        "actual conversions "
        f"miss the expected ones by more than {CALIBRATION_GAP:.0%} and more than two standard "
        "deviations (README, Cohorts).</p>"
    )
    return "\n".join(parts)


def history_link(run: Run) -> str:
    """A link to the goal's `index.html` (every run over time; each command rewrites it when
    it ends)."""
    index = run.goal_folder / INDEX
    href = os.path.relpath(index, run.base / run.name)
    return f'<p><a href="{html.escape(href)}">Every run of this goal, over time</a></p>'


SECTIONS = {"economics": economics_section, "cohorts": cohorts_section}


def page_section(run: Run, name: str):
    """One of the landing page's parts (`economics`, `cohorts`) for display in a notebook."""
    from IPython.display import HTML

    return HTML(f"<style>{SECTION_CSS}</style>" + SECTIONS[name](run))
