# The two commands of the README: `make run` and `make test`. Everything they need is installed here.
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WHEELHOUSE_STAMP := $(VENV)/share/portal/wheelhouse/.fetched
APT_PACKAGES := xrootd-server xrootd-client chromium postgresql podman runc mmdebstrap
# Translations: the .po files are the sources (committed); the .mo files Flask-Babel reads are compiled here (and into
# wheels by hatch_build.py), never committed.
TRANSLATIONS := portal/translations
PO_FILES := $(wildcard $(TRANSLATIONS)/*/LC_MESSAGES/messages.po)
MO_FILES := $(PO_FILES:.po=.mo)
# axe-core for the accessibility tests (tests/browser/test_accessibility.py), pinned, into the venv's share dir.
AXE_VERSION := 4.14.1
AXE := $(VENV)/share/portal/axe-core-$(AXE_VERSION)/node_modules/axe-core/axe.min.js

.PHONY: install system-deps run test test-unit test-functional test-browser lint bench clean translations

install: $(STAMP) $(WHEELHOUSE_STAMP) system-deps $(MO_FILES) $(AXE)

# Every extra (pyproject.toml): `make run` serves analyses and launches, `make test` also runs the browser tests.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	rm -rf portal.egg-info  # left by setuptools installs: on sys.path from a checkout, it would shadow the metadata
	$(BIN)/pip install -q -e '.[processing,launch,browser,dev,releases]'
	$(BIN)/pip install -q --no-deps 'cffconvert==2.0.0'  # see the `releases` extra in pyproject.toml
	# rfc3987-syntax (pulled in by jupyter-events' jsonschema[format-nongpl]) compiles 39 Lark grammars when jsonschema
	# is imported: 2.3 s of CPU in every portal process (CLI, web worker, job worker). jsonschema treats it as optional
	# (only the `iri` format check goes); nothing of ours validates IRIs.
	$(BIN)/pip uninstall -q -y rfc3987-syntax
	touch $(STAMP)

# Wheels the analysis environments need beyond the portal's own packages, so launches build offline.
$(WHEELHOUSE_STAMP): $(STAMP) $(wildcard analysis_envs/*/requirements.txt)
	$(BIN)/portal env prefetch
	touch $@

# System packages (XRootD server and client, Chromium for browser tests, PostgreSQL for the contract tests;
# podman, runc and mmdebstrap for the image build test, tests/functional/test_container_image.py).
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing system packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "missing system packages:$$missing"; \
	    echo "install them with: sudo apt-get install -y$$missing (tests needing them are skipped)"; \
	  fi; \
	fi

$(TRANSLATIONS)/%/LC_MESSAGES/messages.mo: $(TRANSLATIONS)/%/LC_MESSAGES/messages.po $(STAMP)
	$(BIN)/pybabel compile -i $< -o $@

$(AXE):
	@if command -v npm >/dev/null; then \
	  npm install --silent --no-audit --no-fund --prefix $(VENV)/share/portal/axe-core-$(AXE_VERSION) axe-core@$(AXE_VERSION); \
	else echo "npm is missing: the accessibility tests are skipped (apt-get install npm)"; fi

# After changing a page or a message: extract the msgids (messages.pot), merge them into each language's .po (then
# translate what is new or fuzzy there), compile. tests/unit/test_translations.py fails until every msgid is translated.
translations: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg --no-location --sort-output --omit-header -o $(TRANSLATIONS)/messages.pot portal
	$(BIN)/pybabel update -i $(TRANSLATIONS)/messages.pot -d $(TRANSLATIONS) --width 120 --no-fuzzy-matching --ignore-obsolete
	$(BIN)/pybabel compile -d $(TRANSLATIONS) --statistics

run: install
	$(BIN)/portal stack

# Tests run in a loopback-only network namespace when possible (tests/run-isolated): the XRootD servers
# they start listen on every interface of that namespace and on nothing else.
test: install
	tests/run-isolated $(BIN)/pytest -n 3 --dist loadgroup --no-loadscope-reorder --durations=30 tests

test-unit: install
	$(BIN)/pytest tests/unit

test-functional: install
	tests/run-isolated $(BIN)/pytest tests/functional

test-browser: install
	tests/run-isolated $(BIN)/pytest tests/browser

# ruff (lint and formatting) over everything we write; mypy over the portal package (typed Settings included).
lint: install
	$(BIN)/ruff check portal tests benchmarks hatch_build.py
	$(BIN)/ruff format --check portal tests benchmarks hatch_build.py
	$(BIN)/mypy

bench: install
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) var test-artifacts portal.egg-info
