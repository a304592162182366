"""The synthetic generator: realistic shape, deterministic, and the committed sample is its output."""

import filecmp
from pathlib import Path

import numpy as np
import pytest

from supplychain.datasets import WITHDRAWAL_DRIVERS, make_survey, write_survey
from supplychain.exceptions import SupplyChainError
from supplychain.survey.normalize import valid_corporate_numbers

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def survey():
    return make_survey("sample", random_state=0)


def test_shape_of_the_sample(survey):
    first = survey.links[survey.waves[0]]
    assert survey.waves == [2022, 2023, 2024, 2025]
    assert set(first["program"]) == {"FX-3", "TK-12", "DD-9", "SAM-5"}
    assert set(first["tier"]) == {1, 2, 3, 4, 5, 6}
    firms_in_use = np.unique(first[["buyer", "supplier"]].to_numpy())
    assert 800 <= len(firms_in_use) <= 1200  # "about a thousand firms"
    # suppliers shared between programs
    programs_per_supplier = first.groupby("supplier")["program"].nunique()
    assert (programs_per_supplier > 1).sum() > 50


def test_single_supplier_share_is_between_40_and_60_percent(survey):
    for w in survey.waves:
        n = survey.links[w].groupby(["program", "buyer", "part"]).size()
        assert 0.40 <= (n == 1).mean() <= 0.60


def test_sole_and_single_both_present(survey):
    lk = survey.links[survey.waves[0]]
    single = lk[lk.groupby(["program", "buyer", "part"])["supplier"].transform("size") == 1]
    sole = (single["alternatives_qualified"] == 0) & (single["substitutability"] == "no")
    assert 0.15 < sole.mean() < 0.6


def test_shares_of_each_part_sum_to_one(survey):
    for w in survey.waves:
        total = survey.links[w].groupby(["program", "buyer", "part"])["share"].sum()
        assert np.allclose(total, 1.0, atol=1e-9)


def test_imports_are_concentrated_realistically(survey):
    firms, lk = survey.firms, survey.links[survey.waves[0]]
    country = firms["country"].to_numpy()[lk["supplier"].to_numpy()]
    rare = lk["klass"].to_numpy() == "rare_earth"
    foreign_rare = country[rare & (country != "JP")]
    assert (foreign_rare == "CN").mean() > 0.6  # rare earths mostly from CN
    elec = country[(lk["klass"].to_numpy() == "electronics") & (country != "JP")]
    assert set(elec) <= {"US", "TW", "KR", "CN", "DE"}
    origins = survey.origins[survey.waves[0]]
    depth = lk.drop_duplicates(["supplier", "part"]).set_index(["supplier", "part"])["tier"]
    tier = depth.reindex(list(zip(origins["supplier"], origins["part"]))).to_numpy()
    unknown = (origins["origin_country"] == "unknown").to_numpy()
    assert unknown[tier >= 5].mean() > unknown[tier <= 3].mean()  # deeper → more unknown


def test_business_condition_distributions(survey):
    st = survey.status[survey.waves[0]]
    assert 0.02 <= st["defense_sales_share"].median() <= 0.045  # ~3 %
    assert (st["defense_sales_share"] > 0.5).sum() > 5  # some small firms above 50 %
    assert 0.015 <= st["defense_margin"].median() <= 0.035  # 2–3 %
    for w in survey.waves:
        considering = (survey.status[w]["withdrawal_intent"] == "considering").mean()
        assert 0.03 <= considering <= 0.08


def test_withdrawals_follow_the_documented_drivers(survey):
    """Firms that withdrew had, the wave before, more of the risk factors than those that stayed."""
    wd = survey.withdrawals
    assert wd["wave"].min() == 2023 and len(wd) >= 60  # enough for a model to learn from
    prev = {w: survey.status[w - 1] for w in survey.waves[1:]}
    left = [prev[w].loc[f] for f, w in zip(wd["firm"], wd["wave"]) if f in prev[w].index]
    stayed = survey.status[2022].drop(wd["firm"], errors="ignore")
    low_margin_left = np.mean([s["defense_margin"] < 0.01 for s in left])
    assert low_margin_left > (stayed["defense_margin"] < 0.01).mean() * 1.5
    intent_left = np.mean([s["withdrawal_intent"] != "none" for s in left])
    assert intent_left > 3 * (stayed["withdrawal_intent"] != "none").mean()
    assert WITHDRAWAL_DRIVERS["withdrawal_intent == decided"] > WITHDRAWAL_DRIVERS["withdrawal_intent == considering"] > 0


def test_corporate_numbers_are_valid_and_unique(survey):
    cn = survey.firms["corporate_number"].dropna()
    assert valid_corporate_numbers(cn.tolist()).all()
    assert cn.is_unique
    assert survey.firms.loc[survey.firms["country"] != "JP", "corporate_number"].isna().all()


def test_same_seed_same_data_other_seed_other_data():
    a, b, c = (make_survey("sample", waves=1, random_state=s) for s in (3, 3, 4))
    assert a.links[2022].equals(b.links[2022])
    assert not a.links[2022].equals(c.links[2022])


def test_bad_arguments_say_what_was_expected():
    with pytest.raises(SupplyChainError, match="scale must be one of"):
        make_survey("galactic")
    with pytest.raises(SupplyChainError, match="waves must be at least 1"):
        make_survey("sample", waves=0)


def test_committed_sample_regenerates_identically(tmp_path):
    """data/sample is exactly `supplychain sample --scale sample --seed 0`, byte for byte."""
    write_survey(tmp_path, scale="sample", random_state=0)
    cmp = filecmp.dircmp(ROOT / "data" / "sample", tmp_path)

    def differences(d):
        out = d.left_only + d.right_only + d.diff_files
        for sub in d.subdirs.values():
            out += differences(sub)
        return out

    # dircmp compares shallowly by stat; compare contents for every common file
    assert differences(cmp) == []
    for left in sorted((ROOT / "data" / "sample").rglob("*")):
        if left.is_file():
            right = tmp_path / left.relative_to(ROOT / "data" / "sample")
            assert left.read_bytes() == right.read_bytes(), left
