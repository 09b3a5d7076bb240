"""`jixiao publish …` on a real warehouse: review writes each facility's preview (own rows only; peer medians only
for groups of at least 5), disputes and publish, and the status listing."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from flows.cli import app
from warehouse import publication as pub
from warehouse.compute import compute_period, score_period
from warehouse.db import connect

from test_grading_warehouse import DRUG, MONTH, PERIOD


def _home(tmp_path: Path, facilities: dict[str, float]) -> dict[str, str]:
    con = connect(tmp_path / "var" / "warehouse.duckdb")
    for fid, drug in facilities.items():
        con.execute("INSERT INTO facilities (facility_id, valid_from, name, tier, ftype) VALUES (?, DATE '2020-01-01', "
                    "?, '三级', '综合')", [fid, f"{fid}医院"])
        sid = f"{fid}-a"
        con.execute("INSERT INTO submissions (submission_id, sha256, original_name, facility_id, period, template_id, "
                    "received_at, received_source, status, parsed) VALUES (?, ?, ?, ?, ?, 'JX-YB01', ?, 'manifest', "
                    "'accepted', TRUE)", [sid, sid, f"{sid}.xlsx", fid, PERIOD, dt.datetime(2026, 10, 5, 9)])
        con.executemany("INSERT INTO return_values VALUES (?, ?, ?, ?, '运营与药品', 'E6', 'ok')",
                        [[sid, f, v, str(v)] for f, v in (MONTH | {"drug_revenue": drug}).items()])
    compute_period(con, PERIOD, "2026")
    score_period(con, PERIOD, "2026")
    pub.record_run(con, PERIOD, "2026")
    con.close()
    return {"JIXIAO_HOME": str(tmp_path / "var"), "JIXIAO_OUT": str(tmp_path / "out")}


def _cli(args, env):
    return CliRunner().invoke(app, args, env=env)


def _preview(tmp_path: Path, fid: str) -> dict:
    path = tmp_path / "out" / PERIOD / "preview" / fid / f"{fid}_{PERIOD}_2026_评分预览.xlsx"
    ws = openpyxl.load_workbook(path)["评分预览"]
    rows = list(ws.iter_rows(values_only=True))
    head = {r[0]: r[1] for r in rows[:12]}
    table = {r[0]: r for r in rows[14:]}
    return {"head": head, "table": table, "text": repr(rows)}


def test_review_previews_and_publish(tmp_path):
    env = _home(tmp_path, DRUG)
    r = _cli(["publish", "review", "--period", PERIOD, "--by", "张审核"], env)
    assert r.exit_code == 0, r.output
    assert r.output == f"{PERIOD}/2026/r1：草稿 → 审阅中；评分预览 6 份：{tmp_path / 'out' / PERIOD / 'preview'}\n"
    p = _preview(tmp_path, "H3")
    assert p["head"]["机构编码"] == "H3" and p["head"]["评分批次"] == "2026-09/2026/r1"
    # YP01 (drug − herbal) / medical revenue: 27, 29, 31, 33, 35, 37 % → H3 31 %; group median 32.00 (6 ≥ 5)
    assert p["table"]["YP01"][2] == 31.0 and p["table"]["YP01"][6] == 32.0
    # nothing of another facility: no other code appears anywhere in H3's preview
    assert not any(f"H{i}" in p["text"] for i in (1, 2, 4, 5, 6))
    r = _cli(["publish", "dispute", "--period", PERIOD, "--facility", "H3", "--indicator", "YP01", "--claim",
              "药品收入含代管药房", "--by", "李科长"], env)
    assert r.exit_code == 0 and r.output.startswith("已登记异议 ")
    did = r.output.split()[1].split("（")[0]
    assert _cli(["publish", "publish", "--period", PERIOD, "--by", "王处长"], env).output == \
        "2026-09/2026/r1 仍有 1 项异议未处理，处理后才能发布\n"
    assert _cli(["publish", "decide", did, "--decision", "维持", "--by", "王处长"], env).exit_code == 0
    r = _cli(["publish", "publish", "--period", PERIOD, "--by", "王处长"], env)
    assert r.output == "2026-09/2026/r1 已发布；统计期 2026-09 已冻结，此后收到的报表将暂挂\n"
    lines = _cli(["publish", "status", "--period", PERIOD], env).output.splitlines()
    assert lines[0] == "统计期 2026-09"
    assert lines[1].startswith("  2026-09/2026/r1  已发布  ")
    assert lines[2].endswith("：药品收入含代管药房 → 维持")
    assert lines[3] == "  已冻结月份：2026-09"


def test_small_group_preview_hides_peer_medians(tmp_path):
    env = _home(tmp_path, {k: DRUG[k] for k in ("H1", "H2", "H3", "H4")})
    assert _cli(["publish", "review", "--period", PERIOD], env).exit_code == 0
    p = _preview(tmp_path, "H2")
    assert p["table"]["YP01"][6] == "少于 5 家，不显示"
    assert p["head"]["同组综合得分中位数"] == "同组有效机构少于 5 家，不予显示"
