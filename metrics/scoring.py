"""Assessment schemes (schemes/<version>.yaml) and scoring: indicator points, composites, ranks and grades."""
from __future__ import annotations

import decimal
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from metrics.catalog import number as _num, CATALOG_DIR, CatalogError, check_keys, load_yaml
from metrics.indicators import DATA_ERROR, MISSING, NO_BASE, OK, SMALL_SAMPLE, UNDEFINED, Indicator, \
    IndicatorValue, load_indicators

SCHEMES_DIR = CATALOG_DIR / "schemes"
RULE_KINDS = ("ceiling", "floor", "band", "linear", "percentile", "monitor")
POLICIES = ("redistribute", "zero")
# which policy of a scheme item governs each non-ok indicator status
POLICY_OF_STATUS = {MISSING: "missing", NO_BASE: "missing", DATA_ERROR: "data_error", UNDEFINED: "undefined",
                    SMALL_SAMPLE: "missing"}
DEFAULT_SECTION = "运营与药品"
STATUS_ZH = {SMALL_SAMPLE: "样本量不足", MISSING: "数据缺失", NO_BASE: "无上年同期数据", DATA_ERROR: "数据有误", UNDEFINED: "不适用（分母为0）"}
# score row statuses
SCORED, ZERO, REDISTRIBUTED, MONITOR, NOT_SCORED = "scored", "zero", "redistributed", "monitor", "not_scored"
UNGROUPED = "未分组"
_STORE = Decimal("0.0001")  # scores table keeps 4 decimals; composites are computed from unrounded points


@dataclass(frozen=True)
class Rule:
    kind: str
    target: Decimal | None = None
    deduct_per_unit: Decimal | None = None
    low: Decimal | None = None
    high: Decimal | None = None
    zero_at: Decimal | None = None
    full_at: Decimal | None = None
    target_key: str | None = None       # ceiling/floor: target looked up per facility (tier × type × specialty)


@dataclass(frozen=True)
class SchemeItem:
    indicator: str
    weight: Decimal
    rule: Rule
    direction: str                      # copied from the indicator catalogue (percentile needs it)
    name_zh: str = ""
    unit: str = ""
    missing: str = "redistribute"
    data_error: str = "zero"
    undefined: str = "redistribute"
    section: str = "运营与药品"         # the part of the scheme the item belongs to (report subtotals)

    def policy(self, status: str) -> str:
        """The gap policy (redistribute | zero) for a non-ok indicator status."""
        return getattr(self, POLICY_OF_STATUS[status])


@dataclass(frozen=True)
class GradeBand:
    grade: str
    min: Decimal


@dataclass(frozen=True)
class Quota:
    grade: str
    max_share: Decimal
    min_count: int
    fallback_grade: str


@dataclass(frozen=True)
class PercentileBand:
    grade: str
    upto: Decimal


@dataclass(frozen=True)
class Scheme:
    version: str
    name_zh: str
    total_points: Decimal
    precision: int
    min_weight_share: Decimal
    calibres: dict[str, str]
    bands: tuple[GradeBand, ...]
    quota: Quota | None
    percentile_bands: tuple[PercentileBand, ...]
    min_group_size: int
    insufficient_label: str
    groups: dict[str, tuple[SchemeItem, ...]]
    require_complete: bool = True       # a quarter/year flow needs every month (see warehouse/sql/agg_fields.sql)

    @property
    def quantum(self) -> Decimal:
        return Decimal(1).scaleb(-self.precision)


# ---------------------------------------------------------------------------------------------- loader

_TOP = {"version", "name_zh", "total_points", "precision", "min_weight_share", "require_complete",
        "defaults", "calibres", "grades", "percentile_bands", "peer_groups",
        "indicator_catalog", "peer_groups_from"}
_OPTIONAL = {"calibres", "defaults", "require_complete", "indicator_catalog", "peer_groups_from"}
_ITEM = {"indicator", "weight", "rule", "missing", "data_error", "undefined", "section"}
_RULE_PARAMS = {"ceiling": {"target", "deduct_per_unit"}, "floor": {"target", "deduct_per_unit"},
                "band": {"low", "high", "deduct_per_unit"}, "linear": {"zero_at", "full_at"},
                "percentile": set(), "monitor": set()}


def _policy(obj: dict, key: str, default: str, where: str) -> str:
    v = obj.get(key, default)
    if v not in POLICIES:
        raise CatalogError(f"{where}.{key}: must be one of {list(POLICIES)}, got {v!r}")
    return v


def parse_rule(obj: Any, where: str, ind: Indicator) -> Rule:
    """A first-slice rule mapping (kind + parameters) for indicator `ind`; errors name `where` and the key."""
    if not isinstance(obj, dict) or obj.get("kind") not in RULE_KINDS:
        raise CatalogError(f"{where}.kind: must be one of {list(RULE_KINDS)}, got "
                           f"{obj.get('kind') if isinstance(obj, dict) else obj!r}")
    params = _RULE_PARAMS[obj["kind"]]
    if obj["kind"] in ("ceiling", "floor") and "target_key" in obj:
        # the target depends on the facility (e.g. AUD ≤ 40 for 综合, ≤ 20 for children's hospitals): it is
        # looked up in metrics/prescribing/data/targets.yaml under this key when the group is scored
        params = params - {"target"}
        check_keys(obj, params | {"kind", "target_key"}, params | {"kind", "target_key"}, where)
        if not isinstance(obj["target_key"], str) or not obj["target_key"]:
            raise CatalogError(f"{where}.target_key: expected the name of a target in targets.yaml")
        r = Rule(obj["kind"], target_key=obj["target_key"],
                 **{k: _num(obj[k], f"{where}.{k}") for k in params})
    else:
        check_keys(obj, params | {"kind"}, params | {"kind"}, where)
        r = Rule(obj["kind"], **{k: _num(obj[k], f"{where}.{k}") for k in params})
    if r.deduct_per_unit is not None and r.deduct_per_unit < 0:
        raise CatalogError(f"{where}.deduct_per_unit: must not be negative")
    if r.kind == "band" and r.low is not None and r.high is not None and r.low > r.high:
        raise CatalogError(f"{where}: low must not exceed high")
    if r.kind == "linear" and r.zero_at == r.full_at:
        raise CatalogError(f"{where}: zero_at and full_at must differ")
    if r.kind == "percentile" and ind.direction not in ("up", "down"):
        raise CatalogError(f"{where}: percentile needs an indicator with direction up or down "
                           f"({ind.code} is {ind.direction})")
    return r


_rule = parse_rule  # the old private name, kept for callers outside this module


def _grades(obj: Any, where: str) -> tuple[tuple[GradeBand, ...], Quota | None]:
    check_keys(obj, {"bands", "quota"}, {"bands"}, where)
    bands = []
    for i, b in enumerate(obj["bands"] or []):
        check_keys(b, {"grade", "min"}, {"grade", "min"}, f"{where}.bands[{i}]")
        bands.append(GradeBand(str(b["grade"]), _num(b["min"], f"{where}.bands[{i}].min")))
    if not bands or any(a.min <= b.min for a, b in zip(bands, bands[1:])):
        raise CatalogError(f"{where}.bands: give at least one band, `min` strictly decreasing")
    quota = None
    if obj.get("quota") is not None:
        q, qw = obj["quota"], f"{where}.quota"
        keys = {"grade", "max_share", "min_count", "fallback_grade"}
        check_keys(q, keys, keys, qw)
        names = {b.grade for b in bands}
        for k in ("grade", "fallback_grade"):
            if q[k] not in names:
                raise CatalogError(f"{qw}.{k}: {q[k]!r} is not one of the bands {sorted(names)}")
        share = _num(q["max_share"], f"{qw}.max_share")
        if not 0 < share <= 1 or not isinstance(q["min_count"], int) or q["min_count"] < 0:
            raise CatalogError(f"{qw}: max_share must be in (0, 1] and min_count a whole number ≥ 0")
        quota = Quota(q["grade"], share, q["min_count"], q["fallback_grade"])
    return tuple(bands), quota


def _percentile_bands(obj: Any, where: str) -> tuple[tuple[PercentileBand, ...], int, str]:
    keys = {"min_group_size", "insufficient_label", "bands"}
    check_keys(obj, keys, keys, where)
    bands = []
    for i, b in enumerate(obj["bands"] or []):
        check_keys(b, {"grade", "upto"}, {"grade", "upto"}, f"{where}.bands[{i}]")
        bands.append(PercentileBand(str(b["grade"]), _num(b["upto"], f"{where}.bands[{i}].upto")))
    if not bands or any(a.upto >= b.upto for a, b in zip(bands, bands[1:])) or bands[-1].upto != 1:
        raise CatalogError(f"{where}.bands: `upto` must increase strictly and the last band must end at 1")
    if not isinstance(obj["min_group_size"], int) or obj["min_group_size"] < 1:
        raise CatalogError(f"{where}.min_group_size: must be a whole number ≥ 1")
    return tuple(bands), obj["min_group_size"], str(obj["insufficient_label"])


def _peer_group_names() -> set[str]:
    # names only; warehouse.registry.peer_group reads the tier × type mapping strictly
    doc = load_yaml(CATALOG_DIR / "peer_groups.yaml") or {}
    return {str(g.get("peer_group")) for g in doc.get("groups") or [] if isinstance(g, dict)}


def _indicator_catalog(name: Any, where: str) -> dict[str, Indicator]:
    # `indicator_catalog`: the catalog file (in metrics/catalog) a scheme scores; the alliance engine is imported
    # only for schemes that name it
    if name == "indicators.yaml":
        return load_indicators()
    if name == "alliance_indicators.yaml":
        from metrics.alliance.catalog import scoring_indicators
        return scoring_indicators()
    raise CatalogError(f"{where}: indicator_catalog: must be indicators.yaml or alliance_indicators.yaml, "
                       f"got {name!r}")


def _group_names(source: Any, where: str) -> set[str]:
    # `peer_groups_from`: peer_groups.yaml (hospital peer groups, tier × type) or org_kinds (医共体, 医联体, …)
    if source == "peer_groups.yaml":
        return _peer_group_names()
    if source == "org_kinds":
        from metrics.alliance.catalog import ORG_KINDS
        return set(ORG_KINDS)
    raise CatalogError(f"{where}: peer_groups_from: must be peer_groups.yaml or org_kinds, got {source!r}")


@lru_cache(maxsize=8)
def _load(path: Path) -> Scheme:
    doc = load_yaml(path)
    check_keys(doc, _TOP, _TOP - _OPTIONAL, str(path))
    if not isinstance(doc.get("require_complete", True), bool):
        raise CatalogError(f"{path}: require_complete: must be true or false")
    catalog = _indicator_catalog(doc.get("indicator_catalog", "indicators.yaml"), str(path))
    total = _num(doc["total_points"], f"{path}: total_points")
    if not isinstance(doc["precision"], int) or not 0 <= doc["precision"] <= 2:
        raise CatalogError(f"{path}: precision: must be 0, 1 or 2 (composites keep 2 decimals)")
    share = _num(doc["min_weight_share"], f"{path}: min_weight_share")
    if not 0 <= share <= 1:
        raise CatalogError(f"{path}: min_weight_share: must be between 0 and 1")
    defaults = doc.get("defaults") or {}
    check_keys(defaults, {"missing", "data_error", "undefined"}, set(), f"{path}: defaults")
    dflt = {k: _policy(defaults, k, d, f"{path}: defaults")
            for k, d in (("missing", "redistribute"), ("data_error", "zero"), ("undefined", "redistribute"))}
    calibres = doc.get("calibres") or {}
    if not isinstance(calibres, dict):
        raise CatalogError(f"{path}: calibres: expected a mapping indicator → calibre")
    for code, name in calibres.items():
        if code not in catalog:
            raise CatalogError(f"{path}: calibres.{code}: unknown indicator")
        if name not in {c.name for c in catalog[code].calibres}:
            raise CatalogError(f"{path}: calibres.{code}: unknown calibre {name!r}")
    bands, quota = _grades(doc["grades"], f"{path}: grades")
    pbands, min_group, insufficient = _percentile_bands(doc["percentile_bands"], f"{path}: percentile_bands")
    groups_from = doc.get("peer_groups_from", "peer_groups.yaml")
    known_groups = _group_names(groups_from, str(path))
    if not isinstance(doc["peer_groups"], dict) or not doc["peer_groups"]:
        raise CatalogError(f"{path}: peer_groups: expected a mapping peer group → indicator list")
    groups: dict[str, tuple[SchemeItem, ...]] = {}
    for g, items in doc["peer_groups"].items():
        gw = f"{path}: peer_groups.{g}"
        if g not in known_groups:
            raise CatalogError(f"{gw}: unknown peer group ({groups_from} has {sorted(known_groups)})")
        if not isinstance(items, list) or not items:
            raise CatalogError(f"{gw}: expected a list of indicators")
        out: list[SchemeItem] = []
        for i, it in enumerate(items):
            iw = f"{gw}[{i}]"
            check_keys(it, _ITEM, {"indicator", "weight", "rule"}, iw)
            ind = catalog.get(it["indicator"])
            if ind is None:
                raise CatalogError(f"{iw}.indicator: unknown indicator {it['indicator']!r}")
            rule = parse_rule(it["rule"], f"{iw}.rule", ind)
            weight = _num(it["weight"], f"{iw}.weight")
            if (rule.kind == "monitor") != (weight == 0) or weight < 0:
                raise CatalogError(f"{iw}.weight: monitor items carry weight 0, scored items a positive weight")
            section = it.get("section", DEFAULT_SECTION)
            if not isinstance(section, str) or not section:
                raise CatalogError(f"{iw}.section: expected a section name")
            out.append(SchemeItem(ind.code, weight, rule, ind.direction, ind.name_zh, ind.unit,
                                  **{k: _policy(it, k, dflt[k], iw) for k in dflt}, section=section))
        codes = [x.indicator for x in out]
        if len(set(codes)) != len(codes):
            raise CatalogError(f"{gw}: an indicator is listed twice")
        if sum(x.weight for x in out) != total:
            raise CatalogError(f"{gw}: weights add up to {sum(x.weight for x in out)}, not total_points {total}")
        groups[str(g)] = tuple(out)
    return Scheme(str(doc["version"]), str(doc["name_zh"]), total, doc["precision"], share, dict(calibres),
                  bands, quota, pbands, min_group, insufficient, groups, doc.get("require_complete", True))


def load_scheme(version: str = "2026", path: Path | None = None) -> Scheme:
    """A versioned scheme from schemes/<version>.yaml; rejects unknown keys naming file and key."""
    return _load(Path(path or SCHEMES_DIR / f"{version}.yaml"))


# ---------------------------------------------------------------------------------------------- points

def _clip(x: Decimal, hi: Decimal) -> Decimal:
    return max(Decimal(0), min(hi, x))


def _p(x: Decimal | None) -> Decimal:
    assert x is not None  # the loader requires every parameter of the rule's kind
    return x


def rule_points(rule: Rule, weight: Decimal, value: Decimal, peers: Sequence[Decimal] = (),
                direction: str = "up") -> Decimal | None:
    """Unrounded points in [0, weight]; percentile = weight × (worse + ties/2) / (n − 1), peers include self."""
    # percentile: n = len(peers) (self included), worse = peers strictly worse than value (lower for up, higher
    # for down), ties = peers equal to value minus self; n = 1 → full points.
    if rule.kind == "monitor":
        return None
    if rule.kind in ("ceiling", "floor", "band"):
        if rule.kind == "ceiling":
            beyond = value - _p(rule.target)
        elif rule.kind == "floor":
            beyond = _p(rule.target) - value
        else:
            beyond = max(_p(rule.low) - value, value - _p(rule.high))
        return _clip(weight - _p(rule.deduct_per_unit) * max(Decimal(0), beyond), weight)
    if rule.kind == "linear":
        zero_at, full_at = _p(rule.zero_at), _p(rule.full_at)
        return _clip(weight * (value - zero_at) / (full_at - zero_at), weight)
    if rule.kind == "percentile":
        n = len(peers)
        if n <= 1:
            return weight
        worse = sum(1 for p in peers if (p < value if direction == "up" else p > value))
        ties = sum(1 for p in peers if p == value) - 1
        return weight * (Decimal(worse) + Decimal(ties) / 2) / (n - 1)
    raise ValueError(f"unknown rule kind {rule.kind!r}")


# ---------------------------------------------------------------------------------------------- ranks, grades

def rank_within(composites: Mapping[str, Decimal]) -> dict[str, int]:
    """rank = 1 + number of facilities with a strictly higher composite (ties share a rank)."""
    values = sorted(composites.values(), reverse=True)
    first: dict[Decimal, int] = {}
    for i, v in enumerate(values):
        first.setdefault(v, i + 1)
    return {fid: first[v] for fid, v in composites.items()}


def band_grade(composite: Decimal, bands: Sequence[GradeBand]) -> str | None:
    """The first band whose minimum the composite reaches."""
    for b in bands:
        if composite >= b.min:
            return b.grade
    return None


def quota_size(n: int, quota: Quota) -> int:
    """How many facilities may keep the quota grade: floor(n × max_share), at least min_count."""
    return max(quota.min_count, int((Decimal(n) * quota.max_share).to_integral_value(rounding=ROUND_FLOOR)))


def apply_quota(grades: Mapping[str, str | None], ranks: Mapping[str, int],
                quota: Quota | None) -> dict[str, str | None]:
    """Facilities with the quota grade keep it when rank ≤ quota size (ties on the boundary keep it)."""
    if quota is None:
        return dict(grades)
    limit = quota_size(len(ranks), quota)
    return {fid: (quota.fallback_grade if g == quota.grade and ranks[fid] > limit else g)
            for fid, g in grades.items()}


def percentile_band(rank: int, n: int, bands: Sequence[PercentileBand], min_group_size: int,
                    insufficient_label: str) -> str:
    """The first band with (rank − 1) < upto × n; below min_group_size the insufficient label."""
    if n < min_group_size:
        return insufficient_label
    for b in bands:
        if Decimal(rank - 1) < b.upto * n:
            return b.grade
    return bands[-1].grade


# ---------------------------------------------------------------------------------------------- score

@dataclass(frozen=True)
class ScoreRow:
    facility_id: str
    peer_group: str
    indicator: str
    weight: Decimal
    effective_weight: Decimal | None    # weight after redistribution (total_points × w / Σ weights in composite)
    points: Decimal | None              # rule points out of `weight` (4 decimals); None for monitor/redistributed
    status: str                         # scored | zero | redistributed | monitor
    detail: str | None = None

    def as_row(self, period: str, scheme_version: str) -> dict[str, Any]:
        """Row for the warehouse `scores` table."""
        return {"period": period, "scheme_version": scheme_version, "facility_id": self.facility_id,
                "peer_group": self.peer_group, "indicator": self.indicator, "weight": self.weight,
                "effective_weight": self.effective_weight, "points": self.points, "status": self.status,
                "detail": self.detail}


@dataclass(frozen=True)
class CompositeRow:
    facility_id: str
    peer_group: str
    composite: Decimal | None           # rounded half-up at the scheme's precision
    rank: int | None
    grade: str | None                   # 优秀/良好/合格/不合格 after the quota
    quota_grade: str | None             # percentile band (A++ … C) or the insufficient-group label
    status: str                         # scored | not_scored
    reason: str | None = None

    def as_row(self, period: str, scheme_version: str) -> dict[str, Any]:
        """Row for the warehouse `composites` table."""
        return {"period": period, "scheme_version": scheme_version, "facility_id": self.facility_id,
                "peer_group": self.peer_group, "composite": self.composite, "rank": self.rank,
                "grade": self.grade, "quota_grade": self.quota_grade, "status": self.status,
                "reason": self.reason}


def _q(d: Decimal | None) -> Decimal | None:
    return None if d is None else d.quantize(_STORE, rounding=ROUND_HALF_UP)


def _fmt(d: Decimal) -> str:
    return f"{d.quantize(_STORE, rounding=ROUND_HALF_UP).normalize():f}"


def _rule_zh(it: SchemeItem) -> str:
    r, u = it.rule, it.unit
    step = "1个百分点" if u == "%" else f"1{u}"
    if r.target is None and r.target_key:
        word = "超" if r.kind == "ceiling" else "低"
        return f"目标按机构级别、类别查目标表（{r.target_key}），每{word}{step}扣 {_fmt(_p(r.deduct_per_unit))} 分"
    if r.kind == "ceiling":
        return f"目标 ≤ {_fmt(_p(r.target))}{u}，每超{step}扣 {_fmt(_p(r.deduct_per_unit))} 分"
    if r.kind == "floor":
        return f"目标 ≥ {_fmt(_p(r.target))}{u}，每低{step}扣 {_fmt(_p(r.deduct_per_unit))} 分"
    if r.kind == "band":
        return f"目标 {_fmt(_p(r.low))}–{_fmt(_p(r.high))}{u}，超出每{step}扣 {_fmt(_p(r.deduct_per_unit))} 分"
    if r.kind == "linear":
        return f"{_fmt(_p(r.zero_at))}{u} 得0分，{_fmt(_p(r.full_at))}{u} 得满分，其间线性"
    return "同组百分位排名计分"


def _score_group(group: str, fids: list[str], items: tuple[SchemeItem, ...],
                 values: Mapping[str, Mapping[str, IndicatorValue]], scheme: Scheme,
                 targets: Mapping[tuple[str, str], Decimal] | None = None
                 ) -> tuple[list[ScoreRow], dict[str, tuple[Decimal | None, str | None]]]:
    # percentile pools: every facility of the group with a value for the indicator
    pools = {it.indicator: [values[f][it.indicator].value for f in fids
                            if it.indicator in values.get(f, {}) and values[f][it.indicator].status == OK]
             for it in items if it.rule.kind == "percentile"}
    scored_weight = sum((it.weight for it in items if it.rule.kind != "monitor"), Decimal(0))
    rows: list[ScoreRow] = []
    result: dict[str, tuple[Decimal | None, str | None]] = {}
    for fid in fids:
        fv = values.get(fid, {})
        entries: list[tuple[SchemeItem, str, Decimal | None, str]] = []   # item, status, points, detail
        gaps_re, gaps_zero = [], []
        for it in items:
            iv = fv.get(it.indicator)
            status = iv.status if iv is not None else MISSING
            rule = it.rule
            if rule.target_key and rule.target is None and status == OK:
                t = (targets or {}).get((fid, it.indicator))
                if t is None:  # no target for this kind of facility: not applicable, like a zero denominator
                    entries.append((it, REDISTRIBUTED, None, "目标表中无适用于本机构的目标值，权重按比例分配至其他指标"))
                    gaps_re.append(f"{it.indicator} {it.name_zh}（无适用目标值）")
                    continue
                rule = replace(rule, target=t)
                it = replace(it, rule=rule)
            if it.rule.kind == "monitor":
                shown = (f"指标值 {iv.value}{it.unit}" if iv is not None and iv.status == OK
                         else STATUS_ZH.get(status, status))
                entries.append((it, MONITOR, None, f"监测指标，不计分；{shown}"))
            elif status == OK:
                assert iv is not None and iv.value is not None
                pts = rule_points(it.rule, it.weight, iv.value, pools.get(it.indicator, ()), it.direction)
                entries.append((it, SCORED, pts, f"指标值 {iv.value}{it.unit}；{_rule_zh(it)}"))
            elif it.policy(status) == "zero":
                entries.append((it, ZERO, Decimal(0), f"{STATUS_ZH[status]}，按方案计0分"))
                gaps_zero.append(f"{it.indicator} {it.name_zh}（{STATUS_ZH[status]}）")
            else:
                entries.append((it, REDISTRIBUTED, None, f"{STATUS_ZH[status]}，权重按比例分配至其他指标"))
                gaps_re.append(f"{it.indicator} {it.name_zh}（{STATUS_ZH[status]}）")
        in_composite = [(it, pts) for it, st, pts, _ in entries if st in (SCORED, ZERO)]
        used = sum((it.weight for it, _ in in_composite), Decimal(0))
        share = used / scored_weight if scored_weight else Decimal(0)
        scored = used > 0 and share >= scheme.min_weight_share
        factor = scheme.total_points / used if scored else None
        for it, st, pts, detail in entries:
            eff = None if st == MONITOR else (it.weight * factor if factor is not None and st in (SCORED, ZERO)
                                              else Decimal(0))
            rows.append(ScoreRow(fid, group, it.indicator, it.weight, _q(eff), _q(pts), st, detail))
        notes = []
        if gaps_re:
            notes.append(("缺项（权重已重新分配）：" if scored else "缺项：") + "、".join(gaps_re))
        if gaps_zero:
            notes.append("计0分：" + "、".join(gaps_zero))
        if not scored:
            pct = (share * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
            notes.insert(0, f"纳入评分的指标权重占 {pct}%，低于方案要求的 "
                            f"{(scheme.min_weight_share * 100).normalize():f}%")
            result[fid] = (None, "；".join(notes))
        else:
            assert factor is not None
            total = sum((p for _, p in in_composite if p is not None), Decimal(0)) * factor
            result[fid] = (total.quantize(scheme.quantum, rounding=ROUND_HALF_UP), "；".join(notes) or None)
    return rows, result


def score(indicator_values: Iterable[IndicatorValue], peer_groups: Mapping[str, str | None],
          scheme: Scheme, targets: Mapping[tuple[str, str], Decimal] | None = None
          ) -> tuple[list[ScoreRow], list[CompositeRow]]:
    """Points per indicator, composite, rank and grades for every facility of the scheme's peer groups.

    `targets[(facility, indicator)]` gives the facility's own target for rules with a `target_key`.
    """
    values: dict[str, dict[str, IndicatorValue]] = {}
    for iv in indicator_values:
        values.setdefault(iv.facility_id, {})[iv.indicator] = iv
    members: dict[str, list[str]] = {}
    composites: list[CompositeRow] = []
    for fid in sorted(set(values) | set(peer_groups)):
        g = peer_groups.get(fid)
        if g is None:
            composites.append(CompositeRow(fid, UNGROUPED, None, None, None, None, NOT_SCORED,
                                           "无法确定机构的同组类别（级别×类型）"))
        elif g in scheme.groups:
            members.setdefault(g, []).append(fid)
        # facilities of peer groups outside the scheme (e.g. 基层) are not assessed by it
    score_rows: list[ScoreRow] = []
    with decimal.localcontext() as ctx:
        ctx.prec = 34
        for g in sorted(members):
            fids = members[g]
            rows, result = _score_group(g, fids, scheme.groups[g], values, scheme, targets)
            score_rows.extend(rows)
            scored = {f: c for f, (c, _) in result.items() if c is not None}
            ranks = rank_within(scored)
            grades = apply_quota({f: band_grade(c, scheme.bands) for f, c in scored.items()}, ranks, scheme.quota)
            n = len(scored)
            for fid in fids:
                c, reason = result[fid]
                if c is None:
                    composites.append(CompositeRow(fid, g, None, None, None, None, NOT_SCORED, reason))
                else:
                    qg = percentile_band(ranks[fid], n, scheme.percentile_bands, scheme.min_group_size,
                                         scheme.insufficient_label)
                    composites.append(CompositeRow(fid, g, c, ranks[fid], grades[fid], qg, SCORED, reason))
    composites.sort(key=lambda r: (r.peer_group, r.rank is None, r.rank or 0, r.facility_id))
    return score_rows, composites
