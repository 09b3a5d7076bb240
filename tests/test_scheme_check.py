"""`jixiao scheme check FILE` (issue 6 §2): exact output and exit code on good and broken scheme files."""
from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from flows.cli import app

SCHEMES = Path(__file__).resolve().parents[1] / "metrics" / "catalog" / "schemes"
runner = CliRunner()


def _check(path: Path) -> tuple[int, str]:
    r = runner.invoke(app, ["scheme", "check", str(path)])
    return r.exit_code, r.output


def _write(tmp_path: Path, name: str, doc: dict) -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return p


def _std() -> dict:
    return yaml.safe_load((SCHEMES / "2026_std.yaml").read_text(encoding="utf-8"))


def _points() -> dict:
    return yaml.safe_load((SCHEMES / "2026.yaml").read_text(encoding="utf-8"))


def test_method_scheme_passes(tmp_path):
    p = _write(tmp_path, "std.yaml", _std())
    assert _check(p) == (0, f"方案校验通过：{p}（版本 2026_std，标准化评分，6 个同组类别，28 项指标，3 个组，"
                            f"z 标准化，k 均值聚类 k = 4）\n")


def test_rule_points_scheme_passes_and_states_indicators_peer_groups_lack(tmp_path):
    doc = _points()
    doc["peer_groups"] = {g: doc["peer_groups"][g] for g in ("三级综合", "二级综合")}
    p = _write(tmp_path, "points.yaml", doc)
    assert _check(p) == (0, f"方案校验通过：{p}（版本 2026，积分制，2 个同组类别，28 项指标，满分 100）\n"
                            f"  提示：{p}: peer_groups.三级综合: 缺少其他同组类别有的指标 YP11\n"
                            f"  提示：{p}: peer_groups.二级综合: 缺少其他同组类别有的指标 YP10\n")


def test_unknown_key_in_method_names_file_and_key(tmp_path):
    doc = _std()
    doc["method"]["standardise"]["winsorize"] = doc["method"]["standardise"].pop("winsorise")
    p = _write(tmp_path, "typo.yaml", doc)
    assert _check(p) == (1, f"方案校验未通过：{p}，错误 1 处\n"
                            f"  错误：{p}: method.standardise: 未知的键 ['winsorize']（允许的键："
                            f"['method', 'min_n', 'percentile_rank', 'scale', 'sd', 'winsorise', 'within']）\n")


def test_group_weights_not_summing(tmp_path):
    doc = _std()
    doc["method"]["groups"]["list"][2]["weight"] = 15
    p = _write(tmp_path, "weights.yaml", doc)
    assert _check(p) == (1, f"方案校验未通过：{p}，错误 1 处\n"
                            f"  错误：{p}: method.groups.list: 各组权重合计 105，与 weights_sum 100 不符\n")


def test_rule_points_weights_not_summing(tmp_path):
    doc = _points()
    doc["peer_groups"] = {"三级综合": doc["peer_groups"]["三级综合"]}
    doc["peer_groups"]["三级综合"][0]["weight"] = 8
    p = _write(tmp_path, "points.yaml", doc)
    assert _check(p) == (1, f"方案校验未通过：{p}，错误 1 处\n"
                            f"  错误：{p}: peer_groups.三级综合: 各指标权重合计 101，与 total_points 100 不符\n")


def test_indicator_the_catalog_lacks(tmp_path):
    doc = _std()
    doc["method"]["indicators"][0]["indicator"] = "YP99"
    p = _write(tmp_path, "unknown.yaml", doc)
    assert _check(p) == (1, f"方案校验未通过：{p}，错误 1 处\n"
                            f"  错误：{p}: method.indicators[0].indicator: 指标目录中无此指标 'YP99'\n")


def test_peer_group_that_can_never_be_graded(tmp_path):
    # 合理用药 and 满意度 scored only in 三级综合: every other peer group keeps one section, needs two
    doc = _std()
    for it in doc["method"]["indicators"]:
        if it["group"] != "运营与药品" and it.get("orient") != "monitor":
            it["peer_groups"] = ["三级综合"]
    doc["method"]["peer_groups"] = ["三级综合", "二级综合"]
    for it in doc["method"]["indicators"]:
        for k in ("weight_in", "monitor_in"):
            it.pop(k, None)
        if it.get("peer_groups"):
            it["peer_groups"] = [g for g in it["peer_groups"] if g in ("三级综合", "二级综合")]
    p = _write(tmp_path, "coverage.yaml", doc)
    assert _check(p) == (1, f"方案校验未通过：{p}，错误 1 处\n"
                            f"  错误：{p}: method.peer_groups.二级综合: 只有 1 个组有不少于 3 个计分指标，"
                            f"少于 eligibility.min_groups 2，该类机构无一能参与评级\n")


def test_shipped_schemes_pass():
    for name in ("2026.yaml", "2026_std.yaml", "alliance_2026.yaml"):
        assert _check(SCHEMES / name)[0] == 0, name
