"""Indicator catalogue: every worked example in indicators.yaml, statuses, and the strict loader."""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from metrics.catalog import CatalogError
from metrics.indicators import Example, Indicator, IndicatorValue, compute, load_indicators

CATALOG = load_indicators()
EXAMPLES = [(ind, ex) for ind in CATALOG.values() for ex in ind.examples]


def _run(ind: Indicator, ex: Example) -> IndicatorValue:
    calibres = {ind.code: ex.calibre} if ex.calibre else {}
    out = compute({"H": ex.given}, {} if ex.base is None else {"H": ex.base}, {"H": set(ex.blocked)},
                  CATALOG, calibres)
    return next(v for v in out if v.indicator == ind.code)


@pytest.mark.parametrize("ind, ex", EXAMPLES,
                         ids=[f"{ind.code}-{i}" for ind in CATALOG.values() for i in range(len(ind.examples))])
def test_catalog_example(ind: Indicator, ex: Example) -> None:
    got = _run(ind, ex)
    if isinstance(ex.expect, Decimal):
        assert got.status == "ok", got.detail
        assert got.value == ex.expect
        # published precision: exactly `decimals` places, e.g. 62.50 not 62.5
        assert got.value.as_tuple().exponent == -ind.decimals
    else:
        assert (got.status, got.value) == (ex.expect, None), got.detail


def test_every_indicator_has_examples_including_a_zero_denominator() -> None:
    for ind in CATALOG.values():
        if ind.calibre().formula.kind == "external":  # computed by its own stage, with its own hand-computed tests
            continue
        assert ind.examples, ind.code
        if ind.calibre().formula.kind != "value":  # a value has no denominator to be zero
            assert any(ex.expect == "undefined" for ex in ind.examples), ind.code
    growth = [i for i in CATALOG.values() if i.calibre().formula.kind == "growth"]
    assert {i.code for i in growth} == {"YP04", "YP05"}
    for ind in growth:
        assert any(ex.expect == "no_base" for ex in ind.examples), ind.code


def test_national_numbers() -> None:
    assert CATALOG["YP04"].nat_no == "国考39"
    assert CATALOG["YP05"].nat_no == "国考41"
    assert CATALOG["YP06"].nat_no == "国考31"
    assert CATALOG["YP07"].nat_no == "国考18"
    assert CATALOG["YP01"].nat_no is None


def test_zero_denominator_is_never_zero_percent() -> None:
    [v] = [x for x in compute({"H": {"discharges_grade4": 0, "discharges_surgery": 0}}, {}, {}, CATALOG)
           if x.indicator == "YP10"]
    assert v.status == "undefined" and v.value is None
    assert "分母为0" in (v.detail or "")


def test_blocked_beats_missing_and_zero_denominator() -> None:
    [v] = [x for x in compute({"H": {"vbp_volume": None, "vbp_generic_volume": 0}}, {},
                              {"H": {"vbp_generic_volume"}}, CATALOG) if x.indicator == "YP08"]
    assert v.status == "data_error"


def test_growth_base_with_error_finding_is_no_base() -> None:
    cur = {"op_drug_revenue": 120.5, "oe_visits": 8000}
    base = {"op_drug_revenue": 110, "oe_visits": 7800}
    [v] = [x for x in compute({"H": cur}, {"H": base}, {}, CATALOG, base_blocked={"H": {"oe_visits"}})
           if x.indicator == "YP04"]
    assert v.status == "no_base" and v.value is None
    assert "上年同期" in (v.detail or "")


def test_growth_uses_unrounded_base() -> None:
    # base 次均 = 110×10000/7800 = 141.025641…; rounding it to 141.03 first would give
    # (150.625 − 141.03)/141.03 = 6.8035… → 6.80 instead of 6.81
    cur = {"op_drug_revenue": 120.5, "oe_visits": 8000}
    base = {"op_drug_revenue": 110, "oe_visits": 7800}
    [v] = [x for x in compute({"H": cur}, {"H": base}, {}, CATALOG) if x.indicator == "YP04"]
    assert v.value == Decimal("6.81")
    assert v.numerator == Decimal("150.625")


def test_float_and_decimal_inputs_round_half_up_alike() -> None:
    # the float 12.345 is 12.3449999… in binary; it is read through its text, so it rounds like Decimal 12.345
    for drug in (12.345, Decimal("12.345"), "12.345"):
        [v] = [x for x in compute({"H": {"drug_revenue": drug, "herbal_revenue": 0, "med_revenue": 100.0}},
                                  {}, {}, CATALOG) if x.indicator == "YP01"]
        assert v.value == Decimal("12.35")


def test_unknown_calibre_is_rejected() -> None:
    with pytest.raises(KeyError, match="YP01"):
        compute({"H": {}}, {}, {}, CATALOG, {"YP01": "no_such_calibre"})


def test_rows_for_every_facility_and_indicator_in_catalog_order() -> None:
    out = compute({"B": {}, "A": {}}, {}, {"C": {"med_revenue"}}, CATALOG)
    # external indicators (满意度 MY01–MY03) are left to their own stage (warehouse.satisfaction)
    computed = [c for c, i in CATALOG.items() if i.calibre().formula.kind != "external"]
    assert [(v.facility_id, v.indicator) for v in out] == [(f, c) for f in "ABC" for c in computed]
    assert {v.status for v in out if v.facility_id == "A"} == {"missing"}
    row = out[0].as_row("2026-Q3")
    assert row["period"] == "2026-Q3" and row["status"] == "missing"


# ---------------------------------------------------------------------------------------------- loader

_GOOD = """\
version: t
indicators:
  - code: T1
    name_zh: 测试
    unit: "%"
    direction: up
    decimals: 2
    formula: {kind: ratio, numerator: [vbp_volume], denominator: [vbp_generic_volume], scale: 100}
"""


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "indicators.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_loader_accepts_minimal(tmp_path: Path) -> None:
    cat = load_indicators(_write(tmp_path, _GOOD))
    assert list(cat) == ["T1"] and cat["T1"].calibre().formula.scale == Decimal(100)


@pytest.mark.parametrize("old, new, key", [
    ("    decimals: 2\n", "    decimals: 2\n    weight: 3\n", "weight"),
    ("scale: 100}", "scale: 100, offset: 1}", "offset"),
    ("[vbp_volume]", "[vbp_volumes]", "vbp_volumes"),
    ("direction: up", "direction: sideways", "direction"),
    ("kind: ratio", "kind: product", "kind"),
])
def test_loader_rejects_naming_file_and_key(tmp_path: Path, old: str, new: str, key: str) -> None:
    p = _write(tmp_path, _GOOD.replace(old, new))
    with pytest.raises(CatalogError) as e:
        load_indicators(p)
    assert str(p) in str(e.value) and key in str(e.value)


def test_loader_rejects_growth_of_unknown_indicator(tmp_path: Path) -> None:
    p = _write(tmp_path, _GOOD + """\
  - code: T2
    name_zh: 增幅
    unit: "%"
    direction: down
    decimals: 2
    formula: {kind: growth, of: T9}
""")
    with pytest.raises(CatalogError, match="T2.formula.of"):
        load_indicators(p)
