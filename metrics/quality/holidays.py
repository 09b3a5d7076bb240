"""Holiday-shifted months: which month last year a month compares with when 春节 moved between January and February."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from metrics.catalog import CatalogError, check_keys, load_yaml
from metrics.periods import MONTH, parse_period

HOLIDAYS_FILE = Path(__file__).with_name("data") / "holidays.yaml"
_FESTIVAL_MONTHS = (1, 2)


@dataclass(frozen=True)
class HolidayCalendar:
    spring_festival: dict[int, dt.date]

    def festival_month(self, year: int) -> int | None:
        """The month (1 or 2) of the year's 春节, None when the year is not in the calendar."""
        d = self.spring_festival.get(year)
        return None if d is None else d.month

    def shifted(self, year: int) -> bool:
        """True when 春节 falls in a different month than the year before (January ↔ February)."""
        a, b = self.festival_month(year), self.festival_month(year - 1)
        return a is not None and b is not None and a != b

    def shifted_months(self, year: int) -> dict[str, str]:
        """{month of `year` → the month of year−1 it compares with}, only for shifted months (else empty)."""
        if not self.shifted(year):
            return {}
        # the festival month compares with last year's festival month, the other month with last year's other
        this, last = self.festival_month(year), self.festival_month(year - 1)
        assert this is not None and last is not None
        return {f"{year:04d}-{this:02d}": f"{year - 1:04d}-{last:02d}",
                f"{year:04d}-{last:02d}": f"{year - 1:04d}-{this:02d}"}

    def comparison_month(self, month: str) -> tuple[str, bool]:
        """(the calendar-adjusted month last year that `month` compares with, whether it was adjusted)."""
        p = parse_period(month)
        if p.kind != MONTH:
            raise ValueError(f"comparison_month: expected a month YYYY-MM, got {month!r}")
        adjusted = self.shifted_months(p.year).get(p.code)
        if adjusted is not None:
            return adjusted, True
        return f"{p.year - 1:04d}-{p.code[5:7]}", False


@lru_cache(maxsize=4)
def load_holidays(path: Path | None = None) -> HolidayCalendar:
    """The 春节 calendar from holidays.yaml; rejects unknown keys and dates outside January/February."""
    path = Path(path or HOLIDAYS_FILE)
    doc = load_yaml(path)
    check_keys(doc, {"spring_festival"}, {"spring_festival"}, str(path))
    raw = doc["spring_festival"]
    if not isinstance(raw, dict) or not raw:
        raise CatalogError(f"{path}: spring_festival: expected a mapping year → date")
    out: dict[int, dt.date] = {}
    for year, d in raw.items():
        where = f"{path}: spring_festival.{year}"
        if not isinstance(year, int) or not isinstance(d, dt.date) or isinstance(d, dt.datetime):
            raise CatalogError(f"{where}: expected `YYYY: YYYY-MM-DD`, got {d!r}")
        if d.year != year or d.month not in _FESTIVAL_MONTHS:
            raise CatalogError(f"{where}: {d} must fall in January or February of {year}")
        out[year] = d
    return HolidayCalendar(dict(sorted(out.items())))
