# riskassets: the README's commands. Everything runs on embedded defaults unless the
# RISKASSETS_* variables point elsewhere (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export RISKASSETS_HOME ?= $(CURDIR)/.riskassets
export DAGSTER_HOME ?= $(RISKASSETS_HOME)/dagster

NETWORK ?= torus
START ?= 2025-08-01
END ?= 2025-08-21
# Models trained as of MID score the days after it; the models of END score the days to come.
MID ?= 2025-08-14
SCORE_START ?= 2025-08-15
MODELS = $(NETWORK)/training_set,$(NETWORK)/alert_scorer,$(NETWORK)/alert_ranker,$(NETWORK)/cluster_scorer
DAYS ?= 21
SCALE ?= demo

BENCH_SCALE ?= medium
BENCH_DAYS ?= 12
DAGSTER_MATERIALIZE = $(BIN)/dagster asset materialize -m riskassets.definitions

.PHONY: demo setup instance test dev mlflow-ui bench lint format constraints clean

## The first command: set up, publish 21 demo days, ingest them, build the features, train
## and gate the models, score the days after the first training date, and print what the
## warehouse holds, the models' evaluation and gate decisions, the last day's top alerts with
## their reason codes, and the scored days against the demo's hidden truth.
demo: setup instance
	$(BIN)/riskassets generate --network $(NETWORK) --start $(START) --days $(DAYS) --scale $(SCALE)
	$(DAGSTER_MATERIALIZE) --select 'group:sot' --partition-range $(START)...$(END)
	$(DAGSTER_MATERIALIZE) --select 'group:features' --partition-range $(START)...$(END)
	$(DAGSTER_MATERIALIZE) --select '$(MODELS)' --partition $(MID)
	$(DAGSTER_MATERIALIZE) --select 'group:scoring' \
		--partition-range $(SCORE_START)...$(END)
	$(DAGSTER_MATERIALIZE) --select '$(MODELS)' --partition $(END)
	$(BIN)/riskassets sql "$$(cat riskassets/sql/report/raw_row_counts.sql)"
	$(BIN)/riskassets sql "$$(cat riskassets/sql/report/training_set_summary.sql)"
	$(BIN)/riskassets models --network $(NETWORK)
	$(BIN)/riskassets top --network $(NETWORK) --date $(END) --limit 10
	$(BIN)/riskassets evaluate --network $(NETWORK) --as-of $(MID) --start $(SCORE_START) --end $(END)

## The second command: the test suite (what .ci/run runs).
test: setup
	$(BIN)/python -m pytest

## The MLflow UI on the embedded tracking store: http://127.0.0.1:5000
mlflow-ui: setup
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(RISKASSETS_HOME)/mlflow/mlflow.db \
		--host 127.0.0.1 --port 5000

## The Dagster UI on the same runtime home: http://127.0.0.1:3000
dev: setup instance
	$(BIN)/dagster dev -m riskassets.definitions -h 127.0.0.1 -p 3000

setup: $(VENV)/.installed

# uv is much faster; plain pip is the fallback when uv cannot be installed.
$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	($(BIN)/python -m pip install -q uv && \
	 $(BIN)/uv pip install --python $(BIN)/python -q -c constraints.txt -e '.[dev]') || \
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
