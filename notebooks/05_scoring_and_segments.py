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
# # 05 · Scores and segments
#
# **Purpose.** Score every eligible profile at the scoring date with the champion: probability,
# percentile, bucket and top factors. Check on the validation cutoff that expected conversions
# match what happened, and build the audiences defined under `segments:` in the config.
#
# **Writes** `scores.parquet` / `scores.csv`, `segments/<name>.csv`, `segments/summary.csv`,
# `expected_vs_actual.json`, `economics.json`, `profit_curve.csv`, `cohorts.csv` and
# `score_summary.json`.
#
# Run by `workbench run` (parameters injected, code hidden in the HTML report). Opened on its
# own in Jupyter, it works on `run_dir`, or the latest run under `reports/` when that is empty;
# the run folder's files are the hand-over between notebooks.

# %% tags=["parameters"]
run_dir: str = ""  # run folder written by workbench run (empty: the latest run under reports/)
preview_rows: int = 10  # scored profiles to preview

# %%
# Figures as SVG with their text kept as text: crisp at any zoom in the HTML pages, and
# about half the time of a PNG to draw.
# %config InlineBackend.rc = {"svg.fonttype": "none"}
# %config InlineBackend.figure_formats = ["svg"]
# %matplotlib inline

from workbench import Run, reporting, workflow
from workbench.plots import (
    plot_bucket_sizes,
    plot_cohort_auc,
    plot_expected_vs_actual,
    plot_score_histogram,
)

run = Run.resolve(run_dir)

# %% [markdown]
# ## 1. Score distribution
#
# Probabilities of reaching the goal within the window, for every eligible profile. Most
# profiles sit near the base rate; a long right tail is the audience worth targeting. A spike at
# one value usually means many profiles with no recent activity.

# %%
result = workflow.score_and_segment(run)
ax = plot_score_histogram(result["scores"])

# %% [markdown]
# ## 2. Buckets
#
# Buckets are percentile bands of the score (`scoring.buckets` in the config): low, medium and
# high. They are relative, so the high bucket always holds the same share of profiles; the
# probabilities tell you how much better it actually is.

# %%
ax = plot_bucket_sizes(result["scores"])

# %% [markdown]
# ## 3. Expected vs actual (validation backtest)
#
# On the validation cutoff, the expected number of conversions (sum of probabilities) against
# what actually happened, per bucket and per decile (decile 1 = the highest scores). Close
# agreement means volumes can be planned from the scores. A large gap means calibration drift:
# re-run with more recent data or check whether behaviour changed (section 3 of notebook 01).

# %%
ax = plot_expected_vs_actual(result["expected_vs_actual"]["bucket"])

# %%
reporting.readable(result["expected_vs_actual"]["bucket"])

# %%
reporting.readable(
    result["expected_vs_actual"]["decile"], labels={"decile": "decile (1 = highest)"}
)

# %% [markdown]
# ## 4. Segments
#
# Audiences built from scores, factors and profile attributes; each is a CSV in `segments/`
# ready to upload to a campaign tool. An empty segment means its rule is too strict for this
# population.

# %%
reporting.readable(result["segments_summary"])

# %%
reporting.readable(result["scores"], rows=preview_rows)

# %% [markdown]
# ## 5. Whom to contact
#
# Profiles taken highest score first: on the validation cutoff (outcomes the model never saw),
# how many conversions each target size brought. With an `economics:` section in the config
# (cost per contact, value per conversion, optional budget) this is a profit curve with the
# most profitable target size and the best one within the budget; a segment with
# `top_by_profit: true` holds that audience. Per bucket and segment: expected conversions from
# today's scores and, with economics, cost and profit.

# %%
reporting.page_section(run, "economics")

# %% [markdown]
# ## 6. Who the model serves badly
#
# For the profile attributes under `reporting.cohorts` in the config, and for profiles with a
# sparse history: how each group is scored today and, on the validation cutoff, its base rate,
# expected against actual conversions and how well the model ranks it (ROC AUC). A group is
# flagged when it is ranked clearly worse than everyone, or its conversions miss the expected
# ones by more than chance explains (README, "Cohorts").

# %%
reporting.page_section(run, "cohorts")

# %%
ax = plot_cohort_auc(result["cohorts"])

# %% [markdown]
# ## 7. Key figures
#
# The machine-readable record is `metrics.json`; the scores are in `scores.csv` / `scores.parquet`.

# %%
reporting.figures_table(run, "headline")
