"""Completeness and timeliness from the warehouse: registry rows, memberships and receipts → plain data."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from metrics.periods import Period, parse_period
from metrics.quality.timeliness import (
    ReturnsCalendar, ReturnStatus, expected_for_months, load_returns_calendar, return_status,
)
from warehouse.db import sql_text


@dataclass(frozen=True)
class TimelinessInputs:
    """Everything the pure functions need for some months: registry rows, memberships, receipts."""

    months: tuple[str, ...]
    facilities: list[dict[str, Any]]
    memberships: list[dict[str, Any]]
    receipts: list[dict[str, Any]]


def returns_calendar(path: Path | str | None = None) -> ReturnsCalendar:
    """The returns calendar (metrics/quality/data/returns_calendar.yaml) against the published layouts."""
    from templates_xlsx.layout import load_layouts

    return load_returns_calendar(load_layouts(), path)


def _rows(con: duckdb.DuckDBPyConnection, name: str, **params: Any) -> list[dict[str, Any]]:
    cur = con.execute(sql_text(name), params)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def _month_start(month: str) -> dt.date:
    return dt.date(int(month[:4]), int(month[5:7]), 1)


def read_inputs(con: duckdb.DuckDBPyConnection, months: tuple[str, ...] | list[str]) -> TimelinessInputs:
    """Registry rows and memberships overlapping the months, and every receipt for them (from the start of the
    first month's quarter, so a quarterly return filed under an earlier month of its quarter is found)."""
    months = tuple(sorted(months))
    if not months:
        raise ValueError("months must not be empty")
    first_q = int(months[0][5:7]) - (int(months[0][5:7]) - 1) % 3
    first_month = f"{months[0][:4]}-{first_q:02d}"
    span_start = _month_start(first_month)
    last = parse_period(months[-1])
    span_end = last.end_date + dt.timedelta(days=1)
    return TimelinessInputs(
        months=months,
        facilities=_rows(con, "tl_facilities", span_start=span_start, span_end=span_end),
        memberships=_rows(con, "tl_memberships", span_start=span_start, span_end=span_end),
        receipts=_rows(con, "tl_receipts", first_month=first_month, last_month=months[-1]),
    )


def statuses_for_months(con: duckdb.DuckDBPyConnection, months: tuple[str, ...] | list[str], *,
                        as_of: dt.datetime | None = None,
                        calendar: ReturnsCalendar | None = None) -> list[ReturnStatus]:
    """Every return expected for reporting periods ending within `months`, judged from its receipts."""
    cal = calendar or returns_calendar()
    inp = read_inputs(con, months)
    expected = expected_for_months(inp.facilities, inp.memberships, cal, inp.months)
    return return_status(expected, inp.receipts, cal, as_of=as_of)


def period_statuses(con: duckdb.DuckDBPyConnection, period: str | Period, *, as_of: dt.datetime | None = None,
                    calendar: ReturnsCalendar | None = None) -> list[ReturnStatus]:
    """The returns owed for `period` itself (a month: its monthly returns and any quarter ending with it)."""
    return statuses_for_months(con, parse_period(period).months, as_of=as_of, calendar=calendar)


def span_statuses(con: duckdb.DuckDBPyConnection, period: str | Period, *, as_of: dt.datetime | None = None,
                  calendar: ReturnsCalendar | None = None) -> list[ReturnStatus]:
    """The returns owed over the rate span of `period` (by default the year to date)."""
    cal = calendar or returns_calendar()
    return statuses_for_months(con, cal.span_months(period), as_of=as_of, calendar=cal)
