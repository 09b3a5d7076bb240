"""The `jixiao` CLI as a user runs it: help on every command, exit codes, and a demo run with empty stderr."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
JIXIAO = [sys.executable, "-m", "flows.cli"]
COMMANDS = [[], ["run"], ["demo"], ["templates"], ["templates", "build"], ["registry"], ["registry", "import"],
            ["baseline"], ["baseline", "import"], ["scheme"], ["scheme", "check"], ["explain"]]


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(JIXIAO_HOME=str(tmp_path / "var"), JIXIAO_OUT=str(tmp_path / "out"), COLUMNS="100")
    return env


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: " ".join(c) or "jixiao")
def test_every_command_has_help(cmd, tmp_path):
    out = subprocess.run(JIXIAO + cmd + ["--help"], capture_output=True, text=True, env=_env(tmp_path), cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert "Usage:" in out.stdout and out.stderr == ""


def test_bad_period_is_a_usage_error(tmp_path):
    out = subprocess.run(JIXIAO + ["run", "--period", "2026-13", "--inbox", str(tmp_path)], capture_output=True,
                         text=True, env=_env(tmp_path), cwd=REPO)
    assert (out.returncode, out.stdout.strip(), out.stderr) == (
        2, "统计期格式错误：2026-13（应为 YYYY-MM、YYYY-Qn 或 YYYY）", "")


def _tables(home: Path) -> dict[str, list[tuple]]:
    import duckdb

    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        names = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                           "WHERE table_schema = 'main'").fetchall()]
        return {t: sorted(con.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in names
                if t not in ("runs", "validation_runs", "findings_history")}  # appended to by every run, by design
    finally:
        con.close()


def test_demo_run_completes_with_empty_stderr(tmp_path):
    """Fresh state dir (Prefect migrates its DB): the summary is printed, reports exist, stderr stays empty.

    Then `jixiao demo` again: every table but `runs` is identical.
    """
    cmd = JIXIAO + ["demo", "--facilities", "16", "--out", str(tmp_path / "region")]
    out = subprocess.run(cmd, capture_output=True, text=True, env=_env(tmp_path), cwd=tmp_path, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stderr == ""
    lines = out.stdout.splitlines()
    summary = next(line for line in lines if line.startswith("统计期 2026-10："))
    assert "应报" in summary and "已报" in summary and "参与评分" in summary
    assert any(line.startswith("问题：错误 ") for line in lines)
    ranked = tmp_path / "out" / "2026-10" / "排名报告_2026-10.xlsx"
    assert f"排名报告：{ranked}" in lines
    assert ranked.is_file()
    assert (tmp_path / "out" / "2026-10" / "审核报告_2026-10.xlsx").is_file()
    assert (tmp_path / "out" / "2026-10" / "data_docs" / "index.html").is_file()
    assert (tmp_path / "var" / "prefect").is_dir(), "Prefect state stays inside JIXIAO_HOME"
    first = _tables(tmp_path / "var")
    again = subprocess.run(cmd, capture_output=True, text=True, env=_env(tmp_path), cwd=tmp_path, timeout=600)
    assert (again.returncode, again.stderr) == (0, "")
    assert _tables(tmp_path / "var") == first
