"""The bureau's review: state transitions, waivers, corrections (read by the indicators), outlier confirmations,
the validation history, and cell-level diffs between versions — on a real DuckDB warehouse."""
from __future__ import annotations

import datetime as dt

import pytest

from expectations.findings import make
from warehouse import review
from warehouse.compute import aggregate_fields, blocked_fields
from warehouse.db import connect
from warehouse.diff import diff, diff_lines

PERIOD = "2026-09"
T0 = dt.datetime(2026, 10, 8, 9, 0)


def _sub(con, sid: str, fid: str = "F001", *, status: str = "accepted", received: dt.datetime = T0,
         values: dict | None = None, rows: list | None = None) -> None:
    con.execute("INSERT INTO submissions (submission_id, sha256, original_name, inbox_period, facility_id, period, "
                "template_id, template_version, received_at, received_source, status, parsed) VALUES "
                "(?, ?, ?, ?, ?, ?, 'JX-YB01', '2026.1', ?, 'manifest', ?, TRUE)",
                [sid, (sid * 64)[:64], f"{sid}.xlsx", PERIOD, fid, PERIOD, received, status])
    cells = {"oe_visits": "C8", "discharges": "C9", "drug_revenue": "C20", "med_revenue": "C15"}
    for field, v in (values or {}).items():
        con.execute("INSERT INTO return_values VALUES (?, ?, ?, ?, '运营与药品', ?, ?)",
                    [sid, field, v, None if v is None else str(v), cells[field], "ok" if v is not None else "blank"])
    for tbl, row_no, field, text, cell in rows or []:
        con.execute("INSERT INTO return_rows VALUES (?, ?, ?, ?, NULL, ?, ?, '明细', ?, 'ok')",
                    [sid, tbl, row_no, field, text, text, cell])


def _finding(con, sid: str, code: str, field: str, cell: str, severity: str | None = None) -> str:
    f = make(code, severity=severity, field_zh=field, period=PERIOD, facility_id="F001", submission_id=sid,
             file=f"{sid}.xlsx", sheet="运营与药品", cell=cell, field=field, value="1")
    row = f.as_row()
    con.execute(f"INSERT INTO findings ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", list(row.values()))
    return row["finding_id"]


@pytest.fixture()
def con(tmp_path):
    c = connect(tmp_path / "warehouse.duckdb")
    c.execute("INSERT INTO facilities (facility_id, valid_from, name, tier, ftype) VALUES "
              "('F001', '2020-01-01', '市第一人民医院', '三级', '综合')")
    yield c
    c.close()


def test_state_transitions_follow_the_policy(con):
    _sub(con, "s1", values={"oe_visits": 100.0})
    err = _finding(con, "s1", "negative-value", "oe_visits", "C8")
    _finding(con, "s1", "unit-suspect", "oe_visits", "C8")
    assert review.current_state(con, "s1") == "pending"
    # approval is refused while an error is open
    out = review.set_state(con, "s1", "approved", "张审核", now=T0)
    assert (out.ok, out.message_zh) == (False, "报送 s1 仍有 1 个未处理的错误（negative-value），请退回医院更正，"
                                               "或逐条豁免（review waive）/更正（review correct）后再通过")
    # a return needs a reason, and records the open error and warning behind it
    assert review.set_state(con, "s1", "returned", "张审核", now=T0).message_zh == "改为「退回」须填写原因（--reason）"
    out = review.set_state(con, "s1", "returned", "张审核", reason="药品收入填报有误", now=T0)
    assert (out.ok, out.message_zh) == (True, "报送 s1：待审 → 退回，依据 2 条问题")
    assert con.execute("SELECT len(finding_ids) FROM review_events WHERE event_id = ?", [out.record_id]).fetchone() == (2,)
    # returned → pending is not a transition; returned → approved needs the error waived first
    assert review.set_state(con, "s1", "pending", "张审核").message_zh == "报送 s1 当前为「退回」，不能改为「待审」"
    assert review.waive(con, err, "李科长", "经电话核实为退费冲减", now=T0).ok
    out = review.set_state(con, "s1", "approved", "李科长", now=T0 + dt.timedelta(hours=1))
    assert (out.ok, out.message_zh) == (True, "报送 s1：退回 → 通过")
    assert review.current_state(con, "s1") == "approved"
    states = review.review_states(con, PERIOD)
    assert [(s["submission_id"], s["review_state"], s["open_errors"], s["open_warnings"]) for s in states] == \
        [("s1", "approved", 0, 1)]
    # every event is kept
    assert con.execute("SELECT state FROM review_events ORDER BY acted_at").fetchall() == [("returned",), ("approved",)]


def test_only_the_current_version_is_reviewed(con):
    _sub(con, "old", status="superseded")
    out = review.set_state(con, "old", "approved", "张审核")
    assert out.message_zh == "报送 old（old.xlsx）状态为「已被替代」，只能审核当前有效版本"
    assert review.set_state(con, "nope", "approved", "张审核").message_zh == "没有报送记录 nope"


def test_waiver_unblocks_the_field_and_can_be_revoked(con):
    _sub(con, "s1", values={"oe_visits": -5.0})
    fid = _finding(con, "s1", "negative-value", "oe_visits", "C8")
    assert blocked_fields(con, PERIOD) == {"F001": {"oe_visits"}}
    out = review.waive(con, fid, "李科长", "核实无误", now=T0)
    assert out.ok and out.message_zh == f"已豁免问题 {fid}（negative-value，运营与药品!C8）"
    assert review.waive(con, fid, "李科长", "再次").message_zh == f"问题 {fid} 已豁免"
    assert blocked_fields(con, PERIOD) == {}
    assert review.revoke_waiver(con, out.record_id, "王处长", "豁免依据不足", now=T0).ok
    assert blocked_fields(con, PERIOD) == {"F001": {"oe_visits"}}
    row = con.execute("SELECT reason, actor, revoked_by, revoke_reason FROM finding_waivers").fetchone()
    assert row == ("核实无误", "李科长", "王处长", "豁免依据不足")


def test_correction_is_read_by_the_indicators_and_keeps_the_submitted_value(con):
    _sub(con, "s1", values={"oe_visits": 1000.0, "drug_revenue": 15000000.0})
    _finding(con, "s1", "unit-suspect", "drug_revenue", "C20", severity="error")
    out = review.correct(con, "F001", PERIOD, "drug_revenue", 1500.0, "李科长", "医院来函：误填为元", now=T0)
    assert (out.ok, out.message_zh) == (True, "已更正 F001 2026-09 drug_revenue（运营与药品!C20）：15000000 → 1500")
    agg = aggregate_fields(con, PERIOD)
    assert float(agg["F001"]["drug_revenue"]) == 1500.0
    assert blocked_fields(con, PERIOD) == {}
    assert con.execute("SELECT value FROM return_values WHERE field = 'drug_revenue'").fetchone() == (15000000.0,)
    # a later correction wins
    review.correct(con, "F001", PERIOD, "drug_revenue", 1600.0, "李科长", "二次核实", now=T0 + dt.timedelta(days=1))
    assert float(aggregate_fields(con, PERIOD)["F001"]["drug_revenue"]) == 1600.0
    assert review.correct(con, "F001", PERIOD, "nope", 1, "李科长", "x").message_zh == \
        "机构 F001 统计期 2026-09 的当前报表中没有填报项 nope"


def test_outlier_confirmation_is_keyed_by_value(con):
    _sub(con, "s1", values={"oe_visits": 98765.0})
    out = review.confirm_outlier(con, "F001", PERIOD, "oe_visits", "李科长", "新院区开诊", now=T0)
    assert out.message_zh == "已确认 F001 2026-09 oe_visits = 98765 无误，此值不再提示异常"
    assert review.confirmed_values(con, PERIOD) == {("F001", PERIOD, "oe_visits", "98765")}


def test_validation_history_keeps_every_run(con):
    _sub(con, "s1", values={"oe_visits": 1.0})
    _finding(con, "s1", "negative-value", "oe_visits", "C8")
    review.record_validation(con, "run-1", PERIOD, now=T0)
    con.execute("DELETE FROM findings")  # the hospital fixed it; the next validation finds nothing
    review.record_validation(con, "run-2", PERIOD, now=T0 + dt.timedelta(days=1))
    review.record_validation(con, "run-2", PERIOD, now=T0 + dt.timedelta(days=1))  # a rerun replaces its own rows
    assert con.execute("SELECT run_id, n_findings, n_errors FROM validation_runs ORDER BY run_id").fetchall() == \
        [("run-1", 1, 1), ("run-2", 0, 0)]
    assert con.execute("SELECT run_id, code, cell FROM findings_history").fetchall() == \
        [("run-1", "negative-value", "C8")]


def test_diff_between_versions(con):
    _sub(con, "v1", values={"oe_visits": 1000.0, "discharges": 50.0, "drug_revenue": 12.5},
         rows=[("rx", 5, "drug_name", "阿莫西林", "B5"), ("rx", 6, "drug_name", "头孢呋辛", "B6")],
         received=T0, status="superseded")
    _sub(con, "v2", values={"oe_visits": 1200.0, "discharges": 50.0, "drug_revenue": None},
         rows=[("rx", 5, "drug_name", "阿莫西林", "B5"), ("rx", 6, "drug_name", "头孢曲松", "B6"),
               ("rx", 7, "drug_name", "左氧氟沙星", "B7")],
         received=T0 + dt.timedelta(days=2))
    vs, changes = diff(con, "F001", PERIOD)
    assert [(v.version, v.submission_id) for v in vs] == [(1, "v1"), (2, "v2")]
    assert [(c.where, c.field, c.old, c.new) for c in changes] == [
        ("运营与药品!C8", "oe_visits", "1000", "1200"),
        ("运营与药品!C20", "drug_revenue", "12.5", ""),
        ("明细!B6", "drug_name", "头孢呋辛", "头孢曲松"),
        ("明细!B7", "drug_name", "", "左氧氟沙星"),
    ]
    lines = diff_lines(con, "F001", PERIOD)
    assert lines[0] == "机构 F001，统计期 2026-09"
    assert lines[1] == "报表 JX-YB01：共 2 个版本"
    assert lines[4] == "  版本 1 → 版本 2：4 处修改"
    assert lines[5].startswith("    运营与药品!C8  oe_visits 「")
    assert lines[5].endswith("」：1000 → 1200")
    assert lines[7].endswith("：头孢呋辛 → 头孢曲松")
    assert diff_lines(con, "F009", PERIOD) == ["无报送记录：机构 F009，统计期 2026-09"]


def test_auditor_trail_sheets(con, tmp_path):
    import openpyxl

    from templates_xlsx.audit_report import write_audit_workbook

    _sub(con, "v1", values={"oe_visits": 1000.0, "drug_revenue": 12.5}, received=T0, status="superseded")
    _sub(con, "v2", values={"oe_visits": 1200.0, "drug_revenue": 12.5}, received=T0 + dt.timedelta(days=2))
    fid = _finding(con, "v2", "negative-value", "oe_visits", "C8")
    con.execute("UPDATE findings SET rule_id = 'non_negative' WHERE finding_id = ?", [fid])
    review.waive(con, fid, "李科长", "退费冲减", now=T0 + dt.timedelta(days=3))
    review.set_state(con, "v2", "approved", "李科长", now=T0 + dt.timedelta(days=3, hours=1))
    review.correct(con, "F001", PERIOD, "drug_revenue", 13.0, "王处长", "来函更正", now=T0 + dt.timedelta(days=4))
    wb = openpyxl.load_workbook(write_audit_workbook(con, PERIOD, tmp_path / "a.xlsx"))
    vals = lambda name: [list(r) for r in wb[name].iter_rows(min_row=2, values_only=True)]  # noqa: E731
    assert vals("审核状态") == [["F001", "JX-YB01", "v2", "v2.xlsx", T0 + dt.timedelta(days=2), "通过", 0, 0, "李科长",
                              T0 + dt.timedelta(days=3, hours=1), None]]
    rules = {r[1]: r for r in vals("规则通过率")}
    assert rules["non_negative"][5:9] == [1, 1, 1, 0]          # 1 return checked, 1 failing, 1 finding, 0 % pass
    assert rules["required"][5:9] == [1, 0, 0, 1]
    actions = vals("审核操作记录")
    assert [(a[1], a[2], a[5], a[6], a[7], a[8], a[9]) for a in actions] == [
        ("豁免", "李科长", "运营与药品!C8", "negative-value", None, "已豁免", "退费冲减"),
        ("审核", "李科长", None, "JX-YB01", None, "通过", None),
        ("更正", "王处长", "运营与药品!C20", "drug_revenue", 12.5, 13, "来函更正"),
    ]
    assert [r[:8] for r in vals("修订记录")] == [["F001", "JX-YB01", "1→2", "运营与药品!C8", "oe_visits",
                                                  "「门急诊人次」", "1000", "1200"]]


def test_outlier_review_reads_corrected_values(con):
    from warehouse.outliers import read_values

    _sub(con, "s1", values={"oe_visits": 1000.0, "drug_revenue": 15000000.0})
    review.correct(con, "F001", PERIOD, "drug_revenue", 1500.0, "李科长", "误填为元", now=T0)
    got = read_values(con, PERIOD)
    row = got[(got.facility_id == "F001") & (got.field == "drug_revenue") & (got.period == PERIOD)]
    assert list(row.value) == [1500.0]
