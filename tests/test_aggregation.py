"""Period aggregation in SQL (agg_fields.sql) against an independent plain-Python oracle, on a real DuckDB file."""
from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from metrics.indicators import compute, load_indicators
from metrics.periods import parse_period
from warehouse.compute import aggregate_fields, blocked_fields
from warehouse.db import connect

SUM_FIELDS = ("drug_revenue", "herbal_revenue", "med_revenue", "op_drug_revenue", "oe_visits")
LAST_FIELDS = ("open_beds",)
CATALOG = load_indicators()


def _sub(con: duckdb.DuckDBPyConnection, sid: str, facility: str, month: str, values: dict[str, Any],
         status: str = "accepted", received: str = "2026-10-05 09:00:00") -> None:
    con.execute("INSERT INTO submissions (submission_id, sha256, original_name, facility_id, period, received_at, "
                "received_source, status) VALUES (?, ?, ?, ?, ?, ?, 'manifest', ?)",
                [sid, sid, f"{sid}.xlsx", facility, month, received, status])
    rows = [[sid, f, None if v is None else float(v), None if v is None else str(v), "运营与药品", f"E{i + 6}",
             "blank" if v is None else "ok"] for i, (f, v) in enumerate(values.items())]
    if rows:
        con.executemany("INSERT INTO return_values VALUES (?, ?, ?, ?, ?, ?, ?)", rows)


def _bulk(con: duckdb.DuckDBPyConnection, data: dict[str, dict[str, dict[str, Decimal | None]]]) -> None:
    """Insert data[facility][month][field] as accepted submissions in two statements (fast for Hypothesis)."""
    subs = [(f"{fac}-{m}", fac, m) for fac, by_month in data.items() for m in by_month]
    vals = [(f"{fac}-{m}", f, None if v is None else float(v), None if v is None else str(v), "运营与药品", "E6",
             "blank" if v is None else "ok")
            for fac, by_month in data.items() for m, values in by_month.items() for f, v in values.items()]
    if not subs:
        return
    sub_df = pd.DataFrame(subs, columns=["submission_id", "facility_id", "period"])
    val_df = pd.DataFrame(vals, columns=["submission_id", "field", "value", "raw_text", "sheet", "cell", "status"])
    con.register("sub_df", sub_df)
    con.register("val_df", val_df)
    con.execute("INSERT INTO submissions (submission_id, sha256, original_name, facility_id, period, received_at, "
                "received_source, status) SELECT submission_id, submission_id, submission_id || '.xlsx', "
                "facility_id, period, TIMESTAMP '2026-10-05 09:00:00', 'manifest', 'accepted' FROM sub_df")
    con.execute("INSERT INTO return_values SELECT submission_id, field, value, raw_text, sheet, cell, status "
                "FROM val_df")
    con.unregister("sub_df")
    con.unregister("val_df")


def _reset(con: duckdb.DuckDBPyConnection) -> None:
    for t in ("return_values", "submissions", "baseline_values", "findings"):
        con.execute(f"DELETE FROM {t}")


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    c = connect(tmp_path / "w.duckdb")
    yield c
    c.close()


# ---------------------------------------------------------------------------------------------- oracle

def oracle(months: tuple[str, ...], data: dict[str, dict[str, dict[str, Decimal | None]]],
           require_complete: bool) -> dict[str, dict[str, Decimal | None]]:
    """Plain-Python aggregation: data[facility][month][field]; a month absent from data[facility] = no return."""
    out: dict[str, dict[str, Decimal | None]] = {}
    for fac, by_month in data.items():
        if not by_month:
            continue
        res: dict[str, Decimal | None] = {}
        for f in SUM_FIELDS:
            vals = [by_month[m].get(f) for m in months if m in by_month]
            present = [v for v in vals if v is not None]
            if require_complete:
                complete = all(m in by_month for m in months) and len(present) == len(months)
                res[f] = sum(present, Decimal(0)) if complete else None
            else:
                res[f] = sum(present, Decimal(0)) if present else None
        for f in LAST_FIELDS:
            if require_complete:
                res[f] = by_month[months[-1]].get(f) if months[-1] in by_month else None
            else:
                latest = [by_month[m][f] for m in months if m in by_month and by_month[m].get(f) is not None]
                res[f] = latest[-1] if latest else None
        out[fac] = res
    return out


def oracle_ratio(num: Decimal | None, sub: Decimal | None, den: Decimal | None, scale: int) -> Any:
    """Ratio of aggregated sums, rounded half-up to 2 decimals; 'undefined' / 'missing' as statuses."""
    if num is None or sub is None or den is None:
        return "missing"
    if den == 0:
        return "undefined"
    return ((num - sub) * scale / den).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


amount = st.integers(0, 50_000).map(lambda c: Decimal(c) / 100)     # 万元, 2 decimals
visits = st.one_of(st.integers(0, 2), st.integers(0, 90_000))     # small counts make zero denominators


def blank_or(draw: st.DrawFn, values: st.SearchStrategy[Decimal]) -> Decimal | None:
    """A blank cell about 1 time in 25, so complete quarters and years occur."""
    return None if draw(st.integers(0, 24)) == 0 else draw(values)


@st.composite
def month_data(draw: st.DrawFn) -> dict[str, Decimal | None]:
    d = {f: blank_or(draw, amount) for f in ("drug_revenue", "herbal_revenue", "op_drug_revenue")}
    d["med_revenue"] = blank_or(draw, st.one_of(amount, st.just(Decimal(0))))
    d["oe_visits"] = blank_or(draw, visits.map(Decimal))
    d["open_beds"] = blank_or(draw, st.integers(0, 3).map(lambda b: Decimal(b * 100)))
    return d


@st.composite
def scenario(draw: st.DrawFn) -> tuple[str, dict[str, dict[str, dict[str, Decimal | None]]]]:
    period = draw(st.sampled_from(["2026-07", "2026-Q3", "2026"]))
    months = parse_period(period).months
    data: dict[str, dict[str, dict[str, Decimal | None]]] = {}
    for fac in ("H01", "H02", "H03"):
        # about 19 months in 20 are reported, so complete quarters and years occur often enough
        reported = draw(st.lists(st.integers(0, 19).map(lambda x: x > 0), min_size=len(months),
                                 max_size=len(months)))
        data[fac] = {m: draw(month_data()) for m, r in zip(months, reported) if r}
    return period, data


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sc=scenario(), require_complete=st.booleans())
def test_sql_aggregation_matches_oracle(con: duckdb.DuckDBPyConnection, sc: Any, require_complete: bool) -> None:
    period, data = sc
    _reset(con)
    _bulk(con, data)
    months = parse_period(period).months
    expected = oracle(months, data, require_complete)
    got = aggregate_fields(con, period, require_complete)
    assert set(got) == set(expected)
    for fac in expected:
        assert {f: got[fac][f] for f in SUM_FIELDS + LAST_FIELDS} == expected[fac], fac
        # fields never reported are present in the result and missing
        assert got[fac]["discharges"] is None

    # quarter and year ratios come from aggregated sums, never from monthly ratios
    values = {v.facility_id: v for v in compute(got, {}, {}, CATALOG) if v.indicator == "YP01"}
    visits = {v.facility_id: v for v in compute(got, {}, {}, CATALOG) if v.indicator == "YP02"}
    for fac, agg in expected.items():
        want = oracle_ratio(agg["drug_revenue"], agg["herbal_revenue"], agg["med_revenue"], 100)
        event(f"{parse_period(period).kind} YP01 {want if isinstance(want, str) else 'ok'}")
        assert (values[fac].value if values[fac].status == "ok" else values[fac].status) == want
        want = oracle_ratio(agg["op_drug_revenue"], Decimal(0), agg["oe_visits"], 10000)
        assert (visits[fac].value if visits[fac].status == "ok" else visits[fac].status) == want


def test_quarter_ratio_is_ratio_of_sums_not_mean_of_monthly_ratios(con: duckdb.DuckDBPyConnection) -> None:
    # July 100/200 = 50 %, August 10/100 = 10 %, September 30/100 = 30 %: the mean of monthly ratios is 30 %,
    # the quarter is (100 + 10 + 30) / (200 + 100 + 100) = 140/400 = 35 %.
    for m, (drug, med) in {"2026-07": (100, 200), "2026-08": (10, 100), "2026-09": (30, 100)}.items():
        _sub(con, f"H-{m}", "H", m, {"drug_revenue": drug, "herbal_revenue": 0, "med_revenue": med})
    agg = aggregate_fields(con, "2026-Q3")
    assert (agg["H"]["drug_revenue"], agg["H"]["med_revenue"]) == (Decimal(140), Decimal(400))
    [v] = [x for x in compute(agg, {}, {}, CATALOG) if x.indicator == "YP01"]
    assert v.value == Decimal("35.00")
    monthly_mean = (Decimal(50) + Decimal(10) + Decimal(30)) / 3
    assert v.value != monthly_mean


def test_stock_takes_the_last_month_and_flow_needs_every_month(con: duckdb.DuckDBPyConnection) -> None:
    _sub(con, "a7", "H", "2026-07", {"open_beds": 480, "oe_visits": 1000})
    _sub(con, "a9", "H", "2026-09", {"open_beds": 500, "oe_visits": 1200})
    agg = aggregate_fields(con, "2026-Q3")["H"]
    assert agg["open_beds"] == Decimal(500)          # September's value, not the mean or the sum
    assert agg["oe_visits"] is None                  # August missing → the quarter's flow is missing
    relaxed = aggregate_fields(con, "2026-Q3", require_complete=False)["H"]
    assert relaxed["oe_visits"] == Decimal(2200)
    # without September a complete-period stock is missing; relaxed takes the latest reported month
    _reset(con)
    _sub(con, "a7", "H", "2026-07", {"open_beds": 480})
    assert aggregate_fields(con, "2026-Q3")["H"]["open_beds"] is None
    assert aggregate_fields(con, "2026-Q3", require_complete=False)["H"]["open_beds"] == Decimal(480)


def test_only_current_submissions_count(con: duckdb.DuckDBPyConnection) -> None:
    _sub(con, "old", "H", "2026-09", {"oe_visits": 999}, status="superseded", received="2026-10-01 08:00:00")
    _sub(con, "rej", "H", "2026-09", {"oe_visits": 777}, status="rejected")
    _sub(con, "new", "H", "2026-09", {"oe_visits": 1000}, received="2026-10-02 08:00:00")
    assert aggregate_fields(con, "2026-09")["H"]["oe_visits"] == Decimal(1000)
    # two accepted returns for the same month (e.g. before supersession ran): the latest received wins
    _sub(con, "newer", "H", "2026-09", {"oe_visits": 1100}, received="2026-10-03 08:00:00")
    assert aggregate_fields(con, "2026-09")["H"]["oe_visits"] == Decimal(1100)


def test_sums_are_exact_decimals(con: duckdb.DuckDBPyConnection) -> None:
    for i, m in enumerate(("2026-07", "2026-08", "2026-09")):
        _sub(con, f"s{i}", "H", m, {"drug_revenue": [0.1, 0.2, 12.045][i]})
    assert aggregate_fields(con, "2026-Q3")["H"]["drug_revenue"] == Decimal("12.345")


def test_baseline_fills_months_without_returns_and_returns_win(con: duckdb.DuckDBPyConnection) -> None:
    rows = [("H", m, "oe_visits", v) for m, v in (("2025-07", 900), ("2025-08", 950), ("2025-09", 1000))]
    rows.append(("H", "2025-09", "open_beds", 400))
    con.executemany("INSERT INTO baseline_values (facility_id, period, field, value) VALUES (?, ?, ?, ?)", rows)
    assert aggregate_fields(con, "2025-Q3")["H"]["oe_visits"] == Decimal(2850)
    # a return for September 2025 replaces that month's baseline figures (returns win)
    _sub(con, "r9", "H", "2025-09", {"oe_visits": 1010, "open_beds": 410})
    agg = aggregate_fields(con, "2025-Q3")["H"]
    assert (agg["oe_visits"], agg["open_beds"]) == (Decimal(2860), Decimal(410))


def test_baseline_for_the_whole_period(con: duckdb.DuckDBPyConnection) -> None:
    con.executemany("INSERT INTO baseline_values (facility_id, period, field, value) VALUES (?, ?, ?, ?)",
                    [("H", "2025", "op_drug_revenue", 1400.5), ("H", "2025", "oe_visits", 100000),
                     ("G", "2025", "oe_visits", 5)])
    _sub(con, "g1", "G", "2025-01", {"oe_visits": 7})
    agg = aggregate_fields(con, "2025")
    assert agg["H"]["op_drug_revenue"] == Decimal("1400.5") and agg["H"]["med_revenue"] is None
    # G has a return in 2025, so its annual baseline is not used (returns win); 11 months missing → missing
    assert agg["G"]["oe_visits"] is None


def test_blocked_fields_from_error_findings_on_current_submissions(con: duckdb.DuckDBPyConnection) -> None:
    _sub(con, "a", "H", "2026-08", {"oe_visits": 1})
    _sub(con, "b", "H", "2026-09", {"oe_visits": 1})
    _sub(con, "c", "H", "2026-09", {"oe_visits": 1}, status="superseded")
    findings = [("f1", "a", "error", "oe_visits"), ("f2", "b", "warning", "med_revenue"),
                ("f3", "c", "error", "drug_revenue"), ("f4", "b", "error", None)]
    con.executemany("INSERT INTO findings (finding_id, submission_id, stage, code, severity, field, message_zh) "
                    "VALUES (?, ?, 'validate', 'x', ?, ?, '测试')", findings)
    assert blocked_fields(con, "2026-Q3") == {"H": {"oe_visits"}}
    assert blocked_fields(con, "2026-09") == {}
    assert blocked_fields(con, dt.date(2026, 8, 1).strftime("%Y-%m")) == {"H": {"oe_visits"}}
