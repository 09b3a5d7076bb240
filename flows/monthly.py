"""The monthly assessment as a Prefect flow: thin tasks over the plain stage functions in pipeline.py."""
from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import quote

from flows import pipeline, progress
from flows.settings import Settings

PARSE_BATCH = 250               # files per parse task: tens of tasks at most, never one per file
PARSE_BATCH_BYTES = 12 * 2**20  # …and at most this much file size, so big-table returns keep memory bounded


def _batches(regs: list) -> list[list]:
    """Consecutive batches of at most PARSE_BATCH files and PARSE_BATCH_BYTES bytes (at least one file each)."""
    out: list[list] = []
    cur: list = []
    size = 0
    for r in regs:
        n = r.stored_path.stat().st_size
        if cur and (len(cur) >= PARSE_BATCH or size + n > PARSE_BATCH_BYTES):
            out.append(cur)
            cur, size = [], 0
        cur.append(r)
        size += n
    if cur:
        out.append(cur)
    return out

_task = dict(cache_policy=NO_CACHE, persist_result=False)


@task(name="discover", **_task)
def discover_task(inbox: str):
    return pipeline.discover(Path(inbox))


@task(name="archive-register", **_task)
def archive_register_task(settings: Settings, period: str, items):
    regs, dups = pipeline.archive_register(settings, period, items)
    progress.reporter.done("接收归档", f"{len(regs)} 个文件，新文件 {sum(r.is_new for r in regs)}，重复 {dups}")
    return regs, dups


@task(name="parse-batch", **_task)
def parse_task(settings: Settings, batch):
    return pipeline.parse(settings, batch, progress=lambda n: progress.reporter.advance(n))


@task(name="load-batch", retries=1, retry_delay_seconds=0, **_task)
def load_task(settings: Settings, parsed) -> int:
    return pipeline.load_parsed(settings, parsed)


@task(name="validate", **_task)
def validate_task(settings: Settings, period: str, submission_ids: list[str],
                  run_id: str | None = None) -> tuple[int, int]:
    n, superseded = pipeline.validate(settings, period, submission_ids, run_id)
    progress.reporter.done("数据校验", f"{len(submission_ids)} 份报表，校验问题 {n} 条，被替代 {superseded} 份")
    return n, superseded


@task(name="compute", **_task)
def compute_task(settings: Settings, periods: list[str], scheme: str,
                 timings: dict[str, float] | None = None) -> dict[str, int]:
    out = pipeline.compute(settings, periods, scheme, timings)
    progress.reporter.done("指标计算", f"{out[periods[-1]]} 个指标值")
    return out


@task(name="score", **_task)
def score_task(settings: Settings, periods: list[str], scheme: str, run_id: str | None = None) -> dict[str, int]:
    out = pipeline.score(settings, periods, scheme)
    # the run's own period is recorded as a labelled assessment run (draft until reviewed and published)
    pipeline.record_assessment(settings, periods[-1], scheme, run_id)
    progress.reporter.done("评分排名", f"{out[periods[-1]]} 家机构参与评分")
    return out


@task(name="alliance", **_task)
def alliance_task(settings: Settings, periods: list[str], scheme: str) -> dict[str, int]:
    out = pipeline.alliances(settings, periods, scheme)
    progress.reporter.done("医共体考核", f"{out[periods[-1]]} 个医共体参与评分")
    return out


@task(name="quality", **_task)
def quality_task(settings: Settings, period: str, scheme: str) -> dict[str, int]:
    out = pipeline.quality(settings, period, scheme)
    progress.reporter.done("数据质量", f"离群值 {out.get('outliers', 0)} 个（按对综合得分的影响排序 "
                                   f"{out.get('ranked', 0)} 个）")
    return out


@task(name="report", **_task)
def report_task(settings: Settings, run: pipeline.RunSummary, scheme: str, prev_period: str | None,
                alliance_scheme: str | None = None):
    return pipeline.report(settings, run, scheme, prev_period, alliance_scheme)


@flow(name="monthly-assessment", persist_result=False, log_prints=False)
def monthly_assessment(period: str, inbox: str, scheme: str = "2026",
                       alliance_scheme: str = "alliance_2026") -> dict[str, Any]:
    """Ingest an inbox of monthly returns, validate, compute, score and write the reports for a period.

    Stages: discover → archive & register → parse (batches) → load → validate → compute → score → alliance
    (医共体 indicators and scores) → quality (outliers ranked by impact) → report (ranked, auditor, 催报 and
    feedback workbooks).
    """
    settings = Settings.from_env()
    run = pipeline.start_run(settings, period, Path(inbox))

    @contextmanager
    def timed(stage: str) -> Iterator[None]:
        t0 = time.perf_counter()
        yield
        run.timings[stage] = run.timings.get(stage, 0.0) + round(time.perf_counter() - t0, 3)

    try:
        with timed("ingest"):
            items = discover_task(inbox)
            regs, dups = archive_register_task(settings, period, quote(items))
        run.files, run.duplicates = len(regs), dups
        new = [r for r in regs if r.is_new]
        run.new_files = len(new)
        progress.reporter.stage("解析报表", total=len(new))
        for batch in _batches(new):
            # quote(): hand the batches over as they are; Prefect would otherwise walk every parsed value
            with timed("parse"):
                parsed = parse_task(settings, quote(batch))
            with timed("load"):
                run.values_loaded += load_task(settings, quote(parsed))
        progress.reporter.done("解析入库", f"解析 {len(new)} 份，入库数值 {run.values_loaded} 个")
        with timed("validate"):
            _, run.superseded = validate_task(settings, period, quote(pipeline.registered_ids(regs)), run.run_id)
        periods = pipeline.assessed_periods(period)
        with timed("compute"):
            compute_task(settings, periods, scheme, quote(run.timings))  # quote: the run's own dict, not a copy
        with timed("score"):
            score_task(settings, periods, scheme, run.run_id)
        with timed("alliance"):
            alliance_task(settings, periods, alliance_scheme)
        with timed("quality"):
            quality_task(settings, period, scheme)
        with timed("report"):
            report_task(settings, run, scheme, periods[0], alliance_scheme)
            _artifacts(settings, run, scheme)
        pipeline.finish_run(settings, run)
    except BaseException:
        pipeline.finish_run(settings, run, status="failed")
        raise
    finally:
        pipeline.close_warehouse(settings)
    return run.__dict__


def _artifacts(settings: Settings, run: pipeline.RunSummary, scheme: str) -> None:
    sev = run.findings_by_severity
    create_markdown_artifact(
        key="monthly-summary",
        markdown=(f"# 月度绩效考核 {run.period}\n\n"
                  f"- 应报 {run.expected}，已报 {run.received}，参与评分 {run.scored}\n"
                  f"- 问题：错误 {sev.get('error', 0)}，警告 {sev.get('warning', 0)}，提示 {sev.get('info', 0)}\n"
                  f"- 排名报告：{run.outputs.get('ranked')}\n- 审核报告：{run.outputs.get('audit')}\n"),
        description="运行摘要")
    top = pipeline.top_by_group(settings, run.period, scheme)
    if top:
        create_table_artifact(key="top10-by-peer-group", table=top, description="各同组前10名")
    create_table_artifact(key="findings-by-severity",
                          table=[{"严重程度": k, "数量": v} for k, v in sev.items()], description="问题按严重程度")
