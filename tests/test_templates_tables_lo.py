"""Table returns re-saved by a real spreadsheet program (LibreOffice): tables, totals and choices read back the same.

Saved again as .xlsx the range names survive; as .xls or .ods they do not and the reader falls back to the
layout's table geometry. Needs `soffice`; JIXIAO_REQUIRE_SOFFICE=1 turns a missing program into a failure.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from templates_xlsx.read import ParsedReturn, read_return
from test_templates_tables_read import consumption_rows, fill02, fill03, review_rows

SOFFICE = shutil.which("soffice")
if not SOFFICE and os.environ.get("JIXIAO_REQUIRE_SOFFICE") == "1":
    raise RuntimeError("soffice is required (JIXIAO_REQUIRE_SOFFICE=1) but not installed")
pytestmark = pytest.mark.skipif(not SOFFICE, reason="LibreOffice (soffice) not installed: .ci/install-libreoffice")


def _convert(src: Path, fmt: str, out: Path, profile: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run([SOFFICE, "--headless", "--norestore", f"-env:UserInstallation=file://{profile}",
                    "--convert-to", fmt, "--outdir", str(out), str(src)], check=True, capture_output=True, timeout=120)
    return out / f"{src.stem}.{fmt}"


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("lo-tables")
    rows = review_rows(30)
    rows[3]["rx_date"] = "2026/10/5"
    rows[4]["has_antibiotic"] = "是"
    rows.insert(6, None)
    rows.append({"seq": "合计", "n_drugs": 90})
    rx = fill03(root, rows, "rx.xlsx")
    abx = fill02(root, "abx.xlsx", consumption=consumption_rows(20),
                 catalogue=[{"generic_name": "阿莫西林", "dosage_form": "胶囊"}])
    return rx, abx


def _tables(pr: ParsedReturn) -> dict[str, list[tuple[int, dict]]]:
    return {name: [(r.row, r.value_map()) for r in rows] for name, rows in pr.tables.items()}


@pytest.mark.parametrize("fmt, addressing", [("xlsx", "names"), ("xls", "layout"), ("ods", "layout")])
def test_resaved_table_returns_read_the_same(filled: tuple[Path, Path], tmp_path: Path, fmt: str,
                                             addressing: str) -> None:
    for src in filled:
        before = read_return(src, src.name)
        assert before.findings == []
        converted = _convert(src, fmt, tmp_path / "out", tmp_path / "profile")
        after = read_return(converted, converted.name)
        assert (after.template_id, after.addressing, after.findings) == (before.template_id, addressing, [])
        assert after.header == before.header and after.value_map() == before.value_map()
        assert _tables(after) == _tables(before)
        assert {k: [r.row for r in v] for k, v in after.table_totals.items()} == \
            {k: [r.row for r in v] for k, v in before.table_totals.items()}
