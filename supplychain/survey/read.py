"""Reading survey returns: an ``.xlsx`` workbook or a folder of CSV files, one per sheet.

The reader only finds sheets and headers and hands back every cell as text, with the row number
the respondent sees in Excel. Typing and checking is :mod:`supplychain.survey.validate`'s job, so
that a malformed cell becomes a rejected row with a reason, never an exception here.

A file that cannot be read at all (not a workbook, a missing required sheet, a missing header,
an encoding that is neither UTF-8 nor Shift_JIS) raises :class:`~supplychain.exceptions.SurveyReadError`.

Hostile files are refused before they can take the machine's memory or time, with the limit
they broke in the message: a file larger than :data:`MAX_FILE_BYTES`; a workbook whose parts
inflate beyond :data:`MAX_INFLATED_BYTES` in all, or at a ratio beyond
:data:`MAX_INFLATE_RATIO` (a zip bomb; measured while inflating, never trusting the sizes the
archive declares); a sheet spanning more than :data:`MAX_COLUMNS` columns or
:data:`MAX_CELLS` cells (checked from the cell references before the sheet is read, so a lone
cell at XFD1048576 cannot make the reader allocate a billion empty cells); a CSV line with
more than :data:`MAX_COLUMNS` fields. A survey return is far below each of them.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import hashlib
import io
import logging
import re
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..exceptions import SurveyReadError
from .schema import Sheet, sheets

__all__ = ["RawSheet", "RawWorkbook", "read_survey", "file_sha256", "header_key"]

log = logging.getLogger(__name__)

_PAREN = re.compile(r"\([^)]*\)$")

#: Largest file read (an ``.xlsx``, or one CSV of a folder): 512 MiB.
MAX_FILE_BYTES = 512 * 1024**2
#: Largest total the parts of a workbook may inflate to: 1 GiB.
MAX_INFLATED_BYTES = 1024**3
#: Largest inflation ratio of a workbook's parts beyond their first 16 MiB (zip bombs reach 1000:1;
#: XML of real sheets about 10:1).
MAX_INFLATE_RATIO = 200
#: Most columns a sheet may span (the contract has at most 30; extra columns are ignored).
MAX_COLUMNS = 1_000
#: Most cells (rows × columns spanned) a sheet may hold: 20 million.
MAX_CELLS = 20_000_000
_CELL_REF = re.compile(rb'<(?:\w+:)?c\b[^>]*?\br="([A-Z]{1,3})([0-9]{1,7})"')
_ROW_REF = re.compile(rb'<(?:\w+:)?row\b[^>]*?\br="([0-9]{1,7})"')


def _column_number(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ch - 64
    return n


def _check_size(path: Path, *, sheet: str | None = None) -> None:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise SurveyReadError(
            path,
            f"file is {size / 1024**2:,.0f} MiB, more than the {MAX_FILE_BYTES / 1024**2:,.0f} MiB a survey return may be; "
            "split it, or check it is the right file",
            sheet=sheet,
        )


def _check_workbook(path: Path) -> dict[str, tuple[int, int]]:
    """Inflate every part of the workbook once, counting (never holding) its bytes: refuse a zip
    bomb and a sheet that spans too much. Returns each worksheet part's (rows, columns) spanned."""
    _check_size(path)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise SurveyReadError(path, f"not a readable Excel workbook (not a zip archive: {exc})") from None
    spans: dict[str, tuple[int, int]] = {}
    total = packed = 0
    with archive:
        members = archive.infolist()
        if len(members) > 10_000:
            raise SurveyReadError(path, f"not a survey workbook: the archive holds {len(members):,} parts")
        for info in members:
            sheet_part = info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml")
            rows = cols = 0
            tail = b""
            packed += info.compress_size
            try:
                with archive.open(info) as f:
                    while chunk := f.read(1 << 20):
                        total += len(chunk)
                        if total > MAX_INFLATED_BYTES:
                            raise SurveyReadError(
                                path,
                                f"refused: its parts inflate to more than {MAX_INFLATED_BYTES / 1024**3:.0f} GiB "
                                "(a zip bomb, or not a survey return)",
                            )
                        if total > 16 * 1024**2 and total > MAX_INFLATE_RATIO * max(packed, 1):
                            raise SurveyReadError(
                                path,
                                f"refused: its parts inflate more than {MAX_INFLATE_RATIO}:1 "
                                f"({info.filename}; a zip bomb, or not a survey return)",
                            )
                        if sheet_part:
                            text = tail + chunk
                            for m in _ROW_REF.finditer(text):
                                rows = max(rows, int(m.group(1)))
                            for m in _CELL_REF.finditer(text):
                                cols = max(cols, _column_number(m.group(1)))
                                rows = max(rows, int(m.group(2)))
                            tail = text[-256:]  # a reference cut by the chunk boundary is seen whole next time
            except SurveyReadError:
                raise
            # what zipfile raises for damage: a bad archive or deflate stream, a truncated part, an
            # unsupported compression method (NotImplementedError), an encrypted part (RuntimeError)
            except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, NotImplementedError, RuntimeError) as exc:
                raise SurveyReadError(path, f"not a readable Excel workbook ({info.filename}: {exc})") from None
            if sheet_part:
                spans[info.filename] = (rows, cols)
                if cols > MAX_COLUMNS or rows * cols > MAX_CELLS:
                    raise SurveyReadError(
                        path,
                        f"refused: a sheet ({info.filename}) spans {rows:,} rows × {cols:,} columns; a survey sheet may "
                        f"span at most {MAX_COLUMNS:,} columns and {MAX_CELLS:,} cells (delete the stray cells far "
                        "below or to the right of the data)",
                    )
    return spans


@dataclass
class RawSheet:
    """One sheet as text: ``table`` has a column per contract column found, plus ``_row``.

    A cell is its text without leading and trailing whitespace (Unicode's: tabs and full-width
    spaces too), or null when nothing is left; validation relies on it and trims nothing again."""

    name: str  # contract name, e.g. "supply"
    source: str  # as found: sheet title or CSV file name
    table: pa.Table
    extra_columns: list[str] = field(default_factory=list)

    @property
    def n_rows(self) -> int:
        return self.table.num_rows


@dataclass
class RawWorkbook:
    """A survey return as read from disk."""

    path: Path
    format: str  # "xlsx" or "csv"
    sha256: str
    sheets: dict[str, RawSheet]
    ignored_sheets: list[str] = field(default_factory=list)

    @property
    def extra_columns(self) -> list[str]:
        return [f"{s.name}.{c}" for s in self.sheets.values() for c in s.extra_columns]


@functools.lru_cache(maxsize=8192)  # the same few hundred headers, in every return
def header_key(text: str) -> str:
    """How headers are compared: NFKC, case-folded, no ``*``/``※`` marks, ``_`` for spaces.

    >>> header_key(" Company Ref* "), header_key("法人番号※"), header_key("ＳＨＡＲＥ")
    ('company_ref', '法人番号', 'share')
    """
    text = unicodedata.normalize("NFKC", str(text)).strip().casefold()
    text = text.rstrip("*※ ").lstrip("*※ ")
    return re.sub(r"[\s\-]+", "_", text)


def _header_map(sheet: Sheet) -> dict[str, str]:
    return _header_map_of(sheet.name)


@functools.cache
def _header_map_of(sheet_name: str) -> dict[str, str]:
    sheet = sheets()[sheet_name]
    out = {}
    for c in sheet.columns:
        out[header_key(c.name)] = c.name
        for alias in c.aliases_ja:
            out[header_key(alias)] = c.name
    return out


def _sheet_lookup() -> dict[str, str]:
    out = {}
    for s in sheets().values():
        out[header_key(s.name)] = s.name
        for alias in s.aliases_ja:
            out[header_key(alias)] = s.name
    return out


def file_sha256(path: Path, *, limit: int | None = None) -> str:
    """SHA-256 of a file, or of a CSV folder (its ``*.csv`` files' names and bytes, sorted).
    ``limit``: refuse (:class:`SurveyReadError`) a file larger than this many bytes unread."""
    h = hashlib.sha256()
    files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".csv") if path.is_dir() else [path]
    for p in files:
        if limit is not None and p.stat().st_size > limit:
            _check_size(p, sheet=p.name if path.is_dir() else None)
        if path.is_dir():
            h.update(p.name.encode() + b"\0")
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def _cell_text(value) -> str | None:
    """An Excel cell as the text a respondent would read, or None when empty."""
    if value is None:
        return None
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value != value:  # NaN
            return None
        return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time(0) else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def trimmed_cells(values):
    """Text cells as :class:`RawSheet` holds them: without leading and trailing (Unicode)
    whitespace, and null where nothing is left."""
    trimmed = pc.utf8_trim_whitespace(values)
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)


def _build(sheet: Sheet, source: str, path: Path, header: list, rows: list[tuple[int, list]], *, typed: bool) -> RawSheet:
    """Map headers to contract columns and build the text table.

    ``typed``: the cells are Excel values (numbers, dates, booleans), shown as text first; CSV
    cells are text already.
    """
    positions, extra = _map_header(sheet, source, path, header)
    kept_numbers, kept = [], []
    for row_number, cells in rows:
        if typed:  # Excel values as the respondent reads them
            cells = [_cell_text(c) or "" for c in cells]
        joined = "".join(cells).strip()
        if not joined or (joined.startswith("#") and _is_notes_row(cells)):
            continue  # empty row, or the template's notes row
        kept_numbers.append(row_number)
        kept.append(cells)
    width = max(positions.values(), default=-1) + 1
    if any(len(cells) < width for cells in kept):  # short rows: the missing cells are empty
        kept = [cells + [""] * (width - len(cells)) if len(cells) < width else cells for cells in kept]
    columns = list(zip(*kept)) if kept else []
    arrays = {"_row": pa.array(kept_numbers, pa.int32())}
    for name, i in positions.items():
        arrays[name] = trimmed_cells(pa.array(columns[i] if kept else [], pa.string()))
    return RawSheet(sheet.name, source, pa.table(arrays), extra)


def _map_header(sheet: Sheet, source: str, path: Path, header: list) -> tuple[dict[str, int], list[str]]:
    """Contract column -> position in the header, and the headers that are not in the contract."""
    mapping = _header_map(sheet)
    positions: dict[str, int] = {}
    extra: list[str] = []
    for i, h in enumerate(header):
        text = _cell_text(h)
        if text is None:
            continue
        key = header_key(text)
        name = mapping.get(key) or mapping.get(_PAREN.sub("", key).rstrip("_"))
        if name is None:
            extra.append(text.strip())
        elif name in positions:
            raise SurveyReadError(path, f"two columns map to {name!r}: {header[positions[name]]!r} and {text!r}", sheet=source)
        else:
            positions[name] = i
    missing = [c for c in sheet.required if c not in positions]
    if missing:
        raise SurveyReadError(
            path,
            f"required column(s) {', '.join(missing)} not found in the header; found {[str(h) for h in header if h]}",
            sheet=source,
        )
    return positions, extra


def _is_notes_row(cells: list[str]) -> bool:
    filled = [c for c in cells if c.strip()]
    return all(c.lstrip().startswith("#") for c in filled)


def _find_header(path: Path, source: str, sheet: Sheet, rows: list[tuple[int, list]]):
    """The header is the first non-empty row; the data are the rows below it."""
    for k, (_, cells) in enumerate(rows):
        if any(_cell_text(c) is not None for c in cells):
            return cells, rows[k + 1 :]
    raise SurveyReadError(path, "sheet is empty: no header row", sheet=source)


def _read_xlsx(path: Path) -> tuple[dict[str, RawSheet], list[str]]:
    from python_calamine import CalamineWorkbook

    _check_workbook(path)
    try:
        wb = CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises its own error types for every kind of damage
        raise SurveyReadError(path, f"not a readable Excel workbook ({exc})") from None
    lookup = _sheet_lookup()
    found: dict[str, RawSheet] = {}
    ignored = []
    for title in wb.sheet_names:
        name = lookup.get(header_key(title))
        if name is None:
            ignored.append(title)
            continue
        if name in found:
            raise SurveyReadError(path, f"sheets {found[name].source!r} and {title!r} are both {name!r}")
        try:
            values = wb.get_sheet_by_name(title).to_python(skip_empty_area=False)
        except Exception as exc:
            raise SurveyReadError(path, f"sheet cannot be read ({exc})", sheet=title) from None
        rows = [(i + 1, list(r)) for i, r in enumerate(values)]
        header, body = _find_header(path, title, sheets()[name], rows)
        found[name] = _build(sheets()[name], title, path, header, body, typed=True)
    return found, ignored


def _decode(path: Path) -> str:
    _check_size(path)
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "cp932"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise SurveyReadError(path, "text is neither UTF-8 nor Shift_JIS (cp932); save the CSV as UTF-8")


def _read_plain_csv(sheet: Sheet, source: str, path: Path, text: str) -> RawSheet | None:
    """The fast path for the common CSV: header on line 1, no blank lines, no line breaks inside
    quoted cells, every record with the header's number of fields. Arrow's parser reads it, and
    line n of the file is record n, so row numbers stay exact. Anything else returns None, for
    the csv module.
    """
    import pyarrow.csv as pacsv

    if "\n\n" in text or "\n\r\n" in text or text.count("\r") != text.count("\r\n"):
        return None
    lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    try:
        table = pacsv.read_csv(
            io.BytesIO(text.encode("utf-8")),
            # one thread: a sheet is small, and Arrow's pool took a fifth more CPU than it saved
            # (the reader runs beside the validation and loading threads anyway)
            read_options=pacsv.ReadOptions(autogenerate_column_names=True, use_threads=False),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={f"f{i}": pa.string() for i in range(text.count(",", 0, text.find("\n")) + 1)},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None  # ragged lines and the like: the csv module reports them precisely
    if table.num_rows != lines or table.num_rows == 0 or any(c.type != pa.string() for c in table.columns):
        return None  # a record spans lines, or the file is empty
    header = [table.column(i)[0].as_py() for i in range(table.num_columns)]
    if not "".join(header).strip():
        return None  # the header is further down
    positions, extra = _map_header(sheet, source, path, header)
    body = table.slice(1)
    n, width = body.num_rows, body.num_columns
    # every cell of the sheet in one array, column after column: a handful of kernel calls per
    # file instead of several per column (thousands of small files at national scale)
    cells = pa.concat_arrays([chunk for col in body.columns for chunk in col.chunks]) if n else pa.array([], pa.string())
    trimmed = pc.utf8_trim_whitespace(cells)
    filled = pc.not_equal(trimmed, "")
    f = filled.to_numpy(zero_copy_only=False).reshape(width, n)
    hashed = ~f | pc.starts_with(trimmed, "#").to_numpy(zero_copy_only=False).reshape(width, n)
    keep = np.flatnonzero(f.any(axis=0) & ~hashed.all(axis=0))  # not an empty row, not the notes row
    values = pc.if_else(filled, trimmed, pa.scalar(None, pa.string()))
    arrays = {"_row": pa.array(keep.astype(np.int32) + 2, pa.int32())}
    names = list(positions)
    taken = values.take(pa.array(np.concatenate([keep + positions[name] * n for name in names]) if names else keep))
    for k, name in enumerate(names):
        arrays[name] = taken.slice(k * len(keep), len(keep))
    return RawSheet(sheet.name, source, pa.table(arrays), extra)


def _read_csv_text(sheet: Sheet, source: str, path: Path, text: str, *, fast: bool = True) -> RawSheet:
    """One CSV sheet: the Arrow fast path when the file allows it, else the csv module."""
    first = text.find("\n")
    if text.count(",", 0, first if first >= 0 else len(text)) >= MAX_COLUMNS:
        raise SurveyReadError(path, f"refused: the first line has more than {MAX_COLUMNS:,} fields", sheet=source)
    if fast:
        table = _read_plain_csv(sheet, source, path, text)
        if table is not None:
            return table
    for n, line in enumerate(io.StringIO(text), start=1):  # before the csv module builds any row
        if line.count(",") >= MAX_COLUMNS:
            raise SurveyReadError(path, f"refused: line {n} has more than {MAX_COLUMNS:,} fields", sheet=source)
    reader = csv.reader(io.StringIO(text, newline=""))
    rows = []
    try:
        # reader.line_num is the physical line, so quoted multi-line cells keep true numbers
        for cells in reader:
            rows.append((reader.line_num, cells))
    except csv.Error as exc:
        raise SurveyReadError(path, f"malformed CSV near line {reader.line_num}: {exc}", sheet=source) from None
    header, body = _find_header(path, source, sheet, rows)
    return _build(sheet, source, path, header, body, typed=False)


def _read_csv_folder(path: Path) -> tuple[dict[str, RawSheet], list[str]]:
    lookup = _sheet_lookup()
    found: dict[str, RawSheet] = {}
    ignored = []
    for file in sorted(path.iterdir()):
        if file.suffix.lower() != ".csv":
            continue
        name = lookup.get(header_key(file.stem))
        if name is None:
            ignored.append(file.name)
            continue
        if name in found:
            raise SurveyReadError(path, f"files {found[name].source!r} and {file.name!r} are both {name!r}")
        found[name] = _read_csv_text(sheets()[name], file.name, path, _decode(file))
    return found, ignored


def read_survey(path, *, sha256: str | None = None) -> RawWorkbook:
    """Read one survey return: an ``.xlsx``/``.xlsm`` workbook or a folder of CSV files.

    Parameters
    ----------
    path : str or Path
        The workbook, or a folder holding ``respondent.csv``, ``companies.csv``, ... (sheet
        names or their Japanese aliases).
    sha256 : str, optional
        The :func:`file_sha256` of ``path`` when the caller has just worked it out (the ingest
        does, to skip returns loaded before); else it is worked out here.

    Returns
    -------
    RawWorkbook
        Every recognised sheet as text with its spreadsheet row numbers.

    Raises
    ------
    SurveyReadError
        When the file cannot be read, or a required sheet or column is missing.
    """
    path = Path(path)
    if not path.exists():
        raise SurveyReadError(path, "no such file or folder")
    if path.is_dir():
        fmt = "csv"
        found, ignored = _read_csv_folder(path)
    elif path.suffix.lower() in (".xlsx", ".xlsm"):
        fmt = "xlsx"
        found, ignored = _read_xlsx(path)
    else:
        raise SurveyReadError(
            path, f"expected an .xlsx workbook or a folder of CSV files, got {path.suffix or 'a file without extension'!r}"
        )
    for s in sheets().values():
        if s.required_sheet and s.name not in found:
            where = "file" if fmt == "csv" else "sheet"
            raise SurveyReadError(
                path, f"required {where} {s.name!r} (or {'/'.join(s.aliases_ja)}) not found; found {sorted(found) + ignored}"
            )
    if ignored:
        log.info("%s: ignored sheets/files not in the contract: %s", path, ignored)
    ordered = {name: found[name] for name in sheets() if name in found}
    return RawWorkbook(path, fmt, sha256 or file_sha256(path), ordered, ignored)
