"""Generic-name dictionary (通用名 → ATC, route hints, potency and combination keys) and name normalisation."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from metrics.ddd.files import DATA_DIR, DDDConfigError, norm_text, read_csv
from metrics.ddd.tables import valid_code

NAME_COLUMNS = ("name", "atc", "routes", "default_route", "potency", "combination", "ddd_variant", "ddd_source",
                "note")
DDD_SOURCES = ("who", "national", "none")

_CHARS = str.maketrans({"恶": "噁", "粘": "黏", "（": "(", "）": ")", "【": "(", "】": ")", "[": "(", "]": ")"})
_BRACKETS = re.compile(r"\(([^()]*)\)")
_RATIO = re.compile(r"^(\d+(?:\.\d+)?)(?::(\d+(?:\.\d+)?))+$")
_FORM_PREFIXES = ("注射用", "吸入用", "小儿", "儿童", "口服", "外用")
_FORM_SUFFIXES = tuple(sorted((
    "氯化钠注射液", "葡萄糖注射液", "注射用浓溶液", "注射液", "注射剂", "粉针剂", "粉针", "冻干粉", "输液",
    "分散片", "缓释片", "肠溶片", "咀嚼片", "泡腾片", "薄膜衣片", "含片", "片剂", "片", "肠溶胶囊", "缓释胶囊",
    "软胶囊", "胶囊剂", "胶囊", "颗粒剂", "颗粒", "干混悬剂", "口服混悬液", "混悬液", "混悬剂", "口服溶液",
    "口服液", "干糖浆", "糖浆剂", "糖浆", "散剂", "散", "滴眼液", "眼膏", "眼用凝胶", "软膏", "乳膏", "凝胶",
    "滴耳液", "栓剂", "栓", "阴道泡腾片", "阴道片", "阴道栓", "吸入溶液", "吸入粉雾剂", "浓溶液", "溶液",
    "搽剂", "洗剂", "胶丸", "滴丸", "丸", "乳剂"), key=len, reverse=True))
_SALT_PREFIXES = tuple(sorted((
    "盐酸", "硫酸", "乳酸", "甲磺酸", "磷酸", "乳糖酸", "醋酸", "枸橼酸", "酒石酸", "马来酸", "门冬氨酸",
    "甲苯磺酸", "对甲苯磺酸", "硬脂酸", "依托", "富马酸", "琥珀酸", "氢溴酸", "苯磺酸"), key=len, reverse=True))
_SALT_SUFFIXES = tuple(sorted((
    "磷酸酯二钠", "磷酸酯", "棕榈酸酯", "氨丁三醇", "钠盐", "钾盐", "一水合物", "水合物", "二钠", "鎓", "钠",
    "钾", "钙", "甲磺酸", "硫酸盐", "盐酸盐", "磷酸盐"), key=len, reverse=True))


def _strip(s: str, prefixes: tuple[str, ...], suffixes: tuple[str, ...]) -> str:
    changed = True
    while changed and s:
        changed = False
        for p in prefixes:
            if s.startswith(p) and len(s) > len(p):
                s, changed = s[len(p):], True
                break
        for x in suffixes:
            if s.endswith(x) and len(s) > len(x):
                s, changed = s[:-len(x)], True
                break
    return s


def name_key(name: str | None) -> str:
    """The dictionary key of a name: NFKC, no spaces, variant characters unified (恶→噁, 粘→黏), no brackets."""
    s = norm_text(name).translate(_CHARS)
    return _BRACKETS.sub("", s)


def name_ratio(name: str | None) -> tuple[Decimal, ...] | None:
    """A ratio written in brackets after a name, e.g. 阿莫西林克拉维酸钾片(7:1) → (7, 1)."""
    s = norm_text(name).translate(_CHARS)
    for inner in _BRACKETS.findall(s):
        if _RATIO.match(inner):
            ratio = tuple(Decimal(x) for x in inner.split(":"))
            if all(x > 0 for x in ratio):
                return ratio
    return None


def name_candidates(name: str | None) -> list[str]:
    """Keys to try, most literal first: as written, without dosage-form words, without salt words."""
    base = name_key(name)
    c1 = _strip(base, _FORM_PREFIXES, _FORM_SUFFIXES)
    c2 = _strip(c1, _SALT_PREFIXES, _SALT_SUFFIXES)
    c3 = c2.replace("钠", "").replace("钾", "") if len(c2) > 2 else c2
    out: list[str] = []
    for c in (base, c1, c2, c3):
        if c and c not in out:
            out.append(c)
    return out


@dataclass(frozen=True)
class GenericEntry:
    name: str
    atc: str
    routes: tuple[str, ...]       # routes this row applies to; empty = any
    default_route: str | None
    potency: str | None
    combination: str | None
    ddd_variant: str
    ddd_source: str               # who | national | none
    note: str = ""

    def applies_to(self, route: str | None) -> bool:
        """Whether the row applies to a route (rows without routes apply to all)."""
        return not self.routes or (route is not None and route in self.routes)


@dataclass(frozen=True)
class NameMatch:
    key: str
    entries: tuple[GenericEntry, ...]
    ratio: tuple[Decimal, ...] | None

    def for_route(self, route: str | None) -> GenericEntry | None:
        """The entry for a route: an explicit route match first, then a route-free entry."""
        for e in self.entries:
            if e.routes and route in e.routes:
                return e
        for e in self.entries:
            if not e.routes:
                return e
        return None

    def default_route(self) -> str | None:
        """The route hint when the form says nothing: the only one the entries agree on."""
        hints = {e.default_route for e in self.entries if e.default_route}
        return hints.pop() if len(hints) == 1 else None


@dataclass(frozen=True)
class GenericNames:
    entries: dict[str, tuple[GenericEntry, ...]]
    _memo: dict[str, NameMatch | None] = field(default_factory=dict, repr=False, compare=False)

    def lookup(self, name: str | None) -> NameMatch | None:
        """The dictionary entries for a product name (forms and salts stripped step by step), or None."""
        text = name or ""
        if text in self._memo:
            return self._memo[text]
        found = None
        for key in name_candidates(text):
            if key in self.entries:
                found = NameMatch(key, self.entries[key], name_ratio(text))
                break
        if len(self._memo) < 100_000:
            self._memo[text] = found
        return found

    def all_entries(self) -> list[GenericEntry]:
        """Every entry, in file order per name."""
        return [e for es in self.entries.values() for e in es]


def _read(path: Path, routes: tuple[str, ...]) -> list[GenericEntry]:
    out = []
    for line, r in read_csv(path, NAME_COLUMNS, ("name", "atc")):
        where = f"{path}: line {line}"
        if not r["name"]:
            raise DDDConfigError(f"{where}: name: empty")
        if not valid_code(r["atc"]):
            raise DDDConfigError(f"{where}: atc: not an ATC code or local code (J01GB-name): {r['atc']!r}")
        rts = tuple(x for x in r.get("routes", "").split("|") if x)
        for x in rts + ((r["default_route"],) if r.get("default_route") else ()):
            if x not in routes:
                raise DDDConfigError(f"{where}: unknown route {x!r}; known: {list(routes)}")
        src = r.get("ddd_source") or "who"
        if src not in DDD_SOURCES:
            raise DDDConfigError(f"{where}: ddd_source: must be one of {list(DDD_SOURCES)}, got {src!r}")
        out.append(GenericEntry(r["name"], r["atc"], rts, r.get("default_route") or None, r.get("potency") or None,
                                r.get("combination") or None, r.get("ddd_variant", ""), src, r.get("note", "")))
    return out


def load_generic_names(routes: tuple[str, ...], path: Path | None = None, extend: Path | None = None
                       ) -> GenericNames:
    """Read generic_names.csv (+ generic_names.extend.csv, whose names replace the same names here)."""
    path = Path(path or DATA_DIR / "generic_names.csv")
    groups: dict[str, list[GenericEntry]] = {}
    for e in _read(path, routes):
        groups.setdefault(name_key(e.name), []).append(e)
    if extend is not None:
        more: dict[str, list[GenericEntry]] = {}
        for e in _read(extend, routes):
            more.setdefault(name_key(e.name), []).append(e)
        groups.update(more)
    for key, es in groups.items():
        seen = set()
        for e in es:
            if e.routes in seen:
                raise DDDConfigError(f"{path}: name {e.name!r}: two rows for the same routes {list(e.routes) or 'all'}")
            seen.add(e.routes)
    return GenericNames({k: tuple(v) for k, v in groups.items()})
