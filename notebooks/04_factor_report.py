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
# # 04 · Influential factors: global, per bucket and per profile
#
# **Purpose.** Explain the champion's scores: which **factor families** (purchase frequency,
# recency of purchase, timing of purchases, spend, tenure, profile attributes...) push
# propensity up or down across all scored profiles, within each bucket (low / medium / high),
# and for a few example profiles. A family's contribution is the sum of its features'; a
# profile's factor reads the value of one of them beside what is typical (the training
# average): "Purchase frequency: 3 purchases in the last 90 days; typical: 1.4 purchases".
#
# **Writes** `factors_global.csv`, `factors_by_bucket.csv` and `examples.csv`.
#
# Run by `workbench run` (parameters injected, code hidden in the HTML report). Opened on its
# own in Jupyter, it works on `run_dir`, or the latest run under `reports/` when that is empty;
# the run folder's files are the hand-over between notebooks.

# %% tags=["parameters"]
run_dir: str = ""  # run folder written by workbench run (empty: the latest run under reports/)
examples: int = 5  # example profiles to show with their factors

# %%
# Figures as SVG with their text kept as text: crisp at any zoom in the HTML pages, and
# about half the time of a PNG to draw.
# %config InlineBackend.rc = {"svg.fonttype": "none"}
# %config InlineBackend.figure_formats = ["svg"]
# %matplotlib inline

from workbench import Run, reporting, workflow
from workbench.plots import plot_bucket_factors, plot_global_factors

run = Run.resolve(run_dir)

# %% [markdown]
# ## 1. Global influential factors
#
# The factor families with the largest influence on the scores overall (a family sums its
# features' effects: purchase frequency, recency of purchase, spend, ...; **moved most by** names
# the family's feature that moves scores most). Each bar shows how much the family **raises**
# (right, green) and **lowers** (left, red) the scores on average; the percentages beside it are
# the shares of scored profiles it notably raises or lowers (by at least the median effect of
# any factor, the rule that marks a profile's own factor "medium" or "high"). A strong factor
# with a small share matters a lot for a few profiles; one with a large share describes the
# whole base.
# Factors that surprise you deserve a check in the raw data before anyone acts on them.
# Above 200,000 scored profiles these summaries use a seeded random sample of 200,000 of them;
# every profile's own factors are in `scores.csv` (notebook 05).

# %%
factors = workflow.explain(run, examples)
ax = plot_global_factors(factors["global"])

# %%
reporting.readable(
    factors["global"],
    columns=["label", "leading_feature", "share", "raises_share", "lowers_share"],
    rows=20,
)

# %% [markdown]
# ## 2. Factors per bucket
#
# What sets the **high** bucket apart (the audience to target first) from the **low** bucket
# (reactivation or suppression). A factor that is typical of the high bucket is a lever for
# campaigns aimed at the medium bucket.

# %%
ax = plot_bucket_factors(factors["by_bucket"], "high")

# %%
ax = plot_bucket_factors(factors["by_bucket"], "medium")

# %%
ax = plot_bucket_factors(factors["by_bucket"], "low")

# %%
reporting.readable(
    factors["by_bucket"],
    columns=["bucket", "label", "typical_text", "value_range", "raises_share", "lowers_share"],
)

# %% [markdown]
# ## 3. Example profiles
#
# A few scored profiles with their score, bucket and top factors, as the scores file will carry
# them. Use these to sanity-check that explanations read sensibly to a marketer. A factor
# never says that doing less raises a "will purchase" propensity or that more purchases lower
# it: where the model's contributions would say so (a tree's interactions can), the entry is
# left out, and `score_summary.json` counts how often.

# %%
reporting.readable(factors["examples"])

# %% [markdown]
# ## 4. Key figures
#
# The tables above are also in the run folder as CSV files.

# %%
reporting.readable(factors["global"], columns=["label", "share"], rows=5)
