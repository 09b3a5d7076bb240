"""The `method:` block of a scheme as typed data, and its strict loader (schema: metrics/grading/__init__.py)."""
from __future__ import annotations

import decimal
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from metrics.catalog import number as _num, CATALOG_DIR, CatalogError, check_keys, load_yaml
from metrics.scoring import GradeBand as Band  # a score band: the first slice's (grade, min)
from metrics.scoring import PercentileBand as QuotaBand  # a rank-share band: (grade, upto)
from metrics.scoring import Rule
from metrics.scoring import parse_rule as _parse_rule  # the first slice's rule grammar, parsed by its own loader

STD_METHODS = ("z", "t_score", "minmax", "percentile_rank")
SCOPES = ("peer_group", "all")
SD_KINDS = ("population", "sample")
WINSOR_METHODS = ("percentile", "sd")
PERCENTILE_METHODS = ("linear", "nearest_rank")
RANK_FORMULAS = ("midrank", "below")
ORIENT_KINDS = ("up", "down", "ceiling", "floor", "band", "monitor")
SCORE_KINDS = ("standardise", "rule", "improvement")
RESTANDARDISE = ("none", "z")
COMBINE = ("better", "achievement", "improvement")
GRADING_METHODS = ("bands", "quota", "kmeans")
GRADING_KEYS = ("peer_group", "groups_reported")
ROUNDINGS = ("floor", "half_up", "ceil")
KMEANS_TIES = ("lower", "higher")
BREAKERS = ("group", "indicator", "indicators_reported", "facility_id")
ORDERS = ("asc", "desc")

# keys a scheme file may carry beside `method:` (the first slice's rule-points part; read by metrics.scoring)
SCHEME_KEYS = {"version", "name_zh", "method", "total_points", "precision", "min_weight_share", "require_complete",
               "defaults", "calibres", "grades", "percentile_bands", "peer_groups", "indicator_catalog",
               "peer_groups_from"}


@dataclass(frozen=True)
class Precision:
    stat: int = 6               # peer mean, SD, caps, thresholds, benchmarks (used as published)
    standardised: int = 4       # z, T, min–max, percentile rank, rule share, improvement points
    group: int = 4              # group scores
    composite: int = 2          # composite: ranks, grades and k-means use this published value


@dataclass(frozen=True)
class Winsorise:
    method: str                 # percentile | sd
    lower: Decimal | None = None
    upper: Decimal | None = None
    percentile_method: str = "linear"
    k: Decimal | None = None


@dataclass(frozen=True)
class Standardise:
    method: str = "z"
    within: str = "peer_group"
    sd: str = "population"
    min_n: int = 2
    winsorise: Winsorise | None = None
    percentile_rank: str = "midrank"
    scale: Decimal = Decimal(1)


@dataclass(frozen=True)
class Orientation:
    kind: str                   # up | down | ceiling | floor | band | monitor
    target: Decimal | None = None
    target_key: str | None = None
    low: Decimal | None = None
    high: Decimal | None = None


@dataclass(frozen=True)
class Item:
    indicator: str
    group: str
    orient: Orientation
    score: str = "standardise"  # standardise | rule | improvement
    rule: Rule | None = None
    weight: Decimal = Decimal(1)
    min_denominator: Decimal = Decimal(0)
    min_sample: int = 0
    peer_groups: frozenset[str] | None = None   # scored only in these peer groups (None: every assessed group)
    monitor_in: frozenset[str] = frozenset()    # shown, not scored, in these peer groups
    name_zh: str = ""
    unit: str = ""
    direction: str = "up"       # catalogue direction (the first slice's percentile rule needs it)
    weight_in: tuple[tuple[str, Decimal], ...] = ()   # (peer group, weight) overriding `weight` there

    def weight_for(self, peer_group: str) -> Decimal:
        """The item's weight in a peer group."""
        for g, w in self.weight_in:
            if g == peer_group:
                return w
        return self.weight

    def mode(self, peer_group: str) -> str | None:
        """How the item counts for a peer group: scored | monitor | None (not listed there)."""
        if self.peer_groups is not None and peer_group not in self.peer_groups and peer_group not in self.monitor_in:
            return None
        if self.orient.kind == "monitor" or peer_group in self.monitor_in:
            return "monitor"
        return "scored"


@dataclass(frozen=True)
class Group:
    name: str
    weight: Decimal


@dataclass(frozen=True)
class Groups:
    items: tuple[Group, ...]
    weights_sum: Decimal
    min_indicators: int = 1
    restandardise: str = "none"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(g.name for g in self.items)


@dataclass(frozen=True)
class Eligibility:
    min_groups: int = 1
    min_indicators: int = 1
    required: tuple[str, ...] = ()


@dataclass(frozen=True)
class Improvement:
    max_points: Decimal = Decimal(10)
    threshold_percentile: Decimal = Decimal("0.5")
    benchmark_top_share: Decimal = Decimal("0.1")
    percentile_method: str = "linear"
    points_decimals: int = 0
    combine: str = "better"
    baseline: str = "previous_period"    # the period improvement is measured against: previous_period | same_period_last_year


@dataclass(frozen=True)
class BonusItem:
    code: str
    name_zh: str
    event: str
    points: Decimal
    max: Decimal | None = None


@dataclass(frozen=True)
class Bonus:
    cap: Decimal | None = None
    items: tuple[BonusItem, ...] = ()


@dataclass(frozen=True)
class VetoItem:
    code: str
    name_zh: str
    cap_grade: str
    event: str | None = None
    indicator: str | None = None
    below: Decimal | None = None
    above: Decimal | None = None


@dataclass(frozen=True)
class BandCap:
    grade: str
    max_share: Decimal
    rounding: str
    min_count: int
    fallback: str


@dataclass(frozen=True)
class Grading:
    method: str
    within: tuple[str, ...] = ("peer_group",)
    bands: tuple[Band, ...] = ()
    cap: BandCap | None = None
    quota: tuple[QuotaBand, ...] = ()
    rounding: str = "ceil"
    min_group_size: int = 1
    insufficient_label: str = "组内样本不足"
    k: int = 0
    labels: tuple[str, ...] = ()
    max_iter: int = 100
    tie: str = "lower"

    @property
    def order(self) -> tuple[str, ...]:
        """Grade labels, best first."""
        if self.method == "bands":
            return tuple(b.grade for b in self.bands)
        if self.method == "quota":
            return tuple(b.grade for b in self.quota)
        return self.labels


@dataclass(frozen=True)
class TieBreaker:
    by: str
    order: str
    group: str | None = None
    indicator: str | None = None

    @property
    def label_zh(self) -> str:
        word = "高者在前" if self.order == "desc" else "低者在前"
        if self.by == "group":
            return f"{self.group}组得分（{word}）"
        if self.by == "indicator":
            return f"指标 {self.indicator} 标准化值（{word}）"
        if self.by == "indicators_reported":
            return f"计分指标个数（{'多者在前' if self.order == 'desc' else '少者在前'}）"
        return f"机构代码（{'升序' if self.order == 'asc' else '降序'}）"


@dataclass(frozen=True)
class Method:
    version: str
    name_zh: str
    peer_groups: tuple[str, ...]
    items: tuple[Item, ...]
    groups: Groups
    grading: Grading
    precision: Precision = Precision()
    standardise: Standardise = Standardise()
    eligibility: Eligibility = Eligibility()
    improvement: Improvement = Improvement()
    bonus: Bonus = Bonus()
    veto: tuple[VetoItem, ...] = ()
    ties: tuple[TieBreaker, ...] = ()
    source: str = ""


# ---------------------------------------------------------------------------------------------- helpers


def _int(v: Any, where: str, lo: int = 0) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise CatalogError(f"{where}: expected a whole number ≥ {lo}, got {v!r}")
    return v


def _choice(v: Any, choices: tuple[str, ...], where: str) -> str:
    if v not in choices:
        raise CatalogError(f"{where}: must be one of {list(choices)}, got {v!r}")
    return v


def _text(v: Any, where: str) -> str:
    if not isinstance(v, str) or not v:
        raise CatalogError(f"{where}: expected a non-empty text, got {v!r}")
    return v


def _share(v: Any, where: str, lo_open: bool = False) -> Decimal:
    x = _num(v, where)
    if not (0 < x <= 1 if lo_open else 0 <= x <= 1):
        raise CatalogError(f"{where}: must be between 0 and 1, got {v!r}")
    return x


def _names(v: Any, where: str, known: set[str] | tuple[str, ...]) -> tuple[str, ...]:
    if not isinstance(v, list):
        raise CatalogError(f"{where}: expected a list")
    for i, x in enumerate(v):
        if x not in known:
            raise CatalogError(f"{where}[{i}]: unknown {x!r}; known: {sorted(known)}")
    return tuple(v)


# ---------------------------------------------------------------------------------------------- sections

def _precision(obj: Any, where: str) -> Precision:
    keys = {"stat", "standardised", "group", "composite"}
    check_keys(obj, keys, set(), where)
    vals = {k: _int(obj[k], f"{where}.{k}") for k in obj}
    for k, v in vals.items():
        if v > 12:
            raise CatalogError(f"{where}.{k}: at most 12 decimals")
    return Precision(**vals)


def _winsorise(obj: Any, where: str) -> Winsorise | None:
    if obj is None or obj == "none":
        return None
    if not isinstance(obj, dict):
        raise CatalogError(f"{where}: expected none or a mapping")
    m = _choice(obj.get("method"), WINSOR_METHODS, f"{where}.method")
    if m == "percentile":
        check_keys(obj, {"method", "lower", "upper", "percentile_method"}, {"method", "lower", "upper"}, where)
        lo, hi = _share(obj["lower"], f"{where}.lower"), _share(obj["upper"], f"{where}.upper")
        if lo >= hi:
            raise CatalogError(f"{where}: lower must be below upper")
        pm = _choice(obj.get("percentile_method", "linear"), PERCENTILE_METHODS, f"{where}.percentile_method")
        return Winsorise("percentile", lower=lo, upper=hi, percentile_method=pm)
    check_keys(obj, {"method", "k"}, {"method", "k"}, where)
    k = _num(obj["k"], f"{where}.k")
    if k <= 0:
        raise CatalogError(f"{where}.k: must be positive")
    return Winsorise("sd", k=k)


def _standardise(obj: Any, where: str) -> Standardise:
    keys = {"method", "within", "sd", "min_n", "winsorise", "percentile_rank", "scale"}
    check_keys(obj, keys, {"method", "within"}, where)
    std = Standardise(
        method=_choice(obj["method"], STD_METHODS, f"{where}.method"),
        within=_choice(obj["within"], SCOPES, f"{where}.within"),
        sd=_choice(obj.get("sd", "population"), SD_KINDS, f"{where}.sd"),
        min_n=_int(obj.get("min_n", 2), f"{where}.min_n", 1),
        winsorise=_winsorise(obj.get("winsorise"), f"{where}.winsorise"),
        percentile_rank=_choice(obj.get("percentile_rank", "midrank"), RANK_FORMULAS, f"{where}.percentile_rank"),
        scale=_num(obj.get("scale", 1), f"{where}.scale"))
    if std.sd == "sample" and std.min_n < 2:
        raise CatalogError(f"{where}.min_n: a sample SD needs min_n ≥ 2")
    if std.scale <= 0:
        raise CatalogError(f"{where}.scale: must be positive")
    if std.method == "percentile_rank" and std.winsorise is not None:
        raise CatalogError(f"{where}.winsorise: percentile ranks need no capping (it would only merge ranks)")
    return std


def _orient(obj: Any, where: str, direction: str, code: str) -> Orientation:
    if obj is None:
        if direction not in ("up", "down", "monitor"):
            raise CatalogError(f"{where}: {code} has direction {direction!r}; state orient explicitly")
        return Orientation(direction)
    if isinstance(obj, str):
        if obj not in ("up", "down", "monitor"):
            raise CatalogError(f"{where}: must be up, down, monitor or a mapping with kind, got {obj!r}")
        return Orientation(obj)
    if not isinstance(obj, dict):
        raise CatalogError(f"{where}: expected up, down, monitor or a mapping with kind")
    kind = _choice(obj.get("kind"), ORIENT_KINDS, f"{where}.kind")
    if kind in ("up", "down", "monitor"):
        check_keys(obj, {"kind"}, {"kind"}, where)
        return Orientation(kind)
    if kind == "band":
        check_keys(obj, {"kind", "low", "high"}, {"kind", "low", "high"}, where)
        lo, hi = _num(obj["low"], f"{where}.low"), _num(obj["high"], f"{where}.high")
        if lo > hi:
            raise CatalogError(f"{where}: low must not exceed high")
        return Orientation("band", low=lo, high=hi)
    if "target_key" in obj:
        check_keys(obj, {"kind", "target_key"}, {"kind", "target_key"}, where)
        return Orientation(kind, target_key=_text(obj["target_key"], f"{where}.target_key"))
    check_keys(obj, {"kind", "target"}, {"kind", "target"}, where)
    return Orientation(kind, target=_num(obj["target"], f"{where}.target"))


_ITEM_KEYS = {"indicator", "group", "orient", "score", "weight", "weight_in", "min_denominator", "min_sample",
              "peer_groups", "monitor_in"}


def _item(obj: Any, where: str, catalog: Mapping[str, Any], defaults: dict[str, Any], groups: tuple[str, ...],
          peer_groups: tuple[str, ...]) -> Item:
    check_keys(obj, _ITEM_KEYS, {"indicator", "group"}, where)
    ind = catalog.get(obj["indicator"])
    if ind is None:
        raise CatalogError(f"{where}.indicator: unknown indicator {obj['indicator']!r}")
    group = _choice(obj["group"], groups, f"{where}.group")
    orient = _orient(obj.get("orient"), f"{where}.orient", ind.direction, ind.code)
    score, rule = "standardise", None
    sc = obj.get("score", "standardise")
    if isinstance(sc, dict):
        check_keys(sc, {"kind", "rule"}, {"kind", "rule"}, f"{where}.score")
        if sc["kind"] != "rule":
            raise CatalogError(f"{where}.score.kind: a mapping is for kind rule; write standardise or improvement")
        score, rule = "rule", _parse_rule(sc["rule"], f"{where}.score.rule", ind)
        if rule.kind == "monitor":
            raise CatalogError(f"{where}.score.rule: use orient: monitor for a monitor item")
    else:
        score = _choice(sc, ("standardise", "improvement"), f"{where}.score")
    weight = _num(obj.get("weight", defaults.get("weight", 1)), f"{where}.weight")
    if weight <= 0:
        raise CatalogError(f"{where}.weight: must be positive")
    min_den = _num(obj.get("min_denominator", defaults.get("min_denominator", 0)), f"{where}.min_denominator")
    min_sample = _int(obj.get("min_sample", defaults.get("min_sample", 0)), f"{where}.min_sample")
    pg = obj.get("peer_groups")
    only = None if pg is None else frozenset(_names(pg, f"{where}.peer_groups", peer_groups))
    mon = frozenset(_names(obj.get("monitor_in", []), f"{where}.monitor_in", peer_groups))
    if orient.kind == "monitor" and score != "standardise":
        raise CatalogError(f"{where}.score: a monitor item is not scored")
    wi = obj.get("weight_in") or {}
    if not isinstance(wi, dict):
        raise CatalogError(f"{where}.weight_in: expected a mapping peer group → weight")
    weight_in = []
    for g, w in wi.items():
        _choice(g, peer_groups, f"{where}.weight_in")
        x = _num(w, f"{where}.weight_in.{g}")
        if x <= 0:
            raise CatalogError(f"{where}.weight_in.{g}: must be positive")
        weight_in.append((g, x))
    return Item(ind.code, group, orient, score, rule, weight, min_den, min_sample, only, mon,
                getattr(ind, "name_zh", ""), getattr(ind, "unit", ""), ind.direction, tuple(weight_in))


def _groups(obj: Any, where: str) -> Groups:
    check_keys(obj, {"weights_sum", "min_indicators", "restandardise", "list"}, {"weights_sum", "list"}, where)
    if not isinstance(obj["list"], list) or not obj["list"]:
        raise CatalogError(f"{where}.list: expected a list of groups")
    out = []
    for i, g in enumerate(obj["list"]):
        check_keys(g, {"name", "weight"}, {"name", "weight"}, f"{where}.list[{i}]")
        w = _num(g["weight"], f"{where}.list[{i}].weight")
        if w <= 0:
            raise CatalogError(f"{where}.list[{i}].weight: must be positive")
        out.append(Group(_text(g["name"], f"{where}.list[{i}].name"), w))
    names = [g.name for g in out]
    if len(set(names)) != len(names):
        raise CatalogError(f"{where}.list: a group is listed twice")
    total = _num(obj["weights_sum"], f"{where}.weights_sum")
    if sum(g.weight for g in out) != total:
        raise CatalogError(f"{where}.list: weights add up to {sum(g.weight for g in out)}, not weights_sum {total}")
    return Groups(tuple(out), total, _int(obj.get("min_indicators", 1), f"{where}.min_indicators", 1),
                  _choice(obj.get("restandardise", "none"), RESTANDARDISE, f"{where}.restandardise"))


def _eligibility(obj: Any, where: str, groups: tuple[str, ...]) -> Eligibility:
    check_keys(obj, {"min_groups", "min_indicators", "required"}, set(), where)
    el = Eligibility(_int(obj.get("min_groups", 1), f"{where}.min_groups"),
                     _int(obj.get("min_indicators", 1), f"{where}.min_indicators", 1),
                     _names(obj.get("required", []), f"{where}.required", groups))
    if el.min_groups > len(groups):
        raise CatalogError(f"{where}.min_groups: only {len(groups)} groups are defined")
    return el


def _improvement(obj: Any, where: str) -> Improvement:
    keys = {"max_points", "threshold_percentile", "benchmark_top_share", "percentile_method", "points_decimals",
            "combine", "baseline"}
    check_keys(obj, keys, set(), where)
    imp = Improvement(
        max_points=_num(obj.get("max_points", 10), f"{where}.max_points"),
        threshold_percentile=_share(obj.get("threshold_percentile", "0.5"), f"{where}.threshold_percentile"),
        benchmark_top_share=_share(obj.get("benchmark_top_share", "0.1"), f"{where}.benchmark_top_share", True),
        percentile_method=_choice(obj.get("percentile_method", "linear"), PERCENTILE_METHODS,
                                  f"{where}.percentile_method"),
        points_decimals=_int(obj.get("points_decimals", 0), f"{where}.points_decimals"),
        combine=_choice(obj.get("combine", "better"), COMBINE, f"{where}.combine"),
        baseline=_choice(obj.get("baseline", "previous_period"), ("previous_period", "same_period_last_year"),
                         f"{where}.baseline"))
    if imp.max_points < 1:
        raise CatalogError(f"{where}.max_points: must be at least 1")
    return imp


def _bonus(obj: Any, where: str) -> Bonus:
    check_keys(obj, {"cap", "items"}, {"items"}, where)
    items = []
    for i, b in enumerate(obj["items"] or []):
        iw = f"{where}.items[{i}]"
        check_keys(b, {"code", "name_zh", "event", "points", "max"}, {"code", "name_zh", "event", "points"}, iw)
        pts = _num(b["points"], f"{iw}.points")
        mx = None if b.get("max") is None else _num(b["max"], f"{iw}.max")
        if pts <= 0 or (mx is not None and mx <= 0):
            raise CatalogError(f"{iw}: points and max must be positive")
        items.append(BonusItem(_text(b["code"], f"{iw}.code"), _text(b["name_zh"], f"{iw}.name_zh"),
                               _text(b["event"], f"{iw}.event"), pts, mx))
    cap = None if obj.get("cap") is None else _num(obj["cap"], f"{where}.cap")
    if cap is not None and cap < 0:
        raise CatalogError(f"{where}.cap: must not be negative")
    return Bonus(cap, tuple(items))


def _veto(obj: Any, where: str, grades: tuple[str, ...], codes: set[str]) -> tuple[VetoItem, ...]:
    check_keys(obj, {"items"}, {"items"}, where)
    out = []
    for i, v in enumerate(obj["items"] or []):
        iw = f"{where}.items[{i}]"
        check_keys(v, {"code", "name_zh", "cap_grade", "event", "indicator", "below", "above"},
                   {"code", "name_zh", "cap_grade"}, iw)
        cap = _choice(v["cap_grade"], grades, f"{iw}.cap_grade")
        if ("event" in v) == ("indicator" in v):
            raise CatalogError(f"{iw}: give either event or indicator (with below or above)")
        if "event" in v:
            if "below" in v or "above" in v:
                raise CatalogError(f"{iw}: below/above go with indicator, not event")
            out.append(VetoItem(_text(v["code"], f"{iw}.code"), _text(v["name_zh"], f"{iw}.name_zh"), cap,
                                event=_text(v["event"], f"{iw}.event")))
            continue
        if v["indicator"] not in codes:
            raise CatalogError(f"{iw}.indicator: {v['indicator']!r} is not an indicator of the method")
        if ("below" in v) == ("above" in v):
            raise CatalogError(f"{iw}: give exactly one of below or above")
        out.append(VetoItem(_text(v["code"], f"{iw}.code"), _text(v["name_zh"], f"{iw}.name_zh"), cap,
                            indicator=v["indicator"],
                            below=_num(v["below"], f"{iw}.below") if "below" in v else None,
                            above=_num(v["above"], f"{iw}.above") if "above" in v else None))
    if len({v.code for v in out}) != len(out):
        raise CatalogError(f"{where}.items: a code is listed twice")
    return tuple(out)


def _labels_unique(labels: tuple[str, ...], where: str) -> None:
    if len(set(labels)) != len(labels):
        raise CatalogError(f"{where}: a grade label is listed twice")


def _grading(obj: Any, where: str) -> Grading:
    if not isinstance(obj, dict):
        raise CatalogError(f"{where}: expected a mapping")
    method = _choice(obj.get("method"), GRADING_METHODS, f"{where}.method")
    common = {"method", "within"}
    within = obj.get("within", ["peer_group"])
    within_t = _names(within, f"{where}.within", GRADING_KEYS)
    if method == "bands":
        check_keys(obj, common | {"bands", "cap"}, {"method", "bands"}, where)
        bands = []
        for i, b in enumerate(obj["bands"] or []):
            check_keys(b, {"grade", "min"}, {"grade", "min"}, f"{where}.bands[{i}]")
            bands.append(Band(_text(str(b["grade"]), f"{where}.bands[{i}].grade"),
                              _num(b["min"], f"{where}.bands[{i}].min")))
        if not bands or any(a.min <= b.min for a, b in zip(bands, bands[1:])):
            raise CatalogError(f"{where}.bands: give at least one band, `min` strictly decreasing")
        _labels_unique(tuple(b.grade for b in bands), f"{where}.bands")
        cap = None
        if obj.get("cap") is not None:
            c, cw = obj["cap"], f"{where}.cap"
            keys = {"grade", "max_share", "rounding", "min_count", "fallback"}
            check_keys(c, keys, {"grade", "max_share", "fallback"}, cw)
            names = tuple(b.grade for b in bands)
            cap = BandCap(_choice(c["grade"], names, f"{cw}.grade"), _share(c["max_share"], f"{cw}.max_share", True),
                          _choice(c.get("rounding", "floor"), ROUNDINGS, f"{cw}.rounding"),
                          _int(c.get("min_count", 0), f"{cw}.min_count"), _choice(c["fallback"], names, f"{cw}.fallback"))
            if names.index(cap.fallback) <= names.index(cap.grade):
                raise CatalogError(f"{cw}.fallback: must be a grade below {cap.grade}")
        return Grading("bands", within_t, bands=tuple(bands), cap=cap)
    if method == "quota":
        keys = common | {"bands", "rounding", "min_group_size", "insufficient_label"}
        check_keys(obj, keys, {"method", "bands"}, where)
        qb = []
        for i, b in enumerate(obj["bands"] or []):
            check_keys(b, {"grade", "upto"}, {"grade", "upto"}, f"{where}.bands[{i}]")
            qb.append(QuotaBand(_text(str(b["grade"]), f"{where}.bands[{i}].grade"),
                                _share(b["upto"], f"{where}.bands[{i}].upto", True)))
        if not qb or any(a.upto >= b.upto for a, b in zip(qb, qb[1:])) or qb[-1].upto != 1:
            raise CatalogError(f"{where}.bands: `upto` must increase strictly and the last band must end at 1")
        _labels_unique(tuple(b.grade for b in qb), f"{where}.bands")
        return Grading("quota", within_t, quota=tuple(qb),
                       rounding=_choice(obj.get("rounding", "ceil"), ROUNDINGS, f"{where}.rounding"),
                       min_group_size=_int(obj.get("min_group_size", 1), f"{where}.min_group_size", 1),
                       insufficient_label=_text(obj.get("insufficient_label", "组内样本不足"),
                                                f"{where}.insufficient_label"))
    keys = common | {"k", "labels", "max_iter", "tie", "min_group_size", "insufficient_label"}
    check_keys(obj, keys, {"method", "k", "labels"}, where)
    k = _int(obj["k"], f"{where}.k", 1)
    labels = obj["labels"]
    if not isinstance(labels, list) or len(labels) != k:
        raise CatalogError(f"{where}.labels: give exactly k = {k} labels, best first")
    labels_t = tuple(_text(str(x), f"{where}.labels[{i}]") for i, x in enumerate(labels))
    _labels_unique(labels_t, f"{where}.labels")
    mgs = _int(obj.get("min_group_size", k), f"{where}.min_group_size", 1)
    if mgs < k:
        raise CatalogError(f"{where}.min_group_size: must be at least k = {k}")
    return Grading("kmeans", within_t, k=k, labels=labels_t, min_group_size=mgs,
                   max_iter=_int(obj.get("max_iter", 100), f"{where}.max_iter", 1),
                   tie=_choice(obj.get("tie", "lower"), KMEANS_TIES, f"{where}.tie"),
                   insufficient_label=_text(obj.get("insufficient_label", "组内样本不足"),
                                            f"{where}.insufficient_label"))


def _ties(obj: Any, where: str, groups: tuple[str, ...], codes: set[str]) -> tuple[TieBreaker, ...]:
    check_keys(obj, {"breakers"}, set(), where)
    out = []
    for i, b in enumerate(obj.get("breakers") or []):
        bw = f"{where}.breakers[{i}]"
        by = _choice(b.get("by") if isinstance(b, dict) else None, BREAKERS, f"{bw}.by")
        extra = {"group"} if by == "group" else {"indicator"} if by == "indicator" else set()
        check_keys(b, {"by", "order"} | extra, {"by"} | extra, bw)
        order = _choice(b.get("order", "asc" if by == "facility_id" else "desc"), ORDERS, f"{bw}.order")
        if by == "group":
            out.append(TieBreaker(by, order, group=_choice(b["group"], groups, f"{bw}.group")))
        elif by == "indicator":
            if b["indicator"] not in codes:
                raise CatalogError(f"{bw}.indicator: {b['indicator']!r} is not an indicator of the method")
            out.append(TieBreaker(by, order, indicator=b["indicator"]))
        else:
            out.append(TieBreaker(by, order))
    return tuple(out)


# ---------------------------------------------------------------------------------------------- loader

_METHOD_KEYS = {"precision", "peer_groups", "standardise", "defaults", "indicators", "groups", "eligibility",
                "improvement", "bonus", "veto", "grading", "ties"}


def _known_peer_groups() -> set[str]:
    doc = load_yaml(CATALOG_DIR / "peer_groups.yaml") or {}
    return {str(g.get("peer_group")) for g in doc.get("groups") or [] if isinstance(g, dict)}


def parse_method(obj: Any, where: str, *, version: str = "", name_zh: str = "",
                 catalog: Mapping[str, Any] | None = None, known_peer_groups: set[str] | None = None) -> Method:
    """A `method:` mapping as a Method; unknown keys raise CatalogError naming `where` and the key path."""
    if catalog is None:
        from metrics.indicators import load_indicators
        catalog = load_indicators()
    known = _known_peer_groups() if known_peer_groups is None else known_peer_groups
    check_keys(obj, _METHOD_KEYS, {"peer_groups", "standardise", "indicators", "groups", "grading"}, where)
    peer_groups = _names(obj["peer_groups"], f"{where}.peer_groups", known)
    if not peer_groups or len(set(peer_groups)) != len(peer_groups):
        raise CatalogError(f"{where}.peer_groups: list each assessed peer group once")
    precision = _precision(obj.get("precision", {}), f"{where}.precision")
    std = _standardise(obj["standardise"], f"{where}.standardise")
    groups = _groups(obj["groups"], f"{where}.groups")
    defaults = obj.get("defaults") or {}
    check_keys(defaults, {"weight", "min_denominator", "min_sample"}, set(), f"{where}.defaults")
    if not isinstance(obj["indicators"], list) or not obj["indicators"]:
        raise CatalogError(f"{where}.indicators: expected a list of indicators")
    items = tuple(_item(it, f"{where}.indicators[{i}]", catalog, defaults, groups.names, peer_groups)
                  for i, it in enumerate(obj["indicators"]))
    codes = [it.indicator for it in items]
    if len(set(codes)) != len(codes):
        raise CatalogError(f"{where}.indicators: an indicator is listed twice")
    grading = _grading(obj["grading"], f"{where}.grading")
    if "groups_reported" in grading.within and "eligibility" not in obj:
        raise CatalogError(f"{where}.grading.within: groups_reported needs an eligibility block (min_indicators)")
    return Method(
        version=version, name_zh=name_zh, peer_groups=peer_groups, items=items, groups=groups, grading=grading,
        precision=precision, standardise=std,
        eligibility=_eligibility(obj.get("eligibility", {}), f"{where}.eligibility", groups.names),
        improvement=_improvement(obj.get("improvement", {}), f"{where}.improvement"),
        bonus=_bonus(obj.get("bonus", {"items": []}), f"{where}.bonus"),
        veto=_veto(obj.get("veto", {"items": []}), f"{where}.veto", grading.order, set(codes)),
        ties=_ties(obj.get("ties", {}), f"{where}.ties", groups.names, set(codes)),
        source=where.split(":")[0])


def load_method(path: Path | str, *, catalog: Mapping[str, Any] | None = None) -> Method:
    """The `method:` block of a scheme file; unknown keys raise CatalogError naming the file and the key."""
    path = Path(path)
    doc = load_yaml(path)
    check_keys(doc, SCHEME_KEYS, {"version", "name_zh", "method"}, str(path))
    if catalog is None:
        name = doc.get("indicator_catalog", "indicators.yaml")
        if name != "indicators.yaml":
            raise CatalogError(f"{path}: indicator_catalog: the grading method reads indicators.yaml, got {name!r}")
        from metrics.indicators import load_indicators
        catalog = load_indicators()
    calibres = doc.get("calibres") or {}
    if not isinstance(calibres, dict):
        raise CatalogError(f"{path}: calibres: expected a mapping indicator → calibre")
    for code, name in calibres.items():
        if code not in catalog or name not in {c.name for c in catalog[code].calibres}:
            raise CatalogError(f"{path}: calibres.{code}: unknown indicator or calibre {name!r}")
    return parse_method(doc["method"], f"{path}: method", version=str(doc["version"]), name_zh=str(doc["name_zh"]),
                        catalog=catalog)
