"""Configuration that is policy, not code: countries of concern and allies, material classes,
ownership thresholds, screening thresholds.

The defaults ship with the package (``supplychain/config/defaults.toml``, documented there). A
site overrides them with its own TOML file, key by key — named by ``config=`` where a function
takes it, or by the ``SUPPLYCHAIN_CONFIG`` environment variable — and every output built from
a list names the configuration it used (:attr:`Options.label`).

>>> opts = load_options()
>>> opts.home, "CN" in opts.concern, "US" in opts.allied
('JP', True, True)
>>> opts.country_group("CN"), opts.country_group("US"), opts.country_group("JP"), opts.country_group("unknown")
('concern', 'allied', 'domestic', 'unknown')
"""

from __future__ import annotations

import copy
import functools
import os
import tomllib
import types
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from .exceptions import SupplyChainError

__all__ = ["Options", "load_options", "CONFIG_ENV"]

#: Environment variable naming a site configuration file.
CONFIG_ENV = "SUPPLYCHAIN_CONFIG"

#: The value standing for an origin country that was not reported.
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Options:
    """The configuration in force. ``label`` names it (the defaults' name, plus the site file)."""

    label: str
    home: str
    concern: frozenset[str]
    allied: frozenset[str]
    material_classes: dict[str, tuple[str, ...]]
    control: float
    significant_influence: float
    fefta_notification: float
    screening_review: float
    screening_strong: float
    switch_days: float = 90.0
    requalification_months: float = 12.0
    #: The ``[register]`` section: likelihoods, impacts and thresholds of the risk register.
    register: types.MappingProxyType = field(default_factory=lambda: types.MappingProxyType({}))
    #: The ``[report]`` section: marking, language, table sizes (see :mod:`supplychain.report`).
    report: types.MappingProxyType = field(default_factory=lambda: types.MappingProxyType({}))
    #: The ``[audit]`` section: the user recorded and where the journal is (:mod:`supplychain.audit`).
    audit: types.MappingProxyType = field(default_factory=lambda: types.MappingProxyType({}))
    #: Compartments this reader may see (``[access]``); None sees them all (:mod:`supplychain.access`).
    compartments: frozenset[str] | None = None

    def country_group(self, country: str | None) -> str:
        """``domestic``, ``concern``, ``allied``, ``other`` or ``unknown`` (not reported)."""
        if country is None or country == UNKNOWN or country != country:
            return UNKNOWN
        if country == self.home:
            return "domestic"
        if country in self.concern:
            return "concern"
        if country in self.allied:
            return "allied"
        return "other"

    def hs_prefixes(self, names) -> tuple[str, ...]:
        """HS-code prefixes of material-class names and HS codes (dots and spaces dropped)."""
        out: list[str] = []
        for name in [names] if isinstance(names, str) else names:
            if name in self.material_classes:
                out.extend(self.material_classes[name])
                continue
            digits = str(name).replace(".", "").replace(" ", "")
            if not digits.isdigit():
                raise SupplyChainError(
                    f"parts: expected a material class ({', '.join(sorted(self.material_classes))}) or an HS-code prefix, got {name!r}"
                )
            out.append(digits)
        return tuple(out)


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _read(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as e:
        raise SupplyChainError(f"configuration file {path}: cannot be read ({e.strerror})") from None
    except tomllib.TOMLDecodeError as e:
        raise SupplyChainError(f"configuration file {path}: not valid TOML ({e})") from None


def _codes(raw, key: str, where: str) -> frozenset[str]:
    if not isinstance(raw, list) or not all(isinstance(c, str) and len(c) == 2 and c.isupper() for c in raw):
        raise SupplyChainError(f"{where}: countries.{key} must be a list of ISO 3166-1 alpha-2 codes, got {raw!r}")
    return frozenset(raw)


def _fraction(raw, key: str, where: str) -> float:
    if not isinstance(raw, int | float) or not 0 <= raw <= 1:
        raise SupplyChainError(f"{where}: ownership.{key} must be a fraction in [0, 1], got {raw!r}")
    return float(raw)


@functools.cache
def _parsed_defaults() -> dict:
    return tomllib.loads(resources.files("supplychain.config").joinpath("defaults.toml").read_text("utf-8"))


def _defaults() -> dict:
    """The shipped defaults (parsed once; a deep copy, so merging a site file cannot change them)."""
    return copy.deepcopy(_parsed_defaults())


def load_options(config: str | Path | Options | None = None) -> Options:
    """The defaults, overridden by the site file ``config`` (or ``$SUPPLYCHAIN_CONFIG``).

    Passing an :class:`Options` returns it unchanged, so functions can take either.
    """
    if isinstance(config, Options):
        return config
    raw = _defaults()
    label = raw.get("name", "defaults")
    site = config if config is not None else os.environ.get(CONFIG_ENV) or None
    where = "defaults.toml"
    if site is not None:
        path = Path(site)
        over = _read(path)
        raw = _merge(raw, over)
        label = f"{label} + {over.get('name', path.name)}"
        where = str(path)
    countries, own, scr = raw.get("countries", {}), raw.get("ownership", {}), raw.get("screening", {})
    concern = _codes(countries.get("concern", []), "concern", where)
    allied = _codes(countries.get("allied", []), "allied", where)
    both = sorted(concern & allied)
    if both:
        raise SupplyChainError(f"{where}: {both} listed both as countries of concern and as allied")
    classes = {}
    for name, prefixes in raw.get("material_classes", {}).items():
        if not isinstance(prefixes, list) or not all(isinstance(p, str) and p.replace(".", "").isdigit() for p in prefixes):
            raise SupplyChainError(f"{where}: material_classes.{name} must be a list of HS-code prefixes, got {prefixes!r}")
        classes[name] = tuple(p.replace(".", "") for p in prefixes)
    thresholds = {k: _fraction(own.get(k), k, where) for k in ("control", "significant_influence", "fefta_notification")}
    if not thresholds["fefta_notification"] <= thresholds["significant_influence"] <= thresholds["control"]:
        raise SupplyChainError(
            f"{where}: ownership thresholds must satisfy fefta_notification <= significant_influence <= control"
        )
    review, strong = scr.get("review"), scr.get("strong")
    if not all(isinstance(v, int | float) and 0 <= v <= 100 for v in (review, strong)) or review > strong:
        raise SupplyChainError(f"{where}: screening.review and screening.strong must be scores in [0, 100], review <= strong")
    timing = raw.get("timing", {})
    switch, requal = timing.get("switch_days", 90), timing.get("requalification_months", 12)
    if not all(isinstance(v, int | float) and v >= 0 for v in (switch, requal)):
        raise SupplyChainError(f"{where}: timing.switch_days and timing.requalification_months must be numbers >= 0")
    register = _register(raw.get("register", {}), where)
    report = _report(raw.get("report", {}), where)
    audit = _audit(raw.get("audit", {}), where)
    compartments = _compartments(raw.get("access", {}), where)
    return Options(
        label=label,
        home=str(countries.get("home", "JP")),
        concern=concern,
        allied=allied,
        material_classes=classes,
        **thresholds,
        screening_review=float(review),
        screening_strong=float(strong),
        switch_days=float(switch),
        requalification_months=float(requal),
        register=register,
        report=report,
        audit=audit,
        compartments=compartments,
    )


def _register(section, where: str) -> types.MappingProxyType:
    """The ``[register]`` section checked: only the keys the defaults define, each a number
    >= 0; the severity bands in order."""
    known = _parsed_defaults().get("register", {})
    unknown = sorted(set(section) - set(known))
    if unknown:
        raise SupplyChainError(f"{where}: unknown register setting(s) {unknown}; the settings are {sorted(known)}")
    bad = {k: v for k, v in section.items() if isinstance(v, bool) or not isinstance(v, int | float) or v < 0}
    if bad:
        raise SupplyChainError(f"{where}: register settings must be numbers >= 0, got {bad}")
    out = {k: float(v) for k, v in section.items()}
    if not out["critical"] >= out["high"] >= out["medium"]:
        raise SupplyChainError(f"{where}: register bands must satisfy critical >= high >= medium")
    return types.MappingProxyType(out)


def _audit(section, where: str) -> types.MappingProxyType:
    """The ``[audit]`` section checked: ``user`` and ``journal``, text."""
    known = _parsed_defaults().get("audit", {})
    unknown = sorted(set(section) - set(known))
    if unknown:
        raise SupplyChainError(f"{where}: unknown audit setting(s) {unknown}; the settings are {sorted(known)}")
    out = {**known, **section}
    bad = {k: v for k, v in out.items() if not isinstance(v, str)}
    if bad:
        raise SupplyChainError(f"{where}: audit settings must be text, got {bad}")
    return types.MappingProxyType(out)


def _compartments(section, where: str) -> frozenset[str] | None:
    """The ``[access]`` section: a list of compartment codes, ``"*"`` for all (None)."""
    unknown = sorted(set(section) - {"compartments"})
    if unknown:
        raise SupplyChainError(f"{where}: unknown access setting(s) {unknown}; the setting is 'compartments'")
    values = section.get("compartments", ["*"])
    if not isinstance(values, list) or not all(isinstance(v, str) and v.strip() for v in values):
        raise SupplyChainError(f'{where}: access.compartments must be a list of compartment codes or ["*"], got {values!r}')
    if "*" in values:
        return None
    return frozenset(v.strip() for v in values)


def _report(section, where: str) -> types.MappingProxyType:
    """The ``[report]`` section checked: known keys only, a text marking, ``ja`` or ``en``,
    whole numbers >= 0 for the sizes."""
    known = _parsed_defaults().get("report", {})
    unknown = sorted(set(section) - set(known))
    if unknown:
        raise SupplyChainError(f"{where}: unknown report setting(s) {unknown}; the settings are {sorted(known)}")
    out = {**known, **section}
    if not isinstance(out["marking"], str):
        raise SupplyChainError(f'{where}: report.marking must be text (e.g. "取扱注意" or "unmarked"), got {out["marking"]!r}')
    if out["lang"] not in ("ja", "en"):
        raise SupplyChainError(f'{where}: report.lang must be "ja" or "en", got {out["lang"]!r}')
    for key in ("top_findings", "table_rows", "network_max_nodes", "lock_wait"):
        v = out[key]
        if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
            raise SupplyChainError(f"{where}: report.{key} must be a number >= 0, got {v!r}")
    return types.MappingProxyType(out)
