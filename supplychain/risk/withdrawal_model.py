"""The withdrawal model, its two baselines, forward-in-time validation and safe persistence
(DESIGN §5.5, issue 5).

Three estimators share one interface (scikit-learn's ``fit(X, y)`` / ``predict_proba(X)`` /
``explain(X)``) over the frame of :func:`~supplychain.risk.withdrawal_features`, so the
validation runs them side by side on the same rows:

:class:`WithdrawalModel`
    A logistic regression over every feature in :data:`FEATURES` (a ``Pipeline`` with a
    ``ColumnTransformer``): each numeric feature is mapped to its training quantiles and then
    to a quadratic spline (so a threshold such as "margin below 1 %" can be learned without
    being told), with its own missing-value indicator (the survey is partial: not answering is
    information); each categorical feature is one-hot encoded with ``missing`` as a level.
    Because the model is additive in the features, the log-odds of every company split exactly
    into one contribution per feature (its transformed value minus the training mean, times the
    coefficients): those are the drivers. The probabilities are recalibrated out of time
    (Platt scaling fitted on forward-chained predictions: each training wave after the first
    predicted by a model fitted on the waves before it), because the next wave is always
    predicted out of time.
:class:`ExpertRule`
    Points set by hand before looking at any outcome (:data:`EXPERT_POINTS`: declared intent
    weighs most, then succession, then the economic signs), the way an analyst would rank
    suppliers without a model; points become a probability by a one-variable logistic fit on
    the training waves.
:class:`IntentBaseline`
    Declared withdrawal intent alone: the withdrawal rate of each intent level in the training
    waves.

:func:`validate` fits each on the waves before ``t`` and scores wave ``t``, for every labelled
wave ``t`` after the first (forward chaining, never a random split), and reports ROC-AUC,
PR-AUC (average precision), Brier score and log loss per wave and pooled, a calibration table,
and the permutation importance of the model's features on the last wave.

:func:`save_model` / :func:`load_model` use skops (no pickle): loading refuses any type outside
the model's own, and a model fitted for another schema version or feature set fails with a
message that says what differs.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, QuantileTransformer, SplineTransformer

from ..exceptions import SupplyChainError
from .withdrawal import CATEGORICAL

__all__ = [
    "FEATURES",
    "NUMERIC",
    "EXPERT_POINTS",
    "WithdrawalModel",
    "ExpertRule",
    "IntentBaseline",
    "Validation",
    "validate",
    "save_model",
    "load_model",
    "MODEL_FORMAT",
]

#: Numeric features the model uses (columns of :func:`~supplychain.risk.withdrawal_features`).
NUMERIC = (
    "defense_sales_share",
    "defense_sales_share_change",
    "defense_margin",
    "defense_margin_change",
    "capacity_use",
    "equipment_age_years",
    "owner_age",
    "owner_70_no_successor",
    "withdrawal_horizon_years",
    "n_programs",
    "n_buyers",
    "top_buyer_share",
    "cyber_gap",
    "employees",
    "is_sme",
)
#: Every feature the model uses, numeric then categorical.
FEATURES = NUMERIC + tuple(CATEGORICAL)
#: Version of the saved-model layout (bumped when WithdrawalModel's fitted attributes change).
MODEL_FORMAT = 1

# How each feature reads in a sentence: label, and how a value is written.
_LABELS = {
    "defense_sales_share": ("defense share of sales", "{:.1%}"),
    "defense_sales_share_change": ("change of defense share since the last wave", "{:+.1%}"),
    "defense_margin": ("defense margin", "{:.1%}"),
    "defense_margin_change": ("change of defense margin since the last wave", "{:+.1%}"),
    "capacity_use": ("capacity use", "{:.0%}"),
    "equipment_age_years": ("equipment age", "{:.0f} years"),
    "owner_age": ("owner age", "{:.0f}"),
    "owner_70_no_successor": ("owner 70 or older with no successor", None),
    "withdrawal_horizon_years": ("declared withdrawal horizon", "{:.0f} years"),
    "n_programs": ("programs served", "{:.0f}"),
    "n_buyers": ("buyers served", "{:.0f}"),
    "top_buyer_share": ("share of deliveries to the largest buyer", "{:.0%}"),
    "cyber_gap": ("cyber-standard measures not met", "{:.0f} of 5"),
    "employees": ("employees", "{:,.0f}"),
    "is_sme": ("SME", None),
    "order_trend": ("order trend", None),
    "successor": ("successor", None),
    "withdrawal_intent": ("declared withdrawal intent", None),
}


def describe(feature: str, value) -> str:
    """``feature`` and its ``value`` in words, e.g. ``"defense margin 0.4%"``,
    ``"declared withdrawal intent 'decided'"``, ``"owner age not reported"``."""
    label, fmt = _LABELS.get(feature, (feature, None))
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value == "missing":
        return f"{label} not reported"
    if feature in CATEGORICAL:
        return f"{label} '{value}'"
    if fmt is None:  # a flag
        return label if float(value) >= 0.5 else f"not {label}"
    text = f"{label} {fmt.format(float(value))}"
    return text.replace(" 1 years", " 1 year")


def _frame(X) -> pd.DataFrame:
    """The model's view of a features frame: numeric features as float (NaN where missing),
    categorical ones as strings with ``missing`` where not reported."""
    if not isinstance(X, pd.DataFrame):
        raise SupplyChainError("withdrawal models take the DataFrame of supplychain.risk.withdrawal_features")
    absent = [f for f in FEATURES if f not in X.columns]
    if absent:
        raise SupplyChainError(
            f"features missing from the frame (build it with supplychain.risk.withdrawal_features): {', '.join(absent)}"
        )
    out = pd.DataFrame(index=X.index)
    for f in NUMERIC:
        out[f] = pd.to_numeric(X[f].astype("object").where(X[f].notna(), np.nan), errors="coerce").astype("float64")
    for f in CATEGORICAL:
        out[f] = X[f].astype("object").where(X[f].notna(), "missing").astype(str)
    return out


def _labels(y) -> np.ndarray:
    y = np.asarray(y, dtype=float)
    if np.isnan(y).any():
        raise SupplyChainError("labels must be known (0 or 1) for every training row; the last wave has none")
    return (y > 0.5).astype(int)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return np.log(p / (1 - p))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _sentence(probability: float, parts: list[str], base: float | None = None) -> str:
    head = f"{probability:.0%} chance of leaving before the next wave" if not math.isnan(probability) else "no probability"
    if base is not None:
        head += f" (average company {base:.1%})"
    return head + (": " + "; ".join(parts) if parts else ": no sign above the average")


class WithdrawalModel(ClassifierMixin, BaseEstimator):
    """Calibrated, explainable probability that a company leaves the defense business before the
    next survey wave (see the module docstring for the design).

    Parameters
    ----------
    C : float
        Inverse strength of the L2 penalty of the logistic regression (smaller = smoother).
    n_knots : int
        Knots of each numeric feature's spline, spread over its training quantiles.
    calibration : {"sigmoid", None}
        Platt scaling fitted on forward-chained predictions (needs a ``wave`` column and two
        labelled waves; otherwise it is skipped and ``calibration_`` says why).
    random_state : int
        Seed of every random step (the fit itself is deterministic).

    Attributes (after ``fit``)
    --------------------------
    pipeline_ : sklearn Pipeline
    features_ : list of str — the features used (those constant or never reported in the
        training rows are left out, see ``dropped_features_``)
    calibration_ : dict — ``slope``, ``intercept`` and ``method`` (what was done, and why)
    training_ : dict — waves, rows, withdrawals
    metadata_ : dict — what :func:`save_model` writes beside the model
    """

    def __init__(self, C: float = 0.3, n_knots: int = 4, calibration: str | None = "sigmoid", random_state: int = 0):
        self.C = C
        self.n_knots = n_knots
        self.calibration = calibration
        self.random_state = random_state

    # -- fitting ---------------------------------------------------------------------------
    def _pipeline(self, features: list[str], n_rows: int) -> Pipeline:
        parts = []
        for f in features:
            if f in CATEGORICAL:
                levels = [*CATEGORICAL[f], "missing"]
                parts.append((f, OneHotEncoder(categories=[levels], handle_unknown="ignore", sparse_output=False), [f]))
                continue
            curve = Pipeline(
                [
                    ("impute", SimpleImputer(strategy="median")),
                    ("rank", QuantileTransformer(n_quantiles=max(2, min(100, n_rows)), random_state=self.random_state)),
                    ("spline", SplineTransformer(n_knots=self.n_knots, degree=2, knots="uniform", extrapolation="constant")),
                ]
            )
            parts.append((f, curve, [f]))
            parts.append((f"{f} missing", MissingIndicator(features="all"), [f]))
        columns = ColumnTransformer(parts, remainder="drop", verbose_feature_names_out=True)
        model = LogisticRegression(C=self.C, max_iter=5000, random_state=self.random_state)
        return Pipeline([("features", columns), ("model", model)])

    def _fit_pipeline(self, frame: pd.DataFrame, y: np.ndarray) -> tuple[Pipeline, list[str]]:
        used = []
        for f in FEATURES:
            col = frame[f]
            if f in CATEGORICAL:
                if col.nunique() > 1:
                    used.append(f)
            elif col.notna().any() and (col.nunique(dropna=False) > 1):
                used.append(f)
        if not used:
            raise SupplyChainError("no feature varies across the training rows: nothing to learn from")
        return self._pipeline(used, len(frame)).fit(frame, y), used

    def fit(self, X: pd.DataFrame, y) -> WithdrawalModel:
        frame = _frame(X)
        y = _labels(y)
        if y.min() == y.max():
            raise SupplyChainError(
                f"the training rows hold {'only withdrawals' if y.min() else 'no withdrawal'}: a model needs both outcomes"
            )
        self.pipeline_, self.features_ = self._fit_pipeline(frame, y)
        self.dropped_features_ = [f for f in FEATURES if f not in self.features_]
        self.classes_ = np.array([0, 1])
        waves = sorted(pd.unique(X["wave"])) if "wave" in X.columns else []
        self.calibration_ = self._calibrate(X, frame, y, waves)
        design = self.pipeline_[:-1].transform(frame)
        self.reference_ = design.mean(axis=0)
        self.base_rate_ = float(y.mean())
        self.training_ = {"waves": [int(w) for w in waves], "rows": int(len(y)), "withdrawals": int(y.sum())}
        from .. import __version__
        from ..db import SCHEMA_VERSION

        self.metadata_ = {
            "model_format": MODEL_FORMAT,
            "schema_version": SCHEMA_VERSION,
            "software": f"supplychain {__version__}",
            "features": list(FEATURES),
            "training_waves": self.training_["waves"],
            "training_rows": self.training_["rows"],
            "training_withdrawals": self.training_["withdrawals"],
            "params": {k: v for k, v in self.get_params().items()},
            "fitted_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "metrics": {},
        }
        return self

    def _calibrate(self, X, frame, y, waves) -> dict:
        none = {"slope": 1.0, "intercept": 0.0}
        if self.calibration is None:
            return {**none, "method": "none (calibration=None)"}
        if self.calibration != "sigmoid":
            raise SupplyChainError(f"calibration must be 'sigmoid' or None, got {self.calibration!r}")
        if len(waves) < 2:
            return {**none, "method": "none: one training wave, no out-of-time predictions to calibrate on"}
        wave = X["wave"].to_numpy()
        scores, truth = [], []
        for t in waves[1:]:
            past, now = wave < t, wave == t
            if y[past].min() == y[past].max():
                continue
            pipe, _ = self._fit_pipeline(frame[past], y[past])
            scores.append(pipe.decision_function(frame[now]))
            truth.append(y[now])
        if not scores or np.concatenate(truth).min() == np.concatenate(truth).max():
            return {**none, "method": "none: the forward-chained predictions hold no withdrawal to calibrate on"}
        platt = LogisticRegression(C=1e6, max_iter=1000).fit(np.concatenate(scores).reshape(-1, 1), np.concatenate(truth))
        return {
            "slope": float(platt.coef_[0, 0]),
            "intercept": float(platt.intercept_[0]),
            "method": f"sigmoid (Platt) on forward-chained predictions of waves {', '.join(str(int(w)) for w in waves[1:])}",
        }

    # -- prediction ------------------------------------------------------------------------
    def decision_function(self, X) -> np.ndarray:
        """Calibrated log-odds of withdrawal."""
        raw = self.pipeline_.decision_function(_frame(X))
        return self.calibration_["slope"] * raw + self.calibration_["intercept"]

    def predict_proba(self, X) -> np.ndarray:
        p = _sigmoid(self.decision_function(X))
        return np.column_stack([1 - p, p])

    def predict(self, X) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    # -- explanation -----------------------------------------------------------------------
    def contributions(self, X) -> pd.DataFrame:
        """Log-odds contribution of each feature for each row (columns: :data:`FEATURES`; 0 for
        a feature left out). For every row, ``base_logit_ + contributions.sum()`` equals the
        calibrated log-odds :meth:`decision_function` returns."""
        frame = _frame(X)
        columns = self.pipeline_.named_steps["features"]
        design = columns.transform(frame) - self.reference_
        weights = self.pipeline_.named_steps["model"].coef_[0] * self.calibration_["slope"]
        out = pd.DataFrame(0.0, index=X.index, columns=list(FEATURES))
        for name, where in columns.output_indices_.items():
            if name == "remainder" or where.start == where.stop:
                continue
            feature = name.removesuffix(" missing")
            out[feature] += design[:, where] @ weights[where]
        return out

    @property
    def base_logit_(self) -> float:
        """Calibrated log-odds of a company at the training means (the explanations' baseline)."""
        model = self.pipeline_.named_steps["model"]
        raw = float(model.intercept_[0] + self.reference_ @ model.coef_[0])
        return self.calibration_["slope"] * raw + self.calibration_["intercept"]

    def explain(self, X, top: int = 3) -> pd.DataFrame:
        """Per row: ``probability``, ``drivers`` (one sentence: the ``top`` features that raise
        the log-odds most, with the company's value and the contribution; the declared horizon
        counts with the declared intent) and ``top_drivers`` (their names)."""
        contrib = self.contributions(X)
        # the horizon is reported only with an intent: one driver, "intent 'considering' within 5 years"
        grouped = contrib.drop(columns="withdrawal_horizon_years")
        grouped["withdrawal_intent"] += contrib["withdrawal_horizon_years"]
        names_ = list(grouped.columns)
        c = grouped.to_numpy()
        p = _sigmoid(self.base_logit_ + c.sum(axis=1))
        base = float(_sigmoid(np.array(self.base_logit_)))
        frame = _frame(X)
        values = [frame[f].to_numpy(object) for f in names_]
        horizon = frame["withdrawal_horizon_years"].to_numpy()
        order = np.argsort(-c, axis=1, kind="stable")[:, :top]
        intent = names_.index("withdrawal_intent")
        sentences, names = [], []
        for i in range(len(c)):
            ks = [k for k in order[i] if c[i, k] > 0.05]
            words = []
            for k in ks:
                text = describe(names_[k], values[k][i])
                if k == intent and not np.isnan(horizon[i]):
                    text += f" within {horizon[i]:.0f} year{'s' if horizon[i] != 1 else ''}"
                words.append(f"{text} ({c[i, k]:+.1f})")
            sentences.append(_sentence(p[i], words, base))
            names.append([names_[k] for k in ks])
        return pd.DataFrame({"probability": p, "drivers": sentences, "top_drivers": names}, index=X.index)


#: The expert rule: (feature, condition in words, test on the features frame, points). Set by
#: judgement before looking at outcomes: declared intent is the strongest sign; then an old
#: owner with no successor; then the economics of the defense business (margin below the usual
#: 2 %, or a loss; margin falling by a point; defense a small part of sales; orders falling;
#: idle capacity; old equipment) and the investment the cybersecurity standard asks for.
EXPERT_POINTS = (
    ("withdrawal_intent", "declared intent 'decided'", lambda d: d["withdrawal_intent"] == "decided", 4),
    ("withdrawal_intent", "declared intent 'considering'", lambda d: d["withdrawal_intent"] == "considering", 2),
    ("withdrawal_horizon_years", "withdrawal within 2 years", lambda d: d["withdrawal_horizon_years"] <= 2, 1),
    ("owner_70_no_successor", "owner 70 or older with no successor", lambda d: d["owner_70_no_successor"] == 1, 2),
    ("defense_margin", "defense margin below 2%", lambda d: d["defense_margin"] < 0.02, 1),
    ("defense_margin", "defense business at a loss", lambda d: d["defense_margin"] < 0, 1),
    ("defense_margin_change", "defense margin down a point or more", lambda d: d["defense_margin_change"] <= -0.01, 1),
    ("defense_sales_share", "defense under 5% of sales", lambda d: d["defense_sales_share"] < 0.05, 1),
    ("order_trend", "orders decreasing", lambda d: d["order_trend"] == "decreasing", 1),
    ("capacity_use", "capacity use below 60%", lambda d: d["capacity_use"] < 0.6, 1),
    ("equipment_age_years", "equipment older than 25 years", lambda d: d["equipment_age_years"] > 25, 1),
    ("cyber_gap", "3 or more cyber-standard measures not met", lambda d: d["cyber_gap"] >= 3, 1),
)


class ExpertRule(ClassifierMixin, BaseEstimator):
    """The expert rule score (:data:`EXPERT_POINTS`): the baseline, and the fallback when there
    are too few withdrawals to learn from. ``fit`` only maps points to a probability (a
    one-variable logistic regression on the training rows); the points themselves are fixed."""

    def points(self, X) -> np.ndarray:
        frame = _frame(X)
        total = np.zeros(len(frame))
        for _, _, test, pts in EXPERT_POINTS:
            total += pts * test(frame).fillna(False).to_numpy(dtype=bool)
        return total

    def fit(self, X, y) -> ExpertRule:
        y = _labels(y)
        self.classes_ = np.array([0, 1])
        if y.min() == y.max():
            raise SupplyChainError("the expert rule's probability needs training rows with and without a withdrawal")
        self.scale_ = LogisticRegression(C=1e6, max_iter=1000).fit(self.points(X).reshape(-1, 1), y)
        return self

    def predict_proba(self, X) -> np.ndarray:
        p = self.scale_.predict_proba(self.points(X).reshape(-1, 1))[:, 1]
        return np.column_stack([1 - p, p])

    def explain(self, X, top: int = 3) -> pd.DataFrame:
        frame = _frame(X)
        # the conditions by points, highest first (stable), and which hold for each row
        rules = sorted(EXPERT_POINTS, key=lambda r: -r[3])
        hits = np.column_stack([test(frame).fillna(False).to_numpy(dtype=bool) for _, _, test, _ in rules])
        points = np.array([r[3] for r in rules])
        total = (hits * points).sum(axis=1)
        first = np.argsort(~hits, axis=1, kind="stable")[:, :top]
        p = self.predict_proba(X)[:, 1] if hasattr(self, "scale_") else np.full(len(frame), np.nan)
        words = [f"{r[1]} ({r[3]} pt{'s' if r[3] > 1 else ''})" for r in rules]
        sentences, names = [], []
        for i in range(len(frame)):
            ks = [k for k in first[i] if hits[i, k]]
            lead = f"{p[i]:.0%} chance of leaving before the next wave" if not math.isnan(p[i]) else "expert rule only"
            sentences.append(f"{lead}, {int(total[i])} points: " + ("; ".join(words[k] for k in ks) if ks else "no sign"))
            names.append([rules[k][0] for k in ks])
        return pd.DataFrame({"probability": p, "drivers": sentences, "top_drivers": names}, index=X.index)


class IntentBaseline(ClassifierMixin, BaseEstimator):
    """Declared withdrawal intent alone: the training withdrawal rate of each intent level
    (``none``, ``considering``, ``decided``, ``missing``), shrunk towards the overall rate by
    one pseudo-company so a level seen rarely does not get 0 or 1."""

    def fit(self, X, y) -> IntentBaseline:
        y = _labels(y)
        self.classes_ = np.array([0, 1])
        level = _frame(X)["withdrawal_intent"].to_numpy()
        self.base_rate_ = float(y.mean())
        self.rates_ = {}
        for lv in [*CATEGORICAL["withdrawal_intent"], "missing"]:
            m = level == lv
            self.rates_[lv] = float((y[m].sum() + self.base_rate_) / (m.sum() + 1))
        return self

    def predict_proba(self, X) -> np.ndarray:
        level = _frame(X)["withdrawal_intent"]
        p = level.map(self.rates_).fillna(self.base_rate_).to_numpy(dtype=float)
        return np.column_stack([1 - p, p])

    def explain(self, X, top: int = 3) -> pd.DataFrame:
        level = _frame(X)["withdrawal_intent"]
        p = self.predict_proba(X)[:, 1]
        sentences = [_sentence(pi, [describe("withdrawal_intent", lv)]) for pi, lv in zip(p, level)]
        return pd.DataFrame(
            {"probability": p, "drivers": sentences, "top_drivers": [["withdrawal_intent"]] * len(p)}, index=X.index
        )


# ---------------------------------------------------------------------------------------------
# validation

#: Edges of the calibration table's probability bins.
CALIBRATION_BINS = (0.0, 0.01, 0.02, 0.05, 0.10, 0.20, 0.50, 1.0)


@dataclass
class Validation:
    """Result of :func:`validate`.

    Attributes
    ----------
    predictions : DataFrame
        ``wave``, ``company_id``, ``withdraws`` (the label), ``method``, ``probability``: every
        out-of-time prediction.
    metrics : DataFrame
        ``method``, ``wave`` (``"all"`` = pooled), ``rows``, ``withdrawals``, ``roc_auc``,
        ``pr_auc``, ``brier``, ``log_loss``.
    calibration : DataFrame
        ``method``, ``bin``, ``rows``, ``predicted`` (mean probability), ``observed``
        (withdrawal rate), pooled over the waves.
    importance : DataFrame
        ``feature``, ``importance`` (mean fall of ROC-AUC when the feature is shuffled, on the
        last wave), ``std``.
    """

    predictions: pd.DataFrame
    metrics: pd.DataFrame
    calibration: pd.DataFrame
    importance: pd.DataFrame

    def summary(self) -> str:
        """One paragraph: the pooled metrics of each method."""
        pooled = self.metrics[self.metrics["wave"] == "all"]
        if pooled.empty:
            return "no wave could be validated (forward chaining needs two waves with outcomes)"
        first = pooled.iloc[0]
        waves = sorted(w for w in self.metrics["wave"].unique() if w != "all")
        lines = [
            f"forward-chained over waves {', '.join(map(str, waves))}: {int(first['rows'])} predictions, "
            f"{int(first['withdrawals'])} withdrawals"
        ]
        for _, r in pooled.iterrows():
            lines.append(f"  {r['method']:<13} ROC-AUC {r['roc_auc']:.3f}  PR-AUC {r['pr_auc']:.3f}  Brier {r['brier']:.4f}")
        return "\n".join(lines)


def _metrics(y: np.ndarray, p: np.ndarray) -> dict:
    both = 0 < y.sum() < len(y)
    return {
        "rows": len(y),
        "withdrawals": int(y.sum()),
        "roc_auc": roc_auc_score(y, p) if both else np.nan,
        "pr_auc": average_precision_score(y, p) if both else np.nan,
        "brier": brier_score_loss(y, p, pos_label=1) if len(y) else np.nan,
        "log_loss": log_loss(y, np.clip(p, 1e-12, 1 - 1e-12), labels=[0, 1]) if len(y) else np.nan,
    }


def calibration_table(y, p, bins=CALIBRATION_BINS) -> pd.DataFrame:
    """Rows, mean predicted probability and observed rate per probability bin (empty bins left out)."""
    frame = pd.DataFrame({"y": np.asarray(y, float), "p": np.asarray(p, float)})
    frame["bin"] = pd.cut(frame["p"], list(bins), include_lowest=True)
    out = frame.groupby("bin", observed=True).agg(rows=("y", "size"), predicted=("p", "mean"), observed=("y", "mean"))
    out = out.reset_index()
    out["bin"] = out["bin"].astype(str)
    return out


def baselines() -> dict[str, BaseEstimator]:
    """The two baselines, by the names :func:`validate` reports."""
    return {"expert rule": ExpertRule(), "intent alone": IntentBaseline()}


def validate(
    panel: pd.DataFrame, *, model: WithdrawalModel | None = None, n_repeats: int = 5, random_state: int = 0
) -> Validation:
    """Forward-chained validation of ``model`` (default ``WithdrawalModel(random_state=...)``)
    against the expert rule and declared intent alone, on ``panel`` (from
    :func:`~supplychain.risk.withdrawal_panel`: features with a ``wave`` and the label
    ``withdraws``). For each labelled wave ``t`` after the first, every method is fitted on the
    rows of the waves before ``t`` and predicts wave ``t``. See :class:`Validation`."""
    from sklearn.inspection import permutation_importance

    model = model if model is not None else WithdrawalModel(random_state=random_state)
    labelled = panel[panel["withdraws"].notna()]
    methods = {"model": model, **baselines()}
    waves = sorted(pd.unique(labelled["wave"]))
    preds, last = [], None
    for t in waves[1:]:
        train, test = labelled[labelled["wave"] < t], labelled[labelled["wave"] == t]
        y = _labels(train["withdraws"])
        if y.min() == y.max():
            continue
        for name, est in methods.items():
            fitted = clone(est).fit(train, y)
            preds.append(
                pd.DataFrame(
                    {
                        "wave": int(t),
                        "company_id": test["company_id"].to_numpy(),
                        "withdraws": test["withdraws"].to_numpy(dtype=float),
                        "method": name,
                        "probability": fitted.predict_proba(test)[:, 1],
                    }
                )
            )
            if name == "model":
                last = (fitted, test)
    columns = ["wave", "company_id", "withdraws", "method", "probability"]
    predictions = pd.concat(preds, ignore_index=True) if preds else pd.DataFrame(columns=columns)
    rows, calib = [], []
    for name in methods:
        mine = predictions[predictions["method"] == name]
        for t, g in mine.groupby("wave", sort=True):
            rows.append({"method": name, "wave": t, **_metrics(g["withdraws"].to_numpy(), g["probability"].to_numpy())})
        if len(mine):
            rows.append({"method": name, "wave": "all", **_metrics(mine["withdraws"].to_numpy(), mine["probability"].to_numpy())})
            calib.append(calibration_table(mine["withdraws"], mine["probability"]).assign(method=name))
    metrics = pd.DataFrame(rows, columns=["method", "wave", "rows", "withdrawals", "roc_auc", "pr_auc", "brier", "log_loss"])
    calibration = (
        pd.concat(calib, ignore_index=True)[["method", "bin", "rows", "predicted", "observed"]]
        if calib
        else pd.DataFrame(columns=["method", "bin", "rows", "predicted", "observed"])
    )
    importance = pd.DataFrame(columns=["feature", "importance", "std"])
    if last is not None:
        fitted, test = last
        y = test["withdraws"].to_numpy(dtype=float)
        if 0 < y.sum() < len(y):
            X = test[list(FEATURES)]
            r = permutation_importance(
                fitted, X, y.astype(int), scoring="roc_auc", n_repeats=n_repeats, random_state=random_state
            )
            importance = (
                pd.DataFrame({"feature": list(FEATURES), "importance": r.importances_mean, "std": r.importances_std})
                .sort_values(["importance", "feature"], ascending=[False, True], kind="stable")
                .reset_index(drop=True)
            )
    return Validation(predictions, metrics, calibration, importance)


# ---------------------------------------------------------------------------------------------
# persistence


def save_model(model: WithdrawalModel, path, *, metrics: dict | None = None, con=None) -> Path:
    """Write a fitted :class:`WithdrawalModel` to ``path`` with skops (no pickle), its metadata
    (training waves, features, schema version, software, parameters and ``metrics`` if given)
    inside. ``con``: the database it was fitted on, whose audit journal records the fit (with
    the file's hash). Returns the path."""
    import skops.io as sio

    if not hasattr(model, "pipeline_"):
        raise SupplyChainError("only a fitted WithdrawalModel can be saved (call fit first)")
    if metrics is not None:
        model.metadata_["metrics"] = {
            str(k): (None if v is None or (isinstance(v, float) and math.isnan(v)) else v) for k, v in metrics.items()
        }
    path = Path(path)
    sio.dump(model, path)
    if con is not None:
        from .. import audit

        meta = model.metadata_
        audit.record(
            con,
            "model_fit",
            str(path),
            parameters={
                k: meta[k] for k in ("model_format", "training_waves", "training_rows", "params", "metrics") if k in meta
            },
            outputs={str(path): audit.digest(path)},
        )
    return path


#: Types a saved withdrawal model may contain beyond what skops trusts by default.
_TRUSTED = {
    "supplychain.risk.withdrawal_model.WithdrawalModel",
    "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.impute._base.MissingIndicator",
    "sklearn.impute._base.SimpleImputer",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing._data.QuantileTransformer",
    "sklearn.preprocessing._encoders.OneHotEncoder",
    "sklearn.preprocessing._polynomial.SplineTransformer",
    "scipy.interpolate._bsplines.BSpline",
    "scipy._lib.array_api_compat.numpy._aliases.asarray",  # held by BSpline (scipy >= 1.15)
    "builtins.slice",
    "numpy.dtype",
}


def load_model(path) -> WithdrawalModel:
    """Read a model written by :func:`save_model`. Refuses (with a :class:`SupplyChainError`
    saying why) a file that is not a skops model, one holding any type outside a withdrawal
    model's own, and one fitted for another schema version, model format or feature set."""
    import skops.io as sio

    from ..db import SCHEMA_VERSION

    path = Path(path)
    if not path.is_file():
        raise SupplyChainError(f"{path}: no such model file")
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as e:  # not a zip, or not a skops archive
        raise SupplyChainError(f"{path}: not a saved withdrawal model (skops could not read it: {e})") from None
    unexpected = sorted(set(untrusted) - _TRUSTED)
    if unexpected:
        raise SupplyChainError(f"{path}: refused, it holds types a withdrawal model does not: {', '.join(unexpected)}")
    model = sio.load(path, trusted=sorted(set(untrusted)))
    if not isinstance(model, WithdrawalModel):
        raise SupplyChainError(f"{path}: holds a {type(model).__name__}, not a WithdrawalModel")
    meta = getattr(model, "metadata_", {})
    problems = []
    if meta.get("schema_version") != SCHEMA_VERSION:
        problems.append(f"it was fitted for database schema version {meta.get('schema_version')!r}, this is {SCHEMA_VERSION!r}")
    if meta.get("model_format") != MODEL_FORMAT:
        problems.append(f"its model format is {meta.get('model_format')!r}, this software reads {MODEL_FORMAT!r}")
    if list(meta.get("features", [])) != list(FEATURES):
        problems.append(f"its features differ (it has {len(meta.get('features', []))}, this software builds {len(FEATURES)})")
    if problems:
        raise SupplyChainError(f"{path}: cannot be used: " + "; ".join(problems) + ". Refit it on this database.")
    return model
