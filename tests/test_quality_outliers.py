"""Outlier review (issue 5 §2): peer modified z and z, own-history fallback, MAD floor, year on year with the
peer-median adjustment and the minimum absolute change, 春节 shift, magnitude slips, pairs, confirmations, findings
on cells, and the config loader. Every expected number is worked out by hand in the comment beside it."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest

from metrics.catalog import CatalogError
from metrics.quality.holidays import load_holidays
from metrics.quality.outliers import Outlier, detect, load_config, review_months, to_findings, value_text

P = "2026-10"
CFG = load_config()


def frame(rows: list[tuple[str, str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["facility_id", "period", "field", "value"])


def summary(outs: list[Outlier]) -> list[tuple]:
    return [(o.facility_id, o.field, o.method, o.level, o.peer_n) for o in outs]


# ---------------------------------------------------------------------------------------------- across peers

# 三级综合, 12 facilities (≥ 11, so both peer methods run):
#   oe_visits  F01–F10 = 90 92 94 96 98 102 104 106 108 110, F11 = 160, F12 = 150
#     sorted: 90 92 94 96 98 102 104 106 108 110 150 160 → median = (102 + 104) / 2 = 103
#     |x − 103|: 13 11 9 7 5 1 1 3 5 7 57 47 → sorted 1 1 3 5 5 7 7 9 11 13 47 57 → MAD = (7 + 7) / 2 = 7
#       (floor: 2 % × 103 = 2.06 < 7, so MAD stays 7)
#     modified z: F11 0.6745 × 57 / 7 = 5.4924 (≥ 5 extreme), F12 0.6745 × 47 / 7 = 4.5288 (≥ 3.5 moderate),
#                 F01 0.6745 × −13 / 7 = −1.25 (none)
#     z: mean = 1310 / 12 = 109.1667; Σ(x − mean)² = 5531.67, sample SD = √(5531.67 / 11) = 22.4250
#        F11 (160 − 109.1667) / 22.4250 = 2.2668 (≥ 2 moderate), F12 40.8333 / 22.4250 = 1.8209 (none)
#   discharges F01–F11 = 100, F12 = 130
#     median 100, MAD 0 → floor max(2 % × 100, 1) = 2 → F12 modified z = 0.6745 × 30 / 2 = 10.1175 (extreme)
#     z of the one different value among n equal ones is always (n − 1) / √n = 11 / √12 = 3.1754 (extreme)
# 二级综合, 8 facilities (≥ 7 for MAD, < 11 so no z): oe_visits H01–H06 = 500, H07 = 600, H08 = 505
#     median 500, |x − 500| = 0 0 0 0 0 0 100 5 → MAD 0 → floor max(2 % × 500, 1) = 10
#     H07 0.6745 × 100 / 10 = 6.745 (extreme); H08 0.6745 × 5 / 10 = 0.337 (none — without the floor: infinite)
# 三级中医类, 4 facilities (< 7: own history): K01 oe_visits previous 12 months
#     200 210 190 205 195 200 210 190 205 195 200 200 → median 200, |x − 200| → MAD 5 (floor 4 < 5)
#     this month 260 → 0.6745 × 60 / 5 = 8.094 (extreme). K02–K04 = 300 every month (on their median).
#     year on year: 260 vs 200 (2025-10) = +30 % < 33 % → no warning.
G1 = {f"F{i:02d}": "三级综合" for i in range(1, 13)}
G2 = {f"H{i:02d}": "二级综合" for i in range(1, 9)}
G3 = {f"K{i:02d}": "三级中医类" for i in range(1, 5)}
PEERS = {**G1, **G2, **G3}
K01_HISTORY = [200, 210, 190, 205, 195, 200, 210, 190, 205, 195, 200, 200]


def peer_rows() -> list[tuple]:
    rows = []
    for fid, v in zip(G1, [90, 92, 94, 96, 98, 102, 104, 106, 108, 110, 160, 150]):
        rows.append((fid, P, "oe_visits", v))
    for fid in G1:
        rows.append((fid, P, "discharges", 130 if fid == "F12" else 100))
    for fid, v in zip(G2, [500, 500, 500, 500, 500, 500, 600, 505]):
        rows.append((fid, P, "oe_visits", v))
    _, hist, _, _ = review_months(P)
    for m, v in zip(hist[::-1], K01_HISTORY):   # hist is newest first: 2026-09 … 2025-10
        rows.append(("K01", m, "oe_visits", v))
    rows.append(("K01", P, "oe_visits", 260))
    for fid in ("K02", "K03", "K04"):
        rows += [(fid, m, "oe_visits", 300) for m in [P, *hist]]
    return rows


def test_peer_methods_own_history_and_mad_floor() -> None:
    outs = detect(frame(peer_rows()), PEERS, P)
    assert summary(outs) == [
        ("F11", "oe_visits", "peer_mad", "extreme", 12),
        ("F11", "oe_visits", "peer_z", "moderate", 12),
        ("F12", "oe_visits", "peer_mad", "moderate", 12),
        ("F12", "discharges", "peer_mad", "extreme", 12),
        ("F12", "discharges", "peer_z", "extreme", 12),
        ("H07", "oe_visits", "peer_mad", "extreme", 8),
        ("K01", "oe_visits", "own_history", "extreme", None),
    ]
    stats = [round(o.statistic, 4) for o in outs]
    assert stats == [5.4924, 2.2668, 4.5288, 10.1175, 3.1754, 6.745, 8.094]
    refs = [round(o.reference, 4) for o in outs]
    assert refs == [103, 109.1667, 103, 100, 102.5, 500, 200]
    # impact ranking replaces a peer outlier by the peer median, an own-history one by its own median
    assert [o.replacement for o in outs] == [103, 103, 103, 100, 100, 500, 200]
    f11 = outs[0]
    assert f11.detail_zh == "明显偏离同组机构（三级综合，12 家）的中位数 103：修正Z值 5.5，属重度异常（修正Z值 ≥ 5）"
    assert outs[1].detail_zh == ("与同组机构（三级综合，12 家）的均值 109 相差 2.3 个标准差（标准差 22），"
                                 "属中度异常（≥ 2 个标准差）")
    assert outs[-1].detail_zh == ("与本机构前 12 个月的中位数 200 相比明显异常：修正Z值 8.1，属重度异常（修正Z值 ≥ 5）；"
                                  "同组机构不足 7 家，改与本机构历史比较")


def test_z_needs_eleven_and_small_groups_are_never_compared_with_peers() -> None:
    # the largest |z| among n values with the sample SD is (n − 1)/√n: 9/√10 = 2.85 < 3 at n = 10, so min_n 11
    cfg = dataclasses.replace(CFG, peer_z=dataclasses.replace(CFG.peer_z, min_n=10))
    ten = {f"F{i:02d}": "三级综合" for i in range(1, 11)}
    rows = [(f, P, "discharges", 130 if f == "F10" else 100) for f in ten]
    z = [o for o in detect(frame(rows), ten, P, cfg) if o.method == "peer_z"]
    assert [(o.facility_id, o.level, round(o.statistic, 4)) for o in z] == [("F10", "moderate", 2.8460)]
    assert [o.method for o in detect(frame(rows), ten, P)] == ["peer_mad"]   # default min_n 11: no z at all


# ---------------------------------------------------------------------------------------------- over time

# 三级综合, 6 facilities, med_revenue (万元; min_abs_change 20 万元), 2025-10 → 2026-10:
#   A 100 → 150, B 200 → 220, C 300 → 330, D 400 → 440, F 20 → 30, G 1000 → 1350
#   peer median 2026-10: 30 150 220 330 440 1350 → (220 + 330) / 2 = 275; 2025-10: 20 100 200 300 400 1000 → 250
#   peer change = 275 / 250 − 1 = +10 %
#   A: expected 100 × 1.1 = 110; 150 / 110 − 1 = +36.4 % > 33 % and |150 − 110| = 40 ≥ 20 → warning
#   F: expected 22; 30 / 22 − 1 = +36.4 % > 33 % but |30 − 22| = 8 < 20 → no warning (small absolute change)
#   G: +35 % raw, but expected 1100 → 1350 / 1100 − 1 = +22.7 % → no warning (the peers grew too)
YOY = {"A": (100, 150), "B": (200, 220), "C": (300, 330), "D": (400, 440), "F": (20, 30), "G": (1000, 1350)}


def test_yoy_peer_median_adjustment_and_minimum_change() -> None:
    rows = [(f, m, "med_revenue", v) for f, (b, c) in YOY.items() for m, v in (("2025-10", b), (P, c))]
    outs = detect(frame(rows), {f: "三级综合" for f in YOY}, P)
    assert summary(outs) == [("A", "med_revenue", "yoy", "warning", 6)]
    a = outs[0]
    assert (a.base, round(a.peer_change, 4), round(a.reference, 4), round(a.statistic, 4)) == (100, 0.1, 110, 0.3636)
    assert (a.compare_period, a.replacement) == ("2025-10", pytest.approx(110))
    assert a.detail_zh == ("上年同期（2025-10）为 100.00，同组机构（三级综合，6 家）中位数同期变化 +10.0%，据此参考值为 "
                           "110.00，本月较参考值 +36.4%（预警阈值 ±33%，且变化量 ≥ 20万元）")
    # without a peer group the raw change counts: G +35 % and |350| ≥ 20 → warning; A +50 %; F below 20 万元
    alone = detect(frame(rows), {}, P)
    assert [(o.facility_id, round(o.statistic, 4)) for o in alone] == [("A", 0.5), ("G", 0.35)]


def test_spring_festival_shift() -> None:
    cal = load_holidays()
    # 春节 2025-01-29, 2026-02-17: February 2026 compares with January 2025 and January 2026 with February 2025
    assert cal.comparison_month("2026-02") == ("2025-01", True)
    assert cal.comparison_month("2026-01") == ("2025-02", True)
    assert cal.comparison_month("2026-03") == ("2025-03", False)
    assert cal.comparison_month("2027-02") == ("2026-02", False)   # 2027-02-06: February both years
    assert review_months("2026-02")[2:] == ("2025-01", True)
    # X: 2025-01 (festival month) 1000, 2025-02 2000; 2026-02 (festival month) 1020 → +2 % against 2025-01: quiet.
    # Without the adjustment 1020 against 2025-02's 2000 is −49 % (|−980| ≥ 300 人次) → warning.
    rows = [("X", "2025-01", "oe_visits", 1000), ("X", "2025-02", "oe_visits", 2000),
            ("X", "2026-02", "oe_visits", 1020)]
    assert detect(frame(rows), {}, "2026-02") == []
    plain = dataclasses.replace(CFG, over_time=dataclasses.replace(CFG.over_time, holiday_adjust=False))
    outs = detect(frame(rows), {}, "2026-02", plain)
    assert [(o.method, o.compare_period, o.reference, round(o.statistic, 2)) for o in outs] == \
        [("yoy", "2025-02", 2000, -0.49)]
    # a February 2026 outlier compared with January 2025 says so
    rows[2] = ("X", "2026-02", "oe_visits", 1500)
    (o,) = detect(frame(rows), {}, "2026-02")
    assert o.detail_zh == ("上年同期（2025-01，按春节所在月份调整）为 1000，本月变化 +50.0%"
                           "（预警阈值 ±33%，且变化量 ≥ 300人次）")


# ---------------------------------------------------------------------------------------------- magnitude slips

def test_wan_yuan_slip_with_corrected_value() -> None:
    # M: med_revenue (万元) 4800 … 5200 over 12 months, median 5000.00; this month 50,000,000 (typed in 元)
    # → 50,000,000 / 5000 = 10,000 → slip, suggested 50,000,000 / 10,000 = 5000.00.
    _, hist, _, _ = review_months(P)
    hist_values = [4800, 4900, 5000, 5100, 5200, 5000, 4800, 4900, 5000, 5100, 5200, 5000]   # median 5000
    rows = [("M", m, "med_revenue", v) for m, v in zip(hist, hist_values)] + [("M", P, "med_revenue", 50_000_000)]
    outs = detect(frame(rows), {}, P)
    # the slip replaces the year-on-year warning on the same value
    assert summary(outs) == [("M", "med_revenue", "magnitude", "extreme", None)]
    o = outs[0]
    assert (o.suggested, o.reference, o.statistic, o.replacement) == (5000.0, 5000.0, 10000.0, 5000.0)
    (f,) = to_findings(outs, {("M", "med_revenue"): ("sub-1", "M.xlsx", "运营与药品", "E12")})
    assert (f.sheet, f.cell, f.code, f.severity, f.stage) == ("运营与药品", "E12", "quality-magnitude-slip",
                                                             "warning", "quality")
    assert f.message_zh == ("「医疗收入」本月 50000000.00，为本机构前 12 个月的中位数 5000.00 的约 10000 倍，"
                            "疑似按「元」填入「万元」栏；可能的正确值约为 5000.00。")
    assert (f.value, f.expected) == ("50000000.00", "5000.00")


def test_rate_slip_and_a_facility_that_always_typed_yuan() -> None:
    # sat_plat_op_score (分): 二级综合 S1–S6 = 88 90 92 91 89 0.9 → median (89 + 90) / 2 = 89.5;
    # 0.9 / 89.5 = 0.01006 ≈ 1/100 → slip, suggested 0.9 / 0.01 = 90.00
    grp = {f"S{i}": "二级综合" for i in range(1, 7)}
    rows = [(f, P, "sat_plat_op_score", v) for f, v in zip(grp, [88, 90, 92, 91, 89, 0.9])]
    # T1–T5 med_revenue ≈ 1000 万元 with a year of history; T6 typed 元 all year (10,000,000) and again now:
    # its own history agrees with it, but that history is itself 10,000× the peers' median → judged on the peers
    _, hist, _, _ = review_months(P)
    t = {f"T{i}": "二级综合" for i in range(1, 7)}
    for i, fid in enumerate(t, 1):
        v = 10_000_000 if fid == "T6" else 1000 + 10 * i
        rows += [(fid, m, "med_revenue", v) for m in [P, *hist]]
    outs = detect(frame(rows), {**grp, **t}, P)
    assert [(o.facility_id, o.field, o.method, o.suggested) for o in outs] == [
        ("S6", "sat_plat_op_score", "magnitude", 90.0), ("T6", "med_revenue", "magnitude", 1000.0)]
    assert outs[0].detail_zh == "为同组机构（二级综合，6 家）中位数 89.50 的约 1/99，疑似将百分数填成了小数"
    # T1–T5 1010 … 1050 and T6 10,000,000: median (1030 + 1040) / 2 = 1035; 10,000,000 / 10,000 = 1000.00
    assert (outs[1].reference, outs[1].peer_n) == (1035.0, 6)


# ---------------------------------------------------------------------------------------------- pairs

def test_pairs_last_year_peer_median_and_range() -> None:
    rows = [
        # op-drug-cost-per-visit-yoy: P 2025-10 100 万元 / 10,000 visits = 100 元; 2026-10 110 / 7,000 × 10,000
        # = 157.14 元 → +57.1 % beyond ±33 % (neither field alone moved 33 %: +10 %, −30 %)
        ("P", "2025-10", "op_drug_revenue", 100), ("P", "2025-10", "oe_visits", 10000),
        ("P", P, "op_drug_revenue", 110), ("P", P, "oe_visits", 7000),
        # Q: 100 → 120 元 per visit, +20 % → quiet
        ("Q", "2025-10", "op_drug_revenue", 100), ("Q", "2025-10", "oe_visits", 10000),
        ("Q", P, "op_drug_revenue", 120), ("Q", P, "oe_visits", 10000),
        # ip-drug-cost-per-discharge-range: R 0.01 万元 / 100 discharges × 10,000 = 1 元 < 50 → below the range
        ("R", P, "ip_drug_revenue", 0.01), ("R", P, "discharges", 100),
    ]
    # discharge-bed-days-per-discharge vs the peer median (5 facilities): 8 9 10 11 20 days → median 10;
    # L5 20 / 10 − 1 = +100 % beyond ±50 %
    los = {f"L{i}": "二级综合" for i in range(1, 6)}
    for fid, d in zip(los, [8, 9, 10, 11, 20]):
        rows += [(fid, P, "discharge_bed_days", d * 100), (fid, P, "discharges", 100)]
    outs = detect(frame(rows), los, P)
    assert [(o.facility_id, o.field, o.method, o.rule, o.related) for o in outs] == [
        ("L5", "discharge_bed_days", "pair", "discharge-bed-days-per-discharge", "discharges"),
        ("P", "op_drug_revenue", "pair", "op-drug-cost-per-visit-yoy", "oe_visits"),
        ("R", "ip_drug_revenue", "pair", "ip-drug-cost-per-discharge-range", "discharges"),
    ]
    l5, p, r = outs
    assert (l5.value, l5.reference, l5.statistic, l5.peer_n, l5.replacement) == (20, 10, 1.0, 5, 1000)
    assert (round(p.value, 2), p.reference, round(p.statistic, 3), p.field_value) == (157.14, 100, 0.571, 110)
    assert p.replacement == pytest.approx(70)        # 100 元 × 7,000 visits / 10,000 = 70 万元
    assert (r.value, r.reference, r.statistic) == (1, 50, -0.98)
    assert p.detail_zh == ("「门急诊次均药品费用」（门急诊药品收入 ÷ 门急诊人次）本月为 157.14 元，上年同期（2025-10）为 "
                           "100.00 元，变化 +57.1%，超出允许的 ±33%")
    assert l5.detail_zh == ("「出院者平均住院日」（出院患者占用总床日数 ÷ 出院人次）本月为 20.00 天，同组机构（二级综合，"
                            "5 家）中位数为 10.00 天，相差 +100.0%，超出允许的 ±50%")
    assert r.detail_zh == ("「出院患者次均药品费用」（住院药品收入 ÷ 出院人次）本月为 1.00 元，不在合理范围 50–50000 元内")


def test_peer_statistics_are_not_shown_below_five_facilities() -> None:
    # the same L-group pair with min_peer_n 4 and four facilities: 8 9 10 20 → median 9.5; 20 / 9.5 − 1 = +110.5 %
    rule = dataclasses.replace(CFG.pairs[1], min_peer_n=4)
    cfg = dataclasses.replace(CFG, pairs=(rule,))
    los = {f"L{i}": "二级综合" for i in range(1, 5)}
    rows = []
    for fid, d in zip(los, [8, 9, 10, 20]):
        rows += [(fid, P, "discharge_bed_days", d * 100), (fid, P, "discharges", 100)]
    (o,) = detect(frame(rows), los, P, cfg)
    assert (o.reference, o.peer_n, o.expected_zh) == (9.5, 4, None)
    assert o.detail_zh == ("「出院者平均住院日」（出院患者占用总床日数 ÷ 出院人次）本月为 20.00 天，与同组机构的一般水平相差"
                           "超过 ±50%（同组不足 5 家，不显示同组统计量）")
    (f,) = to_findings([o], {})
    assert "9.5" not in f.message_zh and f.expected is None


# ---------------------------------------------------------------------------------------------- confirmations, findings

def test_confirmed_outlier_stays_in_the_record_without_warning() -> None:
    confirmed = {("F12", P, "oe_visits", "150"), ("F11", P, "oe_visits", "161")}   # F11 was 160: warns still
    outs = detect(frame(peer_rows()), PEERS, P, confirmed=confirmed)
    f12 = [o for o in outs if o.facility_id == "F12" and o.field == "oe_visits"]
    assert [(o.method, o.confirmed, o.severity) for o in f12] == [("peer_mad", True, "info")]
    assert all(not o.confirmed for o in outs if o.facility_id == "F11")
    cells = {(o.facility_id, o.field): ("s-" + o.facility_id, o.facility_id + ".xlsx", "运营与药品", c)
             for o, c in zip(outs, ["E6", "E6", "E6", "E7", "E7", "E6", "E6"])}
    findings = to_findings(outs, cells)
    assert [(x.facility_id, x.sheet, x.cell, x.code, x.severity) for x in findings] == [
        ("F11", "运营与药品", "E6", "quality-peer-mad", "warning"),
        ("F11", "运营与药品", "E6", "quality-peer-z", "warning"),
        ("F12", "运营与药品", "E6", "quality-confirmed", "info"),
        ("F12", "运营与药品", "E7", "quality-peer-mad", "warning"),
        ("F12", "运营与药品", "E7", "quality-peer-z", "warning"),
        ("H07", "运营与药品", "E6", "quality-peer-mad", "warning"),
        ("K01", "运营与药品", "E6", "quality-own-history", "warning"),
    ]
    assert findings[2].message_zh == ("「门急诊人次」本月 150 曾被识别为异常（明显偏离同组机构（三级综合，12 家）的中位数 103：修正Z值 "
                                      "4.5，属中度异常（修正Z值 ≥ 3.5）），已经分析人员确认数值无误，不再预警。")
    assert findings[0].message_zh == ("「门急诊人次」本月 160，明显偏离同组机构（三级综合，12 家）的中位数 103：修正Z值 5.5，"
                                      "属重度异常（修正Z值 ≥ 5）。")
    assert findings[0].fix_zh == ("请核对 E6 的数值、计量单位和统计口径；如数值无误，请在反馈中说明与同类机构差异较大的原因。")
    assert len({x.as_row()["finding_id"] for x in findings}) == 7   # distinct ids: code + cell + rule
    assert len(to_findings(outs, cells, include_confirmed=False)) == 6


def test_value_text_matches_the_review_key() -> None:
    from warehouse.review import value_key

    xs = (150.0, 1234.5, 0.125, 50_000_000.0, 0.0, -0.0, 1e-7)
    assert [value_text(x) for x in xs] == ["150", "1234.5", "0.125", "50000000", "0", "0", "1e-07"]
    assert [value_text(x) for x in xs] == [value_key(x) for x in xs]


# ---------------------------------------------------------------------------------------------- config

def test_config_defaults() -> None:
    assert (CFG.min_peer_n_disclosed, CFG.over_time.max_change_share, CFG.peer_mad.moderate, CFG.peer_mad.extreme,
            CFG.peer_z.moderate, CFG.peer_z.extreme, CFG.peer_z.min_n) == (5, 0.33, 3.5, 5, 2, 3, 11)
    assert [r.id for r in CFG.pairs] == ["op-drug-cost-per-visit-yoy", "discharge-bed-days-per-discharge",
                                        "ip-drug-cost-per-discharge-range"]


@pytest.mark.parametrize("edit, message", [
    (("peer_z:", "peer_z:\n  sd_floor: 1"), "peer_z: unknown key(s) ['sd_floor']"),
    (("    reference: last_year", "    reference: median"), "pairs[0].reference: must be last_year, peer_median or range"),
    (("{factor: 0.01, kinds", "{factor: 1.5, kinds"), "magnitude.slips[2].factor: must be positive and far enough"),
    (("include: [herbal_revenue", "include: [no_such_field"), "key_fields.include: unknown field 'no_such_field'"),
])
def test_config_loader_names_file_and_key(tmp_path: Path, edit: tuple[str, str], message: str) -> None:
    from metrics.quality.outliers import CONFIG_FILE

    text = CONFIG_FILE.read_text(encoding="utf-8")
    assert edit[0] in text
    bad = tmp_path / "outliers.yaml"
    bad.write_text(text.replace(edit[0], edit[1], 1), encoding="utf-8")
    with pytest.raises(CatalogError) as e:
        load_config(bad)
    assert str(bad) in str(e.value) and message in str(e.value)
