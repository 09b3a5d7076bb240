"""Assessment runs and the review window before publication: draft → review → published.

Every scoring of a period under a scheme version is recorded as a labelled run (<period>/<scheme>/r<n>) with the
digests of what it used (scheme file, catalogs, inputs) and of what it produced. A rerun with the same digests is the
same run (idempotent); anything else is a new run. In review, facilities get preview workbooks and the bureau records
disputes; publishing copies the results under the label (never rewritten) and locks the period's months: returns
received later are held until an explicit reopen with a reason.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from metrics.periods import parse_period, same_period_last_year
from warehouse.db import run_sql, run_sql_script, sql_text, transaction
from warehouse.review import Outcome

CATALOG_DIR = Path(__file__).resolve().parents[1] / "metrics" / "catalog"
STATE_ZH = {"draft": "草稿", "review": "审阅中", "published": "已发布", "superseded": "已被替代"}


@dataclass(frozen=True)
class RunRecord:
    label: str
    period: str
    scheme_version: str
    state: str
    created: bool          # False when the rerun matched the latest run's digests
    identical_to: str | None = None   # a published run the results equal, if any


def _dicts(cur: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def _now(now: dt.datetime | None) -> dt.datetime:
    return (now or dt.datetime.now()).replace(microsecond=0)


def _id(*parts: Any) -> str:
    return hashlib.sha256("|".join("" if p is None else str(p) for p in parts).encode()).hexdigest()[:20]


def _sha_files(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def scheme_digest(scheme_version: str) -> str:
    from metrics.grading.scheme import scheme_path

    return _sha_files([scheme_path(scheme_version)])


def catalog_digest() -> str:
    """The indicator and field catalogs (every YAML under metrics/catalog/, schemes excluded)."""
    return _sha_files(sorted(CATALOG_DIR.glob("*.yaml")))


def data_digest(con: duckdb.DuckDBPyConnection, period: str) -> tuple[str, int]:
    p = parse_period(period)
    base = same_period_last_year(p)
    row = con.execute(sql_text("pub_data_digest"), {"months": list(p.months), "base_months": list(base.months),
                                                 "period": p.code, "base_period": base.code}).fetchone()
    return row[0], int(row[1])


def result_digest(con: duckdb.DuckDBPyConnection, period: str, scheme_version: str) -> str:
    return con.execute(sql_text("pub_result_digest"), {"period": period, "scheme": scheme_version}).fetchone()[0]


def latest(con: duckdb.DuckDBPyConnection, period: str, scheme_version: str,
           states: tuple[str, ...] = ("draft", "review", "published")) -> dict[str, Any] | None:
    rows = _dicts(con.execute("SELECT * FROM assessment_runs WHERE period = ? AND scheme_version = ? AND "
                              "list_contains(?, state) ORDER BY seq DESC LIMIT 1",
                              [period, scheme_version, list(states)]))
    return rows[0] if rows else None


def record_run(con: duckdb.DuckDBPyConnection, period: str, scheme_version: str, flow_run_id: str | None = None,
               now: dt.datetime | None = None) -> RunRecord:
    """Record the working results of (period, scheme) as a run: the same digests as the latest open run → that
    run; otherwise a new draft (an open draft or review run it replaces becomes superseded). A published run is
    never touched; results identical to it are reported as such."""
    p = parse_period(period)
    digests = {"scheme_sha256": scheme_digest(scheme_version), "catalog_sha256": catalog_digest()}
    digests["data_sha256"], n_subs = data_digest(con, p.code)
    digests["result_sha256"] = result_digest(con, p.code, scheme_version)
    published = latest(con, p.code, scheme_version, ("published",))
    same_as_published = published is not None and all(published[k] == v for k, v in digests.items())
    open_run = latest(con, p.code, scheme_version, ("draft", "review"))
    if open_run is not None and all(open_run[k] == v for k, v in digests.items()):
        return RunRecord(open_run["label"], p.code, scheme_version, open_run["state"], False,
                         published["label"] if same_as_published else None)
    if same_as_published and (open_run is None or open_run["seq"] < published["seq"]):
        return RunRecord(published["label"], p.code, scheme_version, "published", False, published["label"])
    seq = (con.execute("SELECT coalesce(max(seq), 0) FROM assessment_runs WHERE period = ? AND scheme_version = ?",
                       [p.code, scheme_version]).fetchone()[0]) + 1
    label = f"{p.code}/{scheme_version}/r{seq}"
    with transaction(con):
        if open_run is not None:
            con.execute("UPDATE assessment_runs SET state = 'superseded' WHERE label = ?", [open_run["label"]])
        con.execute("INSERT INTO assessment_runs (label, period, scheme_version, seq, state, scheme_sha256, "
                    "catalog_sha256, data_sha256, result_sha256, n_submissions, flow_run_id, created_at) VALUES "
                    "(?, ?, ?, ?, 'draft', ?, ?, ?, ?, ?, ?, ?)",
                    [label, p.code, scheme_version, seq, digests["scheme_sha256"], digests["catalog_sha256"],
                     digests["data_sha256"], digests["result_sha256"], n_subs, flow_run_id, _now(now)])
    return RunRecord(label, p.code, scheme_version, "draft", True,
                     published["label"] if same_as_published else None)


def _current(con: duckdb.DuckDBPyConnection, period: str, scheme_version: str) -> dict[str, Any] | None:
    return latest(con, period, scheme_version, ("draft", "review"))


def _unchanged(con: duckdb.DuckDBPyConnection, run: dict[str, Any]) -> str | None:
    """Why the working results no longer match the run (None when they do)."""
    if result_digest(con, run["period"], run["scheme_version"]) != run["result_sha256"]:
        return "评分结果已被重新计算"
    if data_digest(con, run["period"])[0] != run["data_sha256"]:
        return "输入数据（报表、更正、豁免或基期数据）已变化"
    if scheme_digest(run["scheme_version"]) != run["scheme_sha256"]:
        return "考核方案文件已修改"
    return None


def start_review(con: duckdb.DuckDBPyConnection, period: str, scheme_version: str, actor: str,
                 now: dt.datetime | None = None) -> Outcome:
    """Move the period's draft run into review (the caller then writes the facilities' preview workbooks)."""
    run = _current(con, period, scheme_version)
    if run is None:
        return Outcome(False, f"统计期 {period} 方案 {scheme_version} 没有待审阅的评分结果（请先运行月度流程）")
    if run["state"] == "review":
        return Outcome(False, f"{run['label']} 已在审阅中")
    why = _unchanged(con, run)
    if why:
        return Outcome(False, f"{run['label']} 生成后{why}，请重新运行月度流程生成新的评分结果")
    con.execute("UPDATE assessment_runs SET state = 'review', reviewed_at = ?, note = ? WHERE label = ?",
                [_now(now), f"{actor} 发起审阅", run["label"]])
    return Outcome(True, f"{run['label']}：草稿 → 审阅中", run["label"])


def raise_dispute(con: duckdb.DuckDBPyConnection, period: str, scheme_version: str, facility: str,
                  indicator: str | None, claim: str, actor: str, now: dt.datetime | None = None) -> Outcome:
    run = _current(con, period, scheme_version)
    if run is None or run["state"] != "review":
        return Outcome(False, f"统计期 {period} 方案 {scheme_version} 不在审阅期，不能登记异议")
    if not claim.strip() or not actor.strip():
        return Outcome(False, "异议须填写内容（--claim）和登记人（--by）")
    if con.execute("SELECT 1 FROM composites WHERE period = ? AND scheme_version = ? AND facility_id = ?",
                   [period, scheme_version, facility]).fetchone() is None:
        return Outcome(False, f"机构 {facility} 不在 {run['label']} 的评分结果中")
    at = _now(now)
    did = _id("dispute", run["label"], facility, indicator, claim, at.isoformat())
    con.execute("INSERT INTO disputes VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL)",
                [did, run["label"], facility, indicator, claim, actor, at])
    return Outcome(True, f"已登记异议 {did}（{run['label']}，机构 {facility}{'，指标 ' + indicator if indicator else ''}）",
                   did)


def decide_dispute(con: duckdb.DuckDBPyConnection, dispute_id: str, decision: str, actor: str,
                   now: dt.datetime | None = None) -> Outcome:
    row = con.execute("SELECT decision FROM disputes WHERE dispute_id = ?", [dispute_id]).fetchone()
    if row is None:
        return Outcome(False, f"没有异议记录 {dispute_id}")
    if row[0] is not None:
        return Outcome(False, f"异议 {dispute_id} 已有处理结论")
    if not decision.strip() or not actor.strip():
        return Outcome(False, "须填写处理结论（--decision）和处理人（--by）")
    con.execute("UPDATE disputes SET decision = ?, decided_by = ?, decided_at = ? WHERE dispute_id = ?",
                [decision, actor, _now(now), dispute_id])
    return Outcome(True, f"异议 {dispute_id} 已处理：{decision}", dispute_id)


def publish(con: duckdb.DuckDBPyConnection, period: str, scheme_version: str, actor: str,
            now: dt.datetime | None = None) -> Outcome:
    """Publish the run in review: freeze its results under its label and lock the period's months."""
    run = _current(con, period, scheme_version)
    if run is None or run["state"] != "review":
        return Outcome(False, f"统计期 {period} 方案 {scheme_version} 没有审阅中的评分结果：须先发起审阅（publish review）")
    open_n = con.execute("SELECT count(*) FROM disputes WHERE label = ? AND decision IS NULL",
                         [run["label"]]).fetchone()[0]
    if open_n:
        return Outcome(False, f"{run['label']} 仍有 {open_n} 项异议未处理，处理后才能发布")
    why = _unchanged(con, run)
    if why:
        return Outcome(False, f"{run['label']} 进入审阅后{why}，不能发布；请重新运行月度流程并重新审阅")
    if not actor.strip():
        return Outcome(False, "须填写发布人（--by）")
    p = parse_period(period)
    at = _now(now)
    with transaction(con):
        run_sql_script(con, "pub_freeze", label=run["label"], period=p.code, scheme=scheme_version,
                       months=list(p.months))
        con.execute("UPDATE assessment_runs SET state = 'published', published_at = ?, published_by = ? "
                    "WHERE label = ?", [at, actor, run["label"]])
        for m in p.months:
            con.execute("INSERT INTO period_locks VALUES (?, ?, ?, ?, NULL, NULL, NULL)", [m, run["label"], at, actor])
    return Outcome(True, f"{run['label']} 已发布；统计期 {'、'.join(p.months)} 已冻结，此后收到的报表将暂挂", run["label"])


def locked_months(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in con.execute("SELECT DISTINCT period FROM period_locks WHERE reopened_at IS NULL "
                                      "ORDER BY 1").fetchall()]


def hold_late_returns(con: duckdb.DuckDBPyConnection, submission_ids: list[str]) -> int:
    """Hold the run's returns for frozen months (not the published inputs themselves); returns how many."""
    before = con.execute("SELECT count(*) FROM submissions WHERE status = 'held'").fetchone()[0]
    run_sql(con, "pub_hold", ids=submission_ids)
    return con.execute("SELECT count(*) FROM submissions WHERE status = 'held'").fetchone()[0] - before


def reopen(con: duckdb.DuckDBPyConnection, period: str, actor: str, reason: str,
           now: dt.datetime | None = None) -> Outcome:
    """Reopen a frozen period (recorded with who, when, why); its held returns become current candidates again."""
    if not reason.strip() or not actor.strip():
        return Outcome(False, "重新开放须填写原因（--reason）和操作人（--by）")
    months = list(parse_period(period).months)
    locks = con.execute("SELECT count(*) FROM period_locks WHERE list_contains(?, period) AND reopened_at IS NULL",
                        [months]).fetchone()[0]
    if not locks:
        return Outcome(False, f"统计期 {period} 未冻结")
    with transaction(con):
        con.execute("UPDATE period_locks SET reopened_at = ?, reopened_by = ?, reopen_reason = ? "
                    "WHERE list_contains(?, period) AND reopened_at IS NULL", [_now(now), actor, reason, months])
        n = con.execute("UPDATE submissions SET status = 'received' WHERE status = 'held' AND list_contains(?, period) "
                        "RETURNING submission_id", [months]).fetchall()
    return Outcome(True, f"统计期 {period} 已重新开放（{reason}）；{len(n)} 份暂挂报表将在下次运行月度流程时校验并计入")


def runs(con: duckdb.DuckDBPyConnection, period: str) -> list[dict[str, Any]]:
    return _dicts(con.execute("SELECT * FROM assessment_runs WHERE period = ? ORDER BY scheme_version, seq",
                              [period]))
