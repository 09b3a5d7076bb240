"""DDD engine: consumption rows → DDD units per line, and AUD (DDDs per 100 patient-days) as a ratio of sums."""
from __future__ import annotations

import decimal
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from metrics.ddd.files import DATA_DIR, DDDConfigError, norm_text, resolve
from metrics.ddd.names import GenericEntry, GenericNames, NameMatch, load_generic_names
from metrics.ddd.products import Combination, Potency, load_combinations, load_potency
from metrics.ddd.routes import RouteMap, load_routes
from metrics.ddd.scope import Scope, load_scope
from metrics.ddd.strength import Strength, parse_strength
from metrics.ddd.tables import UNITS, DDDRow, DDDTable, DDDTables, load_tables, valid_code

OK, NOT_COVERED, OUT_OF_SCOPE = "ok", "not_covered", "out_of_scope"
UNDEFINED = "undefined"
HUNDRED = Decimal(100)

SMALLEST_WORDS = frozenset({"粒", "片", "支", "瓶", "袋", "丸", "枚", "包", "只", "管", "安瓿", "贴", "揿", "喷",
                            "块", "条", "剂"})
# packaging units that are themselves amounts: quantity × factor, in g or MU
MEASURE_UNITS: dict[str, tuple[str, Decimal]] = {
    "g": ("g", Decimal(1)), "克": ("g", Decimal(1)), "kg": ("g", Decimal(1000)), "千克": ("g", Decimal(1000)),
    "mg": ("g", Decimal("0.001")), "毫克": ("g", Decimal("0.001")),
    "MU": ("MU", Decimal(1)), "百万U": ("MU", Decimal(1)), "百万单位": ("MU", Decimal(1)),
    "万U": ("MU", Decimal("0.01")), "万IU": ("MU", Decimal("0.01")), "万单位": ("MU", Decimal("0.01")),
}

_ROW_ALIASES: dict[str, tuple[str, ...]] = {
    "generic_name": ("generic_name", "通用名", "药品通用名", "品名"),
    "atc": ("atc", "ATC", "ATC编码", "ATC码", "ATC代码"),
    "form": ("form", "剂型/给药途径", "剂型", "给药途径"),
    "strength": ("strength", "规格"),
    "packaging_unit": ("packaging_unit", "包装单位", "单位"),
    "quantity_inpatient": ("quantity_inpatient", "住院数量", "住院消耗量", "住院用量", "住院"),
    "quantity_outpatient": ("quantity_outpatient", "门急诊数量", "门诊数量", "门急诊消耗量", "门急诊用量", "门急诊"),
    "ref": ("ref", "cell", "行号", "序号"),
}


# ---------------------------------------------------------------------------------------------- config

@dataclass(frozen=True)
class DDDConfig:
    scope: Scope
    routes: RouteMap
    tables: DDDTables
    names: GenericNames
    potency: dict[str, Potency]
    combinations: dict[str, Combination]
    folder: Path | None = None

    def table_for_year(self, year: int) -> DDDTable:
        """The DDD table configured for a period year (tables.yaml `years`)."""
        return self.tables.for_year(int(year))

    def potency_for(self, entry: GenericEntry | None, atc: str) -> Potency | None:
        """The potency factor named by the dictionary entry, else the only one for the ATC code."""
        if entry is not None and entry.potency:
            return self.potency[entry.potency]
        found = [p for p in self.potency.values() if p.atc == atc]
        return found[0] if len(found) == 1 else None

    def combination_for(self, entry: GenericEntry | None, atc: str) -> Combination | None:
        """The combination rule named by the dictionary entry, else the only one for the ATC code."""
        if entry is not None and entry.combination:
            return self.combinations[entry.combination]
        if entry is not None and entry.atc == atc:
            return None
        found = [c for c in self.combinations.values() if c.atc == atc]
        return found[0] if len(found) == 1 else None


def _check_references(cfg: DDDConfig, names_file: Path) -> None:
    for e in cfg.names.all_entries():
        where = f"{names_file}: name {e.name!r}"
        if e.potency and e.potency not in cfg.potency:
            raise DDDConfigError(f"{where}: potency: unknown id {e.potency!r} (not in potency.yaml)")
        if e.combination:
            if e.combination not in cfg.combinations:
                raise DDDConfigError(f"{where}: combination: unknown id {e.combination!r} (not in combinations.yaml)")
            if cfg.combinations[e.combination].atc != e.atc:
                raise DDDConfigError(f"{where}: atc {e.atc} differs from combination {e.combination!r} "
                                     f"({cfg.combinations[e.combination].atc})")


@lru_cache(maxsize=8)
def _load(folder: str | None) -> DDDConfig:
    over = Path(folder) if folder else None
    if over is not None and not over.is_dir():
        raise DDDConfigError(f"{over}: not a folder")
    routes = load_routes(*resolve("routes.yaml", over))
    names_file, names_ext = resolve("generic_names.csv", over)
    cfg = DDDConfig(
        scope=load_scope(*resolve("scope.yaml", over)),
        routes=routes,
        tables=load_tables(routes.codes, over),
        names=load_generic_names(routes.codes, names_file, names_ext),
        potency=load_potency(*resolve("potency.yaml", over)),
        combinations=load_combinations(*resolve("combinations.yaml", over)),
        folder=over,
    )
    _check_references(cfg, names_file)
    return cfg


def load_ddd_config(dir: Path | str | None = None) -> DDDConfig:
    """All DDD data files; a bureau folder replaces any file it holds and extends via <stem>.extend.<ext>."""
    return _load(str(Path(dir).resolve()) if dir is not None else None)


# ---------------------------------------------------------------------------------------------- rows, lines

@dataclass(frozen=True)
class ConsumptionRow:
    generic_name: str
    strength: str = ""
    form: str = ""                      # 剂型/给药途径
    packaging_unit: str = ""            # 包装单位: the unit the quantities are counted in
    quantity_inpatient: Any = None
    quantity_outpatient: Any = None
    atc: str | None = None
    ref: str | None = None              # where the row came from (sheet!cell, row number), carried through

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any]) -> ConsumptionRow:
        """A row from a mapping keyed in English or Chinese (通用名, ATC编码, 剂型/给药途径, 规格, 包装单位 …)."""
        kw: dict[str, Any] = {}
        for attr, keys in _ROW_ALIASES.items():
            for k in keys:
                if k in m and m[k] is not None:
                    kw[attr] = m[k]
                    break
        if "generic_name" not in kw:
            kw["generic_name"] = ""
        for k in ("generic_name", "strength", "form", "packaging_unit"):
            kw[k] = "" if kw.get(k) is None else str(kw.get(k, ""))
        return cls(**kw)


@dataclass(frozen=True)
class DDDLine:
    row: ConsumptionRow
    status: str                         # ok | not_covered | out_of_scope
    reason: str | None                  # Chinese, for not_covered / out_of_scope
    table: str
    table_year: int
    atc: str | None = None
    route: str | None = None
    ddd_code: str | None = None         # the code whose DDD counted the row (a combination may use its component's)
    ddd: Decimal | None = None
    ddd_unit: str | None = None
    ddd_origin: str | None = None       # who | national
    quantity_inpatient: Decimal = Decimal(0)
    quantity_outpatient: Decimal = Decimal(0)
    amount_per_unit: Decimal | None = None      # per reported unit (包装单位), in ddd_unit
    consumed_inpatient: Decimal | None = None   # in ddd_unit
    consumed_outpatient: Decimal | None = None
    ddds_inpatient: Decimal | None = None
    ddds_outpatient: Decimal | None = None
    notes: tuple[str, ...] = ()

    @property
    def ddds(self) -> Decimal | None:
        """Inpatient DDD units (what AUD counts)."""
        return self.ddds_inpatient

    @property
    def consumed(self) -> Decimal | None:
        """Inpatient consumption in the DDD's unit (g, mg or MU)."""
        return self.consumed_inpatient


def _quantity(v: Any, label: str) -> tuple[Decimal, str | None]:
    if v is None or (isinstance(v, str) and not v.strip()):
        return Decimal(0), None
    if isinstance(v, bool):
        return Decimal(0), f"{label}无效（{v!r}）"
    try:
        d = Decimal(repr(v)) if isinstance(v, float) else Decimal(norm_text(str(v)))
    except decimal.InvalidOperation:
        return Decimal(0), f"{label}不是数字（{v!r}）"
    if not d.is_finite() or d < 0:
        return Decimal(0), f"{label}无效（{v}）：不能为负数"
    return d, None


def _norm_atc(atc: str | None) -> str | None:
    s = norm_text(atc)
    if not s:
        return None
    if "-" in s:
        head, _, tail = s.partition("-")
        return f"{head.upper()}-{tail.lower()}"
    return s.upper()


def _ddd_code(atc: str, entry: GenericEntry | None, cfg: DDDConfig) -> str:
    comb = cfg.combination_for(entry, atc)
    return comb.ddd_code if comb else atc


def _resolve_atc(atc_row: str | None, match: NameMatch | None, route: str | None, table: DDDTable,
                 cfg: DDDConfig, notes: list[str]) -> tuple[str | None, GenericEntry | None]:
    entry = match.for_route(route) if match else None
    if atc_row:
        same = next((e for e in match.entries if e.atc == atc_row), None) if match else None
        variant = same.ddd_variant if same else ""
        if route is None or table.find(_ddd_code(atc_row, same, cfg), route, variant).row is not None:
            return atc_row, same
        if entry is not None and entry.atc != atc_row:
            notes.append(f"填报的ATC编码{atc_row}无该给药途径（{route}）的DDD值，按通用名改用{entry.atc}")
            return entry.atc, entry
        return atc_row, same
    if entry is not None:
        return entry.atc, entry
    if match is not None:
        atcs = {e.atc for e in match.entries}
        if len(atcs) == 1:
            return match.entries[0].atc, match.entries[0]
    return None, None


def _component(s: Strength, comb: Combination, name_ratio: tuple[Decimal, ...] | None, notes: list[str]
               ) -> tuple[Decimal | None, str | None]:
    """Amount (g per smallest unit) of the component the DDD refers to."""
    if s.unit != "g":
        return None, f"组合制剂规格以单位标示，无法确定{comb.refers_to}的含量"
    idx = comb.index
    if s.parts and s.ratio is None:                      # amounts written for each component
        labelled = [i for i, lab in enumerate(s.part_labels) if lab and comb.refers_to in lab]
        i = labelled[0] if labelled else idx
        if i < len(s.parts):
            if abs(sum(s.parts, Decimal(0)) - s.amount) > s.amount / 100:
                notes.append("规格中各成分之和与总量不符，按成分含量计")
            return s.parts[i], None
    if s.basis and comb.refers_to in s.basis:            # "1.0g(以头孢哌酮计)": the amount is the component's
        return s.amount, None
    known = comb.known_totals.get(s.amount)
    ratio = s.ratio or name_ratio                        # written in the strength, else after the name
    if ratio and len(ratio) == len(comb.components_zh):
        split = s.amount * ratio[idx] / sum(ratio, Decimal(0))
        if known is not None and abs(known - split) <= s.amount / 50:
            return known, None                           # labels round totals: 0.457 g (7:1) is 0.4 g
        return split, None
    if known is not None:
        return known, None
    if comb.default_ratio:
        shown = ":".join(str(r) for r in comb.default_ratio)
        notes.append(f"规格未注明配比，按默认配比{shown}拆分（{comb.refers_to}）")
        return s.amount * comb.default_ratio[idx] / sum(comb.default_ratio, Decimal(0)), None
    return None, (f"组合制剂（{comb.name_zh or comb.atc}）规格未注明各成分含量或配比，"
                  f"无法确定DDD所指成分{comb.refers_to}的含量")


def _count_per_reported_unit(s: Strength, pu: str) -> tuple[int | None, str | None]:
    """How many smallest units one reported unit (包装单位) holds."""
    if not pu:
        if s.pack == 1:
            return 1, None
        return None, f"未填写包装单位，且规格含包装数量（×{s.pack}），无法确定计数单位"
    if s.unit_word and pu == s.unit_word:
        return 1, None
    if s.pack_word and pu == s.pack_word:
        return s.pack, None
    if s.pack > 1:
        return s.pack, None
    if pu in SMALLEST_WORDS:
        return 1, None
    return None, f"包装单位为“{pu}”，但规格未注明每{pu}所含数量，无法换算为最小单位"


def _to_dimension(value: Decimal, unit: str, target: str, s: Strength | None, comb: Combination | None,
                  potency: Potency | None, notes: list[str]) -> tuple[Decimal | None, str | None]:
    """Convert g ↔ MU when the strength and the DDD differ in dimension (alternative amount, else potency)."""
    if unit == target:
        return value, None
    if s is not None and comb is None and s.amount_in(target) is not None and s.amount:
        return value * s.amount_in(target) / s.amount, None
    if potency is None:
        return None, f"缺少效价换算系数（规格以{'单位' if unit == 'MU' else '质量'}计，DDD以{target}计）"
    notes.append(f"按效价换算：{potency.basis_zh or potency.units_per_mg}")
    return (potency.mu_to_g(value) if target == "g" else potency.g_to_mu(value)), None


def ddd_units(row: ConsumptionRow | Mapping[str, Any], table_year: int, config: DDDConfig | None = None) -> DDDLine:
    """One consumption row in DDD units under the table configured for `table_year`; never raises for row data."""
    cfg = config or load_ddd_config()
    r = row if isinstance(row, ConsumptionRow) else ConsumptionRow.from_mapping(row)
    table = cfg.table_for_year(table_year)
    notes: list[str] = []
    q_in, err_in = _quantity(r.quantity_inpatient, "住院数量")
    q_out, err_out = _quantity(r.quantity_outpatient, "门急诊数量")
    base: dict[str, Any] = {"row": r, "table": table.id, "table_year": int(table_year),
                            "quantity_inpatient": q_in, "quantity_outpatient": q_out}

    def done(status: str, reason: str | None = None, **kw: Any) -> DDDLine:
        return DDDLine(status=status, reason=reason, notes=tuple(notes), **base, **kw)

    text = f"{r.form} {r.generic_name}"
    ok, why = cfg.scope.in_scope(None, text, r.generic_name)
    if not ok:
        return done(OUT_OF_SCOPE, why)
    match = cfg.names.lookup(r.generic_name)
    route = cfg.routes.route_of(r.form, r.generic_name)
    if route is None and match is not None:
        route = match.default_route()
        if route:
            notes.append(f"剂型未注明给药途径，按通用名默认途径{route}")
    atc_row = _norm_atc(r.atc)
    if atc_row and not valid_code(atc_row):
        notes.append(f"填报的ATC编码“{r.atc}”格式无效，已忽略")
        atc_row = None
    atc, entry = _resolve_atc(atc_row, match, route, table, cfg, notes)
    base.update(atc=atc, route=route)
    if atc:
        ok, why = cfg.scope.in_scope(atc, text, r.generic_name)
        if not ok:
            return done(OUT_OF_SCOPE, why)
    if err_in or err_out:
        return done(NOT_COVERED, "；".join(e for e in (err_in, err_out) if e))
    if atc is None:
        if match is not None and route is None:
            return done(NOT_COVERED, f"无法确定给药途径（剂型/给药途径“{r.form}”无法识别）")
        return done(NOT_COVERED, "未匹配到ATC编码（通用名未收录于字典且未填报有效ATC编码）")
    if route is None:
        return done(NOT_COVERED, f"无法确定给药途径（剂型/给药途径“{r.form}”无法识别）")

    comb = cfg.combination_for(entry, atc)
    code = comb.ddd_code if comb else atc
    found = table.find(code, route, entry.ddd_variant if entry else "")
    if found.row is None:
        return done(NOT_COVERED, found.reason_zh)
    ddd: DDDRow = found.row
    base.update(ddd_code=code, ddd=ddd.ddd, ddd_unit=ddd.uom, ddd_origin=ddd.origin)
    if code != atc:
        notes.append(f"组合制剂按{comb.refers_to if comb else ''}的DDD（{code}）计")
    dim, factor = UNITS[ddd.uom]
    target = "g" if dim == "mass" else "MU"
    potency = cfg.potency_for(entry, atc)
    pu = norm_text(r.packaging_unit)
    s = parse_strength(r.strength)

    if pu in MEASURE_UNITS:                    # quantities reported as an amount (g, 万U …)
        unit, per = MEASURE_UNITS[pu]
        if comb is not None:
            if s is None and comb.default_ratio is None:
                return done(NOT_COVERED, f"规格无法解析（“{r.strength}”），无法拆分组合制剂")
            if s is not None:
                comp, why = _component(s, comb, match.ratio if match else None, notes)
                if comp is None:
                    return done(NOT_COVERED, why)
                per = per * comp / s.amount
            else:
                per = per * comb.default_ratio[comb.index] / sum(comb.default_ratio, Decimal(0))
        value, why = _to_dimension(per, unit, target, s, comb, potency, notes)
    else:
        if s is None:
            return done(NOT_COVERED, f"规格无法解析（“{r.strength}”）")
        count, why = _count_per_reported_unit(s, pu)
        if count is None:
            return done(NOT_COVERED, why)
        if comb is not None:
            amount, why = _component(s, comb, match.ratio if match else None, notes)
            if amount is None:
                return done(NOT_COVERED, why)
        else:
            amount = s.amount
        value, why = _to_dimension(amount * count, s.unit, target, s, comb, potency, notes)
    if value is None:
        return done(NOT_COVERED, why)
    per_unit = value / factor                   # in the DDD's unit (g, mg, mcg, MU)
    c_in, c_out = q_in * per_unit, q_out * per_unit
    return done(OK, None, amount_per_unit=per_unit, consumed_inpatient=c_in, consumed_outpatient=c_out,
                ddds_inpatient=c_in / ddd.ddd, ddds_outpatient=c_out / ddd.ddd)


def ddd_lines(rows: Iterable[ConsumptionRow | Mapping[str, Any]], table_year: int,
              config: DDDConfig | None = None) -> list[DDDLine]:
    """ddd_units for every row (config loaded once)."""
    cfg = config or load_ddd_config()
    return [ddd_units(r, table_year, cfg) for r in rows]


# ---------------------------------------------------------------------------------------------- AUD

@dataclass(frozen=True)
class UncoveredLine:
    line: DDDLine
    share: Decimal | None               # of the in-scope inpatient quantity (as reported, 按填报数量)


@dataclass(frozen=True)
class AUDResult:
    value: Decimal | None               # DDDs per 100 patient-days (unrounded); None unless status ok
    status: str                         # ok | undefined
    reason: str | None
    total_ddds: Decimal                 # Σ inpatient DDD units of covered lines
    patient_days: Decimal | None
    covered_share: Decimal | None       # covered / in-scope inpatient quantity; None when nothing was used
    uncovered: tuple[UncoveredLine, ...] = ()
    out_of_scope: tuple[DDDLine, ...] = ()
    lines_in_scope: int = 0
    lines_covered: int = 0
    tables: tuple[str, ...] = ()        # DDD tables the lines were computed with
    months: tuple[AUDResult, ...] = field(default=())


def _days(v: Any) -> Decimal | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        d = Decimal(repr(v)) if isinstance(v, float) else Decimal(str(v).strip())
    except decimal.InvalidOperation:
        return None
    return d if d.is_finite() else None


def aud(lines: Sequence[DDDLine], patient_days: Any) -> AUDResult:
    """AUD = Σ inpatient DDDs × 100 / patient-days; undefined (None) when patient-days are 0 or missing."""
    lines = list(lines)
    scoped = [ln for ln in lines if ln.status != OUT_OF_SCOPE]
    covered = [ln for ln in scoped if ln.status == OK]
    total = sum((ln.ddds_inpatient or Decimal(0) for ln in covered), Decimal(0))
    q_all = sum((ln.quantity_inpatient for ln in scoped), Decimal(0))
    q_cov = sum((ln.quantity_inpatient for ln in covered), Decimal(0))
    share = (q_cov / q_all) if q_all > 0 else None
    uncovered = tuple(UncoveredLine(ln, (ln.quantity_inpatient / q_all) if q_all > 0 else None)
                      for ln in scoped if ln.status == NOT_COVERED)
    pd = _days(patient_days)
    common = dict(total_ddds=total, patient_days=pd, covered_share=share, uncovered=uncovered,
                  out_of_scope=tuple(ln for ln in lines if ln.status == OUT_OF_SCOPE),
                  lines_in_scope=len(scoped), lines_covered=len(covered),
                  tables=tuple(sorted({ln.table for ln in lines})))
    if pd is None or pd <= 0:
        why = "患者人天数缺失" if pd is None else f"患者人天数为{pd}"
        return AUDResult(None, UNDEFINED, f"{why}，无法计算抗菌药物使用强度", **common)
    return AUDResult(total * HUNDRED / pd, OK, None, **common)


def aud_over_months(months: Iterable[tuple[Sequence[DDDLine], Any]]) -> AUDResult:
    """AUD over several months as a ratio of sums: Σ DDDs × 100 / Σ patient-days (not a mean of monthly AUDs)."""
    months = [(list(lines), pd) for lines, pd in months]
    monthly = tuple(aud(lines, pd) for lines, pd in months)
    all_lines = [ln for lines, _ in months for ln in lines]
    missing = [i + 1 for i, m in enumerate(monthly) if m.patient_days is None]
    days = sum((m.patient_days for m in monthly if m.patient_days is not None), Decimal(0))
    res = aud(all_lines, None if missing or not months else days)
    if missing and months:
        reason = f"第{'、'.join(map(str, missing))}个月患者人天数缺失，无法按比值之和计算抗菌药物使用强度"
        return AUDResult(None, UNDEFINED, reason, res.total_ddds, None, res.covered_share, res.uncovered,
                         res.out_of_scope, res.lines_in_scope, res.lines_covered, res.tables, monthly)
    return AUDResult(res.value, res.status, res.reason, res.total_ddds, res.patient_days, res.covered_share,
                     res.uncovered, res.out_of_scope, res.lines_in_scope, res.lines_covered, res.tables, monthly)


@dataclass(frozen=True)
class YearComparison:
    current: AUDResult
    base: AUDResult
    table: str
    table_year: int
    change: Decimal | None              # (current − base) / base; None when either is undefined or base is 0
    note_zh: str


def compare_years(current: Iterable[tuple[Iterable[ConsumptionRow | Mapping[str, Any]], Any]],
                  base: Iterable[tuple[Iterable[ConsumptionRow | Mapping[str, Any]], Any]],
                  table_year: int, config: DDDConfig | None = None) -> YearComparison:
    """Year-on-year AUD with the base year recomputed under the current year's DDD table (and saying so)."""
    cfg = config or load_ddd_config()
    table = cfg.table_for_year(table_year)
    cur = aud_over_months((ddd_lines(rows, table_year, cfg), pd) for rows, pd in current)
    bas = aud_over_months((ddd_lines(rows, table_year, cfg), pd) for rows, pd in base)
    change = None
    if cur.value is not None and bas.value is not None and bas.value != 0:
        change = (cur.value - bas.value) / bas.value
    note = f"基期与本期均按{table.label_zh}（{table_year}年适用的DDD表）重新计算，以保证同比口径一致"
    return YearComparison(cur, bas, table.id, int(table_year), change, note)


def default_data_dir() -> Path:
    """The folder of the shipped data files (a bureau copies and edits these)."""
    return DATA_DIR
