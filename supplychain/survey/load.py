"""Loading survey returns into the database: one transaction per file, nothing lost.

:func:`ingest` reads, validates, resolves and loads each return. A file either loads (its
valid rows, or all of them with ``strict=True``) or leaves the database exactly as it was; what
was refused is kept in ``rejected_row`` and summarised in ``ingest_log``.

- The same file loaded twice is a no-op (content hash).
- A corrected file from the same respondent for the same wave replaces that respondent's rows for
  that wave, atomically; the old submission is marked ``superseded`` in ``ingest_log``.
"""

from __future__ import annotations

import getpass
import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..db import register_function, registered, run, transaction
from ..exceptions import IngestError, SupplyChainError, SurveyReadError
from .normalize import normalize_company_name
from .read import file_sha256, read_survey
from .resolve import resolve_companies
from .schema import sheets, tables
from .validate import ISSUE_COLUMNS, ValidatedWorkbook, drop_tables, validate_workbook

__all__ = ["ingest", "IngestResult", "FileResult", "survey_files"]

log = logging.getLogger(__name__)


@dataclass
class FileResult:
    """What happened to one file.

    ``status`` is ``loaded`` (every row), ``partial`` (some rows refused, the rest loaded),
    ``refused`` (nothing loaded: unreadable, or an error under ``strict``), ``unchanged`` (this
    exact file was loaded before) or ``failed`` (an unexpected error; nothing loaded).
    """

    path: str
    status: str
    wave: int | None = None
    respondent: str | None = None
    submission_id: int | None = None
    rows_loaded: int = 0
    rows_refused: int = 0
    values_dropped: int = 0
    replaced_submission_id: int | None = None
    issues: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=ISSUE_COLUMNS))
    message: str = ""

    @property
    def has_errors(self) -> bool:
        return self.status in ("refused", "failed") or self.rows_refused > 0 or self.values_dropped > 0


@dataclass
class IngestResult:
    """The outcome of :func:`ingest`: one :class:`FileResult` per file, in the order loaded."""

    files: list[FileResult]

    @property
    def loaded(self) -> int:
        """Rows loaded across files."""
        return sum(f.rows_loaded for f in self.files)

    @property
    def rejected(self) -> pd.DataFrame:
        """Every issue of every file (``file`` column first), as stored in ``rejected_row``."""
        frames = [f.issues.assign(file=f.path) for f in self.files if len(f.issues)]
        if not frames:
            return pd.DataFrame(columns=["file", *ISSUE_COLUMNS])
        df = pd.concat(frames, ignore_index=True)
        return df[["file", *ISSUE_COLUMNS]]

    @property
    def ok(self) -> bool:
        """True when no file had any error."""
        return not any(f.has_errors for f in self.files)

    def to_frame(self) -> pd.DataFrame:
        """One row per file."""
        return pd.DataFrame(
            [
                {
                    k: getattr(f, k)
                    for k in (
                        "path",
                        "status",
                        "wave",
                        "respondent",
                        "submission_id",
                        "rows_loaded",
                        "rows_refused",
                        "values_dropped",
                        "replaced_submission_id",
                        "message",
                    )
                }
                for f in self.files
            ]
        )

    def __repr__(self) -> str:
        counts = pd.Series([f.status for f in self.files]).value_counts().to_dict() if self.files else {}
        return f"IngestResult(files={len(self.files)}, {counts}, rows_loaded={self.loaded}, issues={len(self.rejected)})"


def survey_files(paths) -> list[Path]:
    """Expand paths into survey returns: ``.xlsx`` files and CSV folders, recursively, sorted.

    A folder is itself a return when it holds a ``respondent`` CSV; otherwise its contents are
    searched. Excel lock files (``~$…``) and hidden files are skipped.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir() and not _is_csv_return(p):
            children = sorted(c for c in p.iterdir() if not c.name.startswith((".", "~$")))
            out += survey_files([c for c in children if c.is_dir() or c.suffix.lower() in (".xlsx", ".xlsm")])
        else:
            out.append(p)
    return out


def _is_csv_return(p: Path) -> bool:
    from .read import _sheet_lookup, header_key

    lookup = _sheet_lookup()
    return any(lookup.get(header_key(c.stem)) == "respondent" for c in p.iterdir() if c.suffix.lower() == ".csv")


def ingest(con, paths, *, wave: int | None = None, strict: bool = False, progress: bool = False) -> IngestResult:
    """Load survey returns into the database.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        From :func:`supplychain.connect`.
    paths : str, Path or list of them
        Workbooks (``.xlsx``), CSV folders, or folders holding them (searched recursively).
    wave : int, optional
        The wave the files must belong to; a file saying otherwise is refused.
    strict : bool
        Refuse a whole file on any problem instead of loading its valid rows.
    progress : bool
        Show a progress bar (the CLI sets it).

    Returns
    -------
    IngestResult

    Examples
    --------
    >>> import supplychain as sc
    >>> con = sc.connect()
    >>> res = sc.ingest(con, "data/sample/2022")          # doctest: +SKIP
    """
    files = survey_files(paths)
    if not files:
        raise IngestError(f"no survey files (.xlsx or CSV folders) found in {paths}")
    iterator = files
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(files, desc="ingest", unit="file")
    results = []
    for path in iterator:
        results.append(_ingest_one(con, path, wave=wave, strict=strict))
        r = results[-1]
        log.info("%s: %s (%d rows loaded, %d refused)", path, r.status, r.rows_loaded, r.rows_refused)
    return IngestResult(results)


def _earlier_submission(con, sha: str):
    """A submission with exactly this content that was loaded (or loaded and later replaced)."""
    return run(
        con,
        """SELECT submission_id, wave, respondent_name, status, superseded_by FROM ingest_log
           WHERE sha256 = ? AND status IN ('loaded', 'partial', 'superseded') ORDER BY submission_id DESC LIMIT 1""",
        [sha],
    ).fetchone()


def _file_issue(reason: str, sheet=None, column=None) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "sheet": sheet,
                "source": sheet,
                "row": None,
                "column": column,
                "value": None,
                "reason": reason,
                "action": "file_refused",
            }
        ],
        columns=ISSUE_COLUMNS,
    )


def _ingest_one(con, path: Path, *, wave: int | None, strict: bool) -> FileResult:
    try:
        sha = file_sha256(path) if path.exists() else None
    except OSError as exc:
        return _refuse(con, path, None, None, None, _file_issue(f"cannot read: {exc}"), f"cannot read: {exc}")
    if sha:
        found = _earlier_submission(con, sha)
        if found:
            sid, found_wave, respondent, status, superseded_by = found
            why = f"identical to submission {sid}"
            if status == "superseded":
                why += f", which submission {superseded_by} replaced"
            return FileResult(
                str(path), "unchanged", wave=found_wave, respondent=respondent, submission_id=sid, message=f"{why}; nothing to do"
            )
    try:
        raw = read_survey(path)
    except SurveyReadError as exc:
        return _refuse(con, path, sha, None, None, _file_issue(exc.reason, exc.sheet, exc.column), str(exc))
    validated = validate_workbook(con, raw)
    try:
        issues = validated.issues
        resp = validated.respondent
        file_wave = int(resp["wave"]) if resp.get("wave") is not None else None
        errors = list(validated.file_errors)
        if wave is not None and file_wave is not None and file_wave != wave:
            errors.append(f"the respondent sheet says wave {file_wave}, but wave {wave} is being loaded")
        problems = int((issues["action"] != "warning").sum())
        if strict and problems and not errors:
            errors.append(f"strict mode: {problems} problem(s) in the file, so none of it is loaded")
        respondent = resp.get("respondent_name")
        if errors:
            refusal = pd.concat([*(_file_issue(e) for e in errors), issues.assign(action="file_refused")], ignore_index=True)
            return _refuse(con, path, raw.sha256, file_wave, respondent, refusal, "; ".join(errors), fmt=raw.format)
        try:
            return _load(con, validated, path, file_wave)
        except Exception as exc:  # rolled back by _load's transaction; report, never half-load
            log.exception("loading %s failed; the database is unchanged", path)
            return FileResult(
                str(path),
                "failed",
                wave=file_wave,
                respondent=respondent,
                issues=issues,
                message=f"{type(exc).__name__}: {exc} (nothing from this file was loaded)",
            )
    finally:
        drop_tables(con, validated)


def _refuse(con, path, sha, wave, respondent, issues: pd.DataFrame, message: str, fmt=None) -> FileResult:
    """Record a refused file: an ingest_log row and its issues, nothing else."""
    with transaction(con):
        sid = _next_submission_id(con)
        fmt = fmt or ("csv" if Path(path).is_dir() else Path(path).suffix.lower().lstrip(".") or "unknown")
        run(
            con,
            """INSERT INTO ingest_log (submission_id, wave, respondent_name, file_path, file_name, sha256, format,
                    status, rows_loaded, rows_rejected, values_dropped, message, loaded_at, loaded_by)
                    VALUES (?, ?, ?, ?, ?, ?, ?, 'refused', 0, ?, 0, ?, now(), ?)""",
            [
                sid,
                wave,
                respondent,
                str(path),
                Path(path).name,
                sha or "",
                fmt,
                int(issues["row"].nunique()),
                message,
                getpass.getuser(),
            ],
        )
        _write_issues(con, sid, wave, path, issues)
    return FileResult(
        str(path),
        "refused",
        wave=wave,
        respondent=respondent,
        submission_id=sid,
        rows_refused=int(issues["row"].nunique()),
        issues=issues,
        message=message,
    )


def _next_submission_id(con) -> int:
    return run(con, "SELECT coalesce(max(submission_id), 0) + 1 FROM ingest_log").fetchone()[0]


def _write_issues(con, sid, wave, path, issues: pd.DataFrame) -> None:
    if issues.empty:
        return
    frame = issues.assign(submission_id=sid, wave=wave, file_path=str(path))
    frame["row"] = frame["row"].astype("Int64")
    frame = frame[["submission_id", "wave", "file_path", "source", "row", "column", "value", "reason", "action"]]
    with registered(con, "_sc_issues", frame):
        run(
            con,
            'INSERT INTO rejected_row SELECT submission_id, wave, file_path, source, row, "column", value::VARCHAR,'
            " reason, action, now() FROM _sc_issues",
        )


#: How each fact sheet lands in its table: target table, and SELECT expressions over the
#: accepted rows ``s``, with ``m``, ``m2``, ``mb``, ``ms`` joins to the company map ``_sc_map``
#: (company_ref -> company_id). Other columns are taken by name from the sheet; a table column
#: with neither a mapping nor a sheet column of that name raises, so schema and loader agree.
_FACTS = {
    "supply": (
        "supply",
        {
            "program_id": "s.program",
            "buyer_id": "mb.company_id",
            "supplier_id": "ms.company_id",
            "part_id": "sc_part_key(s.part)",
            "site_id": "CASE WHEN s.site_ref IS NOT NULL THEN ms.company_id || '/' || s.site_ref END",
        },
        "JOIN _sc_map mb ON mb.company_ref = s.buyer_ref JOIN _sc_map ms ON ms.company_ref = s.supplier_ref",
    ),
    "material_origin": (
        "material_origin",
        {"supplier_id": "m.company_id", "part_id": "sc_part_key(s.part)"},
        "JOIN _sc_map m ON m.company_ref = s.supplier_ref",
    ),
    "status": ("company_status", {"company_id": "m.company_id"}, "JOIN _sc_map m ON m.company_ref = s.company_ref"),
    "cyber": ("cyber_assessment", {"company_id": "m.company_id"}, "JOIN _sc_map m ON m.company_ref = s.company_ref"),
    "sites": (
        "site",
        {"company_id": "m.company_id", "site_id": "m.company_id || '/' || s.site_ref"},
        "JOIN _sc_map m ON m.company_ref = s.company_ref",
    ),
    "ownership": (
        "ownership",
        {"company_id": "m.company_id", "owner_name_normalized": "sc_company_key(s.owner_name)"},
        "JOIN _sc_map m ON m.company_ref = s.company_ref",
    ),
    "withdrawal_events": (
        "withdrawal_event",
        {
            "company_id": "m.company_id",
            "program_id": "s.program",
            "part_id": "CASE WHEN s.part IS NOT NULL THEN sc_part_key(s.part) END",
            "successor_id": "m2.company_id",
        },
        "JOIN _sc_map m ON m.company_ref = s.company_ref LEFT JOIN _sc_map m2 ON m2.company_ref = s.successor_ref",
    ),
}


def _load(con, v: ValidatedWorkbook, path: Path, wave: int) -> FileResult:
    resp = v.respondent
    respondent_key = resp.get("respondent_corporate_number") or normalize_company_name(resp["respondent_name"])
    companies = run(con, f"SELECT * EXCLUDE (_row), _row FROM {v.tables['companies']}").df()
    _register_company_key(con)
    with transaction(con):
        previous = run(
            con,
            "SELECT submission_id FROM ingest_log WHERE respondent_key = ? AND wave = ? AND status IN ('loaded', 'partial')",
            [respondent_key, wave],
        ).fetchone()
        sid = _next_submission_id(con)
        if previous:
            for t in tables().values():
                if t.kind == "fact":
                    run(con, f'DELETE FROM "{t.name}" WHERE submission_id = ?', [previous[0]])
            run(con, "UPDATE ingest_log SET status = 'superseded', superseded_by = ? WHERE submission_id = ?", [sid, previous[0]])
        run(
            con,
            "INSERT INTO survey_wave SELECT ?, ?, make_date(?, 4, 1), NULL WHERE NOT EXISTS"
            " (SELECT 1 FROM survey_wave WHERE wave = ?)",
            [wave, wave, wave, wave],
        )

        resolved = resolve_companies(con, companies, wave=wave)
        with registered(con, "_sc_map_df", resolved[["company_ref", "company_id"]].drop_duplicates("company_ref")):
            run(con, "CREATE OR REPLACE TEMP TABLE _sc_map AS SELECT * FROM _sc_map_df")
        with registered(con, "_sc_resolved_rows", resolved):
            run(
                con,
                """INSERT INTO company_report
                SELECT company_ref, company_id, match_method, match_score, corporate_number, name, name_kana, name_en,
                       country, prefecture_code, employees, is_sme, parent_ref, is_prime, ?, ?, ?, _row
                FROM _sc_resolved_rows""",
                [wave, sid, v.raw.sheets["companies"].source],
            )
        _set_parents(con, v)
        if "programs" in v.tables:
            _upsert_programs(con, v, wave)
        _upsert_parts(con, v)
        for sheet_name, (table, exprs, joins) in _FACTS.items():
            if sheet_name in v.tables:
                _insert_fact(con, v, sheet_name, table, exprs, joins, wave, sid)
        respondent_id = run(
            con,
            """SELECT company_id FROM _sc_map JOIN company USING (company_id)
            WHERE corporate_number = ? OR name_normalized = ? ORDER BY corporate_number = ? DESC LIMIT 1""",
            [
                resp.get("respondent_corporate_number"),
                normalize_company_name(resp["respondent_name"]),
                resp.get("respondent_corporate_number"),
            ],
        ).fetchone()
        issues = v.issues
        status = "partial" if v.n_refused else "loaded"
        rows_loaded = sum(v.rows_read[s] - v.rows_refused[s] for s in v.rows_read if s != "respondent")
        message = (
            f"{rows_loaded} rows loaded"
            + (f", {v.n_refused} refused" if v.n_refused else "")
            + (f", {v.n_dropped} values dropped" if v.n_dropped else "")
            + (f", {v.n_warnings} warnings" if v.n_warnings else "")
            + (f"; replaces submission {previous[0]}" if previous else "")
        )
        run(
            con,
            """INSERT INTO ingest_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, now(), ?)""",
            [
                sid,
                wave,
                respondent_key,
                resp["respondent_name"],
                respondent_id[0] if respondent_id else None,
                str(path),
                path.name,
                v.raw.sha256,
                v.raw.format,
                status,
                rows_loaded,
                v.n_refused,
                v.n_dropped,
                previous[0] if previous else None,
                ", ".join(v.raw.extra_columns) or None,
                message,
                getpass.getuser(),
            ],
        )
        _write_issues(con, sid, wave, path, issues)
        run(con, "DROP TABLE IF EXISTS _sc_map")
    return FileResult(
        str(path),
        status,
        wave=wave,
        respondent=resp["respondent_name"],
        submission_id=sid,
        rows_loaded=rows_loaded,
        rows_refused=v.n_refused,
        values_dropped=v.n_dropped,
        replaced_submission_id=previous[0] if previous else None,
        issues=issues,
        message=message,
    )


def _register_company_key(con) -> None:
    import duckdb

    register_function(con, "sc_company_key", normalize_company_name, [duckdb.sqltype("VARCHAR")], duckdb.sqltype("VARCHAR"))


def _set_parents(con, v: ValidatedWorkbook) -> None:
    run(
        con,
        f"""UPDATE company SET parent_company_id = p.company_id
        FROM {v.tables["companies"]} s JOIN _sc_map c ON c.company_ref = s.company_ref
             JOIN _sc_map p ON p.company_ref = s.parent_ref
        WHERE company.company_id = c.company_id AND p.company_id <> c.company_id""",
    )


def _upsert_programs(con, v: ValidatedWorkbook, wave: int) -> None:
    src = f"""SELECT s.program AS program_id, s.name, s.category, m.company_id AS prime_company_id,
                     s.annual_value_jpy, s.compartment
              FROM {v.tables["programs"]} s JOIN _sc_map m ON m.company_ref = s.prime_ref"""
    run(
        con,
        f"""INSERT INTO program SELECT *, ?, ? FROM ({src}) n
                 WHERE NOT EXISTS (SELECT 1 FROM program p WHERE p.program_id = n.program_id)""",
        [wave, wave],
    )
    # the latest wave's report wins; within a wave the first report stays unless it left a field empty
    run(
        con,
        f"""UPDATE program SET
            name = CASE WHEN ? > program.last_wave THEN coalesce(n.name, program.name) ELSE coalesce(program.name, n.name) END,
            category = CASE WHEN ? > program.last_wave THEN coalesce(n.category, program.category) ELSE coalesce(program.category, n.category) END,
            prime_company_id = CASE WHEN ? > program.last_wave THEN n.prime_company_id ELSE program.prime_company_id END,
            annual_value_jpy = CASE WHEN ? > program.last_wave THEN coalesce(n.annual_value_jpy, program.annual_value_jpy) ELSE coalesce(program.annual_value_jpy, n.annual_value_jpy) END,
            compartment = coalesce(program.compartment, n.compartment),
            first_wave = least(program.first_wave, ?), last_wave = greatest(program.last_wave, ?)
        FROM ({src}) n WHERE program.program_id = n.program_id""",
        [wave] * 6,
    )


def _upsert_parts(con, v: ValidatedWorkbook) -> None:
    parts = []
    if "supply" in v.tables:
        parts.append(f"SELECT part, part_type, hs_code, _row, 0 AS _s FROM {v.tables['supply']}")
    for sheet_name in ("material_origin", "withdrawal_events"):
        if sheet_name in v.tables:
            parts.append(
                f"SELECT part, NULL AS part_type, NULL AS hs_code, _row, 1 AS _s FROM {v.tables[sheet_name]} WHERE part IS NOT NULL"
            )
    if not parts:
        return
    src = f"""SELECT sc_part_key(part) AS part_id, first(part ORDER BY _s, _row) AS name,
                     first(part_type ORDER BY part_type IS NULL, _s, _row) AS part_type,
                     first(hs_code ORDER BY hs_code IS NULL, _s, _row) AS hs_code
              FROM ({" UNION ALL ".join(parts)}) GROUP BY 1"""
    run(
        con,
        f"""INSERT INTO part SELECT part_id, name, part_type, hs_code, NULL, NULL FROM ({src}) n
                 WHERE NOT EXISTS (SELECT 1 FROM part p WHERE p.part_id = n.part_id)""",
    )
    run(
        con,
        f"""UPDATE part SET part_type = coalesce(part.part_type, n.part_type), hs_code = coalesce(part.hs_code, n.hs_code)
                 FROM ({src}) n WHERE part.part_id = n.part_id""",
    )


def _insert_fact(con, v, sheet_name, table, exprs, joins, wave, sid) -> None:
    sheet = sheets()[sheet_name]
    source = v.raw.sheets[sheet_name].source
    select = []
    for c in tables()[table].columns:
        if c.name in exprs:
            select.append(exprs[c.name])
        elif c.name == "wave":
            select.append(str(int(wave)))
        elif c.name == "submission_id":
            select.append(str(int(sid)))
        elif c.name == "source_sheet":
            select.append("?")
        elif c.name == "source_row":
            select.append("s._row")
        elif c.name in {x.name for x in sheet.columns}:
            select.append(f's."{c.name}"')
        else:
            raise SupplyChainError(f"column {table}.{c.name} has no source in sheet {sheet_name}")
    run(con, f'INSERT INTO "{table}" SELECT {", ".join(select)} FROM {v.tables[sheet_name]} s {joins} ORDER BY s._row', [source])
