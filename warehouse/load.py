"""Discover an inbox, archive raw bytes content-addressed, register submissions, load parsed values."""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import duckdb

from expectations.findings import Finding, make
from warehouse.db import insert_rows, run_sql, transaction
from warehouse.pseudonym import pseudonymise

MANIFEST = "manifest.csv"
_PERIOD_DIR = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
# editor lock files and OS droppings are not submissions; every other file in the inbox is registered
_SKIP = re.compile(r"^(~\$|\.~lock\.|\._)|^(\.DS_Store|Thumbs\.db|desktop\.ini)$", re.IGNORECASE)


@dataclass(frozen=True)
class InboxItem:
    path: Path
    rel_name: str            # path relative to the inbox, '/'-separated (text only; never used to write)
    received_at: dt.datetime
    received_source: str     # manifest / mtime
    folder_period: str | None


@dataclass(frozen=True)
class Registered:
    item: InboxItem
    submission_id: str
    sha256: str
    stored_path: Path
    is_new: bool             # True when this run created the submission (needs parsing)
    duplicate_of: str | None  # submission with identical bytes under another name


def _read_manifest(inbox: Path) -> dict[str, dt.datetime]:
    f = inbox / MANIFEST
    if not f.is_file():
        return {}
    out: dict[str, dt.datetime] = {}
    with f.open(encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            name = (row.get("file") or "").strip().replace("\\", "/")
            try:
                out[name] = dt.datetime.fromisoformat((row.get("received_at") or "").strip()).replace(tzinfo=None)
            except ValueError:
                continue  # a bad manifest line falls back to the file's mtime
    return out


def discover(inbox: Path) -> list[InboxItem]:
    """Every candidate return under the inbox (sorted, stable), with its receipt time and folder period."""
    inbox = Path(inbox)
    manifest = _read_manifest(inbox)
    items = []
    for p in sorted(inbox.rglob("*")):
        if not p.is_file() or p.is_symlink() or _SKIP.match(p.name) or p.name == MANIFEST:
            continue
        rel = p.relative_to(inbox).as_posix()
        if rel in manifest:
            received, source = manifest[rel], "manifest"
        else:
            received = dt.datetime.fromtimestamp(p.stat().st_mtime, dt.UTC).replace(tzinfo=None, microsecond=0)
            source = "mtime"
        folder = p.parent.name if _PERIOD_DIR.match(p.parent.name) else None
        items.append(InboxItem(p, rel, received, source, folder))
    return items


def _hash_file(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    n = 0
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
            n += len(chunk)
    return h.hexdigest(), n


def archive_suffix(head: bytes) -> str:
    """File suffix from the leading bytes (never from the submitted name): .xlsx, .ods, .xls or .bin."""
    if head.startswith(b"PK\x03\x04"):
        return ".ods" if head[30:38] == b"mimetype" else ".xlsx"  # ODF stores `mimetype` first, uncompressed
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return ".xls"
    return ".bin"


def archive_file(archive_dir: Path, path: Path) -> tuple[str, int, Path]:
    """Copy a file into the content-addressed archive (once per content); return sha256, size, stored path.

    The stored name is the sha256 plus a suffix sniffed from the content, so readers that go by the
    extension (calamine does) see the real format, and nothing of the submitted name reaches the disk.
    """
    sha, size = _hash_file(path)
    with path.open("rb") as fh:
        suffix = archive_suffix(fh.read(64))
    rel = Path(sha[:2]) / sha[2:4] / (sha + suffix)
    dest = archive_dir / rel
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-")
        os.close(fd)
        shutil.copyfile(path, tmp)
        os.replace(tmp, dest)  # atomic: a crash never leaves a half-written archive entry
    return sha, size, rel


def submission_id_for(sha256: str, rel_name: str) -> str:
    """Stable id: the content hash plus a short hash of the name it arrived under."""
    return f"{sha256[:16]}-{hashlib.sha256(rel_name.encode()).hexdigest()[:6]}"


def archive_and_register(con: duckdb.DuckDBPyConnection, archive_dir: Path, items: Iterable[InboxItem],
                         run_period: str | None) -> tuple[list[Registered], list[Finding]]:
    """Archive each file's bytes before parsing and register a submission row (status received).

    `run_period` is the month the run was started for (None for a quarter or year run): with the inbox
    subfolder's period it states which month each file was filed for.
    """
    out: list[Registered] = []
    findings: list[Finding] = []
    known = {r[0]: r[1] for r in con.execute("SELECT submission_id, parsed FROM submissions").fetchall()}
    by_sha = {r[0]: r[1] for r in con.execute(
        "SELECT sha256, min(submission_id) FROM submissions GROUP BY sha256").fetchall()}
    blobs = {r[0] for r in con.execute("SELECT sha256 FROM archive_blobs").fetchall()}
    new_blobs: list[dict[str, Any]] = []
    new_subs: list[dict[str, Any]] = []
    for it in items:
        sha, size, rel = archive_file(archive_dir, it.path)  # bytes are safe on disk before anything parses them
        if sha not in blobs:
            blobs.add(sha)
            new_blobs.append({"sha256": sha, "size_bytes": size, "stored_path": rel.as_posix()})
        sid = submission_id_for(sha, it.rel_name)
        dup = by_sha.get(sha)
        if sid not in known and dup is not None and dup != sid:
            # identical bytes already registered under another name: recognised, not loaded twice
            findings.append(make("duplicate-file", file=it.rel_name, detail=dup, submission_id=dup,
                                 period=run_period))
            out.append(Registered(it, dup, sha, archive_dir / rel, False, dup))
            continue
        if sid not in known:
            new_subs.append({"submission_id": sid, "sha256": sha, "original_name": it.rel_name,
                             "inbox_period": it.folder_period or run_period, "received_at": it.received_at,
                             "received_source": it.received_source, "status": "received",
                             "folder_period": it.folder_period})
            known[sid] = False
            by_sha.setdefault(sha, sid)
        out.append(Registered(it, sid, sha, archive_dir / rel, not known[sid], None))
    with transaction(con):
        insert_rows(con, "archive_blobs", new_blobs)
        insert_rows(con, "submissions", new_subs)
    return out, findings


def facility_index(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Map upper-cased 机构编码 and uniquely-held 统一社会信用代码 to registry facility ids."""
    idx: dict[str, str] = {}
    for (fid,) in con.execute("SELECT DISTINCT facility_id FROM facilities").fetchall():
        idx[fid.upper()] = fid
    for uscc, fid in con.execute(
            "SELECT upper(uscc), min(facility_id) FROM facilities WHERE uscc IS NOT NULL "
            "GROUP BY upper(uscc) HAVING count(DISTINCT facility_id) = 1").fetchall():
        idx.setdefault(uscc, fid)  # an internal id wins over a USCC that happens to look the same
    return idx


_STATUS_LETTERS = frozenset("obze")  # templates_xlsx.read.STATUS_CODES: ok, blank, blank_zero, error


class _RowCells:
    """The cells of a batch's tables, gathered table by table as columns, then laid out as return_rows.

    Column-wise on purpose: a 处方点评表 holds 15,000 cells and a batch a few million, so nothing here runs per
    cell in Python. Repeated strings (submission, table, field, sheet, column letter, status) become pandas
    categoricals; the cell reference (letter || row) is put together by DuckDB (warehouse/sql/load_return_rows.sql).
    Within a table the cells are laid out row by row, each row in the layout's column order.
    """

    STATUSES = ("ok", "blank", "blank_zero", "error")

    def __init__(self) -> None:
        self.blocks: list[dict[str, Any]] = []
        self.cats: dict[str, dict[str, int]] = {k: {} for k in ("submission_id", "tbl", "field", "sheet", "col")}

    def _code(self, kind: str, text: str) -> int:
        return self.cats[kind].setdefault(text, len(self.cats[kind]))

    def add(self, sid: str, name: str, t: Any, values: list[list], raws: list[list | None]) -> None:
        """One table (a ParsedTable, with its pseudonymised values and raw texts) of one return."""
        if not set("".join(t.status_codes)) <= _STATUS_LETTERS:
            raise ValueError(f"unknown cell status in table {name!r}")
        self.blocks.append({"sid": self._code("submission_id", sid), "tbl": self._code("tbl", name),
                            "sheet": self._code("sheet", t.sheet), "rows": t.rows,
                            "fields": [self._code("field", f) for f in t.fields],
                            "cols": [self._code("col", c) for c in t.columns],
                            "values": values, "raws": raws, "codes": t.status_codes})

    def __len__(self) -> int:
        return sum(len(b["rows"]) * len(b["fields"]) for b in self.blocks)

    def frame(self):
        """The return_rows frame (cell letters in `col`, no `cell` yet): numbers to `value`, text to `text`."""
        import numpy as np
        import pandas as pd

        from templates_xlsx.read import STATUS_CODES

        status_of = np.zeros(256, dtype=np.int8)
        for i, st in enumerate(self.STATUSES):
            status_of[ord(STATUS_CODES[st])] = i
        total = len(self)
        sid, tbl, sheet, row_no, field, col = (np.empty(total, dtype=np.int32) for _ in range(6))
        status = np.empty(total, dtype=np.int8)
        value = np.full(total, np.nan)
        text = np.full(total, None, dtype=object)
        raw = np.full(total, None, dtype=object)
        at = 0
        for b in self.blocks:
            n, w = len(b["rows"]), len(b["fields"])
            cut = slice(at, at + n * w)
            at += n * w
            sid[cut], tbl[cut], sheet[cut] = b["sid"], b["tbl"], b["sheet"]
            # a table's block is laid out row by row: as an (n, w) view, column i of the table is [:, i]
            row_no[cut].reshape(n, w)[:] = np.asarray(b["rows"], dtype=np.int32)[:, None]
            field[cut].reshape(n, w)[:] = b["fields"]
            col[cut].reshape(n, w)[:] = b["cols"]
            v, t, r = value[cut].reshape(n, w), text[cut].reshape(n, w), raw[cut].reshape(n, w)
            for i, (vals, raws) in enumerate(zip(b["values"], b["raws"])):
                _split_values(vals, v[:, i], t[:, i])
                if raws is not None:
                    r[:, i] = raws
            codes = np.frombuffer("".join(b["codes"]).encode("ascii"), dtype=np.uint8).reshape(w, n)
            status[cut].reshape(n, w)[:] = status_of[codes.T]

        def cat(codes: Any, kind: str) -> Any:
            return pd.Categorical.from_codes(codes, categories=list(self.cats[kind]))

        return pd.DataFrame({
            "submission_id": cat(sid, "submission_id"), "tbl": cat(tbl, "tbl"), "row_no": row_no,
            "field": cat(field, "field"), "value": value, "text": pd.Series(text, dtype=object, copy=False),
            "raw_text": pd.Series(raw, dtype=object, copy=False), "sheet": cat(sheet, "sheet"), "col": cat(col, "col"),
            "status": pd.Categorical.from_codes(status, categories=list(self.STATUSES))}, copy=False)


def _split_values(col: list, value: Any, text: Any) -> None:
    """Write one column's parsed values into its `value` (float64 row) and `text` (object row) slots."""
    kinds = set(map(type, col))
    if kinds <= {float, type(None)}:
        value[:] = col  # None → NaN, stored as NULL
    elif kinds <= {str, type(None)}:
        text[:] = col
    else:  # a 序号 column mixes numbers and text; anything else exotic is coerced as pandas would
        import pandas as pd

        is_text = [isinstance(x, str) for x in col]
        text[:] = [x if s else None for x, s in zip(col, is_text)]
        value[:] = pd.to_numeric(pd.Series([None if s else x for x, s in zip(col, is_text)], dtype=object),
                                 errors="coerce").astype("float64").to_numpy()


def _table_columns(sid: str, owner: str, parsed: Any, key: bytes | None, pf: list[Finding],
                   cells: _RowCells) -> None:
    """Add a parsed return's tables to the batch's cells, names in `pii: pseudonymise` columns pseudonymised."""
    tables = getattr(parsed, "tables", None) or {}
    if not tables:
        return
    from templates_xlsx.layout import load_layouts
    from templates_xlsx.read import ParsedTable

    layout = load_layouts().get(parsed.template_id)
    lv = layout.version(parsed.template_version or "") if layout else None
    specs = {t.name: t for t in (lv.tables if lv else ())}
    masked: set[tuple[str, str]] = set()
    memo: dict[Any, str | None] = {}  # a return names a dozen people over a thousand rows: one HMAC each
    for name, t in tables.items():
        if not t:
            continue
        if not isinstance(t, ParsedTable):
            t = ParsedTable.from_rows(list(t))
        pii = set(specs[name].pii_fields("pseudonymise")) if name in specs else set()
        pseud = [i for i, f in enumerate(t.fields) if f in pii]
        if pseud and key is None:
            raise ValueError("a pseudonymisation key is required to load tables with personal names")
        values, raws = list(t.values), list(t.raw_texts)
        for i in pseud:
            names = values[i] if raws[i] is None else [v if v is not None else r for v, r in zip(values[i], raws[i])]
            for x in set(names) - memo.keys():
                memo[x] = pseudonymise(key, owner, x)  # type: ignore[arg-type]
            values[i] = raws[i] = list(map(memo.__getitem__, names))
            if pf:
                masked.update((t.sheet, f"{t.columns[i]}{r}") for r in t.rows)
        cells.add(sid, name, t, values, raws)
    for f in pf:  # a finding on a name cell must not carry the name either
        if (f.sheet, f.cell) in masked and f.value is not None:
            f.value = "（已脱敏）"


def load_batch(con: duckdb.DuckDBPyConnection, batch: list[tuple[Registered, Any]],
               pseudonym_key: bytes | None = None) -> int:
    """Load parsed returns (values, table rows, parse findings, header) in one transaction; returns values loaded.

    Names in table columns the layout marks `pii: pseudonymise` are stored only as keyed pseudonyms.
    """
    import pandas as pd

    if not batch:
        return 0
    index = facility_index(con)
    subs, values, findings = [], [], []
    cells = _RowCells()
    for reg, parsed in batch:
        header = dict(getattr(parsed, "header", None) or {})
        code = header.get("facility_code")
        code_s = str(code).strip().upper() if code is not None else ""
        facility_id = index.get(code_s)
        period = header.get("period") or reg.item.folder_period
        template_id = getattr(parsed, "template_id", None)
        pf: list[Finding] = list(getattr(parsed, "findings", None) or [])
        # a file-level error (no cell) means nothing in the file can be trusted
        rejected = template_id is None or any(f.severity == "error" and not f.cell for f in pf)
        extra = {k: {"value": v, "sheet": getattr(parsed, "sheet", None),
                     "cell": (getattr(parsed, "header_cells", None) or {}).get(k)}
                 for k, v in header.items() if k not in ("facility_name", "facility_code", "period", "period_text")}
        subs.append({"submission_id": reg.submission_id, "facility_id": facility_id, "period": period,
                     "header_choices": json.dumps(extra, ensure_ascii=False, sort_keys=True) if extra else None,
                     "template_id": template_id,
                     "template_version": getattr(parsed, "template_version", None),
                     "status": "rejected" if rejected else "received",
                     "header_name": _text(header.get("facility_name")), "header_code": _text(code),
                     "header_period": _text(header.get("period_text"))})
        for v in getattr(parsed, "values", None) or []:
            values.append((reg.submission_id, v.field, v.value, v.raw_text, v.sheet, v.cell, v.status))
        _table_columns(reg.submission_id, facility_id or code_s or reg.submission_id, parsed, pseudonym_key, pf,
                       cells)
        for f in pf:
            f.submission_id = reg.submission_id
            f.file = f.file or reg.item.rel_name
            f.period = f.period or period
            f.facility_id = f.facility_id or facility_id
            findings.append(f.as_row())
    sub_frame = pd.DataFrame(subs, columns=list(subs[0]))
    val_frame = pd.DataFrame(values, columns=["submission_id", "field", "value", "raw_text", "sheet", "cell",
                                              "status"])
    val_frame["value"] = pd.to_numeric(val_frame["value"]).astype("float64")
    val_frame["raw_text"] = val_frame["raw_text"].astype("str").where(val_frame["raw_text"].notna(), None)
    row_frame = cells.frame() if len(cells) else None
    con.register("_load_subs", sub_frame)
    con.register("_load_vals", val_frame)
    if row_frame is not None:
        con.register("_load_rows", row_frame)
    try:
        with transaction(con):
            con.execute("DELETE FROM return_values WHERE submission_id IN (SELECT submission_id FROM _load_subs)")
            con.execute("DELETE FROM findings WHERE stage IN ('ingest', 'parse') AND submission_id IN "
                        "(SELECT submission_id FROM _load_subs)")
            con.execute("DELETE FROM return_rows WHERE submission_id IN (SELECT submission_id FROM _load_subs)")
            if len(val_frame):
                con.execute("INSERT INTO return_values SELECT * FROM _load_vals")
            if row_frame is not None:
                run_sql(con, "load_return_rows")
            insert_findings_rows(con, findings)
            con.execute(
                "UPDATE submissions AS s SET facility_id = l.facility_id, period = l.period,"
                " template_id = l.template_id, template_version = l.template_version, status = l.status,"
                " header_name = l.header_name, header_code = l.header_code, header_period = l.header_period,"
                " header_choices = CAST(l.header_choices AS JSON),"
                " parsed = TRUE FROM _load_subs AS l WHERE s.submission_id = l.submission_id")
    finally:
        con.unregister("_load_subs")
        con.unregister("_load_vals")
        if row_frame is not None:
            con.unregister("_load_rows")
    return len(val_frame)


def _text(v: Any) -> str | None:
    return None if v is None else str(v)


def insert_findings(con: duckdb.DuckDBPyConnection, findings: Iterable[Finding]) -> int:
    """Insert findings (replacing any row with the same deterministic id)."""
    return insert_findings_rows(con, [f.as_row() for f in findings])


def insert_findings_rows(con: duckdb.DuckDBPyConnection, rows: list[dict]) -> int:
    """Insert finding rows (dicts in FINDING_COLUMNS order) in one statement."""
    import pandas as pd

    from expectations.findings import FINDING_COLUMNS

    if not rows:
        return 0
    frame = pd.DataFrame(rows, columns=FINDING_COLUMNS).astype(object)
    frame = frame.where(frame.notna(), None)
    frame = frame.drop_duplicates(subset=["finding_id"], keep="last")
    con.register("_load_findings", frame)
    try:
        con.execute(f"INSERT OR REPLACE INTO findings ({', '.join(FINDING_COLUMNS)}) "
                    f"SELECT {', '.join(FINDING_COLUMNS)} FROM _load_findings")
    finally:
        con.unregister("_load_findings")
    return len(frame)


def supersede(con: duckdb.DuckDBPyConnection) -> int:
    """Mark older returns for the same facility + period + template superseded; return how many are."""
    run_sql(con, "load_supersede")
    return con.execute("SELECT count(*) FROM submissions WHERE status = 'superseded'").fetchone()[0]
