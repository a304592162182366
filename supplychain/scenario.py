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

import functools

import numpy as np
import pandas as pd

from .exceptions import SupplyChainError
from .graph import SupplyNetwork, _csr_rows
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


class ScenarioResult:
    """What a scenario stops and loses, each table with the evidence behind its rows.

    The run itself computes what fails and :attr:`summary`; the tables are built from it when
    first read (at economy scale the evidence paths of every failed company take longer to
    write out than the scenario takes to run).

    Attributes
    ----------
    scenario : dict
        The scenario as run (plain data: it can be saved and run again).
    wave : int
    summary : dict
        Counts: links stopped at the start and in all, parts (requirements) lost, buyers lost
        (failed (program, company) pairs), programs lost and their annual value.
    links_stopped : DataFrame
        Supply links that stop: ``program``, ``supplier``, ``supplier_name``, ``buyer``,
        ``buyer_name``, ``part``, ``part_id``, ``cause`` (why), ``source_file``,
        ``source_sheet``, ``source_row``.
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

    TABLES = ("links_stopped", "parts_lost", "buyers_lost", "programs_lost")

    def __init__(self, scenario: dict, wave: int, summary: dict, build: dict):
        self.scenario = scenario
        self.wave = wave
        self.summary = summary
        self._build = build  # table name -> function building it
        self._tables: dict[str, pd.DataFrame] = {}

    def _table(self, name: str) -> pd.DataFrame:
        if name not in self._tables:
            self._tables[name] = self._build[name]()
        return self._tables[name]

    links_stopped = property(lambda self: self._table("links_stopped"))
    parts_lost = property(lambda self: self._table("parts_lost"))
    buyers_lost = property(lambda self: self._table("buyers_lost"))
    programs_lost = property(lambda self: self._table("programs_lost"))

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
    ids = net.column("parts", "part_id")
    names = net.column("parts", "part_name")
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


def first_stops(net: SupplyNetwork, tr, country: str, candidates: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per link: (supplier located in ``country``, material known to come only from it); only
    the links of the boolean mask ``candidates`` are looked at (all by default)."""
    n = len(net.links)
    cix = np.flatnonzero(tr.countries == country)
    code = int(cix[0]) if len(cix) else -2
    look = np.arange(n) if candidates is None else np.flatnonzero(candidates)
    located = np.zeros(n, bool)
    located[look] = tr.supplier_country[look] == code
    only = np.zeros(n, bool)
    with_origin = look[tr.link_origin[look] >= 0]
    keys = tr.link_origin[with_origin]
    ptr, rows = _csr_rows(tr.origin_ptr, keys)  # the origin rows of each of those links
    from_country = np.bincount(
        np.repeat(np.arange(len(keys)), np.diff(ptr)),
        weights=tr.origin_share[rows] * (tr.origin_country[rows] == code),
        minlength=len(keys),
    )
    only[with_origin] = from_country >= 1 - 1e-9
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
    located, only = first_stops(net, tr, country, scope[part])
    stop0 = located | only
    stopped, req_lost, node_failed, node_cause, link_cause = link_cascade(
        np.flatnonzero(stop0).astype(np.int64),
        ln["req"].to_numpy(np.int64),
        net.req_ptr,
        net.req_buyer.astype(np.int64),
        net.supplies_ptr,
        net.supplies_link,
        net.link_supplier.astype(np.int64),
    )
    primes = net.programs["prime_node"].to_numpy()
    lost = np.flatnonzero((primes >= 0) & node_failed[np.maximum(primes, 0)])
    program_value = net.programs["annual_value_jpy"].to_numpy(dtype="float64", na_value=np.nan)
    summary = {
        "links_stopped_first": int(stop0.sum()),
        "links_stopped": int(stopped.sum()),
        "parts_lost": int(req_lost.sum()),
        "buyers_lost": int(node_failed.sum()),
        "programs_lost": int(len(lost)),
        "program_value_lost": float(np.nansum(program_value[lost])) if len(lost) else 0.0,
    }
    scenario = {
        "kind": "export_ban",
        "country": country,
        "parts": parts if parts is None or isinstance(parts, str) else list(parts),
        "config": options.label,  # whose material classes resolved the parts
    }
    paths = _Paths(net, node_failed, node_cause, link_cause, country)
    causes = {"located": f"exported from {country}", "only": f"material only from {country}"}
    build = {
        "links_stopped": lambda: _links_stopped(net, np.flatnonzero(stopped), stop0, located, causes),
        "parts_lost": lambda: _parts_lost(net, np.flatnonzero(req_lost), paths),
        "buyers_lost": lambda: _buyers_lost(net, np.flatnonzero(node_failed), paths),
        "programs_lost": lambda: pd.DataFrame(
            {
                "program": net.column("programs", "program_id")[lost],
                "program_name": net.column("programs", "name")[lost],
                "annual_value_jpy": program_value[lost],
                "path": [paths.to(int(primes[p])) for p in lost.tolist()],
            }
        ),
    }
    return ScenarioResult(scenario, net.wave, summary, build)


def _links_stopped(net: SupplyNetwork, links: np.ndarray, stop0, located, causes) -> pd.DataFrame:
    ln = net.links
    labels, names = net.node_labels(), net.column("companies", "name")[net.node_company]
    sup, buy = net.link_supplier[links], net.link_buyer[links]
    part = ln["part"].to_numpy(np.int64)[links]
    cause = np.where(stop0[links], np.where(located[links], causes["located"], causes["only"]), "supplier failed")
    files = pd.Series(ln["submission_id"].to_numpy()[links]).map(net.files)
    out = pd.DataFrame(
        {
            "program": net.column("programs", "program_id")[net.node_program[buy]],
            "supplier": labels[sup],
            "supplier_name": names[sup],
            "buyer": labels[buy],
            "buyer_name": names[buy],
            "part": net.part_names(part),
            "part_id": net.part_ids(part),
            "cause": cause,
            "source_file": files.to_numpy(object),
            "source_sheet": ln["source_sheet"].to_numpy(dtype=object)[links],
            "source_row": ln["source_row"].to_numpy()[links],
        }
    )
    return out.sort_values(["program", "buyer", "part_id", "supplier"], kind="stable", ignore_index=True)


def _parts_lost(net: SupplyNetwork, reqs: np.ndarray, paths: _Paths) -> pd.DataFrame:
    labels, names = net.node_labels(), net.column("companies", "name")[net.node_company]
    buyer = net.req_buyer[reqs]
    first_link = net.req_ptr[reqs]
    out = pd.DataFrame(
        {
            "program": net.column("programs", "program_id")[net.node_program[buyer]],
            "buyer": labels[buyer],
            "buyer_name": names[buyer],
            "part": net.part_names(net.req_part[reqs]),
            "part_id": net.part_ids(net.req_part[reqs]),
            "n_suppliers": net.req_ptr[reqs + 1] - first_link,
            "path": [paths.through(int(m)) for m in first_link.tolist()],
        }
    )
    return out.sort_values(["program", "buyer", "part_id"], kind="stable", ignore_index=True)


def _buyers_lost(net: SupplyNetwork, failed: np.ndarray, paths: _Paths) -> pd.DataFrame:
    labels, names = net.node_labels(), net.column("companies", "name")[net.node_company]
    tiers = net.tiers[failed]
    out = pd.DataFrame(
        {
            "program": net.column("programs", "program_id")[net.node_program[failed]],
            "company": labels[failed],
            "company_name": names[failed],
            "tier": pd.array(np.where(tiers >= 0, tiers, -1), dtype="Int64"),
            "path": [paths.to(int(v)) for v in failed.tolist()],
        }
    )
    out.loc[out["tier"] < 0, "tier"] = pd.NA
    return out.sort_values(["program", "tier", "company"], kind="stable", ignore_index=True)


class _Paths:
    """Evidence chains: from the country through the first stopped link, company by company
    (each failed because one of its parts was lost), to a failed node."""

    def __init__(self, net, node_failed, node_cause, link_cause, country):
        self.net, self.failed, self.cause, self.link_cause = net, node_failed, node_cause, link_cause
        self.country = country

    @functools.cached_property
    def labels(self) -> np.ndarray:
        return self.net.node_labels()

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
