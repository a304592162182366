"""A plain-text summary of what a database holds (the end of ``make demo``)."""

from __future__ import annotations

from .db import run

__all__ = ["database_summary"]


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
    per_wave = run(
        con,
        """
        SELECT w.wave,
               (SELECT count(*) FROM ingest_log l WHERE l.wave = w.wave AND l.status IN ('loaded', 'partial')) AS files,
               (SELECT count(*) FROM supply s WHERE s.wave = w.wave) AS links,
               (SELECT count(DISTINCT supplier_id) FROM supply s WHERE s.wave = w.wave) AS suppliers,
               (SELECT count(DISTINCT program_id) FROM supply s WHERE s.wave = w.wave) AS programs,
               (SELECT count(*) FROM company_status c WHERE c.wave = w.wave) AS statuses,
               (SELECT count(*) FROM withdrawal_event e WHERE e.wave = w.wave) AS withdrawals
        FROM survey_wave w ORDER BY w.wave""",
    ).fetchall()
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
