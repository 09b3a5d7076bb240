"""Scoring: rule kinds, composites with redistribution, ranks, grades with quotas, and the scheme loader."""
from __future__ import annotations

from decimal import Decimal as D
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metrics.catalog import CatalogError
from metrics.indicators import IndicatorValue
from metrics.scoring import (GradeBand, PercentileBand, Quota, Rule, Scheme, apply_quota, band_grade,
                             load_scheme, percentile_band, quota_size, rank_within, rule_points, score)

W10 = D(10)


# ---------------------------------------------------------------------------------------------- rule kinds

@pytest.mark.parametrize("value, points", [
    (D("28.00"), D(10)),        # below the ceiling: full points
    (D("30.00"), D(10)),        # on the ceiling: full points
    (D("32.50"), D("7.5")),     # 2.5 pp above × 1 point = 2.5 deducted → 10 − 2.5
    (D("39.99"), D("0.01")),    # 9.99 pp above → 10 − 9.99
    (D("45.00"), D(0)),         # 15 pp above would be −5: floored at 0 (deduction capped at the weight)
])
def test_ceiling(value: D, points: D) -> None:
    assert rule_points(Rule("ceiling", target=D(30), deduct_per_unit=D(1)), W10, value) == points


@pytest.mark.parametrize("value, points", [
    (D("95"), D(10)),           # above the floor
    (D("90"), D(10)),           # on it
    (D("85"), D("7.5")),        # 5 pp short × 0.5 = 2.5 → 7.5
    (D("60"), D(0)),            # 30 pp short × 0.5 = 15 > 10 → 0
])
def test_floor(value: D, points: D) -> None:
    assert rule_points(Rule("floor", target=D(90), deduct_per_unit=D("0.5")), W10, value) == points


@pytest.mark.parametrize("value, points", [
    (D("20"), D(0)),            # at the zero anchor
    (D("15"), D(0)),            # below it: clipped to 0
    (D("27.5"), D(5)),          # 10 × (27.5 − 20)/(35 − 20) = 10 × 7.5/15 = 5
    (D("29"), D(6)),            # 10 × 9/15 = 6
    (D("35"), D(10)),           # at the full anchor
    (D("50"), D(10)),           # beyond: clipped to the weight
])
def test_linear(value: D, points: D) -> None:
    assert rule_points(Rule("linear", zero_at=D(20), full_at=D(35)), W10, value) == points


def test_linear_falling() -> None:
    # zero_at 10 > full_at 0: value 2.5 → 10 × (2.5 − 10)/(0 − 10) = 10 × 0.75 = 7.5
    assert rule_points(Rule("linear", zero_at=D(10), full_at=D(0)), W10, D("2.5")) == D("7.5")


@pytest.mark.parametrize("value, points", [
    (D("2.5"), D(10)),                     # inside the band
    (D("1.5"), D("7.5")),                  # 0.5 below the band × 5 = 2.5 deducted → 7.5
    (D("0"), D(0)),                        # 2 below × 5 = 10 deducted → 0
    (D("4.2"), D(9)),                      # 0.2 above × 5 → 1 deducted
])
def test_band(value: D, points: D) -> None:
    assert rule_points(Rule("band", low=D(2), high=D(4), deduct_per_unit=D(5)), W10, value) == points


def test_percentile() -> None:
    peers = [D(10), D(20), D(20), D(30), D(40)]        # n = 5, so n − 1 = 4
    pct = Rule("percentile")
    # up: 40 beats 4 → 10 × 4/4 = 10;  30 beats 3 → 7.5;  20 beats 1 and ties 1 → 10 × (1 + 0.5)/4 = 3.75
    assert rule_points(pct, W10, D(40), peers, "up") == D(10)
    assert rule_points(pct, W10, D(30), peers, "up") == D("7.5")
    assert rule_points(pct, W10, D(20), peers, "up") == D("3.75")
    assert rule_points(pct, W10, D(10), peers, "up") == D(0)
    # down (lower is better): 10 beats 4 → 10;  20 beats 2 (30, 40) and ties 1 → 10 × 2.5/4 = 6.25
    assert rule_points(pct, W10, D(10), peers, "down") == D(10)
    assert rule_points(pct, W10, D(20), peers, "down") == D("6.25")
    # n = 1 → full points; all tied → 10 × (0 + 0.5 × 2)/2 = 5
    assert rule_points(pct, W10, D(7), [D(7)], "up") == D(10)
    assert rule_points(pct, W10, D(7), [D(7)] * 3, "up") == D(5)


def test_monitor_scores_nothing() -> None:
    assert rule_points(Rule("monitor"), D(0), D(55)) is None


# ---------------------------------------------------------------------------------------------- composite

_SCHEME = """\
version: "t1"
name_zh: 测试方案
total_points: 100
precision: 2
min_weight_share: 0.6
defaults: {missing: redistribute, data_error: zero, undefined: redistribute}
grades:
  bands:
    - {grade: 优秀, min: 90}
    - {grade: 良好, min: 80}
    - {grade: 合格, min: 60}
    - {grade: 不合格, min: 0}
  quota: {grade: 优秀, max_share: 0.2, min_count: 1, fallback_grade: 良好}
percentile_bands:
  min_group_size: 10
  insufficient_label: 组内样本不足
  bands:
    - {grade: A, upto: 0.5}
    - {grade: B, upto: 1}
peer_groups:
  三级综合:
    - {indicator: YP01, weight: 30, rule: {kind: ceiling, target: 30, deduct_per_unit: 2}}
    - {indicator: YP06, weight: 30, rule: {kind: linear, zero_at: 20, full_at: 35}}
    - {indicator: YP08, weight: 20, rule: {kind: floor, target: 90, deduct_per_unit: 1}}
    - {indicator: YP10, weight: 20, rule: {kind: floor, target: 10, deduct_per_unit: 1}}
    - {indicator: YP02, weight: 0, rule: {kind: monitor}}
"""


def _scheme(tmp_path: Path, text: str = _SCHEME) -> Scheme:
    p = tmp_path / "t.yaml"
    p.write_text(text, encoding="utf-8")
    return load_scheme(path=p)


def _one_indicator_scheme() -> Scheme:
    text = _SCHEME.split("peer_groups:")[0] + """\
peer_groups:
  三级综合:
    - {indicator: YP06, weight: 100, rule: {kind: linear, zero_at: 20, full_at: 35}}
"""
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "one.yaml"
        p.write_text(text, encoding="utf-8")
        return load_scheme(path=p)


_SCHEME_ONE = _one_indicator_scheme()


def _iv(fid: str, ind: str, value: str | None, status: str = "ok") -> IndicatorValue:
    return IndicatorValue(fid, ind, None, None, None if value is None else D(value), status)


def test_composite_with_redistribution(tmp_path: Path) -> None:
    s = _scheme(tmp_path)
    values = [
        # A: YP01 32.50 → 30 − 2 × 2.5 = 25;  YP06 29 → 30 × 9/15 = 18;  YP08 85 → 20 − 5 = 15;
        #    YP10 undefined → redistribute.  composite = 100 × (25 + 18 + 15)/(30 + 30 + 20) = 100 × 58/80 = 72.50
        _iv("A", "YP01", "32.50"), _iv("A", "YP06", "29.00"), _iv("A", "YP08", "85.00"),
        _iv("A", "YP10", None, "undefined"), _iv("A", "YP02", "150.63"),
        # B: YP01 data_error → 0 points, weight kept (policy zero); YP06 35 → 30; YP08 95 → 20; YP10 12 → 20.
        #    composite = 100 × (0 + 30 + 20 + 20)/100 = 70.00
        _iv("B", "YP01", None, "data_error"), _iv("B", "YP06", "35.00"), _iv("B", "YP08", "95.00"),
        _iv("B", "YP10", "12.00"),
        # C: only YP01 (29 → 30) and YP10 (10 → 20) scored → weight 50 of 100 < 60 % → not scored
        _iv("C", "YP01", "29.00"), _iv("C", "YP06", None, "missing"), _iv("C", "YP08", None, "missing"),
        _iv("C", "YP10", "10.00"),
        # D: YP01 30.01 → 30 − 0.02 = 29.98; YP06 27.77 → 30 × 7.77/15 = 15.54; YP08 89.99 → 19.99;
        #    YP10 missing → redistribute.  100 × 65.51/80 = 81.8875 → half-up 81.89
        _iv("D", "YP01", "30.01"), _iv("D", "YP06", "27.77"), _iv("D", "YP08", "89.99"),
        _iv("D", "YP10", None, "missing"),
    ]
    rows, comps = score(values, {f: "三级综合" for f in "ABCD"}, s)
    by = {c.facility_id: c for c in comps}
    assert by["A"].composite == D("72.50") and by["A"].status == "scored"
    assert by["B"].composite == D("70.00")
    assert by["D"].composite == D("81.89")
    assert by["C"].composite is None and by["C"].status == "not_scored"
    assert "50.0%" in (by["C"].reason or "") and "60%" in (by["C"].reason or "")
    assert "YP10" in (by["A"].reason or "") and "缺项" in (by["A"].reason or "")
    assert "YP01" in (by["B"].reason or "") and "计0分" in (by["B"].reason or "")
    # ranks among scored: D 81.89 → 1, A 72.50 → 2, B 70.00 → 3
    assert [(c.facility_id, c.rank) for c in comps if c.rank] == [("D", 1), ("A", 2), ("B", 3)]
    assert (by["D"].grade, by["A"].grade, by["B"].grade) == ("良好", "合格", "合格")
    assert by["D"].quota_grade == "组内样本不足"          # 3 scored < min_group_size 10
    a = {r.indicator: r for r in rows if r.facility_id == "A"}
    # effective weights after redistribution: 30 × 100/80 = 37.5, 37.5, 20 × 100/80 = 25; YP10 → 0
    assert (a["YP01"].effective_weight, a["YP06"].effective_weight, a["YP08"].effective_weight) == \
        (D("37.5000"), D("37.5000"), D("25.0000"))
    assert (a["YP10"].status, a["YP10"].effective_weight, a["YP10"].points) == ("redistributed", D(0), None)
    assert (a["YP01"].points, a["YP06"].points, a["YP08"].points) == (D("25.0000"), D("18.0000"), D("15.0000"))
    assert (a["YP02"].status, a["YP02"].points) == ("monitor", None)
    b = {r.indicator: r for r in rows if r.facility_id == "B"}
    assert (b["YP01"].status, b["YP01"].points, b["YP01"].effective_weight) == ("zero", D(0), D("30.0000"))


def test_zero_policy_for_missing(tmp_path: Path) -> None:
    s = _scheme(tmp_path, _SCHEME.replace("defaults: {missing: redistribute", "defaults: {missing: zero"))
    values = [_iv("A", "YP01", "32.50"), _iv("A", "YP06", "29.00"), _iv("A", "YP08", "85.00"),
              _iv("A", "YP10", None, "missing")]
    # YP10 missing now scores 0 with its weight kept: 100 × 58/100 = 58.00
    _, [c] = score(values, {"A": "三级综合"}, s)
    assert c.composite == D("58.00") and c.grade == "不合格"


def test_peer_groups_score_separately_and_unknown_group_is_reported(tmp_path: Path) -> None:
    s = _scheme(tmp_path)
    values = [_iv(f, i, "29.00") for f in ("A", "X", "Z") for i in ("YP01", "YP06", "YP08", "YP10")]
    _, comps = score(values, {"A": "三级综合", "X": None, "Z": "基层"}, s)
    assert [(c.facility_id, c.peer_group, c.status) for c in comps] == \
        [("A", "三级综合", "scored"), ("X", "未分组", "not_scored")]   # 基层 is outside this scheme


# ---------------------------------------------------------------------------------------------- ranks

@given(st.lists(st.integers(0, 40).map(lambda x: D(x) / 4), min_size=1, max_size=30))
def test_rank_is_one_plus_strictly_higher(scores: list[D]) -> None:
    comp = {f"F{i:02d}": v for i, v in enumerate(scores)}
    ranks = rank_within(comp)
    for f, v in comp.items():
        assert ranks[f] == 1 + sum(1 for w in comp.values() if w > v)
    for f, g in ((f, g) for f in comp for g in comp):
        if comp[f] == comp[g]:
            assert ranks[f] == ranks[g]                       # ties share a rank
        elif comp[f] > comp[g]:
            assert ranks[f] < ranks[g]
    assert min(ranks.values()) == 1 and max(ranks.values()) <= len(comp)


@given(st.lists(st.integers(2000, 2010), min_size=1, max_size=12))
def test_score_ranks_on_the_rounded_composite(hundredths: list[int]) -> None:
    # YP06 linear 20 → 35 with weight 100: value v scores 100 × (v − 20)/15, so composites differ in the third
    # decimal and often tie once rounded to 2 decimals. Ranks must follow the rounded composites.
    scheme = _SCHEME_ONE
    values = [_iv(f"F{i:02d}", "YP06", str(D(h) / 100)) for i, h in enumerate(hundredths)]
    _, comps = score(values, {v.facility_id: "三级综合" for v in values}, scheme)
    rounded = {c.facility_id: c.composite for c in comps}
    for c in comps:
        assert c.composite == c.composite.quantize(D("0.01"))
        assert c.rank == 1 + sum(1 for v in rounded.values() if v > c.composite)


# ---------------------------------------------------------------------------------------------- grades

BANDS = (GradeBand("优秀", D(90)), GradeBand("良好", D(80)), GradeBand("合格", D(60)), GradeBand("不合格", D(0)))
QUOTA = Quota("优秀", D("0.2"), 1, "良好")


def _grades(scores: list[str]) -> list[str | None]:
    comp = {f"F{i:02d}": D(v) for i, v in enumerate(scores)}
    ranks = rank_within(comp)
    g = apply_quota({f: band_grade(c, BANDS) for f, c in comp.items()}, ranks, QUOTA)
    return [g[f] for f in comp]


def test_band_grades_with_quota() -> None:
    # n = 10 → quota = floor(10 × 0.2) = 2: ranks 1 and 2 keep 优秀; 93, 93 (rank 3) and 91 fall to 良好
    assert _grades(["95", "94", "93", "93", "91", "85", "80", "70", "60", "50"]) == \
        ["优秀", "优秀", "良好", "良好", "良好", "良好", "良好", "合格", "合格", "不合格"]


def test_quota_ties_on_the_boundary_all_keep_the_grade() -> None:
    # quota 2; 94 and 94 share rank 2 ≤ 2 → three facilities keep 优秀 (ties may exceed the quota)
    assert _grades(["95", "94", "94", "93", "92", "91", "90", "89", "88", "87"])[:5] == \
        ["优秀", "优秀", "优秀", "良好", "良好"]


def test_quota_size_rounding() -> None:
    # floor(n × 20 %) with a minimum of 1
    assert [quota_size(n, QUOTA) for n in (1, 4, 5, 9, 10, 14, 15, 100)] == [1, 1, 1, 1, 2, 2, 3, 20]
    assert _grades(["95", "94", "94", "80"]) == ["优秀", "良好", "良好", "良好"]   # n = 4 → quota 1


NATIONAL = tuple(PercentileBand(g, D(u)) for g, u in
                 (("A++", "0.01"), ("A+", "0.10"), ("A", "0.20"), ("B++", "0.30"), ("B+", "0.40"), ("B", "0.60"),
                  ("C", "1")))


def _pband(rank: int, n: int) -> str:
    return percentile_band(rank, n, NATIONAL, 10, "组内样本不足")


def test_percentile_bands_rounding_rule() -> None:
    # a facility takes the first band with (rank − 1) < upto × n
    bands100 = [_pband(r, 100) for r in range(1, 101)]
    assert bands100.count("A++") == 1 and bands100.count("A+") == 9 and bands100.count("A") == 10
    assert bands100.count("B++") == 10 and bands100.count("B+") == 10 and bands100.count("B") == 20
    assert bands100.count("C") == 40
    assert (_pband(10, 100), _pband(11, 100)) == ("A+", "A")   # 9 < 10 → A+;  10 < 10 fails → A
    # n = 10: rank 1 → 0 < 0.1 → A++;  rank 2 → 1 < 1 fails, 1 < 2 → A;  rank 5 → 4 < 6 → B;  rank 7 → 6 → C
    assert [_pband(r, 10) for r in range(1, 11)] == ["A++", "A", "B++", "B+", "B", "B", "C", "C", "C", "C"]
    # the 2023 national release for 综合 (n = 1588): A++ 16 hospitals, A+ 143
    bands = [_pband(r, 1588) for r in range(1, 1589)]
    assert bands.count("A++") == 16 and bands.count("A+") == 143


def test_percentile_bands_ties_and_minimum_group_size() -> None:
    assert _pband(1, 9) == "组内样本不足"
    assert _pband(1, 10) == "A++"
    # n = 20: two facilities tied at rank 1 both get A++ (0 < 0.2); the next has rank 3:
    # 2 < 0.2 fails, 2 < 2 fails (A+), 2 < 4 → A
    assert [_pband(r, 20) for r in (1, 1, 3)] == ["A++", "A++", "A"]


def test_score_applies_percentile_bands_from_the_scheme(tmp_path: Path) -> None:
    scheme = _SCHEME_ONE
    values = [_iv(f"F{i:02d}", "YP06", str(20 + i)) for i in range(12)]   # F11 best … F00 worst (0 points)
    _, comps = score(values, {v.facility_id: "三级综合" for v in values}, scheme)
    by = {c.facility_id: c for c in comps}
    # n = 12, bands A (upto 0.5) / B: rank r is A when r − 1 < 6 → ranks 1…6
    assert [by[f"F{i:02d}"].quota_grade for i in range(11, -1, -1)] == ["A"] * 6 + ["B"] * 6
    assert by["F11"].composite == D("73.33")   # 100 × (31 − 20)/15 = 73.333… → 73.33


# ---------------------------------------------------------------------------------------------- loader

def test_shipped_scheme_loads() -> None:
    s = load_scheme("2026")
    assert s.version == "2026" and s.total_points == D(100) and s.precision == 2
    assert set(s.groups) == {"三级综合", "三级中医类", "三级专科", "二级综合", "二级中医类", "二级专科"}
    for items in s.groups.values():
        assert sum(i.weight for i in items) == D(100)
    assert s.calibres == {"YP01": "excl_herbal", "YP07": "visits"}
    assert s.quota is not None and s.quota.max_share == D("0.20")
    assert [b.grade for b in s.percentile_bands] == ["A++", "A+", "A", "B++", "B+", "B", "C"]


@pytest.mark.parametrize("old, new, key", [
    ("precision: 2\n", "precision: 2\nbonus: 5\n", "bonus"),
    ("deduct_per_unit: 2}", "deduct_per_unit: 2, cap: 5}", "cap"),
    ("weight: 30, rule", "weight: 30, wieght: 1, rule", "wieght"),
    ("{grade: A, upto: 0.5}", "{grade: A, upto: 0.5, label: x}", "label"),
    ("min_count: 1,", "min_count: 1, ties: keep,", "ties"),
    ("defaults: {missing: redistribute,", "defaults: {missing: redistribute, veto: zero,", "veto"),
    ("kind: ceiling", "kind: ceil", "kind"),
    ("indicator: YP01", "indicator: YP99", "YP99"),
    ("  三级综合:", "  三级全科:", "三级全科"),
    ("data_error: zero,", "data_error: halve,", "data_error"),
    ("{indicator: YP02, weight: 0,", "{indicator: YP02, weight: 5,", "weight"),
])
def test_scheme_loader_rejects_naming_file_and_key(tmp_path: Path, old: str, new: str, key: str) -> None:
    assert old in _SCHEME
    p = tmp_path / "bad.yaml"
    p.write_text(_SCHEME.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(CatalogError) as e:
        load_scheme(path=p)
    assert str(p) in str(e.value) and key in str(e.value)


def test_scheme_loader_rejects_weights_not_adding_up(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text(_SCHEME.replace("weight: 20, rule: {kind: floor, target: 10", "weight: 25, rule: {kind: floor, "
                                 "target: 10"), encoding="utf-8")
    with pytest.raises(CatalogError, match="105"):
        load_scheme(path=p)


def test_scheme_loader_rejects_percentile_on_monitor_indicator(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text(_SCHEME.replace("{indicator: YP02, weight: 0, rule: {kind: monitor}}",
                                 "{indicator: YP02, weight: 0, rule: {kind: percentile}}"), encoding="utf-8")
    with pytest.raises(CatalogError, match="percentile"):
        load_scheme(path=p)
