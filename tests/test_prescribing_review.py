"""处方评价表 summary A–P by hand, INRUD verdicts, code frequencies, sampling adequacy and period aggregation."""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from metrics.catalog import CatalogError
from metrics.prescribing.review import (INRUD_FILE, REVIEW_FILE, SampleCounts, SampleRow, check_adequacy,
                                        count_sample, load_inrud, load_review_config, summarize, summarize_month,
                                        summarize_period)

D = Decimal

# Eight sampled prescriptions of one facility-month.
#  #  drugs  ab  inj  ess  gen  amount   rational  codes cell
ROWS = [
    SampleRow(2, 1, 0, 1, 2, D("35.50"), 1, ""),
    SampleRow(3, 0, 1, 2, 3, D("120.00"), 0, "1-7、2-5"),
    SampleRow(1, 0, 0, 1, 1, D("8.20"), 1, "无"),
    SampleRow(4, 1, 1, 2, 3, D("260.30"), 0, "2-2,2-7"),
    SampleRow(2, 0, 1, 2, 2, D("15.00"), 1, "/"),
    SampleRow(6, 1, 0, 3, 5, D("88.80"), 0, "1-11；3-2"),
    SampleRow(1, 0, 1, 0, 1, D("5.60"), 1, None),
    SampleRow(3, 0, 1, 2, 2, D("66.64"), 0, "1－7 1-10"),
]
# N = 8
# A = 2+3+1+4+2+6+1+3 = 22                 B = A/N = 22/8 = 2.75
# C = 1+0+0+1+0+1+0+0 = 3                  D = C/N×100 = 3/8×100 = 37.50
# E = 0+1+0+1+1+0+1+1 = 5                  F = E/N×100 = 5/8×100 = 62.50
# G = 1+2+1+2+2+3+0+2 = 13                 H = G/A×100 = 13/22×100 = 59.0909… → 59.09
# I = 2+3+1+3+2+5+1+2 = 19                 J = I/A×100 = 19/22×100 = 86.3636… → 86.36
# K = 35.50+120.00+8.20+260.30+15.00+88.80+5.60+66.64 = 600.04
#                                          L = K/N = 600.04/8 = 75.005 → 75.01 (half-up; half-even would give 75.00)
# O = 1+0+1+0+1+0+1+0 = 4                  P = O/N×100 = 4/8×100 = 50.00


def test_summary_indicators_by_hand() -> None:
    s = summarize_month(ROWS, total_outpatient=5000, method="random")
    c = s.counts
    assert (c.n, c.a, c.c, c.e, c.g, c.i, c.k, c.o) == (8, 22, 3, 5, 13, 19, D("600.04"), 4)
    got = {sym: ind.value for sym, ind in s.indicators.items()}
    assert got == {"B": D("2.75"), "D": D("37.50"), "F": D("62.50"), "H": D("59.09"), "J": D("86.36"),
                   "L": D("75.01"), "P": D("50.00")}
    # published precision: exactly two decimals, e.g. 37.50 not 37.5
    assert all(v.as_tuple().exponent == -2 for v in got.values())
    assert (s.indicators["H"].numerator, s.indicators["H"].denominator) == (D(13), D(22))
    assert [r[0] for r in s.rows()] == ["N", "A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L", "O", "P"]
    assert s.rows()[0] == ("N", "点评处方数", D(8), "")


def test_problem_code_frequencies_by_class_and_code() -> None:
    s = summarize_month(ROWS, total_outpatient=5000)
    # codes: row 2 {1-7, 2-5}; row 4 {2-2, 2-7}; row 6 {1-11, 3-2}; row 8 {1-7, 1-10}
    # 不规范 (1-x): rows 2, 6, 8 → 3 prescriptions (3/8 = 37.50 %); occurrences 1-7 ×2 + 1-11 + 1-10 = 4
    # 用药不适宜 (2-x): rows 2, 4 → 2 prescriptions (25.00 %); occurrences 2-5 + 2-2 + 2-7 = 3
    # 超常 (3-x): row 6 → 1 prescription (12.50 %); occurrences 1
    assert [(f.name_zh, f.prescriptions, f.occurrences, f.share) for f in s.classes] == [
        ("不规范处方", 3, 4, D("37.50")), ("用药不适宜处方", 2, 3, D("25.00")), ("超常处方", 1, 1, D("12.50"))]
    # by code, most frequent first, then in code order: 1-7 (2 = 25.00 %), then one each
    assert [(f.code, f.prescriptions, f.share) for f in s.codes] == [
        ("1-7", 2, D("25.00")), ("1-10", 1, D("12.50")), ("1-11", 1, D("12.50")), ("2-2", 1, D("12.50")),
        ("2-5", 1, D("12.50")), ("2-7", 1, D("12.50")), ("3-2", 1, D("12.50"))]
    assert s.codes[0].class_name_zh == "不规范处方"
    assert s.counts.with_problems == 4
    assert s.counts.unknown_codes == {}


def test_unknown_codes_are_counted_not_dropped() -> None:
    rows = [SampleRow(1, 0, 0, 1, 1, 10, 0, "1-7、9-9"), SampleRow(1, 0, 0, 1, 1, 10, 0, "9-9"),
            SampleRow(1, 0, 0, 1, 1, 10, 0, ["2-5", "X"])]
    c = count_sample(rows)
    assert c.code_counts == {"1-7": 1, "2-5": 1}
    assert c.unknown_codes == {"9-9": 2, "X": 1}


def test_zero_drug_items_make_h_and_j_undefined() -> None:
    # two prescriptions without any drug item: A = 0 → B = 0/2 = 0.00, H = G/A and J = I/A undefined
    rows = [SampleRow(0, 0, 0, 0, 0, 0, 1, ""), SampleRow(0, 0, 0, 0, 0, 0, 1, "")]
    s = summarize_month(rows, total_outpatient=100)
    assert s.indicators["B"].value == D("0.00")
    assert (s.indicators["H"].value, s.indicators["H"].status) == (None, "undefined")
    assert (s.indicators["J"].value, s.indicators["J"].status) == (None, "undefined")
    inrud = {r.symbol: r for r in s.inrud}
    assert (inrud["H"].verdict, inrud["H"].in_optimal) == ("无定义", None)
    assert inrud["B"].verdict == "达标"           # 0.00 < 2
    assert s.indicators["P"].value == D("100.00")


def test_empty_sample_is_undefined_everywhere() -> None:
    s = summarize_month([], total_outpatient=1000)
    assert all(ind.value is None and ind.status == "undefined" for ind in s.indicators.values())
    assert all(r.verdict == "无定义" for r in s.inrud)
    assert all(f.share is None for f in s.classes)
    assert not s.adequacy.adequate


def test_inrud_table_and_verdicts() -> None:
    s = summarize_month(ROWS, total_outpatient=5000)
    rows = {r.symbol: r for r in s.inrud}
    assert list(rows) == ["B", "D", "F", "H", "J"]
    assert (rows["B"].reference_text, rows["B"].optimal_text) == ("<2", "1.6–1.8")
    assert (rows["D"].reference_text, rows["D"].optimal_text) == ("<30%", "20.0–26.8%")
    assert (rows["F"].reference_text, rows["F"].optimal_text) == ("<20%", "13.4–24.1%")
    assert (rows["H"].reference_text, rows["H"].optimal_text) == ("≥100%", "100%")
    # 2.75 ≮ 2, 37.50 ≮ 30, 62.50 ≮ 20, 59.09 < 100, 86.36 < 100 → every one 未达标
    assert {k: r.verdict for k, r in rows.items()} == dict.fromkeys("BDFHJ", "未达标")
    # 8 of 5,000 is below 100: every row is marked
    assert all(r.mark == "样本量不足" for r in rows.values())
    assert all(i.mark == "样本量不足" for i in s.indicators.values())

    # N = 100, A = 170, C = 25, E = 15, G = I = 170:
    # B = 1.70 (<2, inside 1.6–1.8), D = 25.00 (<30, inside 20.0–26.8), F = 15.00 (<20, inside 13.4–24.1),
    # H = J = 100.00 (≥100, optimal)
    good = SampleCounts(n=100, a=170, c=25, e=15, g=170, i=170, k=D("5000"), o=95, total_outpatient=50_000)
    s2 = summarize(good)
    assert {r.symbol: (r.value, r.verdict, r.in_optimal, r.mark) for r in s2.inrud} == {
        "B": (D("1.70"), "达标", True, None), "D": (D("25.00"), "达标", True, None),
        "F": (D("15.00"), "达标", True, None), "H": (D("100.00"), "达标", True, None),
        "J": (D("100.00"), "达标", True, None)}

    # the verdict reads the published value: A/N = 499/250 = 1.996 → 2.00, which is not < 2
    edge = SampleCounts(n=250, a=499, c=50, e=25, g=400, i=499, total_outpatient=100_000)
    b = {r.symbol: r for r in summarize(edge).inrud}["B"]
    assert (b.value, b.verdict, b.in_optimal) == (D("2.00"), "未达标", False)
    # D = 50/250 = 20.00 → < 30 达标 and on the optimal range's lower edge
    d = {r.symbol: r for r in summarize(edge).inrud}["D"]
    assert (d.value, d.verdict, d.in_optimal) == (D("20.00"), "达标", True)


@pytest.mark.parametrize("sampled, total, adequate, required, words", [
    (99, 50_000, False, 100, "少于100张"),                    # 1‰ of 50,000 = 50 < 100: the 100 rule binds
    (100, 50_000, True, 100, "达到要求"),
    (120, 200_000, False, 200, "需200张"),                    # ≥ 100 but 1‰ of 200,000 = 200
    (250, 200_000, True, 200, "达到要求"),
    (200, 200_000, True, 200, "达到要求"),                    # exactly 1‰
    (150, 150_001, False, 151, "需151张"),                    # ⌈150.001⌉ = 151
    (50, 200_000, False, 200, "少于100张，且少于"),
])
def test_sampling_adequacy(sampled: int, total: int, adequate: bool, required: int, words: str) -> None:
    a = check_adequacy(sampled, total)
    assert (a.adequate, a.required) == (adequate, required)
    assert words in a.reason_zh


def test_sampling_adequacy_unknown_total_and_inconsistent_total() -> None:
    a = check_adequacy(150, None)
    assert not a.adequate and a.required is None and "未报告" in a.reason_zh
    b = check_adequacy(150, 120)
    assert not b.adequate and "数据不一致" in b.reason_zh


def test_sampling_thresholds_are_configurable(tmp_path: Path) -> None:
    doc = yaml.safe_load(REVIEW_FILE.read_text(encoding="utf-8"))
    doc["sampling"] = {"min_count": 50, "min_fraction": 0.005}
    p = tmp_path / "review.yaml"
    p.write_text(yaml.safe_dump(doc), encoding="utf-8")
    cfg = load_review_config(p)
    # 5‰ of 20,000 = 100 > 50
    a = check_adequacy(80, 20_000, cfg)
    assert (a.adequate, a.required) == (False, 100) and "5‰" in a.reason_zh
    assert check_adequacy(60, 5_000, cfg).adequate          # 5‰ of 5,000 = 25 < 50 ≤ 60


def test_quarter_is_a_ratio_of_sums_not_a_mean_of_monthly_rates() -> None:
    # month   N    C    D (month)   total outpatient   required (max(100, ⌈1‰⌉))
    # 01     100   10   10.00 %      50,000            100   → adequate
    # 02     300  120   40.00 %     200,000            200   → adequate
    # 03     200   20   10.00 %     250,000            250   → inadequate
    # mean of monthly D = (10 + 40 + 10) / 3 = 20.00 %; quarter D = (10+120+20)/(100+300+200) = 150/600 = 25.00 %
    months = {
        "2026-01": SampleCounts(n=100, a=200, c=10, e=5, g=150, i=190, k=D("5000.00"), o=90, total_outpatient=50_000,
                                method="random"),
        "2026-02": SampleCounts(n=300, a=450, c=120, e=30, g=300, i=420, k=D("15000.50"), o=240,
                                total_outpatient=200_000, method="random"),
        "2026-03": SampleCounts(n=200, a=350, c=20, e=15, g=250, i=330, k=D("9999.50"), o=190,
                                total_outpatient=250_000, method="random"),
    }
    monthly = [summarize(m).indicators["D"].value for m in months.values()]
    assert monthly == [D("10.00"), D("40.00"), D("10.00")]
    assert sum(monthly) / 3 == D("20.00")
    q = summarize_period(months)
    assert q.indicators["D"].value == D("25.00")
    # B = ΣA/ΣN = (200+450+350)/600 = 1000/600 = 1.6666… → 1.67; L = ΣK/ΣN = 30000.00/600 = 50.00
    # P = ΣO/ΣN = (90+240+190)/600 = 520/600 = 86.666… → 86.67
    assert (q.indicators["B"].value, q.indicators["L"].value, q.indicators["P"].value) == (
        D("1.67"), D("50.00"), D("86.67"))
    assert (q.counts.n, q.counts.total_outpatient, q.counts.method) == (600, 500_000, "random")
    # the sampling rule is monthly: March fails, so the quarter is marked
    assert not q.adequacy.adequate and "2026-03" in q.adequacy.reason_zh and "2026-01" not in q.adequacy.reason_zh
    assert [p for p, a in q.month_adequacy.items() if a.adequate] == ["2026-01", "2026-02"]
    assert q.indicators["D"].mark == "样本量不足"


def test_quarter_adequate_when_every_month_is_and_code_counts_add() -> None:
    m1 = count_sample(ROWS[:4], total_outpatient=1000, method="random")
    m2 = count_sample(ROWS[4:], total_outpatient=1000, method="targeted")
    big = SampleCounts(n=100, a=100, total_outpatient=10_000, method="random")
    q = summarize_period({"2026-04": m1 + big, "2026-05": m2 + big})
    assert q.counts.code_counts["1-7"] == 2 and q.counts.class_counts["nonstandard"] == 3
    assert q.counts.method == "mixed"
    assert q.adequacy.adequate and "各月抽样均达到要求" in q.adequacy.reason_zh


def test_rows_that_cannot_be_summed_are_rejected_with_the_row_number() -> None:
    with pytest.raises(ValueError, match="row 2: antibiotic must be 0 or 1"):
        count_sample([ROWS[0], SampleRow(1, 2, 0, 1, 1, 1, 1, "")])
    with pytest.raises(ValueError, match="row 1: amount"):
        count_sample([SampleRow(1, 0, 0, 1, 1, -5, 1, "")])
    with pytest.raises(ValueError, match="row 1: unknown column"):
        count_sample([{"n_drugs": 1, "antibiotics": 0}])
    # mappings with the same keys are accepted
    c = count_sample([{"n_drugs": 2, "antibiotic": 1, "injection": 0, "n_essential": 1, "n_generic": 2,
                       "amount": 12.5, "rational": 0, "codes": "2-5"}])
    assert (c.a, c.k, c.code_counts) == (2, D("12.5"), {"2-5": 1})


def test_review_loader_rejects_unknown_keys_naming_file_and_key(tmp_path: Path) -> None:
    doc = yaml.safe_load(REVIEW_FILE.read_text(encoding="utf-8"))
    doc["sampling"]["min_pct"] = 1
    p = tmp_path / "review.yaml"
    p.write_text(yaml.safe_dump(doc), encoding="utf-8")
    with pytest.raises(CatalogError, match=r"sampling.*min_pct") as e:
        load_review_config(p)
    assert str(p) in str(e.value)
    doc = yaml.safe_load(REVIEW_FILE.read_text(encoding="utf-8"))
    doc["decimals"]["M"] = 2
    p.write_text(yaml.safe_dump(doc), encoding="utf-8")
    with pytest.raises(CatalogError, match=r"decimals.*'M'"):
        load_review_config(p)


def test_inrud_loader_rejects_unknown_keys_naming_file_and_key(tmp_path: Path) -> None:
    doc = yaml.safe_load(INRUD_FILE.read_text(encoding="utf-8"))
    doc["indicators"]["B"]["reference"]["limit"] = 3
    p = tmp_path / "inrud.yaml"
    p.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    with pytest.raises(CatalogError, match=r"indicators\.B\.reference.*limit") as e:
        load_inrud(p)
    assert str(p) in str(e.value)
    doc = yaml.safe_load(INRUD_FILE.read_text(encoding="utf-8"))
    doc["indicators"]["Q"] = doc["indicators"]["B"]
    p.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    with pytest.raises(CatalogError, match="'Q'"):
        load_inrud(p)
