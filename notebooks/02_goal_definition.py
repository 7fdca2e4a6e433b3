# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     notebook_metadata_filter: kernelspec,-jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Propensity Workbench
#     language: python
#     name: workbench
# ---

# %% [markdown]
# # 02 · Goal definition: eligible population, base rate and readiness
#
# **Purpose.** Turn the goal in the config into labels: at each *cutoff* date, which eligible
# profiles reached the goal within the outcome window. Check there are enough positives and
# negatives to train, and build the point-in-time features (only events before each cutoff).
#
# **Writes** `snapshots.parquet`, `scoring_snapshot.parquet`, `feature_spec.json` and
# `goal_summary.json`. Stops with *not ready* when the data cannot support the goal.
#
# Run by `workbench run` (parameters injected, code hidden in the HTML report). Opened on its
# own in Jupyter, it works on `run_dir`, or the latest run under `reports/` when that is empty;
# the run folder's files are the hand-over between notebooks. Section 5 lets you try other goal definitions interactively.

# %% tags=["parameters"]
run_dir: str = ""  # run folder written by workbench run (empty: the latest run under reports/)
as_of: str = ""  # scoring date YYYY-MM-DD (empty: scoring.as_of, else the day after the data)
interactive: bool = True  # show the goal tuner widgets (workbench run sets False)

# %%
# Figures as SVG with their text kept as text: crisp at any zoom in the HTML pages, and
# about half the time of a PNG to draw.
# %config InlineBackend.rc = {"svg.fonttype": "none"}
# %config InlineBackend.figure_formats = ["svg"]
# %matplotlib inline
from IPython.display import Markdown, display

from workbench import Run, reporting, workflow
from workbench.plots import plot_base_rate
from workbench.reporting.tuner import goal_tuner, readiness_text

run = Run.resolve(run_dir)

# %% [markdown]
# ## 1. The goal
#
# What the model predicts, in words. A **conversion** goal (`outcome: occurs`) labels a profile 1
# when the goal event happens within the window after the cutoff; a **churn** goal
# (`does_not_occur`) labels it 1 when it does *not*. If this cell stops with *not ready*, use the
# goal tuner in section 5 (it only needs notebook 01) to find a goal the data can support.

# %%
goal = workflow.define_goal(run, as_of or None)
display(Markdown(f"Profile **{goal['goal_text']}**"))

# %% [markdown]
# ## 2. Eligible population and base rate per cutoff
#
# Training cutoffs teach the model; the newest labelled cutoff is held out for **validation**
# (out of time, as the model will be used); the **scoring** date is when profiles are scored.
#
# - The **base rate** is the share of eligible profiles that reached the goal. Below about 1%
#   the model has little to learn from; above 50% the goal is not selective. Consider a longer
#   or shorter window.
# - A base rate that **drifts** strongly between cutoffs means the goal is seasonal or changing;
#   validation will then be pessimistic or optimistic.
# - A shrinking eligible population usually means the eligibility lookback is too short.

# %%
reporting.readable(goal["cutoffs"])

# %%
ax = plot_base_rate(goal["cutoffs"])

# %% [markdown]
# ## 3. Readiness
#
# Training needs at least `readiness.min_positives` positives and `readiness.min_negatives`
# negatives. If not ready: widen the window, broaden the goal (`match: any`, fewer conditions),
# lengthen `eligibility.active_within_days`, or add more history.

# %%
display(Markdown(readiness_text(goal["readiness"])))

# %% [markdown]
# ## 4. Features the models will use
#
# Built automatically from the events before each cutoff (counts, recency, trends per event
# type, custom events, profile attributes). `label` is the name shown in factor reporting.

# %%
reporting.readable(
    goal["features"], columns=["label", "kind", "family", "code"], labels={"label": "feature"}
)

# %% [markdown]
# ## 5. Goal tuner: try other goal definitions
#
# Change outcome, event type, an optional field condition, window and eligibility lookback;
# positives, negatives and base rate per cutoff update at once. **show YAML** prints the
# `goal:` and `eligibility:` sections to paste into the config; then run `workbench run` again.
# In the HTML report this shows a static summary of the configured goal instead.

# %%
goal_tuner(run, interactive=interactive)

# %% [markdown]
# ## 6. Key figures
#
# The machine-readable record is `goal_summary.json` in the run folder.

# %%
reporting.figures_table(run, "goal_summary")
