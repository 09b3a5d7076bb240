"""DB glue for the outlier review: read a month's values, cells and confirmations; run detection and impact ranking."""
from __future__ import annotations

import duckdb
import pandas as pd

from metrics.catalog import all_fields_by_code
from metrics.periods import parse_period, same_period_last_year
from metrics.quality.impact import Impact, rank_by_impact
from metrics.quality.outliers import Cell, Outlier, OutlierConfig, detect, load_config, review_months, value_text
from warehouse.db import query_df, run_sql

Con = duckdb.DuckDBPyConnection


def reviewed_fields(config: OutlierConfig | None = None) -> list[str]:
    """The key fields and the fields of the pair rules, in catalog order."""
    cfg = config or load_config()
    catalog = all_fields_by_code()
    pair = {c for r in cfg.pairs for c in (r.numerator, r.denominator)}
    key = set(cfg.key_fields.select(catalog))
    return [c for c in catalog if c in key or c in pair]


def read_values(con: Con, period: str, config: OutlierConfig | None = None) -> pd.DataFrame:
    """facility_id, period, field, value, source for the month, its history and the adjusted month last year."""
    t, hist, cmp_month, _ = review_months(period, config)
    months = sorted({t, cmp_month, *hist})
    return query_df(con, "qa_values", months=months, fields=reviewed_fields(config))


def read_cells(con: Con, period: str) -> dict[tuple[str, str], Cell]:
    """(facility_id, field) → (submission_id, file, sheet, cell) of the month's winning accepted return."""
    p = parse_period(period)
    return {(fid, field): (sid, file, sheet, cell)
            for fid, field, sid, file, sheet, cell in run_sql(con, "qa_cells", period=p.code)}


def read_confirmed(con: Con, period: str) -> set[tuple[str, str, str, str]]:
    """(facility_id, period, field, value_text) of the values an analyst confirmed for the month."""
    p = parse_period(period)
    return {tuple(r) for r in run_sql(con, "qa_confirmed", period=p.code)}  # type: ignore[misc]


def detect_period(con: Con, period: str, config: OutlierConfig | None = None) -> list[Outlier]:
    """detect() over the warehouse's values, peer groups and confirmations of the month."""
    from warehouse.compute import facility_peer_groups

    p = parse_period(period)
    return detect(read_values(con, p.code, config), facility_peer_groups(con, p), p.code, config,
                  read_confirmed(con, p.code))


def impact_period(con: Con, period: str, outliers: list[Outlier], scheme) -> list[tuple[Outlier, Impact]]:
    """rank_by_impact() with the month's aggregated fields, last year's, blocked fields, targets and the stored
    satisfaction (external) indicator values; `scheme` is a rule-points scheme (metrics.scoring.Scheme) or its
    version."""
    from metrics.grading.scheme import MethodScheme, load_assessment
    from metrics.indicators import load_indicators
    from metrics.scoring import Scheme
    from warehouse.compute import aggregate_fields, blocked_fields, facility_peer_groups, facility_targets, \
        read_indicator_values

    s = scheme if isinstance(scheme, (Scheme, MethodScheme)) else load_assessment(str(scheme))
    p = parse_period(period)
    b = same_period_last_year(p)
    catalog = load_indicators()
    external_codes = {c for c, ind in catalog.items()
                      if ind.calibre(s.calibres.get(c)).formula.kind == "external"}
    external = [iv for iv in read_indicator_values(con, p) if iv.indicator in external_codes]
    if isinstance(s, MethodScheme):
        from metrics.quality.impact import rank_by_impact_graded
        from warehouse.grading import _review_samples, baseline_observations, observations, period_events

        samples = _review_samples(con, p)
        return rank_by_impact_graded(
            outliers, aggregate_fields(con, p, s.require_complete), aggregate_fields(con, b, s.require_complete),
            facility_peer_groups(con, p), s, lambda vals: observations(vals, samples),
            blocked=blocked_fields(con, p), base_blocked=blocked_fields(con, b), targets=facility_targets(con, p, s),
            external=external, baseline=baseline_observations(con, p, s), events=period_events(con, p),
            catalog=catalog)
    return rank_by_impact(outliers, aggregate_fields(con, p, s.require_complete),
                          aggregate_fields(con, b, s.require_complete), facility_peer_groups(con, p), s,
                          blocked=blocked_fields(con, p), base_blocked=blocked_fields(con, b),
                          targets=facility_targets(con, p, s), external=external, catalog=catalog)


__all__ = ["reviewed_fields", "read_values", "read_cells", "read_confirmed", "detect_period", "impact_period",
           "value_text"]
