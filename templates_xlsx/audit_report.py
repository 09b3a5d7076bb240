"""The auditor's workbook 审核报告_<period>.xlsx: who reported, every finding with its cell, counts."""
from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from expectations.findings import registry
from metrics.catalog import fields_by_code, load_yaml
from templates_xlsx.determinism import save_deterministic
from templates_xlsx.layout import cell_sort_key
from templates_xlsx.safe_text import excel_text
from warehouse.db import sql_text

LAYOUT_FILE = Path(__file__).with_name("layouts") / "op_monthly.yaml"
SEVERITY_ZH = {"error": "错误", "warning": "警告", "info": "提示"}
REPORTED, MISSING, RETURNED = "已报", "未报", "退回"

_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_PLACEHOLDER = re.compile(r"\{[a-z_]+\}")

STATUS_COLUMNS = [("机构编码", 14), ("名称", 30), ("同组", 12), ("报送状态", 10), ("文件名", 40),
                  ("接收时间", 18), ("错误数", 8), ("警告数", 8)]
DETAIL_COLUMNS = [("机构编码", 14), ("名称", 28), ("文件", 36), ("位置", 16), ("代码", 24), ("严重程度", 10),
                  ("字段", 24), ("填报值", 16), ("期望值", 16), ("问题说明", 60), ("修改建议", 50)]


def _rows(con: duckdb.DuckDBPyConnection, name: str, **params: Any) -> list[dict[str, Any]]:
    cur = con.execute(sql_text(name), params or None)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def _field_labels() -> dict[str, str]:
    labels = {f.code: f.label_zh for f in fields_by_code().values()}
    for ver in load_yaml(LAYOUT_FILE)["versions"]:
        for key, spec in (ver.get("header") or {}).items():
            labels.setdefault(key, spec.get("label_zh", key))
    return labels


def _number_or_text(v: str | None, numeric: bool) -> Any:
    """A data field's value/expected as a number when it reads as one ('-1' stays -1), anything else as safe text."""
    if v is None:
        return None
    if not numeric:
        return excel_text(v)
    try:
        x = float(v)
    except ValueError:
        return excel_text(v)
    if x != x or x in (float("inf"), float("-inf")):
        return excel_text(v)
    return int(x) if x == int(x) and "." not in v and "e" not in v.lower() else x


def _sheet(wb: Workbook, title: str, columns: list[tuple[str, int]], rows: list[list[Any]],
           first: bool = False) -> Worksheet:
    ws = wb.active if first else wb.create_sheet()
    ws.title = title
    ws.append([c for c, _ in columns])
    for i, (_, width) in enumerate(columns, start=1):
        cell = ws.cell(row=1, column=i)
        cell.font, cell.fill = _HEADER_FONT, _HEADER_FILL
        cell.alignment = Alignment(vertical="center")
        ws.column_dimensions[get_column_letter(i)].width = width
    for r in rows:
        ws.append(r)
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{max(len(rows) + 1, 1)}"
    return ws


def _status_rows(con: duckdb.DuckDBPyConnection, period: str) -> tuple[list[list[Any]], Counter]:
    from templates_xlsx.layout import files_a_return
    from warehouse.registry import facilities_for_period

    subs = _rows(con, "val_audit_submissions", period=period)
    by_fac: dict[str, list[dict[str, Any]]] = {}
    for s in subs:
        if s["facility_id"] is not None:
            by_fac.setdefault(s["facility_id"], []).append(s)
    counts: Counter = Counter()
    out = []
    # expected = registry facilities active in the month that a template applies to (基层 file other returns)
    for fac in (f for f in facilities_for_period(con, period) if files_a_return(f)):
        mine = by_fac.get(fac["facility_id"], [])  # newest first
        good = [s for s in mine if s["status"] in ("received", "accepted", "held")]
        pick = good[0] if good else (mine[0] if mine else None)
        state = REPORTED if good else (RETURNED if mine else MISSING)
        counts[state] += 1
        out.append([excel_text(fac["facility_id"]), excel_text(fac["name"]), excel_text(fac["peer_group"]), state,
                    excel_text(pick["original_name"]) if pick else None, pick["received_at"] if pick else None,
                    pick["n_errors"] if pick else None, pick["n_warnings"] if pick else None])
    # returns no registry facility could be matched to: listed with what the form says, always 退回/已报 as stored
    for s in subs:
        if s["facility_id"] is None:
            state = RETURNED if s["status"] == "rejected" else REPORTED
            counts["unattributed"] += 1
            out.append([excel_text(s["header_code"]), excel_text(s["header_name"]), None, state,
                        excel_text(s["original_name"]), s["received_at"], s["n_errors"], s["n_warnings"]])
    return out, counts


def _detail_rows(con: duckdb.DuckDBPyConnection, period: str) -> tuple[list[list[Any]], list[dict[str, Any]]]:
    from warehouse.registry import facilities_for_period

    names = {f["facility_id"]: f["name"] for f in facilities_for_period(con, period)}
    labels = _field_labels()
    numeric = set(fields_by_code())
    found = _rows(con, "val_audit_findings", period=period)
    sev_rank = {"error": 0, "warning": 1, "info": 2}
    found.sort(key=lambda f: (f["facility_id"] is None, f["facility_id"] or f["header_code"] or "", f["file"] or "",
                              f["submission_id"], sev_rank.get(f["severity"], 3), f["sheet"] or "",
                              cell_sort_key(f["cell"]), f["code"], f["finding_id"]))
    out = []
    for f in found:
        code = f["facility_id"] or f["header_code"]
        name = names.get(f["facility_id"]) or f["header_name"]
        where = f"{f['sheet']}!{f['cell']}" if f["sheet"] and f["cell"] else (f["sheet"] or f["cell"])
        field = labels.get(f["field"], f["field"]) if f["field"] else None
        out.append([excel_text(code), excel_text(name), excel_text(f["file"]), excel_text(where), f["code"],
                    SEVERITY_ZH.get(f["severity"], f["severity"]), excel_text(field),
                    _number_or_text(f["value"], f["field"] in numeric),
                    _number_or_text(f["expected"], f["field"] in numeric),
                    excel_text(f["message_zh"]), excel_text(f["fix_zh"])])
    return out, found


def _about_rows(period: str, status: Counter, found: list[dict[str, Any]]) -> list[list[Any]]:
    n_expected = status[REPORTED] + status[MISSING] + status[RETURNED]
    by_sev = Counter(f["severity"] for f in found)
    rows: list[list[Any]] = [
        ["报告", "审核报告（数据质量与报送情况）"],
        ["统计期", period],
        ["应报机构数", n_expected],
        ["已报", status[REPORTED]],
        ["未报", status[MISSING]],
        ["退回", status[RETURNED]],
        ["未能识别机构的报送文件", status["unattributed"]],
        ["问题总数", len(found)],
        ["其中：错误", by_sev["error"]],
        ["其中：警告", by_sev["warning"]],
        ["其中：提示", by_sev["info"]],
        ["严重程度说明", "错误：该数据不能使用，须更正后重报；警告：请核实，确认无误可不修改；提示：供参考。"],
        [],
    ]
    return rows


def _code_rows(found: list[dict[str, Any]]) -> list[list[Any]]:
    codes = registry()
    rows = []
    by_code = Counter((f["code"], f["severity"]) for f in found)
    sev_rank = {"error": 0, "warning": 1, "info": 2}
    for (code, sev), n in sorted(by_code.items(), key=lambda kv: (sev_rank.get(kv[0][1], 3), kv[0][0])):
        template = codes.get(code, {}).get("message_zh", "")
        rows.append([code, SEVERITY_ZH.get(sev, sev), n, _PLACEHOLDER.sub("…", template)])
    return rows


Sheet = tuple[str, list[tuple[str, int]], list[list[Any]]]   # (title, columns with widths, rows)


def trail_sheets(con: duckdb.DuckDBPyConnection, period: str, scheme_version: str | None) -> list[Sheet]:
    """The auditor's trail: review states, rules with pass rates, review actions, 修订记录 and 评分溯源."""
    from templates_xlsx import audit_trail as t

    sheets: list[Sheet] = [("审核状态", t.REVIEW_COLUMNS, t.review_rows(con, period)),
                           ("规则通过率", t.RULE_COLUMNS, t.rule_rows(con, period)),
                           ("审核操作记录", t.ACTION_COLUMNS, t.action_rows(con, period)),
                           ("修订记录", t.REVISION_COLUMNS, t.revision_rows(con, period))]
    if scheme_version:
        sheets.append(("评分溯源", t.TRACE_COLUMNS, t.trace_rows(con, period, scheme_version)))
    return sheets


def write_audit_workbook(con: duckdb.DuckDBPyConnection, period: str, path: Path | str,
                         scheme_version: str | None = None, extra_sheets: list[Sheet] | tuple = (),
                         trail: bool = True) -> Path:
    """Write 审核报告_<period>.xlsx (path: the file, or the folder to put it in) and return its path.

    Sheets: 机构状态, 问题明细, 说明, then (trail=True) the auditor's trail — 审核状态, 规则通过率, 审核操作记录,
    修订记录, 评分溯源 (when a scheme version is given) — and any extra sheets (completeness and timeliness,
    outliers ranked by impact) as the caller built them.
    """
    path = Path(path)
    if path.suffix.lower() != ".xlsx":
        path = path / f"审核报告_{period}.xlsx"
    status_rows, status = _status_rows(con, period)
    detail_rows, found = _detail_rows(con, period)
    wb = Workbook()
    ws = _sheet(wb, "机构状态", STATUS_COLUMNS, status_rows, first=True)
    for row in ws.iter_rows(min_row=2, min_col=6, max_col=6):
        for c in row:
            if isinstance(c.value, dt.datetime):
                c.number_format = "yyyy-mm-dd hh:mm"
    ws = _sheet(wb, "问题明细", DETAIL_COLUMNS, detail_rows)
    for row in ws.iter_rows(min_row=2, min_col=10, max_col=11):
        for c in row:
            c.alignment = Alignment(wrap_text=True, vertical="top")
    about = wb.create_sheet("说明")
    for r in _about_rows(period, status, found):
        about.append(r)
    for c in about["A"]:
        c.font = _HEADER_FONT
    about.append(["代码", "严重程度", "数量", "问题类型"])
    head = about.max_row
    for c in about[head]:
        c.font, c.fill = _HEADER_FONT, _HEADER_FILL
    for r in _code_rows(found):
        about.append(r)
    about.column_dimensions["A"].width = 26
    about.column_dimensions["B"].width = 40
    about.column_dimensions["C"].width = 8
    about.column_dimensions["D"].width = 70
    about.freeze_panes = "A2"
    for title, columns, rows in (trail_sheets(con, period, scheme_version) if trail else []) + list(extra_sheets):
        ws = _sheet(wb, title, columns, rows)
        for row in ws.iter_rows(min_row=2):
            for c in row:
                if isinstance(c.value, dt.datetime):
                    c.number_format = "yyyy-mm-dd hh:mm"
    save_deterministic(wb, path)
    return path
