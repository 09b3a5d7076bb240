"""Impact ranking of outliers: what the facility's composite and rank would be with the value at its reference."""
from __future__ import annotations

import decimal
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any
from decimal import Decimal

from metrics.indicators import OK, Indicator, IndicatorValue, compute, load_indicators
from metrics.quality.outliers import Outlier
from metrics.scoring import Scheme, score

Number = Decimal | float | int


@dataclass(frozen=True)
class Impact:
    facility_id: str
    field: str
    peer_group: str | None
    scored: bool                        # the field feeds a scored indicator of the facility's group under the scheme
    replacement: float | None           # the value put in place of the outlier (Outlier.replacement)
    indicators: tuple[str, ...]         # the group's scored indicators that read the field
    changed: tuple[str, ...]            # of those, the ones whose value or status would change
    composite: Decimal | None           # as scored now
    composite_new: Decimal | None       # with the replacement, every other facility's composite kept fixed
    delta: Decimal | None               # composite_new − composite (0 when not scored or unchanged; None if either
                                        # side is not scored)
    rank: int | None
    rank_new: int | None                # 1 + facilities of the group with a strictly higher (fixed) composite
    note_zh: str | None = None


def field_indicators(catalog: Mapping[str, Indicator], calibres: Mapping[str, str] | None = None
                     ) -> dict[str, tuple[str, ...]]:
    """field → the indicators that read it under the calibres (a growth indicator reads its base ratio's fields)."""
    calibres = calibres or {}
    out: dict[str, list[str]] = {}
    for ind in catalog.values():
        f = ind.calibre(calibres.get(ind.code)).formula
        if f.kind == "growth":
            of = catalog[f.of or ""]
            f = of.calibre(calibres.get(of.code)).formula
        for c in dict.fromkeys(f.fields()):
            out.setdefault(c, []).append(ind.code)
    return {c: tuple(v) for c, v in out.items()}


def _deps(codes: Iterable[str], catalog: Mapping[str, Indicator], calibres: Mapping[str, str]) -> dict[str, Indicator]:
    out: dict[str, Indicator] = {}
    for c in codes:
        ind = catalog[c]
        out[c] = ind
        f = ind.calibre(calibres.get(c)).formula
        if f.kind == "growth" and f.of:
            out.setdefault(f.of, catalog[f.of])
    return out


def _dec(v: float) -> Decimal:
    return Decimal(repr(float(v)))


def rank_by_impact(outliers: Iterable[Outlier], agg: Mapping[str, Mapping[str, Number | None]],
                   base: Mapping[str, Mapping[str, Number | None]], peer_groups: Mapping[str, str | None],
                   scheme: Scheme, *, blocked: Mapping[str, set[str]] | None = None,
                   base_blocked: Mapping[str, set[str]] | None = None,
                   targets: Mapping[tuple[str, str], Decimal] | None = None,
                   external: Iterable[IndicatorValue] = (),
                   catalog: Mapping[str, Indicator] | None = None) -> list[tuple[Outlier, Impact]]:
    """Each non-confirmed outlier with its Impact, by |Δ composite| descending, then facility and field.

    `agg` / `base`: each facility's fields this period / the same period last year (warehouse.compute
    .aggregate_fields); `external`: indicator values another stage supplies (satisfaction), kept as they are.
    The outlier's value is replaced by Outlier.replacement, the facility's indicators are recomputed with
    metrics.indicators.compute and its composite with metrics.scoring.score against its peers' fixed values.
    """
    catalog = dict(catalog or load_indicators())
    calibres = dict(scheme.calibres)
    blocked = blocked or {}
    values0 = compute(agg, base, blocked, catalog, calibres, base_blocked) + list(external)
    by_fid: dict[str, dict[str, IndicatorValue]] = {}
    for iv in values0:
        by_fid.setdefault(iv.facility_id, {})[iv.indicator] = iv
    _, comps = score(values0, peer_groups, scheme, targets)
    comp = {c.facility_id: c for c in comps}
    scored_in: dict[str, dict[str, Decimal]] = {}
    members: dict[str, list[str]] = {}
    for c in comps:
        members.setdefault(c.peer_group, []).append(c.facility_id)
        if c.composite is not None:
            scored_in.setdefault(c.peer_group, {})[c.facility_id] = c.composite
    reads = field_indicators(catalog, calibres)
    scored_items = {g: {it.indicator for it in items if it.rule.kind != "monitor" and it.weight > 0}
                    for g, items in scheme.groups.items()}
    pct_items = {g: [it.indicator for it in items if it.rule.kind == "percentile"]
                 for g, items in scheme.groups.items()}

    @dataclass
    class _Job:
        outlier: Outlier
        group: str | None
        inds: tuple[str, ...] = ()
        changed: dict[str, IndicatorValue] | None = None
        impact: Impact | None = None
        moves: dict[str, tuple[Decimal, Decimal]] | None = None

    def _moves(job: _Job, g: str) -> dict[str, tuple[Decimal, Decimal]] | None:
        # percentile-rule indicator → (old, new) value; None when one changes status (scored alone)
        old = by_fid.get(job.outlier.facility_id, {})
        out = {}
        for i, iv in (job.changed or {}).items():
            if i in pct_items[g]:
                before = old.get(i)
                if before is None or before.status != OK or iv.status != OK:
                    return None
                out[i] = (before.value, iv.value)
        return out

    def _value(job: _Job, i: str) -> Decimal | None:
        iv = (job.changed or {}).get(i) or by_fid.get(job.outlier.facility_id, {}).get(i)
        return iv.value if iv is not None and iv.status == OK else None

    def _compatible(a: _Job, b: _Job, g: str) -> bool:
        if a.outlier.facility_id == b.outlier.facility_id:
            return False
        for x, y in ((a, b), (b, a)):
            for i, (v0, v1) in (x.moves or {}).items():
                v = _value(y, i)
                if v is not None and min(v0, v1) <= v <= max(v0, v1):
                    return False
        return True

    def settle(job: _Job, note: str | None = None, scored: bool = True) -> None:
        o, c0 = job.outlier, comp.get(job.outlier.facility_id)
        composite0, rank0 = (c0.composite, c0.rank) if c0 is not None else (None, None)
        job.impact = Impact(o.facility_id, o.field, job.group, scored, o.replacement, job.inds, (),
                            composite0, composite0, Decimal(0), rank0, rank0, note)

    def prepare(o: Outlier) -> _Job:
        fid, g = o.facility_id, peer_groups.get(o.facility_id)
        job = _Job(o, g)
        if g is None or g not in scheme.groups:
            settle(job, "本机构的同组不在考核方案中，不计分", scored=False)
            return job
        job.inds = tuple(i for i in reads.get(o.field, ()) if i in scored_items[g])
        if not job.inds:
            settle(job, "该数据项不参与本组计分指标，对综合得分无影响", scored=False)
            return job
        if o.replacement is None:
            settle(job, "无可替代的参考值，未测算影响")
            return job
        fields = dict(agg.get(fid, {}))
        fields[o.field] = _dec(o.replacement)
        new = compute({fid: fields}, {fid: base[fid]} if fid in base else {},
                      {fid: set(blocked.get(fid, ()))}, _deps(job.inds, catalog, calibres), calibres, base_blocked)
        old = by_fid.get(fid, {})
        job.changed = {iv.indicator: iv for iv in new if iv.indicator in job.inds
                       and (old.get(iv.indicator) is None
                            or (iv.value, iv.status) != (old[iv.indicator].value, old[iv.indicator].status))}
        if not job.changed:
            settle(job, "替换后指标值不变")
        return job

    def finish(job: _Job, c1: Any) -> None:
        o, g = job.outlier, job.group
        c0 = comp.get(o.facility_id)
        composite0, rank0 = (c0.composite, c0.rank) if c0 is not None else (None, None)
        others = [v for p, v in scored_in.get(g or "", {}).items() if p != o.facility_id]
        rank1 = None if c1.composite is None else 1 + sum(1 for v in others if v > c1.composite)
        if composite0 is None or c1.composite is None:
            reason = c1.reason or (c0.reason if c0 is not None else None)
            delta = None
            note = ("替换后仍未评分" if composite0 is None and c1.composite is None
                    else "替换后评分状态改变" + (f"（{reason}）" if reason else ""))
        else:
            delta, note = c1.composite - composite0, None
        job.impact = Impact(o.facility_id, o.field, g, True, o.replacement, job.inds,
                            tuple(i for i in job.inds if i in (job.changed or {})), composite0, c1.composite,
                            delta, rank0, rank1, note)

    def rescore(g: str, batch: list[_Job]) -> None:
        # the batch's facilities carry their changed values; every other facility of the group carries only its
        # percentile-rule values (the pools), so the batch's composites are scored against fixed peers
        mine = {j.outlier.facility_id: j for j in batch}
        vals: list[IndicatorValue] = []
        groups: dict[str, str] = {}
        for p in members.get(g, ()):
            pv = by_fid.get(p, {})
            if p in mine:
                vals.extend({**pv, **(mine[p].changed or {})}.values())
                groups[p] = g
            elif pct_items[g]:
                vals.extend(pv[i] for i in pct_items[g] if i in pv)
                groups[p] = g
        _, comps_new = score(vals, groups, replace(scheme, groups={g: scheme.groups[g]}), targets)
        for c in comps_new:
            if c.facility_id in mine:
                finish(mine[c.facility_id], c)

    jobs: dict[tuple[str, str, float | None], _Job] = {}
    order: list[tuple[Outlier, tuple[str, str, float | None]]] = []
    with decimal.localcontext() as ctx:
        ctx.prec = 34
        for o in outliers:
            if o.confirmed:
                continue
            k = (o.facility_id, o.field, o.replacement)
            if k not in jobs:
                jobs[k] = prepare(o)
            order.append((o, k))
        # Jobs share one scoring of their group when that is exact: distinct facilities, and no job's move of a
        # percentile-rule value (old → new, both ok) passes over or onto another member's value of that indicator
        # — a percentile point only counts peers below / equal / above, so such a move changes nobody else's
        # points. A job whose percentile-rule indicator changes status (the pool's size changes) is scored alone.
        batches: dict[str, list[list[_Job]]] = {}
        for job in jobs.values():
            if job.impact is not None:
                continue
            g = job.group or ""
            moves = _moves(job, g)
            if moves is None:
                rescore(g, [job])
                continue
            job.moves = moves
            for b in batches.setdefault(g, []):
                if all(_compatible(job, x, g) for x in b):
                    b.append(job)
                    break
            else:
                batches[g].append([job])
        for g, bs in batches.items():
            for b in bs:
                rescore(g, b)
    out = [(o, jobs[k].impact) for o, k in order]  # type: ignore[misc]
    out.sort(key=lambda x: (-abs(x[1].delta or 0), x[0].facility_id, x[0].field, x[0].method, x[0].rule or ""))
    return out


def rank_by_impact_graded(outliers: Iterable[Outlier], agg: Mapping[str, Mapping[str, Number | None]],
                          base: Mapping[str, Mapping[str, Number | None]], peer_groups: Mapping[str, str | None],
                          scheme: Any, observe: Any, *, blocked: Mapping[str, set[str]] | None = None,
                          base_blocked: Mapping[str, set[str]] | None = None,
                          targets: Mapping[tuple[str, str], Decimal] | None = None,
                          external: Iterable[IndicatorValue] = (), baseline: Iterable[Any] = (),
                          events: Iterable[Any] = (), catalog: Mapping[str, Indicator] | None = None
                          ) -> list[tuple[Outlier, Impact]]:
    """rank_by_impact for a standardised scheme (metrics.grading.scheme.MethodScheme).

    The facility's indicators are recomputed with the replacement value and its peer group is graded again with the
    real engine (the group's means and SDs move with the value, as they would); its new composite is ranked among the
    other facilities' composites as they stand. `observe(values)` turns indicator values into grading observations
    (warehouse.grading.observations with the period's review samples); baseline, events and targets as in grading.
    """
    from metrics.grading import grade

    catalog = dict(catalog or load_indicators())
    calibres = dict(scheme.calibres)
    method = scheme.method
    blocked = blocked or {}
    external = list(external)
    baseline, events = list(baseline), list(events)
    values0 = compute(agg, base, blocked, catalog, calibres, base_blocked) + external
    by_fid: dict[str, dict[str, IndicatorValue]] = {}
    for iv in values0:
        by_fid.setdefault(iv.facility_id, {})[iv.indicator] = iv
    assessed = frozenset(method.peer_groups)
    res0 = grade(method, peer_groups, observe(values0), baseline=baseline, events=events, targets=targets)
    comp = {f.facility_id: f for f in res0.facilities}
    members: dict[str, list[str]] = {}
    for fid, g in peer_groups.items():
        if g in assessed:
            members.setdefault(g, []).append(fid)
    reads = field_indicators(catalog, calibres)
    items = {it.indicator: it for it in method.items}
    memo: dict[tuple[str, str, float | None], Impact] = {}

    def impact(o: Outlier) -> Impact:
        fid, g = o.facility_id, peer_groups.get(o.facility_id)
        c0 = comp.get(fid)
        composite0, rank0 = (c0.composite, c0.rank) if c0 is not None else (None, None)

        def same(note: str, scored: bool = True, inds: tuple[str, ...] = ()) -> Impact:
            return Impact(fid, o.field, g, scored, o.replacement, inds, (), composite0, composite0, Decimal(0),
                          rank0, rank0, note)

        if g is None or g not in assessed:
            return same("本机构的同组不在考核方案中，不计分", scored=False)
        inds = tuple(i for i in reads.get(o.field, ()) if i in items and items[i].mode(g) == "scored")
        if not inds:
            return same("该数据项不参与本组计分指标，对综合得分无影响", scored=False)
        if o.replacement is None:
            return same("无可替代的参考值，未测算影响", inds=inds)
        fields = dict(agg.get(fid, {}))
        fields[o.field] = _dec(o.replacement)
        new = compute({fid: fields}, {fid: base[fid]} if fid in base else {}, {fid: set(blocked.get(fid, ()))},
                      _deps(inds, catalog, calibres), calibres, base_blocked)
        old = by_fid.get(fid, {})
        changed = {iv.indicator: iv for iv in new if iv.indicator in inds
                   and (old.get(iv.indicator) is None
                        or (iv.value, iv.status) != (old[iv.indicator].value, old[iv.indicator].status))}
        if not changed:
            return same("替换后指标值不变", inds=inds)
        vals = [iv for p in members[g] if p != fid for iv in by_fid.get(p, {}).values()]
        vals += list({**old, **changed}.values())
        res = grade(method, {p: g for p in members[g]}, observe(vals), baseline=baseline,
                    events=[e for e in events if peer_groups.get(e.facility_id) == g], targets=targets)
        c1 = res.facility(fid)
        others = [comp[p].composite for p in members[g] if p != fid and p in comp and comp[p].composite is not None]
        rank1 = None if c1.composite is None else 1 + sum(1 for v in others if v > c1.composite)
        if composite0 is None or c1.composite is None:
            note = ("替换后仍未评分" if composite0 is None and c1.composite is None
                    else "替换后评分状态改变" + (f"（{c1.reason}）" if c1.reason else ""))
            delta = None
        else:
            delta, note = c1.composite - composite0, None
        return Impact(fid, o.field, g, True, o.replacement, inds, tuple(i for i in inds if i in changed),
                      composite0, c1.composite, delta, rank0, rank1, note)

    out = []
    with decimal.localcontext() as ctx:
        ctx.prec = 34
        for o in outliers:
            if o.confirmed:
                continue
            k = (o.facility_id, o.field, o.replacement)
            if k not in memo:
                memo[k] = impact(o)
            out.append((o, memo[k]))
    out.sort(key=lambda x: (-abs(x[1].delta or 0), x[0].facility_id, x[0].field, x[0].method, x[0].rule or ""))
    return out
