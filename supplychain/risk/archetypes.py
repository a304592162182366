"""The risk archetypes beyond the supply graph (DESIGN §5.7): cyber posture, aging facilities,
succession, financial fragility, natural-hazard concentration and data quality.

Each is a plain function of the database (and the supply network, where it needs one) that
returns the companies or parts it flags, one row each, with a ``likelihood`` (0–1) and its
``basis`` in words; every number it uses is a setting of the ``[register]`` section of the
configuration (``supplychain/config/defaults.toml``, where each rule is written out), so a site
can change a rule without changing code. The risk register
(:func:`~supplychain.risk.register`) adds what each would cost — the impact of the company
failing, from its criticality — and turns the rows into findings.

Company-level rows read the company's own report of the wave where it made one, else the latest
submission that mentions it (as the withdrawal features do), and name that row:
``source_file``, ``source_sheet``, ``source_row``.

>>> import supplychain as sc
>>> sorted(n for n in ("cyber_posture", "succession", "hazard_concentration") if hasattr(sc.risk, n))
['cyber_posture', 'hazard_concentration', 'succession']
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..db import run
from ..graph import _check_wave, quality_findings
from ..options import load_options
from .withdrawal import CYBER_MEASURES, _previous_wave, picked_rows

__all__ = [
    "cyber_posture",
    "aging_facilities",
    "succession",
    "financial_fragility",
    "hazard_concentration",
    "data_quality",
    "CYBER_LABELS",
]

#: The five measures of the cybersecurity standard, in words.
CYBER_LABELS = {
    "mfa": "multi-factor authentication",
    "monitoring": "continuous monitoring and log analysis",
    "vulnerability_scanning": "vulnerability scanning",
    "incident_drills": "incident-response drills",
    "physical_access_control": "electronic entry/exit control",
}

_PROVENANCE = ["source_file", "source_sheet", "source_row"]


def _companies_of(con, table: str, wave: int, columns: str) -> pd.DataFrame:
    """The picked rows of ``table`` at ``wave`` with the company's label and name."""
    return run(
        con,
        f"""SELECT r.company_id, coalesce(c.corporate_number, r.company_id) AS company, c.name AS company_name,
                   {columns}, r.source_file, r.source_sheet, r.source_row
            FROM ({picked_rows(table)}) r JOIN company c USING (company_id)
            ORDER BY company""",
        [wave],
    ).df()


def _clip(x) -> np.ndarray:
    return np.clip(np.asarray(x, dtype=float), 0.0, 1.0)


def cyber_posture(con, *, wave: int, config=None) -> pd.DataFrame:
    """Companies whose cyber self-assessment at ``wave`` misses one of the five measures (not
    met, or not reported), scores below ``cyber_min_score`` of its maximum, or reports an
    incident in the last 12 months.

    likelihood = ``cyber_per_missing_measure`` × measures missing + ``cyber_score_gap`` × (1 −
    score / max_score) + ``cyber_incident`` (any incident), at most 1. ``protected`` says whether
    the company handles protected information (the register then takes a breach as at least a
    large impact, whatever the supply consequence).

    Columns: ``company_id``, ``company``, ``company_name``, ``missing`` (the measures, in words),
    ``n_missing``, ``score_ratio``, ``incidents_12m``, ``protected``, ``likelihood``, ``basis``,
    and the source row.
    """
    r = load_options(config).register
    wave = _check_wave(con, wave)
    cols = ", ".join(f"r.{m}" for m in CYBER_MEASURES)
    df = _companies_of(
        con, "cyber_assessment", wave, f"{cols}, r.score, r.max_score, r.incidents_12m, r.handles_protected_info AS protected"
    )
    measures = df[list(CYBER_MEASURES)]
    met = measures.fillna(False).to_numpy(dtype=bool)
    reported = measures.notna().to_numpy()
    n_missing = (~met).sum(axis=1)
    ratio = (df["score"] / df["max_score"].where(df["max_score"] > 0)).to_numpy(dtype=float, na_value=np.nan)
    incidents = df["incidents_12m"].fillna(0).to_numpy(dtype=float)
    gap = np.where(np.isnan(ratio), 0.0, 1.0 - np.clip(ratio, 0, 1))
    likelihood = _clip(
        r["cyber_per_missing_measure"] * n_missing + r["cyber_score_gap"] * gap + r["cyber_incident"] * (incidents > 0)
    )
    flagged = (n_missing > 0) | (ratio < r["cyber_min_score"]) | (incidents > 0)
    names = [CYBER_LABELS[m] for m in CYBER_MEASURES]
    missing = [
        "; ".join(names[j] + ("" if reported[i, j] else " (not reported)") for j in np.flatnonzero(~met[i]))
        for i in range(len(df))
    ]
    basis = [
        ", ".join(
            filter(
                None,
                [
                    f"{k} of 5 measures not met" if k else "all 5 measures met",
                    f"score {q:.0%} of maximum" if q == q else "score not reported",
                    f"{n:.0f} incident(s) in 12 months" if n > 0 else "",
                    "handles protected information" if p is True else "",
                ],
            )
        )
        for k, q, n, p in zip(n_missing, ratio, incidents, df["protected"].astype(object))
    ]
    out = df[["company_id", "company", "company_name"]].assign(
        missing=missing,
        n_missing=n_missing.astype(np.int64),
        score_ratio=ratio,
        incidents_12m=incidents,
        protected=df["protected"].to_numpy(dtype=bool, na_value=False),
        likelihood=likelihood,
        basis=basis,
    )
    out[_PROVENANCE] = df[_PROVENANCE]
    return out[flagged].reset_index(drop=True)


def _status(con, wave: int) -> pd.DataFrame:
    return _companies_of(
        con,
        "company_status",
        wave,
        "r.defense_sales_share, r.defense_margin, r.order_trend, r.equipment_age_years, r.owner_age, r.successor",
    )


def aging_facilities(con, *, wave: int, config=None) -> pd.DataFrame:
    """Companies whose average equipment age at ``wave`` is ``aging_years`` or more; likelihood
    rises linearly from 0 at ``aging_floor_years`` to ``aging_max`` at ``aging_full_years``.

    Columns: ``company_id``, ``company``, ``company_name``, ``equipment_age_years``,
    ``likelihood``, ``basis``, and the source row.
    """
    r = load_options(config).register
    df = _status(con, _check_wave(con, wave))
    age = df["equipment_age_years"].to_numpy(dtype=float, na_value=np.nan)
    keep = age >= r["aging_years"]
    span = max(r["aging_full_years"] - r["aging_floor_years"], 1e-9)
    out = df.loc[keep, ["company_id", "company", "company_name", "equipment_age_years", *_PROVENANCE]].copy()
    out.insert(4, "likelihood", r["aging_max"] * _clip((age[keep] - r["aging_floor_years"]) / span))
    out.insert(5, "basis", [f"equipment {a:.0f} years old on average" for a in age[keep]])
    return out.reset_index(drop=True)


def succession(con, *, wave: int, config=None) -> pd.DataFrame:
    """Companies whose owner is ``succession_age`` or older at ``wave`` without a decided
    successor. likelihood = ``succession_base`` + ``succession_per_year`` × years above that age,
    at most ``succession_max``; × ``succession_candidate_factor`` when a candidate exists or the
    successor is not reported.

    Columns: ``company_id``, ``company``, ``company_name``, ``owner_age``, ``successor``
    (``none``, ``candidate`` or ``not reported``), ``likelihood``, ``basis``, and the source row.
    """
    r = load_options(config).register
    df = _status(con, _check_wave(con, wave))
    age = df["owner_age"].to_numpy(dtype=float, na_value=np.nan)
    heir = df["successor"].fillna("not reported").astype(str).to_numpy(object)
    keep = (age >= r["succession_age"]) & (heir != "decided")
    base = np.minimum(r["succession_base"] + r["succession_per_year"] * (age - r["succession_age"]), r["succession_max"])
    likelihood = _clip(np.where(heir == "none", base, base * r["succession_candidate_factor"]))
    out = df.loc[keep, ["company_id", "company", "company_name", "owner_age", *_PROVENANCE]].copy()
    out.insert(4, "successor", heir[keep])
    out.insert(5, "likelihood", likelihood[keep])
    out.insert(
        6,
        "basis",
        [
            f"owner {a:.0f}, "
            + ("no successor" if h == "none" else "successor candidate only" if h == "candidate" else "successor not reported")
            for a, h in zip(age[keep], heir[keep])
        ],
    )
    return out.reset_index(drop=True)


def financial_fragility(con, *, wave: int, config=None) -> pd.DataFrame:
    """Companies whose defense operating margin at ``wave`` is below ``margin_low`` or fell by
    ``margin_drop`` or more since the previous wave they reported one in.

    likelihood = ``financial_base`` + ``financial_loss`` (margin below 0) +
    ``financial_low_margin`` (below ``margin_low``) + ``financial_margin_falling`` (fell by
    ``margin_drop`` or more) + ``financial_orders_falling`` (order trend decreasing) +
    ``financial_dependence`` (defense share of sales ≥ ``financial_dependence_share``: a loss on
    defense work weighs on the whole firm), at most 1.

    Columns: ``company_id``, ``company``, ``company_name``, ``defense_margin``,
    ``margin_change``, ``order_trend``, ``defense_sales_share``, ``likelihood``, ``basis``, and
    the source row.
    """
    r = load_options(config).register
    wave = _check_wave(con, wave)
    df = _status(con, wave)
    before = run(
        con,
        """SELECT company_id, arg_max(defense_margin, wave) AS previous_margin, max(wave) AS previous_wave
           FROM company_status WHERE wave < ? AND defense_margin IS NOT NULL GROUP BY company_id""",
        [wave],
    ).df()
    df = df.merge(before, on="company_id", how="left")
    margin = df["defense_margin"].to_numpy(dtype=float, na_value=np.nan)
    change = margin - df["previous_margin"].to_numpy(dtype=float, na_value=np.nan)
    share = df["defense_sales_share"].to_numpy(dtype=float, na_value=np.nan)
    falling_orders = (df["order_trend"] == "decreasing").to_numpy(dtype=bool, na_value=False)
    signs = {
        "financial_loss": margin < 0,
        "financial_low_margin": margin < r["margin_low"],
        "financial_margin_falling": change <= -r["margin_drop"] + 1e-12,
        "financial_orders_falling": falling_orders,
        "financial_dependence": share >= r["financial_dependence_share"],
    }
    keep = signs["financial_low_margin"] | signs["financial_margin_falling"]
    likelihood = _clip(r["financial_base"] + sum(r[k] * v for k, v in signs.items()))
    words = []
    for i in np.flatnonzero(keep):
        w = [f"defense margin {margin[i]:.1%}"]
        if change[i] == change[i]:
            w.append(f"{change[i] * 100:+.1f} points since wave {int(df['previous_wave'].iat[i])}")
        if falling_orders[i]:
            w.append("orders decreasing")
        if share[i] >= r["financial_dependence_share"]:
            w.append(f"defense {share[i]:.0%} of sales")
        words.append(", ".join(w))
    out = df.loc[keep, ["company_id", "company", "company_name", "defense_margin"]].copy()
    out["margin_change"] = change[keep]
    out["order_trend"] = df.loc[keep, "order_trend"]
    out["defense_sales_share"] = share[keep]
    out["likelihood"] = likelihood[keep]
    out["basis"] = words
    out[_PROVENANCE] = df.loc[keep, _PROVENANCE]
    return out.reset_index(drop=True)


def _sites(con, wave: int) -> pd.DataFrame:
    """Every site as last reported up to ``wave``."""
    return run(
        con,
        """SELECT site_id, company_id, prefecture_code, hazard_p30_strong, coalesce(nankai_zone, false) AS nankai
           FROM site WHERE wave <= ?
           QUALIFY row_number() OVER (PARTITION BY site_id ORDER BY wave DESC, submission_id DESC) = 1""",
        [wave],
    ).df()


def hazard_concentration(con=None, *, wave: int | None = None, network=None, config=None) -> pd.DataFrame:
    """Parts (per program and buyer) with two or more suppliers in use whose supply sits mostly
    in one hazard area: at least ``hazard_share`` of it in the Nankai Trough area (kind
    ``nankai_zone``), or in one prefecture where its sites have a 30-year probability of strong
    shaking of at least ``hazard_p30`` (kind ``prefecture``). Two suppliers do not protect
    against one earthquake.

    A link is placed by its own site where the survey names one, else by its supplier's sites
    (in the Nankai area when all of them are; in a prefecture when all are there, or, with no
    site, by the company's prefecture). Shares are the suppliers' shares of the buyer's need
    (equal where not reported). likelihood = the highest 30-year probability among the sites
    concerned, in the Nankai area at least ``nankai_p30``.

    Columns: ``program``, ``buyer``, ``buyer_name``, ``part``, ``part_id``, ``kind``, ``area``
    (``Nankai Trough`` or the prefecture code), ``share_in_area``, ``n_suppliers``,
    ``suppliers`` (in the area), ``p30``, ``likelihood``, ``basis``.
    """
    from .propagation import _network

    r = load_options(config).register
    net = _network(con, wave, None, network)
    ln = net.links
    sites = _sites(con, net.wave)
    comp = net.node_company[net.link_supplier]
    # per company: all sites in the Nankai area; the one prefecture of all its sites; highest p30
    by_co = sites.groupby("company_id").agg(
        nankai=("nankai", "all"),
        n_pref=("prefecture_code", "nunique"),
        pref=("prefecture_code", "first"),
        p30=("hazard_p30_strong", "max"),
    )
    co = by_co.reindex(net.companies["company_id"])
    co_nankai = co["nankai"].to_numpy(dtype=bool, na_value=False)
    co_pref = np.where(co["n_pref"].to_numpy(dtype=float, na_value=0) == 1, co["pref"].astype(object).to_numpy(), None)
    no_site = co["n_pref"].isna().to_numpy()
    co_pref = np.where(no_site, net.companies["prefecture_code"].astype(object).to_numpy(), co_pref)
    co_p30 = co["p30"].to_numpy(dtype=float, na_value=np.nan)
    own = sites.set_index("site_id").reindex(ln["site_id"].astype(object))
    has_own = own["company_id"].notna().to_numpy()
    nankai = np.where(has_own, own["nankai"].to_numpy(dtype=bool, na_value=False), co_nankai[comp])
    pref = np.where(has_own, own["prefecture_code"].astype(object).to_numpy(), co_pref[comp])
    p30 = np.where(has_own, own["hazard_p30_strong"].to_numpy(dtype=float, na_value=np.nan), co_p30[comp])
    share = ln["share"].to_numpy(dtype=float)
    req = ln["req"].to_numpy()
    in_use = np.isnan(share) | (share > 0)
    d = pd.DataFrame({"req": req, "share": share, "link": np.arange(len(ln)), "nankai": nankai, "pref": pref, "p30": p30})[in_use]
    g = d.groupby("req")
    n = g["link"].transform("size").to_numpy()
    all_shares = g["share"].transform("count").to_numpy() == n
    total = g["share"].transform("sum").to_numpy()
    w = np.where(all_shares & (total > 0), d["share"].to_numpy() / np.where(total > 0, total, 1), 1.0 / n)
    d = d.assign(w=w, n=n)[n >= 2]
    # Nankai area: share and highest p30 of the links in it, per requirement
    nd = d[d["nankai"]]
    nk = nd.groupby("req").agg(area_share=("w", "sum"), p30=("p30", "max"))
    nk = nk[nk["area_share"] >= r["hazard_share"] - 1e-9].assign(kind="nankai_zone", area="Nankai Trough")
    nk["p30"] = np.fmax(nk["p30"].to_numpy(dtype=float), r["nankai_p30"])
    # one prefecture with a high shaking probability
    pd_ = d[d["pref"].notna()]
    pf = pd_.groupby(["req", "pref"]).agg(area_share=("w", "sum"), p30=("p30", "max"))
    pf = pf[(pf["area_share"] >= r["hazard_share"] - 1e-9) & (pf["p30"] >= r["hazard_p30"])].reset_index("pref")
    pf = pf[~pf.index.isin(nk.index)].rename(columns={"pref": "area"}).assign(kind="prefecture")
    hit = pd.concat([nk, pf]).sort_index()
    hit = hit[~hit.index.duplicated()]
    if hit.empty:
        cols = ["program", "buyer", "buyer_name", "part", "part_id", "kind", "area", "share_in_area", "n_suppliers"]
        return pd.DataFrame(columns=[*cols, "suppliers", "p30", "likelihood", "basis"])
    # the links in the area of each hit, for the list of its suppliers
    labels = net.node_labels()
    area_of = hit["area"]
    nk_links = nd[nd["req"].isin(nk.index)][["req", "link"]]
    pf_links = pd_[pd_["req"].isin(pf.index)]
    pf_links = pf_links[pf_links["pref"].to_numpy(object) == area_of.reindex(pf_links["req"]).to_numpy(object)][["req", "link"]]
    in_area = pd.concat([nk_links, pf_links])
    in_area = in_area.assign(label=labels[ln["supplier"].to_numpy()[in_area["link"].to_numpy()]].astype(object))
    in_area = in_area.sort_values(["req", "label"], kind="stable")
    suppliers = in_area.groupby("req", sort=True)["label"].agg("; ".join).reindex(hit.index)
    first = in_area.groupby("req", sort=True)["link"].first().reindex(hit.index).to_numpy()
    c_names = net.companies["name"].to_numpy(object)
    buyer_node = ln["buyer"].to_numpy()[first]
    part = ln["part"].to_numpy()[first]
    n_sup = d.groupby("req")["n"].first().reindex(hit.index).to_numpy()
    out = pd.DataFrame(
        {
            "program": net.column("programs", "program_id")[ln["program"].to_numpy()[first]],
            "buyer": labels[buyer_node],
            "buyer_name": c_names[net.node_company[buyer_node]],
            "part": net.column("parts", "part_name")[part],
            "part_id": net.column("parts", "part_id")[part],
            "kind": hit["kind"].to_numpy(object),
            "area": hit["area"].to_numpy(object),
            "share_in_area": hit["area_share"].to_numpy(float).round(6),
            "n_suppliers": n_sup.astype(np.int64),
            "suppliers": suppliers.to_numpy(object),
            "p30": hit["p30"].to_numpy(float),
        }
    )
    out["likelihood"] = _clip(out["p30"])
    out["basis"] = [
        f"{s:.0%} of the supply from {n} suppliers in {'the Nankai Trough area' if k == 'nankai_zone' else 'prefecture ' + a}; "
        f"30-year probability of strong shaking {p:.0%}"
        for s, n, k, a, p in zip(out["share_in_area"], out["n_suppliers"], out["kind"], out["area"], out["p30"])
    ]
    return out.sort_values(["program", "buyer", "part_id", "kind"], kind="stable", ignore_index=True)


def data_quality(
    con=None, *, wave: int | None = None, network=None, exposure: pd.DataFrame | None = None, config=None
) -> pd.DataFrame:
    """Gaps in the data that may hide a risk, one row each, ``kind``:

    * ``non_response`` — a company that answered the previous wave itself and is still in this
      wave's supply network but sent no return this wave;
    * ``unknown_origin`` — a program whose traced need of unknown origin (materials whose
      country nobody reported) is at least ``unknown_origin_share``;
    * ``tier_disagreement``, ``cycle``, ``unreachable`` — the supply graph's findings
      (:func:`~supplychain.graph.quality_findings`);
    * ``entity_review`` — a pair of company mentions awaiting a same-or-different decision.

    likelihood = ``data_quality`` for every kind. Columns: ``kind``, ``key`` (what identifies
    the gap), ``program``, ``company``, ``company_name``, ``detail``, ``source_file``,
    ``source_sheet``, ``source_row``, ``likelihood``.
    """
    from .foreign import foreign_exposure
    from .propagation import _network

    r = load_options(config).register
    net = _network(con, wave, None, network)
    wave = net.wave
    frames = []
    previous = _previous_wave(con, wave)
    if previous is not None:
        gone = run(
            con,
            """WITH was AS (SELECT DISTINCT respondent_id FROM ingest_log
                            WHERE wave = ? AND respondent_id IS NOT NULL AND status IN ('loaded', 'partial')),
                    now AS (SELECT DISTINCT respondent_id FROM ingest_log WHERE wave = ? AND respondent_id IS NOT NULL),
                    present AS (SELECT supplier_id AS company_id FROM supply WHERE wave = ?
                                UNION SELECT buyer_id FROM supply WHERE wave = ?)
               SELECT coalesce(c.corporate_number, c.company_id) AS company, c.name AS company_name,
                      (SELECT string_agg(file_name, '; ' ORDER BY file_name) FROM ingest_log l
                       WHERE l.wave = ? AND l.respondent_id = c.company_id AND l.status IN ('loaded', 'partial')) AS last_file
               FROM was JOIN present ON present.company_id = was.respondent_id
                        JOIN company c ON c.company_id = was.respondent_id
               WHERE was.respondent_id NOT IN (SELECT respondent_id FROM now)""",
            [previous, wave, wave, wave, previous],
        ).df()
        frames.append(
            pd.DataFrame(
                {
                    "kind": "non_response",
                    "key": gone["company"],
                    "program": None,
                    "company": gone["company"],
                    "company_name": gone["company_name"],
                    "detail": [f"answered wave {previous} ({f}) but sent no return for wave {wave}" for f in gone["last_file"]],
                    "source_file": gone["last_file"],
                }
            )
        )
    fe = exposure if exposure is not None else foreign_exposure(con, network=net, config=config)
    unknown = fe[(fe["country"] == "unknown") & (fe["exposure"] >= r["unknown_origin_share"] - 1e-12)]
    frames.append(
        pd.DataFrame(
            {
                "kind": "unknown_origin",
                "key": unknown["program"],
                "program": unknown["program"],
                "detail": [
                    f"{e:.0%} of the program's traced need is of unknown origin ({p} part(s), {s} supplier(s))"
                    for e, p, s in zip(unknown["exposure"], unknown["n_parts"], unknown["n_suppliers"])
                ],
            }
        )
    )
    q = quality_findings(net)
    q = q.assign(key=q["program"].astype(str) + "|" + q["company"].astype(str) + "|" + q["detail"].astype(str))
    # one finding per company and disagreement, however many of its links show it
    links = q.groupby("key", sort=False)["kind"].transform("size")
    q = q.assign(detail=np.where(links > 1, q["detail"] + " (" + links.astype(str) + " links)", q["detail"])).drop_duplicates(
        "key"
    )
    frames.append(q[["kind", "key", "program", "company", "company_name", "detail", *_PROVENANCE]])
    pending = run(
        con,
        """SELECT review_id, coalesce(a.corporate_number, e.company_id_a) AS company, e.name_a, e.name_b, e.score, e.reason
           FROM entity_review e LEFT JOIN company a ON a.company_id = e.company_id_a
           WHERE e.status = 'pending' AND coalesce(e.first_wave, ?) <= ? ORDER BY review_id""",
        [wave, wave],
    ).df()
    frames.append(
        pd.DataFrame(
            {
                "kind": "entity_review",
                "key": pending["review_id"],
                "company": pending["company"],
                "company_name": pending["name_a"],
                "detail": [
                    f"{a} and {b} may be the same company (similarity {s:.0f}: {why}); `supplychain review entities`"
                    for a, b, s, why in zip(pending["name_a"], pending["name_b"], pending["score"], pending["reason"])
                ],
            }
        )
    )
    cols = ["kind", "key", "program", "company", "company_name", "detail", *_PROVENANCE]
    out = (
        pd.concat([f.reindex(columns=cols) for f in frames if len(f)], ignore_index=True)
        if any(len(f) for f in frames)
        else pd.DataFrame(columns=cols)
    )
    out["likelihood"] = r["data_quality"]
    return out.sort_values(["kind", "key"], kind="stable", ignore_index=True)
