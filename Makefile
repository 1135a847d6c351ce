PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install lock test lint bench run demo clean

install: $(STAMP)

# Reinstall whenever pyproject.toml or the lock changes, so `make test` never runs a stale
# .venv. The dependencies come from the hashed lock (the versions the images install too; see
# requirements/lock.sh), the build backend likewise (requirements/build.txt), then the project
# itself, editable, built without isolation: nothing unhashed is fetched.
$(STAMP): pyproject.toml requirements/dev.txt requirements/build.txt
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python >= 3.11 is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r requirements/build.txt
	$(BIN)/pip install --quiet --require-hashes -r requirements/dev.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# Regenerates requirements/*.txt from pyproject.toml (needs pypi.org; see requirements/lock.sh).
# Moving pins: `make lock LOCK_ARGS=--upgrade` or `LOCK_ARGS='--upgrade-package NAME'`.
lock:
	requirements/lock.sh $(LOCK_ARGS)

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
