"""Neutralise text from submissions before it goes into any workbook we write."""
from __future__ import annotations

from typing import Any

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")


def excel_text(value: Any) -> Any:
    """Return value unchanged unless it is text a spreadsheet could treat as a formula; then prefix '."""
    if isinstance(value, str) and value[:1] in _TRIGGERS:
        return "'" + value  # shown as text; openpyxl writes it as a plain string, never a formula
    return value
