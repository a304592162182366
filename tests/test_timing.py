"""Time-to-recover, time-to-survive and program-days lost on hand-built networks, worked by hand."""

import numpy as np
import pytest

import supplychain as sc
from supplychain.exceptions import SupplyChainError
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


# ---------------------------------------------------------------------------------------------
# scenarios in time


def test_scenario_days_and_a_stockpile_by_hand(con, chain):
    a = chain("A")
    base = {"name": "A stops", "fail": {"companies": [a]}, "days": 120}
    r = sc.scenario.run(con, base, wave=2025)
    # A out 120 days: the prime stops min(120, 90) - 30 = 60 days; 60 days of a 365-million-yen program
    assert r.summary["program_days_lost"] == 60 and r.summary["value_lost"] == pytest.approx(60e6)
    lost = r.programs_lost.iloc[0]
    assert (lost["program"], lost["days_lost"], lost["tts_days"]) == ("P1", 60, 30)
    assert lost["path"] == f"A stops → {a} → {chain('PR')}"
    assert r.parts_lost[["part", "days_lost"]].values.tolist() == [["x", 60]]
    assert r.links_stopped[["supplier", "cause", "days_stopped"]].values.tolist() == [[a, "company fails", 120]]
    # a 90-day stockpile of x at the prime: 120 days in stock cover the 90 days to switch
    stocked = sc.scenario.run(con, {**base, "mitigations": [{"action": "stockpile", "part": "x", "days": 90}]}, wave=2025)
    assert stocked.summary["program_days_lost"] == 0 and stocked.summary["baseline"]["program_days_lost"] == 60
    assert stocked.programs_lost.empty


def test_scenario_chain_second_source_and_prefecture(con, tmp_path):
    rows = [list(r) for r in CHAIN]
    ret = timed_return(rows)
    ret["companies"] = [row if row[0] != "E" else ["E", "E社", "JP", "27", ""] for row in ret["companies"]]
    assert sc.ingest(con, write_csv_return(tmp_path / "pref", ret)).ok
    ref = labels_by_ref(con)
    # E's prefecture (27, no site reported) stops for 100 days: D out min(100, 50) - 20 = 30, the prime 30 - 10 = 20
    r = sc.scenario.run(con, {"fail": {"prefectures": ["27"]}, "days": 100}, wave=2025)
    assert r.summary["program_days_lost"] == 20
    assert set(r.buyers_lost["company"]) == {ref("PR"), ref("D")}
    # D fails for good; a second source of z in use at the prime makes its TTR 0
    d_fails = {"fail": {"companies": ["D社"]}, "days": None}
    assert sc.scenario.run(con, d_fails, wave=2025).summary["program_days_lost"] == pytest.approx(6 * DAYS_PER_MONTH - 10)
    second = sc.scenario.run(con, {**d_fails, "mitigations": [{"action": "add_supplier", "part": "z"}]}, wave=2025)
    assert second.summary["program_days_lost"] == 0


def test_for_good_with_no_stock_is_the_and_or_rule(con, tmp_path):
    # with no inventory anywhere and no end to the disruption, the time model loses exactly the
    # requirements the AND/OR failure cascade (criticality) loses
    rows = [[*r[:6], "", r[7], r[8]] for r in CHAIN]
    assert sc.ingest(con, write_csv_return(tmp_path / "nostock", timed_return(rows))).ok
    crit = sc.risk.criticality(con, wave=2025).set_index("company")
    for company in crit.index:
        r = sc.scenario.run(con, {"fail": {"companies": [company]}}, wave=2025)
        assert r.summary["parts_lost"] == crit.loc[company, "parts_lost"]
        assert r.summary["programs_lost"] == crit.loc[company, "programs_lost"]


def test_scenarios_are_checked_data(con, chain):
    with pytest.raises(SupplyChainError, match="unknown keys"):
        sc.scenario.run(con, {"fail": {"company": ["A"]}}, wave=2025)
    with pytest.raises(SupplyChainError, match="ISO 3166-1"):
        sc.scenario.run(con, {"fail": {"countries": ["China"]}}, wave=2025)
    with pytest.raises(SupplyChainError, match="stockpile needs 'days'"):
        sc.scenario.normalize({"fail": {"parts": ["x"]}, "mitigations": [{"action": "stockpile", "part": "x"}]})
    with pytest.raises(SupplyChainError, match=r"no scenario .nankai. \(saved: none; standard: rare_earth_export_ban"):
        sc.scenario.run(con, "nankai", wave=2025)
    r = sc.scenario.run(con, {"fail": {"companies": ["nobody", "A社"]}, "days": 30}, wave=2025)
    assert r.summary["notes"] == ["not in wave 2025: nobody"] and r.summary["program_days_lost"] == 0  # 30 days in stock
    # the same scenario gives the same result twice
    again = sc.scenario.run(con, {"fail": {"companies": ["nobody", "A社"]}, "days": 30}, wave=2025)
    assert again.summary == r.summary


def test_saved_scenarios_run_again_and_on_another_wave(con, tmp_path, capsys):
    from supplychain.cli import main

    # wave 2025: A alone supplies x; wave 2026: B also supplies x, in use
    assert sc.ingest(con, write_csv_return(tmp_path / "w2025", timed_return(CHAIN))).ok
    later = timed_return([*CHAIN, ["P1", "PR", "B", "x", 0.5, 1, 30, 90, ""]])
    later["respondent"][1][0] = 2026
    assert sc.ingest(con, write_csv_return(tmp_path / "w2026", later)).ok
    (tmp_path / "a.yaml").write_text("name: a_stops\ndescription: A stops\nfail:\n  companies: [A社]\ndays: 120\n", "utf-8")
    (s,) = sc.scenario.read(tmp_path / "a.yaml")
    assert sc.scenario.save(con, s) == "a_stops"
    first = sc.scenario.run(con, "a_stops", wave=2025)
    assert first.summary == sc.scenario.run(con, sc.scenario.load(con, "a_stops"), wave=2025).summary
    assert first.summary["program_days_lost"] == 60
    # the next wave has a second supplier of x in use: nothing lost
    assert sc.scenario.run(con, "a_stops", wave=2026).summary["program_days_lost"] == 0
    assert sc.scenario.saved(con).set_index("name").loc["a_stops", "source"] == "saved"
    (tmp_path / "bad.json").write_text('{"fail": {"countries": ["XX1"]}}', "utf-8")
    with pytest.raises(SupplyChainError, match="bad.json: scenario 1: .*ISO 3166-1"):
        sc.scenario.read(tmp_path / "bad.json")
    # the command line, on a database file
    db = tmp_path / "cli.duckdb"
    assert main(["--db", str(db), "-q", "ingest", str(tmp_path / "w2025")]) == 0
    assert main(["--db", str(db), "scenario", "save", str(tmp_path / "a.yaml")]) == 0
    assert main(["--db", str(db), "scenario", "run", "a_stops"]) == 0
    out = capsys.readouterr().out
    assert "a_stops on wave 2025 (120 days): 1 links stop first" in out and "1 programs stop for 60 program-days, ¥60m" in out
    assert main(["--db", str(db), "scenario", "run", "no_such"]) == 1
    assert "no scenario 'no_such'" in capsys.readouterr().err


def test_kernel_agrees_with_the_fixpoint_on_the_sample(sample_db):
    from supplychain.risk.timing import outage_by_fixpoint, requirement_times
    from supplychain.scenario import _outage

    con, _ = sample_db
    net = sc.supply_network(con, wave=2025)
    times = requirement_times(net)
    rng = np.random.default_rng(3)
    for days in (30.0, 200.0, np.inf):
        companies = rng.choice(len(net.companies), 25, replace=False)
        starts = np.flatnonzero(np.isin(net.node_company[net.link_supplier], companies)).astype(np.int64)
        o = _outage(net, starts, days, times["link_in_use"], times["req_tts"], times["req_ttr"])
        node_ref, link_ref = outage_by_fixpoint(net, starts, days, times)
        node = np.zeros(net.n_nodes)
        node[o["nodes"]] = o["node_out"]
        link = np.zeros(len(net.links))
        link[o["links"]] = o["link_out"]
        np.testing.assert_allclose(node, node_ref)
        np.testing.assert_allclose(link, link_ref)
        assert (node_ref > 0).sum() > 10  # the check is not vacuous


# ---------------------------------------------------------------------------------------------
# Stable Manufacturing Plan review


def write_plans(folder, plans, measures):
    return write_csv_return(
        folder,
        {
            "plans": [["plan_id", "company", "program", "measure_type", "amount_jpy"], *plans],
            "measures": [["plan_id", "measure_id", "measure_type", "action", "part", "supplier", "days", "cost_jpy"], *measures],
        },
    )


def test_plan_review_by_hand(con, chain, tmp_path):
    folder = write_plans(
        tmp_path / "plans",
        [["SMP-1", "PR社", "P1", "supply_chain_resilience", "100,000,000"], ["SMP-2", "PR社", "P1", "cybersecurity", 5e6]],
        [
            ["SMP-1", "M1", "supply_chain_resilience", "stockpile", "x", "", 90, 40e6],
            ["SMP-1", "M2", "supply_chain_resilience", "add_supplier", "z", "", "", 60e6],
            ["SMP-2", "M1", "cybersecurity", "cyber_controls", "", "", "", 5e6],
        ],
    )
    assert sc.plan.load_plans(con, folder) == 2
    r = sc.plan.review(con, "SMP-1", wave=2025)
    six_months = 6 * DAYS_PER_MONTH
    days = r.scenarios.set_index("scenario")
    # the standard set finds nothing but the ten likeliest withdrawals (here every supplier: no
    # status reported, all at 0 points): x 90 - 30, y 3 months - 5, z 182.5 - 10; the longest stops the prime
    assert days.loc["rare_earth_export_ban", "days_before"] == 0 and days.loc["nankai_trough", "days_before"] == 0
    assert days.loc["top_withdrawal_risk", "days_before"] == pytest.approx(six_months - 10)
    # with the plan: x has 120 days in stock for a 90-day switch, z a second source in use; y remains
    assert days.loc["top_withdrawal_risk", "days_after"] == pytest.approx(3 * DAYS_PER_MONTH - 5)
    # the program's worst single failures, for good: D, A, E; the plan removes all three
    d, a, e = (f"{chain(x)} fails" for x in "DAE")
    assert days.loc[[d, a, e], "days_before"].tolist() == pytest.approx([six_months - 10, 60, 20])
    assert days.loc[[d, a, e], "days_after"].tolist() == [0, 0, 0]
    # and the plan's own risks: the suppliers of x (A) and of z (D) fail for good
    assert days.loc[["suppliers of x fail", "suppliers of z fail"], "days_before"].tolist() == pytest.approx(
        [60, six_months - 10]
    )
    assert days.loc[["suppliers of x fail", "suppliers of z fail"], "days_after"].tolist() == [0, 0]
    before = 3 * (six_months - 10) + 60 + 20 + 60
    after = 3 * DAYS_PER_MONTH - 5
    s = r.summary
    assert s["program_days_before"] == pytest.approx(before) and s["program_days_after"] == pytest.approx(after)
    assert s["yen_per_day_saved"] == pytest.approx(100e6 / (before - after))
    assert s["rei_before"] == pytest.approx(1.0) and s["rei_after"] == pytest.approx(after / before)
    f = r.findings.set_index("subject")
    assert f.loc["x", ["kind", "addressed", "by"]].tolist() == ["single source", True, "M1"]
    assert f.loc["z", ["kind", "addressed", "by"]].tolist() == ["single source", True, "M2"]
    assert f.loc[f"D社 ({chain('D')})", "by"] == "M2" and f.loc[f"A社 ({chain('A')})", "by"] == "M1"
    assert not f.loc[f"E社 ({chain('E')})", "addressed"]  # E supplies D, not the plan's company
    assert "untouched: chokepoint E社" in r.text()
    # the cyber plan saves no day: ranked after the one that does
    ranked = sc.plan.ranking(con, wave=2025)
    assert ranked["plan_id"].tolist() == ["SMP-1", "SMP-2"] and ranked.loc[1, "program_days_saved"] == 0


def test_plans_workbook_errors_say_where(con, chain, tmp_path):
    folder = write_plans(
        tmp_path / "bad",
        [["SMP-1", "PR社", "P1", "resilience", "-5"], ["SMP-1", "nobody", "P9", "", 1]],
        [
            ["SMP-9", "M1", "cybersecurity", "paint", "", "", "", ""],
            ["SMP-1", "M2", "supply_chain_resilience", "stockpile", "x", "", "", ""],
        ],
    )
    with pytest.raises(SupplyChainError) as err:
        sc.plan.load_plans(con, folder)
    text = str(err.value)
    for expected in (
        "nothing loaded",
        "plans.csv row 2, measure_type: 'resilience' is not one of",
        "plans.csv row 2, amount_jpy: a non-negative amount in yen is required, got '-5'",
        "plans.csv row -, plan_id: 'SMP-1' appears more than once",
        "measures.csv row 2, plan_id: 'SMP-9' is not a plan of the plans sheet",
        "measures.csv row 2, action: 'paint' is not one of",
        "measures.csv row 3, days: stockpile needs the number of days",
    ):
        assert expected in text
    assert con.execute("SELECT count(*) FROM plan").fetchone()[0] == 0
    ok = write_plans(tmp_path / "unknown", [["SMP-3", "nobody", "P9", "", 1]], [])
    with pytest.raises(SupplyChainError, match="'nobody' is not a company of the database.*\n.*'P9' is not a program"):
        sc.plan.load_plans(con, ok)


def test_plan_command_and_figures(con, chain, tmp_path, capsys):
    from supplychain import plot
    from supplychain.cli import main

    folder = write_plans(
        tmp_path / "plans",
        [["SMP-1", "PR社", "P1", "", 1e8]],
        [["SMP-1", "M1", "supply_chain_resilience", "stockpile", "x", "", 90, ""]],
    )
    r = sc.scenario.run(con, {"name": "A stops", "fail": {"companies": ["A社"]}, "days": 120}, wave=2025)
    bars = plot.scenario_days(r).data[0]
    assert list(bars.x) == [60] and list(bars.y) == ["P1"]
    db = tmp_path / "plan.duckdb"
    chain_return = write_csv_return(tmp_path / "chain2", timed_return(CHAIN))
    assert main(["--db", str(db), "-q", "ingest", str(chain_return)]) == 0
    assert main(["--db", str(db), "plan", "load", str(folder)]) == 0
    assert main(["--db", str(db), "plan", "review", "SMP-1"]) == 0
    out = capsys.readouterr().out
    assert "loaded 1 plans" in out and "Plan SMP-1 (PR社, program P1, ¥100,000,000)" in out
    assert main(["--db", str(db), "plan", "rank"]) == 0
    assert "SMP-1" in capsys.readouterr().out
    sc.plan.load_plans(con, folder)
    review = sc.plan.review(con, "SMP-1", wave=2025)
    fig = plot.plan_before_after(review)
    assert [t.name for t in fig.data] == ["without the plan", "with the plan"]
    assert list(fig.data[0].y) == review.scenarios["days_before"].tolist()


# the capacity version: A and B each deliver half of x to the prime and of v to M; M makes w for the prime
SHARED = [
    ["P1", "PR", "A", "x", 0.5, 0, 10, "", 2, 100],
    ["P1", "PR", "B", "x", 0.5, 0, 10, "", 2, 100],
    ["P1", "M", "A", "v", 0.5, 0, 0, "", 2, 100],
    ["P1", "M", "B", "v", 0.5, 0, 0, "", 2, 100],
    ["P1", "PR", "M", "w", 1, 0, 20, "", 2, 50],
]


def shared_return(capacity_use_of_b):
    ret = timed_return([r[:9] for r in SHARED])
    ret["supply"] = [[*HEAD, "annual_value_jpy"], *SHARED]
    ret["status"] = [["company_ref", "capacity_use"], ["B", capacity_use_of_b]]
    return ret


@pytest.mark.parametrize(
    "capacity_use, days_lost",
    [
        # B has 200 a year of deliveries at 50 % use: 200 spare, enough for the 100 + 100 A no longer
        # delivers; the linear program agrees with the simple rule
        (0.5, 0),
        # at 80 % use B has 50 spare, less than either requirement lost: both are short. x: 2 months
        # to qualify (60.8 days) against a 60-day outage, 10 in stock: 50 days; v: M out 60 days,
        # then w (20 in stock): 40 days; the prime stops for the longer, 50 days
        (0.8, 50),
    ],
)
def test_capacity_linear_program_by_hand(con, tmp_path, capacity_use, days_lost):
    assert sc.ingest(con, write_csv_return(tmp_path / "shared", shared_return(capacity_use))).ok
    scenario = {"fail": {"companies": ["A社"]}, "days": 60}
    simple = sc.scenario.run(con, scenario, wave=2025, capacity="simple")
    lp = sc.scenario.run(con, scenario, wave=2025)
    assert simple.summary["program_days_lost"] == 0  # B still delivers both parts
    assert lp.summary["program_days_lost"] == pytest.approx(days_lost)
    assert lp.summary["capacity_shortfalls"] == (0 if days_lost == 0 else 2)  # B's links to PR (x) and M (v)


def test_capacity_shared_between_buyers(con, tmp_path):
    # at 60 % use B has 133 spare: one of the two requirements can be covered, not both
    assert sc.ingest(con, write_csv_return(tmp_path / "shared", shared_return(0.6))).ok
    lp = sc.scenario.run(con, {"fail": {"companies": ["A社"]}, "days": 60}, wave=2025)
    assert lp.summary["capacity_shortfalls"] == 1
    assert lp.summary["program_days_lost"] in (pytest.approx(50), pytest.approx(40))  # x short: 50; v short: 40


def test_synthetic_plans_are_valid_workbooks(sample_db, tmp_path):
    from supplychain.datasets import make_plans, write_plans
    from supplychain.plan import read_plans

    con, _ = sample_db
    plans, measures = make_plans(con, wave=2025, n_plans=8, random_state=1)
    assert len(plans) == 8 and set(measures["plan_id"]) == set(plans["plan_id"])
    # every plan's amount is the sum of its measures' costs
    assert (
        measures.groupby("plan_id")["cost_jpy"].sum().reindex(plans["plan_id"]).to_numpy() == plans["amount_jpy"].to_numpy()
    ).all()
    src = sc.risk.sourcing(con, wave=2025)
    single = set(zip(src.loc[src["classification"] != "multi", "buyer"], src.loc[src["classification"] != "multi", "part"]))
    on_parts = measures[measures["part"] != ""].merge(plans[["plan_id", "company"]], on="plan_id")
    assert all((c, p) in single for c, p in zip(on_parts["company"], on_parts["part"]))
    read_back, _ = read_plans(write_plans(tmp_path / "plans.xlsx", plans, measures))
    assert read_back["plan_id"].tolist() == plans["plan_id"].tolist()
    assert make_plans(con, wave=2025, n_plans=8, random_state=1)[1].equals(measures)  # reproducible


def test_plan_review_reads_the_register(con, chain, tmp_path):
    folder = write_plans(
        tmp_path / "plans",
        [["SMP-1", "PR社", "P1", "supply_chain_resilience", 1e8]],
        [
            ["SMP-1", "M1", "supply_chain_resilience", "stockpile", "x", "", 90, 40e6],
            ["SMP-1", "M2", "supply_chain_resilience", "add_supplier", "z", "", "", 60e6],
        ],
    )
    sc.plan.load_plans(con, folder)
    f = sc.risk.register(con, wave=2025)
    r = sc.plan.review(con, "SMP-1", wave=2025)
    got = r.findings.set_index("finding_id")
    assert set(got.index) <= set(f["finding_id"])  # the register's findings, by id
    by = {(a, c): b for a, c, b in zip(f["archetype"], f["company"], f["finding_id"])}
    # single sources of x and z at the plan's company: the stockpile and the second source
    single = f[(f["archetype"] == "sourcing") & (f["company"] == chain("PR"))].set_index("part")["finding_id"]
    assert got.loc[single["x"], "by"] == "M1" and got.loc[single["z"], "by"] == "M2"
    # chokepoints: D and A supply x and z to the plan's company; E supplies D, so it is untouched
    assert got.loc[by[("chokepoint", chain("D"))], "by"] == "M2"
    assert got.loc[by[("chokepoint", chain("A"))], "by"] == "M1"
    assert not got.loc[by[("chokepoint", chain("E"))], "addressed"]
    assert got.loc[by[("chokepoint", chain("E"))], "kind"] == "chokepoint (program)"
    # time-to-recover findings: impact 0.4 + 0.6 x REI, REI = days lost / the worst (D: 6 months - 10)
    ttr = f[f["archetype"] == "time_to_recover"].set_index("company")
    worst = 6 * DAYS_PER_MONTH - 10
    for who, days in (("D", worst), ("A", 60), ("E", 20)):
        assert ttr.loc[chain(who), "impact"] == pytest.approx(0.4 + 0.6 * days / worst, abs=1e-6), who
        assert ttr.loc[chain(who), "likelihood"] == 0.3
