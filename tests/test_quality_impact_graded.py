"""Outlier impact under a standardised scheme: the facility's composite with the outlier replaced, measured by
re-grading its peer group in memory, equals what the warehouse's own scoring gives once the value is replaced."""
from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from metrics.grading.scheme import load_assessment
from warehouse.compute import compute_period, score_period
from warehouse.db import connect
from warehouse.outliers import detect_period, impact_period

from test_grading_warehouse import MONTH, PERIOD

DRUG = {f"G{i:02d}": 300 + 10 * i for i in range(10)}
SLIP = "G09"          # drug revenue typed in 元: 3,900,000 instead of 390 (万元)
T = dt.datetime(2026, 10, 12, 9, 0)


def _scheme():
    std = load_assessment("2026_std")  # eligibility relaxed: these returns carry the operations group only
    return dataclasses.replace(std, method=dataclasses.replace(
        std.method, eligibility=dataclasses.replace(std.method.eligibility, min_groups=1, min_indicators=1)))


@pytest.fixture
def con(tmp_path: Path):
    c = connect(tmp_path / "w.duckdb")
    for fid, drug in DRUG.items():
        c.execute("INSERT INTO facilities (facility_id, valid_from, name, tier, ftype) VALUES (?, DATE '2020-01-01', "
                  "?, '三级', '综合')", [fid, f"{fid}医院"])
        sid = f"{fid}-a"
        c.execute("INSERT INTO submissions (submission_id, sha256, original_name, facility_id, period, template_id, "
                  "received_at, received_source, status, parsed) VALUES (?, ?, ?, ?, ?, 'JX-YB01', ?, 'manifest', "
                  "'accepted', TRUE)", [sid, sid, f"{sid}.xlsx", fid, PERIOD, T])
        value = drug * 10000 if fid == SLIP else drug
        c.executemany("INSERT INTO return_values VALUES (?, ?, ?, ?, '运营与药品', 'E6', 'ok')",
                      [[sid, f, v, str(v)] for f, v in (MONTH | {"drug_revenue": value}).items()])
    yield c
    c.close()


def test_graded_impact_equals_rescoring_with_the_value_replaced(con):
    scheme = _scheme()
    compute_period(con, PERIOD, scheme)
    score_period(con, PERIOD, scheme)
    outliers = detect_period(con, PERIOD)
    slip = next(o for o in outliers if o.facility_id == SLIP and o.field == "drug_revenue" and o.method == "magnitude")
    assert slip.suggested == 390 and slip.replacement == 390
    ranked = dict((id(o), imp) for o, imp in impact_period(con, PERIOD, outliers, scheme))
    imp = ranked[id(slip)]
    assert imp.scored and "YP01" in imp.changed
    before = con.execute("SELECT composite, rank FROM composites WHERE facility_id = ? AND scheme_version = ?",
                         [SLIP, scheme.version]).fetchone()
    assert (imp.composite, imp.rank) == before
    # the oracle: replace the value in the warehouse and score the period again
    con.execute("UPDATE return_values SET value = 390 WHERE submission_id = ? AND field = 'drug_revenue'",
                [f"{SLIP}-a"])
    compute_period(con, PERIOD, scheme)
    score_period(con, PERIOD, scheme)
    after = con.execute("SELECT composite FROM composites WHERE facility_id = ? AND scheme_version = ?",
                        [SLIP, scheme.version]).fetchone()[0]
    assert imp.composite_new == after and imp.delta == after - before[0] and imp.delta > Decimal(0)
