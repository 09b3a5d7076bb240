"""Grading engine, steps 1–3: orientation, small numbers, standardisation (z, T, min–max, percentile rank) and
winsorisation, each computed by hand in the comments."""
from __future__ import annotations

import random
from decimal import ROUND_HALF_UP
from decimal import Decimal as D

import pytest

from metrics.grading import CapRecord, Observation, grade, load_method, orient
from metrics.grading.config import Orientation
from metrics.scoring import SCHEMES_DIR
from test_grading_support import method, observations

# The classic set: mean 5, population SD 2.   x:  2  4  4  4  5  5  7  9
#                                             z: −1.5 −.5 −.5 −.5 0  0  1  2
FACS = ["A", "B", "C", "D", "E", "F", "G", "H"]
VALS = [2, 4, 4, 4, 5, 5, 7, 9]
GROUP = {f: "甲组" for f in FACS}


def _grade(values=VALS, code="U1", **over):
    m = method(indicators=[{"indicator": code, "group": "G1"}], **over)
    res = grade(m, GROUP, observations({f: {code: v} for f, v in zip(FACS, values)}))
    return res, {r.facility_id: r for r in res.indicators}


# ---------------------------------------------------------------------------------------------- orientation

@pytest.mark.parametrize("o, value, expect", [
    (Orientation("up"), "12.5", "12.5"),
    (Orientation("down"), "12.5", "-12.5"),
    (Orientation("ceiling", target=D(30)), "28", "0"),          # within the ceiling: on target
    (Orientation("ceiling", target=D(30)), "32.5", "-2.5"),     # 2.5 beyond it
    (Orientation("floor", target=D(90)), "85", "-5"),           # 5 short of the floor
    (Orientation("floor", target=D(90)), "93", "0"),
    (Orientation("band", low=D(2), high=D(4)), "1.5", "-0.5"),  # 0.5 below the band
    (Orientation("band", low=D(2), high=D(4)), "4.2", "-0.2"),  # 0.2 above it
    (Orientation("band", low=D(2), high=D(4)), "3", "0"),
])
def test_orientation(o, value, expect):
    assert orient(o, D(value), o.target) == D(expect)


def test_orientation_never_gives_negative_zero():
    # −0 would print as "-0" in explain output
    assert str(orient(Orientation("down"), D("0.00"))) == "0.00"


# ---------------------------------------------------------------------------------------------- z and T

def test_z_population():
    res, rows = _grade()
    st = res.peer_stats[("甲组", "U1")]
    assert (st.n, st.mean, st.sd, st.sd_kind, st.standardised) == (8, D(5), D(2), "population", True)
    assert [rows[f].standardised for f in FACS] == [D(x) for x in
                                                    ("-1.5", "-0.5", "-0.5", "-0.5", "0", "0", "1", "2")]
    assert all(rows[f].stats is st and rows[f].scored for f in FACS)


def test_z_sample_sd():
    # Σ(x − 5)² = 9 + 1 + 1 + 1 + 0 + 0 + 4 + 16 = 32; sample SD = √(32/7) = 2.13808993… → 2.138090
    # z(9) = 4/2.138090 = 1.87082… → 1.8708;  z(2) = −3/2.138090 = −1.40311… → −1.4031;  z(4) → −0.4677
    res, rows = _grade(standardise={"sd": "sample"})
    st = res.peer_stats[("甲组", "U1")]
    assert (st.mean, st.sd, st.sd_kind) == (D(5), D("2.138090"), "sample")
    assert (rows["H"].standardised, rows["A"].standardised, rows["B"].standardised) == \
        (D("1.8708"), D("-1.4031"), D("-0.4677"))


def test_direction_down_turns_the_sign():
    # D1 is "down": oriented −x has mean −5 and SD 2, so z(2) = (−2 + 5)/2 = 1.5 and z(9) = −2
    res, rows = _grade(code="D1")
    assert (rows["A"].oriented, rows["A"].standardised, rows["H"].standardised) == (D(-2), D("1.5"), D(-2))
    assert res.peer_stats[("甲组", "D1")].mean == D(-5)


def test_t_score():
    # T = 50 + 10 z: 2 → 35, 5 → 50, 9 → 70
    _, rows = _grade(standardise={"method": "t_score"})
    assert (rows["A"].standardised, rows["E"].standardised, rows["H"].standardised) == (D(35), D(50), D(70))


# ---------------------------------------------------------------------------------------------- winsorisation

def test_winsorise_percentile_linear_lists_the_capped_cases():
    # P1: h = (8 − 1) × 0.01 = 0.07 → 2 + 0.07 × (4 − 2) = 2.14;  P99: h = 6.93 → 7 + 0.93 × (9 − 7) = 8.86
    # capped: A 2 → 2.14, H 9 → 8.86. Statistics of the capped values: sum 40 → mean 5;
    # Σd² = 2.86² + 1 + 1 + 1 + 0 + 0 + 4 + 3.86² = 30.0792 → SD = √(30.0792/8) = 1.93904615… → 1.939046
    # z(H) = 3.86/1.939046 = 1.99067… → 1.9907;  z(A) = −2.86/1.939046 = −1.4749… → −1.4750 (half-up of …95)
    res, rows = _grade(standardise={"winsorise": {"method": "percentile", "lower": 0.01, "upper": 0.99,
                                                  "percentile_method": "linear"}})
    st = res.peer_stats[("甲组", "U1")]
    assert (st.cap_low, st.cap_high, st.n_capped) == (D("2.14"), D("8.86"), 2)
    assert res.capped == (CapRecord("A", "U1", D(2), D("2.140000")), CapRecord("H", "U1", D(9), D("8.860000")))
    assert (st.mean, st.sd) == (D(5), D("1.939046"))
    assert (rows["H"].capped, rows["H"].used, rows["H"].oriented) == (True, D("8.86"), D(9))
    assert (rows["H"].standardised, rows["A"].standardised, rows["G"].standardised) == \
        (D("1.9907"), D("-1.4750"), D("1.0314"))
    assert not rows["G"].capped and rows["G"].used == D(7)


def test_winsorise_percentile_nearest_rank():
    # nearest rank, 1-based: P20 = x(⌈1.6⌉) = x(2) = 4;  P80 = x(⌈6.4⌉) = x(7) = 7 → 2 → 4 and 9 → 7
    # capped 4 4 4 4 5 5 7 7: mean 5, SD = √(12/8) = 1.22474487… → 1.224745; z(7) = 2/1.224745 = 1.63299… → 1.6330
    res, rows = _grade(standardise={"winsorise": {"method": "percentile", "lower": 0.2, "upper": 0.8,
                                                  "percentile_method": "nearest_rank"}})
    assert [(c.facility_id, c.original, c.capped) for c in res.capped] == [("A", D(2), D(4)), ("H", D(9), D(7))]
    st = res.peer_stats[("甲组", "U1")]
    assert (st.mean, st.sd, rows["H"].standardised, rows["A"].standardised) == \
        (D(5), D("1.224745"), D("1.6330"), D("-0.8165"))


def test_winsorise_at_k_sd():
    # mean 5, SD 2, k = 1 → caps 3 and 7: A 2 → 3, H 9 → 7 (G at 7 is on the cap: not capped)
    # capped 3 4 4 4 5 5 7 7: mean 39/8 = 4.875; SD = √(205/8 − 4.875²) = √1.859375 = 1.36358901… → 1.363589
    # z(3) = −1.875/1.363589 = −1.37504… → −1.3750;  z(7) = 2.125/1.363589 = 1.55839… → 1.5584
    res, rows = _grade(standardise={"winsorise": {"method": "sd", "k": 1}})
    st = res.peer_stats[("甲组", "U1")]
    assert (st.cap_low, st.cap_high, st.cap_rule) == (D(3), D(7), "均值 ± 1 SD")
    assert [(c.facility_id, c.original, c.capped) for c in res.capped] == [("A", D(2), D(3)), ("H", D(9), D(7))]
    assert (st.mean, st.sd) == (D("4.875"), D("1.363589"))
    assert (rows["A"].standardised, rows["H"].standardised, rows["G"].standardised) == \
        (D("-1.3750"), D("1.5584"), D("1.5584"))
    assert not rows["G"].capped


# ---------------------------------------------------------------------------------------------- min–max, ranks

def test_minmax():
    # scale 100 × (x − 2)/(9 − 2): 4 → 28.5714, 5 → 42.8571, 7 → 71.4286, 2 → 0, 9 → 100
    res, rows = _grade(standardise={"method": "minmax", "scale": 100})
    st = res.peer_stats[("甲组", "U1")]
    assert (st.min, st.max, st.mean) == (D(2), D(9), None)
    assert [rows[f].standardised for f in ("A", "B", "E", "G", "H")] == \
        [D(0), D("28.5714"), D("42.8571"), D("71.4286"), D(100)]


def test_percentile_rank_midrank():
    # (B + T/2)/(n − 1), n = 8: value 4 has B = 1 (the 2), T = 2 other 4s → (1 + 1)/7 = 0.2857
    #                           value 5: B = 4, T = 1 → 4.5/7 = 0.6429;  9: B = 7 → 1;  2: 0
    _, rows = _grade(standardise={"method": "percentile_rank"})
    assert (rows["B"].rank_below, rows["B"].rank_ties, rows["B"].standardised) == (1, 2, D("0.2857"))
    assert (rows["E"].rank_below, rows["E"].rank_ties, rows["E"].standardised) == (4, 1, D("0.6429"))
    assert (rows["H"].standardised, rows["A"].standardised) == (D(1), D(0))


def test_percentile_rank_below():
    # B/(n − 1) = (r − 1)/(n − 1): 4 → 1/7 = 0.1429; 5 → 4/7 = 0.5714 (ties do not count); scale 100 for 9 → 100
    _, rows = _grade(standardise={"method": "percentile_rank", "percentile_rank": "below", "scale": 100})
    assert (rows["B"].standardised, rows["E"].standardised, rows["H"].standardised) == \
        (D("14.2857"), D("57.1429"), D(100))


def test_percentile_rank_matches_the_first_slice_rule():
    # the first slice's percentile rule gives weight × (B + T/2)/(n − 1): the same share
    from metrics.scoring import Rule, rule_points
    _, rows = _grade(standardise={"method": "percentile_rank"})
    peers = [D(v) for v in VALS]
    for f, v in zip(FACS, VALS):
        pts = rule_points(Rule("percentile"), D(1), D(v), peers, "up")
        assert rows[f].standardised == pts.quantize(D("0.0001"), rounding=ROUND_HALF_UP)


# ---------------------------------------------------------------------------------------------- not standardised

def test_too_few_values_are_not_standardised():
    res, rows = _grade(standardise={"min_n": 9})
    st = res.peer_stats[("甲组", "U1")]
    assert not st.standardised and st.reason == "同组有效值 8 个，少于最少 9 个，不做标准化"
    assert all(not r.scored and r.reason == st.reason for r in rows.values())


def test_zero_sd_is_not_standardised():
    res, rows = _grade(values=[3] * 8)
    st = res.peer_stats[("甲组", "U1")]
    assert (st.standardised, st.sd, st.reason) == (False, D(0), "同组标准差为 0（发布精度下），不做标准化")
    assert not rows["A"].scored and res.capped == ()


def test_min_max_equal_is_not_standardised():
    res, _ = _grade(values=[3] * 8, standardise={"method": "minmax"})
    assert res.peer_stats[("甲组", "U1")].reason == "同组最大值等于最小值，不做标准化"


# ---------------------------------------------------------------------------------------------- small numbers, gaps

def test_minimum_denominator_and_sample():
    # A's denominator 80 < 100 and B's sample 20 < 30: neither is scored nor counted in the peer statistics;
    # C gives no denominator although one is required. The other five: 4 5 5 7 9 → n = 5
    m = method(indicators=[{"indicator": "U1", "group": "G1", "min_denominator": 100, "min_sample": 30}])
    obs = observations({f: {"U1": v} for f, v in zip(FACS, VALS)},
                       denominator={(f, "U1"): (80 if f == "A" else 500) for f in FACS if f != "C"},
                       sample={(f, "U1"): (20 if f == "B" else 300) for f in FACS})
    res = grade(m, GROUP, obs)
    rows = {r.facility_id: r for r in res.indicators}
    assert rows["A"].reason == "分母 80 小于最小分母 100，不计分"
    assert rows["B"].reason == "样本量 20 小于最少样本 30，不计分"
    assert rows["C"].reason == "缺少分母，无法核对最小分母 100，不计分"
    assert res.peer_stats[("甲组", "U1")].n == 5
    assert [r.scored for r in rows.values()] == [False, False, False, True, True, True, True, True]


def test_status_missing_and_monitor_rows():
    m = method(indicators=[{"indicator": "U1", "group": "G1"}, {"indicator": "M1", "group": "G1"}])
    obs = observations({f: {"U1": v, "M1": 7} for f, v in zip(FACS, VALS)})
    obs = [o for o in obs if not (o.facility_id == "B" and o.indicator == "U1")]
    obs.append(Observation("B", "U1", None, status="undefined"))
    obs = [o for o in obs if not (o.facility_id == "C" and o.indicator == "U1")]
    res = grade(m, GROUP, obs)
    rows = {(r.facility_id, r.indicator): r for r in res.indicators}
    assert rows[("B", "U1")].reason == "不适用（分母为0），不计分" and rows[("B", "U1")].status == "undefined"
    assert rows[("C", "U1")].reason == "数据缺失，不计分" and rows[("C", "U1")].raw is None
    mon = rows[("A", "M1")]
    assert (mon.raw, mon.scored, mon.standardised, mon.reason) == (D(7), False, None, "监测指标，不计分")
    assert res.peer_stats[("甲组", "U1")].n == 6 and ("甲组", "M1") not in res.peer_stats


def test_within_all_pools_the_peer_groups():
    # 甲组 A–D and 乙组 E–H: within peer group each has its own mean; within all one mean 5 and SD 2
    groups = {f: ("甲组" if f in "ABCD" else "乙组") for f in FACS}
    obs = observations({f: {"U1": v} for f, v in zip(FACS, VALS)})
    by_group = grade(method(), groups, obs)
    pooled = grade(method(standardise={"within": "all"}), groups, obs)
    assert by_group.peer_stats[("甲组", "U1")].mean == D("3.5")      # (2 + 4 + 4 + 4)/4
    assert set(pooled.peer_stats) == {("全体", "U1")}
    assert [r.standardised for r in pooled.indicators] == [D(x) for x in
                                                           ("-1.5", "-0.5", "-0.5", "-0.5", "0", "0", "1", "2")]


# ---------------------------------------------------------------------------------------------- the example scheme

def _std_inputs(seed: int = 7):
    """Synthetic inputs for the 2026_std scheme: 40 facilities over three peer groups."""
    m = load_method(SCHEMES_DIR / "2026_std.yaml")
    rng = random.Random(seed)
    groups = {f"F{i:02d}": ("三级综合", "二级综合", "三级中医类")[i % 3] for i in range(40)}
    obs, targets = [], {}
    for f in groups:
        for it in m.items:
            if rng.random() < 0.08:
                continue
            obs.append(Observation(f, it.indicator, D(rng.randrange(0, 10000)).scaleb(-2),
                                   denominator=D(rng.randrange(5, 400))))
            targets[(f, it.indicator)] = D(40)
    return m, groups, obs, targets


def test_explain_reproduces_every_z_from_its_peer_statistics():
    # what `jixiao explain` shows must suffice: z = (used − mean)/SD, half-up at 4 decimals, with mean and SD
    # exactly as stored; n is the number of values scored with those statistics
    m, groups, obs, targets = _std_inputs()
    res = grade(m, groups, obs, targets=targets)
    checked = 0
    for r in res.indicators:
        if r.scored:
            st = r.stats
            assert st is not None and st.method == "z" and st.scope == groups[r.facility_id]
            assert r.standardised == ((r.used - st.mean) / st.sd).quantize(D("0.0001"), rounding=ROUND_HALF_UP)
            if st.cap_low is not None:
                assert st.cap_low <= r.used <= st.cap_high
            checked += 1
    for (scope, code), st in res.peer_stats.items():
        assert st.n == sum(1 for r in res.indicators if r.indicator == code and r.scope == scope
                           and r.oriented is not None and r.reason in (None, st.reason))
    assert checked > 500
    assert {(c.facility_id, c.indicator) for c in res.capped} == \
        {(r.facility_id, r.indicator) for r in res.indicators if r.capped}
