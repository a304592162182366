"""One writer or several readers (DuckDB): a notebook holding a read connection while a report
runs — both work; a run that must write while a notebook holds the database is refused with a
message naming the process, or waits for it with --wait."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

import supplychain as sc
from supplychain.cli import EXIT_BUSY, main
from supplychain.db import DatabaseBusy
from supplychain.risk.score import score

from .conftest import basic_return, write_csv_return

HOLD = """
import sys, time, supplychain as sc
con = sc.connect(sys.argv[1], read_only=sys.argv[2] == "read")
print("holding", flush=True)
time.sleep(float(sys.argv[3]))
con.close()
"""


@pytest.fixture
def tiny(tmp_path):
    db = tmp_path / "t.duckdb"
    con = sc.connect(db)
    sc.ingest(con, write_csv_return(tmp_path / "ret", basic_return()))
    score(con, wave=2025, with_esri=False)
    con.close()
    return db


def _holder(db, mode: str, seconds: float) -> subprocess.Popen:
    """A 'notebook': another process holding a connection for ``seconds``."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(db), mode, str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "holding"
    return proc


def _stop(proc: subprocess.Popen) -> None:
    proc.kill()
    proc.wait()
    proc.stdout.close()


def test_a_report_runs_while_a_notebook_reads(tiny, tmp_path, capsys):
    nb = _holder(tiny, "read", 60)
    try:
        code = main(
            ["--db", str(tiny), "-q", "report", "--out", str(tmp_path / "r"), "--formats", "html", "--marking", "unmarked"]
        )
        assert code == 0, capsys.readouterr().err
        with sc.connect(tiny, read_only=True) as con:  # and the notebook's reads go on beside ours
            assert con.execute("SELECT count(*) FROM finding").fetchone()[0] > 0
    finally:
        _stop(nb)


def test_a_writing_run_is_refused_naming_the_notebook_then_waits_for_it(tiny, tmp_path, capsys):
    ret = write_csv_return(tmp_path / "ret2", basic_return(wave=2024))
    nb = _holder(tiny, "read", 60)
    try:
        assert main(["--db", str(tiny), "-q", "ingest", str(ret)]) == EXIT_BUSY
        err = capsys.readouterr().err
        assert f"in use by process {nb.pid}" in err and "notebook" in err and "--wait" in err
        with pytest.raises(DatabaseBusy, match=f"process {nb.pid}"):
            sc.connect(tiny)
    finally:
        _stop(nb)
    nb = _holder(tiny, "read", 2)  # lets go after two seconds: a run that waits gets in
    t = time.monotonic()
    assert main(["--db", str(tiny), "-q", "--wait", "30", "ingest", str(ret)]) == 0
    assert 0.5 < time.monotonic() - t < 30
    _stop(nb)
    with sc.connect(tiny, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM survey_wave").fetchone()[0] == 2


def test_reading_while_another_process_writes_says_so(tiny, capsys):
    writer = _holder(tiny, "write", 60)
    try:
        assert main(["--db", str(tiny), "-q", "summary"]) == EXIT_BUSY
        assert f"open for writing by process {writer.pid}" in capsys.readouterr().err
    finally:
        _stop(writer)
