"""Deterministic one-dimensional k-means (Lloyd) on exact Decimals, as the grading engine uses it.

1. Sort the n scores ascending: x(1) ≤ … ≤ x(n).
2. Initial centres: cut the sorted scores into k equal-count slices, slice j (0-based) = positions
   ⌊j·n/k⌋ … ⌊(j+1)·n/k⌋ − 1, and take each slice's median (the middle score, or the mean of the two middle
   scores). Needs n ≥ k.
3. Assignment: each score goes to its nearest centre. A score exactly halfway between two centres goes to the
   lower centre (tie: lower) or the higher one (tie: higher); equal centres are one tie, broken the same way.
   Compared without rounding: x is nearer the higher of c_j < c_(j+1) when 2x > c_j + c_(j+1).
4. Update: each centre becomes the mean of its scores (34 significant digits); a cluster left empty keeps its
   centre. Centres are kept in ascending order.
5. Repeat 3–4 until an assignment equals the previous one (converged) or max_iter assignment passes were made.

Convergence: with sorted scores and sorted centres every cluster is a run of consecutive scores, so an
assignment is k − 1 cut positions. Each Lloyd step never increases the within-cluster sum of squares, and it
decreases strictly whenever the assignment changes (with a fixed tie rule), so no assignment can recur and the
loop ends after finitely many passes; max_iter is only a guard, and `converged` says which way it ended.
Identical inputs give identical cuts: no randomness, no floating point, no dependence on input order.
A cluster can end empty (its label then goes unused). The grading engine does not cluster a group whose scores
take fewer than k distinct values, nor one smaller than min_group_size: it shows the insufficient label and says why.
"""
from __future__ import annotations

import decimal
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from decimal import Decimal

from metrics.grading.results import KMeansResult
from metrics.grading.standardise import CTX


def initial_centres(xs: Sequence[Decimal], k: int) -> list[Decimal]:
    """Medians of k equal-count slices of ascending xs."""
    n = len(xs)
    out = []
    for j in range(k):
        lo, hi = j * n // k, (j + 1) * n // k
        m = hi - lo
        mid = lo + m // 2
        out.append(xs[mid] if m % 2 else (xs[mid - 1] + xs[mid]) / 2)
    return out


def kmeans_1d(values: Sequence[Decimal], k: int, *, max_iter: int = 100,
              tie: str = "lower") -> tuple[list[int], KMeansResult]:
    """Cluster index (0 = lowest centre) of each value, and the run's centres, sizes and convergence."""
    n = len(values)
    if n < k or k < 1:
        raise ValueError(f"k-means needs at least k = {k} values, got {n}")
    with decimal.localcontext(CTX):
        xs = sorted(values)
        doubled = [x + x for x in xs]
        prefix = [Decimal(0)]
        for x in xs:
            prefix.append(prefix[-1] + x)
        centres = initial_centres(xs, k)
        first = tuple(centres)
        cut = bisect_right if tie == "lower" else bisect_left
        cuts: tuple[int, ...] | None = None
        converged = False
        passes = 0
        while passes < max_iter:
            passes += 1
            # positions [0, b_0) in cluster 0, [b_0, b_1) in cluster 1, …: a score is in a cluster ≤ j when
            # 2x ≤ c_j + c_(j+1) (tie lower) or 2x < c_j + c_(j+1) (tie higher)
            new = tuple(cut(doubled, centres[j] + centres[j + 1]) for j in range(k - 1))
            if new == cuts:
                converged = True
                break
            cuts = new
            bounds = (0,) + cuts + (n,)
            for j in range(k):
                lo, hi = bounds[j], bounds[j + 1]
                if hi > lo:
                    centres[j] = (prefix[hi] - prefix[lo]) / (hi - lo)
            centres.sort()
        assert cuts is not None
        bounds = (0,) + cuts + (n,)
        sizes = tuple(bounds[j + 1] - bounds[j] for j in range(k))
        # the cluster of each input value, found through its sorted position (equal values share a cluster)
        ends = list(bounds[1:])
        out = []
        for v in values:
            pos = bisect_left(xs, v)
            j = bisect_right(ends, pos)
            out.append(min(j, k - 1))
        return out, KMeansResult(n, k, first, tuple(centres), sizes, passes, converged)
