"""`jixiao explain` under the first slice's rule-points scheme: the whole chain for one indicator, compared exactly —
grade and rank ← composite ← points ← rule and thresholds ← value ← numerator/denominator ← fields ← submission
(file, version, sha256, received) ← sheet!cell — including a bureau correction."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from warehouse import review
from warehouse.compute import compute_period, score_period
from warehouse.db import connect

from test_grading_warehouse import DRUG, MONTH, PERIOD  # one month of a tertiary general hospital, 6 facilities


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    con = connect(tmp_path / "var" / "warehouse.duckdb")
    for fid, drug in DRUG.items():
        con.execute("INSERT INTO facilities (facility_id, valid_from, name, tier, ftype) VALUES (?, DATE '2020-01-01', "
                    "?, '三级', '综合')", [fid, f"{fid}医院"])
        for version, (day, status) in enumerate([(5, "superseded"), (7, "accepted")], start=1):
            sid = f"{fid}-v{version}"
            con.execute("INSERT INTO submissions (submission_id, sha256, original_name, facility_id, period, "
                        "template_id, received_at, received_source, status, parsed) VALUES (?, ?, ?, ?, ?, 'JX-YB01', "
                        "?, 'manifest', ?, TRUE)", [sid, f"{sid}-sha", f"{sid}.xlsx", fid, PERIOD,
                                                    dt.datetime(2026, 10, day, 9, 0), status])
            cells = {f: f"E{6 + i}" for i, f in enumerate(MONTH)}
            con.executemany("INSERT INTO return_values VALUES (?, ?, ?, ?, '运营与药品', ?, 'ok')",
                            [[sid, f, v, str(v), cells[f]] for f, v in (MONTH | {"drug_revenue": drug}).items()])
    # the bureau corrects H3's drug revenue: 340 → 330 (YP01 = (330 − 30) / 1000 = 30 %)
    assert review.correct(con, "H3", PERIOD, "drug_revenue", 330, "李科长", "医院来函更正",
                          now=dt.datetime(2026, 10, 9, 15, 0)).ok
    compute_period(con, PERIOD, "2026")
    score_period(con, PERIOD, "2026")
    con.close()
    return {"JIXIAO_HOME": str(tmp_path / "var"), "JIXIAO_OUT": str(tmp_path / "out")}


def test_explain_whole_chain_for_one_indicator(home):
    r = CliRunner().invoke(app, ["explain", "--facility", "H3", "--period", PERIOD, "--indicator", "YP01"], env=home)
    assert r.exit_code == 0, r.output
    assert r.output.splitlines() == EXPECTED


EXPECTED = [
    "机构 H3（三级综合），统计期 2026-09，方案 2026",
    "等级 —，名次 — ← 综合得分 —（not_scored）",
    "  说明：纳入评分的指标权重占 46.0%，低于方案要求的 60%；缺项：YP04 门诊次均药品费用增幅（无上年同期数据）、YP05 住院次均药品费用增幅"
    "（无上年同期数据）、HL01 抗菌药物使用强度（数据缺失）、HL02 门诊患者抗菌药物处方比例（数据缺失）、HL03 急诊患者抗菌药物处方比例（数据缺失）、"
    "HL04 住院患者抗菌药物使用率（数据缺失）、HL05 Ⅰ类切口手术预防使用抗菌药物比例（数据缺失）、HL06 抗菌药物品种数（数据缺失）、"
    "HL08 抗菌药物处方百分率（数据缺失）、HL13 合理处方百分率（数据缺失）、MY01 门诊患者满意度（数据缺失）、MY02 住院患者满意度（数据缺失）、"
    "MY03 医务人员满意度（数据缺失）",
    "  ← YP01 药占比：得分 7.0000（scored，权重 7.0000）",
    "      ← 指标值 30.00%；目标 ≤ 30%，每超1个百分点扣 0.7 分",
    "      ← 指标值 30.0000（ok）← 分子 300.0，分母 1000.0",
    # (drug 330 corrected − herbal 30) / medical revenue 1000 = 30 % → at the target: full 7 points
    "          ← drug_revenue 药品收入合计 = 330（2026-09）← H3-v2.xlsx（版本 2，sha256 H3-v2-sha，接收 2026-10-07 09:00:00）"
    "← 运营与药品!E17",
    "              （原填 340，李科长 于 2026-10-09 15:00:00 更正：医院来函更正）",
    "          ← herbal_revenue 其中：中药饮片收入 = 30（2026-09）← H3-v2.xlsx（版本 2，sha256 H3-v2-sha，接收 2026-10-07 "
    "09:00:00）← 运营与药品!E18",
    "          ← med_revenue 医疗收入 = 1000（2026-09）← H3-v2.xlsx（版本 2，sha256 H3-v2-sha，接收 2026-10-07 09:00:00）"
    "← 运营与药品!E12",
]
