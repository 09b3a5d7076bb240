"""Achievement and improvement points (CMS Hospital VBP style) for one indicator in one scope.

All values are oriented (higher is better). With M = max_points, R = half-up at points_decimals:
  threshold a  = percentile `threshold_percentile` of the scope's baseline values (default the median)
  benchmark b  = mean of the best m baseline values, m = ⌈n × benchmark_top_share⌉ (at least 1)
  achievement  = M if x ≥ b;  0 if x < a;  else R((M − 1)·(x − a)/(b − a) + ½)            ∈ {0, 1 … M − 1, M}
  improvement  = 0 if x ≤ p (own baseline) or p ≥ b;  else min(M − 1, max(0, R(M·(x − p)/(b − p) − ½)))
  points       = max(achievement, improvement) when combine is better; achievement / improvement otherwise
a and b are published at the stat precision and used as published. Fewer than min_n baseline values in the
scope, or b ≤ a, and the indicator is not scored there.
"""
from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_CEILING, Decimal

from metrics.grading.config import Improvement, Precision
from metrics.grading.results import ImprovementDetail, ImprovementStats
from metrics.grading.standardise import HALF, ZERO, half_up, percentile, quantum, scope_word


def improvement_stats(scope: str, indicator: str, baseline: Sequence[Decimal], imp: Improvement,
                      precision: Precision, min_n: int) -> ImprovementStats:
    """Achievement threshold and benchmark from the scope's oriented baseline values."""
    n = len(baseline)
    if n < max(min_n, 1):
        return ImprovementStats(scope, indicator, n, None, None, 0, False,
                                f"{scope_word(scope)}基期有效值 {n} 个，少于最少 {max(min_n, 1)} 个，不计达标/进步分")
    xs = sorted(baseline)
    q = quantum(precision.stat)
    a = half_up(percentile(xs, imp.threshold_percentile, imp.percentile_method), q)
    m = max(1, int((n * imp.benchmark_top_share).to_integral_value(rounding=ROUND_CEILING)))
    b = half_up(sum(xs[-m:], ZERO) / m, q)
    if b <= a:
        return ImprovementStats(scope, indicator, n, a, b, m, False, "基准值不高于达标阈值，不计达标/进步分")
    return ImprovementStats(scope, indicator, n, a, b, m, True)


def points(x: Decimal, own: Decimal | None, st: ImprovementStats, imp: Improvement) -> ImprovementDetail:
    """Achievement and improvement points of one oriented value against the scope's threshold and benchmark."""
    assert st.threshold is not None and st.benchmark is not None
    a, b, top = st.threshold, st.benchmark, imp.max_points
    q = quantum(imp.points_decimals)
    if x >= b:
        ach = top
    elif x < a:
        ach = ZERO
    else:
        ach = half_up((top - 1) * (x - a) / (b - a) + HALF, q)
    impr: Decimal | None = None
    if own is not None:
        if x <= own or own >= b:
            impr = ZERO
        else:
            impr = min(top - 1, max(ZERO, half_up(top * (x - own) / (b - own) - HALF, q)))
    if imp.combine == "achievement" or impr is None:
        used = "achievement"
    elif imp.combine == "improvement":
        used = "improvement"
    else:
        used = "improvement" if impr > ach else "achievement"
    return ImprovementDetail(own, ach, impr, used, st)
