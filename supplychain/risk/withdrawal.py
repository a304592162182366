"""Withdrawal early warning (DESIGN §5.5): the data a model of leaving the defense business learns
from — features per company and wave, known at that wave, and labels from the next wave.

(The model, its validation against baselines and the early-warning list are built on these; see
issue 5.)

Features of a company at wave W use only what was reported at W or before:

* its status at W (defense share of sales, defense margin, order trend, capacity use, equipment
  age, owner age, successor, declared withdrawal intent and horizon) — one report per company,
  its own return first, then the latest submission — and the change of share and margin since
  the previous wave it reported a status in; ``owner_70_no_successor`` (1 when the owner is 70
  or older and there is no successor: the business-succession concern of Japan's SME Agency);
* its place in the supply network at W as a supplier: programs and buyers served, and the share
  of its deliveries (by annual value where every link has one, else by number of links) going to
  its largest buyer;
* its cyber-standard gap at W: how many of the five measures (MFA, monitoring, vulnerability
  scanning, incident drills, electronic entry/exit control) it does not meet;
* its size: employees and the SME flag as reported at W (its own return first, then the latest).

Nothing is imputed here: a value not reported is missing (NaN, or ``"missing"`` for the
categorical fields), so the model decides what absence means.

The label of a company at W is 1 when it withdraws before the next wave: a ``withdrawal_event``
announced after W's reference date and up to the next wave's, or — with intent ``decided`` at
W — it supplies no program at the next wave. Companies of the last wave have no label (NaN).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..db import registered, run
from ..exceptions import SupplyChainError
from ..graph import _check_wave

__all__ = [
    "withdrawal_features",
    "withdrawal_labels",
    "withdrawal_panel",
    "withdrawal",
    "early_warning",
    "CYBER_MEASURES",
    "CATEGORICAL",
    "picked_rows",
    "MIN_WITHDRAWALS",
]

#: The five measures of the cybersecurity standard (DESIGN §1).
CYBER_MEASURES = ("mfa", "monitoring", "vulnerability_scanning", "incident_drills", "physical_access_control")
#: Categorical features and their levels (``missing`` where not reported).
CATEGORICAL = {
    "order_trend": ("increasing", "stable", "decreasing"),
    "successor": ("decided", "candidate", "none"),
    "withdrawal_intent": ("none", "considering", "decided"),
}


def picked_rows(table: str) -> str:
    """SQL (one parameter, the wave) of a per-company fact table's rows at a wave, one report per
    company — its own return's, else the latest submission's — with ``source_file`` (the file
    name) beside the row's ``source_sheet`` and ``source_row``."""
    return f"""
        WITH s AS (
            SELECT s.*, l.file_name AS source_file, coalesce(l.respondent_id = s.company_id, false) AS own
            FROM {table} s JOIN ingest_log l USING (submission_id) WHERE s.wave = ?),
        pick AS (SELECT company_id, arg_max(submission_id, (own, submission_id)) AS submission_id FROM s GROUP BY company_id)
        SELECT s.* EXCLUDE (own) FROM s JOIN pick USING (company_id, submission_id)
        QUALIFY row_number() OVER (PARTITION BY s.company_id ORDER BY s.source_row) = 1"""


_STATUS = f"""
    SELECT company_id, defense_sales_share, defense_margin, order_trend, capacity_use, equipment_age_years, owner_age,
           successor, withdrawal_intent, withdrawal_horizon_years
    FROM ({picked_rows("company_status")})"""


def _previous_wave(con, wave: int) -> int | None:
    return run(con, "SELECT max(wave) FROM survey_wave WHERE wave < ?", [wave]).fetchone()[0]


def _next_wave(con, wave: int) -> int | None:
    return run(con, "SELECT min(wave) FROM survey_wave WHERE wave > ?", [wave]).fetchone()[0]


def withdrawal_features(con, *, wave: int) -> pd.DataFrame:
    """Features of every company with a status or a delivery at ``wave`` (see the module
    docstring), one row each, sorted by ``company_id``; ``company`` is the label (corporate
    number, else internal id)."""
    wave = _check_wave(con, wave)
    status = run(con, _STATUS, [wave]).df()
    previous = _previous_wave(con, wave)
    before = run(con, _STATUS, [previous]).df() if previous is not None else status.iloc[0:0]
    network = run(
        con,
        """WITH d AS (
               SELECT supplier_id AS company_id, buyer_id, program_id, annual_value_jpy FROM supply WHERE wave = ?),
           per_buyer AS (
               SELECT company_id, buyer_id, count(*) AS n, sum(annual_value_jpy) AS value, count(annual_value_jpy) AS n_value
               FROM d GROUP BY ALL),
           programs AS (SELECT company_id, count(DISTINCT program_id) AS n_programs FROM d GROUP BY company_id)
           SELECT p.company_id, any_value(g.n_programs) AS n_programs, count(*) AS n_buyers,
                  CASE WHEN sum(n_value) = sum(n) AND sum(value) > 0 THEN max(value) / sum(value)
                       ELSE max(n) / sum(n) END AS top_buyer_share
           FROM per_buyer p JOIN programs g USING (company_id) GROUP BY p.company_id""",
        [wave],
    ).df()
    gaps = " + ".join(f"CASE WHEN {m} THEN 0 WHEN {m} IS NULL THEN NULL ELSE 1 END" for m in CYBER_MEASURES)
    cyber = run(
        con,
        f"""SELECT company_id, max({gaps}) AS cyber_gap FROM cyber_assessment WHERE wave = ? GROUP BY company_id""",
        [wave],
    ).df()
    ids = pd.Index(sorted(set(status["company_id"]) | set(network["company_id"])), name="company_id")
    out = pd.DataFrame(index=ids)
    out = out.join(status.set_index("company_id"))
    change = before.set_index("company_id")[["defense_sales_share", "defense_margin"]]
    out["defense_sales_share_change"] = out["defense_sales_share"] - change["defense_sales_share"].reindex(ids)
    out["defense_margin_change"] = out["defense_margin"] - change["defense_margin"].reindex(ids)
    # the SME Agency's succession concern: an owner of 70 or more with no successor
    old_owner = out["owner_age"] >= 70
    out["owner_70_no_successor"] = np.select(
        [out["owner_age"].isna(), ~old_owner, out["successor"].isna()],
        [np.nan, 0.0, np.nan],
        (out["successor"] == "none").astype(float),
    )
    out = out.join(network.set_index("company_id")).join(cyber.set_index("company_id"))
    out[["n_programs", "n_buyers"]] = out[["n_programs", "n_buyers"]].fillna(0).astype(np.int64)
    for column, levels in CATEGORICAL.items():
        out[column] = pd.Categorical(out[column].where(out[column].isin(levels), "missing"), categories=[*levels, "missing"])
    # size as reported at this wave (the company table holds the latest report: a later wave's)
    # the ids as a table joined, not a list parameter: list_contains(?, id) on every row costs
    # rows × ids on DuckDB 1.5 (the features of a national wave took 38-41 s instead of 2.3 s)
    with registered(con, "_sc_withdrawal_ids", pd.DataFrame({"company_id": ids.to_numpy(object)})) as wanted:
        companies = run(
            con,
            f"""WITH r AS (
                   SELECT r.company_id, r.employees, r.is_sme, r.submission_id,
                          coalesce(l.respondent_id = r.company_id, false) AS own
                   FROM company_report r JOIN ingest_log l USING (submission_id)
                   WHERE r.wave = ? AND r.company_id IN (SELECT company_id FROM {wanted})),
               size AS (
                   SELECT company_id, arg_max(employees, (employees IS NOT NULL, own, submission_id)) AS employees,
                          arg_max(is_sme, (is_sme IS NOT NULL, own, submission_id)) AS is_sme
                   FROM r GROUP BY company_id)
               SELECT c.company_id, coalesce(c.corporate_number, c.company_id) AS company, c.name AS company_name,
                      size.employees, size.is_sme
               FROM company c LEFT JOIN size USING (company_id) WHERE c.company_id IN (SELECT company_id FROM {wanted})""",
            [wave],
        ).df()
    out = out.join(companies.set_index("company_id"))
    out.insert(0, "wave", wave)
    numeric = [c for c in out.columns if c not in CATEGORICAL and c not in ("wave", "company", "company_name", "is_sme")]
    out[numeric] = out[numeric].astype("float64")
    out["is_sme"] = out["is_sme"].astype("boolean")
    return out.reset_index()


def withdrawal_labels(con, *, wave: int) -> pd.Series:
    """1.0 for each company of :func:`withdrawal_features` at ``wave`` that withdraws before the
    next wave, 0.0 for the others, NaN when there is no next wave; indexed by ``company_id``."""
    wave = _check_wave(con, wave)
    companies = withdrawal_features(con, wave=wave)[["company_id", "withdrawal_intent"]].set_index("company_id")
    nxt = _next_wave(con, wave)
    if nxt is None:
        return pd.Series(np.nan, index=companies.index, name="withdraws")
    announced = {
        c
        for (c,) in run(
            con,
            """SELECT DISTINCT e.company_id FROM withdrawal_event e, survey_wave a, survey_wave b
               WHERE a.wave = ? AND b.wave = ?
                 AND e.announced_on > coalesce(a.reference_date, make_date(a.fiscal_year, 4, 1))
                 AND e.announced_on <= coalesce(b.reference_date, make_date(b.fiscal_year, 4, 1))""",
            [wave, nxt],
        ).fetchall()
    }
    supplying_next = {c for (c,) in run(con, "SELECT DISTINCT supplier_id FROM supply WHERE wave = ?", [nxt]).fetchall()}
    decided = companies["withdrawal_intent"] == "decided"
    gone = decided & ~companies.index.isin(list(supplying_next))
    label = companies.index.isin(list(announced)) | gone.to_numpy()
    return pd.Series(label.astype(float), index=companies.index, name="withdraws")


def withdrawal_panel(con, *, waves=None, before: int | None = None) -> pd.DataFrame:
    """:func:`withdrawal_features` of several waves stacked, with the label ``withdraws`` (NaN
    for a wave with no next wave): every wave of the database, those given, or those before
    ``before``. Sorted by wave, then company."""
    known = [w for (w,) in run(con, "SELECT wave FROM survey_wave ORDER BY wave").fetchall()]
    chosen = known if waves is None else [_check_wave(con, w) for w in waves]
    if before is not None:
        chosen = [w for w in chosen if w < before]
    frames = []
    for w in sorted(set(chosen)):
        f = withdrawal_features(con, wave=w)
        f["withdraws"] = withdrawal_labels(con, wave=w).reindex(f["company_id"]).to_numpy()
        frames.append(f)
    if not frames:
        return (
            withdrawal_features(con, wave=known[0]).iloc[0:0].assign(withdraws=pd.Series(dtype=float))
            if known
            else pd.DataFrame()
        )
    return pd.concat(frames, ignore_index=True)


#: Fewer labelled withdrawals than this in the earlier waves and :func:`withdrawal` uses the
#: expert rule instead of fitting a model.
MIN_WITHDRAWALS = 20


def withdrawal(con, *, wave: int, model=None, random_state: int = 0, min_withdrawals: int = MIN_WITHDRAWALS) -> pd.DataFrame:
    """Score the companies of ``wave`` for leaving the defense business before the next wave.

    Unless ``model`` (a fitted :class:`~supplychain.risk.WithdrawalModel` or the path of one
    saved with :func:`~supplychain.risk.save_model`) is given, a model is fitted on the
    transitions between the earlier waves (features at ``t``, label = gone by ``t + 1``); with
    fewer than ``min_withdrawals`` labelled withdrawals there, the expert rule scores instead
    (its points turned into a probability on those waves, or points only when no earlier wave
    has outcomes), and ``method`` says so and why.

    Columns: ``rank``, ``company``, ``company_name``, ``probability``, ``points`` (the expert
    rule's, whatever the method: a second opinion), ``drivers`` (one sentence), ``top_drivers``
    (feature names), ``method``, then the features behind the
    early-warning measure (``withdrawal_intent``, ``owner_age``, ``successor``,
    ``owner_70_no_successor``). Sorted by probability (points for the expert rule without
    outcomes), highest first, then company. ``attrs`` holds ``method``, ``training_waves`` and
    ``training_withdrawals``.
    """
    from pathlib import Path

    from .withdrawal_model import ExpertRule, WithdrawalModel, load_model

    wave = _check_wave(con, wave)
    features = withdrawal_features(con, wave=wave)
    if isinstance(model, str | Path):
        model = load_model(model)
    earlier = run(con, "SELECT count(*) FROM survey_wave WHERE wave < ?", [wave]).fetchone()[0]
    train = withdrawal_panel(con, before=wave) if earlier and model is None else features.iloc[0:0].assign(withdraws=1.0)
    train = train[train["withdraws"].notna()]
    n_pos = int(train["withdraws"].sum()) if len(train) else 0
    waves = sorted(int(w) for w in pd.unique(train["wave"])) if len(train) else []
    if model is not None:
        if not isinstance(model, WithdrawalModel) or not hasattr(model, "pipeline_"):
            raise SupplyChainError("model must be a fitted WithdrawalModel or the path of a saved one")
        estimator = model
        waves, n_pos = model.training_["waves"], model.training_["withdrawals"]
        method = f"model (saved; fitted on waves {', '.join(map(str, waves))})"
    elif n_pos >= min_withdrawals:
        estimator = WithdrawalModel(random_state=random_state).fit(train, train["withdraws"])
        method = f"model (fitted on waves {', '.join(map(str, waves))}: {n_pos} withdrawals)"
    else:
        estimator = ExpertRule()
        why = (
            f"{n_pos} labelled withdrawal{'s' if n_pos != 1 else ''} in earlier waves, fewer than {min_withdrawals} to learn from"
        )
        if 0 < n_pos < len(train):
            estimator.fit(train, train["withdraws"])
            method = f"expert rule ({why}; points scaled to a probability on waves {', '.join(map(str, waves))})"
        else:
            method = f"expert rule ({why}; points only, no probability)"
    explained = estimator.explain(features)
    out = pd.DataFrame(
        {
            "company": features["company"].to_numpy(object),
            "company_name": features["company_name"].to_numpy(object),
            "probability": explained["probability"].to_numpy(float),
            "points": ExpertRule().points(features),
            "drivers": explained["drivers"].to_numpy(object),
            "top_drivers": explained["top_drivers"].to_numpy(object),
            "method": method,
            "withdrawal_intent": features["withdrawal_intent"].astype(str).to_numpy(object),
            "owner_age": features["owner_age"].to_numpy(float),
            "successor": features["successor"].astype(str).to_numpy(object),
            "owner_70_no_successor": features["owner_70_no_successor"].to_numpy(float),
        }
    )
    key = out["probability"] if out["probability"].notna().any() else out["points"]
    out = out.assign(_key=key.to_numpy()).sort_values(["_key", "company"], ascending=[False, True], kind="stable")
    out = out.drop(columns="_key").reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    out.attrs.update(method=method, training_waves=waves, training_withdrawals=n_pos, wave=wave)
    return out


#: Order of the early-warning priorities (probability high/low × impact high/low).
PRIORITIES = ("act", "watch", "protect", "monitor")


def early_warning(
    con,
    *,
    wave: int,
    withdrawal_scores: pd.DataFrame | None = None,
    criticality_scores: pd.DataFrame | None = None,
    p_high: float = 0.10,
    points_high: float = 6,
    impact_quantile: float = 0.90,
    model=None,
    random_state: int = 0,
) -> pd.DataFrame:
    """The early-warning list: the withdrawal probability of each company against what its
    departure would cost (its criticality: parts, buyers and programs lost, and the yen a year of
    deliveries that stop), with the Stable Manufacturing Plan measure type that would address it.

    ``priority`` places each company in the probability × impact matrix: probability high when
    at least ``p_high`` (with no probability — the expert rule before any wave has outcomes —
    when its points are at least ``points_high``: e.g. intent decided with two more signs, or
    considering with an old owner and no successor and two more), impact high when ``value_lost`` is at least its ``impact_quantile``
    across the companies of the wave or a program is lost: ``act`` (both high), ``watch`` (likely,
    small impact), ``protect`` (unlikely, large impact), ``monitor``. ``expected_value_lost`` =
    probability × value_lost.

    ``measure_type`` (the plan measure types of DESIGN §6): ``business_succession`` where a
    successor is needed or not yet settled (owner 65 or older with successor ``none`` or
    ``candidate``); otherwise ``supply_chain_resilience`` where its departure leaves parts with no
    supplier (qualify a second source); otherwise empty (its parts have suppliers in use besides
    it). ``measure`` says why in words.

    Pass ``withdrawal_scores`` (from :func:`withdrawal`) and ``criticality_scores`` (from
    :func:`~supplychain.risk.criticality`) to reuse them. Sorted by priority, then expected value
    lost (highest first), then company.
    """
    from .propagation import criticality

    wave = _check_wave(con, wave)
    w = withdrawal_scores if withdrawal_scores is not None else withdrawal(con, wave=wave, model=model, random_state=random_state)
    c = criticality_scores if criticality_scores is not None else criticality(con, wave=wave)
    impact_cols = ["programs_lost", "buyers_lost", "parts_lost", "value_lost"]
    out = w.drop(columns="rank").merge(c[["company", *impact_cols]], on="company", how="left")
    out[impact_cols] = out[impact_cols].fillna(0)
    out[impact_cols[:3]] = out[impact_cols[:3]].astype(np.int64)
    out["expected_value_lost"] = out["probability"] * out["value_lost"]
    threshold = float(c["value_lost"].quantile(impact_quantile)) if len(c) else 0.0
    prob = out["probability"].to_numpy(float)
    likely = np.where(np.isnan(prob), out["points"].to_numpy(float) >= points_high, prob >= p_high)
    heavy = (out["programs_lost"].to_numpy() > 0) | (
        (out["value_lost"].to_numpy() >= threshold) & (out["value_lost"].to_numpy() > 0)
    )
    out["priority"] = np.select([likely & heavy, likely, heavy], ["act", "watch", "protect"], "monitor")
    succession = (out["owner_age"].to_numpy() >= 65) & out["successor"].isin(["none", "candidate"]).to_numpy()
    second_source = out["parts_lost"].to_numpy() > 0
    out["measure_type"] = np.select([succession, second_source], ["business_succession", "supply_chain_resilience"], None)
    out["measure"] = [
        f"successor {'needed' if s == 'none' else 'not yet settled'} (owner {age:.0f}, successor '{s}')"
        if m == "business_succession"
        else f"qualify a second source: {n} part{'s' if n != 1 else ''} would have no supplier"
        if m == "supply_chain_resilience"
        else "its parts have other suppliers in use"
        for m, s, age, n in zip(out["measure_type"], out["successor"], out["owner_age"], out["parts_lost"])
    ]
    out["_p"] = out["priority"].map({p: i for i, p in enumerate(PRIORITIES)})
    out = out.sort_values(
        ["_p", "expected_value_lost", "probability", "points", "value_lost", "company"],
        ascending=[True, False, False, False, False, True],
        kind="stable",
    )
    cols = ["company", "company_name", "priority", "probability", "points", *impact_cols, "expected_value_lost"]
    cols += ["measure_type", "measure"]
    out = out[[*cols, "drivers", "method"]].reset_index(drop=True)
    out.attrs.update(w.attrs, p_high=p_high, points_high=points_high, impact_threshold=threshold)
    return out
