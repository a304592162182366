"""Normalisation of names, codes and corporate numbers.

Survey returns spell the same thing many ways: full-width and half-width characters, 株式会社
before or after the name, ``(株)``, ``㈱``, ``Co., Ltd.``, stray spaces. These functions turn a
reported value into the key it is matched on. The value as reported is always kept beside it.
"""

from __future__ import annotations

import functools
import re
import unicodedata

import numpy as np

__all__ = [
    "nfkc",
    "normalize_company_name",
    "strip_company_forms",
    "normalize_part_name",
    "part_keys",
    "distinctive_name",
    "corporate_number_check_digit",
    "check_digits",
    "is_valid_corporate_number",
    "valid_corporate_numbers",
    "clean_corporate_number",
]

_SPACES = re.compile(r"\s+")

# Company-form words, after NFKC (㈱ becomes (株)) and case folding. Longest first, so that
# "kabushiki kaisha" is removed before "kk" could split it.
_JA_FORMS = [
    "株式会社",
    "有限会社",
    "合同会社",
    "合資会社",
    "合名会社",
    "一般社団法人",
    "一般財団法人",
    "公益社団法人",
    "公益財団法人",
    "独立行政法人",
    "国立研究開発法人",
    "(株)",
    "(有)",
    "(同)",
    "(資)",
    "(名)",
    "(社)",
    "(財)",
    "(独)",
]
_EN_FORMS = [
    "kabushiki kaisha",
    "kabushikikaisha",
    "company limited",
    "co., ltd.",
    "co.,ltd.",
    "co. ltd.",
    "co., ltd",
    "co.,ltd",
    "co ltd",
    "pty ltd",
    "pty. ltd.",
    "pty",
    "sdn bhd",
    "jsc",
    "s.p.a",
    "spa",
    "srl",
    "s.r.l.",
    "corporation",
    "incorporated",
    "limited",
    "gmbh & co. kg",
    "gmbh",
    "s.a.s.",
    "s.a.",
    "s.p.a.",
    "b.v.",
    "n.v.",
    "a.g.",
    "plc",
    "llc",
    "l.l.c.",
    "inc.",
    "inc",
    "corp.",
    "corp",
    "ltd.",
    "ltd",
    "k.k.",
    "kk",
    "co.",
    "ag",
    "sa",
    "bv",
    "nv",
    "oy",
    "ab",
]
# English forms are removed only at the end of the name ("AB Industries" keeps its "AB"),
# repeatedly ("Foo Co., Ltd. Japan K.K." is not a real pattern, but "Foo Corp. Ltd." is).
_EN_FORM_RE = re.compile(
    r"[\s,]*(?:^|(?<=[\s,]))(?:" + "|".join(re.escape(f) for f in sorted(_EN_FORMS, key=len, reverse=True)) + r")$"
)
_PUNCT = re.compile(r"[\s\.,'’\"・･\-‐‑–—_/()（）\[\]「」『』&＆]+")


def nfkc(text: str) -> str:
    """NFKC-normalise and collapse whitespace: full-width ``ＡＢＣ　１２３`` → ``ABC 123``."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text)).strip()


@functools.lru_cache(maxsize=1 << 20)  # a firm is named by many buyers, in every wave
def normalize_company_name(name: str) -> str:
    """The matching key of a company name.

    NFKC, case folding, Japanese company forms (株式会社, (株), ㈱, 有限会社, ...) removed wherever
    they stand, English forms (Co., Ltd., K.K., Inc., ...) removed at the end, punctuation and
    spaces removed. The katakana long-vowel mark ``ー`` is part of the name and kept.

    Examples
    --------
    >>> normalize_company_name("株式会社 山田精機")
    '山田精機'
    >>> normalize_company_name("山田精機㈱") == normalize_company_name("(株)山田精機")
    True
    >>> normalize_company_name("Yamada Seiki Co., Ltd.") == normalize_company_name("YAMADA SEIKI K.K.")
    True
    """
    return _PUNCT.sub("", strip_company_forms(name))


def strip_company_forms(name: str) -> str:
    """A company name after NFKC and case folding with its company forms removed, spaces and
    punctuation kept (so its words can still be told apart): the step before
    :func:`normalize_company_name` joins them.

    >>> strip_company_forms("Hokushin Denshi Co., Ltd.")
    'hokushin denshi'
    >>> strip_company_forms("株式会社 北辰 電子")
    '北辰 電子'
    """
    text = nfkc(name).casefold()
    for form in _JA_FORMS:
        text = text.replace(form, " ")
    text = text.replace("kabushiki kaisha", " ").replace("kabushikikaisha", " ").strip(" ,")
    while True:
        stripped = _EN_FORM_RE.sub("", text).strip(" ,")
        if stripped == text or not stripped:
            break
        text = stripped
    return text.strip()


# Words that say what a firm does rather than which firm it is. Two names that share only these
# ("Kavro Alloys" and "Zembri Alloys", 東邦精機 and 北辰精機) are not similar.
_GENERIC_SUFFIXES = sorted(
    [
        "重工業",
        "工業",
        "精機",
        "精工",
        "電子工業",
        "電子",
        "電機",
        "製作所",
        "金属",
        "化学",
        "産業",
        "技研",
        "機械",
        "通信機",
        "製鋼",
        "素材",
        "マテリアル",
        "システムズ",
        "ソフト",
        "情報",
        "鍛造",
        "化成",
        "磁材",
        "希土類",
        "化工",
        "火工",
        "ホールディングス",
        "グループ",
        "エンジニアリング",
        "テクノロジー",
        "商事",
        "興業",
        "製造",
        "alloys",
        "metals",
        "composites",
        "microelectronics",
        "semiconductor",
        "circuits",
        "precision",
        "bearings",
        "hydraulics",
        "aerospace",
        "systems",
        "rareearth",
        "earth",
        "magnetics",
        "minerals",
        "chemical",
        "chemicals",
        "energetics",
        "software",
        "industries",
        "electronics",
        "electric",
        "technologies",
        "technology",
        "engineering",
        "holdings",
        "group",
        "international",
        "manufacturing",
        "materials",
        "capital",
    ],
    key=len,
    reverse=True,
)


_GENERIC_RE = re.compile("(?:" + "|".join(map(re.escape, _GENERIC_SUFFIXES)) + ")+$")


@functools.lru_cache(maxsize=1 << 20)
def distinctive_name(normalized: str) -> str:
    """A normalised name without trailing generic business words, for similarity scoring.

    >>> distinctive_name("kavroalloys"), distinctive_name("東邦精機"), distinctive_name("工業")
    ('kavro', '東邦', '工業')
    """
    stripped = _GENERIC_RE.sub("", normalized)
    return stripped or normalized


def part_keys(values):
    """The part key of each name, vectorised over an Arrow array: NFKC, lower case, single spaces.

    This is the definition of ``part.part_id``: validation adds it to every row as ``_part_key``,
    and SQL can call it as ``sc_part_key``.
    """
    import pyarrow.compute as pc

    # a few hundred part names among many rows: each distinct name normalised once
    return _per_distinct(
        values,
        lambda names: pc.utf8_trim_whitespace(
            pc.replace_substring_regex(pc.utf8_lower(nfkc_array(names)), pattern=r"\s+", replacement=" ")
        ),
    )


def _per_distinct(values, keys_of):
    """``keys_of`` (Arrow array -> Arrow array of the same length) applied to the distinct
    values of ``values`` only, and spread back to every row (nulls stay null)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    encoded = pc.dictionary_encode(values.cast(pa.string()))
    return pc.take(keys_of(encoded.dictionary), encoded.indices)


def company_name_keys(values):
    """:func:`normalize_company_name` of every name of an Arrow string array (nulls stay
    null), each distinct name normalised once.

    >>> import pyarrow as pa
    >>> company_name_keys(pa.array(["山田精機㈱", None, "株式会社 山田精機"])).to_pylist()
    ['山田精機', None, '山田精機']
    """
    import pyarrow as pa

    return _per_distinct(values, lambda names: pa.array([normalize_company_name(n) for n in names.to_pylist()], pa.string()))


def nfkc_array(values):
    """NFKC of every string of an Arrow array; pure-ASCII arrays (most codes and numbers) are
    returned as they are, since NFKC leaves ASCII unchanged."""
    import pyarrow.compute as pc

    if pc.all(pc.string_is_ascii(values)).as_py() is not False:
        return values
    return pc.utf8_normalize(values, form="NFKC")


def normalize_part_name(name: str) -> str:
    """The key of one part name (:func:`part_keys` for a single value).

    >>> normalize_part_name("  Ｒａｒｅ   Earth　Magnet ")
    'rare earth magnet'
    """
    import pyarrow as pa

    return part_keys(pa.array([name], pa.string()))[0].as_py()


_WEIGHTS = np.array([1, 2] * 6, dtype=np.int64)  # Q_n for n = 1..12 counted from the right


def check_digits(bases: np.ndarray) -> np.ndarray:
    """Check digits of many 12-digit bases at once: ``bases`` is an (n, 12) array of digits,
    leftmost first. The NTA rule in numpy; :func:`corporate_number_valid_sql` is the same rule,
    from the same weights, in SQL."""
    return 9 - (np.asarray(bases, dtype=np.int64)[:, ::-1] * _WEIGHTS).sum(axis=1) % 9


def corporate_number_valid_sql(number: str) -> str:
    """SQL that is true when the text ``number`` (an SQL expression, evaluated more than once) is
    13 ASCII digits whose first is the check digit of the rest, false otherwise, NULL for NULL.

    Validation uses it rather than a Python function so that DuckDB checks millions of numbers
    without taking Python's lock (a test compares it with :func:`valid_corporate_numbers`).

    >>> import duckdb
    >>> duckdb.sql(f"SELECT {corporate_number_valid_sql(repr('5180001008846'))}").fetchone()[0]
    True
    """
    # P_n is the n-th digit of the base counted from the right: character 14 - n of the number
    total = " + ".join(f"(ascii({number}[{14 - n}]) - 48) * {int(q)}" for n, q in enumerate(_WEIGHTS, 1))
    return (
        f"CASE WHEN NOT regexp_full_match({number}, '[0-9]{{13}}') THEN false"
        f" ELSE ascii({number}[1]) - 48 = 9 - ({total}) % 9 END"
    )


def corporate_number_check_digit(base12: str) -> int:
    """Check digit of a corporate number from its 12-digit base (National Tax Agency rule).

    check = 9 − (Σ Pₙ·Qₙ mod 9), with Pₙ the n-th digit counted from the right and Qₙ = 1 for
    odd n, 2 for even n.

    >>> corporate_number_check_digit("123456789012")
    7
    >>> corporate_number_check_digit("180001008846")
    5
    """
    if len(base12) != 12 or not base12.isdigit() or not base12.isascii():
        raise ValueError(f"base must be 12 ASCII digits, got {base12!r}")
    digits = np.frombuffer(base12.encode("ascii"), dtype=np.uint8).astype(np.int64) - 48
    return int(check_digits(digits[None, :])[0])


def clean_corporate_number(text: str) -> str:
    """NFKC and strip spaces and hyphens: ``'７１２３-４５６７ ８９０１２'`` → ``'7123456789012'``."""
    return re.sub(r"[\s\-‐－]", "", unicodedata.normalize("NFKC", text))


def is_valid_corporate_number(number: str) -> bool:
    """True when ``number`` is 13 ASCII digits whose first digit is the check digit of the rest.

    >>> is_valid_corporate_number("7123456789012"), is_valid_corporate_number("5180001008846")
    (True, True)
    >>> is_valid_corporate_number("7123456789013")
    False
    """
    if len(number) != 13 or not number.isascii() or not number.isdigit():
        return False
    return corporate_number_check_digit(number[1:]) == int(number[0])


def valid_corporate_numbers(numbers) -> np.ndarray:
    """Vectorised :func:`is_valid_corporate_number` over strings (an Arrow array, or a sequence
    with None allowed): Arrow finds the 13-digit values, numpy checks their digits in one pass.

    >>> valid_corporate_numbers(["7123456789012", None, "7123456789013", "712345678901"]).tolist()
    [True, False, False, False]
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = numbers if isinstance(numbers, (pa.Array, pa.ChunkedArray)) else pa.array(list(numbers), pa.string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = arr.cast(pa.string())
    shaped = pc.fill_null(pc.match_substring_regex(arr, r"^[0-9]{13}$"), False)
    ok = np.zeros(len(arr), dtype=bool)
    mask = shaped.to_numpy(zero_copy_only=False)
    if mask.any():
        sel = arr.filter(shaped)  # every value 13 ASCII digits: the data buffer is an (n, 13) array
        offsets = np.frombuffer(sel.buffers()[1], dtype=np.int32)[sel.offset : sel.offset + len(sel) + 1]
        data = np.frombuffer(sel.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
        digits = data.reshape(-1, 13).astype(np.int64) - 48
        ok[mask] = check_digits(digits[:, 1:]) == digits[:, 0]
    return ok
