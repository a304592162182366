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

import getpass
import hashlib
import logging

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein

from ..db import registered, run, transaction
from ..exceptions import SupplyChainError
from .normalize import distinctive_name, normalize_company_name
from .schema import company_reference_columns

__all__ = ["resolve_companies", "name_key", "company_id_for", "review_queue", "decide", "REVIEW_THRESHOLD"]

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


def review_id_for(key_a: str, key_b: str) -> str:
    return "R" + _hash(f"{key_a}\x1f{key_b}", 11)


def resolve_companies(con, companies: pd.DataFrame, *, wave: int, review_threshold: float = REVIEW_THRESHOLD) -> pd.DataFrame:
    """Resolve accepted ``companies`` rows to company ids, inside the caller's transaction.

    The rows may come from several returns of one wave (a ``_file`` column tells them apart;
    ``company_ref`` is unique within a return). Creates the companies that are new, fills what
    existing ones lacked, queues similar names for review. Returns ``companies`` with
    ``company_id``, ``name_normalized``, ``match_method`` and ``match_score`` added.

    Within a batch, the mentions behave as if the returns were loaded one after another: a
    mention without a corporate number joins the batch's one new company with the same name key
    and a number, and similar names are queued between returns of the batch as against the
    database.
    """
    df = companies.reset_index(drop=True).copy()
    for c in ("name", "country", "prefecture_code", "corporate_number"):
        df[c] = df[c].astype(object).where(df[c].notna(), None)
    df["_m"] = np.arange(len(df))
    # A firm is mentioned by many returns in the same words: resolve each distinct mention once
    # (the first, ``reps``) and give the others its answer.
    signature = df["corporate_number"].fillna("") + "\x1f" + df["name"] + "\x1f" + df["country"].fillna("") + "\x1f"
    signature += df["prefecture_code"].fillna("")
    sig, _ = pd.factorize(signature)
    first_of_sig = ~pd.Series(sig).duplicated().to_numpy()
    reps = df.loc[first_of_sig, ["_m", "name", "country", "prefecture_code", "corporate_number"]].copy()
    reps["name_normalized"] = [normalize_company_name(n) for n in reps["name"].tolist()]
    reps["_p"] = reps["prefecture_code"].fillna("")
    reps["key"] = reps["country"].fillna("") + "|" + reps["_p"] + "|" + reps["name_normalized"]
    reps["company_id"] = None
    reps["match_method"] = None
    reps["match_score"] = None
    _match(con, reps)
    new_reps = reps["match_method"] == "new"
    # map the answers back to every mention
    for c in ("name_normalized", "_p", "key", "company_id", "match_method", "match_score"):
        df[c] = reps[c].to_numpy(object)[sig]  # factorize numbers signatures in order of first appearance
    new = df["match_method"].eq("new").to_numpy()
    first_mention = df.groupby("company_id", sort=False)["_m"].min()
    # the first mention creates a company; later ones in the batch match it as they would have
    # matched it in the database, by number or by name
    later = new & (df["_m"] != df["company_id"].map(first_mention)).to_numpy()
    df.loc[later & df["corporate_number"].notna().to_numpy(), "match_method"] = "corporate_number"
    df.loc[later & df["corporate_number"].isna().to_numpy(), ["match_method", "match_score"]] = ["name_exact", 100.0]
    created = reps[new_reps & (reps["_m"] == reps["company_id"].map(first_mention)).to_numpy()]
    reviews = _queue_similar(con, reps[new_reps], created, review_threshold, wave)
    _write_companies(con, df, wave)
    if reviews:
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
    return df.drop(columns=["key", "_p", "_m"])


def _match(con, df: pd.DataFrame) -> None:
    """Set ``company_id``, ``match_method`` and ``match_score`` of distinct mentions ``df``: by
    corporate number, remembered decision or name key against the database, else new."""
    mentions = df[["_m", "corporate_number", "key", "country", "_p", "name_normalized"]]
    # Only the companies that could match these mentions are fetched: by number, by name key, by
    # a remembered decision. Set-based joins, so the cost follows the files, not the database.
    with registered(con, "_sc_mentions", mentions):
        by_number = run(
            con,
            """SELECT m._m, c.company_id FROM _sc_mentions m
                                JOIN company c ON c.corporate_number = m.corporate_number""",
        ).df()
        same = run(
            con,
            """SELECT m._m, any_value(e.company_id_a) AS company_id FROM _sc_mentions m
                           JOIN entity_review e ON e.key_b = m.key AND e.status = 'same' GROUP BY 1""",
        ).df()
        by_key = run(
            con,
            """SELECT m._m, c.company_id FROM _sc_mentions m
                             JOIN company c ON c.country = m.country AND coalesce(c.prefecture_code, '') = m._p
                                           AND c.name_normalized = m.name_normalized
                             WHERE m.corporate_number IS NULL OR c.corporate_number IS NULL
                                OR c.corporate_number = m.corporate_number""",
        ).df()
    by_key = by_key[by_key.groupby("_m")["company_id"].transform("nunique") == 1].drop_duplicates("_m")
    for found, method, score in (
        (by_key, "name_exact", 100.0),
        (same, "review_same", None),
        (by_number, "corporate_number", None),
    ):
        # later assignments win: a corporate number beats a decision, which beats a name
        idx = df["_m"].map(dict(zip(found["_m"].tolist(), found["company_id"].tolist())))  # lists: no per-item Arrow access
        hit = idx.notna()
        df.loc[hit, "company_id"] = idx[hit]
        df.loc[hit, "match_method"] = method
        df.loc[hit, "match_score"] = score

    # New companies: one id per corporate number or name key, even when listed twice.
    new = df["company_id"].isna()
    df.loc[new, "company_id"] = [
        company_id_for(cn, key) for cn, key in zip(df.loc[new, "corporate_number"].tolist(), df.loc[new, "key"].tolist())
    ]
    df.loc[new, "match_method"] = "new"
    # A new mention without a number joins the one new company of its name key that has one.
    numbered = df.loc[new & df["corporate_number"].notna(), ["key", "company_id"]].drop_duplicates()
    numbered = dict(numbered[~numbered["key"].duplicated(keep=False)].to_numpy())
    joins = new & df["corporate_number"].isna() & df["key"].isin(numbered.keys())
    if joins.any():
        df.loc[joins, "company_id"] = df.loc[joins, "key"].map(numbered)
        df.loc[joins, "match_method"] = "name_exact"
        df.loc[joins, "match_score"] = 100.0


def _queue_similar(con, new: pd.DataFrame, created: pd.DataFrame, threshold: float, wave: int) -> list[tuple]:
    """Pairs (earlier company, new mention) with similar names in the same country and prefecture.

    Candidates are the companies already in the database in the blocks (country, prefecture) of
    the new mentions, and the companies ``created`` by earlier mentions (``_m``) of this batch;
    pairs decided ``different`` before are not asked again.
    """
    if new.empty:
        return []
    # a block whose new mentions all have corporate numbers needs only its companies without one
    blocks = (
        new.assign(_unnumbered=new["corporate_number"].isna()).groupby(["country", "_p"], as_index=False)["_unnumbered"].any()
    )
    with registered(con, "_sc_blocks", blocks), registered(con, "_sc_new_keys", new[["key"]]):
        existing = run(
            con,
            """
            SELECT c.company_id, c.corporate_number, c.name, c.country, coalesce(c.prefecture_code, '') AS _p,
                   c.name_normalized, c.country || '|' || coalesce(c.prefecture_code, '') || '|' || c.name_normalized AS key,
                   -1 AS _m
            FROM company c JOIN _sc_blocks b ON b.country = c.country AND b._p = coalesce(c.prefecture_code, '')
            WHERE b._unnumbered OR c.corporate_number IS NULL
            ORDER BY c.company_id""",
        ).df()
        different = {
            tuple(r)
            for r in run(
                con,
                """SELECT key_a, key_b FROM entity_review
                     WHERE status = 'different' AND key_b IN (SELECT key FROM _sc_new_keys)""",
            ).fetchall()
        }
    created = created[existing.columns]
    existing = pd.concat([existing.astype(object), created.astype(object)], ignore_index=True)
    if existing.empty:
        return []
    reviews = []
    seen = set()
    groups = dict(tuple(existing.groupby(["country", "_p"])))
    # one query per name and company: a firm mentioned by many buyers is compared once
    new = new.drop_duplicates(["key", "company_id", "corporate_number"])
    for (country, pref), part in new.groupby(["country", "_p"]):
        block = groups.get((country, pref))
        if block is None:
            continue
        # A typo or variant is a few edits away (東邦ミナト精機 / 東邦ミナト精器), whatever the length
        # of the name; and it must stay similar without the generic words ("Kavro Alloys" and
        # "Zembri Alloys" share only "Alloys"; 東邦ミナト精機 and 東邦ミナト電子 differ in trade).
        names_q, names_c = part["name_normalized"].tolist(), block["name_normalized"].tolist()
        q_cn, q_key, q_id, q_name, q_m = (
            part[c].to_numpy(object) for c in ("corporate_number", "key", "company_id", "name", "_m")
        )
        c_cn, c_key, c_id, c_name, c_m = (
            block[c].to_numpy(object) for c in ("corporate_number", "key", "company_id", "name", "_m")
        )
        # two corporate numbers are two companies: a numbered mention is compared only with
        # companies without a number
        q_numbered = np.array([isinstance(x, str) for x in q_cn], dtype=bool)
        c_unnumbered = np.flatnonzero([not isinstance(x, str) for x in c_cn])
        candidates = _close_pairs(names_q, names_c, np.flatnonzero(~q_numbered), np.arange(len(names_c)))
        candidates += _close_pairs(names_q, names_c, np.flatnonzero(q_numbered), c_unnumbered)
        if not candidates:
            continue
        for qi, ci in candidates:  # few: scored one by one
            if fuzz.ratio(distinctive_name(names_q[qi]), distinctive_name(names_c[ci])) < threshold:
                continue
            if c_m[ci] >= q_m[qi]:
                continue  # a company of this batch is compared only with later mentions
            pair = (c_key[ci], q_key[qi])
            if c_id[ci] == q_id[qi] or pair in different or pair in seen:
                continue
            seen.add(pair)
            reviews.append(
                (
                    review_id_for(*pair),
                    *pair,
                    c_id[ci],
                    q_id[qi],
                    c_name[ci],
                    q_name[qi],
                    float(fuzz.ratio(names_q[qi], names_c[ci])),
                    f"similar names in {country} {pref}".strip(),
                    wave,
                )
            )
    return reviews


def _close_pairs(names_q: list[str], names_c: list[str], qi: np.ndarray, ci: np.ndarray) -> list[tuple[int, int]]:
    """(query, candidate) index pairs, among ``qi`` x ``ci``, at most :data:`MAX_EDITS` edits apart.

    Names whose lengths differ by more than :data:`MAX_EDITS` cannot be that close, so each
    query length is compared only with the candidates of nearby lengths, in bounded chunks.
    """
    if not len(qi) or not len(ci):
        return []
    q_len = np.array([len(names_q[i]) for i in qi])
    c_len = np.array([len(names_c[i]) for i in ci])
    out: list[tuple[int, int]] = []
    for length in np.unique(q_len):
        qs = qi[q_len == length]
        cs = ci[np.abs(c_len - length) <= MAX_EDITS]
        if not len(cs):
            continue
        targets = [names_c[i] for i in cs]
        for at in range(0, len(qs), _CHUNK):  # a chunk's distance matrix stays small
            chunk = qs[at : at + _CHUNK]
            edits = process.cdist(
                [names_q[i] for i in chunk],
                targets,
                scorer=Levenshtein.distance,
                score_cutoff=MAX_EDITS,
                dtype=np.uint8,
                workers=-1,
            )
            rows, cols = np.nonzero(edits <= MAX_EDITS)
            out += zip(chunk[rows].tolist(), cs[cols].tolist())
    return out


#: Queries per distance matrix in :func:`_close_pairs`.
_CHUNK = 2048


def _write_companies(con, df: pd.DataFrame, wave: int) -> None:
    cols = [
        "company_id",
        "corporate_number",
        "name",
        "name_normalized",
        "name_kana",
        "name_en",
        "country",
        "prefecture_code",
        "employees",
        "is_sme",
        "is_prime",
        "parent_company_id",
    ]
    frame = df.assign(parent_company_id=None)[cols]
    if frame["company_id"].duplicated().any():
        # one company mentioned in several returns of a batch: as if loaded one after another,
        # the first report of each field counts, but the latest of size and SME status
        agg = {c: "first" for c in cols if c != "company_id"}
        agg.update(employees="last", is_sme="last", is_prime="max")
        prime = frame["is_prime"].map({True: 1.0, False: 0.0}).astype(float)
        frame = frame.assign(is_prime=prime).groupby("company_id", sort=False, as_index=False).agg(agg)
        frame["is_prime"] = frame["is_prime"].map({1.0: True, 0.0: False}).astype(object)
        frame = frame[cols]
    with registered(con, "_sc_resolved", frame):
        run(
            con,
            """
            INSERT INTO company
            SELECT company_id, corporate_number, name, name_normalized, name_kana, name_en, country,
                   prefecture_code, employees, is_sme, is_prime, NULL, ?, ?
            FROM _sc_resolved r WHERE NOT EXISTS (SELECT 1 FROM company c WHERE c.company_id = r.company_id)
        """,
            [wave, wave],
        )
        run(
            con,
            """
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
        """,
            [wave, wave, wave, wave, wave, wave, wave, wave],
        )


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
    user = user or getpass.getuser()
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
