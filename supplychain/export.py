"""Exports: tables written for people to open in a spreadsheet, with nothing in them that runs.

A company name such as ``=HYPERLINK("http://…")`` or ``@SUM(A1)`` in a survey return would be
a formula in Excel if written as is. Every text cell starting with ``=``, ``+``, ``-``, ``@``, a
tab or a carriage return is written with a leading apostrophe (OWASP's advice on CSV
injection); numbers stay numbers. The report's XLSX does the same with Excel's quote prefix
(:mod:`supplychain.report.xlsx`). Each export is recorded in the audit journal
(:mod:`supplychain.audit`) with the file's SHA-256.

>>> out = neutralise(pd.DataFrame({"name": ["=1+2", "Acme", "-x", None], "n": [1, -2, 3, 4]}))
>>> out["name"].tolist()[:3], bool(out["name"].isna().iloc[3]), out["n"].tolist()
(["'=1+2", 'Acme', "'-x"], True, [1, -2, 3, 4])
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from . import audit

__all__ = ["FORMULA_STARTS", "neutralise", "neutralise_text", "write_csv"]

#: First characters that make a spreadsheet read a cell as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_text(value):
    """``value`` with a leading apostrophe when it is text a spreadsheet would read as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def neutralise(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells cannot become formulas (see the module docstring)."""
    out = frame.copy()
    for col in out.columns:
        s = out[col]
        if s.dtype == object or isinstance(s.dtype, pd.StringDtype):
            text = pd.Series([neutralise_text(v) for v in s], index=s.index, dtype=object)  # missing stay missing
            out[col] = text.astype(s.dtype) if isinstance(s.dtype, pd.StringDtype) else text
    out.columns = [neutralise_text(str(c)) for c in out.columns]
    return out


def write_csv(frame: pd.DataFrame, path, *, con=None, what: str | None = None, encoding: str = "utf-8-sig") -> Path:
    """Write ``frame`` to ``path`` as CSV (UTF-8 with a byte-order mark, so Excel reads Japanese
    text), neutralised; recorded in ``con``'s audit journal as an ``export`` of ``what``.
    Returns the path."""
    path = Path(path)
    neutralise(frame).to_csv(path, index=False, encoding=encoding, lineterminator="\n")
    if con is not None:
        audit.record(
            con,
            "export",
            str(path),
            parameters={"what": what, "rows": len(frame), "columns": [str(c) for c in frame.columns]},
            outputs={str(path): audit.digest(path)},
        )
    return path
