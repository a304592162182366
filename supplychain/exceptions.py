"""Exceptions raised by supplychain.

Every error the package raises on purpose is a :class:`SupplyChainError`. Messages name what
was expected and what was received, and where (file, sheet, row, column) when there is a where.
"""

from __future__ import annotations

__all__ = [
    "SupplyChainError",
    "SchemaError",
    "SurveyReadError",
    "IngestError",
    "DatabaseError",
]


class SupplyChainError(ValueError):
    """Base class of the errors raised by supplychain."""


class SchemaError(SupplyChainError):
    """The schema description (the CSV files under ``survey/schema``) is inconsistent."""


class SurveyReadError(SupplyChainError):
    """A survey file cannot be read at all (not a workbook, missing sheet or header, bad encoding).

    Attributes
    ----------
    path, sheet, column : str or None
        Where the problem is.
    reason : str
        What is wrong, in plain language.
    """

    def __init__(self, path, reason, *, sheet=None, column=None):
        self.path = str(path)
        self.sheet = sheet
        self.column = column
        self.reason = reason
        where = " › ".join(str(p) for p in (self.path, sheet, column) if p)
        super().__init__(f"{where}: {reason}")


class IngestError(SupplyChainError):
    """A file could not be loaded; the database is left as it was before the file."""


class DatabaseError(SupplyChainError):
    """A SQL statement failed; the message carries the statement."""
