"""Benchmark the outlier review: `python bench/outliers.py [--facilities 1000] [--months 13] [--record]`.

Synthetic, seeded data in memory: N facilities over the six hospital peer groups of scheme 2026 plus a group of 4
(its facilities fall back to their own history), 60 catalog fields (every field of the catalogs except the county
return's), 13 months (2025-10 … 2026-10; the review month is 2026-10). Each value = facility size × the field's
level × season × trend × noise (6 %). Injected into the review month, on reviewed (key) fields: 万元 slips
(×10,000), score slips (×0.01), peer outliers (×/÷ 3–6) and year-on-year jumps (×1.6). Timed: metrics.quality.outliers.detect() and
metrics.quality.impact.rank_by_impact() under scheme 2026 (indicators and composites through metrics.indicators /
metrics.scoring), best of --repeat runs; also the warehouse reader (warehouse/outliers.py read_values over a DuckDB
file holding the same values) unless --no-reader. Figures go to stdout as JSON; --record appends them to
bench/RESULTS.md under "Outlier review".
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

HEADING = "## Outlier review"
METHOD = ("`python bench/outliers.py` — synthetic, seeded facilities × 60 catalog fields × 13 months in memory "
          "(six hospital peer groups of scheme 2026 plus a group of 4 that falls back to own history; size × level "
          "× season × trend × 6 % noise), with injected 万元 slips, score slips, peer outliers and year-on-year "
          "jumps on reviewed fields in the review month 2026-10. Timed: `detect()` (slips, peer modified z and z, own history, "
          "year on year with peer-median adjustment, pairs) and `rank_by_impact()` (indicators and composites "
          "recomputed per outlier through metrics.indicators / metrics.scoring, scheme 2026), best of the "
          "repeats; the DuckDB reader timed apart.")
PERIOD = "2026-10"
GROUPS = [("三级综合", 0.25, "三级", "综合"), ("二级综合", 0.33, "二级", "综合"), ("三级中医类", 0.12, "三级", "中医"),
          ("二级中医类", 0.15, "二级", "中医"), ("三级专科", 0.08, "三级", "专科"), ("二级专科", 0.07, "二级", "专科")]
SMALL_GROUP = ("基层", 4, "基层", "乡镇卫生院")
LEVEL = {  # per facility of size 1, per month
    "oe_visits": 20000, "discharges": 1500, "discharge_bed_days": 12000, "occupied_bed_days": 13000,
    "open_beds": 500, "health_tech_staff": 800, "med_revenue": 5000, "op_revenue": 1800, "op_drug_revenue": 700,
    "ip_revenue": 3000, "ip_drug_revenue": 800, "drug_revenue": 1500, "herbal_revenue": 80,
    "consumables_revenue": 900, "exam_lab_revenue": 1200, "svc_registration": 40, "svc_bed": 150,
    "svc_consultation": 200, "svc_treatment": 300, "svc_surgery": 250, "svc_pharmacy": 30, "svc_nursing": 180,
    "op_visits_essential": 12000, "op_rx_total": 15000, "op_rx_essential": 9000, "vbp_volume": 300000,
    "vbp_generic_volume": 400000, "discharges_surgery": 600, "discharges_grade3": 250, "discharges_grade4": 80,
    "discharges_mis": 150, "abx_op_rx_total": 15000, "abx_op_rx_with_abx": 1500, "abx_em_rx_total": 3000,
    "abx_em_rx_with_abx": 1000, "abx_discharges": 1500, "abx_discharges_with_abx": 600, "abx_clean_ops": 200,
    "abx_clean_ops_prophylaxis": 50, "aud_ddds": 4000, "abx_varieties": 35, "rx_sample_n": 100,
    "rx_sample_drugs": 250, "rx_sample_abx": 15, "rx_sample_inj": 8, "rx_sample_essential": 150,
    "rx_sample_generic": 240, "rx_sample_amount": 12000, "rx_sample_rational": 95,
    "sat_plat_op_score": 90, "sat_plat_ip_score": 92, "sat_plat_staff_score": 85,
}
FIXED = {"abx_varieties", "rx_sample_n", "sat_plat_op_score", "sat_plat_ip_score", "sat_plat_staff_score",
         "sat_plat_op_n", "sat_plat_ip_n", "sat_plat_staff_n"}  # not proportional to size


def months_to(period: str, n: int) -> list[str]:
    y, m = int(period[:4]), int(period[5:7])
    out = []
    for _ in range(n):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
    return out[::-1]


def build(n: int, n_months: int, seed: int = 20261):
    """(values frame, peer groups, field defs, injected {(fid, field): kind}, facility tier/type)."""
    from metrics.catalog import all_fields

    rng = np.random.default_rng(seed)
    fields = [f for f in all_fields() if not f.code.startswith("xy_")][:60]
    months = months_to(PERIOD, n_months)
    n_big = n - SMALL_GROUP[1]
    fids = [f"JZ{i:05d}" for i in range(n)]
    peer, kind = {}, {}
    counts = [int(round(share * n_big)) for _, share, _, _ in GROUPS]
    counts[0] += n_big - sum(counts)
    i = 0
    for (g, _, tier, ftype), c in zip(GROUPS, counts):
        for _ in range(c):
            peer[fids[i]], kind[fids[i]] = g, (tier, ftype)
            i += 1
    for _ in range(SMALL_GROUP[1]):
        peer[fids[i]], kind[fids[i]] = SMALL_GROUP[0], (SMALL_GROUP[2], SMALL_GROUP[3])
        i += 1
    size = rng.lognormal(0.0, 0.5, n) * np.array([2.0 if kind[f][0] == "三级" else 0.8 for f in fids])
    level = np.array([LEVEL.get(f.code, 10 ** rng.uniform(1, 4)) for f in fields])
    fixed = np.array([f.code in FIXED for f in fields])
    stock = np.array([f.aggregation == "last" for f in fields])
    mi = np.arange(n_months)
    season = 1 + 0.08 * np.sin(2 * np.pi * (mi + 9) / 12)        # month 0 = 2025-10
    trend = 1.05 ** (mi / 12)
    shape = (n, len(fields), n_months)
    X = np.where(fixed[None, :, None], 1.0, size[:, None, None]) * level[None, :, None]
    X = X * np.where(stock[None, :, None] | fixed[None, :, None], 1.0, (season * trend)[None, None, :])
    X = X * (1 + 0.06 * rng.standard_normal(shape))
    X = np.clip(X, 0, None)
    count = np.array([f.kind == "count" for f in fields])
    X = np.where(count[None, :, None], np.round(X), np.round(X, 2))
    # injected outliers in the review month, on reviewed (key) fields only
    from metrics.catalog import all_fields_by_code
    from metrics.quality.outliers import load_config

    key = set(load_config().key_fields.select(all_fields_by_code()))
    injected: dict[tuple[str, str], str] = {}
    cur = X[:, :, -1]
    reviewed = [k for k, f in enumerate(fields) if f.code in key]
    wan = [k for k in reviewed if fields[k].unit == "万元"]
    score = [k for k in reviewed if fields[k].unit == "分"]
    picks = rng.permutation(n * len(fields))
    used = 0

    def take(m: int, cols: list[int] | None = None) -> list[tuple[int, int]]:
        nonlocal used
        out = []
        while len(out) < m and used < len(picks):
            f, k = divmod(int(picks[used]), len(fields))
            used += 1
            if (cols is None or k in cols) and (fids[f], fields[k].code) not in injected:
                out.append((f, k))
        return out

    for f, k in take(max(1, n // 25), wan):
        cur[f, k] = round(cur[f, k] * 10000, 2)
        injected[(fids[f], fields[k].code)] = "slip_wan"
    for f, k in take(max(1, n // 100), score):
        cur[f, k] = round(cur[f, k] / 100, 4)
        injected[(fids[f], fields[k].code)] = "slip_score"
    for j, (f, k) in enumerate(take(max(1, n * 3 // 20), reviewed)):
        mult = rng.uniform(3, 6)
        cur[f, k] = round(cur[f, k] * (mult if j % 2 else 1 / mult), 2)
        injected[(fids[f], fields[k].code)] = "peer"
    for f, k in take(max(1, n // 10), reviewed):
        cur[f, k] = round(cur[f, k] * 1.6, 2)
        injected[(fids[f], fields[k].code)] = "yoy"
    X[:, :, -1] = cur
    fi, ki, mj = np.meshgrid(np.arange(n), np.arange(len(fields)), mi, indexing="ij")
    df = pd.DataFrame({"facility_id": np.array(fids, dtype=object)[fi.ravel()],
                       "period": np.array(months, dtype=object)[mj.ravel()],
                       "field": np.array([f.code for f in fields], dtype=object)[ki.ravel()],
                       "value": X.ravel()})
    return df, peer, fields, injected, kind


def impact_inputs(df: pd.DataFrame, kind: dict[str, tuple[str, str]], scheme):
    """agg (review month) and base (12 months earlier) as Decimal dicts, and the facilities' own targets."""
    from metrics.prescribing.antibiotic_rates import target_for
    from warehouse.compute import _target_keys

    base_month = months_to(PERIOD, 13)[0]

    def as_dict(month: str) -> dict[str, dict[str, Decimal]]:
        out: dict[str, dict[str, Decimal]] = {}
        sub = df[df["period"] == month]
        for fid, field, v in zip(sub["facility_id"], sub["field"], sub["value"]):
            out.setdefault(fid, {})[field] = Decimal(repr(float(v)))
        return out

    targets = {}
    for fid, (tier, ftype) in kind.items():
        for ind, key in _target_keys(scheme):
            t = target_for(key, tier, ftype, None)
            if t is not None:
                targets[(fid, ind)] = t.value
    return as_dict(PERIOD), as_dict(base_month), targets


def time_reader(df: pd.DataFrame) -> dict:
    """Load the values into a DuckDB file as accepted returns and time warehouse.outliers.read_values."""
    from warehouse.db import connect
    from warehouse.outliers import read_values

    with tempfile.TemporaryDirectory() as d:
        con = connect(Path(d) / "bench.duckdb")
        subs = df[["facility_id", "period"]].drop_duplicates()
        subs = subs.assign(submission_id=subs["facility_id"] + "-" + subs["period"])
        con.register("subs", subs)
        con.execute("INSERT INTO submissions (submission_id, sha256, original_name, facility_id, period, "
                    "received_at, received_source, status) SELECT submission_id, submission_id, "
                    "submission_id || '.xlsx', facility_id, period, TIMESTAMP '2026-11-05 09:00:00', 'manifest', "
                    "'accepted' FROM subs")
        vals = df.assign(submission_id=df["facility_id"] + "-" + df["period"])
        con.register("vals", vals)
        con.execute("INSERT INTO return_values SELECT submission_id, field, value, CAST(value AS VARCHAR), "
                    "'运营与药品', 'E6', 'ok' FROM vals")
        t = time.perf_counter()
        got = read_values(con, PERIOD)
        took = time.perf_counter() - t
        con.close()
    return {"reader_s": round(took, 2), "reader_rows": len(got)}


def run(n: int, n_months: int, repeat: int, reader: bool) -> dict:
    from metrics.quality.impact import rank_by_impact
    from metrics.quality.outliers import detect, load_config
    from metrics.scoring import load_scheme

    cfg, scheme = load_config(), load_scheme("2026")
    t0 = time.perf_counter()
    df, peer, fields, injected, kind = build(n, n_months)
    agg, base, targets = impact_inputs(df, kind, scheme)
    build_s = time.perf_counter() - t0
    det_times, imp_times, outliers, ranked = [], [], [], []
    for _ in range(repeat):
        t = time.perf_counter()
        outliers = detect(df, peer, PERIOD, cfg)
        det_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        ranked = rank_by_impact(outliers, agg, base, peer, scheme, targets=targets)
        imp_times.append(time.perf_counter() - t)
    by_method: dict[str, int] = {}
    for o in outliers:
        by_method[o.method] = by_method.get(o.method, 0) + 1
    found = {(o.facility_id, o.field) for o in outliers}
    recall = {}
    for k in sorted(set(injected.values())):
        keys = [x for x, v in injected.items() if v == k]
        recall[k] = f"{sum(1 for x in keys if x in found)}/{len(keys)}"
    slips = {(o.facility_id, o.field) for o in outliers if o.method == "magnitude"}
    scored = [imp for _, imp in ranked if imp.scored]
    fig = {
        "facilities": n, "fields": len(fields), "months": n_months, "values": len(df),
        "build_inputs_s": round(build_s, 2),
        "detect_s": round(min(det_times), 2), "impact_s": round(min(imp_times), 2),
        "total_s": round(min(d + i for d, i in zip(det_times, imp_times)), 2),
        "runs_s": [round(d + i, 2) for d, i in zip(det_times, imp_times)],
        "outliers": len(outliers), "by_method": by_method,
        "impact_rows": len(ranked), "impact_scored": len(scored),
        "impact_recomputed": len({(i.facility_id, i.field, i.replacement) for i in scored if i.changed}),
        "top_delta": str(ranked[0][1].delta) if ranked else None,
        "injected_found": recall,
        "slips_caught": f"{sum(1 for x, v in injected.items() if v.startswith('slip') and x in slips)}/"
                        f"{sum(1 for v in injected.values() if v.startswith('slip'))}",
    }
    if reader:
        fig.update(time_reader(df))
    fig["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    fig["machine"] = f"{platform.machine()} {os.cpu_count()} cpu, Python {platform.python_version()}"
    return fig


def record(fig: dict) -> None:
    """Append the figures to bench/RESULTS.md (the section heading and method once)."""
    path = REPO / "bench" / "RESULTS.md"
    text = path.read_text(encoding="utf-8")
    head = ""
    if HEADING not in text:
        head = (f"\n{HEADING}\n\n{METHOD}\n\nTarget (issue 5 §2): 1,000 facilities × 60 fields × 13 months, "
                f"detection with impact ranking, under 30 s on a 2-core machine.\n")
    block = (f"\n### {time.strftime('%Y-%m-%d %H:%M')} — {fig['facilities']:,} facilities × {fig['fields']} fields "
             f"× {fig['months']} months\n\n```json\n{json.dumps(fig, ensure_ascii=False, indent=2)}\n```\n")
    with path.open("a", encoding="utf-8") as fh:  # append only: other sections are not ours to rewrite
        fh.write(head + block)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--facilities", type=int, default=1000)
    ap.add_argument("--months", type=int, default=13)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-reader", action="store_true", help="skip timing the DuckDB reader")
    ap.add_argument("--record", action="store_true")
    a = ap.parse_args()
    fig = run(a.facilities, a.months, a.repeat, not a.no_reader)
    print(json.dumps(fig, ensure_ascii=False, indent=2))
    if a.record:
        record(fig)


if __name__ == "__main__":
    main()
