"""Values a few row rules take from the domain code, evaluated once per distinct input (not per cell).

- val_codes: each distinct 存在问题（代码） text → official codes / unrecognised tokens (metrics.prescribing.codes).
- val_products: each distinct product of a consumption table (period year, 通用名, ATC, 剂型/给药途径, 规格,
  包装单位) → DDD status and reason (metrics.ddd.engine.ddd_units, as the derive step counts AUD) and whether
  the 剂型/给药途径 text names a route.
- val_adequacy: each review return → prescriptions counted, required, adequate (metrics.prescribing.review).

The generated SQL (expectations/compile.py) joins these tables into derived columns; GX judges the columns.
"""
from __future__ import annotations

from typing import Any

import duckdb
import pandas as pd

from expectations.compile import PRODUCT_KINDS, Rule, product_key, needs
from warehouse.db import run_sql

_CODES_COLUMNS = ["text", "n_codes", "n_unknown", "unknown"]
_PRODUCT_COLUMNS = ["year", "name", "atc", "form", "strength", "pack_unit", "status", "reason", "route_known"]
_ADEQUACY_COLUMNS = ["rule_id", "submission_id", "sampled", "required", "adequate", "reason"]


def _insert(con: duckdb.DuckDBPyConnection, table: str, columns: list[str], rows: list[tuple]) -> None:
    if not rows:
        return
    frame = pd.DataFrame(rows, columns=columns, dtype=object)
    name = f"_{table}_new"
    con.register(name, frame)
    try:
        con.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(columns)} FROM {name}")
    finally:
        con.unregister(name)


def _codes(con: duckdb.DuckDBPyConnection, rules: tuple[Rule, ...]) -> None:
    from metrics.prescribing.codes import parse_problem_codes

    cells = sorted({(r.table, c) for r in rules if r.kind == "codes_known" for c in r.fields}
                   | {(r.table, r.right[0][0]) for r in rules if r.kind == "flag_matches_codes"})
    texts: set[str] = set()
    for tbl, col in cells:
        texts |= {t for (t,) in con.execute("SELECT DISTINCT t FROM val_rows WHERE tbl = ? AND field = ?"
                                            " AND t IS NOT NULL", [tbl, col]).fetchall()}
    rows = []
    for text in sorted(texts):
        codes, unknown = parse_problem_codes(text)
        rows.append((text, len(codes), len(unknown), "、".join(unknown) or None))
    _insert(con, "val_codes", _CODES_COLUMNS, rows)


def _products(con: duckdb.DuckDBPyConnection, rules: tuple[Rule, ...]) -> None:
    from metrics.ddd.engine import ConsumptionRow, ddd_units, load_ddd_config

    keys: set[tuple] = set()
    for r in rules:
        if r.kind not in PRODUCT_KINDS:
            continue
        cols = ", ".join(f"{expr} AS {role}" for role, expr in product_key(r))
        keys |= set(con.execute(
            f"SELECT DISTINCT TRY_CAST(substr(s.finding_period, 1, 4) AS INTEGER) AS year, {cols}\n"
            f"FROM val_pivot_{r.table} AS p JOIN val_scope AS s USING (submission_id)").fetchall())
    if not keys:
        return
    cfg = load_ddd_config()
    rows = []
    for year, name, atc, form, strength, pack in sorted(k for k in keys if k[0] is not None):
        row = ConsumptionRow(generic_name=name, strength=strength, form=form, packaging_unit=pack, atc=atc or None)
        try:
            line = ddd_units(row, year, cfg)
            status, reason = line.status, line.reason
        except KeyError as e:           # no DDD table configured for the period's year
            status, reason = "not_covered", str(e.args[0] if e.args else e)
        route = None if not form else int(cfg.routes.route_of(form) is not None)
        rows.append((year, name, atc, form, strength, pack, status, reason, route))
    _insert(con, "val_products", _PRODUCT_COLUMNS, rows)


_ADEQUACY_SQL = """
WITH counted AS (
    SELECT submission_id, row_no, bool_and(status IN ('ok', 'blank_zero')) AS clean
    FROM val_rows
    WHERE tbl = $tbl AND list_contains($fields, field)
    GROUP BY submission_id, row_no
)
SELECT s.submission_id,
       count(c.row_no) FILTER (WHERE c.clean) AS sampled,
       count(c.row_no) FILTER (WHERE NOT c.clean) AS skipped,
       any_value(v.v) AS total
FROM val_scope AS s
LEFT JOIN counted AS c USING (submission_id)
LEFT JOIN val_values AS v ON v.submission_id = s.submission_id AND v.field = $total
GROUP BY s.submission_id
ORDER BY s.submission_id
"""


def _adequacy(con: duckdb.DuckDBPyConnection, rules: tuple[Rule, ...]) -> None:
    """A review return's sample against review.yaml's sampling rule (check_adequacy), per adequacy rule.

    A row counts when every cell the rule lists reads cleanly (as the derive step counts rx_sample_n); a
    return whose total is blank, unreadable, negative or fractional is left to the rules that report that.
    """
    from metrics.prescribing.review import check_adequacy

    rows: list[tuple[Any, ...]] = []
    for r in rules:
        if r.kind != "sample_adequacy":
            continue
        for sid, sampled, skipped, total in con.execute(
                _ADEQUACY_SQL, {"tbl": r.table, "fields": list(r.fields), "total": r.left}).fetchall():
            if total is None or total < 0 or total != int(total):
                continue
            a = check_adequacy(int(sampled), int(total))
            reason = a.reason_zh + (f"（另有{skipped}行因数据有误未计入）" if skipped else "")
            rows.append((r.id, sid, int(sampled), a.required, int(a.adequate), reason))
    _insert(con, "val_adequacy", _ADEQUACY_COLUMNS, rows)


def fill(con: duckdb.DuckDBPyConnection, rules: tuple[Rule, ...]) -> None:
    """Create val_codes / val_products / val_adequacy (empty) and fill those the rules need.

    Needs val_scope, val_values, val_rows and the val_pivot_* tables of the rules.
    """
    run_sql(con, "val_lookups")
    need = needs(rules)
    if "codes" in need:
        _codes(con, rules)
    if "products" in need:
        _products(con, rules)
    if "adequacy" in need:
        _adequacy(con, rules)
