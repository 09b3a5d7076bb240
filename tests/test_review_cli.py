"""`jixiao diff`, `jixiao review …` and `jixiao explain` on a real warehouse file: exact output, read-only opening,
and a plain message (not a lock trace) while another process holds the write lock."""
from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from warehouse.db import connect

PERIOD = "2026-09"
T0 = dt.datetime(2026, 10, 8, 9, 0)


def _sub(con, sid: str, received: dt.datetime, status: str, values: dict) -> None:
    con.execute("INSERT INTO submissions (submission_id, sha256, original_name, inbox_period, facility_id, period, "
                "template_id, template_version, received_at, received_source, status, parsed) VALUES "
                "(?, ?, ?, ?, 'F001', ?, 'JX-YB01', '2026.1', ?, 'manifest', ?, TRUE)",
                [sid, sid * 8, f"{sid}.xlsx", PERIOD, PERIOD, received, status])
    cells = {"oe_visits": "E8", "discharges": "E9"}
    for field, v in values.items():
        con.execute("INSERT INTO return_values VALUES (?, ?, ?, ?, '运营与药品', ?, 'ok')", [sid, field, v, str(v),
                                                                                          cells[field]])


@pytest.fixture()
def home(tmp_path: Path) -> dict[str, str]:
    con = connect(tmp_path / "var" / "warehouse.duckdb")
    con.execute("INSERT INTO facilities (facility_id, valid_from, name, tier, ftype) VALUES "
                "('F001', '2020-01-01', '市第一人民医院', '三级', '综合')")
    _sub(con, "aaaa", T0, "superseded", {"oe_visits": 1000.0, "discharges": 50.0})
    _sub(con, "bbbb", T0 + dt.timedelta(days=1), "accepted", {"oe_visits": 1200.0, "discharges": 50.0})
    con.close()
    return {"JIXIAO_HOME": str(tmp_path / "var"), "JIXIAO_OUT": str(tmp_path / "out")}


def _cli(args: list[str], env: dict[str, str]):
    return CliRunner().invoke(app, args, env=env)


def test_diff_prints_the_changed_cells(home):
    r = _cli(["diff", "--facility", "F001", "--period", PERIOD], home)
    assert r.exit_code == 0, r.output
    assert r.output.splitlines() == [
        "机构 F001，统计期 2026-09",
        "报表 JX-YB01：共 2 个版本",
        "  版本 1：aaaa.xlsx（sha256 aaaaaaaaaaaa，接收 2026-10-08 09:00:00，已被替代）",
        "  版本 2：bbbb.xlsx（sha256 bbbbbbbbbbbb，接收 2026-10-09 09:00:00，当前版本）",
        "  版本 1 → 版本 2：1 处修改",
        "    运营与药品!E8  oe_visits 「门急诊人次」：1000 → 1200",
    ]


def test_review_commands(home):
    r = _cli(["review", "list", "--period", PERIOD], home)
    assert r.output.splitlines() == ["统计期 2026-09：1 份报表", "F001  JX-YB01  bbbb  待审  错误 0  警告 0"]
    r = _cli(["review", "return", "bbbb", "--reason", "请核实门急诊人次", "--by", "张审核"], home)
    assert (r.exit_code, r.output) == (0, "报送 bbbb：待审 → 退回，依据 0 条问题\n")
    r = _cli(["review", "return", "bbbb", "--reason", "再退", "--by", "张审核"], home)
    assert (r.exit_code, r.output) == (1, "报送 bbbb 当前为「退回」，不能改为「退回」\n")
    r = _cli(["review", "approve", "aaaa", "--by", "张审核"], home)
    assert (r.exit_code, r.output) == (1, "报送 aaaa（aaaa.xlsx）状态为「已被替代」，只能审核当前有效版本\n")
    r = _cli(["review", "correct", "--facility", "F001", "--period", PERIOD, "--field", "oe_visits", "--value",
              "1180", "--reason", "医院来函", "--by", "李科长"], home)
    assert (r.exit_code, r.output) == (0, "已更正 F001 2026-09 oe_visits（运营与药品!E8）：1200 → 1180\n")
    r = _cli(["review", "list", "--period", PERIOD], home)
    line = r.output.splitlines()[1]  # the review time is the clock's: only its shape is fixed
    assert line.startswith("F001  JX-YB01  bbbb  退回  错误 0  警告 0  （张审核 ") and line.endswith("：请核实门急诊人次）")


def test_missing_warehouse_is_a_plain_message(tmp_path):
    env = {"JIXIAO_HOME": str(tmp_path / "none"), "JIXIAO_OUT": str(tmp_path / "out")}
    r = _cli(["diff", "--facility", "F001", "--period", PERIOD], env)
    assert r.exit_code == 2
    assert r.output == (f"尚无数据仓库 {tmp_path / 'none' / 'warehouse.duckdb'}：请先运行 `jixiao run --period YYYY-MM "
                        f"--inbox 目录`（或 `make demo`）。\n")


def test_locked_warehouse_is_a_plain_message(home):
    path = Path(home["JIXIAO_HOME"]) / "warehouse.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", f"import duckdb, sys, time\ncon = duckdb.connect({str(path)!r})\n"
                               "print('locked', flush=True)\ntime.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        busy = (f"数据仓库 {path} 正被另一进程（通常是正在运行的月度任务）占用写锁，暂时无法读取。"
                f"请待该任务结束后重试（可用 `ps` 查看 jixiao run 是否仍在运行）。\n")
        for args in (["diff", "--facility", "F001", "--period", PERIOD],
                     ["explain", "--facility", "F001", "--period", PERIOD],
                     ["review", "approve", "bbbb"]):
            r = _cli(args, home)
            assert (r.exit_code, r.output) == (2, busy), args
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.2)
    r = _cli(["diff", "--facility", "F001", "--period", PERIOD], home)
    assert r.exit_code == 0
