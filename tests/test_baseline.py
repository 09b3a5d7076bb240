"""Baseline import: headers by code or Chinese label, bad cells as findings, upsert, idempotence, template."""
from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import openpyxl
import pytest
from python_calamine import CalamineWorkbook

from metrics.catalog import load_fields
from warehouse.baseline import import_baseline, parse_month, read_baseline, write_baseline_template
from warehouse.db import connect


def _write(path: Path, rows: list[list]) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "基线"
    for r in rows:
        ws.append(r)
    wb.save(path)
    return path


@pytest.fixture
def baseline_with_bad_cell(tmp_path: Path) -> Path:
    return _write(tmp_path / "baseline-text-in-number.xlsx", [
        ["机构编码", "统计期", "oe_visits", "出院人次", "医疗收入（万元）", "备注"],
        ["JZ0001", "2025-10", 52000, 2100, 4321.5, None],
        ["JZ0001", "2025年11月", "约1200", 2050, "4,400.25", None],
        ["JZ0002", "2025年13月", 9000, 400, 500, None],
        [None, "2025-10", 1, 1, 1, None],
        ["jz0002", dt.date(2025, 10, 1), 9100, None, 512.3, "补报"],
        ["JZ0002", "2025/10", 9200, 410, 520, None],
    ])


def _table(con) -> list[tuple]:
    return con.execute("SELECT * FROM baseline_values ORDER BY facility_id, period, field").fetchall()


def test_import_with_bad_cell(baseline_with_bad_cell: Path, tmp_path: Path) -> None:
    con = connect(tmp_path / "w.duckdb")
    n, findings = import_baseline(con, baseline_with_bad_cell)
    assert [(f.sheet, f.cell, f.code) for f in findings] == [
        ("基线", "F1", "baseline-column-unknown"),
        ("基线", "C3", "value-not-number"),
        ("基线", "B4", "baseline-period-invalid"),
        ("基线", "A5", "baseline-facility-missing"),
        ("基线", "A7", "baseline-duplicate-row"),
    ]
    bad = findings[1]
    assert (bad.field, bad.value, bad.facility_id, bad.period) == ("oe_visits", "约1200", "JZ0001", "2025-11")
    assert "门急诊人次" in bad.message_zh
    assert n == 7
    assert _table(con) == [
        ("JZ0001", "2025-10", "discharges", 2100.0, "baseline-text-in-number.xlsx", "基线", "D2"),
        ("JZ0001", "2025-10", "med_revenue", 4321.5, "baseline-text-in-number.xlsx", "基线", "E2"),
        ("JZ0001", "2025-10", "oe_visits", 52000.0, "baseline-text-in-number.xlsx", "基线", "C2"),
        ("JZ0001", "2025-11", "discharges", 2050.0, "baseline-text-in-number.xlsx", "基线", "D3"),
        ("JZ0001", "2025-11", "med_revenue", 4400.25, "baseline-text-in-number.xlsx", "基线", "E3"),
        ("JZ0002", "2025-10", "med_revenue", 512.3, "baseline-text-in-number.xlsx", "基线", "E6"),
        ("JZ0002", "2025-10", "oe_visits", 9100.0, "baseline-text-in-number.xlsx", "基线", "C6"),
    ]


def test_import_is_idempotent_and_upserts(baseline_with_bad_cell: Path, tmp_path: Path) -> None:
    con = connect(tmp_path / "w.duckdb")
    import_baseline(con, baseline_with_bad_cell)
    first = _table(con)
    n, _ = import_baseline(con, baseline_with_bad_cell)
    assert n == 7 and _table(con) == first
    # a later file corrects one value and adds one; the other stored values stay
    fix = _write(tmp_path / "baseline-fix.xlsx", [["机构编码", "统计期", "门急诊人次"], ["JZ0001", "2025-11", 1200]])
    assert import_baseline(con, fix)[0] == 1
    rows = {(r[0], r[1], r[2]): (r[3], r[4], r[6]) for r in _table(con)}
    assert rows[("JZ0001", "2025-11", "oe_visits")] == (1200.0, "baseline-fix.xlsx", "C2")
    assert rows[("JZ0001", "2025-10", "oe_visits")] == (52000.0, "baseline-text-in-number.xlsx", "C2")
    assert len(rows) == 8


def test_unknown_facility_checked_once_registry_exists(tmp_path: Path) -> None:
    con = connect(tmp_path / "w.duckdb")
    con.execute("INSERT INTO facilities (facility_id, valid_from, name, tier, ftype) "
                "VALUES ('JZ0001', DATE '2015-01-01', '江州市第一人民医院', '三级', '综合')").fetchall()
    path = _write(tmp_path / "baseline-unknown-facility.xlsx",
                  [["机构编码", "统计期", "门急诊人次"], ["JZ0001", "2025-10", 100], ["JZ0077", "2025-10", 5]])
    n, findings = import_baseline(con, path)
    assert n == 1
    assert [(f.cell, f.code, f.value) for f in findings] == [("A3", "baseline-facility-unknown", "JZ0077")]


@pytest.mark.parametrize("text, month", [
    ("2025-10", "2025-10"), ("2025年10月", "2025-10"), ("2025年1月", "2025-01"), ("2025/3", "2025-03"),
    (dt.date(2025, 7, 1), "2025-07"), ("2025-13", None), ("十月", None), ("", None),
])
def test_parse_month(text: object, month: str | None) -> None:
    assert parse_month(text) == month


def test_template_round_trip(tmp_path: Path) -> None:
    a = write_baseline_template(tmp_path / "a" / "基线导入模板.xlsx")
    b = write_baseline_template(tmp_path / "b" / "基线导入模板.xlsx")
    assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()
    wb = CalamineWorkbook.from_path(str(a))
    header = wb.get_sheet_by_name("基线").to_python()[0]
    fields = load_fields()
    assert header[:3] == ["机构编码", "统计期", "门急诊人次（人次）"]
    assert len(header) == 2 + len(fields)
    # an empty template imports nothing and raises nothing
    assert read_baseline(a) == ([], [])
    # filled in (every column), it imports every field
    wbo = openpyxl.load_workbook(a)
    wbo["基线"].append(["JZ0001", "2025-10"] + [i + 1 for i in range(len(fields))])
    wbo.save(tmp_path / "filled.xlsx")
    rows, findings = read_baseline(tmp_path / "filled.xlsx")
    assert findings == [] and [r["field"] for r in rows] == [f.code for f in fields]
