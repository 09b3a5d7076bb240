"""metrics.satisfaction.fast gives exactly score_survey's SurveyScore, field by field and digit by digit, for every
facility at once; warehouse.satisfaction reads the same questionnaires from DuckDB as the row-by-row reader did."""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings as hsettings, strategies as st

from metrics.satisfaction.fast import SurveyColumns, score_columns
from metrics.satisfaction.questionnaire import Questionnaire, Scale, load_questionnaires, load_settings
from metrics.satisfaction.score import Response, SurveyScore, score_survey
from warehouse.db import connect
from warehouse.satisfaction import _date, _num_text, read_responses

D = Decimal
Q = load_questionnaires()
S = load_settings()
WINDOW = ["2026-08", "2026-09", "2026-10"]
DATES = [None, dt.date(2026, 8, 1), dt.date(2026, 9, 15), dt.date(2026, 10, 31), dt.date(2026, 7, 31),
         dt.date(2026, 11, 1), dt.date(2025, 10, 5)]
IDS = [None, "", "  ", "a", " a", "a ", "b", "c", "d", "e"]
MODES = [None, "", "  ", "现场", " 电话 ", "网络", "微信", "未注明"]
ODD = [-1.0, 11.0, 6.0, 2.5, math.inf, -math.inf]          # out of every shipped scale (or not whole numbers)


def _columns(rows: list[tuple], q: Questionnaire, int_items: set[str]) -> SurveyColumns:
    """rows: (facility, respondent id, date, mode, answers by item order with None for blank)."""
    answers = {}
    for j, item in enumerate(q.items):
        values = [r[4][j] for r in rows]
        if item.code in int_items:
            answers[item.code] = np.array(values, dtype=np.int64)
        else:
            answers[item.code] = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    return SurveyColumns(np.array([r[0] for r in rows], dtype=object), np.array([r[1] for r in rows], dtype=object),
                         np.array([r[2] for r in rows], dtype="datetime64[D]"),
                         np.array([r[3] for r in rows], dtype=object), answers, list(range(len(rows))))


def _reference(rows: list[tuple], q: Questionnaire, settings: Any, months: list[str] | None,
               int_items: set[str]) -> dict[Any, SurveyScore]:
    by: dict[Any, list[Response]] = {}
    for k, (fid, rid, date, mode, values) in enumerate(rows):
        answers = {i.code: (v if v is None else int(v) if i.code in int_items else float(v))
                   for i, v in zip(q.items, values)}
        by.setdefault(fid, []).append(Response(rid, date, mode, answers, k))
    return {fid: score_survey(rs, q, settings, months=months) for fid, rs in by.items()}


def _assert_same(fast: dict[Any, SurveyScore], ref: dict[Any, SurveyScore]) -> None:
    assert list(fast) == list(ref)
    for fid in ref:
        assert fast[fid] == ref[fid], fid
        # repr too: the same digits and exponents (75 vs 75.0), the same by_mode order
        assert repr(fast[fid]) == repr(ref[fid]), fid


@st.composite
def questionnaires(draw: st.DrawFn) -> Questionnaire:
    q = Q[draw(st.sampled_from(sorted(Q)))]
    if draw(st.booleans()):
        weight = st.sampled_from([D(1), D(2), D(3), D("1.5")])
        items = tuple(replace(i, weight=draw(weight), reverse=draw(st.booleans())) for i in q.items)
        items = (replace(items[0], reverse=True),) + items[1:]
        q = replace(q, items=items, dimensions=tuple(replace(d, weight=draw(weight)) for d in q.dimensions))
    return q


@st.composite
def cases(draw: st.DrawFn) -> tuple:
    q = draw(questionnaires())
    settings = replace(S, max_blank_share=draw(st.sampled_from([D(0), D("0.2"), D("0.5"), D("0.95")])),
                       straight_line_min_items=draw(st.integers(2, 6)), straight_line_exclude=draw(st.booleans()),
                       ci_level=draw(st.sampled_from([D("0.95"), D("0.9")])), min_valid=draw(st.integers(1, 6)))
    rows = []
    for _ in range(draw(st.integers(0, 40))):
        straight = draw(st.integers(0, 4)) == 0
        flat = draw(st.integers(1, 5))
        values = []
        for item in q.items:
            scale = q.scales[item.scale]
            lo, hi = int(scale.min), int(scale.max)
            if straight and item.scale == "likert5":
                # the same answer throughout, some left blank: the answered count hovers around min_items
                values.append(None if draw(st.integers(0, 2)) == 0 else float(flat))
                continue
            kind = draw(st.integers(0, 9))
            values.append(None if kind == 0 else draw(st.sampled_from(ODD)) if kind == 1
                          else float(draw(st.integers(lo, hi))))
        rows.append((draw(st.sampled_from(["F1", "F2", "F3"])), draw(st.sampled_from(IDS)),
                     draw(st.sampled_from(DATES)), draw(st.sampled_from(MODES)), values))
    whole = {i.code for j, i in enumerate(q.items)
             if all(r[4][j] is not None and math.isfinite(r[4][j]) and r[4][j] == int(r[4][j]) for r in rows)}
    int_items = {c for c in sorted(whole) if draw(st.booleans())}
    months = draw(st.sampled_from([None, WINDOW, ["2026-10"]]))
    return q, settings, rows, int_items, months


@hsettings(max_examples=300, deadline=None)
@given(cases())
def test_fast_equals_reference_for_every_facility(case: tuple) -> None:
    q, settings, rows, int_items, months = case
    _assert_same(score_columns(_columns(rows, q, int_items), q, settings, months),
                 _reference(rows, q, settings, months, int_items))


# op items: q01 reg, q02 reg (reverse), q03 comm, q04 comm, q05 resp, q06 resp, q07 priv, q08 env, q09 env,
#           q10 env, q11 overall (0–10) — the same three questionnaires as test_satisfaction_score
A = [5, 2, 4, 4, 4, 3, 5, 4, 4, 4, 8]
B = [3, 4, 5, 3, 2, 2, None, 3, 2, 4, 7]
C = [4, 1, 5, 5, 5, 4, 3, 5, 5, 5, 10]


def test_by_hand_two_facilities_interleaved() -> None:
    op, oct_ = Q["op"], dt.date(2026, 10, 5)
    rows = [("X", "a", oct_, "现场", A), ("Y", "y1", oct_, "电话", C), ("X", "b", oct_, "现场", B),
            ("X", " a ", oct_, "网络", C),                                   # X: a duplicate of "a" (trimmed)
            ("X", "old", dt.date(2026, 7, 1), "现场", C),                    # X: outside the window
            ("X", "c", None, "微信", C),                                     # X: no date is never out of window
            ("Y", "y2", oct_, None, [4] * 10 + [6])]                        # Y: 0–10 item 6 is fine; straight-lined
    rows = [(f, r, d, m, [None if v is None else float(v) for v in vals]) for f, r, d, m, vals in rows]
    fast = score_columns(_columns(rows, op, set()), op, S, WINDOW)
    _assert_same(fast, _reference(rows, op, S, WINDOW, set()))
    x, y = fast["X"], fast["Y"]
    # X: indices 80, 51.5, 87.5 (see test_satisfaction_score) → 219/3 = 73
    assert (x.n_received, x.n_valid, x.n_duplicate, x.n_out_of_window, x.index) == (5, 3, 1, 1, D(73))
    assert x.excluded == ((3, "duplicate"), (4, "out_of_window"))
    assert (x.by_mode, x.unknown_mode_refs) == ({"现场": 2, "微信": 1}, (5,))
    assert x.reason_zh == "收到问卷 5 份；剔除重复问卷 1 份、调查日期不在统计窗口内 1 份；有效问卷 3 份，少于最低样本量 100 份"
    # Y: C = 87.5; y2: every 1–5 item 4 (q02 reversed → 25) → reg 50, others 75, overall 60 → (50+75·4+60)/6 = 68.33…
    assert (y.n_valid, y.straight_lined_refs, y.index_rounded) == (2, (6,), D("77.92"))
    assert y.dimensions["reg"].mean == (D("87.5") + D(50)) / 2


def test_many_rows_all_surveys_seeded() -> None:
    # larger samples than Hypothesis draws: many respondents share dimension patterns, facilities of 1–400 rows
    rng = np.random.default_rng(7)
    for code, q in Q.items():
        n = 3000
        fac = rng.integers(0, 25, n)
        rows = []
        for k in range(n):
            level = rng.integers(1, 6)
            vals: list[float | None] = []
            for item in q.items:
                hi = int(q.scales[item.scale].max)
                v = float(min(hi, max(0, level * hi // 5 + rng.integers(-1, 2))))
                vals.append(None if rng.random() < 0.04 else 7.5 if rng.random() < 0.005 else v)
            rows.append((int(fac[k]), f"r{rng.integers(0, 900)}" if rng.random() < 0.95 else None,
                         DATES[rng.integers(0, len(DATES))], MODES[rng.integers(0, len(MODES))], vals))
        for settings in (S, replace(S, straight_line_exclude=True, min_valid=60)):
            _assert_same(score_columns(_columns(rows, q, set()), q, settings, WINDOW),
                         _reference(rows, q, settings, WINDOW, set()))


def test_huge_scale_falls_back_to_the_reference() -> None:
    big = Scale("big", D(0), D(2 ** 31), D(0), D(100) / D(2 ** 31), "0–2³¹")
    q = replace(Q["staff"], scales={**Q["staff"].scales, "big": big},
                items=(replace(Q["staff"].items[0], scale="big"),) + Q["staff"].items[1:])
    rows = [("F", f"r{k}", None, "现场", [float(2 ** 30 + k)] + [float(1 + k % 5)] * 9) for k in range(4)]
    _assert_same(score_columns(_columns(rows, q, set()), q, S, None), _reference(rows, q, S, None, set()))


def test_unknown_item_column_is_an_error() -> None:
    cols = _columns([("F", "a", None, None, [3.0] * 10)], Q["staff"], set())
    with pytest.raises(ValueError, match="q99"):
        score_columns(replace(cols, answers={**cols.answers, "q99": np.array([1.0])}), Q["staff"], S)


# --- the warehouse reader: the same questionnaires as the former row-by-row reader -------------------------------

def _reference_read(con: Any, months: list[str]) -> dict[tuple[str, str], list[Response]]:
    """The former warehouse reader: cells → Response objects, one questionnaire at a time."""
    cells = con.execute(
        "SELECT s.facility_id, s.period, r.submission_id, r.tbl, r.row_no, r.field, r.value, r.text, r.status "
        "FROM submissions AS s JOIN return_rows AS r USING (submission_id) WHERE s.status = 'accepted' "
        "AND s.template_id = 'JX-MY01' AND list_contains(?, s.period) "
        "ORDER BY s.facility_id, s.period, r.tbl, r.row_no, r.submission_id, r.field", [months]).fetchall()
    out: dict[tuple[str, str], list[Response]] = {}
    groups: dict[tuple, list] = {}
    for fid, month, sid, tbl, row_no, field, value, text, status in cells:
        groups.setdefault((fid, month, sid, tbl, row_no), []).append((field, value, text, status))
    for (fid, month, _sid, tbl, row_no), group in groups.items():
        meta, answers = {}, {}
        for f, v, t, st_ in group:
            if f in ("seq", "respondent_id", "survey_date", "mode"):
                meta[f] = t if t is not None else (None if v is None else _num_text(v))
            else:
                answers[f] = v if st_ == "ok" else None
        rid = meta.get("respondent_id")
        out.setdefault((fid, tbl), []).append(Response(
            f"{month}:{rid}" if rid else None, _date(meta.get("survey_date")), meta.get("mode"), answers,
            (month, row_no)))
    return out


_NAN_MARK = -12345.0


def _warehouse(tmp_path: Path, seed: int) -> Any:
    con = connect(tmp_path / "w.duckdb")
    rng = np.random.default_rng(seed)
    subs, cells = [], []
    for f, fid in enumerate(("H1", "H2", "H3")):
        for month in ("2026-07", "2026-09", "2026-10"):
            sid = f"{fid}-{month}"
            subs.append((sid, fid, month, "superseded" if (f, month) == (2, "2026-09") else "accepted"))
            for code, q in Q.items():
                for row_no in range(4, 4 + int(rng.integers(0, 30))):
                    rid = [f"P{rng.integers(0, 12)}", " P1", "P1 ", None, "", None][min(5, int(rng.integers(0, 9)))]
                    date = ["2026-09-03", "2026-10-31", "2026-06-30", "2026/10/01", None][int(rng.integers(0, 5))]
                    mode = ["现场", "电话", " 网络", "微信", None][int(rng.integers(0, 5))]
                    meta = [("respondent_id", None, rid), ("survey_date", None, date), ("mode", None, mode)]
                    if rng.random() < 0.1:
                        meta[0] = ("respondent_id", float(rng.integers(1, 4)), None)    # an id typed as a number
                    if rng.random() < 0.05:
                        meta[1] = ("survey_date", 46300.0, None)                        # a date typed as a number
                    for field, value, text in meta:
                        cells.append((sid, code, row_no, field, value, text, "ok" if value or text else "blank"))
                    level = int(rng.integers(1, 6))
                    for item in q.items:
                        hi = int(q.scales[item.scale].max)
                        v: float | None = float(min(hi, max(0, level * hi // 5 + int(rng.integers(-1, 2)))))
                        status, u = "ok", rng.random()
                        if u < 0.05:
                            v, status = None, "blank"
                        elif u < 0.07:
                            status = "error"                                            # read as blank
                        elif u < 0.08:
                            v = _NAN_MARK                                               # stored NaN: out of scale
                        elif u < 0.09:
                            v = 12.0
                        cells.append((sid, code, row_no, item.code, v, None, status))
    con.executemany("INSERT INTO submissions (submission_id, sha256, original_name, facility_id, period, template_id,"
                    " received_at, received_source, status) VALUES (?, ?, ?, ?, ?, 'JX-MY01', "
                    "TIMESTAMP '2026-11-03 09:00:00', 'manifest', ?)",
                    [[sid, sid, f"{sid}.xlsx", fid, month, status] for sid, fid, month, status in subs])
    frame = pd.DataFrame(cells, columns=["submission_id", "tbl", "row_no", "field", "value", "text", "status"])
    con.register("cells", frame)
    con.execute("INSERT INTO return_rows SELECT submission_id, tbl, row_no, field, value, text, text, 'sheet', "
                "'A' || row_no, status FROM cells")
    con.unregister("cells")
    # a DataFrame's NaN arrives as NULL, so the stored NaNs are written afterwards
    con.execute("UPDATE return_rows SET value = 'nan'::DOUBLE WHERE value = ?", [_NAN_MARK])
    return con


@pytest.mark.parametrize("seed", [1, 2])
def test_warehouse_read_and_score_equal_the_row_by_row_path(tmp_path: Path, seed: int) -> None:
    con = _warehouse(tmp_path, seed)
    try:
        columns = read_responses(con, WINDOW, Q, ["H1", "H2", "H3"])
        reference = _reference_read(con, WINDOW)
    finally:
        con.close()
    for code, q in Q.items():
        fast = score_columns(columns[code], q, S, WINDOW)
        ref = {fid: score_survey(rs, q, S, months=WINDOW) for (fid, tbl), rs in reference.items() if tbl == code}
        _assert_same(fast, ref)
        assert sum(s.n_received for s in fast.values()) == len(columns[code].facility)


def test_warehouse_refuses_a_field_no_questionnaire_knows(tmp_path: Path) -> None:
    con = _warehouse(tmp_path, 3)
    try:
        sid, tbl, row_no = con.execute("SELECT submission_id, tbl, row_no FROM return_rows WHERE tbl = 'staff' "
                                       "AND submission_id LIKE 'H1-%' LIMIT 1").fetchone()
        con.execute("INSERT INTO return_rows VALUES (?, ?, ?, 'q11', 3, NULL, '3', 'sheet', 'Z1', 'ok')",
                    [sid, tbl, row_no])
        with pytest.raises(ValueError, match="survey staff: unknown item code"):
            read_responses(con, ["2026-07", "2026-09", "2026-10"], Q, ["H1"])
    finally:
        con.close()
