"""The rule vocabulary (issue 5 §1): compare rules — left side, operator, right side over field expressions,
tolerance, missing-value strategy, severity, Chinese message/fix — compiled to a GX suite and run against a real
DuckDB warehouse with real GX; blank versus true zero declared per field (blank: missing | zero | refused)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

import expectations.compile as compile_mod
from expectations import compare as cmp
from expectations.compile import load_rules, load_suite, suite_dict, suite_json
from metrics.catalog import CATALOG_DIR, CatalogError, FieldDef, load_fields
from warehouse.db import connect, run_sql

REPO = Path(__file__).resolve().parents[1]
LAYOUT_FILE = REPO / "templates_xlsx" / "layouts" / "op_monthly.yaml"
_LAYOUT = yaml.safe_load(LAYOUT_FILE.read_text(encoding="utf-8"))
SHEET = _LAYOUT["versions"][0]["sheet"]
CELL = {f["field"]: f["cell"] for f in _LAYOUT["versions"][0]["fields"]}
PERIOD = "2026-09"

# a plausible return; each case below changes only the cells its rule reads
BASE = {"oe_visits": 50000, "discharges": 2000, "discharge_bed_days": 18000, "occupied_bed_days": 19000,
        "open_beds": 600, "health_tech_staff": 900, "med_revenue": 5000.0, "op_revenue": 1800.0,
        "op_drug_revenue": 700.0, "ip_revenue": 3200.0, "ip_drug_revenue": 900.0, "drug_revenue": 1600.0,
        "herbal_revenue": 100.0, "consumables_revenue": 800.0, "exam_lab_revenue": 900.0,
        "svc_registration": 10.0, "svc_bed": 50.0, "svc_consultation": 40.0, "svc_treatment": 300.0,
        "svc_surgery": 200.0, "svc_pharmacy": 0.0, "svc_nursing": 60.0, "op_visits_essential": 30000,
        "op_rx_total": 40000, "op_rx_essential": 25000, "vbp_volume": 80000, "vbp_generic_volume": 100000,
        "discharges_surgery": 700, "discharges_grade3": 300, "discharges_grade4": 100, "discharges_mis": 150}
assert set(BASE) == set(CELL)

L, R = "open_beds", "health_tech_staff"


def _rule(rid: str, left: str, op: str, right, severity: str = "warning", **kw) -> dict:
    code = {"compulsory_pair": "compulsory-pair-incomplete", "exclusive_pair": "exclusive-pair-both-filled"}.get(
        op, "compare-failed")
    return {"id": rid, "kind": "compare", "left": left, "op": op, "right": right, "code": code,
            "severity": severity, **kw}


RULES = [
    *[_rule(name, L, op, R) for name, op in (("eq", "="), ("ne", "!="), ("lt", "<"), ("le", "<="), ("gt", ">"),
                                              ("ge", ">="))],
    _rule("ge_alias", L, "≥", R),
    _rule("cpair", L, "compulsory_pair", R),
    _rule("xpair", L, "exclusive_pair", R),
    *[_rule(f"eq_{m}", L, "=", R, missing=m) for m in cmp.MISSING],
    *[_rule(f"gt_{m}", L, ">", R, missing=m) for m in cmp.MISSING],
    _rule("abs_eq", "op_revenue", "=", "ip_revenue", tolerance={"abs": 0.01}),
    _rule("abs_le", "op_revenue", "<=", "ip_revenue", tolerance={"abs": 0.01}),
    _rule("abs_lt", "op_revenue", "<", "ip_revenue", tolerance={"abs": 0.01}),
    _rule("abs_ne", "op_revenue", "!=", "ip_revenue", tolerance={"abs": 0.01}),
    _rule("rel_eq", "op_revenue", "=", "ip_revenue", tolerance={"rel": 0.05}),
    _rule("both_eq", "op_revenue", "=", "ip_revenue", tolerance={"abs": 1, "rel": 0.01}),
    _rule("rel_le", "occupied_bed_days", "<=", "open_beds * 31", tolerance={"rel": 0.5}),
    _rule("prec", L, "=", "health_tech_staff * 2 + 1"),
    _rule("paren", L, "=", "health_tech_staff * (2 + 1)"),
    _rule("div", "occupied_bed_days / open_beds", "<=", 40),
    _rule("grades", "discharges_surgery", ">=", "discharges_grade3 + discharges_grade4", severity="error"),
    _rule("custom", L, "<=", R, message="{field_zh}（{cell}）{value} 超过 {expected}",
          fix="请在 {cell} 核对床位数：{detail}"),
    {"id": "required", "kind": "required", "select": {"required": True, "blank": ["missing", "zero"]},
     "code": "required-missing", "severity": "error"},
    {"id": "refused", "kind": "blank_refused", "code": "blank-refused", "severity": "error"},
]

# case → (rule id, values, statuses, expected {(field, code)} of that rule on that return)
CF, CP, XP = "compare-failed", "compulsory-pair-incomplete", "exclusive-pair-both-filled"
CASES: dict[str, tuple[str, dict, dict, set]] = {
    # each operator passes and fails
    "eq-pass": ("eq", {L: 600, R: 600}, {}, set()),
    "eq-fail": ("eq", {L: 600, R: 601}, {}, {(L, CF)}),
    "ne-pass": ("ne", {L: 600, R: 601}, {}, set()),
    "ne-fail": ("ne", {L: 600, R: 600}, {}, {(L, CF)}),
    "lt-pass": ("lt", {L: 599, R: 600}, {}, set()),
    "lt-fail": ("lt", {L: 600, R: 600}, {}, {(L, CF)}),
    "le-pass": ("le", {L: 600, R: 600}, {}, set()),
    "le-fail": ("le", {L: 601, R: 600}, {}, {(L, CF)}),
    "gt-pass": ("gt", {L: 601, R: 600}, {}, set()),
    "gt-fail": ("gt", {L: 600, R: 600}, {}, {(L, CF)}),
    "ge-pass": ("ge", {L: 600, R: 600}, {}, set()),
    "ge-fail": ("ge", {L: 599, R: 600}, {}, {(L, CF)}),
    "ge-alias-fail": ("ge_alias", {L: 599, R: 600}, {}, {(L, CF)}),
    # compulsory pair: both or neither; a blank read as 0 (blank_zero) is blank
    "cpair-both": ("cpair", {}, {}, set()),
    "cpair-neither": ("cpair", {}, {L: "blank", R: "blank"}, set()),
    "cpair-left-blank": ("cpair", {}, {L: "blank"}, {(L, CP)}),
    "cpair-right-blank": ("cpair", {}, {R: "blank"}, {(L, CP)}),
    "cpair-right-blank-zero": ("cpair", {}, {R: "blank_zero"}, {(L, CP)}),
    # exclusive pair: at most one side filled
    "xpair-both": ("xpair", {}, {}, {(L, XP)}),
    "xpair-left-only": ("xpair", {}, {R: "blank"}, set()),
    "xpair-right-only": ("xpair", {}, {L: "blank"}, set()),
    "xpair-neither": ("xpair", {}, {L: "blank", R: "blank"}, set()),
    "xpair-blank-zero": ("xpair", {}, {R: "blank_zero"}, set()),
    # missing strategies: L = R holds at 600 = 600, so a blank counted as 0 breaks it; L > R shows 0 vs 0
    **{f"eq_{m}-{side}": (f"eq_{m}", {L: 600, R: 600}, st,
                          set() if m == "skip_if_any" or (m == "skip_if_all" and side == "both")
                          or (m == "never" and side == "both") else {(L, CF)})
       for m in cmp.MISSING
       for side, st in (("left", {L: "blank"}), ("right", {R: "blank"}), ("both", {L: "blank", R: "blank"}))},
    **{f"gt_{m}-both": (f"gt_{m}", {}, {L: "blank", R: "blank"}, {(L, CF)} if m == "never" else set())
       for m in cmp.MISSING},
    # an unreadable operand (the parser's finding stands) skips the rule even under `never`
    "never-error-cell": ("eq_never", {L: 600, R: 5}, {R: "error"}, set()),
    # tolerance at the boundary: exactly at passes (= ≤), just over fails; < and ≠ are strict
    "abs-eq-at": ("abs_eq", {"op_revenue": 100.01, "ip_revenue": 100.0}, {}, set()),
    "abs-eq-below-at": ("abs_eq", {"op_revenue": 99.99, "ip_revenue": 100.0}, {}, set()),
    "abs-eq-over": ("abs_eq", {"op_revenue": 100.02, "ip_revenue": 100.0}, {}, {("op_revenue", CF)}),
    "abs-le-at": ("abs_le", {"op_revenue": 100.01, "ip_revenue": 100.0}, {}, set()),
    "abs-le-over": ("abs_le", {"op_revenue": 100.02, "ip_revenue": 100.0}, {}, {("op_revenue", CF)}),
    "abs-lt-at": ("abs_lt", {"op_revenue": 100.01, "ip_revenue": 100.0}, {}, {("op_revenue", CF)}),
    "abs-lt-inside": ("abs_lt", {"op_revenue": 100.005, "ip_revenue": 100.0}, {}, set()),
    "abs-ne-at": ("abs_ne", {"op_revenue": 100.01, "ip_revenue": 100.0}, {}, {("op_revenue", CF)}),
    "abs-ne-beyond": ("abs_ne", {"op_revenue": 100.02, "ip_revenue": 100.0}, {}, set()),
    "rel-eq-at-above": ("rel_eq", {"op_revenue": 105.0, "ip_revenue": 100.0}, {}, set()),
    "rel-eq-at-below": ("rel_eq", {"op_revenue": 95.0, "ip_revenue": 100.0}, {}, set()),
    "rel-eq-over": ("rel_eq", {"op_revenue": 105.01, "ip_revenue": 100.0}, {}, {("op_revenue", CF)}),
    "rel-eq-under": ("rel_eq", {"op_revenue": 94.99, "ip_revenue": 100.0}, {}, {("op_revenue", CF)}),
    "both-eq-at": ("both_eq", {"op_revenue": 1011.0, "ip_revenue": 1000.0}, {}, set()),   # 1 + 1 % × 1000
    "both-eq-over": ("both_eq", {"op_revenue": 1011.01, "ip_revenue": 1000.0}, {}, {("op_revenue", CF)}),
    "rel-le-at": ("rel_le", {"occupied_bed_days": 27900, L: 600}, {}, set()),   # 18600 + 50 %
    "rel-le-over": ("rel_le", {"occupied_bed_days": 27901, L: 600}, {}, {("occupied_bed_days", CF)}),
    # expressions: × before +, parentheses, a zero divisor leaves the side undefined (skipped)
    "prec-pass": ("prec", {L: 1201, R: 600}, {}, set()),
    "prec-fail": ("prec", {L: 1800, R: 600}, {}, {(L, CF)}),
    "paren-pass": ("paren", {L: 1800, R: 600}, {}, set()),
    "div-pass": ("div", {"occupied_bed_days": 24000, L: 600}, {}, set()),
    "div-fail": ("div", {"occupied_bed_days": 24001, L: 600}, {}, {("occupied_bed_days", CF)}),
    "div-by-zero": ("div", {"occupied_bed_days": 24001, L: 0}, {}, set()),
    # an error: the left cell plus a companion finding on every other field it reads
    "grades-pass": ("grades", {"discharges_grade3": 600}, {"discharges_grade4": "blank_zero"}, set()),
    "grades-fail": ("grades", {"discharges_grade3": 400, "discharges_grade4": 400}, {},
                    {("discharges_surgery", CF), ("discharges_grade3", CF), ("discharges_grade4", CF)}),
    "custom-fail": ("custom", {L: 601, R: 600}, {}, {(L, CF)}),
    # blank versus zero: a refused field's blank is blank-refused (not required-missing); 0 is fine
    "refused-blank": ("refused", {}, {"open_beds": "blank"}, {("open_beds", "blank-refused")}),
    "refused-zero": ("refused", {"open_beds": 0}, {}, set()),
    "refused-not-required-missing": ("required", {}, {"open_beds": "blank"}, set()),
    "required-still-works": ("required", {}, {"oe_visits": "blank"}, {("oe_visits", "required-missing")}),
}


def _setup(root: Path) -> Path:
    """A layout copy whose catalog declares open_beds `blank: refused`, and a rules file of RULES over it."""
    doc = yaml.safe_load((CATALOG_DIR / "fields.yaml").read_text(encoding="utf-8"))
    for f in doc["fields"]:
        if f["code"] == "open_beds":
            f["blank"] = "refused"
    catalog = root / "fields_refused.yaml"
    catalog.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    layouts = root / "layouts"
    layouts.mkdir()
    lay = yaml.safe_load(LAYOUT_FILE.read_text(encoding="utf-8"))
    lay["field_catalog"] = str(catalog)   # an absolute path: CATALOG_DIR / it is the path itself
    (layouts / "vocab.yaml").write_text(yaml.safe_dump(lay, allow_unicode=True), encoding="utf-8")
    rules = root / "rules_vocab.yaml"
    rules.write_text(yaml.safe_dump({"version": "t", "suite": "vocab", "layout": "vocab", "rules": RULES},
                                    allow_unicode=True), encoding="utf-8")
    return rules


def _add_return(con, sid: str, fid: str, values: dict, statuses: dict) -> None:
    con.execute("INSERT INTO facilities (facility_id, valid_from, valid_to, name, tier, ftype) "
                "VALUES (?, '2020-01-01', NULL, ?, '三级', '综合')", [fid, f"医院{fid}"])
    con.execute(
        "INSERT INTO submissions (submission_id, sha256, original_name, inbox_period, facility_id, period,"
        " template_id, template_version, received_at, received_source, status, header_name, header_code,"
        " header_period) VALUES (?, ?, ?, ?, ?, ?, 'JX-YB01', '2026.1', ?, 'manifest', 'received', ?, ?, ?)",
        [sid, (sid * 64)[:64], f"{sid}.xlsx", PERIOD, fid, PERIOD, dt.datetime(2026, 10, 5, 9, 30), f"医院{fid}",
         fid, PERIOD])
    vals = BASE | values
    rows = []
    for field, cell in CELL.items():
        st = statuses.get(field, "ok")
        v = None if st in ("blank", "error") else (0.0 if st == "blank_zero" else float(vals[field]))
        rows.append((sid, field, v, None if st in ("blank", "blank_zero") else str(vals[field]), SHEET, cell, st))
    con.executemany("INSERT INTO return_values VALUES (?, ?, ?, ?, ?, ?, ?)", rows)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Compile RULES to a GX suite and validate one return per case with expectations.validate.validate()."""
    from expectations import validate as validate_mod

    root = tmp_path_factory.mktemp("vocab")
    rules_file = _setup(root)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(compile_mod, "LAYOUTS_DIR", root / "layouts")
        mp.setattr(compile_mod, "SUITES_DIR", root / "suites")
        suite = load_suite(rules_file)
        (root / "suites").mkdir()
        suite.path().write_text(suite_json(suite=suite), encoding="utf-8")
        mp.setattr(validate_mod, "load_suites", lambda: [suite])
        con = connect(root / "warehouse.duckdb")
        for i, (case, (_, values, statuses, _)) in enumerate(CASES.items()):
            _add_return(con, case, f"F{i:03d}", values, statuses)
        res = validate_mod.validate(con, root / "gx", None, period=PERIOD)
    yield con, suite, res
    con.close()


def _found(res, case: str, rule_id: str) -> set[tuple[str, str, str]]:
    return {(f.sheet, f.cell, f.code) for f in res.findings if f.submission_id == case and f.rule_id == rule_id}


@pytest.mark.parametrize("case", list(CASES))
def test_rule_fails_and_passes(run, case):
    _, _, res = run
    rule_id, _, _, expected = CASES[case]
    assert _found(res, case, rule_id) == {(SHEET, CELL[f], code) for f, code in expected}


def _one(res, case: str, field: str | None = None):
    rule_id = CASES[case][0]
    (f,) = [f for f in res.findings if f.submission_id == case and f.rule_id == rule_id
            and (field is None or f.field == field)]
    return f


def test_message_shows_both_sides_the_operator_and_the_tolerance(run):
    _, _, res = run
    f = _one(res, "ge-fail")
    assert (f.value, f.expected, f.severity, f.stage, f.field) == ("599", "600", "warning", "validate", L)
    assert f.message_zh == "数据校验未通过：「实际开放床位数（期末）」599，应不小于（≥）「卫生技术人员数（期末）」600。"
    assert f.fix_zh == "请核对「实际开放床位数（期末）」（E10）及该校验涉及的其他数据项，按实际数据改正后重新报送。"
    f = _one(res, "rel-le-over")
    assert f.message_zh == ("数据校验未通过：「实际占用总床日数」27901，应不大于（≤）「实际开放床位数（期末） × 31」18600"
                            "（允许误差 ±右侧的 50%，即 ±9300 床日）。")
    f = _one(res, "both-eq-over")
    assert f.message_zh == ("数据校验未通过：「门急诊收入」1011.01，应等于（=）「住院收入」1000"
                            "（允许误差 ±1 万元 + 右侧的 1%，即 ±11 万元）。")
    f = _one(res, "div-fail")
    assert f.message_zh == "数据校验未通过：「实际占用总床日数 ÷ 实际开放床位数（期末）」40.0017，应不大于（≤）40。"


def test_blank_counted_as_zero_is_named(run):
    _, _, res = run
    f = _one(res, "eq_never-left")
    assert f.message_zh == ("数据校验未通过：「实际开放床位数（期末）」0，应等于（=）「卫生技术人员数（期末）」600"
                            "；未填写的「实际开放床位数（期末）」按 0 计。")
    assert _one(res, "eq_skip_if_all-right").message_zh.endswith("；未填写的「卫生技术人员数（期末）」按 0 计。")


def test_pair_messages(run):
    _, _, res = run
    assert _one(res, "cpair-left-blank").message_zh == (
        "已填写「卫生技术人员数（期末）」900，但「实际开放床位数（期末）」未填写；两项应同时填写或同时留空。")
    assert _one(res, "cpair-right-blank").message_zh == (
        "已填写「实际开放床位数（期末）」600，但「卫生技术人员数（期末）」未填写；两项应同时填写或同时留空。")
    x = _one(res, "xpair-both")
    assert x.message_zh == "「实际开放床位数（期末）」600与「卫生技术人员数（期末）」900都已填写；两项最多只能填写一项。"
    assert x.fix_zh == "请核对「实际开放床位数（期末）」（E10）：两项只应填写其中一项，另一项留空。"


def test_message_and_fix_override(run):
    _, _, res = run
    f = _one(res, "custom-fail")
    assert f.message_zh == "实际开放床位数（期末）（E10）601 超过 600"
    assert f.fix_zh == "请在 E10 核对床位数：「实际开放床位数（期末）」601，应不大于（≤）「卫生技术人员数（期末）」600"


def test_an_error_blocks_the_fields_of_both_sides(run):
    """Companion findings put the error on every field the rule reads, so agg_blocked_fields blocks them all."""
    con, _, res = run
    companion = _one(res, "grades-fail", "discharges_grade4")
    assert (companion.value, companion.expected, companion.severity) == ("400", None, "error")
    assert companion.message_zh == _one(res, "grades-fail", "discharges_surgery").message_zh == (
        "数据校验未通过：「出院患者手术人数」700，应不小于（≥）「其中：三级手术人数 + 其中：四级手术人数」800。")
    fid = f"F{list(CASES).index('grades-fail'):03d}"
    blocked = {f for fac, f in run_sql(con, "agg_blocked_fields", months=[PERIOD]) if fac == fid}
    assert blocked == {"discharges_surgery", "discharges_grade3", "discharges_grade4"}
    # a warning flags the left cell only and blocks nothing
    fid = f"F{list(CASES).index('ge-fail'):03d}"
    assert {f for fac, f in run_sql(con, "agg_blocked_fields", months=[PERIOD]) if fac == fid} == set()


def test_refused_blank_finding(run):
    _, _, res = run
    f = _one(res, "refused-blank")
    assert (f.message_zh, f.fix_zh) == ("「实际开放床位数（期末）」未填写；本项不能留空。",
                                        "请在 E10 填写本月数值；无发生数请填 0 而不是留空。")


def test_suite_expectations(run):
    _, suite, _ = run
    by_rule = {e["meta"]["rule_id"]: e for e in suite_dict(suite=suite)["expectations"]}
    e = by_rule["grades"]
    assert (e["type"], e["kwargs"], e["meta"]["code"], e["severity"]) == (
        "expect_column_values_to_be_between", {"column": "r_grades", "max_value": 0}, "compare-failed", "critical")
    assert by_rule["refused"]["kwargs"] == {"column": "r_refused", "value_set": [1]}
    (refused,) = [r for r in suite.rules() if r.kind == "blank_refused"]
    assert refused.fields == ("open_beds",)


# --- the operations rules and their committed suite ------------------------------------------------------

def test_operations_rules_in_the_new_vocabulary():
    rules = {r.id: r for r in load_rules() if r.kind == "compare"}
    got = {rid: (r.op, r.left, r.fields, r.severity, r.missing, r.tol_rel) for rid, r in rules.items()}
    assert got == {
        "bed_days_ge_discharges": (">=", "discharge_bed_days", ("discharge_bed_days", "discharges"), "error",
                                   "skip_if_any", 0),
        "surgery_ge_grades": (">=", "discharges_surgery",
                              ("discharges_surgery", "discharges_grade3", "discharges_grade4"), "error",
                              "skip_if_any", 0),
        "rx_le_visits": ("<=", "op_rx_total", ("op_rx_total", "oe_visits"), "warning", "skip_if_any", 0),
        "occupied_bed_days_le_capacity": ("<=", "occupied_bed_days", ("occupied_bed_days", "open_beds"), "warning",
                                          "skip_if_any", 0.5),
    }
    (refused,) = [r for r in load_rules() if r.kind == "blank_refused"]
    assert refused.fields == ()   # no operations item declares blank: refused (yet)
    ops = {e["meta"]["rule_id"] for e in suite_dict()["expectations"] if e["meta"]["kind"] == "compare"}
    assert ops == set(rules)


# --- expressions -------------------------------------------------------------------------------------------

KNOWN = {"a", "b", "c"}.__contains__


@pytest.mark.parametrize("text, tree", [
    ("a + b * 2", ("bin", "+", ("field", "a"), ("bin", "*", ("field", "b"), ("num", 2.0)))),
    ("(a + b) * 2", ("bin", "*", ("bin", "+", ("field", "a"), ("field", "b")), ("num", 2.0))),
    ("a - b - c", ("bin", "-", ("bin", "-", ("field", "a"), ("field", "b")), ("field", "c"))),
    ("a ÷ b × 100", ("bin", "*", ("bin", "/", ("field", "a"), ("field", "b")), ("num", 100.0))),
    ("-a + 1.5", ("bin", "+", ("neg", ("field", "a")), ("num", 1.5))),
    ("a − (b + c)", ("bin", "-", ("field", "a"), ("bin", "+", ("field", "b"), ("field", "c")))),
])
def test_expression_parsing_precedence_and_parentheses(text, tree):
    assert cmp.parse_expression(text, KNOWN, "w") == tree


def test_expression_value_text_and_sql():
    e = cmp.parse_expression("a - (b + c) / 2", KNOWN, "w")
    assert cmp.evaluate(e, {"a": 10, "b": 4, "c": 2}) == 7
    assert cmp.evaluate(cmp.parse_expression("a / (b - c)", KNOWN, "w"), {"a": 1, "b": 2, "c": 2}) is None
    assert cmp.to_text(e, str.upper) == "A − (B + C) ÷ 2"
    assert cmp.to_text(cmp.parse_expression("(a * b) + c", KNOWN, "w"), str.upper) == "A × B + C"
    assert cmp.to_text(cmp.parse_expression("a - (b - c)", KNOWN, "w"), str.upper) == "A − (B − C)"
    assert cmp.to_sql(e, lambda f: f"v_{f}") == "(v_a - ((v_b + v_c) / NULLIF(CAST(2.0 AS DOUBLE), 0)))"
    assert cmp.parse_expression(3, KNOWN, "w") == ("num", 3.0)
    assert cmp.fields_of(cmp.parse_expression("c * a + c", KNOWN, "w")) == ["c", "a"]


@pytest.mark.parametrize("text, words", [
    ("a + zz", ["unknown field 'zz'"]),
    ("a +", ["expected a number, a field or '('", "the end"]),
    ("(a + b", ["expected ')'"]),
    ("a b", ["unexpected 'b'", "position 3"]),
    ("a ^ b", ["cannot read", "position 3"]),
    ("a; DROP TABLE findings", ["cannot read"]),
    ("", ["empty expression"]),
])
def test_expression_errors(text, words):
    with pytest.raises(CatalogError) as e:
        cmp.parse_expression(text, KNOWN, "rules.yaml: rules[0].right")
    assert str(e.value).startswith("rules.yaml: rules[0].right: ")
    for w in words:
        assert w in str(e.value)


def _write_rules(tmp_path: Path, rule: dict) -> Path:
    p = tmp_path / "rules.yaml"
    p.write_text(yaml.safe_dump({"version": "t", "suite": "t", "rules": [rule]}, allow_unicode=True),
                 encoding="utf-8")
    return p


@pytest.mark.parametrize("rule, words", [
    (_rule("x", L, ">=", "health_tech_staff + no_such_field"), ["rules[0].right", "unknown field 'no_such_field'"]),
    (_rule("x", "oe_visitz", ">=", R), ["rules[0].left", "unknown field 'oe_visitz'"]),
    (_rule("x", L, "=>", R), ["rules[0].op", "'=>'"]),
    (_rule("x", "2 * 3", ">=", R), ["rules[0].left", "must name a field"]),
    (_rule("x", L, "compulsory_pair", 0), ["rules[0].right", "a field on each side"]),
    (_rule("x", L, "exclusive_pair", R, tolerance={"abs": 1}), ["rules[0].tolerance", "not used by exclusive_pair"]),
    (_rule("x", L, "compulsory_pair", R, missing="never"), ["rules[0].missing"]),
    (_rule("x", L, "<=", R, missing="sometimes"), ["rules[0].missing", "sometimes"]),
    (_rule("x", L, "<=", R, tolerance={"rel": -0.1}), ["rules[0].tolerance.rel"]),
    (_rule("x", L, "<=", R, fix=3), ["rules[0].fix", "must be text"]),
    ({"id": "x", "kind": "compare", "left": L, "op": "<=", "code": "compare-failed", "severity": "error"},
     ["compare needs right"]),
    ({"id": "x", "kind": "sum_equals", "left": "drug_revenue", "right": ["op_drug_revenue"], "fix": "改",
      "code": "sum-mismatch", "severity": "error"}, ["not allowed for kind sum_equals", "fix"]),
    ({"id": "x", "kind": "blank_refused", "fields": [L], "code": "blank-refused", "severity": "error"},
     ["not allowed for kind blank_refused"]),
])
def test_loader_is_strict(tmp_path, rule, words):
    p = _write_rules(tmp_path, rule)
    with pytest.raises(CatalogError) as e:
        load_rules(p)
    assert str(p) in str(e.value)
    for w in words:
        assert w in str(e.value)


# --- blank versus true zero in the field catalog -------------------------------------------------------------

def _catalog(tmp_path: Path, **change) -> Path:
    f = {"code": "x_items", "label_zh": "某项", "unit": "人次", "aggregation": "sum", "kind": "count",
         "required": True, "blank": "missing", "group": "服务量"} | change
    p = tmp_path / "fields_t.yaml"
    p.write_text(yaml.safe_dump({"version": "t", "fields": [f]}, allow_unicode=True), encoding="utf-8")
    return p


@pytest.mark.parametrize("change, words", [
    ({"blank": "empty"}, ["fields[0].blank", "'empty'", "refused"]),
    ({"blank": "refused", "required": False}, ["fields[0].blank", "required: true"]),
    ({"blank": "zero", "kind": "ratio"}, ["fields[0].blank", "count and amount"]),
])
def test_catalog_blank_declaration_is_checked(tmp_path, change, words):
    p = _catalog(tmp_path, **change)
    with pytest.raises(CatalogError) as e:
        load_fields(p)
    assert str(p) in str(e.value)
    for w in words:
        assert w in str(e.value)


def test_catalog_blank_declarations_load(tmp_path):
    for blank in ("missing", "zero", "refused"):
        d = tmp_path / blank
        d.mkdir()
        (f,) = load_fields(_catalog(d, blank=blank))
        assert f.blank == blank
    # the current items keep their declarations: blank means zero for the optional revenue items and the
    # surgery grades, not reported for everything else; none is refused yet
    blanks = {f.code: f.blank for f in load_fields()}
    assert {c for c, b in blanks.items() if b == "zero"} == {
        "herbal_revenue", "svc_registration", "svc_bed", "svc_consultation", "svc_treatment", "svc_surgery",
        "svc_pharmacy", "svc_nursing", "discharges_grade3", "discharges_grade4", "discharges_mis"}
    assert "refused" not in blanks.values()


def test_parser_reads_a_blank_by_the_declaration():
    from templates_xlsx.read import parse_number

    fd = FieldDef("x", "某项", "人次", "sum", "count", True, "missing", "g")
    assert parse_number(None, fd) == (None, None, "blank")
    assert parse_number(None, FieldDef("x", "某项", "人次", "sum", "count", True, "zero", "g")) == (0.0, None,
                                                                                               "blank_zero")
    refused = FieldDef("x", "某项", "人次", "sum", "count", True, "refused", "g")
    assert parse_number("  ", refused) == (None, None, "blank")   # stays blank: the rule reports it
    assert parse_number(0, refused) == (0.0, None, "ok")

