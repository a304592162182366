# supplychain: `make demo` sets up .venv and runs the main job on the bundled sample;
# `make test` is the whole gate (lint + tests), exactly what CI runs.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
DB     ?= supplychain.duckdb
SAMPLE ?= data/sample

.PHONY: demo test lint lab sample dictionary bench clean

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Python >= 3.11 is required, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/supplychain --db $(DB) ingest --accept-partial --limit 12 $(SAMPLE)
	$(VENV)/bin/supplychain --db $(DB) summary
	$(VENV)/bin/supplychain --db $(DB) score
	$(VENV)/bin/supplychain --db $(DB) scenario run nankai_trough --top 4
	$(VENV)/bin/supplychain --db $(DB) plan synth reports/sample-plans.xlsx --plans 12
	$(VENV)/bin/supplychain --db $(DB) plan load reports/sample-plans.xlsx
	$(VENV)/bin/supplychain --db $(DB) plan rank

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check supplychain tests benchmarks
	$(VENV)/bin/ruff format --check supplychain tests benchmarks

# The browser test needs Debian's Chromium and CJK fonts (apt; sudo when not root), JupyterLab
# and Playwright (pip, the `browser` extra). Installed once per virtualenv.
$(VENV)/.browser: $(VENV)/.installed
	@command -v chromium >/dev/null && fc-list | grep -qi 'noto.*cjk' || { \
	  echo "installing Debian's chromium and fonts-noto-cjk (browser test, Japanese text)"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk; }
	$(PY) -m pip install --quiet -e '.[dev,browser]'
	@touch $@

test: lint $(VENV)/.browser
	$(VENV)/bin/pytest -q

$(VENV)/.lab: $(VENV)/.installed jupyter/overrides.json
	$(PY) -m pip install --quiet -e '.[dev,lab]'
	@# offline defaults: no news or update checks, the notebook's kernel started without asking
	mkdir -p $(VENV)/share/jupyter/lab/settings
	cp jupyter/overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	@touch $@

lab: $(VENV)/.lab
	@test -f $(DB) || $(MAKE) demo
	SUPPLYCHAIN_DB=$(abspath $(DB)) $(VENV)/bin/jupyter lab --notebook-dir=notebooks --LabApp.news_url=None --LabApp.extension_manager=readonly $$([ "$$(id -u)" = 0 ] && echo --allow-root)

sample: $(VENV)/.installed
	$(VENV)/bin/supplychain sample --scale sample --force --out $(SAMPLE)

dictionary: $(VENV)/.installed
	$(VENV)/bin/supplychain dictionary --out docs/data-dictionary.md

SCALE ?= national
bench: $(VENV)/.installed
	$(PY) benchmarks/ingest.py --scale $(SCALE)
	$(PY) benchmarks/graph.py --scale $(SCALE)
	$(PY) benchmarks/foreign.py --scale $(SCALE)
	$(PY) benchmarks/withdrawal.py --scale $(SCALE)
	$(PY) benchmarks/scenario.py --scale $(SCALE)
	$(PY) benchmarks/register.py --scale $(SCALE)

clean:
	rm -rf $(VENV) $(DB) $(DB).wal .pytest_cache .ruff_cache
