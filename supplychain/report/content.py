"""What a report says: sections of text, tables and figures, gathered once from the database and
rendered by every format (HTML and PDF from one page, XLSX from the same tables).

The wave report reads what ``supplychain score`` stored (the register and the result tables),
runs the standard and saved scenarios and reviews the loaded plans on one shared network, and
keeps every table whole: the HTML and PDF show the first rows, the XLSX every row.
"""

from __future__ import annotations

import datetime as _dt
import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import __version__
from ..db import run
from ..exceptions import SupplyChainError
from ..options import load_options
from ._labels import UNMARKED, VALUES_JA, label, localize_figure, value_label

log = logging.getLogger(__name__)

__all__ = ["Table", "Figure", "Text", "Section", "Report", "wave_report", "plan_report", "tier_profile", "data_hash"]


@dataclass
class Table:
    """A table: ``columns`` are (column, format) with format one of text, int, float, pct,
    yen, days, bool. ``sheet`` names its XLSX sheet (None: not exported on its own)."""

    key: str
    title: str
    frame: pd.DataFrame
    columns: list[tuple[str, str]]
    sheet: str | None = None
    limit: int | None = None


@dataclass
class Figure:
    key: str
    figure: object  # plotly.graph_objects.Figure


@dataclass
class Text:
    text: str


@dataclass
class Section:
    key: str
    title: str
    blocks: list = field(default_factory=list)
    children: list = field(default_factory=list)

    def walk(self):
        yield self
        for c in self.children:
            yield from c.walk()


@dataclass
class Report:
    """Everything a report shows; ``meta`` is the footer (wave, parameters, version, data hash)."""

    title: str
    lang: str
    marking: str
    sections: list[Section]
    meta: dict
    register: pd.DataFrame | None = None

    def _blocks(self, kind):
        for s in self.sections:
            for sec in s.walk():
                yield from (b for b in sec.blocks if isinstance(b, kind))

    def tables(self):
        return self._blocks(Table)

    def figures(self):
        return self._blocks(Figure)


#: The steps :func:`wave_report` and :func:`plan_report` announce, in order (a progress bar's length).
WAVE_STEPS = ("register", "network", "programs", "scenarios", "plans", "changes", "data quality")
PLAN_STEPS = ("review",)


def marking_text(marking: str, lang: str) -> str:
    """The marking as printed: the configured text, or the unmarked label."""
    return label("unmarked", lang) if marking.strip().lower() == UNMARKED else marking.strip()


_FINDING_COLS = [
    ("severity", "severity"),
    ("score", "float"),
    ("archetype", "text"),
    ("title", "text"),
    ("programs", "text"),
    ("measure_type", "text"),
    ("status", "text"),
    ("finding_id", "text"),
]


def _concerns(frame: pd.DataFrame, programs: list[str] | None, column: str = "programs") -> pd.DataFrame:
    """Rows whose ``column`` ('; '-separated programs) names one of ``programs`` (all when None)."""
    if programs is None or frame.empty:
        return frame
    wanted = set(programs)
    keep = frame[column].fillna("").map(lambda s: bool(wanted.intersection(s.split("; "))))
    return frame[keep.to_numpy(bool)]


def _stored(con, table: str, wave: int, programs: list[str] | None = None, column: str = "program") -> pd.DataFrame:
    sql, params = f'SELECT * EXCLUDE (wave) FROM "{table}" WHERE wave = ?', [wave]
    if programs is not None:
        sql += f" AND {column} IN (SELECT unnest(?::VARCHAR[]))"
        params.append(list(programs))
    return run(con, sql, params).df()


def _yen(v) -> str:
    if v is None or v != v:
        return "-"
    return f"¥{v / 1e8:,.1f}億" if abs(v) >= 1e8 else f"¥{v:,.0f}"


def data_hash(con) -> str:
    """A digest of everything the database holds (every table's row count and an
    order-independent sum of row hashes): the same data gives the same digest."""
    import hashlib

    from ..survey.schema import tables

    h = hashlib.sha256()
    for name in sorted(tables()):
        n, s = run(con, f'SELECT count(*), coalesce(sum(hash(t)::HUGEINT), 0)::VARCHAR FROM "{name}" AS t').fetchone()
        h.update(f"{name}:{n}:{s};".encode())
    return h.hexdigest()


def _check_register(con, wave: int) -> None:
    n = run(con, "SELECT count(*) FROM finding WHERE wave = ?", [wave]).fetchone()[0]
    if not n:
        raise SupplyChainError(f"wave {wave} has no risk register: run `supplychain score --wave {wave}` before the report")


def _previous_register_wave(con, wave: int) -> int | None:
    return run(con, "SELECT max(wave) FROM finding WHERE wave < ?", [wave]).fetchone()[0]


def tier_profile(net, src: pd.DataFrame) -> pd.DataFrame:
    """(program, tier, classification, companies): each supplier counted once per program
    at its tier, under the worst sourcing class of the parts it supplies there."""
    rank = {"sole": 0, "single": 1, "multi": 2}
    req = net.links["req"].to_numpy()
    buyer = net.req_buyer[req]
    keys = pd.DataFrame(
        {
            "program": net.column("programs", "program_id")[net.node_program[buyer]],
            "buyer": net.node_labels()[buyer],
            "part_id": net.part_ids(net.req_part[req]),
        }
    )
    cls = keys.merge(src[["program", "buyer", "part_id", "classification"]], how="left", on=["program", "buyer", "part_id"])
    link_rank = cls["classification"].map(rank).fillna(2).to_numpy(np.int64)
    worst = np.full(net.n_nodes, 3, np.int64)
    np.minimum.at(worst, net.link_supplier, link_rank)
    tiers = net.tiers
    nodes = np.flatnonzero((worst < 3) & (tiers != 0))
    frame = pd.DataFrame(
        {
            "program": net.column("programs", "program_id")[net.node_program[nodes]],
            "tier": np.where(tiers[nodes] < 0, -1, tiers[nodes]),
            "classification": np.array(["sole", "single", "multi"], dtype=object)[worst[nodes]],
        }
    )
    return frame.groupby(["program", "tier", "classification"], as_index=False).size().rename(columns={"size": "companies"})


def _program_companies(net) -> pd.DataFrame:
    """(company label, program) for every node."""
    return pd.DataFrame(
        {
            "company": net.node_labels(),
            "program": net.column("programs", "program_id")[net.node_program],
        }
    )


class _Builder:
    """Gathers the sections of one report in one language."""

    def __init__(self, lang: str, options):
        self.lang = lang
        self.rows = int(options.report["table_rows"])

    def L(self, key, **fmt) -> str:
        return label(key, self.lang, **fmt)

    def table(self, key, title_key, frame, columns, *, sheet=None, limit=None) -> Table:
        cols = [(c, f) for c, f in columns if c in frame.columns]
        return Table(key, self.L(title_key), frame, cols, sheet=sheet, limit=self.rows if limit is None else limit)

    def translate(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The codes of severity, class, change, archetype, status, ... in the report's language."""
        columns = [c for c in VALUES_JA if c in frame.columns] if self.lang == "ja" else []
        return frame.assign(**{c: frame[c].map(lambda v, c=c: value_label(c, v, self.lang)) for c in columns})


def wave_report(con, *, wave: int, programs=None, lang: str = "ja", marking: str, config=None, progress=None) -> Report:
    """Gather the wave report of ``wave`` (restricted to ``programs`` when given)."""
    from .. import plot
    from .. import scenario as scen
    from ..graph import supply_network
    from ..plan import ranking
    from ..risk.registry import SEVERITIES, diff, findings
    from ..risk.timing import time_to_recover
    from ..risk.withdrawal import _previous_wave
    from ..summary import programs as program_table

    options = load_options(config)
    b = _Builder(lang, options)
    L = b.L
    _check_register(con, wave)
    step = progress or (lambda name: None)

    step("register")
    all_programs = program_table(con, wave=wave)
    if programs is not None:
        unknown = sorted(set(programs) - set(all_programs["program"]))
        if unknown:
            raise SupplyChainError(
                f"programs: {unknown} are not programs of wave {wave} (it has {', '.join(all_programs['program'])})"
            )
        all_programs = all_programs[all_programs["program"].isin(programs)].reset_index(drop=True)
    scope = None if programs is None else list(all_programs["program"])
    reg = _concerns(findings(con, wave=wave), scope)
    reference_date = run(con, "SELECT reference_date FROM survey_wave WHERE wave = ?", [wave]).fetchone()[0]
    prev = _previous_register_wave(con, wave)

    step("network")
    net = supply_network(con, wave=wave)
    src = _stored(con, "sourcing", wave, scope)
    fe = _stored(con, "foreign_exposure", wave, scope)
    ew = _stored(con, "early_warning", wave)
    members = _program_companies(net)
    if scope is not None:
        members = members[members["program"].isin(scope)]
    n_companies = members["company"].nunique()
    n_links = int(
        run(
            con,
            "SELECT count(*) FROM supply WHERE wave = ? AND (? IS NULL OR list_contains(?, program_id))",
            [wave, scope, scope],
        ).fetchone()[0]
    )

    sections: list[Section] = []
    counts = reg["severity"].value_counts()
    sev = {k: int(counts.get(k, 0)) for k in SEVERITIES}

    # summary
    summary = Section("summary", L("summary"))
    facts = pd.DataFrame(
        {
            "item": [
                L(k) for k in ("wave", "reference_date", "n_programs", "n_companies", "n_links", "n_findings", "previous_wave")
            ],
            "value": [
                str(wave),
                str(reference_date or "-"),
                f"{len(all_programs):,}",
                f"{n_companies:,}",
                f"{n_links:,}",
                f"{len(reg):,}",
                str(prev) if prev is not None else "-",
            ],
        }
    )
    summary.blocks.append(Text(L("severity_counts", total=len(reg), **sev)))
    summary.blocks.append(b.table("facts", "summary", facts, [("item", "text"), ("value", "text")], limit=0))
    summary.blocks.append(
        b.table(
            "program_overview",
            "programs",
            all_programs,
            [
                ("program", "text"),
                ("name", "text"),
                ("prime", "text"),
                ("annual_value_jpy", "yen"),
                ("companies", "int"),
                ("links", "int"),
                ("max_tier", "int"),
            ],
            sheet="programs",
            limit=0,
        )
    )
    sections.append(summary)

    # top findings
    top = Section("top-findings", L("top_findings"))
    top.blocks.append(Text(L("severity_counts", total=len(reg), **sev)))
    top.blocks.append(
        b.table("top_findings", "top_findings", b.translate(reg), _FINDING_COLS, limit=int(options.report["top_findings"]))
    )
    sections.append(top)

    # per program
    step("programs")
    per_program = Section("programs", L("programs"))
    profile = tier_profile(net, src)
    ttr = time_to_recover(network=net, config=options)
    ew_by_program = members.drop_duplicates().merge(ew, on="company")
    limit_nodes = int(options.report["network_max_nodes"])
    for p in all_programs.itertuples(index=False):
        pid = p.program
        sec = Section(f"program-{pid}", f"{pid} {p.name or ''}".strip())
        # network by tier
        net_sec = Section(f"program-{pid}-network", L("network_by_tier"))
        prof = profile[profile["program"] == pid]
        net_sec.blocks.append(Figure(f"tier-{pid}", plot.tier_profile(prof, title=f"{pid}: {L('tier_profile')}")))
        if p.companies <= limit_nodes:
            fig = plot.network(con, wave=wave, program=pid, max_nodes=limit_nodes)
            fig.update_layout(title=f"{pid}: {L('network_drawn')}", height=520)
            net_sec.blocks.append(Figure(f"network-{pid}", fig))
        else:
            net_sec.blocks.append(Text(L("network_too_large", n=int(p.companies), limit=limit_nodes)))
        sec.children.append(net_sec)
        # sourcing
        s = src[src["program"] == pid]
        c = s["classification"].value_counts()
        s_sec = Section(f"program-{pid}-sourcing", L("sourcing"))
        s_sec.blocks.append(
            Text(L("sourcing_counts", total=len(s), **{k: int(c.get(k, 0)) for k in ("sole", "single", "multi")}))
        )
        risky = s[s["classification"] != "multi"].sort_values(
            ["classification", "value_jpy", "buyer", "part_id"], ascending=[False, False, True, True], kind="stable"
        )
        s_sec.blocks.append(
            b.table(
                f"sourcing-{pid}",
                "sourcing",
                b.translate(risky),
                [
                    ("classification", "text"),
                    ("buyer_name", "text"),
                    ("part", "text"),
                    ("supplier_names", "text"),
                    ("value_jpy", "yen"),
                    ("basis", "text"),
                ],
            )
        )
        sec.children.append(s_sec)
        # foreign exposure
        f = fe[fe["program"] == pid].sort_values(["exposure", "country"], ascending=[False, True], kind="stable")
        f_sec = Section(f"program-{pid}-foreign", L("foreign_exposure"))
        if len(f):
            fig = plot.exposure_by_country(f)
            fig.update_layout(title=f"{pid}: {L('exposure_chart')}", height=260)
            f_sec.blocks.append(Figure(f"exposure-{pid}", fig))
        f_sec.blocks.append(
            b.table(
                f"foreign-{pid}",
                "foreign_exposure",
                b.translate(f),
                [
                    ("country", "text"),
                    ("country_name", "text"),
                    ("country_group", "text"),
                    ("exposure", "pct"),
                    ("first_tier", "int"),
                    ("n_parts", "int"),
                ],
            )
        )
        sec.children.append(f_sec)
        # early warnings
        e = ew_by_program[ew_by_program["program"] == pid]
        e = e[e["priority"].isin(["act", "watch"])].sort_values(
            ["priority", "expected_value_lost", "company"], ascending=[True, False, True], kind="stable"
        )
        e_sec = Section(f"program-{pid}-early-warning", L("early_warning"))
        e_sec.blocks.append(
            b.table(
                f"early-warning-{pid}",
                "early_warning",
                b.translate(e),
                [
                    ("priority", "text"),
                    ("company", "text"),
                    ("company_name", "text"),
                    ("probability", "pct"),
                    ("value_lost", "yen"),
                    ("measure_type", "text"),
                    ("drivers", "text"),
                ],
            )
        )
        sec.children.append(e_sec)
        # TTR / TTS
        t = ttr[ttr["program"] == pid]
        t_sec = Section(f"program-{pid}-ttr", L("ttr_tts"))
        t_sec.blocks.append(
            b.table(
                f"ttr-{pid}",
                "ttr_tts",
                t,
                [
                    ("company", "text"),
                    ("company_name", "text"),
                    ("ttr_days", "days"),
                    ("tts_days", "days"),
                    ("days_lost", "days"),
                    ("value_lost", "yen"),
                    ("tts_below_ttr", "bool"),
                    ("rei", "float"),
                ],
            )
        )
        sec.children.append(t_sec)
        per_program.children.append(sec)
    sections.append(per_program)

    # scenarios
    step("scenarios")
    scen_sec = Section("scenarios", L("scenarios"))
    runs = []
    saved = scen.saved(con)
    specs = [*scen.STANDARD.values(), *(scen.load(con, n) for n in saved["name"])]
    for spec in specs:
        res = scen.run(con, spec, wave=wave, network=net, config=options)
        lost = res.programs_lost
        if scope is not None:
            lost = lost[lost["program"].isin(scope)]
        days = spec.get("days")
        program_days, value_lost = (float(lost[c].sum()) if c in lost else 0.0 for c in ("days_lost", "value_lost"))
        s_ = Section(f"scenario-{spec['name']}", f"{spec['name']}")
        s_.blocks.append(Text(spec.get("description") or ""))
        s_.blocks.append(
            Text(
                L(
                    "scenario_line",
                    days=L("days_for", d=days) if days else L("days_forever"),
                    programs=len(lost),
                    program_days=program_days,
                    value=_yen(value_lost),
                )
            )
        )
        if len(lost):
            fig = plot.scenario_days(_Shown(res, lost, program_days, value_lost))
            fig.update_layout(title=f"{spec['name']}: {L('scenario_chart')}")
            s_.blocks.append(Figure(f"scenario-{spec['name']}", fig))
        s_.blocks.append(
            b.table(
                f"scenario-{spec['name']}",
                "scenarios",
                lost,
                [
                    ("program", "text"),
                    ("program_name", "text"),
                    ("days_lost", "days"),
                    ("value_lost", "yen"),
                    ("tts_days", "days"),
                    ("path", "text"),
                ],
            )
        )
        runs.append(
            {
                "scenario": spec["name"],
                "description": spec.get("description"),
                "days": days,
                "programs_lost": len(lost),
                "program_days": program_days,
                "value_lost": value_lost,
            }
        )
        scen_sec.children.append(s_)
    scen_sec.blocks.insert(
        0,
        b.table(
            "scenario_summary",
            "scenarios",
            pd.DataFrame(runs),
            [
                ("scenario", "text"),
                ("description", "text"),
                ("days", "days"),
                ("programs_lost", "int"),
                ("program_days", "days"),
                ("value_lost", "yen"),
            ],
            sheet="scenarios",
            limit=0,
        ),
    )
    sections.append(scen_sec)

    # plan reviews
    step("plans")
    plan_sec = Section("plan-reviews", L("plan_reviews"))
    n_plans = run(con, "SELECT count(*) FROM plan").fetchone()[0]
    if n_plans:
        rk = ranking(con, wave=wave, network=net)
        if scope is not None:
            rk = rk[rk["program"].isin(scope)]
        plan_sec.blocks.append(Text(L("plan_none_reviewed", n=len(rk))))
        plan_sec.blocks.append(
            b.table(
                "plan_ranking",
                "plan_reviews",
                rk,
                [
                    ("plan_id", "text"),
                    ("company_name", "text"),
                    ("program", "text"),
                    ("amount_jpy", "yen"),
                    ("program_days_saved", "days"),
                    ("yen_per_day_saved", "yen"),
                    ("rei_before", "float"),
                    ("rei_after", "float"),
                    ("findings_addressed", "int"),
                ],
                sheet="plans",
                limit=0,
            )
        )
    else:
        plan_sec.blocks.append(Text(L("no_plans")))
    sections.append(plan_sec)

    # changes since the previous wave
    step("changes")
    ch_sec = Section("changes", L("changes"))
    if prev is None:
        earlier = _previous_wave(con, wave)
        ch_sec.blocks.append(Text(L("no_previous", wave=earlier if earlier is not None else wave)))
    else:
        d = _concerns(diff(con, prev, wave, config=options), scope)
        cc = d["change"].value_counts()
        ch_sec.blocks.append(
            Text(
                L(
                    "changes_counts",
                    a=prev,
                    b=wave,
                    **{k: int(cc.get(k, 0)) for k in ("new", "worse", "better", "resolved", "unchanged")},
                )
            )
        )
        moved = d[d["change"] != "unchanged"]
        ch_sec.blocks.append(
            b.table(
                "changes",
                "changes",
                b.translate(moved),
                [
                    ("change", "text"),
                    ("severity_a", "text"),
                    ("severity_b", "text"),
                    ("score_a", "float"),
                    ("score_b", "float"),
                    ("title", "text"),
                    ("programs", "text"),
                    ("finding_id", "text"),
                ],
                sheet="changes",
                limit=int(options.report["top_findings"]),
            )
        )
    sections.append(ch_sec)

    # data quality
    step("data quality")
    dq = Section("data-quality", L("data_quality"))
    dq.blocks.append(
        b.table(
            "coverage",
            "coverage",
            all_programs,
            [
                ("program", "text"),
                ("companies", "int"),
                ("responded", "pct"),
                ("with_status", "pct"),
                ("with_cyber", "pct"),
                ("share_reported", "pct"),
            ],
            sheet="coverage",
            limit=0,
        )
    )
    unknown = fe[fe["country"] == "unknown"][["program", "exposure"]].rename(columns={"exposure": "unknown"})
    origin = all_programs[["program", "name"]].merge(unknown, on="program", how="left").fillna({"unknown": 0.0})
    dq.blocks.append(
        b.table("unknown_origin", "unknown_origin", origin, [("program", "text"), ("name", "text"), ("unknown", "pct")], limit=0)
    )
    quality = reg[reg["archetype"] == "data_quality"]
    queues = pd.DataFrame(
        {
            "item": [L("non_response"), L("entity_pending"), L("screening_pending"), L("rejected_rows")],
            "count": [
                int((quality["kind"] == "non_response").sum()),
                int(run(con, "SELECT count(*) FROM entity_review WHERE status = 'pending'").fetchone()[0]),
                int(run(con, "SELECT count(*) FROM screening_hit WHERE status = 'pending'").fetchone()[0]),
                int(
                    run(
                        con,
                        "SELECT count(DISTINCT (r.submission_id, r.sheet, r.row)) FROM rejected_row r JOIN ingest_log l USING (submission_id) WHERE l.wave = ?",
                        [wave],
                    ).fetchone()[0]
                ),
            ],
        }
    )
    dq.blocks.append(b.table("review_queues", "review_queues", queues, [("item", "text"), ("count", "int")], limit=0))
    dq.blocks.append(
        b.table(
            "quality_findings",
            "quality_findings",
            b.translate(quality),
            [("severity", "text"), ("kind", "text"), ("title", "text"), ("programs", "text")],
        )
    )
    sections.append(dq)

    meta = {
        "kind": "wave",
        "wave": wave,
        "previous_wave": prev,
        "programs": scope,
        "lang": lang,
        "configuration": options.label,
        "version": __version__,
        "findings": len(reg),
    }
    return _localized(Report(L("title"), lang, marking, sections, meta, register=reg))


class _Shown:
    """A scenario result whose programs_lost is the report's (scoped) table."""

    def __init__(self, res, lost, program_days: float, value_lost: float):
        self.scenario, self.programs_lost = res.scenario, lost
        self.summary = {**res.summary, "programs_lost": len(lost), "program_days_lost": program_days, "value_lost": value_lost}


def plan_report(con, plan_id: str, *, wave: int, lang: str = "ja", marking: str, config=None, progress=None) -> Report:
    """Gather the review pack of one Stable Manufacturing Plan on ``wave``."""
    from .. import plot
    from ..plan import review

    options = load_options(config)
    b = _Builder(lang, options)
    L = b.L
    step = progress or (lambda name: None)
    step("review")
    r = review(con, plan_id, wave=wave)
    p, s = r.plan, r.summary
    sections = []
    summary = Section("summary", L("summary"))
    summary.blocks.append(Text(r.text()))
    facts = pd.DataFrame(
        {
            "item": [L(f"col.{k}") for k in ("plan_id", "company_name", "program", "measure_type", "amount_jpy")]
            + [L(f"col.{k}") for k in ("program_days_saved", "value_saved", "yen_per_day_saved", "rei_before", "rei_after")],
            "value": [
                str(p.get(k) if p.get(k) is not None else "-") for k in ("plan_id", "company_name", "program", "measure_type")
            ]
            + [_yen(p.get("amount_jpy"))]
            + [
                f"{s['program_days_saved']:,.0f}",
                _yen(s.get("value_saved")),
                _yen(s.get("yen_per_day_saved")),
                f"{s['rei_before']:.2f}",
                f"{s['rei_after']:.2f}",
            ],
        }
    )
    summary.blocks.append(b.table("plan_summary", "summary", facts, [("item", "text"), ("value", "text")], sheet="plan", limit=0))
    sections.append(summary)
    m = Section("measures", L("measures"))
    m.blocks.append(
        b.table(
            "measures",
            "measures",
            b.translate(r.measures),
            [
                ("measure_id", "text"),
                ("measure_type", "text"),
                ("action", "text"),
                ("part", "text"),
                ("days", "days"),
                ("cost_jpy", "yen"),
                ("description", "text"),
            ],
            sheet="measures",
            limit=0,
        )
    )
    sections.append(m)
    sc_sec = Section("plan-scenarios", L("plan_scenarios"))
    if len(r.scenarios):
        fig = plot.plan_before_after(r)
        fig.update_layout(title=f"{p['plan_id']}: {L('plan_chart')}")
        sc_sec.blocks.append(Figure("plan-before-after", fig))
    sc_sec.blocks.append(
        b.table(
            "plan_scenarios",
            "plan_scenarios",
            r.scenarios,
            [
                ("scenario", "text"),
                ("days_before", "days"),
                ("days_after", "days"),
                ("days_saved", "days"),
                ("value_before", "yen"),
                ("value_after", "yen"),
            ],
            sheet="scenarios",
            limit=0,
        )
    )
    sections.append(sc_sec)
    f_sec = Section("plan-findings", L("plan_findings"))
    f_sec.blocks.append(
        b.table(
            "plan_findings",
            "plan_findings",
            b.translate(r.findings),
            [
                ("addressed", "bool"),
                ("severity", "text"),
                ("score", "float"),
                ("kind", "text"),
                ("subject", "text"),
                ("detail", "text"),
                ("by", "text"),
                ("finding_id", "text"),
            ],
            sheet="findings",
            limit=0,
        )
    )
    sections.append(f_sec)
    meta = {
        "kind": "plan",
        "plan_id": plan_id,
        "wave": wave,
        "program": p.get("program"),
        "lang": lang,
        "configuration": options.label,
        "version": __version__,
    }
    return _localized(Report(f"{L('plan_title')} {plan_id}", lang, marking, sections, meta))


def _localized(report: Report) -> Report:
    for f in report.figures():
        localize_figure(f.figure, report.lang)
    return report


def now_iso() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")
