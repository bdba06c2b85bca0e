# The two set-up commands of the README: `make repro` (the pipeline on the embedded synthetic
# data) and `make test`. Each creates the virtual environment it needs on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin

.PHONY: repro test env
env: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

repro: $(VENV)/.installed
	PATH=$(BIN):$$PATH dvc repro

test: $(VENV)/.installed
	PATH=$(BIN):$$PATH pytest -q
