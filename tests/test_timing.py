"""Time-to-recover, time-to-survive and program-days lost on hand-built networks, worked by hand."""

import numpy as np
import pytest

import supplychain as sc
from supplychain.risk.timing import DAYS_PER_MONTH, time_to_recover

from .conftest import labels_by_ref, write_csv_return

HEAD = [
    "program",
    "buyer_ref",
    "supplier_ref",
    "part",
    "share",
    "alternatives_qualified",
    "inventory_days",
    "lead_time_days",
    "requalification_months",
]


def timed_return(rows, value=365e6):
    refs = sorted({r for row in rows for r in row[1:3]})
    return {
        "respondent": [["wave", "respondent_corporate_number", "respondent_name"], [2025, "", "時間試験"]],
        "companies": [["company_ref", "name", "country", "prefecture_code", "is_prime"]]
        + [[r, f"{r}社", "JP", "13", "yes" if r == "PR" else ""] for r in refs],
        "programs": [["program", "name", "prime_ref", "annual_value_jpy"], ["P1", "装備1", "PR", value]],
        "supply": [HEAD, *rows],
    }


# PR needs x (from A alone: 30 days in stock, a qualified alternative 90 days away), y (from B and
# C, both in use) and z (from D alone: 10 days in stock, no alternative, 6 months to qualify one);
# D needs w from E alone (20 days in stock, a qualified alternative 50 days away).
CHAIN = [
    ["P1", "PR", "A", "x", 1, 1, 30, 90, ""],
    ["P1", "PR", "B", "y", 0.5, 0, 5, 10, 3],
    ["P1", "PR", "C", "y", 0.5, 0, 5, 10, 3],
    ["P1", "PR", "D", "z", 1, 0, 10, 40, 6],
    ["P1", "D", "E", "w", 1, 1, 20, 50, ""],
]


@pytest.fixture
def chain(con, tmp_path):
    assert sc.ingest(con, write_csv_return(tmp_path / "chain", timed_return(CHAIN))).ok
    return labels_by_ref(con)


def test_program_days_lost_by_hand(con, chain):
    t = time_to_recover(con, wave=2025).set_index("company")
    d = chain("D")
    six_months = 6 * DAYS_PER_MONTH  # 182.5 days
    # D fails for good: no alternative for z, 182.5 days to qualify one, 10 in stock
    assert t.loc[d, "ttr_days"] == pytest.approx(six_months) and t.loc[d, "tts_days"] == 10
    assert t.loc[d, "days_lost"] == pytest.approx(six_months - 10)
    # A: TTR 90 (the alternative's lead time), 30 days in stock: 60 program-days, the example
    a = t.loc[chain("A")]
    assert (a["ttr_days"], a["tts_days"], a["days_lost"]) == (90, 30, 60)
    assert a["value_lost"] == pytest.approx(60 * 365e6 / 365)
    # E: D is out for 50 - 20 = 30 days; the prime then for min(30, 182.5) - 10 = 20; 30 days in stock on the way
    e = t.loc[chain("E")]
    assert (e["ttr_days"], e["tts_days"], e["days_lost"]) == (50, 30, 20) and e["tts_below_ttr"]
    # B or C alone: the other supplier in use takes the volume, TTR 0, nothing lost
    assert chain("B") not in t.index and chain("C") not in t.index
    assert t.index.tolist() == [d, chain("A"), chain("E")]
    assert t["rei"].tolist() == pytest.approx([1, 60 / (six_months - 10), 20 / (six_months - 10)])


def test_a_disruption_shorter_than_the_recovery(con, chain):
    t = time_to_recover(con, wave=2025, days=45).set_index("company")
    # E out 45 days: D stops min(45, 50) - 20 = 25 days, the prime 25 - 10 = 15
    assert t.loc[chain("E"), "days_lost"] == 15
    # A out 45 days: 45 - 30 = 15; D out 45 days: 45 - 10 = 35
    assert t.loc[chain("A"), "days_lost"] == 15 and t.loc[chain("D"), "days_lost"] == 35


def test_defaults_fill_what_the_survey_leaves_blank(con, tmp_path):
    rows = [["P1", "PR", "A", "x", 1, 0, "", "", ""], ["P1", "PR", "B", "y", 1, 2, "", "", ""]]
    assert sc.ingest(con, write_csv_return(tmp_path / "blank", timed_return(rows))).ok
    ref = labels_by_ref(con)
    t = time_to_recover(con, wave=2025).set_index("company")
    # no stock reported: TTS 0; A has no alternative: 12 months by default; B's alternatives: 90 days
    assert t.loc[ref("A"), "days_lost"] == pytest.approx(12 * DAYS_PER_MONTH)
    assert t.loc[ref("B"), "days_lost"] == 90 and (t["tts_days"] == 0).all()
    assert np.isfinite(t["value_lost"]).all()
