"""Stability of a run's grades (issue 6 §4): weight variants, grade changes, period changes, the warehouse round trip.

Every scheme here has two parts, 运营与药品 60 (YP01 weight 40 + YP06 weight 20) and 合理用药 40 (HL13 weight 40),
each item scored linearly 0 → 100 (points = weight × value / 100), bands 优秀 ≥ 90, 良好 ≥ 80, 合格 ≥ 60, else 不合格.
With a = the 运营与药品 value (YP01 = YP06) and b = HL13, composite = 0.6a + 0.4b; +5 points on 运营与药品 makes it
0.65a + 0.35b (合理用药 40 → 40 × 35/40 = 35), −5 points 0.55a + 0.45b.
"""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from metrics.grading import Observation, grade
from metrics.grading.scheme import MethodScheme, load_assessment
from metrics.grading.sensitivity import (grade_changes, grade_order, period_changes, rescale, section_weights,
                                        weight_variants)
from metrics.indicators import IndicatorValue
from metrics.scoring import GradeBand, PercentileBand, Rule, Scheme, SchemeItem, rule_points, score
from warehouse.compute import score_period
from warehouse.db import connect
from warehouse.sensitivity import note_rows, stability

D = Decimal
A, B = "运营与药品", "合理用药"
LINEAR = Rule("linear", zero_at=D(0), full_at=D(100))
BANDS = (GradeBand("优秀", D(90)), GradeBand("良好", D(80)), GradeBand("合格", D(60)), GradeBand("不合格", D(0)))

# (YP01, YP06, HL13) values; composite and grade by hand
FOUR = {
    "F1": (100, 100, 75),  # 60 + 30 = 90 优秀;    +5: 65 + 35×0.75 = 91.25 优秀;  −5: 55 + 45×0.75 = 88.75 良好 ←
    "F2": (95, 95, 70),    # 57 + 28 = 85 良好;    +5: 61.75 + 24.5 = 86.25;        −5: 52.25 + 31.5 = 83.75
    "F3": (70, 70, 44),    # 42 + 17.6 = 59.6 不合格; +5: 45.5 + 15.4 = 60.9 合格 ←;  −5: 38.5 + 19.8 = 58.3
    "F4": (80, 20, 50),    # 32 + 4 + 20 = 56 不合格; +5: 36×65/60 = 39, + 17.5 = 56.5; −5: 33 + 22.5 = 55.5
}
BASE = {"F1": "优秀", "F2": "良好", "F3": "不合格", "F4": "不合格"}


def _items() -> tuple[SchemeItem, ...]:
    return (SchemeItem("YP01", D(40), LINEAR, "down", section=A), SchemeItem("YP06", D(20), LINEAR, "up", section=A),
            SchemeItem("HL13", D(40), LINEAR, "up", section=B))


def rule_scheme(items: tuple[SchemeItem, ...] | None = None) -> Scheme:
    return Scheme("T", "测试方案", D(100), 2, D("0.5"), {}, BANDS, None, (PercentileBand("C", D(1)),), 1, "组内样本不足",
                  {"三级综合": items or _items()})


def values(data: dict[str, tuple[int, int, int]]) -> list[IndicatorValue]:
    return [IndicatorValue(f, code, None, None, D(v), "ok", None)
            for f, vs in data.items() for code, v in zip(("YP01", "YP06", "HL13"), vs)]


def rule_grades(scheme: Scheme, data: dict[str, tuple[int, int, int]]) -> dict[str, str | None]:
    _, comps = score(values(data), {f: "三级综合" for f in data}, scheme)
    return {c.facility_id: c.grade for c in comps}


# ---------------------------------------------------------------------------------------------- the rule


def test_rescale_moves_one_part_and_keeps_the_total():
    new = rescale({"A": D(60), "B": D(30), "C": D(10)}, "B", D(5))
    # B 30 → 35; the rest 70 → 65: A 60 × 65/70 = 55.714285714285714285714285|714 → 24 places, half-up;
    # C 10 × 65/70 = 9.285714285714285714285714|2857; the two add up to exactly 65
    assert new == {"A": D("55.714285714285714285714286"), "B": D(35), "C": D("9.285714285714285714285714")}
    assert sum(new.values()) == 100
    down = rescale({"A": D(60), "B": D(30), "C": D(10)}, "A", D(-5))
    assert down == {"A": D(55), "B": D("33.75"), "C": D("11.25")} and sum(down.values()) == 100  # 30 × 45/40


def test_rescale_refuses_a_part_at_zero_or_going_below():
    assert rescale({"A": D(100), "B": D(0)}, "B", D(5)) == "「B」权重为 0，不做调整"
    assert rescale({"A": D(97), "B": D(3)}, "B", D(-5)) == "「B」权重占 3%，调整后将不大于 0"
    assert rescale({"A": D(97), "B": D(3)}, "A", D(5)) == "「A」之外各部分权重合计占 3%，调整后将不大于 0"
    assert rescale({"A": D(100)}, "A", D(-5)) == "「A」之外各部分权重为 0，无法按比例调整"


# ---------------------------------------------------------------------------------------------- rule points


def test_rule_points_variants_keep_every_total_and_scale_items_within_the_section():
    vs = weight_variants(rule_scheme())
    assert [(v.label_zh, v.reason) for v in vs] == [
        ("运营与药品 权重 +5 个百分点（60→65）", None), ("运营与药品 权重 −5 个百分点（60→55）", None),
        ("合理用药 权重 +5 个百分点（40→45）", None), ("合理用药 权重 −5 个百分点（40→35）", None)]
    plus_a = vs[0].scheme
    assert isinstance(plus_a, Scheme)
    items = plus_a.groups["三级综合"]
    # YP01 40 × 65/60 = 43.333…, YP06 20 × 65/60 = 21.666… (the residue of 24 places on the larger one)
    assert [it.weight for it in items] == [D("43.333333333333333333333333"), D("21.666666666666666666666667"),
                                           D(35)]
    assert section_weights(items) == {A: 65, B: 35} and sum(it.weight for it in items) == plus_a.total_points
    assert plus_a.version == "T" and plus_a.bands == BANDS


def test_plus_five_on_a_section_flips_exactly_one_facility_across_a_band():
    plus_a, minus_a, plus_b, minus_b = (v.scheme for v in weight_variants(rule_scheme()))
    assert rule_grades(rule_scheme(), FOUR) == BASE
    # F3: 59.6 不合格 → 60.9 合格 (crosses 60); F4's 56 → 56.5 stays
    assert grade_changes(BASE, rule_grades(plus_a, FOUR)).changed == (("F3", "不合格", "合格"),)
    # F1: 90 优秀 → 88.75 良好 (falls below 90)
    assert grade_changes(BASE, rule_grades(minus_a, FOUR)).changed == (("F1", "优秀", "良好"),)
    # with two parts, +5 on one is −5 on the other
    assert grade_changes(BASE, rule_grades(plus_b, FOUR)).changed == (("F1", "优秀", "良好"),)
    assert grade_changes(BASE, rule_grades(minus_b, FOUR)).count == 1


def test_composites_of_a_variant_by_hand():
    plus_a = weight_variants(rule_scheme())[0].scheme
    _, comps = score(values(FOUR), {f: "三级综合" for f in FOUR}, plus_a)  # type: ignore[arg-type]
    assert {c.facility_id: c.composite for c in comps} == {"F1": D("91.25"), "F2": D("86.25"), "F3": D("60.90"),
                                                           "F4": D("56.50")}


def test_ceiling_points_scale_with_the_section():
    ceiling = Rule("ceiling", target=D(30), deduct_per_unit=D("0.7"))
    items = (SchemeItem("YP01", D(60), ceiling, "down", section=A), SchemeItem("HL13", D(40), LINEAR, "up", section=B))
    v = weight_variants(rule_scheme(items))[0]
    it = v.scheme.groups["三级综合"][0]  # type: ignore[union-attr]
    # YP01 = 36: 60 − 0.7 × 6 = 55.8 points; under 65/60 both weight and deduction scale: 65 − 0.758333… × 6
    assert rule_points(ceiling, D(60), D(36)) == D("55.8")
    assert it.weight == 65 and it.rule.deduct_per_unit == D("0.758333333333333333333333")
    assert abs(rule_points(it.rule, it.weight, D(36)) - D("55.8") * 65 / 60) < D("1e-20")  # type: ignore[operator]


def test_a_section_of_monitor_items_only_is_skipped():
    items = _items() + (SchemeItem("YP02", D(0), Rule("monitor"), "monitor", section="监测"),)
    vs = weight_variants(rule_scheme(items))
    assert [(v.group, v.sign, v.reason) for v in vs if v.skipped] == [
        ("监测", 1, "「监测」权重为 0，不做调整"), ("监测", -1, "「监测」权重为 0，不做调整")]


# ---------------------------------------------------------------------------------------------- method scheme

METHOD_YAML = """\
version: T_std
name_zh: 测试标准化方案
method:
  precision: {stat: 6, standardised: 4, group: 4, composite: 2}
  peer_groups: [三级综合]
  standardise: {method: z, within: peer_group}
  indicators:
    - {indicator: YP01, group: 运营与药品, weight: 40, score: {kind: rule, rule: {kind: linear, zero_at: 0, full_at: 100}}}
    - {indicator: YP06, group: 运营与药品, weight: 20, score: {kind: rule, rule: {kind: linear, zero_at: 0, full_at: 100}}}
    - {indicator: HL13, group: 合理用药, weight: 40, score: {kind: rule, rule: {kind: linear, zero_at: 0, full_at: 100}}}
  groups:
    weights_sum: 100
    list:
      - {name: 运营与药品, weight: %s}
      - {name: 合理用药, weight: %s}
  grading:
    method: bands
    bands: [{grade: 优秀, min: 90}, {grade: 良好, min: 80}, {grade: 合格, min: 60}, {grade: 不合格, min: 0}]
"""
RULE_YAML = """\
version: T
name_zh: 测试方案
total_points: 100
precision: 2
min_weight_share: 0.5
grades:
  bands: [{grade: 优秀, min: 90}, {grade: 良好, min: 80}, {grade: 合格, min: 60}, {grade: 不合格, min: 0}]
percentile_bands: {min_group_size: 1, insufficient_label: 组内样本不足, bands: [{grade: C, upto: 1}]}
peer_groups:
  三级综合:
    - {indicator: YP01, weight: 40, rule: {kind: linear, zero_at: 0, full_at: 100}}
    - {indicator: YP06, weight: 20, rule: {kind: linear, zero_at: 0, full_at: 100}}
    - {indicator: HL13, weight: 40, section: 合理用药, rule: {kind: linear, zero_at: 0, full_at: 100}}
"""


def method_scheme(tmp_path: Path, a: int = 60, b: int = 40) -> MethodScheme:
    path = tmp_path / "T_std.yaml"
    path.write_text(METHOD_YAML % (a, b), encoding="utf-8")
    s = load_assessment(path=path)
    assert isinstance(s, MethodScheme)
    return s


def method_grades(scheme: MethodScheme, data: dict[str, tuple[int, int, int]]) -> dict[str, str | None]:
    obs = [Observation(v.facility_id, v.indicator, v.value, v.status, None, None, None) for v in values(data)]
    return {f.facility_id: f.grade for f in grade(scheme.method, {f: "三级综合" for f in data}, obs).facilities}


def test_method_scheme_variants_move_group_weights(tmp_path):
    s = method_scheme(tmp_path)
    vs = weight_variants(s)
    assert [v.label_zh for v in vs] == ["运营与药品 权重 +5 个百分点（60→65）", "运营与药品 权重 −5 个百分点（60→55）",
                                        "合理用药 权重 +5 个百分点（40→45）", "合理用药 权重 −5 个百分点（40→35）"]
    plus_a = vs[0].scheme
    assert isinstance(plus_a, MethodScheme)
    assert [(g.name, g.weight) for g in plus_a.method.groups.items] == [(A, 65), (B, 35)]
    assert plus_a.method.groups.weights_sum == 100 and plus_a.method.items == s.method.items
    # group score 运营与药品 = (40a₁ + 20a₂)/60 (F4: (3200 + 400)/60 = 60), composite = Σ W·score / ΣW: the
    # same figures as the rule-points scheme, so the same single flips
    assert method_grades(s, FOUR) == BASE
    assert grade_changes(BASE, method_grades(plus_a, FOUR)).changed == (("F3", "不合格", "合格"),)
    assert grade_changes(BASE, method_grades(vs[1].scheme, FOUR)).changed == (("F1", "优秀", "良好"),)  # type: ignore
    assert grade_order(s) == ("优秀", "良好", "合格", "不合格")


def test_method_scheme_group_at_three_percent_cannot_lose_five(tmp_path):
    vs = weight_variants(method_scheme(tmp_path, 97, 3))
    assert [(v.group, v.sign, v.reason) for v in vs if v.skipped] == [
        (A, 1, "「运营与药品」之外各部分权重合计占 3%，调整后将不大于 0"), (B, -1, "「合理用药」权重占 3%，调整后将不大于 0")]
    assert [v.label_zh for v in vs if not v.skipped] == ["运营与药品 权重 −5 个百分点（97→92）",
                                                          "合理用药 权重 +5 个百分点（3→8）"]


# ---------------------------------------------------------------------------------------------- periods


def test_period_changes_up_down_same_new_dropped():
    order = ("优秀", "良好", "合格", "不合格")
    current = {"F1": "优秀", "F2": "良好", "F3": "合格", "F4": "不合格", "F6": None, "F7": "组内样本不足", "F8": None}
    previous = {"F1": "良好", "F2": "优秀", "F3": "合格", "F5": "合格", "F6": "合格", "F7": "合格", "F8": None}
    pc = period_changes(current, previous, order)
    assert pc.up == (("F1", "良好", "优秀"),) and pc.down == (("F2", "优秀", "良好"),)
    assert pc.same == (("F3", "合格", "合格"),) and pc.new == (("F4", None, "不合格"),)
    # F5 absent now, F6 not graded now, F7's label is outside the grade order; F8 graded in neither
    assert [c[0] for c in pc.dropped] == ["F5", "F6", "F7"]
    assert pc.counts() == {"up": 1, "down": 1, "same": 1, "new": 1, "dropped": 3}


def test_grade_changes_counts_gaining_or_losing_a_grade():
    gc = grade_changes({"F1": "优秀", "F2": None, "F3": "合格"}, {"F1": "优秀", "F2": "合格", "F4": "良好"})
    assert gc.changed == (("F2", None, "合格"), ("F3", "合格", None), ("F4", None, "良好")) and gc.count == 3


# ---------------------------------------------------------------------------------------------- warehouse

# 2026-09: FOUR plus F5 (in the registry, no values: not scored) and F6 (100, 100, 44): 60 + 17.6 = 77.6 合格;
# +5 运营与药品: 65 + 15.4 = 80.4 良好 ←; −5: 55 + 19.8 = 74.8 合格.
# So +5 运营与药品 flips F3 and F6 (2), −5 flips F1 (1); +5 合理用药 = −5 运营与药品 (1), −5 合理用药 = +5 (2).
NOW = FOUR | {"F6": (100, 100, 44)}
# 2026-08: F1 90/90/70 → 54 + 28 = 82 良好 (now 优秀: up); F2 100/100/80 → 92 优秀 (now 良好: down);
# F3 50/50/50 → 50 不合格 (same); F5 70/70/70 → 70 合格 (not graded now); F4, F6 no values (new now)
BEFORE = {"F1": (90, 90, 70), "F2": (100, 100, 80), "F3": (50, 50, 50), "F5": (70, 70, 70)}


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    c = connect(tmp_path / "warehouse.duckdb")
    for fid in ("F1", "F2", "F3", "F4", "F5", "F6"):
        c.execute("INSERT INTO facilities (facility_id, valid_from, name, tier, ftype) VALUES (?, DATE '2020-01-01', "
                  "?, '三级', '综合')", [fid, f"{fid}医院"])
    for period, data in (("2026-09", NOW), ("2026-08", BEFORE)):
        c.executemany("INSERT INTO indicator_values VALUES (?, ?, ?, NULL, NULL, ?, 'ok', NULL)",
                      [[period, v.facility_id, v.indicator, v.value] for v in values(data)])
    yield c
    c.close()


def _tables(con: duckdb.DuckDBPyConnection) -> list:
    return [con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
            for t in ("indicator_values", "scores", "composites", "grading_stats")]


@pytest.mark.parametrize("kind", ["rule_points", "method"])
def test_stability_over_a_warehouse(con, tmp_path, kind):
    if kind == "method":
        scheme = method_scheme(tmp_path)
    else:
        path = tmp_path / "T.yaml"
        path.write_text(RULE_YAML, encoding="utf-8")
        scheme = load_assessment(path=path)
    for period in ("2026-08", "2026-09"):
        score_period(con, period, scheme)
    before = _tables(con)
    st = stability(con, "2026-09", scheme)
    assert _tables(con) == before           # nothing written
    assert st.graded == 5 and st.base_differs.count == 0
    assert [o.changes.changed for o in st.variants] == [  # type: ignore[union-attr]
        (("F3", "不合格", "合格"), ("F6", "合格", "良好")), (("F1", "优秀", "良好"),),
        (("F1", "优秀", "良好"),), (("F3", "不合格", "合格"), ("F6", "合格", "良好"))]
    assert st.period_changes is not None and [c[0] for c in st.period_changes.new] == ["F4", "F6"]
    version = scheme.version
    assert note_rows(st) == [
        ["稳定性检验", f"方案 {version}：各指标组权重分别上调、下调 5 个百分点（其余指标组按比例调整，总权重不变），"
                      "按同一方法重新评级，与本期评定的等级比较"],
        ["权重敏感性", "运营与药品 权重 +5 个百分点（60→65）：2 家机构等级变化（共 5 家）"],
        ["权重敏感性", "运营与药品 权重 −5 个百分点（60→55）：1 家机构等级变化（共 5 家）"],
        ["权重敏感性", "合理用药 权重 +5 个百分点（40→45）：1 家机构等级变化（共 5 家）"],
        ["权重敏感性", "合理用药 权重 −5 个百分点（40→35）：2 家机构等级变化（共 5 家）"],
        ["与上期比较", "与上期（2026-08）相比：升级 1 家，降级 1 家，不变 1 家，新评 2 家，本期未评 1 家"]]


def test_stability_notes_a_stored_run_that_no_longer_matches_the_data(con, tmp_path):
    path = tmp_path / "T.yaml"
    path.write_text(RULE_YAML, encoding="utf-8")
    scheme = load_assessment(path=path)
    score_period(con, "2026-09", scheme)
    # a value corrected after publication: F2's HL13 70 → 100 makes it 57 + 40 = 97 (优秀) when re-scored
    con.execute("UPDATE indicator_values SET value = 100 WHERE period = '2026-09' AND facility_id = 'F2' "
                "AND indicator = 'HL13'")
    st = stability(con, "2026-09", scheme)
    assert st.base_differs.changed == (("F2", "良好", "优秀"),) and st.period_changes is None
    rows = note_rows(st)
    assert rows[-2:] == [["注意", "按当前入库数据以原权重重算，有 1 家机构的等级与本期评定的等级不同（评定后数据有变动）"],
                         ["与上期比较", "上期（2026-08）无该方案的已评等级"]]


def test_stability_of_the_real_2026_scheme_loads_by_version(con):
    # the published scheme by its version: six variants, nothing stored yet → the rows say so
    st = stability(con, "2026-09", "2026")
    assert len(st.variants) == 6 and st.graded == 0
    assert note_rows(st)[1:] == [["权重敏感性", "本期尚无该方案的已评等级，未做检验"],
                                 ["与上期比较", "上期（2026-08）无该方案的已评等级"]]
