"""supplychain: defense supply-chain risk analytics on survey data, in DuckDB.

>>> import supplychain as sc
>>> con = sc.connect()                      # in memory; sc.connect("supplychain.duckdb") for a file
>>> res = sc.ingest(con, "data/sample")     # doctest: +SKIP
"""

__version__ = "0.1.0"

from . import access, audit, datasets, exceptions, export, graph, options, plan, report, risk, scenario, screening, summary  # noqa: E402
from .db import connect  # noqa: E402
from .graph import build_graph, supply_network  # noqa: E402
from .survey.load import IngestResult, ingest  # noqa: E402

__all__ = [
    "connect",
    "ingest",
    "IngestResult",
    "build_graph",
    "supply_network",
    "graph",
    "risk",
    "scenario",
    "plan",
    "report",
    "screening",
    "summary",
    "options",
    "datasets",
    "exceptions",
    "access",
    "audit",
    "export",
    "__version__",
]
