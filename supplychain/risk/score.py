"""Compute the graph analyses of a wave and keep them in the database (``supplychain score``)."""

from __future__ import annotations

import logging
import os
import time

import pandas as pd

from .. import audit
from ..db import registered, run, transaction
from ..graph import _check_wave, quality_findings, supply_network
from ..options import load_options
from ..survey.schema import tables
from .esri import esri
from .foreign import country_concentration, foreign_exposure
from .ownership import foreign_control
from .propagation import criticality, hidden_convergence
from .registry import register
from .sourcing import sourcing
from .withdrawal import early_warning

__all__ = ["score", "RESULT_TABLES"]

log = logging.getLogger(__name__)

#: The tables :func:`score` writes, in order.
RESULT_TABLES = (
    "sourcing",
    "hidden_convergence",
    "criticality",
    "esri",
    "foreign_exposure",
    "country_concentration",
    "foreign_control",
    "early_warning",
    "graph_finding",
)


def score(con, *, wave: int, with_esri: bool = True, progress: bool = False, model=None, config=None) -> dict[str, pd.DataFrame]:
    """Run sourcing, hidden convergence, criticality, ESRI (unless ``with_esri`` is false),
    foreign exposure, country concentration and foreign control (with the configured country
    lists and thresholds), the withdrawal early-warning list (a model fitted on the earlier
    waves, or the saved ``model`` given, or the expert rule: see
    :func:`~supplychain.risk.withdrawal`) and the graph's data-quality findings for ``wave``,
    and store each in its table (replacing that wave's earlier results, in one transaction); then
    write the wave's risk register from them (:func:`~supplychain.risk.register`: every
    archetype, triage carried). ``config`` is a site configuration (country lists, register
    rules). Returns the results by table name, each with ``attrs["seconds"]``; the register
    under ``"finding"``."""
    wave = _check_wave(con, wave)
    steps = [name for name in RESULT_TABLES if with_esri or name != "esri"]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(steps) + 2, desc="score", unit="step")
    results: dict[str, pd.DataFrame] = {}

    def timed(name, fn):
        if bar is not None:
            bar.set_postfix_str(name)
        t = time.perf_counter()
        out = fn()
        seconds = time.perf_counter() - t
        log.info("%s: %.1f s", name, seconds)
        if bar is not None:
            bar.update(1)
        return out, seconds

    network, _ = timed("graph", lambda: supply_network(con, wave=wave))
    compute = {
        "sourcing": lambda: sourcing(con, wave=wave),
        "hidden_convergence": lambda: hidden_convergence(network=network).drop(columns=["paths"]),
        "criticality": lambda: criticality(network=network),
        "esri": lambda: esri(con, wave=wave),
        "foreign_exposure": lambda: foreign_exposure(con, network=network, config=config),
        "country_concentration": lambda: country_concentration(con, network=network, config=config),
        "foreign_control": lambda: foreign_control(con, wave=wave, config=config),
        "early_warning": lambda: early_warning(con, wave=wave, criticality_scores=results["criticality"], model=model),
        "graph_finding": lambda: quality_findings(network),
    }
    for name in steps:
        results[name], seconds = timed(name, compute[name])
        results[name].attrs["seconds"] = seconds
    schema = tables()
    with transaction(con):
        for name, frame in results.items():
            cols = [c.name for c in schema[name].columns if c.name != "wave"]
            run(con, f'DELETE FROM "{name}" WHERE wave = ?', [wave])
            with registered(con, "_sc_result", frame[cols]):
                run(con, f'INSERT INTO "{name}" (wave, {", ".join(cols)}) SELECT ?, * FROM _sc_result', [wave])
    with audit.part_of("score"):
        reg, seconds = timed(
            "register", lambda: register(con, wave=wave, network=network, results=results, config=config, model=model)
        )
    reg.attrs["seconds"] = seconds
    results["finding"] = reg
    audit.record(
        con,
        "score",
        f"wave {wave}",
        parameters={
            "wave": wave,
            "with_esri": with_esri,
            "model": None if model is None else str(model) if isinstance(model, str | os.PathLike) else type(model).__name__,
            "config": load_options(config).label,
        },
        inputs=lambda: {
            "submissions": audit.submissions_digest(con, wave),
            **({str(model): audit.digest(model)} if isinstance(model, str | os.PathLike) else {}),
        },
        outputs=lambda: {name: {"rows": len(f), "sha256": audit.frame_digest(f)} for name, f in results.items()},
    )
    if bar is not None:
        bar.close()
    return results
