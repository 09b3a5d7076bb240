"""Build the official-looking, protected input templates (one .xlsx per layout version)."""
from __future__ import annotations

import io
import re
import zipfile
from copy import copy
from pathlib import Path

from openpyxl import Workbook
from openpyxl.packaging.custom import StringProperty
from openpyxl.styles import Alignment, Border, Font, PatternFill, Protection, Side
from openpyxl.utils import get_column_letter
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation

from metrics.catalog import FieldDef
from templates_xlsx.determinism import normalize_zip, save_deterministic
from templates_xlsx.layout import ChoiceSpec, Layout, LayoutVersion, TableColumn, TableSpec, load_layouts, split_cell
from templates_xlsx.read import META_ID_LABEL, META_VERSION_LABEL, PROP_TEMPLATE_ID, PROP_TEMPLATE_VERSION

TEMPLATES_DIR = Path(__file__).resolve().parent
SHEET_PASSWORD = "jixiao"  # legacy 16-bit hash: a UX lock against accidental edits, not security

INPUT_FILL = PatternFill("solid", start_color="FFFFF2CC", end_color="FFFFF2CC")
HEAD_FILL = PatternFill("solid", start_color="FFD9D9D9", end_color="FFD9D9D9")
THIN = Side(style="thin", color="FF000000")
BORDER = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
UNDERLINE = Border(bottom=THIN)
F_TITLE = Font(name="宋体", size=18, bold=True)
F_SUB = Font(name="宋体", size=10.5)
F_LABEL = Font(name="宋体", size=11)
F_HEAD = Font(name="宋体", size=11, bold=True)
F_INPUT = Font(name="等线", size=11)
F_NOTE = Font(name="宋体", size=9, color="FF595959")
UNLOCKED = Protection(locked=False)
NUMBER_FORMATS = {"count": "#,##0", "amount": "#,##0.00", "ratio": "0.00"}
COLUMN_WIDTHS = (6, 36, 22, 14, 18)
TABLE_HEADERS = ("序号", "指标名称", "代码", "计量单位", "本月数")

NOTES_ZH = (
    "填报说明：",
    "1. 请只在浅黄色单元格内填写；请勿插入、删除行列或修改工作表名称。",
    "2. 金额单位为万元，保留两位小数；人次、床日、张数等填写整数；无发生数请填 0，不要填写文字或符号。",
    "3. 统计期按“YYYY年MM月”填写，例如 2026年09月；机构编码以机构名录为准。",
    "4. 请直接填写数值，不要使用公式或链接其他文件；填好后另存为 .xlsx 报送。",
)


def _dv_number(fd: FieldDef, ref: str) -> DataValidation:
    """Numeric validation with Chinese prompt/error for one data item."""
    if fd.kind == "count":
        dv = DataValidation(type="whole", operator="greaterThanOrEqual", formula1="0")
        rule = f"请填写不小于 0 的整数（单位：{fd.unit}）"
    elif fd.kind == "ratio":
        dv = DataValidation(type="decimal", operator="between", formula1="0", formula2="100")
        rule = "请填写 0～100 之间的百分数数值（例如 12.5 表示 12.5%）"
    else:
        dv = DataValidation(type="decimal", operator="greaterThanOrEqual", formula1="0")
        rule = f"请填写不小于 0 的数值（单位：{fd.unit}，保留两位小数）"
    blank = "；无发生数可留空或填 0" if fd.blank == "zero" else "；无发生数填 0"   # missing / refused: type the 0
    dv.showErrorMessage = True
    dv.showInputMessage = True
    dv.errorStyle = "stop"
    dv.errorTitle = "填写有误"
    dv.error = rule + "。"
    dv.promptTitle = fd.label_zh[:32]
    dv.prompt = (rule + blank + "。")[:255]
    dv.allow_blank = True
    dv.add(ref)
    return dv


def _dv_text(ref: str, min_len: int, max_len: int, title: str, prompt: str, error: str) -> DataValidation:
    """Text-length validation with a Chinese input message."""
    dv = DataValidation(type="textLength", operator="between", formula1=str(min_len), formula2=str(max_len))
    dv.showErrorMessage = True
    dv.showInputMessage = True
    dv.errorStyle = "stop"
    dv.errorTitle = "填写有误"
    dv.error = error
    dv.promptTitle = title
    dv.prompt = prompt
    dv.allow_blank = True
    dv.add(ref)
    return dv


_TEXT_RULES = {
    "facility_name": (1, 100, "请填写单位全称（与机构名录一致）并加盖公章。", "单位名称不超过 100 个字符。"),
    "facility_code": (1, 30, "请填写机构名录中的本单位机构编码。", "机构编码不超过 30 个字符。"),
    "period": (6, 10, "请按“YYYY年MM月”填写统计期，例如 2026年09月。", "请按“YYYY年MM月”填写，例如 2026年09月。"),
    "phone": (1, 30, "请填写联系电话，例如 0571-12345678。", "联系电话不超过 30 个字符。"),
    "report_date": (1, 20, "请填写报出日期，例如 2026年10月10日。", "报出日期不超过 20 个字符。"),
}


def _dv_choice(spec: ChoiceSpec) -> DataValidation:
    """Dropdown list validation for a choice input."""
    dv = DataValidation(type="list", formula1='"' + ",".join(spec.options) + '"', allow_blank=True)
    dv.showErrorMessage = True
    dv.showInputMessage = True
    dv.errorStyle = "stop"
    dv.errorTitle = "填写有误"
    dv.error = "请从下拉列表中选择：" + "、".join(spec.options) + "。"
    dv.promptTitle = spec.label_zh[:32]
    dv.prompt = ("请从下拉列表中选择：" + "、".join(spec.options) + "。")[:255]
    dv.add(spec.cell)
    return dv


def _check_geometry(lv: LayoutVersion) -> int:
    """Validate that the layout fits the form grid; returns the value column of the table."""
    cols = {split_cell(f.cell)[1] for f in lv.fields}
    if len(cols) != 1 or min(cols) < 5:
        raise ValueError(f"layout {lv.version}: field cells must share one column at E or right of it")
    for spec in list(lv.header.values()) + list(lv.footer.values()) + list(lv.choices.values()):
        row, col = split_cell(spec.cell)
        if row <= 2 or col < 2:
            raise ValueError(f"layout {lv.version}: input {spec.name} at {spec.cell} leaves no room for its label")
    return cols.pop()


def _merge_right(ws, used: set[tuple[int, int]], row: int, col: int, last_col: int) -> int:
    """Merge an input cell rightwards over free cells up to last_col; returns the end column."""
    end = col
    while end + 1 <= last_col and (row, end + 1) not in used:
        end += 1
    if end > col:
        ws.merge_cells(start_row=row, start_column=col, end_row=row, end_column=end)
    return end


def build_workbook(layout: Layout, lv: LayoutVersion, authority_zh: str | None = None) -> Workbook:
    """The template workbook for one layout version (not yet saved)."""
    fdefs = layout.field_defs()
    vcol = _check_geometry(lv)
    ncols = vcol
    last_row_fields = max(split_cell(f.cell)[0] for f in lv.fields)

    wb = Workbook()
    ws = wb.active
    ws.title = lv.sheet
    ws.sheet_view.showGridLines = False
    for i in range(1, ncols + 1):
        ws.column_dimensions[get_column_letter(i)].width = COLUMN_WIDTHS[i - 1] if i <= 5 else 14

    # title and form line
    ws.cell(1, 1, layout.title_zh).font = F_TITLE
    ws.cell(1, 1).alignment = Alignment(horizontal="center", vertical="center")
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=ncols)
    ws.row_dimensions[1].height = 36
    c = ws.cell(2, 1, f"表    号：{layout.form_no}")
    c.font, c.alignment = F_SUB, Alignment(horizontal="left", vertical="center")
    ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=2)
    c = ws.cell(2, 3, f"制表机关：{authority_zh or layout.authority_zh}")
    c.font, c.alignment = F_SUB, Alignment(horizontal="right", vertical="center")
    ws.merge_cells(start_row=2, start_column=3, end_row=2, end_column=ncols)
    ws.row_dimensions[2].height = 20

    used: set[tuple[int, int]] = set()
    specs = list(lv.header.items()) + list(lv.footer.items()) + list(lv.choices.items())
    for _, spec in specs:
        row, col = split_cell(spec.cell)
        used.update({(row, col), (row, col - 1)})
    for f in lv.fields:
        used.add(split_cell(f.cell))

    # header and footer inputs, each with its label to the left
    for key, spec in specs:
        row, col = split_cell(spec.cell)
        lab = ws.cell(row, col - 1, f"{spec.label_zh}：")
        lab.font, lab.alignment = F_LABEL, Alignment(horizontal="right", vertical="center")
        inp = ws.cell(row, col)
        inp.font, inp.fill, inp.protection = F_INPUT, INPUT_FILL, UNLOCKED
        inp.number_format = "@"
        inp.alignment = Alignment(horizontal="left", vertical="center")
        end = _merge_right(ws, used, row, col, max(col, ncols - 2))
        for cc in range(col, end + 1):
            ws.cell(row, cc).border = UNDERLINE
        ws.row_dimensions[row].height = 22
        if isinstance(spec, ChoiceSpec):
            ws.add_data_validation(_dv_choice(spec))
            continue
        mn, mx, prompt, err = _TEXT_RULES.get(key, (1, 50, f"请填写{spec.label_zh}。", "内容过长。"))
        dv = _dv_text(spec.cell, mn, mx, spec.label_zh[:32], prompt, err)
        ws.add_data_validation(dv)
        if key == "period" and (row, end + 1) not in used and end + 1 <= ncols:
            note = ws.cell(row, end + 1, "（格式：2026年09月）")
            note.font = F_NOTE

    # table
    thr = lv.table_header_row
    first = vcol - 4
    for i, text in enumerate(TABLE_HEADERS):
        c = ws.cell(thr, first + i, text)
        c.font, c.fill, c.border = F_HEAD, HEAD_FILL, BORDER
        c.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    ws.row_dimensions[thr].height = 24
    for n, f in enumerate(lv.fields, start=1):
        fd = fdefs[f.field]
        row, col = split_cell(f.cell)
        cells = [ws.cell(row, first, n), ws.cell(row, first + 1, fd.label_zh), ws.cell(row, first + 2, fd.code),
                 ws.cell(row, first + 3, fd.unit)]
        for c in cells:
            c.font, c.border = F_LABEL, BORDER
            c.alignment = Alignment(horizontal="center", vertical="center")
        cells[1].alignment = Alignment(horizontal="left", vertical="center", indent=1 if fd.parts_of else 0)
        cells[2].font = Font(name="等线", size=9, color="FF595959")
        v = ws.cell(row, col)
        v.font, v.fill, v.border, v.protection = F_INPUT, INPUT_FILL, BORDER, UNLOCKED
        v.number_format = NUMBER_FORMATS[fd.kind]
        v.alignment = Alignment(horizontal="right", vertical="center")
        ws.row_dimensions[row].height = 20
        ws.add_data_validation(_dv_number(fd, f.cell))

    # notes below everything
    last_row = max([last_row_fields] + [split_cell(s.cell)[0] for _, s in specs])
    notes = layout.notes_zh or NOTES_ZH
    for i, text in enumerate(notes):
        r = last_row + 2 + i
        c = ws.cell(r, 1, text)
        c.font, c.alignment = F_NOTE, Alignment(horizontal="left", vertical="center", wrap_text=True)
        ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=ncols)
        ws.row_dimensions[r].height = 16 if i == 0 else 28
    last_row = last_row + 1 + len(notes)

    # defined names, one per input
    for name, cell in lv.inputs().items():
        row, col = split_cell(cell)
        ref = f"'{lv.sheet}'!${get_column_letter(col)}${row}"
        wb.defined_names[name] = DefinedName(name, attr_text=ref)

    # protection, view and print setup
    ws.protection.sheet = True
    ws.protection.password = SHEET_PASSWORD
    ws.protection.formatColumns = False
    ws.protection.formatRows = False
    ws.freeze_panes = ws.cell(thr + 1, 1)
    first_input = lv.header["facility_name"].cell
    ws.sheet_view.selection[0].activeCell = first_input
    ws.sheet_view.selection[0].sqref = first_input
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = "portrait"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.horizontalCentered = True
    ws.page_margins.left = ws.page_margins.right = 0.5
    ws.page_margins.top, ws.page_margins.bottom = 0.6, 0.6
    ws.print_area = f"A1:{get_column_letter(ncols)}{last_row}"
    ws.print_title_rows = f"{thr}:{thr}"
    ws.oddFooter.center.text = "第 &P 页，共 &N 页"

    for table in lv.tables:
        _build_table_sheet(wb, layout, lv, table)

    # hidden meta sheet (readable by calamine after a re-save that drops names and custom properties)
    meta = wb.create_sheet(lv.meta_sheet)
    rows = [(META_ID_LABEL, layout.template_id), (META_VERSION_LABEL, lv.version), ("表号", layout.form_no),
            ("模板名称", layout.title_zh),
            ("适用统计期", f"{lv.accepted_from} 起" + (f"至 {lv.accepted_to}" if lv.accepted_to else ""))]
    for r, (k, v) in enumerate(rows, start=1):
        meta.cell(r, 1, k).font = F_LABEL
        meta.cell(r, 2, v).font = F_LABEL
    meta.column_dimensions["A"].width = 14
    meta.column_dimensions["B"].width = 30
    meta.sheet_state = "hidden"
    meta.protection.sheet = True
    meta.protection.password = SHEET_PASSWORD

    wb.custom_doc_props.append(StringProperty(name=PROP_TEMPLATE_ID, value=layout.template_id))
    wb.custom_doc_props.append(StringProperty(name=PROP_TEMPLATE_VERSION, value=lv.version))
    wb.properties.title = layout.title_zh
    wb.properties.subject = f"{layout.form_no} 模板 v{lv.version}"
    wb.properties.keywords = f"{layout.template_id} {lv.version}"
    wb.active = 0
    return wb


TABLE_FORMATS = {"seq": "General", "text": "@", "codes": "@", "date": "yyyy-mm-dd", "count": "0", "flag": "0"}
_CENTRED = ("seq", "date", "count", "flag")


def _column_format(col: TableColumn) -> str:
    """Number format of a table column's data cells."""
    if col.kind == "amount":
        return "#,##0.00" if col.unit == "元" else "General"
    return TABLE_FORMATS[col.kind]


def _dv_column(col: TableColumn, ref: str) -> DataValidation | None:
    """Data validation (with a Chinese prompt) for one table column's data range; None for 序号."""
    label = col.label_zh
    if col.kind == "seq":
        return None
    if col.kind == "date":
        dv = DataValidation(type="date", operator="between", formula1="36526", formula2="73050")
        rule = "请填写日期，例如 2026-10-05"
    elif col.kind == "flag":
        dv = DataValidation(type="list", formula1='"0,1"')
        rule = "请填写 1（是）或 0（否）"
    elif col.kind in ("count", "amount"):
        lo = 0.0 if col.min is None else col.min
        kind = "whole" if col.kind == "count" else "decimal"
        if col.max is not None:
            dv = DataValidation(type=kind, operator="between", formula1=f"{lo:g}", formula2=f"{col.max:g}")
            rule = f"请填写 {lo:g}～{col.max:g} 之间的{'整数' if kind == 'whole' else '数值'}"
        else:
            dv = DataValidation(type=kind, operator="greaterThanOrEqual", formula1=f"{lo:g}")
            rule = f"请填写不小于 {lo:g} 的{'整数' if kind == 'whole' else '数值'}"
        if col.unit:
            rule += f"（单位：{col.unit}）"
        if col.blank == "zero":
            rule += "；无发生数可留空或填 0"
    else:
        dv = DataValidation(type="textLength", operator="lessThanOrEqual", formula1=str(col.max_len or 255))
        rule = f"请填写文字，不超过 {col.max_len or 255} 个字符"
        if col.kind == "codes":
            rule = "请填写问题代码，多个代码用顿号分隔，例如 1-7、2-5；合理处方留空"
    dv.showErrorMessage = True
    dv.showInputMessage = True
    dv.errorStyle = "stop"
    dv.errorTitle = "填写有误"
    dv.error = rule + "。"
    dv.promptTitle = label[:32]
    dv.prompt = (rule + "。")[:255]
    dv.allow_blank = True
    dv.add(ref)
    return dv


def _build_table_sheet(wb: Workbook, layout: Layout, lv: LayoutVersion, table: TableSpec) -> None:
    """A protected sheet holding one multi-row table: title, note, column headers, shaded input rows."""
    ws = wb.create_sheet(table.sheet)
    ws.sheet_view.showGridLines = False
    c0, c1 = table.first_col, table.last_col
    for col in table.columns:
        ws.column_dimensions[col.letter].width = col.width or 12

    c = ws.cell(1, c0, table.title_zh)
    c.font, c.alignment = Font(name="宋体", size=16, bold=True), Alignment(horizontal="center", vertical="center")
    ws.merge_cells(start_row=1, start_column=c0, end_row=1, end_column=c1)
    ws.row_dimensions[1].height = 30
    if table.header_row > 2:
        note = f"表号：{layout.form_no}（{table.sheet}）。填报单位、机构编码、统计期见「{lv.sheet}」表。"
        if table.note_zh:
            note += table.note_zh
        c = ws.cell(2, c0, note)
        c.font, c.alignment = F_NOTE, Alignment(horizontal="left", vertical="center", wrap_text=True)
        ws.merge_cells(start_row=2, start_column=c0, end_row=table.header_row - 1, end_column=c1)
        ws.row_dimensions[2].height = 30

    hr = table.header_row
    for col in table.columns:
        c = ws[f"{col.letter}{hr}"]
        c.value = col.label_zh
        c.font, c.fill, c.border = F_HEAD, HEAD_FILL, BORDER
        c.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    ws.row_dimensions[hr].height = 36

    # one styled prototype cell per column, its style array copied to every data row (fast, identical styles)
    protos = []
    for col in table.columns:
        p = ws[f"{col.letter}{table.first_data_row}"]
        p.font, p.fill, p.border, p.protection = F_INPUT, INPUT_FILL, BORDER, UNLOCKED
        p.number_format = _column_format(col)
        p.alignment = Alignment(horizontal="center" if col.kind in _CENTRED else "left", vertical="center")
        protos.append((split_cell(p.coordinate)[1], p._style))
    for r in range(table.first_data_row + 1, table.last_data_row + 1):
        for ci, style in protos:
            ws.cell(r, ci)._style = copy(style)

    for col in table.columns:
        dv = _dv_column(col, f"{col.letter}{table.first_data_row}:{col.letter}{table.last_data_row}")
        if dv is not None:
            ws.add_data_validation(dv)

    first, last = table.columns[0].letter, table.columns[-1].letter
    ref = f"'{table.sheet}'!${first}${table.first_data_row}:${last}${table.last_data_row}"
    wb.defined_names[table.range_name] = DefinedName(table.range_name, attr_text=ref)

    ws.protection.sheet = True
    ws.protection.password = SHEET_PASSWORD
    ws.protection.formatColumns = False
    ws.protection.formatRows = False
    ws.freeze_panes = ws.cell(table.first_data_row, c0 + 1)
    start = f"{table.columns[1].letter}{table.first_data_row}"
    ws.sheet_view.selection[-1].activeCell = start
    ws.sheet_view.selection[-1].sqref = start
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = "landscape" if len(table.columns) > 8 else "portrait"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.horizontalCentered = True
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.page_margins.top, ws.page_margins.bottom = 0.6, 0.6
    ws.print_area = f"{first}1:{last}{table.last_data_row}"
    ws.print_title_rows = f"{hr}:{hr}"
    ws.oddHeader.center.text = f"{layout.title_zh}　{table.title_zh}"
    ws.oddFooter.center.text = "第 &P 页，共 &N 页"


_EMPTY_NUMERIC = re.compile(rb'(<c r="[A-Z]{1,3}[0-9]{1,7}" s="[0-9]+") t="n" />')


def save_template(layout: Layout, lv: LayoutVersion, path: Path, authority_zh: str | None = None) -> bytes:
    """Build and save one template version deterministically; returns the bytes written.

    Templates with tables have thousands of empty input cells: they are written as Excel writes them
    (`<c r="B9" s="5"/>`, not openpyxl's `<c r="B9" s="5" t="n" />`), a fifth less XML for every reader.
    """
    data = save_deterministic(build_workbook(layout, lv, authority_zh), path)
    if not lv.tables:
        return data
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        sheets = {n: z.read(n) for n in z.namelist() if n.startswith("xl/worksheets/") and n.endswith(".xml")}
    data = normalize_zip(data, replace={n: _EMPTY_NUMERIC.sub(rb"\1/>", b) for n, b in sheets.items()})
    Path(path).write_bytes(data)
    return data


def build_templates(out_dir: Path = TEMPLATES_DIR, authority_zh: str | None = None) -> list[Path]:
    """Write one template file per layout version into out_dir; returns the paths (byte-identical per build)."""
    out_dir = Path(out_dir)
    paths = []
    for layout in load_layouts().values():
        for lv in layout.versions:
            path = out_dir / layout.template_filename(lv.version)
            save_template(layout, lv, path, authority_zh)
            paths.append(path)
    return paths


DEFAULT_TEMPLATE = "JX-YB01"  # the first slice's return: what callers without a template id mean


def template_path(template_id: str | None = None, version: str | None = None,
                  out_dir: Path = TEMPLATES_DIR) -> Path:
    """Path of a built template (default: the operations return JX-YB01, newest version); builds it if missing."""
    layouts = load_layouts()
    layout = layouts[template_id or DEFAULT_TEMPLATE]
    lv = layout.version(version) if version else layout.latest()
    if lv is None:
        raise KeyError(f"{layout.template_id} has no version {version!r}")
    path = Path(out_dir) / layout.template_filename(lv.version)
    if not path.exists():
        save_template(layout, lv, path)
    return path


if __name__ == "__main__":
    for p in build_templates():
        print(p)
