"""Synthetic survey data that looks like the real thing (DESIGN §1), with fictional companies.

:func:`make_survey` builds a multi-program, multi-tier defense supplier base and its evolution
over survey waves; :func:`write_survey` writes it as survey returns (one per respondent and wave)
in the workbook contract of DESIGN §3.1, with the traps real returns have.

What is in it
-------------
- programs of the real kinds (fighter, tank, destroyer, submarine, missile, radar, ...), each
  with a prime and tiers 1–6; suppliers are shared between programs (popular firms are picked
  by many buyers, so hidden convergence happens as it does in practice);
- every buyer needs several parts (AND), each from one to three suppliers (OR); 40–60 % of
  (buyer, part) pairs have one supplier, sole or single source per ``alternatives_qualified``
  and ``substitutability``;
- imports concentrated realistically: rare earths and magnets mostly from CN, electronics from
  US, TW, KR and CN; ``material_origin`` is more often ``unknown`` deeper in the tree;
- defense share of sales log-normal around 3 % with some small firms above 50 %; defense margins
  around 2–3 %; owner ages and successor status; 3–8 % of suppliers "considering" withdrawal in
  a wave; real withdrawals in later waves driven by those factors (:data:`WITHDRAWAL_DRIVERS`),
  so a model can learn them; cyber self-assessments; sites with hazard fields; some foreign
  owners;
- traps (:func:`write_survey`, listed in ``SyntheticSurvey.traps``): bad check digits, full-width
  names, one firm under several spellings, missing values, tiers that disagree with the
  structure, a share written as a percentage, a reference to a company not listed, a value
  outside the allowed list, a near-duplicate name for the review queue, Japanese headers, a
  Shift_JIS CSV return and a corrected resubmission.

Scales: ``sample`` (4 programs, about a thousand firms, 4 waves; committed in ``data/sample/``),
``panel`` (10 programs, about 5,000 suppliers, 6 waves, CSV: enough planted withdrawals, some 700,
to fit and validate the withdrawal model; the tests generate it), ``national`` (about 100k firms and 500k links) and ``economy`` (about 1M firms and 5M links),
the latter two written as CSV folders.
"""

from __future__ import annotations

import io
import logging
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ._data import names as N
from .exceptions import SupplyChainError
from .survey.normalize import check_digits

__all__ = ["make_survey", "write_survey", "make_plans", "write_plans", "SyntheticSurvey", "SCALES", "WITHDRAWAL_DRIVERS"]

log = logging.getLogger(__name__)

CLASSES = ("assembly", "electronics", "mechanical", "materials", "rare_earth", "chemicals", "software")

#: Share of each part class among the parts bought by buyers of tier d (index d = 0 … 5).
CLASS_MIX = np.array(
    [
        # asm  elec  mech  mat   rare  chem  soft
        [0.55, 0.20, 0.15, 0.00, 0.00, 0.00, 0.10],
        [0.20, 0.35, 0.35, 0.00, 0.00, 0.00, 0.10],
        [0.00, 0.30, 0.40, 0.20, 0.00, 0.10, 0.00],
        [0.00, 0.15, 0.25, 0.40, 0.05, 0.15, 0.00],
        [0.00, 0.00, 0.00, 0.50, 0.30, 0.20, 0.00],
        [0.00, 0.00, 0.00, 0.50, 0.30, 0.20, 0.00],
    ]
)

#: Share of foreign firms among the suppliers of each class, and their countries.
FOREIGN = {
    "assembly": (0.03, {"US": 1.0}),
    "electronics": (0.25, {"US": 0.35, "TW": 0.25, "KR": 0.15, "CN": 0.15, "DE": 0.10}),
    "mechanical": (0.08, {"DE": 0.35, "US": 0.30, "IT": 0.15, "SE": 0.10, "CN": 0.10}),
    "materials": (0.30, {"CN": 0.30, "US": 0.20, "AU": 0.15, "DE": 0.15, "FR": 0.10, "MY": 0.10}),
    "rare_earth": (0.70, {"CN": 0.85, "VN": 0.05, "AU": 0.05, "US": 0.05}),
    "chemicals": (0.20, {"CN": 0.40, "US": 0.30, "DE": 0.20, "GB": 0.10}),
    "software": (0.05, {"US": 0.70, "IL": 0.30}),
}

PROGRAM_KINDS = [
    # code, name, category, size factor
    ("FX-3", "次期戦闘機", "fighter", 1.0),
    ("TK-12", "12式戦車", "tank", 0.9),
    ("DD-9", "9式護衛艦", "destroyer", 1.3),
    ("SAM-5", "5式地対空誘導弾", "missile", 0.7),
    ("SS-3", "3式潜水艦", "submarine", 1.2),
    ("RD-7", "7式警戒管制レーダー", "radar", 0.6),
    ("HX-2", "2式哨戒ヘリコプター", "helicopter", 0.8),
    ("CV-8", "8式装輪装甲車", "vehicle", 0.7),
    ("AM-4", "4式誘導弾薬", "ammunition", 0.5),
    ("CM-6", "6式通信システム", "communications", 0.5),
]


@dataclass(frozen=True)
class Scale:
    programs: int
    firms: int
    waves: int
    parts_per_buyer: tuple[float, ...]  # Poisson mean of parts bought, by buyer tier 0..5
    responders_per_program: int
    format: str
    popularity_shape: float = 1.3  # Pareto shape of how often a firm is picked: lower = more hubs


SCALES = {
    "sample": Scale(4, 1_300, 4, (14.0, 4.0, 2.6, 1.9, 1.4, 1.0), 2, "xlsx"),
    # many waves of a mid-sized base: enough planted withdrawals to learn and validate a model on
    "panel": Scale(10, 8_000, 6, (14.0, 4.0, 2.6, 1.9, 1.4, 1.0), 2, "csv"),
    "national": Scale(80, 170_000, 1, (10.0, 3.5, 2.4, 1.8, 1.3, 1.0), 3, "csv", 3.0),
    "economy": Scale(800, 1_700_000, 1, (10.0, 3.5, 2.4, 1.8, 1.3, 1.0), 3, "csv", 3.0),
}

#: How the hidden withdrawal process uses the survey fields (log-odds added per driver).
WITHDRAWAL_DRIVERS = {
    "intercept": -5.4,
    "defense_margin < 0.01": 1.4,
    "owner_age >= 70 and successor == none": 1.3,
    "defense_sales_share < 0.015": 0.7,
    "order_trend == decreasing": 0.9,
    "equipment_age_years > 30": 0.6,
    "capacity_use < 0.5": 0.5,
    "withdrawal_intent == considering": 2.2,
    "withdrawal_intent == decided": 4.0,
}


@dataclass
class SyntheticSurvey:
    """A generated supplier base over waves, ready to be written as survey returns.

    Attributes
    ----------
    firms : DataFrame
        One row per firm (``firm`` is the index), with its true identity and attributes.
    programs : DataFrame
        Program code, name, category, prime firm, annual value, compartment.
    links : dict[int, DataFrame]
        Per wave, the true supply links (program, buyer, supplier, part, tier, attributes).
    status, cyber : dict[int, DataFrame]
        Per wave, the survey answers per firm.
    sites, ownership : DataFrame
        One site per firm; shareholders.
    origins : dict[int, DataFrame]
        Per wave, material origin shares per (supplier, part).
    withdrawals : DataFrame
        Every withdrawal: firm, the wave it is reported in, dates, reason.
    traps : list[dict]
        What :func:`write_survey` planted where (filled when written).
    """

    scale: str
    waves: list[int]
    firms: pd.DataFrame
    programs: pd.DataFrame
    links: dict[int, pd.DataFrame]
    status: dict[int, pd.DataFrame]
    cyber: dict[int, pd.DataFrame]
    sites: pd.DataFrame
    ownership: pd.DataFrame
    origins: dict[int, pd.DataFrame]
    withdrawals: pd.DataFrame
    random_state: int
    traps: list[dict] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# firms


def _split(words: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    parts = [w.split(":") for w in words]
    return tuple(np.array([p[i] for p in parts], dtype=object) for i in range(3))


def _corporate_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` distinct valid corporate numbers (check digit computed by the NTA rule)."""
    bases = rng.choice(10**11, size=n, replace=False) + 10**11 * rng.integers(1, 9, size=n)
    digits = (bases[:, None] // 10 ** np.arange(11, -1, -1)) % 10  # leftmost digit first
    return np.array([f"{c}{b:012d}" for c, b in zip(check_digits(digits), bases)], dtype=object)


def _make_firms(rng: np.random.Generator, n: int, n_primes: int, popularity_shape: float = 1.3) -> pd.DataFrame:
    level_share = np.array([0.08, 0.18, 0.24, 0.22, 0.16, 0.12])
    levels = np.concatenate([np.zeros(n_primes, dtype=np.int64), 1 + rng.choice(6, size=n - n_primes, p=level_share)])
    mix = CLASS_MIX[np.clip(levels - 1, 0, 5)]
    cls_idx = (rng.random(n)[:, None] > np.cumsum(mix, axis=1)).sum(axis=1)
    cls_idx = np.minimum(cls_idx, len(CLASSES) - 1)
    cls_idx[:n_primes] = 0
    cls = np.array(CLASSES, dtype=object)[cls_idx]
    country = np.full(n, "JP", dtype=object)
    for c in CLASSES:
        share, countries = FOREIGN[c]
        idx = np.flatnonzero((cls == c) & (levels > 0))
        foreign = idx[rng.random(len(idx)) < share]
        country[foreign] = rng.choice(list(countries), size=len(foreign), p=list(countries.values()))
    jp = country == "JP"

    # prefectures: industrial prefectures weigh more
    pref_weight = np.ones(47)
    for code, w in {
        13: 6,
        14: 5,
        23: 6,
        27: 5,
        22: 3,
        11: 3,
        12: 2,
        28: 3,
        34: 2,
        40: 2,
        8: 2,
        9: 2,
        10: 2,
        20: 2,
        21: 2,
        24: 2,
    }.items():
        pref_weight[code - 1] = w
    pref = np.where(jp, np.char.zfill((1 + rng.choice(47, size=n, p=pref_weight / pref_weight.sum())).astype(str), 2), None)

    places, seconds = _split(N.PLACES), _split(N.SECONDS)
    industry = {c: _split(_industry_words(c)) for c in CLASSES}
    # unique (prefecture, name) among Japanese firms: draw combination codes without collision
    n_ind = {c: len(industry[c][0]) for c in CLASSES}
    space = len(places[0]) * len(seconds[0]) * 4 * 26
    code = rng.integers(0, space, size=n)
    key = pd.Series(pref, dtype=object).fillna("").to_numpy() + ":" + cls.astype(str) + ":" + code.astype(str)
    dup = pd.Series(key).duplicated().to_numpy()
    while dup.any():
        code[dup] = rng.integers(0, space, size=dup.sum())
        key = pd.Series(pref, dtype=object).fillna("").to_numpy() + ":" + cls.astype(str) + ":" + code.astype(str)
        dup = pd.Series(key).duplicated().to_numpy()
    p_i = code % len(places[0])
    s_i = (code // len(places[0])) % len(seconds[0])
    i_raw = code // (len(places[0]) * len(seconds[0]))
    name_ja = np.empty(n, dtype=object)
    kana = np.empty(n, dtype=object)
    name_en = np.empty(n, dtype=object)
    for c in CLASSES:
        m = cls == c
        ii = i_raw[m] % n_ind[c]
        name_ja[m] = places[0][p_i[m]] + seconds[0][s_i[m]] + industry[c][0][ii]
        kana[m] = places[1][p_i[m]] + seconds[1][s_i[m]] + industry[c][1][ii]
        name_en[m] = places[2][p_i[m]] + " " + seconds[2][s_i[m]] + " " + industry[c][2][ii]
    form_before = rng.random(n) < 0.35
    name_ja = np.where(form_before, "株式会社" + name_ja, name_ja + "株式会社")
    name_en = name_en + " Co., Ltd."
    # foreign firms: English names only
    fidx = np.flatnonzero(~jp)
    syllables = np.array(N.FOREIGN_SYLLABLES, dtype=object)
    for i in fidx:
        words = N.FOREIGN_INDUSTRY[cls[i]].split()
        k = int(code[i])
        sy = [syllables[(k // len(syllables) ** j) % len(syllables)] for j in range(4)]
        nm = ("".join(sy)).capitalize() + " " + words[k % len(words)]
        name_en[i] = f"{nm} {N.FOREIGN_FORM.get(country[i], 'Ltd.')}"
        name_ja[i] = name_en[i]
        kana[i] = None
    corp = np.full(n, None, dtype=object)
    corp[jp] = _corporate_numbers(rng, int(jp.sum()))

    employees = np.maximum(5, np.round(np.exp(rng.normal(4.2, 1.4, n)))).astype(np.int64)
    employees[:n_primes] = rng.integers(8_000, 60_000, size=n_primes)
    is_sme = employees <= 300
    popularity = 1.0 + rng.pareto(popularity_shape, size=n)
    return pd.DataFrame(
        {
            "level": levels,
            "klass": cls,
            "country": country,
            "prefecture_code": pref,
            "corporate_number": corp,
            "name": name_ja,
            "name_kana": kana,
            "name_en": name_en,
            "employees": employees,
            "is_sme": is_sme,
            "popularity": popularity,
        }
    ).rename_axis("firm")


def _industry_words(c: str) -> list[str]:
    # "重工業:ジュウコウギョウ:Heavy Industries" — the English part may contain spaces
    out, cur = [], None
    for token in N.INDUSTRY[c].split(" "):
        if token.count(":") == 2:
            if cur:
                out.append(cur)
            cur = token
        else:
            cur += " " + token
    out.append(cur)
    return out


# ---------------------------------------------------------------------------------------------
# structure


def _pools(firms: pd.DataFrame) -> dict[tuple[int, str], tuple[np.ndarray, np.ndarray]]:
    pools = {}
    for (level, klass), g in firms[firms["level"] > 0].groupby(["level", "klass"]):
        pools[(int(level), klass)] = (g.index.to_numpy(), np.cumsum(g["popularity"].to_numpy()))
    return pools


def _pick(rng, pools, level: int, klass: np.ndarray) -> np.ndarray:
    out = np.full(len(klass), -1, dtype=np.int64)
    for c in np.unique(klass):
        m = klass == c
        pool = pools.get((level, c))
        if pool is None:  # no firm of that class at that level: take the nearest level that has one
            for dl in (1, -1, 2, -2, 3, -3):
                pool = pools.get((level + dl, c))
                if pool is not None:
                    break
        if pool is None:
            continue
        idx, cw = pool
        out[m] = idx[np.searchsorted(cw, rng.random(m.sum()) * cw[-1], side="right").clip(0, len(idx) - 1)]
    return out


def _build_links(rng, firms: pd.DataFrame, programs: pd.DataFrame, scale: Scale) -> pd.DataFrame:
    pools = _pools(firms)
    catalog = {c: len(N.PARTS[c]) * (3 if scale.firms < 10_000 else 40) for c in CLASSES}
    frames = []
    for prog in programs.itertuples():
        frontier = np.array([prog.prime])
        seen = {int(prog.prime)}
        for d in range(6):
            lam = scale.parts_per_buyer[d] * (prog.size if d <= 1 else 1.0)
            k = rng.poisson(lam, size=len(frontier))
            if d == 0:
                k = np.maximum(k, 6)
            buyers = np.repeat(frontier, k)
            if len(buyers) == 0:
                break
            mix = CLASS_MIX[d]
            klass_idx = (rng.random(len(buyers))[:, None] > np.cumsum(mix)).sum(axis=1).clip(0, len(CLASSES) - 1)
            klass = np.array(CLASSES, dtype=object)[klass_idx]
            part_no = (
                np.array([rng.integers(0, catalog[c]) for c in klass])
                if len(klass) < 5000
                else ((rng.random(len(klass)) * np.array([catalog[c] for c in klass])).astype(np.int64))
            )
            bp = pd.DataFrame({"buyer": buyers, "klass": klass, "part_no": part_no}).drop_duplicates(
                ["buyer", "klass", "part_no"]
            )
            n_sup = rng.choice([1, 2, 3], size=len(bp), p=[0.46, 0.36, 0.18])
            rows = []
            for j in range(3):
                sel = bp[n_sup > j]
                sup = _pick(rng, pools, d + 1, sel["klass"].to_numpy())
                rows.append(sel.assign(supplier=sup, slot=j))
            lk = pd.concat(rows, ignore_index=True)
            lk = lk[(lk["supplier"] >= 0) & (lk["supplier"] != lk["buyer"])]
            lk = lk.drop_duplicates(["buyer", "klass", "part_no", "supplier"])
            lk = lk.assign(program=prog.code, tier=d + 1)
            frames.append(lk)
            nxt = np.unique(lk["supplier"].to_numpy())
            # a firm already in the program keeps the parts it was given (no cycles, no repeats)
            frontier = np.array([s for s in nxt if int(s) not in seen], dtype=np.int64)
            seen.update(int(s) for s in frontier)
    links = pd.concat(frames, ignore_index=True)
    base = links["part_no"] % np.array([len(N.PARTS[c]) for c in links["klass"]])
    names = [N.PARTS[c][b] for c, b in zip(links["klass"], base)]
    variant = links["part_no"] // np.array([len(N.PARTS[c]) for c in links["klass"]])
    links["part"] = [nm[0] if v == 0 else f"{nm[0]} 型式{v:02d}" for nm, v in zip(names, variant)]
    links["part_type"] = [nm[1] for nm in names]
    links["hs_code"] = [nm[2] or None for nm in names]
    return links.drop(columns=["part_no", "slot"])


def _link_attributes(rng, links: pd.DataFrame, firms: pd.DataFrame) -> pd.DataFrame:
    links = links.sort_values(["program", "tier", "buyer", "part", "supplier"]).reset_index(drop=True)
    grp = links.groupby(["program", "buyer", "part"], sort=False)
    n = grp["supplier"].transform("size").to_numpy()
    raw = rng.gamma(2.0, 1.0, size=len(links))
    share = raw / pd.Series(raw).groupby([links["program"], links["buyer"], links["part"]]).transform("sum").to_numpy()
    share = np.round(share, 2)
    # make the rounded shares of each pair sum to exactly 1 (adjust the first supplier)
    total = pd.Series(share).groupby([links["program"], links["buyer"], links["part"]]).transform("sum").to_numpy()
    first = ~links.duplicated(["program", "buyer", "part"]).to_numpy()
    share = np.where(first, np.round(share + (1 - total), 2), share)
    tier = links["tier"].to_numpy()
    alt = np.where(n == 1, rng.choice([0, 0, 0, 1, 2], size=len(links)), rng.choice([0, 1, 1, 2], size=len(links)))
    subst = np.where(
        alt == 0,
        np.where(rng.random(len(links)) < 0.7, "no", "conditional"),
        np.where(rng.random(len(links)) < 0.6, "yes", "conditional"),
    )
    supplier_country = firms["country"].to_numpy()[links["supplier"].to_numpy()]
    value = np.round(np.exp(rng.normal(19.5 - 1.1 * tier, 1.0)), -3)
    links = links.assign(
        share=share,
        annual_value_jpy=value,
        lead_time_days=np.round(np.exp(rng.normal(4.0 + 0.12 * tier, 0.5))),
        inventory_days=np.where(rng.random(len(links)) < 0.15, 0.0, np.round(np.exp(rng.normal(3.2, 0.8)))),
        alternatives_qualified=alt,
        substitutability=subst,
        requalification_months=np.round(np.clip(rng.normal(8 + 3 * tier, 4), 2, 60)),
        imported=supplier_country != "JP",
    )
    return links


def _origins(rng, links: pd.DataFrame, firms: pd.DataFrame) -> pd.DataFrame:
    """Country shares of what Japanese material suppliers buy abroad; deeper → more unknown.

    Vectorised: up to three countries per (supplier, part) drawn without replacement by the
    Gumbel-top-k trick over the class's country weights, Dirichlet shares, and an ``unknown``
    share whose probability grows with the tier.
    """
    cand = links[links["klass"].isin(["materials", "rare_earth", "chemicals"])].drop_duplicates(["supplier", "part"])
    cand = cand[firms["country"].to_numpy()[cand["supplier"].to_numpy()] == "JP"]
    cand = cand[rng.random(len(cand)) <= 0.75]
    frames = []
    for klass, g in cand.groupby("klass", sort=True):
        countries = np.array(list(FOREIGN[klass][1]), dtype=object)
        logp = np.log(np.array(list(FOREIGN[klass][1].values())))
        n, m = len(g), len(countries)
        order = np.argsort(-(logp + rng.gumbel(size=(n, m))), axis=1)[:, : min(3, m)]
        k = np.minimum(rng.integers(1, 4, size=n), order.shape[1])
        w = rng.gamma(1.5, size=order.shape) * (np.arange(order.shape[1]) < k[:, None])
        w = w / w.sum(axis=1, keepdims=True)
        p_unknown = np.minimum(0.8, 0.12 * np.maximum(g["tier"].to_numpy() - 2, 0))
        unknown = np.where(rng.random(n) < p_unknown, rng.uniform(0.2, 0.6, n), 0.0)
        shares = np.round(w * (1 - unknown)[:, None], 2)
        unknown = np.round(1 - shares.sum(axis=1), 2) * (unknown > 0)
        shares[:, 0] += np.where(unknown > 0, 0.0, np.round(1 - shares.sum(axis=1), 2))
        cols = [
            pd.DataFrame(
                {
                    "supplier": g["supplier"].to_numpy(),
                    "part": g["part"].to_numpy(),
                    "origin_country": countries[order[:, j]],
                    "share": np.round(shares[:, j], 2),
                }
            )
            for j in range(order.shape[1])
        ]
        cols.append(
            pd.DataFrame(
                {
                    "supplier": g["supplier"].to_numpy(),
                    "part": g["part"].to_numpy(),
                    "origin_country": "unknown",
                    "share": unknown,
                }
            )
        )
        frames.append(pd.concat(cols, ignore_index=True))
    if not frames:
        return pd.DataFrame(columns=["supplier", "part", "origin_country", "share"])
    out = pd.concat(frames, ignore_index=True)
    out = out[out["share"] > 0]
    return out.sort_values(["supplier", "part", "origin_country"], kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# company condition over waves


def _initial_status(rng, firms: pd.DataFrame) -> pd.DataFrame:
    n = len(firms)
    sme = firms["is_sme"].to_numpy()
    share = np.exp(rng.normal(np.log(0.03), 0.9, n))
    heavy = sme & (rng.random(n) < 0.06)
    share[heavy] = rng.uniform(0.5, 0.95, heavy.sum())
    owner_age = np.clip(rng.normal(61, 10, n), 30, 88).round()
    successor = np.where(
        rng.random(n) < np.where(owner_age >= 70, 0.45, 0.3), "none", np.where(rng.random(n) < 0.5, "candidate", "decided")
    )
    return pd.DataFrame(
        {
            "defense_sales_share": np.clip(share, 0.001, 0.99),
            "defense_margin": rng.normal(0.025, 0.02, n),
            "capacity_use": np.clip(rng.beta(6, 3, n), 0.1, 1.0),
            "equipment_age_years": np.clip(rng.normal(20, 8, n), 1, 60),
            "owner_age": owner_age,
            "successor": successor,
            "order_trend": rng.choice(["increasing", "stable", "decreasing"], n, p=[0.25, 0.5, 0.25]),
            "withdrawal_intent": "none",
            "withdrawal_horizon_years": np.nan,
        },
        index=firms.index,
    )


def _withdrawal_logit(s: pd.DataFrame) -> np.ndarray:
    d = WITHDRAWAL_DRIVERS
    return (
        d["intercept"]
        + d["defense_margin < 0.01"] * (s["defense_margin"] < 0.01)
        + d["owner_age >= 70 and successor == none"] * ((s["owner_age"] >= 70) & (s["successor"] == "none"))
        + d["defense_sales_share < 0.015"] * (s["defense_sales_share"] < 0.015)
        + d["order_trend == decreasing"] * (s["order_trend"] == "decreasing")
        + d["equipment_age_years > 30"] * (s["equipment_age_years"] > 30)
        + d["capacity_use < 0.5"] * (s["capacity_use"] < 0.5)
        + d["withdrawal_intent == considering"] * (s["withdrawal_intent"] == "considering")
        + d["withdrawal_intent == decided"] * (s["withdrawal_intent"] == "decided")
    ).to_numpy(dtype=float)


def _evolve_status(rng, s: pd.DataFrame) -> pd.DataFrame:
    s = s.copy()
    n = len(s)
    s["defense_margin"] = s["defense_margin"] * 0.7 + rng.normal(0.0075, 0.015, n)
    s["defense_sales_share"] = np.clip(s["defense_sales_share"] * np.exp(rng.normal(0, 0.15, n)), 0.001, 0.99)
    s["owner_age"] = s["owner_age"] + 1
    renewed = rng.random(n) < 0.08  # some firms renew equipment
    s["equipment_age_years"] = np.maximum(0.5, s["equipment_age_years"] + 1 - renewed * rng.uniform(5, 15, n))
    s["capacity_use"] = np.clip(s["capacity_use"] + rng.normal(0, 0.08, n), 0.1, 1.0)
    trend = s["order_trend"].to_numpy()
    change = rng.random(n) < 0.3
    s["order_trend"] = np.where(change, rng.choice(["increasing", "stable", "decreasing"], n, p=[0.25, 0.5, 0.25]), trend)
    found = (s["successor"] != "decided") & (rng.random(n) < 0.12)
    s.loc[found, "successor"] = np.where(s.loc[found, "successor"] == "none", "candidate", "decided")
    return s


def _update_intent(rng, s: pd.DataFrame) -> pd.DataFrame:
    """Declared intent follows the same drivers (without intent itself): 3–8 % considering."""
    s = s.copy()
    drivers = _withdrawal_logit(s.assign(withdrawal_intent="none")) - WITHDRAWAL_DRIVERS["intercept"]
    p_consider = 1 / (1 + np.exp(-(-4.9 + 1.0 * drivers)))
    intent = s["withdrawal_intent"].to_numpy().copy()
    r = rng.random(len(s))
    intent = np.where((intent == "none") & (r < p_consider), "considering", intent)
    intent = np.where((intent == "considering") & (r > 0.7), "decided", intent)
    s["withdrawal_intent"] = intent
    horizon = np.where(
        intent == "decided", rng.integers(1, 3, len(s)), np.where(intent == "considering", rng.integers(2, 6, len(s)), np.nan)
    )
    s["withdrawal_horizon_years"] = horizon.astype(float)
    return s


def _cyber(rng, firms: pd.DataFrame, wave_index: int) -> pd.DataFrame:
    n = len(firms)
    size = np.log10(firms["employees"].to_numpy() + 1)
    p = np.clip(0.15 + 0.18 * size + 0.05 * wave_index, 0.05, 0.97)
    measures = {
        m: rng.random(n) < p
        for m in ("mfa", "monitoring", "vulnerability_scanning", "incident_drills", "physical_access_control")
    }
    met = sum(m.astype(int) for m in measures.values())
    score = np.clip(np.round(met * 20 + rng.normal(0, 6, n)), 0, 100)
    return pd.DataFrame(
        {
            "framework": "防衛産業サイバーセキュリティ基準",
            "score": score,
            "max_score": 100.0,
            **measures,
            "incidents_12m": rng.poisson(np.where(met <= 2, 0.6, 0.15)),
            "handles_protected_info": (firms["level"].to_numpy() <= 2) | (rng.random(n) < 0.2),
        },
        index=firms.index,
    )


def _sites(rng, firms: pd.DataFrame) -> pd.DataFrame:
    from importlib import resources

    text = resources.files("supplychain.reference").joinpath("prefectures.csv").read_text("utf-8")
    prefs = pd.read_csv(io.StringIO(text), dtype=str)
    zone = dict(zip(prefs["code"], prefs["nankai_zone"] == "true"))
    pref = firms["prefecture_code"]
    base = np.array([0.65 if zone.get(p, False) else 0.25 if isinstance(p, str) else 0.1 for p in pref])
    hazard = np.clip(np.round(base + rng.normal(0, 0.12, len(firms)), 2), 0.01, 0.99)
    return pd.DataFrame(
        {
            "country": firms["country"],
            "prefecture_code": pref,
            "hazard_p30_strong": np.where(firms["country"] == "JP", hazard, np.nan),
            "nankai_zone": [zone.get(p) if isinstance(p, str) else None for p in pref],
            "lat": np.where(firms["country"] == "JP", np.round(rng.uniform(31, 43, len(firms)), 4), np.nan),
            "lon": np.where(firms["country"] == "JP", np.round(rng.uniform(130, 145, len(firms)), 4), np.nan),
        },
        index=firms.index,
    )


def _ownership(rng, firms: pd.DataFrame) -> pd.DataFrame:
    jp = np.flatnonzero((firms["country"] == "JP").to_numpy() & (firms["level"] > 0).to_numpy())
    rows = []
    foreign = jp[rng.random(len(jp)) < 0.05]
    for f in foreign:
        c = rng.choice(["CN", "US", "HK", "SG", "KR", "DE"], p=[0.3, 0.3, 0.1, 0.1, 0.1, 0.1])
        rows.append(
            (
                f,
                f"{N.FOREIGN_FIRST[int(rng.integers(len(N.FOREIGN_FIRST)))]} Capital Holdings",
                c,
                None,
                float(np.round(rng.uniform(0.1, 1.0), 2)),
            )
        )
    domestic = jp[rng.random(len(jp)) < 0.08]
    for f in domestic:
        owner = int(rng.integers(len(firms)))
        if firms["country"].iat[owner] == "JP" and owner != f:
            rows.append(
                (
                    f,
                    firms["name"].iat[owner],
                    "JP",
                    firms["corporate_number"].iat[owner],
                    float(np.round(rng.uniform(0.2, 1.0), 2)),
                )
            )
    return pd.DataFrame(rows, columns=["firm", "owner_name", "owner_country", "owner_corporate_number", "share"])


# ---------------------------------------------------------------------------------------------


def make_survey(
    scale: str = "sample", *, waves: int | None = None, random_state: int = 0, first_wave: int = 2022
) -> SyntheticSurvey:
    """Generate a synthetic supplier base and its survey waves.

    Parameters
    ----------
    scale : {"sample", "panel", "national", "economy"}
        Size of the base (see :data:`SCALES`).
    waves : int, optional
        Number of waves (default: the scale's, 4 for ``sample``).
    random_state : int
        Seed; the same seed gives the same data.
    first_wave : int
        Fiscal year of the first wave.

    Returns
    -------
    SyntheticSurvey

    Examples
    --------
    >>> s = make_survey("sample", waves=2, random_state=1)
    >>> s.waves
    [2022, 2023]
    >>> bool((s.links[2022].groupby(["program", "buyer", "part"]).size() == 1).mean() > 0.4)
    True
    """
    if scale not in SCALES:
        raise SupplyChainError(f"scale must be one of {sorted(SCALES)}, got {scale!r}")
    sc = SCALES[scale]
    n_waves = sc.waves if waves is None else int(waves)
    if n_waves < 1:
        raise SupplyChainError(f"waves must be at least 1, got {waves}")
    rng = np.random.default_rng(random_state)
    kinds = [PROGRAM_KINDS[i % len(PROGRAM_KINDS)] for i in range(sc.programs)]
    firms = _make_firms(rng, sc.firms, sc.programs, sc.popularity_shape)
    programs = pd.DataFrame(
        {
            "code": [k[0] if i < len(PROGRAM_KINDS) else f"{k[0]}-{i // len(PROGRAM_KINDS)}" for i, k in enumerate(kinds)],
            "name": [k[1] if i < len(PROGRAM_KINDS) else f"{k[1]}（{i // len(PROGRAM_KINDS)}）" for i, k in enumerate(kinds)],
            "category": [k[2] for k in kinds],
            "size": [k[3] for k in kinds],
            "prime": np.arange(sc.programs),
            "annual_value_jpy": np.round(np.exp(rng.normal(np.log(8e10), 0.6, sc.programs)), -6),
            "compartment": ["A" if k[2] in ("fighter", "missile", "radar") else "B" for k in kinds],
        }
    )
    places = [N.PLACES[i % len(N.PLACES)].split(":") for i in range(sc.programs)]
    firms.loc[: sc.programs - 1, "name"] = [f"{p[0]}重工業株式会社" for p in places]
    firms.loc[: sc.programs - 1, "name_kana"] = [f"{p[1]}ジュウコウギョウ" for p in places]
    firms.loc[: sc.programs - 1, "name_en"] = [f"{p[2]} Heavy Industries, Ltd." for p in places]
    log.info("generating %s: %d firms, %d programs", scale, sc.firms, sc.programs)
    links = _link_attributes(rng, _build_links(rng, firms, programs, sc), firms)
    status = _initial_status(rng, firms)
    prev_status = status
    wave_ids = [first_wave + i for i in range(n_waves)]
    out_links, out_status, out_cyber, out_origins = {}, {}, {}, {}
    withdrawals = []
    active = np.ones(len(firms), dtype=bool)
    origins = _origins(rng, links, firms)
    for wi, w in enumerate(wave_ids):
        if wi > 0:
            status = _evolve_status(rng, status)
            # who withdraws between the previous wave and this one, from last wave's answers
            p = 1 / (1 + np.exp(-_withdrawal_logit(prev_status)))
            eligible = active & (firms["level"].to_numpy() > 0) & firms.index.isin(links["supplier"].unique())
            leaving = np.flatnonzero(eligible & (rng.random(len(firms)) < p))
            for f in leaving:
                withdrawals.append(
                    {
                        "firm": f,
                        "wave": w,
                        "announced_on": f"{w - 1}-{int(rng.integers(7, 13)):02d}-{int(rng.integers(1, 29)):02d}",
                        "effective_on": f"{w}-03-31",
                        "reason": rng.choice(["採算悪化", "後継者不在", "設備老朽化", "事業再編", "受注減少"]),
                    }
                )
            active[leaving] = False
            links = _replace_withdrawn(rng, links, firms, leaving)
        status = _update_intent(rng, status)
        prev_status = status
        in_base = firms.index.isin(pd.unique(links[["buyer", "supplier"]].to_numpy().ravel()))
        out_links[w] = links.copy()
        out_status[w] = status[in_base & active].copy()
        out_cyber[w] = _cyber(rng, firms[in_base & active], wi)
        out_origins[w] = origins[origins["supplier"].isin(links["supplier"])].copy()
        links = _jitter(rng, links)
    firms = firms.assign(active_at_end=active)
    return SyntheticSurvey(
        scale=scale,
        waves=wave_ids,
        firms=firms,
        programs=programs,
        links=out_links,
        status=out_status,
        cyber=out_cyber,
        sites=_sites(rng, firms),
        ownership=_ownership(rng, firms),
        origins=out_origins,
        withdrawals=pd.DataFrame(withdrawals, columns=["firm", "wave", "announced_on", "effective_on", "reason"]),
        random_state=random_state,
    )


def _replace_withdrawn(rng, links: pd.DataFrame, firms: pd.DataFrame, leaving: np.ndarray) -> pd.DataFrame:
    """A withdrawn firm's links go: shared parts fall to the other suppliers; single-sourced
    parts get a newly qualified supplier of the same class and tier; what it bought goes too."""
    if len(leaving) == 0:
        return links
    gone = links["supplier"].isin(leaving)
    key = ["program", "buyer", "part"]
    others = links[~gone].groupby(key).size()
    lost = links[gone]
    has_other = lost.set_index(key).index.isin(others.index)
    orphan = lost[~has_other].copy()
    if len(orphan):
        pools = _pools(firms[~firms.index.isin(leaving)])
        new = np.array([_pick(rng, pools, int(t), np.array([k]))[0] for t, k in zip(orphan["tier"], orphan["klass"])])
        orphan["supplier"] = new
        orphan["alternatives_qualified"] = 0
        orphan = orphan[(orphan["supplier"] >= 0) & (orphan["supplier"] != orphan["buyer"])]
    kept = links[~gone & ~links["buyer"].isin(leaving)]
    out = pd.concat([kept, orphan], ignore_index=True)
    out = out.drop_duplicates(["program", "buyer", "part", "supplier"])
    total = out.groupby(key)["share"].transform("sum")
    out["share"] = np.round(out["share"] / total, 2)
    tot2 = out.groupby(key)["share"].transform("sum")
    first = ~out.duplicated(key)
    out.loc[first, "share"] = np.round(out.loc[first, "share"] + 1 - tot2[first], 2)
    return _prune_unreachable(out.sort_values(["program", "tier", "buyer", "part", "supplier"]).reset_index(drop=True), firms)


def _prune_unreachable(links: pd.DataFrame, firms: pd.DataFrame) -> pd.DataFrame:
    """Drop links no longer reachable from their program's prime (a withdrawn firm's own suppliers
    stop appearing in that program's survey)."""
    keep = np.zeros(len(links), dtype=bool)
    for _program, g in links.groupby("program", sort=False):
        reach = set(g.loc[g["tier"] == 1, "buyer"])
        for t in sorted(g["tier"].unique()):
            m = (g["tier"] == t) & g["buyer"].isin(reach)
            keep[g.index[m.to_numpy()]] = True
            reach |= set(g.loc[m, "supplier"])
    return links[keep].reset_index(drop=True)


def _jitter(rng, links: pd.DataFrame) -> pd.DataFrame:
    links = links.copy()
    n = len(links)
    links["annual_value_jpy"] = np.round(links["annual_value_jpy"] * np.exp(rng.normal(0, 0.1, n)), -3)
    links["inventory_days"] = np.maximum(0, np.round(links["inventory_days"] + rng.normal(0, 3, n)))
    return links


# ---------------------------------------------------------------------------------------------
# survey returns

_FULLWIDTH = {i: i + 0xFEE0 for i in range(0x21, 0x7F)}
_FULLWIDTH[0x20] = 0x3000


def _fullwidth(text: str) -> str:
    return text.translate(_FULLWIDTH)


def _respondents(survey: SyntheticSurvey, rng) -> tuple[dict[int, str], set[int]]:
    """Primes and a few big tier-1 suppliers per program answer directly; a stable choice."""
    sc = SCALES[survey.scale]
    first = survey.links[survey.waves[0]]
    direct: set[int] = set(int(p) for p in survey.programs["prime"])
    for code in survey.programs["code"]:
        t1 = first[(first["program"] == code) & (first["tier"] == 1)]
        reach = first[first["program"] == code].groupby("buyer").size()
        cand = t1["supplier"].drop_duplicates()
        cand = cand[(survey.firms["country"].to_numpy()[cand.to_numpy()] == "JP")]
        ranked = sorted(cand, key=lambda f: (-reach.get(f, 0), f))
        direct.update(int(f) for f in ranked[: sc.responders_per_program])
    names = {}
    primes = dict(zip(survey.programs["prime"], survey.programs["code"]))
    for f in sorted(direct):
        names[f] = f"{primes[f]}-prime" if f in primes else f"supplier-{f:06d}"
    return names, direct


def _owners(links: pd.DataFrame, direct: set[int]) -> np.ndarray:
    """The respondent that reports each link: the buyer itself if it answers, else whoever
    reported the link into the buyer (first by tier, then order)."""
    owner_of: dict[tuple[str, int], int] = {}
    out = np.empty(len(links), dtype=np.int64)
    order = np.lexsort((links["buyer"].to_numpy(), links["tier"].to_numpy()))
    prog = links["program"].to_numpy()
    buyer = links["buyer"].to_numpy()
    supplier = links["supplier"].to_numpy()
    for i in order:
        b = int(buyer[i])
        o = b if b in direct else owner_of.get((prog[i], b), b)
        out[i] = o
        s = int(supplier[i])
        if (prog[i], s) not in owner_of:
            owner_of[(prog[i], s)] = o
    return out


def _fmt_bool(x):
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return None
    return "yes" if x else "no"


def _ref_table(firm_ids) -> dict[int, str]:
    return {int(f): f"S{i + 1:04d}" for i, f in enumerate(sorted(set(int(x) for x in firm_ids)))}


def _workbooks_for_wave(
    survey: SyntheticSurvey, wi: int, names: dict[int, str], direct: set[int], rng
) -> dict[str, dict[str, pd.DataFrame]]:
    w = survey.waves[wi]
    firms = survey.firms
    links = survey.links[w]
    owners = _owners(links, direct)
    links = links.assign(owner=owners)
    status, cyber, origins = survey.status[w], survey.cyber[w], survey.origins[w]
    prev_links = survey.links[survey.waves[wi - 1]] if wi > 0 else None
    prev_owner = _owners(prev_links, direct) if prev_links is not None else None
    withdrawals = survey.withdrawals[survey.withdrawals["wave"] == w]
    books: dict[str, dict[str, pd.DataFrame]] = {}
    by_owner = {int(o): g for o, g in links.groupby("owner", sort=True)}  # one pass, not a scan per owner
    status_owner: dict[int, int] = {}
    for o, g in by_owner.items():
        for f in sorted(set(g["supplier"]) | {o}):
            status_owner.setdefault(int(f), o)
    primes = set(survey.programs["prime"])
    for o, lk in by_owner.items():
        progs = survey.programs[survey.programs["code"].isin(lk["program"])]
        wd = pd.DataFrame(columns=withdrawals.columns)
        if prev_links is not None and len(withdrawals):
            reported_by = {}
            for f in withdrawals["firm"]:
                m = prev_links["supplier"].to_numpy() == f
                if m.any():
                    reported_by[int(f)] = int(prev_owner[m].min())
            wd = withdrawals[[reported_by.get(int(f)) == o for f in withdrawals["firm"]]]
        members = set(lk["buyer"]) | set(lk["supplier"]) | set(progs["prime"]) | {o} | set(wd["firm"])
        refs = _ref_table(members)
        ids = sorted(refs, key=lambda f: refs[f])
        fr = firms.loc[ids]
        companies = pd.DataFrame(
            {
                "company_ref": [refs[f] for f in ids],
                "corporate_number": fr["corporate_number"].to_numpy(),
                "name": fr["name"].to_numpy(),
                "name_kana": fr["name_kana"].to_numpy(),
                "name_en": fr["name_en"].to_numpy(),
                "country": fr["country"].to_numpy(),
                "prefecture_code": fr["prefecture_code"].to_numpy(),
                "employees": fr["employees"].to_numpy(),
                "is_sme": [_fmt_bool(x) for x in fr["is_sme"]],
                "parent_ref": None,
                "is_prime": [_fmt_bool(f in primes) for f in ids],
            }
        )
        programs = pd.DataFrame(
            {
                "program": progs["code"].to_numpy(),
                "name": progs["name"].to_numpy(),
                "category": progs["category"].to_numpy(),
                "prime_ref": [refs[int(p)] for p in progs["prime"]],
                "annual_value_jpy": np.where(progs["prime"].to_numpy() == o, progs["annual_value_jpy"].to_numpy(), np.nan),
                "compartment": progs["compartment"].to_numpy(),
            }
        )
        site_ref = {f: f"P{refs[f][1:]}" for f in ids}
        supply = pd.DataFrame(
            {
                "program": lk["program"].to_numpy(),
                "buyer_ref": [refs[int(b)] for b in lk["buyer"]],
                "supplier_ref": [refs[int(s)] for s in lk["supplier"]],
                "part": lk["part"].to_numpy(),
                "part_type": lk["part_type"].to_numpy(),
                "hs_code": lk["hs_code"].to_numpy(),
                "share": lk["share"].to_numpy(),
                "annual_value_jpy": lk["annual_value_jpy"].to_numpy(),
                "lead_time_days": lk["lead_time_days"].to_numpy(),
                "inventory_days": lk["inventory_days"].to_numpy(),
                "alternatives_qualified": lk["alternatives_qualified"].to_numpy(),
                "substitutability": lk["substitutability"].to_numpy(),
                "requalification_months": lk["requalification_months"].to_numpy(),
                "imported": [_fmt_bool(x) for x in lk["imported"]],
                "reported_tier": lk["tier"].to_numpy(),
                "site_ref": [site_ref[int(s)] for s in lk["supplier"]],
            }
        )
        own = [f for f in ids if status_owner.get(f) == o]
        st = status.loc[status.index.intersection(own)]
        cy = cyber.loc[cyber.index.intersection(own)]
        si = survey.sites.loc[ids]
        sites = pd.DataFrame(
            {
                "site_ref": [site_ref[f] for f in ids],
                "company_ref": [refs[f] for f in ids],
                "country": si["country"].to_numpy(),
                "prefecture_code": si["prefecture_code"].to_numpy(),
                "city_code": None,
                "lat": si["lat"].to_numpy(),
                "lon": si["lon"].to_numpy(),
                "hazard_p30_strong": si["hazard_p30_strong"].to_numpy(),
                "nankai_zone": [_fmt_bool(x) for x in si["nankai_zone"]],
            }
        )
        og = origins[origins["supplier"].isin(own)]
        ow = survey.ownership[survey.ownership["firm"].isin(own)]
        books[names.get(o, f"supplier-{o:06d}")] = {
            "respondent": pd.DataFrame(
                [
                    {
                        "wave": w,
                        "respondent_corporate_number": firms.at[o, "corporate_number"],
                        "respondent_name": firms.at[o, "name"],
                        "submitted_on": f"{w}-{int(rng.integers(6, 10)):02d}-{int(rng.integers(1, 29)):02d}",
                    }
                ]
            ),
            "companies": companies,
            "sites": sites,
            "programs": programs,
            "supply": supply,
            "material_origin": pd.DataFrame(
                {
                    "supplier_ref": [refs[int(f)] for f in og["supplier"]],
                    "part": og["part"].to_numpy(),
                    "origin_country": og["origin_country"].to_numpy(),
                    "share": og["share"].to_numpy(),
                }
            ),
            "status": pd.DataFrame(
                {
                    "company_ref": [refs[int(f)] for f in st.index],
                    **{
                        c: st[c].to_numpy()
                        for c in (
                            "defense_sales_share",
                            "defense_margin",
                            "order_trend",
                            "capacity_use",
                            "equipment_age_years",
                            "owner_age",
                            "successor",
                            "withdrawal_intent",
                            "withdrawal_horizon_years",
                        )
                    },
                }
            ).round({"defense_sales_share": 4, "defense_margin": 4, "capacity_use": 2, "equipment_age_years": 1}),
            "cyber": pd.DataFrame(
                {
                    "company_ref": [refs[int(f)] for f in cy.index],
                    **{c: (cy[c].map(_fmt_bool).to_numpy() if cy[c].dtype == bool else cy[c].to_numpy()) for c in cy.columns},
                }
            ),
            "ownership": pd.DataFrame(
                {
                    "company_ref": [refs[int(f)] for f in ow["firm"]],
                    "owner_name": ow["owner_name"].to_numpy(),
                    "owner_country": ow["owner_country"].to_numpy(),
                    "owner_corporate_number": ow["owner_corporate_number"].to_numpy(),
                    "share": ow["share"].to_numpy(),
                }
            ),
            "withdrawal_events": pd.DataFrame(
                {
                    "company_ref": [refs[int(f)] for f in wd["firm"]],
                    "program": None,
                    "part": None,
                    "announced_on": wd["announced_on"].to_numpy(),
                    "effective_on": wd["effective_on"].to_numpy(),
                    "reason": wd["reason"].to_numpy(),
                    "successor_ref": None,
                }
            ),
        }
    return books


def _plant_traps(survey: SyntheticSurvey, wi: int, books: dict[str, dict[str, pd.DataFrame]], rng) -> list[dict]:
    """Make the returns look like real ones: the mistakes and variants respondents make."""
    w = survey.waves[wi]
    traps = []
    keys = sorted(books)
    suppliers_only = [k for k in keys if not k.endswith("-prime")] or keys

    def note(book, sheet, kind, **detail):
        traps.append({"wave": w, "book": book, "sheet": sheet, "kind": kind, **detail})

    # 1. a bad check digit (the number is dropped, the firm still resolves by name)
    b = books[suppliers_only[0]]["companies"]
    jp = b.index[b["corporate_number"].notna() & (b.index > 0)]
    if len(jp):
        i = jp[int(rng.integers(len(jp)))]
        cn = b.at[i, "corporate_number"]
        b.at[i, "corporate_number"] = str((int(cn[0]) + 1) % 10) + cn[1:]
        note(suppliers_only[0], "companies", "bad_check_digit", company_ref=b.at[i, "company_ref"], name=b.at[i, "name"])
    # 2. one firm under several spellings, without its number, in every other return
    for k_i, k in enumerate(keys[1:5], start=1):
        b = books[k]["companies"]
        jp = b.index[b["corporate_number"].notna() & b["name"].str.contains("株式会社")]
        if not len(jp):
            continue
        i = jp[int(rng.integers(len(jp)))]
        core = b.at[i, "name"].replace("株式会社", "")
        variant = [f"{core}㈱", f"(株) {core}", f"{core}（株）", f"株式会社　{core}"][k_i % 4]
        if any(ch.isascii() and ch.isalpha() for ch in core):
            variant = _fullwidth(variant)
        b.at[i, "name"] = variant
        b.at[i, "corporate_number"] = None
        note(k, "companies", "name_variant", company_ref=b.at[i, "company_ref"], name=variant)
    # 3. missing values in optional supply columns
    for k in keys:
        s = books[k]["supply"]
        for col in ("lead_time_days", "inventory_days", "annual_value_jpy", "hs_code", "requalification_months"):
            s.loc[rng.random(len(s)) < 0.05, col] = None
    # 4. reported tiers that disagree with the structure
    changed = 0
    for k in keys:
        s = books[k]["supply"]
        m = rng.random(len(s)) < 0.03
        s.loc[m, "reported_tier"] = s.loc[m, "reported_tier"] + rng.choice([-1, 1], size=int(m.sum()))
        s.loc[s["reported_tier"] < 1, "reported_tier"] = 2
        changed += int(m.sum())
    note("(all)", "supply", "tier_disagreement", rows=changed)
    # 5. a share written as a percentage number (refused), one as "45%" (accepted)
    s = books[keys[0]]["supply"]
    multi = s.index[s.duplicated(["program", "buyer_ref", "part"], keep=False)]
    if len(multi) >= 2:
        s["share"] = s["share"].astype(object)
        s.at[multi[0], "share"] = str(int(round(float(s.at[multi[0], "share"]) * 100)))
        s.at[multi[1], "share"] = f"{int(round(float(s.at[multi[1], 'share']) * 100))}%"
        note(keys[0], "supply", "share_as_percent_number", row=int(multi[0]) + 2)
    # 6. a supplier that is not in the companies sheet (refused)
    s = books[suppliers_only[-1]]["supply"]
    if len(s):
        i = s.index[int(rng.integers(len(s)))]
        s.at[i, "supplier_ref"] = "S9999"
        note(suppliers_only[-1], "supply", "unknown_supplier_ref", row=int(i) + 2)
    # 7. a value outside the allowed list (dropped)
    s = books[suppliers_only[-1]]["supply"]
    if len(s) > 3:
        s["substitutability"] = s["substitutability"].astype(object)
        s.at[s.index[3], "substitutability"] = "たぶん"
        note(suppliers_only[-1], "supply", "bad_enum", row=int(s.index[3]) + 2)
    # 8. a near-duplicate spelling in the same prefecture, no number: goes to the review queue
    if len(keys) > 2:
        b = books[keys[2]]["companies"]
        cand = b.index[b["corporate_number"].notna() & b["name"].str.endswith("精機株式会社")]
        if len(cand):
            i = cand[0]
            b.at[i, "name"] = b.at[i, "name"].replace("精機株式会社", "精器株式会社")
            b.at[i, "corporate_number"] = None
            note(keys[2], "companies", "near_duplicate_name", company_ref=b.at[i, "company_ref"], name=b.at[i, "name"])
    # 9. a date in Japanese style
    books[keys[-1]]["respondent"]["submitted_on"] = books[keys[-1]]["respondent"]["submitted_on"].str.replace("-", "/")
    return traps


def _to_japanese_headers(book: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    from .survey.schema import sheets

    out = {}
    for name, df in book.items():
        sheet = sheets()[name]
        out[sheet.aliases_ja[0]] = df.rename(
            columns={c.name: (c.aliases_ja[0] if c.aliases_ja else c.name) for c in sheet.columns}
        )
    return out


def _cell(v):
    if v is None:
        return None
    if isinstance(v, (np.floating, float)):
        return None if np.isnan(v) else (int(v) if float(v).is_integer() and abs(v) < 1e15 else float(v))
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def _write_xlsx(path: Path, book: dict[str, pd.DataFrame]) -> None:
    """Write a workbook byte-for-byte reproducibly (fixed timestamps inside the zip). Text is
    always text: openpyxl would store a string starting with ``=`` (a name read from a database,
    say) as a formula; such cells are written as strings."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    wb = Workbook(write_only=True)
    for name, df in book.items():
        ws = wb.create_sheet(name)
        ws.append(list(df.columns))
        for row in df.itertuples(index=False):
            cells = []
            for v in map(_cell, row):
                if isinstance(v, str) and v.startswith("="):
                    v = WriteOnlyCell(ws, value=v)
                    v.data_type = "s"
                cells.append(v)
            ws.append(cells)
    buf = io.BytesIO()
    wb.save(buf)
    _reproducible_zip(buf.getvalue(), path)


def _reproducible_zip(data: bytes, path: Path) -> None:
    import re

    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = re.sub(rb"(<dcterms:(created|modified)[^>]*>)[^<]*", rb"\g<1>2020-01-01T00:00:00Z", content)
            zi = zipfile.ZipInfo(info.filename, date_time=(2020, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(zi, content)
    path.write_bytes(out.getvalue())


def _write_csv_folder(path: Path, book: dict[str, pd.DataFrame], encoding: str = "utf-8") -> None:
    path.mkdir(parents=True, exist_ok=True)
    for name, df in book.items():
        df.to_csv(path / f"{name}.csv", index=False, encoding=encoding, lineterminator="\n")


def write_survey(
    out,
    *,
    scale: str = "sample",
    waves: int | None = None,
    random_state: int = 0,
    survey: SyntheticSurvey | None = None,
    progress: bool = False,
    overwrite: bool = False,
) -> list[Path]:
    """Write synthetic survey returns under ``out/<wave>/``, one per respondent and wave.

    ``out`` must be empty or absent, unless ``overwrite=True``, which first removes the wave
    folders and README this function writes (so no stale return from another run is left).

    ``sample`` writes ``.xlsx`` workbooks (one return per wave as a Shift_JIS CSV folder, and a
    corrected resubmission in the last wave); ``national`` and ``economy`` write CSV folders.
    Returns the paths written. The same arguments give byte-identical files.
    """
    survey = survey or make_survey(scale, waves=waves, random_state=random_state)
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise SupplyChainError(f"{out} is not empty; choose an empty folder or pass overwrite=True (--force)")
        import shutil

        for w in survey.waves:
            shutil.rmtree(out / str(w), ignore_errors=True)
        (out / "README.md").unlink(missing_ok=True)
    rng = np.random.default_rng(random_state + 7919)
    names, direct = _respondents(survey, rng)
    fmt = SCALES[survey.scale].format
    written: list[Path] = []
    iterator = range(len(survey.waves))
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, desc="waves", unit="wave")
    traps_all = []
    for wi in iterator:
        w = survey.waves[wi]
        books = _workbooks_for_wave(survey, wi, names, direct, rng)
        if survey.scale == "sample":
            traps_all += _plant_traps(survey, wi, books, rng)
        folder = out / str(w)
        folder.mkdir(parents=True, exist_ok=True)
        keys = sorted(books)
        for bi, key in enumerate(keys):
            book = books[key]
            if survey.scale == "sample" and bi % 2 == 1:
                book = _to_japanese_headers(book)
            if fmt == "xlsx" and not (survey.scale == "sample" and bi == len(keys) - 1):
                path = folder / f"{key}.xlsx"
                _write_xlsx(path, book)
            else:
                path = folder / key
                _write_csv_folder(path, book, encoding="cp932" if survey.scale == "sample" else "utf-8")
            written.append(path)
        if survey.scale == "sample" and wi == len(survey.waves) - 1:
            # a corrected resubmission: the first file had a wrong share, the second fixes it
            key = keys[0]
            wrong = {k: v.copy() for k, v in books[key].items()}
            wrong["supply"].loc[wrong["supply"].index[0], "share"] = 1.5
            path = folder / f"{key}.xlsx"
            _write_xlsx(path, wrong)
            fixed = folder / f"{key}_corrected.xlsx"
            _write_xlsx(fixed, books[key])
            written.append(fixed)
            traps_all.append({"wave": w, "book": key, "sheet": "supply", "kind": "corrected_resubmission"})
    survey.traps = traps_all
    (out / "README.md").write_text(_sample_readme(survey), "utf-8")
    return written


def _sample_readme(survey: SyntheticSurvey) -> str:
    sc = SCALES[survey.scale]
    lines = [
        f"# Synthetic survey returns ({survey.scale})",
        "",
        "Generated by `supplychain sample --scale "
        f"{survey.scale} --seed {survey.random_state}` (`supplychain.datasets.write_survey`). All companies are fictional.",
        "Regenerate rather than edit: a test checks that these files are exactly what the generator writes.",
        "",
        f"- waves: {', '.join(map(str, survey.waves))}; programs: {', '.join(survey.programs['code'])}",
        f"- firms in the universe: {len(survey.firms):,}; links per wave: "
        + ", ".join(f"{w}: {len(survey.links[w]):,}" for w in survey.waves),
        f"- withdrawals planted: {len(survey.withdrawals)} ("
        + ", ".join(f"{w}: {int((survey.withdrawals['wave'] == w).sum())}" for w in survey.waves)
        + ")",
        f"- format: {sc.format}"
        + (
            "; odd-numbered returns use Japanese headers; the last return of each wave is a"
            " Shift_JIS CSV folder; the last wave has a corrected resubmission"
            if survey.scale == "sample"
            else ""
        ),
        "",
        "Traps planted (kind, wave, return):",
        "",
    ]
    for t in survey.traps:
        extra = ", ".join(f"{k}={v}" for k, v in t.items() if k not in ("kind", "wave", "book", "sheet"))
        lines.append(f"- `{t['kind']}` — {t['wave']} `{t['book']}` sheet `{t['sheet']}`" + (f" ({extra})" if extra else ""))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Stable Manufacturing Plans


def make_plans(con, *, wave: int, n_plans: int = 20, random_state: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Synthetic Stable Manufacturing Plans for the companies of a loaded wave, in the columns
    of the plans workbook (:mod:`supplychain.plan`): each plan is a buyer with a single- or
    sole-sourced part (primes and tier-1 makers first), and its measures act on such parts — a
    second qualified supplier (60 %) or a stockpile of 30–180 days — with now and then a cyber
    measure or a succession of an ageing supplier. Amounts are the sum of the measures' costs."""
    from .db import run
    from .risk.sourcing import sourcing

    rng = np.random.default_rng(random_state)
    src = sourcing(con, wave=wave)
    single = src[src["classification"].isin(["sole", "single"])]
    if single.empty:
        raise SupplyChainError(f"wave {wave} has no single- or sole-sourced part to plan against")
    tier = dict(run(con, "SELECT coalesce(c.corporate_number, c.company_id), c.is_prime FROM company c").fetchall())
    buyers = single.groupby(["program", "buyer"], sort=True).size().reset_index(name="n")
    buyers["prime"] = buyers["buyer"].map(tier).fillna(False).astype(bool)
    weight = np.where(buyers["prime"], 5.0, 1.0) * np.sqrt(buyers["n"].to_numpy(float))
    chosen = rng.choice(len(buyers), size=min(n_plans, len(buyers)), replace=False, p=weight / weight.sum())
    old_owners = [
        c
        for (c,) in run(
            con,
            """SELECT coalesce(c.corporate_number, c.company_id) FROM company_status s JOIN company c USING (company_id)
               WHERE s.wave = ? AND s.owner_age >= 70 AND s.successor = 'none' ORDER BY 1""",
            [wave],
        ).fetchall()
    ]
    plans, measures = [], []
    for k, i in enumerate(sorted(chosen.tolist())):
        b = buyers.iloc[i]
        plan_id = f"SMP-{wave}-{k + 1:03d}"
        parts = single[(single["program"] == b["program"]) & (single["buyer"] == b["buyer"])]
        picked = parts.sample(n=min(len(parts), int(rng.integers(1, 4))), random_state=int(rng.integers(1 << 31)))
        total = 0.0
        for j, part in enumerate(picked.itertuples(), start=1):
            if rng.random() < 0.6:
                cost = float(np.round(rng.uniform(50e6, 300e6), -6))
                measures.append(
                    [
                        plan_id,
                        f"M{j}",
                        "supply_chain_resilience",
                        "add_supplier",
                        part.part,
                        "",
                        "",
                        cost,
                        "second qualified source",
                    ]
                )
            else:
                days = int(rng.choice([30, 60, 90, 120, 180]))
                cost = float(np.round(rng.uniform(10e6, 120e6) * days / 90, -6))
                measures.append(
                    [plan_id, f"M{j}", "supply_chain_resilience", "stockpile", part.part, "", days, cost, f"{days}-day stockpile"]
                )
            total += cost
        extra = len(picked) + 1
        if rng.random() < 0.2:
            cost = float(np.round(rng.uniform(5e6, 30e6), -6))
            measures.append([plan_id, f"M{extra}", "cybersecurity", "cyber_controls", "", "", "", cost, "five cyber measures"])
            total += cost
            extra += 1
        suppliers = [s for s in "; ".join(picked["suppliers"]).split("; ") if s in set(old_owners)]
        if suppliers and rng.random() < 0.5:
            cost = float(np.round(rng.uniform(20e6, 100e6), -6))
            measures.append(
                [
                    plan_id,
                    f"M{extra}",
                    "business_succession",
                    "succession",
                    "",
                    suppliers[0],
                    "",
                    cost,
                    "takes over an ageing supplier",
                ]
            )
            total += cost
        kinds = [
            m[2] for m in measures if m[0] == plan_id
        ]  # the commonest; ties to the first (not set order: that varies by run)
        plans.append([plan_id, b["buyer"], b["program"], max(kinds, key=kinds.count), total])
    return (
        pd.DataFrame(plans, columns=["plan_id", "company", "program", "measure_type", "amount_jpy"]),
        pd.DataFrame(
            measures,
            columns=["plan_id", "measure_id", "measure_type", "action", "part", "supplier", "days", "cost_jpy", "description"],
        ),
    )


def write_plans(path, plans: pd.DataFrame, measures: pd.DataFrame) -> Path:
    """Write a plans workbook: ``.xlsx`` (sheets ``plans`` and ``measures``) or, for any other
    path, a folder of ``plans.csv`` and ``measures.csv``."""
    path = Path(path)
    if path.suffix.lower() == ".xlsx":
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_xlsx(path, {"plans": plans, "measures": measures})
    else:
        path.mkdir(parents=True, exist_ok=True)
        plans.to_csv(path / "plans.csv", index=False)
        measures.to_csv(path / "measures.csv", index=False)
    return path
