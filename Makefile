# Two commands on a fresh machine: `make dev` runs everything, `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: dev test test-install lint audit-deps bench bench-accept services clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,test]'
	touch $(STAMP)

services:
	@bash scripts/ensure-services.sh

dev: $(STAMP) services
	$(PY) -m service dev

test: $(STAMP) services
	@bash scripts/ensure-test-tools.sh
	$(PY) -m pytest -q

# The README's "Running it for real", from a wheel in a clean venv, outside the checkout.
test-install: $(STAMP) services
	$(PY) scripts/test_install.py

lint: $(STAMP)
	$(VENV)/bin/ruff check service tests bench scripts
	$(VENV)/bin/mypy service bench
	$(VENV)/bin/bandit --quiet --recursive service --severity-level medium --confidence-level medium

# Needs an advisory database (PyPI's JSON API, or OSV with ARGS=-s osv): exit 3 if unreachable.
audit-deps: $(STAMP)
	$(PY) scripts/audit_deps.py $(ARGS)

bench: $(STAMP) services
	$(PY) bench/delivery_throughput.py

# POST /v1/messages against a bare Starlette + asyncpg INSERT, both driven by wrk (Debian's
# package) in alternating rounds; e.g. ARGS='--while-delivering' or ARGS='--workers 2'.
bench-accept: $(STAMP) services
	$(PY) bench/accept.py $(ARGS)

clean:
	rm -rf $(VENV) .dev
