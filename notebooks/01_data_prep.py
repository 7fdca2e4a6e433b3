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
# # 01 · Data preparation: data quality and event mix
#
# **Purpose.** Read the raw experience events (and profiles) named in the config, map them to the
# canonical columns (`profile_id`, `timestamp` in UTC, `event_type`), set aside unusable rows
# with a reason, drop duplicates, and check that every row read is accounted for.
#
# **Writes** `events.parquet`, `profiles.parquet`, `data_quality.json` and `quarantine.csv` in
# the run folder; every later notebook reads them.
#
# Run by `workbench run` (parameters injected, code hidden in the HTML report). Opened on its
# own in Jupyter, it works on `run_dir`, or the latest run under `reports/` when that is empty;
# the run folder's files are the hand-over between notebooks. To start a fresh run folder from a config file, set `config` below.

# %% tags=["parameters"]
run_dir: str = ""  # run folder written by workbench run (empty: the latest run under reports/)
config: str = ""  # config YAML; only used when run_dir is empty, starts a new run folder
quarantine_rows: int = 10  # quarantined rows to show

# %%
# Figures as SVG with their text kept as text: crisp at any zoom in the HTML pages, and
# about half the time of a PNG to draw.
# %config InlineBackend.rc = {"svg.fonttype": "none"}
# %config InlineBackend.figure_formats = ["svg"]
# %matplotlib inline
from IPython.display import display

from workbench import Run, reporting, workflow
from workbench.plots import plot_event_mix

run = Run.resolve(run_dir, config)

# %% [markdown]
# ## 1. Reconciliation: is every row accounted for?
#
# Rows read = rows kept + rows quarantined + duplicates dropped. `reconciles` must be `True`.
#
# - A large **quarantined** count usually means a column mapping or timestamp format is wrong:
#   check `events.columns` and `events.timestamp_format` in the config.
# - Many **duplicates dropped** can be normal (re-sent events); if it is most of the data, check
#   `events.dedupe`.
# - **First / last event** bound the history: the model needs several outcome windows of it.
# - With a profiles file, check that most **profiles are found in it**: ids written differently
#   (`C-12346` vs `12346`) match nobody and leave every profile attribute empty.
#
# Anything worth checking first is listed above the table.

# %%
prep = workflow.prepare_data(run)
display(reporting.notes(reporting.data_warnings(prep["quality"])))
reporting.readable(reporting.reconciliation(prep["quality"]))

# %% [markdown]
# ## 2. Why rows were set aside
#
# Each quarantined row has one reason. A single dominant reason points to one fix in the config;
# a scatter of reasons is typical of a few bad source rows and can be left alone.

# %%
reporting.readable(reporting.quarantine_reasons(prep["quality"]), empty="No row was set aside.")

# %%
reporting.readable(prep["quarantine"], rows=quarantine_rows, empty="No row was set aside.")

# %% [markdown]
# ## 3. Event mix over time
#
# Events per month by event type. Look for **steps and gaps**: a type that appears, vanishes or
# jumps from one month to the next is usually a tracking change, not customer behaviour, and it
# will distort features around that date. A steady mix with seasonal waves is what you want.

# %%
ax = plot_event_mix(prep["event_mix"])

# %% [markdown]
# ## 4. Key figures
#
# The machine-readable record is `data_quality.json` in the run folder.

# %%
reporting.figures_table(run, "quality")
