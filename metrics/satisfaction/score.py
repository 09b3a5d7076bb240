"""Score satisfaction questionnaires: item → dimension → respondent index → facility index with a confidence interval,
choice between the facility's own survey and the platform figure, peer-group shrinkage, small-cell suppression and
the rolling window.

Method (all arithmetic in Decimal; published values rounded half-up at settings.decimals, unrounded kept):

- item score on 0–100: (x − offset) × factor, reverse-coded (max − x) × factor (questionnaires.yaml); a blank
  answer scores nothing; an answer outside the scale or not a whole number is out of scale and scores nothing;
- a questionnaire is incomplete when more than max_blank_share of its items are blank or out of scale (or none is
  answered); it is straight-lined when, for some answer scale, at least straight_line.min_items items of that scale
  are answered and all those answers are identical (answers of different scales are not compared: 5 on a 1–5 item
  and 5 on a 0–10 item mean different things);
- duplicates: a respondent id seen before (after trimming) in the received order is a duplicate, whatever the
  validity of either copy — the first submission is the record, so choosing the "better" copy cannot bias scores;
- per valid questionnaire: dimension score = weighted mean of its answered items' scores; respondent index =
  weighted mean of the dimension scores over the dimensions it answered (dimension weights re-normalised);
- facility: dimension mean = mean over the valid questionnaires that answered it; index = mean of respondent
  indices; interval = index ± t(1 − α/2, n − 1)·s/√n with s the sample SD of respondent indices, clipped to
  [0, 100] (a score cannot leave the scale); n = valid questionnaires.
"""
from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any

from metrics.periods import parse_period
from metrics.satisfaction.questionnaire import Item, Questionnaire, SatisfactionSettings, Scale

OK, INSUFFICIENT, MISSING = "ok", "insufficient_sample", "missing"
STATUS_ZH = {OK: "样本量充足", INSUFFICIENT: "样本量不足", MISSING: "无数据"}
SURVEY, PLATFORM = "survey", "platform"
SOURCE_ZH = {SURVEY: "本院问卷调查数据", PLATFORM: "满意度调查平台数据"}
# reasons a received questionnaire is left out of the score
DUPLICATE, OUT_OF_WINDOW, INCOMPLETE, STRAIGHT_LINED = "duplicate", "out_of_window", "incomplete", "straight_lined"
EXCLUSION_ZH = {DUPLICATE: "重复问卷", OUT_OF_WINDOW: "调查日期不在统计窗口内", INCOMPLETE: "不完整问卷",
                STRAIGHT_LINED: "直线作答问卷"}
NO_MODE_ZH = "未注明"
INDEX_ROW = "index"
_ZERO, _HUNDRED = Decimal(0), Decimal(100)

Answer = int | float | Decimal | str | None


def rounded(v: Decimal | None, decimals: int) -> Decimal | None:
    """Round half-up to the published number of decimals (None stays None)."""
    return None if v is None else v.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


def _fmt(v: Decimal | None) -> str:
    return "—" if v is None else format(v, "f")


def _is_blank(answer: Answer) -> bool:
    return answer is None or (isinstance(answer, str) and not answer.strip())


def _as_decimal(answer: Answer) -> Decimal | None:
    """The answer as a finite Decimal, or None when it is not a number."""
    if isinstance(answer, bool):
        return None
    try:
        if isinstance(answer, float):
            d = Decimal(repr(answer))
        elif isinstance(answer, (int, Decimal)):
            d = Decimal(answer)
        elif isinstance(answer, str):
            d = Decimal(answer.strip())
        else:
            return None
    except decimal.InvalidOperation:
        return None
    return d if d.is_finite() else None


def _in_scale(answer: Answer, scale: Scale) -> Decimal | None:
    d = _as_decimal(answer)
    if d is None or d != d.to_integral_value() or not scale.min <= d <= scale.max:
        return None
    return d


def item_score(answer: Answer, item: Item, scales: Mapping[str, Scale]) -> Decimal | None:
    """The 0–100 score of one answer; None when blank or outside the scale (the caller counts those as invalid)."""
    if _is_blank(answer):
        return None
    scale = scales[item.scale]
    x = _in_scale(answer, scale)
    if x is None:
        return None
    return (scale.max - x) * scale.factor if item.reverse else (x - scale.offset) * scale.factor


@dataclass(frozen=True)
class Response:
    respondent_id: str | None
    survey_date: dt.date | None
    mode: str | None
    answers: Mapping[str, Answer]           # item code → answer (None or "" for blank)
    ref: Any = None                         # opaque pointer back to the source (e.g. row number)


@dataclass(frozen=True)
class ResponseCheck:
    ref: Any
    n_items: int
    n_answered: int                         # items with an answer inside the scale
    n_blank: int
    out_of_scale: tuple[str, ...]           # item codes answered outside the scale
    blank_share: Decimal                    # (blank + out of scale) / items
    incomplete: bool
    straight_lined: bool
    unknown_mode: bool                      # a mode not in settings.modes (flagged, not excluded)
    scores: Mapping[str, Decimal] = field(default_factory=dict)   # item code → 0–100 score of answered items


def classify(response: Response, questionnaire: Questionnaire, settings: SatisfactionSettings) -> ResponseCheck:
    """Answered count, blank share, incomplete, straight-lined and out-of-scale items of one questionnaire."""
    known = {i.code for i in questionnaire.items}
    unknown = sorted(set(response.answers) - known)
    if unknown:
        raise ValueError(f"survey {questionnaire.code}: unknown item code(s) {unknown} in response {response.ref!r}")
    scores: dict[str, Decimal] = {}
    by_scale: dict[str, list[Decimal]] = {}
    blank, out = 0, []
    for item in questionnaire.items:
        answer = response.answers.get(item.code)
        if _is_blank(answer):
            blank += 1
            continue
        s = item_score(answer, item, questionnaire.scales)
        if s is None:
            out.append(item.code)
            continue
        scores[item.code] = s
        by_scale.setdefault(item.scale, []).append(_as_decimal(answer))  # type: ignore[arg-type]
    n_items = len(questionnaire.items)
    missing = n_items - len(scores)
    incomplete = not scores or Decimal(missing) > settings.max_blank_share * n_items
    straight = any(len(v) >= settings.straight_line_min_items and len(set(v)) == 1 for v in by_scale.values())
    mode = response.mode.strip() if isinstance(response.mode, str) else None
    unknown_mode = bool(mode) and mode not in settings.modes
    return ResponseCheck(response.ref, n_items, len(scores), blank, tuple(out), Decimal(missing) / n_items,
                         incomplete, straight, unknown_mode, scores)


def weighted_mean(pairs: Iterable[tuple[Decimal, Decimal]]) -> Decimal | None:
    """Σ v·w / Σ w over (value, weight) pairs in the given order (None when there are none)."""
    pairs = list(pairs)
    total = sum((w for _, w in pairs), _ZERO)
    return None if not pairs else sum((v * w for v, w in pairs), _ZERO) / total


def respondent_scores(check: ResponseCheck, questionnaire: Questionnaire) -> tuple[dict[str, Decimal], Decimal | None]:
    """One questionnaire's dimension scores (answered dimensions only) and its index."""
    dims: dict[str, Decimal] = {}
    for d in questionnaire.dimensions:
        m = weighted_mean((check.scores[i.code], i.weight) for i in questionnaire.items_of(d.code)
                          if i.code in check.scores)
        if m is not None:
            dims[d.code] = m
    index = weighted_mean((v, questionnaire.dimension(code).weight) for code, v in dims.items())
    return dims, index


@lru_cache(maxsize=256)
def t_quantile(p: Decimal, df: int) -> Decimal:
    """Student t quantile t(p, df) (scipy), as a Decimal."""
    from scipy.stats import t

    return Decimal(repr(float(t.ppf(float(p), df))))


@dataclass(frozen=True)
class MeanCI:
    n: int
    mean: Decimal | None
    sd: Decimal | None          # sample SD (n − 1); None when n < 2
    low: Decimal | None         # clipped to [0, 100]; None when n < 2
    high: Decimal | None
    t: Decimal | None           # the t quantile used


def mean_ci(values: Sequence[Decimal], level: Decimal) -> MeanCI:
    """Mean, sample SD and Student-t interval of 0–100 scores: mean ± t(1 − α/2, n − 1)·s/√n, clipped to [0, 100]."""
    n = len(values)
    if n == 0:
        return MeanCI(0, None, None, None, None, None)
    mean = sum(values, _ZERO) / n
    if n == 1:
        return MeanCI(1, mean, None, None, None, None)
    sd = (sum(((v - mean) ** 2 for v in values), _ZERO) / (n - 1)).sqrt()
    t = t_quantile(1 - (1 - Decimal(level)) / 2, n - 1)
    half = t * sd / Decimal(n).sqrt()
    return MeanCI(n, mean, sd, max(_ZERO, mean - half), min(_HUNDRED, mean + half), t)


@dataclass(frozen=True)
class DimensionScore:
    n: int                              # valid questionnaires that answered the dimension
    mean: Decimal | None
    mean_rounded: Decimal | None


@dataclass(frozen=True)
class SurveyScore:
    survey: str
    n_received: int
    n_valid: int
    n_incomplete: int
    n_straight_lined: int               # flagged; excluded only when settings.straight_line_exclude
    n_duplicate: int
    n_out_of_window: int
    index: Decimal | None               # unrounded
    ci_low: Decimal | None
    ci_high: Decimal | None
    sd: Decimal | None
    index_rounded: Decimal | None       # published
    ci_low_rounded: Decimal | None
    ci_high_rounded: Decimal | None
    sd_rounded: Decimal | None
    dimensions: Mapping[str, DimensionScore]
    status: str                         # ok | insufficient_sample
    reason_zh: str
    ci_level: Decimal
    by_mode: Mapping[str, int]          # valid questionnaires per survey mode (未注明 when blank)
    excluded: tuple[tuple[Any, str], ...]            # (ref, duplicate | out_of_window | incomplete | straight_lined)
    straight_lined_refs: tuple[Any, ...]             # every flagged questionnaire, excluded or not
    out_of_scale: tuple[tuple[Any, str], ...]        # (ref, item code) of answers outside the scale
    unknown_mode_refs: tuple[Any, ...]


def _survey_reason(n_received: int, counts: Mapping[str, int], flagged_kept: int, n_valid: int,
                   settings: SatisfactionSettings) -> str:
    parts = [f"收到问卷 {n_received} 份"]
    dropped = [f"{EXCLUSION_ZH[c]} {k} 份" for c, k in counts.items() if k]
    if dropped:
        parts.append("剔除" + "、".join(dropped))
    if flagged_kept:
        parts.append(f"直线作答 {flagged_kept} 份（已标记，未剔除）")
    verdict = "达到" if n_valid >= settings.min_valid else "少于"
    parts.append(f"有效问卷 {n_valid} 份，{verdict}最低样本量 {settings.min_valid} 份")
    if n_valid == 0:
        parts.append("无法计算满意度指数")
    return "；".join(parts)


def score_survey(responses: Iterable[Response], questionnaire: Questionnaire, settings: SatisfactionSettings,
                 months: Sequence[str] | None = None) -> SurveyScore:
    """Score one facility's questionnaires of one survey type over one window (months: YYYY-MM, optional filter)."""
    window = set(months) if months is not None else None
    seen: set[str] = set()
    excluded: list[tuple[Any, str]] = []
    flagged: list[Any] = []
    out_of_scale: list[tuple[Any, str]] = []
    odd_modes: list[Any] = []
    by_mode: dict[str, int] = {}
    indices: list[Decimal] = []
    dim_values: dict[str, list[Decimal]] = {d.code: [] for d in questionnaire.dimensions}
    n_received = 0
    for r in responses:
        n_received += 1
        if window is not None and r.survey_date is not None and r.survey_date.strftime("%Y-%m") not in window:
            excluded.append((r.ref, OUT_OF_WINDOW))
            continue
        rid = r.respondent_id.strip() if isinstance(r.respondent_id, str) else r.respondent_id
        if rid:
            if rid in seen:
                excluded.append((r.ref, DUPLICATE))
                continue
            seen.add(rid)
        check = classify(r, questionnaire, settings)
        out_of_scale.extend((r.ref, code) for code in check.out_of_scale)
        if check.incomplete:
            excluded.append((r.ref, INCOMPLETE))
            continue
        if check.straight_lined:
            flagged.append(r.ref)
            if settings.straight_line_exclude:
                excluded.append((r.ref, STRAIGHT_LINED))
                continue
        if check.unknown_mode:
            odd_modes.append(r.ref)
        mode = r.mode.strip() if r.mode and r.mode.strip() else NO_MODE_ZH
        by_mode[mode] = by_mode.get(mode, 0) + 1
        dims, index = respondent_scores(check, questionnaire)
        for code, v in dims.items():
            dim_values[code].append(v)
        indices.append(index)  # type: ignore[arg-type]  # a valid questionnaire answers at least one item
    return summarise_survey(questionnaire, settings, n_received, excluded, flagged, out_of_scale, odd_modes, by_mode,
                            indices, dim_values)


def summarise_survey(questionnaire: Questionnaire, settings: SatisfactionSettings, n_received: int,
                     excluded: Sequence[tuple[Any, str]], flagged: Sequence[Any],
                     out_of_scale: Sequence[tuple[Any, str]], odd_modes: Sequence[Any], by_mode: dict[str, int],
                     indices: Sequence[Decimal], dim_values: Mapping[str, Sequence[Decimal]]) -> SurveyScore:
    """One facility's SurveyScore from its classified questionnaires (lists in received order); shared with fast.py."""
    counts = {c: sum(1 for _, x in excluded if x == c) for c in (INCOMPLETE, DUPLICATE, OUT_OF_WINDOW, STRAIGHT_LINED)}
    n_valid = len(indices)
    ci = mean_ci(indices, settings.ci_level)
    dp = settings.decimals
    dimensions = {}
    for code, vals in dim_values.items():
        m = sum(vals, _ZERO) / len(vals) if vals else None
        dimensions[code] = DimensionScore(len(vals), m, rounded(m, dp))
    flagged_kept = 0 if settings.straight_line_exclude else len(flagged)
    return SurveyScore(
        survey=questionnaire.code, n_received=n_received, n_valid=n_valid, n_incomplete=counts[INCOMPLETE],
        n_straight_lined=len(flagged), n_duplicate=counts[DUPLICATE], n_out_of_window=counts[OUT_OF_WINDOW],
        index=ci.mean, ci_low=ci.low, ci_high=ci.high, sd=ci.sd,
        index_rounded=rounded(ci.mean, dp), ci_low_rounded=rounded(ci.low, dp), ci_high_rounded=rounded(ci.high, dp),
        sd_rounded=rounded(ci.sd, dp), dimensions=dimensions,
        status=OK if n_valid >= settings.min_valid else INSUFFICIENT,
        reason_zh=_survey_reason(n_received, counts, flagged_kept, n_valid, settings),
        ci_level=settings.ci_level, by_mode=by_mode, excluded=tuple(excluded), straight_lined_refs=tuple(flagged),
        out_of_scale=tuple(out_of_scale), unknown_mode_refs=tuple(odd_modes),
    )


@dataclass(frozen=True)
class PlatformScore:
    survey: str
    score: Decimal          # 0–100 as published by the national platform
    n: int                  # 有效样本量

    def __post_init__(self) -> None:
        d = _as_decimal(self.score)
        if d is None or not _ZERO <= d <= _HUNDRED:
            raise ValueError(f"platform score for {self.survey} must be a number in [0, 100], got {self.score!r}")
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 0:
            raise ValueError(f"platform sample size for {self.survey} must be an integer ≥ 0, got {self.n!r}")
        object.__setattr__(self, "score", d)


@dataclass(frozen=True)
class ChosenScore:
    survey: str | None
    value: Decimal | None               # unrounded (after shrinkage when applied)
    value_rounded: Decimal | None       # published
    n: int
    source: str | None                  # survey | platform; None when neither exists
    status: str                         # ok | insufficient_sample | missing
    reason_zh: str
    ci_low: Decimal | None = None       # the survey's interval (of the unshrunk index); None for platform figures
    ci_high: Decimal | None = None
    unshrunk: Decimal | None = None     # the value before shrinkage; None when not shrunk
    peer_mean: Decimal | None = None    # the peer-group mean it was shrunk toward


def choose_source(survey: SurveyScore | None, platform: PlatformScore | None,
                  settings: SatisfactionSettings) -> ChosenScore:
    """Pick the survey index or the platform figure by settings.precedence, falling back to whichever exists."""
    if survey is not None and platform is not None and survey.survey != platform.survey:
        raise ValueError(f"survey {survey.survey!r} and platform figure {platform.survey!r} are different surveys")
    code = survey.survey if survey is not None else platform.survey if platform is not None else None
    has = {SURVEY: survey is not None and survey.index is not None, PLATFORM: platform is not None}
    preferred = settings.precedence
    other = PLATFORM if preferred == SURVEY else SURVEY
    if has[preferred] and has[other]:
        source = preferred
        why = f"{SOURCE_ZH[SURVEY]}与{SOURCE_ZH[PLATFORM]}均有，按设置优先采用{SOURCE_ZH[preferred]}"
    elif has[preferred]:
        source = preferred
        why = f"采用{SOURCE_ZH[preferred]}（无{SOURCE_ZH[other]}）"
    elif has[other]:
        source = other
        why = f"设置优先采用{SOURCE_ZH[preferred]}，但该数据缺失，改用{SOURCE_ZH[other]}"
    else:
        why = "既无本院问卷调查数据，也无满意度调查平台数据"
        if survey is not None:
            why += f"（本院问卷：{survey.reason_zh}）"
        return ChosenScore(code, None, None, survey.n_valid if survey is not None else 0, None, MISSING, why)
    if survey is not None and survey.index is None:
        why += f"（本院问卷无有效问卷：{survey.reason_zh}）"
    if source == SURVEY:
        assert survey is not None
        value, n, lo, hi = survey.index, survey.n_valid, survey.ci_low, survey.ci_high
    else:
        assert platform is not None
        value, n, lo, hi = platform.score, platform.n, None, None
    status = OK if n >= settings.min_valid else INSUFFICIENT
    verdict = "达到" if status == OK else "少于"
    why += f"；有效样本 {n} 份，{verdict}最低样本量 {settings.min_valid} 份"
    return ChosenScore(code, value, rounded(value, settings.decimals), n, source, status, why, lo, hi)


def shrink(scores: Mapping[str, ChosenScore], peer_group_of: Mapping[str, str],
           settings: SatisfactionSettings) -> dict[str, ChosenScore]:
    """Shrink each facility's score toward its peer group's n-weighted mean of ok scores: (n·x + k·μ)/(n + k)."""
    if not settings.shrinkage_enabled:
        return dict(scores)
    surveys = {s.survey for s in scores.values() if s.value is not None}
    if len(surveys) > 1:
        raise ValueError(f"shrink one survey type at a time, got {sorted(map(str, surveys))}")
    k = Decimal(settings.shrinkage_prior_n)
    sums: dict[str, tuple[Decimal, int]] = {}
    for fid, s in scores.items():
        group = peer_group_of.get(fid)
        if group is not None and s.status == OK and s.value is not None:
            total, n = sums.get(group, (_ZERO, 0))
            sums[group] = (total + s.n * s.value, n + s.n)
    peer_mean = {g: total / n for g, (total, n) in sums.items() if n > 0}
    dp = settings.decimals
    out: dict[str, ChosenScore] = {}
    for fid, s in scores.items():
        group = peer_group_of.get(fid)
        if s.value is None:
            out[fid] = s
        elif group is None:
            out[fid] = replace(s, reason_zh=s.reason_zh + "；未归入同类组，未做收缩")
        elif group not in peer_mean:
            out[fid] = replace(s, reason_zh=s.reason_zh + "；同类组无样本量充足的机构，未做收缩")
        else:
            mu = peer_mean[group]
            v = (s.n * s.value + k * mu) / (s.n + k)
            note = (f"；已向同类组均值 {_fmt(rounded(mu, dp))} 收缩（先验样本量 {settings.shrinkage_prior_n}）："
                    f"{_fmt(rounded(s.value, dp))} → {_fmt(rounded(v, dp))}")
            out[fid] = replace(s, value=v, value_rounded=rounded(v, dp), unshrunk=s.value, peer_mean=mu,
                               reason_zh=s.reason_zh + note)
    return out


def suppress(n: int, settings: SatisfactionSettings) -> bool:
    """Whether a breakdown of n respondents is too small to show."""
    return n < settings.suppress_below


def suppressed_note(settings: SatisfactionSettings) -> str:
    """The Chinese note shown instead of a suppressed value."""
    return f"样本不足{settings.suppress_below}人，不予显示"


@dataclass(frozen=True)
class DimensionRow:
    code: str                   # dimension code, or "index" for the overall row
    name_zh: str
    n: int
    value: Decimal | None       # published (rounded); None when suppressed or undefined
    suppressed: bool
    note_zh: str


def dimension_rows(score: SurveyScore, questionnaire: Questionnaire,
                   settings: SatisfactionSettings) -> list[DimensionRow]:
    """Display rows: one per dimension in questionnaire order, then the overall index; small cells suppressed."""
    caveat = f"有效问卷少于最低样本量 {settings.min_valid} 份，仅供参考" if score.status != OK else ""
    cells = [(d.code, d.name_zh, score.dimensions[d.code].n, score.dimensions[d.code].mean_rounded)
             for d in questionnaire.dimensions]
    cells.append((INDEX_ROW, "满意度指数", score.n_valid, score.index_rounded))
    rows = []
    for code, name, n, value in cells:
        if suppress(n, settings):
            rows.append(DimensionRow(code, name, n, None, True, suppressed_note(settings)))
        else:
            rows.append(DimensionRow(code, name, n, value, False, caveat))
    return rows


def window_months(month: str, settings: SatisfactionSettings) -> list[str]:
    """The rolling window of settings.window_months months ending at month (YYYY-MM), oldest first."""
    p = parse_period(month)
    if p.kind != "month":
        raise ValueError(f"expected a month YYYY-MM, got {month!r}")
    y, m = (int(x) for x in p.code.split("-"))
    out = []
    for _ in range(settings.window_months):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return out[::-1]
