"""The ranked workbook: formula-looking text stays text; layout, formats and the 说明 sheet."""
from __future__ import annotations

from decimal import Decimal

import openpyxl

from templates_xlsx.report import IndicatorMeta, ReportData, write_ranked_workbook

EVIL = ["=HYPERLINK(\"http://x\",\"点我\")", "+1+1", "-2+3", "@SUM(A1)"]


def _data() -> ReportData:
    league = [{"peer_group": "三级综合", "facility_id": f"H{i}", "name": name, "composite": Decimal(score),
               "rank": rank, "grade": "良好", "quota_grade": "组内样本不足", "status": "scored", "reason": None,
               "prev_rank": prev}
              for i, (name, score, rank, prev) in enumerate(
                  [(EVIL[0], "88.50", 1, 2), (EVIL[1], "80.00", 2, 1), (EVIL[2], "80.00", 2, None)])]
    league.append({"peer_group": "三级综合", "facility_id": "H9", "name": EVIL[3], "composite": None, "rank": None,
                   "grade": None, "quota_grade": None, "status": "not_scored", "reason": "可计分权重不足",
                   "prev_rank": None})
    ind = [{"facility_id": "H0", "indicator": "YP01", "value": Decimal("28.10"), "status": "ok", "detail": None,
            "points": Decimal("10"), "weight": Decimal("10"), "effective_weight": Decimal("10"),
            "score_status": "scored"},
           {"facility_id": "H1", "indicator": "YP01", "value": None, "status": "undefined", "detail": None,
            "points": None, "weight": Decimal("10"), "effective_weight": None, "score_status": "redistributed"}]
    return ReportData(period="2026-10", prev_period="2026-09", scheme_version="2026", run_id="r1",
                      data_cutoff="2026-11-10 12:00:00", league=league, indicator_rows=ind,
                      indicators=[IndicatorMeta("YP01", "药占比", "%", 2, "down")],
                      coverage={"expected": 5, "received": 4, "scored": 3,
                                "not_scored": [("H9", EVIL[3], "可计分权重不足")]},
                      notes=["名次 = 1 + 综合得分严格高于本机构的机构数"])


def test_formula_text_is_written_as_text(tmp_path):
    path = write_ranked_workbook(_data(), tmp_path / "r.xlsx")
    wb = openpyxl.load_workbook(path)
    ws = wb["排名-三级综合"]
    names = [(ws.cell(row=r, column=3).value, ws.cell(row=r, column=3).data_type) for r in range(4, 8)]
    assert names == [("'" + e, "s") for e in EVIL]
    for sheet in wb.worksheets:
        for row in sheet.iter_rows():
            for c in row:
                assert c.data_type != "f", (sheet.title, c.coordinate, c.value)


def test_league_layout_and_values(tmp_path):
    wb = openpyxl.load_workbook(write_ranked_workbook(_data(), tmp_path / "r.xlsx"))
    ws = wb["排名-三级综合"]
    assert [c.value for c in ws[3]][:8] == ["排名", "机构编码", "机构名称", "综合得分", "等级", "分位档", "排名变化", "状态"]
    assert ws.freeze_panes == "D4"
    assert [ws.cell(row=r, column=1).value for r in range(4, 8)] == [1, 2, 2, None]
    assert [ws.cell(row=r, column=7).value for r in range(4, 8)] == [1, -1, "新进", None]  # prev − current
    assert ws.cell(row=4, column=4).number_format == "0.00"
    assert (ws.cell(row=4, column=9).value, ws.cell(row=5, column=9).value) == (28.1, "分母为0（无定义）")
    assert ws.cell(row=7, column=8).value == "未评分：可计分权重不足"
    assert len(ws._charts) == 1
    iv = wb["指标值"]
    assert iv.cell(row=8, column=3).value == "同组中位数" and iv.cell(row=8, column=4).value == 28.1
    notes = {r[0]: r[1] for r in wb["说明"].iter_rows(min_row=3, max_row=11, values_only=True)}
    assert notes["考核方案版本"] == "2026" and notes["应报机构数"] == 5 and notes["未评分机构数"] == 1


def test_report_bytes_are_deterministic(tmp_path):
    a = write_ranked_workbook(_data(), tmp_path / "a.xlsx").read_bytes()
    b = write_ranked_workbook(_data(), tmp_path / "b.xlsx").read_bytes()
    assert a == b
