"""What a database holds: its waves, its programs and how well the survey covers them (tables for
notebooks), and a plain-text summary (the end of ``make demo``)."""

from __future__ import annotations

import pandas as pd

from .db import run

__all__ = ["database_summary", "waves", "programs"]

_PER_WAVE = """
    SELECT w.wave, w.fiscal_year, w.reference_date,
           (SELECT count(*) FROM ingest_log l WHERE l.wave = w.wave AND l.status IN ('loaded', 'partial')) AS files,
           (SELECT count(*) FROM supply s WHERE s.wave = w.wave) AS links,
           (SELECT count(DISTINCT supplier_id) FROM supply s WHERE s.wave = w.wave) AS suppliers,
           (SELECT count(DISTINCT program_id) FROM supply s WHERE s.wave = w.wave) AS programs,
           (SELECT count(*) FROM company_status c WHERE c.wave = w.wave) AS statuses,
           (SELECT count(*) FROM withdrawal_event e WHERE e.wave = w.wave) AS withdrawals
    FROM survey_wave w ORDER BY w.wave"""


def waves(con) -> pd.DataFrame:
    """One row per survey wave: ``wave``, ``fiscal_year``, ``reference_date``, ``files``
    loaded, supply ``links``, ``suppliers``, ``programs``, ``statuses`` (business-condition
    rows) and ``withdrawals`` (withdrawal events reported).

    >>> from supplychain import connect
    >>> list(waves(connect()).columns)[:4]
    ['wave', 'fiscal_year', 'reference_date', 'files']
    """
    return run(con, _PER_WAVE).df()


def programs(con, *, wave: int) -> pd.DataFrame:
    """The programs of ``wave`` and how well the survey covers each, one row per program:
    ``program``, ``name``, ``category``, ``prime`` (its name), ``annual_value_jpy``,
    ``companies`` and ``links`` in its network, ``max_tier`` reported, then the coverage, each
    a fraction of the program's companies or links: ``responded`` (companies that sent a return
    of their own this wave), ``with_status`` (a business-condition row), ``with_cyber`` (a
    cyber self-assessment), ``share_reported`` (links whose share of the buyer's need is
    reported). How much of a program's need has a known country of origin is
    :func:`~supplychain.risk.foreign_exposure`'s (1 − its ``unknown`` exposure)."""
    from .graph import _check_wave

    wave = _check_wave(con, wave)
    return run(
        con,
        """WITH s AS (SELECT * FROM supply WHERE wave = ?),
           members AS (SELECT program_id, supplier_id AS company_id FROM s UNION SELECT program_id, buyer_id FROM s),
           responded AS (SELECT DISTINCT respondent_id AS company_id FROM ingest_log
                         WHERE wave = ? AND status IN ('loaded', 'partial') AND respondent_id IS NOT NULL),
           status AS (SELECT DISTINCT company_id FROM company_status WHERE wave = ?),
           cyber AS (SELECT DISTINCT company_id FROM cyber_assessment WHERE wave = ?),
           per_company AS (
               SELECT m.program_id, count(*) AS companies,
                      avg((r.company_id IS NOT NULL)::INT) AS responded,
                      avg((st.company_id IS NOT NULL)::INT) AS with_status,
                      avg((cy.company_id IS NOT NULL)::INT) AS with_cyber
               FROM members m LEFT JOIN responded r USING (company_id) LEFT JOIN status st USING (company_id)
                    LEFT JOIN cyber cy USING (company_id)
               GROUP BY m.program_id),
           per_link AS (
               SELECT s.program_id, count(*) AS links, max(reported_tier) AS max_tier,
                      avg((share IS NOT NULL)::INT) AS share_reported
               FROM s GROUP BY s.program_id)
           SELECT p.program_id AS program, p.name, p.category, c.name AS prime, p.annual_value_jpy,
                  pc.companies, pl.links, pl.max_tier, pc.responded, pc.with_status, pc.with_cyber,
                  pl.share_reported
           FROM per_company pc JOIN per_link pl USING (program_id) JOIN program p USING (program_id)
                LEFT JOIN company c ON c.company_id = p.prime_company_id
           ORDER BY program""",
        [wave] * 4,
    ).df()


def database_summary(con) -> str:
    """Waves, companies, programs, links, files and rejected rows with their reasons.

    >>> from supplychain import connect
    >>> print(database_summary(connect()).splitlines()[0])
    supplychain database: 0 waves
    """
    lines = []
    waves = run(con, "SELECT wave FROM survey_wave ORDER BY wave").fetchall()
    lines.append(f"supplychain database: {len(waves)} waves" + (f" ({', '.join(str(w) for (w,) in waves)})" if waves else ""))
    counts = run(
        con,
        """SELECT
        (SELECT count(*) FROM company), (SELECT count(*) FROM company WHERE corporate_number IS NULL),
        (SELECT count(*) FROM program), (SELECT count(*) FROM part),
        (SELECT count(*) FROM entity_review WHERE status = 'pending')""",
    ).fetchone()
    lines.append(f"  companies: {counts[0]:,} resolved ({counts[1]:,} without a corporate number)")
    lines.append(f"  programs: {counts[2]:,}   parts: {counts[3]:,}   entity pairs awaiting review: {counts[4]:,}")
    per_wave = run(con, f"SELECT wave, files, links, suppliers, programs, statuses, withdrawals FROM ({_PER_WAVE})").fetchall()
    if per_wave:
        lines.append("  wave   files   links   suppliers   programs   status rows   withdrawal events")
        for w, files, links, suppliers, programs, statuses, withdrawals in per_wave:
            lines.append(f"  {w:<6} {files:>5} {links:>7,} {suppliers:>11,} {programs:>10} {statuses:>13,} {withdrawals:>19}")
    log = run(con, "SELECT status, count(*) FROM ingest_log GROUP BY status ORDER BY status").fetchall()
    if log:
        lines.append("  files: " + ", ".join(f"{n} {s}" for s, n in log))
    reasons = run(
        con,
        """
        SELECT action, regexp_replace(reason, '[0-9]+', 'N', 'g') AS reason, count(*) AS n
        FROM rejected_row r JOIN ingest_log l USING (submission_id)
        WHERE l.status IN ('loaded', 'partial', 'refused')
        GROUP BY ALL ORDER BY n DESC, reason LIMIT 15""",
    ).fetchall()
    if reasons:
        total = run(
            con,
            """SELECT count(*), count(DISTINCT (r.submission_id, r.sheet, r.row)) FILTER (WHERE action = 'row_refused')
                           FROM rejected_row r JOIN ingest_log l USING (submission_id) WHERE l.status IN ('loaded', 'partial', 'refused')""",
        ).fetchone()
        lines.append(f"  rejected: {total[1]:,} rows refused, {total[0]:,} problems in all (`supplychain rejected` lists them):")
        for action, reason, n in reasons:
            lines.append(f"    {n:>5}  {action:<13} {reason}")
    return "\n".join(lines)
