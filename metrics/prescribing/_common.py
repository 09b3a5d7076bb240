"""Shared helpers of the prescribing package: Decimal conversion, rounding, verdict words and comparisons."""
from __future__ import annotations

import decimal
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from metrics.catalog import CatalogError

Number = Decimal | int | float

# verdict words (user-facing)
PASS, FAIL, UNDEFINED_ZH, NO_TARGET_ZH = "达标", "未达标", "无定义", "无目标"
SAMPLE_TOO_SMALL_ZH = "样本量不足"
OPS = ("<", "≤", ">", "≥", "=")
_OP_ALIASES = {"<=": "≤", ">=": "≥", "==": "="}


def dec(v: Number) -> Decimal:
    """A Decimal from an int, float (via its repr, so 0.1 stays 0.1) or Decimal."""
    if isinstance(v, Decimal):
        return v
    if isinstance(v, bool):
        raise TypeError(f"expected a number, got {v!r}")
    return Decimal(repr(v)) if isinstance(v, float) else Decimal(v)


def cfg_num(v: Any, where: str) -> Decimal:
    """A number from a data file, or a CatalogError naming file and key."""
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise CatalogError(f"{where}: expected a number, got {v!r}")
    try:
        return dec(v) if not isinstance(v, str) else Decimal(v)
    except decimal.InvalidOperation as e:
        raise CatalogError(f"{where}: expected a number, got {v!r}") from e


def cfg_int(v: Any, where: str, minimum: int = 0) -> int:
    """A non-negative (or ≥ minimum) integer from a data file."""
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise CatalogError(f"{where}: expected an integer ≥ {minimum}, got {v!r}")
    return v


def cfg_op(v: Any, where: str) -> str:
    """A comparison operator from a data file (<, ≤, >, ≥, =; ASCII <= >= == accepted)."""
    op = _OP_ALIASES.get(v, v)
    if op not in OPS:
        raise CatalogError(f"{where}: operator must be one of {list(OPS)}, got {v!r}")
    return op


def quantize(v: Decimal, decimals: int) -> Decimal:
    """Round half-up to the published number of decimals."""
    return v.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


def ratio(numerator: Number, denominator: Number, scale: Number = 1) -> Decimal | None:
    """numerator × scale / denominator, unrounded; None (undefined) when the denominator is zero."""
    den = dec(denominator)
    if den == 0:
        return None
    return dec(numerator) * dec(scale) / den


def compare(value: Decimal, op: str, target: Decimal) -> bool:
    """Whether value <op> target holds."""
    return {"<": value < target, "≤": value <= target, ">": value > target, "≥": value >= target,
            "=": value == target}[op]


def fmt(v: Decimal) -> str:
    """A Decimal without trailing zeros or exponent, for Chinese messages."""
    return format(v.normalize(), "f")
