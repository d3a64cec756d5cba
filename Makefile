# The README's commands: `make run` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Third-party NGSI-LD clients the tests drive against `stadsnav run`; each pins libraries that
# clash with ours (ngsildclient wants httpx<0.24), so each has a virtualenv of its own.
CLIENTS := $(VENV)/clients
NGSILDCLIENT := $(CLIENTS)/ngsildclient/.installed-stamp
WORKSPACE ?= workspaces/demo
SOAK_MINUTES ?= 10

.PHONY: install run test lint format bench soak clean

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

clean:
	rm -rf $(VENV) data .mypy_cache .ruff_cache .pytest_cache
