"""Hospital feedback: one annotated workbook per current return with findings, under
out/<period>/feedback/<facility code>/ — that facility's own findings only, nothing of any other facility.

Privacy by construction and by check. Findings are selected per submission of the facility; file and folder names
are built from registry codes and template form numbers only (never from a submitted name). A finding of the
data-quality review (stage `quality`) may quote a peer statistic: when the facility's peer group has fewer than
`min_peer_n_disclosed` facilities with a value for the field (templates_xlsx/feedback.yaml), its text is replaced
by a neutral one and its expected value dropped. Before anything is written, `assert_disclosable` checks every
finding again and raises DisclosureError if a peer statistic from a small group, another facility's finding, or
another facility's code or name would reach the workbook.
"""
from __future__ import annotations

import re
import string
from collections import defaultdict
from pathlib import Path
from typing import Any

import duckdb

from templates_xlsx.feedback import FeedbackConfig, annotate, field_labels, layout_sheets, load_config
from warehouse.db import sql_text

_UNSAFE = re.compile(r"[^0-9A-Za-z\u4e00-\u9fff_-]+")
_SHOWN = ("message_zh", "fix_zh", "expected")  # texts of ours that reach the workbook (value is the hospital's own)


class DisclosureError(RuntimeError):
    """A feedback workbook would disclose another facility's data (names no data itself)."""


def _rows(con: duckdb.DuckDBPyConnection, name: str, **params: Any) -> list[dict[str, Any]]:
    cur = con.execute(sql_text(name), params or None)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def safe_part(text: str | None, fallback: str) -> str:
    """A file-name part from a registry code or template id: letters, digits, CJK, '-' and '_' only."""
    out = _UNSAFE.sub("_", text or "").strip("_-")
    return out[:40] or fallback


def form_name(template_id: str | None) -> str:
    """The template's form number (卫健绩效01表) for file names, else its id, else 未识别模板."""
    from templates_xlsx.layout import load_layouts

    lay = load_layouts().get(template_id or "")
    return safe_part(getattr(lay, "form_no", None) or template_id, "未识别模板")


def feedback_name(facility_id: str, template_id: str | None, period: str, n: int = 1) -> str:
    """<facility>_<form>_<period>_反馈.xlsx (…_反馈_2.xlsx for a second current return of the same form)."""
    tail = "" if n == 1 else f"_{n}"
    return f"{safe_part(facility_id, '未知机构')}_{form_name(template_id)}_{safe_part(period, '未知统计期')}_反馈{tail}.xlsx"


def _marked(text: Any, markers: tuple[str, ...]) -> bool:
    return isinstance(text, str) and any(m in text for m in markers)


def peer_n_for(f: dict[str, Any], group_of: dict[str, str | None], peer_n: dict[tuple[str, str | None], int]) -> int:
    """Facilities a peer statistic in this finding could rest on (0 when the facility has no peer group)."""
    group = group_of.get(f.get("facility_id") or "")
    if group is None:
        return 0
    by_group = peer_n.get((group, None), 0)
    return min(peer_n.get((group, f["field"]), 0), by_group) if f.get("field") else by_group


def _quotes_peers(f: dict[str, Any], cfg: FeedbackConfig) -> bool:
    """A quality finding that compares with peers: a marker in its shown texts, or a peer rule with a value."""
    return f.get("stage") == "quality" and (
        any(_marked(f.get(k), cfg.peer_markers) for k in _SHOWN)
        or (_marked(f.get("rule_id"), cfg.peer_markers) and f.get("expected") is not None))


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


def disclose(findings: list[dict[str, Any]], group_of: dict[str, str | None],
             peer_n: dict[tuple[str, str | None], int], cfg: FeedbackConfig | None = None) -> list[dict[str, Any]]:
    """The findings as a hospital may see them: peer comparisons from a group under the minimum neutralised."""
    cfg = cfg or load_config()
    labels = field_labels()
    out = []
    for f in findings:
        if _quotes_peers(f, cfg) and peer_n_for(f, group_of, peer_n) < cfg.min_peer_n_disclosed:
            ctx = _Blank(field_zh=labels.get(f.get("field") or "", f.get("field") or ""), value=f.get("value") or "")
            f = dict(f, message_zh=string.Formatter().vformat(cfg.neutral_message_zh, (), ctx), expected=None,
                     fix_zh=cfg.neutral_fix_zh if _marked(f.get("fix_zh"), cfg.peer_markers) else f.get("fix_zh"))
        out.append(f)
    return out


def assert_disclosable(facility_id: str, findings: list[dict[str, Any]], group_of: dict[str, str | None],
                       peer_n: dict[tuple[str, str | None], int], registry: list[tuple[str, str]],
                       cfg: FeedbackConfig | None = None) -> None:
    """Raise DisclosureError if these findings, shown to `facility_id`, would disclose anything of another facility.

    Checked: each finding is the facility's own; no quality finding quotes peers when its group is under
    min_peer_n_disclosed; no other registry code (as a token) or name appears in our texts (the facility's own
    submitted value and its own registry names are left out of that search).
    """
    cfg = cfg or load_config()
    own_names = {n for fid, n in registry if fid == facility_id}
    others = [(fid, n) for fid, n in registry if fid != facility_id]
    codes = {fid for fid, _ in others}
    names = sorted({n for _, n in others if len(n) >= 4 and n not in own_names}, key=len, reverse=True)
    code_re = re.compile(r"(?<![0-9A-Za-z])(" + "|".join(map(re.escape, sorted(codes, key=len, reverse=True)))
                         + r")(?![0-9A-Za-z])") if codes else None
    for f in findings:
        if f.get("facility_id") not in (None, facility_id):
            raise DisclosureError(f"反馈 {facility_id}：含有其他机构的问题记录（代码 {f.get('code')}）")
        if f.get("stage") == "quality" and peer_n_for(f, group_of, peer_n) < cfg.min_peer_n_disclosed \
                and _quotes_peers(f, cfg):
            raise DisclosureError(f"反馈 {facility_id}：{f.get('code')} 含有同组统计量，但同组机构不足 "
                                  f"{cfg.min_peer_n_disclosed} 家")
        own = str(f.get("value") or "")
        for k in _SHOWN:
            text = f.get(k)
            if not isinstance(text, str):
                continue
            if own:
                text = text.replace(own, "")
            for n in sorted(own_names, key=len, reverse=True):
                text = text.replace(n, "")
            if code_re is not None and code_re.search(text):
                raise DisclosureError(f"反馈 {facility_id}：{f.get('code')} 的{k}含有其他机构的编码")
            if any(n in text for n in names):
                raise DisclosureError(f"反馈 {facility_id}：{f.get('code')} 的{k}含有其他机构的名称")


SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
MANIFEST = ".manifest.json"   # output path → digest of everything that went into it


def _code_digest() -> str:
    """The writer's code and settings: a change to either rewrites every workbook."""
    import hashlib

    import templates_xlsx.feedback as fb

    h = hashlib.sha256()
    for f in (Path(fb.__file__), Path(fb.__file__).with_name("feedback.yaml"), Path(__file__)):
        h.update(f.read_bytes())
    return h.hexdigest()


def _digest(code: str, *parts: Any) -> str:
    import hashlib
    import json

    return hashlib.sha256(json.dumps([code, *parts], ensure_ascii=False, sort_keys=True, default=str).encode()
                          ).hexdigest()


def _annotate_job(job: tuple[Path, list[dict[str, Any]], Path, dict[str, Any]]) -> Path:
    src, shown, out, kw = job
    return annotate(src, shown, out, **kw)


def _run_jobs(jobs: list[tuple[Path, list[dict[str, Any]], Path, dict[str, Any]]], workers: int) -> None:
    """Write the workbooks, in `workers` processes when there are enough of them to pay for the start-up (each
    re-opens and saves one submitted workbook with openpyxl: CPU-bound, a tenth of a second or more each)."""
    if workers <= 1 or len(jobs) < 16:
        for job in jobs:
            _annotate_job(job)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    # spawn, not fork: the parent holds a DuckDB connection and Prefect's threads
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        for _ in pool.map(_annotate_job, jobs, chunksize=max(1, len(jobs) // (workers * 8))):
            pass


def _sync(folder: Path, wanted: dict[Path, str], write: dict[Path, Any], workers: int = 1) -> list[Path]:
    """Keep the workbooks whose inputs are unchanged, (re)write the others, drop the ones no longer wanted.

    A rerun of the month (or a run under another scheme) rewrites only the returns whose file, findings or waivers
    changed: re-opening a large survey workbook costs seconds, and the bytes would come out the same anyway.
    """
    import json

    old: dict[str, str] = {}
    man = folder / MANIFEST
    if man.is_file():
        try:
            old = json.loads(man.read_text(encoding="utf-8"))
        except ValueError:
            old = {}
    if folder.is_dir():
        keep = {str(p.relative_to(folder)) for p in wanted}
        for f in sorted(folder.rglob("*.xlsx")):
            if str(f.relative_to(folder)) not in keep:
                f.unlink()
        for d in sorted((d for d in folder.rglob("*") if d.is_dir()), reverse=True):
            if not any(d.iterdir()):
                d.rmdir()
    _run_jobs([write[path] for path, digest in wanted.items()
               if not (path.is_file() and old.get(str(path.relative_to(folder))) == digest)], workers)
    if wanted:
        folder.mkdir(parents=True, exist_ok=True)
        man.write_text(json.dumps({str(p.relative_to(folder)): d for p, d in sorted(wanted.items())},
                                  ensure_ascii=False, indent=0, sort_keys=True), encoding="utf-8")
    elif man.is_file():
        man.unlink()
    return list(wanted)


def write_feedback(con: duckdb.DuckDBPyConnection, archive_dir: Path, period: str, out_dir: Path,
                   workers: int = 1) -> list[Path]:
    """Write out_dir/<period>/feedback/<facility>/<facility>_<form>_<month>_反馈.xlsx for every facility with findings
    on a current return of the period (each month of a quarter or year); returns the paths written."""
    from metrics.periods import parse_period
    from warehouse.compute import facility_peer_groups

    cfg = load_config()
    p = parse_period(period)
    folder = Path(out_dir) / period / "feedback"
    code = _code_digest()
    wanted: dict[Path, str] = {}
    write: dict[Path, Any] = {}
    registry = [(r["facility_id"], r["name"]) for r in _rows(con, "fb_registry_names")]
    written: list[Path] = []
    for month in p.months:
        returns = _rows(con, "fb_returns", period=month)
        if not returns:
            continue
        by_sub: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for f in _rows(con, "fb_findings", ids=[r["submission_id"] for r in returns]):
            by_sub[f["submission_id"]].append(f)
        group_of = facility_peer_groups(con, month)
        ids = sorted(group_of)
        peer_n = {(r["peer_group"], r["field"]): int(r["n"]) for r in _rows(
            con, "fb_peer_n", period=month, facility_ids=ids, groups=[group_of[i] for i in ids])}
        seen: dict[tuple[str, str, str], int] = defaultdict(int)
        for r in returns:
            fid = r["facility_id"]
            # only this return's findings, and only those of this facility (a finding names its own facility)
            mine = [f for f in by_sub[r["submission_id"]]
                    if f["facility_id"] in (None, fid) and f["code"] not in cfg.omit_codes]
            if not any(SEVERITY_ORDER[f["severity"]] <= SEVERITY_ORDER[cfg.min_severity] for f in mine):
                continue
            shown = disclose(mine, group_of, peer_n, cfg)
            assert_disclosable(fid, shown, group_of, peer_n, registry, cfg)
            key = (fid, form_name(r["template_id"]), month)
            seen[key] += 1
            out = folder / safe_part(fid, "未知机构") / feedback_name(fid, r["template_id"], month, seen[key])
            src = Path(archive_dir) / r["stored_path"]
            kw = dict(facility_code=fid, period=month, received_at=r["received_at"],
                      sheet_order=layout_sheets(r["template_id"]) or None)
            wanted[out] = _digest(code, r["stored_path"], shown, kw)
            write[out] = (src, shown, out, kw)
            written.append(out)
    _sync(folder, wanted, write, workers)
    return written
