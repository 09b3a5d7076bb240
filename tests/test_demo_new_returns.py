"""Demo region, alliance and satisfaction returns: JX-JC01 per centre, JX-XY01 per county, JX-MY01 surveys,
JX-MY02 platform summaries — present where expected, consistent, and read back by the real reader as written."""
from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

from templates_xlsx import demo
from templates_xlsx.demo import COUNTIES, STEMS, DemoRegion, generate_region
from templates_xlsx.demo_sat import REVERSE
from templates_xlsx.read import read_return
from warehouse.db import connect
from warehouse.registry import facilities_for_period, import_registry

PERIOD = "2026-10"
MONTHS = ["2026-07", "2026-08", "2026-09", "2026-10"]
QUARTER = MONTHS[1:]
MIN_VALID = 100
MAX_BLANK_SHARE = 0.2
QUESTIONNAIRES = Path(__file__).resolve().parents[1] / "metrics" / "satisfaction" / "data" / "questionnaires.yaml"
TEMPLATE_OF = {stem: tid for tid, stem in STEMS.items()}
TEN = {"op": "q11", "ip": "q13"}  # the 0–10 item of each questionnaire (staff has none)


@pytest.fixture(scope="module")
def spied(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoRegion, dict[str, dict[str, Any]]]:
    """A small region generated with fill_bytes watched: sha256 of each filled file → what was written."""
    written: dict[str, dict[str, Any]] = {}
    real = demo.fill_bytes

    def spy(template: Path, **kw: Any) -> bytes:
        data = real(template, **kw)
        written[hashlib.sha256(data).hexdigest()] = kw
        return data

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(demo, "fill_bytes", spy)
        region = generate_region(tmp_path_factory.mktemp("new"), facilities=12, period=PERIOD, seed=7, months=4)
    return region, written


@pytest.fixture(scope="module")
def region(spied: tuple[DemoRegion, dict]) -> DemoRegion:
    return spied[0]


@pytest.fixture(scope="module")
def registry(region: DemoRegion, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    con = connect(tmp_path_factory.mktemp("w") / "w.duckdb")
    imp = import_registry(con, region.registry_path)
    assert imp.findings == []
    out = {m: facilities_for_period(con, m) for m in MONTHS}
    con.close()
    return out


def _template(path: Path) -> str:
    """The template a demo file belongs to, from its name (operations returns have no suffix)."""
    return TEMPLATE_OF.get(path.stem.rsplit("_", 1)[-1], "other")


def _files(region: DemoRegion, month: str, template_id: str) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for p in (region.inbox_dir / month).iterdir():
        if _template(p) == template_id:
            fid = p.name.split("_")[0]
            assert fid not in out, (month, template_id, fid)  # one return per unit and month
            out[fid] = p
    return out


@pytest.fixture(scope="module")
def parsed(region: DemoRegion) -> dict[str, Any]:
    """Every file of the new templates, read by the real reader: rel → ParsedReturn."""
    out = {}
    for p in region.files:
        if _template(p) in STEMS:
            rel = p.relative_to(region.inbox_dir).as_posix()
            out[rel] = read_return(p, p.name)
    return out


def _ops_visits(region: DemoRegion, month: str) -> dict[str, float]:
    """oe_visits of each hospital's (first) operations return of the month."""
    out = {}
    for p in (region.inbox_dir / month).iterdir():
        if re.fullmatch(r"[A-Z0-9]+_.+_\d{6}", p.stem):
            out[p.name.split("_")[0]] = read_return(p, p.name).value_map()["oe_visits"]
    return out


def test_registry_lists_the_four_county_bureaus(registry: dict[str, list[dict]]) -> None:
    units = sorted((f["facility_id"], f["name"], f["tier"], f["ftype"], f["county"])
                   for f in registry[PERIOD] if f["tier"] == "区县")
    assert units == sorted((code, f"{c}卫生健康局", "区县", "卫生健康行政部门", c) for c, code in COUNTIES)


def test_every_centre_files_a_grassroots_return_each_month(region: DemoRegion, registry: dict, parsed: dict
                                                           ) -> None:
    wrong = {m["file"] for m in region.mistakes}
    for month in MONTHS:
        centres = {f["facility_id"] for f in registry[month] if f["ftype"] in ("乡镇卫生院", "社区卫生服务中心")}
        files = _files(region, month, "JX-JC01")
        assert centres and set(files) == centres, month
        for fid, path in files.items():
            rel = f"{month}/{path.name}"
            if rel in wrong:
                continue
            v = parsed[rel].value_map()
            assert 2_000 <= v["jc_oe_visits"] <= 9_000
            assert 40 <= v["jc_med_revenue"] <= 200
            assert 0.40 <= v["jc_drug_revenue"] / v["jc_med_revenue"] <= 0.60
            assert 0.70 <= v["jc_essential_drug_revenue"] / v["jc_drug_revenue"] <= 0.95
            assert 20 <= v["jc_referral_up"] <= 120 and 5 <= v["jc_referral_down"] <= 50
    target = [m for m in region.mistakes if m["template_id"] == "JX-JC01"]
    assert {m["kind"] for m in target} == {"part-exceeds-total", "required-blank"}
    assert all(m["month"] == PERIOD for m in target)
    for m in target:
        v = parsed[m["file"]].value_map()
        assert v[m["field"]] == m["value"]
        if m["kind"] == "part-exceeds-total":
            assert v["jc_essential_drug_revenue"] > v["jc_drug_revenue"]


def test_county_returns_cover_their_members(region: DemoRegion, registry: dict, parsed: dict) -> None:
    shares: dict[str, list[float]] = defaultdict(list)
    for month in MONTHS:
        files = _files(region, month, "JX-XY01")
        assert set(files) == {code for _, code in COUNTIES}, month
        county_of = {f["facility_id"]: f["county"] for f in registry[month]}
        members: dict[str, float] = defaultdict(float)
        for fid, visits in _ops_visits(region, month).items():
            members[county_of[fid]] += visits
        for fid, p in _files(region, month, "JX-JC01").items():
            members[county_of[fid]] += parsed[f"{month}/{p.name}"].value_map()["jc_oe_visits"]
        for county, code in COUNTIES:
            v = parsed[f"{month}/{files[code].name}"].value_map()
            assert parsed[f"{month}/{files[code].name}"].header["facility_code"] == code
            assert members[county] > 0
            assert v["xy_visits_total"] >= members[county] + v["xy_visits_nonmember_grassroots"]
            assert 0.20 <= v["xy_visits_nonmember_grassroots"] / v["xy_visits_total"] <= 0.40
            assert 0.85 <= v["xy_res_visits_in"] / (v["xy_res_visits_in"] + v["xy_res_visits_out"]) <= 0.95
            assert 0.80 <= v["xy_res_adm_in"] / (v["xy_res_adm_in"] + v["xy_res_adm_out"]) <= 0.92
            assert 0.10 <= v["xy_fund_grassroots"] / v["xy_fund_in_county"] <= 0.25
            assert 15_000 <= v["xy_chronic_registered"] <= 40_000
            assert 0.55 <= v["xy_chronic_managed"] / v["xy_chronic_registered"] <= 0.85
            assert 200 <= v["xy_remote_diagnosis"] <= 2_000 and 3 <= v["xy_senior_posted"] <= 25
            shares[code].append(v["xy_res_visits_in"] / (v["xy_res_visits_in"] + v["xy_res_visits_out"]))
    # the counties differ: no two share a level
    means = sorted(sum(s) / len(s) for s in shares.values())
    assert all(b - a > 0.002 for a, b in zip(means, means[1:]))


def _valid_counts(region: DemoRegion, parsed: dict, *, strict: bool) -> dict[str, dict[str, int]]:
    """Valid questionnaires per hospital and survey type over the rolling quarter ending at PERIOD.

    Incomplete questionnaires (more than 20 % of items blank) never count; `strict` also drops straight-liners
    and repeated 问卷编号.
    """
    out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for month in QUARTER:
        for fid, p in _files(region, month, "JX-MY01").items():
            for table, rows in parsed[f"{month}/{p.name}"].tables.items():
                seen = set()
                for row in rows:
                    v = row.value_map()
                    items = [v[k] for k in v if re.fullmatch(r"q\d\d", k)]
                    answered = [x for x in items if x is not None]
                    if len(items) - len(answered) > MAX_BLANK_SHARE * len(items):
                        continue
                    likert = {v[k] for k in v if re.fullmatch(r"q\d\d", k) and k != TEN.get(table)}
                    if strict and (len(likert) == 1 or v["respondent_id"] in seen):
                        continue
                    seen.add(v["respondent_id"])
                    out[fid][table] += 1
    return out


def test_every_hospital_files_surveys_for_the_survey_months(region: DemoRegion, registry: dict) -> None:
    for month in MONTHS:
        ops = {f["facility_id"] for f in registry[month] if f["tier"] in ("三级", "二级")}
        assert set(_files(region, month, "JX-MY01")) == ops, month


def test_exactly_one_hospital_below_the_minimum_sample(region: DemoRegion, parsed: dict) -> None:
    loose = _valid_counts(region, parsed, strict=False)
    strict = _valid_counts(region, parsed, strict=True)
    small = [fid for fid, by in loose.items() if any(by[t] < MIN_VALID for t in ("op", "ip", "staff"))]
    assert len(small) == 1
    assert all(by[t] < MIN_VALID for by in [loose[small[0]]] for t in ("op", "ip", "staff"))
    # the sprinkled issues never push anyone else below the minimum, whatever the exclusion policy
    assert [fid for fid, by in strict.items() if any(by[t] < MIN_VALID for t in ("op", "ip", "staff"))] == small


def test_survey_rows_are_realistic(region: DemoRegion, parsed: dict) -> None:
    modes: dict[str, int] = defaultdict(int)
    happy, unhappy = [], []
    ids: dict[str, list[str]] = defaultdict(list)
    for rel, ret in parsed.items():
        if ret.template_id != "JX-MY01":
            continue
        month = rel[:7]
        for table, rows in ret.tables.items():
            assert 15 <= len(rows) <= 70, (rel, table)
            for row in rows:
                v = row.value_map()
                assert v["survey_date"][:7] == month
                modes[v["mode"]] += 1
                ids[table].append(v["respondent_id"])
                likert = {k: x for k, x in v.items() if re.fullmatch(r"q\d\d", k) and x is not None
                          and k != TEN.get(table)}
                rev = [x for k, x in likert.items() if k in REVERSE[table]]
                fwd = [x for k, x in likert.items() if k not in REVERSE[table]]
                if len(fwd) >= 8 and len(set(fwd)) > 1 and rev:
                    mean = sum(fwd) / len(fwd)
                    (happy if mean >= 4.3 else unhappy if mean <= 3.3 else []).append(rev[0])
    assert modes["现场"] > modes["电话"] + modes["网络"] and set(modes) == {"现场", "电话", "网络"}
    # reverse-coded items are answered low by satisfied respondents
    assert happy and unhappy and sum(happy) / len(happy) + 1 < sum(unhappy) / len(unhappy)
    assert all(re.fullmatch(r"YG\d{6}-\d{4}", i) for i in ids["staff"])  # survey numbers, never names
    dup = [m for m in region.mistakes if m["kind"] == "duplicate-id"]
    assert len(dup) == 1 and dup[0]["month"] == PERIOD and dup[0]["template_id"] == "JX-MY01"
    rows = parsed[dup[0]["file"]].tables["op"]
    numbers = [r.value_map()["respondent_id"] for r in rows]
    assert numbers.count(dup[0]["value"]) == 2
    assert any(r.cell("respondent_id").cell == dup[0]["cell"] for r in rows)
    kinds = {i["kind"] for i in region.survey_issues}
    assert kinds <= {"incomplete", "straight-line"} and "incomplete" in kinds


def test_platform_summaries_for_a_few_hospitals(region: DemoRegion, parsed: dict) -> None:
    by_fid: dict[str, dict[str, dict]] = defaultdict(dict)
    for month in MONTHS:
        for fid, p in _files(region, month, "JX-MY02").items():
            assert month in (MONTHS[-2], PERIOD)
            by_fid[fid][month] = parsed[f"{month}/{p.name}"].value_map()
    assert 3 <= len(by_fid) <= 4
    surveyed = set(_files(region, PERIOD, "JX-MY01"))
    low = [fid for fid, m in by_fid.items() if m[PERIOD]["sat_plat_op_n"] < 100]
    assert len(low) == 1
    both = [fid for fid in by_fid if fid not in low and fid in surveyed]
    assert len(both) >= 2
    for fid, months in by_fid.items():
        assert set(months) == {MONTHS[-2], PERIOD}
        for v in months.values():
            for s in ("op", "ip", "staff"):
                assert 60 <= v[f"sat_plat_{s}_score"] <= 100 and round(v[f"sat_plat_{s}_score"], 2) == \
                    v[f"sat_plat_{s}_score"]
                assert (v[f"sat_plat_{s}_n"] < 100) == (fid in low)


def _as_read(v: Any) -> Any:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, dt.date):
        return v.isoformat()
    return v


def test_new_files_read_back_as_written(spied: tuple[DemoRegion, dict], parsed: dict) -> None:
    region, written = spied
    wrong = {m["file"] for m in region.mistakes}
    for rel, ret in parsed.items():
        kw = written[hashlib.sha256((region.inbox_dir / rel).read_bytes()).hexdigest()]
        assert ret.template_id == TEMPLATE_OF[rel.rsplit("_", 1)[-1].removesuffix(".xlsx")]
        assert ret.header["facility_code"] == kw["facility_code"] == rel.split("/")[1].split("_")[0]
        assert ret.header["period"] == rel[:7] and ret.header["facility_name"] == kw["facility_name"]
        if rel not in wrong:
            assert ret.findings == [], (rel, ret.findings)
        got = ret.value_map()
        assert {k: got[k] for k in kw["values"]} == {k: _as_read(x) for k, x in kw["values"].items()}, rel
        assert sorted(ret.tables) == sorted(kw.get("tables") or {}), rel
        for name, rows in (kw.get("tables") or {}).items():
            back = [r.value_map() for r in ret.tables[name]]
            assert back == [{k: _as_read(x) for k, x in r.items()} for r in rows], (rel, name)


def test_exact_sample_size_override(tmp_path: Path) -> None:
    region = generate_region(tmp_path / "bench", facilities=6, period=PERIOD, seed=3, months=1,
                             sat_sizes={"questionnaires": 30})
    files = _files(region, PERIOD, "JX-MY01")
    assert files
    for p in files.values():
        ret = read_return(p, p.name)
        assert {k: len(v) for k, v in ret.tables.items()} == {"op": 30, "ip": 30, "staff": 30}
    with pytest.raises(ValueError, match="sat_sizes"):
        generate_region(tmp_path / "bad", facilities=6, months=1, sat_sizes={"rows": 3})


@pytest.mark.skipif(not QUESTIONNAIRES.exists(), reason="questionnaires not published yet")
def test_reverse_items_match_the_questionnaires() -> None:
    doc = yaml.safe_load(QUESTIONNAIRES.read_text(encoding="utf-8"))
    got = {s["code"]: frozenset(i["code"] for i in s["items"] if i["reverse"]) for s in doc["surveys"]}
    assert got == REVERSE
