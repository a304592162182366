"""Returns ingested together (one validation and one transaction per batch) give the database that
loading them one by one gives; a bad file in a batch fails alone."""

import pytest

import supplychain as sc
from supplychain.db import run
from supplychain.survey import load
from supplychain.survey import read as read_module
from supplychain.survey.resolve import review_queue

from .conftest import CN_A, CN_B, SAMPLE, basic_return, write_csv_return
from .test_resolve import _book

#: What a database holds, without the columns that record when or in which order things ran.
SNAPSHOT = {
    "company": "company_id, corporate_number, name, name_normalized, name_kana, name_en, country, prefecture_code,"
    " employees, is_sme, is_prime, parent_company_id, first_wave, last_wave",
    "company_report": "* EXCLUDE (submission_id)",
    "program": "*",
    "part": "*",
    "supply": "* EXCLUDE (submission_id)",
    "material_origin": "* EXCLUDE (submission_id)",
    "company_status": "* EXCLUDE (submission_id)",
    "cyber_assessment": "* EXCLUDE (submission_id)",
    "site": "* EXCLUDE (submission_id)",
    "ownership": "* EXCLUDE (submission_id)",
    "withdrawal_event": "* EXCLUDE (submission_id)",
    "entity_review": "review_id, key_a, key_b, company_id_a, company_id_b, name_a, name_b, score, status, first_wave",
    "ingest_log": "submission_id, wave, respondent_key, respondent_name, respondent_id, file_name, sha256, status,"
    " rows_loaded, rows_rejected, values_dropped, replaces_submission_id, superseded_by, extra_columns, message",
    "rejected_row": "* EXCLUDE (created_at)",
}


def snapshot(con) -> dict[str, list]:
    return {t: sorted(map(repr, run(con, f"SELECT {cols} FROM {t}").fetchall())) for t, cols in SNAPSHOT.items()}


@pytest.mark.parametrize("batch_rows", [None, 4000])
def test_sample_waves_loaded_in_batches_equal_loading_file_by_file(batch_rows):
    paths = [SAMPLE / "2022", SAMPLE / "2023"]
    one_by_one, batched = sc.connect(), sc.connect()
    a = sc.ingest(one_by_one, paths, batch_rows=1)
    # the default: the sample's 34k rows in a batch per wave; 4000: about nine batches, each validated
    # while the one before loads
    b = sc.ingest(batched, paths, **({"batch_rows": batch_rows} if batch_rows else {}))
    assert [f.status for f in a.files] == [f.status for f in b.files]
    assert a.loaded == b.loaded > 0
    sa, sb = snapshot(one_by_one), snapshot(batched)
    for table in SNAPSHOT:
        assert sa[table] == sb[table], table


@pytest.mark.parametrize("numbered_first", [True, False])
def test_spellings_of_one_firm_in_one_batch_become_one_company(con, tmp_path, numbered_first):
    spellings = ["山田精機株式会社", "(株)山田精機", "山田精機㈱", "株式会社　山田精機"]
    for i, name in enumerate(spellings):
        numbered = i == (0 if numbered_first else len(spellings) - 1)
        write_csv_return(tmp_path / f"r{i}", _book(f"回答者{i}", [(CN_B if numbered else "", name, "JP", "23")]))
    res = sc.ingest(con, tmp_path)
    assert [f.status for f in res.files] == ["loaded"] * 4
    ids = run(con, "SELECT DISTINCT company_id FROM company_report WHERE name LIKE '%山田精機%'").fetchall()
    assert len(ids) == 1
    assert run(con, "SELECT corporate_number FROM company WHERE company_id = ?", [ids[0][0]]).fetchone() == (CN_B,)
    assert review_queue(con).empty


def test_similar_names_in_one_batch_are_queued_once_earlier_file_first(con, tmp_path):
    write_csv_return(tmp_path / "a", _book("回答者A", [("", "東邦ミナト精機株式会社", "JP", "13")]))
    write_csv_return(tmp_path / "b", _book("回答者B", [("", "東邦ミナト精器株式会社", "JP", "13")]))
    sc.ingest(con, tmp_path)
    q = review_queue(con)
    assert list(q["name_a"]) == ["東邦ミナト精機株式会社"] and list(q["name_b"]) == ["東邦ミナト精器株式会社"]
    assert run(con, "SELECT count(*) FROM company WHERE name LIKE '東邦ミナト%'").fetchone()[0] == 2


def test_a_correction_in_the_same_batch_replaces_the_first_return(con, tmp_path):
    first = basic_return(wave=2025)
    second = basic_return(wave=2025)
    second["supply"] = second["supply"][:2]  # the corrected return drops a line
    write_csv_return(tmp_path / "1-first", first)
    write_csv_return(tmp_path / "2-second", second)
    res = sc.ingest(con, tmp_path)
    assert [f.status for f in res.files] == ["loaded", "loaded"]
    assert res.files[1].replaced_submission_id == res.files[0].submission_id
    assert run(con, "SELECT submission_id, count(*) FROM supply GROUP BY 1").fetchall() == [(res.files[1].submission_id, 1)]
    statuses = run(con, "SELECT status FROM ingest_log ORDER BY submission_id").fetchall()
    assert statuses == [("superseded",), ("loaded",)]


def test_the_same_content_twice_in_one_call_loads_once(con, tmp_path):
    write_csv_return(tmp_path / "a", basic_return())
    write_csv_return(tmp_path / "b", basic_return())
    res = sc.ingest(con, tmp_path)
    assert [f.status for f in res.files] == ["loaded", "unchanged"]
    assert run(con, "SELECT count(*) FROM supply").fetchone()[0] == 3


def test_a_file_that_cannot_be_loaded_fails_alone(con, tmp_path, monkeypatch):
    write_csv_return(tmp_path / "a", basic_return(respondent="回答者A", respondent_cn=""))
    poisoned = basic_return(respondent="回答者B", respondent_cn=CN_A)
    poisoned["companies"][3][2] = "毒物工業株式会社"
    write_csv_return(tmp_path / "b", poisoned)
    write_csv_return(tmp_path / "c", basic_return(respondent="回答者C", respondent_cn=""))
    resolve = load.start_resolving

    def fails_on_poison(con, companies, **kwargs):
        if run(con, f"SELECT count(*) FROM {companies} WHERE name = '毒物工業株式会社'").fetchone()[0]:
            raise RuntimeError("disk full (injected)")
        return resolve(con, companies, **kwargs)

    monkeypatch.setattr(load, "start_resolving", fails_on_poison)
    res = sc.ingest(con, tmp_path)
    assert [f.status for f in res.files] == ["loaded", "failed", "loaded"]
    assert "injected" in res.files[1].message
    assert run(con, "SELECT count(*) FROM company WHERE name LIKE '毒物%'").fetchone()[0] == 0
    assert run(con, "SELECT count(DISTINCT submission_id), count(*) FROM supply").fetchone() == (2, 6)


def test_an_error_validating_a_batch_raises_after_the_batches_before_it_loaded(con, tmp_path, monkeypatch):
    for name in ("a", "b", "c"):
        write_csv_return(tmp_path / name, basic_return(respondent=f"回答者{name}", respondent_cn=""))
    validate = load.validate_returns

    def fails_on_third(vcon, raws, **kwargs):
        if any(r.path.name == "c" for r in raws):
            raise RuntimeError("out of memory (injected)")
        return validate(vcon, raws, **kwargs)

    monkeypatch.setattr(load, "validate_returns", fails_on_third)
    with pytest.raises(RuntimeError, match="injected"):
        sc.ingest(con, tmp_path, batch_rows=1)  # a batch per file: c is validated while b loads
    logged = run(con, "SELECT file_name, status FROM ingest_log ORDER BY submission_id").fetchall()
    assert logged == [("a", "loaded"), ("b", "loaded")]
    assert run(con, "SELECT count(DISTINCT submission_id) FROM supply").fetchone()[0] == 2
    # nothing of the helper connection is left behind: the next ingest loads c
    monkeypatch.setattr(load, "validate_returns", validate)
    assert [f.status for f in sc.ingest(con, tmp_path).files] == ["unchanged", "unchanged", "loaded"]


def test_a_failure_while_the_names_are_searched_leaves_the_batch_out(con, tmp_path, monkeypatch):
    from supplychain.survey import resolve

    write_csv_return(tmp_path / "a", basic_return(respondent="回答者A", respondent_cn=""))
    search = resolve._similar_pairs

    def fails(new, *args):
        if new["name"].str.contains("株式会社").any():
            raise RuntimeError("search failed (injected)")
        return search(new, *args)

    monkeypatch.setattr(resolve, "_similar_pairs", fails)  # runs in the search thread, beside the inserts
    res = sc.ingest(con, tmp_path)
    assert [f.status for f in res.files] == ["failed"] and "injected" in res.files[0].message
    for table in ("company", "company_report", "supply", "ingest_log"):
        assert run(con, f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table


SETTINGS = "SELECT name, value FROM duckdb_settings() WHERE name IN ('threads', 'checkpoint_threshold', 'disabled_optimizers')"


@pytest.mark.parametrize("fail", [False, True])
def test_the_ingest_settings_apply_while_loading_and_are_given_back(con, tmp_path, monkeypatch, fail):
    import os

    write_csv_return(tmp_path / "a", basic_return(respondent="回答者A", respondent_cn=""))
    run(con, "SET threads = 2")
    run(con, "SET checkpoint_threshold = '20MB'")
    run(con, "SET disabled_optimizers = 'late_materialization'")
    before = dict(run(con, SETTINGS).fetchall())
    seen = {}
    loader = load._load

    def watching(con, group, resolver):
        seen.update(run(con, SETTINGS).fetchall())
        if fail:
            raise RuntimeError("injected")
        return loader(con, group, resolver)

    monkeypatch.setattr(load, "_load", watching)
    res = sc.ingest(con, tmp_path)
    assert [f.status for f in res.files] == ["failed" if fail else "loaded"]
    assert seen["threads"] == str(load.ingest_threads(2, os.cpu_count())) == ("1" if os.cpu_count() <= 3 else "2")
    assert seen["checkpoint_threshold"] == "953.6 MiB"  # load.CHECKPOINT_EVERY, 10⁹ bytes
    assert set(seen["disabled_optimizers"].split(",")) == {"late_materialization", "build_side_probe_side"}
    assert dict(run(con, SETTINGS).fetchall()) == before


def test_files_loaded_before_are_hashed_once_and_not_parsed(con, tmp_path, monkeypatch):
    for name in ("a", "b"):
        write_csv_return(tmp_path / name, basic_return(respondent=f"回答者{name}", respondent_cn=""))
    sc.ingest(con, tmp_path)
    write_csv_return(tmp_path / "c", basic_return(respondent="回答者c", respondent_cn=""))
    hashed, parsed = [], []
    sha, read = load.file_sha256, load.read_survey
    counting = lambda path, **kw: hashed.append(path.name) or sha(path, **kw)  # noqa: E731
    monkeypatch.setattr(load, "file_sha256", counting)
    monkeypatch.setattr(read_module, "file_sha256", counting)
    monkeypatch.setattr(load, "read_survey", lambda path, **kw: parsed.append(path.name) or read(path, **kw))
    res = sc.ingest(con, tmp_path)
    assert [f.status for f in res.files] == ["unchanged", "unchanged", "loaded"]
    assert sorted(hashed) == ["a", "b", "c"] and parsed == ["c"]
    # the hash the reader worked out is the one logged, and read_survey did not work it out again
    logged = run(con, "SELECT sha256 FROM ingest_log WHERE file_name = 'c'").fetchone()[0]
    assert logged == sha(tmp_path / "c")
