"""End to end through the real Prefect flow: demo region → warehouse → GX → indicators → scores → workbooks.

One module-scoped region (small, fixed seed) is run three times: twice unchanged (idempotence), then with
one edited resubmission (exactly one more supersession).
"""
from __future__ import annotations

import datetime as dt
import io
import os
import shutil
import zipfile
from pathlib import Path

import openpyxl
import pytest

from flows.settings import Settings
from templates_xlsx.determinism import normalize_zip

PERIOD = "2026-10"
SKIP_TABLES = {"runs", "validation_runs", "findings_history"}  # appended to by every run, by design
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "foreign-xlsx"
# fixture → name it arrives under (a misleading extension and a traversal-looking name included)
FOREIGN = {"poi__poc-xmlbomb.xlsx": "炸弹.xlsx", "poi__SimpleStrict.xlsx": "..%2F..%2Fetc%2Fpasswd.xlsx",
           "calamine__too_small.xls": "空白.xlsx", "xlrd__ragged.xls": "旧格式.xls"}


@pytest.fixture(scope="module")
def env(tmp_path_factory, prefect_harness):
    root = tmp_path_factory.mktemp("e2e")
    old = {k: os.environ.get(k) for k in ("JIXIAO_HOME", "JIXIAO_OUT")}
    os.environ["JIXIAO_HOME"] = str(root / "var")
    os.environ["JIXIAO_OUT"] = str(root / "out")
    from templates_xlsx.build import build_templates
    from templates_xlsx.demo import generate_region
    from warehouse.baseline import import_baseline
    from warehouse.db import connect
    from warehouse.registry import import_registry

    settings = Settings.from_env()
    build_templates()
    region = generate_region(root / "region", facilities=24, period=PERIOD, seed=7)
    # hostile and foreign files arrive with the month's returns; the run must go on around them
    for name, dest in FOREIGN.items():
        shutil.copyfile(FIXTURES / name, region.inbox_dir / PERIOD / dest)
    con = connect(settings.warehouse_path)
    import_registry(con, region.registry_path)
    import_baseline(con, region.baseline_path)
    con.close()
    yield settings, region
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _run(region):
    from flows.monthly import monthly_assessment

    return monthly_assessment(period=PERIOD, inbox=str(region.inbox_dir))


def _snapshot(settings) -> dict[str, list[tuple]]:
    from warehouse.db import connect

    con = connect(settings.warehouse_path)
    try:
        tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                            "WHERE table_schema = 'main' ORDER BY 1").fetchall()]
        return {t: sorted(con.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr)
                for t in tables if t not in SKIP_TABLES}
    finally:
        con.close()


@pytest.fixture(scope="module")
def first_run(env):
    settings, region = env
    result = _run(region)
    return settings, region, result, _snapshot(settings)


def test_run_produces_ranked_and_audit_workbooks(first_run):
    settings, region, result, _ = first_run
    assert result["expected"] > 0 and result["scored"] > 0
    assert result["received"] <= result["expected"]
    ranked = Path(result["outputs"]["ranked"])
    assert ranked == settings.out_dir / PERIOD / f"排名报告_{PERIOD}.xlsx"
    wb = openpyxl.load_workbook(ranked)
    assert "说明" in wb.sheetnames and "指标值" in wb.sheetnames
    leagues = [n for n in wb.sheetnames if n.startswith("排名-")]
    assert leagues
    ws = wb[leagues[0]]
    assert ws.freeze_panes == "D4"
    assert ws._charts, "each league sheet carries a bar chart of composites"
    ranks = [ws.cell(row=r, column=1).value for r in range(4, ws.max_row + 1)]
    scores = [ws.cell(row=r, column=4).value for r in range(4, ws.max_row + 1)]
    scored = [(k, s) for k, s in zip(ranks, scores) if k is not None]
    # rank = 1 + number of facilities with a strictly higher composite
    for k, s in scored:
        assert k == 1 + sum(1 for _, t in scored if t > s)
    notes = {ws_row[0].value: ws_row[1].value for ws_row in wb["说明"].iter_rows(min_row=3, max_row=12)}
    assert notes["考核方案版本"] == "2026"
    assert notes["应报机构数"] == result["expected"]
    assert Path(result["outputs"]["audit"]).is_file()
    assert (settings.out_dir / PERIOD / "data_docs" / "index.html").is_file()


def test_each_demo_mistake_yields_its_findings(first_run):
    from warehouse.db import connect

    settings, region, _, _ = first_run
    expected_codes = {
        "unknown-code": {"facility-unknown"},
        "required-blank": {"required-missing"},
        "sum-mismatch": {"sum-mismatch"},
        "wrong-period": {"period-mismatch"},
        "text-in-number": {"value-not-number"},
        "yuan-not-wanyuan": {"unit-suspect"},
        "part-exceeds-total": {"part-exceeds-total"},   # 基层月报: 基本药物药品收入 > 药品收入
        "duplicate-id": {"survey-duplicate-id"},        # 满意度调查: the same 问卷编号 twice
    }
    # a survey return also carries its questionnaires' own warnings (incomplete, straight-lining)
    survey_noise = {"survey-incomplete", "survey-straight-lining"}
    con = connect(settings.warehouse_path)
    try:
        seen = set()
        for m in region.mistakes:
            seen.add(m["kind"])
            rows = con.execute(
                "SELECT f.sheet, f.cell, f.code FROM findings f JOIN submissions s USING (submission_id) "
                "WHERE s.original_name = ? AND f.severity IN ('error', 'warning') AND f.stage <> 'quality'",
                [m["file"]]).fetchall()  # the outlier review may flag a mistaken value as well: checked below
            codes = {c for _, _, c in rows}
            if m.get("template_id") == "JX-MY01":
                codes -= survey_noise
            assert codes == expected_codes[m["kind"]], (m, rows)
            if m.get("cell"):
                sheet = m.get("sheet", "运营与药品")
                assert (sheet, m["cell"], next(iter(expected_codes[m["kind"]]))) in rows, (m, rows)
        assert len(seen) >= 4  # every kind at the default size is checked in test_demo_region
    finally:
        con.close()


def test_rerun_is_idempotent_and_an_edit_supersedes_once(first_run):
    settings, region, _, snap1 = first_run
    _run(region)
    snap2 = _snapshot(settings)
    assert snap2 == snap1
    from warehouse.db import connect

    con = connect(settings.warehouse_path)
    before = con.execute("SELECT count(*) FROM submissions WHERE status = 'superseded'").fetchone()[0]
    # a hospital with one clean, accepted return for the period resubmits an edited copy, received later
    name = con.execute("SELECT min(original_name) FROM submissions s WHERE period = ? AND status = 'accepted' "
                       "AND NOT EXISTS (SELECT 1 FROM findings f WHERE f.submission_id = s.submission_id)",
                       [PERIOD]).fetchone()[0]
    con.close()
    src = region.inbox_dir / name

    data = src.read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        core = z.read("docProps/core.xml").replace(b"jixiao", b"jixiao-edit")
    edited = src.with_name("更正_" + src.name)
    edited.write_bytes(normalize_zip(data, replace={"docProps/core.xml": core}))
    t = dt.datetime(2026, 11, 20, 10, 0).timestamp()
    os.utime(edited, (t, t))
    _run(region)
    con = connect(settings.warehouse_path)
    after = con.execute("SELECT count(*) FROM submissions WHERE status = 'superseded'").fetchone()[0]
    old = con.execute("SELECT status, superseded_by FROM submissions WHERE original_name = ?", [name]).fetchone()
    new = con.execute("SELECT submission_id, status FROM submissions WHERE original_name = ?",
                      [edited.relative_to(region.inbox_dir).as_posix()]).fetchone()
    con.close()
    edited.unlink()
    assert after == before + 1
    assert old == ("superseded", new[0]) and new[1] == "accepted"


def test_quarter_run_uses_ratios_of_sums(first_run):
    """--period 2026-Q3: 药占比 is (Σ drug − Σ herbal) / Σ medical revenue over the quarter, not a mean of months."""
    from decimal import ROUND_HALF_UP, Decimal

    from flows.monthly import monthly_assessment
    from warehouse.db import connect

    settings, region, _, _ = first_run
    result = monthly_assessment(period="2026-Q3", inbox=str(region.inbox_dir))
    assert Path(result["outputs"]["ranked"]).name == "排名报告_2026-Q3.xlsx"
    assert result["scored"] > 0
    con = connect(settings.warehouse_path)
    try:
        rows = con.execute(
            "SELECT s.facility_id, s.period, v.field, v.value FROM submissions s JOIN return_values v "
            "USING (submission_id) WHERE s.status = 'accepted' AND s.period IN ('2026-07', '2026-08', '2026-09') "
            "AND v.field IN ('drug_revenue', 'herbal_revenue', 'med_revenue')").fetchall()
        stored = dict(con.execute("SELECT facility_id, value FROM indicator_values WHERE period = '2026-Q3' "
                                  "AND indicator = 'YP01' AND status = 'ok'").fetchall())
    finally:
        con.close()
    months: dict[str, dict[str, dict[str, float]]] = {}
    for fid, month, fld, value in rows:
        months.setdefault(fid, {}).setdefault(month, {})[fld] = value
    checked = 0
    for fid, by_month in months.items():
        if len(by_month) != 3 or fid not in stored:
            continue
        tot = {k: sum(Decimal(repr(m.get(k) or 0)) for m in by_month.values())
               for k in ("drug_revenue", "herbal_revenue", "med_revenue")}
        want = ((tot["drug_revenue"] - tot["herbal_revenue"]) * 100 / tot["med_revenue"]).quantize(
            Decimal("0.01"), rounding=ROUND_HALF_UP)
        assert Decimal(stored[fid]).quantize(Decimal("0.01")) == want, fid
        checked += 1
    assert checked >= 5


def test_foreign_files_are_rejected_and_the_run_goes_on(first_run):
    from warehouse.db import connect

    settings, region, result, _ = first_run
    assert result["scored"] > 0
    con = connect(settings.warehouse_path)
    try:
        got = {}
        for dest in FOREIGN.values():
            status, codes = con.execute(
                "SELECT s.status, list(DISTINCT f.code ORDER BY f.code) FROM submissions s "
                "LEFT JOIN findings f USING (submission_id) WHERE s.original_name = ? GROUP BY s.status",
                [f"{PERIOD}/{dest}"]).fetchone()
            got[dest] = (status, codes)
    finally:
        con.close()
    assert got == {"炸弹.xlsx": ("rejected", ["unsafe-xml"]),
                   "..%2F..%2Fetc%2Fpasswd.xlsx": ("rejected", ["unknown-template"]),
                   "空白.xlsx": ("rejected", ["unknown-format"]),
                   "旧格式.xls": ("rejected", ["unknown-template"])}
    # the archive holds every received file under its content hash (+ sniffed suffix), never its submitted name
    for p in settings.archive_dir.rglob("*"):
        assert p.is_dir() or p.stem == hashlib_name(p.read_bytes()), p


def hashlib_name(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def test_flow_records_stage_tasks_and_artifacts(first_run):
    """The Prefect run shows one task per stage and the summary / top-10 / findings artifacts."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        flow_runs = client.read_flow_runs()
        assert any(fr.name and fr.state and fr.state.is_completed() for fr in flow_runs)
        tasks = {t.name.rsplit("-", 1)[0] for t in client.read_task_runs()}
        keys = {a.key for a in client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=["monthly-summary", "top10-by-peer-group", "findings-by-severity"])))}
    assert {"discover", "archive-register", "parse-batch", "load-batch", "validate", "compute", "score",
            "report"} <= tasks
    assert keys == {"monthly-summary", "top10-by-peer-group", "findings-by-severity"}


def test_no_personal_names_or_diagnoses_leave_the_warehouse(first_run):
    """Prescriber/pharmacist names are pseudonymised on load; names and diagnoses appear in no output."""
    import glob

    from templates_xlsx.read import read_return
    from warehouse.db import connect

    settings, region, result, _ = first_run
    names, diagnoses = set(), set()
    own: dict[str, set] = {}   # facility code → the names in its own returns
    for path in sorted((region.inbox_dir / PERIOD).glob("*处方点评.xlsx")):
        parsed = read_return(path, path.name)
        for row in parsed.tables.get("review", []):
            for fld in ("prescriber", "pharmacist_review", "pharmacist_dispense"):
                names.add(row.cell(fld).value)
                own.setdefault(path.name.split("_")[0], set()).add(row.cell(fld).value)
            diagnoses.add(row.cell("diagnosis").value)
    names.discard(None)
    diagnoses.discard(None)
    if not names:
        pytest.skip("the demo region has no 处方点评表 (template not published)")
    con = connect(settings.warehouse_path)
    try:
        stored = {r[0] for r in con.execute(
            "SELECT DISTINCT coalesce(text, raw_text) FROM return_rows WHERE field IN "
            "('prescriber', 'pharmacist_review', 'pharmacist_dispense')").fetchall()}
        finding_values = {r[0] for r in con.execute("SELECT value FROM findings").fetchall()}
    finally:
        con.close()
    assert stored and all(s.startswith("P-") for s in stored) and not (stored & names)
    assert not (finding_values & names)
    texts = []
    feedback = settings.out_dir / PERIOD / "feedback"
    for path in glob.glob(str(settings.out_dir / "**" / "*"), recursive=True):
        p = Path(path)
        if p.is_relative_to(feedback) and p.suffix == ".xlsx":
            # a feedback workbook is the hospital's own return sent back to it alone: its own staff's names may be
            # in it, nobody else's
            fid = p.relative_to(feedback).parts[0]
            wb = openpyxl.load_workbook(p, read_only=True)
            cells = {c for ws in wb.worksheets for row in ws.iter_rows(values_only=True) for c in row
                     if isinstance(c, str)}
            assert not (cells & (names - own.get(fid, set()))), p
            continue
        if p.suffix == ".xlsx":
            wb = openpyxl.load_workbook(p, read_only=True)
            texts += [str(c) for ws in wb.worksheets for row in ws.iter_rows(values_only=True) for c in row
                      if isinstance(c, str)]
        elif p.suffix in (".html", ".json"):
            texts.append(p.read_text(encoding="utf-8", errors="ignore"))
    blob = "\n".join(texts)
    assert not [n for n in names if n in blob]
    assert not [d for d in diagnoses if len(d) > 2 and d in blob]


def test_rational_prescribing_sheet(first_run):
    """The 合理用药 sheet: AUD and rates vs targets, review indicators, the under-reporter flagged, the targeted
    sample skipped; the DDD未覆盖清单 lists what AUD could not count."""
    settings, region, result, _ = first_run
    wb = openpyxl.load_workbook(result["outputs"]["ranked"])
    if "合理用药" not in wb.sheetnames:
        pytest.skip("the demo region has no rational-prescribing returns (templates not published)")
    ws = wb["合理用药"]
    heads = [c.value for c in ws[3]]
    rows = [dict(zip(heads, r)) for r in ws.iter_rows(min_row=4, values_only=True) if r[0]]
    rows = [r for r in rows if not str(r["机构编码"]).startswith("说明")]
    # AUD needs the operations return's patient-days: a hospital whose return was rejected shows 未报
    auds = [r["HL01 抗菌药物使用强度（DDDs/百人天）"] for r in rows]
    assert sum(isinstance(a, float) for a in auds) >= len(rows) - 2 and set(auds) - {None} != {"未报"}
    checks = {r["交叉核查"] for r in rows}
    assert "异常：上报比例在置信区间外" in checks, checks  # the demo's under-reporting hospital
    assert any(r["抽样方式"] == "定向" for r in rows)
    unc = wb["DDD未覆盖清单"]
    names = {r[0] for r in unc.iter_rows(min_row=4, values_only=True) if r[0]}
    assert {"注射用头孢硫脒", "红霉素眼膏"} & names


def test_satisfaction_in_league_tables_and_its_sheets(first_run):
    """Satisfaction (MY01–MY03) scores in every league table's 满意度 section; the small-sample hospital is marked;
    the sheets hold aggregates only (no questionnaire row, no respondent id) and state the method."""
    from templates_xlsx.read import read_return
    from warehouse.db import connect

    settings, region, result, _ = first_run
    wb = openpyxl.load_workbook(result["outputs"]["ranked"])
    league = wb["排名-三级综合"]
    heads = [c.value for c in league[3]]
    assert "满意度得分" in heads and "MY01 门诊患者满意度（分）" in heads
    ws = wb["满意度"]
    heads = [c.value for c in ws[3]]
    rows = [dict(zip(heads, r)) for r in ws.iter_rows(min_row=4, values_only=True) if r[1]]
    assert {r["调查类型"] for r in rows} == {"MY01 门诊患者满意度", "MY02 住院患者满意度", "MY03 医务人员满意度"}
    small = {r["机构编码"] for r in rows if r["状态"] == "样本量不足"}
    con = connect(settings.warehouse_path)
    try:
        # the demo's small-sample hospital: fewer than 100 valid questionnaires over the rolling quarter (its
        # platform figure, where it has one, may still score it: precedence `platform`)
        [(n_small,)] = con.execute("SELECT count(DISTINCT facility_id) FROM satisfaction_scores WHERE period = ? "
                                   "AND survey_n_valid < 100", [PERIOD]).fetchall()
        # the scheme marks the same indicator small_sample, so its weight was redistributed
        marked = {f for (f,) in con.execute("SELECT facility_id FROM indicator_values WHERE period = ? AND "
                                            "indicator LIKE 'MY%' AND status = 'small_sample'", [PERIOD]).fetchall()}
    finally:
        con.close()
    assert small and n_small >= 1 and small <= marked
    assert any("未启用小样本收缩" in str(c.value) for c in ws["A"])
    # no respondent id of any questionnaire appears in any output workbook
    ids = set()
    for path in sorted((region.inbox_dir / PERIOD).glob("*满意度调查.xlsx"))[:5]:
        for tbl in read_return(path, path.name).tables.values():
            ids |= {r.cell("respondent_id").value for r in tbl}
    ids.discard(None)
    assert ids
    texts = "\n".join(str(c) for p in settings.out_dir.glob("**/排名报告_*.xlsx")
                      for s in openpyxl.load_workbook(p, read_only=True).worksheets
                      for row in s.iter_rows(values_only=True) for c in row if isinstance(c, str))
    assert not [i for i in ids if str(i) in texts]


def test_alliance_league_and_sheets(first_run):
    """Four 医共体 ranked on their own sheet, one sheet each with members and contributions adding up."""
    settings, region, result, _ = first_run
    wb = openpyxl.load_workbook(result["outputs"]["ranked"])
    ws = wb["医共体排名"]
    heads = [c.value for c in ws[3]]
    rows = [dict(zip(heads, r)) for r in ws.iter_rows(min_row=4, values_only=True) if r[1]]
    assert len(rows) == 4 and {r["状态"] for r in rows} == {"已评分"}
    assert sorted(r["排名"] for r in rows) == [1, 2, 3, 4]
    per = [n for n in wb.sheetnames if n.startswith("医共体-")]
    assert len(per) == 4
    sheet = wb[per[0]]
    values = [r for r in sheet.iter_rows(values_only=True)]
    assert any(r[0] == "二、成员单位（统计期内）" for r in values)
    assert any(r[3] == "县域" for r in values if r[0] and str(r[0]).startswith("YG"))


def test_validation_history_and_auditor_trail(first_run):
    """Every run keeps its findings in the history; the auditor workbook carries the trail sheets, and 评分溯源
    reaches a submitted cell for every scored facility."""
    settings, _, result, _ = first_run
    from warehouse.db import connect_read_only

    con = connect_read_only(settings.warehouse_path)
    try:
        runs = con.execute("SELECT count(DISTINCT run_id) FROM validation_runs WHERE period = ?", [PERIOD]).fetchone()
        n_now = con.execute("SELECT count(*) FROM findings WHERE period = ?", [PERIOD]).fetchone()[0]
        n_first = con.execute("SELECT n_findings FROM validation_runs WHERE run_id = ?",
                              [result["run_id"]]).fetchone()[0]
    finally:
        con.close()
    assert runs[0] >= 1 and n_first > 0 and n_now >= 1
    wb = openpyxl.load_workbook(settings.out_dir / PERIOD / f"审核报告_{PERIOD}.xlsx", read_only=True)
    assert {"审核状态", "规则通过率", "审核操作记录", "修订记录", "评分溯源"} <= set(wb.sheetnames)
    trace = list(wb["评分溯源"].iter_rows(min_row=2, values_only=True))
    assert trace and all(r[19] is None or "!" in r[19] for r in trace)
    assert len({r[0] for r in trace if r[19]}) >= result["scored"]  # not-scored facilities are traced too


def test_chase_workbook_completeness_and_assessment_run(first_run):
    """The 催报 workbook and the completeness sheet are written; the report names its labelled assessment run."""
    settings, _, result, _ = first_run
    chase = openpyxl.load_workbook(settings.out_dir / PERIOD / f"催报_{PERIOD}.xlsx", read_only=True)
    assert chase.sheetnames[0] == "催报清单"
    audit = openpyxl.load_workbook(settings.out_dir / PERIOD / f"审核报告_{PERIOD}.xlsx", read_only=True)
    levels = {r[0] for r in audit["完整性与及时性"].iter_rows(min_row=2, values_only=True)}
    assert {"机构", "区县", "全部"} <= levels
    wb = openpyxl.load_workbook(result["outputs"]["ranked"], read_only=True)
    notes = [r[0] for r in wb["说明"].iter_rows(values_only=True) if r and isinstance(r[0], str)]
    assert any(n.startswith(f"评分批次 {PERIOD}/2026/r") and "草稿" in n for n in notes), notes


def test_outlier_review_in_findings_and_auditor_workbook(first_run):
    """The quality stage stores the month's outliers ranked by impact and raises them on the submitted cells; the
    auditor workbook lists them in that order. A 元-for-万元 slip of the demo is caught as a magnitude slip."""
    settings, region, _, _ = first_run
    from warehouse.db import connect_read_only

    con = connect_read_only(settings.warehouse_path)
    try:
        n = con.execute("SELECT count(*) FROM quality_outliers WHERE period = ?", [PERIOD]).fetchone()[0]
        orders = [r[0] for r in con.execute("SELECT impact_order FROM quality_outliers WHERE period = ? AND "
                                            "impact_order IS NOT NULL ORDER BY impact_order", [PERIOD]).fetchall()]
        slips = {r[0] for r in con.execute(
            "SELECT s.original_name FROM findings f JOIN submissions s USING (submission_id) WHERE f.stage = 'quality' "
            "AND f.code = 'quality-magnitude-slip' AND f.cell IS NOT NULL").fetchall()}
        current = {r[0] for r in con.execute("SELECT original_name FROM submissions WHERE status = 'accepted'")
                   .fetchall()}
    finally:
        con.close()
    assert n > 0 and orders == list(range(1, len(orders) + 1))
    # a 元-for-万元 slip still current in the warehouse (not corrected by a resubmission) is caught as such
    yuan = {m["file"] for m in region.mistakes if m["kind"] == "yuan-not-wanyuan" and m["month"] == PERIOD}
    assert yuan & current <= slips
    wb = openpyxl.load_workbook(settings.out_dir / PERIOD / f"审核报告_{PERIOD}.xlsx", read_only=True)
    listed = [r[0] for r in wb["离群值"].iter_rows(min_row=2, values_only=True)]
    assert len(listed) == n and [x for x in listed if x is not None] == orders


def test_explain_on_a_demo_facility_reaches_a_cell(first_run):
    """`jixiao explain` on a scored demo facility: grade ← composite ← points ← value ← fields ← file ← sheet!cell."""
    import re

    settings, _, _, _ = first_run
    from warehouse.db import connect_read_only
    from warehouse.explain import explain

    con = connect_read_only(settings.warehouse_path)
    try:
        fid = con.execute("SELECT min(facility_id) FROM composites WHERE period = ? AND scheme_version = '2026' AND "
                          "status = 'scored'", [PERIOD]).fetchone()[0]
        lines = explain(con, fid, PERIOD, "2026", "YP01")
    finally:
        con.close()
    assert lines[1].startswith("等级 ") and "← 综合得分 " in lines[1]
    assert any(ln.startswith("  ← YP01 药占比：得分 ") for ln in lines)
    assert any(re.search(r"← \S+\.xlsx（版本 \d+，sha256 [0-9a-f]{64}，接收 .+）← 运营与药品!E\d+$", ln) for ln in lines), lines
