"""warehouse.compute: indicator values and scores written to a real DuckDB file; reruns leave tables identical."""
from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from metrics.scoring import load_scheme
from warehouse import compute as wc
from warehouse.compute import compute_period, score_period
from warehouse.db import connect

MONTH = {  # one month of a tertiary general hospital; amounts in 万元
    "oe_visits": 8000, "discharges": 1000, "discharge_bed_days": 8000, "occupied_bed_days": 8200,
    "open_beds": 300, "health_tech_staff": 500, "med_revenue": 1000, "op_revenue": 400, "op_drug_revenue": 120,
    "ip_revenue": 600, "ip_drug_revenue": 180, "drug_revenue": 300, "herbal_revenue": 30,
    "consumables_revenue": 100, "exam_lab_revenue": 150, "svc_registration": 5, "svc_bed": 20,
    "svc_consultation": 25, "svc_treatment": 100, "svc_surgery": 80, "svc_pharmacy": 10, "svc_nursing": 60,
    "op_visits_essential": 5000, "op_rx_total": 7000, "op_rx_essential": 4200, "vbp_volume": 9000,
    "vbp_generic_volume": 10000, "discharges_surgery": 400, "discharges_grade3": 150, "discharges_grade4": 80,
    "discharges_mis": 100,
}
Q3 = ("2026-07", "2026-08", "2026-09")
Q3_LAST_YEAR = ("2025-07", "2025-08", "2025-09")


def _sub(con: duckdb.DuckDBPyConnection, sid: str, facility: str, month: str, values: dict[str, Any]) -> None:
    con.execute("INSERT INTO submissions (submission_id, sha256, original_name, facility_id, period, received_at, "
                "received_source, status) VALUES (?, ?, ?, ?, ?, TIMESTAMP '2026-10-05 09:00:00', 'manifest', "
                "'accepted')", [sid, sid, f"{sid}.xlsx", facility, month])
    con.executemany("INSERT INTO return_values VALUES (?, ?, ?, ?, '运营与药品', 'E6', 'ok')",
                    [[sid, f, v, str(v)] for f, v in values.items()])


def _facility(con: duckdb.DuckDBPyConnection, fid: str, tier: str, ftype: str) -> None:
    con.execute("INSERT INTO facilities (facility_id, valid_from, name, tier, ftype) VALUES (?, DATE '2020-01-01', "
                "?, ?, ?)", [fid, f"{fid}医院", tier, ftype])


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    c = connect(tmp_path / "w.duckdb")
    for fid, tier, ftype in (("H1", "三级", "综合"), ("H2", "三级", "综合"), ("H3", "三级", "综合"),
                             ("H4", "三级", "综合"), ("T1", "三级", "中医"), ("B1", "基层", "社区卫生服务中心")):
        _facility(c, fid, tier, ftype)
    for m in Q3:
        _sub(c, f"H1-{m}", "H1", m, MONTH)
        _sub(c, f"H2-{m}", "H2", m, MONTH | {"drug_revenue": 350})
        _sub(c, f"T1-{m}", "T1", m, MONTH | {"discharges_surgery": 0, "discharges_grade3": 0,
                                             "discharges_grade4": 0, "discharges_mis": 0})
    for m in Q3[:2]:  # H3 misses September
        _sub(c, f"H3-{m}", "H3", m, MONTH)
    # last year: H1 from returns, H2 from a baseline row for the whole quarter
    for m in Q3_LAST_YEAR:
        _sub(c, f"H1-{m}", "H1", m, MONTH | {"op_drug_revenue": 110, "ip_drug_revenue": 170})
    c.executemany("INSERT INTO baseline_values (facility_id, period, field, value) VALUES ('H2', '2025-Q3', ?, ?)",
                  [("op_drug_revenue", 330), ("oe_visits", 24000), ("ip_drug_revenue", 510), ("discharges", 3000)])
    yield c
    c.close()


def _table(con: duckdb.DuckDBPyConnection, name: str) -> list[tuple]:
    return con.execute(f"SELECT * FROM {name} ORDER BY ALL").fetchall()


def _values(con: duckdb.DuckDBPyConnection, period: str) -> dict[tuple[str, str], tuple[Any, str]]:
    rows = con.execute("SELECT facility_id, indicator, value, status FROM indicator_values WHERE period = ?",
                       [period]).fetchall()
    return {(f, i): (v, s) for f, i, v, s in rows}


def test_compute_period_writes_hand_computed_values(con: duckdb.DuckDBPyConnection) -> None:
    out = compute_period(con, "2026-Q3", "2026")
    v = _values(con, "2026-Q3")
    assert len(out) == len(v)
    # H1 quarter = 3 × a month: 药占比 (900 − 90)/3000 = 27.00; 门诊次均 360 × 10000/24000 = 150.00;
    # 住院次均 540 × 10000/3000 = 1800.00; 医疗服务收入 900/3000 = 30.00; 基药 15000/24000 = 62.50
    assert v[("H1", "YP01")] == (Decimal("27.00"), "ok")
    assert v[("H1", "YP02")] == (Decimal("150.00"), "ok")
    assert v[("H1", "YP03")] == (Decimal("1800.00"), "ok")
    assert v[("H1", "YP06")] == (Decimal("30.00"), "ok")
    assert v[("H1", "YP07")] == (Decimal("62.50"), "ok")
    assert v[("H1", "YP10")] == (Decimal("20.00"), "ok")
    # growth from last year's returns: base 次均 330 × 10000/24000 = 137.5 → (150 − 137.5)/137.5 = 9.0909… → 9.09
    # inpatient base 510 × 10000/3000 = 1700 → (1800 − 1700)/1700 = 5.882… → 5.88
    assert v[("H1", "YP04")] == (Decimal("9.09"), "ok")
    assert v[("H1", "YP05")] == (Decimal("5.88"), "ok")
    # H2: drug 1050 → (1050 − 90)/3000 = 32.00; growth from the 2025-Q3 baseline rows gives the same bases
    assert v[("H2", "YP01")] == (Decimal("32.00"), "ok")
    assert v[("H2", "YP04")] == (Decimal("9.09"), "ok")
    # H3 misses a month → flows missing; T1 has no surgery → surgery shares undefined, not 0 %
    assert v[("H3", "YP01")] == (None, "missing")
    assert v[("T1", "YP10")] == (None, "undefined")
    assert v[("T1", "YP04")] == (None, "no_base")
    # H4 is in the registry without a return: visible as missing; B1 (基层) is outside the scheme
    assert v[("H4", "YP01")] == (None, "missing")
    assert not any(f == "B1" for f, _ in v)


def test_compute_period_rerun_leaves_table_identical(con: duckdb.DuckDBPyConnection) -> None:
    compute_period(con, "2026-Q3", "2026")
    compute_period(con, "2026-09", "2026")
    first = _table(con, "indicator_values")
    compute_period(con, "2026-Q3", "2026")
    assert _table(con, "indicator_values") == first
    # other periods are untouched by a rerun of one period
    assert {r[0] for r in first} == {"2026-Q3", "2026-09"}


def test_compute_period_replaces_stale_rows(con: duckdb.DuckDBPyConnection) -> None:
    compute_period(con, "2026-Q3", "2026")
    con.execute("UPDATE submissions SET status = 'rejected' WHERE facility_id = 'H2'")
    con.execute("DELETE FROM facilities WHERE facility_id = 'H2'")
    compute_period(con, "2026-Q3", "2026")
    assert not any(f == "H2" for f, _ in _values(con, "2026-Q3"))


def test_error_finding_blocks_the_indicators_using_the_field(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("INSERT INTO findings (finding_id, submission_id, stage, code, severity, field, message_zh) "
                "VALUES ('f1', 'H1-2026-08', 'validate', 'negative-value', 'error', 'herbal_revenue', '负数')")
    compute_period(con, "2026-Q3", "2026")
    v = _values(con, "2026-Q3")
    assert v[("H1", "YP01")] == (None, "data_error")
    assert v[("H1", "YP02")] == (Decimal("150.00"), "ok")


def test_failed_write_keeps_previous_rows(con: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch) -> None:
    compute_period(con, "2026-Q3", "2026")
    before = _table(con, "indicator_values")
    # the insert fails after the period's rows were deleted: the transaction must bring them back
    monkeypatch.setattr(wc, "insert_rows", lambda con, table, rows: con.execute("INSERT INTO no_such_table VALUES (1)"))
    with pytest.raises(duckdb.Error):
        compute_period(con, "2026-Q3", "2026")
    assert _table(con, "indicator_values") == before


def test_score_period_writes_scores_and_composites(con: duckdb.DuckDBPyConnection) -> None:
    scheme = load_scheme("2026")
    compute_period(con, "2026-Q3", scheme)
    score_rows, comps = score_period(con, "2026-Q3", scheme)
    assert len(_table(con, "scores")) == len(score_rows)
    c = {r[0]: r[1:] for r in con.execute(
        "SELECT facility_id, peer_group, composite, rank, status FROM composites WHERE period = '2026-Q3'").fetchall()}
    assert set(c) == {"H1", "H2", "H3", "H4", "T1"}
    assert c["H3"][3] == "not_scored" and c["H4"][3] == "not_scored"
    # T1 (TCM) has no growth base, no rational-prescribing and no satisfaction returns: YP01 10.5 + YP06 10.5
    # + YP07 10.5 + YP08 10.5 = 42 of 100
    # scored weight < 60 % → not scored, and the reason says so
    [t1_reason] = con.execute("SELECT reason FROM composites WHERE facility_id = 'T1'").fetchone()
    assert c["T1"][0] == "三级中医类" and c["T1"][3] == "not_scored" and "低于方案要求的 60%" in t1_reason
    # H1 and H2 differ only in 药占比 (27 % → 7 points; 32 % → 7 − 0.7 × 2 = 5.6). Both lack the 合理用药 and
    # 满意度 sections (30 + 10 points redistributed), so the composite scales by 100 / 60: 1.4 × 100 / 60 = 2.333…
    # (each composite is rounded half-up on its own: 69.48 − 67.15)
    assert c["H1"][2] == 1 and c["H2"][2] == 2
    assert c["H1"][1] - c["H2"][1] == Decimal("2.33")
    # H1's YP01 row: ceiling 30 %, 27 % → the item's full 7 points
    [(pts, status)] = con.execute("SELECT points, status FROM scores WHERE facility_id = 'H1' AND indicator = 'YP01'"
                                  ).fetchall()
    assert (pts, status) == (Decimal("7.0000"), "scored")


def test_score_period_rerun_leaves_tables_identical(con: duckdb.DuckDBPyConnection) -> None:
    compute_period(con, "2026-Q3", "2026")
    score_period(con, "2026-Q3", "2026")
    first = (_table(con, "scores"), _table(con, "composites"))
    compute_period(con, "2026-Q3", "2026")
    score_period(con, "2026-Q3", "2026")
    assert (_table(con, "scores"), _table(con, "composites")) == first


def test_scheme_can_relax_the_complete_period_rule(con: duckdb.DuckDBPyConnection) -> None:
    # H3 reported July and August only: missing under require_complete (the shipped scheme), summed when relaxed
    relaxed = dataclasses.replace(load_scheme("2026"), require_complete=False)
    assert load_scheme("2026").require_complete is True
    compute_period(con, "2026-Q3", relaxed)
    assert _values(con, "2026-Q3")[("H3", "YP01")] == (Decimal("27.00"), "ok")   # (600 − 60)/2000


def test_facility_without_a_peer_group_is_listed_not_scored(con: duckdb.DuckDBPyConnection) -> None:
    _facility(con, "U1", "一级", "专科")   # 一级 × 专科 has no peer group in peer_groups.yaml
    compute_period(con, "2026-Q3", "2026")
    _, comps = score_period(con, "2026-Q3", "2026")
    [u] = [c for c in comps if c.facility_id == "U1"]
    assert (u.peer_group, u.status, u.composite) == ("未分组", "not_scored", None)
    assert "同组" in (u.reason or "")
