"""Withdrawal features and labels on two hand-built waves, worked out by hand."""

import numpy as np
import pandas as pd
import pytest

import supplychain as sc
from supplychain.risk.withdrawal import withdrawal_features, withdrawal_labels
from supplychain.risk.withdrawal_model import load_model

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


def test_too_few_withdrawals_fall_back_to_the_expert_rule(con, waves):
    ids = {v: k for k, v in waves.items()}
    first = sc.risk.withdrawal(con, wave=2024)
    # no earlier wave has outcomes: points only, and the method says so
    assert first["method"].iloc[0] == (
        "expert rule (0 labelled withdrawals in earlier waves, fewer than 20 to learn from; points only, no probability)"
    )
    assert first["probability"].isna().all()
    # C declared 'decided' (4) with a 1 % margin (below 2 %: 1); A: margin 2 % is not below 2 %,
    # orders decreasing (1), 2 cyber measures missing (not 3); B reported no status
    assert [ids[c] for c in first["company"]] == ["C社", "A社", "B社"]
    assert (
        first["drivers"].iloc[0]
        == "expert rule only, 5 points: declared intent 'decided' (4 pts); defense margin below 2% (1 pt)"
    )
    later = sc.risk.withdrawal(con, wave=2025)
    assert later["method"].iloc[0].startswith("expert rule (2 labelled withdrawals in earlier waves, fewer than 20")
    assert "points scaled to a probability on waves 2024" in later["method"].iloc[0]
    assert later["probability"].between(0, 1).all()


def test_early_warning_matrix_and_measures_by_hand(con, waves):
    scores = pd.DataFrame(
        {
            "rank": [1, 2, 3, 4],
            "company": ["K1", "K2", "K3", "K4"],
            "company_name": ["一", "二", "三", "四"],
            "probability": [0.30, 0.25, 0.02, 0.01],
            "points": [8.0, 4.0, 0.0, 6.0],
            "drivers": ["d"] * 4,
            "top_drivers": [[]] * 4,
            "method": "m",
            "withdrawal_intent": ["decided", "considering", "none", "none"],
            "owner_age": [72.0, 50.0, 68.0, np.nan],
            "successor": ["none", "decided", "candidate", "missing"],
            "owner_70_no_successor": [1.0, 0.0, 0.0, np.nan],
        }
    )
    crit = pd.DataFrame(
        {
            "company": ["K1", "K2", "K3", "K4"] + [f"X{i}" for i in range(16)],
            "programs_lost": [0, 0, 1, 0] + [0] * 16,
            "buyers_lost": [1, 0, 3, 0] + [0] * 16,
            "parts_lost": [2, 0, 4, 0] + [0] * 16,
            "value_lost": [9e8, 1e6, 5e8, 2e6] + [1e6] * 16,
        }
    )
    ew = sc.risk.early_warning(con, wave=2024, withdrawal_scores=scores, criticality_scores=crit)
    got = ew.set_index("company")
    # 90th percentile of value lost over the 20 companies: between 1e6 and 5e8; K3 loses a program
    assert got["priority"].to_dict() == {"K1": "act", "K2": "watch", "K3": "protect", "K4": "monitor"}
    assert got.loc["K1", "expected_value_lost"] == pytest.approx(0.30 * 9e8)
    assert got["measure_type"].fillna("").to_dict() == {
        "K1": "business_succession",  # 72, no successor
        "K2": "",  # successor decided and nothing lost: alternatives in use
        "K3": "business_succession",  # 68 with only a candidate
        "K4": "",
    }
    assert got.loc["K1", "measure"] == "successor needed (owner 72, successor 'none')"
    assert ew["company"].tolist() == ["K1", "K2", "K3", "K4"]  # act, watch, protect, monitor
    # a younger owner with parts at stake: a second source
    scores.loc[0, "owner_age"] = 50.0
    again = sc.risk.early_warning(con, wave=2024, withdrawal_scores=scores, criticality_scores=crit).set_index("company")
    assert again.loc["K1", "measure_type"] == "supply_chain_resilience"
    assert again.loc["K1", "measure"] == "qualify a second source: 2 parts would have no supplier"
    from supplychain import plot

    fig = plot.early_warning_matrix(ew)
    assert [t.name for t in fig.data] == ["monitor", "protect", "watch", "act"]
    assert list(fig.data[-1].x) == [0.30] and list(fig.data[-1].y) == [9e8]
    assert fig.layout.shapes[0].x0 == 0.10 and fig.layout.shapes[1].y0 == ew.attrs["impact_threshold"]
    # without probabilities (the expert rule before any outcome), 6 points or more count as likely
    unscored = sc.risk.early_warning(con, wave=2024, withdrawal_scores=scores.assign(probability=np.nan), criticality_scores=crit)
    assert unscored.set_index("company")["priority"].to_dict() == {"K1": "act", "K2": "monitor", "K3": "protect", "K4": "watch"}


def test_withdrawal_on_the_sample_fits_a_model(sample_db):
    con, _ = sample_db
    w = sc.risk.withdrawal(con, wave=2025)
    assert w["method"].iloc[0].startswith("model (fitted on waves 2022, 2023, 2024:")
    assert w["rank"].tolist() == list(range(1, len(w) + 1))
    assert w["probability"].is_monotonic_decreasing and w["probability"].between(0, 1).all()
    top = w.iloc[0]
    assert top["drivers"].startswith(f"{top['probability']:.0%} chance of leaving before the next wave")


def test_withdrawal_command_validates_saves_and_scores(sample_db, tmp_path, capsys):
    from supplychain.cli import main

    con, _ = sample_db
    db = con.execute("SELECT path FROM duckdb_databases() WHERE NOT internal").fetchone()[0]
    model = tmp_path / "w.skops"
    assert main(["--db", db, "withdrawal", "--validate", "--save", str(model), "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert "forward-chained over waves 2023, 2024: " in out
    assert all(f"  {m:<13} ROC-AUC 0." in out for m in ("model", "expert rule", "intent alone"))
    assert f"saved the model fitted on waves [2022, 2023, 2024] to {model}" in out
    assert "wave 2025: model (fitted on waves 2022, 2023, 2024: " in out
    assert main(["--db", db, "withdrawal", "--model", str(model), "--top", "3"]) == 0
    again = capsys.readouterr().out
    assert "wave 2025: model (saved; fitted on waves 2022, 2023, 2024)" in again
    # the same companies and probabilities either way
    assert again.split("early warning:")[1] == out.split("early warning:")[1]
    assert load_model(model).metadata_["metrics"]["roc_auc"] > 0.5
