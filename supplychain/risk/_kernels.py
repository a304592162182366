"""Compiled kernels (numba) of the failure analyses: loops over nodes live here and only here.

Each kernel works on the CSR arrays of :class:`~supplychain.graph.SupplyNetwork`; the pure
Python reading of the same rules is in the tests, as the second method the kernels are checked
against.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _grow(buf, n):
    """``buf`` with room for at least one more item after ``n``."""
    if n < buf.shape[0]:
        return buf
    bigger = np.empty(max(16, 2 * buf.shape[0]), buf.dtype)
    bigger[:n] = buf[:n]
    return bigger


@njit(cache=True)
def _append_chain(buf, n, start, parent, chain):
    """Append to ``buf`` (filled up to ``n``) the chain of failures from the root to ``start``,
    following ``parent`` back and writing it root first; (buf, new n)."""
    length = 0
    at = start
    while at >= 0:
        chain[length] = at
        length += 1
        at = parent[at]
    for i in range(length - 1, -1, -1):
        buf = _grow(buf, n)
        buf[n] = chain[i]
        n += 1
    return buf, n


@njit(cache=True)
def failure_sweep(
    roots,  # companies to fail, one at a time
    company_ptr,
    company_node,
    supplies_ptr,
    supplies_link,
    link_req,
    req_ptr,
    link_supplier,
    req_buyer,
    node_company,
    node_value,  # yen of deliveries of each node (sum of its links' annual value)
    node_program_lost,  # program index when the node is its program's prime, else -1
    program_value,
    convergence,  # record the lost requirements with two suppliers or more
):
    """Fail each root company alone (all its nodes) and propagate under the AND/OR rule.

    A requirement is lost when all its suppliers have failed (a counter of suppliers left per
    requirement, set lazily per root by an epoch stamp, so a root costs only what it touches);
    a buyer node fails when one of its requirements is lost. Each node and requirement is
    handled at most once per root, so cycles end.

    Returns per root: requirements lost, other companies failed, programs lost, yen of
    deliveries stopped, yen of programs lost, and an evidence path (root node first, then
    each node whose failure it caused, to the first prime lost or else the last node to fail),
    as CSR (``path_ptr``, ``path_node``). With ``convergence``, also every lost requirement
    with two or more suppliers (requirement, root) and, for each, the chain from the root to
    each of its suppliers (CSR over records, suppliers separated by -1).
    """
    n_nodes = node_company.shape[0]
    n_req = req_buyer.shape[0]
    n_comp = company_ptr.shape[0] - 1
    n_roots = roots.shape[0]
    left = np.zeros(n_req, np.int64)
    req_epoch = np.full(n_req, -1, np.int64)
    node_epoch = np.full(n_nodes, -1, np.int64)
    company_epoch = np.full(n_comp, -1, np.int64)
    parent = np.full(n_nodes, -1, np.int64)
    queue = np.empty(n_nodes, np.int64)
    parts_lost = np.zeros(n_roots, np.int64)
    buyers_lost = np.zeros(n_roots, np.int64)
    programs_lost = np.zeros(n_roots, np.int64)
    value_lost = np.zeros(n_roots, np.float64)
    program_value_lost = np.zeros(n_roots, np.float64)
    path_ptr = np.zeros(n_roots + 1, np.int64)
    path_node = np.empty(16, np.int64)
    n_path = 0
    conv_req = np.empty(16, np.int64)
    conv_root = np.empty(16, np.int64)
    conv_ptr = np.zeros(17, np.int64)
    conv_node = np.empty(16, np.int64)
    n_conv = 0
    n_conv_node = 0
    chain = np.empty(n_nodes, np.int64)
    for k in range(n_roots):
        root = roots[k]
        head = 0
        tail = 0
        company_epoch[root] = k
        for j in range(company_ptr[root], company_ptr[root + 1]):
            node = company_node[j]
            node_epoch[node] = k
            parent[node] = -1
            queue[tail] = node
            tail += 1
        target = -1
        while head < tail:
            node = queue[head]
            head += 1
            value_lost[k] += node_value[node]
            p = node_program_lost[node]
            if p >= 0:
                programs_lost[k] += 1
                program_value_lost[k] += program_value[p]
                if target < 0:
                    target = node
            for j in range(supplies_ptr[node], supplies_ptr[node + 1]):
                r = link_req[supplies_link[j]]
                if req_epoch[r] != k:
                    req_epoch[r] = k
                    left[r] = req_ptr[r + 1] - req_ptr[r]
                left[r] -= 1
                if left[r] != 0:
                    continue
                parts_lost[k] += 1
                buyer = req_buyer[r]
                if node_epoch[buyer] != k:
                    node_epoch[buyer] = k
                    parent[buyer] = node
                    queue[tail] = buyer
                    tail += 1
                    c = node_company[buyer]
                    if company_epoch[c] != k:
                        company_epoch[c] = k
                        buyers_lost[k] += 1
                if convergence and req_ptr[r + 1] - req_ptr[r] >= 2:
                    conv_req = _grow(conv_req, n_conv)
                    conv_root = _grow(conv_root, n_conv)
                    conv_ptr = _grow(conv_ptr, n_conv + 1)
                    conv_req[n_conv] = r
                    conv_root[n_conv] = root
                    for m in range(req_ptr[r], req_ptr[r + 1]):
                        # the chain root -> ... -> this supplier, then a separator
                        conv_node, n_conv_node = _append_chain(conv_node, n_conv_node, link_supplier[m], parent, chain)
                        conv_node = _grow(conv_node, n_conv_node)
                        conv_node[n_conv_node] = -1
                        n_conv_node += 1
                    n_conv += 1
                    conv_ptr[n_conv] = n_conv_node
        if tail > company_ptr[root + 1] - company_ptr[root]:
            if target < 0:
                target = queue[tail - 1]
            path_node, n_path = _append_chain(path_node, n_path, target, parent, chain)
        elif target >= 0:  # a prime whose failure stops its program and nothing else
            path_node = _grow(path_node, n_path)
            path_node[n_path] = target
            n_path += 1
        path_ptr[k + 1] = n_path
    return (
        parts_lost,
        buyers_lost,
        programs_lost,
        value_lost,
        program_value_lost,
        path_ptr,
        path_node[:n_path],
        conv_req[:n_conv],
        conv_root[:n_conv],
        conv_ptr[: n_conv + 1],
        conv_node[:n_conv_node],
    )


@njit(cache=True)
def esri_sweep(
    roots,
    n_firms,
    out_ptr,  # supplier -> its links (CSR over links sorted by supplier)
    out_buyer,
    out_group,  # (buyer, part) group of the link
    out_kind,  # 0 essential, 1 non-essential, 2 non-propagating
    out_a,  # w / buyer's purchases of the part
    out_b,  # w / buyer's purchases of everything
    out_sm,  # (seller, market) pair of the link
    in_ptr,  # buyer -> its links (CSR over links sorted by buyer)
    in_supplier,
    in_share,  # w / supplier's sales of everything
    group_buyer,
    sm_sales,  # seller's sales in the market
    sm_market,
    firm_sm_ptr,  # firm -> its (seller, market) pairs
    firm_sm,
    market_volume,  # sum of the sellers' sales in each market
    s_out,
    tolerance,
    max_steps,
):
    """ESRI of each root (Diem et al. 2022, as specified in :mod:`supplychain.risk.esri`).

    The cascades are computed by pushing losses from the damaged firms only: a firm none of
    whose suppliers (customers) is damaged has h_d (h_u) = ψ, so each step costs the degrees of
    the damaged firms, not the size of the network. Returns (esri, steps) per root.

    The "add to a list once" steps are written out where they are used: moved into a helper
    function they made the whole sweep 60 % slower (numba 0.68, measured at national scale).
    """
    n_groups = group_buyer.shape[0]
    hd = np.ones(n_firms)
    hu = np.ones(n_firms)
    new_hd = np.ones(n_firms)
    new_hu = np.ones(n_firms)
    volume = market_volume.copy()
    loss_g = np.zeros(n_groups)
    max_l = np.zeros(n_firms)
    loss_n = np.zeros(n_firms)
    loss_u = np.zeros(n_firms)
    touched_g = np.empty(n_groups, np.int64)
    g_mark = np.zeros(n_groups, np.bool_)
    # firms whose h_d / h_u is below 1, and the firms a step touches
    dam_d = np.empty(n_firms, np.int64)
    dam_u = np.empty(n_firms, np.int64)
    cand = np.empty(2 * n_firms + 1, np.int64)
    c_mark = np.zeros(n_firms, np.bool_)
    total_out = s_out.sum()
    esri = np.zeros(roots.shape[0])
    steps = np.zeros(roots.shape[0], np.int64)
    for k in range(roots.shape[0]):
        r = roots[k]
        n_d = 0
        n_u = 0
        step = 0
        while True:
            step += 1
            # --- losses pushed from the damaged firms (values of the previous step)
            n_c = 0
            n_tg = 0
            for t in range(n_d):
                j = dam_d[t]
                gone = 1.0 - hd[j]
                for e in range(out_ptr[j], out_ptr[j + 1]):
                    kind = out_kind[e]
                    if kind == 2:
                        continue
                    sm = out_sm[e]
                    v = volume[sm_market[sm]]
                    sigma = 1.0 if v <= 0.0 else min(1.0, sm_sales[sm] / v)
                    i = out_buyer[e]
                    if kind == 0:
                        g = out_group[e]
                        loss_g[g] += out_a[e] * sigma * gone
                        if not g_mark[g]:
                            g_mark[g] = True
                            touched_g[n_tg] = g
                            n_tg += 1
                    else:
                        loss_n[i] += out_b[e] * sigma * gone
                    if not c_mark[i]:
                        c_mark[i] = True
                        cand[n_c] = i
                        n_c += 1
            for t in range(n_u):
                u = dam_u[t]
                gone = 1.0 - hu[u]
                for e in range(in_ptr[u], in_ptr[u + 1]):
                    i = in_supplier[e]
                    loss_u[i] += in_share[e] * gone
                    if not c_mark[i]:
                        c_mark[i] = True
                        cand[n_c] = i
                        n_c += 1
            for t in range(n_tg):
                g = touched_g[t]
                i = group_buyer[g]
                if loss_g[g] > max_l[i]:
                    max_l[i] = loss_g[g]
            # every firm whose value may change: the touched, the damaged, the root
            for t in range(n_d):
                i = dam_d[t]
                if not c_mark[i]:
                    c_mark[i] = True
                    cand[n_c] = i
                    n_c += 1
            for t in range(n_u):
                i = dam_u[t]
                if not c_mark[i]:
                    c_mark[i] = True
                    cand[n_c] = i
                    n_c += 1
            if not c_mark[r]:
                c_mark[r] = True
                cand[n_c] = r
                n_c += 1
            # --- the new values (synchronous: all from the previous step's)
            change = 0.0
            for t in range(n_c):
                i = cand[t]
                psi = 0.0 if i == r else 1.0
                d = min(1.0 - max_l[i], 1.0 - loss_n[i], psi)
                u = min(1.0 - loss_u[i], psi) if s_out[i] > 0 else psi
                new_hd[i] = d
                new_hu[i] = u
                change = max(change, abs(d - hd[i]), abs(u - hu[i]))
            # --- apply, keep the market volumes and the damaged lists up to date
            n_d = 0
            n_u = 0
            for t in range(n_c):
                i = cand[t]
                if new_hd[i] != hd[i]:
                    for q in range(firm_sm_ptr[i], firm_sm_ptr[i + 1]):
                        sm = firm_sm[q]
                        volume[sm_market[sm]] += sm_sales[sm] * (new_hd[i] - hd[i])
                hd[i] = new_hd[i]
                hu[i] = new_hu[i]
                if hd[i] < 1.0:
                    dam_d[n_d] = i
                    n_d += 1
                if hu[i] < 1.0:
                    dam_u[n_u] = i
                    n_u += 1
                max_l[i] = 0.0
                loss_n[i] = 0.0
                loss_u[i] = 0.0
                c_mark[i] = False
            for t in range(n_tg):
                g = touched_g[t]
                loss_g[g] = 0.0
                g_mark[g] = False
            if change <= tolerance or step >= max_steps:
                break
        # --- the index, then reset what this root touched
        lost = 0.0
        for t in range(n_c):
            i = cand[t]
            h = min(hd[i], hu[i])
            lost += s_out[i] * (1.0 - h)
        esri[k] = lost / total_out if total_out > 0 else 0.0
        steps[k] = step
        for t in range(n_c):
            i = cand[t]
            if hd[i] != 1.0:
                for q in range(firm_sm_ptr[i], firm_sm_ptr[i + 1]):
                    m = sm_market[firm_sm[q]]
                    volume[m] = market_volume[m]  # exactly, not by adding back
            hd[i] = 1.0
            hu[i] = 1.0
    return esri, steps


@njit(cache=True)
def exposure_flow(node_req_ptr, req_ptr, link_supplier, propagates, req_weight, link_weight, start):
    """Share of each program's need carried by each link (foreign dependency, top-down pass).

    ``start`` holds 1 at each program's prime. In topological order from the primes (a buyer
    before its suppliers, over the links that ``propagates``), a node's share is split over its
    requirements by ``req_weight`` and over each requirement's suppliers by ``link_weight``; a
    link that propagates passes its share on to its supplier. The propagating links must be
    acyclic (cycles are cut beforehand).

    Returns (flow per link, the topological order of the nodes).
    """
    n_nodes = node_req_ptr.shape[0] - 1
    n_links = link_supplier.shape[0]
    indegree = np.zeros(n_nodes, np.int64)
    for m in range(n_links):
        if propagates[m]:
            indegree[link_supplier[m]] += 1
    share = start.copy()
    flow = np.zeros(n_links, np.float64)
    order = np.empty(n_nodes, np.int64)
    tail = 0
    for v in range(n_nodes):
        if indegree[v] == 0:
            order[tail] = v
            tail += 1
    head = 0
    while head < tail:
        v = order[head]
        head += 1
        for q in range(node_req_ptr[v], node_req_ptr[v + 1]):
            for m in range(req_ptr[q], req_ptr[q + 1]):
                f = share[v] * req_weight[q] * link_weight[m]
                flow[m] = f
                if propagates[m]:
                    s = link_supplier[m]
                    share[s] += f
                    indegree[s] -= 1
                    if indegree[s] == 0:
                        order[tail] = s
                        tail += 1
    return flow, order[:tail]


@njit(cache=True)
def _requirement_mix(
    q, mix, req_ptr, link_supplier, propagates, link_weight, node_mix, direct_ptr, direct_country, direct_amount
):
    """Fill ``mix`` with the country mix of requirement ``q``: its links' weights times their
    supplier's mix (a link that propagates) or their direct countries."""
    mix[:] = 0.0
    for m in range(req_ptr[q], req_ptr[q + 1]):
        w = link_weight[m]
        if propagates[m]:
            s = link_supplier[m]
            for c in range(mix.shape[0]):
                mix[c] += w * node_mix[s, c]
        else:
            for j in range(direct_ptr[m], direct_ptr[m + 1]):
                mix[direct_country[j]] += w * direct_amount[j]


@njit(cache=True)
def country_mix(
    order,
    node_req_ptr,
    req_ptr,
    link_supplier,
    propagates,
    req_weight,
    link_weight,
    direct_ptr,
    direct_country,
    direct_amount,
    n_countries,
    unknown,
):
    """Traced country mix of every requirement (foreign dependency, bottom-up pass).

    Visiting the nodes in reverse topological ``order`` (suppliers first), the mix of a
    requirement is the ``link_weight``-weighted sum over its links of the supplier's own mix (a
    link that ``propagates``) or the link's direct countries (CSR ``direct_*``); a node's mix is
    the ``req_weight``-weighted sum of its requirements'.

    Returns per requirement: Herfindahl–Hirschman index of the known countries (0–10,000; NaN
    when all unknown), the top known country and its share of the known, the unknown share,
    and the mix as CSR (``mix_ptr``, ``mix_country``, ``mix_share``; by share, descending).
    """
    n_nodes = node_req_ptr.shape[0] - 1
    n_req = req_ptr.shape[0] - 1
    node_mix = np.zeros((n_nodes, n_countries), np.float64)
    hhi = np.full(n_req, np.nan)
    top = np.full(n_req, -1, np.int64)
    top_share = np.full(n_req, np.nan)
    unknown_share = np.zeros(n_req)
    mix_ptr = np.zeros(n_req + 1, np.int64)
    mix = np.zeros(n_countries, np.float64)
    counts = np.zeros(n_req, np.int64)
    # a first pass fills the node mixes; requirement rows are written in requirement order after
    for k in range(order.shape[0] - 1, -1, -1):
        v = order[k]
        for q in range(node_req_ptr[v], node_req_ptr[v + 1]):
            _requirement_mix(
                q, mix, req_ptr, link_supplier, propagates, link_weight, node_mix, direct_ptr, direct_country, direct_amount
            )
            rw = req_weight[q]
            for c in range(n_countries):
                node_mix[v, c] += rw * mix[c]
            known = 0.0
            sq = 0.0
            best = -1
            for c in range(n_countries):
                if c == unknown or mix[c] <= 0.0:
                    continue
                known += mix[c]
                sq += mix[c] * mix[c]
                if best < 0 or mix[c] > mix[best]:
                    best = c
                counts[q] += 1
            unknown_share[q] = mix[unknown]
            if mix[unknown] > 0.0:
                counts[q] += 1
            if known > 0.0:
                hhi[q] = 10000.0 * sq / (known * known)
                top[q] = best
                top_share[q] = mix[best] / known
    # the mixes again, now in requirement order, as CSR
    mix_ptr[1:] = np.cumsum(counts)
    n_mix = mix_ptr[n_req]
    mix_country = np.empty(n_mix, np.int64)
    mix_share = np.empty(n_mix, np.float64)
    for v in range(n_nodes):
        for q in range(node_req_ptr[v], node_req_ptr[v + 1]):
            _requirement_mix(
                q, mix, req_ptr, link_supplier, propagates, link_weight, node_mix, direct_ptr, direct_country, direct_amount
            )
            # the countries present, largest first (insertion sort: a handful per part)
            start = mix_ptr[q]
            end = start
            for c in range(n_countries):
                if mix[c] <= 0.0:
                    continue
                at = end
                while at > start and mix_share[at - 1] < mix[c]:
                    mix_share[at] = mix_share[at - 1]
                    mix_country[at] = mix_country[at - 1]
                    at -= 1
                mix_share[at] = mix[c]
                mix_country[at] = c
                end += 1
    return hhi, top, top_share, unknown_share, mix_ptr, mix_country, mix_share


@njit(cache=True)
def link_cascade(stopped, link_req, req_ptr, req_buyer, supplies_ptr, supplies_link, link_supplier):
    """Links ``stopped`` at the start, then the AND/OR rule: a requirement is lost when all its
    links have stopped; its buyer fails and every link it supplies stops.

    Returns (link stopped, requirement lost, node failed, cause: for each failed node the link
    whose stop lost its requirement first; for each stopped link the link that stopped it, -1 for
    those stopped at the start).
    """
    n_links = link_req.shape[0]
    n_req = req_ptr.shape[0] - 1
    n_nodes = supplies_ptr.shape[0] - 1
    link_stopped = np.zeros(n_links, np.bool_)
    req_lost = np.zeros(n_req, np.bool_)
    node_failed = np.zeros(n_nodes, np.bool_)
    node_cause = np.full(n_nodes, -1, np.int64)
    link_cause = np.full(n_links, -1, np.int64)
    left = np.empty(n_req, np.int64)
    touched = np.zeros(n_req, np.bool_)
    queue = np.empty(n_links, np.int64)
    tail = 0
    for m in stopped:
        if not link_stopped[m]:
            link_stopped[m] = True
            queue[tail] = m
            tail += 1
    head = 0
    while head < tail:
        m = queue[head]
        head += 1
        r = link_req[m]
        if not touched[r]:
            touched[r] = True
            left[r] = req_ptr[r + 1] - req_ptr[r]
        left[r] -= 1
        if left[r] != 0:
            continue
        req_lost[r] = True
        buyer = req_buyer[r]
        if node_failed[buyer]:
            continue
        node_failed[buyer] = True
        node_cause[buyer] = m
        for j in range(supplies_ptr[buyer], supplies_ptr[buyer + 1]):
            out = supplies_link[j]
            if not link_stopped[out]:
                link_stopped[out] = True
                link_cause[out] = m
                queue[tail] = out
                tail += 1
    return link_stopped, req_lost, node_failed, node_cause, link_cause


@njit(cache=True)
def tiers_from_primes(primes, node_req_ptr, req_ptr, link_supplier):
    """Fewest links from each node to a prime (prime = 0; -1 when none), breadth-first from
    all primes against the flow of material. The links a buyer reports are the run
    ``req_ptr[node_req_ptr[v]] : req_ptr[node_req_ptr[v + 1]]``."""
    n = node_req_ptr.shape[0] - 1
    tier = np.full(n, -1, np.int64)
    queue = np.empty(n, np.int64)
    tail = 0
    for p in primes:
        if tier[p] < 0:
            tier[p] = 0
            queue[tail] = p
            tail += 1
    head = 0
    while head < tail:
        v = queue[head]
        head += 1
        for m in range(req_ptr[node_req_ptr[v]], req_ptr[node_req_ptr[v + 1]]):
            s = link_supplier[m]
            if tier[s] < 0:
                tier[s] = tier[v] + 1
                queue[tail] = s
                tail += 1
    return tier


@njit(cache=True)
def supply_weights(req_ptr, node_req_ptr, share, value):
    """Shares of need (foreign dependency): of each link in its requirement, of each requirement
    in its buyer's need, by the rules of :mod:`supplychain.risk.foreign` (``share`` and ``value``
    per link, NaN where not reported)."""
    n_req = req_ptr.shape[0] - 1
    n_nodes = node_req_ptr.shape[0] - 1
    link_weight = np.zeros(share.shape[0])
    req_value = np.zeros(n_req)
    for q in range(n_req):
        a, b = req_ptr[q], req_ptr[q + 1]
        n_used = 0
        for m in range(a, b):
            if np.isnan(share[m]) or share[m] > 0:
                n_used += 1
        everyone = n_used == 0  # every supplier reported with share 0: all taken as in use
        if everyone:
            n_used = b - a
        n_share = 0
        sum_share = 0.0
        n_value = 0
        sum_value = 0.0
        for m in range(a, b):
            if value[m] > 0:
                req_value[q] += value[m]
            if not (everyone or np.isnan(share[m]) or share[m] > 0):
                continue
            if not np.isnan(share[m]):
                n_share += 1
                sum_share += share[m]
            if value[m] > 0:
                n_value += 1
                sum_value += value[m]
        for m in range(a, b):
            if not (everyone or np.isnan(share[m]) or share[m] > 0):
                continue
            if n_share == n_used and sum_share > 0:
                link_weight[m] = share[m] / sum_share
            elif n_value == n_used:
                link_weight[m] = value[m] / sum_value
            else:
                link_weight[m] = 1.0 / n_used
    req_weight = np.zeros(n_req)
    for v in range(n_nodes):
        a, b = node_req_ptr[v], node_req_ptr[v + 1]
        total = 0.0
        valued = True
        for q in range(a, b):
            total += req_value[q]
            if req_value[q] <= 0:
                valued = False
        for q in range(a, b):
            req_weight[q] = req_value[q] / total if valued and total > 0 else 1.0 / (b - a)
    return link_weight, req_weight


@njit(cache=True)
def origin_csr(key, report, country, share, unknown):
    """Origin rows sorted by key, then report: per key, the rows of its highest report, shares
    scaled down where they sum to more than 1, the remainder added to ``unknown`` where they sum
    to less. Returns (keys, pointer, country, share) with the zero shares left out."""
    n = key.shape[0]
    keys = np.empty(n, np.int64)
    ptr = np.zeros(n + 1, np.int64)
    out_country = np.empty(2 * n, np.int64)
    out_share = np.empty(2 * n)
    n_keys = 0
    n_out = 0
    i = 0
    while i < n:
        j = i
        while j < n and key[j] == key[i]:
            j += 1
        k = j - 1
        while k > i and report[k - 1] == report[j - 1]:
            k -= 1
        total = 0.0
        for r in range(k, j):
            total += share[r]
        scale = 1.0 / total if total > 1.0 else 1.0
        short = 1.0 - total if total < 1.0 - 1e-9 else 0.0
        start = n_out
        has_unknown = False
        for r in range(k, j):
            s = share[r] * scale
            if country[r] == unknown:
                s += short
                has_unknown = True
            if s > 0:
                out_country[n_out] = country[r]
                out_share[n_out] = s
                n_out += 1
        if short > 0 and not has_unknown:
            out_country[n_out] = unknown
            out_share[n_out] = short
            n_out += 1
        if n_out > start:
            keys[n_keys] = key[i]
            n_keys += 1
            ptr[n_keys] = n_out
        i = j
    return keys[:n_keys], ptr[: n_keys + 1], out_country[:n_out], out_share[:n_out]


@njit(cache=True)
def trace_links(
    link_supplier,
    link_buyer,
    node_company,
    link_part,
    n_parts,
    company_country,  # country index of each company
    home,
    unknown,
    node_req_ptr,
    scc,  # strongly connected component of each node
    imported,
    tiers,
    origin_key,  # sorted company * n_parts + part keys with origin rows
    company_start,  # company -> first of its keys in origin_key
    origin_ptr,
    origin_country,
    origin_share,
):
    """What each link does with the need that reaches it (foreign dependency; kinds ORIGIN=0,
    LOCATED=1, PROPAGATES=2, HOME=3, UNTRACED=4 of :mod:`supplychain.risk.foreign`), the origin
    key of its (supplier, part) or -1, and the countries its need enters as CSR (country,
    amount, tier at which it enters)."""
    n = link_supplier.shape[0]
    kind = np.empty(n, np.int8)
    link_origin = np.full(n, -1, np.int64)
    count = np.zeros(n + 1, np.int64)
    for m in range(n):
        s = link_supplier[m]
        c = node_company[s]
        key = c * n_parts + link_part[m]
        lo, hi = company_start[c], company_start[c + 1]
        while lo < hi:  # binary search among the company's keys
            mid = (lo + hi) // 2
            if origin_key[mid] < key:
                lo = mid + 1
            else:
                hi = mid
        if lo < company_start[c + 1] and origin_key[lo] == key:
            link_origin[m] = lo
        country = company_country[c]
        cyclic = scc[s] == scc[link_buyer[m]]
        if country != home:
            k = 1 if country != unknown else 4
        elif link_origin[m] >= 0:
            k = 0
        elif node_req_ptr[s + 1] > node_req_ptr[s] and not cyclic:
            k = 2
        elif not imported[m] and not cyclic:
            k = 3
        else:
            k = 4
        kind[m] = k
        if k == 0:
            count[m + 1] = origin_ptr[link_origin[m] + 1] - origin_ptr[link_origin[m]]
        elif k != 2:
            count[m + 1] = 1
    ptr = np.cumsum(count)
    total = ptr[n]
    direct_country = np.empty(total, np.int64)
    direct_amount = np.ones(total)
    direct_tier = np.empty(total, np.int64)
    for m in range(n):
        s = link_supplier[m]
        at = ptr[m]
        k = kind[m]
        if k == 0:
            o = link_origin[m]
            for j in range(origin_ptr[o], origin_ptr[o + 1]):
                direct_country[at] = origin_country[j]
                direct_amount[at] = origin_share[j]
                direct_tier[at] = tiers[s] + 1
                at += 1
        elif k == 1:
            direct_country[at] = company_country[node_company[s]]
            direct_tier[at] = tiers[s]
        elif k == 3:
            direct_country[at] = home
            direct_tier[at] = tiers[s]
        elif k == 4:
            direct_country[at] = unknown
            # an imported domestic leaf: the origin lies a tier below; a cycle: here
            direct_tier[at] = tiers[s] + (
                1 if imported[m] and scc[s] != scc[link_buyer[m]] and company_country[node_company[s]] == home else 0
            )
    return kind, link_origin, ptr, direct_country, direct_amount, direct_tier


@njit(cache=True)
def exposure_by_program(
    flow,
    direct_ptr,
    direct_country,
    direct_amount,
    direct_tier,
    link_program,
    link_part,
    link_company,
    n_programs,
    n_countries,
    n_parts,
    n_companies,
):
    """Per (program, country): exposure (sum of flow × amount), the smallest entry tier, and the
    distinct parts and supplier companies through which the country enters. The links must come
    program by program (they do: sorted by requirement, requirements by (program, company)
    node), so a stamp per (country, part) and (country, company) counts each once per program."""
    exposure = np.zeros((n_programs, n_countries))
    first_tier = np.full((n_programs, n_countries), -1, np.int64)
    parts = np.zeros((n_programs, n_countries), np.int64)
    suppliers = np.zeros((n_programs, n_countries), np.int64)
    part_seen = np.full((n_countries, n_parts), -1, np.int64)
    company_seen = np.full((n_countries, n_companies), -1, np.int64)
    for m in range(flow.shape[0]):
        f = flow[m]
        if f <= 0.0:
            continue
        p = link_program[m]
        for j in range(direct_ptr[m], direct_ptr[m + 1]):
            amount = f * direct_amount[j]
            if amount <= 0.0:
                continue
            c = direct_country[j]
            exposure[p, c] += amount
            t = direct_tier[j]
            if first_tier[p, c] < 0 or t < first_tier[p, c]:
                first_tier[p, c] = t
            if part_seen[c, link_part[m]] != p:
                part_seen[c, link_part[m]] = p
                parts[p, c] += 1
            if company_seen[c, link_company[m]] != p:
                company_seen[c, link_company[m]] = p
                suppliers[p, c] += 1
    return exposure, first_tier, parts, suppliers


@njit(cache=True)
def _outage_run(
    start_links,
    start_days,
    link_req,
    req_ptr,
    req_buyer,
    supplies_ptr,
    supplies_link,
    link_in_use,
    req_tts,
    req_ttr,
    link_out,
    link_cover,
    req_out,
    req_hit,
    node_out,
    node_cover,
    node_cause,
    queue,
    in_queue,
    touched_links,
    touched_reqs,
    touched_nodes,
):
    """One disruption in time (see supplychain/risk/timing.py): the links ``start_links`` stop
    for ``start_days``; returns the numbers of links, requirements and nodes touched (listed at
    the start of ``touched_*``), whose entries of the state arrays were changed.

    State (all must be at rest on entry: outages 0, covers +inf, flags false, causes -1):
    ``link_out`` days a link does not deliver; ``link_cover`` inventory days between the first
    stop and that link; ``req_out`` days a requirement's buyer cannot make what needs it (its
    supply out for ``min(supply outage, TTR) - TTS``, 0 while another in-use link delivers);
    ``node_out`` days a node stops (max over its requirements, AND), ``node_cover`` the least
    inventory days on a path from a first stop to it, ``node_cause`` the link whose requirement
    stopped it.
    """
    n_tl = 0
    n_tr = 0
    n_tn = 0
    head = 0
    tail = 0
    nq = queue.shape[0]
    for i in range(start_links.shape[0]):
        m = start_links[i]
        if link_out[m] == 0.0 and link_cover[m] == np.inf:
            touched_links[n_tl] = m
            n_tl += 1
        if start_days[i] > link_out[m]:
            link_out[m] = start_days[i]
        link_cover[m] = 0.0
        if not in_queue[m]:
            in_queue[m] = True
            queue[tail % nq] = m
            tail += 1
    while head < tail:
        m = queue[head % nq]
        head += 1
        in_queue[m] = False
        r = link_req[m]
        # the requirement's supply: out while every in-use link is out; back with the first
        s_out = np.inf
        cover_in = -np.inf
        for j in range(req_ptr[r], req_ptr[r + 1]):
            if not link_in_use[j]:
                continue
            if link_out[j] <= 0.0:
                s_out = 0.0
                break
            if link_out[j] < s_out:
                s_out = link_out[j]
            if link_cover[j] > cover_in:
                cover_in = link_cover[j]
        if s_out <= 0.0 or s_out == np.inf and cover_in == -np.inf:
            continue
        if not req_hit[r]:
            req_hit[r] = True
            touched_reqs[n_tr] = r
            n_tr += 1
        o = min(s_out, req_ttr[r]) - req_tts[r]
        if o <= 0.0:
            continue
        if o > req_out[r]:
            req_out[r] = o
        c = cover_in + req_tts[r]
        b = req_buyer[r]
        grew = False
        if node_out[b] == 0.0 and node_cover[b] == np.inf:
            touched_nodes[n_tn] = b
            n_tn += 1
            node_cause[b] = m
        if o > node_out[b]:
            node_out[b] = o
            node_cause[b] = m
            grew = True
        if c < node_cover[b]:
            node_cover[b] = c
            grew = True
        if not grew:
            continue
        for k in range(supplies_ptr[b], supplies_ptr[b + 1]):
            j = supplies_link[k]
            if node_out[b] > link_out[j] or node_cover[b] < link_cover[j]:
                if link_out[j] == 0.0 and link_cover[j] == np.inf:
                    touched_links[n_tl] = j
                    n_tl += 1
                link_out[j] = max(link_out[j], node_out[b])
                link_cover[j] = min(link_cover[j], node_cover[b])
                if not in_queue[j]:
                    in_queue[j] = True
                    queue[tail % nq] = j
                    tail += 1
    return n_tl, n_tr, n_tn


def outage_state(n_links, n_req, n_nodes):
    """Fresh state arrays for :func:`_outage_run` / :func:`outage_sweep` (a tuple in their order)."""
    return (
        np.zeros(n_links),
        np.full(n_links, np.inf),
        np.zeros(n_req),
        np.zeros(n_req, np.bool_),
        np.zeros(n_nodes),
        np.full(n_nodes, np.inf),
        np.full(n_nodes, -1, np.int64),
        np.empty(n_links + 1, np.int64),
        np.zeros(n_links, np.bool_),
        np.empty(n_links + 1, np.int64),
        np.empty(n_req + 1, np.int64),
        np.empty(n_nodes + 1, np.int64),
    )


@njit(cache=True)
def outage_sweep(
    roots,
    days,
    company_ptr,
    company_node,
    supplies_ptr,
    supplies_link,
    link_req,
    req_ptr,
    req_buyer,
    node_program,
    prime_of_program,
    link_in_use,
    req_tts,
    req_ttr,
    state,
):
    """Each company of ``roots`` fails alone for ``days``: per (company, program) whose prime
    stops, the program-days lost, the inventory days on the way (TTS) and the company's own time
    to recover there (the largest TTR of the requirements it alone supplied). Returns (company,
    program, days lost, tts, ttr) as arrays."""
    (link_out, link_cover, req_out, req_hit, node_out, node_cover, node_cause, queue, in_queue, tl, tr, tn) = state
    out_c = np.empty(16, np.int64)
    out_p = np.empty(16, np.int64)
    out_d = np.empty(16)
    out_s = np.empty(16)
    out_t = np.empty(16)
    n = 0
    starts = np.empty(max(1, link_req.shape[0]), np.int64)
    for ci in range(roots.shape[0]):
        c = roots[ci]
        k = 0
        for a in range(company_ptr[c], company_ptr[c + 1]):
            v = company_node[a]
            for b in range(supplies_ptr[v], supplies_ptr[v + 1]):
                starts[k] = supplies_link[b]
                k += 1
        if k == 0:
            continue
        sl = starts[:k]
        n_tl, n_tr, n_tn = _outage_run(
            sl,
            np.full(k, days),
            link_req,
            req_ptr,
            req_buyer,
            supplies_ptr,
            supplies_link,
            link_in_use,
            req_tts,
            req_ttr,
            link_out,
            link_cover,
            req_out,
            req_hit,
            node_out,
            node_cover,
            node_cause,
            queue,
            in_queue,
            tl,
            tr,
            tn,
        )
        for i in range(n_tn):
            v = tn[i]
            p = node_program[v]
            if prime_of_program[p] != v or node_out[v] <= 0.0:
                continue
            # the company's own TTR in this program: requirements it alone supplied there
            ttr = 0.0
            for q in range(k):
                r = link_req[sl[q]]
                if req_hit[r] and node_program[req_buyer[r]] == p and req_ttr[r] > ttr:
                    ttr = req_ttr[r]
            out_c = _grow(out_c, n)
            out_p = _grow(out_p, n)
            out_d = _grow(out_d, n)
            out_s = _grow(out_s, n)
            out_t = _grow(out_t, n)
            out_c[n] = c
            out_p[n] = p
            out_d[n] = node_out[v]
            out_s[n] = node_cover[v]
            out_t[n] = ttr
            n += 1
        for i in range(n_tl):
            link_out[tl[i]] = 0.0
            link_cover[tl[i]] = np.inf
        for i in range(n_tr):
            req_out[tr[i]] = 0.0
            req_hit[tr[i]] = False
        for i in range(n_tn):
            node_out[tn[i]] = 0.0
            node_cover[tn[i]] = np.inf
            node_cause[tn[i]] = -1
    return out_c[:n], out_p[:n], out_d[:n], out_s[:n], out_t[:n]
