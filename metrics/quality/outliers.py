"""Consistency and outliers of a month's values: over time (year on year, peer-median adjusted, 春节-aware), across
peers (modified z and z), against the facility's own history (small groups), magnitude slips and related pairs."""
from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from metrics.catalog import CatalogError, FieldDef, all_fields_by_code, check_keys, load_yaml, number
from metrics.periods import MONTH, parse_period
from metrics.quality.holidays import HolidayCalendar, load_holidays
from metrics.quality.magnitude import MagnitudeConfig, match_slips, parse_magnitude, slip_multiple_zh

CONFIG_FILE = Path(__file__).with_name("data") / "outliers.yaml"
STAGE = "quality"
METHODS = ("magnitude", "peer_mad", "peer_z", "own_history", "yoy", "pair")
CODES = {"magnitude": "quality-magnitude-slip", "peer_mad": "quality-peer-mad", "peer_z": "quality-peer-z",
         "own_history": "quality-own-history", "yoy": "quality-yoy-change", "pair": "quality-pair"}
CONFIRMED_CODE = "quality-confirmed"
MODERATE, EXTREME, WARNING = "moderate", "extreme", "warning"
LEVEL_ZH = {MODERATE: "中度异常", EXTREME: "重度异常", WARNING: "预警"}
_KINDS = ("count", "amount", "ratio")
_MAD_SCALE = 0.6745  # Iglewicz–Hoaglin: 0.6745 × (x − median) / MAD is comparable with a standard normal z


# ---------------------------------------------------------------------------------------------- config

@dataclass(frozen=True)
class ByField:
    """A number chosen by field code, else by the field's unit, else a default."""
    default: float
    by_unit: dict[str, float]
    by_field: dict[str, float]

    def get(self, f: FieldDef) -> float:
        """The value for field `f`."""
        if f.code in self.by_field:
            return self.by_field[f.code]
        return self.by_unit.get(f.unit, self.default)


@dataclass(frozen=True)
class KeyFields:
    kinds: tuple[str, ...] | None
    groups: tuple[str, ...] | None
    exclude_groups: tuple[str, ...]
    required: bool | None
    include: tuple[str, ...]
    exclude: tuple[str, ...]

    def select(self, catalog: Mapping[str, FieldDef]) -> tuple[str, ...]:
        """The reviewed fields of `catalog`, in catalog order."""
        def by_attrs(f: FieldDef) -> bool:
            if self.kinds is None and self.groups is None and self.required is None and not self.exclude_groups:
                return False  # no catalog selection given: only the explicit list
            return ((self.kinds is None or f.kind in self.kinds)
                    and (self.groups is None or f.group in self.groups)
                    and f.group not in self.exclude_groups
                    and (self.required is None or f.required == self.required))
        return tuple(c for c, f in catalog.items()
                     if (by_attrs(f) or c in self.include) and c not in self.exclude)


@dataclass(frozen=True)
class OverTime:
    max_change_share: float
    min_abs_change: ByField
    peer_median_min_n: int
    holiday_adjust: bool


@dataclass(frozen=True)
class PeerMad:
    moderate: float
    extreme: float
    min_n: int
    mad_floor_share: float
    mad_floor_min: ByField


@dataclass(frozen=True)
class PeerZ:
    moderate: float
    extreme: float
    min_n: int


@dataclass(frozen=True)
class OwnHistory:
    months: int
    min_months: int
    moderate: float
    extreme: float


@dataclass(frozen=True)
class PairRule:
    id: str
    label_zh: str
    numerator: str
    denominator: str
    scale: float
    unit: str
    reference: str                      # last_year | peer_median | range
    tolerance: float | None = None
    low: float | None = None
    high: float | None = None
    min_peer_n: int = 5
    decimals: int = 2


@dataclass(frozen=True)
class OutlierConfig:
    version: str
    min_peer_n_disclosed: int
    decimals: dict[str, int]
    key_fields: KeyFields
    over_time: OverTime
    peer_mad: PeerMad
    peer_z: PeerZ
    own_history: OwnHistory
    magnitude: MagnitudeConfig
    pairs: tuple[PairRule, ...]


def _num(obj: dict, key: str, where: str, *, lo: float | None = None, positive: bool = False) -> float:
    v = float(number(obj[key], f"{where}.{key}"))
    if positive and v <= 0:
        raise CatalogError(f"{where}.{key}: must be positive")
    if lo is not None and v < lo:
        raise CatalogError(f"{where}.{key}: must be ≥ {lo}")
    return v


def _int(obj: dict, key: str, where: str, lo: int = 1) -> int:
    v = obj[key]
    if not isinstance(v, int) or isinstance(v, bool) or v < lo:
        raise CatalogError(f"{where}.{key}: must be a whole number ≥ {lo}")
    return v


def _codes(v: Any, where: str, known: Mapping[str, FieldDef]) -> tuple[str, ...]:
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise CatalogError(f"{where}: expected a list of field codes")
    for x in v:
        if x not in known:
            raise CatalogError(f"{where}: unknown field {x!r} (not in any metrics/catalog/fields*.yaml)")
    return tuple(v)


def _by_field(obj: Any, where: str, known: Mapping[str, FieldDef]) -> ByField:
    check_keys(obj, {"default", "by_unit", "by_field"}, {"default"}, where)
    by_unit = obj.get("by_unit") or {}
    by_field = obj.get("by_field") or {}
    if not isinstance(by_unit, dict) or not isinstance(by_field, dict):
        raise CatalogError(f"{where}: by_unit and by_field must be mappings")
    _codes(list(by_field), f"{where}.by_field", known)
    return ByField(_num(obj, "default", where, lo=0),
                   {str(u): float(number(v, f"{where}.by_unit.{u}")) for u, v in by_unit.items()},
                   {str(c): float(number(v, f"{where}.by_field.{c}")) for c, v in by_field.items()})


def _levels(obj: dict, where: str) -> tuple[float, float]:
    mod, ext = _num(obj, "moderate", where, positive=True), _num(obj, "extreme", where, positive=True)
    if ext < mod:
        raise CatalogError(f"{where}: extreme must not be below moderate")
    return mod, ext


def _pair(obj: Any, where: str, known: Mapping[str, FieldDef]) -> PairRule:
    allowed = {"id", "label_zh", "numerator", "denominator", "scale", "unit", "reference", "tolerance", "low",
               "high", "min_peer_n", "decimals"}
    check_keys(obj, allowed, {"id", "label_zh", "numerator", "denominator", "unit", "reference"}, where)
    _codes([obj["numerator"], obj["denominator"]], f"{where}.numerator/denominator", known)
    ref = obj["reference"]
    kw: dict[str, Any] = {}
    if ref in ("last_year", "peer_median"):
        if "tolerance" not in obj or "low" in obj or "high" in obj:
            raise CatalogError(f"{where}: reference {ref} takes `tolerance` (a share, e.g. 0.33), not low/high")
        kw["tolerance"] = _num(obj, "tolerance", where, positive=True)
        if ref == "peer_median" and "min_peer_n" in obj:
            kw["min_peer_n"] = _int(obj, "min_peer_n", where, 2)
    elif ref == "range":
        if "low" not in obj or "high" not in obj or "tolerance" in obj:
            raise CatalogError(f"{where}: reference range takes `low` and `high`, not tolerance")
        kw["low"], kw["high"] = _num(obj, "low", where), _num(obj, "high", where)
        if kw["low"] >= kw["high"]:
            raise CatalogError(f"{where}: low must be below high")
    else:
        raise CatalogError(f"{where}.reference: must be last_year, peer_median or range, got {ref!r}")
    if "min_peer_n" in obj and ref != "peer_median":
        raise CatalogError(f"{where}.min_peer_n: only with reference peer_median")
    if "decimals" in obj:
        kw["decimals"] = _int(obj, "decimals", where, 0)
    scale = _num(obj, "scale", where, positive=True) if "scale" in obj else 1.0
    return PairRule(str(obj["id"]), str(obj["label_zh"]), obj["numerator"], obj["denominator"], scale,
                    str(obj["unit"]), ref, **kw)


@lru_cache(maxsize=4)
def load_config(path: Path | None = None) -> OutlierConfig:
    """The outlier review settings from outliers.yaml; rejects unknown keys naming file and key."""
    path = Path(path or CONFIG_FILE)
    doc = load_yaml(path)
    top = {"version", "min_peer_n_disclosed", "decimals", "key_fields", "over_time", "peer_mad", "peer_z",
           "own_history", "magnitude", "pairs"}
    check_keys(doc, top, top, str(path))
    known = all_fields_by_code()
    w = str(path)
    disclosed = _int(doc, "min_peer_n_disclosed", w, 1)
    dec = doc["decimals"]
    check_keys(dec, set(_KINDS), set(_KINDS), f"{w}: decimals")
    decimals = {k: _int(dec, k, f"{w}: decimals", 0) for k in _KINDS}

    kf = doc["key_fields"]
    check_keys(kf, {"catalog", "include", "exclude"}, set(), f"{w}: key_fields")
    cat = kf.get("catalog") or {}
    check_keys(cat, {"kinds", "groups", "exclude_groups", "required"}, set(), f"{w}: key_fields.catalog")
    for k in ("kinds", "groups", "exclude_groups"):
        if k in cat and (not isinstance(cat[k], list) or not all(isinstance(x, str) for x in cat[k])):
            raise CatalogError(f"{w}: key_fields.catalog.{k}: expected a list of names")
    if any(k not in _KINDS for k in cat.get("kinds") or []):
        raise CatalogError(f"{w}: key_fields.catalog.kinds: must be among {list(_KINDS)}")
    if "required" in cat and not isinstance(cat["required"], bool):
        raise CatalogError(f"{w}: key_fields.catalog.required: must be true or false")
    key_fields = KeyFields(
        tuple(cat["kinds"]) if "kinds" in cat else None, tuple(cat["groups"]) if "groups" in cat else None,
        tuple(cat.get("exclude_groups") or ()), cat.get("required"),
        _codes(kf.get("include") or [], f"{w}: key_fields.include", known),
        _codes(kf.get("exclude") or [], f"{w}: key_fields.exclude", known))

    ot, ow = doc["over_time"], f"{w}: over_time"
    keys = {"max_change_share", "min_abs_change", "peer_median_min_n", "holiday_adjust"}
    check_keys(ot, keys, keys, ow)
    if not isinstance(ot["holiday_adjust"], bool):
        raise CatalogError(f"{ow}.holiday_adjust: must be true or false")
    over_time = OverTime(_num(ot, "max_change_share", ow, positive=True),
                         _by_field(ot["min_abs_change"], f"{ow}.min_abs_change", known),
                         _int(ot, "peer_median_min_n", ow, 2), ot["holiday_adjust"])

    pm, pw = doc["peer_mad"], f"{w}: peer_mad"
    keys = {"moderate", "extreme", "min_n", "mad_floor_share", "mad_floor_min"}
    check_keys(pm, keys, keys, pw)
    peer_mad = PeerMad(*_levels(pm, pw), _int(pm, "min_n", pw, 3), _num(pm, "mad_floor_share", pw, lo=0),
                       _by_field(pm["mad_floor_min"], f"{pw}.mad_floor_min", known))
    if peer_mad.mad_floor_share == 0 and peer_mad.mad_floor_min.default == 0:
        raise CatalogError(f"{pw}: give a positive mad_floor_share or mad_floor_min.default (a MAD of 0 would "
                           f"flag any difference at all)")

    pz, zw = doc["peer_z"], f"{w}: peer_z"
    check_keys(pz, {"moderate", "extreme", "min_n"}, {"moderate", "extreme", "min_n"}, zw)
    peer_z = PeerZ(*_levels(pz, zw), _int(pz, "min_n", zw, 3))

    oh, hw = doc["own_history"], f"{w}: own_history"
    keys = {"months", "min_months", "moderate", "extreme"}
    check_keys(oh, keys, keys, hw)
    own = OwnHistory(_int(oh, "months", hw, 2), _int(oh, "min_months", hw, 2), *_levels(oh, hw))
    if own.min_months > own.months:
        raise CatalogError(f"{hw}.min_months: must not exceed months")

    if not isinstance(doc["pairs"], list):
        raise CatalogError(f"{w}: pairs: expected a list")
    pairs = tuple(_pair(p, f"{w}: pairs[{i}]", known) for i, p in enumerate(doc["pairs"]))
    ids = [p.id for p in pairs]
    if len(set(ids)) != len(ids):
        raise CatalogError(f"{w}: pairs: duplicate id")
    return OutlierConfig(str(doc["version"]), disclosed, decimals, key_fields, over_time, peer_mad, peer_z, own,
                         parse_magnitude(doc["magnitude"], f"{w}: magnitude"), pairs)


# ---------------------------------------------------------------------------------------------- results

@dataclass(frozen=True)
class Outlier:
    facility_id: str
    period: str
    field: str
    method: str                         # yoy | peer_mad | peer_z | own_history | magnitude | pair
    level: str                          # moderate | extreme | warning
    value: float                        # the value judged (pair: the ratio)
    reference: float | None             # what it was compared with (median, mean, expected value, reference ratio)
    statistic: float | None             # modified z, z, or change share (value ÷ reference − 1)
    peer_n: int | None                  # facilities of the peer group used; None for own history
    suggested: float | None             # slips: the likely corrected value
    code: str
    severity: str                       # warning, or info once confirmed
    confirmed: bool = False
    peer_group: str | None = None
    field_value: float | None = None    # the submitted value of `field` (= value except for pairs)
    replacement: float | None = None    # the value impact ranking puts in its place (see impact.py)
    compare_period: str | None = None   # yoy / pair last_year: the (calendar-adjusted) month compared with
    base: float | None = None           # yoy: last year's value
    peer_change: float | None = None    # yoy: change share of the peer median over the same span
    rule: str | None = None             # pair id, or the slip's label
    related: str | None = None          # pair: the denominator field
    value_zh: str = ""                  # the value as shown in the finding
    expected_zh: str | None = None      # the reference (slip: the corrected value) as shown; None if not disclosed
    detail_zh: str = ""                 # the explanation shown in the finding (disclosure rule applied)
    field_zh: str = ""

    @property
    def key(self) -> tuple[str, str, str, str]:
        """(facility_id, period, field, value_text) — what an analyst's confirmation refers to."""
        return (self.facility_id, self.period, self.field, value_text(self.field_value))


def value_text(v: float | Decimal | None) -> str:
    """A value as the text stored with a confirmation — the same rule as warehouse.review.value_key: a whole number
    without decimals ('150'), else Python's shortest repr ('1234.5', '0.125')."""
    if v is None:
        return ""
    x = float(v)
    if x != x or x in (float("inf"), float("-inf")):
        return repr(x)
    return str(int(x)) if x == int(x) else repr(x)


def _fmt(x: float, decimals: int) -> str:
    q = Decimal(repr(float(x))).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    s = f"{q:f}"
    return s[1:] if s.startswith("-") and q == 0 else s


def _round(x: float, decimals: int) -> float:
    return float(_fmt(x, decimals))


def _pct(share: float, signed: bool = True) -> str:
    s = _fmt(share * 100, 1)
    return f"+{s}%" if signed and share > 0 else f"{s}%"


def _share_zh(share: float) -> str:
    return f"±{_fmt(share * 100, 1).removesuffix('.0')}%"


def _thr(x: float) -> str:
    return f"{Decimal(repr(x)).normalize():f}"


# ---------------------------------------------------------------------------------------------- detection

def _months_before(month: str, n: int) -> list[str]:
    y, m = int(month[:4]), int(month[5:7])
    out = []
    for _ in range(n):
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
        out.append(f"{y:04d}-{m:02d}")
    return out


def review_months(period: str, config: OutlierConfig | None = None,
                  calendar: HolidayCalendar | None = None) -> tuple[str, list[str], str, bool]:
    """(month, the previous months of its own history, the calendar-adjusted month last year, adjusted?)."""
    cfg = config or load_config()
    p = parse_period(period)
    if p.kind != MONTH:
        raise ValueError(f"outlier review runs on a month YYYY-MM, got {period!r}")
    hist = _months_before(p.code, max(cfg.own_history.months, 12))[:cfg.own_history.months]
    if cfg.over_time.holiday_adjust:
        cmp_month, adjusted = (calendar or load_holidays()).comparison_month(p.code)
    else:
        cmp_month, adjusted = _months_before(p.code, 12)[-1], False
    return p.code, hist, cmp_month, adjusted


def _cube(values: pd.DataFrame, fields: Sequence[str], months: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    df = values.loc[values["field"].isin(fields) & values["period"].isin(months),
                    ["facility_id", "period", "field", "value"]]
    v = pd.to_numeric(df["value"].astype(object), errors="coerce").to_numpy(dtype=float)
    ok = ~np.isnan(v)
    df, v = df.loc[ok], v[ok]
    fids = np.array(sorted(df["facility_id"].astype(str).unique()), dtype=object)
    cube = np.full((len(fids), len(fields), len(months)), np.nan)
    if len(df):
        fi = pd.Categorical(df["facility_id"].astype(str), categories=fids).codes
        ki = pd.Categorical(df["field"], categories=list(fields)).codes
        mi = pd.Categorical(df["period"], categories=list(months)).codes
        cube[fi, ki, mi] = v
    return fids, cube


@contextmanager
def _quiet() -> Iterator[None]:
    # all-NaN slices (a field nobody in a group reported) are expected: their statistics are NaN, not warnings
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def _group_stats(cur: np.ndarray, gi: np.ndarray, ng: int, full: bool = True) -> dict[str, np.ndarray]:
    """Per facility × field: n, median, MAD (and mean, SD) of its peer group's values (NaN = no value)."""
    shape = cur.shape
    out = {"n": np.zeros(shape, dtype=np.int64), "med": np.full(shape, np.nan), "mad": np.full(shape, np.nan)}
    if full:
        out["mean"], out["sd"] = np.full(shape, np.nan), np.full(shape, np.nan)
    with _quiet():
        for g in range(ng):
            rows = np.flatnonzero(gi == g)
            sub = cur[rows]
            cnt = (~np.isnan(sub)).sum(axis=0)
            med = np.nanmedian(sub, axis=0)
            out["n"][rows] = cnt
            out["med"][rows] = med
            out["mad"][rows] = np.nanmedian(np.abs(sub - med), axis=0)
            if full:
                out["mean"][rows] = np.nanmean(sub, axis=0)
                out["sd"][rows] = np.where(cnt > 1, np.nanstd(sub, axis=0, ddof=1), np.nan)
    return out


def _level(stat: np.ndarray, moderate: float, extreme: float) -> np.ndarray:
    a = np.abs(stat)
    return np.where(a >= extreme, 2, np.where(a >= moderate, 1, 0))


class _Ctx:
    """Everything one detection run shares while turning flags into Outlier rows."""

    def __init__(self, cfg: OutlierConfig, period: str, fids: np.ndarray, fields: list[FieldDef],
                 groups: list[str | None], confirmed: frozenset | set, severities: Mapping[str, str]) -> None:
        self.cfg, self.period, self.fids, self.fields, self.groups = cfg, period, fids, fields, groups
        self.confirmed, self.severities = confirmed, severities
        self.out: list[Outlier] = []

    def dec(self, k: int) -> int:
        return self.cfg.decimals[self.fields[k].kind]

    def v(self, x: float, k: int) -> str:
        return _fmt(x, self.dec(k))

    def unit(self, k: int) -> str:
        return self.fields[k].unit

    def disclosed(self, n: int | None) -> bool:
        return n is not None and n >= self.cfg.min_peer_n_disclosed

    def group_zh(self, f: int, n: int) -> str:
        return f"同组机构（{self.groups[f]}，{n} 家）"

    def add(self, f: int, k: int, method: str, level: str, value: float, reference: float | None,
            statistic: float | None, peer_n: int | None, detail: str, *, expected_zh: str | None,
            field_value: float | None = None, value_zh: str | None = None, **extra: Any) -> None:
        field_value = value if field_value is None else field_value
        fid, fdef = str(self.fids[f]), self.fields[k]
        confirmed = (fid, self.period, fdef.code, value_text(field_value)) in self.confirmed
        code = CODES[method]
        self.out.append(Outlier(
            fid, self.period, fdef.code, method, level, float(value),
            None if reference is None else float(reference), None if statistic is None else float(statistic),
            None if peer_n is None else int(peer_n), extra.pop("suggested", None), code,
            "info" if confirmed else self.severities.get(code, "warning"), confirmed, self.groups[f],
            float(field_value), value_zh=value_zh if value_zh is not None else self.v(value, k),
            expected_zh=expected_zh, detail_zh=detail, field_zh=fdef.label_zh.removeprefix("其中："), **extra))


def _severities() -> dict[str, str]:
    from expectations.findings import registry

    reg = registry()
    return {c: reg[c]["severity"] for c in CODES.values() if c in reg}


def detect(values: pd.DataFrame, peer_groups: Mapping[str, str | None], period: str,
           config: OutlierConfig | None = None, confirmed: Iterable[tuple[str, str, str, str]] = frozenset(), *,
           catalog: Mapping[str, FieldDef] | None = None, calendar: HolidayCalendar | None = None
           ) -> list[Outlier]:
    """Outliers of `period`'s values: slips, peer modified z / z (own history for small groups), yoy and pairs.

    `values` has columns facility_id, period (YYYY-MM), field, value and holds the month, its previous months and
    the calendar-adjusted month last year (see review_months). `confirmed` holds (facility_id, period, field,
    value_text) of values an analyst confirmed: those outliers are returned with confirmed=True, severity info.
    """
    cfg = config or load_config()
    catalog = dict(catalog or all_fields_by_code())
    t, hist, cmp_month, adjusted = review_months(period, cfg, calendar)
    key = [c for c in cfg.key_fields.select(catalog)]
    pair_fields = [c for r in cfg.pairs for c in (r.numerator, r.denominator) if c in catalog]
    codes = list(dict.fromkeys(key + pair_fields))
    months = [t] + hist + ([cmp_month] if cmp_month not in hist else [])
    fids, X = _cube(values, codes, months)
    if not len(fids):
        return []
    fields = [catalog[c] for c in codes]
    is_key = np.array([c in set(key) for c in codes], dtype=bool)
    group_names = sorted({g for g in (peer_groups.get(f) for f in fids) if g is not None})
    gpos = {g: i for i, g in enumerate(group_names)}
    groups = [peer_groups.get(f) for f in fids]
    gi = np.array([gpos.get(g, -1) if g is not None else -1 for g in groups], dtype=np.int64)
    ctx = _Ctx(cfg, t, fids, fields, groups, frozenset(confirmed), _severities())

    cur = X[:, :, 0]
    valid = ~np.isnan(cur) & is_key[None, :]
    H = X[:, :, 1:1 + len(hist)]
    base = X[:, :, months.index(cmp_month)]
    with _quiet():
        n_h = (~np.isnan(H)).sum(axis=2)
        med_h = np.nanmedian(H, axis=2)
        mad_h = np.nanmedian(np.abs(H - med_h[:, :, None]), axis=2)
    st = _group_stats(cur, gi, len(group_names))
    n, med = st["n"], st["med"]
    floor_min = np.array([cfg.peer_mad.mad_floor_min.get(f) for f in fields])[None, :]

    def mad_eff(mad: np.ndarray, centre: np.ndarray) -> np.ndarray:
        return np.fmax(np.fmax(mad, cfg.peer_mad.mad_floor_share * np.abs(centre)), floor_min)

    # --- magnitude slips first: a slip explains (and replaces) every other finding on the same value
    mg = cfg.magnitude
    # the facility's own median of the previous months is the sharper reference, unless that history is itself a
    # slip away from the peers' median (a facility that always typed 元): then the peers' median
    peer_ok = (n >= mg.min_peer_n) & (med > 0)
    own_ok = (n_h >= mg.min_history_months) & (med_h > 0)
    own_slipped = own_ok & peer_ok & (match_slips(np.where(own_ok, med_h, np.nan), med, fields, mg) >= 0)
    peer_ref = peer_ok & ~(own_ok & ~own_slipped)
    ref = np.where(own_ok & ~own_slipped, med_h, np.where(peer_ok, med, np.nan))
    slip = match_slips(np.where(valid, cur, np.nan), ref, fields, mg)
    slipped = slip >= 0
    for f, k in zip(*np.nonzero(slipped)):
        s = mg.slips[slip[f, k]]
        v, r = cur[f, k], ref[f, k]
        suggested = _round(v / s.factor, ctx.dec(k))
        if peer_ref[f, k]:
            src = (f"{ctx.group_zh(f, n[f, k])}中位数 {ctx.v(r, k)}" if ctx.disclosed(n[f, k])
                   else f"同组机构的一般水平（同组不足 {cfg.min_peer_n_disclosed} 家，不显示同组统计量）")
            peer_n = int(n[f, k])
        else:
            src = f"本机构前 {n_h[f, k]} 个月的中位数 {ctx.v(r, k)}"
            peer_n = None
        ctx.add(f, k, "magnitude", EXTREME, v, r, v / r, peer_n,
                f"为{src} 的{slip_multiple_zh(v / r)}，{s.label_zh}", expected_zh=ctx.v(suggested, k),
                suggested=suggested, replacement=suggested, rule=s.label_zh)

    ok = valid & ~slipped
    # --- across peers: modified z (median / MAD)
    pm = cfg.peer_mad
    with np.errstate(all="ignore"):
        mz = _MAD_SCALE * (cur - med) / mad_eff(st["mad"], med)
    lv = np.where(ok & (n >= pm.min_n), _level(mz, pm.moderate, pm.extreme), 0)
    for f, k in zip(*np.nonzero(lv)):
        level = EXTREME if lv[f, k] == 2 else MODERATE
        nn = int(n[f, k])
        word = f"{LEVEL_ZH[level]}（修正Z值 ≥ {_thr(pm.extreme if level == EXTREME else pm.moderate)}）"
        if ctx.disclosed(nn):
            detail = (f"明显偏离{ctx.group_zh(f, nn)}的中位数 {ctx.v(med[f, k], k)}：修正Z值 "
                      f"{_fmt(mz[f, k], 1)}，属{word}")
            exp = ctx.v(med[f, k], k)
        else:
            detail = f"明显偏离同组机构（同组不足 {cfg.min_peer_n_disclosed} 家，不显示同组统计量），属{word}"
            exp = None
        ctx.add(f, k, "peer_mad", level, cur[f, k], med[f, k], mz[f, k], nn, detail, expected_zh=exp,
                replacement=float(med[f, k]))

    # --- across peers: z (mean / sample SD)
    pz = cfg.peer_z
    with np.errstate(all="ignore"):
        z = (cur - st["mean"]) / st["sd"]
    lv = np.where(ok & (n >= pz.min_n) & (st["sd"] > 0), _level(z, pz.moderate, pz.extreme), 0)
    for f, k in zip(*np.nonzero(lv)):
        level = EXTREME if lv[f, k] == 2 else MODERATE
        nn = int(n[f, k])
        word = f"{LEVEL_ZH[level]}（≥ {_thr(pz.extreme if level == EXTREME else pz.moderate)} 个标准差）"
        if ctx.disclosed(nn):
            detail = (f"与{ctx.group_zh(f, nn)}的均值 {ctx.v(st['mean'][f, k], k)} 相差 {_fmt(abs(z[f, k]), 1)} "
                      f"个标准差（标准差 {ctx.v(st['sd'][f, k], k)}），属{word}")
            exp = ctx.v(st["mean"][f, k], k)
        else:
            detail = f"与同组机构均值相差较大（同组不足 {cfg.min_peer_n_disclosed} 家，不显示同组统计量），属{word}"
            exp = None
        ctx.add(f, k, "peer_z", level, cur[f, k], st["mean"][f, k], z[f, k], nn, detail, expected_zh=exp,
                replacement=float(med[f, k]))

    # --- small groups: the facility's own history
    oh = cfg.own_history
    small = n < min(pm.min_n, pz.min_n)
    with np.errstate(all="ignore"):
        mzh = _MAD_SCALE * (cur - med_h) / mad_eff(mad_h, med_h)
    lv = np.where(ok & small & (n_h >= oh.min_months), _level(mzh, oh.moderate, oh.extreme), 0)
    for f, k in zip(*np.nonzero(lv)):
        level = EXTREME if lv[f, k] == 2 else MODERATE
        why = ("未确定同组" if groups[f] is None
               else f"同组机构不足 {min(pm.min_n, pz.min_n)} 家")
        detail = (f"与本机构前 {n_h[f, k]} 个月的中位数 {ctx.v(med_h[f, k], k)} 相比明显异常：修正Z值 "
                  f"{_fmt(mzh[f, k], 1)}，属{LEVEL_ZH[level]}（修正Z值 ≥ "
                  f"{_thr(oh.extreme if level == EXTREME else oh.moderate)}）；{why}，改与本机构历史比较")
        ctx.add(f, k, "own_history", level, cur[f, k], med_h[f, k], mzh[f, k], None, detail,
                expected_zh=ctx.v(med_h[f, k], k), replacement=float(med_h[f, k]))

    # --- over time: same (calendar-adjusted) month last year, adjusted by the peer median's change
    ot = cfg.over_time
    both = ~np.isnan(cur) & ~np.isnan(base)
    pair_n = np.zeros(cur.shape, dtype=np.int64)
    change = np.zeros(cur.shape)
    with _quiet():
        for g in range(len(group_names)):
            rows = np.flatnonzero(gi == g)
            b_ = both[rows]
            mt = np.nanmedian(np.where(b_, cur[rows], np.nan), axis=0)
            mb = np.nanmedian(np.where(b_, base[rows], np.nan), axis=0)
            cnt = b_.sum(axis=0)
            use = (cnt >= ot.peer_median_min_n) & (mb > 0) & (mt >= 0)
            pair_n[rows] = np.where(use, cnt, 0)
            with np.errstate(all="ignore"):
                change[rows] = np.where(use, mt / mb - 1, 0.0)
    expected = base * (1 + change)
    min_abs = np.array([ot.min_abs_change.get(f) for f in fields])[None, :]
    with np.errstate(all="ignore"):
        share = (cur - expected) / np.abs(expected)
    flag = (ok & both & (np.abs(expected) > 0) & (np.abs(share) > ot.max_change_share)
            & (np.abs(cur - expected) >= min_abs))
    cmp_zh = f"上年同期（{cmp_month}，按春节所在月份调整）" if adjusted else f"上年同期（{cmp_month}）"
    for f, k in zip(*np.nonzero(flag)):
        nn = int(pair_n[f, k]) or None
        v, b, e = cur[f, k], base[f, k], expected[f, k]
        gate = (f"预警阈值 {_share_zh(ot.max_change_share)}，且变化量 ≥ {_thr(float(min_abs[0, k]))}{ctx.unit(k)}"
                if min_abs[0, k] > 0 else f"预警阈值 {_share_zh(ot.max_change_share)}")
        if nn is None:
            detail = f"{cmp_zh}为 {ctx.v(b, k)}，本月变化 {_pct(share[f, k])}（{gate}）"
            ref_zh, ref_v, stat = ctx.v(b, k), b, share[f, k]
        elif ctx.disclosed(nn):
            detail = (f"{cmp_zh}为 {ctx.v(b, k)}，{ctx.group_zh(f, nn)}中位数同期变化 {_pct(change[f, k])}，"
                      f"据此参考值为 {ctx.v(e, k)}，本月较参考值 {_pct(share[f, k])}（{gate}）")
            ref_zh, ref_v, stat = ctx.v(e, k), e, share[f, k]
        else:
            raw = v / b - 1
            detail = (f"{cmp_zh}为 {ctx.v(b, k)}，本月变化 {_pct(raw)}，已扣除同组同期变化（同组不足 "
                      f"{cfg.min_peer_n_disclosed} 家，不显示该统计量）后仍超出预警范围（{gate}）")
            ref_zh, ref_v, stat = ctx.v(b, k), e, share[f, k]
        ctx.add(f, k, "yoy", WARNING, v, ref_v, stat, nn, detail, expected_zh=ref_zh,
                replacement=float(e), compare_period=cmp_month, base=float(b),
                peer_change=float(change[f, k]) if nn else None)

    # --- between related indicators
    col = {c: i for i, c in enumerate(codes)}
    for rule in cfg.pairs:
        if rule.numerator not in col or rule.denominator not in col:
            continue
        kn, kd = col[rule.numerator], col[rule.denominator]
        num, den = cur[:, kn], cur[:, kd]
        usable = ~np.isnan(num) & ~np.isnan(den) & (den > 0) & ~slipped[:, kn] & ~slipped[:, kd]
        with np.errstate(all="ignore"):
            ratio = np.where(usable, num * rule.scale / den, np.nan)
        rn = np.zeros(len(fids), dtype=np.int64)
        if rule.reference == "last_year":
            nb, db = base[:, kn], base[:, kd]
            with np.errstate(all="ignore"):
                refv = np.where(~np.isnan(nb) & (db > 0), nb * rule.scale / db, np.nan)
        elif rule.reference == "peer_median":
            refv = np.full(len(fids), np.nan)
            with _quiet():
                for g in range(len(group_names)):
                    rows = np.flatnonzero(gi == g)
                    cnt = int((~np.isnan(ratio[rows])).sum())
                    if cnt >= rule.min_peer_n:
                        refv[rows] = np.nanmedian(ratio[rows])
                        rn[rows] = cnt
        else:
            refv = np.where(ratio < rule.low, rule.low, np.where(ratio > rule.high, rule.high, np.nan))
        with np.errstate(all="ignore"):
            stat = ratio / refv - 1
        if rule.reference == "range":
            flag = usable & ~np.isnan(refv)
        else:
            flag = usable & (refv > 0) & (np.abs(stat) > (rule.tolerance or 0))
        nd, nu = catalog[rule.numerator], catalog[rule.denominator]
        head = (f"「{rule.label_zh}」（{nd.label_zh.removeprefix('其中：')} ÷ {nu.label_zh.removeprefix('其中：')}）"
                f"本月为 {{v}} {rule.unit}")
        for f in np.flatnonzero(flag):
            r, rv = ratio[f], refv[f]
            vz, rz = _fmt(r, rule.decimals), _fmt(rv, rule.decimals)
            exp: str | None = rz
            if rule.reference == "last_year":
                tail = (f"上年同期（{cmp_month}{'，按春节所在月份调整' if adjusted else ''}）为 {rz} {rule.unit}，"
                        f"变化 {_pct(stat[f])}，超出允许的 {_share_zh(rule.tolerance or 0)}")
            elif rule.reference == "peer_median":
                if ctx.disclosed(int(rn[f])):
                    tail = (f"{ctx.group_zh(f, int(rn[f]))}中位数为 {rz} {rule.unit}，相差 {_pct(stat[f])}，"
                            f"超出允许的 {_share_zh(rule.tolerance or 0)}")
                else:
                    tail = (f"与同组机构的一般水平相差超过 {_share_zh(rule.tolerance or 0)}（同组不足 "
                            f"{cfg.min_peer_n_disclosed} 家，不显示同组统计量）")
                    exp = None
            else:
                tail = f"不在合理范围 {_thr(rule.low or 0)}–{_thr(rule.high or 0)} {rule.unit}内"
            ctx.add(f, kn, "pair", WARNING, r, rv, stat[f], int(rn[f]) or None,
                    f"{head.format(v=vz)}，{tail}", expected_zh=exp, value_zh=vz,
                    field_value=float(num[f]), replacement=float(rv * den[f] / rule.scale),
                    compare_period=cmp_month if rule.reference == "last_year" else None,
                    rule=rule.id, related=rule.denominator)

    order = {m: i for i, m in enumerate(METHODS)}
    return sorted(ctx.out, key=lambda o: (o.facility_id, codes.index(o.field), order[o.method], o.rule or ""))


# ---------------------------------------------------------------------------------------------- findings

Cell = tuple[str | None, str | None, str | None, str | None]   # submission_id, file, sheet, cell


def to_findings(outliers: Iterable[Outlier], facility_cells: Mapping[tuple[str, str], Cell],
                include_confirmed: bool = True) -> list:
    """Findings (stage quality) on the submitted cells; a confirmed outlier becomes one info finding."""
    from expectations.findings import make

    out = []
    for o in outliers:
        if o.confirmed and not include_confirmed:
            continue
        sid, file, sheet, cell = facility_cells.get((o.facility_id, o.field), (None, None, None, None))
        code = CONFIRMED_CODE if o.confirmed else o.code
        out.append(make(code, severity=o.severity, field_zh=o.field_zh, detail=o.detail_zh,
                        period=o.period, facility_id=o.facility_id, submission_id=sid, file=file, sheet=sheet,
                        cell=cell, field=o.field, value=o.value_zh, expected=o.expected_zh,
                        rule_id=f"{o.code}:{o.rule}" if o.rule and o.method == "pair" else o.code))
    return out
