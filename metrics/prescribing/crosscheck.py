"""Cross-check of a facility's self-reported outpatient antibiotic prescription rate against its own review sample.

Method (random samples only; a targeted sample does not represent all prescriptions and is skipped):

- sample proportion p̂ = x / n (x prescriptions with an antibiotic among n sampled);
- Wilson score interval at level 1 − α (default 99 %, crosscheck.yaml), z = Φ⁻¹(1 − α/2):
  centre = (p̂ + z²/2n) / (1 + z²/n), half-width = z·√(p̂(1 − p̂)/n + z²/4n²) / (1 + z²/n);
- the reported rate p₀ = reported with antibiotic / all reported outpatient prescriptions is flagged when it lies
  strictly outside [lower, upper] (compared unrounded). This is the same as the score test p-value < α.
- p_value: two-sided exact binomial test of x successes in n under p₀ (scipy.stats.binomtest, default
  "minlike" two-sided method — the sum of the probabilities of outcomes no more likely than x). Being exact, it
  can sit on the other side of α than the Wilson flag near the boundary; score_p_value (the normal-approximation
  score test, 2·(1 − Φ(|p̂ − p₀| / √(p₀(1 − p₀)/n)))) is given too and agrees with the flag.
- No finite-population correction: the sample is treated as drawn with replacement. Review samples are usually
  ≤ a few per cent of the month's prescriptions; ignoring the correction makes the interval slightly wider, i.e.
  conservative (fewer flags). The sampling fraction is reported so analysts can judge.
- Edge cases: n = 0, a reported total of 0, or a sample larger than the reported total → undefined (no flag);
  p̂ = 0 or 1 keeps a proper Wilson interval ([0, u] or [l, 1]); p₀ = 0 or 1 gives the exact p-value (1 when the
  sample agrees, else 0) and a score p-value of 1 or 0 likewise.
- Caveat: if the review sample excludes some prescriptions (emergency, paediatric, 中药饮片) while the reported
  rate covers all outpatient prescriptions, the two measure slightly different populations.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, localcontext
from functools import lru_cache
from pathlib import Path
from typing import Any

from scipy.stats import binomtest, norm

from metrics.catalog import CatalogError, check_keys, load_yaml
from metrics.prescribing import DATA_DIR
from metrics.prescribing._common import Number, cfg_int, cfg_num, dec, fmt, quantize

CROSSCHECK_FILE = DATA_DIR / "crosscheck.yaml"
RANDOM, TARGETED = "random", "targeted"
FLAGGED, CONSISTENT, SKIPPED, UNDEFINED = "flagged", "consistent", "skipped", "undefined"
STATUS_ZH = {FLAGGED: "异常：上报比例在置信区间外", CONSISTENT: "一致：上报比例在置信区间内",
             SKIPPED: "不比对", UNDEFINED: "无法比对"}
P_VALUE_METHOD = "精确二项检验（双侧，scipy.stats.binomtest minlike）"
SCORE_P_VALUE_METHOD = "得分检验（正态近似，与威尔逊区间一致）"


@dataclass(frozen=True)
class CrosscheckConfig:
    level: Decimal
    decimals: int
    methods: Mapping[str, str]      # normalised word → random | targeted


@lru_cache(maxsize=8)
def load_crosscheck_config(path: Path | None = None) -> CrosscheckConfig:
    """Confidence level, published decimals and sampling-method words (crosscheck.yaml), strict keys."""
    path = Path(path or CROSSCHECK_FILE)
    doc = load_yaml(path)
    where = str(path)
    check_keys(doc, {"version", "level", "decimals", "methods"}, {"version", "level", "methods"}, where)
    level = cfg_num(doc["level"], f"{where}: level")
    if not 0 < level < 1:
        raise CatalogError(f"{where}: level: must be strictly between 0 and 1, got {level}")
    decimals = cfg_int(doc.get("decimals", 4), f"{where}: decimals")
    check_keys(doc["methods"], {RANDOM, TARGETED}, {RANDOM, TARGETED}, f"{where}: methods")
    words: dict[str, str] = {}
    for kind, lst in doc["methods"].items():
        if not isinstance(lst, list):
            raise CatalogError(f"{where}: methods.{kind}: expected a list of words")
        for w in lst:
            key = str(w).strip().lower()
            if words.get(key, kind) != kind:
                raise CatalogError(f"{where}: methods.{kind}: {w!r} is also listed under {words[key]}")
            words[key] = kind
    return CrosscheckConfig(level, decimals, words)


def sampling_method(text: Any, config: CrosscheckConfig | None = None) -> str | None:
    """random | targeted for what the return's 抽样方法 cell says, or None when blank or unrecognised."""
    cfg = config or load_crosscheck_config()
    if text is None:
        return None
    return cfg.methods.get(str(text).strip().lower())


@dataclass(frozen=True)
class WilsonInterval:
    lower: Decimal      # unrounded, clamped to [0, 1]
    upper: Decimal
    centre: Decimal
    z: Decimal
    level: Decimal


def z_for(level: Number) -> Decimal:
    """The two-sided normal quantile Φ⁻¹(1 − α/2) for a confidence level 1 − α (e.g. 0.99 → 2.5758…)."""
    lv = dec(level)
    if not 0 < lv < 1:
        raise ValueError(f"confidence level must be strictly between 0 and 1, got {level!r}")
    return Decimal(repr(float(norm.ppf(float(1 - (1 - lv) / 2)))))


def wilson_interval(successes: int, n: int, level: Number = Decimal("0.99")) -> WilsonInterval:
    """Wilson score interval of the proportion successes / n at the given confidence level (n ≥ 1)."""
    if n <= 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 ≤ successes ≤ n and n ≥ 1, got {successes}/{n}")
    z = z_for(level)
    with localcontext() as ctx:
        ctx.prec = 34
        N, p, z2 = Decimal(n), Decimal(successes) / Decimal(n), z * z
        denom = 1 + z2 / N
        centre = (p + z2 / (2 * N)) / denom
        half = z * (p * (1 - p) / N + z2 / (4 * N * N)).sqrt() / denom
        lower, upper = max(Decimal(0), centre - half), min(Decimal(1), centre + half)
        if successes == 0:
            lower = Decimal(0)
        if successes == n:
            upper = Decimal(1)
    return WilsonInterval(+lower, +upper, +centre, z, dec(level))


def _score_p(x: int, n: int, p0: Decimal) -> float:
    if p0 in (0, 1):
        return 1.0 if Decimal(x) / Decimal(n) == p0 else 0.0
    se = math.sqrt(float(p0 * (1 - p0)) / n)
    return float(2 * norm.sf(abs(x / n - float(p0)) / se))


@dataclass(frozen=True)
class CrossCheck:
    status: str                      # flagged | consistent | skipped | undefined
    status_zh: str
    reason_zh: str
    method: str | None               # random | targeted | None
    level: Decimal
    sample_n: int
    sample_antibiotic: int
    reported_antibiotic: int | None
    reported_total: int | None
    sample_rate: Decimal | None      # proportions in [0, 1], rounded half-up at the configured decimals
    reported_rate: Decimal | None
    lower: Decimal | None
    upper: Decimal | None
    p_value: Decimal | None          # exact binomial, two-sided
    score_p_value: Decimal | None    # score test (normal approximation), agrees with the Wilson flag
    sampling_fraction: Decimal | None  # sample_n / reported_total
    p_value_method: str = P_VALUE_METHOD


def _pct(p: Decimal, decimals: int) -> str:
    return f"{quantize(p * 100, max(decimals - 2, 0))}%"


def crosscheck_antibiotic_rate(reported_antibiotic: int | None, reported_total: int | None, sample_antibiotic: int,
                               sample_n: int, method: Any, *, level: Number | None = None,
                               config: CrosscheckConfig | None = None) -> CrossCheck:
    """Compare the reported outpatient antibiotic prescription rate with the review sample (random samples only).

    ``method`` is "random"/"targeted" or the return's own words (e.g. 随机抽样, 重点抽样; see crosscheck.yaml).
    Flagged when the reported rate lies outside the sample's Wilson interval at ``level`` (default from the file).
    """
    cfg = config or load_crosscheck_config()
    lv = dec(level) if level is not None else cfg.level
    kind = method if method in (RANDOM, TARGETED) else sampling_method(method, cfg)
    d = cfg.decimals
    base = dict(method=kind, level=lv, sample_n=sample_n, sample_antibiotic=sample_antibiotic,
                reported_antibiotic=reported_antibiotic, reported_total=reported_total)
    empty = dict(sample_rate=None, reported_rate=None, lower=None, upper=None, p_value=None, score_p_value=None,
                 sampling_fraction=None)

    def stop(status: str, reason: str) -> CrossCheck:
        return CrossCheck(status, STATUS_ZH[status], reason, **base, **empty)

    if kind == TARGETED:
        return stop(SKIPPED, "重点（非随机）抽样的样本不代表全部门诊处方，不与上报比例比对")
    if kind is None:
        return stop(SKIPPED, f"抽样方法未注明或无法识别（{method!r}），仅对随机抽样比对")
    if sample_n <= 0:
        return stop(UNDEFINED, "点评样本为0张，无法比对")
    if not 0 <= sample_antibiotic <= sample_n:
        return stop(UNDEFINED, f"点评样本数据不一致：含抗菌药处方{sample_antibiotic}张，样本{sample_n}张")
    if reported_total is None or reported_antibiotic is None:
        return stop(UNDEFINED, "未上报门诊处方总数或含抗菌药物的门诊处方数，无法计算上报比例")
    if reported_total <= 0:
        return stop(UNDEFINED, "上报门诊处方总数为0，上报比例无定义")
    if not 0 <= reported_antibiotic <= reported_total:
        return stop(UNDEFINED, f"上报数据不一致：含抗菌药物处方{reported_antibiotic}张，门诊处方总数{reported_total}张")
    if sample_n > reported_total:
        return stop(UNDEFINED, f"点评样本{sample_n}张多于上报门诊处方总数{reported_total}张，数据不一致")

    p0 = Decimal(reported_antibiotic) / Decimal(reported_total)
    wi = wilson_interval(sample_antibiotic, sample_n, lv)
    exact = float(binomtest(sample_antibiotic, sample_n, float(p0), alternative="two-sided").pvalue)
    score = _score_p(sample_antibiotic, sample_n, p0)
    outside = p0 < wi.lower or p0 > wi.upper
    p_hat = Decimal(sample_antibiotic) / Decimal(sample_n)
    p_exact = quantize(Decimal(repr(min(max(exact, 0.0), 1.0))), d)
    p_text = f"p<{fmt(Decimal(1).scaleb(-d))}" if p_exact == 0 and exact > 0 else f"p={p_exact}"
    status = FLAGGED if outside else CONSISTENT
    where = "之外" if outside else "之内"
    reason = (f"上报门诊抗菌药物处方比例{_pct(p0, d)}（{reported_antibiotic}/{reported_total}）在点评样本比例"
              f"{_pct(p_hat, d)}（{sample_antibiotic}/{sample_n}）的{fmt(lv * 100)}%威尔逊置信区间"
              f"[{_pct(wi.lower, d)}, {_pct(wi.upper, d)}]{where}；精确二项检验双侧{p_text}")
    return CrossCheck(status, STATUS_ZH[status], reason, **base,
                      sample_rate=quantize(p_hat, d), reported_rate=quantize(p0, d),
                      lower=quantize(wi.lower, d), upper=quantize(wi.upper, d), p_value=p_exact,
                      score_p_value=quantize(Decimal(repr(min(max(score, 0.0), 1.0))), d),
                      sampling_fraction=quantize(Decimal(sample_n) / Decimal(reported_total), 6))
