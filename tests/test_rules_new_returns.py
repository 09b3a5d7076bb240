"""Rules as data for the satisfaction, grassroots and county returns (JX-MY01, JX-MY02, JX-JC01, JX-XY01): one suite
per template, rules covering the catalogs and the survey tables, policy values taken from the satisfaction settings
at compile time, strict loading of the new kinds, the generated SQL and the committed GX suites."""
from __future__ import annotations

import json
import sys
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
SETTINGS = REPO / "metrics" / "satisfaction" / "data" / "settings.yaml"
NEW = {"survey": ("JX-MY01", True, "fields_survey.yaml"), "sat_platform": ("JX-MY02", True, "fields_platform.yaml"),
       "grassroots": ("JX-JC01", False, "fields_grassroots.yaml"), "county": ("JX-XY01", False, "fields_county.yaml")}
NEW_CODES = ("survey-answer-out-of-scale", "survey-date-outside-period", "survey-mode-unknown", "survey-duplicate-id",
             "survey-incomplete", "survey-straight-lining", "platform-pair-incomplete")
SURVEY_TABLES = ("op", "ip", "staff")


def _suite(name: str):
    return next(s for s in load_suites() if s.name == name)


def _rules(name: str) -> dict:
    return {r.id: r for r in _suite(name).rules()}


def _survey_layout() -> dict:
    doc = yaml.safe_load((REPO / "templates_xlsx" / "layouts" / "survey.yaml").read_text(encoding="utf-8"))
    return {t["name"]: t for t in doc["versions"][0]["tables"]}


def test_every_template_has_one_suite():
    got = {s.name: (s.layout().template_id, s.shared, s.source) for s in load_suites()}
    assert got == {"op_monthly": ("JX-YB01", False, "expectations/rules.yaml"),
                   "rx_antibiotic": ("JX-YB02", True, "expectations/rules_rx_antibiotic.yaml"),
                   "rx_review": ("JX-YB03", True, "expectations/rules_rx_review.yaml")} | {
        name: (tid, shared, f"expectations/rules_{name}.yaml") for name, (tid, shared, _) in NEW.items()}
    # the monthly run validates a template when its layout stem has a suite of the same name
    from flows.pipeline import validated_templates

    assert {tid for tid, _, _ in NEW.values()} <= set(validated_templates())


@pytest.mark.parametrize("name", list(NEW))
def test_committed_suites_match_a_fresh_compile(name):
    """Regenerate with `python -m expectations.compile` when a rules file, layout, catalog or settings change."""
    suite = _suite(name)
    assert suite.path().read_text(encoding="utf-8") == suite_json(suite=suite)


def test_compile_writes_the_new_suites(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(compile_mod, "SUITES_DIR", tmp_path)
    assert compile_mod.main([]) == 0
    assert {f"{n}.json" for n in NEW} <= {p.name for p in tmp_path.iterdir()}
    for name in NEW:
        fresh = (tmp_path / f"{name}.json").read_text(encoding="utf-8")
        assert fresh == _suite(name).path().read_text(encoding="utf-8")


@pytest.mark.parametrize("name", list(NEW))
def test_header_and_fixed_item_rules_cover_the_catalogs(name):
    fields = load_fields(CATALOG_DIR / NEW[name][2])
    rules = _rules(name)
    for kind, code, severity in (("facility_known", "facility-unknown", "error"),
                                 ("facility_name_matches", "facility-name-mismatch", "warning"),
                                 ("period_matches", "period-mismatch", "warning")):
        assert [(r.code, r.severity) for r in rules.values() if r.kind == kind] == [(code, severity)]
    fixed = [r for r in rules.values() if r.table is None]
    counts = {f.code for f in fields if f.kind == "count"}
    assert {f for r in fixed if r.kind == "whole_number" for f in r.fields} == counts
    assert {f for r in fixed if r.kind == "non_negative" for f in r.fields} | \
           {f for r in fixed if r.kind == "between" and r.min is not None and r.min >= 0 for f in r.fields} \
           == {f.code for f in fields}
    # a catalog without required items has no required rule (select would select nothing)
    assert {f for r in fixed if r.kind == "required" for f in r.fields} == {f.code for f in fields if f.required}
    assert {p for r in fixed if r.kind == "part_le_total" for p in r.pairs} == \
           {(f.code, f.parts_of) for f in fields if f.parts_of}


def test_parts_and_totals_of_grassroots_and_county():
    jc, xy = _rules("grassroots"), _rules("county")
    assert set(jc["part_le_total"].pairs) == {("jc_drug_revenue", "jc_med_revenue"),
                                              ("jc_essential_drug_revenue", "jc_drug_revenue")}
    assert (jc["part_le_total"].tol_abs, jc["part_le_total"].tol_rel) == (0.01, 0.001)
    assert set(xy["part_le_total"].pairs) == {("xy_fund_grassroots", "xy_fund_in_county")}
    assert set(xy["part_le_total_count"].pairs) == {("xy_visits_nonmember_grassroots", "xy_visits_total"),
                                                    ("xy_chronic_managed", "xy_chronic_registered")}
    assert (xy["part_le_total_count"].tol_abs, xy["part_le_total_count"].tol_rel) == (0, 0)


def test_platform_rules():
    r = _rules("sat_platform")
    assert (set(r["score_range"].fields), r["score_range"].min, r["score_range"].max) == (
        {"sat_plat_op_score", "sat_plat_ip_score", "sat_plat_staff_score"}, 0, 100)
    pairs = {(x.left, x.right[0][0]) for x in r.values() if x.kind == "both_or_neither"}
    assert pairs == {(f"sat_plat_{s}_score", f"sat_plat_{s}_n") for s in ("op", "ip", "staff")}
    assert {(x.code, x.severity) for x in r.values() if x.kind == "both_or_neither"} == {("platform-pair-incomplete",
                                                                                           "error")}


@pytest.mark.parametrize("tbl", SURVEY_TABLES)
def test_survey_row_rules_of_each_table(tbl):
    from metrics.satisfaction.questionnaire import load_questionnaires

    layout = _survey_layout()[tbl]
    cols = list(layout["columns"].values())
    items = [c["field"] for c in cols if c["kind"] == "count"]
    r = {x.id.removeprefix(f"{tbl}_"): x for x in _suite("survey").rules() if x.table == tbl}
    assert set(r) == {"required", "in_scale", "date_in_period", "mode_known", "duplicate_id", "incomplete",
                      "straight_lining"}
    assert set(r["required"].fields) == {c["field"] for c in cols if c.get("required")} == {
        "respondent_id", "survey_date", "mode"}
    # each item's scale is its layout column's min/max, and those are the questionnaire's scales
    q = load_questionnaires()[tbl]
    scales = {i.code: (float(q.scales[i.scale].min), float(q.scales[i.scale].max)) for i in q.items}
    for kind in ("in_scale", "incomplete", "straight_lining"):
        assert r[kind].fields == tuple(items)
        assert {c: (lo, hi) for c, lo, hi in r[kind].bounds} == scales
    assert r["date_in_period"].fields == ("survey_date",)
    assert (r["mode_known"].kind, r["mode_known"].fields) == ("text_in_set", ("mode",))
    assert (r["duplicate_id"].kind, r["duplicate_id"].fields, r["duplicate_id"].anchor) == (
        "unique_rows", ("respondent_id",), "respondent_id")
    assert r["incomplete"].anchor == r["straight_lining"].anchor == "respondent_id"
    assert {x.code: x.severity for x in r.values()} == {
        "row-required-missing": "error", "survey-answer-out-of-scale": "error", "survey-date-outside-period": "error",
        "survey-mode-unknown": "warning", "survey-duplicate-id": "warning", "survey-incomplete": "warning",
        "survey-straight-lining": "warning"}


def test_survey_policy_comes_from_the_satisfaction_settings():
    from metrics.satisfaction.questionnaire import load_settings

    s = load_settings(SETTINGS)
    doc = suite_dict(suite=_suite("survey"))
    for tbl in SURVEY_TABLES:
        kw = {e["meta"]["rule_id"]: e["kwargs"] for e in doc["expectations"]}
        assert kw[f"{tbl}_incomplete"]["max_value"] == float(s.max_blank_share)
        assert kw[f"{tbl}_straight_lining"]["max_value"] == s.straight_line_min_items - 1
        assert kw[f"{tbl}_mode_known"]["value_set"] == list(s.modes)
        assert kw[f"{tbl}_mode_known"]["column"] == "value_text"
        assert _rules("survey")[f"{tbl}_straight_lining"].exclude is s.straight_line_exclude
    # no policy value is written into the generated SQL: it only derives shares and counts
    sql = compile_mod.batch_sql(_suite("survey").rules(), shared=True)
    assert "0.2" not in sql and "现场" not in sql


def test_changed_settings_change_the_compiled_suite(tmp_path):
    """Another policy file (stricter blank share, 4 equal answers, two modes, excluded) → another suite."""
    policy = yaml.safe_load(SETTINGS.read_text(encoding="utf-8"))
    policy |= {"max_blank_share": 0.1, "straight_line": {"min_items": 4, "exclude": True}, "modes": ["现场", "网络"]}
    settings = tmp_path / "settings.yaml"
    settings.write_text(yaml.safe_dump(policy, allow_unicode=True), encoding="utf-8")
    text = (EXP / "rules_survey.yaml").read_text(encoding="utf-8")
    rules_file = tmp_path / "rules_survey.yaml"
    rules_file.write_text(text.replace("settings: metrics/satisfaction/data/settings.yaml", f"settings: {settings}"),
                          encoding="utf-8")
    suite = load_suite(rules_file)
    kw = {e["meta"]["rule_id"]: e["kwargs"] for e in suite_dict(suite=suite)["expectations"]}
    assert kw["op_incomplete"]["max_value"] == 0.1
    assert kw["ip_straight_lining"]["max_value"] == 3
    assert kw["staff_mode_known"]["value_set"] == ["现场", "网络"]
    assert all(r.exclude for r in suite.rules() if r.kind == "straight_lining")


def test_settings_without_the_strict_loader_fall_back_to_the_defaults(tmp_path, monkeypatch):
    """An older checkout without metrics.satisfaction: the YAML is read as is, missing keys from the defaults."""
    monkeypatch.setitem(sys.modules, "metrics.satisfaction.questionnaire", None)   # import raises ImportError
    p = tmp_path / "settings.yaml"
    p.write_text("max_blank_share: 0.25\nstraight_line: {min_items: 6}\n", encoding="utf-8")
    got = compile_mod.load_settings.__wrapped__(p)
    assert (got["max_blank_share"], got["straight_line.min_items"], got["straight_line.exclude"], got["modes"]) == (
        0.25, 6, False, ["现场", "电话", "网络"])


def _write(tmp_path: Path, rule: dict, layout: str = "survey", **top) -> Path:
    p = tmp_path / "rules_t.yaml"
    doc = {"version": "t", "suite": "t", "layout": layout, "value_column": "shared", "rules": [rule]} | top
    p.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return p


_S = {"settings": "metrics/satisfaction/data/settings.yaml"}


@pytest.mark.parametrize("rule, layout, top, words", [
    ({"id": "x", "kind": "in_scale", "table": "op", "fields": ["respondent_id"], "code": "survey-answer-out-of-scale",
      "severity": "error"}, "survey", {}, ["respondent_id", "no min/max"]),
    ({"id": "x", "kind": "in_scale", "table": "op", "code": "survey-answer-out-of-scale", "severity": "error"},
     "survey", {}, ["exactly one of fields / select"]),
    ({"id": "x", "kind": "in_scale", "table": "review", "fields": ["amount"], "code": "survey-answer-out-of-scale",
      "severity": "error"}, "rx_review", {}, ["amount", "no min/max"]),
    ({"id": "x", "kind": "text_in_set", "table": "op", "fields": ["q01"], "values": ["现场"],
      "code": "survey-mode-unknown", "severity": "warning"}, "survey", {}, ["rules[0].fields", "kind count", "text"]),
    ({"id": "x", "kind": "text_in_set", "table": "op", "fields": ["mode"], "values": [],
      "code": "survey-mode-unknown", "severity": "warning"}, "survey", {}, ["rules[0].values"]),
    ({"id": "x", "kind": "text_in_set", "table": "op", "fields": ["mode"], "values": {"setting": "modes"},
      "code": "survey-mode-unknown", "severity": "warning"}, "survey", {}, ["rules[0].values", "settings:"]),
    ({"id": "x", "kind": "text_in_set", "table": "op", "fields": ["mode"], "values": {"setting": "channels"},
      "code": "survey-mode-unknown", "severity": "warning"}, "survey", _S, ["rules[0].values", "channels"]),
    ({"id": "x", "kind": "text_in_set", "table": "op", "fields": ["mode"], "values": {"setting": "max_blank_share"},
      "code": "survey-mode-unknown", "severity": "warning"}, "survey", _S, ["rules[0].values", "list of texts"]),
    ({"id": "x", "kind": "incomplete_row", "table": "op", "select": {"kind": "count"}, "anchor": "respondent_id",
      "max_share": 1.5, "code": "survey-incomplete", "severity": "warning"}, "survey", {}, ["rules[0].max_share"]),
    ({"id": "x", "kind": "incomplete_row", "table": "op", "select": {"kind": "count"}, "anchor": "q01",
      "max_share": 0.2, "code": "survey-incomplete", "severity": "warning"}, "survey", {}, ["rules[0].anchor", "q01"]),
    ({"id": "x", "kind": "incomplete_row", "table": "op", "select": {"kind": "count"}, "max_share": 0.2,
      "code": "survey-incomplete", "severity": "warning"}, "survey", {}, ["rules[0].anchor"]),
    ({"id": "x", "kind": "straight_lining", "table": "op", "select": {"kind": "count"}, "anchor": "respondent_id",
      "min_items": 1, "code": "survey-straight-lining", "severity": "warning"}, "survey", {}, ["rules[0].min_items"]),
    ({"id": "x", "kind": "straight_lining", "table": "op", "select": {"kind": "count"}, "anchor": "respondent_id",
      "min_items": 5, "exclude": "yes", "code": "survey-straight-lining", "severity": "warning"}, "survey", {},
     ["rules[0].exclude"]),
    ({"id": "x", "kind": "straight_lining", "table": "op", "select": {"kind": "count"}, "anchor": "respondent_id",
      "min_items": {"settings": "straight_line.min_items"}, "code": "survey-straight-lining", "severity": "warning"},
     "survey", _S, ["rules[0].min_items", "settings"]),
    ({"id": "x", "kind": "both_or_neither", "left": "sat_plat_op_score", "right": "sat_plat_op_score",
      "code": "platform-pair-incomplete", "severity": "error"}, "sat_platform", {}, ["rules[0].right"]),
    ({"id": "x", "kind": "both_or_neither", "left": "sat_plat_op_score", "right": "sat_plat_op_count",
      "code": "platform-pair-incomplete", "severity": "error"}, "sat_platform", {}, ["rules[0].right",
                                                                                     "sat_plat_op_count"]),
    ({"id": "x", "kind": "both_or_neither", "table": "op", "left": "sat_plat_op_score", "right": "sat_plat_op_n",
      "code": "platform-pair-incomplete", "severity": "error"}, "sat_platform", {}, ["not allowed", "table"]),
])
def test_new_kinds_are_loaded_strictly(tmp_path, rule, layout, top, words):
    p = _write(tmp_path, rule, layout, **top)
    with pytest.raises(CatalogError) as e:
        load_rules(p)
    assert str(p) in str(e.value)
    for w in words:
        assert w in str(e.value)


def test_a_missing_settings_file_is_named(tmp_path):
    p = _write(tmp_path, {"id": "x", "kind": "facility_known", "code": "facility-unknown", "severity": "error"},
               settings="metrics/satisfaction/data/nope.yaml")
    with pytest.raises(CatalogError) as e:
        load_suite(p)
    assert "settings" in str(e.value) and "nope.yaml" in str(e.value)


@pytest.mark.parametrize("name", list(NEW))
def test_generated_sql_runs_on_an_empty_warehouse(tmp_path, name):
    from expectations.validate import build_frame

    con = connect(tmp_path / "w.duckdb")
    suite = _suite(name)
    frame = build_frame(con, suite=suite)
    tail = [SHARED_COLUMN] if suite.shared else [r.column for r in suite.rules()]
    assert list(frame.columns) == INDEX_COLUMNS + CONTEXT_COLUMNS + tail
    assert len(frame) == 0
    run_sql(con, "val_drop")
    con.close()


@pytest.mark.parametrize("name", ["survey", "sat_platform"])
def test_shared_suites_pick_their_rule_rows(name):
    import great_expectations as gx

    suite = _suite(name)
    doc = suite_dict(suite=suite)
    for e in doc["expectations"]:
        meta, kw = e["meta"], e["kwargs"]
        assert meta["code"] in registry() and meta["severity"] in ("error", "warning", "info")
        assert kw["column"] == ("value_text" if meta["kind"] == "text_in_set" else SHARED_COLUMN)
        assert kw["row_condition"] == {"type": "comparison", "column": {"name": "rule_id"}, "operator": "==",
                                       "parameter": meta["rule_id"]}
    assert {e["meta"]["rule_id"] for e in doc["expectations"]} == {r.id for r in suite.rules()}
    loaded = gx.ExpectationSuite(name=doc["name"], expectations=doc["expectations"])
    assert len(loaded.expectations) == len(doc["expectations"])
    assert json.loads(suite.path().read_text(encoding="utf-8")) == doc


def test_new_codes_are_registered():
    reg = registry()
    for code in NEW_CODES:
        spec = reg[code]
        assert spec["stage"] == "validate" and spec["message_zh"] and spec["fix_zh"]
        assert "{cell}" in spec["fix_zh"]
    assert "不计入满意度得分" in reg["survey-incomplete"]["message_zh"]
    assert {reg[c]["severity"] for c in ("survey-incomplete", "survey-straight-lining", "survey-duplicate-id",
                                         "survey-mode-unknown")} == {"warning"}
    assert reg["platform-pair-incomplete"]["severity"] == "error"
