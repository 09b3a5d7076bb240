"""Assessment runs: draft → review → published, disputes, the frozen period holding late returns until a reopen,
reproducibility (same inputs → identical results, no new run) and a new scheme version as a new labelled run."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from warehouse import publication as pub
from warehouse.compute import compute_period, score_period
from warehouse.db import connect

from test_grading_warehouse import DRUG, MONTH, PERIOD  # 6 tertiary general hospitals, one month

T = dt.datetime(2026, 10, 20, 9, 0)


def _return(con, sid: str, fid: str, drug: float, day: int = 5) -> None:
    con.execute("INSERT INTO submissions (submission_id, sha256, original_name, facility_id, period, template_id, "
                "received_at, received_source, status, parsed) VALUES (?, ?, ?, ?, ?, 'JX-YB01', ?, 'manifest', "
                "'accepted', TRUE)", [sid, f"{sid}-sha", f"{sid}.xlsx", fid, PERIOD, dt.datetime(2026, 10, day, 9)])
    con.executemany("INSERT INTO return_values VALUES (?, ?, ?, ?, '运营与药品', 'E6', 'ok')",
                    [[sid, f, v, str(v)] for f, v in (MONTH | {"drug_revenue": drug}).items()])


def _score(con, scheme: str = "2026") -> pub.RunRecord:
    compute_period(con, PERIOD, scheme)
    score_period(con, PERIOD, scheme)
    return pub.record_run(con, PERIOD, scheme, now=T)


@pytest.fixture
def con(tmp_path: Path):
    c = connect(tmp_path / "w.duckdb")
    for fid, drug in DRUG.items():
        c.execute("INSERT INTO facilities (facility_id, valid_from, name, tier, ftype) VALUES (?, DATE '2020-01-01', "
                  "?, '三级', '综合')", [fid, f"{fid}医院"])
        _return(c, f"{fid}-a", fid, drug)
    yield c
    c.close()


def test_lifecycle(con):
    r1 = _score(con)
    assert (r1.label, r1.state, r1.created) == ("2026-09/2026/r1", "draft", True)
    # a rerun over the same inputs is the same run
    assert _score(con) == pub.RunRecord("2026-09/2026/r1", PERIOD, "2026", "draft", False)
    # disputes only in review; publishing only from review
    assert pub.raise_dispute(con, PERIOD, "2026", "H3", "YP01", "药品收入含代管药房", "李科长").message_zh == \
        "统计期 2026-09 方案 2026 不在审阅期，不能登记异议"
    assert not pub.publish(con, PERIOD, "2026", "王处长").ok
    out = pub.start_review(con, PERIOD, "2026", "张审核", now=T)
    assert (out.ok, out.message_zh) == (True, "2026-09/2026/r1：草稿 → 审阅中")
    d = pub.raise_dispute(con, PERIOD, "2026", "H3", "YP01", "药品收入含代管药房", "李科长", now=T)
    assert d.ok
    assert pub.publish(con, PERIOD, "2026", "王处长").message_zh == "2026-09/2026/r1 仍有 1 项异议未处理，处理后才能发布"
    assert pub.decide_dispute(con, d.record_id, "维持原结果：代管药房收入按规定计入", "王处长", now=T).ok
    out = pub.publish(con, PERIOD, "2026", "王处长", now=T)
    assert out.message_zh == "2026-09/2026/r1 已发布；统计期 2026-09 已冻结，此后收到的报表将暂挂"
    frozen = con.execute("SELECT facility_id, composite, grade FROM published_composites WHERE label = ? "
                         "ORDER BY facility_id", [r1.label]).fetchall()
    assert len(frozen) == 6
    assert con.execute("SELECT count(*) FROM assessment_inputs WHERE label = ?", [r1.label]).fetchone() == (6,)

    # a resubmission after publication is held: not current, not scored
    _return(con, "H3-b", "H3", 500.0, day=25)
    assert pub.hold_late_returns(con, ["H3-b", "H3-a"]) == 1
    assert con.execute("SELECT submission_id, status FROM submissions WHERE facility_id = 'H3' ORDER BY 1"
                       ).fetchall() == [("H3-a", "accepted"), ("H3-b", "held")]
    # scoring the period again with the same inputs gives identical results and no new run
    again = _score(con)
    assert (again.label, again.state, again.created, again.identical_to) == (r1.label, "published", False, r1.label)

    # a new scheme version is a new, labelled run beside it; the published results are untouched
    std = _score(con, "2026_std")
    assert (std.label, std.state, std.created) == ("2026-09/2026_std/r1", "draft", True)
    assert con.execute("SELECT facility_id, composite, grade FROM published_composites WHERE label = ? "
                       "ORDER BY facility_id", [r1.label]).fetchall() == frozen

    # reopening is recorded; the held return becomes a candidate again and a re-score is a new run r2
    assert pub.reopen(con, PERIOD, "王处长", "").message_zh == "重新开放须填写原因（--reason）和操作人（--by）"
    out = pub.reopen(con, PERIOD, "王处长", "H3 来函更正药品收入", now=T)
    assert out.message_zh == "统计期 2026-09 已重新开放（H3 来函更正药品收入）；1 份暂挂报表将在下次运行月度流程时校验并计入"
    assert con.execute("SELECT reopened_by, reopen_reason FROM period_locks").fetchall() == \
        [("王处长", "H3 来函更正药品收入")]
    con.execute("UPDATE submissions SET status = 'superseded' WHERE submission_id = 'H3-a'")
    con.execute("UPDATE submissions SET status = 'accepted' WHERE submission_id = 'H3-b'")
    r2 = _score(con)
    assert (r2.label, r2.state, r2.created, r2.identical_to) == ("2026-09/2026/r2", "draft", True, None)
    assert [(r["label"], r["state"]) for r in pub.runs(con, PERIOD)] == [
        ("2026-09/2026/r1", "published"), ("2026-09/2026/r2", "draft"), ("2026-09/2026_std/r1", "draft")]
    assert con.execute("SELECT facility_id, composite, grade FROM published_composites WHERE label = ? "
                       "ORDER BY facility_id", [r1.label]).fetchall() == frozen


def test_review_refused_when_results_changed_after_scoring(con):
    _score(con)
    con.execute("UPDATE composites SET reason = 'edited by hand' WHERE facility_id = 'H1'")
    out = pub.start_review(con, PERIOD, "2026", "张审核")
    assert out.message_zh == "2026-09/2026/r1 生成后评分结果已被重新计算，请重新运行月度流程生成新的评分结果"
