# Propensity Workbench: `make help` lists the targets.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# One stamp per install set, each redone when pyproject.toml changes: `make run` needs only the
# workbench and its runtime dependencies; `make test`/`lint`/`bench` add the dev tools, Spark and
# the Postgres backend (its tests start a server); `make lab` JupyterLab, the tuner's widgets
# and jupytext.
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
LAB_STAMP := $(VENV)/.installed-lab
SAMPLE_DIR := reports/sample-data
SAMPLE_PROFILES ?= 20000
RUN ?= reports/sample-purchase-30d/latest

.DEFAULT_GOAL := help
.PHONY: help setup run test test-all lint format lab bench clean notebooks screenshots

help: ## Show this help
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e .
	$(BIN)/python -m ipykernel install --prefix $(VENV) --name workbench --display-name "Propensity Workbench" >/dev/null
	touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,spark,postgres,lab]'
	touch $(DEV_STAMP) $(LAB_STAMP)

$(LAB_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[lab]'
	touch $(LAB_STAMP)

setup: $(DEV_STAMP) ## Create .venv and install the workbench with dev tools, Spark and JupyterLab

run: $(STAMP) ## Generate the bundled sample and run the whole pipeline; prints where the report is
	$(BIN)/workbench sample --profiles $(SAMPLE_PROFILES) --out $(SAMPLE_DIR)
	$(BIN)/workbench run $(SAMPLE_DIR)/config.yaml

test: $(DEV_STAMP) ## Run the test suite (includes the papermill notebook run on a small sample)
	$(BIN)/python -m pytest

lint: $(DEV_STAMP) ## Lint and check formatting with ruff
	$(BIN)/ruff check workbench tests benchmarks
	$(BIN)/ruff format --check workbench tests benchmarks

format: $(DEV_STAMP) ## Format the code with ruff
	$(BIN)/ruff format workbench tests benchmarks
	$(BIN)/ruff check --fix workbench tests benchmarks

lab: $(LAB_STAMP) ## Open JupyterLab at the project root (notebooks/ and reports/) with the project's kernel
	JUPYTER_CONFIG_PATH=$(CURDIR)/.jupyter $(BIN)/jupyter lab --notebook-dir=$(CURDIR) \
		--ServerApp.default_url=/lab/tree/notebooks

bench: $(DEV_STAMP) ## Run the benchmarks (prints figures; slow)
	$(BIN)/python benchmarks/run_all.py

clean: ## Remove the virtual environment and generated reports
	rm -rf $(VENV) reports/*/ .pytest_cache

notebooks: $(LAB_STAMP) ## Rebuild notebooks/*.ipynb from their jupytext sources (notebooks/*.py)
	$(BIN)/jupytext --quiet --update --to ipynb notebooks/[0-9][0-9]_*.py

screenshots: $(STAMP) ## Screenshot a run's pages in headless Chromium into RUN/screenshots (RUN=<run folder>, default: the sample's latest)
	$(BIN)/python -m workbench.reporting.browser $(RUN)
