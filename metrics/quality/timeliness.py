"""Expected returns, their completeness and timeliness, and rates per facility, county and alliance (pure).

Rules (the data behind them is metrics/quality/data/returns_calendar.yaml):
- A template is expected from a facility for a reporting period (a month, or a quarter for a quarterly template)
  when the template's calendar says so (`expected: layout`: the layout's applies_to tiers/types, judged on the
  facility's registry row valid on the period's last day), a template version accepts the period, and the facility
  was open for the whole period (`expected_when_open: whole_period`; its effective-dated rows together cover the first
  to the last day) — or, with `any_part`, for any day of it.
- The deadline is `due_working_days` working days after the period's last day (holidays and 调休 make-up days from
  the working-day calendar). A return is on time when the receipt used was received on or before the deadline day.
- The receipt used is the first one that was not rejected (`first_received`: a resubmission after the deadline of a
  return first filed on time stays on time) or the newest one not rejected (`latest`). Only rejected receipts =
  missing. With `as_of`, receipts after it are ignored and an unfiled return whose deadline has not passed is
  `pending` (left out of every rate).
- Days late are working days after the deadline up to the receipt (a receipt on a day off counts from the next
  working day); for a missing return, up to `as_of`.
- Completeness = received / expected; timeliness = on time / expected (or / received, per the calendar file).
  Nothing expected → "undefined", never 0. Alliance membership counts for any part of the period (a member counts
  from its joining month, as in the alliance stage).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

from metrics.catalog import CatalogError, check_keys, load_yaml, number
from metrics.periods import MONTH, QUARTER, Period, parse_period
from metrics.quality.calendar import DATA_DIR, WorkCalendar, load_work_calendar

DEFAULT_RETURNS_CALENDAR = DATA_DIR / "returns_calendar.yaml"

FREQUENCIES = ("monthly", "quarterly")
EXPECTED_MODES = ("layout", "optional")
BASES = ("first_received", "latest")
SPANS = ("year_to_date", "period")
OPEN_RULES = ("whole_period", "any_part")
TIMELINESS_DENOMINATORS = ("expected", "received")
LEVELS = ("facility", "county", "alliance", "all")

ON_TIME, LATE, MISSING, PENDING = "on_time", "late", "missing", "pending"
STATUS_ZH = {ON_TIME: "按时", LATE: "逾期", MISSING: "未报", PENDING: "未到截止日"}
BASIS_ZH = {"first_received": "首次报送（未被退回）的接收时间", "latest": "最新版本的接收时间"}
REJECTED = "rejected"
CURRENT_STATUSES = ("received", "accepted", "held")  # a version that has not been superseded
NO_COUNTY = "（未填区县）"

_TEMPLATE_KEYS = {"frequency", "due_working_days", "expected", "applies_to", "timeliness_basis", "expected_from"}
_TOP_KEYS = {"defaults", "thresholds", "rates", "expected_when_open", "alliance_org_kinds", "workdays", "templates"}


# --- configuration ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class TemplateInfo:
    """What expectation needs from a layout: id, title, form number, applies_to and accepted month windows."""

    template_id: str
    title_zh: str
    form_no: str
    applies_to: Mapping[str, tuple[str, ...]]
    accepted: tuple[tuple[str, str | None], ...]  # (from month, to month or None) per version


def template_info(layout: Any) -> TemplateInfo:
    """A TemplateInfo from a templates_xlsx.layout.Layout (read by attribute, so metrics imports no Excel code)."""
    return TemplateInfo(layout.template_id, layout.title_zh, layout.form_no,
                        {k: tuple(v) for k, v in layout.applies_to.items()},
                        tuple((v.accepted_from, v.accepted_to) for v in layout.versions))


@dataclass(frozen=True)
class TemplateCalendar:
    """One template's reporting calendar: frequency, deadline, who files it, timeliness basis."""

    template_id: str
    title_zh: str
    form_no: str
    frequency: str
    due_working_days: int
    expected: str
    tiers: tuple[str, ...]
    types: tuple[str, ...]
    timeliness_basis: str
    accepted: tuple[tuple[str, str | None], ...]
    expected_from: str | None = None  # first month (YYYY-MM) the bureau collects it; None = whenever accepted

    @property
    def label_zh(self) -> str:
        """'医院运营与药品月报（卫健绩效01表）'."""
        return f"{self.title_zh}（{self.form_no}）"

    def applies(self, facility: Mapping[str, Any]) -> bool:
        """Whether a registry row (tier, ftype) files this template; never for an optional template."""
        if self.expected != "layout":
            return False
        return ((not self.tiers or facility.get("tier") in self.tiers)
                and (not self.types or facility.get("ftype") in self.types))

    def accepts(self, period: Period) -> bool:
        """Whether the return is collected for the period: from expected_from on, and some template version
        accepts it (both judged on the period's last month)."""
        month = period.months[-1]
        if self.expected_from is not None and month < self.expected_from:
            return False
        return any(month >= a and (b is None or month <= b) for a, b in self.accepted)

    def reporting_periods(self, months: Iterable[str]) -> list[Period]:
        """This template's reporting periods that end within `months` (months YYYY-MM), in order."""
        out: list[Period] = []
        for m in months:
            if self.frequency == "monthly":
                out.append(parse_period(m))
            elif int(m[5:7]) % 3 == 0:
                out.append(parse_period(f"{m[:4]}-Q{int(m[5:7]) // 3}"))
        return out

    def period_of_receipt(self, period: str | None) -> str | None:
        """The reporting period a receipt's 统计期 (YYYY-MM, or YYYY-Qn) counts for under this frequency."""
        if not period:
            return None
        try:
            p = parse_period(period)
        except ValueError:
            return None
        if self.frequency == "monthly":
            return p.code if p.kind == MONTH else None
        if p.kind == QUARTER:
            return p.code
        if p.kind == MONTH:
            return f"{p.code[:4]}-Q{(int(p.code[5:7]) + 2) // 3}"
        return None


@dataclass(frozen=True)
class ReturnsCalendar:
    """Every template's calendar, the thresholds, the rate span and the working-day calendar."""

    templates: dict[str, TemplateCalendar]
    completeness_threshold: Decimal
    timeliness_threshold: Decimal
    span: str
    percent_decimals: int
    timeliness_denominator: str
    expected_when_open: str
    alliance_org_kinds: tuple[str, ...]
    workdays: WorkCalendar
    source: str = ""

    def deadline(self, template_id: str, period: Period) -> dt.date:
        """The last day a return of the template for the period is on time."""
        return self.workdays.add_working_days(period.end_date, self.templates[template_id].due_working_days)

    def span_months(self, period: str | Period) -> tuple[str, ...]:
        """The months rates are computed over for `period`: January to its last month, or the period's own."""
        p = parse_period(period)
        if self.span == "period":
            return p.months
        last = int(p.months[-1][5:7])
        return tuple(f"{p.year:04d}-{m:02d}" for m in range(1, last + 1))


def _choice(v: Any, allowed: tuple[str, ...], where: str) -> str:
    if v not in allowed:
        raise CatalogError(f"{where}: expected one of {', '.join(allowed)}, got {v!r}")
    return v


def _texts(v: Any, where: str) -> tuple[str, ...]:
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise CatalogError(f"{where}: expected a list of text")
    return tuple(v)


def _template_settings(spec: Any, where: str) -> dict[str, Any]:
    spec = {} if spec is None else spec
    check_keys(spec, _TEMPLATE_KEYS, set(), where)
    out: dict[str, Any] = {}
    if "frequency" in spec:
        out["frequency"] = _choice(spec["frequency"], FREQUENCIES, f"{where}.frequency")
    if "due_working_days" in spec:
        n = spec["due_working_days"]
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= 60:
            raise CatalogError(f"{where}.due_working_days: expected a whole number 0–60, got {n!r}")
        out["due_working_days"] = n
    if "expected" in spec:
        out["expected"] = _choice(spec["expected"], EXPECTED_MODES, f"{where}.expected")
    if "timeliness_basis" in spec:
        out["timeliness_basis"] = _choice(spec["timeliness_basis"], BASES, f"{where}.timeliness_basis")
    if "expected_from" in spec:
        m = spec["expected_from"]
        try:
            ok = isinstance(m, str) and parse_period(m).kind == MONTH
        except ValueError:
            ok = False
        if not ok:
            raise CatalogError(f"{where}.expected_from: expected a month \"YYYY-MM\", got {m!r}")
        out["expected_from"] = m
    if "applies_to" in spec:
        a = spec["applies_to"]
        check_keys(a, {"tiers", "types"}, set(), f"{where}.applies_to")
        out["applies_to"] = {k: _texts(v, f"{where}.applies_to.{k}") for k, v in a.items()}
    return out


def _fraction(v: Any, where: str) -> Decimal:
    x = number(v, where)
    if not Decimal(0) <= x <= Decimal(1):
        raise CatalogError(f"{where}: expected a share between 0 and 1, got {v!r}")
    return x


def load_returns_calendar(layouts: Mapping[str, Any], path: Path | str | None = None,
                          workdays: WorkCalendar | None = None) -> ReturnsCalendar:
    """Read returns_calendar.yaml against the layouts (template id → Layout or TemplateInfo); names file and key."""
    path = Path(path or DEFAULT_RETURNS_CALENDAR)
    where = str(path)
    doc = load_yaml(path)
    check_keys(doc, _TOP_KEYS, _TOP_KEYS, where)
    defaults = {"frequency": "monthly", "due_working_days": 10, "expected": "layout",
                "timeliness_basis": "first_received"}
    defaults.update(_template_settings(doc["defaults"], f"{where}: defaults"))
    for per_template in ("applies_to", "expected_from"):
        if per_template in defaults:
            raise CatalogError(f"{where}: defaults.{per_template}: set it per template")
    th = doc["thresholds"]
    check_keys(th, {"completeness", "timeliness"}, {"completeness", "timeliness"}, f"{where}: thresholds")
    rates = doc["rates"]
    check_keys(rates, {"span", "percent_decimals", "timeliness_denominator"},
               {"span", "percent_decimals", "timeliness_denominator"}, f"{where}: rates")
    decimals = rates["percent_decimals"]
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= 4:
        raise CatalogError(f"{where}: rates.percent_decimals: expected 0–4, got {decimals!r}")
    infos = {tid: (lay if isinstance(lay, TemplateInfo) else template_info(lay)) for tid, lay in layouts.items()}
    listed = doc["templates"]
    if not isinstance(listed, dict):
        raise CatalogError(f"{where}: templates: expected a mapping of template id → settings")
    unknown = sorted(set(listed) - set(infos))
    if unknown:
        raise CatalogError(f"{where}: templates.{unknown[0]}: no layout has this template_id")
    unlisted = [t for t in infos if t not in listed]
    if unlisted:
        raise CatalogError(f"{where}: templates: {unlisted[0]} has a layout but no entry (list it, "
                           f"with expected: optional if it is never chased)")
    templates: dict[str, TemplateCalendar] = {}
    for tid, info in infos.items():  # layout (form-number) order
        s = dict(defaults)
        s.update(_template_settings(listed[tid], f"{where}: templates.{tid}"))
        applies = s.get("applies_to", info.applies_to)
        templates[tid] = TemplateCalendar(
            tid, info.title_zh, info.form_no, s["frequency"], s["due_working_days"], s["expected"],
            tuple(applies.get("tiers", ())), tuple(applies.get("types", ())), s["timeliness_basis"], info.accepted,
            s.get("expected_from"))
    wd_name = doc["workdays"]
    if not isinstance(wd_name, str) or "/" in wd_name or not wd_name.endswith(".yaml"):
        raise CatalogError(f"{where}: workdays: expected a file name beside this file, got {wd_name!r}")
    return ReturnsCalendar(
        templates=templates,
        completeness_threshold=_fraction(th["completeness"], f"{where}: thresholds.completeness"),
        timeliness_threshold=_fraction(th["timeliness"], f"{where}: thresholds.timeliness"),
        span=_choice(rates["span"], SPANS, f"{where}: rates.span"),
        percent_decimals=decimals,
        timeliness_denominator=_choice(rates["timeliness_denominator"], TIMELINESS_DENOMINATORS,
                                       f"{where}: rates.timeliness_denominator"),
        expected_when_open=_choice(doc["expected_when_open"], OPEN_RULES, f"{where}: expected_when_open"),
        alliance_org_kinds=_texts(doc["alliance_org_kinds"], f"{where}: alliance_org_kinds"),
        workdays=workdays or load_work_calendar(path.parent / wd_name),
        source=path.name,
    )


# --- expected returns ------------------------------------------------------------------------------

@dataclass(frozen=True)
class ExpectedReturn:
    """One return a facility owes: template, reporting period, deadline, and the registry facts to chase it."""

    facility_id: str
    name: str
    county: str | None
    tier: str
    ftype: str
    contact_name: str | None
    contact_phone: str | None
    alliances: tuple[tuple[str, str, str], ...]  # (org_id, org_name, org_kind) during the period
    template_id: str
    template_zh: str      # '医院运营与药品月报（卫健绩效01表）'
    period: str           # reporting period: YYYY-MM, or YYYY-Qn for a quarterly template
    period_label: str     # 2026年09月 / 2026年第3季度
    period_end: dt.date
    deadline: dt.date
    basis: str            # first_received | latest


def _as_date(v: Any) -> dt.date | None:
    if v is None:
        return None
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    if hasattr(v, "to_pydatetime"):  # pandas Timestamp
        return v.to_pydatetime().date()
    return dt.date.fromisoformat(str(v)[:10])


def _overlaps(row: Mapping[str, Any], start: dt.date, end_excl: dt.date) -> bool:
    vf, vt = _as_date(row["valid_from"]), _as_date(row.get("valid_to"))
    return vf < end_excl and (vt is None or vt > start)


def _open_whole(rows: list[Mapping[str, Any]], start: dt.date, end_excl: dt.date) -> bool:
    """Whether the rows' validity intervals together cover [start, end_excl)."""
    cursor = start
    for r in sorted(rows, key=lambda r: _as_date(r["valid_from"])):
        vf, vt = _as_date(r["valid_from"]), _as_date(r.get("valid_to"))
        if vf > cursor:
            return False
        if vt is None:
            return True
        cursor = max(cursor, vt)
        if cursor >= end_excl:
            return True
    return cursor >= end_excl


def _row_for(rows: list[Mapping[str, Any]], end_excl: dt.date) -> Mapping[str, Any]:
    """The row valid on the period's last day, else the latest-starting one (as reg_facilities_for_period)."""
    last = end_excl - dt.timedelta(days=1)
    on_last = [r for r in rows if _as_date(r["valid_from"]) <= last
               and (_as_date(r.get("valid_to")) is None or _as_date(r.get("valid_to")) > last)]
    pool = on_last or rows
    return max(pool, key=lambda r: _as_date(r["valid_from"]))


def expected_returns(facilities: Iterable[Mapping[str, Any]], memberships: Iterable[Mapping[str, Any]],
                     calendar: ReturnsCalendar, period: str | Period) -> list[ExpectedReturn]:
    """Every return owed for reporting periods ending within `period` (a month, quarter or year).

    `facilities` are registry rows (effective-dated, several per facility allowed); `memberships` likewise.
    """
    return expected_for_months(facilities, memberships, calendar, parse_period(period).months)


def expected_span(facilities: Iterable[Mapping[str, Any]], memberships: Iterable[Mapping[str, Any]],
                  calendar: ReturnsCalendar, period: str | Period) -> list[ExpectedReturn]:
    """Every return owed over the rate span of `period` (by default January to the period's last month)."""
    return expected_for_months(facilities, memberships, calendar, calendar.span_months(period))


def expected_for_months(facilities: Iterable[Mapping[str, Any]], memberships: Iterable[Mapping[str, Any]],
                        calendar: ReturnsCalendar, months: Iterable[str]) -> list[ExpectedReturn]:
    """Every return owed for reporting periods ending within `months` (YYYY-MM, in order)."""
    months = tuple(months)
    by_fac: dict[str, list[Mapping[str, Any]]] = {}
    for r in facilities:
        by_fac.setdefault(r["facility_id"], []).append(r)
    mem_by_fac: dict[str, list[Mapping[str, Any]]] = {}
    for m in memberships:
        if m["org_kind"] in calendar.alliance_org_kinds:
            mem_by_fac.setdefault(m["facility_id"], []).append(m)
    out: list[ExpectedReturn] = []
    for tid, tc in calendar.templates.items():
        if tc.expected != "layout":
            continue
        for rp in tc.reporting_periods(months):
            if not tc.accepts(rp):
                continue
            start, end_excl = rp.start_date, rp.end_date + dt.timedelta(days=1)
            deadline = calendar.deadline(tid, rp)
            for fid in sorted(by_fac):
                rows = [r for r in by_fac[fid] if _overlaps(r, start, end_excl)]
                if not rows:
                    continue
                if calendar.expected_when_open == "whole_period" and not _open_whole(rows, start, end_excl):
                    continue
                row = _row_for(rows, end_excl)
                if not tc.applies(row):
                    continue
                alliances = sorted({(m["org_id"], m["org_name"], m["org_kind"]) for m in mem_by_fac.get(fid, ())
                                    if _overlaps(m, start, end_excl)})
                out.append(ExpectedReturn(
                    facility_id=fid, name=row["name"], county=row.get("county"), tier=row["tier"],
                    ftype=row["ftype"], contact_name=row.get("contact_name"), contact_phone=row.get("contact_phone"),
                    alliances=tuple(alliances), template_id=tid, template_zh=tc.label_zh, period=rp.code,
                    period_label=rp.label, period_end=rp.end_date, deadline=deadline,
                    basis=tc.timeliness_basis))
    order = {tid: i for i, tid in enumerate(calendar.templates)}
    out.sort(key=lambda e: (e.facility_id, e.period_end, order[e.template_id]))
    return out


# --- status of each expected return ----------------------------------------------------------------

@dataclass(frozen=True)
class ReturnStatus:
    """An expected return judged: on_time | late | missing | pending, the receipt used and how late."""

    expected: ExpectedReturn
    status: str
    submission_id: str | None
    received_at: dt.datetime | None
    original_name: str | None
    days_late: int | None     # working days after the deadline (missing: up to as_of; None without as_of)
    versions: int             # receipts that were not rejected (the first filing and every resubmission)
    rejected: int             # receipts that were rejected

    @property
    def received(self) -> bool:
        return self.status in (ON_TIME, LATE)

    def as_row(self) -> dict[str, Any]:
        """A flat dict: the expected return's fields and the judgement."""
        e = self.expected
        row = {k: getattr(e, k) for k in e.__dataclass_fields__}
        row.update(status=self.status, status_zh=STATUS_ZH[self.status], submission_id=self.submission_id,
                   received_at=self.received_at, original_name=self.original_name, days_late=self.days_late,
                   versions=self.versions, rejected=self.rejected)
        return row


def _as_datetime(v: Any) -> dt.datetime:
    if isinstance(v, dt.datetime):
        return v
    if hasattr(v, "to_pydatetime"):
        return v.to_pydatetime()
    if isinstance(v, dt.date):
        return dt.datetime(v.year, v.month, v.day)
    return dt.datetime.fromisoformat(str(v))


def return_status(expected: Iterable[ExpectedReturn], receipts: Iterable[Mapping[str, Any]],
                  calendar: ReturnsCalendar, *, as_of: dt.datetime | None = None) -> list[ReturnStatus]:
    """Judge each expected return from the receipts (submissions: facility_id, period, template_id,
    received_at, status, submission_id, original_name); receipts after `as_of` are not yet known."""
    wd = calendar.workdays
    index: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in receipts:
        tc = calendar.templates.get(r.get("template_id") or "")
        fid = r.get("facility_id")
        if tc is None or not fid:
            continue
        rp = tc.period_of_receipt(r.get("period"))
        if rp is None:
            continue
        at = _as_datetime(r["received_at"])
        if as_of is not None and at > as_of:
            continue
        index.setdefault((fid, tc.template_id, rp), []).append({**r, "received_at": at})
    out: list[ReturnStatus] = []
    for e in expected:
        mine = sorted(index.get((e.facility_id, e.template_id, e.period), ()),
                      key=lambda r: (r["received_at"], r.get("submission_id") or ""))
        counted = [r for r in mine if r.get("status") != REJECTED]
        used = None
        if counted:
            if e.basis == "latest":
                current = [r for r in counted if r.get("status") in CURRENT_STATUSES]
                used = (current or counted)[-1]
            else:
                used = counted[0]
        if used is not None:
            day = used["received_at"].date()
            if day <= e.deadline:
                status, late = ON_TIME, 0
            else:
                status, late = LATE, wd.working_days_between(e.deadline, wd.next_working_day(day))
        elif as_of is not None and as_of.date() <= e.deadline:
            status, late = PENDING, None
        else:
            status = MISSING
            late = wd.working_days_between(e.deadline, as_of.date()) if as_of is not None else None
        out.append(ReturnStatus(
            expected=e, status=status, submission_id=used.get("submission_id") if used else None,
            received_at=used["received_at"] if used else None,
            original_name=used.get("original_name") if used else None,
            days_late=late, versions=len(counted), rejected=len(mine) - len(counted)))
    return out


# --- rates -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rate:
    """numerator / denominator as a percentage (half-up), or undefined when nothing is expected."""

    numerator: int
    denominator: int
    percent: Decimal | None
    status: str               # ok | undefined
    threshold: Decimal        # as a share, e.g. 0.90
    meets: bool | None        # exact share ≥ threshold; None when undefined


@dataclass(frozen=True)
class RateRow:
    """Completeness and timeliness of one facility, county, alliance or the whole region."""

    level: str                # facility | county | alliance | all
    key: str
    label: str
    county: str | None
    expected: int
    received: int
    on_time: int
    late: int
    missing: int
    pending: int
    completeness: Rate
    timeliness: Rate


def _rate(num: int, den: int, threshold: Decimal, decimals: int) -> Rate:
    if den == 0:
        return Rate(num, den, None, "undefined", threshold, None)
    pct = (Decimal(num) * 100 / Decimal(den)).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    return Rate(num, den, pct, "ok", threshold, Decimal(num) >= threshold * den)


@dataclass
class _Tally:
    label: str
    county: str | None
    counts: dict[str, int] = field(default_factory=lambda: {ON_TIME: 0, LATE: 0, MISSING: 0, PENDING: 0})


@lru_cache(maxsize=1)
def _default_rate_settings() -> tuple[Decimal, Decimal, int, str]:
    """Thresholds, percent decimals and timeliness denominator of the shipped returns_calendar.yaml."""
    path = DEFAULT_RETURNS_CALENDAR
    doc = load_yaml(path)
    th, r = doc["thresholds"], doc["rates"]
    return (_fraction(th["completeness"], f"{path}: thresholds.completeness"),
            _fraction(th["timeliness"], f"{path}: thresholds.timeliness"), int(r["percent_decimals"]),
            _choice(r["timeliness_denominator"], TIMELINESS_DENOMINATORS, f"{path}: rates.timeliness_denominator"))


def rates(statuses: Iterable[ReturnStatus], by: str = "facility",
          calendar: ReturnsCalendar | None = None) -> list[RateRow]:
    """Completeness and timeliness per facility, county, alliance or for all (`by`), sorted by key.

    `calendar` gives thresholds, percent decimals and the timeliness denominator (default: those of the shipped
    returns_calendar.yaml)."""
    if by not in LEVELS:
        raise ValueError(f"by must be one of {', '.join(LEVELS)}, got {by!r}")
    if calendar is None:
        completeness_t, timeliness_t, decimals, t_den = _default_rate_settings()
    else:
        completeness_t, timeliness_t = calendar.completeness_threshold, calendar.timeliness_threshold
        decimals, t_den = calendar.percent_decimals, calendar.timeliness_denominator
    groups: dict[str, _Tally] = {}
    for s in statuses:
        e = s.expected
        if by == "facility":
            keys = [(e.facility_id, e.name, e.county)]
        elif by == "county":
            keys = [(e.county or NO_COUNTY, e.county or NO_COUNTY, e.county)]
        elif by == "alliance":
            keys = [(org_id, org_name, None) for org_id, org_name, _ in e.alliances]
        else:
            keys = [("all", "全部", None)]
        for key, label, county in keys:
            t = groups.setdefault(key, _Tally(label, county))
            t.label, t.county = label, county  # the latest period's name wins (facility rows are in period order)
            t.counts[s.status] += 1
    out = []
    for key in sorted(groups):
        t = groups[key]
        c = t.counts
        expected = c[ON_TIME] + c[LATE] + c[MISSING]
        received = c[ON_TIME] + c[LATE]
        out.append(RateRow(
            level=by, key=key, label=t.label, county=t.county, expected=expected, received=received,
            on_time=c[ON_TIME], late=c[LATE], missing=c[MISSING], pending=c[PENDING],
            completeness=_rate(received, expected, completeness_t, decimals),
            timeliness=_rate(c[ON_TIME], expected if t_den == "expected" else received, timeliness_t, decimals)))
    return out


def statuses_by_facility(statuses: Iterable[ReturnStatus]) -> dict[str, list[ReturnStatus]]:
    """Judged returns grouped by facility id (facilities in id order, each facility's returns in input order)."""
    out: dict[str, list[ReturnStatus]] = {}
    for s in sorted(statuses, key=lambda s: s.expected.facility_id):
        out.setdefault(s.expected.facility_id, []).append(s)
    return out
