"""Cell-level differences between the versions of a facility's return (`jixiao diff`, the 修订记录 sheet)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import duckdb

from metrics.catalog import all_fields_by_code
from templates_xlsx.layout import cell_sort_key
from warehouse.db import sql_text


@dataclass(frozen=True)
class Change:
    template_id: str
    from_version: int
    to_version: int
    field: str             # field code (table cells: the column's field)
    label_zh: str          # 「label」 or 表 <table> 第 n 行「label」
    old: str               # as a person would write it; "" when blank or absent
    new: str
    sheet: str
    cell: str

    @property
    def where(self) -> str:
        return f"{self.sheet}!{self.cell}"


@dataclass(frozen=True)
class Version:
    template_id: str
    version: int
    submission_id: str
    original_name: str
    sha256: str
    received_at: Any
    status: str


def _dicts(cur: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def _shown(value: float | None, text: str | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return text or ""
    x = float(value)
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.6f}".rstrip("0").rstrip(".")


def versions(con: duckdb.DuckDBPyConnection, facility: str, period: str) -> list[Version]:
    """Every parsed, non-rejected version of the facility's returns for the month, per template oldest first."""
    return [Version(**r) for r in _dicts(con.execute(sql_text("df_versions"), {"facility": facility,
                                                                                "period": period}))]


def diff(con: duckdb.DuckDBPyConnection, facility: str, period: str,
         template: str | None = None) -> tuple[list[Version], list[Change]]:
    """The versions and the cell changes between each pair of consecutive versions (1→2, 2→3, …)."""
    labels = {f.code: f.label_zh for f in all_fields_by_code().values()}
    vs = [v for v in versions(con, facility, period) if template is None or v.template_id == template]
    changes: list[Change] = []
    by_template: dict[str, list[Version]] = {}
    for v in vs:
        by_template.setdefault(v.template_id, []).append(v)
    for tid, chain in by_template.items():
        for old, new in zip(chain, chain[1:]):
            rows = _dicts(con.execute(sql_text("df_cells"), {"old": old.submission_id, "new": new.submission_id}))
            rows.sort(key=lambda r: (r["tbl"] is not None, r["tbl"] or "", r["sheet"], r["row_no"] or 0,
                                     cell_sort_key(r["cell"]), r["field"]))
            for r in rows:
                label = f"「{labels.get(r['field'], r['field'])}」"
                if r["tbl"] is not None:
                    label = f"表 {r['tbl']} 第 {r['row_no']} 行{label}"
                changes.append(Change(tid, old.version, new.version, r["field"], label,
                                      _shown(r["old_value"], r["old_text"]), _shown(r["new_value"], r["new_text"]),
                                      r["sheet"], r["cell"]))
    return vs, changes


def diff_lines(con: duckdb.DuckDBPyConnection, facility: str, period: str, template: str | None = None) -> list[str]:
    """What `jixiao diff` prints."""
    vs, changes = diff(con, facility, period, template)
    if not vs:
        return [f"无报送记录：机构 {facility}，统计期 {period}"]
    lines = [f"机构 {facility}，统计期 {period}"]
    by_template: dict[str, list[Version]] = {}
    for v in vs:
        by_template.setdefault(v.template_id, []).append(v)
    for tid, chain in by_template.items():
        lines.append(f"报表 {tid}：共 {len(chain)} 个版本")
        for v in chain:
            lines.append(f"  版本 {v.version}：{v.original_name}（sha256 {v.sha256[:12]}，接收 {v.received_at}，"
                         f"{_STATUS_ZH.get(v.status, v.status)}）")
        for old, new in zip(chain, chain[1:]):
            mine = [c for c in changes if c.template_id == tid and c.from_version == old.version]
            lines.append(f"  版本 {old.version} → 版本 {new.version}：{len(mine)} 处修改")
            for c in mine:
                lines.append(f"    {c.where}  {c.field} {c.label_zh}：{c.old or '（空）'} → {c.new or '（空）'}")
    return lines


_STATUS_ZH = {"received": "已接收", "accepted": "当前版本", "held": "暂挂", "superseded": "已被替代"}
