"""Parse many returns in sandboxed, long-lived worker processes with a per-file timeout and a memory cap.

Workers are fresh interpreters (`python -P -m templates_xlsx.sandbox --worker`, started by fork+exec, never
a bare fork of the Prefect parent). multiprocessing's "spawn"/"forkserver" would re-import the parent's
`__main__` (the `jixiao` console script → flows → Prefect) into every worker; a dedicated entry point keeps
workers light (reader only: calamine, defusedxml, yaml). Each worker sets RLIMIT_AS first. Messages are
length-prefixed JSON, never pickle, so a compromised worker cannot execute code in the parent.
"""
from __future__ import annotations

import atexit
import dataclasses
import json
import os
import selectors
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any, Callable

from expectations.findings import Finding, make
from templates_xlsx.read import STATUS_CODES, ParsedReturn, ParsedTable, ParsedValue
from templates_xlsx.safety import precheck

MB = 2 ** 20
STARTUP_TIMEOUT_S = 60.0
PIPELINE_DEPTH = 2  # requests queued per worker, so it never waits for the parent between files
HEAVY_MODULES = ("pandas", "great_expectations", "prefect", "openpyxl", "duckdb", "numpy")
_HDR = struct.Struct(">I")
_MAX_MSG = 64 * MB
_PROJECT_ROOT = str(Path(__file__).resolve().parents[1])


# ---------------------------------------------------------------- wire format (JSON, not pickle)

_VALUE_KEYS = tuple(f.name for f in dataclasses.fields(ParsedValue))
_FINDING_KEYS = tuple(f.name for f in dataclasses.fields(Finding))
_SCALAR_KEYS = ("original_name", "template_id", "template_version", "sheet", "file_format", "addressing")
_DICT_KEYS = ("header", "header_cells", "footer", "footer_cells")


def to_wire(pr: ParsedReturn) -> dict[str, Any]:
    """ParsedReturn → JSON-able dict (values as rows; much faster than dataclasses.asdict)."""
    d: dict[str, Any] = {k: getattr(pr, k) for k in _SCALAR_KEYS}
    d.update({k: dict(getattr(pr, k)) for k in _DICT_KEYS})
    d["values"] = [[getattr(v, k) for k in _VALUE_KEYS] for v in pr.values]
    d["findings"] = [[getattr(f, k) for k in _FINDING_KEYS] for f in pr.findings]
    for key in _TABLE_KEYS:
        d[key] = {name: _table_to_wire(rows) for name, rows in getattr(pr, key).items()}
    return d


_TABLE_KEYS = ("tables", "table_totals")
_VALUE_TYPES = frozenset({float, str, type(None)})
_TEXT_TYPES = frozenset({str, type(None)})
_CODES = frozenset(STATUS_CODES.values())
_MAX_ROW_NO = 2 ** 31 - 1  # return_rows.row_no is an INTEGER
SAME_AS_TEXT_VALUE = "="  # a column's raw texts are its text values (None where the value is not text)


def _table_to_wire(t: ParsedTable) -> list[Any]:
    """[sheet, fields, columns, rows, values, raw_texts, status_codes], each per column: the table as it is held.

    A column's raw texts travel as null when all are None and as "=" when they equal its text values (text
    columns without stray spaces), so most of a 处方点评表's cells cross the pipe once.
    """
    raws: list[Any] = []
    for v, r in zip(t.values, t.raw_texts):
        if r is None:
            raws.append(None)
        elif r == [x if type(x) is str else None for x in v]:
            raws.append(SAME_AS_TEXT_VALUE)
        else:
            raws.append(r)
    return [t.sheet, list(t.fields), list(t.columns), t.rows, t.values, raws, t.status_codes]


def _table_from_wire(t: Any) -> ParsedTable:
    """Strict inverse of _table_to_wire: types and lengths checked column by column (C-level set checks)."""
    sheet, fields, columns, rows, values, raws, codes = _row(t, 7)
    if type(sheet) is not str or type(fields) is not list or type(columns) is not list or type(rows) is not list \
            or not set(map(type, fields)) <= {str} or not set(map(type, columns)) <= {str} \
            or not set(map(type, rows)) <= {int}:
        raise ValueError("malformed table from worker")
    w, n = len(fields), len(rows)
    if rows and not (1 <= min(rows) and max(rows) <= _MAX_ROW_NO):
        raise ValueError("malformed table row from worker")
    if len(columns) != w or type(values) is not list or type(raws) is not list or type(codes) is not list \
            or not len(values) == len(raws) == len(codes) == w:
        raise ValueError("malformed table from worker")
    out_values, out_raws = [], []
    for v, r, c in zip(values, raws, codes):
        if type(v) is not list or len(v) != n or type(c) is not str or len(c) != n or not _CODES.issuperset(c):
            raise ValueError("malformed table column from worker")
        vt = set(map(type, v))
        if not vt <= _VALUE_TYPES:
            if not vt <= _VALUE_TYPES | {int}:
                raise ValueError("malformed table cell from worker")
            v = [float(x) if type(x) is int else x for x in v]
        if r == SAME_AS_TEXT_VALUE:
            r = [x if type(x) is str else None for x in v]
        elif r is not None and (type(r) is not list or len(r) != n or not set(map(type, r)) <= _TEXT_TYPES):
            raise ValueError("malformed table cell from worker")
        out_values.append(v)
        out_raws.append(r)
    return ParsedTable(sheet, tuple(fields), tuple(columns), rows, out_values, out_raws, codes)


def from_wire(d: dict[str, Any]) -> ParsedReturn:
    """JSON dict → ParsedReturn, strictly rebuilt from the known fields."""
    pr = ParsedReturn(original_name=str(d["original_name"]))
    for key in _SCALAR_KEYS[1:]:
        v = d.get(key)
        setattr(pr, key, None if v is None else str(v))
    for key in _DICT_KEYS:
        setattr(pr, key, {str(k): (None if v is None else str(v)) for k, v in dict(d.get(key) or {}).items()})
    pr.values = [ParsedValue(*_row(r, len(_VALUE_KEYS))) for r in d.get("values") or []]
    pr.findings = [Finding(*_row(r, len(_FINDING_KEYS))) for r in d.get("findings") or []]
    for v in pr.values:
        if v.value is not None and not isinstance(v.value, float):
            v.value = float(v.value)
    for key in _TABLE_KEYS:
        setattr(pr, key, {str(name): _table_from_wire(t) for name, t in dict(d.get(key) or {}).items()})
    return pr


def _row(r: Any, n: int) -> list[Any]:
    if not isinstance(r, list) or len(r) != n:
        raise ValueError("malformed row from worker")
    return r


def _encode(obj: Any) -> bytes:
    body = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()
    return _HDR.pack(len(body)) + body


def _read_exact(fh: Any, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        chunk = fh.read(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


# ---------------------------------------------------------------- worker side

def _worker_main(memory_mb: int) -> None:
    """Worker loop: set the memory cap, warm up the reader, then answer parse requests until stdin closes."""
    out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)  # stray prints go to stderr, never into the protocol channel
    sys.stdout = sys.stderr
    if memory_mb > 0:
        import resource

        limit = memory_mb * MB
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    from expectations.findings import registry
    from metrics.catalog import fields_by_code
    from templates_xlsx.layout import load_layouts
    from templates_xlsx.read import read_return

    load_layouts(), fields_by_code(), registry()
    heavy = sorted(m for m in sys.modules if m.split(".")[0] in HEAVY_MODULES)
    out.write(_encode({"kind": "ready", "pid": os.getpid(), "heavy": heavy}))
    stdin = sys.stdin.buffer
    while True:
        hdr = _read_exact(stdin, _HDR.size)
        if hdr is None:
            return
        req = json.loads(_read_exact(stdin, _HDR.unpack(hdr)[0]) or b"null")
        if req is None:
            return
        try:
            pr = read_return(Path(req["path"]), req["name"], prechecked=True)
        except MemoryError:
            pr = ParsedReturn(original_name=req["name"], findings=[make("parse-memory-exceeded", file=req["name"])])
        out.write(_encode({"kind": "result", "idx": req["idx"], "result": to_wire(pr)}))


# ---------------------------------------------------------------- parent side

class _Worker:
    """One worker process and its protocol state."""

    def __init__(self, memory_mb: int) -> None:
        self.memory_mb = memory_mb
        self.err = tempfile.TemporaryFile()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([_PROJECT_ROOT] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep)
                                                               if p])
        env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
        env["RUST_BACKTRACE"] = "0"
        self.proc = subprocess.Popen(
            [sys.executable, "-P", "-m", "templates_xlsx.sandbox", "--worker", str(memory_mb)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err, bufsize=0, close_fds=True, env=env,
            start_new_session=True)
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.buf = bytearray()
        self.ready = False
        self.heavy: list[str] = []
        self.started = time.monotonic()
        self.tasks: deque[int] = deque()  # in flight, in the order the worker will answer them
        self.deadline = 0.0  # for the head task (the one the worker is parsing now)

    def fileno(self) -> int:
        """The fd the selector watches."""
        return self.proc.stdout.fileno()

    def send(self, idx: int, path: Path, name: str, timeout_s: float) -> bool:
        """Dispatch one file; False if the worker is gone."""
        msg = memoryview(_encode({"idx": idx, "path": str(path), "name": name}))
        try:
            while msg:
                n = self.proc.stdin.write(msg)
                msg = msg[n or 0:]
        except (BrokenPipeError, OSError, ValueError):
            return False
        self.tasks.append(idx)
        if len(self.tasks) == 1:
            self.deadline = time.monotonic() + timeout_s
        return True

    @property
    def task(self) -> int | None:
        """The file the worker is parsing now, or None when idle."""
        return self.tasks[0] if self.tasks else None

    def pump(self) -> tuple[list[dict[str, Any]], bool]:
        """Read what is available; returns (complete messages, eof)."""
        eof = False
        while True:
            try:
                chunk = os.read(self.fileno(), 1 << 16)
            except BlockingIOError:
                break
            except OSError:
                eof = True
                break
            if not chunk:
                eof = True
                break
            self.buf += chunk
        msgs = []
        while len(self.buf) >= _HDR.size:
            n = _HDR.unpack_from(self.buf)[0]
            if n > _MAX_MSG:
                return msgs, True  # protocol violation: treat as a dead worker
            if len(self.buf) < _HDR.size + n:
                break
            body = bytes(self.buf[_HDR.size:_HDR.size + n])
            del self.buf[:_HDR.size + n]
            try:
                msgs.append(json.loads(body))
            except ValueError:
                return msgs, True
        return msgs, eof

    def stderr_text(self, limit: int = 1 << 20) -> str:
        """What the worker wrote to stderr (the first `limit` bytes)."""
        try:
            self.err.seek(0)
            return self.err.read(limit).decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""

    def kill(self) -> int | None:
        """Kill the worker (and anything it started) and reap it; returns its exit code."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.proc.kill()
        try:
            return self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return None

    def dispose(self) -> None:
        """Kill the worker and close its pipes and stderr file."""
        self.kill()
        for fh in (self.proc.stdin, self.proc.stdout, self.err):
            try:
                fh.close()
            except OSError:
                pass

    def close(self) -> None:
        """Ask the worker to exit (EOF on stdin), then make sure it has."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass
        self.dispose()


_POOL_LOCK = threading.Lock()
_POOL: list[_Worker] = []


def shutdown_workers() -> None:
    """Stop the idle worker pool (also registered at interpreter exit)."""
    with _POOL_LOCK:
        while _POOL:
            _POOL.pop().close()


atexit.register(shutdown_workers)


def _death_finding(w: _Worker, rc: int | None, name: str) -> Finding:
    """Finding for a file whose worker died without answering."""
    tail = w.stderr_text().lower()
    if any(m in tail for m in ("memory allocation", "memoryerror", "out of memory", "cannot allocate")):
        return make("parse-memory-exceeded", file=name)
    if rc == -signal.SIGKILL:  # we only SIGKILL on timeout (handled elsewhere): this is the kernel OOM killer
        return make("parse-memory-exceeded", file=name)
    if rc is not None and rc < 0:
        detail = f"解析进程因信号 {-rc} 异常终止"
    else:
        detail = f"解析进程异常退出（代码 {rc}）"
    return make("unreadable-workbook", file=name, detail=detail)


def parse_many(items: list[tuple[Path, str]], workers: int = 2, timeout_s: float = 20, memory_mb: int = 768,
               progress: Callable[[int], None] | None = None) -> list[ParsedReturn]:
    """Parse (path, original_name) pairs in sandboxed workers; results in input order, one per item.

    A file over `timeout_s` gets `parse-timeout` and its worker is killed and replaced; a worker that dies
    gets the file `parse-memory-exceeded` or `unreadable-workbook`. `progress(n)` is called with increments.
    """
    results: list[ParsedReturn | None] = [None] * len(items)
    tick = progress or (lambda n: None)
    todo: deque[int] = deque(range(len(items)))
    if todo:
        with _POOL_LOCK:
            _run(items, todo, results, max(1, min(workers, len(todo))), timeout_s, memory_mb, tick)
    return [r if r is not None else ParsedReturn(original_name=items[i][1], findings=[
        make("unreadable-workbook", file=items[i][1], detail="未能解析")]) for i, r in enumerate(results)]


def _run(items: list[tuple[Path, str]], todo: deque[int], results: list[ParsedReturn | None], n_workers: int,
         timeout_s: float, memory_mb: int, tick: Callable[[int], None]) -> None:
    """The dispatch loop over the (persistent) pool."""
    # keep idle, healthy workers with the same memory cap (a run interrupted mid-file leaves a busy worker)
    pool = [w for w in _POOL if w.memory_mb == memory_mb and w.proc.poll() is None and not w.tasks
            and not w.buf]
    for w in _POOL:
        if w not in pool:
            w.close()
    _POOL[:] = pool
    while len(_POOL) < n_workers:
        _POOL.append(_Worker(memory_mb))
    active = _POOL[:n_workers]
    sel = selectors.DefaultSelector()
    for w in active:
        sel.register(w.fileno(), selectors.EVENT_READ, w)
    failed_starts = 0
    pending = len(todo)

    def next_task() -> int | None:
        """Next file that passes the pre-check (run here, lazily, so it overlaps with parsing)."""
        nonlocal pending
        while todo:
            i = todo.popleft()
            f = precheck(Path(items[i][0]), items[i][1])
            if f is None:
                return i
            results[i] = ParsedReturn(original_name=items[i][1], findings=[f])
            pending -= 1
            tick(1)
        return None

    def replace(w: _Worker) -> None:
        todo.extendleft(reversed(w.tasks))  # queued behind the head, never started: run them elsewhere
        w.tasks.clear()
        sel.unregister(w.fileno())
        w.dispose()
        nw = _Worker(memory_mb)
        _POOL[_POOL.index(w)] = nw
        active[active.index(w)] = nw
        sel.register(nw.fileno(), selectors.EVENT_READ, nw)

    def finish(w: _Worker, pr: ParsedReturn) -> None:
        nonlocal pending
        if w.tasks:
            i = w.tasks.popleft()
            if results[i] is None:
                results[i] = pr
                pending -= 1
                tick(1)
            w.deadline = time.monotonic() + timeout_s

    try:
        while pending:
            for w in list(active):
                while w.ready and len(w.tasks) < PIPELINE_DEPTH and todo:
                    i = next_task()
                    if i is None:
                        break
                    if not w.send(i, Path(items[i][0]), items[i][1], timeout_s):
                        todo.appendleft(i)
                        replace(w)
                        break
            if not pending:
                break
            now = time.monotonic()
            waits = [(w.deadline if w.task is not None else w.started + STARTUP_TIMEOUT_S) - now
                     for w in active if w.task is not None or not w.ready]
            wait = max(0.0, min(waits)) if waits else 0.5
            for key, _ in sel.select(timeout=min(wait, 1.0)):
                w = key.data
                msgs, eof = w.pump()
                for m in msgs:
                    if m.get("kind") == "ready":
                        w.ready, w.heavy = True, list(m.get("heavy") or [])
                        failed_starts = 0
                    elif m.get("kind") == "result" and m.get("idx") == w.task:
                        try:
                            pr = from_wire(m["result"])
                        except (KeyError, TypeError, ValueError, AttributeError):
                            eof = True  # malformed answer: treat the worker as broken
                            break
                        finish(w, pr)
                        if any(f.code == "parse-memory-exceeded" for f in pr.findings):
                            replace(w)  # start clean after a MemoryError
                            break
                if eof and w in active:
                    rc = w.kill()
                    if w.task is not None:
                        finish(w, ParsedReturn(original_name=items[w.task][1],
                                               findings=[_death_finding(w, rc, items[w.task][1])]))
                    elif not w.ready:
                        failed_starts += 1
                        if failed_starts > 3:
                            raise RuntimeError("解析进程无法启动：" + w.stderr_text()[-500:])
                    replace(w)
            now = time.monotonic()
            for w in list(active):
                if w.task is not None and now > w.deadline:
                    name = items[w.task][1]
                    finish(w, ParsedReturn(original_name=name, findings=[
                        make("parse-timeout", file=name, expected=f"{timeout_s:g}")]))
                    replace(w)
                elif not w.ready and now > w.started + STARTUP_TIMEOUT_S:
                    failed_starts += 1
                    if failed_starts > 3:
                        raise RuntimeError("解析进程启动超时")
                    replace(w)
    finally:
        sel.close()


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "--worker":
        _worker_main(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
