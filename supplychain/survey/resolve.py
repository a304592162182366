"""Entity resolution: the same company reported by several respondents becomes one ``company``.

Rules, in order (DESIGN §2, issue 2):

1. **Corporate number.** A valid 法人番号 identifies a company; the same number is the same company.
2. **A remembered decision.** A pair once decided in the review queue (``supplychain review
   entities``) is decided the same way in every later file and wave.
3. **Exact name key.** The normalised name (:func:`~supplychain.survey.normalize.normalize_company_name`)
   plus country and prefecture. Two different corporate numbers are never merged by name.
4. **Similar names** (rapidfuzz ``ratio`` ≥ ``review_threshold`` of the names without generic
   business words, :func:`~supplychain.survey.normalize.distinctive_name`; same country and prefecture) are
   *not* merged: the mention becomes a company of its own and the pair goes to the review queue.

Different prefectures never match by name: two firms called 山田精機 in 東京都 and 大阪府 are
two firms unless their corporate numbers say otherwise.
"""

from __future__ import annotations

import getpass
import hashlib
import logging

import pandas as pd
from rapidfuzz import fuzz, process

from ..db import registered, run, transaction
from ..exceptions import SupplyChainError
from .normalize import distinctive_name, normalize_company_name
from .schema import company_reference_columns

__all__ = ["resolve_companies", "name_key", "company_id_for", "review_queue", "decide", "REVIEW_THRESHOLD"]

log = logging.getLogger(__name__)

#: Name similarity (0–100, rapidfuzz ratio of the normalised names) from which a pair is queued.
REVIEW_THRESHOLD = 80.0


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
    return "C" + _hash(f"cn:{corporate_number}" if corporate_number else f"nm:{key}")


def review_id_for(key_a: str, key_b: str) -> str:
    return "R" + _hash(f"{key_a}\x1f{key_b}", 11)


def resolve_companies(con, companies: pd.DataFrame, *, wave: int, review_threshold: float = REVIEW_THRESHOLD) -> pd.DataFrame:
    """Resolve the accepted ``companies`` rows of one return to company ids, inside the caller's transaction.

    Creates the companies that are new, fills what existing ones lacked, queues similar names for
    review. Returns ``companies`` with ``company_id``, ``name_normalized``, ``match_method`` and
    ``match_score`` added.
    """
    df = companies.copy()
    df["name_normalized"] = [normalize_company_name(n) for n in df["name"]]
    df["key"] = [
        f"{'' if pd.isna(c) else c}|{'' if pd.isna(p) else p}|{n}"
        for c, p, n in zip(df["country"], df["prefecture_code"], df["name_normalized"])
    ]
    df["company_id"] = None
    df["match_method"] = None
    df["match_score"] = None

    existing = run(
        con,
        "SELECT company_id, corporate_number, name, country, prefecture_code, name_normalized,"
        " country || '|' || coalesce(prefecture_code, '') || '|' || name_normalized AS key FROM company",
    ).df()
    by_number = dict(zip(existing["corporate_number"].dropna(), existing.loc[existing["corporate_number"].notna(), "company_id"]))
    by_key: dict[str, list[tuple[str, str | None]]] = {}
    for cid, cn, key in zip(existing["company_id"], existing["corporate_number"], existing["key"]):
        by_key.setdefault(key, []).append((cid, None if pd.isna(cn) else cn))
    decided = run(con, "SELECT key_a, key_b, company_id_a, status FROM entity_review WHERE status <> 'pending'").df()
    same = {b: a_id for b, a_id, s in zip(decided["key_b"], decided["company_id_a"], decided["status"]) if s == "same"}
    different = {(a, b) for a, b, s in zip(decided["key_a"], decided["key_b"], decided["status"]) if s == "different"}

    for i, row in df.iterrows():
        cn = row["corporate_number"] if isinstance(row["corporate_number"], str) else None
        if cn and cn in by_number:
            df.at[i, "company_id"], df.at[i, "match_method"] = by_number[cn], "corporate_number"
            continue
        if row["key"] in same:
            df.at[i, "company_id"], df.at[i, "match_method"] = same[row["key"]], "review_same"
            continue
        candidates = [(cid, ccn) for cid, ccn in by_key.get(row["key"], []) if not (cn and ccn and ccn != cn)]
        if len(candidates) == 1:
            df.at[i, "company_id"], df.at[i, "match_method"], df.at[i, "match_score"] = candidates[0][0], "name_exact", 100.0

    # New companies: one id per corporate number or name key, even when listed twice in the file.
    new = df["company_id"].isna()
    df.loc[new, "company_id"] = [
        company_id_for(cn if isinstance(cn, str) else None, key)
        for cn, key in zip(df.loc[new, "corporate_number"], df.loc[new, "key"])
    ]
    df.loc[new, "match_method"] = "new"

    reviews = _queue_similar(df[new], existing, different, review_threshold, wave)
    _write_companies(con, df, wave)
    if reviews:
        con.executemany(
            "INSERT INTO entity_review SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', NULL, NULL, ?"
            " WHERE NOT EXISTS (SELECT 1 FROM entity_review WHERE review_id = ?)",
            [r + (r[0],) for r in reviews],
        )
        log.info("%d company pairs queued for review", len(reviews))
    return df.drop(columns=["key"])


def _queue_similar(new: pd.DataFrame, existing: pd.DataFrame, different: set, threshold: float, wave: int) -> list[tuple]:
    """Pairs (existing company, new mention) with similar names in the same country and prefecture."""
    if new.empty or existing.empty:
        return []
    reviews = []
    blocks = existing.assign(_p=existing["prefecture_code"].fillna("")).groupby(["country", "_p"])
    groups = {k: g for k, g in blocks}
    seen = set()
    for (country, pref), part in new.assign(_p=new["prefecture_code"].fillna("")).groupby(["country", "_p"]):
        block = groups.get((country, pref))
        if block is None:
            continue
        scores = process.cdist(
            [distinctive_name(n) for n in part["name_normalized"]],
            [distinctive_name(n) for n in block["name_normalized"]],
            scorer=fuzz.ratio,
            score_cutoff=threshold,
            workers=1,
        )
        for qi, ci in zip(*scores.nonzero()):
            q, c = part.iloc[qi], block.iloc[ci]
            if isinstance(q["corporate_number"], str) and isinstance(c["corporate_number"], str):
                continue  # two different corporate numbers: two companies, nothing to review
            if c["company_id"] == q["company_id"] or (c["key"], q["key"]) in different or (c["key"], q["key"]) in seen:
                continue
            seen.add((c["key"], q["key"]))
            rid = review_id_for(c["key"], q["key"])
            reviews.append(
                (
                    rid,
                    c["key"],
                    q["key"],
                    c["company_id"],
                    q["company_id"],
                    c["name"],
                    q["name"],
                    float(scores[qi, ci]),
                    f"similar names in {country} {pref}".strip(),
                    wave,
                )
            )
    return reviews


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
    frame = df.assign(parent_company_id=None)[cols].drop_duplicates("company_id")
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
        """,
            [wave, wave, wave, wave],
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
