"""Loading returns: exact rejections, transactions, idempotence, replacement, provenance."""

import pandas as pd
import pytest

import supplychain as sc
from supplychain.db import run
from supplychain.survey import load

from .conftest import CN_A, CN_B, basic_return, write_csv_return, write_xlsx_return


def counts(con):
    tables = ["company", "company_report", "program", "part", "supply", "ingest_log", "rejected_row"]
    return {t: run(con, f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


def test_valid_return_loads_everything(con, tmp_path):
    res = sc.ingest(con, write_csv_return(tmp_path / "r", basic_return()))
    f = res.files[0]
    assert (f.status, f.rows_refused, f.values_dropped) == ("loaded", 0, 0)
    assert res.ok
    # 4 companies + 1 program + 3 supply rows
    assert f.rows_loaded == 8
    supply = run(
        con, "SELECT program_id, part_id, share, substitutability, source_sheet, source_row FROM supply ORDER BY source_row"
    ).fetchall()
    assert supply == [
        ("P1", "歯車", 0.6, "yes", "supply.csv", 2),
        ("P1", "歯車", 0.4, "yes", "supply.csv", 3),
        ("P1", "チタン合金", 1.0, "no", "supply.csv", 4),
    ]
    prime = run(con, "SELECT c.corporate_number FROM program p JOIN company c ON c.company_id = p.prime_company_id").fetchone()
    assert prime == (CN_A,)


def test_known_bad_rows_give_exactly_these_rejections(con, tmp_path):
    book = basic_return()
    book["companies"] += [
        ["S5", "7123456789013", "悪い番号工業", "JP", "13", ""],  # row 6: bad check digit → value dropped
        ["S6", "", "", "JP", "13", ""],  # row 7: name missing → refused
        ["S7", "", "国なし商事", "XX", "", ""],  # row 8: bad country → refused
        ["S2", "", "重複", "JP", "13", ""],  # row 9: duplicate company_ref → refused
    ]
    book["supply"] += [
        ["P1", "S1", "S5", "ばね", "30", "yes", "", ""],  # row 5: share 30 → refused
        ["P1", "S1", "S7", "ねじ", "0.5", "yes", "", ""],  # row 6: refers to refused S7 → refused
        ["P1", "S1", "S9", "ねじ", "0.5", "maybe", "", ""],  # row 7: unknown S9 → refused; bad enum too
        ["P1", "S2", "S2", "軸", "1", "", "", ""],  # row 8: supplies itself → refused
        ["P1", "S1", "S5", "ボルト", "45%", "不可", "-1", "1"],  # row 9: 45% ok, 不可 = no; -1 alternatives dropped
    ]
    res = sc.ingest(con, write_csv_return(tmp_path / "bad", book))
    got = res.rejected[["source", "row", "column", "value", "action"]].astype({"row": int}).values.tolist()
    assert got == [
        ["companies.csv", 6, "corporate_number", "7123456789013", "value_dropped"],
        ["companies.csv", 7, "name", None, "row_refused"],
        ["companies.csv", 8, "country", "XX", "row_refused"],
        ["companies.csv", 9, "company_ref", "S2", "row_refused"],
        ["supply.csv", 5, "share", "30", "row_refused"],
        ["supply.csv", 6, "supplier_ref", "S7", "row_refused"],
        ["supply.csv", 7, "supplier_ref", "S9", "row_refused"],
        ["supply.csv", 7, "substitutability", "maybe", "row_refused"],
        ["supply.csv", 8, "supplier_ref", "S2", "row_refused"],
        ["supply.csv", 9, "alternatives_qualified", "-1", "value_dropped"],
    ]
    reasons = dict(zip(zip(res.rejected["row"].astype(int), res.rejected["column"]), res.rejected["reason"]))
    assert "check digit" in reasons[(6, "corporate_number")]
    assert reasons[(7, "name")] == "required value is missing"
    assert reasons[(9, "company_ref")] == "duplicate: same company_ref as row 3"
    assert "between 0 and 1" in reasons[(5, "share")]
    assert reasons[(6, "supplier_ref")] == "refers to companies row 8, which was refused"
    assert reasons[(7, "supplier_ref")] == "companies has no row with company_ref = S9"
    assert "cannot supply itself" in reasons[(8, "supplier_ref")]
    f = res.files[0]
    assert (f.status, f.rows_refused, f.values_dropped) == ("partial", 7, 2)
    # stored exactly as returned
    stored = run(con, "SELECT count(*) FROM rejected_row WHERE submission_id = ?", [f.submission_id]).fetchone()[0]
    assert stored == 10
    # the accepted rows are there, with the dropped values empty and 45% read as 0.45
    row9 = run(con, "SELECT share, substitutability, alternatives_qualified FROM supply WHERE source_row = 9").fetchone()
    assert row9 == (0.45, "no", None)
    s5 = run(con, "SELECT corporate_number FROM company WHERE name = '悪い番号工業'").fetchone()
    assert s5 == (None,)


def test_strict_refuses_the_whole_file(con, tmp_path):
    book = basic_return()
    book["supply"].append(["P1", "S1", "S2", "ばね", "2", "yes", "", ""])
    before = counts(con)
    res = sc.ingest(con, write_csv_return(tmp_path / "s", book), strict=True)
    f = res.files[0]
    assert f.status == "refused"
    after = counts(con)
    assert {k: after[k] - before[k] for k in after} == {
        "company": 0,
        "company_report": 0,
        "program": 0,
        "part": 0,
        "supply": 0,
        "ingest_log": 1,
        "rejected_row": 2,
    }
    assert set(f.issues["action"]) == {"file_refused"}


def test_reingest_is_a_noop(con, tmp_path):
    path = write_xlsx_return(tmp_path / "r.xlsx", basic_return())
    sc.ingest(con, path)
    before = counts(con)
    res = sc.ingest(con, path)
    assert res.files[0].status == "unchanged"
    assert counts(con) == before


def test_corrected_file_replaces_the_respondents_rows(con, tmp_path):
    first = basic_return()
    sc.ingest(con, write_csv_return(tmp_path / "v1", first))
    fixed = basic_return()
    fixed["supply"] = fixed["supply"][:3]  # drops the チタン合金 row, keeps 歯車 from two suppliers
    fixed["supply"][1][4] = "0.7"
    fixed["supply"][2][4] = "0.3"
    res = sc.ingest(con, write_csv_return(tmp_path / "v2", fixed))
    f = res.files[0]
    assert f.replaced_submission_id == 1
    assert run(con, "SELECT list_sort(list(share)) FROM supply").fetchone()[0] == [0.3, 0.7]
    log = run(con, "SELECT submission_id, status, superseded_by, replaces_submission_id FROM ingest_log ORDER BY 1").fetchall()
    assert log == [(1, "superseded", 2, None), (2, "loaded", None, 1)]
    # loading the replaced original again changes nothing: it is the same content as before
    again = sc.ingest(con, tmp_path / "v1").files[0]
    assert again.status == "unchanged" and "which submission 2 replaced" in again.message
    assert run(con, "SELECT list_sort(list(share)) FROM supply").fetchone()[0] == [0.3, 0.7]
    # the other wave is untouched by a replacement in this one
    sc.ingest(con, write_csv_return(tmp_path / "w24", basic_return(wave=2024)))
    third = basic_return()
    third["supply"][3][4] = "1.0"  # a third version: same rows as the first, other bytes
    assert sc.ingest(con, write_csv_return(tmp_path / "v3", third)).files[0].replaced_submission_id == 2
    assert run(con, "SELECT wave, count(*) FROM supply GROUP BY 1 ORDER BY 1").fetchall() == [(2024, 3), (2025, 3)]


def test_failure_mid_file_leaves_the_database_as_it_was(con, tmp_path, monkeypatch):
    sc.ingest(con, write_csv_return(tmp_path / "ok", basic_return(wave=2024)))
    before = counts(con)

    def boom(*args, **kwargs):
        raise RuntimeError("disk full (injected)")

    # fail after companies, programs and parts have been written, while inserting facts
    monkeypatch.setattr(load, "_insert_fact", boom)
    res = sc.ingest(con, write_csv_return(tmp_path / "new", basic_return(wave=2025, respondent="別の回答者", respondent_cn=CN_B)))
    assert res.files[0].status == "failed"
    assert "injected" in res.files[0].message
    assert counts(con) == before
    assert run(con, "SELECT count(*) FROM survey_wave WHERE wave = 2025").fetchone()[0] == 0


def test_japanese_headers_load_the_same_as_english(tmp_path):
    en = basic_return()
    ja = {
        "回答者": [["調査年度", "回答者法人番号", "回答者名"], en["respondent"][1]],
        "企業": [["企業参照番号", "法人番号", "商号", "国", "都道府県", "プライム企業"], *en["companies"][1:]],
        "装備品": [["装備品コード", "装備品名称", "区分", "プライム企業参照番号"], *en["programs"][1:]],
        "供給": [
            ["装備品コード", "納入先参照番号", "仕入先参照番号", "部品", "調達比率", "代替可能性", "認定済代替先数", "階層"],
            *en["supply"][1:],
        ],
    }
    tables = {}
    for name, book in (("en", en), ("ja", ja)):
        c = sc.connect()
        res = sc.ingest(c, write_xlsx_return(tmp_path / f"{name}.xlsx", book))
        assert res.ok, res.rejected
        tables[name] = run(c, "SELECT * EXCLUDE (submission_id, source_sheet) FROM supply ORDER BY source_row").df()
        c.close()
    pd.testing.assert_frame_equal(tables["en"], tables["ja"])


def test_shift_jis_csv_and_full_width_cells(con, tmp_path):
    book = basic_return()
    book["supply"][1][4] = "０．６"  # full-width digits
    book["companies"][2][4] = "愛知県"  # prefecture by name
    res = sc.ingest(con, write_csv_return(tmp_path / "sjis", book, encoding="cp932"))
    assert res.ok, res.rejected
    assert run(con, "SELECT prefecture_code FROM company WHERE corporate_number = ?", [CN_B]).fetchone() == ("23",)
    assert run(con, "SELECT share FROM supply WHERE source_row = 2").fetchone() == (0.6,)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_whitespace_around_cells_is_not_part_of_the_value(con, tmp_path, fmt):
    """Tabs, spaces and full-width spaces around a cell are dropped (a cell of only those is
    empty), also where NFKC turns a character into a space and a letter (U+00B4)."""
    book = basic_return()
    book["companies"][2][4] = "\u3000愛知県\t"  # prefecture by name, padded
    book["companies"][2][2] = " 山田精機株式会社\u3000"
    book["companies"][3][4] = "\u3000\t "  # blank: no prefecture, not an invalid one
    book["supply"][1][4] = "\t０．６ "
    book["supply"][1][5] = "\u00b4yes"  # NFKC: " \u0301yes", trimmed, and not an allowed value
    write = write_csv_return if fmt == "csv" else write_xlsx_return
    res = sc.ingest(con, write(tmp_path / ("r" if fmt == "csv" else "r.xlsx"), book))
    assert run(con, "SELECT name, prefecture_code FROM company WHERE corporate_number = ?", [CN_B]).fetchone() == (
        "山田精機株式会社",
        "23",
    )
    assert run(con, "SELECT prefecture_code FROM company WHERE name = '北辰電子(株)'").fetchone() == (None,)
    assert run(con, "SELECT share FROM supply WHERE source_row = 2").fetchone() == (0.6,)
    rejected = res.rejected
    assert rejected[["sheet", "row", "column", "value"]].values.tolist() == [["supply", 2, "substitutability", "\u0301yes"]]


def test_wave_mismatch_refuses_the_file(con, tmp_path):
    res = sc.ingest(con, write_csv_return(tmp_path / "r", basic_return(wave=2024)), wave=2025)
    assert res.files[0].status == "refused"
    assert "says wave 2024" in res.files[0].message


def test_unreadable_files_are_refused_with_a_reason(con, tmp_path):
    bad = tmp_path / "broken.xlsx"
    bad.write_bytes(b"this is not a zip file")
    no_header = write_csv_return(
        tmp_path / "nohdr",
        {"respondent": [["wave", "respondent_name"], [2025, "x"]], "companies": [["company_ref", "name"], ["S1", "x"]]},
    )
    res = sc.ingest(con, [bad, no_header])
    assert [f.status for f in res.files] == ["refused", "refused"]
    assert "not a readable Excel workbook" in res.files[0].message
    assert "required column(s) country" in res.files[1].message
    assert run(con, "SELECT count(*) FROM ingest_log WHERE status = 'refused'").fetchone()[0] == 2


def test_no_survey_files_is_an_error(con, tmp_path):
    with pytest.raises(sc.exceptions.IngestError, match="no survey files"):
        sc.ingest(con, tmp_path)


def test_a_workbook_written_by_someone_else(con, tmp_path):
    """Headers in another order with marks and units, extra columns and sheets, blank and notes
    rows, numbers typed as numbers and dates as dates: the contract is what matters."""
    import datetime as dt

    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "回答者情報"
    ws.append(["回答者名*", "調査年度 *", "提出日", "担当者"])  # 担当者 is not in the contract
    ws.append(["株式会社テスト重工", 2025, dt.date(2025, 6, 30), "佐藤"])
    ws = wb.create_sheet("企業一覧")
    ws.append(["商号", "企業ID", "国コード", "法人番号", "都道府県", "従業員数", "備考"])
    ws.append(["# 商号", "# キー", "# ISO", "# 13桁", "# JIS", "# 人", "# 自由記入"])  # a notes row
    ws.append(["株式会社テスト重工", "A", "JP", 7123456789012, 13, 5000, ""])
    ws.append([None, None, None, None, None, None, None])  # a blank row in the middle
    ws.append(["ＫＴ精工株式会社", "B", "jp", "5180001008846", "愛知県", "1,200", "全角"])
    ws.append(["Kavro Alloys Inc.", "C", "US", None, None, 80, ""])
    ws = wb.create_sheet("装備品")
    ws.append(["装備品コード", "プライム企業", "年間調達額"])
    ws.append(["P1", "A", 1.5e10])
    ws = wb.create_sheet("供給")
    ws.append(["仕入先", "納入先", "装備品", "品名", "調達比率", "リードタイム（日）", "輸入"])
    ws.append(["B", "A", "P1", "歯車", 0.6, 90, "いいえ"])
    ws.append(["C", "A", "P1", "歯車", "40%", 120, "○"])
    ws.append(["B", "A", "P1", "軸受", 1, None, "×"])
    wb.create_sheet("メモ").append(["this sheet is not part of the contract"])
    path = tmp_path / "someone_else.xlsx"
    wb.save(path)

    res = sc.ingest(con, path)
    f = res.files[0]
    assert (f.status, f.rows_loaded, f.rows_refused, f.values_dropped) == ("loaded", 7, 0, 0)
    rows = run(
        con,
        """SELECT c.corporate_number, s.part_id, s.share, s.lead_time_days, s.imported, s.source_row
           FROM supply s JOIN company c ON c.company_id = s.supplier_id ORDER BY s.source_row""",
    ).fetchall()
    assert rows == [
        ("5180001008846", "歯車", 0.6, 90.0, False, 2),
        (None, "歯車", 0.4, 120.0, True, 3),
        ("5180001008846", "軸受", 1.0, None, False, 4),
    ]
    assert run(con, "SELECT prefecture_code, employees FROM company WHERE corporate_number = '5180001008846'").fetchone() == (
        "23",
        1200,
    )
    log = run(con, "SELECT extra_columns, wave FROM ingest_log").fetchone()
    assert log == ("respondent.担当者, companies.備考", 2025)
    assert run(con, "SELECT source_row FROM company_report ORDER BY source_row").fetchall() == [(3,), (5,), (6,)]


def test_shares_that_do_not_add_up_are_loaded_with_a_warning(con, tmp_path):
    book = basic_return()
    book["supply"][1][4] = "0.7"  # 歯車: 0.7 + 0.4 = 1.1 > 1
    book["material_origin"] = [
        ["supplier_ref", "part", "origin_country", "share"],
        ["S4", "チタン合金", "CN", "0.5"],
        ["S4", "チタン合金", "unknown", "0.3"],  # 0.8, not 1
        ["S3", "歯車", "TW", "1"],  # adds up: no warning
    ]
    res = sc.ingest(con, write_csv_return(tmp_path / "w", book), strict=True)  # warnings do not refuse
    f = res.files[0]
    assert f.status == "loaded"
    got = f.issues[["sheet", "row", "column", "value", "action"]].values.tolist()
    assert got == [["supply", 2, "share", "1.1", "warning"], ["material_origin", 2, "share", "0.8", "warning"]]
    assert "add up to 1.1, more than 1 (rows 2, 3)" in f.issues["reason"][0]
    assert run(con, "SELECT count(*) FROM supply").fetchone()[0] == 3
    assert run(con, "SELECT count(*) FROM rejected_row WHERE action = 'warning'").fetchone()[0] == 2


@pytest.mark.parametrize(
    "field, value, said",
    [
        (8, 0x0001, "encrypted"),  # general-purpose flag bit 0: the part is encrypted
        (10, 99, "compression method"),  # method 99 (AES), which zipfile cannot read
    ],
)
def test_an_encrypted_or_unreadable_workbook_part_is_refused_with_its_name(con, tmp_path, field, value, said):
    """A workbook whose worksheet part is encrypted, or packed by a method zipfile cannot read:
    the file is refused naming the part; the central directory entry is patched by hand."""
    import struct

    path = write_xlsx_return(tmp_path / "r.xlsx", basic_return())
    data = bytearray(path.read_bytes())
    at = 0
    patched = 0
    while (at := data.find(b"PK\x01\x02", at)) >= 0:  # central directory entries
        name_len = struct.unpack_from("<H", data, at + 28)[0]
        name = bytes(data[at + 46 : at + 46 + name_len]).decode()
        if name.startswith("xl/worksheets/"):
            struct.pack_into("<H", data, at + field, value)
            patched += 1
        at += 46
    assert patched >= 2  # one part per sheet of the contract
    path.write_bytes(bytes(data))
    res = sc.ingest(con, path)
    assert res.files[0].status == "refused"
    message = res.files[0].message
    assert "not a readable Excel workbook (xl/worksheets/" in message and said in message, message
    assert run(con, "SELECT count(*) FROM supply").fetchone()[0] == 0
