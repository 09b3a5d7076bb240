"""The monthly run's stages as plain functions (no Prefect): tests and the flow both call these."""
from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from flows.settings import Settings
from warehouse import load
from warehouse.db import connect

APPLICABLE_TIERS = ("三级", "二级")  # tiers that file the operations return (layout applies_to)


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


def start_run(settings: Settings, period: str, inbox: Path) -> RunSummary:
    """Record a run row (the only table a rerun appends to)."""
    run = RunSummary(run_id=uuid.uuid4().hex[:12], period=period, inbox=str(inbox))
    con = connect(settings.warehouse_path)
    try:
        con.execute("INSERT INTO runs VALUES (?, ?, ?, ?, NULL, 'running', NULL)",
                    [run.run_id, period, str(inbox), dt.datetime.now()])
    finally:
        con.close()
    return run


def ingest(settings: Settings, period: str, inbox: Path) -> tuple[list[load.Registered], int]:
    """Discover the inbox, archive raw bytes and register submissions; returns registrations, duplicates."""
    items = load.discover(inbox)
    con = connect(settings.warehouse_path)
    try:
        regs, dup_findings = load.archive_and_register(con, settings.archive_dir, items, period)
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
    con = connect(settings.warehouse_path)
    try:
        return load.load_batch(con, batch)
    finally:
        con.close()
