"""Antibiotic use indicators (rates, AUD, 品种 count) from counts, with targets keyed by tier × type × specialty."""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from metrics.catalog import CatalogError, check_keys, load_yaml
from metrics.prescribing import DATA_DIR
from metrics.prescribing._common import (FAIL, NO_TARGET_ZH, PASS, UNDEFINED_ZH, Number, cfg_int, cfg_num, cfg_op,
                                         compare, dec, fmt, quantize, ratio)

TARGETS_FILE = DATA_DIR / "targets.yaml"
OK, UNDEFINED, MISSING = "ok", "undefined", "missing"
MISSING_ZH = "数据缺失"
SCOPE_KEYS = ("tier", "ftype", "specialty")


@dataclass(frozen=True)
class RateIndicator:
    code: str
    name_zh: str
    kind: str                       # ratio | count
    unit: str
    decimals: int
    numerator: str = ""             # ratio: field codes
    denominator: str = ""
    scale: Decimal = Decimal(1)
    field: str = ""                 # count: a stock, taken at the period end

    @property
    def fields(self) -> tuple[str, ...]:
        """The input fields the indicator reads."""
        return (self.field,) if self.kind == "count" else (self.numerator, self.denominator)


@dataclass(frozen=True)
class Target:
    op: str                         # ≤ | ≥ | < | > | =
    value: Decimal
    note_zh: str                    # source note
    indicator: str = ""
    matched_on: tuple[str, ...] = ()    # scope keys of the matching entry, in tier/ftype/specialty order

    @property
    def text(self) -> str:
        """e.g. "≤40"."""
        return f"{self.op}{fmt(self.value)}"


@dataclass(frozen=True)
class TargetTable:
    indicators: Mapping[str, RateIndicator]
    fallback: tuple[tuple[str, ...], ...]
    specialty_aliases: Mapping[str, str]
    entries: Mapping[tuple[str, tuple[tuple[str, str], ...]], Target]   # (indicator, scope items) → target


_TOP = {"version", "indicators", "fallback", "specialty_aliases", "targets"}
_IND = {"name_zh", "kind", "numerator", "denominator", "scale", "field", "unit", "decimals"}
_ENTRY = {"indicator", "op", "value", "note_zh", *SCOPE_KEYS}


@lru_cache(maxsize=8)
def load_targets(path: Path | None = None) -> TargetTable:
    """Indicator definitions, lookup order and targets (targets.yaml), with strict key checks."""
    path = Path(path or TARGETS_FILE)
    doc = load_yaml(path)
    where = str(path)
    check_keys(doc, _TOP, {"version", "indicators", "fallback", "targets"}, where)
    indicators: dict[str, RateIndicator] = {}
    for code, d in (doc["indicators"] or {}).items():
        w = f"{where}: indicators.{code}"
        kind = d.get("kind") if isinstance(d, dict) else None
        if kind == "ratio":
            check_keys(d, _IND - {"field"}, {"name_zh", "kind", "numerator", "denominator", "decimals"}, w)
            ind = RateIndicator(str(code), str(d["name_zh"]), kind, str(d.get("unit", "")),
                                cfg_int(d["decimals"], f"{w}.decimals"), str(d["numerator"]), str(d["denominator"]),
                                cfg_num(d.get("scale", 1), f"{w}.scale"))
        elif kind == "count":
            check_keys(d, {"name_zh", "kind", "field", "unit", "decimals"}, {"name_zh", "kind", "field", "decimals"}, w)
            ind = RateIndicator(str(code), str(d["name_zh"]), kind, str(d.get("unit", "")),
                                cfg_int(d["decimals"], f"{w}.decimals"), field=str(d["field"]))
        else:
            check_keys(d, _IND, {"kind"}, w)
            raise CatalogError(f"{w}.kind: must be ratio or count, got {kind!r}")
        indicators[str(code)] = ind
    fallback: list[tuple[str, ...]] = []
    for i, level in enumerate(doc["fallback"] or []):
        if not isinstance(level, list) or set(level) - set(SCOPE_KEYS) or len(set(level)) != len(level):
            raise CatalogError(f"{where}: fallback[{i}]: expected a list of distinct keys from {list(SCOPE_KEYS)}, "
                               f"got {level!r}")
        fallback.append(tuple(k for k in SCOPE_KEYS if k in level))
    if len(set(fallback)) != len(fallback):
        raise CatalogError(f"{where}: fallback: a level is listed twice")
    aliases = {str(k): str(v) for k, v in (doc.get("specialty_aliases") or {}).items()}
    entries: dict[tuple[str, tuple[tuple[str, str], ...]], Target] = {}
    for i, e in enumerate(doc["targets"] or []):
        w = f"{where}: targets[{i}]"
        check_keys(e, _ENTRY, {"indicator", "op", "value", "note_zh"}, w)
        if e["indicator"] not in indicators:
            raise CatalogError(f"{w}.indicator: unknown indicator {e['indicator']!r}; known: {sorted(indicators)}")
        scope = tuple((k, str(e[k])) for k in SCOPE_KEYS if k in e)
        keys = tuple(k for k, _ in scope)
        if keys not in fallback:
            raise CatalogError(f"{w}: scope keys {list(keys)} match no fallback level; levels: "
                               f"{[list(f) for f in fallback]}")
        key = (str(e["indicator"]), scope)
        if key in entries:
            raise CatalogError(f"{w}: duplicate target for {e['indicator']} {dict(scope)}")
        entries[key] = Target(cfg_op(e["op"], f"{w}.op"), cfg_num(e["value"], f"{w}.value"), str(e["note_zh"]),
                              str(e["indicator"]), keys)
    return TargetTable(indicators, tuple(fallback), aliases, entries)


def target_for(indicator: str, tier: str | None, ftype: str | None, specialty: str | None = None,
               table: TargetTable | None = None) -> Target | None:
    """The target of an indicator for a facility: the first fallback level with a matching entry, else None.

    Default order: tier+type+specialty, type+specialty, tier+type, type, tier, general. A specialty unknown to
    the file therefore falls back to the type's default, then the tier's, then the general target.
    """
    t = table or load_targets()
    if indicator not in t.indicators:
        raise KeyError(f"unknown antibiotic indicator {indicator!r}; known: {sorted(t.indicators)}")
    spec = (specialty or "").strip() or None
    spec = t.specialty_aliases.get(spec, spec) if spec else None
    facility = {"tier": tier or None, "ftype": ftype or None, "specialty": spec}
    for level in t.fallback:
        if any(facility[k] is None for k in level):
            continue
        hit = t.entries.get((indicator, tuple((k, str(facility[k])) for k in level)))
        if hit is not None:
            return hit
    return None


@dataclass(frozen=True)
class RateResult:
    indicator: str
    name_zh: str
    unit: str
    numerator: Decimal | None       # ratio: Σ numerator; count: the value
    denominator: Decimal | None
    value: Decimal | None           # rounded half-up at the indicator's decimals; None unless status ok
    status: str                     # ok | undefined (zero denominator) | missing (a field not reported)
    target: Target | None
    verdict: str                    # 达标 | 未达标 | 无定义 | 数据缺失 | 无目标


def judge(value: Decimal | None, target: Target | None, status: str = OK) -> str:
    """Verdict of a published (rounded) value against a target."""
    if status == MISSING:
        return MISSING_ZH
    if value is None:
        return UNDEFINED_ZH
    if target is None:
        return NO_TARGET_ZH
    return PASS if compare(value, target.op, target.value) else FAIL


def compute_rates(values: Mapping[str, Number | None], tier: str | None, ftype: str | None,
                  specialty: str | None = None, *, indicators: Sequence[str] | None = None,
                  table: TargetTable | None = None) -> tuple[RateResult, ...]:
    """Each indicator's value and verdict from (aggregated) counts keyed by the field codes of targets.yaml.

    Ratio = Σ numerator × scale / Σ denominator (undefined on a zero denominator); a count is its stock value.
    An absent or None field makes the indicator missing. Verdicts compare the rounded value with the target.
    """
    t = table or load_targets()
    out = []
    for code in indicators or t.indicators:
        ind = t.indicators[code]
        target = target_for(code, tier, ftype, specialty, t)
        if any(values.get(f) is None for f in ind.fields):
            out.append(RateResult(code, ind.name_zh, ind.unit, None, None, None, MISSING, target,
                                  judge(None, target, MISSING)))
            continue
        if ind.kind == "count":
            num, den = dec(values[ind.field]), None   # type: ignore[arg-type]
            raw: Decimal | None = num
        else:
            num, den = dec(values[ind.numerator]), dec(values[ind.denominator])   # type: ignore[arg-type]
            raw = ratio(num, den, ind.scale)
        value = None if raw is None else quantize(raw, ind.decimals)
        status = OK if value is not None else UNDEFINED
        out.append(RateResult(code, ind.name_zh, ind.unit, num, den, value, status, target,
                              judge(value, target, status)))
    return tuple(out)


def aggregate_months(months: Iterable[Mapping[str, Number | None]],
                     table: TargetTable | None = None) -> dict[str, Decimal | None]:
    """Period counts from monthly counts in date order: ratio fields summed, count (stock) fields from the last month.

    A summed field missing in any month is missing for the period (a flow needs every month); ratios are then
    computed from these sums by compute_rates — never a mean of monthly rates.
    """
    t = table or load_targets()
    months = list(months)
    flows = {f for ind in t.indicators.values() if ind.kind == "ratio" for f in ind.fields}
    stocks = {ind.field for ind in t.indicators.values() if ind.kind == "count"}
    out: dict[str, Decimal | None] = {}
    for f in sorted(flows):
        vals = [m.get(f) for m in months]
        present = [dec(v) for v in vals if v is not None]
        out[f] = sum(present, Decimal(0)) if vals and len(present) == len(vals) else None
    for f in sorted(stocks):
        last = months[-1].get(f) if months else None
        out[f] = None if last is None else dec(last)
    return out
