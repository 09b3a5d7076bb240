"""`jixiao publish …`: the review window before publication — status, review (with each facility's preview
workbook), disputes, publish (freezes the period) and reopen. No Prefect; a locked warehouse is a plain message."""
from __future__ import annotations

import getpass

import typer

from flows.cli_review import _settings, with_warehouse

publish_app = typer.Typer(help="发布（publish）：审阅期、异议、发布与重新开放", no_args_is_help=True)


def _actor(by: str | None) -> str:
    return by or getpass.getuser()


def _act(fn) -> None:
    out = with_warehouse(fn, read_only=False)
    typer.echo(out.message_zh)
    if not out.ok:
        raise typer.Exit(1)


@publish_app.command("status")
def status(period: str = typer.Option(..., help="统计期：YYYY-MM、YYYY-Qn 或 YYYY")) -> None:
    """列出统计期的评分批次（草稿/审阅中/已发布）、异议与冻结情况。"""
    from warehouse import publication as pub

    def go(con):
        lines = [f"统计期 {period}"]
        for r in pub.runs(con, period):
            when = r["published_at"] or r["reviewed_at"] or r["created_at"]
            lines.append(f"  {r['label']}  {pub.STATE_ZH.get(r['state'], r['state'])}  {when}  "
                         f"报表 {r['n_submissions']} 份  结果摘要 {r['result_sha256'][:12]}")
        for d in con.execute("SELECT dispute_id, label, facility_id, indicator, claim, decision FROM disputes "
                             "WHERE label LIKE ? ORDER BY raised_at, dispute_id", [f"{period}/%"]).fetchall():
            lines.append(f"  异议 {d[0]}（{d[1]}，{d[2]}{' ' + d[3] if d[3] else ''}）：{d[4]} → {d[5] or '未处理'}")
        locked = [m for m in pub.locked_months(con) if m.startswith(period[:4])]
        lines.append(f"  已冻结月份：{'、'.join(locked) if locked else '无'}")
        return lines

    for line in with_warehouse(go, read_only=True):
        typer.echo(line)


@publish_app.command("review")
def review(period: str = typer.Option(..., help="统计期"),
           scheme: str = typer.Option("2026", help="考核方案版本"),
           by: str = typer.Option(None, help="操作人（默认当前用户）")) -> None:
    """发起审阅：当前草稿进入审阅期，并为每家机构生成评分预览表（out/<统计期>/preview/<机构编码>/）。"""
    from templates_xlsx.preview import write_previews
    from warehouse import publication as pub
    from warehouse.review import policy

    s = _settings()

    def go(con):
        out = pub.start_review(con, period, scheme, _actor(by))
        if out.ok:
            paths = write_previews(con, period, scheme, out.record_id, s.out_dir,
                                   int(policy().get("preview_min_peer_n", 5)))
            out = type(out)(True, f"{out.message_zh}；评分预览 {len(paths)} 份：{s.out_dir / period / 'preview'}",
                            out.record_id)
        return out

    _act(go)


@publish_app.command("dispute")
def dispute(period: str = typer.Option(..., help="统计期"),
            facility: str = typer.Option(..., help="机构编码"),
            claim: str = typer.Option(..., help="异议内容"),
            indicator: str = typer.Option(None, help="指标代码"),
            scheme: str = typer.Option("2026", help="考核方案版本"),
            by: str = typer.Option(None, help="登记人（默认当前用户）")) -> None:
    """登记机构对审阅中评分结果的异议。"""
    from warehouse import publication as pub

    _act(lambda con: pub.raise_dispute(con, period, scheme, facility, indicator, claim, _actor(by)))


@publish_app.command("decide")
def decide(dispute_id: str = typer.Argument(..., help="异议编号"),
           decision: str = typer.Option(..., help="处理结论"),
           by: str = typer.Option(None, help="处理人（默认当前用户）")) -> None:
    """记录异议的处理结论。"""
    from warehouse import publication as pub

    _act(lambda con: pub.decide_dispute(con, dispute_id, decision, _actor(by)))


@publish_app.command("publish")
def publish(period: str = typer.Option(..., help="统计期"),
            scheme: str = typer.Option("2026", help="考核方案版本"),
            by: str = typer.Option(None, help="发布人（默认当前用户）")) -> None:
    """发布审阅中的评分结果：结果按批次冻结保存，统计期冻结（此后收到的报表暂挂）。"""
    from warehouse import publication as pub

    _act(lambda con: pub.publish(con, period, scheme, _actor(by)))


@publish_app.command("reopen")
def reopen(period: str = typer.Option(..., help="统计期"),
           reason: str = typer.Option(..., help="重新开放的原因"),
           by: str = typer.Option(None, help="操作人（默认当前用户）")) -> None:
    """重新开放已冻结的统计期（记录原因），暂挂的报表在下次运行时计入。"""
    from warehouse import publication as pub

    _act(lambda con: pub.reopen(con, period, _actor(by), reason))
