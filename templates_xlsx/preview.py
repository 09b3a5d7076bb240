"""The review-window preview of one facility's result (评分预览): its score, grade and rank, each indicator with its
value and points — and peer medians only where the peer group has enough facilities to hide any one of them."""
from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from statistics import median
from typing import Any

import duckdb
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from templates_xlsx.determinism import save_deterministic
from templates_xlsx.safe_text import excel_text

_HEAD = Font(bold=True)
_FILL = PatternFill("solid", fgColor="DDEBF7")
COLUMNS = [("指标代码", 10), ("指标名称", 28), ("指标值", 12), ("计分状态", 12), ("权重", 8), ("得分", 10),
           ("同组中位数（指标值）", 18), ("计分说明", 60)]
STATUS_ZH = {"scored": "计分", "redistributed": "权重重新分配", "zero": "计 0 分", "not_scored": "不计分",
             "monitor": "仅监测"}
_SAFE = re.compile(r"[^0-9A-Za-z_\-]")


def _dicts(cur: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def _med(xs: list[Decimal], places: int = 2) -> float | None:
    if not xs:
        return None
    return float(Decimal(median(xs)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def preview_data(con: duckdb.DuckDBPyConnection, period: str, scheme_version: str, facility: str,
                 min_peer_n: int) -> dict[str, Any] | None:
    """What one facility's preview shows (None when it has no result): only its own rows, plus peer medians when
    its peer group has at least min_peer_n facilities with a value."""
    from metrics.indicators import load_indicators

    comp = _dicts(con.execute("SELECT * FROM composites WHERE period = ? AND scheme_version = ? AND facility_id = ?",
                              [period, scheme_version, facility]))
    if not comp:
        return None
    c = comp[0]
    group = c["peer_group"]
    peers = _dicts(con.execute("SELECT facility_id, composite FROM composites WHERE period = ? AND scheme_version = ? "
                               "AND peer_group = ?", [period, scheme_version, group]))
    n_group = len(peers)
    scored = [p["composite"] for p in peers if p["composite"] is not None]
    rows = _dicts(con.execute(
        "SELECT s.indicator, s.weight, s.points, s.status, s.detail, v.value FROM scores s LEFT JOIN indicator_values v "
        "ON v.period = s.period AND v.facility_id = s.facility_id AND v.indicator = s.indicator WHERE s.period = ? AND "
        "s.scheme_version = ? AND s.facility_id = ? ORDER BY s.indicator", [period, scheme_version, facility]))
    values: dict[str, list[Decimal]] = {}
    for ind, v in con.execute(
            "SELECT v.indicator, v.value FROM indicator_values v JOIN composites c ON c.period = v.period AND "
            "c.facility_id = v.facility_id WHERE v.period = ? AND c.scheme_version = ? AND c.peer_group = ? AND "
            "v.value IS NOT NULL", [period, scheme_version, group]).fetchall():
        values.setdefault(ind, []).append(v)
    names = {code: i.name_zh for code, i in load_indicators().items()}
    return {
        "facility": facility, "period": period, "scheme": scheme_version, "peer_group": group, "n_group": n_group,
        "composite": c["composite"], "rank": c["rank"], "grade": c["grade"], "status": c["status"],
        "reason": c["reason"], "min_peer_n": min_peer_n,
        "composite_median": _med(scored) if len(scored) >= min_peer_n else None,
        "indicators": [r | {"name_zh": names.get(r["indicator"], r["indicator"]),
                            "peer_median": (_med(values.get(r["indicator"], []))
                                            if len(values.get(r["indicator"], [])) >= min_peer_n else None)}
                       for r in rows],
    }


def preview_path(out_dir: Path, period: str, scheme_version: str, facility: str) -> Path:
    fid = _SAFE.sub("_", facility)
    return Path(out_dir) / period / "preview" / fid / f"{fid}_{period}_{_SAFE.sub('_', scheme_version)}_评分预览.xlsx"


def write_preview(data: dict[str, Any], path: Path, run_label: str) -> Path:
    wb = Workbook()
    ws = wb.active
    ws.title = "评分预览"
    n, k = data["n_group"], data["min_peer_n"]
    head = [
        ("评分预览（审阅期，未发布）", None),
        ("机构编码", excel_text(data["facility"])),
        ("统计期", data["period"]),
        ("考核方案", data["scheme"]),
        ("评分批次", run_label),
        ("同组", excel_text(data["peer_group"])),
        ("综合得分", float(data["composite"]) if data["composite"] is not None else "未评分"),
        ("组内名次", f"{data['rank']} / {n}" if data["rank"] is not None else "—"),
        ("等级", data["grade"] or "—"),
        ("未评分原因", excel_text(data["reason"]) if data["status"] != "scored" else None),
        ("同组综合得分中位数", data["composite_median"] if data["composite_median"] is not None
         else f"同组有效机构少于 {k} 家，不予显示"),
        ("说明", f"本表仅含本机构结果；同组中位数仅在同组至少 {k} 家机构时显示。对结果有异议的，请在审阅期内向卫健委提出"
               f"（注明指标代码与理由）。"),
    ]
    for label, value in head:
        ws.append([label, value])
        ws.cell(row=ws.max_row, column=1).font = _HEAD
    ws.append([])
    ws.append([c for c, _ in COLUMNS])
    for i, (_, width) in enumerate(COLUMNS, start=1):
        cell = ws.cell(row=ws.max_row, column=i)
        cell.font, cell.fill = _HEAD, _FILL
        ws.column_dimensions[get_column_letter(i)].width = max(width, 14 if i == 1 else width)
    for r in data["indicators"]:
        ws.append([r["indicator"], r["name_zh"], float(r["value"]) if r["value"] is not None else None,
                   STATUS_ZH.get(r["status"], r["status"]), float(r["weight"]) if r["weight"] is not None else None,
                   float(r["points"]) if r["points"] is not None else None,
                   r["peer_median"] if r["peer_median"] is not None else (f"少于 {k} 家，不显示"
                                                                          if r["value"] is not None else None),
                   excel_text(r["detail"])])
        ws.cell(row=ws.max_row, column=8).alignment = Alignment(wrap_text=True, vertical="top")
    ws.column_dimensions["A"].width = 18
    ws.column_dimensions["B"].width = 30
    path.parent.mkdir(parents=True, exist_ok=True)
    save_deterministic(wb, path)
    return path


def write_previews(con: duckdb.DuckDBPyConnection, period: str, scheme_version: str, run_label: str,
                   out_dir: Path, min_peer_n: int = 5) -> list[Path]:
    """One preview workbook per facility with a result under the scheme."""
    fids = [r[0] for r in con.execute("SELECT facility_id FROM composites WHERE period = ? AND scheme_version = ? "
                                      "ORDER BY facility_id", [period, scheme_version]).fetchall()]
    out = []
    for fid in fids:
        data = preview_data(con, period, scheme_version, fid, min_peer_n)
        if data is not None:
            out.append(write_preview(data, preview_path(out_dir, period, scheme_version, fid), run_label))
    return out
