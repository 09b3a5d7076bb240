"""Alliance (医共体) indicator values and each unit's contribution, from unit-month fields and memberships."""
from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, NamedTuple

from metrics.alliance.catalog import COUNTY, COUNTY_ROLE, EXCLUDE, LEAD, LEAD_SRC, MEMBERS, AllianceCatalog, \
    AllianceIndicator, Term, load_alliance_indicators
from metrics.catalog import CatalogError, all_fields_by_code
from metrics.indicators import MISSING, OK, UNDEFINED

# (unit id, "YYYY-MM") → field code → value; None = blank cell. A unit-month holds every field of every return
# the unit filed that month (a unit without any return that month has no key at all).
UnitMonthValues = Mapping[tuple[str, str], Mapping[str, Decimal | int | None]]
Aggregation = Mapping[str, str]         # field code → "sum" (flow) | "last" (stock)

# the templates a unit may file; a field's prefix says which one carries it
HOSPITAL_RETURN, GRASSROOTS_RETURN, COUNTY_RETURN = "JX-YB01", "JX-JC01", "JX-XY01"
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_ROLE_ORDER = {COUNTY_ROLE: 0, LEAD: 1}


class Membership(NamedTuple):
    """One row of the registry's 成员关系 sheet; a plain 7-tuple in this order works as well."""
    facility_id: str
    org_id: str
    org_name: str
    org_kind: str                       # 医共体 | 专科联盟 | 医院集团 | 医联体
    role: str                           # 牵头 | 成员
    valid_from: dt.date
    valid_to: dt.date | None = None     # exclusive


@dataclass(frozen=True)
class AllianceValue:
    org_id: str
    indicator: str
    numerator: Decimal | None           # Σ over counted unit-months (and the county); None when missing
    denominator: Decimal | None         # ratio only
    value: Decimal | None               # rounded half-up at the indicator's decimals; None unless status ok
    status: str                         # ok | undefined | missing
    detail: str | None = None           # Chinese: gaps, exclusions, reasons


@dataclass(frozen=True)
class Contribution:
    org_id: str
    indicator: str
    facility_id: str                    # a member facility, or the county unit for county terms
    role: str                           # 牵头 | 成员 | 县域
    numerator_part: Decimal
    denominator_part: Decimal | None    # None for value indicators
    months: tuple[str, ...]             # the months this unit was counted in


@dataclass
class _Part:
    role: str
    num: Decimal = Decimal(0)
    den: Decimal = Decimal(0)
    months: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------- inputs

def _date(v: Any, where: str) -> dt.date | None:
    if v is None or (isinstance(v, dt.date) and not isinstance(v, dt.datetime)):
        return v
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, str):
        return dt.date.fromisoformat(v)
    raise ValueError(f"{where}: expected a date, got {v!r}")


def _membership(row: Any) -> Membership:
    m = Membership(**{k: row[k] for k in Membership._fields if k in row}) if isinstance(row, Mapping) \
        else Membership(*row)
    return m._replace(valid_from=_date(m.valid_from, f"{m.org_id}/{m.facility_id}.valid_from"),
                      valid_to=_date(m.valid_to, f"{m.org_id}/{m.facility_id}.valid_to"))


def _bounds(month: str) -> tuple[dt.date, dt.date]:
    y, m = int(month[:4]), int(month[5:7])
    return dt.date(y, m, 1), dt.date(y + m // 12, m % 12 + 1, 1)


def _check_months(months: Sequence[str]) -> list[str]:
    out = [str(m) for m in months]
    if not out or any(not _MONTH.match(m) for m in out) or any(a >= b for a, b in zip(out, out[1:])):
        raise ValueError(f"months: expected YYYY-MM months, oldest first, got {list(months)!r}")
    return out


def _roles(rows: list[Membership], months: list[str]) -> dict[str, dict[str, str]]:
    """month → facility → role of the memberships overlapping each month (as sql/reg_memberships_for_period)."""
    out: dict[str, dict[str, str]] = {}
    for month in months:
        start, end = _bounds(month)
        best: dict[str, tuple[bool, dt.date, str]] = {}
        for r in rows:
            if r.valid_from < end and (r.valid_to is None or r.valid_to > start):
                # a facility with two rows in the month: the one valid on the month's last day, else the latest
                key = (r.valid_to is None or r.valid_to >= end, r.valid_from, r.role)
                if r.facility_id not in best or key[:2] > best[r.facility_id][:2]:
                    best[r.facility_id] = key
        out[month] = {fid: k[2] for fid, k in best.items()}
    return out


def _family(code: str) -> str:
    return GRASSROOTS_RETURN if code.startswith("jc_") else COUNTY_RETURN if code.startswith("xy_") \
        else HOSPITAL_RETURN


def _families(values: UnitMonthValues, unit_returns: Mapping[str, Iterable[str]] | None) -> dict[str, set[str]]:
    # the returns each unit files: given, or read off the fields its unit-months carry (any month passed in)
    out: dict[str, set[str]] = {}
    for (unit, _), fields in values.items():
        out.setdefault(unit, set()).update(_family(f) for f in fields)
    for unit, templates in (unit_returns or {}).items():
        out[unit] = set(templates)
    return out


def _dec(v: Decimal | int | float) -> Decimal:
    return v if isinstance(v, Decimal) else Decimal(repr(v)) if isinstance(v, float) else Decimal(v)


def _sum(rec: Mapping[str, Decimal | int | None], terms: Iterable[Term]) -> Decimal:
    # callers have checked that every term's field is present and not blank
    return sum((_dec(v) for t in terms if (v := rec[t.field]) is not None), Decimal(0))


def _applies(t: Term, role: str, families: set[str]) -> bool:
    # a term counts for a unit when it reads the unit's role (members = everyone, lead = the 牵头 unit) and a return
    # the unit files; a unit never seen in the data is held to every term (and so listed as 未报)
    return (t.source == MEMBERS or (t.source == LEAD_SRC and role == LEAD)) and \
        (not families or _family(t.field) in families)


def _label(code: str) -> str:
    try:  # best effort: the field catalogs name the items; the engine works without them
        f = all_fields_by_code().get(code)
    except CatalogError:
        f = None
    return f.label_zh.removeprefix("其中：") if f is not None else code


def _stock_or_flow(ind: AllianceIndicator, aggregation: Aggregation) -> str:
    kinds = set()
    for f in ind.formula.fields():
        if aggregation.get(f) not in ("sum", "last"):
            raise ValueError(f"aggregation: {f} (used by {ind.code}) must be 'sum' or 'last', "
                             f"got {aggregation.get(f)!r}")
        kinds.add(aggregation[f])
    if len(kinds) > 1:
        raise ValueError(f"{ind.code}: mixes flows and stocks ({ind.formula.fields()}); not supported")
    return kinds.pop()


# ---------------------------------------------------------------------------------------------- evaluate

@dataclass
class _Org:
    org_id: str
    county: str | None
    roles: dict[str, dict[str, str]]    # month → facility → role
    active: list[str]                   # months of the period with at least one valid member
    period: list[str]


def _missing(org: str, ind: AllianceIndicator, *reasons: str) -> tuple[AllianceValue, list[Contribution]]:
    return AllianceValue(org, ind.code, None, None, None, MISSING, "；".join(r for r in reasons if r)), []


def _evaluate(ind: AllianceIndicator, org: _Org, values: UnitMonthValues, families: Mapping[str, set[str]],
              agg: str) -> tuple[AllianceValue, list[Contribution]]:
    if not org.active:
        return _missing(org.org_id, ind, "期内无有效成员单位（成员关系未覆盖本期任何月份）")
    f = ind.formula
    ratio = f.kind == "ratio"
    # flows sum over the alliance's months of the period; stocks take the last of them
    used = org.active if agg == "sum" else org.active[-1:]
    notes = []
    if org.active != org.period:
        notes.append(f"成员关系仅覆盖{'、'.join(org.active)}，按这些月份计算")
    parts: dict[str, _Part] = {}

    county_terms = [t for t in f.terms() if t.source == COUNTY]
    if county_terms:
        if org.county is None:
            return _missing(org.org_id, ind, "未指定医共体所属县域（县域月报单位）", *notes)
        codes = list(dict.fromkeys(t.field for t in county_terms))
        gaps = []
        for m in used:
            rec = values.get((org.county, m))
            blank = codes if rec is None else [c for c in codes if rec.get(c) is None]
            if blank:
                what = "未报" if rec is None else "、".join(map(_label, blank))
                gaps.append(f"{org.county} {m}（{what}）")
        if gaps:
            return _missing(org.org_id, ind, "县域月报缺失：" + "、".join(gaps), *notes)
        part = parts[org.county] = _Part(COUNTY_ROLE, months=list(used))
        for m in used:
            rec = values[(org.county, m)]
            part.num += _sum(rec, (t for t in f.numerator if t.source == COUNTY))
            part.den += _sum(rec, (t for t in f.denominator if t.source == COUNTY))

    unit_terms = [t for t in f.terms() if t.source != COUNTY]
    gaps_um: list[tuple[str, str]] = []
    if unit_terms:
        if any(t.source == LEAD_SRC for t in unit_terms) and not any(LEAD in org.roles[m].values() for m in used):
            return _missing(org.org_id, ind, "期内无牵头医院", *notes)
        for m in used:
            for fid, role in sorted(org.roles[m].items()):
                fams = families.get(fid, set())
                num_t = [t for t in f.numerator if _applies(t, role, fams)]
                den_t = [t for t in f.denominator if _applies(t, role, fams)]
                if not num_t and not den_t:
                    continue  # e.g. the lead hospital for 基层 fields
                part = parts.setdefault(fid, _Part(role))
                part.role = role
                rec = values.get((fid, m))
                if rec is None or any(rec.get(t.field) is None for t in num_t + den_t):
                    gaps_um.append((fid, m))
                    continue
                part.num += _sum(rec, num_t)
                part.den += _sum(rec, den_t)
                part.months.append(m)
    if gaps_um:
        listing = "、".join(f"{fid} {m}" for fid, m in sorted(gaps_um))
        if ind.missing_member != EXCLUDE:
            return _missing(org.org_id, ind, f"未报：{listing}", *notes)
        if not any(p.months for p in parts.values() if p.role != COUNTY_ROLE):
            return _missing(org.org_id, ind, f"成员单位均无可用数据；未报：{listing}", *notes)
        how = "该月同时从分子、分母中剔除" if ratio else "该月不计入"
        notes.insert(0, f"未报（{how}）：{listing}")

    rows = sorted(parts.items(), key=lambda kv: (_ROLE_ORDER.get(kv[1].role, 2), kv[0]))
    num = sum((p.num for _, p in rows), Decimal(0))
    den = sum((p.den for _, p in rows), Decimal(0)) if ratio else None
    contributions = [Contribution(org.org_id, ind.code, fid, p.role, p.num, p.den if ratio else None,
                                  tuple(p.months)) for fid, p in rows]
    if den is not None and den == 0:
        labels = "、".join(dict.fromkeys(_label(t.field) for t in f.denominator))
        return AllianceValue(org.org_id, ind.code, num, den, None, UNDEFINED,
                             "；".join([f"分母为0：{labels}", *notes])), contributions
    raw = num * f.scale / den if den is not None else num * f.scale
    value = raw.quantize(ind.quantum, rounding=ROUND_HALF_UP)
    return AllianceValue(org.org_id, ind.code, num, den, value, OK, "；".join(notes) or None), contributions


def compute_alliances(unit_month_values: UnitMonthValues, aggregation: Aggregation,
                      memberships: Iterable[Membership | Sequence[Any] | Mapping[str, Any]],
                      alliance_county: Mapping[str, str], months: Sequence[str],
                      catalog: AllianceCatalog | Mapping[str, AllianceIndicator] | None = None,
                      org_kind: str = "医共体", unit_returns: Mapping[str, Iterable[str]] | None = None
                      ) -> tuple[list[AllianceValue], list[Contribution]]:
    """Every catalog indicator for every organisation of `org_kind`, with each unit's share of num and den."""
    # Organisations: those with a membership row of org_kind, plus alliance_county keys no row gives another kind.
    # unit_returns: unit → templates it files (JX-YB01 hospital, JX-JC01 基层); by default read off the fields its
    # unit-months carry, and a unit with no data at all is held to every term (so listed as 未报).
    period = _check_months(months)
    cat = load_alliance_indicators() if catalog is None else catalog
    indicators = cat.indicators if isinstance(cat, AllianceCatalog) else cat
    aggs = {code: _stock_or_flow(ind, aggregation) for code, ind in indicators.items()}
    rows = [_membership(r) for r in memberships]
    other = {r.org_id for r in rows if r.org_kind != org_kind}
    org_ids = {r.org_id for r in rows if r.org_kind == org_kind} | (set(alliance_county) - other)
    families = _families(unit_month_values, unit_returns)
    values: list[AllianceValue] = []
    contributions: list[Contribution] = []
    with decimal.localcontext() as ctx:
        ctx.prec = 34
        for oid in sorted(org_ids):
            roles = _roles([r for r in rows if r.org_id == oid and r.org_kind == org_kind], period)
            org = _Org(oid, alliance_county.get(oid), roles, [m for m in period if roles[m]], period)
            for code, ind in indicators.items():
                v, c = _evaluate(ind, org, unit_month_values, families, aggs[code])
                values.append(v)
                contributions.extend(c)
    return values, contributions
