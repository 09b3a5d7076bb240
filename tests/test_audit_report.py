"""The auditor's workbook: facility status, every finding with its cell, counts — text from returns stays text."""
from __future__ import annotations

import datetime as dt

import openpyxl
import pytest

from expectations.findings import make
from templates_xlsx.audit_report import write_audit_workbook
from warehouse.db import connect

PERIOD = "2026-09"
SHEET = "运营与药品"
EVIL = '=HYPERLINK("http://example.invalid/x","点我")'


def _insert(con, table: str, row: dict) -> None:
    con.execute(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", list(row.values()))


def _sub(con, sid: str, fid: str | None, status: str, *, name: str | None = None, code: str | None = None,
         period: str = PERIOD, hour: int = 9) -> None:
    _insert(con, "submissions", {
        "submission_id": sid, "sha256": "0" * 64, "original_name": f"{sid}.xlsx", "inbox_period": period,
        "facility_id": fid, "period": period, "template_id": "JX-YB01", "template_version": "2026.1",
        "received_at": dt.datetime(2026, 10, 5, hour, 0), "received_source": "manifest", "status": status,
        "header_name": name, "header_code": code or fid, "header_period": period})


def _finding(con, code: str, sid: str, fid: str | None, cell: str, field: str, **kw) -> None:
    f = make(code, period=PERIOD, facility_id=fid, submission_id=sid, file=f"{sid}.xlsx", sheet=SHEET, cell=cell,
             field=field, rule_id=kw.pop("rule_id", None), **kw)
    _insert(con, "findings", f.as_row())


@pytest.fixture(scope="module")
def workbook(tmp_path_factory):
    """A month with one accepted, one returned, one missing facility and a return of an unknown facility."""
    root = tmp_path_factory.mktemp("audit")
    con = connect(root / "w.duckdb")
    for fid, name, frm, to in [("F001", "市第一人民医院", "2020-01-01", None), ("F002", "市中医院", "2020-01-01", None),
                               ("F003", "县人民医院", "2020-01-01", None), ("F009", "已撤销医院", "2020-01-01", "2026-01-01")]:
        _insert(con, "facilities", {"facility_id": fid, "valid_from": frm, "valid_to": to, "name": name,
                                    "tier": "三级", "ftype": "综合"})
    # a township health centre files other returns, not this template: never "expected" here
    _insert(con, "facilities", {"facility_id": "F010", "valid_from": "2020-01-01", "name": "青山镇卫生院",
                                "tier": "基层", "ftype": "乡镇卫生院"})
    _sub(con, "a-ok", "F001", "accepted", name=EVIL)
    _sub(con, "a-old", "F001", "superseded", name="市第一人民医院", hour=8)
    _sub(con, "b-bad", "F002", "rejected", name="市中医院")
    _sub(con, "x-unknown", None, "rejected", name=EVIL, code="-X999")
    _finding(con, "sum-mismatch", "a-ok", "F001", "E17", "drug_revenue", value="1700", expected="1600",
             field_zh="药品收入合计", detail="门急诊药品收入、住院药品收入", rule_id="drug_revenue_sum")
    _finding(con, "negative-value", "a-ok", "F001", "E22", "svc_bed", value="-5", expected="≥0", field_zh="床位收入")
    _finding(con, "facility-name-mismatch", "a-ok", "F001", "B3", "facility_name", value=EVIL,
             expected="市第一人民医院")
    _finding(con, "unit-suspect", "b-bad", "F002", "E12", "med_revenue", value="50000000", expected="5000",
             field_zh="医疗收入", detail="门急诊人次、出院人次")
    _finding(con, "facility-unknown", "x-unknown", None, "E3", "facility_code", value="-X999")
    _finding(con, "negative-value", "a-old", "F001", "E22", "svc_bed", value="-9", expected="≥0")  # superseded
    # filed for this month, but its 统计期 says August: it lost to August's real return, the hospital must fix it
    _sub(con, "c-misfiled", "F003", "superseded", name="县人民医院")
    con.execute("UPDATE submissions SET period = '2026-08' WHERE submission_id = 'c-misfiled'")
    _finding(con, "period-mismatch", "c-misfiled", "F003", "B4", "period", value="2026-08", expected=PERIOD)
    path = write_audit_workbook(con, PERIOD, root)
    again = write_audit_workbook(con, PERIOD, root / "again.xlsx")
    con.close()
    return path, again


def _rows(ws) -> list[tuple]:
    return list(ws.iter_rows(values_only=True))


def test_file_name_sheets_and_layout(workbook):
    path, again = workbook
    assert path.name == f"审核报告_{PERIOD}.xlsx"
    assert path.read_bytes() == again.read_bytes()  # deterministic bytes for equal content
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["机构状态", "问题明细", "说明", "审核状态", "规则通过率", "审核操作记录", "修订记录"]
    for name in ("机构状态", "问题明细"):
        ws = wb[name]
        assert ws.freeze_panes == "A2"
        assert ws.auto_filter.ref and ws.auto_filter.ref.startswith("A1:")
        assert ws["A1"].font.bold and ws.column_dimensions["B"].width > 10


def test_facility_status(workbook):
    wb = openpyxl.load_workbook(workbook[0])
    rows = _rows(wb["机构状态"])
    assert rows[0] == ("机构编码", "名称", "同组", "报送状态", "文件名", "接收时间", "错误数", "警告数")
    got = {r[0]: (r[1], r[2], r[3], r[4], r[6], r[7]) for r in rows[1:]}
    assert got == {
        "F001": ("市第一人民医院", "三级综合", "已报", "a-ok.xlsx", 2, 1),
        "F002": ("市中医院", "三级综合", "退回", "b-bad.xlsx", 0, 1),
        "F003": ("县人民医院", "三级综合", "未报", None, None, None),
        # a township centre files the 基层 return (JX-JC01) since issue 4: expected, and missing here
        "F010": ("青山镇卫生院", "基层", "未报", None, None, None),
        "'-X999": ("'" + EVIL, None, "退回", "x-unknown.xlsx", 1, 0),
    }
    assert rows[1][5] == dt.datetime(2026, 10, 5, 9, 0)


def test_findings_detail(workbook):
    wb = openpyxl.load_workbook(workbook[0])
    rows = _rows(wb["问题明细"])
    assert rows[0] == ("机构编码", "名称", "文件", "位置", "代码", "严重程度", "字段", "填报值", "期望值", "问题说明",
                       "修改建议")
    got = [(r[0], r[2], r[3], r[4], r[5], r[6], r[7], r[8]) for r in rows[1:]]
    assert got == [
        ("F001", "a-ok.xlsx", f"{SHEET}!E17", "sum-mismatch", "错误", "药品收入合计", 1700, 1600),
        ("F001", "a-ok.xlsx", f"{SHEET}!E22", "negative-value", "错误", "床位收入", -5, "≥0"),
        ("F001", "a-ok.xlsx", f"{SHEET}!B3", "facility-name-mismatch", "警告", "填报单位（盖章）", "'" + EVIL,
         "市第一人民医院"),
        ("F002", "b-bad.xlsx", f"{SHEET}!E12", "unit-suspect", "警告", "医疗收入", 50000000, 5000),
        ("F003", "c-misfiled.xlsx", f"{SHEET}!B4", "period-mismatch", "警告", "统计期", "2026-08", PERIOD),
        ("'-X999", "x-unknown.xlsx", f"{SHEET}!E3", "facility-unknown", "错误", "机构编码", "'-X999", None),
    ]
    assert rows[1][1] == "市第一人民医院" and rows[6][1] == "'" + EVIL
    assert all(r[9] and r[10] for r in rows[1:])


def test_formula_looking_text_is_stored_as_text(workbook):
    wb = openpyxl.load_workbook(workbook[0])
    cells = [c for ws in wb for row in ws.iter_rows() for c in row if c.value is not None]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    assert any(c.value == "'" + EVIL and c.data_type == "s" for c in cells)


def test_about_sheet_counts(workbook):
    wb = openpyxl.load_workbook(workbook[0])
    rows = {r[0]: r[1:] for r in _rows(wb["说明"]) if r[0]}
    assert rows["统计期"][0] == PERIOD
    assert (rows["应报机构数"][0], rows["已报"][0], rows["未报"][0], rows["退回"][0]) == (4, 1, 2, 1)
    assert rows["未能识别机构的报送文件"][0] == 1
    assert (rows["问题总数"][0], rows["其中：错误"][0], rows["其中：警告"][0]) == (6, 3, 3)
    assert rows["negative-value"][:2] == ("错误", 1) and rows["unit-suspect"][:2] == ("警告", 1)
