"""Need-to-know by program: under a profile that sees compartment B, nothing of compartment A
reaches a report (HTML, PDF text, XLSX), an export or a notebook's connection — not a company
that appears only there, not a count that reveals it."""

from __future__ import annotations

import subprocess
import zipfile

import pytest

import supplychain as sc
from supplychain import access
from supplychain.cli import main
from supplychain.exceptions import SupplyChainError
from supplychain.risk.score import score

from .conftest import CN_A, write_csv_return

SECRET = "秘密工業株式会社"
SECRET_CN = "7202611270001"  # check digit 7 worked out by hand with the NTA rule
A_PRIME = "甲重工株式会社"
A_PROGRAM, A_PROGRAM_NAME = "AX-77", "極秘装備甲"
PLANTED = [SECRET, SECRET_CN, A_PRIME, A_PROGRAM, A_PROGRAM_NAME]


def _two_compartments() -> dict[str, list[list]]:
    """Program AX-77 (compartment A) and BX-12 (B) share supplier SH; SECRET supplies SH only
    for AX-77, and A's prime buys only for AX-77."""
    return {
        "respondent": [["wave", "respondent_corporate_number", "respondent_name"], [2025, CN_A, "乙重工株式会社"]],
        "companies": [
            ["company_ref", "corporate_number", "name", "country", "prefecture_code", "is_prime"],
            ["PA", "", A_PRIME, "JP", "13", "yes"],
            ["PB", CN_A, "乙重工株式会社", "JP", "13", "yes"],
            ["SH", "", "共有精機株式会社", "JP", "23", ""],
            ["SX", SECRET_CN, SECRET, "JP", "27", ""],
            ["SB", "", "乙軸受株式会社", "JP", "27", ""],
            ["S2", "", "乙鋼材株式会社", "JP", "28", ""],
        ],
        "programs": [
            ["program", "name", "category", "prime_ref", "annual_value_jpy", "compartment"],
            [A_PROGRAM, A_PROGRAM_NAME, "missile", "PA", "5000000000", "A"],
            ["BX-12", "一般装備乙", "tank", "PB", "3000000000", "B"],
        ],
        "supply": [
            ["program", "buyer_ref", "supplier_ref", "part", "share", "substitutability", "alternatives_qualified"],
            [A_PROGRAM, "PA", "SH", "歯車", "1", "no", "0"],
            [A_PROGRAM, "SH", "SX", "特殊素材", "1", "no", "0"],
            ["BX-12", "PB", "SH", "歯車", "1", "no", "0"],
            ["BX-12", "PB", "SB", "軸受", "1", "no", "0"],
            ["BX-12", "SH", "S2", "鋼材", "1", "no", "0"],
        ],
        # a B supplier's withdrawal whose reason names SECRET: the event stays, the reason goes
        "withdrawal_events": [["company_ref", "announced_on", "reason"], ["SB", "2025-01-10", f"{SECRET} に事業譲渡"]],
    }


@pytest.fixture(scope="module")
def two_db(tmp_path_factory):
    """The two-compartment return, scored; a B finding carries a note naming SECRET, a saved
    scenario names SECRET; and the profile files of readers of A and of B."""
    root = tmp_path_factory.mktemp("access")
    path = root / "two.duckdb"
    con = sc.connect(path)
    assert sc.ingest(con, write_csv_return(root / "ret", _two_compartments())).ok
    score(con, wave=2025, with_esri=False)
    fid = con.execute(
        "SELECT finding_id FROM finding WHERE programs = 'BX-12' ORDER BY score DESC, finding_id LIMIT 1"
    ).fetchone()[0]
    sc.risk.set_finding(con, fid, status="open", owner="担当B", note=f"{SECRET} の件は別途確認")
    other = con.execute(
        "SELECT finding_id FROM finding WHERE programs = 'BX-12' ORDER BY score DESC, finding_id LIMIT 1 OFFSET 1"
    ).fetchone()[0]
    sc.risk.set_finding(con, other, status="mitigated", note="在庫を積み増し")
    sc.scenario.save(con, {"name": "secret-down", "fail": {"companies": [SECRET_CN]}, "days": 90})
    con.close()
    profiles = {}
    for c in ("A", "B"):
        profiles[c] = root / f"profile-{c}.toml"
        profiles[c].write_text(f'name = "reader-{c}"\n[access]\ncompartments = ["{c}"]\n', "utf-8")
    return path, profiles, fid, other


def _criticality(con) -> dict[str, int]:
    return dict(con.execute("SELECT company_name, programs_lost FROM criticality WHERE wave = 2025").fetchall())


def test_the_copy_holds_only_the_profile_and_counts_without_the_rest(two_db):
    path, profiles, fid, other = two_db
    with sc.connect(path, read_only=True) as con:
        full = _criticality(con)
        view = access.restricted(con, profiles["B"])
    try:
        assert access.compartments_of(view) == {"B"}
        names = {n for (n,) in view.execute("SELECT name FROM company").fetchall()}
        assert names == {"乙重工株式会社", "共有精機株式会社", "乙軸受株式会社", "乙鋼材株式会社"}
        assert view.execute("SELECT program_id FROM program").fetchall() == [("BX-12",)]
        # by hand: SH's failure stops both programs in the full base, only BX-12 in B's copy
        assert full["共有精機株式会社"] == 2
        assert _criticality(view)["共有精機株式会社"] == 1
        # triage carried by finding id; the note naming SECRET withheld, the other kept
        triage = dict(view.execute("SELECT finding_id, notes FROM finding WHERE wave = 2025 AND notes IS NOT NULL").fetchall())
        assert SECRET not in triage[fid] and "withheld" in triage[fid]
        assert "在庫を積み増し" in triage[other]
        assert view.execute("SELECT status FROM finding WHERE finding_id = ?", [other]).fetchone() == ("mitigated",)
        # the withdrawal of B's supplier is kept, its reason naming SECRET withheld
        assert view.execute("SELECT reason FROM withdrawal_event").fetchall() == [(None,)]
        # the saved scenario naming SECRET is not in the copy
        assert view.execute("SELECT count(*) FROM scenario").fetchone() == (0,)
        # nothing in any table of the copy names what was taken out
        for (table,) in view.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'").fetchall():
            text = view.execute(f"SELECT string_agg(CAST(t AS VARCHAR), '|') FROM \"{table}\" AS t").fetchone()[0] or ""
            assert [p for p in PLANTED if p in text] == [], table
    finally:
        view.close()


def test_a_report_for_b_carries_nothing_of_a_in_html_pdf_or_xlsx(two_db, tmp_path):
    path, profiles, *_ = two_db
    with sc.connect(path, read_only=True) as con:
        res = sc.report.build(con, out=tmp_path / "r", marking="unmarked", config=profiles["B"])
        full = sc.report.build(con, out=tmp_path / "full", formats="html", marking="unmarked")
    html = res.files["html"].read_text("utf-8")
    pdf = subprocess.run(["pdftotext", str(res.files["pdf"]), "-"], capture_output=True, text=True, check=True).stdout
    with zipfile.ZipFile(res.files["xlsx"]) as z:
        xlsx = "".join(z.read(n).decode("utf-8", "replace") for n in z.namelist() if n.endswith(".xml"))
    for where, text in {"html": html, "pdf": pdf, "xlsx": xlsx}.items():
        assert "共有精機株式会社" in text or where == "pdf" and "共有精機" in text, where  # B's own data is there
        assert [p for p in PLANTED if p in text] == [], where
    assert res.manifest["parameters"]["compartments"] == ["B"]
    # the check can fail: the full report does name them
    assert all(p in full.files["html"].read_text("utf-8") for p in (SECRET, A_PROGRAM))


def test_exports_and_cli_under_a_profile(two_db, tmp_path, capsys):
    path, profiles, *_ = two_db
    out = tmp_path / "f.csv"
    assert main(["--db", str(path), "-q", "--profile", str(profiles["B"]), "findings", "--top", "0", "--csv", str(out)]) == 0
    printed = capsys.readouterr().out
    text = out.read_text("utf-8-sig")
    assert "BX-12" in text
    assert [p for p in PLANTED if p in text + printed] == []
    # a command that changes the database is refused under a restricted profile
    assert main(["--db", str(path), "-q", "--profile", str(profiles["B"]), "score"]) == 1
    assert "needs a profile that sees every compartment" in capsys.readouterr().err


def test_a_profile_sees_its_own_compartment_whole(two_db):
    path, profiles, *_ = two_db
    with sc.connect(path, read_only=True) as con:
        view = access.scoped(con, profiles["A"])
        assert access.scoped(view, profiles["A"]) is view  # already restricted to it
        with pytest.raises(SupplyChainError, match="more than the profile"):
            access.scoped(view, profiles["B"])
    try:
        names = {n for (n,) in view.execute("SELECT name FROM company").fetchall()}
        assert names == {A_PRIME, "共有精機株式会社", SECRET}
        # SECRET stops AX-77 through SH: seen in A's copy
        assert _criticality(view)[SECRET] == 1
    finally:
        view.close()


def test_profiles_are_checked(tmp_path):
    from supplychain.options import load_options

    bad = tmp_path / "bad.toml"
    bad.write_text('[access]\ncompartments = "B"\n', "utf-8")
    with pytest.raises(SupplyChainError, match="access.compartments must be a list"):
        load_options(bad)
    bad.write_text('[access]\nreaders = ["x"]\n', "utf-8")
    with pytest.raises(SupplyChainError, match="unknown access setting"):
        load_options(bad)
    assert load_options().compartments is None  # the default sees everything


def test_a_notebook_connection_under_a_profile_is_the_restricted_copy(two_db, monkeypatch):
    path, profiles, *_ = two_db
    con = sc.connect(path, read_only=True, profile=profiles["B"])
    try:
        assert access.compartments_of(con) == {"B"}
        assert con.execute("SELECT count(*) FROM company WHERE name = ?", [SECRET]).fetchone() == (0,)
    finally:
        con.close()
    with pytest.raises(SupplyChainError, match="read_only=True"):
        sc.connect(path, profile=profiles["B"])
    monkeypatch.setenv("SUPPLYCHAIN_CONFIG", str(profiles["A"]))  # a reader's environment names the profile
    con = sc.connect(path, read_only=True)
    try:
        assert access.compartments_of(con) == {"A"}
    finally:
        con.close()
