"""Rows of the auditor workbook's trail sheets: rules with pass rates, review states, waivers and corrections,
修订记录 (cell changes between versions) and 评分溯源 (the explain chain of every scored facility as rows)."""
from __future__ import annotations

from collections import Counter, defaultdict
from decimal import Decimal
from typing import Any

import duckdb

from templates_xlsx.safe_text import excel_text

RULE_COLUMNS = [("报表", 10), ("规则", 26), ("类型", 16), ("代码", 22), ("严重程度", 9), ("校验报表数", 10),
                ("未通过报表数", 12), ("问题数", 8), ("通过率", 9), ("说明", 50)]
REVIEW_COLUMNS = [("机构编码", 14), ("报表", 10), ("报送编号", 20), ("文件名", 36), ("接收时间", 18), ("审核状态", 9),
                  ("未处理错误", 10), ("未处理警告", 10), ("审核人", 10), ("审核时间", 18), ("审核说明", 40)]
ACTION_COLUMNS = [("时间", 18), ("操作", 10), ("操作人", 10), ("机构编码", 14), ("报送编号", 20), ("位置", 16),
                  ("代码/字段", 22), ("原值", 14), ("新值/状态", 14), ("原因", 44)]
REVISION_COLUMNS = [("机构编码", 14), ("报表", 10), ("版本", 9), ("位置", 16), ("字段", 20), ("项目", 34),
                    ("原值", 16), ("新值", 16), ("新版本文件", 36), ("新版本接收时间", 18)]
TRACE_COLUMNS = [("机构编码", 14), ("同组", 12), ("等级", 8), ("名次", 6), ("综合得分", 10), ("指标", 8), ("得分", 9),
                 ("计分状态", 10), ("规则/依据", 50), ("指标值", 10), ("分子", 14), ("分母", 14), ("填报项", 20),
                 ("填报值", 14), ("统计月", 9), ("文件", 32), ("版本", 6), ("sha256", 20), ("接收时间", 18),
                 ("单元格", 18)]
SEVERITY_ZH = {"error": "错误", "warning": "警告", "info": "提示"}


def _dicts(cur: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def _num(x: Any) -> Any:
    if isinstance(x, Decimal):
        return float(x)
    return x


def rule_rows(con: duckdb.DuckDBPyConnection, period: str) -> list[list[Any]]:
    """Every rule of every suite whose template had returns this month: returns checked, failing, pass rate."""
    from expectations.compile import load_suites

    checked = dict(con.execute(
        "SELECT template_id, count(*) FROM submissions WHERE period = ? AND status IN ('accepted', 'received', "
        "'held') GROUP BY template_id", [period]).fetchall())
    failing: dict[tuple[str, str], set[str]] = defaultdict(set)
    counts: Counter = Counter()
    for tid, rule_id, sid in con.execute(
            "SELECT s.template_id, f.rule_id, f.submission_id FROM findings f JOIN submissions s USING "
            "(submission_id) WHERE s.period = ? AND s.status IN ('accepted', 'received', 'held') AND f.rule_id IS "
            "NOT NULL", [period]).fetchall():
        failing[(tid, rule_id)].add(sid)
        counts[(tid, rule_id)] += 1
    rows = []
    for spec in load_suites():
        tid = spec.layout().template_id
        n = checked.get(tid, 0)
        if not n:
            continue
        for r in spec.rules():
            bad = len(failing.get((tid, r.id), ()))
            rate = None if n == 0 else round(1 - bad / n, 4)
            rows.append([tid, r.id, r.kind, r.code, SEVERITY_ZH.get(r.severity, r.severity), n, bad,
                         counts.get((tid, r.id), 0), rate, excel_text(r.note or "")])
    return rows


def review_rows(con: duckdb.DuckDBPyConnection, period: str) -> list[list[Any]]:
    from warehouse.review import review_states, state_zh

    return [[excel_text(r["facility_id"]), r["template_id"], r["submission_id"], excel_text(r["original_name"]),
             r["received_at"], state_zh(r["review_state"]) if r["status"] != "rejected" else "拒收",
             r["open_errors"], r["open_warnings"], excel_text(r["reviewer"]), r["reviewed_at"],
             excel_text(r["review_reason"])]
            for r in review_states(con, period)]


def action_rows(con: duckdb.DuckDBPyConnection, period: str) -> list[list[Any]]:
    """Review events, waivers (and their revocations), corrections and outlier confirmations, in time order."""
    from warehouse.review import state_zh, trail

    t = trail(con, period)
    rows: list[tuple[Any, list[Any]]] = []
    for e in t["events"]:
        rows.append((e["acted_at"], [e["acted_at"], "审核", e["actor"], e["facility_id"], e["submission_id"], None,
                                     e["template_id"], None, state_zh(e["state"]), e["reason"]]))
    for w in t["waivers"]:
        where = f"{w['sheet']}!{w['cell']}" if w["sheet"] and w["cell"] else None
        rows.append((w["acted_at"], [w["acted_at"], "豁免", w["actor"], w["facility_id"], w["submission_id"], where,
                                     w["code"], None, "已豁免", w["reason"]]))
        if w["revoked_at"] is not None:
            rows.append((w["revoked_at"], [w["revoked_at"], "撤销豁免", w["revoked_by"], w["facility_id"],
                                           w["submission_id"], where, w["code"], None, "豁免已撤销",
                                           w["revoke_reason"]]))
    for c in t["corrections"]:
        old = c["old_value"] if c["old_value"] is not None else c["old_text"]
        rows.append((c["acted_at"], [c["acted_at"], "更正", c["actor"], c["facility_id"], c["submission_id"],
                                     f"{c['sheet']}!{c['cell']}", c["field"], old, c["new_value"], c["reason"]]))
    for c in t["confirmations"]:
        rows.append((c["acted_at"], [c["acted_at"], "确认离群值", c["actor"], c["facility_id"], None, None, c["field"],
                                     c["value_text"], "确认无误", c["reason"]]))
    rows.sort(key=lambda r: (r[0], r[1][1], r[1][4] or "", r[1][5] or ""))
    return [[excel_text(x) if isinstance(x, str) else x for x in r] for _, r in rows]


def revision_rows(con: duckdb.DuckDBPyConnection, period: str) -> list[list[Any]]:
    """修订记录: every cell changed between consecutive versions of each facility's returns for the month."""
    from warehouse.diff import diff

    fids = [r[0] for r in con.execute(
        "SELECT facility_id FROM submissions WHERE period = ? AND facility_id IS NOT NULL AND status <> 'rejected' "
        "AND parsed GROUP BY facility_id, template_id HAVING count(*) > 1 ORDER BY facility_id", [period]).fetchall()]
    rows = []
    for fid in dict.fromkeys(fids):
        vs, changes = diff(con, fid, period)
        newer = {(v.template_id, v.version): v for v in vs}
        for c in changes:
            v = newer[(c.template_id, c.to_version)]
            rows.append([excel_text(fid), c.template_id, f"{c.from_version}→{c.to_version}", c.where, c.field,
                         excel_text(c.label_zh), excel_text(c.old), excel_text(c.new), excel_text(v.original_name),
                         v.received_at])
    return rows


def trace_rows(con: duckdb.DuckDBPyConnection, period: str, scheme_version: str) -> list[list[Any]]:
    """评分溯源: per scored facility and indicator, the points, rule, value, numerator/denominator and every
    submitted cell behind it (the `jixiao explain` chain as rows)."""
    from metrics.grading.scheme import load_assessment
    from metrics.indicators import load_indicators
    from metrics.periods import parse_period
    from warehouse.explain import submitted_cells

    p = parse_period(period)
    scheme = load_assessment(scheme_version)
    calibres = getattr(scheme, "calibres", {}) or {}
    catalog = load_indicators()
    comps = {c["facility_id"]: c for c in _dicts(con.execute(
        "SELECT facility_id, peer_group, grade, rank, composite FROM composites WHERE period = ? AND "
        "scheme_version = ?", [p.code, scheme_version]))}
    scores = _dicts(con.execute(
        "SELECT s.facility_id, s.indicator, s.points, s.status, s.detail, v.value, v.numerator, v.denominator "
        "FROM scores s LEFT JOIN indicator_values v ON v.period = s.period AND v.facility_id = s.facility_id AND "
        "v.indicator = s.indicator WHERE s.period = ? AND s.scheme_version = ? ORDER BY s.facility_id, s.indicator",
        [p.code, scheme_version]))
    fields_of = {}
    for code, ind in catalog.items():
        try:
            fields_of[code] = list(ind.calibre(calibres.get(code)).formula.fields())
        except Exception:  # an indicator without a formula over fields (external, survey-based)
            fields_of[code] = []
    all_fields = sorted({f for fs in fields_of.values() for f in fs})
    sources: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for r in submitted_cells(con, sorted(comps), list(p.months), all_fields):
        sources[r["facility_id"]][r["field"]].append(r)
    rows = []
    for s in scores:
        c = comps.get(s["facility_id"], {})
        head = [excel_text(s["facility_id"]), excel_text(c.get("peer_group")), c.get("grade"), c.get("rank"),
                _num(c.get("composite")), s["indicator"], _num(s["points"]), s["status"], excel_text(s["detail"]),
                _num(s["value"]), s["numerator"], s["denominator"]]
        cells = [r for f in fields_of.get(s["indicator"], []) for r in sources[s["facility_id"]].get(f, [])]
        if not cells:
            rows.append(head + [None] * 8)
        for r in cells:
            rows.append(head + [r["field"], r["used"], r["period"], excel_text(r["original_name"]), r["version"],
                                r["sha256"], r["received_at"], f"{r['sheet']}!{r['cell']}"])
    return rows
