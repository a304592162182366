"""The schema files drive DDL, validation and the dictionary; they must agree."""

from pathlib import Path

import pytest

import supplychain as sc
from supplychain.db import run
from supplychain.survey import schema

ROOT = Path(__file__).resolve().parents[1]


def test_data_dictionary_is_current():
    current = (ROOT / "docs" / "data-dictionary.md").read_text("utf-8")
    assert current == schema.data_dictionary() + "\n", "docs/data-dictionary.md is stale: run `make dictionary`"


def test_every_table_of_design_section_3_exists(con):
    design = {
        "survey_wave",
        "company",
        "site",
        "program",
        "part",
        "supply",
        "material_origin",
        "company_status",
        "withdrawal_event",
        "cyber_assessment",
        "ownership",
        "screening_entry",
        "plan",
        "plan_measure",
        "finding",
        "ingest_log",
        "rejected_row",
        "audit_log",
    }
    present = {r[0] for r in run(con, "SELECT table_name FROM duckdb_tables()").fetchall()}
    assert design <= present


def test_fact_tables_carry_provenance(con):
    for t in schema.tables().values():
        if t.kind == "fact":
            cols = {r[0] for r in run(con, "SELECT column_name FROM duckdb_columns() WHERE table_name = ?", [t.name]).fetchall()}
            assert {"wave", "submission_id", "source_sheet", "source_row"} <= cols, t.name


def test_reference_data_loaded(con):
    assert run(con, "SELECT count(*) FROM country").fetchone()[0] == 249
    assert run(con, "SELECT name_ja FROM prefecture WHERE code = '13'").fetchone()[0] == "東京都"
    # 29 prefectures have municipalities in the Nankai Trough promotion area (Cabinet Office, 2014)
    assert run(con, "SELECT count(*) FROM prefecture WHERE nankai_zone").fetchone()[0] == 29


def test_sheet_contract_matches_design():
    s = schema.sheets()
    assert list(s) == [
        "respondent",
        "companies",
        "sites",
        "programs",
        "supply",
        "material_origin",
        "status",
        "cyber",
        "ownership",
        "withdrawal_events",
    ]
    assert s["supply"].required == ("program", "buyer_ref", "supplier_ref", "part")
    assert s["companies"].required == ("company_ref", "name", "country")
    assert s["supply"].column("substitutability").allowed == ("yes", "conditional", "no")


def test_connect_twice_keeps_data(tmp_path):
    path = tmp_path / "x.duckdb"
    c = sc.connect(path)
    run(c, "INSERT INTO survey_wave VALUES (2025, 2025, NULL, NULL)")
    c.close()
    c = sc.connect(path, read_only=True)
    assert run(c, "SELECT count(*) FROM survey_wave").fetchone()[0] == 1
    c.close()


def test_read_only_needs_a_file():
    with pytest.raises(sc.exceptions.SupplyChainError, match="read_only"):
        sc.connect(read_only=True)
