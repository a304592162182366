"""Entity resolution: variants merge, different firms stay apart, the review queue remembers."""

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given, settings
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

import supplychain as sc
from supplychain.db import run
from supplychain.survey.resolve import MAX_EDITS, NameIndex, decide, deletion_hashes, review_id_for, review_queue

from .conftest import CN_B, basic_return, write_csv_return


def _book(respondent, rows, wave=2025):
    """A return from ``respondent`` listing itself (S1) buying a part from each company in rows."""
    book = basic_return(wave=wave, respondent=respondent, respondent_cn="")
    book["respondent"][1][1] = ""
    book["companies"] = [book["companies"][0], ["S1", "", respondent, "JP", "13", ""]]
    book["supply"] = [book["supply"][0]]
    for i, (cn, name, country, pref) in enumerate(rows, start=2):
        book["companies"].append([f"S{i}", cn, name, country, pref, ""])
        book["supply"].append(["P1", "S1", f"S{i}", f"部品{i}", "1", "", "", ""])
    return book


def test_variant_spellings_of_one_firm_merge(con, tmp_path):
    spellings = ["山田精機株式会社", "(株)山田精機", "山田精機㈱", "株式会社　山田精機"]
    for i, name in enumerate(spellings):
        cn = CN_B if i == 0 else ""  # only the first return knows the corporate number
        sc.ingest(con, write_csv_return(tmp_path / f"r{i}", _book(f"回答者{i}", [(cn, name, "JP", "23")])))
    ids = run(con, "SELECT DISTINCT company_id FROM company_report WHERE name LIKE '%山田精機%'").fetchall()
    assert len(ids) == 1
    assert run(con, "SELECT corporate_number FROM company WHERE company_id = ?", [ids[0][0]]).fetchone() == (CN_B,)
    methods = run(con, "SELECT match_method FROM company_report WHERE name LIKE '%山田精機%' ORDER BY submission_id").fetchall()
    assert [m for (m,) in methods] == ["new", "name_exact", "name_exact", "name_exact"]


def test_same_name_in_different_prefectures_stays_apart(con, tmp_path):
    sc.ingest(con, write_csv_return(tmp_path / "a", _book("回答者A", [("", "山田精機株式会社", "JP", "13")])))
    sc.ingest(con, write_csv_return(tmp_path / "b", _book("回答者B", [("", "山田精機株式会社", "JP", "27")])))
    prefs = run(con, "SELECT prefecture_code FROM company WHERE name_normalized = '山田精機' ORDER BY 1").fetchall()
    assert prefs == [("13",), ("27",)]
    assert review_queue(con).empty  # different prefectures are not even a question


def test_two_corporate_numbers_are_two_firms_even_with_one_name(con, tmp_path):
    sc.ingest(con, write_csv_return(tmp_path / "a", _book("回答者A", [("7123456789012", "山田精機株式会社", "JP", "13")])))
    sc.ingest(con, write_csv_return(tmp_path / "b", _book("回答者B", [("5180001008846", "山田精機株式会社", "JP", "13")])))
    assert run(con, "SELECT count(*) FROM company WHERE name_normalized = '山田精機'").fetchone()[0] == 2


def test_similar_name_goes_to_review_and_the_decision_is_remembered(con, tmp_path):
    sc.ingest(con, write_csv_return(tmp_path / "a", _book("回答者A", [("", "東邦ミナト精機株式会社", "JP", "13")])))
    sc.ingest(con, write_csv_return(tmp_path / "b", _book("回答者B", [("", "東邦ミナト精器株式会社", "JP", "13")])))
    q = review_queue(con)
    assert list(q["name_a"]) == ["東邦ミナト精機株式会社"] and list(q["name_b"]) == ["東邦ミナト精器株式会社"]
    assert q["key_a"].tolist() == ["JP|13|東邦ミナト精機"] and q["key_b"].tolist() == ["JP|13|東邦ミナト精器"]
    # the id SQL gives a pair is the one the library's function gives it
    assert q["review_id"].tolist() == [review_id_for("JP|13|東邦ミナト精機", "JP|13|東邦ミナト精器")]
    # never merged silently: two companies until someone decides
    assert run(con, "SELECT count(*) FROM company WHERE name LIKE '東邦ミナト%'").fetchone()[0] == 2
    decide(con, q["review_id"][0], "same", user="analyst")
    assert run(con, "SELECT count(*) FROM company WHERE name LIKE '東邦ミナト%'").fetchone()[0] == 1
    assert run(con, "SELECT count(DISTINCT supplier_id) FROM supply WHERE part_id IN ('部品2')").fetchone()[0] == 1
    # the next wave's return with the typo resolves to the same company without asking again
    sc.ingest(con, write_csv_return(tmp_path / "c", _book("回答者B", [("", "東邦ミナト精器株式会社", "JP", "13")], wave=2026)))
    assert run(con, "SELECT count(*) FROM company WHERE name LIKE '東邦ミナト%'").fetchone()[0] == 1
    last = run(con, "SELECT match_method FROM company_report WHERE wave = 2026 AND name LIKE '東邦ミナト%'").fetchone()
    assert last == ("review_same",)
    assert review_queue(con).empty
    assert run(con, "SELECT user_name, action FROM audit_log").fetchall() == [("analyst", "entity_review")]


def test_different_decision_is_remembered_too(con, tmp_path):
    sc.ingest(con, write_csv_return(tmp_path / "a", _book("回答者A", [("", "東邦ミナト精機株式会社", "JP", "13")])))
    sc.ingest(con, write_csv_return(tmp_path / "b", _book("回答者B", [("", "東邦ミナト精器株式会社", "JP", "13")])))
    decide(con, review_queue(con)["review_id"][0], "different")
    sc.ingest(con, write_csv_return(tmp_path / "c", _book("回答者C", [("", "東邦ミナト精器株式会社", "JP", "13")], wave=2026)))
    assert review_queue(con).empty
    assert run(con, "SELECT count(*) FROM company WHERE name LIKE '東邦ミナト%'").fetchone()[0] == 2


def test_similar_names_found_across_batches_of_one_ingest(con, tmp_path):
    """One ingest, one return per batch: a company first reported without a prefecture, whose
    prefecture a later return fills in, is a candidate in that prefecture from then on."""
    name = "東邦ミナト精機株式会社"
    returns = [
        write_csv_return(tmp_path / "a", _book("回答者A", [(CN_B, name, "JP", "")])),
        write_csv_return(tmp_path / "b", _book("回答者B", [(CN_B, name, "JP", "13")])),
        write_csv_return(tmp_path / "c", _book("回答者C", [("", "東邦ミナト精器株式会社", "JP", "13")])),
    ]
    sc.ingest(con, returns, batch_rows=1)
    q = review_queue(con)
    assert list(q["name_a"]) == [name] and list(q["name_b"]) == ["東邦ミナト精器株式会社"]
    assert q["reason"].tolist() == ["similar names in JP 13"]


def test_a_later_ingest_finds_numbered_firms_of_an_earlier_one(con, tmp_path):
    """Ingest 1 loads a numbered firm. Ingest 2, a return per batch: the first return mentions
    only another numbered firm of the block (its search needs only the unnumbered names), the
    second the firm's variant without a number, which must meet the firm of ingest 1."""
    sc.ingest(con, write_csv_return(tmp_path / "a", _book("回答者A", [(CN_B, "東邦ミナト精機株式会社", "JP", "13")])))
    only_numbered = _book("回答者B", [("7123456789012", "北辰電子株式会社", "JP", "13")])
    only_numbered["companies"][1][4] = "27"  # the respondent itself is in another prefecture
    returns = [
        write_csv_return(tmp_path / "b", only_numbered),
        write_csv_return(tmp_path / "c", _book("回答者C", [("", "東邦ミナト精器株式会社", "JP", "13")])),
    ]
    sc.ingest(con, returns, batch_rows=1)
    q = review_queue(con)
    assert list(zip(q["name_a"], q["name_b"])) == [("東邦ミナト精機株式会社", "東邦ミナト精器株式会社")]


def test_a_name_that_fits_two_numbered_firms_is_asked_not_guessed(con, tmp_path):
    name = "山田精機株式会社"
    for folder, cn in (("a", "7123456789012"), ("b", "5180001008846")):
        sc.ingest(con, write_csv_return(tmp_path / folder, _book(f"回答者{folder}", [(cn, name, "JP", "13")])))
    # no number: either firm could be meant, so the mention is a company of its own, queued
    sc.ingest(con, write_csv_return(tmp_path / "c", _book("回答者C", [("", name, "JP", "13")])))
    assert run(con, "SELECT count(*) FROM company WHERE name_normalized = '山田精機'").fetchone()[0] == 3
    q = review_queue(con)
    assert q["reason"].tolist() == ["similar names in JP 13"] and q["score"].tolist() == [100.0]
    assert q["key_a"].tolist() == q["key_b"].tolist() == ["JP|13|山田精機"]


# The similar-name search: the deletion index finds exactly the pairs a brute-force distance
# matrix finds.


def test_deletion_hashes_are_those_of_the_strings_left():
    owner, hashes = deletion_hashes(["abc"], 2)
    # 1 + 3 + 3 deletions of "abc": abc, bc, ac, ab, c, b, a
    assert owner.tolist() == [0] * 7
    left = ["abc", "bc", "ac", "ab", "c", "b", "a"]
    assert sorted(hashes.tolist()) == sorted(deletion_hashes(left, 0)[1].tolist())
    assert len(set(hashes.tolist())) == 7
    # a repeated letter leaves the same string twice: same hash
    _, h = deletion_hashes(["aab"], 1)
    assert h[1] == h[2] != h[3]
    assert deletion_hashes([], 2)[0].size == 0
    assert deletion_hashes([""], 2)[1].tolist() == deletion_hashes([""], 0)[1].tolist()


def test_name_index_finds_hand_worked_pairs():
    index = NameIndex()
    index.add(("JP", "13"), ["東邦ミナト精機", "山田精機", "kavroalloys", "zembrialloys", "山田精機"])
    # names without a number build that index only: the numbered one is still to be read
    assert index.indexed("JP", "13", False) and not index.indexed("JP", "13", True)
    queries = ["東邦ミナト精器", "山田", "kavroaloys", "kavro", "山田精機"]
    qs, names = index.close_pairs(("JP", "13"), queries)
    # 精機/精器: 1 edit; 山田 vs 山田精機: 2 deletions; kavroaloys: 1; kavro: 6 edits; exact: 0
    assert list(zip(qs.tolist(), names)) == [(0, "東邦ミナト精機"), (1, "山田精機"), (2, "kavroalloys"), (4, "山田精機")]
    assert index.close_pairs(("JP", "27"), queries)[1] == []  # another block: nothing indexed
    # a numbered query looks only among the names of companies without a number
    index.add(("JP", "13"), ["山田精器"], numbered=[True])
    qs, names = index.close_pairs(("JP", "13"), ["山田精機"], numbered_q=[True])
    assert names == ["山田精機"]
    qs, names = index.close_pairs(("JP", "13"), ["山田精機"])
    assert sorted(names) == ["山田精器", "山田精機"]
    # adding only where already built: (JP, 13, numbered) is, (JP, 27, unnumbered) is not
    assert index.indexed("JP", "13", True) and not index.indexed("JP", "27", False)
    index.add(("JP", "27"), ["山田精機"], create=False)
    assert not index.indexed("JP", "27", False)


def test_name_index_with_few_bits_for_the_names(monkeypatch):
    """Hash and name share a word (3 bits for the name here): queries beyond 8 go in chunks,
    and a block beyond 8 names is refused rather than mixed up."""
    from supplychain.exceptions import SupplyChainError
    from supplychain.survey import resolve

    monkeypatch.setattr(resolve, "_OWNER_MASK", np.uint64(7))
    index = NameIndex()
    existing = ["東邦ミナト精機", "山田精機", "kavroalloys", "zembrialloys"]
    index.add(("JP", "13"), existing)
    queries = ["東邦ミナト精器", "山田", "kavroaloys", "kavro", "山田精機"] * 4  # 20 queries: three chunks
    qs, names = index.close_pairs(("JP", "13"), queries)
    edits = process.cdist(queries, existing, scorer=Levenshtein.distance)
    want = sorted((int(i), existing[j]) for i, j in zip(*np.nonzero(edits <= MAX_EDITS)))
    assert sorted(zip(qs.tolist(), names)) == want and len(want) == 16
    index.add(("JP", "13"), ["a", "b", "c", "d"])  # 8 names: still fits
    with pytest.raises(SupplyChainError, match="more than 8 distinct company names"):
        index.add(("JP", "13"), ["e"])


def test_name_index_follows_a_company_that_moves():
    """A company indexed in (JP, no prefecture) among the numbered gains prefecture 13: it is a
    candidate there from then on, and no longer where it was."""
    import pandas as pd

    def frame(pref):
        return pd.DataFrame(
            {
                "country": ["JP"],
                "_p": [pref],
                "numbered": [True],
                "name_normalized": ["東邦ミナト精機"],
                "company_id": ["C1"],
                "name": ["東邦ミナト精機㈱"],
            }
        )

    index = NameIndex()
    index.add_frame(frame(""), create=True)
    assert index.candidates(("JP", ""), ["東邦ミナト精器"]) == [(0, "東邦ミナト精機", [("C1", "東邦ミナト精機㈱")])]
    index.add_frame(frame("13"), create=False)  # (JP, 13) not built yet: nothing added there
    assert not index.indexed("JP", "13", True)
    index.add_frame(frame("13"), create=True)
    assert index.candidates(("JP", ""), ["東邦ミナト精器"]) == [(0, "東邦ミナト精機", [])]
    assert index.candidates(("JP", "13"), ["東邦ミナト精器"]) == [(0, "東邦ミナト精機", [("C1", "東邦ミナト精機㈱")])]
    # a query with a corporate number never meets a numbered company
    assert index.candidates(("JP", "13"), ["東邦ミナト精器"], [True]) == []


@settings(max_examples=60, deadline=None)
@given(
    batches=st.lists(
        st.lists(st.tuples(st.text(alphabet="abcd精機", max_size=7), st.booleans()), max_size=25),
        min_size=1,
        max_size=4,
    )
)
def test_name_index_agrees_with_a_distance_matrix(batches):
    """Every (query, name) within MAX_EDITS, except a numbered query and a name carried only by
    numbered companies (a name may be numbered in one batch and not in another: a company's
    number becomes known, or two firms share a name)."""
    index = NameIndex()
    seen: list[tuple[str, bool]] = []
    for batch in batches:
        index.add(("XX", ""), [n for n, _ in batch], numbered=[b for _, b in batch])
        seen += batch
        names_q, numbered_q = [n for n, _ in batch], np.array([b for _, b in batch], bool)
        qs, names = index.close_pairs(("XX", ""), names_q, numbered_q)
        got = list(zip(qs.tolist(), names))
        unnumbered = {n for n, b in seen if not b}
        candidates = sorted({n for n, _ in seen})
        want = set()
        if batch:
            edits = process.cdist(names_q, candidates, scorer=Levenshtein.distance)
            for i, j in zip(*np.nonzero(edits <= MAX_EDITS)):
                if not numbered_q[i] or candidates[j] in unnumbered:
                    want.add((int(i), candidates[j]))
        assert set(got) == want
        assert len(got) == len(want)  # each pair once
        assert qs.tolist() == sorted(qs.tolist())


def test_resolve_companies_on_a_frame_by_hand(con):
    """The library form: one batch of mentions, in order. Worked by hand: rows 0 and 2 spell one
    firm without a number (the second matches the first by name), row 1 has a number and row 3
    repeats it word for word, row 4 is the same name as row 0 in another prefecture."""
    import pandas as pd

    from supplychain.survey.resolve import company_id_for, name_key, resolve_companies

    mentions = pd.DataFrame(
        {
            "company_ref": ["A", "B", "C", "D", "E"],
            "corporate_number": [None, CN_B, None, CN_B, None],
            "name": ["山田精機株式会社", "北辰電子株式会社", "(株)山田精機", "北辰電子株式会社", "山田精機株式会社"],
            "name_kana": [None] * 5,
            "name_en": [None, "Hokushin Denshi", None, None, None],
            "country": ["JP"] * 5,
            "prefecture_code": ["23", "13", "23", "13", "27"],
            "employees": [120, None, 130, 40, None],
            "is_sme": [True, None, None, True, None],
            "is_prime": [False] * 5,
        }
    )
    out = resolve_companies(con, mentions, wave=2025)
    assert out["company_ref"].tolist() == ["A", "B", "C", "D", "E"]  # in the order given
    yamada = company_id_for(None, name_key("山田精機", "JP", "23"))
    assert out["company_id"].tolist() == [
        yamada,
        company_id_for(CN_B, ""),
        yamada,
        company_id_for(CN_B, ""),
        company_id_for(None, name_key("山田精機", "JP", "27")),
    ]
    assert out["match_method"].tolist() == ["new", "new", "name_exact", "corporate_number", "new"]
    assert out["match_score"].fillna(-1).tolist() == [-1, -1, 100.0, -1, -1]
    assert out["name_normalized"].tolist() == ["山田精機", "北辰電子", "山田精機", "北辰電子", "山田精機"]
    # the first report of a field counts, the last of size: 山田精機 (23) has 130 employees
    rows = run(con, "SELECT company_id, name, name_en, employees, is_sme FROM company ORDER BY name, prefecture_code").fetchall()
    assert rows == [  # 北 (U+5317) sorts before 山 (U+5C71)
        (company_id_for(CN_B, ""), "北辰電子株式会社", "Hokushin Denshi", 40, True),
        (company_id_for(None, name_key("山田精機", "JP", "23")), "山田精機株式会社", None, 130, True),
        (company_id_for(None, name_key("山田精機", "JP", "27")), "山田精機株式会社", None, None, None),
    ]
