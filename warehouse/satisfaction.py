"""DB glue for satisfaction: read the window's questionnaires and platform figures, score, store, give indicators.

The scoring itself is metrics/satisfaction (pure functions). Here:
- the scoring window of a period: a month → the rolling window ending at it (settings.window_months); a quarter or
  year → its own months;
- questionnaires of the survey return (JX-MY01, table rows in return_rows) are pivoted in SQL into one row per
  questionnaire with one column per item and scored for every facility at once by metrics.satisfaction.fast (the
  same SurveyScore as score_survey on `Response`s); an answer cell the parser marked as an error counts as blank
  (its finding is already recorded);
- the platform summary (JX-MY02): per survey type, the latest month of the window with both score and sample size;
- one `ChosenScore` per facility × survey type (settings.precedence), optional shrinkage per peer group;
- the results go to satisfaction_scores / satisfaction_dimensions; the scheme's MY indicators get their values.
Only aggregates are stored; a breakdown (or a whole score) from fewer than settings.suppress_below respondents is
stored without its value, so no output can show it.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from metrics.indicators import MISSING, OK, SMALL_SAMPLE, Indicator, IndicatorValue
from metrics.periods import Period, parse_period
from metrics.satisfaction.fast import SurveyColumns, score_columns
from metrics.satisfaction.questionnaire import Questionnaire, SatisfactionSettings, load_questionnaires, \
    load_settings
from metrics.satisfaction.score import ChosenScore, PlatformScore, SurveyScore, choose_source, dimension_rows, \
    shrink, suppress, suppressed_note, window_months
from warehouse.db import insert_rows, run_sql, sql_text, transaction

Con = duckdb.DuckDBPyConnection

SURVEY_TEMPLATE = "JX-MY01"
PLATFORM_TEMPLATE = "JX-MY02"
# survey code → the platform return's (score, sample size) fields
PLATFORM_FIELDS = {"op": ("sat_plat_op_score", "sat_plat_op_n"), "ip": ("sat_plat_ip_score", "sat_plat_ip_n"),
                   "staff": ("sat_plat_staff_score", "sat_plat_staff_n")}
STATUS_OF = {"ok": OK, "insufficient_sample": SMALL_SAMPLE, "missing": MISSING}
_META = ("seq", "respondent_id", "survey_date", "mode")
# item codes go into SQL text (the pivot's column list), so only this shape is accepted
_ITEM_CODE = re.compile(r"q[0-9]{2}")
_ITEM_COLUMNS = "__ITEM_COLUMNS__"


@dataclass(frozen=True)
class FacilitySatisfaction:
    facility_id: str
    survey: str
    chosen: ChosenScore
    survey_score: SurveyScore | None
    platform: PlatformScore | None


def scoring_window(period: Period | str, settings: SatisfactionSettings) -> list[str]:
    """The months whose questionnaires score the period."""
    p = parse_period(period)
    return window_months(p.code, settings) if p.kind == "month" else list(p.months)


def _date(text: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text[:10]) if text else None
    except ValueError:
        return None


class _Refs(Sequence[tuple[str, int]]):
    """ref per questionnaire, (month, worksheet row) as the reference reader gave; built only when asked for."""

    def __init__(self, month: np.ndarray, row_no: np.ndarray) -> None:
        self.month, self.row_no = month, row_no

    def __len__(self) -> int:
        return len(self.month)

    def __getitem__(self, k: Any) -> Any:
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(len(self)))]
        return self.month[k], int(self.row_no[k])


def item_columns_sql(codes: Iterable[str]) -> str:
    """The pivot's column list for sat_responses.sql: one conditional aggregate per (checked) item code."""
    out = []
    for code in sorted(set(codes)):
        if not _ITEM_CODE.fullmatch(code):
            raise ValueError(f"item code {code!r} does not match ^q[0-9]{{2}}$; it cannot become a column")
        out.append(f"max(value) FILTER (WHERE field = '{code}' AND status = 'ok') AS {code}")
    return ",\n           ".join(out)


def _meta(data: Mapping[str, np.ndarray], name: str) -> np.ndarray:
    """A meta cell as the reference reader read it: its text, else its number as text, else None."""
    text, value = data[f"{name}_text"], data[f"{name}_value"]
    out = np.ma.getdata(text).astype(object)
    out[np.ma.getmaskarray(text)] = None
    numeric = np.ma.getmaskarray(text) & ~np.ma.getmaskarray(value)
    for k in np.flatnonzero(numeric).tolist():
        out[k] = _num_text(float(value[k]))
    return out


def _answer(column: np.ndarray) -> np.ndarray:
    """An item column for the fast path: NULL → NaN (blank); a stored NaN → inf (not a number: out of scale)."""
    x = np.ma.getdata(column).astype(np.float64)
    x[np.isnan(x)] = np.inf
    x[np.ma.getmaskarray(column)] = np.nan
    return x


def read_responses(con: Con, months: list[str], questionnaires: Mapping[str, Questionnaire],
                   facility_ids: Iterable[str]) -> dict[str, SurveyColumns]:
    """Questionnaires of the window per survey code as columns (facility, received order); respondent ids are made
    unique per month."""
    fids = sorted(set(facility_ids))
    params = {"template": SURVEY_TEMPLATE, "months": months, "facilities": fids}
    for tbl, fld in con.execute(sql_text("sat_response_fields"), params).fetchall():
        q = questionnaires.get(tbl)
        if q is not None and fld not in _META and fld not in {i.code for i in q.items}:
            raise ValueError(f"survey {tbl}: unknown item code(s) [{fld!r}] in the {SURVEY_TEMPLATE} returns")
    # The column list is written from the questionnaires rather than fixed in the .sql file, so an item added to
    # questionnaires.yaml cannot silently read as blank; the codes are checked before they enter the SQL text.
    sql = sql_text("sat_responses")
    if sql.count(_ITEM_COLUMNS) != 1:
        raise RuntimeError(f"sat_responses.sql must hold the placeholder {_ITEM_COLUMNS} exactly once")
    sql = sql.replace(_ITEM_COLUMNS, item_columns_sql(i.code for q in questionnaires.values() for i in q.items))
    data = con.execute(sql, params).fetchnumpy()
    tbl = np.ma.getdata(data["tbl"]).astype(object)
    month = np.ma.getdata(data["month"]).astype(object)
    rid = _meta(data, "respondent")
    has_id = np.array([bool(r) for r in rid.tolist()], bool)
    rid[has_id] = month[has_id] + ":" + rid[has_id]
    rid[~has_id] = None
    date_codes, date_texts = pd.factorize(_meta(data, "date"))
    dates = np.array([_date(t) for t in date_texts] + [None], dtype="datetime64[D]")[date_codes]
    mode = _meta(data, "mode")
    facility = np.ma.getdata(data["facility_id"]).astype(object)
    row_no = np.ma.getdata(data["row_no"])
    out: dict[str, SurveyColumns] = {}
    for code, q in questionnaires.items():
        rows = np.flatnonzero(tbl == code)
        if len(rows):
            out[code] = SurveyColumns(
                facility[rows], rid[rows], dates[rows], mode[rows],
                {i.code: _answer(data[i.code][rows]) for i in q.items}, _Refs(month[rows], row_no[rows]))
    return out


def _num_text(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(v)


def read_platform(con: Con, months: list[str]) -> dict[tuple[str, str], PlatformScore]:
    """Per (facility, survey): the window's latest platform figure with both a score and a sample size."""
    by: dict[tuple[str, str], dict[str, float]] = {}
    for fid, month, field, value in run_sql(con, "sat_platform", template=PLATFORM_TEMPLATE, months=months):
        by.setdefault((fid, month), {})[field] = value
    out: dict[tuple[str, str], PlatformScore] = {}
    for (fid, _month), fields in sorted(by.items()):  # later months overwrite earlier ones
        for survey, (score_f, n_f) in PLATFORM_FIELDS.items():
            if fields.get(score_f) is None or fields.get(n_f) is None:
                continue
            try:
                out[(fid, survey)] = PlatformScore(survey, Decimal(repr(fields[score_f])), int(fields[n_f]))
            except (ValueError, ArithmeticError):
                continue  # out of range: its validation finding says so; not used for scoring
    return out


def score_facilities(responses: Mapping[str, SurveyColumns], platform: Mapping[tuple[str, str], PlatformScore],
                     facility_ids: Iterable[str], peer_group_of: Mapping[str, str],
                     questionnaires: Mapping[str, Questionnaire], settings: SatisfactionSettings,
                     months: list[str]) -> list[FacilitySatisfaction]:
    """Every facility × survey type: survey index, platform figure, the chosen score (shrunk when configured)."""
    facility_ids = list(facility_ids)
    out: list[FacilitySatisfaction] = []
    for survey, q in questionnaires.items():
        cols = responses.get(survey)
        by_facility = score_columns(cols, q, settings, months=months) if cols is not None else {}
        scored: dict[str, SurveyScore | None] = {}
        chosen: dict[str, ChosenScore] = {}
        for fid in facility_ids:
            s = by_facility.get(fid)
            scored[fid] = s
            chosen[fid] = choose_source(s, platform.get((fid, survey)), settings)
        chosen = shrink(chosen, peer_group_of, settings)
        out += [FacilitySatisfaction(fid, survey, chosen[fid], scored[fid], platform.get((fid, survey)))
                for fid in facility_ids]
    return out


def _d(v: Decimal | None) -> str | None:
    return None if v is None else str(v)


def _rows(period: str, months: list[str], results: list[FacilitySatisfaction],
          questionnaires: Mapping[str, Questionnaire], settings: SatisfactionSettings
          ) -> tuple[list[dict], list[dict]]:
    scores, dims = [], []
    for r in results:
        c, s, p = r.chosen, r.survey_score, r.platform
        small = c.source is not None and suppress(c.n, settings)
        reason = c.reason_zh + (f"；{suppressed_note(settings)}" if small else "")
        status = STATUS_OF[c.status]
        scores.append({
            "period": period, "facility_id": r.facility_id, "survey": r.survey, "window_from": months[0],
            "window_to": months[-1], "source": c.source, "score": None if small else _d(c.value_rounded),
            "n": c.n if c.source else None, "status": status, "reason": reason,
            "survey_score": None if s is None or suppress(s.n_valid, settings) else _d(s.index_rounded),
            "survey_n_received": s.n_received if s else None, "survey_n_valid": s.n_valid if s else None,
            "survey_n_incomplete": s.n_incomplete if s else None,
            "survey_n_straight_lined": s.n_straight_lined if s else None,
            "survey_n_duplicate": s.n_duplicate if s else None,
            "ci_low": None if s is None or suppress(s.n_valid, settings) else _d(s.ci_low_rounded),
            "ci_high": None if s is None or suppress(s.n_valid, settings) else _d(s.ci_high_rounded),
            "sd": None if s is None or s.sd is None or suppress(s.n_valid, settings) else float(s.sd),
            "platform_score": _d(p.score) if p else None, "platform_n": p.n if p else None,
            "unshrunk_score": None if small or c.unshrunk is None else _d(c.unshrunk.quantize(Decimal("0.0001"))),
        })
        if s is not None:
            for d in dimension_rows(s, questionnaires[r.survey], settings):
                if d.code == "index":
                    continue
                dims.append({"period": period, "facility_id": r.facility_id, "survey": r.survey, "dimension": d.code,
                             "n": d.n, "mean": _d(d.value), "suppressed": d.suppressed})
    return scores, dims


def satisfaction_values(con: Con, period: Period | str, facility_ids: Iterable[str],
                        peer_group_of: Mapping[str, str], indicators: Mapping[str, Indicator]
                        ) -> list[IndicatorValue]:
    """Score the period's window, replace its satisfaction rows, return the external satisfaction indicators."""
    p = parse_period(period)
    by_survey = {ind.calibre().formula.survey: ind for ind in indicators.values()
                 if ind.calibre().formula.kind == "external" and ind.calibre().formula.source == "satisfaction"}
    if not by_survey:
        return []
    settings, questionnaires = load_settings(), load_questionnaires()
    questionnaires = {k: v for k, v in questionnaires.items() if k in by_survey}
    months = scoring_window(p, settings)
    fids = sorted(set(facility_ids))
    results = score_facilities(read_responses(con, months, questionnaires, fids), read_platform(con, months), fids,
                               peer_group_of, questionnaires, settings, months)
    score_rows, dim_rows = _rows(p.code, months, results, questionnaires, settings)
    with transaction(con):
        run_sql(con, "sat_delete_scores", period=p.code)
        run_sql(con, "sat_delete_dimensions", period=p.code)
        insert_rows(con, "satisfaction_scores", score_rows)
        insert_rows(con, "satisfaction_dimensions", dim_rows)
    out = []
    window = f"评分窗口 {months[0]}～{months[-1]}"
    for r, row in zip(results, score_rows):
        ind = by_survey[r.survey]
        # a small sample keeps its value (shown 仅供参考) under status small_sample, like a small 处方点评 sample;
        # a suppressed score (fewer respondents than the suppression size) has no value at all
        value = None if row["score"] is None else Decimal(row["score"]).quantize(ind.quantum)
        status = row["status"]
        out.append(IndicatorValue(r.facility_id, ind.code, None,
                                  None if row["n"] is None else Decimal(row["n"]), value, status,
                                  f"{window}；{row['reason']}"))
    return out
