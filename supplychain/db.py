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

__all__ = ["connect", "run", "Result", "SCHEMA_VERSION", "transaction", "registered", "register_function"]

log = logging.getLogger(__name__)

#: Bumped whenever a table or column changes; stored in ``meta``.
SCHEMA_VERSION = "1"


class Result:
    """The complete result of one statement, already fetched (as Arrow), so the connection is
    free again for the caller's own queries."""

    __slots__ = ("table",)

    def __init__(self, table):
        self.table = table

    def fetchall(self) -> list[tuple]:
        cols = [c.to_pylist() for c in self.table.columns]
        return list(zip(*cols)) if cols else []

    def fetchone(self):
        if self.table is None or self.table.num_rows == 0:
            return None
        return tuple(c[0].as_py() for c in self.table.columns)

    def df(self):
        return self.table.to_pandas()

    def arrow(self):
        return self.table


def run(con: duckdb.DuckDBPyConnection, sql: str, params=None) -> Result:
    """Execute one statement with bound parameters and fetch its whole result.

    Errors carry the statement. The result is fetched at once, so no half-read result is left on
    the connection (DuckDB 2 refuses other work on a connection until a result is read).

    >>> con = connect()
    >>> run(con, "SELECT ? + 1", [41]).fetchone()
    (42,)
    """
    try:
        _complete(con)
        rel = con.sql(sql, params=params)
        if rel is None:  # a statement without a result set: already executed
            return Result(None)
        fetch = getattr(rel, "to_arrow_table", None) or rel.arrow  # renamed in DuckDB 2
        return Result(fetch())
    except duckdb.Error as exc:
        short = " ".join(sql.split())
        if len(short) > 600:
            short = short[:600] + " …"
        raise DatabaseError(f"{type(exc).__name__}: {exc}\n  in SQL: {short}") from exc


def _complete(con) -> None:
    # DuckDB 2 refuses register()/create_function() while a result of execute() is unread
    complete = getattr(con, "complete", None)
    if complete is not None:
        complete()


def literal(text) -> str:
    """A SQL string literal of a constant the package chose (a schema name, a setting), never of
    user data: that is always bound as a parameter.

    >>> literal("it's")
    "'it''s'"
    """
    return "'" + str(text).replace("'", "''") + "'"


class registered:
    """``with registered(con, "_name", frame):`` — a DataFrame or Arrow table visible to SQL as a view."""

    def __init__(self, con, name: str, obj):
        self.con, self.name, self.obj = con, name, obj

    def __enter__(self):
        _complete(self.con)
        self.con.register(self.name, self.obj)
        return self.name

    def __exit__(self, *exc):
        _complete(self.con)
        self.con.unregister(self.name)
        return False


def register_function(con, name: str, fn, params, returns, **kwargs) -> None:
    """Register a Python function for SQL once per connection (idempotent)."""
    _complete(con)
    try:
        con.create_function(name, fn, params, returns, **kwargs)
    except duckdb.Error as exc:
        if "already" not in str(exc).lower():
            raise


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


def _add_new_columns(con) -> None:
    """Columns added to the schema since a database was created are added to it (nullable;
    earlier rows have no value): the schema only ever grows by columns within a version."""
    from .survey.schema import tables

    present = {
        (t, c) for t, c in run(con, "SELECT table_name, column_name FROM duckdb_columns() WHERE schema_name = 'main'").fetchall()
    }
    for table in tables().values():
        for column in table.columns:
            if (table.name, column.name) not in present:
                run(con, f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {column.type}')


def _upgrade_finding(con) -> bool:
    """Bring an older ``finding`` table to the register's form. Databases made before the
    register existed have an empty one keyed by id alone: it is dropped (made again by the DDL).
    Databases made by the first register release have a (finding, wave) primary key, which makes
    re-scoring a wave commit eight times slower: the rows are set aside, to be put back by
    :func:`_create_schema` into the table made again without it. True when rows were set aside."""
    cols = {c for (c,) in run(con, "SELECT column_name FROM duckdb_columns() WHERE table_name = 'finding'").fetchall()}
    if not cols:
        return False
    if "subject_key" not in cols:
        if run(con, "SELECT count(*) FROM finding").fetchone()[0]:
            raise SupplyChainError("the finding table predates the risk register and is not empty; it cannot be upgraded")
        run(con, "DROP TABLE finding")
        return False
    keyed = run(
        con, "SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'finding' AND constraint_type = 'PRIMARY KEY'"
    ).fetchone()[0]
    if not keyed:
        return False
    run(con, "CREATE TEMP TABLE _sc_finding AS SELECT * FROM finding")
    run(con, "DROP TABLE finding")
    return True


def _create_schema(con) -> None:
    with transaction(con):
        kept = _upgrade_finding(con)
        for statement in ddl():
            run(con, statement)
        _add_new_columns(con)
        if kept:
            run(con, "INSERT INTO finding BY NAME SELECT * FROM _sc_finding")
            run(con, "DROP TABLE _sc_finding")
        if run(con, "SELECT count(*) FROM country").fetchone()[0] == 0:
            con.executemany("INSERT INTO country VALUES (?, ?, NULLIF(?, ''))", _reference_rows("countries.csv"))
        if run(con, "SELECT count(*) FROM prefecture").fetchone()[0] == 0:
            con.executemany("INSERT INTO prefecture VALUES (?, ?, ?, ? = 'true')", _reference_rows("prefectures.csv"))
        found = run(con, "SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if found is None:
            from . import __version__

            run(
                con,
                "INSERT INTO meta VALUES ('schema_version', ?), ('created_by', ?)",
                [SCHEMA_VERSION, f"supplychain {__version__}"],
            )
        elif found[0] != SCHEMA_VERSION:
            raise SupplyChainError(f"database schema version is {found[0]}, this supplychain expects {SCHEMA_VERSION}")


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
    # the library is silent; the CLI shows its own progress bars
    con.execute("SET enable_progress_bar = false")
    if not read_only:
        _create_schema(con)
    return con
