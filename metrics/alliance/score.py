"""Scoring alliances with metrics.scoring: alliance values become indicator values of the organisation."""
from __future__ import annotations

from collections.abc import Iterable

from metrics.alliance.compute import AllianceValue
from metrics.indicators import IndicatorValue
from metrics.scoring import CompositeRow, Scheme, ScoreRow, score


def to_indicator_values(values: Iterable[AllianceValue]) -> list[IndicatorValue]:
    """Each alliance value as an IndicatorValue whose facility_id is the organisation id."""
    return [IndicatorValue(v.org_id, v.indicator, v.numerator, v.denominator, v.value, v.status, v.detail)
            for v in values]


def score_alliances(values: Iterable[AllianceValue], org_ids: Iterable[str], scheme: Scheme,
                    org_kind: str = "医共体") -> tuple[list[ScoreRow], list[CompositeRow]]:
    """Points, composites, ranks and grades of the organisations in the scheme's `org_kind` peer group."""
    if org_kind not in scheme.groups:
        raise ValueError(f"scheme {scheme.version} has no peer group {org_kind!r} (it has {sorted(scheme.groups)})")
    return score(to_indicator_values(values), {oid: org_kind for oid in org_ids}, scheme)
