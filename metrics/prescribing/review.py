"""处方评价表 summary A–P of a sampled facility-month, WHO/INRUD comparison, problem-code frequencies, adequacy."""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from metrics.catalog import CatalogError, check_keys, load_yaml
from metrics.prescribing import DATA_DIR
from metrics.prescribing._common import (FAIL, PASS, SAMPLE_TOO_SMALL_ZH, UNDEFINED_ZH, Number, cfg_int, cfg_num,
                                         cfg_op, compare, dec, fmt, quantize, ratio)
from metrics.prescribing.codes import CodeBook, code_sort_key, load_codebook, parse_problem_codes

REVIEW_FILE = DATA_DIR / "review.yaml"
INRUD_FILE = DATA_DIR / "inrud.yaml"

OK, UNDEFINED = "ok", "undefined"
RANDOM, TARGETED, MIXED = "random", "targeted", "mixed"

# the national sheet's summary rows: symbol → Chinese label
LABELS_ZH: dict[str, str] = {
    "N": "点评处方数", "A": "用药品种总数", "B": "平均每张处方用药品种数", "C": "使用抗菌药的处方数",
    "D": "抗菌药使用百分率", "E": "使用注射剂的处方数", "F": "注射剂使用百分率", "G": "处方中基本药物品种总数",
    "H": "国家基本药物占处方用药的百分率", "I": "药品通用名总数", "J": "药品通用名占处方用药的百分率",
    "K": "处方总金额", "L": "平均每张处方金额", "O": "合理处方总数", "P": "合理处方百分率",
}
# derived symbol → (numerator count, denominator count, scale, unit)
FORMULAS: dict[str, tuple[str, str, int, str]] = {
    "B": ("A", "N", 1, "种"), "D": ("C", "N", 100, "%"), "F": ("E", "N", 100, "%"), "H": ("G", "A", 100, "%"),
    "J": ("I", "A", 100, "%"), "L": ("K", "N", 1, "元"), "P": ("O", "N", 100, "%"),
}
SHEET_ORDER = ("N", "A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L", "O", "P")
INRUD_SYMBOLS = ("B", "D", "F", "H", "J")


# ------------------------------------------------------------------------------------------------ config

@dataclass(frozen=True)
class ReviewConfig:
    min_count: int
    min_fraction: Decimal
    decimals: Mapping[str, int]
    frequency_decimals: int


@dataclass(frozen=True)
class InrudReference:
    symbol: str
    name_zh: str
    who_name: str
    unit: str
    op: str
    value: Decimal
    low: Decimal
    high: Decimal

    @property
    def reference_text(self) -> str:
        """e.g. "<2" or "≥100%"."""
        return f"{self.op}{fmt(self.value)}{'%' if self.unit == '%' else ''}"

    @property
    def optimal_text(self) -> str:
        """e.g. "1.6–1.8" or "20.0–26.8%" (a single value when low = high)."""
        pct = "%" if self.unit == "%" else ""
        if self.low == self.high:
            return f"{fmt(self.low)}{pct}"
        return f"{self.low}–{self.high}{pct}"


@lru_cache(maxsize=8)
def load_review_config(path: Path | None = None) -> ReviewConfig:
    """Sampling thresholds and published decimals of the summary (review.yaml), strict keys."""
    path = Path(path or REVIEW_FILE)
    doc = load_yaml(path)
    where = str(path)
    check_keys(doc, {"version", "sampling", "decimals", "frequency_decimals"},
               {"version", "sampling", "decimals"}, where)
    check_keys(doc["sampling"], {"min_count", "min_fraction"}, {"min_count", "min_fraction"}, f"{where}: sampling")
    min_count = cfg_int(doc["sampling"]["min_count"], f"{where}: sampling.min_count")
    min_fraction = cfg_num(doc["sampling"]["min_fraction"], f"{where}: sampling.min_fraction")
    if not 0 <= min_fraction < 1:
        raise CatalogError(f"{where}: sampling.min_fraction: must be in [0, 1), got {min_fraction}")
    check_keys(doc["decimals"], set(FORMULAS), set(FORMULAS), f"{where}: decimals")
    decimals = {k: cfg_int(v, f"{where}: decimals.{k}") for k, v in doc["decimals"].items()}
    freq = cfg_int(doc.get("frequency_decimals", 2), f"{where}: frequency_decimals")
    return ReviewConfig(min_count, min_fraction, decimals, freq)


@lru_cache(maxsize=8)
def load_inrud(path: Path | None = None) -> dict[str, InrudReference]:
    """WHO/INRUD reference values and optimal ranges for B, D, F, H, J (inrud.yaml), strict keys."""
    path = Path(path or INRUD_FILE)
    doc = load_yaml(path)
    where = str(path)
    check_keys(doc, {"version", "source_zh", "indicators"}, {"version", "indicators"}, where)
    check_keys(doc["indicators"], set(INRUD_SYMBOLS), set(), f"{where}: indicators")
    out: dict[str, InrudReference] = {}
    for sym, d in doc["indicators"].items():
        w = f"{where}: indicators.{sym}"
        check_keys(d, {"name_zh", "who_name", "unit", "reference", "optimal"}, {"name_zh", "reference", "optimal"}, w)
        check_keys(d["reference"], {"op", "value"}, {"op", "value"}, f"{w}.reference")
        check_keys(d["optimal"], {"low", "high"}, {"low", "high"}, f"{w}.optimal")
        low, high = cfg_num(d["optimal"]["low"], f"{w}.optimal.low"), cfg_num(d["optimal"]["high"], f"{w}.optimal.high")
        if low > high:
            raise CatalogError(f"{w}.optimal: low {low} > high {high}")
        out[sym] = InrudReference(sym, str(d["name_zh"]), str(d.get("who_name", "")), str(d.get("unit", "")),
                                  cfg_op(d["reference"]["op"], f"{w}.reference.op"),
                                  cfg_num(d["reference"]["value"], f"{w}.reference.value"), low, high)
    return out


# ------------------------------------------------------------------------------------------------ counts

@dataclass(frozen=True)
class SampleRow:
    """One sampled prescription (columns 5–10, 14, 15 of the 处方评价表); codes canonical or the raw cell."""
    n_drugs: int
    antibiotic: int
    injection: int
    n_essential: int
    n_generic: int
    amount: Number
    rational: int
    codes: Sequence[str] | str | None = ()


_ROW_KEYS = {f.name for f in fields(SampleRow)}


@dataclass(frozen=True)
class SampleCounts:
    """The summable counts behind a summary: N, A, C, E, G, I, K, O and problem-code tallies."""
    n: int = 0                  # N prescriptions sampled
    a: int = 0                  # A Σ drugs
    c: int = 0                  # C prescriptions with an antibiotic
    e: int = 0                  # E prescriptions with an injection
    g: int = 0                  # G Σ essential-medicine items
    i: int = 0                  # I Σ generic-name items
    k: Decimal = Decimal(0)     # K Σ amount (yuan)
    o: int = 0                  # O rational prescriptions
    with_problems: int = 0      # prescriptions carrying at least one recognised code
    code_counts: Mapping[str, int] = field(default_factory=dict)    # code → prescriptions carrying it
    class_counts: Mapping[str, int] = field(default_factory=dict)   # class → prescriptions with ≥ 1 code of it
    unknown_codes: Mapping[str, int] = field(default_factory=dict)  # unrecognised token → prescriptions
    total_outpatient: int | None = None   # the month's (period's) total outpatient prescriptions, if reported
    method: str | None = None             # random | targeted | mixed | None (unknown)

    def value(self, symbol: str) -> Decimal:
        """The count behind a sheet symbol (N, A, C, E, G, I, K, O)."""
        return dec({"N": self.n, "A": self.a, "C": self.c, "E": self.e, "G": self.g, "I": self.i, "K": self.k,
                    "O": self.o}[symbol])

    def __add__(self, other: SampleCounts) -> SampleCounts:
        """Counts of two samples together (months of a quarter): every count summed."""
        if not isinstance(other, SampleCounts):
            return NotImplemented
        total = (None if self.total_outpatient is None or other.total_outpatient is None
                 else self.total_outpatient + other.total_outpatient)
        method = self.method if self.method == other.method else MIXED
        return SampleCounts(self.n + other.n, self.a + other.a, self.c + other.c, self.e + other.e,
                            self.g + other.g, self.i + other.i, self.k + other.k, self.o + other.o,
                            self.with_problems + other.with_problems,
                            dict(Counter(self.code_counts) + Counter(other.code_counts)),
                            dict(Counter(self.class_counts) + Counter(other.class_counts)),
                            dict(Counter(self.unknown_codes) + Counter(other.unknown_codes)), total, method)


def _row(r: SampleRow | Mapping[str, Any], idx: int) -> SampleRow:
    if isinstance(r, SampleRow):
        return r
    unknown = set(r) - _ROW_KEYS
    if unknown:
        raise ValueError(f"row {idx}: unknown column(s) {sorted(unknown)}")
    return SampleRow(**r)


def _int(v: Any, name: str, idx: int, flag: bool = False) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, Decimal, float)) or v != int(v) or v < 0:
        raise ValueError(f"row {idx}: {name} must be a non-negative integer, got {v!r}")
    if flag and v not in (0, 1):
        raise ValueError(f"row {idx}: {name} must be 0 or 1, got {v!r}")
    return int(v)


def count_sample(rows: Iterable[SampleRow | Mapping[str, Any]], total_outpatient: int | None = None,
                 method: str | None = None, *, aliases: Iterable[str] | None = None,
                 book: CodeBook | None = None) -> SampleCounts:
    """Sum the sampled rows of one facility-month into SampleCounts (rows are expected to have passed the row rules).

    ``codes`` of a row may be the raw cell text (parsed with parse_problem_codes) or canonical codes.
    A value that cannot be summed (negative, fractional count, flag not 0/1) raises ValueError naming the row.
    """
    book = book or load_codebook()
    n = a = c = e = g = i = o = with_problems = 0
    k = Decimal(0)
    codes: Counter[str] = Counter()
    classes: Counter[str] = Counter()
    unknown: Counter[str] = Counter()
    for idx, raw in enumerate(rows, start=1):
        r = _row(raw, idx)
        n += 1
        a += _int(r.n_drugs, "n_drugs", idx)
        c += _int(r.antibiotic, "antibiotic", idx, flag=True)
        e += _int(r.injection, "injection", idx, flag=True)
        g += _int(r.n_essential, "n_essential", idx)
        i += _int(r.n_generic, "n_generic", idx)
        o += _int(r.rational, "rational", idx, flag=True)
        amount = dec(r.amount)
        if amount < 0:
            raise ValueError(f"row {idx}: amount must be ≥ 0, got {r.amount!r}")
        k += amount
        if r.codes is None or isinstance(r.codes, str):
            found, bad = parse_problem_codes(r.codes, aliases, book)
        else:
            found, bad = [], []
            for code in dict.fromkeys(r.codes):
                (found if code in book.codes else bad).append(code)
        codes.update(set(found))
        classes.update({book.codes[x].cls for x in found})
        unknown.update(set(bad))
        with_problems += bool(found)
    return SampleCounts(n, a, c, e, g, i, k, o, with_problems, dict(codes), dict(classes), dict(unknown),
                        total_outpatient, method)


def aggregate_counts(months: Iterable[SampleCounts]) -> SampleCounts:
    """Counts over several months (quarter, year): every count summed — ratios are then taken of the sums."""
    out: SampleCounts | None = None
    for m in months:
        out = m if out is None else out + m
    return out if out is not None else SampleCounts()


# ---------------------------------------------------------------------------------------------- adequacy

@dataclass(frozen=True)
class Adequacy:
    adequate: bool
    required: int | None        # max(min_count, ⌈total × min_fraction⌉); None when the total is unknown
    sampled: int
    total_outpatient: int | None
    reason_zh: str


def _permille(f: Decimal) -> str:
    return f"{fmt(f * 1000)}‰"


def check_adequacy(sampled: int, total_outpatient: int | None, config: ReviewConfig | None = None) -> Adequacy:
    """Sampling adequacy of one month: at least min_count prescriptions and at least min_fraction of the total."""
    cfg = config or load_review_config()
    rule = f"不少于{cfg.min_count}张且不少于门诊处方总数的{_permille(cfg.min_fraction)}"
    if total_outpatient is None:
        return Adequacy(False, None, sampled, None,
                        f"未报告当月门诊处方总数，无法核对抽样比例（要求{rule}）；抽样{sampled}张")
    if total_outpatient < 0:
        return Adequacy(False, None, sampled, total_outpatient, f"门诊处方总数为负数（{total_outpatient}），无法核对抽样比例")
    by_fraction = math.ceil(dec(total_outpatient) * cfg.min_fraction)
    required = max(cfg.min_count, by_fraction)
    if sampled > total_outpatient:
        return Adequacy(False, required, sampled, total_outpatient,
                        f"抽样{sampled}张，多于当月门诊处方总数{total_outpatient}张，数据不一致")
    if sampled >= required:
        return Adequacy(True, required, sampled, total_outpatient,
                        f"抽样{sampled}张，达到要求（{rule}，即至少{required}张）")
    if sampled < cfg.min_count and by_fraction <= cfg.min_count:
        why = f"少于{cfg.min_count}张"
    elif sampled >= cfg.min_count:
        why = f"少于门诊处方总数{total_outpatient}张的{_permille(cfg.min_fraction)}（需{by_fraction}张）"
    else:
        why = (f"少于{cfg.min_count}张，且少于门诊处方总数{total_outpatient}张的"
               f"{_permille(cfg.min_fraction)}（需{by_fraction}张）")
    return Adequacy(False, required, sampled, total_outpatient, f"样本量不足：抽样{sampled}张，{why}")


# ----------------------------------------------------------------------------------------------- summary

@dataclass(frozen=True)
class SummaryIndicator:
    symbol: str                 # B, D, F, H, J, L, P
    name_zh: str
    unit: str
    numerator: Decimal
    denominator: Decimal
    value: Decimal | None       # rounded half-up at the configured decimals; None when undefined
    status: str                 # ok | undefined (zero denominator)
    mark: str | None = None     # "样本量不足" when the sample is inadequate


@dataclass(frozen=True)
class InrudRow:
    symbol: str
    name_zh: str
    who_name: str
    unit: str
    value: Decimal | None
    reference_text: str
    optimal_text: str
    verdict: str                # 达标 / 未达标 / 无定义 (against the reference value)
    in_optimal: bool | None     # inside the optimal range; None when undefined
    mark: str | None = None


@dataclass(frozen=True)
class ClassFrequency:
    cls: str
    name_zh: str
    prescriptions: int          # prescriptions with at least one code of the class
    occurrences: int            # codes of the class counted over all prescriptions
    share: Decimal | None       # prescriptions / N × 100


@dataclass(frozen=True)
class CodeFrequency:
    code: str
    cls: str
    class_name_zh: str
    text_zh: str
    prescriptions: int
    share: Decimal | None       # prescriptions / N × 100


@dataclass(frozen=True)
class ReviewSummary:
    counts: SampleCounts
    indicators: Mapping[str, SummaryIndicator]
    inrud: tuple[InrudRow, ...]
    classes: tuple[ClassFrequency, ...]
    codes: tuple[CodeFrequency, ...]      # codes that occur, most frequent first
    adequacy: Adequacy
    month_adequacy: Mapping[str, Adequacy] = field(default_factory=dict)  # per month, for period summaries

    def rows(self) -> list[tuple[str, str, Decimal | None, str]]:
        """The sheet's summary rows in order: (symbol, Chinese label, value, unit); counts unrounded."""
        out: list[tuple[str, str, Decimal | None, str]] = []
        for sym in SHEET_ORDER:
            if sym in self.indicators:
                ind = self.indicators[sym]
                out.append((sym, ind.name_zh, ind.value, ind.unit))
            else:
                out.append((sym, LABELS_ZH[sym], self.counts.value(sym), "元" if sym == "K" else ""))
        return out


def _share(x: int, n: int, decimals: int) -> Decimal | None:
    r = ratio(x, n, 100)
    return None if r is None else quantize(r, decimals)


def summarize(counts: SampleCounts, adequacy: Adequacy | None = None, *, config: ReviewConfig | None = None,
              inrud: Mapping[str, InrudReference] | None = None, book: CodeBook | None = None,
              month_adequacy: Mapping[str, Adequacy] | None = None) -> ReviewSummary:
    """The 处方评价表 summary of a sample: B, D, F, H, J, L, P from the counts, INRUD verdicts, code frequencies.

    B = A/N, D = C/N×100, F = E/N×100, H = G/A×100, J = I/A×100, L = K/N, P = O/N×100, each rounded half-up
    at review.yaml's decimals; a zero denominator gives value None (status undefined, verdict 无定义).
    Without ``adequacy`` the counts are judged as one month (check_adequacy). An inadequate sample marks
    every indicator and INRUD row "样本量不足"; values and verdicts are still given.
    """
    cfg = config or load_review_config()
    refs = inrud if inrud is not None else load_inrud()
    book = book or load_codebook()
    adequacy = adequacy or check_adequacy(counts.n, counts.total_outpatient, cfg)
    mark = None if adequacy.adequate else SAMPLE_TOO_SMALL_ZH
    indicators: dict[str, SummaryIndicator] = {}
    for sym, (num, den, scale, unit) in FORMULAS.items():
        r = ratio(counts.value(num), counts.value(den), scale)
        value = None if r is None else quantize(r, cfg.decimals[sym])
        indicators[sym] = SummaryIndicator(sym, LABELS_ZH[sym], unit, counts.value(num), counts.value(den), value,
                                           OK if r is not None else UNDEFINED, mark)
    rows = []
    for sym in INRUD_SYMBOLS:
        if sym not in refs:
            continue
        ref, value = refs[sym], indicators[sym].value
        if value is None:
            verdict, inside = UNDEFINED_ZH, None
        else:
            verdict = PASS if compare(value, ref.op, ref.value) else FAIL
            inside = ref.low <= value <= ref.high
        rows.append(InrudRow(sym, ref.name_zh, ref.who_name, ref.unit, value, ref.reference_text, ref.optimal_text,
                             verdict, inside, mark))
    fd = cfg.frequency_decimals
    classes = tuple(
        ClassFrequency(key, pc.name_zh, counts.class_counts.get(key, 0),
                       sum(v for code, v in counts.code_counts.items() if book.codes[code].cls == key),
                       _share(counts.class_counts.get(key, 0), counts.n, fd))
        for key, pc in book.classes.items())
    codes = tuple(
        CodeFrequency(code, book.codes[code].cls, book.class_of(code).name_zh, book.codes[code].text_zh, v,
                      _share(v, counts.n, fd))
        for code, v in sorted(counts.code_counts.items(), key=lambda kv: (-kv[1], code_sort_key(kv[0])))
        if v)
    return ReviewSummary(counts, indicators, tuple(rows), classes, codes, adequacy, dict(month_adequacy or {}))


def summarize_month(rows: Iterable[SampleRow | Mapping[str, Any]], total_outpatient: int | None,
                    method: str | None = None, *, config: ReviewConfig | None = None,
                    aliases: Iterable[str] | None = None) -> ReviewSummary:
    """Count the sampled rows of one facility-month and summarise them, judging adequacy against the month's total."""
    return summarize(count_sample(rows, total_outpatient, method, aliases=aliases), config=config)


def summarize_period(months: Mapping[str, SampleCounts], *, config: ReviewConfig | None = None) -> ReviewSummary:
    """Summary over months (quarter, year) as ratios of summed counts, never a mean of monthly percentages.

    The sampling rule is monthly: the period is adequate only when every month is; the reason names the months
    that are not. Months without a sample are simply absent from ``months``.
    """
    cfg = config or load_review_config()
    per_month = {p: check_adequacy(m.n, m.total_outpatient, cfg) for p, m in sorted(months.items())}
    counts = aggregate_counts(months[p] for p in sorted(months))
    bad = [p for p, a in per_month.items() if not a.adequate]
    if not per_month:
        adequacy = Adequacy(False, None, 0, None, "本期无处方点评样本")
    elif bad:
        adequacy = Adequacy(False, None, counts.n, counts.total_outpatient,
                            "样本量不足：" + "；".join(f"{p} {per_month[p].reason_zh}" for p in bad))
    else:
        adequacy = Adequacy(True, None, counts.n, counts.total_outpatient,
                            f"各月抽样均达到要求（共{len(per_month)}个月，抽样{counts.n}张）")
    return summarize(counts, adequacy, config=cfg, month_adequacy=per_month)
