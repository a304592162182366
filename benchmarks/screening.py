"""Screening benchmark: every company and owner of the national database against a synthetic
screening list of 10,000 entries (with aliases), as `supplychain screen` does it.

    python benchmarks/screening.py                     # companies of benchmarks/data/national.duckdb
    python benchmarks/screening.py --entries 10000 --planted 300

The companies and owners are copied into an in-memory database; the list is fictional names
(two or three invented syllable words and a company form, one or two aliases each) plus
``--planted`` entries copied from companies' English names, half of them with a typo, so that
recall can be counted. Peak memory is the process's resident high-water mark.

The naive way scores every (company name, listed name) pair with rapidfuzz in Python, on a
sample of companies, extrapolated to all; the exhaustive vectorised way (rapidfuzz's cdist over
all pairs, in C++ on both cores) is measured the same way.

Target (issue 4): 100k companies against 10k entries ≤ 60 s.
"""

from __future__ import annotations

import argparse
import csv
import platform
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from graph import _hwm_mb, ensure_database  # noqa: E402

FORMS = ["Co., Ltd.", "LLC", "JSC", "Inc.", "Limited", "Group", "Trading Co.", "GmbH", "S.A."]


def synthetic_list(rng, n: int, planted_from: list[str]) -> list[dict]:
    from supplychain._data import names as N

    syl = N.FOREIGN_SYLLABLES
    rows = []
    for i in range(n - len(planted_from)):
        words = ["".join(rng.choice(syl, size=rng.integers(2, 4))).capitalize() for _ in range(rng.integers(1, 3))]
        name = " ".join(words) + " " + FORMS[i % len(FORMS)]
        aliases = [" ".join(words[:1]) + " " + FORMS[(i + 3) % len(FORMS)]]
        if i % 3 == 0:
            aliases.append(name.upper().replace(" ", ""))
        rows.append(
            {"_id": f"syn{i}", "source": "Synthetic List", "type": "Entity", "name": name, "alt_names": "; ".join(aliases)}
        )
    for j, name in enumerate(planted_from):
        if j % 2:
            k = int(rng.integers(1, max(2, len(name) - 1)))
            name = name[:k] + name[k + 1 :]  # one letter dropped
        rows.append({"_id": f"planted{j}", "source": "Synthetic List", "type": "Entity", "name": name, "alt_names": ""})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--entries", type=int, default=10_000)
    ap.add_argument("--planted", type=int, default=300)
    ap.add_argument("--naive-sample", type=int, default=100, help="companies scored against every entry the naive way")
    args = ap.parse_args()
    run(args.entries, args.planted, args.naive_sample)


def run(n_entries: int = 10_000, n_planted: int = 300, naive_sample: int = 100) -> None:
    """Measure and print (benchmarks/foreign.py calls this too)."""
    db = ensure_database("national")
    import supplychain as sc
    from supplychain import screening

    con = sc.connect()
    con.execute(f"ATTACH '{db}' AS nat (READ_ONLY)")
    con.execute("INSERT INTO company SELECT * FROM nat.company")
    con.execute("INSERT INTO ownership SELECT * FROM nat.ownership")
    con.execute("DETACH nat")
    n_companies = con.execute("SELECT count(*) FROM company").fetchone()[0]
    n_owners = con.execute("SELECT count(DISTINCT (owner_name_normalized, owner_country)) FROM ownership").fetchone()[0]
    rng = np.random.default_rng(0)
    names_en = [r[0] for r in con.execute("SELECT name_en FROM company WHERE name_en IS NOT NULL ORDER BY company_id").fetchall()]
    planted = [names_en[i] for i in rng.choice(len(names_en), size=n_planted, replace=False)]
    rows = synthetic_list(rng, n_entries, planted)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "list.csv"
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=["_id", "source", "type", "name", "alt_names"])
            w.writeheader()
            w.writerows(rows)
        t = time.perf_counter()
        screening.load_list(con, path, format="csl")
        load_s = time.perf_counter() - t
    t = time.perf_counter()
    hits = screening.screen(con)
    screen_s = time.perf_counter() - t
    peak = _hwm_mb()
    found = set(hits.loc[hits["entry_id"].str.startswith("planted"), "entry_id"])
    # naive: every pair in Python, on a sample of companies; and exhaustive cdist
    from rapidfuzz import fuzz, process

    entry_keys = [screening.screening_key(v) for r in rows for v in [r["name"], *filter(None, r["alt_names"].split("; "))]]
    sample = [screening.screening_key(n) for n in rng.choice(names_en, size=naive_sample, replace=False)]
    t = time.perf_counter()
    for a in sample:
        for b in entry_keys:
            fuzz.ratio(a, b)
    naive_all = (time.perf_counter() - t) / len(sample) * n_companies * 2  # two romanised names per company
    t = time.perf_counter()
    process.cdist(sample * 10, entry_keys, scorer=fuzz.ratio, score_cutoff=85, workers=-1)
    cdist_all = (time.perf_counter() - t) / (len(sample) * 10) * n_companies * 2

    print(f"# screening benchmark — {date.today()}, {platform.node()} ({platform.machine()}), Python {sys.version.split()[0]}")
    print(
        f"{n_companies:,} companies and {n_owners:,} owners against {len(rows):,} list entries ({len(entry_keys):,} names and aliases)"
    )
    print(f"hits: {len(hits):,} ({int(hits['strong'].sum()):,} strong); planted entries found: {len(found)} of {len(planted)}")
    print()
    print("| step | seconds | peak MB | naive time ÷ this time |")
    print("|---|---:|---:|---:|")
    print(f"| load the list (CSV → screening_entry) | {load_s:.2f} | | |")
    print(f"| screen (normalise, romanise, block, score, queue) | {screen_s:.2f} | {peak:,.0f} | {naive_all / screen_s:,.0f} |")
    print(
        f"| exhaustive rapidfuzz cdist (C++, 2 cores), extrapolated from {len(sample) * 10:,} names | {cdist_all:.1f} | | {naive_all / cdist_all:,.0f} |"
    )
    print(f"| naive: every pair in Python, extrapolated from {len(sample)} names | {naive_all:,.0f} | | 1 |")


if __name__ == "__main__":
    main()
