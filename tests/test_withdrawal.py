"""Withdrawal features and labels on two hand-built waves, worked out by hand."""

import numpy as np
import pytest

import supplychain as sc
from supplychain.risk.withdrawal import withdrawal_features, withdrawal_labels

from .conftest import write_csv_return


def companies(employees_of_a=120):
    return [["company_ref", "name", "country", "prefecture_code", "is_prime", "employees"]] + [
        [r, f"{r}社", "JP", "13", "yes" if r == "PR" else "", employees_of_a if r == "A" else ""] for r in ("PR", "A", "B", "C")
    ]


def wave_return(wave, supply, status, *, cyber=None, events=None, employees_of_a=120):
    ret = {
        "respondent": [["wave", "respondent_corporate_number", "respondent_name"], [wave, "", "撤退試験"]],
        "companies": companies(employees_of_a),
        "programs": [["program", "name", "prime_ref"], ["P1", "装備1", "PR"], ["P2", "装備2", "PR"]],
        "supply": [["program", "buyer_ref", "supplier_ref", "part", "annual_value_jpy"], *supply],
        "status": [["company_ref", "defense_sales_share", "defense_margin", "order_trend", "withdrawal_intent"], *status],
    }
    if cyber:
        ret["cyber"] = [
            ["company_ref", "mfa", "monitoring", "vulnerability_scanning", "incident_drills", "physical_access_control"],
            *cyber,
        ]
    if events:
        ret["withdrawal_events"] = [["company_ref", "announced_on", "reason"], *events]
    return ret


@pytest.fixture
def waves(con, tmp_path):
    # 2024, all in P1 but B's: A sells x and u to the prime (300 + 100 yen) and v to B (100 yen);
    # B sells y to the prime in P2; C sells w to A, no value reported
    w2024 = wave_return(
        2024,
        [
            ["P1", "PR", "A", "x", 300],
            ["P1", "PR", "A", "u", 100],
            ["P1", "B", "A", "v", 100],
            ["P2", "PR", "B", "y", 50],
            ["P1", "A", "C", "w", ""],
        ],
        [["A", 0.10, 0.02, "decreasing", "none"], ["C", 0.5, 0.01, "", "decided"]],
        cyber=[["A", "yes", "no", "yes", "no", "yes"]],
    )
    # 2025: C supplies nothing any more; B announced its withdrawal in October 2024
    w2025 = wave_return(
        2025,
        [["P1", "PR", "A", "x", 300], ["P2", "PR", "B", "y", 50]],
        [["A", 0.08, 0.005, "stable", "considering"]],
        events=[["B", "2024-10-01", "profitability"]],
    )
    for wave, ret in ((2024, w2024), (2025, w2025)):
        res = sc.ingest(con, write_csv_return(tmp_path / str(wave), ret))
        assert res.ok, res.to_frame()
    return dict(con.execute("SELECT name, company_id FROM company").fetchall())


def test_features_worked_by_hand(con, waves):
    f = withdrawal_features(con, wave=2024).set_index("company_name")
    assert sorted(f.index) == ["A社", "B社", "C社"]  # the prime neither supplies nor reports a status
    a = f.loc["A社"]
    # A delivers 400 yen to the prime and 100 to B, in P1 only
    assert (a["n_programs"], a["n_buyers"]) == (1, 2) and a["top_buyer_share"] == pytest.approx(0.8)
    assert a["cyber_gap"] == 2 and a["order_trend"] == "decreasing" and a["withdrawal_intent"] == "none"
    assert np.isnan(a["defense_sales_share_change"])  # no earlier wave
    c = f.loc["C社"]
    # no values on C's link: the top buyer's share by number of links
    assert c["top_buyer_share"] == 1.0 and c["order_trend"] == "missing" and np.isnan(c["cyber_gap"])
    b = f.loc["B社"]
    assert np.isnan(b["defense_margin"]) and b["withdrawal_intent"] == "missing"
    later = withdrawal_features(con, wave=2025).set_index("company_name").loc["A社"]
    assert later["defense_sales_share_change"] == pytest.approx(-0.02)
    assert later["defense_margin_change"] == pytest.approx(-0.015)


def test_labels_from_events_and_decided_exits(con, waves):
    ids = {v: k for k, v in waves.items()}
    labels = withdrawal_labels(con, wave=2024).rename(index=ids).to_dict()
    # B announced within the year; C had decided and supplies nothing at the next wave
    assert labels == {"A社": 0.0, "B社": 1.0, "C社": 1.0}
    assert withdrawal_labels(con, wave=2025).isna().all()  # no next wave yet


def test_features_use_nothing_from_later_waves(con, tmp_path):
    # the features of 2024 are the same before and after 2025 is loaded (no leakage from the future)
    w2024 = wave_return(2024, [["P1", "PR", "A", "x", 300]], [["A", 0.10, 0.02, "decreasing", "none"]])
    assert sc.ingest(con, write_csv_return(tmp_path / "2024", w2024)).ok
    before = withdrawal_features(con, wave=2024)
    w2025 = wave_return(
        2025,
        [["P1", "PR", "A", "x", 900], ["P2", "PR", "A", "y", 50]],
        [["A", 0.5, -0.2, "increasing", "decided"]],
        cyber=[["A", "no", "no", "no", "no", "no"]],
        events=[["A", "2024-05-01", "later"]],
        employees_of_a=40,
    )
    assert sc.ingest(con, write_csv_return(tmp_path / "2025", w2025)).ok
    after = withdrawal_features(con, wave=2024)
    assert before.equals(after) and before["employees"].tolist() == [120.0]  # 2025 reports 40: not seen at 2024
    assert withdrawal_labels(con, wave=2024).to_dict() == {before["company_id"].iloc[0]: 1.0}  # the label does see 2025
