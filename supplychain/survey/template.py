"""The empty survey workbook respondents fill in (``supplychain template OUT.xlsx``).

Generated from the schema: one sheet per contract sheet, a header row (Japanese or English), a
notes row below it (every note starts with ``#`` so the reader skips it), and drop-down lists
for every enumeration and yes/no column. Required columns are marked with ``*``.
"""

from __future__ import annotations

from pathlib import Path

from ..exceptions import SupplyChainError
from .schema import sheets

__all__ = ["write_template"]

_BOOL = {"ja": ["はい", "いいえ"], "en": ["yes", "no"]}


def _note(c, lang: str) -> str:
    parts = [c.description_ja if lang == "ja" else c.description]
    if c.unit:
        parts.append(f"[{c.unit}]")
    if c.min is not None or c.max is not None:
        lo = "" if c.min is None else f"{c.min:g}"
        hi = "" if c.max is None else f"{c.max:g}"
        parts.append(f"{lo}–{hi}")
    if c.ref:
        parts.append(("参照: " if lang == "ja" else "refers to ") + f"{c.ref[0]}.{c.ref[1]}")
    if c.type == "corporate_number":
        parts.append("13桁" if lang == "ja" else "13 digits")
    if c.type == "country":
        parts.append("ISO 3166-1 alpha-2 (JP, US, ...)")
    return "# " + " ".join(p for p in parts if p)


def write_template(path, *, lang: str = "ja") -> Path:
    """Write an empty survey workbook to ``path``.

    Parameters
    ----------
    path : str or Path
        Where to write the ``.xlsx`` file.
    lang : {"ja", "en"}
        Language of sheet names, headers, notes and drop-down values.

    Returns
    -------
    Path
        The file written. Reading it back with :func:`supplychain.survey.read.read_survey` finds
        every sheet and column of the contract and no data rows.
    """
    from openpyxl import Workbook
    from openpyxl.comments import Comment
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.worksheet.datavalidation import DataValidation

    if lang not in ("ja", "en"):
        raise SupplyChainError(f"lang must be 'ja' or 'en', got {lang!r}")
    path = Path(path)
    if path.suffix.lower() != ".xlsx":
        raise SupplyChainError(f"the template is an .xlsx workbook, got {path.name!r}")
    wb = Workbook()
    wb.remove(wb.active)
    bold = Font(bold=True)
    required_fill = PatternFill("solid", fgColor="FFF2CC")
    note_font = Font(italic=True, color="666666", size=9)
    for sheet in sheets().values():
        title = sheet.aliases_ja[0] if lang == "ja" else sheet.name
        ws = wb.create_sheet(title)
        for j, c in enumerate(sheet.columns, start=1):
            header = (c.aliases_ja[0] if (lang == "ja" and c.aliases_ja) else c.name) + ("*" if c.required else "")
            cell = ws.cell(row=1, column=j, value=header)
            cell.font = bold
            if c.required:
                cell.fill = required_fill
            cell.comment = Comment(f"{c.name}: {c.description}", "supplychain")
            note = ws.cell(row=2, column=j, value=_note(c, lang))
            note.font = note_font
            note.alignment = Alignment(wrap_text=True, vertical="top")
            ws.column_dimensions[cell.column_letter].width = max(12, min(40, len(header) * 2 + 4))
            values = None
            if c.type == "enum":
                values = [(a[0] if (lang == "ja" and a) else v) for v, a in c.values]
            elif c.type == "bool":
                values = _BOOL[lang]
            if values:
                dv = DataValidation(type="list", formula1='"' + ",".join(values) + '"', allow_blank=True)
                dv.error = ("次から選んでください: " if lang == "ja" else "Choose one of: ") + ", ".join(values)
                dv.showErrorMessage = True
                ws.add_data_validation(dv)
                dv.add(f"{cell.column_letter}3:{cell.column_letter}5000")
        ws.freeze_panes = "A3"
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path
