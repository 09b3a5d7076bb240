"""Inbox discovery, content-addressed archive, registration, batch load and supersession on a real DuckDB."""
from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

from expectations.findings import make
from warehouse import load
from warehouse.db import connect


@dataclass
class PV:  # the reader's ParsedValue shape
    field: str
    sheet: str
    cell: str
    value: float | None
    raw_text: str | None
    status: str


@dataclass
class PR:  # the reader's ParsedReturn shape
    template_id: str | None
    template_version: str | None
    header: dict
    values: list = field(default_factory=list)
    findings: list = field(default_factory=list)


def _inbox(tmp_path: Path) -> Path:
    inbox = tmp_path / "inbox"
    (inbox / "2026-09").mkdir(parents=True)
    (inbox / "2026-09" / "a.xlsx").write_bytes(b"PK-alpha")
    (inbox / "2026-09" / "b.xlsx").write_bytes(b"PK-beta")
    (inbox / "2026-09" / "b-copy.xlsx").write_bytes(b"PK-beta")   # identical bytes, other name
    (inbox / "~$lock.xlsx").write_bytes(b"x")                      # Excel lock file: ignored
    (inbox / "manifest.csv").write_text("file,received_at\n2026-09/a.xlsx,2026-10-05T09:30:00\n",
                                        encoding="utf-8")
    t = dt.datetime(2026, 10, 8, 12, 0, tzinfo=dt.UTC).timestamp()
    for p in (inbox / "2026-09").iterdir():
        os.utime(p, (t, t))
    return inbox


def test_discover_reads_manifest_mtime_and_folder_period(tmp_path):
    items = load.discover(_inbox(tmp_path))
    assert [(i.rel_name, i.received_source, i.folder_period) for i in items] == [
        ("2026-09/a.xlsx", "manifest", "2026-09"),
        ("2026-09/b-copy.xlsx", "mtime", "2026-09"),
        ("2026-09/b.xlsx", "mtime", "2026-09"),
    ]
    assert items[0].received_at == dt.datetime(2026, 10, 5, 9, 30)
    assert items[1].received_at == dt.datetime(2026, 10, 8, 12, 0)


def test_archive_is_content_addressed_and_registration_idempotent(tmp_path):
    inbox = _inbox(tmp_path)
    con = connect(tmp_path / "w.duckdb")
    arch = tmp_path / "archive"
    regs, dups = load.archive_and_register(con, arch, load.discover(inbox), "2026-09")
    assert [r.is_new for r in regs] == [True, True, False]
    assert [f.code for f in dups] == ["duplicate-file"]
    assert regs[2].duplicate_of == regs[1].submission_id  # b.xlsx repeats b-copy.xlsx
    assert con.execute("SELECT count(*) FROM archive_blobs").fetchone()[0] == 2
    assert len([p for p in arch.rglob("*") if p.is_file()]) == 2
    assert regs[0].stored_path.read_bytes() == b"PK-alpha"
    # second registration of the same inbox creates nothing new
    regs2, dups2 = load.archive_and_register(con, arch, load.discover(inbox), "2026-09")
    assert [r.submission_id for r in regs2] == [r.submission_id for r in regs]
    assert con.execute("SELECT count(*) FROM submissions").fetchone()[0] == 2
    assert [f.as_row()["finding_id"] for f in dups2] == [f.as_row()["finding_id"] for f in dups]


def _parsed(code: str, value: float) -> PR:
    return PR("JX-YB01", "2026.1",
              {"facility_code": code, "facility_name": "甲医院", "period_text": "2026年09月", "period": "2026-09"},
              [PV("oe_visits", "运营与药品", "E6", value, str(value), "ok"),
               PV("discharges", "运营与药品", "E7", None, "abc", "error")],
              [make("value-not-number", sheet="运营与药品", cell="E7", field="discharges", value="abc")])


def test_load_batch_and_supersession(tmp_path):
    inbox = _inbox(tmp_path)
    con = connect(tmp_path / "w.duckdb")
    con.execute("INSERT INTO facilities (facility_id, valid_from, name, uscc, tier, ftype) VALUES "
                "('H001', DATE '2020-01-01', '甲医院', '91350100M000100Y43', '三级', '综合')")
    regs, _ = load.archive_and_register(con, tmp_path / "archive", load.discover(inbox), "2026-09")
    new = [r for r in regs if r.is_new]
    # a, by internal id; b, by USCC — both resolve to H001 for 2026-09
    n = load.load_batch(con, [(new[0], _parsed("h001", 100)), (new[1], _parsed("91350100M000100Y43", 120))])
    assert n == 4
    rows = con.execute("SELECT submission_id, facility_id, status, parsed FROM submissions ORDER BY received_at"
                       ).fetchall()
    assert [(r[1], r[2], r[3]) for r in rows] == [("H001", "received", True), ("H001", "received", True)]
    assert con.execute("SELECT sheet, cell, code FROM findings ORDER BY submission_id").fetchall() == [
        ("运营与药品", "E7", "value-not-number")] * 2
    assert load.supersede(con) == 1
    status = dict(con.execute("SELECT original_name, status FROM submissions").fetchall())
    assert status == {"2026-09/a.xlsx": "superseded", "2026-09/b-copy.xlsx": "received"}
    # reloading the same batch replaces rather than duplicates
    load.load_batch(con, [(new[0], _parsed("h001", 100))])
    assert con.execute("SELECT count(*) FROM return_values").fetchone()[0] == 4
    assert con.execute("SELECT count(*) FROM findings").fetchone()[0] == 2


def test_unidentified_template_is_rejected(tmp_path):
    inbox = _inbox(tmp_path)
    con = connect(tmp_path / "w.duckdb")
    regs, _ = load.archive_and_register(con, tmp_path / "archive", load.discover(inbox), "2026-09")
    bad = PR(None, None, {}, [], [make("unknown-template", detail="无模板编号")])
    load.load_batch(con, [(regs[0], bad)])
    assert con.execute("SELECT status FROM submissions WHERE submission_id = ?",
                       [regs[0].submission_id]).fetchone()[0] == "rejected"
    assert load.supersede(con) == 0
