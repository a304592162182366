"""The DuckDB database: connecting, creating the schema, and the one SQL runner.

Every statement the package sends goes through :func:`run`, with parameters bound (never
formatted into the SQL text); a failing statement raises :class:`~supplychain.exceptions.DatabaseError`
carrying the statement, the way Splink's database API does.
"""

from __future__ import annotations

import csv
import logging
from importlib import resources
from pathlib import Path

import duckdb

from .exceptions import DatabaseError, SupplyChainError
from .survey.schema import ddl

__all__ = ["connect", "run", "SCHEMA_VERSION", "transaction"]

log = logging.getLogger(__name__)

#: Bumped whenever a table or column changes; stored in ``meta``.
SCHEMA_VERSION = "1"


def run(con: duckdb.DuckDBPyConnection, sql: str, params=None) -> duckdb.DuckDBPyConnection:
    """Execute one statement with bound parameters; errors carry the statement.

    >>> con = connect()
    >>> run(con, "SELECT ? + 1", [41]).fetchone()
    (42,)
    """
    try:
        return con.execute(sql, params) if params is not None else con.execute(sql)
    except duckdb.Error as exc:
        short = " ".join(sql.split())
        if len(short) > 600:
            short = short[:600] + " …"
        raise DatabaseError(f"{type(exc).__name__}: {exc}\n  in SQL: {short}") from exc


class transaction:
    """``with transaction(con):`` — BEGIN, then COMMIT, or ROLLBACK on any exception."""

    def __init__(self, con):
        self.con = con

    def __enter__(self):
        run(self.con, "BEGIN TRANSACTION")
        return self.con

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            run(self.con, "COMMIT")
        else:
            try:
                self.con.execute("ROLLBACK")
            except duckdb.Error:  # the failure may already have aborted the transaction
                log.debug("rollback after %s failed", exc_type.__name__, exc_info=True)
        return False


def _reference_rows(name: str) -> list[list[str]]:
    text = resources.files("supplychain.reference").joinpath(name).read_text("utf-8")
    return list(csv.reader(text.splitlines()))[1:]


def _create_schema(con) -> None:
    with transaction(con):
        for statement in ddl():
            run(con, statement)
        if run(con, "SELECT count(*) FROM country").fetchone()[0] == 0:
            con.executemany(
                "INSERT INTO country VALUES (?, ?, NULLIF(?, ''))", _reference_rows("countries.csv")
            )
        if run(con, "SELECT count(*) FROM prefecture").fetchone()[0] == 0:
            con.executemany(
                "INSERT INTO prefecture VALUES (?, ?, ?, ? = 'true')", _reference_rows("prefectures.csv")
            )
        found = run(con, "SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if found is None:
            from . import __version__

            run(con, "INSERT INTO meta VALUES ('schema_version', ?), ('created_by', ?)",
                [SCHEMA_VERSION, f"supplychain {__version__}"])
        elif found[0] != SCHEMA_VERSION:
            raise SupplyChainError(
                f"database schema version is {found[0]}, this supplychain expects {SCHEMA_VERSION}"
            )


def connect(path=None, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open (or create) a supplychain database.

    Parameters
    ----------
    path : str, Path or None
        The database file; ``None`` or ``":memory:"`` for an in-memory database (tests).
    read_only : bool
        Open an existing file for reading only (several readers may share it).

    Returns
    -------
    duckdb.DuckDBPyConnection
        With every table of the schema present.

    Examples
    --------
    >>> con = connect()
    >>> run(con, "SELECT count(*) FROM prefecture").fetchone()
    (47,)
    """
    target = ":memory:" if path is None else str(path)
    if read_only and target == ":memory:":
        raise SupplyChainError("read_only=True needs a database file, got an in-memory database")
    if read_only and not Path(target).exists():
        raise SupplyChainError(f"read_only=True needs an existing database, {target} does not exist")
    try:
        con = duckdb.connect(target, read_only=read_only)
    except duckdb.Error as exc:
        raise SupplyChainError(f"cannot open database {target}: {exc}") from exc
    if not read_only:
        _create_schema(con)
    return con
