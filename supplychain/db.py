"""The DuckDB database: connecting, creating the schema, and the one SQL runner.

Every statement the package sends goes through :func:`run`, with parameters bound (never
formatted into the SQL text); a failing statement raises :class:`~supplychain.exceptions.DatabaseError`
carrying the statement, the way Splink's database API does.
"""

from __future__ import annotations

import csv
import logging
import os
import stat
from importlib import resources
from pathlib import Path

import duckdb

from .exceptions import DatabaseError, SupplyChainError
from .survey.schema import ddl

__all__ = [
    "connect",
    "DatabaseBusy",
    "run",
    "Result",
    "SCHEMA_VERSION",
    "transaction",
    "registered",
    "temp_table",
    "register_function",
    "encrypt_database",
    "is_encrypted",
    "resolve_key",
    "read_key_file",
    "KEY_ENV",
    "KEY_FILE_ENV",
]

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
        if self.table.num_rows == 0:
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
        # execute(), not sql(): a relation's to_arrow_table() ran the 1.5 line's queries up to
        # eight times slower (a batch of the economy graph build: 24.6 s against 3.1 s).
        # Statements without a result set give a one-column table (Count or Success).
        con.execute(sql, params)
        fetch = getattr(con, "to_arrow_table", None) or con.fetch_arrow_table
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
        self.con.register(self.name, _as_arrow(self.obj))
        return self.name

    def __exit__(self, *exc):
        _complete(self.con)
        self.con.unregister(self.name)
        return False


def temp_table(con, name: str, obj) -> str:
    """Copy a DataFrame or Arrow table into the temporary table ``name`` (replaced if it exists);
    returns ``name``. Unlike a :class:`registered` view, the copy has statistics: DuckDB estimates
    no size for a registered object, and may build a join's hash table on the large side."""
    with registered(con, f"{name}_src", obj) as source:
        run(con, f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {source}")
    return name


def _as_arrow(obj):
    """A DataFrame with text columns as an Arrow table: pandas 3 keeps text in Arrow, and DuckDB
    1.x scans a DataFrame's text through NumPy objects (one Python string per cell; ~1 s per
    million), an Arrow table without a copy. Anything else, or a frame Arrow cannot type (mixed
    objects), is registered as it is."""
    import pandas as pd

    if not isinstance(obj, pd.DataFrame) or not any(pd.api.types.is_string_dtype(t) for t in obj.dtypes):
        return obj
    import pyarrow as pa

    try:
        return pa.Table.from_pandas(obj, preserve_index=False)
    except (pa.ArrowException, TypeError, ValueError):
        return obj


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


def _reference_table(name: str):
    """A shipped reference CSV as an Arrow table of text columns ``c0``, ``c1``, …"""
    import pyarrow as pa

    rows = _reference_rows(name)
    return pa.table({f"c{i}": list(col) for i, col in enumerate(zip(*rows, strict=True))})


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
            with registered(con, "_sc_rows", _reference_table("countries.csv")):  # one insert, not one per row
                run(con, "INSERT INTO country SELECT c0, c1, NULLIF(c2, '') FROM _sc_rows")
        if run(con, "SELECT count(*) FROM prefecture").fetchone()[0] == 0:
            with registered(con, "_sc_rows", _reference_table("prefectures.csv")):
                run(con, "INSERT INTO prefecture SELECT c0, c1, c2, c3 = 'true' FROM _sc_rows")
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


#: Environment variables holding the database key, or naming a file that holds it.
KEY_ENV = "SUPPLYCHAIN_KEY"
KEY_FILE_ENV = "SUPPLYCHAIN_KEY_FILE"
#: The attached database's name on an encrypted connection.
_CATALOG = "sc"
#: DuckDB never installs or loads an extension by itself here (it would download it).
_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


def read_key_file(path, *, database=None) -> str:
    """The key in ``path`` (surrounding whitespace dropped). Refused when the file can be read
    by others than its owner, is empty, or lies in the database's own folder (a key stored
    beside the data protects nothing)."""
    path = Path(path)
    try:
        st = path.stat()
        text = path.read_text("utf-8").strip()
    except OSError as exc:
        raise SupplyChainError(f"key file {path}: cannot be read ({exc.strerror})") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SupplyChainError(f"key file {path}: readable by others (mode {stat.filemode(st.st_mode)}); chmod 600 {path}")
    if database is not None and Path(database).resolve().parent == path.resolve().parent:
        raise SupplyChainError(f"key file {path}: lies beside the database {database}; keep keys away from the data")
    if not text:
        raise SupplyChainError(f"key file {path}: is empty")
    return text


def resolve_key(encryption_key=None, *, database=None) -> str | None:
    """The key to use: ``encryption_key`` if given, else the file named by
    ``$SUPPLYCHAIN_KEY_FILE``, else ``$SUPPLYCHAIN_KEY``, else None (not encrypted)."""
    if encryption_key is not None:
        if not isinstance(encryption_key, str) or not encryption_key:
            raise SupplyChainError("encryption_key must be a non-empty string")
        return encryption_key
    if os.environ.get(KEY_FILE_ENV):
        return read_key_file(os.environ[KEY_FILE_ENV], database=database)
    return os.environ.get(KEY_ENV) or None


def _httpfs_path() -> str:
    """The httpfs extension shipped by the duckdb-extension-httpfs package (it carries the
    OpenSSL-backed cipher DuckDB needs to write encrypted files securely); never downloaded."""
    try:
        import duckdb_extension_httpfs
    except ImportError:
        raise SupplyChainError(
            "an encrypted database needs the duckdb-extension-httpfs package (a dependency of supplychain: reinstall it)"
        ) from None
    path = Path(duckdb_extension_httpfs.__file__).parent / "extensions" / f"v{duckdb.__version__}" / "httpfs.duckdb_extension"
    if not path.exists():
        raise SupplyChainError(
            f"duckdb-extension-httpfs has no extension for DuckDB {duckdb.__version__} ({path.parent.parent}): "
            "install the versions pinned in pyproject.toml"
        )
    return str(path)


def _open_encrypted(target: str, key: str, read_only: bool) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:", config=_CONFIG)
    try:
        con.execute(f"LOAD {literal(_httpfs_path())}")
        options = f"ENCRYPTION_KEY {literal(key)}" + (", READ_ONLY" if read_only else "")
        # not through run(): its errors quote the SQL, and this SQL holds the key
        con.execute(f"ATTACH {literal(target)} AS {_CATALOG} ({options})")
        con.execute(f"USE {_CATALOG}")
    except duckdb.Error as exc:
        con.close()
        text = str(exc).replace(key, "***")
        if "key" in text.lower() or "decrypt" in text.lower() or "encrypt" in text.lower():
            raise SupplyChainError(
                f"cannot open database {target}: wrong encryption key, or the file is not encrypted ({text.strip()})"
            ) from None
        busy = _busy(target, text, read_only)
        if busy:
            raise DatabaseBusy(busy) from None
        raise SupplyChainError(f"cannot open database {target}: {text}") from None
    return con


def _busy(target: str, text: str, read_only: bool) -> str | None:
    """The message for a database another process holds, or None when ``text`` is not that."""
    if "lock" not in text.lower():
        return None
    import re

    found = re.search(r"held in (.+?) \(PID (\d+)\)", text)
    holder = f"process {found.group(2)} ({Path(found.group(1)).name})" if found else "another process"
    if read_only:
        return (
            f"database {target} is open for writing by {holder}: it cannot be read until that process "
            "closes it (DuckDB lets one process write, or several read). Wait for it to finish, or retry with --wait SECONDS"
        )
    return (
        f"database {target} is in use by {holder} — a notebook or another run holding a connection: DuckDB lets one "
        "process write, or several read. Close that connection (con.close(), or restart the notebook's kernel) and run "
        "again, or retry with --wait SECONDS; to read only, open it read-only (read_only=True; reports do)"
    )


def is_encrypted(path) -> bool:
    """Whether the DuckDB file at ``path`` is encrypted (read from its header, no key needed)."""
    con = duckdb.connect(":memory:", config=_CONFIG)
    try:
        con.execute(f"ATTACH {literal(str(path))} AS probe (READ_ONLY)")
        return False
    except duckdb.Error as exc:
        if "encrypted" in str(exc).lower():
            return True
        raise SupplyChainError(f"cannot read database {path}: {exc}") from None
    finally:
        con.close()


def connect(
    path=None, *, read_only: bool = False, encryption_key: str | None = None, profile=None, wait: float = 0
) -> duckdb.DuckDBPyConnection:
    """Open (or create) a supplychain database.

    Parameters
    ----------
    path : str, Path or None
        The database file; ``None`` or ``":memory:"`` for an in-memory database (tests).
    read_only : bool
        Open an existing file for reading only (several readers may share it).
    encryption_key : str or None
        Open or create the file encrypted with DuckDB's AES-GCM under this key. When None, the
        key is read from the file named by ``$SUPPLYCHAIN_KEY_FILE`` or from
        ``$SUPPLYCHAIN_KEY``; with neither, the file is opened unencrypted. The key is never
        logged or stored; a wrong or missing key is a clear error.
    profile : str, Path or None
        A user profile (a site configuration file with an ``[access]`` section; default
        ``$SUPPLYCHAIN_CONFIG``). When it sees only some program compartments, the database is
        opened read-only and what is returned is an in-memory copy restricted to them and
        scored again (:func:`supplychain.access.restricted`); opening it for writing is refused.
    wait : float
        Seconds to wait while another process holds the database (DuckDB lets one process
        write, or several read): the open is retried every half second, then refused with a
        message naming the process that holds it (:class:`DatabaseBusy`).

    Returns
    -------
    duckdb.DuckDBPyConnection
        With every table of the schema present. DuckDB never installs or loads extensions by
        itself on it (no download at run time).

    Examples
    --------
    >>> con = connect()
    >>> run(con, "SELECT count(*) FROM prefecture").fetchone()
    (47,)
    """
    target = ":memory:" if path is None else str(path)
    if target != ":memory:":
        from .options import load_options

        options = load_options(profile)
        if options.compartments is not None:
            if not read_only:
                raise SupplyChainError(
                    f"the profile {options.label!r} sees only compartment(s) {', '.join(sorted(options.compartments))}: "
                    "open the database with read_only=True (a restricted copy is returned)"
                )
            from .access import restricted

            source = _open_waiting(target, True, encryption_key, wait)
            try:
                return restricted(source, options)
            finally:
                source.close()
    return _open_waiting(target, read_only, encryption_key, wait)


class DatabaseBusy(SupplyChainError):
    """Another process holds the database (DuckDB: one writer, or several readers)."""


def _open_waiting(target: str, read_only: bool, encryption_key: str | None, wait: float) -> duckdb.DuckDBPyConnection:
    import time

    deadline = time.monotonic() + max(wait, 0)
    announced = False
    while True:
        try:
            return _open(target, read_only, encryption_key)
        except DatabaseBusy as exc:
            if time.monotonic() >= deadline:
                raise
            if not announced:
                log.warning("%s; waiting up to %.0f s", exc, wait)
                announced = True
            time.sleep(0.5)


def _open(target: str, read_only: bool, encryption_key: str | None) -> duckdb.DuckDBPyConnection:
    """The database ``target`` itself (no profile applied), with its schema when writable."""
    if read_only and target == ":memory:":
        raise SupplyChainError("read_only=True needs a database file, got an in-memory database")
    if read_only and not Path(target).exists():
        raise SupplyChainError(f"read_only=True needs an existing database, {target} does not exist")
    key = None if target == ":memory:" else resolve_key(encryption_key, database=target)
    if key is not None:
        con = _open_encrypted(target, key, read_only)
    else:
        try:
            con = duckdb.connect(target, read_only=read_only, config=_CONFIG)
        except duckdb.Error as exc:
            if "encrypted" in str(exc).lower():
                raise SupplyChainError(
                    f"database {target} is encrypted: give its key ({KEY_FILE_ENV}=a key file, or {KEY_ENV}, "
                    "or encryption_key=...)"
                ) from None
            busy = _busy(target, str(exc), read_only)
            if busy:
                raise DatabaseBusy(busy) from None
            raise SupplyChainError(f"cannot open database {target}: {exc}") from exc
    # the library is silent; the CLI shows its own progress bars
    con.execute("SET enable_progress_bar = false")
    if not read_only:
        _create_schema(con)
    return con


def encrypt_database(source, destination, *, encryption_key: str | None = None) -> dict[str, int]:
    """Copy the unencrypted database ``source`` into a new encrypted file ``destination``
    (every table and row; ``source`` is left as it is: delete it yourself, securely, once the
    copy is checked). Returns the rows copied per table, checked against the source."""
    source, destination = Path(source), Path(destination)
    key = resolve_key(encryption_key, database=destination)
    if key is None:
        raise SupplyChainError(f"no key: set {KEY_FILE_ENV} (a key file) or {KEY_ENV}, or pass encryption_key")
    if destination.exists():
        raise SupplyChainError(f"{destination} exists; choose a new file")
    if not source.exists():
        raise SupplyChainError(f"{source} does not exist")
    if is_encrypted(source):
        raise SupplyChainError(f"{source} is already encrypted")
    con = _open_encrypted(str(destination), key, read_only=False)
    try:
        con.execute(f"ATTACH {literal(str(source))} AS plain (READ_ONLY)")
        con.execute(f"COPY FROM DATABASE plain TO {_CATALOG}")
        counts = {}
        tables = con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'plain' ORDER BY table_name"
        ).fetchall()
        for (name,) in tables:
            a = con.execute(f'SELECT count(*) FROM plain."{name}"').fetchone()[0]
            b = con.execute(f'SELECT count(*) FROM {_CATALOG}."{name}"').fetchone()[0]
            if a != b:
                raise SupplyChainError(f"encrypting {source}: table {name} copied {b} of {a} rows")
            counts[name] = b
        con.execute("DETACH plain")
        con.execute(f"CHECKPOINT {_CATALOG}")
    except duckdb.Error as exc:
        con.close()
        destination.unlink(missing_ok=True)
        raise SupplyChainError(f"encrypting {source}: {exc}") from None
    except BaseException:
        con.close()
        destination.unlink(missing_ok=True)
        raise
    con.close()
    return counts
