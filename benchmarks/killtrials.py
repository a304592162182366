"""Crash-safety trials: ingest, scoring and report runs killed with SIGKILL at random moments.

    python benchmarks/killtrials.py                 # 120 trials (40 of each), about 15 minutes
    python benchmarks/killtrials.py --trials 30     # 10 of each

Set-up, once: the sample's first three waves are loaded and wave 2024 scored (``base``); then,
without any kill, the sample's wave 2025 is loaded into a copy (the reference ingest), wave
2024 scored again after one triage change (the reference score), and a report built (the
reference report). Each trial copies ``base``, starts the command as its own process, kills it
with SIGKILL after a delay drawn uniformly between zero and the reference run's duration, and
checks:

* **always**: the database opens for writing (schema and all), and ``supplychain audit verify``
  passes on its journal (entries may be missing for the killed action, never half-written);
* **ingest**: every return the database holds has exactly the rows it has in the reference
  (table by table, matched by the file's SHA-256) — or, for a return a later correction
  supersedes, the rows it had right after its own load (the reference loads the wave's files one
  by one to know them); no row belongs to a return it does not hold — so no return, and no wave,
  is half-loaded; then ingesting the wave again completes it to the reference's counts;
* **score**: every result table and the register of wave 2024 are either exactly as before the
  run or exactly as the reference's (row counts and an order-independent digest), and the
  triage made before the run is kept;
* **report**: ``latest`` points at the previous report, whose files match its manifest's hashes,
  or at a new report complete with all its files; nothing half-built is published, and the next
  run publishes.

It prints the trials per kind, the kill moments' spread, and the failures (exit status 1 if any).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SAMPLE = ROOT / "data" / "sample"

import supplychain as sc  # noqa: E402
from supplychain import audit  # noqa: E402
from supplychain.survey.load import survey_files  # noqa: E402
from supplychain.survey.schema import tables  # noqa: E402

FACTS = [t.name for t in tables().values() if "submission_id" in t.column_names and t.name != "ingest_log"]
RESULTS = [t.name for t in tables().values() if t.kind == "result"] + ["finding"]
CLI = [sys.executable, "-m", "supplychain.cli", "-q"]


def _cli(db: Path, *args, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, "--db", str(db), *map(str, args)], capture_output=True, text=True, timeout=timeout)


def _per_return(db: Path) -> dict[str, dict[str, int]]:
    """Rows of each fact table per return (by file hash), of the returns the database holds."""
    with sc.connect(db, read_only=True) as con:
        out: dict[str, dict[str, int]] = {}
        for (sha,) in con.execute("SELECT sha256 FROM ingest_log WHERE status IN ('loaded', 'partial')").fetchall():
            out[sha] = {}
        for t in FACTS:
            for sha, n in con.execute(
                f'SELECT l.sha256, count(*) FROM "{t}" f JOIN ingest_log l USING (submission_id) GROUP BY ALL'
            ).fetchall():
                out.setdefault(sha, {})[t] = n
        orphans = sum(
            con.execute(
                f'SELECT count(*) FROM "{t}" WHERE submission_id NOT IN (SELECT submission_id FROM ingest_log)'
            ).fetchone()[0]
            for t in FACTS
        )
    if orphans:
        out["(rows of no return)"] = {"rows": orphans}
    return out


def _results(db: Path, wave: int) -> dict[str, tuple[int, str]]:
    with sc.connect(db, read_only=True) as con:
        return {
            t: tuple(
                con.execute(
                    f'SELECT count(*), coalesce(sum(hash(x)::HUGEINT), 0)::VARCHAR FROM (SELECT * EXCLUDE (wave) FROM "{t}" WHERE wave = ?) x',
                    [wave],
                ).fetchone()
            )
            for t in RESULTS
            if t != "finding"
        } | {
            "finding": tuple(
                con.execute(
                    "SELECT count(*), coalesce(sum(hash(finding_id, score, severity, status, notes)::HUGEINT), 0)::VARCHAR "
                    "FROM finding WHERE wave = ?",
                    [wave],
                ).fetchone()
            )
        }


def _published(out: Path) -> tuple[Path | None, list[str]]:
    """The report ``latest`` points at, and what is wrong with what is published."""
    problems = []
    latest = out / "latest"
    if not latest.exists():
        return None, ["no latest report"]
    target = latest.resolve()
    manifest = json.loads((target / "manifest.json").read_text("utf-8"))
    for f in manifest["files"].values():
        p = target / f["name"]
        if not p.exists() or hashlib.sha256(p.read_bytes()).hexdigest() != f["sha256"]:
            problems.append(f"{p.name} does not match its manifest")
    for p in out.iterdir():
        if p.is_dir() and not p.is_symlink() and not p.name.startswith(".") and not (p / "manifest.json").exists():
            problems.append(f"{p.name} published without a manifest")
    return target, problems


def _kill_after(cmd: list[str], delay: float, *, cwd=None) -> int | None:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd)
    try:
        proc.wait(timeout=delay)
        return proc.returncode  # finished before the kill
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=120, help="trials in all, shared between ingest, score and report")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    print(f"# kill trials — {date.today()} — {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    tmp = Path(tempfile.mkdtemp(prefix="killtrials-"))
    try:
        return _run(tmp, rng, args.trials)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _run(tmp: Path, rng: random.Random, trials: int) -> int:
    base = tmp / "base" / "sc.duckdb"
    base.parent.mkdir()
    for w in ("2022", "2023", "2024"):
        _cli(base, "ingest", SAMPLE / w, "--accept-partial")
    assert _cli(base, "score", "--wave", "2024", "--no-esri").returncode == 0
    with sc.connect(base) as con:  # a triage the re-score must keep
        fid = con.execute("SELECT finding_id FROM finding WHERE wave = 2024 ORDER BY score DESC LIMIT 1").fetchone()[0]
        sc.risk.set_finding(con, fid, status="open", note="kill trials: kept")
    before_results = _results(base, 2024)

    def fresh(name: str) -> Path:
        d = tmp / name
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir()
        shutil.copy(base, d / "sc.duckdb")
        j = audit.journal_path(base)
        if j.exists():
            shutil.copy(j, d / j.name)
        return d / "sc.duckdb"

    # references, timed
    ref_db = fresh("ref")
    t = time.perf_counter()
    _cli(ref_db, "ingest", SAMPLE / "2025", "--accept-partial")
    ingest_s = time.perf_counter() - t
    ref_rows = _per_return(ref_db)
    # each return as it stands right after its own load (a later correction supersedes it)
    step_db = fresh("steps")
    alone: dict[str, dict[str, int]] = {}
    for f in survey_files(SAMPLE / "2025"):
        with sc.connect(step_db) as con:
            sc.ingest(con, f)
        now = _per_return(step_db)
        alone.update({sha: rows for sha, rows in now.items() if sha not in alone})
    t = time.perf_counter()
    assert _cli(ref_db, "score", "--wave", "2024", "--no-esri").returncode == 0
    score_s = time.perf_counter() - t
    ref_results = _results(ref_db, 2024)
    out = tmp / "reports"
    report_cmd = [*CLI, "--db", str(ref_db), "report", "--wave", "2024", "--out", str(out), "--formats", "html,xlsx"]
    t = time.perf_counter()
    r = subprocess.run([*report_cmd, "--marking", "unmarked"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    report_s = time.perf_counter() - t
    print(f"reference runs: ingest of wave 2025 {ingest_s:.1f} s, score of wave 2024 {score_s:.1f} s, report {report_s:.1f} s")

    kinds = ["ingest", "score", "report"]
    counts, killed, failures = Counter(), Counter(), []
    moments: dict[str, list[float]] = {k: [] for k in kinds}
    for i in range(trials):
        kind = kinds[i % 3]
        counts[kind] += 1
        problems: list[str] = []
        if kind == "report":
            previous, _ = _published(out)
            delay = rng.uniform(0, report_s)
            code = _kill_after([*report_cmd, "--marking", f"trial {i}"], delay)
            db = ref_db
            now, problems = _published(out)
            if now is None or (now != previous and code is not None and code != 0):
                problems.append("latest moved by a run that did not succeed")
            again = subprocess.run([*report_cmd, "--marking", "unmarked"], capture_output=True, text=True)
            if again.returncode != 0:
                problems.append(f"the next run failed: {again.stderr.strip()[-200:]}")
        else:
            db = fresh(f"t{i}")
            total = ingest_s if kind == "ingest" else score_s
            delay = rng.uniform(0, total)
            cmd = [*CLI, "--db", str(db)] + (
                ["ingest", str(SAMPLE / "2025"), "--accept-partial"]
                if kind == "ingest"
                else ["score", "--wave", "2024", "--no-esri"]
            )
            code = _kill_after(cmd, delay)
            try:
                with sc.connect(db):
                    pass
            except Exception as exc:  # the thing being checked
                problems.append(f"the database does not open: {exc}")
            if not problems and kind == "ingest":
                held = _per_return(db)
                for sha, rows in held.items():
                    want = [r for r in (ref_rows.get(sha), alone.get(sha)) if r is not None]
                    if not want:
                        problems.append(f"rows of no known return: {sha} {rows}")
                    elif rows not in want:
                        problems.append(f"return {sha[:12]} half-loaded: {rows} (whole: {want})")
                redo = _cli(db, "ingest", SAMPLE / "2025", "--accept-partial")
                if redo.returncode != 0 or _per_return(db) != ref_rows:
                    problems.append("ingesting the wave again did not complete it to the reference")
            elif not problems:
                now = _results(db, 2024)
                for t in RESULTS:
                    if now[t] not in (before_results[t], ref_results[t]):
                        problems.append(f"{t} of wave 2024 is neither the previous nor the new result: {now[t]}")
                with sc.connect(db, read_only=True) as con:
                    kept = con.execute("SELECT notes FROM finding WHERE finding_id = ? AND wave = 2024", [fid]).fetchone()
                if not kept or "kill trials: kept" not in (kept[0] or ""):
                    problems.append("the triage made before the run was lost")
        v = audit.verify(db)
        if not v.ok:
            problems.append(f"audit journal: {v}")
        moments[kind].append(delay)
        killed[kind] += code is None
        if problems:
            failures.append((i, kind, delay, problems))
            print(f"  trial {i} ({kind}, killed at {delay:.2f} s): " + "; ".join(problems), flush=True)
        if kind != "report":
            shutil.rmtree(db.parent, ignore_errors=True)

    print(
        "\n| run | trials | killed mid-run | finished before the kill | kill moments (s) | failures |\n|---|---:|---:|---:|---|---:|"
    )
    for k in kinds:
        m = sorted(moments[k])
        bad = sum(f[1] == k for f in failures)
        print(f"| {k} | {counts[k]} | {killed[k]} | {counts[k] - killed[k]} | {m[0]:.2f} … {m[-1]:.2f} | {bad} |")
    print(f"| **all** | **{sum(counts.values())}** | {sum(killed.values())} | | | **{len(failures)}** |")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
