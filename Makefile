# h100sim: two commands do everything on a fresh machine.
#   make run   set up the virtual environment and run the baseline scenario
#   make test  set up (packages, headless Chromium, offline app assets) and run every test
#   make lab   open the lessons' notebooks in JupyterLab
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ASSETS := .cache/solara-assets
ASSETS_STAMP := $(ASSETS)/.complete
export SOLARA_ASSETS_PROXY_CACHE_DIR := $(abspath $(ASSETS))
export SOLARA_TELEMETRY_MIXPANEL_ENABLE := False
export MPLBACKEND := Agg

.PHONY: setup run test test-fast lint app lab bench browser assets clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

run: setup
	$(VENV)/bin/h100sim run

# Headless Chromium for the browser tests (Debian package; Playwright's own download is blocked).
browser:
	bash .ci/install-browser

# The app's JavaScript/CSS, fetched once from the npm registry into Solara's proxy cache.
assets: $(ASSETS_STAMP)

$(ASSETS_STAMP): setup viz/assets.py
	command -v npm >/dev/null 2>&1 || bash .ci/install-npm
	$(PY) -m viz.assets --cache-dir $(ASSETS)

test: setup browser assets lint
	$(PY) -m pytest -n 2 --dist loadgroup -q

# Lint, format and type checks of the model and its agents (config in pyproject.toml).
lint: setup
	$(PY) -m ruff check model agents
	$(PY) -m ruff format --check model agents
	$(PY) -m mypy model agents

# Everything but the browser tests, for quick iteration.
test-fast: setup
	$(PY) -m pytest -n 2 --dist loadgroup -q -m "not browser"

app: setup assets
	$(VENV)/bin/h100sim app

# The lessons' notebooks in JupyterLab (the [teach] extra, part of setup).
lab: setup
	$(VENV)/bin/jupyter lab docs/teaching/notebooks/

bench: setup
	$(PY) -m experiments.bench

clean:
	rm -rf $(VENV) .cache results .pytest_cache
