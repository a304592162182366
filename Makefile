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

test: lint
	$(VENV)/bin/pytest -q

$(VENV)/.lab: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[dev,lab]'
	@touch $@

lab: $(VENV)/.lab
	@test -f $(DB) || $(MAKE) demo
	SUPPLYCHAIN_DB=$(abspath $(DB)) $(VENV)/bin/jupyter lab --notebook-dir=notebooks

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
