"""The monthly run's stages as plain functions (no Prefect): tests and the flow both call these."""
from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from flows.settings import Settings
from warehouse import load
from warehouse.db import connect, run_sql
from warehouse.pseudonym import load_key



_OPEN: dict[str, Any] = {}


def _cursor(settings: Settings):
    """A cursor on the run's one warehouse connection: stages share it, so the file is opened, migrated and
    checkpointed once per run rather than once per stage."""
    key = str(settings.warehouse_path)
    if key not in _OPEN:
        _OPEN[key] = connect(settings.warehouse_path)
    return _OPEN[key].cursor()


def close_warehouse(settings: Settings) -> None:
    """Close the shared connection (checkpointing the file) so other processes may open it."""
    con = _OPEN.pop(str(settings.warehouse_path), None)
    if con is not None:
        con.close()


@dataclass
class RunSummary:
    run_id: str
    period: str
    inbox: str
    files: int = 0
    new_files: int = 0
    duplicates: int = 0
    values_loaded: int = 0
    expected: int = 0
    received: int = 0
    scored: int = 0
    superseded: int = 0
    findings_by_severity: dict[str, int] = field(default_factory=dict)
    not_scored: list[tuple[str, str]] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage, for bench/


def start_run(settings: Settings, period: str, inbox: Path) -> RunSummary:
    """Record a run row (the only table a rerun appends to)."""
    run = RunSummary(run_id=uuid.uuid4().hex[:12], period=period, inbox=str(inbox))
    con = _cursor(settings)
    try:
        con.execute("INSERT INTO runs VALUES (?, ?, ?, ?, NULL, 'running', NULL)",
                    [run.run_id, period, str(inbox), dt.datetime.now()])
    finally:
        con.close()
    return run


def discover(inbox: Path) -> list[load.InboxItem]:
    """Every candidate return under the inbox, with its receipt time."""
    return load.discover(inbox)


def archive_register(settings: Settings, period: str,
                     items: list[load.InboxItem]) -> tuple[list[load.Registered], int]:
    """Archive raw bytes and register submissions; returns registrations and the number of duplicates."""
    con = _cursor(settings)
    try:
        # a quarter/year run states no single month: files are then judged by their own folder only
        filed_for = period if re.fullmatch(r"\d{4}-\d{2}", period) else None
        regs, dup_findings = load.archive_and_register(con, settings.archive_dir, items, filed_for)
        load.insert_findings(con, dup_findings)
    finally:
        con.close()
    return regs, len(dup_findings)


def parse(settings: Settings, regs: list[load.Registered],
          progress: Callable[[int], None] | None = None) -> list[tuple[load.Registered, Any]]:
    """Parse new submissions in sandboxed worker processes (archived copies, never the inbox files)."""
    from templates_xlsx.sandbox import parse_many

    todo = [r for r in regs if r.is_new]
    parsed = parse_many([(r.stored_path, r.item.rel_name) for r in todo], workers=settings.parse_workers,
                        timeout_s=settings.parse_timeout_s, memory_mb=settings.parse_memory_mb,
                        progress=progress)
    return list(zip(todo, parsed))


def load_parsed(settings: Settings, batch: list[tuple[load.Registered, Any]]) -> int:
    """Load a batch of parsed returns into the warehouse."""
    con = _cursor(settings)
    try:
        return load.load_batch(con, batch, pseudonym_key=load_key(settings.home))
    finally:
        con.close()


def registered_ids(regs: list[load.Registered]) -> list[str]:
    """Distinct submission ids of a run's registrations, in inbox order."""
    return list(dict.fromkeys(r.submission_id for r in regs))


def validated_templates() -> list[str]:
    """Template ids with a GX suite: templates_xlsx/layouts/<name>.yaml ↔ expectations/suites/<name>.json."""
    import yaml

    from expectations.compile import SUITES_DIR
    from templates_xlsx.layout import LAYOUT_DIR

    return sorted(yaml.safe_load(p.read_text(encoding="utf-8"))["template_id"]
                  for p in LAYOUT_DIR.glob("*.yaml") if (SUITES_DIR / f"{p.stem}.json").exists())


def validate(settings: Settings, period: str, submission_ids: list[str],
             run_id: str | None = None) -> tuple[int, int]:
    """One GX validation over the run's whole batch, then supersession; returns (findings, superseded).

    With a run id, the findings of the run's months as they stand afterwards are kept in the validation history.
    """
    from expectations.validate import validate as gx_validate
    from metrics.periods import parse_period
    from warehouse.publication import hold_late_returns
    from warehouse.review import record_validation

    con = _cursor(settings)
    try:
        docs = settings.out_dir / period / "data_docs"
        res = gx_validate(con, settings.gx_dir, docs, period=None, submission_ids=submission_ids)
        run_sql(con, "load_accept_unvalidated", validated_templates=validated_templates())
        # a month frozen by publication holds the returns received for it since (until a reopen)
        hold_late_returns(con, submission_ids)
        superseded = load.supersede(con)
        if run_id:
            for month in parse_period(period).months:
                record_validation(con, run_id, month)
    finally:
        con.close()
    return len(res.findings), superseded


def assessed_periods(period: str) -> list[str]:
    """The period and the one before it (its ranks give the report's rank change)."""
    from metrics.periods import parse_period, previous_period

    p = parse_period(period)
    return [previous_period(p).code, p.code]


def compute(settings: Settings, periods: list[str], scheme_version: str,
            timings: dict[str, float] | None = None) -> dict[str, int]:
    """Indicator values for each period (stored in indicator_values); returns how many per period.

    `timings` (the run's) gets the seconds spent in sub-stages worth reporting on their own (satisfaction).
    """
    from metrics.grading.scheme import load_assessment
    from warehouse.compute import compute_period

    from metrics.periods import parse_period
    from warehouse.derive import derive_months

    scheme = load_assessment(scheme_version)  # rule points (metrics.scoring) or a method block (metrics.grading)
    con = _cursor(settings)
    try:
        # items derived from detail rows (DDD units, review-sample sums) are recomputed from the rows each run
        derive_months(con, sorted({m for q in periods for m in parse_period(q).months}))
        return {q: len(compute_period(con, q, scheme, timings=timings)) for q in periods}
    finally:
        con.close()


def score(settings: Settings, periods: list[str], scheme_version: str) -> dict[str, int]:
    """Scores, composites, ranks and grades for each period; returns how many facilities were scored."""
    from metrics.grading.scheme import load_assessment
    from warehouse.compute import score_period

    scheme = load_assessment(scheme_version)
    con = _cursor(settings)
    try:
        return {q: sum(c.status == "scored" for c in score_period(con, q, scheme)[1]) for q in periods}
    finally:
        con.close()


def quality(settings: Settings, period: str, scheme_version: str) -> dict[str, int]:
    """The month's data-quality review: outliers over time and across peers, ranked by impact on composites,
    stored and raised as findings (a quarter or year run reviews each of its months)."""
    from metrics.periods import parse_period
    from warehouse.quality import review_month

    con = _cursor(settings)
    try:
        totals: dict[str, int] = {}
        for m in parse_period(period).months:
            for k, v in review_month(con, m, scheme_version).items():
                totals[k] = totals.get(k, 0) + v
        return totals
    finally:
        con.close()


def stability_notes(con: Any, period: str, scheme_version: str) -> list[str]:
    """The 说明 lines of the stability table: grade changes when each group weight moves ±5 percentage points, and
    grade changes versus the previous period (warehouse.sensitivity; nothing is written)."""
    from warehouse.sensitivity import note_rows, stability

    return [f"{k}：{v}" if v else k for k, v in note_rows(stability(con, period, scheme_version))]


def record_assessment(settings: Settings, period: str, scheme_version: str, run_id: str | None = None) -> dict[str, Any]:
    """Record the period's scoring under the scheme as a labelled assessment run (draft; the same run again when
    nothing changed; a published run is never rewritten). Returns label, state and whether it was created."""
    from warehouse.publication import record_run

    con = _cursor(settings)
    try:
        r = record_run(con, period, scheme_version, run_id)
    finally:
        con.close()
    return {"label": r.label, "state": r.state, "created": r.created, "identical_to": r.identical_to}


def run_notes(con: Any, period: str, scheme_version: str) -> list[str]:
    """The 说明 lines naming the assessment run a report shows: label, state, and the digests it was made from."""
    from warehouse.publication import STATE_ZH, latest

    r = latest(con, period, scheme_version)
    if r is None:
        return []
    state = STATE_ZH.get(r["state"], r["state"])
    when = f"，发布于 {r['published_at']}（{r['published_by']}）" if r["state"] == "published" else "，尚未发布"
    return [f"评分批次 {r['label']}：{state}{when}。",
            f"可复现性：方案文件 sha256 {r['scheme_sha256'][:16]}…，指标与字段目录 sha256 {r['catalog_sha256'][:16]}…，"
            f"输入数据（{r['n_submissions']} 份当前报表及更正、豁免、基期数据）sha256 {r['data_sha256'][:16]}…；"
            f"相同输入重新评分得到相同结果（结果摘要 {r['result_sha256'][:16]}…）。"]


def alliances(settings: Settings, periods: list[str], scheme_version: str) -> dict[str, int]:
    """The medical-alliance (医共体) layer of each period: indicators from members and county, scores, ranks."""
    from warehouse.alliance import alliance_period

    con = _cursor(settings)
    try:
        return {q: alliance_period(con, q, scheme_version)["scored"] for q in periods}
    finally:
        con.close()


def _rows(cur) -> list[dict[str, Any]]:
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def satisfaction_notes() -> tuple[list[str], str]:
    """The 满意度 sheet's statement of method (from the settings file), and the suppression note."""
    from metrics.satisfaction.questionnaire import load_questionnaires, load_settings
    from metrics.satisfaction.score import suppressed_note

    st = load_settings()
    versions = "、".join(sorted({q.version for q in load_questionnaires().values()}))
    notes = [
        f"计分方法：各条目按量表换算为 0–100 分（1–5 分量表为 (x−1)×25，0–10 分量表为 x×10，反向题反向计分），维度内取均值，"
        f"按维度权重得个人总分，机构得分为有效问卷个人总分的均值，附 {st.ci_level:.0%} 置信区间（t 分布）。问卷版本 {versions}。",
        f"评分窗口：月度考核取截至本月的滚动 {st.window_months} 个月，季度、年度取本期各月。"
        f"每类调查有效问卷少于 {st.min_valid} 份时标记“样本量不足”，该指标按方案的缺失值规则处理（权重重新分配）。",
        f"空答条目超过 {st.max_blank_share:.0%} 的问卷视为不完整，不计入；所有条目作答相同的问卷标记为疑似雷同作答"
        f"（{'不计入' if st.straight_line_exclude else '计入并提示'}）；问卷编号重复的只计第一份。",
        f"本院问卷与满意度调查平台数据均有时，优先采用{'平台数据' if st.precedence == 'platform' else '本院问卷'}。",
        f"医务人员调查匿名：本报告只含汇总结果，少于 {st.suppress_below} 人的任何细分结果不予显示。",
        (f"已启用小样本收缩：得分向同组均值收缩，(n×得分 + {st.shrinkage_prior_n}×同组均值)/(n + {st.shrinkage_prior_n})，"
         "表中同时列出收缩前得分。") if st.shrinkage_enabled else "未启用小样本收缩：得分按实测值发布。",
    ]
    return notes, suppressed_note(st)


def _alliance_report(con: Any, period: str, prev_period: str | None, scheme_version: str) -> Any:
    from metrics.alliance import load_alliance_indicators
    from metrics.periods import parse_period
    from metrics.scoring import load_scheme
    from templates_xlsx.report_alliance import AllianceIndicatorMeta, AllianceReport
    from warehouse.alliance import ORG_KIND
    from warehouse.db import sql_text

    p = parse_period(period)
    scheme = load_scheme(scheme_version)
    used = {it.indicator for items in scheme.groups.values() for it in items}
    cat = load_alliance_indicators()
    metas = [AllianceIndicatorMeta(i.code, i.name_zh, i.unit, i.decimals, i.direction, i.note_zh)
             for i in cat.indicators.values() if i.code in used]
    nxt = p.end_date + dt.timedelta(days=1)
    league = _rows(con.execute(sql_text("rpt_alliance_league"), {"period": period, "prev_period": prev_period,
                                                                 "scheme": scheme_version, "period_end": p.end_date}))
    return AllianceReport(
        scheme_version=scheme.version, scheme_name=scheme.name_zh, indicators=metas, league=league,
        values=_rows(con.execute(sql_text("rpt_alliance_values"), {"period": period, "scheme": scheme_version})),
        contributions=_rows(con.execute(sql_text("rpt_alliance_contributions"), {"period": period})),
        members=_rows(con.execute(sql_text("rpt_alliance_members"), {"org_kind": ORG_KIND, "period_start": p.start_date,
                                                                     "period_next": nxt})),
        notes=["医共体指标按统计期内各成员、各月的分子分母合计计算（比值之和，不取成员或月份比值的平均）；成员自加入当月起计入；"
               "县域指标取医共体所在区县的县域月报。牵头医院的医院绩效得分另见医院排名表。"] + scheme_notes(scheme))


DEFAULT_SCHEME = "2026"   # the scheme `jixiao run` uses unless told otherwise


def ranked_name(period: str, scheme_version: str) -> str:
    """排名报告_<period>.xlsx under the default scheme; 排名报告_<period>_<scheme>.xlsx under any other, so runs of one
    period under two schemes keep both workbooks."""
    suffix = "" if scheme_version == DEFAULT_SCHEME else "_" + re.sub(r"[^0-9A-Za-z_.-]", "_", scheme_version)
    return f"排名报告_{period}{suffix}.xlsx"


def report(settings: Settings, run: RunSummary, scheme_version: str, prev_period: str | None,
           alliance_scheme: str | None = None) -> dict[str, str]:
    """Write the ranked workbook and the auditor workbook under out/<period>/; fill coverage counts."""
    import pandas as pd

    from metrics.indicators import load_indicators
    from metrics.grading.scheme import assessed_groups, load_assessment
    from metrics.periods import parse_period
    from templates_xlsx.audit_report import write_audit_workbook
    from templates_xlsx.layout import files_a_return
    from templates_xlsx.report import IndicatorMeta, ReportData, write_ranked_workbook
    from warehouse.db import sql_text
    from warehouse.prescribing import rational_rows, uncovered_rows
    from warehouse.registry import facilities_for_period

    period = run.period
    p = parse_period(period)
    scheme = load_assessment(scheme_version)
    assessed = assessed_groups(scheme)
    out_dir = settings.out_dir / period
    con = _cursor(settings)
    try:
        # the hospital scheme's coverage: facilities of its peer groups (or of no known group, listed as 未分组);
        # grassroots centres and county bureaus file for the alliance layer and are covered on its sheets
        facs = [f for f in facilities_for_period(con, p.months[-1])
                if files_a_return(f) and (f["peer_group"] is None or f["peer_group"] in assessed)]
        expected = pd.DataFrame([{k: f[k] for k in ("facility_id", "name", "peer_group")} for f in facs],
                                columns=["facility_id", "name", "peer_group"])
        con.register("_expected", expected)
        cov_rows = _rows(con.execute(sql_text("rpt_coverage"),
                                     {"months": p.months, "period": period, "scheme": scheme_version}))
        con.unregister("_expected")
        not_scored = []
        for r in cov_rows:
            if r["composite_status"] == "scored":
                continue
            if r["months_accepted"] < len(p.months):
                if r["rejected"]:
                    reason = "报表被退回（文件级错误）"
                elif r["stated_period"]:
                    reason = f"报表统计期填写为 {r['stated_period']}，本期无有效报表"
                else:
                    reason = "未收到本期有效报表" if len(p.months) == 1 else "统计期内报表不全"
            else:
                reason = r["reason"] or "未评分"
            not_scored.append((r["facility_id"], r["name"], reason))
        run.expected = len(cov_rows)
        run.received = sum(1 for r in cov_rows if r["months_accepted"] >= len(p.months))
        run.scored = sum(1 for r in cov_rows if r["composite_status"] == "scored")
        run.not_scored = [(a, c) for a, _, c in not_scored]
        league = _rows(con.execute(sql_text("rpt_league"),
                                   {"period": period, "prev_period": prev_period, "scheme": scheme_version}))
        ind_rows = _rows(con.execute(sql_text("rpt_indicators"), {"period": period, "scheme": scheme_version}))
        cutoff = con.execute("SELECT max(received_at) FROM submissions WHERE list_contains(?, period) "
                             "AND status = 'accepted'", [p.months]).fetchone()[0]
        sections = scheme_sections(scheme)
        metas = [IndicatorMeta(i.code, i.name_zh, i.unit, i.decimals, i.direction, i.nat_no)
                 for i in load_indicators().values() if i.code in sections]
        by_id = {f["facility_id"]: f for f in facs}
        league_facs = [by_id.get(r["facility_id"], {"facility_id": r["facility_id"], "name": r["name"]})
                       | {"peer_group": r["peer_group"]} for r in league]
        rational = rational_rows(con, p, league_facs, ind_rows) if "合理用药" in sections.values() else []
        from metrics.satisfaction.questionnaire import load_questionnaires

        qs = load_questionnaires()
        dim_zh = {(q.code, d.code): d.name_zh for q in qs.values() for d in q.dimensions}
        order = {k: i for i, k in enumerate(dim_zh)}  # questionnaire order: surveys as filed, dimensions as asked
        sat = _rows(con.execute(sql_text("rpt_satisfaction"), {"period": period}))
        sat_dims = sorted((d | {"dimension_zh": dim_zh.get((d["survey"], d["dimension"]), d["dimension"])}
                           for d in _rows(con.execute(sql_text("rpt_satisfaction_dims"), {"period": period}))),
                          key=lambda d: (d["facility_id"], order.get((d["survey"], d["dimension"]), len(order))))
        sat_notes, sat_suppressed = satisfaction_notes()
        alliance = _alliance_report(con, period, prev_period, alliance_scheme) if alliance_scheme else None
        data = ReportData(period=period, prev_period=prev_period, scheme_version=scheme_version,
                          run_id=run.run_id, data_cutoff=str(cutoff or "无"), league=league,
                          indicator_rows=ind_rows, indicators=metas,
                          coverage={"expected": run.expected, "received": run.received, "scored": run.scored,
                                    "not_scored": not_scored},
                          notes=run_notes(con, period, scheme_version) + scheme_notes(scheme)
                          + stability_notes(con, period, scheme_version), sections=sections, rational=rational,
                          uncovered=uncovered_rows(con, p), satisfaction=sat, satisfaction_dims=sat_dims,
                          satisfaction_notes=sat_notes, satisfaction_suppressed_note=sat_suppressed,
                          alliance=alliance)
        ranked = write_ranked_workbook(data, out_dir / ranked_name(period, scheme_version))
        # the auditor's workbook is per month: a quarter or year run writes one for each of its months
        audit_months = [period] if p.kind == "month" else p.months
        quality = {m: quality_sheets(con, m) for m in audit_months}
        audits = [write_audit_workbook(con, m, out_dir / f"审核报告_{m}.xlsx",
                                       scheme_version=scheme_version if m == period else None,
                                       extra_sheets=quality[m]["sheets"])
                  for m in audit_months]
        chase = [quality[m]["chase"](out_dir) for m in audit_months]
        # each hospital's own annotated return(s): out/<period>/feedback/<facility code>/
        from warehouse.feedback import write_feedback

        feedback = write_feedback(con, settings.archive_dir, period, settings.out_dir, workers=settings.parse_workers)
        sev = dict(con.execute(
            "SELECT severity, count(*) FROM findings f WHERE f.period = ? OR f.submission_id IN "
            "(SELECT submission_id FROM submissions WHERE period = ?) GROUP BY severity",
            [period, period]).fetchall())
        run.findings_by_severity = {k: int(sev.get(k, 0)) for k in ("error", "warning", "info")}
    finally:
        con.close()
    run.outputs = {"ranked": str(ranked), "audit": "，".join(str(a) for a in audits),
                   "chase": "，".join(str(c) for c in chase),
                   "feedback": f"{len(feedback)} 份，{out_dir / 'feedback'}" if feedback else "",
                   "data_docs": str(out_dir / "data_docs" / "index.html")}
    return run.outputs


def quality_sheets(con: Any, month: str, as_of: dt.datetime | None = None) -> dict[str, Any]:
    """The month's completeness and timeliness (the auditor workbook's sheets) and a writer of its 催报 workbook.

    Judged as of now (the run's time) unless as_of is given: a return not yet due is neither late nor missing.
    """
    from templates_xlsx.chase_report import (COMPLETENESS_COLUMNS, chase_selection, completeness_about_rows,
                                             completeness_sheet_rows, write_chase_workbook)
    from warehouse.timeliness import returns_calendar, span_statuses

    as_of = as_of or dt.datetime.now().replace(microsecond=0)
    cal = returns_calendar()
    statuses = span_statuses(con, month, as_of=as_of, calendar=cal)
    from warehouse.quality import OUTLIER_COLUMNS, outlier_rows

    sheets = [("离群值", OUTLIER_COLUMNS, outlier_rows(con, month)),
              ("完整性与及时性", COMPLETENESS_COLUMNS, completeness_sheet_rows(statuses, cal)),
              ("完整及时说明", [("项目", 24), ("说明", 90)], completeness_about_rows(cal))]
    return {"sheets": sheets,
            "chase": lambda out_dir: write_chase_workbook(chase_selection(statuses, month), month, Path(out_dir),
                                                          calendar=cal, as_of=as_of)}


def finish_run(settings: Settings, run: RunSummary, status: str = "completed") -> None:
    """Close the run row with its counts."""
    con = _cursor(settings)
    try:
        counts = {k: v for k, v in run.__dict__.items() if k not in ("run_id", "period", "inbox")}
        con.execute("UPDATE runs SET finished_at = ?, status = ?, counts = ? WHERE run_id = ?",
                    [dt.datetime.now(), status, json.dumps(counts, ensure_ascii=False, default=str), run.run_id])
    finally:
        con.close()


def top_by_group(settings: Settings, period: str, scheme_version: str, n: int = 10) -> list[dict[str, Any]]:
    """Top n per peer group for the flow's table artifact."""
    con = _cursor(settings)
    try:
        rows = _rows(con.execute(
            "SELECT c.peer_group AS 同组, c.rank AS 排名, c.facility_id AS 机构编码, "
            "(SELECT arg_max(name, valid_from) FROM facilities f WHERE f.facility_id = c.facility_id) AS 机构名称, "
            "CAST(c.composite AS DOUBLE) AS 综合得分, c.grade AS 等级 FROM composites c "
            "WHERE c.period = ? AND c.scheme_version = ? AND c.status = 'scored' AND c.rank <= ? "
            "ORDER BY c.peer_group, c.rank, c.facility_id", [period, scheme_version, n]))
    finally:
        con.close()
    return rows


def scheme_sections(scheme: Any) -> dict[str, str]:
    """indicator → the scheme section (rule points) or group (method schemes) it counts in."""
    from metrics.grading.scheme import MethodScheme

    if isinstance(scheme, MethodScheme):
        return {it.indicator: it.group for it in scheme.method.items}
    return {it.indicator: it.section for items in scheme.groups.values() for it in items}


def _n(d: Any) -> str:
    return f"{d.normalize():f}" if hasattr(d, "normalize") else str(d)


def method_notes(scheme: Any) -> list[str]:
    """The 说明 sheet's statement of a method scheme (metrics.grading): every step as the scheme sets it."""
    m = scheme.method
    std, P, el, g = m.standardise, m.precision, m.eligibility, m.grading
    std_zh = {"z": "z 分数（(x − 均值) / 标准差）", "t_score": "T 分数（50 + 10 × z）",
              "minmax": "极差标准化（(x − 最小值) / (最大值 − 最小值)）", "percentile_rank": "百分位秩"}[std.method]
    scope = "同组（同级别×类别）内" if std.within == "peer_group" else "全体受评机构内"
    sd = "总体标准差（÷n）" if std.sd == "population" else "样本标准差（÷(n−1)）"
    notes = [
        f"考核方案：{scheme.name_zh}（版本 {scheme.version}），标准化评分方法（metrics.grading），方案文件 "
        f"{scheme.path.name}。",
        "各指标先统一方向（越高越好）：上限目标按超出部分计负值，下限目标按不足部分计负值，达标为0；监测指标只列示、不计分。",
        f"标准化：{scope}计算{std_zh}，{sd}；可计分机构少于 {std.min_n} 家或标准差为0时该指标不标准化；"
        f"均值、标准差保留 {P.stat} 位小数后使用，标准化值保留 {P.standardised} 位小数（四舍五入）。",
    ]
    w = std.winsorise
    if w is None:
        notes.append("截尾：不截尾。")
    elif w.method == "percentile":
        notes.append(f"截尾：先按同组第 {_n(w.lower * 100)} 与第 {_n(w.upper * 100)} 百分位数截尾"
                     f"（{'线性插值' if w.percentile_method == 'linear' else '最近秩'}法），超出者取截尾值，"
                     "均值与标准差按截尾后的值计算。")
    else:
        notes.append(f"截尾：均值 ± {_n(w.k)} 倍标准差之外取截尾值。")
    groups = "，".join(f"{x.name} {_n(x.weight)}" for x in m.groups.items)
    notes.append(f"组得分 = 组内计分指标标准化值的加权平均（保留 {P.group} 位小数）；综合得分 = 各组得分按组权重"
                 f"（{groups}，合计 {_n(m.groups.weights_sum)}）加权平均，缺组时权重按比例重新分配，保留 {P.composite} 位小数。")
    req = f"，且必须有：{'、'.join(el.required)}" if el.required else ""
    notes.append(f"参评条件：至少 {el.min_groups} 个组各有不少于 {el.min_indicators} 个计分指标{req}；"
                 "不符合者不参与排名与评级，并注明原因。")
    if g.method == "kmeans":
        notes.append(f"评级：同组内按综合得分一维 k 均值聚类，k = {g.k}，由高到低为 {'、'.join(g.labels)}；"
                     f"初始中心取分位中位数，最多迭代 {g.max_iter} 次，距离相等时归入{'较低' if g.tie == 'lower' else '较高'}一档；"
                     f"同组少于 {g.min_group_size} 家或不同得分少于 k 个时不评级（{g.insufficient_label}）。")
    elif g.method == "quota":
        notes.append("评级（名次配额）：" + "，".join(f"{b.grade} 前 {b.upto:.0%}" for b in g.quota)
                     + f"；同组少于 {g.min_group_size} 家时不评级（{g.insufficient_label}）。")
    else:
        notes.append("评级（分数段）：" + "，".join(f"{b.grade} ≥ {_n(b.min)}" for b in g.bands) + "。")
    for v in m.veto:
        notes.append(f"一票否决 {v.code}：{v.name_zh}，等级最高为 {v.cap_grade}。")
    ties = "；依次按 " + "、".join(t.label_zh for t in m.ties) + " 决定先后，每次使用均记录" if m.ties else ""
    notes.append(f"排名：同组内名次 = 1 + 综合得分严格高于本机构的机构数（并列同名次）{ties}。")
    return notes


def scheme_notes(scheme: Any) -> list[str]:
    """The 说明 sheet's statement of how composites, ranks and grades were computed."""
    from metrics.grading.scheme import MethodScheme

    if isinstance(scheme, MethodScheme):
        return method_notes(scheme)
    notes = [
        f"考核方案：{scheme.name_zh}（版本 {scheme.version}），积分制评分方法（metrics.scoring）。",
        f"综合得分 = 各指标得分之和（满分 {scheme.total_points}），按权重计分；缺失指标的权重按方案规定重新分配到"
        f"其余指标，四舍五入（ROUND_HALF_UP）保留 {scheme.precision} 位小数。",
        "排名在同组内按四舍五入后的综合得分：名次 = 1 + 综合得分严格高于本机构的机构数（并列同名次）。",
        "比值类指标按统计期内分子、分母的合计计算（流量求和、存量取期末值），不取各月比值的平均；分母为0时指标“无定义”，不记为0%。",
        f"参与评分须有不少于 {scheme.min_weight_share:.0%} 的权重可计分，否则列为未评分并注明原因。",
    ]
    bands = "，".join(f"{b.grade} ≥ {b.min}" for b in scheme.bands)
    if bands:
        notes.append(f"等级（分数段）：{bands}，其余为最低一档。")
    if scheme.quota is not None:
        q = scheme.quota
        notes.append(f"{q.grade}名额：不超过同组机构数的 {q.max_share:.0%}（向下取整，至少 {q.min_count} 家），"
                     f"超出名额者按名次降为{q.fallback_grade}。")
    if scheme.percentile_bands:
        notes.append("分位档（按名次位置）：" + "，".join(f"{b.grade} 前 {b.upto:.0%}" for b in scheme.percentile_bands)
                     + f"；同组机构少于 {scheme.min_group_size} 家时不分档（{scheme.insufficient_label}）。")
    return notes
