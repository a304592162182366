"""Foreign ownership and control (DESIGN §5.4): who ultimately owns or controls each supplier.

Owners come from the ``ownership`` sheet. An owner is the same entity as a company of the
database when its corporate number matches, or else when its normalised name and country match
exactly one company; other owners (most foreign investors) are entities of their own, keyed by
country and normalised name. Owners that are companies have owners of their own, so holdings form
chains, which are rolled up:

* **controlled share** of an owner U in a company X: the votes in X held by U or by entities U
  controls, where control is a holding at or above ``ownership.control`` (50 % by default) and is
  transitive (U controls A, A controls B: U controls B and B's votes count as U's);
* **economic share**: the product of the shares along each chain of holdings, summed over chains
  (U holds 55 % of A, A 60 % of B: U's economic share of B is 33 %).

An owner's ``relation`` to a company is ``control`` when its controlled share reaches the control
threshold, ``significant_influence`` when the controlled share reaches ``significant_influence``
(10 %), and ``notifiable`` when either share reaches ``fefta_notification`` (1 %: the Foreign
Exchange and Foreign Trade Act asks prior notification of a foreign investor's acquisition of 1 %
or more of a listed company in designated sectors; for unlisted companies any acquisition is
notifiable). Thresholds come from the configuration (:mod:`supplychain.options`).

Cross-holdings (A holds B, B holds A) are followed once per chain: a chain never visits an
entity twice.
"""

from __future__ import annotations

from collections import defaultdict

import pandas as pd

from ..db import registered, run
from ..graph import _check_wave, _program_filter
from ..options import load_options
from .propagation import ARROW

__all__ = ["ownership_chains", "foreign_control"]

#: Longest chain of holdings followed.
MAX_DEPTH = 12


def _holdings(con, wave: int) -> tuple[pd.DataFrame, dict]:
    """(holdings: company_id, owner, share — one report per company: its own return first, then
    the latest —, entities: id -> (label, name, country))."""
    rows = run(
        con,
        """WITH o AS (
               SELECT o.*, coalesce(l.respondent_id = o.company_id, false) AS own
               FROM ownership o JOIN ingest_log l USING (submission_id) WHERE o.wave = ?),
           pick AS (  -- per company, one report: its own return first, then the latest
               SELECT company_id, arg_max(submission_id, (own, submission_id)) AS submission_id FROM o GROUP BY company_id),
           chosen AS (
               SELECT company_id, owner_name_normalized, owner_country, any_value(owner_name) AS owner_name,
                      any_value(owner_corporate_number) AS owner_corporate_number, sum(share) AS share
               FROM o JOIN pick USING (company_id, submission_id) GROUP BY ALL),
           by_number AS (SELECT corporate_number, any_value(company_id) AS company_id FROM company
                         WHERE corporate_number IS NOT NULL GROUP BY ALL),
           by_name AS (SELECT name_normalized, country, any_value(company_id) AS company_id FROM company
                       GROUP BY ALL HAVING count(*) = 1)
           SELECT c.company_id, c.owner_name, c.owner_name_normalized, c.owner_country, c.share,
                  coalesce(n.company_id, m.company_id) AS owner_company_id
           FROM chosen c
           LEFT JOIN by_number n ON n.corporate_number = c.owner_corporate_number
           LEFT JOIN by_name m ON m.name_normalized = c.owner_name_normalized AND m.country = c.owner_country
           ORDER BY c.company_id, c.owner_name_normalized, c.owner_country""",
        [wave],
    ).df()
    rows["owner"] = rows["owner_company_id"].where(
        rows["owner_company_id"].notna(), "owner:" + rows["owner_country"] + ":" + rows["owner_name_normalized"]
    )
    companies = set(rows["company_id"]) | set(rows["owner_company_id"].dropna())
    with registered(con, "_sc_ownership_ids", pd.DataFrame({"company_id": sorted(companies)}, dtype=object)) as wanted:
        info = run(  # a table joined: list_contains(?, id) costs rows × ids
            con,
            "SELECT company_id, coalesce(corporate_number, company_id), name, country FROM company"
            f" WHERE company_id IN (SELECT company_id FROM {wanted})",
        ).fetchall()
    entities = {cid: (label, name, country) for cid, label, name, country in info}
    for r in rows[rows["owner_company_id"].isna()].itertuples(index=False):
        entities.setdefault(r.owner, (r.owner_name, r.owner_name, r.owner_country))
    return rows[["company_id", "owner", "share"]], entities


def ownership_chains(con, *, wave: int, config=None) -> pd.DataFrame:
    """Every owner of every company with reported owners, up the chains of holdings: one row per
    (company, owner) whose controlled or economic share reaches the notification threshold.

    Columns: ``company`` (corporate number, else internal id), ``company_name``, ``owner`` (the
    company label when the owner is a company of the database, else its name as reported),
    ``owner_name``, ``owner_country``, ``owner_group`` (``domestic`` / ``concern`` / ``allied`` /
    ``other``), ``direct`` (a holding of its own, not through others), ``controlled_share``,
    ``economic_share``, ``relation`` (``control`` / ``significant_influence`` / ``notifiable``),
    ``path`` (owner → … → company: the chain of control, else the chain of the largest economic
    share) and ``country_lists``. Sorted by company, then controlled and economic share
    (descending), then owner.
    """
    wave = _check_wave(con, wave)
    options = load_options(config)
    holdings, entities = _holdings(con, wave)
    owners_of: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for company, owner, share in holdings.itertuples(index=False):
        owners_of[company].append((owner, float(share)))

    # each entity's controller: its largest holder, when that holding reaches control
    controller_of = {}
    for entity, owners in owners_of.items():
        owner, share = max(owners, key=lambda o: (o[1], o[0]))
        if share >= options.control:
            controller_of[entity] = owner

    rows = []
    for company in sorted(owners_of):
        controlled: dict[str, float] = defaultdict(float)
        control_path: dict[str, list[str]] = {}
        for owner, share in owners_of[company]:
            chain, at = [company, owner], owner
            while True:
                controlled[at] += share
                control_path.setdefault(at, list(chain))
                nxt = controller_of.get(at)
                if nxt is None or nxt in chain or len(chain) > MAX_DEPTH:
                    break
                chain.append(nxt)
                at = nxt
        economic: dict[str, float] = defaultdict(float)
        best_path: dict[str, tuple[float, list[str]]] = {}
        direct = {o for o, _ in owners_of[company]}
        stack = [(company, 1.0, [company])]
        while stack:
            entity, product, chain = stack.pop()
            for owner, share in owners_of.get(entity, []):
                if owner in chain or len(chain) > MAX_DEPTH:
                    continue
                p = product * share
                economic[owner] += p
                if owner not in best_path or p > best_path[owner][0]:
                    best_path[owner] = (p, [*chain, owner])
                stack.append((owner, p, [*chain, owner]))
        label, name, _ = entities.get(company, (company, None, None))
        for owner in sorted(set(controlled) | set(economic)):
            c, e = controlled.get(owner, 0.0), economic.get(owner, 0.0)
            if c >= options.control:
                relation = "control"
            elif c >= options.significant_influence:
                relation = "significant_influence"
            elif max(c, e) >= options.fefta_notification:
                relation = "notifiable"
            else:
                continue
            chain = control_path.get(owner) if c >= options.control else best_path.get(owner, (0, control_path.get(owner)))[1]
            o_label, o_name, o_country = entities.get(owner, (owner, owner, None))
            rows.append(
                {
                    "company": label,
                    "company_name": name,
                    "owner": o_label,
                    "owner_name": o_name,
                    "owner_country": o_country,
                    "owner_group": options.country_group(o_country),
                    "direct": owner in direct,
                    "controlled_share": round(c, 12),
                    "economic_share": round(e, 12),
                    "relation": relation,
                    "path": ARROW.join(str(entities.get(x, (x,))[0]) for x in reversed(chain)),
                }
            )
    cols = ["company", "company_name", "owner", "owner_name", "owner_country", "owner_group", "direct"]
    cols += ["controlled_share", "economic_share", "relation", "path"]
    out = pd.DataFrame(rows, columns=cols)
    out["country_lists"] = options.label
    out = out.sort_values(
        ["company", "controlled_share", "economic_share", "owner"],
        ascending=[True, False, False, True],
        kind="stable",
        ignore_index=True,
    )
    out.attrs["country_lists"] = options.label
    return out


def foreign_control(con, *, wave: int, program=None, config=None) -> pd.DataFrame:
    """Suppliers of designated equipment (companies in the supply network of ``wave``, or of the
    programs named) controlled, significantly influenced or notifiably held from abroad: the rows
    of :func:`ownership_chains` whose owner is foreign, with ``programs`` (the programs the
    company supplies, ``; ``-separated) and ``concern`` (the owner is in a country of concern).
    Sorted with countries of concern first, then by relation (control first), company, owner.
    """
    wave = _check_wave(con, wave)
    wanted = _program_filter(con, program)
    options = load_options(config)
    chains = ownership_chains(con, wave=wave, config=options)
    supplying = run(
        con,
        """SELECT coalesce(c.corporate_number, c.company_id) AS company, string_agg(DISTINCT s.program_id, '; ' ORDER BY s.program_id) AS programs
           FROM supply s JOIN company c ON c.company_id = s.supplier_id
           WHERE s.wave = ? AND (?::VARCHAR[] IS NULL OR list_contains(?::VARCHAR[], s.program_id))
           GROUP BY ALL""",
        [wave, wanted, wanted],
    ).df()
    out = chains[~chains["owner_group"].isin(["domestic"])].merge(supplying, on="company", how="inner")
    out["concern"] = out["owner_group"] == "concern"
    order = {"control": 0, "significant_influence": 1, "notifiable": 2}
    out = out.assign(_r=out["relation"].map(order)).sort_values(
        ["concern", "_r", "company", "owner"], ascending=[False, True, True, True], kind="stable", ignore_index=True
    )
    out = out.drop(columns="_r")
    out.attrs["country_lists"] = options.label
    return out
