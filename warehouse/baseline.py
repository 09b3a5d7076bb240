"""Baseline import: last year's monthly figures per facility, so growth indicators work from month one."""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import duckdb
from python_calamine import CalamineWorkbook

from expectations.findings import Finding, make
from metrics.catalog import FieldDef, fields_by_code, load_fields
from templates_xlsx.read import parse_number
from warehouse.db import sql_text, transaction
from warehouse.registry import col_letter

SHEET = "基线"
FACILITY_HEADER = "机构编码"
PERIOD_HEADER = "统计期"
BASELINE_KEYS = ("facility_id", "period", "field", "value", "source_file", "sheet", "cell")

_PERIOD_RE = re.compile(r"^(\d{4})\s*(?:[-/.]|年)\s*(\d{1,2})\s*月?$")


def header_text(f: FieldDef) -> str:
    """The Chinese column header of a field in the baseline sheet: label with its unit."""
    return f"{f.label_zh}（{f.unit}）"


def _norm(v: Any) -> str:
    return re.sub(r"\s+", "", str(v or "")).replace("(", "（").replace(")", "）")


def _header_index() -> dict[str, str]:
    """Accepted header spellings → field code: code, label, and label with its unit."""
    idx: dict[str, str] = {}
    for f in load_fields():
        for h in (f.code, f.label_zh, header_text(f), f.label_zh.removeprefix("其中：")):
            idx.setdefault(_norm(h), f.code)
            idx.setdefault(_norm(h).lower(), f.code)
    return idx


def parse_month(v: Any) -> str | None:
    """YYYY-MM from a date cell or text like 2025-10, 2025/10, 2025年10月; None when unrecognised."""
    if isinstance(v, (dt.date, dt.datetime)):
        return f"{v.year:04d}-{v.month:02d}"
    m = _PERIOD_RE.match(str(v or "").strip())
    if not m or not 1 <= int(m[2]) <= 12:
        return None
    return f"{int(m[1]):04d}-{int(m[2]):02d}"


def _code_text(v: Any) -> str | None:
    if v is None or v == "":
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    s = str(v).strip().upper()
    return s or None


def read_baseline(path: Path, known_facilities: set[str] | None = None) -> tuple[list[dict], list[Finding]]:
    """Rows for baseline_values from the 基线 sheet, and findings for cells and rows that were skipped."""
    path = Path(path)
    file = path.name
    wb = CalamineWorkbook.from_path(str(path))
    try:
        if SHEET not in wb.sheet_names:
            return [], [make("sheet-missing", file=file, sheet=SHEET)]
        rows = wb.get_sheet_by_name(SHEET).to_python(skip_empty_area=False)
    finally:
        wb.close()
    findings: list[Finding] = []
    hr = next((r for r, row in enumerate(rows[:10]) if FACILITY_HEADER in [_norm(v) for v in row]), -1)
    if hr < 0:
        return [], [make("registry-column-missing", field_zh=FACILITY_HEADER, file=file, sheet=SHEET)]
    names = [_norm(v) for v in rows[hr]]
    if PERIOD_HEADER not in names:
        return [], [make("registry-column-missing", field_zh=PERIOD_HEADER, file=file, sheet=SHEET)]
    c_fac, c_per = names.index(FACILITY_HEADER), names.index(PERIOD_HEADER)
    index = _header_index()
    fdefs = fields_by_code()
    field_cols: list[tuple[int, str]] = []
    for c, h in enumerate(names):
        if c in (c_fac, c_per) or not h:
            continue
        code = index.get(h) or index.get(h.lower())
        if code is None:
            findings.append(make("baseline-column-unknown", file=file, sheet=SHEET,
                                 cell=f"{col_letter(c)}{hr + 1}", value=rows[hr][c]))
        elif code not in {fc for _, fc in field_cols}:
            field_cols.append((c, code))
    out: list[dict] = []
    seen: dict[tuple[str, str], int] = {}
    for r in range(hr + 1, len(rows)):
        row = rows[r] + [""] * (len(names) - len(rows[r]))
        if all(v in ("", None) or (isinstance(v, str) and not v.strip()) for v in row):
            continue
        rnum = r + 1
        fid = _code_text(row[c_fac])
        fac_cell, per_cell = f"{col_letter(c_fac)}{rnum}", f"{col_letter(c_per)}{rnum}"
        if fid is None:
            findings.append(make("baseline-facility-missing", file=file, sheet=SHEET, cell=fac_cell))
            continue
        if known_facilities is not None and fid not in known_facilities:
            findings.append(make("baseline-facility-unknown", file=file, sheet=SHEET, cell=fac_cell, value=fid))
            continue
        period = parse_month(row[c_per])
        if period is None:
            findings.append(make("baseline-period-invalid", file=file, sheet=SHEET, cell=per_cell,
                                 facility_id=fid, value=row[c_per]))
            continue
        if (fid, period) in seen:
            findings.append(make("baseline-duplicate-row", file=file, sheet=SHEET, cell=fac_cell,
                                 facility_id=fid, period=period, expected=seen[(fid, period)]))
            continue
        seen[(fid, period)] = rnum
        for c, code in field_cols:
            raw = None if row[c] == "" else row[c]
            cell = f"{col_letter(c)}{rnum}"
            # the same number rules as a return (full-width digits, 1,234.5, a trailing unit, percent)
            value, raw_text, status = parse_number(raw, fdefs[code])
            if status in ("blank", "blank_zero"):
                continue  # blank = not given; a baseline has no "blank means zero"
            if status == "error":
                findings.append(make("value-not-number", field_zh=fdefs[code].label_zh, file=file, sheet=SHEET,
                                     cell=cell, field=code, value=raw_text, facility_id=fid, period=period))
                continue
            out.append({"facility_id": fid, "period": period, "field": code, "value": value,
                        "source_file": file, "sheet": SHEET, "cell": cell})
    return out, findings


def import_baseline(con: duckdb.DuckDBPyConnection, path: Path) -> tuple[int, list[Finding]]:
    """Upsert the file's baseline values into baseline_values; returns (values written, findings)."""
    import pandas as pd

    [(n_fac,)] = con.execute("SELECT count(*) FROM facilities").fetchall()
    known = None
    if n_fac:  # before a registry exists, codes cannot be checked
        known = {r[0].upper() for r in con.execute("SELECT DISTINCT facility_id FROM facilities").fetchall()}
    rows, findings = read_baseline(path, known)
    frame = pd.DataFrame([[d[k] for k in BASELINE_KEYS] for d in rows], columns=list(BASELINE_KEYS))
    frame["value"] = frame["value"].astype("float64")
    con.register("_baseline_in", frame)
    try:
        with transaction(con):
            con.execute(sql_text("reg_upsert_baseline"))
    finally:
        con.unregister("_baseline_in")
    return len(rows), findings


def write_baseline_template(path: Path) -> Path:
    """Write the empty baseline import workbook (sheet 基线 with Chinese headers, and a 说明 sheet)."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    from templates_xlsx.determinism import save_deterministic

    fields = load_fields()
    wb = Workbook()
    ws = wb.active
    ws.title = SHEET
    headers = [FACILITY_HEADER, PERIOD_HEADER] + [header_text(f) for f in fields]
    ws.append(headers)
    bold, fill = Font(bold=True), PatternFill("solid", fgColor="DDEBF7")
    for c, h in enumerate(headers, start=1):
        cell = ws.cell(row=1, column=c)
        cell.font, cell.fill = bold, fill
        cell.alignment = Alignment(wrap_text=True, vertical="center", horizontal="center")
        ws.column_dimensions[get_column_letter(c)].width = 12 if c <= 2 else max(12, min(24, len(h) * 2 + 2))
    # codes and periods stay text so Excel does not turn 2025-10 into a date or drop leading zeros
    for c in ("A", "B"):
        ws.column_dimensions[c].number_format = "@"
    ws.row_dimensions[1].height = 45
    ws.freeze_panes = "C2"
    notes = wb.create_sheet("说明")
    for line in (
        ["基线数据导入说明"],
        ["1. 每行填写一个机构一个月的数据：机构编码（见机构名录）、统计期（YYYY-MM 或 YYYY年MM月）。"],
        ["2. 各数据项的口径与单位同《医院运营与药品月报》；金额单位为万元，保留两位小数。"],
        ["3. 只填数字，不要填文字或符号；没有数据的单元格留空。"],
        ["4. 同一机构同一统计期重复导入时，以最新导入的数值为准。"],
        [],
        ["列名", "数据项代码", "单位"],
        *[[header_text(f), f.code, f.unit] for f in fields],
    ):
        notes.append(line)
    notes["A1"].font = Font(bold=True, size=12)
    notes.column_dimensions["A"].width = 36
    notes.column_dimensions["B"].width = 24
    path = Path(path)
    save_deterministic(wb, path)
    return path
