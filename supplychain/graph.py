"""The supply graph of one survey wave (DESIGN §4): companies, and supplier → buyer links for a
part in a program.

Two forms of the same data:

* :func:`build_graph` gives a :class:`networkx.MultiDiGraph` for exploring a program in a
  notebook: nodes are companies, edges are supply links (one per program and part), with their
  attributes and provenance.
* :func:`supply_network` gives a :class:`SupplyNetwork`, the compact array form the analyses of
  :mod:`supplychain.risk` run on at national and economy scale. Its nodes are *(program,
  company)* pairs — a company's place in one program — because a buyer needs the parts it
  reports *for that program*: if a firm cannot build its program-A assembly, its program-B
  deliveries are not thereby lost.

Links reported twice (by the buyer and by the supplier, or in two returns) are one link: the
buyer's own report wins, then the latest submission; ``n_reports`` says how many there were.

Requirement semantics (AND/OR): a buyer needs every part it reports for a program (AND); a part
can come from any of the suppliers reported for it (OR). A *requirement* is one (program, buyer,
part); it is lost when all its suppliers have failed, and a buyer fails in a program when any of
its requirements there is lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import pandas as pd
import pyarrow as pa
from scipy import sparse
from scipy.sparse import csgraph

from .db import registered, run
from .exceptions import SupplyChainError

__all__ = [
    "build_graph",
    "supply_network",
    "SupplyNetwork",
    "links",
    "graph_to_frames",
    "graph_from_frames",
    "quality_findings",
    "links_sql",
]

#: Link attributes carried from the ``supply`` table onto graph edges.
LINK_ATTRIBUTES = (
    "share",
    "annual_value_jpy",
    "lead_time_days",
    "inventory_days",
    "alternatives_qualified",
    "substitutability",
    "requalification_months",
    "imported",
    "reported_tier",
    "site_id",
)
#: Provenance carried with every link.
PROVENANCE = ("wave", "submission_id", "source_file", "source_sheet", "source_row", "n_reports")


def _check_wave(con, wave) -> int:
    if wave is None:
        raise SupplyChainError("a wave is required (e.g. wave=2025); waves are compared, never merged")
    wave = int(wave)
    if run(con, "SELECT count(*) FROM survey_wave WHERE wave = ?", [wave]).fetchone()[0] == 0:
        known = [w for (w,) in run(con, "SELECT wave FROM survey_wave ORDER BY wave").fetchall()]
        raise SupplyChainError(f"no survey wave {wave} in the database (waves loaded: {known or 'none'})")
    return wave


def _program_filter(con, program) -> list[str] | None:
    if program is None:
        return None
    wanted = [program] if isinstance(program, str) else list(program)
    known = {p for (p,) in run(con, "SELECT program_id FROM program").fetchall()}
    missing = [p for p in wanted if p not in known]
    if missing:
        raise SupplyChainError(f"unknown program(s) {missing}; known: {sorted(known)}")
    return wanted


def links(con, *, wave: int, program: str | list[str] | None = None) -> pd.DataFrame:
    """The supply links of ``wave`` (optionally of some programs), one per (program, buyer,
    supplier, part), with part name and HS code, the link attributes and provenance.

    Duplicate reports of a link are collapsed: the buyer's own report first, then the latest
    submission, then the first row; ``n_reports`` counts them.
    """
    wave = _check_wave(con, wave)
    sql, params = links_sql(wave, _program_filter(con, program))
    return run(con, sql + " ORDER BY program_id, buyer_id, part_id, supplier_id", params).df()


def program_batches(con, wave: int, programs: list[str] | None, max_links: int) -> list[list[str]]:
    """The programs of ``wave`` (or those given) in consecutive batches of about ``max_links``
    supply rows each (whole programs, so a batch may be larger), in program order: for queries
    whose working memory grows with the links they see."""
    counts = run(
        con,
        """SELECT program_id, count(*) FROM supply WHERE wave = ?
           AND (?::VARCHAR[] IS NULL OR list_contains(?::VARCHAR[], program_id)) GROUP BY 1 ORDER BY 1""",
        [wave, programs, programs],
    ).fetchall()
    batches: list[list[str]] = []
    size = 0
    for program_id, n in counts:
        if not batches or (batches[-1] and size + n > max_links):
            batches.append([])
            size = 0
        batches[-1].append(program_id)
        size += n
    return batches


#: Supply rows deduplicated per statement when building a network (see :func:`program_batches`).
BUILD_BATCH_LINKS = 1_500_000


def links_sql(wave: int, programs: list[str] | None, *, lean: bool = False) -> tuple[str, list]:
    """SQL (and its parameters) selecting the deduplicated links of :func:`links`, unordered, for
    use as a subquery.

    The report kept for each (program, buyer, supplier, part) is chosen by one aggregation over
    the keys (``arg_max`` of the row id by buyer's-own-report, submission, first row), then
    joined back by row id: cheaper than ranking every wide row with a window. ``lean`` leaves
    out the part name, HS code and file name (joined from their tables by who needs them).
    """
    sql = f"""
        WITH pick AS (
            SELECT arg_max(s.rowid, (coalesce(l.respondent_id = s.buyer_id, false), s.submission_id, -s.source_row)) AS rid,
                   count(*) AS n_reports
            FROM supply s JOIN ingest_log l USING (submission_id)
            WHERE s.wave = ? AND (?::VARCHAR[] IS NULL OR list_contains(?::VARCHAR[], s.program_id))
            GROUP BY s.program_id, s.buyer_id, s.supplier_id, s.part_id
        )
        SELECT s.program_id, s.buyer_id, s.supplier_id, s.part_id,
               {"" if lean else "p.name AS part_name, p.hs_code,"}
               {", ".join("s." + c for c in LINK_ATTRIBUTES)},
               s.wave, s.submission_id, {"" if lean else "l.file_name AS source_file,"} s.source_sheet, s.source_row,
               pick.n_reports
        FROM supply s
        JOIN pick ON s.rowid = pick.rid
        {"" if lean else "JOIN ingest_log l USING (submission_id) LEFT JOIN part p USING (part_id)"}"""
    return sql, [wave, programs, programs]


#: Company columns of the analyses (``c`` = company); ``label`` is what results show (DESIGN §10).
_COMPANY_COLUMNS = (
    "coalesce(c.corporate_number, {id}) AS label, c.corporate_number, c.name, c.country, c.prefecture_code, c.is_sme, c.is_prime"
)


def _companies(con, ids) -> pd.DataFrame:
    """Company attributes for ``ids`` (in that order), with ``label``: the corporate number
    where one is known, else the internal id (DESIGN §10)."""
    frame = pd.DataFrame({"company_id": pd.Series(ids, dtype=object)})
    with registered(con, "_sc_ids", frame):
        out = run(
            con,
            f"SELECT i.company_id, {_COMPANY_COLUMNS.format(id='i.company_id')} FROM _sc_ids i LEFT JOIN company c USING (company_id)",
        ).df()
    return out.set_index("company_id").loc[frame["company_id"]].reset_index()


@dataclass
class SupplyNetwork:
    """The array form of one wave's supply network (see the module docstring).

    Index spaces: companies ``0..C-1`` (rows of :attr:`companies`), programs ``0..P-1`` (rows of
    :attr:`programs`), nodes ``0..N-1`` = (program, company) pairs, requirements ``0..R-1`` =
    (program, buyer, part), links ``0..L-1`` (rows of :attr:`links`, sorted by requirement).
    CSR pairs (``*_ptr``, ``*_idx``) list, for each row of the first space, members of the second.
    Every index array (and ``links["req"]``, ``links["part"]``) is int64, the compiled kernels'
    dtype: pass them as they are, no conversion needed.
    """

    wave: int
    companies: pd.DataFrame  # company_id, label, name, country, ...
    programs: pd.DataFrame  # program_id, name, prime (company index), prime_node, annual_value_jpy
    links: pd.DataFrame  # the deduplicated links by index (program, buyer, supplier, part), plus req
    parts: pd.DataFrame  # part_id, part_name, hs_code (row = part index)
    files: dict  # submission_id -> file name
    node_program: np.ndarray
    node_company: np.ndarray
    req_buyer: np.ndarray  # node of the buyer of each requirement
    req_part: np.ndarray  # part index of each requirement
    req_ptr: np.ndarray  # requirement -> its links (links are sorted by requirement)
    link_supplier: np.ndarray  # supplier node of each link
    link_buyer: np.ndarray  # buyer node of each link
    supplies_ptr: np.ndarray  # node -> the links it supplies
    supplies_link: np.ndarray
    company_ptr: np.ndarray  # company -> its nodes
    company_node: np.ndarray
    _tiers: np.ndarray | None = field(default=None, repr=False)
    #: what analyses derive from the network and reuse (e.g. the foreign-dependency trace)
    derived: dict = field(default_factory=dict, repr=False)

    @property
    def n_nodes(self) -> int:
        return len(self.node_company)

    @property
    def n_requirements(self) -> int:
        return len(self.req_buyer)

    def column(self, table: str, name: str) -> np.ndarray:
        """Column ``name`` of :attr:`companies`, :attr:`parts` or :attr:`programs` (``table``) as
        a NumPy object array, converted once and kept (``derived``): strings read from DuckDB
        are Arrow-backed, and converting them again on every use costs more than the analyses."""
        key = ("column", table, name)
        if key not in self.derived:
            self.derived[key] = getattr(self, table)[name].to_numpy(dtype=object, na_value=None)
        return self.derived[key]

    def part_ids(self, parts: np.ndarray) -> np.ndarray:
        """``part_id`` of part indices."""
        return self.column("parts", "part_id")[parts]

    def part_names(self, parts: np.ndarray) -> np.ndarray:
        """Part names as reported (the id where no name is known) of part indices."""
        return self.parts["part_name"].fillna(self.parts["part_id"]).to_numpy(object)[parts]

    def source_files(self, links: np.ndarray) -> list:
        """File names of some links."""
        return [self.files.get(int(s)) for s in self.links["submission_id"].to_numpy()[links]]

    def node_labels(self) -> np.ndarray:
        """The company label of every node (kept in ``derived``)."""
        if "node_labels" not in self.derived:
            self.derived["node_labels"] = self.column("companies", "label")[self.node_company]
        return self.derived["node_labels"]

    @property
    def node_req_ptr(self) -> np.ndarray:
        """Node -> its requirements (CSR pointer: requirements are numbered by buyer node), kept
        in ``derived``. With :attr:`req_ptr`, a buyer's links are the one run
        ``req_ptr[node_req_ptr[v]] : req_ptr[node_req_ptr[v + 1]]``."""
        if "node_req_ptr" not in self.derived:
            self.derived["node_req_ptr"] = _ptr(self.req_buyer, self.n_nodes)
        return self.derived["node_req_ptr"]

    @property
    def tiers(self) -> np.ndarray:
        """Tier of every node: the fewest links from it to its program's prime (prime = 0); -1
        when no path leads to the prime."""
        if self._tiers is None:
            self._tiers = _tiers(self)
        return self._tiers

    def adjacency(self) -> sparse.csr_matrix:
        """Node × node matrix with a 1 for each supplier → buyer pair (parts collapsed)."""
        n = self.n_nodes
        m = sparse.csr_matrix((np.ones(len(self.link_supplier), np.int8), (self.link_supplier, self.link_buyer)), shape=(n, n))
        m.sum_duplicates()
        m.data[:] = 1
        return m


def supply_network(con, *, wave: int, program: str | list[str] | None = None) -> SupplyNetwork:
    """The :class:`SupplyNetwork` of ``wave``, all programs unless ``program`` names some.

    Companies, programs and parts are numbered in the database (temporary tables, dropped
    afterwards), so only integer codes and numbers cross into Python for the links.
    """
    wave = _check_wave(con, wave)
    programs_wanted = _program_filter(con, program)
    attrs = ", ".join(f"l.{c}" for c in (*LINK_ATTRIBUTES, "wave", "submission_id", "source_sheet", "source_row", "n_reports"))
    temps = ("_sc_net_companies", "_sc_net_programs", "_sc_net_parts")
    scope = "FROM supply WHERE wave = ? AND (?::VARCHAR[] IS NULL OR list_contains(?::VARCHAR[], program_id))"
    scope_params = [wave, programs_wanted, programs_wanted]
    try:
        # number programs, companies and parts first (deduplication changes none of these sets),
        # so that the links are stored as integer codes
        run(
            con,
            f"""CREATE OR REPLACE TEMP TABLE _sc_net_programs AS
               SELECT program_id, (row_number() OVER (ORDER BY program_id)) - 1 AS ix
               FROM (SELECT DISTINCT program_id {scope})""",
            scope_params,
        )
        run(
            con,
            f"""CREATE OR REPLACE TEMP TABLE _sc_net_companies AS
               SELECT id, (row_number() OVER (ORDER BY id)) - 1 AS ix FROM (
                   SELECT buyer_id AS id {scope} UNION SELECT supplier_id {scope}
                   UNION SELECT prime_company_id FROM program JOIN _sc_net_programs USING (program_id)
                   WHERE prime_company_id IS NOT NULL)""",
            scope_params * 2,
        )
        run(
            con,
            f"""CREATE OR REPLACE TEMP TABLE _sc_net_parts AS
               SELECT part_id, (row_number() OVER (ORDER BY part_id)) - 1 AS ix FROM (SELECT DISTINCT part_id {scope})""",
            scope_params,
        )
        # deduplicated a few programs at a time: the aggregation's memory stays bounded. The
        # batches are consecutive runs of programs, numbered in program order, so the sorted
        # batches put together are sorted too: no table of all links is kept in the database.
        parts_of_links = []
        for batch in program_batches(con, wave, programs_wanted, BUILD_BATCH_LINKS) or [[]]:
            sql, params = links_sql(wave, batch, lean=True)
            parts_of_links.append(
                run(
                    con,
                    f"""SELECT pr.ix AS program, b.ix AS buyer, s.ix AS supplier, pt.ix AS part, {attrs}
                    FROM ({sql}) l
                    JOIN _sc_net_programs pr USING (program_id)
                    JOIN _sc_net_companies b ON b.id = l.buyer_id
                    JOIN _sc_net_companies s ON s.id = l.supplier_id
                    JOIN _sc_net_parts pt USING (part_id)
                    ORDER BY program, buyer, part, supplier""",
                    params,
                ).arrow()
            )
        codes = pa.concat_tables(parts_of_links).to_pandas()
        companies = run(
            con,
            f"""SELECT i.id AS company_id, {_COMPANY_COLUMNS.format(id="i.id")}
               FROM _sc_net_companies i LEFT JOIN company c ON c.company_id = i.id ORDER BY i.ix""",
        ).df()
        programs = run(
            con,
            """SELECT r.program_id, p.name, p.category, p.prime_company_id, p.annual_value_jpy, p.compartment
               FROM _sc_net_programs r LEFT JOIN program p USING (program_id) ORDER BY r.ix""",
        ).df()
        parts = run(
            con,
            """SELECT r.part_id, p.name AS part_name, p.hs_code
               FROM _sc_net_parts r LEFT JOIN part p USING (part_id) ORDER BY r.ix""",
        ).df()
        files = dict(
            run(
                con,
                "SELECT submission_id, file_name FROM ingest_log WHERE list_contains(?::INTEGER[], submission_id)",
                [pd.unique(codes["submission_id"]).tolist()],
            ).fetchall()
        )
    finally:
        for t in temps:
            run(con, f"DROP TABLE IF EXISTS {t}")
    return _network_from_codes(wave, codes, companies, programs, parts, files)


def _network_from_links(con, wave: int, ln: pd.DataFrame, programs: pd.DataFrame) -> SupplyNetwork:
    """A network from a link table keyed by ids (``program_id``, ``buyer_id``, ``supplier_id``,
    ``part_id``), for hand-built networks; :func:`supply_network` numbers in the database."""
    has_prime = programs["prime_company_id"].notna().to_numpy()
    ids = pd.concat([ln["buyer_id"], ln["supplier_id"], programs.loc[has_prime, "prime_company_id"]], ignore_index=True)
    _, company_ids = pd.factorize(ids, sort=True)
    part_codes, part_ids = pd.factorize(ln["part_id"], sort=True)
    codes = ln.drop(columns=["program_id", "buyer_id", "supplier_id", "part_id"]).assign(
        program=pd.Index(programs["program_id"]).get_indexer(ln["program_id"]),
        buyer=pd.Index(company_ids).get_indexer(ln["buyer_id"]),
        supplier=pd.Index(company_ids).get_indexer(ln["supplier_id"]),
        part=part_codes,
    )
    names = ln["part_name"] if "part_name" in ln else ln["part_id"]
    parts = pd.DataFrame(
        {
            "part_id": part_ids,
            "part_name": pd.Series(names.to_numpy(), index=ln["part_id"]).groupby(level=0).first().reindex(part_ids).to_numpy(),
            "hs_code": None,
        }
    )
    return _network_from_codes(wave, codes, _companies(con, np.asarray(company_ids, dtype=object)), programs, parts, {})


def _network_from_codes(wave, codes, companies, programs, parts, files) -> SupplyNetwork:
    n_c = len(companies)
    lp = codes["program"].to_numpy(np.int64)
    buyer = codes["buyer"].to_numpy(np.int64)
    supplier = codes["supplier"].to_numpy(np.int64)
    part_codes = codes["part"].to_numpy(np.int64)
    has_prime = programs["prime_company_id"].notna().to_numpy()
    prime_company = np.full(len(programs), -1, np.int64)
    prime_company[has_prime] = pd.Index(companies["company_id"]).get_indexer(programs.loc[has_prime, "prime_company_id"])
    has_prime = has_prime & (prime_company >= 0)
    n_l = len(codes)
    # nodes: (program, company) pairs, numbered in order of program then company
    pair = np.concatenate([lp * n_c + buyer, lp * n_c + supplier, np.flatnonzero(has_prime) * n_c + prime_company[has_prime]])
    node_key, node_of = np.unique(pair, return_inverse=True)
    buyer_node = node_of[:n_l]
    supplier_node = node_of[n_l : 2 * n_l]
    prime_node = np.full(len(programs), -1, np.int64)
    prime_node[has_prime] = node_of[2 * n_l :]
    node_program, node_company = node_key // n_c, node_key % n_c
    # requirements: (program, buyer, part) = (buyer node, part)
    n_parts = max(len(parts), 1)
    req_keys, req = np.unique(buyer_node * n_parts + part_codes, return_inverse=True)
    # links in a fixed order — by requirement, then supplier — whatever order they came in
    # (supply_network's come sorted so; checking is cheaper than sorting)
    step_req, step_sup = np.diff(req), np.diff(supplier_node)
    ln = codes
    if not bool(np.all((step_req > 0) | ((step_req == 0) & (step_sup > 0)))):
        order = np.lexsort((supplier_node, req))
        ln = ln.iloc[order].reset_index(drop=True)
        req, supplier_node, buyer_node = req[order], supplier_node[order], buyer_node[order]
    ln["req"] = req
    n_req = len(req_keys)
    n_nodes = len(node_key)
    return SupplyNetwork(
        wave=wave,
        companies=companies,
        programs=programs.assign(prime=prime_company, prime_node=prime_node),
        links=ln,
        parts=parts,
        files=files,
        node_program=node_program,
        node_company=node_company,
        req_buyer=req_keys // n_parts,
        req_part=req_keys % n_parts,
        req_ptr=_ptr(req, n_req),
        link_supplier=supplier_node,
        link_buyer=buyer_node,
        supplies_ptr=_ptr(supplier_node, n_nodes),
        supplies_link=np.argsort(supplier_node, kind="stable"),
        company_ptr=_ptr(node_company, n_c),
        company_node=np.argsort(node_company, kind="stable"),
    )


def _arrow(values) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks()
    if isinstance(values, pa.Array):
        return values
    return pa.array(values, type=pa.string(), from_pandas=True)


def _positions(values, column) -> np.ndarray:
    """Position of each of ``values`` in ``column`` (-1 where absent or null)."""
    import pyarrow.compute as pc

    found = pc.index_in(_arrow(values).cast(pa.string()), value_set=_arrow(column).cast(pa.string()))
    return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def _ptr(owner: np.ndarray, n: int) -> np.ndarray:
    """CSR pointer of ``owner`` values in ``0..n-1``: members of ``i`` are at ``ptr[i]:ptr[i+1]``
    once sorted by owner."""
    ptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(owner, minlength=n), out=ptr[1:])
    return ptr


def _csr_rows(ptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(pointer, indices into the original values) of the CSR made of some of its ``rows``."""
    counts = ptr[rows + 1] - ptr[rows]
    new_ptr = np.zeros(len(rows) + 1, np.int64)
    np.cumsum(counts, out=new_ptr[1:])
    index = np.repeat(ptr[rows], counts) + np.arange(new_ptr[-1]) - np.repeat(new_ptr[:-1], counts)
    return new_ptr, index


def _tiers(net: SupplyNetwork) -> np.ndarray:
    """Breadth-first from every prime at once, against the direction of material flow, in
    compiled code: a buyer's links are one run of the links (sorted by requirement, requirements
    by buyer), so no adjacency matrix is built. :func:`_tiers_by_scipy` is the same by scipy's
    shortest paths (the tests compare them)."""
    from .risk._kernels import tiers_from_primes

    primes = net.programs["prime_node"].to_numpy()
    return tiers_from_primes(primes[primes >= 0].astype(np.int64), net.node_req_ptr, net.req_ptr, net.link_supplier)


def _tiers_by_scipy(net: SupplyNetwork) -> np.ndarray:
    """:func:`_tiers` by scipy: a super-source (node n) linked to every prime, one shortest-path
    search (the nodes of one program reach only that program's prime)."""
    n = net.n_nodes
    if n == 0:
        return np.empty(0, np.int64)
    primes = net.programs["prime_node"].to_numpy()
    primes = primes[primes >= 0]
    rows = np.concatenate([net.link_buyer, np.full(len(primes), n)])
    cols = np.concatenate([net.link_supplier, primes])
    g = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n + 1, n + 1))
    dist = csgraph.shortest_path(g, method="D", unweighted=True, indices=n)[:n]
    return np.where(np.isfinite(dist), dist - 1, -1).astype(np.int64)


def quality_findings(net: SupplyNetwork) -> pd.DataFrame:
    """Data-quality findings of the graph, one row each: ``kind`` ∈ {``cycle``,
    ``tier_disagreement``, ``unreachable``}, with program, company, detail and the source row.

    * ``cycle`` — a set of companies that supply each other in one program (a strongly
      connected component of more than one node, or a firm reported as its own supplier); the
      analyses never loop over it, but an analyst should look.
    * ``tier_disagreement`` — a link whose reported tier differs from the supplier's tier
      computed as its shortest distance to the prime.
    * ``unreachable`` — a company in a program with no chain of links to the program's prime.
    """
    labels = net.node_labels()
    names = net.companies["name"].to_numpy(object)[net.node_company]
    program_ids = net.programs["program_id"].to_numpy(object)
    rows = []
    # cycles
    adj = net.adjacency()
    n_comp, comp = csgraph.connected_components(adj, directed=True, connection="strong")
    sizes = np.bincount(comp, minlength=n_comp)
    self_loop = np.zeros(net.n_nodes, bool)
    self_loop[net.link_supplier[net.link_supplier == net.link_buyer]] = True
    cyclic = np.flatnonzero((sizes[comp] > 1) | self_loop)
    for c in np.unique(comp[cyclic]).tolist():
        members = np.flatnonzero(comp == c)
        members = members[np.argsort(labels[members].astype(str))]
        rows.append(
            {
                "kind": "cycle",
                "program": program_ids[net.node_program[members[0]]],
                "company": labels[members[0]],
                "company_name": names[members[0]],
                "detail": "companies supplying each other: " + ", ".join(f"{labels[m]} {names[m]}" for m in members),
                "source_file": None,
                "source_sheet": None,
                "source_row": None,
            }
        )
    tiers = net.tiers
    ln = net.links
    reported = ln["reported_tier"].to_numpy(dtype="float64", na_value=np.nan)
    computed = tiers[net.link_supplier]
    off = np.flatnonzero(~np.isnan(reported) & (computed >= 0) & (reported != computed))
    for i in off.tolist():
        n = net.link_supplier[i]
        rows.append(
            {
                "kind": "tier_disagreement",
                "program": program_ids[net.node_program[n]],
                "company": labels[n],
                "company_name": names[n],
                "detail": f"reported tier {int(reported[i])}, shortest distance to the prime {int(computed[i])}",
                "source_file": net.files.get(int(ln.at[i, "submission_id"])),
                "source_sheet": ln.at[i, "source_sheet"],
                "source_row": int(ln.at[i, "source_row"]),
            }
        )
    for n in np.flatnonzero(tiers < 0).tolist():
        rows.append(
            {
                "kind": "unreachable",
                "program": program_ids[net.node_program[n]],
                "company": labels[n],
                "company_name": names[n],
                "detail": "no chain of supply links to the program's prime",
                "source_file": None,
                "source_sheet": None,
                "source_row": None,
            }
        )
    cols = ["kind", "program", "company", "company_name", "detail", "source_file", "source_sheet", "source_row"]
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values(["kind", "program", "company", "source_row"], kind="stable", ignore_index=True)


def build_graph(con, *, wave: int, program: str | list[str] | None = None) -> nx.MultiDiGraph:
    """The supply graph of ``wave`` as a :class:`networkx.MultiDiGraph`, supplier → buyer.

    Nodes are company labels (corporate number where known, else internal id) with ``name``,
    ``country``, ``prefecture_code``, ``company_id``, ``is_prime`` and ``tiers`` (program →
    tier, the shortest distance to that program's prime; prime = 0; absent when no path leads
    there) and ``tier`` (the smallest). Edges are keyed ``(program, part)`` — the part as
    reported — and carry ``program``, ``part``, ``part_id`` (its normalised key), ``hs_code``, the link attributes of the survey, the
    supplier's computed ``tier`` in that program and provenance (wave, submission, source file,
    sheet and row, number of reports). ``G.graph`` holds ``wave``, ``programs`` and
    ``findings`` — the data-quality findings (:func:`quality_findings`): cycles, tier
    disagreements, unreachable companies.

    For whole-economy analyses use :func:`supply_network`; this graph is for a program or a
    neighbourhood you want to look at.
    """
    net = supply_network(con, wave=wave, program=program)
    return _graph_from_network(net)


def _graph_from_network(net: SupplyNetwork) -> nx.MultiDiGraph:
    nodes, edges = _frames_from_network(net)
    g = graph_from_frames(nodes, edges)
    g.graph.update(
        wave=net.wave,
        programs=net.programs.drop(columns=["prime", "prime_node"]).to_dict("records"),
        findings=quality_findings(net),
    )
    return g


def _frames_from_network(net: SupplyNetwork) -> tuple[pd.DataFrame, pd.DataFrame]:
    labels = net.node_labels()
    tiers = net.tiers
    program_ids = net.programs["program_id"].to_numpy(object)
    comp = net.companies
    tier_map: dict[str, dict] = {label: {} for label in comp["label"].tolist()}
    for node in np.flatnonzero(tiers >= 0).tolist():
        tier_map[labels[node]][program_ids[net.node_program[node]]] = int(tiers[node])
    nodes = pd.DataFrame(
        {
            "company": comp["label"],
            "company_id": comp["company_id"],
            "name": comp["name"],
            "country": comp["country"],
            "prefecture_code": comp["prefecture_code"],
            "is_prime": comp["is_prime"],
            "tiers": [tier_map[label] for label in comp["label"].tolist()],
        }
    )
    nodes["tier"] = [min(t.values()) if t else None for t in nodes["tiers"]]
    ln = net.links
    edges = pd.DataFrame(
        {
            "supplier": labels[net.link_supplier],
            "buyer": labels[net.link_buyer],
            "program": program_ids[ln["program"].to_numpy()],
            "part": net.part_names(ln["part"].to_numpy()),
            "part_id": net.part_ids(ln["part"].to_numpy()),
            "hs_code": net.parts["hs_code"].to_numpy(object)[ln["part"].to_numpy()],
            **{c: ln[c] for c in LINK_ATTRIBUTES},
            "tier": np.where(tiers[net.link_supplier] >= 0, tiers[net.link_supplier], -1),
            **{c: ln[c] for c in PROVENANCE if c != "source_file"},
            "source_file": net.source_files(np.arange(len(ln))),
        }
    )
    edges["tier"] = edges["tier"].where(edges["tier"] >= 0).astype("Int64")
    return nodes, edges


def graph_to_frames(g: nx.MultiDiGraph) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(nodes, edges)``: one row per node (``company`` plus its attributes) and per edge
    (``supplier``, ``buyer`` plus its attributes); :func:`graph_from_frames` inverts it."""
    nodes = pd.DataFrame([{"company": n, **attrs} for n, attrs in g.nodes(data=True)])
    edges = pd.DataFrame([{"supplier": u, "buyer": v, **attrs} for u, v, attrs in g.edges(data=True)])
    if nodes.empty:
        nodes = pd.DataFrame(columns=["company"])
    if edges.empty:
        edges = pd.DataFrame(columns=["supplier", "buyer"])
    return nodes, edges


def graph_from_frames(nodes: pd.DataFrame, edges: pd.DataFrame) -> nx.MultiDiGraph:
    """A supply graph from a node table (column ``company``, other columns become attributes)
    and an edge table (``supplier``, ``buyer``; ``program`` and ``part`` form the edge key when
    present). Missing values are left out of the attributes."""
    for col, table in (("company", nodes), ("supplier", edges), ("buyer", edges)):
        if col not in table.columns:
            raise SupplyChainError(f"graph_from_frames: the {'node' if table is nodes else 'edge'} table needs a {col!r} column")
    g = nx.MultiDiGraph()
    node_cols = [c for c in nodes.columns if c != "company"]
    for row in nodes.itertuples(index=False):
        d = row._asdict()
        g.add_node(d["company"], **{c: d[c] for c in node_cols if _present(d[c])})
    edge_cols = [c for c in edges.columns if c not in ("supplier", "buyer")]
    keyed = {"program", "part"} <= set(edges.columns)
    for row in edges.itertuples(index=False):
        d = row._asdict()
        attrs = {c: d[c] for c in edge_cols if _present(d[c])}
        g.add_edge(d["supplier"], d["buyer"], key=(d["program"], d["part"]) if keyed else None, **attrs)
    return g


def _present(value) -> bool:
    if isinstance(value, dict | list | tuple | set | np.ndarray):
        return True
    return not pd.isna(value)
