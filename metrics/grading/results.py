"""Inputs and outputs of the grading engine: plain dataclasses, Decimal where published."""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

ALL = "全体"    # the scope label when standardising over the whole assessed population


# ---------------------------------------------------------------------------------------------- inputs

@dataclass(frozen=True, slots=True)
class Observation:
    """One facility's published value of one indicator, with what small-number rules need."""
    facility_id: str
    indicator: str
    value: Decimal | None
    status: str = "ok"                  # metrics.indicators statuses: ok | missing | undefined | data_error | …
    numerator: Decimal | None = None
    denominator: Decimal | None = None
    sample: int | None = None           # sample size behind the value (surveys, 处方点评)


@dataclass(frozen=True, slots=True)
class Event:
    """A fact about a facility that a veto or bonus item names (e.g. major_safety_incident)."""
    facility_id: str
    code: str
    count: int = 1
    note: str = ""


# ---------------------------------------------------------------------------------------------- outputs

@dataclass(frozen=True)
class PeerStats:
    """What lies behind every standardised value of one indicator (or group score) in one scope."""
    scope: str                          # peer group, or 全体
    indicator: str                      # indicator code, or group name for re-standardised group scores
    method: str                         # z | t_score | minmax | percentile_rank
    n: int                              # scorable values in the scope
    standardised: bool
    reason: str | None = None           # why not standardised (Chinese)
    mean: Decimal | None = None         # at the stat precision, as used
    sd: Decimal | None = None           # at the stat precision, as used
    sd_kind: str | None = None          # population | sample
    min: Decimal | None = None          # minmax: after capping
    max: Decimal | None = None
    cap_low: Decimal | None = None      # winsorisation bounds (None: no capping)
    cap_high: Decimal | None = None
    cap_rule: str | None = None         # e.g. "P1/P99 (linear)" or "均值 ± 3 SD"
    n_capped: int = 0


@dataclass(frozen=True)
class CapRecord:
    facility_id: str
    indicator: str
    original: Decimal                   # oriented value before capping
    capped: Decimal


@dataclass(frozen=True)
class ImprovementStats:
    scope: str
    indicator: str
    n: int                              # baseline values in the scope
    threshold: Decimal | None           # achievement threshold (percentile of baseline), stat precision
    benchmark: Decimal | None           # mean of the top share of baseline values, stat precision
    top_count: int
    scored: bool
    reason: str | None = None


@dataclass(frozen=True)
class ImprovementDetail:
    baseline: Decimal | None            # the facility's own oriented baseline value
    achievement: Decimal
    improvement: Decimal | None         # None: no own baseline
    used: str                           # achievement | improvement
    stats: ImprovementStats


@dataclass(slots=True)
class IndicatorResult:
    """One facility × indicator. (slots, not frozen: 600,000 of these must be cheap to build.)"""
    facility_id: str
    indicator: str
    group: str
    scope: str                          # where it was standardised: peer group or 全体
    raw: Decimal | None                 # published value as given
    status: str                         # input status
    oriented: Decimal | None            # turned so that higher is better
    used: Decimal | None                # value entering the statistics (capped when capped)
    capped: bool
    standardised: Decimal | None        # z / T / min–max / percentile rank / rule share / improvement points
    scored: bool
    reason: str | None                  # why not scored, or a note (Chinese)
    stats: PeerStats | None = None
    rank_below: int | None = None       # percentile rank inputs: peers strictly worse, ties (self excluded)
    rank_ties: int | None = None
    points: Decimal | None = None       # score: rule → the first slice's rule points out of the item weight
    improvement: ImprovementDetail | None = None


@dataclass(frozen=True)
class GroupResult:
    facility_id: str
    group: str
    n_indicators: int                   # scored indicators of the group
    mean: Decimal | None                # weighted mean of standardised values (group precision)
    score: Decimal | None               # after optional re-standardisation (= mean otherwise)
    counts: bool                        # has at least eligibility.min_indicators indicators
    weight: Decimal
    effective_weight: Decimal | None    # after redistribution over the facility's available groups
    stats: PeerStats | None = None
    reason: str | None = None


@dataclass(frozen=True)
class VetoRecord:
    code: str
    name_zh: str
    cap_grade: str
    detail: str


@dataclass(frozen=True)
class BonusRecord:
    code: str
    name_zh: str
    count: int
    points: Decimal                     # after the item's max, before the overall cap


@dataclass(frozen=True)
class TieBreak:
    breaker: str                        # label of the tie-breaker (Chinese)
    value: str                          # this facility's value for it
    tied_with: tuple[str, ...]          # the facilities still tied with it before this breaker


@dataclass(frozen=True)
class FacilityResult:
    facility_id: str
    peer_group: str | None
    grading_group: str | None           # peer group (and groups reported) the grade and rank are given within
    groups_reported: int                # groups with at least eligibility.min_indicators indicators
    indicators_reported: int            # scored indicators
    eligible: bool
    reason: str | None                  # exclusion reason, or notes (Chinese)
    base_composite: Decimal | None      # Σ weight × group score / Σ available weights (composite precision)
    bonus: Decimal                      # bonus points after the cap
    composite: Decimal | None           # base + bonus
    rank: int | None
    grade: str | None                   # after vetoes
    grade_before_veto: str | None
    vetoes: tuple[VetoRecord, ...] = ()
    bonuses: tuple[BonusRecord, ...] = ()
    tie_breaks: tuple[TieBreak, ...] = ()
    cluster_centre: Decimal | None = None


@dataclass(frozen=True)
class KMeansResult:
    """One grading group's clustering: what `jixiao explain` states about convergence."""
    n: int
    k: int
    initial_centres: tuple[Decimal, ...]    # ascending: medians of k equal-count slices of the sorted scores
    centres: tuple[Decimal, ...]            # ascending, final
    sizes: tuple[int, ...]
    iterations: int                         # assignment passes, the last one unchanged when converged
    converged: bool
    labels: tuple[str, ...] = ()            # grade of each cluster, ascending centre order


@dataclass
class GradingResult:
    version: str
    facilities: tuple[FacilityResult, ...]
    groups: tuple[GroupResult, ...]
    indicators: list[IndicatorResult]
    peer_stats: dict[tuple[str, str], PeerStats]
    group_stats: dict[tuple[str, str], PeerStats]
    improvement_stats: dict[tuple[str, str], ImprovementStats]
    capped: tuple[CapRecord, ...]
    clusters: dict[str, KMeansResult]
    _by_facility: dict[str, FacilityResult] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_facility = {f.facility_id: f for f in self.facilities}

    def facility(self, facility_id: str) -> FacilityResult:
        """The result of one facility."""
        return self._by_facility[facility_id]

    def excluded(self) -> list[tuple[str, str]]:
        """(facility, reason) for every facility without a grade because it is not eligible."""
        return [(f.facility_id, f.reason or "") for f in self.facilities if not f.eligible]

    def indicator_rows(self, facility_id: str) -> list[IndicatorResult]:
        """One facility's indicator rows, in method order."""
        return [r for r in self.indicators if r.facility_id == facility_id]

    def summary(self) -> dict[str, Any]:
        """Counts for logs and benches."""
        return {"facilities": len(self.facilities), "eligible": sum(f.eligible for f in self.facilities),
                "indicator_rows": len(self.indicators), "capped": len(self.capped),
                "clusters": {g: {"iterations": c.iterations, "converged": c.converged, "sizes": list(c.sizes)}
                             for g, c in sorted(self.clusters.items())}}
