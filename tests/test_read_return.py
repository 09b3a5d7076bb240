"""read_return and parse_many on real files: built template → fill_return → (tamper) → read back."""
from __future__ import annotations

import dataclasses
import datetime as dt
import io
import os
import pickle
import re
import time
import zipfile
from pathlib import Path

import openpyxl
import pytest

from metrics.catalog import fields_by_code, load_fields
from templates_xlsx import sandbox
from templates_xlsx.build import template_path
from templates_xlsx.fill import fill_return
from templates_xlsx.layout import load_layouts
from templates_xlsx.read import ParsedReturn, parse_number, parse_period_text, read_return
from templates_xlsx.safety import Limits, precheck

SHEET = "运营与药品"
LV = load_layouts()["JX-YB01"].version("2026.1")
TEMPLATE = template_path()
SHEET_PART = "xl/worksheets/sheet1.xml"


def good_values() -> dict[str, object]:
    """A full, plausible set of values (counts whole, amounts with 2 decimals)."""
    out: dict[str, object] = {}
    for i, f in enumerate(load_fields()):
        out[f.code] = 1000 + 37 * i if f.kind == "count" else round(100.5 + 13.25 * i, 2)
    return out


def fill(tmp: Path, name: str = "r.xlsx", values: dict[str, object] | None = None, period: str | None = "2026年09月",
         code: str | None = "H0001", **kw: object) -> Path:
    path = tmp / name
    fill_return(TEMPLATE, path, facility_name="市第一人民医院", facility_code=code, period_text=period,
                values=good_values() if values is None else values, **kw)
    return path


def locs(pr: ParsedReturn) -> list[tuple[str | None, str | None, str]]:
    return [(f.sheet, f.cell, f.code) for f in pr.findings]


def rezip(src: Path, dst: Path, replace: dict[str, bytes | None] | None = None,
          add: dict[str, bytes] | None = None, level: int = 6) -> Path:
    """Copy a zip, replacing (None = dropping) and adding entries."""
    replace = replace or {}
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as zout:
        for info in zin.infolist():
            body = replace.get(info.filename, zin.read(info.filename))
            if body is not None:
                zout.writestr(info.filename, body)
        for name, body in (add or {}).items():
            zout.writestr(name, body)
    return dst


def part(path: Path, name: str) -> bytes:
    with zipfile.ZipFile(path) as z:
        return z.read(name)


def with_one(tmp: Path, field: str, value: object, name: str = "q.xlsx") -> ParsedReturn:
    vals = good_values()
    vals[field] = value
    return read_return(fill(tmp, name, vals), name)


# ---------------------------------------------------------------- round trip

def test_round_trip_exact_values(tmp_path: Path) -> None:
    footer = {"head_of_unit": "王五", "head_of_stats": "赵六", "filled_by": "李四", "phone": "0571-87654321",
              "report_date": "2026年10月8日"}
    pr = read_return(fill(tmp_path, footer=footer), "r.xlsx")
    assert pr.findings == []
    assert (pr.template_id, pr.template_version, pr.sheet, pr.addressing, pr.file_format) == \
        ("JX-YB01", "2026.1", SHEET, "names", "xlsx")
    assert pr.header == {"facility_name": "市第一人民医院", "facility_code": "H0001", "period_text": "2026年09月",
                         "period": "2026-09"}
    assert pr.header_cells == {"facility_name": "B3", "facility_code": "E3", "period_text": "B4", "period": "B4"}
    assert pr.footer == footer
    assert pr.value_map() == {k: float(v) for k, v in good_values().items()}
    assert [(v.field, v.cell) for v in pr.values] == [(f.field, f.cell) for f in LV.fields]
    assert all(v.status == "ok" and v.sheet == SHEET for v in pr.values)
    assert pickle.loads(pickle.dumps(pr)) == pr
    assert pr.file_error is None


def test_fill_is_deterministic(tmp_path: Path) -> None:
    a, b = fill(tmp_path, "a.xlsx"), fill(tmp_path, "b.xlsx")
    assert a.read_bytes() == b.read_bytes()


def test_blank_cells_missing_vs_zero(tmp_path: Path) -> None:
    vals = good_values()
    vals["oe_visits"] = None          # blank: missing
    vals["herbal_revenue"] = None     # blank: zero
    vals["svc_bed"] = "  "            # whitespace only, blank: zero
    pr = read_return(fill(tmp_path, values=vals), "r.xlsx")
    by = {v.field: v for v in pr.values}
    assert (by["oe_visits"].status, by["oe_visits"].value) == ("blank", None)
    assert (by["herbal_revenue"].status, by["herbal_revenue"].value) == ("blank_zero", 0.0)
    assert (by["svc_bed"].status, by["svc_bed"].value) == ("blank_zero", 0.0)
    assert pr.findings == []


# ---------------------------------------------------------------- cell quirks

def test_chinese_numeral_in_count_cell(tmp_path: Path) -> None:
    pr = with_one(tmp_path, "oe_visits", "一千")
    assert locs(pr) == [(SHEET, "E6", "value-not-number")]
    f = pr.findings[0]
    assert (f.field, f.value, f.file) == ("oe_visits", "一千", "q.xlsx")
    assert "门急诊人次" in f.message_zh and "E6" in f.fix_zh
    v = pr.values[0]
    assert (v.value, v.raw_text, v.status) == (None, "一千", "error")


@pytest.mark.parametrize("raw, expected", [
    ("1,234", 1234.0), ("１２３４", 1234.0), (" 56 ", 56.0), ("\u00a078\u00a0", 78.0), ("1,234,567.5", 1234567.5),
    ("１，２３４", 1234.0), ("9 人次", 9.0), ("\u3000７\u3000", 7.0),
])
def test_numeric_text_in_count_cell_parses(tmp_path: Path, raw: str, expected: float) -> None:
    pr = with_one(tmp_path, "oe_visits", raw)
    assert pr.findings == []
    v = pr.values[0]
    assert (v.value, v.raw_text, v.status) == (expected, raw, "ok")


def test_amount_with_unit_suffix(tmp_path: Path) -> None:
    pr = with_one(tmp_path, "med_revenue", "123万元")
    assert pr.findings == [] and pr.value_map()["med_revenue"] == 123.0


@pytest.mark.parametrize("raw", ["12.5%", "1,2,3", "123元", "N/A", "-", "约100", "1.2.3"])
def test_not_numbers_in_amount_cell(tmp_path: Path, raw: str) -> None:
    pr = with_one(tmp_path, "med_revenue", raw)
    assert locs(pr) == [(SHEET, "E12", "value-not-number")]
    assert pr.findings[0].value == raw


def test_percent_field_accepts_percent_text_and_fraction(tmp_path: Path) -> None:
    fields = dict(fields_by_code())
    fields["svc_bed"] = dataclasses.replace(fields["svc_bed"], kind="ratio", unit="%")
    for raw, expected in (("12.5%", 12.5), (0.125, 12.5), ("12.5", 12.5), ("１２.５％", 12.5), (12.5, 12.5)):
        vals = good_values()
        vals["svc_bed"] = raw
        pr = read_return(fill(tmp_path, "p.xlsx", vals), "p.xlsx", fields=fields)
        assert pr.findings == [], raw
        assert pr.value_map()["svc_bed"] == pytest.approx(expected), raw


def test_parse_number_unit() -> None:
    fd = fields_by_code()["med_revenue"]
    assert parse_number(1.5, fd) == (1.5, None, "ok")
    assert parse_number("1,234.50", fd) == (1234.5, "1,234.50", "ok")
    assert parse_number(float("nan"), fd)[2] == "error"
    assert parse_number(True, fd) == (None, "TRUE", "error")
    assert parse_number(dt.date(2026, 9, 1), fd) == (None, "2026-09-01", "error")


def test_boolean_and_date_in_number_cells(tmp_path: Path) -> None:
    vals = good_values()
    vals["open_beds"] = True
    vals["health_tech_staff"] = dt.date(2026, 9, 30)
    pr = read_return(fill(tmp_path, values=vals), "r.xlsx")
    assert locs(pr) == [(SHEET, "E10", "value-not-number"), (SHEET, "E11", "value-not-number")]
    assert [f.value for f in pr.findings] == ["TRUE", "2026-09-30"]


def test_formula_with_cached_value_reads_cache(tmp_path: Path) -> None:
    pr = read_return(fill(tmp_path, formulas={"svc_bed": ("=E20+E21", 77.25)}), "r.xlsx")
    assert b"<f>E20+E21</f><v>77.25</v>" in part(tmp_path / "r.xlsx", SHEET_PART)
    assert pr.findings == [] and pr.value_map()["svc_bed"] == 77.25


def test_formula_without_cached_value(tmp_path: Path) -> None:
    pr = read_return(fill(tmp_path, formulas={"svc_bed": ("=E20+E21", None)}), "r.xlsx")
    assert locs(pr) == [(SHEET, "E22", "formula-no-cached-value")]
    assert pr.value_map()["svc_bed"] is None and pr.values[16].status == "error"


def test_formula_error_value(tmp_path: Path) -> None:
    pr = read_return(fill(tmp_path, formulas={"svc_surgery": ("=E20/0", "#DIV/0!")}), "r.xlsx")
    assert locs(pr) == [(SHEET, "E25", "formula-error-value")]
    assert pr.findings[0].value == "#DIV/0!" and "#DIV/0!" in pr.findings[0].message_zh


def test_one_finding_per_bad_cell(tmp_path: Path) -> None:
    vals = good_values()
    vals.update({"oe_visits": "一千", "discharges": "两百", "med_revenue": "n/a"})
    pr = read_return(fill(tmp_path, values=vals, formulas={"svc_bed": ("=1/0", "#DIV/0!"),
                                                           "svc_nursing": ("=E1", None)}), "r.xlsx")
    assert locs(pr) == [(SHEET, "E6", "value-not-number"), (SHEET, "E7", "value-not-number"),
                        (SHEET, "E12", "value-not-number"), (SHEET, "E22", "formula-error-value"),
                        (SHEET, "E27", "formula-no-cached-value")]


# ---------------------------------------------------------------- header

@pytest.mark.parametrize("text", ["2026年09月", "2026年9月", "2026-09", "2026/9", "202609", "2026.9", " 2026 年 9 月 ",
                                  "２０２６年９月", "2026-09-01"])
def test_period_variants(tmp_path: Path, text: str) -> None:
    pr = read_return(fill(tmp_path, period=text), "r.xlsx")
    assert pr.header["period"] == "2026-09" and pr.findings == []


def test_period_as_excel_date(tmp_path: Path) -> None:
    src = fill(tmp_path)
    wb = openpyxl.load_workbook(src)
    wb[SHEET]["B4"] = dt.date(2026, 9, 1)
    wb.save(tmp_path / "d.xlsx")
    pr = read_return(tmp_path / "d.xlsx", "d.xlsx")
    assert pr.header["period"] == "2026-09" and pr.findings == []


def test_period_unparseable_missing_and_code_missing(tmp_path: Path) -> None:
    pr = read_return(fill(tmp_path, period="九月份"), "r.xlsx")
    assert locs(pr) == [(SHEET, "B4", "period-unparseable")] and pr.findings[0].value == "九月份"
    pr = read_return(fill(tmp_path, period="2026年13月"), "r.xlsx")
    assert locs(pr) == [(SHEET, "B4", "period-unparseable")]
    pr = read_return(fill(tmp_path, period=None, code=None), "r.xlsx")
    assert locs(pr) == [(SHEET, "E3", "facility-code-missing"), (SHEET, "B4", "period-missing")]
    assert pr.header["period"] is None and pr.header["facility_code"] is None
    assert len(pr.values) == len(LV.fields)


def test_parse_period_text_unit() -> None:
    assert parse_period_text(202609.0) == "2026-09"
    assert parse_period_text(dt.datetime(2026, 9, 15, 8, 0)) == "2026-09"
    assert parse_period_text("2026年09月份") == "2026-09"
    assert parse_period_text("26年9月") is None and parse_period_text(True) is None


def test_template_version_not_accepted_for_period(tmp_path: Path) -> None:
    pr = read_return(fill(tmp_path, period="2023年12月"), "r.xlsx")
    assert locs(pr) == [(SHEET, "B4", "template-version-not-accepted")]
    assert pr.file_error is not None and pr.findings[0].value == "2026.1"


# ---------------------------------------------------------------- addressing and identification

def _drop_defined_names(src: Path, dst: Path) -> Path:
    wb = part(src, "xl/workbook.xml").decode()
    wb2 = re.sub(r"<definedNames>.*</definedNames>", "", wb, flags=re.S)
    assert wb2 != wb
    return rezip(src, dst, {"xl/workbook.xml": wb2.encode()})


def test_names_removed_falls_back_to_layout_cells(tmp_path: Path) -> None:
    src = fill(tmp_path)
    pr = read_return(_drop_defined_names(src, tmp_path / "n.xlsx"), "n.xlsx")
    assert pr.addressing == "layout" and pr.findings == []
    assert pr.value_map() == read_return(src, "r.xlsx").value_map()


def test_defined_names_take_precedence(tmp_path: Path) -> None:
    src = fill(tmp_path)
    wb = part(src, "xl/workbook.xml").decode()
    wb = wb.replace("'运营与药品'!$E$6<", "'运营与药品'!$TMP$1<").replace("'运营与药品'!$E$7<", "'运营与药品'!$E$6<")
    wb = wb.replace("'运营与药品'!$TMP$1<", "'运营与药品'!$E$7<")
    pr = read_return(rezip(src, tmp_path / "s.xlsx", {"xl/workbook.xml": wb.encode()}), "s.xlsx")
    vals = good_values()
    assert pr.addressing == "names"
    assert pr.value_map()["oe_visits"] == vals["discharges"] and pr.value_map()["discharges"] == vals["oe_visits"]
    assert pr.values[0].cell == "E7"


def test_names_on_other_sheet_are_ignored(tmp_path: Path) -> None:
    src = fill(tmp_path)
    wb = part(src, "xl/workbook.xml").decode().replace("'运营与药品'!$E$6<", "'模板信息'!$B$1<")
    pr = read_return(rezip(src, tmp_path / "o.xlsx", {"xl/workbook.xml": wb.encode()}), "o.xlsx")
    assert pr.addressing == "mixed" and pr.values[0].cell == "E6" and pr.findings == []


def test_identified_by_meta_sheet_without_custom_props(tmp_path: Path) -> None:
    src = _drop_defined_names(fill(tmp_path), tmp_path / "n.xlsx")
    rels = re.sub(rb"<Relationship [^>]*custom-properties[^>]*/>", b"", part(src, "_rels/.rels"))
    ct = re.sub(rb'<Override PartName="/docProps/custom.xml"[^>]*/>', b"", part(src, "[Content_Types].xml"))
    dst = rezip(src, tmp_path / "m.xlsx", {"docProps/custom.xml": None, "_rels/.rels": rels,
                                           "[Content_Types].xml": ct})
    pr = read_return(dst, "m.xlsx")
    assert (pr.template_id, pr.template_version, pr.addressing) == ("JX-YB01", "2026.1", "layout")
    assert pr.findings == [] and pr.value_map()["oe_visits"] == good_values()["oe_visits"]


def test_openpyxl_resave_still_reads(tmp_path: Path) -> None:
    src = fill(tmp_path)
    wb = openpyxl.load_workbook(src)
    wb.save(tmp_path / "re.xlsx")
    pr = read_return(tmp_path / "re.xlsx", "re.xlsx")
    assert pr.findings == [] and pr.value_map() == read_return(src, "r.xlsx").value_map()


def _ods(tables: dict[str, list[list[object]]]) -> bytes:
    """A minimal OpenDocument spreadsheet (as LibreOffice/WPS export) holding the given cell grids."""
    from xml.sax.saxutils import escape

    def cell(v: object) -> str:
        if v is None:
            return "<table:table-cell/>"
        if isinstance(v, (int, float)):
            return (f'<table:table-cell office:value-type="float" office:value="{v}"><text:p>{v}</text:p>'
                    "</table:table-cell>")
        return f'<table:table-cell office:value-type="string"><text:p>{escape(str(v))}</text:p></table:table-cell>'

    body = "".join(
        f'<table:table table:name="{name}">' + "".join(
            "<table:table-row>" + "".join(cell(v) for v in row) + "</table:table-row>" for row in rows)
        + "</table:table>" for name, rows in tables.items())
    content = ('<?xml version="1.0" encoding="UTF-8"?><office:document-content '
               'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
               'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
               'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
               f"<office:body><office:spreadsheet>{body}</office:spreadsheet></office:body>"
               "</office:document-content>")
    manifest = ('<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
                'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
                '<manifest:file-entry manifest:full-path="/" '
                'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
                '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
                "</manifest:manifest>")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet")
        z.writestr("content.xml", content, zipfile.ZIP_DEFLATED)
        z.writestr("META-INF/manifest.xml", manifest, zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def test_ods_resave_uses_meta_sheet_and_layout_cells(tmp_path: Path) -> None:
    grid: list[list[object]] = [[None] * 5 for _ in range(40)]
    grid[2][1], grid[2][4], grid[3][1] = "市第一人民医院", "H0001", "2026年9月"
    vals = good_values()
    for f in LV.fields:
        r = int(f.cell[1:]) - 1
        grid[r][4] = vals[f.field]
    grid[5][4] = "1,234"
    p = tmp_path / "r.ods"
    p.write_bytes(_ods({SHEET: grid, "模板信息": [["模板编号", "JX-YB01"], ["模板版本", "2026.1"]]}))
    pr = read_return(p, "r.ods")
    assert (pr.file_format, pr.template_id, pr.addressing) == ("ods", "JX-YB01", "layout")
    assert pr.findings == [] and pr.header["period"] == "2026-09"
    assert pr.value_map()["oe_visits"] == 1234.0 and pr.value_map()["svc_bed"] == vals["svc_bed"]


def test_unknown_template_plain_workbook(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    wb.active["A1"] = "门急诊人次"
    wb.active["B1"] = 100
    wb.save(tmp_path / "plain.xlsx")
    pr = read_return(tmp_path / "plain.xlsx", "plain.xlsx")
    assert [f.code for f in pr.findings] == ["unknown-template"] and pr.values == []
    assert "最新模板" in pr.findings[0].fix_zh


def test_sheet_renamed_is_sheet_missing(tmp_path: Path) -> None:
    src = fill(tmp_path)
    wb = part(src, "xl/workbook.xml").decode().replace('<sheet name="运营与药品"', '<sheet name="Sheet1"')
    pr = read_return(rezip(src, tmp_path / "x.xlsx", {"xl/workbook.xml": wb.encode()}), "x.xlsx")
    assert locs(pr) == [(SHEET, None, "sheet-missing")]


def test_unknown_version(tmp_path: Path) -> None:
    src = fill(tmp_path)
    custom = part(src, "docProps/custom.xml").replace(b">2026.1<", b">2019.3<")
    pr = read_return(rezip(src, tmp_path / "v.xlsx", {"docProps/custom.xml": custom}), "v.xlsx")
    assert [f.code for f in pr.findings] == ["unknown-template"] and "2019.3" in pr.findings[0].message_zh


# ---------------------------------------------------------------- hostile and broken files

def test_zip_bomb_rejected_fast(tmp_path: Path) -> None:
    src = fill(tmp_path)
    sheet = part(src, SHEET_PART)
    row = b'<row r="50"><c r="A50"><v>1</v></c><c r="B50"><v>2</v></c><c r="C50"><v>3</v></c></row>'
    filler = row * (60 * 2 ** 20 // len(row))
    bomb = sheet.replace(b"</sheetData>", filler + b"</sheetData>")
    dst = rezip(src, tmp_path / "bomb.xlsx", {SHEET_PART: bomb}, level=9)
    assert dst.stat().st_size < 2 * 2 ** 20
    t = time.perf_counter()
    pr = read_return(dst, "bomb.xlsx")
    assert time.perf_counter() - t < 1.0
    assert [f.code for f in pr.findings] == ["unsafe-archive"] and pr.values == []


XXE = (b'<?xml version="1.0"?><!DOCTYPE worksheet [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>'
       b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
       b'<row r="6"><c r="E6" t="inlineStr"><is><t>&xxe;</t></is></c></row></sheetData></worksheet>')
LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
          + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
                     for i in range(1, 10))
          + b']><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
            b'<row r="6"><c r="E6" t="inlineStr"><is><t>&lol9;</t></is></c></row></sheetData></worksheet>')
DTD_ONLY = (b'<?xml version="1.0"?><!DOCTYPE worksheet [<!ENTITY x "1">]>'
            b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
            b'<row r="6"><c r="E6"><v>5</v></c></row></sheetData></worksheet>')


@pytest.mark.parametrize("payload", [XXE, LAUGHS, DTD_ONLY], ids=["xxe", "billion-laughs", "dtd-only"])
def test_entity_attacks_in_sheet(tmp_path: Path, payload: bytes) -> None:
    dst = rezip(fill(tmp_path), tmp_path / "x.xlsx", {SHEET_PART: payload})
    t = time.perf_counter()
    pr = read_return(dst, "x.xlsx")
    assert time.perf_counter() - t < 2.0
    assert [f.code for f in pr.findings] == ["unsafe-xml"] and pr.values == []


def test_entity_attack_in_workbook_xml(tmp_path: Path) -> None:
    src = fill(tmp_path)
    wb = part(src, "xl/workbook.xml").replace(
        b"<workbook ", b'<!DOCTYPE workbook [<!ENTITY a "b">]><workbook ', 1)
    pr = read_return(rezip(src, tmp_path / "w.xlsx", {"xl/workbook.xml": wb}), "w.xlsx")
    assert [f.code for f in pr.findings] == ["unsafe-xml"]


PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8"
                    "ffff3f0005fe02fea7d6a4b30000000049454e44ae426082")


def test_png_named_xlsx_is_unknown_format(tmp_path: Path) -> None:
    p = tmp_path / "月报.xlsx"
    p.write_bytes(PNG)
    pr = read_return(p, "月报.xlsx")
    assert [f.code for f in pr.findings] == ["unknown-format"] and "PNG" in pr.findings[0].message_zh


@pytest.mark.parametrize("entry", ["../../evil.sh", "/etc/cron.d/x", "xl/../../up.xml", "C:/windows/x.dll"])
def test_path_traversal_entry_is_unsafe_archive(tmp_path: Path, entry: str) -> None:
    dst = rezip(fill(tmp_path), tmp_path / "t.xlsx", add={entry: b"x"})
    pr = read_return(dst, "t.xlsx")
    assert [f.code for f in pr.findings] == ["unsafe-archive"]


def test_too_many_entries_and_declared_size(tmp_path: Path) -> None:
    dst = rezip(fill(tmp_path), tmp_path / "many.xlsx", add={f"junk/{i}.xml": b"" for i in range(1001)})
    assert [f.code for f in read_return(dst, "many.xlsx").findings] == ["unsafe-archive"]


def test_encrypted_ole_and_legacy_ole(tmp_path: Path) -> None:
    header = bytes.fromhex("d0cf11e0a1b11ae1") + b"\x00" * 504
    entry = "EncryptionInfo".encode("utf-16-le").ljust(64, b"\x00") + b"\x1e\x00\x02" + b"\x00" * 61
    enc = tmp_path / "enc.xlsx"
    enc.write_bytes(header + b"\x00" * 128 + entry + b"\x00" * 256)
    assert [f.code for f in read_return(enc, "enc.xlsx").findings] == ["encrypted-workbook"]
    legacy = tmp_path / "old.xls"
    legacy.write_bytes(header + b"\x00" * 512)
    assert precheck(legacy, "old.xls") is None
    assert [f.code for f in read_return(legacy, "old.xls").findings] == ["unreadable-workbook"]


def test_size_cap_and_truncated_and_empty_files(tmp_path: Path) -> None:
    src = fill(tmp_path)
    pr = read_return(src, "r.xlsx", limits=Limits(max_file_bytes=1000))
    assert [f.code for f in pr.findings] == ["file-too-large"]
    cut = tmp_path / "cut.xlsx"
    cut.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    assert [f.code for f in read_return(cut, "cut.xlsx").findings] == ["unreadable-workbook"]
    empty = tmp_path / "empty.xlsx"
    empty.write_bytes(b"")
    assert [f.code for f in read_return(empty, "empty.xlsx").findings] == ["unknown-format"]
    assert [f.code for f in read_return(tmp_path, "dir").findings] == ["unknown-format"]
    assert [f.code for f in read_return(tmp_path / "nope.xlsx", "nope.xlsx").findings] == ["unreadable-workbook"]


def test_word_document_is_unknown_format(tmp_path: Path) -> None:
    src = fill(tmp_path)
    rels = part(src, "_rels/.rels").replace(b"xl/workbook.xml", b"word/document.xml")
    doc = b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"/>'
    dst = rezip(src, tmp_path / "d.xlsx", {"_rels/.rels": rels}, add={"word/document.xml": doc})
    assert [f.code for f in read_return(dst, "d.xlsx").findings] == ["unknown-format"]


def _extra_rows(src: Path, dst: Path, extra: bytes) -> Path:
    sheet = part(src, SHEET_PART).replace(b"</sheetData>", extra + b"</sheetData>")
    return rezip(src, dst, {SHEET_PART: sheet})


def test_far_away_cell_is_bounded_not_allocated(tmp_path: Path) -> None:
    # calamine would allocate the whole A1:XFD1048576 rectangle (512 GB) and abort the process
    dst = _extra_rows(fill(tmp_path), tmp_path / "far.xlsx",
                      b'<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>')
    pr = read_return(dst, "far.xlsx")
    assert locs(pr) == [(SHEET, None, "too-many-rows")] and pr.findings[0].value == "1048576"
    dst = _extra_rows(fill(tmp_path), tmp_path / "wide.xlsx", b'<row r="40"><c r="XFD40"><v>1</v></c></row>')
    assert locs(read_return(dst, "wide.xlsx")) == [(SHEET, None, "too-many-columns")]


def test_row_cap(tmp_path: Path) -> None:
    pr = read_return(fill(tmp_path), "r.xlsx", max_rows=40)
    assert locs(pr) == [(SHEET, None, "too-many-rows")] and pr.findings[0].expected == "40"


# ---------------------------------------------------------------- sandbox

def _slow_file(tmp: Path) -> Path:
    """A legal-looking template with ~9.5 MB of extra rows (passes the zip checks, takes a while to parse)."""
    rows = b"".join(b'<row r="%d"><c r="A%d"><v>%d</v></c><c r="B%d" t="inlineStr"><is><t>x%d</t></is></c></row>'
                    % (r, r, r, r, (r * 7919) % 100003) for r in range(100, 100 + 95000))
    dst = _extra_rows(fill(tmp, "slow_src.xlsx"), tmp / "slow.xlsx", rows)
    with zipfile.ZipFile(dst) as z:
        info = z.getinfo(SHEET_PART)
        assert info.file_size < 10 * 2 ** 20 and precheck(dst, "slow.xlsx") is None
    return dst


def test_parse_many_matches_read_return_in_order(tmp_path: Path) -> None:
    items = []
    for i in range(12):
        vals = good_values()
        vals["oe_visits"] = 5000 + i
        if i == 5:
            vals["discharges"] = "一千"
        p = tmp_path / f"r{i:02d}.xlsx"
        fill_return(TEMPLATE, p, facility_name=f"医院{i}", facility_code=f"H{i:04d}", period_text="2026年09月",
                    values=vals)
        items.append((p, f"r{i:02d}.xlsx"))
    png = tmp_path / "img.xlsx"
    png.write_bytes(PNG)
    items.insert(3, (png, "img.xlsx"))
    ticks: list[int] = []
    out = sandbox.parse_many(items, workers=2, progress=ticks.append)
    assert sum(ticks) == len(items) and len(out) == len(items)
    assert [r.original_name for r in out] == [n for _, n in items]
    for (p, n), r in zip(items, out):
        assert sandbox.to_wire(r) == sandbox.to_wire(read_return(p, n))
    assert [f.code for f in out[3].findings] == ["unknown-format"]
    assert out[0].value_map()["oe_visits"] == 5000 and out[12].value_map()["oe_visits"] == 5011
    assert locs(out[6]) == [(SHEET, "E7", "value-not-number")]
    assert all(w.heavy == [] for w in sandbox._POOL), "workers must not import pandas/GX/Prefect/openpyxl"


def test_parse_many_timeout_kills_and_replaces_worker(tmp_path: Path) -> None:
    slow = _slow_file(tmp_path)
    good = [fill(tmp_path, f"g{i}.xlsx") for i in range(4)]
    sandbox.parse_many([(good[0], "warm.xlsx")], workers=1, timeout_s=5)  # workers started and ready
    pid_before = {w.proc.pid for w in sandbox._POOL}
    items = [(good[0], "g0.xlsx"), (slow, "slow.xlsx"), (good[1], "g1.xlsx"), (good[2], "g2.xlsx"),
             (good[3], "g3.xlsx")]
    out = sandbox.parse_many(items, workers=1, timeout_s=0.05)
    assert [f.code for f in out[1].findings] == ["parse-timeout"] and out[1].findings[0].expected == "0.05"
    assert "0.05" in out[1].findings[0].message_zh
    for i in (0, 2, 3, 4):
        assert out[i].findings == [] and len(out[i].values) == len(LV.fields), i
    pid_after = {w.proc.pid for w in sandbox._POOL}
    killed = pid_before - pid_after
    assert killed, "the worker that timed out must have been replaced"
    for pid in killed:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
    # with a sane timeout the same file parses (too many rows: bounded, not a crash)
    out = sandbox.parse_many([(slow, "slow.xlsx")], workers=1, timeout_s=30)
    assert [f.code for f in out[0].findings] == ["too-many-rows"]


def test_parse_many_worker_crash_is_contained(tmp_path: Path) -> None:
    # an .ods repeating one cell 10,000 columns × 9,000 rows (90 M cells, under calamine's own 100 M cap):
    # calamine allocates them all, the worker hits its RLIMIT_AS and aborts — the parent survives, the file
    # gets parse-memory-exceeded, a fresh worker parses the next file
    grid = ('<table:table table:name="运营与药品"><table:table-row table:number-rows-repeated="9000">'
            '<table:table-cell table:number-columns-repeated="10000" office:value-type="float" office:value="1">'
            "<text:p>1</text:p></table:table-cell></table:table-row></table:table>")
    data = _ods({"模板信息": [["模板编号", "JX-YB01"], ["模板版本", "2026.1"]]})
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        content = z.read("content.xml").decode().replace("<office:spreadsheet>", "<office:spreadsheet>" + grid)
    ods = tmp_path / "bomb.ods"
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(ods, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info, content if info.filename == "content.xml" else zin.read(info.filename))
    good = fill(tmp_path)
    t = time.perf_counter()
    out = sandbox.parse_many([(ods, "bomb.ods"), (good, "r.xlsx")], workers=1, timeout_s=20, memory_mb=512)
    assert time.perf_counter() - t < 25
    assert [f.code for f in out[0].findings] == ["parse-memory-exceeded"]
    assert out[1].findings == [] and len(out[1].values) == len(LV.fields)


def test_parse_many_empty_and_missing() -> None:
    assert sandbox.parse_many([]) == []
    out = sandbox.parse_many([(Path("/nonexistent/x.xlsx"), "x.xlsx")])
    assert [f.code for f in out[0].findings] == ["unreadable-workbook"]


def test_throughput_many_returns(tmp_path: Path) -> None:
    n = int(os.environ.get("JIXIAO_BENCH_FILES", "300"))
    items = []
    for i in range(n):
        p = tmp_path / f"t{i:04d}.xlsx"
        fill_return(TEMPLATE, p, facility_name=f"医院{i}", facility_code=f"H{i:04d}", period_text="2026年09月",
                    values=good_values())
        items.append((p, p.name))
    sandbox.parse_many(items[:2], workers=2)
    t = time.perf_counter()
    out = sandbox.parse_many(items, workers=2)
    el = time.perf_counter() - t
    print(f"parse_many: {n} returns in {el:.2f}s ({n / el:.0f}/s)")
    assert all(r.findings == [] for r in out)
    assert el < max(3.0, n * 0.01)
