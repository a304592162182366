"""Economic Systemic Risk Index (ESRI) of every company — Diem, Borsos, Reisch, Kertész and
Thurner, "Quantifying firm-level economic systemic risk from nation-wide supply networks",
*Scientific Reports* 12:7719 (2022).

ESRI(r) is the share of the network's output that is lost, directly or through the cascade,
when firm r stops producing. It is defined on a firm-level network of yen flows, without the
program structure, and complements :func:`~supplychain.risk.criticality` (which asks what the
*programs* lose under the AND/OR rule).

**Mapping from the survey.** Link weight w(j→i) = ``annual_value_jpy`` of the wave's links
(deduplicated as in :func:`~supplychain.graph.links`), summed over programs for the same
ordered pair and part; links without a value are left out (their number is in
``ESRIResult.links_without_value``). A buyer's inputs are grouped by part; the part's type comes
from ``substitutability``: ``no`` = essential, ``conditional`` = non-essential, ``yes`` =
non-propagating (if programs disagree, the most restrictive; not reported = non-essential). The
*market* of a part is every seller of that part across the network — the same HS code where
one is given, else the same part — and plays the role of the paper's supplier sector.

**Strengths.** s_out(j) = all of j's sales, s_in(i) = all of i's purchases, every type
included. Within a group, a(j,i) = w(j→i) / (i's purchases of that part); for non-essential
links b(j,i) = w(j→i) / s_in(i).

**Scenario for firm r.** ψ(r) = 0, every other ψ = 1; every firm starts at h_d = h_u = 1; r
keeps its links and is forced to 0 in the first update.

**Market share**, recomputed every step from the current downstream levels: V(p) = Σ over
sellers l of part p of (l's sales of p) × h_d(l); σ(j,p) = min(1, (j's sales of p) / V(p)), and
1 when V = 0. (It is the seller's share of what its market can still deliver, not the buyer's
purchase share: a failed seller with small market share is easily replaced.)

**Downstream.** Essential loss of i in part p: L = Σ over its essential suppliers j of
a(j,i) σ(j,p) (1 − h_d(j)); non-essential loss N = Σ over its non-essential links of
b(j,i) σ(j,p) (1 − h_d(j)); h_d(i) ← min(1 − max over i's essential parts of L, 1 − N, ψ(i)).
Non-propagating links do nothing downstream.

**Upstream.** h_u(i) ← min(Σ over customers c of w(i→c)/s_out(i) × h_u(c), ψ(i)), over links
of every type; ψ(i) when i sells nothing.

The two cascades are separate (h_d reads only h_d and σ, h_u only h_u), updated
synchronously, until the largest change of any h_d or h_u in a step is ≤ 0.01.

**Index.** h = min(h_d, h_u); ESRI(r) = Σ_j s_out(j)(1 − h(j)) / Σ_j s_out(j) (r counts with
its full output; firms that sell nothing weigh 0).

**Computation.** One scenario per firm, in compiled code
(:func:`~supplychain.risk._kernels.esri_sweep`): each step pushes losses from the damaged firms
along their links only, so a scenario costs what its cascade touches rather than the whole
network; the result is the same as updating every firm at every step.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..db import run
from ..graph import _check_wave, _companies, _program_filter, _ptr, links_sql

__all__ = ["esri", "esri_links", "esri_of_links", "TOLERANCE"]

#: A cascade stops when no h_d or h_u changes by more than this in a step (Diem et al.).
TOLERANCE = 0.01
#: Safety bound on the steps of one cascade (each step moves damage one link further).
MAX_STEPS = 1000
_KIND = {"no": 0, "conditional": 1, "yes": 2}


def esri(con, *, wave: int, program=None, companies=None, tolerance: float = TOLERANCE) -> pd.DataFrame:
    """ESRI of every company of ``wave`` (or of the ``companies`` given, by label or id).

    Returns ``company``, ``company_name``, ``country``, ``esri`` (0–1), ``s_out`` (annual sales in
    the network, yen), ``steps`` (synchronous updates until the cascade settled) and ``rank``,
    sorted by ESRI descending, then company. ``program`` restricts the network to some programs.
    See the module docstring for the method.
    """
    links = esri_links(con, wave=wave, program=program)
    return esri_of_links(links, companies=companies, tolerance=tolerance, con=con)


def esri_links(con, *, wave: int, program=None) -> pd.DataFrame:
    """The firm-level link table of the mapping above: one row per (supplier, buyer, part) with
    its market, yen summed over programs (``w``) and the most restrictive substitutability."""
    wave = _check_wave(con, wave)
    sql, params = links_sql(wave, _program_filter(con, program))
    return run(
        con,
        f"""
        WITH l AS ({sql})
        SELECT l.supplier_id, l.buyer_id, l.part_id, coalesce(p.hs_code, 'part:' || l.part_id) AS market,
               sum(l.annual_value_jpy) AS w,
               CASE WHEN bool_or(l.substitutability = 'no') THEN 'no'
                    WHEN bool_or(l.substitutability = 'conditional' OR l.substitutability IS NULL) THEN 'conditional'
                    ELSE 'yes' END AS substitutability
        FROM l LEFT JOIN part p USING (part_id)
        GROUP BY ALL
        ORDER BY l.supplier_id, l.buyer_id, l.part_id""",
        params,
    ).df()


def esri_of_links(links: pd.DataFrame, *, companies=None, tolerance: float = TOLERANCE, con=None) -> pd.DataFrame:
    """ESRI on a link table: ``supplier_id``, ``buyer_id``, ``part_id``, ``market``, ``w`` (yen),
    ``substitutability`` — one row per ordered pair and part. With ``con``, company names and
    labels are looked up; without, the ids are the labels."""
    from ._kernels import esri_sweep

    valued = links[links["w"].notna() & (links["w"] > 0)].reset_index(drop=True)
    ids = pd.unique(pd.concat([links["supplier_id"], links["buyer_id"]], ignore_index=True))
    index = pd.Index(ids)
    n = len(ids)
    j = index.get_indexer(valued["supplier_id"]).astype(np.int64)
    i = index.get_indexer(valued["buyer_id"]).astype(np.int64)
    w = valued["w"].to_numpy(np.float64)
    kind = valued["substitutability"].map(_KIND).fillna(1).to_numpy(np.int64)
    s_out = np.bincount(j, weights=w, minlength=n)
    s_in = np.bincount(i, weights=w, minlength=n)
    # groups: (buyer, part); a = w / the buyer's purchases of the part
    part_codes, part_ids = pd.factorize(valued["part_id"])
    n_parts = max(len(part_ids), 1)
    groups, group = np.unique(i * n_parts + part_codes, return_inverse=True)
    group_total = np.bincount(group, weights=w, minlength=len(groups))
    group_buyer = groups // n_parts
    a = w / group_total[group]
    b = np.divide(w, s_in[i], out=np.zeros_like(w), where=s_in[i] > 0)
    # (seller, market) pairs: a seller's sales in the market, and the market's volume
    market_codes, markets = pd.factorize(valued["market"])
    n_markets = max(len(markets), 1)
    sms, sm = np.unique(j * n_markets + market_codes, return_inverse=True)
    sm_sales = np.bincount(sm, weights=w, minlength=len(sms))
    sm_firm = sms // n_markets
    sm_market = (sms % n_markets).astype(np.int64)
    market_volume = np.bincount(sm_market, weights=sm_sales, minlength=len(markets))
    out_order = np.argsort(j, kind="stable")
    in_order = np.argsort(i, kind="stable")
    in_share = np.divide(w, s_out[j], out=np.zeros_like(w), where=s_out[j] > 0)
    if companies is None:
        roots = np.arange(n, dtype=np.int64)
    else:
        wanted = [companies] if isinstance(companies, str) else list(companies)
        roots = _resolve_roots(con, index, wanted)
    esri_values, steps = esri_sweep(
        roots,
        n,
        _ptr(j, n),
        i[out_order],
        group[out_order].astype(np.int64),
        kind[out_order],
        a[out_order],
        b[out_order],
        sm[out_order].astype(np.int64),
        _ptr(i, n),
        j[in_order],
        in_share[in_order],
        group_buyer.astype(np.int64),
        sm_sales,
        sm_market,
        _ptr(sm_firm, n),
        np.argsort(sm_firm, kind="stable").astype(np.int64),
        market_volume,
        s_out,
        float(tolerance),
        MAX_STEPS,
    )
    root_ids = np.asarray(ids, dtype=object)[roots]
    if con is not None:
        info = _companies(con, root_ids)
        label, name, country = info["label"].to_numpy(object), info["name"].to_numpy(object), info["country"].to_numpy(object)
    else:
        label, name, country = root_ids, np.full(len(roots), None, object), np.full(len(roots), None, object)
    out = pd.DataFrame(
        {"company": label, "company_name": name, "country": country, "esri": esri_values, "s_out": s_out[roots], "steps": steps}
    )
    out = out.sort_values(["esri", "company"], ascending=[False, True], kind="stable", ignore_index=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    out.attrs["links_without_value"] = int(len(links) - len(valued))
    return out


def _resolve_roots(con, index: pd.Index, wanted: list) -> np.ndarray:
    from ..exceptions import SupplyChainError

    positions = index.get_indexer(wanted)
    if con is not None and (positions < 0).any():
        # labels (corporate numbers) as well as internal ids
        by_number = dict(
            run(con, "SELECT corporate_number, company_id FROM company WHERE corporate_number IS NOT NULL").fetchall()
        )
        positions = index.get_indexer([by_number.get(x, x) for x in wanted])
    if (positions < 0).any():
        missing = [x for x, p in zip(wanted, positions) if p < 0]
        raise SupplyChainError(f"companies not in the network of this wave: {missing[:10]}")
    return positions.astype(np.int64)
