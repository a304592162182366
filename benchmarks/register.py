"""Risk-register benchmark: the full register of a national-scale wave — every analysis and
archetype, scored, written to the ``finding`` table with the triage carried — with its steps and
peak memory, and the naive way of carrying triage measured in the same run.

    python benchmarks/register.py --scale national

The database of benchmarks/graph.py (benchmarks/data/<scale>.duckdb) is copied to a temporary
file (the register is written to it) and run in one child process; "peak MB" is that process's
resident-memory high-water mark up to and including the step, DuckDB's native memory included.

Steps: the supply network; the register computed (sourcing, hidden convergence, criticality,
foreign exposure and concentration, foreign control, withdrawal early warning, time-to-recover,
export bans of the countries of concern, screening hits, cyber, aging, succession, financial,
hazard concentration, data quality, then scoring and evidence); writing it (triage carried from
earlier registers, in one statement); writing it again (a re-score: every finding's triage
found and kept). The naive carry looks up each finding's earlier triage and inserts it one row
at a time (what a first version does), on a sample, extrapolated to every finding.

Target (issue 7): the full register of a national-scale wave ≤ 2 min; peak memory printed.
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
from graph import Steps, ensure_database, header, latest_wave, print_steps, run_child  # noqa: E402


def naive_carry(con, frame, wave: int, sample: int) -> float:
    """Seconds per finding of carrying triage one row at a time: look up the finding's latest
    triage, then insert the row."""
    from supplychain.risk.registry import COLUMNS

    rows = frame[COLUMNS].head(sample)
    con.execute("CREATE TEMP TABLE naive_finding AS SELECT * FROM finding LIMIT 0")
    marks = ", ".join("?" for _ in range(len(COLUMNS) + 3))
    t = time.perf_counter()
    for r in rows.itertuples(index=False):
        prior = con.execute(
            "SELECT status, owner, notes FROM finding WHERE finding_id = ? AND wave <= ? ORDER BY wave DESC LIMIT 1",
            [r.finding_id, wave],
        ).fetchone()
        status, owner, notes = prior if prior else ("new", None, None)
        con.execute(
            f"INSERT INTO naive_finding ({', '.join(COLUMNS)}, status, owner, notes) VALUES ({marks})",
            [*r, status, owner, notes],
        )
    return (time.perf_counter() - t) / len(rows)


def _child(db: str, wave: int, sample: int, queue) -> None:
    import supplychain as sc
    from supplychain.graph import supply_network
    from supplychain.risk.registry import _store, register

    con = sc.connect(db)
    steps = Steps()
    net = steps("supply network (graph build)", lambda: supply_network(con, wave=wave), n_rows=lambda n: len(n.links))
    frame = steps("register computed (every analysis and archetype)", lambda: register(con, wave=wave, network=net, store=False))
    steps("register written (triage carried)", lambda: _store(con, frame, wave))
    steps("register written again (re-score: every triage kept)", lambda: _store(con, frame, wave))
    per = naive_carry(con, frame, wave, sample)
    counts = frame.groupby("archetype").size().sort_values(ascending=False)
    queue.put(
        {
            "rows": list(steps),
            "findings": len(frame),
            "by_archetype": counts.to_dict(),
            "by_severity": frame["severity"].value_counts().to_dict(),
            "naive_per_finding": per,
            "naive_sample": sample,
        }
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", choices=["national", "economy"], default="national")
    ap.add_argument("--naive-sample", type=int, default=300, help="findings carried the naive way (extrapolated)")
    args = ap.parse_args()
    source = ensure_database(args.scale)
    wave = latest_wave(source)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "register.duckdb"
        shutil.copy(source, db)
        out = run_child(_child, str(db), wave, args.naive_sample)
    print(header("register", args.scale))
    print(f"wave {wave}: {out['findings']:,} findings — " + ", ".join(f"{n:,} {a}" for a, n in out["by_archetype"].items()))
    print("severity: " + ", ".join(f"{out['by_severity'].get(s, 0):,} {s}" for s in ("critical", "high", "medium", "low")))
    print()
    naive_all = out["naive_per_finding"] * out["findings"]
    print_steps(out["rows"], lambda r: f"{naive_all / r['seconds']:,.0f}" if r["step"].startswith("register written (") else "")
    total = sum(r["seconds"] for r in out["rows"] if not r["step"].startswith("register written again"))
    print(
        f"| naive triage carry (lookup + insert per finding), {out['naive_sample']} findings, extrapolated "
        f"| {naive_all:,.0f} | {out['findings']:,} | | 1 |"
    )
    print(f"\nfull register (build, compute, write): {total:.1f} s (target ≤ 120 s)")


if __name__ == "__main__":
    main()
