"""Scenario benchmark: what-if scenarios in time and the time-to-recover sweep, at the national
and economy scales, with the literal fixpoint reading of the same cascade in the same run.

    python benchmarks/scenario.py --scale national
    python benchmarks/scenario.py --scale economy

Uses the database of benchmarks/graph.py (benchmarks/data/<scale>.duckdb). Every scenario runs
on a network built once (as in a notebook session): each figure is the median of 5 runs after
one warm-up run (which compiles the kernels and fills the network's caches: the foreign trace,
the requirement times, the withdrawal scores). "peak MB" is this process's high-water mark.

The naive way recomputes every requirement and node from all links until nothing changes
(supplychain.risk.timing.outage_by_fixpoint, vectorised NumPy) and must give the same days.

Each scenario is timed with the simple rule (any supplier still delivering takes the volume) and
with the capacity linear program (capacity="lp", the default where capacities are known).

Targets (issue 6): one scenario at economy scale ≤ 100 ms after the graph is built; the
standard set for all plans of a national wave ≤ 30 s.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from graph import Steps, _hwm_mb, ensure_database, header  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", choices=["national", "economy"], default="national")
    ap.add_argument("--removal", type=int, default=80_000, help="companies failing together in the removal-set scenario")
    ap.add_argument("--plans", type=int, default=50, help="synthetic Stable Manufacturing Plans to rank (0: skip)")
    args = ap.parse_args()
    db = ensure_database(args.scale)
    import supplychain as sc
    from supplychain.risk.timing import outage_by_fixpoint, requirement_times
    from supplychain.scenario import _outage

    con = sc.connect(db, read_only=True)
    wave = con.sql("SELECT max(wave) FROM survey_wave").fetchall()[0][0]
    step = Steps()
    net = step("graph build (DuckDB -> arrays)", lambda: sc.supply_network(con, wave=wave), lambda n: len(n.links))
    rng = np.random.default_rng(0)
    labels = net.column("companies", "label")
    removal_idx = rng.choice(len(labels), min(args.removal, len(labels)), replace=False)
    removal = labels[removal_idx].tolist()
    crit = sc.risk.criticality(network=net)
    scenarios = {
        **{name: name for name in sc.scenario.STANDARD},
        "top chokepoint fails for 120 days": {"name": "top", "fail": {"companies": [crit["company"].iloc[0]]}, "days": 120},
        f"{len(removal):,} random companies fail for 60 days": {"name": "removal", "fail": {"companies": removal}, "days": 60},
        "all goods from CN for 90 days, with a stockpile": {
            "name": "cn",
            "fail": {"countries": ["CN"]},
            "days": 90,
            "mitigations": [{"action": "stockpile", "part": "rare_earths", "days": 120}],
        },
    }
    results = {}
    for label, s in scenarios.items():
        for capacity in ("simple", "lp"):
            t = time.perf_counter()
            results[label, capacity] = sc.scenario.run(con, s, network=net, capacity=capacity)
            first = time.perf_counter() - t
            times = []
            for _ in range(5 if capacity == "simple" else 3):
                t = time.perf_counter()
                results[label, capacity] = sc.scenario.run(con, s, network=net, capacity=capacity)
                times.append(time.perf_counter() - t)
            step.append(
                {
                    "step": f"scenario ({capacity}): {label} (median of {len(times)}; first run {first:.2f} s)",
                    "seconds": float(np.median(times)),
                    "rows": results[label, capacity].summary["links_stopped"],
                    "peak_mb": _hwm_mb(),
                }
            )
    sweep = step("time-to-recover sweep, every company alone", lambda: sc.risk.time_to_recover(network=net))
    ranked = None
    if args.plans:
        # Stable Manufacturing Plans: synthetic plans loaded into a copy of the database
        import shutil
        import tempfile

        from supplychain.datasets import make_plans, write_plans

        con.close()
        tmp = Path(tempfile.mkdtemp()) / "plans.duckdb"
        shutil.copy(db, tmp)
        con = sc.connect(tmp)
        plans, measures = make_plans(con, wave=wave, n_plans=args.plans)
        sc.plan.load_plans(con, write_plans(tmp.parent / "plans", plans, measures))
        pnet = sc.supply_network(con, wave=wave)
        for capacity in ("simple", "lp"):
            fresh = sc.supply_network(con, wave=wave) if capacity == "lp" else pnet
            ranked = step(
                f"plan ranking ({capacity}): {len(plans)} plans × their scenario sets",
                lambda fresh=fresh, capacity=capacity: sc.plan.ranking(con, wave=wave, network=fresh, capacity=capacity),
            )
        saving = int((ranked["program_days_saved"] > 0).sum())
    # the naive way, on the removal scenario and on the top chokepoint alone
    times_ = requirement_times(net)
    top_idx = np.flatnonzero(labels == crit["company"].iloc[0])
    top_starts = np.flatnonzero(np.isin(net.node_company[net.link_supplier], top_idx)).astype(np.int64)
    t = time.perf_counter()
    outage_by_fixpoint(net, top_starts, 120.0, times_)
    naive_top = time.perf_counter() - t
    t = time.perf_counter()
    _outage(net, top_starts, 120.0, times_["link_in_use"], times_["req_tts"], times_["req_ttr"])
    kernel_top = time.perf_counter() - t
    removed = np.isin(net.node_company[net.link_supplier], removal_idx)
    starts = np.flatnonzero(removed).astype(np.int64)
    t = time.perf_counter()
    node_ref, _ = outage_by_fixpoint(net, starts, 60.0, times_)
    naive = time.perf_counter() - t
    t = time.perf_counter()
    o = _outage(net, starts, 60.0, times_["link_in_use"], times_["req_tts"], times_["req_ttr"])
    kernel = time.perf_counter() - t
    node = np.zeros(net.n_nodes)
    node[o["nodes"]] = o["node_out"]
    same = np.allclose(node, node_ref)
    print(header("scenario", args.scale))
    print(f"network: {len(net.companies):,} companies, {net.n_nodes:,} nodes, {len(net.links):,} links, wave {wave}")
    for label, r in results.items():
        f = r.summary
        print(
            f"  {label}: {f['programs_lost']} programs, {f['program_days_lost']:,.0f} program-days, ¥{f['value_lost'] / 1e9:,.1f}bn"
        )
    print(f"  time-to-recover: {len(sweep):,} (company, program) pairs stop a prime")
    if ranked is not None:
        print(f"  plans: {len(ranked)} ranked, {saving} save program-days")
    print()
    print("| step | seconds | rows | peak MB (process so far) | naive time ÷ this time |")
    print("|---|---:|---:|---:|---:|")
    for r in step:
        print(f"| {r['step']} | {r['seconds']:.3f} | {r['rows']:,} | {r['peak_mb']:,.0f} | |")
    print(f"| cascade of the removal set, compiled worklist | {kernel:.3f} | {len(o['links']):,} | | {naive / kernel:,.0f} |")
    print(f"| the same by fixpoint over all links (NumPy) | {naive:.3f} | | | 1 |")
    print(f"| cascade of the top chokepoint alone, compiled worklist | {kernel_top:.4f} | | | {naive_top / kernel_top:,.0f} |")
    print(f"| the same by fixpoint over all links (NumPy) | {naive_top:.3f} | | | 1 |")
    print(f"\nfixpoint and worklist {'agree' if same else 'DIFFER'} on every node's days")


if __name__ == "__main__":
    main()
