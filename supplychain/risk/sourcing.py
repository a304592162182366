"""Sole, single and multiple sourcing per (program, buyer, part) — DESIGN §5.1.

Definitions (US DoD, EO 13806 report, 2018):

* **sole source** — one supplier in use and no other capable source exists: no qualified
  alternative is known (``alternatives_qualified`` = 0, no other supplier reported for the
  part) and the part cannot be substituted (``substitutability`` = ``no``);
* **single source** — one supplier in use, though other sources exist or could be qualified
  (including when the survey does not say: a source is called *sole* only on the evidence);
* **multi** — two or more suppliers in use.

A supplier is *in use* when its share of the buyer's need is positive or not reported; a
supplier reported with share 0 is a qualified alternative not in use. (When every reported
supplier has share 0, all are taken as in use.)

Concentration is the Herfindahl–Hirschman index of the suppliers in use on the 0–10,000 scale,
``10,000 × Σ pᵢ²`` where pᵢ are their shares normalised to sum to 1 (30/30/20/20 → 2,600; one
supplier → 10,000). ``hhi_basis`` says what the pᵢ came from: ``share`` when every supplier in
use has one, else ``value`` (annual value of the link) when every one has a positive value,
else ``equal``.
"""

from __future__ import annotations

import pandas as pd

from ..db import run
from ..graph import _check_wave, _program_filter, links_sql

__all__ = ["sourcing"]


def sourcing(con, *, wave: int, program: str | list[str] | None = None) -> pd.DataFrame:
    """One row per (program, buyer, part) of ``wave``, sorted by program, buyer, part.

    Columns: ``program``, ``buyer``, ``buyer_name``, ``part``, ``part_name``, ``n_suppliers``
    (in use), ``suppliers`` and ``supplier_names`` (in use, ``; ``-separated, by share),
    ``n_reported``, ``alternatives_qualified`` (the largest number reported; null if none),
    ``substitutability`` (the most restrictive reported), ``classification`` (``sole`` /
    ``single`` / ``multi``), ``basis`` (why, in words), ``hhi``, ``hhi_basis``, ``value_jpy``
    (annual value of the part to the buyer), and ``sources`` (file:sheet:row of the links).
    ``buyer`` and suppliers are corporate numbers where known, else internal ids.
    """
    wave = _check_wave(con, wave)
    sql, params = links_sql(wave, _program_filter(con, program))
    return run(
        con,
        f"""
        WITH l AS ({sql}),
        u AS (
            SELECT *, CASE WHEN bool_or(share IS NULL OR share > 0) OVER r THEN (share IS NULL OR share > 0) ELSE true END AS in_use
            FROM l WINDOW r AS (PARTITION BY program_id, buyer_id, part_id)
        ),
        w AS (
            SELECT *,
                   count(*) FILTER (WHERE in_use) OVER r AS n_use,
                   count(share) FILTER (WHERE in_use) OVER r AS n_share,
                   sum(share) FILTER (WHERE in_use) OVER r AS sum_share,
                   count(*) FILTER (WHERE in_use AND annual_value_jpy > 0) OVER r AS n_value,
                   sum(annual_value_jpy) FILTER (WHERE in_use) OVER r AS sum_value
            FROM u WINDOW r AS (PARTITION BY program_id, buyer_id, part_id)
        ),
        p AS (
            SELECT *,
                   CASE WHEN n_share = n_use AND sum_share > 0 THEN 'share'
                        WHEN n_value = n_use THEN 'value' ELSE 'equal' END AS hhi_basis,
                   CASE WHEN NOT in_use THEN NULL
                        WHEN n_share = n_use AND sum_share > 0 THEN share / sum_share
                        WHEN n_value = n_use THEN annual_value_jpy / sum_value
                        ELSE 1.0 / n_use END AS p
            FROM w
        ),
        g AS (
            SELECT program_id, buyer_id, part_id,
                   any_value(part_name) AS part_name,
                   count(*) FILTER (WHERE in_use) AS n_suppliers,
                   count(*) AS n_reported,
                   string_agg(coalesce(c.corporate_number, supplier_id), '; ' ORDER BY p DESC, supplier_id)
                       FILTER (WHERE in_use) AS suppliers,
                   string_agg(c.name, '; ' ORDER BY p DESC, supplier_id) FILTER (WHERE in_use) AS supplier_names,
                   max(alternatives_qualified) AS alternatives_qualified,
                   CASE WHEN bool_or(substitutability = 'no') THEN 'no'
                        WHEN bool_or(substitutability = 'conditional') THEN 'conditional'
                        WHEN bool_or(substitutability = 'yes') THEN 'yes' END AS substitutability,
                   any_value(hhi_basis) AS hhi_basis,
                   round(10000 * sum(p * p), 1) AS hhi,
                   sum(annual_value_jpy) AS value_jpy,
                   string_agg(source_file || ':' || source_sheet || ':' || source_row, '; ' ORDER BY source_file, source_row) AS sources
            FROM p LEFT JOIN company c ON c.company_id = p.supplier_id
            GROUP BY program_id, buyer_id, part_id
        )
        SELECT g.program_id AS program, coalesce(b.corporate_number, g.buyer_id) AS buyer, b.name AS buyer_name,
               g.part_id AS part, g.part_name, n_suppliers, suppliers, supplier_names, n_reported, alternatives_qualified,
               substitutability,
               CASE WHEN n_suppliers >= 2 THEN 'multi'
                    WHEN n_reported = 1 AND alternatives_qualified = 0 AND substitutability = 'no' THEN 'sole'
                    ELSE 'single' END AS classification,
               CASE WHEN n_suppliers >= 2 THEN n_suppliers || ' suppliers in use'
                    WHEN n_reported = 1 AND alternatives_qualified = 0 AND substitutability = 'no'
                        THEN 'one supplier in use; no qualified alternative; cannot be substituted'
                    ELSE 'one supplier in use; ' || concat_ws('; ',
                        CASE WHEN n_reported > 1 THEN (n_reported - 1) || ' other supplier(s) reported with share 0' END,
                        CASE WHEN alternatives_qualified > 0 THEN alternatives_qualified || ' qualified alternative(s) known'
                             WHEN alternatives_qualified IS NULL THEN 'qualified alternatives not reported' END,
                        CASE WHEN substitutability IS NULL THEN 'substitutability not reported'
                             WHEN substitutability <> 'no' THEN 'substitutability ' || substitutability END)
               END AS basis,
               hhi, hhi_basis, value_jpy, sources
        FROM g LEFT JOIN company b ON b.company_id = g.buyer_id
        ORDER BY program, buyer, part""",
        params,
    ).df()
