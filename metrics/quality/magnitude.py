"""Magnitude slips: a value about 10,000× (元 typed into a 万元 field) or 100× (a rate typed as a fraction) off its
reference, with the likely corrected value."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from metrics.catalog import CatalogError, FieldDef, check_keys, number


@dataclass(frozen=True)
class Slip:
    factor: float                       # value ≈ factor × reference
    label_zh: str                       # what the hospital probably did (疑似按「元」填入「万元」栏)
    kinds: tuple[str, ...] = ()         # applies to fields of any of these catalog kinds …
    units: tuple[str, ...] = ()         # … or of any of these units

    def applies(self, f: FieldDef) -> bool:
        """True when the slip can happen in field `f` (its kind or its unit is listed)."""
        return f.kind in self.kinds or f.unit in self.units


@dataclass(frozen=True)
class MagnitudeConfig:
    tolerance_log10: float              # |log10(value / reference) − log10(factor)| ≤ this
    min_peer_n: int                     # the peer median is the reference from this many facilities on
    min_history_months: int             # else the facility's own median of this many previous months
    slips: tuple[Slip, ...]


def parse_magnitude(obj: Any, where: str) -> MagnitudeConfig:
    """The `magnitude:` block of outliers.yaml."""
    keys = {"tolerance_log10", "min_peer_n", "min_history_months", "slips"}
    check_keys(obj, keys, keys, where)
    tol = float(number(obj["tolerance_log10"], f"{where}.tolerance_log10"))
    if not 0 < tol < 1:
        raise CatalogError(f"{where}.tolerance_log10: must be between 0 and 1 (a factor of 10 either side)")
    for k in ("min_peer_n", "min_history_months"):
        if not isinstance(obj[k], int) or isinstance(obj[k], bool) or obj[k] < 1:
            raise CatalogError(f"{where}.{k}: must be a whole number ≥ 1")
    if not isinstance(obj["slips"], list):
        raise CatalogError(f"{where}.slips: expected a list")
    slips = []
    for i, s in enumerate(obj["slips"]):
        sw = f"{where}.slips[{i}]"
        check_keys(s, {"factor", "label_zh", "kinds", "units"}, {"factor", "label_zh"}, sw)
        factor = float(number(s["factor"], f"{sw}.factor"))
        if factor <= 0 or abs(np.log10(factor)) <= 2 * tol:
            raise CatalogError(f"{sw}.factor: must be positive and far enough from 1 to be told apart "
                               f"(|log10 factor| > 2 × tolerance_log10)")
        kinds, units = s.get("kinds") or [], s.get("units") or []
        if not isinstance(kinds, list) or not isinstance(units, list) or not (kinds or units):
            raise CatalogError(f"{sw}: give `kinds` and/or `units` as lists (the fields the slip can happen in)")
        slips.append(Slip(factor, str(s["label_zh"]), tuple(map(str, kinds)), tuple(map(str, units))))
    return MagnitudeConfig(tol, obj["min_peer_n"], obj["min_history_months"], tuple(slips))


def match_slip(value: float, reference: float, f: FieldDef, cfg: MagnitudeConfig) -> Slip | None:
    """The first slip of `cfg` that `value` against `reference` looks like in field `f`, or None."""
    if not (value > 0 and reference > 0):
        return None
    q = np.log10(value / reference)
    for s in cfg.slips:
        if s.applies(f) and abs(q - np.log10(s.factor)) <= cfg.tolerance_log10:
            return s
    return None


def match_slips(values: np.ndarray, references: np.ndarray, fields: Sequence[FieldDef],
                cfg: MagnitudeConfig) -> np.ndarray:
    """Vectorised match_slip over a facilities × fields array: index of the matching slip, −1 for none."""
    out = np.full(values.shape, -1, dtype=np.int64)
    with np.errstate(all="ignore"):
        ok = (values > 0) & (references > 0)
        q = np.where(ok, np.log10(np.where(ok, values, 1.0) / np.where(ok, references, 1.0)), np.nan)
    for i, s in enumerate(cfg.slips):
        cols = np.array([s.applies(f) for f in fields], dtype=bool)
        if not cols.any():
            continue
        hit = ok & cols[None, :] & (np.abs(q - np.log10(s.factor)) <= cfg.tolerance_log10) & (out < 0)
        out[hit] = i
    return out


def slip_multiple_zh(ratio: float) -> str:
    """'约 9987 倍' for a ratio ≥ 1, '约 1/100' below 1 — how far the value is from its reference."""
    if ratio >= 1:
        return f"约 {ratio:.0f} 倍"
    return f"约 1/{1 / ratio:.0f}"

