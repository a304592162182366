"""Loading survey returns into the database: nothing lost, nothing half-loaded.

:func:`ingest` reads, validates, resolves and loads the returns in batches: the returns of a
batch are validated by one set of statements and loaded in one transaction (the fixed cost of a
statement is paid per batch, not per file). A file either loads (its valid rows, or all of them
with ``strict=True``) or leaves the database exactly as it was: if a batch fails, it is rolled
back and its files are loaded one by one. What was refused is kept in ``rejected_row`` and
summarised in ``ingest_log``.

Three things run at once: a helper thread reads the files ahead, a second connection validates
the next batch in another thread, and the caller's connection loads the batch before it.

- The same file loaded twice is a no-op (content hash).
- A corrected file from the same respondent for the same wave replaces that respondent's rows for
  that wave, atomically; the old submission is marked ``superseded`` in ``ingest_log``.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .. import audit
from ..db import literal, register_function, registered, run, temp_table, transaction
from ..exceptions import IngestError, SupplyChainError, SurveyReadError
from .normalize import company_name_keys, normalize_company_name
from .read import MAX_FILE_BYTES, RawWorkbook, file_sha256, read_survey
from .resolve import NameIndex, start_resolving
from .schema import quote_identifier, sheets
from .schema import tables as tables_schema
from .validate import ISSUE_COLUMNS, ValidatedBatch, ValidatedWorkbook, drop_tables, validate_returns

__all__ = ["ingest", "IngestResult", "FileResult", "survey_files"]

log = logging.getLogger(__name__)


@dataclass
class FileResult:
    """What happened to one file.

    ``status`` is ``loaded`` (every row), ``partial`` (some rows refused, the rest loaded),
    ``refused`` (nothing loaded: unreadable, or an error under ``strict``), ``unchanged`` (this
    exact file was loaded before) or ``failed`` (an unexpected error; nothing loaded).
    """

    path: str
    status: str
    wave: int | None = None
    respondent: str | None = None
    submission_id: int | None = None
    rows_loaded: int = 0
    rows_refused: int = 0
    values_dropped: int = 0
    replaced_submission_id: int | None = None
    issues: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=ISSUE_COLUMNS))
    message: str = ""

    @property
    def has_errors(self) -> bool:
        return self.status in ("refused", "failed") or self.rows_refused > 0 or self.values_dropped > 0


@dataclass
class IngestResult:
    """The outcome of :func:`ingest`: one :class:`FileResult` per file, in the order loaded."""

    files: list[FileResult]

    @property
    def loaded(self) -> int:
        """Rows loaded across files."""
        return sum(f.rows_loaded for f in self.files)

    @property
    def rejected(self) -> pd.DataFrame:
        """Every issue of every file (``file`` column first), as stored in ``rejected_row``."""
        frames = [f.issues.assign(file=f.path) for f in self.files if len(f.issues)]
        if not frames:
            return pd.DataFrame(columns=["file", *ISSUE_COLUMNS])
        df = pd.concat(frames, ignore_index=True)
        return df[["file", *ISSUE_COLUMNS]]

    @property
    def ok(self) -> bool:
        """True when no file had any error."""
        return not any(f.has_errors for f in self.files)

    def to_frame(self) -> pd.DataFrame:
        """One row per file."""
        return pd.DataFrame(
            [
                {
                    k: getattr(f, k)
                    for k in (
                        "path",
                        "status",
                        "wave",
                        "respondent",
                        "submission_id",
                        "rows_loaded",
                        "rows_refused",
                        "values_dropped",
                        "replaced_submission_id",
                        "message",
                    )
                }
                for f in self.files
            ]
        )

    def __repr__(self) -> str:
        counts = pd.Series([f.status for f in self.files]).value_counts().to_dict() if self.files else {}
        return f"IngestResult(files={len(self.files)}, {counts}, rows_loaded={self.loaded}, issues={len(self.rejected)})"


def survey_files(paths) -> list[Path]:
    """Expand paths into survey returns: ``.xlsx`` files and CSV folders, recursively, sorted.

    A folder is itself a return when it holds a ``respondent`` CSV; otherwise its contents are
    searched. Excel lock files (``~$…``) and hidden files are skipped.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir() and not _is_csv_return(p):
            children = sorted(c for c in p.iterdir() if not c.name.startswith((".", "~$")))
            out += survey_files([c for c in children if c.is_dir() or c.suffix.lower() in (".xlsx", ".xlsm")])
        else:
            out.append(p)
    return out


def _is_csv_return(p: Path) -> bool:
    from .read import _sheet_lookup, header_key

    lookup = _sheet_lookup()
    return any(lookup.get(header_key(c.stem)) == "respondent" for c in p.iterdir() if c.suffix.lower() == ".csv")


#: Returns are validated and loaded together in batches of about this many rows: the cost of a
#: statement is paid once per batch, not once per file. Memory grows with it (a few hundred MB at
#: the default).
BATCH_ROWS = 1_000_000


@dataclass
class _Member:
    """A return of a batch that passed validation, about to be loaded."""

    position: int  # in the list of files being ingested
    path: Path
    v: ValidatedWorkbook
    respondent_key: str
    wave: int


def ingest(
    con,
    paths,
    *,
    wave: int | None = None,
    strict: bool = False,
    progress: bool = False,
    batch_rows: int = BATCH_ROWS,
) -> IngestResult:
    """Load survey returns into the database.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        From :func:`supplychain.connect`.
    paths : str, Path or list of them
        Workbooks (``.xlsx``), CSV folders, or folders holding them (searched recursively).
    wave : int, optional
        The wave the files must belong to; a file saying otherwise is refused.
    strict : bool
        Refuse a whole file on any problem instead of loading its valid rows.
    progress : bool
        Show a progress bar (the CLI sets it).
    batch_rows : int
        Returns are validated together and loaded in one transaction per batch of about this
        many rows (a batch never holds two returns of one respondent and wave, nor two waves).
        While one batch is loaded, the next is validated on a second connection (from the
        third batch on, the next :data:`BATCHES_AHEAD`, one after the other).
        If loading a batch fails, it is rolled back and its returns are loaded one by one, each
        in its own transaction, so a bad file never takes the others down with it. ``1`` loads
        file by file.

    Returns
    -------
    IngestResult

    Examples
    --------
    >>> import supplychain as sc
    >>> con = sc.connect()
    >>> res = sc.ingest(con, "data/sample/2022")          # doctest: +SKIP
    """
    files = survey_files(paths)
    if not files:
        raise IngestError(f"no survey files (.xlsx or CSV folders) found in {paths}")
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(files), desc="ingest", unit="file")
    results: list[FileResult | None] = [None] * len(files)
    pending: list[tuple[int, Path, str | None, object]] = []
    pending_rows = 0

    unchanged: list[int] = []
    # Batches go through two stages: validation, on a second connection in a helper thread, and
    # loading, here. While batch k loads, batch k + 1 is validated, and from k = 3 on batches up to
    # k + BATCHES_AHEAD (DuckDB works without holding Python's lock, so the statements of one
    # overlap the Python of the other).
    inflight: deque[tuple[list, list[int], Future | None]] = deque()
    submitted = 0  # batches sent to validation so far
    loaded = 0  # batches taken off the queue to load

    def submit() -> None:
        nonlocal pending_rows, submitted
        if pending or unchanged:
            raws = [item[3] for item in pending if isinstance(item[3], RawWorkbook)]
            future = validator.submit(_validate_batch, vcon, raws, f"b{submitted}") if raws else None
            inflight.append((list(pending), list(unchanged), future))
            submitted += 1
        pending.clear()
        unchanged.clear()
        pending_rows = 0

    def finish_oldest() -> None:
        nonlocal loaded
        items, same, future = inflight.popleft()
        loaded += 1
        if items:
            _ingest_batch(con, items, results, future, wave=wave, strict=strict, resolver=resolver)
            if bar is not None:
                bar.update(len(items))
        # committed: one audit entry for the batch
        done = sorted([i for i, *_ in items] + same)
        audit.record(
            con,
            "ingest",
            f"{len(done)} file(s)",
            parameters={"wave": wave, "strict": strict},
            inputs={str(files[i]): shas[i] for i in done if isinstance(shas[i], str)},
            outputs={
                str(files[i]): {
                    "status": results[i].status,
                    "wave": results[i].wave,
                    "submission_id": results[i].submission_id,
                    "rows_loaded": results[i].rows_loaded,
                    "rows_refused": results[i].rows_refused,
                }
                for i in done
            },
        )

    def flush(*, drain: bool = False) -> None:
        """Send the pending returns to validation; load the batches validated before (all with ``drain``)."""
        submit()
        while len(inflight) > (0 if drain else 1 if loaded < 2 else BATCHES_AHEAD):
            finish_oldest()

    # Each file is hashed by the reader thread, which parses it only if no earlier submission had
    # the same contents: nothing is hashed twice, and the first batch starts reading at once.
    waiting = _ReadAhead(_earlier_submissions(con))
    shas: list[str | None] = [None] * len(files)
    to_read = deque(range(len(files)))
    reads: dict[int, Future] = {}
    seen: set[str] = set()
    with ExitStack() as stack:
        pool = stack.enter_context(ThreadPoolExecutor(max_workers=1, thread_name_prefix="sc-read"))
        stack.enter_context(_ingest_settings(con))
        vcon = stack.enter_context(closing(_helper_connection(con)))
        validator = stack.enter_context(ThreadPoolExecutor(max_workers=1, thread_name_prefix="sc-validate"))
        # the names of the companies seen, for the similar-name search of every batch, and its thread
        resolver = _Resolver(NameIndex(), stack.enter_context(ThreadPoolExecutor(max_workers=1, thread_name_prefix="sc-names")))

        def read_ahead() -> None:
            # enough to keep the reader busy while a batch loads and the next is validated,
            # without holding more than about one more batch of rows in memory
            while to_read and len(reads) < READ_AHEAD and waiting.rows < batch_rows:
                j = to_read.popleft()
                reads[j] = pool.submit(waiting.read, files[j])

        read_ahead()
        for i, path in enumerate(files):
            future = reads.pop(i, None)
            if future is None:  # the read-ahead count was full a moment ago (a file of a batch's size): read it now
                to_read.remove(i)
                future = pool.submit(waiting.read, path)
            # its rows leave the read-ahead count (now, or when read)
            future.add_done_callback(lambda f: f.exception() is None and waiting.consumed(f.result().raw))
            read_ahead()
            read = future.result()
            sha = shas[i] = read.sha256
            if sha is None:  # not even hashed: unreadable, too large, or gone
                pending.append((i, path, None, read.error))
                continue
            if sha in seen:
                flush(drain=True)  # the same content twice in one call: the second copy is "unchanged" if the first loaded
                found = _earlier_submissions(con, [sha]).get(sha)
            else:
                found = waiting.known.get(sha)
            seen.add(sha)
            if found:
                sid, found_wave, respondent, status, superseded_by = found
                why = f"identical to submission {sid}"
                if status == "superseded":
                    why += f", which submission {superseded_by} replaced"
                results[i] = FileResult(
                    str(path),
                    "unchanged",
                    wave=found_wave,
                    respondent=respondent,
                    submission_id=sid,
                    message=f"{why}; nothing to do",
                )
                unchanged.append(i)
                if bar is not None:
                    bar.update(1)
                continue
            if read.error is not None:
                pending.append((i, path, sha, read.error))
                continue
            pending.append((i, path, sha, read.raw))
            pending_rows += _n_rows(read.raw)
            # Every batch is full size, the first too: DuckDB writes a table's rows straight into
            # the database file, compressed, only when a transaction appends a whole row group
            # (122,880 rows) or more; smaller appends go to the log at commit and are compressed
            # by the checkpoint. Smaller first batches (a quarter and a half) started loading
            # 6 s earlier, but cost more than that (national: 90 MB of log, 4 s of checkpoint).
            if pending_rows >= batch_rows:
                flush()
        flush(drain=True)
    if bar is not None:
        bar.close()
    for r in results:
        log.info("%s: %s (%d rows loaded, %d refused)", r.path, r.status, r.rows_loaded, r.rows_refused)
    return IngestResult(results)


#: At most this many files are read ahead of the one being processed (their text tables wait in
#: memory, at most about one batch of rows).
READ_AHEAD = 512

#: Batches validated ahead of the one loading, from the third batch on (the first two go one
#: ahead). With one, the reader and the validation thread had nothing to do while the loading
#: thread waited for the similar-name search at the end of a batch (20-28 s at economy scale),
#: and a core stood idle: two took the economy ingest from 336-339 s to 307-323 s (5 runs), for
#: about half a gigabyte more memory. Two ahead from the first batch on put the national ingest
#: (three batches) at 2.2-2.3 GB, over its 2 GB target; one ahead for the first two keeps it
#: where it was.
BATCHES_AHEAD = 2


@dataclass
class _Read:
    """What the reader thread made of one file: its hash, and its sheets unless a submission with
    the same contents was loaded before (then ``raw`` is None), or why it could not be read."""

    sha256: str | None
    raw: RawWorkbook | None = None
    error: SurveyReadError | None = None


class _ReadAhead:
    """Reads files in the reader thread, and counts the rows read ahead and not yet taken (the
    reader thread adds, the loader subtracts). ``known``: sha256 -> earlier submission
    (:func:`_earlier_submissions`), whose files are hashed and not parsed."""

    def __init__(self, known: dict[str, tuple]):
        self.known = known
        self.rows = 0
        self._lock = threading.Lock()

    def read(self, path: Path) -> _Read:
        try:
            # a file over the size limit is refused before it is hashed (reading it would take long)
            sha = file_sha256(path, limit=MAX_FILE_BYTES) if path.exists() else None
        except OSError as exc:
            return _Read(None, error=SurveyReadError(path, f"cannot read: {exc}"))
        except SurveyReadError as exc:
            exc.__traceback__ = None  # kept for the report: no frames held with it
            return _Read(None, error=exc)
        if sha is not None and sha in self.known:
            return _Read(sha)
        try:
            raw = read_survey(path, sha256=sha)
        except SurveyReadError as exc:
            exc.__traceback__ = None
            return _Read(sha, error=exc)
        with self._lock:
            self.rows += _n_rows(raw)
        return _Read(sha, raw)

    def consumed(self, raw: RawWorkbook | None) -> None:
        if raw is not None:
            with self._lock:
                self.rows -= _n_rows(raw)


def _n_rows(raw: RawWorkbook) -> int:
    return sum(rs.n_rows for rs in raw.sheets.values())


#: During an ingest, DuckDB writes its log into the database file only when the log passes this
#: size (default 16 MB: after every batch), and once at the end. The log holds rows uncompressed.
CHECKPOINT_EVERY = "1GB"


#: The optimizer that puts the smaller side of a join on its build side guesses wrong on the
#: validator's reference joins (a wide sheet and the narrow keys of another, of similar row
#: counts) and builds hash tables of every column of the sheet: off during an ingest, the
#: validation takes about a third less time (benchmarks/ingest.py).
INGEST_DISABLED_OPTIMIZERS = ("build_side_probe_side",)


def ingest_threads(current: int, cores: int | None) -> int:
    """DuckDB threads during an ingest: half the cores (at least one), never more than ``current``.

    The ingest runs two streams of statements at once (a batch loads while the next is
    validated), each on its own calling thread; more threads per statement oversubscribe the
    cores. On 2 cores, one thread per statement took the national ingest from 35 s to 32 s
    of wall time and 61 s to 52 s of CPU (benchmarks/ingest.py).

    >>> ingest_threads(2, 2), ingest_threads(8, 8), ingest_threads(2, 16), ingest_threads(4, None)
    (1, 4, 2, 1)
    """
    return max(1, min(current, (cores or 2) // 2))


@contextmanager
def _ingest_settings(con):
    """Database settings for the length of an ingest, then the user's again, and a checkpoint.

    The database file is written rarely during an ingest (every :data:`CHECKPOINT_EVERY` of
    log) and once at the end, instead of after every batch; committed batches are safe in the
    write-ahead log meanwhile. The optimizers of :data:`INGEST_DISABLED_OPTIMIZERS` are off,
    and statements use :func:`ingest_threads` threads (all of them again for the checkpoint).
    These are global settings in DuckDB: other connections to the same database see them meanwhile."""
    old = dict(
        run(
            con,
            "SELECT name, value FROM duckdb_settings() WHERE name IN ('checkpoint_threshold', 'disabled_optimizers', 'threads')",
        ).fetchall()
    )
    disabled = [x for x in (old.get("disabled_optimizers") or "").split(",") if x.strip()]
    try:
        run(con, f"SET checkpoint_threshold = {literal(CHECKPOINT_EVERY)}")
        run(con, f"SET disabled_optimizers = {literal(','.join(dict.fromkeys([*disabled, *INGEST_DISABLED_OPTIMIZERS])))}")
        run(con, f"SET threads = {ingest_threads(int(old['threads']), os.cpu_count())}")
        yield
    finally:
        run(con, f"SET threads = {int(old['threads'])}")
        run(con, f"SET checkpoint_threshold = {literal(old['checkpoint_threshold'])}")
        run(con, f"SET disabled_optimizers = {literal(','.join(disabled))}")
        try:
            run(con, "CHECKPOINT")
        except SupplyChainError:  # e.g. another connection holds a transaction; DuckDB will checkpoint later
            log.warning("checkpoint after ingest failed", exc_info=True)


def _respondent_key(resp: dict) -> str:
    return resp.get("respondent_corporate_number") or normalize_company_name(resp["respondent_name"])


@dataclass
class _Resolver:
    """What entity resolution keeps between the batches of one ingest: the index of the names
    seen, and the thread its similar-name search runs on."""

    names: NameIndex
    executor: ThreadPoolExecutor


def _helper_connection(con):
    """A second connection to the database of ``con`` (same catalog), for validation in a thread."""
    helper = con.cursor()
    try:
        catalog = run(con, "SELECT current_database()").fetchone()[0]
        helper.execute(f"USE {quote_identifier(catalog)}")
    except BaseException:
        helper.close()
        raise
    return helper


def _validate_batch(vcon, raws: list[RawWorkbook], token: str) -> tuple[ValidatedBatch, dict]:
    """Validate ``raws`` on the helper connection; the accepted rows leave it as Arrow tables
    (temporary tables belong to one connection) for :func:`_ingest_batch` to load."""
    batch = validate_returns(vcon, raws, token=token)
    try:
        accepted = {table: run(vcon, f"SELECT * FROM {table}").arrow() for table in batch.tables.values()}
    finally:
        drop_tables(vcon, batch)
    if "companies" in batch.tables:  # the name keys for entity resolution, here rather than in the loading thread
        table = batch.tables["companies"]
        accepted[table] = accepted[table].append_column("_name_key", company_name_keys(accepted[table].column("name")))
    for raw in raws:  # the text of the cells is not needed any more (the counts are in the batch)
        for sheet in raw.sheets.values():
            sheet.table = sheet.table.slice(0, 0)
    return batch, accepted


def _ingest_batch(
    con, pending, results, validation: Future | None, *, wave: int | None, strict: bool, resolver: _Resolver
) -> None:
    """Load the returns of ``pending``, validated together by ``validation`` (a future of
    :func:`_validate_batch`), in order, in groups of one wave with no respondent twice;
    refusals are recorded in file order between the groups."""
    batch, accepted = validation.result() if validation is not None else (None, {})
    validated = iter(batch.files) if batch else iter(())
    with ExitStack() as views:
        for table, rows in accepted.items():  # the accepted rows, under the names the loader reads
            views.enter_context(registered(con, table, rows))
        _load_batch(con, pending, results, validated, wave=wave, strict=strict, resolver=resolver)


def _load_batch(con, pending, results, validated, *, wave: int | None, strict: bool, resolver: _Resolver) -> None:
    """The loading half of :func:`_ingest_batch`: ``validated`` yields the validated returns in order."""
    group: list[_Member] = []

    def load_group() -> None:
        if group:
            for m, r in zip(group, _load_safely(con, group, resolver)):
                results[m.position] = r
            group.clear()

    for position, path, sha, item in pending:
        if isinstance(item, SurveyReadError):
            load_group()
            results[position] = _refuse(con, path, sha, None, None, _file_issue(item.reason, item.sheet, item.column), str(item))
            continue
        v = next(validated)
        resp = v.respondent
        file_wave = int(resp["wave"]) if resp.get("wave") is not None else None
        errors = list(v.file_errors)
        if wave is not None and file_wave is not None and file_wave != wave:
            errors.append(f"the respondent sheet says wave {file_wave}, but wave {wave} is being loaded")
        problems = int((v.issues["action"] != "warning").sum())
        if strict and problems and not errors:
            errors.append(f"strict mode: {problems} problem(s) in the file, so none of it is loaded")
        if errors:
            load_group()
            refusal = pd.concat([*(_file_issue(e) for e in errors), v.issues.assign(action="file_refused")], ignore_index=True)
            results[position] = _refuse(
                con, path, v.raw.sha256, file_wave, resp.get("respondent_name"), refusal, "; ".join(errors), fmt=v.raw.format
            )
            continue
        member = _Member(position, path, v, _respondent_key(resp), file_wave)
        if group and (file_wave != group[0].wave or member.respondent_key in {m.respondent_key for m in group}):
            load_group()  # a replacement must see the submission it replaces
        group.append(member)
    load_group()


def _load_safely(con, group: list[_Member], resolver: _Resolver) -> list[FileResult]:
    """Load a group in one transaction; if that fails, each file alone, so one bad file fails alone."""
    try:
        return _load(con, group, resolver)
    except Exception as exc:  # rolled back by _load's transaction
        resolver.names = NameIndex()  # what it learnt of this group may not be in the database
        if len(group) > 1:
            log.warning("loading %d files together failed (%s); loading them one by one", len(group), exc)
            return [r for m in group for r in _load_safely(con, [m], resolver)]
        m = group[0]
        log.exception("loading %s failed; the database is unchanged", m.path)
        return [
            FileResult(
                str(m.path),
                "failed",
                wave=m.wave,
                respondent=m.v.respondent.get("respondent_name"),
                issues=m.v.issues,
                message=f"{type(exc).__name__}: {exc} (nothing from this file was loaded)",
            )
        ]


def _earlier_submissions(con, shas: list[str] | None = None) -> dict[str, tuple]:
    """Submissions with exactly these contents (every submission without ``shas``) that were
    loaded, or loaded and later replaced: sha256 -> (submission_id, wave, respondent_name,
    status, superseded_by), the latest of each."""
    where = "" if shas is None else "AND l.sha256 IN (SELECT sha256 FROM _sc_shas)"
    with registered(con, "_sc_shas", pd.DataFrame({"sha256": list(dict.fromkeys(shas or []))}, dtype=object)):
        rows = run(
            con,
            f"""SELECT l.sha256, l.submission_id, l.wave, l.respondent_name, l.status, l.superseded_by
               FROM ingest_log l WHERE l.status IN ('loaded', 'partial', 'superseded') {where}
               QUALIFY row_number() OVER (PARTITION BY l.sha256 ORDER BY l.submission_id DESC) = 1""",
        ).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


def _file_issue(reason: str, sheet=None, column=None) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "sheet": sheet,
                "source": sheet,
                "row": None,
                "column": column,
                "value": None,
                "reason": reason,
                "action": "file_refused",
            }
        ],
        columns=ISSUE_COLUMNS,
    )


def _refuse(con, path, sha, wave, respondent, issues: pd.DataFrame, message: str, fmt=None) -> FileResult:
    """Record a refused file: an ingest_log row and its issues, nothing else."""
    with transaction(con):
        sid = _next_submission_id(con)
        fmt = fmt or ("csv" if Path(path).is_dir() else Path(path).suffix.lower().lstrip(".") or "unknown")
        run(
            con,
            """INSERT INTO ingest_log (submission_id, wave, respondent_name, file_path, file_name, sha256, format,
                    status, rows_loaded, rows_rejected, values_dropped, message, loaded_at, loaded_by)
                    VALUES (?, ?, ?, ?, ?, ?, ?, 'refused', 0, ?, 0, ?, now(), ?)""",
            [
                sid,
                wave,
                respondent,
                str(path),
                Path(path).name,
                sha or "",
                fmt,
                int(issues["row"].nunique()),
                message,
                audit.current_user(),
            ],
        )
        _write_issues(con, sid, wave, path, issues)
    return FileResult(
        str(path),
        "refused",
        wave=wave,
        respondent=respondent,
        submission_id=sid,
        rows_refused=int(issues["row"].nunique()),
        issues=issues,
        message=message,
    )


def _next_submission_id(con) -> int:
    return run(con, "SELECT coalesce(max(submission_id), 0) + 1 FROM ingest_log").fetchone()[0]


def _write_issues(con, sid, wave, path, issues: pd.DataFrame) -> None:
    _write_all_issues(con, [(sid, wave, path, issues)])


def _write_all_issues(con, per_file: list[tuple[int, int | None, Path, pd.DataFrame]]) -> None:
    """Store issues in ``rejected_row``: (submission id, wave, file, issues) per file."""
    frames = [
        issues.assign(submission_id=sid, wave=wave, file_path=str(path)) for sid, wave, path, issues in per_file if len(issues)
    ]
    if not frames:
        return
    frame = pd.concat(frames, ignore_index=True)
    frame["row"] = frame["row"].astype("Int64")
    frame["wave"] = frame["wave"].astype("Int64")
    frame["value"] = frame["value"].astype(object).where(frame["value"].notna(), None).map(lambda x: x if x is None else str(x))
    frame = frame[["submission_id", "wave", "file_path", "source", "row", "column", "value", "reason", "action"]]
    with registered(con, "_sc_issues", frame):
        run(
            con,
            'INSERT INTO rejected_row SELECT submission_id, wave, file_path, source, row, "column", value::VARCHAR,'
            " reason, action, now() FROM _sc_issues",
        )


def _on(alias: str, column: str) -> str:
    """Join condition of the company map ``alias`` to the sheet's ``column`` (same return).

    One key of return and reference, not two equalities: with ``m._file = s._file`` in two map
    joins of one query, DuckDB 1.5 infers ``mb._file = ms._file`` and joins the two map copies on
    it first — every return's companies times themselves, tens of gigabytes at national scale."""
    return f"{alias}._key = s._file::VARCHAR || chr(31) || s.{column}"


#: How each fact sheet lands in its table: target table, and SELECT expressions over the
#: accepted rows ``s``, with ``m``, ``m2``, ``mb``, ``ms`` joins to the company map ``_sc_map``
#: (return, company_ref -> company_id). Other columns are taken by name from the sheet; a table
#: column with neither a mapping nor a sheet column of that name raises, so schema and loader agree.
_FACTS = {
    "supply": (
        "supply",
        {
            "program_id": "s.program",
            "buyer_id": "mb.company_id",
            "supplier_id": "ms.company_id",
            "part_id": "s._part_key",
            "site_id": "CASE WHEN s.site_ref IS NOT NULL THEN ms.company_id || '/' || s.site_ref END",
        },
        f"JOIN _sc_map mb ON {_on('mb', 'buyer_ref')} JOIN _sc_map ms ON {_on('ms', 'supplier_ref')}",
    ),
    "material_origin": (
        "material_origin",
        {"supplier_id": "m.company_id", "part_id": "s._part_key"},
        f"JOIN _sc_map m ON {_on('m', 'supplier_ref')}",
    ),
    "status": ("company_status", {"company_id": "m.company_id"}, f"JOIN _sc_map m ON {_on('m', 'company_ref')}"),
    "cyber": ("cyber_assessment", {"company_id": "m.company_id"}, f"JOIN _sc_map m ON {_on('m', 'company_ref')}"),
    "sites": (
        "site",
        {"company_id": "m.company_id", "site_id": "m.company_id || '/' || s.site_ref"},
        f"JOIN _sc_map m ON {_on('m', 'company_ref')}",
    ),
    "ownership": (
        "ownership",
        {"company_id": "m.company_id", "owner_name_normalized": "sc_company_key(s.owner_name)"},
        f"JOIN _sc_map m ON {_on('m', 'company_ref')}",
    ),
    "withdrawal_events": (
        "withdrawal_event",
        {
            "company_id": "m.company_id",
            "program_id": "s.program",
            "part_id": "s._part_key",
            "successor_id": "m2.company_id",
        },
        f"JOIN _sc_map m ON {_on('m', 'company_ref')} LEFT JOIN _sc_map m2 ON {_on('m2', 'successor_ref')}",
    ),
}

_LOG_COLUMNS = [
    "submission_id",
    "wave",
    "respondent_key",
    "respondent_name",
    "file_path",
    "file_name",
    "sha256",
    "format",
    "status",
    "rows_loaded",
    "rows_rejected",
    "values_dropped",
    "replaces_submission_id",
    "extra_columns",
    "message",
    "loaded_by",
]


def _load(con, group: list[_Member], resolver: _Resolver) -> list[FileResult]:
    """Load the accepted rows of ``group`` (returns of one wave, one per respondent) in one transaction."""
    wave = group[0].wave
    tables = group[0].v.tables
    ids = ", ".join(str(m.v.index) for m in group)
    present = {name for m in group for name in m.v.raw.sheets}

    def rows(sheet: str) -> str:
        return f"(SELECT * FROM {tables[sheet]} WHERE _file IN ({ids}))"

    # the mentions of companies in file and row order (``_m`` orders them; no sort needed)
    companies = f"(SELECT *, CAST(_file AS BIGINT) * 4294967296 + _row AS _m FROM {rows('companies')})"
    _register_company_key(con)
    with transaction(con):
        first_sid = _next_submission_id(con)
        members = pd.DataFrame(
            {
                "_file": [m.v.index for m in group],
                "submission_id": range(first_sid, first_sid + len(group)),
                "respondent_key": [m.respondent_key for m in group],
                "respondent_cn": [m.v.respondent.get("respondent_corporate_number") for m in group],
                "respondent_name_normalized": [normalize_company_name(m.v.respondent["respondent_name"]) for m in group],
            }
        ).astype({"respondent_cn": object})
        sources = pd.DataFrame(
            [(m.v.index, name, rs.source, first_sid + k) for k, m in enumerate(group) for name, rs in m.v.raw.sheets.items()],
            columns=["_file", "sheet", "source", "submission_id"],
        )
        with registered(con, "_sc_members_df", members):
            # typed: a batch where no respondent gave a corporate number must still hold text
            run(
                con,
                """CREATE OR REPLACE TEMP TABLE _sc_members AS
                   SELECT * REPLACE (CAST(respondent_cn AS VARCHAR) AS respondent_cn) FROM _sc_members_df""",
            )
        temp_table(con, "_sc_sources", sources)
        previous = dict(
            run(
                con,
                """SELECT m._file, l.submission_id FROM _sc_members m JOIN ingest_log l
                   ON l.respondent_key = m.respondent_key AND l.wave = ? AND l.status IN ('loaded', 'partial')""",
                [wave],
            ).fetchall()
        )
        sid_of = dict(zip(members["_file"], members["submission_id"]))
        if previous:
            old = ", ".join(str(int(x)) for x in previous.values())
            for t in tables_schema().values():
                if t.kind == "fact":
                    run(con, f'DELETE FROM "{t.name}" WHERE submission_id IN ({old})')
            for f, old_sid in previous.items():
                run(
                    con,
                    "UPDATE ingest_log SET status = 'superseded', superseded_by = ? WHERE submission_id = ?",
                    [int(sid_of[f]), old_sid],
                )
        run(
            con,
            "INSERT INTO survey_wave SELECT ?, ?, make_date(?, 4, 1), NULL WHERE NOT EXISTS"
            " (SELECT 1 FROM survey_wave WHERE wave = ?)",
            [wave, wave, wave, wave],
        )

        # the similar-name search runs in its own thread while the facts are inserted
        resolved, reviews = start_resolving(con, companies, wave=wave, names=resolver.names, executor=resolver.executor)
        try:
            # one row per return and company_ref: validation refuses a second row with the same ref
            run(
                con,
                f"""CREATE OR REPLACE TEMP TABLE _sc_map AS
                    SELECT _file, company_ref, company_id, _file::VARCHAR || chr(31) || company_ref AS _key
                    FROM {resolved}""",
            )
            run(
                con,
                f"""INSERT INTO company_report
                SELECT r.company_ref, r.company_id, r.match_method, r.match_score, r.corporate_number, r.name, r.name_kana,
                       r.name_en, r.country, r.prefecture_code, r.employees, r.is_sme, r.parent_ref, r.is_prime,
                       ?, g.submission_id, g.source, r._row
                FROM {resolved} r JOIN _sc_sources g ON g._file = r._file AND g.sheet = 'companies'
                ORDER BY r._file, r._row""",
                [wave],
            )
            run(con, f"DROP TABLE {resolved}")
            _set_parents(con, rows("companies"))
            if "programs" in present:
                _upsert_programs(con, rows("programs"), wave)
            _upsert_parts(
                con, {name: rows(name) for name in ("supply", "material_origin", "withdrawal_events") if name in present}
            )
            for sheet_name, (table, exprs, joins) in _FACTS.items():
                if sheet_name in present:
                    _insert_fact(con, rows(sheet_name), sheet_name, table, exprs, joins, wave)
            respondent_ids = dict(
                run(
                    con,
                    """SELECT g._file, c.company_id FROM _sc_members g JOIN _sc_map m ON m._file = g._file
                       JOIN company c ON c.company_id = m.company_id
                       WHERE c.corporate_number = g.respondent_cn OR c.name_normalized = g.respondent_name_normalized
                       QUALIFY row_number() OVER (PARTITION BY g._file
                                                  ORDER BY (c.corporate_number = g.respondent_cn) DESC NULLS LAST, c.company_id) = 1""",
                ).fetchall()
            )
            out, log_rows = [], []
            user = audit.current_user()  # reads the configuration: once, not per file
            for m in group:
                v, sid = m.v, int(sid_of[m.v.index])
                replaced = previous.get(v.index)
                status = "partial" if v.n_refused else "loaded"
                rows_loaded = sum(v.rows_read[s] - v.rows_refused[s] for s in v.rows_read if s != "respondent")
                message = (
                    f"{rows_loaded} rows loaded"
                    + (f", {v.n_refused} refused" if v.n_refused else "")
                    + (f", {v.n_dropped} values dropped" if v.n_dropped else "")
                    + (f", {v.n_warnings} warnings" if v.n_warnings else "")
                    + (f"; replaces submission {replaced}" if replaced else "")
                )
                log_rows.append(
                    (
                        sid,
                        wave,
                        m.respondent_key,
                        v.respondent["respondent_name"],
                        str(m.path),
                        m.path.name,
                        v.raw.sha256,
                        v.raw.format,
                        status,
                        rows_loaded,
                        v.n_refused,
                        v.n_dropped,
                        replaced,
                        ", ".join(v.raw.extra_columns) or None,
                        message,
                        user,
                    )
                )
                out.append(
                    FileResult(
                        str(m.path),
                        status,
                        wave=wave,
                        respondent=v.respondent["respondent_name"],
                        submission_id=sid,
                        rows_loaded=rows_loaded,
                        rows_refused=v.n_refused,
                        values_dropped=v.n_dropped,
                        replaced_submission_id=replaced,
                        issues=v.issues,
                        message=message,
                    )
                )
            log_frame = pd.DataFrame(log_rows, columns=_LOG_COLUMNS).astype({"replaces_submission_id": "Int64"})
            log_frame["respondent_id"] = [respondent_ids.get(m.v.index) for m in group]
            with registered(con, "_sc_log", log_frame):
                run(
                    con,
                    f"""INSERT INTO ingest_log ({", ".join(_LOG_COLUMNS)}, respondent_id, loaded_at)
                    SELECT {", ".join(_LOG_COLUMNS)}, respondent_id::VARCHAR, now() FROM _sc_log ORDER BY submission_id""",
                )
            _write_all_issues(con, [(r.submission_id, wave, m.path, m.v.issues) for m, r in zip(group, out)])
            # last: the similar-name search has had every statement of the group to overlap
            reviews.queue(con)
        except BaseException:
            reviews.wait()  # the name index is never used by two threads at once
            raise
        for t in ("_sc_map", "_sc_members", "_sc_sources"):
            run(con, f"DROP TABLE IF EXISTS {t}")
    return out


def _register_company_key(con) -> None:
    import duckdb

    register_function(con, "sc_company_key", normalize_company_name, [duckdb.sqltype("VARCHAR")], duckdb.sqltype("VARCHAR"))


def _set_parents(con, companies: str) -> None:
    """Parent companies as reported (``companies.parent_ref``); of several reports, the last file's.

    Only the rows that name a parent are joined (see :func:`_on` for the join key)."""
    run(
        con,
        f"""UPDATE company SET parent_company_id = n.parent_id
        FROM (WITH named AS MATERIALIZED (
                  SELECT s._file, s.parent_ref, c.company_id
                  FROM {companies} s JOIN _sc_map c ON {_on("c", "company_ref")}
                  WHERE s.parent_ref IS NOT NULL)
              SELECT s.company_id, arg_max(p.company_id, s._file) AS parent_id
              FROM named s JOIN _sc_map p ON {_on("p", "parent_ref")}
              WHERE p.company_id <> s.company_id GROUP BY 1) n
        WHERE company.company_id = n.company_id""",
    )


def _upsert_programs(con, programs: str, wave: int) -> None:
    # of several reports in one batch, the first file's value of each field that is filled
    src = f"""SELECT s.program AS program_id,
                     arg_min(s.name, s._file) FILTER (WHERE s.name IS NOT NULL) AS name,
                     arg_min(s.category, s._file) FILTER (WHERE s.category IS NOT NULL) AS category,
                     arg_min(m.company_id, s._file) AS prime_company_id,
                     arg_min(s.annual_value_jpy, s._file) FILTER (WHERE s.annual_value_jpy IS NOT NULL) AS annual_value_jpy,
                     arg_min(s.compartment, s._file) FILTER (WHERE s.compartment IS NOT NULL) AS compartment
              FROM {programs} s JOIN _sc_map m ON {_on("m", "prime_ref")} GROUP BY 1"""
    run(
        con,
        f"""INSERT INTO program SELECT *, ?, ? FROM ({src}) n
                 WHERE NOT EXISTS (SELECT 1 FROM program p WHERE p.program_id = n.program_id)""",
        [wave, wave],
    )
    # the latest wave's report wins; within a wave the first report stays unless it left a field empty
    run(
        con,
        f"""UPDATE program SET
            name = CASE WHEN ? > program.last_wave THEN coalesce(n.name, program.name) ELSE coalesce(program.name, n.name) END,
            category = CASE WHEN ? > program.last_wave THEN coalesce(n.category, program.category) ELSE coalesce(program.category, n.category) END,
            prime_company_id = CASE WHEN ? > program.last_wave THEN n.prime_company_id ELSE program.prime_company_id END,
            annual_value_jpy = CASE WHEN ? > program.last_wave THEN coalesce(n.annual_value_jpy, program.annual_value_jpy) ELSE coalesce(program.annual_value_jpy, n.annual_value_jpy) END,
            compartment = coalesce(program.compartment, n.compartment),
            first_wave = least(program.first_wave, ?), last_wave = greatest(program.last_wave, ?)
        FROM ({src}) n WHERE program.program_id = n.program_id""",
        [wave] * 6,
    )


def _upsert_parts(con, sources: dict[str, str]) -> None:
    """Parts named in the supply, material-origin and withdrawal sheets (``sources``: sheet -> rows)."""
    parts = []
    if "supply" in sources:
        parts.append(f"SELECT part, _part_key, part_type, hs_code, _file, _row, 0 AS _s FROM {sources['supply']}")
    for sheet_name in ("material_origin", "withdrawal_events"):
        if sheet_name in sources:
            parts.append(
                f"SELECT part, _part_key, NULL AS part_type, NULL AS hs_code, _file, _row, 1 AS _s FROM {sources[sheet_name]}"
                " WHERE part IS NOT NULL"
            )
    if not parts:
        return
    src = f"""SELECT _part_key AS part_id, first(part ORDER BY _file, _s, _row) AS name,
                     first(part_type ORDER BY part_type IS NULL, _file, _s, _row) AS part_type,
                     first(hs_code ORDER BY hs_code IS NULL, _file, _s, _row) AS hs_code
              FROM ({" UNION ALL ".join(parts)}) GROUP BY 1"""
    run(con, f"CREATE OR REPLACE TEMP TABLE _sc_parts AS {src}")
    run(
        con,
        """INSERT INTO part SELECT part_id, name, part_type, hs_code, NULL, NULL FROM _sc_parts n
                 WHERE NOT EXISTS (SELECT 1 FROM part p WHERE p.part_id = n.part_id)""",
    )
    run(
        con,
        """UPDATE part SET part_type = coalesce(part.part_type, n.part_type), hs_code = coalesce(part.hs_code, n.hs_code)
                 FROM _sc_parts n WHERE part.part_id = n.part_id AND (part.part_type IS NULL OR part.hs_code IS NULL)""",
    )
    run(con, "DROP TABLE _sc_parts")


def _insert_fact(con, rows: str, sheet_name: str, table: str, exprs: dict, joins: str, wave: int) -> None:
    """Insert a fact sheet's accepted ``rows`` (of one or more returns) into ``table``."""
    sheet = sheets()[sheet_name]
    select = []
    for c in tables_schema()[table].columns:
        if c.name in exprs:
            select.append(exprs[c.name])
        elif c.name == "wave":
            select.append(str(int(wave)))
        elif c.name == "submission_id":
            select.append("g.submission_id")
        elif c.name == "source_sheet":
            select.append("g.source")
        elif c.name == "source_row":
            select.append("s._row")
        elif c.name in {x.name for x in sheet.columns}:
            select.append(f's."{c.name}"')
        else:
            raise SupplyChainError(f"column {table}.{c.name} has no source in sheet {sheet_name}")
    run(
        con,
        f'INSERT INTO "{table}" SELECT {", ".join(select)} FROM {rows} s'
        f" JOIN _sc_sources g ON g._file = s._file AND g.sheet = {literal(sheet_name)} {joins} ORDER BY s._file, s._row",
    )
