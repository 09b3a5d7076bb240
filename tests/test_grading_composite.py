"""Grading engine, steps 4–6: group scores, weight redistribution, re-standardisation, eligibility, rule points,
improvement scoring, bonus and veto items — each case computed by hand in the comments.

Most cases use min–max standardisation on a 0–100 scale with two anchor facilities, P at 0 and Q at 100 on
every indicator, so a third facility's standardised value is its raw value and the arithmetic stays visible.
"""
from __future__ import annotations

from decimal import Decimal as D

import pytest

from metrics.grading import BonusRecord, Event, Observation, VetoRecord, grade
from metrics.grading.improvement import improvement_stats, points
from metrics.grading.config import Improvement, Precision
from test_grading_support import method, observations

MINMAX = {"method": "minmax", "scale": 100}
THREE_GROUPS = {"weights_sum": 100, "list": [{"name": "G1", "weight": 60}, {"name": "G2", "weight": 30},
                                             {"name": "G3", "weight": 10}]}
ITEMS = [{"indicator": "U1", "group": "G1"}, {"indicator": "U2", "group": "G1", "weight": 3},
         {"indicator": "U3", "group": "G2"}, {"indicator": "U4", "group": "G3"}]
ANCHORS = {"P": {c: 0 for c in ("U1", "U2", "U3", "U4")}, "Q": {c: 100 for c in ("U1", "U2", "U3", "U4")}}


def _with_anchors(table, **over):
    m = method(standardise=MINMAX, indicators=over.pop("indicators", ITEMS), groups=over.pop("groups", THREE_GROUPS),
               **over)
    tbl = {**ANCHORS, **table}
    return grade(m, {f: "甲组" for f in tbl}, observations(tbl))


# ---------------------------------------------------------------------------------------------- groups

def test_group_mean_weighted_and_weight_redistribution():
    # X: U1 20 (weight 1) and U2 60 (weight 3) → G1 = (20 + 3 × 60)/4 = 50;  U3 40 → G2 = 40;  no U4 → no G3.
    # composite = (60 × 50 + 30 × 40)/(60 + 30) = 4200/90 = 46.6667; effective weights 60 × 100/90 = 66.666667
    # and 30 × 100/90 = 33.333333; G3's 10 is spread pro rata over G1 and G2.
    res = _with_anchors({"X": {"U1": 20, "U2": 60, "U3": 40}})
    x = res.facility("X")
    assert (x.eligible, x.base_composite, x.composite) == (True, D("46.6667"), D("46.6667"))
    assert x.reason == "缺少指标组（权重已按比例重新分配）：G3"
    g = {r.group: r for r in res.groups if r.facility_id == "X"}
    assert (g["G1"].mean, g["G1"].n_indicators, g["G1"].effective_weight) == (D(50), 2, D("66.666667"))
    assert (g["G2"].score, g["G2"].effective_weight) == (D(40), D("33.333333"))
    assert (g["G3"].score, g["G3"].effective_weight, g["G3"].reason) == \
        (None, None, "计分指标 0 个，少于 1 个，本组不计分，权重按比例分配至其他指标组")
    # with every group present the weights stay as declared: Q scores 100 everywhere
    q = {r.group: r for r in res.groups if r.facility_id == "Q"}
    assert res.facility("Q").composite == D(100) and q["G3"].effective_weight == D(10)


def test_group_needs_min_indicators_for_a_score():
    # groups.min_indicators 2: X's G1 has only U1 and its G2 only U3 → no group score at all → no composite.
    # G2 and G3 hold one indicator each, so nobody has them: P and Q are scored on G1 alone.
    res = _with_anchors({"X": {"U1": 20, "U3": 40}}, groups={**THREE_GROUPS, "min_indicators": 2})
    g = {r.group: r for r in res.groups if r.facility_id == "X"}
    assert g["G1"].score is None and g["G1"].reason.startswith("计分指标 1 个，少于 2 个")
    assert res.facility("X").composite is None and res.facility("X").reason == "无可计分的指标组"
    assert res.facility("Q").composite == D(100)


def test_restandardised_group_scores():
    # group scores are z-scored across P, Q, X within the peer group (population SD):
    #   G1: 0, 100, 50 → mean 50, SD √(5000/3) = 40.824829 → X 0, Q 50/40.824829 = 1.2247
    #   G2: 0, 100, 40 → mean 46.666667, SD √(15200/9) = 41.096093 → X (40 − 46.666667)/41.096093 = −0.1622
    #   G3: X has none. composite X = (60 × 0 + 30 × −0.1622)/90 = −0.0541
    res = _with_anchors({"X": {"U1": 20, "U2": 60, "U3": 40}}, groups={**THREE_GROUPS, "restandardise": "z"})
    g = {r.group: r for r in res.groups if r.facility_id == "X"}
    assert (g["G1"].mean, g["G1"].score) == (D(50), D(0))
    assert (g["G2"].mean, g["G2"].score) == (D(40), D("-0.1622"))
    assert (g["G2"].stats.mean, g["G2"].stats.sd, g["G2"].stats.n) == (D("46.666667"), D("41.096093"), 3)
    assert res.group_stats[("甲组", "G1")].sd == D("40.824829")
    assert res.facility("X").composite == D("-0.0541")
    assert {r.group: r.score for r in res.groups if r.facility_id == "Q"}["G1"] == D("1.2247")


# ---------------------------------------------------------------------------------------------- eligibility

ELIG_ITEMS = [{"indicator": "U1", "group": "G1"}, {"indicator": "U2", "group": "G1"},
              {"indicator": "U3", "group": "G2"}, {"indicator": "U5", "group": "G2"},
              {"indicator": "U4", "group": "G3"}]


def test_eligibility_lists_every_excluded_facility_with_its_reason():
    # at least 2 groups with at least 2 scored indicators, and G2 among them.
    #   Y: G1 2, G2 1, G3 0 → one such group, and G2 short  → excluded, both reasons
    #   Z: G1 2, G2 2      → eligible
    #   N: peer group unknown → excluded;  O: peer group 丙组 is not assessed by the method → not in the result
    m = method(standardise=MINMAX, indicators=ELIG_ITEMS, groups=THREE_GROUPS,
               eligibility={"min_groups": 2, "min_indicators": 2, "required": ["G2"]})
    full = {c: 50 for c in ("U1", "U2", "U3", "U4", "U5")}
    table = {"P": {c: 0 for c in full}, "Q": {c: 100 for c in full}, "Y": {"U1": 10, "U2": 20, "U3": 30},
             "Z": {"U1": 10, "U2": 20, "U3": 30, "U5": 40}, "N": full, "O": full}
    res = grade(m, {"P": "甲组", "Q": "甲组", "Y": "甲组", "Z": "甲组", "N": None, "O": "丙组"}, observations(table))
    assert res.excluded() == [
        ("N", "无法确定机构的同组类别（级别×类型）"),
        ("Y", "至少有 2 个计分指标的指标组 1 个（G1 2 个、G2 1 个、G3 0 个），少于方案要求的 2 个；"
              "必需指标组「G2」计分指标 1 个，少于 2 个")]
    y, z = res.facility("Y"), res.facility("Z")
    assert (y.composite, y.rank, y.grade, y.groups_reported) == (None, None, None, 1)
    # Z: G1 = (10 + 20)/2 = 15, G2 = (30 + 40)/2 = 35, no G3 → (60 × 15 + 30 × 35)/90 = 21.6667
    assert (z.eligible, z.composite, z.groups_reported, z.indicators_reported) == (True, D("21.6667"), 2, 4)
    assert "O" not in {f.facility_id for f in res.facilities}


# ---------------------------------------------------------------------------------------------- rule points

def test_rule_points_reuse_the_first_slice_rules():
    # U1 weight 7, ceiling 30 with 0.7 a point: 32 → 7 − 0.7 × 2 = 5.6 points → share 100 × 5.6/7 = 80
    # U2 weight 3, linear 20 → 0 to 35 → full: 29 → 3 × 9/15 = 1.8 points → share 60
    # G1 = (7 × 80 + 3 × 60)/10 = 74 = 100 × (5.6 + 1.8)/10, the first slice's composite for the same points
    items = [{"indicator": "U1", "group": "G1", "weight": 7,
              "score": {"kind": "rule", "rule": {"kind": "ceiling", "target": 30, "deduct_per_unit": 0.7}}},
             {"indicator": "U2", "group": "G1", "weight": 3,
              "score": {"kind": "rule", "rule": {"kind": "linear", "zero_at": 20, "full_at": 35}}}]
    m = method(indicators=items)
    res = grade(m, {"X": "甲组"}, observations({"X": {"U1": 32, "U2": 29}}))
    rows = {r.indicator: r for r in res.indicators}
    assert (rows["U1"].points, rows["U1"].standardised) == (D("5.6"), D(80))
    assert (rows["U2"].points, rows["U2"].standardised) == (D("1.8"), D(60))
    assert res.facility("X").composite == D(74)


def test_rule_percentile_uses_the_scope_as_peers():
    # percentile rule, weight 10, values 10 20 20 30 40: 20 → 10 × (1 + 0.5)/4 = 3.75 points → share 37.5
    items = [{"indicator": "U1", "group": "G1", "weight": 10, "score": {"kind": "rule", "rule": {"kind": "percentile"}}}]
    table = {f: {"U1": v} for f, v in zip("ABCDE", (10, 20, 20, 30, 40))}
    res = grade(method(indicators=items), {f: "甲组" for f in table}, observations(table))
    rows = {r.facility_id: r for r in res.indicators}
    assert (rows["B"].points, rows["B"].standardised, rows["E"].standardised) == (D("3.75"), D("37.5"), D(100))


def test_own_targets_by_target_key():
    # ceiling with the facility's own target: X target 40, value 45 → oriented −5; Y has no target → not scored
    items = [{"indicator": "U1", "group": "G1", "orient": {"kind": "ceiling", "target_key": "aud"}}]
    m = method(indicators=items, standardise={"min_n": 1, "method": "minmax"})
    res = grade(m, {"X": "甲组", "Y": "甲组"}, observations({"X": {"U1": 45}, "Y": {"U1": 10}}),
                targets={("X", "U1"): D(40)})
    rows = {r.facility_id: r for r in res.indicators}
    assert rows["X"].oriented == D(-5)
    assert rows["Y"].reason == "目标表中无适用于本机构的目标值，不计分"


# ---------------------------------------------------------------------------------------------- improvement

BASELINE = {f"F{i:02d}": 10 * i for i in range(1, 11)}                  # F01 10, F02 20, …, F10 100
CURRENT = {"F01": 15, "F02": 50, "F03": 70, "F04": 40, "F05": 50, "F06": 60, "F07": 70, "F08": 80, "F09": 95,
           "F10": 100, "F11": 60}                                        # F11 has no baseline value


def _improve(**imp):
    m = method(indicators=[{"indicator": "U1", "group": "G1", "score": "improvement"}], improvement=imp)
    base = [Observation(f, "U1", D(v)) for f, v in BASELINE.items()]
    res = grade(m, {f: "甲组" for f in CURRENT}, observations({f: {"U1": v} for f, v in CURRENT.items()}),
                baseline=base)
    return res, {r.facility_id: r for r in res.indicators}


def test_improvement_points_cms_style():
    # baseline 10 … 100 (n = 10): threshold a = median = x(4) + 0.5 × (x(5) − x(4)) = 50 + 5 = 55 (0-based, linear);
    # benchmark b = mean of the best ⌈10 × 0.1⌉ = 1 value = 100;  M = 10, points rounded half-up to whole numbers
    #   F03 70, own 30: achievement 9 × 15/45 + ½ = 3.5 → 4;  improvement 10 × 40/70 − ½ = 5.21 → 5  → 5 (impr.)
    #   F09 95, own 90: achievement 9 × 40/45 + ½ = 8.5 → 9;  improvement 10 × 5/10 − ½ = 4.5 → 5  → 9 (ach.)
    #   F02 50 < 55   : achievement 0;  improvement 10 × 30/80 − ½ = 3.25 → 3                       → 3
    #   F10 100 ≥ b   : achievement 10; improvement 0 (not above its own 100)                       → 10
    #   F11 60, no own: achievement 9 × 5/45 + ½ = 1.5 → 2; improvement not available              → 2
    #   F01 15, own 10: achievement 0;  improvement 10 × 5/90 − ½ = 0.06 → 0                        → 0
    res, rows = _improve()
    st = res.improvement_stats[("甲组", "U1")]
    assert (st.n, st.threshold, st.benchmark, st.top_count, st.scored) == (10, D(55), D(100), 1, True)
    got = {f: (r.improvement.achievement, r.improvement.improvement, r.improvement.used, r.standardised)
           for f, r in rows.items()}
    assert got["F03"] == (D(4), D(5), "improvement", D(5))
    assert got["F09"] == (D(9), D(5), "achievement", D(9))
    assert got["F02"] == (D(0), D(3), "improvement", D(3))
    assert got["F10"] == (D(10), D(0), "achievement", D(10))
    assert got["F11"] == (D(2), None, "achievement", D(2))
    assert got["F01"] == (D(0), D(0), "achievement", D(0))
    assert rows["F03"].improvement.baseline == D(30)


def test_improvement_achievement_only_and_benchmark_share():
    # combine achievement: F03 keeps its 4 achievement points although improvement gives 5
    _, rows = _improve(combine="achievement")
    assert rows["F03"].standardised == D(4) and rows["F03"].improvement.improvement == D(5)
    # top share 0.2: b = mean(90, 100) = 95; F09 95 ≥ b → 10
    res, rows = _improve(benchmark_top_share=0.2)
    assert res.improvement_stats[("甲组", "U1")].benchmark == D(95) and rows["F09"].standardised == D(10)


def test_improvement_only_needs_an_own_baseline():
    _, rows = _improve(combine="improvement")
    assert not rows["F11"].scored and rows["F11"].reason == "无基期数据，无法计算进步分，不计分"
    assert rows["F03"].standardised == D(5)


def test_improvement_degenerate_benchmark_is_not_scored():
    # every baseline value equal: b = a → no scale to place anyone on
    st = improvement_stats("甲组", "U1", [D(5)] * 6, Improvement(), Precision(), 2)
    assert (st.scored, st.reason) == (False, "基准值不高于达标阈值，不计达标/进步分")
    assert improvement_stats("甲组", "U1", [D(5)], Improvement(), Precision(), 2).reason == \
        "同组基期有效值 1 个，少于最少 2 个，不计达标/进步分"


@pytest.mark.parametrize("x, own, expect", [("55", None, "1"), ("99.99", None, "9"), ("54.99", None, "0")])
def test_achievement_edges(x, own, expect):
    # at the threshold ½ rounds up to 1 point; just below the benchmark 9 × 44.99/45 + ½ = 9.49 → 9
    st = improvement_stats("甲组", "U1", [D(10 * i) for i in range(1, 11)], Improvement(), Precision(), 2)
    assert points(D(x), own, st, Improvement()).achievement == D(expect)


# ---------------------------------------------------------------------------------------------- bonus and veto

BANDS = {"method": "bands", "bands": [{"grade": "A", "min": 60}, {"grade": "B", "min": 40},
                                      {"grade": "C", "min": -1000}]}
BONUS = {"cap": 4, "items": [{"code": "B01", "name_zh": "获省级表彰", "event": "award", "points": 2, "max": 3},
                             {"code": "B02", "name_zh": "承担试点任务", "event": "pilot", "points": 1.5}]}
VETO = {"items": [{"code": "V01", "name_zh": "发生重大医疗安全责任事件", "event": "incident", "cap_grade": "B"},
                  {"code": "V02", "name_zh": "监测指标 M1 过低", "indicator": "M1", "below": 10, "cap_grade": "C"}]}


def _bonus_veto(events):
    items = [{"indicator": "U1", "group": "G1"}, {"indicator": "M1", "group": "G1"}]
    m = method(standardise=MINMAX, indicators=items, grading=BANDS, bonus=BONUS, veto=VETO)
    table = {"P": {"U1": 0, "M1": 50}, "Q": {"U1": 100, "M1": 50}, "X": {"U1": 70, "M1": 50},
             "Y": {"U1": 50, "M1": 5}, "Z": {"U1": 30, "M1": 50}, "W": {"U1": 58, "M1": 50}, "N": {"M1": 50}}
    return grade(m, {f: "甲组" for f in table}, observations(table), events=events)


def test_bonus_points_with_item_max_and_overall_cap():
    # W: award × 2 = 4 points, item max 3; pilot 1.5 → 4.5, overall cap 4 → composite 58 + 4 = 62 → A
    res = _bonus_veto([Event("W", "award", 2), Event("W", "pilot")])
    w = res.facility("W")
    assert w.bonuses == (BonusRecord("B01", "获省级表彰", 2, D(3)), BonusRecord("B02", "承担试点任务", 1, D("1.5")))
    assert (w.base_composite, w.bonus, w.composite, w.grade) == (D(58), D(4), D(62), "A")
    # without the bonus W is B
    assert _bonus_veto([]).facility("W").grade == "B"


def test_veto_caps_the_grade_and_only_ever_lowers_it():
    # X 70 → A, incident caps at B;  Y 50 → B, M1 = 5 < 10 caps at C;  Z 30 → C stays C (recorded all the same)
    # N has no scored indicator (not eligible, no grade): a veto still decides its grade (一票否决)
    res = _bonus_veto([Event("X", "incident", note="2026-10 手术部位错误"), Event("Z", "incident"),
                       Event("N", "incident")])
    x, y, z, n = (res.facility(f) for f in "XYZN")
    assert (x.grade_before_veto, x.grade) == ("A", "B")
    assert x.vetoes == (VetoRecord("V01", "发生重大医疗安全责任事件", "B", "2026-10 手术部位错误"),)
    assert (y.grade_before_veto, y.grade) == ("B", "C")
    assert y.vetoes == (VetoRecord("V02", "监测指标 M1 过低", "C", "M1 = 5 < 10"),)
    assert (z.grade_before_veto, z.grade, len(z.vetoes)) == ("C", "C", 1)
    assert (n.eligible, n.grade_before_veto, n.grade) == (False, None, "B")
    # the vetoed facility keeps its rank; nobody else moves
    assert (x.rank, res.facility("Q").rank, res.facility("Q").grade) == (2, 1, "A")


def test_weight_in_a_peer_group():
    # U2 weighs 3, but 1 in 乙组: X in 甲组 has G1 = (20 + 3 × 60)/4 = 50, Y in 乙组 the same values (20 + 60)/2 = 40
    items = [{"indicator": "U1", "group": "G1"}, {"indicator": "U2", "group": "G1", "weight": 3,
                                                  "weight_in": {"乙组": 1}}]
    m = method(standardise=MINMAX, indicators=items)
    table = {"P": {"U1": 0, "U2": 0}, "Q": {"U1": 100, "U2": 100}, "X": {"U1": 20, "U2": 60},
             "P2": {"U1": 0, "U2": 0}, "Q2": {"U1": 100, "U2": 100}, "Y": {"U1": 20, "U2": 60}}
    groups = {"P": "甲组", "Q": "甲组", "X": "甲组", "P2": "乙组", "Q2": "乙组", "Y": "乙组"}
    res = grade(m, groups, observations(table))
    assert (res.facility("X").composite, res.facility("Y").composite) == (D(50), D(40))
