"""Benchmark the grading engine: `python bench/grading.py [--facilities 10000] [--indicators 60] [--record]`.

Synthetic, seeded data: N facilities spread over the six hospital peer groups, M indicators in five groups
(directions up/down, a ceiling and a floor among them, ~4 % missing, a few small denominators), baseline values
for one improvement-scored indicator, a handful of veto and bonus events. The method: z within peer group with
winsorisation at P1/P99, eligibility ≥ 3 groups of ≥ 3 indicators, k-means k = 5 within each peer group, two
tie-breakers. Timed: metrics.grading.grade() alone (inputs built beforehand and timed apart), best of --repeat
runs; the figures go to stdout as JSON; --record appends them to bench/RESULTS.md under "Grading engine".
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import sys
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

HEADING = "## Grading engine"
METHOD = ("`python bench/grading.py` — synthetic, seeded facilities × indicators (six peer groups, five indicator "
          "groups, ~4 % missing, small denominators, one improvement-scored indicator with baseline values, veto "
          "and bonus events); method: z within peer group, winsorised at P1/P99 (linear), eligibility ≥ 3 groups "
          "of ≥ 3 indicators, k-means k = 5 per peer group, two tie-breakers. `grade()` is timed alone (best of "
          "the repeats); building the inputs is reported apart.")
PEER_GROUPS = ["三级综合", "三级专科", "二级综合", "二级专科", "三级中医类", "二级中医类"]
GROUPS = ["质量安全", "运营效率", "合理用药", "持续发展", "满意度"]


@dataclass(frozen=True)
class _Ind:
    code: str
    direction: str
    name_zh: str = ""
    unit: str = "%"


def method_doc(m: int) -> tuple[dict, dict[str, _Ind]]:
    """A `method:` block over m synthetic indicators, and the catalogue it refers to."""
    catalog, items = {}, []
    for j in range(m):
        code = f"X{j:03d}"
        direction = "down" if j % 3 == 1 else "up"
        catalog[code] = _Ind(code, direction, f"指标{j}")
        item: dict = {"indicator": code, "group": GROUPS[j % len(GROUPS)], "weight": 1 + j % 4}
        if j % 10 == 4:
            item["orient"] = {"kind": "ceiling", "target": 60}
        elif j % 10 == 8:
            item["orient"] = {"kind": "floor", "target": 40}
        if j % 17 == 5:
            item["min_denominator"] = 30
        if j == 7:
            item["score"] = "improvement"
        items.append(item)
    doc = {
        "precision": {"stat": 6, "standardised": 4, "group": 4, "composite": 4},
        "peer_groups": PEER_GROUPS,
        "standardise": {"method": "z", "within": "peer_group", "sd": "population", "min_n": 5,
                        "winsorise": {"method": "percentile", "lower": 0.01, "upper": 0.99,
                                      "percentile_method": "linear"}},
        "indicators": items,
        "groups": {"weights_sum": 100, "min_indicators": 1, "restandardise": "none",
                   "list": [{"name": g, "weight": w} for g, w in zip(GROUPS, (22, 22, 22, 22, 12))]},
        "eligibility": {"min_groups": 3, "min_indicators": 3},
        "bonus": {"cap": "0.2", "items": [{"code": "B01", "name_zh": "示范项目", "event": "pilot", "points": "0.1"}]},
        "veto": {"items": [{"code": "V01", "name_zh": "重大医疗安全责任事件", "event": "incident",
                            "cap_grade": "三星"}]},
        "grading": {"method": "kmeans", "within": ["peer_group"], "k": 5,
                    "labels": ["五星", "四星", "三星", "二星", "一星"], "min_group_size": 10},
        "ties": {"breakers": [{"by": "group", "group": "质量安全"}, {"by": "indicators_reported"}]},
    }
    return doc, catalog


def inputs(n: int, m: int, seed: int = 1):
    """Peer groups, observations, baseline and events for n facilities × m indicators."""
    from metrics.grading import Event, Observation

    rng = random.Random(seed)
    peer = {f"H{i:05d}": PEER_GROUPS[rng.randrange(len(PEER_GROUPS))] for i in range(n)}
    obs, base = [], []
    for fid in peer:
        level = rng.gauss(0, 1)
        for j in range(m):
            if rng.random() < 0.04:
                continue
            x = 50 + 12 * level * (1 if j % 3 != 1 else -1) + rng.gauss(0, 15)
            v = Decimal(round(x * 100)).scaleb(-2)
            den = Decimal(rng.randrange(10, 500))
            obs.append(Observation(fid, f"X{j:03d}", v, denominator=den))
            if j == 7:
                base.append(Observation(fid, "X007", (v - Decimal(round(rng.gauss(1, 3) * 100)).scaleb(-2)),
                                        denominator=den))
    events = [Event(f, "incident", note="synthetic") for f in list(peer)[::997]]
    events += [Event(f, "pilot", count=2) for f in list(peer)[::101]]
    return peer, obs, base, events


def run(n: int, m: int, repeat: int) -> dict:
    from metrics.grading import grade, parse_method

    doc, catalog = method_doc(m)
    method = parse_method(doc, "bench: method", version="bench", catalog=catalog,
                          known_peer_groups=set(PEER_GROUPS))
    t0 = time.perf_counter()
    peer, obs, base, events = inputs(n, m)
    build = time.perf_counter() - t0
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = grade(method, peer, obs, baseline=base, events=events)
        times.append(time.perf_counter() - t)
    assert result is not None
    s = result.summary()
    return {
        "facilities": n, "indicators": m, "observations": len(obs),
        "build_inputs_s": round(build, 2),
        "grade_s": round(min(times), 2), "grade_runs_s": [round(x, 2) for x in times],
        "eligible": s["eligible"], "indicator_rows": s["indicator_rows"], "capped": s["capped"],
        "kmeans": {g: {"iterations": c["iterations"], "converged": c["converged"]} for g, c in s["clusters"].items()},
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, Python {platform.python_version()}",
    }


def record(fig: dict) -> None:
    path = REPO / "bench" / "RESULTS.md"
    text = path.read_text(encoding="utf-8")
    block = (f"\n### {time.strftime('%Y-%m-%d %H:%M')} — {fig['facilities']:,} facilities × {fig['indicators']} "
             f"indicators\n\n```json\n{json.dumps(fig, ensure_ascii=False, indent=2)}\n```\n")
    if HEADING not in text:
        text = text.rstrip("\n") + f"\n\n{HEADING}\n\n{METHOD}\n\nTarget (issue 6): 10,000 × 60 with " \
                                   f"standardisation and k-means in under 5 s on a 2-core machine.\n"
    path.write_text(text.rstrip("\n") + "\n" + block, encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--facilities", type=int, default=10_000)
    ap.add_argument("--indicators", type=int, default=60)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--record", action="store_true")
    a = ap.parse_args()
    fig = run(a.facilities, a.indicators, a.repeat)
    print(json.dumps(fig, ensure_ascii=False, indent=2))
    if a.record:
        record(fig)


if __name__ == "__main__":
    main()
