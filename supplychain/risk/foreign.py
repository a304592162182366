"""Foreign dependency (DESIGN §5.4): which countries each program depends on, through every tier.

The model
---------
Each program's need (1 at its prime) flows down the supply network, supplier-ward:

* a buyer's need is split over the parts it reports for the program by their annual value (the
  sum over the part's links) when every part has one, else equally;
* a part's need is split over its suppliers in use (as in :func:`~supplychain.risk.sourcing`: a
  positive or unreported share; share 0 is an alternative not in use) by share when every
  supplier in use has one, else by annual value when every one has a positive value, else
  equally;
* what reaches a link then enters a country, or flows on:

  - a supplier located abroad passes it to its country (at the supplier's tier);
  - a domestic supplier with ``material_origin`` rows for the part passes it to the origin
    countries by their shares (at the tier below the supplier); shares that sum to less than 1
    leave the rest ``unknown``, shares that sum to more are scaled down;
  - a domestic supplier that reports parts of its own in the program passes it on to its inputs,
    by the same rules;
  - a domestic supplier with none of these is domestic production (the home country) — unless
    the link is flagged ``imported``, which makes it ``unknown`` (at the tier below);
  - a supplier without a country, and a link inside a supply cycle (which the data-quality
    findings report), are ``unknown``.

So the exposures of a program sum to 1 across countries, the home country and ``unknown``
included; nothing is dropped. The pass is one topological sweep in compiled code over all
programs at once (each node of the network belongs to one program), not a loop per program.

Countries are grouped (``domestic``, ``concern``, ``allied``, ``other``, ``unknown``) by the
lists of :mod:`supplychain.options`; every output names the configuration it used
(``country_lists``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy.sparse import csgraph

from ..db import run, temp_table
from ..graph import SupplyNetwork, _arrow, _csr_rows, _positions
from ..options import UNKNOWN, Options, load_options
from .propagation import _network

__all__ = ["foreign_exposure", "exposure_by_tier", "country_concentration", "exposure_by_linear_solve"]

# what a link does with the need that reaches it
ORIGIN, LOCATED, PROPAGATES, HOME, UNTRACED = 0, 1, 2, 3, 4


#: Material origins of a wave as the network's integer codes (tables _sc_tr_companies,
#: _sc_tr_parts, _sc_tr_countries: id -> ix), each row ranked by the report it comes from
#: (``report``: the supplier's own return above any other, then the latest submission); one
#: report per (supplier, part) is chosen on the codes afterwards (:func:`_origin_table`),
#: faster than grouping strings.
ORIGINS_CODED_SQL = """
    SELECT c.ix AS company, p.ix AS part, k.ix AS country, m.share,
           coalesce(l.respondent_id = m.supplier_id, false)::BIGINT * 4294967296 + m.submission_id AS report
    FROM material_origin m
    JOIN ingest_log l USING (submission_id)
    JOIN _sc_tr_companies c ON c.id = m.supplier_id
    JOIN _sc_tr_parts p ON p.id = m.part_id
    JOIN _sc_tr_countries k ON k.id = m.origin_country
    WHERE m.wave = ?"""


@dataclass
class Trace:
    """How need flows through one network (see the module docstring); shared by the exposure,
    the concentration and the export-ban scenario."""

    net: SupplyNetwork
    countries: np.ndarray  # country codes; index = country code used below; UNKNOWN included
    unknown: int  # index of UNKNOWN
    home: int
    kind: np.ndarray  # per link: ORIGIN, LOCATED, PROPAGATES, HOME or UNTRACED
    supplier_country: np.ndarray  # per link: country index of the supplier
    link_weight: np.ndarray  # per link: its share of its requirement's need
    req_weight: np.ndarray  # per requirement: its share of its buyer's need
    direct_ptr: np.ndarray  # link -> the countries its need enters (CSR)
    direct_country: np.ndarray
    direct_amount: np.ndarray
    direct_tier: np.ndarray  # tier at which the country enters
    link_origin: np.ndarray  # per link: its (supplier, part) in origin_key, -1 when none reported
    origin_key: np.ndarray  # sorted (company * n_parts + part) keys with origins
    origin_ptr: np.ndarray  # key -> its rows of origin_country / origin_share
    origin_country: np.ndarray
    origin_share: np.ndarray


def trace(con, net: SupplyNetwork, options: Options) -> Trace:
    """The :class:`Trace` of ``net``; ``con`` gives the material origins of its wave."""
    n_parts = max(len(net.parts), 1)
    ln = net.links
    home = options.home
    # country index space: every company country and origin country, then unknown
    comp_country = _arrow(net.companies["country"])
    seen = pc.unique(comp_country.drop_null()).to_pylist()
    if con is not None:
        seen += [
            c for (c,) in run(con, "SELECT DISTINCT origin_country FROM material_origin WHERE wave = ?", [net.wave]).fetchall()
        ]
    codes = sorted((set(seen) | {home}) - {UNKNOWN})
    countries = np.array([*codes, UNKNOWN], dtype=object)
    unknown, home_ix = len(countries) - 1, codes.index(home)
    comp_cix = _positions(comp_country, countries)
    comp_cix[comp_cix < 0] = unknown

    # material origins as integer codes: the database joins them to the network's numbering
    # (no string crosses into Python)
    if con is None:
        org = {c: np.zeros(0, np.int64) for c in ("company", "part", "country", "report")} | {"share": np.zeros(0)}
    else:
        numbering = {
            "_sc_tr_companies": pa.table(
                {"id": _arrow(net.companies["company_id"]), "ix": pa.array(np.arange(len(net.companies)))}
            ),
            "_sc_tr_parts": pa.table({"id": _arrow(net.parts["part_id"]), "ix": pa.array(np.arange(len(net.parts)))}),
            "_sc_tr_countries": pa.table(
                {"id": pa.array(countries.tolist(), pa.string()), "ix": pa.array(np.arange(len(countries)))}
            ),
        }
        # copied into temporary tables: DuckDB estimates no size for a registered Arrow table, and
        # put the 5.9 million joined origins on the build side of the small tables' joins
        # (economy scale: 3.0 s, against 1.6 s with the copies)
        try:
            for name, table in numbering.items():
                temp_table(con, name, table)
            result = run(con, ORIGINS_CODED_SQL, [net.wave]).arrow()
        finally:
            for name in numbering:
                run(con, f"DROP TABLE IF EXISTS {name}")
        org = {c: result[c].to_numpy() for c in result.column_names}
    key = org["company"].astype(np.int64) * n_parts + org["part"]
    origin_key, origin_ptr, origin_country, origin_share = _origin_table(
        key, org["report"], org["country"], org["share"], unknown
    )

    # what each link does, and the countries its need enters (compiled: one pass over links)
    from ._kernels import trace_links

    _, scc = csgraph.connected_components(net.adjacency(), directed=True, connection="strong")
    company_start = np.searchsorted(origin_key, np.arange(len(net.companies) + 1, dtype=np.int64) * n_parts)
    kind, at, direct_ptr, direct_country, direct_amount, direct_tier = trace_links(
        net.link_supplier.astype(np.int64, copy=False),
        net.link_buyer.astype(np.int64, copy=False),
        net.node_company.astype(np.int64, copy=False),
        ln["part"].to_numpy(np.int64),
        n_parts,
        comp_cix.astype(np.int64, copy=False),
        home_ix,
        unknown,
        net.node_req_ptr,
        scc.astype(np.int64, copy=False),
        ln["imported"].to_numpy(dtype="float64", na_value=0.0) > 0,
        net.tiers,
        origin_key.astype(np.int64, copy=False),
        company_start.astype(np.int64, copy=False),
        origin_ptr,
        origin_country.astype(np.int64, copy=False),
        origin_share.astype(np.float64, copy=False),
    )
    sup_cix = comp_cix[net.node_company[net.link_supplier]]
    link_weight, req_weight = _weights(net)
    return Trace(
        net=net,
        countries=countries,
        unknown=unknown,
        home=home_ix,
        kind=kind,
        supplier_country=sup_cix,
        link_weight=link_weight,
        req_weight=req_weight,
        direct_ptr=direct_ptr,
        direct_country=direct_country,
        direct_amount=direct_amount,
        direct_tier=direct_tier,
        link_origin=at,
        origin_key=origin_key,
        origin_ptr=origin_ptr,
        origin_country=origin_country.astype(np.int64, copy=False),
        origin_share=origin_share,
    )


def _origin_table(key, report, country, share, unknown: int):
    """Origin rows (``key`` = supplier × part, the ``report`` they come from, country, share)
    reduced to one report per key — the highest ``report`` (the supplier's own return, then the
    latest) — with shares scaled down where they sum to more than 1 and the remainder added as
    ``unknown`` where they sum to less. Returns CSR (sorted keys, pointer, country, share): one
    integer sort, then one compiled pass (pandas group-bys cost seconds at economy scale)."""
    # sorted by key, then report: one integer sort (the reports are few enough to rank; sorting
    # in the database was slower)
    if len(key) > 1:
        codes, uniques = pd.factorize(report, sort=True)
        width = max(len(uniques), 1)
        if int(key.max()) < (1 << 62) // width:
            order = np.argsort(key * width + codes, kind="stable")
        else:
            order = np.lexsort((report, key))
        key, report, country, share = key[order], report[order], country[order], share[order]
    from ._kernels import origin_csr

    return origin_csr(
        key.astype(np.int64, copy=False),
        report.astype(np.int64, copy=False),
        country.astype(np.int64, copy=False),
        share.astype(np.float64, copy=False),
        unknown,
    )


def _weights(net: SupplyNetwork) -> tuple[np.ndarray, np.ndarray]:
    """(share of each link in its requirement's need, share of each requirement in its buyer's
    need), by the rules of the module docstring (compiled: one pass over the links)."""
    from ._kernels import supply_weights

    ln = net.links
    return supply_weights(
        net.req_ptr,
        net.node_req_ptr,
        ln["share"].to_numpy(dtype="float64", na_value=np.nan),
        ln["annual_value_jpy"].to_numpy(dtype="float64", na_value=np.nan),
    )


def _flow(tr: Trace) -> tuple[np.ndarray, np.ndarray]:
    """(Share of each program's need carried by each link, the nodes in topological order)."""
    from ._kernels import exposure_flow

    net = tr.net
    start = np.zeros(net.n_nodes)
    primes = net.programs["prime_node"].to_numpy()
    start[primes[primes >= 0]] = 1.0
    return exposure_flow(
        net.node_req_ptr,
        net.req_ptr,
        net.link_supplier.astype(np.int64, copy=False),
        tr.kind == PROPAGATES,
        tr.req_weight,
        tr.link_weight,
        start,
    )


def _entries(tr: Trace) -> pd.DataFrame:
    """Where the need enters countries: one row per (link, country) with exposure > 0, with
    program, country, tier, part and supplier company as codes."""
    net = tr.net
    flow, _ = _flow(tr)
    entry_link = np.repeat(np.arange(len(flow)), np.diff(tr.direct_ptr))
    amount = flow[entry_link] * tr.direct_amount
    keep = amount > 0
    entry_link = entry_link[keep]
    ln = net.links
    return pd.DataFrame(
        {
            "program": ln["program"].to_numpy(np.int64)[entry_link],
            "country": tr.direct_country[keep],
            "exposure": amount[keep],
            "first_tier": tr.direct_tier[keep],
            "part": ln["part"].to_numpy(np.int64)[entry_link],
            "supplier": net.node_company[net.link_supplier[entry_link]],
        }
    )


def _by_program(tr: Trace) -> pd.DataFrame:
    """Exposure, first tier, parts and suppliers per (program, country) with exposure > 0, as
    codes (one compiled pass; links come program by program)."""
    from ._kernels import exposure_by_program

    net = tr.net
    flow, _ = _flow(tr)
    program = net.links["program"].to_numpy(np.int64)
    if len(program) and not bool(np.all(program[1:] >= program[:-1])):
        raise AssertionError("links are expected program by program")  # _network_from_codes sorts them so
    n_programs, n_countries = len(net.programs), len(tr.countries)
    exposure, first_tier, parts, suppliers = exposure_by_program(
        flow,
        tr.direct_ptr,
        tr.direct_country,
        tr.direct_amount,
        tr.direct_tier,
        program,
        net.links["part"].to_numpy(np.int64),
        net.node_company[net.link_supplier].astype(np.int64),
        n_programs,
        n_countries,
        max(len(net.parts), 1),
        max(len(net.companies), 1),
    )
    p, c = np.nonzero(exposure > 0)
    return pd.DataFrame(
        {
            "program": p,
            "country": c,
            "exposure": exposure[p, c],
            "first_tier": first_tier[p, c],
            "n_parts": parts[p, c],
            "n_suppliers": suppliers[p, c],
        }
    )


def exposure_by_tier(
    con=None, *, wave: int | None = None, program=None, network: SupplyNetwork | None = None, config=None
) -> pd.DataFrame:
    """:func:`foreign_exposure` split by the tier at which the country enters: one row per
    (program, country, tier) with ``exposure`` > 0, and ``country_group``, ``country_lists``.
    Summed over tiers it gives :func:`foreign_exposure`'s exposure (for the Sankey of
    :func:`supplychain.plot.exposure_sankey`)."""
    tr, options = _prepare(con, wave, program, network, config)
    frame = _entries(tr)
    out = frame.groupby(["program", "country", "first_tier"], sort=True, as_index=False)["exposure"].sum()
    codes = tr.countries[out["country"].to_numpy()]
    result = pd.DataFrame(
        {
            "program": tr.net.programs["program_id"].to_numpy(object)[out["program"]],
            "country": codes,
            "country_group": [options.country_group(c) for c in codes.tolist()],
            "tier": out["first_tier"].to_numpy(np.int64),
            "exposure": out["exposure"].to_numpy(float),
            "country_lists": options.label,
        }
    )
    return result.sort_values(
        ["program", "tier", "exposure", "country"], ascending=[True, True, False, True], kind="stable", ignore_index=True
    )


def cached_trace(con, net: SupplyNetwork, options: Options) -> Trace:
    """:func:`trace`, kept on the network (``net.derived``; it depends on the home country
    only), so analyses and scenarios on one network compute it once."""
    key = ("foreign.trace", options.home)
    if key not in net.derived:
        net.derived[key] = trace(con, net, options)
    return net.derived[key]


def exposure_by_linear_solve(tr: Trace, countries=None) -> np.ndarray:
    """Programs × countries exposure by the textbook method, for checking and benchmarking: one
    sparse linear solve per country of ``e = b + M e`` over the nodes, where ``M`` carries the
    need a buyer passes to a supplier and ``b`` what enters the country directly; a program's
    exposure is its prime's row. (:func:`foreign_exposure` gets the same in one pass.)
    ``countries`` limits the solves to some country indices (others are left 0)."""
    from scipy import sparse
    from scipy.sparse.linalg import spsolve

    net = tr.net
    n = net.n_nodes
    req = net.links["req"].to_numpy(np.int64)
    w = tr.req_weight[req] * tr.link_weight
    prop = tr.kind == PROPAGATES
    m = sparse.csr_matrix((w[prop], (net.link_buyer[prop], net.link_supplier[prop])), shape=(n, n))
    a = (sparse.identity(n, format="csr") - m).tocsc()
    entry_link = np.repeat(np.arange(len(w)), np.diff(tr.direct_ptr))
    primes = net.programs["prime_node"].to_numpy()
    out = np.zeros((len(primes), len(tr.countries)))
    for c in range(len(tr.countries)) if countries is None else countries:
        pick = tr.direct_country == c
        b = np.bincount(net.link_buyer[entry_link[pick]], weights=w[entry_link[pick]] * tr.direct_amount[pick], minlength=n)
        e = spsolve(a, b) if b.any() else np.zeros(n)
        out[primes >= 0, c] = e[primes[primes >= 0]]
    return out


def _prepare(con, wave, program, network, config) -> tuple[Trace, Options]:
    net = _network(con, wave, program, network)
    options = load_options(config)
    return cached_trace(con, net, options), options


def _wanted(program) -> list[str] | None:
    return None if program is None else [program] if isinstance(program, str) else list(program)


def _country_names(con, codes) -> dict:
    if con is None:
        return {}
    return dict(
        run(con, "SELECT code, coalesce(name_ja, name_en) FROM country WHERE list_contains(?, code)", [list(codes)]).fetchall()
    )


def foreign_exposure(
    con=None, *, wave: int | None = None, program=None, network: SupplyNetwork | None = None, config=None
) -> pd.DataFrame:
    """Share-weighted exposure of each program to each country, traced through all tiers.

    One row per (program, country) with exposure > 0 — the home country and ``unknown``
    included — by the model of :mod:`supplychain.risk.foreign`; the exposures of a program sum to
    1. A program with no reported supply (or no prime) has one row, ``unknown`` = 1.

    Columns: ``program``, ``program_name``, ``country``, ``country_name``, ``country_group``
    (``domestic`` / ``concern`` / ``allied`` / ``other`` / ``unknown``), ``exposure`` (fraction
    of the program's need), ``first_tier`` (the shallowest tier at which the country enters;
    the prime's direct suppliers are tier 1), ``n_parts`` (parts through which it enters),
    ``n_suppliers`` (companies through which it enters) and ``country_lists`` (the configuration
    used). Sorted by program, exposure (descending), country.

    Pass ``network`` (from :func:`~supplychain.graph.supply_network`) to reuse one, ``config``
    (a path or :class:`~supplychain.options.Options`) to use other country lists.
    """
    tr, options = _prepare(con, wave, program, network, config)
    net = tr.net
    out = _by_program(tr)
    # programs of the wave with no supply reported (or none reaching the prime): all unknown
    programs = net.programs[["program_id", "name"]]
    if con is not None:
        reported = run(
            con,
            """SELECT program_id, name FROM program WHERE ? BETWEEN first_wave AND last_wave
               AND (?::VARCHAR[] IS NULL OR list_contains(?::VARCHAR[], program_id)) ORDER BY program_id""",
            [net.wave, *[_wanted(program)] * 2],
        ).df()
        programs = pd.concat([programs, reported[~reported["program_id"].isin(programs["program_id"])]], ignore_index=True)
    missing = np.setdiff1d(np.arange(len(programs)), out["program"].to_numpy())
    if len(missing):
        empty = pd.DataFrame(
            {"program": missing, "country": tr.unknown, "exposure": 1.0, "first_tier": -1, "n_parts": 0, "n_suppliers": 0}
        )
        out = pd.concat([out, empty], ignore_index=True)
    codes = tr.countries[out["country"].to_numpy()]
    names = _country_names(con, codes.tolist())
    result = pd.DataFrame(
        {
            "program": programs["program_id"].to_numpy(dtype=object)[out["program"]],
            "program_name": programs["name"].to_numpy(dtype=object)[out["program"]],
            "country": codes,
            "country_name": [names.get(c) for c in codes.tolist()],
            "country_group": [options.country_group(c) for c in codes.tolist()],
            "exposure": out["exposure"].to_numpy(float),
            "first_tier": pd.array(np.where(out["first_tier"] >= 0, out["first_tier"], -1), dtype="Int64"),
            "n_parts": out["n_parts"].to_numpy(np.int64),
            "n_suppliers": out["n_suppliers"].to_numpy(np.int64),
            "country_lists": options.label,
        }
    )
    result.loc[result["first_tier"] < 0, "first_tier"] = pd.NA
    result = result.sort_values(
        ["program", "exposure", "country"], ascending=[True, False, True], kind="stable", ignore_index=True
    )
    result.attrs["country_lists"] = options.label
    return result


def _mix_text(codes: np.ndarray, ptr: np.ndarray, country: np.ndarray, share: np.ndarray) -> np.ndarray:
    """``CN 60%; JP 40%`` per row of a CSR of (country, share), built a position at a time by
    adding object arrays (a Python join per row, or NumPy's fixed-width strings, cost seconds)."""
    count = np.diff(ptr)
    percent = np.array([f" {p}%" for p in range(101)], dtype=object)
    pieces = codes.astype(object)[country] + percent[np.clip(np.rint(100 * share).astype(np.int64), 0, 100)]
    text = np.full(len(count), None, dtype=object)
    for k in range(int(count.max(initial=0))):
        rows = np.flatnonzero(count > k)
        text[rows] = pieces[ptr[rows]] if k == 0 else text[rows] + ("; " + pieces[ptr[rows] + k])
    return text


def _distinct_rows(ptr: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For the rows of a CSR (``ptr``, non-negative integer ``values``): a code per row, equal
    for rows with the same values, and the first row of each code. Rows short enough are packed
    exactly into one integer (their values side by side); longer rows, rare, keep codes of their
    own (never merged, so never wrongly)."""
    n = len(ptr) - 1
    counts = np.diff(ptr)
    bits = max(int(values.max(initial=0)).bit_length(), 1)
    fit = max((62 - 4) // bits, 0)
    short = counts <= min(fit, 15)
    packed = counts.astype(np.int64)  # the count in the low 4 bits, then the values
    owner = np.repeat(np.arange(n), counts)
    position = np.arange(len(values)) - np.repeat(ptr[:-1], counts)
    inside = short[owner]
    shifted = values[inside].astype(np.int64) << (4 + bits * position[inside])
    if len(shifted):  # the values of a row are adjacent: add them up row by row
        rows = owner[inside]
        starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        packed[rows[starts]] += np.add.reduceat(shifted, starts)
    packed[~short] = -1 - np.flatnonzero(~short)  # a code of their own
    _, first_of, code = np.unique(packed, return_index=True, return_inverse=True)
    return code.astype(np.int64), first_of


def country_concentration(
    con=None, *, wave: int | None = None, program=None, network: SupplyNetwork | None = None, config=None
) -> pd.DataFrame:
    """Country concentration of every part: per (program, buyer, part), the traced country mix
    of its supply (the same model as :func:`foreign_exposure`, from the part down) and its
    Herfindahl–Hirschman index over the known countries (0–10,000; the home country counts as a
    country, ``unknown`` does not; null when nothing is known).

    Columns: ``program``, ``buyer``, ``buyer_name``, ``part``, ``part_id``, ``hhi``,
    ``top_country``, ``top_share`` (of the known), ``foreign_share``, ``concern_share``,
    ``unknown_share`` (of the whole), ``countries`` (``CN 60%; JP 40%``, by share) and
    ``country_lists``. Sorted by program, buyer, part.
    """
    from ._kernels import country_mix

    tr, options = _prepare(con, wave, program, network, config)
    net = tr.net
    _, order = _flow(tr)
    hhi, top, top_share, unknown_share, mix_ptr, mix_country, mix_share = country_mix(
        order,
        net.node_req_ptr,
        net.req_ptr,
        net.link_supplier.astype(np.int64, copy=False),
        tr.kind == PROPAGATES,
        tr.req_weight,
        tr.link_weight,
        tr.direct_ptr,
        tr.direct_country,
        tr.direct_amount,
        len(tr.countries),
        tr.unknown,
    )
    n_req = net.n_requirements
    mix_req = np.repeat(np.arange(n_req), np.diff(mix_ptr))
    groups = np.array([options.country_group(c) for c in tr.countries.tolist()], dtype=object)
    foreign = np.bincount(mix_req, weights=mix_share * ~np.isin(groups[mix_country], ["domestic", "unknown"]), minlength=n_req)
    concern = np.bincount(mix_req, weights=mix_share * (groups[mix_country] == "concern"), minlength=n_req)
    # the mixes repeat (many parts are all domestic, all from one country): write each distinct
    # mix once and keep the column dictionary-encoded
    pct = np.clip(np.rint(100 * mix_share).astype(np.int64), 0, 100)
    mix_code, first_of = _distinct_rows(mix_ptr, mix_country * 101 + pct)
    sub_ptr, sub_index = _csr_rows(mix_ptr, first_of)
    texts = _mix_text(tr.countries, sub_ptr, mix_country[sub_index], mix_share[sub_index])
    text_code, text_values = pd.factorize(pd.Series(texts, dtype=object))  # a text can come from two codes
    buyer = net.req_buyer
    company = net.node_company[buyer]
    # order by program, buyer label, part id on integer codes (programs and parts are numbered
    # in id order; labels are ranked once)
    label_rank = np.empty(len(net.companies), np.int64)
    label_rank[pc.sort_indices(_arrow(net.companies["label"])).to_numpy()] = np.arange(len(net.companies))
    order = np.lexsort((net.req_part, label_rank[company], net.node_program[buyer]))
    take = pa.array(order)
    company_t, part_t = pa.array(company[order]), pa.array(net.req_part[order])
    part_names = pc.coalesce(_arrow(net.parts["part_name"]), _arrow(net.parts["part_id"]))
    table = pa.table(
        {
            "program": _arrow(net.programs["program_id"]).take(pa.array(net.node_program[buyer][order])),
            "buyer": _arrow(net.companies["label"]).take(company_t),
            "buyer_name": _arrow(net.companies["name"]).take(company_t),
            "part": part_names.take(part_t),
            "part_id": _arrow(net.parts["part_id"]).take(part_t),
            "hhi": pa.array(np.round(hhi, 1)).take(take),
            "top_country": pa.array(np.where(top >= 0, tr.countries[np.maximum(top, 0)], None), pa.string()).take(take),
            "top_share": pa.array(top_share).take(take),
            "foreign_share": pa.array(foreign).take(take),
            "concern_share": pa.array(concern).take(take),
            "unknown_share": pa.array(unknown_share).take(take),
            "countries": pa.DictionaryArray.from_arrays(
                pa.array(text_code[mix_code[order]], pa.int32(), mask=text_code[mix_code[order]] < 0),
                pa.array(np.asarray(text_values, dtype=object), pa.string()),
            ),
        }
    )
    out = table.to_pandas()
    out["country_lists"] = options.label
    out.attrs["country_lists"] = options.label
    return out
