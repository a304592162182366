"""The analyst notebooks: committed without outputs, and executed top to bottom on the sample
(scored, with synthetic plans loaded), each within a minute; a notebook that raises fails."""

from __future__ import annotations

import json
import re

import pytest

import supplychain as sc

from .conftest import ROOT, copy_db

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXPECTED = [
    "01_tour.ipynb",
    "02_single_source_and_chokepoints.ipynb",
    "03_foreign_dependency.ipynb",
    "04_withdrawal_early_warning.ipynb",
    "05_scenarios.ipynb",
    "06_plan_review.ipynb",
]
SECONDS = 300  # a cell that runs longer has hung (speed is measured by benchmarks, not here)


def test_every_notebook_is_there_and_stripped():
    assert [p.name for p in NOTEBOOKS] == EXPECTED
    for path in NOTEBOOKS:
        nb = json.loads(path.read_text(encoding="utf-8"))
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        dirty = [i for i, c in enumerate(code) if c.get("outputs") or c.get("execution_count") is not None]
        assert not dirty, f"{path.name}: outputs committed in code cells {dirty}; clear them before committing"
        assert "parameters" in code[0].get("metadata", {}).get("tags", []), (
            f"{path.name}: the first code cell is the parameters cell"
        )
        first = nb["cells"][0]
        assert first["cell_type"] == "markdown" and "**Question:**" in "".join(first["source"]), path.name


@pytest.fixture(scope="module")
def notebook_db(scored_sample, tmp_path_factory):
    return copy_db(scored_sample, tmp_path_factory.mktemp("notebooks"))


@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_runs_on_the_sample(name, notebook_db, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("SUPPLYCHAIN_DB", str(notebook_db))
    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    client = NotebookClient(nb, timeout=SECONDS, kernel_name="python3", resources={"metadata": {"path": str(ROOT / "notebooks")}})
    client.execute()  # raises CellExecutionError with the cell and traceback if a cell fails
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    figures = [o for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert figures, f"{name}: no plotly figure rendered"
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert "cdn.plot.ly" not in html, "figures must not load plotly.js from the network"
    assert not re.search(r"<script[^>]*\bsrc=[\"']?https?:", html), "no script may load from the network"


def test_plan_review_notebook_takes_the_plan_as_a_parameter(notebook_db, tmp_path, monkeypatch):
    import papermill as pm

    monkeypatch.setenv("SUPPLYCHAIN_DB", str(notebook_db))
    con = sc.connect(notebook_db, read_only=True)
    last = con.execute("SELECT max(plan_id) FROM plan").fetchone()[0]
    con.close()
    out = tmp_path / "review.ipynb"
    pm.execute_notebook(
        str(ROOT / "notebooks" / "06_plan_review.ipynb"), str(out), parameters={"PLAN_ID": last}, progress_bar=False
    )
    nb = json.loads(out.read_text(encoding="utf-8"))
    text = "".join("".join(o.get("text", "")) for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", []))
    assert f"reviewing {last}" in text and f"Plan {last} (" in text
