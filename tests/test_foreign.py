"""Foreign dependency and export bans on hand-built networks, with answers worked out by hand."""

import numpy as np
import pandas as pd
import pytest

import supplychain as sc
from supplychain.exceptions import SupplyChainError
from supplychain.options import load_options

from .conftest import labels_by_ref, network_return, write_csv_return


def load(con, tmp_path, links, *, countries=None, origins=(), columns=None, **kwargs):
    """Ingest a hand-built network. ``countries`` maps ref -> country (default JP); ``origins``
    are material_origin rows (supplier ref, part, country, share); ``columns`` adds supply
    columns: name -> {(buyer, supplier, part): value}. Returns ref -> label."""
    ret = network_return(links, **kwargs)
    countries = countries or {}
    head = ret["companies"][0]
    for row in ret["companies"][1:]:
        code = countries.get(row[0], "JP")
        row[head.index("country")] = code
        if code != "JP":
            row[head.index("prefecture_code")] = ""
    for name, values in (columns or {}).items():
        ret["supply"][0].append(name)
        for row in ret["supply"][1:]:
            row.append(values.get((row[1], row[2], row[3]), ""))
    if origins:
        ret["material_origin"] = [["supplier_ref", "part", "origin_country", "share"], *[list(o) for o in origins]]
    res = sc.ingest(con, write_csv_return(tmp_path / "net", ret))
    assert res.ok, res.to_frame()
    return labels_by_ref(con)


# The prime PR needs an airframe from A (300 yen) and electronics from D in the US (100 yen): by
# value, 3/4 and 1/4 of its need. A (domestic) buys magnets 40 % from B in China and 60 % from C,
# a domestic firm whose magnet material is 50 % Australian and 25 % Chinese (the rest not
# reported, so unknown).
CHAIN = [
    ("P1", "PR", "A", "機体", 1, "", "", 300),
    ("P1", "PR", "D", "電子", 1, "", "", 100),
    ("P1", "A", "B", "磁石", 0.4),
    ("P1", "A", "C", "磁石", 0.6),
]
CHAIN_COUNTRIES = {"B": "CN", "D": "US"}
CHAIN_ORIGINS = [("C", "磁石", "AU", 0.5), ("C", "磁石", "CN", 0.25)]


@pytest.fixture
def chain(con, tmp_path):
    return load(con, tmp_path, CHAIN, countries=CHAIN_COUNTRIES, origins=CHAIN_ORIGINS)


def test_exposure_of_a_two_tier_chain_worked_by_hand(con, chain):
    out = sc.risk.foreign_exposure(con, wave=2025).set_index("country")
    # US: 1/4 at tier 1. CN: 3/4 × 0.4 through B (tier 2) + 3/4 × 0.6 × 0.25 through C's
    # material (tier 3) = 0.3 + 0.1125. AU: 3/4 × 0.6 × 0.5. Unknown: 3/4 × 0.6 × 0.25.
    expected = {"US": 0.25, "CN": 0.4125, "AU": 0.225, "unknown": 0.1125}
    assert out["exposure"].to_dict() == pytest.approx(expected)
    assert out["exposure"].sum() == pytest.approx(1.0)
    assert out.loc["CN", "first_tier"] == 2 and out.loc["AU", "first_tier"] == 3 and out.loc["US", "first_tier"] == 1
    assert out.loc["CN", "n_parts"] == 1 and out.loc["CN", "n_suppliers"] == 2
    assert (
        out.loc["CN", "country_group"] == "concern"
        and out.loc["US", "country_group"] == "allied"
        and out.loc["unknown", "country_group"] == "unknown"
    )
    assert out.loc["CN", "country_name"] == "中国"
    assert (out["country_lists"] == load_options().label).all()
    assert list(out.index) == ["CN", "US", "AU", "unknown"]  # by exposure, descending


def test_domestic_leaves_imports_and_cycles(con, tmp_path):
    # PR needs X from A and Y from E, no values: half each. A is a domestic firm with no inputs
    # reported but the link is flagged imported: unknown. E needs Z from F and V from G (half
    # each); F and E supply each other (a cycle: not traced, unknown); G is a domestic leaf.
    links = [
        ("P1", "PR", "A", "x"),
        ("P1", "PR", "E", "y"),
        ("P1", "E", "F", "z"),
        ("P1", "E", "G", "v"),
        ("P1", "F", "E", "w"),
    ]
    load(con, tmp_path, links, columns={"imported": {("PR", "A", "x"): "yes"}})
    out = sc.risk.foreign_exposure(con, wave=2025).set_index("country")
    assert out["exposure"].to_dict() == pytest.approx({"unknown": 0.75, "JP": 0.25})
    assert out.loc["JP", "first_tier"] == 2
    assert out.loc["unknown", "first_tier"] == 2  # imported at tier 1: the origin is tier 2


def test_shares_missing_split_by_value_then_equally(con, tmp_path):
    # No shares: X is split by value 3:1 between the US and China; Y has neither, so equally
    # between Germany and China. The prime's parts have no values: half each.
    links = [
        ("P1", "PR", "U", "x", "", "", "", 300),
        ("P1", "PR", "K", "x", "", "", "", 100),
        ("P1", "PR", "G", "y"),
        ("P1", "PR", "K", "y"),
    ]
    load(con, tmp_path, links, countries={"U": "US", "K": "CN", "G": "DE"})
    out = sc.risk.foreign_exposure(con, wave=2025).set_index("country")["exposure"].to_dict()
    assert out == pytest.approx({"US": 0.5 * 0.75, "CN": 0.5 * 0.25 + 0.5 * 0.5, "DE": 0.25})


def test_a_program_with_nothing_reported_is_all_unknown(con, tmp_path):
    load(con, tmp_path, [("P1", "PR", "A", "x")], primes={"P1": "PR", "P2": "Q"})
    out = sc.risk.foreign_exposure(con, wave=2025)
    p2 = out[out["program"] == "P2"]
    assert p2[["country", "exposure", "n_parts"]].values.tolist() == [["unknown", 1.0, 0]]
    assert p2["first_tier"].isna().all()


def test_country_lists_come_from_configuration(con, chain, tmp_path):
    site = tmp_path / "site.toml"
    site.write_text('name = "test site"\n[countries]\nconcern = ["US"]\nallied = ["AU"]\n', encoding="utf-8")
    out = sc.risk.foreign_exposure(con, wave=2025, config=site).set_index("country")
    assert out.loc["US", "country_group"] == "concern" and out.loc["CN", "country_group"] == "other"
    assert out["country_lists"].iloc[0] == f"{load_options().label} + test site"
    site.write_text('[countries]\nconcern = ["US"]\nallied = ["US"]\n', encoding="utf-8")
    with pytest.raises(SupplyChainError, match="both as countries of concern and as allied"):
        sc.risk.foreign_exposure(con, wave=2025, config=site)


def test_country_concentration_per_part_worked_by_hand(con, chain):
    out = sc.risk.country_concentration(con, wave=2025)
    pr = chain("PR")
    airframe = out[(out["buyer"] == pr) & (out["part"] == "機体")].iloc[0]
    # A's magnets: CN 0.4 + 0.6 × 0.25 = 0.55, AU 0.3, unknown 0.15; known 0.85
    assert airframe["hhi"] == pytest.approx(round(10000 * (0.55**2 + 0.3**2) / 0.85**2, 1))
    assert airframe["top_country"] == "CN" and airframe["top_share"] == pytest.approx(0.55 / 0.85)
    assert airframe["unknown_share"] == pytest.approx(0.15)
    assert airframe["foreign_share"] == pytest.approx(0.85) and airframe["concern_share"] == pytest.approx(0.55)
    assert airframe["countries"] == "CN 55%; AU 30%; unknown 15%"
    electronics = out[(out["buyer"] == pr) & (out["part"] == "電子")].iloc[0]
    assert electronics["hhi"] == 10000 and electronics["countries"] == "US 100%"
    magnets = out[out["part"] == "磁石"].iloc[0]
    assert magnets["hhi"] == airframe["hhi"] and magnets["buyer"] == chain("A")


def test_export_ban_on_one_of_two_sources_loses_nothing(con, chain):
    res = sc.scenario.export_ban(con, wave=2025, country="CN")
    assert res.links_stopped[["supplier", "buyer", "cause"]].values.tolist() == [[chain("B"), chain("A"), "exported from CN"]]
    assert res.parts_lost.empty and res.buyers_lost.empty and res.programs_lost.empty


def test_export_ban_on_a_sole_source_loses_the_chain_above_it(con, tmp_path):
    links = [("P1", "PR", "A", "機体", 1), ("P1", "PR", "D", "電子", 1), ("P1", "A", "B", "磁石", 1)]
    ref = load(con, tmp_path, links, countries={"B": "CN", "D": "US"}, programs={"P1": 5e9})
    res = sc.scenario.export_ban(con, wave=2025, country="CN")
    assert sorted(res.buyers_lost["company"]) == sorted([ref("A"), ref("PR")])
    assert res.programs_lost[["program", "annual_value_jpy", "path"]].values.tolist() == [
        ["P1", 5e9, f"CN → {ref('B')} → {ref('A')} → {ref('PR')}"]
    ]
    assert sorted(res.parts_lost["part"]) == ["機体", "磁石"]
    stopped = res.links_stopped.set_index("part")["cause"].to_dict()
    assert stopped == {"磁石": "exported from CN", "機体": "supplier failed"}
    assert res.summary["programs_lost"] == 1 and res.summary["program_value_lost"] == 5e9
    assert res.scenario == {"kind": "export_ban", "country": "CN", "parts": None, "config": load_options().label}
    # the US is not in this scenario: electronics still come
    assert sc.scenario.export_ban(con, wave=2025, country="US").summary["programs_lost"] == 1
    assert sc.scenario.export_ban(con, wave=2025, country="DE").summary["links_stopped"] == 0


def test_export_ban_stops_material_known_to_come_only_from_the_country(con, tmp_path):
    # A buys magnets from two domestic firms: C's material is all Chinese, E's half Chinese and
    # half not reported. A ban stops C's magnets only, so A keeps one source.
    links = [("P1", "PR", "A", "機体", 1), ("P1", "A", "C", "磁石", 0.5), ("P1", "A", "E", "磁石", 0.5)]
    ref = load(con, tmp_path, links, origins=[("C", "磁石", "CN", 1), ("E", "磁石", "CN", 0.5)])
    res = sc.scenario.export_ban(con, wave=2025, country="CN")
    assert res.links_stopped[["supplier", "cause"]].values.tolist() == [[ref("C"), "material only from CN"]]
    assert res.programs_lost.empty


def test_export_ban_of_some_parts_by_class_hs_code_or_name(con, tmp_path):
    links = [("P1", "PR", "A", "磁石", 1), ("P1", "PR", "B", "ねじ", 1)]
    hs = {("PR", "A", "磁石"): "8505.11", ("PR", "B", "ねじ"): "731815"}
    load(con, tmp_path, links, countries={"A": "CN", "B": "CN"}, columns={"hs_code": hs})
    for parts in (["magnets"], "8505", ["磁石"]):
        res = sc.scenario.export_ban(con, wave=2025, country="CN", parts=parts)
        assert res.links_stopped["part"].tolist() == ["磁石"], parts
    preset = {k: v for k, v in sc.scenario.PRESETS["rare_earths_and_magnets_from_cn"].items() if k not in ("kind", "description")}
    assert sc.scenario.export_ban(con, wave=2025, **preset).summary["programs_lost"] == 1
    with pytest.raises(SupplyChainError, match="material class"):
        sc.scenario.export_ban(con, wave=2025, country="CN", parts=["unobtainium"])
    with pytest.raises(SupplyChainError, match="alpha-2"):
        sc.scenario.export_ban(con, wave=2025, country="China")


def test_sample_exposures_sum_to_one_and_agree_with_the_part_mixes(sample_db):
    con, _ = sample_db
    wave = con.execute("SELECT max(wave) FROM survey_wave").fetchone()[0]
    net = sc.supply_network(con, wave=wave)
    out = sc.risk.foreign_exposure(con, wave=wave, network=net)
    assert np.allclose(out.groupby("program")["exposure"].sum(), 1.0)
    # second method: the prime's exposure is its parts' traced mixes weighted as its need is
    mixes = sc.risk.country_concentration(con, wave=wave, network=net)
    for program, prime in net.programs[["program_id", "prime_company_id"]].itertuples(index=False):
        label = net.companies.set_index("company_id").loc[prime, "label"]
        rows = mixes[(mixes["program"] == program) & (mixes["buyer"] == label)]
        assert len(rows) > 0
        expected = out[out["program"] == program].set_index("country")["exposure"]
        assert expected.loc["unknown"] == pytest.approx(_weighted_unknown(con, net, program, rows), rel=1e-9)


def _weighted_unknown(con, net, program, rows):
    """The prime's unknown share from its parts' mixes, weighted by value where every part has
    one, else equally (the rule of the module docstring)."""
    links = net.links[net.links["program"] == net.programs.index[net.programs["program_id"] == program][0]]
    prime_node = int(net.programs.loc[net.programs["program_id"] == program, "prime_node"].iloc[0])
    mine = links[net.link_buyer[links.index] == prime_node]
    value = mine.groupby("part")["annual_value_jpy"].sum(min_count=1)
    part_ids = net.part_ids(value.index.to_numpy())
    weights = (value / value.sum()) if (value > 0).all() else pd.Series(1 / len(value), index=value.index)
    by_part = rows.set_index("part_id")["unknown_share"]
    return float(sum(w * by_part.loc[p] for p, w in zip(part_ids, weights.to_numpy())))


def test_exposure_figures(con, chain):
    from supplychain import plot

    fe = sc.risk.foreign_exposure(con, wave=2025)
    fig = plot.exposure_by_country(fe)
    # one bar per country, concern first and unknown last, each bar the worked-out exposure
    assert [t.name.split()[0] for t in fig.data] == ["CN", "US", "AU", "unknown"]  # US, AU both allied
    assert {t.name.split()[0]: t.x[0] for t in fig.data} == pytest.approx(
        {"US": 0.25, "CN": 0.4125, "AU": 0.225, "unknown": 0.1125}
    )
    by_tier = sc.risk.exposure_by_tier(con, wave=2025)
    # CN enters at tier 2 through B (0.3) and at tier 3 through C's material (0.1125)
    cn = by_tier[by_tier["country"] == "CN"].set_index("tier")["exposure"].to_dict()
    assert cn == pytest.approx({2: 0.3, 3: 0.1125})
    sankey = plot.exposure_sankey(by_tier, "P1").data[0]
    labels = list(sankey.node.label)
    into_program = sum(v for t, v in zip(sankey.link.target, sankey.link.value) if labels[t] == "P1")
    assert into_program == pytest.approx(1.0)
    assert labels[:4] == ["CN", "US", "AU", "unknown"] and "tier 3" in labels
    with pytest.raises(ValueError, match="no exposure rows"):
        plot.exposure_sankey(by_tier, "P9")


def test_sample_exposure_agrees_with_a_linear_solve_per_country(sample_db):
    from supplychain.options import load_options
    from supplychain.risk.foreign import cached_trace, exposure_by_linear_solve

    con, _ = sample_db
    net = sc.supply_network(con, wave=2024)
    fe = sc.risk.foreign_exposure(con, wave=2024, network=net)
    tr = cached_trace(con, net, load_options())
    solved = exposure_by_linear_solve(tr)
    table = fe.pivot(index="program", columns="country", values="exposure").fillna(0.0)
    expected = pd.DataFrame(solved, index=net.programs["program_id"], columns=tr.countries)
    expected = expected.loc[:, (expected > 0).any()]
    assert sorted(table.columns) == sorted(expected.columns)
    np.testing.assert_allclose(table[expected.columns].to_numpy(), expected.to_numpy(), rtol=1e-9, atol=1e-12)


def test_origin_reports_are_chosen_scaled_and_completed_with_unknown():
    from supplychain.risk.foreign import _origin_table

    CN, US, DE, AU, JP, UNK = range(6)
    rows = [  # (key, report, country, share)
        (10, 1, CN, 0.5),
        (10, 1, US, 0.5),
        (10, 2, CN, 0.3),  # the later report of key 10 wins ...
        (10, 2, UNK, 0.2),  # ... and its missing half is added to its unknown row
        (5, 1, DE, 0.8),  # shares summing to 1.2 are scaled down
        (5, 1, AU, 0.4),
        (7, 3, JP, 0.6),  # 0.4 not reported: a new unknown row
    ]
    key, report, country, share = (np.array(c) for c in zip(*rows))
    keys, ptr, countries, shares = _origin_table(key, report, country, share.astype(float), UNK)
    got = {
        int(k): dict(zip(countries[ptr[i] : ptr[i + 1]].tolist(), shares[ptr[i] : ptr[i + 1]].tolist()))
        for i, k in enumerate(keys)
    }
    assert list(got) == [5, 7, 10]
    assert got[5] == pytest.approx({DE: 2 / 3, AU: 1 / 3})
    assert got[7] == pytest.approx({JP: 0.6, UNK: 0.4})
    assert got[10] == pytest.approx({CN: 0.3, UNK: 0.7})


def test_distinct_rows_groups_only_equal_rows():
    from supplychain.risk.foreign import _distinct_rows

    rows = [[1, 2], [1, 2], [2, 1], [], [1], [1, 2, 0], [], [7] * 20, [7] * 20]
    ptr = np.cumsum([0] + [len(r) for r in rows])
    code, first = _distinct_rows(ptr, np.array([v for r in rows for v in r], dtype=np.int64))
    same = {(i, j) for i in range(len(rows)) for j in range(len(rows)) if code[i] == code[j]}
    # equal short rows share a code; the two long rows (too long to pack) keep their own
    assert same == {(i, i) for i in range(len(rows))} | {(0, 1), (1, 0), (3, 6), (6, 3)}
    assert all(rows[first[code[i]]] == rows[i] for i in range(len(rows)))


def test_a_supplier_with_share_zero_is_an_alternative_not_in_use(con, tmp_path):
    # X: the US firm supplies all of it, the Chinese firm is qualified but not in use (share 0);
    # Y: both reported with share 0, so both are taken as in use, equally
    links = [("P1", "PR", "U", "x", 1), ("P1", "PR", "K", "x", 0), ("P1", "PR", "U", "y", 0), ("P1", "PR", "K", "y", 0)]
    load(con, tmp_path, links, countries={"U": "US", "K": "CN"})
    out = sc.risk.foreign_exposure(con, wave=2025).set_index("country")["exposure"].to_dict()
    assert out == pytest.approx({"US": 0.5 + 0.25, "CN": 0.25})
