"""DB glue for the metrics: aggregate a period's fields, compute indicator values, score, write the tables."""
from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal

import duckdb

from metrics.catalog import CatalogError, all_fields
from metrics.grading.scheme import MethodScheme, assessed_groups, load_assessment
from metrics.indicators import IndicatorValue, compute, load_indicators
from metrics.periods import Period, parse_period, same_period_last_year
from metrics.scoring import CompositeRow, Scheme, ScoreRow, load_scheme, score
from warehouse.db import insert_rows, run_sql, sql_text, transaction
from warehouse.registry import peer_group

Con = duckdb.DuckDBPyConnection


AnyScheme = Scheme | MethodScheme


def _scheme(scheme: AnyScheme | str) -> AnyScheme:
    return scheme if isinstance(scheme, (Scheme, MethodScheme)) else load_assessment(str(scheme))


def aggregate_fields(con: Con, period: Period | str,
                     require_complete: bool = True) -> dict[str, dict[str, Decimal | None]]:
    """Each facility's fields over the period (sum for flows, last month for stocks); None = missing."""
    p = parse_period(period)
    fields = all_fields()
    rows = run_sql(con, "agg_fields", months=list(p.months), period=p.code,
                   sum_fields=[f.code for f in fields if f.aggregation == "sum"],
                   last_fields=[f.code for f in fields if f.aggregation == "last"],
                   require_complete=require_complete)
    out: dict[str, dict[str, Decimal | None]] = {}
    for facility_id, field, _aggregation, value, *_ in rows:
        out.setdefault(facility_id, {})[field] = value
    return out


def blocked_fields(con: Con, period: Period | str) -> dict[str, set[str]]:
    """Fields with an error-severity finding on any current submission of the period, per facility."""
    p = parse_period(period)
    out: dict[str, set[str]] = {}
    for facility_id, field in run_sql(con, "agg_blocked_fields", months=list(p.months)):
        out.setdefault(facility_id, set()).add(field)
    return out


def facility_peer_groups(con: Con, period: Period | str) -> dict[str, str | None]:
    """Peer group of every facility active in the period (None when tier × type is not mapped)."""
    p = parse_period(period)
    # the registry's own validity rule: the row valid on the period's last day wins, else the latest-starting
    cur = con.execute(sql_text("reg_facilities_for_period"),
                      {"month_start": p.start_date, "month_end": p.end_date + dt.timedelta(days=1)})
    cols = [d[0] for d in cur.description]
    out: dict[str, str | None] = {}
    for row in cur.fetchall():
        r = dict(zip(cols, row))
        try:
            out[r["facility_id"]] = peer_group(r["tier"], r["ftype"], r["peer_group_override"])
        except CatalogError:
            out[r["facility_id"]] = None  # scored as "未分组" with the reason, not dropped silently
    return out


def _target_keys(scheme: AnyScheme) -> set[tuple[str, str]]:
    if isinstance(scheme, MethodScheme):
        keyed = {(it.indicator, it.orient.target_key) for it in scheme.method.items if it.orient.target_key}
        return keyed | {(it.indicator, it.rule.target_key) for it in scheme.method.items
                        if it.rule is not None and it.rule.target_key}  # type: ignore[misc]
    return {(it.indicator, it.rule.target_key) for items in scheme.groups.values() for it in items  # type: ignore[misc]
            if it.rule.target_key}


def facility_targets(con: Con, period: Period | str, scheme: AnyScheme) -> dict[tuple[str, str], Decimal]:
    """Each facility's own target for scheme rules with a `target_key` (by tier × type × specialty)."""
    keyed = _target_keys(scheme)
    if not keyed:
        return {}
    from metrics.prescribing.antibiotic_rates import target_for

    p = parse_period(period)
    cur = con.execute(sql_text("reg_facilities_for_period"),
                      {"month_start": p.start_date, "month_end": p.end_date + dt.timedelta(days=1)})
    cols = [d[0] for d in cur.description]
    out: dict[tuple[str, str], Decimal] = {}
    for row in cur.fetchall():
        r = dict(zip(cols, row))
        for indicator, key in keyed:
            t = target_for(key, r["tier"], r["ftype"], r.get("specialty"))
            if t is not None:
                out[(r["facility_id"], indicator)] = t.value
    return out


def compute_period(con: Con, period: Period | str, scheme: AnyScheme | str,
                   require_complete: bool | None = None,
                   timings: dict[str, float] | None = None) -> list[IndicatorValue]:
    """Compute the period's indicator values under the scheme's calibres and replace its indicator_values rows.

    `timings`, when given, accumulates the seconds spent scoring satisfaction (key "satisfaction").
    """
    p, s = parse_period(period), _scheme(scheme)
    if require_complete is None:
        require_complete = s.require_complete
    base_period = same_period_last_year(p)
    groups = facility_peer_groups(con, p)
    assessed_pg = assessed_groups(s)
    # facilities the scheme assesses: those of its peer groups (and any facility whose group is unknown, so the
    # score stage can list it as 未分组); counties and grassroots centres feed the alliance layer instead
    agg = {fid: v for fid, v in aggregate_fields(con, p, require_complete).items()
           if fid not in groups or groups[fid] is None or groups[fid] in assessed_pg}
    # registry facilities of the scheme's peer groups without any return still get rows (status missing)
    for fid, group in groups.items():
        if group in assessed_pg:
            agg.setdefault(fid, {})
    from warehouse.prescribing import mark_small_samples, samples

    catalog = load_indicators()
    values = compute(agg, aggregate_fields(con, base_period, require_complete), blocked_fields(con, p),
                     catalog, s.calibres, base_blocked=blocked_fields(con, base_period))
    # review-sample indicators of a facility whose sample was too small in any month are marked, not trusted
    values = mark_small_samples(values, samples(con, p), catalog)
    # satisfaction indicators come from the survey / platform scoring over their window
    from warehouse.satisfaction import satisfaction_values

    assessed = sorted(f for f in agg if groups.get(f) in assessed_pg)
    t0 = time.perf_counter()
    values += satisfaction_values(con, p, assessed, {f: groups[f] for f in assessed}, catalog)
    if timings is not None:
        timings["satisfaction"] = round(timings.get("satisfaction", 0.0) + time.perf_counter() - t0, 3)
    rows = [v.as_row(p.code) for v in values]
    with transaction(con):
        run_sql(con, "ind_delete_period", period=p.code)
        if rows:
            insert_rows(con, "indicator_values", rows)
    return values


def read_indicator_values(con: Con, period: Period | str) -> list[IndicatorValue]:
    """The period's stored indicator values."""
    p = parse_period(period)
    catalog = load_indicators()
    out = []
    for fid, ind, num, den, value, status, detail in run_sql(con, "ind_values", period=p.code):
        if value is not None and ind in catalog:
            value = value.quantize(catalog[ind].quantum)  # the column keeps 4 decimals; show the published ones
        out.append(IndicatorValue(fid, ind, None if num is None else Decimal(repr(num)),
                                  None if den is None else Decimal(repr(den)), value, status, detail))
    return out


def score_period(con: Con, period: Period | str,
                 scheme: AnyScheme | str) -> tuple[list[ScoreRow], list[CompositeRow]]:
    """Score the period's stored indicator values and replace its scores and composites for the scheme."""
    p, s = parse_period(period), _scheme(scheme)
    if isinstance(s, MethodScheme):
        from warehouse.grading import grade_period

        return grade_period(con, p, s, read_indicator_values(con, p), facility_peer_groups(con, p),
                            facility_targets(con, p, s))
    score_rows, composite_rows = score(read_indicator_values(con, p), facility_peer_groups(con, p), s,
                                       facility_targets(con, p, s))
    with transaction(con):
        run_sql(con, "ind_delete_scores", period=p.code, scheme_version=s.version)
        run_sql(con, "ind_delete_composites", period=p.code, scheme_version=s.version)
        if score_rows:
            insert_rows(con, "scores", [r.as_row(p.code, s.version) for r in score_rows])
        if composite_rows:
            insert_rows(con, "composites", [r.as_row(p.code, s.version) for r in composite_rows])
    return score_rows, composite_rows
