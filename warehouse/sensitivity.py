"""Stability of a scored period's grades (issue 6 §4): each group weight ±5 points and the previous period.

Reads the period's stored indicator values, peer groups and targets exactly as warehouse.compute.score_period
does, re-grades every weight variant (metrics.grading.sensitivity) in memory with the scheme's own engine and
compares with the grades stored in `composites` for the scheme's version. Nothing is written.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import duckdb

from metrics.grading import grade
from metrics.grading.scheme import MethodScheme, load_assessment
from metrics.grading.sensitivity import (AnyScheme, GradeChanges, PeriodChanges, Variant, grade_changes, grade_order,
                                        period_changes, weight_variants)
from metrics.indicators import IndicatorValue
from metrics.periods import parse_period, previous_period
from metrics.scoring import score
from warehouse.compute import facility_peer_groups, facility_targets, read_indicator_values
from warehouse.db import run_sql
from warehouse.grading import _review_samples, observations

Con = duckdb.DuckDBPyConnection
DELTA_PP = Decimal(5)


@dataclass(frozen=True)
class VariantOutcome:
    variant: Variant
    changes: GradeChanges | None        # None when the variant was skipped (variant.reason)


@dataclass(frozen=True)
class Stability:
    period: str
    scheme_version: str
    delta_pp: Decimal
    graded: int                         # facilities with a stored grade of the scheme's order (not 组内样本不足)
    variants: tuple[VariantOutcome, ...]
    previous: str                       # the previous period's code
    period_changes: PeriodChanges | None    # None when the previous period has no stored grades under the scheme
    base_differs: GradeChanges          # unchanged scheme re-graded now vs stored (empty unless data moved since)


def stored_grades(con: Con, period: str, scheme_version: str) -> dict[str, str | None]:
    """The grades stored in `composites` for a period and scheme version."""
    return dict(run_sql(con, "sen_stored_grades", period=period, scheme_version=scheme_version))


class _Regrader:
    """The period's inputs read once; grades(scheme) re-grades them in memory under a scheme (variant)."""

    def __init__(self, con: Con, period: str, scheme: AnyScheme) -> None:
        p = parse_period(period)
        self.values: list[IndicatorValue] = read_indicator_values(con, p)
        self.groups = facility_peer_groups(con, p)
        self.targets = facility_targets(con, p, scheme)
        self.obs = observations(self.values, _review_samples(con, p)) if isinstance(scheme, MethodScheme) else None

    def grades(self, scheme: AnyScheme) -> dict[str, str | None]:
        if isinstance(scheme, MethodScheme):
            result = grade(scheme.method, self.groups, self.obs, targets=self.targets)
            return {f.facility_id: f.grade for f in result.facilities}
        _, composites = score(self.values, self.groups, scheme, self.targets)
        return {c.facility_id: c.grade for c in composites}


def stability(con: Con, period: str, scheme_version: str | AnyScheme,
              delta_pp: Decimal | int = DELTA_PP) -> Stability:
    """Grade changes when each group weight moves ±delta_pp points, and against the previous period's grades."""
    scheme = load_assessment(scheme_version) if isinstance(scheme_version, str) else scheme_version
    p, prev = parse_period(period), previous_period(period)
    stored = stored_grades(con, p.code, scheme.version)
    regrader = _Regrader(con, p.code, scheme)
    outcomes = []
    for v in weight_variants(scheme, delta_pp):
        changes = None if v.scheme is None else grade_changes(stored, regrader.grades(v.scheme))
        outcomes.append(VariantOutcome(v, changes))
    before = stored_grades(con, prev.code, scheme.version)
    order = grade_order(scheme)
    pc = period_changes(stored, before, order) if any(g in order for g in before.values()) else None
    return Stability(p.code, scheme.version, Decimal(delta_pp), sum(1 for g in stored.values() if g in order),
                     tuple(outcomes), prev.code, pc, grade_changes(stored, regrader.grades(scheme)))


def note_rows(st: Stability) -> list[list[str]]:
    """The 说明 sheet's stability rows (Chinese, counts only): header, one row per variant, the period comparison."""
    d = f"{st.delta_pp.normalize():f}"
    rows = [["稳定性检验", f"方案 {st.scheme_version}：各指标组权重分别上调、下调 {d} 个百分点（其余指标组按比例调整，"
                          f"总权重不变），按同一方法重新评级，与本期评定的等级比较"]]
    if st.graded == 0:
        rows.append(["权重敏感性", "本期尚无该方案的已评等级，未做检验"])
    else:
        for o in st.variants:
            if o.changes is None:
                rows.append(["权重敏感性", f"{o.variant.label_zh}：不做检验（{o.variant.reason}）"])
            else:
                rows.append(["权重敏感性", f"{o.variant.label_zh}：{o.changes.count} 家机构等级变化（共 {st.graded} 家）"])
        if st.base_differs.count:
            rows.append(["注意", f"按当前入库数据以原权重重算，有 {st.base_differs.count} 家机构的等级与本期评定的等级不同"
                               f"（评定后数据有变动）"])
    if st.period_changes is None:
        rows.append(["与上期比较", f"上期（{st.previous}）无该方案的已评等级"])
    else:
        c = st.period_changes.counts()
        rows.append(["与上期比较", f"与上期（{st.previous}）相比：升级 {c['up']} 家，降级 {c['down']} 家，不变 {c['same']} 家，"
                                 f"新评 {c['new']} 家，本期未评 {c['dropped']} 家"])
    return rows
