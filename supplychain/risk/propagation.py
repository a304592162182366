"""What fails when one company fails, under the AND/OR rule — criticality (DESIGN §5.3) and
hidden convergence (§5.2).

The rule (DESIGN §4): a company's failure removes it from every program; a requirement (program,
buyer, part) is lost when every supplier of the part has failed; a buyer fails in a program when
any of its requirements there is lost, and its deliveries in that program stop. Plain
reachability overstates a multi-sourced part's exposure and misses nothing else; this rule is
exact for the bill-of-materials reading of the survey.

Both analyses come from one sweep that fails every company alone, exactly (no sampling), in
compiled code (:func:`~supplychain.risk._kernels.failure_sweep`): each company costs only the
part of the network its failure reaches.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..graph import SupplyNetwork, supply_network

__all__ = ["criticality", "hidden_convergence", "sweep"]

ARROW = " → "


def sweep(net: SupplyNetwork, roots: np.ndarray | None = None, *, convergence: bool = False) -> dict:
    """Run the failure sweep over ``roots`` (company indices; all companies by default); the raw
    arrays of :func:`~supplychain.risk._kernels.failure_sweep` by name."""
    from ._kernels import failure_sweep

    n_comp = len(net.companies)
    roots = np.arange(n_comp, dtype=np.int64) if roots is None else np.asarray(roots, dtype=np.int64)
    value = net.links["annual_value_jpy"].to_numpy(dtype="float64", na_value=0.0)
    node_value = np.bincount(net.link_supplier, weights=np.nan_to_num(value), minlength=net.n_nodes)
    node_program_lost = np.full(net.n_nodes, -1, np.int64)
    primes = net.programs["prime_node"].to_numpy()
    has = primes >= 0
    node_program_lost[primes[has]] = np.flatnonzero(has)
    program_value = net.programs["annual_value_jpy"].to_numpy(dtype="float64", na_value=0.0)
    out = failure_sweep(
        roots,
        net.company_ptr,
        net.company_node,
        net.supplies_ptr,
        net.supplies_link,
        net.links["req"].to_numpy(np.int64),
        net.req_ptr,
        net.link_supplier,
        net.req_buyer,
        net.node_company,
        node_value,
        node_program_lost,
        program_value,
        convergence,
    )
    names = (
        "parts_lost",
        "buyers_lost",
        "programs_lost",
        "value_lost",
        "program_value_lost",
        "path_ptr",
        "path_node",
        "conv_req",
        "conv_root",
        "conv_ptr",
        "conv_node",
    )
    return dict(zip(names, out), roots=roots)


def _network(con, wave, program, network):
    if network is not None:
        return network
    return supply_network(con, wave=wave, program=program)


def criticality(con=None, *, wave: int | None = None, program=None, network: SupplyNetwork | None = None) -> pd.DataFrame:
    """For every company: what is lost if it alone fails, under the AND/OR rule, across all
    programs at once (or the programs named), ranked.

    Columns: ``rank``, ``company`` (corporate number, else internal id), ``company_name``,
    ``country``, ``programs_lost`` (programs whose prime fails), ``buyers_lost`` (other companies
    that fail in at least one program), ``parts_lost`` (requirements — program, buyer, part —
    left with no supplier), ``value_lost`` (yen a year of deliveries that stop, the company's
    own included), ``program_value_lost`` (annual value of the programs lost), ``path`` (the
    evidence: the company, then each company whose failure it causes, to the first prime lost
    or else the last company to fail, supplier → buyer) and ``path_program``.

    Sorted by programs lost, their value, buyers lost, parts lost, value lost (all descending),
    then company. Pass ``network`` (from :func:`~supplychain.graph.supply_network`) to reuse one.
    """
    net = _network(con, wave, program, network)
    s = sweep(net)
    comp = net.companies
    labels = net.node_labels()
    program_ids = net.programs["program_id"].to_numpy(object)
    ptr, nodes = s["path_ptr"], s["path_node"]
    path = join_paths(labels, ptr, nodes)
    path_program = np.full(len(comp), None, dtype=object)
    rows = np.flatnonzero(np.diff(ptr) > 0)
    path_program[rows] = program_ids[net.node_program[nodes[ptr[rows]]]]
    out = pd.DataFrame(
        {
            "company": comp["label"].to_numpy(object),
            "company_name": comp["name"].to_numpy(object),
            "country": comp["country"].to_numpy(object),
            "programs_lost": s["programs_lost"],
            "buyers_lost": s["buyers_lost"],
            "parts_lost": s["parts_lost"],
            "value_lost": s["value_lost"],
            "program_value_lost": s["program_value_lost"],
            "path": path,
            "path_program": path_program,
        }
    )
    keys = ["programs_lost", "program_value_lost", "buyers_lost", "parts_lost", "value_lost"]
    out = out.iloc[descending_then_label([out[k].to_numpy() for k in keys], out["company"].to_numpy())]
    out = out.reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out


def join_paths(labels: np.ndarray, ptr: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    """Evidence paths as text, one per row of a CSR list of chains (row ``k``: the nodes
    ``nodes[ptr[k]:ptr[k + 1]]``): the nodes' ``labels`` joined by :data:`ARROW`; None for a row
    without a chain. One Arrow kernel over all chains, not a Python join per row.

    >>> join_paths(np.array(["A", "B", "C"], dtype=object), np.array([0, 2, 2, 3]), np.array([0, 1, 2])).tolist()
    ['A → B', None, 'C']
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    path = np.full(len(ptr) - 1, None, dtype=object)
    rows = np.flatnonzero(np.diff(ptr) > 0)
    if len(rows):
        chains = pa.LargeListArray.from_arrays(pa.array(np.asarray(ptr, np.int64)), pa.array(labels[nodes].tolist(), pa.string()))
        path[rows] = pc.binary_join(chains, ARROW).to_numpy(zero_copy_only=False)[rows]
    return path


def descending_then_label(keys: list[np.ndarray], labels: np.ndarray) -> np.ndarray:
    """Row positions ordered by each of ``keys`` descending (NaN last), then by ``labels``
    ascending; ties keep their order. What pandas' ``sort_values(keys + [label], ascending=[False,
    ..., True], kind="stable")`` gives, by one ``np.lexsort`` over numbers and fixed-width text
    (for a million companies 0.9 s instead of 2.6 s).

    >>> descending_then_label([np.array([1, 2, 1, 2])], np.array(["b", "z", "a", "y"], dtype=object)).tolist()
    [3, 1, 2, 0]
    """
    return np.lexsort((np.array(labels.tolist(), dtype=str), *(_negated(k) for k in reversed(keys))))


def _negated(values) -> np.ndarray:
    values = np.asarray(values)
    if values.dtype.kind in "iub":
        return -values.astype(np.int64)  # exact, where a float would round above 2**53
    return -values.astype(float)


def hidden_convergence(con=None, *, wave: int | None = None, program=None, network: SupplyNetwork | None = None) -> pd.DataFrame:
    """Parts that look multi-sourced but are lost when one company fails: the false dual source.

    One row per (program, buyer, part, via_company) where the part has two or more suppliers
    and the failure of ``via_company`` alone leaves it with none (AND/OR rule). ``paths`` holds,
    for each apparent alternative supplier, the chain of failures from ``via_company`` through it
    to the buyer (supplier → buyer); ``path`` is the same as text, chains separated by `` | ``.
    ``direct`` is true when ``via_company`` is itself one of the part's suppliers (the other
    suppliers depend on it).

    Columns: ``program``, ``buyer``, ``buyer_name``, ``part`` (as reported), ``part_id``, ``n_suppliers``,
    ``via_company``, ``via_company_name``, ``direct``, ``path``, ``paths``; sorted by program,
    buyer, part, via_company.
    """
    net = _network(con, wave, program, network)
    s = sweep(net, convergence=True)
    labels = net.node_labels()
    comp = net.companies
    program_ids = net.programs["program_id"].to_numpy(object)
    req, root, ptr, flat = s["conv_req"], s["conv_root"], s["conv_ptr"], s["conv_node"]
    buyer_node = net.req_buyer[req]
    paths = []
    for k, buyer in enumerate(labels[buyer_node].tolist()):
        seq = flat[ptr[k] : ptr[k + 1]]
        ends = np.flatnonzero(seq < 0)
        starts = np.concatenate([[0], ends[:-1] + 1])
        paths.append([[*labels[seq[a:b]].tolist(), buyer] for a, b in zip(starts.tolist(), ends.tolist())])
    out = pd.DataFrame(
        {
            "program": program_ids[net.node_program[buyer_node]],
            "buyer": labels[buyer_node],
            "buyer_name": comp["name"].to_numpy(object)[net.node_company[buyer_node]],
            "part": net.part_names(net.req_part[req]),
            "part_id": net.part_ids(net.req_part[req]),
            "n_suppliers": net.req_ptr[req + 1] - net.req_ptr[req],
            "via_company": comp["label"].to_numpy(object)[root],
            "via_company_name": comp["name"].to_numpy(object)[root],
            "direct": [any(len(chain) == 2 for chain in p) for p in paths],
            "path": [" | ".join(ARROW.join(chain) for chain in p) for p in paths],
            "paths": paths,
        }
    )
    return out.sort_values(["program", "buyer", "part_id", "via_company"], kind="stable", ignore_index=True)
