"""Indicator catalogue (indicators.yaml) and indicator values from aggregated fields, in Decimal arithmetic."""
from __future__ import annotations

import decimal
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from metrics.catalog import number as _to_decimal, CATALOG_DIR, CatalogError, all_fields_by_code, check_keys, load_yaml

OK, UNDEFINED, MISSING, DATA_ERROR, NO_BASE = "ok", "undefined", "missing", "data_error", "no_base"
SMALL_SAMPLE = "small_sample"   # computed from a sample too small to be representative (处方点评 抽样不足)
STATUSES = (OK, UNDEFINED, MISSING, DATA_ERROR, NO_BASE, SMALL_SAMPLE)
SAMPLES = ("rx_review",)        # samples an indicator may declare it is computed from
DIRECTIONS = ("up", "down", "monitor", "band")
FORMULA_KINDS = ("ratio", "value", "growth", "external")
EXTERNAL_SOURCES = ("satisfaction",)  # external: values computed by another stage (e.g. survey scoring)
DEFAULT_CALIBRE = "default"  # name of the calibre of an indicator that declares a single `formula`

Number = Decimal | float | int
FieldValues = Mapping[str, Number | None]


@dataclass(frozen=True)
class Formula:
    kind: str                           # ratio | growth
    numerator: tuple[str, ...] = ()
    subtract: tuple[str, ...] = ()
    denominator: tuple[str, ...] = ()
    scale: Decimal = Decimal(1)
    of: str | None = None               # growth: the indicator whose value grows
    source: str | None = None           # external: the stage that supplies the value (satisfaction)
    survey: str | None = None           # external satisfaction: the survey type (op / ip / staff)

    def fields(self) -> tuple[str, ...]:
        """Every field the ratio reads, in formula order."""
        return self.numerator + self.subtract + self.denominator


@dataclass(frozen=True)
class Calibre:
    name: str
    label_zh: str
    formula: Formula


@dataclass(frozen=True)
class Example:
    given: dict[str, Any]
    base: dict[str, Any] | None
    blocked: frozenset[str]
    calibre: str | None
    expect: Decimal | str               # rounded value, or a status word


@dataclass(frozen=True)
class Indicator:
    code: str
    name_zh: str
    unit: str
    direction: str
    decimals: int
    calibres: tuple[Calibre, ...]
    default_calibre: str
    nat_no: str | None = None
    note_zh: str | None = None
    examples: tuple[Example, ...] = ()
    sample: str | None = None           # e.g. rx_review: marked small_sample when that sample is inadequate

    def calibre(self, name: str | None = None) -> Calibre:
        """The named calibre (口径), or the default one."""
        name = name or self.default_calibre
        for c in self.calibres:
            if c.name == name:
                return c
        raise KeyError(f"{self.code}: unknown calibre {name!r}; known: {[c.name for c in self.calibres]}")

    @property
    def quantum(self) -> Decimal:
        return Decimal(1).scaleb(-self.decimals)


@dataclass(frozen=True)
class IndicatorValue:
    facility_id: str
    indicator: str
    numerator: Decimal | None           # ratio: Σ numerator − Σ subtract; growth: this period's unrounded value
    denominator: Decimal | None         # ratio: Σ denominator; growth: the base (same period last year) value
    value: Decimal | None               # rounded half-up at the indicator's decimals; None unless status ok
    status: str                         # ok | undefined | missing | data_error | no_base
    detail: str | None = None

    def as_row(self, period: str) -> dict[str, Any]:
        """Row for the warehouse `indicator_values` table."""
        return {
            "period": period, "facility_id": self.facility_id, "indicator": self.indicator,
            "numerator": None if self.numerator is None else float(self.numerator),
            "denominator": None if self.denominator is None else float(self.denominator),
            "value": self.value, "status": self.status, "detail": self.detail,
        }


# ---------------------------------------------------------------------------------------------- loader

_IND_KEYS = {"code", "nat_no", "name_zh", "unit", "direction", "decimals", "note_zh", "formula",
             "calibres", "default_calibre", "examples", "sample"}
_FORMULA_KEYS = {"kind", "numerator", "subtract", "denominator", "scale", "of", "source", "survey"}
_CALIBRE_KEYS = {"label_zh", "formula"}
_EXAMPLE_KEYS = {"given", "base", "blocked", "calibre", "expect"}


def _field_list(obj: dict, key: str, where: str, known: Mapping[str, Any]) -> tuple[str, ...]:
    v = obj.get(key, [])
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise CatalogError(f"{where}.{key}: expected a list of field codes")
    for x in v:
        if x not in known:
            raise CatalogError(f"{where}.{key}: unknown field {x!r} (not in any metrics/catalog/fields*.yaml)")
    return tuple(v)


def _formula(obj: Any, where: str, known: Mapping[str, Any]) -> Formula:
    check_keys(obj, _FORMULA_KEYS, {"kind"}, where)
    kind = obj["kind"]
    if kind == "ratio":
        check_keys(obj, _FORMULA_KEYS - {"of"}, {"kind", "numerator", "denominator"}, where)
        num = _field_list(obj, "numerator", where, known)
        den = _field_list(obj, "denominator", where, known)
        if not num or not den:
            raise CatalogError(f"{where}: numerator and denominator must name at least one field")
        scale = _to_decimal(obj.get("scale", 1), f"{where}.scale")
        if scale <= 0:
            raise CatalogError(f"{where}.scale: must be positive")
        return Formula("ratio", num, _field_list(obj, "subtract", where, known), den, scale)
    if kind == "value":
        check_keys(obj, {"kind", "numerator", "scale"}, {"kind", "numerator"}, where)
        num = _field_list(obj, "numerator", where, known)
        if not num:
            raise CatalogError(f"{where}: numerator must name at least one field")
        return Formula("value", num, (), (), _to_decimal(obj.get("scale", 1), f"{where}.scale"))
    if kind == "external":
        check_keys(obj, {"kind", "source", "survey"}, {"kind", "source"}, where)
        if obj["source"] not in EXTERNAL_SOURCES:
            raise CatalogError(f"{where}.source: must be one of {list(EXTERNAL_SOURCES)}, got {obj['source']!r}")
        return Formula("external", source=str(obj["source"]), survey=obj.get("survey"))
    if kind == "growth":
        check_keys(obj, {"kind", "of"}, {"kind", "of"}, where)
        return Formula("growth", of=str(obj["of"]), scale=Decimal(100))
    raise CatalogError(f"{where}.kind: must be one of {list(FORMULA_KINDS)}, got {kind!r}")


def _example(obj: Any, where: str, known: Mapping[str, Any], calibres: set[str]) -> Example:
    check_keys(obj, _EXAMPLE_KEYS, {"given", "expect"}, where)
    for key in ("given", "base"):
        if key in obj and not isinstance(obj[key], dict):
            raise CatalogError(f"{where}.{key}: expected a mapping of field → value")
        for f in (obj.get(key) or {}):
            if f not in known:
                raise CatalogError(f"{where}.{key}: unknown field {f!r}")
    blocked = obj.get("blocked", [])
    if not isinstance(blocked, list) or any(b not in known for b in blocked):
        raise CatalogError(f"{where}.blocked: expected a list of field codes")
    if obj.get("calibre") is not None and obj["calibre"] not in calibres:
        raise CatalogError(f"{where}.calibre: unknown calibre {obj['calibre']!r}")
    expect = obj["expect"]
    if isinstance(expect, str) and expect in STATUSES:
        if expect == OK:
            raise CatalogError(f"{where}.expect: give the value, not 'ok'")
    else:
        expect = _to_decimal(expect, f"{where}.expect")
    return Example(dict(obj["given"]), None if obj.get("base") is None else dict(obj["base"]),
                   frozenset(blocked), obj.get("calibre"), expect)


@lru_cache(maxsize=4)
def _load(path: Path) -> tuple[Indicator, ...]:
    doc = load_yaml(path)
    check_keys(doc, {"version", "indicators"}, {"version", "indicators"}, str(path))
    known = all_fields_by_code()
    out: list[Indicator] = []
    for i, d in enumerate(doc["indicators"] or []):
        where = f"{path}: indicators[{i}]"
        check_keys(d, _IND_KEYS, {"code", "name_zh", "unit", "direction", "decimals"}, where)
        where = f"{path}: indicators[{i}] ({d['code']})"
        if d["direction"] not in DIRECTIONS:
            raise CatalogError(f"{where}.direction: must be one of {list(DIRECTIONS)}, got {d['direction']!r}")
        if not isinstance(d["decimals"], int) or not 0 <= d["decimals"] <= 4:
            raise CatalogError(f"{where}.decimals: must be an integer 0–4 (the warehouse keeps 4)")
        if ("formula" in d) == ("calibres" in d):
            raise CatalogError(f"{where}: give either `formula` or `calibres` + `default_calibre`")
        if "formula" in d:
            if "default_calibre" in d:
                raise CatalogError(f"{where}.default_calibre: only with `calibres`")
            calibres = (Calibre(DEFAULT_CALIBRE, "", _formula(d["formula"], f"{where}.formula", known)),)
            default = DEFAULT_CALIBRE
        else:
            if not isinstance(d["calibres"], dict) or not d["calibres"]:
                raise CatalogError(f"{where}.calibres: expected a non-empty mapping name → calibre")
            cal = []
            for name, c in d["calibres"].items():
                cw = f"{where}.calibres.{name}"
                check_keys(c, _CALIBRE_KEYS, _CALIBRE_KEYS, cw)
                cal.append(Calibre(str(name), str(c["label_zh"]), _formula(c["formula"], f"{cw}.formula", known)))
            calibres = tuple(cal)
            default = d.get("default_calibre")
            if default not in d["calibres"]:
                raise CatalogError(f"{where}.default_calibre: must name one of {list(d['calibres'])}")
        names = {c.name for c in calibres}
        examples = tuple(_example(e, f"{where}.examples[{j}]", known, names)
                         for j, e in enumerate(d.get("examples") or []))
        if d.get("sample") is not None and d["sample"] not in SAMPLES:
            raise CatalogError(f"{where}.sample: must be one of {list(SAMPLES)}, got {d['sample']!r}")
        out.append(Indicator(code=str(d["code"]), name_zh=str(d["name_zh"]), unit=str(d["unit"]),
                             direction=d["direction"], decimals=d["decimals"], calibres=calibres,
                             default_calibre=default, nat_no=d.get("nat_no"), note_zh=d.get("note_zh"),
                             examples=examples, sample=d.get("sample")))
    codes = [x.code for x in out]
    if len(set(codes)) != len(codes):
        raise CatalogError(f"{path}: duplicate indicator codes")
    by_code = {x.code: x for x in out}
    for x in out:
        for c in x.calibres:
            if c.formula.kind == "growth":
                ref = by_code.get(c.formula.of or "")
                if ref is None or any(rc.formula.kind in ("growth", "external") for rc in ref.calibres):
                    raise CatalogError(f"{path}: {x.code}.formula.of: must name a ratio indicator, "
                                       f"got {c.formula.of!r}")
    return tuple(out)


def load_indicators(path: Path | None = None) -> dict[str, Indicator]:
    """The indicator catalogue keyed by code, in file order; rejects unknown keys naming file and key."""
    return {x.code: x for x in _load(Path(path or CATALOG_DIR / "indicators.yaml"))}


# ---------------------------------------------------------------------------------------------- compute

@dataclass
class _Raw:
    status: str
    numerator: Decimal | None = None
    denominator: Decimal | None = None
    value: Decimal | None = None        # unrounded
    detail: str | None = None
    calibre: str | None = field(default=None)


def _dec(v: Number) -> Decimal:
    # repr() of a float is its shortest round-trip text, so 0.1 stays 0.1 rather than 0.1000000000000000055…
    return v if isinstance(v, Decimal) else Decimal(repr(v)) if isinstance(v, float) else Decimal(v)


def _labels(codes: Iterable[str]) -> str:
    known = all_fields_by_code()
    return "、".join(known[c].label_zh.removeprefix("其中：") if c in known else c for c in codes)


def _fmt(d: Decimal) -> str:
    q = d.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP).normalize()
    return f"{q:f}"


def _ratio(f: Formula, values: FieldValues, blocked: set[str] | frozenset[str]) -> _Raw:
    used = f.fields()
    bad = [c for c in dict.fromkeys(used) if c in blocked]
    if bad:
        return _Raw(DATA_ERROR, detail=f"数据有误：{_labels(bad)}")
    absent = [c for c in dict.fromkeys(used) if values.get(c) is None]
    if absent:
        return _Raw(MISSING, detail=f"缺少数据：{_labels(absent)}")
    num = sum((_dec(values[c]) for c in f.numerator), Decimal(0)) - sum((_dec(values[c]) for c in f.subtract),
                                                                       Decimal(0))
    if f.kind == "value":  # a count or amount shown as it is (e.g. 品种数): no denominator
        return _Raw(OK, num, None, num * f.scale)
    den = sum((_dec(values[c]) for c in f.denominator), Decimal(0))
    if den == 0:
        return _Raw(UNDEFINED, num, den, detail=f"分母为0：{_labels(f.denominator)}")
    return _Raw(OK, num, den, num * f.scale / den)


def _evaluate(ind: Indicator, catalog: Mapping[str, Indicator], calibres: Mapping[str, str],
              values: FieldValues, base: FieldValues | None, blocked: frozenset[str],
              base_blocked: frozenset[str]) -> _Raw:
    cal = ind.calibre(calibres.get(ind.code))
    f = cal.formula
    if f.kind in ("ratio", "value"):
        r = _ratio(f, values, blocked)
        r.calibre = cal.label_zh or None
        return r
    of = catalog[f.of or ""]
    of_cal = of.calibre(calibres.get(of.code))
    cur = _ratio(of_cal.formula, values, blocked)
    if cur.status != OK:
        cur.detail = f"本期{of.name_zh}：{cur.detail}"
        return cur
    if base is None:
        return _Raw(NO_BASE, cur.value, detail="上年同期无数据")
    b = _ratio(of_cal.formula, base, base_blocked)
    if b.status != OK:
        return _Raw(NO_BASE, cur.value, b.value, detail=f"上年同期{of.name_zh}无法计算（{b.detail}）")
    if b.value == 0:
        return _Raw(NO_BASE, cur.value, b.value, detail=f"上年同期{of.name_zh}为0")
    assert cur.value is not None and b.value is not None
    growth = (cur.value - b.value) * f.scale / b.value
    return _Raw(OK, cur.value, b.value, growth,
                detail=f"本期{of.name_zh} {_fmt(cur.value)}；上年同期 {_fmt(b.value)}",
                calibre=of_cal.label_zh or None)


def compute(agg: Mapping[str, FieldValues], base: Mapping[str, FieldValues],
            blocked: Mapping[str, set[str]], indicators: Mapping[str, Indicator],
            calibres: Mapping[str, str] | None = None,
            base_blocked: Mapping[str, set[str]] | None = None) -> list[IndicatorValue]:
    """Every indicator for every facility in `agg` (and `blocked`); zero denominators are undefined, never 0 %."""
    calibres = dict(calibres or {})
    for code, name in calibres.items():
        if code in indicators:
            indicators[code].calibre(name)  # fail early on an unknown calibre name
    base_blocked = base_blocked or {}
    out: list[IndicatorValue] = []
    with decimal.localcontext() as ctx:
        ctx.prec = 34
        for fid in sorted(set(agg) | set(blocked)):
            values = agg.get(fid, {})
            fb = frozenset(blocked.get(fid, ()))
            bb = frozenset(base_blocked.get(fid, ()))
            for ind in indicators.values():
                if ind.calibre(calibres.get(ind.code)).formula.kind == "external":
                    continue  # supplied by its own stage (e.g. warehouse.satisfaction)
                r = _evaluate(ind, indicators, calibres, values, base.get(fid), fb, bb)
                value = None
                if r.status == OK:
                    assert r.value is not None
                    value = r.value.quantize(ind.quantum, rounding=ROUND_HALF_UP)
                detail = "；".join(x for x in (f"口径：{r.calibre}" if r.calibre else None, r.detail) if x) or None
                out.append(IndicatorValue(fid, ind.code, r.numerator, r.denominator, value, r.status, detail))
    return out
