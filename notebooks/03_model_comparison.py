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
# # 03 · Model comparison: folds, leaderboard, ROC, lift, gains, calibration
#
# **Purpose.** Fit a logistic model, a boosted tree (LightGBM), their blend and a simple recency
# rule as the final model will be fitted, at several **validation origins** (rolling, out of
# time): each fold trains on every cutoff whose outcome window closes before its origin and is
# judged on every profile at the origin. The champion has the best fold-mean ROC AUC (logistic
# wins near-ties because it is easier to explain, unless the boosted tree led it at every origin;
# the blend only on a clear win); it is then refit on every snapshot and scores profiles.
#
# **Writes** `metrics.json` (every fold), `validation_predictions.parquet` (every origin's
# out-of-time scores, `fold` 0 the newest), `coefficients.csv`, `importance.csv` and the saved
# champion in `model/`.
#
# Run by `workbench run` (parameters injected, code hidden in the HTML report). Opened on its
# own in Jupyter, it works on `run_dir`, or the latest run under `reports/` when that is empty;
# the run folder's files are the hand-over between notebooks.

# %% tags=["parameters"]
run_dir: str = ""  # run folder written by workbench run (empty: the latest run under reports/)
top_features: int = 20  # features shown in coefficient and importance charts

# %%
# Figures as SVG with their text kept as text: crisp at any zoom in the HTML pages, and
# about half the time of a PNG to draw.
# %config InlineBackend.rc = {"svg.fonttype": "none"}
# %config InlineBackend.figure_formats = ["svg"]
# %matplotlib inline
from IPython.display import Markdown, display

from workbench import Run, reporting, workflow
from workbench.plots import (
    plot_calibration,
    plot_coefficients,
    plot_fold_auc,
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
# One column per model. `roc_auc` is the figure the report prints: the **newest origin's** when
# the folds move steadily one way (the population is changing, so an average over older origins
# would describe a population that is gone), else the **fold mean**; `roc_auc_fold_mean` and
# `roc_auc_sd` are the mean and spread over the origins.
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
# The notes below the table flag poor quality, a changing population, features that look unlike
# training at the scoring date, how far off the expected conversions were at past origins,
# models that do not beat the recency rule, and recalibration.

# %%
cmp = workflow.compare(run)
display(Markdown(reporting.reported_figure(cmp.metrics)))
reporting.readable(cmp.leaderboard, transpose=True)

# %%
reporting.notes(cmp.metrics["quality"]["messages"])

# %% [markdown]
# ## 2. Every validation origin
#
# Each fold is judged on a snapshot whose outcomes its training never saw. Figures that rise
# or fall steadily from the oldest origin to the newest say the population is changing (a
# cohort ageing, say): the newest is then the closest to what you will see. **expected /
# actual** is what the champion expected at each origin against what happened: the level a
# scoring run made then would have had.

# %%
ax = plot_fold_auc(cmp.metrics)

# %%
reporting.readable(reporting.fold_table(cmp.metrics), percent_columns=[])

# %% [markdown]
# ## 3. Features that look unlike training
#
# The scoring population against the training rows, per feature: the share of scored profiles
# outside the training range and the population stability index (PSI, above 0.25 a marked
# shift). The models hold a value outside the range at its edge (no extrapolation); a feature
# with most scored profiles outside it is left out, and one with more than 10% outside is named
# under "Read this first". Features identical on every training row keep the longer horizon.

# %%
reporting.readable(
    reporting.drift_table(cmp.metrics), percent_columns=["outside the training range"]
)

# %% [markdown]
# ## 4. ROC curves
#
# At the newest validation origin. Each curve trades true positives (up) against false
# positives (right). The higher and further left the curve, the better the ranking; the
# diagonal is random.

# %%
ax = plot_roc(cmp.validation_predictions)

# %% [markdown]
# ## 5. Lift and cumulative gains
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
# ## 6. Calibration and score distribution
#
# Points on the diagonal mean a predicted 20% really converts 20% of the time, so expected
# volumes can be planned from the scores. Points below the diagonal mean the model is
# over-confident. The distribution shows how well positives and negatives are separated.

# %%
ax = plot_calibration(cmp.validation_predictions, model=cmp.champion)

# %%
ax = plot_score_distribution(cmp.validation_predictions, model=cmp.champion)

# %% [markdown]
# ## 7. What the logistic model learned
#
# Coefficients on standardised features (at the newest origin's fold): positive values raise the
# propensity, negative lower it. The table gives each as an odds ratio: ×1.6 per SD means one
# standard deviation more of the feature multiplies the odds of the goal by 1.6. A feature the
# goal gives a direction (how often and how recently the goal event and any activity happened)
# never gets a coefficient against it: when collinear partners would give it one, it is left out
# (the notes say which). Inputs are clipped to the training range. Large values on features you
# did not expect are worth a look (leakage, tracking quirks).

# %%
ax = plot_coefficients(cmp.coefficients, top=top_features)

# %%
reporting.coefficient_table(cmp.coefficients, top=top_features)

# %% [markdown]
# ## 8. What the boosted model relies on
#
# LightGBM importance: how much each feature contributes to the tree splits. It says *how much*,
# not in which direction; notebook 04 shows directions per profile. Where the goal fixes a
# direction the trees are constrained to it (`models.monotone`, recorded in metrics.json).

# %%
ax = plot_importance(cmp.importance, top=top_features)

# %% [markdown]
# ## 9. Key figures
#
# The machine-readable record is `metrics.json` in the run folder.

# %%
reporting.figures_table(run, "headline")
