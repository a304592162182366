"""Graph benchmark: build, sourcing, hidden convergence, criticality sweep and ESRI over every
company, at the national and economy scales, with the naive way measured in the same run.

    python benchmarks/graph.py --scale national
    python benchmarks/graph.py --scale economy          # ingests once (~7 min), then reuses the database

The returns of benchmarks/ingest.py (benchmarks/data/<scale>/) are ingested once into
benchmarks/data/<scale>.duckdb and reused. Every analysis runs in one child process; after each
step the child reads its resident-memory high-water mark (VmHWM), so "peak MB" is the peak of the
process up to and including that step, DuckDB's and numba's native memory included.

The naive way is what an analyst would write with networkx: for a sample of companies, remove the
company, then repeatedly remove every buyer left without a supplier for one of its parts, until
nothing changes; its time per company is extrapolated to all companies and compared with the
sweep. (Above 100 programs — the economy scale — the networkx graph is built for a random 100
programs only, and the time per company scaled up by the ratio of links.) ESRI's naive counterpart is the specification read literally (every firm updated at every
step, as sparse matrix products), on a sample, extrapolated the same way.

Targets on a 2-core machine (issue 3): national — every analysis but ESRI ≤ 2 s, peak ≤ 1 GB;
economy — graph build ≤ 5 s, criticality sweep over all companies ≤ 10 s, peak ≤ 4 GB, sweep
≥ 1,000× faster than the naive way; ESRI for every company ≤ 30 min at economy scale.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import platform
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def _hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Steps(list):
    """Timed steps of a benchmark: ``steps(name, fn, n_rows=len)`` runs ``fn`` and appends its
    seconds, ``n_rows(result)`` and this process's peak resident memory so far; returns the result."""

    def __call__(self, name, fn, n_rows=len):
        t = time.perf_counter()
        out = fn()
        seconds = time.perf_counter() - t
        self.append({"step": name, "seconds": seconds, "rows": n_rows(out), "peak_mb": _hwm_mb()})
        return out


def print_steps(rows, ratio=lambda row: "") -> None:
    """The steps of a :class:`Steps` run as a Markdown table; ``ratio(row)`` fills the last
    column (naive time ÷ this time) where there is a naive baseline."""
    print("| step | seconds | rows | peak MB (process so far) | naive time ÷ this time |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['step']} | {r['seconds']:.2f} | {r['rows']:,} | {r['peak_mb']:,.0f} | {ratio(r)} |")


def naive_criticality(net, roots) -> list[tuple[int, int]]:
    """Remove each root from a networkx graph and recompute which buyers are left without a
    part, until nothing changes: (requirements lost, companies failed) per root."""
    import networkx as nx

    g = nx.DiGraph()
    link_req = net.links["req"].to_numpy()
    for link, r in enumerate(link_req.tolist()):
        g.add_edge(("n", int(net.link_supplier[link])), ("r", r))
    for r, b in enumerate(net.req_buyer.tolist()):
        g.add_edge(("r", r), ("n", b))
    out = []
    for root in roots:
        h = g.copy()
        failed = {("n", int(n)) for n in net.company_node[net.company_ptr[root] : net.company_ptr[root + 1]]}
        h.remove_nodes_from(failed)
        lost = 0
        while True:
            dead = [v for v in h if v[0] == "r" and h.in_degree(v) == 0]
            if not dead:
                break
            lost += len(dead)
            buyers = {w for v in dead for w in h.successors(v)}
            h.remove_nodes_from(dead)
            h.remove_nodes_from(buyers)
            failed |= buyers
        out.append((lost, len({int(net.node_company[n]) for _, n in failed}) - 1))
    return out


def naive_esri(con, wave, companies, tolerance=0.01) -> float:
    """Seconds per company of the specification read literally: all firms updated every step."""
    import pandas as pd
    from scipy import sparse

    from supplychain.risk.esri import esri_links

    links = esri_links(con, wave=wave)
    links = links[links["w"] > 0]
    ids = pd.Index(pd.unique(pd.concat([links["supplier_id"], links["buyer_id"]])))
    n = len(ids)
    j, i = ids.get_indexer(links["supplier_id"]), ids.get_indexer(links["buyer_id"])
    w = links["w"].to_numpy()
    kind = links["substitutability"].map({"no": 0, "conditional": 1, "yes": 2}).fillna(1).to_numpy()
    s_out, s_in = np.bincount(j, w, n), np.bincount(i, w, n)
    grp, grp_of = np.unique(i * 10_000_000 + pd.factorize(links["part_id"])[0], return_inverse=True)
    a = w / np.bincount(grp_of, w)[grp_of]
    b = w / s_in[i]
    mk, mk_of = np.unique(j * 1_000_000 + pd.factorize(links["market"])[0], return_inverse=True)
    sales = np.bincount(mk_of, w)
    market = pd.factorize(links["market"])[0]
    seller_market = mk % 1_000_000
    seller = mk // 1_000_000
    up = sparse.csr_matrix((np.divide(w, s_out[j]), (j, i)), shape=(n, n))
    t = time.perf_counter()
    for r in companies:
        hd, hu = np.ones(n), np.ones(n)
        psi = np.ones(n)
        psi[r] = 0
        while True:
            volume = np.bincount(seller_market, sales * hd[seller])
            sigma = np.minimum(1, np.divide(sales[mk_of], volume[market], out=np.ones(len(w)), where=volume[market] > 0))
            gone = 1 - hd[j]
            ess = np.bincount(grp_of, np.where(kind == 0, a * sigma * gone, 0), len(grp))
            max_l = np.zeros(n)
            np.maximum.at(max_l, grp // 10_000_000, ess)
            non = np.bincount(i, np.where(kind == 1, b * sigma * gone, 0), n)
            new_hd = np.minimum(np.minimum(1 - max_l, 1 - non), psi)
            new_hu = np.where(s_out > 0, np.minimum(up @ hu, psi), psi)
            change = max(np.abs(new_hd - hd).max(), np.abs(new_hu - hu).max())
            hd, hu = new_hd, new_hu
            if change <= tolerance:
                break
    return (time.perf_counter() - t) / len(companies)


def _child(db: str, wave: int, naive_sample: int, naive_programs: int, esri_sample: int | None, queue) -> None:
    import supplychain as sc
    from supplychain.graph import quality_findings
    from supplychain.risk.esri import esri
    from supplychain.risk.propagation import criticality, hidden_convergence, sweep

    con = sc.connect(db, read_only=True)
    rows = step = Steps()

    # compile the kernels on a tiny network first, so the timings are of the work
    from supplychain.risk import _kernels  # noqa: F401

    net = step("graph build (DuckDB -> arrays)", lambda: sc.supply_network(con, wave=wave), lambda n: len(n.links))
    sweep(net, np.arange(1))
    step("sourcing (SQL)", lambda: sc.risk.sourcing(con, wave=wave))
    step("tiers, cycles, tier findings", lambda: quality_findings(net))
    hc = step("hidden convergence, all parts", lambda: hidden_convergence(network=net))
    crit = step("criticality sweep, all companies", lambda: criticality(network=net))
    rng = np.random.default_rng(0)
    if esri_sample:
        ids = rng.choice(len(net.companies), size=min(esri_sample, len(net.companies)), replace=False)
        sub = net.companies["company_id"].to_numpy(object)[ids]
        e = step(f"ESRI, {len(sub):,} companies (sample)", lambda: esri(con, wave=wave, companies=list(sub)))
    else:
        e = step("ESRI, all companies", lambda: esri(con, wave=wave))
    # the naive ways last, so that their memory does not count in the steps above. A networkx
    # graph of a whole economy does not fit in memory comfortably (13 GB and growing when tried),
    # so above naive_programs programs it runs on a random subset of programs and its time per
    # company is scaled by the ratio of links (each recomputation walks the whole graph).
    programs = net.programs["program_id"].to_numpy(object)
    scale = 1.0
    naive_net = net
    if len(programs) > naive_programs:
        chosen = sorted(rng.choice(programs, size=naive_programs, replace=False).tolist())
        naive_net = sc.supply_network(con, wave=wave, program=chosen)
        scale = len(net.links) / len(naive_net.links)
    roots = rng.choice(len(naive_net.companies), size=min(naive_sample, len(naive_net.companies)), replace=False)
    t = time.perf_counter()
    naive_criticality(naive_net, roots)
    naive_per = (time.perf_counter() - t) / len(roots) * scale
    esri_naive_per = naive_esri(con, wave, rng.choice(len(net.companies), size=3, replace=False))
    queue.put(
        {
            "rows": rows,
            "companies": len(net.companies),
            "nodes": net.n_nodes,
            "links": len(net.links),
            "hidden": len(hc),
            "crit_top": crit.head(3)[["company", "programs_lost", "buyers_lost"]].to_dict("records"),
            "naive_per_company": naive_per,
            "naive_sample": len(roots),
            "naive_links": len(naive_net.links),
            "esri_companies": len(e),
            "esri_naive_per_company": esri_naive_per,
            "esri_steps_mean": float(e["steps"].mean()),
        }
    )


def latest_wave(db: Path) -> int:
    """The latest wave of the database ``db`` (opened read-only and closed again)."""
    import supplychain as sc

    con = sc.connect(db, read_only=True)
    try:
        return con.sql("SELECT max(wave) FROM survey_wave").fetchall()[0][0]
    finally:
        con.close()


def run_child(target, *args):
    """``target(*args, queue)`` in a fresh (spawned) process, so its peak memory is its own;
    returns what it puts on the queue, or exits when the child fails."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    p = ctx.Process(target=target, args=(*args, queue))
    p.start()
    out = queue.get()
    p.join()
    if p.exitcode:
        raise SystemExit(f"benchmark child failed with exit code {p.exitcode}")
    return out


def header(title: str, scale: str) -> str:
    """The first line of a benchmark's output: what, at which scale, when, on what machine."""
    return (
        f"# {title} benchmark — scale {scale}, {date.today()}, {platform.node()} ({platform.machine()}, "
        f"{mp.cpu_count()} cores), Python {sys.version.split()[0]}"
    )


def ensure_database(scale: str) -> Path:
    db = HERE / "data" / f"{scale}.duckdb"
    data = HERE / "data" / scale
    if db.exists():
        return db
    if not data.exists():
        raise SystemExit(f"{data} is missing: run `python benchmarks/ingest.py --scale {scale}` first (it generates the returns)")
    return ingest_once(data, db)


def ingest_once(data: Path, db: Path) -> Path:
    """Ingest the returns under ``data`` into ``db`` (written aside and renamed when complete)."""
    import supplychain as sc

    print(f"ingesting {data} into {db} (once) …", flush=True)
    tmp = db.with_suffix(".part")
    tmp.unlink(missing_ok=True)
    con = sc.connect(tmp)
    sc.ingest(con, data)
    con.close()
    tmp.rename(db)
    return db


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", choices=["national", "economy"], default="national")
    ap.add_argument("--naive-sample", type=int, default=10, help="companies run the naive way (extrapolated)")
    ap.add_argument(
        "--naive-programs", type=int, default=100, help="above this many programs, the naive way runs on a random subset of them"
    )
    ap.add_argument(
        "--esri-sample",
        type=int,
        default=None,
        help="ESRI for this many random companies, extrapolated (default: all companies)",
    )
    args = ap.parse_args()
    db = ensure_database(args.scale)
    wave = latest_wave(db)
    out = run_child(_child, str(db), wave, args.naive_sample, args.naive_programs, args.esri_sample)
    n = out["companies"]
    print(header("graph", args.scale))
    print(f"network: {n:,} companies, {out['nodes']:,} (program, company) nodes, {out['links']:,} links, wave {wave}")
    print(f"hidden convergences found: {out['hidden']:,}; top chokepoints: {out['crit_top']}")
    print()
    print("| step | seconds | rows | peak MB (process so far) | naive time ÷ this time |")
    print("|---|---:|---:|---:|---:|")
    for r in out["rows"]:
        ratio = ""
        if r["step"].startswith("criticality"):
            naive_all = out["naive_per_company"] * n
            ratio = f"{naive_all / r['seconds']:,.0f}"
        if r["step"].startswith("ESRI"):
            ratio = f"{out['esri_naive_per_company'] * out['esri_companies'] / r['seconds']:,.1f}"
        print(f"| {r['step']} | {r['seconds']:.2f} | {r['rows']:,} | {r['peak_mb']:,.0f} | {ratio} |")
    naive_all = out["naive_per_company"] * n
    print(
        f"| naive criticality (networkx, remove and recompute), {out['naive_sample']} companies on {out['naive_links']:,} links, "
        f"extrapolated to all companies and links | {naive_all:,.0f} | {n:,} | | 1 |"
    )
    esri_row = next(r for r in out["rows"] if r["step"].startswith("ESRI"))
    if out["esri_companies"] < n:
        per = esri_row["seconds"] / out["esri_companies"]
        print(f"| ESRI extrapolated to all {n:,} companies | {per * n:,.0f} | {n:,} | | |")
    print(
        f"| naive ESRI (every firm updated every step), 3 companies, extrapolated to all "
        f"| {out['esri_naive_per_company'] * n:,.0f} | {n:,} | | 1 |"
    )
    print(f"\nESRI cascades settled in {out['esri_steps_mean']:.1f} steps on average")


if __name__ == "__main__":
    main()
