"""Stability of a run's grades (issue 6 §4): group-weight variants of a scheme and grade-change counts. Pure.

The weight rule (both scheme kinds)
-----------------------------------
A scheme's parts are its groups: `method.groups` of a method scheme (weights W_g adding up to weights_sum), or the
`section`s of a rule-points scheme (a section's weight = the sum of its items' weights in a peer group, the
sections adding up to total_points). With T the total and w the moved part's weight, a move of ±d percentage
points is a move of D = ±d·T/100 points:

    moved part   w  → w + D                       (its share moves from 100·w/T to 100·w/T ± d)
    every other  wⱼ → wⱼ·(T − w − D)/(T − w)       (the rest rescaled pro rata, so the total stays T)

A variant is skipped, with the reason, when the part's weight is 0, or when the part or the rest would not stay
above 0 (a part at 3 % cannot lose 5 points; a part at 100 % leaves no rest to rescale).

Rule-points schemes apply the rule per peer group (a section may weigh differently in each; a peer group without
the section is left as it is). Inside a section every item's weight is multiplied by the section's factor
(w + D)/w, and so is a ceiling/floor/band rule's `deduct_per_unit`, so every rule's points are the old points
times the factor (ceiling: f·w − f·d·beyond = f·(w − d·beyond); linear and percentile points are proportional
to the weight). Non-terminating factors (65/70, 13/14 …) are carried to 24 decimal places and the last digit's
residue is put on the largest weight, so the sums stay exact: every section adds up to its new weight and the
sections to the unchanged total.

Grade order is the scheme's own (best first): the score bands of a rule-points scheme, `grading.order` of a
method scheme. A label outside that order (组内样本不足) counts as "not graded" when periods are compared.
"""
from __future__ import annotations

import decimal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal

from metrics.grading.config import Group
from metrics.grading.scheme import MethodScheme
from metrics.scoring import Scheme, SchemeItem

AnyScheme = Scheme | MethodScheme
HUNDRED = Decimal(100)
ZERO = Decimal(0)
_Q = Decimal("1e-24")                   # rescaled weights: exact sums, far below any published precision
_CTX = decimal.Context(prec=34, rounding=decimal.ROUND_HALF_EVEN)
MINUS = "−"


def _pct(x: Decimal) -> str:
    """A share in percent as shown: at most 2 decimals, half-up, no trailing zeros."""
    q = x.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{q.normalize():f}" if q != 0 else "0"


@dataclass(frozen=True)
class Variant:
    """One weight move: part `group` by `sign`·`delta_pp` points; `scheme` is None when skipped (`reason`)."""
    group: str
    sign: int                                   # +1 | −1
    delta_pp: Decimal
    shares: tuple[tuple[Decimal, Decimal], ...]  # distinct (before, after) shares in percent: one for a method
    #                                             scheme; rule-points peer groups may give several
    scheme: AnyScheme | None
    reason: str | None = None

    @property
    def skipped(self) -> bool:
        return self.scheme is None

    @property
    def label_zh(self) -> str:
        """e.g. 运营与药品 权重 +5 个百分点（60→65）."""
        sign = "+" if self.sign > 0 else MINUS
        moves = "；".join(f"{_pct(a)}→{_pct(b)}" for a, b in self.shares)
        head = f"{self.group} 权重 {sign}{_pct(self.delta_pp)} 个百分点"
        return f"{head}（{moves}）" if moves else head


# ---------------------------------------------------------------------------------------------- the rule

def rescale(weights: Mapping[str, Decimal], part: str, delta: Decimal) -> dict[str, Decimal] | str:
    """Weights after moving `part` by `delta` points (others pro rata, same total), or why it cannot move."""
    total = sum(weights.values(), ZERO)
    w = weights[part]
    rest = total - w
    if w <= 0:
        return f"「{part}」权重为 0，不做调整"
    if w + delta <= 0:
        return f"「{part}」权重占 {_pct(HUNDRED * w / total)}%，调整后将不大于 0"
    if rest <= 0:
        return f"「{part}」之外各部分权重为 0，无法按比例调整"
    if rest - delta <= 0:
        return f"「{part}」之外各部分权重合计占 {_pct(HUNDRED * rest / total)}%，调整后将不大于 0"
    with decimal.localcontext(_CTX):
        factor = (rest - delta) / rest
        out = {k: (w + delta if k == part else (v * factor).quantize(_Q, rounding=ROUND_HALF_UP))
               for k, v in weights.items()}
        others = [k for k in weights if k != part]
        _absorb(out, others, total)
    return out


def _absorb(out: dict[str, Decimal], keys: Sequence[str], total: Decimal) -> None:
    # the residue of quantizing goes to the largest weight (first in order on a tie), so the sum is exact
    residue = total - sum(out.values(), ZERO)
    if residue and keys:
        k = max(keys, key=lambda x: out[x])
        out[k] += residue


def _delta(delta_pp: Decimal | int | str, sign: int, total: Decimal) -> Decimal:
    with decimal.localcontext(_CTX):
        return sign * Decimal(delta_pp) * total / HUNDRED


# ---------------------------------------------------------------------------------------------- parts

def parts(scheme: AnyScheme) -> list[str]:
    """The scheme's groups (method) or sections (rule points, in order of first appearance)."""
    if isinstance(scheme, MethodScheme):
        return list(scheme.method.groups.names)
    seen: list[str] = []
    for items in scheme.groups.values():
        for it in items:
            if it.section not in seen:
                seen.append(it.section)
    return seen


def section_weights(items: Sequence[SchemeItem]) -> dict[str, Decimal]:
    """A rule-points peer group's weight per section (sections of monitor items only weigh 0)."""
    out: dict[str, Decimal] = {}
    for it in items:
        out[it.section] = out.get(it.section, ZERO) + it.weight
    return out


def _scale_item(it: SchemeItem, factor: Decimal, weight: Decimal) -> SchemeItem:
    rule = it.rule
    if rule.deduct_per_unit is not None:
        rule = replace(rule, deduct_per_unit=(rule.deduct_per_unit * factor).quantize(_Q, rounding=ROUND_HALF_UP))
    return replace(it, weight=weight, rule=rule)


def _scale_group(items: tuple[SchemeItem, ...], new: Mapping[str, Decimal]) -> tuple[SchemeItem, ...]:
    old = section_weights(items)
    out = list(items)
    with decimal.localcontext(_CTX):
        for sec, w in old.items():
            if w == 0 or new[sec] == w:
                continue
            factor = new[sec] / w
            idx = [i for i, it in enumerate(items) if it.section == sec]
            weights = {str(i): (items[i].weight * factor).quantize(_Q, rounding=ROUND_HALF_UP) for i in idx}
            _absorb(weights, [str(i) for i in idx], new[sec])
            for i in idx:
                out[i] = _scale_item(items[i], factor, weights[str(i)])
    return tuple(out)


def _rule_points_variant(scheme: Scheme, part: str, sign: int, delta_pp: Decimal) -> Variant:
    total = scheme.total_points
    delta = _delta(delta_pp, sign, total)
    groups: dict[str, tuple[SchemeItem, ...]] = {}
    shares: list[tuple[Decimal, Decimal]] = []
    for pg, items in scheme.groups.items():
        weights = section_weights(items)
        if weights.get(part, ZERO) == 0:
            groups[pg] = items      # the section does not weigh in this peer group
            continue
        new = rescale(weights, part, delta)
        if isinstance(new, str):
            return Variant(part, sign, Decimal(delta_pp), (), None, f"{pg}：{new}")
        groups[pg] = _scale_group(items, new)
        with decimal.localcontext(_CTX):
            pair = (HUNDRED * weights[part] / total, HUNDRED * new[part] / total)
        if pair not in shares:
            shares.append(pair)
    if not shares:
        return Variant(part, sign, Decimal(delta_pp), (), None, f"「{part}」权重为 0，不做调整")
    return Variant(part, sign, Decimal(delta_pp), tuple(shares), replace(scheme, groups=groups))


def _method_variant(scheme: MethodScheme, part: str, sign: int, delta_pp: Decimal) -> Variant:
    g = scheme.method.groups
    total = g.weights_sum
    weights = {x.name: x.weight for x in g.items}
    new = rescale(weights, part, _delta(delta_pp, sign, total))
    if isinstance(new, str):
        return Variant(part, sign, Decimal(delta_pp), (), None, new)
    groups = replace(g, items=tuple(Group(x.name, new[x.name]) for x in g.items))
    with decimal.localcontext(_CTX):
        pair = (HUNDRED * weights[part] / total, HUNDRED * new[part] / total)
    return Variant(part, sign, Decimal(delta_pp), (pair,),
                   replace(scheme, method=replace(scheme.method, groups=groups)))


def weight_variants(scheme: AnyScheme, delta_pp: Decimal | int | str = 5) -> list[Variant]:
    """For each group/section and each sign, the scheme with that part's share moved by delta_pp points."""
    d = Decimal(delta_pp)
    out = []
    for part in parts(scheme):
        for sign in (1, -1):
            out.append(_method_variant(scheme, part, sign, d) if isinstance(scheme, MethodScheme)
                       else _rule_points_variant(scheme, part, sign, d))
    return out


# ---------------------------------------------------------------------------------------------- grade changes

Change = tuple[str, str | None, str | None]     # facility, grade before, grade after


@dataclass(frozen=True)
class GradeChanges:
    changed: tuple[Change, ...]

    @property
    def count(self) -> int:
        return len(self.changed)


def grade_changes(base: Mapping[str, str | None], variant: Mapping[str, str | None]) -> GradeChanges:
    """Facilities whose grade differs between two gradings (gaining or losing a grade counts as a change)."""
    return GradeChanges(tuple((f, base.get(f), variant.get(f)) for f in sorted(set(base) | set(variant))
                              if base.get(f) != variant.get(f)))


def grade_order(scheme: AnyScheme) -> tuple[str, ...]:
    """The scheme's grade labels, best first."""
    if isinstance(scheme, MethodScheme):
        return scheme.method.grading.order
    return tuple(b.grade for b in scheme.bands)


@dataclass(frozen=True)
class PeriodChanges:
    up: tuple[Change, ...]
    down: tuple[Change, ...]
    same: tuple[Change, ...]
    new: tuple[Change, ...]             # graded now, not graded (or absent) in the previous period
    dropped: tuple[Change, ...]         # graded in the previous period, not now

    def counts(self) -> dict[str, int]:
        return {k: len(getattr(self, k)) for k in ("up", "down", "same", "new", "dropped")}


def period_changes(current: Mapping[str, str | None], previous: Mapping[str, str | None],
                   order: Sequence[str]) -> PeriodChanges:
    """Grades against the previous period's: up (a better grade by `order`, best first), down, same, new, dropped."""
    rank = {g: i for i, g in enumerate(order)}
    out: dict[str, list[Change]] = {"up": [], "down": [], "same": [], "new": [], "dropped": []}
    for f in sorted(set(current) | set(previous)):
        now, before = current.get(f), previous.get(f)
        r_now, r_before = rank.get(now or ""), rank.get(before or "")
        if r_now is None and r_before is None:
            continue
        key = ("new" if r_before is None else "dropped" if r_now is None
               else "up" if r_now < r_before else "down" if r_now > r_before else "same")
        out[key].append((f, before, now))
    return PeriodChanges(**{k: tuple(v) for k, v in out.items()})
