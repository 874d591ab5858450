# The README's two commands: `make run` and `make test`.
# Each builds the project's own virtual environment from its own files first
# (again only when pyproject.toml changes).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test setup lint typecheck pytest bench fmt clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "certwarden needs Python 3.11+"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/certwarden --data-dir var serve --demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

# The fast tests on both cores (pytest-xdist), then the slow ones with real
# processes (serve instances, failovers with short leases) one at a time, on
# a machine no other test is loading.
pytest: $(STAMP)
	$(BIN)/pytest -q -n 2 -m "not slow"
	$(BIN)/pytest -q -m slow

test: lint typecheck pytest

fmt: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: $(STAMP)
	$(BIN)/python bench/import_scale.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
