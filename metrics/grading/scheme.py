"""Which engine scores a scheme file: a top-level `method:` block → metrics.grading, else metrics.scoring."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from metrics.catalog import CatalogError, load_yaml
from metrics.grading.config import Method, load_method
from metrics.scoring import SCHEMES_DIR, Scheme, load_scheme


@dataclass(frozen=True)
class MethodScheme:
    """A scheme graded by metrics.grading.grade(): the method plus what compute needs (calibres, completeness)."""
    version: str
    name_zh: str
    method: Method
    calibres: dict[str, str]
    require_complete: bool
    path: Path

    @property
    def peer_groups(self) -> frozenset[str]:
        """The peer groups the scheme assesses."""
        return frozenset(self.method.peer_groups)


def scheme_path(version: str) -> Path:
    return SCHEMES_DIR / f"{version}.yaml"


def is_method_scheme(path: Path) -> bool:
    """True when the scheme file has a top-level `method:` block."""
    doc = load_yaml(path)
    return isinstance(doc, dict) and "method" in doc


@lru_cache(maxsize=8)
def _load_method_scheme(path: Path) -> MethodScheme:
    doc = load_yaml(path)
    method = load_method(path)
    rc = doc.get("require_complete", True)
    if not isinstance(rc, bool):
        raise CatalogError(f"{path}: require_complete: must be true or false")
    return MethodScheme(method.version, method.name_zh, method, dict(doc.get("calibres") or {}), rc, path)


def load_assessment(version: str = "2026", path: Path | None = None) -> Scheme | MethodScheme:
    """The scheme `version` (or file `path`) for the engine its file asks for."""
    p = Path(path or scheme_path(version))
    return _load_method_scheme(p) if is_method_scheme(p) else load_scheme(version, p)


def assessed_groups(scheme: Scheme | MethodScheme) -> frozenset[str] | Any:
    """The peer groups a scheme of either kind assesses."""
    return scheme.peer_groups if isinstance(scheme, MethodScheme) else frozenset(scheme.groups)
