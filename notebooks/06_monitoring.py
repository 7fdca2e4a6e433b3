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
# # 06 · Monitoring: two runs compared
#
# **Purpose.** Set a later run beside an earlier one: how far the scores and the features
# moved (population stability index, PSI), how many profiles changed bucket, which factor
# families gained or lost weight, what changed in the goal and the model, and, once the
# earlier run's outcome window has closed in the later run's data, how its scores turned out.
#
# **Writes** `comparison.json` and `feature_drift.csv` in the comparison folder.
#
# Run by `workbench compare EARLIER LATER` (parameters injected, code hidden in the HTML page).
# Opened on its own in Jupyter, set `earlier` and `later` to two run folders that scored
# profiles (`workbench run`, `workbench score` or `workbench backtest`): a new comparison folder
# is made beside them.

# %% tags=["parameters"]
run_dir: str = ""  # comparison folder made by workbench compare (empty: use earlier and later)
earlier: str = ""  # a run folder that scored profiles, the reference
later: str = ""  # a later run folder; its events give the earlier run's outcome
top_features: int = 12  # features shown in the drift chart

# %%
# Figures as SVG with their text kept as text: crisp at any zoom in the HTML pages, and
# about half the time of a PNG to draw.
# %config InlineBackend.rc = {"svg.fonttype": "none"}
# %config InlineBackend.figure_formats = ["svg"]
# %matplotlib inline
from workbench import reporting, workflow
from workbench.plots import (
    plot_expected_vs_actual,
    plot_factor_drift,
    plot_feature_drift,
    plot_migration,
    plot_score_drift,
)

run = workflow.open_comparison(run_dir, earlier, later)
result = workflow.monitor(run)

# %% [markdown]
# ## 1. Read this first
#
# The flags below follow the thresholds in the README ("Monitoring"): a PSI of 0.10 is worth a
# look and 0.25 is a major shift; buckets count as reshuffled when the share of profiles that
# kept their bucket is close to what chance alone would give (kappa below 0.4); a factor family
# is flagged when its share of the weight moves 10 points; realised figures are flagged when the
# AUC falls 0.05 below the validation AUC or conversions miss the expected ones by more than 25%
# and more than chance explains.

# %%
reporting.notes(result.flags, empty="Nothing to flag: the two runs agree.")

# %% [markdown]
# ## 2. What the two runs were
#
# The goal, eligibility, model and dates of each run; `changed` marks what differs. A changed
# goal or model explains part of any drift below.

# %%
reporting.readable(result.differences)

# %%
reporting.notes(result.notes, empty="Both runs could be compared in full.")

# %% [markdown]
# ## 3. Score drift
#
# The share of scored profiles at each probability in both runs. A PSI below 0.10 means the
# scored population looks like the earlier one; from 0.25 the model meets a population it was
# not judged on: check the features below, then consider retraining.

# %%
ax = plot_score_drift(
    result.scores["earlier"], result.scores["later"], psi=result.score_drift["psi"]
)

# %%
reporting.readable(result.score_drift["bins"], labels={"psi": "PSI term"})

# %% [markdown]
# ## 4. Feature drift
#
# The PSI of every feature the model uses, largest first, with the typical value (median, or
# the most frequent value) in each run. A feature that moved alone often means a tracking
# change, not customer behaviour; many features moving together is a change of season or of
# the population.

# %%
ax = plot_feature_drift(result.feature_drift, top=top_features)

# %%
reporting.readable(
    result.feature_drift,
    columns=["label", "family", "psi", "level", "earlier", "later"],
    rows=top_features,
    labels={
        "label": "feature",
        "psi": "PSI",
        "earlier": "typical earlier",
        "later": "typical later",
    },
)

# %% [markdown]
# ## 5. Bucket migration
#
# Rows: the bucket in the earlier run; columns: the bucket in the later run. The diagonal kept
# their bucket; `new` profiles were not scored earlier, `no longer scored` ones are no longer
# eligible. Buckets are percentile bands, so movement is normal: compare the share that kept
# its bucket with the share chance alone would keep.

# %%
ax = plot_migration(result.migration)

# %%
reporting.readable(result.migration_figures())

# %% [markdown]
# ## 6. Factor drift
#
# Each family's share of the factor weight (the mean size of its contributions over the scored
# profiles): which kinds of behaviour drive the scores now compared with before.

# %%
ax = plot_factor_drift(result.factor_drift)

# %%
reporting.readable(
    result.factor_drift,
    percent_columns=["earlier_share", "later_share", "change"],
    empty="Factors not measured (section 2 says why).",
)

# %% [markdown]
# ## 7. How the earlier run's scores turned out
#
# Once the earlier run's outcome window has closed in the later run's data: per bucket, the
# expected conversions (sum of the probabilities) against what happened, and the realised ROC
# AUC. This is the honest test of a score: the model never saw these outcomes (section 1 says
# so when it did). Nothing shows here while the window is still open.

# %%
reporting.readable(result.realised_figures())

# %%
ax = plot_expected_vs_actual(result.realised_by_bucket)

# %%
reporting.readable(
    result.realised_by_bucket, empty="Not known yet: the earlier run's outcome window is open."
)

# %% [markdown]
# ## 8. Key figures
#
# Every figure is in `comparison.json` in the comparison folder; `index.html` in the goal's
# folder lists every run over time with its realised figures.

# %%
reporting.readable(result.key_figures())
