"""满意度 sheets of the ranked workbook: scores per facility × survey type, and dimension means.

Everything here comes from the warehouse's aggregate tables (satisfaction_scores / satisfaction_dimensions): no
respondent-level row, and values below the suppression size are already NULL there and shown as a note.
"""
from __future__ import annotations

from typing import Any

from openpyxl import Workbook

from templates_xlsx.report import BODY_FONT, ReportData, STATUS_ZH, _sheet_title, _table_sheet

SURVEY_ZH = {"op": "门诊患者", "ip": "住院患者", "staff": "医务人员"}
SOURCE_ZH = {"survey": "本院问卷调查", "platform": "满意度调查平台"}
INDICATOR_OF = {"op": "MY01", "ip": "MY02", "staff": "MY03"}


def _interval(lo: Any, hi: Any) -> str | None:
    return None if lo is None or hi is None else f"{lo:.2f}～{hi:.2f}"


def satisfaction_sheets(wb: Workbook, used: set[str], data: ReportData) -> None:
    """Add 满意度 and 满意度维度 when the period has satisfaction rows."""
    if not data.satisfaction:
        return
    group_of = {r["facility_id"]: r["peer_group"] for r in data.league}
    heads = ["机构编码", "机构名称", "同组", "调查类型", "评分窗口", "得分（分）", "采用来源", "有效样本量", "状态",
             "本院问卷得分", "95%置信区间", "回收问卷", "不完整（剔除）", "疑似雷同作答", "重复编号", "平台得分",
             "平台有效样本", "收缩前得分", "说明"]
    rows = []
    for r in data.satisfaction:
        if r["facility_id"] not in group_of:
            continue
        rows.append([r["facility_id"], r["name"], group_of[r["facility_id"]],
                     f"{INDICATOR_OF.get(r['survey'], '')} {SURVEY_ZH.get(r['survey'], r['survey'])}满意度",
                     f"{r['window_from']}～{r['window_to']}", r["score"], SOURCE_ZH.get(r["source"], "—"), r["n"],
                     STATUS_ZH.get(r["status"], r["status"]) or "正常", r["survey_score"],
                     _interval(r["ci_low"], r["ci_high"]), r["survey_n_received"], r["survey_n_incomplete"],
                     r["survey_n_straight_lined"], r["survey_n_duplicate"], r["platform_score"], r["platform_n"],
                     r["unshrunk_score"], r["reason"]])
    ws = wb.create_sheet(_sheet_title("满意度", used))
    _table_sheet(ws, f"满意度（{data.period}）：门诊患者、住院患者、医务人员满意度", heads, rows,
                 [12, 26, 10, 18, 18, 10, 14, 10, 10, 12, 16, 9, 10, 10, 9, 10, 10, 10, 70],
                 {6: "0.00", 10: "0.00", 16: "0.00", 18: "0.00"})
    r = 4 + len(rows) + 1
    for note in data.satisfaction_notes:
        ws.cell(row=r, column=1, value=note).font = BODY_FONT
        r += 1

    dim_rows = [[d["facility_id"], d["name"], SURVEY_ZH.get(d["survey"], d["survey"]), d["dimension_zh"], d["n"],
                 d["mean"] if not d["suppressed"] else None,
                 data.satisfaction_suppressed_note if d["suppressed"] else ""]
                for d in data.satisfaction_dims if d["facility_id"] in group_of]
    ws = wb.create_sheet(_sheet_title("满意度维度", used))
    _table_sheet(ws, f"满意度各维度得分（{data.period}，0–100 分）", ["机构编码", "机构名称", "调查类型", "维度",
                                                                  "有效问卷数", "维度得分", "说明"],
                 dim_rows, [12, 26, 10, 18, 10, 10, 30], {6: "0.00"})
