"""warehouse.satisfaction on a real DuckDB file: window, source precedence, suppression, indicator rows."""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from metrics.indicators import load_indicators
from warehouse.db import connect
from warehouse.satisfaction import satisfaction_values, scoring_window
from metrics.satisfaction.questionnaire import load_settings

# a satisfied outpatient: every 1–5 item 4 (75 points) except the reverse-coded q02 answered 2 ((5 − 2) × 25 = 75)
# and the 0–10 item q11 answered 8 (80 points)
GOOD = {f"q{i:02d}": 4 for i in range(1, 11)} | {"q02": 2, "q11": 8}


def _sub(con: duckdb.DuckDBPyConnection, sid: str, fid: str, month: str, template: str) -> None:
    con.execute("INSERT INTO submissions (submission_id, sha256, original_name, facility_id, period, template_id, "
                "received_at, received_source, status) VALUES (?, ?, ?, ?, ?, ?, TIMESTAMP '2026-11-03 09:00:00', "
                "'manifest', 'accepted')", [sid, sid, f"{sid}.xlsx", fid, month, template])


def _questionnaire(con: duckdb.DuckDBPyConnection, sid: str, tbl: str, row: int, rid: str, date: str,
                   answers: dict[str, float | None]) -> None:
    cells = [("respondent_id", None, rid), ("survey_date", None, date), ("mode", None, "现场")]
    cells += [(k, v, None) for k, v in answers.items()]
    con.executemany("INSERT INTO return_rows VALUES (?, ?, ?, ?, ?, ?, ?, '门诊患者', ?, ?)",
                    [[sid, tbl, row, f, v, t, t if t is not None else (None if v is None else str(v)), f"B{row}",
                      "ok" if v is not None or t is not None else "blank"] for f, v, t in cells])


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    c = connect(tmp_path / "w.duckdb")
    # A: six identical satisfied outpatients in Sep–Oct, one incomplete questionnaire, and one July
    #    questionnaire outside the rolling quarter Aug–Oct;  B: no survey rows, a platform figure;
    #    C: a survey (6 questionnaires) AND a platform figure — precedence `platform` picks the platform
    _sub(c, "A-09", "A", "2026-09", "JX-MY01")
    _sub(c, "A-10", "A", "2026-10", "JX-MY01")
    _sub(c, "A-07", "A", "2026-07", "JX-MY01")
    for k in range(3):
        _questionnaire(c, "A-09", "op", 4 + k, f"S{k}", "2026-09-10", GOOD)
        _questionnaire(c, "A-10", "op", 4 + k, f"S{k}", "2026-10-10", GOOD)
    _questionnaire(c, "A-10", "op", 7, "S9", "2026-10-11", {"q01": 5} | {f"q{i:02d}": None for i in range(2, 12)})
    _questionnaire(c, "A-07", "op", 4, "S0", "2026-07-10", {f"q{i:02d}": 1 for i in range(1, 12)})
    _sub(c, "C-10", "C", "2026-10", "JX-MY01")
    for k in range(6):
        _questionnaire(c, "C-10", "op", 4 + k, f"S{k}", "2026-10-10", GOOD)
    for sid, fid, month, score, n in (("B-P", "B", "2026-09", 88.5, 150), ("C-P", "C", "2026-10", 91.25, 120)):
        _sub(c, sid, fid, month, "JX-MY02")
        c.executemany("INSERT INTO return_values VALUES (?, ?, ?, ?, '满意度平台数据', 'E6', 'ok')",
                      [[sid, "sat_plat_op_score", score, str(score)], [sid, "sat_plat_op_n", n, str(n)]])
    yield c
    c.close()


def test_window_of_a_month_quarter_and_year() -> None:
    s = load_settings()
    assert scoring_window("2026-10", s) == ["2026-08", "2026-09", "2026-10"]
    assert scoring_window("2026-Q3", s) == ["2026-07", "2026-08", "2026-09"]
    assert scoring_window("2026", s)[0] == "2026-01" and len(scoring_window("2026", s)) == 12


def test_scores_sources_and_indicator_rows(con: duckdb.DuckDBPyConnection) -> None:
    catalog = load_indicators()
    values = satisfaction_values(con, "2026-10", ["A", "B", "C", "D"], {f: "三级综合" for f in "ABCD"}, catalog)
    by = {(v.facility_id, v.indicator): v for v in values}
    # A: 6 valid questionnaires (the July one is outside the window, the 7th is incomplete: 10 of 11 blank);
    # dimensions reg/comm/resp/priv/env = 75, overall = 80 → index (5 × 75 + 80) / 6 = 75.8333… → 75.83;
    # 6 < 100 valid → small_sample (value kept, 仅供参考), 6 ≥ 5 → not suppressed
    a = by[("A", "MY01")]
    assert (a.value, a.status, a.denominator) == (Decimal("75.83"), "small_sample", Decimal(6))
    row = con.execute("SELECT source, score, n, status, survey_n_received, survey_n_valid, survey_n_incomplete, "
                      "ci_low, ci_high, window_from, window_to FROM satisfaction_scores "
                      "WHERE facility_id = 'A' AND survey = 'op'").fetchone()
    assert row == ("survey", Decimal("75.8300"), 6, "small_sample", 7, 6, 1, Decimal("75.8300"),
                   Decimal("75.8300"), "2026-08", "2026-10")
    dims = dict(con.execute("SELECT dimension, mean FROM satisfaction_dimensions WHERE facility_id = 'A' "
                            "AND survey = 'op'").fetchall())
    assert dims == {"reg": Decimal("75.0000"), "comm": Decimal("75.0000"), "resp": Decimal("75.0000"),
                    "priv": Decimal("75.0000"), "env": Decimal("75.0000"), "overall": Decimal("80.0000")}
    # B: platform only (n 150 ≥ 100) → ok 88.50;  C: both, precedence platform → 91.25 (n 120)
    assert (by[("B", "MY01")].value, by[("B", "MY01")].status) == (Decimal("88.50"), "ok")
    assert (by[("C", "MY01")].value, by[("C", "MY01")].status) == (Decimal("91.25"), "ok")
    assert "按设置优先采用" in by[("C", "MY01")].detail
    # D: nothing at all → missing; inpatient and staff surveys: nobody → missing
    assert by[("D", "MY01")].status == "missing" and by[("A", "MY02")].status == "missing"
    assert {v.indicator for v in values} == {"MY01", "MY02", "MY03"}


def test_fewer_than_five_respondents_are_suppressed(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("DELETE FROM return_rows WHERE submission_id = 'A-10'")  # A keeps 3 valid questionnaires
    values = satisfaction_values(con, "2026-10", ["A"], {"A": "三级综合"}, load_indicators())
    a = next(v for v in values if v.indicator == "MY01")
    assert (a.value, a.status) == (None, "small_sample") and "不予显示" in a.detail
    assert con.execute("SELECT score, survey_score, ci_low FROM satisfaction_scores WHERE facility_id = 'A' "
                       "AND survey = 'op'").fetchone() == (None, None, None)
    assert {(m, s) for m, s in con.execute("SELECT mean, suppressed FROM satisfaction_dimensions "
                                           "WHERE facility_id = 'A'").fetchall()} == {(None, True)}


def test_rerun_is_identical(con: duckdb.DuckDBPyConnection) -> None:
    args = ("2026-10", ["A", "B", "C"], {f: "三级综合" for f in "ABC"}, load_indicators())
    satisfaction_values(con, *args)
    first = con.execute("SELECT * FROM satisfaction_scores ORDER BY ALL").fetchall()
    satisfaction_values(con, *args)
    assert con.execute("SELECT * FROM satisfaction_scores ORDER BY ALL").fetchall() == first
