"""Ingest benchmark: rows/s and peak memory at the national and economy scales.

    python benchmarks/ingest.py --scale national        # ≈100k firms, ≈500k links
    python benchmarks/ingest.py --scale economy         # ≈1M firms, ≈5M links (slow to generate)

Synthetic returns are generated once into benchmarks/data/<scale>/ (ignored by git) and reused.
The ingest runs in a child process so its peak resident memory (DuckDB's native memory
included) is measured alone. The naive baseline — the same checks row by row in Python — runs
in this process on the same parsed sheets, against the bulk validator, and the ratio is printed.

Targets on a 2-core machine (issue 2): national ≤ 30 s and ≤ 2 GB; economy ≤ 5 min and ≤ 8 GB.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import platform
import resource
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _ingest_child(data: str, db: str, queue) -> None:
    import supplychain as sc

    con = sc.connect(db)
    t = time.perf_counter()
    res = sc.ingest(con, data)
    seconds = time.perf_counter() - t
    rows = {t: con.sql(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in ("supply", "company", "company_report")}
    queue.put(
        {
            "seconds": seconds,
            "rows_loaded": res.loaded,
            "files": len(res.files),
            "rows": rows,
            "statuses": sorted({f.status for f in res.files}),
        }
    )
    con.close()


def measure_ingest(data: Path) -> dict:
    """Ingest ``data`` into a fresh database in a child process; seconds, rows, peak RSS."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    with tempfile.TemporaryDirectory() as tmp:
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        p = ctx.Process(target=_ingest_child, args=(str(data), str(Path(tmp) / "bench.duckdb"), queue))
        p.start()
        out = queue.get()
        p.join()
        if p.exitcode:
            raise SystemExit(f"ingest child failed with exit code {p.exitcode}")
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the largest child so far; the ingest child is the largest we start
    out["peak_mb"] = max(peak, before) / 1024
    return out


def naive_validate(raw) -> int:
    """The baseline: the schema's checks applied row by row in Python (what bulk SQL replaces)."""
    import unicodedata

    from supplychain.survey.normalize import is_valid_corporate_number
    from supplychain.survey.schema import sheets

    keys: dict[str, set] = {}
    refused = 0
    for name, rs in raw.sheets.items():
        sheet = sheets()[name]
        empty = [None] * rs.n_rows
        cols = {c.name: empty for c in sheet.columns}
        cols.update({c: rs.table.column(c).to_pylist() for c in rs.table.column_names})
        allowed = {c.name: {a.lower() for canon, al in c.values for a in (canon, *al)} for c in sheet.columns if c.values}
        seen = set()
        ok_keys = set()
        for i in range(rs.n_rows):
            bad = False
            for c in sheet.columns:
                v = cols[c.name][i]
                v = unicodedata.normalize("NFKC", v).strip() if isinstance(v, str) else v
                if not v:
                    bad |= c.required
                    continue
                if c.type in ("int", "float", "share"):
                    try:
                        x = float(v.rstrip("%").replace(",", "")) / (100 if v.endswith("%") else 1)
                    except ValueError:
                        bad |= c.on_error == "refuse"
                        continue
                    lo, hi = (0, 1) if c.type == "share" else (c.min, c.max)
                    if (lo is not None and x < lo) or (hi is not None and x > hi):
                        bad |= c.on_error == "refuse"
                else:
                    invalid = (
                        (c.type == "enum" and v.lower() not in allowed[c.name])
                        or (c.type == "corporate_number" and not is_valid_corporate_number(v))
                        or (c.ref is not None and v not in keys.get(c.ref[0], set()))
                    )
                    bad |= invalid and c.on_error == "refuse"
            key = tuple(cols[k][i] for k in sheet.unique)
            if sheet.unique and key in seen:
                bad = True
            seen.add(key)
            if bad:
                refused += 1
            elif sheet.unique:
                ok_keys.add(cols[sheet.unique[0]][i])
        keys[name] = ok_keys
    return refused


def measure_validation(data: Path, n_files: int, repeat: int) -> dict:
    import supplychain as sc
    from supplychain.survey.load import _ingest_settings, survey_files
    from supplychain.survey.read import read_survey
    from supplychain.survey.validate import drop_tables, validate_returns

    files = survey_files(data)
    files = sorted(files, key=lambda p: -sum(f.stat().st_size for f in p.iterdir()) if p.is_dir() else -p.stat().st_size)[
        :n_files
    ]
    raws = [read_survey(p) for p in files]
    rows = sum(s.n_rows for r in raws for s in r.sheets.values())
    con = sc.connect()
    bulk, naive = [], []
    for _ in range(repeat):
        with _ingest_settings(con):  # the database settings of an ingest
            t = time.perf_counter()
            drop_tables(con, validate_returns(con, raws))  # one batch, as ingest does
            bulk.append(time.perf_counter() - t)
        t = time.perf_counter()
        for r in raws:
            naive_validate(r)
        naive.append(time.perf_counter() - t)
    return {"rows": rows, "bulk": statistics.median(bulk), "naive": statistics.median(naive), "files": len(files)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", choices=["national", "economy", "sample"], default="national")
    ap.add_argument("--data", type=Path, help="returns to ingest (default: generate into benchmarks/data/<scale>)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of the short validation step (median reported)")
    ap.add_argument("--baseline-files", type=int, default=20, help="largest returns used for the naive-vs-bulk ratio")
    args = ap.parse_args(argv)

    from supplychain.datasets import write_survey

    data = args.data or HERE / "data" / args.scale
    gen_seconds = None
    if not data.exists():
        print(f"generating {args.scale} returns into {data} …", file=sys.stderr)
        t = time.perf_counter()
        write_survey(data, scale=args.scale, random_state=0, progress=True)
        gen_seconds = time.perf_counter() - t

    print("ingesting (child process) …", file=sys.stderr)
    ing = measure_ingest(data)
    print(f"  {ing['seconds']:.1f} s; naive-vs-bulk validation …", file=sys.stderr)
    val = measure_validation(data, args.baseline_files, args.repeat)
    rows = ing["rows_loaded"]
    print(
        f"# ingest benchmark — scale {args.scale}, {date.today()}, {platform.node()} "
        f"({platform.machine()}, {mp.cpu_count()} cores), Python {platform.python_version()}"
    )
    print(f"data: {data} ({ing['files']} returns; statuses {ing['statuses']}); tables after: {ing['rows']}")
    if gen_seconds:
        print(f"generation (not part of the ingest figures): {gen_seconds:.1f} s")
    print()
    print("| step | seconds | rows | rows/s | peak MB | naive time ÷ this time |")
    print("|---|---:|---:|---:|---:|---:|")
    print(
        f"| ingest (read, validate, resolve, load; child process) | {ing['seconds']:.1f} | {rows:,} | "
        f"{rows / ing['seconds']:,.0f} | {ing['peak_mb']:,.0f} | |"
    )
    print(
        f"| validate, bulk SQL ({val['files']} largest returns in one batch, median of {args.repeat}) | {val['bulk']:.2f} | "
        f"{val['rows']:,} | {val['rows'] / val['bulk']:,.0f} | | {val['naive'] / val['bulk']:.2f} |"
    )
    print(
        f"| validate, naive row-by-row Python (same rows) | {val['naive']:.2f} | {val['rows']:,} | "
        f"{val['rows'] / val['naive']:,.0f} | | {val['naive'] / val['naive']:.2f} |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
