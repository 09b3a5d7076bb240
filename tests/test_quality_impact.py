"""Impact ranking of outliers on a tiny scheme worked by hand, and the batched scoring against one-by-one scoring."""
from __future__ import annotations

import random
from decimal import Decimal as D
from pathlib import Path

import pytest

from metrics.quality.impact import field_indicators, rank_by_impact
from metrics.quality.outliers import Outlier
from metrics.indicators import load_indicators
from metrics.scoring import load_scheme

SCHEME = """\
version: "t"
name_zh: 测试方案
total_points: 100
precision: 2
min_weight_share: 0.6
calibres: {YP01: excl_herbal}
grades:
  bands:
    - {grade: 优秀, min: 90}
    - {grade: 合格, min: 0}
percentile_bands:
  min_group_size: 1
  insufficient_label: 组内样本不足
  bands:
    - {grade: A, upto: 1}
peer_groups:
  三级综合:
    - {indicator: YP01, weight: 60, rule: {kind: ceiling, target: 30, deduct_per_unit: 2}}
    - {indicator: YP09, weight: 40, rule: {kind: percentile}}
    - {indicator: YP02, weight: 0, rule: {kind: monitor}}
"""


@pytest.fixture(scope="module")
def scheme(tmp_path_factory: pytest.TempPathFactory):
    path: Path = tmp_path_factory.mktemp("scheme") / "t.yaml"
    path.write_text(SCHEME, encoding="utf-8")
    return load_scheme(path=path)


def out(fid: str, field: str, replacement: float | None, method: str = "peer_mad", confirmed: bool = False) -> Outlier:
    return Outlier(fid, "2026-10", field, method, "extreme", 0.0, None, None, 12, None, "quality-peer-mad",
                   "info" if confirmed else "warning", confirmed, "三级综合", 0.0, replacement)


# A: 药占比 (400 − 0) / 1000 = 40 % → 60 − 2 × (40 − 30) = 40 points; 手术占比 30 / 100 = 30 %
# B: 300 / 1000 = 30 % → 60; 40 %          C: 250 / 1000 = 25 % → 60; 50 %
# YP09 percentile, 40 × worse / (n − 1): A 0, B 40 × 1/2 = 20, C 40 × 2/2 = 40
# composites: A 40, B 80, C 100 → ranks C 1, B 2, A 3
AGG = {
    "A": {"drug_revenue": D(400), "herbal_revenue": D(0), "med_revenue": D(1000), "discharges_surgery": D(30),
          "discharges": D(100), "oe_visits": D(5000), "op_drug_revenue": D(50)},
    "B": {"drug_revenue": D(300), "herbal_revenue": D(0), "med_revenue": D(1000), "discharges_surgery": D(40),
          "discharges": D(100), "oe_visits": D(5000), "op_drug_revenue": D(50)},
    "C": {"drug_revenue": D(250), "herbal_revenue": D(0), "med_revenue": D(1000), "discharges_surgery": D(50),
          "discharges": D(100), "oe_visits": D(5000), "op_drug_revenue": D(50)},
}
GROUPS = {"A": "三级综合", "B": "三级综合", "C": "三级综合"}


def test_impact_ordering_on_a_tiny_scheme(scheme) -> None:
    outliers = [
        out("C", "oe_visits", 9000),            # feeds YP02 (a monitor item) only: scored=False, Δ 0
        out("A", "drug_revenue", 300),          # YP01 30 % → 60 points: A 60 (+20), still behind B 80 → rank 3
        out("B", "med_revenue", 1500),          # YP01 300 / 1500 = 20 %: the value changes, the points stay 60: Δ 0
        out("C", "herbal_revenue", 0),          # already 0: YP01 unchanged
        out("A", "discharges_surgery", 55),     # YP09 55 % beats B 40 and C 50 → 40 points: A 80 (+40), rank 2
        out("B", "discharges_surgery", 20),     # YP09 20 % below A 30 → 0 points: B 60 (−20), rank 2 (A 40 behind)
        out("C", "drug_revenue", 500, confirmed=True),   # confirmed: not ranked
        out("A", "drug_revenue", 300, method="peer_z"),  # same value, same replacement: shares the first's impact
    ]
    ranked = rank_by_impact(outliers, AGG, {}, GROUPS, scheme)
    rows = [(o.facility_id, o.field, o.method, i.scored, i.composite, i.composite_new, i.delta, i.rank, i.rank_new,
             i.changed) for o, i in ranked]
    assert rows == [
        ("A", "discharges_surgery", "peer_mad", True, D("40.00"), D("80.00"), D("40.00"), 3, 2, ("YP09",)),
        ("A", "drug_revenue", "peer_mad", True, D("40.00"), D("60.00"), D("20.00"), 3, 3, ("YP01",)),
        ("A", "drug_revenue", "peer_z", True, D("40.00"), D("60.00"), D("20.00"), 3, 3, ("YP01",)),
        ("B", "discharges_surgery", "peer_mad", True, D("80.00"), D("60.00"), D("-20.00"), 2, 2, ("YP09",)),
        ("B", "med_revenue", "peer_mad", True, D("80.00"), D("80.00"), D("0.00"), 2, 2, ("YP01",)),
        ("C", "herbal_revenue", "peer_mad", True, D("100.00"), D("100.00"), D(0), 1, 1, ()),
        ("C", "oe_visits", "peer_mad", False, D("100.00"), D("100.00"), D(0), 1, 1, ()),
    ]
    notes = {(o.facility_id, o.field): i.note_zh for o, i in ranked}
    assert notes[("C", "herbal_revenue")] == "替换后指标值不变"
    assert notes[("C", "oe_visits")] == "该数据项不参与本组计分指标，对综合得分无影响"
    assert ranked[1][1] is ranked[2][1]


def test_field_indicators_follow_growth_to_its_base_ratio() -> None:
    reads = field_indicators(load_indicators(), {"YP01": "excl_herbal"})
    assert reads["op_drug_revenue"] == ("YP02", "YP04")          # YP04 is the growth of YP02
    assert reads["herbal_revenue"] == ("YP01",)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_batched_scoring_equals_scoring_each_outlier_alone(scheme, seed: int) -> None:
    # jobs of one group share a scoring only when that is exact; compare with one call per outlier
    rng = random.Random(seed)
    fids = [f"X{i:02d}" for i in range(15)]
    agg = {f: {"drug_revenue": D(rng.randint(200, 450)), "herbal_revenue": D(0), "med_revenue": D(1000),
               "discharges_surgery": D(rng.randint(20, 60)), "discharges": D(100)} for f in fids}
    groups = {f: "三级综合" for f in fids}
    fields = ["drug_revenue", "discharges_surgery", "discharges", "med_revenue"]
    outliers = [out(rng.choice(fids), rng.choice(fields), float(rng.randint(20, 1200))) for _ in range(25)]
    together = {(o.facility_id, o.field, o.replacement): i for o, i in rank_by_impact(outliers, agg, {}, groups,
                                                                                      scheme)}
    for o in outliers:
        ((_, alone),) = rank_by_impact([o], agg, {}, groups, scheme)
        assert together[(o.facility_id, o.field, o.replacement)] == alone
