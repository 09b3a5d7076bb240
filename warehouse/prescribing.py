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


TARGET_KEYS = {"HL01": "aud", "HL02": "outpatient_rate", "HL03": "emergency_rate", "HL04": "inpatient_rate",
               "HL05": "incision_i_prophylaxis_rate", "HL06": "varieties"}
INRUD_OF = {"HL07": "B", "HL08": "D", "HL09": "F", "HL10": "H", "HL11": "J"}


def aud_year_over_year(con: duckdb.DuckDBPyConnection, period: Period | str) -> dict[str, Any]:
    """Facility → YearComparison: this period's AUD and the same period last year's, both under this period's
    DDD table (WHO revises DDDs, so a base computed with its own year's table would not compare)."""
    from metrics.ddd.engine import compare_years, load_ddd_config
    from metrics.periods import same_period_last_year
    from warehouse.derive import consumption_by_month

    p = parse_period(period)
    base = same_period_last_year(p)
    months = list(p.months) + list(base.months)
    rows = consumption_by_month(con, months)
    days = {(f, m): v for f, m, v in con.execute(
        "SELECT s.facility_id, s.period, v.value FROM submissions s JOIN return_values v USING (submission_id) "
        "WHERE s.status = 'accepted' AND s.template_id = 'JX-YB01' AND v.field = 'discharge_bed_days' "
        "AND list_contains(?, s.period)", [months]).fetchall()}
    cfg = load_ddd_config() if rows else None
    out = {}
    for fid in sorted({f for f, _ in rows}):
        cur = [(rows.get((fid, m), []), days.get((fid, m))) for m in p.months]
        bas = [(rows.get((fid, m), []), days.get((fid, m))) for m in base.months]
        if all((fid, m) in rows for m in base.months):
            out[fid] = compare_years(cur, bas, p.year, cfg)
    return out


def rational_rows(con: duckdb.DuckDBPyConnection, period: Period | str, facilities: list[dict[str, Any]],
                  indicator_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per facility for the report's 合理用药 sheet: rates vs own targets, review indicators vs WHO/INRUD,
    sample size and adequacy, cross-check. No names, no diagnoses."""
    from metrics.prescribing.antibiotic_rates import judge, target_for
    from metrics.prescribing.review import load_inrud
    from metrics.prescribing._common import compare

    inrud = load_inrud()
    vals: dict[str, dict[str, dict[str, Any]]] = {}
    for r in indicator_rows:
        vals.setdefault(r["facility_id"], {})[r["indicator"]] = r
    from metrics.catalog import CATALOG_DIR, check_keys, load_yaml
    from warehouse.compute import aggregate_fields

    cfg_path = CATALOG_DIR / "crosschecks.yaml"
    cfg = load_yaml(cfg_path)
    check_keys(cfg, {"version", "patient_days"}, {"patient_days"}, str(cfg_path))
    check_keys(cfg["patient_days"], {"max_relative_gap"}, {"max_relative_gap"}, f"{cfg_path}: patient_days")
    max_gap = Decimal(str(cfg["patient_days"]["max_relative_gap"]))
    agg = aggregate_fields(con, period)
    fac_samples = samples(con, period)
    yoy = aud_year_over_year(con, period)
    out = []
    for f in facilities:
        fid = f["facility_id"]
        iv = vals.get(fid, {})
        row: dict[str, Any] = {"facility_id": fid, "name": f.get("name"), "peer_group": f.get("peer_group")}
        for code, key in TARGET_KEYS.items():
            x = iv.get(code, {})
            t = target_for(key, f.get("tier"), f.get("ftype"), f.get("specialty"))
            row[code] = x.get("value") if x.get("status") == "ok" else None
            row[f"{code}_status"] = x.get("status")
            row[f"{code}_target"] = t.text if t else "无目标"
            row[f"{code}_verdict"] = judge(x.get("value"), t, "missing" if x.get("status") in (None, "missing") else "ok")
        for code, sym in INRUD_OF.items():
            x = iv.get(code, {})
            ref = inrud[sym]
            v = x.get("value")
            row[code] = v
            row[f"{code}_status"] = x.get("status")
            row[f"{code}_ref"] = f"{ref.op}{ref.value.normalize():f}{ref.unit}"
            row[f"{code}_verdict"] = ("无数据" if v is None else "达标" if compare(Decimal(str(v)), ref.op, ref.value)
                                      else "未达标")
        for code in ("HL12", "HL13"):
            x = iv.get(code, {})
            row[code], row[f"{code}_status"] = x.get("value"), x.get("status")
        a = agg.get(fid, {})
        pdays, occ = a.get("discharge_bed_days"), a.get("occupied_bed_days")
        row["patient_days"], row["occupied_bed_days"] = pdays, occ
        if pdays is None or not occ:
            row["patient_days_check"] = "无法核对（缺少床日数）"
        else:
            gap = (Decimal(pdays) - Decimal(occ)) / Decimal(occ)
            row["patient_days_check"] = (f"{'偏差较大' if abs(gap) > max_gap else '一致'}：出院患者占用总床日数比实际占用"
                                         f"总床日数{'多' if gap >= 0 else '少'} {abs(gap) * 100:.1f}%"
                                         f"（阈值 {max_gap * 100:.0f}%）")
        cmp = yoy.get(fid)
        if cmp is None:
            row.update(aud_base=None, aud_change=None, aud_yoy_note="无上年同期抗菌药物消耗月报")
        else:
            row.update(aud_base=None if cmp.base.value is None else float(cmp.base.value),
                       aud_change=None if cmp.change is None else float(cmp.change * 100), aud_yoy_note=cmp.note_zh)
        fs = fac_samples.get(fid)
        if fs is None or not fs.reviewed:
            row.update(sample_n=None, sample_method=None, sample_adequate="未报送处方点评表", crosscheck="—")
        else:
            cc = crosscheck(fs)
            row.update(
                sample_n=sum(m["n"] or 0 for m in fs.months.values() if m.get("n") is not None),
                sample_method=fs.method() or "不一致",
                sample_adequate="符合" if fs.adequate else f"样本量不足（{fs.reason_zh()}）",
                crosscheck=cc.status_zh, crosscheck_reason=cc.reason_zh,
                reported_rate=None if cc.reported_rate is None else float(cc.reported_rate * 100),
                sample_rate=None if cc.sample_rate is None else float(cc.sample_rate * 100),
                interval=(None if cc.lower is None else
                          f"{float(cc.lower * 100):.2f}%–{float(cc.upper * 100):.2f}%（{float(cc.level * 100):g}%）"),
                p_value=None if cc.p_value is None else float(cc.p_value))
        out.append(row)
    return out


UNCOVERED_SQL = """
-- consumption rows AUD could not count, with their share of the facility's in-scope inpatient quantity
WITH lines AS (
    SELECT s.facility_id, s.period, l.* FROM ddd_lines l JOIN submissions s USING (submission_id)
    WHERE s.status = 'accepted' AND list_contains($months, s.period)
),
totals AS (
    SELECT submission_id, sum(qty_inpatient) FILTER (WHERE status <> 'out_of_scope') AS in_scope_qty
    FROM lines GROUP BY submission_id
),
final AS (
    SELECT l.facility_id, l.period, l.generic_name, l.form_route, l.strength, l.pack_unit, l.qty_inpatient,
           CASE WHEN t.in_scope_qty > 0 THEN l.qty_inpatient * 100 / t.in_scope_qty END AS share_pct,
           l.status, l.reason, l.row_no
    FROM lines l JOIN totals t USING (submission_id)
    WHERE l.status <> 'ok'
)
SELECT * FROM final ORDER BY generic_name, facility_id, period, row_no
"""


def uncovered_rows(con: duckdb.DuckDBPyConnection, period: Period | str) -> list[dict[str, Any]]:
    """Products whose consumption AUD could not count (no DDD, unmatched, out of scope), for the pharmacists."""
    p = parse_period(period)
    cur = con.execute(UNCOVERED_SQL, {"months": list(p.months)})
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]
