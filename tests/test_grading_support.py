"""Builders shared by the tests/test_grading_*.py files (this module holds no tests)."""
from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal as D
from typing import Any

from metrics.grading import Method, Observation, parse_method

PEERS = {"甲组", "乙组", "丙组"}


@dataclass(frozen=True)
class Ind:
    """The few attributes of a catalogue indicator the method loader reads."""
    code: str
    direction: str
    name_zh: str = ""
    unit: str = "%"


CATALOG = {c: Ind(c, d, f"指标{c}") for c, d in [
    ("U1", "up"), ("U2", "up"), ("U3", "up"), ("U4", "up"), ("U5", "up"), ("U6", "up"),
    ("D1", "down"), ("D2", "down"), ("M1", "monitor"), ("B1", "band")]}

BASE: dict[str, Any] = {
    "precision": {"stat": 6, "standardised": 4, "group": 4, "composite": 4},
    "peer_groups": ["甲组", "乙组"],
    "standardise": {"method": "z", "within": "peer_group", "min_n": 2},
    "indicators": [{"indicator": "U1", "group": "G1"}],
    "groups": {"weights_sum": 1, "list": [{"name": "G1", "weight": 1}]},
    "grading": {"method": "bands", "bands": [{"grade": "A", "min": 0}, {"grade": "B", "min": -1000}]},
}


def merge(a: dict, b: Mapping) -> dict:
    """a with b's keys replaced (mappings merged one level down when both are mappings)."""
    out = copy.deepcopy(a)
    for k, v in b.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), dict) and k not in ("grading",):
            out[k] = {**out[k], **copy.deepcopy(dict(v))}
        else:
            out[k] = copy.deepcopy(v)
    return out


def method(**over: Any) -> Method:
    """A method over the test catalogue: BASE with the given top-level keys replaced or merged."""
    return parse_method(merge(BASE, over), "test.yaml: method", version="t", catalog=CATALOG,
                        known_peer_groups=PEERS)


def observations(table: Mapping[str, Mapping[str, Any]], **extra: Mapping[tuple[str, str], Any]
                 ) -> list[Observation]:
    """{facility: {indicator: value}} → Observations (None = not given); extra={'denominator': {(f, i): d}}."""
    out = []
    for f, vals in table.items():
        for code, v in vals.items():
            if v is None:
                continue
            kw = {k: (D(str(m[(f, code)])) if k != "sample" else m[(f, code)])
                  for k, m in extra.items() if (f, code) in m}
            out.append(Observation(f, code, D(str(v)), **kw))
    return out
