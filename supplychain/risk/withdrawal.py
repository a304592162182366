"""Withdrawal early warning (DESIGN §5.5): the data a model of leaving the defense business learns
from — features per company and wave, known at that wave, and labels from the next wave.

(The model, its validation against baselines and the early-warning list are built on these; see
issue 5.)

Features of a company at wave W use only what was reported at W or before:

* its status at W (defense share of sales, defense margin, order trend, capacity use, equipment
  age, owner age, successor, declared withdrawal intent and horizon) — one report per company,
  its own return first, then the latest submission — and the change of share and margin since
  the previous wave it reported a status in;
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

from ..db import run
from ..graph import _check_wave

__all__ = ["withdrawal_features", "withdrawal_labels", "CYBER_MEASURES", "CATEGORICAL"]

#: The five measures of the cybersecurity standard (DESIGN §1).
CYBER_MEASURES = ("mfa", "monitoring", "vulnerability_scanning", "incident_drills", "physical_access_control")
#: Categorical features and their levels (``missing`` where not reported).
CATEGORICAL = {
    "order_trend": ("increasing", "stable", "decreasing"),
    "successor": ("decided", "candidate", "none"),
    "withdrawal_intent": ("none", "considering", "decided"),
}

_STATUS = """
    WITH s AS (
        SELECT s.*, coalesce(l.respondent_id = s.company_id, false) AS own
        FROM company_status s JOIN ingest_log l USING (submission_id) WHERE s.wave = ?),
    pick AS (SELECT company_id, arg_max(submission_id, (own, submission_id)) AS submission_id FROM s GROUP BY company_id)
    SELECT s.company_id, any_value(defense_sales_share) AS defense_sales_share, any_value(defense_margin) AS defense_margin,
           any_value(order_trend) AS order_trend, any_value(capacity_use) AS capacity_use,
           any_value(equipment_age_years) AS equipment_age_years, any_value(owner_age) AS owner_age,
           any_value(successor) AS successor, any_value(withdrawal_intent) AS withdrawal_intent,
           any_value(withdrawal_horizon_years) AS withdrawal_horizon_years
    FROM s JOIN pick USING (company_id, submission_id) GROUP BY s.company_id"""


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
    out = out.join(network.set_index("company_id")).join(cyber.set_index("company_id"))
    out[["n_programs", "n_buyers"]] = out[["n_programs", "n_buyers"]].fillna(0).astype(np.int64)
    for column, levels in CATEGORICAL.items():
        out[column] = pd.Categorical(out[column].where(out[column].isin(levels), "missing"), categories=[*levels, "missing"])
    # size as reported at this wave (the company table holds the latest report: a later wave's)
    companies = run(
        con,
        """WITH r AS (
               SELECT r.company_id, r.employees, r.is_sme, r.submission_id,
                      coalesce(l.respondent_id = r.company_id, false) AS own
               FROM company_report r JOIN ingest_log l USING (submission_id)
               WHERE r.wave = ? AND list_contains(?, r.company_id)),
           size AS (
               SELECT company_id, arg_max(employees, (employees IS NOT NULL, own, submission_id)) AS employees,
                      arg_max(is_sme, (is_sme IS NOT NULL, own, submission_id)) AS is_sme
               FROM r GROUP BY company_id)
           SELECT c.company_id, coalesce(c.corporate_number, c.company_id) AS company, c.name AS company_name,
                  size.employees, size.is_sme
           FROM company c LEFT JOIN size USING (company_id) WHERE list_contains(?, c.company_id)""",
        [wave, ids.tolist(), ids.tolist()],
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
               WHERE a.wave = ? AND b.wave = ? AND e.announced_on > a.reference_date AND e.announced_on <= b.reference_date""",
            [wave, nxt],
        ).fetchall()
    }
    supplying_next = {c for (c,) in run(con, "SELECT DISTINCT supplier_id FROM supply WHERE wave = ?", [nxt]).fetchall()}
    decided = companies["withdrawal_intent"] == "decided"
    gone = decided & ~companies.index.isin(list(supplying_next))
    label = companies.index.isin(list(announced)) | gone.to_numpy()
    return pd.Series(label.astype(float), index=companies.index, name="withdraws")
