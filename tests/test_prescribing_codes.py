"""处方点评 problem codes: the official list, the tolerant cell parser, aliases and the strict loader."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from metrics.catalog import CatalogError
from metrics.prescribing.codes import CODES_FILE, load_codebook, parse_problem_codes

BOOK = load_codebook()


def test_official_list_has_15_9_4_codes_in_three_classes() -> None:
    by_class: dict[str, list[str]] = {}
    for code in BOOK.codes.values():
        by_class.setdefault(code.cls, []).append(code.code)
    assert by_class["nonstandard"] == [f"1-{i}" for i in range(1, 16)]
    assert by_class["unsuitable"] == [f"2-{i}" for i in range(1, 10)]
    assert by_class["excessive"] == [f"3-{i}" for i in range(1, 5)]
    assert [c.name_zh for c in BOOK.classes.values()] == ["不规范处方", "用药不适宜处方", "超常处方"]
    assert BOOK.class_of("2-4").name_zh == "用药不适宜处方"
    assert "基本药物" in BOOK.codes["2-4"].text_zh
    assert BOOK.enabled_aliases == ()          # "17" is ambiguous: no alias map is on by default


PARSE_TABLE = [
    # (cell text, codes, unknown)
    ("1-7、2-5", ["1-7", "2-5"], []),
    ("1-7,2-5", ["1-7", "2-5"], []),
    ("1-7，2-5", ["1-7", "2-5"], []),
    ("1-7;2-5", ["1-7", "2-5"], []),
    ("1-7；2-5", ["1-7", "2-5"], []),
    ("1－7　2－5", ["1-7", "2-5"], []),           # full-width dash and full-width space
    ("１－７、２－５", ["1-7", "2-5"], []),        # full-width digits
    ("1—7", ["1-7"], []),                          # em dash typed by an IME
    ("1 - 10 / 1-2", ["1-2", "1-10"], []),          # spaces around the dash; sorted numerically (1-2 < 1-10)
    ("2-5 1-7 1-7", ["1-7", "2-5"], []),            # sorted, unique
    ("1-07", ["1-7"], []),                          # leading zero folded
    ("3-4。", ["3-4"], []),                         # trailing full stop
    ("1-7（剂量不规范）", ["1-7"], []),              # a remark after the code
    ("1-7和2-5", ["1-7", "2-5"], []),
    ("", [], []),
    ("   ", [], []),
    (None, [], []),
    ("无", [], []),
    ("/", [], []),
    ("-", [], []),
    ("－", [], []),
    ("17", [], ["17"]),                             # ambiguous without an alias map
    ("1-16", [], ["1-16"]),                         # syntactically a code, not in the official list
    ("4-1、2-2", ["2-2"], ["4-1"]),
    ("0", [], ["0"]),                               # "0" is not a none-marker unless the bureau adds it
    ("剂量过大", [], ["剂量过大"]),
]


@pytest.mark.parametrize("text, codes, unknown", PARSE_TABLE, ids=[repr(t[0]) for t in PARSE_TABLE])
def test_parse_problem_codes(text: str | None, codes: list[str], unknown: list[str]) -> None:
    assert parse_problem_codes(text) == (codes, unknown)


@pytest.mark.parametrize("text, with_alias, without_alias", [
    # (cell, (codes, unknown) with the "compact" map, (codes, unknown) without any map)
    ("17", (["1-7"], []), ([], ["17"])),
    ("17、25", (["1-7", "2-5"], []), ([], ["17", "25"])),
    ("110", (["1-10"], []), ([], ["110"])),         # 1-10 has no two-digit form; three digits are unambiguous
    ("34,1-2", (["1-2", "3-4"], []), (["1-2"], ["34"])),
    ("35", ([], ["35"]), ([], ["35"])),              # 3-5 does not exist
])
def test_compact_alias_map_only_when_enabled(text: str, with_alias: tuple, without_alias: tuple) -> None:
    assert parse_problem_codes(text, aliases=["compact"]) == with_alias
    assert parse_problem_codes(text, aliases=[]) == without_alias
    assert parse_problem_codes(text) == without_alias    # the shipped file enables no map


def _write(tmp_path: Path, doc: dict) -> Path:
    p = tmp_path / "problem_codes.yaml"
    p.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return p


def _doc() -> dict:
    return yaml.safe_load(CODES_FILE.read_text(encoding="utf-8"))


def test_loader_rejects_unknown_top_key_naming_file_and_key(tmp_path: Path) -> None:
    doc = _doc()
    doc["colour"] = "red"
    p = _write(tmp_path, doc)
    with pytest.raises(CatalogError, match="colour") as e:
        load_codebook(p)
    assert str(p) in str(e.value)


def test_loader_rejects_unknown_code_key_and_bad_class(tmp_path: Path) -> None:
    doc = _doc()
    doc["codes"]["1-7"]["severity"] = 2
    p = _write(tmp_path, doc)
    with pytest.raises(CatalogError, match=r"codes\.1-7.*severity"):
        load_codebook(p)
    doc = _doc()
    doc["codes"]["2-1"]["class"] = "nonstandard"     # prefix 2 cannot be class 1
    with pytest.raises(CatalogError, match=r"codes\.2-1\.class"):
        load_codebook(_write(tmp_path, doc))
    doc = _doc()
    doc["aliases"]["compact"]["map"]["99"] = "9-9"
    with pytest.raises(CatalogError, match=r"aliases\.compact\.map\.99"):
        load_codebook(_write(tmp_path, doc))
    doc = _doc()
    doc["enabled_aliases"] = ["nonesuch"]
    with pytest.raises(CatalogError, match="nonesuch"):
        load_codebook(_write(tmp_path, doc))


def test_enabled_aliases_in_file_apply_by_default(tmp_path: Path) -> None:
    doc = _doc()
    doc["enabled_aliases"] = ["compact"]
    book = load_codebook(_write(tmp_path, doc))
    assert parse_problem_codes("17", book=book) == (["1-7"], [])
