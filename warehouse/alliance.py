"""DB glue for the medical-alliance (医共体) layer: member and county figures in, alliance values and scores out.

metrics/alliance computes (pure); here the inputs are read from the warehouse:
- each reporting unit's fields month by month (warehouse.compute.aggregate_fields for one month), restricted to
  the fields of the return its registry tier files (三级/二级 → JX-YB01 hospital return, 基层/一级 → JX-JC01,
  区县 → JX-XY01 county return), so a hospital is never asked for 基层 fields;
- the 成员关系 rows of the alliance kind (effective-dated: a member counts from its joining month);
- each alliance's county: the county unit (级别 区县) of its lead hospital's 所属区县.
Results: alliance_values and alliance_contributions (each unit's share of each numerator and denominator), and the
alliance scheme's points and composites in the shared scores / composites tables under the scheme's version.
"""
from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import duckdb

from metrics.alliance import compute_alliances, load_alliance_indicators, score_alliances
from metrics.alliance.compute import AllianceValue, Contribution
from metrics.catalog import CATALOG_DIR, all_fields, load_fields
from metrics.periods import Period, parse_period
from metrics.scoring import CompositeRow, Scheme, ScoreRow, load_scheme
from warehouse.db import insert_rows, run_sql, sql_text, transaction

Con = duckdb.DuckDBPyConnection

ORG_KIND = "医共体"
DEFAULT_SCHEME = "alliance_2026"
RETURN_OF_TIER = {"三级": "JX-YB01", "二级": "JX-YB01", "一级": "JX-JC01", "基层": "JX-JC01", "区县": "JX-XY01"}
CATALOG_OF_RETURN = {"JX-YB01": "fields.yaml", "JX-JC01": "fields_grassroots.yaml", "JX-XY01": "fields_county.yaml"}


def _dicts(con: Con, name: str) -> list[dict[str, Any]]:
    cur = con.execute(sql_text(name))
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def _units(con: Con) -> list[dict[str, Any]]:
    return _dicts(con, "aly_units")


def alliance_inputs(con: Con, period: Period | str, org_kind: str = ORG_KIND) -> dict[str, Any]:
    """The arguments of metrics.alliance.compute_alliances for the period, read from the warehouse."""
    from warehouse.compute import aggregate_fields, blocked_fields

    p = parse_period(period)
    units = _units(con)
    unit_returns = {u["facility_id"]: {RETURN_OF_TIER[u["tier"]]} for u in units if u["tier"] in RETURN_OF_TIER}
    fields_of = {t: [f.code for f in load_fields(CATALOG_DIR / c)] for t, c in CATALOG_OF_RETURN.items()}
    values: dict[tuple[str, str], dict[str, Decimal | None]] = {}
    for month in p.months:
        # an item with an error finding is not used: the unit-month counts as not reported for that item
        blocked = blocked_fields(con, month)
        for fid, rec in aggregate_fields(con, month).items():
            templates = unit_returns.get(fid)
            if templates:
                bad = blocked.get(fid, set())
                values[(fid, month)] = {f: None if f in bad else rec.get(f)
                                        for t in sorted(templates) for f in fields_of[t]}
    memberships = [r for r in _memberships(con) if r["org_kind"] == org_kind]
    county_unit = {u["county"]: u["facility_id"] for u in units if u["tier"] == "区县" and u["county"]}
    county_of = {u["facility_id"]: u["county"] for u in units}
    alliance_county: dict[str, str] = {}
    for r in sorted(memberships, key=lambda r: (r["org_id"], r["valid_from"])):
        if r["role"] == "牵头" and county_of.get(r["facility_id"]) in county_unit:
            alliance_county[r["org_id"]] = county_unit[county_of[r["facility_id"]]]
    return {"unit_month_values": values, "aggregation": {f.code: f.aggregation for f in all_fields()},
            "memberships": memberships, "alliance_county": alliance_county, "months": list(p.months),
            "org_kind": org_kind, "unit_returns": unit_returns}


def _memberships(con: Con) -> list[dict[str, Any]]:
    return _dicts(con, "aly_memberships")


def _f(v: Decimal | None) -> float | None:
    return None if v is None else float(v)


def compute_alliance_period(con: Con, period: Period | str, org_kind: str = ORG_KIND
                            ) -> tuple[list[AllianceValue], list[Contribution]]:
    """Compute the period's alliance indicators and replace its alliance_values / alliance_contributions rows."""
    p = parse_period(period)
    values, contributions = compute_alliances(catalog=load_alliance_indicators(), **alliance_inputs(con, p, org_kind))
    vrows = [{"period": p.code, "org_id": v.org_id, "indicator": v.indicator, "numerator": _f(v.numerator),
              "denominator": _f(v.denominator), "value": None if v.value is None else str(v.value),
              "status": v.status, "detail": v.detail} for v in values]
    crows = [{"period": p.code, "org_id": c.org_id, "indicator": c.indicator, "unit_id": c.facility_id,
              "role": c.role, "numerator_part": _f(c.numerator_part), "denominator_part": _f(c.denominator_part),
              "months": "、".join(c.months)} for c in contributions]
    with transaction(con):
        run_sql(con, "aly_delete_values", period=p.code)
        run_sql(con, "aly_delete_contributions", period=p.code)
        insert_rows(con, "alliance_values", vrows)
        insert_rows(con, "alliance_contributions", crows)
    return values, contributions


def score_alliance_period(con: Con, period: Period | str, values: list[AllianceValue],
                          scheme: Scheme | str = DEFAULT_SCHEME, org_kind: str = ORG_KIND
                          ) -> tuple[list[ScoreRow], list[CompositeRow]]:
    """Score the alliances under the alliance scheme; replace the period's rows of that scheme version."""
    p = parse_period(period)
    s = scheme if isinstance(scheme, Scheme) else load_scheme(str(scheme))
    org_ids = sorted({v.org_id for v in values})
    score_rows, composite_rows = score_alliances(values, org_ids, s, org_kind) if org_ids else ([], [])
    with transaction(con):
        run_sql(con, "ind_delete_scores", period=p.code, scheme_version=s.version)
        run_sql(con, "ind_delete_composites", period=p.code, scheme_version=s.version)
        if score_rows:
            insert_rows(con, "scores", [r.as_row(p.code, s.version) for r in score_rows])
        if composite_rows:
            insert_rows(con, "composites", [r.as_row(p.code, s.version) for r in composite_rows])
    return score_rows, composite_rows


def alliance_period(con: Con, period: Period | str, scheme: Scheme | str = DEFAULT_SCHEME
                    ) -> Mapping[str, int]:
    """Compute and score one period; counts for the run record."""
    values, contributions = compute_alliance_period(con, period)
    _, comps = score_alliance_period(con, period, values, scheme)
    return {"alliances": len({v.org_id for v in values}), "values": len(values),
            "contributions": len(contributions), "scored": sum(c.status == "scored" for c in comps)}
