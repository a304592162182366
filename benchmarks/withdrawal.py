"""Withdrawal early-warning benchmark: features, scores with explanations and the early-warning
list at the national (or economy) scale, and the model's fit and forward-chained validation on
the multi-wave ``panel`` scale, with the row-by-row explanation measured in the same run.

    python benchmarks/withdrawal.py --scale national

The national and economy databases hold one wave, so there ``withdrawal`` scores with the
expert rule (no earlier outcomes to learn from); the model is also fitted on that wave's
features with labels drawn from the generator's planted process, to time a fit at that size.
The panel database (6 waves, about 5,000 suppliers) is generated and ingested once into
benchmarks/data/panel.duckdb. "peak MB" is this process's resident-memory high-water mark.

The naive explanation is the straightforward one (iterate over the rows with pandas, sort each
row's hits), timed on a sample of rows and extrapolated; it must give the same sentences.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from graph import Steps, ensure_database, header, ingest_once  # noqa: E402


def naive_expert_explain(rule, X: pd.DataFrame) -> list[str]:
    """The expert rule's sentences, row by row with pandas (what a first version does)."""
    from supplychain.risk.withdrawal_model import EXPERT_POINTS, _frame

    frame = _frame(X)
    hits = pd.DataFrame({words: test(frame).fillna(False).astype(bool) for _, words, test, _ in EXPERT_POINTS}, index=X.index)
    points = pd.Series([pts for *_, pts in EXPERT_POINTS], index=hits.columns)
    p = rule.predict_proba(X)[:, 1] if hasattr(rule, "scale_") else np.full(len(frame), np.nan)
    out = []
    for i, (_, row) in enumerate(hits.iterrows()):
        on = points[row.to_numpy()].sort_values(ascending=False, kind="stable")
        parts = [f"{w} ({pts} pt{'s' if pts > 1 else ''})" for w, pts in on.items()]
        lead = f"{p[i]:.0%} chance of leaving before the next wave" if not math.isnan(p[i]) else "expert rule only"
        out.append(f"{lead}, {int(on.sum())} points: " + ("; ".join(parts[:3]) if parts else "no sign"))
    return out


def ensure_panel() -> Path:
    from supplychain.datasets import write_survey

    db = HERE / "data" / "panel.duckdb"
    if db.exists():
        return db
    returns = HERE / "data" / "panel"
    print(f"generating the panel scale into {returns} …", flush=True)
    write_survey(returns, scale="panel", random_state=0, overwrite=True)
    return ingest_once(returns, db)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", choices=["national", "economy"], default="national")
    ap.add_argument("--naive-sample", type=int, default=10_000, help="rows explained the naive way (extrapolated)")
    args = ap.parse_args()
    db = ensure_database(args.scale)
    panel_db = ensure_panel()
    import supplychain as sc
    from supplychain.datasets import _withdrawal_logit
    from supplychain.risk.withdrawal_model import ExpertRule, WithdrawalModel, validate

    rows = step = Steps()

    con = sc.connect(db, read_only=True)
    wave = con.sql("SELECT max(wave) FROM survey_wave").fetchall()[0][0]
    features = step(f"{args.scale}: features of every company", lambda: sc.risk.withdrawal_features(con, wave=wave))
    step(f"{args.scale}: expert-rule explanations of every company", lambda: ExpertRule().explain(features))
    scores = step(f"{args.scale}: withdrawal, end to end (features, expert rule)", lambda: sc.risk.withdrawal(con, wave=wave))
    crit = step(f"{args.scale}: criticality sweep (impact)", lambda: sc.risk.criticality(con, wave=wave))
    ew = step(
        f"{args.scale}: early-warning list",
        lambda: sc.risk.early_warning(con, wave=wave, withdrawal_scores=scores, criticality_scores=crit),
    )
    # a fit at this size: labels drawn from the planted process
    rng = np.random.default_rng(0)
    as_text = {c: features[c].astype(str) for c in ("withdrawal_intent", "successor", "order_trend")}
    y = (rng.random(len(features)) < 1 / (1 + np.exp(-_withdrawal_logit(features.assign(**as_text))))).astype(float)
    model = step(
        f"{args.scale}: WithdrawalModel fit ({int(y.sum()):,} drawn withdrawals)",
        lambda: WithdrawalModel(calibration=None).fit(features, y),
        lambda m: m.training_["rows"],
    )
    step(f"{args.scale}: model explanations of every company", lambda: model.explain(features))
    sample = features.head(args.naive_sample)
    rule = ExpertRule()
    t = time.perf_counter()
    naive = naive_expert_explain(rule, sample)
    naive_seconds = (time.perf_counter() - t) * len(features) / len(sample)
    fast = rule.explain(sample)["drivers"].tolist()
    con.close()

    con = sc.connect(panel_db, read_only=True)
    panel = step("panel: features and labels of 6 waves", lambda: sc.risk.withdrawal_panel(con))
    v = step("panel: forward-chained validation (3 methods, 4 waves)", lambda: validate(panel), lambda v: len(v.predictions))
    train = panel.dropna(subset=["withdraws"])
    step(
        "panel: WithdrawalModel fit with forward-chained calibration",
        lambda: WithdrawalModel().fit(train, train["withdraws"]),
        lambda m: m.training_["rows"],
    )
    last = int(panel["wave"].max())
    step(f"panel: withdrawal of wave {last} (fits on the earlier waves)", lambda: sc.risk.withdrawal(con, wave=last))
    con.close()

    print(header("withdrawal", f"{args.scale} and panel"))
    print(f"{args.scale}: {len(features):,} companies, wave {wave}; method: {scores.attrs['method']}")
    print(f"early warning: {ew['priority'].value_counts().to_dict()}")
    print()
    print("| step | seconds | rows | peak MB (process so far) | naive time ÷ this time |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        ratio = f"{naive_seconds / r['seconds']:,.1f}" if "expert-rule explanations" in r["step"] else ""
        print(f"| {r['step']} | {r['seconds']:.2f} | {r['rows']:,} | {r['peak_mb']:,.0f} | {ratio} |")
    print(
        f"| naive: the expert rule's explanations row by row with pandas, {len(sample):,} rows extrapolated to "
        f"{len(features):,} | {naive_seconds:.2f} | | | 1 |"
    )
    print(f"\nnaive and vectorised explanations {'agree' if naive == fast else 'DIFFER'} on the {len(sample):,} rows sampled")
    print()
    print(v.summary())


if __name__ == "__main__":
    main()
