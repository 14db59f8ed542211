# telesim: every target sets itself up on a fresh machine (creates .venv, installs the package).
#   make run    the main job          make test   the test suite
#   make bench  benchmarks            make lint / make format / make clean

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# The main job: change MAIN_JOB (or override on the command line: make run MAIN_JOB="...").
MAIN_JOB ?= $(BIN)/telesim experiment --replicates 20 --scale 2000 --workers 2 --cheapest --discovery --report
PYTEST_ARGS ?=

.PHONY: run test bench lint format clean setup

run: $(STAMP)
	$(MAIN_JOB)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m benchmarks

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

setup: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Re-install only when pyproject.toml changes (the stamp records the last install).
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[test,app,cluster,decision]"
	touch $(STAMP)

clean:
	rm -rf results/runs .pytest_cache .ruff_cache build
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -exec rm -rf {} +
	find . -path ./$(VENV) -prune -o -type d -name "*.egg-info" -exec rm -rf {} +
