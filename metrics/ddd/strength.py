"""Parse Chinese product strengths (规格) into an amount per smallest unit, pack multiplier and combination parts."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from decimal import Decimal

MASS, UNITS, VOLUME = "mass", "units", "volume"
CANONICAL = {MASS: "g", UNITS: "MU"}

_UNIT_FACTORS: dict[str, tuple[str, Decimal]] = {
    "kg": (MASS, Decimal(1000)), "g": (MASS, Decimal(1)), "克": (MASS, Decimal(1)),
    "mg": (MASS, Decimal("0.001")), "毫克": (MASS, Decimal("0.001")),
    "mcg": (MASS, Decimal("0.000001")), "μg": (MASS, Decimal("0.000001")), "ug": (MASS, Decimal("0.000001")),
    "微克": (MASS, Decimal("0.000001")),
    "mu": (UNITS, Decimal(1)), "miu": (UNITS, Decimal(1)),
    "u": (UNITS, Decimal("0.000001")), "iu": (UNITS, Decimal("0.000001")), "单位": (UNITS, Decimal("0.000001")),
    "国际单位": (UNITS, Decimal("0.000001")),
    "ml": (VOLUME, Decimal(1)), "毫升": (VOLUME, Decimal(1)), "l": (VOLUME, Decimal(1000)),
}
_MULTIPLIERS = {"": Decimal(1), "千": Decimal(1000), "万": Decimal(10000), "百万": Decimal(1_000_000)}
COUNT_WORDS = ("安瓿", "瓶装", "粒", "片", "支", "瓶", "袋", "丸", "枚", "包", "只", "管", "板", "盒", "贴", "揿",
               "喷", "块", "条", "套", "听", "桶", "箱", "小盒", "排")
_COUNT_ALT = "|".join(sorted(COUNT_WORDS, key=len, reverse=True))
_UNIT_ALT = "mcg|μg|ug|mg|kg|miu|mu|iu|ml|g|u|l|毫克|微克|克|国际单位|单位|毫升"
_NUM = r"(?:\d+(?:\.\d+)?|\.\d+)"
_TOKEN = re.compile(
    rf"(?P<qty>(?P<num>{_NUM})(?P<mul>百万|千|万)?(?P<unit>{_UNIT_ALT})(?![a-z]))"
    rf"|(?P<count>×?(?P<cnum>\d+)(?P<cword>{_COUNT_ALT}))"
    rf"|(?P<xcount>×(?P<xnum>\d+))"
    rf"|(?P<slash>/(?P<sword>{_COUNT_ALT}))"
    rf"|(?P<conc>/(?:ml|毫升)(?![a-z]))"
    rf"|(?P<pct>{_NUM}%)",
    re.IGNORECASE,
)
_PARENS = re.compile(r"\(([^()]*)\)")
_RATIO = re.compile(rf"^({_NUM})(?::({_NUM}))+$")
_LABEL = re.compile(r"([A-Za-z\u4e00-\u9fff]+)$")


@dataclass(frozen=True)
class Strength:
    text: str
    amount: Decimal                          # per smallest unit, in `unit`
    unit: str                                # "g" or "MU"
    pack: int = 1                            # smallest units per pack (×12粒 → 12)
    unit_word: str | None = None             # the smallest unit (粒, 片, 支, 瓶, 袋 …) when written
    pack_word: str | None = None             # the pack after "/" (…×10支/盒 → 盒) when written
    parts: tuple[Decimal, ...] = ()          # combination amounts in `unit`, in written order
    part_labels: tuple[str, ...] = ()        # names written before the parts (哌拉西林2.0g, …) or ""
    ratio: tuple[Decimal, ...] | None = None # a ratio written without amounts, e.g. (2:1)
    volume_ml: Decimal | None = None         # volume per smallest unit ("0.5g:100ml")
    alt_amount: Decimal | None = None        # the same amount in the other dimension ("0.25g(25万单位)")
    alt_unit: str | None = None
    basis: str | None = None                 # what the amount is expressed as ("按C计", "以无水物计")

    def amount_in(self, dimension_unit: str) -> Decimal | None:
        """The amount in g or MU when the strength states it in that dimension, else None."""
        if self.unit == dimension_unit:
            return self.amount
        if self.alt_unit == dimension_unit:
            return self.alt_amount
        return None


@dataclass(frozen=True)
class _Qty:
    dim: str
    value: Decimal                           # canonical: g, MU or ml
    start: int
    end: int


def normalise(text: str) -> str:
    """NFKC, no whitespace, one multiplication sign (× for *, x, X, ✕ before a digit)."""
    s = "".join(unicodedata.normalize("NFKC", text or "").split())
    s = s.replace("µ", "μ")
    return re.sub(r"[×*xX✕](?=\d)", "×", s)


def _tokens(s: str) -> tuple[list[_Qty], list[tuple[int, str | None]], list[tuple[int, str]], bool, bool]:
    qtys, counts, slashes, conc, pct = [], [], [], False, False
    for m in _TOKEN.finditer(s):
        if m.group("qty"):
            unit = m.group("unit").lower()
            dim, factor = _UNIT_FACTORS[unit]
            mul = _MULTIPLIERS[m.group("mul") or ""]
            if dim != UNITS and mul != 1:
                continue
            qtys.append(_Qty(dim, Decimal(m.group("num")) * mul * factor, m.start(), m.end()))
        elif m.group("count"):
            counts.append((int(m.group("cnum")), m.group("cword")))
        elif m.group("xcount"):
            counts.append((int(m.group("xnum")), None))
        elif m.group("slash"):
            slashes.append((m.start(), m.group("sword")))
        elif m.group("conc"):
            conc = True
        elif m.group("pct"):
            pct = True
    return qtys, counts, slashes, conc, pct


def _first_count_pos(s: str) -> int:
    m = re.search(rf"×?\d+(?:{_COUNT_ALT})|×\d+", s)
    return m.start() if m else len(s)


def parse_strength(text: str | None) -> Strength | None:
    """A product strength as amount per smallest unit (g or MU), pack multiplier and parts; None if unreadable."""
    if text is None:
        return None
    return _parse(str(text))


@lru_cache(maxsize=8192)
def _parse(text: str) -> Strength | None:
    s = normalise(text)
    if not s:
        return None
    groups = _PARENS.findall(s)
    main = _PARENS.sub(" ", s)
    qtys, counts, slashes, conc, pct = _tokens(main)
    masses = [q for q in qtys if q.dim == MASS]
    units = [q for q in qtys if q.dim == UNITS]
    vols = [q for q in qtys if q.dim == VOLUME]

    parts: tuple[Decimal, ...] = ()
    labels: tuple[str, ...] = ()
    ratio = None
    basis = None
    p_mass: list[Decimal] = []
    p_units: list[Decimal] = []
    for g in groups:
        if _RATIO.match(g):
            r = tuple(Decimal(x) for x in g.split(":"))
            if all(x > 0 for x in r):
                ratio = r
            continue
        gq, _, _, _, _ = _tokens(g)
        gm = [q for q in gq if q.dim == MASS]
        if len(gm) >= 2 and not parts:
            parts = tuple(q.value for q in gm)
            prev = 0
            labs = []
            for q in gm:
                lm = _LABEL.search(g[prev:q.start])
                labs.append(lm.group(1) if lm else "")
                prev = q.end
            labels = tuple(labs)
        elif len(gm) == 1:
            p_mass.append(gm[0].value)
        p_units += [q.value for q in gq if q.dim == UNITS]
        vols += [q for q in gq if q.dim == VOLUME]
        rest = _TOKEN.sub("", g)
        if "计" in rest and basis is None:
            basis = rest

    amount = alt = None
    unit = alt_unit = None
    if len(masses) >= 2:
        if not parts:
            parts = tuple(q.value for q in masses)
            labels = ("",) * len(parts)
        amount, unit = sum(parts, Decimal(0)), "g"
    elif masses:
        amount, unit = masses[0].value, "g"
        if units or p_units:
            alt, alt_unit = (units[0].value if units else p_units[0]), "MU"
    elif units:
        amount, unit = units[0].value, "MU"
        if p_mass:
            alt, alt_unit = p_mass[0], "g"
    elif parts:
        amount, unit = sum(parts, Decimal(0)), "g"
    elif p_mass:
        amount, unit = p_mass[0], "g"
    elif p_units:
        amount, unit = p_units[0], "MU"
    if amount is None or amount <= 0:
        return None
    if (conc or pct) and not vols:
        return None                                  # a concentration (40mg/ml, 0.3%) gives no amount per unit
    if ratio and not parts and unit == "g" and len(ratio) >= 2:
        total = sum(ratio, Decimal(0))
        parts = tuple(amount * r / total for r in ratio)
        labels = ("",) * len(parts)

    pack = 1
    for n, _ in counts:
        pack *= n
    if pack <= 0:
        return None
    first_count = _first_count_pos(main)
    unit_word = next((w for pos, w in slashes if pos < first_count), None)
    pack_word = next((w for pos, w in slashes if pos > first_count), None)
    if unit_word is None and counts:
        unit_word = counts[0][1]
    return Strength(str(text), amount, unit, pack, unit_word, pack_word, parts, labels if parts else (), ratio,
                    vols[0].value if vols else None, alt, alt_unit, basis)
