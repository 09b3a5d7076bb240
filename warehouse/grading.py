"""DB glue for the grading engine: stored indicator values → metrics.grading.grade() → scores, composites and
grading_stats under the scheme's version (schemes with a `method:` block; rule points stay in warehouse.compute)."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import duckdb

from metrics.grading import FacilityResult, GradingResult, IndicatorResult, Observation, PeerStats, grade
from metrics.grading.results import Event
from metrics.grading.scheme import MethodScheme
from metrics.indicators import IndicatorValue
from metrics.periods import Period
from metrics.scoring import MONITOR, NOT_SCORED, SCORED, UNGROUPED, CompositeRow, ScoreRow
from warehouse.db import insert_rows, run_sql, transaction

Con = duckdb.DuckDBPyConnection
REVIEW_SAMPLE = {f"HL{i:02d}" for i in range(7, 14)}     # 处方点评 indicators: the reviewed sample behind them
STD_ZH = {"z": "z 分数", "t_score": "T 分数", "minmax": "极差标准化", "percentile_rank": "百分位秩"}
SD_ZH = {"population": "总体标准差（÷n）", "sample": "样本标准差（÷(n−1)）"}


def _review_samples(con: Con, p: Period) -> dict[str, int]:
    """Reviewed prescriptions over the period per facility (None-free months only)."""
    from warehouse.prescribing import samples

    out = {}
    for fid, fs in samples(con, p).items():
        ns = [m.get("n") for m in fs.months.values()]
        if ns and all(n is not None for n in ns):
            out[fid] = sum(ns)
    return out


def observations(values: list[IndicatorValue], review: dict[str, int]) -> list[Observation]:
    """The engine's inputs: value, status, numerator/denominator and, where there is one, the sample size."""
    out = []
    for iv in values:
        sample = None
        if iv.indicator.startswith("MY") and iv.denominator is not None:
            sample = int(iv.denominator)            # satisfaction: the valid questionnaires behind the index
        elif iv.indicator in REVIEW_SAMPLE:
            sample = review.get(iv.facility_id)
        out.append(Observation(iv.facility_id, iv.indicator, iv.value, iv.status, iv.numerator, iv.denominator,
                               sample))
    return out


def _f(d: Decimal | None) -> str:
    return "—" if d is None else f"{d:f}"


def stats_text(st: PeerStats) -> str:
    """The peer statistics behind a standardised value, as published (used verbatim by `jixiao explain`)."""
    scope = f"同组（{st.scope}）" if st.scope != "全体" else "全体"
    if not st.standardised:
        return f"{scope} n = {st.n}，未标准化：{st.reason}"
    parts = [f"{scope} n = {st.n}"]
    if st.method in ("z", "t_score"):
        parts.append(f"均值 {_f(st.mean)}，标准差 {_f(st.sd)}（{SD_ZH.get(st.sd_kind or '', st.sd_kind)}）")
    elif st.method == "minmax":
        parts.append(f"最小值 {_f(st.min)}，最大值 {_f(st.max)}")
    if st.cap_low is not None or st.cap_high is not None:
        parts.append(f"截尾 {st.cap_rule}：[{_f(st.cap_low)}, {_f(st.cap_high)}]，截尾 {st.n_capped} 家")
    return "，".join(parts)


def _detail(r: IndicatorResult) -> str:
    if r.reason and not r.scored:
        head = f"指标值 {_f(r.raw)}；{r.reason}" if r.raw is not None else r.reason
        return head + (f"；{stats_text(r.stats)}" if r.stats is not None else "")
    bits = [f"指标值 {_f(r.raw)}，定向值 {_f(r.oriented)}"]
    if r.capped:
        bits.append(f"截尾为 {_f(r.used)}")
    if r.stats is not None:
        bits.append(stats_text(r.stats))
        if r.stats.method in ("z", "t_score") and r.stats.mean is not None:
            bits.append(f"{STD_ZH[r.stats.method]} = ({_f(r.used)} − {_f(r.stats.mean)}) / {_f(r.stats.sd)}"
                        + (" × 10 + 50" if r.stats.method == "t_score" else "") + f" = {_f(r.standardised)}")
        elif r.stats.method == "percentile_rank":
            bits.append(f"较差 {r.rank_below} 家，同值 {r.rank_ties} 家，百分位秩 {_f(r.standardised)}")
        else:
            bits.append(f"{STD_ZH.get(r.stats.method, r.stats.method)} {_f(r.standardised)}")
    elif r.points is not None:
        bits.append(f"规则得分 {_f(r.points)}，折算 {_f(r.standardised)}")
    elif r.improvement is not None:
        bits.append(f"达标分 {_f(r.improvement.achievement)}，改善分 {_f(r.improvement.improvement)}，"
                    f"取{'改善' if r.improvement.used == 'improvement' else '达标'}分 {_f(r.standardised)}")
    return "；".join(bits)


def _reason(f: FacilityResult) -> str | None:
    notes = [f.reason] if f.reason else []
    for v in f.vetoes:
        notes.append(f"一票否决 {v.code} {v.name_zh}：{v.detail}，等级由 {f.grade_before_veto or '无'} 限为 "
                     f"{v.cap_grade}")
    for b in f.bonuses:
        notes.append(f"加分 {b.code} {b.name_zh} × {b.count}：{_f(b.points)}")
    for t in f.tie_breaks:
        notes.append(f"同分决胜：{t.breaker} = {t.value}（与 {'、'.join(t.tied_with)} 同分）")
    return "；".join(notes) or None


def _stats_row(period: str, version: str, kind: str, st: PeerStats, stat_decimals: int) -> dict[str, Any]:
    return {"period": period, "scheme_version": version, "peer_group": st.scope, "indicator": st.indicator,
            "kind": kind, "method": st.method, "n": st.n, "standardised": st.standardised, "reason": st.reason,
            "mean": st.mean, "sd": st.sd, "sd_kind": st.sd_kind, "min": st.min, "max": st.max,
            "p_low": st.cap_low, "p_high": st.cap_high, "cap_rule": st.cap_rule, "n_capped": st.n_capped,
            "stat_decimals": stat_decimals}


def result_rows(result: GradingResult, scheme: MethodScheme) -> tuple[list[ScoreRow], list[CompositeRow]]:
    """The engine's result as rows of the shared scores and composites tables."""
    items = {it.indicator: it for it in scheme.method.items}
    pg_of = {f.facility_id: f.peer_group for f in result.facilities}
    score_rows = []
    for r in result.indicators:
        pg = pg_of.get(r.facility_id) or UNGROUPED
        it = items[r.indicator]
        monitor = it.mode(pg) == "monitor"
        status = MONITOR if monitor else SCORED if r.scored else NOT_SCORED
        score_rows.append(ScoreRow(r.facility_id, pg, r.indicator, Decimal(0) if monitor else it.weight_for(pg),
                                   None, r.standardised if r.scored else None, status,
                                   r.reason if monitor else _detail(r)))
    composites = []
    for f in result.facilities:
        status = SCORED if f.composite is not None else NOT_SCORED
        composites.append(CompositeRow(f.facility_id, f.peer_group or UNGROUPED, f.composite, f.rank, f.grade,
                                       None, status, _reason(f)))
    composites.sort(key=lambda c: (c.peer_group, c.rank is None, c.rank or 0, c.facility_id))
    return score_rows, composites


def period_events(con: Con, p: Period) -> list[Event]:
    """The veto/bonus facts the bureau recorded for the period (grading_events, not revoked)."""
    return [Event(fid, code, int(n), note or "") for fid, code, n, note in con.execute(
        "SELECT facility_id, code, sum(count), string_agg(note, '；' ORDER BY recorded_at, event_id) FROM grading_events "
        "WHERE period = ? AND revoked_at IS NULL GROUP BY facility_id, code ORDER BY facility_id, code",
        [p.code]).fetchall()]


def uses_improvement(scheme: MethodScheme) -> bool:
    return any(it.score == "improvement" for it in scheme.method.items)


def baseline_observations(con: Con, p: Period, scheme: MethodScheme) -> list[Observation]:
    """The baseline period's stored indicator values for improvement scoring (the scheme's improvement.baseline:
    the previous period, which every monthly run computes, or the same period last year); none when no item scores
    improvement."""
    if not uses_improvement(scheme):
        return []
    from metrics.periods import previous_period, same_period_last_year
    from warehouse.compute import read_indicator_values

    which = scheme.method.improvement.baseline
    base = previous_period(p) if which == "previous_period" else same_period_last_year(p)
    return observations(read_indicator_values(con, base), _review_samples(con, base))


def grade_period(con: Con, p: Period, scheme: MethodScheme, values: list[IndicatorValue],
                 peer_groups: dict[str, str | None], targets: dict[tuple[str, str], Decimal]
                 ) -> tuple[list[ScoreRow], list[CompositeRow]]:
    """Grade the period's stored values under a method scheme; replace its scores, composites and grading_stats."""
    result = grade(scheme.method, peer_groups, observations(values, _review_samples(con, p)), targets=targets,
                   baseline=baseline_observations(con, p, scheme), events=period_events(con, p))
    score_rows, composites = result_rows(result, scheme)
    dec = scheme.method.precision.stat
    stats = ([_stats_row(p.code, scheme.version, "indicator", st, dec) for st in result.peer_stats.values()]
             + [_stats_row(p.code, scheme.version, "group", st, dec) for st in result.group_stats.values()])
    with transaction(con):
        run_sql(con, "ind_delete_scores", period=p.code, scheme_version=scheme.version)
        run_sql(con, "ind_delete_composites", period=p.code, scheme_version=scheme.version)
        run_sql(con, "grd_delete_stats", period=p.code, scheme_version=scheme.version)
        if score_rows:
            insert_rows(con, "scores", [r.as_row(p.code, scheme.version) for r in score_rows])
        if composites:
            insert_rows(con, "composites", [r.as_row(p.code, scheme.version) for r in composites])
        if stats:
            insert_rows(con, "grading_stats", stats)
    return score_rows, composites


def record_event(con: Con, period: str, facility: str, code: str, note: str, actor: str, scheme: MethodScheme,
                 count: int = 1, now: Any = None) -> Any:
    """Record a fact a veto or bonus item of the scheme names (e.g. major_safety_incident) for a facility and period;
    the next scoring of the period applies it. Returns a warehouse.review.Outcome."""
    import datetime as dt
    import hashlib

    from metrics.periods import parse_period
    from warehouse.review import Outcome

    named = {it.event: f"{it.code} {it.name_zh}" for it in (*scheme.method.veto, *scheme.method.bonus.items)}
    if code not in named:
        known = "、".join(f"{k}（{v}）" for k, v in sorted(named.items())) or "无"
        return Outcome(False, f"方案 {scheme.version} 的否决项与加分项没有事件「{code}」；可用：{known}")
    if not note.strip() or not actor.strip():
        return Outcome(False, "须填写事件说明及依据（--note）和登记人（--by）")
    if count < 1:
        return Outcome(False, "次数须为正整数")
    p = parse_period(period)
    at = (now or dt.datetime.now()).replace(microsecond=0)
    eid = hashlib.sha256(f"{p.code}|{facility}|{code}|{note}|{actor}|{at.isoformat()}".encode()).hexdigest()[:20]
    con.execute("INSERT INTO grading_events VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL)",
                [eid, p.code, facility, code, count, note, actor, at])
    return Outcome(True, f"已登记 {facility} {p.code} 事件 {code}（{named[code]}）；重新运行该期评分后生效", eid)
