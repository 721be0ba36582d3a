# Two commands for a new user: `make demo` (set up and serve a demo mechanism) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
TEST_DB ?= postgresql://127.0.0.1/test

.PHONY: setup demo serve test test-postgres lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

demo: setup
	$(BIN)/deconfliction demo

serve: setup
	$(BIN)/deconfliction serve

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy src
	$(BIN)/mypy --strict src/deconfliction/domain src/deconfliction/errors.py src/deconfliction/proof

# The whole suite on SQLite, then again on PostgreSQL (a fresh database per test on TEST_DB).
test: lint
	$(BIN)/python -m pytest
	$(MAKE) test-postgres

test-postgres: setup
	DECONFLICTION_TEST_DB=$(TEST_DB) $(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python bench/conflicts.py
	$(BIN)/python bench/overlaps.py
	$(BIN)/python bench/line.py
	$(BIN)/python bench/notify.py

clean:
	rm -rf $(VENV) demo .pytest_cache .mypy_cache .ruff_cache .hypothesis
