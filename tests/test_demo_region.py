"""Demo region: byte-identical for a seed, a coherent registry/baseline/inbox, every mistake kind present."""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import os
import re
import time
from pathlib import Path

import pytest

from templates_xlsx.demo import MISTAKE_KINDS, STEMS, DemoRegion, generate_region
from templates_xlsx.read import read_return
from warehouse.baseline import import_baseline
from warehouse.db import connect
from warehouse.registry import facilities_for_period, import_registry, memberships_for_period

# The full-size region takes about a second; JIXIAO_SKIP_SLOW=1 skips it on very slow machines.
full_size = pytest.mark.skipif(os.environ.get("JIXIAO_SKIP_SLOW") == "1", reason="full-size demo region")

PERIOD = "2026-10"
MONTHS = [f"2025-{m:02d}" for m in (10, 11, 12)] + [f"2026-{m:02d}" for m in range(1, 11)]


def _is_ops_return(path: Path) -> bool:
    """An operations return (JX-YB01): no template suffix after the month, or a correction of one."""
    return re.fullmatch(r".+_\d{6}(_更正)?", path.stem) is not None


def _digests(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _manifest(region: DemoRegion) -> dict[str, str]:
    with region.manifest_path.open(encoding="utf-8", newline="") as fh:
        return {r["file"]: r["received_at"] for r in csv.DictReader(fh)}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> DemoRegion:
    return generate_region(tmp_path_factory.mktemp("small"), facilities=12, period=PERIOD, seed=7)


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoRegion, float]:
    t0 = time.perf_counter()
    region = generate_region(tmp_path_factory.mktemp("full"))
    return region, time.perf_counter() - t0


def test_same_seed_gives_identical_bytes(small: DemoRegion, tmp_path: Path) -> None:
    again = generate_region(tmp_path / "again", facilities=12, period=PERIOD, seed=7)
    root_a, root_b = small.registry_path.parent, again.registry_path.parent
    a, b = _digests(root_a), _digests(root_b)
    assert a == b
    assert "registry.xlsx" in a and "baseline.xlsx" in a and "inbox/manifest.csv" in a
    assert again.mistakes == small.mistakes
    other = _digests(generate_region(tmp_path / "other", facilities=12, period=PERIOD, seed=8).registry_path.parent)
    assert other["registry.xlsx"] != a["registry.xlsx"]


def test_small_region_layout(small: DemoRegion) -> None:
    inbox = small.inbox_dir
    assert sorted(p.name for p in inbox.iterdir() if p.is_dir()) == MONTHS
    manifest = _manifest(small)
    rels = [p.relative_to(inbox).as_posix() for p in small.files]
    assert rels == sorted(rels) == sorted(manifest)
    assert all(p.exists() for p in small.files)
    assert list(manifest) == sorted(manifest)
    for rel, received in manifest.items():
        month = rel.split("/")[0]
        got = dt.datetime.fromisoformat(received)
        assert (got.year * 12 + got.month) - (int(month[:4]) * 12 + int(month[5:])) == 1  # the next month
        assert dt.datetime.fromtimestamp((inbox / rel).stat().st_mtime) == got


def test_registry_and_baseline_import_cleanly(small: DemoRegion, tmp_path: Path) -> None:
    con = connect(tmp_path / "w.duckdb")
    imp = import_registry(con, small.registry_path)
    assert imp.findings == []
    n, findings = import_baseline(con, small.baseline_path)
    assert findings == [] and n > 0
    months = [r[0] for r in con.execute("SELECT DISTINCT period FROM baseline_values ORDER BY 1").fetchall()]
    assert months == [f"2024-{m:02d}" for m in (10, 11, 12)] + [f"2025-{m:02d}" for m in range(1, 10)]
    # every 三级/二级 facility active in a month filed a return for it
    for month in MONTHS:
        expected = {f["facility_id"] for f in facilities_for_period(con, month) if f["tier"] in ("三级", "二级")}
        filed = {p.name.split("_")[0] for p in (small.inbox_dir / month).iterdir() if _is_ops_return(p)}
        assert filed == expected, month
        # and every other unit in the registry (centres, county bureaus) files a return of its own
        everyone = {f["facility_id"] for f in facilities_for_period(con, month)}
        assert {p.name.split("_")[0] for p in (small.inbox_dir / month).iterdir()} == everyone, month
    assert {m["org_kind"] for m in memberships_for_period(con, PERIOD)} >= {"医共体"}


def _facility_rows(region: DemoRegion, tmp_path: Path) -> tuple[object, dict]:
    con = connect(tmp_path / "w.duckdb")
    import_registry(con, region.registry_path)
    return con, {f["facility_id"]: f for f in facilities_for_period(con, PERIOD)}


@full_size
def test_full_region_time_and_mistakes(full: tuple[DemoRegion, float]) -> None:
    region, seconds = full
    assert seconds < 20
    target = [m for m in region.mistakes if m["month"] == PERIOD and m["superseded_by"] is None]
    assert set(MISTAKE_KINDS) <= {m["kind"] for m in target}
    n_target = len(list((region.inbox_dir / PERIOD).iterdir()))
    assert len(target) <= max(len(MISTAKE_KINDS), round(0.1 * n_target))
    resubmitted = [m for m in region.mistakes if m["superseded_by"]]
    assert any(m["month"] == PERIOD for m in resubmitted)
    manifest = _manifest(region)
    received = [dt.datetime.fromisoformat(t) for f, t in manifest.items() if f.startswith(PERIOD)]
    assert any(t.day >= 10 for t in received) and sum(t.day < 10 for t in received) > 0.8 * len(received)
    for m in resubmitted:
        assert manifest[m["superseded_by"]] > manifest[m["file"]]


@full_size
def test_full_region_registry(full: tuple[DemoRegion, float], tmp_path: Path) -> None:
    region, _ = full
    con, facs = _facility_rows(region, tmp_path)
    tiers = [f["tier"] for f in facs.values()]
    assert 9 <= tiers.count("三级") <= 12 and 27 <= tiers.count("二级") <= 31 and tiers.count("基层") >= 15
    assert {f["peer_group"] for f in facs.values()} >= {"三级综合", "三级中医类", "三级专科", "二级综合", "基层"}
    # one upgrade 二级 → 三级 and one opening within the 13 return months
    history = con.execute("SELECT facility_id, tier, valid_from FROM facilities ORDER BY 1, 3").fetchall()
    by_id: dict[str, list] = {}
    for fid, tier, start in history:
        by_id.setdefault(fid, []).append((tier, start))
    assert any([t for t, _ in rows] == ["二级", "三级"] for rows in by_id.values())
    assert any(rows[0][1] > dt.date(2025, 10, 1) for rows in by_id.values())
    leads = con.execute("SELECT count(DISTINCT org_id) FROM memberships WHERE org_kind = '医共体' AND role = '牵头'")
    assert leads.fetchall() == [(4,)]


@full_size
def test_full_region_returns_read_back(full: tuple[DemoRegion, float], tmp_path: Path) -> None:
    region, _ = full
    _, facs = _facility_rows(region, tmp_path)
    by_file = {m["file"]: m for m in region.mistakes}
    formulas = 0
    new_returns = dict.fromkeys(STEMS, 0)
    for path in sorted((region.inbox_dir / PERIOD).iterdir()):
        rel = f"{PERIOD}/{path.name}"
        parsed = read_return(path, path.name)
        if parsed.template_id in ("JX-YB02", "JX-YB03"):  # rational prescribing: read cleanly, tables present
            assert not parsed.findings, (rel, parsed.findings)
            assert all(parsed.tables.values()), rel
            continue
        if parsed.template_id != "JX-YB01":  # alliance and satisfaction returns (tests/test_demo_new_returns.py)
            assert parsed.template_id in STEMS and path.stem.endswith(STEMS[parsed.template_id]), rel
            assert not parsed.findings, (rel, parsed.findings)
            assert all(parsed.tables.values()), rel
            new_returns[parsed.template_id] += 1
            continue
        v = parsed.value_map()
        mistake = by_file.get(rel)
        codes = {f.code for f in parsed.findings}
        if mistake is None:
            fid = path.name.split("_")[0]
            assert parsed.header["facility_code"] == fid
            assert parsed.header["period"] == PERIOD
            assert not codes, (rel, codes)
            assert round(v["op_drug_revenue"] + v["ip_drug_revenue"], 2) == v["drug_revenue"]
            assert round(v["op_revenue"] + v["ip_revenue"], 2) == v["med_revenue"]
            for part, total in (("op_drug_revenue", "op_revenue"), ("ip_drug_revenue", "ip_revenue"),
                                ("discharges_surgery", "discharges"), ("op_visits_essential", "oe_visits"),
                                ("discharges_grade4", "discharges_surgery"), ("vbp_volume", "vbp_generic_volume")):
                assert v[part] <= v[total], (rel, part)
            assert 0.20 <= v["drug_revenue"] / v["med_revenue"] <= 0.45
            svc = sum(v[k] for k in v if k.startswith("svc_"))
            assert 0.18 <= svc / v["med_revenue"] <= 0.37
            lo, hi = (15_000, 170_000) if facs[fid]["tier"] == "三级" else (2_500, 35_000)
            assert lo <= v["oe_visits"] <= hi, (rel, v["oe_visits"])
            formulas += "<f>" in _sheet_xml(path)
        elif mistake["kind"] == "text-in-number":
            assert "value-not-number" in codes
            assert v[mistake["field"]] is None
        elif mistake["kind"] == "required-blank":
            assert v[mistake["field"]] is None
        elif mistake["kind"] == "unknown-code":
            assert parsed.header["facility_code"] == mistake["value"] != mistake["facility_id"]
        elif mistake["kind"] == "wrong-period":
            assert parsed.header["period"] == "2026-09"
        elif mistake["kind"] == "yuan-not-wanyuan":
            assert v["med_revenue"] == pytest.approx(mistake["expected"] * 10_000)
        elif mistake["kind"] == "sum-mismatch":
            assert round(v["op_drug_revenue"] + v["ip_drug_revenue"], 2) != v["drug_revenue"]
    assert formulas >= 1  # formula cells read back as their cached numbers
    assert new_returns["JX-XY01"] == 4 and 3 <= new_returns["JX-MY02"] <= 4
    assert new_returns["JX-JC01"] >= 15 and new_returns["JX-MY01"] >= 35


def _sheet_xml(path: Path) -> str:
    import zipfile

    with zipfile.ZipFile(path) as z:
        return "".join(z.read(n).decode() for n in z.namelist() if n.startswith("xl/worksheets/sheet"))
