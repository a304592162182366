"""Shared fixtures: tiny hand-built survey returns with known answers, and the sample once."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

import supplychain as sc

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"

# Valid corporate numbers (check digits worked out by hand with the NTA rule; see test_normalize)
CN_A = "7123456789012"  # given as valid in the issue
CN_B = "5180001008846"  # given as valid in the issue


def write_csv_return(folder: Path, sheets: dict[str, list[list]], *, encoding="utf-8") -> Path:
    """Write a CSV-folder survey return: ``sheets`` maps file stem -> rows (header first)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in sheets.items():
        with open(folder / f"{name}.csv", "w", newline="", encoding=encoding) as f:
            csv.writer(f).writerows(rows)
    return folder


def write_xlsx_return(path: Path, sheets: dict[str, list[list]]) -> Path:
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for r in rows:
            ws.append(r)
    wb.save(path)
    return path


def basic_return(wave=2025, respondent="株式会社テスト重工", respondent_cn=CN_A) -> dict[str, list[list]]:
    """A small, fully valid return: a prime (S1) buying two parts from three suppliers."""
    return {
        "respondent": [["wave", "respondent_corporate_number", "respondent_name"], [wave, respondent_cn, respondent]],
        "companies": [
            ["company_ref", "corporate_number", "name", "country", "prefecture_code", "is_prime"],
            ["S1", CN_A, "株式会社テスト重工", "JP", "13", "yes"],
            ["S2", CN_B, "山田精機株式会社", "JP", "23", ""],
            ["S3", "", "北辰電子(株)", "JP", "27", ""],
            ["S4", "", "Kavro Alloys Inc.", "US", "", ""],
        ],
        "programs": [["program", "name", "category", "prime_ref"], ["P1", "試験装備", "tank", "S1"]],
        "supply": [
            [
                "program",
                "buyer_ref",
                "supplier_ref",
                "part",
                "share",
                "substitutability",
                "alternatives_qualified",
                "reported_tier",
            ],
            ["P1", "S1", "S2", "歯車", "0.6", "yes", "1", "1"],
            ["P1", "S1", "S3", "歯車", "0.4", "yes", "1", "1"],
            ["P1", "S1", "S4", "チタン合金", "1", "no", "0", "1"],
        ],
    }


@pytest.fixture
def con():
    c = sc.connect()
    yield c
    c.close()


@pytest.fixture(scope="session")
def sample_db(tmp_path_factory):
    """The committed sample, ingested once for the whole session (read-only use)."""
    if not SAMPLE.exists():
        pytest.fail("data/sample is missing: run `make sample`")
    path = tmp_path_factory.mktemp("sample") / "sample.duckdb"
    c = sc.connect(path)
    result = sc.ingest(c, SAMPLE)
    yield c, result
    c.close()


def build_scored_sample(folder: Path) -> Path:
    """The sample in ``folder``/sample.duckdb: its last two waves scored (risk registers
    included, so reports have changes to show) and 12 synthetic plans loaded."""
    from supplychain.risk.score import score

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "sample.duckdb"
    con = sc.connect(path)
    sc.ingest(con, SAMPLE)
    waves = [w for (w,) in con.execute("SELECT wave FROM survey_wave ORDER BY wave").fetchall()]
    for w in waves[-2:]:
        score(con, wave=w, with_esri=False)
    plans, measures = sc.datasets.make_plans(con, wave=waves[-1], n_plans=12)
    sc.datasets.write_plans(folder / "plans.xlsx", plans, measures)
    sc.plan.load_plans(con, folder / "plans.xlsx")
    con.close()
    return path


@pytest.fixture(scope="session")
def scored_sample(tmp_path_factory) -> Path:
    """:func:`build_scored_sample`, built once per session; copy it (:func:`copy_db`) before use."""
    return build_scored_sample(tmp_path_factory.mktemp("scored-sample"))


def copy_db(src: Path, folder: Path) -> Path:
    """A private copy of a database file (tests that open it read-write must not share it)."""
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(src, folder / src.name))


@pytest.fixture
def tmp_copy(tmp_path):
    def copy(src: Path) -> Path:
        dst = tmp_path / src.name
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            shutil.copy(src, dst)
        return dst

    return copy


def network_return(links, *, primes=None, programs=None, wave=2025, foreign=()) -> dict[str, list[list]]:
    """One return describing a hand-built network.

    ``links``: tuples ``(program, buyer, supplier, part[, share[, substitutability[,
    alternatives_qualified[, annual_value_jpy[, reported_tier]]]]])`` with companies named by
    short refs; ``primes`` maps program -> prime ref (default: ``{"P1": "PR"}``); ``programs``
    maps program -> annual value. Companies get no corporate number (their label is then the
    internal id) unless ``foreign`` lists refs to be made foreign (country US).
    """
    primes = primes or {"P1": "PR"}
    refs = sorted({r for link in links for r in link[1:3]} | set(primes.values()))
    head = ["program", "buyer_ref", "supplier_ref", "part", "share", "substitutability", "alternatives_qualified"]
    head += ["annual_value_jpy", "reported_tier"]
    supply = [head] + [[*link, *[""] * (len(head) - len(link))] for link in links]
    return {
        "respondent": [["wave", "respondent_corporate_number", "respondent_name"], [wave, "", "ネットワーク作成者"]],
        "companies": [["company_ref", "corporate_number", "name", "country", "prefecture_code", "is_prime"]]
        + [
            [r, "", f"{r}社", "US" if r in foreign else "JP", "" if r in foreign else "13", "yes" if r in primes.values() else ""]
            for r in refs
        ],
        "programs": [["program", "name", "category", "prime_ref", "annual_value_jpy"]]
        + [[p, f"装備{p}", "tank", ref, (programs or {}).get(p, "")] for p, ref in primes.items()],
        "supply": supply,
    }


def load_network(con, tmp_path, links, **kwargs):
    """Ingest :func:`network_return` and return a function from ref to company label."""
    res = sc.ingest(con, write_csv_return(tmp_path / "net", network_return(links, **kwargs)))
    assert res.ok, res.to_frame()
    return labels_by_ref(con)


def labels_by_ref(con):
    """A function from a company ref of the returns loaded to the company's label."""
    ids = dict(
        con.execute(
            "SELECT r.company_ref, coalesce(c.corporate_number, c.company_id) FROM company_report r JOIN company c USING (company_id)"
        ).fetchall()
    )
    return ids.__getitem__
