"""Screening lists in their public formats, Japanese-aware name matching, and the review queue."""

import csv
import json

import pytest

import supplychain as sc
from supplychain import screening
from supplychain.exceptions import SupplyChainError

from .conftest import write_csv_return, write_xlsx_return

# Fictional parties only.
METI_ROWS = [
    ["End User List", "", "", "", ""],  # title rows above the header, as METI publishes it
    ["Ministry of Economy, Trade and Industry", "", "", "", ""],
    ["No.", "Country or Region", "Company or Organization", "Also Known As", "Type of WMD"],
    ["1", "Iran", "Zarvand Industrial Group", "ZIG\nZarvand Industries", "M"],
    ["2", "China", "Kanzaki Denki Co., Ltd.", "", "C, M"],
    ["3", "Pakistan", "Telmar Tech Ltd.", "・Telmar Technologies", "N"],
]
CSL_HEADER = [
    "_id",
    "source",
    "entity_number",
    "type",
    "programs",
    "name",
    "title",
    "addresses",
    "federal_register_notice",
    "start_date",
    "end_date",
    "standard_order",
    "license_requirement",
    "license_policy",
    "call_sign",
    "vessel_type",
    "gross_tonnage",
    "gross_registered_tonnage",
    "vessel_flag",
    "vessel_owner",
    "remarks",
    "source_list_url",
    "alt_names",
    "citizenships",
    "dates_of_birth",
    "nationalities",
    "places_of_birth",
    "source_information_url",
    "ids",
]
CSL_ROWS = [
    {
        "_id": "a1b2c3",
        "source": "Entity List (EL) - Bureau of Industry and Security",
        "type": "Entity",
        "name": "Velkor Dynamics JSC",
        "addresses": "12 Ulitsa Primernaya, Tula, , 300000, RU",
        "license_requirement": "For all items subject to the EAR.",
        "alt_names": "Velkor Dyn.; ВЕЛКОР ДИНАМИКС",
    },
    {
        "_id": "d4e5f6",
        "source": "Specially Designated Nationals (SDN) - Treasury Department",
        "type": "Individual",
        "name": "DOE, John",
    },
]
FTM = [
    {
        "id": "os-ostrava-1",
        "schema": "Company",
        "caption": "Ostrava Precision Works",
        "properties": {"name": ["Ostrava Precision Works"], "alias": ["OPW Ltd"], "country": ["ru"], "topics": ["sanction"]},
        "datasets": ["eu_fsf"],
    },
    {"id": "os-sanction-1", "schema": "Sanction", "properties": {"entity": ["os-ostrava-1"], "program": ["EU"]}},
]


@pytest.fixture
def lists(tmp_path):
    meti = write_xlsx_return(tmp_path / "enduserlist.xlsx", {"Sheet1": METI_ROWS})
    csl = tmp_path / "consolidated.csv"
    with open(csl, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=CSL_HEADER)
        w.writeheader()
        w.writerows(CSL_ROWS)
    ftm = tmp_path / "entities.ftm.json"
    ftm.write_text("\n".join(json.dumps(e, ensure_ascii=False) for e in FTM) + "\n", encoding="utf-8")
    return {"meti": meti, "csl": csl, "opensanctions": ftm}


def test_each_format_is_read_as_published(con, lists):
    meti = screening.read_list(lists["meti"], con=con)
    assert meti["name"].tolist() == ["Zarvand Industrial Group", "Kanzaki Denki Co., Ltd.", "Telmar Tech Ltd."]
    assert meti["aliases"].tolist() == [["ZIG", "Zarvand Industries"], [], ["Telmar Technologies"]]
    assert meti["country"].tolist() == ["IR", "CN", "PK"]
    assert "chemical, missile" in meti["reason"].iloc[1]
    csl = screening.read_list(lists["csl"])
    assert csl["name"].tolist() == ["Velkor Dynamics JSC", "DOE, John"]
    assert csl["aliases"].iloc[0] == ["Velkor Dyn.", "ВЕЛКОР ДИНАМИКС"] and csl["country"].iloc[0] == "RU"
    assert csl["entry_id"].tolist() == ["a1b2c3", "d4e5f6"] and csl["entity_type"].tolist() == ["entity", "individual"]
    ftm = screening.read_list(lists["opensanctions"])
    assert ftm[["entry_id", "name", "country"]].values.tolist() == [["os-ostrava-1", "Ostrava Precision Works", "RU"]]
    assert ftm["aliases"].iloc[0] == ["OPW Ltd"] and "sanction" in ftm["reason"].iloc[0]


def test_loading_replaces_a_list_and_bad_files_are_clear_errors(con, lists, tmp_path):
    assert screening.load_list(con, lists["meti"]) == 3
    assert screening.load_list(con, lists["meti"]) == 3  # loaded again: replaced, not doubled
    assert screening.load_list(con, lists["csl"]) == 2
    counts = dict(con.execute("SELECT list_name, count(*) FROM screening_entry GROUP BY 1").fetchall())
    assert counts == {"METI End User List": 3, "US Consolidated Screening List": 2}
    bad = tmp_path / "bad.json"
    bad.write_text('{"id": "x", "schema": "Company"\n', encoding="utf-8")
    with pytest.raises(SupplyChainError, match="line 1 is not JSON"):
        screening.load_list(con, bad)
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(SupplyChainError, match="cannot tell the list format"):
        screening.load_list(con, other)
    assert con.execute("SELECT count(*) FROM screening_entry").fetchone()[0] == 5  # nothing half-loaded


def companies_return():
    return {
        "respondent": [["wave", "respondent_corporate_number", "respondent_name"], [2025, "", "スクリーニング試験"]],
        "companies": [
            ["company_ref", "name", "name_en", "name_kana", "country", "prefecture_code"],
            ["C1", "Zarvand Industrial Group", "", "", "IR", ""],  # exact
            ["C2", "ＴＥＬＭＡＲ　ＴＥＣＨＮＯＬＯＧＩＥＳ", "", "", "PK", ""],  # full-width form of an alias
            ["C3", "株式会社カンザキ電機", "", "", "JP", "13"],  # romaji of a listed name, company form apart
            ["C4", "Zarvand Industrial Grp", "", "", "IR", ""],  # a near spelling
            ["C5", "山田精機株式会社", "Yamada Seiki Co., Ltd.", "ヤマダセイキ", "JP", "23"],  # unrelated
            ["C6", "Kavro Alloys Inc.", "", "", "US", ""],  # unrelated
            ["C7", "Velkor Dynamics", "", "", "RU", ""],  # CSL name without its company form
        ],
        "ownership": [["company_ref", "owner_name", "owner_country", "share"], ["C5", "Ostrava Precision Works", "RU", 0.2]],
    }


@pytest.fixture
def screened(con, lists, tmp_path):
    assert sc.ingest(con, write_csv_return(tmp_path / "r", companies_return())).ok
    for path in lists.values():
        screening.load_list(con, path)
    return screening.screen(con)


def test_names_match_across_widths_forms_scripts_and_spellings(screened):
    hits = {r.subject_name: r for r in screened.itertuples(index=False)}
    assert set(hits) == {
        "Zarvand Industrial Group",
        "ＴＥＬＭＡＲ　ＴＥＣＨＮＯＬＯＧＩＥＳ",
        "株式会社カンザキ電機",
        "Zarvand Industrial Grp",
        "Velkor Dynamics",
        "Ostrava Precision Works",
    }
    assert (
        hits["Zarvand Industrial Group"].score == 100
        and hits["Zarvand Industrial Group"].matched_alias == "Zarvand Industrial Group"
    )
    assert hits["ＴＥＬＭＡＲ　ＴＥＣＨＮＯＬＯＧＩＥＳ"].matched_alias == "Telmar Technologies"
    assert hits["ＴＥＬＭＡＲ　ＴＥＣＨＮＯＬＯＧＩＥＳ"].score == 100
    assert hits["株式会社カンザキ電機"].entry_name == "Kanzaki Denki Co., Ltd." and hits["株式会社カンザキ電機"].score == 100
    assert hits["株式会社カンザキ電機"].reason.startswith("same romanised name")
    assert hits["Velkor Dynamics"].score == 100 and hits["Velkor Dynamics"].list_name == "US Consolidated Screening List"
    owner = hits["Ostrava Precision Works"]
    assert owner.subject_kind == "owner" and owner.list_name == "OpenSanctions" and owner.same_country
    near = hits["Zarvand Industrial Grp"]
    assert 85 <= near.score < 100 and not near.reason.startswith("same")
    # strongest first, every hit pending
    assert screened["score"].tolist() == sorted(screened["score"], reverse=True)
    assert (screened["status"] == "pending").all()


def test_decisions_persist_across_runs(con, screened):
    hit = screened[screened["subject_name"] == "Zarvand Industrial Grp"]["hit_id"].iloc[0]
    screening.decide(con, hit, "dismissed", user="analyst", note="different firm, checked registry")
    again = screening.screen(con).set_index("hit_id")
    assert again.loc[hit, "status"] == "dismissed"
    assert (again.drop(index=hit)["status"] == "pending").all()
    assert len(screening.screening_queue(con)) == len(again) - 1
    audit = con.execute("SELECT user_name, target FROM audit_log WHERE action = 'screening_decision'").fetchall()
    assert audit == [("analyst", hit)]
    with pytest.raises(SupplyChainError, match="decision must be one of"):
        screening.decide(con, hit, "maybe")
    with pytest.raises(SupplyChainError, match="no screening hit"):
        screening.decide(con, "Hnope", "confirmed")


def test_thresholds_are_configuration(con, screened, tmp_path):
    site = tmp_path / "site.toml"
    site.write_text("[screening]\nreview = 100\nstrong = 100\n", encoding="utf-8")
    strict = screening.screen(con, config=site)
    assert "Zarvand Industrial Grp" not in set(strict["subject_name"]) and (strict["score"] == 100).all()


def test_romanised_keys():
    assert screening.screening_key("ｶﾝｻﾞｷ電機(株)") == screening.screening_key("Kanzaki Denki K.K.") == "kanzakidenki"
    assert screening.screening_key("ВЕЛКОР ДИНАМИКС") == "velkordinamiks"
    assert screening.screening_key("株式会社") == ""


def test_screen_command_loads_lists_and_prints_the_queue(tmp_path, lists, capsys):
    from supplychain.cli import main

    db = str(tmp_path / "s.duckdb")
    con = sc.connect(db)
    assert sc.ingest(con, write_csv_return(tmp_path / "r", companies_return())).ok
    con.close()
    assert main(["--db", db, "-q", "screen", "--list", str(lists["meti"]), "--list", str(lists["csl"])]) == 0
    out = capsys.readouterr().out
    assert "loaded 3 entries" in out and "loaded 2 entries" in out
    assert "Zarvand Industrial Group" in out and "Kavro" not in out and "awaiting review" in out
    hit = next(line.split()[0] for line in out.splitlines() if line.startswith("H") and "Zarvand Industrial Grp" in line)
    assert main(["--db", db, "screen", "--decide", hit, "dismissed", "--note", "not the same firm"]) == 0
    main(["--db", db, "-q", "screen"])
    assert "Zarvand Industrial Grp" not in capsys.readouterr().out.split("awaiting review")[1]
