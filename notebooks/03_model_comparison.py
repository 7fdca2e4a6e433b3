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
# # 03 · Model comparison: leaderboard, ROC, lift, gains, calibration
#
# **Purpose.** Fit a logistic model, a boosted tree (LightGBM) and a simple recency rule on the
# training cutoffs, and judge them on the held-out validation cutoff. The champion (best
# validation ROC AUC; logistic wins near-ties because it is easier to explain) scores profiles.
#
# **Writes** `metrics.json`, `validation_predictions.parquet`, `coefficients.csv`,
# `importance.csv` and the saved champion in `model/`.
#
# Run by `workbench run` (parameters injected, code hidden in the HTML report). Opened on its
# own in Jupyter, it works on `run_dir`, or the latest run under `reports/` when that is empty;
# the run folder's files are the hand-over between notebooks.

# %% tags=["parameters"]
run_dir: str = ""  # run folder written by workbench run (empty: the latest run under reports/)
top_features: int = 20  # features shown in coefficient and importance charts

# %%
# %matplotlib inline
from IPython.display import Markdown, display

from workbench import Run, reporting, workflow
from workbench.plots import (
    plot_calibration,
    plot_coefficients,
    plot_gains,
    plot_importance,
    plot_lift,
    plot_roc,
    plot_score_distribution,
)

run = Run.resolve(run_dir)

# %% [markdown]
# ## 1. Leaderboard
#
# One column per model, measured on the validation cutoff.
#
# - **ROC AUC**: the chance a random positive is ranked above a random negative. 0.5 is a coin
#   flip; **below 0.65 is poor** (the goal may be too rare or too noisy, the window too short, or
#   the events carry little signal: try a different window, custom events, or more history);
#   0.7-0.85 is typical of useful propensity models; **above 0.95 is suspicious**: check that no
#   event that *is* the goal, or happens because of it, sneaks into the features.
# - **lift in top 10%**: how many times the base rate the top 10% converts at.
# - **log loss / Brier score / calibration error**: how trustworthy the probabilities are (lower is better).
# - **beats the recency rule**: a model that does not beat "most recent activity first" adds no value.
#
# The notes below the table flag poor quality, models that do not beat the recency rule, and
# recalibration.

# %%
cmp = workflow.compare(run)
display(Markdown(f"Champion: **{cmp.champion}**"))
reporting.readable(cmp.leaderboard, transpose=True)

# %%
reporting.notes(cmp.metrics["quality"]["messages"])

# %% [markdown]
# ## 2. ROC curves
#
# Each curve trades true positives (up) against false positives (right). The higher and further
# left the curve, the better the ranking; the diagonal is random.

# %%
ax = plot_roc(cmp.validation_predictions)

# %% [markdown]
# ## 3. Lift and cumulative gains
#
# **Lift**: conversion rate in each score decile divided by the base rate; it should fall
# steadily from the top decile. **Gains**: the share of all positives captured when targeting
# the top x% of profiles. Read it at your campaign size: "the top 20% by score holds 50% of
# the converters". The diagonal is random targeting; the gap above it is the model's value.

# %%
ax = plot_lift(cmp.validation_predictions, model=cmp.champion)

# %%
ax = plot_gains(cmp.validation_predictions)

# %% [markdown]
# ## 4. Calibration and score distribution
#
# Points on the diagonal mean a predicted 20% really converts 20% of the time, so expected
# volumes can be planned from the scores. Points below the diagonal mean the model is
# over-confident. The distribution shows how well positives and negatives are separated.

# %%
ax = plot_calibration(cmp.validation_predictions, model=cmp.champion)

# %%
ax = plot_score_distribution(cmp.validation_predictions, model=cmp.champion)

# %% [markdown]
# ## 5. What the logistic model learned
#
# Coefficients on standardised features: positive values raise the propensity, negative lower
# it. The table gives each as an odds ratio: ×1.6 per SD means one standard deviation more of
# the feature multiplies the odds of the goal by 1.6. Large values on features you did not
# expect are worth a look (leakage, tracking quirks).

# %%
ax = plot_coefficients(cmp.coefficients, top=top_features)

# %%
reporting.coefficient_table(cmp.coefficients, top=top_features)

# %% [markdown]
# ## 6. What the boosted model relies on
#
# LightGBM importance: how much each feature contributes to the tree splits. It says *how much*,
# not in which direction; notebook 04 shows directions per profile.

# %%
ax = plot_importance(cmp.importance, top=top_features)

# %% [markdown]
# ## 7. Key figures
#
# The machine-readable record is `metrics.json` in the run folder.

# %%
reporting.figures_table(run, "headline")
