"""grade(): orientation → small numbers → standardisation → groups → eligibility → composite → bonus/veto → grades."""
from __future__ import annotations

import decimal
import gc
from collections.abc import Iterable, Mapping
from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal

from metrics.grading.config import Item, Method, Orientation, Standardise
from metrics.grading.grades import band_grades, cap_grade, kmeans_grades, quota_grades, rank_with_ties
from metrics.grading.improvement import improvement_stats, points
from metrics.grading.results import (ALL, BonusRecord, CapRecord, Event, FacilityResult, GradingResult, GroupResult,
                                     ImprovementDetail, ImprovementStats, IndicatorResult, KMeansResult, Observation, PeerStats,
                                     VetoRecord)
from metrics.grading.standardise import CTX, ZERO, quantum, standardise_column
from metrics.scoring import STATUS_ZH, rule_points

OK = "ok"
HUNDRED = Decimal(100)
IR = IndicatorResult
MONITOR_ZH = "监测指标，不计分"
UNGROUPED_ZH = "无法确定机构的同组类别（级别×类型）"


def orient(o: Orientation, v: Decimal, target: Decimal | None = None) -> Decimal:
    """The value turned so that higher is better: v, −v, or minus the distance to a target or band."""
    k = o.kind
    if k == "up":
        return v
    if k == "down":
        return ZERO - v
    if k == "ceiling":
        assert target is not None
        return ZERO - (v - target) if v > target else ZERO
    if k == "floor":
        assert target is not None
        return ZERO - (target - v) if v < target else ZERO
    if k == "band":
        assert o.low is not None and o.high is not None
        return ZERO - (o.low - v) if v < o.low else ZERO - (v - o.high) if v > o.high else ZERO
    raise ValueError(f"cannot orient a {k} indicator")


def _target(it: Item, fid: str, targets: Mapping[tuple[str, str], Decimal] | None) -> tuple[Decimal | None, bool]:
    # (target, needed): items with a target_key take the facility's own target, targets[(facility, indicator)]
    needs = it.orient.target_key is not None or (it.rule is not None and it.rule.target_key is not None
                                                 and it.rule.target is None)
    if not needs:
        return it.orient.target, False
    return (targets or {}).get((fid, it.indicator)), True


def _check(it: Item, o: Observation | None) -> str | None:
    """Why an observation cannot be scored (Chinese), or None."""
    if o is None:
        return STATUS_ZH["missing"] + "，不计分"
    if o.status != OK or o.value is None:
        return STATUS_ZH.get(o.status, o.status) + "，不计分"
    if it.min_denominator > 0:
        if o.denominator is None:
            return f"缺少分母，无法核对最小分母 {it.min_denominator:f}，不计分"
        if o.denominator < it.min_denominator:
            return f"分母 {o.denominator:f} 小于最小分母 {it.min_denominator:f}，不计分"
    if it.min_sample > 0:
        if o.sample is None:
            return f"缺少样本量，无法核对最少样本 {it.min_sample}，不计分"
        if o.sample < it.min_sample:
            return f"样本量 {o.sample} 小于最少样本 {it.min_sample}，不计分"
    return None


def _oriented(it: Item, fid: str, o: Observation | None, targets: Mapping[tuple[str, str], Decimal] | None
              ) -> tuple[Decimal | None, Decimal | None, str | None]:
    """(oriented value, target, reason it is not scorable)."""
    why = _check(it, o)
    if why is not None:
        return None, None, why
    assert o is not None and o.value is not None
    target, needed = _target(it, fid, targets)
    if needed and target is None:
        return None, None, "目标表中无适用于本机构的目标值，不计分"
    own = target if it.orient.target_key is not None else it.orient.target
    return orient(it.orient, o.value, own), target, None


def _rule_column(it: Item, scorable: list[tuple[str, Decimal]], obs: Mapping[str, Mapping[str, Observation]],
                 targets_used: Mapping[str, Decimal | None], pg_of: Mapping[str, str], q: Decimal
                 ) -> tuple[list[Decimal], list[Decimal]]:
    """score: rule — 100 × points / weight and the first slice's rule points (peers: the scope's values)."""
    assert it.rule is not None
    raws = [obs[f][it.indicator].value for f, _ in scorable]
    peers = [v for v in raws if v is not None]
    shares, pts_at = [], []
    for (f, _), v in zip(scorable, raws):
        rule = it.rule
        if rule.target_key is not None and rule.target is None:
            rule = replace(rule, target=targets_used[f])
        assert v is not None
        w = it.weight_for(pg_of[f])
        pts = rule_points(rule, w, v, peers, it.direction)
        assert pts is not None
        pts_at.append(pts.quantize(q, rounding=ROUND_HALF_UP))
        shares.append((HUNDRED * pts / w).quantize(q, rounding=ROUND_HALF_UP))
    return shares, pts_at


def _improvement_column(scorable: list[tuple[str, Decimal]], base_vals: Mapping[str, Decimal],
                        st: ImprovementStats, method: Method
                        ) -> tuple[list[Decimal | None], list[ImprovementDetail | None], list[str]]:
    """score: improvement — points per scorable value (None with a reason when not scored)."""
    sv_at: list[Decimal | None] = []
    imp_at: list[ImprovementDetail | None] = []
    why_at: list[str] = []
    for f, x in scorable:
        if not st.scored:
            sv_at.append(None)
            imp_at.append(None)
            why_at.append(st.reason or "")
            continue
        d = points(x, base_vals.get(f), st, method.improvement)
        imp_at.append(d)
        if method.improvement.combine == "improvement" and d.improvement is None:
            sv_at.append(None)
            why_at.append("无基期数据，无法计算进步分，不计分")
            continue
        sv_at.append(d.improvement if d.used == "improvement" and d.improvement is not None else d.achievement)
        why_at.append("")
    return sv_at, imp_at, why_at


def _index(obs: Iterable[Observation], codes: set[str], what: str) -> dict[str, dict[str, Observation]]:
    out: dict[str, dict[str, Observation]] = {}
    for o in obs:
        if o.indicator not in codes:
            continue
        d = out.setdefault(o.facility_id, {})
        if o.indicator in d:
            raise ValueError(f"{what}: {o.facility_id} {o.indicator} given twice")
        d[o.indicator] = o
    return out


def grade(method: Method, peer_groups: Mapping[str, str | None], observations: Iterable[Observation], *,
          baseline: Iterable[Observation] = (), events: Iterable[Event] = (),
          targets: Mapping[tuple[str, str], Decimal] | None = None) -> GradingResult:
    """Grade every facility of the method's peer groups; pure, deterministic, independent of input order.

    `peer_groups[facility]` is its tier × type peer group (None: unknown); facilities of other peer groups are
    not assessed. `baseline` holds the baseline period's values (improvement scoring), `events` the facts that
    veto and bonus items name, `targets[(facility, indicator)]` the own targets of target_key items.
    """
    # 600,000 result rows would trigger many cyclic-GC passes that find nothing: pause the collector meanwhile
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        with decimal.localcontext(CTX):
            return _grade(method, peer_groups, observations, baseline, events, targets)
    finally:
        if was_enabled:
            gc.enable()


def _grade(method: Method, peer_groups: Mapping[str, str | None], observations: Iterable[Observation],
           baseline: Iterable[Observation], events: Iterable[Event],
           targets: Mapping[tuple[str, str], Decimal] | None) -> GradingResult:
    P = method.precision
    q_std, q_grp, q_comp = quantum(P.standardised), quantum(P.group), quantum(P.composite)
    std = method.standardise
    codes = {it.indicator for it in method.items}
    obs = _index(observations, codes, "observations")
    base_obs = _index(baseline, codes, "baseline")
    assessed_groups = set(method.peer_groups)
    pg_of: dict[str, str] = {}
    ungrouped: list[str] = []
    for fid in sorted(set(peer_groups) | set(obs)):
        g = peer_groups.get(fid)
        if g is None:
            ungrouped.append(fid)
        elif g in assessed_groups:
            pg_of[fid] = g
    scope_of = {f: (g if std.within == "peer_group" else ALL) for f, g in pg_of.items()}
    scopes: dict[str, list[str]] = {}
    for f in sorted(pg_of):
        scopes.setdefault(scope_of[f], []).append(f)

    rows_by_fid: dict[str, list[IndicatorResult]] = {f: [] for f in pg_of}
    peer_stats: dict[tuple[str, str], PeerStats] = {}
    imp_stats: dict[tuple[str, str], ImprovementStats] = {}
    capped: list[CapRecord] = []
    gnames = method.groups.names
    # per group and facility: [Σ weight × standardised, Σ weight, n scored]
    acc: dict[str, dict[str, list]] = {g: {f: [ZERO, ZERO, 0] for f in pg_of} for g in gnames}
    std_of: dict[tuple[str, str], Decimal] = {}     # (facility, indicator) → standardised, for tie-breakers
    breaker_codes = {b.indicator for b in method.ties if b.by == "indicator"}

    empty: dict[str, Observation] = {}
    # per scope: (facility, peer group, its observations), facilities sorted by code
    info = {sc: [(f, pg_of[f], obs.get(f) or empty) for f in members] for sc, members in scopes.items()}
    for it in method.items:
        modes = {g: it.mode(g) for g in method.peer_groups}
        code, group, weight, kind = it.indicator, it.group, it.weight, it.orient.kind
        # the common case needs no target, no small-number check and no call per value
        simple = (kind in ("up", "down") and it.min_denominator == 0 and it.min_sample == 0
                  and (it.rule is None or it.rule.target_key is None))
        down = kind == "down"
        for scope, minfo in info.items():
            # one row per facility listed for the item; rows of scorable values are completed below
            srows: list[IndicatorResult] = []
            scorable: list[tuple[str, Decimal]] = []
            targets_used: dict[str, Decimal | None] = {}
            listed = False
            for fid, pg, fobs in minfo:
                mode = modes[pg]
                if mode is None:
                    continue
                listed = True
                o = fobs.get(code)
                raw, status = (None, "missing") if o is None else (o.value, o.status)
                if mode == "monitor":
                    rows_by_fid[fid].append(IR(fid, code, group, scope, raw, status, None, None, False, None, False,
                                               MONITOR_ZH))
                    continue
                if simple and o is not None and status == OK and raw is not None:
                    ov = ZERO - raw if down else raw
                    why = None
                else:
                    ov, t, why = _oriented(it, fid, o, targets)
                    if why is None:
                        targets_used[fid] = t
                row = IR(fid, code, group, scope, raw, status, ov, ov, False, None, False, why)
                rows_by_fid[fid].append(row)
                if why is None:
                    assert ov is not None
                    srows.append(row)
                    scorable.append((fid, ov))
            if not listed or not scorable:
                continue
            sv_at: list[Decimal | None] | None = None
            why_at: list[str] | None = None
            stats: PeerStats | None = None
            if it.score == "standardise":
                col = standardise_column(scope, code, scorable, std, P)
                stats = col.stats
                peer_stats[(scope, code)] = stats
                if col.standardised is None:
                    why_at = [stats.reason or ""] * len(scorable)
                else:
                    sv_at = col.standardised  # type: ignore[assignment]
                    for i in col.capped_at:
                        r = srows[i]
                        r.used, r.capped = col.used[i], True
                    capped.extend(col.capped)
                    if col.ranks is not None:
                        for r, (worse, ties) in zip(srows, col.ranks):
                            r.rank_below, r.rank_ties = worse, ties
            elif it.score == "rule":
                sv_at, pts_at = _rule_column(it, scorable, obs, targets_used, pg_of,  # type: ignore[assignment]
                                             q_std)
                for r, pts in zip(srows, pts_at):
                    r.points = pts
            else:
                base_vals: dict[str, Decimal] = {}
                for fid, pg, _ in minfo:
                    if modes[pg] != "scored":
                        continue
                    bv, _, why = _oriented(it, fid, base_obs.get(fid, {}).get(code), targets)
                    if why is None:
                        assert bv is not None
                        base_vals[fid] = bv
                st = improvement_stats(scope, code, [base_vals[f] for f in sorted(base_vals)], method.improvement,
                                       P, std.min_n)
                imp_stats[(scope, code)] = st
                sv_at, imp_at, why_at = _improvement_column(scorable, base_vals, st, method)
                for r, d in zip(srows, imp_at):
                    r.improvement = d
            if sv_at is None:
                assert why_at is not None
                for r, why in zip(srows, why_at):
                    r.reason, r.stats = why, stats
                continue
            tie_code = code in breaker_codes
            gacc = acc[group]
            wmap = dict(it.weight_in)
            for i, (r, sv) in enumerate(zip(srows, sv_at)):
                r.stats = stats
                if sv is None:
                    r.reason = why_at[i] if why_at is not None else "未计分"
                    continue
                r.standardised, r.scored = sv, True
                a = gacc[r.facility_id]
                w = wmap.get(pg_of[r.facility_id], weight) if wmap else weight
                a[0] += w * sv
                a[1] += w
                a[2] += 1
                if tie_code:
                    std_of[(r.facility_id, code)] = sv

    # ------------------------------------------------------------------ groups
    gw = {g.name: g.weight for g in method.groups.items}
    el = method.eligibility
    means: dict[str, dict[str, Decimal | None]] = {}
    for f in pg_of:
        means[f] = {}
        for g in gnames:
            s, w, n = acc[g][f]
            means[f][g] = (s / w).quantize(q_grp, rounding=ROUND_HALF_UP) if n >= method.groups.min_indicators \
                and w > 0 else None
    scores: dict[str, dict[str, Decimal | None]] = {f: dict(m) for f, m in means.items()}
    group_stats: dict[tuple[str, str], PeerStats] = {}
    group_why: dict[tuple[str, str], str] = {}
    if method.groups.restandardise == "z":
        zstd = Standardise("z", std.within, std.sd, std.min_n)
        zprec = replace(P, standardised=P.group)
        for scope, members in scopes.items():
            for g in gnames:
                vals = [(f, means[f][g]) for f in members if means[f][g] is not None]
                if not vals:
                    continue
                col = standardise_column(scope, g, vals, zstd, zprec)  # type: ignore[arg-type]
                group_stats[(scope, g)] = col.stats
                for f, _ in vals:
                    scores[f][g] = col.values.get(f)
                    if f not in col.values:
                        group_why[(f, g)] = col.stats.reason or ""

    # ------------------------------------------------------------------ eligibility, composite, bonus, veto
    ev: dict[str, dict[str, list[Event]]] = {}
    for e in events:
        ev.setdefault(e.facility_id, {}).setdefault(e.code, []).append(e)
    group_rows: list[GroupResult] = []
    fac: dict[str, dict] = {}
    for f in sorted(pg_of):
        pg = pg_of[f]
        counts = {g: acc[g][f][2] for g in gnames}
        counting = [g for g in gnames if counts[g] >= el.min_indicators]
        avail = [g for g in gnames if scores[f][g] is not None]
        wsum = sum((gw[g] for g in avail), ZERO)
        problems = []
        if len(counting) < el.min_groups:
            detail = "、".join(f"{g} {counts[g]} 个" for g in gnames)
            problems.append(f"至少有 {el.min_indicators} 个计分指标的指标组 {len(counting)} 个（{detail}），"
                            f"少于方案要求的 {el.min_groups} 个")
        for g in el.required:
            if counts[g] < el.min_indicators:
                problems.append(f"必需指标组「{g}」计分指标 {counts[g]} 个，少于 {el.min_indicators} 个")
        if not avail and not problems:
            problems.append("无可计分的指标组")
        eligible = not problems
        base = None
        if eligible:
            base = (sum((gw[g] * scores[f][g] for g in avail), ZERO) / wsum).quantize(q_comp,  # type: ignore
                                                                                      rounding=ROUND_HALF_UP)
        for g in gnames:
            s = scores[f][g]
            why = None
            if s is None:
                why = group_why.get((f, g)) or (f"计分指标 {counts[g]} 个，少于 {method.groups.min_indicators} 个，"
                                                f"本组不计分，权重按比例分配至其他指标组")
            eff = (gw[g] * method.groups.weights_sum / wsum).quantize(quantum(P.stat), rounding=ROUND_HALF_UP) \
                if s is not None and wsum > 0 else None
            group_rows.append(GroupResult(f, g, counts[g], means[f][g], s, counts[g] >= el.min_indicators, gw[g],
                                          eff, group_stats.get((scope_of[f], g)), why))
        bonus, brecs = ZERO, []
        if eligible:
            fe = ev.get(f, {})
            for b in method.bonus.items:
                if b.event in fe:
                    cnt = sum(e.count for e in fe[b.event])
                    pts = b.points * cnt
                    if b.max is not None:
                        pts = min(pts, b.max)
                    brecs.append(BonusRecord(b.code, b.name_zh, cnt, pts))
                    bonus += pts
            if method.bonus.cap is not None:
                bonus = min(bonus, method.bonus.cap)
        vrecs = []
        for v in method.veto:
            if v.event is not None:
                hits = ev.get(f, {}).get(v.event)
                if hits:
                    notes = "；".join(e.note for e in hits if e.note)
                    vrecs.append(VetoRecord(v.code, v.name_zh, v.cap_grade, notes or f"事件 {v.event}"))
            else:
                o = obs.get(f, {}).get(v.indicator or "")
                if o is not None and o.status == OK and o.value is not None:
                    if v.below is not None and o.value < v.below:
                        vrecs.append(VetoRecord(v.code, v.name_zh, v.cap_grade,
                                                f"{v.indicator} = {o.value:f} < {v.below:f}"))
                    elif v.above is not None and o.value > v.above:
                        vrecs.append(VetoRecord(v.code, v.name_zh, v.cap_grade,
                                                f"{v.indicator} = {o.value:f} > {v.above:f}"))
        notes = problems[:]
        missing = [g for g in gnames if scores[f][g] is None]
        if eligible and missing:
            notes.append("缺少指标组（权重已按比例重新分配）：" + "、".join(missing))
        key = []
        if "peer_group" in method.grading.within:
            key.append(pg)
        if "groups_reported" in method.grading.within:
            key.append(f"报告{len(counting)}组")
        fac[f] = dict(pg=pg, gg="·".join(key) or ALL, counting=len(counting),
                      reported=sum(counts.values()), eligible=eligible, reason="；".join(notes) or None,
                      base=base, bonus=bonus, composite=None if base is None else (base + bonus).quantize(
                          q_comp, rounding=ROUND_HALF_UP), vetoes=tuple(vrecs), bonuses=tuple(brecs))

    # ------------------------------------------------------------------ ranks and grades per grading group
    gg_members: dict[str, list[str]] = {}
    for f in sorted(fac):
        if fac[f]["composite"] is not None:
            gg_members.setdefault(fac[f]["gg"], []).append(f)
    g = method.grading
    clusters: dict[str, KMeansResult] = {}
    rank: dict[str, int] = {}
    ties: dict[str, tuple] = {}
    grade_of: dict[str, str] = {}
    centre: dict[str, Decimal] = {}
    for key, members in gg_members.items():
        comps = {f: fac[f]["composite"] for f in members}
        bvals = {f: [(scores[f][b.group] if b.by == "group" else std_of.get((f, b.indicator or ""))
                      if b.by == "indicator" else fac[f]["reported"] if b.by == "indicators_reported" else None)
                     for b in method.ties] for f in members}
        r, t = rank_with_ties(comps, method.ties, bvals)
        rank.update(r)
        ties.update(t)
        note = None
        if g.method == "bands":
            grade_of.update(band_grades(comps, r, g))
        elif g.method == "quota":
            gr, note = quota_grades(r, g)
            grade_of.update(gr)
        else:
            gr, cen, res, note = kmeans_grades(comps, g)
            grade_of.update(gr)
            centre.update(cen)
            if res is not None:
                clusters[key] = res
        if note:
            for f in members:
                fac[f]["reason"] = "；".join(x for x in (fac[f]["reason"], note) if x)

    facilities = []
    order = g.order
    for f in ungrouped:
        facilities.append(FacilityResult(f, None, None, 0, 0, False, UNGROUPED_ZH, None, ZERO, None, None, None,
                                         None))
    for f, d in fac.items():
        before = grade_of.get(f)
        after = before
        for v in d["vetoes"]:
            after = cap_grade(after, v.cap_grade, order)
        facilities.append(FacilityResult(
            f, d["pg"], d["gg"], d["counting"], d["reported"], d["eligible"], d["reason"], d["base"], d["bonus"],
            d["composite"], rank.get(f), after, before, d["vetoes"], d["bonuses"], ties.get(f, ()), centre.get(f)))
    facilities.sort(key=lambda x: (x.peer_group or "", x.grading_group or "", x.rank is None, x.rank or 0,
                                   x.facility_id))
    indicators = [r for f in sorted(rows_by_fid) for r in rows_by_fid[f]]
    capped.sort(key=lambda c: (c.indicator, c.facility_id))
    return GradingResult(method.version, tuple(facilities), tuple(group_rows), indicators, peer_stats, group_stats,
                         imp_stats, tuple(capped), clusters)
