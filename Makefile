# Two commands for a fresh machine: `make demo` (the main job) and `make test`.
# Each creates .venv and installs what it needs on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv run demo test test-fast lint check bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert (3, 11) <= sys.version_info[:2] < (3, 13), "stripe-lifecycle needs Python 3.11 or 3.12 (durable-rules does not build on 3.13); set PYTHON=python3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: venv
	$(BIN)/stripe-lifecycle run

demo: venv
	$(BIN)/stripe-lifecycle demo

check: venv
	$(BIN)/stripe-lifecycle check

lint: venv
	$(BIN)/ruff check worker actions
	$(BIN)/mypy

test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: venv
	$(BIN)/python -m pytest -m "not slow and not postgres and not redis" $(PYTEST_ARGS)

bench: venv
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build *.egg-info
