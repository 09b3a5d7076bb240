"""Read one return: identify the template, locate inputs, parse values tolerantly, report parse findings.

Light on purpose (no pandas / GX / openpyxl): it runs inside the sandboxed parse workers.
Values come from python-calamine; defined names, custom properties and formula cells from the package XML
via defusedxml (any DTD or entity declaration → `unsafe-xml`). Never raises: problems become findings.
"""
from __future__ import annotations

import datetime as dt
import math
import posixpath
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as DET
from defusedxml import DefusedXmlException

from expectations.findings import Finding, make
from metrics.catalog import FieldDef, fields_by_code
from templates_xlsx.layout import Layout, LayoutVersion, load_layouts, split_cell
from templates_xlsx.safety import DEFAULT_LIMITS, Limits, precheck, sniff

MAX_ROWS = 5000
MAX_COLS = 256
MAX_PART_BYTES = 8 * 2 ** 20  # workbook.xml / rels / custom.xml, and the in-memory sheet fast path
PROP_TEMPLATE_ID = "jixiao_template_id"
PROP_TEMPLATE_VERSION = "jixiao_template_version"
META_ID_LABEL = "模板编号"
META_VERSION_LABEL = "模板版本"

FILE_LEVEL_CODES = frozenset({
    "file-too-large", "unsafe-archive", "unknown-format", "encrypted-workbook", "unreadable-workbook",
    "unsafe-xml", "parse-timeout", "parse-memory-exceeded", "too-many-rows", "too-many-columns", "unknown-template",
    "template-version-not-accepted", "sheet-missing",
})

_REL_OFFICE_DOC = "/officeDocument"
_REL_CUSTOM = "/custom-properties"
_NAME_REF = re.compile(r"^(?:'((?:[^']|'')+)'|([^'!]+))!\$?([A-Z]{1,3})\$?([0-9]{1,7})$")
_NUMBER = re.compile(r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")
_GROUPED = re.compile(r"^[+-]?[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]*)?$")
_FORMULA_HINTS = (b"<f>", b"<f ", b"<f/>", b":f>", b":f ", b":f/>", b't="e"', b"t='e'", b"<!")
_ROOT_START = re.compile(rb"<[A-Za-z_]")
_SPACES = re.compile(r"\s+")
_PERIOD_PATTERNS = (
    re.compile(r"^([0-9]{4})年([0-9]{1,2})月份?$"),
    re.compile(r"^([0-9]{4})[-/.]([0-9]{1,2})$"),
    re.compile(r"^([0-9]{4})([0-9]{2})$"),
    re.compile(r"^([0-9]{4})[-/.]([0-9]{1,2})[-/.][0-9]{1,2}$"),
    re.compile(r"^([0-9]{4})年([0-9]{1,2})月[0-9]{1,2}日$"),
)


class UnsafeXml(Exception):
    """The package holds a DTD or entity declaration."""


class _NotSpreadsheet(Exception):
    """The OOXML package is a document of another kind (Word, PowerPoint…)."""


class Unreadable(Exception):
    """The package is structurally broken; the message is a short Chinese detail."""


@dataclass
class ParsedValue:
    """One data item as read from its cell."""

    field: str
    sheet: str
    cell: str
    value: float | None
    raw_text: str | None
    status: str  # ok | blank | blank_zero | error


@dataclass
class ParsedReturn:
    """Everything read from one file (plain data, picklable)."""

    original_name: str
    template_id: str | None = None
    template_version: str | None = None
    sheet: str | None = None
    header: dict[str, str | None] = field(default_factory=dict)
    header_cells: dict[str, str] = field(default_factory=dict)
    footer: dict[str, str | None] = field(default_factory=dict)
    footer_cells: dict[str, str] = field(default_factory=dict)
    values: list[ParsedValue] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    file_format: str | None = None
    addressing: str | None = None  # names | layout | mixed

    @property
    def file_error(self) -> Finding | None:
        """The first file-level error finding (the file is unusable), or None."""
        for f in self.findings:
            if f.severity == "error" and f.code in FILE_LEVEL_CODES:
                return f
        return None

    def value_map(self) -> dict[str, float | None]:
        """Field code → parsed value."""
        return {v.field: v.value for v in self.values}


# ---------------------------------------------------------------- text and number parsing

def _clean(text: str) -> str:
    """NFKC (full-width digits/signs → ASCII, NBSP → space) and drop all whitespace."""
    return _SPACES.sub("", unicodedata.normalize("NFKC", text))


def _raw_text(raw: Any) -> str:
    if isinstance(raw, bool):
        return "TRUE" if raw else "FALSE"
    if isinstance(raw, (dt.date, dt.datetime, dt.time)):
        return raw.isoformat()
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return str(raw)


def parse_number(raw: Any, fd: FieldDef) -> tuple[float | None, str | None, str]:
    """(value, raw_text, status) for one cell value; status ok | blank | blank_zero | error."""
    if raw is None or (isinstance(raw, str) and not _clean(raw)):
        return (0.0, None, "blank_zero") if fd.blank == "zero" else (None, None, "blank")
    if isinstance(raw, bool) or isinstance(raw, (dt.date, dt.datetime, dt.time, dt.timedelta)):
        return None, _raw_text(raw), "error"
    if isinstance(raw, (int, float)):
        v = float(raw)
        if not math.isfinite(v):
            return None, _raw_text(raw), "error"
        if fd.kind == "ratio" and abs(v) <= 1:
            v *= 100.0
        return v, None, "ok"
    text = str(raw)
    s = _clean(text)
    pct = False
    if s.endswith("%"):
        pct, s = True, s[:-1]
    unit = _clean(fd.unit) if fd.unit else ""
    if unit and s.endswith(unit) and not pct:
        s = s[: -len(unit)]
    if pct and fd.kind != "ratio":
        return None, text, "error"
    if _GROUPED.match(s):
        s = s.replace(",", "")
    if not _NUMBER.match(s):
        return None, text, "error"
    v = float(s)
    if not math.isfinite(v):
        return None, text, "error"
    if fd.kind == "ratio" and not pct and abs(v) <= 1:
        v *= 100.0
    return v, text, "ok"


def parse_period_text(raw: Any) -> str | None:
    """Normalise a 统计期 cell to YYYY-MM ('2026年09月', '2026-9', '2026/9', '202609', dates); None if unparseable."""
    if isinstance(raw, (dt.date, dt.datetime)):
        return f"{raw.year:04d}-{raw.month:02d}"
    if isinstance(raw, bool) or raw is None:
        return None
    if isinstance(raw, (int, float)):
        if not (isinstance(raw, int) or (math.isfinite(raw) and float(raw).is_integer())):
            return None
        s = str(int(raw))
    else:
        s = _clean(str(raw))
    for pat in _PERIOD_PATTERNS:
        m = pat.match(s)
        if m:
            year, month = int(m.group(1)), int(m.group(2))
            if 2000 <= year <= 2100 and 1 <= month <= 12:
                return f"{year:04d}-{month:02d}"
            return None
    return None


def _text_or_none(raw: Any) -> str | None:
    if raw is None:
        return None
    s = _raw_text(raw).strip()
    return s or None


def _code_text(raw: Any) -> str | None:
    """Facility code as text (a number cell 12345.0 → '12345')."""
    if raw is None:
        return None
    s = _raw_text(raw)
    s = unicodedata.normalize("NFKC", s).strip()
    return s or None


# ---------------------------------------------------------------- package XML (defusedxml)

def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _xml(z: zipfile.ZipFile, part: str) -> Any | None:
    """Parse a small package part safely; None if absent."""
    try:
        info = z.getinfo(part)
    except KeyError:
        return None
    if info.file_size > MAX_PART_BYTES:
        raise Unreadable(f"{part} 过大")
    with z.open(info) as fh:
        data = fh.read(MAX_PART_BYTES + 1)
    if len(data) > MAX_PART_BYTES:
        raise Unreadable(f"{part} 过大")
    try:
        return DET.fromstring(data, forbid_dtd=True)
    except DefusedXmlException as e:
        raise UnsafeXml(part) from e
    except DET.ParseError as e:
        raise Unreadable(f"{part} 不是有效的 XML") from e


def _resolve(base_part: str, target: str) -> str:
    """Resolve a relationship target against its source part."""
    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join(posixpath.dirname(base_part), target))


def _rels(z: zipfile.ZipFile, part: str) -> list[tuple[str, str, str]]:
    """(Id, Type, resolved target) of a part's relationships."""
    d, b = posixpath.split(part)
    root = _xml(z, posixpath.join(d, "_rels", b + ".rels"))
    if root is None:
        return []
    out = []
    for el in root:
        if _local(el.tag) == "Relationship" and el.get("TargetMode") != "External":
            out.append((el.get("Id", ""), el.get("Type", ""), _resolve(part, el.get("Target", ""))))
    return out


@dataclass
class _Package:
    workbook_part: str | None = None
    sheet_parts: dict[str, str] = field(default_factory=dict)  # sheet name → part
    names: dict[str, tuple[str, str]] = field(default_factory=dict)  # defined name → (sheet, cell)
    props: dict[str, str] = field(default_factory=dict)


def _read_package(z: zipfile.ZipFile) -> _Package:
    """Workbook part, sheet parts, single-cell defined names and custom properties of an .xlsx."""
    pkg = _Package()
    root_rels = _rels(z, "")
    for _, typ, target in root_rels:
        if typ.endswith(_REL_OFFICE_DOC) and pkg.workbook_part is None:
            pkg.workbook_part = target
        elif typ.endswith(_REL_CUSTOM):
            props = _xml(z, target)
            if props is not None:
                for p in props:
                    if _local(p.tag) == "property" and p.get("name"):
                        pkg.props[p.get("name")] = "".join(p.itertext()).strip()
    if pkg.workbook_part is None and "xl/workbook.xml" in z.namelist():
        pkg.workbook_part = "xl/workbook.xml"
    if pkg.workbook_part is None:
        raise Unreadable("找不到工作簿主体（workbook.xml）")
    wb = _xml(z, pkg.workbook_part)
    if wb is None:
        raise Unreadable("找不到工作簿主体（workbook.xml）")
    if _local(wb.tag) != "workbook":
        raise _NotSpreadsheet(_local(wb.tag))
    targets = {rid: t for rid, _, t in _rels(z, pkg.workbook_part)}
    sheet_names: list[str] = []
    for el in wb.iter():
        tag = _local(el.tag)
        if tag == "sheet":
            name = el.get("name", "")
            sheet_names.append(name)
            rid = next((v for k, v in el.attrib.items() if _local(k) == "id"), None)
            if rid in targets:
                pkg.sheet_parts[name] = targets[rid]
        elif tag == "definedName":
            name = el.get("name", "")
            m = _NAME_REF.match((el.text or "").strip())
            if name and m and not name.startswith("_xlnm."):
                sheet = m.group(1).replace("''", "'") if m.group(1) is not None else m.group(2)
                pkg.names[name] = (sheet, f"{m.group(3)}{m.group(4)}")
    return pkg


def _cell_region(data: bytes) -> tuple[bytes, bytes]:
    """(prolog before the root element, the <sheetData> region) of a sheet part held in memory."""
    m = _ROOT_START.search(data)
    prolog = data[:m.start()] if m else data
    start, end = data.find(b"sheetData"), data.rfind(b"sheetData>")
    region = data[start:end] if 0 <= start < end else data
    return prolog, region


def _needs_scan(data: bytes) -> bool:
    """True when the sheet may hold formulas, error cells or a DTD (cheap byte checks before iterparse)."""
    prolog, region = _cell_region(data)
    return b"<!" in prolog or any(h in region for h in _FORMULA_HINTS)


def _scan_formulas(z: zipfile.ZipFile, part: str, wanted: set[str], max_row: int,
                   data: bytes | None = None) -> dict[str, tuple[str, str | None]]:
    """Formula / error state of the wanted cells: cell → ('no-cache', None) | ('error', '#DIV/0!')."""
    out: dict[str, tuple[str, str | None]] = {}
    if data is not None and not _needs_scan(data):
        return out  # no formula, no error cell, no DTD: nothing to report
    with z.open(part) as fh:
        try:
            row, col = 0, 0
            cur: dict[str, Any] | None = None
            for event, el in DET.iterparse(fh, events=("start", "end"), forbid_dtd=True):
                tag = _local(el.tag)
                if event == "start":
                    if tag == "row":
                        row = int(el.get("r") or row + 1)
                        col = 0
                        if row > max_row:
                            break
                    elif tag == "c":
                        ref = el.get("r")
                        if ref:
                            col = split_cell(ref)[1] if re.match(r"^[A-Z]{1,3}[0-9]+$", ref) else col + 1
                        else:
                            col += 1
                            ref = _col_letters(col) + str(row)
                        cur = {"ref": ref, "t": el.get("t"), "f": False, "v": None} if ref in wanted else None
                    continue
                if cur is not None:
                    if tag == "f":
                        cur["f"] = True
                    elif tag == "v":
                        cur["v"] = el.text
                    elif tag == "c":
                        if cur["t"] == "e":
                            out[cur["ref"]] = ("error", (cur["v"] or "").strip() or "#错误")
                        elif cur["f"] and (cur["v"] is None or cur["v"] == ""):
                            out[cur["ref"]] = ("no-cache", None)
                        cur = None
                if tag == "row":
                    el.clear()
        except DefusedXmlException as e:
            raise UnsafeXml(part) from e
        except DET.ParseError as e:
            raise Unreadable("工作表 XML 无效") from e
    return out


_REFS = (re.compile(rb' r="([A-Z]{0,4})([0-9]{1,9})"'), re.compile(rb" r='([A-Z]{0,4})([0-9]{1,9})'"))


def _bounds_of(buf: bytes, end: int) -> tuple[int, int, int]:
    """(max row ref, max column number, row tags) in buf[:end] (refs are scanned in all of buf)."""
    refs = _REFS[0].findall(buf)
    if b" r='" in buf:
        refs += _REFS[1].findall(buf)
    max_row = max((int(d) for _, d in refs), default=0)
    max_col = 0
    for col in {letters for letters, _ in refs if letters}:
        n = 0
        for ch in col:
            n = n * 26 + ch - 64
        max_col = max(max_col, n)
    return max_row, max_col, buf.count(b"<row", 0, end) + buf.count(b":row", 0, end)


def sheet_bounds(z: zipfile.ZipFile, part: str, data: bytes | None = None, chunk: int = 1 << 20) -> tuple[int, int]:
    """(rows, columns) a sheet part spans, from its row/cell references, without building a tree.

    Guards calamine, which allocates the full rectangle (one cell at XFD1048576 → a 512 GB allocation).
    """
    if data is not None:
        region = _cell_region(data)[1]
        r, c, n = _bounds_of(region, len(region))
        return max(r, n), c
    max_row = max_col = rows_seen = 0
    tail = b""
    with z.open(part) as fh:
        while True:
            piece = fh.read(chunk)
            buf = tail + piece
            cut = len(buf) if not piece else max(len(buf) - 64, 0)
            r, c, n = _bounds_of(buf, cut)
            max_row, max_col, rows_seen = max(max_row, r), max(max_col, c), rows_seen + n
            if not piece:
                break
            tail = buf[cut:]  # refs straddling the boundary are seen again next round (max is idempotent)
    return max(max_row, rows_seen), max_col


def _small_part(z: zipfile.ZipFile, part: str) -> bytes | None:
    """A part's bytes when it is small enough to hold in memory, else None (stream it instead)."""
    info = z.getinfo(part)
    if info.file_size > MAX_PART_BYTES:
        return None
    with z.open(info) as fh:
        data = fh.read(MAX_PART_BYTES + 1)
    return data if len(data) <= MAX_PART_BYTES else None


def _col_letters(col: int) -> str:
    s = ""
    while col:
        col, r = divmod(col - 1, 26)
        s = chr(65 + r) + s
    return s


# ---------------------------------------------------------------- calamine

def _calamine_error(e: Exception, name: str) -> Finding:
    """Map a python-calamine exception to a file-level finding."""
    import python_calamine as pc

    msg = str(e)
    if isinstance(e, pc.PasswordError) or "password" in msg.lower() or "encrypt" in msg.lower():
        return make("encrypted-workbook", file=name)
    if "entity" in msg.lower() or "DOCTYPE" in msg or "dtd" in msg.lower():
        return make("unsafe-xml", file=name)
    short = msg.splitlines()[0][:80] if msg else type(e).__name__
    return make("unreadable-workbook", file=name, detail=f"{type(e).__name__}: {short}")


def _meta_from_sheet(wb: Any, layouts: dict[str, Layout], pkg: _Package,
                     z: zipfile.ZipFile | None) -> tuple[str | None, str | None]:
    """Template id and version from the hidden meta sheet (A1:B2), when present and small."""
    names = set(wb.sheet_names)
    metas = {lv.meta_sheet for lay in layouts.values() for lv in lay.versions}
    for meta in sorted(metas & names):
        part = pkg.sheet_parts.get(meta)
        if z is not None and part:
            rows_n, cols_n = sheet_bounds(z, part)
            if rows_n > 100 or cols_n > 50:
                continue
        rows = wb.get_sheet_by_name(meta).to_python(skip_empty_area=False, nrows=10)
        found: dict[str, str] = {}
        for r in rows[:10]:
            if len(r) >= 2 and isinstance(r[0], str):
                v = r[1]
                found[r[0].strip()] = (repr(v) if isinstance(v, float) and not v.is_integer()
                                       else _raw_text(v)).strip()
        if found.get(META_ID_LABEL):
            return found.get(META_ID_LABEL), found.get(META_VERSION_LABEL)
    return None, None


# ---------------------------------------------------------------- main entry

def read_return(path: Path, original_name: str, layouts: dict[str, Layout] | None = None,
                fields: dict[str, FieldDef] | None = None, limits: Limits = DEFAULT_LIMITS,
                max_rows: int = MAX_ROWS, prechecked: bool = False) -> ParsedReturn:
    """Parse one submitted file; every problem becomes a finding on the result, never an exception."""
    res = ParsedReturn(original_name=original_name)
    try:
        if not prechecked:
            f = precheck(Path(path), original_name, limits)
            if f is not None:
                res.findings.append(f)
                return res
        _read(Path(path), res, layouts if layouts is not None else load_layouts(),
              fields if fields is not None else fields_by_code(), max_rows)
    except MemoryError:
        res.values, res.findings = [], [make("parse-memory-exceeded", file=original_name)]
    except UnsafeXml:
        res.values, res.findings = [], [make("unsafe-xml", file=original_name)]
    except Unreadable as e:
        res.values, res.findings = [], [make("unreadable-workbook", file=original_name, detail=str(e))]
    except _NotSpreadsheet as e:
        res.values, res.findings = [], [make("unknown-format", file=original_name,
                                             detail=f"是其他类型的 Office 文档（{e}），不是 Excel 工作簿")]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as e:
        res.values, res.findings = [], [make("unreadable-workbook", file=original_name,
                                             detail=f"压缩结构损坏：{type(e).__name__}")]
    except Exception as e:  # noqa: BLE001 - a broken file must never stop the batch
        res.values, res.findings = [], [make("unreadable-workbook", file=original_name,
                                             detail=f"{type(e).__name__}: {str(e)[:80]}")]
    return res


def _read(path: Path, res: ParsedReturn, layouts: dict[str, Layout], fields: dict[str, FieldDef],
          max_rows: int) -> None:
    """Dispatch on the sniffed format; the zip stays open for the package XML of an .xlsx."""
    with Path(path).open("rb") as fh:
        kind = sniff(fh.read(8))
    if kind == "zip":
        with zipfile.ZipFile(path) as z:
            fmt = "ods" if "mimetype" in z.NameToInfo else "xlsx"
            res.file_format = fmt
            if fmt == "xlsx":
                _read_book(path, res, layouts, fields, max_rows, _read_package(z), z)
                return
    elif kind == "ole":
        fmt = "xls"
    else:
        res.findings.append(make("unknown-format", file=res.original_name, detail="文件头无法识别"))
        return
    res.file_format = fmt
    _read_book(path, res, layouts, fields, max_rows, _Package(), None)


def _read_book(path: Path, res: ParsedReturn, layouts: dict[str, Layout], fields: dict[str, FieldDef],
               max_rows: int, pkg: _Package, z: zipfile.ZipFile | None) -> None:
    """Identify the template, locate the inputs and parse header, footer and values."""
    import python_calamine as pc

    name = res.original_name
    try:
        wb = pc.CalamineWorkbook.from_path(str(path))
        sheet_names = list(wb.sheet_names)
    except Exception as e:  # noqa: BLE001 - calamine raises several unrelated types
        res.findings.append(_calamine_error(e, name))
        return
    if not sheet_names:
        res.findings.append(make("unreadable-workbook", file=name, detail="工作簿中没有可读取的工作表"))
        return

    # identify the template: custom properties, then the hidden meta sheet
    tid, tver = pkg.props.get(PROP_TEMPLATE_ID), pkg.props.get(PROP_TEMPLATE_VERSION)
    if not tid:
        try:
            tid, tver = _meta_from_sheet(wb, layouts, pkg, z)
        except Exception as e:  # noqa: BLE001
            res.findings.append(_calamine_error(e, name))
            return
    if not tid:
        res.findings.append(make("unknown-template", file=name,
                                 detail="文件中没有模板编号，不是本局下发的报表模板或已被其他软件改写"))
        return
    res.template_id, res.template_version = tid, tver
    layout = layouts.get(tid)
    if layout is None:
        res.findings.append(make("unknown-template", file=name, value=tid, detail=f"模板编号「{tid}」未登记"))
        return
    lv = layout.version(tver or "")
    if lv is None:
        res.findings.append(make("unknown-template", file=name, value=tver,
                                 detail=f"模板 {tid} 的版本「{tver or '（空）'}」未登记"))
        return
    res.sheet = lv.sheet
    if lv.sheet not in sheet_names:
        res.findings.append(make("sheet-missing", file=name, sheet=lv.sheet))
        return

    # addresses: defined names when they point at the expected sheet, else the layout's cells
    addr: dict[str, str] = {}
    from_names = 0
    for nm, cell in lv.inputs().items():
        hit = pkg.names.get(nm)
        if hit and hit[0] == lv.sheet:
            addr[nm] = hit[1]
            from_names += 1
        else:
            addr[nm] = cell
    total = len(addr)
    res.addressing = "names" if from_names == total else ("layout" if from_names == 0 else "mixed")

    max_row = max(split_cell(c)[0] for c in addr.values())
    part = pkg.sheet_parts.get(lv.sheet) if z is not None else None
    data = None
    if part:  # bound the sheet before calamine allocates its full rectangle
        data = _small_part(z, part)
        rows_n, cols_n = sheet_bounds(z, part, data)
        if rows_n > max_rows:
            res.findings.append(make("too-many-rows", file=name, sheet=lv.sheet, value=rows_n, expected=max_rows))
            return
        if cols_n > MAX_COLS:
            res.findings.append(make("too-many-columns", file=name, sheet=lv.sheet, value=cols_n,
                                     expected=MAX_COLS))
            return
    try:
        sh = wb.get_sheet_by_name(lv.sheet)
        height = int(sh.height or 0)
        if height > max_rows:
            res.findings.append(make("too-many-rows", file=name, sheet=lv.sheet, value=height, expected=max_rows))
            return
        grid = sh.to_python(skip_empty_area=False, nrows=max_row)
    except MemoryError:
        raise
    except Exception as e:  # noqa: BLE001 - calamine raises several unrelated types
        res.findings.append(_calamine_error(e, name))
        return

    def cell_value(ref: str) -> Any:
        r, c = split_cell(ref)
        if r - 1 < len(grid) and c - 1 < len(grid[r - 1]):
            v = grid[r - 1][c - 1]
            return None if v == "" else v
        return None

    # header
    h = lv.header
    a_name, a_code, a_period = (addr[h[k].name] for k in ("facility_name", "facility_code", "period"))
    raw_period = cell_value(a_period)
    res.header = {"facility_name": _text_or_none(cell_value(a_name)),
                  "facility_code": _code_text(cell_value(a_code)),
                  "period_text": _text_or_none(raw_period), "period": None}
    res.header_cells = {"facility_name": a_name, "facility_code": a_code, "period_text": a_period,
                        "period": a_period}
    if not res.header["facility_code"]:
        res.findings.append(make("facility-code-missing", file=name, sheet=lv.sheet, cell=a_code))
    if res.header["period_text"] is None:
        res.findings.append(make("period-missing", file=name, sheet=lv.sheet, cell=a_period))
    else:
        period = parse_period_text(raw_period)
        res.header["period"] = period
        if period is None:
            res.findings.append(make("period-unparseable", file=name, sheet=lv.sheet, cell=a_period,
                                     value=res.header["period_text"]))
        elif not lv.accepts(period):
            best = layout.latest_version_for(period)
            res.findings.append(make("template-version-not-accepted", file=name, sheet=lv.sheet, cell=a_period,
                                     value=lv.version, detail=period,
                                     expected=(f"v{best.version}" if best else "暂无适用版本")))
    for key, spec in lv.footer.items():
        ref = addr[spec.name]
        res.footer[key] = _text_or_none(cell_value(ref))
        res.footer_cells[key] = ref

    # formula / error cells (xlsx only: other formats carry computed values only)
    issues: dict[str, tuple[str, str | None]] = {}
    if part:
        wanted = {addr[f.name] for f in lv.fields}
        issues = _scan_formulas(z, part, wanted, max(split_cell(c)[0] for c in wanted), data)

    for fc in lv.fields:
        fd = fields[fc.field]
        ref = addr[fc.name]
        kw = dict(file=name, sheet=lv.sheet, cell=ref, field=fc.field, field_zh=fd.label_zh)
        issue = issues.get(ref)
        if issue is not None:
            kind, text = issue
            if kind == "error":
                res.findings.append(make("formula-error-value", value=text, **kw))
            else:
                res.findings.append(make("formula-no-cached-value", **kw))
            res.values.append(ParsedValue(fc.field, lv.sheet, ref, None, text, "error"))
            continue
        value, raw_text, status = parse_number(cell_value(ref), fd)
        if status == "error":
            res.findings.append(make("value-not-number", value=raw_text, **kw))
        res.values.append(ParsedValue(fc.field, lv.sheet, ref, value, raw_text, status))
