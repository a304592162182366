"""Foreign-dependency benchmark: exposure of every program to every country, the country mix of
every part, and an export-ban scenario, at the national and economy scales, with the textbook
way measured in the same run.

    python benchmarks/foreign.py --scale national
    python benchmarks/foreign.py --scale economy

Uses the database of benchmarks/graph.py (benchmarks/data/<scale>.duckdb, ingested once). One
child process; "peak MB" is its resident-memory high-water mark after each step.

The textbook way for the exposure is a sparse linear solve per country (``e = b + M e`` over
the (program, company) nodes, scipy's SuperLU), timed on a few countries and extrapolated to all;
its figures are checked against the one-pass result. The naive export ban recomputes every
requirement over all links until nothing changes (vectorised numpy, no graph library), and must
find the same losses.

Screening is measured last, by benchmarks/screening.py (every company of the national database
against 10,000 synthetic list entries; --no-screening skips it).

Targets on a 2-core machine (issue 4): economy — exposure for all programs and countries ≤ 5 s;
an export ban ≤ 200 ms once the graph is built; screening 100k companies against 10k entries
≤ 60 s; peak memory printed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from graph import Steps, _hwm_mb, ensure_database, header, latest_wave, run_child  # noqa: E402

PRESET = "rare_earths_and_magnets_from_cn"


def naive_export_ban(net, stopped0: np.ndarray) -> tuple[int, int]:
    """Requirements lost and nodes failed, by recomputing everything until nothing changes."""
    req = net.links["req"].to_numpy()
    n_req = net.n_requirements
    size = np.diff(net.req_ptr)
    stopped = stopped0.copy()
    while True:
        lost = np.bincount(req, weights=stopped, minlength=n_req) == size
        failed = np.zeros(net.n_nodes, bool)
        failed[net.req_buyer[lost]] = True
        new = stopped0 | failed[net.link_supplier]
        if (new == stopped).all():
            return int(lost.sum()), int(failed.sum())
        stopped = new


def _child(db: str, wave: int, solve_sample: int, queue) -> None:
    import supplychain as sc
    from supplychain.options import load_options
    from supplychain.risk import _kernels  # noqa: F401  (compiled before timing)
    from supplychain.risk.foreign import cached_trace, exposure_by_linear_solve

    con = sc.connect(db, read_only=True)
    rows = step = Steps()

    net = step("graph build (DuckDB -> arrays)", lambda: sc.supply_network(con, wave=wave), lambda n: len(n.links))
    # compile the kernels on the sample-sized network of the first program before timing
    small = sc.supply_network(con, wave=wave, program=net.programs["program_id"].iloc[0])
    sc.risk.country_concentration(con, network=small)
    sc.scenario.export_ban(con, network=small, country="CN")
    options = load_options()
    tr = step("trace: origins, cycles, weights", lambda: cached_trace(con, net, options), lambda t: len(t.kind))
    fe = step("exposure, all programs and countries", lambda: sc.risk.foreign_exposure(con, network=net))
    step("country mix of every part (HHI)", lambda: sc.risk.country_concentration(con, network=net))
    preset = {k: v for k, v in sc.scenario.PRESETS[PRESET].items() if k not in ("kind", "description")}
    times = []
    for _ in range(5):
        t = time.perf_counter()
        res = sc.scenario.export_ban(con, network=net, **preset)
        times.append(time.perf_counter() - t)
    rows.append(
        {
            "step": f"export ban {PRESET} (median of 5)",
            "seconds": float(np.median(times)),
            "rows": res.summary["links_stopped"],
            "peak_mb": _hwm_mb(),
        }
    )
    everything = {"country": "CN"}
    t = time.perf_counter()
    res_all = sc.scenario.export_ban(con, network=net, **everything)
    rows.append(
        {
            "step": "export ban of all goods from CN",
            "seconds": time.perf_counter() - t,
            "rows": res_all.summary["links_stopped"],
            "peak_mb": _hwm_mb(),
        }
    )

    # the textbook ways, last
    biggest = fe.groupby("country")["exposure"].sum().sort_values(ascending=False).index[:solve_sample]
    chosen = [int(np.flatnonzero(tr.countries == c)[0]) for c in biggest]
    t = time.perf_counter()
    solved = exposure_by_linear_solve(tr, countries=chosen)
    solve_per_country = (time.perf_counter() - t) / len(chosen)
    table = fe.pivot(index="program", columns="country", values="exposure").reindex(net.programs["program_id"]).fillna(0.0)
    diff = max(float(np.abs(table[c].to_numpy() - solved[:, i]).max()) for c, i in zip(biggest, chosen))
    # the naive ban from the same first stops
    from supplychain.scenario import _part_scope, first_stops

    located, only = first_stops(net, tr, "CN", _part_scope(net, preset["parts"], options)[net.links["part"].to_numpy()])
    first = located | only
    t = time.perf_counter()
    naive_lost, naive_failed = naive_export_ban(net, first)
    naive_ban = time.perf_counter() - t
    queue.put(
        {
            "rows": rows,
            "companies": len(net.companies),
            "nodes": net.n_nodes,
            "links": len(net.links),
            "countries": len(tr.countries),
            "solve_per_country": solve_per_country,
            "solve_countries": len(chosen),
            "solve_max_diff": diff,
            "ban": res.summary,
            "ban_all": res_all.summary,
            "naive_ban_seconds": naive_ban,
            "naive_ban": (naive_lost, naive_failed),
        }
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", choices=["national", "economy"], default="national")
    ap.add_argument("--solve-sample", type=int, default=3, help="countries solved the textbook way (extrapolated to all)")
    ap.add_argument("--no-screening", action="store_true", help="skip the screening benchmark")
    args = ap.parse_args()
    db = ensure_database(args.scale)
    wave = latest_wave(db)
    out = run_child(_child, str(db), wave, args.solve_sample)
    print(header("foreign-dependency", args.scale))
    print(
        f"network: {out['companies']:,} companies, {out['nodes']:,} (program, company) nodes, {out['links']:,} links, "
        f"{out['countries']} countries (unknown included), wave {wave}"
    )
    print(f"export ban {PRESET}: {out['ban']}")
    print(f"export ban of all goods from CN: {out['ban_all']}")
    print()
    print("| step | seconds | rows | peak MB (process so far) | naive time ÷ this time |")
    print("|---|---:|---:|---:|---:|")
    solve_all = out["solve_per_country"] * out["countries"]
    for r in out["rows"]:
        ratio = ""
        if r["step"].startswith("exposure"):
            ratio = f"{solve_all / r['seconds']:,.1f}"
        if r["step"].startswith("export ban " + PRESET):
            ratio = f"{out['naive_ban_seconds'] / r['seconds']:,.1f}"
        print(f"| {r['step']} | {r['seconds']:.3f} | {r['rows']:,} | {r['peak_mb']:,.0f} | {ratio} |")
    print(
        f"| textbook exposure: sparse linear solve per country, {out['solve_countries']} countries, "
        f"extrapolated to {out['countries']} | {solve_all:.2f} | | | 1 |"
    )
    print(
        f"| export ban as a vectorised fixpoint (recompute all requirements until nothing changes) | {out['naive_ban_seconds']:.3f} | | | 1 |"
    )
    print(f"\nlargest difference between the one-pass and the solved exposures: {out['solve_max_diff']:.2e}")
    lost, failed = out["naive_ban"]
    same = lost == out["ban"]["parts_lost"] and failed == out["ban"]["buyers_lost"]
    print(f"naive export ban: {lost:,} parts lost, {failed:,} nodes failed — {'same as' if same else 'DIFFERS from'} the cascade")
    if not args.no_screening:
        print()
        import screening

        screening.run()


if __name__ == "__main__":
    main()
