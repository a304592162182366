"""Risk analyses (DESIGN §5): plain functions over the database that return tidy DataFrames with
a stable sort order and the evidence behind each row.

>>> import supplychain as sc
>>> sorted(n for n in ("sourcing", "hidden_convergence", "criticality") if hasattr(sc.risk, n))
['criticality', 'hidden_convergence', 'sourcing']
"""

from .archetypes import aging_facilities, cyber_posture, data_quality, financial_fragility, hazard_concentration, succession
from .esri import esri
from .foreign import country_concentration, exposure_by_tier, foreign_exposure
from .ownership import foreign_control, ownership_chains
from .propagation import criticality, hidden_convergence
from .registry import diff, finding_history, findings, register, set_finding
from .sourcing import sourcing
from .timing import time_to_recover
from .withdrawal import early_warning, withdrawal, withdrawal_features, withdrawal_labels, withdrawal_panel

# scikit-learn loads only when the withdrawal model is used
_MODEL_NAMES = ("WithdrawalModel", "ExpertRule", "IntentBaseline", "Validation", "validate", "save_model", "load_model")

__all__ = [
    "sourcing",
    "hidden_convergence",
    "criticality",
    "esri",
    "foreign_exposure",
    "exposure_by_tier",
    "country_concentration",
    "ownership_chains",
    "foreign_control",
    "time_to_recover",
    "withdrawal_features",
    "withdrawal_labels",
    "withdrawal_panel",
    "withdrawal",
    "early_warning",
    "cyber_posture",
    "aging_facilities",
    "succession",
    "financial_fragility",
    "hazard_concentration",
    "data_quality",
    "register",
    "findings",
    "set_finding",
    "finding_history",
    "diff",
    *_MODEL_NAMES,
]


def __getattr__(name):
    if name in _MODEL_NAMES:
        from . import withdrawal_model

        return getattr(withdrawal_model, name)
    raise AttributeError(f"module 'supplychain.risk' has no attribute {name!r}")
