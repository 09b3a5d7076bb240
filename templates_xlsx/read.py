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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import defusedxml.ElementTree as DET
from defusedxml import DefusedXmlException

from expectations.findings import Finding, make
from metrics.catalog import FieldDef, fields_by_code
from templates_xlsx.layout import (DEFAULT_FIELD_CATALOG, ChoiceSpec, Layout, LayoutVersion, TableSpec, load_layouts,
                                   split_cell)
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
_RANGE_REF = re.compile(
    r"^(?:'((?:[^']|'')+)'|([^'!]+))!\$?([A-Z]{1,3})\$?([0-9]{1,7}):\$?([A-Z]{1,3})\$?([0-9]{1,7})$")
_NUMBER = re.compile(r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")
_GROUPED = re.compile(r"^[+-]?[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]*)?$")
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


class ParsedCell(NamedTuple):
    """One table cell as read: where it is, what was typed, the parsed value and its status."""

    sheet: str
    cell: str
    raw_text: str | None        # the text as typed (None when the cell held a plain number or date)
    value: float | str | None   # numbers and 0/1 flags as float; text, codes and ISO dates as str
    status: str                 # ok | blank | blank_zero | error


@dataclass
class ParsedRow:
    """One data row of a table: its source row and its cells in the layout's column order (compact lists)."""

    sheet: str
    row: int                        # the worksheet row the cells came from (1-based)
    fields: tuple[str, ...]         # column field codes (shared by every row of the table)
    columns: tuple[str, ...]        # column letters as found in the file (shared)
    values: tuple[float | str | None, ...]
    raw_texts: tuple[str | None, ...]
    statuses: tuple[str, ...]

    def cell(self, field: str) -> ParsedCell:
        """The ParsedCell of a field code (ValueError if the table has no such column)."""
        i = self.fields.index(field)
        return ParsedCell(self.sheet, f"{self.columns[i]}{self.row}", self.raw_texts[i], self.values[i],
                          self.statuses[i])

    @property
    def cells(self) -> dict[str, ParsedCell]:
        """Field code → ParsedCell (sheet, cell, raw_text, value, status) for every column."""
        r = str(self.row)
        return {f: ParsedCell(self.sheet, c + r, t, v, st) for f, c, t, v, st in
                zip(self.fields, self.columns, self.raw_texts, self.values, self.statuses)}

    def value_map(self) -> dict[str, float | str | None]:
        """Field code → parsed value."""
        return dict(zip(self.fields, self.values))

    @property
    def has_error(self) -> bool:
        """True when a cell of the row could not be read (it has a finding)."""
        return "error" in self.statuses


STATUS_CODES = {"ok": "o", "blank": "b", "blank_zero": "z", "error": "e"}  # status → its one-letter code
_CODE_STATUS = {c: st for st, c in STATUS_CODES.items()}


@dataclass(eq=False)
class ParsedTable(Sequence[ParsedRow]):
    """The data (or total) rows of one table, column by column; a sequence of ParsedRow views.

    Column-wise because a 处方点评表 holds 15,000 cells: per-row objects cost more than the parse, on the wire
    from the sandbox and in the loader alike. `values[i][j]` is column i of the j-th row (worksheet row `rows[j]`).
    """

    sheet: str
    fields: tuple[str, ...]                        # column field codes in layout order
    columns: tuple[str, ...]                       # column letters as found in the file
    rows: list[int]                                # worksheet row (1-based) of each row
    values: list[list[float | str | None]]         # per column
    raw_texts: list[list[str | None] | None]       # per column; None when no cell of the column has a raw text
    status_codes: list[str]                        # per column, one letter a row: o ok, b blank, z blank_zero, e error

    @classmethod
    def empty(cls, sheet: str, fields: tuple[str, ...], columns: tuple[str, ...]) -> ParsedTable:
        """A table without rows."""
        return cls(sheet, fields, columns, [], [[] for _ in fields], [None] * len(fields), [""] * len(fields))

    @classmethod
    def from_rows(cls, rows: list[ParsedRow]) -> ParsedTable:
        """The table of a non-empty list of ParsedRows (all of one table)."""
        first = rows[0]
        w = len(first.fields)
        return cls(first.sheet, tuple(first.fields), tuple(first.columns), [r.row for r in rows],
                   [[r.values[i] for r in rows] for i in range(w)],
                   [None if all(r.raw_texts[i] is None for r in rows) else [r.raw_texts[i] for r in rows]
                    for i in range(w)],
                   ["".join(STATUS_CODES[r.statuses[i]] for r in rows) for i in range(w)])

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, j: Any) -> Any:
        if isinstance(j, slice):
            return [self[k] for k in range(*j.indices(len(self.rows)))]
        row = self.rows[j]  # IndexError as a list would raise it (and negative indices work)
        return ParsedRow(self.sheet, row, self.fields, self.columns, tuple(v[j] for v in self.values),
                         tuple(None if t is None else t[j] for t in self.raw_texts),
                         tuple(_CODE_STATUS[s[j]] for s in self.status_codes))

    def __iter__(self) -> Iterator[ParsedRow]:
        return (self[j] for j in range(len(self.rows)))

    def __eq__(self, other: object) -> bool:
        """Equal to another table or a list of ParsedRows with the same rows (an empty table == [])."""
        if isinstance(other, (ParsedTable, list, tuple)):
            return len(self) == len(other) and list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ParsedTable(sheet={self.sheet!r}, fields={self.fields!r}, rows={len(self.rows)})"

    def error_rows(self) -> list[int]:
        """Indices of the rows where some cell could not be read, ascending."""
        out: set[int] = set()
        for s in self.status_codes:
            j = s.find("e")
            while j >= 0:
                out.add(j)
                j = s.find("e", j + 1)
        return sorted(out)

    @property
    def has_error(self) -> bool:
        """True when some cell of the table could not be read."""
        return any("e" in s for s in self.status_codes)

    def take(self, idx: list[int]) -> ParsedTable:
        """The rows at the given indices, in that order."""
        return ParsedTable(self.sheet, self.fields, self.columns, [self.rows[j] for j in idx],
                           [[v[j] for j in idx] for v in self.values],
                           [None if t is None else [t[j] for j in idx] for t in self.raw_texts],
                           ["".join([s[j] for j in idx]) for s in self.status_codes])

    def merged(self, other: ParsedTable) -> ParsedTable:
        """This table's rows and another's (same columns), ordered by worksheet row."""
        both = ParsedTable(self.sheet, self.fields, self.columns, self.rows + other.rows,
                           [a + b for a, b in zip(self.values, other.values)],
                           [None if a is None and b is None else (a or [None] * len(self.rows)) +
                            (b or [None] * len(other.rows)) for a, b in zip(self.raw_texts, other.raw_texts)],
                           [a + b for a, b in zip(self.status_codes, other.status_codes)])
        return both.take(sorted(range(len(both.rows)), key=both.rows.__getitem__))


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
    tables: dict[str, ParsedTable] = field(default_factory=dict)        # data rows (blank/total rows left out)
    table_totals: dict[str, ParsedTable] = field(default_factory=dict)  # recognised total/summary rows

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

    def clear(self, finding: Finding) -> None:
        """Drop everything read so far and keep one file-level finding."""
        self.values, self.findings, self.tables, self.table_totals = [], [finding], {}, {}


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


# ---------------------------------------------------------------- table cells: dates, 0/1 flags, text

_DATE_TEXT = (
    re.compile(r"^([0-9]{4})[-/.]([0-9]{1,2})[-/.]([0-9]{1,2})(?:[ T][0-9:.]*)?$"),
    re.compile(r"^([0-9]{4})年([0-9]{1,2})月([0-9]{1,2})[日号]?$"),
    re.compile(r"^([0-9]{4})([0-9]{2})([0-9]{2})$"),
)
_SERIAL_MIN, _SERIAL_MAX = 36526, 73050  # Excel serials of 2000-01-01 and 2099-12-31
_EPOCH = dt.date(1899, 12, 30)
_FLAG_TRUE = frozenset({"1", "1.0", "是", "Y", "YES", "有", "√", "✓", "✔", "TRUE", "T"})
_FLAG_FALSE = frozenset({"0", "0.0", "否", "N", "NO", "无", "×", "✗", "✘", "X", "FALSE", "F"})


def _ymd(y: int, m: int, d: int) -> str | None:
    """ISO date when (y, m, d) is a real calendar day in 2000–2100, else None."""
    if not 2000 <= y <= 2100:
        return None
    try:
        return dt.date(y, m, d).isoformat()
    except ValueError:
        return None


def parse_date(raw: Any) -> tuple[str | None, str | None, str]:
    """(ISO date, raw_text, status) of a date cell: Excel date, '2026-10-05', '2026/10/5', '2026年10月5日', 20261005."""
    if raw is None or raw == "":
        return None, None, "blank"
    t = type(raw)
    if t is dt.date or t is dt.datetime:
        iso = _ymd(raw.year, raw.month, raw.day)
        return (iso, None, "ok") if iso else (None, _raw_text(raw), "error")
    if t is float or t is int:
        v = float(raw)
        if math.isfinite(v) and v.is_integer():
            n = int(v)
            if 20000101 <= n <= 21001231:
                iso = _ymd(n // 10000, n // 100 % 100, n % 100)
                if iso:
                    return iso, None, "ok"
            elif _SERIAL_MIN <= n <= _SERIAL_MAX:  # an Excel date whose cell lost its date format
                return (_EPOCH + dt.timedelta(days=n)).isoformat(), None, "ok"
        return None, _raw_text(raw), "error"
    if t is not str:
        return None, _raw_text(raw), "error"
    text = unicodedata.normalize("NFKC", raw).strip()
    if not text:
        return None, None, "blank"
    compact = text if " " not in text else (text if _DATE_TEXT[0].match(text) else _SPACES.sub("", text))
    for pat in _DATE_TEXT:
        m = pat.match(compact)
        if m:
            iso = _ymd(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            if iso:
                return iso, raw, "ok"
            break
    return None, raw, "error"


def parse_flag(raw: Any) -> tuple[float | None, str | None, str]:
    """(1.0 | 0.0, raw_text, status) of a 0/1 cell: 0/1, 是/否, Y/N, 有/无, √/×, TRUE/FALSE."""
    if raw is None or raw == "":
        return None, None, "blank"
    t = type(raw)
    if t is float or t is int:
        if raw == 1 or raw == 0:
            return float(raw), None, "ok"
        return None, _raw_text(raw), "error"
    if t is bool:
        return (1.0 if raw else 0.0), None, "ok"
    if t is not str:
        return None, _raw_text(raw), "error"
    key = _clean(raw).upper()
    if not key:
        return None, None, "blank"
    if key in _FLAG_TRUE:
        return 1.0, raw, "ok"
    if key in _FLAG_FALSE:
        return 0.0, raw, "ok"
    return None, raw, "error"


def parse_text(raw: Any, codes: bool = False) -> tuple[str | None, str | None, str]:
    """(text, raw_text, status) of a text cell: trimmed text; numbers and dates as typed-looking text.

    With codes=True a date is turned back into the code Excel mangled: typing 1-7 gives 7 January → '1-7'.
    """
    if type(raw) is str:
        v = raw.strip()
        return (v, raw, "ok") if v else (None, None, "blank")
    if raw is None:
        return None, None, "blank"
    if codes and isinstance(raw, (dt.date, dt.datetime)):
        return f"{raw.month}-{raw.day}", _raw_text(raw), "ok"
    return _raw_text(raw), None, "ok"


def _seq(raw: Any) -> tuple[float | str | None, str | None, str]:
    """序号 as typed (a number or text); never an error."""
    if raw is None or raw == "":
        return None, None, "blank"
    if type(raw) is float or type(raw) is int:
        return float(raw), None, "ok"
    return parse_text(raw)


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
    ranges: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # name → (sheet, top-left, bottom-right)
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
            ref = (el.text or "").strip()
            m = _NAME_REF.match(ref)
            if name and m and not name.startswith("_xlnm."):
                sheet = m.group(1).replace("''", "'") if m.group(1) is not None else m.group(2)
                pkg.names[name] = (sheet, f"{m.group(3)}{m.group(4)}")
            elif name and not name.startswith("_xlnm.") and (m := _RANGE_REF.match(ref)):
                sheet = m.group(1).replace("''", "'") if m.group(1) is not None else m.group(2)
                pkg.ranges[name] = (sheet, f"{m.group(3)}{m.group(4)}", f"{m.group(5)}{m.group(6)}")
    return pkg


def _cell_region(data: bytes) -> tuple[bytes, bytes]:
    """(prolog before the root element, the <sheetData> region) of a sheet part held in memory."""
    m = _ROOT_START.search(data)
    prolog = data[:m.start()] if m else data
    start, end = data.find(b"sheetData"), data.rfind(b"sheetData>")
    region = data[start:end] if 0 <= start < end else data
    return prolog, region


def _needs_scan(data: bytes) -> bool:
    """True when the sheet may hold formulas, error cells or a DTD (cheap byte checks before iterparse).

    The probes are a superset of <f>, <f/>, <x:f …> (`<f`, `:f`), error cells (`t="e"`) and a DTD (`<!`).
    """
    prolog, region = _cell_region(data)
    if b"<!" in prolog:
        return True
    # one-byte probes first (memchr speed): a sheet without any "f", "!" or "'" needs only the t="e" search
    if b"f" in region and (b"<f" in region or b":f" in region):
        return True
    if b"!" in region and b"<!" in region:
        return True
    return b't="e"' in region or (b"'" in region and b"t='e'" in region)


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
_REF_ROWS = re.compile(rb' r="[A-Z]{0,4}([0-9]{1,9})"')
_REF_COLS = re.compile(rb' r="([A-Z]{1,4})[0-9]')


def _bounds_of(buf: bytes, end: int) -> tuple[int, int, int]:
    """(max row ref, max column number, row tags) in buf[:end] (refs are scanned in all of buf)."""
    # two findalls reduced in C: a 2,000-row table sheet holds ~30,000 refs
    max_row = max(map(int, _REF_ROWS.findall(buf)), default=0)
    letters = set(_REF_COLS.findall(buf))
    if b" r='" in buf:
        refs = _REFS[1].findall(buf)
        max_row = max([max_row] + [int(d) for _, d in refs])
        letters.update(c for c, _ in refs if c)
    max_col = 0
    for col in letters:
        n = 0
        for ch in col:
            n = n * 26 + ch - 64
        max_col = max(max_col, n)
    return max_row, max_col, buf.count(b"<row", 0, end) + buf.count(b":row", 0, end)


def _above(n: int) -> bytes:
    """A regex (bytes) matching decimal numbers greater than n, without leading zeros."""
    d = str(n)
    alts = [rb"[1-9][0-9]{%d,}" % len(d)]
    for i, ch in enumerate(d):
        if ch != "9":
            rest = len(d) - i - 1
            alts.append(d[:i].encode() + b"[%d-9]" % (int(ch) + 1) + (rb"[0-9]{%d}" % rest if rest else b""))
    return b"(?:" + b"|".join(alts) + b")"


@lru_cache(maxsize=8)
def _out_of_bounds_re(max_rows: int, max_cols: int) -> re.Pattern[bytes]:
    """Matches a cell/row reference beyond max_rows, or a column beyond max_cols (only 256 = IV supported)."""
    if max_cols != 256:
        raise ValueError("only MAX_COLS = 256 (IV) is supported")
    return re.compile(rb""" r=["'](?:(?:[A-Z]{3,}|[J-Z][A-Z]|I[W-Z])[0-9]|[A-Z]{0,4}0*""" + _above(max_rows)
                      + rb"""["'])""")  # one literal prefix: the regex engine skips to each ' r=' quickly


_REF_SHAPE = bytes.maketrans(b"0123456789BCDEFGHIJKLMNOPQRSTUVWXYZ'", b"0" * 10 + b"A" * 25 + b'"')


def within_bounds(data: bytes, max_rows: int, max_cols: int = MAX_COLS) -> bool:
    """Cheap guard before calamine for a sheet part held in memory; False means: compute sheet_bounds.

    True guarantees no reference beyond column IV and none with more digits than max_rows, so calamine's
    rectangle stays below 10^digits × 256 cells; the exact row limit is then checked on calamine's range.
    A few substring searches on a translated copy (digits → 0, letters → A), not a regex over every ref.
    """
    region = _cell_region(data)[1]
    if region.count(b"<row") + (region.count(b":row") if b":" in region else 0) > max_rows:
        return False
    shape = region.translate(_REF_SHAPE)  # quotes too: r='A1' reads as r="A1"
    digits = b"0" * (len(str(max_rows)) + 1)
    if b' r="A' + digits in shape or b' r="' + digits in shape:
        return False
    return b' r="AA' not in shape or _out_of_bounds_re(max_rows, max_cols).search(region) is None


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
        res.clear(make("parse-memory-exceeded", file=original_name))
    except UnsafeXml:
        res.clear(make("unsafe-xml", file=original_name))
    except Unreadable as e:
        res.clear(make("unreadable-workbook", file=original_name, detail=str(e)))
    except _NotSpreadsheet as e:
        res.clear(make("unknown-format", file=original_name,
                       detail=f"是其他类型的 Office 文档（{e}），不是 Excel 工作簿"))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as e:
        res.clear(make("unreadable-workbook", file=original_name, detail=f"压缩结构损坏：{type(e).__name__}"))
    except Exception as e:  # noqa: BLE001 - a broken file must never stop the batch
        res.clear(make("unreadable-workbook", file=original_name,
                       detail=f"{type(e).__name__}: {str(e)[:80]}"))
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
    if layout.field_catalog != DEFAULT_FIELD_CATALOG:  # its own catalog; fields passed in still take precedence
        fields = {**layout.field_defs(), **fields}
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

    for key, spec in lv.choices.items():
        ref = addr[spec.name]
        res.header[key], res.header_cells[key] = _parse_choice(res, lv.sheet, ref, spec, cell_value(ref)), ref
    for table in lv.tables:
        if not _read_table(wb, z, pkg, res, table, sheet_names, max_rows):
            return


# ---------------------------------------------------------------- choices and tables

def _parse_choice(res: ParsedReturn, sheet: str, ref: str, spec: ChoiceSpec, raw: Any) -> str | None:
    """The option a choice cell holds ('随机抽样' → '随机'); a finding when blank (if required) or not an option."""
    text = _text_or_none(raw)
    kw = dict(file=res.original_name, sheet=sheet, cell=ref, field_zh=spec.label_zh, expected="、".join(spec.options))
    if text is None:
        if spec.required:
            res.findings.append(make("choice-missing", **kw))
        return None
    key = _clean(text)
    hits = [o for o in spec.options if o in key]
    if len(hits) == 1:
        return hits[0]
    res.findings.append(make("choice-invalid", value=text, **kw))
    return None


def _column_parsers(table: TableSpec) -> list[tuple[Any, str, str]]:
    """(parser, finding code on error, label) per column; parsers return (value, raw_text, status)."""
    out: list[tuple[Any, str, str]] = []
    for c in table.columns:
        if c.kind in ("count", "amount"):
            fd = FieldDef(c.field, c.label_zh, c.unit, "sum", c.kind, c.required, c.blank, table.name)
            out.append((lambda raw, fd=fd: parse_number(raw, fd), "value-not-number", c.label_zh))
        elif c.kind == "date":
            out.append((parse_date, "date-unparseable", c.label_zh))
        elif c.kind == "flag":
            out.append((parse_flag, "flag-not-01", c.label_zh))
        elif c.kind == "codes":
            out.append((lambda raw: parse_text(raw, True), "", c.label_zh))
        elif c.kind == "seq":
            out.append((_seq, "", c.label_zh))
        else:
            out.append((parse_text, "", c.label_zh))
    return out


_K_SEQ, _K_TEXT, _K_CODES, _K_DATE, _K_NUMBER, _K_FLAG = range(6)
_KIND_CODE = {"seq": _K_SEQ, "text": _K_TEXT, "codes": _K_CODES, "date": _K_DATE, "count": _K_NUMBER,
              "amount": _K_NUMBER, "flag": _K_FLAG}


def _read_table(wb: Any, z: zipfile.ZipFile | None, pkg: _Package, res: ParsedReturn, table: TableSpec,
                sheet_names: list[str], max_rows: int) -> bool:
    """Read one table's rows into res.tables; False after a file-level finding (the caller stops)."""
    name, sheet = res.original_name, table.sheet
    if sheet not in sheet_names:
        res.findings.append(make("sheet-missing", file=name, sheet=sheet))
        return False
    part = pkg.sheet_parts.get(sheet) if z is not None else None
    data = None
    if part:  # bound the sheet before calamine allocates its full rectangle (exact figures only when over)
        data = _small_part(z, part)
        if data is None or not within_bounds(data, max_rows):
            rows_n, cols_n = sheet_bounds(z, part, data)
            if rows_n > max_rows:
                res.findings.append(make("too-many-rows", file=name, sheet=sheet, value=rows_n, expected=max_rows))
                return False
            if cols_n > MAX_COLS:
                res.findings.append(make("too-many-columns", file=name, sheet=sheet, value=cols_n,
                                         expected=MAX_COLS))
                return False
    try:
        sh = wb.get_sheet_by_name(sheet)
        end = sh.end
        if end is not None and (end[0] + 1 > max_rows or end[1] + 1 > MAX_COLS):
            rows_n, cols_n = end[0] + 1, end[1] + 1
            res.findings.append(make("too-many-rows", file=name, sheet=sheet, value=rows_n, expected=max_rows)
                                if rows_n > max_rows else
                                make("too-many-columns", file=name, sheet=sheet, value=cols_n, expected=MAX_COLS))
            return False
        grid = sh.to_python(skip_empty_area=False) if end is not None else []
    except MemoryError:
        raise
    except Exception as e:  # noqa: BLE001 - calamine raises several unrelated types
        res.findings.append(_calamine_error(e, name))
        return False

    # where the table starts: its defined range name when it points at the table's sheet, else the layout
    first_row, offset = table.first_data_row, 0
    hit = pkg.ranges.get(table.range_name)
    if hit and hit[0] == sheet:
        top_row, left_col = split_cell(hit[1])
        first_row, offset = top_row, left_col - table.first_col
    idx = [table.first_col - 1 + offset + i for i in range(len(table.columns))]
    letters = tuple(_col_letters(i + 1) for i in idx)
    fields = table.field_codes()
    parsers = _column_parsers(table)
    content = [idx[i] for i, c in enumerate(table.columns) if c.kind != "seq"]  # a row with nothing here is blank
    total_at = [idx[[c.letter for c in table.columns].index(x)] for x in table.total_columns]
    labels = tuple(_clean(x) for x in table.total_labels)
    initials = frozenset(x[0] for x in labels)
    width = max(map(len, grid), default=0)
    if any(len(g) != width for g in grid):  # calamine returns a rectangle; pad anything ragged all the same
        grid = [list(g) + [""] * (width - len(g)) for g in grid]

    # 1. which rows are data, which are totals (合计/总计/小计… at the start of a total column); skip blank rows
    data_rows: list[int] = []
    total_rows: list[int] = []
    overflow_first, overflow_n = 0, 0
    for r0 in range(first_row - 1, len(grid)):
        g = grid[r0]
        for i in total_at:
            v = g[i] if i < width else ""
            if type(v) is str and v.lstrip()[:1] in initials and _clean(v).startswith(labels):
                total_rows.append(r0)
                break
        else:
            for i in content:
                v = g[i] if i < width else ""
                if v != "" and v is not None and not (type(v) is str and not v.strip()):
                    break
            else:
                continue  # blank row
            if len(data_rows) < table.max_rows:
                data_rows.append(r0)
            else:
                overflow_first = overflow_first or r0 + 1
                overflow_n += 1

    # 2. parse column by column (one specialised comprehension per column), then zip back into rows
    issues: dict[str, tuple[str, str | None]] = {}
    if part and (data is None or _needs_scan(data)):  # formulas or error cells somewhere in the sheet
        wanted = {f"{letters[i]}{r0 + 1}" for r0 in data_rows for i, c in enumerate(table.columns)
                  if c.kind != "seq"}
        if wanted:
            issues = _scan_formulas(z, part, wanted, len(grid), data)
    rows = _parse_rows(res, table, sheet, grid, data_rows, idx, letters, parsers, issues, width)
    totals = _parse_rows(None, table, sheet, grid, total_rows, idx, letters, parsers, {}, width)
    if overflow_n:
        res.findings.append(make("table-too-long", file=name, sheet=sheet, cell=f"{letters[0]}{overflow_first}",
                                 value=table.max_rows + overflow_n, expected=table.max_rows))
    if table.summary_pattern and rows.has_error:
        rows, totals = _summary_rows(res, table, rows, totals)
    res.tables[table.name] = rows
    res.table_totals[table.name] = totals
    return True


_BLANK = (None, None, "blank")
_BLANK_ZERO = (0.0, None, "blank_zero")


def _parse_column(code: int, parse: Any, zero: bool, col: list[Any]) -> list[tuple[Any, str | None, str]]:
    """(value, raw_text, status) per cell of one column: inline fast paths for what calamine returns most."""
    blank = _BLANK_ZERO if zero else _BLANK
    if code == _K_NUMBER:
        return [(v, None, "ok") if type(v) is float and v - v == 0 else
                blank if v == "" or v is None else parse(v) for v in col]
    if code == _K_TEXT or code == _K_CODES:
        return [((s, v, "ok") if (s := v.strip()) else blank) if type(v) is str else
                blank if v is None else parse(v) for v in col]
    if code == _K_FLAG:
        return [(v, None, "ok") if type(v) is float and (v == 1.0 or v == 0.0) else
                blank if v == "" or v is None else parse(v) for v in col]
    if code == _K_DATE:
        return [(v.isoformat(), None, "ok") if type(v) is dt.date and 2000 <= v.year <= 2100 else
                blank if v == "" or v is None else parse(v) for v in col]
    return [blank if v == "" or v is None else parse(v) for v in col]


_FLOAT, _STR, _DATE = frozenset({float}), frozenset({str}), frozenset({dt.date})


def _column(code: int, parse: Any, zero: bool, col: tuple[Any, ...]
            ) -> tuple[list[Any], list[str | None] | None, str]:
    """(values, raw texts or None when all are None, status codes) of one column.

    Whole-column fast paths for the usual case (every cell a finite number, a 0/1, a date in range or non-blank
    text); otherwise cell by cell through _parse_column, with the same results.
    """
    n = len(col)
    types = set(map(type, col))
    if types == _FLOAT:
        if code == _K_SEQ or (code == _K_NUMBER and math.isfinite(sum(col))):  # a finite sum: no inf, no nan
            return list(col), None, "o" * n
        if code == _K_FLAG and set(col) <= {0.0, 1.0}:
            return list(col), None, "o" * n
    elif types == _STR and (code == _K_TEXT or code == _K_CODES):
        stripped = [v.strip() for v in col]
        if all(stripped):
            return stripped, list(col), "o" * n
    elif types == _DATE and code == _K_DATE and all(2000 <= v.year <= 2100 for v in col):
        return [v.isoformat() for v in col], None, "o" * n
    v, t, st = zip(*_parse_column(code, parse, zero, col))
    return list(v), None if t.count(None) == n else list(t), "".join(map(STATUS_CODES.__getitem__, st))


_CELL_REF = re.compile(r"^([A-Z]{1,3})([0-9]+)$")


def _parse_rows(res: ParsedReturn | None, table: TableSpec, sheet: str, grid: list[list[Any]], row_idx: list[int],
                idx: list[int], letters: tuple[str, ...], parsers: list[tuple[Any, str, str]],
                issues: dict[str, tuple[str, str | None]], width: int) -> ParsedTable:
    """The given grid rows as a ParsedTable; findings go to res (None: total rows, no findings)."""
    fields = table.field_codes()
    if not row_idx:
        return ParsedTable.empty(sheet, fields, letters)
    rows = [r0 + 1 for r0 in row_idx]
    n = len(rows)
    picked = [grid[r0] for r0 in row_idx]
    columns = list(zip(*picked)) if width else []
    empty = ("",) * n
    values: list[list[Any]] = []
    raws: list[list[str | None] | None] = []
    codes: list[str] = []
    for i, c in enumerate(table.columns):
        v, t, st = _column(_KIND_CODE[c.kind], parsers[i][0], c.blank == "zero",
                           columns[idx[i]] if idx[i] < width else empty)
        values.append(v)
        raws.append(t)
        codes.append(st)
    out = ParsedTable(sheet, fields, letters, rows, values, raws, codes)
    if res is None:
        return out
    # findings, row by row as a reader would go through the sheet: cells that failed, formulas without a value
    todo = set(out.error_rows())
    if issues:
        at = {r: j for j, r in enumerate(rows)}
        for ref in issues:
            m = _CELL_REF.match(ref)
            if m and int(m.group(2)) in at:
                todo.add(at[int(m.group(2))])
    if not todo:
        return out
    fixed: dict[int, list[str]] = {}
    for j in sorted(todo):
        row_no = rows[j]
        for i in range(len(fields)):
            ref = f"{letters[i]}{row_no}"
            issue = issues.get(ref) if issues else None
            if issue is not None:
                kind, text = issue
                if raws[i] is None:
                    raws[i] = [None] * n
                values[i][j], raws[i][j] = None, text
                fixed.setdefault(i, list(codes[i]))[j] = "e"
                code = "formula-error-value" if kind == "error" else "formula-no-cached-value"
                res.findings.append(make(code, file=res.original_name, sheet=sheet, cell=ref, field=fields[i],
                                         field_zh=parsers[i][2], value=text))
            elif codes[i][j] == "e" and parsers[i][1]:
                res.findings.append(make(parsers[i][1], file=res.original_name, sheet=sheet, cell=ref,
                                         field=fields[i], field_zh=parsers[i][2],
                                         value=None if raws[i] is None else raws[i][j]))
    for i, chars in fixed.items():
        codes[i] = "".join(chars)
    return out


def _summary_rows(res: ParsedReturn, table: TableSpec, rows: ParsedTable, totals: ParsedTable
                  ) -> tuple[ParsedTable, ParsedTable]:
    """Move rows holding summary cells ('A=123', 'B=2.1' on the official sheet) to the totals, dropping their
    findings: they failed to parse as data only because they are not data."""
    pattern = re.compile(table.summary_pattern or "$^")
    raws = [t for t in rows.raw_texts if t is not None]
    moved = [j for j in rows.error_rows() if any(type(t[j]) is str and pattern.match(t[j]) for t in raws)]
    if not moved:
        return rows, totals
    refs = {(rows.sheet, f"{c}{rows.rows[j]}") for j in moved for c in rows.columns}
    res.findings = [f for f in res.findings if (f.sheet, f.cell) not in refs]
    gone = set(moved)
    keep = rows.take([j for j in range(len(rows)) if j not in gone])
    return keep, totals.merged(rows.take(moved))
