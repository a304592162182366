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
import pyarrow as pa

from ..db import run
from ..graph import _check_wave, _program_filter, links_sql, program_batches

__all__ = ["sourcing"]


def sourcing(con, *, wave: int, program: str | list[str] | None = None) -> pd.DataFrame:
    """One row per (program, buyer, part) of ``wave``, sorted by program, buyer, part.

    Columns: ``program``, ``buyer``, ``buyer_name``, ``part`` (as reported), ``part_id`` (its
    normalised key), ``n_suppliers``
    (in use), ``suppliers`` and ``supplier_names`` (in use, ``; ``-separated, by share),
    ``n_reported``, ``alternatives_qualified`` (the largest number reported; null if none),
    ``substitutability`` (the most restrictive reported), ``classification`` (``sole`` /
    ``single`` / ``multi``), ``basis`` (why, in words), ``hhi``, ``hhi_basis``, ``value_jpy``
    (annual value of the part to the buyer), and ``sources`` (file:sheet:row of the links).
    ``buyer`` and suppliers are corporate numbers where known, else internal ids.

    Large waves are computed a few programs at a time (about :data:`BATCH_LINKS` links each), so
    the database's working memory stays bounded; the rows are the same.
    """
    wave = _check_wave(con, wave)
    wanted = _program_filter(con, program)
    batches = program_batches(con, wave, wanted, BATCH_LINKS)
    tables = [_sourcing_table(con, wave, batch) for batch in batches] or [_sourcing_table(con, wave, [])]
    return pa.concat_tables(tables).to_pandas()


#: Links per query of :func:`sourcing` (a batch holds whole programs, so it may be larger).
BATCH_LINKS = 300_000


def _sourcing_table(con, wave: int, programs: list[str]) -> pa.Table:
    sql, params = links_sql(wave, programs)

    # One aggregation per (program, buyer, part). The in-use set is the suppliers with a positive
    # or unreported share (``_p``) unless it is empty (every share 0: then all reported, ``_a``),
    # so the figures of the in-use set are aggregated both ways; shares count only when some
    # are in use. The HHI needs no second pass: with p = x / Σx, 10,000 Σ p² = 10,000 Σ x² / (Σ x)².
    used = "share IS NULL OR share > 0"
    in_use = f"FILTER (WHERE {used})"

    def both(expr: str, name: str) -> str:
        return f"{expr} {in_use} AS {name}_p, {expr} AS {name}_a"

    # ordered string_agg is slow in DuckDB: collect structs, sort the list, then format
    by_share = (
        "{'a': share IS NULL, 'b': -share, 'c': annual_value_jpy IS NULL, 'd': -annual_value_jpy, 'e': supplier,"
        f" 'n': supplier_name, 'u': {used}}}"
    )
    return run(
        con,
        f"""
        WITH l AS (
            SELECT l.*, coalesce(c.corporate_number, l.supplier_id) AS supplier, c.name AS supplier_name
            FROM ({sql}) l LEFT JOIN company c ON c.company_id = l.supplier_id
        ),
        g AS (
            SELECT program_id, buyer_id, part_id, any_value(part_name) AS part_name, count(*) AS n_reported,
                   {both("count(*)", "n")},
                   count(share) {in_use} AS n_share_p,
                   sum(share) {in_use} AS sum_share_p,
                   sum(share * share) {in_use} AS sq_share_p,
                   {both("count(CASE WHEN annual_value_jpy > 0 THEN 1 END)", "n_value")},
                   {both("sum(annual_value_jpy)", "sum_value")},
                   {both("sum(annual_value_jpy * annual_value_jpy)", "sq_value")},
                   list({by_share}) AS sup_a,  -- one list; the in-use suppliers are filtered from it
                   max(alternatives_qualified) AS alternatives_qualified,
                   CASE WHEN bool_or(substitutability = 'no') THEN 'no'
                        WHEN bool_or(substitutability = 'conditional') THEN 'conditional'
                        WHEN bool_or(substitutability = 'yes') THEN 'yes' END AS substitutability,
                   sum(annual_value_jpy) AS value_jpy,
                   list({{'f': source_file, 'r': source_row, 's': source_sheet}}) AS sources
            FROM l GROUP BY program_id, buyer_id, part_id
        ),
        u AS (  -- the in-use set
            SELECT *, n_p > 0 AS some_p,
                   CASE WHEN n_p > 0 THEN n_p ELSE n_a END AS n_suppliers,
                   list_sort(CASE WHEN n_p > 0 THEN list_filter(sup_a, lambda x: x.u) ELSE sup_a END) AS sup,
                   CASE WHEN n_p > 0 THEN n_value_p ELSE n_value_a END AS n_value,
                   CASE WHEN n_p > 0 THEN sum_value_p ELSE sum_value_a END AS sum_value,
                   CASE WHEN n_p > 0 THEN sq_value_p ELSE sq_value_a END AS sq_value
            FROM g
        ),
        h AS (
            SELECT *,
                   CASE WHEN some_p AND n_share_p = n_p AND sum_share_p > 0 THEN 'share'
                        WHEN n_value = n_suppliers THEN 'value' ELSE 'equal' END AS hhi_basis
            FROM u
        )
        SELECT h.program_id AS program, coalesce(b.corporate_number, h.buyer_id) AS buyer, b.name AS buyer_name,
               coalesce(h.part_name, h.part_id) AS part, h.part_id, n_suppliers,
               array_to_string(list_transform(sup, lambda x: x.e), '; ') AS suppliers,
               array_to_string(list_transform(sup, lambda x: x.n), '; ') AS supplier_names,
               n_reported, alternatives_qualified,
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
               round(CASE hhi_basis WHEN 'share' THEN 10000 * sq_share_p / (sum_share_p * sum_share_p)
                                    WHEN 'value' THEN 10000 * sq_value / (sum_value * sum_value)
                                    ELSE 10000.0 / n_suppliers END, 1) AS hhi,
               hhi_basis, value_jpy,
               array_to_string(list_transform(list_sort(sources), lambda x: x.f || ':' || x.s || ':' || x.r), '; ') AS sources
        FROM h LEFT JOIN company b ON b.company_id = h.buyer_id
        ORDER BY program, buyer, part_id""",
        params,
    ).arrow()
