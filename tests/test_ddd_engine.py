"""DDD units per consumption row and AUD, hand-computed (DDD values: WHO 2026 table unless stated)."""
from __future__ import annotations

from decimal import Decimal as D

import pytest

from metrics.ddd import (
    NOT_COVERED, OK, OUT_OF_SCOPE, UNDEFINED, ConsumptionRow, aud, aud_over_months, compare_years, ddd_lines,
    ddd_units, load_ddd_config,
)

Q6 = D("0.000001")


def q(v: D) -> D:
    """Round to 6 decimals for comparisons with hand-computed values."""
    return v.quantize(Q6)


@pytest.fixture(scope="module")
def cfg():
    return load_ddd_config()


def row(name: str, strength: str, form: str, unit: str, qin, qout=None, atc=None) -> ConsumptionRow:
    return ConsumptionRow(generic_name=name, strength=strength, form=form, packaging_unit=unit,
                          quantity_inpatient=qin, quantity_outpatient=qout, atc=atc)


# The small consumption list (inpatient quantities):
#  1 硫酸庆大霉素注射液 2ml:8万单位 × 100 支: 8万U = 80 mg (1 mg = 1000 U) → 100 × 0.08 g = 8 g; DDD 0.24 g P
#    → 8 / 0.24 = 33.333333 DDDs (both tables)
#  2 注射用哌拉西林钠他唑巴坦钠 4.5g(4.0g:0.5g) × 60 支: DDD refers to piperacillin → 60 × 4.0 = 240 g;
#    DDD 14 g P → 240 / 14 = 17.142857 DDDs
#  3 红霉素眼膏 → out of scope (topical), not counted anywhere
#  4 抗菌新药X 0.1g × 40 片 → not covered (no ATC), share of in-scope quantity 40 / (100+60+40+120) = 0.125
#  5 注射用美罗培南 0.5g × 120 瓶 = 60 g; DDD P 3 g (2026) → 20 DDDs; 2 g (2018 table) → 30 DDDs
# 2026: Σ = 100/3 + 120/7 + 20 = 1480/21 = 70.476190; AUD per 1,000 patient-days = 1480/210 = 7.047619
# 2018: Σ = 100/3 + 120/7 + 30 = 1690/21 = 80.476190; AUD = 1690/210 = 8.047619
LIST = [
    row("硫酸庆大霉素注射液", "2ml:8万单位", "注射液", "支", 100),
    row("注射用哌拉西林钠他唑巴坦钠", "4.5g(4.0g:0.5g)", "注射用无菌粉末", "支", 60),
    row("红霉素眼膏", "0.5%×2g", "眼膏", "支", 10),
    row("抗菌新药X", "0.1g", "片剂", "片", 40),
    row("注射用美罗培南", "0.5g", "注射剂", "瓶", 120),
]


def test_aud_small_list_2026(cfg) -> None:
    lines = ddd_lines(LIST, 2026, cfg)
    genta, tazo, eye, unknown, mero = lines
    assert genta.status == OK and genta.atc == "J01GB03" and genta.route == "P"
    assert q(genta.consumed) == D("8") and genta.ddd == D("0.24") and genta.ddd_unit == "g"
    assert q(genta.ddds) == D("33.333333")
    assert tazo.status == OK and tazo.atc == "J01CR05" and q(tazo.consumed) == D("240")
    assert tazo.ddd == D("14") and q(tazo.ddds) == D("17.142857")
    assert eye.status == OUT_OF_SCOPE and "眼" in eye.reason and eye.ddds is None
    assert unknown.status == NOT_COVERED and unknown.reason.startswith("未匹配到ATC编码")
    assert mero.ddd == D("3") and q(mero.ddds) == D("20")
    res = aud(lines, 1000)
    assert res.status == OK
    assert q(res.total_ddds) == D("70.476190")
    assert q(res.value) == D("7.047619")
    assert res.covered_share == D("280") / D("320")             # 0.875 of the in-scope quantity
    assert [(u.line.row.generic_name, u.share) for u in res.uncovered] == [("抗菌新药X", D("0.125"))]
    assert [ln.row.generic_name for ln in res.out_of_scope] == ["红霉素眼膏"]
    assert (res.lines_in_scope, res.lines_covered) == (4, 3)


def test_same_list_under_2018_table_differs_by_meropenem(cfg) -> None:
    lines = ddd_lines(LIST, 2018, cfg)
    assert {ln.table for ln in lines} == {"ddd_2018"}
    mero = lines[4]
    assert mero.ddd == D("2") and q(mero.ddds) == D("30")
    res = aud(lines, 1000)
    assert q(res.value) == D("8.047619")
    assert q(aud(ddd_lines(LIST, 2026, cfg), 1000).value) == D("7.047619")


@pytest.mark.parametrize("days", [0, None, "", D(0), -5])
def test_zero_or_missing_patient_days_is_undefined(cfg, days) -> None:
    res = aud(ddd_lines(LIST, 2026, cfg), days)
    assert res.status == UNDEFINED and res.value is None
    assert "患者人天数" in res.reason
    assert q(res.total_ddds) == D("70.476190")                  # the DDDs are still reported


def test_ratio_of_sums_over_months_differs_from_mean_of_monthly(cfg) -> None:
    # month 1: 美罗培南 0.5g × 180 = 90 g / 3 g = 30 DDDs over 100 patient-days  → AUD 30
    # month 2: 美罗培南 0.5g × 60  = 30 g / 3 g = 10 DDDs over 900 patient-days  → AUD 1.111111
    # mean of monthly AUDs = (30 + 1.111111) / 2 = 15.555556; ratio of sums = 40 × 100 / 1000 = 4
    m1 = ddd_lines([row("美罗培南", "0.5g", "注射用", "瓶", 180)], 2026, cfg)
    m2 = ddd_lines([row("美罗培南", "0.5g", "注射用", "瓶", 60)], 2026, cfg)
    res = aud_over_months([(m1, 100), (m2, 900)])
    assert res.value == D(4) and res.patient_days == D(1000) and res.total_ddds == D(40)
    monthly = [m.value for m in res.months]
    assert monthly[0] == D(30) and q(monthly[1]) == D("1.111111")
    assert q(sum(monthly) / 2) == D("15.555556") != res.value
    missing = aud_over_months([(m1, 100), (m2, None)])
    assert missing.status == UNDEFINED and "第2个月" in missing.reason


def test_year_on_year_recomputes_base_with_current_table(cfg) -> None:
    # 2019 vs base 2018, both under the 2019 table (ddd_2026: meropenem P 3 g):
    # current 120 × 0.5 g = 60 g / 3 = 20 DDDs / 1000 → 2.0; base 90 × 0.5 = 45 g / 3 = 15 DDDs / 1000 → 1.5
    # (the 2018 table would have given 45 / 2 = 22.5 DDDs → 2.25); change (2.0 − 1.5) / 1.5 = 0.333333
    cur = [([row("美罗培南", "0.5g", "注射用", "瓶", 120)], 1000)]
    base = [([row("美罗培南", "0.5g", "注射用", "瓶", 90)], 1000)]
    cmp = compare_years(cur, base, 2019, cfg)
    assert cmp.table == "ddd_2026" and cmp.base.tables == ("ddd_2026",)
    assert (cmp.current.value, cmp.base.value) == (D("2"), D("1.5"))
    assert q(cmp.change) == D("0.333333")
    assert "重新计算" in cmp.note_zh and "2019" in cmp.note_zh


def test_benzylpenicillin_units_via_potency(cfg) -> None:
    # 80万U / 1670 U/mg = 479.04 mg ≈ 0.479 g a vial; × 300 = 143.712575 g; / 3.6 g = 39.920160 DDDs
    ln = ddd_units(row("注射用青霉素钠", "80万U/支", "注射用", "支", 300), 2026, cfg)
    assert ln.status == OK and ln.atc == "J01CE01"
    assert q(ln.amount_per_unit) == D("0.479042")
    assert q(ln.ddds) == D("39.920160")
    assert any("效价" in n for n in ln.notes)


def test_polymyxin_b_units_to_grams_and_colistin_in_mu(cfg) -> None:
    # 多黏菌素B 50万单位 = 50 mg (10,000 U/mg); × 30 = 1.5 g / 0.15 g = 10 DDDs
    ln = ddd_units(row("注射用硫酸多黏菌素B", "50万单位", "注射用", "支", 30), 2026, cfg)
    assert ln.status == OK and q(ln.ddds) == D("10")
    # 黏菌素 DDD in MU: 150 mg (以黏菌素计) ≈ 4.5 MU (30,000 U/mg) → 20 vials = 90 MU / 9 MU = 10 DDDs (2026)
    ln = ddd_units(row("注射用多黏菌素E甲磺酸钠", "150mg(以黏菌素计)", "注射用", "瓶", 20), 2026, cfg)
    assert ln.status == OK and ln.ddd_unit == "MU" and q(ln.ddds) == D("10")
    # units labelled: 50万单位 = 0.5 MU directly; 2018 table colistin P 3 MU → 60 × 0.5 / 3 = 10 DDDs
    ln = ddd_units(row("注射用硫酸黏菌素", "50万单位", "注射用", "支", 60), 2018, cfg)
    assert ln.status == OK and q(ln.ddds) == D("10") and ln.ddd == D("3")


def test_route_picks_the_atc_for_nitroimidazoles(cfg) -> None:
    oral = ddd_units(row("甲硝唑片", "0.2g×100片", "片剂", "瓶", 2), 2026, cfg)
    assert (oral.atc, oral.route, oral.ddd) == ("P01AB01", "O", D("2"))
    assert q(oral.ddds) == D("20")                              # 2 × 100 × 0.2 g = 40 g / 2 g
    iv = ddd_units(row("甲硝唑氯化钠注射液", "100ml:0.5g", "注射液", "瓶", 30), 2026, cfg)
    assert (iv.atc, iv.route, iv.ddd) == ("J01XD01", "P", D("1.5"))
    assert q(iv.ddds) == D("10")                                # 30 × 0.5 g = 15 g / 1.5 g
    # a row's ATC without a DDD for its route falls back to the dictionary's code for that route
    typo = ddd_units(row("奥硝唑片", "0.25g×12片", "片", "盒", 10, atc="J01XD03"), 2026, cfg)
    assert typo.atc == "P01AB03" and typo.ddd == D("1.5") and typo.notes
    assert q(typo.ddds) == D("20")                              # 10 × 12 × 0.25 = 30 g / 1.5 g


def test_counting_in_packs_or_smallest_units(cfg) -> None:
    # 阿莫西林胶囊 0.25g×24粒: 5 盒 = 120 粒 = 30 g = 20 DDDs (O 1.5 g); counted in 粒 the same
    box = ddd_units(row("阿莫西林胶囊", "0.25g×24粒", "胶囊", "盒", 5), 2026, cfg)
    caps = ddd_units(row("阿莫西林胶囊", "0.25g×24粒", "胶囊", "粒", 120), 2026, cfg)
    grams = ddd_units(row("阿莫西林", "", "胶囊", "g", 30), 2026, cfg)
    assert q(box.ddds) == q(caps.ddds) == q(grams.ddds) == D("20")
    vial_box = ddd_units(row("注射用头孢曲松钠", "1g/支", "注射用", "盒", 10), 2026, cfg)
    assert vial_box.status == NOT_COVERED and "包装单位" in vial_box.reason


def test_combination_splits(cfg) -> None:
    # unsplit standard strength: 哌拉西林他唑巴坦 4.5 g → 4.0 g piperacillin (known 8:1 total)
    ln = ddd_units(row("哌拉西林他唑巴坦", "4.5g", "注射用", "支", 7), 2026, cfg)
    assert q(ln.ddds) == D("2")                                 # 7 × 4 g = 28 g / 14 g
    # 4:1 product 2.5 g → 2.0 g piperacillin
    assert q(ddd_units(row("哌拉西林他唑巴坦", "2.5g", "注射用", "支", 7), 2026, cfg).ddds) == D("1")
    # 头孢哌酮舒巴坦 1.5 g is 1:1 or 2:1 → not covered unless the ratio is written
    amb = ddd_units(row("注射用头孢哌酮钠舒巴坦钠", "1.5g", "注射用", "支", 8), 2026, cfg)
    assert amb.status == NOT_COVERED and "配比" in amb.reason
    two_one = ddd_units(row("注射用头孢哌酮钠舒巴坦钠", "1.5g(2:1)", "注射用", "支", 8), 2026, cfg)
    assert q(two_one.ddds) == D("2")                            # 8 × 1.0 g = 8 g / 4 g
    named = ddd_units(row("阿莫西林克拉维酸钾片(7:1)", "0.457g×12片", "片", "盒", 1), 2026, cfg)
    assert q(named.ddds) == D("3.2")                            # 12 × 0.4 g = 4.8 g / 1.5 g
    # 亚胺培南西司他丁 1:1 → 1.0 g = 0.5 g imipenem; × 12 = 6 g / 2 g = 3 DDDs
    assert q(ddd_units(row("注射用亚胺培南西司他丁钠", "1.0g", "注射用", "支", 12), 2026, cfg).ddds) == D("3")
    # Chinese combination without a WHO DDD: counted by mezlocillin's DDD (6 g): 2.5 g → 2.0 g; × 9 = 3 DDDs
    mez = ddd_units(row("注射用美洛西林钠舒巴坦钠", "2.5g", "注射用", "支", 9), 2026, cfg)
    assert mez.atc == "J01CR50" and mez.ddd_code == "J01CA10" and q(mez.ddds) == D("3")


def test_not_covered_reasons_and_no_silent_drop(cfg) -> None:
    cases = {
        "规格无法解析": row("头孢曲松", "适量", "注射用", "支", 5),
        "无该给药途径的DDD值": row("万古霉素胶囊", "0.125g", "胶囊", "粒", 5),
        "缺少效价换算系数": row("阿莫西林颗粒", "25万单位", "颗粒", "袋", 5),
        "无DDD值": row("注射用头孢硫脒", "1g", "注射用", "支", 5),
        "不能为负数": row("头孢曲松", "1g", "注射用", "支", -3),
        "无法确定给药途径": row("甲硝唑", "0.5g", "", "支", 5),
        "配比": row("头孢哌酮舒巴坦(0:0)", "1.5g(0:0)", "注射用", "支", 5),
    }
    lines = {k: ddd_units(r, 2026, cfg) for k, r in cases.items()}
    for key, ln in lines.items():
        assert ln.status == NOT_COVERED, (key, ln)
        assert key in ln.reason, (key, ln.reason)
    res = aud(list(lines.values()), 100)
    assert res.value == 0 and res.lines_in_scope == len(cases) and len(res.uncovered) == len(cases)


def test_out_of_scope_by_atc_name_and_form(cfg) -> None:
    tb = ddd_units(row("某抗结核药", "0.15g", "胶囊", "粒", 9, atc="J04AB02"), 2026, cfg)
    assert tb.status == OUT_OF_SCOPE and "J04AB02" in tb.reason
    rif = ddd_units(row("利福平胶囊", "0.15g", "胶囊", "粒", 9), 2026, cfg)
    assert rif.status == OUT_OF_SCOPE and "抗结核" in rif.reason
    for form in ("滴眼液", "软膏", "乳膏", "凝胶", "外用", "滴耳液", "阴道栓"):
        ln = ddd_units(row("左氧氟沙星", "5ml:24.4mg", form, "支", 3), 2026, cfg)
        assert ln.status == OUT_OF_SCOPE, form
    oral_vanco = ddd_units(row("某口服制剂", "0.125g", "胶囊", "粒", 5, atc="A07AA09"), 2026, cfg)
    assert oral_vanco.status == OUT_OF_SCOPE


def test_national_ddd_and_chinese_keys(cfg) -> None:
    m = {"通用名": "硫酸依替米星注射液", "规格": "2ml:0.1g(10万单位)", "剂型/给药途径": "注射液", "包装单位": "支",
         "住院数量": 30, "门急诊数量": "6"}
    ln = ddd_units(m, 2026, cfg)
    # national DDD 0.3 g P: 30 × 0.1 g = 3 g → 10 DDDs inpatient; 6 × 0.1 = 0.6 g → 2 DDDs outpatient
    assert ln.status == OK and ln.ddd_origin == "national" and ln.atc == "J01GB-etimicin"
    assert (q(ln.ddds_inpatient), q(ln.ddds_outpatient)) == (D("10"), D("2"))


def test_unconfigured_year_is_a_config_error(cfg) -> None:
    with pytest.raises(KeyError):
        ddd_units(LIST[0], 1990, cfg)


def test_ddd_units_never_raises_on_row_data(cfg) -> None:
    from hypothesis import given, settings, strategies as st

    names = st.sampled_from(["头孢曲松", "哌拉西林他唑巴坦", "庆大霉素", "甲硝唑", "青霉素", "未知药", "", "黏菌素"])
    texts = st.text(alphabet="0123456789.:/()×万单位Ugml粒片支盒瓶注射液胶囊眼膏", max_size=16)
    qty = st.one_of(st.none(), st.integers(-5, 10**6), st.text(max_size=5), st.floats(allow_nan=True))

    @settings(max_examples=300, deadline=None)
    @given(names, texts, texts, st.sampled_from(["", "支", "盒", "g", "万U", "瓶"]), qty, qty)
    def check(name, strength, form, unit, qin, qout) -> None:
        ln = ddd_units(ConsumptionRow(name, strength, form, unit, qin, qout), 2026, cfg)
        assert ln.status in (OK, NOT_COVERED, OUT_OF_SCOPE)
        assert (ln.status == OK) == (ln.ddds is not None)
        assert ln.status == OK or ln.reason

    check()
