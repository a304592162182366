"""Risk analyses (DESIGN §5): plain functions over the database that return tidy DataFrames with
a stable sort order and the evidence behind each row.

>>> import supplychain as sc
>>> sorted(n for n in ("sourcing", "hidden_convergence", "criticality") if hasattr(sc.risk, n))
['criticality', 'hidden_convergence', 'sourcing']
"""

from .esri import esri
from .foreign import country_concentration, exposure_by_tier, foreign_exposure
from .ownership import foreign_control, ownership_chains
from .propagation import criticality, hidden_convergence
from .sourcing import sourcing
from .withdrawal import withdrawal_features, withdrawal_labels

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
    "withdrawal_features",
    "withdrawal_labels",
]
