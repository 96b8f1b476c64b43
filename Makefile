# premortem — every target creates the virtual environment it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed

.PHONY: demo serve test test-unit check bench install clean screenshots

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,demo]"
	touch $(STAMP)

install: $(STAMP)

## The main job: the whole loop on one machine (see README).
demo: $(STAMP)
	$(BIN)/premortem demo

## Start the server on the embedded default (SQLite ./premortem.db) with the seed example loaded.
serve: $(STAMP)
	$(BIN)/premortem serve --example

## Every test: unit, integration (PostgreSQL, NATS, Alertmanager) and e2e (API, browser).
test: $(STAMP)
	$(BIN)/pytest -q

## Refresh docs/screenshots/ from the browser tests (they write to a temporary folder otherwise).
screenshots: $(STAMP)
	PREMORTEM_SCREENSHOTS=docs/screenshots $(BIN)/pytest -q tests/e2e/browser

test-unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

check: $(STAMP)
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

## Benchmarks: each prints a table and writes JSON under .bench/ (data from ../shared/data).
DATA ?= ../shared/data
bench: $(STAMP)
	mkdir -p .bench
	for b in bench/[!_]*.py; do n=$$(basename $$b .py); $(PY) $$b --json .bench/$$n.json || exit 1; done
	$(BIN)/premortem backtest openstack-fi $(DATA)/openstack-fi --json .bench/backtest_openstack.json

clean:
	rm -rf $(VENV) .bench .pytest_cache .mypy_cache .ruff_cache
