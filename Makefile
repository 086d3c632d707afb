# cafepipe — `make help` lists the targets. Every target sets up what it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# What each target needs, installed once: the demo only the tool and the emulator; the tests
# and lint also the dev tools and checkov.
DEMO_STAMP    := $(VENV)/.installed-demo
DEV_STAMP     := $(VENV)/.installed-dev
CHECKOV_VENV  := $(VENV)/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
PIP           := $(BIN)/pip --quiet --quiet --disable-pip-version-check
# Debian packages the tests use: Apache + mod_php (config and site test), shellcheck and
# logrotate (instance scripts),
# GoAccess (insights cross-check), Chromium (HTML report). Installed only where missing.
DEBIAN_PACKAGES := apache2 libapache2-mod-php php-cli shellcheck logrotate goaccess chromium
DEBIAN_COMMANDS := apache2 php shellcheck logrotate goaccess chromium

.DEFAULT_GOAL := help
.PHONY: help install system-deps demo test test-fast lint bench bench-50m clean

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

install: $(DEV_STAMP) $(CHECKOV_STAMP) ## Create .venv with cafepipe, the emulator, test and lint tools

$(DEMO_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -e '.[emulator]'
	touch $@

$(DEV_STAMP): $(DEMO_STAMP)
	$(PIP) install -e '.[emulator,dev]'
	touch $@

# checkov pins old versions of shared packages, so it gets a venv of its own.
$(CHECKOV_STAMP):
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip --quiet --quiet --disable-pip-version-check install checkov
	touch $@

system-deps: ## Install the Debian packages the tests use (where missing)
	@missing=""; for c in $(DEBIAN_COMMANDS); do command -v $$c >/dev/null 2>&1 || missing=1; done; \
	if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null 2>&1; then \
	    SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(DEBIAN_PACKAGES) >/dev/null; \
	  else echo "warning: apt-get not found; tests needing $(DEBIAN_PACKAGES) will be skipped"; fi; \
	fi

demo: $(DEMO_STAMP) ## Run the whole lifecycle offline on a local emulator (no AWS account)
	$(BIN)/cafepipe demo

test: $(DEV_STAMP) $(CHECKOV_STAMP) system-deps ## Run the full test suite (unit + integration against the emulator)
	$(BIN)/pytest -n 2 --dist loadgroup

test-fast: $(DEV_STAMP) ## Unit tests only: no emulator, Terraform, Apache or browser (under a minute)
	$(BIN)/pytest -n 2 -m "not integration"

lint: $(DEV_STAMP) ## ruff + mypy
	$(BIN)/ruff check cafepipe tests benchmarks
	$(BIN)/ruff format --check cafepipe tests benchmarks
	$(BIN)/mypy

bench: $(DEV_STAMP) system-deps ## Benchmarks (ratios against named peers, measured side by side)
	@for f in benchmarks/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

bench-50m: $(DEV_STAMP) ## Insights on a 50M-line log (12 GB on disk, minutes; no GoAccess)
	$(BIN)/python benchmarks/bench_insights.py --lines 50000000 --formats combined --goaccess-max 0 --no-gz

clean: ## Remove build output and caches (not .venv, not .cafepipe)
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
