"""`jixiao check FILE`: a hospital's self-check — exact output, exit codes, the warehouse untouched, no Prefect,
and a plain message while a monthly run holds the warehouse's write lock."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from flows.cli import app

PERIOD = "2026-10"
TARGET = "JZ0002"
REPO = Path(__file__).resolve().parents[1]
BUSY = ("数据仓库 {path} 正被另一进程（通常是正在运行的月度任务）占用写锁，暂时无法读取。"
        "请待该任务结束后重试（可用 `ps` 查看 jixiao run 是否仍在运行）。\n")


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A warehouse holding only the demo registry (as after `jixiao registry import`), and a return with two
    known mistakes: 药品收入合计 600 ≠ 300.25 + 200.5, and text in 门诊处方总数."""
    from templates_xlsx.demo import generate_region
    from warehouse.db import connect
    from warehouse.registry import import_registry

    root = tmp_path_factory.mktemp("check")
    reg = generate_region(root / "region", facilities=12, period=PERIOD, seed=7, months=1, survey_months=0,
                          templates={"JX-YB01"})
    assert TARGET not in {m["facility_id"] for m in reg.mistakes}  # its return is clean as generated
    con = connect(root / "var" / "warehouse.duckdb")
    import_registry(con, reg.registry_path)
    con.close()
    src = next((reg.inbox_dir / PERIOD).glob(f"{TARGET}_*.xlsx"))
    wb = openpyxl.load_workbook(src)
    ws = wb["运营与药品"]
    ws["E14"], ws["E16"], ws["E17"], ws["E29"] = 300.25, 200.5, 600, "约300"
    bad = root / "本院10月月报.xlsx"
    wb.save(bad)
    return root, bad, src


def _env(root: Path, **kw: str) -> dict[str, str]:
    return {"JIXIAO_HOME": str(root / "var"), "JIXIAO_OUT": str(root / "out"), **kw}


def _digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_check_prints_the_two_mistakes_and_exits_1(home):
    root, bad, _ = home
    wh = root / "var" / "warehouse.duckdb"
    before = (_digest(wh), wh.stat().st_mtime_ns)
    r = CliRunner().invoke(app, ["check", str(bad), "--period", PERIOD], env=_env(root))
    out_file = root / "out" / "check" / f"{TARGET}_卫健绩效01表_{PERIOD}_反馈.xlsx"
    assert r.output == (
        f"检查文件：本院10月月报.xlsx（机构编码 {TARGET}，统计期 {PERIOD}，模板 JX-YB01）\n"
        "问题 2 条：错误 2，警告 0，提示 0\n"
        "  [错误] sum-mismatch 运营与药品!E17 「药品收入合计」600 不等于 门急诊药品收入、住院药品收入 之和 500.75。\n"
        "  [错误] value-not-number 运营与药品!E29 「门诊处方总数」填写的「约300」不是数值。\n"
        f"标注后的工作簿：{out_file}\n")
    assert r.exit_code == 1
    # the same annotated workbook a hospital gets as feedback
    wb = openpyxl.load_workbook(out_file)
    marked = {(ws.title, c.coordinate) for ws in wb.worksheets for row in ws.iter_rows() for c in row
              if c.comment is not None and c.comment.author == "jixiao"}
    assert marked == {("运营与药品", "E17"), ("运营与药品", "E29")}
    # the warehouse was opened read-only: not a byte changed, not even touched
    assert (_digest(wh), wh.stat().st_mtime_ns) == before


def test_clean_return_exits_0(home):
    root, _, src = home
    r = CliRunner().invoke(app, ["check", str(src), "--out", str(root / "clean")], env=_env(root))
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[1] == "问题 0 条：错误 0，警告 0，提示 0"


def test_without_a_warehouse_facility_checks_are_skipped(home, tmp_path):
    _, bad, _ = home
    r = CliRunner().invoke(app, ["check", str(bad)], env=_env(tmp_path))
    assert r.output.splitlines()[:2] == [
        f"检查文件：本院10月月报.xlsx（机构编码 未核对，统计期 {PERIOD}，模板 JX-YB01）",
        "说明：尚无数据仓库（机构名录），未核对机构编码与名称。"]
    assert "facility-unknown" not in r.output
    assert r.exit_code == 1
    assert not (tmp_path / "var").exists()  # nothing created where the warehouse would be


def test_bad_arguments_exit_2(home, tmp_path):
    root, bad, _ = home
    r = CliRunner().invoke(app, ["check", str(bad), "--period", "2026-13"], env=_env(root))
    assert (r.output, r.exit_code) == ("统计期格式错误：2026-13（应为 YYYY-MM）\n", 2)
    r = CliRunner().invoke(app, ["check", str(tmp_path / "无此文件.xlsx")], env=_env(root))
    assert (r.output, r.exit_code) == (f"文件不存在：{tmp_path / '无此文件.xlsx'}\n", 2)


def test_busy_warehouse_is_said_plainly(home):
    """Another process holds the write lock (as a monthly run does): one plain sentence, exit 2, no trace."""
    root, bad, _ = home
    wh = root / "var" / "warehouse.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time\n"
         f"con = duckdb.connect({str(wh)!r})\nprint('locked', flush=True)\ntime.sleep(120)\n"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        r = CliRunner().invoke(app, ["check", str(bad)], env=_env(root))
    finally:
        holder.kill()
        holder.wait()
    assert (r.output, r.exit_code) == (BUSY.format(path=wh), 2)


def test_check_runs_without_prefect(home, tmp_path):
    root, bad, _ = home
    code = ("import sys\nfrom pathlib import Path\nfrom flows.check import check_file\nfrom flows.settings import "
            "Settings\n"
            f"r = check_file(Path({str(bad)!r}), Path({str(tmp_path)!r}), Settings.from_env(), {PERIOD!r})\n"
            "print(r.n_errors, r.workbook.name, 'prefect' in sys.modules)\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")} | _env(root)
    p = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout == f"2 {TARGET}_卫健绩效01表_{PERIOD}_反馈.xlsx False\n"


def test_check_has_help(tmp_path):
    out = subprocess.run([sys.executable, "-m", "flows.cli", "check", "--help"], capture_output=True, text=True,
                         cwd=REPO, env={k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
                         | _env(tmp_path, COLUMNS="100"))
    assert out.returncode == 0 and out.stderr == ""
    assert "Usage:" in out.stdout and "报送前自查一份报表" in out.stdout
