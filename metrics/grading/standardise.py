"""Standardise one indicator's oriented values within one scope: z, T, min–max, percentile rank, winsorisation."""
from __future__ import annotations

import decimal
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from metrics.grading.config import Precision, Standardise, Winsorise
from metrics.grading.results import ALL, CapRecord, PeerStats

# every division and square root of the engine runs in this context; quantize() calls state their rounding
CTX = decimal.Context(prec=34, rounding=decimal.ROUND_HALF_EVEN,
                      traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow])
ZERO = Decimal(0)
HALF = Decimal("0.5")
ROUNDING = {"floor": ROUND_FLOOR, "half_up": ROUND_HALF_UP, "ceil": ROUND_CEILING}


def quantum(decimals: int) -> Decimal:
    """10^-decimals as a Decimal (the unit of the last published digit)."""
    return Decimal(1).scaleb(-decimals)


def half_up(x: Decimal, q: Decimal) -> Decimal:
    """x rounded half-up to the quantum q."""
    return x.quantize(q, rounding=ROUND_HALF_UP)


def round_count(x: Decimal, rounding: str) -> int:
    """A non-negative Decimal rounded to a whole number by floor | half_up | ceil."""
    return int(x.to_integral_value(rounding=ROUNDING[rounding]))


def percentile(xs: Sequence[Decimal], p: Decimal, method: str) -> Decimal:
    """Percentile p ∈ [0, 1] of ascending xs: linear (h = (n − 1)p, interpolate) or nearest_rank (x[⌈pn⌉])."""
    n = len(xs)
    if method == "nearest_rank":
        r = int((p * n).to_integral_value(rounding=ROUND_CEILING))
        return xs[min(max(r, 1), n) - 1]
    h = (n - 1) * p
    lo = int(h.to_integral_value(rounding=ROUND_FLOOR))
    frac = h - lo
    if frac == 0 or lo + 1 >= n:
        return xs[lo]
    return xs[lo] + frac * (xs[lo + 1] - xs[lo])


def mean_sd(xs: Sequence[Decimal], sd_kind: str) -> tuple[Decimal, Decimal]:
    """Exact mean and SD (population ÷ n, sample ÷ n − 1) before publication rounding."""
    n = len(xs)
    s = sum(xs, ZERO)
    ss = sum((x * x for x in xs), ZERO)
    # n·Σx² − (Σx)² is exact for published inputs; one division and one square root follow
    num = n * ss - s * s
    den = n * n if sd_kind == "population" else n * (n - 1)
    var = num / den if den else ZERO
    return s / n, (var.sqrt() if var > 0 else ZERO)


def scope_word(scope: str) -> str:
    return "全体" if scope == ALL else "同组"


@dataclass
class Column:
    """The standardisation of one indicator in one scope; lists are aligned with the input pairs."""
    stats: PeerStats
    facilities: list[str] = field(default_factory=list)
    standardised: list[Decimal] | None = None       # None when the column is not standardised
    used: list[Decimal] = field(default_factory=list)   # after capping
    capped: list[CapRecord] = field(default_factory=list)
    ranks: list[tuple[int, int]] | None = None      # percentile rank: (worse, ties) per value
    capped_at: list[int] = field(default_factory=list)  # positions of the capped values

    @property
    def values(self) -> dict[str, Decimal]:
        """Standardised value by facility (empty when not standardised)."""
        return dict(zip(self.facilities, self.standardised or ()))

    @property
    def capped_values(self) -> dict[str, Decimal]:
        """The capped value of each capped facility."""
        return {c.facility_id: c.capped for c in self.capped}


def _caps(xs: list[Decimal], w: Winsorise, sd_kind: str, q_stat: Decimal) -> tuple[Decimal, Decimal, str]:
    if w.method == "percentile":
        assert w.lower is not None and w.upper is not None
        lo = half_up(percentile(xs, w.lower, w.percentile_method), q_stat)
        hi = half_up(percentile(xs, w.upper, w.percentile_method), q_stat)
        rule = f"P{(w.lower * 100).normalize():f}/P{(w.upper * 100).normalize():f}（{w.percentile_method}）"
        return lo, hi, rule
    assert w.k is not None
    m, s = mean_sd(xs, sd_kind)
    m, s = half_up(m, q_stat), half_up(s, q_stat)
    return m - w.k * s, m + w.k * s, f"均值 ± {w.k.normalize():f} SD"


def standardise_column(scope: str, indicator: str, values: Sequence[tuple[str, Decimal]], std: Standardise,
                       precision: Precision) -> Column:
    """Standardise (facility, oriented value) pairs of one scope; see the package docstring for the formulas."""
    with decimal.localcontext(CTX):
        return _standardise(scope, indicator, values, std, precision)


def _standardise(scope: str, indicator: str, values: Sequence[tuple[str, Decimal]], std: Standardise,
                 precision: Precision) -> Column:
    q_stat, q_std = quantum(precision.stat), quantum(precision.standardised)
    n = len(values)
    word = scope_word(scope)
    fids = [f for f, _ in values]
    vs = [v for _, v in values]
    if n < std.min_n or n == 0:
        return Column(PeerStats(scope, indicator, std.method, n, False,
                                f"{word}有效值 {n} 个，少于最少 {std.min_n} 个，不做标准化"), fids, None, vs)
    xs = sorted(vs)
    cap_low = cap_high = None
    cap_rule = None
    capped: list[CapRecord] = []
    capped_at: list[int] = []
    if std.winsorise is not None:
        lo, hi, cap_rule = _caps(xs, std.winsorise, std.sd, q_stat)
        cap_low, cap_high = lo, hi
        used = [lo if v < lo else hi if v > hi else v for v in vs]
        capped_at = [i for i, (v, u) in enumerate(zip(vs, used)) if u is not v]
        capped = [CapRecord(fids[i], indicator, vs[i], used[i]) for i in capped_at]
        if capped:
            # capping is monotone, so the capped values stay in the sorted order
            xs = [lo if x < lo else hi if x > hi else x for x in xs]
    else:
        used = vs
    base = dict(scope=scope, indicator=indicator, method=std.method, n=n, cap_low=cap_low, cap_high=cap_high,
                cap_rule=cap_rule, n_capped=len(capped))
    if std.method in ("z", "t_score"):
        m, s = mean_sd(xs, std.sd)
        m, s = half_up(m, q_stat), half_up(s, q_stat)
        if s == 0:
            return Column(PeerStats(**base, standardised=False, mean=m, sd=s, sd_kind=std.sd,  # type: ignore
                                    reason=f"{word}标准差为 0（发布精度下），不做标准化"), fids, None, vs)
        stats = PeerStats(**base, standardised=True, mean=m, sd=s, sd_kind=std.sd)  # type: ignore[arg-type]
        if std.method == "z":
            out = [((x - m) / s).quantize(q_std, rounding=ROUND_HALF_UP) for x in used]
        else:
            fifty, ten = Decimal(50), Decimal(10)
            out = [(fifty + ten * (x - m) / s).quantize(q_std, rounding=ROUND_HALF_UP) for x in used]
        return Column(stats, fids, out, used, capped, None, capped_at)
    if std.method == "minmax":
        lo, hi = xs[0], xs[-1]
        if lo == hi:
            return Column(PeerStats(**base, standardised=False, min=lo, max=hi,  # type: ignore[arg-type]
                                    reason=f"{word}最大值等于最小值，不做标准化"), fids, None, vs)
        span, scale = hi - lo, std.scale
        out = [(scale * (x - lo) / span).quantize(q_std, rounding=ROUND_HALF_UP) for x in used]
        return Column(PeerStats(**base, standardised=True, min=lo, max=hi), fids, out, used,  # type: ignore
                      capped, None, capped_at)
    # percentile rank: worse = peers strictly lower (oriented), ties = equal peers, self excluded
    ranks = []
    out = []
    for x in used:
        worse = bisect_left(xs, x)
        ties = bisect_right(xs, x) - worse - 1
        ranks.append((worse, ties))
        if n == 1:
            share = Decimal(1)
        elif std.percentile_rank == "midrank":
            share = (worse + HALF * ties) / (n - 1)
        else:
            share = Decimal(worse) / (n - 1)
        out.append((std.scale * share).quantize(q_std, rounding=ROUND_HALF_UP))
    return Column(PeerStats(**base, standardised=True), fids, out, used, capped, ranks,  # type: ignore[arg-type]
                  capped_at)
