# Two commands on a fresh machine: `make run` and `make test`. Each sets up .venv first when it is
# missing or older than pyproject.toml, so nothing has to be installed by hand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
#: Test processes (pytest-xdist): most tests wait on sandboxes and services rather than compute, so
#: more processes than cores pay. A file goes to one process whole (its shared servers start once);
#: files with slow tests go first (tests/conftest.py orders them; --no-loadscope-reorder keeps that
#: order, which pytest-xdist otherwise replaces by the number of tests a file has, leaving the
#: two-test schemathesis files for the end).
PYTEST_WORKERS ?= 4
PYTEST := $(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=25

.PHONY: lock run run-distributed test test-fast lint typecheck pytest pytest-distributed bench sandbox setup clean

#: Every dependency at the version requirements.lock pins (resolved on Python 3.11): the same
#: installs on every machine. `make lock` re-resolves it, the one command to upgrade.
LOCK := requirements.lock

$(STAMP): pyproject.toml $(LOCK)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(LOCK) -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

## Upgrade: every dependency to the newest version pyproject.toml allows, written to the lock file,
## then installed. Commit requirements.lock with the change it brings.
lock: $(STAMP)
	$(BIN)/pip-compile --quiet --upgrade --extra dev --strip-extras --no-emit-index-url \
		--no-emit-find-links --output-file $(LOCK) pyproject.toml
	$(BIN)/python -m pip install --quiet -c $(LOCK) -e '.[dev]'
	touch $(STAMP)

## The service on its embedded defaults (SQLite, in-process jobs) with the demo HubSpot sandbox.
run: $(STAMP)
	exec $(BIN)/hubspot-deals serve --demo

## The distributed mode on one machine: the API, two worker processes and the demo sandbox, sharing
## PostgreSQL and Redis on 127.0.0.1 (its database created if missing; DATABASE_URL and REDIS_URL
## override) and one token key: TOKEN_ENCRYPTION_KEY, else the data directory's key file (the
## embedded mode's, created if missing).
run-distributed: $(STAMP)
	TOKEN_ENCRYPTION_KEY=$${TOKEN_ENCRYPTION_KEY:-$$($(BIN)/python -c 'import sys; from pathlib import Path; from hubspot_deals.store.crypto import key_file; print(key_file(Path(sys.argv[1]) / "token.key").decode())' "$${DATA_DIR:-data}")} \
	DATABASE_URL=$${DATABASE_URL:-postgresql+asyncpg://postgres@127.0.0.1:5432/hubspot_deals} \
	REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/0} \
	exec $(BIN)/hubspot-deals serve --demo --workers 2

## Lint, types, the whole suite on the embedded defaults, then the end-to-end tests whose behaviour
## depends on the mode again in the distributed mode (PostgreSQL and Redis on 127.0.0.1, two worker
## processes). Each pass prints its 25 slowest tests.
test: $(STAMP) lint typecheck pytest pytest-distributed

## The edit-test loop: every test but the slow ones, embedded mode only (under 5 minutes).
test-fast: $(STAMP)
	$(PYTEST) -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(PYTEST) --junitxml=reports/embedded.xml

pytest-distributed: $(STAMP)
	HUBSPOT_DEALS_TEST_MODE=distributed $(PYTEST) tests/e2e -m "not mode_independent" \
		--junitxml=reports/distributed.xml

bench: $(STAMP)
	$(BIN)/python -m bench

sandbox: $(STAMP)
	$(BIN)/hubspot-deals sandbox

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache reports
