"""DDD tables keyed by ATC code + route (+ variant), versioned by the years they apply to; national DDDs merged."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from metrics.ddd.files import DDDConfigError, check_keys, read_csv, read_yaml, resolve, to_decimal

DDD_COLUMNS = ("atc_code", "atc_name", "ddd", "uom", "adm_r", "note", "variant", "source")
DDD_REQUIRED = ("atc_code", "ddd", "uom", "adm_r")
NO_VALUE = {"", "NA", "N/A", "-"}

# unit → (dimension, factor to the dimension's canonical unit: g for mass, MU for units)
UNITS: dict[str, tuple[str, Decimal]] = {
    "g": ("mass", Decimal(1)),
    "mg": ("mass", Decimal("0.001")),
    "mcg": ("mass", Decimal("0.000001")),
    "MU": ("units", Decimal(1)),
    "U": ("units", Decimal("0.000001")),
}

WHO_ATC = re.compile(r"[A-Z]\d{2}(?:[A-Z](?:[A-Z](?:\d{2})?)?)?")
LOCAL_ATC = re.compile(r"[A-Z]\d{2}[A-Z]{2}-[a-z][a-z0-9_]*")  # national/local code: WHO group + "-" + name


def valid_code(code: str) -> bool:
    """Whether `code` is a WHO ATC code (any level) or a local code such as J01GB-etimicin."""
    return bool(WHO_ATC.fullmatch(code) or LOCAL_ATC.fullmatch(code))


@dataclass(frozen=True)
class DDDRow:
    atc: str
    route: str
    ddd: Decimal
    uom: str
    variant: str = ""
    name: str = ""
    note: str = ""
    origin: str = "who"      # who | national
    source: str = ""


@dataclass(frozen=True)
class Lookup:
    row: DDDRow | None
    reason_zh: str | None = None


@dataclass
class DDDTable:
    id: str
    label_zh: str
    source: str
    rows: dict[tuple[str, str, str], DDDRow] = field(default_factory=dict)
    no_ddd: set[str] = field(default_factory=set)     # codes listed without a DDD
    _by_code: dict[str, list[DDDRow]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def name(self) -> str:
        """The table id (alias)."""
        return self.id

    def reindex(self) -> None:
        """Rebuild the per-code index after `rows` changed."""
        self._by_code = {}
        for r in self.rows.values():
            self._by_code.setdefault(r.atc, []).append(r)

    def codes(self) -> set[str]:
        """Every code with at least one DDD."""
        return set(self._by_code)

    def routes_of(self, code: str) -> list[str]:
        """Routes with a DDD for `code`, sorted."""
        return sorted({r.route for r in self._by_code.get(code, ())})

    def find(self, code: str, route: str, variant: str = "") -> Lookup:
        """The DDD row for code + route (+ variant), or a Chinese reason why there is none."""
        rows = self._by_code.get(code, [])
        cands = [r for r in rows if r.route == route]
        if not cands and route == "Inhal":
            inhal = [r for r in rows if r.route.startswith("Inhal")]
            if inhal and len({(r.ddd, r.uom, r.variant) for r in inhal}) == 1:
                cands = inhal[:1]
            elif inhal:
                return Lookup(None, f"吸入制剂需区分粉雾剂/溶液：{code}的吸入DDD值不唯一")
        if not cands:
            if not rows:
                return Lookup(None, f"{code}无DDD值（WHO未制定且未配置国家/本地DDD）")
            return Lookup(None, f"无该给药途径的DDD值（{code}，途径{route}；已有途径：{'、'.join(self.routes_of(code))}）")
        if variant:
            for r in cands:
                if r.variant == variant:
                    return Lookup(r)
            return Lookup(None, f"无该品种变体的DDD值（{code}，途径{route}，变体{variant}）")
        for r in cands:
            if r.variant == "":
                return Lookup(r)
        if len(cands) == 1:
            return Lookup(cands[0])
        return Lookup(None, f"{code}（途径{route}）有多个DDD值（{'、'.join(r.variant for r in cands)}），需指定品种变体")


def read_ddd_csv(path: Path, routes: tuple[str, ...], origin: str) -> tuple[list[DDDRow], set[str]]:
    """Rows with a DDD, and codes listed without one, from one DDD CSV (strict columns and values)."""
    out: list[DDDRow] = []
    no_ddd: set[str] = set()
    seen: set[tuple[str, str, str]] = set()
    for line, r in read_csv(path, DDD_COLUMNS, DDD_REQUIRED):
        where = f"{path}: line {line}"
        code = r["atc_code"]
        if not valid_code(code):
            raise DDDConfigError(f"{where}: atc_code: not an ATC code or local code (J01GB-name): {code!r}")
        if r["ddd"] in NO_VALUE:
            no_ddd.add(code)
            continue
        ddd = to_decimal(r["ddd"], f"{where}: ddd")
        if r["uom"] not in UNITS:
            raise DDDConfigError(f"{where}: uom: unknown unit {r['uom']!r}; known: {list(UNITS)}")
        if r["adm_r"] not in routes:
            raise DDDConfigError(f"{where}: adm_r: unknown route {r['adm_r']!r}; known: {list(routes)}")
        key = (code, r["adm_r"], r.get("variant", ""))
        if key in seen:
            raise DDDConfigError(f"{where}: duplicate DDD for {key} (give the rows different `variant`s)")
        seen.add(key)
        note = "" if r.get("note", "") in NO_VALUE else r["note"]
        out.append(DDDRow(code, r["adm_r"], ddd, r["uom"], r.get("variant", ""), r.get("atc_name", ""), note,
                          origin, r.get("source", "")))
    return out, no_ddd


_TABLES_KEYS = {"version", "tables", "national", "years"}


@dataclass(frozen=True)
class YearRule:
    first: int
    last: int | None
    table: str


@dataclass
class DDDTables:
    tables: dict[str, DDDTable]
    years: tuple[YearRule, ...]
    national_file: str | None

    def table_id_for_year(self, year: int) -> str:
        """Id of the table configured for a period year; KeyError naming the year when none is."""
        for y in self.years:
            if y.first <= year and (y.last is None or year <= y.last):
                return y.table
        raise KeyError(f"没有为{year}年配置适用的DDD表（tables.yaml years）")

    def for_year(self, year: int) -> DDDTable:
        """The DDD table (national values merged) that applies to a period year."""
        return self.tables[self.table_id_for_year(year)]


def load_tables(routes: tuple[str, ...], override: Path | None = None) -> DDDTables:
    """Read tables.yaml and every table it names (the bureau's folder first), national DDDs merged over each."""
    path, _ = resolve("tables.yaml", override)
    doc = read_yaml(path)
    check_keys(doc, _TABLES_KEYS, {"version", "tables", "years"}, str(path))
    if not isinstance(doc["tables"], dict) or not doc["tables"]:
        raise DDDConfigError(f"{path}: tables: expected a non-empty mapping id → table")
    national_rows: list[DDDRow] = []
    national_no: set[str] = set()
    national_file = doc.get("national")
    if national_file:
        npath, next_ = resolve(str(national_file), override)
        national_rows, national_no = read_ddd_csv(npath, routes, "national")
        if next_ is not None:
            extra, extra_no = read_ddd_csv(next_, routes, "national")
            national_rows += extra
            national_no |= extra_no
    tables: dict[str, DDDTable] = {}
    for tid, t in doc["tables"].items():
        where = f"{path}: tables.{tid}"
        check_keys(t, {"file", "label_zh", "source"}, {"file", "label_zh"}, where)
        tpath, text = resolve(str(t["file"]), override)
        if not tpath.exists():
            raise DDDConfigError(f"{where}.file: no such file {t['file']!r}")
        rows, no_ddd = read_ddd_csv(tpath, routes, "who")
        if text is not None:
            extra, extra_no = read_ddd_csv(text, routes, "who")
            rows += extra
            no_ddd |= extra_no
        table = DDDTable(str(tid), str(t["label_zh"]), str(t.get("source") or ""))
        for r in rows + national_rows:          # later rows (extension, then national) win
            table.rows[(r.atc, r.route, r.variant)] = r
        table.reindex()
        table.no_ddd = (no_ddd | national_no) - table.codes()
        tables[str(tid)] = table
    if not isinstance(doc["years"], list) or not doc["years"]:
        raise DDDConfigError(f"{path}: years: expected a non-empty list of {{from, to, table}}")
    years = []
    for i, y in enumerate(doc["years"]):
        where = f"{path}: years[{i}]"
        check_keys(y, {"from", "to", "table"}, {"from", "table"}, where)
        if y["table"] not in tables:
            raise DDDConfigError(f"{where}.table: unknown table {y['table']!r}; known: {sorted(tables)}")
        if not isinstance(y["from"], int) or (y.get("to") is not None and not isinstance(y["to"], int)):
            raise DDDConfigError(f"{where}: from/to must be years (integers)")
        years.append(YearRule(y["from"], y.get("to"), y["table"]))
    years.sort(key=lambda y: y.first)
    for a, b in zip(years, years[1:]):
        if a.last is None or a.last >= b.first:
            raise DDDConfigError(f"{path}: years: ranges overlap ({a.first}– and {b.first}–)")
    return DDDTables(tables, tuple(years), str(national_file) if national_file else None)
