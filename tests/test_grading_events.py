"""A method scheme's veto and bonus events come from the bureau's register (grading_events), and improvement scoring
reads the baseline period's stored values — on a real warehouse, through the real grading."""
from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from metrics.grading.scheme import load_assessment
from warehouse.compute import compute_period, score_period
from warehouse.db import connect
from warehouse.grading import baseline_observations, period_events, record_event

from test_grading_warehouse import MONTH, PERIOD

# ten tertiary general hospitals, drug revenue 300 … 390 (YP01 27 … 36 %): enough for k-means (min group size 8)
DRUG = {f"G{i:02d}": 300 + 10 * i for i in range(10)}
T = dt.datetime(2026, 10, 12, 9, 0)


@pytest.fixture
def con(tmp_path: Path):
    c = connect(tmp_path / "var" / "warehouse.duckdb")
    for fid, drug in DRUG.items():
        c.execute("INSERT INTO facilities (facility_id, valid_from, name, tier, ftype) VALUES (?, DATE '2020-01-01', "
                  "?, '三级', '综合')", [fid, f"{fid}医院"])
        for month, d in ((PERIOD, drug), ("2026-08", drug + 20)):
            sid = f"{fid}-{month}"
            c.execute("INSERT INTO submissions (submission_id, sha256, original_name, facility_id, period, template_id,"
                      " received_at, received_source, status, parsed) VALUES (?, ?, ?, ?, ?, 'JX-YB01', ?, 'manifest', "
                      "'accepted', TRUE)", [sid, sid, f"{sid}.xlsx", fid, month, T])
            c.executemany("INSERT INTO return_values VALUES (?, ?, ?, ?, '运营与药品', 'E6', 'ok')",
                          [[sid, f, v, str(v)] for f, v in (MONTH | {"drug_revenue": d}).items()])
    yield c
    c.close()


def _one_group_std():
    """2026_std with eligibility relaxed to one indicator group: these returns carry only the operations group."""
    std = load_assessment("2026_std")
    return dataclasses.replace(std, method=dataclasses.replace(
        std.method, eligibility=dataclasses.replace(std.method.eligibility, min_groups=1, min_indicators=1)))


def _grades(con) -> dict[str, str]:
    scheme = _one_group_std()
    compute_period(con, PERIOD, scheme)
    score_period(con, PERIOD, scheme)
    return dict(con.execute("SELECT facility_id, grade FROM composites WHERE period = ? AND scheme_version = ?",
                            [PERIOD, scheme.version]).fetchall())


def test_a_recorded_veto_caps_the_grade(con):
    before = _grades(con)
    best = "G00"   # the lowest drug share: the best grade of the group
    assert before[best] == "优秀"
    std = _one_group_std()
    bad = record_event(con, PERIOD, best, "fire_drill", "演练", "李科长", std)
    assert bad.message_zh == "方案 2026_std 的否决项与加分项没有事件「fire_drill」；可用：major_safety_incident（V01 发生重大医疗安全责任事件）"
    ok = record_event(con, PERIOD, best, "major_safety_incident", "卫医罚〔2026〕12号", "李科长", std, now=T)
    assert ok.ok and ok.message_zh == ("已登记 G00 2026-09 事件 major_safety_incident（V01 发生重大医疗安全责任事件）；"
                                       "重新运行该期评分后生效")
    assert [e.code for e in period_events(con, load_period())] == ["major_safety_incident"]
    after = _grades(con)
    assert after[best] == "不合格"                      # capped whatever its score
    assert {f: g for f, g in after.items() if f != best} == {f: g for f, g in before.items() if f != best}


def test_event_cli(con, tmp_path):
    con.close()
    env = {"JIXIAO_HOME": str(tmp_path / "var"), "JIXIAO_OUT": str(tmp_path / "out")}
    r = CliRunner().invoke(app, ["scheme", "event", "--period", PERIOD, "--facility", "G03", "--code",
                                 "major_safety_incident", "--note", "通报", "--by", "李科长"], env=env)
    assert r.exit_code == 0 and r.output.startswith("已登记 G03 2026-09 事件 major_safety_incident")
    r = CliRunner().invoke(app, ["scheme", "event", "--period", PERIOD, "--facility", "G03", "--code", "x",
                                 "--note", "n", "--scheme", "2026"], env=env)
    assert (r.exit_code, r.output) == (2, "方案 2026 为扣分法方案，没有否决项与加分项\n")


def test_improvement_reads_the_previous_period(con):
    std = _one_group_std()
    assert baseline_observations(con, load_period(), std) == []      # no item scores improvement in 2026_std
    items = tuple(dataclasses.replace(it, score="improvement") if it.indicator == "YP01" else it
                  for it in std.method.items)
    imp = dataclasses.replace(std, method=dataclasses.replace(std.method, items=items))
    compute_period(con, "2026-08", imp)
    base = baseline_observations(con, load_period(), imp)
    # August's YP01 = (drug + 20 − 30) / 1000: two points above September's for every hospital
    assert {o.facility_id: o.value for o in base if o.indicator == "YP01"}["G00"] == 29
    compute_period(con, PERIOD, imp)
    score_period(con, PERIOD, imp)
    detail = con.execute("SELECT detail FROM scores WHERE period = ? AND facility_id = 'G05' AND indicator = 'YP01' "
                         "AND scheme_version = ?", [PERIOD, imp.version]).fetchone()[0]
    assert "改善" in detail or "基期" in detail, detail


def load_period():
    from metrics.periods import parse_period

    return parse_period(PERIOD)
