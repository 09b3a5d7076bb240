"""`jixiao check FILE`: validate one return before it is submitted, exactly as the monthly run would, without
touching the warehouse; the hospital gets the same annotated workbook as its feedback.

The run's own stages (flows/pipeline.py: archive_register → parse → load_parsed → validate) run against a throwaway
JIXIAO_HOME (temporary DuckDB warehouse, archive and GX project). The registry (facilities, memberships) is copied
from the real warehouse opened read-only: while a monthly run holds the write lock that raises WarehouseBusy
(its Chinese message is for the user); with no warehouse at all the check runs without a registry and the
facility checks are left out. No Prefect here.
"""
from __future__ import annotations

import dataclasses
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flows.settings import Settings

# findings that compare the return with the registry: meaningless when no registry could be read
REGISTRY_CODES = frozenset({"facility-unknown", "facility-not-active", "facility-name-mismatch",
                            "not-applicable-template"})
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_COLUMNS = ("code", "severity", "stage", "sheet", "cell", "field", "value", "expected", "message_zh", "fix_zh",
            "rule_id")


@dataclass
class CheckResult:
    findings: list[dict[str, Any]]       # in 问题清单 order: code, severity, stage, sheet, cell, field, value, …
    workbook: Path | None                # the annotated copy (None when nothing could be written)
    facility_id: str | None = None       # registry code the return was attributed to
    period: str | None = None            # the return's 统计期 (or the month it was checked for)
    template_id: str | None = None
    registry_checked: bool = True        # False: no warehouse yet, facility checks skipped
    notes: list[str] = field(default_factory=list)

    @property
    def n_errors(self) -> int:
        return sum(f["severity"] == "error" for f in self.findings)

    def count(self, severity: str) -> int:
        return sum(f["severity"] == severity for f in self.findings)


def copy_registry(settings: Settings, dest: Any) -> bool:
    """Copy facilities and memberships from the real warehouse (read-only) into `dest`; False if there is none.

    WarehouseBusy propagates: the caller says plainly that a run holds the lock.
    """
    from warehouse.db import WarehouseMissing, connect_read_only, insert_rows

    try:
        src = connect_read_only(settings.warehouse_path)
    except WarehouseMissing:
        return False
    try:
        tables = {}
        for t in ("facilities", "memberships"):
            cur = src.execute(f"SELECT * FROM {t}")  # table names are ours
            cols = [d[0] for d in cur.description]
            tables[t] = [dict(zip(cols, r)) for r in cur.fetchall()]
    finally:
        src.close()
    for t, rows in tables.items():
        insert_rows(dest, t, rows)
    return True


def check_file(path: Path, out_dir: Path, settings: Settings, period: str | None = None) -> CheckResult:
    """Run one return through archive → parse → load → validate in a temporary home; annotate it into out_dir."""
    from flows import pipeline
    from templates_xlsx.feedback import annotate, layout_sheets, ordered
    from warehouse.db import connect
    from warehouse.feedback import feedback_name
    from warehouse.load import InboxItem

    path = Path(path)
    if period is not None and not _MONTH.match(period):
        raise ValueError(f"统计期格式错误：{period}（应为 YYYY-MM）")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    tmp = Path(tempfile.mkdtemp(prefix="jixiao-check-"))
    tmp_settings = dataclasses.replace(settings, home=tmp / "var", out_dir=tmp / "out", parse_workers=1)
    try:
        con = connect(tmp_settings.warehouse_path)
        try:
            has_registry = copy_registry(settings, con)
        finally:
            con.close()
        # the file's own name is only its label here (as an inbox name would be); nothing is written under it
        item = InboxItem(path, path.name, _mtime(path), "mtime", period)
        label = period or "check"
        regs, _ = pipeline.archive_register(tmp_settings, label, [item])
        pipeline.load_parsed(tmp_settings, pipeline.parse(tmp_settings, regs))
        pipeline.validate(tmp_settings, label, pipeline.registered_ids(regs))
        sid = regs[0].submission_id
        cur = pipeline._cursor(tmp_settings)
        try:
            sub = cur.execute("SELECT facility_id, period, template_id, received_at FROM submissions "
                              "WHERE submission_id = ?", [sid]).fetchone()
            rows = cur.execute(f"SELECT {', '.join(_COLUMNS)} FROM findings WHERE submission_id = ?",
                               [sid]).fetchall()
        finally:
            cur.close()
        facility_id, stated, template_id, received = sub
        findings = [dict(zip(_COLUMNS, r)) for r in rows]
        notes = []
        if not has_registry:
            findings = [f for f in findings if f["code"] not in REGISTRY_CODES]
            notes.append("尚无数据仓库（机构名录），未核对机构编码与名称。")
        sheets = layout_sheets(template_id)
        findings = ordered(findings, sheets)
        shown_period = stated or period
        name = feedback_name(facility_id or "未识别机构", template_id, shown_period or "未知统计期")
        out = annotate(regs[0].stored_path, findings, Path(out_dir) / name, facility_code=facility_id or "未识别",
                       period=shown_period or "未知", received_at=None, note="；".join(notes) or None,
                       sheet_order=sheets)
        return CheckResult(findings, out, facility_id, shown_period, template_id, has_registry, notes)
    finally:
        pipeline.close_warehouse(tmp_settings)
        shutil.rmtree(tmp, ignore_errors=True)


def _mtime(path: Path):
    import datetime as dt

    return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC).replace(tzinfo=None, microsecond=0)
