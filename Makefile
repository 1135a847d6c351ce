PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install test lint bench run demo clean

install: $(STAMP)

# Reinstall whenever pyproject.toml changes, so `make test` never runs a stale .venv.
$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python >= 3.11 is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/eventlog.py
	$(BIN)/python bench/reporter.py

# The whole system without Docker, against TRAINBRIDGE_DATABASE_URL / TRAINBRIDGE_AMQP_URL.
run: $(STAMP)
	$(BIN)/trainbridge dev

# The same plus the fake Labelbox and a signed sample run: watch it reach COMPLETE.
demo: $(STAMP)
	$(BIN)/trainbridge dev --demo

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
