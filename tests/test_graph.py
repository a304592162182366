"""The supply graph and the AND/OR analyses on hand-built networks with answers worked by hand."""

import itertools

import hypothesis.strategies as st
import networkx as nx
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings

import supplychain as sc
from supplychain.exceptions import SupplyChainError
from supplychain.graph import graph_from_frames, graph_to_frames, quality_findings, supply_network
from supplychain.risk.propagation import sweep

from .conftest import load_network

# The diamond: the prime PR needs part X from A or B (dual source) and part W from C. A needs
# Y from T alone; B needs Z from T alone. T is the hidden single point of failure of X.
DIAMOND = [
    ("P1", "PR", "A", "x", 0.5, "no", 0, 100),
    ("P1", "PR", "B", "x", 0.5, "no", 0, 100),
    ("P1", "PR", "C", "w", 1, "yes", 2, 50),
    ("P1", "A", "T", "y", 1, "no", 0, 30),
    ("P1", "B", "T", "z", 1, "no", 0, 20),
]


@pytest.fixture
def diamond(con, tmp_path):
    return load_network(con, tmp_path, DIAMOND, programs={"P1": 1000})


def test_graph_has_the_links_their_attributes_and_tiers(con, diamond):
    ref = diamond
    g = sc.build_graph(con, wave=2025)
    assert isinstance(g, nx.MultiDiGraph)
    assert g.number_of_nodes() == 5 and g.number_of_edges() == 5
    e = g.get_edge_data(ref("A"), ref("PR"))[("P1", "x")]
    assert (e["share"], e["substitutability"], e["annual_value_jpy"], e["source_sheet"]) == (0.5, "no", 100.0, "supply.csv")
    assert e["source_row"] == 2  # the first data row of the supply sheet
    tiers = {n: d["tier"] for n, d in g.nodes(data=True)}
    assert tiers == {ref("PR"): 0, ref("A"): 1, ref("B"): 1, ref("C"): 1, ref("T"): 2}
    assert g.nodes[ref("T")]["tiers"] == {"P1": 2}
    assert g.graph["findings"].empty


def test_graph_round_trips_through_frames(con, diamond):
    g = sc.build_graph(con, wave=2025)
    nodes, edges = graph_to_frames(g)
    assert len(nodes) == 5 and len(edges) == 5
    h = graph_from_frames(nodes, edges)
    assert sorted(h.nodes) == sorted(g.nodes)
    assert sorted(h.edges(keys=True)) == sorted(g.edges(keys=True))
    assert h.nodes[diamond("T")]["tiers"] == {"P1": 2}
    with pytest.raises(SupplyChainError, match="supplier"):
        graph_from_frames(nodes, edges.drop(columns=["supplier"]))


def test_unknown_wave_and_program_are_clear_errors(con, diamond):
    with pytest.raises(SupplyChainError, match=r"no survey wave 2019 .*2025"):
        sc.build_graph(con, wave=2019)
    with pytest.raises(SupplyChainError, match="unknown program"):
        sc.risk.sourcing(con, wave=2025, program="NOPE")


def test_sourcing_sole_single_multi_and_hhi(con, tmp_path):
    links = [
        # sole: one supplier, no qualified alternative, cannot be substituted
        ("P1", "PR", "A", "x", 1, "no", 0),
        # single: one supplier, but an alternative is qualified
        ("P1", "PR", "B", "y", 1, "no", 1),
        # single: one supplier, substitutable
        ("P1", "PR", "C", "z", 1, "yes", 0),
        # single: one in use, a second reported at share 0 (qualified, not in use)
        ("P1", "PR", "D", "v", 1, "no", 0),
        ("P1", "PR", "E", "v", 0, "no", 0),
        # multi 30/30/20/20 -> HHI 900+900+400+400 = 2600
        ("P1", "PR", "F", "m", 0.3, "conditional", 3),
        ("P1", "PR", "G", "m", 0.3, "conditional", 3),
        ("P1", "PR", "H", "m", 0.2, "conditional", 3),
        ("P1", "PR", "I", "m", 0.2, "conditional", 3),
        # single with nothing said about alternatives: not called sole without the evidence
        ("P1", "PR", "J", "n"),
        # every share 0: all reported are taken as in use (equal split: 5000)
        ("P1", "PR", "K", "k", 0, "yes", 1),
        ("P1", "PR", "L", "k", 0, "yes", 1),
    ]
    ref = load_network(con, tmp_path, links)
    s = sc.risk.sourcing(con, wave=2025).set_index("part")
    assert s["classification"].to_dict() == {
        "k": "multi",
        "m": "multi",
        "n": "single",
        "v": "single",
        "x": "sole",
        "y": "single",
        "z": "single",
    }
    assert s.loc["m", "hhi"] == 2600.0
    assert s.loc["x", "hhi"] == 10000.0 and s.loc["v", "hhi"] == 10000.0
    assert (s.loc["m", "n_suppliers"], s.loc["v", "n_suppliers"], s.loc["v", "n_reported"]) == (4, 1, 2)
    assert s.loc["v", "suppliers"] == ref("D")
    assert "share 0" in s.loc["v", "basis"] and "not reported" in s.loc["n", "basis"]
    assert s.loc["n", "hhi_basis"] == "equal"
    assert (s.loc["k", "n_suppliers"], s.loc["k", "hhi"], s.loc["k", "hhi_basis"]) == (2, 5000.0, "equal")
    assert s.loc["m", "suppliers"].split("; ")[:2] == sorted([ref("F"), ref("G")])  # largest shares first
    assert s.loc["x", "buyer"] == ref("PR")


def test_hhi_from_values_when_shares_are_missing(con, tmp_path):
    # values 300 and 100 -> shares .75 / .25 -> 5625 + 625 = 6250
    load_network(
        con, tmp_path, [("P1", "PR", "A", "Gear Box", "", "yes", 1, 300), ("P1", "PR", "B", "Gear Box", "", "yes", 1, 100)]
    )
    s = sc.risk.sourcing(con, wave=2025)
    assert (s.loc[0, "hhi"], s.loc[0, "hhi_basis"]) == (6250.0, "value")
    assert s.loc[0, "part"] == "Gear Box"  # as reported; part_id is the normalised key


def test_hidden_convergence_in_the_diamond(con, diamond):
    ref = diamond
    h = sc.risk.hidden_convergence(con, wave=2025)
    assert len(h) == 1
    row = h.iloc[0]
    assert (row["buyer"], row["part"], row["via_company"], row["n_suppliers"], row["direct"]) == (
        ref("PR"),
        "x",
        ref("T"),
        2,
        False,
    )
    assert sorted(row["paths"]) == sorted([[ref("T"), ref("A"), ref("PR")], [ref("T"), ref("B"), ref("PR")]])


def test_criticality_in_the_diamond(con, diamond):
    ref = diamond
    c = sc.risk.criticality(con, wave=2025).set_index("company")
    # T fails: A and B lose Y and Z, so PR loses X: 3 requirements, 3 buyers, the program
    t = c.loc[ref("T")]
    assert (t["parts_lost"], t["buyers_lost"], t["programs_lost"]) == (3, 3, 1)
    assert t["value_lost"] == 30 + 20 + 100 + 100  # T's deliveries, then A's and B's
    assert t["program_value_lost"] == 1000
    assert t["path"].split(" → ") == [ref("T"), ref("A"), ref("PR")] or t["path"].split(" → ") == [ref("T"), ref("B"), ref("PR")]
    # A alone fails: X still comes from B, nothing else is lost (OR)
    a = c.loc[ref("A")]
    assert (a["parts_lost"], a["buyers_lost"], a["programs_lost"], a["value_lost"]) == (0, 0, 0, 100)
    assert pd.isna(a["path"])
    # C alone fails: PR loses W and with it the program although X is fine (AND)
    cc = c.loc[ref("C")]
    assert (cc["parts_lost"], cc["buyers_lost"], cc["programs_lost"]) == (1, 1, 1)
    assert cc["path"] == f"{ref('C')} → {ref('PR')}"
    # the prime: its program stops, nothing upstream is lost
    pr = c.loc[ref("PR")]
    assert (pr["parts_lost"], pr["buyers_lost"], pr["programs_lost"]) == (0, 0, 1)
    assert list(c["rank"]) == list(range(1, 6))
    assert c.index[0] == ref("T")  # 1 program, then most buyers lost


def test_a_company_failing_in_one_program_still_delivers_in_another(con, tmp_path):
    links = [
        ("P1", "PR", "A", "x"),
        ("P1", "A", "T", "y"),  # A needs Y from T for program 1 only
        ("P2", "Q", "A", "x"),  # A's program-2 work needs nothing from T
    ]
    ref = load_network(con, tmp_path, links, primes={"P1": "PR", "P2": "Q"})
    c = sc.risk.criticality(con, wave=2025).set_index("company")
    assert (c.loc[ref("T"), "programs_lost"], c.loc[ref("T"), "buyers_lost"]) == (1, 2)  # A (in P1) and PR
    assert c.loc[ref("A"), "programs_lost"] == 2  # A itself fails in both


def test_cycles_are_reported_and_end(con, tmp_path):
    links = [
        ("P1", "PR", "A", "x", 1, "no", 0, "", 1),
        ("P1", "A", "B", "y", 1, "no", 0, "", 2),
        ("P1", "B", "A", "z", 1, "no", 0, "", 3),  # A and B supply each other; tier of A is 1, not 3
    ]
    ref = load_network(con, tmp_path, links)
    net = supply_network(con, wave=2025)
    f = quality_findings(net)
    assert sorted(f["kind"]) == ["cycle", "tier_disagreement"]
    cycle = f[f["kind"] == "cycle"].iloc[0]
    assert ref("A") in cycle["detail"] and ref("B") in cycle["detail"]
    tier = f[f["kind"] == "tier_disagreement"].iloc[0]
    assert (tier["company"], tier["source_row"]) == (ref("A"), 4)
    assert "reported tier 3" in tier["detail"] and "prime 1" in tier["detail"]
    c = sc.risk.criticality(con, wave=2025).set_index("company")
    assert (c.loc[ref("B"), "buyers_lost"], c.loc[ref("B"), "programs_lost"]) == (2, 1)  # A, then PR
    assert (c.loc[ref("A"), "buyers_lost"], c.loc[ref("A"), "programs_lost"]) == (2, 1)  # B and PR


def test_unreachable_companies_are_findings(con, tmp_path):
    ref = load_network(con, tmp_path, [("P1", "PR", "A", "x"), ("P1", "D", "E", "q")])
    f = quality_findings(supply_network(con, wave=2025))
    assert sorted(f.loc[f["kind"] == "unreachable", "company"]) == sorted([ref("D"), ref("E")])


# The sweep against a second method: a plain fixpoint over the whole network, per failed company.


def _naive(net, root):
    """Fail ``root`` and iterate the AND/OR rule to its fixpoint, the slow obvious way."""
    failed = set(net.company_node[net.company_ptr[root] : net.company_ptr[root + 1]].tolist())
    link_req = net.links["req"].to_numpy()
    suppliers = {r: set() for r in range(net.n_requirements)}
    for link, r in enumerate(link_req.tolist()):
        suppliers[r].add(int(net.link_supplier[link]))
    while True:
        lost = {r for r, s in suppliers.items() if s <= failed}
        now = failed | {int(net.req_buyer[r]) for r in lost}
        if now == failed:
            break
        failed = now
    companies = {int(net.node_company[n]) for n in failed} - {root}
    primes = set(net.programs["prime_node"].tolist())
    return len(lost), len(companies), len(failed & primes)


@st.composite
def networks(draw):
    n = draw(st.integers(2, 7))
    parts = ["p", "q"]
    links = draw(
        st.lists(
            st.tuples(st.sampled_from(["P1", "P2"]), st.integers(0, n - 1), st.integers(0, n - 1), st.sampled_from(parts)),
            min_size=1,
            max_size=14,
            unique=True,
        )
    )
    return [(p, f"N{b}", f"N{s}", part) for p, b, s, part in links]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(links=networks())
def test_sweep_agrees_with_a_fixpoint(links):
    con = sc.connect()
    try:
        ln = pd.DataFrame(links, columns=["program_id", "buyer_id", "supplier_id", "part_id"])
        for c in ("share", "annual_value_jpy", "reported_tier"):
            ln[c] = np.nan
        ln["part_name"] = ln["part_id"]
        programs = pd.DataFrame({"program_id": ["P1", "P2"], "prime_company_id": ["N0", "N1"], "annual_value_jpy": [1.0, 2.0]})
        from supplychain.graph import _network_from_links

        net = _network_from_links(con, 2025, ln, programs)
        s = sweep(net)
        for root in range(len(net.companies)):
            got = (s["parts_lost"][root], s["buyers_lost"][root], s["programs_lost"][root])
            assert got == _naive(net, root), (root, links)
    finally:
        con.close()


def test_sweep_on_the_sample_agrees_with_a_fixpoint(sample_db):
    con, _ = sample_db
    net = supply_network(con, wave=2025, program="SAM-5")
    s = sweep(net)
    rng = np.random.default_rng(7)
    for root in itertools.chain(rng.choice(len(net.companies), 25, replace=False), np.argsort(-s["buyers_lost"])[:5]):
        got = (s["parts_lost"][root], s["buyers_lost"][root], s["programs_lost"][root])
        assert got == _naive(net, int(root))


def test_tiers_agree_with_scipy_shortest_paths_on_the_sample(sample_db):
    from supplychain.graph import _tiers, _tiers_by_scipy

    con, _ = sample_db
    net = supply_network(con, wave=2025)
    tiers = _tiers(net)
    assert (tiers >= 0).sum() > 1000 and tiers.max() >= 4
    np.testing.assert_array_equal(tiers, _tiers_by_scipy(net))


# Figures and the score command on the diamond.


def test_network_figure_colours_links_by_sourcing_class(con, diamond):
    from supplychain import plot

    fig = plot.network(con, wave=2025, program="P1")
    traces = {t.name: t for t in fig.data}
    # y and z come from T alone with no alternative and no substitute: sole; w from C, which has
    # qualified alternatives: single; x from A or B: multi. Each link is 3 points (x0, x1, gap).
    assert len(traces["sole source"].x) == 2 * 3
    assert len(traces["single source"].x) == 1 * 3
    assert len(traces["multi source"].x) == 2 * 3
    company = traces["company"]
    assert sorted(company.x) == [0, 1, 1, 1, 2]  # tiers
    with pytest.raises(TypeError):
        plot.network(con, wave=2025, program=["P1"])


def test_tier_sunburst_sizes_companies_by_deliveries(con, diamond):
    from supplychain import plot

    fig = plot.tier_sunburst(con, wave=2025, program="P1")
    sb = fig.data[0]
    sizes = dict(zip(sb.labels, sb.values))
    assert sizes["T社"] == 50 and sizes["A社"] == 100 and sizes["C社"] == 50
    assert sorted(sb.labels[:3]) == sorted(["P1", "tier 1", "tier 2"])


def test_criticality_ranking_lists_the_top_companies(con, diamond):
    from supplychain import plot

    crit = sc.risk.criticality(con, wave=2025)
    fig = plot.criticality_ranking(crit, top=2)
    bar = fig.data[0]
    assert list(bar.x) == [int(crit.loc[1, "buyers_lost"]), int(crit.loc[0, "buyers_lost"])]  # largest at the top
    assert "T社" in bar.y[-1]


def test_score_command_stores_results_and_prints_chokepoints(tmp_path, capsys):
    from supplychain.cli import main

    from .conftest import network_return, write_csv_return

    db = tmp_path / "s.duckdb"
    folder = write_csv_return(tmp_path / "net", network_return(DIAMOND, programs={"P1": 1000}))
    assert main(["--db", str(db), "-q", "ingest", str(folder)]) == 0
    capsys.readouterr()
    assert main(["--db", str(db), "-q", "score", "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert "wave 2025: 4 (program, buyer, part) requirements — 2 sole, 1 single, 1 multi" in out
    assert "hidden convergence: 1 " in out
    first = out.split("chokepoints")[1].splitlines()[2]
    assert first.split()[0] == "1" and "T社" in first
    con = sc.connect(db, read_only=True)
    try:
        counts = {
            t: con.execute(f"SELECT count(*) FROM {t} WHERE wave = 2025").fetchone()[0]
            for t in ("sourcing", "criticality", "hidden_convergence", "esri", "graph_finding")
            + ("foreign_exposure", "country_concentration", "foreign_control", "early_warning")
        }
        # every firm of the diamond is domestic and reports no imports: all home production
        stored = con.execute("SELECT program, country, exposure, first_tier FROM foreign_exposure").fetchall()
    finally:
        con.close()
    assert counts == {
        "sourcing": 4,
        "criticality": 5,
        "hidden_convergence": 1,
        "esri": 5,
        "graph_finding": 0,
        "foreign_exposure": 1,
        "country_concentration": 4,
        "foreign_control": 0,
        "early_warning": 4,  # the four suppliers; one wave and no status: expert-rule points only
    }
    assert stored == [("P1", "JP", 1.0, 1)]
    assert "withdrawal early warning (expert rule (0 labelled withdrawals in earlier waves" in out
    assert "P1         domestic 100%  concern   0%  unknown   0%  largest abroad: -" in out
    # scoring again replaces, never duplicates
    assert main(["--db", str(db), "-q", "score", "--no-esri"]) == 0
    con = sc.connect(db, read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM criticality").fetchone()[0] == 5
    finally:
        con.close()


def test_a_link_reported_by_both_sides_is_one_link_with_the_buyers_figures(con, tmp_path):
    from .conftest import CN_A, CN_B, basic_return, write_csv_return

    buyer = basic_return()  # the prime (CN_A) reports buying 歯車 from 山田精機 (CN_B) at share 0.6
    supplier = basic_return(respondent="山田精機株式会社", respondent_cn=CN_B)
    supplier["supply"] = [supplier["supply"][0], ["P1", "S1", "S2", "歯車", "0.9", "yes", "1", "1"]]
    # the supplier's return is loaded last, so it is the latest submission; the buyer's still wins
    sc.ingest(con, write_csv_return(tmp_path / "buyer", buyer))
    sc.ingest(con, write_csv_return(tmp_path / "supplier", supplier))
    ln = sc.graph.links(con, wave=2025)
    gear = ln[ln["part_name"] == "歯車"]
    assert len(ln) == 3 and len(gear) == 2
    from_b = gear[
        gear["supplier_id"] == con.execute("SELECT company_id FROM company WHERE corporate_number = ?", [CN_B]).fetchone()[0]
    ]
    assert (from_b["share"].item(), from_b["n_reports"].item()) == (0.6, 2)
    assert from_b["source_file"].item() == "buyer"
    assert con.execute("SELECT count(*) FROM supply").fetchone()[0] == 4  # both reports are kept in the database
    assert CN_A in set(sc.risk.sourcing(con, wave=2025)["buyer"])


def test_hidden_convergence_finds_every_two_level_diamond_of_the_sample(sample_db):
    # A second method for the simplest case: a part with several suppliers, every one of which
    # buys some part from one and the same firm as its only supplier. Each such firm must be
    # reported as the part's converging company.
    con, _ = sample_db
    net = supply_network(con, wave=2025)
    deg = np.diff(net.req_ptr)
    req_of_link = net.links["req"].to_numpy()
    single = np.flatnonzero(deg[req_of_link] == 1)
    sole = pd.DataFrame({"node": net.req_buyer[req_of_link[single]], "x": net.link_supplier[single]})
    multi = np.flatnonzero(deg[req_of_link] >= 2)
    pairs = pd.DataFrame({"req": req_of_link[multi], "node": net.link_supplier[multi]}).merge(sole, on="node")
    per = pairs.groupby(["req", "x"])["node"].nunique().reset_index()
    diamonds = per[per["node"] == deg[per["req"].to_numpy()]]
    assert len(diamonds) > 10  # the sample plants them
    labels = net.node_labels()
    program = net.programs["program_id"].to_numpy(object)[net.node_program]
    expected = {
        (program[net.req_buyer[r]], labels[net.req_buyer[r]], net.part_ids(np.array([net.req_part[r]]))[0], labels[x])
        for r, x in zip(diamonds["req"].tolist(), diamonds["x"].tolist())
    }
    h = sc.risk.hidden_convergence(network=net)
    found = set(zip(h["program"], h["buyer"], h["part_id"], h["via_company"]))
    assert expected <= found


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 3),
            st.sampled_from([0.0, 1.5, 2.0, float("nan")]),
            st.integers(-(2**62), 2**62),
            st.text(alphabet="abcC0123456789→ ", min_size=1, max_size=6),
        ),
        max_size=40,
    )
)
def test_the_ranking_order_is_pandas_multi_key_sort(rows):
    """The criticality ranking's lexsort orders rows as pandas' stable multi-key sort does: keys
    descending with NaN last, integers beyond float precision exact, then the label ascending."""
    from supplychain.risk.propagation import descending_then_label

    frame = pd.DataFrame(rows, columns=["a", "b", "c", "label"]).astype(
        {"a": "int64", "b": "float64", "c": "int64", "label": object}
    )
    expected = frame.sort_values(["a", "b", "c", "label"], ascending=[False, False, False, True], kind="stable").index.tolist()
    got = descending_then_label([frame[k].to_numpy() for k in ("a", "b", "c")], frame["label"].to_numpy())
    assert got.tolist() == expected


def test_evidence_paths_are_joined_per_chain():
    from supplychain.risk.propagation import ARROW, join_paths

    labels = np.array(["P", "Q", "R", "S"], dtype=object)
    # rows: Q → R → S, nothing, P, nothing
    got = join_paths(labels, np.array([0, 3, 3, 4, 4]), np.array([1, 2, 3, 0]))
    assert got.tolist() == [f"Q{ARROW}R{ARROW}S", None, "P", None]
