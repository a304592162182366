"""What-if scenarios (DESIGN §6): what stops, and what the AND/OR rule of DESIGN §4 then loses.

An export restriction (:func:`export_ban`) stops, for the parts in scope:

* every supply link from a supplier located in the country (its exports stop), and
* every link whose material, by the supplier's ``material_origin`` for that part, comes only
  from the country (a third-country or domestic supplier with no other known origin; an
  ``unknown`` share counts as another origin, so it is not stopped on a guess).

Then a requirement (program, buyer, part) is lost when all its links have stopped, its buyer
fails in that program, and every link that buyer supplies in the program stops, up to the
primes. A domestic supplier whose inputs came only from the country therefore fails, and one
with another source of each part does not.

>>> sorted(PRESETS)
['rare_earths_and_magnets_from_cn']
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .exceptions import SupplyChainError
from .graph import SupplyNetwork
from .options import load_options
from .risk.foreign import cached_trace
from .risk.propagation import ARROW, _network

__all__ = ["ScenarioResult", "export_ban", "PRESETS"]

#: Ready-made scenarios: keyword arguments of the scenario function named by ``kind``.
PRESETS = {
    "rare_earths_and_magnets_from_cn": {
        "kind": "export_ban",
        "description": "China stops exporting rare-earth metals and compounds and permanent magnets to Japan",
        "country": "CN",
        "parts": ["rare_earths", "magnets"],
    },
}


@dataclass
class ScenarioResult:
    """What a scenario stops and loses, each table with the evidence behind its rows.

    Attributes
    ----------
    scenario : dict
        The scenario as run (plain data: it can be saved and run again).
    wave : int
    links_stopped : DataFrame
        Supply links that stop: ``program``, ``supplier``, ``supplier_name``, ``buyer``,
        ``buyer_name``, ``part``, ``part_id``, ``cause`` (why), ``source`` (file:sheet:row).
    parts_lost : DataFrame
        Requirements left with no supplier: ``program``, ``buyer``, ``buyer_name``, ``part``,
        ``part_id``, ``n_suppliers``, ``path`` (from the first stop to the buyer).
    buyers_lost : DataFrame
        Companies that fail in a program: ``program``, ``company``, ``company_name``, ``tier``,
        ``path``.
    programs_lost : DataFrame
        Programs whose prime fails: ``program``, ``program_name``, ``annual_value_jpy``,
        ``path``.
    """

    scenario: dict
    wave: int
    links_stopped: pd.DataFrame
    parts_lost: pd.DataFrame
    buyers_lost: pd.DataFrame
    programs_lost: pd.DataFrame
    summary: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        figures = ", ".join(f"{k}={v}" for k, v in self.summary.items())
        return f"ScenarioResult({self.scenario.get('kind')}, wave={self.wave}: {figures})"


def _part_scope(net: SupplyNetwork, parts, options) -> np.ndarray:
    """Boolean per part index: in scope of ``parts`` (None = all; else material-class names,
    HS-code prefixes, or part names or ids as reported)."""
    n = len(net.parts)
    if parts is None:
        return np.ones(n, bool)
    wanted = [parts] if isinstance(parts, str) else list(parts)
    ids = net.parts["part_id"].to_numpy(object)
    names = net.parts["part_name"].to_numpy(object)
    hs = net.parts["hs_code"].fillna("").astype(str).str.replace(".", "", regex=False).to_numpy(object)
    scope = np.zeros(n, bool)
    for item in wanted:
        by_name = (ids == item) | (names == item)
        if by_name.any():
            scope |= by_name
            continue
        for prefix in options.hs_prefixes([item]):
            scope |= np.array([h.startswith(prefix) for h in hs.tolist()], bool) if n else scope
    return scope


def first_stops(net: SupplyNetwork, tr, country: str) -> tuple[np.ndarray, np.ndarray]:
    """Per link: (supplier located in ``country``, material known to come only from it)."""
    ln = net.links
    cix = np.flatnonzero(tr.countries == country)
    code = int(cix[0]) if len(cix) else -2
    located = tr.supplier_country == code
    n_parts = max(len(net.parts), 1)
    key = net.node_company[net.link_supplier].astype(np.int64) * n_parts + ln["part"].to_numpy(np.int64)
    at = np.searchsorted(tr.origin_key, key)
    found = at < len(tr.origin_key)
    found[found] = tr.origin_key[at[found]] == key[found]
    origin_rows = np.repeat(np.arange(len(tr.origin_key)), np.diff(tr.origin_ptr))
    from_country = np.bincount(origin_rows, weights=tr.origin_share * (tr.origin_country == code), minlength=len(tr.origin_key))
    only = np.zeros(len(ln), bool)
    only[found] = from_country[at[found]] >= 1 - 1e-9
    return located, only


def export_ban(
    con=None,
    *,
    wave: int | None = None,
    country: str,
    parts=None,
    program=None,
    network: SupplyNetwork | None = None,
    config=None,
) -> ScenarioResult:
    """A country stops exporting (all goods, or the ``parts`` named: material-class names of the
    configuration such as ``"rare_earths"``, HS-code prefixes such as ``"8505"``, or part names
    or ids as reported); see the module docstring for what stops and what fails.

    ``sc.scenario.export_ban(con, wave=2025, **sc.scenario.PRESETS["rare_earths_and_magnets_from_cn"])``
    runs a preset (``kind`` and ``description`` are ignored). Pass ``network`` to reuse a built
    network: the scenario itself then only visits what it stops.
    """
    from .risk._kernels import link_cascade

    if not isinstance(country, str) or len(country) != 2 or not country.isupper():
        raise SupplyChainError(f"country must be an ISO 3166-1 alpha-2 code such as 'CN', got {country!r}")
    options = load_options(config)
    net = _network(con, wave, program, network)
    tr = cached_trace(con, net, options)
    ln = net.links
    scope = _part_scope(net, parts, options)
    part = ln["part"].to_numpy(np.int64)
    located, only = first_stops(net, tr, country)
    stop0 = scope[part] & (located | only)
    stopped, req_lost, node_failed, node_cause, link_cause = link_cascade(
        np.flatnonzero(stop0).astype(np.int64),
        ln["req"].to_numpy(np.int64),
        net.req_ptr,
        net.req_buyer.astype(np.int64),
        net.supplies_ptr,
        net.supplies_link,
        net.link_supplier.astype(np.int64),
    )
    labels = net.node_labels()
    names = net.companies["name"].to_numpy(object)[net.node_company]
    program_ids = net.programs["program_id"].to_numpy(object)
    paths = _Paths(net, node_failed, node_cause, link_cause, labels, country)

    links_idx = np.flatnonzero(stopped)
    cause = np.where(
        located[links_idx],
        f"exported from {country}",
        np.where(only[links_idx], f"material only from {country}", "supplier failed"),
    )
    cause = np.where(stop0[links_idx], cause, "supplier failed")
    sup, buy = net.link_supplier[links_idx], net.link_buyer[links_idx]
    links_stopped = pd.DataFrame(
        {
            "program": program_ids[net.node_program[buy]],
            "supplier": labels[sup],
            "supplier_name": names[sup],
            "buyer": labels[buy],
            "buyer_name": names[buy],
            "part": net.part_names(part[links_idx]),
            "part_id": net.part_ids(part[links_idx]),
            "cause": cause,
            "source": [
                f"{f}:{s}:{r}"
                for f, s, r in zip(
                    net.source_files(links_idx),
                    ln["source_sheet"].to_numpy(object)[links_idx],
                    ln["source_row"].to_numpy()[links_idx],
                )
            ],
        }
    ).sort_values(["program", "buyer", "part_id", "supplier"], kind="stable", ignore_index=True)

    reqs = np.flatnonzero(req_lost)
    req_buyer = net.req_buyer[reqs]
    first_link = net.req_ptr[reqs]
    parts_lost = pd.DataFrame(
        {
            "program": program_ids[net.node_program[req_buyer]],
            "buyer": labels[req_buyer],
            "buyer_name": names[req_buyer],
            "part": net.part_names(net.req_part[reqs]),
            "part_id": net.part_ids(net.req_part[reqs]),
            "n_suppliers": net.req_ptr[reqs + 1] - first_link,
            "path": [paths.through(int(m)) for m in first_link.tolist()],
        }
    ).sort_values(["program", "buyer", "part_id"], kind="stable", ignore_index=True)

    failed = np.flatnonzero(node_failed)
    tiers = net.tiers[failed]
    buyers_lost = pd.DataFrame(
        {
            "program": program_ids[net.node_program[failed]],
            "company": labels[failed],
            "company_name": names[failed],
            "tier": pd.array(np.where(tiers >= 0, tiers, -1), dtype="Int64"),
            "path": [paths.to(int(v)) for v in failed.tolist()],
        }
    )
    buyers_lost.loc[buyers_lost["tier"] < 0, "tier"] = pd.NA
    buyers_lost = buyers_lost.sort_values(["program", "tier", "company"], kind="stable", ignore_index=True)

    primes = net.programs["prime_node"].to_numpy()
    lost = np.flatnonzero((primes >= 0) & node_failed[np.maximum(primes, 0)])
    programs_lost = pd.DataFrame(
        {
            "program": program_ids[lost],
            "program_name": net.programs["name"].to_numpy(object)[lost],
            "annual_value_jpy": net.programs["annual_value_jpy"].to_numpy(dtype="float64", na_value=np.nan)[lost],
            "path": [paths.to(int(primes[p])) for p in lost.tolist()],
        }
    )
    scenario = {
        "kind": "export_ban",
        "country": country,
        "parts": parts if parts is None or isinstance(parts, str) else list(parts),
    }
    summary = {
        "links_stopped_first": int(stop0.sum()),
        "links_stopped": int(len(links_idx)),
        "parts_lost": int(len(reqs)),
        "buyers_lost": int(len(failed)),
        "programs_lost": int(len(lost)),
        "program_value_lost": float(np.nansum(programs_lost["annual_value_jpy"])) if len(lost) else 0.0,
    }
    return ScenarioResult(scenario, net.wave, links_stopped, parts_lost, buyers_lost, programs_lost, summary)


class _Paths:
    """Evidence chains: from the country through the first stopped link, company by company
    (each failed because one of its parts was lost), to a failed node."""

    def __init__(self, net, node_failed, node_cause, link_cause, labels, country):
        self.net, self.failed, self.cause, self.link_cause = net, node_failed, node_cause, link_cause
        self.labels, self.country = labels, country

    def _chain(self, node: int) -> list[int]:
        # each step goes back to an earlier failure, until a link stopped at the start
        chain = [node]
        while self.failed[node]:
            link = self.cause[node]
            node = int(self.net.link_supplier[link])
            chain.append(node)
            if self.link_cause[link] < 0:
                break
        return chain[::-1]

    def to(self, node: int) -> str:
        return ARROW.join([self.country, *self.labels[self._chain(node)].tolist()])

    def through(self, link: int) -> str:
        """The chain to the supplier of ``link``, then its buyer."""
        supplier, buyer = int(self.net.link_supplier[link]), str(self.labels[self.net.link_buyer[link]])
        if self.link_cause[link] < 0:
            return ARROW.join([self.country, str(self.labels[supplier]), buyer])
        return ARROW.join([self.to(supplier), buyer])
