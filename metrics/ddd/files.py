"""Strict readers for the DDD engine's data files (YAML and CSV), naming file and key in every error."""
from __future__ import annotations

import csv
import decimal
import unicodedata
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

from metrics.catalog import CatalogError, load_yaml
from metrics.catalog import check_keys as catalog_check_keys

DATA_DIR = Path(__file__).with_name("data")


class DDDConfigError(CatalogError):
    """A DDD data file is malformed; the message names the file and the key (or line and column)."""


def read_yaml(path: Path) -> Any:
    """Parse one YAML file, naming the file in any error (metrics.catalog.load_yaml, as a DDDConfigError)."""
    try:
        return load_yaml(Path(path))
    except CatalogError as e:
        raise DDDConfigError(str(e)) from e


def check_keys(obj: Any, allowed: Iterable[str], required: Iterable[str], where: str) -> dict:
    """Reject unknown keys and report missing ones, naming file and key path (metrics.catalog.check_keys)."""
    try:
        catalog_check_keys(obj, set(allowed), set(required), where)
    except CatalogError as e:
        raise DDDConfigError(str(e)) from e
    return obj


def read_csv(path: Path, allowed: Iterable[str], required: Iterable[str]) -> list[tuple[int, dict[str, str]]]:
    """Rows of a UTF-8 CSV as (line number, row); unknown or missing columns are rejected by name."""
    allowed, required = set(allowed), set(required)
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip() for h in (reader.fieldnames or [])]
            unknown = [h for h in header if h not in allowed]
            if unknown:
                raise DDDConfigError(f"{path}: unknown column(s) {unknown}; allowed: {sorted(allowed)}")
            missing = sorted(required - set(header))
            if missing:
                raise DDDConfigError(f"{path}: missing column(s) {missing}")
            if len(set(header)) != len(header):
                raise DDDConfigError(f"{path}: duplicate column names in header {header}")
            reader.fieldnames = header
            out = []
            for row in reader:
                if None in row:
                    raise DDDConfigError(f"{path}: line {reader.line_num}: more values than columns")
                out.append((reader.line_num, {k: (v or "").strip() for k, v in row.items()}))
            return out
    except OSError as e:
        raise DDDConfigError(f"{path}: {e}") from e


def to_decimal(v: Any, where: str, *, positive: bool = True) -> Decimal:
    """A number from YAML or CSV as Decimal (floats via repr); positive unless told otherwise."""
    if isinstance(v, bool) or not isinstance(v, (int, float, str, Decimal)):
        raise DDDConfigError(f"{where}: expected a number, got {v!r}")
    try:
        d = Decimal(repr(v)) if isinstance(v, float) else Decimal(str(v).strip())
    except decimal.InvalidOperation as e:
        raise DDDConfigError(f"{where}: expected a number, got {v!r}") from e
    if not d.is_finite() or (positive and d <= 0):
        raise DDDConfigError(f"{where}: expected a positive number, got {v!r}")
    return d


def norm_text(s: str | None) -> str:
    """NFKC (full-width → half-width), whitespace removed; the form every matcher compares."""
    if s is None:
        return ""
    return "".join(unicodedata.normalize("NFKC", str(s)).split())


def resolve(name: str, override: Path | None) -> tuple[Path, Path | None]:
    """The file to read for `name` (the bureau's copy if present, else the default) and its `.extend` file."""
    base = DATA_DIR / name
    ext = None
    if override is not None:
        if (override / name).exists():
            base = override / name
        p = Path(name)
        cand = override / f"{p.stem}.extend{p.suffix}"
        if cand.exists():
            ext = cand
    return base, ext
