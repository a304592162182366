"""End to end on the committed sample: the planted traps come out as they should."""

from supplychain.db import run
from supplychain.summary import database_summary


def test_sample_loads_with_the_planted_rejections(sample_db):
    con, res = sample_db
    statuses = {f.status for f in res.files}
    assert statuses <= {"loaded", "partial"}
    rej = res.rejected
    # each wave: one share written as a percent number, one unknown supplier_ref (refused)
    refused = rej[rej["action"] == "row_refused"]
    assert (refused["reason"].str.contains("fraction between 0 and 1")).sum() >= 4
    assert (refused["reason"].str.contains("has no row with company_ref = S9999")).sum() == 4
    dropped = rej[rej["action"] == "value_dropped"]
    assert (dropped["reason"].str.contains("check digit")).sum() == 4
    assert (dropped["value"] == "たぶん").sum() >= 2
    assert run(con, "SELECT count(*) FROM survey_wave").fetchone()[0] == 4


def test_sample_corrected_resubmission_replaced_the_first(sample_db):
    con, _ = sample_db
    rows = run(
        con, "SELECT file_name, status FROM ingest_log WHERE file_name LIKE 'DD-9-prime%' AND wave = 2025 ORDER BY submission_id"
    ).fetchall()
    assert rows == [("DD-9-prime.xlsx", "superseded"), ("DD-9-prime_corrected.xlsx", "partial")]
    # the wrong share (1.5) of the first file is not in the database
    assert run(con, "SELECT count(*) FROM supply WHERE share > 1").fetchone()[0] == 0


def test_sample_name_variants_resolve_to_one_company(sample_db):
    con, _ = sample_db
    # every company reported under a variant spelling without its number still got its number
    unresolved = run(
        con,
        """SELECT count(*) FROM company_report r JOIN company c USING (company_id)
           WHERE r.corporate_number IS NULL AND r.country = 'JP' AND c.corporate_number IS NULL
             AND r.name NOT LIKE '%精器%'""",
    ).fetchone()[0]
    assert unresolved == 0
    # the near-duplicate typo was queued for review, not merged
    pending = run(con, "SELECT name_a, name_b FROM entity_review WHERE status = 'pending'").fetchall()
    assert any(
        {a.replace("精器", "精機"), b.replace("精器", "精機")} == {a.replace("精器", "精機")} and a != b for a, b in pending
    )


def test_sample_summary_mentions_every_wave(sample_db):
    con, _ = sample_db
    text = database_summary(con)
    for w in (2022, 2023, 2024, 2025):
        assert str(w) in text
    assert "rows refused" in text
