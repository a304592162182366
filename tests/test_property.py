"""Property tests: random and malformed cells, sheets and files never crash the reader or the
validator; they give a clear refusal or rejected rows, never a traceback."""

import string

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings

import supplychain as sc
from supplychain.db import run
from supplychain.exceptions import SurveyReadError
from supplychain.survey.read import read_survey

from .conftest import basic_return, write_csv_return, write_xlsx_return

cells = st.one_of(
    st.none(),
    st.text(
        alphabet=string.ascii_letters + string.digits + string.punctuation + " \t０１２３株式会社㈱（）ー　\ufeff", max_size=20
    ),
    st.integers(min_value=-(10**15), max_value=10**15),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
)
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(rows=st.lists(st.lists(cells, min_size=8, max_size=8), min_size=1, max_size=6))
def test_random_supply_cells_never_crash(tmp_path_factory, rows):
    book = basic_return()
    book["supply"] = [book["supply"][0], *rows]
    folder = tmp_path_factory.mktemp("p")
    path = write_xlsx_return(folder / "r.xlsx", book)
    con = sc.connect()
    res = sc.ingest(con, path)
    f = res.files[0]
    assert f.status in ("loaded", "partial")
    # every supply row either loaded or is reported with a reason
    loaded = run(con, "SELECT count(*) FROM supply").fetchone()[0]
    refused_rows = set(f.issues.loc[(f.issues["sheet"] == "supply") & (f.issues["action"] == "row_refused"), "row"])
    nonblank = sum(1 for r in rows if any(c is not None and str(c).strip() for c in r))
    assert loaded + len(refused_rows) <= nonblank
    assert f.issues["reason"].map(lambda r: isinstance(r, str) and len(r) > 5).all()
    con.close()


@SETTINGS
@given(rows=st.lists(st.lists(cells, min_size=6, max_size=6), min_size=1, max_size=6))
def test_random_company_cells_never_crash(tmp_path_factory, rows):
    book = basic_return()
    book["companies"] = [book["companies"][0], *rows]
    path = write_csv_return(
        tmp_path_factory.mktemp("c") / "r", {k: [[("" if c is None else c) for c in r] for r in v] for k, v in book.items()}
    )
    con = sc.connect()
    res = sc.ingest(con, path)
    assert res.files[0].status in ("loaded", "partial", "refused")
    con.close()


@SETTINGS
@given(data=st.binary(max_size=400))
def test_random_bytes_as_a_workbook_are_refused_cleanly(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("b") / "x.xlsx"
    path.write_bytes(data)
    try:
        read_survey(path)
    except SurveyReadError as exc:
        assert str(path) in str(exc)
    else:  # pragma: no cover - a random byte string is never a valid workbook
        raise AssertionError("random bytes read as a workbook")


@SETTINGS
@given(text=st.text(max_size=300))
def test_random_csv_text_is_refused_or_read(tmp_path_factory, text):
    folder = tmp_path_factory.mktemp("t")
    (folder / "respondent.csv").write_text("wave,respondent_name\n2025,x\n", encoding="utf-8")
    (folder / "companies.csv").write_text(text, encoding="utf-8")
    con = sc.connect()
    res = sc.ingest(con, folder)
    f = res.files[0]
    assert f.status in ("loaded", "partial", "refused")
    if f.status == "refused":
        assert f.message
    con.close()


@SETTINGS
@given(headers=st.lists(st.text(max_size=12), min_size=1, max_size=5))
def test_random_headers_name_what_is_missing(tmp_path_factory, headers):
    folder = tmp_path_factory.mktemp("h")
    write_csv_return(
        folder, {"respondent": [["wave", "respondent_name"], [2025, "x"]], "companies": [headers, ["a"] * len(headers)]}
    )
    try:
        read_survey(folder)
    except SurveyReadError as exc:
        assert "required column" in exc.reason or "two columns map" in exc.reason or "empty" in exc.reason


plain_cells = st.text(alphabet=string.ascii_letters + string.digits + ' #.,"%-\t０１株式会社㈱（）ー　', max_size=8)


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(st.lists(plain_cells, min_size=5, max_size=5), max_size=8),
    line_break=st.sampled_from([None, "\n", "\r\n", "\r"]),
)
def test_fast_csv_path_reads_what_the_csv_module_reads(rows, line_break):
    """The Arrow fast path and the csv module agree cell for cell and row number for row number
    (blank cells, rows of commas, notes rows, quotes, commas in cells, whitespace, full-width
    text); a line break inside a cell sends the file down the csv module's path."""
    import csv
    import io
    from pathlib import Path

    from supplychain.survey.read import _read_csv_text, _read_plain_csv
    from supplychain.survey.schema import sheets

    if line_break and rows:
        rows[-1][0] = "a" + line_break + "b"
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([["program", "buyer_ref", "supplier_ref", "part", "extra column"], *rows])
    text = buf.getvalue()
    sheet = sheets()["supply"]
    fast = _read_csv_text(sheet, "supply.csv", Path("r"), text)
    slow = _read_csv_text(sheet, "supply.csv", Path("r"), text, fast=False)
    assert fast.table.to_pydict() == slow.table.to_pydict()
    # every cell trimmed (validation trims nothing again), and a blank cell is null
    for name, values in fast.table.to_pydict().items():
        assert name == "_row" or all(v is None or (v and v == v.strip(" \t\u3000")) for v in values)
    assert fast.extra_columns == slow.extra_columns == ["extra column"]
    took_fast = _read_plain_csv(sheet, "supply.csv", Path("r"), text) is not None
    assert took_fast == (not (line_break and rows))
