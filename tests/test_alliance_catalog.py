"""Alliance indicator catalogue: every worked example in alliance_indicators.yaml, and the strict loader."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from metrics.alliance import AllianceExample, AllianceIndicator, AllianceValue, Membership, compute_alliances, \
    load_alliance_indicators
from metrics.alliance.catalog import ALLIANCE_CATALOG, ORG_KINDS
from metrics.catalog import CatalogError, all_fields_by_code

CATALOG = load_alliance_indicators()
EXAMPLES = [(ind, ex) for ind in CATALOG.indicators.values() for ex in ind.examples]

# field → aggregation over time, as fields.yaml / fields_grassroots.yaml / fields_county.yaml declare it
# (the engine takes it as an input; test_aggregation_matches_the_field_catalogs checks the copy)
STOCKS = {"xy_chronic_registered", "xy_chronic_managed", "xy_senior_posted"}
FLOWS = {"med_revenue", "drug_revenue", "discharges_surgery", "discharges_grade3", "discharges_grade4",
         "svc_registration", "svc_bed", "svc_consultation", "svc_treatment", "svc_surgery", "svc_pharmacy",
         "svc_nursing", "jc_oe_visits", "jc_admissions", "jc_med_revenue", "jc_drug_revenue",
         "jc_essential_drug_revenue", "jc_referral_up", "jc_referral_down", "xy_res_visits_in", "xy_res_visits_out",
         "xy_res_adm_in", "xy_res_adm_out", "xy_visits_total", "xy_visits_nonmember_grassroots", "xy_fund_in_county",
         "xy_fund_out_county", "xy_fund_grassroots", "xy_remote_diagnosis"}
AGG = {**{f: "sum" for f in FLOWS}, **{f: "last" for f in STOCKS}}
SINCE = dt.date(2025, 1, 1)


def _dec(v: Any) -> Decimal | None:
    return None if v is None else Decimal(str(v))


def run_example(ind: AllianceIndicator, ex: AllianceExample) -> AllianceValue:
    """One alliance "A" (lead "L", members "M1"…, county "C") over 2026-01, 2026-02, … as the example gives."""
    months = [f"2026-{i + 1:02d}" for i in range(len(ex.given))]
    values: dict[tuple[str, str], dict[str, Decimal | None]] = {}
    units: dict[str, str] = {}
    for m, g in zip(months, ex.given):
        given = [("C", g.get("county")), ("L", g.get("lead"))]
        given += [(f"M{i + 1}", x) for i, x in enumerate(g.get("members") or [])]
        if "lead" in g:
            units["L"] = "牵头"
        units.update((f"M{i + 1}", "成员") for i in range(len(g.get("members") or [])))
        for unit, fields in given:
            if fields is not None:  # null = no return from the unit that month
                values[(unit, m)] = {f: _dec(v) for f, v in fields.items()}
    if not units:
        units["L"] = "牵头"  # an alliance needs a member to exist in the period; county examples name none
    memberships = [Membership(u, "A", "示例医共体", "医共体", r, SINCE) for u, r in units.items()]
    out, _ = compute_alliances(values, AGG, memberships, {"A": "C"}, months, {ind.code: ind})
    [v] = out
    return v


@pytest.mark.parametrize("ind, ex", EXAMPLES,
                         ids=[f"{i.code}-{j}" for i in CATALOG.indicators.values() for j in range(len(i.examples))])
def test_catalog_example(ind: AllianceIndicator, ex: AllianceExample) -> None:
    got = run_example(ind, ex)
    if isinstance(ex.expect, Decimal):
        assert got.status == "ok", got.detail
        assert got.value == ex.expect
        assert got.value.as_tuple().exponent == -ind.decimals   # 90.00, not 90
    else:
        assert (got.status, got.value) == (ex.expect, None), got.detail


def test_catalog_covers_yg01_to_yg14_with_zero_denominators() -> None:
    assert list(CATALOG.indicators) == [f"YG{i:02d}" for i in range(1, 15)]
    assert CATALOG.version == "2026.1" and CATALOG.missing_member == "exclude"
    for ind in CATALOG.indicators.values():
        assert ind.examples, ind.code
        assert any(t in ind.note_zh for t in ("JX-XY01", "JX-JC01", "JX-YB01")), ind.code
        if ind.formula.kind == "ratio":
            assert any(ex.expect == "undefined" for ex in ind.examples), ind.code
    assert {c for c, i in CATALOG.indicators.items() if i.formula.kind == "value"} == {"YG04", "YG13", "YG14"}
    assert {c for c, i in CATALOG.indicators.items() if i.level == "lead"} == {"YG10", "YG11"}
    assert CATALOG.indicators["YG03"].missing_member == "missing"     # member terms over a county denominator
    assert "不含牵头医院" in CATALOG.indicators["YG09"].note_zh          # JX-YB01 carries no essential-drug amount
    assert CATALOG.indicators["YG08"].direction == "down"


def test_aggregation_matches_the_field_catalogs() -> None:
    try:
        known = all_fields_by_code()
    except CatalogError as e:  # another engineer's field file mid-edit: the engine does not depend on it
        pytest.skip(str(e))
    present = {f: known[f].aggregation for f in AGG if f in known}
    if not any(f.startswith(("jc_", "xy_")) for f in present):
        pytest.skip("fields_grassroots.yaml / fields_county.yaml not there yet")
    assert present == {f: AGG[f] for f in present}


def test_org_kinds_match_the_registry() -> None:
    from warehouse.registry import ORG_KINDS as REGISTRY_KINDS
    assert ORG_KINDS == REGISTRY_KINDS


def test_as_indicator_for_scoring() -> None:
    ind = CATALOG.indicators["YG10"].as_indicator()
    f = ind.calibre().formula
    assert (ind.code, ind.unit, ind.direction, ind.decimals) == ("YG10", "%", "up", 2)
    assert (f.kind, f.numerator, f.denominator, f.scale) == \
        ("ratio", ("discharges_grade3", "discharges_grade4"), ("discharges_surgery",), Decimal(100))


# ---------------------------------------------------------------------------------------------- strict loader

_TEXT = ALLIANCE_CATALOG.read_text(encoding="utf-8")


@pytest.mark.parametrize("old, new, key", [
    ("missing_member: exclude\nindicators:", "missing_member: exclude\nowner: x\nindicators:", "owner"),
    ("missing_member: exclude\nindicators:", "missing_member: skip\nindicators:", "missing_member"),
    ("    level: county\n", "    level: county\n    weight: 3\n", "weight"),
    ("    level: lead\n", "    level: hospital\n", "level"),
    ('    unit: "%"\n', '    unit: "‰"\n', "unit"),
    ("    direction: down\n", "    direction: monitor\n", "direction"),
    ("{field: xy_res_visits_in, from: county}]", "{field: xy_res_visits_in, from: county, sign: -1}]", "sign"),
    ("{field: xy_res_adm_in, from: county}]", "{field: xy_res_adm_in, from: counties}]", "from"),
    ("{field: xy_fund_grassroots, from: county}", "{field: jc_drug_revenue, from: county}", "xy_"),
    ("{field: jc_referral_down, from: members}]\n    examples", "{field: xy_remote_diagnosis, from: members}]\n"
     "    examples", "xy_"),
    ("      kind: value\n      numerator: [{field: xy_remote_diagnosis, from: county}]",
     "      kind: value\n      numerator: [{field: xy_remote_diagnosis, from: county}]\n"
     "      denominator: [{field: xy_remote_diagnosis, from: county}]", "denominator"),
    ("      kind: value\n", "      kind: sum\n", "kind"),
    ("    decimals: 0\n", "    decimals: 6\n", "decimals"),
    ("    missing_member: missing\n", "", "missing_member"),             # YG03 mixes member and county terms
    ("      - given: {county: {xy_res_adm_in: 1840, xy_res_adm_out: 160}}\n",
     "      - given: {county: {xy_res_adm_in: 1840, xy_res_adm_out: 160}}\n        note: x\n", "note"),
    ("      - given: {county: {xy_res_adm_in: 1840, xy_res_adm_out: 160}}\n",
     "      - given: {county: {xy_res_adm_in: 1840, xy_res_adm_out: 160}, hospital: {}}\n", "hospital"),
    ("        expect: 92.00\n", "        expect: ok\n", "expect"),
    ("  - code: YG02\n", "  - code: YG01\n", "code"),
])
def test_loader_rejects_naming_file_and_key(tmp_path: Path, old: str, new: str, key: str) -> None:
    assert _TEXT.count(old) >= 1, old
    p = tmp_path / "bad_alliance.yaml"
    p.write_text(_TEXT.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(CatalogError) as e:
        load_alliance_indicators(p)
    assert str(p) in str(e.value) and key in str(e.value)


def test_loader_names_the_indicator_and_term(tmp_path: Path) -> None:
    p = tmp_path / "bad_alliance.yaml"
    p.write_text(_TEXT.replace("{field: discharges_grade4, from: lead}", "{field: discharges_grade4, form: lead}"),
                 encoding="utf-8")
    with pytest.raises(CatalogError) as e:
        load_alliance_indicators(p)
    assert f"{p}: indicators[9] (YG10).formula.numerator[1]" in str(e.value) and "form" in str(e.value)
