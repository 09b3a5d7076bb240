"""Rational-prescribing facts per facility and period from the warehouse: review samples, their adequacy and the
cross-check of the self-reported outpatient antibiotic rate against the facility's own random sample."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import duckdb

from metrics.periods import Period, parse_period

SAMPLE_SQL = """
-- per facility and month: the review sample (derived sums), its stated total and method, and the antibiotic
-- return's self-reported outpatient counts; accepted (current) returns only
WITH rx AS (
    SELECT s.facility_id, s.period AS month, s.submission_id, s.header_choices,
           max(d.value) FILTER (WHERE d.field = 'rx_sample_n') AS n,
           max(d.value) FILTER (WHERE d.field = 'rx_sample_abx') AS c
    FROM submissions s LEFT JOIN derived_values d USING (submission_id)
    WHERE s.status = 'accepted' AND s.template_id = 'JX-YB03' AND list_contains($months, s.period)
    GROUP BY ALL
),
rx_total AS (
    SELECT submission_id, max(value) AS total FROM return_values
    WHERE field = 'rxr_op_rx_total' GROUP BY submission_id
),
abx AS (
    SELECT s.facility_id, s.period AS month,
           max(v.value) FILTER (WHERE v.field = 'abx_op_rx_with_abx') AS reported_with,
           max(v.value) FILTER (WHERE v.field = 'abx_op_rx_total') AS reported_total
    FROM submissions s JOIN return_values v USING (submission_id)
    WHERE s.status = 'accepted' AND s.template_id = 'JX-YB02' AND list_contains($months, s.period)
    GROUP BY ALL
),
final AS (
    SELECT coalesce(rx.facility_id, abx.facility_id) AS facility_id, coalesce(rx.month, abx.month) AS month,
           rx.n, rx.c, t.total, rx.header_choices, abx.reported_with, abx.reported_total
    FROM rx FULL OUTER JOIN abx ON rx.facility_id = abx.facility_id AND rx.month = abx.month
    LEFT JOIN rx_total t ON t.submission_id = rx.submission_id
)
SELECT * FROM final ORDER BY facility_id, month
"""


@dataclass
class FacilitySample:
    """A facility's review sample and self-reported antibiotic counts over a period."""

    months: dict[str, dict[str, Any]] = field(default_factory=dict)
    adequacy: dict[str, Any] = field(default_factory=dict)       # month → metrics.prescribing Adequacy

    @property
    def reviewed(self) -> bool:
        return any(m.get("n") is not None for m in self.months.values())

    @property
    def adequate(self) -> bool:
        """Every month of the period has a review sample and each is adequate."""
        return bool(self.adequacy) and all(a.adequate for a in self.adequacy.values())

    def reason_zh(self) -> str:
        bad = [f"{m}：{a.reason_zh}" for m, a in sorted(self.adequacy.items()) if not a.adequate]
        return "；".join(bad) or "各月抽样量符合要求"

    def method(self) -> str | None:
        """random when every month's sample was random; targeted when any was targeted; else None."""
        methods = {m.get("method") for m in self.months.values() if m.get("n") is not None}
        if "定向" in methods:
            return "定向"
        return "随机" if methods == {"随机"} else None


def _int(v: Any) -> int | None:
    return None if v is None else int(v)


def samples(con: duckdb.DuckDBPyConnection, period: Period | str) -> dict[str, FacilitySample]:
    """Each facility's review sample, adequacy per month and reported antibiotic counts for the period."""
    from metrics.prescribing.review import check_adequacy

    p = parse_period(period)
    out: dict[str, FacilitySample] = {}
    cur = con.execute(SAMPLE_SQL, {"months": list(p.months)})
    cols = [d[0] for d in cur.description]
    for rec in (dict(zip(cols, r)) for r in cur.fetchall()):
        fs = out.setdefault(rec["facility_id"], FacilitySample())
        choices = json.loads(rec["header_choices"]) if rec["header_choices"] else {}
        method = (choices.get("sampling_method") or {}).get("value")
        fs.months[rec["month"]] = {"n": _int(rec["n"]), "c": _int(rec["c"]), "total": _int(rec["total"]),
                                   "method": method, "reported_with": _int(rec["reported_with"]),
                                   "reported_total": _int(rec["reported_total"])}
    for fs in out.values():
        for m in p.months:
            got = fs.months.get(m)
            if got is not None and got["n"] is not None:
                fs.adequacy[m] = check_adequacy(got["n"], got["total"])
    return out


def crosscheck(fs: FacilitySample) -> Any:
    """The self-reported outpatient antibiotic rate against the period's review sample (random samples only)."""
    from metrics.prescribing.crosscheck import crosscheck_antibiotic_rate

    months = [m for m in fs.months.values() if m.get("n") is not None]
    reported = [m for m in fs.months.values() if m.get("reported_total") is not None]
    method = fs.method()
    return crosscheck_antibiotic_rate(
        sum(m["reported_with"] or 0 for m in reported) if reported else None,
        sum(m["reported_total"] or 0 for m in reported) if reported else None,
        sum(m["c"] or 0 for m in months), sum(m["n"] or 0 for m in months),
        {"随机": "random", "定向": "targeted"}.get(method or "", method))


def mark_small_samples(values: list, fac_samples: dict[str, FacilitySample], indicators: dict) -> list:
    """Indicators computed from an inadequate review sample keep their value but take status small_sample."""
    from metrics.indicators import OK, SMALL_SAMPLE, IndicatorValue

    out = []
    for iv in values:
        ind = indicators.get(iv.indicator)
        fs = fac_samples.get(iv.facility_id)
        if ind is not None and ind.sample == "rx_review" and iv.status == OK and fs is not None \
                and fs.reviewed and not fs.adequate:
            iv = IndicatorValue(iv.facility_id, iv.indicator, iv.numerator, iv.denominator, iv.value,
                                SMALL_SAMPLE, f"样本量不足：{fs.reason_zh()}")
        out.append(iv)
    return out


def rate(num: Any, den: Any) -> Decimal | None:
    """num / den × 100, or None on a zero or missing denominator."""
    if num is None or not den:
        return None
    return Decimal(str(num)) * 100 / Decimal(str(den))
