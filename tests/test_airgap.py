"""Air-gapped by test: the demo's commands, a report (HTML, PDF, XLSX) and a notebook run with
every outbound connection and name lookup refused and recorded (tests/airgap/sitecustomize.py,
loaded by every Python process started with it on ``PYTHONPATH``), and nothing tries."""

from __future__ import annotations

import os
import subprocess
import sys

from .conftest import ROOT, SAMPLE

GUARD = ROOT / "tests" / "airgap"


def _guarded_env(tmp_path) -> tuple[dict, object]:
    log = tmp_path / "airgap.log"
    path = os.pathsep.join(p for p in (str(GUARD), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "SUPPLYCHAIN_AIRGAP_LOG": str(log)}, log


def test_the_guard_refuses_and_records_an_outbound_connection(tmp_path):
    env, log = _guarded_env(tmp_path)
    code = (
        "import socket\n"
        "try:\n    socket.create_connection(('203.0.113.7', 443), timeout=2)\n"
        "except OSError as e:\n    print('refused:', e)\n"
        "try:\n    socket.getaddrinfo('extensions.duckdb.org', 443)\n"
        "except OSError as e:\n    print('refused:', e)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert proc.stdout.count("refused:") == 2, proc.stdout + proc.stderr
    text = log.read_text("utf-8")
    assert "203.0.113.7" in text and "extensions.duckdb.org" in text


def test_the_demo_a_report_and_a_notebook_make_no_outbound_connection(tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    env, log = _guarded_env(tmp_path)
    db = tmp_path / "demo.duckdb"
    cli = [sys.executable, "-m", "supplychain.cli", "--db", str(db), "-q"]
    for args in (
        ["ingest", "--accept-partial", str(SAMPLE / "2025")],  # one wave: the same commands, less time
        ["score"],
        ["scenario", "run", "nankai_trough"],
        ["report", "--out", str(tmp_path / "reports"), "--marking", "unmarked"],
    ):
        proc = subprocess.run(cli + args, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"{args[0]}: {proc.stderr[-2000:]}"
    assert list((tmp_path / "reports").glob("*/report-wave2025.pdf"))
    # a notebook, its kernel started with the guard
    for k in ("PYTHONPATH", "SUPPLYCHAIN_AIRGAP_LOG"):
        monkeypatch.setenv(k, env[k])
    monkeypatch.setenv("SUPPLYCHAIN_DB", str(db))
    nb = nbformat.read(ROOT / "notebooks" / "01_tour.ipynb", as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    attempts = log.read_text("utf-8") if log.exists() else ""
    assert attempts == "", f"something tried to reach outside:\n{attempts}"
    # the guard was in every one of them: four commands and the kernel (at least)
    guarded = set((tmp_path / "airgap.log.guarded").read_text("utf-8").split())
    assert len(guarded) >= 5
