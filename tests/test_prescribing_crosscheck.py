"""Wilson cross-check of the self-reported outpatient antibiotic rate against the facility's own review sample."""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from metrics.catalog import CatalogError
from metrics.prescribing.crosscheck import (CROSSCHECK_FILE, crosscheck_antibiotic_rate, load_crosscheck_config,
                                            sampling_method, wilson_interval, z_for)

D = Decimal
Q4 = D("0.0001")


def _q(v: Decimal) -> Decimal:
    return v.quantize(Q4)


def test_wilson_interval_30_of_100_at_99_percent_by_hand() -> None:
    # z = Φ⁻¹(0.995) = 2.575829…, z² = 6.634897
    # p̂ = 0.30; denom = 1 + z²/n = 1.06634897
    # centre = (0.30 + z²/200) / denom = (0.30 + 0.03317448) / 1.06634897 = 0.312444
    # half = z·√(p̂(1−p̂)/n + z²/(4n²)) / denom = 2.575829·√(0.0021 + 0.00016587) / 1.06634897
    #      = 2.575829 · 0.0476011 / 1.06634897 = 0.114984
    # lower = 0.197461 → 0.1975, upper = 0.427428 → 0.4274
    wi = wilson_interval(30, 100, D("0.99"))
    assert _q(wi.z) == D("2.5758")
    assert _q(wi.centre) == D("0.3124")
    assert (_q(wi.lower), _q(wi.upper)) == (D("0.1975"), D("0.4274"))


def test_wilson_interval_30_of_100_at_95_percent_by_hand() -> None:
    # z = 1.959964, z² = 3.841459; denom = 1.03841459
    # centre = (0.30 + 0.01920729) / 1.03841459 = 0.307399
    # half = 1.959964·√(0.0021 + 0.0000960365) / 1.03841459 = 1.959964·0.0468619 / 1.03841459 = 0.088450
    # lower = 0.218949 → 0.2189, upper = 0.395849 → 0.3958
    wi = wilson_interval(30, 100, 0.95)
    assert (_q(wi.lower), _q(wi.upper)) == (D("0.2189"), D("0.3958"))


def test_wilson_interval_at_zero_and_one() -> None:
    # x = 0: lower = 0, upper = z²/(n + z²) = 6.634897/106.634897 = 0.062221 → 0.0622
    # x = n: lower = n/(n + z²) = 100/106.634897 = 0.937779 → 0.9378, upper = 1
    zero, full = wilson_interval(0, 100), wilson_interval(100, 100)
    assert (zero.lower, _q(zero.upper)) == (D(0), D("0.0622"))
    assert (_q(full.lower), full.upper) == (D("0.9378"), D(1))
    with pytest.raises(ValueError):
        wilson_interval(0, 0)
    with pytest.raises(ValueError):
        z_for(1)


def test_reported_rate_inside_the_interval_is_consistent() -> None:
    # reported 2,000 / 10,000 = 0.2000 lies inside [0.1975, 0.4274]
    c = crosscheck_antibiotic_rate(2000, 10_000, 30, 100, "随机抽样")
    assert (c.status, c.method) == ("consistent", "random")
    assert (c.reported_rate, c.sample_rate, c.lower, c.upper) == (D("0.2000"), D("0.3000"), D("0.1975"), D("0.4274"))
    # exact binomial P(outcomes no more likely than 30 | n=100, p=0.2), two-sided = 0.0169 > α = 0.01;
    # score test: z = (0.30 − 0.20)/√(0.2·0.8/100) = 0.10/0.04 = 2.5 → p = 2·(1 − Φ(2.5)) = 0.0124
    assert (c.p_value, c.score_p_value) == (D("0.0169"), D("0.0124"))
    assert c.sampling_fraction == D("0.010000")
    assert "之内" in c.reason_zh and "99%" in c.reason_zh and "p=0.0169" in c.reason_zh


def test_reported_rate_outside_the_interval_is_flagged_both_sides() -> None:
    # under-reporting: 0.16 < 0.1975
    low = crosscheck_antibiotic_rate(1600, 10_000, 30, 100, "random")
    assert low.status == "flagged" and "之外" in low.reason_zh
    # score test: z = 0.14/√(0.16·0.84/100) = 0.14/0.036661 = 3.8188 → p = 0.0001
    assert (low.p_value, low.score_p_value) == (D("0.0005"), D("0.0001"))
    # over-reporting: 0.43 > 0.4274 is flagged, 0.42 is not
    assert crosscheck_antibiotic_rate(4300, 10_000, 30, 100, "random").status == "flagged"
    assert crosscheck_antibiotic_rate(4200, 10_000, 30, 100, "random").status == "consistent"


def test_level_is_configurable_per_call() -> None:
    # at 95 % the interval is [0.2189, 0.3958]: the same 0.2000 is now outside
    c = crosscheck_antibiotic_rate(2000, 10_000, 30, 100, "random", level=D("0.95"))
    assert (c.status, c.lower, c.upper, c.level) == ("flagged", D("0.2189"), D("0.3958"), D("0.95"))
    assert "95%" in c.reason_zh


def test_targeted_and_unknown_samples_are_skipped_with_a_reason() -> None:
    c = crosscheck_antibiotic_rate(2000, 10_000, 90, 100, "重点抽样")
    assert (c.status, c.method, c.lower, c.p_value) == ("skipped", "targeted", None, None)
    assert "重点" in c.reason_zh and "不与上报比例比对" in c.reason_zh
    u = crosscheck_antibiotic_rate(2000, 10_000, 90, 100, None)
    assert (u.status, u.method) == ("skipped", None) and "抽样方法" in u.reason_zh
    assert sampling_method("  Random ") == "random" and sampling_method("专项点评") == "targeted"
    assert sampling_method("随便") is None


@pytest.mark.parametrize("args, reason", [
    ((2000, 10_000, 0, 0), "样本为0张"),
    ((0, 0, 3, 100), "上报门诊处方总数为0"),
    ((None, 10_000, 3, 100), "未上报"),
    ((20, 10, 3, 100), "上报数据不一致"),
    ((5, 50, 3, 100), "多于上报门诊处方总数"),
    ((5, 5000, 120, 100), "点评样本数据不一致"),
])
def test_undefined_cases_never_flag(args: tuple, reason: str) -> None:
    c = crosscheck_antibiotic_rate(*args, "random")
    assert c.status == "undefined" and reason in c.reason_zh and c.p_value is None


def test_reported_rate_of_zero_or_one() -> None:
    # p₀ = 0 and no antibiotic in the sample: interval [0, 0.0622] holds 0, exact p = 1
    a = crosscheck_antibiotic_rate(0, 1000, 0, 100, "random")
    assert (a.status, a.p_value, a.score_p_value) == ("consistent", D("1.0000"), D("1.0000"))
    # p₀ = 0 but 5 of 100 sampled had one: impossible under p₀, p = 0; interval [0.0168, 0.1392] excludes 0
    b = crosscheck_antibiotic_rate(0, 1000, 5, 100, "random")
    assert (b.status, b.p_value, b.lower) == ("flagged", D("0.0000"), D("0.0168"))
    # p₀ = 1 and all sampled had one
    assert crosscheck_antibiotic_rate(1000, 1000, 100, 100, "random").status == "consistent"


def test_tiny_p_value_is_written_as_an_upper_bound() -> None:
    c = crosscheck_antibiotic_rate(10, 100_000, 60, 200, "random")
    assert c.status == "flagged" and c.p_value == D("0.0000") and "p<0.0001" in c.reason_zh


def test_loader_rejects_unknown_keys_and_bad_level(tmp_path: Path) -> None:
    doc = yaml.safe_load(CROSSCHECK_FILE.read_text(encoding="utf-8"))
    doc["alpha"] = 0.01
    p = tmp_path / "crosscheck.yaml"
    p.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    with pytest.raises(CatalogError, match="alpha") as e:
        load_crosscheck_config(p)
    assert str(p) in str(e.value)
    doc = yaml.safe_load(CROSSCHECK_FILE.read_text(encoding="utf-8"))
    doc["methods"]["stratified"] = ["分层"]
    p.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    with pytest.raises(CatalogError, match=r"methods.*stratified"):
        load_crosscheck_config(p)
    doc = yaml.safe_load(CROSSCHECK_FILE.read_text(encoding="utf-8"))
    doc["level"] = 99
    p.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    with pytest.raises(CatalogError, match="level"):
        load_crosscheck_config(p)
    doc["level"] = 0.9
    p.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    cfg = load_crosscheck_config(p)
    # at 90 % (z = 1.6449) the interval of 30/100 is narrower: 0.2000 is outside it
    assert crosscheck_antibiotic_rate(2000, 10_000, 30, 100, "random", config=cfg).status == "flagged"
