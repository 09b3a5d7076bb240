"""GX validation of the satisfaction, grassroots and county returns (JX-MY01 满意度调查明细, JX-MY02 满意度平台数据,
JX-JC01 基层医疗卫生机构月报, JX-XY01 县域医疗服务与医保月报): real filled workbooks (fill_bytes) go through the
loader into a DuckDB warehouse with a small imported registry and are validated once with real GX; every rule
fails and passes, asserted as exact (sheet, cell, code) sets per return named after its quirk."""
from __future__ import annotations

import dataclasses
import datetime as dt
import time
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import yaml

from templates_xlsx.build import template_path
from templates_xlsx.fill import fill_bytes
from templates_xlsx.read import read_return
from warehouse import load
from warehouse.db import connect
from warehouse.registry import import_registry

REPO = Path(__file__).resolve().parents[1]
PERIOD = "2026-09"
D = dt.date


def _layout(name: str) -> dict:
    doc = yaml.safe_load((REPO / "templates_xlsx" / "layouts" / f"{name}.yaml").read_text(encoding="utf-8"))
    return doc["versions"][0]


SV, PL, JC, XY = (_layout(n) for n in ("survey", "sat_platform", "grassroots", "county"))


def _fixed(lv: dict) -> dict[str, str]:
    return {f["field"]: f["cell"] for f in lv["fields"]} | {k: v["cell"] for k, v in lv["header"].items()}


FIXED = {"survey": _fixed(SV), "platform": _fixed(PL), "grassroots": _fixed(JC), "county": _fixed(XY)}
SHEET = {"survey": SV["sheet"], "platform": PL["sheet"], "grassroots": JC["sheet"], "county": XY["sheet"]}
TABLES = {t["name"]: t for t in SV["tables"]}
LETTER = {n: {c["field"]: letter for letter, c in t["columns"].items()} for n, t in TABLES.items()}
ITEMS = {n: [c["field"] for c in t["columns"].values() if c["kind"] == "count"] for n, t in TABLES.items()}
LIKERT = {n: [c["field"] for c in t["columns"].values() if c["kind"] == "count" and c["max"] == 5]
          for n, t in TABLES.items()}


def cell(tbl: str, field: str, i: int) -> str:
    """The cell of the i-th (0-based) data row's column of a survey table."""
    return f"{LETTER[tbl][field]}{TABLES[tbl]['first_data_row'] + i}"


def S(tbl: str, field: str, i: int, code: str) -> tuple[str, str, str]:
    """A finding on a survey table cell."""
    return (TABLES[tbl]["sheet"], cell(tbl, field, i), code)


def F(template: str, field: str, code: str) -> tuple[str, str, str]:
    """A finding on a fixed cell (or header cell) of a return."""
    return (SHEET[template], FIXED[template][field], code)


# --- the registry: two hospitals, a township health centre and a county health bureau (级别 区县) ---

FAC_HEADER = ["机构编码", "机构名称", "级别", "等次", "类别", "所属区县", "生效日期", "失效日期"]
FACILITIES = [
    ("F001", "市第一人民医院", "三级", "甲", "综合"),
    ("F002", "市中医院", "三级", "甲", "中医"),
    ("JC01", "青山县石桥镇卫生院", "基层", "未定级", "乡镇卫生院"),
    ("360123", "青山县卫生健康局", "区县", None, "卫生健康行政部门"),
]
NAMES = {fid: name for fid, name, *_ in FACILITIES}


def write_registry(path: Path) -> Path:
    """A small 机构名录 workbook (sheet 机构) as the bureau keeps it."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "机构"
    ws.append(FAC_HEADER)
    for fid, name, tier, grade, ftype in FACILITIES:
        ws.append([fid, name, tier, grade, ftype, "青山县", D(2015, 1, 1), None])
    wb.save(path)
    return path


# --- returns ---------------------------------------------------------------------------------------------

def survey_row(tbl: str, i: int) -> dict:
    """A plausible questionnaire: answers vary (never straight-lined), ids unique per table, dates in the month."""
    row: dict = {"seq": i + 1, "respondent_id": f"{tbl.upper()}-{i + 1:03d}", "survey_date": D(2026, 9, 2 + i % 28),
                 "mode": ("现场", "电话", "网络")[i % 3]}
    for q in ITEMS[tbl]:
        row[q] = 8                                    # the 0–10 item
    for j, q in enumerate(LIKERT[tbl]):
        row[q] = 1 + (i + j) % 5
    return row


def survey_tables(n: int = 6, change: dict | None = None) -> dict[str, list[dict]]:
    """n clean rows per table; change = {(table, row index): {field: value}}."""
    out = {t: [survey_row(t, i) for i in range(n)] for t in TABLES}
    for (t, i), ch in (change or {}).items():
        out[t][i] = out[t][i] | ch
    return out


def blank(*items: str) -> dict:
    return dict.fromkeys(items, None)


def same(tbl: str, answer: int, items: list[str] | None = None) -> dict:
    """The same answer on the listed items (default: every 1–5 item of the table)."""
    return dict.fromkeys(items or LIKERT[tbl], answer)


PLATFORM = {"sat_plat_op_score": 85.25, "sat_plat_op_n": 150, "sat_plat_ip_score": 90, "sat_plat_ip_n": 200,
            "sat_plat_staff_score": 78.5, "sat_plat_staff_n": 120}
GRASSROOTS = {"jc_oe_visits": 5200, "jc_admissions": 35, "jc_med_revenue": 120.5, "jc_drug_revenue": 60.25,
              "jc_essential_drug_revenue": 40.1, "jc_referral_up": 12, "jc_referral_down": 4}
COUNTY = {"xy_res_visits_in": 180000, "xy_res_visits_out": 21000, "xy_res_adm_in": 5200, "xy_res_adm_out": 900,
          "xy_visits_total": 260000, "xy_visits_nonmember_grassroots": 41000, "xy_fund_in_county": 3500.5,
          "xy_fund_out_county": 820.25, "xy_fund_grassroots": 610.75, "xy_chronic_registered": 52000,
          "xy_chronic_managed": 38000, "xy_remote_diagnosis": 1300, "xy_senior_posted": 14}
assert set(PLATFORM) == {f["field"] for f in PL["fields"]}
assert set(GRASSROOTS) == {f["field"] for f in JC["fields"]}
assert set(COUNTY) == {f["field"] for f in XY["fields"]}

TEMPLATE_ID = {"survey": "JX-MY01", "platform": "JX-MY02", "grassroots": "JX-JC01", "county": "JX-XY01"}
BASE = {"survey": {"sat_op_distributed": 120, "sat_ip_distributed": 80, "sat_staff_distributed": 60},
        "platform": PLATFORM, "grassroots": GRASSROOTS, "county": COUNTY}
OWNER = {"survey": "F001", "platform": "F001", "grassroots": "JC01", "county": "360123"}


def return_bytes(template: str, *, values: dict | None = None, tables: dict | None = None, code: str | None = None,
                 name: str | None = None, period_text: str = "2026年09月") -> bytes:
    """A filled return of one of the four templates: the template's clean values with `values` on top (None
    blanks a cell)."""
    fid = code or OWNER[template]
    vals = {k: v for k, v in (BASE[template] | (values or {})).items() if v is not None}
    return fill_bytes(template_path(TEMPLATE_ID[template]), facility_name=name or NAMES.get(fid, "某单位"),
                      facility_code=fid, period_text=period_text, values=vals, tables=tables)


# One return per quirk (the file is named after it) and the exact set of validation findings it must get.
SURVEY_QUIRKS: dict[str, tuple[dict, set]] = {
    "sv-clean": ({}, set()),
    "sv-out-of-scale": ({"change": {("op", 1): {"q01": 7}, ("op", 3): {"q02": 2.5}, ("ip", 2): {"q13": 11},
                                    ("staff", 0): {"q05": 0}}},
                        {S("op", "q01", 1, "survey-answer-out-of-scale"),
                         S("op", "q02", 3, "survey-answer-out-of-scale"),
                         S("ip", "q13", 2, "survey-answer-out-of-scale"),
                         S("staff", "q05", 0, "survey-answer-out-of-scale")}),
    # each end of both scales (1–5 and 0–10) is inside
    "sv-scale-edges": ({"change": {("op", 0): {"q01": 1, "q02": 5, "q11": 0}, ("op", 1): {"q11": 10},
                                   ("ip", 0): {"q13": 0, "q12": 5}, ("staff", 0): {"q01": 1, "q10": 5}}}, set()),
    "sv-date-before": ({"change": {("op", 2): {"survey_date": D(2026, 8, 31)}}},
                       {S("op", "survey_date", 2, "survey-date-outside-period")}),
    "sv-date-after": ({"change": {("ip", 2): {"survey_date": "2026-10-01"}}},
                      {S("ip", "survey_date", 2, "survey-date-outside-period")}),
    "sv-date-edges": ({"change": {("op", 0): {"survey_date": D(2026, 9, 1)},
                                  ("op", 1): {"survey_date": D(2026, 9, 30)}}}, set()),
    "sv-mode-unknown": ({"change": {("op", 1): {"mode": "微信"}, ("staff", 0): {"mode": "现场调查"}}},
                        {S("op", "mode", 1, "survey-mode-unknown"), S("staff", "mode", 0, "survey-mode-unknown")}),
    # row 4 repeats row 1's 问卷编号 (the later row is flagged); the same number in another table is no duplicate
    "sv-duplicate-id": ({"change": {("op", 4): {"respondent_id": "OP-002"}, ("ip", 0): {"respondent_id": "OP-001"}}},
                        {S("op", "respondent_id", 4, "survey-duplicate-id")}),
    # blank share > 20 % (settings max_blank_share) is incomplete: 3 of 11 (27 %) yes, 2 of 11 (18 %) no;
    # staff (10 items): 2 blank = exactly 20 % passes, 3 blank fails; ip (13 items): 2 blank + 1 out of scale fails
    "sv-incomplete": ({"change": {("op", 2): blank("q01", "q02", "q03"), ("op", 3): blank("q04", "q11"),
                                  ("staff", 1): blank("q01", "q02"),
                                  ("staff", 2): blank("q01", "q02", "q03"),
                                  ("ip", 0): blank("q01", "q02") | {"q03": 6}}},
                      {S("op", "respondent_id", 2, "survey-incomplete"),
                       S("staff", "respondent_id", 2, "survey-incomplete"),
                       S("ip", "respondent_id", 0, "survey-incomplete"),
                       S("ip", "q03", 0, "survey-answer-out-of-scale")}),
    # straight-lining: ≥ 5 answered items of one scale (settings straight_line.min_items), all equal
    "sv-straight-lining": ({"change": {
        ("op", 1): same("op", 4) | {"q11": 9},                                     # ten 1–5 answers all 4
        ("op", 2): same("op", 5) | {"q10": 4, "q11": 5},                           # one differs: not flagged
        ("staff", 0): same("staff", 2) | {"q10": 9},                               # 9 valid 2s + one out of scale
        ("ip", 1): same("ip", 3, ["q01", "q02", "q03", "q04", "q05"])              # exactly 5 answered, all 3
                   | blank("q06", "q07", "q08", "q09", "q10", "q11", "q12", "q13"),
        ("ip", 2): same("ip", 3, ["q01", "q02", "q03", "q04"])                     # only 4 answered: too few
                   | blank("q05", "q06", "q07", "q08", "q09", "q10", "q11", "q12", "q13")}},
        {S("op", "respondent_id", 1, "survey-straight-lining"),
         S("staff", "respondent_id", 0, "survey-straight-lining"), S("staff", "q10", 0, "survey-answer-out-of-scale"),
         S("ip", "respondent_id", 1, "survey-straight-lining"), S("ip", "respondent_id", 1, "survey-incomplete"),
         S("ip", "respondent_id", 2, "survey-incomplete")}),
    "sv-required-blank": ({"change": {("op", 0): {"respondent_id": None, "mode": None},
                                      ("staff", 3): {"survey_date": None}}},
                          {S("op", "respondent_id", 0, "row-required-missing"),
                           S("op", "mode", 0, "row-required-missing"),
                           S("staff", "survey_date", 3, "row-required-missing")}),
    # an unreadable answer has its parse finding; it only counts as unanswered (1 of 11: still complete)
    "sv-error-cell": ({"change": {("op", 1): {"q01": "很满意"}}}, set()),
    "sv-fixed-cells": ({"values": {"sat_op_distributed": -5, "sat_ip_distributed": 10.5,
                                   "sat_staff_distributed": None}},
                       {F("survey", "sat_op_distributed", "negative-value"),
                        F("survey", "sat_ip_distributed", "not-whole-number")}),
    "sv-unknown-facility": ({"code": "X999", "name": "未知医院"}, {F("survey", "facility_code", "facility-unknown")}),
    "sv-name-mismatch": ({"name": "市第一医院"}, {F("survey", "facility_name", "facility-name-mismatch")}),
    # the form's 统计期 says August and so do its survey dates: only the period disagrees with the inbox folder
    "sv-period-mismatch": ({"period_text": "2026年08月",
                            "change": {(t, i): {"survey_date": D(2026, 8, 10 + i)} for t in TABLES for i in range(6)}},
                           {F("survey", "period", "period-mismatch")}),
}

PLATFORM_QUIRKS: dict[str, tuple[dict, set]] = {
    "pl-clean": ({}, set()),
    "pl-all-blank": ({"values": dict.fromkeys(PLATFORM)}, set()),
    "pl-score-without-n": ({"values": {"sat_plat_op_n": None}},
                           {F("platform", "sat_plat_op_n", "platform-pair-incomplete")}),
    "pl-n-without-score": ({"values": {"sat_plat_staff_score": None}},
                           {F("platform", "sat_plat_staff_score", "platform-pair-incomplete")}),
    "pl-one-pair-only": ({"values": {"sat_plat_ip_score": None, "sat_plat_ip_n": None, "sat_plat_staff_score": None,
                                     "sat_plat_staff_n": None}}, set()),
    "pl-score-range": ({"values": {"sat_plat_op_score": 100.5, "sat_plat_ip_score": -1}},
                       {F("platform", "sat_plat_op_score", "value-out-of-range"),
                        F("platform", "sat_plat_ip_score", "value-out-of-range")}),
    "pl-score-edges": ({"values": {"sat_plat_op_score": 0, "sat_plat_ip_score": 100}}, set()),
    "pl-n-not-whole": ({"values": {"sat_plat_op_n": 150.5, "sat_plat_ip_n": -3}},
                       {F("platform", "sat_plat_op_n", "not-whole-number"),
                        F("platform", "sat_plat_ip_n", "negative-value")}),
    # an unreadable sample size has its parse finding and counts as filled (no pair finding on top)
    "pl-n-unreadable": ({"values": {"sat_plat_op_n": "约150"}}, set()),
    "pl-unknown-facility": ({"code": "X999", "name": "未知医院"}, {F("platform", "facility_code", "facility-unknown")}),
}

GRASSROOTS_QUIRKS: dict[str, tuple[dict, set]] = {
    "jc-clean": ({}, set()),
    "jc-drug-exceeds": ({"values": {"jc_drug_revenue": 130}},
                        {F("grassroots", "jc_drug_revenue", "part-exceeds-total")}),
    "jc-essential-exceeds": ({"values": {"jc_essential_drug_revenue": 61}},
                             {F("grassroots", "jc_essential_drug_revenue", "part-exceeds-total")}),
    # 万元 rounding: allowed gap 0.01 + 0.1 % of the total
    "jc-within-tolerance": ({"values": {"jc_drug_revenue": 120.6}}, set()),
    "jc-required-blank": ({"values": {"jc_oe_visits": None, "jc_admissions": None}},
                          {F("grassroots", "jc_oe_visits", "required-missing")}),
    "jc-fraction-negative": ({"values": {"jc_oe_visits": 5200.5, "jc_referral_up": -1}},
                             {F("grassroots", "jc_oe_visits", "not-whole-number"),
                              F("grassroots", "jc_referral_up", "negative-value")}),
    "jc-name-mismatch": ({"name": "石桥镇卫生院"}, {F("grassroots", "facility_name", "facility-name-mismatch")}),
    "jc-unknown-facility": ({"code": "JC99", "name": "某卫生院"}, {F("grassroots", "facility_code", "facility-unknown")}),
}

COUNTY_QUIRKS: dict[str, tuple[dict, set]] = {
    "xy-clean": ({}, set()),
    "xy-nonmember-exceeds": ({"values": {"xy_visits_nonmember_grassroots": 260001}},
                             {F("county", "xy_visits_nonmember_grassroots", "part-exceeds-total")}),
    "xy-fund-exceeds": ({"values": {"xy_fund_grassroots": 3600}},
                        {F("county", "xy_fund_grassroots", "part-exceeds-total")}),
    "xy-chronic-exceeds": ({"values": {"xy_chronic_managed": 52001}},
                           {F("county", "xy_chronic_managed", "part-exceeds-total")}),
    "xy-parts-equal": ({"values": {"xy_visits_nonmember_grassroots": 260000, "xy_fund_grassroots": 3500.5,
                                   "xy_chronic_managed": 52000}}, set()),
    "xy-required-blank": ({"values": {"xy_res_visits_out": None, "xy_remote_diagnosis": None}},
                          {F("county", "xy_res_visits_out", "required-missing")}),
    "xy-unknown-county": ({"code": "360999", "name": "某县卫生健康局"}, {F("county", "facility_code", "facility-unknown")}),
}

QUIRKS = {(t, q): v for t, quirks in (("survey", SURVEY_QUIRKS), ("platform", PLATFORM_QUIRKS),
                                       ("grassroots", GRASSROOTS_QUIRKS), ("county", COUNTY_QUIRKS))
          for q, v in quirks.items()}
REJECTED = {"sv-unknown-facility", "pl-unknown-facility", "jc-unknown-facility", "xy-unknown-county"}
# the parser's findings of the quirks with unreadable cells (stage parse), which validation must not repeat
PARSE_FINDINGS = {"sv-error-cell": {S("op", "q01", 1, "value-not-number")},
                  "pl-n-unreadable": {F("platform", "sat_plat_op_n", "value-not-number")}}


def quirk_bytes(template: str, kw: dict) -> bytes:
    kw = dict(kw)
    change = kw.pop("change", None)
    tables = survey_tables(change=change) if template == "survey" else None
    return return_bytes(template, tables=tables, **kw)


def ingest(con, root: Path, files: dict[str, bytes], folder: str = PERIOD) -> dict[str, str]:
    """Put files in the inbox (under a period folder), archive, register, parse and load them as the monthly run
    does; returns quirk name → submission id."""
    inbox = root / "inbox" / folder
    inbox.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (inbox / f"{name}.xlsx").write_bytes(data)
    items = [it for it in load.discover(root / "inbox") if Path(it.rel_name).stem in files]
    regs, _ = load.archive_and_register(con, root / "archive", items, folder)
    load.load_batch(con, [(r, read_return(r.stored_path, r.item.rel_name)) for r in regs if r.is_new])
    return {Path(r.item.rel_name).stem: r.submission_id for r in regs}


@pytest.fixture(scope="module")
def wh(tmp_path_factory):
    """A warehouse with one return per quirk of the four templates for 2026-09 (+ a bystander), validated once."""
    from expectations.validate import validate

    root = tmp_path_factory.mktemp("validate_new")
    con = connect(root / "warehouse.duckdb")
    imp = import_registry(con, write_registry(root / "registry.xlsx"))
    assert imp.findings == [] and len(imp.facilities) == len(FACILITIES)
    sids = ingest(con, root, {q: quirk_bytes(t, kw) for (t, q), (kw, _) in QUIRKS.items()})
    # a bystander: another month's survey return (an out-of-scale answer) is not judged in this run
    sids |= ingest(con, root, {"sv-other-month": return_bytes(
        "survey", period_text="2026年08月",
        tables=survey_tables(change={("op", 0): {"q01": 9, "survey_date": D(2026, 8, 3)}}))}, folder="2026-08")
    res = validate(con, root / "gx", root / "docs", period=PERIOD)
    yield con, root, res, sids
    con.close()


def _found(con, sid: str, stage: str = "validate") -> set[tuple[str, str, str]]:
    return set(con.execute("SELECT sheet, cell, code FROM findings WHERE submission_id = ? AND stage = ?",
                           [sid, stage]).fetchall())


@pytest.mark.parametrize("template, quirk", list(QUIRKS))
def test_rule_fails_and_passes(wh, template, quirk):
    con, _, _, sids = wh
    assert _found(con, sids[quirk]) == QUIRKS[(template, quirk)][1]


def test_unreadable_cells_keep_only_their_parse_findings(wh):
    con, _, _, sids = wh
    for quirk, expected in PARSE_FINDINGS.items():
        assert _found(con, sids[quirk], "parse") == expected
        assert _found(con, sids[quirk]) == set()


def test_clean_returns_parse_cleanly(wh):
    con, _, _, sids = wh
    for quirk in ("sv-clean", "pl-clean", "jc-clean", "xy-clean"):
        assert con.execute("SELECT count(*) FROM findings WHERE submission_id = ?", [sids[quirk]]).fetchone() == (0,)


def test_statuses(wh):
    con, _, res, sids = wh
    st = dict(con.execute("SELECT submission_id, status FROM submissions").fetchall())
    by_quirk = {q: st[sids[q]] for _, q in QUIRKS}
    assert {q for q, s in by_quirk.items() if s == "rejected"} == REJECTED
    assert all(s == "accepted" for q, s in by_quirk.items() if q not in REJECTED)
    # the county's return is attributed to the county (a registry row of 级别 区县)
    assert con.execute("SELECT facility_id FROM submissions WHERE submission_id = ?",
                       [sids["xy-clean"]]).fetchone() == ("360123",)
    assert st[sids["sv-other-month"]] == "received" and _found(con, sids["sv-other-month"]) == set()
    assert res.success is False and res.n_rows > 0


def test_every_new_suite_ran_once(wh):
    from expectations.compile import load_suites, suite_dict

    _, root, res, _ = wh
    new = [s for s in load_suites() if s.name in ("survey", "sat_platform", "grassroots", "county")]
    assert res.n_expectations == sum(len(suite_dict(suite=s)["expectations"]) for s in new)
    pages = list((root / "docs" / "validations").rglob("*.html"))
    assert {p.relative_to(root / "docs" / "validations").parts[0] for p in pages} == {s.name for s in new}


def test_finding_details(wh):
    _, _, res, sids = wh
    by = {(f.submission_id, f.code, f.cell): f for f in res.findings}

    def one(quirk: str, code: str, where: tuple[str, str, str]) -> object:
        return by[(sids[quirk], code, where[1])]

    o = one("sv-out-of-scale", "survey-answer-out-of-scale", S("op", "q01", 1, ""))
    assert (o.severity, o.value, o.expected, o.field, o.rule_id) == ("error", "7", "1–5", "q01", "op_in_scale")
    assert o.message_zh == "「Q01 挂号方便程度（1–5）」填写的 7 不是计分范围 1–5 内的整数，该题按未作答处理。"
    assert one("sv-out-of-scale", "survey-answer-out-of-scale", S("ip", "q13", 2, "")).expected == "0–10"
    assert one("sv-out-of-scale", "survey-answer-out-of-scale", S("op", "q02", 3, "")).value == "2.5"
    d = one("sv-date-before", "survey-date-outside-period", S("op", "survey_date", 2, ""))
    assert (d.value, d.expected, d.message_zh) == ("2026-08-31", PERIOD, "「调查日期」2026-08-31 不在统计期 2026-09 内。")
    m = one("sv-mode-unknown", "survey-mode-unknown", S("op", "mode", 1, ""))
    assert (m.severity, m.value, m.expected) == ("warning", "微信", "现场、电话、网络")
    u = one("sv-duplicate-id", "survey-duplicate-id", S("op", "respondent_id", 4, ""))
    first = TABLES["op"]["first_data_row"]
    assert (u.severity, u.value, u.expected) == ("warning", str(first + 4), str(first + 1))
    assert u.message_zh == f"第 {first + 4} 行与第 {first + 1} 行的问卷编号相同，后一份问卷不计入满意度得分。"
    i = one("sv-incomplete", "survey-incomplete", S("op", "respondent_id", 2, ""))
    assert (i.severity, i.value, i.expected, i.field) == ("warning", "OP-003", "20%", "respondent_id")
    assert i.message_zh == ("问卷未作答的题目过多（问卷编号「OP-003」，11 题中 3 题未作答或超出计分范围，占 27.3%），"
                            "超过 20%，该问卷不计入满意度得分。")
    assert "13 题中 3 题" in one("sv-incomplete", "survey-incomplete", S("ip", "respondent_id", 0, "")).message_zh
    s = one("sv-straight-lining", "survey-straight-lining", S("op", "respondent_id", 1, ""))
    assert (s.severity, s.value, s.rule_id) == ("warning", "OP-002", "op_straight_lining")
    assert s.message_zh == "问卷疑似直线作答：问卷编号「OP-002」的 10 道 1–5 分题全部答 4，该问卷已标记，仍计入满意度得分。"
    assert "9 道 1–5 分题全部答 2" in one("sv-straight-lining", "survey-straight-lining",
                                        S("staff", "respondent_id", 0, "")).message_zh
    p = one("pl-score-without-n", "platform-pair-incomplete", F("platform", "sat_plat_op_n", ""))
    assert (p.severity, p.field) == ("error", "sat_plat_op_n")
    assert p.message_zh == "已填写「门诊患者满意度得分」，但「门诊患者有效样本量」未填写。"
    assert "E7" in p.fix_zh
    q = one("pl-n-without-score", "platform-pair-incomplete", F("platform", "sat_plat_staff_score", ""))
    assert q.message_zh == "已填写「医务人员有效样本量」，但「医务人员满意度得分」未填写。"
    r = one("pl-score-range", "value-out-of-range", F("platform", "sat_plat_op_score", ""))
    assert (r.value, r.expected) == ("100.5", "0–100")
    g = one("jc-drug-exceeds", "part-exceeds-total", F("grassroots", "jc_drug_revenue", ""))
    assert g.message_zh == "「其中：药品收入」130 大于 医疗收入 120.5。"
    c = one("xy-chronic-exceeds", "part-exceeds-total", F("county", "xy_chronic_managed", ""))
    assert (c.value, c.expected, c.facility_id) == ("52001", "52000", "360123")
    for f in res.findings:
        assert "None" not in f.message_zh + f.fix_zh and "{" not in f.message_zh + f.fix_zh


def test_straight_lining_wording_follows_the_exclude_setting(wh):
    """With straight_line.exclude: true the finding says the questionnaire leaves the score."""
    from expectations.compile import load_suites
    from expectations.validate import _Mapper

    _, _, res, sids = wh
    spec = next(s for s in load_suites() if s.name == "survey")
    rules = tuple(dataclasses.replace(r, exclude=True) if r.kind == "straight_lining" else r for r in spec.rules())
    f = next(f for f in res.findings if f.submission_id == sids["sv-straight-lining"]
             and f.code == "survey-straight-lining" and f.sheet == TABLES["op"]["sheet"])
    scope = {f.submission_id: {"finding_period": PERIOD, "facility_id": "F001", "original_name": f.file}}
    mapper = _Mapper(rules, spec.layout(), scope)
    again = mapper.finding({"rule_id": f.rule_id, "code": f.code, "severity": f.severity},
                           {"submission_id": f.submission_id, "field": f.field, "cell": f.cell, "sheet": f.sheet},
                           {"value_num": 4.0, "other_num": 10.0, "value_text": "OP-002", "other_text": "1–5"})
    assert again.message_zh.endswith("全部答 4，该问卷不计入满意度得分。")


def test_rerun_is_identical(wh):
    from expectations.validate import validate

    con, root, first, _ = wh
    before = con.execute("SELECT * FROM findings ORDER BY finding_id").df()
    again = validate(con, root / "gx", root / "docs", period=PERIOD)
    pd.testing.assert_frame_equal(con.execute("SELECT * FROM findings ORDER BY finding_id").df(), before)
    assert [f.as_row() for f in again.findings] == [f.as_row() for f in first.findings]


def test_templates_without_returns_cost_nothing(tmp_path, monkeypatch):
    """Only the suites of templates with returns in scope build a frame and run GX; an empty period runs none."""
    import expectations.validate as v

    built: list[str] = []
    real = v.build_frame

    def spy(con, period=None, submission_ids=None, suite=None):
        built.append(suite.name)
        return real(con, period, submission_ids, suite)

    monkeypatch.setattr(v, "build_frame", spy)
    con = connect(tmp_path / "w.duckdb")
    import_registry(con, write_registry(tmp_path / "registry.xlsx"))
    empty = v.validate(con, tmp_path / "gx", tmp_path / "docs", period="2026-07")
    assert (empty.findings, empty.n_rows, empty.n_expectations, built) == ([], 0, 0, [])
    assert not (tmp_path / "gx").exists()
    sids = ingest(con, tmp_path, {"jc-only": return_bytes("grassroots", values={"jc_drug_revenue": 130})})
    res = v.validate(con, tmp_path / "gx", tmp_path / "docs", period=PERIOD)
    assert built == ["grassroots"]
    assert {(f.submission_id, f.sheet, f.cell, f.code) for f in res.findings} == {
        (sids["jc-only"], *F("grassroots", "jc_drug_revenue", "part-exceeds-total"))}
    pages = list((tmp_path / "docs" / "validations").rglob("*.html"))
    assert {p.relative_to(tmp_path / "docs" / "validations").parts[0] for p in pages} == {"grassroots"}
    con.close()


def test_survey_returns_of_300_rows_per_table_validate_quickly(tmp_path):
    """20 survey returns × 3 tables × 300 questionnaires (18,000 rows) through GX; bound kept loose."""
    from expectations.validate import validate

    con = connect(tmp_path / "w.duckdb")
    import_registry(con, write_registry(tmp_path / "registry.xlsx"))
    tables = survey_tables(300, change={("op", 10): {"q01": 6}})
    ingest(con, tmp_path, {f"sv{i:02d}": return_bytes("survey", tables=tables, values={"sat_op_distributed": 300 + i})
                           for i in range(20)})
    t = time.perf_counter()
    res = validate(con, tmp_path / "gx", tmp_path / "docs", period=PERIOD)
    elapsed = time.perf_counter() - t
    assert {(f.sheet, f.cell, f.code) for f in res.findings} == {S("op", "q01", 10, "survey-answer-out-of-scale")}
    assert len(res.findings) == 20 and res.n_rows > 20 * 900 * 10
    assert elapsed < 30, f"validation of 20 survey returns × 900 questionnaires took {elapsed:.2f} s"
    con.close()
