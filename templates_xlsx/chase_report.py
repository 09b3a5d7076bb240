"""The chase workbook 催报_<period>.xlsx (missing and late returns with registry contacts) and the completeness /
timeliness rows for the auditor workbook."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable

from openpyxl import Workbook
from openpyxl.styles import Font

from metrics.periods import parse_period
from metrics.quality.timeliness import (
    BASIS_ZH, LATE, MISSING, STATUS_ZH, Rate, RateRow, ReturnsCalendar, ReturnStatus, rates,
)
from templates_xlsx.audit_report import _sheet
from templates_xlsx.determinism import save_deterministic
from templates_xlsx.safe_text import excel_text

CHASE_SHEET, ABOUT_SHEET = "催报清单", "说明"
CHASE_COLUMNS = [("机构编码", 14), ("名称", 30), ("区县", 12), ("报表", 30), ("统计期", 14), ("状态", 8),
                 ("截止日期", 12), ("接收时间", 17), ("逾期工作日", 11), ("联系人", 10), ("联系电话", 16),
                 ("备注", 40)]
COMPLETENESS_COLUMNS = [("层级", 10), ("编码", 14), ("名称", 30), ("区县", 12), ("应报", 8), ("已报", 8),
                        ("按时", 8), ("逾期", 8), ("未报", 8), ("未到截止日", 10), ("完整率(%)", 10),
                        ("完整率达标", 10), ("及时率(%)", 10), ("及时率达标", 10)]
LEVEL_ZH = {"facility": "机构", "county": "区县", "alliance": "医疗联合体", "all": "全部"}
FREQUENCY_ZH = {"monthly": "月报", "quarterly": "季报"}
UNDEFINED_ZH = "无应报"

_HEADER_FONT = Font(bold=True)
_STATUS_ORDER = {MISSING: 0, LATE: 1}


def chase_selection(statuses: Iterable[ReturnStatus], period: str) -> list[ReturnStatus]:
    """What to chase for `period`: every return still missing (earlier periods of the span included) and the returns
    of reporting periods ending in `period` that came late."""
    p = parse_period(period)
    last = p.end_date
    first = p.start_date
    out = []
    for s in statuses:
        if s.status == MISSING or (s.status == LATE and first <= s.expected.period_end <= last):
            out.append(s)
    return out


def _note(s: ReturnStatus) -> str | None:
    parts = []
    if s.status == MISSING and s.rejected:
        parts.append(f"已报送 {s.rejected} 份，均被退回，请按审核意见修改后重报")
    if s.versions > 1:
        parts.append(f"共报送 {s.versions} 版（含重报），按{BASIS_ZH[s.expected.basis]}判定")
    return "；".join(parts) or None


def chase_rows(statuses: Iterable[ReturnStatus]) -> list[list[Any]]:
    """The 催报清单 rows (missing and late only), by county, facility, period, form number, status."""
    picked = [s for s in statuses if s.status in (MISSING, LATE)]
    picked.sort(key=lambda s: (s.expected.county or "", s.expected.facility_id, s.expected.period_end,
                               s.expected.template_zh.rsplit("（", 1)[-1], _STATUS_ORDER[s.status]))
    out = []
    for s in picked:
        e = s.expected
        out.append([excel_text(e.facility_id), excel_text(e.name), excel_text(e.county), e.template_zh,
                    e.period_label, STATUS_ZH[s.status], e.deadline, s.received_at, s.days_late,
                    excel_text(e.contact_name), excel_text(e.contact_phone), _note(s)])
    return out


def _about_rows(period: str, statuses: list[ReturnStatus], calendar: ReturnsCalendar | None,
                as_of: dt.datetime | None) -> list[list[Any]]:
    n_missing = sum(s.status == MISSING for s in statuses)
    n_late = sum(s.status == LATE for s in statuses)
    rows: list[list[Any]] = [
        ["报告", "催报清单（未报与逾期报表）"],
        ["统计期", parse_period(period).label],
        ["数据截至", as_of.strftime("%Y-%m-%d %H:%M") if as_of else "未指定（截止日后仍未收到的报表均列为未报）"],
        ["未报", n_missing],
        ["逾期", n_late],
        ["状态说明", "未报：截止日期后仍未收到未被退回的报表（只有被退回的报送也算未报）；"
                  "逾期：已收到，但用于判定的报送晚于截止日期。"],
        ["应报规则", "按机构名录：报表适用于该机构的级别/类别，模板版本适用于该统计期，且机构在整个统计期内均在名录有效期内"
                  "（统计期中途开业或撤销的机构当期不列为应报）。"
                  if calendar is None or calendar.expected_when_open == "whole_period" else
                  "按机构名录：报表适用于该机构的级别/类别，模板版本适用于该统计期，且机构在统计期内任一天在名录有效期内。"],
        ["逾期工作日", "截止日期之后至接收日（接收日为休息日的，按其后第一个工作日计）的工作日数；未报的计至数据截至日。"],
    ]
    if calendar is not None:
        wd = calendar.workdays
        years = "；".join(f"{y}年：{info.notice_zh}" + ("（暂定，待核对）" if info.status == "provisional" else "")
                         for y, info in sorted(wd.years.items()))
        rows += [
            ["工作日历", f"{wd.name}。周一至周五为工作日，法定节假日不计，调休上班的周末计为工作日。"],
            ["节假日依据", years],
        ]
        if wd.provisional_years():
            rows.append(["注意", "、".join(str(y) for y in wd.provisional_years())
                         + " 年的节假日安排尚未核对（暂按法定假日计，不含调休），相关截止日期待国务院办公厅通知发布后复核。"])
        rows.append([])
        rows.append(["报表", "报送频次", "截止规则", "按时判定依据", "应报机构"])
        for tc in calendar.templates.values():
            who = "不列入应报（有数据时报送）" if tc.expected != "layout" else "、".join(
                [*(tc.tiers or ("全部级别",)), *tc.types])
            rows.append([tc.label_zh, FREQUENCY_ZH[tc.frequency],
                         f"统计期结束后第 {tc.due_working_days} 个工作日（含）前", BASIS_ZH[tc.timeliness_basis], who])
    return rows


def write_chase_workbook(rows: Iterable[ReturnStatus], period: str, path: Path | str, *,
                         calendar: ReturnsCalendar | None = None, as_of: dt.datetime | None = None) -> Path:
    """Write 催报_<period>.xlsx (path: the file, or the folder to put it in) from judged returns; only missing and
    late ones are listed. Returns the file's path."""
    path = Path(path)
    if path.suffix.lower() != ".xlsx":
        path = path / f"催报_{period}.xlsx"
    statuses = [s for s in rows if s.status in (MISSING, LATE)]
    wb = Workbook()
    ws = _sheet(wb, CHASE_SHEET, CHASE_COLUMNS, chase_rows(statuses), first=True)
    for row in ws.iter_rows(min_row=2, min_col=7, max_col=8):
        row[0].number_format = "yyyy-mm-dd"
        row[1].number_format = "yyyy-mm-dd hh:mm"
    about = wb.create_sheet(ABOUT_SHEET)
    for r in _about_rows(period, statuses, calendar, as_of):
        about.append(r)
    for c in about["A"]:
        c.font = _HEADER_FONT
    about.column_dimensions["A"].width = 30
    about.column_dimensions["B"].width = 70
    for col in "CDE":
        about.column_dimensions[col].width = 30
    save_deterministic(wb, path)
    return path


def _rate_cells(r: Rate) -> list[Any]:
    if r.status == "undefined":
        return [UNDEFINED_ZH, None]
    return [r.percent, "是" if r.meets else "否"]


def completeness_sheet_rows(statuses: Iterable[ReturnStatus], calendar: ReturnsCalendar | None = None,
                            levels: tuple[str, ...] = ("facility", "county", "alliance", "all")) -> list[list[Any]]:
    """Rows under COMPLETENESS_COLUMNS: expected, received, on time, rates and threshold met (是/否) per facility,
    county, alliance and for all; an empty denominator reads 无应报 (undefined), never 0."""
    statuses = list(statuses)
    out: list[list[Any]] = []
    for level in levels:
        for r in rates(statuses, by=level, calendar=calendar):
            out.append(_rate_row(r))
    return out


def _rate_row(r: RateRow) -> list[Any]:
    key = None if r.level == "all" else excel_text(r.key)
    label = excel_text(r.label)
    county = excel_text(r.county) if r.level == "facility" else None
    return [LEVEL_ZH[r.level], key, label, county, r.expected, r.received, r.on_time, r.late, r.missing, r.pending,
            *_rate_cells(r.completeness), *_rate_cells(r.timeliness)]


def completeness_about_rows(calendar: ReturnsCalendar | None = None) -> list[list[Any]]:
    """Two-column rows for a 说明 sheet: thresholds, span and denominators behind the completeness sheet."""
    if calendar is None:
        from warehouse.timeliness import returns_calendar

        calendar = returns_calendar()
    c_t, t_t = calendar.completeness_threshold, calendar.timeliness_threshold
    span, t_den = calendar.span, calendar.timeliness_denominator

    def pct(x: Decimal) -> str:
        return f"{(x * 100).normalize():f}%"

    return [
        ["完整率", "已报 ÷ 应报（只有被退回的报送不计为已报）；未到截止日的报表不计入。"],
        ["及时率", "按时 ÷ " + ("应报" if t_den == "expected" else "已报") + "。"],
        ["统计区间", "当年1月至本统计期末" if span == "year_to_date" else "本统计期"],
        ["达标阈值", f"完整率 ≥ {pct(c_t)}，及时率 ≥ {pct(t_t)}（默认取 WHO 数据质量审查的 90%、75%）；"
                 "按未四舍五入的比率判定。"],
        ["无应报", "该单位统计区间内没有应报报表，比率不适用（不计为 0）。"],
    ]


def write_chase_report(con: Any, period: str, path: Path | str, *, as_of: dt.datetime | None = None,
                       calendar: ReturnsCalendar | None = None) -> Path:
    """Read the warehouse and write 催报_<period>.xlsx: returns still missing over the span, late ones of `period`."""
    from warehouse.timeliness import returns_calendar, span_statuses

    cal = calendar or returns_calendar()
    statuses = span_statuses(con, period, as_of=as_of, calendar=cal)
    return write_chase_workbook(chase_selection(statuses, period), period, path, calendar=cal, as_of=as_of)
