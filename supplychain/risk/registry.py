"""The risk register (DESIGN §5.7–5.8): every analysis of a wave as one list of findings —
what is wrong, how bad, why we think so, and what is being done — that lasts across waves.

One row per (wave, finding). A finding is an archetype and a subject:

============================  ============================================  ==================================
archetype (kind)              subject                                       from
============================  ============================================  ==================================
``sourcing`` (sole, single)   program, buyer, part                          :func:`~supplychain.risk.sourcing`
``hidden_convergence``        program, buyer, part, upstream company        :func:`~supplychain.risk.hidden_convergence`
``chokepoint``                company                                       :func:`~supplychain.risk.criticality`
``time_to_recover``           program, company                              :func:`~supplychain.risk.time_to_recover`
``foreign_dependency``        program, country (``program``); program,      :func:`~supplychain.risk.foreign_exposure`,
                              buyer, part (``part``)                        :func:`~supplychain.risk.country_concentration`
``foreign_control``           company, owner                                :func:`~supplychain.risk.foreign_control`
``screening``                 screening-list hit                            :func:`~supplychain.screening.screen`
``withdrawal``                company                                       :func:`~supplychain.risk.early_warning`
``cyber``                     company                                       :func:`~supplychain.risk.cyber_posture`
``aging_facilities``          company                                       :func:`~supplychain.risk.aging_facilities`
``succession``                company                                       :func:`~supplychain.risk.succession`
``financial``                 company                                       :func:`~supplychain.risk.financial_fragility`
``hazard_concentration``      program, buyer, part                          :func:`~supplychain.risk.hazard_concentration`
``data_quality`` (kinds)      what is missing or inconsistent               :func:`~supplychain.risk.data_quality`
============================  ============================================  ==================================

**Scoring.** ``likelihood`` (0–1) is the rule's for its archetype (the ``[register]`` settings of
the configuration; for withdrawal the model's probability). ``impact`` (0–1) is what the risk
would cost if it happened, on one ladder for every archetype: the company concerned failing —
its criticality under the AND/OR rule — stops a program (``impact_program``, 1), stops
deliveries among the wave's largest (``impact_large``), leaves some buyer without a part
(``impact_buyer``), or nothing else (``impact_contained``). A finding about a part takes its buyer
failing in the part's program (at least ``impact_buyer``: the buyer itself stops; a prime stops
its program). Some archetypes set their own: time-to-recover scales with the Risk Exposure
Index, foreign dependency with the program's exposure and whether an export ban would stop it;
cyber findings at companies handling protected information and screening hits are at least
``impact_large``. ``score`` = likelihood × impact; ``severity`` is its band (``critical`` ≥ 0.5,
``high`` ≥ 0.3, ``medium`` ≥ 0.1, else ``low``, configurable). ``basis`` says why in words,
``evidence`` (JSON) gives the figures, paths and source rows, ``rule_version`` the rules and
configuration (or the withdrawal model) that scored it.

**Ids** are the archetype's code and a hash of archetype and subject keys (corporate numbers or
internal ids, program and part keys, country codes), so the same risk in the next wave has the
same id.

**Triage** (``status`` new / open / mitigated / accepted / closed, ``owner``, ``notes``) is set
with :func:`set_finding` (``supplychain finding set``), recorded in ``audit_log`` with who and
when, and carried when the register is written again: re-scoring a wave keeps its triage; the
next wave takes each finding's latest triage, with ``new`` becoming ``open`` (it has been seen)
and ``closed`` reopened as ``open`` with a note (it is back). :func:`diff` compares two waves.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time

import numpy as np
import pandas as pd

from .. import audit
from ..db import registered, run, transaction
from ..exceptions import SupplyChainError
from ..graph import _check_wave
from ..options import load_options

__all__ = [
    "register",
    "findings",
    "set_finding",
    "finding_history",
    "diff",
    "ARCHETYPES",
    "SEVERITIES",
    "STATUSES",
    "RULES_VERSION",
]

log = logging.getLogger(__name__)

#: Version of the register's rules (bumped when a rule changes); with the configuration's label
#: it makes each finding's ``rule_version``.
RULES_VERSION = "register rules 2026.11"

#: Archetypes and the code their ids start with.
ARCHETYPES = {
    "sourcing": "SRC",
    "hidden_convergence": "HCV",
    "chokepoint": "CHK",
    "time_to_recover": "TTR",
    "foreign_dependency": "FDP",
    "foreign_control": "FCT",
    "screening": "SCR",
    "withdrawal": "WDR",
    "cyber": "CYB",
    "aging_facilities": "AGE",
    "succession": "SUC",
    "financial": "FIN",
    "hazard_concentration": "HAZ",
    "data_quality": "DQ",
}
SEVERITIES = ("critical", "high", "medium", "low")
STATUSES = ("new", "open", "mitigated", "accepted", "closed")

#: The register's columns, in order (the ``finding`` table's, without the triage columns).
COLUMNS = [
    "finding_id",
    "wave",
    "archetype",
    "kind",
    "subject",
    "subject_key",
    "company",
    "company_name",
    "programs",
    "part",
    "title",
    "likelihood",
    "impact",
    "score",
    "severity",
    "basis",
    "evidence",
    "rule_version",
    "measure_type",
]
TRIAGE = ["status", "owner", "notes", "first_wave", "triaged_at", "triaged_by"]

# the columns every archetype's rows bring to _assemble
_PIECE = [
    "archetype",
    "kind",
    "subject_key",
    "subject",
    "company",
    "company_name",
    "programs",
    "part",
    "title",
    "likelihood",
    "lbasis",
    "impact_of",  # "company", "buyer" or None (impact_own given)
    "impact_company",
    "impact_program",
    "impact_own",
    "ibasis_own",
    "impact_floor",
    "floor_basis",
    "measure_type",
    "evidence",
    "rule",
]


def _piece(n: int, **cols) -> pd.DataFrame:
    """An archetype's rows in the common form (scalars broadcast, missing columns empty)."""
    data = {}
    for c in _PIECE:
        v = cols.get(c)
        if c == "evidence" and isinstance(v, list):  # dicts -> JSON text at once (dicts are large)
            v = [_evidence_json(e) for e in v]
        if isinstance(v, pd.Series):
            v = v.to_numpy(dtype=object if not pd.api.types.is_numeric_dtype(v.dtype) else None)
        elif isinstance(v, list):
            v = np.array(v, dtype=object) if n else np.empty(0, object)
        elif not isinstance(v, np.ndarray):
            v = np.full(n, v, dtype=object)
        data[c] = v
    return pd.DataFrame(data, index=range(n))


def _obj(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its text columns as Python objects (iterating Arrow strings row by row is slow)."""
    return frame.astype({c: object for c in frame.columns if pd.api.types.is_string_dtype(frame[c].dtype)})


def _split(text) -> list[str]:
    return [x for x in str(text).split("; ") if x] if isinstance(text, str) else []


def _yen(v) -> str:
    return f"¥{v / 1e6:,.0f}m" if v == v and v is not None else "value not reported"


class _Impact:
    """The impact ladder of DESIGN §5.8 over the criticality of the wave."""

    def __init__(self, crit: pd.DataFrame, r):
        self.r = r
        c = crit.set_index("company")
        self.q = float(crit["value_lost"].quantile(r["impact_quantile"])) if len(crit) else 0.0
        self.prog = c["programs_lost"]
        self.parts = c["parts_lost"]
        self.value = c["value_lost"]

    def company(self, labels) -> tuple[np.ndarray, list[str]]:
        r = self.r
        labels = pd.Index(labels, dtype=object)
        prog = self.prog.reindex(labels).fillna(0).to_numpy(float)
        parts = self.parts.reindex(labels).fillna(0).to_numpy(float)
        value = self.value.reindex(labels).fillna(0).to_numpy(float)
        large = self.large(value)
        impact = np.select(
            [prog > 0, large, parts > 0],
            [r["impact_program"], r["impact_large"], r["impact_buyer"]],
            r["impact_contained"],
        )
        words = [
            f"its failure stops {p:.0f} program(s)"
            if p > 0
            else f"its failure stops {_yen(v)}/yr of deliveries (among the largest {1 - r['impact_quantile']:.0%})"
            if lg
            else f"its failure leaves {n:.0f} part(s) without a supplier"
            if n > 0
            else "its failure stops nothing else (its parts have other suppliers in use)"
            for p, v, lg, n in zip(prog, value, large, parts)
        ]
        return impact, words

    def large(self, value_lost) -> np.ndarray:
        """Deliveries lost among the wave's largest (at or above its ``impact_quantile``)."""
        value = np.asarray(value_lost, dtype=float)
        return (value >= self.q) & (value > 0)

    def buyer(self, labels, is_prime) -> tuple[np.ndarray, list[str]]:
        r = self.r
        impact, words = self.company(labels)
        is_prime = np.asarray(is_prime, dtype=bool)
        impact = np.where(is_prime, r["impact_program"], np.maximum(impact, r["impact_buyer"]))
        words = [
            "the buyer is the program's prime: the program stops"
            if p
            else "the buyer stops; " + w.replace("its failure", "its failure in turn")
            for p, w in zip(is_prime, words)
        ]
        return impact, words


def _part_subject(d: pd.DataFrame) -> dict:
    """The subject columns of a finding about a part of a buyer in a program (its impact: the
    buyer failing there)."""
    return dict(
        subject_key=d["program"] + "|" + d["buyer"] + "|" + d["part_id"],
        subject=d["part"] + " for " + d["buyer_name"].fillna(d["buyer"]) + " in " + d["program"],
        company=d["buyer"],
        company_name=d["buyer_name"],
        programs=d["program"],
        part=d["part"],
        impact_of="buyer",
        impact_company=d["buyer"],
        impact_program=d["program"],
    )


def _company_subject(d: pd.DataFrame) -> dict:
    """The subject columns of a finding about a company (its impact: the company failing)."""
    return dict(
        subject_key=d["company"],
        subject=d["company_name"].fillna(d["company"]),
        company=d["company"],
        company_name=d["company_name"],
        impact_of="company",
        impact_company=d["company"],
    )


def _sourcing_rows(src: pd.DataFrame, r) -> pd.DataFrame:
    s = _obj(src[src["classification"].isin(["sole", "single"])])
    kind = s["classification"].to_numpy(object)
    ev = [
        {
            "suppliers": _split(a),
            "supplier_names": _split(b),
            "alternatives_qualified": _int(q),
            "substitutability": sub if isinstance(sub, str) else None,
            "hhi": h,
            "value_jpy": v,
            "sources": _split(f),
        }
        for a, b, q, sub, h, v, f in zip(
            s["suppliers"],
            s["supplier_names"],
            s["alternatives_qualified"],
            s["substitutability"],
            s["hhi"],
            s["value_jpy"],
            s["sources"],
        )
    ]
    return _piece(
        len(s),
        archetype="sourcing",
        kind=kind,
        **_part_subject(s),
        title=[
            f"{k.capitalize()} source: {n} is the only supplier in use of {p} to {b} ({g})"
            for k, n, p, b, g in zip(kind, s["supplier_names"].fillna(s["suppliers"]), s["part"], s["buyer_name"], s["program"])
        ],
        likelihood=np.where(kind == "sole", r["sole_source"], r["single_source"]),
        lbasis=s["basis"],
        measure_type="supply_chain_resilience",
        evidence=ev,
    )


def _convergence_rows(hc: pd.DataFrame, r) -> pd.DataFrame:
    hc = _obj(hc)
    return _piece(
        len(hc),
        archetype="hidden_convergence",
        kind=np.where(hc["direct"].to_numpy(bool), "direct", "upstream"),
        # about the buyer's part (its impact: the buyer failing), but the company to act on is upstream
        **{
            **_part_subject(hc),
            "subject_key": hc["program"] + "|" + hc["buyer"] + "|" + hc["part_id"] + "|" + hc["via_company"],
            "company": hc["via_company"],
            "company_name": hc["via_company_name"],
        },
        title=[
            f"Hidden convergence: {p} of {b} ({g}) has {n} suppliers, but {v} alone can stop them all"
            for p, b, g, n, v in zip(hc["part"], hc["buyer_name"], hc["program"], hc["n_suppliers"], hc["via_company_name"])
        ],
        likelihood=r["hidden_convergence"],
        lbasis=[f"{n} suppliers reported, all of them fail with {v}" for n, v in zip(hc["n_suppliers"], hc["via_company_name"])],
        measure_type="supply_chain_resilience",
        evidence=[{"paths": str(p).split(" | "), "direct": bool(d)} for p, d in zip(hc["path"], hc["direct"])],
    )


def _primes(net) -> dict:
    """Program id -> the label of its prime (programs with a prime in the network)."""
    prime = net.programs["prime_node"].to_numpy()
    has = prime >= 0
    return dict(zip(net.column("programs", "program_id")[has], net.node_labels()[prime[has]]))


def _chokepoint_rows(crit: pd.DataFrame, impact: _Impact, net, r) -> pd.DataFrame:
    """Companies whose failure alone stops a program or deliveries among the wave's largest;
    not the primes themselves (their failure stops their own program by definition)."""
    c = _obj(crit)
    c = c[~c["company"].isin(set(_primes(net).values()))]
    c = c[(c["programs_lost"].to_numpy() > 0) | impact.large(c["value_lost"])]
    return _piece(
        len(c),
        archetype="chokepoint",
        kind=np.where(c["programs_lost"].to_numpy() > 0, "program", "value"),
        **_company_subject(c),
        title=[
            f"Chokepoint: if {n} fails alone, {p} program(s), {b} other companies and {_yen(v)}/yr of deliveries stop"
            for n, p, b, v in zip(c["company_name"], c["programs_lost"], c["buyers_lost"], c["value_lost"])
        ],
        likelihood=r["chokepoint"],
        lbasis="any company can stop (fire, accident, insolvency, leaving the business)",
        measure_type="supply_chain_resilience",
        evidence=[
            {
                "programs_lost": int(p),
                "buyers_lost": int(b),
                "parts_lost": int(n),
                "value_lost": v,
                "program_value_lost": pv,
                "path": path,
                "path_program": pp,
            }
            for p, b, n, v, pv, path, pp in zip(
                c["programs_lost"],
                c["buyers_lost"],
                c["parts_lost"],
                c["value_lost"],
                c["program_value_lost"],
                c["path"],
                c["path_program"],
            )
        ],
    )


def _ttr_rows(ttr: pd.DataFrame, r) -> pd.DataFrame:
    t = _obj(ttr[ttr["days_lost"] > 0])
    own = r["impact_buyer"] + (r["impact_program"] - r["impact_buyer"]) * t["rei"].to_numpy(float)
    return _piece(
        len(t),
        archetype="time_to_recover",
        kind="tts_below_ttr",
        subject_key=t["program"] + "|" + t["company"],
        subject=t["company_name"].fillna(t["company"]) + " in " + t["program"],
        company=t["company"],
        company_name=t["company_name"],
        programs=t["program"],
        title=[
            f"Time to recover exceeds time to survive: {n} takes {a:,.0f} days to replace, inventory covers {b:,.0f}: "
            f"{g} loses {d:,.0f} program-days"
            for n, a, b, g, d in zip(t["company_name"], t["ttr_days"], t["tts_days"], t["program"], t["days_lost"])
        ],
        likelihood=r["ttr_exceeds_tts"],
        lbasis=f"inventory on the way runs out before the supply recovers (likelihood of the company stopping: {r['ttr_exceeds_tts']:g})",
        impact_own=own,
        ibasis_own=[
            f"stops {g} for {d:,.0f} days ({_yen(v)}), Risk Exposure Index {x:.2f}"
            for g, d, v, x in zip(t["program"], t["days_lost"], t["value_lost"], t["rei"])
        ],
        measure_type="supply_chain_resilience",
        evidence=[
            {"ttr_days": a, "tts_days": b, "days_lost": d, "value_lost": v, "rei": x}
            for a, b, d, v, x in zip(t["ttr_days"], t["tts_days"], t["days_lost"], t["value_lost"], t["rei"])
        ],
    )


def _foreign_rows(con, net, fe: pd.DataFrame, cc: pd.DataFrame, options, r) -> list[pd.DataFrame]:
    from ..scenario import export_ban

    f = _obj(fe[(fe["country_group"] == "concern") & (fe["exposure"] > 0)])
    stops: dict[tuple[str, str], str] = {}
    for country in sorted(set(f["country"])):
        lost = export_ban(con, network=net, country=country, config=options).programs_lost
        stops.update({(p, country): path for p, path in zip(lost["program"], lost["path"])})
    ban = np.array([(p, c) in stops for p, c in zip(f["program"], f["country"])], dtype=bool)
    exposure = f["exposure"].to_numpy(float)
    own = np.select([ban, exposure >= r["concern_exposure_large"]], [r["impact_program"], r["impact_large"]], r["impact_buyer"])
    programs = _piece(
        len(f),
        archetype="foreign_dependency",
        kind="program",
        subject_key=f["program"] + "|" + f["country"],
        subject=f["program"] + " on " + f["country_name"].fillna(f["country"]),
        programs=f["program"],
        title=[
            f"Foreign dependency: {g} takes {e:.1%} of its need from {n} ({c}), entering at tier {t}"
            + ("; an export ban from it stops the program" if b else "")
            for g, e, n, c, t, b in zip(f["program"], exposure, f["country_name"], f["country"], f["first_tier"], ban)
        ],
        likelihood=r["concern_country"],
        lbasis=[f"{c} is a country of concern ({lists})" for c, lists in zip(f["country"], f["country_lists"])],
        impact_own=own,
        ibasis_own=[
            f"an export ban from {c} stops the program" if b else f"{e:.1%} of the program's need traced to {c}"
            for c, b, e in zip(f["country"], ban, exposure)
        ],
        measure_type="supply_chain_resilience",
        evidence=[
            {
                "exposure": e,
                "first_tier": _int(t),
                "n_parts": int(n),
                "n_suppliers": int(s),
                "export_ban_stops_program": bool(b),
                "export_ban_path": stops.get((g, c)),
            }
            for e, t, n, s, b, g, c in zip(
                exposure, f["first_tier"], f["n_parts"], f["n_suppliers"], ban, f["program"], f["country"]
            )
        ],
        rule=[f"{RULES_VERSION}; {lists}" for lists in f["country_lists"]],
    )
    p = _obj(cc[cc["concern_share"] >= r["concern_part_share"] - 1e-12])
    parts = _piece(
        len(p),
        archetype="foreign_dependency",
        kind="part",
        **_part_subject(p),
        title=[
            f"Foreign dependency: {s:.0%} of {part} for {b} ({g}) traces to countries of concern ({mix})"
            for s, part, b, g, mix in zip(p["concern_share"], p["part"], p["buyer_name"], p["program"], p["countries"])
        ],
        likelihood=r["concern_country"] * p["concern_share"].to_numpy(float),
        lbasis=[
            f"{s:.0%} of the part from countries of concern ({lists}): {r['concern_country']:g} × {s:.2f}"
            for s, lists in zip(p["concern_share"], p["country_lists"])
        ],
        measure_type="supply_chain_resilience",
        evidence=[
            {"countries": mix, "concern_share": s, "unknown_share": u, "hhi": h}
            for mix, s, u, h in zip(p["countries"], p["concern_share"], p["unknown_share"], p["hhi"])
        ],
        rule=[f"{RULES_VERSION}; {lists}" for lists in p["country_lists"]],
    )
    return [programs, parts]


def _control_rows(fc: pd.DataFrame, r) -> pd.DataFrame:
    fc = _obj(fc)
    base = (
        fc["relation"]
        .map(
            {
                "control": r["foreign_control"],
                "significant_influence": r["foreign_significant_influence"],
                "notifiable": r["foreign_notifiable"],
            }
        )
        .to_numpy(float)
    )
    allied = (fc["owner_group"] == "allied").to_numpy()
    likelihood = np.where(allied, base * r["allied_factor"], base)
    return _piece(
        len(fc),
        archetype="foreign_control",
        kind=fc["relation"],
        subject_key=fc["company"] + "|" + fc["owner"],
        subject=fc["company_name"].fillna(fc["company"]) + " held by " + fc["owner_name"].fillna(fc["owner"]),
        company=fc["company"],
        company_name=fc["company_name"],
        programs=fc["programs"],
        title=[
            f"Foreign {rel.replace('_', ' ')}: {o} ({c}) holds {s:.0%} of the votes of {n}"
            for rel, o, c, s, n in zip(
                fc["relation"], fc["owner_name"], fc["owner_country"], fc["controlled_share"], fc["company_name"]
            )
        ],
        likelihood=likelihood,
        lbasis=[
            f"{rel.replace('_', ' ')} by an owner in {c} ({g})" + (f", allied: × {r['allied_factor']:g}" if a else "")
            for rel, c, g, a in zip(fc["relation"], fc["owner_country"], fc["owner_group"], allied)
        ],
        impact_of="company",
        impact_company=fc["company"],
        measure_type="supply_chain_resilience",
        evidence=[
            {"controlled_share": s, "economic_share": e, "direct": bool(d), "path": p, "owner_group": g}
            for s, e, d, p, g in zip(fc["controlled_share"], fc["economic_share"], fc["direct"], fc["path"], fc["owner_group"])
        ],
        rule=[f"{RULES_VERSION}; {lists}" for lists in fc["country_lists"]],
    )


def _screening_rows(con, net, r) -> pd.DataFrame:
    hits = run(
        con,
        """SELECT h.*, o.company AS owned FROM screening_hit h
           LEFT JOIN (SELECT o.owner_name, min(coalesce(c.corporate_number, c.company_id)) AS company
                      FROM ownership o JOIN company c USING (company_id) WHERE o.wave = ? GROUP BY o.owner_name) o
             ON h.subject_kind = 'owner' AND o.owner_name = h.subject
           WHERE h.status IN ('pending', 'confirmed')
           ORDER BY h.hit_id""",
        [net.wave],
    ).df()
    present = set(net.column("companies", "label"))
    company = np.where(hits["subject_kind"] == "company", hits["subject"], hits["owned"])
    keep = np.array([c in present for c in company], dtype=bool)
    h, company = _obj(hits[keep]), company[keep]
    confirmed = (h["status"] == "confirmed").to_numpy()
    strong = h["strong"].to_numpy(dtype=bool, na_value=False)
    return _piece(
        len(h),
        archetype="screening",
        kind=h["status"],
        subject_key=h["hit_id"],
        subject=h["subject_name"].fillna(h["subject"]) + " ~ " + h["entry_name"],
        company=company,
        company_name=[n if k == "company" else None for n, k in zip(h["subject_name"], h["subject_kind"])],
        title=[
            f"Screening: {s} ({k}) matches {e} on {lst} (score {sc:.0f}, {st})"
            for s, k, e, lst, sc, st in zip(
                h["subject_name"], h["subject_kind"], h["entry_name"], h["list_name"], h["score"], h["status"]
            )
        ],
        likelihood=np.select([confirmed, strong], [r["screening_confirmed"], r["screening_strong"]], r["screening_weak"]),
        lbasis=[
            "confirmed by a reviewer" if c else f"{'strong' if s else 'possible'} name match awaiting review: {why}"
            for c, s, why in zip(confirmed, strong, h["reason"])
        ],
        impact_of="company",
        impact_company=company,
        impact_floor=r["impact_large"],
        floor_basis="a listed end user or owner in the supply chain",
        evidence=[
            {"list": lst, "entry_id": e, "matched_name": m, "matched_alias": a, "score": s, "decided_by": d, "note": n}
            for lst, e, m, a, s, d, n in zip(
                h["list_name"], h["entry_id"], h["matched_name"], h["matched_alias"], h["score"], h["decided_by"], h["note"]
            )
        ],
    )


def _withdrawal_rows(ew: pd.DataFrame, r) -> pd.DataFrame:
    w = _obj(ew[ew["priority"].isin(["act", "watch"])])
    prob = w["probability"].to_numpy(float)
    likelihood = np.where(np.isnan(prob), np.clip(w["points"].to_numpy(float) / 10.0, 0, 1), prob)
    return _piece(
        len(w),
        archetype="withdrawal",
        kind=w["priority"],
        **_company_subject(w),
        title=[
            f"Withdrawal risk ({p}): {n} may leave the defense business before the next wave"
            + (f" (probability {q:.0%})" if q == q else f" ({pt:.0f} expert points)")
            for p, n, q, pt in zip(w["priority"], w["company_name"], prob, w["points"])
        ],
        likelihood=likelihood,
        lbasis=[d if q == q else f"{d} (expert points {pt:.0f} / 10)" for d, q, pt in zip(w["drivers"], prob, w["points"])],
        measure_type=w["measure_type"],
        evidence=[
            {"probability": q, "points": pt, "measure": m, "expected_value_lost": e}
            for q, pt, m, e in zip(prob, w["points"], w["measure"], w["expected_value_lost"])
        ],
        rule=[f"{m}; {RULES_VERSION}" for m in w["method"]],
    )


def _company_rows(
    d: pd.DataFrame, archetype: str, kind, title: list[str], measure: str | None, figures: list[str], **extra
) -> pd.DataFrame:
    """Rows of a company-level archetype (cyber, aging, succession, financial)."""
    d = _obj(d)
    return _piece(
        len(d),
        archetype=archetype,
        kind=kind,
        **_company_subject(d),
        title=title,
        likelihood=d["likelihood"],
        lbasis=d["basis"],
        measure_type=measure,
        evidence=[
            {**dict(zip(figures, vals)), "source": f"{a}:{b}:{c}"}
            for a, b, c, *vals in zip(d["source_file"], d["source_sheet"], d["source_row"], *(d[f] for f in figures))
        ],
        **extra,
    )


def _hazard_rows(hz: pd.DataFrame, r) -> pd.DataFrame:
    hz = _obj(hz)
    return _piece(
        len(hz),
        archetype="hazard_concentration",
        kind=hz["kind"],
        **_part_subject(hz),
        title=[
            f"Hazard concentration: {s:.0%} of {p} for {b} ({g}) comes from "
            + ("the Nankai Trough area" if k == "nankai_zone" else f"one prefecture ({a})")
            for s, p, b, g, k, a in zip(hz["share_in_area"], hz["part"], hz["buyer_name"], hz["program"], hz["kind"], hz["area"])
        ],
        likelihood=hz["likelihood"],
        lbasis=hz["basis"],
        measure_type="supply_chain_resilience",
        evidence=[
            {"area": a, "share_in_area": s, "suppliers": _split(x), "p30": p}
            for a, s, x, p in zip(hz["area"], hz["share_in_area"], hz["suppliers"], hz["p30"])
        ],
    )


def _quality_rows(dq: pd.DataFrame, r) -> pd.DataFrame:
    dq = _obj(dq)
    kind = dq["kind"].to_numpy(object)
    by_company = np.isin(kind, ["non_response", "entity_review"])
    own = np.where(np.isin(kind, ["unknown_origin", "cycle"]), r["impact_buyer"], r["impact_contained"])
    return _piece(
        len(dq),
        archetype="data_quality",
        kind=kind,
        subject_key=dq["kind"] + "|" + dq["key"].astype(str),
        subject=[
            " ".join(str(x) for x in (k.replace("_", " "), g, n if n == n and n is not None else c) if x == x and x is not None)
            for k, g, n, c in zip(kind, dq["program"], dq["company_name"], dq["company"])
        ],
        company=dq["company"],
        company_name=dq["company_name"],
        programs=dq["program"],
        title=["Data quality (" + k.replace("_", " ") + "): " + d for k, d in zip(kind, dq["detail"])],
        likelihood=dq["likelihood"],
        lbasis="a gap in the data may hide a risk: follow up with the respondent",
        impact_of=np.where(by_company, "company", None),
        impact_company=dq["company"],
        impact_own=np.where(by_company, np.nan, own),
        ibasis_own=np.where(
            kind == "unknown_origin",
            "the program's dependence on foreign countries is partly unknown",
            np.where(
                kind == "cycle", "companies supply each other: tiers and impacts there are uncertain", "analyses unaffected"
            ),
        ),
        evidence=[
            {"detail": d, "source": f"{a}:{b}:{c:.0f}" if c == c and c is not None else (a if isinstance(a, str) else None)}
            for d, a, b, c in zip(dq["detail"], dq["source_file"], dq["source_sheet"], dq["source_row"])
        ],
    )


def _company_programs(net) -> pd.Series:
    """Company label -> the programs it is part of, '; '-separated, in program-id order."""
    pids = net.column("programs", "program_id").astype(object)
    order = np.argsort(pids.astype(str), kind="stable")
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    pairs = np.unique(net.node_company.astype(np.int64) * len(pids) + rank[net.node_program])
    company, prog = pairs // len(pids), pids[order[pairs % len(pids)]]
    starts = np.flatnonzero(np.r_[True, company[1:] != company[:-1]])
    text = ["; ".join(g) for g in np.split(prog, starts[1:])] if len(pairs) else []
    labels = net.column("companies", "label").astype(object)
    return pd.Series(text, index=labels[company[starts]], dtype=object)


def _finding_id(archetype: str, key: str) -> str:
    return f"{ARCHETYPES[archetype]}-{hashlib.sha1(f'{archetype}|{key}'.encode()).hexdigest()[:12]}"


def _assemble(pieces: list[pd.DataFrame], impact: _Impact, net, options) -> pd.DataFrame:
    """The findings of every piece, scored, in the register's order. Each piece is finished (and
    let go) before the next, so only the compact finished frames live together."""
    programs = _company_programs(net)
    done = []
    while pieces:
        piece = pieces.pop(0)
        if len(piece):
            done.append(_finish(_obj(piece), impact, net, options, programs))
        del piece
    out = pd.concat(done, ignore_index=True) if done else _finish(_piece(0), impact, net, options, programs)
    del done
    dup = out["finding_id"].duplicated(keep="first")
    if dup.any():  # the same subject twice in one analysis (a part of one buyer in two requirement rows): one finding
        log.info("%d subjects found twice by one analysis: kept the highest-scoring row", int(dup.sum()))
    rank = out["severity"].map({s: i for i, s in enumerate(SEVERITIES)})
    order = pd.DataFrame({"r": rank, "s": -out["score"], "a": out["archetype"], "i": out["finding_id"]})
    order = order.sort_values(["r", "s", "a", "i"], kind="stable").index.to_numpy()
    first = ~out["finding_id"].take(order).duplicated(keep="first").to_numpy()
    return out.take(order[first]).reset_index(drop=True)


def _finish(f: pd.DataFrame, impact: _Impact, net, options, programs: pd.Series) -> pd.DataFrame:
    """One piece's rows as findings: impact, score, severity, basis, id, evidence with the wave."""
    r = options.register
    n = len(f)
    f["programs"] = f["programs"].where(f["programs"].notna(), f["company"].map(programs))
    # impact: the archetype's own, or the ladder of the company (or the buyer) concerned
    value = f["impact_own"].to_numpy(dtype=float, na_value=np.nan, copy=True)
    words = f["ibasis_own"].to_numpy(dtype=object, copy=True)
    is_co = (f["impact_of"] == "company").to_numpy()
    if is_co.any():
        v, w = impact.company(f.loc[is_co, "impact_company"])
        value[is_co] = v
        words[is_co] = w
    is_b = (f["impact_of"] == "buyer").to_numpy()
    if is_b.any():
        prime = _primes(net)
        sub = f.loc[is_b]
        is_prime = [prime.get(g) == b for g, b in zip(sub["impact_program"], sub["impact_company"])]
        v, w = impact.buyer(sub["impact_company"], is_prime)
        value[is_b] = v
        words[is_b] = w
    floor = f["impact_floor"].to_numpy(dtype=float, na_value=0.0)
    raised = floor > value
    value = np.maximum(value, floor)
    words = np.where(raised, f["floor_basis"].astype(object).to_numpy(), words)
    likelihood = np.clip(f["likelihood"].to_numpy(dtype=float), 0, 1).round(6)
    value = value.round(6)
    score = (likelihood * value).round(6)
    severity = np.select([score >= r["critical"], score >= r["high"], score >= r["medium"]], list(SEVERITIES[:3]), "low")
    out = pd.DataFrame(
        {
            "finding_id": [_finding_id(a, k) for a, k in zip(f["archetype"], f["subject_key"])],
            "wave": net.wave,
            "archetype": f["archetype"].astype(object),
            "kind": f["kind"].astype(object),
            "subject": f["subject"].astype(object),
            "subject_key": f["subject_key"].astype(object),
            "company": f["company"].astype(object),
            "company_name": f["company_name"].astype(object),
            "programs": f["programs"].astype(object),
            "part": f["part"].astype(object),
            "title": f["title"].astype(object),
            "likelihood": likelihood,
            "impact": value,
            "score": score,
            "severity": severity,
            "basis": [
                f"likelihood {lk:.2f}: {lb}; impact {iv:.2f}: {ib}"
                for lk, lb, iv, ib in zip(likelihood, f["lbasis"], value, words)
            ],
            # the wave first, then the analysis' figures (sorted keys)
            "evidence": [f'{{"wave": {net.wave}' + (", " + e[1:] if e != "{}" else "}") for e in f["evidence"]],
            "rule_version": f["rule"].where(f["rule"].notna(), f"{RULES_VERSION}; {options.label}").astype(object),
            "measure_type": f["measure_type"].astype(object),
        },
        index=range(n),
    )
    text = [c for c in out.columns if out[c].dtype == object]
    return out.astype(dict.fromkeys(text, "str"))  # Arrow strings: a fraction of the memory of Python objects


def _evidence_json(e: dict) -> str:
    """Evidence as strict JSON: sorted keys, missing values (NaN) as null."""
    clean = {k: None if isinstance(x, float) and x != x else x for k, x in e.items()}
    return json.dumps(clean, ensure_ascii=False, sort_keys=True, allow_nan=False, default=_json_default)


def _int(x) -> int | None:
    return None if x != x or x is None else int(x)


def _json_default(x):
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return None if np.isnan(x) else float(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return str(x)


def register(
    con,
    *,
    wave: int,
    network=None,
    results: dict | None = None,
    store: bool = True,
    config=None,
    model=None,
    progress: bool = False,
) -> pd.DataFrame:
    """The risk register of ``wave``: every archetype's findings, scored (see the module
    docstring), one row per finding, most severe first (then score, archetype, id).

    With ``store`` (the default) the register is written to the ``finding`` table in one
    transaction, replacing that wave's earlier register and carrying the triage (status, owner,
    notes) of earlier registers; the frame returned then has the triage columns too.
    ``results`` (table name -> frame, as :func:`~supplychain.risk.score.score` returns) and
    ``network`` reuse analyses already run; ``model`` is the withdrawal model as in
    :func:`~supplychain.risk.early_warning`.

    Columns: ``finding_id``, ``wave``, ``archetype``, ``kind``, ``subject``, ``subject_key``,
    ``company``, ``company_name``, ``programs``, ``part``, ``title``, ``likelihood``,
    ``impact``, ``score``, ``severity``, ``basis``, ``evidence`` (JSON text), ``rule_version``,
    ``measure_type`` (and, stored, ``status``, ``owner``, ``notes``, ``first_wave``,
    ``triaged_at``, ``triaged_by``).
    """
    from ..graph import supply_network
    from .archetypes import aging_facilities, cyber_posture, data_quality, financial_fragility, hazard_concentration, succession
    from .foreign import country_concentration, foreign_exposure
    from .ownership import foreign_control
    from .propagation import criticality, hidden_convergence
    from .sourcing import sourcing
    from .timing import time_to_recover
    from .withdrawal import early_warning

    wave = _check_wave(con, wave)
    options = load_options(config)
    r = options.register
    results = dict(results or {})
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=16, desc="register", unit="step")

    def get(name, fn):
        """The analysis ``name``: the caller's result, else computed (and not kept: each piece is
        built right after its analysis, so the big frames do not all live at once)."""
        t = time.perf_counter()
        out = results[name] if name in results else fn()
        if bar is not None:
            bar.set_postfix_str(name)
            bar.update(1)
        log.info("register %s: %.1f s", name, time.perf_counter() - t)
        return out

    net = network if network is not None else get("_network", lambda: supply_network(con, wave=wave))
    crit = get("criticality", lambda: criticality(network=net))
    impact = _Impact(crit, r)
    pieces = [_sourcing_rows(get("sourcing", lambda: sourcing(con, wave=wave)), r)]
    pieces.append(_convergence_rows(get("hidden_convergence", lambda: hidden_convergence(network=net)), r))
    pieces.append(_chokepoint_rows(crit, impact, net, r))
    ttr = net.derived.get("time_to_recover")
    if ttr is None:
        ttr = net.derived["time_to_recover"] = get("time_to_recover", lambda: time_to_recover(con, network=net, config=options))
    pieces.append(_ttr_rows(ttr, r))
    fe = get("foreign_exposure", lambda: foreign_exposure(con, network=net, config=options))
    concentration = get("country_concentration", lambda: country_concentration(con, network=net, config=options))
    pieces += _foreign_rows(con, net, fe, concentration, options, r)
    del concentration
    pieces.append(_control_rows(get("foreign_control", lambda: foreign_control(con, wave=wave, config=options)), r))
    pieces.append(get("_screening", lambda: _screening_rows(con, net, r)))
    ew = get("early_warning", lambda: early_warning(con, wave=wave, criticality_scores=crit, model=model))
    pieces.append(_withdrawal_rows(ew, r))
    del ew
    cy = get("cyber", lambda: cyber_posture(con, wave=wave, config=options))
    pieces.append(
        _company_rows(
            cy,
            "cyber",
            np.where(cy["protected"].to_numpy(bool), "protected_information", "assessment"),
            [f"Cyber posture: {n} does not meet {m or 'the minimum score'}" for n, m in zip(cy["company_name"], cy["missing"])],
            "cybersecurity",
            ["n_missing", "missing", "score_ratio", "incidents_12m", "protected"],
            impact_floor=np.where(cy["protected"].to_numpy(bool), r["impact_large"], 0.0),
            floor_basis="handles protected information: a breach is a large impact whatever the supply consequence",
        )
    )
    ag = get("aging_facilities", lambda: aging_facilities(con, wave=wave, config=options))
    pieces.append(
        _company_rows(
            ag,
            "aging_facilities",
            "equipment",
            [
                f"Aging facilities: {n}'s equipment is {a:.0f} years old on average"
                for n, a in zip(ag["company_name"], ag["equipment_age_years"])
            ],
            "manufacturing_efficiency",
            ["equipment_age_years"],
        )
    )
    su = get("succession", lambda: succession(con, wave=wave, config=options))
    pieces.append(
        _company_rows(
            su,
            "succession",
            np.array([str(h).replace(" ", "_") for h in su["successor"]], dtype=object),
            [
                f"Succession: {n}'s owner is {a:.0f}, {str(b).split(', ', 1)[-1]}"
                for n, a, b in zip(su["company_name"], su["owner_age"], su["basis"])
            ],
            "business_succession",
            ["owner_age", "successor"],
        )
    )
    fi = get("financial", lambda: financial_fragility(con, wave=wave, config=options))
    pieces.append(
        _company_rows(
            fi,
            "financial",
            np.where(
                fi["defense_margin"].to_numpy(float) < 0,
                "loss",
                np.where(fi["defense_margin"].to_numpy(float) < r["margin_low"], "low_margin", "falling_margin"),
            ),
            [f"Financial fragility: {n}: {b}" for n, b in zip(fi["company_name"], fi["basis"])],
            "manufacturing_efficiency",
            ["defense_margin", "margin_change", "order_trend", "defense_sales_share"],
        )
    )
    hz = get("hazard_concentration", lambda: hazard_concentration(con, network=net, config=options))
    pieces.append(_hazard_rows(hz, r))
    dq = get("data_quality", lambda: data_quality(con, network=net, exposure=fe, config=options))
    pieces.append(_quality_rows(dq, r))
    out = _assemble(pieces, impact, net, options)
    if bar is not None:
        bar.close()
    if store:
        out = _store(con, out, wave)
    out.attrs.update(wave=wave, config=options.label, rules=RULES_VERSION)
    return out


def _store(con, frame: pd.DataFrame, wave: int) -> pd.DataFrame:
    """Write ``frame`` as the register of ``wave``, carrying triage (see the module docstring)."""
    user = audit.current_user()
    cols = ", ".join(COLUMNS)
    with transaction(con), registered(con, "_sc_register", frame[COLUMNS]):
        run(
            con,
            """CREATE OR REPLACE TEMP TABLE _sc_prior AS
               SELECT f.finding_id, f.wave, f.status, f.owner, f.notes, f.first_wave, f.triaged_at, f.triaged_by
               FROM finding f JOIN _sc_register n USING (finding_id)
               WHERE f.wave <= ?
               QUALIFY row_number() OVER (PARTITION BY f.finding_id ORDER BY f.wave DESC) = 1""",
            [wave],
        )
        run(con, "DELETE FROM finding WHERE wave = ?", [wave])
        run(
            con,
            f"""INSERT INTO finding ({cols}, {", ".join(TRIAGE)})
                SELECT n.*,
                       CASE WHEN p.finding_id IS NULL THEN 'new'
                            WHEN p.wave = n.wave THEN p.status
                            WHEN p.status IN ('new', 'closed') THEN 'open'
                            ELSE p.status END,
                       p.owner,
                       CASE WHEN p.wave < n.wave AND p.status = 'closed'
                            THEN concat_ws(chr(10), p.notes, strftime(now(), '%Y-%m-%d') || ' supplychain: reopened, found again in wave ' || n.wave)
                            ELSE p.notes END,
                       coalesce(p.first_wave, n.wave), p.triaged_at, p.triaged_by
                FROM _sc_register n LEFT JOIN _sc_prior p USING (finding_id)""",
        )
        # counted apart: DuckDB 1.x returns no row count from an INSERT run through con.sql()
        reopened = run(con, "SELECT count(*) FROM _sc_prior WHERE wave < ? AND status = 'closed'", [wave]).fetchone()[0]
        run(
            con,
            """INSERT INTO audit_log
               SELECT now(), ?, 'finding_reopened', finding_id, ?
               FROM _sc_prior WHERE wave < ? AND status = 'closed' ORDER BY finding_id""",
            [user, json.dumps({"wave": wave, "status": ["closed", "open"]}), wave],
        )
        run(con, "DROP TABLE _sc_prior")
        run(
            con,
            "INSERT INTO audit_log VALUES (now(), ?, 'register_written', ?, ?)",
            [user, f"wave {wave}", json.dumps({"findings": len(frame), "reopened": reopened})],
        )
    audit.record(
        con,
        "register_written",
        f"wave {wave}",
        parameters={"wave": wave, "rules": RULES_VERSION},
        outputs=lambda: {"findings": len(frame), "reopened": int(reopened), "register": audit.frame_digest(frame[COLUMNS])},
        user=user,
    )
    # the triage as stored, beside the frame (reading the whole register back would double it)
    triage = run(con, f"SELECT finding_id, {', '.join(TRIAGE)} FROM finding WHERE wave = ?", [wave]).df()
    triage = triage.set_index("finding_id").reindex(frame["finding_id"])
    return frame.assign(**{c: triage[c].to_numpy() for c in TRIAGE})


def _register_waves(con) -> list[int]:
    return [w for (w,) in run(con, "SELECT DISTINCT wave FROM finding ORDER BY wave").fetchall()]


def _stored_wave(con, wave) -> int:
    waves = _register_waves(con)
    if not waves:
        raise SupplyChainError("no risk register stored yet: run `supplychain score` (or sc.risk.register)")
    if wave is None:
        return waves[-1]
    if wave not in waves:
        raise SupplyChainError(
            f"no risk register stored for wave {wave} (stored: {', '.join(map(str, waves))}); run `supplychain score --wave {wave}`"
        )
    return wave


#: SQL template: the rank of a severity column ({} = the column), 0 = critical.
_SEVERITY_RANK = "CASE {} " + " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(SEVERITIES)) + " END"
#: SQL: the finding concerns the program bound as its parameter.
_CONCERNS = "list_contains(string_split(programs, '; '), ?)"


def findings(
    con,
    *,
    wave: int | None = None,
    program: str | None = None,
    min_severity: str | None = None,
    archetype: str | None = None,
    status: str | None = None,
    company: str | None = None,
    finding_id: str | None = None,
) -> pd.DataFrame:
    """The stored register of ``wave`` (default: the latest stored), most severe first, filtered
    by ``program`` (findings concerning it), ``min_severity`` (that band and worse),
    ``archetype``, triage ``status``, ``company`` (label) and ``finding_id``."""
    wave = _stored_wave(con, wave)
    where, params = ["wave = ?"], [wave]
    if program is not None:
        where.append(_CONCERNS)
        params.append(program)
    if min_severity is not None:
        if min_severity not in SEVERITIES:
            raise SupplyChainError(f"min_severity must be one of {', '.join(SEVERITIES)}, got {min_severity!r}")
        where.append("list_contains(?, severity)")
        params.append(list(SEVERITIES[: SEVERITIES.index(min_severity) + 1]))
    if archetype is not None:
        if archetype not in ARCHETYPES:
            raise SupplyChainError(f"archetype must be one of {', '.join(ARCHETYPES)}, got {archetype!r}")
        where.append("archetype = ?")
        params.append(archetype)
    if status is not None:
        if status not in STATUSES:
            raise SupplyChainError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
        where.append("status = ?")
        params.append(status)
    for column, value in (("company", company), ("finding_id", finding_id)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    order = _SEVERITY_RANK.format("severity")
    return run(
        con,
        f"SELECT {', '.join(COLUMNS + TRIAGE)} FROM finding WHERE {' AND '.join(where)} ORDER BY {order}, score DESC, archetype, finding_id",
        params,
    ).df()


def set_finding(
    con,
    finding_id: str,
    *,
    status: str | None = None,
    owner: str | None = None,
    note: str | None = None,
    wave: int | None = None,
    user: str | None = None,
) -> dict:
    """Triage finding ``finding_id`` in ``wave`` (default: the latest wave whose register holds
    it): set its ``status`` (new, open, mitigated, accepted, closed) and ``owner``, append
    ``note`` (dated and signed); record the change in ``audit_log`` (who, when, before and
    after). Returns the finding's triage after the change."""
    if status is not None and status not in STATUSES:
        raise SupplyChainError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
    if status is None and owner is None and note is None:
        raise SupplyChainError("nothing to set: give a status, an owner or a note")
    user = user or audit.current_user()
    sql = "SELECT wave, status, owner, notes FROM finding WHERE finding_id = ?"
    params = [finding_id]
    if wave is not None:
        sql += " AND wave = ?"
        params.append(wave)
    found = run(con, sql + " ORDER BY wave DESC LIMIT 1", params).fetchone()
    if found is None:
        where = f" in wave {wave}" if wave is not None else ""
        raise SupplyChainError(f"no finding {finding_id!r}{where}: `supplychain findings` lists them")
    at_wave, old_status, old_owner, old_notes = found
    new_status = status or old_status
    new_owner = owner if owner is not None else old_owner
    new_notes = old_notes
    with transaction(con):
        stamp = run(con, "SELECT strftime(now(), '%Y-%m-%d %H:%M')").fetchone()[0]
        if note:
            new_notes = "\n".join(filter(None, [old_notes, f"{stamp} {user}: {note}"]))
        run(
            con,
            """UPDATE finding SET status = ?, owner = ?, notes = ?, triaged_at = now(), triaged_by = ?
               WHERE finding_id = ? AND wave = ?""",
            [new_status, new_owner, new_notes, user, finding_id, at_wave],
        )
        detail = {"wave": at_wave, "status": [old_status, new_status], "owner": [old_owner, new_owner], "note": note}
        run(
            con,
            "INSERT INTO audit_log VALUES (now(), ?, 'finding_set', ?, ?)",
            [user, finding_id, json.dumps(detail, ensure_ascii=False)],
        )
    audit.record(con, "finding_set", finding_id, parameters=detail, user=user)
    return {"finding_id": finding_id, "wave": at_wave, "status": new_status, "owner": new_owner, "notes": new_notes}


def finding_history(con, finding_id: str) -> pd.DataFrame:
    """Every triage change of ``finding_id`` (and its reopenings), oldest first: ``at``,
    ``user_name``, ``action``, ``detail``."""
    return run(
        con,
        """SELECT "at", user_name, action, detail FROM audit_log
           WHERE target = ? AND action IN ('finding_set', 'finding_reopened') ORDER BY "at", action""",
        [finding_id],
    ).df()


#: Order of the changes in :func:`diff`.
CHANGES = ("new", "worse", "better", "resolved", "unchanged")


def diff(con, wave_a: int, wave_b: int, *, program: str | None = None, config=None) -> pd.DataFrame:
    """What changed in the stored register from ``wave_a`` to ``wave_b``: one row per finding
    of either, ``change`` ∈ new (only in b), resolved (only in a), worse / better (a higher /
    lower severity band, or in the same band a score higher / lower by at least
    ``diff_tolerance``), unchanged.

    Columns: ``change``, ``finding_id``, ``archetype``, ``kind``, ``subject``, ``programs``,
    ``severity_a``, ``severity_b``, ``score_a``, ``score_b``, ``title`` (b's, else a's),
    ``status`` (the triage in b, else in a). Sorted by change, then the severity and score
    that matter (b's, else a's), then id. ``program`` keeps the findings concerning it.
    """
    tol = load_options(config).register["diff_tolerance"]
    wave_a, wave_b = _stored_wave(con, wave_a), _stored_wave(con, wave_b)
    rank = _SEVERITY_RANK
    sql = f"""WITH a AS (SELECT * FROM finding WHERE wave = ?), b AS (SELECT * FROM finding WHERE wave = ?)
            SELECT CASE WHEN a.finding_id IS NULL THEN 'new'
                        WHEN b.finding_id IS NULL THEN 'resolved'
                        WHEN {rank.format("b.severity")} < {rank.format("a.severity")} THEN 'worse'
                        WHEN {rank.format("b.severity")} > {rank.format("a.severity")} THEN 'better'
                        WHEN b.score >= a.score + ? - 1e-9 THEN 'worse'
                        WHEN b.score <= a.score - ? + 1e-9 THEN 'better'
                        ELSE 'unchanged' END AS change,
                   coalesce(b.finding_id, a.finding_id) AS finding_id,
                   coalesce(b.archetype, a.archetype) AS archetype, coalesce(b.kind, a.kind) AS kind,
                   coalesce(b.subject, a.subject) AS subject, coalesce(b.programs, a.programs) AS programs,
                   a.severity AS severity_a, b.severity AS severity_b, a.score AS score_a, b.score AS score_b,
                   coalesce(b.title, a.title) AS title, coalesce(b.status, a.status) AS status,
                   {rank.format("coalesce(b.severity, a.severity)")} AS _rank, coalesce(b.score, a.score) AS _score
            FROM a FULL OUTER JOIN b ON a.finding_id = b.finding_id"""
    params = [wave_a, wave_b, tol, tol]
    if program is not None:
        sql, params = f"SELECT * FROM ({sql}) WHERE {_CONCERNS}", [*params, program]
    out = run(con, sql, params).df()
    out["_c"] = out["change"].map({c: i for i, c in enumerate(CHANGES)})
    out = out.sort_values(["_c", "_rank", "_score", "finding_id"], ascending=[True, True, False, True], kind="stable")
    out = out.drop(columns=["_c", "_rank", "_score"]).reset_index(drop=True)
    out.attrs.update(wave_a=wave_a, wave_b=wave_b, tolerance=tol)
    return out
