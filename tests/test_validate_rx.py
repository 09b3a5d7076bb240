"""GX validation of the rational-prescribing returns (JX-YB02 抗菌药物消耗, JX-YB03 处方点评表): every row rule
fails and passes, anchored on (sheet, cell, code); statuses; idempotence; one call validates every template."""
from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from expectations.findings import make
from warehouse.db import connect

REPO = Path(__file__).resolve().parents[1]
PERIOD = "2026-09"


def _layout(name: str) -> dict:
    doc = yaml.safe_load((REPO / "templates_xlsx" / "layouts" / f"{name}.yaml").read_text(encoding="utf-8"))
    return doc["versions"][0]


R03, R02 = _layout("rx_review"), _layout("rx_antibiotic")
SHEET03, SHEET02 = R03["sheet"], R02["sheet"]                       # 点评概况, 抗菌药物使用情况
FIXED03 = {f["field"]: f["cell"] for f in R03["fields"]} | {k: v["cell"] for k, v in R03["header"].items()}
FIXED02 = {f["field"]: f["cell"] for f in R02["fields"]} | {k: v["cell"] for k, v in R02["header"].items()}
TABLES = {t["name"]: t for t in R03["tables"] + R02["tables"]}
REVIEW, CONSUMPTION, CATALOGUE = (TABLES[n]["sheet"] for n in ("review", "consumption", "catalogue"))
FIRST = {n: t["first_data_row"] for n, t in TABLES.items()}
LETTER = {n: {c["field"]: letter for letter, c in t["columns"].items()} for n, t in TABLES.items()}
KIND = {n: {c["field"]: c["kind"] for c in t["columns"].values()} for n, t in TABLES.items()}
ZERO = {n: {c["field"] for c in t["columns"].values() if c.get("blank") == "zero"} for n, t in TABLES.items()}


def cell(tbl: str, field: str, i: int) -> str:
    """The cell of the i-th (0-based) data row's column."""
    return f"{LETTER[tbl][field]}{FIRST[tbl] + i}"


FACILITIES = [("F001", "市第一人民医院"), ("F002", "市中医院")]


def review_row(i: int) -> dict:
    """A plausible sampled prescription; rows differ, so no two are duplicates."""
    return {"seq": i + 1, "rx_date": f"2026-09-{1 + i % 30:02d}", "age": 20 + i % 60, "diagnosis": "高血压",
            "n_drugs": 2, "has_antibiotic": 0, "has_injection": 0, "n_essential": 1, "n_generic": 2,
            "amount": round(10 + i * 1.25, 2), "prescriber": "PSN-1a2b3c", "pharmacist_review": "PSN-4d5e6f",
            "pharmacist_dispense": "PSN-7a8b9c", "rational": 1, "problem_codes": None}


PRODUCTS = [("注射用头孢曲松钠", None, "注射剂", "1g", "支"), ("阿莫西林胶囊", "J01CA04", "胶囊", "0.25g×24粒", "盒"),
            ("左氧氟沙星氯化钠注射液", None, "注射液", "0.5g:100ml", "袋"), ("注射用青霉素钠", None, "注射剂", "80万U", "支")]


def consumption_row(i: int) -> dict:
    name, atc, form, strength, unit = PRODUCTS[i % len(PRODUCTS)]
    return {"seq": i + 1, "generic_name": name, "atc_code": atc, "form_route": form, "strength": strength,
            "pack_unit": unit, "qty_inpatient": 100 + i, "qty_outpatient": 10 + i}


def catalogue_row(i: int) -> dict:
    name, _, form, strength, _ = PRODUCTS[i % len(PRODUCTS)]
    return {"seq": i + 1, "generic_name": name, "dosage_form": form, "strength": strength}


ABX = {"abx_op_rx_total": 52000, "abx_op_rx_with_abx": 7800, "abx_em_rx_total": 9100, "abx_em_rx_with_abx": 3100,
       "abx_discharges": 4200, "abx_discharges_with_abx": 2000, "abx_clean_ops": 310, "abx_clean_ops_prophylaxis": 60}
assert set(ABX) == {f["field"] for f in R02["fields"]}


def table_cells(sid: str, tbl: str, rows: list[dict], statuses: dict | None = None) -> list[tuple]:
    """return_rows tuples of a table as the loader stores them: every column of every row, numbers in value, text
    (ISO dates, raw codes, pseudonyms) in text; blank cells with status blank (blank_zero and 0 for quantities);
    `statuses` maps (row index, field) → status ('error': value and text NULL, raw_text kept)."""
    sheet = TABLES[tbl]["sheet"]
    out = []
    for i, row in enumerate(rows):
        for field in LETTER[tbl]:
            v = row.get(field)
            st = (statuses or {}).get((i, field))
            num = text = raw = None
            if v is None or v == "":
                st = st or ("blank_zero" if field in ZERO[tbl] else "blank")
                num = 0.0 if st == "blank_zero" else None
            elif st == "error":
                raw = str(v)
            elif KIND[tbl][field] in ("count", "amount", "flag", "seq"):
                num, st = float(v), st or "ok"
            else:
                text, raw, st = str(v), str(v), st or "ok"
            out.append((sid, tbl, FIRST[tbl] + i, field, num, text, raw, sheet, cell(tbl, field, i), st))
    return out


def add_submission(con, sid: str, template: str, fid: str | None, *, name: str | None = None,
                   code: str | None = None, period: str = PERIOD, inbox: str = PERIOD,
                   status: str = "received") -> None:
    names = dict(FACILITIES)
    con.execute(
        "INSERT INTO submissions (submission_id, sha256, original_name, inbox_period, facility_id, period,"
        " template_id, template_version, received_at, received_source, status, header_name, header_code,"
        " header_period) VALUES (?, ?, ?, ?, ?, ?, ?, '2026.1', ?, 'manifest', ?, ?, ?, ?)",
        [sid, (sid * 64)[:64], f"{sid}.xlsx", inbox, fid, period, template, dt.datetime(2026, 10, 5, 9, 30),
         status, name if name is not None else names.get(fid), code or fid, period])


def add_values(con, sid: str, sheet: str, cells: dict, values: dict, statuses: dict | None = None) -> None:
    rows = []
    for field, v in values.items():
        st = (statuses or {}).get(field, "ok")
        rows.append((sid, field, None if st in ("blank", "error") else float(v),
                     None if st == "blank" else str(v), sheet, cells[field], st))
    con.executemany("INSERT INTO return_values VALUES (?, ?, ?, ?, ?, ?, ?)", rows)


ROW_COLUMNS = ["submission_id", "tbl", "row_no", "field", "value", "text", "raw_text", "sheet", "cell", "status"]


def add_rows(con, cells: list[tuple]) -> None:
    """INSERT the cells through one frame scan (executemany runs ~1k rows/s on DuckDB 2.0)."""
    if not cells:
        return
    frame = pd.DataFrame(cells, columns=ROW_COLUMNS)
    frame["value"] = pd.to_numeric(frame["value"]).astype("float64")
    for c in ("text", "raw_text"):
        frame[c] = frame[c].astype(object).where(frame[c].notna(), None)
    con.register("_cells", frame)
    try:
        con.execute("INSERT INTO return_rows SELECT * FROM _cells")
    finally:
        con.unregister("_cells")


def add_review(con, sid: str, fid: str | None = "F001", *, n: int = 100, total: float | None = 50000,
               change: dict | None = None, statuses: dict | None = None, total_status: str = "ok",
               rows: list[dict] | None = None, **sub) -> None:
    """A JX-YB03 return: n rows (≥ 100 and ≥ 1 ‰ of the total: adequate), row changes {index: {field: value}}."""
    add_submission(con, sid, "JX-YB03", fid, **sub)
    add_values(con, sid, SHEET03, FIXED03, {"rxr_op_rx_total": total}, {"rxr_op_rx_total": total_status})
    rows = rows or [review_row(i) for i in range(n)]
    for i, ch in (change or {}).items():
        rows[i] = rows[i] | ch
    add_rows(con, table_cells(sid, "review", rows, statuses))


def add_antibiotic(con, sid: str, fid: str | None = "F001", *, values: dict | None = None,
                   consumption: dict | None = None, catalogue: dict | None = None, statuses: dict | None = None,
                   extra: list[dict] | None = None, **sub) -> None:
    """A JX-YB02 return: fixed counts, 4 consumption rows (+ extra) and 4 catalogue rows; changes by row index."""
    add_submission(con, sid, "JX-YB02", fid, **sub)
    add_values(con, sid, SHEET02, FIXED02, ABX | (values or {}))
    rows = [consumption_row(i) for i in range(4)]
    for i, ch in (consumption or {}).items():
        rows[i] = rows[i] | ch
    for j, e in enumerate(extra or []):
        rows.append(consumption_row(len(rows)) | {"seq": len(rows) + 1} | e)
    cat = [catalogue_row(i) for i in range(4)]
    for i, ch in (catalogue or {}).items():
        cat[i] = cat[i] | ch
    add_rows(con, table_cells(sid, "consumption", rows, statuses) + table_cells(sid, "catalogue", cat))


def R(field: str, i: int, code: str) -> tuple[str, str, str]:
    return (REVIEW, cell("review", field, i), code)


def C(field: str, i: int, code: str) -> tuple[str, str, str]:
    return (CONSUMPTION, cell("consumption", field, i), code)


TOTAL03 = (SHEET03, FIXED03["rxr_op_rx_total"])

# One JX-YB03 return per quirk (named after it) and the exact set of validation findings it must get.
REVIEW_QUIRKS: dict[str, tuple[dict, set]] = {
    "rv-clean": ({}, set()),
    "rv-date-before": ({"change": {4: {"rx_date": "2026-08-31"}}}, {R("rx_date", 4, "rx-date-outside-period")}),
    "rv-date-after": ({"change": {4: {"rx_date": "2026-10-01"}}}, {R("rx_date", 4, "rx-date-outside-period")}),
    "rv-date-edges": ({"change": {4: {"rx_date": "2026-09-01"}, 5: {"rx_date": "2026-09-30"}}}, set()),
    "rv-age-121": ({"change": {3: {"age": 121}}}, {R("age", 3, "value-out-of-range")}),
    "rv-age-negative": ({"change": {3: {"age": -1}}}, {R("age", 3, "value-out-of-range")}),
    "rv-age-edges": ({"change": {3: {"age": 0}, 4: {"age": 120}}}, set()),
    "rv-flag-2": ({"change": {2: {"has_antibiotic": 2, "has_injection": 3}}},
                  {R("has_antibiotic", 2, "flag-not-01"), R("has_injection", 2, "flag-not-01")}),
    "rv-rational-2": ({"change": {2: {"rational": 2}}}, {R("rational", 2, "flag-not-01")}),
    "rv-no-drugs": ({"change": {6: {"n_drugs": 0, "n_generic": 0, "n_essential": 0}}},
                    {R("n_drugs", 6, "value-out-of-range")}),
    "rv-fractional-drugs": ({"change": {6: {"n_drugs": 2.5}}}, {R("n_drugs", 6, "not-whole-number")}),
    "rv-generic-exceeds": ({"change": {7: {"n_generic": 3}}}, {R("n_generic", 7, "part-exceeds-total")}),
    "rv-essential-exceeds": ({"change": {7: {"n_essential": 3}}}, {R("n_essential", 7, "part-exceeds-total")}),
    "rv-parts-equal": ({"change": {7: {"n_essential": 2, "n_generic": 2}}}, set()),
    "rv-negative-amount": ({"change": {8: {"amount": -5.0}}}, {R("amount", 8, "negative-value")}),
    "rv-zero-amount": ({"change": {8: {"amount": 0}}}, set()),
    "rv-unknown-code": ({"change": {9: {"rational": 0, "problem_codes": "1-7、9-9，abc"}}},
                        {R("problem_codes", 9, "problem-code-unknown")}),
    "rv-codes-ok": ({"change": {9: {"rational": 0, "problem_codes": "1-7,2-5"},
                                10: {"rational": 0, "problem_codes": "1－10；3-2"}}}, set()),
    "rv-rational-with-codes": ({"change": {11: {"rational": 1, "problem_codes": "1-7"}}},
                               {R("rational", 11, "rational-code-mismatch")}),
    "rv-irrational-without-codes": ({"change": {11: {"rational": 0}}}, {R("rational", 11, "rational-code-mismatch")}),
    "rv-rational-none-marker": ({"change": {11: {"rational": 1, "problem_codes": "无"}}}, set()),
    # rows 12 and 13 agree on date, age, diagnosis, drugs, amount and prescriber: the later row's 序号 cell
    "rv-duplicate": ({"change": {13: {k: review_row(12)[k] for k in ("rx_date", "age", "diagnosis", "n_drugs",
                                                                      "amount", "prescriber")} | {"has_injection": 1}}},
                     {R("seq", 13, "rx-duplicate-row")}),
    "rv-near-duplicate": ({"change": {13: {k: review_row(12)[k] for k in ("rx_date", "age", "diagnosis", "n_drugs",
                                                                           "amount")} | {"prescriber": "PSN-other"}}},
                          set()),
    "rv-required-blank": ({"change": {14: {"diagnosis": None, "age": None, "rational": None}}, "n": 101},
                          {R("diagnosis", 14, "row-required-missing"), R("age", 14, "row-required-missing"),
                           R("rational", 14, "row-required-missing")}),
    "rv-optional-blank": ({"change": {14: {"prescriber": None, "pharmacist_review": None, "seq": None}}}, set()),
    # the parser reported these cells (findings of stage parse below): rules reading them skip the row
    "rv-error-cells": ({"change": {15: {"age": 999, "n_drugs": 0, "n_generic": 9, "rational": 1,
                                        "problem_codes": "1-7"}},
                        "statuses": {(15, "age"): "error", (15, "n_drugs"): "error", (15, "problem_codes"): "error"},
                        "n": 101}, set()),
    "rv-sample-too-small": ({"n": 99}, {(*TOTAL03, "rx-sample-inadequate")}),
    "rv-sample-below-permille": ({"n": 100, "total": 200000}, {(*TOTAL03, "rx-sample-inadequate")}),
    "rv-sample-permille-edge": ({"n": 100, "total": 100000}, set()),
    # 100 rows, one of them unreadable in a counted column: 99 prescriptions count
    "rv-sample-error-row": ({"statuses": {(20, "amount"): "error"}}, {(*TOTAL03, "rx-sample-inadequate")}),
    "rv-total-blank": ({"total": None, "total_status": "blank"}, {(*TOTAL03, "required-missing")}),
    "rv-total-fractional": ({"total": 50000.5}, {(*TOTAL03, "not-whole-number")}),
    "rv-unknown-facility": ({"fid": None, "code": "X999", "name": "未知医院"},
                            {(SHEET03, FIXED03["facility_code"], "facility-unknown")}),
    "rv-name-mismatch": ({"name": "市第一医院"}, {(SHEET03, FIXED03["facility_name"], "facility-name-mismatch")}),
    # the form's 统计期 says August: its prescriptions are August's, only the period disagrees with the inbox
    "rv-period-mismatch": ({"period": "2026-08", "rows": [review_row(i) | {"rx_date": f"2026-08-{1 + i % 30:02d}"}
                                                          for i in range(100)]},
                           {(SHEET03, FIXED03["period"], "period-mismatch")}),
}

# One JX-YB02 return per quirk.
ABX_QUIRKS: dict[str, tuple[dict, set]] = {
    "ab-clean": ({}, set()),
    "ab-negative-qty": ({"consumption": {1: {"qty_inpatient": -3, "qty_outpatient": -1}}},
                        {C("qty_inpatient", 1, "negative-value"), C("qty_outpatient", 1, "negative-value")}),
    "ab-blank-qty": ({"consumption": {1: {"qty_inpatient": None, "qty_outpatient": None}}}, set()),
    # the form names no route (the name does: the engine still counts it), a warning on the form cell
    "ab-route-unknown": ({"consumption": {0: {"form_route": "瓶装"}}}, {C("form_route", 0, "route-unknown")}),
    "ab-route-typed": ({"consumption": {0: {"form_route": "IVGTT"}, 1: {"form_route": "胶囊/口服"}}}, set()),
    "ab-topical": ({"extra": [{"generic_name": "红霉素眼膏", "form_route": "眼膏", "strength": "2g:10mg",
                               "pack_unit": "支"}]}, {C("generic_name", 4, "abx-out-of-scope")}),
    "ab-anti-tb": ({"extra": [{"generic_name": "利福平胶囊", "form_route": "胶囊", "strength": "0.15g×100粒",
                               "pack_unit": "瓶"}]}, {C("generic_name", 4, "abx-out-of-scope")}),
    "ab-no-ddd": ({"extra": [{"generic_name": "注射用头孢硫脒", "form_route": "注射剂", "strength": "1g",
                              "pack_unit": "支"}]}, {C("generic_name", 4, "ddd-not-covered")}),
    "ab-mistyped": ({"extra": [{"generic_name": "头孢曲松纳", "form_route": "注射剂", "strength": "1g",
                                "pack_unit": "支"}]}, {C("generic_name", 4, "ddd-not-covered")}),
    # a blank strength is a missing cell and leaves the product uncounted (both said, on their cells)
    "ab-strength-blank": ({"consumption": {2: {"strength": None}}},
                          {C("strength", 2, "row-required-missing"), C("generic_name", 2, "ddd-not-covered")}),
    # a blank name or form is a missing cell; the product rules have nothing to judge on a blank anchor (the
    # 注射用… name still gives the route, so the product is counted)
    "ab-name-blank": ({"consumption": {2: {"generic_name": None}}}, {C("generic_name", 2, "row-required-missing")}),
    "ab-form-blank": ({"consumption": {0: {"form_route": None}}}, {C("form_route", 0, "row-required-missing")}),
    # an unreadable form cell (parser finding below): the route, scope and DDD rules skip the row
    "ab-error-form": ({"consumption": {0: {"form_route": "#REF!"}}, "statuses": {(0, "form_route"): "error"}},
                      set()),
    "ab-catalogue-blank-form": ({"catalogue": {3: {"dosage_form": None}}},
                                {(CATALOGUE, cell("catalogue", "dosage_form", 3), "row-required-missing")}),
    "ab-part-exceeds": ({"values": {"abx_op_rx_with_abx": 52001}},
                        {(SHEET02, FIXED02["abx_op_rx_with_abx"], "part-exceeds-total")}),
    "ab-fractional": ({"values": {"abx_clean_ops": 310.5}}, {(SHEET02, FIXED02["abx_clean_ops"], "not-whole-number")}),
    "ab-negative-count": ({"values": {"abx_discharges_with_abx": -1}},
                         {(SHEET02, FIXED02["abx_discharges_with_abx"], "negative-value")}),
    "ab-unknown-facility": ({"fid": None, "code": "X999", "name": "未知医院"},
                            {(SHEET02, FIXED02["facility_code"], "facility-unknown")}),
}

PARSE_FINDINGS = [("rv-error-cells", REVIEW, cell("review", "age", 15), "age", "年龄（岁）", "九十九"),
                  ("rv-error-cells", REVIEW, cell("review", "n_drugs", 15), "n_drugs", "药品品种", "两种"),
                  ("rv-sample-error-row", REVIEW, cell("review", "amount", 20), "amount", "处方金额（元）", "约12元"),
                  ("ab-error-form", CONSUMPTION, cell("consumption", "form_route", 0), "form_route", "剂型/给药途径",
                   "#REF!")]


def _build(con) -> None:
    for fid, name in FACILITIES:
        con.execute("INSERT INTO facilities (facility_id, valid_from, name, tier, ftype) "
                    "VALUES (?, DATE '2020-01-01', ?, '三级', '综合')", [fid, name])
    for sid, (kw, _) in REVIEW_QUIRKS.items():
        kw = dict(kw)
        add_review(con, sid, kw.pop("fid", "F001"), **kw)
    for sid, (kw, _) in ABX_QUIRKS.items():
        kw = dict(kw)
        add_antibiotic(con, sid, kw.pop("fid", "F001"), **kw)
    for sid, sheet, c, field, label, raw in PARSE_FINDINGS:
        code = "formula-error-value" if sid == "ab-error-form" else "value-not-number"
        row = make(code, field_zh=label, period=PERIOD, facility_id="F001", submission_id=sid, file=f"{sid}.xlsx",
                   sheet=sheet, cell=c, field=field, value=raw).as_row()
        con.execute(f"INSERT INTO findings ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                    list(row.values()))
    # bystanders: another month, a superseded and a held return — none may be touched
    add_review(con, "rv-other-month", "F002", period="2026-07", inbox="2026-07", change={0: {"age": 200}})
    add_review(con, "rv-superseded", "F002", status="superseded", change={0: {"age": 200}})
    add_antibiotic(con, "ab-held", "F002", status="held", consumption={0: {"qty_inpatient": -1}})


@pytest.fixture(scope="module")
def wh(tmp_path_factory):
    """A warehouse with the quirk returns of 2026-09 of both templates (+ bystanders), validated once."""
    from expectations.validate import validate

    root = tmp_path_factory.mktemp("validate_rx")
    con = connect(root / "warehouse.duckdb")
    _build(con)
    res = validate(con, root / "gx", root / "docs", period=PERIOD)
    yield con, root, res
    con.close()


def _found(con, sid: str, stage: str = "validate") -> set[tuple[str, str, str]]:
    return set(con.execute("SELECT sheet, cell, code FROM findings WHERE submission_id = ? AND stage = ?",
                           [sid, stage]).fetchall())


def _table(con) -> pd.DataFrame:
    return con.execute("SELECT * FROM findings ORDER BY finding_id").df()


@pytest.mark.parametrize("quirk", list(REVIEW_QUIRKS))
def test_review_rule_fails_and_passes(wh, quirk):
    con, _, _ = wh
    assert _found(con, quirk) == REVIEW_QUIRKS[quirk][1]


@pytest.mark.parametrize("quirk", list(ABX_QUIRKS))
def test_antibiotic_rule_fails_and_passes(wh, quirk):
    con, _, _ = wh
    assert _found(con, quirk) == ABX_QUIRKS[quirk][1]


def test_error_cells_keep_only_their_parse_findings(wh):
    con, _, _ = wh
    for sid in ("rv-error-cells", "ab-error-form"):
        rows = con.execute("SELECT stage, cell, code FROM findings WHERE submission_id = ?", [sid]).fetchall()
        assert {r[0] for r in rows} == {"parse"}, rows


def test_finding_details(wh):
    con, _, res = wh
    by = {(f.submission_id, f.code): f for f in res.findings}
    d = by[("rv-date-before", "rx-date-outside-period")]
    assert (d.severity, d.stage, d.value, d.expected, d.field, d.rule_id) == (
        "error", "validate", "2026-08-31", PERIOD, "rx_date", "rx_date_in_period")
    assert (d.period, d.facility_id, d.file) == (PERIOD, "F001", "rv-date-before.xlsx")
    assert d.message_zh == "「处方日期」2026-08-31 不在统计期 2026-09 内。"
    a = by[("rv-age-121", "value-out-of-range")]
    assert (a.value, a.expected) == ("121", "0–120") and a.message_zh == "「年龄（岁）」为 121，超出合理范围（0–120）。"
    assert by[("rv-no-drugs", "value-out-of-range")].expected == "≥1"
    u = by[("rv-unknown-code", "problem-code-unknown")]
    assert (u.value, u.field) == ("9-9、abc", "problem_codes") and "「9-9、abc」" in u.message_zh
    m = by[("rv-rational-with-codes", "rational-code-mismatch")]
    assert m.value == "1" and "本行填写了问题代码「1-7」" in m.message_zh
    assert "本行未填写问题代码" in by[("rv-irrational-without-codes", "rational-code-mismatch")].message_zh
    g = by[("rv-generic-exceeds", "part-exceeds-total")]
    assert (g.value, g.expected, g.message_zh) == ("3", "2", "「药品通用名数」3 大于 药品品种 2。")
    dup = by[("rv-duplicate", "rx-duplicate-row")]
    assert (dup.severity, dup.value, dup.expected) == ("warning", "17", "16")
    assert "处方日期、年龄（岁）、诊断、药品品种、处方金额（元）、处方医师" in dup.message_zh
    s = by[("rv-sample-too-small", "rx-sample-inadequate")]
    assert (s.severity, s.value, s.expected, s.field) == ("warning", "99", "100", "rxr_op_rx_total")
    assert "抽样99张" in s.message_zh and "100" in s.fix_zh
    p = by[("rv-sample-below-permille", "rx-sample-inadequate")]
    assert p.expected == "200" and "1‰" in p.message_zh
    assert "另有1行因数据有误未计入" in by[("rv-sample-error-row", "rx-sample-inadequate")].message_zh
    t = by[("ab-topical", "abx-out-of-scope")]
    assert (t.severity, t.value, t.field) == ("info", "红霉素眼膏", "generic_name")
    assert "不计入抗菌药物使用强度" in t.message_zh and "眼" in t.message_zh
    n = by[("ab-no-ddd", "ddd-not-covered")]
    assert (n.severity, n.value) == ("warning", "注射用头孢硫脒") and "DDD未覆盖" in n.message_zh
    r = by[("ab-route-unknown", "route-unknown")]
    assert (r.severity, r.value, r.field) == ("warning", "瓶装", "form_route")
    q = by[("ab-negative-qty", "negative-value")]
    assert q.value in ("-3", "-1") and q.message_zh.startswith("「")
    for f in res.findings:
        assert "None" not in f.message_zh + f.fix_zh and "{" not in f.message_zh + f.fix_zh


def test_statuses(wh):
    con, _, res = wh
    st = dict(con.execute("SELECT submission_id, status FROM submissions").fetchall())
    rejected = {"rv-unknown-facility", "ab-unknown-facility"}
    assert {q for q in list(REVIEW_QUIRKS) + list(ABX_QUIRKS) if st[q] == "rejected"} == rejected
    assert all(st[q] == "accepted" for q in list(REVIEW_QUIRKS) + list(ABX_QUIRKS) if q not in rejected)
    assert (st["rv-other-month"], st["rv-superseded"], st["ab-held"]) == ("received", "superseded", "held")
    assert _found(con, "rv-other-month") == _found(con, "rv-superseded") == _found(con, "ab-held") == set()
    assert res.n_expectations == 19 + 13 and res.n_rows > 0 and res.success is False


def test_data_docs_per_template(wh):
    _, root, _ = wh
    assert (root / "docs" / "index.html").is_file()
    pages = list((root / "docs" / "validations").rglob("*.html"))
    assert {p.relative_to(root / "docs" / "validations").parts[0] for p in pages} == {"rx_antibiotic", "rx_review"}


def test_rerun_is_identical_and_silent(wh, capfd):
    """Validating again (fresh GX project too) leaves the findings table and statuses exactly as they were."""
    from expectations.validate import validate

    con, root, first = wh
    before = _table(con)
    status = con.execute("SELECT submission_id, status FROM submissions ORDER BY 1").fetchall()
    capfd.readouterr()
    again = validate(con, root / "gx-fresh", root / "docs", period=PERIOD)
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")
    pd.testing.assert_frame_equal(_table(con), before)
    assert con.execute("SELECT submission_id, status FROM submissions ORDER BY 1").fetchall() == status
    assert [f.as_row() for f in again.findings] == [f.as_row() for f in first.findings]
    assert len(list((root / "docs" / "validations").rglob("*.html"))) == 2  # each suite's result replaced


def test_one_call_validates_every_template(tmp_path):
    """Returns of all three templates in one batch: each judged by its own suite, statuses settled together."""
    from expectations.validate import validate
    from tests.test_validate import CELL, SHEET, add_return

    con = connect(tmp_path / "w.duckdb")
    for fid, name in FACILITIES:
        con.execute("INSERT INTO facilities (facility_id, valid_from, name, tier, ftype) "
                    "VALUES (?, DATE '2020-01-01', ?, '三级', '综合')", [fid, name])
    add_return(con, "ops", "F001", values={"svc_bed": -5.0})
    add_review(con, "rv", "F001", change={3: {"age": 130}})
    add_antibiotic(con, "ab", "F001", consumption={1: {"qty_inpatient": -2}})
    add_review(con, "rv-unknown", None, code="X1", name="某医院")
    res = validate(con, tmp_path / "gx", tmp_path / "docs", submission_ids=["ops", "rv", "ab", "rv-unknown"])
    assert {(f.submission_id, f.sheet, f.cell, f.code) for f in res.findings} == {
        ("ops", SHEET, CELL["svc_bed"], "negative-value"), ("rv", *R("age", 3, "value-out-of-range")),
        ("ab", *C("qty_inpatient", 1, "negative-value")),
        ("rv-unknown", SHEET03, FIXED03["facility_code"], "facility-unknown")}
    st = dict(con.execute("SELECT submission_id, status FROM submissions").fetchall())
    assert st == {"ops": "accepted", "rv": "accepted", "ab": "accepted", "rv-unknown": "rejected"}
    suites = REPO / "expectations" / "suites"
    assert res.n_expectations == sum(len(json.loads((suites / f"{n}.json").read_text())["expectations"])
                                     for n in ("op_monthly", "rx_review", "rx_antibiotic"))
    assert len(list((tmp_path / "docs" / "validations").rglob("*.html"))) == 3
    # a rejected return is judged again on the next run and accepted once its facility is registered
    con.execute("UPDATE submissions SET facility_id = 'F002', header_code = 'F002', header_name = '市中医院' "
                "WHERE submission_id = 'rv-unknown'")
    validate(con, tmp_path / "gx", None, submission_ids=["rv-unknown"])
    assert con.execute("SELECT status FROM submissions WHERE submission_id = 'rv-unknown'").fetchone() == ("accepted",)
    assert _found(con, "rv-unknown") == set()
    con.close()


def _bench_review(con, n_returns: int, n_rows: int) -> None:
    """n_returns JX-YB03 returns of n_rows rows each, inserted column-wise (a few quirks per return)."""
    fac = pd.DataFrame({"facility_id": [f"F{i:04d}" for i in range(n_returns)],
                        "valid_from": pd.Timestamp("2020-01-01"), "name": [f"医院{i}" for i in range(n_returns)],
                        "tier": "三级", "ftype": "综合"})
    ids = [f"s{i:04d}" for i in range(n_returns)]
    subs = pd.DataFrame({"submission_id": ids, "sha256": "0" * 64, "original_name": [f"{s}.xlsx" for s in ids],
                         "inbox_period": PERIOD, "facility_id": fac["facility_id"], "period": PERIOD,
                         "template_id": "JX-YB03", "template_version": "2026.1",
                         "received_at": pd.Timestamp("2026-10-01"), "received_source": "manifest",
                         "status": "received", "header_name": fac["name"], "header_code": fac["facility_id"]})
    vals = pd.DataFrame({"submission_id": ids, "field": "rxr_op_rx_total", "value": 500000.0, "raw_text": "500000",
                         "sheet": SHEET03, "cell": FIXED03["rxr_op_rx_total"], "status": "ok"})
    base = table_cells("x", "review", [review_row(i) | ({"rational": 0, "problem_codes": "1-7、2-5"} if i % 10 == 3
                                                        else {}) for i in range(n_rows)])
    one = pd.DataFrame(base, columns=ROW_COLUMNS)
    for c in ("text", "raw_text"):
        one[c] = one[c].astype(object)
    con.register("fac", fac)
    con.register("subs", subs)
    con.register("vals", vals)
    con.register("one", one)
    con.execute("INSERT INTO facilities BY NAME SELECT * FROM fac")
    con.execute("INSERT INTO submissions BY NAME SELECT * FROM subs")
    con.execute("INSERT INTO return_values SELECT * FROM vals")
    con.execute("INSERT INTO return_rows SELECT s.submission_id, o.tbl, o.row_no, o.field,"
                " CASE WHEN o.field = 'age' AND o.row_no = 10 AND s.i % 10 = 0 THEN 130 ELSE o.value END,"
                " o.text, o.raw_text, o.sheet, o.cell, o.status"
                " FROM one AS o,"
                " (SELECT submission_id, row_number() OVER (ORDER BY submission_id) - 1 AS i FROM subs) AS s")


def test_review_returns_validate_quickly(tmp_path):
    """20 returns × 1,000 rows (the bench is 1,000 × 1,000: see the report); bound kept loose."""
    from expectations.validate import validate

    con = connect(tmp_path / "w.duckdb")
    _bench_review(con, 20, 1000)
    t = time.perf_counter()
    res = validate(con, tmp_path / "gx", tmp_path / "docs", period=PERIOD)
    elapsed = time.perf_counter() - t
    assert {(f.code, f.cell) for f in res.findings} == {("value-out-of-range", cell("review", "age", 10 - 4))}
    assert len(res.findings) == 2 and res.n_rows > 20 * 1000 * 15
    assert elapsed < 30, f"validation of 20 review returns × 1,000 rows took {elapsed:.2f} s"
    con.close()
