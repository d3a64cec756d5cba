# The README's commands: `make run` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Third-party NGSI-LD clients the tests drive against `stadsnav run`; each pins libraries that
# clash with ours (ngsildclient wants httpx<0.24), so each has a virtualenv of its own.
CLIENTS := $(VENV)/clients
NGSILDCLIENT := $(CLIENTS)/ngsildclient/.installed-stamp
# The ETSI NGSI-LD test suite's own requirements (Robot Framework and its libraries).
CONFORMANCE := $(CLIENTS)/etsi-test-suite
WORKSPACE ?= workspaces/demo
SOAK_MINUTES ?= 10

.PHONY: install run test lint format bench soak conformance clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(NGSILDCLIENT):
	$(PYTHON) -m venv $(CLIENTS)/ngsildclient
	$(CLIENTS)/ngsildclient/bin/python -m pip install --quiet 'ngsildclient==0.5.2'
	touch $(NGSILDCLIENT)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/stadsnav demo $(WORKSPACE)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/stadsnav lint $(WORKSPACE)

test: lint $(NGSILDCLIENT)
	$(BIN)/pytest

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: $(STAMP)
	$(BIN)/python -m bench

soak: $(STAMP)
	$(BIN)/python -m bench soak --minutes $(SOAK_MINUTES)

# make conformance SUITE=<checkout of forge.etsi.org/rep/cim/ngsi-ld-test-suite> [CONFORMANCE_ARGS=...]
conformance: $(STAMP)
	@test -n "$(SUITE)" || { echo "give SUITE=<a checkout of the ETSI ngsi-ld-test-suite>"; exit 2; }
	test -x $(CONFORMANCE)/bin/robot || { $(PYTHON) -m venv $(CONFORMANCE) && \
		cd $(SUITE) && $(abspath $(CONFORMANCE))/bin/python -m pip install --quiet -r requirements.txt; }
	$(BIN)/python -m bench conformance --suite $(SUITE) --robot $(CONFORMANCE)/bin/robot $(CONFORMANCE_ARGS)

clean:
	rm -rf $(VENV) data .mypy_cache .ruff_cache .pytest_cache
