"""A hospital's feedback workbook: a copy of its own return with every problem cell highlighted and commented,
and a 问题清单 sheet listing every finding (message and fix in Chinese).

The copy is made from the archived bytes, reopened with openpyxl only after the same safety checks the parser
applies (templates_xlsx.safety.precheck: size, real format, zip directory; plus no DTD/entity in any XML part and
sheets within the reader's bounds). A file that fails them, or an .xls/.ods that openpyxl cannot rewrite, gets a
fresh workbook with 问题清单 alone and a note saying why. Output is byte-stable (determinism.save_deterministic).
"""
from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

from openpyxl import Workbook, load_workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from metrics.catalog import CatalogError, check_keys, load_yaml
from templates_xlsx.determinism import save_deterministic
from templates_xlsx.layout import cell_sort_key
from templates_xlsx.safe_text import excel_text
from templates_xlsx.safety import file_format, precheck

CONFIG_FILE = Path(__file__).with_name("feedback.yaml")
SHEET = "问题清单"
AUTHOR = "jixiao"  # our comments carry this author, so a re-submitted feedback copy does not pile them up
COLUMNS = [("序号", 6), ("工作表", 14), ("单元格", 8), ("代码", 24), ("严重程度", 10), ("字段", 24), ("填报值", 16),
           ("期望值", 16), ("问题说明", 60), ("修改建议", 50)]
SEVERITY_ZH = {"error": "错误", "warning": "警告", "info": "提示"}
WAIVED_ZH = "已豁免"
SEV_RANK = {"error": 0, "warning": 1, "info": 2}
HEADER_ROW = 3  # row 1: whose feedback; row 2: the note (or blank); row 3: column headers; findings below
_CELL = re.compile(r"^\$?([A-Z]{1,3})\$?([1-9][0-9]{0,6})$")
_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")


@dataclass(frozen=True)
class FeedbackConfig:
    min_peer_n_disclosed: int
    peer_markers: tuple[str, ...]
    neutral_message_zh: str
    neutral_fix_zh: str
    omit_codes: tuple[str, ...]
    colours: dict[str, str]
    max_rows: int
    max_cols: int
    max_cells: int = 20000
    min_severity: str = "warning"     # a return gets a workbook when it has a finding at least this severe


@lru_cache(maxsize=4)
def load_config(path: Path = CONFIG_FILE) -> FeedbackConfig:
    """feedback.yaml with strict keys (the file and key are named in any error)."""
    doc = load_yaml(path)
    w = str(path)
    check_keys(doc, {"privacy", "colours", "limits", "omit_codes", "min_severity"}, {"privacy", "colours", "limits"},
               w)
    min_sev = doc.get("min_severity", "warning")
    if min_sev not in ("error", "warning", "info"):
        raise CatalogError(f"{w}: min_severity: expected error, warning or info, got {min_sev!r}")
    p, c, lim = doc["privacy"], doc["colours"], doc["limits"]
    keys = {"min_peer_n_disclosed", "peer_markers", "neutral_message_zh", "neutral_fix_zh"}
    check_keys(p, keys, keys, f"{w}: privacy")
    omit = doc.get("omit_codes") or []
    if not isinstance(omit, list) or not all(isinstance(x, str) for x in omit):
        raise CatalogError(f"{w}: omit_codes: expected a list of finding codes")
    check_keys(c, {"error", "warning", "info", "waived"}, {"error", "warning", "info", "waived"}, f"{w}: colours")
    check_keys(lim, {"max_rows", "max_cols", "max_cells"}, {"max_rows", "max_cols"}, f"{w}: limits")
    n = p["min_peer_n_disclosed"]
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise CatalogError(f"{w}: privacy.min_peer_n_disclosed: expected a positive whole number, got {n!r}")
    for k, v in c.items():
        if not isinstance(v, str) or not re.fullmatch(r"[0-9A-Fa-f]{6}", v):
            raise CatalogError(f"{w}: colours.{k}: expected an RGB hex colour like FFC7CE, got {v!r}")
    markers = p["peer_markers"]
    if not isinstance(markers, list) or not all(isinstance(m, str) and m for m in markers):
        raise CatalogError(f"{w}: privacy.peer_markers: expected a list of words")
    for k in ("max_rows", "max_cols", "max_cells"):
        if k not in lim:
            continue
        if isinstance(lim[k], bool) or not isinstance(lim[k], int) or lim[k] < 1:
            raise CatalogError(f"{w}: limits.{k}: expected a positive whole number, got {lim[k]!r}")
    return FeedbackConfig(n, tuple(markers), str(p["neutral_message_zh"]), str(p["neutral_fix_zh"]), tuple(omit),
                          {k: v.upper() for k, v in c.items()}, lim["max_rows"], lim["max_cols"],
                          lim.get("max_cells", 20000), min_sev)


@lru_cache(maxsize=1)
def field_labels() -> dict[str, str]:
    """Field code → Chinese label, over every catalog and every layout's header, footer, choices and tables."""
    from metrics.catalog import all_fields_by_code
    from templates_xlsx.layout import load_layouts

    labels = {code: f.label_zh for code, f in all_fields_by_code().items()}
    for lay in load_layouts().values():
        for lv in lay.versions:
            for specs in (lv.header, lv.footer, lv.choices):
                for key, spec in specs.items():
                    labels.setdefault(key, spec.label_zh)
            for t in lv.tables:
                for col in t.columns:
                    labels.setdefault(col.field, col.label_zh)
    return labels


def layout_sheets(template_id: str | None) -> list[str]:
    """The sheets of a template in workbook order (its latest version), [] for an unknown template."""
    from templates_xlsx.layout import load_layouts

    lay = load_layouts().get(template_id or "")
    if lay is None:
        return []
    lv = lay.latest()
    return list(dict.fromkeys([lv.sheet, *(t.sheet for t in lv.tables)]))


def unsafe_reason(path: Path) -> str | None:
    """Why the archived file must not be reopened for annotation (Chinese), or None when it may be.

    The parser's own checks first (templates_xlsx.safety.precheck); then, as openpyxl parses every XML part, no
    part may declare a DTD or entity, and no sheet may span more than the configured rows/columns.
    """
    import defusedxml.ElementTree as DET
    from defusedxml import DefusedXmlException

    from templates_xlsx.read import sheet_bounds

    if precheck(path, path.name) is not None:
        return "报送文件未通过安全检查，无法在原文件上标注，仅列出问题清单。"
    fmt = file_format(path)
    if fmt != "xlsx":
        what = {"xls": ".xls（Excel 97-2003）", "ods": ".ods（OpenDocument）"}.get(fmt, "非 .xlsx")
        return f"报送文件为 {what} 格式，无法在原文件上标注，仅列出问题清单；请以 .xlsx 格式修改后重新报送。"
    cfg = load_config()
    cells = 0
    try:
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                name = info.filename.lower()
                if not name.endswith((".xml", ".rels")):  # what openpyxl parses (VML it rebuilds, never reads)
                    continue
                with z.open(info) as fh:
                    # a DTD can only sit in the prolog: parsing up to the root element's start is enough
                    for _event, _el in DET.iterparse(fh, events=("start",), forbid_dtd=True):
                        break
                if name.startswith("xl/worksheets/") and name.endswith(".xml"):
                    rows, cols = sheet_bounds(z, info.filename)
                    if rows > cfg.max_rows or cols > cfg.max_cols:
                        return "报送文件的工作表超出模板范围，无法在原文件上标注，仅列出问题清单。"
                    cells += rows * cols
    except (DefusedXmlException, DET.ParseError):
        return "报送文件内部结构不安全或已损坏，无法在原文件上标注，仅列出问题清单。"
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return "报送文件已损坏，无法在原文件上标注，仅列出问题清单。"
    if cells > cfg.max_cells:
        # re-opening and saving a large table return costs seconds per file (openpyxl): at a thousand hospitals the
        # monthly run would spend most of its time here, so large returns get the list with every sheet!cell only
        return (f"报送文件较大（约 {cells} 个单元格），为保证反馈及时，未在原文件上标注；"
                f"问题清单逐条列出工作表与单元格，请据此在原文件中修改。")
    return None


def ordered(findings: list[dict[str, Any]], sheet_order: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Findings in the order of the 问题清单: file-level first, then by sheet (in `sheet_order`, others after by
    name) and cell, severity, code."""
    rank = {name: i for i, name in enumerate(sheet_order)}

    def key(f: dict[str, Any]) -> tuple:
        sheet = f.get("sheet")
        return (sheet is not None, rank.get(sheet or "", len(rank)), sheet or "", cell_sort_key(f.get("cell")),
                SEV_RANK.get(f.get("severity"), 3), f.get("code") or "", f.get("field") or "",
                f.get("message_zh") or "")

    return sorted(findings, key=key)


def severity_text(f: dict[str, Any]) -> str:
    """严重程度 as shown: 错误 / 警告 / 提示, or 已豁免（错误） for a waived finding."""
    sev = SEVERITY_ZH.get(f.get("severity"), f.get("severity") or "")
    return f"{WAIVED_ZH}（{sev}）" if f.get("waived") else sev


def list_rows(findings: list[dict[str, Any]], sheet_order: Sequence[str] = ()) -> list[list[Any]]:
    """The 问题清单 rows (after the header) for these findings, every submitted text neutralised."""
    labels = field_labels()
    out = []
    for i, f in enumerate(ordered(findings, sheet_order), start=1):
        fld = f.get("field")
        out.append([i, excel_text(f.get("sheet")), excel_text(f.get("cell")), f.get("code"), severity_text(f),
                    excel_text(labels.get(fld, fld) if fld else None), excel_text(f.get("value")),
                    excel_text(f.get("expected")), excel_text(f.get("message_zh")), excel_text(f.get("fix_zh"))])
    return out


def _target(wb: Any, sheet: str | None, cell: str | None) -> Any | None:
    """The worksheet cell a finding points at (a merged range's top-left cell), or None."""
    if not sheet or not cell or sheet not in wb.sheetnames or sheet == SHEET:
        return None
    m = _CELL.match(cell.strip().upper())
    if not m:
        return None
    ws = wb[sheet]
    if not hasattr(ws, "merged_cells"):
        return None  # a chartsheet
    ref = f"{m.group(1)}{m.group(2)}"
    for rng in ws.merged_cells.ranges:
        if ref in rng:
            return ws.cell(row=rng.min_row, column=rng.min_col)
    return ws[ref]


def _comment_text(fs: list[dict[str, Any]]) -> str:
    parts = []
    for f in fs:
        head = f"【{severity_text(f)}】{f.get('code')}"
        parts.append(f"{head}\n问题：{f.get('message_zh') or ''}\n修改：{f.get('fix_zh') or ''}")
    return "\n\n".join(parts)


def _mark_cells(wb: Any, findings: list[dict[str, Any]], cfg: FeedbackConfig) -> None:
    """Fill and comment every cell a finding points at (one comment per cell listing all its findings)."""
    at: dict[tuple[str, int, int], tuple[Any, list[dict[str, Any]]]] = {}
    for f in ordered(findings):
        c = _target(wb, f.get("sheet"), f.get("cell"))
        if c is not None:
            at.setdefault((c.parent.title, c.row, c.column), (c, []))[1].append(f)
    for c, fs in at.values():
        live = sorted(SEV_RANK[f["severity"]] for f in fs if not f.get("waived") and f.get("severity") in SEV_RANK)
        colour = cfg.colours[next(s for s, r in SEV_RANK.items() if r == live[0])] if live else cfg.colours["waived"]
        c.fill = PatternFill("solid", fgColor=colour)
        text = _comment_text(fs)
        old = c.comment
        if old is not None and old.author != AUTHOR and (old.text or "").strip():
            text = f"{old.text.rstrip()}\n\n—— 卫健委反馈 ——\n{text}"  # the hospital's own note stays first
        com = Comment(text, AUTHOR)
        com.width, com.height = 360, min(60 + 80 * len(fs), 600)
        c.comment = com


def _list_sheet(wb: Any, findings: list[dict[str, Any]], header: str, note: str | None,
                sheet_order: Sequence[str]) -> None:
    if SHEET in wb.sheetnames:  # a re-submitted feedback copy: the old list is replaced, not kept
        del wb[SHEET]
    ws = wb.create_sheet(SHEET, 0)
    ws.sheet_properties.tabColor = "C00000"
    ws.cell(row=1, column=1, value=header).font = _HEADER_FONT
    if note:
        ws.cell(row=2, column=1, value=note)
    for i, (name, width) in enumerate(COLUMNS, start=1):
        c = ws.cell(row=HEADER_ROW, column=i, value=name)
        c.font, c.fill = _HEADER_FONT, _HEADER_FILL
        ws.column_dimensions[get_column_letter(i)].width = width
    rows = list_rows(findings, sheet_order)
    for r, row in enumerate(rows, start=HEADER_ROW + 1):
        for col, v in enumerate(row, start=1):
            c = ws.cell(row=r, column=col, value=v)
            if col >= 9:
                c.alignment = Alignment(wrap_text=True, vertical="top")
    ws.freeze_panes = f"A{HEADER_ROW + 1}"
    ws.auto_filter.ref = f"A{HEADER_ROW}:{get_column_letter(len(COLUMNS))}{HEADER_ROW + max(len(rows), 1)}"
    for other in wb.worksheets:
        other.sheet_view.tabSelected = other is ws
    wb.active = 0


def header_line(facility_code: str, period: str, received_at: Any, findings: list[dict[str, Any]]) -> str:
    """Row 1 of 问题清单: whose return, which period, when it was received, and the counts."""
    live = [f for f in findings if not f.get("waived")]
    n = {s: sum(f.get("severity") == s for f in live) for s in SEV_RANK}
    when = str(received_at)[:19] if received_at is not None else "—"
    waived = len(findings) - len(live)
    return (f"报表问题反馈　机构编码 {facility_code}　统计期 {period}　文件接收时间 {when}　"
            f"共 {len(findings)} 条：错误 {n['error']}，警告 {n['warning']}，提示 {n['info']}"
            + (f"，{WAIVED_ZH} {waived}" if waived else ""))


def annotate(src: Path, findings: list[dict[str, Any]], out: Path, *, facility_code: str, period: str,
             received_at: Any = None, note: str | None = None, sheet_order: Sequence[str] | None = None) -> Path:
    """Write the feedback workbook for one return: highlighted, commented copy of `src` plus 问题清单.

    `findings`: dicts with code, severity, sheet, cell, field, value, expected, message_zh, fix_zh and optional
    `waived` (shown as 已豁免, grey, never as an error). `facility_code` must be a registry code, not submitted text.
    The list follows `sheet_order` (default: the submitted workbook's own sheet order).
    """
    cfg = load_config()
    src, out = Path(src), Path(out)
    reason = unsafe_reason(src)
    wb = None
    if reason is None:
        try:
            wb = load_workbook(src, rich_text=False, keep_links=False, keep_vba=False)
        except Exception:  # noqa: BLE001 - a file openpyxl cannot take still gets its 问题清单
            reason = "报送文件无法在原文件上标注（文件结构不受支持），仅列出问题清单。"
    if wb is None:
        wb = Workbook()
        wb.remove(wb.active)
    else:
        for ws in wb.worksheets:  # our own comments from an earlier feedback copy the hospital sent back
            for row in ws.iter_rows():
                for c in row:
                    if c.comment is not None and c.comment.author == AUTHOR:
                        c.comment = None
        _mark_cells(wb, findings, cfg)
    if sheet_order is None:
        sheet_order = [n for n in wb.sheetnames if n != SHEET]
    notes = [n for n in (note, reason) if n]
    _list_sheet(wb, findings, header_line(facility_code, period, received_at, findings), "；".join(notes) or None,
                sheet_order)
    save_deterministic(wb, out)
    return out
