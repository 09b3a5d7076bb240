"""Load the satisfaction questionnaires (questionnaires.yaml) and scoring policy (settings.yaml) with strict checks."""
from __future__ import annotations

import decimal
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from metrics.catalog import number as _num, CatalogError, check_keys, load_yaml
from metrics.satisfaction import DATA_DIR

QUESTIONNAIRES_FILE = DATA_DIR / "questionnaires.yaml"
SETTINGS_FILE = DATA_DIR / "settings.yaml"
PRECEDENCES = ("platform", "survey")


@dataclass(frozen=True)
class Scale:
    code: str
    min: Decimal
    max: Decimal
    offset: Decimal       # score on 0–100 = (x − offset) × factor
    factor: Decimal
    label_zh: str


@dataclass(frozen=True)
class Item:
    code: str
    text_zh: str
    dimension: str
    scale: str
    reverse: bool         # reverse-coded: score = (max − x) × factor
    weight: Decimal       # weight inside its dimension


@dataclass(frozen=True)
class Dimension:
    code: str
    name_zh: str
    weight: Decimal       # weight in the overall index


@dataclass(frozen=True)
class Questionnaire:
    code: str
    name_zh: str
    version: str
    dimensions: tuple[Dimension, ...]
    items: tuple[Item, ...]
    scales: Mapping[str, Scale]

    def dimension(self, code: str) -> Dimension:
        """The dimension with this code."""
        return next(d for d in self.dimensions if d.code == code)

    def items_of(self, dimension: str) -> tuple[Item, ...]:
        """The items of one dimension, in questionnaire order."""
        return tuple(i for i in self.items if i.dimension == dimension)


@dataclass(frozen=True)
class SatisfactionSettings:
    window_months: int
    min_valid: int
    max_blank_share: Decimal
    straight_line_min_items: int
    straight_line_exclude: bool
    ci_level: Decimal
    precedence: str                # platform | survey
    shrinkage_enabled: bool
    shrinkage_prior_n: int
    suppress_below: int
    modes: tuple[str, ...]
    decimals: int


def _positive(v: Any, where: str) -> Decimal:
    d = _num(v, where)
    if not d > 0:
        raise CatalogError(f"{where}: must be > 0, got {v!r}")
    return d


def _int(v: Any, where: str, minimum: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise CatalogError(f"{where}: expected an integer ≥ {minimum}, got {v!r}")
    return v


def _bool(v: Any, where: str) -> bool:
    if not isinstance(v, bool):
        raise CatalogError(f"{where}: expected true or false, got {v!r}")
    return v


def _text(v: Any, where: str) -> str:
    if not isinstance(v, str) or not v.strip():
        raise CatalogError(f"{where}: expected a non-empty text, got {v!r}")
    return v


def _list(v: Any, where: str) -> list:
    if not isinstance(v, list) or not v:
        raise CatalogError(f"{where}: expected a non-empty list, got {v!r}")
    return v


_SCALE_KEYS = {"min", "max", "offset", "factor", "label_zh"}
_SURVEY_KEYS = {"code", "name_zh", "dimensions", "items"}
_DIM_KEYS = {"code", "name_zh", "weight"}
_ITEM_KEYS = {"code", "text_zh", "dimension", "scale", "reverse", "weight"}


def _scale(code: str, s: Any, where: str) -> Scale:
    check_keys(s, _SCALE_KEYS, _SCALE_KEYS, where)
    lo, hi = _num(s["min"], f"{where}.min"), _num(s["max"], f"{where}.max")
    offset, factor = _num(s["offset"], f"{where}.offset"), _positive(s["factor"], f"{where}.factor")
    if not lo < hi:
        raise CatalogError(f"{where}.max: must be greater than min ({lo}), got {hi}")
    # the mapping must send min → 0 and max → 100, else reverse coding and the 0–100 unit break
    if (lo - offset) * factor != 0 or (hi - offset) * factor != 100:
        raise CatalogError(f"{where}.factor: (x − offset) × factor must map min {lo} → 0 and max {hi} → 100")
    return Scale(code, lo, hi, offset, factor, _text(s["label_zh"], f"{where}.label_zh"))


def _survey(s: Any, where: str, version: str, scales: Mapping[str, Scale]) -> Questionnaire:
    check_keys(s, _SURVEY_KEYS, _SURVEY_KEYS, where)
    code = _text(s["code"], f"{where}.code")
    dims: list[Dimension] = []
    for j, d in enumerate(_list(s["dimensions"], f"{where}.dimensions")):
        w = f"{where}.dimensions[{j}]"
        check_keys(d, _DIM_KEYS, _DIM_KEYS - {"weight"}, w)
        dcode = _text(d["code"], f"{w}.code")
        if any(x.code == dcode for x in dims):
            raise CatalogError(f"{w}.code: duplicate dimension code {dcode!r}")
        dims.append(Dimension(dcode, _text(d["name_zh"], f"{w}.name_zh"), _positive(d.get("weight", 1), f"{w}.weight")))
    items: list[Item] = []
    for j, it in enumerate(_list(s["items"], f"{where}.items")):
        w = f"{where}.items[{j}]"
        check_keys(it, _ITEM_KEYS, _ITEM_KEYS - {"weight"}, w)
        icode = _text(it["code"], f"{w}.code")
        if any(x.code == icode for x in items):
            raise CatalogError(f"{w}.code: duplicate item code {icode!r}")
        dim, scale = _text(it["dimension"], f"{w}.dimension"), _text(it["scale"], f"{w}.scale")
        if dim not in {x.code for x in dims}:
            raise CatalogError(f"{w}.dimension: unknown dimension {dim!r}")
        if scale not in scales:
            raise CatalogError(f"{w}.scale: unknown scale {scale!r}; defined: {sorted(scales)}")
        items.append(Item(icode, _text(it["text_zh"], f"{w}.text_zh"), dim, scale,
                          _bool(it["reverse"], f"{w}.reverse"), _positive(it.get("weight", 1), f"{w}.weight")))
    for j, d in enumerate(dims):
        if not any(i.dimension == d.code for i in items):
            raise CatalogError(f"{where}.dimensions[{j}]: dimension {d.code!r} has no items")
    return Questionnaire(code, _text(s["name_zh"], f"{where}.name_zh"), version, tuple(dims), tuple(items), scales)


def load_questionnaires(path: Path | None = None) -> dict[str, Questionnaire]:
    """The questionnaires keyed by survey code (op, ip, staff), strictly checked."""
    return dict(_load_questionnaires(Path(path or QUESTIONNAIRES_FILE)))


@lru_cache(maxsize=8)
def _load_questionnaires(path: Path) -> tuple[tuple[str, Questionnaire], ...]:
    doc = load_yaml(path)
    where = str(path)
    check_keys(doc, {"version", "scales", "surveys"}, {"version", "scales", "surveys"}, where)
    if not isinstance(doc["version"], str) or not doc["version"]:
        raise CatalogError(f"{where}: version: expected a quoted text such as \"2026.1\", got {doc['version']!r}")
    if not isinstance(doc["scales"], dict) or not doc["scales"]:
        raise CatalogError(f"{where}: scales: expected a non-empty mapping")
    scales = {code: _scale(code, s, f"{where}: scales.{code}") for code, s in doc["scales"].items()}
    out: dict[str, Questionnaire] = {}
    for i, s in enumerate(_list(doc["surveys"], f"{where}: surveys")):
        q = _survey(s, f"{where}: surveys[{i}]", doc["version"], scales)
        if q.code in out:
            raise CatalogError(f"{where}: surveys[{i}].code: duplicate survey code {q.code!r}")
        out[q.code] = q
    return tuple(out.items())


_SETTINGS_KEYS = {"window_months", "min_valid", "max_blank_share", "straight_line", "ci_level", "precedence",
                  "shrinkage", "suppress_below", "modes", "decimals"}


@lru_cache(maxsize=8)
def load_settings(path: Path | None = None) -> SatisfactionSettings:
    """The satisfaction scoring policy, strictly checked (every key required, unknown keys rejected)."""
    path = Path(path or SETTINGS_FILE)
    doc = load_yaml(path)
    where = str(path)
    check_keys(doc, _SETTINGS_KEYS, _SETTINGS_KEYS, where)
    sl, sh = doc["straight_line"], doc["shrinkage"]
    check_keys(sl, {"min_items", "exclude"}, {"min_items", "exclude"}, f"{where}: straight_line")
    check_keys(sh, {"enabled", "prior_n"}, {"enabled", "prior_n"}, f"{where}: shrinkage")
    share = _num(doc["max_blank_share"], f"{where}: max_blank_share")
    if not 0 <= share < 1:
        raise CatalogError(f"{where}: max_blank_share: must be in [0, 1), got {doc['max_blank_share']!r}")
    level = _num(doc["ci_level"], f"{where}: ci_level")
    if not 0 < level < 1:
        raise CatalogError(f"{where}: ci_level: must be in (0, 1), got {doc['ci_level']!r}")
    if doc["precedence"] not in PRECEDENCES:
        raise CatalogError(f"{where}: precedence: must be one of {list(PRECEDENCES)}, got {doc['precedence']!r}")
    modes = [_text(m, f"{where}: modes[{i}]") for i, m in enumerate(_list(doc["modes"], f"{where}: modes"))]
    if len(set(modes)) != len(modes):
        raise CatalogError(f"{where}: modes: duplicate mode")
    decimals = _int(doc["decimals"], f"{where}: decimals", 0)
    if decimals > 6:
        raise CatalogError(f"{where}: decimals: expected at most 6, got {decimals}")
    return SatisfactionSettings(
        window_months=_int(doc["window_months"], f"{where}: window_months", 1),
        min_valid=_int(doc["min_valid"], f"{where}: min_valid", 1),
        max_blank_share=share,
        straight_line_min_items=_int(sl["min_items"], f"{where}: straight_line.min_items", 2),
        straight_line_exclude=_bool(sl["exclude"], f"{where}: straight_line.exclude"),
        ci_level=level,
        precedence=doc["precedence"],
        shrinkage_enabled=_bool(sh["enabled"], f"{where}: shrinkage.enabled"),
        shrinkage_prior_n=_int(sh["prior_n"], f"{where}: shrinkage.prior_n", 1),
        suppress_below=_int(doc["suppress_below"], f"{where}: suppress_below", 0),
        modes=tuple(modes),
        decimals=decimals,
    )
