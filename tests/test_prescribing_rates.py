"""Antibiotic use rates, AUD and 品种 count against targets keyed by tier × type × specialty, with fallback."""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from metrics.catalog import CatalogError
from metrics.prescribing.antibiotic_rates import (TARGETS_FILE, aggregate_months, compute_rates, judge, load_targets,
                                                  target_for)

D = Decimal


@pytest.mark.parametrize("indicator, tier, ftype, specialty, value, matched_on", [
    ("aud", "三级", "综合", None, D(40), ()),                                   # general default
    ("aud", "三级", "专科", "儿科", D(20), ("ftype", "specialty")),             # children's hospital
    ("aud", "二级", "专科", "儿童", D(20), ("ftype", "specialty")),             # specialty alias 儿童 → 儿科
    ("aud", "三级", "专科", "精神", D(5), ("ftype", "specialty")),
    ("aud", "三级", "专科", "肿瘤", D(30), ("ftype", "specialty")),
    ("aud", "三级", "专科", "眼科", D(40), ("ftype",)),                         # unknown specialty → type default
    ("aud", "三级", "专科", None, D(40), ("ftype",)),
    ("aud", "二级", "妇幼保健院", None, D(40), ("ftype",)),
    ("aud", "三级", "中医", None, D(40), ()),                                   # no type entry → general
    ("outpatient_rate", "三级", "综合", None, D(20), ()),
    ("outpatient_rate", "三级", "专科", "儿科", D(25), ("ftype", "specialty")),
    ("outpatient_rate", "三级", "专科", "康复", D(20), ()),                     # no 专科 entry for this indicator
    ("emergency_rate", "二级", "综合", None, D(40), ()),
    ("inpatient_rate", "二级", "综合", None, D(60), ()),
    ("incision_i_prophylaxis_rate", "三级", "综合", None, D(30), ()),
    ("varieties", "三级", "综合", None, D(50), ("tier",)),
    ("varieties", "二级", "综合", None, D(35), ("tier",)),
    ("varieties", "二级", "妇幼保健院", None, D(40), ("ftype",)),              # type level beats tier level
    ("varieties", "三级", "专科", "眼科", D(50), ("tier",)),
])
def test_target_lookup_and_fallback(indicator: str, tier: str, ftype: str, specialty: str | None, value: Decimal,
                                    matched_on: tuple[str, ...]) -> None:
    t = target_for(indicator, tier, ftype, specialty)
    assert t is not None
    assert (t.op, t.value, t.matched_on) == ("≤", value, matched_on)
    assert t.note_zh


def test_no_target_gives_none_and_unknown_indicator_raises() -> None:
    assert target_for("varieties", "一级", "综合", None) is None
    with pytest.raises(KeyError):
        target_for("dot", "三级", "综合", None)


def test_rates_from_counts_and_verdicts() -> None:
    counts = {
        "abx_op_rx_with_abx": 1_850, "abx_op_rx_total": 10_000,    # 1,850/10,000×100 = 18.50 % ≤ 20 → 达标
        "abx_em_rx_with_abx": 410, "abx_em_rx_total": 1_000,       # 410/1,000×100 = 41.00 % > 40 → 未达标
        "abx_discharges_with_abx": 600, "abx_discharges": 1_000,   # 600/1,000×100 = 60.00 % ≤ 60 → 达标 (at the limit)
        "abx_clean_ops_prophylaxis": 0, "abx_clean_ops": 0,        # 0/0 → undefined → 无定义
        "aud_ddds": D("3457.14"), "aud_patient_days": 8_642,       # see below
        "antimicrobial_varieties": 52,                             # 52 > 50 (三级) → 未达标
    }
    # AUD = 3,457.14 × 100 / 8,642 = 345,714 / 8,642 = 40.00393… → 40.00; the verdict reads the published
    # value (as the scheme scores rounded indicator values), so 40.00 ≤ 40 → 达标
    res = {r.indicator: r for r in compute_rates(counts, "三级", "综合")}
    assert {k: (r.value, r.status, r.verdict) for k, r in res.items()} == {
        "outpatient_rate": (D("18.50"), "ok", "达标"),
        "emergency_rate": (D("41.00"), "ok", "未达标"),
        "inpatient_rate": (D("60.00"), "ok", "达标"),
        "incision_i_prophylaxis_rate": (None, "undefined", "无定义"),
        "aud": (D("40.00"), "ok", "达标"),
        "varieties": (D("52"), "ok", "未达标"),
    }
    assert (res["aud"].numerator, res["aud"].denominator) == (D("3457.14"), D(8642))
    assert res["aud"].target is not None and res["aud"].target.text == "≤40"


def test_same_aud_judged_by_the_facility_target() -> None:
    # 2,500 DDDs × 100 / 10,000 patient-days = 25.00: passes 40 (综合) and 30 (肿瘤), fails 20 (儿科) and 5 (精神)
    counts = {"aud_ddds": 2500, "aud_patient_days": 10_000}
    verdict = {spec: compute_rates(counts, "三级", "专科", spec, indicators=["aud"])[0].verdict
               for spec in ("肿瘤", "儿科", "精神", "眼科")}
    assert verdict == {"肿瘤": "达标", "儿科": "未达标", "精神": "未达标", "眼科": "达标"}


def test_missing_fields_and_missing_targets() -> None:
    res = {r.indicator: r for r in compute_rates({"antimicrobial_varieties": 30}, "一级", "综合")}
    assert (res["outpatient_rate"].status, res["outpatient_rate"].verdict) == ("missing", "数据缺失")
    assert (res["varieties"].value, res["varieties"].target, res["varieties"].verdict) == (D(30), None, "无目标")
    assert judge(D("12"), None) == "无目标" and judge(None, None) == "无定义"


def test_quarter_rates_are_ratios_of_sums_and_varieties_the_last_month() -> None:
    # month   with antibiotic / outpatient prescriptions    monthly rate    varieties
    # 01      100 / 1,000                                   10.00 %         48
    # 02      900 / 3,000                                   30.00 %         49
    # 03       50 / 1,000                                    5.00 %         51
    # mean of monthly rates = (10 + 30 + 5)/3 = 15.00 % (would pass ≤ 20)
    # quarter = (100 + 900 + 50)/(1,000 + 3,000 + 1,000) = 1,050/5,000 = 21.00 % → 未达标
    months = [
        {"abx_op_rx_with_abx": 100, "abx_op_rx_total": 1000, "antimicrobial_varieties": 48, "aud_ddds": 300,
         "aud_patient_days": 1000},
        {"abx_op_rx_with_abx": 900, "abx_op_rx_total": 3000, "antimicrobial_varieties": 49, "aud_ddds": 500,
         "aud_patient_days": 1000},
        {"abx_op_rx_with_abx": 50, "abx_op_rx_total": 1000, "antimicrobial_varieties": 51, "aud_ddds": 400,
         "aud_patient_days": None},
    ]
    monthly = [compute_rates(m, "三级", "综合", indicators=["outpatient_rate"])[0].value for m in months]
    assert monthly == [D("10.00"), D("30.00"), D("5.00")] and sum(monthly) / 3 == D("15.00")
    agg = aggregate_months(months)
    assert (agg["abx_op_rx_with_abx"], agg["abx_op_rx_total"]) == (D(1050), D(5000))
    assert agg["antimicrobial_varieties"] == D(51)
    assert agg["aud_patient_days"] is None and agg["abx_em_rx_total"] is None    # a flow needs every month
    res = {r.indicator: r for r in compute_rates(agg, "三级", "综合")}
    assert (res["outpatient_rate"].value, res["outpatient_rate"].verdict) == (D("21.00"), "未达标")
    assert (res["varieties"].value, res["varieties"].verdict) == (D(51), "未达标")   # 51 > 50
    assert res["aud"].status == "missing"


def _write(tmp_path: Path, doc: dict) -> Path:
    p = tmp_path / "targets.yaml"
    p.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return p


def _doc() -> dict:
    return yaml.safe_load(TARGETS_FILE.read_text(encoding="utf-8"))


def test_targets_are_data_a_bureau_can_extend(tmp_path: Path) -> None:
    doc = _doc()
    # a tier-specific children's-hospital cap outranks the type+specialty entry (fallback level 1)
    doc["targets"].append({"indicator": "aud", "tier": "二级", "ftype": "专科", "specialty": "儿科", "op": "<=",
                           "value": 15, "note_zh": "本市二级儿童医院"})
    t = load_targets(_write(tmp_path, doc))
    hit = target_for("aud", "二级", "专科", "儿科", t)
    assert hit is not None and (hit.op, hit.value, hit.matched_on) == ("≤", D(15), ("tier", "ftype", "specialty"))
    three = target_for("aud", "三级", "专科", "儿科", t)
    assert three is not None and three.value == D(20)


@pytest.mark.parametrize("mutate, match", [
    (lambda d: d.update(owner="x"), r"unknown key.*owner"),
    (lambda d: d["targets"][0].update(valeu=3), r"targets\[0\].*valeu"),
    (lambda d: d["indicators"]["aud"].update(field="x"), r"indicators\.aud.*field"),
    (lambda d: d["indicators"]["aud"].update(kind="mean"), r"indicators\.aud\.kind"),
    (lambda d: d["targets"][0].update(indicator="dot"), r"targets\[0\]\.indicator.*dot"),
    (lambda d: d["targets"][0].update(op="≈"), r"targets\[0\]\.op"),
    (lambda d: d["targets"].append(dict(d["targets"][0])), r"duplicate target"),
    (lambda d: d["targets"][0].update(county="城东区"), r"targets\[0\].*county"),
    (lambda d: d["targets"][0].update(specialty="儿科"), r"match no fallback level"),
    (lambda d: d["fallback"].append(["county"]), r"fallback\[6\]"),
])
def test_loader_rejects_bad_files_naming_file_and_key(tmp_path: Path, mutate, match: str) -> None:
    doc = _doc()
    mutate(doc)
    p = _write(tmp_path, doc)
    with pytest.raises(CatalogError, match=match) as e:
        load_targets(p)
    assert str(p) in str(e.value)
