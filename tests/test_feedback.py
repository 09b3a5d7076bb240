"""Hospital feedback workbooks: highlighted, commented copies of a facility's own return with a 问题清单 sheet.

A small demo region (operations returns, one month) goes through the run's own stages (archive → parse → load →
validate, no Prefect); one hospital's return is edited by hand with two known mistakes and a note of its own.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import time
import zipfile
from pathlib import Path

import openpyxl
import pytest

from flows.settings import Settings
from templates_xlsx.feedback import AUTHOR, HEADER_ROW, SHEET, FeedbackConfig, annotate, load_config

PERIOD = "2026-10"
SHEET_OPS = "运营与药品"
TARGET = "JZ0004"
HOSTILE_NAME = "=HYPERLINK(\"x\")_本院自报月报.xlsx"  # the name it arrives under: never used for output
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "foreign-xlsx"
RECEIVED = dt.datetime(2026, 11, 5, 9, 30)


def _stages(home: Path, inbox: Path, registry: Path, out: Path) -> tuple[Settings, list[Path]]:
    """The run's stages as plain functions over a fresh home, then write_feedback."""
    from flows import pipeline
    from warehouse.db import connect
    from warehouse.feedback import write_feedback
    from warehouse.registry import import_registry

    s = Settings(home=home, out_dir=out, parse_workers=1, parse_timeout_s=20, parse_memory_mb=768)
    con = connect(s.warehouse_path)
    import_registry(con, registry)
    con.close()
    regs, _ = pipeline.archive_register(s, PERIOD, pipeline.discover(inbox))
    pipeline.load_parsed(s, pipeline.parse(s, regs))
    pipeline.validate(s, PERIOD, pipeline.registered_ids(regs))
    pipeline.close_warehouse(s)
    con = connect(s.warehouse_path)
    try:
        paths = write_feedback(con, s.archive_dir, PERIOD, out)
    finally:
        con.close()
    return s, paths


def _edit(path: Path, cells: dict[str, object], comments: dict[str, str] | None = None,
          dest: Path | None = None) -> None:
    """A hospital edits its return in a spreadsheet program (openpyxl stands in) and saves it."""
    from openpyxl.comments import Comment

    wb = openpyxl.load_workbook(path)
    ws = wb[SHEET_OPS]
    for ref, v in cells.items():
        ws[ref] = v
    for ref, text in (comments or {}).items():
        ws[ref].comment = Comment(text, "统计科")
    wb.save(dest or path)


@pytest.fixture(scope="module")
def region(tmp_path_factory):
    from templates_xlsx.demo import generate_region

    root = tmp_path_factory.mktemp("feedback")
    reg = generate_region(root / "region", facilities=24, period=PERIOD, seed=7, months=1, survey_months=0,
                          templates={"JX-YB01"})
    assert TARGET not in {m["facility_id"] for m in reg.mistakes}
    inbox = reg.inbox_dir / PERIOD
    src = next(inbox.glob(f"{TARGET}_*.xlsx"))
    # two known mistakes (a total that is not the sum of its parts, text in a number cell) and the hospital's own
    # notes: one on a clean cell, one on a cell the bureau will comment on too
    _edit(src, {"E14": 300.25, "E16": 200.5, "E17": 600, "E29": "约300"},
          {"E6": "本院备注：含发热门诊", "E17": "本院备注：已核对"}, dest=inbox / HOSTILE_NAME)
    src.unlink()
    t = RECEIVED.timestamp()
    os.utime(inbox / HOSTILE_NAME, (t, t))
    return root, reg


@pytest.fixture(scope="module")
def run1(region):
    root, reg = region
    s, paths = _stages(root / "var", reg.inbox_dir, reg.registry_path, root / "out")
    return s, paths


def _findings(settings: Settings, facility_id: str) -> list[dict]:
    import duckdb

    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        cur = con.execute(
            "SELECT f.sheet, f.cell, f.code, f.severity, f.message_zh, f.fix_zh FROM findings f "
            "JOIN submissions s USING (submission_id) WHERE s.facility_id = ? AND s.status <> 'superseded' "
            "AND coalesce(s.period, s.inbox_period) = ?", [facility_id, PERIOD])
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]
    finally:
        con.close()


def _ours(wb) -> dict[tuple[str, str], tuple[str, str]]:
    """(sheet, cell) → (fill colour, comment text) of every cell carrying our comment."""
    out = {}
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                if c.comment is not None and c.comment.author == AUTHOR:
                    out[(ws.title, c.coordinate)] = (c.fill.fgColor.rgb[-6:], c.comment.text)
    return out


def _list(wb) -> list[tuple]:
    ws = wb[SHEET]
    return [r for r in ws.iter_rows(min_row=HEADER_ROW + 1, values_only=True)]


def test_target_workbook_marks_exactly_the_two_mistakes(run1):
    s, paths = run1
    path = s.out_dir / PERIOD / "feedback" / TARGET / f"{TARGET}_卫健绩效01表_{PERIOD}_反馈.xlsx"
    assert path in paths
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames[0] == SHEET and wb.active.title == SHEET
    cfg = load_config()
    marks = _ours(wb)
    assert {(sh, c) for sh, c in marks} == {(SHEET_OPS, "E17"), (SHEET_OPS, "E29")}
    assert marks[(SHEET_OPS, "E17")][0] == cfg.colours["error"] == "FFC7CE"
    sum_msg = "「药品收入合计」600 不等于 门急诊药品收入、住院药品收入 之和 500.75。"  # 300.25 + 200.5
    text_msg = "「门诊处方总数」填写的「约300」不是数值。"
    # the hospital's own note stays first; the bureau's comment follows it
    assert marks[(SHEET_OPS, "E17")][1] == ("本院备注：已核对\n\n—— 卫健委反馈 ——\n【错误】sum-mismatch\n问题："
                                            + sum_msg + "\n修改：请核对 E17 及各分项，合计应等于分项之和。")
    assert marks[(SHEET_OPS, "E29")][1] == ("【错误】value-not-number\n问题：" + text_msg
                                            + "\n修改：请在 E29 只填写数字（单位见表头），不要填写文字或符号。")
    kept = wb[SHEET_OPS]["E6"].comment
    assert kept is not None and kept.text == "本院备注：含发热门诊" and kept.author == "统计科"
    ws = wb[SHEET]
    assert ws["A1"].value == (f"报表问题反馈　机构编码 {TARGET}　统计期 {PERIOD}　文件接收时间 2026-11-05 09:30:00　"
                              "共 2 条：错误 2，警告 0，提示 0")
    assert [c.value for c in ws[HEADER_ROW]] == ["序号", "工作表", "单元格", "代码", "严重程度", "字段", "填报值",
                                                 "期望值", "问题说明", "修改建议"]
    assert _list(wb) == [
        (1, SHEET_OPS, "E17", "sum-mismatch", "错误", "药品收入合计", "600", "500.75", sum_msg,
         "请核对 E17 及各分项，合计应等于分项之和。"),
        (2, SHEET_OPS, "E29", "value-not-number", "错误", "门诊处方总数", "约300", None, text_msg,
         "请在 E29 只填写数字（单位见表头），不要填写文字或符号。"),
    ]


def test_every_workbook_marks_its_findings_and_lists_them(run1):
    from templates_xlsx.feedback import ordered, severity_text

    s, paths = run1
    assert len(paths) >= 3  # the target plus the demo's own mistakes on current returns
    for path in paths:
        fid = path.parent.name
        found = _findings(s, fid)
        assert found, path
        wb = openpyxl.load_workbook(path)
        marks = _ours(wb)
        cells = {(f["sheet"], f["cell"]) for f in found if f["sheet"] and f["cell"]}
        assert set(marks) == cells, path
        assert [(r[1], r[2], r[3], r[4], r[8], r[9]) for r in _list(wb)] == [
            (f["sheet"], f["cell"], f["code"], severity_text(f), f["message_zh"], f["fix_zh"]) for f in ordered(found)]


def test_file_names_come_from_registry_codes(run1, region):
    import duckdb

    s, paths = run1
    con = duckdb.connect(str(s.warehouse_path), read_only=True)
    codes = {r[0] for r in con.execute("SELECT facility_id FROM facilities").fetchall()}
    con.close()
    for path in paths:
        rel = path.relative_to(s.out_dir / PERIOD / "feedback")
        fid = rel.parts[0]
        assert fid in codes
        assert rel.as_posix() == f"{fid}/{fid}_卫健绩效01表_{PERIOD}_反馈.xlsx"
    assert not any("HYPERLINK" in p.as_posix() or "医院" in p.as_posix() for p in paths)


def test_other_facilities_data_changes_leave_the_workbook_unchanged(run1, region, tmp_path):
    """Every other facility's submitted numbers changed (and a new mistake each): the target's bytes are equal."""
    root, reg = region
    s, paths = run1
    target = s.out_dir / PERIOD / "feedback" / TARGET / f"{TARGET}_卫健绩效01表_{PERIOD}_反馈.xlsx"
    inbox = tmp_path / "inbox"
    shutil.copytree(reg.inbox_dir, inbox)  # copy2: receipt times (mtime) kept
    others = [p for p in (inbox / PERIOD).glob("*.xlsx") if p.name != HOSTILE_NAME]
    assert len(others) >= 10
    for p in others:
        st = p.stat()
        wb = openpyxl.load_workbook(p)
        ws = wb[SHEET_OPS]
        for r in range(6, 34):
            v = ws.cell(row=r, column=5).value
            if isinstance(v, (int, float)):
                ws.cell(row=r, column=5).value = v * 3 + 7
        ws["E17"] = 1  # and a sum mismatch in every other return
        wb.save(p)
        os.utime(p, (st.st_atime, st.st_mtime))
    s2, paths2 = _stages(tmp_path / "var", inbox, reg.registry_path, tmp_path / "out")
    target2 = s2.out_dir / PERIOD / "feedback" / TARGET / target.name
    assert len(paths2) > len(paths)
    assert hashlib.sha256(target2.read_bytes()).hexdigest() == hashlib.sha256(target.read_bytes()).hexdigest()


def test_waived_finding_is_listed_as_waived_and_not_red(run1, tmp_path):
    import duckdb

    from warehouse.feedback import write_feedback

    s, _ = run1
    con = duckdb.connect(str(s.warehouse_path))
    try:
        fid_e29 = con.execute("SELECT f.finding_id, f.submission_id FROM findings f JOIN submissions s "
                              "USING (submission_id) WHERE s.facility_id = ? AND f.cell = 'E29'", [TARGET]).fetchone()
        con.execute("INSERT INTO finding_waivers (waiver_id, finding_id, submission_id, facility_id, period, code, "
                    "sheet, cell, field, reason, actor, acted_at) VALUES ('w1', ?, ?, ?, ?, 'value-not-number', ?, "
                    "'E29', 'op_rx_total', '已电话核实', 'analyst', ?)",
                    [fid_e29[0], fid_e29[1], TARGET, PERIOD, SHEET_OPS, dt.datetime(2026, 11, 12)])
        paths = write_feedback(con, s.archive_dir, PERIOD, tmp_path)
        # a revoked waiver no longer counts
        con.execute("UPDATE finding_waivers SET revoked_at = ? WHERE waiver_id = 'w1'", [dt.datetime(2026, 11, 13)])
        revoked = write_feedback(con, s.archive_dir, PERIOD, tmp_path / "revoked")
    finally:
        con.execute("DELETE FROM finding_waivers WHERE waiver_id = 'w1'")
        con.close()
    path = next(p for p in paths if p.parent.name == TARGET)
    wb = openpyxl.load_workbook(path)
    marks = _ours(wb)
    assert marks[(SHEET_OPS, "E29")][0] == load_config().colours["waived"]
    assert marks[(SHEET_OPS, "E29")][1].startswith("【已豁免（错误）】value-not-number")
    assert marks[(SHEET_OPS, "E17")][0] == load_config().colours["error"]
    assert [(r[2], r[4]) for r in _list(wb)] == [("E17", "错误"), ("E29", "已豁免（错误）")]
    assert wb[SHEET]["A1"].value.endswith("共 2 条：错误 1，警告 0，提示 0，已豁免 1")
    wb2 = openpyxl.load_workbook(next(p for p in revoked if p.parent.name == TARGET))
    assert _ours(wb2)[(SHEET_OPS, "E29")][0] == load_config().colours["error"]


# ---------------------------------------------------------------- files that cannot be annotated in place

FINDINGS = [
    {"code": "sum-mismatch", "severity": "error", "sheet": SHEET_OPS, "cell": "E17", "field": "drug_revenue",
     "value": "=1+1", "expected": "500.75", "message_zh": "「药品收入合计」=1+1 不等于之和 500.75。", "fix_zh": "请核对 E17。"},
    {"code": "unknown-template", "severity": "error", "sheet": None, "cell": None, "field": None, "value": None,
     "expected": None, "message_zh": "无法识别报表模板。", "fix_zh": "请下载最新模板。"},
]


def _ods(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet")
        z.writestr("META-INF/manifest.xml", '<?xml version="1.0"?><manifest:manifest xmlns:manifest='
                   '"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"/>')
        z.writestr("content.xml", '<?xml version="1.0"?><office:document-content xmlns:office='
                   '"urn:oasis:names:tc:opendocument:xmlns:office:1.0"/>')
    return path


@pytest.mark.parametrize("kind, note", [
    ("xls", "报送文件为 .xls（Excel 97-2003） 格式，无法在原文件上标注，仅列出问题清单；请以 .xlsx 格式修改后重新报送。"),
    ("ods", "报送文件为 .ods（OpenDocument） 格式，无法在原文件上标注，仅列出问题清单；请以 .xlsx 格式修改后重新报送。"),
    ("xmlbomb", "报送文件内部结构不安全或已损坏，无法在原文件上标注，仅列出问题清单。"),
])
def test_unannotatable_files_get_a_fresh_list(tmp_path, kind, note):
    src = {"xls": lambda: FIXTURES / "xlrd__ragged.xls", "ods": lambda: _ods(tmp_path / "x.ods"),
           "xmlbomb": lambda: FIXTURES / "poi__poc-xmlbomb.xlsx"}[kind]()
    out = annotate(src, FINDINGS, tmp_path / "fb.xlsx", facility_code=TARGET, period=PERIOD)
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == [SHEET]
    ws = wb[SHEET]
    assert ws["A2"].value == note
    rows = _list(wb)
    # file-level first; submitted text that looks like a formula is written as text
    assert [(r[1], r[2], r[3], r[6]) for r in rows] == [(None, None, "unknown-template", None),
                                                        (SHEET_OPS, "E17", "sum-mismatch", "'=1+1")]
    assert all(c.data_type != "f" for row in ws.iter_rows() for c in row)


def test_annotate_is_byte_stable(run1, tmp_path):
    s, paths = run1
    src = next(p for p in paths if p.parent.name == TARGET)
    a = annotate(src, FINDINGS, tmp_path / "a.xlsx", facility_code=TARGET, period=PERIOD)
    b = annotate(src, FINDINGS, tmp_path / "b.xlsx", facility_code=TARGET, period=PERIOD)
    assert a.read_bytes() == b.read_bytes()
    # a feedback copy sent back is annotated afresh: our old comments go, the hospital's stay
    marks = _ours(openpyxl.load_workbook(a))
    assert set(marks) == {(SHEET_OPS, "E17")}
    assert openpyxl.load_workbook(a)[SHEET_OPS]["E6"].comment.text == "本院备注：含发热门诊"


# ---------------------------------------------------------------- peer statistics and the disclosure guard

def _quality(n_text: str, **kw) -> dict:
    f = {"facility_id": TARGET, "stage": "quality", "code": "outlier-peer", "severity": "warning",
         "sheet": SHEET_OPS, "cell": "E6", "field": "oe_visits", "value": "129464", "expected": "40210",
         "message_zh": f"「门急诊人次」129464 远高于同组中位数 40210（{n_text}），修正 z 值 6.1。",
         "fix_zh": "请核对 E6 的数值及统计口径。", "rule_id": "peer_mad"}
    return f | kw


GROUP = {TARGET: "三级综合", "JZ0002": "三级综合"}


@pytest.mark.parametrize("n, neutral", [(4, True), (5, False), (12, False)])
def test_peer_statistic_only_from_five_facilities(n, neutral):
    from warehouse.feedback import assert_disclosable, disclose

    peer_n = {("三级综合", None): n, ("三级综合", "oe_visits"): n}
    f = _quality(f"同组 {n} 家")
    shown = disclose([f], GROUP, peer_n)[0]
    if neutral:
        assert shown["message_zh"] == ("「门急诊人次」填报值 129464 与通常水平差异较大，请核实（按数据保密要求，"
                                       "本反馈不显示比较值）。")
        assert shown["expected"] is None and shown["fix_zh"] == f["fix_zh"]
    else:
        assert shown == f
    assert_disclosable(TARGET, [shown], GROUP, peer_n, [(TARGET, "江州市中心医院")])


def test_field_level_count_decides_and_threshold_is_configurable():
    from warehouse.feedback import disclose

    # the group has 9 facilities, but only 4 of them filed the field: a statistic of it rests on 4
    peer_n = {("三级综合", None): 9, ("三级综合", "oe_visits"): 4}
    assert disclose([_quality("")], GROUP, peer_n)[0]["expected"] is None
    cfg = load_config()
    lax = FeedbackConfig(**{**cfg.__dict__, "min_peer_n_disclosed": 3})
    assert disclose([_quality("")], GROUP, peer_n, lax)[0]["expected"] == "40210"
    # a facility without a peer group discloses nothing of peers; own-history findings are left alone
    assert disclose([_quality("")], {TARGET: None}, peer_n)[0]["expected"] is None
    own = _quality("", message_zh="「门急诊人次」129464 比本院近 12 个月中位数 41000 高 216%。", expected="41000",
                   rule_id="own_history")
    assert disclose([own], {TARGET: None}, {})[0] == own


def test_guard_fails_loudly_on_a_leak():
    from warehouse.feedback import DisclosureError, assert_disclosable

    small = {("三级综合", None): 3, ("三级综合", "oe_visits"): 3}
    reg = [(TARGET, "江州市中心医院"), ("JZ0002", "江州市中医院"), ("JZ00021", "江州市妇幼保健院")]
    with pytest.raises(DisclosureError, match="同组机构不足 5 家"):
        assert_disclosable(TARGET, [_quality("")], GROUP, small, reg)
    # a peer rule whose reference value would be shown, even without a marker word
    bare = _quality("", message_zh="「门急诊人次」129464 偏高。", rule_id="peer_mad")
    with pytest.raises(DisclosureError):
        assert_disclosable(TARGET, [bare], GROUP, small, reg)
    big = {("三级综合", None): 8, ("三级综合", "oe_visits"): 8}
    with pytest.raises(DisclosureError, match="其他机构的编码"):
        assert_disclosable(TARGET, [_quality("", message_zh="与 JZ0002 相比偏高")], GROUP, big, reg)
    with pytest.raises(DisclosureError, match="其他机构的名称"):
        assert_disclosable(TARGET, [_quality("", fix_zh="请参照江州市中医院的填法")], GROUP, big, reg)
    with pytest.raises(DisclosureError, match="其他机构的问题记录"):
        assert_disclosable(TARGET, [_quality("", facility_id="JZ0002")], GROUP, big, reg)
    # the facility's own value and own name are not a leak, nor is a longer code that merely contains another
    ok = _quality("", message_zh="填报单位名称「江州市中医院」与名录名称「江州市中心医院」不一致。", stage="validate",
                  value="江州市中医院", fix_zh="机构编码 JZ00021X 无效")
    assert_disclosable(TARGET, [ok], GROUP, big, reg)


def test_feedback_config_rejects_unknown_keys(tmp_path):
    from metrics.catalog import CatalogError

    bad = tmp_path / "feedback.yaml"
    bad.write_text((Path(__file__).resolve().parents[1] / "templates_xlsx" / "feedback.yaml")
                   .read_text(encoding="utf-8").replace("  min_peer_n_disclosed: 5", "  min_peer_n: 5"),
                   encoding="utf-8")
    with pytest.raises(CatalogError, match="privacy.*unknown key"):
        load_config(bad)


def test_rerun_rewrites_only_what_changed(run1, tmp_path):
    """A second write of the month keeps unchanged workbooks as they are (same bytes, not rewritten), rewrites the
    one whose findings changed and removes the one whose return has no findings left."""
    import duckdb

    from warehouse.feedback import write_feedback

    s, _ = run1
    con = duckdb.connect(str(s.warehouse_path))
    try:
        first = write_feedback(con, s.archive_dir, PERIOD, tmp_path)
        stamps = {p: p.stat().st_mtime_ns for p in first}
        time.sleep(0.05)
        again = write_feedback(con, s.archive_dir, PERIOD, tmp_path)
        assert again == first and all(p.stat().st_mtime_ns == stamps[p] for p in again)
        # another facility's findings vanish (its return was fixed): its workbook goes, the target's stays untouched
        other = next(p for p in first if p.parent.name != TARGET)
        gone = con.execute("SELECT list(finding_id) FROM findings f JOIN submissions s USING (submission_id) "
                           "WHERE s.facility_id = ?", [other.parent.name]).fetchone()[0]
        saved = con.execute("SELECT * FROM findings WHERE list_contains(?, finding_id)", [gone]).fetchall()
        con.execute("DELETE FROM findings WHERE list_contains(?, finding_id)", [gone])
        try:
            third = write_feedback(con, s.archive_dir, PERIOD, tmp_path)
        finally:
            con.executemany(f"INSERT INTO findings VALUES ({', '.join('?' * len(saved[0]))})", saved)
        assert other not in third and not other.exists()
        target = next(p for p in first if p.parent.name == TARGET)
        assert target.stat().st_mtime_ns == stamps[target]
    finally:
        con.close()


def test_a_large_table_return_gets_the_list_without_reopening(tmp_path):
    """Above limits.max_cells (all sheets' used cells) the workbook is not re-opened: 问题清单 with every sheet!cell."""
    from openpyxl import Workbook

    big = Workbook()
    ws = big.active
    ws.title = SHEET_OPS
    for r in range(1, 1002):           # 1,001 rows × 11 columns = 11,011 cells > 10,000
        ws.append([r] * 11)
    big.save(tmp_path / "big.xlsx")
    out = annotate(tmp_path / "big.xlsx", FINDINGS, tmp_path / "fb.xlsx", facility_code=TARGET, period=PERIOD)
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == [SHEET]
    assert wb[SHEET]["A2"].value == ("报送文件较大（约 11011 个单元格），为保证反馈及时，未在原文件上标注；"
                                     "问题清单逐条列出工作表与单元格，请据此在原文件中修改。")
    assert [(r[1], r[2], r[3]) for r in _list(wb)] == [(None, None, "unknown-template"), (SHEET_OPS, "E17", "sum-mismatch")]


def test_info_only_returns_get_no_workbook(run1, tmp_path):
    """min_severity (warning): a return whose findings are all info needs no action and gets no workbook."""
    import duckdb

    from warehouse.feedback import write_feedback

    s, _ = run1
    con = duckdb.connect(str(s.warehouse_path))
    try:
        sids = [r[0] for r in con.execute("SELECT submission_id FROM submissions WHERE facility_id = ?",
                                          [TARGET]).fetchall()]
        before = con.execute("SELECT finding_id, severity FROM findings WHERE list_contains(?, submission_id)",
                             [sids]).fetchall()
        assert any(sev == "error" for _, sev in before)
        con.execute("UPDATE findings SET severity = 'info' WHERE list_contains(?, submission_id)", [sids])
        try:
            paths = write_feedback(con, s.archive_dir, PERIOD, tmp_path)
        finally:
            con.executemany("UPDATE findings SET severity = ? WHERE finding_id = ?", [[sv, f] for f, sv in before])
    finally:
        con.close()
    assert paths and all(p.parent.name != TARGET for p in paths)
