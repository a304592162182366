"""The audit trail: every action appends one hash-chained entry; an edited, deleted, reordered or
truncated journal is detected; concurrent writers never interleave."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
from pathlib import Path

import pytest

import supplychain as sc
from supplychain import audit
from supplychain.cli import main
from supplychain.exceptions import SupplyChainError
from supplychain.risk.score import score

from .conftest import basic_return, write_csv_return

FIELDS = ("seq", "at", "user", "action", "target", "parameters", "inputs", "outputs", "prev")


def _by_hand(entry: dict) -> str:
    """The entry's hash worked out from the documented rule, independently of the module."""
    body = {k: entry[k] for k in FIELDS}
    return hashlib.sha256(json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _three(tmp_path) -> Path:
    j = tmp_path / "db.audit.jsonl"
    audit.record(j, "ingest", "2025/a.xlsx", parameters={"wave": 2025}, inputs={"a.xlsx": "ab" * 32}, user="佐藤")
    audit.record(j, "score", "wave 2025", outputs={"finding": {"rows": 12}}, user="佐藤")
    audit.record(j, "report", "reports/x", user="scheduler")
    return j


def _lines(j: Path) -> list[dict]:
    return [json.loads(line) for line in j.read_text("utf-8").splitlines()]


def test_entries_chain_by_the_documented_rule(tmp_path):
    j = _three(tmp_path)
    entries = _lines(j)
    assert [e["seq"] for e in entries] == [1, 2, 3]
    assert entries[0]["prev"] == "0" * 64
    for before, e in zip([None, *entries], entries, strict=False):
        assert e["hash"] == _by_hand(e)
        if before:
            assert e["prev"] == before["hash"]
    res = audit.verify(j)
    assert res.ok and res.entries == 3 and res.head["seq"] == 3
    assert audit.head(j) == {"seq": 3, "hash": entries[2]["hash"]}


@pytest.mark.parametrize(
    "tamper, expected",
    [
        ("edit", "line 2: entry #2 does not match its hash"),
        ("delete", "line 2: entry #3 follows #1"),
        ("swap", "line 2: entry #3 follows #1"),
        ("garbage", "line 2: not a JSON entry"),
        ("rehash", "line 3: entry #3 does not chain"),  # an edit whose own hash was recomputed
    ],
)
def test_tampering_is_detected(tmp_path, tamper, expected):
    j = _three(tmp_path)
    lines = j.read_text("utf-8").splitlines()
    if tamper == "edit":
        lines[1] = lines[1].replace('"rows": 12', '"rows": 13')
    elif tamper == "delete":
        del lines[1]
    elif tamper == "swap":
        lines[1], lines[2] = lines[2], lines[1]
    elif tamper == "garbage":
        lines[1] = lines[1][:40]
    elif tamper == "rehash":
        e = json.loads(lines[1])
        e["user"] = "someone else"
        e["hash"] = _by_hand(e)
        lines[1] = json.dumps(e, ensure_ascii=False, sort_keys=True)
    j.write_text("\n".join(lines) + "\n", "utf-8")
    res = audit.verify(j)
    assert not res.ok
    assert any(expected in line for line in str(res).splitlines()), str(res)


def test_entries_deleted_from_the_end_are_found_by_an_anchor(tmp_path):
    j = _three(tmp_path)
    anchors = tmp_path / "anchors.txt"
    audit.anchor(j, anchors)
    assert audit.verify(j, anchors=anchors).ok
    lines = j.read_text("utf-8").splitlines()
    j.write_text("\n".join(lines[:2]) + "\n", "utf-8")
    assert audit.verify(j).ok  # a shorter chain is still a chain ...
    res = audit.verify(j, anchors=anchors)  # ... but not the anchored one
    assert not res.ok and "anchored entry #3" in str(res) and "missing" in str(res)
    with pytest.raises(SupplyChainError, match="does not verify"):
        j.write_text("\n".join(lines[:1] + lines[2:]) + "\n", "utf-8")
        audit.anchor(j, anchors)


def _writer(path: str, who: str, n: int) -> None:
    for i in range(n):
        audit.record(path, "export", f"{who}-{i}", user=who)


def test_concurrent_writers_never_break_the_chain(tmp_path):
    j = str(tmp_path / "db.audit.jsonl")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(j, f"p{k}", 40)) for k in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    res = audit.verify(j)
    assert res.ok and res.entries == 120
    assert sorted(e["target"] for e in _lines(Path(j))) == sorted(f"p{k}-{i}" for k in range(3) for i in range(40))


def test_every_action_is_recorded_with_its_hashes(tmp_path, monkeypatch):
    """Ingest, score, triage, scenario save and run, export and report on a tiny database (the
    model fit: tests/test_withdrawal_model.py): one entry each, with the input file's and the outputs' SHA-256."""
    monkeypatch.setenv(audit.USER_ENV, "監査テスト")
    db = tmp_path / "t.duckdb"
    ret = write_csv_return(tmp_path / "ret", basic_return())
    con = sc.connect(db)
    sc.ingest(con, ret)
    sc.ingest(con, ret)  # the same file again: recorded as unchanged
    score(con, wave=2025, with_esri=False)
    fid = con.execute("SELECT finding_id FROM finding ORDER BY finding_id LIMIT 1").fetchone()[0]
    sc.risk.set_finding(con, fid, status="open", note="確認中")
    sc.scenario.save(con, {"name": "s1", "fail": {"countries": ["US"]}})
    sc.scenario.run(con, "s1", wave=2025)
    con.close()
    csv = tmp_path / "f.csv"
    assert main(["--db", str(db), "-q", "findings", "--csv", str(csv)]) == 0
    with sc.connect(db, read_only=True) as ro:
        rep = sc.report.build(ro, out=tmp_path / "r", formats="html", marking="unmarked")
    entries = _lines(tmp_path / "t.audit.jsonl")
    actions = [e["action"] for e in entries]
    assert actions == ["ingest", "ingest", "score", "finding_set", "scenario_saved", "scenario_run", "export", "report"]
    assert {e["user"] for e in entries} == {"監査テスト"}
    first, again = entries[0], entries[1]
    assert first["inputs"] == {str(ret): audit.digest(ret)}
    assert first["outputs"][str(ret)]["status"] == "loaded"
    assert again["outputs"][str(ret)]["status"] == "unchanged"
    assert entries[2]["outputs"]["finding"]["rows"] > 0
    assert entries[6]["outputs"] == {str(csv): hashlib.sha256(csv.read_bytes()).hexdigest()}
    html = rep.files["html"]
    assert entries[7]["outputs"] == {html.name: hashlib.sha256(html.read_bytes()).hexdigest()}
    with sc.connect(db, read_only=True) as ro:  # a ranking is one entry, whatever it runs
        sc.plan.ranking(ro, wave=2025)
    assert [e["action"] for e in _lines(tmp_path / "t.audit.jsonl")][8:] == ["plan_ranking"]
    # the report's manifest carries the head of the journal as it was before the report
    assert rep.manifest["audit_head"] == {"seq": 7, "hash": entries[6]["hash"]}
    # the report ran scenarios of its own: parts of its entry, not entries
    assert actions.count("scenario_run") == 1
    assert audit.verify(db).ok
    # CLI: show and verify
    assert main(["--db", str(db), "audit", "verify"]) == 0
    assert main(["--db", str(db), "audit", "show", "--action", "export"]) == 0
    lines = (tmp_path / "t.audit.jsonl").read_text("utf-8").splitlines()
    (tmp_path / "t.audit.jsonl").write_text("\n".join(lines[:3] + lines[4:]) + "\n", "utf-8")
    assert main(["--db", str(db), "audit", "verify"]) == 1


def test_no_journal_for_an_in_memory_database():
    con = sc.connect()
    assert audit.record(con, "export", "x") is None
    with pytest.raises(SupplyChainError, match="in-memory"):
        audit.verify(con)


@pytest.mark.parametrize(
    "content, last",
    [
        (b"", None),
        (b"a\n", b"a"),
        (b"a\nbb", b"bb"),
        (b"a\n" + b"y" * 150_000 + b"\n\n", b"y" * 150_000),  # a line longer than two blocks, blank lines after
        (b"q\n" + b"z" * 65_536 + b"\n", b"z" * 65_536),  # a line of exactly one block
    ],
)
def test_the_last_line_is_found_whatever_its_length(tmp_path, content, last):
    import os

    path = tmp_path / "j.jsonl"
    path.write_bytes(content)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert audit._last_line(fd) == last
    finally:
        os.close(fd)
