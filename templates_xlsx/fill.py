"""Fill a built template with a return's content (used by the demo generator and the tests)."""
from __future__ import annotations

import datetime as dt
import io
import math
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from xml.sax.saxutils import escape

from templates_xlsx.determinism import _ZIP_TIME
from templates_xlsx.layout import LayoutVersion, TableSpec, load_layouts

TableRow = Mapping[str, object] | Sequence[object] | None

_CELL_EL = re.compile(r'<c r="([A-Z]{1,3}[0-9]{1,7})"([^>]*?)(?:/>|>(.*?)</c>)', re.S)
_STYLE_ATTR = re.compile(r'\ss="([0-9]+)"')
_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_PROP_RE = re.compile(r'<property [^>]*name="([^"]+)"[^>]*>\s*<vt:lpwstr>([^<]*)</vt:lpwstr>')
_REL_RE = re.compile(r"<Relationship\b[^>]*>")
_ERRORS = {"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA"}
_EPOCH = dt.datetime(1899, 12, 30)
_ROW_EL = re.compile(r'<row\b[^>]*?\sr="([0-9]+)"[^>]*?(?:/>|>.*?</row>)', re.S)
_DIMENSION = re.compile(r'<dimension ref="[^"]*"\s*/>')


@dataclass(frozen=True)
class _TableTemplate:
    """A table sheet of a built template, split into rows so filled rows can replace template rows."""

    spec: TableSpec
    part: str
    head: str                       # sheet XML up to and including <sheetData>
    rows: dict[int, str]            # template row number → its <row> element
    tail: str                       # from </sheetData> to the end
    styles: tuple[str | None, ...]  # style id of each column's data cells
    last_col: str


@dataclass(frozen=True)
class _Template:
    """A built template held in memory: its zip entries and where the input sheet lives."""

    entries: tuple[tuple[str, bytes], ...]
    sheet_part: str
    sheet_xml: str
    styles_part: str
    styles_dated: bytes
    date_style: dict[str, str]
    lv: LayoutVersion
    tables: dict[str, _TableTemplate] = field(default_factory=dict)


def _attr(tag: str, name: str) -> str | None:
    m = re.search(rf'\s{name}="([^"]*)"', tag)
    return m.group(1) if m else None


@lru_cache(maxsize=8)
def _load(path: str, mtime_ns: int) -> _Template:
    """Read the template once; later fills only substitute cells in the sheet XML."""
    with zipfile.ZipFile(path) as z:
        entries = tuple((i.filename, z.read(i.filename)) for i in z.infolist())
    parts = dict(entries)
    props = dict(_PROP_RE.findall(parts["docProps/custom.xml"].decode()))
    layout = load_layouts()[props["jixiao_template_id"]]
    lv = layout.version(props["jixiao_template_version"])
    if lv is None:
        raise ValueError(f"{path}: unknown template version {props['jixiao_template_version']!r}")
    wb = parts["xl/workbook.xml"].decode()
    rid = _attr(re.search(rf'<sheet [^>]*name="{re.escape(lv.sheet)}"[^>]*>', wb).group(0), "r:id")
    targets = {}
    for rel in _REL_RE.findall(parts["xl/_rels/workbook.xml.rels"].decode()):
        t = _attr(rel, "Target") or ""
        targets[_attr(rel, "Id")] = t.lstrip("/") if t.startswith("/") else "xl/" + t
        if (_attr(rel, "Type") or "").endswith("/styles"):
            styles_part = targets[_attr(rel, "Id")]
    sheet_part = targets[rid]
    sheet_xml = parts[sheet_part].decode()
    tables = {t.name: _table_template(t, targets[_sheet_rid(wb, t.sheet)], parts) for t in lv.tables}
    # clone each field cell's style with a date number format (only used when a date is written)
    styles = parts[styles_part].decode()
    m = re.search(r'<cellXfs count="([0-9]+)">(.*?)</cellXfs>', styles, re.S)
    xfs = re.findall(r"<xf\b[^>]*/>|<xf\b[^>]*>.*?</xf>", m.group(2), re.S)
    date_style, extra = {}, []
    cell_styles = {c: (_STYLE_ATTR.search(" " + a) or [None, "0"])[1] for c, a, _ in _CELL_EL.findall(sheet_xml)}
    wanted = [cell_styles.get(f.cell, "0") for f in lv.fields]
    wanted += [st or "0" for t in tables.values() for st, col in zip(t.styles, t.spec.columns) if col.kind != "date"]
    for s in wanted:
        if s not in date_style:
            xf = re.sub(r'numFmtId="[0-9]+"', 'numFmtId="14"', xfs[int(s)], count=1)
            date_style[s] = str(len(xfs) + len(extra))
            extra.append(xf.replace("<xf ", '<xf applyNumberFormat="1" ', 1) if "applyNumberFormat" not in xf
                         else xf)
    new_xfs = f'<cellXfs count="{len(xfs) + len(extra)}">{m.group(2)}{"".join(extra)}</cellXfs>'
    styles_dated = (styles[:m.start()] + new_xfs + styles[m.end():]).encode()
    return _Template(entries, sheet_part, sheet_xml, styles_part, styles_dated, date_style, lv, tables)


def _sheet_rid(workbook_xml: str, sheet: str) -> str | None:
    """The relationship id of a sheet in workbook.xml."""
    return _attr(re.search(rf'<sheet [^>]*name="{re.escape(sheet)}"[^>]*>', workbook_xml).group(0), "r:id")


def _table_template(spec: TableSpec, part: str, parts: dict[str, bytes]) -> _TableTemplate:
    """Split a table sheet's XML into head, rows and tail; note each column's data-cell style."""
    xml = parts[part].decode()
    start = xml.index("<sheetData>") + len("<sheetData>")
    end = xml.index("</sheetData>")
    rows = {int(m.group(1)): m.group(0) for m in _ROW_EL.finditer(xml, start, end)}
    first = rows.get(spec.first_data_row, "")
    styles = {c: (_STYLE_ATTR.search(" " + a) or [None, None])[1] for c, a, _ in _CELL_EL.findall(first)}
    col_styles = tuple(styles.get(f"{c.letter}{spec.first_data_row}") for c in spec.columns)
    return _TableTemplate(spec, part, xml[:start], rows, xml[end:], col_styles, spec.columns[-1].letter)


def _num(v: float | int) -> str:
    """Number as Excel writes it in <v>."""
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"cannot write {v!r} into a cell")
        return repr(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    return str(v)


def _text(s: str) -> str:
    return escape(_ILLEGAL_XML.sub("", s))


def _cell_xml(ref: str, style: str | None, value: object, date_style: dict[str, str],
              formula: tuple[str, object] | None = None) -> tuple[str, bool]:
    """XML of one cell; returns (xml, uses_date_style)."""
    s_attr = f' s="{style}"' if style is not None else ""
    if formula is not None:
        expr, cached = formula
        f = f"<f>{_text(expr.lstrip('='))}</f>"
        if cached is None:
            return f'<c r="{ref}"{s_attr}>{f}<v /></c>', False
        if isinstance(cached, bool):
            return f'<c r="{ref}"{s_attr} t="b">{f}<v>{int(cached)}</v></c>', False
        if isinstance(cached, (int, float)):
            return f'<c r="{ref}"{s_attr}>{f}<v>{_num(cached)}</v></c>', False
        text = str(cached)
        kind = "e" if text in _ERRORS else "str"
        return f'<c r="{ref}"{s_attr} t="{kind}">{f}<v>{_text(text)}</v></c>', False
    if value is None:
        return f'<c r="{ref}"{s_attr} />', False
    if isinstance(value, bool):
        return f'<c r="{ref}"{s_attr} t="b"><v>{int(value)}</v></c>', False
    if isinstance(value, (int, float)):
        return f'<c r="{ref}"{s_attr}><v>{_num(value)}</v></c>', False
    if isinstance(value, (dt.date, dt.datetime)):
        d = value if isinstance(value, dt.datetime) else dt.datetime(value.year, value.month, value.day)
        serial = (d - _EPOCH).total_seconds() / 86400
        ds = date_style.get(style or "0")
        if ds is None:
            raise ValueError(f"cannot write a date into {ref}")
        return f'<c r="{ref}" s="{ds}"><v>{_num(serial)}</v></c>', True
    text = str(value)
    sp = ' xml:space="preserve"' if text != text.strip() else ""
    return f'<c r="{ref}"{s_attr} t="inlineStr"><is><t{sp}>{_text(text)}</t></is></c>', False


def _row_values(spec: TableSpec, fields: tuple[str, ...], allowed: frozenset[str], row: TableRow) -> list[object]:
    """One table row as a list in column order (a mapping by field code, a sequence, or None for a blank row)."""
    n = len(fields)
    if row is None:
        return [None] * n
    if isinstance(row, Mapping):
        if not row.keys() <= allowed:
            unknown = sorted(set(row) - set(fields))
            raise KeyError(f"unknown column(s) {unknown} for table {spec.name}; allowed: {list(fields)}")
        return [row.get(f) for f in fields]
    if isinstance(row, (str, bytes)) or not isinstance(row, Sequence) or len(row) > n:
        raise ValueError(f"table {spec.name}: a row is a mapping, a sequence of at most {n} values, or None")
    return list(row) + [None] * (n - len(row))


def _fill_table(tt: _TableTemplate, rows: Sequence[TableRow], date_style: dict[str, str]) -> tuple[str, bool]:
    """The table sheet's XML with `rows` written from the first data row down; returns (xml, uses_date_style).

    Plain text, numbers and blanks are written inline (the hot path); anything else goes through _cell_xml.
    """
    spec = tt.spec
    fields = spec.field_codes()
    allowed = frozenset(fields)
    escaped: dict[str, str] = {}  # names and diagnoses repeat: escape each distinct text once
    cols = [(c.letter, st, f' s="{st}"' if st is not None else "", c.kind == "date")
            for c, st in zip(spec.columns, tt.styles)]
    out = dict(tt.rows)
    used_date = False
    r = spec.first_data_row
    for row in rows:
        rs = str(r)
        parts = []
        add = parts.append
        for (letter, st, sa, is_date), v in zip(cols, _row_values(spec, fields, allowed, row)):
            t = type(v)
            if v is None:
                add(f'<c r="{letter}{rs}"{sa}/>')
            elif t is str:
                e = escaped.get(v)
                if e is None:
                    sp = ' xml:space="preserve"' if v[:1].isspace() or v[-1:].isspace() else ""
                    e = escaped[v] = f' t="inlineStr"><is><t{sp}>{_text(v)}</t></is></c>'
                add(f'<c r="{letter}{rs}"{sa}{e}')
            elif t is int:
                add(f'<c r="{letter}{rs}"{sa}><v>{v}</v></c>')
            elif t is float:
                add(f'<c r="{letter}{rs}"{sa}><v>{_num(v)}</v></c>')
            elif is_date and (t is dt.date or t is dt.datetime):
                d = v if t is dt.datetime else dt.datetime(v.year, v.month, v.day)
                add(f'<c r="{letter}{rs}"{sa}><v>{_num((d - _EPOCH).total_seconds() / 86400)}</v></c>')
            elif t is tuple and len(v) == 2 and isinstance(v[0], str):
                add(_cell_xml(f"{letter}{rs}", st, None, date_style, v)[0])
            else:
                xml, dated = _cell_xml(f"{letter}{rs}", st, v, date_style)
                add(xml)
                used_date |= dated
        out[r] = f'<row r="{rs}">{"".join(parts)}</row>'
        r += 1
    head = tt.head
    last = max(out)
    if last > max(tt.rows):  # rows written past the template's area: widen the dimension
        head = _DIMENSION.sub(f'<dimension ref="A1:{tt.last_col}{last}" />', head, count=1)
    return head + "".join([out[k] for k in sorted(out)]) + tt.tail, used_date


def fill_bytes(template_path: Path, *, facility_name: str | None, facility_code: str | None,
               period_text: str | None, values: dict[str, object], footer: dict[str, str] | None = None,
               formulas: dict[str, tuple[str, object | None]] | None = None, choices: dict[str, str] | None = None,
               tables: dict[str, Sequence[TableRow]] | None = None) -> bytes:
    """The bytes of a filled return (see fill_return)."""
    p = Path(template_path)
    tpl = _load(str(p.resolve()), p.stat().st_mtime_ns)
    lv = tpl.lv
    footer = footer or {}
    formulas = formulas or {}
    choices = choices or {}
    tables = tables or {}
    unknown = (set(values) | set(formulas)) - {f.field for f in lv.fields}
    if unknown:
        raise KeyError(f"unknown field(s) {sorted(unknown)} for template {lv.version}")
    bad_footer = set(footer) - set(lv.footer)
    if bad_footer:
        raise KeyError(f"unknown footer key(s) {sorted(bad_footer)}; allowed: {sorted(lv.footer)}")
    bad_choice = set(choices) - set(lv.choices)
    if bad_choice:
        raise KeyError(f"unknown choice key(s) {sorted(bad_choice)}; allowed: {sorted(lv.choices)}")
    bad_table = set(tables) - set(tpl.tables)
    if bad_table:
        raise KeyError(f"unknown table(s) {sorted(bad_table)}; allowed: {sorted(tpl.tables)}")
    cells: dict[str, tuple[object, tuple[str, object] | None]] = {}
    for key, val in (("facility_name", facility_name), ("facility_code", facility_code), ("period", period_text)):
        if val is not None:
            cells[lv.header[key].cell] = (str(val), None)
    for key, val in footer.items():
        if val is not None:
            cells[lv.footer[key].cell] = (str(val), None)
    for key, val in choices.items():
        if val is not None:
            cells[lv.choices[key].cell] = (str(val), None)
    for f in lv.fields:
        if f.field in formulas:
            cells[f.cell] = (None, formulas[f.field])
        elif values.get(f.field) is not None:
            cells[f.cell] = (values[f.field], None)
    used_date = False

    def sub(m: re.Match) -> str:
        nonlocal used_date
        ref = m.group(1)
        if ref not in cells:
            return m.group(0)
        sm = _STYLE_ATTR.search(" " + m.group(2))
        xml, dated = _cell_xml(ref, sm.group(1) if sm else None, cells[ref][0], tpl.date_style, cells[ref][1])
        used_date |= dated
        return xml

    sheet = _CELL_EL.sub(sub, tpl.sheet_xml)
    filled: dict[str, bytes] = {tpl.sheet_part: sheet.encode()}
    for name, rows in tables.items():
        xml, dated = _fill_table(tpl.tables[name], rows, tpl.date_style)
        used_date |= dated
        filled[tpl.tables[name].part] = xml.encode()
    table_parts = {t.part for t in tpl.tables.values()}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as dst:
        for name, body in tpl.entries:
            if name in filled:
                body = filled[name]
            elif name == tpl.styles_part and used_date:
                body = tpl.styles_dated
            zi = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o600 << 16
            # big, repetitive table sheets: level 1 is ~4× faster and barely larger
            dst.writestr(zi, body, compresslevel=1 if name in table_parts else None)
    return out.getvalue()


def fill_return(template_path: Path, out_path: Path, *, facility_name: str | None, facility_code: str | None,
                period_text: str | None, values: dict[str, object], footer: dict[str, str] | None = None,
                formulas: dict[str, tuple[str, object | None]] | None = None, choices: dict[str, str] | None = None,
                tables: dict[str, Sequence[TableRow]] | None = None) -> bytes:
    """Write a filled copy of a built template (values as given: numbers or raw text); returns its bytes.

    `formulas[field] = ("=E20+E21", cached)` writes a formula with a cached value (None: no cached value,
    as openpyxl writes). Header, footer and choice values are written as text. `tables[name]` is a list of
    rows written from the table's first data row down: each a mapping field code → value, a sequence in column
    order, or None (a blank row); a value is None (blank), text (written as typed), a number, a bool, a date,
    or ("=expr", cached) for a formula. Rows past the table's cap are written too (the reader flags them).
    Output is byte-deterministic.
    """
    data = fill_bytes(template_path, facility_name=facility_name, facility_code=facility_code,
                      period_text=period_text, values=values, footer=footer, formulas=formulas, choices=choices,
                      tables=tables)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    return data
