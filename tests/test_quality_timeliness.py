"""Expected returns, on time / late / missing across resubmissions and holidays, rates, and the 催报 workbook.

The region (all hand-made; deadlines are 10 working days after the month under the 2026 State Council notice):
  July 2026      → deadline 2026-08-14 (Fri; no holiday)
  August 2026    → deadline 2026-09-14 (Mon)
  September 2026 → deadline 2026-10-20 (Tue): 国庆 1–7 Oct off, Saturday 10 Oct a make-up working day
  A 三级 综合 青山县   open all year; Jul on time, Aug on the deadline day, Sep first filed 16 Oct (16 calendar days
                      after the month — on time in working days) and resubmitted 22 Oct (after the deadline)
  B 二级 综合 白水县   closes 2026-09-15: expected Jul and Aug only; Jul late (17 Aug), Aug never filed
  C 基层 乡镇卫生院 白水县 Jul on time; Aug filed once and rejected (= missing); Sep filed Saturday 24 Oct (late)
  D 二级 中医 青山县   opens 2026-07-15: expected from August; Aug and Sep on time
  医共体 YGT01: D leads from 2026-07-15, A is a member until 2026-08-01 (July only), C joins 2026-08-20 (Aug, Sep)
  专科联盟 ZK01: A all year
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from openpyxl import load_workbook

from metrics.catalog import CatalogError
from metrics.quality.calendar import CalendarError, add_working_days, is_working_day, load_work_calendar
from metrics.quality.timeliness import (
    LATE, MISSING, ON_TIME, PENDING, ReturnsCalendar, expected_for_months, expected_returns, expected_span,
    load_returns_calendar, rates, return_status, statuses_by_facility,
)
from templates_xlsx.chase_report import (
    CHASE_COLUMNS, COMPLETENESS_COLUMNS, chase_selection, completeness_about_rows, completeness_sheet_rows,
    write_chase_report,
    write_chase_workbook,
)
from templates_xlsx.layout import load_layouts
from warehouse.db import connect
from warehouse.timeliness import period_statuses, read_inputs, returns_calendar, span_statuses

D = dt.date
T = dt.datetime
AS_OF = T(2026, 10, 26, 18, 0)
YB01 = "医院运营与药品月报（卫健绩效01表）"
JC01 = "基层医疗卫生机构月报（卫健绩效06表）"

CALENDAR_YAML = """
defaults: {frequency: monthly, due_working_days: 10, expected: layout, timeliness_basis: first_received}
thresholds: {completeness: "0.90", timeliness: "0.75"}
rates: {span: year_to_date, percent_decimals: 1, timeliness_denominator: expected}
expected_when_open: %(open)s
alliance_org_kinds: [医共体, 医联体, 医院集团, 专科联盟]
workdays: workdays_cn.yaml
templates:
  JX-YB01: {timeliness_basis: %(basis)s}
  JX-YB02: {expected: optional}
  JX-YB03: {expected: optional}
  JX-MY01: {%(my01)s}
  JX-MY02: {expected: optional}
  JX-JC01: {}
  JX-XY01: {}
"""


def _fac(fid: str, name: str, tier: str, ftype: str, county: str, start: dt.date, end: dt.date | None = None,
         contact: str | None = None, phone: str | None = None) -> dict:
    return {"facility_id": fid, "valid_from": start, "valid_to": end, "name": name, "tier": tier, "ftype": ftype,
            "county": county, "contact_name": contact, "contact_phone": phone}


FACILITIES = [
    _fac("A", "A医院", "三级", "综合", "青山县", D(2020, 1, 1), None, "张三", "0571-1111"),
    _fac("B", "B医院", "二级", "综合", "白水县", D(2020, 1, 1), D(2026, 9, 15), "李四", "0571-2222"),
    _fac("C", "C卫生院", "基层", "乡镇卫生院", "白水县", D(2020, 1, 1), None, "=王五", "+86 571 3333"),
    _fac("D", "D中医院", "二级", "中医", "青山县", D(2026, 7, 15), None, "赵六", "0571-4444"),
]
MEMBERSHIPS = [
    {"facility_id": "D", "org_id": "YGT01", "org_name": "青山县医共体", "org_kind": "医共体", "role": "牵头",
     "valid_from": D(2026, 7, 15), "valid_to": None},
    {"facility_id": "A", "org_id": "YGT01", "org_name": "青山县医共体", "org_kind": "医共体", "role": "成员",
     "valid_from": D(2025, 1, 1), "valid_to": D(2026, 8, 1)},
    {"facility_id": "C", "org_id": "YGT01", "org_name": "青山县医共体", "org_kind": "医共体", "role": "成员",
     "valid_from": D(2026, 8, 20), "valid_to": None},
    {"facility_id": "A", "org_id": "ZK01", "org_name": "心血管专科联盟", "org_kind": "专科联盟", "role": "牵头",
     "valid_from": D(2025, 1, 1), "valid_to": None},
]


def _rcpt(sid: str, fid: str, period: str, template: str, at: dt.datetime, status: str = "accepted") -> dict:
    return {"submission_id": sid, "facility_id": fid, "period": period, "template_id": template, "received_at": at,
            "status": status, "original_name": f"{sid}.xlsx"}


RECEIPTS = [
    _rcpt("a07", "A", "2026-07", "JX-YB01", T(2026, 8, 10, 9, 0)),
    _rcpt("a08", "A", "2026-08", "JX-YB01", T(2026, 9, 14, 17, 30)),              # on the deadline day
    _rcpt("a09", "A", "2026-09", "JX-YB01", T(2026, 10, 16, 10, 0), "superseded"),  # first version, on time
    _rcpt("a09b", "A", "2026-09", "JX-YB01", T(2026, 10, 22, 15, 0)),              # resubmission, after deadline
    _rcpt("b07", "B", "2026-07", "JX-YB01", T(2026, 8, 17, 9, 0)),                 # late by 1 working day
    _rcpt("c07", "C", "2026-07", "JX-JC01", T(2026, 8, 14, 8, 0)),
    _rcpt("c08", "C", "2026-08", "JX-JC01", T(2026, 9, 10, 8, 0), "rejected"),     # rejected only → missing
    _rcpt("c09", "C", "2026-09", "JX-JC01", T(2026, 10, 24, 10, 0)),               # Saturday after the deadline
    _rcpt("d08", "D", "2026-08", "JX-YB01", T(2026, 9, 11, 16, 0)),
    _rcpt("d09", "D", "2026-09", "JX-YB01", T(2026, 10, 9, 11, 0)),
    _rcpt("x09", "A", "2026-09", "JX-MY02", T(2026, 10, 30, 9, 0)),                # optional template: ignored
    _rcpt("b09", "B", "2026-09", "JX-YB01", T(2026, 10, 9, 9, 0)),                 # closed mid-September: not expected
]


@pytest.fixture(scope="module")
def layouts():
    return load_layouts()


def _calendar(tmp: Path, layouts, *, open_rule: str = "whole_period", basis: str = "first_received",
              my01: str = "expected: optional") -> ReturnsCalendar:
    path = tmp / f"returns_{open_rule}_{basis}_{len(my01)}.yaml"
    path.write_text(CALENDAR_YAML % {"open": open_rule, "basis": basis, "my01": my01}, encoding="utf-8")
    return load_returns_calendar(layouts, path, workdays=load_work_calendar())


@pytest.fixture
def cal(tmp_path: Path, layouts) -> ReturnsCalendar:
    return _calendar(tmp_path, layouts)


def _judged(statuses) -> list[tuple]:
    return [(s.expected.facility_id, s.expected.template_id, s.expected.period, s.status, s.days_late,
             s.submission_id, s.versions, s.rejected) for s in statuses]


EXPECTED_JUDGED = [
    ("A", "JX-YB01", "2026-07", ON_TIME, 0, "a07", 1, 0),
    ("A", "JX-YB01", "2026-08", ON_TIME, 0, "a08", 1, 0),
    ("A", "JX-YB01", "2026-09", ON_TIME, 0, "a09", 2, 0),
    ("B", "JX-YB01", "2026-07", LATE, 1, "b07", 1, 0),
    # Sep 15–18 (4), Sun 20 Sep make-up (5), 21–24 (9), 28–30 (12), 8–9 Oct (14), Sat 10 Oct (15), 12–16 (20),
    # 19–23 (25), Mon 26 Oct (26): working days after the 14 Sep deadline up to as_of
    ("B", "JX-YB01", "2026-08", MISSING, 26, None, 0, 0),
    ("C", "JX-JC01", "2026-07", ON_TIME, 0, "c07", 1, 0),
    ("C", "JX-JC01", "2026-08", MISSING, 26, None, 0, 1),
    ("C", "JX-JC01", "2026-09", LATE, 4, "c09", 1, 0),  # Sat 24 Oct counts as Mon 26: 21, 22, 23, 26 Oct
    ("D", "JX-YB01", "2026-08", ON_TIME, 0, "d08", 1, 0),
    ("D", "JX-YB01", "2026-09", ON_TIME, 0, "d09", 1, 0),
]


# --- the working-day calendar ----------------------------------------------------------------------

def test_holiday_and_make_up_days_2026() -> None:
    wd = load_work_calendar()
    assert not is_working_day(D(2026, 10, 5))          # Monday inside 国庆
    assert not is_working_day(D(2026, 10, 3))          # Saturday inside 国庆
    assert is_working_day(D(2026, 10, 10))             # Saturday make-up day (调休上班)
    assert is_working_day(D(2026, 9, 20))              # Sunday make-up day
    assert not is_working_day(D(2026, 9, 25))          # 中秋 (Friday)
    assert add_working_days(D(2026, 9, 30), 10) == D(2026, 10, 20)
    # without the Saturday make-up day the deadline would move one working day later
    no_makeup = dataclasses.replace(wd, workdays=frozenset(d for d in wd.workdays if d != D(2026, 10, 10)))
    assert no_makeup.add_working_days(D(2026, 9, 30), 10) == D(2026, 10, 21)
    assert add_working_days(D(2026, 9, 30), 3) == D(2026, 10, 10)   # 8 Oct, 9 Oct, Sat 10 Oct
    assert add_working_days(D(2025, 9, 30), 10) == D(2025, 10, 21)  # 2025: 1–8 Oct off, Sat 11 Oct works
    # 2–6 Feb (5), 9–13 Feb (10), Sat 14 Feb make-up (11), 春节 15–23 Feb off, Tue 24 Feb (12)
    assert add_working_days(D(2026, 1, 31), 12) == D(2026, 2, 24)
    assert add_working_days(D(2026, 7, 31), 10) == D(2026, 8, 14)
    assert add_working_days(D(2026, 8, 31), 10) == D(2026, 9, 14)
    assert wd.provisional_years() == (2027,)


def test_calendar_refuses_uncovered_year_and_bad_files(tmp_path: Path) -> None:
    with pytest.raises(CalendarError, match="未包含 2028 年"):
        is_working_day(D(2028, 1, 3))
    bad = tmp_path / "wd.yaml"
    bad.write_text("name: x\nsource_zh: y\nyears:\n  2026:\n    status: verified\n    notice_zh: n\n"
                   "    holidays: []\n    workdays: [2026-10-12]\n", encoding="utf-8")
    with pytest.raises(CatalogError, match=r"years\.2026\.workdays: 2026-10-12 is a weekday"):
        load_work_calendar(bad)
    bad.write_text("name: x\nsource_zh: y\nyears:\n  2026:\n    status: sure\n    notice_zh: n\n"
                   "    holidays: []\n    workdays: []\n", encoding="utf-8")
    with pytest.raises(CatalogError, match=r"years\.2026\.status"):
        load_work_calendar(bad)


# --- the returns calendar --------------------------------------------------------------------------

def test_shipped_returns_calendar_loads(layouts) -> None:
    cal = returns_calendar()
    assert list(cal.templates) == list(layouts)  # every layout listed, in form-number order
    assert cal.completeness_threshold == Decimal("0.90") and cal.timeliness_threshold == Decimal("0.75")
    assert cal.span_months("2026-03") == ("2026-01", "2026-02", "2026-03")
    hospital = _fac("H", "H", "三级", "综合", "X", D(2020, 1, 1))
    assert [t for t, tc in cal.templates.items() if tc.applies(hospital)] == ["JX-YB01", "JX-YB02", "JX-YB03",
                                                                              "JX-MY01"]
    assert cal.templates["JX-MY02"].expected == "optional"
    assert all(tc.due_working_days == 10 for tc in cal.templates.values())


def test_returns_calendar_names_file_and_key(tmp_path: Path, layouts) -> None:
    path = tmp_path / "r.yaml"
    path.write_text((CALENDAR_YAML % {"open": "whole_period", "basis": "first_received", "my01": ""})
                    .replace("  JX-JC01: {}", "  JX-JC01: {due_days: 5}"), encoding="utf-8")
    with pytest.raises(CatalogError, match=r"r\.yaml: templates\.JX-JC01.*due_days"):
        load_returns_calendar(layouts, path)
    path.write_text((CALENDAR_YAML % {"open": "whole_period", "basis": "first_received", "my01": ""})
                    .replace("  JX-XY01: {}\n", ""), encoding="utf-8")
    with pytest.raises(CatalogError, match="JX-XY01 has a layout but no entry"):
        load_returns_calendar(layouts, path)


# --- expected returns ------------------------------------------------------------------------------

def test_expected_follows_opening_closing_and_applicability(cal: ReturnsCalendar, tmp_path: Path, layouts) -> None:
    exp = expected_span(FACILITIES, MEMBERSHIPS, cal, "2026-09")
    got = [(e.facility_id, e.template_id, e.period, e.deadline) for e in exp if e.period >= "2026-07"]
    assert got == [
        ("A", "JX-YB01", "2026-07", D(2026, 8, 14)), ("A", "JX-YB01", "2026-08", D(2026, 9, 14)),
        ("A", "JX-YB01", "2026-09", D(2026, 10, 20)),
        ("B", "JX-YB01", "2026-07", D(2026, 8, 14)), ("B", "JX-YB01", "2026-08", D(2026, 9, 14)),  # closed 15 Sep
        ("C", "JX-JC01", "2026-07", D(2026, 8, 14)), ("C", "JX-JC01", "2026-08", D(2026, 9, 14)),
        ("C", "JX-JC01", "2026-09", D(2026, 10, 20)),
        ("D", "JX-YB01", "2026-08", D(2026, 9, 14)), ("D", "JX-YB01", "2026-09", D(2026, 10, 20)),  # opened 15 Jul
    ]
    assert len(exp) == 6 * 3 + 10  # Jan–Jun: A, B, C each month; then the ten above
    # any_part: the opening and the closing month are expected too
    any_part = _calendar(tmp_path, layouts, open_rule="any_part")
    sep = expected_returns(FACILITIES, MEMBERSHIPS, any_part, "2026-09")
    jul = expected_returns(FACILITIES, MEMBERSHIPS, any_part, "2026-07")
    assert [e.facility_id for e in sep] == ["A", "B", "C", "D"] and [e.facility_id for e in jul] == ["A", "B", "C", "D"]


def test_registry_change_mid_month_keeps_the_facility_open(cal: ReturnsCalendar) -> None:
    rows = [_fac("E", "E医院", "二级", "综合", "青山县", D(2020, 1, 1), D(2026, 8, 10)),
            _fac("E", "E医院（更名）", "三级", "综合", "青山县", D(2026, 8, 10))]
    exp = expected_returns(rows, [], cal, "2026-08")
    assert [(e.facility_id, e.name, e.tier) for e in exp] == [("E", "E医院（更名）", "三级")]
    gap = [rows[0], {**rows[1], "valid_from": D(2026, 8, 12)}]  # two days without a registry row
    assert expected_returns(gap, [], cal, "2026-08") == []


def test_alliance_membership_counts_from_the_joining_month(cal: ReturnsCalendar) -> None:
    exp = expected_span(FACILITIES, MEMBERSHIPS, cal, "2026-09")
    by = {(e.facility_id, e.period): [a[0] for a in e.alliances] for e in exp}
    assert by[("C", "2026-07")] == [] and by[("C", "2026-08")] == ["YGT01"]  # joins 20 Aug
    assert by[("A", "2026-07")] == ["YGT01", "ZK01"] and by[("A", "2026-08")] == ["ZK01"]  # left 1 Aug


def test_quarterly_template(tmp_path: Path, layouts) -> None:
    cal = _calendar(tmp_path, layouts, my01="frequency: quarterly")
    assert [e.template_id for e in expected_returns(FACILITIES[:1], [], cal, "2026-08")] == ["JX-YB01"]
    exp = [e for e in expected_returns(FACILITIES[:1], [], cal, "2026-09") if e.template_id == "JX-MY01"]
    assert [(e.period, e.period_label, e.deadline) for e in exp] == [("2026-Q3", "2026年第3季度", D(2026, 10, 20))]
    # filed under August's 统计期: counts for the third quarter
    st = return_status(exp, [_rcpt("s", "A", "2026-08", "JX-MY01", T(2026, 9, 3, 9, 0))], cal)
    assert [(s.status, s.submission_id) for s in st] == [(ON_TIME, "s")]


def test_expected_from_starts_collection_later(tmp_path: Path, layouts) -> None:
    cal = _calendar(tmp_path, layouts, my01='expected_from: "2026-08"')
    exp = expected_for_months(FACILITIES[:1], [], cal, ("2026-07", "2026-08", "2026-09"))
    assert [(e.template_id, e.period) for e in exp] == [
        ("JX-YB01", "2026-07"), ("JX-YB01", "2026-08"), ("JX-MY01", "2026-08"),
        ("JX-YB01", "2026-09"), ("JX-MY01", "2026-09")]
    with pytest.raises(CatalogError, match=r"templates\.JX-MY01\.expected_from"):
        _calendar(tmp_path, layouts, my01='expected_from: "2026-8"')


# --- judging receipts ------------------------------------------------------------------------------

def test_timeliness_across_a_resubmission_and_a_holiday(cal: ReturnsCalendar, tmp_path: Path, layouts) -> None:
    exp = expected_span(FACILITIES, MEMBERSHIPS, cal, "2026-09")
    st = [s for s in return_status(exp, RECEIPTS, cal, as_of=AS_OF) if s.expected.period >= "2026-07"]
    assert _judged(st) == EXPECTED_JUDGED
    a09 = next(s for s in st if (s.expected.facility_id, s.expected.period) == ("A", "2026-09"))
    # 16 calendar days after the month, on time in working days (国庆); the later resubmission does not change it
    assert a09.received_at == T(2026, 10, 16, 10, 0) and a09.expected.deadline == D(2026, 10, 20)
    # judged on the latest version instead, the same return is late by two working days (21 and 22 Oct)
    latest = _calendar(tmp_path, layouts, basis="latest")
    st2 = return_status(expected_returns(FACILITIES, MEMBERSHIPS, latest, "2026-09"), RECEIPTS, latest, as_of=AS_OF)
    assert _judged(st2)[0] == ("A", "JX-YB01", "2026-09", LATE, 2, "a09b", 2, 0)


def test_as_of_hides_later_receipts_and_leaves_undue_returns_pending(cal: ReturnsCalendar) -> None:
    exp = expected_returns(FACILITIES, MEMBERSHIPS, cal, "2026-09")
    st = return_status(exp, RECEIPTS, cal, as_of=T(2026, 10, 19, 12, 0))
    assert [(s.expected.facility_id, s.status, s.days_late) for s in st] == [
        ("A", ON_TIME, 0), ("C", PENDING, None), ("D", ON_TIME, 0)]
    facility = {r.key: r for r in rates(st, by="facility", calendar=cal)}
    assert facility["C"].expected == 0 and facility["C"].pending == 1
    assert facility["C"].completeness.status == "undefined" and facility["C"].completeness.percent is None
    assert facility["C"].completeness.meets is None
    # without as_of every unfiled return is missing, with no day count
    st = return_status(exp, [], cal)
    assert [(s.status, s.days_late) for s in st] == [(MISSING, None)] * 3


# --- rates -----------------------------------------------------------------------------------------

def _rate_tuples(rows) -> list[tuple]:
    return [(r.key, r.expected, r.received, r.on_time, r.completeness.percent, r.completeness.meets,
             r.timeliness.percent, r.timeliness.meets) for r in rows]


def test_rates_by_facility_county_alliance(cal: ReturnsCalendar) -> None:
    st = return_status(expected_span(FACILITIES, MEMBERSHIPS, cal, "2026-09"), RECEIPTS, cal, as_of=AS_OF)
    st = [s for s in st if s.expected.period >= "2026-07"]  # Jan–Jun (all missing) left out to keep sums small
    P = Decimal
    assert _rate_tuples(rates(st, by="facility", calendar=cal)) == [
        ("A", 3, 3, 3, P("100.0"), True, P("100.0"), True),
        ("B", 2, 1, 0, P("50.0"), False, P("0.0"), False),
        ("C", 3, 2, 1, P("66.7"), False, P("33.3"), False),    # 2/3, 1/3 half-up
        ("D", 2, 2, 2, P("100.0"), True, P("100.0"), True),
    ]
    assert _rate_tuples(rates(st, by="county", calendar=cal)) == [
        ("白水县", 5, 3, 1, P("60.0"), False, P("20.0"), False),  # B + C
        ("青山县", 5, 5, 5, P("100.0"), True, P("100.0"), True),  # A + D
    ]
    # YGT01: A Jul, C Aug + Sep, D Aug + Sep → 4 of 5 received, 3 on time
    assert _rate_tuples(rates(st, by="alliance", calendar=cal)) == [
        ("YGT01", 5, 4, 3, P("80.0"), False, P("60.0"), False),
        ("ZK01", 3, 3, 3, P("100.0"), True, P("100.0"), True),
    ]
    assert _rate_tuples(rates(st, by="all", calendar=cal)) == [("all", 10, 8, 6, P("80.0"), False, P("60.0"), False)]
    assert _rate_tuples(rates(st, by="all")) == _rate_tuples(rates(st, by="all", calendar=cal))  # shipped settings


def test_threshold_is_judged_before_rounding() -> None:
    from metrics.quality.timeliness import _rate

    r = _rate(2249, 2500, Decimal("0.90"), 1)  # 89.96 % shows as 90.0 but is below 90 %
    assert (r.percent, r.meets) == (Decimal("90.0"), False)
    r = _rate(9, 10, Decimal("0.90"), 1)
    assert (r.percent, r.meets) == (Decimal("90.0"), True)
    assert _rate(0, 0, Decimal("0.90"), 1).status == "undefined"


# --- workbooks -------------------------------------------------------------------------------------

CHASE_ROWS = [
    ["B", "B医院", "白水县", YB01, "2026年08月", "未报", T(2026, 9, 14), None, 26, "李四", "0571-2222", None],
    ["C", "C卫生院", "白水县", JC01, "2026年08月", "未报", T(2026, 9, 14), None, 26, "'=王五", "'+86 571 3333",
     "已报送 1 份，均被退回，请按审核意见修改后重报"],
    ["C", "C卫生院", "白水县", JC01, "2026年09月", "逾期", T(2026, 10, 20), T(2026, 10, 24, 10, 0), 4, "'=王五",
     "'+86 571 3333", None],
]


def _read(path: Path, sheet: str) -> list[list]:
    wb = load_workbook(path)
    try:
        return [list(r) for r in wb[sheet].iter_rows(values_only=True)]
    finally:
        wb.close()


def test_chase_workbook_rows(cal: ReturnsCalendar, tmp_path: Path) -> None:
    st = return_status(expected_span(FACILITIES, MEMBERSHIPS, cal, "2026-09"), RECEIPTS, cal, as_of=AS_OF)
    st = [s for s in st if s.expected.period >= "2026-07"]
    path = write_chase_workbook(chase_selection(st, "2026-09"), "2026-09", tmp_path, calendar=cal, as_of=AS_OF)
    assert path.name == "催报_2026-09.xlsx"
    rows = _read(path, "催报清单")
    assert rows[0] == [c for c, _ in CHASE_COLUMNS]
    assert rows[1:] == CHASE_ROWS  # B's late July return belongs to July's list, not September's
    about = {r[0]: r[1] for r in _read(path, "说明") if r and r[0]}
    assert about["未报"] == 2 and about["逾期"] == 1 and about["数据截至"] == "2026-10-26 18:00"
    assert "2027 年的节假日安排尚未核对" in about["注意"]
    # the same content gives the same bytes
    again = write_chase_workbook(chase_selection(st, "2026-09"), "2026-09", tmp_path / "again.xlsx", calendar=cal,
                                 as_of=AS_OF)
    assert again.read_bytes() == path.read_bytes()


def test_completeness_sheet_rows(cal: ReturnsCalendar) -> None:
    exp = expected_returns(FACILITIES, MEMBERSHIPS, cal, "2026-09")
    st = return_status(exp, RECEIPTS, cal, as_of=T(2026, 10, 19, 12, 0))
    rows = completeness_sheet_rows(st, cal)
    assert len(rows[0]) == len(COMPLETENESS_COLUMNS)
    assert rows == [
        ["机构", "A", "A医院", "青山县", 1, 1, 1, 0, 0, 0, Decimal("100.0"), "是", Decimal("100.0"), "是"],
        ["机构", "C", "C卫生院", "白水县", 0, 0, 0, 0, 0, 1, "无应报", None, "无应报", None],
        ["机构", "D", "D中医院", "青山县", 1, 1, 1, 0, 0, 0, Decimal("100.0"), "是", Decimal("100.0"), "是"],
        ["区县", "白水县", "白水县", None, 0, 0, 0, 0, 0, 1, "无应报", None, "无应报", None],
        ["区县", "青山县", "青山县", None, 2, 2, 2, 0, 0, 0, Decimal("100.0"), "是", Decimal("100.0"), "是"],
        ["医疗联合体", "YGT01", "青山县医共体", None, 1, 1, 1, 0, 0, 1, Decimal("100.0"), "是", Decimal("100.0"), "是"],
        ["医疗联合体", "ZK01", "心血管专科联盟", None, 1, 1, 1, 0, 0, 0, Decimal("100.0"), "是", Decimal("100.0"),
         "是"],
        ["全部", None, "全部", None, 2, 2, 2, 0, 0, 1, Decimal("100.0"), "是", Decimal("100.0"), "是"],
    ]


# --- the warehouse ---------------------------------------------------------------------------------

@pytest.fixture
def con(tmp_path: Path):
    c = connect(tmp_path / "w.duckdb")
    for f in FACILITIES:
        c.execute("INSERT INTO facilities (facility_id, valid_from, valid_to, name, tier, ftype, county, contact_name, "
                  "contact_phone) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                  [f["facility_id"], f["valid_from"], f["valid_to"], f["name"], f["tier"], f["ftype"], f["county"],
                   f["contact_name"], f["contact_phone"]])
    for m in MEMBERSHIPS:
        c.execute("INSERT INTO memberships VALUES (?, ?, ?, ?, ?, ?, ?)",
                  [m["facility_id"], m["org_id"], m["org_name"], m["org_kind"], m["role"], m["valid_from"],
                   m["valid_to"]])
    for r in RECEIPTS:
        c.execute("INSERT INTO submissions (submission_id, sha256, original_name, facility_id, period, template_id, "
                  "received_at, received_source, status, superseded_by) VALUES (?, ?, ?, ?, ?, ?, ?, 'manifest', ?, ?)",
                  [r["submission_id"], r["submission_id"], r["original_name"], r["facility_id"], r["period"],
                   r["template_id"], r["received_at"], r["status"], "a09b" if r["submission_id"] == "a09" else None])
    # unattributed and unknown-template files are not anyone's return
    c.execute("INSERT INTO submissions (submission_id, sha256, original_name, facility_id, period, template_id, "
              "received_at, received_source, status) VALUES ('u', 'u', 'u.xlsx', NULL, '2026-09', NULL, "
              "TIMESTAMP '2026-10-09 09:00:00', 'mtime', 'rejected')")
    yield c
    c.close()


def test_warehouse_statuses_match_the_pure_functions(con: duckdb.DuckDBPyConnection, cal: ReturnsCalendar) -> None:
    inp = read_inputs(con, ("2026-07", "2026-08", "2026-09"))
    assert [r["facility_id"] for r in inp.facilities] == ["A", "B", "C", "D"]
    assert len(inp.receipts) == len(RECEIPTS)
    st = [s for s in span_statuses(con, "2026-09", as_of=AS_OF, calendar=cal) if s.expected.period >= "2026-07"]
    assert _judged(st) == EXPECTED_JUDGED
    grouped = statuses_by_facility(st)
    assert list(grouped) == ["A", "B", "C", "D"] and [s.expected.period for s in grouped["B"]] == ["2026-07", "2026-08"]
    sep = period_statuses(con, "2026-09", as_of=AS_OF, calendar=cal)
    assert [(s.expected.facility_id, s.status) for s in sep] == [("A", ON_TIME), ("C", LATE), ("D", ON_TIME)]
    direct = return_status(expected_for_months(FACILITIES, MEMBERSHIPS, cal, ("2026-09",)), RECEIPTS, cal,
                           as_of=AS_OF)
    assert _judged(sep) == _judged(direct)


def test_chase_report_from_the_warehouse(con: duckdb.DuckDBPyConnection, cal: ReturnsCalendar,
                                         tmp_path: Path) -> None:
    path = write_chase_report(con, "2026-09", tmp_path / "out", as_of=AS_OF, calendar=cal)
    rows = _read(path, "催报清单")[1:]
    # the year to date: A, B and C were expected from January and filed nothing before July
    early = [r for r in rows if r[4] < "2026年07月"]
    assert len(early) == 6 * 3 and {r[5] for r in early} == {"未报"}
    assert [r for r in rows if r[4] >= "2026年07月"] == CHASE_ROWS


def test_completeness_about_rows_state_thresholds(cal: ReturnsCalendar) -> None:
    about = dict(completeness_about_rows(cal))
    assert about["达标阈值"] == "完整率 ≥ 90%，及时率 ≥ 75%（默认取 WHO 数据质量审查的 90%、75%）；按未四舍五入的比率判定。"
    assert about["统计区间"] == "当年1月至本统计期末" and about["及时率"] == "按时 ÷ 应报。"
