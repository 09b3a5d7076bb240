"""Rules as data for the rational-prescribing returns: one suite per template, strict loading of table rules,
catalog and layout coverage, generated SQL shape and the committed GX suites."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import expectations.compile as compile_mod
from expectations.compile import (CONTEXT_COLUMNS, INDEX_COLUMNS, SHARED_COLUMN, load_rules, load_suite, load_suites,
                                  suite_dict, suite_json)
from expectations.findings import registry
from metrics.catalog import CATALOG_DIR, CatalogError, load_fields
from warehouse.db import connect, run_sql

REPO = Path(__file__).resolve().parents[1]
EXP = REPO / "expectations"
NEW_CODES = ("row-required-missing", "value-out-of-range", "rx-date-outside-period", "problem-code-unknown",
             "rational-code-mismatch", "rx-duplicate-row", "rx-sample-inadequate", "route-unknown",
             "abx-out-of-scope", "ddd-not-covered")


def _suite(name: str):
    return next(s for s in load_suites() if s.name == name)


def _rules(name: str) -> dict:
    return {r.id: r for r in _suite(name).rules()}


def test_one_suite_per_template():
    got = {s.name: (s.layout().template_id, s.shared, s.source) for s in load_suites()}
    assert got == {"op_monthly": ("JX-YB01", False, "expectations/rules.yaml"),
                   "rx_antibiotic": ("JX-YB02", True, "expectations/rules_rx_antibiotic.yaml"),
                   "rx_review": ("JX-YB03", True, "expectations/rules_rx_review.yaml"),
                   "survey": ("JX-MY01", True, "expectations/rules_survey.yaml"),
                   "sat_platform": ("JX-MY02", True, "expectations/rules_sat_platform.yaml"),
                   "grassroots": ("JX-JC01", False, "expectations/rules_grassroots.yaml"),
                   "county": ("JX-XY01", False, "expectations/rules_county.yaml")}


@pytest.mark.parametrize("name", ["op_monthly", "rx_antibiotic", "rx_review"])
def test_committed_suites_match_a_fresh_compile(name):
    """Regenerate with `python -m expectations.compile` when a rules file, layout or catalog changes."""
    suite = _suite(name)
    assert suite.path().read_text(encoding="utf-8") == suite_json(suite=suite)


def test_compile_writes_every_suite(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(compile_mod, "SUITES_DIR", tmp_path)
    assert compile_mod.main([]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["county.json", "grassroots.json", "op_monthly.json",
                                                          "rx_antibiotic.json", "rx_review.json", "sat_platform.json",
                                                          "survey.json"]
    assert capsys.readouterr().out.count("wrote ") == 7
    for suite in load_suites():
        assert (tmp_path / f"{suite.name}.json").read_text(encoding="utf-8") == suite.path().read_text(encoding="utf-8")
    compile_mod.main([])
    assert capsys.readouterr().out == f"unchanged {tmp_path / 'op_monthly.json'}\n"


@pytest.mark.parametrize("name", ["rx_antibiotic", "rx_review"])
def test_shared_suites_pick_their_rule_rows(name):
    import great_expectations as gx

    suite = _suite(name)
    doc = suite_dict(suite=suite)
    rules = suite.rules()
    for e in doc["expectations"]:
        meta, kw = e["meta"], e["kwargs"]
        assert meta["code"] in registry() and meta["severity"] in ("error", "warning", "info")
        assert kw["column"] == SHARED_COLUMN
        assert kw["row_condition"] == {"type": "comparison", "column": {"name": "rule_id"}, "operator": "==",
                                       "parameter": meta["rule_id"]}
    assert {e["meta"]["rule_id"] for e in doc["expectations"]} == {r.id for r in rules}
    assert doc["meta"]["index_columns"] == INDEX_COLUMNS
    loaded = gx.ExpectationSuite(name=doc["name"], expectations=doc["expectations"])
    assert len(loaded.expectations) == len(doc["expectations"])
    assert json.loads(suite.path().read_text(encoding="utf-8")) == doc


def test_fixed_item_rules_cover_the_catalogs():
    for name, catalog in (("rx_antibiotic", "fields_antibiotic.yaml"), ("rx_review", "fields_rx_review.yaml")):
        fields = load_fields(CATALOG_DIR / catalog)
        rules = _rules(name)
        assert set(rules["required"].fields) == {f.code for f in fields if f.required}
        assert set(rules["non_negative"].fields) == {f.code for f in fields}
        assert set(rules["whole_number"].fields) == {f.code for f in fields if f.kind == "count"}
        for kind, code in (("facility_known", "facility-unknown"), ("facility_name_matches", "facility-name-mismatch"),
                           ("period_matches", "period-mismatch")):
            assert (rules[kind].code, rules[kind].severity) == (code, "error" if kind == "facility_known"
                                                                 else "warning")
    parts = _rules("rx_antibiotic")["part_le_total_count"]
    fields = load_fields(CATALOG_DIR / "fields_antibiotic.yaml")
    assert set(parts.pairs) == {(f.code, f.parts_of) for f in fields if f.parts_of}
    assert (parts.tol_abs, parts.tol_rel) == (0, 0)


def test_row_rules_of_the_review_table():
    lay = yaml.safe_load((REPO / "templates_xlsx" / "layouts" / "rx_review.yaml").read_text(encoding="utf-8"))
    cols = lay["versions"][0]["tables"][0]["columns"].values()
    r = _rules("rx_review")
    assert set(r["row_required"].fields) == {c["field"] for c in cols if c.get("required")}
    assert set(r["flags_01"].fields) == {"has_antibiotic", "has_injection", "rational"}
    assert r["flags_01"].values == (0, 1)
    assert (r["age_range"].fields, r["age_range"].min, r["age_range"].max) == (("age",), 0, 120)
    assert (r["drugs_at_least_one"].min, r["drugs_at_least_one"].max) == (1, None)
    assert r["generic_le_drugs"].pairs == (("n_generic", "n_drugs"),)
    assert r["essential_le_drugs"].pairs == (("n_essential", "n_drugs"),)
    assert (r["rational_matches_codes"].left, r["rational_matches_codes"].right[0][0]) == ("rational", "problem_codes")
    assert r["duplicate_rows"].fields == ("rx_date", "age", "diagnosis", "n_drugs", "amount", "prescriber")
    assert (r["duplicate_rows"].anchor, r["duplicate_rows"].severity) == ("seq", "warning")
    assert (r["sample_adequacy"].left, r["sample_adequacy"].severity) == ("rxr_op_rx_total", "warning")
    assert {x.table for x in r.values()} == {None, "review"}


def test_row_rules_of_the_consumption_table():
    r = _rules("rx_antibiotic")
    product = {"name": "generic_name", "atc": "atc_code", "form": "form_route", "strength": "strength",
               "pack_unit": "pack_unit"}
    for rid, left, severity in (("route_known", "form_route", "warning"), ("in_scope", "generic_name", "info"),
                                ("ddd_covered", "generic_name", "warning")):
        assert (dict(r[rid].product), r[rid].left, r[rid].severity) == (product, left, severity)
    assert r["quantities_non_negative"].fields == ("qty_inpatient", "qty_outpatient")
    assert set(r["consumption_required"].fields) == {"generic_name", "form_route", "strength", "pack_unit"}
    assert set(r["catalogue_required"].fields) == {"generic_name", "dosage_form"}


def test_new_codes_are_registered():
    reg = registry()
    for code in NEW_CODES:
        spec = reg[code]
        assert spec["stage"] == "validate" and spec["message_zh"] and spec["fix_zh"]
    assert reg["abx-out-of-scope"]["severity"] == "info" and "不计入抗菌药物使用强度" in reg["abx-out-of-scope"]["message_zh"]
    assert "DDD未覆盖" in reg["ddd-not-covered"]["message_zh"]


def _write(tmp_path: Path, rule: dict, layout: str = "rx_review", **top) -> Path:
    p = tmp_path / "rules_t.yaml"
    doc = {"version": "t", "suite": "t", "layout": layout, "value_column": "shared", "rules": [rule]} | top
    p.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return p


_PRODUCT = {"name": "generic_name", "atc": "atc_code", "form": "form_route", "strength": "strength",
            "pack_unit": "pack_unit"}


@pytest.mark.parametrize("rule, layout, words", [
    ({"id": "x", "kind": "required", "table": "nope", "select": {"required": True}, "code": "row-required-missing",
      "severity": "error"}, "rx_review", ["rules[0].table", "nope"]),
    ({"id": "x", "kind": "between", "table": "review", "fields": ["weight"], "min": 0,
      "code": "value-out-of-range", "severity": "error"}, "rx_review", ["rules[0].fields", "weight", "review"]),
    ({"id": "x", "kind": "between", "table": "review", "fields": ["age"], "code": "value-out-of-range",
      "severity": "error"}, "rx_review", ["min and/or max"]),
    ({"id": "x", "kind": "between", "table": "review", "fields": ["age"], "min": 5, "max": 1,
      "code": "value-out-of-range", "severity": "error"}, "rx_review", ["max is below min"]),
    ({"id": "x", "kind": "in_set", "table": "review", "select": {"kind": "flag"}, "code": "flag-not-01",
      "severity": "error"}, "rx_review", ["rules[0].values"]),
    ({"id": "x", "kind": "required", "table": "review", "select": {"colour": "red"}, "code": "row-required-missing",
      "severity": "error"}, "rx_review", ["rules[0].select", "colour"]),
    ({"id": "x", "kind": "date_in_period", "table": "review", "fields": ["age"], "code": "rx-date-outside-period",
      "severity": "error"}, "rx_review", ["rules[0].fields", "kind count", "date"]),
    ({"id": "x", "kind": "date_in_period", "fields": ["rx_date"], "code": "rx-date-outside-period",
      "severity": "error"}, "rx_review", ["rules[0].table"]),
    ({"id": "x", "kind": "flag_matches_codes", "table": "review", "left": "age", "right": "problem_codes",
      "code": "rational-code-mismatch", "severity": "error"}, "rx_review", ["rules[0].left", "flag"]),
    ({"id": "x", "kind": "unique_rows", "table": "review", "fields": ["age"], "anchor": "nope",
      "code": "rx-duplicate-row", "severity": "warning"}, "rx_review", ["rules[0].anchor"]),
    ({"id": "x", "kind": "part_le_total", "table": "review", "select": {"kind": "count"},
      "code": "part-exceeds-total", "severity": "error"}, "rx_review", ["left and right"]),
    ({"id": "x", "kind": "sample_adequacy", "table": "review", "left": "n_drugs", "fields": ["n_drugs"],
      "code": "rx-sample-inadequate", "severity": "warning"}, "rx_review", ["rules[0].left", "n_drugs"]),
    ({"id": "x", "kind": "in_scope", "table": "consumption", "left": "generic_name",
      "product": {"name": "generic_name"}, "code": "abx-out-of-scope", "severity": "info"},
     "rx_antibiotic", ["rules[0].product", "missing"]),
    ({"id": "x", "kind": "route_known", "table": "consumption", "left": "generic_name", "product": _PRODUCT,
      "code": "route-unknown", "severity": "warning"}, "rx_antibiotic", ["rules[0].left", "form"]),
    ({"id": "x", "kind": "ddd_covered", "table": "consumption", "left": "generic_name",
      "product": _PRODUCT | {"colour": "red"}, "code": "ddd-not-covered", "severity": "warning"},
     "rx_antibiotic", ["rules[0].product", "colour"]),
    ({"id": "x", "kind": "sum_equals", "table": "review", "left": "age", "right": ["age"],
      "code": "sum-mismatch", "severity": "error"}, "rx_review", ["not allowed for kind sum_equals", "table"]),
    ({"id": "x", "kind": "required", "table": "review", "fields": ["age' OR 1=1 --"],
      "code": "row-required-missing", "severity": "error"}, "rx_review", ["rules[0].fields"]),
])
def test_table_rules_are_loaded_strictly(tmp_path, rule, layout, words):
    p = _write(tmp_path, rule, layout)
    with pytest.raises(CatalogError) as e:
        load_rules(p)
    assert str(p) in str(e.value)
    for w in words:
        assert w in str(e.value)


@pytest.mark.parametrize("top, words", [({"value_column": "wide"}, ["value_column"]),
                                        ({"layout": "no_such_layout"}, ["layout", "no_such_layout"]),
                                        ({"colour": "red"}, ["colour"])])
def test_rules_file_keys_are_checked(tmp_path, top, words):
    p = _write(tmp_path, {"id": "x", "kind": "required", "select": {"required": True},
                          "code": "required-missing", "severity": "error"}, **top)
    with pytest.raises(CatalogError) as e:
        load_suite(p)
    for w in words:
        assert w in str(e.value)


@pytest.mark.parametrize("name", ["rx_antibiotic", "rx_review"])
def test_generated_sql_runs_on_an_empty_warehouse(tmp_path, name):
    from expectations.validate import build_frame

    con = connect(tmp_path / "w.duckdb")
    frame = build_frame(con, suite=_suite(name))
    assert list(frame.columns) == INDEX_COLUMNS + CONTEXT_COLUMNS + [SHARED_COLUMN]
    assert len(frame) == 0
    run_sql(con, "val_drop")
    con.close()
