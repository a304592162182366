"""The schema as data: one description of the workbook contract and of every database table.

Two CSV files shipped with the package describe everything (DESIGN §3, §3.1):

``schema/sheet_columns.csv``
    The survey workbook contract: per sheet and column its type, whether it is required, unit,
    range, allowed values (with Japanese aliases), the sheet it refers to, what happens to an
    invalid value (``refuse`` the row or ``drop`` the value), Japanese header aliases and a
    description in English and Japanese.
``schema/tables.csv`` and ``schema/columns.csv``
    The DuckDB tables: per column its SQL type, key, whether it is required, unit, reference and
    description. Fact tables (``kind = fact``) also get the provenance columns of
    :data:`PROVENANCE_COLUMNS`.

From these the DDL (:func:`ddl`), the validation rules (:mod:`supplychain.survey.validate`), the
header mapping (:mod:`supplychain.survey.read`), the respondent template
(:mod:`supplychain.survey.template`) and ``docs/data-dictionary.md`` (:func:`data_dictionary`)
are generated, so they cannot drift apart.
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass, field
from importlib import resources

from ..exceptions import SchemaError

__all__ = [
    "SheetColumn",
    "Sheet",
    "TableColumn",
    "Table",
    "PROVENANCE_COLUMNS",
    "sheets",
    "tables",
    "ddl",
    "company_reference_columns",
    "data_dictionary",
]

SHEET_TYPES = {
    "text",
    "int",
    "float",
    "share",
    "bool",
    "date",
    "enum",
    "country",
    "origin_country",
    "prefecture",
    "corporate_number",
    "hs_code",
    "city_code",
    "ref",
    "key",
}


#: Columns every fact table carries: where each row came from.
PROVENANCE_COLUMNS = (
    ("wave", "INTEGER", "Survey wave of the return the row came from"),
    ("submission_id", "INTEGER", "The file it came from (ingest_log.submission_id)"),
    ("source_sheet", "VARCHAR", "Sheet (or CSV file) it came from"),
    ("source_row", "INTEGER", "Row number in that sheet as the spreadsheet shows it (header = 1)"),
)


@dataclass(frozen=True)
class SheetColumn:
    """One column of a survey sheet (the input contract)."""

    sheet: str
    name: str
    type: str
    required: bool
    unit: str
    min: float | None
    max: float | None
    values: tuple[tuple[str, tuple[str, ...]], ...]  # (canonical, aliases)
    ref: tuple[str, str] | None  # (sheet, column)
    on_error: str  # "refuse" the row or "drop" the value
    aliases_ja: tuple[str, ...]
    description: str
    description_ja: str

    @property
    def allowed(self) -> tuple[str, ...]:
        """Canonical values of an enumeration."""
        return tuple(v for v, _ in self.values)


@dataclass(frozen=True)
class Sheet:
    """A sheet of the survey workbook and its columns, in contract order."""

    name: str
    columns: tuple[SheetColumn, ...]
    required_sheet: bool
    unique: tuple[str, ...]  # columns that identify a row within one workbook
    aliases_ja: tuple[str, ...]
    description: str
    description_ja: str

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    def column(self, name: str) -> SheetColumn:
        for c in self.columns:
            if c.name == name:
                return c
        raise SchemaError(f"sheet {self.name!r} has no column {name!r}")


@dataclass(frozen=True)
class TableColumn:
    """One column of a database table."""

    table: str
    name: str
    type: str
    key: bool
    required: bool
    unit: str
    references: str
    description: str


@dataclass(frozen=True)
class Table:
    """A database table."""

    name: str
    kind: str  # reference, master, fact, system, result
    sheet: str
    description: str
    description_ja: str
    columns: tuple[TableColumn, ...] = field(default=())

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def _read_csv(name: str) -> list[dict[str, str]]:
    text = resources.files("supplychain.survey").joinpath("schema", name).read_text("utf-8")
    return list(csv.DictReader(text.splitlines()))


def _number(text: str, where: str) -> float | None:
    if text == "":
        return None
    try:
        return float(text)
    except ValueError:
        raise SchemaError(f"{where}: expected a number, got {text!r}") from None


def _flag(text: str, where: str) -> bool:
    if text not in ("yes", ""):
        raise SchemaError(f"{where}: expected 'yes' or empty, got {text!r}")
    return text == "yes"


@functools.cache
def sheets() -> dict[str, Sheet]:
    """The survey sheets of the workbook contract, keyed by name.

    The order is that of ``sheets.csv``: a sheet comes after the sheets it refers to, which is
    the order they are validated and loaded in.
    """
    by_sheet: dict[str, list[SheetColumn]] = {}
    for i, r in enumerate(_read_csv("sheet_columns.csv"), start=2):
        where = f"sheet_columns.csv line {i}"
        if r["type"] not in SHEET_TYPES:
            raise SchemaError(f"{where}: type must be one of {sorted(SHEET_TYPES)}, got {r['type']!r}")
        if r["required"] == "yes" and r["on_error"] != "refuse":
            raise SchemaError(f"{where}: a required column must have on_error = refuse")
        if r["on_error"] not in ("refuse", "drop"):
            raise SchemaError(f"{where}: on_error must be 'refuse' or 'drop', got {r['on_error']!r}")
        values = []
        if r["values"]:
            for item in r["values"].split("|"):
                canon, _, aliases = item.partition("=")
                values.append((canon, tuple(a for a in aliases.split(";") if a)))
        if (r["type"] == "enum") != bool(values):
            raise SchemaError(f"{where}: enum columns and only they list values")
        ref = None
        if r["ref"]:
            ref_sheet, _, ref_col = r["ref"].partition(".")
            ref = (ref_sheet, ref_col)
        if (r["type"] == "ref") != (ref is not None):
            raise SchemaError(f"{where}: ref columns and only they name a referenced sheet.column")
        col = SheetColumn(
            sheet=r["sheet"],
            name=r["column"],
            type=r["type"],
            required=_flag(r["required"], where),
            unit=r["unit"],
            min=_number(r["min"], where),
            max=_number(r["max"], where),
            values=tuple(values),
            ref=ref,
            on_error=r["on_error"],
            aliases_ja=tuple(a for a in r["aliases_ja"].split("|") if a),
            description=r["description"],
            description_ja=r["description_ja"],
        )
        by_sheet.setdefault(col.sheet, []).append(col)
    out: dict[str, Sheet] = {}
    for i, r in enumerate(_read_csv("sheets.csv"), start=2):
        name = r["sheet"]
        if name not in by_sheet:
            raise SchemaError(f"sheets.csv line {i}: sheet {name!r} has no columns in sheet_columns.csv")
        columns = tuple(by_sheet.pop(name))
        unique = tuple(u for u in r["unique"].split("+") if u)
        unknown = set(unique) - {c.name for c in columns}
        if unknown:
            raise SchemaError(f"sheets.csv line {i}: unique names unknown columns {sorted(unknown)}")
        out[name] = Sheet(
            name,
            columns,
            required_sheet=_flag(r["required"], f"sheets.csv line {i}"),
            unique=unique,
            aliases_ja=tuple(a for a in r["aliases_ja"].split("|") if a),
            description=r["description"],
            description_ja=r["description_ja"],
        )
    if by_sheet:
        raise SchemaError(f"sheet_columns.csv describes sheets missing from sheets.csv: {sorted(by_sheet)}")
    seen: set[str] = set()
    for sheet in out.values():
        seen.add(sheet.name)
        for c in sheet.columns:
            if c.ref and (c.ref[0] not in seen or c.ref[1] not in {x.name for x in out[c.ref[0]].columns}):
                raise SchemaError(
                    f"{sheet.name}.{c.name} refers to {c.ref[0]}.{c.ref[1]}, which is unknown or listed after it in sheets.csv"
                )
    return out


@functools.cache
def tables() -> dict[str, Table]:
    """The database tables keyed by name, with provenance columns added to fact tables."""
    cols: dict[str, list[TableColumn]] = {}
    for i, r in enumerate(_read_csv("columns.csv"), start=2):
        where = f"columns.csv line {i}"
        cols.setdefault(r["table"], []).append(
            TableColumn(
                table=r["table"],
                name=r["column"],
                type=r["type"],
                key=_flag(r["key"], where),
                required=_flag(r["required"], where),
                unit=r["unit"],
                references=r["references"],
                description=r["description"],
            )
        )
    out: dict[str, Table] = {}
    for r in _read_csv("tables.csv"):
        name = r["table"]
        if name not in cols:
            raise SchemaError(f"table {name!r} is listed in tables.csv but has no columns in columns.csv")
        columns = list(cols.pop(name))
        if r["kind"] == "fact":
            columns += [TableColumn(name, c, t, False, True, "", "", d) for c, t, d in PROVENANCE_COLUMNS]
        out[name] = Table(name, r["kind"], r["sheet"], r["description"], r["description_ja"], tuple(columns))
    if cols:
        raise SchemaError(f"columns.csv describes tables missing from tables.csv: {sorted(cols)}")
    return out


def quote_identifier(identifier: str) -> str:
    """A SQL identifier in double quotes (a table, column or catalog name).

    >>> quote_identifier('a"b')
    '"a""b"'
    """
    return '"' + identifier.replace('"', '""') + '"'


def ddl() -> list[str]:
    """``CREATE TABLE IF NOT EXISTS`` statements for every table, in dependency-free form.

    Foreign keys are documented, not enforced: DuckDB cannot update a row that a foreign key
    points at, and merging two companies after review must update both sides.
    """
    statements = []
    for t in tables().values():
        parts = []
        for c in t.columns:
            line = f"{quote_identifier(c.name)} {c.type}"
            if c.required:
                line += " NOT NULL"
            parts.append(line)
        keys = [c.name for c in t.columns if c.key]
        if keys:
            parts.append("PRIMARY KEY (" + ", ".join(quote_identifier(k) for k in keys) + ")")
        statements.append(f"CREATE TABLE IF NOT EXISTS {quote_identifier(t.name)} (\n  " + ",\n  ".join(parts) + "\n)")
    return statements


def company_reference_columns() -> list[tuple[str, str]]:
    """Every (table, column) holding a ``company.company_id``; used when two companies merge."""
    return [(t.name, c.name) for t in tables().values() for c in t.columns if c.references == "company.company_id"]


_TYPE_DOC = {
    "text": "text",
    "int": "whole number",
    "float": "number",
    "share": "fraction 0–1 (also `30%`)",
    "bool": "yes/no (also 1/0, true/false, はい/いいえ, ○/×, 有/無)",
    "date": "date (2025-04-01, 2025/4/1, 2025年4月1日 or an Excel date)",
    "enum": "one of the listed values",
    "country": "ISO 3166-1 alpha-2 (or the country's name)",
    "origin_country": "ISO 3166-1 alpha-2 or `unknown`",
    "prefecture": "JIS X 0401 code (01–47) or the prefecture's name",
    "corporate_number": "13 digits with a valid check digit",
    "hs_code": "4–10 digits",
    "city_code": "5 or 6 digits (総務省 全国地方公共団体コード)",
    "ref": "a key of another sheet",
    "key": "text (a key; full-width characters are folded)",
}


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def data_dictionary() -> str:
    """The data dictionary (``docs/data-dictionary.md``) as Markdown, generated from the schema."""
    out = [
        "# Data dictionary",
        "",
        "<!-- Generated by `supplychain dictionary` from supplychain/survey/schema/*.csv."
        " Do not edit by hand: edit the CSV files and regenerate. -->",
        "",
        "## 1. The survey workbook (input contract)",
        "",
        "One workbook per respondent and wave: an `.xlsx` file with the sheets below, or a folder"
        " of CSV files named like the sheets (`companies.csv`, ...; UTF-8, UTF-8 with BOM or"
        " Shift_JIS). Headers may be the English name or any Japanese alias; case, spaces,"
        " full-width characters and a trailing `*` are ignored. Rows whose every cell starts"
        " with `#` (the notes row of the template) and empty rows are skipped. Spaces, tabs and"
        " full-width spaces around a value are not part of it; a cell holding only those is empty."
        " Extra columns are"
        " ignored and listed in `ingest_log.extra_columns`. `respondent` and `companies` are"
        " required sheets; the others are optional.",
        "",
        "**On error**: `refuse` — the row is refused and kept in `rejected_row`; `drop` — the"
        " value is dropped (set empty), the row is loaded, and the value is kept in"
        " `rejected_row` with action `value_dropped`. A required value that is missing always"
        " refuses the row. With `--strict` any problem refuses the whole file.",
        "",
    ]
    for sheet in sheets().values():
        flags = "required sheet" if sheet.required_sheet else "optional sheet"
        if sheet.unique:
            flags += "; one row per " + " + ".join(f"`{u}`" for u in sheet.unique)
        out += [
            f"### `{sheet.name}` ({'・'.join(sheet.aliases_ja)})",
            "",
            f"{sheet.description}. {sheet.description_ja}。 ({flags})",
            "",
            "| column | 日本語の見出し | type | unit | range / values | required | on error | description |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for c in sheet.columns:
            if c.values:
                rng = ", ".join(f"`{v}`" + (f" ({'・'.join(a)})" if a else "") for v, a in c.values)
            elif c.ref:
                rng = f"a `{c.ref[1]}` of `{c.ref[0]}`"
            elif c.min is not None or c.max is not None:
                lo = "" if c.min is None else f"{c.min:g}"
                hi = "" if c.max is None else f"{c.max:g}"
                rng = f"[{lo}, {hi}]" if hi else f"≥ {lo}"
            else:
                rng = ""
            out.append(
                "| "
                + " | ".join(
                    _cell(x)
                    for x in (
                        f"`{c.name}`",
                        "、".join(c.aliases_ja),
                        _TYPE_DOC[c.type],
                        c.unit,
                        rng,
                        "yes" if c.required else "",
                        c.on_error,
                        f"{c.description} / {c.description_ja}",
                    )
                )
                + " |"
            )
        out.append("")
    out += [
        "## 2. The database (DuckDB)",
        "",
        "Fact tables carry the provenance columns "
        + ", ".join(f"`{c}`" for c, _, _ in PROVENANCE_COLUMNS)
        + ". Company columns hold `company.company_id`; results shown to users carry the"
        " corporate number where one is known.",
        "",
    ]
    for t in tables().values():
        source = f" Loaded from sheet `{t.sheet}`." if t.sheet else ""
        out += [
            f"### `{t.name}` ({t.kind})",
            "",
            f"{t.description}. {t.description_ja}。{source}",
            "",
            "| column | type | key | required | unit | references | description |",
            "|---|---|---|---|---|---|---|",
        ]
        for c in t.columns:
            out.append(
                "| "
                + " | ".join(
                    _cell(x)
                    for x in (
                        f"`{c.name}`",
                        c.type,
                        "key" if c.key else "",
                        "yes" if c.required else "",
                        c.unit,
                        f"`{c.references}`" if c.references else "",
                        c.description,
                    )
                )
                + " |"
            )
        out.append("")
    return "\n".join(out)
