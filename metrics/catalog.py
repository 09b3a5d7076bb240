"""Load the catalog data files (fields, indicators, schemes, peer groups) with strict key checks."""
from __future__ import annotations

import decimal
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

CATALOG_DIR = Path(__file__).with_name("catalog")


class CatalogError(ValueError):
    """A catalog file is malformed; the message names the file and the key."""


def load_yaml(path: Path) -> Any:
    """Parse a YAML file, naming the file in any error."""
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise CatalogError(f"{path}: {e}") from e


def check_keys(obj: dict, allowed: set[str], required: set[str], where: str) -> None:
    """Reject unknown keys and report missing ones, naming file and key path."""
    if not isinstance(obj, dict):
        raise CatalogError(f"{where}: expected a mapping, got {type(obj).__name__}")
    unknown = set(obj) - allowed
    if unknown:
        raise CatalogError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
    missing = required - set(obj)
    if missing:
        raise CatalogError(f"{where}: missing key(s) {sorted(missing)}")


def number(v: Any, where: str) -> Decimal:
    """A number read from a data file as an exact Decimal (floats via repr, so 0.2 stays 0.2); bools refused."""
    if isinstance(v, bool) or not isinstance(v, (int, float, str, Decimal)):
        raise CatalogError(f"{where}: expected a number, got {v!r}")
    try:
        return Decimal(repr(v)) if isinstance(v, float) else Decimal(v)
    except decimal.InvalidOperation as e:
        raise CatalogError(f"{where}: expected a number, got {v!r}") from e


@dataclass(frozen=True)
class FieldDef:
    code: str
    label_zh: str
    unit: str
    aggregation: str  # sum | last
    kind: str         # count | amount | ratio
    required: bool
    blank: str        # missing | zero | refused (BLANKS)
    group: str
    parts_of: str | None = None


# What a blank cell of an item means: missing = not reported; zero = read as 0; refused = the cell must hold a
# number, a true zero written as 0 (a blank gets the finding blank-refused: rule kind blank_refused).
BLANKS = ("missing", "zero", "refused")

_FIELD_KEYS = {"code", "label_zh", "unit", "aggregation", "kind", "required", "blank", "group", "parts_of"}


@lru_cache(maxsize=4)
def load_fields(path: Path | None = None) -> tuple[FieldDef, ...]:
    """The data items of the operations return, in form order."""
    path = Path(path or CATALOG_DIR / "fields.yaml")
    doc = load_yaml(path)
    check_keys(doc, {"version", "fields"}, {"version", "fields"}, str(path))
    out = []
    for i, f in enumerate(doc["fields"]):
        where = f"{path}: fields[{i}]"
        check_keys(f, _FIELD_KEYS, _FIELD_KEYS - {"parts_of"}, where)
        if f["aggregation"] not in ("sum", "last"):
            raise CatalogError(f"{where}.aggregation: must be sum or last, got {f['aggregation']!r}")
        if f["kind"] not in ("count", "amount", "ratio"):
            raise CatalogError(f"{where}.kind: must be count, amount or ratio, got {f['kind']!r}")
        if f["blank"] not in BLANKS:
            raise CatalogError(f"{where}.blank: must be one of {list(BLANKS)}, got {f['blank']!r}")
        if f["blank"] == "zero" and f["kind"] not in ("count", "amount"):
            raise CatalogError(f"{where}.blank: zero is for count and amount items only (kind {f['kind']})")
        if f["blank"] == "refused" and f["required"] is not True:
            raise CatalogError(f"{where}.blank: refused means the cell must hold a number: declare required: true")
        out.append(FieldDef(**f))
    codes = [f.code for f in out]
    if len(set(codes)) != len(codes):
        raise CatalogError(f"{path}: duplicate field codes")
    for f in out:
        if f.parts_of and f.parts_of not in codes:
            raise CatalogError(f"{path}: field {f.code}.parts_of: unknown field {f.parts_of!r}")
    return tuple(out)


def fields_by_code(path: Path | None = None) -> dict[str, FieldDef]:
    """Field definitions keyed by code."""
    return {f.code: f for f in load_fields(path)}


@lru_cache(maxsize=1)
def all_fields() -> tuple[FieldDef, ...]:
    """Every data item of every catalog file (fields.yaml first, then fields_*.yaml by name); codes are unique."""
    out: list[FieldDef] = list(load_fields())
    for path in sorted(CATALOG_DIR.glob("fields_*.yaml")):
        out.extend(load_fields(path))
    codes = [f.code for f in out]
    dup = sorted({c for c in codes if codes.count(c) > 1})
    if dup:
        raise CatalogError(f"{CATALOG_DIR}/fields*.yaml: field code(s) defined twice: {dup}")
    return tuple(out)


def all_fields_by_code() -> dict[str, FieldDef]:
    """Every data item of every catalog, keyed by code."""
    return {f.code: f for f in all_fields()}
