"""Scope of the antimicrobial statistics (分级管理目录 as data): which ATC codes and forms count."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from metrics.ddd.files import DATA_DIR, DDDConfigError, check_keys, norm_text, read_yaml

_TOP_KEYS = {"version", "name_zh", "include", "exclude", "exclude_names", "exclude_forms"}


@dataclass(frozen=True)
class ScopeRule:
    pattern: str          # ATC prefix, or a substring of the form / name
    text_zh: str          # label (include) or reason (exclude)


@dataclass(frozen=True)
class Scope:
    name_zh: str
    include: tuple[ScopeRule, ...]
    exclude: tuple[ScopeRule, ...]
    exclude_names: tuple[ScopeRule, ...]
    exclude_forms: tuple[ScopeRule, ...]

    def topical_reason(self, form_or_route: str | None) -> str | None:
        """The Chinese reason when the form/route text is a local (topical) use, else None."""
        text = norm_text(form_or_route)
        for r in self.exclude_forms:
            if r.pattern and r.pattern in text:
                return r.text_zh
        return None

    def in_scope(self, atc: str | None, form_or_route: str, generic_name: str | None = None
                 ) -> tuple[bool, str | None]:
        """(True, None) when counted; (False, Chinese reason) when excluded. No ATC: decided by form only."""
        reason = self.topical_reason(form_or_route)
        if reason:
            return False, reason
        name = norm_text(generic_name)
        for r in self.exclude_names:
            if name and r.pattern in name:
                return False, r.text_zh
        if not atc:
            return True, None
        code = norm_text(atc).upper()
        inc = max((r for r in self.include if code.startswith(r.pattern)), key=lambda r: len(r.pattern), default=None)
        exc = max((r for r in self.exclude if code.startswith(r.pattern)), key=lambda r: len(r.pattern), default=None)
        if exc is not None and (inc is None or len(exc.pattern) >= len(inc.pattern)):
            return False, f"{exc.text_zh}（ATC编码{code}）"
        if inc is not None:
            return True, None
        prefixes = "、".join(r.pattern for r in self.include)
        return False, f"ATC编码{code}不属于抗菌药物统计范围（{prefixes}）"


def _rules(doc: dict, key: str, field: str, text_key: str, path: Path) -> list[ScopeRule]:
    items = doc.get(key) or []
    if not isinstance(items, list):
        raise DDDConfigError(f"{path}: {key}: expected a list")
    out = []
    for i, item in enumerate(items):
        where = f"{path}: {key}[{i}]"
        check_keys(item, {field, text_key}, {field, text_key}, where)
        pattern = norm_text(item[field])
        if field == "atc_prefix":
            pattern = pattern.upper()
        if not pattern:
            raise DDDConfigError(f"{where}.{field}: must not be empty")
        out.append(ScopeRule(pattern, str(item[text_key])))
    return out


def _parse(doc: dict, path: Path, *, require: bool) -> dict[str, list[ScopeRule] | str]:
    check_keys(doc, _TOP_KEYS, {"version", "include"} if require else set(), str(path))
    return {
        "name_zh": str(doc.get("name_zh") or ""),
        "include": _rules(doc, "include", "atc_prefix", "label_zh", path),
        "exclude": _rules(doc, "exclude", "atc_prefix", "reason_zh", path),
        "exclude_names": _rules(doc, "exclude_names", "contains", "reason_zh", path),
        "exclude_forms": _rules(doc, "exclude_forms", "contains", "reason_zh", path),
    }


def load_scope(path: Path | None = None, extend: Path | None = None) -> Scope:
    """Read scope.yaml (and an optional scope.extend.yaml whose lists are appended)."""
    path = Path(path or DATA_DIR / "scope.yaml")
    parts = _parse(read_yaml(path), path, require=True)
    if extend is not None:
        more = _parse(read_yaml(extend), Path(extend), require=False)
        for k in ("include", "exclude", "exclude_names", "exclude_forms"):
            parts[k] = list(parts[k]) + list(more[k])
        parts["name_zh"] = more["name_zh"] or parts["name_zh"]
    if not parts["include"]:
        raise DDDConfigError(f"{path}: include: at least one ATC prefix is needed")
    return Scope(str(parts["name_zh"]), *(tuple(parts[k]) for k in ("include", "exclude", "exclude_names",
                                                                       "exclude_forms")))


@lru_cache(maxsize=1)
def default_scope() -> Scope:
    """The shipped scope (metrics/ddd/data/scope.yaml)."""
    return load_scope()


def in_scope(atc: str | None, form_or_route: str, scope: Scope | None = None,
             generic_name: str | None = None) -> tuple[bool, str | None]:
    """Whether a product counts as 抗菌药物 (default scope unless given); reason in Chinese when excluded."""
    return (scope or default_scope()).in_scope(atc, form_or_route, generic_name)
