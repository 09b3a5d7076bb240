"""Findings are data: a stable code, a severity, a location and a Chinese message with its fix."""
from __future__ import annotations

import hashlib
import string
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

CODES_FILE = Path(__file__).with_name("codes.yaml")
SEVERITIES = ("error", "warning", "info")

FINDING_COLUMNS = [
    "finding_id", "period", "facility_id", "submission_id", "stage", "code", "severity",
    "file", "sheet", "cell", "field", "value", "expected", "message_zh", "fix_zh", "rule_id",
]


@dataclass
class Finding:
    code: str
    severity: str
    stage: str
    message_zh: str
    fix_zh: str
    period: str | None = None
    facility_id: str | None = None
    submission_id: str | None = None
    file: str | None = None
    sheet: str | None = None
    cell: str | None = None
    field: str | None = None
    value: str | None = None
    expected: str | None = None
    rule_id: str | None = None
    finding_id: str = ""

    def as_row(self) -> dict[str, Any]:
        """Row for the warehouse `findings` table (stable id from code + location)."""
        d = asdict(self)
        if not d["finding_id"]:
            key = "|".join(str(d[k] or "") for k in
                           ("period", "submission_id", "file", "code", "sheet", "cell", "field", "rule_id"))
            d["finding_id"] = hashlib.sha256(key.encode()).hexdigest()[:20]
        return {k: d[k] for k in FINDING_COLUMNS}


@lru_cache(maxsize=1)
def registry() -> dict[str, dict[str, str]]:
    """The code registry from codes.yaml."""
    return yaml.safe_load(CODES_FILE.read_text(encoding="utf-8"))["codes"]


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


def make(code: str, *, severity: str | None = None, field_zh: str | None = None,
         detail: str | None = None, **loc: Any) -> Finding:
    """Build a Finding from the registry; `loc` holds period/facility_id/file/sheet/cell/field/value/expected…"""
    spec = registry()[code]  # KeyError on an unregistered code is a programming error
    ctx = _Blank({k: ("" if v is None else v) for k, v in loc.items()})
    ctx["field_zh"] = field_zh or loc.get("field") or ""
    ctx["detail"] = detail or ""
    fmt = string.Formatter()
    msg = fmt.vformat(spec["message_zh"], (), ctx)
    fix = fmt.vformat(spec["fix_zh"], (), ctx)
    for k in ("value", "expected"):
        if loc.get(k) is not None:
            loc[k] = str(loc[k])
    return Finding(code=code, severity=severity or spec["severity"], stage=spec["stage"],
                   message_zh=msg, fix_zh=fix, **loc)
