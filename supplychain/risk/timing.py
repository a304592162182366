"""Impact in time (DESIGN §5.6, after Simchi-Levi et al.'s Risk Exposure Index): how many days of
production a program loses when a supplier stops, against the inventory held on the way.

Per requirement (program, buyer, part), from the survey's link fields:

* **time-to-recover (TTR)** once every supplier in use is out: 0 while another supplier in use
  still delivers (the simple rule assumes it can take the volume); else the order lead time
  (``lead_time_days``; ``timing.switch_days`` where not reported) when a qualified alternative
  exists (``alternatives_qualified`` > 0, or a supplier reported with share 0); else the time
  to qualify a new source (``requalification_months``; ``timing.requalification_months`` where
  not reported), in days (365/12 a month);
* **time-to-survive (TTS)**: the buyer's inventory of the part (``inventory_days``; 0 where not
  reported).

A disruption stops some links for D days. A requirement whose suppliers in use are all out, the
first of them back after ``s`` days, stops its buyer for ``max(0, min(s, TTR) - TTS)`` days; a
buyer stops for the longest of its requirements' stops (AND across parts) and its own supply
links stop for as long; and so on up to the primes, in one compiled pass
(:func:`~supplychain.risk._kernels.outage_sweep`). **Program-days lost** are the days the prime
stops; their value is the program's annual value / 365 a day. The TTS of a path is the least
inventory days held between the first stop and the prime. A single stage therefore loses
``max(0, TTR - TTS)`` days when D is longer than the TTR, the textbook formula.

:func:`time_to_recover` runs this for every company failing alone for good (D = ∞, or the
``days`` given) and ranks the (company, program) pairs by impact; the **Risk Exposure Index**
(REI) is impact / the largest impact, where impact is the value of the program-days lost (the
days themselves where a program has no annual value).

This sweep uses the simple rule (a supplier in use still delivering takes the volume). Scenarios
(:func:`supplychain.scenario.run`) replace it, where spare capacities are known, by a linear
program per disruption (:func:`supplychain.scenario.capacity_shortfalls`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..graph import SupplyNetwork
from ..options import load_options
from .propagation import _network

__all__ = ["time_to_recover", "requirement_times", "DAYS_PER_MONTH"]

DAYS_PER_MONTH = 365 / 12


def _req_max(values: np.ndarray, req: np.ndarray, n_req: int, mask: np.ndarray | None = None) -> np.ndarray:
    """Largest non-missing value per requirement (NaN where none)."""
    out = np.full(n_req, -np.inf)
    ok = ~np.isnan(values) if mask is None else ~np.isnan(values) & mask
    np.maximum.at(out, req[ok], values[ok])
    out[np.isinf(out)] = np.nan
    return out


def requirement_times(net: SupplyNetwork, options=None) -> dict[str, np.ndarray]:
    """The per-link and per-requirement inputs of the time model: ``link_in_use`` (share
    positive or not reported; every link of a requirement whose shares are all 0),
    ``req_tts`` (days) and ``req_ttr`` (days, once every supplier in use is out). Computed once
    per network and configuration and kept in ``net.derived``: callers copy before changing."""
    options = load_options(options)
    key = ("timing", options.label)
    if key not in net.derived:
        net.derived[key] = _requirement_times(net, options)
    return net.derived[key]


def _requirement_times(net: SupplyNetwork, options) -> dict[str, np.ndarray]:
    ln = net.links
    req = ln["req"].to_numpy(np.int64)
    n_req = net.n_requirements
    share = ln["share"].to_numpy(dtype="float64", na_value=np.nan)
    positive = np.isnan(share) | (share > 0)
    any_positive = np.bincount(req, weights=positive, minlength=n_req) > 0
    in_use = positive | ~any_positive[req]
    inventory = _req_max(ln["inventory_days"].to_numpy(dtype="float64", na_value=np.nan), req, n_req)
    tts = np.nan_to_num(inventory, nan=0.0)
    alternatives = _req_max(ln["alternatives_qualified"].to_numpy(dtype="float64", na_value=np.nan), req, n_req)
    idle = np.bincount(req, weights=~in_use, minlength=n_req) > 0
    qualified = (np.nan_to_num(alternatives) > 0) | idle
    lead = ln["lead_time_days"].to_numpy(dtype="float64", na_value=np.nan)
    lead_idle = _req_max(lead, req, n_req, ~in_use)  # the alternatives' own lead time first
    lead_any = _req_max(lead, req, n_req)
    switch = np.where(np.isnan(lead_idle), lead_any, lead_idle)
    switch = np.where(np.isnan(switch), options.switch_days, switch)
    months = _req_max(ln["requalification_months"].to_numpy(dtype="float64", na_value=np.nan), req, n_req)
    new_source = np.where(np.isnan(months), options.requalification_months, months) * DAYS_PER_MONTH
    ttr = np.where(qualified, switch, new_source)
    return {
        "link_in_use": in_use,
        "req_tts": tts,
        "req_ttr": ttr,
    }


def time_to_recover(
    con=None,
    *,
    wave: int | None = None,
    program=None,
    network: SupplyNetwork | None = None,
    days: float = np.inf,
    config=None,
) -> pd.DataFrame:
    """For every company whose failure alone (for ``days``; for good by default) stops a
    program: one row per (company, program), ranked by impact.

    Columns: ``rank``, ``company``, ``company_name``, ``program``, ``ttr_days`` (the company's
    own time to recover there: the longest TTR of the requirements it alone supplied),
    ``tts_days`` (least inventory days between it and the prime), ``days_lost`` (program-days),
    ``value_lost`` (yen: days × annual value / 365; NaN where the program has no value),
    ``tts_below_ttr``, ``rei`` (Risk Exposure Index, 0–1). A company whose failure stops no
    prime, or only for less time than the inventory on the way covers, has no row.
    """
    from ._kernels import outage_state, outage_sweep

    options = load_options(config)
    net = _network(con, wave, program, network)
    t = requirement_times(net, options)
    primes = net.programs["prime_node"].to_numpy(np.int64)
    comp, prog, lost, tts, ttr = outage_sweep(
        np.arange(len(net.companies), dtype=np.int64),
        float(days),
        net.company_ptr,
        net.company_node,
        net.supplies_ptr,
        net.supplies_link,
        net.links["req"].to_numpy(),
        net.req_ptr,
        net.req_buyer,
        net.node_program,
        primes,
        t["link_in_use"],
        t["req_tts"],
        t["req_ttr"],
        outage_state(len(net.links), net.n_requirements, net.n_nodes),
    )
    annual = net.programs["annual_value_jpy"].to_numpy(dtype="float64", na_value=np.nan)
    value = lost * annual[prog] / 365
    impact = np.where(np.isnan(value), lost, value)
    out = pd.DataFrame(
        {
            "company": net.column("companies", "label")[comp],
            "company_name": net.column("companies", "name")[comp],
            "program": net.column("programs", "program_id")[prog],
            "ttr_days": ttr,
            "tts_days": tts,
            "days_lost": lost,
            "value_lost": value,
            "tts_below_ttr": tts < ttr,
            "rei": impact / impact.max() if len(impact) else impact,
        }
    )
    out = out.sort_values(["rei", "days_lost", "company", "program"], ascending=[False, False, True, True], kind="stable")
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out.reset_index(drop=True)


def outage_by_fixpoint(net: SupplyNetwork, starts: np.ndarray, days: float, times: dict) -> tuple[np.ndarray, np.ndarray]:
    """The same cascade as the compiled kernel, read literally: recompute every requirement and
    every node from all links until nothing changes (vectorised NumPy, no worklist). The
    reference the kernel is tested and benchmarked against; returns (node days out, link days
    out)."""
    ln = net.links
    req = ln["req"].to_numpy(np.int64)
    n_links, n_req, n_nodes = len(ln), net.n_requirements, net.n_nodes
    in_use, tts, ttr = times["link_in_use"], times["req_tts"], times["req_ttr"]
    start = np.zeros(n_links)
    start[starts] = days
    link_out = start.copy()
    while True:
        # a requirement's supply is out for the shortest outage among its links in use
        s_out = np.full(n_req, np.inf)  # every requirement has a link in use
        np.minimum.at(s_out, req[in_use], link_out[in_use])
        o = np.maximum(0.0, np.minimum(s_out, ttr) - tts)
        o[s_out <= 0] = 0.0
        node_out = np.zeros(n_nodes)
        np.maximum.at(node_out, net.req_buyer, o)
        new = np.maximum(start, node_out[net.link_supplier])
        if np.array_equal(new, link_out):
            return node_out, link_out
        link_out = new
