"""Alliance engine: every YG indicator by hand over a quarter, memberships by month, gaps, contributions."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics.alliance import AllianceValue, Contribution, Membership, compute_alliances, load_alliance_indicators
from test_alliance_catalog import AGG

CATALOG = load_alliance_indicators()
Q3 = ["2026-07", "2026-08", "2026-09"]
JUL, AUG, SEP = Q3

# ---------------------------------------------------------------------------------------------- the quarter
# 医共体 YGT01 in county XY01, 2026-Q3:
#   H01 lead hospital (JX-YB01) since 2025;  T01 township centre (JX-JC01) since 2025;
#   T02 township centre joining on 2026-08-15: counted from August only (its July return is ignored).
#   H01 is also in a 专科联盟, which an 医共体 run ignores.
#   T01's September 药品收入 is blank: T01-September leaves YG08 and YG09 (both sides), and is listed.
MEMBERSHIPS = [
    Membership("H01", "YGT01", "甲县医共体", "医共体", "牵头", dt.date(2025, 1, 1)),
    Membership("T01", "YGT01", "甲县医共体", "医共体", "成员", dt.date(2025, 1, 1)),
    ("T02", "YGT01", "甲县医共体", "医共体", "成员", dt.date(2026, 8, 15), None),     # a plain tuple works too
    Membership("H01", "ZK01", "心血管专科联盟", "专科联盟", "成员", dt.date(2025, 1, 1)),
]
COUNTY = {"YGT01": "XY01"}


def _month(**fields: int | str | None) -> dict[str, D | None]:
    return {k: None if v is None else D(str(v)) for k, v in fields.items()}


def _svc(total_treatment: int, nursing: int) -> dict[str, int]:
    return dict(svc_registration=10, svc_bed=60, svc_consultation=40, svc_treatment=total_treatment, svc_surgery=100,
                svc_pharmacy=0, svc_nursing=nursing)


VALUES: dict[tuple[str, str], dict[str, D | None]] = {
    # county return JX-XY01
    ("XY01", JUL): _month(xy_res_visits_in=40000, xy_res_visits_out=5000, xy_res_adm_in=1800, xy_res_adm_out=200,
                          xy_visits_total=60000, xy_visits_nonmember_grassroots=9000, xy_fund_in_county=3000,
                          xy_fund_out_county=600, xy_fund_grassroots=900, xy_chronic_registered=20000,
                          xy_chronic_managed=12000, xy_remote_diagnosis=300, xy_senior_posted=8),
    ("XY01", AUG): _month(xy_res_visits_in=42000, xy_res_visits_out=4000, xy_res_adm_in=1900, xy_res_adm_out=250,
                          xy_visits_total=62000, xy_visits_nonmember_grassroots=9500, xy_fund_in_county=3200,
                          xy_fund_out_county=500, xy_fund_grassroots=1000, xy_chronic_registered=20500,
                          xy_chronic_managed=12600, xy_remote_diagnosis=350, xy_senior_posted=9),
    ("XY01", SEP): _month(xy_res_visits_in=38000, xy_res_visits_out=6000, xy_res_adm_in=1700, xy_res_adm_out=150,
                          xy_visits_total=58000, xy_visits_nonmember_grassroots=8500, xy_fund_in_county=2800,
                          xy_fund_out_county=400, xy_fund_grassroots=800, xy_chronic_registered=21000,
                          xy_chronic_managed=13230, xy_remote_diagnosis=400, xy_senior_posted=11),
    # lead hospital JX-YB01
    ("H01", JUL): _month(med_revenue=2000, drug_revenue=600, discharges_surgery=400, discharges_grade3=100,
                         discharges_grade4=20, **_svc(150, 80)),                        # services 440
    ("H01", AUG): _month(med_revenue=2100, drug_revenue=630, discharges_surgery=420, discharges_grade3=110,
                         discharges_grade4=25, **_svc(160, 80)),                        # services 450
    ("H01", SEP): _month(med_revenue=1900, drug_revenue=570, discharges_surgery=380, discharges_grade3=90,
                         discharges_grade4=15, **_svc(150, 70)),                        # services 430
    # township centres JX-JC01
    ("T01", JUL): _month(jc_oe_visits=15000, jc_med_revenue=100, jc_drug_revenue=50, jc_essential_drug_revenue=40,
                         jc_referral_up=20, jc_referral_down=5),
    ("T01", AUG): _month(jc_oe_visits=16000, jc_med_revenue=110, jc_drug_revenue=55, jc_essential_drug_revenue=44,
                         jc_referral_up=25, jc_referral_down=8),
    ("T01", SEP): _month(jc_oe_visits=14000, jc_med_revenue=120, jc_drug_revenue=None, jc_essential_drug_revenue=48,
                         jc_referral_up=30, jc_referral_down=10),
    ("T02", JUL): _month(jc_oe_visits=11000, jc_med_revenue=80, jc_drug_revenue=40, jc_essential_drug_revenue=30,
                         jc_referral_up=10, jc_referral_down=10),                      # before joining: ignored
    ("T02", AUG): _month(jc_oe_visits=12000, jc_med_revenue=90, jc_drug_revenue=45, jc_essential_drug_revenue=36,
                         jc_referral_up=15, jc_referral_down=6),
    ("T02", SEP): _month(jc_oe_visits=13000, jc_med_revenue=95, jc_drug_revenue=50, jc_essential_drug_revenue=40,
                         jc_referral_up=12, jc_referral_down=9),
}

# Hand computation (flows: Σ over Jul–Sep; T02 from August; T01-September out of YG08/YG09):
EXPECTED = {
    # 40000+42000+38000 = 120000 / (120000 + 5000+4000+6000 = 135000) = 88.888… → 88.89
    "YG01": ("88.89", "120000", "135000"),
    # 5400 / (5400 + 600) = 90.00
    "YG02": ("90.00", "5400", "6000"),
    # (T01 15000+16000+14000 + T02 12000+13000 + non-member 9000+9500+8500) / (60000+62000+58000)
    #   = (45000 + 25000 + 27000) / 180000 = 97000 / 180000 = 53.888… → 53.89
    "YG03": ("53.89", "97000", "180000"),
    # T01 5+8+10 + T02 6+9 = 38 (T02's July 10 is before it joined)
    "YG04": ("38", "38", None),
    # 38 / (上转 T01 20+25+30 + T02 15+12 = 102, + 下转 38) = 38 / 140 = 27.142… → 27.14
    "YG05": ("27.14", "38", "140"),
    # 9000 / (9000 + 1500) = 85.714… → 85.71
    "YG06": ("85.71", "9000", "10500"),
    # 2700 / 9000 = 30.00
    "YG07": ("30.00", "2700", "9000"),
    # drugs: H01 600+630+570 = 1800, T01 50+55 (Sep excluded) = 105, T02 45+50 = 95 → 2000
    # revenue: H01 2000+2100+1900 = 6000, T01 100+110 = 210, T02 90+95 = 185 → 6395
    # 2000 / 6395 = 31.2744… → 31.27
    "YG08": ("31.27", "2000", "6395"),
    # essential: T01 40+44 = 84 (Sep excluded although 48 was reported), T02 36+40 = 76 → 160; drugs 105+95 = 200
    # 160 / 200 = 80.00 (keeping T01's September 48 in the numerator only would give 104 %)
    "YG09": ("80.00", "160", "200"),
    # lead only: (100+110+90 + 20+25+15) / (400+420+380) = 360 / 1200 = 30.00
    "YG10": ("30.00", "360", "1200"),
    # lead only: (440 + 450 + 430) / 6000 = 1320 / 6000 = 22.00
    "YG11": ("22.00", "1320", "6000"),
    # stock, September only: 13230 / 21000 = 63.00 (Σ over months would give 37830 / 61500 = 61.51)
    "YG12": ("63.00", "13230", "21000"),
    # 300 + 350 + 400 = 1050
    "YG13": ("1050", "1050", None),
    # stock, September only: 11
    "YG14": ("11", "11", None),
}


def _run(values=VALUES, memberships=MEMBERSHIPS, months=Q3, **kw) -> tuple[dict[str, AllianceValue],
                                                                             list[Contribution]]:
    out, contrib = compute_alliances(values, AGG, memberships, COUNTY, months, CATALOG, **kw)
    return {v.indicator: v for v in out if v.org_id == "YGT01"}, contrib


def _none(x: str | None) -> D | None:
    return None if x is None else D(x)


@pytest.mark.parametrize("code", list(EXPECTED))
def test_quarter_by_hand(code: str) -> None:
    got, _ = _run()
    value, num, den = EXPECTED[code]
    v = got[code]
    assert (v.status, v.value, v.numerator, v.denominator) == ("ok", D(value), D(num), _none(den)), v.detail
    assert str(v.value) == value        # published decimals: 90.00, 38


def test_only_the_alliance_kind_is_computed() -> None:
    out, _ = compute_alliances(VALUES, AGG, MEMBERSHIPS, COUNTY, Q3, CATALOG)
    assert {v.org_id for v in out} == {"YGT01"}                    # not the 专科联盟 ZK01
    assert [v.indicator for v in out] == list(CATALOG.indicators)
    out, _ = compute_alliances(VALUES, AGG, MEMBERSHIPS, COUNTY, Q3, CATALOG, org_kind="专科联盟")
    assert {v.org_id for v in out} == {"ZK01"}
    by = {v.indicator: v for v in out}
    assert by["YG01"].status == "missing" and "未指定医共体所属县域" in (by["YG01"].detail or "")
    assert by["YG10"].status == "missing" and by["YG10"].detail == "期内无牵头医院"


def test_missing_member_month_is_excluded_and_listed() -> None:
    got, _ = _run()
    for code in ("YG08", "YG09"):
        assert got[code].detail == "未报（该月同时从分子、分母中剔除）：T01 2026-09"
    # T01's September referral and visit fields are there: those indicators count it
    for code in ("YG03", "YG04", "YG05", "YG10"):
        assert got[code].detail is None, code


def test_missing_policy_makes_the_indicator_missing() -> None:
    # YG03 reads a county denominator that includes every member: a member gap cannot be excluded
    values = {**VALUES, ("T02", SEP): {**VALUES[("T02", SEP)], "jc_oe_visits": None}}
    got, contrib = _run(values)
    assert (got["YG03"].status, got["YG03"].numerator, got["YG03"].detail) == ("missing", None, "未报：T02 2026-09")
    assert not [c for c in contrib if c.indicator == "YG03"]


def test_a_member_without_a_return_is_listed_and_the_lead_without_one_is_missing() -> None:
    values = {k: v for k, v in VALUES.items() if k not in {("T02", AUG), ("H01", JUL), ("H01", AUG), ("H01", SEP)}}
    got, _ = _run(values)
    # YG04 = T01 5+8+10 + T02 September 9 = 32; T02-August is listed. H01 filed nothing at all in the data given,
    # so nothing says it does not file the 基层 return: it is held to every term and listed too
    assert got["YG04"].value == D(32)
    assert got["YG04"].detail == "未报（该月不计入）：H01 2026-07、H01 2026-08、H01 2026-09、T02 2026-08"
    # the lead filed nothing this quarter: its own indicators have no unit-month left
    assert got["YG10"].status == "missing"
    assert got["YG10"].detail == "成员单位均无可用数据；未报：H01 2026-07、H01 2026-08、H01 2026-09"
    # YG08 without H01 and without T02-August, T01-September:
    # (50+55 + 50) / (100+110 + 95) = 155 / 305 = 50.819… → 50.82
    assert got["YG08"].value == D("50.82")
    assert got["YG08"].detail == ("未报（该月同时从分子、分母中剔除）：H01 2026-07、H01 2026-08、H01 2026-09、"
                                  "T01 2026-09、T02 2026-08")
    # told which returns H01 files (from the registry's facility type), it is not expected on the 基层 return
    got, _ = _run(values, unit_returns={"H01": ["JX-YB01"]})
    assert got["YG04"].detail == "未报（该月不计入）：T02 2026-08"
    assert got["YG03"].status == "missing" and got["YG03"].detail == "未报：T02 2026-08"


def test_zero_denominator_is_undefined_never_zero() -> None:
    values = dict(VALUES)
    for m in Q3:  # the lead reports no surgery patients all quarter
        values[("H01", m)] = {**VALUES[("H01", m)], "discharges_surgery": D(0), "discharges_grade3": D(0),
                              "discharges_grade4": D(0)}
    got, contrib = _run(values)
    v = got["YG10"]
    assert (v.status, v.value, v.numerator, v.denominator) == ("undefined", None, D(0), D(0))
    assert v.detail == "分母为0：出院患者手术人数"          # labels from fields.yaml
    [c] = [c for c in contrib if c.indicator == "YG10"]
    assert (c.facility_id, c.role, c.numerator_part, c.denominator_part) == ("H01", "牵头", D(0), D(0))


def test_county_gaps_make_county_indicators_missing() -> None:
    values = {**VALUES, ("XY01", AUG): {**VALUES[("XY01", AUG)], "xy_res_visits_out": None}}
    del values[("XY01", JUL)]
    got, _ = _run(values)
    assert got["YG01"].status == "missing"
    assert got["YG01"].detail is not None and got["YG01"].detail.startswith("县域月报缺失：XY01 2026-07（未报）、XY01 2026-08（")
    # stocks read September only, which is there
    assert got["YG12"].value == D("63.00") and got["YG14"].value == D(11)


def test_stock_takes_members_valid_in_the_last_month() -> None:
    # a member that left on 2026-09-01 is out of a stock read in September; the quarter's flows still count it
    left = [m if m[0] != "T01" else m._replace(valid_to=dt.date(2026, 9, 1)) for m in map(_as_m, MEMBERSHIPS)]
    got, contrib = _run(memberships=left)
    # YG04 flows: T01 July, August 5+8 (September is past its valid_to) + T02 6+9 = 28; no gap: T01-Sep not expected
    assert (got["YG04"].value, got["YG04"].detail) == (D(28), None)
    # YG09: T01 Jul+Aug 84 + T02 76 = 160 / 200 = 80.00 — T01-September is no longer a gap
    assert (got["YG09"].value, got["YG09"].detail) == (D("80.00"), None)


def _as_m(row) -> Membership:
    return row if isinstance(row, Membership) else Membership(*row)


@pytest.mark.parametrize("valid_from, valid_to, months", [
    (dt.date(2026, 8, 15), None, (AUG, SEP)),           # joins mid-August: counted from August
    (dt.date(2026, 8, 31), None, (AUG, SEP)),           # last day of the month is enough
    (dt.date(2026, 9, 1), None, (SEP,)),
    (dt.date(2025, 1, 1), dt.date(2026, 8, 1), (JUL,)),   # valid_to is exclusive: out of August
    (dt.date(2025, 1, 1), dt.date(2026, 8, 2), (JUL, AUG)),
    (dt.date(2026, 7, 10), dt.date(2026, 7, 20), (JUL,)),
    (dt.date(2026, 10, 1), None, ()),                   # joins after the quarter
])
def test_membership_months(valid_from: dt.date, valid_to: dt.date | None, months: tuple[str, ...]) -> None:
    rows = [MEMBERSHIPS[0], MEMBERSHIPS[1],
            Membership("T02", "YGT01", "甲县医共体", "医共体", "成员", valid_from, valid_to)]
    _, contrib = _run(memberships=rows)
    t02 = [c for c in contrib if c.indicator == "YG04" and c.facility_id == "T02"]
    assert tuple(t02[0].months if t02 else ()) == months


def test_memberships_as_registry_dicts_with_iso_dates() -> None:
    rows = [dict(facility_id=m.facility_id, org_id=m.org_id, org_name=m.org_name, org_kind=m.org_kind, role=m.role,
                 valid_from=m.valid_from.isoformat(), valid_to=None) for m in map(_as_m, MEMBERSHIPS)]
    assert _run(memberships=rows)[0] == _run()[0]


def test_contributions_add_up_exactly() -> None:
    got, contrib = _run()
    parts: dict[str, list[Contribution]] = defaultdict(list)
    for c in contrib:
        parts[c.indicator].append(c)
    assert set(parts) == set(EXPECTED)
    for code, v in got.items():
        assert sum((c.numerator_part for c in parts[code]), D(0)) == v.numerator, code
        if v.denominator is None:
            assert all(c.denominator_part is None for c in parts[code])
        else:
            assert sum((c.denominator_part or D(0) for c in parts[code]), D(0)) == v.denominator, code
    # each member's share, for the report
    rows = {(c.facility_id, c.role, c.numerator_part, c.denominator_part, c.months) for c in parts["YG08"]}
    assert rows == {("H01", "牵头", D(1800), D(6000), (JUL, AUG, SEP)),
                    ("T01", "成员", D(105), D(210), (JUL, AUG)),
                    ("T02", "成员", D(95), D(185), (AUG, SEP))}
    rows = {(c.facility_id, c.role, c.numerator_part, c.denominator_part, c.months) for c in parts["YG03"]}
    assert rows == {("XY01", "县域", D(27000), D(180000), (JUL, AUG, SEP)),
                    ("T01", "成员", D(45000), D(0), (JUL, AUG, SEP)),
                    ("T02", "成员", D(25000), D(0), (AUG, SEP))}
    assert [(c.facility_id, c.months) for c in parts["YG12"]] == [("XY01", (SEP,))]
    assert [c.facility_id for c in parts["YG10"]] == ["H01"]       # lead indicators: the lead only


def test_an_alliance_without_members_in_the_period_is_missing() -> None:
    rows = [Membership("H01", "YGT01", "甲县医共体", "医共体", "牵头", dt.date(2026, 10, 1))]
    got, contrib = _run(memberships=rows)
    assert {v.status for v in got.values()} == {"missing"} and not contrib
    assert got["YG01"].detail == "期内无有效成员单位（成员关系未覆盖本期任何月份）"


def test_an_alliance_starting_mid_quarter_is_computed_over_its_months() -> None:
    rows = [m._replace(valid_from=dt.date(2026, 8, 1)) for m in map(_as_m, MEMBERSHIPS[:3])]
    got, _ = _run(memberships=rows)
    # YG01 over August and September: (42000 + 38000) / (42000+4000 + 38000+6000) = 80000 / 90000 = 88.89
    assert (got["YG01"].numerator, got["YG01"].denominator) == (D(80000), D(90000))
    assert got["YG01"].detail == "成员关系仅覆盖2026-08、2026-09，按这些月份计算"


def test_inputs_are_checked() -> None:
    with pytest.raises(ValueError, match="months"):
        _run(months=["2026-09", "2026-08"])
    with pytest.raises(ValueError, match="xy_senior_posted"):
        compute_alliances(VALUES, {k: v for k, v in AGG.items() if k != "xy_senior_posted"}, MEMBERSHIPS, COUNTY,
                          Q3, CATALOG)


# ---------------------------------------------------------------------------------------------- ratio of sums

def test_ratio_of_sums_not_mean_of_monthly_ratios() -> None:
    # one centre, two months: 10/100 = 10 % and 90/300 = 30 %; mean of monthly ratios 20 %,
    # the indicator (10 + 90) / (100 + 300) = 25.00
    values = {("T01", JUL): _month(jc_drug_revenue=10, jc_med_revenue=100),
              ("T01", AUG): _month(jc_drug_revenue=90, jc_med_revenue=300)}
    rows = [Membership("T01", "YGT01", "甲县医共体", "医共体", "成员", dt.date(2025, 1, 1))]
    out, _ = compute_alliances(values, AGG, rows, COUNTY, [JUL, AUG], {"YG08": CATALOG.indicators["YG08"]})
    [v] = out
    mean_of_months = (D(10) / D(100) + D(90) / D(300)) / 2 * 100
    assert v.value == D("25.00") and mean_of_months == D(20) and v.value != mean_of_months


AMOUNT = st.one_of(st.none(), st.decimals(min_value=0, max_value=5000, places=2, allow_nan=False))


@st.composite
def alliances(draw):
    """A lead hospital and 0–3 centres over 1–3 months; joining months, blanks and absent returns at random."""
    months = Q3[:draw(st.integers(1, 3))]
    units = [("H01", "牵头", dt.date(2025, 1, 1))]
    for i in range(draw(st.integers(0, 3))):
        joins = draw(st.sampled_from([dt.date(2025, 1, 1), dt.date(2026, 7, 20), dt.date(2026, 8, 15),
                                      dt.date(2026, 9, 30)]))
        units.append((f"T{i + 1:02d}", "成员", joins))
    values: dict[tuple[str, str], dict[str, D | None]] = {}
    for fid, _, _ in units:
        num, den = ("drug_revenue", "med_revenue") if fid == "H01" else ("jc_drug_revenue", "jc_med_revenue")
        for m in Q3:
            if draw(st.booleans()) or draw(st.booleans()):              # 3 in 4 unit-months have a return
                values[(fid, m)] = {num: draw(AMOUNT), den: draw(AMOUNT)}
    return months, units, values


@settings(max_examples=300, deadline=None)
@given(alliances())
def test_ratio_equals_sum_over_flattened_member_months(case) -> None:
    months, units, values = case
    rows = [Membership(fid, "YGT01", "甲县医共体", "医共体", role, since) for fid, role, since in units]
    out, contrib = compute_alliances(values, AGG, rows, COUNTY, months, {"YG08": CATALOG.indicators["YG08"]})
    [v] = out
    # oracle: flatten every member-month that counts (member by the month's last day's start, i.e. joined before
    # the next month) with both fields reported, then Σ num / Σ den
    flat = []
    expected_unit_months = 0
    for fid, _, since in units:
        for m in months:
            y, mo = int(m[:4]), int(m[5:])
            if since >= dt.date(y + mo // 12, mo % 12 + 1, 1):
                continue
            expected_unit_months += 1
            rec = values.get((fid, m))
            if rec is not None and None not in rec.values():
                n, d = rec.values()                                   # (drug revenue, medical revenue)
                flat.append((n, d))
    if not flat:
        assert v.status == "missing"
        return
    num, den = sum(p[0] for p in flat), sum(p[1] for p in flat)
    assert (v.numerator, v.denominator) == (num, den)
    if den == 0:
        assert (v.status, v.value) == ("undefined", None)
    else:
        assert v.status == "ok"
        assert v.value == (num * 100 / den).quantize(D("0.01"), rounding=ROUND_HALF_UP)
    assert sum(c.numerator_part for c in contrib) == num
    assert sum(c.denominator_part for c in contrib) == den
    # the detail lists exactly the member-months left out
    left_out = expected_unit_months - len(flat)
    [gaps] = [x for x in (v.detail or "").split("；") if x.startswith("未报")] or [""]
    assert len(gaps.split("：", 1)[1].split("、") if gaps else []) == left_out
