"""DB glue for satisfaction: read the window's questionnaires and platform figures, score, store, give indicators.

The scoring itself is metrics/satisfaction (pure functions). Here:
- the scoring window of a period: a month → the rolling window ending at it (settings.window_months); a quarter or
  year → its own months;
- questionnaires of the survey return (JX-MY01, table rows in return_rows) become `Response`s; an answer cell the
  parser marked as an error counts as blank (its finding is already recorded);
- the platform summary (JX-MY02): per survey type, the latest month of the window with both score and sample size;
- one `ChosenScore` per facility × survey type (settings.precedence), optional shrinkage per peer group;
- the results go to satisfaction_scores / satisfaction_dimensions; the scheme's MY indicators get their values.
Only aggregates are stored; a breakdown (or a whole score) from fewer than settings.suppress_below respondents is
stored without its value, so no output can show it.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import duckdb

from metrics.indicators import MISSING, OK, SMALL_SAMPLE, Indicator, IndicatorValue
from metrics.periods import Period, parse_period
from metrics.satisfaction.questionnaire import Questionnaire, SatisfactionSettings, load_questionnaires, \
    load_settings
from metrics.satisfaction.score import ChosenScore, PlatformScore, Response, SurveyScore, choose_source, \
    dimension_rows, score_survey, shrink, suppress, suppressed_note, window_months
from warehouse.db import insert_rows, run_sql, transaction

Con = duckdb.DuckDBPyConnection

SURVEY_TEMPLATE = "JX-MY01"
PLATFORM_TEMPLATE = "JX-MY02"
# survey code → the platform return's (score, sample size) fields
PLATFORM_FIELDS = {"op": ("sat_plat_op_score", "sat_plat_op_n"), "ip": ("sat_plat_ip_score", "sat_plat_ip_n"),
                   "staff": ("sat_plat_staff_score", "sat_plat_staff_n")}
STATUS_OF = {"ok": OK, "insufficient_sample": SMALL_SAMPLE, "missing": MISSING}
_META = ("seq", "respondent_id", "survey_date", "mode")


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


def read_responses(con: Con, months: list[str], questionnaires: Mapping[str, Questionnaire]
                   ) -> dict[tuple[str, str], list[Response]]:
    """Questionnaires of the window per (facility, survey code); respondent ids are made unique per month."""
    out: dict[tuple[str, str], list[Response]] = {}
    cur = con.execute(_sql("sat_responses"), {"template": SURVEY_TEMPLATE, "months": months})
    while batch := cur.fetchmany(50_000):
        for fid, month, tbl, row_no, fields, vals, texts, statuses in batch:
            q = questionnaires.get(tbl)
            if q is None:
                continue
            meta: dict[str, Any] = {}
            answers: dict[str, Any] = {}
            for f, v, t, st in zip(fields, vals, texts, statuses):
                if f in _META:
                    meta[f] = t if t is not None else (None if v is None else _num_text(v))
                else:
                    answers[f] = v if st == "ok" else None
            rid = meta.get("respondent_id")
            out.setdefault((fid, tbl), []).append(Response(
                respondent_id=f"{month}:{rid}" if rid else None, survey_date=_date(meta.get("survey_date")),
                mode=meta.get("mode"), answers=answers, ref=(month, row_no)))
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


def score_facilities(responses: Mapping[tuple[str, str], list[Response]],
                     platform: Mapping[tuple[str, str], PlatformScore], facility_ids: Iterable[str],
                     peer_group_of: Mapping[str, str], questionnaires: Mapping[str, Questionnaire],
                     settings: SatisfactionSettings, months: list[str]) -> list[FacilitySatisfaction]:
    """Every facility × survey type: survey index, platform figure, the chosen score (shrunk when configured)."""
    out: list[FacilitySatisfaction] = []
    for survey, q in questionnaires.items():
        scored: dict[str, SurveyScore | None] = {}
        chosen: dict[str, ChosenScore] = {}
        for fid in facility_ids:
            rs = responses.get((fid, survey))
            s = score_survey(rs, q, settings, months=months) if rs else None
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
    results = score_facilities(read_responses(con, months, questionnaires), read_platform(con, months), fids,
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


def _sql(name: str) -> str:
    from warehouse.db import sql_text

    return sql_text(name)
