"""Hypothesis properties of the grading engine, for each grading method:
  - among eligible, non-vetoed facilities of one grading group, a higher composite never gets a worse grade;
  - a veto only ever lowers the vetoed facility's grade and changes nobody else's;
  - permuting the order of facilities and observations changes nothing;
  - with standardisation and grading within peer groups, a facility's result does not depend on facilities
    outside its peer group.
"""
from __future__ import annotations

import random
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metrics.grading import Event, Observation, grade
from metrics.grading.grades import cap_grade
from test_grading_support import method

CODES = ("U1", "U2", "D1", "U3")
GRADINGS = {
    "kmeans": {"method": "kmeans", "k": 3, "labels": ["A", "B", "C"], "min_group_size": 3},
    "quota": {"method": "quota", "bands": [{"grade": "A", "upto": 0.2}, {"grade": "B", "upto": 0.6},
                                           {"grade": "C", "upto": 1}], "rounding": "half_up", "min_group_size": 3},
    "bands": {"method": "bands", "bands": [{"grade": "A", "min": 0.4}, {"grade": "B", "min": -0.4},
                                           {"grade": "C", "min": -1000}],
              "cap": {"grade": "A", "max_share": 0.3, "fallback": "B"}},
}


def _method(grading: str, ties: bool = True):
    return method(
        standardise={"method": "z", "within": "peer_group", "min_n": 2,
                     "winsorise": {"method": "percentile", "lower": 0.1, "upper": 0.9}},
        indicators=[{"indicator": "U1", "group": "G1"}, {"indicator": "U2", "group": "G1", "weight": 2},
                    {"indicator": "D1", "group": "G2"}, {"indicator": "U3", "group": "G2"}],
        groups={"weights_sum": 100, "list": [{"name": "G1", "weight": 60}, {"name": "G2", "weight": 40}]},
        eligibility={"min_groups": 1, "min_indicators": 2},
        veto={"items": [{"code": "V1", "name_zh": "重大事件", "event": "incident", "cap_grade": "B"}]},
        grading=GRADINGS[grading],
        ties={"breakers": [{"by": "group", "group": "G1"}, {"by": "facility_id"}] if ties else []})


METHODS = {g: _method(g) for g in GRADINGS}

# about one value in ten missing, one facility in five vetoed; a narrow value range so ties occur
value = st.tuples(st.integers(0, 9), st.integers(0, 60)).map(lambda t: None if t[0] == 0 else t[1])
vetoed = st.integers(0, 4).map(lambda x: x == 0)
facility = st.tuples(st.sampled_from(["甲组", "乙组"]), st.lists(value, min_size=4, max_size=4), vetoed)
population = st.lists(facility, min_size=2, max_size=30)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _inputs(pop):
    groups = {f"F{i:02d}": g for i, (g, _, _) in enumerate(pop)}
    obs = [Observation(f"F{i:02d}", c, D(v)) for i, (_, vals, _) in enumerate(pop) for c, v in zip(CODES, vals)
           if v is not None]
    events = [Event(f"F{i:02d}", "incident") for i, (_, _, vetoed) in enumerate(pop) if vetoed]
    return groups, obs, events


@pytest.mark.parametrize("grading", sorted(GRADINGS))
@SETTINGS
@given(pop=population)
def test_grades_are_monotone_in_the_composite(grading, pop):
    m = METHODS[grading]
    groups, obs, events = _inputs(pop)
    res = grade(m, groups, obs, events=events)
    order = m.grading.order
    clean = [f for f in res.facilities if f.eligible and not f.vetoes and f.grade in order]
    for a in clean:
        for b in clean:
            if a.grading_group == b.grading_group and a.composite > b.composite:
                assert order.index(a.grade) <= order.index(b.grade), (a, b)
                assert a.rank < b.rank


@pytest.mark.parametrize("grading", sorted(GRADINGS))
@SETTINGS
@given(pop=population)
def test_a_veto_only_ever_lowers_a_grade(grading, pop):
    m = METHODS[grading]
    groups, obs, events = _inputs(pop)
    with_veto = grade(m, groups, obs, events=events)
    without = grade(m, groups, obs)
    vetoed = {e.facility_id for e in events}
    order = m.grading.order
    for f in without.facilities:
        g0, g1 = f.grade, with_veto.facility(f.facility_id).grade
        if f.facility_id not in vetoed:
            assert g1 == g0
        else:
            assert g1 == cap_grade(g0, "B", order)
            if g0 in order:
                assert order.index(g1) >= order.index(g0)
        assert with_veto.facility(f.facility_id).composite == f.composite


@pytest.mark.parametrize("grading", sorted(GRADINGS))
@SETTINGS
@given(pop=population, seed=st.integers(0, 2**32 - 1))
def test_permuting_facility_order_changes_nothing(grading, pop, seed):
    m = METHODS[grading]
    groups, obs, events = _inputs(pop)
    a = grade(m, groups, obs, events=events)
    rng = random.Random(seed)
    keys = list(groups)
    rng.shuffle(keys)
    obs2, events2 = obs[:], events[:]
    rng.shuffle(obs2)
    rng.shuffle(events2)
    b = grade(m, {k: groups[k] for k in keys}, obs2, events=events2)
    assert a.facilities == b.facilities
    assert a.groups == b.groups
    assert a.indicators == b.indicators
    assert (a.capped, a.peer_stats, a.clusters) == (b.capped, b.peer_stats, b.clusters)


@pytest.mark.parametrize("grading", sorted(GRADINGS))
@SETTINGS
@given(pop=population)
def test_results_do_not_depend_on_other_peer_groups(grading, pop):
    m = METHODS[grading]
    groups, obs, events = _inputs(pop)
    everyone = grade(m, groups, obs, events=events)
    mine = {f for f, g in groups.items() if g == "甲组"}
    alone = grade(m, {f: "甲组" for f in mine}, [o for o in obs if o.facility_id in mine],
                  events=[e for e in events if e.facility_id in mine])
    assert [f for f in everyone.facilities if f.facility_id in mine] == list(alone.facilities)
    assert [r for r in everyone.indicators if r.facility_id in mine] == alone.indicators
    assert [g for g in everyone.groups if g.facility_id in mine] == list(alone.groups)
