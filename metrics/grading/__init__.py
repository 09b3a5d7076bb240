"""Grading engine (issue 6): standardised composites, eligibility, bonus/veto, ranks with a tie policy and grades.

Pure functions over plain data (no DB, no Prefect). Everything a scheme decides is in its `method:` block,
loaded strictly by `load_method(path)` (unknown keys → metrics.catalog.CatalogError naming file and key).
Arithmetic is exact Decimal (34 significant digits for divisions and square roots) and every published figure
is rounded half-up at a stated precision and then used as published, so each number can be re-computed by
hand from the ones shown beside it. Work inside a scope runs over facilities sorted by code and all sums are
exact, so results do not depend on input order; with `within: peer_group` nothing crosses a peer group.

    method = load_method("metrics/catalog/schemes/2026_std.yaml")
    result = grade(method, peer_groups, observations, baseline=…, events=…, targets=…)
    result.facilities / result.groups / result.indicators / result.peer_stats / result.capped / result.clusters

Steps and formulas
------------------
1. Orientation (higher is better): up v; down −v; ceiling {target} −max(0, v − t); floor {target}
   −max(0, t − v); band {low, high} −max(0, low − v, v − high) (0 = on target, as the first slice's rules
   measure distance); monitor: shown, never scored. `target_key` takes the facility's own target,
   targets[(facility, indicator)]; none → not scored.
2. Not scored, reason recorded: input status not ok; denominator < min_denominator or sample < min_sample
   (or not given when a minimum is set); item listed for another peer group.
3. Standardisation of the scorable oriented values x of one indicator in one scope (peer group or 全体):
   n < min_n → not standardised there (reason). Optional winsorisation first: percentile caps
   P_lower/P_upper (linear: h = (n − 1)p, x₍⌊h⌋₎ + (h − ⌊h⌋)(x₍⌊h⌋+1₎ − x₍⌊h⌋₎), 0-based; nearest_rank:
   x₍⌈pn⌉₎, 1-based) or mean ± k·SD of the uncapped values; caps published at `stat` decimals; values beyond
   a cap are set to it and listed (facility, indicator, original, capped); the statistics below are those of
   the capped values.
     z         (x − mean)/SD, mean and SD at `stat` decimals; SD population (÷ n) or sample (÷ n − 1);
               SD = 0 at that precision → not standardised
     t_score   50 + 10·(x − mean)/SD
     minmax    scale·(x − min)/(max − min); max = min → not standardised
     percentile_rank  midrank: scale·(B + T/2)/(n − 1); below: scale·B/(n − 1) = scale·(r − 1)/(n − 1) with
               r = 1 + B; B = peers strictly worse, T = peers equal (self excluded); n = 1 → scale
   results at `standardised` decimals; PeerStats keeps n, mean, SD (or min/max, or B and T per facility).
   score: rule → 100·points/weight with the first slice's metrics.scoring.rule_points (percentile peers =
   the scope's scorable values). score: improvement → metrics/grading/improvement.py (CMS VBP style):
     a = P(threshold_percentile) of the scope's oriented baseline values, b = mean of the best
     ⌈n·benchmark_top_share⌉ of them (both at `stat` decimals; fewer than min_n or b ≤ a → not scored);
     achievement = M if x ≥ b, 0 if x < a, else R((M − 1)(x − a)/(b − a) + ½);
     improvement = 0 if x ≤ p or p ≥ b, else min(M − 1, max(0, R(M(x − p)/(b − p) − ½))), p = own baseline;
     R = half-up at points_decimals; points = the better of the two (combine: better), or one of them.
4. Group score = Σ wᵢsᵢ / Σ wᵢ over the group's scored indicators (at least groups.min_indicators, else no
   score), at `group` decimals; restandardise: z → z of the group scores within the scope (same SD kind and
   min_n). Composite = Σ W_g·score_g / Σ W_g over the groups with a score (weights redistributed pro rata;
   the effective weight W_g·weights_sum/ΣW is recorded), at `composite` decimals, + bonus.
   Eligible: at least eligibility.min_groups groups with ≥ eligibility.min_indicators scored indicators,
   and every required group so; else no composite, with the reason in Chinese.
5. Bonus: per item min(max, points × count of the event); total capped at bonus.cap; eligible facilities only.
   Veto (一票否决): an event, or an indicator's published value below/above a limit → the grade becomes
   cap_grade unless already at or below it (also when the facility has no grade); recorded with the grade
   before the veto. Vetoed facilities stay in ranks, quotas and clusters.
6. Grading group = peer group (and/or the number of groups reported, CMS-style), `within` below. Rank =
   1 + facilities strictly ahead at the published composite; tie-breakers, in order, decide only between
   facilities still tied; each applied breaker is recorded per facility (value, facilities still tied).
     bands   first band with composite ≥ min (below every min: the last band); optional cap: at most
             max(min_count, R(n·max_share))
             facilities (by rank, ties kept) keep cap.grade, the rest fall to cap.fallback
     quota   limitᵢ = R(n·uptoᵢ), R = floor | half_up | ceil; a facility takes the first band with
             rank ≤ limitᵢ (ceil = the first slice's (r − 1) < upto·n rule); n < min_group_size → label
     kmeans  metrics/grading/kmeans.py (deterministic 1-D Lloyd, quantile-median start, documented tie rule
             and convergence); clusters by centre, the highest taking labels[0]; n < min_group_size, or fewer
             than k distinct composites → insufficient_label, with the reason in the facility's notes

YAML schema of `method:` (every key checked; defaults in brackets)
--------------------------------------------------------------------
  precision:    {stat [6], standardised [4], group [4], composite [2]}          decimals, half-up
  peer_groups:  [三级综合, …]                  assessed peer groups (peer_groups.yaml names); others not assessed
  standardise:  method: z | t_score | minmax | percentile_rank;  within: peer_group | all
                sd [population] | sample;  min_n [2];  percentile_rank: midrank [default] | below;  scale [1]
                winsorise: none | {method: percentile, lower, upper, percentile_method: linear | nearest_rank}
                                | {method: sd, k}
  defaults:     {weight [1], min_denominator [0], min_sample [0]}
  indicators:   - indicator: YP01          code in indicators.yaml
                  group: 运营与药品          one of groups.list
                  orient: up | down | monitor | {kind: ceiling|floor, target | target_key}
                          | {kind: band, low, high}        [the catalogue direction]
                  score: standardise [default] | improvement | {kind: rule, rule: {first-slice rule}}
                  weight, min_denominator, min_sample      override the defaults
                  weight_in: {peer group: weight}          the weight in those peer groups
                  peer_groups: [..]   only in these peer groups;   monitor_in: [..]  shown only, there
  groups:       weights_sum (the list's weights must add up to it); min_indicators [1];
                restandardise: none [default] | z;  list: [{name, weight}, …]
  eligibility:  {min_groups [1], min_indicators [1], required: [group, …]}
  improvement:  {max_points [10], threshold_percentile [0.5], benchmark_top_share [0.1],
                 percentile_method [linear], points_decimals [0], combine: better [default] | achievement | improvement}
  bonus:        {cap, items: [{code, name_zh, event, points, max}]}
  veto:         {items: [{code, name_zh, cap_grade, event} | {code, name_zh, cap_grade, indicator, below | above}]}
  grading:      method: bands | quota | kmeans;  within: [peer_group] (default) | [peer_group, groups_reported] | []
                bands:  bands: [{grade, min}], cap: {grade, max_share, rounding [floor], min_count [0], fallback}
                quota:  bands: [{grade, upto}], rounding [ceil], min_group_size [1], insufficient_label
                kmeans: k, labels (best first), max_iter [100], tie: lower [default] | higher,
                        min_group_size [k], insufficient_label
  ties:         {breakers: [{by: group, group, order [desc]} | {by: indicator, indicator, order [desc]}
                            | {by: indicators_reported, order [desc]} | {by: facility_id, order [asc]}]}
A scheme file holds `version`, `name_zh` and `method`, and may also hold the first slice's rule-points keys
(total_points, grades, peer_groups, calibres …; read by metrics.scoring, not here).
"""
from __future__ import annotations

from metrics.grading.config import Method, load_method, parse_method
from metrics.grading.engine import grade, orient
from metrics.grading.kmeans import kmeans_1d
from metrics.grading.results import (ALL, BonusRecord, CapRecord, Event, FacilityResult, GradingResult, GroupResult,
                                     ImprovementDetail, ImprovementStats, IndicatorResult, KMeansResult,
                                     Observation, PeerStats, TieBreak, VetoRecord)
from metrics.grading.standardise import percentile, standardise_column

__all__ = ["ALL", "BonusRecord", "CapRecord", "Event", "FacilityResult", "GradingResult", "GroupResult",
           "ImprovementDetail", "ImprovementStats", "IndicatorResult", "KMeansResult", "Method", "Observation",
           "PeerStats", "TieBreak", "VetoRecord", "grade", "kmeans_1d", "load_method", "orient", "parse_method",
           "percentile", "standardise_column"]
