"""Spreadsheets written by other programs (tests/fixtures/foreign-xlsx): each is rejected with a clear finding.

None is a return in our template, so every file must end with at least one error finding — never an
exception, never a hang — within bounded time. The copy under tests/fixtures/ keeps CI self-contained;
JIXIAO_FIXTURES_DIR may point at another folder with the same README/MANIFEST layout.
"""
from __future__ import annotations

import csv
import os
import time
from pathlib import Path

import pytest

from templates_xlsx.read import read_return
from templates_xlsx.sandbox import parse_many


def _fixtures_dir() -> Path:
    env = os.environ.get("JIXIAO_FIXTURES_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent / "fixtures" / "foreign-xlsx"


FIXTURES = _fixtures_dir()
pytestmark = pytest.mark.skipif(not (FIXTURES / "MANIFEST.csv").exists(),
                                reason=f"foreign fixtures not found at {FIXTURES} (set JIXIAO_FIXTURES_DIR)")

# files whose finding is known precisely (the rest: unknown-template, since they are not our form)
EXPECTED = {
    "poi__poc-xmlbomb.xlsx": "unsafe-xml",
    "sheetjs__large_strings.xlsx": "unsafe-archive",        # 54 MB sheet at 121:1
    "calamine__too_small.xls": "unknown-format",            # 68 bytes, no OLE signature
    "openpyxl__null_archive.xlsx": "unknown-format",        # zip without [Content_Types].xml
    "tealeg__badfile_noWorkbookRels.xlsx": "unreadable-workbook",
    "poi__SimpleStrict.xlsx": "unknown-template",           # Strict OOXML: readable, but not our template
    "calamine__date.xls": "unknown-template",
    "xlrd__ragged.xls": "unknown-template",
}


def _manifest() -> list[dict[str, str]]:
    with (FIXTURES / "MANIFEST.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_manifest_matches_folder() -> None:
    rows = _manifest()
    names = {r["file"] for r in rows}
    on_disk = {p.name for p in FIXTURES.iterdir() if p.name not in ("README.md", "MANIFEST.csv")}
    assert names == on_disk and len(rows) >= 40
    for r in rows:
        assert (FIXTURES / r["file"]).stat().st_size == int(r["size"]), r["file"]


def test_every_foreign_file_is_rejected_via_parse_many() -> None:
    rows = _manifest()
    items = [(FIXTURES / r["file"], r["file"]) for r in rows]
    t = time.perf_counter()
    out = parse_many(items, workers=2, timeout_s=20)
    elapsed = time.perf_counter() - t
    print(f"\n{len(items)} foreign files parsed in {elapsed:.2f}s")
    assert len(out) == len(items)
    for (path, name), pr in zip(items, out):
        codes = [f.code for f in pr.findings]
        print(f"  {name:70s} {codes}")
        assert pr.original_name == name
        assert any(f.severity == "error" for f in pr.findings), name
        assert pr.file_error is not None, name
        assert pr.values == [], name
        for f in pr.findings:
            assert f.message_zh and f.fix_zh and f.file == name
        if name in EXPECTED:
            assert codes[0] == EXPECTED[name], (name, codes)
        else:
            assert codes == ["unknown-template"], (name, codes)
    assert elapsed < 60


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_in_process_reader_never_raises(name: str) -> None:
    t = time.perf_counter()
    pr = read_return(FIXTURES / name, name)
    assert time.perf_counter() - t < 5
    assert [f.code for f in pr.findings][:1] == [EXPECTED[name]]
