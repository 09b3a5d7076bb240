"""The outlier review over a real DuckDB warehouse: which values are read (accepted returns, latest received,
baseline only where no return carries the item), confirmations recorded by the review, findings on the cells."""
from __future__ import annotations

import datetime as dt

import pytest

from metrics.quality.outliers import to_findings
from warehouse import review
from warehouse.db import connect, insert_rows
from warehouse.outliers import detect_period, impact_period, read_cells, read_values

P = "2026-10"
T0 = dt.datetime(2026, 11, 5, 9, 0)
# 三级综合 F01–F12, oe_visits as in test_quality_outliers: median 103 → F11 (160) extreme, F12 (150) moderate
VISITS = [90, 92, 94, 96, 98, 102, 104, 106, 108, 110, 160, 150]
CELLS = {"oe_visits": "C8", "med_revenue": "C15"}


def _sub(con, sid: str, fid: str, period: str, values: dict, *, status: str = "accepted",
         received: dt.datetime = T0) -> None:
    con.execute("INSERT INTO submissions (submission_id, sha256, original_name, inbox_period, facility_id, period, "
                "template_id, template_version, received_at, received_source, status, parsed) VALUES "
                "(?, ?, ?, ?, ?, ?, 'JX-YB01', '2026.1', ?, 'manifest', ?, TRUE)",
                [sid, (sid * 64)[:64], f"{sid}.xlsx", period, fid, period, received, status])
    for field, v in values.items():
        con.execute("INSERT INTO return_values VALUES (?, ?, ?, ?, '运营与药品', ?, ?)",
                    [sid, field, v, None if v is None else str(v), CELLS[field], "ok" if v is not None else "blank"])


@pytest.fixture()
def con(tmp_path):
    c = connect(tmp_path / "warehouse.duckdb")
    insert_rows(c, "facilities", [{"facility_id": f"F{i:02d}", "valid_from": dt.date(2020, 1, 1),
                                   "name": f"医院{i}", "tier": "三级", "ftype": "综合"} for i in range(1, 13)])
    for i, v in enumerate(VISITS, 1):
        fid = f"F{i:02d}"
        values = {"oe_visits": float(v)}
        if fid in ("F01", "F02"):
            values["med_revenue"] = 1000.0
        _sub(c, f"s{i:02d}", fid, P, values)
    # F12: an earlier return of the month (superseded) and a rejected one are never read
    _sub(c, "s12-old", "F12", P, {"oe_visits": 9999.0}, status="superseded", received=T0 - dt.timedelta(days=2))
    _sub(c, "s12-bad", "F12", P, {"oe_visits": 1.0}, status="rejected", received=T0 + dt.timedelta(days=1))
    # F11: a second accepted return received later wins (latest received)
    _sub(c, "s11-new", "F11", P, {"oe_visits": 160.0}, received=T0 + dt.timedelta(hours=1))
    # last year: F01 only in the baseline (500 → 1000 = +100 %, |500| ≥ 20 万元 → warning);
    # F02 has a return for 2025-10 (800 → 1000 = +25 %), so its baseline row (100) is not used
    _sub(c, "s02-ly", "F02", "2025-10", {"med_revenue": 800.0})
    insert_rows(c, "baseline_values", [
        {"facility_id": "F01", "period": "2025-10", "field": "med_revenue", "value": 500.0},
        {"facility_id": "F02", "period": "2025-10", "field": "med_revenue", "value": 100.0}])
    yield c
    c.close()


def test_reader_precedence(con) -> None:
    df = read_values(con, P)
    got = {(r.facility_id, r.period, r.field): (r.value, r.source) for r in df.itertuples()}
    assert got[("F12", P, "oe_visits")] == (150.0, "returns")
    assert got[("F11", P, "oe_visits")] == (160.0, "returns")
    assert got[("F01", "2025-10", "med_revenue")] == (500.0, "baseline")
    assert got[("F02", "2025-10", "med_revenue")] == (800.0, "returns")
    assert len(df) == 12 + 2 + 2
    assert read_cells(con, P)[("F11", "oe_visits")] == ("s11-new", "s11-new.xlsx", "运营与药品", "C8")


def test_detect_confirm_and_findings_on_cells(con) -> None:
    outs = detect_period(con, P)
    assert [(o.facility_id, o.field, o.method, o.level, o.confirmed) for o in outs] == [
        ("F01", "med_revenue", "yoy", "warning", False),
        ("F11", "oe_visits", "peer_mad", "extreme", False),
        ("F11", "oe_visits", "peer_z", "moderate", False),
        ("F12", "oe_visits", "peer_mad", "moderate", False),
    ]
    # the analyst confirms F12's 150 through the review: it stays in the record, as info
    assert review.confirm_outlier(con, "F12", P, "oe_visits", "李科长", "新院区开诊", now=T0).ok
    outs = detect_period(con, P)
    findings = to_findings(outs, read_cells(con, P))
    assert [(f.facility_id, f.sheet, f.cell, f.code, f.severity) for f in findings] == [
        ("F01", "运营与药品", "C15", "quality-yoy-change", "warning"),
        ("F11", "运营与药品", "C8", "quality-peer-mad", "warning"),
        ("F11", "运营与药品", "C8", "quality-peer-z", "warning"),
        ("F12", "运营与药品", "C8", "quality-confirmed", "info"),
    ]
    assert findings[0].message_zh == ("「医疗收入」本月 1000.00，与上年同期相比变化过大：上年同期（2025-10）为 500.00，本月变化 "
                                      "+100.0%（预警阈值 ±33%，且变化量 ≥ 20万元）。")
    assert (findings[0].submission_id, findings[0].file) == ("s01", "s01.xlsx")
    rows = [f.as_row() for f in findings]
    insert_rows(con, "findings", rows)
    assert con.execute("SELECT count(*) FROM findings WHERE stage = 'quality'").fetchone() == (4,)
    # impact under scheme 2026 and under the standardised 2026_std: every non-confirmed outlier gets one row
    for version in ("2026", "2026_std"):
        ranked = impact_period(con, P, outs, version)
        assert sorted((o.facility_id, o.method) for o, _ in ranked) == [
            ("F01", "yoy"), ("F11", "peer_mad"), ("F11", "peer_z")]
