"""Entity resolution: the same company reported by several respondents becomes one ``company``.

Rules, in order (DESIGN §2, issue 2):

1. **Corporate number.** A valid 法人番号 identifies a company; the same number is the same company.
2. **A remembered decision.** A pair once decided in the review queue (``supplychain review
   entities``) is decided the same way in every later file and wave.
3. **Exact name key.** The normalised name (:func:`~supplychain.survey.normalize.normalize_company_name`)
   plus country and prefecture. Two different corporate numbers are never merged by name.
4. **Similar names** — at most :data:`MAX_EDITS` character edits apart, and rapidfuzz ``ratio`` ≥
   ``review_threshold`` once generic business words are set aside
   (:func:`~supplychain.survey.normalize.distinctive_name`); same country and prefecture — are
   *not* merged: the mention becomes a company of its own and the pair goes to the review queue.

Different prefectures never match by name: two firms called 山田精機 in 東京都 and 大阪府 are
two firms unless their corporate numbers say otherwise.
"""

from __future__ import annotations

import hashlib
import logging
from concurrent.futures import Future

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein

from .. import audit
from ..db import registered, run, temp_table, transaction
from ..exceptions import SupplyChainError
from .normalize import company_name_keys, distinctive_name, normalize_company_name
from .schema import company_reference_columns

__all__ = ["resolve_companies", "start_resolving", "name_key", "company_id_for", "review_queue", "decide", "REVIEW_THRESHOLD"]

log = logging.getLogger(__name__)

#: Name similarity (0–100, rapidfuzz ratio of the names without generic words) from which a pair is queued.
REVIEW_THRESHOLD = 80.0
#: At most this many character edits between the normalised names of a queued pair.
MAX_EDITS = 2


def name_key(name: str, country: str | None, prefecture: str | None) -> str:
    """The exact-match key of a company: ``country|prefecture|normalised name``.

    >>> name_key("山田精機㈱", "JP", "13") == name_key("株式会社 山田精機", "JP", "13")
    True
    """
    return f"{country or ''}|{prefecture or ''}|{normalize_company_name(name)}"


def _hash(text: str, n: int = 12) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:n]


def company_id_for(corporate_number: str | None, key: str) -> str:
    """Stable internal id of a new company: from its corporate number, else from its name key."""
    return "C" + _hash(f"cn:{corporate_number}" if isinstance(corporate_number, str) and corporate_number else f"nm:{key}")


def company_id_sql(corporate_number: str, key: str) -> str:
    """:func:`company_id_for` as an SQL expression of two text expressions."""
    number = f"{corporate_number} IS NOT NULL AND {corporate_number} <> ''"
    return f"'C' || sha1(CASE WHEN {number} THEN 'cn:' || {corporate_number} ELSE 'nm:' || {key} END)[1:12]"


def review_id_for(key_a: str, key_b: str) -> str:
    """The id of the review of the pair (earlier company's name key, mention's name key)."""
    return "R" + _hash(f"{key_a}\x1f{key_b}", 11)


def resolve_companies(
    con,
    companies: pd.DataFrame,
    *,
    wave: int,
    review_threshold: float = REVIEW_THRESHOLD,
    names: NameIndex | None = None,
) -> pd.DataFrame:
    """Resolve accepted ``companies`` rows to company ids, inside the caller's transaction.

    The rows may come from several returns of one wave (a ``_file`` column tells them apart;
    ``company_ref`` is unique within a return). Creates the companies that are new, fills what
    existing ones lacked, queues similar names for review. Returns ``companies`` with
    ``company_id``, ``name_normalized``, ``match_method`` and ``match_score`` added.

    Within a batch, the mentions behave as if the returns were loaded one after another: a
    mention without a corporate number joins the batch's one new company with the same name key
    and a number, and similar names are queued between returns of the batch as against the
    database.

    ``names`` keeps the names already indexed for the similar-name search between calls (one
    per ingest); without it each call indexes its blocks afresh.
    """
    import pyarrow as pa

    keys = company_name_keys(pa.array(companies["name"].tolist(), pa.string())).to_pylist()
    frame = companies.reset_index(drop=True).assign(_m=np.arange(len(companies)), _name_key=keys)
    temp_table(con, "_sc_companies_in", frame)
    resolved, reviews = start_resolving(con, "_sc_companies_in", wave=wave, review_threshold=review_threshold, names=names)
    reviews.queue(con)
    out = run(con, f"SELECT * EXCLUDE (_m) FROM {resolved} ORDER BY _m").df()
    run(con, f"DROP TABLE {resolved}")
    run(con, "DROP TABLE _sc_companies_in")
    return out


#: The temporary table :func:`start_resolving` leaves its answer in.
RESOLVED_TABLE = "_sc_resolved_mentions"


def start_resolving(
    con,
    companies: str,
    *,
    wave: int,
    review_threshold: float = REVIEW_THRESHOLD,
    names: NameIndex | None = None,
    executor=None,
) -> tuple[str, _PendingReviews]:
    """:func:`resolve_companies` in two steps, in SQL where it touches every mention: the
    companies now, the review queue later.

    ``companies`` is a table or subquery of accepted ``companies`` rows with a column ``_m``
    that orders the mentions (distinct non-negative integers, increasing in the order the
    mentions were reported) and ``_name_key``, the name's
    :func:`~supplychain.survey.normalize.normalize_company_name` (the ingest works it out in its
    validation thread: :func:`~supplychain.survey.normalize.company_name_keys`).

    Returns the name of a temporary table holding its rows (in no particular order) with
    ``name_normalized``, ``company_id``, ``match_method`` and ``match_score`` added (the
    companies are written), and the similar-name pairs still to be queued: call their
    ``queue(con)`` in the same transaction. With ``executor`` (a ``concurrent.futures``
    executor) the similar-name search runs there meanwhile, so the caller's next statements
    overlap it; ``names`` must then not be used elsewhere until ``queue`` or ``wait`` has
    returned.
    """
    # A firm is mentioned by many returns in the same words: each distinct mention (number,
    # name, country, prefecture) is resolved once, by its first mention (``_rep``); the others
    # get its answer. All in SQL: only the new companies' mentions come to Python.
    run(
        con,
        f"""CREATE OR REPLACE TEMP TABLE _sc_mentions_all AS
            SELECT *, min(_m) OVER (PARTITION BY corporate_number, name, country, prefecture_code) AS _rep
            FROM {companies}""",
    )
    _resolve_reps(con)
    # The first mention of a new company creates it; later ones in the batch match it as they
    # would have matched it in the database, by number or by name (all mentions of one
    # distinct mention follow its first, so the first of a company is the first of its reps).
    run(
        con,
        f"""CREATE OR REPLACE TEMP TABLE {RESOLVED_TABLE} AS
            SELECT m.* EXCLUDE (_rep, _name_key),
                   CAST(m._name_key AS VARCHAR) AS name_normalized,
                   CAST(a.company_id AS VARCHAR) AS company_id,
                   CASE WHEN a.match_method <> 'new' OR m._m = a._first THEN CAST(a.match_method AS VARCHAR)
                        WHEN m.corporate_number IS NOT NULL THEN 'corporate_number'
                        ELSE 'name_exact' END AS match_method,
                   CASE WHEN a.match_method = 'new' AND m._m <> a._first AND m.corporate_number IS NULL THEN 100.0
                        ELSE CAST(a.match_score AS DOUBLE) END AS match_score
            FROM _sc_mentions_all m JOIN _sc_reps a ON a._m = m._rep""",
    )
    # the new companies' distinct mentions, for the similar-name search
    new_mentions = run(
        con,
        """SELECT _m, name, country, _p, corporate_number, name_normalized, key, company_id, _first
           FROM _sc_reps WHERE match_method = 'new' ORDER BY _m""",
    ).df()
    for c in ("name", "country", "_p", "corporate_number", "name_normalized", "key", "company_id"):
        new_mentions[c] = new_mentions[c].astype(object).where(new_mentions[c].notna(), None)
    created = new_mentions[new_mentions["_m"] == new_mentions["_first"]]
    run(con, "DROP TABLE _sc_mentions_all")
    run(con, "DROP TABLE _sc_reps")
    names = NameIndex() if names is None else names
    wanted = _indexes_wanted(new_mentions)
    touched = _write_companies(con, RESOLVED_TABLE, wave)
    # the blocks this ingest has not indexed yet, as they are now (this batch's companies included)
    seed = _block_companies(con, [w for w in wanted if not names.indexed(*w)])
    different = _decided_different(con, new_mentions)
    search = (new_mentions, created, touched, seed, different, review_threshold, wave, names)
    if executor is not None:
        reviews = executor.submit(_similar_pairs, *search)
    else:
        reviews = Future()
        reviews.set_result(_similar_pairs(*search))
    return RESOLVED_TABLE, _PendingReviews(reviews)


class _PendingReviews:
    """The similar-name pairs of one :func:`start_resolving`, searched in the background or already found."""

    def __init__(self, future: Future):
        self._future = future

    def wait(self) -> None:
        """Wait for the search to end, whatever its outcome (the caller is failing)."""
        self._future.exception()

    def queue(self, con) -> None:
        """Add the pairs to the review queue (``entity_review``), in the caller's transaction."""
        reviews = self._future.result()
        if not reviews:
            return
        cols = [
            "review_id",
            "key_a",
            "key_b",
            "company_id_a",
            "company_id_b",
            "name_a",
            "name_b",
            "score",
            "reason",
            "first_wave",
        ]
        with registered(con, "_sc_reviews", pd.DataFrame(reviews, columns=cols)):
            run(
                con,
                """INSERT INTO entity_review
                        SELECT review_id, key_a, key_b, company_id_a, company_id_b, name_a, name_b, score, reason,
                               'pending', NULL, NULL, first_wave
                        FROM _sc_reviews r WHERE NOT EXISTS (SELECT 1 FROM entity_review e WHERE e.review_id = r.review_id)""",
            )
        log.info("%d company pairs queued for review", len(reviews))


def _resolve_reps(con) -> None:
    """Resolve each distinct mention (``_sc_mentions_all`` rows with ``_m = _rep``) into the
    table ``_sc_reps``: ``company_id``, ``match_method``, ``match_score`` and ``_first`` (the
    first mention of its company). By corporate number, remembered decision or name key against
    the database, else new: one id per corporate number or name key (:func:`company_id_for`),
    and a new mention without a number joins the one new company of its name key that has one.

    Only the companies that could match are read (joins on number, name key and decision), so
    the cost follows the files, not the database."""
    run(
        con,
        f"""CREATE OR REPLACE TEMP TABLE _sc_reps AS
        WITH r AS MATERIALIZED (
            SELECT _m, name, country, prefecture_code, corporate_number, _name_key AS name_normalized,
                   coalesce(prefecture_code, '') AS _p,
                   coalesce(country, '') || '|' || coalesce(prefecture_code, '') || '|' || _name_key AS key
            FROM _sc_mentions_all WHERE _m = _rep),
        by_number AS (
            SELECT r._m, min(c.company_id) AS company_id
            FROM r JOIN company c ON c.corporate_number = r.corporate_number GROUP BY 1),
        same AS (
            SELECT r._m, min(e.company_id_a) AS company_id
            FROM r JOIN entity_review e ON e.key_b = r.key AND e.status = 'same' GROUP BY 1),
        by_key AS (  -- a name key that fits two companies is a question, not an answer
            SELECT r._m, min(c.company_id) AS company_id
            FROM r JOIN company c ON c.country = r.country AND coalesce(c.prefecture_code, '') = r._p
                                 AND c.name_normalized = r.name_normalized
            WHERE r.corporate_number IS NULL OR c.corporate_number IS NULL OR c.corporate_number = r.corporate_number
            GROUP BY 1 HAVING min(c.company_id) = max(c.company_id)),
        found AS (  -- a corporate number beats a decision, which beats a name
            SELECT r.*,
                   coalesce(n.company_id, s.company_id, k.company_id,
                            {company_id_sql("r.corporate_number", "r.key")}) AS company_id,
                   CASE WHEN n._m IS NOT NULL THEN 'corporate_number' WHEN s._m IS NOT NULL THEN 'review_same'
                        WHEN k._m IS NOT NULL THEN 'name_exact' ELSE 'new' END AS match_method,
                   CASE WHEN n._m IS NULL AND s._m IS NULL AND k._m IS NOT NULL THEN 100.0 END AS match_score
            FROM r LEFT JOIN by_number n ON n._m = r._m LEFT JOIN same s ON s._m = r._m LEFT JOIN by_key k ON k._m = r._m),
        numbered AS (  -- the new companies with a number, of name keys that have only one
            SELECT key, min(company_id) AS company_id FROM found
            WHERE match_method = 'new' AND corporate_number IS NOT NULL
            GROUP BY key HAVING min(company_id) = max(company_id)),
        joined AS MATERIALIZED (
            SELECT f.* REPLACE (
                       coalesce(CASE WHEN f.match_method = 'new' AND f.corporate_number IS NULL THEN u.company_id END,
                                f.company_id) AS company_id,
                       CASE WHEN f.match_method = 'new' AND f.corporate_number IS NULL AND u.company_id IS NOT NULL
                            THEN 'name_exact' ELSE f.match_method END AS match_method,
                       CASE WHEN f.match_method = 'new' AND f.corporate_number IS NULL AND u.company_id IS NOT NULL
                            THEN 100.0 ELSE f.match_score END AS match_score)
            FROM found f LEFT JOIN numbered u ON u.key = f.key)
        -- a grouping joined back: a window over the company ids took a third longer
        SELECT j.*, f._first FROM joined j
        JOIN (SELECT company_id, min(_m) AS _first FROM joined GROUP BY 1) f ON f.company_id = j.company_id""",
    )


def _indexes_wanted(new: pd.DataFrame) -> list[tuple[str, str, bool]]:
    """The name indexes ``(country, prefecture, numbered)`` the similar-name search of ``new``
    mentions looks in: every mention among companies without a corporate number, a mention
    without one also among those with one."""
    blocks = new.assign(_unnumbered=new["corporate_number"].isna()).groupby(["country", "_p"])["_unnumbered"].any()
    wanted = [(country, pref, False) for country, pref in blocks.index]
    return wanted + [(country, pref, True) for (country, pref), unnumbered in blocks.items() if unnumbered]


#: What the name index keeps of a company (:meth:`NameIndex.add_frame`), as SQL over ``company``.
_INDEXED = (
    "{t}country AS country, coalesce({t}prefecture_code, '') AS _p, {t}corporate_number IS NOT NULL AS numbered,"
    " {t}name_normalized AS name_normalized, {t}company_id AS company_id, {t}name AS name"
)


def _block_companies(con, indexes: list[tuple[str, str, bool]]) -> tuple[list, pd.DataFrame | None]:
    """The companies of each of ``indexes`` (country, prefecture, numbered), for the name index."""
    if not indexes:
        return indexes, None
    with registered(con, "_sc_blocks", pd.DataFrame(indexes, columns=["country", "_p", "numbered"])):
        rows = run(
            con,
            f"""SELECT {_INDEXED.format(t="c.")}
               FROM company c JOIN _sc_blocks b ON b.country = c.country AND b._p = coalesce(c.prefecture_code, '')
                                               AND b.numbered = (c.corporate_number IS NOT NULL)""",
        ).df()
    return indexes, rows


def _decided_different(con, new: pd.DataFrame) -> set[tuple[str, str]]:
    """The pairs of name keys decided ``different`` before, among those of the ``new`` mentions."""
    if new.empty:
        return set()
    with registered(con, "_sc_new_keys", new[["key"]]):
        found = run(
            con,
            """SELECT key_a, key_b FROM entity_review
               WHERE status = 'different' AND key_b IN (SELECT key FROM _sc_new_keys)""",
        ).fetchall()
    return {tuple(r) for r in found}


def _similar_pairs(
    new: pd.DataFrame,
    created: pd.DataFrame,
    touched: pd.DataFrame,
    seed: tuple[list, pd.DataFrame | None],
    different: set,
    threshold: float,
    wave: int,
    names: NameIndex,
) -> list[tuple]:
    """Pairs (earlier company, new mention) with similar names in the same country and prefecture.

    Candidates are the companies of the mention's block (country, prefecture) in the database,
    except those ``created`` by this batch at or after the mention (a company of the batch is
    compared only with later mentions); never two companies with corporate numbers, nor a pair
    decided ``different`` before. First brings ``names`` up to date: the companies ``touched``
    by this batch (from :func:`_write_companies`) go into the indexes already built, and ``seed``
    (from :func:`_block_companies`) builds those this batch needs for the first time. No
    database work: it may run in another thread.
    """
    names.add_frame(touched, create=False)
    indexes, rows = seed
    for country, pref, numbered in indexes:
        names.build((country, pref), numbered)  # built, even if the block has no such company yet
    names.add_frame(rows, create=True)
    created_m = dict(zip(created["company_id"].tolist(), created["_m"].tolist()))
    reviews = []
    seen = set()
    # one query per name and company: a firm mentioned by many buyers is compared once
    new = new.drop_duplicates(["key", "company_id", "corporate_number"])
    for (country, pref), part in new.groupby(["country", "_p"]):
        # A typo or variant is a few edits away (東邦ミナト精機 / 東邦ミナト精器), whatever the length
        # of the name; and it must stay similar without the generic words ("Kavro Alloys" and
        # "Zembri Alloys" share only "Alloys"; 東邦ミナト精機 and 東邦ミナト電子 differ in trade).
        names_q = part["name_normalized"].tolist()
        q_numbered = part["corporate_number"].notna().to_numpy()
        q_key, q_id, q_name, q_m = (part[c].tolist() for c in ("key", "company_id", "name", "_m"))
        prefix = f"{country}|{pref}|"
        for qi, name_c, carriers in names.candidates((country, pref), names_q, q_numbered):
            if fuzz.ratio(distinctive_name(names_q[qi]), distinctive_name(name_c)) < threshold:
                continue
            pair = (prefix + name_c, q_key[qi])
            if pair in different or pair in seen:
                continue
            # the earlier companies first (by id), then those of this batch in order of mention
            found = [
                (created_m.get(cid, -1), cid, raw)
                for cid, raw in carriers
                if cid != q_id[qi] and created_m.get(cid, -1) < q_m[qi]
            ]
            if not found:
                continue
            _, cid, raw = min(found, key=lambda f: (f[0] >= 0, f[0], f[1]))
            seen.add(pair)
            reviews.append(
                (
                    review_id_for(*pair),
                    *pair,
                    cid,
                    q_id[qi],
                    raw,
                    q_name[qi],
                    float(fuzz.ratio(names_q[qi], name_c)),
                    f"similar names in {country} {pref}".strip(),
                    wave,
                )
            )
    return reviews


class NameIndex:
    """The names of each block (country, prefecture), indexed to find names a few edits apart.

    Two names at most *k* edits apart (Levenshtein) become equal once at most *k* characters are
    deleted from each (a substitution deletes one character on both sides, an insertion one on
    the other side), so every name is indexed by the hashes of all the strings its deletions of
    up to :data:`MAX_EDITS` characters leave — the symmetric-deletion neighbourhood — and a query
    meets every name within reach among the names sharing one of those hashes; the few
    candidates are then checked with the exact distance. Against comparing every pair this is
    about ``L²/2`` hashes per name of length ``L`` instead of ``N`` distances per name.

    The names of companies with and without a corporate number are indexed apart (two numbers
    are two companies: a numbered name is looked up only among the unnumbered), each with the
    companies carrying it. One index serves the batches of one ingest call, which keeps it up
    to date (:meth:`add_frame`): a name is hashed once, when first added. A company that gains a
    corporate number or a prefecture is added where it now belongs, and its latest place is
    kept, so that where it was before it is no longer a candidate.
    """

    def __init__(self) -> None:
        self._blocks: dict[tuple, _BlockIndex] = {}
        self._moved: dict[str, tuple] = {}  # company -> (block, numbered) of its latest update

    def indexed(self, country: str, prefecture: str, numbered: bool) -> bool:
        """Whether the names of the block's companies with (or without) a corporate number are indexed."""
        return ((country, prefecture), bool(numbered)) in self._blocks

    def add(
        self,
        block: tuple,
        names: list[str],
        numbered=None,
        *,
        companies: list[tuple[str, str]] | None = None,
        create: bool = True,
    ) -> None:
        """Index ``names`` of ``block`` (``numbered``: booleans, which belong to a company with a
        corporate number; ``companies``: the (company id, name as reported) carrying each); with
        ``create=False`` only into indexes already built."""
        numbered = np.zeros(len(names), bool) if numbered is None else np.asarray(numbered, bool)
        for flag in (False, True):
            rows = np.flatnonzero(numbered == flag).tolist()
            if not rows:  # an index is built only for names of its kind (see :meth:`build`)
                continue
            index = self.build(block, flag) if create else self._blocks.get((block, flag))
            if index is not None:
                index.add([names[i] for i in rows], None if companies is None else [companies[i] for i in rows])

    def build(self, block: tuple, numbered: bool) -> _BlockIndex:
        """The index of the block's names with (or without) a corporate number, built (empty) if it was not."""
        return self._blocks.setdefault((block, bool(numbered)), _BlockIndex())

    def add_frame(self, rows: pd.DataFrame | None, *, create: bool) -> None:
        """:meth:`add` the companies of a frame (``country``, ``_p``, ``numbered``,
        ``name_normalized``, ``company_id``, ``name``), and keep their place as the latest."""
        if rows is None or rows.empty:
            return
        for (country, pref), part in rows.groupby(["country", "_p"]):
            numbered = part["numbered"].to_numpy(bool)
            ids = part["company_id"].tolist()
            self.add(
                (country, pref),
                part["name_normalized"].tolist(),
                numbered,
                companies=list(zip(ids, part["name"].tolist())),
                create=create,
            )
            self._moved.update(zip(ids, [((country, pref), flag) for flag in numbered.tolist()]))

    def _close(self, block: tuple, names_q: list[str], numbered_q) -> list[tuple[bool, _BlockIndex, np.ndarray, np.ndarray]]:
        numbered_q = np.zeros(len(names_q), bool) if numbered_q is None else np.asarray(numbered_q, bool)
        found = []
        for flag in (False, True):
            index = self._blocks.get((block, flag))
            rows_q = np.flatnonzero(~numbered_q) if flag else np.arange(len(names_q))
            if index is None or not len(rows_q):
                continue
            q, c = index.close_pairs([names_q[i] for i in rows_q.tolist()])
            found.append((flag, index, rows_q[q], c))
        return found

    def close_pairs(self, block: tuple, names_q: list[str], numbered_q=None) -> tuple[np.ndarray, list[str]]:
        """Pairs ``(i, name)``, ``name`` an indexed name of ``block`` at most :data:`MAX_EDITS`
        edits from ``names_q[i]``; each pair once, in order of ``i``.

        ``numbered_q`` (booleans) says which queries belong to a company with a corporate
        number: those look only among the names of companies without one."""
        pairs = {
            (q, index.names[c])
            for _, index, qs, cs in self._close(block, names_q, numbered_q)
            for q, c in zip(qs.tolist(), cs.tolist())
        }
        pairs = sorted(pairs)
        return np.array([q for q, _ in pairs], np.int64), [n for _, n in pairs]

    def candidates(self, block: tuple, names_q: list[str], numbered_q=None):
        """``(i, name, companies)`` for each name of :meth:`close_pairs`, with the (company id,
        reported name) of the companies that carry it and are in the block (and of the kind)
        they were indexed as; in order of ``i``."""
        merged: dict[tuple, list] = {}  # a name of both kinds: its companies of both
        for flag, index, qs, cs in self._close(block, names_q, numbered_q):
            place = (block, flag)
            for q, c in zip(qs.tolist(), cs.tolist()):
                carriers = [(cid, raw) for cid, raw in index.carriers[c] if self._moved.get(cid, place) == place]
                merged.setdefault((q, index.names[c]), []).extend(carriers)
        return [(q, name, carriers) for (q, name), carriers in sorted(merged.items(), key=lambda kv: kv[0][0])]


class _BlockIndex:
    """Distinct names of one block, the companies carrying each and the sorted deletion hashes
    of each, in a few sorted runs."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.carriers: list[list[tuple[str, str]]] = []  # per name: (company id, reported name)
        self.position: dict[str, int] = {}
        self.runs: list[np.ndarray] = []  # sorted packed words (:func:`_pack`): hash and name position

    def close_pairs(self, names_q: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Pairs (query index, name position) of names at most :data:`MAX_EDITS` edits apart."""
        if not names_q or not self.names:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        q_pos, name_pos = self.lookup(names_q)
        if not len(q_pos):
            return q_pos, name_pos
        # the exact distance, once per pair of names
        q_names = [names_q[i] for i in q_pos.tolist()]
        c_names = [self.names[i] for i in name_pos.tolist()]
        edits = process.cpdist(q_names, c_names, scorer=Levenshtein.distance, score_cutoff=MAX_EDITS, workers=-1)
        close = edits <= MAX_EDITS
        return q_pos[close], name_pos[close]

    def add(self, names: list[str], companies: list[tuple[str, str]] | None = None) -> None:
        """Index the names not seen before; note the ``companies`` carrying each (if given)."""
        position = self.position
        fresh = list(dict.fromkeys(n for n in names if n not in position))
        if fresh:
            if len(self.names) + len(fresh) > _OWNER_MASK + 1:
                raise SupplyChainError(f"more than {int(_OWNER_MASK) + 1:,} distinct company names in one block")
            first = len(self.names)
            self.names += fresh
            self.carriers += [[] for _ in fresh]
            position.update(zip(fresh, range(first, first + len(fresh))))
            owner, hashes = deletion_hashes(fresh, MAX_EDITS)
            self.runs.append(np.sort(_pack(hashes, owner + first)))
            # merge runs of similar size, so that a block has few (about log of its names)
            while len(self.runs) > 1 and len(self.runs[-2]) <= 2 * len(self.runs[-1]):
                h1, h2 = self.runs.pop(), self.runs.pop()
                self.runs.append(np.sort(np.concatenate([h2, h1]), kind="stable"))  # two sorted runs: a linear merge
        if companies is not None:
            carriers = self.carriers
            for name, company in zip(names, companies):
                listed = carriers[position[name]]
                if company not in listed:
                    listed.append(company)

    def lookup(self, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Distinct pairs (query index, name position) sharing a deletion hash."""
        chunk = int(_OWNER_MASK) + 1
        if len(names) > chunk:  # a query's index must fit beside its hash
            parts = [self.lookup(names[i : i + chunk]) for i in range(0, len(names), chunk)]
            return np.concatenate([q + i * chunk for i, (q, _) in enumerate(parts)]), np.concatenate([c for _, c in parts])
        owner, hashes = deletion_hashes(names, MAX_EDITS)
        probes = np.sort(_pack(hashes, owner))  # sorted queries probe the runs in cache order
        owner, hashes = (probes & _OWNER_MASK).astype(np.int64), probes & ~_OWNER_MASK
        qs, cs = [], []
        for words in self.runs:
            lo = np.searchsorted(words, hashes, side="left")
            # most hashes are in no run: find the right end only for those that are
            hit = np.flatnonzero(words[np.minimum(lo, len(words) - 1)] & ~_OWNER_MASK == hashes)
            hi = np.searchsorted(words, hashes[hit] | _OWNER_MASK, side="right")
            q, at = _expand(owner[hit], lo[hit], hi - lo[hit])
            qs.append(q)
            cs.append((words[at] & _OWNER_MASK).astype(np.int64))
        q, c = np.concatenate(qs), np.concatenate(cs)
        n = max(len(self.names), 1)
        pairs = np.sort(pd.unique(q * n + c))  # hashing, then sorting only the distinct pairs
        return pairs // n, pairs % n


#: A deletion hash and the name it belongs to share one 64-bit word: the hash's high 40 bits, the
#: name's position in the low 24 (16.7M distinct names per block). Sorting the words sorts by hash
#: and carries the names along, at about half the cost of sorting indices and gathering. Two
#: names whose hashes agree in 40 bits meet as candidates; the exact distance sorts them out.
_OWNER_BITS = 24
_OWNER_MASK = np.uint64((1 << _OWNER_BITS) - 1)


def _pack(hashes: np.ndarray, owners: np.ndarray) -> np.ndarray:
    return (hashes & ~_OWNER_MASK) | owners.astype(np.uint64)


def _expand(keys: np.ndarray, lo: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each ``keys[i]``, the positions ``lo[i] .. lo[i] + counts[i] - 1``: (repeated keys, positions)."""
    total = int(counts.sum())
    starts = np.cumsum(counts) - counts
    return np.repeat(keys, counts), np.repeat(lo - starts, counts) + np.arange(total)


_B = np.uint64(0x9E3779B97F4A7C15)  # odd, so invertible modulo 2**64
_B_INV = np.uint64(pow(int(_B), -1, 2**64))
_LENGTH_MIX = np.uint64(0xA0761D6478BD642F)


def deletion_hashes(names: list[str], k: int = MAX_EDITS) -> tuple[np.ndarray, np.ndarray]:
    """``(owner, hash)`` of every string left by deleting at most ``k`` (0, 1 or 2) characters of each name.

    The hash is polynomial in wrapping 64-bit arithmetic: ``sum((c_t + 1) * B**t)`` mixed with
    the length of the result, computed for all deletions of a name at once from its prefix sums
    (deleting position ``i`` shifts the later terms by ``B**-1``). Equal strings give equal
    hashes, so a lookup misses nothing; an unequal pair may collide, which the exact distance
    checked afterwards sorts out.
    """
    if k not in (0, 1, 2):
        raise ValueError(f"k must be 0, 1 or 2, not {k}")
    lengths = np.fromiter(map(len, names), np.int64, count=len(names))
    owners, hashes = [], []
    with np.errstate(over="ignore"):
        for length in np.unique(lengths).tolist():
            rows = np.flatnonzero(lengths == length)
            text = "".join(names[i] for i in rows.tolist())
            codes = np.frombuffer(text.encode("utf-32-le"), np.uint32).reshape(len(rows), length).astype(np.uint64)
            powers = np.cumprod(np.full(length, _B, np.uint64)) * _B_INV if length else np.empty(0, np.uint64)
            prefix = np.zeros((len(rows), length + 1), np.uint64)
            np.cumsum((codes + np.uint64(1)) * powers, axis=1, out=prefix[:, 1:])
            whole = prefix[:, length:]
            parts, left = [whole], [length]
            if k >= 1 and length >= 1:
                i = np.arange(length)
                parts.append(prefix[:, i] + _B_INV * (whole - prefix[:, i + 1]))
                left.append(length - 1)
            if k >= 2 and length >= 2:
                i, j = np.triu_indices(length, 1)
                parts.append(
                    prefix[:, i] + _B_INV * (prefix[:, j] - prefix[:, i + 1]) + _B_INV * _B_INV * (whole - prefix[:, j + 1])
                )
                left.append(length - 2)
            mix = np.concatenate([np.full(p.shape[1], n, np.uint64) for p, n in zip(parts, left)]) * _LENGTH_MIX
            h = np.concatenate(parts, axis=1) ^ mix
            owners.append(np.repeat(rows, h.shape[1]))
            hashes.append(h.ravel())
    if not owners:
        return np.empty(0, np.int64), np.empty(0, np.uint64)
    return np.concatenate(owners), np.concatenate(hashes)


def _write_companies(con, mentions: str, wave: int) -> pd.DataFrame:
    """Create and update the companies of the resolved ``mentions`` (a table; ``_m`` orders its rows).

    Returns the companies created or changed, as the name index keeps them
    (:meth:`NameIndex.add_frame`)."""
    # one company mentioned in several returns of a batch: as if loaded one after another, the
    # first report of each field counts (mentions in order ``_m``), but the latest of size and
    # SME status; a prime if any report says so.
    first = ["corporate_number", "name", "name_normalized", "name_kana", "name_en", "country", "prefecture_code"]
    run(
        con,
        f"""CREATE OR REPLACE TEMP TABLE _sc_resolved AS
            SELECT CAST(company_id AS VARCHAR) AS company_id,
                   {", ".join(f"CAST(arg_min({c}, _m) FILTER (WHERE {c} IS NOT NULL) AS VARCHAR) AS {c}" for c in first)},
                   CAST(arg_max(employees, _m) FILTER (WHERE employees IS NOT NULL) AS BIGINT) AS employees,
                   CAST(arg_max(is_sme, _m) FILTER (WHERE is_sme IS NOT NULL) AS BOOLEAN) AS is_sme,
                   bool_or(CAST(is_prime AS BOOLEAN)) AS is_prime
            FROM {mentions} GROUP BY company_id ORDER BY min(_m)""",
    )
    inserted = run(
        con,
        f"""
            INSERT INTO company
            SELECT company_id, corporate_number, name, name_normalized, name_kana, name_en, country,
                   prefecture_code, employees, is_sme, is_prime, NULL, ?, ?
            FROM _sc_resolved r WHERE NOT EXISTS (SELECT 1 FROM company c WHERE c.company_id = r.company_id)
            RETURNING {_INDEXED.format(t="")}
        """,
        [wave, wave],
    ).df()
    updated = run(
        con,
        f"""
        UPDATE company SET
            corporate_number = coalesce(company.corporate_number, r.corporate_number),
            name_kana = coalesce(company.name_kana, r.name_kana),
            name_en = coalesce(company.name_en, r.name_en),
            prefecture_code = coalesce(company.prefecture_code, r.prefecture_code),
            employees = CASE WHEN ? >= company.last_wave THEN coalesce(r.employees, company.employees) ELSE company.employees END,
            is_sme = CASE WHEN ? >= company.last_wave THEN coalesce(r.is_sme, company.is_sme) ELSE company.is_sme END,
            is_prime = coalesce(company.is_prime, false) OR coalesce(r.is_prime, false),
            first_wave = least(company.first_wave, ?),
            last_wave = greatest(company.last_wave, ?)
        FROM _sc_resolved r WHERE company.company_id = r.company_id
          AND (  -- only the companies this report changes: an update rewrites the row
               (company.corporate_number IS NULL AND r.corporate_number IS NOT NULL)
            OR (company.name_kana IS NULL AND r.name_kana IS NOT NULL)
            OR (company.name_en IS NULL AND r.name_en IS NOT NULL)
            OR (company.prefecture_code IS NULL AND r.prefecture_code IS NOT NULL)
            OR (? >= company.last_wave AND r.employees IS NOT NULL AND r.employees IS DISTINCT FROM company.employees)
            OR (? >= company.last_wave AND r.is_sme IS NOT NULL AND r.is_sme IS DISTINCT FROM company.is_sme)
            OR company.is_prime IS NULL OR (NOT company.is_prime AND coalesce(r.is_prime, false))
            OR ? < company.first_wave OR ? > company.last_wave)
        RETURNING {_INDEXED.format(t="company.")}
    """,
        [wave, wave, wave, wave, wave, wave, wave, wave],
    ).df()
    run(con, "DROP TABLE _sc_resolved")  # rolled back with the transaction on an error
    return pd.concat([inserted, updated], ignore_index=True)


def review_queue(con, *, status: str | None = "pending") -> pd.DataFrame:
    """The entity review queue (``status=None`` for every pair), most similar first."""
    where, params = ("WHERE status = ?", [status]) if status else ("", [])
    return run(
        con,
        "SELECT review_id, name_a, name_b, score, reason, status, company_id_a, company_id_b, key_a, key_b,"
        f" decided_by, decided_at, first_wave FROM entity_review {where} ORDER BY score DESC, review_id",
        params,
    ).df()


def decide(con, review_id: str, decision: str, *, user: str | None = None) -> None:
    """Record a review decision: ``"same"`` merges the newer company into the existing one.

    The decision is remembered: later files mentioning the same name key resolve the same way.
    """
    if decision not in ("same", "different"):
        raise SupplyChainError(f"decision must be 'same' or 'different', got {decision!r}")
    found = run(con, "SELECT company_id_a, company_id_b, status FROM entity_review WHERE review_id = ?", [review_id]).fetchone()
    if found is None:
        raise SupplyChainError(f"no review {review_id!r}; see `supplychain review entities`")
    a, b, status = found
    user = user or audit.current_user()
    with transaction(con):
        run(
            con,
            "UPDATE entity_review SET status = ?, decided_by = ?, decided_at = now() WHERE review_id = ?",
            [decision, user, review_id],
        )
        if decision == "same" and a != b:
            merge_companies(con, keep=a, drop=b)
        run(
            con,
            "INSERT INTO audit_log VALUES (now(), ?, 'entity_review', ?, to_json(?::STRUCT(decision VARCHAR, previous VARCHAR, kept VARCHAR, merged VARCHAR)))",
            [user, review_id, {"decision": decision, "previous": status, "kept": a, "merged": b}],
        )
    audit.record(
        con, "entity_review", review_id, parameters={"decision": decision, "previous": status, "kept": a, "merged": b}, user=user
    )


def merge_companies(con, *, keep: str, drop: str) -> None:
    """Point every reference to company ``drop`` at ``keep`` and delete ``drop`` (caller's transaction)."""
    run(
        con,
        """
        UPDATE company SET
            corporate_number = coalesce(company.corporate_number, d.corporate_number),
            name_kana = coalesce(company.name_kana, d.name_kana),
            name_en = coalesce(company.name_en, d.name_en),
            first_wave = least(company.first_wave, d.first_wave),
            last_wave = greatest(company.last_wave, d.last_wave)
        FROM (SELECT * FROM company WHERE company_id = ?) d WHERE company.company_id = ?
    """,
        [drop, keep],
    )
    for table, column in company_reference_columns():
        run(con, f'UPDATE "{table}" SET "{column}" = ? WHERE "{column}" = ?', [keep, drop])
    run(con, "DELETE FROM company WHERE company_id = ?", [drop])
