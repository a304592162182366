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
import hashlib
import json

import numpy as np
import pandas as pd
import yaml

from . import audit
from .exceptions import SupplyChainError
from .graph import SupplyNetwork, _csr_rows
from .options import load_options
from .risk.foreign import cached_trace
from .risk.propagation import ARROW, _network

__all__ = ["ScenarioResult", "export_ban", "run", "normalize", "read", "save", "load", "saved", "PRESETS", "STANDARD"]

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
        ``path`` (scenarios in time add ``days_lost``, ``value_lost``, ``tts_days``).
    program_days : DataFrame
        Scenarios in time only: ``program``, ``days_lost``, ``value_lost`` of every program that
        stops, built with the run (no evidence paths: cheap to compare runs).
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
        return f"ScenarioResult({self.scenario.get('name') or self.scenario.get('kind')}, wave={self.wave}: {figures})"


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
        net.req_buyer,
        net.supplies_ptr,
        net.supplies_link,
        net.link_supplier,
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


def _links_stopped(net: SupplyNetwork, links: np.ndarray, stop0, located, causes, cause=None, days=None) -> pd.DataFrame:
    """The links stopped, sorted; ``cause`` (per link, optional) replaces the export-ban causes;
    ``days`` (per link, optional) adds the days each does not deliver."""
    ln = net.links
    labels, names = net.node_labels(), net.column("companies", "name")[net.node_company]
    sup, buy = net.link_supplier[links], net.link_buyer[links]
    part = ln["part"].to_numpy(np.int64)[links]
    if cause is None:
        cause = np.where(stop0[links], np.where(located[links], causes["located"], causes["only"]), "supplier failed")
    else:
        cause = np.where(stop0[links], cause[links], "supplier stopped")
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
    if days is not None:
        out.insert(8, "days_stopped", days[links])
    return out.sort_values(["program", "buyer", "part_id", "supplier"], kind="stable", ignore_index=True)


def _parts_lost(net: SupplyNetwork, reqs: np.ndarray, paths: _Paths, days: np.ndarray | None = None) -> pd.DataFrame:
    """The requirements lost, sorted; with ``days`` (per requirement), the days each stops its buyer."""
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
    if days is not None:
        out.insert(6, "days_lost", days[reqs])
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
            if link < 0:  # the node itself was hit (a prime named by the scenario)
                break
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


# ---------------------------------------------------------------------------------------------
# scenarios in time (issue 6): what fails, for how long, and which mitigations apply

#: Keys a scenario's ``fail`` mapping may hold.
FAIL_KEYS = ("companies", "countries", "parts", "prefectures", "hazard_zones", "withdrawals")
#: Mitigation actions (the plan measures of DESIGN §6).
ACTIONS = ("stockpile", "add_supplier", "substitute", "succession")
#: Hazard zones a scenario can name, and the site column that flags them.
HAZARD_ZONES = {"nankai": "nankai_zone"}

#: The standard scenario set: run on every wave, and by plan reviews.
STANDARD = {
    "rare_earth_export_ban": {
        "name": "rare_earth_export_ban",
        "description": "China stops exporting rare-earth metals and compounds and permanent magnets to Japan for 180 days",
        "fail": {"countries": [{"country": "CN", "parts": ["rare_earths", "magnets"]}]},
        "days": 180,
    },
    "nankai_trough": {
        "name": "nankai_trough",
        "description": "A Nankai Trough earthquake: every site in the promotion area stops for 90 days",
        "fail": {"hazard_zones": ["nankai"]},
        "days": 90,
    },
    "top_withdrawal_risk": {
        "name": "top_withdrawal_risk",
        "description": "The ten suppliers most likely to leave the defense business leave (for good)",
        "fail": {"withdrawals": {"predicted": 10}},
        "days": None,
    },
}


def normalize(scenario) -> dict:
    """A scenario as plain, checked data: a mapping (or the name of a :data:`STANDARD` one, or
    the legacy ``{"kind": "export_ban", "country": ..., "parts": ...}``) with ``name``,
    ``description``, ``fail`` (keys of :data:`FAIL_KEYS`), ``days`` (None = for good) and
    ``mitigations`` (mappings with an ``action`` of :data:`ACTIONS`). Raises
    :class:`SupplyChainError` saying what is wrong."""
    if isinstance(scenario, str):
        if scenario not in STANDARD:
            raise SupplyChainError(f"no standard scenario {scenario!r} (standard: {', '.join(STANDARD)})")
        scenario = STANDARD[scenario]
    if not isinstance(scenario, dict):
        raise SupplyChainError(f"a scenario is a mapping, got {type(scenario).__name__}")
    s = dict(scenario)  # copied level by level below (no deep copy: a removal set may hold 100k names)
    if s.get("kind") == "export_ban":
        s = {
            "name": s.get("name", f"export ban {s['country']}"),
            "description": s.get("description", ""),
            "fail": {"countries": [{"country": s["country"], "parts": s.get("parts")}]},
            "days": s.get("days"),
        }
    unknown = sorted(set(s) - {"name", "description", "fail", "days", "mitigations"})
    if unknown:
        raise SupplyChainError(f"scenario: unknown keys {unknown} (expected name, description, fail, days, mitigations)")
    fail = s.get("fail") or {}
    if isinstance(fail, dict):
        fail = dict(fail)
    if not isinstance(fail, dict) or not fail:
        raise SupplyChainError("scenario: 'fail' must name what fails, e.g. {'companies': [...]} or {'countries': ['CN']}")
    bad = sorted(set(fail) - set(FAIL_KEYS))
    if bad:
        raise SupplyChainError(f"scenario.fail: unknown keys {bad} (expected {', '.join(FAIL_KEYS)})")
    countries = []
    for item in fail.get("countries") or []:
        entry = {"country": item, "parts": None} if isinstance(item, str) else dict(item)
        c = entry.get("country")
        if not isinstance(c, str) or len(c) != 2 or not c.isupper():
            raise SupplyChainError(f"scenario.fail.countries: an ISO 3166-1 alpha-2 code such as 'CN', got {c!r}")
        parts = entry.get("parts")
        entry["parts"] = None if parts is None else [parts] if isinstance(parts, str) else list(parts)
        countries.append({"country": c, "parts": entry["parts"]})
    if countries:
        fail["countries"] = countries
    for key in ("companies", "parts", "prefectures", "hazard_zones"):
        if key in fail:
            v = fail[key]
            fail[key] = [v] if isinstance(v, str) else [str(x) for x in v]
    for zone in fail.get("hazard_zones", []):
        if zone not in HAZARD_ZONES:
            raise SupplyChainError(f"scenario.fail.hazard_zones: unknown zone {zone!r} (known: {', '.join(HAZARD_ZONES)})")
    w = fail.get("withdrawals")
    if w is not None and (not isinstance(w, dict) or not set(w) <= {"announced", "predicted"}):
        raise SupplyChainError("scenario.fail.withdrawals: a mapping {'announced': true, 'predicted': N}")
    days = s.get("days")
    if days is not None and (not isinstance(days, int | float) or days < 0):
        raise SupplyChainError(f"scenario.days: a number of days >= 0, or null for good; got {days!r}")
    mitigations = [dict(m) if isinstance(m, dict) else m for m in s.get("mitigations") or []]
    for i, m in enumerate(mitigations):
        if not isinstance(m, dict) or m.get("action") not in ACTIONS:
            raise SupplyChainError(f"scenario.mitigations[{i}]: 'action' must be one of {', '.join(ACTIONS)}, got {m!r}")
        if m["action"] == "stockpile" and not isinstance(m.get("days"), int | float):
            raise SupplyChainError(f"scenario.mitigations[{i}]: a stockpile needs 'days'")
        if m["action"] == "succession" and not m.get("company"):
            raise SupplyChainError(f"scenario.mitigations[{i}]: a succession needs 'company'")
        if m["action"] in ("stockpile", "add_supplier", "substitute") and not m.get("part"):
            raise SupplyChainError(f"scenario.mitigations[{i}]: {m['action']} needs 'part'")
    return {
        "name": str(s.get("name") or "scenario"),
        "description": str(s.get("description") or ""),
        "fail": fail,
        "days": None if days is None else float(days),
        "mitigations": mitigations,
    }


def _company_index(net: SupplyNetwork, wanted) -> tuple[np.ndarray, list[str]]:
    """Company indices named by label, internal id or exact name; and the names not found.
    (The hash index of each column is built once per network and kept.)"""
    wanted = pd.Index([str(w) for w in wanted], dtype=object)
    found = np.full(len(wanted), -1, np.int64)
    for col in ("label", "company_id", "name"):
        key = ("company_index", col)
        if key not in net.derived:  # names may repeat: index the first company of each
            values = pd.Index(net.column("companies", col), dtype=object)
            first = np.flatnonzero(~values.duplicated())
            net.derived[key] = (pd.Index(values[first], dtype=object), first)
        index, first = net.derived[key]
        todo = np.flatnonzero(found < 0)
        if not len(todo):
            break
        pos = index.get_indexer(wanted[todo])
        found[todo] = np.where(pos >= 0, first[np.maximum(pos, 0)], -1)
    return np.unique(found[found >= 0]), wanted[found < 0].tolist()


def _supplied_by(net: SupplyNetwork, companies: np.ndarray) -> np.ndarray:
    """The links supplied by ``companies`` (company indices), through the company -> node and
    node -> supplied-links CSR (only their own rows are visited)."""
    _, at = _csr_rows(net.company_ptr, np.asarray(companies, np.int64))
    nodes = net.company_node[at]
    _, at = _csr_rows(net.supplies_ptr, nodes)
    return net.supplies_link[at]


def _site_stops(con, net: SupplyNetwork, *, prefectures=(), zones=()) -> np.ndarray:
    """Boolean per link: its supplier's site is in one of ``prefectures`` or hazard ``zones``.
    The link's own site where reported; otherwise the supplier is hit when all its sites are
    (and, for prefectures, when it has no site, by its company prefecture). Also returns, per
    company, whether it is hit that way (a prime hit stops its program)."""
    from .db import run
    from .graph import _positions

    zone_cols = [HAZARD_ZONES[z] for z in zones]
    hit_sql = " OR ".join(
        [*(f"coalesce({c}, false)" for c in zone_cols), *(["list_contains(?, prefecture_code)"] if prefectures else [])]
    )
    params = [list(prefectures)] if prefectures else []
    sites = run(con, f"SELECT site_id, company_id, ({hit_sql}) AS hit FROM site", params).df()
    hit = sites["hit"].to_numpy(dtype=bool, na_value=False)
    by_company = sites.assign(hit=hit).groupby("company_id")["hit"].agg("all")
    pos = _positions(net.companies["company_id"], pd.Series(by_company.index, dtype=object))
    company_hit = _take(by_company.to_numpy(bool), pos, False)
    if prefectures:
        pref = net.companies["prefecture_code"].astype("string").fillna("").to_numpy(object)
        company_hit |= (pos < 0) & np.isin(pref, list(prefectures))
    own = _positions(net.links["site_id"], sites["site_id"])
    fallback = company_hit[net.node_company[net.link_supplier]]
    return np.where(own >= 0, _take(hit, own, False), fallback), company_hit


def _take(values: np.ndarray, pos: np.ndarray, fill) -> np.ndarray:
    """``values[pos]``, ``fill`` where ``pos`` is -1 (``values`` may be empty)."""
    out = np.full(len(pos), fill, dtype=values.dtype)
    ok = pos >= 0
    out[ok] = values[pos[ok]]
    return out


def _requirement_mask(net: SupplyNetwork, m: dict, options) -> np.ndarray:
    """Requirements a mitigation acts on: its part (id, name, material class or HS prefix),
    optionally one buyer (label, id or name) and one program. With a buyer, only that buyer's
    own requirements are looked at."""
    key = ("part_scope", str(m["part"]), options.label)
    if key not in net.derived:
        net.derived[key] = _part_scope(net, [m["part"]], options)
    part_scope = net.derived[key]
    mask = np.zeros(net.n_requirements, bool)
    if m.get("buyer"):
        idx, missing = _company_index(net, [str(m["buyer"])])
        if missing:
            raise SupplyChainError(f"mitigation {m}: no company {m['buyer']!r} in wave {net.wave}")
        _, at = _csr_rows(net.company_ptr, idx)
        nodes = net.company_node[at]
        if m.get("program"):
            nodes = nodes[net.column("programs", "program_id")[net.node_program[nodes]] == m["program"]]
        _, reqs = _csr_rows(net.node_req_ptr, nodes)
        mask[reqs[part_scope[net.req_part[reqs]]]] = True
        return mask
    mask = part_scope[net.req_part]
    if m.get("program"):
        mask &= net.column("programs", "program_id")[net.node_program[net.req_buyer]] == m["program"]
    return mask


def run(
    con=None,
    scenario=None,
    *,
    wave: int | None = None,
    network: SupplyNetwork | None = None,
    config=None,
    baseline: bool = True,
    capacity: str = "lp",
) -> ScenarioResult:
    """Run ``scenario`` (a mapping, see :func:`normalize`; or a :data:`STANDARD` name) on
    ``wave``: what fails stops its supply links for ``days`` (for good when null), and the time
    model of :mod:`supplychain.risk.timing` carries it up to the primes, after applying the
    mitigations:

    * ``stockpile`` (``part``, ``days``, optional ``buyer``/``program``): more days of stock;
    * ``add_supplier`` (``part``, optional ``buyer``/``program``, ``in_use``): a second source —
      in use (TTR 0) or qualified (the switch lead time);
    * ``substitute`` (``part``, ...): a domestic or allied material — the part's links are not
      stopped by a country;
    * ``succession`` (``company``): a successor takes over — the company does not leave.

    What fails (``fail``): ``companies`` (label, id or name: all they supply); ``countries``
    (``"CN"`` for all goods, or ``{"country": "CN", "parts": [...]}``: see
    :func:`export_ban` for what stops); ``parts`` (every link of those parts); ``prefectures``
    (JIS codes) and ``hazard_zones`` (``nankai``): suppliers' sites there; ``withdrawals``:
    ``{"announced": true}`` (companies with a withdrawal event reported by this wave) and/or
    ``{"predicted": N}`` (the N most likely to leave, :func:`~supplychain.risk.withdrawal`).

    ``capacity``: ``"lp"`` (default) — where the suppliers' spare capacity is known, a linear
    program decides whether the suppliers still delivering can take the volume lost (see
    :func:`capacity_shortfalls`); ``"simple"`` — any supplier in use still delivering takes it.

    The result adds to :class:`ScenarioResult` the days: ``summary["program_days_lost"]``,
    ``summary["value_lost"]`` (yen), and ``programs_lost`` with ``days_lost``/``value_lost``
    per program (every program whose prime stops); ``summary["baseline"]`` holds the same
    scenario without its mitigations (when it has any and ``baseline`` is true).
    """
    from .risk.timing import requirement_times

    if scenario is None:
        raise SupplyChainError("run(con, scenario, wave=...): a scenario is required")
    if capacity not in ("lp", "simple"):
        raise SupplyChainError(f"capacity must be 'lp' or 'simple', got {capacity!r}")
    s = load(con, scenario) if isinstance(scenario, str) and con is not None else normalize(scenario)
    options = load_options(config)
    net = _network(con, wave, None, network)
    fail = s["fail"]
    n_links = len(net.links)
    stop = np.zeros(n_links, bool)
    cause_code = np.zeros(n_links, np.int16)  # index into why (0: not stopped at the start)
    why = [""]
    notes = []

    def mark(links, text):
        """Stop ``links`` (a boolean mask, or link indices); the first cause given is kept."""
        idx = np.flatnonzero(links) if links.dtype == bool else links
        idx = idx[~stop[idx]]
        why.append(text)
        cause_code[idx] = len(why) - 1
        stop[idx] = True

    hit = np.zeros(len(net.companies), bool)  # companies that stop themselves (a prime among them stops its program)
    substitutes = np.zeros(net.n_requirements, bool)
    for m in s["mitigations"]:
        if m["action"] == "substitute":
            substitutes |= _requirement_mask(net, m, options)
    not_substituted = ~substitutes[net.links["req"].to_numpy()] if substitutes.any() else np.ones(n_links, bool)
    if fail.get("companies"):
        idx, missing = _company_index(net, fail["companies"])
        if missing:
            notes.append(f"not in wave {net.wave}: {', '.join(missing)}")
        mark(_supplied_by(net, idx), "company fails")
        hit[idx] = True
    part = net.links["part"].to_numpy()
    if fail.get("countries"):
        tr = cached_trace(con, net, options)
        for entry in fail["countries"]:
            scope = _part_scope(net, entry["parts"], options)[part]
            located, only = first_stops(net, tr, entry["country"], scope & not_substituted)
            mark(located, f"exported from {entry['country']}")
            mark(only, f"material only from {entry['country']}")
    if fail.get("parts"):
        scope = _part_scope(net, fail["parts"], options)[part]
        mark(scope & not_substituted, "part unavailable")
    if fail.get("prefectures") or fail.get("hazard_zones"):
        where = ", ".join([*fail.get("prefectures", []), *fail.get("hazard_zones", [])])
        key = ("site_stops", tuple(fail.get("prefectures", ())), tuple(fail.get("hazard_zones", ())))
        if key not in net.derived:  # sites do not change within a network's life
            net.derived[key] = _site_stops(con, net, prefectures=key[1], zones=key[2])
        links_hit, companies_hit = net.derived[key]
        mark(links_hit, f"site in {where}")
        hit |= companies_hit
    if fail.get("withdrawals"):
        leaving = _leaving(con, net, fail["withdrawals"])
        kept = {str(m["company"]) for m in s["mitigations"] if m["action"] == "succession"}
        if kept:
            idx_kept, _ = _company_index(net, sorted(kept))
            leaving = np.setdiff1d(leaving, idx_kept)
        mark(_supplied_by(net, leaving), "company withdraws")
        hit[leaving] = True

    primes = net.programs["prime_node"].to_numpy()
    primes_hit = primes[(primes >= 0) & hit[net.node_company[np.maximum(primes, 0)]]]
    times = requirement_times(net, options)
    starts = np.flatnonzero(stop).astype(np.int64)
    days = np.inf if s["days"] is None else s["days"]

    def outage(mitigated: bool) -> dict:
        tts, ttr = times["req_tts"], times["req_ttr"]
        if mitigated and s["mitigations"]:
            tts, ttr = tts.copy(), ttr.copy()
            for m in s["mitigations"]:
                if m["action"] == "stockpile":
                    tts[_requirement_mask(net, m, options)] += float(m["days"])
                elif m["action"] == "add_supplier":
                    mask = _requirement_mask(net, m, options)
                    ttr[mask] = 0.0 if m.get("in_use", True) else np.minimum(ttr[mask], options.switch_days)
        start_days = np.full(len(starts), float(days))
        o = _outage(net, starts, start_days, times["link_in_use"], tts, ttr)
        if capacity == "lp":
            spare = net.derived.get("spare_capacity")
            if spare is None:
                spare = net.derived["spare_capacity"] = spare_capacity(con, net)
            forced_links, forced_days = np.zeros(0, np.int64), np.zeros(0)
            for _ in range(20):  # each round only adds requirements the alternatives cannot cover
                more, more_days = capacity_shortfalls(net, o, times["link_in_use"], spare, forced_links)
                if not len(more):
                    break
                forced_links = np.concatenate([forced_links, more])
                forced_days = np.concatenate([forced_days, more_days])
                o = _outage(
                    net,
                    np.concatenate([starts, forced_links]),
                    np.concatenate([start_days, forced_days]),
                    times["link_in_use"],
                    tts,
                    ttr,
                )
            o["capacity_forced"] = len(forced_links)
        return _with_primes(o, primes_hit, days)

    o = outage(True)
    annual = net.programs["annual_value_jpy"].to_numpy(dtype="float64", na_value=np.nan)

    def by_program(o):
        """Days each program's prime stops (a node is the prime of its own program or none)."""
        nodes = o["nodes"]
        is_prime = primes[net.node_program[nodes]] == nodes
        prog_days = np.zeros(len(primes))
        prog_days[net.node_program[nodes[is_prime]]] = o["node_out"][is_prime]
        return prog_days, prog_days * annual / 365

    def figures(o, prog_days, prog_value):
        return {
            "links_stopped_first": int(len(starts)),
            "links_stopped": int((o["link_out"] > 0).sum()),
            "parts_lost": int((o["req_out"] > 0).sum()),
            "buyers_lost": int((o["node_out"] > 0).sum()),
            "programs_lost": int((prog_days > 0).sum()),
            "program_days_lost": float(prog_days.sum()),
            "value_lost": float(np.nansum(prog_value)),
        }

    prog_days, prog_value = by_program(o)
    lost = np.flatnonzero(prog_days > 0)
    summary = figures(o, prog_days, prog_value)
    summary["program_value_lost"] = float(np.nansum(annual[lost])) if len(lost) else 0.0
    if baseline and s["mitigations"]:
        b = outage(False)
        summary["baseline"] = figures(b, *by_program(b))
    if capacity == "lp":
        summary["capacity_shortfalls"] = int(o.get("capacity_forced", 0))
    if notes:
        summary["notes"] = notes

    def dense(index, values, n, fill):
        out = np.full(n, fill, dtype=np.asarray(values).dtype if len(values) else float)
        out[index] = values
        return out

    @functools.cache
    def paths():
        failed = dense(o["nodes"], o["node_out"] > 0, net.n_nodes, False)
        cause_link = dense(o["nodes"], o["node_cause"], net.n_nodes, -1)
        return _Paths(net, failed, cause_link, np.where(stop, -1, 0), s["name"]), dense(
            o["nodes"], o["node_cover"], net.n_nodes, np.inf
        )

    stopped = o["links"][o["link_out"] > 0]
    lost_reqs = o["reqs"][o["req_out"] > 0]
    build = {
        "links_stopped": lambda: _links_stopped(
            net,
            stopped,
            stop,
            None,
            None,
            cause=np.array(why, dtype=object)[cause_code],
            days=dense(o["links"], o["link_out"], n_links, 0.0),
        ),
        "parts_lost": lambda: _parts_lost(net, lost_reqs, paths()[0], dense(o["reqs"], o["req_out"], net.n_requirements, 0.0)),
        "buyers_lost": lambda: _buyers_lost(net, np.sort(o["nodes"][o["node_out"] > 0]), paths()[0]),
        "programs_lost": lambda: pd.DataFrame(
            {
                "program": net.column("programs", "program_id")[lost],
                "program_name": net.column("programs", "name")[lost],
                "annual_value_jpy": annual[lost],
                "days_lost": prog_days[lost],
                "value_lost": prog_value[lost],
                "tts_days": paths()[1][primes[lost]],
                "path": [paths()[0].to(int(primes[p])) for p in lost.tolist()],
            }
        ).sort_values(["days_lost", "program"], ascending=[False, True], kind="stable", ignore_index=True),
    }
    result = ScenarioResult({**s, "wave": net.wave, "config": options.label}, net.wave, summary, build)
    result.program_days = pd.DataFrame(
        {"program": net.column("programs", "program_id")[lost], "days_lost": prog_days[lost], "value_lost": prog_value[lost]}
    )
    if con is not None:
        audit.record(
            con,
            "scenario_run",
            s["name"],
            parameters={"wave": net.wave, "scenario": json.loads(_jsonable(s)), "capacity": capacity, "config": options.label},
            inputs=lambda: {"submissions": audit.submissions_digest(con, net.wave)},
            outputs=lambda: {
                "summary": {k: v for k, v in summary.items() if k != "notes"},
                "programs": audit.frame_digest(result.program_days),
            },
        )
    return result


def _outage(net: SupplyNetwork, starts, days, in_use, tts, ttr) -> dict:
    """One outage cascade from the links ``starts`` stopped for ``days`` (one number, or one per
    start link), on the network's kept
    state arrays (allocated once, reset after use): the links, requirements and nodes touched,
    with their days out (and, for nodes, the inventory cover and the causing link)."""
    from .risk._kernels import _outage_run, outage_state

    state = net.derived.get("outage_state")
    if state is None:
        state = net.derived["outage_state"] = outage_state(len(net.links), net.n_requirements, net.n_nodes)
    link_out, link_cover, req_out, req_hit, node_out, node_cover, node_cause, _, _, tl, tr, tn = state
    n_tl, n_tr, n_tn = _outage_run(
        starts,
        np.broadcast_to(np.asarray(days, dtype=float), (len(starts),)).copy(),
        net.links["req"].to_numpy(),
        net.req_ptr,
        net.req_buyer,
        net.supplies_ptr,
        net.supplies_link,
        in_use,
        tts,
        ttr,
        *state,
    )
    links, reqs, nodes = tl[:n_tl].copy(), tr[:n_tr].copy(), tn[:n_tn].copy()
    out = {
        "links": links,
        "link_out": link_out[links].copy(),
        "reqs": reqs,
        "req_out": req_out[reqs].copy(),
        "nodes": nodes,
        "node_out": node_out[nodes].copy(),
        "node_cover": node_cover[nodes].copy(),
        "node_cause": node_cause[nodes].copy(),
    }
    link_out[links], link_cover[links] = 0.0, np.inf
    req_out[reqs], req_hit[reqs] = 0.0, False
    node_out[nodes], node_cover[nodes], node_cause[nodes] = 0.0, np.inf, -1
    return out


def spare_capacity(con, net: SupplyNetwork) -> np.ndarray:
    """Spare capacity of each company, in yen a year: its deliveries at the wave (all programs)
    × (1 / capacity_use − 1), from the capacity use it reported at the wave (its own return
    first); +inf where either is unknown (the simple rule then applies to it)."""
    from .db import run as sql
    from .graph import _positions
    from .risk.withdrawal import _STATUS

    status = sql(con, _STATUS, [net.wave]).df()
    pos = _positions(net.companies["company_id"], status["company_id"])
    use = _take(status["capacity_use"].to_numpy(dtype="float64", na_value=np.nan), pos, np.nan)
    value = net.links["annual_value_jpy"].to_numpy(dtype="float64", na_value=np.nan)
    company = net.node_company[net.link_supplier]
    delivered = np.bincount(company, weights=np.nan_to_num(value), minlength=len(net.companies))
    unknown = np.bincount(company, weights=np.isnan(value), minlength=len(net.companies)) > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        spare = delivered * (1 / use - 1)
    ok = (use > 0) & (use <= 1) & ~unknown & (delivered > 0)
    return np.where(ok, spare, np.inf)


def capacity_shortfalls(net: SupplyNetwork, o: dict, in_use: np.ndarray, spare: np.ndarray, forced: np.ndarray):
    """The linear program of one disruption: requirements that lost some suppliers in use but
    keep others ask those others for the volume lost (yen a year of the links out); each
    supplier gives at most its spare capacity, shared among all the requirements asking it;
    maximise the volume delivered (scipy's HiGHS). A requirement not fully covered is short: its
    remaining links are returned (to be stopped for as long as its longest outage) with those
    days. Requirements whose volume or whose suppliers' capacity is unknown follow the simple
    rule (covered). ``forced`` lists links already stopped this way."""
    from scipy.optimize import linprog

    n_links = len(net.links)
    out = np.zeros(n_links, bool)
    out_days = np.zeros(n_links)
    out[o["links"]] = o["link_out"] > 0
    out_days[o["links"]] = o["link_out"]
    out[forced] = True
    link_req = net.links["req"].to_numpy()
    mark = np.zeros(net.n_requirements, bool)
    mark[link_req[o["links"][o["link_out"] > 0]]] = True
    hit = np.flatnonzero(mark)
    if not len(hit):
        return np.zeros(0, np.int64), np.zeros(0)
    # every link of the requirements hit, with the row of its requirement among them
    ptr, links = _csr_rows(net.req_ptr, hit)
    row = np.repeat(np.arange(len(hit)), np.diff(ptr))
    use = in_use[links]
    links, row = links[use], row[use]
    gone = out[links]
    n = len(hit)
    n_gone = np.bincount(row, weights=gone, minlength=n)
    n_left = np.bincount(row, weights=~gone, minlength=n)
    value = net.links["annual_value_jpy"].to_numpy(dtype="float64", na_value=np.nan)[links]
    lost = np.bincount(row, weights=np.where(gone, np.nan_to_num(value), 0.0), minlength=n)
    unknown_value = np.bincount(row, weights=gone & np.isnan(value), minlength=n) > 0
    company = net.node_company[net.link_supplier[links]]
    unknown_spare = np.bincount(row, weights=~gone & np.isinf(spare[company]), minlength=n) > 0
    asks = (n_gone > 0) & (n_left > 0) & ~unknown_value & ~unknown_spare  # else the simple rule
    if not asks.any():
        return np.zeros(0, np.int64), np.zeros(0)
    longest = np.zeros(n)
    np.maximum.at(longest, row[gone], out_days[links[gone]])
    pair = asks[row] & ~gone  # (requirement, supplier still delivering)
    p_row, p_company, p_link = row[pair], company[pair], links[pair]
    # a supplier whose spare capacity covers everything asked of it binds nobody: the requirements
    # it delivers to can take all they lost from it, so only the others go to the solver
    asked = np.bincount(p_company, weights=lost[p_row], minlength=len(spare))
    free = spare >= asked
    covered = np.zeros(n, bool)
    covered[p_row[free[p_company]]] = True
    keep = ~covered[p_row]
    p_row, p_company, p_link = p_row[keep], p_company[keep], p_link[keep]
    asks &= ~covered
    if not asks.any():
        return np.zeros(0, np.int64), np.zeros(0)
    reqs = np.flatnonzero(asks)
    r_index = np.searchsorted(reqs, p_row)
    used = np.zeros(len(spare), bool)
    used[p_company] = True
    comps = np.flatnonzero(used)
    c_index = np.searchsorted(comps, p_company)
    m = len(p_row)
    from scipy.sparse import csr_matrix

    a = csr_matrix(
        (np.ones(2 * m), (np.concatenate([r_index, len(reqs) + c_index]), np.tile(np.arange(m), 2))),
        shape=(len(reqs) + len(comps), m),
    )
    b = np.concatenate([lost[reqs], spare[comps]])
    res = linprog(-np.ones(m), A_ub=a, b_ub=b, bounds=(0, None), method="highs")
    if res.status != 0:
        raise SupplyChainError(f"capacity linear program failed: {res.message}")
    delivered = np.bincount(r_index, weights=res.x, minlength=len(reqs))
    short = delivered < lost[reqs] * (1 - 1e-9) - 1e-6
    take = short[r_index]
    return p_link[take].astype(np.int64), longest[p_row[take]]


def _with_primes(o: dict, primes: np.ndarray, days: float) -> dict:
    """``o`` with the prime nodes hit by the scenario itself stopped for ``days`` (no stock
    covers the prime's own stop)."""
    if not len(primes):
        return o
    present = np.isin(o["nodes"], primes)
    o["node_out"][present] = np.maximum(o["node_out"][present], days)
    o["node_cover"][present] = 0.0
    new = np.setdiff1d(primes, o["nodes"][present])
    if len(new):
        o["nodes"] = np.concatenate([o["nodes"], new.astype(np.int64)])
        o["node_out"] = np.concatenate([o["node_out"], np.full(len(new), float(days))])
        o["node_cover"] = np.concatenate([o["node_cover"], np.zeros(len(new))])
        o["node_cause"] = np.concatenate([o["node_cause"], np.full(len(new), -1, np.int64)])
    return o


def _leaving(con, net: SupplyNetwork, spec: dict) -> np.ndarray:
    """Company indices of the withdrawals named: announced (a withdrawal event reported at this
    wave or before) and/or the ``predicted`` N most likely to leave."""
    from .db import run

    out = []
    if spec.get("announced"):
        ids = [c for (c,) in run(con, "SELECT DISTINCT company_id FROM withdrawal_event WHERE wave <= ?", [net.wave]).fetchall()]
        idx, _ = _company_index(net, ids)
        out.append(idx)
    n = int(spec.get("predicted") or 0)
    if n > 0:
        from .risk.withdrawal import withdrawal

        scores = net.derived.get("withdrawal")
        if scores is None:  # scored once per network: scenarios are re-run interactively
            scores = net.derived["withdrawal"] = withdrawal(con, wave=net.wave)
        idx, _ = _company_index(net, scores["company"].head(n).tolist())
        out.append(idx)
    return np.unique(np.concatenate(out)) if out else np.zeros(0, np.int64)


# ---------------------------------------------------------------------------------------------
# saved scenarios


def read(path) -> list[dict]:
    """The scenarios of a ``.json``, ``.yaml`` or ``.yml`` file (one mapping, or a list of
    them), checked (:func:`normalize`); errors name the file."""
    from pathlib import Path

    path = Path(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise SupplyChainError(f"{path}: {path.stat().st_size:,} bytes; a scenario file may be at most {MAX_FILE_BYTES:,}")
        text = path.read_text("utf-8")
    except UnicodeDecodeError:
        raise SupplyChainError(f"{path}: not UTF-8 text") from None
    except OSError as e:
        raise SupplyChainError(f"{path}: cannot read ({e.strerror})") from None
    kind = path.suffix.lower()
    if kind not in (".json", ".yaml", ".yml"):
        raise SupplyChainError(f"{path}: a scenario file is .json, .yaml or .yml")
    try:
        if kind == ".json":
            data = json.loads(text)
        else:
            data = yaml.load(text, Loader=_ScenarioLoader)  # noqa: S506 (a SafeLoader without aliases)
    except Exception as e:  # json.JSONDecodeError, yaml.YAMLError
        raise SupplyChainError(f"{path}: not valid {kind[1:].upper()}: {e}") from None
    items = data if isinstance(data, list) else [data]
    out = []
    for i, item in enumerate(items):
        try:
            out.append(normalize(item))
        except SupplyChainError as e:
            raise SupplyChainError(f"{path}: scenario {i + 1}: {e}") from None
    return out


#: Largest scenario file read (scenarios are a few lines; lists of companies a few MiB at most).
MAX_FILE_BYTES = 16 * 1024**2


class _ScenarioLoader(yaml.SafeLoader):
    """YAML's safe loader without aliases: ``*name`` can make a few lines stand for billions of
    items ("billion laughs"), and a scenario never needs one."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.YAMLError(
                f"aliases (*{event.anchor}) are not allowed in a scenario file (line {event.start_mark.line + 1})"
            )
        return super().compose_node(parent, index)


def _jsonable(s: dict) -> str:
    return json.dumps(s, ensure_ascii=False, sort_keys=True)


def save(con, scenario) -> str:
    """Save ``scenario`` (checked first) under its name, replacing one of that name; returns
    the name. Recorded in the audit log."""
    from .db import run as sql
    from .db import transaction

    s = normalize(scenario)
    user = audit.current_user()
    with transaction(con):
        sql(con, "DELETE FROM scenario WHERE name = ?", [s["name"]])
        sql(
            con,
            "INSERT INTO scenario VALUES (?, ?, ?::JSON, now(), ?)",
            [s["name"], s["description"], _jsonable(s), user],
        )
        sql(con, "INSERT INTO audit_log VALUES (now(), ?, 'scenario_saved', ?, NULL)", [user, s["name"]])
    audit.record(
        con, "scenario_saved", s["name"], parameters={"scenario": hashlib.sha256(_jsonable(s).encode()).hexdigest()}, user=user
    )
    return s["name"]


def _has_scenarios(con) -> bool:
    """A database opened read-only from an older version may not have the table yet."""
    from .db import run as sql

    return bool(sql(con, "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'scenario'").fetchone()[0])


def load(con, name: str) -> dict:
    """A saved scenario by name (or a :data:`STANDARD` one)."""
    from .db import run as sql

    row = sql(con, "SELECT definition FROM scenario WHERE name = ?", [name]).fetchone() if _has_scenarios(con) else None
    if row is None:
        if name in STANDARD:
            return normalize(name)
        known = [n for (n,) in sql(con, "SELECT name FROM scenario ORDER BY name").fetchall()] if _has_scenarios(con) else []
        raise SupplyChainError(f"no scenario {name!r} (saved: {', '.join(known) or 'none'}; standard: {', '.join(STANDARD)})")
    return normalize(json.loads(row[0]))


def saved(con) -> pd.DataFrame:
    """The standard scenarios and those saved: ``name``, ``description``, ``days``, ``source``
    (``standard`` or ``saved``), ``saved_at``."""
    from .db import run as sql

    rows = [
        {"name": n, "description": s["description"], "days": s["days"], "source": "standard", "saved_at": None}
        for n, s in STANDARD.items()
    ]
    for name, description, definition, at in sql(
        con, "SELECT name, description, definition, saved_at FROM scenario ORDER BY name"
    ).fetchall():
        rows.append(
            {
                "name": name,
                "description": description,
                "days": json.loads(definition).get("days"),
                "source": "saved",
                "saved_at": at,
            }
        )
    return pd.DataFrame(rows, columns=["name", "description", "days", "source", "saved_at"])
