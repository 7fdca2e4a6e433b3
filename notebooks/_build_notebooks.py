"""Write notebooks 01-05 (no outputs). Run once after editing: `.venv/bin/python notebooks/_build_notebooks.py`.

The .ipynb files are the source analysts open and `workbench run` executes; this script only
keeps their structure uniform (title, one `parameters` cell, imports, numbered sections, key
figures). Edit the notebooks directly if you prefer and stop using this script.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

RUN_DIR = 'run_dir: str = ""  # run folder written by workbench run (empty: the latest run under reports/)'
AS_OF = 'as_of: str = ""  # scoring date YYYY-MM-DD (empty: config scoring.as_of, else the day after the last event)'

OPENING = (
    "Run by `workbench run` (parameters injected, code hidden in the HTML report). "
    "Opened on its own in Jupyter, it works on `run_dir`, or the latest run under `reports/` "
    "when that is empty; the run folder's files are the hand-over between notebooks."
)


def md(text: str):
    return new_markdown_cell(text.strip())


def code(text: str):
    return new_code_cell(text.strip())


def params(*lines: str):
    cell = new_code_cell("\n".join(lines))
    cell.metadata["tags"] = ["parameters"]
    return cell


NOTEBOOKS: dict[str, list] = {}

NOTEBOOKS["01_data_prep"] = [
    md(f"""
# 01 · Data preparation: data quality and event mix

**Purpose.** Read the raw experience events (and profiles) named in the config, map them to the
canonical columns (`profile_id`, `timestamp` in UTC, `event_type`), set aside unusable rows
with a reason, drop duplicates, and check that every row read is accounted for.

**Writes** `events.parquet`, `profiles.parquet`, `data_quality.json` and `quarantine.csv` in
the run folder; every later notebook reads them.

{OPENING} To start a fresh run folder from a config file, set `config` below.
"""),
    params(
        RUN_DIR,
        AS_OF,
        'config: str = ""  # config YAML; only used when run_dir is empty, starts a new run folder',
        "quarantine_rows: int = 10  # quarantined rows to show",
    ),
    code("""
%matplotlib inline
from IPython.display import display

from workbench import pipeline, reports
from workbench.plots import plot_event_mix

run_dir = reports.resolve_run_dir(run_dir, config)
"""),
    md("""
## 1. Reconciliation: is every row accounted for?

Rows read = rows kept + rows quarantined + duplicates dropped. `reconciles` must be `True`.

- A large **quarantined** count usually means a column mapping or timestamp format is wrong:
  check `events.columns` and `events.timestamp_format` in the config.
- Many **duplicates dropped** can be normal (re-sent events); if it is most of the data, check
  `events.dedupe`.
- **First / last event** bound the history: the model needs several outcome windows of it.
- With a profiles file, check that most **profiles are found in it**: ids written differently
  (`C-12346` vs `12346`) match nobody and leave every profile attribute empty.

Anything worth checking first is listed above the table.
"""),
    code("""
prep = pipeline.prepare_data(run_dir, as_of or None)
display(reports.notes(reports.data_warnings(prep["quality"])))
reports.reconciliation(prep["quality"])
"""),
    md("""
## 2. Why rows were set aside

Each quarantined row has one reason. A single dominant reason points to one fix in the config;
a scatter of reasons is typical of a few bad source rows and can be left alone.
"""),
    code("""
reports.quarantine_reasons(prep["quality"])
"""),
    code("""
prep["quarantine"].head(quarantine_rows)
"""),
    md("""
## 3. Event mix over time

Events per month by event type. Look for **steps and gaps**: a type that appears, vanishes or
jumps from one month to the next is usually a tracking change, not customer behaviour, and it
will distort features around that date. A steady mix with seasonal waves is what you want.
"""),
    code("""
ax = plot_event_mix(prep["event_mix"])
"""),
    md("""
## 4. Key figures

The machine-readable record is `data_quality.json` in the run folder.
"""),
    code("""
reports.key_figures(run_dir, "data_quality")
"""),
]

NOTEBOOKS["02_goal_definition"] = [
    md(f"""
# 02 · Goal definition: eligible population, base rate and readiness

**Purpose.** Turn the goal in the config into labels: at each *cutoff* date, which eligible
profiles reached the goal within the outcome window. Check there are enough positives and
negatives to train, and build the point-in-time features (only events before each cutoff).

**Writes** `snapshots.parquet`, `scoring_snapshot.parquet`, `feature_spec.json` and
`goal_summary.json`. Stops with *not ready* when the data cannot support the goal.

{OPENING} Section 5 lets you try other goal definitions interactively.
"""),
    params(
        RUN_DIR,
        AS_OF,
        "interactive: bool = True  # show the goal tuner widgets (workbench run sets False)",
    ),
    code("""
%matplotlib inline
from IPython.display import Markdown, display

from workbench import pipeline, reports, tuning
from workbench.plots import plot_base_rate

run_dir = reports.resolve_run_dir(run_dir)
"""),
    md("""
## 1. The goal

What the model predicts, in words. A **conversion** goal (`outcome: occurs`) labels a profile 1
when the goal event happens within the window after the cutoff; a **churn** goal
(`does_not_occur`) labels it 1 when it does *not*. If this cell stops with *not ready*, use the
goal tuner in section 5 (it only needs notebook 01) to find a goal the data can support.
"""),
    code("""
goal = pipeline.define_goal(run_dir, as_of or None)
display(Markdown(f"Profile **{goal['goal_text']}**"))
"""),
    md("""
## 2. Eligible population and base rate per cutoff

Training cutoffs teach the model; the newest labelled cutoff is held out for **validation**
(out of time, as the model will be used); the **scoring** date is when profiles are scored.

- The **base rate** is the share of eligible profiles that reached the goal. Below about 1%
  the model has little to learn from; above 50% the goal is not selective. Consider a longer
  or shorter window.
- A base rate that **drifts** strongly between cutoffs means the goal is seasonal or changing;
  validation will then be pessimistic or optimistic.
- A shrinking eligible population usually means the eligibility lookback is too short.
"""),
    code("""
goal["cutoffs"]
"""),
    code("""
ax = plot_base_rate(goal["cutoffs"])
"""),
    md("""
## 3. Readiness

Training needs at least `readiness.min_positives` positives and `readiness.min_negatives`
negatives. If not ready: widen the window, broaden the goal (`match: any`, fewer conditions),
lengthen `eligibility.active_within_days`, or add more history.
"""),
    code("""
display(Markdown(tuning.readiness_text(goal["readiness"])))
"""),
    md("""
## 4. Features the models will use

Built automatically from the events before each cutoff (counts, recency, trends per event
type, custom events, profile attributes). `label` is the name shown in factor reports.
"""),
    code("""
goal["features"]
"""),
    md("""
## 5. Goal tuner: try other goal definitions

Change outcome, event type, an optional field condition, window and eligibility lookback;
positives, negatives and base rate per cutoff update at once. **show YAML** prints the
`goal:` and `eligibility:` sections to paste into the config; then run `workbench run` again.
In the HTML report this shows a static summary of the configured goal instead.
"""),
    code("""
tuning.goal_tuner(run_dir, interactive=interactive)
"""),
    md("""
## 6. Key figures

The machine-readable record is `goal_summary.json` in the run folder.
"""),
    code("""
reports.key_figures(run_dir, "goal_summary")
"""),
]

NOTEBOOKS["03_model_comparison"] = [
    md(f"""
# 03 · Model comparison: leaderboard, ROC, lift, gains, calibration

**Purpose.** Fit a logistic model, a boosted tree (LightGBM) and a simple recency rule on the
training cutoffs, and judge them on the held-out validation cutoff. The champion (best
validation ROC AUC; logistic wins near-ties because it is easier to explain) scores profiles.

**Writes** `metrics.json`, `validation_predictions.parquet`, `coefficients.csv`,
`importance.csv` and the saved champion in `model/`.

{OPENING}
"""),
    params(
        RUN_DIR, "top_features: int = 20  # features shown in coefficient and importance charts"
    ),
    code("""
%matplotlib inline
from IPython.display import Markdown, display

from workbench import pipeline, reports
from workbench.plots import (
    plot_calibration,
    plot_coefficients,
    plot_gains,
    plot_importance,
    plot_lift,
    plot_roc,
    plot_score_distribution,
)

run_dir = reports.resolve_run_dir(run_dir)
"""),
    md("""
## 1. Leaderboard

One row per model, measured on the validation cutoff.

- **ROC AUC**: the chance a random positive is ranked above a random negative. 0.5 is a coin
  flip; **below 0.65 is poor** (the goal may be too rare or too noisy, the window too short, or
  the events carry little signal: try a different window, custom events, or more history);
  0.7-0.85 is typical of useful propensity models; **above 0.95 is suspicious**: check that no
  event that *is* the goal, or happens because of it, sneaks into the features.
- **lift_top_decile**: how many times the base rate the top 10% converts at.
- **log_loss / brier / ece**: how trustworthy the probabilities are (lower is better).
- **beats_recency**: a model that does not beat "most recent activity first" adds no value.

The notes below the table flag poor quality, models that do not beat the recency rule, and
recalibration.
"""),
    code("""
cmp = pipeline.compare(run_dir)
display(Markdown(f"Champion: **{cmp.champion}**"))
cmp.leaderboard
"""),
    code("""
reports.notes(cmp.metrics["quality"]["messages"])
"""),
    md("""
## 2. ROC curves

Each curve trades true positives (up) against false positives (right). The higher and further
left the curve, the better the ranking; the diagonal is random.
"""),
    code("""
ax = plot_roc(cmp.validation_predictions)
"""),
    md("""
## 3. Lift and cumulative gains

**Lift**: conversion rate in each score decile divided by the base rate; it should fall
steadily from the top decile. **Gains**: the share of all positives captured when targeting
the top x% of profiles. Read it at your campaign size: "the top 20% by score holds 50% of
the converters". The diagonal is random targeting; the gap above it is the model's value.
"""),
    code("""
ax = plot_lift(cmp.validation_predictions, model=cmp.champion)
"""),
    code("""
ax = plot_gains(cmp.validation_predictions)
"""),
    md("""
## 4. Calibration and score distribution

Points on the diagonal mean a predicted 20% really converts 20% of the time, so expected
volumes can be planned from the scores. Points below the diagonal mean the model is
over-confident. The distribution shows how well positives and negatives are separated.
"""),
    code("""
ax = plot_calibration(cmp.validation_predictions, model=cmp.champion)
"""),
    code("""
ax = plot_score_distribution(cmp.validation_predictions, model=cmp.champion)
"""),
    md("""
## 5. What the logistic model learned

Coefficients on standardised features: positive values raise the propensity, negative lower
it. Large values on features you did not expect are worth a look (leakage, tracking quirks).
"""),
    code("""
ax = plot_coefficients(cmp.coefficients, top=top_features)
"""),
    code("""
cmp.coefficients.head(top_features)
"""),
    md("""
## 6. What the boosted model relies on

LightGBM importance: how much each feature contributes to the tree splits. It says *how much*,
not in which direction; notebook 04 shows directions per profile.
"""),
    code("""
ax = plot_importance(cmp.importance, top=top_features)
"""),
    md("""
## 7. Key figures

The machine-readable record is `metrics.json` in the run folder.
"""),
    code("""
reports.key_figures(run_dir, "headline")
"""),
]

NOTEBOOKS["04_factor_report"] = [
    md(f"""
# 04 · Influential factors: global, per bucket and per profile

**Purpose.** Explain the champion's scores: which features push propensity up or down across
all scored profiles, within each bucket (low / medium / high), and for a few example profiles.

**Writes** `factors_global.csv`, `factors_by_bucket.csv` and `examples.csv`.

{OPENING}
"""),
    params(RUN_DIR, "examples: int = 5  # example profiles to show with their factors"),
    code("""
%matplotlib inline
from IPython.display import display

from workbench import pipeline, reports
from workbench.plots import plot_bucket_factors, plot_global_factors

run_dir = reports.resolve_run_dir(run_dir)
"""),
    md("""
## 1. Global influential factors

The features with the largest influence on the scores overall. **Coverage** is the share of
scored profiles for whom the factor is among their top factors: a strong factor with low
coverage matters a lot for a few profiles; a high-coverage factor describes the whole base.
Factors that surprise you deserve a check in the raw data before anyone acts on them.
Above 200,000 scored profiles these summaries use a seeded random sample of 200,000 of them;
every profile's own factors are in `scores.csv` (notebook 05).
"""),
    code("""
factors = pipeline.explain(run_dir, examples)
ax = plot_global_factors(factors["global"])
"""),
    code("""
factors["global"]
"""),
    md("""
## 2. Factors per bucket

What sets the **high** bucket apart (the audience to target first) from the **low** bucket
(reactivation or suppression). A factor that is typical of the high bucket is a lever for
campaigns aimed at the medium bucket.
"""),
    code("""
ax = plot_bucket_factors(factors["by_bucket"], "high")
"""),
    code("""
ax = plot_bucket_factors(factors["by_bucket"], "medium")
"""),
    code("""
ax = plot_bucket_factors(factors["by_bucket"], "low")
"""),
    code("""
factors["by_bucket"]
"""),
    md("""
## 3. Example profiles

A few scored profiles with their score, bucket and top factors, as the scores file will carry
them. Use these to sanity-check that explanations read sensibly to a marketer.
"""),
    code("""
factors["examples"]
"""),
    md("""
## 4. Key figures

The tables above are also in the run folder as CSV files.
"""),
    code("""
factors["global"].head(5)
"""),
]

NOTEBOOKS["05_scoring_and_segments"] = [
    md(f"""
# 05 · Scores and segments

**Purpose.** Score every eligible profile at the scoring date with the champion: probability,
percentile, bucket and top factors. Check on the validation cutoff that expected conversions
match what happened, and build the audiences defined under `segments:` in the config.

**Writes** `scores.parquet` / `scores.csv`, `segments/<name>.csv`, `segments_summary.csv`,
`expected_vs_actual.json`, and adds the scoring figures to `metrics.json`.

{OPENING}
"""),
    params(RUN_DIR, "preview_rows: int = 10  # scored profiles to preview"),
    code("""
%matplotlib inline
from IPython.display import display

from workbench import pipeline, reports
from workbench.plots import plot_bucket_sizes, plot_expected_vs_actual, plot_score_histogram

run_dir = reports.resolve_run_dir(run_dir)
"""),
    md("""
## 1. Score distribution

Probabilities of reaching the goal within the window, for every eligible profile. Most
profiles sit near the base rate; a long right tail is the audience worth targeting. A spike at
one value usually means many profiles with no recent activity.
"""),
    code("""
result = pipeline.score_and_segment(run_dir)
ax = plot_score_histogram(result["scores"])
"""),
    md("""
## 2. Buckets

Buckets are percentile bands of the score (`scoring.buckets` in the config): low, medium and
high. They are relative, so the high bucket always holds the same share of profiles; the
probabilities tell you how much better it actually is.
"""),
    code("""
ax = plot_bucket_sizes(result["scores"])
"""),
    md("""
## 3. Expected vs actual (validation backtest)

On the validation cutoff, the expected number of conversions (sum of probabilities) against
what actually happened, per bucket and per decile. Close agreement means volumes can be
planned from the scores. A large gap means calibration drift: re-run with more recent data
or check whether behaviour changed (section 3 of notebook 01).
"""),
    code("""
ax = plot_expected_vs_actual(result["expected_vs_actual"]["bucket"])
"""),
    code("""
result["expected_vs_actual"]["bucket"]
"""),
    code("""
result["expected_vs_actual"]["decile"]
"""),
    md("""
## 4. Segments

Audiences built from scores, factors and profile attributes; each is a CSV in `segments/`
ready to upload to a campaign tool. An empty segment means its rule is too strict for this
population.
"""),
    code("""
result["segments_summary"]
"""),
    code("""
result["scores"].head(preview_rows)
"""),
    md("""
## 5. Key figures

The machine-readable record is `metrics.json`; the scores are in `scores.csv` / `scores.parquet`.
"""),
    code("""
reports.key_figures(run_dir, "headline")
"""),
]


def build() -> list[Path]:
    written = []
    for stem, cells in NOTEBOOKS.items():
        nb = new_notebook(cells=cells)
        for i, cell in enumerate(nb.cells):
            cell["id"] = f"{stem[:2]}-{i:02d}"  # stable ids keep diffs small
        nb.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3 (ipykernel)",
            "language": "python",
        }
        nb.metadata["language_info"] = {"name": "python"}
        nbformat.validate(nb)
        path = HERE / f"{stem}.ipynb"
        nbformat.write(nb, path)
        written.append(path)
    return written


if __name__ == "__main__":
    for p in build():
        print(p)
