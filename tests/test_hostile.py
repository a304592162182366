"""Hostile files: a zip bomb, a sheet spanning the whole grid, a 10⁶-column CSV, a 2 GB file, a
binary file named .xlsx and a YAML "billion laughs" are refused with a clear message, before
they can take memory or time; ingest records them as refused and loads nothing. (Time and memory
of each refusal: benchmarks/fuzz.py.)"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

import supplychain as sc
from supplychain import scenario, screening
from supplychain.exceptions import SupplyChainError, SurveyReadError
from supplychain.survey import read
from supplychain.survey.read import read_survey

from .conftest import basic_return, write_xlsx_return


def _rewrite(src: Path, dst: Path, part: str, change) -> Path:
    """A copy of workbook ``src`` with ``part`` replaced by ``change(bytes)`` (bytes or a writer)."""
    with zipfile.ZipFile(src) as a, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as b:
        for info in a.infolist():
            data = a.read(info.filename)
            if info.filename == part:
                with b.open(info.filename, "w") as f:
                    change(data, f)
            else:
                b.writestr(info, data)
    return dst


def _bomb(data: bytes, f) -> None:
    f.write(data[:-20])
    blank = b" " * (1 << 20)
    for _ in range(40):  # 40 MiB of blanks: deflates about 1000:1
        f.write(blank)
    f.write(data[-20:])


def _far_cell(data: bytes, f) -> None:
    f.write(data.replace(b"</sheetData>", b'<row r="1048576"><c r="XFD1048576"><v>1</v></c></row></sheetData>'))


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    return write_xlsx_return(tmp_path_factory.mktemp("hostile") / "good.xlsx", basic_return())


def _hostile(kind: str, good: Path, tmp_path: Path) -> Path:
    if kind == "zip bomb":
        return _rewrite(good, tmp_path / "bomb.xlsx", "xl/worksheets/sheet1.xml", _bomb)
    if kind == "whole grid":
        return _rewrite(good, tmp_path / "far.xlsx", "xl/worksheets/sheet2.xml", _far_cell)
    if kind == "2 GB":
        path = tmp_path / "big.xlsx"
        with open(path, "wb") as f:
            f.truncate(2 * 1024**3)  # sparse: no disk used
        return path
    if kind == "binary":
        path = tmp_path / "binary.xlsx"
        path.write_bytes(os.urandom(1 << 16))
        return path
    folder = tmp_path / "wide"
    folder.mkdir()
    (folder / "respondent.csv").write_text(",".join(f"c{i}" for i in range(10**6)) + "\n1\n", "utf-8")
    return folder


CASES = {
    "zip bomb": "inflate more than 200:1",
    "whole grid": "spans 1,048,576 rows × 16,384 columns",
    "2 GB": "file is 2,048 MiB, more than the 512 MiB",
    "binary": "not a zip archive",
    "10⁶ columns": "more than 1,000 fields",
}


@pytest.mark.parametrize("kind", CASES)
def test_hostile_files_are_refused_with_a_clear_reason(kind, good, tmp_path):
    path = _hostile(kind, good, tmp_path)
    with pytest.raises(SurveyReadError, match=CASES[kind]) as err:
        read_survey(path)
    assert err.value.path.startswith(str(path))
    con = sc.connect()
    res = sc.ingest(con, path)
    assert [f.status for f in res.files] == ["refused"]
    assert CASES[kind].split(" ", 1)[1] in res.files[0].message or CASES[kind] in res.to_frame().to_string()
    assert con.execute("SELECT count(*) FROM company").fetchone() == (0,)
    assert con.execute("SELECT status FROM ingest_log").fetchall() == [("refused",)]


def test_the_good_workbook_passes_the_checks(good):
    spans = read._check_workbook(good)
    assert spans and all(cols <= 10 for _rows, cols in spans.values())
    assert read_survey(good).sheets["supply"].n_rows == 3


def test_a_reference_cut_by_a_chunk_boundary_is_still_seen(tmp_path, good, monkeypatch):
    """The span check reads the sheet in chunks; a reference across two chunks must count."""
    path = _rewrite(good, tmp_path / "far.xlsx", "xl/worksheets/sheet2.xml", _far_cell)
    data = zipfile.ZipFile(path).read("xl/worksheets/sheet2.xml")
    cut = data.index(b"XFD1048576") + 4
    real_open = zipfile.ZipFile.open

    class Split:  # hands the part back in two reads, split inside the reference
        def __init__(self, raw):
            self.parts = [raw[:cut], raw[cut:]]

        def read(self, _n):
            return self.parts.pop(0) if self.parts else b""

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    def open_(self, info, *a, **k):
        name = info.filename if hasattr(info, "filename") else info
        return Split(data) if name == "xl/worksheets/sheet2.xml" else real_open(self, info, *a, **k)

    monkeypatch.setattr(zipfile.ZipFile, "open", open_)
    with pytest.raises(SurveyReadError, match="16,384 columns"):
        read._check_workbook(path)


def test_a_screening_list_workbook_goes_through_the_same_checks(good, tmp_path):
    bomb = _rewrite(good, tmp_path / "list.xlsx", "xl/worksheets/sheet1.xml", _bomb)
    with pytest.raises(SupplyChainError, match="inflate more than 200:1"):
        screening.read_list(bomb, format="meti")


def test_yaml_aliases_are_refused_in_scenario_files(tmp_path):
    laughs = tmp_path / "lol.yaml"
    lines = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]" for i in range(8)]
    lines += ["name: lol", "fail: {companies: *i}"]
    laughs.write_text("\n".join(lines) + "\n", "utf-8")
    with pytest.raises(SupplyChainError, match=r"aliases \(\*a\) are not allowed"):
        scenario.read(laughs)
    plain = tmp_path / "ok.yaml"
    plain.write_text("name: ok\nfail: {countries: [CN]}\ndays: 30\n", "utf-8")
    assert scenario.read(plain)[0]["days"] == 30


def test_workbooks_the_tool_writes_keep_formula_text_as_text(tmp_path):
    """The synthetic-plans workbook (`plan synth`) carries names read from the database: a name
    that starts with '=' must stay a string (openpyxl alone would store it as a formula)."""
    import pandas as pd
    from openpyxl import load_workbook

    from supplychain.datasets import write_plans

    planted = '=HYPERLINK("http://example.invalid/x","click")'
    plans = pd.DataFrame({"plan_id": ["P1"], "company": [planted], "amount_jpy": [1000]})
    path = write_plans(tmp_path / "plans.xlsx", plans, pd.DataFrame({"plan_id": ["P1"], "description": ["=1+1"]}))
    wb = load_workbook(path)
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row]
    assert {c.value for c in cells} >= {planted, "=1+1"}
    assert not [c.coordinate for c in cells if c.data_type == "f"]
