"""Build and publish reports safely on a schedule.

A run takes a lock in the output folder (a second run waits up to ``lock_wait`` seconds, then
refuses with :class:`ReportBusy`), writes every file into a hidden temporary folder there, and
publishes it by one atomic rename to its dated name, then points ``latest`` at it (an atomic
symlink swap). A run that fails or is killed leaves the previous reports as they were and
publishes nothing; its temporary folder is removed by the next run. Each published folder holds
``manifest.json`` (parameters, data hash, files and their SHA-256); ``if_changed`` skips a run
whose data and parameters match the latest report's.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import __version__, audit
from ..db import run
from ..exceptions import SupplyChainError
from ._labels import LANGS, label
from .content import PLAN_STEPS, WAVE_STEPS, Report, data_hash, marking_text, now_iso, plan_report, wave_report
from .html import render_html

__all__ = ["build", "build_plan", "ReportResult", "ReportBusy", "FORMATS", "LATEST"]

log = logging.getLogger(__name__)

FORMATS = ("html", "pdf", "xlsx")
#: The symlink in the output folder that names the latest report published there.
LATEST = "latest"
_LOCK = ".report.lock"
_TEMP = ".building-"


class ReportBusy(SupplyChainError):
    """Another run holds the output folder's lock."""


@dataclass
class ReportResult:
    """A built (or skipped) report: ``path`` is the published folder (for a skipped run, the
    latest one, which is unchanged), ``files`` maps format to file path."""

    path: Path
    files: dict[str, Path] = field(default_factory=dict)
    skipped: bool = False
    fingerprint: str = ""
    seconds: float = 0.0
    manifest: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        what = "skipped (unchanged)" if self.skipped else ", ".join(sorted(self.files))
        return f"ReportResult({self.path}: {what})"


@contextlib.contextmanager
def _lock(out: Path, wait: float):
    """An exclusive lock on ``out``/.report.lock (released by the kernel if the process dies)."""
    path = out / _LOCK
    f = open(path, "a+")  # noqa: SIM115 (closed below)
    deadline = time.monotonic() + wait
    try:
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    f.seek(0)
                    holder = f.read().strip() or "another process"
                    raise ReportBusy(
                        f"another report run holds {path} ({holder}); try again later or pass a longer --wait"
                    ) from None
                time.sleep(0.2)
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()} since {now_iso()}\n")
        f.flush()
        yield
    finally:
        f.close()


def _check_formats(formats) -> tuple[str, ...]:
    if isinstance(formats, str):
        formats = [x.strip() for x in formats.split(",") if x.strip()]
    formats = tuple(dict.fromkeys(formats))
    bad = [x for x in formats if x not in FORMATS]
    if bad or not formats:
        raise SupplyChainError(f"formats must be some of {', '.join(FORMATS)}, got {list(formats)}")
    return formats


def _resolve_marking(marking, options) -> str:
    text = marking if marking is not None else options.report["marking"]
    if not isinstance(text, str) or not text.strip():
        raise SupplyChainError(
            "no marking is configured: a report prints its classification/handling marking on every page. Set "
            '[report] marking = "取扱注意" (your marking) in the site configuration ($SUPPLYCHAIN_CONFIG), or pass '
            '--marking; "unmarked" is allowed for synthetic data'
        )
    return text.strip()


def _manifest_json(data: dict) -> str:
    from ..risk.registry import _json_default  # strict JSON: numpy numbers as numbers, NaN as null

    return json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True, default=_json_default) + "\n"


def _latest_manifest(out: Path, link: str) -> dict | None:
    try:
        return json.loads((out / link / "manifest.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None


def _clean_stale(out: Path) -> None:
    """Remove temporary folders of runs that died (we hold the lock: none is in use)."""
    for p in out.glob(f"{_TEMP}*"):
        log.warning("removing %s, left by a run that did not finish", p)
        shutil.rmtree(p, ignore_errors=True)


def _publish(tmp: Path, out: Path, name: str, link_name: str) -> Path:
    final = out / name
    i = 2
    while final.exists():
        final = out / f"{name}-{i}"
        i += 1
    os.rename(tmp, final)  # atomic within one file system
    link = out / link_name
    staged = out / f".{link_name}.{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        staged.unlink()
    os.symlink(final.name, staged)
    os.replace(staged, link)  # atomic swap of the pointer
    _fsync_dir(out)
    return final


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _footer(report: Report, params: dict, digest: str, generated: str) -> list[tuple[str, str]]:
    lang = report.lang
    L = lambda k: label(k, lang)  # noqa: E731
    rows = [(L("wave"), str(params["wave"]))]
    if params.get("plan_id"):
        rows.append((label("col.plan_id", lang), params["plan_id"]))
    rows += [
        (L("generated_at"), generated),
        (L("marking"), marking_text(params["marking"], lang)),
        (L("scope"), ", ".join(params["programs"]) if params.get("programs") else L("all_programs")),
        (L("language"), lang),
        (L("configuration"), params["configuration"]),
        (L("parameters"), json.dumps({k: params[k] for k in ("formats", "report_settings")}, ensure_ascii=False, sort_keys=True)),
        (L("version"), f"supplychain {__version__}"),
        (L("data_hash"), digest),
    ]
    if params.get("previous_wave") is not None:
        rows.insert(1, (L("previous_wave"), str(params["previous_wave"])))
    return rows


def _build(
    con,
    *,
    gather,
    gather_steps: int,
    params: dict,
    out,
    if_changed: bool,
    wait,
    options,
    progress: bool,
    folder: str,
    stem: str,
    link: str,
):
    t0 = time.perf_counter()
    formats = params["formats"]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    wait = float(options.report["lock_wait"] if wait is None else wait)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        # data hash, the content's steps, html, the other formats, publish
        total = 1 + gather_steps + 1 + len([f for f in formats if f != "html"]) + 1
        bar = tqdm(total=total, desc="report", unit="step")
    started = []

    def step(name):
        log.info("report: %s", name)
        if bar is not None:
            if started:
                bar.update(1)  # the step before has finished
            started.append(name)
            bar.set_postfix_str(name)

    try:
        with _lock(out, wait):
            _clean_stale(out)
            step("data hash")
            digest = data_hash(con)
            fingerprint = hashlib.sha256(
                json.dumps({**params, "data_hash": digest, "version": __version__}, sort_keys=True, ensure_ascii=False).encode()
            ).hexdigest()
            previous = _latest_manifest(out, link)
            if if_changed and previous and previous.get("fingerprint") == fingerprint:
                path = (out / link).resolve()
                log.info("report: data and parameters unchanged since %s; skipped", path)
                return ReportResult(
                    path, skipped=True, fingerprint=fingerprint, seconds=time.perf_counter() - t0, manifest=previous
                )
            with audit.part_of("report"):  # its scenario runs are parts of this report's entry
                report = gather(step)
            params["previous_wave"] = report.meta.get("previous_wave")
            generated = now_iso()
            footer = _footer(report, params, digest, generated)
            tmp = out / f"{_TEMP}{os.getpid()}-{time.time_ns()}"
            tmp.mkdir()
            try:
                files: dict[str, Path] = {}
                step("html")
                html_path = tmp / f"{stem}.html"
                html_path.write_text(render_html(report, footer), "utf-8")
                if "html" in formats:
                    files["html"] = html_path
                if "pdf" in formats:
                    step("pdf")
                    from .pdf import html_to_pdf

                    html_to_pdf(html_path, tmp / f"{stem}.pdf", marking=marking_text(params["marking"], report.lang))
                    files["pdf"] = tmp / f"{stem}.pdf"
                if "xlsx" in formats:
                    step("xlsx")
                    from .xlsx import write_xlsx

                    write_xlsx(report, tmp / f"{stem}.xlsx", footer)
                    files["xlsx"] = tmp / f"{stem}.xlsx"
                if "html" not in formats:
                    html_path.unlink()
                manifest = {
                    "kind": params["kind"],
                    "fingerprint": fingerprint,
                    "data_hash": digest,
                    "generated_at": generated,
                    "version": __version__,
                    "parameters": params,
                    "files": {
                        k: {"name": p.name, "sha256": audit.digest(p), "bytes": p.stat().st_size} for k, p in files.items()
                    },
                    # the audit journal's newest entry when this was built: an anchor kept apart
                    "audit_head": audit.head(con),
                }
                (tmp / "manifest.json").write_text(_manifest_json(manifest), "utf-8")
                for p in tmp.iterdir():
                    with open(p, "rb") as f:
                        os.fsync(f.fileno())
                _fsync_dir(tmp)
                step("publish")
                final = _publish(tmp, out, folder, link)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            if bar is not None:
                bar.update(1)
            audit.record(
                con,
                "report",
                str(final),
                parameters=params,
                inputs={"database": digest},
                outputs={p.name: manifest["files"][k]["sha256"] for k, p in files.items()},
            )
            seconds = time.perf_counter() - t0
            log.info("report: published %s in %.1f s", final, seconds)
            return ReportResult(
                final,
                {k: final / p.name for k, p in files.items()},
                fingerprint=fingerprint,
                seconds=seconds,
                manifest=manifest,
            )
    finally:
        if bar is not None:
            bar.close()


def _common(con, kind, wave, lang, marking, config, formats):
    """The checked options, wave and the parameters every report records (``kind`` first)."""
    from ..graph import _check_wave
    from ..options import load_options

    options = load_options(config)
    lang = lang or options.report["lang"]
    if lang not in LANGS:
        raise SupplyChainError(f"lang must be one of {', '.join(LANGS)}, got {lang!r}")
    formats = _check_formats(formats)
    marking = _resolve_marking(marking, options)
    if wave is None:
        wave = run(con, "SELECT max(wave) FROM finding").fetchone()[0]
        if wave is None:
            raise SupplyChainError("the database holds no risk register: run `supplychain score` before the report")
    wave = _check_wave(con, wave)
    params = {
        "kind": kind,
        "wave": wave,
        "lang": lang,
        "marking": marking,
        "formats": list(formats),
        "configuration": options.label,
        "compartments": "all" if options.compartments is None else sorted(options.compartments),
        "report_settings": {k: v for k, v in options.report.items() if k != "marking"},
    }
    return options, params


def _stamp() -> str:
    return dt.datetime.now().strftime("%Y-%m-%d_%H%M%S")


def build(
    con,
    *,
    wave: int | None = None,
    out="reports",
    formats=FORMATS,
    programs=None,
    lang: str | None = None,
    marking: str | None = None,
    config=None,
    if_changed: bool = False,
    wait: float | None = None,
    progress: bool = False,
) -> ReportResult:
    """Build the risk report of ``wave`` (default: the latest with a register) into a dated
    folder of ``out``: ``report-wave<wave>.html`` (self-contained), ``.pdf`` and ``.xlsx`` (any of
    ``formats``), and ``manifest.json``; ``out``/latest points at it.

    ``programs`` restricts every section to those programs; ``lang`` is ``ja`` or ``en``
    (default: the configuration's); ``marking`` overrides the configured marking (one is
    required; ``"unmarked"`` for synthetic data). ``if_changed`` returns the latest report,
    ``skipped``, when the data and parameters have not changed. ``wait``: seconds to wait for
    another run's lock (default: the configuration's ``lock_wait``).

    The wave must have been scored (``supplychain score``): the report reads the stored register
    and results; it runs the standard and saved scenarios and reviews the loaded plans itself.

    Under a profile that sees only some compartments (``[access]`` of ``config``), the report is
    built from a copy of the database restricted to them and scored again
    (:func:`supplychain.access.scoped`): it holds nothing from the other compartments.
    """
    with _scoped(con, config, progress) as con:
        return _build_wave(con, wave, out, formats, programs, lang, marking, config, if_changed, wait, progress)


@contextlib.contextmanager
def _scoped(con, config, progress):
    """``con``, or the copy restricted to the profile's compartments (closed afterwards)."""
    from ..access import scoped

    view = scoped(con, config, progress=progress)
    try:
        yield view
    finally:
        if view is not con:
            view.close()


def _build_wave(con, wave, out, formats, programs, lang, marking, config, if_changed, wait, progress) -> ReportResult:
    options, params = _common(con, "wave", wave, lang, marking, config, formats)
    programs = sorted(set([programs] if isinstance(programs, str) else programs)) if programs is not None else None
    params["programs"] = programs
    wave, lang, marking = params["wave"], params["lang"], params["marking"]
    return _build(
        con,
        gather_steps=len(WAVE_STEPS),
        gather=lambda step: wave_report(
            con, wave=wave, programs=programs, lang=lang, marking=marking, config=options, progress=step
        ),
        params=params,
        out=out,
        if_changed=if_changed,
        wait=wait,
        options=options,
        progress=progress,
        folder=f"{_stamp()}_wave{wave}",
        stem=f"report-wave{wave}",
        link=LATEST,
    )


def build_plan(
    con,
    plan_id: str,
    *,
    wave: int | None = None,
    out="reports",
    formats=FORMATS,
    lang: str | None = None,
    marking: str | None = None,
    config=None,
    if_changed: bool = False,
    wait: float | None = None,
    progress: bool = False,
) -> ReportResult:
    """Build the review pack of Stable Manufacturing Plan ``plan_id`` on ``wave`` (the plan
    against its program's scenarios and register findings; see :func:`supplychain.plan.review`)
    in the same formats, published like :func:`build` under ``plan-<id>`` names
    (``out``/latest-plan-<id> points at the newest). Under a restricted profile, built from the
    restricted copy like :func:`build` (a plan of a program outside it is not found)."""
    with _scoped(con, config, progress) as con:
        return _build_plan(con, plan_id, wave, out, formats, lang, marking, config, if_changed, wait, progress)


def _build_plan(con, plan_id, wave, out, formats, lang, marking, config, if_changed, wait, progress) -> ReportResult:
    options, params = _common(con, "plan", wave, lang, marking, config, formats)
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in str(plan_id))
    params.update(plan_id=str(plan_id), programs=None)
    wave, lang, marking = params["wave"], params["lang"], params["marking"]
    return _build(
        con,
        gather_steps=len(PLAN_STEPS),
        gather=lambda step: plan_report(con, plan_id, wave=wave, lang=lang, marking=marking, config=options, progress=step),
        params=params,
        out=out,
        if_changed=if_changed,
        wait=wait,
        options=options,
        progress=progress,
        folder=f"{_stamp()}_plan-{safe}_wave{wave}",
        stem=f"plan-{safe}-wave{wave}",
        link=f"{LATEST}-plan-{safe}",
    )
