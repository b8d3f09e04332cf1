# riskassets: the README's commands. Everything runs on embedded defaults unless the
# RISKASSETS_* variables point elsewhere (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export RISKASSETS_HOME ?= $(CURDIR)/.riskassets
export DAGSTER_HOME ?= $(RISKASSETS_HOME)/dagster

# A live demo world: DAYS days ending yesterday (UTC), the last complete day. The network's
# first partition is the first demo day, so the UI shows a current platform. Set START (and
# END) to publish a fixed range instead; the same range and seed give the same data.
NETWORK ?= torus
WINDOW ?= 195
DAYS ?= 42
SCALE ?= demo
END ?= $(shell date -u -d yesterday +%F)
START ?= $(shell date -u -d '$(END) -$(DAYS) days +1 day' +%F)
# Weekly models, as production retrains them: the first on the 21st day (the first whose
# backtest has an origin: a 14-day window and a 7-day horizon), then every 7 days to END. The
# days are scored after, each by the newest promoted version fitted before it; the first 21
# days have none and are ranked by the heuristic. With 42 days, the days scored by the first
# models have had the 14 days of realised performance's maturity wait by END.
MODEL_OFFSETS ?= 20 27 34 41
FIRST_MODEL ?= $(shell date -u -d '$(START) +20 days' +%F)
SCORE_START ?= $(shell date -u -d '$(FIRST_MODEL) +1 day' +%F)
export RISKASSETS_NETWORKS ?= $(NETWORK):$(WINDOW):$(START)
# `dagster asset materialize` and `dagster dev` announce `dg launch` and `dg dev` on every
# call; the commands below keep the former, which the README and the error hints name and
# which run from any folder (`dg launch` runs the same from this one, see the README).
export PYTHONWARNINGS ?= ignore:Function `asset_materialize_command` is superseded,ignore:Function `dev_command` is superseded
MODELS = $(NETWORK)/training_set,$(NETWORK)/alert_scorer,$(NETWORK)/alert_ranker,$(NETWORK)/cluster_scorer

BENCH_SCALE ?= medium
BENCH_DAYS ?= 12
DAGSTER_MATERIALIZE = $(BIN)/dagster asset materialize -m riskassets.definitions

.PHONY: demo setup instance test test-fast dev mlflow-ui bench lint format constraints clean

## The first command: set up, publish 42 demo days (labels a mean 10 days after an address
## appears), ingest them, build the features, train and gate the models weekly from the 21st
## day, score every day (the heuristic ranks the days before the first promoted model), measure
## realised performance where labels have matured, and print what the warehouse holds, the
## models' backtests and gate decisions, the last day's top alerts with their reason codes, the
## scored days against the demo's hidden truth and the realised-performance table.
demo: setup instance
	$(BIN)/riskassets generate --network $(NETWORK) --start $(START) --days $(DAYS) \
		--scale $(SCALE) --window-days $(WINDOW)
	$(DAGSTER_MATERIALIZE) --select 'group:sot' --partition-range $(START)...$(END)
	$(DAGSTER_MATERIALIZE) --select 'group:features' --partition-range $(START)...$(END)
	for offset in $(MODEL_OFFSETS); do \
		$(DAGSTER_MATERIALIZE) --select '$(MODELS)' \
			--partition "$$(date -u -d '$(START) +'$$offset' days' +%F)" || exit 1; \
	done
	$(DAGSTER_MATERIALIZE) --select 'group:scoring' --partition-range $(START)...$(END)
	$(DAGSTER_MATERIALIZE) --select 'group:monitoring' --partition-range $(START)...$(END)
	$(BIN)/riskassets sql "$$(cat riskassets/sql/report/raw_row_counts.sql)"
	$(BIN)/riskassets sql "$$(cat riskassets/sql/report/training_set_summary.sql)"
	$(BIN)/riskassets models --network $(NETWORK)
	$(BIN)/riskassets top --network $(NETWORK) --date $(END) --limit 10
	$(BIN)/riskassets evaluate --network $(NETWORK) --start $(SCORE_START) --end $(END)
	$(BIN)/riskassets realised --network $(NETWORK)

## The second command: the test suite (what .ci/run runs).
test: setup
	$(BIN)/dg check defs
	$(BIN)/python -m pytest

## The inner loop: the tests not marked slow (no Dagster CLI, servers or demo warehouse).
test-fast: setup
	$(BIN)/python -m pytest -m "not slow"

## The MLflow UI on the embedded tracking store: http://127.0.0.1:5000
mlflow-ui: setup
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(RISKASSETS_HOME)/mlflow/mlflow.db \
		--host 127.0.0.1 --port 5000

## The Dagster UI on the same runtime home: http://127.0.0.1:3000
## Run from DAGSTER_HOME: Dagster warns about a dagster.yaml in the working directory that is
## not the instance's (this repository's copy is the template `make instance` installs).
dev: setup instance
	cd $(DAGSTER_HOME) && $(CURDIR)/$(BIN)/dagster dev -w $(CURDIR)/workspace.yaml \
		-h 127.0.0.1 -p 3000

setup: $(VENV)/.installed

# uv is much faster; plain pip is the fallback when uv cannot be installed. Bytecode is
# compiled once here (pip does it by default, uv when asked): without it every `dagster` and
# `riskassets` command compiles its imports again, about 5 s each.
$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	($(BIN)/python -m pip install -q uv && \
	 $(BIN)/uv pip install --python $(BIN)/python -q --compile-bytecode \
		-c constraints.txt -e '.[dev]') || \
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $@

instance:
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml

## The benchmark: every stage against its engine's limit (see README, Performance).
bench: setup
	$(BIN)/python benchmarks/bench.py --scale $(BENCH_SCALE) --days $(BENCH_DAYS) --out bench.json

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

## Re-pin every package after a dependency change in pyproject.toml.
constraints: setup
	(echo "# Exact pins for the whole environment (dagster 1.13.x with its 0.29.x integrations)."; \
	 echo "# Regenerate: make constraints (after changing dependencies in pyproject.toml)."; \
	 $(BIN)/python -m pip freeze --exclude-editable | grep -v '^uv==') > constraints.txt

clean:
	rm -rf $(RISKASSETS_HOME)
