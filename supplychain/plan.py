"""Stable Manufacturing Plans (装備品等安定製造等確保計画, DESIGN §6): read the submissions, and
review each against its program's risks by running its measures as mitigations.

The plans workbook (``.xlsx``, or a folder of ``plans.csv`` and ``measures.csv``) has two sheets:

``plans`` (計画)
    ``plan_id``, ``company`` (corporate number, company id or exact name of a company in the
    database), ``program``, ``measure_type`` (of the four below), ``amount_jpy`` (funding),
    ``approved_on`` (optional date).
``measures`` (措置)
    ``plan_id``, ``measure_id``, ``measure_type``, ``action``, ``part`` (the part or material it
    acts on: a part name, a material class such as ``rare_earths`` or an HS-code prefix),
    ``supplier`` (the supplier added, or the company taken over), ``days`` (stockpile days),
    ``cost_jpy``, ``description``.

Measure types: ``supply_chain_resilience`` (供給網強靱化), ``manufacturing_efficiency``
(製造工程効率化), ``cybersecurity`` (サイバーセキュリティ強化), ``business_succession`` (事業承継等).
Actions, and what each does as a mitigation (:func:`supplychain.scenario.run`), at the plan's
company in the plan's program:

* ``add_supplier`` — a second qualified source of ``part`` in use: its time-to-recover becomes 0;
* ``stockpile`` — ``days`` more of ``part`` in stock;
* ``substitute`` — a domestic or allied source of ``part``: no country's ban stops it;
* ``succession`` — a successor takes over ``supplier``: it does not leave the business;
* ``cyber_controls`` — the five cyber measures met: addresses the company's cyber finding (no
  scenario changes).

:func:`review` runs the standard scenarios (:data:`supplychain.scenario.STANDARD`), the
program's five worst single-company failures (by program-days, for good) and the plan's own
risks (the suppliers its measures protect against fail for good; a company taken over leaves),
with and without the plan's measures, and reports program-days and value saved, the Risk Exposure Index of the
program before and after, yen per program-day saved, and which of the program's findings the
plan addresses and which it leaves untouched. :func:`ranking` reviews every plan.

The program's findings come from the risk register of the wave when one is stored
(:func:`~supplychain.risk.register`, written by ``supplychain score``): the program's
:data:`TOP_FINDINGS` highest-scoring findings, and every finding the plan addresses. A measure
addresses a finding about a part (sole or single source, hidden convergence, hazard
concentration, dependence on countries of concern) when it acts on that part at the plan's
company; a finding about a company (chokepoint, time-to-recover, withdrawal, succession, aging,
financial, foreign control) when a successor takes the company over, or when the plan's company
buys a part the plan acts on from it; the plan company's cyber finding when the plan meets the
five cyber measures; its aging or financial finding when the plan is a manufacturing-efficiency
plan. Without a stored register the findings are the program's chokepoints
(:func:`~supplychain.risk.time_to_recover`), the sole and single sources the plan's company buys
(:func:`~supplychain.risk.sourcing`) and its cyber-standard gap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import audit
from .db import registered, run, transaction
from .exceptions import SupplyChainError
from .risk.withdrawal import CYBER_MEASURES

__all__ = ["read_plans", "load_plans", "review", "ranking", "PlanReview", "MEASURE_TYPES", "ACTIONS"]

MEASURE_TYPES = ("supply_chain_resilience", "manufacturing_efficiency", "cybersecurity", "business_succession")
ACTIONS = ("add_supplier", "stockpile", "substitute", "cyber_controls", "succession")
_SHEETS = {"plans": ("plans", "計画"), "measures": ("measures", "措置")}
_PLAN_COLUMNS = ("plan_id", "company", "program", "measure_type", "amount_jpy", "approved_on")
_MEASURE_COLUMNS = ("plan_id", "measure_id", "measure_type", "action", "part", "supplier", "days", "cost_jpy", "description")
#: Worst single-company failures of the program added to the standard scenarios in a review.
CHOKEPOINTS = 5
#: The program's highest-scoring findings of the register a review lists (besides every finding
#: the plan addresses).
TOP_FINDINGS = 15


def _text(v) -> str | None:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    s = str(v).strip()
    if s.endswith(".0") and s[:-2].isdigit():  # a number typed into a text column
        s = s[:-2]
    return s or None


def _read_sheets(path: Path) -> dict[str, tuple[str, list[dict], int]]:
    """Per sheet name: (sheet as found, rows as dicts keyed by lower-case header, header row number)."""
    out = {}
    if path.is_dir():
        for name, aliases in _SHEETS.items():
            file = next((path / f"{a}.csv" for a in aliases if (path / f"{a}.csv").exists()), None)
            if file is None:
                raise SupplyChainError(f"{path}: no {name}.csv")
            frame = pd.read_csv(file, dtype=str, keep_default_na=False, encoding="utf-8-sig")
            out[name] = (file.name, frame.to_dict("records"), 1)
        return out
    if path.suffix.lower() != ".xlsx":
        raise SupplyChainError(f"{path}: a plans workbook is an .xlsx file or a folder of plans.csv and measures.csv")
    from python_calamine import CalamineWorkbook

    try:
        wb = CalamineWorkbook.from_path(str(path))
    except Exception as exc:
        raise SupplyChainError(f"{path}: not a readable Excel workbook ({exc})") from None
    titles = {t.strip().lower(): t for t in wb.sheet_names}
    for name, aliases in _SHEETS.items():
        title = next((titles[a] for a in aliases if a in titles), None)
        if title is None:
            raise SupplyChainError(f"{path}: no sheet {name!r} ({' or '.join(aliases)})")
        values = wb.get_sheet_by_name(title).to_python(skip_empty_area=False)
        if not values:
            raise SupplyChainError(f"{path} › {title}: the sheet is empty (a header row is required)")
        header = [str(h).strip().lower() for h in values[0]]
        rows = [dict(zip(header, r)) for r in values[1:] if any(_text(c) for c in r)]
        out[name] = (title, rows, 1)
    return out


def read_plans(path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``plans`` and ``measures`` of a plans workbook, checked: every problem is collected
    and reported at once (file, sheet, row, column, reason) in a :class:`SupplyChainError`."""
    path = Path(path)
    if not path.exists():
        raise SupplyChainError(f"{path}: no such file or folder")
    sheets = _read_sheets(path)
    problems = []

    def where(sheet, row, column, reason):
        problems.append(f"{path.name} › {sheet} row {row}, {column}: {reason}")

    plans, measures = [], []
    title, rows, head = sheets["plans"]
    missing = [c for c in ("plan_id", "company", "program", "amount_jpy") if rows and c not in rows[0]]
    if missing or not rows:
        raise SupplyChainError(f"{path.name} › {title}: " + (f"columns missing: {', '.join(missing)}" if missing else "no plan"))
    for i, r in enumerate(rows, start=head + 1):
        p = {c: _text(r.get(c)) for c in _PLAN_COLUMNS}
        for c in ("plan_id", "company", "program"):
            if not p[c]:
                where(title, i, c, "required")
        if p["measure_type"] and p["measure_type"] not in MEASURE_TYPES:
            where(title, i, "measure_type", f"{p['measure_type']!r} is not one of {', '.join(MEASURE_TYPES)}")
        try:
            p["amount_jpy"] = float(str(p["amount_jpy"]).replace(",", "")) if p["amount_jpy"] else None
            if p["amount_jpy"] is None or p["amount_jpy"] < 0:
                raise ValueError
        except ValueError:
            where(title, i, "amount_jpy", f"a non-negative amount in yen is required, got {r.get('amount_jpy')!r}")
        if p["approved_on"]:
            try:
                p["approved_on"] = pd.Timestamp(p["approved_on"]).date()
            except ValueError:
                where(title, i, "approved_on", f"not a date: {p['approved_on']!r}")
        p["source_row"] = i
        plans.append(p)
    ids = [p["plan_id"] for p in plans if p["plan_id"]]
    for dup in sorted({x for x in ids if ids.count(x) > 1}):
        where(title, "-", "plan_id", f"{dup!r} appears more than once")
    title_m, rows_m, head_m = sheets["measures"]
    for i, r in enumerate(rows_m, start=head_m + 1):
        m = {c: _text(r.get(c)) for c in _MEASURE_COLUMNS}
        if not m["plan_id"] or m["plan_id"] not in ids:
            where(title_m, i, "plan_id", f"{m['plan_id']!r} is not a plan of the plans sheet")
        if not m["measure_id"]:
            where(title_m, i, "measure_id", "required")
        if m["measure_type"] not in MEASURE_TYPES:
            where(title_m, i, "measure_type", f"{m['measure_type']!r} is not one of {', '.join(MEASURE_TYPES)}")
        if m["action"] not in ACTIONS:
            where(title_m, i, "action", f"{m['action']!r} is not one of {', '.join(ACTIONS)}")
        if m["action"] in ("add_supplier", "stockpile", "substitute") and not m["part"]:
            where(title_m, i, "part", f"{m['action']} needs the part it acts on")
        if m["action"] == "succession" and not m["supplier"]:
            where(title_m, i, "supplier", "succession needs the company taken over")
        for c in ("days", "cost_jpy"):
            if m[c] is not None:
                try:
                    m[c] = float(m[c].replace(",", ""))
                    if m[c] < 0:
                        raise ValueError
                except ValueError:
                    where(title_m, i, c, f"a non-negative number is required, got {m[c]!r}")
        if m["action"] == "stockpile" and not isinstance(m["days"], float):
            where(title_m, i, "days", "stockpile needs the number of days")
        m["source_row"] = i
        measures.append(m)
    if problems:
        raise SupplyChainError(f"{path}: {len(problems)} problem(s), nothing loaded:\n  " + "\n  ".join(problems))
    return pd.DataFrame(plans), pd.DataFrame(measures, columns=[*_MEASURE_COLUMNS, "source_row"])


def _companies(con) -> dict[str, str]:
    """Corporate number, company id and exact name -> company id."""
    lookup = {}
    for cid, cn, name in run(con, "SELECT company_id, corporate_number, name FROM company ORDER BY company_id").fetchall():
        for key in (name, cn, cid):
            if key and key not in lookup:
                lookup[key] = cid
    return lookup


def load_plans(con, path) -> int:
    """Load (or replace, by plan id) the plans of a plans workbook into ``plan`` and
    ``plan_measure``, in one transaction; companies, programs and suppliers must be known to the
    database (the error lists every one that is not). Returns the number of plans."""
    from .survey.normalize import normalize_part_name

    path = Path(path)
    plans, measures = read_plans(path)
    companies = _companies(con)
    programs = {p for (p,) in run(con, "SELECT program_id FROM program").fetchall()}
    problems = []
    plans["company_id"] = [companies.get(c) for c in plans["company"]]
    for p in plans.itertuples():
        if p.company_id is None:
            problems.append(f"plans row {p.source_row}, company: {p.company!r} is not a company of the database")
        if p.program not in programs:
            problems.append(f"plans row {p.source_row}, program: {p.program!r} is not a program of the database")
    measures["supplier"] = [_text(x) for x in measures["supplier"]]
    measures["supplier_id"] = [companies.get(s) if s else None for s in measures["supplier"]]
    for m in measures.itertuples():
        if m.action == "succession" and m.supplier_id is None:
            problems.append(f"measures row {m.source_row}, supplier: {m.supplier!r} is not a company of the database")
    if problems:
        raise SupplyChainError(f"{path}: {len(problems)} problem(s), nothing loaded:\n  " + "\n  ".join(problems))
    # a part name is kept as its key; a material class or HS prefix as written
    measures["part_id"] = [normalize_part_name(_text(x)) if _text(x) else None for x in measures["part"]]
    measures["description"] = [_text(x) for x in measures["description"]]
    measures["description"] = [
        d if s is None or sid is not None else f"{d + '; ' if d else ''}supplier: {s}"
        for d, s, sid in zip(measures["description"], measures["supplier"], measures["supplier_id"])
    ]
    plan_rows = plans.rename(columns={"program": "program_id"})[
        ["plan_id", "company_id", "program_id", "approved_on", "amount_jpy", "measure_type"]
    ].assign(source_file=path.name)
    measure_rows = measures[
        ["plan_id", "measure_id", "measure_type", "action", "part_id", "supplier_id", "days", "cost_jpy", "description"]
    ]
    user = audit.current_user()
    with transaction(con):
        ids = plan_rows["plan_id"].tolist()
        run(con, "DELETE FROM plan_measure WHERE list_contains(?, plan_id)", [ids])
        run(con, "DELETE FROM plan WHERE list_contains(?, plan_id)", [ids])
        with registered(con, "_sc_plans", plan_rows):
            run(
                con,
                """INSERT INTO plan (plan_id, company_id, program_id, approved_on, amount_jpy, measure_type, source_file)
                   SELECT plan_id, company_id, program_id, approved_on::DATE, amount_jpy, measure_type, source_file FROM _sc_plans""",
            )
        with registered(con, "_sc_measures", measure_rows):
            run(
                con,
                """INSERT INTO plan_measure (plan_id, measure_id, measure_type, action, part_id, supplier_id, days, cost_jpy, description)
                   SELECT plan_id, measure_id, measure_type, action, part_id, supplier_id, days::DOUBLE, cost_jpy::DOUBLE, description
                   FROM _sc_measures""",
            )
        run(
            con,
            "INSERT INTO audit_log VALUES (now(), ?, 'plans_loaded', ?, NULL)",
            [user, f"{path.name}: {len(ids)} plans"],
        )
    audit.record(con, "plans_loaded", str(path), inputs={str(path): audit.digest(path)}, outputs={"plans": len(ids)}, user=user)
    return len(plan_rows)


@dataclass
class PlanReview:
    """Result of :func:`review`.

    Attributes
    ----------
    plan : dict
        plan_id, company, company_name, program, measure_type, amount_jpy.
    measures : DataFrame
        The plan's measures and the mitigation each becomes.
    scenarios : DataFrame
        ``scenario``, ``days_before``, ``days_after``, ``value_before``, ``value_after`` (the
        program's), ``days_saved``.
    findings : DataFrame
        ``kind`` (the register's archetype and kind, or without a register: chokepoint, sole
        source, single source, cyber), ``subject``, ``detail``, ``addressed`` (bool), ``by``
        (the measure ids); from the register also ``finding_id``, ``severity`` and ``score``.
    summary : dict
        program_days_before/after/saved, value_saved, rei_before/after, yen_per_day_saved.
    """

    plan: dict
    measures: pd.DataFrame
    scenarios: pd.DataFrame
    findings: pd.DataFrame
    summary: dict

    def text(self) -> str:
        """The paragraph a reviewer pastes into the review."""
        s, p = self.summary, self.plan
        addressed = self.findings[self.findings["addressed"]]
        left = self.findings[~self.findings["addressed"]]
        per_day = (
            "no program-day saved" if not s["program_days_saved"] else f"¥{s['yen_per_day_saved']:,.0f} per program-day saved"
        )
        return (
            f"Plan {p['plan_id']} ({p['company_name']}, program {p['program']}, ¥{p['amount_jpy']:,.0f}): over "
            f"{len(self.scenarios)} scenarios the program loses {s['program_days_before']:,.0f} program-days without the plan "
            f"and {s['program_days_after']:,.0f} with it ({per_day}); Risk Exposure Index {s['rei_before']:.2f} → "
            f"{s['rei_after']:.2f}. It addresses {len(addressed)} of the program's {len(self.findings)} findings listed"
            + (f"; untouched: {', '.join(left['kind'].head(3) + ' ' + left['subject'].head(3))}" if len(left) else "")
            + "."
        )


def _mitigation(plan: dict, m) -> dict | None:
    """The scenario mitigation a measure becomes, at the plan's company in its program (None
    for cyber controls, which change no scenario)."""
    at = {"buyer": plan["company"], "program": plan["program"]}
    if m.action == "add_supplier":
        return {"action": "add_supplier", "part": m.part_id, "in_use": True, **at}
    if m.action == "stockpile":
        return {"action": "stockpile", "part": m.part_id, "days": float(m.days), **at}
    if m.action == "substitute":
        return {"action": "substitute", "part": m.part_id, **at}
    if m.action == "succession":
        return {"action": "succession", "company": m.supplier_id}
    return None


def _plan(con, plan_id: str) -> tuple[dict, pd.DataFrame]:
    row = run(
        con,
        """SELECT p.plan_id, p.company_id, coalesce(c.corporate_number, p.company_id) AS company, c.name AS company_name,
                  p.program_id AS program, p.measure_type, p.amount_jpy
           FROM plan p LEFT JOIN company c USING (company_id) WHERE p.plan_id = ?""",
        [plan_id],
    ).df()
    if row.empty:
        known = [p for (p,) in run(con, "SELECT plan_id FROM plan ORDER BY plan_id").fetchall()]
        raise SupplyChainError(f"no plan {plan_id!r} (plans loaded: {', '.join(known[:20]) or 'none'})")
    measures = run(con, "SELECT * FROM plan_measure WHERE plan_id = ? ORDER BY measure_id", [plan_id]).df()
    return row.iloc[0].to_dict(), measures


def _scenario_set(con, net, program: str) -> dict:
    from .risk.timing import time_to_recover
    from .scenario import STANDARD

    key = ("plan_scenarios", program)
    if key not in net.derived:
        ttr = net.derived.get("time_to_recover")
        if ttr is None:
            ttr = net.derived["time_to_recover"] = time_to_recover(con, network=net)
        worst = ttr[ttr["program"] == program].sort_values(["days_lost", "company"], ascending=[False, True]).head(CHOKEPOINTS)
        chosen = dict(STANDARD)
        for r in worst.itertuples():
            chosen[f"{r.company} fails"] = {"name": f"{r.company} fails", "fail": {"companies": [r.company]}, "days": None}
        net.derived[key] = (chosen, worst)
    return net.derived[key]


def _sourcing(con, net, program: str) -> pd.DataFrame:
    from .risk.sourcing import sourcing

    key = ("plan_sourcing", program)
    if key not in net.derived:
        net.derived[key] = sourcing(con, wave=net.wave, program=program)
    return net.derived[key]


def _own_scenarios(con, net, plan: dict, measures: pd.DataFrame) -> dict:
    """The risks the plan's measures are meant for: the suppliers the plan's company now uses
    for each part a measure acts on fail for good; a company taken over leaves."""
    src = _sourcing(con, net, plan["program"])
    mine = src[src["buyer"] == plan["company"]]
    out = {}
    for m in measures.itertuples():
        if m.action in ("add_supplier", "stockpile", "substitute") and m.part_id:
            rows = mine[mine["part_id"] == m.part_id]  # both the normalised part name
            suppliers = sorted({x for s in rows["suppliers"] for x in s.split("; ") if x})
            if suppliers:
                name = f"suppliers of {rows['part'].iloc[0]} fail"
                out[name] = {"name": name, "fail": {"companies": suppliers}, "days": None}
        elif m.action == "succession" and m.supplier_id:
            name = f"{m.supplier_id} leaves"
            out[name] = {"name": name, "fail": {"companies": [m.supplier_id]}, "days": None}
    return out


def review(con, plan_id: str, *, wave: int, network=None, capacity: str = "lp") -> PlanReview:
    """Review plan ``plan_id`` against the network of ``wave`` (see the module docstring):
    the standard scenarios, the program's worst single failures and the plan's own risks (the
    suppliers its measures protect against failing for good), each with and without the plan;
    ``capacity`` as in :func:`supplychain.scenario.run`."""
    from .risk.propagation import _network
    from .scenario import normalize
    from .scenario import run as run_scenario

    plan, measures = _plan(con, plan_id)
    net = _network(con, wave, None, network)
    if plan["program"] not in set(net.column("programs", "program_id")):
        raise SupplyChainError(f"plan {plan_id}: program {plan['program']!r} has no supply network in wave {net.wave}")
    per_measure = [_mitigation(plan, m) for m in measures.itertuples()]
    mitigations = [x for x in per_measure if x is not None]
    chosen, worst = _scenario_set(con, net, plan["program"])
    chosen = {**chosen, **_own_scenarios(con, net, plan, measures)}
    rows = []
    totals_before = {}
    with audit.part_of("plan_review"):  # its scenario runs are parts of the review's entry
        for name, s in chosen.items():
            s = normalize(s)
            before = net.derived.get(("plan_before", name, capacity))
            if before is None:
                res = run_scenario(con, s, network=net, capacity=capacity)
                before = net.derived[("plan_before", name, capacity)] = res.program_days
            after = run_scenario(
                con, {**s, "mitigations": mitigations}, network=net, baseline=False, capacity=capacity
            ).program_days
            b = before[before["program"] == plan["program"]]
            a = after[after["program"] == plan["program"]]
            db_, da = float(b["days_lost"].sum()), float(a["days_lost"].sum())
            vb, va = float(b["value_lost"].sum()), float(a["value_lost"].sum())
            rows.append({"scenario": name, "days_before": db_, "days_after": da, "value_before": vb, "value_after": va})
            for r in before.itertuples():
                impact = r.value_lost if r.value_lost == r.value_lost else r.days_lost
                totals_before[r.program] = totals_before.get(r.program, 0.0) + impact
    scen = pd.DataFrame(rows)
    scen["days_saved"] = scen["days_before"] - scen["days_after"]
    finite = scen.replace([np.inf, -np.inf], np.nan)
    days_before, days_after = float(finite["days_before"].sum()), float(finite["days_after"].sum())
    saved = days_before - days_after
    value_before, value_after = float(finite["value_before"].sum()), float(finite["value_after"].sum())
    worst_total = max(totals_before.values()) if totals_before else 0.0
    summary = {
        "program_days_before": days_before,
        "program_days_after": days_after,
        "program_days_saved": saved,
        "value_saved": value_before - value_after,
        "rei_before": value_before / worst_total if worst_total else 0.0,
        "rei_after": value_after / worst_total if worst_total else 0.0,
        "yen_per_day_saved": (plan["amount_jpy"] / saved) if saved > 0 else math.inf,
        "wave": net.wave,
    }
    findings = _register_findings(con, net, plan, measures)
    if findings is None:
        findings = _findings(con, net, plan, measures, worst)
    plan = {k: plan[k] for k in ("plan_id", "company", "company_name", "program", "measure_type", "amount_jpy")}
    described = [str(x) if x is not None else "addresses the cyber finding only" for x in per_measure]
    audit.record(
        con,
        "plan_review",
        plan["plan_id"],
        parameters={"wave": net.wave, "capacity": capacity, "scenarios": list(chosen)},
        inputs=lambda: {"submissions": audit.submissions_digest(con, net.wave)},
        outputs={"summary": summary, "findings": len(findings)},
    )
    return PlanReview(plan, measures.assign(mitigation=described), scen, findings, summary)


_PART_ARCHETYPES = ("sourcing", "hidden_convergence", "hazard_concentration", "foreign_dependency")
_COMPANY_ARCHETYPES = (
    "chokepoint",
    "time_to_recover",
    "withdrawal",
    "succession",
    "aging_facilities",
    "financial",
    "foreign_control",
)


def _register_findings(con, net, plan: dict, measures: pd.DataFrame) -> pd.DataFrame | None:
    """The program's findings from the stored register of the wave, each marked addressed or
    not by the plan's measures (see the module docstring); None when no register is stored."""
    from .risk.registry import findings

    key = ("plan_register", plan["program"])
    if key not in net.derived:
        stored = run(con, "SELECT count(*) FROM finding WHERE wave = ?", [net.wave]).fetchone()[0]
        net.derived[key] = findings(con, wave=net.wave, program=plan["program"]) if stored else None
    reg = net.derived[key]
    if reg is None:
        return None
    parts_acted: dict[str, list[str]] = {}
    for m in measures.itertuples():
        if m.part_id and m.action in ("add_supplier", "stockpile", "substitute"):
            parts_acted.setdefault(m.part_id, []).append(m.measure_id)
    label_of = dict(zip(net.column("companies", "company_id"), net.column("companies", "label")))
    taken_over = {label_of.get(m.supplier_id): m.measure_id for m in measures.itertuples() if m.action == "succession"}
    cyber = measures.loc[measures["action"] == "cyber_controls", "measure_id"].tolist()
    efficiency = measures.loc[measures["measure_type"] == "manufacturing_efficiency", "measure_id"].tolist()
    # the suppliers the plan company buys each acted-on part from, for company findings
    src = _sourcing(con, net, plan["program"])
    mine = src[(src["buyer"] == plan["company"]) & src["part_id"].isin(list(parts_acted))]
    through: dict[str, list[str]] = {}
    for part_id, suppliers in zip(mine["part_id"], mine["suppliers"]):
        for sup in str(suppliers).split("; "):
            through.setdefault(sup, []).extend(parts_acted[part_id])
    by = []
    for r in reg.itertuples():
        ids: list[str] = []
        keys = str(r.subject_key).split("|")
        if r.archetype in _PART_ARCHETYPES and len(keys) >= 3 and keys[1] == plan["company"]:
            ids = parts_acted.get(keys[2], [])
        elif r.archetype in _COMPANY_ARCHETYPES and isinstance(r.company, str):
            ids = ([taken_over[r.company]] if r.company in taken_over else []) + through.get(r.company, [])
            if r.archetype in ("aging_facilities", "financial") and r.company == plan["company"]:
                ids += efficiency
        elif r.archetype == "cyber" and r.company == plan["company"]:
            ids = cyber
        by.append(", ".join(dict.fromkeys(ids)))
    out = reg.assign(by=by, addressed=[bool(b) for b in by])
    out = out[(np.arange(len(out)) < TOP_FINDINGS) | out["addressed"].to_numpy()]
    return pd.DataFrame(
        {
            "kind": (out["archetype"] + " (" + out["kind"] + ")").to_numpy(object),
            "subject": out["subject"].to_numpy(object),
            "detail": out["title"].to_numpy(object),
            "addressed": out["addressed"].to_numpy(bool),
            "by": out["by"].to_numpy(object),
            "finding_id": out["finding_id"].to_numpy(object),
            "severity": out["severity"].to_numpy(object),
            "score": out["score"].to_numpy(float),
        }
    )


def _findings(con, net, plan: dict, measures: pd.DataFrame, worst: pd.DataFrame) -> pd.DataFrame:
    parts_acted = {}
    for m in measures.itertuples():
        if m.part_id:
            parts_acted.setdefault(m.part_id, []).append(m.measure_id)
    taken_over = {m.supplier_id: m.measure_id for m in measures.itertuples() if m.action == "succession"}
    rows = []
    src = _sourcing(con, net, plan["program"])
    mine = src[(src["buyer"] == plan["company"]) & src["classification"].isin(["sole", "single"])]
    for r in mine.itertuples():
        by = parts_acted.get(r.part_id, [])
        rows.append(
            {
                "kind": f"{r.classification} source",
                "subject": r.part,
                "detail": f"{r.supplier_names} supplies {r.part} to {plan['company_name']} ({r.basis})",
                "addressed": bool(by),
                "by": ", ".join(by),
            }
        )
    ids = dict(zip(net.column("companies", "label"), net.column("companies", "company_id")))
    bought = src[src["buyer"] == plan["company"]]
    for r in worst.itertuples():
        cid = ids.get(r.company)
        by = [taken_over[cid]] if cid in taken_over else []
        own_parts = bought[bought["suppliers"].str.contains(str(r.company), regex=False)]
        for key in own_parts["part_id"]:
            by += parts_acted.get(key, [])
        rows.append(
            {
                "kind": "chokepoint",
                "subject": f"{r.company_name} ({r.company})",
                "detail": f"its failure stops {plan['program']} for {r.days_lost:,.0f} days (TTR {r.ttr_days:,.0f}, stock {r.tts_days:,.0f})",
                "addressed": bool(by),
                "by": ", ".join(dict.fromkeys(by)),
            }
        )
    gap = run(
        con,
        # a measure not reported met counts as not met (the withdrawal features keep it missing instead)
        f"""SELECT max({" + ".join(f"(NOT coalesce({m}, false))::INT" for m in CYBER_MEASURES)})
            FROM cyber_assessment WHERE wave = ? AND company_id = ?""",
        [net.wave, plan["company_id"]],
    ).fetchone()[0]
    if gap:
        by = measures.loc[measures["action"] == "cyber_controls", "measure_id"].tolist()
        rows.append(
            {
                "kind": "cyber",
                "subject": plan["company_name"],
                "detail": f"{gap} of the five cyber measures not met",
                "addressed": bool(by),
                "by": ", ".join(by),
            }
        )
    return pd.DataFrame(rows, columns=["kind", "subject", "detail", "addressed", "by"])


def ranking(con, *, wave: int, network=None, capacity: str = "lp") -> pd.DataFrame:
    """Every plan reviewed on ``wave``, best value first: ``plan_id``, ``company``,
    ``company_name``, ``program``, ``amount_jpy``, ``program_days_saved``, ``value_saved``,
    ``yen_per_day_saved``, ``rei_before``, ``rei_after``, ``findings_addressed``,
    ``findings``. Plans that save no program-day come last, by amount."""
    from .graph import supply_network

    net = network or supply_network(con, wave=wave)
    rows = []
    plan_ids = [pid for (pid,) in run(con, "SELECT plan_id FROM plan ORDER BY plan_id").fetchall()]
    with audit.part_of("plan_ranking"):  # the reviews and their scenario runs are parts of its entry
        reviews = [review(con, pid, wave=wave, network=net, capacity=capacity) for pid in plan_ids]
    for r in reviews:
        rows.append(
            {
                **{k: r.plan[k] for k in ("plan_id", "company", "company_name", "program", "amount_jpy")},
                **{
                    k: r.summary[k] for k in ("program_days_saved", "value_saved", "yen_per_day_saved", "rei_before", "rei_after")
                },
                "findings_addressed": int(r.findings["addressed"].sum()),
                "findings": len(r.findings),
            }
        )
    out = pd.DataFrame(rows)
    if not out.empty:
        out = out.sort_values(["yen_per_day_saved", "amount_jpy", "plan_id"], kind="stable", ignore_index=True)
        out.insert(0, "rank", np.arange(1, len(out) + 1))
    audit.record(
        con,
        "plan_ranking",
        f"{len(out)} plans",
        parameters={"wave": net.wave, "capacity": capacity},
        inputs=lambda: {"submissions": audit.submissions_digest(con, net.wave)},
        outputs=lambda: {"ranking": audit.frame_digest(out), "plans": plan_ids},
    )
    return out
