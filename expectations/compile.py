"""Compile expectations/rules.yaml into derived-column SQL and the GX suite JSON (`python -m expectations.compile`)."""
from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any


from expectations.findings import SEVERITIES, registry
from metrics.catalog import CatalogError, FieldDef, check_keys, load_fields, load_yaml

HERE = Path(__file__).parent
RULES_FILE = HERE / "rules.yaml"
SUITES_DIR = HERE / "suites"
LAYOUT_FILE = HERE.parent / "templates_xlsx" / "layouts" / "op_monthly.yaml"

# The provenance columns GX reports for every unexpected row (the frame's "index").
INDEX_COLUMNS = ["submission_id", "sheet", "cell", "field", "rule_id"]
# Columns carried beside the index so a failure can be told in numbers: the offending value and the
# other side of the comparison (sum of parts, the total, the ratio's denominator, the registry name …).
CONTEXT_COLUMNS = ["value_num", "other_num", "value_text", "other_text"]

FIELD_KINDS = ("required", "non_negative", "whole_number")
CROSS_KINDS = ("sum_equals", "part_le_total", "ratio_between")
SUBMISSION_KINDS = {  # kind → the header key whose cell anchors the finding
    "facility_known": "facility_code",
    "facility_name_matches": "facility_name",
    "period_matches": "period",
}
KINDS = FIELD_KINDS + CROSS_KINDS + tuple(SUBMISSION_KINDS)
GX_SEVERITY = {"error": "critical", "warning": "warning", "info": "info"}

_IDENT = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
_CELL = re.compile(r"^[A-Z]{1,3}[1-9][0-9]{0,6}$")
_RULE_KEYS = {"id", "kind", "fields", "select", "left", "right", "tolerance", "scale", "min", "max", "code",
              "severity", "code_below", "severity_below", "message", "note"}
_KIND_KEYS = {
    "required": {"fields", "select"},
    "non_negative": {"fields", "select"},
    "whole_number": {"fields", "select", "tolerance"},
    "sum_equals": {"left", "right", "tolerance"},
    "part_le_total": {"left", "right", "select", "tolerance"},
    "ratio_between": {"left", "right", "scale", "min", "max", "code_below", "severity_below"},
    "facility_known": set(),
    "facility_name_matches": set(),
    "period_matches": set(),
}
_COMMON_KEYS = {"id", "kind", "code", "severity", "message", "note"}
_SELECT_ATTRS = {"kind", "required", "blank", "group", "aggregation", "unit", "parts_of"}


@dataclass(frozen=True)
class Rule:
    """One validation rule, resolved against the field catalog."""

    id: str
    kind: str
    code: str
    severity: str
    fields: tuple[str, ...] = ()                  # single-field kinds
    pairs: tuple[tuple[str, str], ...] = ()       # part_le_total: (part, total)
    left: str | None = None                       # sum_equals / ratio_between anchor
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

    @property
    def column(self) -> str:
        """The derived column holding this rule's value."""
        return f"r_{self.id}"


@dataclass(frozen=True)
class Layout:
    """Cells of the return per layout version: header keys and data fields → (sheet, cell)."""

    default_version: str
    template_id: str                                # the suite validates returns of this template only
    header: dict[str, dict[str, tuple[str, str]]]   # version → key → (sheet, cell)
    header_labels: dict[str, str]                   # key → label_zh
    fields: dict[str, dict[str, tuple[str, str]]]   # version → field → (sheet, cell)

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


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in str(version).split("."))


@lru_cache(maxsize=4)
def load_layout(path: Path = LAYOUT_FILE) -> Layout:
    """Read the template layout YAML directly (header and field cells of every version)."""
    doc = load_yaml(path)
    header: dict[str, dict[str, tuple[str, str]]] = {}
    fields: dict[str, dict[str, tuple[str, str]]] = {}
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
    default = max(header, key=_version_key)
    return Layout(default, str(doc["template_id"]), header, labels, fields)


def _where(path: Path, i: int, key: str | None = None) -> str:
    return f"{path}: rules[{i}]" + (f".{key}" if key else "")


def _number(v: Any, where: str, *, positive: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise CatalogError(f"{where}: must be a number, got {v!r}")
    if v < 0 or (positive and v == 0):
        raise CatalogError(f"{where}: must be {'> 0' if positive else '>= 0'}, got {v!r}")
    return float(v)


def _field(code: Any, catalog: dict[str, FieldDef], where: str) -> str:
    if not isinstance(code, str) or code not in catalog or not _IDENT.match(code):
        raise CatalogError(f"{where}: unknown field {code!r}")
    return code


def _select(sel: Any, catalog: dict[str, FieldDef], where: str) -> list[FieldDef]:
    if not isinstance(sel, dict) or not sel:
        raise CatalogError(f"{where}: must be a mapping of catalog attributes")
    check_keys(sel, _SELECT_ATTRS, set(), where)
    out = []
    for f in catalog.values():
        ok = True
        for attr, want in sel.items():
            have = getattr(f, attr)
            if want == "any":
                ok &= have is not None
            elif isinstance(want, list):
                ok &= have in want
            else:
                ok &= have == want
        if ok:
            out.append(f)
    if not out:
        raise CatalogError(f"{where}: selects no field")
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


def _parse_rule(r: dict, i: int, path: Path, catalog: dict[str, FieldDef]) -> Rule:
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

    if kind in FIELD_KINDS:
        if ("fields" in r) == ("select" in r):
            raise CatalogError(f"{w}: give exactly one of fields / select")
        if "fields" in r:
            if not isinstance(r["fields"], list) or not r["fields"]:
                raise CatalogError(f"{w}.fields: must be a non-empty list")
            codes = [_field(c, catalog, f"{w}.fields") for c in r["fields"]]
        else:
            codes = [f.code for f in _select(r["select"], catalog, f"{w}.select")]
        return Rule(**common, fields=tuple(codes), tol_abs=tol_abs, tol_rel=tol_rel)

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

    left = _field(r.get("left"), catalog, f"{w}.left")
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


@lru_cache(maxsize=4)
def load_rules(path: Path = RULES_FILE) -> tuple[Rule, ...]:
    """The rules of rules.yaml, checked strictly against the field catalog and the code registry."""
    doc = load_yaml(path)
    check_keys(doc, {"version", "suite", "rules"}, {"version", "suite", "rules"}, str(path))
    if not isinstance(doc["rules"], list) or not doc["rules"]:
        raise CatalogError(f"{path}: rules: must be a non-empty list")
    catalog = {f.code: f for f in load_fields()}
    rules = tuple(_parse_rule(r, i, path, catalog) for i, r in enumerate(doc["rules"]))
    ids = [r.id for r in rules]
    if len(set(ids)) != len(ids):
        raise CatalogError(f"{path}: duplicate rule ids")
    layout = load_layout()
    for r in rules:
        for f in rule_fields(r):
            for v, cells in layout.fields.items():
                if f not in cells:
                    raise CatalogError(f"{path}: rule {r.id}: field {f} has no cell in layout version {v}")
    return rules


def suite_name(path: Path = RULES_FILE) -> str:
    """The GX suite name declared in rules.yaml."""
    return str(load_yaml(path)["suite"])


def rule_fields(rule: Rule) -> list[str]:
    """Every field a rule reads."""
    out = list(rule.fields) + [f for p in rule.pairs for f in p]
    if rule.left:
        out.append(rule.left)
    out += [f for f, _ in rule.right]
    return list(dict.fromkeys(out))


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


def _single_select(rule: Rule) -> str:
    fields = ", ".join(_lit(f) for f in rule.fields)
    head = f"SELECT submission_id, sheet, cell, field, {_lit(rule.id)} AS rule_id"
    if rule.kind == "required":
        # an error cell was reported by the parser; blank_zero is a legitimate zero
        return (f"{head}, CAST(CASE WHEN status IN ('ok', 'blank_zero', 'error') THEN 1 ELSE 0 END AS DOUBLE)"
                f" AS {rule.column}\n    FROM val_values WHERE field IN ({fields})")
    expr = "v" if rule.kind == "non_negative" else "abs(v - round(v))"
    return (f"{head}, v AS value_num, {expr} AS {rule.column}\n"
            f"    FROM val_values WHERE field IN ({fields}) AND v IS NOT NULL")


def _anchor(field: str, rule: Rule) -> str:
    f = _id(field)
    return f"SELECT submission_id, s_{f} AS sheet, c_{f} AS cell, {_lit(f)} AS field, {_lit(rule.id)} AS rule_id"


def _cross_selects(rule: Rule) -> list[str]:
    col = rule.column
    if rule.kind == "sum_equals":
        total = f"v_{_id(rule.left)}"
        rhs = "(" + " + ".join(f"v_{_id(f)}" for f, _ in rule.right) + ")"
        expr = f"abs({total} - {rhs}) - {_allowed(total, rule)}"
        return [f"{_anchor(rule.left, rule)}, {total} AS value_num, {rhs} AS other_num, {expr} AS {col}\n"
                f"    FROM wide WHERE {expr} IS NOT NULL"]
    if rule.kind == "part_le_total":
        out = []
        for part, total in rule.pairs:
            p, t = f"v_{_id(part)}", f"v_{_id(total)}"
            expr = f"{p} - {t} - {_allowed(t, rule)}"
            out.append(f"{_anchor(part, rule)}, {p} AS value_num, {t} AS other_num, {expr} AS {col}\n"
                       f"    FROM wide WHERE {expr} IS NOT NULL")
        return out
    # ratio_between: a zero or negative denominator leaves the ratio undefined (skipped)
    left = f"v_{_id(rule.left)}"
    den = "(" + " + ".join(f"{_num(wt)} * v_{_id(f)}" for f, wt in rule.right) + ")"
    expr = f"{left} * {_num(rule.scale)} / CASE WHEN {den} > 0 THEN {den} END"
    return [f"{_anchor(rule.left, rule)}, {left} AS value_num, {den} AS other_num, {expr} AS {col}\n"
            f"    FROM wide WHERE {expr} IS NOT NULL"]


def _submission_select(rule: Rule) -> str:
    key = SUBMISSION_KINDS[rule.kind]
    head = (f"SELECT s.submission_id, l.sheet, l.cell, {_lit(key)} AS field, {_lit(rule.id)} AS rule_id")
    join = f"FROM val_scope AS s JOIN val_layout AS l ON l.version = s.layout_version AND l.field = {_lit(key)}"
    if rule.kind == "facility_known":
        return (f"{head}, s.header_code AS value_text,"
                f" CAST(CASE WHEN s.facility_id IS NULL THEN 0 ELSE 1 END AS DOUBLE) AS {rule.column}\n    {join}")
    if rule.kind == "facility_name_matches":
        return (f"{head}, s.header_name AS value_text, s.registry_name AS other_text,"
                f" CAST(CASE WHEN s.name_matches THEN 1 ELSE 0 END AS DOUBLE) AS {rule.column}\n    {join}\n"
                f"    WHERE s.facility_id IS NOT NULL AND s.registry_name IS NOT NULL")
    return (f"{head}, s.period AS value_text, s.inbox_period AS other_text,"
            f" CAST(CASE WHEN s.period = s.inbox_period THEN 1 ELSE 0 END AS DOUBLE) AS {rule.column}\n    {join}\n"
            f"    WHERE s.period IS NOT NULL AND s.inbox_period IS NOT NULL")


def batch_sql(rules: tuple[Rule, ...] | None = None) -> str:
    """The generated SELECT: one row per (return, rule, anchor cell) with provenance and r_<rule> columns."""
    rules = load_rules() if rules is None else rules
    wide_fields = list(dict.fromkeys(f for r in rules if r.kind in CROSS_KINDS for f in rule_fields(r)))
    pivots = []
    for f in wide_fields:
        cond = f"FILTER (WHERE field = {_lit(f)})"
        pivots += [f"max(v) {cond} AS v_{_id(f)}", f"max(sheet) {cond} AS s_{f}", f"max(cell) {cond} AS c_{f}"]
    selects = []
    for r in rules:
        if r.kind in FIELD_KINDS:
            selects.append(_single_select(r))
        elif r.kind in CROSS_KINDS:
            selects += _cross_selects(r)
        else:
            selects.append(_submission_select(r))
    cols = INDEX_COLUMNS + ["CAST(value_num AS DOUBLE) AS value_num", "CAST(other_num AS DOUBLE) AS other_num",
                            "CAST(value_text AS VARCHAR) AS value_text", "CAST(other_text AS VARCHAR) AS other_text"]
    cols += [f"CAST({r.column} AS DOUBLE) AS {r.column}" for r in rules]
    wide = ("wide AS (\n    SELECT submission_id,\n           " + ",\n           ".join(pivots)
            + "\n    FROM val_values\n    GROUP BY submission_id\n)") if pivots else "wide AS (SELECT 1)"
    body = "\n    UNION ALL BY NAME\n    ".join(selects)
    return (
        "-- generated by expectations/compile.py from expectations/rules.yaml (needs val_layout, val_scope,"
        " val_values)\n"
        f"WITH {wide},\nrule_rows AS (\n    {body}\n),\n"
        "final AS (\n    SELECT " + ",\n           ".join(cols) + "\n    FROM rule_rows\n)\n"
        "SELECT * FROM final ORDER BY submission_id, rule_id, sheet, cell, field"
    )


# --- GX suite ----------------------------------------------------------------------------------------------

def _expectation(rule: Rule, gx_type: str, kwargs: dict[str, Any], code: str, severity: str,
                 side: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"rule_id": rule.id, "kind": rule.kind, "code": code, "severity": severity}
    if side:
        meta["side"] = side
    if rule.note:
        meta["note"] = rule.note
    return {"type": gx_type, "kwargs": {"column": rule.column, **kwargs}, "meta": meta,
            "severity": GX_SEVERITY[severity]}


def expectations_for(rule: Rule) -> list[dict[str, Any]]:
    """The GX expectation configurations (plain dicts) checking one rule's derived column."""
    between = "expect_column_values_to_be_between"
    if rule.kind in ("required",) + tuple(SUBMISSION_KINDS):
        return [_expectation(rule, "expect_column_values_to_be_in_set", {"value_set": [1]},
                             rule.code, rule.severity)]
    if rule.kind == "non_negative":
        return [_expectation(rule, between, {"min_value": 0}, rule.code, rule.severity)]
    if rule.kind == "whole_number":
        return [_expectation(rule, between, {"max_value": rule.tol_abs}, rule.code, rule.severity)]
    if rule.kind in ("sum_equals", "part_le_total"):
        # the derived value is the gap beyond the tolerance: > 0 fails
        return [_expectation(rule, between, {"max_value": 0}, rule.code, rule.severity)]
    out = []
    if rule.max is not None:
        out.append(_expectation(rule, between, {"max_value": rule.max}, rule.code, rule.severity, "above"))
    if rule.min is not None:
        out.append(_expectation(rule, between, {"min_value": rule.min}, rule.code_below or rule.code,
                                rule.severity_below or rule.severity, "below"))
    return out


def suite_dict(rules: tuple[Rule, ...] | None = None, name: str | None = None) -> dict[str, Any]:
    """The GX ExpectationSuite as plain JSON-able data."""
    rules = load_rules() if rules is None else rules
    return {
        "name": name or suite_name(),
        "expectations": [e for r in rules for e in expectations_for(r)],
        "meta": {"generated_by": "expectations/compile.py", "source": "expectations/rules.yaml",
                 "index_columns": INDEX_COLUMNS},
        "notes": None,
    }


def suite_json(rules: tuple[Rule, ...] | None = None) -> str:
    """The suite file's exact text."""
    return json.dumps(suite_dict(rules), ensure_ascii=False, indent=2) + "\n"


def suite_path(name: str | None = None) -> Path:
    """Where the committed suite JSON lives."""
    return SUITES_DIR / f"{name or suite_name()}.json"


def main(argv: list[str] | None = None) -> int:
    """Regenerate expectations/suites/<suite>.json from rules.yaml."""
    path = suite_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    text = suite_json()
    changed = not path.exists() or path.read_text(encoding="utf-8") != text
    path.write_text(text, encoding="utf-8")
    print(f"{'wrote' if changed else 'unchanged'} {path.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
