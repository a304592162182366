"""The risk register: each archetype on hand-built companies with the finding and severity worked
out by hand from the rules of ``[register]`` in defaults.toml; triage that survives re-scoring
and the next wave; the diff between two hand-built waves; byte-identical output."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import supplychain as sc
from supplychain.cli import main
from supplychain.exceptions import SupplyChainError

from .conftest import labels_by_ref, network_return, write_csv_return

# P1 (prime PR): PR needs an engine (A alone: a sole source) and gears (B and C, half each, both
# in the Nankai Trough area); A needs titanium from D alone (single: an alternative exists).
LINKS = [
    ("P1", "PR", "A", "エンジン", "1", "no", "0"),
    ("P1", "PR", "B", "歯車", "0.5", "yes", "1"),
    ("P1", "PR", "C", "歯車", "0.5", "yes", "1"),
    ("P1", "A", "D", "チタン", "1", "yes", "1"),
]
STATUS_HEAD = [
    "company_ref",
    "defense_sales_share",
    "defense_margin",
    "order_trend",
    "equipment_age_years",
    "owner_age",
    "successor",
]
CYBER_HEAD = ["company_ref", "score", "max_score", "mfa", "monitoring", "vulnerability_scanning", "incident_drills"]
CYBER_HEAD += ["physical_access_control", "incidents_12m", "handles_protected_info"]
SITES_HEAD = ["site_ref", "company_ref", "country", "prefecture_code", "hazard_p30_strong", "nankai_zone"]


def wave_return(wave, *, status, cyber, sites):
    ret = network_return(LINKS, wave=wave)
    ret["status"] = [STATUS_HEAD, *status]
    ret["cyber"] = [CYBER_HEAD, *cyber]
    ret["sites"] = [SITES_HEAD, *sites]
    return ret


WAVE_1 = dict(
    status=[
        ["A", "0.2", "0.05", "stable", "45", "50", "decided"],  # aging: 0.6 * (45 - 15) / 30 = 0.6
        ["B", "0.2", "0.05", "stable", "10", "72", "none"],  # succession: 0.4 + 0.05 * 7 = 0.75
        ["C", "0.2", "0.05", "stable", "10", "68", "candidate"],  # (0.4 + 0.15) * 0.5 = 0.275
        ["D", "0.6", "-0.02", "decreasing", "10", "50", "decided"],  # financial: 0.2+0.3+0.15+0.1+0.1
    ],
    cyber=[
        ["A", "60", "100", "yes", "no", "yes", "no", "yes", "0", "yes"],  # 2 missing: 0.24 + 0.2 * 0.4
        ["B", "95", "100", "yes", "yes", "yes", "yes", "yes", "0", "no"],  # clean: no finding
        ["C", "90", "100", "yes", "yes", "yes", "yes", "yes", "1", "yes"],  # incident: 0.2 * 0.1 + 0.2
    ],
    sites=[
        ["B1", "B", "JP", "22", "0.7", "yes"],
        ["C1", "C", "JP", "23", "0.9", "yes"],  # Nankai: max(0.7, 0.9, nankai_p30 0.6) = 0.9
    ],
)
# the next wave: D recovers, B settles a successor, A meets every measure, B misses MFA,
# C has another incident and no MFA, C's site is re-assessed lower, C's owner is a year older
WAVE_2 = dict(
    status=[
        ["A", "0.2", "0.05", "stable", "45", "51", "decided"],
        ["B", "0.2", "0.05", "stable", "10", "73", "decided"],
        ["C", "0.2", "0.05", "stable", "10", "69", "candidate"],  # (0.4 + 0.2) * 0.5 = 0.3
        ["D", "0.6", "0.05", "stable", "10", "51", "decided"],
    ],
    cyber=[
        ["A", "90", "100", "yes", "yes", "yes", "yes", "yes", "0", "yes"],
        ["B", "95", "100", "no", "yes", "yes", "yes", "yes", "0", "no"],  # 0.12 + 0.2 * 0.05 = 0.13
        ["C", "90", "100", "no", "yes", "yes", "yes", "yes", "1", "yes"],  # 0.12 + 0.02 + 0.2 = 0.34
    ],
    sites=[
        ["B1", "B", "JP", "22", "0.7", "yes"],
        ["C1", "C", "JP", "23", "0.75", "yes"],  # max(0.7, 0.75, 0.6) = 0.75
    ],
)


@pytest.fixture
def two_waves(con, tmp_path):
    for wave, spec in ((2025, WAVE_1), (2026, WAVE_2)):
        res = sc.ingest(con, write_csv_return(tmp_path / f"w{wave}", wave_return(wave, **spec)))
        assert res.ok, res.rejected
    return con, labels_by_ref(con)


def _one(f: pd.DataFrame, archetype: str, company: str) -> pd.Series:
    rows = f[(f["archetype"] == archetype) & (f["company"] == company)]
    assert len(rows) == 1, rows
    return rows.iloc[0]


def test_each_archetype_on_hand_built_companies(two_waves):
    con, ref = two_waves
    f = sc.risk.register(con, wave=2025)
    # (archetype, company concerned, likelihood, impact, severity) worked out by hand:
    # A's failure stops P1 (it alone makes the engine), so does D's (A then lacks titanium);
    # B's or C's alone stops nothing (the other still makes gears): impact 0.1 (contained)
    expected = [
        ("sourcing", "PR", 0.6, 1.0, "critical"),  # sole source; the buyer is the prime
        ("sourcing", "A", 0.3, 1.0, "high"),  # single source; A failing stops P1
        ("hazard_concentration", "PR", 0.9, 1.0, "critical"),
        ("aging_facilities", "A", 0.6, 1.0, "critical"),
        ("succession", "B", 0.75, 0.1, "low"),
        ("succession", "C", 0.275, 0.1, "low"),
        ("financial", "D", 0.85, 1.0, "critical"),
        ("cyber", "A", 0.32, 1.0, "high"),
        ("cyber", "C", 0.22, 0.7, "medium"),  # protected information: impact at least 0.7
    ]
    for archetype, who, likelihood, impact, severity in expected:
        row = _one(f, archetype, ref(who))
        assert row["likelihood"] == pytest.approx(likelihood), (archetype, who)
        assert row["impact"] == pytest.approx(impact), (archetype, who)
        assert row["score"] == pytest.approx(likelihood * impact), (archetype, who)
        assert row["severity"] == severity, (archetype, who)
        assert row["status"] == "new" and row["first_wave"] == 2025
    assert f[f["archetype"] == "sourcing"].set_index("company").loc[ref("PR"), "kind"] == "sole"
    assert _one(f, "cyber", ref("A"))["measure_type"] == "cybersecurity"
    assert _one(f, "succession", ref("B"))["measure_type"] == "business_succession"
    assert _one(f, "aging_facilities", ref("A"))["measure_type"] == "manufacturing_efficiency"
    assert not ((f["archetype"] == "cyber") & (f["company"] == ref("B"))).any()  # every measure met
    # chokepoints: exactly the two companies whose failure alone stops P1
    assert sorted(f.loc[f["archetype"] == "chokepoint", "company"]) == sorted([ref("A"), ref("D")])
    # evidence carries the source row; the basis says why in words
    ev = json.loads(_one(f, "aging_facilities", ref("A"))["evidence"])
    assert ev["equipment_age_years"] == 45 and ev["source"] == "w2025:status.csv:2" and ev["wave"] == 2025
    assert "equipment 45 years old" in _one(f, "aging_facilities", ref("A"))["basis"]
    hz = json.loads(_one(f, "hazard_concentration", ref("PR"))["evidence"])
    assert hz["area"] == "Nankai Trough" and sorted(hz["suppliers"]) == sorted([ref("B"), ref("C")])
    # ids: the archetype's code, stable across waves; most severe first
    assert _one(f, "sourcing", ref("PR"))["finding_id"].startswith("SRC-")
    ranks = f["severity"].map({s: i for i, s in enumerate(sc.risk.registry.SEVERITIES)})
    assert ranks.is_monotonic_increasing


def test_triage_survives_rescoring_and_the_next_wave(two_waves):
    con, ref = two_waves
    f1 = sc.risk.register(con, wave=2025)
    aging = _one(f1, "aging_facilities", ref("A"))["finding_id"]
    single = _one(f1, "sourcing", ref("A"))["finding_id"]
    sc.risk.set_finding(con, aging, status="accepted", owner="調達課 佐藤", note="更新計画あり", user="sato")
    sc.risk.set_finding(con, single, status="closed", note="second source qualified", user="sato")
    again = sc.risk.register(con, wave=2025)  # re-scoring keeps the triage
    row = again.set_index("finding_id").loc[aging]
    assert (row["status"], row["owner"], row["triaged_by"]) == ("accepted", "調達課 佐藤", "sato")
    assert row["notes"].endswith("sato: 更新計画あり")
    f2 = sc.risk.register(con, wave=2026)
    nxt = f2.set_index("finding_id")
    assert nxt.loc[aging, "status"] == "accepted" and nxt.loc[aging, "owner"] == "調達課 佐藤"
    assert nxt.loc[aging, "first_wave"] == 2025
    assert nxt.loc[single, "status"] == "open" and "reopened" in nxt.loc[single, "notes"]  # closed, but back
    seen = nxt[nxt["first_wave"] == 2025]
    assert set(seen["status"]) <= {"open", "accepted"}  # 'new' once seen becomes 'open'
    assert (nxt.loc[nxt["first_wave"] == 2026, "status"] == "new").all()
    history = sc.risk.finding_history(con, single)
    assert list(history["action"]) == ["finding_set", "finding_reopened"]
    assert json.loads(history["detail"].iloc[0])["status"] == ["new", "closed"]
    with pytest.raises(SupplyChainError, match="status must be one of"):
        sc.risk.set_finding(con, aging, status="done")
    with pytest.raises(SupplyChainError, match="no finding"):
        sc.risk.set_finding(con, "SRC-000000000000", status="open")


def test_diff_between_two_hand_built_waves(two_waves):
    con, ref = two_waves
    f1 = sc.risk.register(con, wave=2025)
    f2 = sc.risk.register(con, wave=2026)
    d = sc.risk.diff(con, 2025, 2026).set_index("finding_id")
    ids = {
        (a, c): i
        for a, c, i in zip(pd.concat([f1, f2])["archetype"], pd.concat([f1, f2])["company"], pd.concat([f1, f2])["finding_id"])
    }
    expected = {
        ids[("financial", ref("D"))]: "resolved",  # margin back to 5 %, orders stable
        ids[("succession", ref("B"))]: "resolved",  # successor decided
        ids[("cyber", ref("A"))]: "resolved",  # every measure met
        ids[("cyber", ref("B"))]: "new",  # MFA dropped: 0.13 x 0.1
        ids[("cyber", ref("C"))]: "worse",  # 0.154 -> 0.238, same band, +0.084 >= 0.05
        ids[("hazard_concentration", ref("PR"))]: "better",  # 0.9 -> 0.75, still critical
        ids[("succession", ref("C"))]: "unchanged",  # 0.0275 -> 0.03: within the tolerance
    }
    for fid, change in expected.items():
        assert d.loc[fid, "change"] == change, (fid, d.loc[fid].to_dict())
    others = d.drop(index=list(expected))
    assert (others["change"] == "unchanged").all(), others[others["change"] != "unchanged"]
    assert d.loc[ids[("cyber", ref("C"))], "score_b"] == pytest.approx(0.34 * 0.7)


def test_register_is_byte_identical_and_filters(two_waves, tmp_path):
    con, ref = two_waves
    a = sc.risk.register(con, wave=2025, store=False)
    b = sc.risk.register(con, wave=2025, store=False)
    assert a.to_csv(index=False) == b.to_csv(index=False)
    sc.risk.register(con, wave=2025)
    high = sc.risk.findings(con, wave=2025, min_severity="high")
    assert set(high["severity"]) <= {"critical", "high"} and len(high) > 0
    assert len(sc.risk.findings(con, wave=2025, program="P1")) == len(sc.risk.findings(con, wave=2025)) - len(
        sc.risk.findings(con, wave=2025).query("programs.isna()")
    )
    assert sc.risk.findings(con, wave=2025, program="NOPE").empty
    with pytest.raises(SupplyChainError, match="no risk register stored for wave 2026"):
        sc.risk.findings(con, wave=2026)


def test_settings_change_the_rules(two_waves, tmp_path):
    con, ref = two_waves
    site = tmp_path / "site.toml"
    site.write_text('name = "strict site"\n[register]\naging_years = 50\nsole_source = 0.9\n', encoding="utf-8")
    f = sc.risk.register(con, wave=2025, store=False, config=site)
    assert not (f["archetype"] == "aging_facilities").any()
    assert _one(f, "sourcing", ref("PR"))["likelihood"] == pytest.approx(0.9)
    assert "strict site" in _one(f, "sourcing", ref("PR"))["rule_version"]
    site.write_text("[register]\nsole_sourse = 0.9\n", encoding="utf-8")
    with pytest.raises(SupplyChainError, match="unknown register setting"):
        sc.risk.register(con, wave=2025, store=False, config=site)


def test_cli_findings_and_triage(two_waves, tmp_path, capsys):
    con, ref = two_waves
    db = tmp_path / "x.duckdb"
    con.execute(f"ATTACH '{db}' AS x; COPY FROM DATABASE memory TO x; DETACH x")
    assert main(["--db", str(db), "-q", "score", "--wave", "2025", "--no-esri"]) == 0
    out = capsys.readouterr().out
    assert "risk register:" in out
    assert main(["--db", str(db), "findings", "--min-severity", "critical", "--program", "P1", "--top", "0"]) == 0
    out = capsys.readouterr().out
    assert "critical" in out and " low " not in out
    fid = next(line.split()[0] for line in out.splitlines() if line.startswith("AGE-"))
    assert (
        main(["--db", str(db), "finding", "set", fid, "--status", "accepted", "--note", "renewal planned", "--user", "tanaka"])
        == 0
    )
    capsys.readouterr()
    assert main(["--db", str(db), "finding", "show", fid]) == 0
    out = capsys.readouterr().out
    assert "status accepted" in out and "tanaka: renewal planned" in out and "finding_set" in out
    assert main(["--db", str(db), "-q", "score", "--wave", "2026", "--no-esri"]) == 0
    capsys.readouterr()
    assert main(["--db", str(db), "findings", "--since", "2025"]) == 0
    out = capsys.readouterr().out
    assert "changes from wave 2025 to 2026" in out and "resolved" in out


def test_a_register_of_the_keyed_release_is_kept_on_upgrade(tmp_path):
    from supplychain.survey.schema import ddl

    path = tmp_path / "old.duckdb"
    con = sc.connect(path)
    con.execute("DROP TABLE finding")
    made = next(s for s in ddl() if s.startswith('CREATE TABLE IF NOT EXISTS "finding"'))
    con.execute(made.replace("\n)", ",\n  PRIMARY KEY (finding_id, wave)\n)"))
    con.execute(
        """INSERT INTO finding (finding_id, wave, archetype, kind, subject, subject_key, title, likelihood, impact, score,
                                severity, basis, evidence, rule_version, status, owner, first_wave)
           VALUES ('CYB-1', 2025, 'cyber', 'assessment', 's', 'k', 't', 0.5, 0.2, 0.1, 'medium', 'b', '{}', 'r',
                   'accepted', '調達課', 2025)"""
    )
    con.close()
    con = sc.connect(path)
    assert con.execute("SELECT finding_id, status, owner FROM finding").fetchall() == [("CYB-1", "accepted", "調達課")]
    keys = "SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'finding' AND constraint_type = 'PRIMARY KEY'"
    assert con.execute(keys).fetchone()[0] == 0
    con.close()


def test_data_quality_findings_by_hand(con, tmp_path):
    from .conftest import CN_A, CN_B, basic_return

    # wave 2025, from the prime (CN_A): S3's gears of unknown origin (0.4 of the gears, a third
    # of the program's need with titanium and springs: 13 % unknown); the titanium link reported
    # at tier 2 (it is tier 1); springs from 東邦ミナト精機 in Tokyo
    first = basic_return(wave=2025)
    first["supply"][3][7] = "2"
    first["companies"].append(["S5", "", "東邦ミナト精機株式会社", "JP", "13", ""])
    first["supply"].append(["P1", "S1", "S5", "ばね", "1", "yes", "1", "1"])
    first["material_origin"] = [["supplier_ref", "part", "origin_country", "share"], ["S3", "歯車", "unknown", "1"]]
    assert sc.ingest(con, write_csv_return(tmp_path / "a", first)).ok
    # wave 2026: only 山田精機 (CN_B) answers; the prime is still in its network; it names
    # 東邦ミナト精器 (one character apart: the review queue, never merged silently)
    second = {
        "respondent": [["wave", "respondent_corporate_number", "respondent_name"], [2026, CN_B, "山田精機株式会社"]],
        "companies": [
            ["company_ref", "corporate_number", "name", "country", "prefecture_code", "is_prime"],
            ["B", CN_B, "山田精機株式会社", "JP", "23", ""],
            ["PR", CN_A, "株式会社テスト重工", "JP", "13", "yes"],
            ["T", "", "東邦ミナト精器株式会社", "JP", "13", ""],
        ],
        "programs": [["program", "name", "category", "prime_ref"], ["P1", "試験装備", "tank", "PR"]],
        "supply": [
            ["program", "buyer_ref", "supplier_ref", "part", "share"],
            ["P1", "PR", "B", "歯車", "1"],
            ["P1", "B", "T", "ばね", "1"],
        ],
    }
    assert sc.ingest(con, write_csv_return(tmp_path / "b", second)).ok
    f1 = sc.risk.register(con, wave=2025)
    dq = f1[f1["archetype"] == "data_quality"].set_index("kind")
    assert sorted(dq.index) == ["tier_disagreement", "unknown_origin"]
    assert dq.loc["unknown_origin", "title"].startswith("Data quality (unknown origin): 13% of the program's traced need")
    assert (dq.loc["unknown_origin", "impact"], dq.loc["unknown_origin", "severity"]) == (0.4, "medium")  # 0.3 x 0.4
    tier = dq.loc["tier_disagreement"]
    assert "reported tier 2, shortest distance to the prime 1" in tier["title"] and tier["severity"] == "low"  # 0.3 x 0.1
    assert json.loads(tier["evidence"])["source"] == "a:supply.csv:4"
    f2 = sc.risk.register(con, wave=2026)
    dq2 = f2[f2["archetype"] == "data_quality"].set_index("kind")
    assert sorted(dq2.index) == ["entity_review", "non_response"]
    gone = dq2.loc["non_response"]
    # the prime answered wave 2025 and sent nothing for 2026: its failure stops P1, impact 1
    assert gone["company"] == CN_A and "answered wave 2025 (a) but sent no return for wave 2026" in gone["title"]
    assert (gone["likelihood"], gone["impact"], gone["severity"]) == (0.3, 1.0, "high")
    assert "東邦ミナト精機株式会社 and 東邦ミナト精器株式会社 may be the same company" in dq2.loc["entity_review", "title"]


def test_foreign_dependency_and_control_findings_by_hand(con, tmp_path):
    # P1's prime needs magnets from X (in CN) alone and bolts from Y (domestic) alone: half its
    # need is Chinese, and a ban on exports from CN stops the program
    ret = network_return([("P1", "PR", "X", "磁石", "1"), ("P1", "PR", "Y", "ボルト", "1")], foreign=("X",))
    ret["companies"] = [[*row[:3], "CN" if row[0] == "X" else row[3], *row[4:]] for row in ret["companies"]]
    # Y is 60 % held by an investor in CN: control by an owner in a country of concern
    ret["ownership"] = [["company_ref", "owner_name", "owner_country", "share"], ["Y", "Dragon Capital", "CN", "0.6"]]
    assert sc.ingest(con, write_csv_return(tmp_path / "f", ret)).ok
    ref = labels_by_ref(con)
    f = sc.risk.register(con, wave=2025)
    fd = f[f["archetype"] == "foreign_dependency"].set_index("kind")
    program = fd.loc["program"]
    assert program["subject_key"] == "P1|CN" and "takes 50.0% of its need from" in program["title"]
    assert (program["likelihood"], program["impact"], program["severity"]) == (0.5, 1.0, "critical")
    assert json.loads(program["evidence"])["export_ban_stops_program"] is True
    part = fd.loc["part"]  # the magnets are 100 % Chinese: 0.5 x 1.0; the buyer is the prime
    assert part["company"] == ref("PR") and (part["likelihood"], part["impact"]) == (0.5, 1.0)
    fc = _one(f, "foreign_control", ref("Y"))
    # control (0.6) by an owner of concern; Y alone makes the bolts the prime needs: impact 1
    assert (fc["kind"], fc["likelihood"], fc["impact"], fc["severity"]) == ("control", 0.6, 1.0, "critical")


def test_evidence_is_strict_json_on_the_sample(sample_db):
    con, _ = sample_db
    wave = con.execute("SELECT max(wave) FROM survey_wave").fetchone()[0]
    f = sc.risk.register(con, wave=wave, store=False)

    def refuse(name):  # NaN, Infinity: not JSON, whatever Python's json accepts
        raise ValueError(f"{name} in evidence")

    for text in f["evidence"]:
        assert json.loads(text, parse_constant=refuse)["wave"] == wave
    assert set(f["archetype"]) >= {"sourcing", "chokepoint", "cyber", "hazard_concentration", "withdrawal", "data_quality"}
