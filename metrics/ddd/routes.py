"""Route of administration (WHO codes O, P, R, Inhal…) from Chinese dosage-form / route text."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from metrics.ddd.files import DATA_DIR, DDDConfigError, check_keys, norm_text, read_yaml


@dataclass(frozen=True)
class RouteRule:
    text: str
    exact: bool
    route: str

    def matches(self, s: str) -> bool:
        """Whether this rule matches the normalised text."""
        return s.upper() == self.text.upper() if self.exact else self.text in s


@dataclass(frozen=True)
class RouteMap:
    codes: tuple[str, ...]
    rules: tuple[RouteRule, ...]

    def route_of(self, *texts: str | None) -> str | None:
        """The route of the first text (form, then name) any rule matches; None when none does."""
        for t in texts:
            s = norm_text(t)
            if not s:
                continue
            for r in self.rules:
                if r.matches(s):
                    return r.route
        return None


def _parse(doc: dict, path: Path, codes: tuple[str, ...] | None) -> tuple[tuple[str, ...], list[RouteRule]]:
    check_keys(doc, {"version", "codes", "rules"}, {"version", "rules"} if codes else {"version", "codes", "rules"},
               str(path))
    if "codes" in doc:
        if not isinstance(doc["codes"], list) or not all(isinstance(c, str) for c in doc["codes"]):
            raise DDDConfigError(f"{path}: codes: expected a list of route codes")
        codes = tuple(codes or ()) + tuple(c for c in doc["codes"] if c not in (codes or ()))
    rules = []
    if not isinstance(doc["rules"], list):
        raise DDDConfigError(f"{path}: rules: expected a list")
    for i, r in enumerate(doc["rules"]):
        where = f"{path}: rules[{i}]"
        check_keys(r, {"contains", "equals", "route"}, {"route"}, where)
        if ("contains" in r) == ("equals" in r):
            raise DDDConfigError(f"{where}: give exactly one of `contains` or `equals`")
        if r["route"] not in codes:
            raise DDDConfigError(f"{where}.route: unknown route {r['route']!r}; known: {list(codes)}")
        text = norm_text(r.get("contains", r.get("equals")))
        if not text:
            raise DDDConfigError(f"{where}: empty pattern")
        rules.append(RouteRule(text, "equals" in r, r["route"]))
    return codes, rules


def load_routes(path: Path | None = None, extend: Path | None = None) -> RouteMap:
    """Read routes.yaml (and routes.extend.yaml, whose rules take precedence)."""
    path = Path(path or DATA_DIR / "routes.yaml")
    codes, rules = _parse(read_yaml(path), path, None)
    if extend is not None:
        codes, more = _parse(read_yaml(extend), Path(extend), codes)
        rules = more + rules
    return RouteMap(codes, tuple(rules))
