"""Screening lists (DESIGN §5.4): export-control and sanctions lists the user drops in, and the
companies and owners whose names match an entry, for human review.

Lists are read from files only (nothing is fetched from the network):

* the Ministry of Economy, Trade and Industry's **End User List** (外国ユーザーリスト), as the
  ``.xlsx`` METI publishes or a CSV of it — columns ``No.``, ``Country or Region``, ``Company or
  Organization``, ``Also Known As``, ``Type of WMD`` (title rows above the header are skipped;
  several names in ``Also Known As`` are separated by line breaks or semicolons);
* the US **Consolidated Screening List** CSV of trade.gov (``name``, ``alt_names`` separated by
  ``;``, ``addresses`` ending in a country code, ``source``, ``programs``, ...);
* **OpenSanctions** entities in FollowTheMoney JSON lines (``id``, ``schema``, ``properties``
  with ``name``, ``alias``, ``country``, ``topics``, ...; ``datasets``).

:func:`load_list` keeps a list in ``screening_entry`` (a newer load of the same list replaces it,
in one transaction). :func:`screen` matches the names of companies (name, English name, kana)
and of their owners against every name and alias:

1. *normalisation* — NFKC (full-width and half-width alike), case folding, company forms removed
   (株式会社, (株), Co., Ltd., Inc., ...; :func:`~supplychain.survey.normalize.normalize_company_name`),
   then *romanisation*: kana to Hepburn (jaconv), kanji too (pykakasi; only for names without
   a reported kana reading), other scripts transliterated (Unidecode), long vowels folded, so
   ``ホクシン電子`` and ``Hokushin Denshi Co., Ltd.`` meet;
2. *blocking* — only pairs that share a word of the romanised name, or its first or last five
   letters, are scored (words found in very many list entries, such as "trading", do not block);
3. *scoring* — rapidfuzz: 100 for the same normalised name, else the best of the ratio of the
   romanised keys and the token-sort ratio of the romanised words (0–100).

Hits at or above ``screening.review`` (configuration) go to the review queue
(``screening_hit``) with the score, the name and alias that matched and the reason; a decision
(``confirmed`` or ``dismissed``, :func:`decide`) is kept when the same hit is found again.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import hashlib
import io
import json
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from . import audit
from .db import registered, run, transaction
from .exceptions import SupplyChainError, SurveyReadError
from .options import load_options
from .survey.normalize import nfkc, normalize_company_name, strip_company_forms

__all__ = [
    "read_list",
    "load_list",
    "screen",
    "screening_queue",
    "decide",
    "screening_key",
    "LIST_FORMATS",
]

log = logging.getLogger(__name__)

#: Readable list formats and the list name each gets unless one is given.
LIST_FORMATS = {
    "meti": "METI End User List",
    "csl": "US Consolidated Screening List",
    "opensanctions": "OpenSanctions",
}
ENTRY_COLUMNS = ["entry_id", "name", "aliases", "country", "entity_type", "reason"]

#: Block keys found in more list entries than this do not block (they say too little).
COMMON_BLOCK = 200
DECISIONS = ("confirmed", "dismissed")


# ---------------------------------------------------------------------------------------------
# names


@functools.lru_cache(maxsize=1)
def _kakasi():
    import pykakasi

    return pykakasi.kakasi()


_WORD = re.compile(r"[0-9a-z]+")
_NEEDS_KAKASI = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]")


_KANA_ONLY = re.compile(r"^[\u3040-\u30ff\s]+$")
_KANJI = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
# Hepburn spellings that vary between sources (Kyōsera, Kyousera, Kyosera; shimbun, shinbun):
# folded the same way on both sides, so they compare equal
_FOLD = [("ou", "o"), ("oo", "o"), ("uu", "u"), ("mb", "nb"), ("mp", "np"), ("mm", "nm")]


def _fold(word: str) -> str:
    for a, b in _FOLD:
        word = word.replace(a, b)
    return word


@functools.lru_cache(maxsize=1 << 20)
def romanised_words(name: str) -> tuple[str, ...]:
    """The words of a company name in lower-case Latin letters: company forms removed, kana read
    in Hepburn (jaconv; fast), kanji read by pykakasi (slow: read only where no kana is
    reported), other scripts transliterated (Unidecode); long vowels folded (ou, oo, uu → o, u)
    and m before b/p written n, so spellings of one reading compare equal.

    >>> romanised_words("株式会社ホクシン電子")
    ('hokushin', 'denshi')
    >>> romanised_words("Hokushin Denshi Co., Ltd.")
    ('hokushin', 'denshi')
    >>> romanised_words("ＨＯＫＵＳＨＩＮ　ＤＥＮＳＨＩ")
    ('hokushin', 'denshi')
    >>> romanised_words("キョウセラ") == romanised_words("Kyosera")
    True
    """
    from unidecode import unidecode

    text = strip_company_forms(name)
    if _KANA_ONLY.match(text):
        import jaconv

        text = jaconv.kana2alphabet(jaconv.kata2hira(text)).replace("-", "")
    elif _NEEDS_KAKASI.search(text):
        text = " ".join(item["hepburn"] for word in text.split() for item in _kakasi().convert(word))
    return tuple(_fold(w) for w in _WORD.findall(unidecode(text).casefold()))


def screening_key(name: str) -> str:
    """The compact romanised key of a name (its :func:`romanised_words` joined)."""
    return "".join(romanised_words(name))


# ---------------------------------------------------------------------------------------------
# reading lists


def _country_codes(con) -> dict[str, str]:
    """Country name (English or Japanese, case-folded) or code -> alpha-2 code."""
    rows = run(con, "SELECT code, name_en, name_ja FROM country").fetchall() if con is not None else []
    out = {}
    for code, en, ja in rows:
        for key in (code, en, ja):
            if key:
                out[nfkc(key).casefold()] = code
    out.update({"uae": "AE", "u.a.e.": "AE", "north korea": "KP", "south korea": "KR", "russia": "RU", "iran": "IR"})
    out.update({"taiwan": "TW", "hong kong": "HK", "syria": "SY", "china": "CN", "united states": "US", "usa": "US"})
    return out


def _split_aliases(text: str | None) -> list[str]:
    if not text:
        return []
    parts = re.split(r"[\r\n;；]+", str(text))
    return [p.strip(" ・･•-\t") for p in parts if p.strip(" ・･•-\t")]


def _read_rows(path: Path) -> list[list[str]]:
    """Rows of the first sheet of a workbook, or of a CSV file (UTF-8, else Shift_JIS); a file
    over the survey reader's limits (size, zip bomb, sheet span) is refused like a survey file."""
    from .survey.read import _check_size, _check_workbook

    try:
        if path.suffix.lower() in (".xlsx", ".xlsm"):
            _check_workbook(path)
        else:
            _check_size(path)
    except SurveyReadError as exc:
        raise SupplyChainError(f"{path}: {exc.reason}") from None
    if path.suffix.lower() in (".xlsx", ".xlsm", ".xls"):
        from python_calamine import CalamineWorkbook

        try:
            sheet = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0)
        except Exception as exc:  # calamine raises its own error types for every kind of damage
            raise SupplyChainError(f"{path}: not a readable workbook ({exc})") from None
        return [["" if v is None else str(v) for v in row] for row in sheet.to_python()]
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "cp932"):
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        reader = csv.reader(io.StringIO(text, newline=""))
        try:
            return list(reader)
        except csv.Error as exc:
            raise SupplyChainError(f"{path}: malformed CSV near line {reader.line_num}: {exc}") from None
    raise SupplyChainError(f"{path}: neither UTF-8 nor Shift_JIS text")


_METI_HEADERS = {
    "no": "no",
    "no.": "no",
    "country or region": "country",
    "国名・地域名": "country",
    "国名": "country",
    "company or organization": "name",
    "企業名・組織名": "name",
    "企業名": "name",
    "also known as": "aliases",
    "別名": "aliases",
    "type of wmd": "wmd",
    "懸念区分": "wmd",
}
_WMD = {"b": "biological", "c": "chemical", "m": "missile", "n": "nuclear"}


def _read_meti(path: Path, countries: dict) -> pd.DataFrame:
    rows = _read_rows(path)
    at, header = None, {}
    for i, row in enumerate(rows):
        found = {j: _METI_HEADERS.get(nfkc(c).casefold()) for j, c in enumerate(row)}
        if "name" in found.values():
            at, header = i, {v: j for j, v in found.items() if v}
            break
    if at is None:
        raise SupplyChainError(f"{path}: no header row with 'Company or Organization' (METI End User List format)")
    out = []
    for n, row in enumerate(rows[at + 1 :], start=at + 2):
        cell = {k: (row[i].strip() if i < len(row) else "") for k, i in header.items()}
        if not cell.get("name"):
            continue
        wmd = cell.get("wmd", "")
        kinds = ", ".join(_WMD.get(w.strip().casefold(), w.strip()) for w in re.split(r"[,、\s]+", wmd) if w.strip())
        out.append(
            {
                "entry_id": cell.get("no") or f"row {n}",
                "name": cell["name"],
                "aliases": _split_aliases(cell.get("aliases")),
                "country": countries.get(nfkc(cell.get("country", "")).casefold()),
                "entity_type": "organization",
                "reason": f"End User List ({cell.get('country', '')}): WMD concern {kinds or 'not stated'}",
            }
        )
    return pd.DataFrame(out, columns=ENTRY_COLUMNS)


def _read_csl(path: Path, countries: dict) -> pd.DataFrame:
    rows = _read_rows(path)
    if not rows or "name" not in rows[0]:
        raise SupplyChainError(f"{path}: no 'name' column in the header (US Consolidated Screening List CSV format)")
    head = rows[0]
    out = []
    for n, row in enumerate(rows[1:], start=2):
        cell = dict(zip(head, row))
        if not cell.get("name"):
            continue
        country = None
        for address in (cell.get("addresses") or "").split(";"):
            last = address.strip().rsplit(",", 1)[-1].strip()
            if len(last) == 2 and last.isalpha():
                country = last.upper()
                break
        if country is None:
            for field in ("nationalities", "citizenships"):
                first = (cell.get(field) or "").split(";")[0].strip()
                country = countries.get(first.casefold()) if first else None
                if country:
                    break
        reason = "; ".join(x for x in (cell.get("source"), cell.get("programs"), cell.get("license_requirement")) if x)
        out.append(
            {
                "entry_id": cell.get("_id") or cell.get("id") or cell.get("entity_number") or f"row {n}",
                "name": cell["name"],
                "aliases": [a.strip() for a in (cell.get("alt_names") or "").split(";") if a.strip()],
                "country": country,
                "entity_type": (cell.get("type") or "").casefold() or None,
                "reason": reason or "US Consolidated Screening List",
            }
        )
    return pd.DataFrame(out, columns=ENTRY_COLUMNS)


_FTM_THINGS = {"Company", "Organization", "LegalEntity", "PublicBody", "Person"}


def _read_opensanctions(path: Path) -> pd.DataFrame:
    out = []
    n = 0
    try:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, start=1):  # noqa: B007 (n names the line of a decoding error)
                if not line.strip():
                    continue
                try:
                    entity = json.loads(line)
                except (json.JSONDecodeError, RecursionError) as exc:
                    why = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deep"
                    raise SupplyChainError(f"{path}: line {n} is not JSON ({why}); expected FollowTheMoney JSON lines") from None
                if not isinstance(entity, dict):
                    raise SupplyChainError(
                        f"{path}: line {n} is a JSON {type(entity).__name__}, not an entity object; expected FollowTheMoney JSON lines"
                    )
                entry = _ftm_entry(entity, n)
                if entry is not None:
                    out.append(entry)
    except UnicodeDecodeError as exc:
        raise SupplyChainError(f"{path}: line {n + 1} is not UTF-8 text ({exc.reason})") from None
    return pd.DataFrame(out, columns=ENTRY_COLUMNS)


def _texts(value) -> list[str]:
    """A FollowTheMoney property value as a list of texts (anything else dropped)."""
    values = value if isinstance(value, list) else [value]
    return [v.strip() for v in values if isinstance(v, str) and v.strip()]


def _ftm_entry(entity: dict, n: int) -> dict | None:
    """One FollowTheMoney entity as a screening entry; None when it is not a party or has no name."""
    schema = entity.get("schema")
    if not isinstance(schema, str) or schema not in _FTM_THINGS:
        return None
    props = entity.get("properties")
    props = props if isinstance(props, dict) else {}
    names = _texts(props.get("name")) or _texts(entity.get("caption"))
    if not names:
        return None
    aliases = [*names[1:], *_texts(props.get("alias")), *_texts(props.get("previousName")), *_texts(props.get("weakAlias"))]
    country = (_texts(props.get("country")) or _texts(props.get("jurisdiction")) or [None])[0]
    topics = ", ".join(_texts(props.get("topics")))
    datasets = ", ".join(_texts(entity.get("datasets")))
    entry_id = entity.get("id")
    return {
        "entry_id": entry_id if isinstance(entry_id, str) and entry_id else f"line {n}",
        "name": names[0],
        "aliases": list(dict.fromkeys(a for a in aliases if a != names[0])),
        "country": country.upper() if isinstance(country, str) and len(country) == 2 else None,
        "entity_type": schema.casefold(),
        "reason": "; ".join(x for x in (topics, datasets) if x) or "OpenSanctions",
    }


def _guess_format(path: Path) -> str:
    if path.suffix.lower() in (".json", ".jsonl", ".ndjson"):
        return "opensanctions"
    head = _read_rows(path)[:30]
    flat = {nfkc(c).casefold() for row in head for c in row}
    if "company or organization" in flat or "企業名・組織名" in flat:
        return "meti"
    if "alt_names" in flat or "source_list_url" in flat:
        return "csl"
    raise SupplyChainError(f"{path}: cannot tell the list format; pass format= one of {sorted(LIST_FORMATS)}")


def read_list(path, *, format: str | None = None, con=None) -> pd.DataFrame:
    """The entries of a screening-list file: ``entry_id``, ``name``, ``aliases`` (list),
    ``country`` (alpha-2 or null), ``entity_type``, ``reason``. ``format`` is ``"meti"``,
    ``"csl"`` or ``"opensanctions"`` (guessed from the file when not given)."""
    path = Path(path)
    if not path.exists():
        raise SupplyChainError(f"{path}: no such file")
    format = format or _guess_format(path)
    if format not in LIST_FORMATS:
        raise SupplyChainError(f"format must be one of {sorted(LIST_FORMATS)}, got {format!r}")
    countries = _country_codes(con)
    if format == "meti":
        return _read_meti(path, countries)
    if format == "csl":
        return _read_csl(path, countries)
    return _read_opensanctions(path)


def load_list(con, path, *, format: str | None = None, list_name: str | None = None) -> int:
    """Read a list file (:func:`read_list`) into ``screening_entry``, replacing the entries of the
    same ``list_name`` (by default the format's, e.g. "METI End User List") in one transaction.
    Returns the number of entries loaded."""
    path = Path(path)
    entries = read_list(path, format=format, con=con)
    format = format or _guess_format(path)
    name = list_name or LIST_FORMATS[format]
    frame = entries.assign(list_name=name, source_file=path.name)
    with transaction(con):
        run(con, "DELETE FROM screening_entry WHERE list_name = ?", [name])
        with registered(con, "_sc_entries", frame):
            run(
                con,
                """INSERT INTO screening_entry (list_name, entry_id, name, aliases, country, entity_type, reason, source_file, loaded_at)
                   SELECT list_name, entry_id, name, aliases, country, entity_type, reason, source_file, now() FROM _sc_entries""",
            )
        run(
            con,
            "INSERT INTO audit_log VALUES (now(), ?, 'screening_list_loaded', ?, to_json(?::STRUCT(file VARCHAR, entries BIGINT)))",
            [audit.current_user(), name, {"file": str(path), "entries": len(frame)}],
        )
    audit.record(con, "screening_list_loaded", name, inputs={str(path): audit.digest(path)}, outputs={"entries": len(frame)})
    log.info("loaded %d entries of %s from %s", len(frame), name, path)
    return len(frame)


# ---------------------------------------------------------------------------------------------
# matching


def _names(frame: pd.DataFrame, id_col: str, name_cols: list[str]) -> pd.DataFrame:
    """One row per (id, name variant) with its normalised key, romanised key and words. A name
    in kanji is not romanised when the same row has a kana name (``name_kana``): the reported
    reading is better than a guessed one, and reading kanji is the slowest step."""
    parts = []
    has_kana = frame["name_kana"].notna().to_numpy() if "name_kana" in frame else np.zeros(len(frame), bool)
    for col in name_cols:
        part = frame[[id_col, col]].rename(columns={col: "variant"}).assign(_guess=col != "name_kana", _kana=has_kana)
        part = part[part["variant"].notna()]
        part = part[part["variant"].astype(str).str.strip() != ""]
        parts.append(part)
    out = pd.concat(parts, ignore_index=True).drop_duplicates([id_col, "variant"])
    variants = out["variant"].astype(str).tolist()
    out["key"] = [normalize_company_name(v) for v in variants]
    skip = out["_guess"].to_numpy(bool) & out["_kana"].to_numpy(bool)
    words = [() if sk and _KANJI.search(v) else romanised_words(v) for v, sk in zip(variants, skip.tolist())]
    out["words"] = words
    out["rom"] = ["".join(w) for w in words]
    return out[(out["key"] != "") | (out["rom"] != "")].drop(columns=["_guess", "_kana"]).reset_index(drop=True)


def _blocks(names: pd.DataFrame, side: str) -> pd.DataFrame:
    rows_i, keys = [], []
    for i, (key, rom, words) in enumerate(zip(names["key"], names["rom"], names["words"])):
        found = {f"k:{key}"} if key else set()
        if rom:
            found |= {f"w:{w}" for w in words if len(w) >= 3} | {f"p:{rom[:5]}", f"s:{rom[-5:]}"}
        rows_i.extend([i] * len(found))
        keys.extend(found)
    return pd.DataFrame({side: np.asarray(rows_i, dtype=np.int64), "block": keys})


def _score(a_key, a_rom, a_words, b_key, b_rom, b_words) -> tuple[float, str]:
    from rapidfuzz import fuzz

    if a_key and a_key == b_key:
        return 100.0, "same name after normalisation"
    if a_rom and a_rom == b_rom:
        return 100.0, "same romanised name"
    ratio = fuzz.ratio(a_rom, b_rom)
    tokens = fuzz.token_sort_ratio(" ".join(a_words), " ".join(b_words))
    if tokens > ratio:
        return tokens, "similar romanised words (token sort ratio)"
    return ratio, "similar romanised name (ratio)"


def _subjects(con, wave: int | None) -> pd.DataFrame:
    """Companies (name, English name, kana) and owners (name as reported), with what they are."""
    where = "" if wave is None else "WHERE ? BETWEEN first_wave AND last_wave"
    companies = run(
        con,
        f"""SELECT 'company' AS subject_kind, company_id AS subject_key, coalesce(corporate_number, company_id) AS subject,
                   name AS subject_name, country AS subject_country, name, name_en, name_kana
            FROM company {where}""",
        [] if wave is None else [wave],
    ).df()
    owners = run(
        con,
        f"""SELECT DISTINCT 'owner' AS subject_kind, 'owner:' || owner_country || ':' || owner_name_normalized AS subject_key,
                   owner_name AS subject, owner_name AS subject_name, owner_country AS subject_country,
                   owner_name AS name, NULL AS name_en, NULL AS name_kana
            FROM ownership {"" if wave is None else "WHERE wave = ?"}""",
        [] if wave is None else [wave],
    ).df()
    owners = owners.drop_duplicates("subject_key")
    return pd.concat([companies, owners], ignore_index=True)


def _hit_id(list_name: str, entry_id: str, subject_key: str) -> str:
    return "H" + hashlib.sha256(f"{list_name}\x1f{entry_id}\x1f{subject_key}".encode()).hexdigest()[:12]


def match(subjects: pd.DataFrame, entries: pd.DataFrame, *, threshold: float) -> pd.DataFrame:
    """Candidate pairs of ``subjects`` (``subject_key`` plus ``name``, ``name_en``,
    ``name_kana``) and list ``entries`` (``entry_key`` plus ``name`` and ``aliases``) that share
    a block, scored; the best-scoring variant pair per (subject, entry) at or above
    ``threshold``. Columns: ``subject_key``, ``entry_key``, ``score``, ``reason``,
    ``matched_name`` (the subject's), ``matched_alias`` (the list's)."""
    cols = ["subject_key", "entry_key", "score", "reason", "matched_name", "matched_alias"]
    if subjects.empty or entries.empty:
        return pd.DataFrame(columns=cols)
    s_names = _names(subjects, "subject_key", [c for c in ("name", "name_en", "name_kana") if c in subjects])
    e_long = entries[["entry_key", "name", "aliases"]].copy()
    e_long["all"] = [
        [n, *(a if isinstance(a, list | tuple | np.ndarray) else [])] for n, a in zip(e_long["name"], e_long["aliases"])
    ]
    e_long = e_long.explode("all")[["entry_key", "all"]]
    e_names = _names(e_long, "entry_key", ["all"])
    sb, eb = _blocks(s_names, "s"), _blocks(e_names, "e")
    common = eb.groupby("block")["e"].transform("size") > COMMON_BLOCK
    pairs = sb.merge(eb[~common], on="block")[["s", "e"]].drop_duplicates()
    best: dict[tuple, tuple] = {}
    sk, sr, sw, sv, sid = (s_names[c].tolist() for c in ("key", "rom", "words", "variant", "subject_key"))
    ek, er, ew, ev, eid = (e_names[c].tolist() for c in ("key", "rom", "words", "variant", "entry_key"))
    for i, j in zip(pairs["s"].tolist(), pairs["e"].tolist()):
        score, reason = _score(sk[i], sr[i], sw[i], ek[j], er[j], ew[j])
        if score < threshold:
            continue
        pair = (sid[i], eid[j])
        if pair not in best or score > best[pair][0]:
            best[pair] = (score, reason, sv[i], ev[j])
    rows = [(s, e, round(float(v[0]), 1), v[1], v[2], v[3]) for (s, e), v in best.items()]
    return pd.DataFrame(rows, columns=cols)


def screen(con, *, wave: int | None = None, config=None) -> pd.DataFrame:
    """Match every company (those of ``wave``, or all) and every owner against every loaded list
    entry; keep hits at or above ``screening.review`` in the review queue (``screening_hit``),
    with earlier decisions kept. Returns the hits of this run with their status, strongest first.

    Columns: ``hit_id`` (stable: list, entry and subject), ``subject_kind`` (``company`` or
    ``owner``), ``subject``, ``subject_name``, ``subject_country``, ``list_name``, ``entry_id``,
    ``entry_name``, ``entry_country``, ``matched_name``, ``matched_alias``, ``score``,
    ``strong`` (at or above ``screening.strong``), ``same_country``, ``reason``, ``status``
    (``pending``, ``confirmed`` or ``dismissed``).
    """
    options = load_options(config)
    entries = run(con, "SELECT list_name, entry_id, name, aliases, country, reason FROM screening_entry").df()
    if entries.empty:
        raise SupplyChainError(
            "no screening list is loaded: load one with sc.screening.load_list / `supplychain screen --list FILE`"
        )
    entries["entry_key"] = entries["list_name"] + "\x1f" + entries["entry_id"]
    entries["aliases"] = [list(a) if a is not None else [] for a in entries["aliases"]]
    subjects = _subjects(con, wave)
    hits = match(subjects, entries, threshold=options.screening_review)
    hits = hits.merge(subjects.drop(columns=["name", "name_en", "name_kana"]), on="subject_key").merge(
        entries.rename(columns={"name": "entry_name", "country": "entry_country", "reason": "entry_reason"}).drop(
            columns="aliases"
        ),
        on="entry_key",
    )
    hits["hit_id"] = [_hit_id(a, b, c) for a, b, c in zip(hits["list_name"], hits["entry_id"], hits["subject_key"])]
    hits["strong"] = hits["score"] >= options.screening_strong
    hits["same_country"] = (hits["subject_country"] == hits["entry_country"]).fillna(False).astype(bool)
    hits["reason"] = hits["reason"] + "; listed for: " + hits["entry_reason"].fillna("")
    cols = ["hit_id", "subject_kind", "subject", "subject_name", "subject_country", "list_name", "entry_id", "entry_name"]
    cols += ["entry_country", "matched_name", "matched_alias", "score", "strong", "same_country", "reason"]
    hits = hits[cols]
    with transaction(con), registered(con, "_sc_hits", hits):
        run(
            con,
            f"""INSERT INTO screening_hit ({", ".join(cols)}, status, first_seen, last_seen)
                    SELECT *, 'pending', now(), now() FROM _sc_hits
                    ON CONFLICT (hit_id) DO UPDATE SET score = excluded.score, reason = excluded.reason,
                        matched_name = excluded.matched_name, matched_alias = excluded.matched_alias,
                        strong = excluded.strong, last_seen = excluded.last_seen""",
        )
    status = dict(
        run(con, "SELECT hit_id, status FROM screening_hit WHERE list_contains(?, hit_id)", [hits["hit_id"].tolist()]).fetchall()
    )
    hits["status"] = hits["hit_id"].map(status)
    return hits.sort_values(
        ["score", "subject", "list_name", "entry_id"], ascending=[False, True, True, True], kind="stable", ignore_index=True
    )


def screening_queue(con, *, status: str | None = "pending") -> pd.DataFrame:
    """The hits kept in ``screening_hit`` (``status`` ``None`` = all), strongest first."""
    return run(
        con,
        "SELECT * FROM screening_hit WHERE ? IS NULL OR status = ? ORDER BY score DESC, subject, list_name, entry_id",
        [status, status],
    ).df()


def decide(con, hit_id: str, decision: str, *, user: str | None = None, note: str | None = None) -> None:
    """Record a reviewer's decision on a hit: ``confirmed`` (it is the listed party) or
    ``dismissed`` (a different party). Kept across later screening runs; audited."""
    if decision not in DECISIONS:
        raise SupplyChainError(f"decision must be one of {DECISIONS}, got {decision!r}")
    found = run(con, "SELECT status FROM screening_hit WHERE hit_id = ?", [hit_id]).fetchone()
    if found is None:
        raise SupplyChainError(f"no screening hit {hit_id!r}; see `supplychain screen`")
    user = user or audit.current_user()
    with transaction(con):
        run(
            con,
            "UPDATE screening_hit SET status = ?, decided_by = ?, decided_at = ?, note = ? WHERE hit_id = ?",
            [decision, user, dt.datetime.now(), note, hit_id],
        )
        run(
            con,
            "INSERT INTO audit_log VALUES (now(), ?, 'screening_decision', ?, to_json(?::STRUCT(decision VARCHAR, previous VARCHAR, note VARCHAR)))",
            [user, hit_id, {"decision": decision, "previous": found[0], "note": note}],
        )
    audit.record(
        con, "screening_decision", hit_id, parameters={"decision": decision, "previous": found[0], "note": note}, user=user
    )
