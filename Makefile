# Encore — one command to set up, one to run, one to test.
#   make demo   installs what is missing, runs the yearly pipeline on generated data
#   make test   installs what is missing, runs the whole test suite
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.12 2>/dev/null || echo python3.12)
VENV := .venv
AFVENV := .venv-airflow
STAMP_JOBS := $(VENV)/.encore-installed
STAMP_AF := $(AFVENV)/.encore-installed
STAMP_BROWSER := $(VENV)/.encore-browser
DEMO_DIR ?= var/demo

.PHONY: help setup check-tools demo test test-fast test-jobs test-airflow lint format bench airflow browser fonts clean

help:
	@echo "make demo   - set up, generate a small dataset, run the yearly pipeline, print the outputs"
	@echo "make test   - set up, lint, run the whole test suite (what CI runs; ~37 min on 2 cores, measured 2026-12-03)"
	@echo "make test-fast - lint and the tests not marked slow (the inner loop, minutes)"
	@echo "make lint   - ruff check (incl. Airflow 3 rules) and ruff format --check"
	@echo "make format - apply ruff's fixes and formatting"
	@echo "make bench  - the benchmark (see docs/benchmark.md)"
	@echo "make airflow - start Airflow locally with the DAGs wired in"

check-tools:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 12) else 1)' 2>/dev/null \
	  || { echo "Encore needs Python 3.12: install it (e.g. 'pyenv install 3.12') or set PYTHON=/path/to/python3.12"; exit 1; }
	@v=$$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1); \
	  [ -n "$$v" ] && [ "$$v" -ge 17 ] \
	  || { echo "Spark needs Java 17 or newer on PATH: install it (e.g. 'apt-get install openjdk-17-jre-headless')"; exit 1; }

setup: check-tools $(STAMP_JOBS) $(STAMP_AF)

$(STAMP_JOBS): pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -e '.[dev]'
	@touch $@

$(STAMP_AF): requirements-airflow.txt
	@test -x $(AFVENV)/bin/python || $(PYTHON) -m venv $(AFVENV)
	$(AFVENV)/bin/python -m pip install -q --upgrade pip
	$(AFVENV)/bin/python -m pip install -q -r requirements-airflow.txt
	@touch $@

# Headless Chromium for the recap-page tests: Debian's package, driven by Playwright.
browser: $(STAMP_BROWSER)
$(STAMP_BROWSER):
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null) \
	  || { echo "could not install chromium: run 'apt-get install chromium' as root"; exit 1; }; }
	@touch $@

# The Noto fonts every card is drawn with (jobs/encore/render/fonts.py, docs/render.md): Debian's
# packages, installed when one of their files is missing. Render refuses to start without them.
NOTO := /usr/share/fonts/truetype/noto
FONT_FILES := $(NOTO)/NotoSans-Regular.ttf $(NOTO)/NotoSansDevanagari-Regular.ttf \
  /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc $(NOTO)/NotoColorEmoji.ttf
FONT_PACKAGES := fonts-noto-core fonts-noto-cjk fonts-noto-color-emoji
fonts:
	@for f in $(FONT_FILES); do test -f $$f || missing=1; done; \
	  [ -z "$$missing" ] || { \
	  echo "installing Debian's $(FONT_PACKAGES) for the cards and PNGs"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(FONT_PACKAGES) >/dev/null) \
	  || { echo "could not install the Noto fonts: run 'apt-get install $(FONT_PACKAGES)' as root"; exit 1; }; }

demo: setup fonts
	$(VENV)/bin/encore demo --data $(DEMO_DIR)

# The whole suite, lint first (what CI runs): ~37 minutes on 2 cores (measured 2026-12-03: tests/jobs 25 min, tests/airflow 10 min).
test: lint browser fonts
	@rc=0; \
	$(VENV)/bin/python -m pytest tests/jobs -q --durations=25 || rc=1; \
	$(AFVENV)/bin/python -m pytest tests/airflow -q --durations=15 || rc=1; \
	exit $$rc

# The inner loop: lint and every test not marked slow (no end-to-end Spark runs, no
# browser, no scheduler, no cluster): a few minutes.
test-fast: lint fonts
	$(VENV)/bin/python -m pytest tests/jobs -q -m "not slow"
	$(AFVENV)/bin/python -m pytest tests/airflow -q -m "not slow"

test-jobs: setup fonts
	$(VENV)/bin/python -m pytest tests/jobs -q --durations=25

test-airflow: setup
	$(AFVENV)/bin/python -m pytest tests/airflow -q --durations=15

# ruff's rules (pyproject.toml [tool.ruff], Airflow 3's AIR3 rules included) and its
# formatter, checked, never applied: `make format` applies them.
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: setup
	$(VENV)/bin/encore bench --plays $${PLAYS:-10000000} --out var/bench

airflow: setup
	./scripts/airflow-standalone.sh

clean:
	rm -rf var
