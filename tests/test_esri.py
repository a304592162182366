"""ESRI (Diem et al. 2022) on networks worked out by hand, and against a plain dense reading."""

import hypothesis.strategies as st
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings

import supplychain as sc
from supplychain.risk.esri import esri_of_links

from .conftest import load_network


def _links(rows):
    df = pd.DataFrame(rows, columns=["supplier_id", "buyer_id", "part_id", "w", "substitutability"])
    df["market"] = "part:" + df["part_id"]
    return df


# S and T sell part x (S to B and C, T to D); B sells y to E (non-essential); T sells z to E
# (non-propagating). Sales: S 200, T 350, B 50; total 600.
HAND = _links(
    [
        ("S", "B", "x", 100, "no"),
        ("S", "C", "x", 100, "no"),
        ("T", "D", "x", 300, "no"),
        ("B", "E", "y", 50, "conditional"),
        ("T", "E", "z", 50, "yes"),
    ]
)


def test_esri_worked_by_hand():
    e = esri_of_links(HAND).set_index("company")["esri"]
    # S fails: market x can still deliver T's 300, so S's share is 200/300; B and C keep 1/3;
    # then E loses half its inputs (b = 50/100) times B's loss 2/3 -> h_d(E) = 2/3.
    # Lost output: S 200 x 1 + B 50 x 2/3 = 233.3 of 600.
    assert e["S"] == pytest.approx((200 + 50 * 2 / 3) / 600)
    # T fails: D loses its only essential input (T's share of what x can deliver is capped at
    # 1); E's link from T is non-propagating. Lost: T's own 350.
    assert e["T"] == pytest.approx(350 / 600)
    # E, which only buys, fails: upstream B loses all its sales (h_u 0), T a seventh, then S
    # half (its sales to B): 200 x 1/2 + 350 x 1/7 + 50 = 200 of 600.
    assert e["E"] == pytest.approx(200 / 600)
    # D only buys from T: T loses 300/350 of its sales, nothing else.
    assert e["D"] == pytest.approx(300 / 600)


def test_sole_essential_supplier_takes_its_buyer_down():
    e = esri_of_links(_links([("J", "I", "p", 10, "no"), ("I", "K", "q", 40, "conditional")])).set_index("company")
    # J fails: I loses its only essential input (h_d 0), K then loses all of its input from I
    assert e.loc["J", "esri"] == pytest.approx(1.0)
    # K fails: I loses its only customer, then J its only customer
    assert e.loc["K", "esri"] == pytest.approx(1.0)
    assert e.loc["K", "steps"] == 4  # K forced to 0, then I, then J, then a step with no change


def test_a_hub_with_a_non_propagating_supplier_is_not_hurt_by_it():
    links = _links([("N", "H", "q", 10, "yes"), ("H", "C1", "p", 50, "no"), ("H", "C2", "p", 50, "no")])
    e = esri_of_links(links).set_index("company")["esri"]
    assert e["N"] == pytest.approx(10 / 110)  # only N's own output
    assert e["H"] == pytest.approx(1.0)  # H down; N loses its only customer upstream


def test_esri_from_the_database_matches_the_link_table(con, tmp_path):
    rows = [
        ("P1", "B", "S", "x", "", "no", "", 100),
        ("P1", "C", "S", "x", "", "no", "", 100),
        ("P1", "D", "T", "x", "", "no", "", 300),
        ("P1", "E", "B", "y", "", "conditional", "", 50),
        ("P1", "E", "T", "z", "", "yes", "", 50),
    ]
    ref = load_network(con, tmp_path, rows, primes={"P1": "E"})
    e = sc.risk.esri(con, wave=2025).set_index("company")["esri"]
    assert e[ref("S")] == pytest.approx((200 + 50 * 2 / 3) / 600)
    assert e[ref("E")] == pytest.approx(200 / 600)
    one = sc.risk.esri(con, wave=2025, companies=[ref("T")])
    assert list(one["company"]) == [ref("T")] and one.loc[0, "esri"] == pytest.approx(350 / 600)


def _reference(links: pd.DataFrame, root: str, tol: float = 0.01) -> float:
    """The specification read literally: every firm updated at every step, dense."""
    links = links[links["w"] > 0]
    firms = sorted(set(links["supplier_id"]) | set(links["buyer_id"]))
    s_out = {f: links.loc[links["supplier_id"] == f, "w"].sum() for f in firms}
    s_in = {f: links.loc[links["buyer_id"] == f, "w"].sum() for f in firms}
    purchases = links.groupby(["buyer_id", "part_id"])["w"].sum()
    sales = links.groupby(["supplier_id", "market"])["w"].sum()
    hd = dict.fromkeys(firms, 1.0)
    hu = dict.fromkeys(firms, 1.0)
    while True:
        volume = {m: sum(v * hd[seller] for (seller, mm), v in sales.items() if mm == m) for m in set(links["market"])}
        new_hd, new_hu = {}, {}
        for i in firms:
            psi = 0.0 if i == root else 1.0
            ess, non = {}, 0.0
            for r in links[links["buyer_id"] == i].itertuples():
                v = volume[r.market]
                sigma = 1.0 if v <= 0 else min(1.0, sales[(r.supplier_id, r.market)] / v)
                if r.substitutability == "no":
                    ess[r.part_id] = ess.get(r.part_id, 0.0) + r.w / purchases[(i, r.part_id)] * sigma * (1 - hd[r.supplier_id])
                elif r.substitutability == "conditional":
                    non += r.w / s_in[i] * sigma * (1 - hd[r.supplier_id])
            new_hd[i] = min(1 - max(ess.values(), default=0.0), 1 - non, psi)
            out = links[links["supplier_id"] == i]
            new_hu[i] = min(sum(r.w / s_out[i] * hu[r.buyer_id] for r in out.itertuples()), psi) if s_out[i] > 0 else psi
        change = max(max(abs(new_hd[f] - hd[f]), abs(new_hu[f] - hu[f])) for f in firms)
        hd, hu = new_hd, new_hu
        if change <= tol:
            break
    total = sum(s_out.values())
    return sum(s_out[f] * (1 - min(hd[f], hu[f])) for f in firms) / total


@settings(max_examples=30, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from("ABCDEFG"),
            st.sampled_from("ABCDEFG"),
            st.sampled_from("pqr"),
            st.integers(1, 100),
            st.sampled_from(["no", "conditional", "yes"]),
        ),
        min_size=1,
        max_size=12,
        unique_by=lambda r: r[:3],
    )
)
def test_esri_agrees_with_the_dense_reading(rows):
    rows = [r for r in rows if r[0] != r[1]]
    if not rows:
        return
    links = _links(rows)
    got = esri_of_links(links).set_index("company")["esri"]
    for firm in got.index:
        assert got[firm] == pytest.approx(_reference(links, firm), abs=1e-9), firm


def test_esri_of_the_sample_is_a_share(sample_db):
    con, _ = sample_db
    e = sc.risk.esri(con, wave=2025)
    assert e["esri"].between(0, 1).all()
    assert np.all(np.diff(e["esri"].to_numpy()) <= 0)
    assert len(e) == e["company"].nunique()


def test_esri_of_a_dozen_firms_agrees_with_the_dense_reading():
    # three tiers feeding two assemblers and a prime, with every kind of link and a shared
    # raw-material market (m1, m2 both sell part "ore")
    rows = [
        ("m1", "c1", "ore", 40, "no"),
        ("m2", "c1", "ore", 10, "no"),
        ("m2", "c2", "ore", 30, "no"),
        ("m3", "c2", "gas", 5, "conditional"),
        ("s1", "c1", "tool", 8, "yes"),
        ("c1", "a1", "casting", 60, "no"),
        ("c2", "a1", "casting", 20, "no"),
        ("c2", "a2", "casting", 50, "no"),
        ("e1", "a2", "chip", 25, "conditional"),
        ("e2", "a2", "chip", 25, "conditional"),
        ("a1", "pr", "module", 120, "no"),
        ("a2", "pr", "module", 90, "conditional"),
        ("pr", "gov", "system", 400, "yes"),
    ]
    links = _links(rows)
    got = esri_of_links(links).set_index("company")["esri"]
    assert len(got) == 12
    for firm in got.index:
        assert got[firm] == pytest.approx(_reference(links, firm), abs=1e-12), firm
    # by hand: m3 is a non-essential supplier of 5 of c2's 35 (b = 5/35), and the only seller of
    # gas (σ = 1), so its failure leaves c2 at h_d = 30/35; the loss then spreads, smaller, on.
    assert got["pr"] > got["a1"] > got["m3"] > 0
