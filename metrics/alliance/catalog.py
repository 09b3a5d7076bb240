"""Alliance indicator catalogue (alliance_indicators.yaml): indicators over members, the lead and the county."""
from __future__ import annotations

import decimal
import re
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from metrics.catalog import number as _num, CATALOG_DIR, CatalogError, check_keys, load_yaml
from metrics.indicators import DEFAULT_CALIBRE, MISSING, UNDEFINED, Calibre, Formula, Indicator

ALLIANCE_CATALOG = CATALOG_DIR / "alliance_indicators.yaml"
# organisation kinds of the registry's 成员关系 sheet (same tuple as warehouse.registry.ORG_KINDS; metrics does
# not import the warehouse) — the peer groups of a scheme with `peer_groups_from: org_kinds`
ORG_KINDS = ("医共体", "专科联盟", "医院集团", "医联体")
LEAD, MEMBER, COUNTY_ROLE = "牵头", "成员", "县域"

MEMBERS, LEAD_SRC, COUNTY = "members", "lead", "county"
SOURCES = (MEMBERS, LEAD_SRC, COUNTY)
LEVELS = ("county", "alliance", "lead")
UNITS = ("%", "人次", "人")
DIRECTIONS = ("up", "down")
KINDS = ("ratio", "value")
EXCLUDE = "exclude"
MISSING_MEMBER = (EXCLUDE, MISSING)     # exclude the member-month from num and den | the indicator is missing
COUNTY_PREFIX = "xy_"                   # fields of the county return JX-XY01

_FIELD = re.compile(r"^[a-z][a-z0-9_]*$")
_TOP = {"version", "missing_member", "indicators"}
_IND = {"code", "name_zh", "unit", "decimals", "direction", "level", "note_zh", "formula", "missing_member",
        "examples"}
_IND_REQUIRED = {"code", "name_zh", "unit", "decimals", "direction", "level", "note_zh", "formula"}
_FORMULA = {"kind", "numerator", "denominator", "scale"}
_TERM = {"field", "from"}
_EXAMPLE = {"given", "expect"}
_GIVEN = {"county", "lead", "members"}


@dataclass(frozen=True)
class Term:
    field: str
    source: str                         # members (every member valid in the month, lead included) | lead | county


@dataclass(frozen=True)
class AllianceFormula:
    kind: str                           # ratio | value
    numerator: tuple[Term, ...]
    denominator: tuple[Term, ...] = ()
    scale: Decimal = Decimal(1)

    def terms(self) -> tuple[Term, ...]:
        return self.numerator + self.denominator

    def fields(self) -> tuple[str, ...]:
        """Every field the formula reads, once, in formula order."""
        return tuple(dict.fromkeys(t.field for t in self.terms()))


@dataclass(frozen=True)
class AllianceExample:
    given: tuple[dict[str, Any], ...]   # one mapping {county?, lead?, members?} per month, oldest first
    expect: Decimal | str               # rounded value, or a status word (undefined | missing)


@dataclass(frozen=True)
class AllianceIndicator:
    code: str
    name_zh: str
    unit: str
    decimals: int
    direction: str
    level: str                          # county | alliance | lead (who the figure describes)
    note_zh: str
    formula: AllianceFormula
    missing_member: str                 # exclude | missing (the catalog default unless the indicator overrides)
    examples: tuple[AllianceExample, ...] = ()

    @property
    def quantum(self) -> Decimal:
        return Decimal(1).scaleb(-self.decimals)

    def as_indicator(self) -> Indicator:
        """The indicator as metrics.scoring sees it (code, name, unit, direction; one default calibre)."""
        f = self.formula
        formula = Formula(f.kind, tuple(t.field for t in f.numerator), (),
                          tuple(t.field for t in f.denominator), f.scale)
        return Indicator(self.code, self.name_zh, self.unit, self.direction, self.decimals,
                         (Calibre(DEFAULT_CALIBRE, "", formula),), DEFAULT_CALIBRE, note_zh=self.note_zh)


@dataclass(frozen=True)
class AllianceCatalog:
    version: str
    missing_member: str
    indicators: dict[str, AllianceIndicator]   # by code, in file order
    path: Path


def _policy(obj: dict, default: str, key: str) -> str:
    v = obj.get("missing_member", default)
    if v not in MISSING_MEMBER:
        raise CatalogError(f"{key}: must be one of {list(MISSING_MEMBER)}, got {v!r}")
    return v


def _terms(obj: dict, key: str, where: str) -> tuple[Term, ...]:
    v = obj.get(key)
    if not isinstance(v, list) or not v:
        raise CatalogError(f"{where}.{key}: expected a non-empty list of terms {{field, from}}")
    out = []
    for i, t in enumerate(v):
        tw = f"{where}.{key}[{i}]"
        check_keys(t, _TERM, _TERM, tw)
        if not isinstance(t["field"], str) or not _FIELD.match(t["field"]):
            raise CatalogError(f"{tw}.field: expected a field code, got {t['field']!r}")
        if t["from"] not in SOURCES:
            raise CatalogError(f"{tw}.from: must be one of {list(SOURCES)}, got {t['from']!r}")
        # the county return is the only source of xy_ fields, and it carries nothing else
        if (t["from"] == COUNTY) != t["field"].startswith(COUNTY_PREFIX):
            raise CatalogError(f"{tw}: fields from the county return are exactly the {COUNTY_PREFIX}* fields "
                               f"(got {t['field']} from {t['from']})")
        out.append(Term(t["field"], t["from"]))
    return tuple(out)


def _formula(obj: Any, where: str) -> AllianceFormula:
    check_keys(obj, _FORMULA, {"kind", "numerator"}, where)
    if obj["kind"] not in KINDS:
        raise CatalogError(f"{where}.kind: must be one of {list(KINDS)}, got {obj['kind']!r}")
    scale = _num(obj.get("scale", 1), f"{where}.scale")
    if scale <= 0:
        raise CatalogError(f"{where}.scale: must be positive")
    num = _terms(obj, "numerator", where)
    if obj["kind"] == "value":
        if "denominator" in obj:
            raise CatalogError(f"{where}.denominator: a value has no denominator")
        return AllianceFormula("value", num, (), scale)
    if "denominator" not in obj:
        raise CatalogError(f"{where}: missing key(s) ['denominator']")
    return AllianceFormula("ratio", num, _terms(obj, "denominator", where), scale)


def _example(obj: Any, where: str) -> AllianceExample:
    check_keys(obj, _EXAMPLE, _EXAMPLE, where)
    months = obj["given"] if isinstance(obj["given"], list) else [obj["given"]]
    if not months:
        raise CatalogError(f"{where}.given: expected at least one month")
    for j, g in enumerate(months):
        gw = f"{where}.given" + (f"[{j}]" if isinstance(obj["given"], list) else "")
        check_keys(g, _GIVEN, set(), gw)
        units = [(f"{gw}.{k}", g[k]) for k in ("county", "lead") if k in g]
        if "members" in g:
            if not isinstance(g["members"], list):
                raise CatalogError(f"{gw}.members: expected a list (one mapping per member, null = no return)")
            units += [(f"{gw}.members[{i}]", m) for i, m in enumerate(g["members"])]
        for uw, fields in units:
            if fields is None:
                continue  # no return from this unit this month
            if not isinstance(fields, dict):
                raise CatalogError(f"{uw}: expected a mapping field → value (or null for no return)")
            for f, v in fields.items():
                if not isinstance(f, str) or not _FIELD.match(f):
                    raise CatalogError(f"{uw}: {f!r} is not a field code")
                if v is not None:
                    _num(v, f"{uw}.{f}")
    expect = obj["expect"]
    if isinstance(expect, str) and expect in (UNDEFINED, MISSING):
        return AllianceExample(tuple(months), expect)
    return AllianceExample(tuple(months), _num(expect, f"{where}.expect"))


def _indicator(d: Any, where: str, default_policy: str) -> AllianceIndicator:
    if isinstance(d, dict) and "code" in d:
        where = f"{where} ({d['code']})"
    check_keys(d, _IND, _IND_REQUIRED, where)
    if d["unit"] not in UNITS:
        raise CatalogError(f"{where}.unit: must be one of {list(UNITS)}, got {d['unit']!r}")
    if d["direction"] not in DIRECTIONS:
        raise CatalogError(f"{where}.direction: must be one of {list(DIRECTIONS)}, got {d['direction']!r}")
    if d["level"] not in LEVELS:
        raise CatalogError(f"{where}.level: must be one of {list(LEVELS)}, got {d['level']!r}")
    if isinstance(d["decimals"], bool) or not isinstance(d["decimals"], int) or not 0 <= d["decimals"] <= 4:
        raise CatalogError(f"{where}.decimals: must be an integer 0–4 (the warehouse keeps 4)")
    formula = _formula(d["formula"], f"{where}.formula")
    sources = {t.source for t in formula.terms()}
    if d["level"] == "county" and sources != {COUNTY}:
        raise CatalogError(f"{where}.level: a county indicator reads only `from: county` terms")
    if d["level"] == "lead" and sources != {LEAD_SRC}:
        raise CatalogError(f"{where}.level: a lead indicator reads only `from: lead` terms")
    if d["level"] == "alliance" and MEMBERS not in sources:
        raise CatalogError(f"{where}.level: an alliance indicator reads at least one `from: members` term")
    policy = _policy(d, default_policy, f"{where}.missing_member")
    if policy == EXCLUDE and COUNTY in sources and sources - {COUNTY}:
        # a county total includes every member: dropping a member-month from the other side only would bias it
        raise CatalogError(f"{where}.missing_member: an indicator mixing member and county terms cannot exclude "
                           f"a member-month from both sides; set `missing_member: missing`")
    examples = tuple(_example(e, f"{where}.examples[{j}]") for j, e in enumerate(d.get("examples") or []))
    return AllianceIndicator(str(d["code"]), str(d["name_zh"]), d["unit"], d["decimals"], d["direction"],
                             d["level"], str(d["note_zh"]), formula, policy, examples)


@lru_cache(maxsize=4)
def _load(path: Path) -> AllianceCatalog:
    doc = load_yaml(path)
    check_keys(doc, _TOP, {"version", "indicators"}, str(path))
    default = _policy(doc, EXCLUDE, f"{path}: missing_member")
    if not isinstance(doc["indicators"], list) or not doc["indicators"]:
        raise CatalogError(f"{path}: indicators: expected a non-empty list")
    out: dict[str, AllianceIndicator] = {}
    for i, d in enumerate(doc["indicators"]):
        ind = _indicator(d, f"{path}: indicators[{i}]", default)
        if ind.code in out:
            raise CatalogError(f"{path}: indicators[{i}].code: duplicate indicator code {ind.code!r}")
        out[ind.code] = ind
    return AllianceCatalog(str(doc["version"]), default, out, path)


def load_alliance_indicators(path: Path | None = None) -> AllianceCatalog:
    """The alliance catalogue; rejects unknown keys and bad values, naming file and key."""
    return _load(Path(path or ALLIANCE_CATALOG))


def scoring_indicators(path: Path | None = None) -> dict[str, Indicator]:
    """The alliance indicators as metrics.indicators.Indicator, for schemes with `indicator_catalog`."""
    return {code: ind.as_indicator() for code, ind in load_alliance_indicators(path).indicators.items()}
