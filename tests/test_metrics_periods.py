"""Periods: parsing, labels, comparison periods."""
from __future__ import annotations

import datetime as dt

import pytest

from metrics.periods import (Period, PeriodError, parse_period, period_end_month, previous_period,
                             same_period_last_year)


@pytest.mark.parametrize("text, kind, months, label", [
    ("2026-09", "month", ("2026-09",), "2026年09月"),
    ("2026-Q1", "quarter", ("2026-01", "2026-02", "2026-03"), "2026年第1季度"),
    ("2026-Q4", "quarter", ("2026-10", "2026-11", "2026-12"), "2026年第4季度"),
    ("2026", "year", tuple(f"2026-{m:02d}" for m in range(1, 13)), "2026年"),
])
def test_parse(text: str, kind: str, months: tuple[str, ...], label: str) -> None:
    p = parse_period(text)
    assert (p.kind, p.code, p.months, p.label) == (kind, text, months, label)
    assert parse_period(p) is p


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2026-Q5", "2026-9", "26", "2026年09月", "", "2026-Q0"])
def test_parse_rejects(text: str) -> None:
    with pytest.raises(PeriodError):
        parse_period(text)


@pytest.mark.parametrize("text, last_year, previous", [
    ("2026-09", "2025-09", "2026-08"),
    ("2026-01", "2025-01", "2025-12"),
    ("2026-Q3", "2025-Q3", "2026-Q2"),
    ("2026-Q1", "2025-Q1", "2025-Q4"),
    ("2026", "2025", "2025"),
])
def test_comparison_periods(text: str, last_year: str, previous: str) -> None:
    assert same_period_last_year(text).code == last_year
    assert previous_period(text).code == previous
    assert isinstance(previous_period(text), Period)


def test_end_month_and_dates() -> None:
    assert period_end_month("2026-Q1") == "2026-03"
    assert period_end_month("2026") == "2026-12"
    assert period_end_month("2024-02") == "2024-02"
    p = parse_period("2024-Q1")
    assert (p.start_date, p.end_date) == (dt.date(2024, 1, 1), dt.date(2024, 3, 31))
    assert parse_period("2024-02").end_date == dt.date(2024, 2, 29)
