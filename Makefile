# Two commands for a new user: `make demo` (set up and serve a demo mechanism) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: setup demo serve test lint bench clean

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
	$(BIN)/mypy --strict src/deconfliction/domain src/deconfliction/errors.py src/deconfliction/proof

test: lint
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python bench/conflicts.py
	$(BIN)/python bench/overlaps.py
	$(BIN)/python bench/line.py
	$(BIN)/python bench/notify.py

clean:
	rm -rf $(VENV) demo .pytest_cache .mypy_cache .ruff_cache .hypothesis
