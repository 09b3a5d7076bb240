"""warehouse.grading (issue 6): a method scheme (2026_std) computed and graded over a small warehouse; one z value
and its grading_stats row checked by hand."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, localcontext
from pathlib import Path

import duckdb
import pytest

from metrics.grading.scheme import MethodScheme, load_assessment
from metrics.scoring import Scheme
from warehouse.compute import compute_period, score_period
from warehouse.db import connect

MONTH = {  # one month of a tertiary general hospital; amounts in 万元 (as tests/test_compute.py)
    "oe_visits": 8000, "discharges": 1000, "discharge_bed_days": 8000, "occupied_bed_days": 8200,
    "open_beds": 300, "health_tech_staff": 500, "med_revenue": 1000, "op_revenue": 400, "op_drug_revenue": 120,
    "ip_revenue": 600, "ip_drug_revenue": 180, "drug_revenue": 300, "herbal_revenue": 30,
    "consumables_revenue": 100, "exam_lab_revenue": 150, "svc_registration": 5, "svc_bed": 20,
    "svc_consultation": 25, "svc_treatment": 100, "svc_surgery": 80, "svc_pharmacy": 10, "svc_nursing": 60,
    "op_visits_essential": 5000, "op_rx_total": 7000, "op_rx_essential": 4200, "vbp_volume": 9000,
    "vbp_generic_volume": 10000, "discharges_surgery": 400, "discharges_grade3": 150, "discharges_grade4": 80,
    "discharges_mis": 100,
}
DRUG = {"H1": 300, "H2": 320, "H3": 340, "H4": 360, "H5": 380, "H6": 400}   # YP01 = 27, 29, 31, 33, 35, 37 %
PERIOD = "2026-09"


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    c = connect(tmp_path / "var" / "warehouse.duckdb")  # where `jixiao explain` looks with JIXIAO_HOME
    for fid, drug in DRUG.items():
        c.execute("INSERT INTO facilities (facility_id, valid_from, name, tier, ftype) VALUES (?, DATE '2020-01-01', "
                  "?, '三级', '综合')", [fid, f"{fid}医院"])
        sid = f"{fid}-{PERIOD}"
        c.execute("INSERT INTO submissions (submission_id, sha256, original_name, facility_id, period, received_at, "
                  "received_source, status) VALUES (?, ?, ?, ?, ?, TIMESTAMP '2026-10-05 09:00:00', 'manifest', "
                  "'accepted')", [sid, sid, f"{sid}.xlsx", fid, PERIOD])
        c.executemany("INSERT INTO return_values VALUES (?, ?, ?, ?, '运营与药品', 'E6', 'ok')",
                      [[sid, f, v, str(v)] for f, v in (MONTH | {"drug_revenue": drug}).items()])
    yield c
    c.close()


def test_dispatch_by_method_block():
    assert isinstance(load_assessment("2026"), Scheme)
    std = load_assessment("2026_std")
    assert isinstance(std, MethodScheme) and std.calibres == {"YP01": "excl_herbal", "YP07": "visits"}


def test_2026_std_scores_yp01_by_hand(con):
    compute_period(con, PERIOD, "2026_std")
    scores, composites = score_period(con, PERIOD, "2026_std")
    # YP01 ceiling 30 → oriented 0, 0, −1, −3, −5, −7; P1 (linear, h = 5 × 0.01 = 0.05) = −7 + 0.05 × 2 = −6.9,
    # P99 = 0: H6 capped to −6.9; mean = −15.9 / 6 = −2.65; population SD = √(40.475 / 6)
    with localcontext() as ctx:
        ctx.prec = 34
        sd = (Decimal("40.475") / 6).sqrt().quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)
        z_h3 = ((Decimal(-1) + Decimal("2.65")) / sd).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
    assert sd == Decimal("2.597274")
    row = con.execute("SELECT peer_group, kind, method, n, standardised, mean, sd, sd_kind, p_low, p_high, n_capped, "
                      "stat_decimals FROM grading_stats WHERE period = ? AND scheme_version = '2026_std' "
                      "AND indicator = 'YP01'", [PERIOD]).fetchall()
    assert row == [("三级综合", "indicator", "z", 6, True, Decimal("-2.65"), sd, "population", Decimal("-6.9"),
                    Decimal("0"), 1, 6)]
    pts, status, detail = con.execute(
        "SELECT points, status, detail FROM scores WHERE period = ? AND scheme_version = '2026_std' "
        "AND facility_id = 'H3' AND indicator = 'YP01'", [PERIOD]).fetchone()
    assert (pts, status) == (z_h3, "scored") and z_h3 == Decimal("0.6353")
    assert "同组（三级综合） n = 6，均值 -2.650000，标准差 2.597274（总体标准差（÷n））" in detail
    # each facility has a composite row under the scheme's version; fewer than 8 in the group → no k-means grade
    got = con.execute("SELECT facility_id, status, grade FROM composites WHERE period = ? AND "
                      "scheme_version = '2026_std' ORDER BY facility_id", [PERIOD]).fetchall()
    assert [g[0] for g in got] == list(DRUG) and len(composites) == 6
    assert {g[2] for g in got if g[1] == "scored"} <= {"组内样本不足"}


def test_rule_points_scheme_unchanged_beside_it(con):
    compute_period(con, PERIOD, "2026")
    _, comps = score_period(con, PERIOD, "2026")
    assert len(comps) == 6 and con.execute("SELECT count(*) FROM grading_stats").fetchone() == (0,)


def test_explain_prints_the_stored_peer_statistics(con, tmp_path):
    from typer.testing import CliRunner

    from flows.cli import app

    compute_period(con, PERIOD, "2026_std")
    score_period(con, PERIOD, "2026_std")
    n, mean, sd, kind = con.execute("SELECT n, mean, sd, sd_kind FROM grading_stats WHERE period = ? AND "
                                    "scheme_version = '2026_std' AND indicator = 'YP01'", [PERIOD]).fetchone()
    con.close()
    r = CliRunner().invoke(app, ["explain", "--facility", "H3", "--period", PERIOD, "--indicator", "YP01",
                                 "--scheme", "2026_std"],
                           env={"JIXIAO_HOME": str(tmp_path / "var"), "JIXIAO_OUT": str(tmp_path / "out")})
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0] == "机构 H3（三级综合），统计期 2026-09，方案 2026_std"
    stats = [ln.strip() for ln in lines if "同组统计" in ln]
    assert stats == [f"← 同组统计（三级综合）：n = {n}，均值 {mean.quantize(Decimal('0.000001')):f}，"
                     f"标准差 {sd.quantize(Decimal('0.000001')):f}（{kind}），截尾 P1/P99（linear） [-6.900000, 0.000000]"]
    assert (n, mean, sd) == (6, Decimal("-2.65"), Decimal("2.597274"))
    assert any(ln.startswith("  ← YP01 ") and "：得分 0.6353（scored，权重 7" in ln for ln in lines), r.output
    # value ← numerator/denominator ← fields ← submission ← cell
    assert "          ← drug_revenue 药品收入合计 = 340（2026-09）← H3-2026-09.xlsx（版本 1，sha256 H3-2026-09，接收 " \
           "2026-10-05 09:00:00）← 运营与药品!E6" in lines, r.output
