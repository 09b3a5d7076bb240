"""Demo content of the satisfaction returns: survey questionnaires (JX-MY01) and platform summaries (JX-MY02).

Plain data for templates_xlsx.demo. Each hospital has its own latent satisfaction per survey type (stable over
months), each respondent a mood around it and each item a hospital-specific offset (waiting time, food and pay are
the usual complaints). Answers come from precomputed lookup tables, one `getrandbits` call per questionnaire, so a
benchmark-size region (1,000 hospitals × 3 tables × 300 rows) stays fast. Reverse-coded items are answered in
reverse: a satisfied respondent disagrees with "候诊时间过长". Deterministic for the same seed; no names anywhere
(staff questionnaires carry the survey's own number only).
"""
from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Sequence
from functools import lru_cache
from operator import getitem
from typing import Any

SURVEYS = ("op", "ip", "staff")
# reverse-coded items (answer 5 = bad); tests hold these equal to metrics/satisfaction/data/questionnaires.yaml
REVERSE = {"op": frozenset({"q02"}), "ip": frozenset({"q12"}), "staff": frozenset({"q05"})}
ID_PREFIX = {"op": "MZ", "ip": "ZY", "staff": "YG"}
MODES = {"op": (("现场", 80), ("电话", 12), ("网络", 8)), "ip": (("现场", 68), ("电话", 24), ("网络", 8)),
         "staff": (("现场", 55), ("网络", 45))}
# the usual complaints: items answered below the respondent's overall mood (on the 1–5 satisfaction scale)
ITEM_BIAS = {"op": {"q02": -0.45, "q06": -0.30, "q10": -0.25},
             "ip": {"q11": -0.50, "q07": -0.15, "q12": -0.10},
             "staff": {"q01": -0.70, "q02": -0.45, "q03": -0.50, "q05": -0.60}}
# latent satisfaction (0–100) ranges by survey type; a shared hospital "quality" links the three
LATENT = {"op": (72.0, 90.0), "ip": (74.0, 92.0), "staff": (70.0, 86.0)}
INCOMPLETE_RATE = 0.02      # most items left blank: excluded as incomplete
STRAIGHT_RATE = 0.006       # every item the same answer: flagged
SMALL_N = (18, 23)          # the hospital whose rolling quarter stays below the minimum sample
NORMAL_N = (35, 60)         # complete, varied questionnaires per survey type and month

_STEP = 20                  # lookup bins per scale point (mood resolution 0.05)
_LO = -1.0                  # lowest mood a bin represents (moods plus offsets never leave [_LO, _HI])
_HI = 7.0
_SLOTS = 256                # entries per bin: an answer is one byte of random bits


def _exact_mean_probs(target: float, values: Sequence[int], sd: float) -> list[float]:
    """Probabilities over `values`: a discretised normal whose centre is chosen so the mean is `target`."""
    lo, hi = values[0], values[-1]
    target = min(max(target, lo + 0.02), hi - 0.02)

    def probs(c: float) -> list[float]:
        w = [math.exp(-((x - c) ** 2) / (2 * sd * sd)) for x in values]
        s = sum(w)
        return [x / s for x in w]

    a, b = lo - 12.0, hi + 12.0
    for _ in range(60):
        c = (a + b) / 2
        if sum(x * p for x, p in zip(values, probs(c))) < target:
            a = c
        else:
            b = c
    return probs((a + b) / 2)


def _lut(values: Sequence[int], sd: float, to_scale: Any) -> tuple[tuple[int, ...], ...]:
    """Per mood bin, _SLOTS answers whose distribution has the bin's mean (mood mapped onto the scale)."""
    out = []
    for i in range(int((_HI - _LO) * _STEP) + 1):
        probs = _exact_mean_probs(to_scale(_LO + i / _STEP), values, sd)
        cum, acc = [], 0.0
        for p in probs:
            acc += p
            cum.append(acc)
        row, k = [], 0
        for s in range(_SLOTS):
            u = (s + 0.5) / _SLOTS
            while k < len(values) - 1 and cum[k] < u:
                k += 1
            row.append(values[k])
        out.append(tuple(row))
    return tuple(out)


@lru_cache(maxsize=1)
def _tables() -> dict[str, tuple[tuple[int, ...], ...]]:
    """Lookup tables: 1–5 items, the same reversed, and 0–10 items (mood 1–5 mapped onto 0–10)."""
    likert = _lut(range(1, 6), 0.75, lambda m: m)
    return {"likert": likert, "reverse": tuple(tuple(6 - x for x in row) for row in likert),
            "scale10": _lut(range(0, 11), 1.4, lambda m: (m - 1) * 2.5)}


def latent_scores(seed: str) -> dict[str, float]:
    """The hospital's true satisfaction (0–100) per survey type, stable over months."""
    rng = random.Random(f"{seed}:sat-latent")
    quality = rng.random()
    return {s: round(min(max(lo + (hi - lo) * quality + rng.uniform(-3, 3), lo - 2), hi + 1), 2)
            for s, (lo, hi) in LATENT.items()}


class _Profile:
    """How one hospital's respondents answer one questionnaire: base mood, per-item bin offsets and tables."""

    def __init__(self, seed: str, survey: str, items: Sequence[tuple[str, int]], latent: float) -> None:
        rng = random.Random(f"{seed}:sat-profile:{survey}")
        t = _tables()
        self.items = [code for code, _ in items]
        offsets = [ITEM_BIAS[survey].get(code, 0.0) + rng.gauss(0, 0.18) for code in self.items]
        # the mood is set so the mean item answer lands on the latent score despite the offsets
        self.mood = 1 + latent / 25 - sum(offsets) / len(offsets)
        self.spread = rng.uniform(0.35, 0.55)
        self.offsets = [round(o * _STEP) for o in offsets]
        self.luts = [t["scale10"] if top == 10 else t["reverse"] if code in REVERSE[survey] else t["likert"]
                     for code, top in items]
        self.by_mood: dict[int, list[tuple[int, ...]]] = {}  # mood bin → each item's answer table
        self.tops = [top for _, top in items]
        self.reverse = [code in REVERSE[survey] for code in self.items]
        self.modes = [m for m, _ in MODES[survey]]
        self.mode_weights = [w for _, w in MODES[survey]]

    def answers(self, rng: random.Random) -> list[int]:
        """One respondent's answers, item by item."""
        mood = min(max(self.mood + rng.gauss(0, self.spread), 1.0), 5.0)
        b = int((mood - _LO) * _STEP + 0.5)
        tables = self.by_mood.get(b)
        if tables is None:
            tables = self.by_mood[b] = [lut[b + off] for lut, off in zip(self.luts, self.offsets)]
        # one random byte per item indexes that item's answer table (the hot path of benchmark-size regions)
        n = len(tables)
        return list(map(getitem, tables, rng.getrandbits(8 * n).to_bytes(n, "little")))

    def straight(self, rng: random.Random) -> list[int]:
        """A straight-liner: the same answer to every 1–5 item (reverse ones too), the 0–10 item alike."""
        v = rng.choices((5, 4, 3), (60, 25, 15))[0]
        return [{5: 10, 4: 8, 3: 5}[v] if top == 10 else v for top in self.tops]

    def incomplete(self, rng: random.Random) -> list[int | None]:
        """A questionnaire abandoned early: one to three items answered, the rest blank."""
        full = self.answers(rng)
        keep = rng.randint(1, 3)
        return [v if j < keep else None for j, v in enumerate(full)]


def _month_days(month: str) -> list[dt.date]:
    y, m = int(month[:4]), int(month[5:7])
    n = (dt.date(y + m // 12, m % 12 + 1, 1) - dt.date(y, m, 1)).days
    return [dt.date(y, m, d) for d in range(1, n + 1)]


def survey_table(seed: str, month: str, survey: str, items: Sequence[tuple[str, int]], latent: float, *,
                 n_valid: int | None = None, exact: int | None = None, duplicate: bool = False
                 ) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
    """One survey type's questionnaires for a hospital-month and the issues among them ((row index, kind)).

    Default: `n_valid` complete, varied questionnaires plus, on top, the incomplete ones and straight-liners met
    on the way (about 2 % and 1 %), so issues never reduce the valid count. `exact`: exactly that many rows,
    issues included. `duplicate`: one questionnaire entered twice (same 问卷编号, same answers).
    """
    rng = random.Random(f"{seed}:sat:{survey}:{month}")
    prof = _Profile(seed, survey, items, latent)
    rows: list[dict[str, Any]] = []
    issues: list[tuple[int, str]] = []
    kinds: list[str] = []
    normal = 0
    while (normal < n_valid) if exact is None else (len(kinds) < exact):
        u = rng.random()
        kind = "incomplete" if u < INCOMPLETE_RATE else "straight-line" if u < INCOMPLETE_RATE + STRAIGHT_RATE \
            else "ok"
        kinds.append(kind)
        normal += kind == "ok"
    days = _month_days(month)
    if survey == "staff":  # staff fill the questionnaire in a few sessions
        days = sorted(rng.sample(days, 3))
    dates = sorted(rng.choice(days) for _ in kinds)
    modes = rng.choices(prof.modes, prof.mode_weights, k=len(kinds))
    number = rng.randint(1, 40)
    prefix = f"{ID_PREFIX[survey]}{month.replace('-', '')}-"
    fields = ("seq", "respondent_id", "survey_date", "mode", *prof.items)
    for i, kind in enumerate(kinds):
        number += 1 if rng.random() < 0.9 else 2  # a few numbers spoilt or never returned
        ans = prof.answers(rng) if kind == "ok" else prof.straight(rng) if kind == "straight-line" \
            else prof.incomplete(rng)
        rows.append(dict(zip(fields, (i + 1, f"{prefix}{number:04d}", dates[i], modes[i], *ans))))
        if kind != "ok":
            issues.append((i, kind))
    if duplicate and len(rows) >= 3:
        ok_rows = [i for i, k in enumerate(kinds) if k == "ok"][:-1] or [0]
        src = ok_rows[len(ok_rows) // 2]
        rows.insert(src + 1, dict(rows[src]))
        issues = [(i + (i > src), k) for i, k in issues]
        if exact is not None:  # keep the row count: the last questionnaire makes way
            rows.pop()
            issues = [(i, k) for i, k in issues if i < len(rows)]
        for i, r in enumerate(rows):
            r["seq"] = i + 1
    return rows, issues


def survey_counts(seed: str, month: str, *, small: bool) -> dict[str, int]:
    """Complete questionnaires per survey type this month (the small hospital stays below the quarterly minimum)."""
    rng = random.Random(f"{seed}:sat-n:{month}")
    lo, hi = SMALL_N if small else NORMAL_N
    return {s: rng.randint(lo, hi) for s in SURVEYS}


def distributed(seed: str, month: str, n_rows: dict[str, int]) -> dict[str, int]:
    """Questionnaires handed out per survey type (response rate 86–97 %)."""
    rng = random.Random(f"{seed}:sat-dist:{month}")
    return {f"sat_{s}_distributed": math.ceil(n / rng.uniform(0.86, 0.97)) for s, n in n_rows.items()}


def platform_values(seed: str, month: str, latent: dict[str, float], *, small: bool) -> dict[str, int | float]:
    """The national platform's score (0–100, 2 decimals) and valid sample per survey type for one cycle."""
    rng = random.Random(f"{seed}:sat-platform:{month}")
    out: dict[str, int | float] = {}
    for s in SURVEYS:
        out[f"sat_plat_{s}_score"] = round(min(latent[s] + rng.uniform(-2.5, 2.5), 99.5), 2)
        out[f"sat_plat_{s}_n"] = rng.randint(40, 95) if small else rng.randint(120, 420)
    return out
