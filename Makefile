# authgate: `make demo` runs a working demo, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: help install demo test unit e2e lint typecheck check coverage fmt docs clean bench bench-memory bench-scale bench-upstream drills drills-quick

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(BIN)/authgate: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

install: $(BIN)/authgate ## create the virtual environment with authgate and its dev tools

demo: install ## run the demo server with the playground on http://127.0.0.1:8080/playground
	$(BIN)/authgate serve --demo

lint: install ## ruff: the lint rules, and the format (`make fmt` applies it)
	$(BIN)/ruff check src tests scripts $(wildcard bench) drills
	$(BIN)/ruff format --check src tests scripts $(wildcard bench) drills

typecheck: install ## mypy: strict on src/, bench/ and drills/; tests/ checked, annotations optional
	$(BIN)/mypy

test: install lint typecheck ## lint, typecheck and the whole test suite
	$(BIN)/pytest

unit: install ## only the fast tests
	$(BIN)/pytest tests/unit

check: test ## what CI runs

coverage: install ## the whole suite under coverage.py, server processes included; then the report
	$(BIN)/coverage erase
	$(BIN)/coverage run -m pytest
	$(BIN)/coverage combine --quiet
	$(BIN)/coverage report

fmt: install ## format the code and fix what ruff can fix
	$(BIN)/ruff format src tests scripts $(wildcard bench) drills
	$(BIN)/ruff check --fix src tests scripts $(wildcard bench) drills

bench: install ## authgate vs node-oidc-provider with wrk, about 10 minutes (docs/performance.md)
	$(BIN)/python bench/run.py

bench-memory: install ## worker RSS with 1,000,000 SQLite tokens, memory-store bytes per token, about 2 minutes
	$(BIN)/python bench/memory.py

bench-scale: install ## SQLite with 10,000 / 1,000,000 / 10,000,000 tokens, PostgreSQL 10,000 / 1,000,000, about 20 minutes
	$(BIN)/python bench/scale.py

$(VENV)/.bench-extra: $(BIN)/authgate
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	@touch $@

bench-upstream: $(VENV)/.bench-extra ## the gateway's upstream client against aiohttp, about 90 seconds (docs/performance.md)
	$(BIN)/python bench/upstream_client.py

drills: install ## the reliability drills, about 50 minutes with the 30-minute soak (docs/reliability.md)
	$(BIN)/python -m drills --out drills/results

drills-quick: install ## a short run of each drill, about 3 minutes
	$(BIN)/python -m drills --quick

docs: install ## regenerate docs/configuration.md from the settings models in config/
	$(BIN)/python scripts/config_docs.py

clean: ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-artifacts .coverage .coverage.*
