"""The table templates JX-YB02 (抗菌药物消耗月报) and JX-YB03 (处方点评表): layout schema, build, protection, names."""
from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import openpyxl
import pytest
from openpyxl.utils import get_column_letter

from metrics.catalog import CatalogError
from templates_xlsx.build import TEMPLATES_DIR, build_templates
from templates_xlsx.layout import DEFAULT_FIELD_CATALOG, load_layout, load_layouts, split_cell

LAYOUTS = load_layouts()
YB02, YB03 = LAYOUTS["JX-YB02"], LAYOUTS["JX-YB03"]
LV02, LV03 = YB02.version("2026.1"), YB03.version("2026.1")
NAMES = {"JX-YB02": "月报_抗菌药物消耗_v2026.1.xlsx", "JX-YB03": "月报_处方点评_v2026.1.xlsx"}
REVIEW_HEADERS = ["序号", "处方日期", "年龄（岁）", "诊断", "药品品种", "抗菌药（0/1）", "注射剂（0/1）", "基本药物品种数",
                  "药品通用名数", "处方金额（元）", "处方医师", "审核调配药师", "核对发药药师", "是否合理（0/1）", "存在问题（代码）"]
CONSUMPTION_HEADERS = ["序号", "通用名", "ATC编码（选填）", "剂型/给药途径", "规格", "包装单位", "住院用量", "门急诊用量"]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    paths = build_templates(tmp_path_factory.mktemp("tpl"))
    return {p.name: p for p in paths}


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _entries(p: Path) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(p) as z:
        return [(i.filename, z.read(i.filename)) for i in z.infolist()]


# ---------------------------------------------------------------- layout schema

def test_layouts_declare_tables_catalogs_and_applicability() -> None:
    # form-number order (卫健绩效01表 …): JX-YB01 stays the default (first) template
    assert list(LAYOUTS) == ["JX-YB01", "JX-YB02", "JX-YB03", "JX-MY01", "JX-MY02", "JX-JC01", "JX-XY01"]
    assert LAYOUTS["JX-YB01"].field_catalog == DEFAULT_FIELD_CATALOG and LAYOUTS["JX-YB01"].latest().tables == ()
    assert (YB02.field_catalog, YB03.field_catalog) == ("fields_antibiotic.yaml", "fields_rx_review.yaml")
    assert YB02.applies_to == {"tiers": ("三级", "二级")} == YB03.applies_to
    assert [t.name for t in LV02.tables] == ["consumption", "catalogue"] and [t.name for t in LV03.tables] == ["review"]
    review = LV03.table("review")
    assert [c.label_zh for c in review.columns] == REVIEW_HEADERS
    assert [c.letter for c in review.columns] == [get_column_letter(i) for i in range(1, 16)]
    assert (review.header_row, review.first_data_row, review.max_rows, review.data_ref()) == (3, 4, 2000, "A4:O2003")
    assert [c.label_zh for c in LV02.table("consumption").columns] == CONSUMPTION_HEADERS
    assert LV02.table("consumption").max_rows == 500 and LV02.table("catalogue").max_rows == 200
    assert LV03.choices["sampling_method"].options == ("随机", "定向")


def test_privacy_marks_for_the_loader() -> None:
    review = LV03.table("review")
    assert review.pii_fields("pseudonymise") == ("prescriber", "pharmacist_review", "pharmacist_dispense")
    assert review.pii_fields("warehouse_only") == ("diagnosis",)
    assert all(c.pii is None for t in LV02.tables for c in t.columns)


def test_antibiotic_catalog_parts_of() -> None:
    defs = YB02.field_defs()
    assert [f.field for f in LV02.fields] == list(defs)
    assert all(d.aggregation == "sum" and d.kind == "count" for d in defs.values())
    assert {d.code: d.parts_of for d in defs.values() if d.parts_of} == {
        "abx_op_rx_with_abx": "abx_op_rx_total", "abx_em_rx_with_abx": "abx_em_rx_total",
        "abx_discharges_with_abx": "abx_discharges", "abx_clean_ops_prophylaxis": "abx_clean_ops"}
    assert list(YB03.field_defs()) == ["rxr_op_rx_total"]


def _bad(tmp: Path, src: str, old: str, new: str) -> Path:
    assert old in src, old
    p = tmp / "bad.yaml"
    p.write_text(src.replace(old, new, 1), encoding="utf-8")
    return p


@pytest.mark.parametrize("old, new, match", [
    ("        max_rows: 2000\n", "        max_rows: 2000\n        colour: red\n", "colour"),
    ("kind: flag, required: true, width: 8}", "kind: boolean, required: true, width: 8}", "kind"),
    ("          O: {field: problem_codes", "          Q: {field: problem_codes", "contiguous"),
    ("kind: amount, required: true, unit: 元", "kind: amount, required: true, pii: pseudonymise, unit: 元", "pii"),
    ("range_name: T_RX_REVIEW", "range_name: JX_PERIOD", "duplicate defined name"),
    ("        sheet: 处方评价表", "        sheet: 点评概况", "sheet of its own"),
    ("        max_rows: 2000", "        max_rows: 0", "max_rows"),
    ("field_catalog: fields_rx_review.yaml", "field_catalog: ../../etc/passwd", "field_catalog"),
    ("field: rxr_op_rx_total,", "field: op_rx_total,", "fields_rx_review.yaml"),
    ("options: [随机, 定向]", "options: [随机, 随机]", "options"),
    ("        total_columns: [A, B, C, D]", "        total_columns: [A, Z]", "total_columns"),
])
def test_table_schema_is_strict(tmp_path: Path, old: str, new: str, match: str) -> None:
    src = (TEMPLATES_DIR / "layouts" / "rx_review.yaml").read_text(encoding="utf-8")
    with pytest.raises(CatalogError, match=match):
        load_layout(_bad(tmp_path, src, old, new))


# ---------------------------------------------------------------- build

def test_build_twice_gives_equal_bytes(built: dict[str, Path], tmp_path: Path) -> None:
    again = {p.name: p for p in build_templates(tmp_path)}
    for name in NAMES.values():
        assert _sha(again[name]) == _sha(built[name]), name


def test_committed_templates_are_current(built: dict[str, Path]) -> None:
    for name in NAMES.values():
        committed = TEMPLATES_DIR / name
        assert committed.exists(), "run: .venv/bin/python -m templates_xlsx.build"
        assert _entries(committed) == _entries(built[name]), f"{name} 已过期：请重新生成模板并提交"


@pytest.mark.parametrize("tid", ["JX-YB02", "JX-YB03"])
def test_identity_sheets_and_names(built: dict[str, Path], tid: str) -> None:
    layout = LAYOUTS[tid]
    lv = layout.latest()
    wb = openpyxl.load_workbook(built[NAMES[tid]])
    assert {p.name: p.value for p in wb.custom_doc_props} == {"jixiao_template_id": tid,
                                                             "jixiao_template_version": "2026.1"}
    assert wb.sheetnames == [lv.sheet] + [t.sheet for t in lv.tables] + [lv.meta_sheet]
    meta = wb[lv.meta_sheet]
    assert [meta["B1"].value, meta["B2"].value] == [tid, "2026.1"] and meta.sheet_state == "hidden"
    for name, cell in lv.inputs().items():
        row, col = split_cell(cell)
        assert list(wb.defined_names[name].destinations) == [(lv.sheet, f"${get_column_letter(col)}${row}")], name
    for t in lv.tables:
        first, last = t.columns[0].letter, t.columns[-1].letter
        assert list(wb.defined_names[t.range_name].destinations) == [
            (t.sheet, f"${first}${t.first_data_row}:${last}${t.last_data_row}")]
    ws = wb[lv.sheet]
    assert ws["A1"].value == layout.title_zh and layout.form_no in ws["A2"].value


@pytest.mark.parametrize("tid", ["JX-YB02", "JX-YB03"])
def test_table_sheets_protected_inputs_unlocked_and_shaded(built: dict[str, Path], tid: str) -> None:
    lv = LAYOUTS[tid].latest()
    wb = openpyxl.load_workbook(built[NAMES[tid]])
    for t in lv.tables:
        ws = wb[t.sheet]
        assert ws.protection.sheet is True and ws.protection.password
        assert [ws[f"{c.letter}{t.header_row}"].value for c in t.columns] == [c.label_zh for c in t.columns]
        assert ws[f"{t.columns[0].letter}1"].value == t.title_zh
        for c in t.columns:
            head = ws[f"{c.letter}{t.header_row}"]
            assert head.protection.locked is not False
            for r in (t.first_data_row, t.first_data_row + 1, t.last_data_row):
                cell = ws[f"{c.letter}{r}"]
                assert cell.protection.locked is False and cell.fill.fgColor.rgb == "FFFFF2CC", (t.sheet, c.letter, r)
            beyond = ws[f"{c.letter}{t.last_data_row + 1}"]
            assert beyond.protection.locked is not False  # nothing typed past the cap
            fmt = ws[f"{c.letter}{t.first_data_row}"].number_format
            if c.kind in ("text", "codes"):
                assert fmt == "@", c.field  # keeps Excel from turning 1-7 into 7 January
            if c.kind == "date":
                assert fmt == "yyyy-mm-dd"
    main = wb[lv.sheet]
    for cell in lv.inputs().values():
        assert main[cell].protection.locked is False and main[cell].fill.fgColor.rgb == "FFFFF2CC", cell


def _validations(ws: openpyxl.worksheet.worksheet.Worksheet) -> dict[str, object]:
    out = {}
    for dv in ws.data_validations.dataValidation:
        for rng in dv.sqref.ranges:
            out[rng.coord] = dv
    return out


def test_data_validation_per_column_and_choice(built: dict[str, Path]) -> None:
    wb = openpyxl.load_workbook(built[NAMES["JX-YB03"]])
    review = LV03.table("review")
    dvs = _validations(wb[review.sheet])
    kinds = {c.kind: dvs.get(f"{c.letter}4:{c.letter}2003") for c in review.columns}
    assert "A4:A2003" not in dvs  # 序号: free
    assert kinds["date"].type == "date" and kinds["flag"].type == "list" and kinds["flag"].formula1 == '"0,1"'
    assert kinds["count"].type == "whole" and kinds["amount"].type == "decimal"
    assert kinds["codes"].type == "textLength" and "1-7、2-5" in kinds["codes"].prompt
    age = dvs["C4:C2003"]
    assert (age.formula1, age.formula2) == ("0", "150") and "岁" in age.prompt
    assert all(dv.showErrorMessage and dv.showInputMessage for dv in dvs.values())
    main = _validations(wb[LV03.sheet])
    choice = main[LV03.choices["sampling_method"].cell]
    assert choice.type == "list" and choice.formula1 == '"随机,定向"'
    assert main[LV03.field_cell("rxr_op_rx_total").cell].type == "whole"
    wb2 = openpyxl.load_workbook(built[NAMES["JX-YB02"]])
    dvs2 = _validations(wb2["抗菌药物消耗"])
    assert dvs2["G4:G503"].type == "decimal" and dvs2["G4:G503"].formula1 == "0"
    main2 = _validations(wb2[LV02.sheet])
    assert all(main2[f.cell].type == "whole" for f in LV02.fields)


def test_no_formulas_and_compact_empty_cells(built: dict[str, Path]) -> None:
    for name in NAMES.values():
        with zipfile.ZipFile(built[name]) as z:
            for n in z.namelist():
                if n.startswith("xl/worksheets/"):
                    body = z.read(n)
                    assert b"<f>" not in body and b"<f " not in body, (name, n)
                    assert b' t="n" />' not in body, (name, n)  # empty inputs written as Excel writes them
