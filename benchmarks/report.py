"""Report benchmark: the scheduled risk report of a national-scale wave — HTML, PDF and XLSX —
with its steps and peak memory, and the naive way of writing the register's workbook measured
in the same run.

    python benchmarks/report.py --scale national
    python benchmarks/report.py --scale sample      # the sample of data/sample (target ≤ 60 s)

The database of benchmarks/graph.py (benchmarks/data/<scale>.duckdb; at sample scale the sample
ingested) is copied to a temporary file, scored (the register the report reads; ``supplychain
score``) and given 12 synthetic Stable Manufacturing Plans in one child process, then reported
on in another; "peak MB" is that process's resident-memory high-water mark up to and including
the step (Chromium's own memory, a separate process, is not in it).

Steps: ``sc.report.build`` end to end first (data hash, lock, the three formats, atomic publish),
then its parts again one by one: the content gathered (stored register and results read, tier profiles, time-to-recover,
the standard scenarios, every plan reviewed, the wave diff, data quality); the HTML rendered; the
PDF printed by Chromium; the XLSX written. The naive workbook writes the register with
``pandas.DataFrame.to_excel`` (openpyxl, every cell an object in memory), on a sample of rows,
extrapolated to every finding.

Target (issue 9): the national-scale report ≤ 5 min (the sample's ≤ 60 s).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from graph import Steps, ensure_database, header, print_steps, run_child  # noqa: E402

MARKING = "取扱注意 (benchmark)"


def naive_xlsx(frame, path: Path, sample: int) -> float:
    """Seconds per finding of writing the register with pandas' openpyxl writer."""
    rows = frame.head(sample)
    t = time.perf_counter()
    rows.to_excel(path, sheet_name="register", index=False, engine="openpyxl")
    return (time.perf_counter() - t) / len(rows)


def _prepare(db: str, scale: str, out: str, queue) -> None:
    """What the report reads: the wave scored (the last two at sample scale, for the diff) and
    12 synthetic plans; the sample is ingested first."""
    import supplychain as sc
    from supplychain.risk.score import score

    con = sc.connect(db)
    if scale == "sample":
        sc.ingest(con, str(HERE.parent / "data" / "sample"))
    waves = [w for (w,) in con.execute("SELECT wave FROM survey_wave ORDER BY wave").fetchall()]
    t = time.perf_counter()
    for w in waves[-2:] if scale == "sample" else waves[-1:]:
        findings = len(score(con, wave=w, with_esri=False)["finding"])
    seconds = time.perf_counter() - t
    plans, measures = sc.datasets.make_plans(con, wave=waves[-1], n_plans=12)
    sc.datasets.write_plans(Path(out) / "plans.xlsx", plans, measures)
    sc.plan.load_plans(con, Path(out) / "plans.xlsx")
    con.close()
    queue.put({"wave": waves[-1], "score_seconds": seconds, "findings": findings})


def _child(db: str, wave: int, out: str, sample: int, queue) -> None:
    import supplychain as sc
    from supplychain.report.content import data_hash, wave_report
    from supplychain.report.html import render_html
    from supplychain.report.pdf import html_to_pdf
    from supplychain.report.xlsx import write_xlsx

    con = sc.connect(db, read_only=True)
    steps = Steps()
    # first, so that its peak memory is its own
    res = steps(
        "sc.report.build end to end (html, pdf, xlsx)",
        lambda: sc.report.build(con, wave=wave, out=Path(out) / "reports", marking=MARKING),
        n_rows=lambda r: 0,
    )
    steps("… data hash (every table)", lambda: data_hash(con), n_rows=lambda _: 0)
    report = steps(
        "… content gathered (results, scenarios, plan reviews, diff)",
        lambda: wave_report(con, wave=wave, marking=MARKING),
        n_rows=lambda r: len(r.register),
    )
    footer = [("wave", str(wave))]
    html_path = Path(out) / "report.html"
    html = steps("… HTML rendered", lambda: render_html(report, footer), n_rows=lambda _: len(report.register))
    html_path.write_text(html, "utf-8")
    steps(
        "… PDF printed (Chromium)", lambda: html_to_pdf(html_path, Path(out) / "report.pdf", marking=MARKING), n_rows=lambda _: 0
    )
    steps(
        "… XLSX written (register + key tables)",
        lambda: write_xlsx(report, Path(out) / "report.xlsx", footer),
        n_rows=lambda _: len(report.register),
    )
    per = naive_xlsx(report.register, Path(out) / "naive.xlsx", min(sample, len(report.register)))
    queue.put(
        {
            "rows": list(steps),
            "findings": len(report.register),
            "programs": len(report.sections[2].children),
            "sizes_mb": {k: p.stat().st_size / 1e6 for k, p in res.files.items()},
            "naive_per_finding": per,
            "naive_sample": min(sample, len(report.register)),
        }
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", choices=["sample", "national", "economy"], default="national")
    ap.add_argument("--naive-sample", type=int, default=5000, help="findings written the naive way (extrapolated)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "report.duckdb"
        if args.scale != "sample":
            shutil.copy(ensure_database(args.scale), db)
        prep = run_child(_prepare, str(db), args.scale, tmp)
        out = run_child(_child, str(db), prep["wave"], tmp, args.naive_sample)
    print(header("report", args.scale))
    sizes = ", ".join(f"{k} {v:,.1f} MB" for k, v in sorted(out["sizes_mb"].items()))
    print(
        f"wave {prep['wave']}: {out['findings']:,} findings (scored in {prep['score_seconds']:.0f} s beforehand, not counted), "
        f"{out['programs']} program pages; files: {sizes}"
    )
    print()
    naive_all = out["naive_per_finding"] * out["findings"]
    print_steps(out["rows"], lambda r: f"{naive_all / r['seconds']:,.1f}" if r["step"].startswith("… XLSX") else "")
    print(
        f"| naive register workbook (pandas to_excel, openpyxl), {out['naive_sample']:,} findings, extrapolated "
        f"| {naive_all:,.0f} | {out['findings']:,} | | 1 |"
    )
    end_to_end = out["rows"][0]["seconds"]
    target = 60 if args.scale == "sample" else 300
    print(
        f"\nthe report end to end: {end_to_end:.1f} s (target ≤ {target} s); its peak memory {out['rows'][0]['peak_mb']:,.0f} MB"
    )


if __name__ == "__main__":
    main()
