# Quick start: `make demo` and `make test`. Both set themselves up from a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# System packages the tests need (real PACS, DICOM tools, IOD validator, browser, OCR).
APT_PACKAGES := orthanc orthanc-dicomweb dcmtk dicom3tools postgresql-15 tesseract-ocr chromium
APT_BINARIES := /usr/sbin/Orthanc /usr/bin/storescu /usr/bin/dciodvfy /usr/share/orthanc/plugins/libOrthancDicomWeb.so \
	/usr/lib/postgresql/15/bin/initdb /usr/bin/tesseract /usr/bin/chromium

.PHONY: venv demo test lint typecheck pytest pytest-node-variants system-deps clean bench bench-quick

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/eucaim-ingest demo

system-deps:
	@missing=""; for f in $(APT_BINARIES); do [ -e "$$f" ] || missing="yes"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    echo "installing system packages: $(APT_PACKAGES)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES) >/dev/null; \
	  else \
	    echo "missing system packages; run as root or: sudo apt-get install $(APT_PACKAGES)"; \
	  fi; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check src tests $(wildcard bench tools)
	$(BIN)/ruff format --check src tests $(wildcard bench tools)

typecheck: $(STAMP)
	$(BIN)/mypy

# axe-core (accessibility checks in the browser tests) comes from the npm registry, not the repo.
AXE := node_modules/axe-core/axe.min.js

$(AXE):
	npm install --no-save --no-package-lock --silent axe-core

# The node's suite again on the other image stores and on PostgreSQL (the run above is filesystem
# + SQLite; tests/support/node_store.py says how a variant is chosen). node_stores, node_workers
# and node_jobs choose their stores and databases themselves. node_api (schemathesis) reruns on
# PostgreSQL only: its requests reach no stored object, but PostgreSQL refuses values SQLite takes.
NODE_SUITE := tests/integration/node tests/integration/node_access tests/integration/node_accounts \
	tests/integration/node_ops tests/integration/datasets tests/integration/clinical_node

pytest: $(STAMP) system-deps $(AXE)
	$(BIN)/pytest -q -n 2 --dist loadfile
	$(MAKE) --no-print-directory pytest-node-variants

pytest-node-variants: $(STAMP) system-deps
	EUCAIM_TEST_NODE_STORE=s3 $(BIN)/pytest -q -n 2 --dist loadfile $(NODE_SUITE)
	EUCAIM_TEST_NODE_STORE=dicomweb $(BIN)/pytest -q -n 2 --dist loadfile $(NODE_SUITE)
	EUCAIM_TEST_NODE_DATABASE=postgresql $(BIN)/pytest -q -n 2 --dist loadfile $(NODE_SUITE) tests/integration/node_api
	EUCAIM_TEST_NODE_STORE=s3 EUCAIM_TEST_NODE_DATABASE=postgresql $(BIN)/pytest -q -n 2 --dist loadfile $(NODE_SUITE)

test: system-deps lint typecheck pytest

# Benchmarks (not tests): peers side by side, written up in docs/benchmarks.md.
bench: $(STAMP) system-deps
	sh bench/setup_peers.sh
	sh bench/run.sh bench.deid.run
	sh bench/run.sh bench.transfer.run

bench-quick: $(STAMP) system-deps
	sh bench/setup_peers.sh
	sh bench/run.sh bench.deid.run --quick --repeat 1
	sh bench/run.sh bench.transfer.run --quick

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
