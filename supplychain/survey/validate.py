"""Validation of a survey return, in bulk, generated from the schema.

Every check runs as set-based SQL in DuckDB over the whole sheet of many returns at once (no
Python loop over rows or files; references and duplicates never cross from one return to
another), in this order per sheet, sheets in contract order:

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

from ..db import literal as _lit
from ..db import register_function, registered, run
from .normalize import corporate_number_valid_sql, nfkc_array, part_keys
from .read import RawWorkbook, trimmed_cells
from .schema import Sheet, SheetColumn, sheets
from .schema import quote_identifier as _q

__all__ = [
    "ValidatedWorkbook",
    "ValidatedBatch",
    "validate_workbook",
    "validate_returns",
    "drop_tables",
    "ISSUE_COLUMNS",
    "register_functions",
]

log = logging.getLogger(__name__)

ISSUE_COLUMNS = ["sheet", "source", "row", "column", "value", "reason", "action"]

_SQL_TYPE = {"int": "BIGINT", "float": "DOUBLE", "share": "DOUBLE", "bool": "BOOLEAN", "date": "DATE"}

_TRUE = ["true", "yes", "y", "1", "t", "○", "〇", "◯", "はい", "有", "あり", "該当", "✓", "✔"]
_FALSE = ["false", "no", "n", "0", "f", "×", "✕", "いいえ", "無", "なし", "非該当", "-"]


@dataclass
class ValidatedWorkbook:
    """The outcome of validating one return.

    ``tables`` names the temporary DuckDB table of accepted, typed rows per sheet (columns as
    the contract, plus ``_file`` and ``_row``), shared by the returns validated together: this
    return's rows are those with ``_file = index``. ``issues`` lists every
    problem; ``file_errors`` the problems that refuse the whole file.
    """

    raw: RawWorkbook
    tables: dict[str, str]
    issues: pd.DataFrame
    rows_read: dict[str, int]
    rows_refused: dict[str, int]
    respondent: dict = field(default_factory=dict)
    file_errors: list[str] = field(default_factory=list)
    index: int = 0  #: this return's ``_file`` in the shared tables

    @property
    def n_refused(self) -> int:
        return sum(self.rows_refused.values())

    @property
    def n_dropped(self) -> int:
        return int((self.issues["action"] == "value_dropped").sum())

    @property
    def n_warnings(self) -> int:
        return int((self.issues["action"] == "warning").sum())


@dataclass
class ValidatedBatch:
    """Returns validated together (:func:`validate_returns`): shared tables, one
    :class:`ValidatedWorkbook` per return, in order."""

    tables: dict[str, str]
    files: list[ValidatedWorkbook]


def register_functions(con: duckdb.DuckDBPyConnection) -> None:
    """Register the package's vectorised SQL functions and lookup table on ``con`` (idempotent)."""
    exists = run(con, "SELECT count(*) FROM duckdb_tables() WHERE table_name = '_sc_lookup' AND temporary").fetchone()[0]
    if not exists:  # first use on this connection
        varchar = duckdb.sqltype("VARCHAR")
        register_function(con, "sc_part_key", part_keys, [varchar], varchar, type="arrow", null_handling="special")
        run(con, "CREATE TEMP TABLE _sc_lookup (domain VARCHAR, alias VARCHAR, value VARCHAR)")
        rows = pa.table(dict(zip(["domain", "alias", "value"], map(list, zip(*_lookup_rows(con))), strict=True)))
        with registered(con, "_sc_lookup_rows", rows):  # one insert, not a statement per row
            run(con, "INSERT INTO _sc_lookup SELECT * FROM _sc_lookup_rows")


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


def _parse(sheet: Sheet, c: SheetColumn, x: str, looked_up: str) -> tuple[str, str]:
    """SQL for the loosely typed value of column ``c`` and the reason it could not be parsed.

    ``x`` is the trimmed text; ``looked_up`` the value found for it in ``_sc_lookup`` (for
    booleans, enumerations, countries and prefectures).
    """
    number = f"TRY_CAST(REPLACE({x}, ',', '') AS DOUBLE)"
    t = c.type
    if t in ("int", "float"):
        return number, _lit("not a number")
    if t == "share":
        pct = f"TRY_CAST(REPLACE(RTRIM({x}, '%'), ',', '') AS DOUBLE) / 100"
        return f"CASE WHEN {x} LIKE '%\\%' ESCAPE '\\' THEN {pct} ELSE {number} END", _lit("not a number")
    if t == "bool":
        return f"CAST({looked_up} AS BOOLEAN)", _lit("not yes or no (write yes/no, 1/0, true/false, はい/いいえ or ○/×)")
    if t == "date":
        fmts = "['%Y/%m/%d', '%Y年%m月%d日', '%Y.%m.%d', '%Y%m%d']"
        return (
            f"COALESCE(TRY_CAST({x} AS DATE), TRY_CAST(TRY_STRPTIME({x}, {fmts}) AS DATE))",
            _lit("not a date (write 2025-04-01)"),
        )
    if t == "enum":
        allowed = ", ".join(f"{v}" + (f" ({'/'.join(a)})" if a else "") for v, a in c.values)
        return looked_up, _lit(f"not one of the allowed values: {allowed}")
    if t == "country":
        return looked_up, _lit("not an ISO 3166-1 alpha-2 country code (e.g. JP, US, CN)")
    if t == "origin_country":
        return looked_up, _lit("not an ISO 3166-1 alpha-2 country code or 'unknown'")
    if t == "prefecture":
        return looked_up, _lit("not a prefecture: write the JIS X 0401 code 01–47 or the name (e.g. 13 or 東京都)")
    if t == "corporate_number":
        cn = f"REGEXP_REPLACE({x}, '[\\s\\-]', '', 'g')"
        return (
            f"CASE WHEN {corporate_number_valid_sql(cn)} THEN {cn} END",
            f"CASE WHEN NOT REGEXP_FULL_MATCH({cn}, '[0-9]{{13}}') THEN 'a corporate number has 13 digits'"
            " ELSE 'corporate number check digit does not match the other 12 digits (National Tax Agency rule)' END",
        )
    if t == "hs_code":
        code = f"REPLACE({x}, '.', '')"
        return f"CASE WHEN REGEXP_FULL_MATCH({code}, '[0-9]{{4,10}}') THEN {code} END", _lit("an HS code has 4 to 10 digits")
    if t == "city_code":
        return f"CASE WHEN REGEXP_FULL_MATCH({x}, '[0-9]{{5,6}}') THEN {x} END", _lit("a municipality code has 5 or 6 digits")
    return x, "NULL"  # text, key, ref: any text


def _lookup_domain(sheet: Sheet, c: SheetColumn) -> str | None:
    if c.type in ("bool", "country", "origin_country", "prefecture"):
        return c.type
    if c.type == "enum":
        return f"enum:{sheet.name}.{c.name}"
    return None


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


#: Rules across columns of one row: (sheet, column the error is put on) -> (condition over the
#: parsed values, reason).
ROW_RULES = {
    ("supply", "supplier_ref"): ("supplier_ref = buyer_ref", "a company cannot supply itself: supplier_ref equals buyer_ref"),
    ("cyber", "score"): ("score > max_score", "score is greater than max_score"),
}


def _stage_parse(sheet: Sheet, present: set[str], source: str) -> str:
    """Step 1: raw text, loosely typed value and first error of every column (types, ranges,
    required values, allowed values, row rules), and whether the row is refused so far."""
    raw_cols, parsed_cols, err_cols, joins = ["_file", "_row"], ["r._file", "r._row"], ["*"], []
    if _has_part(sheet):
        raw_cols.append("_part_key")
        parsed_cols.append("r._part_key")
    for c in sheet.columns:
        qc, qraw, qerr = _q(c.name), _q(c.name + "__raw"), _q(c.name + "__err")
        sql_type = _SQL_TYPE.get(c.type, "VARCHAR")
        if c.name not in present:
            raw_cols.append(f"NULL::VARCHAR AS {qraw}")
            parsed_cols += [f"r.{qraw}", f"NULL::{sql_type} AS {qc}"]
            err_cols.append(f"NULL::VARCHAR AS {qerr}")
            continue
        raw_cols.append(f"{qc} AS {qraw}")  # trimmed, blank as null: by the reader (and _stacked)
        domain = _lookup_domain(sheet, c)
        looked_up = "NULL"
        if domain:
            alias = _q("l_" + c.name)
            joins.append(f"LEFT JOIN _sc_lookup {alias} ON {alias}.domain = {_lit(domain)} AND {alias}.alias = lower(r.{qraw})")
            looked_up = f"{alias}.value"
        parsed = _parse(sheet, c, f"r.{qraw}", looked_up)[0]
        reason = _parse(sheet, c, qraw, looked_up)[1]  # computed one level up, over p
        parsed_cols += [f"r.{qraw}", f"{parsed} AS {qc}"]
        whens = [f"WHEN {qraw} IS NULL THEN {_lit('required value is missing') if c.required else 'NULL'}"]
        whens.append(f"WHEN {qc} IS NULL THEN {reason}")
        rng = _range_error(c, qc)
        if rng:
            whens.append(f"WHEN ({rng}) IS NOT NULL THEN {rng}")
        rule = ROW_RULES.get((sheet.name, c.name))
        if rule:
            whens.append(f"WHEN {rule[0]} THEN {_lit(rule[1])}")
        err_cols.append(f"CAST(CASE {' '.join(whens)} END AS VARCHAR) AS {qerr}")
    return (
        f"WITH r AS (SELECT {', '.join(raw_cols)} FROM {source}),"
        f" p AS (SELECT {', '.join(parsed_cols)} FROM r {' '.join(joins)}),"
        f" e AS (SELECT {', '.join(err_cols)} FROM p)"
        f" SELECT *, {_refused_sql(sheet)} AS _refused FROM e"
    )


def _refused_sql(sheet: Sheet) -> str:
    return (
        "("
        + (" OR ".join(f"{_q(c.name + '__err')} IS NOT NULL" for c in sheet.columns if c.on_error == "refuse") or "false")
        + ")"
    )


def _stage_links(sheet: Sheet, chk: str, targets: dict[str, str], lacking: dict[str, list[int]]) -> str:
    """Step 2: references to other sheets of the same return (a row pointing at a missing or
    refused row is refused too, and says which). ``chk`` may be a CTE name: the sheet's parsed
    rows; ``lacking`` names, per target sheet, the returns (``_file``) that do not have it."""
    joins, replace = [], {}
    for c in sheet.columns:
        if not c.ref:
            continue
        target_sheet, target_col = c.ref
        qc, qerr = _q(c.name), _q(c.name + "__err")
        no_sheet = _lit(f"refers to sheet {target_sheet}, which this return does not have")
        if target_sheet not in targets:
            replace[c.name] = f"CASE WHEN s.{qerr} IS NULL AND s.{qc} IS NOT NULL THEN {no_sheet} ELSE s.{qerr} END"
            continue
        alias = _q("t_" + c.name)
        joins.append(
            f"LEFT JOIN (SELECT _file, {_q(target_col)} AS k, min(_row) AS first_row, bool_or(NOT _refused) AS any_ok"
            f" FROM {targets[target_sheet]} GROUP BY 1, 2) {alias} ON {alias}.k = s.{qc} AND {alias}._file = s._file"
        )
        missing = _lit(f"{target_sheet} has no row with {target_col} = ") + f" || s.{qc}"
        refused = _lit(f"refers to {target_sheet} row ") + f" || {alias}.first_row || " + _lit(", which was refused")
        without = lacking.get(target_sheet)
        if without:
            missing = f"CASE WHEN s._file IN ({', '.join(map(str, without))}) THEN {no_sheet} ELSE {missing} END"
        replace[c.name] = (
            f"CASE WHEN s.{qerr} IS NULL AND s.{qc} IS NOT NULL AND NOT coalesce({alias}.any_ok, false)"
            f" THEN CASE WHEN {alias}.first_row IS NULL THEN {missing} ELSE {refused} END ELSE s.{qerr} END"
        )
    cols = ", ".join(f"{v} AS {_q(k + '__err')}" for k, v in replace.items())
    b = f"SELECT s.* REPLACE ({cols}) FROM {chk} s {' '.join(joins)}" if replace else f"SELECT * FROM {chk}"
    # the raw text is kept only where it is reported (a value with an error), and for the first
    # key column, where a duplicate is reported later: most cells are stored once, not twice
    keep = sheet.unique[0] if sheet.unique else None
    raws = [
        f"CASE WHEN {_q(c.name + '__err')} IS NOT NULL THEN {_q(c.name + '__raw')} END AS {_q(c.name + '__raw')}"
        for c in sheet.columns
        if c.name != keep
    ]
    return f"WITH b AS ({b}) SELECT * REPLACE ({', '.join([f'{_refused_sql(sheet)} AS _refused', *raws])}) FROM b"


def _stage_duplicates(sheet: Sheet, chk: str) -> str | None:
    """Step 3, an UPDATE of the checked rows: a row whose key repeats an earlier accepted row of
    the same return is refused, naming the first. Only the few duplicate rows are written."""
    keys = sheet.unique
    if not keys:
        return None
    key_cols = [_q("_key_" + k) for k in keys]
    key_exprs = ", ".join(f"{'_part_key' if k == 'part' else _q(k)} AS {q}" for k, q in zip(keys, key_cols))
    on = " AND ".join(["k._file = g._file", *(f"k.{q} IS NOT DISTINCT FROM g.{q}" for q in key_cols)])
    k0 = _q(keys[0] + "__err")
    dup = _lit(f"duplicate: same {' + '.join(keys)} as row ") + " || d.first_row"
    return f"""
        WITH k AS (SELECT _file, _row, {key_exprs} FROM {chk} WHERE NOT _refused),
             g AS (SELECT _file, {", ".join(key_cols)}, min(_row) AS first_row FROM k GROUP BY ALL HAVING count(*) > 1),
             d AS (SELECT k._file, k._row, g.first_row FROM k JOIN g ON {on} WHERE k._row <> g.first_row)
        UPDATE {chk} SET {k0} = {dup}, _refused = true
        FROM d WHERE {chk}._file = d._file AND {chk}._row = d._row"""


def _stage_accept(sheet: Sheet, chk: str) -> str:
    """Step 4: the accepted rows, typed, with dropped values emptied."""
    cols = ["_file", "_row", *(["_part_key"] if _has_part(sheet) else [])]
    for c in sheet.columns:
        v = _q(c.name)
        if c.on_error == "drop":
            v = f"CASE WHEN {_q(c.name + '__err')} IS NULL THEN {v} END"
        sql_type = _SQL_TYPE.get(c.type)
        if sql_type:
            v = f"CAST({v} AS {sql_type})"
        cols.append(f"{v} AS {_q(c.name)}")
    return f"SELECT {', '.join(cols)} FROM {chk} WHERE NOT _refused ORDER BY _file, _row"


def validate_workbook(con: duckdb.DuckDBPyConnection, raw: RawWorkbook, *, token: str = "v") -> ValidatedWorkbook:
    """Validate every sheet of one return; see :func:`validate_returns` (this is a batch of one)."""
    return validate_returns(con, [raw], token=token).files[0]


def validate_returns(con: duckdb.DuckDBPyConnection, raws: list[RawWorkbook], *, token: str = "v") -> ValidatedBatch:
    """Validate every sheet of several returns in bulk: accepted rows' tables and issues per return.

    The returns are validated together — three set-based statements per sheet (check, mark
    duplicates, accept), whatever the number of returns and rows — but each on its own: references and duplicate keys never cross from one
    return to another. The temporary tables of accepted rows are named ``_sc_ok_{token}_{sheet}``
    and carry ``_file`` (the return's position in ``raws``) and ``_row``; drop them with
    :func:`drop_tables`.
    """
    register_functions(con)
    contract = sheets()
    chk_tables: dict[str, str] = {}
    ok_tables: dict[str, str] = {}
    lacking: dict[str, list[int]] = {}
    count_sql = []
    for name, sheet in contract.items():
        have = [i for i, raw in enumerate(raws) if name in raw.sheets]
        if not have:
            continue
        lacking[name] = [i for i in range(len(raws)) if name not in raws[i].sheets]
        chk, ok = f"_sc_chk_{token}_{name}", f"_sc_ok_{token}_{name}"
        table = _stacked(sheet, [(i, raws[i].sheets[name].table) for i in have])
        present = set(table.column_names) - {"_row", "_file", "_part_key"}
        # a sheet may refer to itself (companies.parent_ref): it sees its own rows as parsed so far
        targets = {**chk_tables, name: "parsed"}
        with registered(con, f"_sc_raw_{token}_{name}", table) as view:
            run(
                con,
                f"CREATE OR REPLACE TEMP TABLE {chk} AS WITH parsed AS ({_stage_parse(sheet, present, view)})"
                f" SELECT * FROM ({_stage_links(sheet, 'parsed', targets, lacking)})",
            )
        duplicates = _stage_duplicates(sheet, chk)
        if duplicates:
            run(con, duplicates)
        run(con, f"CREATE OR REPLACE TEMP TABLE {ok} AS {_stage_accept(sheet, chk)}")
        chk_tables[name], ok_tables[name] = chk, ok
        any_err = " OR ".join(f"{_q(c.name + '__err')} IS NOT NULL" for c in sheet.columns)
        count_sql.append(
            f"SELECT {_lit(name)} AS sheet, _file, count(*) FILTER (WHERE _refused), count(*) FILTER (WHERE {any_err})"
            f" FROM {chk} GROUP BY _file"
        )
    counts = run(con, " UNION ALL ".join(count_sql)).fetchall()
    rows_refused: dict[int, dict[str, int]] = {i: {} for i in range(len(raws))}
    issue_sql = []
    for name, i, n_refused, _ in counts:
        rows_refused[i][name] = n_refused
    for name in {name for name, _, _, n_err in counts if n_err}:  # clean sheets need no search for issues
        sheet = contract[name]
        for c in sheet.columns:
            issue_sql.append(
                f"SELECT _file, {_lit(name)} AS sheet, _row AS row, {_lit(c.name)} AS column,"
                f" {_q(c.name + '__raw')} AS value, {_q(c.name + '__err')} AS reason,"
                f" CASE WHEN _refused THEN 'row_refused' ELSE 'value_dropped' END AS action,"
                f" {list(contract).index(name)} AS _s, {sheet.columns.index(c)} AS _c"
                f" FROM {chk_tables[name]} WHERE {_q(c.name + '__err')} IS NOT NULL"
            )
    if issue_sql:
        issues = run(con, " UNION ALL ".join(issue_sql) + " ORDER BY _file, _s, row, _c").df()
    else:
        issues = pd.DataFrame(
            {c: pd.Series(dtype="object") for c in ["_file", "sheet", "row", "column", "value", "reason", "action"]}
        )
    for chk in chk_tables.values():
        run(con, f"DROP TABLE IF EXISTS {chk}")
    issues = pd.concat([issues, _share_warnings(con, ok_tables)], ignore_index=True)
    respondents: dict[int, list[dict]] = {}
    if "respondent" in ok_tables:
        for row in run(con, f"SELECT * EXCLUDE (_row) FROM {ok_tables['respondent']}").arrow().to_pylist():
            respondents.setdefault(row.pop("_file"), []).append(row)
    files = []
    by_file = dict(tuple(issues.groupby("_file", sort=False))) if len(issues) else {}
    for i, raw in enumerate(raws):
        mine = by_file.get(i)
        if mine is None:
            mine = pd.DataFrame({c: pd.Series(dtype="object") for c in ISSUE_COLUMNS})
        else:
            sources = {n: rs.source for n, rs in raw.sheets.items()}
            mine = mine.assign(source=mine["sheet"].map(sources))[ISSUE_COLUMNS].reset_index(drop=True).astype(object)
            mine = mine.where(mine.notna(), None)
        v = ValidatedWorkbook(
            raw=raw,
            tables=ok_tables,
            issues=mine,
            rows_read={n: rs.n_rows for n, rs in raw.sheets.items()},
            rows_refused={n: rows_refused[i].get(n, 0) for n in raw.sheets},
            index=i,
        )
        found = respondents.get(i, [])
        if len(found) != 1:
            what = "no valid row" if not found else f"{len(found)} rows"
            v.file_errors.append(f"sheet respondent must have exactly one valid row, found {what}")
        else:
            v.respondent = found[0]
        files.append(v)
    return ValidatedBatch(tables=ok_tables, files=files)


def _stacked(sheet: Sheet, parts: list[tuple[int, pa.Table]]) -> pa.Table:
    """One sheet of several returns as one text table with a ``_file`` column; codes and numbers
    in NFKC (full-width digits and letters parse like half-width ones; names keep their spelling)."""
    text = {c.name for c in sheet.columns if c.type == "text"}
    tables = []
    for i, table in parts:
        table = table.append_column("_file", pa.repeat(pa.scalar(i, pa.int32()), table.num_rows))
        tables.append(table)
    table = pa.concat_tables(tables, promote_options="default") if len(tables) > 1 else tables[0]
    # a column with no value at all is Arrow's null type, which DuckDB 1.x reads as INTEGER: text
    for i, f in enumerate(table.schema):
        if pa.types.is_null(f.type):
            table = table.set_column(i, f.name, pa.nulls(table.num_rows, pa.string()))
    for col in set(table.column_names) - text - {"_row", "_file"}:
        i = table.column_names.index(col)
        before = table.column(col)
        after = nfkc_array(before)
        if after is not before:  # NFKC may leave a space at either end (U+00B4 "´" is " ́"): trimmed again
            after = trimmed_cells(after)
        table = table.set_column(i, col, after)
    if _has_part(sheet):  # the part key (part.part_id) once per row, for duplicates, sums and loading
        part = table.column("part") if "part" in table.column_names else pa.nulls(table.num_rows, pa.string())
        table = table.append_column("_part_key", part_keys(part))
    return table


def _has_part(sheet: Sheet) -> bool:
    return any(c.name == "part" for c in sheet.columns)


#: How far a sum of shares may stray from its bound before it is worth a warning (rounding).
SHARE_TOLERANCE = 0.01


def _share_warnings(con, ok_tables: dict[str, str]) -> pd.DataFrame:
    """Warnings (rows loaded, flagged for review) where shares do not add up, per return:

    - the suppliers of one part for one buyer and program add up to more than 1;
    - the origin countries of one supplier's part do not add up to 1.
    """
    # The sums are taken over every group; the texts (row lists) only for the few groups that
    # fail, joined back by key: building a string per group costs more than the whole check.
    checks = []
    if "supply" in ok_tables:
        checks.append(
            f"""WITH bad AS (SELECT _file, program, buyer_ref, _part_key, sum(share) AS total FROM {ok_tables["supply"]}
                             WHERE share IS NOT NULL GROUP BY ALL HAVING sum(share) > 1 + {SHARE_TOLERANCE})
                SELECT s._file, 'supply' AS sheet, min(s._row) AS row, 'share' AS column,
                       CAST(round(any_value(b.total), 4) AS VARCHAR) AS value,
                       'shares of part ' || any_value(s.part) || ' bought by ' || s.buyer_ref || ' for ' || s.program
                       || ' add up to ' || round(any_value(b.total), 4) || ', more than 1 (rows '
                       || string_agg(CAST(s._row AS VARCHAR), ', ' ORDER BY s._row) || ')' AS reason, 'warning' AS action
                FROM {ok_tables["supply"]} s JOIN bad b ON b._file = s._file AND b.program = s.program AND b.buyer_ref = s.buyer_ref
                                                          AND b._part_key IS NOT DISTINCT FROM s._part_key
                WHERE s.share IS NOT NULL GROUP BY s._file, s.program, s.buyer_ref, s._part_key"""
        )
    if "material_origin" in ok_tables:
        checks.append(
            f"""WITH bad AS (SELECT _file, supplier_ref, _part_key, sum(share) AS total FROM {ok_tables["material_origin"]}
                             GROUP BY ALL HAVING abs(sum(share) - 1) > {SHARE_TOLERANCE})
                SELECT s._file, 'material_origin' AS sheet, min(s._row) AS row, 'share' AS column,
                       CAST(round(any_value(b.total), 4) AS VARCHAR) AS value,
                       'origin shares of ' || any_value(s.part) || ' from ' || s.supplier_ref || ' add up to '
                       || round(any_value(b.total), 4) || ', not 1 (rows ' || string_agg(CAST(s._row AS VARCHAR), ', ' ORDER BY s._row)
                       || '); use unknown for the part whose origin is not known' AS reason, 'warning' AS action
                FROM {ok_tables["material_origin"]} s JOIN bad b ON b._file = s._file AND b.supplier_ref = s.supplier_ref
                                                                   AND b._part_key IS NOT DISTINCT FROM s._part_key
                GROUP BY s._file, s.supplier_ref, s._part_key"""
        )
    if not checks:
        return pd.DataFrame()
    union = " UNION ALL ".join(f"({c})" for c in checks)
    return run(con, f"SELECT * FROM ({union}) ORDER BY _file, sheet = 'material_origin', row").df()


def drop_tables(con, validated: ValidatedWorkbook | ValidatedBatch) -> None:
    """Drop the temporary tables of a validation."""
    for table in validated.tables.values():
        run(con, f"DROP TABLE IF EXISTS {table}")
