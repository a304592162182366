"""The XLSX of a report: the whole register and the key tables, one sheet each, for people who
filter in Excel. Every sheet starts with the marking (and carries it in its printed header and
footer); a header row with filters follows.

Nothing from the input can become a formula: strings are written as strings (XlsxWriter's
``strings_to_formulas`` is off), and any text starting with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return is also stored with Excel's quote prefix, so that editing the cell keeps it text
(OWASP's advice on CSV/formula injection).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..export import FORMULA_STARTS
from ._labels import label
from .content import Report, marking_text
from .html import missing

__all__ = ["write_xlsx", "FORMULA_STARTS", "MAX_ROWS"]

#: Data rows per sheet (Excel's limit is 1,048,576 rows; the rest go on continuation sheets).
MAX_ROWS = 1_000_000
_MAX_CELL = 32_767  # Excel's limit of characters in a cell
_HEAD = 3  # rows above the header row: marking, title, blank

_REGISTER_COLUMNS = [
    "finding_id",
    "severity",
    "score",
    "likelihood",
    "impact",
    "archetype",
    "kind",
    "title",
    "subject",
    "company",
    "company_name",
    "programs",
    "part",
    "measure_type",
    "status",
    "owner",
    "basis",
    "evidence",
]


def _sheet_name(name: str, used: set[str]) -> str:
    bad = "[]:*?/\\"
    base = "".join("_" if ch in bad else ch for ch in name)[:31] or "sheet"
    out, i = base, 2
    while out.lower() in used:
        suffix = f" ({i})"
        out, i = base[: 31 - len(suffix)] + suffix, i + 1
    used.add(out.lower())
    return out


def _header_text(text: str) -> str:
    """Text for an Excel page header: '&' starts a code there and is written '&&'."""
    return text.replace("&", "&&")


class _Writer:
    def __init__(self, path, report: Report):
        import xlsxwriter

        self.wb = xlsxwriter.Workbook(
            str(path),
            {
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
                "constant_memory": True,
                "nan_inf_to_errors": False,
            },
        )
        self.wb.set_properties({"title": report.title, "comments": f"supplychain {report.meta.get('version')}"})
        self.lang = report.lang
        self.marking = marking_text(report.marking, report.lang)
        self.title = report.title
        self.used: set[str] = set()
        wb = self.wb
        self.f_mark = wb.add_format({"bold": True, "font_color": "#AA0000"})
        self.f_title = wb.add_format({"bold": True, "font_size": 13})
        self.f_head = wb.add_format({"bold": True, "bg_color": "#F2F4F6", "bottom": 1})
        self.f_quoted = wb.add_format({"quote_prefix": True})
        self.f_int = wb.add_format({"num_format": "#,##0"})
        self.f_float = wb.add_format({"num_format": "0.00"})
        self.f_pct = wb.add_format({"num_format": "0.0%"})
        self.f_yen = wb.add_format({"num_format": "¥#,##0"})

    def sheet(self, name: str, frame: pd.DataFrame, columns: list[tuple[str, str]], subtitle: str) -> list[str]:
        """Write ``frame`` (continuation sheets past MAX_ROWS); returns the sheet names."""
        names = []
        chunks = max(1, math.ceil(len(frame) / MAX_ROWS))
        for k in range(chunks):
            part = frame.iloc[k * MAX_ROWS : (k + 1) * MAX_ROWS]
            sheet_name = _sheet_name(name if k == 0 else f"{name} {k + 1}", self.used)
            ws = self.wb.add_worksheet(sheet_name)
            ws.set_header(f"&C&B{_header_text(self.marking)}")
            ws.set_footer(f"&C&B{_header_text(self.marking)}&R&P / &N")
            ws.write_string(0, 0, self.marking, self.f_mark)
            ws.write_string(1, 0, f"{self.title}: {subtitle}", self.f_title)
            for j, (c, _) in enumerate(columns):
                ws.write_string(_HEAD, j, label(f"col.{c}", self.lang), self.f_head)
            for j, (_, f) in enumerate(columns):
                ws.set_column(j, j, 12 if f != "text" else 28)
            self._rows(ws, part, columns)
            ws.freeze_panes(_HEAD + 1, 0)
            if len(columns):
                ws.autofilter(_HEAD, 0, _HEAD + max(len(part), 1), len(columns) - 1)
            names.append(sheet_name)
        return names

    def _rows(self, ws, frame: pd.DataFrame, columns) -> None:
        cols = [
            frame[c].to_numpy(dtype=object, na_value=None) if c in frame.columns else np.full(len(frame), None)
            for c, _ in columns
        ]
        fmts = [f for _, f in columns]
        number_format = {"int": self.f_int, "float": self.f_float, "pct": self.f_pct, "yen": self.f_yen, "days": self.f_int}
        for i in range(len(frame)):
            r = _HEAD + 1 + i
            for j, (col, f) in enumerate(zip(cols, fmts)):
                v = col[i]
                if missing(v):
                    continue
                if f in number_format and isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool):
                    fv = float(v)
                    if math.isinf(fv):
                        ws.write_string(r, j, "∞")
                    else:
                        ws.write_number(r, j, fv, number_format[f])
                elif isinstance(v, bool | np.bool_):
                    ws.write_boolean(r, j, bool(v))
                else:
                    self.text(ws, r, j, str(v))

    def text(self, ws, r: int, c: int, s: str) -> None:
        if len(s) > _MAX_CELL:
            s = s[: _MAX_CELL - 1] + "…"
        if s.startswith(FORMULA_STARTS):
            ws.write_string(r, c, s, self.f_quoted)
        else:
            ws.write_string(r, c, s)

    def close(self) -> None:
        self.wb.close()


def write_xlsx(report: Report, path, footer: list[tuple[str, str]]) -> list[str]:
    """Write the report's workbook: an overview sheet (the footer's facts), the register (every
    finding in scope, with basis and evidence) and each table that names a sheet. Returns the
    sheet names."""
    w = _Writer(path, report)
    names = []
    about = pd.DataFrame(footer, columns=["item", "value"])
    names += w.sheet(label("footer", report.lang), about, [("item", "text"), ("value", "text")], label("footer", report.lang))
    if report.register is not None:
        reg = report.register
        cols = [(c, "float" if c in ("score", "likelihood", "impact") else "text") for c in _REGISTER_COLUMNS if c in reg.columns]
        names += w.sheet("register", reg, cols, label("n_findings", report.lang) + f" {len(reg):,}")
    for t in report.tables():
        if t.sheet:
            names += w.sheet(t.sheet, t.frame, t.columns, t.title)
    w.close()
    return names
