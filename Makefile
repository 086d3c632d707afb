# cafepipe — `make help` lists the targets. Every target sets up what it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CHECKOV_VENV := $(VENV)/checkov
# Debian packages the tests use: Apache + mod_php (config and site test), shellcheck and
# logrotate (instance scripts),
# GoAccess (insights cross-check), Chromium (HTML report). Installed only where missing.
DEBIAN_PACKAGES := apache2 libapache2-mod-php php-cli shellcheck logrotate goaccess chromium
DEBIAN_COMMANDS := apache2 php shellcheck logrotate goaccess chromium

.DEFAULT_GOAL := help
.PHONY: help install system-deps demo test test-fast lint bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

install: $(STAMP) ## Create .venv with cafepipe, the emulator, test and lint tools
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[emulator,dev]'
	# checkov pins old versions of shared packages, so it gets a venv of its own.
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet checkov
	touch $(STAMP)

system-deps: ## Install the Debian packages the tests use (where missing)
	@missing=""; for c in $(DEBIAN_COMMANDS); do command -v $$c >/dev/null 2>&1 || missing=1; done; \
	if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null 2>&1; then \
	    SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(DEBIAN_PACKAGES) >/dev/null; \
	  else echo "warning: apt-get not found; tests needing $(DEBIAN_PACKAGES) will be skipped"; fi; \
	fi

demo: install ## Run the whole lifecycle offline on a local emulator (no AWS account)
	$(BIN)/cafepipe demo

test: install system-deps ## Run the full test suite (unit + integration against the emulator)
	$(BIN)/pytest -n 2 --dist loadgroup

test-fast: install ## Unit tests only
	$(BIN)/pytest -m "not integration and not browser"

lint: install ## ruff + mypy
	$(BIN)/ruff check cafepipe tests benchmarks
	$(BIN)/ruff format --check cafepipe tests benchmarks
	$(BIN)/mypy

bench: install system-deps ## Benchmarks (ratios against named peers, measured side by side)
	@for f in benchmarks/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean: ## Remove build output and caches (not .venv, not .cafepipe)
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
