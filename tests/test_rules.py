"""Rules as data: strict loading, catalog coverage, generated SQL shape and the committed GX suite."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from expectations.compile import (CONTEXT_COLUMNS, INDEX_COLUMNS, batch_sql, load_layout, load_rules, suite_dict,
                                  suite_json, suite_path)
from expectations.findings import registry
from metrics.catalog import CatalogError, load_fields
from warehouse.db import connect, run_sql

REPO = Path(__file__).resolve().parents[1]
RULES = REPO / "expectations" / "rules.yaml"


def _by_kind(kind: str):
    return [r for r in load_rules() if r.kind == kind]


def test_committed_suite_matches_a_fresh_compile():
    """Regenerate with `python -m expectations.compile` when rules.yaml or the catalog changes."""
    assert suite_path().read_text(encoding="utf-8") == suite_json()


def test_compile_cli_reports_unchanged():
    out = subprocess.run([sys.executable, "-m", "expectations.compile"], cwd=REPO, capture_output=True, text=True)
    assert (out.returncode, out.stdout, out.stderr) == (0, "unchanged expectations/suites/op_monthly.json\n", "")


def test_rules_cover_the_catalog():
    fields = load_fields()
    (req,) = _by_kind("required")
    (nonneg,) = _by_kind("non_negative")
    (whole,) = _by_kind("whole_number")
    amounts, counts = _by_kind("part_le_total")
    assert set(req.fields) == {f.code for f in fields if f.required}
    assert set(nonneg.fields) == {f.code for f in fields}
    assert set(whole.fields) == {f.code for f in fields if f.kind == "count"}
    kinds = {f.code: f.kind for f in fields}
    assert set(amounts.pairs) == {(f.code, f.parts_of) for f in fields if f.parts_of and f.kind == "amount"}
    assert set(counts.pairs) == {(f.code, f.parts_of) for f in fields if f.parts_of and f.kind == "count"}
    assert set(amounts.pairs) | set(counts.pairs) == {(f.code, f.parts_of) for f in fields if f.parts_of}
    assert ("op_rx_essential", "op_rx_total") in counts.pairs
    assert (counts.tol_abs, counts.tol_rel) == (0, 0) and {kinds[a] for a, _ in amounts.pairs} == {"amount"}
    (s,) = _by_kind("sum_equals")
    assert (s.left, [f for f, _ in s.right], s.tol_abs, s.tol_rel) == (
        "drug_revenue", ["op_drug_revenue", "ip_drug_revenue"], 0.01, 0.001)
    ratios = {r.left: (r.min, r.max, dict(r.right), r.scale) for r in _by_kind("ratio_between")}
    assert ratios == {"med_revenue": (20, 5000, {"oe_visits": 1, "discharges": 10}, 10000),
                      "op_drug_revenue": (5, 3000, {"oe_visits": 1}, 10000)}
    kinds = {r.kind: (r.code, r.severity) for r in load_rules()}
    assert kinds["facility_known"] == ("facility-unknown", "error")
    assert kinds["facility_name_matches"] == ("facility-name-mismatch", "warning")
    assert kinds["period_matches"] == ("period-mismatch", "warning")


def test_suite_expectations_carry_rule_code_and_severity():
    suite = suite_dict()
    cols = set()
    for e in suite["expectations"]:
        meta = e["meta"]
        assert meta["code"] in registry() and meta["severity"] in ("error", "warning", "info")
        assert e["kwargs"]["column"] == f"r_{meta['rule_id']}"
        cols.add(e["kwargs"]["column"])
    assert cols == {r.column for r in load_rules()}
    assert json.loads(suite_json()) == suite


def _write_rules(tmp_path: Path, rule: dict) -> Path:
    p = tmp_path / "rules.yaml"
    p.write_text(yaml.safe_dump({"version": "t", "suite": "t", "rules": [rule]}, allow_unicode=True),
                 encoding="utf-8")
    return p


@pytest.mark.parametrize("rule, words", [
    ({"id": "x", "kind": "required", "select": {"required": True}, "code": "required-missing",
      "severity": "error", "colour": "red"}, ["rules[0]", "colour"]),
    ({"id": "x", "kind": "required", "fields": ["no_such_field"], "code": "required-missing",
      "severity": "error"}, ["rules[0].fields", "no_such_field"]),
    ({"id": "x", "kind": "required", "fields": ["oe_visits"], "code": "no-such-code", "severity": "error"},
     ["no-such-code"]),
    ({"id": "x; DROP TABLE findings", "kind": "required", "fields": ["oe_visits"], "code": "required-missing",
      "severity": "error"}, ["rules[0].id"]),
    ({"id": "x", "kind": "sum_equals", "left": "drug_revenue", "right": ["op_drug_revenue' OR 1=1 --"],
      "code": "sum-mismatch", "severity": "error"}, ["rules[0].right"]),
    ({"id": "x", "kind": "sum_equals", "left": "drug_revenue", "right": ["op_drug_revenue"], "min": 1,
      "code": "sum-mismatch", "severity": "error"}, ["not allowed for kind sum_equals", "min"]),
    ({"id": "x", "kind": "ratio_between", "left": "med_revenue", "right": {"oe_visits": 1}, "min": 1,
      "code": "unit-suspect", "severity": "warning"}, ["code_below"]),
    ({"id": "x", "kind": "whole_number", "select": {"kind": "count"}, "tolerance": {"abs": -1},
      "code": "not-whole-number", "severity": "error"}, ["tolerance.abs"]),
])
def test_loader_is_strict(tmp_path, rule, words):
    p = _write_rules(tmp_path, rule)
    with pytest.raises(CatalogError) as e:
        load_rules(p)
    assert str(p) in str(e.value)
    for w in words:
        assert w in str(e.value)


def test_generated_sql_runs_on_an_empty_warehouse(tmp_path):
    con = connect(tmp_path / "w.duckdb")
    run_sql(con, "val_layout", **load_layout().rows())
    run_sql(con, "val_scope", any_period=True, periods=[], any_id=True, ids=[], reject_codes=["facility-unknown"],
            default_version=load_layout().default_version, template_id="JX-YB01")
    run_sql(con, "val_values")
    frame = con.execute(batch_sql()).df()
    assert list(frame.columns) == INDEX_COLUMNS + CONTEXT_COLUMNS + [r.column for r in load_rules()]
    assert len(frame) == 0
    run_sql(con, "val_drop")


def test_layout_read_from_yaml_matches_the_template_cells():
    lay = load_layout()
    assert lay.cell_of("drug_revenue") == ("运营与药品", "E17")
    assert (lay.cell_of("facility_code"), lay.cell_of("facility_name"), lay.cell_of("period")) == (
        ("运营与药品", "E3"), ("运营与药品", "B3"), ("运营与药品", "B4"))


def test_message_override_replaces_the_code_template():
    """A rule's `message` is a str.format template over the same placeholders as codes.yaml."""
    import dataclasses

    from expectations.validate import _Mapper

    (rule,) = _by_kind("sum_equals")
    rule = dataclasses.replace(rule, message="{field_zh}（{cell}）{value} ≠ {detail} {expected}{nope}")
    mapper = _Mapper((rule,), load_layout(), {"s1": {"finding_period": "2026-09", "facility_id": "F001",
                                                     "original_name": "a.xlsx"}})
    meta = {"rule_id": rule.id, "code": rule.code, "severity": rule.severity}
    hit = {"submission_id": "s1", "sheet": "运营与药品", "cell": "E17", "field": "drug_revenue", "rule_id": rule.id}
    f = mapper.finding(meta, hit, {"value_num": 1700.0, "other_num": 1600.0, "value_text": None, "other_text": None})
    assert f.message_zh == "药品收入合计（E17）1700 ≠ 门急诊药品收入、住院药品收入 1600"
    assert (f.code, f.stage, f.rule_id, f.file) == ("sum-mismatch", "validate", "drug_revenue_sum", "a.xlsx")
