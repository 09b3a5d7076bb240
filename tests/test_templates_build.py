"""The built input templates: deterministic, protected, named, validated, self-identifying, formula-free."""
from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import openpyxl
import pytest

from metrics.catalog import CatalogError, fields_by_code
from templates_xlsx.build import TEMPLATES_DIR, build_templates
from templates_xlsx.layout import load_layout, load_layouts, split_cell

LAYOUT = load_layouts()["JX-YB01"]
LV = LAYOUT.version("2026.1")


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    paths = build_templates(tmp_path_factory.mktemp("tpl"))
    # JX-YB01 first; the table templates JX-YB02/03 are tested in tests/test_templates_tables.py
    assert [p.name for p in paths] == ["月报_运营与药品_v2026.1.xlsx", "月报_抗菌药物消耗_v2026.1.xlsx",
                                       "月报_处方点评_v2026.1.xlsx", "月报_满意度调查_v2026.1.xlsx",
                                       "月报_满意度平台数据_v2026.1.xlsx", "月报_基层医疗卫生机构_v2026.1.xlsx",
                                       "月报_县域医疗服务与医保_v2026.1.xlsx"]
    return paths[0]


def test_build_is_byte_identical(built: Path, tmp_path: Path) -> None:
    again = build_templates(tmp_path)[0]
    assert _sha(again) == _sha(built)


def _entries(p: Path) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(p) as z:
        return [(i.filename, z.read(i.filename)) for i in z.infolist()]


def test_committed_template_is_current(built: Path) -> None:
    # compare uncompressed entries, not bytes: another zlib build may compress differently
    committed = TEMPLATES_DIR / built.name
    assert committed.exists(), "run: .venv/bin/python -m templates_xlsx.build"
    assert _entries(committed) == _entries(built), \
        "模板已过期：请运行 .venv/bin/python -m templates_xlsx.build 并提交"


def test_defined_names_point_at_layout_cells(built: Path) -> None:
    wb = openpyxl.load_workbook(built)
    inputs = LV.inputs()
    assert set(inputs) <= set(wb.defined_names)
    for name, cell in inputs.items():
        dests = list(wb.defined_names[name].destinations)
        row, col = split_cell(cell)
        assert dests == [(LV.sheet, f"${openpyxl.utils.get_column_letter(col)}${row}")], name


def test_protection_inputs_unlocked_others_locked(built: Path) -> None:
    wb = openpyxl.load_workbook(built)
    ws = wb[LV.sheet]
    assert ws.protection.sheet is True and ws.protection.password
    inputs = set(LV.inputs().values())
    for cell in inputs:
        assert ws[cell].protection.locked is False, cell
        assert ws[cell].fill.fgColor.rgb == "FFFFF2CC", cell
    for row in ws.iter_rows(min_row=1, max_row=ws.max_row, max_col=ws.max_column):
        for c in row:
            if c.coordinate in inputs or type(c).__name__ == "MergedCell":
                continue
            assert c.protection.locked is not False, c.coordinate
    meta = wb[LV.meta_sheet]
    assert meta.sheet_state == "hidden" and meta.protection.sheet is True


def test_no_formulas_anywhere(built: Path) -> None:
    wb = openpyxl.load_workbook(built)
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                assert c.data_type != "f" and not (isinstance(c.value, str) and c.value.startswith("=")), \
                    (ws.title, c.coordinate)
    with zipfile.ZipFile(built) as z:
        for n in z.namelist():
            if n.startswith("xl/worksheets/"):
                assert b"<f>" not in z.read(n) and b"<f " not in z.read(n)


def test_template_identity_in_custom_props_and_meta_sheet(built: Path) -> None:
    wb = openpyxl.load_workbook(built)
    props = {p.name: p.value for p in wb.custom_doc_props}
    assert props == {"jixiao_template_id": "JX-YB01", "jixiao_template_version": "2026.1"}
    meta = wb[LV.meta_sheet]
    assert [meta["A1"].value, meta["B1"].value, meta["A2"].value, meta["B2"].value] == \
        ["模板编号", "JX-YB01", "模板版本", "2026.1"]
    assert wb.sheetnames[0] == LV.sheet


def test_form_content(built: Path) -> None:
    ws = openpyxl.load_workbook(built)[LV.sheet]
    assert ws["A1"].value == LAYOUT.title_zh and "A1:E1" in {str(r) for r in ws.merged_cells.ranges}
    assert LAYOUT.form_no in ws["A2"].value and LAYOUT.authority_zh in ws["C2"].value
    thr = LV.table_header_row
    assert [ws.cell(thr, c).value for c in range(1, 6)] == ["序号", "指标名称", "代码", "计量单位", "本月数"]
    fdefs = fields_by_code()
    for n, f in enumerate(LV.fields, start=1):
        row, _ = split_cell(f.cell)
        fd = fdefs[f.field]
        assert [ws.cell(row, c).value for c in range(1, 5)] == [n, fd.label_zh, fd.code, fd.unit]
        assert ws[f.cell].value is None
    for spec in list(LV.header.values()) + list(LV.footer.values()):
        row, col = split_cell(spec.cell)
        assert ws.cell(row, col - 1).value == f"{spec.label_zh}："
    assert str(ws.page_setup.paperSize) == "9" and ws.print_area


def test_data_validations_cover_every_input(built: Path) -> None:
    ws = openpyxl.load_workbook(built)[LV.sheet]
    by_cell = {}
    for dv in ws.data_validations.dataValidation:
        for rng in dv.sqref.ranges:
            by_cell[rng.coord] = dv
    fdefs = fields_by_code()
    for f in LV.fields:
        dv = by_cell[f.cell]
        kind = fdefs[f.field].kind
        assert dv.type == {"count": "whole", "amount": "decimal", "ratio": "decimal"}[kind], f.field
        assert dv.formula1 == "0" and dv.showErrorMessage and dv.showInputMessage
        assert "不小于 0" in dv.error and fdefs[f.field].unit in dv.prompt
    dv = by_cell[LV.header["period"].cell]
    assert dv.type == "textLength" and "YYYY年MM月" in dv.prompt
    assert by_cell[LV.header["facility_code"].cell].type == "textLength"
    assert ws[LV.header["period"].cell].number_format == "@"


def test_authority_override(tmp_path: Path) -> None:
    p = build_templates(tmp_path, authority_zh="某某市卫生健康委员会")[0]
    assert "某某市卫生健康委员会" in openpyxl.load_workbook(p)[LV.sheet]["C2"].value


def test_layout_accepts_and_latest_version() -> None:
    assert LAYOUT.accepts("2026.1", "2026-09") and not LAYOUT.accepts("2026.1", "2023-12")
    assert not LAYOUT.accepts("2099.9", "2026-09")
    assert LAYOUT.latest_version_for("2026-09").version == "2026.1"
    assert LAYOUT.latest_version_for("2023-12") is None
    assert LV.fields[0] == ("oe_visits", "E6", "F_OE_VISITS")


def test_layout_loader_is_strict(tmp_path: Path) -> None:
    src = (TEMPLATES_DIR / "layouts" / "op_monthly.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(src.replace("    table_header_row: 5", "    table_header_row: 5\n    colour: red"), encoding="utf-8")
    with pytest.raises(CatalogError, match="colour"):
        load_layout(bad)
    bad.write_text(src.replace("field: oe_visits,", "field: no_such_field,"), encoding="utf-8")
    with pytest.raises(CatalogError, match="no_such_field"):
        load_layout(bad)
    bad.write_text(src.replace("cell: E7,", "cell: E6,"), encoding="utf-8")
    with pytest.raises(CatalogError, match="share a cell"):
        load_layout(bad)
