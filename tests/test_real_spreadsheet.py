"""Round trips through a real spreadsheet program (LibreOffice): what hospitals' software does to a return.

A filled return saved again as .xlsx keeps its defined names; saved as .xls or .ods it loses them and the reader
falls back to the template version's known cells. Either way every value reads back the same. Needs `soffice`
(`.ci/install-libreoffice`); CI sets JIXIAO_REQUIRE_SOFFICE=1 so a missing program fails instead of skipping.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from templates_xlsx.build import template_path
from templates_xlsx.fill import fill_return
from templates_xlsx.read import read_return

SOFFICE = shutil.which("soffice")
if not SOFFICE and os.environ.get("JIXIAO_REQUIRE_SOFFICE") == "1":
    raise RuntimeError("soffice is required (JIXIAO_REQUIRE_SOFFICE=1) but not installed")
pytestmark = pytest.mark.skipif(not SOFFICE, reason="LibreOffice (soffice) not installed: .ci/install-libreoffice")

VALUES = {"oe_visits": 52000, "discharges": 2100, "discharge_bed_days": 18900, "occupied_bed_days": 19500,
          "open_beds": 600, "health_tech_staff": 900, "med_revenue": 5123.45, "op_revenue": 1800.5,
          "op_drug_revenue": 700.25, "ip_revenue": 3200.75, "ip_drug_revenue": 900.1, "drug_revenue": 1600.35,
          "herbal_revenue": 100, "consumables_revenue": 800, "exam_lab_revenue": 900, "svc_registration": 10,
          "svc_bed": 50, "svc_consultation": 40, "svc_treatment": 300, "svc_surgery": 200, "svc_pharmacy": 0,
          "svc_nursing": 60, "op_visits_essential": 30000, "op_rx_total": 40000, "op_rx_essential": 25000,
          "vbp_volume": 80000, "vbp_generic_volume": 100000, "discharges_surgery": 700, "discharges_grade3": 300,
          "discharges_grade4": 100, "discharges_mis": 150}


def _convert(src: Path, fmt: str, out: Path, profile: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run([SOFFICE, "--headless", "--norestore", f"-env:UserInstallation=file://{profile}",
                    "--convert-to", fmt, "--outdir", str(out), str(src)],
                   check=True, capture_output=True, timeout=120)
    return out / f"{src.stem}.{fmt}"


@pytest.fixture(scope="module")
def filled(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lo")
    path = root / "return.xlsx"
    # med_revenue as a formula openpyxl-style (no cached value): LibreOffice recalculates and stores one
    fill_return(template_path(), path, facility_name="江州市第一人民医院", facility_code="JZ0001",
                period_text="2026年10月", values=VALUES, formulas={"med_revenue": ("=E13+E15+E19+E20+118.45", None)})
    return path


@pytest.mark.parametrize("fmt,addressing", [("xlsx", "names"), ("xls", "layout"), ("ods", "layout")])
def test_resaved_return_reads_the_same(filled, tmp_path, fmt, addressing):
    before = read_return(filled, "return.xlsx")
    assert [(f.cell, f.code) for f in before.findings] == [("E12", "formula-no-cached-value")]
    converted = _convert(filled, fmt, tmp_path / "out", tmp_path / "profile")
    after = read_return(converted, converted.name)
    assert (after.template_id, after.template_version, after.addressing) == ("JX-YB01", "2026.1", addressing)
    assert after.findings == []
    assert (after.header["facility_code"], after.header["period"]) == ("JZ0001", "2026-10")
    got = {v.field: v.value for v in after.values}
    want = {k: float(v) for k, v in VALUES.items()}
    want["med_revenue"] = 1800.5 + 3200.75 + 800 + 900 + 118.45  # recalculated by LibreOffice: E13+E15+E19+E20
    assert got == pytest.approx(want)
