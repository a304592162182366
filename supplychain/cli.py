"""The ``supplychain`` command: a thin shell over the library.

Exit codes: 0 success; 1 usage or unexpected error; 3 rows were refused or values dropped (the
valid rows loaded; see ``supplychain rejected``); 4 a file was refused or failed (nothing of it
loaded).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from contextlib import closing
from pathlib import Path

from . import __version__
from .exceptions import SupplyChainError

__all__ = ["main"]

EXIT_REJECTED = 3
EXIT_REFUSED = 4
EXIT_BUSY = 5  # another run or process holds the database or the report folder: try later


def _db_path(args) -> str:
    return args.db or os.environ.get("SUPPLYCHAIN_DB") or "supplychain.duckdb"


def _connect(args, read_only=False):
    """The database, closed when the command ends (``with _connect(args) as con:``).

    Under a profile that sees only some compartments (``--config`` or ``$SUPPLYCHAIN_CONFIG``
    with an ``[access]`` section), a reading command works on a copy restricted to them
    (:mod:`supplychain.access`) and a command that changes the database is refused."""
    from .db import connect
    from .options import load_options

    options = load_options(getattr(args, "config", None))
    if options.compartments is not None and not read_only:
        raise SupplyChainError(
            f"the profile {options.label!r} sees only compartment(s) {', '.join(sorted(options.compartments))}: "
            f"`{args.command}` changes the database and needs a profile that sees every compartment"
        )
    # --wait before the command; `report --wait` (its own lock) also waits for the database
    wait = max(args.db_wait, getattr(args, "wait", None) or 0)
    return closing(connect(_db_path(args), read_only=read_only, profile=options, wait=wait))


def _print_issues(issues, limit: int) -> None:
    shown = issues.head(limit) if limit else issues
    for file, group in shown.groupby("file", sort=False):
        print(f"  {file}")
        for r in group.itertuples(index=False):
            where = r.source or "(file)"
            if r.row == r.row and r.row is not None:  # not NaN
                where += f" row {int(r.row)}"
            if isinstance(r.column, str):
                where += f", {r.column}"
            value = f" = {r.value!r}" if isinstance(r.value, str) else ""
            print(f"    {where}{value}: {r.reason} [{r.action}]")
    if limit and len(issues) > limit:
        print(f"  … and {len(issues) - limit} more: `supplychain rejected` lists them all")


def cmd_ingest(args) -> int:
    from .survey.load import ingest

    batch = {"batch_rows": args.batch_rows} if args.batch_rows else {}
    with _connect(args) as con:
        res = ingest(con, args.paths, wave=args.wave, strict=args.strict, progress=not args.quiet, **batch)
    for f in res.files:
        print(f"{f.status:>9}  {f.path}  (wave {f.wave}, {f.respondent}): {f.message}")
    if len(res.rejected):
        print(f"\n{len(res.rejected)} problem(s) found; refused rows are kept in the rejected_row table:")
        _print_issues(res.rejected, args.limit)
    if any(f.status in ("refused", "failed") for f in res.files):
        return EXIT_REFUSED
    if not res.ok and not args.accept_partial:
        return EXIT_REJECTED
    return 0


def cmd_summary(args) -> int:
    from .summary import database_summary

    with _connect(args, read_only=Path(_db_path(args)).exists()) as con:
        print(database_summary(con))
    return 0


def cmd_score(args) -> int:
    from .db import run
    from .risk.score import score

    with _connect(args) as con:
        wave = _latest_wave(con, args.wave)
        # --last N: the N waves up to this one, oldest first (each register carries triage to the next)
        earlier = run(
            con, "SELECT wave FROM survey_wave WHERE wave < ? ORDER BY wave DESC LIMIT ?", [wave, max(args.last, 1) - 1]
        )
        for w in [*sorted(w for (w,) in earlier.fetchall()), wave]:
            res = score(con, wave=w, with_esri=not args.no_esri, progress=not args.quiet, model=args.model, config=args.config)
            if w != wave:
                print(f"wave {w} scored (risk register written)")
    print(_score_report(res, wave, args.top))
    return 0


def _finding_lines(f, top: int) -> list[str]:
    """One line per finding: id, severity, score, status, title."""
    lines = [f"{'finding':<17} {'severity':<8} {'score':>5}  {'status':<9} title"]
    for r in f.head(top).itertuples() if top else f.itertuples():
        lines.append(f"{r.finding_id:<17} {r.severity:<8} {r.score:>5.2f}  {r.status:<9} {r.title}")
    if top and len(f) > top:
        lines.append(f"… and {len(f) - top:,} more (--top 0 lists all; --csv FILE writes them)")
    return lines


def _severity_counts(f) -> str:
    from .risk.registry import SEVERITIES

    counts = f["severity"].value_counts()
    return ", ".join(f"{counts.get(k, 0):,} {k}" for k in SEVERITIES)


def cmd_findings(args) -> int:
    from .export import write_csv
    from .risk.registry import _stored_wave, diff, findings

    with _connect(args, read_only=Path(_db_path(args)).exists()) as con:
        if args.since is not None:
            d = diff(con, args.since, _stored_wave(con, args.wave), program=args.program, config=args.config)
            counts = d["change"].value_counts()
            print(
                f"changes from wave {d.attrs['wave_a']} to {d.attrs['wave_b']}: "
                + ", ".join(f"{counts.get(k, 0):,} {k}" for k in ("new", "worse", "better", "resolved", "unchanged"))
            )
            shown = d[d["change"] != "unchanged"]
            for r in shown.head(args.top).itertuples() if args.top else shown.itertuples():
                before = f"{r.severity_a} {r.score_a:.2f}" if isinstance(r.severity_a, str) else "-"
                after = f"{r.severity_b} {r.score_b:.2f}" if isinstance(r.severity_b, str) else "-"
                print(f"{r.change:<9} {r.finding_id:<17} {before:>13} → {after:<13} {r.title}")
            if args.csv:
                write_csv(d, args.csv, con=con, what=f"findings diff {d.attrs['wave_a']} → {d.attrs['wave_b']}")
                print(f"written to {args.csv}")
            return 0
        f = findings(
            con,
            wave=args.wave,
            program=args.program,
            min_severity=args.min_severity,
            archetype=args.archetype,
            status=args.status,
            company=args.company,
        )
        wave = int(f["wave"].iloc[0]) if len(f) else args.wave
        if args.csv:
            write_csv(f, args.csv, con=con, what=f"findings of wave {wave}")
    print(f"risk register{f' of wave {wave}' if wave else ''}: {len(f):,} findings ({_severity_counts(f)})")
    print("\n".join(_finding_lines(f, args.top)))
    if args.csv:
        print(f"written to {args.csv}")
    return 0


def cmd_finding(args) -> int:
    from .risk.registry import finding_history, findings, set_finding

    with _connect(args) as con:
        if args.action == "set":
            done = set_finding(
                con, args.finding_id, status=args.status, owner=args.owner, note=args.note, wave=args.wave, user=args.user
            )
            print(f"{done['finding_id']} (wave {done['wave']}): status {done['status']}, owner {done['owner'] or '-'}")
            return 0
        from .db import run

        found = run(con, "SELECT max(wave) FROM finding WHERE finding_id = ?", [args.finding_id]).fetchone()[0]
        if found is None:
            raise SupplyChainError(f"no finding {args.finding_id!r}: `supplychain findings` lists them")
        wave = args.wave or found
        row = findings(con, wave=wave, finding_id=args.finding_id)
        if row.empty:
            raise SupplyChainError(f"finding {args.finding_id} is not in the register of wave {wave} (latest: {found})")
        r = row.iloc[0]
        history = finding_history(con, args.finding_id)
    print(f"{r.finding_id}  wave {r.wave}  {r.archetype} ({r.kind})  {r.severity} {r.score:.2f}  status {r.status}")
    print(f"  {r.title}")
    print(f"  subject: {r.subject}   programs: {r.programs or '-'}")
    print(f"  {r.basis}")
    print(f"  measure type: {r.measure_type or '-'}   rule: {r.rule_version}   first seen: wave {r.first_wave}")
    print(f"  evidence: {r.evidence}")
    if isinstance(r.owner, str):
        print(f"  owner: {r.owner}")
    if isinstance(r.notes, str):
        print("  notes:\n    " + r.notes.replace("\n", "\n    "))
    for h in history.itertuples():
        print(f"  {h.at:%Y-%m-%d %H:%M} {h.user_name}: {h.action} {h.detail}")
    return 0


def _latest_wave(con, wave):
    """``wave`` if given, else the latest wave loaded (an error when none is)."""
    from .db import run

    if wave is not None:
        return wave
    wave = run(con, "SELECT max(wave) FROM survey_wave").fetchone()[0]
    if wave is None:
        raise SupplyChainError("the database holds no survey wave yet: run `supplychain ingest` first")
    return wave


def cmd_withdrawal(args) -> int:
    from .risk import early_warning, withdrawal, withdrawal_panel
    from .risk.withdrawal_model import WithdrawalModel, save_model, validate

    with _connect(args) as con:
        wave = _latest_wave(con, args.wave)
        if args.validate or args.save:
            panel = withdrawal_panel(con, waves=None)
            panel = panel[panel["wave"] <= wave]
            v = validate(panel, random_state=args.seed)
            print(v.summary())
            if len(v.importance):
                print(
                    "  most important (fall of ROC-AUC when shuffled, last wave): "
                    + ", ".join(f"{r.feature} {r.importance:.3f}" for r in v.importance.head(5).itertuples())
                )
            if args.save:
                train = panel[panel["withdraws"].notna()]
                model = WithdrawalModel(random_state=args.seed).fit(train, train["withdraws"])
                pooled = v.metrics[(v.metrics["method"] == "model") & (v.metrics["wave"] == "all")]
                metrics = (
                    pooled.iloc[0][["roc_auc", "pr_auc", "brier", "log_loss"]].astype(float).to_dict() if len(pooled) else {}
                )
                save_model(model, args.save, metrics=metrics, con=con)
                print(f"saved the model fitted on waves {model.training_['waves']} to {args.save}")
            print()
        scores = withdrawal(con, wave=wave, model=args.model, random_state=args.seed)
        ew = early_warning(con, wave=wave, withdrawal_scores=scores)
    print(f"wave {wave}: {scores.attrs['method']}")
    counts = ew["priority"].value_counts()
    print("early warning: " + ", ".join(f"{counts.get(k, 0):,} {k}" for k in ("act", "watch", "protect", "monitor")))
    print(_early_warning_lines(ew, args.top))
    return 0


def cmd_scenario(args) -> int:
    from pathlib import Path

    from . import scenario as S

    with _connect(args, read_only=args.action in ("list", "show", "run")) as con:
        if args.action == "list":
            table = S.saved(con)
            for r in table.itertuples():
                days = "for good" if r.days is None or r.days != r.days else f"{r.days:g} days"
                print(f"{r.name:<28} {r.source:<8} {days:<10} {r.description}")
            return 0
        if not args.target:
            raise SupplyChainError(f"scenario {args.action}: name a scenario (or a .json/.yaml file)")
        is_file = Path(args.target).suffix.lower() in (".json", ".yaml", ".yml")
        scenarios = S.read(args.target) if is_file else [S.load(con, args.target)]
        if args.action == "save":
            for s in scenarios:
                print(f"saved scenario {S.save(con, s)}")
            return 0
        if args.action == "show":
            import json

            for s in scenarios:
                print(json.dumps(s, ensure_ascii=False, indent=2))
            return 0
        wave = _latest_wave(con, args.wave)
        for s in scenarios:
            if args.days is not None:
                s = {**s, "days": args.days}
            res = S.run(con, s, wave=wave)
            print(_scenario_lines(res, args.top))
    return 0


def cmd_plan(args) -> int:
    from . import plan as P

    with _connect(args, read_only=args.action not in ("load",)) as con:
        if args.action == "synth":
            from .datasets import make_plans, write_plans

            if not args.target:
                raise SupplyChainError("plan synth: give the workbook to write (.xlsx, or a folder for CSV)")
            wave = _latest_wave(con, args.wave)
            plans, measures = make_plans(con, wave=wave, n_plans=args.plans, random_state=args.seed)
            write_plans(args.target, plans, measures)
            print(f"wrote {len(plans)} synthetic plans ({len(measures)} measures) for wave {wave} to {args.target}")
            return 0
        if args.action == "load":
            if not args.target:
                raise SupplyChainError("plan load: give the plans workbook (.xlsx, or a folder of plans.csv and measures.csv)")
            print(f"loaded {P.load_plans(con, args.target)} plans from {args.target}")
            return 0
        wave = _latest_wave(con, args.wave)
        if args.action == "rank":
            table = P.ranking(con, wave=wave)
            if table.empty:
                print("no plan loaded: run `supplychain plan load FILE` first")
                return 0
            print(
                f"{'rank':>4}  {'plan':<10} {'company':<24} {'program':<8} {'amount (¥m)':>12} {'days saved':>10} {'¥m per day':>11}  REI"
            )
            for r in table.itertuples():
                per = "-" if r.yen_per_day_saved == float("inf") else f"{r.yen_per_day_saved / 1e6:,.1f}"
                print(
                    f"{r.rank:>4}  {r.plan_id:<10} {_fit(r.company_name, 24)} {r.program:<8} {r.amount_jpy / 1e6:>12,.1f}"
                    f" {r.program_days_saved:>10,.0f} {per:>11}  {r.rei_before:.2f} → {r.rei_after:.2f}"
                )
            return 0
        if not args.target:
            raise SupplyChainError("plan review: give the plan id")
        r = P.review(con, args.target, wave=wave)
    print(r.text())
    print()
    print(r.scenarios.to_string(index=False))
    print()
    print(r.findings.to_string(index=False))
    return 0


def _scenario_lines(res, top: int) -> str:
    s, f = res.scenario, res.summary
    days = "for good" if s["days"] is None else f"{s['days']:g} days"
    lines = [
        f"{s['name']} on wave {res.wave} ({days}): {f['links_stopped_first']:,} links stop first, {f['links_stopped']:,} in all; "
        f"{f['parts_lost']:,} parts and {f['buyers_lost']:,} (program, company) lost; {f['programs_lost']} programs stop "
        f"for {f['program_days_lost']:,.0f} program-days, ¥{f['value_lost'] / 1e6:,.0f}m",
    ]
    if "baseline" in f:
        b = f["baseline"]
        lines.append(
            f"  without its mitigations: {b['program_days_lost']:,.0f} program-days, ¥{b['value_lost'] / 1e6:,.0f}m "
            f"(mitigations save {b['program_days_lost'] - f['program_days_lost']:,.0f} days)"
        )
    for note in f.get("notes", []):
        lines.append(f"  note: {note}")
    for r in res.programs_lost.head(top).itertuples():
        lines.append(
            f"  {r.program:<10} {r.days_lost:>7,.0f} days  ¥{r.value_lost / 1e6:>10,.0f}m  stock on the way {r.tts_days:g} days"
        )
        lines.append(f"    {r.path}")
    return "\n".join(lines)


def _early_warning_lines(ew, top: int) -> str:
    lines = [f"{'priority':<8} {'company':<14} {'name':<24} {'prob.':>6} {'parts':>6} {'value lost (¥m/yr)':>19}  measure"]
    for r in ew.head(top).itertuples():
        prob = "-" if r.probability != r.probability else f"{r.probability:.0%}"
        lines.append(
            f"{r.priority:<8} {r.company:<14} {_fit(r.company_name, 24)} {prob:>6} {r.parts_lost:>6} {r.value_lost / 1e6:>19,.0f}"
            f"  {r.measure_type or '-'}: {r.measure}"
        )
        lines.append(f"{'':<9}{r.drivers}")
    return "\n".join(lines)


def _fit(text, width: int) -> str:
    """``text`` cut and padded to ``width`` terminal columns (full-width characters take two)."""
    import unicodedata

    out, used = [], 0
    for ch in str(text):
        w = 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
        if used + w > width:
            break
        out.append(ch)
        used += w
    return "".join(out) + " " * (width - used)


def _score_report(res: dict, wave: int, top: int) -> str:
    """The text `supplychain score` prints: counts, then the top chokepoints."""
    s = res["sourcing"]
    counts = s["classification"].value_counts()
    lines = [
        f"wave {wave}: {len(s):,} (program, buyer, part) requirements — "
        + ", ".join(f"{counts.get(k, 0):,} {k}" for k in ("sole", "single", "multi")),
        f"hidden convergence: {res['hidden_convergence'][['program', 'buyer', 'part']].drop_duplicates().shape[0]:,} "
        f"apparently multi-sourced parts lost to one upstream company",
    ]
    f = res["graph_finding"]
    if len(f):
        lines.append("graph findings: " + ", ".join(f"{n:,} {k}" for k, n in f["kind"].value_counts().sort_index().items()))
    c = res["criticality"].head(top)
    lines += ["", f"top {len(c)} chokepoints (what fails if the company alone fails, AND/OR rule):"]
    lines.append(
        f"{'rank':>4}  {'company':<14} {'name':<24} {'programs':>8} {'buyers':>7} {'parts':>6} {'value lost (¥m/yr)':>19}"
    )
    for r in c.itertuples():
        lines.append(
            f"{r.rank:>4}  {r.company:<14} {_fit(r.company_name, 26)} {r.programs_lost:>8} {r.buyers_lost:>7}"
            f" {r.parts_lost:>6} {r.value_lost / 1e6:>19,.0f}"
        )
    if "esri" in res:
        e = res["esri"].head(top)
        lines += ["", f"top {len(e)} by ESRI (share of the network's output lost, Diem et al. 2022):"]
        for r in e.itertuples():
            lines.append(f"{r.rank:>4}  {r.company:<14} {_fit(r.company_name, 26)} {r.esri:>8.3f}")
    if "foreign_exposure" in res:
        lines += ["", "foreign dependency (share of each program's need, traced through all tiers):"]
        lines += _exposure_lines(res["foreign_exposure"])
    if "foreign_control" in res:
        fc = res["foreign_control"]
        counts = fc.groupby(["concern", "relation"]).size()
        lines += [
            "",
            f"suppliers held from abroad: {fc['company'].nunique():,} "
            f"({fc.loc[fc['concern'], 'company'].nunique():,} from countries of concern: "
            + ", ".join(f"{n:,} {rel}" for (concern, rel), n in counts.items() if concern)
            + ")",
        ]
    if "early_warning" in res:
        ew = res["early_warning"]
        counts = ew["priority"].value_counts()
        lines += [
            "",
            f"withdrawal early warning ({ew['method'].iloc[0] if len(ew) else 'no company'}): "
            + ", ".join(f"{counts.get(k, 0):,} {k}" for k in ("act", "watch", "protect", "monitor")),
            _early_warning_lines(ew, min(top, 5)),
        ]
    if "finding" in res:
        f = res["finding"]
        lines += ["", f"risk register: {len(f):,} findings ({_severity_counts(f)}); `supplychain findings` lists them"]
        lines += ["  " + x for x in _finding_lines(f, min(top, 10))]
    lines += ["", "stored in tables: " + ", ".join(res)]
    return "\n".join(lines)


def _exposure_lines(fe, top: int = 4) -> list[str]:
    """Per program: the home, concern and unknown shares, then the largest foreign countries."""
    lines = []
    for program, g in fe.groupby("program", sort=True):
        share = g.groupby("country_group")["exposure"].sum()
        foreign = g[~g["country_group"].isin(["domestic", "unknown"])].head(top)
        biggest = ", ".join(f"{r.country} {r.exposure:.0%} (tier {r.first_tier})" for r in foreign.itertuples())
        lines.append(
            f"  {_fit(program, 10)} domestic {share.get('domestic', 0):4.0%}  concern {share.get('concern', 0):4.0%}"
            f"  unknown {share.get('unknown', 0):4.0%}  largest abroad: {biggest or '-'}"
        )
    if len(fe):
        lines.append(f"  (country lists: {fe['country_lists'].iloc[0]})")
    return lines


def cmd_rejected(args) -> int:
    from .db import run

    where, params = [], []
    if args.wave is not None:
        where.append("wave = ?")
        params.append(args.wave)
    if args.file:
        where.append("file_path LIKE ?")
        params.append(f"%{args.file}%")
    with _connect(args, read_only=True) as con:
        df = run(
            con,
            'SELECT file_path AS file, sheet AS source, row, "column", value, reason, action FROM rejected_row'
            + (" WHERE " + " AND ".join(where) if where else "")
            + ' ORDER BY submission_id, sheet, row, "column"',
            params,
        ).df()
    if df.empty:
        print("no rejected rows")
        return 0
    _print_issues(df, 0)
    return 0


def cmd_template(args) -> int:
    from .survey.template import write_template

    path = write_template(args.out, lang=args.lang)
    print(f"wrote {path}")
    return 0


def cmd_sample(args) -> int:
    from .datasets import write_survey

    written = write_survey(
        args.out, scale=args.scale, waves=args.waves, random_state=args.seed, progress=not args.quiet, overwrite=args.force
    )
    print(f"wrote {len(written)} survey returns under {args.out}")
    return 0


def cmd_review(args) -> int:
    from .survey.resolve import decide, review_queue

    with _connect(args) as con:
        if args.decide:
            review_id, decision = args.decide
            decide(con, review_id, decision)
            print(f"{review_id}: {decision}")
            return 0
        df = review_queue(con, status=None if args.all else "pending")
    if df.empty:
        print("the entity review queue is empty")
        return 0
    for r in df.itertuples(index=False):
        print(f"{r.review_id}  {r.score:5.1f}  {r.name_a!r}  ~  {r.name_b!r}  ({r.reason}; {r.status})")
    print("\ndecide with: supplychain review entities --decide REVIEW_ID same|different")
    return 0


def cmd_screen(args) -> int:
    from . import screening

    with _connect(args) as con:
        if args.decide:
            hit_id, decision = args.decide
            screening.decide(con, hit_id, decision, note=args.note)
            print(f"{hit_id}: {decision}")
            return 0
        for path in args.list:
            n = screening.load_list(con, path, format=args.format, list_name=args.list_name)
            print(f"loaded {n:,} entries from {path}")
        hits = screening.screen(con, wave=args.wave, config=args.config)
        queue = hits if args.all else hits[hits["status"] == "pending"]
    strong = int(hits["strong"].sum())
    print(f"{len(hits):,} hits ({strong:,} strong); {len(queue):,} {'shown' if args.all else 'awaiting review'}")
    for r in queue.itertuples(index=False):
        flag = "!" if r.strong else " "
        print(
            f"{r.hit_id} {flag}{r.score:5.1f}  {r.subject_kind:<7} {_fit(r.subject_name, 30)} ~ {_fit(r.matched_alias, 30)}"
            f" [{r.list_name}: {r.entry_id}; {r.entry_country or '-'}] {r.status}"
        )
    if len(queue):
        print("\ndecide with: supplychain screen --decide HIT_ID confirmed|dismissed [--note TEXT]")
    return 0


def _log_to(path: Path) -> logging.Handler:
    """Append the library's log (INFO and up, tracebacks included) to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    lib = logging.getLogger("supplychain")
    lib.addHandler(handler)
    if lib.level == logging.NOTSET or lib.level > logging.INFO:
        lib.setLevel(logging.INFO)
    return handler


def cmd_report(args) -> int:
    """Build a report; any failure is one line on stderr (the traceback goes to the log file)
    and a non-zero exit, and nothing is published."""
    from .db import DatabaseBusy
    from .report import ReportBusy, build, build_plan

    what = list(args.what)
    if what and (what[0] != "plan" or len(what) != 2):
        print("usage: supplychain report [--wave W] [--out DIR] | supplychain report plan PLAN_ID", file=sys.stderr)
        return 2
    out = Path(args.out)
    handler = _log_to(Path(args.log) if args.log else out / "report.log")
    log = logging.getLogger("supplychain.report")
    log.info("supplychain report %s: db %s, out %s", " ".join(what) or "(wave)", _db_path(args), out)
    kwargs = dict(
        wave=args.wave,
        out=out,
        formats=args.formats,
        lang=args.lang,
        marking=args.marking,
        config=args.config,
        if_changed=args.if_changed,
        wait=args.wait,
        progress=not args.quiet,
    )
    try:
        if not Path(_db_path(args)).exists():
            raise SupplyChainError(f"database {_db_path(args)} does not exist (`supplychain ingest` and `score` first)")
        with _connect(args, read_only=True) as con:
            if what:
                res = build_plan(con, what[1], **kwargs)
            else:
                programs = [p.strip() for p in args.programs.split(",") if p.strip()] if args.programs else None
                res = build(con, programs=programs, **kwargs)
    except (ReportBusy, DatabaseBusy) as exc:
        log.error("refused: %s", exc)
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BUSY
    except SupplyChainError as exc:
        log.error("failed: %s", exc)
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # a scheduled run must end with one line and a code, whatever happened
        log.exception("failed")
        print(f"error: report failed: {type(exc).__name__}: {exc} (traceback in {handler.baseFilename})", file=sys.stderr)
        return 1
    finally:
        logging.getLogger("supplychain").removeHandler(handler)
        handler.close()
    if res.skipped:
        print(f"unchanged since {res.path} (data and parameters): skipped")
        return 0
    for fmt, path in sorted(res.files.items()):
        print(f"{fmt:>5}  {path}")
    print(f"report: {res.path} ({res.seconds:.1f} s)")
    return 0


def cmd_db(args) -> int:
    """Database maintenance: ``encrypt SOURCE DESTINATION`` (key from $SUPPLYCHAIN_KEY_FILE or
    $SUPPLYCHAIN_KEY), ``info PATH`` (encrypted or not, schema version, waves)."""
    from .db import connect, encrypt_database, is_encrypted

    if args.action == "encrypt":
        if len(args.paths) != 2:
            print("usage: supplychain db encrypt SOURCE.duckdb DESTINATION.duckdb", file=sys.stderr)
            return 2
        counts = encrypt_database(*args.paths)
        print(
            f"encrypted {sum(counts.values()):,} rows of {len(counts)} tables into {args.paths[1]} (checked against the source)"
        )
        print(f"{args.paths[0]} is unchanged: delete it securely once you no longer need it")
        return 0
    if len(args.paths) != 1:
        print("usage: supplychain db info PATH.duckdb", file=sys.stderr)
        return 2
    path = args.paths[0]
    encrypted = is_encrypted(path)
    print(f"{path}: {'encrypted (AES-GCM)' if encrypted else 'not encrypted'}")
    with closing(connect(path, read_only=True)) as con:
        version = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        waves = [w for (w,) in con.execute("SELECT wave FROM survey_wave ORDER BY wave").fetchall()]
    print(f"schema version {version[0] if version else '-'}; waves {', '.join(map(str, waves)) or '-'}")
    return 0


def cmd_audit(args) -> int:
    """The audit journal of the database: ``show`` its entries, ``verify`` the chain (exit 1 when
    it is broken), ``anchor FILE`` (append the head to a file kept apart)."""
    from . import audit

    db = _db_path(args)
    if args.action == "verify":
        res = audit.verify(db, anchors=args.anchors)
        print(res)
        return 0 if res.ok else 1
    if args.action == "anchor":
        if not args.file:
            print("usage: supplychain audit anchor FILE", file=sys.stderr)
            return 2
        head = audit.anchor(db, args.file)
        print(f"anchored entry #{head['seq']} {head['hash']} in {args.file}")
        return 0
    frame = audit.show(db, action=args.action_filter, user=args.user, last=args.last or None)
    print(f"audit journal {audit.journal_path(db)}: {len(frame):,} entries shown")
    for r in frame.itertuples():
        params = ", ".join(f"{k}={v}" for k, v in (r.parameters or {}).items() if not isinstance(v, dict | list))
        print(f"#{r.seq:<5} {r.at[:19]}  {r.user:<12} {r.action:<20} {r.target or ''}" + (f"  ({params})" if params else ""))
    return 0


def cmd_dictionary(args) -> int:
    from .survey.schema import data_dictionary

    text = data_dictionary() + "\n"
    if args.check:
        current = Path(args.out).read_text("utf-8") if Path(args.out).exists() else ""
        if current != text:
            print(f"{args.out} is stale: run `make dictionary`", file=sys.stderr)
            return 1
        print(f"{args.out} is up to date")
        return 0
    Path(args.out).write_text(text, "utf-8")
    print(f"wrote {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="supplychain", description="Defense supply-chain risk analytics on survey data.")
    p.add_argument("--version", action="version", version=f"supplychain {__version__}")
    p.add_argument("--db", help="database file (default: $SUPPLYCHAIN_DB or supplychain.duckdb)")
    p.add_argument("-v", "--verbose", action="store_true", help="log what the library does")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.add_argument(
        "--wait",
        dest="db_wait",
        type=float,
        default=0,
        metavar="SECONDS",
        help="wait this long for a database another process holds (a notebook, another run) before giving up",
    )
    p.add_argument(
        "--profile",
        help="user profile: a site configuration file whose [access] compartments limit what this run "
        "may see (used as the command's --config when that is not given)",
    )
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("ingest", help="load survey returns (.xlsx files, CSV folders, or folders of them)")
    s.add_argument("paths", nargs="+")
    s.add_argument("--wave", type=int, help="refuse files that belong to another wave")
    s.add_argument("--strict", action="store_true", help="refuse a whole file on any problem")
    s.add_argument(
        "--accept-partial",
        action="store_true",
        help=f"exit 0 rather than {EXIT_REJECTED} when rows were refused (files still refused exit {EXIT_REFUSED})",
    )
    s.add_argument("--limit", type=int, default=40, help="problems to print (0 = all)")
    s.add_argument(
        "--batch-rows",
        type=int,
        default=None,
        help="rows of returns validated and loaded together (default 1000000; 1 = file by file)",
    )
    s.set_defaults(func=cmd_ingest)

    s = sub.add_parser("summary", help="what the database holds")
    s.set_defaults(func=cmd_summary)

    s = sub.add_parser("score", help="every analysis of a wave (sourcing to early warning), stored in the database")
    s.add_argument("--wave", type=int, help="the wave to score (default: the latest)")
    s.add_argument(
        "--last",
        type=int,
        default=1,
        metavar="N",
        help="score the N waves up to --wave, oldest first (2: the report can show changes)",
    )
    s.add_argument("--no-esri", action="store_true", help="skip ESRI (the slowest analysis at economy scale)")
    s.add_argument("--top", type=int, default=10, help="chokepoints to print")
    s.add_argument("--model", help="a withdrawal model saved with `supplychain withdrawal --save` (default: fit one)")
    s.add_argument("--config", help="site configuration file (country lists, register rules)")
    s.set_defaults(func=cmd_score)

    s = sub.add_parser("findings", help="list the risk register (written by `score`), or what changed since a wave")
    s.add_argument("--wave", type=int, help="the register's wave (default: the latest stored)")
    s.add_argument("--program", help="findings concerning this program")
    s.add_argument("--min-severity", choices=["critical", "high", "medium", "low"], help="this band and worse")
    s.add_argument("--archetype", help="one archetype (sourcing, cyber, withdrawal, ...)")
    s.add_argument("--status", choices=["new", "open", "mitigated", "accepted", "closed"], help="triage status")
    s.add_argument("--company", help="findings about this company (corporate number or internal id)")
    s.add_argument("--since", type=int, metavar="WAVE", help="list the changes since WAVE instead (new, worse, better, resolved)")
    s.add_argument("--config", help="site configuration file (diff tolerance)")
    s.add_argument("--top", type=int, default=20, help="findings to print (0 = all)")
    s.add_argument("--csv", metavar="FILE", help="also write every finding listed to a CSV file")
    s.set_defaults(func=cmd_findings)

    s = sub.add_parser("finding", help="triage one finding (status, owner, note) or show it with its history")
    s.add_argument("action", choices=["set", "show"])
    s.add_argument("finding_id")
    s.add_argument("--status", choices=["new", "open", "mitigated", "accepted", "closed"])
    s.add_argument("--owner")
    s.add_argument("--note")
    s.add_argument("--wave", type=int, help="the wave's register (default: the latest holding the finding)")
    s.add_argument("--user", help="who is making the change (default: the operating-system user)")
    s.set_defaults(func=cmd_finding)

    s = sub.add_parser("withdrawal", help="withdrawal early warning: validate the model against its baselines, score a wave")
    s.add_argument("--wave", type=int, help="the wave to score (default: the latest)")
    s.add_argument("--validate", action="store_true", help="forward-chained validation against the expert rule and intent alone")
    s.add_argument("--save", metavar="FILE", help="fit on every labelled wave up to --wave and save the model (skops)")
    s.add_argument("--model", metavar="FILE", help="score with a saved model instead of fitting one")
    s.add_argument("--seed", type=int, default=0, help="random_state")
    s.add_argument("--top", type=int, default=15, help="companies to print")
    s.set_defaults(func=cmd_withdrawal)

    s = sub.add_parser("scenario", help="what-if scenarios in time: list, show, save (from .json/.yaml), run")
    s.add_argument("action", choices=["list", "show", "save", "run"])
    s.add_argument("target", nargs="?", help="a scenario name (standard or saved) or a .json/.yaml file")
    s.add_argument("--wave", type=int, help="the wave to run on (default: the latest)")
    s.add_argument("--days", type=float, help="override the scenario's duration")
    s.add_argument("--top", type=int, default=10, help="programs to print")
    s.set_defaults(func=cmd_scenario)

    s = sub.add_parser(
        "plan", help="Stable Manufacturing Plans: load a plans workbook, review one plan, rank all, write synthetic ones"
    )
    s.add_argument("action", choices=["load", "review", "rank", "synth"])
    s.add_argument("target", nargs="?", help="the plans workbook (load, synth) or the plan id (review)")
    s.add_argument("--wave", type=int, help="the wave to review against (default: the latest)")
    s.add_argument("--plans", type=int, default=12, help="synth: how many synthetic plans")
    s.add_argument("--seed", type=int, default=0, help="synth: random_state")
    s.set_defaults(func=cmd_plan)

    s = sub.add_parser("rejected", help="list refused rows and dropped values")
    s.add_argument("--wave", type=int)
    s.add_argument("--file", help="part of the file path")
    s.set_defaults(func=cmd_rejected)

    s = sub.add_parser("template", help="write an empty survey workbook for respondents")
    s.add_argument("out")
    s.add_argument("--lang", choices=["ja", "en"], default="ja", help="language of headers and notes")
    s.set_defaults(func=cmd_template)

    s = sub.add_parser("sample", help="write synthetic survey returns")
    s.add_argument("--scale", choices=["sample", "panel", "national", "economy"], default="sample")
    s.add_argument("--out", required=True)
    s.add_argument("--waves", type=int, default=None, help="number of waves (default: 4 for sample, 1 otherwise)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--force", action="store_true", help="replace the waves already in --out")
    s.set_defaults(func=cmd_sample)

    s = sub.add_parser("review", help="human review queues")
    s.add_argument("queue", choices=["entities"])
    s.add_argument("--all", action="store_true", help="include decided pairs")
    s.add_argument("--decide", nargs=2, metavar=("REVIEW_ID", "DECISION"), help="DECISION is same or different")
    s.set_defaults(func=cmd_review)

    s = sub.add_parser("screen", help="load screening lists, match companies and owners against them, print the review queue")
    s.add_argument("--list", action="append", default=[], metavar="FILE", help="a list file to load first (repeatable)")
    s.add_argument("--format", choices=["meti", "csl", "opensanctions"], help="format of the --list files (default: guessed)")
    s.add_argument("--list-name", help="name to keep the list under (default: the format's)")
    s.add_argument("--wave", type=int, help="screen the companies of this wave only (default: all)")
    s.add_argument("--config", help="site configuration file (thresholds)")
    s.add_argument("--all", action="store_true", help="print decided hits too")
    s.add_argument("--decide", nargs=2, metavar=("HIT_ID", "DECISION"), help="DECISION is confirmed or dismissed")
    s.add_argument("--note", help="note kept with --decide")
    s.set_defaults(func=cmd_screen)

    s = sub.add_parser(
        "report",
        help="build the risk report (HTML, PDF, XLSX) in a dated folder, or `report plan PLAN_ID` for a plan review pack",
        description="Exit codes: 0 built (or skipped with --if-changed), 1 failed (nothing published), "
        f"{EXIT_BUSY} another run holds the lock.",
    )
    s.add_argument("what", nargs="*", metavar="plan PLAN_ID", help="`plan PLAN_ID`: the review pack of one plan")
    s.add_argument("--wave", type=int, help="the wave (default: the latest with a risk register)")
    s.add_argument("--out", default="reports", help="folder of reports (default: reports/)")
    s.add_argument("--formats", default="html,pdf,xlsx", help="some of html,pdf,xlsx (default: all three)")
    s.add_argument("--programs", help="only these programs, comma-separated (default: all)")
    s.add_argument("--lang", choices=["ja", "en"], help="language of labels (default: the configuration's, ja)")
    s.add_argument(
        "--marking", help='marking on every page (default: the configuration\'s [report] marking; "unmarked" for synthetic data)'
    )
    s.add_argument("--config", help="site configuration file (marking, country lists, register rules)")
    s.add_argument("--if-changed", action="store_true", help="skip when data and parameters match the latest report")
    s.add_argument("--wait", type=float, help="seconds to wait for another run's lock (default: the configuration's, 0)")
    s.add_argument("--log", help="log file (default: OUT/report.log)")
    s.set_defaults(func=cmd_report)

    s = sub.add_parser(
        "db",
        help="encrypt a database (key from $SUPPLYCHAIN_KEY_FILE or $SUPPLYCHAIN_KEY), or tell whether one is encrypted",
    )
    s.add_argument("action", choices=["encrypt", "info"])
    s.add_argument("paths", nargs="+", metavar="PATH", help="encrypt: SOURCE DESTINATION; info: PATH")
    s.set_defaults(func=cmd_db)

    s = sub.add_parser(
        "audit", help="the audit journal: show entries, verify the hash chain, anchor its head in a file kept apart"
    )
    s.add_argument("action", choices=["show", "verify", "anchor"])
    s.add_argument("file", nargs="?", help="anchor: the file to append the head to")
    s.add_argument("--anchors", help="verify: also check the entries anchored in this file")
    s.add_argument("--action", dest="action_filter", help="show: only this action (ingest, score, report, ...)")
    s.add_argument("--user", help="show: only this user")
    s.add_argument("--last", type=int, default=50, help="show: the last N entries (default 50; 0 for all)")
    s.set_defaults(func=cmd_audit)

    s = sub.add_parser("dictionary", help="write (or --check) docs/data-dictionary.md from the schema")
    s.add_argument("--out", default="docs/data-dictionary.md")
    s.add_argument("--check", action="store_true")
    s.set_defaults(func=cmd_dictionary)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.profile and not getattr(args, "config", None):
        args.config = args.profile
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from .db import DatabaseBusy

    try:
        return args.func(args)
    except DatabaseBusy as exc:  # a scheduler can tell "try later" from a failure
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BUSY
    except SupplyChainError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; every file is loaded whole or not at all", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into head, less, ...: stop quietly (Python's recommended recipe)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
