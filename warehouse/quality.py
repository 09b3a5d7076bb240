"""The month's data-quality review in the warehouse: outliers detected over time and across peers (metrics.quality),
ranked by their effect on composites, stored in quality_outliers and raised as findings (stage quality) on the
submitted cells. Reruns replace the month's rows."""
from __future__ import annotations

from typing import Any

import duckdb
import pandas as pd

from warehouse.db import insert_rows, transaction

STAGE = "quality"


def _row(period: str, o: Any, imp: Any | None, order: int | None, scheme_version: str | None) -> dict[str, Any]:
    return {"period": period, "facility_id": o.facility_id, "field": o.field, "method": o.method, "rule": o.rule or "",
            "level": o.level, "peer_group": o.peer_group, "value": o.value, "reference": o.reference,
            "statistic": o.statistic, "peer_n": o.peer_n, "suggested": o.suggested, "code": o.code,
            "severity": o.severity, "confirmed": bool(o.confirmed), "detail_zh": o.detail_zh,
            "scheme_version": scheme_version if imp is not None else None,
            "scored": None if imp is None else bool(imp.scored),
            "composite": None if imp is None else imp.composite,
            "composite_new": None if imp is None else imp.composite_new,
            "delta": None if imp is None else imp.delta, "rank": None if imp is None else imp.rank,
            "rank_new": None if imp is None else imp.rank_new, "impact_order": order,
            "note_zh": None if imp is None else imp.note_zh}


def review_month(con: duckdb.DuckDBPyConnection, period: str, scheme_version: str | None) -> dict[str, int]:
    """Detect the month's outliers, rank them by their effect on composites and ranks under the scheme (rule points
    or standardised), store them and their findings; returns counts."""
    from metrics.quality.outliers import to_findings
    from warehouse.outliers import detect_period, impact_period, read_cells

    outliers = detect_period(con, period)
    ranked: list[tuple[Any, Any]] = []
    measured = None
    if scheme_version and outliers:
        ranked = impact_period(con, period, outliers, scheme_version)
        measured = scheme_version
    order = {id(o): (i, imp) for i, (o, imp) in enumerate(ranked, start=1)}
    rows = [_row(period, o, order.get(id(o), (None, None))[1], order.get(id(o), (None, None))[0], measured)
            for o in outliers]
    rows.sort(key=lambda r: (r["impact_order"] is None, r["impact_order"] or 0, r["facility_id"], r["field"],
                             r["method"], r["rule"]))
    findings = to_findings(outliers, read_cells(con, period))
    frows = pd.DataFrame([f.as_row() for f in findings]).drop_duplicates("finding_id") if findings else None
    with transaction(con):
        con.execute("DELETE FROM quality_outliers WHERE period = ?", [period])
        con.execute("DELETE FROM findings WHERE stage = ? AND period = ?", [STAGE, period])
        if rows:
            insert_rows(con, "quality_outliers", rows)
        if frows is not None:
            frows = frows.astype(object).where(frows.notna(), None)
            insert_rows(con, "findings", frows.to_dict("records"))
    return {"outliers": len(outliers), "ranked": len(ranked), "findings": 0 if frows is None else len(frows)}


OUTLIER_COLUMNS = [("影响排序", 8), ("机构编码", 14), ("同组", 12), ("字段", 20), ("方法", 12), ("级别", 8),
                   ("填报值", 14), ("参照值", 14), ("统计量", 10), ("同组机构数", 10), ("建议值", 14),
                   ("现综合得分", 10), ("替换后综合得分", 12), ("综合得分变化", 12), ("现名次", 8), ("替换后名次", 10),
                   ("已确认", 8), ("说明", 60)]
METHOD_ZH = {"yoy": "同比", "peer_mad": "同组稳健z", "peer_z": "同组z分数", "own_history": "自身历史",
             "magnitude": "数量级", "pair": "关联指标"}
LEVEL_ZH = {"moderate": "中度", "extreme": "极端", "warning": "警告"}


def outlier_rows(con: duckdb.DuckDBPyConnection, period: str) -> list[list[Any]]:
    """The auditor workbook's 离群值 sheet: every outlier of the month, the largest effect on a composite first."""
    from metrics.catalog import all_fields_by_code
    from templates_xlsx.safe_text import excel_text

    labels = {f.code: f.label_zh for f in all_fields_by_code().values()}
    out = []
    for r in con.execute("SELECT * FROM quality_outliers WHERE period = ? ORDER BY impact_order IS NULL, impact_order, "
                         "facility_id, field, method, rule", [period]).fetchall():
        d = dict(zip([c[0] for c in con.description], r))
        f = lambda x: None if x is None else float(x)  # noqa: E731
        out.append([d["impact_order"], excel_text(d["facility_id"]), excel_text(d["peer_group"]),
                    f"{labels.get(d['field'], d['field'])}（{d['field']}）", METHOD_ZH.get(d["method"], d["method"]),
                    LEVEL_ZH.get(d["level"], d["level"]), d["value"], d["reference"],
                    None if d["statistic"] is None else round(d["statistic"], 2), d["peer_n"], d["suggested"],
                    f(d["composite"]), f(d["composite_new"]), f(d["delta"]), d["rank"], d["rank_new"],
                    "是" if d["confirmed"] else "否", excel_text(d["detail_zh"] or d["note_zh"])])
    return out
