"""`jixiao scheme check`: validate a scheme file (rule-points part, `method:` part, coverage across peer groups).

The strict loaders (metrics.scoring, metrics.grading) stop at the first malformed key; this module re-states
their message in Chinese where the pattern is known, then adds the checks no loader makes: an indicator that a
peer group lacks although others have it, and a peer group that can never be graded (a required section, or
too few sections, without scored indicators there). Every message names the file and the key.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from metrics.catalog import CatalogError, load_yaml

RULE_POINTS_KEYS = {"total_points", "grades", "percentile_bands"}   # a file with these carries a rule-points part


@dataclass
class SchemeCheck:
    path: Path
    kind: str = ""                      # 积分制 | 标准化评分 | 积分制 + 标准化评分
    version: str = ""
    summary: str = ""
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


# the loaders' English messages, re-stated in Chinese (file and key path are kept verbatim)
_ZH = [
    (re.compile(r"unknown key\(s\) (\[.*?\]); allowed: (\[.*\])"), r"未知的键 \1（允许的键：\2）"),
    (re.compile(r"missing key\(s\) (\[.*\])"), r"缺少必填的键 \1"),
    (re.compile(r"weights add up to (\S+), not total_points (\S+)"), r"各指标权重合计 \1，与 total_points \2 不符"),
    (re.compile(r"weights add up to (\S+), not weights_sum (\S+)"), r"各组权重合计 \1，与 weights_sum \2 不符"),
    (re.compile(r"unknown indicator (.+)"), r"指标目录中无此指标 \1"),
    (re.compile(r"unknown peer group"), "未知的同组类别"),
    (re.compile(r"expected a number, got (.+)"), r"应为数值，实为 \1"),
    (re.compile(r"must be one of (\[.*?\]), got (.+)"), r"取值须为 \1 之一，实为 \2"),
    (re.compile(r"an indicator is listed twice"), "同一指标列了两次"),
]


def _zh(message: str) -> str:
    for pattern, repl in _ZH:
        message = pattern.sub(repl, message)
    return message


def _uncached_scheme(path: Path) -> Any:
    from metrics.scoring import _load

    return _load.__wrapped__(path)  # the cache is keyed by path: a file being edited must be read afresh


def _rule_points(path: Path, out: SchemeCheck) -> Any:
    try:
        scheme = _uncached_scheme(path)
    except CatalogError as e:
        out.errors.append(_zh(str(e)))
        return None
    everywhere = {it.indicator for items in scheme.groups.values() for it in items}
    for g, items in scheme.groups.items():
        lacking = sorted(everywhere - {it.indicator for it in items})
        if lacking:
            # 2026.yaml omits YP10 for 二级 and YP11 for 三级 on purpose: stated, not refused
            out.warnings.append(f"{path}: peer_groups.{g}: 缺少其他同组类别有的指标 {'、'.join(lacking)}")
    return scheme


def _method(path: Path, out: SchemeCheck) -> Any:
    from metrics.grading import load_method

    try:
        method = load_method(path)
    except CatalogError as e:
        out.errors.append(_zh(str(e)))
        return None
    el = method.eligibility
    for pg in method.peer_groups:
        where = f"{path}: method.peer_groups.{pg}"
        scored: dict[str, list[str]] = {g: [] for g in method.groups.names}
        for it in method.items:
            if it.mode(pg) == "scored":
                scored[it.group].append(it.indicator)
        empty = [g for g, codes in scored.items() if not codes]
        for g in el.required:
            if len(scored[g]) < el.min_indicators:
                out.errors.append(f"{where}: 必备组 {g} 在该同组类别只有 {len(scored[g])} 个计分指标，"
                                  f"少于 eligibility.min_indicators {el.min_indicators}，该类机构无一能参与评级")
        enough = sum(len(codes) >= el.min_indicators for codes in scored.values())
        if enough < el.min_groups:
            out.errors.append(f"{where}: 只有 {enough} 个组有不少于 {el.min_indicators} 个计分指标，"
                              f"少于 eligibility.min_groups {el.min_groups}，该类机构无一能参与评级")
        elif empty:
            out.warnings.append(f"{where}: 组 {'、'.join(empty)} 在该同组类别没有计分指标")
    return method


def check_scheme(path: Path | str) -> SchemeCheck:
    """Every problem of a scheme file, each naming file and key; `ok` when it may be used."""
    path = Path(path)
    out = SchemeCheck(path)
    try:
        doc = load_yaml(path)
    except CatalogError as e:
        out.errors.append(str(e))
        return out
    if not isinstance(doc, dict):
        out.errors.append(f"{path}: 方案文件应为键值映射")
        return out
    out.version = str(doc.get("version", ""))
    has_method = "method" in doc
    has_points = not has_method or bool(RULE_POINTS_KEYS & set(doc))
    parts = []
    scheme = _rule_points(path, out) if has_points else None
    method = _method(path, out) if has_method else None
    if has_points:
        parts.append("积分制")
    if has_method:
        parts.append("标准化评分")
    out.kind = " + ".join(parts)
    if out.ok:
        bits = [f"版本 {out.version}", out.kind]
        if scheme is not None:
            n = len({it.indicator for items in scheme.groups.values() for it in items})
            bits.append(f"{len(scheme.groups)} 个同组类别，{n} 项指标，满分 {scheme.total_points}")
        if method is not None:
            g = method.grading
            how = {"kmeans": f"k 均值聚类 k = {g.k}", "quota": "名次配额", "bands": "分数段"}[g.method]
            bits.append(f"{len(method.peer_groups)} 个同组类别，{len(method.items)} 项指标，"
                        f"{len(method.groups.items)} 个组，{method.standardise.method} 标准化，{how}")
        out.summary = "，".join(bits)
    return out
