"""The ranked workbook (排名报告): league tables per peer group, indicator sheet, 说明 sheet, charts."""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from openpyxl.formatting.rule import ColorScaleRule
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

from templates_xlsx.determinism import save_deterministic
from templates_xlsx.safe_text import excel_text

HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
TITLE_FONT = Font(name="等线", size=14, bold=True)
HEAD_FONT = Font(name="等线", bold=True)
BODY_FONT = Font(name="等线")
THIN = Side(style="thin", color="A6A6A6")
BORDER = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)

STATUS_ZH = {
    "ok": "", "small_sample": "样本量不足", "undefined": "分母为0（无定义）", "missing": "未报", "data_error": "数据错误",
    "no_base": "无基期数据", "not_scored": "未评分", "scored": "已评分",
}


@dataclass(frozen=True)
class IndicatorMeta:
    code: str
    name_zh: str
    unit: str
    decimals: int
    direction: str
    nat_no: str | None = None


@dataclass
class ReportData:
    period: str
    prev_period: str | None
    scheme_version: str
    run_id: str
    data_cutoff: str
    league: list[dict[str, Any]]          # rows of rpt_league.sql
    indicator_rows: list[dict[str, Any]]  # rows of rpt_indicators.sql
    indicators: list[IndicatorMeta]       # report order
    coverage: dict[str, Any]              # expected / received / scored / not scored with reasons
    notes: list[str] = field(default_factory=list)
    sections: dict[str, str] = field(default_factory=dict)   # indicator → scheme section (league subtotals)
    rational: list[dict[str, Any]] = field(default_factory=list)    # 合理用药 sheet rows
    uncovered: list[dict[str, Any]] = field(default_factory=list)   # DDD未覆盖 sheet rows
    satisfaction: list[dict[str, Any]] = field(default_factory=list)       # rows of rpt_satisfaction.sql
    satisfaction_dims: list[dict[str, Any]] = field(default_factory=list)  # rpt_satisfaction_dims + dimension_zh
    satisfaction_notes: list[str] = field(default_factory=list)
    satisfaction_suppressed_note: str = ""
    alliance: Any = None                  # templates_xlsx.report_alliance.AllianceReport, or None


def _num_format(decimals: int) -> str:
    return "0" if decimals <= 0 else "0." + "0" * decimals


def _to_number(v: Any) -> Any:
    return float(v) if isinstance(v, Decimal) else v


def _sheet_title(name: str, used: set[str]) -> str:
    bad = '[]:*?/\\'
    t = "".join("_" if c in bad else c for c in name)[:28]
    base, i = t, 2
    while t in used:
        t = f"{base[:26]}{i}"
        i += 1
    used.add(t)
    return t


def _header(ws, row: int, titles: list[str]) -> None:
    for c, t in enumerate(titles, start=1):
        cell = ws.cell(row=row, column=c, value=t)
        cell.font = HEAD_FONT
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        cell.border = BORDER


def _rank_change(cur: Any, prev: Any) -> Any:
    if cur is None or prev is None:
        return "新进" if cur is not None else None
    return int(prev) - int(cur)  # positive = moved up


def write_ranked_workbook(data: ReportData, path: Path) -> Path:
    """Write 排名报告_<period>.xlsx; every text that came from a submission is neutralised."""
    wb = Workbook()
    wb.remove(wb.active)
    used: set[str] = set()
    by_fac: dict[str, dict[str, dict[str, Any]]] = {}
    for r in data.indicator_rows:
        by_fac.setdefault(r["facility_id"], {})[r["indicator"]] = r
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in data.league:
        groups.setdefault(r["peer_group"], []).append(r)

    for group, rows in groups.items():
        _league_sheet(wb, _sheet_title(f"排名-{group}", used), group, rows, by_fac, data)
    _indicator_sheet(wb, _sheet_title("指标值", used), groups, by_fac, data)
    if data.rational:
        _rational_sheet(wb, _sheet_title("合理用药", used), data)
    if data.uncovered:
        _uncovered_sheet(wb, _sheet_title("DDD未覆盖清单", used), data)
    from templates_xlsx.report_alliance import alliance_sheets
    from templates_xlsx.report_satisfaction import satisfaction_sheets

    satisfaction_sheets(wb, used, data)
    alliance_sheets(wb, used, data)
    _notes_sheet(wb, _sheet_title("说明", used), data)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_deterministic(wb, path)
    return path


def _league_sheet(wb: Workbook, title: str, group: str, rows: list[dict[str, Any]],
                  by_fac: dict[str, dict[str, dict[str, Any]]], data: ReportData) -> None:
    ws = wb.create_sheet(title)
    ws.cell(row=1, column=1, value=f"{group} 绩效考核排名（{data.period}，方案 {data.scheme_version}）").font = TITLE_FONT
    heads = ["排名", "机构编码", "机构名称", "综合得分", "等级", "分位档", "排名变化", "状态"]
    sections = list(dict.fromkeys(data.sections.values())) if len(set(data.sections.values())) > 1 else []
    heads += [f"{sec}得分" for sec in sections]
    first_ind = len(heads) + 1
    for m in data.indicators:
        heads += [f"{m.code} {m.name_zh}（{m.unit}）", f"{m.code} 得分"]
    _header(ws, 3, heads)
    r = 4
    for row in rows:
        scored = row["status"] == "scored"
        vals = [row["rank"], excel_text(row["facility_id"]), excel_text(row["name"]),
                _to_number(row["composite"]), row["grade"], row["quota_grade"],
                _rank_change(row["rank"], row["prev_rank"]) if scored else None,
                "已评分" if scored else f"未评分：{row['reason'] or ''}"]
        ind = by_fac.get(row["facility_id"], {})
        for sec in sections:  # raw points of the section's indicators (before any weight redistribution)
            pts = [x.get("points") for code, x in ind.items() if data.sections.get(code) == sec
                   and x.get("points") is not None]
            vals.append(float(sum(pts)) if pts and scored else None)
        for m in data.indicators:
            x = ind.get(m.code, {})
            status = x.get("status")
            value = _to_number(x.get("value")) if status == "ok" else STATUS_ZH.get(status or "missing", status)
            vals += [value, _to_number(x.get("points"))]
        for c, v in enumerate(vals, start=1):
            cell = ws.cell(row=r, column=c, value=v)
            cell.font = BODY_FONT
            cell.border = BORDER
        ws.cell(row=r, column=4).number_format = "0.00"
        for j in range(len(sections)):
            ws.cell(row=r, column=9 + j).number_format = "0.00"
        for i, m in enumerate(data.indicators):
            ws.cell(row=r, column=first_ind + 2 * i).number_format = _num_format(m.decimals)
            ws.cell(row=r, column=first_ind + 1 + 2 * i).number_format = "0.00"
        r += 1
    last = r - 1
    ws.freeze_panes = "D4"
    if last >= 4:
        ws.auto_filter.ref = f"A3:{get_column_letter(len(heads))}{last}"
    widths = [6, 12, 28, 10, 8, 8, 9, 16] + [12] * len(sections) + [14, 8] * len(data.indicators)
    for i, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = w
    ws.row_dimensions[3].height = 45
    scored_rows = [i for i, row in enumerate(rows) if row["status"] == "scored"]
    if scored_rows:
        n = len(scored_rows)  # scored rows are listed first (sorted by status desc, rank)
        chart = BarChart()
        chart.type = "bar"
        chart.title = f"{group} 综合得分"
        chart.y_axis.title = "综合得分"
        chart.legend = None
        chart.add_data(Reference(ws, min_col=4, min_row=3, max_row=3 + n), titles_from_data=True)
        chart.set_categories(Reference(ws, min_col=3, min_row=4, max_row=3 + n))
        chart.height = max(7.5, 0.5 * n)
        chart.width = 18
        ws.add_chart(chart, f"{get_column_letter(len(heads) + 2)}3")


def _indicator_sheet(wb: Workbook, title: str, groups: dict[str, list[dict[str, Any]]],
                     by_fac: dict[str, dict[str, dict[str, Any]]], data: ReportData) -> None:
    ws = wb.create_sheet(title)
    ws.cell(row=1, column=1, value=f"指标值与同组中位数（{data.period}）").font = TITLE_FONT
    heads = ["同组", "机构编码", "机构名称"] + [
        f"{m.code} {m.name_zh}（{m.unit}）{'↑' if m.direction == 'up' else '↓' if m.direction == 'down' else ''}"
        for m in data.indicators]
    _header(ws, 3, heads)
    r = 4
    for group, rows in groups.items():
        first = r
        for row in rows:
            ind = by_fac.get(row["facility_id"], {})
            vals = [group, excel_text(row["facility_id"]), excel_text(row["name"])]
            for m in data.indicators:
                x = ind.get(m.code, {})
                vals.append(_to_number(x.get("value")) if x.get("status") == "ok"
                            else STATUS_ZH.get(x.get("status") or "missing", x.get("status")))
            for c, v in enumerate(vals, start=1):
                cell = ws.cell(row=r, column=c, value=v)
                cell.border = BORDER
                cell.font = BODY_FONT
            for i, m in enumerate(data.indicators):
                ws.cell(row=r, column=4 + i).number_format = _num_format(m.decimals)
            r += 1
        # the peer median is computed over defined values only (undefined / missing are not zeros)
        med = [group, "", "同组中位数"]
        for m in data.indicators:
            xs = [float(by_fac.get(row["facility_id"], {}).get(m.code, {}).get("value"))
                  for row in rows
                  if by_fac.get(row["facility_id"], {}).get(m.code, {}).get("status") == "ok"]
            med.append(round(statistics.median(xs), m.decimals) if xs else None)
        for c, v in enumerate(med, start=1):
            cell = ws.cell(row=r, column=c, value=v)
            cell.font = HEAD_FONT
            cell.fill = PatternFill("solid", fgColor="F2F2F2")
            cell.border = BORDER
        for i, m in enumerate(data.indicators):
            ws.cell(row=r, column=4 + i).number_format = _num_format(m.decimals)
            if r - 1 >= first:
                col = get_column_letter(4 + i)
                low, high = ("F8696B", "63BE7B") if m.direction == "up" else ("63BE7B", "F8696B")
                if m.direction in ("up", "down"):
                    ws.conditional_formatting.add(
                        f"{col}{first}:{col}{r - 1}",
                        ColorScaleRule(start_type="min", start_color=low, mid_type="percentile", mid_value=50,
                                       mid_color="FFEB84", end_type="max", end_color=high))
        r += 2
    ws.freeze_panes = "D4"
    for i, w in enumerate([10, 12, 28] + [16] * len(data.indicators), start=1):
        ws.column_dimensions[get_column_letter(i)].width = w
    ws.row_dimensions[3].height = 60


def _notes_sheet(wb: Workbook, title: str, data: ReportData) -> None:
    ws = wb.create_sheet(title)
    cov = data.coverage
    lines: list[tuple[str, Any]] = [
        ("报告", f"公立医院绩效考核排名报告（{data.period}）"),
        ("考核方案版本", data.scheme_version),
        ("运行编号", data.run_id),
        ("数据截止", data.data_cutoff),
        ("上期（排名变化对比）", data.prev_period or "无"),
        ("应报机构数", cov.get("expected")),
        ("已报机构数", cov.get("received")),
        ("参与评分机构数", cov.get("scored")),
        ("未评分机构数", len(cov.get("not_scored", []))),
    ]
    ws.cell(row=1, column=1, value="说明").font = TITLE_FONT
    r = 3
    for k, v in lines:
        ws.cell(row=r, column=1, value=k).font = HEAD_FONT
        ws.cell(row=r, column=2, value=excel_text(v))
        r += 1
    r += 1
    ws.cell(row=r, column=1, value="未评分机构及原因").font = HEAD_FONT
    r += 1
    _header(ws, r, ["机构编码", "机构名称", "原因"])
    r += 1
    for fid, name, reason in cov.get("not_scored", []):
        for c, v in enumerate([fid, name, reason], start=1):
            ws.cell(row=r, column=c, value=excel_text(v)).border = BORDER
        r += 1
    r += 1
    ws.cell(row=r, column=1, value="指标与口径").font = HEAD_FONT
    r += 1
    _header(ws, r, ["指标代码", "指标名称", "国考序号", "单位", "方向", "发布精度"])
    r += 1
    for m in data.indicators:
        direction = {"up": "逐步提高↑", "down": "逐步降低↓", "monitor": "监测比较", "band": "目标区间"}.get(
            m.direction, m.direction)
        for c, v in enumerate([m.code, m.name_zh, m.nat_no or "", m.unit, direction, m.decimals], start=1):
            ws.cell(row=r, column=c, value=v).border = BORDER
        r += 1
    r += 1
    ws.cell(row=r, column=1, value="计算规则").font = HEAD_FONT
    r += 1
    for note in data.notes:
        ws.cell(row=r, column=1, value=note)
        r += 1
    ws.column_dimensions["A"].width = 22
    ws.column_dimensions["B"].width = 40
    ws.column_dimensions["C"].width = 40
    for col in "DEF":
        ws.column_dimensions[col].width = 12


def _table_sheet(ws, title: str, heads: list[str], rows: list[list[Any]], widths: list[int],
                 formats: dict[int, str] | None = None) -> None:
    ws.cell(row=1, column=1, value=title).font = TITLE_FONT
    _header(ws, 3, heads)
    for r, vals in enumerate(rows, start=4):
        for c, v in enumerate(vals, start=1):
            cell = ws.cell(row=r, column=c, value=excel_text(_to_number(v)))
            cell.font = BODY_FONT
            cell.border = BORDER
            if formats and c in formats:
                cell.number_format = formats[c]
            elif isinstance(v, (float, Decimal)):
                cell.number_format = "0.00"
    ws.freeze_panes = "D4"
    if rows:
        ws.auto_filter.ref = f"A3:{get_column_letter(len(heads))}{3 + len(rows)}"
    for i, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = w
    ws.row_dimensions[3].height = 45


def _rational_sheet(wb: Workbook, title: str, data: ReportData) -> None:
    """合理用药: rates vs each facility's own targets, review indicators vs WHO/INRUD, sample and cross-check."""
    ws = wb.create_sheet(title)
    heads = ["机构编码", "机构名称", "同组"]
    cols: list[tuple[str, str]] = []
    for code, label in (("HL01", "抗菌药物使用强度（DDDs/百人天）"), ("HL02", "门诊抗菌药物处方比例（%）"),
                        ("HL03", "急诊抗菌药物处方比例（%）"), ("HL04", "住院患者抗菌药物使用率（%）"),
                        ("HL05", "Ⅰ类切口预防用药比例（%）"), ("HL06", "抗菌药物品种数")):
        heads += [f"{code} {label}", f"{code} 目标", f"{code} 判定"]
        cols += [(code, "v"), (code, "target"), (code, "verdict")]
    for code, label in (("HL07", "B 平均用药品种数"), ("HL08", "D 抗菌药处方百分率（%）"),
                        ("HL09", "F 注射剂处方百分率（%）"), ("HL10", "H 基本药物百分率（%）"),
                        ("HL11", "J 通用名百分率（%）")):
        heads += [f"{code} {label}", f"{code} WHO/INRUD参考", f"{code} 判定"]
        cols += [(code, "v"), (code, "ref"), (code, "verdict")]
    heads += ["上年同期AUD（按本期DDD表重算）", "AUD同比变化（%）", "同比口径说明", "收治患者人天数（AUD分母）",
              "实际占用总床日数", "人天数核对"]
    cols += [("aud_base", "raw"), ("aud_change", "raw"), ("aud_yoy_note", "raw"), ("patient_days", "raw"),
             ("occupied_bed_days", "raw"), ("patient_days_check", "raw")]
    heads += ["HL12 平均处方金额（元）", "HL13 合理处方百分率（%）", "点评处方数", "抽样方式", "抽样是否充足",
              "交叉核查", "自报门诊抗菌药物处方比例（%）", "抽样比例（%）", "抽样比例置信区间", "p值（精确二项检验）",
              "核查说明"]
    rows = []
    for r in data.rational:
        vals: list[Any] = [r["facility_id"], r["name"], r["peer_group"]]
        for code, kind in cols:
            if kind == "v":
                st = r.get(f"{code}_status")
                vals.append(r.get(code) if r.get(code) is not None else STATUS_ZH.get(st or "missing", st))
            elif kind == "raw":
                vals.append(r.get(code))
            else:
                vals.append(r.get(f"{code}_{kind}"))
        vals += [r.get("HL12"), r.get("HL13"), r.get("sample_n"), r.get("sample_method"), r.get("sample_adequate"),
                 r.get("crosscheck"), r.get("reported_rate"), r.get("sample_rate"), r.get("interval"),
                 r.get("p_value"), r.get("crosscheck_reason")]
        rows.append(vals)
    n = len(heads)
    _table_sheet(ws, f"合理用药（{data.period}）：抗菌药物使用、处方点评与 WHO/INRUD 指标", heads, rows,
                 [12, 26, 10] + [12] * (n - 3),
                 {n - 4: "0.00", n - 3: "0.00", n - 1: "0.0000"})
    note = ws.cell(row=4 + len(rows) + 1, column=1,
                   value="说明：目标值按机构级别、类别、专科取自目标表；交叉核查仅对随机抽样进行，自报比例落在抽样比例的 "
                         "Wilson 置信区间之外时标记；本表不含处方医师、药师姓名与诊断。")
    note.font = BODY_FONT


def _uncovered_sheet(wb: Workbook, title: str, data: ReportData) -> None:
    """Products whose consumption AUD could not count, for the bureau's pharmacists to resolve."""
    ws = wb.create_sheet(title)
    heads = ["通用名", "剂型/给药途径", "规格", "包装单位", "机构编码", "统计期", "住院用量", "占本机构住院用量（%）",
             "状态", "原因"]
    state = {"not_covered": "未能折算DDD", "out_of_scope": "不属抗菌药物统计范围"}
    rows = [[u["generic_name"], u["form_route"], u["strength"], u["pack_unit"], u["facility_id"], u["period"],
             u["qty_inpatient"], u["share_pct"], state.get(u["status"], u["status"]), u["reason"]]
            for u in data.uncovered]
    _table_sheet(ws, f"DDD未覆盖清单（{data.period}）：请药学人员补充DDD或更正品名", heads, rows,
                 [24, 14, 16, 8, 10, 9, 10, 12, 16, 48], {7: "#,##0", 8: "0.00"})
