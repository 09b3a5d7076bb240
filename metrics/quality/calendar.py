"""Working-day calendar kept as data (metrics/quality/data/workdays_cn.yaml): public holidays and 调休 make-up days."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from metrics.catalog import CatalogError, check_keys, load_yaml

DATA_DIR = Path(__file__).with_name("data")
DEFAULT_WORKDAYS = DATA_DIR / "workdays_cn.yaml"
YEAR_STATUSES = ("verified", "provisional")
_MAX_SPAN_DAYS = 400  # a holiday range longer than this is a typo, not a holiday


class CalendarError(ValueError):
    """A date the working-day calendar does not cover, or a malformed calendar file."""


@dataclass(frozen=True)
class CalendarYear:
    """One year's arrangement: its status (verified / provisional) and the notice it was copied from."""

    year: int
    status: str
    notice_zh: str


@dataclass(frozen=True)
class WorkCalendar:
    """Days off and make-up working days of the covered years; Monday–Friday otherwise work, weekends not."""

    name: str
    source_zh: str
    years: dict[int, CalendarYear]
    holidays: frozenset[dt.date]
    workdays: frozenset[dt.date]

    def covers(self, day: dt.date) -> bool:
        """True when the day's year is listed in the calendar file."""
        return day.year in self.years

    def _check(self, day: dt.date) -> None:
        if day.year not in self.years:
            listed = "、".join(str(y) for y in sorted(self.years))
            raise CalendarError(f"工作日历未包含 {day.year} 年的节假日安排（已有：{listed}）："
                                f"请按国务院办公厅当年通知补充 metrics/quality/data/workdays_cn.yaml")

    def is_working_day(self, day: dt.date) -> bool:
        """Whether `day` is a working day: a make-up day works, a holiday does not, else Monday–Friday."""
        self._check(day)
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5

    def add_working_days(self, start: dt.date, n: int) -> dt.date:
        """The n-th working day after `start` (start itself not counted; n = 0 gives start)."""
        if n < 0:
            raise ValueError("n must be ≥ 0")
        day, left = start, n
        while left:
            day += dt.timedelta(days=1)
            if self.is_working_day(day):
                left -= 1
        return day

    def next_working_day(self, day: dt.date) -> dt.date:
        """`day` itself when it is a working day, else the first working day after it."""
        while not self.is_working_day(day):
            day += dt.timedelta(days=1)
        return day

    def working_days_between(self, after: dt.date, until: dt.date) -> int:
        """Working days d with after < d ≤ until (0 when until ≤ after)."""
        n, day = 0, after
        while day < until:
            day += dt.timedelta(days=1)
            if self.is_working_day(day):
                n += 1
        return n

    def provisional_years(self) -> tuple[int, ...]:
        """Years whose arrangement is provisional ([K] to verify against the year's notice)."""
        return tuple(sorted(y for y, info in self.years.items() if info.status == "provisional"))


def _date(v: Any, where: str) -> dt.date:
    if isinstance(v, dt.datetime) or not isinstance(v, dt.date):
        raise CatalogError(f"{where}: expected a date YYYY-MM-DD, got {v!r}")
    return v


def _days(items: Any, year: int, where: str) -> set[dt.date]:
    """Dates from a list of dates and [first, last] ranges (inclusive), all inside `year`."""
    if not isinstance(items, list):
        raise CatalogError(f"{where}: expected a list of dates or [first, last] ranges")
    out: set[dt.date] = set()
    for i, item in enumerate(items):
        w = f"{where}[{i}]"
        if isinstance(item, list):
            if len(item) != 2:
                raise CatalogError(f"{w}: a range is [first, last]")
            a, b = _date(item[0], w), _date(item[1], w)
            if b < a or (b - a).days > _MAX_SPAN_DAYS:
                raise CatalogError(f"{w}: bad range {a}–{b}")
            out.update(a + dt.timedelta(days=k) for k in range((b - a).days + 1))
        else:
            out.add(_date(item, w))
    for d in out:
        if d.year != year:
            raise CatalogError(f"{where}: {d} is not in {year}")
    return out


def load_work_calendar(path: Path | str | None = None) -> WorkCalendar:
    """Read a working-day calendar file (default workdays_cn.yaml); rejects unknown keys naming file and key."""
    path = Path(path or DEFAULT_WORKDAYS)
    return _load(path.resolve())


@lru_cache(maxsize=8)
def _load(path: Path) -> WorkCalendar:
    where = str(path)
    doc = load_yaml(path)
    check_keys(doc, {"name", "source_zh", "years"}, {"name", "source_zh", "years"}, where)
    if not isinstance(doc["years"], dict) or not doc["years"]:
        raise CatalogError(f"{where}: years: expected a mapping of year → arrangement")
    years: dict[int, CalendarYear] = {}
    holidays: set[dt.date] = set()
    workdays: set[dt.date] = set()
    for y, spec in doc["years"].items():
        w = f"{where}: years.{y}"
        if not isinstance(y, int) or not 1990 <= y <= 2100:
            raise CatalogError(f"{w}: expected a year like 2026")
        check_keys(spec, {"status", "notice_zh", "holidays", "workdays"},
                   {"status", "notice_zh", "holidays", "workdays"}, w)
        if spec["status"] not in YEAR_STATUSES:
            raise CatalogError(f"{w}.status: expected one of {', '.join(YEAR_STATUSES)}, got {spec['status']!r}")
        off = _days(spec["holidays"], y, f"{w}.holidays")
        on = _days(spec["workdays"], y, f"{w}.workdays")
        if off & on:
            raise CatalogError(f"{w}: {min(off & on)} is both a holiday and a make-up working day")
        weekday_makeup = sorted(d for d in on if d.weekday() < 5)
        if weekday_makeup:
            raise CatalogError(f"{w}.workdays: {weekday_makeup[0]} is a weekday (list only weekend make-up days)")
        years[y] = CalendarYear(y, spec["status"], str(spec["notice_zh"]))
        holidays |= off
        workdays |= on
    return WorkCalendar(str(doc["name"]), str(doc["source_zh"]), years, frozenset(holidays), frozenset(workdays))


def is_working_day(day: dt.date, calendar: WorkCalendar | None = None) -> bool:
    """Whether `day` is a working day under `calendar` (default: the Chinese national calendar file)."""
    return (calendar or load_work_calendar()).is_working_day(day)


def add_working_days(start: dt.date, n: int, calendar: WorkCalendar | None = None) -> dt.date:
    """The n-th working day after `start` under `calendar` (default: the Chinese national calendar file)."""
    return (calendar or load_work_calendar()).add_working_days(start, n)
