"""Satisfaction questionnaires and settings as data: the shipped files and the strict loaders."""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from metrics.catalog import CatalogError
from metrics.satisfaction.questionnaire import (QUESTIONNAIRES_FILE, SETTINGS_FILE, load_questionnaires,
                                                load_settings)

D = Decimal

# the codes the Excel template columns are built from: must never change silently
EXPECTED = {
    "op": ("门诊患者满意度调查",
           {"reg": "挂号体验", "comm": "医患沟通", "resp": "医务人员回应性", "priv": "隐私保护", "env": "环境与标识",
            "overall": "总体评价"},
           "reg reg comm comm resp resp priv env env env overall"),
    "ip": ("住院患者满意度调查",
           {"comm": "医患沟通", "resp": "医务人员回应性", "adm": "出入院手续和信息", "pain": "疼痛管理",
            "med": "用药沟通", "env": "环境与标识", "food": "饭菜", "family": "对亲友态度", "overall": "总体评价"},
           "comm comm resp resp adm adm pain med med env food family overall"),
    "staff": ("医务人员满意度调查",
              {"pay": "薪酬福利", "career": "发展晋升", "work": "工作内容与环境", "boss": "上下级关系",
               "peer": "同级关系"},
              "pay pay career career work work boss boss peer peer"),
}


def test_shipped_questionnaires_have_the_agreed_codes() -> None:
    qs = load_questionnaires()
    assert list(qs) == ["op", "ip", "staff"]
    for code, (name, dims, item_dims) in EXPECTED.items():
        q = qs[code]
        assert (q.code, q.name_zh, q.version) == (code, name, "2026.1")
        assert {d.code: d.name_zh for d in q.dimensions} == dims
        assert [i.dimension for i in q.items] == item_dims.split()
        assert [i.code for i in q.items] == [f"q{k:02d}" for k in range(1, len(q.items) + 1)]
        assert all(i.weight == 1 for i in q.items) and all(d.weight == 1 for d in q.dimensions)


def test_reverse_coded_and_ten_point_items() -> None:
    qs = load_questionnaires()
    reverse = {(c, i.code) for c, q in qs.items() for i in q.items if i.reverse}
    assert reverse == {("op", "q02"), ("ip", "q12"), ("staff", "q05")}
    ten = {(c, i.code) for c, q in qs.items() for i in q.items if i.scale == "scale10"}
    assert ten == {("op", "q11"), ("ip", "q13")}
    assert qs["op"].items[1].text_zh == "候诊时间过长"
    assert qs["ip"].items[11].text_zh == "对亲友态度冷淡"
    # (x − offset) × factor: 1–5 → (x − 1) × 25, 0–10 → x × 10
    sc = qs["op"].scales
    assert (sc["likert5"].min, sc["likert5"].max, sc["likert5"].offset, sc["likert5"].factor) == (1, 5, 1, 25)
    assert (sc["scale10"].min, sc["scale10"].max, sc["scale10"].offset, sc["scale10"].factor) == (0, 10, 0, 10)


def test_shipped_settings() -> None:
    s = load_settings()
    assert (s.window_months, s.min_valid, s.max_blank_share, s.ci_level) == (3, 100, D("0.2"), D("0.95"))
    assert (s.straight_line_min_items, s.straight_line_exclude) == (5, False)
    assert (s.precedence, s.shrinkage_enabled, s.shrinkage_prior_n) == ("platform", False, 50)
    assert (s.suppress_below, s.modes, s.decimals) == (5, ("现场", "电话", "网络"), 2)


def test_every_settings_key_carries_a_comment() -> None:
    lines = SETTINGS_FILE.read_text(encoding="utf-8").splitlines()
    keyed = [ln for ln in lines if ln and not ln.lstrip().startswith("#") and ":" in ln]
    assert len(keyed) == 14
    for ln in keyed:
        assert "#" in ln, ln


# --- strict YAML errors name the file and the key ------------------------------------------------------------------

def _questionnaires(tmp_path: Path, edit) -> Path:
    doc = yaml.safe_load(QUESTIONNAIRES_FILE.read_text(encoding="utf-8"))
    edit(doc)
    path = tmp_path / "bad_questionnaires.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def _settings(tmp_path: Path, edit) -> Path:
    doc = yaml.safe_load(SETTINGS_FILE.read_text(encoding="utf-8"))
    edit(doc)
    path = tmp_path / "bad_settings.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def _item(doc: dict, survey: int, item: int) -> dict:
    return doc["surveys"][survey]["items"][item]


QUESTIONNAIRE_ERRORS = [
    ("unknown top key", lambda d: d.update(comment="x"), ["unknown key", "comment"]),
    ("unknown item key", lambda d: _item(d, 0, 2).update(reversed=True), ["surveys[0].items[2]", "reversed"]),
    ("unknown dimension key", lambda d: d["surveys"][1]["dimensions"][0].update(name="x"),
     ["surveys[1].dimensions[0]", "name"]),
    ("unknown scale key", lambda d: d["scales"]["likert5"].update(step=1), ["scales.likert5", "step"]),
    ("missing reverse", lambda d: _item(d, 0, 0).pop("reverse"), ["surveys[0].items[0]", "missing", "reverse"]),
    ("unknown dimension", lambda d: _item(d, 2, 4).update(dimension="workload"),
     ["surveys[2].items[4].dimension", "workload"]),
    ("duplicate item code", lambda d: _item(d, 0, 3).update(code="q03"), ["surveys[0].items[3].code", "q03"]),
    ("duplicate dimension", lambda d: d["surveys"][0]["dimensions"][1].update(code="reg"),
     ["surveys[0].dimensions[1].code", "reg"]),
    ("duplicate survey", lambda d: d["surveys"][1].update(code="op"), ["surveys[1].code", "op"]),
    ("unknown scale", lambda d: _item(d, 0, 10).update(scale="nps"), ["surveys[0].items[10].scale", "nps"]),
    ("zero item weight", lambda d: _item(d, 1, 0).update(weight=0), ["surveys[1].items[0].weight", "> 0"]),
    ("negative dimension weight", lambda d: d["surveys"][2]["dimensions"][3].update(weight=-1),
     ["surveys[2].dimensions[3].weight", "> 0"]),
    ("reverse not bool", lambda d: _item(d, 0, 1).update(reverse="yes"), ["surveys[0].items[1].reverse"]),
    ("mapping not 0-100", lambda d: d["scales"]["likert5"].update(factor=20), ["scales.likert5.factor"]),
    ("dimension without items", lambda d: d["surveys"][0]["dimensions"].append({"code": "x", "name_zh": "某"}),
     ["surveys[0].dimensions[6]", "no items"]),
]


@pytest.mark.parametrize(("case", "edit", "expect"), QUESTIONNAIRE_ERRORS, ids=[c[0] for c in QUESTIONNAIRE_ERRORS])
def test_questionnaire_errors_name_file_and_key(tmp_path: Path, case: str, edit, expect: list[str]) -> None:
    path = _questionnaires(tmp_path, edit)
    with pytest.raises(CatalogError) as e:
        load_questionnaires(path)
    msg = str(e.value)
    assert str(path) in msg
    for part in expect:
        assert part in msg, (case, msg)


SETTINGS_ERRORS = [
    ("unknown top key", lambda d: d.update(min_sample=30), ["unknown key", "min_sample"]),
    ("unknown nested key", lambda d: d["straight_line"].update(max_items=9), ["straight_line", "max_items"]),
    ("unknown shrinkage key", lambda d: d["shrinkage"].update(k=5), ["shrinkage", "'k'"]),
    ("missing key", lambda d: d.pop("decimals"), ["missing", "decimals"]),
    ("bad precedence", lambda d: d.update(precedence="hospital"), ["precedence", "hospital"]),
    ("share out of range", lambda d: d.update(max_blank_share=1.5), ["max_blank_share"]),
    ("ci level out of range", lambda d: d.update(ci_level=95), ["ci_level"]),
    ("min_valid zero", lambda d: d.update(min_valid=0), ["min_valid"]),
    ("exclude not bool", lambda d: d["straight_line"].update(exclude="no"), ["straight_line.exclude"]),
    ("duplicate mode", lambda d: d.update(modes=["现场", "现场"]), ["modes", "duplicate"]),
]


@pytest.mark.parametrize(("case", "edit", "expect"), SETTINGS_ERRORS, ids=[c[0] for c in SETTINGS_ERRORS])
def test_settings_errors_name_file_and_key(tmp_path: Path, case: str, edit, expect: list[str]) -> None:
    path = _settings(tmp_path, edit)
    with pytest.raises(CatalogError) as e:
        load_settings(path)
    msg = str(e.value)
    assert str(path) in msg
    for part in expect:
        assert part in msg, (case, msg)


def test_weights_default_to_one(tmp_path: Path) -> None:
    def drop_weights(d: dict) -> None:
        for s in d["surveys"]:
            for x in s["dimensions"] + s["items"]:
                x.pop("weight")

    qs = load_questionnaires(_questionnaires(tmp_path, drop_weights))
    assert {i.weight for q in qs.values() for i in q.items} == {D(1)}
    assert {d.weight for q in qs.values() for d in q.dimensions} == {D(1)}
