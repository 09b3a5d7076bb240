"""The `compare` rule kind: a left side, an operator and a right side, each side an arithmetic expression over
fields (DHIS2-style validation rules, see expectations/rules.yaml's header).

Expressions are parsed here into small trees (never eval'd), rendered to SQL over the pivoted values and to
Chinese text for the findings; `finding()` words one failed comparison.
"""
from __future__ import annotations

import dataclasses
import math
import re
import string
from typing import TYPE_CHECKING, Any, Callable

from metrics.catalog import CatalogError

if TYPE_CHECKING:   # compile.py imports this module; the Rule type is only needed for annotations
    from expectations.compile import Rule
    from expectations.findings import Finding

# --- operators ---------------------------------------------------------------------------------------------

COMPARISONS = ("=", "!=", "<", "<=", ">", ">=")
PAIRS = ("compulsory_pair", "exclusive_pair")   # both sides filled or both blank / at most one side filled
OPERATORS = COMPARISONS + PAIRS
# spellings accepted in a rules file for the canonical operators
ALIASES = {"==": "=", "≠": "!=", "<>": "!=", "≤": "<=", "≥": ">="}
OP_WORDS = {"=": "应等于（=）", "!=": "应不等于（≠）", "<": "应小于（<）", "<=": "应不大于（≤）",
            ">": "应大于（>）", ">=": "应不小于（≥）"}
# what a blank operand does to a comparison (the pair operators judge blanks themselves)
MISSING = ("skip_if_any", "skip_if_all", "never")
DEFAULT_MISSING = "skip_if_any"
# a gap this small relative to the operands is float noise (100.01 − 100 = 0.010000000000005), not a breach
EPSILON = 1e-9

# --- expressions -------------------------------------------------------------------------------------------

# An expression tree: ("num", 2.0) | ("field", "oe_visits") | ("neg", e) | ("bin", "+", a, b) with + - * /
Expr = tuple

_TOKEN = re.compile(r"\s*(?:(?P<num>\d+(?:\.\d+)?|\.\d+)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>[-+*/()×÷−（）]))")
_OP_CANON = {"×": "*", "÷": "/", "−": "-", "（": "(", "）": ")"}
_PREC = {"+": 1, "-": 1, "*": 2, "/": 2}


def _tokens(text: str, where: str) -> list[tuple[str, str, int]]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            at = len(text) - len(text[pos:].lstrip())
            raise CatalogError(f"{where}: cannot read {text!r} at position {at + 1} ({text[at:at + 8]!r})")
        kind = m.lastgroup or ""
        val = m.group(kind)
        out.append((kind, _OP_CANON.get(val, val), m.start(kind)))
        pos = m.end()
    return out


def parse_expression(source: Any, known: Callable[[str], bool], where: str) -> Expr:
    """An expression (text or a number) as a tree; unknown fields and syntax errors raise CatalogError at where.

    Grammar: expr = term (('+'|'-') term)*; term = factor (('*'|'/') factor)*;
    factor = ('+'|'-') factor | number | field | '(' expr ')'. × ÷ − are accepted for * / -.
    """
    if isinstance(source, bool) or not isinstance(source, (str, int, float)):
        raise CatalogError(f"{where}: must be an expression over fields (text) or a number, got {source!r}")
    if not isinstance(source, str):
        if not math.isfinite(source):
            raise CatalogError(f"{where}: must be a finite number, got {source!r}")
        return ("num", float(source))
    text = source
    toks = _tokens(text, where)
    if not toks:
        raise CatalogError(f"{where}: empty expression")
    i = 0

    def peek() -> tuple[str, str, int] | None:
        return toks[i] if i < len(toks) else None

    def fail(msg: str) -> CatalogError:
        t = peek()
        at = f"position {t[2] + 1}" if t else "the end"
        return CatalogError(f"{where}: {msg} at {at} of {text!r}")

    def expr() -> Expr:
        nonlocal i
        node = term()
        while (t := peek()) and t[0] == "op" and t[1] in "+-":
            i += 1
            node = ("bin", t[1], node, term())
        return node

    def term() -> Expr:
        nonlocal i
        node = factor()
        while (t := peek()) and t[0] == "op" and t[1] in "*/":
            i += 1
            node = ("bin", t[1], node, factor())
        return node

    def factor() -> Expr:
        nonlocal i
        t = peek()
        if t is None:
            raise fail("expected a number, a field or '('")
        kind, val, _ = t
        if kind == "op" and val in "+-":
            i += 1
            inner = factor()
            return inner if val == "+" else ("neg", inner)
        if kind == "num":
            i += 1
            return ("num", float(val))
        if kind == "name":
            if not known(val):
                raise CatalogError(f"{where}: unknown field {val!r} in {text!r}")
            i += 1
            return ("field", val)
        if kind == "op" and val == "(":
            i += 1
            node = expr()
            if (t := peek()) is None or t[1] != ")":
                raise fail("expected ')'")
            i += 1
            return node
        raise fail(f"unexpected {val!r}")

    tree = expr()
    if peek() is not None:
        raise fail(f"unexpected {peek()[1]!r}")   # type: ignore[index]
    return tree


def fields_of(expr: Expr) -> list[str]:
    """The fields an expression reads, in order of first appearance."""
    if expr[0] == "field":
        return [expr[1]]
    if expr[0] == "neg":
        return fields_of(expr[1])
    if expr[0] == "bin":
        return list(dict.fromkeys(fields_of(expr[2]) + fields_of(expr[3])))
    return []


def evaluate(expr: Expr, values: dict[str, float]) -> float | None:
    """The expression's value over plain numbers (None when it divides by zero); the SQL's reference semantics."""
    kind = expr[0]
    if kind == "num":
        return expr[1]
    if kind == "field":
        return values[expr[1]]
    if kind == "neg":
        x = evaluate(expr[1], values)
        return None if x is None else -x
    a, b = evaluate(expr[2], values), evaluate(expr[3], values)
    if a is None or b is None:
        return None
    op = expr[1]
    if op == "/":
        return None if b == 0 else a / b
    return a + b if op == "+" else a - b if op == "-" else a * b


def to_sql(expr: Expr, column: Callable[[str], str]) -> str:
    """The expression as SQL; column(field) gives each field's SQL. A zero divisor makes the side NULL (undefined)."""
    kind = expr[0]
    if kind == "num":
        return f"CAST({expr[1]!r} AS DOUBLE)"
    if kind == "field":
        return column(expr[1])
    if kind == "neg":
        return f"(-{to_sql(expr[1], column)})"
    a, b = to_sql(expr[2], column), to_sql(expr[3], column)
    if expr[1] == "/":
        return f"({a} / NULLIF({b}, 0))"
    return f"({a} {expr[1]} {b})"


def _num_text(x: float | None, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    r = round(float(x), digits)
    if r == int(r):
        return str(int(r))
    return f"{r:.{digits}f}".rstrip("0").rstrip(".")


_SHOWN = {"+": "+", "-": "−", "*": "×", "/": "÷"}


def to_text(expr: Expr, label: Callable[[str], str]) -> str:
    """The expression as people read it: field labels, × ÷ −, parentheses only where needed."""
    def show(e: Expr, parent: int = 0, right: bool = False) -> str:
        kind = e[0]
        if kind == "num":
            return _num_text(e[1], 6)
        if kind == "field":
            return label(e[1])
        if kind == "neg":
            return "−" + show(e[1], 3)
        p = _PREC[e[1]]
        s = f"{show(e[2], p)} {_SHOWN[e[1]]} {show(e[3], p, True)}"
        # a − (b + c), a ÷ (b × c): the right operand of − and ÷ keeps its parentheses at equal precedence
        return f"({s})" if p < parent or (right and p == parent and parent) else s
    return show(expr)


# --- findings ----------------------------------------------------------------------------------------------

STAGE = "validate"   # as expectations.validate.STAGE (not imported: validate imports this module)


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


def _side(expr: Expr, value: float | None, label: Callable[[str], str]) -> str:
    """One side as it appears in a message: 「门急诊人次」38000, 「实际开放床位数 × 31」18600, or a bare number."""
    if expr[0] == "num":
        return _num_text(expr[1], 6)
    text = f"「{to_text(expr, label)}」"
    return f"{text}{_num_text(value)}" if value is not None else f"{text}未填写"


def tolerance_text(rule: Rule, right: float | None, unit: str) -> str:
    """The allowed gap in words: （允许误差 ±0.01 万元 + 右侧的 0.1%，即 ±1.61 万元）; empty when there is none."""
    if not rule.tol_abs and not rule.tol_rel:
        return ""
    parts = []
    if rule.tol_abs:
        parts.append(f"±{_num_text(rule.tol_abs, 6)} {unit}".rstrip())
    if rule.tol_rel:
        parts.append(f"{'' if rule.tol_abs else '±'}右侧的 {_num_text(rule.tol_rel * 100, 4)}%")
    text = " + ".join(parts)
    if rule.tol_rel and right is not None:
        allowed = rule.tol_abs + rule.tol_rel * abs(right)
        text += f"，即 ±{_num_text(allowed)} {unit}".rstrip()
    return f"（允许误差 {text}）"


def detail(rule: Rule, left: float | None, right: float | None, zeros: list[str], empty: str | None,
           label: Callable[[str], str], unit: str) -> str:
    """The sentence telling what the rule wanted and what the return holds."""
    lhs, rhs = rule.lhs, rule.rhs
    if rule.op == "compulsory_pair":
        filled, blank = (rhs, lhs) if empty == "left" else (lhs, rhs)
        shown = right if empty == "left" else left
        return (f"已填写{_side(filled, shown, label)}，但「{to_text(blank, label)}」未填写；"
                f"两项应同时填写或同时留空")
    if rule.op == "exclusive_pair":
        return f"{_side(lhs, left, label)}与{_side(rhs, right, label)}都已填写；两项最多只能填写一项"
    text = f"{_side(lhs, left, label)}，{OP_WORDS[rule.op]}{_side(rhs, right, label)}"
    text += tolerance_text(rule, right, unit)
    if zeros:
        text += "；未填写的" + "、".join(f"「{label(z)}」" for z in zeros) + "按 0 计"
    return text


def finding(rule: Rule, meta: dict[str, Any], hit: dict[str, Any], ctx: dict[str, Any], sub: dict[str, Any],
            label: Callable[[str], str], unit: Callable[[str], str]) -> Finding:
    """The Finding of one failed comparison row: on the left field's cell, or (an error's companion row) on the
    cell of another field it reads, so the error blocks that field too."""
    from expectations.findings import make

    def num(x: Any) -> float | None:
        return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)

    left, right = num(ctx.get("value_num")), num(ctx.get("other_num"))
    other_text = ctx.get("other_text")
    other_text = None if other_text is None or (isinstance(other_text, float) and math.isnan(other_text)) \
        else str(other_text)
    zeros = other_text.split(",") if other_text and rule.op in COMPARISONS else []
    empty = other_text if rule.op in PAIRS else None
    field, cell = hit["field"], hit["cell"]
    text = detail(rule, left, right, zeros, empty, label, unit(rule.left or ""))
    if field == rule.left:
        value, expected = _num_text(left) or None, _num_text(right) or None
    else:   # a companion row: the field's own value (value_text)
        own = ctx.get("value_text")
        own = None if own is None or (isinstance(own, float) and math.isnan(own)) else own
        value, expected = (_num_text(float(own)) if own is not None else None), None
    field_zh = label(field)
    f = make(meta["code"], severity=meta["severity"], field_zh=field_zh, detail=text,
             period=sub["finding_period"], facility_id=_opt(sub["facility_id"]), submission_id=hit["submission_id"],
             file=_opt(sub["original_name"]), sheet=hit["sheet"], cell=cell, field=field, value=value,
             expected=expected, rule_id=rule.id)
    f = dataclasses.replace(f, stage=STAGE)
    if rule.message or rule.fix:
        loc = _Blank({k: ("" if x is None else x) for k, x in dataclasses.asdict(f).items()})
        loc["field_zh"], loc["detail"] = field_zh, text
        fmt = string.Formatter()
        if rule.message:
            f = dataclasses.replace(f, message_zh=fmt.vformat(rule.message, (), loc))
        if rule.fix:
            f = dataclasses.replace(f, fix_zh=fmt.vformat(rule.fix, (), loc))
    return f


def _opt(x: Any) -> str | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else str(x)
