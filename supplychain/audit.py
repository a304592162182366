"""The audit trail: who did what, when, with which parameters, inputs and outputs.

Every ingest, score, model fit, scenario run, export and report — and every review decision,
triage change and list load — appends one entry to the database's **audit journal**, a JSON-lines
file beside it (``supplychain.duckdb`` → ``supplychain.audit.jsonl``; ``$SUPPLYCHAIN_AUDIT`` or
``[audit] journal`` in the site configuration put it elsewhere, e.g. on a write-once share).
It is a file rather than a table because reports, exports and notebook helpers work on
read-only connections (several readers may share a database; only one process may write).

Each entry holds ``seq`` (1, 2, …), ``at`` (local time, microseconds), ``user`` (``[audit]
user`` of the configuration, else ``$SUPPLYCHAIN_USER``, else the operating-system user),
``action``, ``target``, ``parameters``, ``inputs`` and ``outputs`` (names → SHA-256 digests of
files, of the database's data, of result frames), ``prev`` (the previous entry's hash; 64 zeros
for the first) and ``hash``, the SHA-256 of the entry's canonical JSON without ``hash``.
Entries are appended under an exclusive lock, so concurrent processes never interleave.

:func:`verify` (``supplychain audit verify``) recomputes the chain: an edited entry no longer
matches its hash, a deleted or reordered one breaks ``seq`` and ``prev``. Deleting the newest
entries leaves a shorter chain that is still valid; to detect that, write the head down
elsewhere — ``supplychain audit anchor FILE`` appends it to a file (keep it on other media), each
report's ``manifest.json`` carries it, and ``verify(anchors=FILE)`` checks every anchored entry is
still there, unchanged. Someone who can rewrite the whole journal and every anchor can forge it:
the chain makes tampering evident, not impossible.

The journal holds no survey content: actions, parameters (waves, program codes, options), file
paths and digests. An entry is written once its action has completed (after the transaction
commits, after the report is published); an action that fails is recorded as ``failed`` where the
code can still write, so a crash between the two loses at most the one entry.

>>> import tempfile, pathlib
>>> j = pathlib.Path(tempfile.mkdtemp()) / "a.audit.jsonl"
>>> record(j, "ingest", "2025/a.xlsx", parameters={"wave": 2025}, user="analyst")["seq"]
1
>>> record(j, "score", "wave 2025", user="analyst")["seq"]
2
>>> verify(j).ok
True
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
import logging
import os
from collections.abc import Callable
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .exceptions import SupplyChainError

__all__ = [
    "AUDIT_ENV",
    "USER_ENV",
    "GENESIS",
    "Verification",
    "anchor",
    "current_user",
    "digest",
    "frame_digest",
    "journal_path",
    "part_of",
    "record",
    "show",
    "submissions_digest",
    "verify",
]

log = logging.getLogger(__name__)

#: Environment variable naming the journal file (overrides the one beside the database).
AUDIT_ENV = "SUPPLYCHAIN_AUDIT"
#: Environment variable naming the user recorded (a service account's configured name).
USER_ENV = "SUPPLYCHAIN_USER"
#: ``prev`` of the first entry.
GENESIS = "0" * 64
#: The action being recorded whole (a report runs scenarios: they are part of its entry).
_within: ContextVar[str | None] = ContextVar("supplychain_audit_within", default=None)
_FIELDS = ("seq", "at", "user", "action", "target", "parameters", "inputs", "outputs", "prev")


def current_user(config=None) -> str:
    """Who is recorded: ``[audit] user`` of the configuration, else ``$SUPPLYCHAIN_USER``, else
    the operating-system user."""
    from .options import load_options

    configured = load_options(config).audit.get("user") or os.environ.get(USER_ENV)
    if configured:
        return str(configured)
    try:
        return getpass.getuser()
    except Exception:  # no login name (a container without a passwd entry)
        return f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"


def database_path(con) -> str | None:
    """The file of a connection's current database, or None when it is in memory."""
    from .db import run

    found = run(con, "SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
    return found[0] if found and found[0] else None


def journal_path(target, config=None) -> Path | None:
    """The journal of ``target`` — a connection, a database path, or the journal itself
    (``*.jsonl``). ``$SUPPLYCHAIN_AUDIT`` or ``[audit] journal`` override; None for an
    in-memory database without either (nothing to keep it beside)."""
    from .options import load_options

    chosen = os.environ.get(AUDIT_ENV) or load_options(config).audit.get("journal")
    if chosen:
        return Path(chosen)
    if isinstance(target, (str, Path)):
        path = Path(target)
        if path.suffix == ".jsonl":
            return path
    else:
        path = database_path(target)
        if path is None:  # a restricted copy in memory keeps the journal of its source
            from .db import run

            found = run(target, "SELECT value FROM meta WHERE key = 'audit_journal'").fetchone()
            return Path(found[0]) if found and found[0] else None
        path = Path(path)
    return path.with_name(path.stem + ".audit.jsonl")


@contextmanager
def part_of(action: str):
    """Actions run inside this block are parts of ``action`` (recorded by its own entry), not
    entries of their own: a report's scenarios, a score's model fit."""
    token = _within.set(action)
    try:
        yield
    finally:
        _within.reset(token)


def submissions_digest(con, wave: int) -> str:
    """SHA-256 of the survey files in force for ``wave`` (the sorted content hashes of its
    loaded, not superseded, submissions): what an analysis of the wave read."""
    from .db import run

    rows = run(
        con,
        "SELECT sha256 FROM ingest_log WHERE wave = ? AND status IN ('loaded', 'partial') ORDER BY sha256",
        [wave],
    ).fetchall()
    return hashlib.sha256("\n".join(s for (s,) in rows).encode()).hexdigest()


def _canonical(entry: dict) -> bytes:
    return json.dumps(
        {k: entry.get(k) for k in _FIELDS}, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=_default
    ).encode("utf-8")


def _default(x):
    from .risk.registry import _json_default

    return _json_default(x)


def _hash(entry: dict) -> str:
    return hashlib.sha256(_canonical(entry)).hexdigest()


@contextmanager
def _locked(path: Path):
    """The journal open for appending, under an exclusive lock (waits for another writer)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        try:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX)
        except ImportError:  # Windows: appends of one short line are atomic enough
            pass
        yield fd
    finally:
        os.close(fd)


def _last_line(fd) -> bytes | None:
    """The last complete line of the open journal, read backwards block by block (whatever the
    size of the file or of the line)."""
    end = os.lseek(fd, 0, os.SEEK_END)
    if end == 0:
        return None
    blocks: list[bytes] = []
    pos = end
    skip_final_newline = True
    while pos > 0:
        step = min(1 << 16, pos)
        pos -= step
        os.lseek(fd, pos, os.SEEK_SET)
        block = os.read(fd, step)
        if skip_final_newline:
            block = block.rstrip(b"\n")
            skip_final_newline = not block  # a block of newlines only: keep skipping
        cut = block.rfind(b"\n")
        if cut >= 0:
            blocks.append(block[cut + 1 :])
            break
        blocks.append(block)
    return b"".join(reversed(blocks))


def record(
    target,
    action: str,
    subject: str | None = None,
    *,
    parameters: dict | None = None,
    inputs: dict | Callable[[], dict] | None = None,
    outputs: dict | Callable[[], dict] | None = None,
    user: str | None = None,
    config=None,
) -> dict | None:
    """Append one entry to the journal of ``target`` (a connection, a database path or a journal
    path) and return it; None when there is no journal (an in-memory database) or the action
    is part of one being recorded whole (:func:`part_of`). ``inputs`` and ``outputs`` may be
    functions returning the mapping: digests are then computed only when the entry is written."""
    if _within.get() is not None:
        return None
    path = journal_path(target, config)
    if path is None:
        log.debug("no audit journal for an in-memory database: %s not recorded", action)
        return None
    entry = {
        "at": dt.datetime.now().isoformat(timespec="microseconds"),
        "user": user or current_user(config),
        "action": action,
        "target": subject,
        "parameters": parameters or {},
        "inputs": (inputs() if callable(inputs) else inputs) or {},
        "outputs": (outputs() if callable(outputs) else outputs) or {},
    }
    try:
        with _locked(path) as fd:
            last = _last_line(fd)
            if last is None:
                entry["seq"], entry["prev"] = 1, GENESIS
            else:
                try:
                    head = json.loads(last)
                    entry["seq"], entry["prev"] = int(head["seq"]) + 1, str(head["hash"])
                except (ValueError, KeyError, TypeError):
                    raise SupplyChainError(
                        f"audit journal {path} ends with a damaged entry; `supplychain audit verify` says where"
                    ) from None
            entry["hash"] = _hash(entry)
            line = json.dumps(entry, ensure_ascii=False, sort_keys=True, default=_default) + "\n"
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
    except OSError as exc:
        raise SupplyChainError(f"cannot write the audit journal {path}: {exc.strerror or exc}") from exc
    return entry


@dataclass
class Verification:
    """What :func:`verify` found: ``entries`` read, ``problems`` (line, reason), ``head``."""

    path: Path
    entries: int = 0
    head: dict | None = None
    problems: list[tuple[int, str]] = field(default_factory=list)
    anchors: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        if self.ok:
            head = f"; head #{self.head['seq']} {self.head['hash'][:16]}…" if self.head else ""
            anchored = f"; {self.anchors} anchor(s) matched" if self.anchors else ""
            return f"audit journal {self.path}: {self.entries} entries, chain intact{head}{anchored}"
        lines = [f"audit journal {self.path}: {len(self.problems)} problem(s) in {self.entries} entries"]
        lines += [f"  line {n}: {why}" if n else f"  {why}" for n, why in self.problems]
        return "\n".join(lines)


def _read(path: Path) -> list[tuple[int, dict | None, str]]:
    out = []
    with open(path, "rb") as f:
        for n, raw in enumerate(f, start=1):
            text = raw.decode("utf-8", errors="replace").rstrip("\n")
            try:
                entry = json.loads(text)
                out.append((n, entry if isinstance(entry, dict) else None, text))
            except ValueError:
                out.append((n, None, text))
    return out


def verify(target, *, anchors=None, config=None) -> Verification:
    """Check the journal of ``target``: every entry's hash, the chain of ``prev`` and ``seq``,
    and (``anchors``, a file written by :func:`anchor`) that every anchored entry is still there
    unchanged."""
    path = journal_path(target, config)
    if path is None:
        raise SupplyChainError("an in-memory database has no audit journal")
    res = Verification(path)
    if not path.exists():
        if anchors:
            res.problems.append((0, f"the journal is missing but {anchors} anchors entries"))
        return res
    prev, seq, by_seq = GENESIS, 0, {}
    for n, entry, _text in _read(path):
        res.entries += 1
        if entry is None:
            res.problems.append((n, "not a JSON entry (damaged or edited)"))
            continue
        if entry.get("hash") != _hash(entry):
            res.problems.append((n, f"entry #{entry.get('seq')} does not match its hash (edited)"))
        if entry.get("seq") != seq + 1:
            res.problems.append((n, f"entry #{entry.get('seq')} follows #{seq} (an entry deleted, inserted or moved)"))
        if entry.get("prev") != prev:
            res.problems.append((n, f"entry #{entry.get('seq')} does not chain to the entry before it"))
        prev = entry.get("hash")
        seq = entry.get("seq") if isinstance(entry.get("seq"), int) else seq + 1
        by_seq[entry.get("seq")] = entry.get("hash")
        res.head = entry
    if anchors:
        for n, line in enumerate(Path(anchors).read_text("utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                a_seq, a_hash = line.split()[:2]
                a_seq = int(a_seq)
            except ValueError:
                res.problems.append((0, f"{anchors} line {n} is not 'SEQ HASH'"))
                continue
            if by_seq.get(a_seq) != a_hash:
                why = "missing (entries deleted from the end?)" if a_seq not in by_seq else "changed"
                res.problems.append((0, f"anchored entry #{a_seq} ({anchors} line {n}) is {why}"))
            else:
                res.anchors += 1
    return res


def anchor(target, file, *, config=None) -> dict:
    """Append the journal's head (``SEQ HASH AT``) to ``file``, kept apart from the journal, so
    that :func:`verify` can later tell whether entries were deleted from the end. Refuses a
    journal that does not verify."""
    res = verify(target, config=config)
    if not res.ok:
        raise SupplyChainError(f"not anchoring a journal that does not verify:\n{res}")
    if res.head is None:
        raise SupplyChainError(f"audit journal {res.path} is empty: nothing to anchor")
    with open(file, "a", encoding="utf-8") as f:
        f.write(f"{res.head['seq']} {res.head['hash']} {res.head['at']}\n")
    return res.head


def head(target, config=None) -> dict | None:
    """``{"seq", "hash"}`` of the journal's newest entry (None when there is none)."""
    path = journal_path(target, config)
    if path is None or not path.exists():
        return None
    with open(path, "rb") as f:
        last = _last_line(f.fileno())
    try:
        entry = json.loads(last) if last else None
        return {"seq": entry["seq"], "hash": entry["hash"]} if entry else None
    except (ValueError, KeyError, TypeError):
        return None


def show(target, *, action: str | None = None, user: str | None = None, last: int | None = None, config=None) -> pd.DataFrame:
    """The journal as a frame (``seq``, ``at``, ``user``, ``action``, ``target``, ``parameters``,
    ``inputs``, ``outputs``, ``hash``), oldest first; filtered by action and user, the ``last``
    N. Damaged lines are skipped here — :func:`verify` reports them."""
    path = journal_path(target, config)
    cols = ["seq", "at", "user", "action", "target", "parameters", "inputs", "outputs", "hash"]
    if path is None or not path.exists():
        return pd.DataFrame(columns=cols)
    rows = [e for _n, e, _t in _read(path) if e is not None]
    frame = pd.DataFrame([{c: e.get(c) for c in cols} for e in rows], columns=cols)
    if action:
        frame = frame[frame["action"] == action]
    if user:
        frame = frame[frame["user"] == user]
    if last:
        frame = frame.tail(last)
    return frame.reset_index(drop=True)


def digest(path) -> str:
    """SHA-256 of a file (or of a CSV folder's files)."""
    from .survey.read import file_sha256

    return file_sha256(Path(path))


def frame_digest(frame: pd.DataFrame) -> str:
    """SHA-256 of a frame's columns and values in order (the same frame gives the same digest)."""
    h = hashlib.sha256("\0".join(map(str, frame.columns)).encode("utf-8"))
    if len(frame):
        try:
            rows = pd.util.hash_pandas_object(frame, index=False)
        except TypeError:  # unhashable cells (lists): by their text
            rows = pd.util.hash_pandas_object(frame.astype(str), index=False)
        h.update(rows.to_numpy().tobytes())
    return h.hexdigest()
