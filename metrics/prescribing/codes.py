"""处方点评 problem codes (problem_codes.yaml) and a tolerant parser for the 存在问题（代码） cell."""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from metrics.catalog import CatalogError, check_keys, load_yaml
from metrics.prescribing import DATA_DIR
from metrics.prescribing._common import cfg_int

CODES_FILE = DATA_DIR / "problem_codes.yaml"


@dataclass(frozen=True)
class ProblemClass:
    key: str            # nonstandard | unsuitable | excessive (as in the file)
    prefix: int         # the "n" of "n-m"
    name_zh: str        # 不规范处方 / 用药不适宜处方 / 超常处方
    article_zh: str


@dataclass(frozen=True)
class ProblemCode:
    code: str           # canonical "n-m"
    cls: str            # ProblemClass.key
    text_zh: str


@dataclass(frozen=True)
class AliasMap:
    name: str
    note_zh: str
    map: Mapping[str, str]


@dataclass(frozen=True)
class CodeBook:
    source_zh: str
    classes: Mapping[str, ProblemClass]     # in file order
    codes: Mapping[str, ProblemCode]        # in canonical order
    none_markers: frozenset[str]            # normalised, lower-case
    aliases: Mapping[str, AliasMap]
    enabled_aliases: tuple[str, ...]

    def class_of(self, code: str) -> ProblemClass:
        """The class of a canonical code."""
        return self.classes[self.codes[code].cls]


_TOP = {"version", "source_zh", "classes", "codes", "none_markers", "aliases", "enabled_aliases"}
_CLASS = {"prefix", "name_zh", "article_zh"}
_CODE = {"class", "text_zh"}
_ALIAS = {"note_zh", "map"}
_CANON = re.compile(r"(\d{1,2})-(\d{1,2})")


def code_sort_key(code: str) -> tuple[int, int]:
    """Sort key of a canonical "n-m" code: (n, m) numerically, so 1-2 < 1-10."""
    n, m = code.split("-")
    return int(n), int(m)


def _canonical(n: str, m: str) -> str:
    return f"{int(n)}-{int(m)}"


@lru_cache(maxsize=8)
def load_codebook(path: Path | None = None) -> CodeBook:
    """The official problem codes, none-markers and alias maps, with strict key checks."""
    path = Path(path or CODES_FILE)
    doc = load_yaml(path)
    where = str(path)
    check_keys(doc, _TOP, _TOP - {"aliases", "enabled_aliases", "none_markers"}, where)
    if not isinstance(doc["classes"], dict) or not doc["classes"]:
        raise CatalogError(f"{where}: classes: expected a non-empty mapping")
    classes: dict[str, ProblemClass] = {}
    prefixes: dict[int, str] = {}
    for key, c in doc["classes"].items():
        w = f"{where}: classes.{key}"
        check_keys(c, _CLASS, _CLASS, w)
        prefix = cfg_int(c["prefix"], f"{w}.prefix", 1)
        if prefix in prefixes:
            raise CatalogError(f"{w}.prefix: {prefix} already used by class {prefixes[prefix]!r}")
        prefixes[prefix] = str(key)
        classes[str(key)] = ProblemClass(str(key), prefix, str(c["name_zh"]), str(c["article_zh"]))
    if not isinstance(doc["codes"], dict) or not doc["codes"]:
        raise CatalogError(f"{where}: codes: expected a non-empty mapping")
    codes: dict[str, ProblemCode] = {}
    for code, c in doc["codes"].items():
        w = f"{where}: codes.{code}"
        m = _CANON.fullmatch(str(code))
        if not m or _canonical(*m.groups()) != str(code):
            raise CatalogError(f"{w}: code must be canonical 'n-m' (e.g. 1-7), got {code!r}")
        check_keys(c, _CODE, _CODE, w)
        if c["class"] not in classes:
            raise CatalogError(f"{w}.class: unknown class {c['class']!r}; known: {sorted(classes)}")
        if classes[c["class"]].prefix != int(m.group(1)):
            raise CatalogError(f"{w}.class: {c['class']!r} has prefix {classes[c['class']].prefix}, "
                               f"code starts with {m.group(1)}")
        codes[str(code)] = ProblemCode(str(code), str(c["class"]), str(c["text_zh"]))
    codes = {k: codes[k] for k in sorted(codes, key=code_sort_key)}
    markers = doc.get("none_markers") or []
    if not isinstance(markers, list):
        raise CatalogError(f"{where}: none_markers: expected a list")
    aliases: dict[str, AliasMap] = {}
    for name, a in (doc.get("aliases") or {}).items():
        w = f"{where}: aliases.{name}"
        check_keys(a, _ALIAS, {"map"}, w)
        if not isinstance(a["map"], dict):
            raise CatalogError(f"{w}.map: expected a mapping")
        amap = {}
        for k, v in a["map"].items():
            if str(v) not in codes:
                raise CatalogError(f"{w}.map.{k}: target {v!r} is not an official code")
            amap[_normalise(str(k)).lower()] = str(v)
        aliases[str(name)] = AliasMap(str(name), str(a.get("note_zh", "")), amap)
    enabled = tuple(doc.get("enabled_aliases") or ())
    for name in enabled:
        if name not in aliases:
            raise CatalogError(f"{where}: enabled_aliases: unknown alias map {name!r}; known: {sorted(aliases)}")
    return CodeBook(str(doc["source_zh"]), classes, codes,
                    frozenset(_normalise(str(x)).lower() for x in markers), aliases, enabled)


# ------------------------------------------------------------------------------------------------ parser

# dash look-alikes people (and IMEs) type between article and item; NFKC already folds the full-width "－"
_DASHES = dict.fromkeys(map(ord, "‐‑‒–—―−﹣－ー~～"), "-")
# separators between codes: enumeration comma, commas, semicolons, slashes, bars, whitespace, 和/及/与
_SEP = re.compile(r"[、,，;；/|\s和及与]+")
_BRACKETS = str.maketrans("", "", "()（）[]【】{}<>《》\"'“”‘’")
_TRAIL = ".。:：!！?？"
_CODE_WITH_REMARK = re.compile(r"(\d{1,2})-(\d{1,2})(\D*)")


def _normalise(text: str) -> str:
    """NFKC (full-width digits, dash, space, punctuation), dash look-alikes → "-", spaces around dashes dropped."""
    s = unicodedata.normalize("NFKC", text).translate(_DASHES)
    return re.sub(r"\s*-\s*", "-", s).strip()


def parse_problem_codes(text: Any, aliases: Iterable[str] | None = None,
                        book: CodeBook | None = None) -> tuple[list[str], list[str]]:
    """Canonical codes (sorted, unique) and unrecognised tokens from a 存在问题（代码） cell.

    Accepts "1-7、2-5", "1-7,2-5", "1-7，2-5", "1-7;2-5", "1－7 2－5", "1-7（剂量不规范）"; a blank cell or a
    none-marker ("无", "/", "-") means no problem. A bare number such as "17" is read through an alias map
    only when one is enabled (``aliases`` names the maps; None uses the file's ``enabled_aliases``);
    otherwise it is returned as unknown. Unknown tokens keep their normalised spelling, in input order.
    """
    book = book or load_codebook()
    if text is None:
        return [], []
    if isinstance(text, float) and text != text:        # NaN from a data frame
        return [], []
    s = _normalise(str(text))
    if not s or s.lower() in book.none_markers:
        return [], []
    maps = [book.aliases[name].map for name in (book.enabled_aliases if aliases is None else aliases)]
    found: set[str] = set()
    unknown: list[str] = []
    for raw in _SEP.split(s):
        tok = raw.translate(_BRACKETS).strip(_TRAIL).strip()
        if not tok or tok.lower() in book.none_markers:
            continue
        code = _match(tok, book, maps)
        if code is None:
            if tok not in unknown:
                unknown.append(tok)
        else:
            found.add(code)
    return sorted(found, key=code_sort_key), unknown


def _match(tok: str, book: CodeBook, maps: list[Mapping[str, str]]) -> str | None:
    """The canonical code a token stands for, or None."""
    m = _CANON.fullmatch(tok)
    if m:
        code = _canonical(*m.groups())
        return code if code in book.codes else None
    for amap in maps:
        if tok.lower() in amap:
            return amap[tok.lower()]
    m = _CODE_WITH_REMARK.fullmatch(tok)        # "1-7剂量不规范": a code followed by a remark without digits
    if m and m.group(3) and not m.group(3).startswith("-"):
        code = _canonical(m.group(1), m.group(2))
        return code if code in book.codes else None
    return None
