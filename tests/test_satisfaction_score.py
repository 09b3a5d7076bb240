"""Satisfaction scoring worked by hand: items → dimensions → index, interval, sample rules, sources, shrinkage."""
from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from metrics.satisfaction.questionnaire import load_questionnaires, load_settings
from metrics.satisfaction.score import (ChosenScore, PlatformScore, Response, choose_source, classify,
                                        dimension_rows, item_score, mean_ci, respondent_scores, score_survey, shrink,
                                        suppress, window_months)

D = Decimal
Q = load_questionnaires()
OP, IP, STAFF = Q["op"], Q["ip"], Q["staff"]
S = load_settings()


def resp(q, values, rid=None, mode="现场", date=None, ref=None) -> Response:
    """A response giving values to q01, q02, … in order (None = blank)."""
    return Response(rid, date, mode, {i.code: v for i, v in zip(q.items, values)}, ref)


# op items:  q01 reg, q02 reg (reverse), q03 comm, q04 comm, q05 resp, q06 resp, q07 priv, q08 env, q09 env,
#            q10 env, q11 overall (0–10)
A = [5, 2, 4, 4, 4, 3, 5, 4, 4, 4, 8]
B = [3, 4, 5, 3, 2, 2, None, 3, 2, 4, 7]
C = [4, 1, 5, 5, 5, 4, 3, 5, 5, 5, 10]
# staff: a varied answer pattern (q05 is reverse-coded: 2 → 75)
STAFF_OK = [4, 3, 4, 3, 2, 4, 4, 3, 4, 4]


def test_item_scores() -> None:
    q01, q02, q11 = OP.items[0], OP.items[1], OP.items[10]
    sc = OP.scales
    # likert5: (x − 1) × 25; reverse: (5 − x) × 25; scale10: x × 10
    assert [item_score(x, q01, sc) for x in (1, 2, 3, 4, 5)] == [0, 25, 50, 75, 100]
    assert [item_score(x, q02, sc) for x in (1, 2, 3, 4, 5)] == [100, 75, 50, 25, 0]
    assert [item_score(x, q11, sc) for x in (0, 7, 10)] == [0, 70, 100]
    assert item_score(" 3 ", q01, sc) == 50 and item_score(4.0, q01, sc) == 75 and item_score(D(2), q01, sc) == 25
    for bad in (None, "", "  ", 0, 6, 3.5, True, "好", float("nan"), 11):
        assert item_score(bad, q01, sc) is None, bad
    assert item_score(11, q11, sc) is None and item_score(-1, q11, sc) is None


def test_item_to_dimension_to_index_by_hand() -> None:
    # A: reg (q01 5 → 100, q02 2 reversed → 75) = 87.5; comm (75, 75) = 75; resp (75, 50) = 62.5; priv 100;
    #    env (75, 75, 75) = 75; overall q11 8 → 80.  index = (87.5+75+62.5+100+75+80)/6 = 480/6 = 80
    # B: reg (3 → 50, 4 reversed → 25) = 37.5; comm (100, 50) = 75; resp (25, 25) = 25; priv blank (not answered);
    #    env (50, 25, 75) = 50; overall 7 → 70.  index over 5 answered dimensions = 257.5/5 = 51.5
    # C: reg (75, 1 reversed → 100) = 87.5; comm 100; resp (100, 75) = 87.5; priv 3 → 50; env 100; overall 100.
    #    index = 525/6 = 87.5
    expected = {
        "A": ({"reg": D("87.5"), "comm": D(75), "resp": D("62.5"), "priv": D(100), "env": D(75), "overall": D(80)},
              D(80)),
        "B": ({"reg": D("37.5"), "comm": D(75), "resp": D(25), "env": D(50), "overall": D(70)}, D("51.5")),
        "C": ({"reg": D("87.5"), "comm": D(100), "resp": D("87.5"), "priv": D(50), "env": D(100), "overall": D(100)},
              D("87.5")),
    }
    for name, values in (("A", A), ("B", B), ("C", C)):
        dims, index = respondent_scores(classify(resp(OP, values), OP, S), OP)
        assert (dims, index) == expected[name], name

    s = score_survey([resp(OP, A, "a"), resp(OP, B, "b"), resp(OP, C, "c")], OP, S)
    # facility index = (80 + 51.5 + 87.5)/3 = 219/3 = 73
    assert (s.n_received, s.n_valid, s.index, s.index_rounded) == (3, 3, D(73), D("73.00"))
    # dimension means over the questionnaires that answered them
    assert s.dimensions["reg"].mean == (D("87.5") + D("37.5") + D("87.5")) / 3      # 70.8333…
    assert s.dimensions["reg"].mean_rounded == D("70.83")
    assert (s.dimensions["priv"].n, s.dimensions["priv"].mean) == (2, D(75))        # (100 + 50)/2, B blank
    assert s.dimensions["comm"].mean_rounded == D("83.33")                          # 250/3
    assert s.dimensions["resp"].mean_rounded == D("58.33")                          # 175/3
    assert (s.dimensions["env"].mean, s.dimensions["overall"].mean_rounded) == (D(75), D("83.33"))
    # sd: deviations 7, −21.5, 14.5 → (49 + 462.25 + 210.25)/2 = 360.75, √ = 18.99342
    # t(0.975, 2) = 4.302653; half = 4.302653 × 18.99342 / √3 = 47.18227 → low 25.81773; high 120.18 clipped to 100
    assert s.sd == D("360.75").sqrt() and s.sd_rounded == D("18.99")
    assert (s.ci_low_rounded, s.ci_high, s.ci_high_rounded) == (D("25.82"), D(100), D("100.00"))
    assert s.status == "insufficient_sample"
    assert s.reason_zh == "收到问卷 3 份；有效问卷 3 份，少于最低样本量 100 份"
    assert s.by_mode == {"现场": 3}


def test_weights_inside_dimension_and_across_dimensions() -> None:
    # staff with q01 weight 3 (pay) and dimension pay weight 2:
    # answers q01 5 → 100, q02 1 → 0: pay = (3·100 + 1·0)/4 = 75
    # other dimensions all 50 (answers 3; q05 reversed 3 → 50); index = (2·75 + 4·50)/6 = 350/6 = 58.333…
    items = (replace(STAFF.items[0], weight=D(3)),) + STAFF.items[1:]
    dims = (replace(STAFF.dimensions[0], weight=D(2)),) + STAFF.dimensions[1:]
    q = replace(STAFF, items=items, dimensions=dims)
    d, index = respondent_scores(classify(resp(q, [5, 1, 3, 3, 3, 3, 3, 3, 3, 3]), q, S), q)
    assert d["pay"] == 75 and d["work"] == 50
    assert index == D(350) / 6


def test_confidence_interval_by_hand() -> None:
    # indices 60, 70, 80, 90: mean 75; squared deviations 225 + 25 + 25 + 225 = 500; s² = 500/3; s = 12.909944
    # t(0.975, 3) = 3.182446 (scipy.stats.t.ppf; tables: 3.182); half = 3.182446 × 12.909944 / √4 = 20.542603
    # interval [54.457397, 95.542603] → 54.46, 95.54
    ci = mean_ci([D(60), D(70), D(80), D(90)], D("0.95"))
    assert (ci.n, ci.mean, ci.sd) == (4, D(75), (D(500) / 3).sqrt())
    assert ci.t.quantize(D("0.000001")) == D("3.182446")
    assert (ci.low.quantize(D("0.000001")), ci.high.quantize(D("0.000001"))) == (D("54.457397"), D("95.542603"))
    # 90 %: t(0.95, 3) = 2.353363; half = 2.353363 × 12.909944 / 2 = 15.190877 → [59.81, 90.19]
    ci90 = mean_ci([D(60), D(70), D(80), D(90)], D("0.90"))
    assert (ci90.low.quantize(D("0.01")), ci90.high.quantize(D("0.01"))) == (D("59.81"), D("90.19"))
    # n = 1: a mean but no spread; n = 0: nothing; identical values: zero-width interval
    assert (mean_ci([D(70)], D("0.95")).mean, mean_ci([D(70)], D("0.95")).low) == (D(70), None)
    assert mean_ci([], D("0.95")).mean is None
    flat = mean_ci([D(50)] * 3, D("0.95"))
    assert (flat.sd, flat.low, flat.high) == (0, 50, 50)


def test_interval_clipped_at_zero() -> None:
    # indices 0, 0, 25: mean 8.333…, s = 14.43376, half = 4.302653 × 14.43376 / √3 = 35.85 → low clipped to 0
    ci = mean_ci([D(0), D(0), D(25)], D("0.95"))
    assert ci.low == 0 and ci.high.quantize(D("0.01")) == D("44.19")


@pytest.mark.parametrize(("n", "status", "verdict"), [(99, "insufficient_sample", "少于"), (100, "ok", "达到")])
def test_minimum_sample_99_vs_100(n: int, status: str, verdict: str) -> None:
    s = score_survey([resp(STAFF, STAFF_OK, f"s{k}") for k in range(n)], STAFF, S)
    assert (s.n_valid, s.status) == (n, status)
    assert s.reason_zh.endswith(f"有效问卷 {n} 份，{verdict}最低样本量 100 份")
    # index is computed and shown either way: q05 2 reversed → 75; pay (75+50)/2 = 62.5, career 62.5,
    # work (75+75)/2 = 75, boss 62.5, peer 75 → 337.5/5 = 67.5
    assert s.index == D("67.5")


def test_minimum_sample_counts_valid_not_received() -> None:
    rows = [resp(STAFF, STAFF_OK, f"s{k}") for k in range(100)]
    rows[0] = resp(STAFF, [None, None, None, 3, 2, 4, 4, 3, 4, 4], "s0")   # 3/10 blank > 0.2 → incomplete
    s = score_survey(rows, STAFF, S)
    assert (s.n_received, s.n_incomplete, s.n_valid, s.status) == (100, 1, 99, "insufficient_sample")
    assert s.reason_zh == "收到问卷 100 份；剔除不完整问卷 1 份；有效问卷 99 份，少于最低样本量 100 份"


def test_source_precedence_both_ways_and_fallback() -> None:
    small = replace(S, min_valid=3)
    survey = score_survey([resp(OP, A, "a"), resp(OP, B, "b"), resp(OP, C, "c")], OP, small)
    platform = PlatformScore("op", D("85.456"), 320)

    by_platform = choose_source(survey, platform, small)
    assert (by_platform.source, by_platform.value, by_platform.value_rounded) == ("platform", D("85.456"), D("85.46"))
    assert (by_platform.n, by_platform.status, by_platform.ci_low) == (320, "ok", None)
    assert by_platform.reason_zh.startswith("本院问卷调查数据与满意度调查平台数据均有，按设置优先采用满意度调查平台数据")

    by_survey = choose_source(survey, platform, replace(small, precedence="survey"))
    assert (by_survey.source, by_survey.value, by_survey.n, by_survey.status) == ("survey", D(73), 3, "ok")
    assert by_survey.ci_low == survey.ci_low
    assert "按设置优先采用本院问卷调查数据" in by_survey.reason_zh

    # preferred source absent → the other, and the reason says so
    fallback = choose_source(survey, None, small)
    assert (fallback.source, fallback.value) == ("survey", D(73))
    assert fallback.reason_zh.startswith("设置优先采用满意度调查平台数据，但该数据缺失，改用本院问卷调查数据")
    fallback2 = choose_source(None, platform, replace(small, precedence="survey"))
    assert fallback2.source == "platform" and "改用满意度调查平台数据" in fallback2.reason_zh

    # a survey with no valid questionnaire counts as absent
    empty = score_survey([], OP, small)
    via_platform = choose_source(empty, platform, replace(small, precedence="survey"))
    assert via_platform.source == "platform" and "本院问卷无有效问卷" in via_platform.reason_zh
    none = choose_source(empty, None, small)
    assert (none.source, none.value, none.status) == (None, None, "missing")

    # a platform figure below the minimum sample is insufficient too
    thin = choose_source(None, PlatformScore("op", D(90), 99), S)
    assert (thin.status, thin.value) == ("insufficient_sample", D(90))
    assert thin.reason_zh.endswith("有效样本 99 份，少于最低样本量 100 份")
    with pytest.raises(ValueError):
        choose_source(survey, PlatformScore("ip", D(90), 200), S)
    with pytest.raises(ValueError):
        PlatformScore("op", D(101), 200)


def test_straight_lining_flagged_and_excluded_only_when_configured() -> None:
    # every 1–5 item answered 4 (q02 reversed → 25); the 0–10 item is another scale and is not compared
    straight = resp(OP, [4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 8], "x", ref=7)
    rows = [resp(OP, A, "a"), straight, resp(OP, C, "c")]
    kept = score_survey(rows, OP, S)
    assert (kept.n_straight_lined, kept.n_valid, kept.straight_lined_refs, kept.excluded) == (1, 3, (7,), ())
    assert "直线作答 1 份（已标记，未剔除）" in kept.reason_zh
    dropped = score_survey(rows, OP, replace(S, straight_line_exclude=True))
    assert (dropped.n_straight_lined, dropped.n_valid, dropped.excluded) == (1, 2, ((7, "straight_lined"),))
    assert dropped.index == (D(80) + D("87.5")) / 2
    assert "剔除直线作答问卷 1 份" in dropped.reason_zh


def test_straight_lining_needs_min_items_of_one_scale() -> None:
    loose = replace(S, max_blank_share=D("0.9"))
    four = resp(OP, [3, 3, 3, 3, None, None, None, None, None, None, 3])   # 4 likert answers + the 0–10 item
    five = resp(OP, [3, 3, 3, 3, 3, None, None, None, None, None, 9])
    assert not classify(four, OP, loose).straight_lined
    assert classify(five, OP, loose).straight_lined


def test_incomplete_excluded_and_counted() -> None:
    # op has 11 items: 2 blank = 18 % ≤ 20 % is kept; 3 blank = 27 % is incomplete
    two = resp(OP, [5, 2, 4, 4, 4, 3, None, 4, 4, None, 8], "two", ref="r2")
    three = resp(OP, [5, 2, 4, 4, 4, 3, None, None, 4, None, 8], "three", ref="r3")
    # an out-of-scale answer scores nothing, so it counts with the blanks (and is reported)
    odd = resp(OP, [5, 2, 4, 6, 4, 3, None, 4, 4, None, 8], "odd", ref="r4")
    c2, c3, c4 = (classify(r, OP, S) for r in (two, three, odd))
    assert (c2.n_answered, c2.n_blank, c2.incomplete) == (9, 2, False)
    assert (c3.n_answered, c3.blank_share.quantize(D("0.01")), c3.incomplete) == (8, D("0.27"), True)
    assert (c4.out_of_scale, c4.n_blank, c4.incomplete) == (("q04",), 2, True)
    s = score_survey([two, three, odd], OP, S)
    assert (s.n_received, s.n_valid, s.n_incomplete) == (3, 1, 2)
    assert s.excluded == (("r3", "incomplete"), ("r4", "incomplete"))
    assert s.out_of_scale == (("r4", "q04"),)
    assert "剔除不完整问卷 2 份" in s.reason_zh
    with pytest.raises(ValueError, match="q99"):
        classify(Response(None, None, None, {"q99": 3}), OP, S)


def test_duplicates_keep_the_first() -> None:
    rows = [resp(OP, A, "p1", ref=1), resp(OP, C, " p1 ", ref=2), resp(OP, B, None, ref=3), resp(OP, B, None, ref=4),
            resp(OP, [None] * 11, "p2", ref=5), resp(OP, C, "p2", ref=6)]
    s = score_survey(rows, OP, S)
    # ref 2 repeats p1 (trimmed); no id never duplicates; p2's first copy is blank → incomplete, the second a duplicate
    assert (s.n_received, s.n_duplicate, s.n_incomplete, s.n_valid) == (6, 2, 1, 3)
    assert s.excluded == ((2, "duplicate"), (5, "incomplete"), (6, "duplicate"))
    assert s.index == (D(80) + D("51.5") + D("51.5")) / 3


def test_survey_window_and_modes() -> None:
    months = window_months("2026-02", S)
    assert months == ["2025-12", "2026-01", "2026-02"]
    assert window_months("2026-05", replace(S, window_months=1)) == ["2026-05"]
    with pytest.raises(ValueError):
        window_months("2026-Q1", S)
    rows = [resp(OP, A, "a", date=dt.date(2025, 12, 1)), resp(OP, B, "b", mode="电话", date=dt.date(2026, 2, 28)),
            resp(OP, C, "c", date=dt.date(2025, 11, 30), ref="old"), resp(OP, C, "d", mode=None),
            resp(OP, C, "e", mode="微信", ref="wx")]
    s = score_survey(rows, OP, S, months=months)
    assert (s.n_out_of_window, s.n_valid, s.excluded) == (1, 4, (("old", "out_of_window"),))
    assert s.by_mode == {"现场": 1, "电话": 1, "未注明": 1, "微信": 1}
    assert s.unknown_mode_refs == ("wx",)


@pytest.mark.parametrize(("n_priv", "hidden"), [(4, True), (5, False)])
def test_small_cell_suppression_4_vs_5(n_priv: int, hidden: bool) -> None:
    assert suppress(n_priv, S) is hidden
    no_priv = [v if k != 6 else None for k, v in enumerate(A)]
    rows = [resp(OP, A, f"a{k}") for k in range(n_priv)] + [resp(OP, no_priv, f"b{k}") for k in range(6 - n_priv)]
    s = score_survey(rows, OP, S)
    rows_out = {r.code: r for r in dimension_rows(s, OP, S)}
    assert list(rows_out) == ["reg", "comm", "resp", "priv", "env", "overall", "index"]
    priv = rows_out["priv"]
    assert (priv.n, priv.suppressed) == (n_priv, hidden)
    if hidden:
        assert (priv.value, priv.note_zh) == (None, "样本不足5人，不予显示")
    else:
        assert (priv.value, priv.note_zh) == (D("100.00"), "有效问卷少于最低样本量 100 份，仅供参考")
    assert (rows_out["index"].n, rows_out["index"].name_zh, rows_out["index"].suppressed) == (6, "满意度指数", False)


def _chosen(value: str, n: int, status: str = "ok") -> ChosenScore:
    v = D(value)
    return ChosenScore("op", v, v.quantize(D("0.01")), n, "platform", status, "采用满意度调查平台数据")


def test_shrinkage_off_and_on_by_hand() -> None:
    scores = {"A": _chosen("80", 100), "B": _chosen("60", 300), "C": _chosen("44", 20, "insufficient_sample"),
              "D": _chosen("70", 10, "insufficient_sample"), "E": _chosen("90", 200),
              "F": ChosenScore("op", None, None, 0, None, "missing", "无数据")}
    groups = {"A": "g1", "B": "g1", "C": "g1", "D": "g2", "F": "g1"}
    assert shrink(scores, groups, S) == scores                      # disabled: untouched

    on = shrink(scores, groups, replace(S, shrinkage_enabled=True))
    # μ(g1) = n-weighted mean of ok scores = (100·80 + 300·60)/400 = 26000/400 = 65 (C is insufficient: not in μ)
    # k = 50: A (100·80 + 50·65)/150 = 11250/150 = 75
    #         B (300·60 + 3250)/350 = 21250/350 = 60.714285… → 60.71
    #         C (20·44 + 3250)/70 = 4130/70 = 59
    a, b, c = on["A"], on["B"], on["C"]
    assert (a.value, a.unshrunk, a.peer_mean, a.value_rounded) == (D(75), D(80), D(65), D("75.00"))
    assert (b.value, b.value_rounded) == (D(21250) / 350, D("60.71"))
    assert (c.value, c.unshrunk, c.status) == (D(59), D(44), "insufficient_sample")
    assert a.reason_zh.endswith("已向同类组均值 65.00 收缩（先验样本量 50）：80.00 → 75.00")
    # g2 has no ok score; E has no group; F has no value
    assert (on["D"].value, on["D"].unshrunk) == (D(70), None) and "同类组无样本量充足的机构" in on["D"].reason_zh
    assert on["E"].value == D(90) and "未归入同类组" in on["E"].reason_zh
    assert on["F"] == scores["F"]


_answer = st.one_of(st.none(), st.integers(min_value=1, max_value=5))
_ten = st.one_of(st.none(), st.integers(min_value=0, max_value=10))


@hsettings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.lists(_answer, min_size=10, max_size=10), _ten), min_size=0, max_size=12))
def test_index_and_interval_stay_within_0_100(rows: list) -> None:
    responses = [resp(OP, likert + [ten], f"id{k % 9}") for k, (likert, ten) in enumerate(rows)]
    s = score_survey(responses, OP, S)
    assert s.n_received == s.n_valid + len(s.excluded)
    for v in (s.index, s.ci_low, s.ci_high, *(d.mean for d in s.dimensions.values())):
        assert v is None or 0 <= v <= 100
    if s.ci_low is not None:
        assert s.ci_low <= s.index <= s.ci_high
