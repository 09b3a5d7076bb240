"""The `jixiao` command line: a thin shell over the stage functions and the monthly flow."""
from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from flows.settings import Settings, configure_runtime_env

app = typer.Typer(help="绩效 jixiao — 公立医院月度绩效考核：报表接收、校验、指标计算、评分排名与报告。",
                  no_args_is_help=True, add_completion=False)
templates_app = typer.Typer(help="报表模板（templates）", no_args_is_help=True)
registry_app = typer.Typer(help="机构名录（registry）", no_args_is_help=True)
baseline_app = typer.Typer(help="基期数据（baseline）：上年月度数据，用于增幅类指标", no_args_is_help=True)
scheme_app = typer.Typer(help="考核方案（scheme）", no_args_is_help=True)
app.add_typer(templates_app, name="templates")
app.add_typer(registry_app, name="registry")
app.add_typer(baseline_app, name="baseline")
app.add_typer(scheme_app, name="scheme")

from flows.cli_review import diff_cmd, review_app, with_warehouse  # noqa: E402  (after the app exists)

app.add_typer(review_app, name="review")
from flows.cli_publish import publish_app  # noqa: E402

app.add_typer(publish_app, name="publish")
app.command("diff")(diff_cmd)
from flows.cli_review import event_cmd  # noqa: E402

scheme_app.command("event")(event_cmd)

console = Console(highlight=False, soft_wrap=True)  # never hard-wrap paths in logs
PERIOD_RE = re.compile(r"^\d{4}(-(0[1-9]|1[0-2])|-Q[1-4])?$")


class RichReporter:
    """Progress bars on stdout for long stages; one line per finished stage."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: Any = None

    def stage(self, name: str, total: int | None = None) -> None:
        if self.task is not None:
            self.progress.remove_task(self.task)
        self.task = self.progress.add_task(name, total=total)

    def advance(self, n: int = 1) -> None:
        if self.task is not None:
            self.progress.advance(self.task, n)

    def done(self, name: str, message: str) -> None:
        if self.task is not None:
            self.progress.remove_task(self.task)
            self.task = None
        self.progress.console.print(f"[bold]{name}[/bold]：{message}")


def _settings() -> Settings:
    s = Settings.from_env()
    configure_runtime_env(s)
    return s


def _connect(s: Settings):
    from warehouse.db import connect

    return connect(s.warehouse_path)


def _print_findings(findings: list, limit: int = 20) -> None:
    for f in findings[:limit]:
        loc = f"{f.sheet}!{f.cell}" if f.sheet and f.cell else (f.sheet or "")
        console.print(f"  [{f.severity}] {f.code} {loc} {f.message_zh}")
    if len(findings) > limit:
        console.print(f"  … 另有 {len(findings) - limit} 条")


@templates_app.command("build")
def templates_build(out: Path = typer.Option(None, help="输出目录（默认 templates_xlsx/）")) -> None:
    """生成报表模板（.xlsx）。"""
    from templates_xlsx.build import build_templates

    _settings()
    paths = build_templates(out) if out else build_templates()
    for p in paths:
        console.print(f"模板：{p}")


@registry_app.command("import")
def registry_import(file: Path = typer.Argument(..., exists=True, dir_okay=False, help="机构名录 Excel 文件")) -> None:
    """导入机构名录（覆盖现有名录，有效期按行记录）。"""
    from warehouse.registry import import_registry

    s = _settings()
    con = _connect(s)
    try:
        res = import_registry(con, file)
    finally:
        con.close()
    console.print(f"机构名录：导入机构记录 {len(res.facilities)} 条，成员关系 {len(res.memberships)} 条，"
                  f"问题 {len(res.findings)} 条")
    _print_findings(res.findings)


@baseline_app.command("import")
def baseline_import(file: Path = typer.Argument(..., exists=True, dir_okay=False, help="基期数据 Excel 文件")) -> None:
    """导入上年月度数据（基期），使增幅类指标从首月即可计算。"""
    from warehouse.baseline import import_baseline

    s = _settings()
    con = _connect(s)
    try:
        n, findings = import_baseline(con, file)
    finally:
        con.close()
    console.print(f"基期数据：导入数值 {n} 个，问题 {len(findings)} 条")
    _print_findings(findings)


@scheme_app.command("check")
def scheme_check(file: Path = typer.Argument(..., exists=True, dir_okay=False, help="考核方案 YAML 文件")) -> None:
    """校验考核方案：未知的键、权重合计、各同组类别缺少的指标；每条信息注明文件与键。"""
    from metrics.scheme_check import check_scheme

    r = check_scheme(file)
    # plain echo, not rich: messages quote YAML keys in [brackets] that rich would read as markup
    if r.ok:
        typer.echo(f"方案校验通过：{file}（{r.summary}）")
    else:
        typer.echo(f"方案校验未通过：{file}，错误 {len(r.errors)} 处")
        for m in r.errors:
            typer.echo(f"  错误：{m}")
    for m in r.warnings:
        typer.echo(f"  提示：{m}")
    if not r.ok:
        raise typer.Exit(1)


@app.command("explain")
def explain(facility: str = typer.Option(..., help="机构编码"),
            period: str = typer.Option(..., help="统计期：YYYY-MM、YYYY-Qn 或 YYYY"),
            indicator: str = typer.Option(None, help="只看一个指标（如 YP01）"),
            scheme: str = typer.Option("2026", help="考核方案版本")) -> None:
    """说明一家机构的等级从何而来：等级、名次 ← 综合得分 ← 指标得分 ← 规则或标准化（同组 n、均值、标准差）← 指标值 ← 分子分母 ← 填报项 ← 报表文件 ← 单元格。"""
    from warehouse.explain import explain as explain_chain

    if not PERIOD_RE.match(period):
        typer.echo(f"统计期格式错误：{period}（应为 YYYY-MM、YYYY-Qn 或 YYYY）")
        raise typer.Exit(2)
    lines = with_warehouse(lambda con: explain_chain(con, facility, period, scheme, indicator), read_only=True)
    for line in lines:
        typer.echo(line)
    if lines and lines[0].startswith("无评分结果"):
        raise typer.Exit(1)


def _run_flow(period: str, inbox: Path, scheme: str, alliance_scheme: str = "alliance_2026") -> dict[str, Any]:
    from flows import progress as prog

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        prog.install(RichReporter(bar))
        try:
            from flows.monthly import monthly_assessment

            return monthly_assessment(period=period, inbox=str(inbox), scheme=scheme,
                                      alliance_scheme=alliance_scheme)
        finally:
            prog.install(None)


def _print_summary(r: dict[str, Any]) -> None:
    sev = r.get("findings_by_severity", {})
    console.print(f"统计期 {r['period']}：应报 {r['expected']}，已报 {r['received']}，参与评分 {r['scored']}，"
                  f"未评分 {len(r.get('not_scored', []))}")
    console.print(f"问题：错误 {sev.get('error', 0)}，警告 {sev.get('warning', 0)}，提示 {sev.get('info', 0)}")
    for k, label in (("ranked", "排名报告"), ("audit", "审核报告"), ("chase", "催报清单"), ("feedback", "反馈表"),
                     ("data_docs", "校验文档")):
        if r.get("outputs", {}).get(k):
            console.print(f"{label}：{r['outputs'][k]}")


@app.command("run")
def run(period: str = typer.Option(..., help="统计期：YYYY-MM、YYYY-Qn 或 YYYY"),
        inbox: Path = typer.Option(..., exists=True, file_okay=False, help="报表收件目录"),
        scheme: str = typer.Option("2026", help="考核方案版本"),
        alliance_scheme: str = typer.Option("alliance_2026", help="医共体考核方案版本")) -> None:
    """运行月度考核流程：接收 → 校验 → 指标 → 评分 → 医共体考核 → 报告。"""
    if not PERIOD_RE.match(period):
        console.print(f"统计期格式错误：{period}（应为 YYYY-MM、YYYY-Qn 或 YYYY）")
        raise typer.Exit(2)
    _settings()
    try:
        result = _run_flow(period, inbox, scheme, alliance_scheme)
    except Exception as e:  # the run itself could not complete: say why, exit non-zero
        console.print(f"运行失败：{type(e).__name__}: {e}")
        raise typer.Exit(1)
    _print_summary(result)


@app.command("demo")
def demo(facilities: int = typer.Option(60, help="演示地区机构数"),
         period: str = typer.Option("2026-10", help="考核月份 YYYY-MM"),
         seed: int = typer.Option(42, help="随机种子（相同种子生成完全相同的文件）"),
         out: Path = typer.Option(Path("demo_region"), help="演示数据目录"),
         also_scheme: str = typer.Option("2026_std", help="先用此方案评一次（空字符串则不评），再用默认方案 2026：演示两种方案")) -> None:
    """生成演示地区（名录、基期、13 个月报表）并运行月度流程：先用标准化聚类方案、再用默认方案评分，两份排名报告并存。"""
    from templates_xlsx.build import build_templates
    from templates_xlsx.demo import generate_region
    from warehouse.baseline import import_baseline
    from warehouse.registry import import_registry

    s = _settings()
    build_templates()
    region = generate_region(out, facilities=facilities, period=period, seed=seed)
    console.print(f"演示地区：{region.registry_path.parent}，报表文件 {len(region.files)} 个，"
                  f"含人为错误 {len(region.mistakes)} 处")
    con = _connect(s)
    try:
        reg = import_registry(con, region.registry_path)
        n, _ = import_baseline(con, region.baseline_path)
    finally:
        con.close()
    console.print(f"机构名录：{len(reg.facilities)} 条；基期数值：{n} 个")
    # the variant first, the default scheme last: the month's shared outputs (auditor workbook with 评分溯源 and the
    # outliers ranked by their effect on the rule-points composite, feedback, 催报) end under the default scheme
    schemes = ([also_scheme] if also_scheme and also_scheme != "2026" else []) + ["2026"]
    for i, scheme in enumerate(schemes):
        if len(schemes) > 1:
            console.print(f"以方案 {scheme} 评分{'（同一批报表，结果另存）' if i else ''}：")
        try:
            result = _run_flow(period, region.inbox_dir, scheme)
        except Exception as e:
            console.print(f"运行失败：{type(e).__name__}: {e}")
            raise typer.Exit(1)
        _print_summary(result)


@app.command("check")
def check(file: Path = typer.Argument(..., help="待检查的报表文件（.xlsx/.xlsm/.xls/.ods）"),
          period: str = typer.Option(None, help="报送的统计期 YYYY-MM（不填则按表内统计期）"),
          out: Path = typer.Option(None, help="标注后工作簿的输出目录（默认 JIXIAO_OUT/check）")) -> None:
    """报送前自查一份报表：与月度流程相同的校验，生成标注问题的工作簿；不写入数据仓库。退出码 0 无错误，1 有错误，2 无法检查。"""
    from flows.check import check_file
    from templates_xlsx.feedback import severity_text
    from warehouse.db import WarehouseBusy

    # plain echo, not rich: messages quote submitted text that rich would read as markup
    if not file.is_file():
        typer.echo(f"文件不存在：{file}")
        raise typer.Exit(2)
    if period is not None and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", period):
        typer.echo(f"统计期格式错误：{period}（应为 YYYY-MM）")
        raise typer.Exit(2)
    s = Settings.from_env()
    try:
        r = check_file(file, out or s.out_dir / "check", s, period)
    except WarehouseBusy as e:
        typer.echo(str(e))
        raise typer.Exit(2)
    code = r.facility_id or ("未识别" if r.registry_checked else "未核对")
    head = f"机构编码 {code}，统计期 {r.period or '未知'}，模板 {r.template_id or '未识别'}"
    typer.echo(f"检查文件：{file.name}（{head}）")
    for note in r.notes:
        typer.echo(f"说明：{note}")
    typer.echo(f"问题 {len(r.findings)} 条：错误 {r.count('error')}，警告 {r.count('warning')}，提示 {r.count('info')}")
    for f in r.findings:
        loc = f"{f['sheet']}!{f['cell']}" if f["sheet"] and f["cell"] else (f["sheet"] or "文件")
        typer.echo(f"  [{severity_text(f)}] {f['code']} {loc} {f['message_zh']}")
    if r.workbook is not None:
        typer.echo(f"标注后的工作簿：{r.workbook}")
    if r.n_errors:
        raise typer.Exit(1)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    sys.exit(main())
