"""Compile the rules files into derived-column SQL and GX suites (`python -m expectations.compile`).

One rules file per template: expectations/rules.yaml (JX-YB01) and expectations/rules_<name>.yaml (the others),
each naming its suite, its layout (templates_xlsx/layouts/<layout>.yaml) and hence its field catalog. A rules file
may name a policy file (`settings:`); a rule value written `{setting: <key>}` is read from it at compile time.
"""
from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field as dc_field, fields as dc_fields
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any


from expectations import compare as cmp
from expectations.findings import SEVERITIES, registry
from metrics.catalog import CATALOG_DIR, CatalogError, FieldDef, check_keys, load_fields, load_yaml

HERE = Path(__file__).parent
RULES_FILE = HERE / "rules.yaml"
SUITES_DIR = HERE / "suites"
LAYOUTS_DIR = HERE.parent / "templates_xlsx" / "layouts"
LAYOUT_FILE = LAYOUTS_DIR / "op_monthly.yaml"
DEFAULT_CATALOG = "fields.yaml"

# The provenance columns GX reports for every unexpected row (the frame's "index").
INDEX_COLUMNS = ["submission_id", "sheet", "cell", "field", "rule_id"]
# Columns carried beside the index so a failure can be told in numbers: the offending value and the
# other side of the comparison (sum of parts, the total, the ratio's denominator, the registry name …).
CONTEXT_COLUMNS = ["value_num", "other_num", "value_text", "other_text"]
# The derived value of every rule in a `value_column: shared` suite (each expectation picks its rule's rows).
SHARED_COLUMN = "r"

FIELD_KINDS = ("required", "non_negative", "whole_number", "between", "in_set")
CROSS_KINDS = ("sum_equals", "part_le_total", "ratio_between")
PAIR_KINDS = ("both_or_neither",)   # two fixed fields filled together or left blank together
SUBMISSION_KINDS = {  # kind → the header key whose cell anchors the finding
    "facility_known": "facility_code",
    "facility_name_matches": "facility_name",
    "period_matches": "period",
}
# rules over the rows of a layout table (`table:`); FIELD_KINDS and part_le_total work on table columns too
ROW_KINDS = ("date_in_period", "codes_known", "flag_matches_codes", "unique_rows", "route_known", "in_scope",
             "ddd_covered", "in_scale", "text_in_set", "incomplete_row", "straight_lining")
# row kinds judging a questionnaire row as a whole from its item cells (the columns' scales), on an anchor cell
ANSWER_KINDS = ("incomplete_row", "straight_lining")
# one value per return computed from a table, anchored on a fixed field's cell
RETURN_KINDS = ("sample_adequacy",)
PRODUCT_KINDS = ("route_known", "in_scope", "ddd_covered")
# a left side, an operator and a right side over the return's fixed fields (expectations/compare.py)
COMPARE_KINDS = ("compare",)
# rules whose fields follow a catalog declaration (every field with `blank: refused`; none is fine)
CATALOG_KINDS = ("blank_refused",)
KINDS = (FIELD_KINDS + CROSS_KINDS + PAIR_KINDS + tuple(SUBMISSION_KINDS) + ROW_KINDS + RETURN_KINDS + COMPARE_KINDS
         + CATALOG_KINDS)
TABLE_KINDS = FIELD_KINDS + ("part_le_total",) + ROW_KINDS + RETURN_KINDS   # kinds that may name a table
GX_SEVERITY = {"error": "critical", "warning": "warning", "info": "info"}
PRODUCT_ROLES = ("name", "atc", "form", "strength", "pack_unit")   # product columns of a consumption table
PRODUCT_REQUIRED = ("name", "form", "strength", "pack_unit")

_IDENT = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
_CELL = re.compile(r"^[A-Z]{1,3}[1-9][0-9]{0,6}$")
_RULE_KEYS = {"id", "kind", "fields", "select", "left", "right", "tolerance", "scale", "min", "max", "code",
              "severity", "code_below", "severity_below", "message", "note", "table", "values", "anchor",
              "product", "max_share", "min_items", "exclude", "op", "missing", "fix"}
_KIND_KEYS = {
    "required": {"fields", "select", "table"},
    "non_negative": {"fields", "select", "table"},
    "whole_number": {"fields", "select", "tolerance", "table"},
    "between": {"fields", "select", "min", "max", "table"},
    "in_set": {"fields", "select", "values", "table"},
    "sum_equals": {"left", "right", "tolerance"},
    "part_le_total": {"left", "right", "select", "tolerance", "table"},
    "ratio_between": {"left", "right", "scale", "min", "max", "code_below", "severity_below"},
    "facility_known": set(),
    "facility_name_matches": set(),
    "period_matches": set(),
    "date_in_period": {"table", "fields"},
    "codes_known": {"table", "fields"},
    "flag_matches_codes": {"table", "left", "right"},
    "unique_rows": {"table", "fields", "anchor"},
    "route_known": {"table", "left", "product"},
    "in_scope": {"table", "left", "product"},
    "ddd_covered": {"table", "left", "product"},
    "sample_adequacy": {"table", "left", "fields"},
    "both_or_neither": {"left", "right"},
    "in_scale": {"table", "fields", "select"},
    "text_in_set": {"table", "fields", "values"},
    "incomplete_row": {"table", "fields", "select", "anchor", "max_share"},
    "straight_lining": {"table", "fields", "select", "anchor", "min_items", "exclude"},
    "compare": {"left", "op", "right", "tolerance", "missing", "fix"},
    "blank_refused": set(),
}
_NEEDS_TABLE = set(ROW_KINDS) | set(RETURN_KINDS)
_COMMON_KEYS = {"id", "kind", "code", "severity", "message", "note"}
_SELECT_ATTRS = {"kind", "required", "blank", "group", "aggregation", "unit", "parts_of"}
_COLUMN_SELECT_ATTRS = {"kind", "required", "blank", "pii"}
_SUITE_KEYS = {"version", "suite", "rules", "layout", "value_column", "settings"}


@dataclass(frozen=True)
class Rule:
    """One validation rule, resolved against the field catalog (fixed cells) or a layout table (rows)."""

    id: str
    kind: str
    code: str
    severity: str
    fields: tuple[str, ...] = ()                  # single-field kinds; table kinds: the columns read
    pairs: tuple[tuple[str, str], ...] = ()       # part_le_total: (part, total)
    left: str | None = None                       # the anchor of cross-field rules
    right: tuple[tuple[str, float], ...] = ()     # sum_equals: (field, 1); ratio_between: (field, weight)
    tol_abs: float = 0.0
    tol_rel: float = 0.0
    scale: float = 1.0
    min: float | None = None
    max: float | None = None
    code_below: str | None = None
    severity_below: str | None = None
    message: str | None = None
    note: str | None = None
    table: str | None = None                      # a layout table: the rule reads its rows
    values: tuple[float, ...] = ()                # in_set: the allowed values
    anchor: str | None = None                     # unique_rows, answer kinds: the column the finding sits on
    product: tuple[tuple[str, str], ...] = ()     # product kinds: (role, column)
    texts: tuple[str, ...] = ()                   # text_in_set: the allowed texts
    bounds: tuple[tuple[str, float, float], ...] = ()   # in_scale, answer kinds: (column, scale min, scale max)
    max_share: float | None = None                # incomplete_row: largest share of unanswered items allowed
    min_items: int | None = None                  # straight_lining: equal answers on this many items of a scale
    exclude: bool = False                         # straight_lining: whether flagged questionnaires are excluded
    op: str | None = None                         # compare: = != < <= > >= compulsory_pair exclusive_pair
    lhs: tuple | None = None                      # compare: the sides as expression trees (expectations/compare.py)
    rhs: tuple | None = None
    missing: str | None = None                    # compare: skip_if_any | skip_if_all | never
    fix: str | None = None                        # compare: str.format template replacing the code's fix_zh

    @property
    def column(self) -> str:
        """The derived column holding this rule's value (in a per-rule suite)."""
        return f"r_{self.id}"

    def product_column(self, role: str) -> str | None:
        """The table column that plays a product role (name, atc, form, strength, pack_unit)."""
        return dict(self.product).get(role)


@dataclass(frozen=True)
class Column:
    """One column of a layout table."""

    field: str
    label_zh: str
    kind: str
    required: bool = False
    blank: str = "missing"
    pii: str | None = None
    min: float | None = None      # the answer scale of a questionnaire item column
    max: float | None = None


@dataclass(frozen=True)
class Table:
    """A multi-row table of a layout version: its sheet and columns (field → Column, in column order)."""

    name: str
    sheet: str
    columns: dict[str, Column]


@dataclass(frozen=True)
class Layout:
    """Cells of the return per layout version: header keys and data fields → (sheet, cell); tables."""

    default_version: str
    template_id: str                                # the suite validates returns of this template only
    header: dict[str, dict[str, tuple[str, str]]]   # version → key → (sheet, cell)
    header_labels: dict[str, str]                   # key → label_zh
    fields: dict[str, dict[str, tuple[str, str]]]   # version → field → (sheet, cell)
    tables: dict[str, dict[str, Table]] = dc_field(default_factory=dict)   # version → table name → Table
    field_catalog: str = DEFAULT_CATALOG

    def rows(self) -> dict[str, list[str]]:
        """The layout as parallel lists (the $params of val_layout.sql)."""
        out: dict[str, list[str]] = {"versions": [], "parts": [], "keys": [], "sheets": [], "cells": []}
        for part, table in (("header", self.header), ("field", self.fields)):
            for version in sorted(table):
                for key, (sheet, cell) in sorted(table[version].items()):
                    for name, val in zip(out, (version, part, key, sheet, cell)):
                        out[name].append(val)
        return out

    def cell_of(self, key: str, version: str | None = None) -> tuple[str, str]:
        """(sheet, cell) of a header key or field in a version (default: the newest)."""
        v = version or self.default_version
        return self.header[v].get(key) or self.fields[v][key]

    def table(self, name: str, version: str | None = None) -> Table:
        """A table of a version (default: the newest); KeyError if absent."""
        return self.tables[version or self.default_version][name]


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in str(version).split("."))


def _tables(ver: dict, path: Path, i: int) -> dict[str, Table]:
    out: dict[str, Table] = {}
    for j, t in enumerate(ver.get("tables") or []):
        where = f"{path}: versions[{i}].tables[{j}]"
        name = t.get("name") if isinstance(t, dict) else None
        if not isinstance(name, str) or not _IDENT.match(name) or not isinstance(t.get("columns"), dict):
            raise CatalogError(f"{where}: a table needs a lower_snake_case name and columns")
        cols: dict[str, Column] = {}
        for letter, c in t["columns"].items():
            code = c.get("field") if isinstance(c, dict) else None
            if not isinstance(code, str) or not _IDENT.match(code):
                raise CatalogError(f"{where}.columns.{letter}: bad field {code!r}")
            lo, hi = (None if c.get(k) is None else _number(c[k], f"{where}.columns.{letter}.{k}", signed=True)
                      for k in ("min", "max"))
            cols[code] = Column(code, str(c.get("label_zh", code)), str(c.get("kind", "text")),
                                bool(c.get("required", False)), str(c.get("blank", "missing")), c.get("pii"), lo, hi)
        out[name] = Table(name, str(t["sheet"]), cols)
    return out


@lru_cache(maxsize=8)
def load_layout(path: Path = LAYOUT_FILE) -> Layout:
    """Read the template layout YAML directly (header and field cells, and tables, of every version)."""
    doc = load_yaml(path)
    header: dict[str, dict[str, tuple[str, str]]] = {}
    fields: dict[str, dict[str, tuple[str, str]]] = {}
    tables: dict[str, dict[str, Table]] = {}
    labels: dict[str, str] = {}
    for i, ver in enumerate(doc["versions"]):
        v = str(ver["version"])
        sheet = ver["sheet"]
        header[v] = {}
        for key, spec in ver["header"].items():
            header[v][key] = (sheet, spec["cell"])
            labels[key] = spec.get("label_zh", key)
        fields[v] = {f["field"]: (sheet, f["cell"]) for f in ver["fields"]}
        for sheet_cell in list(header[v].values()) + list(fields[v].values()):
            if not _CELL.match(sheet_cell[1]):
                raise CatalogError(f"{path}: versions[{i}]: bad cell {sheet_cell[1]!r}")
        tables[v] = _tables(ver, path, i)
    default = max(header, key=_version_key)
    return Layout(default, str(doc["template_id"]), header, labels, fields, tables,
                  str(doc.get("field_catalog", DEFAULT_CATALOG)))


# --- suites (one per rules file) ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Suite:
    """A rules file and what it is compiled against: suite name, layout, catalog, derived-column style."""

    name: str
    rules_file: Path
    layout_file: Path
    shared: bool          # value_column: shared (one column `r`, expectations pick their rows by rule_id)
    settings_file: Path | None = None   # settings: the policy file `{setting: key}` values are read from

    @property
    def source(self) -> str:
        """The rules file as named in the suite's meta (relative to the project)."""
        try:
            return self.rules_file.resolve().relative_to(HERE.parent.resolve()).as_posix()
        except ValueError:
            return self.rules_file.name

    def layout(self) -> Layout:
        """The layout of the suite's template."""
        return load_layout(self.layout_file)

    def rules(self) -> tuple[Rule, ...]:
        """The suite's rules."""
        return load_rules(self.rules_file)

    def path(self) -> Path:
        """Where the committed suite JSON lives."""
        return SUITES_DIR / f"{self.name}.json"


@lru_cache(maxsize=16)
def load_suite(path: Path = RULES_FILE) -> Suite:
    """The suite a rules file declares (top-level keys checked strictly)."""
    doc = load_yaml(path)
    check_keys(doc, _SUITE_KEYS, {"version", "suite", "rules"}, str(path))
    name = doc["suite"]
    if not isinstance(name, str) or not re.match(r"^[a-z][a-z0-9_]{0,47}$", name):
        raise CatalogError(f"{path}: suite: must be lower_snake_case, got {name!r}")
    stem = doc.get("layout", LAYOUT_FILE.stem)
    if not isinstance(stem, str) or not _IDENT.match(stem) or not (LAYOUTS_DIR / f"{stem}.yaml").is_file():
        raise CatalogError(f"{path}: layout: no layout templates_xlsx/layouts/{stem}.yaml")
    style = doc.get("value_column", "per_rule")
    if style not in ("per_rule", "shared"):
        raise CatalogError(f"{path}: value_column: must be per_rule or shared, got {style!r}")
    settings = None
    if "settings" in doc:
        rel = doc["settings"]
        settings = HERE.parent / rel if isinstance(rel, str) else None
        if settings is None or not settings.is_file():
            raise CatalogError(f"{path}: settings: no settings file {rel!r}")
    return Suite(name, Path(path), LAYOUTS_DIR / f"{stem}.yaml", style == "shared", settings)


def rules_files() -> list[Path]:
    """Every rules file: rules.yaml (JX-YB01) first, then rules_*.yaml by name."""
    return [RULES_FILE] + sorted(HERE.glob("rules_*.yaml"))


def load_suites() -> list[Suite]:
    """Every suite, in rules-file order; suite names and templates are unique."""
    suites = [load_suite(p) for p in rules_files()]
    for attr in ("name", "layout_file"):
        seen = [getattr(s, attr) for s in suites]
        dup = sorted({str(x) for x in seen if seen.count(x) > 1})
        if dup:
            raise CatalogError(f"{HERE}/rules*.yaml: {attr} used by more than one rules file: {dup}")
    return suites


def _catalog(layout: Layout) -> dict[str, FieldDef]:
    fields = load_fields() if layout.field_catalog == DEFAULT_CATALOG else load_fields(CATALOG_DIR /
                                                                                         layout.field_catalog)
    return {f.code: f for f in fields}


# --- settings (policy values a rules file takes from a data file) ----------------------------------------

# metrics/satisfaction/data/settings.yaml's defaults, used only when its loader is not importable
_SATISFACTION_DEFAULTS: dict[str, Any] = {"max_blank_share": 0.2, "straight_line.min_items": 5,
                                          "straight_line.exclude": False, "modes": ["现场", "电话", "网络"]}


def _plain(v: Any) -> Any:
    if isinstance(v, Decimal):
        return float(v)
    return list(v) if isinstance(v, tuple) else v


@lru_cache(maxsize=8)
def load_settings(path: Path) -> dict[str, Any]:
    """A satisfaction settings file as dotted key → value (`straight_line.min_items`), via its strict loader.

    Without metrics.satisfaction (an older checkout) the YAML is read as is, missing keys taking the defaults.
    """
    try:
        from metrics.satisfaction.questionnaire import load_settings as strict
    except ImportError:
        doc = load_yaml(path)
        flat = {f"{k}.{kk}" if isinstance(v, dict) else k: vv
                for k, v in doc.items() for kk, vv in (v.items() if isinstance(v, dict) else [(None, v)])}
        return _SATISFACTION_DEFAULTS | flat
    loaded = strict(Path(path))
    return {f.name.replace("straight_line_", "straight_line.").replace("shrinkage_", "shrinkage."):
            _plain(getattr(loaded, f.name)) for f in dc_fields(loaded)}


def _setting(v: Any, settings: Path | None, where: str) -> Any:
    """A rule value as written, or — written `{setting: key}` — the value of key in the rules file's settings."""
    if not isinstance(v, dict):
        return v
    check_keys(v, {"setting"}, {"setting"}, where)
    if settings is None:
        raise CatalogError(f"{where}: {{setting: …}} needs a `settings:` file at the top of the rules file")
    values = load_settings(settings)
    if v["setting"] not in values:
        raise CatalogError(f"{where}: {settings} has no setting {v['setting']!r}; known: {sorted(values)}")
    return values[v["setting"]]


# --- rules -----------------------------------------------------------------------------------------------

def _where(path: Path, i: int, key: str | None = None) -> str:
    return f"{path}: rules[{i}]" + (f".{key}" if key else "")


def _number(v: Any, where: str, *, positive: bool = False, signed: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise CatalogError(f"{where}: must be a number, got {v!r}")
    if not signed and (v < 0 or (positive and v == 0)):
        raise CatalogError(f"{where}: must be {'> 0' if positive else '>= 0'}, got {v!r}")
    return float(v)


def _field(code: Any, catalog: dict[str, FieldDef], where: str) -> str:
    if not isinstance(code, str) or code not in catalog or not _IDENT.match(code):
        raise CatalogError(f"{where}: unknown field {code!r}")
    return code


def _column(code: Any, table: Table, where: str) -> str:
    if not isinstance(code, str) or code not in table.columns or not _IDENT.match(code):
        raise CatalogError(f"{where}: {code!r} is not a column of table {table.name}")
    return code


def _matches(obj: Any, sel: dict[str, Any]) -> bool:
    ok = True
    for attr, want in sel.items():
        have = getattr(obj, attr)
        if want == "any":
            ok &= have is not None
        elif isinstance(want, list):
            ok &= have in want
        else:
            ok &= have == want
    return ok


def _select(sel: Any, catalog: dict[str, FieldDef], where: str) -> list[FieldDef]:
    if not isinstance(sel, dict) or not sel:
        raise CatalogError(f"{where}: must be a mapping of catalog attributes")
    check_keys(sel, _SELECT_ATTRS, set(), where)
    out = [f for f in catalog.values() if _matches(f, sel)]
    if not out:
        raise CatalogError(f"{where}: selects no field")
    return out


def _select_columns(sel: Any, table: Table, where: str) -> list[str]:
    if not isinstance(sel, dict) or not sel:
        raise CatalogError(f"{where}: must be a mapping of column attributes")
    check_keys(sel, _COLUMN_SELECT_ATTRS, set(), where)
    out = [c.field for c in table.columns.values() if _matches(c, sel)]
    if not out:
        raise CatalogError(f"{where}: selects no column of table {table.name}")
    return out


def _tolerance(t: Any, where: str) -> tuple[float, float]:
    if t is None:
        return 0.0, 0.0
    check_keys(t, {"abs", "rel"}, set(), where)
    return _number(t.get("abs", 0), f"{where}.abs"), _number(t.get("rel", 0), f"{where}.rel")


def _code(code: Any, severity: Any, where: str) -> tuple[str, str]:
    if code not in registry():
        raise CatalogError(f"{where}: code {code!r} is not in expectations/codes.yaml")
    if severity not in SEVERITIES:
        raise CatalogError(f"{where}: severity must be one of {SEVERITIES}, got {severity!r}")
    return code, severity


def _list(v: Any, where: str) -> list:
    if not isinstance(v, list) or not v:
        raise CatalogError(f"{where}: must be a non-empty list")
    return v


def _bounds(r: dict, w: str) -> tuple[float | None, float | None]:
    lo = None if r.get("min") is None else _number(r["min"], f"{w}.min", signed=True)
    hi = None if r.get("max") is None else _number(r["max"], f"{w}.max", signed=True)
    if lo is None and hi is None:
        raise CatalogError(f"{w}: give min and/or max")
    if lo is not None and hi is not None and hi < lo:
        raise CatalogError(f"{w}: max is below min")
    return lo, hi


def _parse_table_rule(r: dict, w: str, common: dict[str, Any], tol: tuple[float, float], table: Table,
                      catalog: dict[str, FieldDef], layout: Layout, settings: Path | None = None) -> Rule:
    """A rule over the rows of a layout table (or, for sample_adequacy, one value per return)."""
    kind = common["kind"]
    extra: dict[str, Any] = {"table": table.name, "tol_abs": tol[0], "tol_rel": tol[1]}

    def columns(key: str = "fields") -> tuple[str, ...]:
        return tuple(_column(c, table, f"{w}.{key}") for c in _list(r.get(key), f"{w}.{key}"))

    def chosen() -> tuple[str, ...]:
        if ("fields" in r) == ("select" in r):
            raise CatalogError(f"{w}: give exactly one of fields / select")
        return columns() if "fields" in r else tuple(_select_columns(r["select"], table, f"{w}.select"))

    def scales(cols: tuple[str, ...]) -> tuple[tuple[str, float, float], ...]:
        # an item's scale is its layout column's min/max (the layout mirrors the questionnaire's scales)
        out = []
        for c in cols:
            col = table.columns[c]
            if col.min is None or col.max is None:
                raise CatalogError(f"{w}: column {c} of table {table.name} has no min/max (answer scale) in the layout")
            out.append((c, col.min, col.max))
        return tuple(out)

    def kind_of(col: str, kinds: tuple[str, ...], key: str) -> str:
        if table.columns[col].kind not in kinds:
            raise CatalogError(f"{w}.{key}: column {col} is of kind {table.columns[col].kind}, need {list(kinds)}")
        return col

    if kind in FIELD_KINDS:
        if ("fields" in r) == ("select" in r):
            raise CatalogError(f"{w}: give exactly one of fields / select")
        cols = columns() if "fields" in r else tuple(_select_columns(r["select"], table, f"{w}.select"))
        if kind == "between":
            extra["min"], extra["max"] = _bounds(r, w)
        if kind == "in_set":
            extra["values"] = tuple(_number(x, f"{w}.values", signed=True) for x in _list(r.get("values"),
                                                                                          f"{w}.values"))
        return Rule(**common, fields=cols, **extra)
    if kind == "part_le_total":
        if "select" in r:
            raise CatalogError(f"{w}: table columns have no parts_of: give left and right")
        pair = (_column(r.get("left"), table, f"{w}.left"), _column(r.get("right"), table, f"{w}.right"))
        return Rule(**common, pairs=(pair,), **extra)
    if kind == "date_in_period":
        cols = columns()
        for c in cols:
            kind_of(c, ("date",), "fields")
        return Rule(**common, fields=cols, **extra)
    if kind == "codes_known":
        cols = columns()
        for c in cols:
            kind_of(c, ("codes",), "fields")
        return Rule(**common, fields=cols, **extra)
    if kind == "flag_matches_codes":
        left = kind_of(_column(r.get("left"), table, f"{w}.left"), ("flag",), "left")
        right = kind_of(_column(r.get("right"), table, f"{w}.right"), ("codes",), "right")
        return Rule(**common, left=left, right=((right, 1.0),), **extra)
    if kind == "unique_rows":
        return Rule(**common, fields=columns(), anchor=_column(r.get("anchor"), table, f"{w}.anchor"), **extra)
    if kind == "in_scale":
        cols = chosen()
        return Rule(**common, fields=cols, bounds=scales(cols), **extra)
    if kind == "text_in_set":
        cols = columns()
        for c in cols:
            kind_of(c, ("text",), "fields")
        texts = _setting(r.get("values"), settings, f"{w}.values")
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t.strip() for t in texts):
            raise CatalogError(f"{w}.values: must be a non-empty list of texts, got {texts!r}")
        return Rule(**common, fields=cols, texts=tuple(texts), **extra)
    if kind in ANSWER_KINDS:
        cols = chosen()
        anchor = _column(r.get("anchor"), table, f"{w}.anchor")
        if anchor in cols:
            raise CatalogError(f"{w}.anchor: the anchor {anchor} is one of the items")
        if kind == "incomplete_row":
            share = _setting(r.get("max_share"), settings, f"{w}.max_share")
            if not 0 <= _number(share, f"{w}.max_share") < 1:
                raise CatalogError(f"{w}.max_share: must be below 1, got {share!r}")
            return Rule(**common, fields=cols, bounds=scales(cols), anchor=anchor, max_share=float(share), **extra)
        n = _setting(r.get("min_items"), settings, f"{w}.min_items")
        if isinstance(n, bool) or not isinstance(n, int) or n < 2:
            raise CatalogError(f"{w}.min_items: must be a whole number ≥ 2, got {n!r}")
        exclude = _setting(r.get("exclude", False), settings, f"{w}.exclude")
        if not isinstance(exclude, bool):
            raise CatalogError(f"{w}.exclude: must be true or false, got {exclude!r}")
        return Rule(**common, fields=cols, bounds=scales(cols), anchor=anchor, min_items=n, exclude=exclude,
                    **extra)
    if kind in PRODUCT_KINDS:
        prod = r.get("product")
        if not isinstance(prod, dict):
            raise CatalogError(f"{w}.product: must map roles {list(PRODUCT_ROLES)} to columns")
        check_keys(prod, set(PRODUCT_ROLES), set(PRODUCT_REQUIRED), f"{w}.product")
        product = tuple((role, _column(prod[role], table, f"{w}.product.{role}")) for role in PRODUCT_ROLES
                        if role in prod)
        left = _column(r.get("left"), table, f"{w}.left")
        if left not in dict(product).values():
            raise CatalogError(f"{w}.left: must be one of the product columns")
        if kind == "route_known" and left != dict(product)["form"]:
            raise CatalogError(f"{w}.left: route_known sits on the product's form column")
        return Rule(**common, left=left, product=product, fields=tuple(c for _, c in product), **extra)
    # sample_adequacy: the total is a fixed field, the counted rows come from the table
    left = _field(r.get("left"), catalog, f"{w}.left")
    return Rule(**common, left=left, fields=columns(), **extra)


def _parse_compare(r: dict, w: str, common: dict[str, Any], catalog: dict[str, FieldDef],
                   tol: tuple[float, float]) -> Rule:
    """compare: left op right, each side an expression over the catalog's fields (expectations/compare.py)."""
    op = r.get("op")
    op = cmp.ALIASES.get(op, op) if isinstance(op, str) else op
    if op not in cmp.OPERATORS:
        raise CatalogError(f"{w}.op: must be one of {list(cmp.OPERATORS)}, got {r.get('op')!r}")
    known = lambda c: c in catalog and bool(_IDENT.match(c))   # noqa: E731
    for key in ("left", "right"):
        if key not in r:
            raise CatalogError(f"{w}: compare needs {key}")
    lhs = cmp.parse_expression(r["left"], known, f"{w}.left")
    rhs = cmp.parse_expression(r["right"], known, f"{w}.right")
    lf, rf = cmp.fields_of(lhs), cmp.fields_of(rhs)
    if not lf:
        raise CatalogError(f"{w}.left: must name a field (the finding sits on the first field's cell)")
    fix = r.get("fix")
    if fix is not None and not isinstance(fix, str):
        raise CatalogError(f"{w}.fix: must be text")
    if op in cmp.PAIRS:
        for key in ("tolerance", "missing"):
            if key in r:
                raise CatalogError(f"{w}.{key}: not used by {op} (it judges blank cells itself)")
        if not rf:
            raise CatalogError(f"{w}.right: {op} needs a field on each side")
        missing = None
    else:
        missing = r.get("missing", cmp.DEFAULT_MISSING)
        if missing not in cmp.MISSING:
            raise CatalogError(f"{w}.missing: must be one of {list(cmp.MISSING)}, got {missing!r}")
    return Rule(**common, op=op, lhs=lhs, rhs=rhs, missing=missing, fix=fix, left=lf[0],
                fields=tuple(dict.fromkeys(lf + rf)), tol_abs=tol[0], tol_rel=tol[1])


def _parse_rule(r: dict, i: int, path: Path, catalog: dict[str, FieldDef], layout: Layout | None = None,
                settings: Path | None = None) -> Rule:
    w = _where(path, i)
    check_keys(r, _RULE_KEYS, {"id", "kind", "code", "severity"}, w)
    rid, kind = r["id"], r["kind"]
    if not isinstance(rid, str) or not _IDENT.match(rid):
        raise CatalogError(f"{w}.id: must be lower_snake_case (≤ 48 chars), got {rid!r}")
    if kind not in KINDS:
        raise CatalogError(f"{w}.kind: must be one of {list(KINDS)}, got {kind!r}")
    extra = set(r) - _COMMON_KEYS - _KIND_KEYS[kind]
    if extra:
        raise CatalogError(f"{w}: key(s) {sorted(extra)} not allowed for kind {kind}")
    code, severity = _code(r["code"], r["severity"], w)
    message = r.get("message")
    if message is not None and not isinstance(message, str):
        raise CatalogError(f"{w}.message: must be text")
    common: dict[str, Any] = {"id": rid, "kind": kind, "code": code, "severity": severity,
                              "message": message, "note": r.get("note")}
    tol_abs, tol_rel = _tolerance(r.get("tolerance"), f"{w}.tolerance")

    if "table" in r or kind in _NEEDS_TABLE:
        layout = layout or load_layout()
        name = r.get("table")
        for v, tables in layout.tables.items():
            if name not in tables:
                raise CatalogError(f"{w}.table: no table {name!r} in layout version {v}")
        table = layout.table(name)
        rule = _parse_table_rule(r, w, common, (tol_abs, tol_rel), table, catalog, layout, settings)
        for v, tables in layout.tables.items():
            for col in rule_columns(rule):
                if col not in tables[name].columns:
                    raise CatalogError(f"{w}: column {col} of table {name} is missing in layout version {v}")
        return rule

    if kind in FIELD_KINDS:
        if ("fields" in r) == ("select" in r):
            raise CatalogError(f"{w}: give exactly one of fields / select")
        if "fields" in r:
            if not isinstance(r["fields"], list) or not r["fields"]:
                raise CatalogError(f"{w}.fields: must be a non-empty list")
            codes = [_field(c, catalog, f"{w}.fields") for c in r["fields"]]
        else:
            codes = [f.code for f in _select(r["select"], catalog, f"{w}.select")]
        kw: dict[str, Any] = {}
        if kind == "between":
            kw["min"], kw["max"] = _bounds(r, w)
        if kind == "in_set":
            kw["values"] = tuple(_number(x, f"{w}.values", signed=True) for x in _list(r.get("values"),
                                                                                       f"{w}.values"))
        return Rule(**common, fields=tuple(codes), tol_abs=tol_abs, tol_rel=tol_rel, **kw)

    if kind == "part_le_total":
        if "select" in r:
            if "left" in r or "right" in r:
                raise CatalogError(f"{w}: give select or left/right, not both")
            pairs = [(f.code, f.parts_of) for f in _select(r["select"], catalog, f"{w}.select") if f.parts_of]
        else:
            pairs = [(_field(r.get("left"), catalog, f"{w}.left"), _field(r.get("right"), catalog, f"{w}.right"))]
        return Rule(**common, pairs=tuple(pairs), tol_abs=tol_abs, tol_rel=tol_rel)

    if kind in SUBMISSION_KINDS:
        return Rule(**common)

    if kind in CATALOG_KINDS:
        # blank_refused: every field of the catalog declaring `blank: refused` (none declaring it is fine)
        return Rule(**common, fields=tuple(c for c, f in catalog.items() if f.blank == "refused"))

    if kind in COMPARE_KINDS:
        return _parse_compare(r, w, common, catalog, (tol_abs, tol_rel))

    left = _field(r.get("left"), catalog, f"{w}.left")
    if kind == "both_or_neither":
        right = _field(r.get("right"), catalog, f"{w}.right")
        if right == left:
            raise CatalogError(f"{w}.right: must differ from left")
        return Rule(**common, left=left, right=((right, 1.0),))
    if kind == "sum_equals":
        right = r.get("right")
        if not isinstance(right, list) or not right:
            raise CatalogError(f"{w}.right: must be a non-empty list of fields")
        return Rule(**common, left=left, right=tuple((_field(c, catalog, f"{w}.right"), 1.0) for c in right),
                    tol_abs=tol_abs, tol_rel=tol_rel)

    # ratio_between
    right = r.get("right")
    if not isinstance(right, dict) or not right:
        raise CatalogError(f"{w}.right: must be a mapping field → weight")
    terms = tuple((_field(c, catalog, f"{w}.right"), _number(wt, f"{w}.right.{c}", positive=True))
                  for c, wt in right.items())
    lo = None if r.get("min") is None else _number(r["min"], f"{w}.min")
    hi = None if r.get("max") is None else _number(r["max"], f"{w}.max")
    if lo is None and hi is None:
        raise CatalogError(f"{w}: give min and/or max")
    code_below = severity_below = None
    if lo is not None:
        if "code_below" not in r or "severity_below" not in r:
            raise CatalogError(f"{w}: min needs code_below and severity_below")
        code_below, severity_below = _code(r["code_below"], r["severity_below"], w)
    return Rule(**common, left=left, right=terms, scale=_number(r.get("scale", 1), f"{w}.scale", positive=True),
                min=lo, max=hi, code_below=code_below, severity_below=severity_below)


@lru_cache(maxsize=16)
def load_rules(path: Path = RULES_FILE) -> tuple[Rule, ...]:
    """The rules of a rules file, checked strictly against its layout, field catalog and the code registry."""
    suite = load_suite(path)
    doc = load_yaml(path)
    if not isinstance(doc["rules"], list) or not doc["rules"]:
        raise CatalogError(f"{path}: rules: must be a non-empty list")
    layout = suite.layout()
    catalog = _catalog(layout)
    rules = tuple(_parse_rule(r, i, path, catalog, layout, suite.settings_file) for i, r in enumerate(doc["rules"]))
    ids = [r.id for r in rules]
    if len(set(ids)) != len(ids):
        raise CatalogError(f"{path}: duplicate rule ids")
    for r in rules:
        for f in rule_fields(r):
            for v, cells in layout.fields.items():
                if f not in cells:
                    raise CatalogError(f"{path}: rule {r.id}: field {f} has no cell in layout version {v}")
    return rules


def suite_name(path: Path = RULES_FILE) -> str:
    """The GX suite name declared in a rules file."""
    return str(load_yaml(path)["suite"])


def rule_fields(rule: Rule) -> list[str]:
    """Every fixed field (return_values) a rule reads."""
    if rule.table is not None:
        return [rule.left] if rule.kind in RETURN_KINDS and rule.left else []
    out = list(rule.fields) + [f for p in rule.pairs for f in p]
    if rule.left:
        out.append(rule.left)
    out += [f for f, _ in rule.right]
    return list(dict.fromkeys(out))


def rule_columns(rule: Rule) -> list[str]:
    """Every table column a rule reads (table rules only)."""
    if rule.table is None:
        return []
    out = list(rule.fields) + [f for p in rule.pairs for f in p]
    if rule.left and rule.kind not in RETURN_KINDS:
        out.append(rule.left)
    out += [f for f, _ in rule.right]
    if rule.anchor:
        out.append(rule.anchor)
    return list(dict.fromkeys(out))


def needs(rules: tuple[Rule, ...]) -> set[str]:
    """The Python-evaluated lookups the rules join (codes, products, adequacy)."""
    out = set()
    for r in rules:
        if r.kind in ("codes_known", "flag_matches_codes"):
            out.add("codes")
        elif r.kind in PRODUCT_KINDS:
            out.add("products")
        elif r.kind == "sample_adequacy":
            out.add("adequacy")
    return out


# --- SQL -------------------------------------------------------------------------------------------------

def _id(name: str) -> str:
    # identifiers and string literals in generated SQL come from the validated catalog only
    if not _IDENT.match(name):
        raise ValueError(f"not a safe identifier: {name!r}")
    return name


def _num(x: float) -> str:
    return f"CAST({float(x)!r} AS DOUBLE)"


def _lit(name: str) -> str:
    return f"'{_id(name)}'"


def _allowed(total_expr: str, rule: Rule) -> str:
    return f"({_num(rule.tol_abs)} + {_num(rule.tol_rel)} * abs({total_expr}))"


def _single_select(rule: Rule, col: str) -> str:
    fields = ", ".join(_lit(f) for f in rule.fields)
    head = f"SELECT submission_id, sheet, cell, field, {_lit(rule.id)} AS rule_id"
    source = "val_values" if rule.table is None else "val_rows"
    where = f"field IN ({fields})" if rule.table is None else f"tbl = {_lit(rule.table)} AND field IN ({fields})"
    if rule.kind == "required":
        # an error cell was reported by the parser; blank_zero is a legitimate zero
        return (f"{head}, CAST(CASE WHEN status IN ('ok', 'blank_zero', 'error') THEN 1 ELSE 0 END AS DOUBLE)"
                f" AS {col}\n    FROM {source} WHERE {where}")
    expr = "abs(v - round(v))" if rule.kind == "whole_number" else "v"
    return (f"{head}, v AS value_num, {expr} AS {col}\n"
            f"    FROM {source} WHERE {where} AND v IS NOT NULL")


def _anchor(field: str, rule: Rule) -> str:
    f = _id(field)
    sheet = f"s_{f}" if rule.table is None else "sheet"   # a table row's cells share its sheet
    return f"SELECT submission_id, {sheet} AS sheet, c_{f} AS cell, {_lit(f)} AS field, {_lit(rule.id)} AS rule_id"


def _cross_selects(rule: Rule, col: str) -> list[str]:
    src = "wide" if rule.table is None else f"val_pivot_{_id(rule.table)}"
    if rule.kind == "sum_equals":
        total = f"v_{_id(rule.left)}"
        rhs = "(" + " + ".join(f"v_{_id(f)}" for f, _ in rule.right) + ")"
        expr = f"abs({total} - {rhs}) - {_allowed(total, rule)}"
        return [f"{_anchor(rule.left, rule)}, {total} AS value_num, {rhs} AS other_num, {expr} AS {col}\n"
                f"    FROM {src} WHERE {expr} IS NOT NULL"]
    if rule.kind == "part_le_total":
        out = []
        for part, total in rule.pairs:
            p, t = f"v_{_id(part)}", f"v_{_id(total)}"
            expr = f"{p} - {t} - {_allowed(t, rule)}"
            out.append(f"{_anchor(part, rule)}, {p} AS value_num, {t} AS other_num, {expr} AS {col}\n"
                       f"    FROM {src} WHERE {expr} IS NOT NULL")
        return out
    # ratio_between: a zero or negative denominator leaves the ratio undefined (skipped)
    left = f"v_{_id(rule.left)}"
    den = "(" + " + ".join(f"{_num(wt)} * v_{_id(f)}" for f, wt in rule.right) + ")"
    expr = f"{left} * {_num(rule.scale)} / CASE WHEN {den} > 0 THEN {den} END"
    return [f"{_anchor(rule.left, rule)}, {left} AS value_num, {den} AS other_num, {expr} AS {col}\n"
            f"    FROM {src} WHERE {expr} IS NOT NULL"]


def _submission_select(rule: Rule, col: str) -> str:
    key = SUBMISSION_KINDS[rule.kind]
    head = (f"SELECT s.submission_id, l.sheet, l.cell, {_lit(key)} AS field, {_lit(rule.id)} AS rule_id")
    join = f"FROM val_scope AS s JOIN val_layout AS l ON l.version = s.layout_version AND l.field = {_lit(key)}"
    if rule.kind == "facility_known":
        return (f"{head}, s.header_code AS value_text,"
                f" CAST(CASE WHEN s.facility_id IS NULL THEN 0 ELSE 1 END AS DOUBLE) AS {col}\n    {join}")
    if rule.kind == "facility_name_matches":
        return (f"{head}, s.header_name AS value_text, s.registry_name AS other_text,"
                f" CAST(CASE WHEN s.name_matches THEN 1 ELSE 0 END AS DOUBLE) AS {col}\n    {join}\n"
                f"    WHERE s.facility_id IS NOT NULL AND s.registry_name IS NOT NULL")
    return (f"{head}, s.period AS value_text, s.inbox_period AS other_text,"
            f" CAST(CASE WHEN s.period = s.inbox_period THEN 1 ELSE 0 END AS DOUBLE) AS {col}\n    {join}\n"
            f"    WHERE s.period IS NOT NULL AND s.inbox_period IS NOT NULL")


_FILLED = "IN ('ok', 'blank_zero', 'error')"   # as `required` counts a cell filled (error: reported by the parser)


def _pair_select(rule: Rule, col: str) -> str:
    """both_or_neither: 1 when both fields are filled or both blank; else 0 on the blank one's cell."""
    a, b = _id(rule.left), _id(rule.right[0][0])
    only_a = "a_filled AND NOT b_filled"   # the finding sits on the cell that is missing
    return (f"SELECT submission_id, CASE WHEN {only_a} THEN b_sheet ELSE a_sheet END AS sheet,"
            f" CASE WHEN {only_a} THEN b_cell ELSE a_cell END AS cell,"
            f" CASE WHEN {only_a} THEN {_lit(b)} ELSE {_lit(a)} END AS field, {_lit(rule.id)} AS rule_id,"
            f" CASE WHEN {only_a} THEN {_lit(a)} ELSE {_lit(b)} END AS other_text,\n"
            f"           CAST(CASE WHEN a_filled = b_filled THEN 1 ELSE 0 END AS DOUBLE) AS {col}\n"
            f"    FROM (SELECT a.submission_id, a.sheet AS a_sheet, a.cell AS a_cell, b.sheet AS b_sheet,"
            f" b.cell AS b_cell, a.status {_FILLED} AS a_filled, b.status {_FILLED} AS b_filled\n"
            f"          FROM val_values AS a JOIN val_values AS b ON b.submission_id = a.submission_id"
            f" AND b.field = {_lit(b)}\n"
            f"          WHERE a.field = {_lit(a)})")


def _blank_refused_select(rule: Rule, col: str) -> str:
    """blank_refused: 1 when a field declaring `blank: refused` holds a number (or an unreadable cell the parser
    reported), 0 when it was left blank."""
    head = f"SELECT submission_id, sheet, cell, field, {_lit(rule.id)} AS rule_id"
    where = f"field IN ({', '.join(_lit(f) for f in rule.fields)})" if rule.fields else "false"
    return (f"{head}, CAST(CASE WHEN status IN ('ok', 'error') THEN 1 ELSE 0 END AS DOUBLE) AS {col}\n"
            f"    FROM val_values WHERE {where}")


def compare_fields(rules: tuple[Rule, ...]) -> list[str]:
    """The fields the compare rules read (the columns of the `cmp` pivot)."""
    return list(dict.fromkeys(f for r in rules if r.kind in COMPARE_KINDS for f in r.fields))


def _compare_cte(fields: list[str]) -> str:
    """cmp: one row per return, each compare field's value, cell, typed flag (k_) and unreadable flag (e_)."""
    aggs = []
    for f in fields:
        cond = f"FILTER (WHERE field = {_lit(f)})"
        aggs += [f"max(v) {cond} AS v_{_id(f)}", f"max(sheet) {cond} AS s_{f}", f"max(cell) {cond} AS c_{f}",
                 f"bool_or(status = 'ok') {cond} AS k_{f}", f"bool_or(status = 'error') {cond} AS e_{f}"]
    return ("cmp AS (\n    SELECT submission_id,\n           " + ",\n           ".join(aggs)
            + f"\n    FROM val_values WHERE field IN ({', '.join(_lit(f) for f in fields)})"
            + "\n    GROUP BY submission_id\n)")


def compare_violation(rule: Rule, left: str, right: str) -> str:
    """SQL of how far a comparison breaks its rule: > 0 fails, ≤ 0 passes (GX: max_value 0).

    allowed = abs + rel × |right|; ≤ ≥ = pass exactly at the allowed gap, < > ≠ fail there (strict); a gap within
    EPSILON × the operands' magnitude is float noise.
    """
    allowed = f"({_num(rule.tol_abs)} + {_num(rule.tol_rel)} * abs({right}))"
    eps = f"{_num(cmp.EPSILON)} * greatest(1, abs({left}), abs({right}))"
    return {
        "=": f"abs({left} - {right}) - {allowed} - {eps}",
        "<=": f"{left} - {right} - {allowed} - {eps}",
        ">=": f"{right} - {left} - {allowed} - {eps}",
        "<": f"{left} - {right} - {allowed} + {eps}",
        ">": f"{right} - {left} - {allowed} + {eps}",
        "!=": f"{allowed} - abs({left} - {right}) + {eps}",
    }[rule.op]


def _compare_selects(rule: Rule, col: str) -> list[str]:
    """compare: one row per return on the left field's cell (value_num = left side, other_num = right side).

    An error rule adds one companion row per other field it reads, on that field's cell (value_text = its value),
    so the error blocks every field of both sides (agg_blocked_fields blocks the field a finding names).
    Skipped for a return: any operand cell unreadable (already reported); a side dividing by zero (undefined);
    blanks as the rule's `missing` says. Pairs count a side filled when one of its cells holds a typed value.
    """
    fields = [_id(f) for f in rule.fields]
    conds = [f"e_{f} IS NOT TRUE" for f in fields]
    zeros = "CAST(NULL AS VARCHAR)"
    if rule.op in cmp.PAIRS:
        raw = lambda f: f"v_{_id(f)}"   # noqa: E731
        left, right = cmp.to_sql(rule.lhs, raw), cmp.to_sql(rule.rhs, raw)
        has_l = "(" + " OR ".join(f"k_{_id(f)} IS TRUE" for f in cmp.fields_of(rule.lhs)) + ")"
        has_r = "(" + " OR ".join(f"k_{_id(f)} IS TRUE" for f in cmp.fields_of(rule.rhs)) + ")"
        if rule.op == "compulsory_pair":
            viol = f"CASE WHEN {has_l} <> {has_r} THEN 1 ELSE 0 END"
            side = f"CASE WHEN {has_l} THEN 'right' ELSE 'left' END"   # the blank side
        else:
            viol = f"CASE WHEN {has_l} AND {has_r} THEN 1 ELSE 0 END"
            side = "CAST(NULL AS VARCHAR)"
        inner = f"{left} AS cmp_l, {right} AS cmp_r, {side} AS cmp_t"
    else:
        present = [f"v_{f} IS NOT NULL" for f in fields]
        if rule.missing == "skip_if_any":
            conds += present
            operand = lambda f: f"v_{_id(f)}"   # noqa: E731
        else:
            if rule.missing == "skip_if_all":
                conds.append("(" + " OR ".join(present) + ")")
            operand = lambda f: f"coalesce(v_{_id(f)}, 0)"   # noqa: E731
            # the blank operands counted as 0, named in the finding
            zeros = ("NULLIF(concat_ws(',', " + ", ".join(f"CASE WHEN v_{f} IS NULL THEN {_lit(f)} END"
                                                          for f in fields) + "), '')")
        left, right = cmp.to_sql(rule.lhs, operand), cmp.to_sql(rule.rhs, operand)
        viol = compare_violation(rule, "cmp_l", "cmp_r")
        inner = f"{left} AS cmp_l, {right} AS cmp_r, {zeros} AS cmp_t"
    src = (f"(SELECT *, {inner}\n          FROM cmp WHERE {' AND '.join(conds)})")
    out = []
    anchors = [rule.left] + ([f for f in fields if f != rule.left] if rule.severity == "error" else [])
    for f in anchors:
        own = "CAST(NULL AS VARCHAR)" if f == rule.left else f"CAST(v_{_id(f)} AS VARCHAR)"
        out.append(f"SELECT submission_id, s_{_id(f)} AS sheet, c_{f} AS cell, {_lit(f)} AS field,"
                   f" {_lit(rule.id)} AS rule_id, cmp_l AS value_num, cmp_r AS other_num, {own} AS value_text,"
                   f" cmp_t AS other_text,\n           CAST({viol} AS DOUBLE) AS {col}\n"
                   f"    FROM {src}\n    WHERE {viol} IS NOT NULL")
    return out


def _str(text: str) -> str:
    # a text made by the compiler (a scale label such as 1–5), quoted as an SQL string literal
    return "'" + text.replace("'", "''") + "'"


def scale_label(lo: float, hi: float) -> str:
    """An answer scale as people write it: 1–5, 0–10."""
    return f"{lo:g}–{hi:g}"


def _scales_sql(rule: Rule) -> str:
    """The rule's item columns with their scales, as an inline table s(field, lo, hi, scale)."""
    rows = ", ".join(f"({_lit(c)}, {_num(lo)}, {_num(hi)}, {_str(scale_label(lo, hi))})" for c, lo, hi in rule.bounds)
    return f"(VALUES {rows}) AS s(field, lo, hi, scale)"


# an answer counts when it is a whole number inside its item's scale (metrics/satisfaction/score.py: else it is
# out of scale and scores nothing, like a blank)
_ANSWERED = "x.v IS NOT NULL AND x.v = round(x.v) AND x.v BETWEEN s.lo AND s.hi"


def _no_error(rule: Rule, cols: list[str]) -> str:
    """SQL condition: none of the row's cells the rule reads was an unreadable (error) cell."""
    return " AND ".join(f"e_{_id(c)} IS NOT TRUE" for c in cols)


def product_key(rule: Rule, prefix: str = "p.") -> list[tuple[str, str]]:
    """(lookup column, pivot expression) pairs that key a row's product in val_products."""
    out = []
    for role in PRODUCT_ROLES:
        c = rule.product_column(role)
        out.append((role, f"coalesce({prefix}t_{_id(c)}, '')" if c else "''"))
    return out


def _row_select(rule: Rule, col: str) -> list[str]:
    """Rules over table rows that need more than one cell or a Python-evaluated lookup."""
    rid, tbl = _lit(rule.id), f"val_pivot_{_id(rule.table)}"
    if rule.kind == "date_in_period":
        # months between the return's period and the date: 0 inside the period
        fields = ", ".join(_lit(f) for f in rule.fields)
        return [f"SELECT x.submission_id, x.sheet, x.cell, x.field, {rid} AS rule_id, x.t AS value_text,"
                f" s.finding_period AS other_text,\n"
                f"           CAST((year(x.d) * 12 + month(x.d)) - (year(s.p) * 12 + month(s.p)) AS DOUBLE) AS {col}\n"
                f"    FROM (SELECT *, try_cast(t AS DATE) AS d FROM val_rows\n"
                f"          WHERE tbl = {_lit(rule.table)} AND field IN ({fields}) AND t IS NOT NULL) AS x\n"
                f"    JOIN (SELECT submission_id, finding_period,"
                f" CAST(try_strptime(finding_period || '-01', '%Y-%m-%d') AS DATE) AS p FROM val_scope) AS s\n"
                f"      USING (submission_id)\n"
                f"    WHERE x.d IS NOT NULL AND s.p IS NOT NULL"]
    if rule.kind == "codes_known":
        # the number of tokens that are not official codes (0 passes); the tokens themselves as value_text
        fields = ", ".join(_lit(f) for f in rule.fields)
        return [f"SELECT x.submission_id, x.sheet, x.cell, x.field, {rid} AS rule_id, c.unknown AS value_text,\n"
                f"           CAST(c.n_unknown AS DOUBLE) AS {col}\n"
                f"    FROM val_rows AS x JOIN val_codes AS c ON c.text = x.t\n"
                f"    WHERE x.tbl = {_lit(rule.table)} AND x.field IN ({fields})"]
    if rule.kind == "flag_matches_codes":
        # 1 when the flag is 0 exactly when a problem code is given (an unreadable codes cell skips the row)
        flag, codes = _id(rule.left), _id(rule.right[0][0])
        given = "coalesce(c.n_codes + c.n_unknown, 0) > 0"
        return [f"SELECT p.submission_id, p.sheet, p.c_{flag} AS cell, {_lit(flag)} AS field,"
                f" {rid} AS rule_id, p.v_{flag} AS value_num, p.t_{codes} AS value_text,\n"
                f"           CAST(CASE WHEN (p.v_{flag} = 0) = ({given}) THEN 1 ELSE 0 END AS DOUBLE) AS {col}\n"
                f"    FROM {tbl} AS p LEFT JOIN val_codes AS c ON c.text = p.t_{codes}\n"
                f"    WHERE p.v_{flag} IN (0, 1) AND p.e_{codes} IS NOT TRUE"]
    if rule.kind == "unique_rows":
        # how many earlier rows of the same return hold the same key (0 passes); anchored on the later row
        keys = [_id(c) for c in rule.fields]
        part = ", ".join(["submission_id"] + [f"v_{k}, t_{k}" for k in keys])
        some = " OR ".join(f"v_{k} IS NOT NULL OR t_{k} IS NOT NULL" for k in keys)
        a = _id(rule.anchor)
        return [f"SELECT submission_id, sheet, c_{a} AS cell, {_lit(a)} AS field, {rid} AS rule_id,"
                f" CAST(row_no AS DOUBLE) AS value_num, CAST(first_row AS DOUBLE) AS other_num, {col}\n"
                f"    FROM (SELECT *, CAST(row_number() OVER w - 1 AS DOUBLE) AS {col},"
                f" first_value(row_no) OVER w AS first_row\n"
                f"          FROM {tbl} WHERE {_no_error(rule, keys)} AND ({some})\n"
                f"          WINDOW w AS (PARTITION BY {part} ORDER BY row_no))\n"
                f"    WHERE c_{a} IS NOT NULL"]
    if rule.kind == "in_scale":
        # 1 when a filled item is a whole number inside its scale; blank and unreadable cells are not judged
        return [f"SELECT x.submission_id, x.sheet, x.cell, x.field, {rid} AS rule_id, x.v AS value_num,"
                f" s.scale AS other_text,\n"
                f"           CAST(CASE WHEN {_ANSWERED} THEN 1 ELSE 0 END AS DOUBLE) AS {col}\n"
                f"    FROM val_rows AS x JOIN {_scales_sql(rule)} ON s.field = x.field\n"
                f"    WHERE x.tbl = {_lit(rule.table)} AND x.v IS NOT NULL"]
    if rule.kind == "text_in_set":
        # GX judges the text itself (value_text in the rule's value set): `r` only marks the rule's rows
        fields = ", ".join(_lit(f) for f in rule.fields)
        return [f"SELECT submission_id, sheet, cell, field, {rid} AS rule_id, t AS value_text,"
                f" CAST(1 AS DOUBLE) AS {col}\n"
                f"    FROM val_rows WHERE tbl = {_lit(rule.table)} AND field IN ({fields}) AND t IS NOT NULL"]
    if rule.kind in ANSWER_KINDS:
        a = _id(rule.anchor)
        head = (f"SELECT p.submission_id, p.sheet, p.c_{a} AS cell, {_lit(a)} AS field, {rid} AS rule_id,"
                f" p.t_{a} AS value_text,")
        answered = (f"SELECT x.submission_id, x.row_no, s.scale, count(*) AS n, min(x.v) AS answer,"
                    f" max(x.v) AS top\n"
                    f"          FROM val_rows AS x JOIN {_scales_sql(rule)} ON s.field = x.field\n"
                    f"          WHERE x.tbl = {_lit(rule.table)} AND {_ANSWERED}\n"
                    f"          GROUP BY x.submission_id, x.row_no, s.scale")
        if rule.kind == "incomplete_row":
            # the share of items unanswered (blank, unreadable or out of scale); GX compares it with max_share
            n = len(rule.bounds)
            missing = f"({n} - coalesce(k.n, 0))"
            return [f"{head} CAST({missing} AS DOUBLE) AS value_num, CAST({n} AS DOUBLE) AS other_num,\n"
                    f"           CAST({missing} AS DOUBLE) / {n} AS {col}\n"
                    f"    FROM {tbl} AS p\n"
                    f"    LEFT JOIN (SELECT submission_id, row_no, sum(n) AS n FROM ({answered})\n"
                    f"               GROUP BY submission_id, row_no) AS k USING (submission_id, row_no)\n"
                    f"    WHERE p.c_{a} IS NOT NULL"]
        # straight_lining: per scale, the number of answers when they are all equal (else 0); the row takes its
        # largest scale, and GX compares it with min_items
        # (ties between scales go to the first scale label, so reruns word the finding alike)
        return [f"{head} k.answer AS value_num, CAST(k.n_same AS DOUBLE) AS other_num, k.scale AS other_text,\n"
                f"           CAST(coalesce(k.n_same, 0) AS DOUBLE) AS {col}\n"
                f"    FROM {tbl} AS p\n"
                f"    LEFT JOIN (SELECT submission_id, row_no, max(n_same) AS n_same,"
                f" first(answer ORDER BY n_same DESC, scale) AS answer,"
                f" first(scale ORDER BY n_same DESC, scale) AS scale\n"
                f"               FROM (SELECT *, CASE WHEN answer = top THEN n ELSE 0 END AS n_same"
                f" FROM ({answered}))\n"
                f"               GROUP BY submission_id, row_no) AS k USING (submission_id, row_no)\n"
                f"    WHERE p.c_{a} IS NOT NULL"]
    if rule.kind in PRODUCT_KINDS:
        left = _id(rule.left)
        on = " AND ".join(f"k.{role} = {expr}" for role, expr in product_key(rule))
        # a blank anchor cell (a missing 通用名 / 剂型) has nothing to judge: the required rule reports it
        if rule.kind == "route_known":
            value, extra = "CASE WHEN k.status = 'out_of_scope' THEN NULL ELSE k.route_known END", ""
        elif rule.kind == "in_scope":
            value, extra = "CASE WHEN k.status = 'out_of_scope' THEN 0 ELSE 1 END", ", k.reason AS other_text"
        else:
            value, extra = "CASE k.status WHEN 'ok' THEN 1 WHEN 'not_covered' THEN 0 END", ", k.reason AS other_text"
        return [f"SELECT p.submission_id, p.sheet, p.c_{left} AS cell, {_lit(left)} AS field,"
                f" {rid} AS rule_id, p.t_{left} AS value_text{extra},\n"
                f"           CAST({value} AS DOUBLE) AS {col}\n"
                f"    FROM {tbl} AS p\n"
                f"    JOIN val_scope AS s USING (submission_id)\n"
                f"    JOIN val_products AS k ON k.year = TRY_CAST(substr(s.finding_period, 1, 4) AS INTEGER)"
                f" AND {on}\n"
                f"    WHERE p.c_{left} IS NOT NULL AND p.t_{left} IS NOT NULL AND {_no_error(rule, list(rule.fields))}"]
    # sample_adequacy: one row per return, on the fixed field holding the month's total
    left = _lit(rule.left)
    return [f"SELECT a.submission_id, x.sheet, x.cell, x.field, {rid} AS rule_id, a.sampled AS value_num,"
            f" a.required AS other_num, a.reason AS other_text,\n"
            f"           CAST(a.adequate AS DOUBLE) AS {col}\n"
            f"    FROM val_adequacy AS a\n"
            f"    JOIN val_values AS x ON x.submission_id = a.submission_id AND x.field = {left}\n"
            f"    WHERE a.rule_id = {rid}"]


_PIVOT_KINDS = ("part_le_total", "flag_matches_codes", "unique_rows") + PRODUCT_KINDS + ANSWER_KINDS


def _pivot_reads(rule: Rule) -> list[str]:
    # the answer kinds count a row's items straight from val_rows: the pivot only carries their anchor
    return [rule.anchor] if rule.kind in ANSWER_KINDS else rule_columns(rule)


def pivot_columns(rules: tuple[Rule, ...]) -> dict[str, list[str]]:
    """table → the columns its row-wise rules read side by side (one val_pivot_<table> row per table row)."""
    out: dict[str, list[str]] = {}
    for r in rules:
        if r.table is not None and r.kind in _PIVOT_KINDS:
            out.setdefault(r.table, [])
            out[r.table] += [c for c in _pivot_reads(r) if c not in out[r.table]]
    return out


def _anchor_columns(rules: tuple[Rule, ...], table: str) -> list[str]:
    """The columns whose cells carry findings of a table's row-wise rules (the pivot keeps their cells)."""
    out: list[str] = []
    for r in rules:
        if r.table == table and r.kind in _PIVOT_KINDS:
            out += [r.anchor] if r.anchor else [p for p, _ in r.pairs] or [r.left]
    return list(dict.fromkeys(c for c in out if c))


def row_fields(rules: tuple[Rule, ...]) -> tuple[list[str], list[str]]:
    """(tables, fields) as parallel lists: every table cell some rule reads (the $params of val_wanted.sql)."""
    pairs: list[tuple[str, str]] = []
    for r in rules:
        if r.table is not None:
            pairs += [(r.table, c) for c in rule_columns(r)]
    pairs = sorted(set(pairs))
    return [t for t, _ in pairs], [f for _, f in pairs]


def prep_sql(rules: tuple[Rule, ...]) -> list[str]:
    """Statements building val_pivot_<table> (one row per table row, the read cells side by side) from val_rows."""
    out = []
    for tbl, cols in pivot_columns(rules).items():
        aggs = ["any_value(sheet) AS sheet"]
        anchors = _anchor_columns(rules, tbl)
        for c in cols:
            cond = f"FILTER (WHERE field = {_lit(c)})"
            # v / t: what the rules read; e_: the cell was unreadable (error), so rules reading it skip the row
            aggs += [f"max(v) {cond} AS v_{_id(c)}", f"max(t) {cond} AS t_{c}",
                     f"bool_or(status = 'error') {cond} AS e_{c}"]
            if c in anchors:
                aggs.append(f"max(cell) {cond} AS c_{c}")
        out.append(f"CREATE OR REPLACE TEMP TABLE val_pivot_{_id(tbl)} AS\n"
                   f"SELECT submission_id, row_no,\n       " + ",\n       ".join(aggs) + "\n"
                   f"FROM val_rows WHERE tbl = {_lit(tbl)} AND field IN ({', '.join(_lit(c) for c in cols)})\n"
                   f"GROUP BY submission_id, row_no")
    return out


def drop_sql(rules: tuple[Rule, ...]) -> list[str]:
    """Statements dropping the pivots of prep_sql."""
    return [f"DROP TABLE IF EXISTS val_pivot_{_id(t)}" for t in pivot_columns(rules)]


def batch_sql(rules: tuple[Rule, ...] | None = None, shared: bool = False) -> str:
    """The generated SELECT: one row per (return, rule, anchor cell) with provenance and the derived value(s).

    shared=False: one column r_<rule> per rule (NULL elsewhere); shared=True: one column `r`, rows without a
    derived value left out.
    """
    rules = load_rules() if rules is None else rules
    wide_fields = list(dict.fromkeys(f for r in rules if r.kind in CROSS_KINDS and r.table is None
                                     for f in rule_fields(r)))
    pivots = []
    for f in wide_fields:
        cond = f"FILTER (WHERE field = {_lit(f)})"
        pivots += [f"max(v) {cond} AS v_{_id(f)}", f"max(sheet) {cond} AS s_{f}", f"max(cell) {cond} AS c_{f}"]
    selects = []
    for r in rules:
        col = SHARED_COLUMN if shared else r.column
        if r.kind in FIELD_KINDS:
            selects.append(_single_select(r, col))
        elif r.kind in CROSS_KINDS:
            selects += _cross_selects(r, col)
        elif r.kind in SUBMISSION_KINDS:
            selects.append(_submission_select(r, col))
        elif r.kind in PAIR_KINDS:
            selects.append(_pair_select(r, col))
        elif r.kind in COMPARE_KINDS:
            selects += _compare_selects(r, col)
        elif r.kind in CATALOG_KINDS:
            selects.append(_blank_refused_select(r, col))
        else:
            selects += _row_select(r, col)
    cols = INDEX_COLUMNS + ["CAST(value_num AS DOUBLE) AS value_num", "CAST(other_num AS DOUBLE) AS other_num",
                            "CAST(value_text AS VARCHAR) AS value_text", "CAST(other_text AS VARCHAR) AS other_text"]
    if shared:
        cols.append(f"CAST({SHARED_COLUMN} AS DOUBLE) AS {SHARED_COLUMN}")
    else:
        cols += [f"CAST({r.column} AS DOUBLE) AS {r.column}" for r in rules]
    wide = ("wide AS (\n    SELECT submission_id,\n           " + ",\n           ".join(pivots)
            + "\n    FROM val_values\n    GROUP BY submission_id\n)") if pivots else "wide AS (SELECT 1)"
    cmp_fields = compare_fields(rules)
    if cmp_fields:
        wide += ",\n" + _compare_cte(cmp_fields)
    # a typed empty branch first: every context column exists even when no rule of the suite fills it
    typed = [f"CAST(NULL AS VARCHAR) AS {c}" for c in INDEX_COLUMNS + ["value_text", "other_text"]]
    typed += [f"CAST(NULL AS DOUBLE) AS {c}" for c in ("value_num", "other_num")]
    body = "\n    UNION ALL BY NAME\n    ".join([f"SELECT {', '.join(typed)} WHERE false"] + selects)
    where = f"\n    WHERE {SHARED_COLUMN} IS NOT NULL" if shared else ""
    return (
        "-- generated by expectations/compile.py from the rules files (needs val_layout, val_scope, val_values;"
        " table rules also val_rows, val_pivot_*, val_codes, val_products, val_adequacy)\n"
        f"WITH {wide},\nrule_rows AS (\n    {body}\n),\n"
        "final AS (\n    SELECT " + ",\n           ".join(cols) + f"\n    FROM rule_rows{where}\n)\n"
        # a shared-column frame is large and its findings are sorted afterwards: no ORDER BY
        + ("SELECT * FROM final" if shared
           else "SELECT * FROM final ORDER BY submission_id, rule_id, sheet, cell, field")
    )


# --- GX suite ----------------------------------------------------------------------------------------------

def _expectation(rule: Rule, gx_type: str, kwargs: dict[str, Any], code: str, severity: str,
                 side: str | None = None, shared: bool = False, column: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"rule_id": rule.id, "kind": rule.kind, "code": code, "severity": severity}
    if side:
        meta["side"] = side
    if rule.table:
        meta["table"] = rule.table
    if rule.note:
        meta["note"] = rule.note
    if shared or column:
        # every rule's value sits in the one column `r` (or a context column every rule shares, such as
        # value_text): the expectation reads its own rule's rows
        kw = {"column": column or SHARED_COLUMN, **kwargs,
              "row_condition": {"type": "comparison", "column": {"name": "rule_id"}, "operator": "==",
                                "parameter": rule.id}}
    else:
        kw = {"column": rule.column, **kwargs}
    return {"type": gx_type, "kwargs": kw, "meta": meta, "severity": GX_SEVERITY[severity]}


_IN_SET_ONE = ("required", "flag_matches_codes", "route_known", "in_scope", "ddd_covered", "sample_adequacy",
               "in_scale", "both_or_neither")


def expectations_for(rule: Rule, shared: bool = False) -> list[dict[str, Any]]:
    """The GX expectation configurations (plain dicts) checking one rule's derived value."""
    between, in_set = "expect_column_values_to_be_between", "expect_column_values_to_be_in_set"

    def one(gx_type: str, kwargs: dict[str, Any]) -> list[dict[str, Any]]:
        return [_expectation(rule, gx_type, kwargs, rule.code, rule.severity, shared=shared)]

    if rule.kind in _IN_SET_ONE + tuple(SUBMISSION_KINDS):
        return one(in_set, {"value_set": [1]})
    if rule.kind == "in_set":
        return one(in_set, {"value_set": [int(v) if v == int(v) else v for v in rule.values]})
    if rule.kind == "text_in_set":
        return [_expectation(rule, in_set, {"value_set": list(rule.texts)}, rule.code, rule.severity,
                             shared=shared, column="value_text")]
    if rule.kind == "incomplete_row":
        # the share of unanswered items may reach max_share, not exceed it (settings: max_blank_share)
        return one(between, {"max_value": rule.max_share})
    if rule.kind == "straight_lining":
        # equal answers on fewer than min_items items of one scale pass (settings: straight_line.min_items)
        return one(between, {"max_value": rule.min_items - 1})
    if rule.kind == "non_negative":
        return one(between, {"min_value": 0})
    if rule.kind == "whole_number":
        return one(between, {"max_value": rule.tol_abs})
    if rule.kind == "between":
        kw = {}
        if rule.min is not None:
            kw["min_value"] = int(rule.min) if rule.min == int(rule.min) else rule.min
        if rule.max is not None:
            kw["max_value"] = int(rule.max) if rule.max == int(rule.max) else rule.max
        return one(between, kw)
    if rule.kind == "date_in_period":
        # months from the period's month to the date's month
        return one(between, {"min_value": 0, "max_value": 0})
    if rule.kind in COMPARE_KINDS:
        # the derived value is how far the comparison breaks the rule (pairs: 1 when broken): > 0 fails
        return one(between, {"max_value": 0})
    if rule.kind in CATALOG_KINDS:
        return one(in_set, {"value_set": [1]})
    if rule.kind in ("sum_equals", "part_le_total", "codes_known", "unique_rows"):
        # the derived value is the gap beyond the tolerance / the count of offending tokens or rows: > 0 fails
        return one(between, {"max_value": 0})
    out = []
    if rule.max is not None:
        out.append(_expectation(rule, between, {"max_value": rule.max}, rule.code, rule.severity, "above", shared))
    if rule.min is not None:
        out.append(_expectation(rule, between, {"min_value": rule.min}, rule.code_below or rule.code,
                                rule.severity_below or rule.severity, "below", shared))
    return out


def suite_dict(rules: tuple[Rule, ...] | None = None, name: str | None = None,
               suite: Suite | None = None) -> dict[str, Any]:
    """The GX ExpectationSuite as plain JSON-able data (default: the JX-YB01 suite of rules.yaml)."""
    suite = suite or load_suite()
    rules = suite.rules() if rules is None else rules
    return {
        "name": name or suite.name,
        "expectations": [e for r in rules for e in expectations_for(r, suite.shared)],
        "meta": {"generated_by": "expectations/compile.py", "source": suite.source,
                 "index_columns": INDEX_COLUMNS},
        "notes": None,
    }


def suite_json(rules: tuple[Rule, ...] | None = None, suite: Suite | None = None) -> str:
    """The suite file's exact text."""
    return json.dumps(suite_dict(rules, suite=suite), ensure_ascii=False, indent=2) + "\n"


def suite_path(name: str | None = None) -> Path:
    """Where the committed suite JSON lives (default: the JX-YB01 suite)."""
    return SUITES_DIR / f"{name or suite_name()}.json"


def main(argv: list[str] | None = None) -> int:
    """Regenerate expectations/suites/<suite>.json from every rules file.

    Prints a line for each suite it wrote, and always one for the operations suite (so a run that changes
    nothing still says `unchanged expectations/suites/op_monthly.json`).
    """
    SUITES_DIR.mkdir(parents=True, exist_ok=True)
    for suite in load_suites():
        path = suite.path()
        text = suite_json(suite=suite)
        changed = not path.exists() or path.read_text(encoding="utf-8") != text
        if changed:
            path.write_text(text, encoding="utf-8")
        if changed or suite.rules_file == RULES_FILE:
            shown = path.relative_to(HERE.parent) if path.is_relative_to(HERE.parent) else path
            print(f"{'wrote' if changed else 'unchanged'} {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
