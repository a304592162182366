"""Need-to-know by program: a reader sees only the compartments of their profile.

Each program has a ``compartment`` (the ``programs`` sheet). A **user profile** is a site
configuration file whose ``[access]`` section lists the compartments its reader may see::

    name = "analyst-B"
    [access]
    compartments = ["B"]

Reports, exports and notebook helpers built under such a profile are built from a **restricted
copy** of the database (:func:`restricted`), in memory, holding only what the profile may see:

* the programs of its compartments (a program without a compartment is in none: a restricted
  profile never sees it), their supply links, and the parts, companies, statuses, cyber
  assessments, sites, shareholders and withdrawal events of the companies in those links;
* the plans of those programs; review queues and screening hits about those companies; the
  returns (``ingest_log``) behind the rows copied — a return whose respondent is outside the
  profile shows as "submission N (withheld)", without name or file — and the refused rows of
  respondents inside it;
* saved scenarios and refused rows only where they name nothing outside it (no name, corporate
  number or program of the rest); triage notes, withdrawal reasons, measure descriptions,
  review pairs' names and plan file names that do are withheld (the row is kept);
* no audit history (the journal is the source database's; entries made through the copy go to
  it); no stored results: every wave that had a risk register is **scored again** on the copy,
  so that no count, ranking, exposure or probability carries what was taken out (criticality
  across programs, ESRI, foreign exposure, the withdrawal model are computed on the copy alone).
  Triage (status, owner, notes) is carried to the new register by finding id.

So nothing from another compartment can reach an output by construction: not a company that
appears only there, not a count that reveals it. The cost is the scoring: seconds on the sample,
minutes at national scale.

A profile of ``["*"]`` (the default) sees everything; :func:`scoped` then returns the
connection itself.

>>> import supplychain as sc
>>> con = sc.connect()
>>> scoped(con) is con
True
"""

from __future__ import annotations

import contextlib
import logging

import pandas as pd

from .db import registered, run, transaction
from .exceptions import SupplyChainError
from .options import load_options

__all__ = ["restricted", "scoped", "compartments_of", "RESTRICTED_KEY"]

log = logging.getLogger(__name__)

#: ``meta`` key a restricted copy carries: the compartments it holds.
RESTRICTED_KEY = "restricted_to"
#: Tables whose free text is kept only when it names nothing outside the profile.
_TEXT_CHECKED = {
    "rejected_row": ["file_path", "value", "reason"],
    "scenario": ["name", "description", "definition"],
}
#: Returns behind copied rows are kept (the rows need them); text of theirs that names anything
#: outside the profile is replaced, not the row dropped.
_TEXT_MASKED = {
    "ingest_log": ["file_path", "file_name", "respondent_key", "respondent_name", "message", "extra_columns"],
    "plan": ["source_file"],
    "plan_measure": ["description"],
    "withdrawal_event": ["reason"],
    "entity_review": ["name_a", "name_b", "reason"],
}
#: Tables never copied: analysis results (scored again) and the database's own history.
_NOT_COPIED = {"finding", "audit_log", "country", "prefecture", "meta"}
#: Shortest name or code checked for in free text (shorter ones match by accident).
_MIN_TOKEN = 3


def compartments_of(con) -> frozenset[str] | None:
    """The compartments a restricted copy holds; None for a full database."""
    found = run(con, "SELECT value FROM meta WHERE key = ?", [RESTRICTED_KEY]).fetchone()
    if found is None:
        return None
    return frozenset(c for c in found[0].split(",") if c)


def scoped(con, config=None, *, progress: bool = False):
    """``con`` when the profile of ``config`` sees every compartment (or ``con`` is already a
    copy restricted to it); otherwise a restricted copy (:func:`restricted`)."""
    options = load_options(config)
    if options.compartments is None:
        return con
    held = compartments_of(con)
    if held is not None:
        if not held <= options.compartments:
            raise SupplyChainError(
                f"this database is restricted to compartments {sorted(held)}, "
                f"more than the profile {options.label!r} may see ({sorted(options.compartments)})"
            )
        return con
    return restricted(con, options, progress=progress)


def restricted(con, config=None, *, score: bool = True, progress: bool = False):
    """An in-memory copy of ``con`` restricted to the compartments of the profile ``config``
    (see the module docstring), scored again unless ``score`` is false. The source is only
    read (a read-only connection will do)."""
    from . import audit
    from .db import connect
    from .survey.schema import tables

    options = load_options(config)
    allowed = options.compartments
    if allowed is None:
        raise SupplyChainError(f"the profile {options.label!r} sees every compartment: nothing to restrict")
    if compartments_of(con) is not None:
        raise SupplyChainError("this database is already a restricted copy")
    programs = run(con, "SELECT program_id FROM program WHERE list_contains(?, compartment)", [sorted(allowed)]).df()
    keep_programs = pd.DataFrame({"id": programs["program_id"].astype(str)})
    with registered(con, "_sc_kp", keep_programs):
        companies = run(
            con,
            """SELECT DISTINCT id FROM (
                   SELECT buyer_id AS id FROM supply WHERE program_id IN (SELECT id FROM _sc_kp)
                   UNION ALL SELECT supplier_id FROM supply WHERE program_id IN (SELECT id FROM _sc_kp)
                   UNION ALL SELECT prime_company_id FROM program WHERE program_id IN (SELECT id FROM _sc_kp))
               WHERE id IS NOT NULL""",
        ).df()
        parts = run(con, "SELECT DISTINCT part_id AS id FROM supply WHERE program_id IN (SELECT id FROM _sc_kp)").df()
    keep_companies = pd.DataFrame({"id": companies["id"].astype(str)})
    keep_parts = pd.DataFrame({"id": parts["id"].astype(str)})
    kept = {"_sc_kp": keep_programs, "_sc_kc": keep_companies, "_sc_kt": keep_parts}
    kc, kp, kt = "(SELECT id FROM _sc_kc)", "(SELECT id FROM _sc_kp)", "(SELECT id FROM _sc_kt)"
    where = {
        "survey_wave": "TRUE",
        "company": f"company_id IN {kc}",
        "company_report": f"company_id IN {kc}",
        "program": f"program_id IN {kp}",
        "part": f"part_id IN {kt}",
        "supply": f"program_id IN {kp}",
        "material_origin": f"supplier_id IN {kc} AND part_id IN {kt}",
        "company_status": f"company_id IN {kc}",
        "cyber_assessment": f"company_id IN {kc}",
        "site": f"company_id IN {kc}",
        "ownership": f"company_id IN {kc}",
        "withdrawal_event": f"company_id IN {kc} AND (program_id IS NULL OR program_id IN {kp})"
        f" AND (part_id IS NULL OR part_id IN {kt})",
        "screening_entry": "TRUE",
        "plan": f"program_id IN {kp} AND company_id IN {kc}",
        "plan_measure": f"""plan_id IN (SELECT plan_id FROM plan WHERE program_id IN {kp} AND company_id IN {kc})
                            AND (supplier_id IS NULL OR supplier_id IN {kc}) AND (part_id IS NULL OR part_id IN {kt})""",
        "ingest_log": "submission_id IN (SELECT submission_id FROM _sc_subs)",
        "rejected_row": f"submission_id IN (SELECT submission_id FROM ingest_log WHERE respondent_id IN {kc})",
        "entity_review": f"coalesce(company_id_a IN {kc}, TRUE) AND coalesce(company_id_b IN {kc}, TRUE)"
        " AND coalesce(company_id_a, company_id_b) IS NOT NULL",
        "screening_hit": f"""(subject_kind = 'company' AND subject IN
                                 (SELECT coalesce(corporate_number, company_id) FROM company WHERE company_id IN {kc}))
                             OR (subject_kind = 'owner' AND subject IN (SELECT owner_name FROM ownership WHERE company_id IN {kc}))""",
        "scenario": "TRUE",
    }
    # references that may point outside: cleared, not followed
    cleared = {
        "company": {"parent_company_id": f"CASE WHEN parent_company_id IN {kc} THEN parent_company_id END"},
        "part": {"parent_part_id": f"CASE WHEN parent_part_id IN {kt} THEN parent_part_id END"},
        "withdrawal_event": {"successor_id": f"CASE WHEN successor_id IN {kc} THEN successor_id END"},
        "ingest_log": {
            c: f"CASE WHEN respondent_id IN {kc} THEN {c} END" for c in ("respondent_key", "respondent_name", "respondent_id")
        }
        | {
            c: f"CASE WHEN respondent_id IN {kc} THEN {c} ELSE 'submission ' || submission_id || ' (withheld)' END"
            for c in ("file_path", "file_name")
        }
        | {c: f"CASE WHEN respondent_id IN {kc} THEN {c} END" for c in ("message", "extra_columns", "replaces_submission_id")},
        "company_report": {
            "parent_ref": f"""CASE WHEN parent_ref IN (SELECT company_ref FROM company_report WHERE company_id IN {kc})
                              THEN parent_ref END"""
        },
    }
    schema = tables()
    missing = sorted(set(schema) - set(where) - _NOT_COPIED - {t for t, s in schema.items() if s.kind == "result"})
    if missing:  # a table added to the schema must be placed here before any profile can read it
        raise SupplyChainError(f"supplychain.access does not know how to restrict the table(s) {missing}")
    out = connect()
    try:
        with contextlib.ExitStack() as stack:
            for name, frame in kept.items():
                stack.enter_context(registered(con, name, frame))
            tokens = _outside_tokens(con, kc, kp)
            # the returns behind every row copied, and those of respondents inside the profile
            behind = [
                f'SELECT submission_id FROM "{t}" WHERE {where[t]}'
                for t in where
                if t != "ingest_log" and "submission_id" in schema[t].column_names
            ]
            subs = run(con, " UNION ".join(behind + [f"SELECT submission_id FROM ingest_log WHERE respondent_id IN {kc}"])).df()
            stack.enter_context(registered(con, "_sc_subs", subs))
            counts = _copy(con, out, where, cleared, schema, tokens)
            run(
                out,
                "INSERT INTO meta VALUES (?, ?), ('audit_journal', ?)",
                [RESTRICTED_KEY, ",".join(sorted(allowed)), str(audit.journal_path(con) or "")],
            )
        triage = run(
            con,
            """SELECT finding_id, wave, status, owner, notes, first_wave, triaged_at, triaged_by FROM finding
               WHERE status <> 'new' OR owner IS NOT NULL OR notes IS NOT NULL""",
        ).df()
        waves = [w for (w,) in run(con, "SELECT DISTINCT wave FROM finding ORDER BY wave").fetchall()]
        if score and waves:
            from .risk.score import score as score_wave

            with audit.part_of("restricted copy"):
                for w in waves:
                    score_wave(out, wave=w, progress=progress, config=options)
            _carry_triage(out, triage, tokens)
    except BaseException:
        out.close()  # nothing half-made is handed back
        raise
    audit.record(
        con,
        "restricted_copy",
        f"compartments {','.join(sorted(allowed))}",
        parameters={"profile": options.label, "compartments": sorted(allowed), "scored_waves": waves},
        outputs={"rows": counts},
    )
    log.info("restricted copy for %s: %s", sorted(allowed), counts)
    return out


def _copy(con, out, where: dict, cleared: dict, schema: dict, tokens: list[str]) -> dict[str, int]:
    """Copy each table's rows that ``where`` keeps from ``con`` into ``out`` (one transaction),
    references outside cleared, free text checked; returns the rows copied per table."""
    counts = {}
    with transaction(out):
        for name, condition in where.items():
            columns = [c.name for c in schema[name].columns]
            select = ", ".join(cleared.get(name, {}).get(c, f'"{c}"') + f' AS "{c}"' for c in columns)
            frame = run(con, f'SELECT {select} FROM "{name}" WHERE {condition}').arrow()
            if name in _TEXT_CHECKED and frame.num_rows and tokens:
                frame = _without_mentions(out, frame, _TEXT_CHECKED[name], tokens)
            if name in _TEXT_MASKED and frame.num_rows and tokens:
                frame = _masked(out, frame, _TEXT_MASKED[name], tokens)
            counts[name] = frame.num_rows
            if frame.num_rows:
                with registered(out, "_sc_copy", frame):
                    run(out, f'INSERT INTO "{name}" BY NAME SELECT * FROM _sc_copy')
    return counts


def _outside_tokens(con, kc: str, kp: str) -> list[str]:
    """Names, corporate numbers, refs and program codes of everything a profile may not see."""
    rows = run(
        con,
        f"""SELECT DISTINCT t FROM (
                SELECT unnest([company_id, corporate_number, name, name_kana, name_en]) AS t
                FROM company WHERE company_id NOT IN {kc}
                UNION ALL SELECT unnest([name, corporate_number, name_kana, name_en])
                FROM company_report WHERE company_id IS NULL OR company_id NOT IN {kc}
                UNION ALL SELECT unnest([program_id, name]) FROM program WHERE program_id NOT IN {kp})
            WHERE t IS NOT NULL AND length(t) >= {_MIN_TOKEN}""",
    ).fetchall()
    return sorted(t for (t,) in rows)


def _mentions(con, texts: pd.Series, tokens: list[str]) -> pd.Series:
    """Whether each text contains any of ``tokens`` (one join in DuckDB, not a Python loop)."""
    if texts.empty or not tokens:
        return pd.Series(False, index=texts.index)
    frame = pd.DataFrame({"i": range(len(texts)), "t": texts.astype("string").fillna("").to_numpy()})
    with registered(con, "_sc_texts", frame), registered(con, "_sc_tokens", pd.DataFrame({"k": tokens})):
        hit = run(con, "SELECT DISTINCT i FROM _sc_texts JOIN _sc_tokens ON contains(t, k)").df()["i"]
    out = pd.Series(False, index=texts.index)
    out.iloc[hit.to_numpy()] = True
    return out


def _without_mentions(con, frame, columns: list[str], tokens: list[str]):
    """The rows of an Arrow ``frame`` whose ``columns`` contain none of ``tokens``."""
    import pyarrow as pa

    df = frame.select(columns).to_pandas()
    text = df.astype("string").fillna("").agg("\u0000".join, axis=1)
    hits = _mentions(con, text, tokens)
    if hits.any():
        log.info("restricted copy: %d row(s) withheld for naming something outside the profile", int(hits.sum()))
    return frame.filter(pa.array(~hits.to_numpy()))


def _masked(con, frame, columns: list[str], tokens: list[str]):
    """``frame`` with each of ``columns`` replaced where it names any of ``tokens``."""
    import pyarrow as pa

    df = frame.to_pandas()
    for c in columns:
        hits = _mentions(con, df[c], tokens).to_numpy()
        if hits.any():
            if c in ("file_path", "file_name") and "submission_id" in df:
                df.loc[hits, c] = "submission " + df.loc[hits, "submission_id"].astype(str) + " (withheld)"
            elif c in ("file_path", "file_name", "source_file"):
                df.loc[hits, c] = "(withheld)"
            else:
                df.loc[hits, c] = None
    return pa.Table.from_pandas(df, schema=frame.schema, preserve_index=False)


def _carry_triage(out, triage: pd.DataFrame, tokens: list[str]) -> None:
    """Status, owner and notes of the source's findings onto the copy's register (same finding id
    and wave); a note naming anything outside the profile is withheld."""
    if triage.empty:
        return
    outside = _mentions(out, triage["notes"], tokens)
    triage = triage.assign(notes=triage["notes"].where(~outside, "(note withheld: it names something outside this profile)"))
    with transaction(out), registered(out, "_sc_triage", triage):
        run(
            out,
            """UPDATE finding SET status = t.status, owner = t.owner, notes = t.notes, first_wave = t.first_wave,
                                  triaged_at = t.triaged_at, triaged_by = t.triaged_by
               FROM _sc_triage t WHERE finding.finding_id = t.finding_id AND finding.wave = t.wave""",
        )
