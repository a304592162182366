"""Validation of a survey return, in bulk, generated from the schema.

Every check runs as set-based SQL in DuckDB over the whole sheet (no Python loop over rows), in
this order per sheet, sheets in contract order:

1. types and ranges of each column, required values, allowed values (with Japanese aliases),
   country and prefecture codes, the corporate-number check digit;
2. row rules (a company cannot supply itself; a cyber score cannot exceed its maximum);
3. references between sheets (every ``supplier_ref`` is a valid row of ``companies``; a row
   referring to a refused row is refused too, and says so);
4. duplicates of the sheet's key (the later row is refused, naming the first).

An invalid value in a ``refuse`` column refuses the row; in a ``drop`` column it is dropped and the
row kept. Every problem becomes one :class:`Issue` row with sheet, row, column, value and a
plain-language reason. Nothing here raises on bad data.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..db import run
from .normalize import valid_corporate_numbers
from .read import RawWorkbook
from .schema import Sheet, SheetColumn, sheets

__all__ = ["ValidatedWorkbook", "validate_workbook", "ISSUE_COLUMNS", "part_keys", "register_functions"]

log = logging.getLogger(__name__)

ISSUE_COLUMNS = ["sheet", "source", "row", "column", "value", "reason", "action"]

_SQL_TYPE = {"int": "BIGINT", "float": "DOUBLE", "share": "DOUBLE", "bool": "BOOLEAN", "date": "DATE"}

_TRUE = ["true", "yes", "y", "1", "t", "○", "〇", "◯", "はい", "有", "あり", "該当", "✓", "✔"]
_FALSE = ["false", "no", "n", "0", "f", "×", "✕", "いいえ", "無", "なし", "非該当", "-"]


@dataclass
class ValidatedWorkbook:
    """The outcome of validating one return.

    ``tables`` names the temporary DuckDB table of accepted, typed rows per sheet (columns as
    the contract, plus ``_row``); ``issues`` lists every problem; ``file_errors`` the problems
    that refuse the whole file.
    """

    raw: RawWorkbook
    tables: dict[str, str]
    issues: pd.DataFrame
    rows_read: dict[str, int]
    rows_refused: dict[str, int]
    respondent: dict = field(default_factory=dict)
    file_errors: list[str] = field(default_factory=list)

    @property
    def n_refused(self) -> int:
        return sum(self.rows_refused.values())

    @property
    def n_dropped(self) -> int:
        return int((self.issues["action"] == "value_dropped").sum())


def _lit(text: str) -> str:
    """A SQL string literal of a schema constant (never of user data: that is always bound)."""
    return "'" + str(text).replace("'", "''") + "'"


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def part_keys(values: pa.Array) -> pa.Array:
    """The part key of each name: NFKC, lower case, single spaces, trimmed (vectorised)."""
    out = pc.utf8_normalize(values, form="NFKC")
    out = pc.utf8_lower(out)
    out = pc.replace_substring_regex(out, pattern=r"\s+", replacement=" ")
    return pc.utf8_trim_whitespace(out)


def _udf_valid_cn(numbers: pa.Array) -> pa.Array:
    return pa.array(valid_corporate_numbers(numbers.to_pylist()), pa.bool_())


def register_functions(con: duckdb.DuckDBPyConnection) -> None:
    """Register the package's vectorised SQL functions and lookup table on ``con`` (idempotent)."""
    for name, fn, ret in (
        ("sc_valid_corporate_number", _udf_valid_cn, duckdb.sqltype("BOOLEAN")),
        ("sc_part_key", part_keys, duckdb.sqltype("VARCHAR")),
    ):
        try:
            con.create_function(name, fn, [duckdb.sqltype("VARCHAR")], ret, type="arrow", null_handling="special")
        except duckdb.Error as exc:
            if "already" not in str(exc).lower():
                raise
    exists = run(
        con, "SELECT count(*) FROM duckdb_tables() WHERE table_name = '_sc_lookup' AND temporary"
    ).fetchone()[0]
    if not exists:
        run(con, "CREATE TEMP TABLE _sc_lookup (domain VARCHAR, alias VARCHAR, value VARCHAR)")
        con.executemany("INSERT INTO _sc_lookup VALUES (?, ?, ?)", _lookup_rows(con))


def _lookup_rows(con) -> list[tuple[str, str, str]]:
    import unicodedata

    def key(text: str) -> str:
        return unicodedata.normalize("NFKC", text).strip().lower()

    rows: dict[tuple[str, str], str] = {}
    for t in _TRUE:
        rows[("bool", key(t))] = "true"
    for f in _FALSE:
        rows[("bool", key(f))] = "false"
    for code, name_en, name_ja in run(con, "SELECT code, name_en, name_ja FROM country").fetchall():
        for alias in (code, name_en, name_ja):
            if alias:
                rows.setdefault(("country", key(alias)), code)
                rows.setdefault(("origin_country", key(alias)), code)
    for alias in ("unknown", "不明", "unk", "?"):
        rows[("origin_country", key(alias))] = "unknown"
    for code, name_ja, name_en in run(con, "SELECT code, name_ja, name_en FROM prefecture").fetchall():
        short = name_ja if name_ja == "北海道" else name_ja[:-1]
        for alias in (code, str(int(code)), name_ja, short, name_en, f"{code} {name_ja}", f"{code}{name_ja}"):
            rows[("prefecture", key(alias))] = code
    for sheet in sheets().values():
        for c in sheet.columns:
            for canon, aliases in c.values:
                for alias in (canon, *aliases):
                    rows[(f"enum:{sheet.name}.{c.name}", key(alias))] = canon
    return [(d, a, v) for (d, a), v in rows.items()]


def _lookup(domain: str, x: str) -> str:
    return f"(SELECT value FROM _sc_lookup WHERE domain = {_lit(domain)} AND alias = lower({x}))"


def _parse(sheet: Sheet, c: SheetColumn, x: str) -> tuple[str, str]:
    """SQL for the loosely typed value of column ``c`` and the reason it could not be parsed."""
    number = f"TRY_CAST(REPLACE({x}, ',', '') AS DOUBLE)"
    t = c.type
    if t in ("int", "float"):
        return number, "not a number"
    if t == "share":
        pct = f"TRY_CAST(REPLACE(RTRIM({x}, '%'), ',', '') AS DOUBLE) / 100"
        return f"CASE WHEN {x} LIKE '%\\%' ESCAPE '\\' THEN {pct} ELSE {number} END", "not a number"
    if t == "bool":
        return (
            f"CAST({_lookup('bool', x)} AS BOOLEAN)",
            "not yes or no (write yes/no, 1/0, true/false, はい/いいえ or ○/×)",
        )
    if t == "date":
        fmts = "['%Y/%m/%d', '%Y年%m月%d日', '%Y.%m.%d', '%Y%m%d']"
        return (
            f"COALESCE(TRY_CAST({x} AS DATE), TRY_CAST(TRY_STRPTIME({x}, {fmts}) AS DATE))",
            "not a date (write 2025-04-01)",
        )
    if t == "enum":
        allowed = ", ".join(f"{v}" + (f" ({'/'.join(a)})" if a else "") for v, a in c.values)
        return _lookup(f"enum:{sheet.name}.{c.name}", x), f"not one of the allowed values: {allowed}"
    if t == "country":
        return _lookup("country", x), "not an ISO 3166-1 alpha-2 country code (e.g. JP, US, CN)"
    if t == "origin_country":
        return _lookup("origin_country", x), "not an ISO 3166-1 alpha-2 country code or 'unknown'"
    if t == "prefecture":
        return _lookup("prefecture", x), "not a prefecture: write the JIS X 0401 code 01–47 or the name (e.g. 13 or 東京都)"
    if t == "corporate_number":
        cn = f"REGEXP_REPLACE({x}, '[\\s\\-]', '', 'g')"
        return (
            f"CASE WHEN sc_valid_corporate_number({cn}) THEN {cn} END",
            f"CASE WHEN NOT REGEXP_FULL_MATCH({cn}, '[0-9]{{13}}') THEN 'a corporate number has 13 digits'"
            " ELSE 'corporate number check digit does not match the other 12 digits (National Tax Agency rule)' END",
        )
    if t == "hs_code":
        code = f"REPLACE({x}, '.', '')"
        return f"CASE WHEN REGEXP_FULL_MATCH({code}, '[0-9]{{4,10}}') THEN {code} END", "an HS code has 4 to 10 digits"
    if t == "city_code":
        return f"CASE WHEN REGEXP_FULL_MATCH({x}, '[0-9]{{5,6}}') THEN {x} END", "a municipality code has 5 or 6 digits"
    return x, ""  # text, key, ref: any text


def _range_error(c: SheetColumn, v: str) -> str | None:
    checks = []
    if c.type == "int":
        checks.append((f"{v} <> FLOOR({v})", "must be a whole number"))
    if c.type in ("int", "float", "share"):
        checks.append((f"isinf({v}) OR isnan({v})", "must be a finite number"))
    lo, hi = c.min, c.max
    if c.type == "share":
        lo, hi = 0.0, 1.0
        msg = "must be a fraction between 0 and 1 (write 0.3 or 30% for 30 percent)"
    elif lo is not None and hi is not None:
        msg = f"must be between {lo:g} and {hi:g}" + (f" {c.unit}" if c.unit else "")
    elif lo is not None:
        msg = f"must be {lo:g} or more" + (f" {c.unit}" if c.unit else "")
    elif hi is not None:
        msg = f"must be {hi:g} or less" + (f" {c.unit}" if c.unit else "")
    if lo is not None or hi is not None:
        cond = " OR ".join(
            s for s in ((f"{v} < {lo!r}" if lo is not None else ""), (f"{v} > {hi!r}" if hi is not None else "")) if s
        )
        checks.append((cond, msg))
    if c.type == "date":
        checks.append((f"year({v}) NOT BETWEEN 1900 AND 2100", "date must be between 1900 and 2100"))
    if not checks:
        return None
    return "CASE " + " ".join(f"WHEN {cond} THEN {_lit(msg)}" for cond, msg in checks) + " END"


def _columns_sql(sheet: Sheet, present: set[str], text_columns: set[str]) -> str:
    """SELECT list of step 1: raw text, loose typed value and first error of every column."""
    parts = ["_row"]
    for c in sheet.columns:
        qc = _q(c.name)
        if c.name not in present:
            sql_type = _SQL_TYPE.get(c.type, "VARCHAR")
            parts += [f"NULL::VARCHAR AS {_q(c.name + '__raw')}", f"NULL::{sql_type} AS {qc}", f"NULL::VARCHAR AS {_q(c.name + '__err')}"]
            continue
        x = f"NULLIF(TRIM({qc}), '')"
        parsed, reason = _parse(sheet, c, x)
        reason_sql = reason if reason.startswith("CASE") else _lit(reason)
        parts.append(f"{x} AS {_q(c.name + '__raw')}")
        parts.append(f"{parsed} AS {qc}")
        missing = _lit("required value is missing") if c.required else "NULL"
        parts.append(
            f"CASE WHEN {x} IS NULL THEN {missing} WHEN ({parsed}) IS NULL THEN {reason_sql} END AS {_q(c.name + '__err')}"
        )
    return ", ".join(parts)


class _SheetCheck:
    """The temporary tables and SQL of one sheet's validation."""

    def __init__(self, con, sheet: Sheet, token: str):
        self.con = con
        self.sheet = sheet
        self.chk = f"_sc_chk_{token}_{sheet.name}"
        self.ok = f"_sc_ok_{token}_{sheet.name}"

    def refuse_columns(self) -> list[SheetColumn]:
        return [c for c in self.sheet.columns if c.on_error == "refuse"]

    def update_refused(self) -> None:
        cond = " OR ".join(f"{_q(c.name + '__err')} IS NOT NULL" for c in self.refuse_columns()) or "false"
        run(self.con, f"UPDATE {self.chk} SET _refused = ({cond})")

    def set_error(self, column: str, message_sql: str, where: str, frm: str = "") -> None:
        err = _q(column + "__err")
        run(self.con, f"UPDATE {self.chk} AS s SET {err} = {message_sql} {frm} WHERE {err} IS NULL AND ({where})")


def validate_workbook(con: duckdb.DuckDBPyConnection, raw: RawWorkbook, *, token: str = "v") -> ValidatedWorkbook:
    """Validate every sheet of ``raw`` in bulk; return the accepted rows' tables and the issues.

    The temporary tables are named ``_sc_ok_{token}_{sheet}``; drop them with :func:`drop_tables`.
    """
    register_functions(con)
    contract = sheets()
    checks: dict[str, _SheetCheck] = {}
    issue_sql = []
    rows_read: dict[str, int] = {}
    for name, rs in raw.sheets.items():
        sheet = contract[name]
        chk = _SheetCheck(con, sheet, token)
        checks[name] = chk
        present = set(rs.table.column_names) - {"_row"}
        text_cols = {c.name for c in sheet.columns if c.type == "text"}
        table = rs.table
        for col in present - text_cols:  # full-width digits and letters parse like half-width ones
            i = table.column_names.index(col)
            table = table.set_column(i, col, pc.utf8_normalize(table.column(col), form="NFKC"))
        view = f"_sc_raw_{token}_{name}"
        con.register(view, table)
        try:
            run(con, f"CREATE OR REPLACE TEMP TABLE {chk.chk} AS SELECT {_columns_sql(sheet, present, text_cols)}, false AS _refused FROM {view}")
        finally:
            con.unregister(view)
        rows_read[name] = rs.n_rows
        _range_checks(chk)
        chk.update_refused()
        _row_rules(chk)
        _reference_checks(chk, checks, raw)
        chk.update_refused()
        _duplicate_checks(chk)
        chk.update_refused()
        _materialise(chk)
        src = _lit(rs.source)
        for c in sheet.columns:
            issue_sql.append(
                f"SELECT {_lit(name)} AS sheet, {src} AS source, _row AS row, {_lit(c.name)} AS column,"
                f" {_q(c.name + '__raw')} AS value, {_q(c.name + '__err')} AS reason,"
                f" CASE WHEN _refused THEN 'row_refused' ELSE 'value_dropped' END AS action,"
                f" {list(contract).index(name)} AS _s, {sheet.columns.index(c)} AS _c"
                f" FROM {chk.chk} WHERE {_q(c.name + '__err')} IS NOT NULL"
            )
    if issue_sql:
        issues = run(con, " UNION ALL ".join(issue_sql) + " ORDER BY _s, row, _c").df()
        issues = issues[ISSUE_COLUMNS]
    else:
        issues = pd.DataFrame(columns=ISSUE_COLUMNS)
    rows_refused = {
        name: run(con, f"SELECT count(*) FROM {chk.chk} WHERE _refused").fetchone()[0] for name, chk in checks.items()
    }
    for chk in checks.values():
        run(con, f"DROP TABLE IF EXISTS {chk.chk}")
    result = ValidatedWorkbook(
        raw=raw,
        tables={name: chk.ok for name, chk in checks.items()},
        issues=issues.reset_index(drop=True),
        rows_read=rows_read,
        rows_refused=rows_refused,
    )
    respondents = run(con, f"SELECT * EXCLUDE (_row) FROM {checks['respondent'].ok}").df()
    if len(respondents) != 1:
        what = "no valid row" if len(respondents) == 0 else f"{len(respondents)} rows"
        result.file_errors.append(f"sheet respondent must have exactly one valid row, found {what}")
    else:
        result.respondent = {k: (None if pd.isna(v) else v) for k, v in respondents.iloc[0].items()}
    return result


def drop_tables(con, validated: ValidatedWorkbook) -> None:
    """Drop the temporary tables of a validation."""
    for table in validated.tables.values():
        run(con, f"DROP TABLE IF EXISTS {table}")


def _range_checks(chk: _SheetCheck) -> None:
    for c in chk.sheet.columns:
        cond = _range_error(c, _q(c.name))
        if cond:
            chk.set_error(c.name, cond, f"{_q(c.name)} IS NOT NULL AND ({cond}) IS NOT NULL")


def _row_rules(chk: _SheetCheck) -> None:
    if chk.sheet.name == "supply":
        chk.set_error(
            "supplier_ref",
            _lit("a company cannot supply itself: supplier_ref equals buyer_ref"),
            "supplier_ref = buyer_ref",
        )
    if chk.sheet.name == "cyber":
        chk.set_error("score", _lit("score is greater than max_score"), "score > max_score")


def _reference_checks(chk: _SheetCheck, checks: dict[str, _SheetCheck], raw: RawWorkbook) -> None:
    for c in chk.sheet.columns:
        if not c.ref:
            continue
        target_sheet, target_col = c.ref
        qc = _q(c.name)
        if target_sheet not in checks:
            chk.set_error(c.name, _lit(f"refers to sheet {target_sheet}, which this return does not have"), f"{qc} IS NOT NULL")
            continue
        target = checks[target_sheet]
        if target is chk:
            chk.update_refused()  # a self-reference looks at the rows accepted so far
        missing = _lit(f"{target_sheet} has no row with {target_col} = ") + f" || {qc}"
        refused = _lit(f"refers to {target_sheet} row ") + " || m.first_row || " + _lit(", which was refused")
        chk.set_error(
            c.name,
            f"CASE WHEN m.first_row IS NULL THEN {missing} ELSE {refused} END",
            "s._row = m.r AND NOT m.any_ok",
            frm=(
                f"FROM (SELECT s2._row AS r, min(t._row) AS first_row, coalesce(bool_or(NOT t._refused), false) AS any_ok"
                f" FROM {chk.chk} s2 LEFT JOIN {target.chk} t ON t.{_q(target_col)} = s2.{qc}"
                f" WHERE s2.{qc} IS NOT NULL GROUP BY s2._row) m"
            ),
        )


def _duplicate_checks(chk: _SheetCheck) -> None:
    keys = chk.sheet.unique
    if not keys:
        return
    exprs = ", ".join(f"sc_part_key({_q(k)})" if k == "part" else _q(k) for k in keys)
    label = " + ".join(keys)
    chk.set_error(
        keys[0],
        _lit(f"duplicate: same {label} as row ") + " || d.first_row",
        "s._row = d._row AND d._row <> d.first_row",
        frm=f"FROM (SELECT _row, min(_row) OVER (PARTITION BY {exprs}) AS first_row FROM {chk.chk} WHERE NOT _refused) d",
    )


def _materialise(chk: _SheetCheck) -> None:
    cols = ["_row"]
    for c in chk.sheet.columns:
        v = _q(c.name)
        if c.on_error == "drop":
            v = f"CASE WHEN {_q(c.name + '__err')} IS NULL THEN {v} END"
        sql_type = _SQL_TYPE.get(c.type)
        if sql_type:
            v = f"CAST({v} AS {sql_type})"
        cols.append(f"{v} AS {_q(c.name)}")
    run(chk.con, f"CREATE OR REPLACE TEMP TABLE {chk.ok} AS SELECT {', '.join(cols)} FROM {chk.chk} WHERE NOT _refused ORDER BY _row")
