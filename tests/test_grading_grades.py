"""Grading engine, step 7–8: deterministic 1-D k-means (by hand, step by step), score bands with a share cap,
percentile quotas with their rounding rule, peer grouping by groups reported, ranks and tie-breakers.

The grade() cases score one indicator with the first slice's linear rule 0 → 100 and weight 1, so the
standardised value, the group score and the composite all equal the raw value.
"""
from __future__ import annotations

from decimal import Decimal as D

import pytest

from metrics.grading import TieBreak, grade, kmeans_1d
from metrics.grading.config import Grading, QuotaBand
from metrics.grading.grades import quota_limits
from metrics.grading.kmeans import initial_centres
from test_grading_support import method, observations

IDENTITY = {"kind": "rule", "rule": {"kind": "linear", "zero_at": 0, "full_at": 100}}


def _identity(values: dict, grading: dict, **over):
    m = method(indicators=[{"indicator": "U1", "group": "G1", "score": IDENTITY}], grading=grading, **over)
    res = grade(m, {f: "甲组" for f in values}, observations({f: {"U1": v} for f, v in values.items()}))
    return res


# ---------------------------------------------------------------------------------------------- k-means by hand

SEVEN = [D(v) for v in (1, 2, 3, 7, 8, 9, 20)]


def test_kmeans_by_hand_tie_lower():
    # n = 7, k = 3. Slices ⌊j·7/3⌋: positions 0–1, 2–3, 4–6 → [1 2] [3 7] [8 9 20] → medians 1.5, 5, 9.
    # pass 1: halfway points 3.25 and 7. 7 is exactly halfway between 5 and 9 → tie: lower → centre 5.
    #         {1 2 3} {7} {8 9 20} → centres 2, 7, 37/3 = 12.33…
    # pass 2: halfway 4.5 and 9.67 → {1 2 3} {7 8 9} {20} → centres 2, 8, 20
    # pass 3: halfway 5 and 14 → the same assignment → converged after 3 passes.
    idx, res = kmeans_1d(SEVEN, 3, tie="lower")
    assert res.initial_centres == (D("1.5"), D(5), D(9))
    assert idx == [0, 0, 0, 1, 1, 1, 2]
    assert (res.centres, res.sizes, res.iterations, res.converged) == ((D(2), D(8), D(20)), (3, 3, 1), 3, True)


def test_kmeans_by_hand_tie_higher():
    # pass 1: 7 is halfway between 5 and 9 → tie: higher → centre 9: {1 2 3} {} {7 8 9 20};
    #         the empty cluster keeps its centre 5; the others move to 2 and 11.
    # pass 2: 8 is halfway between 5 and 11 → higher again: {1 2 3} {7} {8 9 20} → 2, 7, 12.33…
    # pass 3: {1 2 3} {7 8 9} {20} → 2, 8, 20;  pass 4: unchanged → converged after 4 passes, same clusters.
    idx, res = kmeans_1d(SEVEN, 3, tie="higher")
    assert idx == [0, 0, 0, 1, 1, 1, 2]
    assert (res.centres, res.iterations, res.converged) == ((D(2), D(8), D(20)), 4, True)


def test_kmeans_stops_at_max_iter_and_says_so():
    # one pass only: the assignment of pass 1, not yet checked for a repeat
    idx, res = kmeans_1d(SEVEN, 3, max_iter=1)
    assert (idx, res.iterations, res.converged) == ([0, 0, 0, 1, 2, 2, 2], 1, False)


def test_initial_centres_even_slices():
    # n = 8, k = 4: slices [1 2] [3 7] [8 9] [20 30] → medians are the pair means 1.5, 5, 8.5, 25
    xs = [D(v) for v in (1, 2, 3, 7, 8, 9, 20, 30)]
    assert initial_centres(xs, 4) == [D("1.5"), D(5), D("8.5"), D(25)]


def test_kmeans_is_independent_of_input_order_and_keeps_equal_values_together():
    xs = [D(v) for v in (5, 1, 5, 9, 1, 5, 9, 2)]
    idx, res = kmeans_1d(xs, 3)
    by_value = {}
    for x, j in zip(xs, idx):
        by_value.setdefault(x, set()).add(j)
    assert all(len(s) == 1 for s in by_value.values())
    idx2, res2 = kmeans_1d(list(reversed(xs)), 3)
    assert list(reversed(idx2)) == idx and res2 == res


def test_kmeans_grades_within_the_peer_group():
    # the highest centre takes the first label; every facility carries its cluster's centre
    values = dict(zip("ABCDEFG", (1, 2, 3, 7, 8, 9, 20)))
    res = _identity(values, {"method": "kmeans", "k": 3, "labels": ["甲等", "乙等", "丙等"]})
    assert {f.facility_id: f.grade for f in res.facilities} == \
        {"A": "丙等", "B": "丙等", "C": "丙等", "D": "乙等", "E": "乙等", "F": "乙等", "G": "甲等"}
    assert res.facility("E").cluster_centre == D(8)
    c = res.clusters["甲组"]
    assert (c.labels, c.sizes, c.iterations, c.converged) == (("丙等", "乙等", "甲等"), (3, 3, 1), 3, True)


def test_kmeans_below_min_group_size():
    res = _identity({"A": 1, "B": 2, "C": 3}, {"method": "kmeans", "k": 3, "labels": ["甲等", "乙等", "丙等"],
                                               "min_group_size": 4, "insufficient_label": "组内样本不足"})
    assert {f.grade for f in res.facilities} == {"组内样本不足"} and res.clusters == {}
    assert res.facility("A").reason == "组内有综合得分的机构 3 个，少于分级所需的 4 个，未分级"


def test_kmeans_needs_k_distinct_scores():
    # five facilities on two distinct scores cannot make three clusters: Lloyd would put all of the tied scores
    # into one cluster by the tie rule alone, so the group is not clustered and the notes say why
    res = _identity(dict(zip("ABCDE", (5, 5, 5, 9, 9))), {"method": "kmeans", "k": 3, "labels": ["甲等", "乙等", "丙等"]})
    assert {f.grade for f in res.facilities} == {"组内样本不足"}
    assert res.facility("D").reason == "组内不同的综合得分仅 2 个，少于聚类数 3，未分级"


# ---------------------------------------------------------------------------------------------- bands and quotas

TEN = dict(zip("ABCDEFGHIJ", (95, 94, 93, 92, 91, 85, 75, 65, 55, 45)))
BANDS = [{"grade": "优秀", "min": 90}, {"grade": "良好", "min": 80}, {"grade": "合格", "min": 60},
         {"grade": "不合格", "min": 0}]


def test_bands_with_a_cap_on_the_top_grade():
    # five reach 优秀 (≥ 90); at most max(1, ⌊10 × 0.2⌋) = 2 keep it (ranks 1–2); C, D, E fall to 良好
    res = _identity(TEN, {"method": "bands", "bands": BANDS,
                          "cap": {"grade": "优秀", "max_share": 0.2, "rounding": "floor", "min_count": 1,
                                  "fallback": "良好"}})
    assert [res.facility(f).grade for f in "ABCDEFGHIJ"] == \
        ["优秀", "优秀", "良好", "良好", "良好", "良好", "合格", "合格", "不合格", "不合格"]
    # ceil(10 × 0.25) = 3 keep it
    res = _identity(TEN, {"method": "bands", "bands": BANDS,
                          "cap": {"grade": "优秀", "max_share": 0.25, "rounding": "ceil", "fallback": "良好"}})
    assert [res.facility(f).grade for f in "ABCD"] == ["优秀", "优秀", "优秀", "良好"]


QUOTA = [QuotaBand("A++", D("0.01")), QuotaBand("A+", D("0.10")), QuotaBand("A", D("0.20")), QuotaBand("B", D(1))]


@pytest.mark.parametrize("n, rounding, limits", [
    # n × upto = 0.5, 5, 10, 50: the top band holds 0 (floor) or 1 (half-up, ceil)
    (50, "floor", [0, 5, 10, 50]),
    (50, "half_up", [1, 5, 10, 50]),
    (50, "ceil", [1, 5, 10, 50]),
    # 2023 national release, 综合 n = 1588: 15.88, 158.8, 317.6 → A++ 16 hospitals with ceil or half-up
    (1588, "ceil", [16, 159, 318, 1588]),
    (1588, "half_up", [16, 159, 318, 1588]),
    (1588, "floor", [15, 158, 317, 1588]),
])
def test_quota_limits_rounding(n, rounding, limits):
    assert quota_limits(n, Grading("quota", quota=tuple(QUOTA), rounding=rounding)) == limits


def test_quota_grades_and_shared_ranks_on_the_boundary():
    # n = 20, ceil: A++ rank ≤ 1, A+ ≤ 2, A ≤ 4. T and S tie at the top (both rank 1) → both A++
    values = {chr(ord("A") + i): i for i in range(18)} | {"S": 100, "T": 100}
    g = {"method": "quota", "bands": [{"grade": b.grade, "upto": str(b.upto)} for b in QUOTA],
         "rounding": "ceil", "min_group_size": 10}
    res = _identity(values, g)
    assert (res.facility("S").rank, res.facility("T").rank) == (1, 1)
    assert (res.facility("S").grade, res.facility("T").grade) == ("A++", "A++")
    assert (res.facility("R").rank, res.facility("R").grade) == (3, "A")      # 17: third
    assert (res.facility("Q").grade, res.facility("P").grade) == ("A", "B")   # ranks 4, 5
    small = _identity({"A": 1, "B": 2}, {**g, "insufficient_label": "组内样本不足"})
    assert {f.grade for f in small.facilities} == {"组内样本不足"}


# ---------------------------------------------------------------------------------------------- ties

TWO = {"weights_sum": 2, "list": [{"name": "G1", "weight": 1}, {"name": "G2", "weight": 1}]}
TWO_ITEMS = [{"indicator": "U1", "group": "G1", "score": IDENTITY}, {"indicator": "U2", "group": "G2", "score": IDENTITY},
             {"indicator": "U3", "group": "G2", "score": IDENTITY}]


def _two(ties=None):
    # composite = (G1 + G2)/2. X (60, 40), Y (40, 60), Z (60, 40) all 50; W (60, 60) = 60.
    # V reports U3 as well: G2 = (50 + 50)/2 = 50, composite (50 + 50)/2 = 50 — one indicator more than X, Y, Z.
    table = {"X": {"U1": 60, "U2": 40}, "Y": {"U1": 40, "U2": 60}, "Z": {"U1": 60, "U2": 40},
             "W": {"U1": 60, "U2": 60}, "V": {"U1": 50, "U2": 50, "U3": 50}}
    m = method(indicators=TWO_ITEMS, groups=TWO, ties={"breakers": ties or []})
    return grade(m, {f: "甲组" for f in table}, observations(table))


def test_shared_rank_by_default():
    # rank = 1 + facilities strictly ahead: W 1; V, X, Y, Z share 2
    res = _two()
    assert {f.facility_id: f.rank for f in res.facilities} == {"W": 1, "V": 2, "X": 2, "Y": 2, "Z": 2}
    assert all(f.tie_breaks == () for f in res.facilities)


def test_tie_breakers_in_order_and_recorded():
    # tied on 50: V, X, Y, Z. 1st breaker G1 desc: X 60, Z 60 > V 50 > Y 40. 2nd: more indicators — X and Z both 2.
    # 3rd: facility code asc: X before Z. Ranks: W 1, X 2, Z 3, V 4, Y 5.
    res = _two([{"by": "group", "group": "G1"}, {"by": "indicators_reported"}, {"by": "facility_id"}])
    assert {f.facility_id: f.rank for f in res.facilities} == {"W": 1, "X": 2, "Z": 3, "V": 4, "Y": 5}
    g1, n, code = "G1组得分（高者在前）", "计分指标个数（多者在前）", "机构代码（升序）"
    assert res.facility("X").tie_breaks == (TieBreak(g1, "60.0000", ("V", "Y", "Z")), TieBreak(n, "2", ("Z",)),
                                            TieBreak(code, "X", ("Z",)))
    assert res.facility("Y").tie_breaks == (TieBreak(g1, "40.0000", ("V", "X", "Z")),)
    assert res.facility("V").tie_breaks == (TieBreak(g1, "50.0000", ("X", "Y", "Z")),)
    assert res.facility("W").tie_breaks == ()


def test_indicator_breaker_and_ascending_order():
    # breaker: U2's standardised value, ascending → X and Z (40) before V (50) before Y (60); X/Z remain tied
    res = _two([{"by": "indicator", "indicator": "U2", "order": "asc"}])
    assert {f.facility_id: f.rank for f in res.facilities} == {"W": 1, "X": 2, "Z": 2, "V": 4, "Y": 5}
    assert res.facility("X").tie_breaks == (TieBreak("指标 U2 标准化值（低者在前）", "40.0000", ("V", "Y", "Z")),)


# ---------------------------------------------------------------------------------------------- peer grouping

def test_peer_groups_by_number_of_groups_reported():
    # within [peer_group, groups_reported] (CMS-style): X and W report two groups, U only G1, so U is ranked and
    # graded in its own grading group although its composite 90 beats both.
    table = {"X": {"U1": 60, "U2": 40}, "W": {"U1": 60, "U2": 60}, "U": {"U1": 90}}
    m = method(indicators=TWO_ITEMS, groups=TWO, eligibility={"min_groups": 1, "min_indicators": 1},
               grading={"method": "bands", "within": ["peer_group", "groups_reported"],
                        "bands": [{"grade": "A", "min": 55}, {"grade": "B", "min": 0}]})
    res = grade(m, {f: "甲组" for f in table}, observations(table))
    got = {f.facility_id: (f.grading_group, f.groups_reported, f.rank, f.grade) for f in res.facilities}
    assert got == {"W": ("甲组·报告2组", 2, 1, "A"), "X": ("甲组·报告2组", 2, 2, "B"), "U": ("甲组·报告1组", 1, 1, "A")}
