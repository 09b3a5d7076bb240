"""医共体 sheets of the ranked workbook: the alliance league table and one sheet per alliance.

Per alliance: its score and rank, each indicator (numerator, denominator, value, points, calibre notes), its
members in the period, and each unit's contribution to every numerator and denominator — so an analyst can see
which member moves the alliance's figures. A lead hospital's own tiered score stays in the hospital league tables.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from openpyxl import Workbook

from templates_xlsx.report import BODY_FONT, BORDER, HEAD_FONT, STATUS_ZH, TITLE_FONT, ReportData, _header, \
    _num_format, _rank_change, _sheet_title, _to_number
from templates_xlsx.safe_text import excel_text


@dataclass(frozen=True)
class AllianceIndicatorMeta:
    code: str
    name_zh: str
    unit: str
    decimals: int
    direction: str
    note_zh: str = ""


@dataclass
class AllianceReport:
    scheme_version: str
    scheme_name: str
    indicators: list[AllianceIndicatorMeta]
    league: list[dict[str, Any]]                 # rows of rpt_alliance_league.sql
    values: list[dict[str, Any]]                 # rows of rpt_alliance_values.sql
    contributions: list[dict[str, Any]]          # rows of rpt_alliance_contributions.sql
    members: list[dict[str, Any]]                # rows of rpt_alliance_members.sql
    notes: list[str] = field(default_factory=list)


def _value(x: dict[str, Any] | None) -> Any:
    if not x:
        return STATUS_ZH["missing"]
    return _to_number(x["value"]) if x["status"] == "ok" else STATUS_ZH.get(x["status"], x["status"])


def alliance_sheets(wb: Workbook, used: set[str], data: ReportData) -> None:
    """Add 医共体排名 and one 医共体-<name> sheet per alliance."""
    a: AllianceReport | None = data.alliance
    if a is None or not a.league:
        return
    vals: dict[str, dict[str, dict[str, Any]]] = {}
    for v in a.values:
        vals.setdefault(v["org_id"], {})[v["indicator"]] = v
    ws = wb.create_sheet(_sheet_title("医共体排名", used))
    ws.cell(row=1, column=1, value=f"医共体考核排名（{data.period}，方案 {a.scheme_version}）").font = TITLE_FONT
    heads = ["排名", "医共体编码", "医共体名称", "牵头医院", "成员数（期末）", "综合得分", "等级", "排名变化", "状态"]
    for m in a.indicators:
        heads += [f"{m.code} {m.name_zh}（{m.unit}）", f"{m.code} 得分"]
    _header(ws, 3, heads)
    for r, row in enumerate(a.league, start=4):
        scored = row["status"] == "scored"
        line = [row["rank"], row["org_id"], row["org_name"], row["lead_name"], row["n_members"],
                _to_number(row["composite"]), row["grade"],
                _rank_change(row["rank"], row["prev_rank"]) if scored else None,
                "已评分" if scored else f"未评分：{row['reason'] or ''}"]
        for m in a.indicators:
            x = vals.get(row["org_id"], {}).get(m.code)
            line += [_value(x), _to_number(x.get("points")) if x else None]
        for c, v in enumerate(line, start=1):
            cell = ws.cell(row=r, column=c, value=excel_text(v))
            cell.font = BODY_FONT
            cell.border = BORDER
        ws.cell(row=r, column=6).number_format = "0.00"
        for i, m in enumerate(a.indicators):
            ws.cell(row=r, column=10 + 2 * i).number_format = _num_format(m.decimals)
            ws.cell(row=r, column=11 + 2 * i).number_format = "0.00"
    ws.freeze_panes = "D4"
    ws.row_dimensions[3].height = 45
    r = 4 + len(a.league) + 1
    for note in a.notes:
        ws.cell(row=r, column=1, value=note).font = BODY_FONT
        r += 1
    for row in a.league:
        _alliance_sheet(wb, used, data, a, row, vals.get(row["org_id"], {}))


def _alliance_sheet(wb: Workbook, used: set[str], data: ReportData, a: AllianceReport, row: dict[str, Any],
                    vals: dict[str, dict[str, Any]]) -> None:
    oid = row["org_id"]
    ws = wb.create_sheet(_sheet_title(f"医共体-{row['org_name'] or oid}", used))
    ws.cell(row=1, column=1, value=excel_text(f"{row['org_name']}（{oid}）考核结果（{data.period}）")).font = TITLE_FONT
    facts = [("综合得分", _to_number(row["composite"])), ("排名", row["rank"]), ("等级", row["grade"]),
             ("牵头医院", row["lead_name"]), ("考核方案", f"{a.scheme_name}（{a.scheme_version}）"),
             ("状态", "已评分" if row["status"] == "scored" else f"未评分：{row['reason'] or ''}")]
    r = 3
    for k, v in facts:
        ws.cell(row=r, column=1, value=k).font = HEAD_FONT
        ws.cell(row=r, column=2, value=excel_text(v)).font = BODY_FONT
        r += 1
    r += 1
    ws.cell(row=r, column=1, value="一、考核指标").font = HEAD_FONT
    r += 1
    _header(ws, r, ["指标代码", "指标名称", "单位", "分子", "分母", "指标值", "状态", "权重", "得分", "说明"])
    r += 1
    for m in a.indicators:
        x = vals.get(m.code) or {}
        line = [m.code, m.name_zh, m.unit, x.get("numerator"), x.get("denominator"), _value(x or None),
                STATUS_ZH.get(x.get("status") or "missing", x.get("status")) or "正常", _to_number(x.get("weight")),
                _to_number(x.get("points")), x.get("detail") or m.note_zh]
        for c, v in enumerate(line, start=1):
            cell = ws.cell(row=r, column=c, value=excel_text(v))
            cell.font = BODY_FONT
            cell.border = BORDER
        ws.cell(row=r, column=6).number_format = _num_format(m.decimals)
        for c in (4, 5):
            ws.cell(row=r, column=c).number_format = "#,##0.##"
        r += 1
    r += 1
    ws.cell(row=r, column=1, value="二、成员单位（统计期内）").font = HEAD_FONT
    r += 1
    _header(ws, r, ["机构编码", "机构名称", "角色", "加入日期", "退出日期"])
    r += 1
    for m in (x for x in a.members if x["org_id"] == oid):
        for c, v in enumerate([m["facility_id"], m["name"], m["role"], str(m["valid_from"]),
                               str(m["valid_to"]) if m["valid_to"] else ""], start=1):
            cell = ws.cell(row=r, column=c, value=excel_text(v))
            cell.font = BODY_FONT
            cell.border = BORDER
        r += 1
    r += 1
    ws.cell(row=r, column=1, value="三、各单位对指标分子、分母的贡献").font = HEAD_FONT
    r += 1
    _header(ws, r, ["指标代码", "单位编码", "单位名称", "角色", "分子贡献", "分母贡献", "占分子比例（%）", "计入月份"])
    r += 1
    totals = {code: x.get("numerator") for code, x in vals.items()}
    for c_row in (x for x in a.contributions if x["org_id"] == oid):
        tot = totals.get(c_row["indicator"])
        share = (100 * c_row["numerator_part"] / tot) if tot else None
        line = [c_row["indicator"], c_row["unit_id"], c_row["name"], c_row["role"], c_row["numerator_part"],
                c_row["denominator_part"], share, c_row["months"]]
        for c, v in enumerate(line, start=1):
            cell = ws.cell(row=r, column=c, value=excel_text(v))
            cell.font = BODY_FONT
            cell.border = BORDER
        ws.cell(row=r, column=7).number_format = "0.00"
        for c in (5, 6):
            ws.cell(row=r, column=c).number_format = "#,##0.##"
        r += 1
    for col, w in zip("ABCDEFGHIJ", (10, 28, 10, 14, 14, 12, 12, 8, 8, 60)):
        ws.column_dimensions[col].width = w
    ws.freeze_panes = "A3"

