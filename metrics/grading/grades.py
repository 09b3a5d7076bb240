"""Ranks with a tie policy, and grades by score bands, percentile quotas or k-means within one grading group."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from metrics.grading.config import Grading, TieBreaker
from metrics.grading.kmeans import kmeans_1d
from metrics.grading.results import KMeansResult, TieBreak
from metrics.grading.standardise import round_count


def _show(v: Any) -> str:
    if v is None:
        return "无"
    if isinstance(v, Decimal):
        return f"{v:f}"
    return str(v)


def rank_with_ties(composites: Mapping[str, Decimal], breakers: Sequence[TieBreaker] = (),
                   values: Mapping[str, Sequence[Any]] | None = None
                   ) -> tuple[dict[str, int], dict[str, tuple[TieBreak, ...]]]:
    """rank = 1 + facilities strictly ahead; ahead = higher composite, then the breakers in order.

    `values[fid][i]` is the facility's value for breaker i (None ranks last). Without breakers ties share a
    rank. Returns the ranks and, per facility, every breaker that was applied to it (it was still tied).
    """
    values = values or {}
    fids = sorted(composites)
    # facility codes sort as text; desc is their reversed position
    pos = {f: i for i, f in enumerate(fids)}

    def part(f: str, i: int, b: TieBreaker) -> tuple[int, Any]:
        if b.by == "facility_id":
            return (0, pos[f] if b.order == "asc" else -pos[f])
        v = values[f][i]
        if v is None:
            return (1, 0)
        return (0, -v if b.order == "desc" else v)

    keys = {f: (-composites[f],) + tuple(part(f, i, b) for i, b in enumerate(breakers)) for f in fids}
    order = sorted(fids, key=lambda f: keys[f])
    ranks: dict[str, int] = {}
    for i, f in enumerate(order):
        ranks[f] = ranks[order[i - 1]] if i and keys[f] == keys[order[i - 1]] else i + 1
    records: dict[str, tuple[TieBreak, ...]] = {f: () for f in fids}
    if breakers:
        by_comp: dict[Decimal, list[str]] = {}
        for f in fids:
            by_comp.setdefault(composites[f], []).append(f)
        for tied in by_comp.values():
            if len(tied) < 2:
                continue
            for f in tied:
                rec, same = [], tied
                for i, b in enumerate(breakers):
                    if len(same) < 2:
                        break
                    shown = f if b.by == "facility_id" else _show(values[f][i])
                    rec.append(TieBreak(b.label_zh, shown, tuple(g for g in same if g != f)))
                    same = [g for g in same if keys[g][i + 1] == keys[f][i + 1]]
                records[f] = tuple(rec)
    return ranks, records


def band_grades(composites: Mapping[str, Decimal], ranks: Mapping[str, int], g: Grading) -> dict[str, str]:
    """The first band whose min the composite reaches; then the cap on a band's share (by rank)."""
    out = {}
    for f, c in composites.items():
        out[f] = next((b.grade for b in g.bands if c >= b.min), g.bands[-1].grade)
    if g.cap is not None:
        n = len(composites)
        limit = max(g.cap.min_count, round_count(n * g.cap.max_share, g.cap.rounding))
        for f in out:
            if out[f] == g.cap.grade and ranks[f] > limit:
                out[f] = g.cap.fallback
    return out


def quota_limits(n: int, g: Grading) -> list[int]:
    """How many ranks each quota band reaches: R(n × upto), R = floor | half_up | ceil."""
    return [round_count(n * b.upto, g.rounding) for b in g.quota]


def _too_few(n: int, g: Grading) -> str:
    return f"组内有综合得分的机构 {n} 个，少于分级所需的 {g.min_group_size} 个，未分级"


def quota_grades(ranks: Mapping[str, int], g: Grading) -> tuple[dict[str, str], str | None]:
    """The first quota band with rank ≤ R(n × upto); ties share a rank and so a band. Also a note when not applied."""
    n = len(ranks)
    if n < g.min_group_size:
        return {f: g.insufficient_label for f in ranks}, _too_few(n, g)
    limits = quota_limits(n, g)
    return {f: next((b.grade for b, lim in zip(g.quota, limits) if r <= lim), g.quota[-1].grade)
            for f, r in ranks.items()}, None


def kmeans_grades(composites: Mapping[str, Decimal], g: Grading
                  ) -> tuple[dict[str, str], dict[str, Decimal], KMeansResult | None, str | None]:
    """k-means clusters ordered by centre, the highest centre taking the first label; a note when not clustered."""
    fids = sorted(composites)
    if len(fids) < g.min_group_size:
        return {f: g.insufficient_label for f in fids}, {}, None, _too_few(len(fids), g)
    distinct = len(set(composites.values()))
    if distinct < g.k:
        # k clusters of fewer than k distinct scores would leave labels to the tie rule alone
        return ({f: g.insufficient_label for f in fids}, {}, None,
                f"组内不同的综合得分仅 {distinct} 个，少于聚类数 {g.k}，未分级")
    idx, res = kmeans_1d([composites[f] for f in fids], g.k, max_iter=g.max_iter, tie=g.tie)
    labels = tuple(reversed(g.labels))      # ascending centre order
    res = KMeansResult(res.n, res.k, res.initial_centres, res.centres, res.sizes, res.iterations, res.converged,
                       labels)
    return ({f: labels[j] for f, j in zip(fids, idx)}, {f: res.centres[j] for f, j in zip(fids, idx)}, res, None)


def cap_grade(grade: str | None, cap: str, order: Sequence[str]) -> str:
    """A veto's grade: the cap, unless the grade is already at or below it."""
    if grade in order and order.index(grade) >= order.index(cap):
        return grade
    return cap
