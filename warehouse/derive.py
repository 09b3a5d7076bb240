"""Items derived from returns' detail rows (fields_derived.yaml): DDD units, 品种 count, review-sample sums.

Recomputed for a period's months at every compute, so a new DDD table or scope list takes effect on the next
run; each derived value keeps the row range it came from and how it was computed.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterable

import duckdb

from warehouse.db import insert_rows, transaction

ANTIBIOTIC_TEMPLATE = "JX-YB02"
REVIEW_TEMPLATE = "JX-YB03"
DDD_LINE_COLUMNS = ["submission_id", "row_no", "generic_name", "form_route", "strength", "pack_unit",
                    "qty_inpatient", "status", "reason", "atc", "route", "ddd", "ddd_unit", "ddd_table",
                    "ddds_inpatient"]


@dataclass(frozen=True)
class _Sub:
    submission_id: str
    facility_id: str
    period: str
    template_id: str


def _submissions(con: duckdb.DuckDBPyConnection, months: list[str]) -> list[_Sub]:
    rows = con.execute(
        "SELECT submission_id, facility_id, period, template_id FROM submissions "
        "WHERE status = 'accepted' AND list_contains(?, period) AND list_contains(?, template_id) "
        "ORDER BY submission_id", [months, [ANTIBIOTIC_TEMPLATE, REVIEW_TEMPLATE]]).fetchall()
    return [_Sub(*r) for r in rows]


def _tables(con: duckdb.DuckDBPyConnection, ids: list[str]) -> dict[tuple[str, str], dict[int, dict[str, Any]]]:
    """(submission, table) → row number → field → cell (value, text, status, sheet, cell)."""
    out: dict[tuple[str, str], dict[int, dict[str, Any]]] = defaultdict(dict)
    if not ids:
        return out
    for sid, tbl, row_no, fld, value, text, status, sheet, cell in con.execute(
            "SELECT submission_id, tbl, row_no, field, value, text, status, sheet, cell FROM return_rows "
            "WHERE list_contains(?, submission_id) ORDER BY submission_id, tbl, row_no", [ids]).fetchall():
        out[(sid, tbl)].setdefault(row_no, {})[fld] = (value, text, status, sheet, cell)
    return out


def _range(rows: dict[int, dict[str, Any]], fld: str) -> tuple[str, str]:
    cells = [r[fld] for r in rows.values() if fld in r]
    if not cells:
        return ("", "")
    sheet = cells[0][3]
    return sheet, f"{cells[0][4]}:{cells[-1][4]}" if len(cells) > 1 else cells[0][4]


def consumption_rows(consumption: dict[int, dict[str, Any]]) -> list[Any]:
    """The DDD engine's ConsumptionRows of one return's 抗菌药物消耗 table (row number kept as the ref)."""
    from metrics.ddd.engine import ConsumptionRow

    rows = []
    for row_no, cells in sorted(consumption.items()):
        def text(f: str) -> str:
            v = cells.get(f)
            return "" if v is None or v[1] is None else str(v[1])

        def num(f: str) -> Any:
            v = cells.get(f)
            return None if v is None else v[0]

        rows.append(ConsumptionRow(generic_name=text("generic_name"), strength=text("strength"),
                                   form=text("form_route"), packaging_unit=text("pack_unit"),
                                   quantity_inpatient=num("qty_inpatient"), quantity_outpatient=num("qty_outpatient"),
                                   atc=text("atc_code") or None, ref=str(row_no)))
    return rows


def consumption_by_month(con: duckdb.DuckDBPyConnection, months: list[str]) -> dict[tuple[str, str], list[Any]]:
    """(facility, month) → ConsumptionRows of the accepted antibiotic return."""
    subs = [s for s in _submissions(con, months) if s.template_id == ANTIBIOTIC_TEMPLATE]
    tables = _tables(con, [s.submission_id for s in subs])
    return {(s.facility_id, s.period): consumption_rows(tables.get((s.submission_id, "consumption"), {}))
            for s in subs}


def _antibiotic(sub: _Sub, consumption: dict[int, dict[str, Any]], catalogue: dict[int, dict[str, Any]],
                cfg: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from metrics.ddd.engine import ddd_lines
    from metrics.ddd.names import name_key

    year = int(sub.period[:4])
    lines = ddd_lines(consumption_rows(consumption), year, cfg)
    total = sum((ln.ddds_inpatient or Decimal(0) for ln in lines if ln.status == "ok"), Decimal(0))
    covered = sum(1 for ln in lines if ln.status == "ok")
    uncovered = sum(1 for ln in lines if ln.status == "not_covered")
    table = lines[0].table if lines else cfg.table_for_year(year).name
    sheet, rng = _range(consumption, "qty_inpatient")
    derived = []
    if consumption:
        derived.append({"submission_id": sub.submission_id, "field": "aud_ddds", "value": float(total),
                        "sheet": sheet, "cell": rng,
                        "detail": f"DDD表 {table}；折算 {covered} 行，未能折算 {uncovered} 行，"
                                  f"不属抗菌药物管理范围 {len(lines) - covered - uncovered} 行"})
    # 品种: distinct generic name × route among the catalogue rows that are antimicrobials in scope
    varieties = set()
    for cells in catalogue.values():
        name = (cells.get("generic_name") or (None, None))[1]
        form = (cells.get("dosage_form") or (None, None))[1] or ""
        if not name:
            continue
        match = cfg.names.lookup(name)
        route = cfg.routes.route_of(form) or (match.default_route() if match else None)
        entry = match.for_route(route) if match else None
        # names outside the dictionary still count (the catalogue lists antimicrobials); topical forms and
        # excluded classes (anti-tuberculosis …) do not
        ok, _ = cfg.scope.in_scope(entry.atc if entry else None, form, name)
        if ok:
            varieties.add((name_key(name), route or form))
    if catalogue:
        sheet, rng = _range(catalogue, "generic_name")
        derived.append({"submission_id": sub.submission_id, "field": "abx_varieties", "value": float(len(varieties)),
                        "sheet": sheet, "cell": rng, "detail": f"供应目录 {len(catalogue)} 行，抗菌药物品种 {len(varieties)} 个"})
    line_rows = [{"submission_id": sub.submission_id, "row_no": int(ln.row.ref or 0),
                  "generic_name": ln.row.generic_name, "form_route": ln.row.form, "strength": ln.row.strength,
                  "pack_unit": ln.row.packaging_unit, "qty_inpatient": float(ln.quantity_inpatient),
                  "status": ln.status, "reason": ln.reason, "atc": ln.atc, "route": ln.route,
                  "ddd": None if ln.ddd is None else float(ln.ddd), "ddd_unit": ln.ddd_unit, "ddd_table": ln.table,
                  "ddds_inpatient": None if ln.ddds_inpatient is None else float(ln.ddds_inpatient)}
                 for ln in lines]
    return derived, line_rows


REVIEW_SUMS_SQL = """
-- 处方点评表 sums per return: N, A, C, E, G, I, K, O of the national sheet, from rows whose summed cells all
-- read cleanly (a row with an unreadable count has its own finding and is left out, and counted as such)
WITH cells AS (
    -- DECIMAL, not DOUBLE: a float sum depends on the scan order, and reruns must give identical tables
    SELECT submission_id, row_no, field, CAST(value AS DECIMAL(38, 6)) AS value, status, sheet, cell
    FROM return_rows
    WHERE tbl = 'review' AND list_contains($ids, submission_id)
      AND field IN ('n_drugs', 'has_antibiotic', 'has_injection', 'n_essential', 'n_generic', 'amount', 'rational')
),
rows AS (
    SELECT submission_id, row_no, any_value(sheet) AS sheet,
           bool_and(status IN ('ok', 'blank_zero') AND value IS NOT NULL) AS clean,
           sum(value) FILTER (WHERE field = 'n_drugs') AS a, sum(value) FILTER (WHERE field = 'has_antibiotic') AS c,
           sum(value) FILTER (WHERE field = 'has_injection') AS e, sum(value) FILTER (WHERE field = 'n_essential') AS g,
           sum(value) FILTER (WHERE field = 'n_generic') AS i, sum(value) FILTER (WHERE field = 'amount') AS k,
           sum(value) FILTER (WHERE field = 'rational') AS o,
           min(cell) FILTER (WHERE field = 'n_drugs') AS drug_cell
    FROM cells GROUP BY submission_id, row_no
),
final AS (
    SELECT submission_id, any_value(sheet) AS sheet,
           first(drug_cell ORDER BY row_no) || ':' || last(drug_cell ORDER BY row_no) AS cell_range,
           count(*) FILTER (WHERE clean) AS n, count(*) FILTER (WHERE NOT clean) AS skipped,
           coalesce(sum(a) FILTER (WHERE clean), 0) AS a, coalesce(sum(c) FILTER (WHERE clean), 0) AS c,
           coalesce(sum(e) FILTER (WHERE clean), 0) AS e, coalesce(sum(g) FILTER (WHERE clean), 0) AS g,
           coalesce(sum(i) FILTER (WHERE clean), 0) AS i, coalesce(sum(k) FILTER (WHERE clean), 0) AS k,
           coalesce(sum(o) FILTER (WHERE clean), 0) AS o
    FROM rows GROUP BY submission_id
)
SELECT * FROM final ORDER BY submission_id
"""
REVIEW_FIELDS = (("rx_sample_n", "n"), ("rx_sample_drugs", "a"), ("rx_sample_abx", "c"), ("rx_sample_inj", "e"),
                 ("rx_sample_essential", "g"), ("rx_sample_generic", "i"), ("rx_sample_amount", "k"),
                 ("rx_sample_rational", "o"))


def _review(con: duckdb.DuckDBPyConnection, ids: list[str]) -> list[dict[str, Any]]:
    """rx_sample_* items of each review return, summed in SQL (a bench return holds 1,000 rows)."""
    if not ids:
        return []
    cur = con.execute(REVIEW_SUMS_SQL, {"ids": ids})
    cols = [d[0] for d in cur.description]
    out = []
    for rec in (dict(zip(cols, r)) for r in cur.fetchall()):
        detail = f"点评处方 {rec['n']} 张" + (f"，{rec['skipped']} 行因数据错误未计入" if rec["skipped"] else "")
        for fld, key in REVIEW_FIELDS:
            out.append({"submission_id": rec["submission_id"], "field": fld, "value": float(rec[key]),
                        "sheet": rec["sheet"], "cell": rec["cell_range"], "detail": detail})
    return out


def derive_months(con: duckdb.DuckDBPyConnection, months: Iterable[str]) -> int:
    """Recompute derived_values (and the DDD line audit) for accepted detail returns of the months."""
    months = list(months)
    subs = _submissions(con, months)
    tables = _tables(con, [s.submission_id for s in subs if s.template_id == ANTIBIOTIC_TEMPLATE])
    cfg = None
    if any(s.template_id == ANTIBIOTIC_TEMPLATE for s in subs):
        from metrics.ddd.engine import load_ddd_config

        cfg = load_ddd_config()
    derived: list[dict[str, Any]] = []
    lines: list[dict[str, Any]] = []
    for sub in subs:
        if sub.template_id == ANTIBIOTIC_TEMPLATE:
            d, ln = _antibiotic(sub, tables.get((sub.submission_id, "consumption"), {}),
                                tables.get((sub.submission_id, "catalogue"), {}), cfg)
            derived += d
            lines += ln

    ids = [s.submission_id for s in subs]
    derived += _review(con, [s.submission_id for s in subs if s.template_id == REVIEW_TEMPLATE])
    with transaction(con):
        con.execute("DELETE FROM derived_values WHERE submission_id IN (SELECT submission_id FROM submissions "
                    "WHERE list_contains(?, period))", [months])
        con.execute("DELETE FROM ddd_lines WHERE submission_id IN (SELECT submission_id FROM submissions "
                    "WHERE list_contains(?, period))", [months])
        insert_rows(con, "derived_values", derived)
        insert_rows(con, "ddd_lines", lines)
    return len(ids)
