"""Check digits, name normalisation and keys, with answers worked out by hand."""

import pytest

from supplychain.survey.normalize import (
    clean_corporate_number,
    corporate_number_check_digit,
    corporate_number_valid_sql,
    distinctive_name,
    is_valid_corporate_number,
    normalize_company_name,
    normalize_part_name,
    valid_corporate_numbers,
)


@pytest.mark.parametrize(
    "base, check",
    [
        ("123456789012", 7),  # the example 7123456789012
        ("180001008846", 5),  # the example 5180001008846
        ("000000000006", 3),  # Σ = 6·1 = 6 → 9 − 6 = 3
        ("100000000001", 6),  # P1 = 1 (Q = 1), P12 = 1 (Q = 2): Σ = 3 → 6
        ("999999999999", 9),  # Σ = 9·(1+2)·6 = 162 ≡ 0 (mod 9) → 9
    ],
)
def test_check_digit_by_hand(base, check):
    assert corporate_number_check_digit(base) == check


def test_valid_and_invalid_numbers():
    good = ["7123456789012", "5180001008846", "3000000000006", "6100000000001", "9999999999999"]
    bad = ["7123456789013", "8123456789012", "712345678901", "71234567890123", "712345678901X", "", "１２３"]
    assert all(is_valid_corporate_number(n) for n in good)
    assert not any(is_valid_corporate_number(n) for n in bad)
    # the vectorised form agrees with the scalar one, and None is simply invalid
    assert valid_corporate_numbers(good + bad + [None]).tolist() == [True] * 5 + [False] * (len(bad) + 1)


def test_check_digit_in_sql_agrees_with_numpy():
    """Validation checks numbers in SQL: the same answers on the worked examples, on malformed
    text and on 20,000 random 13-digit strings (about one in nine valid)."""
    import duckdb
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(7)
    numbers = ["7123456789012", "5180001008846", "3000000000006", "7123456789013", "712345678901", "712345678901X"]
    numbers += ["", "１２３", "７123456789012", "71234567890123", " 7123456789012", None]
    numbers += ["".join(map(str, row)) for row in rng.integers(0, 10, size=(20_000, 13))]
    cells = pa.table({"n": pa.array(numbers, pa.string())})  # noqa: F841 (read by DuckDB)
    got = duckdb.sql(f"SELECT {corporate_number_valid_sql('n')} AS ok FROM cells").fetchnumpy()["ok"]
    assert got[:6].tolist() == [True, True, True, False, False, False]
    assert got.mask[11] and not got.mask[:11].any()  # NULL in, NULL out
    expected = valid_corporate_numbers(numbers)
    assert (np.asarray(got.filled(False)) == expected).all()
    assert 1_900 < expected[12:].sum() < 2_600  # the random ones really exercise both outcomes


def test_check_digit_rejects_bad_base():
    with pytest.raises(ValueError, match="12 ASCII digits"):
        corporate_number_check_digit("12345")


def test_clean_corporate_number_full_width_and_hyphens():
    assert clean_corporate_number("７１２３-４５６７ ８９０１２") == "7123456789012"


@pytest.mark.parametrize(
    "variant",
    [
        "株式会社山田精機",
        "山田精機株式会社",
        "(株)山田精機",
        "山田精機㈱",
        "山田精機（株）",
        "株式会社　山田精機",
        " 山田 精機 (株) ",
    ],
)
def test_company_form_variants_share_one_key(variant):
    assert normalize_company_name(variant) == "山田精機"


def test_english_forms_and_width():
    key = "yamadaseiki"
    for v in [
        "Yamada Seiki Co., Ltd.",
        "YAMADA SEIKI K.K.",
        "Ｙａｍａｄａ　Ｓｅｉｋｉ",
        "Kabushiki Kaisha Yamada Seiki",
        "Yamada Seiki Corp.",
    ]:
        assert normalize_company_name(v) == key, v


def test_english_form_word_inside_a_name_is_kept():
    # "AB" is a Swedish company form only at the end
    assert normalize_company_name("AB Industries") == "abindustries"


def test_katakana_long_vowel_is_kept():
    assert normalize_company_name("ヤマダエンジニアリング株式会社") == "ヤマダエンジニアリング"
    assert normalize_company_name("ｶﾌﾞｼｷｶﾞｲｼｬ") == "カブシキガイシャ"  # half-width kana → full-width


def test_distinctive_name_drops_generic_suffixes_only():
    assert distinctive_name("東邦精機") == "東邦"
    assert distinctive_name("kavroalloys") == "kavro"
    assert distinctive_name("精機") == "精機"  # nothing left would be meaningless


def test_part_name_key():
    assert normalize_part_name("  Ｒａｒｅ   Earth　Magnet ") == "rare earth magnet"
