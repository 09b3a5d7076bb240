"""Potency factors (units ↔ mass) and combination rules (which component the DDD refers to), as data."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from metrics.ddd.files import DATA_DIR, DDDConfigError, check_keys, norm_text, read_yaml, to_decimal
from metrics.ddd.tables import valid_code

_POT_KEYS = {"atc", "name_zh", "units_per_mg", "basis_zh", "source", "confidence"}
_COMB_KEYS = {"atc", "ddd_atc", "name_zh", "components_zh", "refers_to", "default_ratio", "known_totals", "source"}
CONFIDENCE = ("label", "assumption", "verified")


@dataclass(frozen=True)
class Potency:
    id: str
    atc: str
    name_zh: str
    units_per_mg: Decimal
    basis_zh: str
    source: str
    confidence: str

    def mu_to_g(self, mu: Decimal) -> Decimal:
        """Million units → grams of the substance the DDD is expressed in."""
        return mu * Decimal(1_000_000) / self.units_per_mg / Decimal(1000)

    def g_to_mu(self, g: Decimal) -> Decimal:
        """Grams → million units."""
        return g * Decimal(1000) * self.units_per_mg / Decimal(1_000_000)


@dataclass(frozen=True)
class Combination:
    id: str
    atc: str
    ddd_atc: str | None
    name_zh: str
    components_zh: tuple[str, ...]
    refers_to: str
    default_ratio: tuple[Decimal, ...] | None
    known_totals: dict[Decimal, Decimal]
    source: str

    @property
    def index(self) -> int:
        """Position of the referred component in components_zh (the order labels list amounts in)."""
        return self.components_zh.index(self.refers_to)

    @property
    def ddd_code(self) -> str:
        """The code whose DDD counts this combination."""
        return self.ddd_atc or self.atc


def parse_ratio(text: str, where: str) -> tuple[Decimal, ...]:
    """"8:1" → (8, 1); every part positive."""
    parts = norm_text(text).split(":")
    if len(parts) < 2:
        raise DDDConfigError(f"{where}: expected a ratio like '8:1', got {text!r}")
    return tuple(to_decimal(p, where) for p in parts)


def _mapping(path: Path, top: str, *, require: bool) -> dict:
    doc = read_yaml(path)
    check_keys(doc, {"version", top}, {"version", top} if require else {top}, str(path))
    items = doc[top] or {}
    if not isinstance(items, dict):
        raise DDDConfigError(f"{path}: {top}: expected a mapping id → entry")
    return items


def load_potency(path: Path | None = None, extend: Path | None = None) -> dict[str, Potency]:
    """Read potency.yaml (+ potency.extend.yaml, merged by id)."""
    path = Path(path or DATA_DIR / "potency.yaml")
    out: dict[str, Potency] = {}
    for p, require in ((path, True), (extend, False)):
        if p is None:
            continue
        for pid, f in _mapping(Path(p), "factors", require=require).items():
            where = f"{p}: factors.{pid}"
            check_keys(f, _POT_KEYS, {"atc", "units_per_mg", "source"}, where)
            if not valid_code(str(f["atc"])):
                raise DDDConfigError(f"{where}.atc: not an ATC code or local code: {f['atc']!r}")
            conf = f.get("confidence", "label")
            if conf not in CONFIDENCE:
                raise DDDConfigError(f"{where}.confidence: must be one of {list(CONFIDENCE)}, got {conf!r}")
            out[str(pid)] = Potency(str(pid), str(f["atc"]), str(f.get("name_zh", "")),
                                    to_decimal(f["units_per_mg"], f"{where}.units_per_mg"),
                                    str(f.get("basis_zh", "")), str(f["source"]), conf)
    return out


def load_combinations(path: Path | None = None, extend: Path | None = None) -> dict[str, Combination]:
    """Read combinations.yaml (+ combinations.extend.yaml, merged by id)."""
    path = Path(path or DATA_DIR / "combinations.yaml")
    out: dict[str, Combination] = {}
    for p, require in ((path, True), (extend, False)):
        if p is None:
            continue
        for cid, c in _mapping(Path(p), "combinations", require=require).items():
            where = f"{p}: combinations.{cid}"
            check_keys(c, _COMB_KEYS, {"atc", "components_zh", "refers_to", "source"}, where)
            for k in ("atc", "ddd_atc"):
                if c.get(k) is not None and not valid_code(str(c[k])):
                    raise DDDConfigError(f"{where}.{k}: not an ATC code or local code: {c[k]!r}")
            comps = c["components_zh"]
            if not isinstance(comps, list) or len(comps) < 2 or not all(isinstance(x, str) for x in comps):
                raise DDDConfigError(f"{where}.components_zh: expected a list of at least two names")
            if c["refers_to"] not in comps:
                raise DDDConfigError(f"{where}.refers_to: {c['refers_to']!r} is not one of components_zh {comps}")
            ratio = None
            if c.get("default_ratio") is not None:
                ratio = parse_ratio(str(c["default_ratio"]), f"{where}.default_ratio")
                if len(ratio) != len(comps):
                    raise DDDConfigError(f"{where}.default_ratio: {len(ratio)} parts for {len(comps)} components")
            known = c.get("known_totals") or {}
            if not isinstance(known, dict):
                raise DDDConfigError(f"{where}.known_totals: expected a mapping total g → component g")
            totals = {}
            for t, a in known.items():
                tw = f"{where}.known_totals.{t}"
                td, ad = to_decimal(t, tw), to_decimal(a, tw)
                if ad > td:
                    raise DDDConfigError(f"{tw}: component {a} exceeds the total")
                totals[td] = ad
            out[str(cid)] = Combination(str(cid), str(c["atc"]), c.get("ddd_atc"), str(c.get("name_zh", "")),
                                        tuple(comps), str(c["refers_to"]), ratio, totals, str(c["source"]))
    return out
