"""The `method:` loader: the example scheme 2026_std loads as documented; every malformed key is rejected with
the file and the key path in the message."""
from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest
import yaml

from metrics.catalog import CatalogError
from metrics.grading import load_method
from metrics.scoring import SCHEMES_DIR, load_scheme
from test_grading_support import BASE, method

STD = SCHEMES_DIR / "2026_std.yaml"


def test_example_scheme_2026_std():
    m = load_method(STD)
    assert (m.version, m.peer_groups) == ("2026_std", ("三级综合", "三级专科", "二级综合", "二级专科", "三级中医类",
                                                       "二级中医类"))
    assert [(g.name, g.weight) for g in m.groups.items] == [("运营与药品", 60), ("合理用药", 30), ("满意度", 10)]
    s = m.standardise
    assert (s.method, s.within, s.sd, s.winsorise.method, s.winsorise.lower, s.winsorise.upper,
            s.winsorise.percentile_method) == ("z", "peer_group", "population", "percentile", D("0.01"), D("0.99"),
                                               "linear")
    assert (m.eligibility.min_groups, m.eligibility.min_indicators) == (2, 3)
    g = m.grading
    assert (g.method, g.k, g.labels, g.tie) == ("kmeans", 4, ("优秀", "良好", "合格", "不合格"), "lower")
    assert [(v.code, v.event, v.cap_grade) for v in m.veto] == [("V01", "major_safety_incident", "不合格")]
    # the same indicators, sections and weights as the first slice's scheme
    first = load_scheme("2026")
    for peer, items in first.groups.items():
        scored = {i.indicator: (i.section, i.weight) for i in items if i.rule.kind != "monitor"}
        monitored = {i.indicator for i in items if i.rule.kind == "monitor"}
        mine = {it.indicator: it for it in m.items if it.mode(peer) is not None}
        assert set(mine) == set(scored) | monitored, peer
        assert {c: (it.group, it.weight_for(peer)) for c, it in mine.items() if it.mode(peer) == "scored"} == \
            scored, peer
        assert {c for c, it in mine.items() if it.mode(peer) == "monitor"} == monitored, peer


def _write(tmp_path: Path, doc: dict) -> Path:
    p = tmp_path / "scheme.yaml"
    p.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return p


def _std_doc() -> dict:
    return yaml.safe_load(STD.read_text(encoding="utf-8"))


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.update(extra=1), "unknown key(s) ['extra']"),
    (lambda d: d["method"].update(standardize={}), "method: unknown key(s) ['standardize']"),
    (lambda d: d["method"]["standardise"].update(methd="z"), "method.standardise: unknown key(s) ['methd']"),
    (lambda d: d["method"]["standardise"]["winsorise"].update(k=3), "method.standardise.winsorise: unknown key"),
    (lambda d: d["method"]["indicators"][3].update(wieght=2), "method.indicators[3]: unknown key(s) ['wieght']"),
    (lambda d: d["method"]["indicators"][0]["orient"].update(deduct=1), "method.indicators[0].orient: unknown key"),
    (lambda d: d["method"]["indicators"][0].update(indicator="ZZ99"), "method.indicators[0].indicator: unknown"),
    (lambda d: d["method"]["indicators"][0].update(group="其他"), "method.indicators[0].group: must be one of"),
    (lambda d: d["method"]["groups"]["list"][2].update(weight=20), "weights add up to 110, not weights_sum 100"),
    (lambda d: d["method"]["grading"].update(cap={}), "method.grading: unknown key(s) ['cap']"),
    (lambda d: d["method"]["grading"].update(labels=["优秀", "良好"]), "method.grading.labels: give exactly k = 4"),
    (lambda d: d["method"]["veto"]["items"][0].update(cap_grade="差"), "method.veto.items[0].cap_grade: must be"),
    (lambda d: d["method"]["ties"]["breakers"][0].update(group="其他"), "method.ties.breakers[0].group: must be"),
    (lambda d: d["method"].update(peer_groups=["三级综合", "外星医院"]), "method.peer_groups[1]: unknown '外星医院'"),
    (lambda d: d["method"]["eligibility"].update(min_groups=4), "method.eligibility.min_groups: only 3 groups"),
])
def test_unknown_or_bad_keys_name_the_file_and_key(tmp_path, edit, message):
    doc = _std_doc()
    edit(doc)
    p = _write(tmp_path, doc)
    with pytest.raises(CatalogError) as e:
        load_method(p)
    assert str(e.value).startswith(str(p)) and message in str(e.value), str(e.value)


@pytest.mark.parametrize("over, message", [
    ({"standardise": {"method": "percentile_rank", "winsorise": {"method": "sd", "k": 3}}},
     "percentile ranks need no capping"),
    ({"standardise": {"sd": "sample", "min_n": 1}}, "a sample SD needs min_n ≥ 2"),
    ({"standardise": {"winsorise": {"method": "percentile", "lower": 0.9, "upper": 0.1}}}, "lower must be below"),
    ({"indicators": [{"indicator": "B1", "group": "G1"}]}, "B1 has direction 'band'; state orient explicitly"),
    ({"indicators": [{"indicator": "M1", "group": "G1", "score": "improvement"}]}, "a monitor item is not scored"),
    ({"indicators": [{"indicator": "U1", "group": "G1"}, {"indicator": "U1", "group": "G1"}]}, "listed twice"),
    ({"grading": {"method": "quota", "bands": [{"grade": "A", "upto": 0.5}]}}, "the last band must end at 1"),
    ({"grading": {"method": "kmeans", "k": 3, "labels": ["a", "b", "c"], "min_group_size": 2}},
     "min_group_size: must be at least k = 3"),
    ({"grading": {"method": "bands", "within": ["tier"], "bands": [{"grade": "A", "min": 0}]}},
     "grading.within[0]: unknown 'tier'"),
    ({"grading": {"method": "bands", "within": ["groups_reported"], "bands": [{"grade": "A", "min": 0}]}},
     "groups_reported needs an eligibility block"),
    ({"veto": {"items": [{"code": "V1", "name_zh": "x", "cap_grade": "B", "indicator": "U1"}]}},
     "give exactly one of below or above"),
    ({"bonus": {"items": [{"code": "B1", "name_zh": "x", "event": "e", "points": -1}]}}, "must be positive"),
])
def test_inconsistent_methods_are_rejected(over, message):
    with pytest.raises(CatalogError) as e:
        method(**over)
    assert message in str(e.value) and str(e.value).startswith("test.yaml: method"), str(e.value)


def test_defaults_are_stated():
    m = method()
    assert (m.precision.stat, m.precision.standardised, m.precision.group, m.precision.composite) == (6, 4, 4, 4)
    assert (m.standardise.sd, m.standardise.percentile_rank, m.standardise.winsorise) == ("population", "midrank",
                                                                                          None)
    assert (m.improvement.max_points, m.improvement.threshold_percentile, m.improvement.benchmark_top_share,
            m.improvement.combine) == (10, D("0.5"), D("0.1"), "better")
    assert m.ties == () and m.grading.within == ("peer_group",)
    assert BASE["precision"]["composite"] == 4
