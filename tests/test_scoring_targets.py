"""Rules with a per-facility target (target_key): AUD ≤ 40 for 综合, ≤ 20 for children's, ≤ 30 for oncology."""
from __future__ import annotations

from decimal import Decimal as D

from metrics.indicators import IndicatorValue
from metrics.prescribing.antibiotic_rates import target_for
from metrics.scoring import load_scheme, score


def test_target_lookup_by_tier_type_specialty():
    assert target_for("aud", "三级", "综合").value == D(40)
    assert target_for("aud", "三级", "专科", "儿科").value == D(20)
    assert target_for("aud", "三级", "专科", "肿瘤").value == D(30)
    assert target_for("varieties", "二级", "综合").value == D(35)


def test_each_facility_is_scored_against_its_own_aud_target():
    scheme = load_scheme("2026")
    # three 三级专科 hospitals with the same AUD of 25 DDDs per 100 patient-days
    ivs = [IndicatorValue(f, "HL01", None, None, D("25.00"), "ok", None) for f in ("KID", "ONC", "NONE")]
    targets = {("KID", "HL01"): D(20), ("ONC", "HL01"): D(30)}   # NONE: no target in the table for its kind
    rows, _ = score(ivs, {"KID": "三级专科", "ONC": "三级专科", "NONE": "三级专科"}, scheme, targets)
    got = {(r.facility_id, r.indicator): (r.points, r.status) for r in rows if r.indicator == "HL01"}
    # HL01 weight 8, deduct 1 per DDD above target: children's 25 − 20 = 5 over → 8 − 5 = 3; oncology under → 8
    assert got[("KID", "HL01")] == (D("3.0000"), "scored")
    assert got[("ONC", "HL01")] == (D("8.0000"), "scored")
    assert got[("NONE", "HL01")] == (None, "redistributed")
    detail = {r.facility_id: r.detail for r in rows if r.indicator == "HL01"}
    assert "目标 ≤ 20" in detail["KID"] and "无适用于本机构的目标值" in detail["NONE"]
