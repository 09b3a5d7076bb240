"""Alliance scheme alliance_2026.yaml: loads through metrics.scoring and scores alliances by org kind."""
from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest

from metrics.alliance import AllianceValue, compute_alliances, load_alliance_indicators, score_alliances
from metrics.catalog import CatalogError
from metrics.scoring import SCHEMES_DIR, load_scheme
from test_alliance_catalog import AGG
from test_alliance_compute import MEMBERSHIPS, Q3, VALUES

SCHEME = load_scheme("alliance_2026")
CATALOG = load_alliance_indicators()

# Values every alliance shares, each at or beyond its full-points anchor, so a composite is 100 minus what YG01
# and YG05 lose (monitor items YG04, YG13, YG14 carry no points).
FULL = {"YG02": "95.00", "YG03": "70.00", "YG04": "40", "YG06": "90.00", "YG07": "35.00", "YG08": "28.00",
        "YG09": "92.00", "YG10": "45.00", "YG11": "36.00", "YG12": "75.00", "YG13": "1000", "YG14": "11"}


def _values(org: str, yg01: str, yg05: str, **override: str | None) -> list[AllianceValue]:
    out = []
    for code, v in {**FULL, "YG01": yg01, "YG05": yg05, **override}.items():
        if v is None:   # a zero denominator
            out.append(AllianceValue(org, code, D(0), D(0), None, "undefined", "分母为0"))
        else:
            out.append(AllianceValue(org, code, D(v), D(1), D(v), "ok"))
    return out


def test_scheme_loads_from_the_alliance_catalog() -> None:
    assert SCHEME.version == "alliance_2026"
    assert list(SCHEME.groups) == ["医共体"]
    items = SCHEME.groups["医共体"]
    assert sorted(i.indicator for i in items) == sorted(CATALOG.indicators)
    assert sum(i.weight for i in items) == D(100)
    assert {i.indicator for i in items if i.rule.kind == "monitor"} == {"YG04", "YG13", "YG14"}
    yg08 = next(i for i in items if i.indicator == "YG08")
    assert (yg08.direction, yg08.name_zh, yg08.unit, yg08.section) == ("down", "医共体药占比", "%", "资源利用")
    assert {i.section for i in items} == {"有序就医", "服务能力", "资源利用", "医保效能"}


def test_four_alliances_scored_by_hand() -> None:
    values = (_values("YGT01", "92.00", "30.00") + _values("YGT02", "88.50", "25.00")
              + _values("YGT03", "85.25", "25.00") + _values("YGT04", "70.00", "10.00", YG12=None))
    rows, comps = score_alliances(values, ["YGT01", "YGT02", "YGT03", "YGT04"], SCHEME)
    pts = {(r.facility_id, r.indicator): r.points for r in rows}
    # YG01 floor 90, 1 point per percentage point below, weight 12:
    #   92.00 → 12;  88.50 → 12 − 1.5 = 10.5;  85.25 → 12 − 4.75 = 7.25;  70.00 → 12 − 20 < 0 → 0
    assert [pts[(o, "YG01")] for o in ("YGT01", "YGT02", "YGT03", "YGT04")] == \
        [D("12.0000"), D("10.5000"), D("7.2500"), D("0.0000")]
    # YG05 percentile, weight 10, n = 4 (n − 1 = 3), direction up:
    #   30 beats 3 → 10 × 3/3 = 10;  25 beats 1 (10) and ties 1 → 10 × (1 + 0.5)/3 = 5;  the other 25 → 5;  10 → 0
    assert [pts[(o, "YG05")] for o in ("YGT01", "YGT02", "YGT03", "YGT04")] == \
        [D("10.0000"), D("5.0000"), D("5.0000"), D("0.0000")]
    by = {c.facility_id: c for c in comps}
    # the other scored indicators give their full 78 points:
    #   YGT01 78 + 12 + 10 = 100.00;  YGT02 78 + 10.5 + 5 = 93.50;  YGT03 78 + 7.25 + 5 = 90.25;
    #   YGT04: YG12 (10 points) undefined → redistributed: 100 × (68 + 0 + 0) / 90 = 75.555… → 75.56
    assert [by[o].composite for o in ("YGT01", "YGT02", "YGT03", "YGT04")] == \
        [D("100.00"), D("93.50"), D("90.25"), D("75.56")]
    assert [by[o].rank for o in ("YGT01", "YGT02", "YGT03", "YGT04")] == [1, 2, 3, 4]
    # bands 优秀 ≥ 90 for three, but the quota keeps floor(4 × 0.2) = 0 → at least 1 优秀; 75.56 合格
    assert [by[o].grade for o in ("YGT01", "YGT02", "YGT03", "YGT04")] == ["优秀", "良好", "良好", "合格"]
    assert {c.peer_group for c in comps} == {"医共体"} and {c.quota_grade for c in comps} == {"组内样本不足"}
    assert "YG12 慢病基层管理率（不适用（分母为0））" in (by["YGT04"].reason or "")
    monitor = [r for r in rows if r.facility_id == "YGT01" and r.indicator == "YG04"]
    assert monitor[0].status == "monitor" and monitor[0].points is None


def test_computed_alliance_scores_end_to_end() -> None:
    values, _ = compute_alliances(VALUES, AGG, MEMBERSHIPS, {"YGT01": "XY01"}, Q3, CATALOG)
    rows, [comp] = score_alliances(values, ["YGT01"], SCHEME)
    pts = {r.indicator: r.points for r in rows}
    # YG01 88.89 (test_alliance_compute): 12 − 1 × (90 − 88.89) = 10.89
    # YG08 31.27: ceiling 30, 0.5 per point above, weight 6: 6 − 0.5 × 1.27 = 5.365
    assert (pts["YG01"], pts["YG08"]) == (D("10.8900"), D("5.3650"))
    assert comp.facility_id == "YGT01" and comp.status == "scored" and comp.rank == 1
    with pytest.raises(ValueError, match="专科联盟"):
        score_alliances(values, ["YGT01"], SCHEME, org_kind="专科联盟")


# ---------------------------------------------------------------------------------------------- scheme loader

_TEXT = (SCHEMES_DIR / "alliance_2026.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize("old, new, key", [
    ("\nindicator_catalog: alliance_indicators.yaml\n", "\nindicator_catalog: a.yaml\n", "indicator_catalog"),
    ("\npeer_groups_from: org_kinds\n", "\npeer_groups_from: registry\n", "peer_groups_from"),
    ("  医共体:\n", "  三级综合:\n", "peer_groups.三级综合"),                       # not an org kind
    ("{indicator: YG07, weight: 8,", "{indicator: YP01, weight: 8,", "indicator"),   # a hospital indicator
    ("\npeer_groups_from: org_kinds\n", "\npeer_groups_from: org_kinds\nlevel: county\n", "level"),
])
def test_scheme_loader_rejects_naming_file_and_key(tmp_path: Path, old: str, new: str, key: str) -> None:
    assert old in _TEXT
    p = tmp_path / "bad_alliance_scheme.yaml"
    p.write_text(_TEXT.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(CatalogError) as e:
        load_scheme(path=p)
    assert str(p) in str(e.value) and key in str(e.value)


def test_hospital_scheme_cannot_name_alliance_indicators(tmp_path: Path) -> None:
    # without the two keys a scheme reads indicators.yaml and peer_groups.yaml, as before
    p = tmp_path / "mixed.yaml"
    p.write_text(_TEXT.replace("\nindicator_catalog: alliance_indicators.yaml\n", "\n"), encoding="utf-8")
    with pytest.raises(CatalogError, match="unknown indicator 'YG01'"):
        load_scheme(path=p)
    p.write_text(_TEXT.replace("\npeer_groups_from: org_kinds\n", "\n"), encoding="utf-8")
    with pytest.raises(CatalogError, match=r"peer_groups\.医共体: unknown peer group \(peer_groups.yaml has"):
        load_scheme(path=p)
