"""`jixiao explain`: the chain behind one facility's grade, from the stored tables only (nothing re-computed).

grade and rank ← composite ← each indicator's points ← rule / standardisation with the peer n, mean and SD as
stored in grading_stats ← value ← numerator and denominator ← fields ← submission (file, sha256, received) ←
sheet!cell.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import duckdb

from metrics.catalog import all_fields_by_code
from metrics.grading.scheme import load_assessment
from metrics.indicators import load_indicators
from metrics.periods import parse_period

Con = duckdb.DuckDBPyConnection


def _f(d: Any) -> str:
    return "—" if d is None else f"{d:f}" if isinstance(d, Decimal) else str(d)


def _v(x: Any) -> str:
    """A submitted value as typed: 340 not 340.0; Decimals and text unchanged."""
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    return _f(x)


def _stat(d: Decimal | None, decimals: int) -> str:
    return "—" if d is None else f"{d.quantize(Decimal(1).scaleb(-decimals)):f}"


def stats_line(row: dict[str, Any]) -> str:
    """A grading_stats row as explain prints it (mean and SD at the method's stat precision, as published)."""
    dec = row["stat_decimals"]
    if not row["standardised"]:
        return f"同组统计（{row['peer_group']}）：n = {row['n']}，未标准化：{row['reason']}"
    s = f"同组统计（{row['peer_group']}）：n = {row['n']}"
    if row["method"] in ("z", "t_score"):
        s += f"，均值 {_stat(row['mean'], dec)}，标准差 {_stat(row['sd'], dec)}（{row['sd_kind']}）"
    elif row["method"] == "minmax":
        s += f"，最小值 {_stat(row['min'], dec)}，最大值 {_stat(row['max'], dec)}"
    if row["p_low"] is not None or row["p_high"] is not None:
        s += f"，截尾 {row['cap_rule']} [{_stat(row['p_low'], dec)}, {_stat(row['p_high'], dec)}]"
    return s


def _dicts(cur: Any) -> list[dict[str, Any]]:
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def _has_table(con: Con, name: str) -> bool:
    return con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]).fetchone()[0] > 0


def submitted_cells(con: Con, facilities: list[str], months: list[str], fields: list[str]) -> list[dict[str, Any]]:
    """The submitted cells behind indicators' fields, for the listed facilities in one query: current returns of the
    period's months, with each return's version number and the bureau's latest correction of the value, if any
    (read-only: works on any schema). Rows carry facility_id; ordered by facility, month and the fields' order."""
    corr = ("SELECT submission_id, field, new_value, actor, acted_at, reason FROM latest_corrections"
            if _has_table(con, "latest_corrections") else
            "SELECT NULL::VARCHAR AS submission_id, NULL::VARCHAR AS field, NULL::DOUBLE AS new_value, "
            "NULL::VARCHAR AS actor, NULL::TIMESTAMP AS acted_at, NULL::VARCHAR AS reason WHERE FALSE")
    return _dicts(con.execute(
        f"WITH corr AS ({corr}), ver AS (SELECT submission_id, row_number() OVER (PARTITION BY facility_id, period, "
        "template_id ORDER BY received_at, submission_id) AS version FROM submissions WHERE "
        "list_contains($facilities, facility_id) AND status <> 'rejected') "
        "SELECT s.facility_id, v.field, v.value, v.raw_text, coalesce(c.new_value, v.value) AS used, v.sheet, v.cell, "
        "s.original_name, s.sha256, s.received_at, s.period, ver.version, c.actor AS corrected_by, "
        "c.acted_at AS corrected_at, c.reason AS correction_reason "
        "FROM return_values v JOIN submissions s USING (submission_id) JOIN ver USING (submission_id) "
        "LEFT JOIN corr c ON c.submission_id = v.submission_id AND c.field = v.field "
        "WHERE list_contains($facilities, s.facility_id) AND list_contains($months, s.period) "
        "AND s.status = 'accepted' AND list_contains($fields, v.field) "
        "ORDER BY s.facility_id, s.period, list_position($fields, v.field)",
        {"facilities": facilities, "months": months, "fields": fields}))


def explain(con: Con, facility: str, period: str, scheme_version: str = "2026",
            indicator: str | None = None) -> list[str]:
    """The lines `jixiao explain` prints; an empty chain says so in its first line."""
    p = parse_period(period)
    scheme = load_assessment(scheme_version)
    comp = _dicts(con.execute("SELECT * FROM composites WHERE period = ? AND scheme_version = ? AND facility_id = ?",
                              [p.code, scheme_version, facility]))
    if not comp:
        return [f"无评分结果：机构 {facility}，统计期 {p.code}，方案 {scheme_version}"]
    c = comp[0]
    lines = [f"机构 {facility}（{c['peer_group']}），统计期 {p.code}，方案 {scheme_version}",
             f"等级 {_f(c['grade'])}，名次 {_f(c['rank'])} ← 综合得分 {_f(c['composite'])}（{c['status']}）"]
    if c["reason"]:
        lines.append(f"  说明：{c['reason']}")
    scores = _dicts(con.execute("SELECT * FROM scores WHERE period = ? AND scheme_version = ? AND facility_id = ? "
                                "ORDER BY indicator", [p.code, scheme_version, facility]))
    if indicator:
        scores = [s for s in scores if s["indicator"] == indicator]
    stats = {(r["peer_group"], r["indicator"]): r for r in _dicts(con.execute(
        "SELECT * FROM grading_stats WHERE period = ? AND scheme_version = ? AND kind = 'indicator'",
        [p.code, scheme_version]))}
    catalog = load_indicators()
    labels = {f.code: f.label_zh for f in all_fields_by_code().values()}
    calibres = getattr(scheme, "calibres", {}) or {}
    for s in scores:
        code = s["indicator"]
        ind = catalog.get(code)
        lines.append(f"  ← {code} {ind.name_zh if ind else ''}：得分 {_f(s['points'])}（{s['status']}，"
                     f"权重 {_f(s['weight'])}）")
        if s["detail"]:
            lines.append(f"      ← {s['detail']}")
        st = stats.get((c["peer_group"], code)) or stats.get(("全体", code))
        if st is not None:
            lines.append(f"      ← {stats_line(st)}")
        iv = con.execute("SELECT value, status, numerator, denominator FROM indicator_values WHERE period = ? AND "
                         "facility_id = ? AND indicator = ?", [p.code, facility, code]).fetchone()
        if iv is None:
            continue
        lines.append(f"      ← 指标值 {_f(iv[0])}（{iv[1]}）← 分子 {_f(iv[2])}，分母 {_f(iv[3])}")
        if ind is None:
            continue
        fields = ind.calibre(calibres.get(code)).formula.fields()
        if not fields:
            continue
        for r in submitted_cells(con, [facility], list(p.months), list(fields)):
            label = labels.get(r["field"], "")
            lines.append(f"          ← {r['field']} {label} = {_v(r['used'])}（{r['period']}）← {r['original_name']}"
                         f"（版本 {r['version']}，sha256 {r['sha256']}，接收 {r['received_at']}）← {r['sheet']}!{r['cell']}")
            if r["corrected_at"] is not None:
                lines.append(f"              （原填 {_v(r['value']) if r['value'] is not None else r['raw_text'] or '空'}，"
                             f"{r['corrected_by']} 于 {r['corrected_at']} 更正：{r['correction_reason']}）")
    return lines
