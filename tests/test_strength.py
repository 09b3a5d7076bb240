"""Strength strings (规格) → amount per smallest unit (g or MU), pack multiplier and combination parts."""
from __future__ import annotations

from decimal import Decimal as D

import pytest

from metrics.ddd.strength import parse_strength

# text → (amount, unit, pack, parts)
CASES = [
    ("0.25g×12粒", D("0.25"), "g", 12, ()),
    ("0.25g*24片", D("0.25"), "g", 24, ()),
    ("1g/支", D("1"), "g", 1, ()),
    ("0.5g", D("0.5"), "g", 1, ()),
    ("250mg", D("0.25"), "g", 1, ()),                                 # 250 mg = 0.25 g
    ("80万U/支", D("0.8"), "MU", 1, ()),                              # 800,000 U = 0.8 MU
    ("80万单位", D("0.8"), "MU", 1, ()),
    ("160万IU", D("1.6"), "MU", 1, ()),
    ("4.5g(4.0g:0.5g)", D("4.5"), "g", 1, (D("4.0"), D("0.5"))),
    ("2.25g(2.0g/0.25g)", D("2.25"), "g", 1, (D("2.0"), D("0.25"))),
    ("0.5g:100ml", D("0.5"), "g", 1, ()),                             # per 100 ml bottle
    ("100ml:0.2g", D("0.2"), "g", 1, ()),
    ("0.2g/100ml", D("0.2"), "g", 1, ()),
    ("1.2g(按C计)", D("1.2"), "g", 1, ()),
    ("50mg(以无水物计)", D("0.05"), "g", 1, ()),
    ("０．２５ｇ×１２粒", D("0.25"), "g", 12, ()),                       # full-width characters
    (" 0.25 g × 12 粒 ", D("0.25"), "g", 12, ()),                     # spaces
    ("0.1g×6片×2板", D("0.1"), "g", 12, ()),                          # 6 × 2 = 12 tablets a box
    ("500mg×10片/盒", D("0.5"), "g", 10, ()),
    ("0.125g/袋×6袋", D("0.125"), "g", 6, ()),
    ("2ml:8万单位", D("0.08"), "MU", 1, ()),                          # gentamicin ampoule
    ("1.5g(2:1)", D("1.5"), "g", 1, (D("1.0"), D("0.5"))),            # ratio only: 1.5 × 2/3, 1.5 × 1/3
    ("2.5g(哌拉西林2.0g,他唑巴坦0.5g)", D("2.5"), "g", 1, (D("2.0"), D("0.5"))),
    ("156.25mg(阿莫西林125mg,克拉维酸31.25mg)", D("0.15625"), "g", 1, (D("0.125"), D("0.03125"))),
    ("4.0g:0.5g", D("4.5"), "g", 1, (D("4.0"), D("0.5"))),            # parts without a total: total = sum
    ("0.375g(0.25g:0.125g)×12片", D("0.375"), "g", 12, (D("0.25"), D("0.125"))),
    ("150mg(以黏菌素计)", D("0.15"), "g", 1, ()),
    ("10ml:0.1g×5支", D("0.1"), "g", 5, ()),
    ("0.5 G", D("0.5"), "g", 1, ()),
    ("0.1gx10片", D("0.1"), "g", 10, ()),
    ("450万IU", D("4.5"), "MU", 1, ()),
    ("1g(100万单位)", D("1"), "g", 1, ()),
    ("0.25克×12粒", D("0.25"), "g", 12, ()),
    ("0.48g(SMZ0.4g,TMP0.08g)", D("0.48"), "g", 1, (D("0.4"), D("0.08"))),
]


@pytest.mark.parametrize("text,amount,unit,pack,parts", CASES, ids=[c[0] for c in CASES])
def test_parse_strength_table(text: str, amount: D, unit: str, pack: int, parts: tuple) -> None:
    s = parse_strength(text)
    assert s is not None, text
    assert (s.amount, s.unit, s.pack, s.parts) == (amount, unit, pack, parts)


@pytest.mark.parametrize("text", ["", "   ", "适量", "abc", "5mg/ml", "40mg/ml", "0.3%", None, "0g"])
def test_unreadable_strengths_are_none(text: str | None) -> None:
    assert parse_strength(text) is None


def test_details_kept_for_counting_and_combinations() -> None:
    s = parse_strength("500mg×10片/盒")
    assert (s.unit_word, s.pack_word) == ("片", "盒")
    s = parse_strength("0.25g(25万单位)")                 # both dimensions written
    assert (s.amount, s.unit, s.alt_amount, s.alt_unit) == (D("0.25"), "g", D("0.25"), "MU")
    assert s.amount_in("MU") == D("0.25")
    s = parse_strength("2.5g(哌拉西林2.0g,他唑巴坦0.5g)")
    assert s.part_labels == ("哌拉西林", "他唑巴坦")
    assert parse_strength("0.5g:100ml").volume_ml == D("100")
    assert parse_strength("1.2g(按C计)").basis == "按C计"
    assert parse_strength("1.5g(2:1)").ratio == (D("2"), D("1"))
    assert parse_strength("1g/支").unit_word == "支"


_ALPHABET = "0123456789.:/()*×xX万单位UIMgmlk粒片支盒瓶袋按以计 ：（）"


def test_parse_strength_never_raises() -> None:
    from hypothesis import given, settings, strategies as st

    @settings(max_examples=300, deadline=None)
    @given(st.text(alphabet=_ALPHABET, max_size=24))
    def check(text: str) -> None:
        s = parse_strength(text)
        assert s is None or (s.amount > 0 and s.pack >= 1 and s.unit in ("g", "MU"))

    check()
