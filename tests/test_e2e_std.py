"""The monthly flow under the standardised, clustered scheme (2026_std, issue 6): it runs, grades through
metrics.grading, and the ranked workbook's 说明 sheet names the scheme and its method."""
from __future__ import annotations

import os

import openpyxl
import pytest

from flows.settings import Settings

PERIOD = "2026-10"


@pytest.fixture(scope="module")
def std_run(tmp_path_factory, prefect_harness):
    root = tmp_path_factory.mktemp("e2e_std")
    old = {k: os.environ.get(k) for k in ("JIXIAO_HOME", "JIXIAO_OUT")}
    os.environ["JIXIAO_HOME"] = str(root / "var")
    os.environ["JIXIAO_OUT"] = str(root / "out")
    from flows.monthly import monthly_assessment
    from templates_xlsx.build import build_templates
    from templates_xlsx.demo import generate_region
    from warehouse.baseline import import_baseline
    from warehouse.db import connect
    from warehouse.registry import import_registry

    try:
        settings = Settings.from_env()
        build_templates()
        region = generate_region(root / "region", facilities=12, period=PERIOD, seed=7, months=2)
        con = connect(settings.warehouse_path)
        import_registry(con, region.registry_path)
        import_baseline(con, region.baseline_path)
        con.close()
        yield settings, monthly_assessment(period=PERIOD, inbox=str(region.inbox_dir), scheme="2026_std")
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_flow_grades_under_2026_std(std_run):
    settings, result = std_run
    from warehouse.db import connect

    con = connect(settings.warehouse_path)
    try:
        versions = {r[0] for r in con.execute("SELECT DISTINCT scheme_version FROM composites WHERE period = ?",
                                              [PERIOD]).fetchall()}
        stats = con.execute("SELECT count(*) FROM grading_stats WHERE period = ? AND scheme_version = '2026_std'",
                            [PERIOD]).fetchone()[0]
    finally:
        con.close()
    assert "2026_std" in versions and stats > 0


def test_notes_sheet_names_scheme_and_method(std_run):
    _, result = std_run
    wb = openpyxl.load_workbook(result["outputs"]["ranked"], read_only=True)
    text = [str(c) for row in wb["说明"].iter_rows(values_only=True) for c in row if c is not None]
    wb.close()
    assert "2026_std" in text  # 考核方案版本
    assert any(t.startswith("考核方案：") and "（版本 2026_std），标准化评分方法（metrics.grading）" in t for t in text)
    assert any(t.startswith("评级：同组内按综合得分一维 k 均值聚类，k = 4") for t in text)
    assert any(t.startswith("截尾：先按同组第 1 与第 99 百分位数截尾") for t in text)
