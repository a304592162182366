"""Ownership chains rolled up by hand: control is transitive, economic shares multiply."""

import pytest

import supplychain as sc
from supplychain.risk.ownership import foreign_control, ownership_chains

from .conftest import write_csv_return


def ownership_return(holdings, *, supply=()):
    """A return with companies A, B, C (domestic) and the holdings (company ref, owner name,
    owner country, share); the owners named like the companies are those companies."""
    names = {"A": "株式会社青葉工業", "B": "株式会社白樺精機", "C": "株式会社紅葉電子", "PR": "株式会社本丸重工"}
    return {
        "respondent": [["wave", "respondent_corporate_number", "respondent_name"], [2025, "", "所有関係の回答者"]],
        "companies": [["company_ref", "name", "country", "prefecture_code", "is_prime"]]
        + [[ref, name, "JP", "13", "yes" if ref == "PR" else ""] for ref, name in names.items()],
        "programs": [["program", "name", "prime_ref"], ["P1", "試験装備", "PR"]],
        "supply": [["program", "buyer_ref", "supplier_ref", "part"], *[list(s) for s in supply]],
        "ownership": [["company_ref", "owner_name", "owner_country", "share"]]
        + [[ref, names.get(owner, owner), country, share] for ref, owner, country, share in holdings],
    }


@pytest.fixture
def chain(con, tmp_path):
    # A owns 60 % of B, B owns 30 % of C, a foreign owner F owns 55 % of A
    holdings = [("B", "A", "JP", 0.6), ("C", "B", "JP", 0.3), ("A", "Fenwick Holdings Ltd", "CN", 0.55)]
    supply = [("P1", "PR", "B", "歯車"), ("P1", "PR", "C", "基板"), ("P1", "B", "A", "素材")]
    res = sc.ingest(con, write_csv_return(tmp_path / "own", ownership_return(holdings, supply=supply)))
    assert res.ok, res.to_frame()
    return dict(con.execute("SELECT name, company_id FROM company").fetchall())


def test_chains_roll_up_as_worked_by_hand(con, chain):
    out = ownership_chains(con, wave=2025)
    got = {
        (r.company_name, r.owner_name): (r.controlled_share, r.economic_share, r.relation, r.direct)
        for r in out.itertuples(index=False)
    }
    a, b, c, f = "株式会社青葉工業", "株式会社白樺精機", "株式会社紅葉電子", "Fenwick Holdings Ltd"
    expected = {
        (a, f): (0.55, 0.55, "control", True),
        (b, a): (0.6, 0.6, "control", True),
        # F controls A, which controls B: A's 60 % of B's votes are F's; economically 0.55 × 0.6
        (b, f): (0.6, 0.33, "control", False),
        (c, b): (0.3, 0.3, "significant_influence", True),
        # B's 30 % of C is voted by B, controlled by A, controlled by F
        (c, a): (0.3, 0.18, "significant_influence", False),
        (c, f): (0.3, 0.099, "significant_influence", False),
    }
    assert set(got) == set(expected)
    for key, (controlled, economic, relation, direct) in expected.items():
        assert got[key][0] == pytest.approx(controlled) and got[key][1] == pytest.approx(economic), key
        assert got[key][2:] == (relation, direct), key
    path = out[(out["company_name"] == c) & (out["owner_name"] == f)]["path"].iloc[0]
    assert path.split(" → ")[0] == f and len(path.split(" → ")) == 4


def test_foreign_control_flags_suppliers_from_countries_of_concern(con, chain):
    out = foreign_control(con, wave=2025)
    # every row is the foreign owner F; C and B supply the prime, A supplies B
    assert set(out["owner_name"]) == {"Fenwick Holdings Ltd"} and out["concern"].all()
    assert out[["company_name", "relation"]].values.tolist() == [
        ["株式会社白樺精機", "control"],
        ["株式会社青葉工業", "control"],
        ["株式会社紅葉電子", "significant_influence"],
    ]
    assert (out["programs"] == "P1").all()


def test_thresholds_are_configuration(con, chain, tmp_path):
    site = tmp_path / "site.toml"
    site.write_text("[ownership]\ncontrol = 0.6\nsignificant_influence = 0.35\n", encoding="utf-8")
    out = ownership_chains(con, wave=2025, config=site)
    rel = {(r.company_name, r.owner_name): r.relation for r in out.itertuples(index=False)}
    # 55 % is no longer control, so F's control chain stops at A; B's 30 % of C is only notifiable
    assert rel[("株式会社青葉工業", "Fenwick Holdings Ltd")] == "significant_influence"
    assert rel[("株式会社白樺精機", "株式会社青葉工業")] == "control"
    assert rel[("株式会社紅葉電子", "株式会社白樺精機")] == "notifiable"
    assert rel[("株式会社白樺精機", "Fenwick Holdings Ltd")] == "notifiable"  # 0.33 economic, controls nothing
