"""`jixiao review …` (the bureau's review actions) and `jixiao diff` (versions of a return): no Prefect; diff opens
the warehouse read-only, review writes to it — both say plainly when a monthly run holds the lock."""
from __future__ import annotations

import getpass
import re
from pathlib import Path
from typing import Callable

import typer

from flows.settings import Settings, configure_runtime_env

review_app = typer.Typer(help="审核（review）：通过/退回报表、豁免问题、更正数值、确认离群值", no_args_is_help=True)
MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def _settings() -> Settings:
    s = Settings.from_env()
    configure_runtime_env(s)
    return s


def _month(period: str) -> None:
    if not MONTH_RE.match(period):
        typer.echo(f"统计期格式错误：{period}（应为 YYYY-MM）")
        raise typer.Exit(2)


def _actor(by: str | None) -> str:
    return by or getpass.getuser()


def with_warehouse(fn: Callable, *, read_only: bool) -> object:
    """Run fn(con) on the warehouse; a missing or locked warehouse is a plain message and exit code 2."""
    from warehouse.db import WarehouseBusy, WarehouseMissing, connect, connect_read_only

    path: Path = _settings().warehouse_path
    try:
        con = connect_read_only(path) if read_only else (connect(path) if path.is_file() else None)
        if con is None:
            raise WarehouseMissing(path)
    except (WarehouseBusy, WarehouseMissing) as e:
        typer.echo(str(e))
        raise typer.Exit(2)
    try:
        return fn(con)
    finally:
        con.close()


def _act(fn: Callable) -> None:
    out = with_warehouse(fn, read_only=False)
    typer.echo(out.message_zh)
    if not out.ok:
        raise typer.Exit(1)


def diff_cmd(facility: str = typer.Option(..., help="机构编码"),
             period: str = typer.Option(..., help="统计期 YYYY-MM"),
             template: str = typer.Option(None, help="只看一种报表（如 JX-YB01）")) -> None:
    """比较一家机构同一统计期各版本报表的单元格差异（字段、原值、新值、工作表!单元格）。"""
    from warehouse.diff import diff_lines

    _month(period)
    for line in with_warehouse(lambda con: diff_lines(con, facility, period, template), read_only=True):
        typer.echo(line)


@review_app.command("list")
def review_list(period: str = typer.Option(..., help="统计期 YYYY-MM"),
                facility: str = typer.Option(None, help="机构编码（默认全部）"),
                findings: bool = typer.Option(False, "--findings", help="同时列出每份报表未处理的问题及编号")) -> None:
    """列出统计期内各报表的审核状态与未处理问题数。"""
    from warehouse import review

    _month(period)

    def go(con):
        rows = review.review_states(con, period, facility)
        lines = [f"统计期 {period}：{len(rows)} 份报表"]
        for r in rows:
            lines.append(f"{r['facility_id'] or '（未识别）'}  {r['template_id'] or ''}  {r['submission_id']}  "
                         f"{review.state_zh(r['review_state'])}  错误 {r['open_errors']}  警告 {r['open_warnings']}"
                         + (f"  （{r['reviewer']} {r['reviewed_at']}：{r['review_reason']}）"
                            if r["reviewer"] and r["review_reason"] else ""))
            if findings:
                for f in review.open_findings(con, r["submission_id"]):
                    where = f"{f['sheet']}!{f['cell']}" if f["sheet"] and f["cell"] else "文件"
                    lines.append(f"    {f['finding_id']}  [{f['severity']}] {f['code']} {where}")
        return lines

    for line in with_warehouse(go, read_only=True):
        typer.echo(line)


@review_app.command("approve")
def review_approve(submission: str = typer.Argument(..., help="报送编号（review list 可查）"),
                   by: str = typer.Option(None, help="操作人（默认当前用户）"),
                   reason: str = typer.Option(None, help="说明")) -> None:
    """审核通过一份报表（须无未处理的错误）。"""
    from warehouse import review

    _act(lambda con: review.set_state(con, submission, "approved", _actor(by), reason))


@review_app.command("return")
def review_return(submission: str = typer.Argument(..., help="报送编号"),
                  reason: str = typer.Option(..., help="退回原因"),
                  by: str = typer.Option(None, help="操作人（默认当前用户）")) -> None:
    """退回一份报表（记录导致退回的问题）。"""
    from warehouse import review

    _act(lambda con: review.set_state(con, submission, "returned", _actor(by), reason))


@review_app.command("waive")
def review_waive(finding: str = typer.Argument(..., help="问题编号（review list --findings 可查）"),
                 reason: str = typer.Option(..., help="豁免原因"),
                 by: str = typer.Option(None, help="操作人（默认当前用户）")) -> None:
    """豁免一条问题：保留记录，不再阻断指标计算与审核通过。"""
    from warehouse import review

    _act(lambda con: review.waive(con, finding, _actor(by), reason))


@review_app.command("revoke")
def review_revoke(waiver: str = typer.Argument(..., help="豁免编号"),
                  reason: str = typer.Option(..., help="撤销原因"),
                  by: str = typer.Option(None, help="操作人（默认当前用户）")) -> None:
    """撤销一项豁免。"""
    from warehouse import review

    _act(lambda con: review.revoke_waiver(con, waiver, _actor(by), reason))


@review_app.command("correct")
def review_correct(facility: str = typer.Option(..., help="机构编码"),
                   period: str = typer.Option(..., help="统计期 YYYY-MM"),
                   field: str = typer.Option(..., help="填报项代码（如 drug_revenue）"),
                   value: float = typer.Option(..., help="更正后的数值"),
                   reason: str = typer.Option(..., help="更正依据"),
                   by: str = typer.Option(None, help="操作人（默认当前用户）")) -> None:
    """记录卫健委对一个填报值的更正（原值保留，指标按更正值计算）。"""
    from warehouse import review

    _month(period)
    _act(lambda con: review.correct(con, facility, period, field, value, _actor(by), reason))


@review_app.command("confirm")
def review_confirm(facility: str = typer.Option(..., help="机构编码"),
                   period: str = typer.Option(..., help="统计期 YYYY-MM"),
                   field: str = typer.Option(..., help="填报项代码"),
                   reason: str = typer.Option(..., help="确认依据"),
                   by: str = typer.Option(None, help="操作人（默认当前用户）")) -> None:
    """确认一个离群值无误：记录保留，此值不再提示异常。"""
    from warehouse import review

    _month(period)
    _act(lambda con: review.confirm_outlier(con, facility, period, field, _actor(by), reason))


def event_cmd(period: str = typer.Option(..., help="统计期"),
              facility: str = typer.Option(..., help="机构编码"),
              code: str = typer.Option(..., help="事件代码（方案否决项/加分项所列，如 major_safety_incident）"),
              note: str = typer.Option(..., help="事件说明及依据（文号）"),
              count: int = typer.Option(1, help="次数"),
              scheme: str = typer.Option("2026_std", help="考核方案版本（含否决项/加分项的标准化方案）"),
              by: str = typer.Option(None, help="登记人（默认当前用户）")) -> None:
    """登记一项否决（一票否决）或加分事件，重新运行该期评分后生效。"""
    from metrics.grading.scheme import MethodScheme, load_assessment
    from warehouse.grading import record_event

    s = load_assessment(scheme)
    if not isinstance(s, MethodScheme):
        typer.echo(f"方案 {scheme} 为扣分法方案，没有否决项与加分项")
        raise typer.Exit(2)
    _act(lambda con: record_event(con, period, facility, code, note, _actor(by), s, count))
