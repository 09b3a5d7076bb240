"""Facility registry: USCC check digit, effective dating, memberships, row-level findings, idempotent import."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pytest

from metrics.catalog import CatalogError
from warehouse.db import connect
from warehouse.registry import (facilities_for_period, import_registry, memberships_for_period, peer_group,
                                read_registry, uscc_check_char, uscc_valid)

FAC_HEADER = ["机构编码", "机构名称", "统一社会信用代码", "级别", "等次", "类别", "专科", "所属区县", "同组（覆盖）",
              "联系人", "联系电话", "生效日期", "失效日期"]
MEM_HEADER = ["机构编码", "组织编码", "组织名称", "组织类型", "角色", "生效日期", "失效日期"]

# Hand computation (GB 32100-2015). Character values: 0-9 → 0-9, A10 B11 C12 D13 E14 F15 G16 H17 J18 K19 L20
# M21 N22 P23 Q24 R25 T26 U27 W28 X29 Y30; weights 1,3,9,27,19,26,16,17,20,29,25,13,8,24,10,30,28.
# 91350100M000100Y4?: 9·1+1·3+3·9+5·27+0+1·26+0+0+21·20+0+0+0+1·8+0+0+30·30+4·28 = 1640;
#   1640 mod 31 = 28 → check 31−28 = 3 → 91350100M000100Y43 (a published, valid code).
# 12339901420000010?: 1+6+27+81+171+234+0+17+80+58+0+0+0+0+0+30+0 = 705; 705 mod 31 = 23 → 8.
# 1233990142000001J?: 705 − 0·28 + 18·28 = 1209 = 39·31 → mod 0 → 31 → check 0 (the 31→0 rule).
VALID_A = "91350100M000100Y43"
VALID_B = "123399014200000108"
VALID_C = "1233990142000001J0"


@pytest.mark.parametrize("code", [VALID_A, VALID_B, VALID_C])
def test_uscc_valid_codes(code: str) -> None:
    assert uscc_valid(code)
    assert uscc_check_char(code[:17]) == code[17]


@pytest.mark.parametrize("code", [
    "91350100M000100Y44",   # wrong check character (should be 3)
    "123399014200000107",   # wrong check character (should be 8)
    "1233990142000001J31",  # 19 characters
    "91350100M000100Y4",    # 17 characters
    "91350100M000100O43",   # O is not in the character set (Y → O)
    "91350100m000100y43",   # lower case is not in the character set
    "",
])
def test_uscc_invalid_codes(code: str) -> None:
    assert not uscc_valid(code)


def test_peer_group_from_catalog_and_override() -> None:
    assert peer_group("三级", "综合", None) == "三级综合"
    assert peer_group("三级", "中西医结合", None) == "三级中医类"
    assert peer_group("二级", "妇幼保健院", None) == "二级专科"
    assert peer_group("基层", "乡镇卫生院", None) == "基层"
    assert peer_group("二级", "综合", "三级综合") == "三级综合"  # override wins
    with pytest.raises(CatalogError):
        peer_group("三级", "乡镇卫生院", None)


def _write(path: Path, facilities: list[list], memberships: list[list] | None = None) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "机构"
    ws.append(FAC_HEADER)
    for r in facilities:
        ws.append(r)
    if memberships is not None:
        ws2 = wb.create_sheet("成员关系")
        ws2.append(MEM_HEADER)
        for r in memberships:
            ws2.append(r)
    wb.save(path)
    return path


D = dt.date


def _fac(fid: str, name: str, tier: str, ftype: str, start: object, end: object = None, uscc: str | None = None,
         grade: str = "甲", county: str = "青山县", override: str | None = None) -> list:
    return [fid, name, uscc, tier, grade, ftype, None, county, override, "张敏", "0795-82345678", start, end]


@pytest.fixture
def effective_dated(tmp_path: Path) -> Path:
    """A hospital upgraded 二级 → 三级 on 2026-07-01, a township centre joining a 医共体 from July."""
    return _write(tmp_path / "registry-effective-dated.xlsx", [
        _fac("JZ0001", "青山县人民医院", "二级", "综合", D(2015, 1, 1), D(2026, 7, 1), uscc=VALID_B),
        _fac("JZ0001", "青山县人民医院", "三级", "综合", D(2026, 7, 1), None, uscc=VALID_B, grade="乙"),
        _fac("JZ0002", "青山县石桥镇卫生院", "基层", "乡镇卫生院", "2015-01-01", None, grade="未定级"),
        _fac("JZ0003", "江州市康复医院", "二级", "专科", D(2026, 5, 18), None, override="二级综合"),
        _fac("jz0004", "临河县梅溪乡卫生院", "基层", "乡镇卫生院", "2015年1月1日", D(2026, 3, 1)),
    ], [
        ["JZ0001", "YGT01", "青山县县域医共体", "医共体", "牵头", D(2026, 7, 1), None],
        ["JZ0002", "YGT01", "青山县县域医共体", "医共体", "成员", D(2026, 7, 1), None],
        ["JZ0001", "ZKLM01", "江州市胸痛专科联盟", "专科联盟", "成员", D(2025, 1, 1), None],
    ])


def test_effective_dated_tier_change(effective_dated: Path, tmp_path: Path) -> None:
    con = connect(tmp_path / "w.duckdb")
    imp = import_registry(con, effective_dated)
    assert imp.findings == []
    march = {f["facility_id"]: f for f in facilities_for_period(con, "2026-03")}
    sept = {f["facility_id"]: f for f in facilities_for_period(con, "2026-09")}
    assert (march["JZ0001"]["tier"], march["JZ0001"]["peer_group"]) == ("二级", "二级综合")
    assert (sept["JZ0001"]["tier"], sept["JZ0001"]["grade"], sept["JZ0001"]["peer_group"]) == ("三级", "乙", "三级综合")
    # the month of the change: the row valid on the month's last day
    assert {f["facility_id"]: f["tier"] for f in facilities_for_period(con, "2026-07")}["JZ0001"] == "三级"
    assert {f["facility_id"]: f["tier"] for f in facilities_for_period(con, "2026-06")}["JZ0001"] == "二级"
    # opened mid-May: active from May; closed 2026-03-01 (exclusive): active in February only
    assert "JZ0003" not in march and "JZ0003" in sept
    assert sept["JZ0003"]["peer_group"] == "二级综合"  # override
    assert "JZ0003" in {f["facility_id"] for f in facilities_for_period(con, "2026-05")}
    assert "JZ0004" in {f["facility_id"] for f in facilities_for_period(con, "2026-02")}
    assert "JZ0004" not in march  # codes are stored upper-case
    assert march["JZ0002"]["peer_group"] == "基层"
    assert march["JZ0001"]["source_file"] == "registry-effective-dated.xlsx"
    assert march["JZ0001"]["source_row"] == 2 and sept["JZ0001"]["source_row"] == 3


def test_membership_counts_only_from_its_start(effective_dated: Path, tmp_path: Path) -> None:
    con = connect(tmp_path / "w.duckdb")
    import_registry(con, effective_dated)
    june = {(m["facility_id"], m["org_id"]) for m in memberships_for_period(con, "2026-06")}
    july = {(m["facility_id"], m["org_id"], m["role"]) for m in memberships_for_period(con, "2026-07")}
    assert june == {("JZ0001", "ZKLM01")}
    assert july == {("JZ0001", "YGT01", "牵头"), ("JZ0002", "YGT01", "成员"), ("JZ0001", "ZKLM01", "成员")}


def test_bad_rows_become_findings_and_are_skipped(tmp_path: Path) -> None:
    path = _write(tmp_path / "registry-bad-rows.xlsx", [
        _fac("JZ0001", "江州市第一人民医院", "三级", "综合", D(2015, 1, 1), uscc=VALID_A),          # row 2 ok
        _fac("JZ0002", "江州市中医院", "三级", "中医", D(2015, 1, 1), uscc="91350100M000100Y44"),  # row 3 USCC
        _fac("JZ0003", "江州市妇幼保健院", "三甲", "妇幼保健院", D(2015, 1, 1)),                   # row 4 tier
        _fac("JZ0001", "江州市第一人民医院", "三级", "综合", D(2020, 1, 1)),                       # row 5 overlap
        _fac("JZ0005", "青山县人民医院", "二级", "综合", "2026-13-01"),                            # row 6 date
        _fac("JZ0006", None, "二级", "综合", D(2015, 1, 1)),                                       # row 7 name
        _fac("JZ0007", "白石县人民医院", "二级", "综合", D(2026, 7, 1), D(2026, 7, 1)),           # row 8 end≤start
        _fac("JZ0008", "白石县石桥镇卫生院", "三级", "乡镇卫生院", D(2015, 1, 1)),                 # row 9 no group
        _fac("JZ0009", "松阳县人民医院", "二级", "综合", D(2015, 1, 1), grade="特等"),              # row 10 grade
        _fac("JZ0010", "松阳县中医医院", "二级", "中医", D(2015, 1, 1), uscc=" 12339901420000010 8"),  # row 11 ok
    ], [
        ["JZ0001", "YLT01", "江州市第一人民医院医联体", "医联体", "牵头", D(2024, 1, 1), None],   # row 2 ok
        ["JZ0099", "YLT01", "江州市第一人民医院医联体", "医联体", "成员", D(2024, 1, 1), None],   # row 3 unknown
        ["JZ0010", "YLT01", "江州市第一人民医院医联体", "医联体", "主任", D(2024, 1, 1), None],   # row 4 role
        ["JZ0002", "YLT01", "江州市第一人民医院医联体", "医联体", "成员", D(2024, 1, 1), None],   # row 5 skipped fac
        ["JZ0010", "YLT01", "江州市第一人民医院医联体", "联合体", "成员", D(2024, 1, 1), None],   # row 6 kind
        ["JZ0010", "YLT01", "江州市第一人民医院医联体", "医联体", "成员", D(2024, 1, 1), None],   # row 7 ok
        ["JZ0010", "YLT01", "江州市第一人民医院医联体", "医联体", "成员", D(2025, 1, 1), None],   # row 8 overlap
    ])
    imp = read_registry(path)
    assert [(f.sheet, f.cell, f.code) for f in imp.findings] == [
        ("机构", "C3", "registry-invalid-uscc"),
        ("机构", "D4", "registry-bad-value"),
        ("机构", "L5", "registry-overlap"),
        ("机构", "L6", "registry-bad-date"),
        ("机构", "B7", "registry-missing-value"),
        ("机构", "M8", "registry-bad-date"),
        ("机构", "D9", "registry-no-peer-group"),
        ("机构", "E10", "registry-bad-value"),
        ("成员关系", "A3", "registry-unknown-facility"),
        ("成员关系", "E4", "registry-bad-value"),
        ("成员关系", "A5", "registry-unknown-facility"),
        ("成员关系", "D6", "registry-bad-value"),
        ("成员关系", "F8", "registry-overlap"),
    ]
    assert all(f.file == "registry-bad-rows.xlsx" and f.severity == "error" for f in imp.findings)
    assert [(f["facility_id"], f["source_row"]) for f in imp.facilities] == [("JZ0001", 2), ("JZ0010", 11)]
    assert imp.facilities[1]["uscc"] == VALID_B  # spaces removed before the check
    assert [(m["facility_id"], m["role"]) for m in imp.memberships] == [("JZ0001", "牵头"), ("JZ0010", "成员")]
    uscc = imp.findings[0]
    assert uscc.value == "91350100M000100Y44" and "校验码应为 3" in uscc.message_zh
    overlap = imp.findings[2]
    assert overlap.facility_id == "JZ0001" and overlap.expected == "2"


def test_missing_column_and_sheet(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "机构"
    ws.append([h for h in FAC_HEADER if h != "级别"])
    ws.append(["JZ0001", "江州市第一人民医院", None, "甲", "综合", None, None, None, None, None, D(2015, 1, 1)])
    wb.save(tmp_path / "registry-no-tier-column.xlsx")
    imp = read_registry(tmp_path / "registry-no-tier-column.xlsx")
    assert [(f.sheet, f.field, f.code) for f in imp.findings] == [("机构", "级别", "registry-column-missing")]
    assert imp.facilities == []

    wb = openpyxl.Workbook()
    wb.active.title = "Sheet1"
    wb.save(tmp_path / "registry-no-sheet.xlsx")
    imp = read_registry(tmp_path / "registry-no-sheet.xlsx")
    assert [(f.sheet, f.code) for f in imp.findings] == [("机构", "sheet-missing")]


def _tables(con) -> tuple[list[tuple], list[tuple]]:
    fac = con.execute("SELECT * FROM facilities ORDER BY facility_id, valid_from").fetchall()
    mem = con.execute("SELECT * FROM memberships ORDER BY facility_id, org_id, valid_from").fetchall()
    return fac, mem


def test_import_is_idempotent_and_replaces(effective_dated: Path, tmp_path: Path) -> None:
    con = connect(tmp_path / "w.duckdb")
    import_registry(con, effective_dated)
    first = _tables(con)
    import_registry(con, effective_dated)
    assert _tables(con) == first
    assert len(first[0]) == 5 and len(first[1]) == 3
    # a newer registry replaces the contents (a facility absent from it disappears)
    newer = _write(tmp_path / "registry-newer.xlsx",
                   [_fac("JZ0001", "青山县人民医院", "三级", "综合", D(2015, 1, 1), uscc=VALID_B)], [])
    import_registry(con, newer)
    fac, mem = _tables(con)
    assert [(r[0], r[13], r[14]) for r in fac] == [("JZ0001", "registry-newer.xlsx", 2)]
    assert mem == []
