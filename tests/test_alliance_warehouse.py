"""warehouse.alliance on a real DuckDB file: members, a mid-quarter joiner, the county return, scores."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from warehouse.alliance import alliance_inputs, alliance_period
from warehouse.db import connect

Q3 = ("2026-07", "2026-08", "2026-09")
LEAD = {"med_revenue": 1000, "drug_revenue": 300, "discharges_surgery": 400, "discharges_grade3": 150,
        "discharges_grade4": 50, "svc_registration": 5, "svc_bed": 20, "svc_consultation": 25, "svc_treatment": 100,
        "svc_surgery": 80, "svc_pharmacy": 10, "svc_nursing": 60}
T1 = {"jc_oe_visits": 3000, "jc_admissions": 20, "jc_med_revenue": 100, "jc_drug_revenue": 50,
      "jc_essential_drug_revenue": 40, "jc_referral_up": 30, "jc_referral_down": 10}
T2 = {"jc_oe_visits": 2000, "jc_admissions": 10, "jc_med_revenue": 80, "jc_drug_revenue": 40,
      "jc_essential_drug_revenue": 30, "jc_referral_up": 20, "jc_referral_down": 10}
COUNTY = {"xy_res_visits_in": 18000, "xy_res_visits_out": 2000, "xy_res_adm_in": 900, "xy_res_adm_out": 100,
          "xy_visits_total": 20000, "xy_visits_nonmember_grassroots": 5000, "xy_fund_in_county": 500,
          "xy_fund_out_county": 100, "xy_fund_grassroots": 100, "xy_remote_diagnosis": 100}
STOCKS = {"2026-07": (10000, 7000, 5), "2026-08": (10100, 7100, 6), "2026-09": (10200, 7140, 6)}


def _sub(con: duckdb.DuckDBPyConnection, sid: str, fid: str, month: str, template: str,
         values: dict[str, Any]) -> None:
    con.execute("INSERT INTO submissions (submission_id, sha256, original_name, facility_id, period, template_id, "
                "received_at, received_source, status) VALUES (?, ?, ?, ?, ?, ?, TIMESTAMP '2026-10-05 09:00:00', "
                "'manifest', 'accepted')", [sid, sid, f"{sid}.xlsx", fid, month, template])
    con.executemany("INSERT INTO return_values VALUES (?, ?, ?, ?, 'S', 'E6', 'ok')",
                    [[sid, f, v, str(v)] for f, v in values.items()])


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    c = connect(tmp_path / "w.duckdb")
    for fid, tier, ftype, county in (("L", "二级", "综合", "青山县"), ("T1", "基层", "乡镇卫生院", "青山县"),
                                     ("T2", "基层", "乡镇卫生院", "青山县"),
                                     ("339921", "区县", "卫生健康行政部门", "青山县")):
        c.execute("INSERT INTO facilities (facility_id, valid_from, name, tier, ftype, county) "
                  "VALUES (?, DATE '2020-01-01', ?, ?, ?, ?)", [fid, f"{fid}单位", tier, ftype, county])
    for fid, role, start in (("L", "牵头", dt.date(2025, 1, 1)), ("T1", "成员", dt.date(2025, 1, 1)),
                             ("T2", "成员", dt.date(2026, 8, 15))):  # T2 joins mid-August: counted Aug and Sep
        c.execute("INSERT INTO memberships VALUES (?, 'YGT01', '青山县县域医共体', '医共体', ?, ?, NULL)",
                  [fid, role, start])
    for m in Q3:
        _sub(c, f"L-{m}", "L", m, "JX-YB01", LEAD)
        _sub(c, f"T1-{m}", "T1", m, "JX-JC01", T1)
        _sub(c, f"T2-{m}", "T2", m, "JX-JC01", T2)  # T2's July return is not counted: not yet a member
        reg, managed, senior = STOCKS[m]
        _sub(c, f"X-{m}", "339921", m, "JX-XY01", COUNTY | {"xy_chronic_registered": reg,
                                                            "xy_chronic_managed": managed, "xy_senior_posted": senior})
    yield c
    c.close()


def test_inputs_follow_the_registry(con: duckdb.DuckDBPyConnection) -> None:
    args = alliance_inputs(con, "2026-Q3")
    assert args["alliance_county"] == {"YGT01": "339921"}
    assert args["unit_returns"]["L"] == {"JX-YB01"} and args["unit_returns"]["339921"] == {"JX-XY01"}
    assert "jc_oe_visits" not in args["unit_month_values"][("L", "2026-07")]  # a hospital is never asked for 基层 items


def test_alliance_values_by_hand(con: duckdb.DuckDBPyConnection) -> None:
    counts = alliance_period(con, "2026-Q3")
    assert counts["alliances"] == 1 and counts["scored"] == 1
    v = {i: (val, st) for i, val, st in con.execute(
        "SELECT indicator, value, status FROM alliance_values WHERE period = '2026-Q3' AND org_id = 'YGT01'").fetchall()}
    # YG08 drug share = Σ drug / Σ med over members and months, T2 from August:
    #   (300×3 + 50×3 + 40×2) / (1000×3 + 100×3 + 80×2) = 1130 / 3460 = 32.6589… → 32.66
    assert v["YG08"] == (Decimal("32.6600"), "ok")
    # YG03 grassroots share of visits = (Σ members' 基层 visits + non-member grassroots) / county total
    #   (3000×3 + 2000×2 + 5000×3) / (20000×3) = 28000 / 60000 = 46.666… → 46.67
    assert v["YG03"] == (Decimal("46.6700"), "ok")
    # YG05 down-referral share = Σ down / Σ (up + down) = (10×3 + 10×2) / (40×3 + 30×2) = 50 / 180 → 27.78
    assert v["YG05"] == (Decimal("27.7800"), "ok")
    # YG12 chronic management: stocks at quarter end 7140 / 10200 = 70.00;  YG10 lead (150+50)/400 = 50.00
    assert v["YG12"] == (Decimal("70.0000"), "ok") and v["YG10"] == (Decimal("50.0000"), "ok")
    # YG01 county retention of visits 18000 / 20000 = 90.00;  YG11 lead service revenue 300 / 1000 = 30.00
    assert v["YG01"] == (Decimal("90.0000"), "ok") and v["YG11"] == (Decimal("30.0000"), "ok")
    # each unit's contribution: T2 counted in August and September only
    parts = {u: (n, d, months) for u, n, d, months in con.execute(
        "SELECT unit_id, numerator_part, denominator_part, months FROM alliance_contributions "
        "WHERE period = '2026-Q3' AND indicator = 'YG08'").fetchall()}
    assert parts["T2"] == (80.0, 160.0, "2026-08、2026-09")
    assert sum(p[0] for p in parts.values()) == 1130 and sum(p[1] for p in parts.values()) == 3460
    [(composite, rank, status)] = con.execute(
        "SELECT composite, rank, status FROM composites WHERE period = '2026-Q3' AND scheme_version = "
        "'alliance_2026' AND facility_id = 'YGT01'").fetchall()
    assert rank == 1 and status == "scored" and composite is not None


def test_rerun_is_identical(con: duckdb.DuckDBPyConnection) -> None:
    alliance_period(con, "2026-Q3")
    tables = ("alliance_values", "alliance_contributions", "scores", "composites")
    first = [con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in tables]
    alliance_period(con, "2026-Q3")
    assert [con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in tables] == first


def test_an_item_with_an_error_finding_is_not_used(con: duckdb.DuckDBPyConnection) -> None:
    # T1's September drug revenue carries an error finding: T1-September leaves YG08's numerator AND denominator
    con.execute("INSERT INTO findings (finding_id, period, facility_id, submission_id, stage, code, severity, field, "
                "message_zh) VALUES ('f1', '2026-09', 'T1', 'T1-2026-09', 'validate', 'part-exceeds-total', 'error', "
                "'jc_drug_revenue', '…')")
    alliance_period(con, "2026-Q3")
    [(value, detail)] = con.execute("SELECT value, detail FROM alliance_values WHERE period = '2026-Q3' AND "
                                    "org_id = 'YGT01' AND indicator = 'YG08'").fetchall()
    # (1130 − 50) / (3460 − 100) = 1080 / 3360 = 32.142857… → 32.14
    assert value == Decimal("32.1400") and "T1" in detail and "2026-09" in detail
