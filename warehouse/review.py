"""The bureau's review of submissions and the records an auditor reads: review states (待审 → 通过 / 退回), waivers
of findings, corrections of submitted values, outliers confirmed as correct, and the validation history.

Every action returns an Outcome (ok + a Chinese message) rather than raising: a refused transition is an answer,
not an error. Nothing recorded here is ever deleted; a waiver is revoked by stamping it, a correction is replaced
by a later one.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import duckdb
import yaml

from warehouse.db import run_sql_script, sql_text, transaction

POLICY_FILE = Path(__file__).with_name("review_policy.yaml")
REVIEWABLE = ("received", "accepted", "held")
STATUS_ZH = {"received": "已接收", "accepted": "已入库", "held": "暂挂", "rejected": "拒收", "superseded": "已被替代"}


@dataclass(frozen=True)
class Outcome:
    ok: bool
    message_zh: str
    record_id: str | None = None


@lru_cache(maxsize=1)
def policy() -> dict[str, Any]:
    """The review policy (states, transitions) from review_policy.yaml."""
    doc = yaml.safe_load(POLICY_FILE.read_text(encoding="utf-8"))
    states = set(doc["states"])
    for frm, tos in doc["transitions"].items():
        if frm not in states or not set(tos) <= states:
            raise ValueError(f"{POLICY_FILE}: transitions.{frm}: unknown state")
    return doc


def state_zh(state: str) -> str:
    return policy()["states"].get(state, {}).get("label_zh", state)


def _now(now: dt.datetime | None) -> dt.datetime:
    return (now or dt.datetime.now()).replace(microsecond=0)


def _id(*parts: Any) -> str:
    return hashlib.sha256("|".join("" if p is None else str(p) for p in parts).encode()).hexdigest()[:20]


def _dicts(cur: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def _submission(con: duckdb.DuckDBPyConnection, submission_id: str) -> dict[str, Any] | None:
    rows = _dicts(con.execute("SELECT submission_id, facility_id, period, template_id, status, original_name "
                              "FROM submissions WHERE submission_id = ?", [submission_id]))
    return rows[0] if rows else None


def current_state(con: duckdb.DuckDBPyConnection, submission_id: str) -> str:
    """The latest review state of a submission (pending when it has none)."""
    row = con.execute("SELECT state FROM review_events WHERE submission_id = ? ORDER BY acted_at DESC, event_id DESC "
                      "LIMIT 1", [submission_id]).fetchone()
    return row[0] if row else "pending"


def open_findings(con: duckdb.DuckDBPyConnection, submission_id: str) -> list[dict[str, Any]]:
    """The submission's findings that are not waived, errors first."""
    return _dicts(con.execute(sql_text("rv_open_findings"), {"submission_id": submission_id}))


def review_states(con: duckdb.DuckDBPyConnection, period: str, facility: str | None = None) -> list[dict[str, Any]]:
    """Every return of the period (not superseded) with its review state and open error/warning counts."""
    return _dicts(con.execute(sql_text("rv_states"), {"period": period, "facility": facility}))


def set_state(con: duckdb.DuckDBPyConnection, submission_id: str, state: str, actor: str,
              reason: str | None = None, now: dt.datetime | None = None) -> Outcome:
    """Move a submission to `state` if the policy allows it; a return (退回) records the open findings behind it."""
    pol = policy()
    if state not in pol["states"]:
        return Outcome(False, f"未知的审核状态「{state}」，应为：{'、'.join(pol['states'])}")
    sub = _submission(con, submission_id)
    if sub is None:
        return Outcome(False, f"没有报送记录 {submission_id}")
    if sub["status"] not in REVIEWABLE:
        return Outcome(False, f"报送 {submission_id}（{sub['original_name']}）状态为"
                              f"「{STATUS_ZH.get(sub['status'], sub['status'])}」，只能审核当前有效版本")
    before = current_state(con, submission_id)
    if state not in pol["transitions"].get(before, []):
        return Outcome(False, f"报送 {submission_id} 当前为「{state_zh(before)}」，不能改为「{state_zh(state)}」")
    if state in pol.get("reason_required", []) and not (reason or "").strip():
        return Outcome(False, f"改为「{state_zh(state)}」须填写原因（--reason）")
    if not actor.strip():
        return Outcome(False, "须填写操作人（--by）")
    found = open_findings(con, submission_id)
    errors = [f for f in found if f["severity"] == "error"]
    if state == "approved" and pol.get("approve_requires_no_open_errors") and errors:
        codes = "、".join(sorted({f["code"] for f in errors}))
        return Outcome(False, f"报送 {submission_id} 仍有 {len(errors)} 个未处理的错误（{codes}），"
                              f"请退回医院更正，或逐条豁免（review waive）/更正（review correct）后再通过")
    cause = [f["finding_id"] for f in found if f["severity"] in ("error", "warning")] if state == "returned" else []
    at = _now(now)
    event_id = _id("review", submission_id, state, actor, at.isoformat(), reason)
    con.execute("INSERT INTO review_events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [event_id, submission_id, sub["facility_id"], sub["period"], sub["template_id"], state,
                 reason, cause, actor, at])
    extra = f"，依据 {len(cause)} 条问题" if state == "returned" else ""
    return Outcome(True, f"报送 {submission_id}：{state_zh(before)} → {state_zh(state)}{extra}", event_id)


def waive(con: duckdb.DuckDBPyConnection, finding_id: str, actor: str, reason: str,
          now: dt.datetime | None = None) -> Outcome:
    """Waive a finding (it stays recorded; it stops blocking indicators and approval)."""
    if not reason.strip() or not actor.strip():
        return Outcome(False, "豁免须填写原因（--reason）和操作人（--by）")
    rows = _dicts(con.execute("SELECT * FROM findings WHERE finding_id = ?", [finding_id]))
    if not rows:
        return Outcome(False, f"没有问题记录 {finding_id}（可用 review list 查看问题编号）")
    f = rows[0]
    if con.execute("SELECT 1 FROM finding_waivers WHERE finding_id = ? AND revoked_at IS NULL",
                   [finding_id]).fetchone():
        return Outcome(False, f"问题 {finding_id} 已豁免")
    at = _now(now)
    waiver_id = _id("waiver", finding_id, actor, at.isoformat())
    con.execute("INSERT INTO finding_waivers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL)",
                [waiver_id, finding_id, f["submission_id"], f["facility_id"], f["period"], f["code"], f["sheet"],
                 f["cell"], f["field"], reason, actor, at])
    where = f"{f['sheet']}!{f['cell']}" if f["sheet"] and f["cell"] else "文件"
    return Outcome(True, f"已豁免问题 {finding_id}（{f['code']}，{where}）", waiver_id)


def revoke_waiver(con: duckdb.DuckDBPyConnection, waiver_id: str, actor: str, reason: str,
                  now: dt.datetime | None = None) -> Outcome:
    """Revoke an active waiver (the waiver row stays, stamped with who, when and why)."""
    if not reason.strip() or not actor.strip():
        return Outcome(False, "撤销豁免须填写原因（--reason）和操作人（--by）")
    row = con.execute("SELECT revoked_at FROM finding_waivers WHERE waiver_id = ?", [waiver_id]).fetchone()
    if row is None:
        return Outcome(False, f"没有豁免记录 {waiver_id}")
    if row[0] is not None:
        return Outcome(False, f"豁免 {waiver_id} 已于 {row[0]} 撤销")
    con.execute("UPDATE finding_waivers SET revoked_at = ?, revoked_by = ?, revoke_reason = ? WHERE waiver_id = ?",
                [_now(now), actor, reason, waiver_id])
    return Outcome(True, f"已撤销豁免 {waiver_id}", waiver_id)


def current_submission(con: duckdb.DuckDBPyConnection, facility: str, period: str,
                       field: str) -> dict[str, Any] | None:
    """The current return of a facility and month that carries `field`, with the field's cell."""
    rows = _dicts(con.execute(
        "SELECT s.submission_id, s.facility_id, s.period, v.value, v.raw_text, v.sheet, v.cell FROM submissions s "
        "JOIN return_values v USING (submission_id) WHERE s.facility_id = ? AND s.period = ? AND v.field = ? "
        "AND s.status IN ('received', 'accepted', 'held') ORDER BY s.received_at DESC, s.submission_id DESC LIMIT 1",
        [facility, period, field]))
    return rows[0] if rows else None


def correct(con: duckdb.DuckDBPyConnection, facility: str, period: str, field: str, new_value: float, actor: str,
            reason: str, now: dt.datetime | None = None) -> Outcome:
    """Record the bureau's correction of a submitted value; indicators use it, the submitted value stays."""
    if not reason.strip() or not actor.strip():
        return Outcome(False, "更正须填写原因（--reason）和操作人（--by）")
    cur = current_submission(con, facility, period, field)
    if cur is None:
        return Outcome(False, f"机构 {facility} 统计期 {period} 的当前报表中没有填报项 {field}")
    at = _now(now)
    cid = _id("correction", cur["submission_id"], field, new_value, actor, at.isoformat())
    con.execute("INSERT INTO value_corrections VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [cid, cur["submission_id"], facility, period, field, cur["sheet"], cur["cell"], cur["value"],
                 cur["raw_text"], float(new_value), reason, actor, at])
    old = cur["raw_text"] if cur["value"] is None else _plain(cur["value"])
    return Outcome(True, f"已更正 {facility} {period} {field}（{cur['sheet']}!{cur['cell']}）：{old} → "
                         f"{_plain(new_value)}", cid)


def confirm_outlier(con: duckdb.DuckDBPyConnection, facility: str, period: str, field: str, actor: str,
                    reason: str, now: dt.datetime | None = None) -> Outcome:
    """Mark the current value of a field as confirmed correct: outlier checks stop warning for that value."""
    if not reason.strip() or not actor.strip():
        return Outcome(False, "确认须填写原因（--reason）和操作人（--by）")
    cur = current_submission(con, facility, period, field)
    if cur is None or cur["value"] is None:
        return Outcome(False, f"机构 {facility} 统计期 {period} 的当前报表中没有填报项 {field} 的数值")
    value_text = value_key(cur["value"])
    at = _now(now)
    cid = _id("confirm", facility, period, field, value_text, actor, at.isoformat())
    con.execute("INSERT INTO outlier_confirmations VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [cid, facility, period, field, value_text, reason, actor, at])
    return Outcome(True, f"已确认 {facility} {period} {field} = {value_text} 无误，此值不再提示异常", cid)


def value_key(v: float) -> str:
    """The text a confirmed value is matched by (a different value warns again)."""
    return _plain(v)


def _plain(v: Any) -> str:
    x = float(v)
    return str(int(x)) if x == int(x) else repr(x)


def confirmed_values(con: duckdb.DuckDBPyConnection, period: str) -> set[tuple[str, str, str, str]]:
    """(facility, period, field, value text) of every outlier confirmed for the period."""
    return {tuple(r) for r in con.execute("SELECT facility_id, period, field, value_text FROM outlier_confirmations "
                                          "WHERE period = ?", [period]).fetchall()}


def record_validation(con: duckdb.DuckDBPyConnection, run_id: str, period: str,
                      now: dt.datetime | None = None) -> None:
    """Append this validation's findings to the history (every run, every finding) in one transaction."""
    with transaction(con):
        run_sql_script(con, "rv_record_validation", run_id=run_id, period=period, recorded_at=_now(now))


def trail(con: duckdb.DuckDBPyConnection, period: str) -> dict[str, list[dict[str, Any]]]:
    """The period's review events, waivers, corrections and confirmations, oldest first (the auditor's trail)."""
    q = {
        "events": "SELECT * FROM review_events WHERE period = ? ORDER BY acted_at, event_id",
        "waivers": "SELECT * FROM finding_waivers WHERE period = ? ORDER BY acted_at, waiver_id",
        "corrections": "SELECT * FROM value_corrections WHERE period = ? ORDER BY acted_at, correction_id",
        "confirmations": "SELECT * FROM outlier_confirmations WHERE period = ? ORDER BY acted_at, confirmation_id",
    }
    return {k: _dicts(con.execute(sql, [period])) for k, sql in q.items()}
