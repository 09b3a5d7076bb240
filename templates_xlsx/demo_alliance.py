"""Demo content of the alliance returns: grassroots centres (JX-JC01) and county health bureaus (JX-XY01).

Plain data for templates_xlsx.demo. A township or community centre has its own size and habits (stable over
months); a county's figures are built on top of what its hospitals and centres report, so county-wide visits
always cover the members' visits plus village and private clinics. The four counties get their levels from
permutations (each county ranks differently on each measure), so the county alliances rank differently.
Deterministic for the same seed; amounts in 万元 with exactly 2 decimals.
"""
from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any


def _cents(x: float) -> int:
    return int(math.floor(x + 0.5))


def _clamp(x: float, lo: float, hi: float) -> float:
    return min(max(x, lo), hi)


def grassroots_values(seed: str, month: str, ftype: str, t: int, season: float) -> dict[str, int | float]:
    """The true figures of one centre-month (`t` months since the origin, `season` the month's volume factor)."""
    p = random.Random(f"{seed}:jc-profile")
    township = ftype == "乡镇卫生院"
    visits0 = p.uniform(2_600, 8_100)
    growth = p.uniform(-0.03, 0.06)
    per_visit = p.uniform(170, 215)            # 元 of medical revenue per visit (inpatient care included)
    adm_rate = p.uniform(0.012, 0.035) if township else p.uniform(0.0, 0.006)
    drug = p.uniform(0.42, 0.58)
    essential = p.uniform(0.72, 0.93)
    up, down = p.uniform(0.004, 0.016), p.uniform(0.15, 0.45)  # up per visit, down per up
    rng = random.Random(f"{seed}:jc:{month}")
    visits = round(_clamp(visits0 * season * (1 + growth) ** (t / 12) * rng.uniform(0.97, 1.03), 2_000, 9_000))
    med_c = _cents(_clamp(visits * per_visit * rng.uniform(0.97, 1.03) / 100, 4_000, 20_000))
    drug_c = _cents(med_c * _clamp(drug * rng.uniform(0.97, 1.03), 0.40, 0.60))
    ess_c = _cents(drug_c * _clamp(essential * rng.uniform(0.98, 1.02), 0.70, 0.95))
    referral_up = round(_clamp(visits * up * rng.uniform(0.85, 1.15), 20, 120))
    return {
        "jc_oe_visits": visits, "jc_admissions": round(visits * adm_rate * rng.uniform(0.9, 1.1)),
        "jc_med_revenue": med_c / 100, "jc_drug_revenue": drug_c / 100, "jc_essential_drug_revenue": ess_c / 100,
        "jc_referral_up": referral_up,
        "jc_referral_down": round(_clamp(referral_up * down * rng.uniform(0.8, 1.2), 5, 50)),
    }


# measure → (low, high) of the county's level; each county takes its own band (a permutation per measure)
_COUNTY_RANGES = {
    "visit_in_share": (0.86, 0.94), "adm_in_share": (0.81, 0.91), "fund_in_share": (0.62, 0.82),
    "grassroots_fund_share": (0.11, 0.24), "nonmember_share": (0.21, 0.39), "managed": (0.57, 0.80),
    "remote": (300.0, 1_500.0), "chronic_base": (15_500.0, 32_000.0),
}


def county_profiles(seed: int | str, codes: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Each county's levels: per measure a random permutation of bands, so no county leads on everything."""
    rng = random.Random(f"{seed}:county-profiles")
    n = len(codes)
    out: dict[str, dict[str, Any]] = {c: {} for c in codes}
    for key, (lo, hi) in _COUNTY_RANGES.items():
        perm = rng.sample(range(n), n)
        for c, k in zip(codes, perm):
            out[c][key] = lo + (hi - lo) * (k + rng.uniform(0.15, 0.85)) / n
    for c in codes:
        p = out[c]
        p["resident_share"] = rng.uniform(0.92, 0.97)      # the rest are visitors and migrant workers
        p["other_share"] = rng.uniform(0.03, 0.08)         # in-county units outside the registry (private hospitals)
        p["other_floor"] = rng.uniform(3_000, 8_000)
        p["fund_ratio"] = rng.uniform(0.50, 0.62)          # 医保 share of medical revenue
        p["chronic_growth"] = rng.uniform(0.001, 0.005)    # per month
        p["senior_base"] = rng.randint(3, 16)
        p["improve"] = rng.uniform(0.0, 0.0015)            # per month, in-county shares
    return out


def county_values(seed: str, month: str, p: dict[str, Any], t: int, season: float,
                  members: dict[str, float]) -> dict[str, int | float]:
    """One county-month, consistent with its members' figures.

    `members`: hosp_visits, hosp_discharges, hosp_revenue (万元) of the county's hospitals and jc_visits,
    jc_admissions, jc_revenue of its centres. xy_visits_total = members + other registered-less units +
    xy_visits_nonmember_grassroots (village and private clinics, 20–40 % of the total).
    """
    rng = random.Random(f"{seed}:xy:{month}")
    member_visits = int(members["hosp_visits"] + members["jc_visits"])
    other = round(max(member_visits * p["other_share"], p["other_floor"] * season) * rng.uniform(0.97, 1.03))
    s = _clamp(p["nonmember_share"] + rng.uniform(-0.015, 0.015), 0.20, 0.40)
    nonmember = round((member_visits + other) * s / (1 - s))
    total = member_visits + other + nonmember
    res_in = round(total * p["resident_share"] * rng.uniform(0.995, 1.005))
    pin = _clamp(p["visit_in_share"] + p["improve"] * t + rng.uniform(-0.006, 0.006), 0.85, 0.95)
    adm = members["hosp_discharges"] + members["jc_admissions"]
    res_adm_in = round((adm + other * 0.01) * p["resident_share"] * rng.uniform(0.99, 1.01))
    q = _clamp(p["adm_in_share"] + p["improve"] * t + rng.uniform(-0.008, 0.008), 0.80, 0.92)
    revenue = members["hosp_revenue"] + members["jc_revenue"] + (other + nonmember) * 45 / 10_000
    fund_in_c = _cents(revenue * p["fund_ratio"] * rng.uniform(0.98, 1.02) * 100)
    f = _clamp(p["fund_in_share"] + p["improve"] * t + rng.uniform(-0.01, 0.01), 0.55, 0.88)
    g = _clamp(p["grassroots_fund_share"] + rng.uniform(-0.01, 0.01), 0.10, 0.25)
    registered = round(min(p["chronic_base"] * (1 + p["chronic_growth"] * t), 40_000))
    managed = _clamp(p["managed"] + 0.002 * t + rng.uniform(-0.01, 0.01), 0.55, 0.85)
    return {
        "xy_res_visits_in": res_in, "xy_res_visits_out": round(res_in * (1 - pin) / pin),
        "xy_res_adm_in": res_adm_in, "xy_res_adm_out": round(res_adm_in * (1 - q) / q),
        "xy_visits_total": total, "xy_visits_nonmember_grassroots": nonmember,
        "xy_fund_in_county": fund_in_c / 100, "xy_fund_out_county": _cents(fund_in_c * (1 - f) / f) / 100,
        "xy_fund_grassroots": _cents(fund_in_c * g) / 100,
        "xy_chronic_registered": registered, "xy_chronic_managed": round(registered * managed),
        "xy_remote_diagnosis": round(_clamp(p["remote"] * season * (1 + 0.01 * t) * rng.uniform(0.9, 1.1),
                                            200, 2_000)),
        "xy_senior_posted": min(25, p["senior_base"] + t // 4),
    }
