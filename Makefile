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

# the demo ends with the sample report (HTML, PDF, XLSX; "unmarked": the sample is synthetic)
demo: $(VENV)/.pdf
	$(VENV)/bin/supplychain --db $(DB) ingest --accept-partial --limit 12 $(SAMPLE)
	$(VENV)/bin/supplychain --db $(DB) summary
	$(VENV)/bin/supplychain --db $(DB) score --last 2
	$(VENV)/bin/supplychain --db $(DB) scenario run nankai_trough --top 4
	$(VENV)/bin/supplychain --db $(DB) plan synth reports/sample-plans.xlsx --plans 12
	$(VENV)/bin/supplychain --db $(DB) plan load reports/sample-plans.xlsx
	$(VENV)/bin/supplychain --db $(DB) plan rank
	$(VENV)/bin/supplychain --db $(DB) report --out reports --marking unmarked

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check supplychain tests benchmarks
	$(VENV)/bin/ruff format --check supplychain tests benchmarks

APT := SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq

# The report's PDF is printed by Debian's Chromium with the Noto CJK fonts (apt; sudo when not
# root), driven by Playwright (pip, the `pdf` extra). Installed once per virtualenv.
$(VENV)/.pdf: $(VENV)/.installed
	@command -v chromium >/dev/null && fc-list | grep -qi 'noto.*cjk' || { \
	  echo "installing Debian's chromium and fonts-noto-cjk (report PDF, browser tests, Japanese text)"; \
	  $(APT) chromium fonts-noto-cjk; }
	$(PY) -m pip install --quiet -e '.[pdf]'
	@touch $@

# The tests also read the PDF as pictures and text (poppler-utils: pdftoppm, pdftotext) and drive
# JupyterLab in the browser (the `browser` extra).
$(VENV)/.browser: $(VENV)/.pdf
	@command -v pdftoppm >/dev/null || { echo "installing Debian's poppler-utils (the report tests read PDFs)"; $(APT) poppler-utils; }
	$(PY) -m pip install --quiet -e '.[dev,browser,pdf]'
	@touch $@

# the suite on TEST_WORKERS processes (2: the cores of this machine and of CI), a test file to a
# worker at a time, so each module's fixtures are built once; TEST_WORKERS=0 runs it in one
TEST_WORKERS ?= 2
test: lint $(VENV)/.browser
	$(VENV)/bin/pytest -q -n $(TEST_WORKERS) --dist loadfile

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
	$(PY) benchmarks/report.py --scale $(SCALE)

clean:
	rm -rf $(VENV) $(DB) $(DB).wal $(basename $(DB)).audit.jsonl .pytest_cache .ruff_cache
