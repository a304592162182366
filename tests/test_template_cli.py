"""The respondent template and the command line."""

import pytest

from supplychain.cli import EXIT_REFUSED, EXIT_REJECTED, main
from supplychain.survey.read import read_survey
from supplychain.survey.schema import sheets
from supplychain.survey.template import write_template

from .conftest import basic_return, write_csv_return


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_template_reads_back_with_every_column_and_no_rows(tmp_path, lang):
    from openpyxl import load_workbook

    path = write_template(tmp_path / f"t_{lang}.xlsx", lang=lang)
    wb = read_survey(path)
    assert list(wb.sheets) == list(sheets())
    for name, s in wb.sheets.items():
        assert s.n_rows == 0  # the notes row is skipped
        assert set(s.table.column_names) - {"_row"} == {c.name for c in sheets()[name].columns}
    ws = load_workbook(path)["供給" if lang == "ja" else "supply"]
    lists = [dv.formula1 for dv in ws.data_validations.dataValidation]
    assert ('"可,条件付き,不可"' if lang == "ja" else '"yes,conditional,no"') in lists


def test_template_filled_in_loads(tmp_path):
    from openpyxl import load_workbook

    path = write_template(tmp_path / "t.xlsx", lang="en")
    wb = load_workbook(path)
    for name, rows in basic_return().items():
        ws = wb[name]
        header = [c.value.rstrip("*") for c in ws[1]]
        for r, row in enumerate(rows[1:], start=3):
            for col, value in zip(rows[0], row):
                ws.cell(row=r, column=header.index(col) + 1, value=value)
    wb.save(path)
    assert main(["--db", str(tmp_path / "db.duckdb"), "-q", "ingest", str(path)]) == 0


def test_cli_exit_codes_and_messages(tmp_path, capsys):
    db = str(tmp_path / "db.duckdb")
    good = write_csv_return(tmp_path / "good", basic_return())
    bad_book = basic_return(wave=2024)
    bad_book["supply"].append(["P1", "S1", "S2", "ばね", "30", "", "", ""])
    bad = write_csv_return(tmp_path / "bad", bad_book)
    assert main(["--db", db, "-q", "ingest", str(good)]) == 0
    assert main(["--db", db, "-q", "ingest", str(bad)]) == EXIT_REJECTED
    out = capsys.readouterr().out
    assert "supply.csv row 5, share = '30': must be a fraction between 0 and 1" in out
    assert main(["--db", db, "-q", "ingest", "--accept-partial", str(bad)]) == 0  # unchanged now
    broken = tmp_path / "broken.xlsx"
    broken.write_text("nope")
    assert main(["--db", db, "-q", "ingest", str(broken)]) == EXIT_REFUSED
    assert main(["--db", db, "summary"]) == 0
    assert "2 waves" in capsys.readouterr().out
    assert main(["--db", db, "rejected", "--wave", "2024"]) == 0
    assert "share = '30'" in capsys.readouterr().out
    assert main(["--db", db, "review", "entities"]) == 0
    assert "empty" in capsys.readouterr().out
    assert main(["--db", db, "review", "entities", "--decide", "Rnope", "same"]) == 1
    assert "no review 'Rnope'" in capsys.readouterr().err
