"""Reporting periods: month `YYYY-MM`, quarter `YYYY-Qn`, year `YYYY`, and the periods they compare with."""
from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

MONTH, QUARTER, YEAR = "month", "quarter", "year"

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
_YEAR = re.compile(r"^(\d{4})$")


class PeriodError(ValueError):
    """A period text is not YYYY-MM, YYYY-Qn or YYYY."""


@dataclass(frozen=True)
class Period:
    kind: str                 # month | quarter | year
    code: str                 # canonical text: 2026-09, 2026-Q3, 2026
    months: tuple[str, ...]   # the calendar months covered, YYYY-MM, in order
    label: str                # Chinese label: 2026年09月, 2026年第3季度, 2026年

    @property
    def year(self) -> int:
        return int(self.code[:4])

    @property
    def start_date(self) -> dt.date:
        y, m = (int(x) for x in self.months[0].split("-"))
        return dt.date(y, m, 1)

    @property
    def end_date(self) -> dt.date:
        y, m = (int(x) for x in self.months[-1].split("-"))
        return dt.date(y, m, calendar.monthrange(y, m)[1])

    def __str__(self) -> str:
        return self.code


def _month(year: int, month: int) -> Period:
    code = f"{year:04d}-{month:02d}"
    return Period(MONTH, code, (code,), f"{year:04d}年{month:02d}月")


def _quarter(year: int, q: int) -> Period:
    months = tuple(f"{year:04d}-{m:02d}" for m in range(3 * q - 2, 3 * q + 1))
    return Period(QUARTER, f"{year:04d}-Q{q}", months, f"{year:04d}年第{q}季度")


def _year(year: int) -> Period:
    months = tuple(f"{year:04d}-{m:02d}" for m in range(1, 13))
    return Period(YEAR, f"{year:04d}", months, f"{year:04d}年")


def parse_period(text: str | Period) -> Period:
    """Parse "YYYY-MM", "YYYY-Qn" or "YYYY" into a Period."""
    if isinstance(text, Period):
        return text
    s = str(text).strip()
    if m := _MONTH.match(s):
        return _month(int(m[1]), int(m[2]))
    if m := _QUARTER.match(s):
        return _quarter(int(m[1]), int(m[2]))
    if m := _YEAR.match(s):
        return _year(int(m[1]))
    raise PeriodError(f"统计期「{s}」无法识别：应为 YYYY-MM、YYYY-Qn 或 YYYY")


def same_period_last_year(p: str | Period) -> Period:
    """The same month, quarter or year one year earlier (the base of a growth indicator)."""
    p = parse_period(p)
    if p.kind == MONTH:
        return _month(p.year - 1, int(p.code[5:7]))
    if p.kind == QUARTER:
        return _quarter(p.year - 1, int(p.code[-1]))
    return _year(p.year - 1)


def previous_period(p: str | Period) -> Period:
    """The period just before: previous month, previous quarter or previous year."""
    p = parse_period(p)
    if p.kind == MONTH:
        y, m = p.year, int(p.code[5:7])
        return _month(y - 1, 12) if m == 1 else _month(y, m - 1)
    if p.kind == QUARTER:
        q = int(p.code[-1])
        return _quarter(p.year - 1, 4) if q == 1 else _quarter(p.year, q - 1)
    return _year(p.year - 1)


def period_end_month(p: str | Period) -> str:
    """The last month (YYYY-MM) of the period: where stock fields are read."""
    return parse_period(p).months[-1]
