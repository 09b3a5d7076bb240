"""Benchmark satisfaction scoring: `python bench/satisfaction.py [--facilities 1000] [--per-type 300] [--record]`.

Writes N facilities × 3 survey types × Q questionnaires of one month (default 1,000 × 3 × 300 = 900,000) straight
into a real DuckDB warehouse's submissions + return_rows (numpy → DataFrame → INSERT; no Excel files — the full
benchmark bench/run.py --sat does that), then measures:
  (a) the fast path: warehouse.satisfaction.read_responses (SQL pivot → numpy) + metrics.satisfaction.fast for
      every facility and survey type;
  (b) the reference: score_survey on Response objects for 1/30 of the facilities, scaled to the whole data by the
      questionnaire count (the Response objects are built from the same columns; their build time is reported
      apart), and checks that (a) gave the very same SurveyScore for those facilities.
Figures go to stdout as JSON; --record appends them to bench/RESULTS.md under "Satisfaction scoring".
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MONTH = "2026-10"
HEADING = "## Satisfaction scoring"
METHOD = ("`python bench/satisfaction.py` — synthetic JX-MY01 questionnaires written straight into a DuckDB "
          "warehouse (one month; answers from a latent satisfaction level per respondent, ~3 % blank, a few "
          "error cells, duplicate ids and out-of-window dates); the fast path is timed from the SQL read to every "
          "facility's SurveyScore, the reference score_survey on 1/30 of the facilities scaled by questionnaire "
          "count, and both must agree exactly on that sample.")


def _answers(rng: np.random.Generator, q, n: int) -> dict[str, np.ndarray]:
    """One column per item: a latent level per respondent, item noise, reverse-coded items answered reversed."""
    level = np.clip(rng.normal(3.9, 0.8, n), 1, 5)
    out = {}
    for item in q.items:
        scale = q.scales[item.scale]
        lo, hi = float(scale.min), float(scale.max)
        pos = (level - 1) / 4 * (hi - lo) + lo + rng.normal(0, 0.18 * (hi - lo), n)
        x = np.clip(np.rint(pos), lo, hi)
        out[item.code] = hi + lo - x if item.reverse else x
    return out


def generate(con, facilities: int, per_type: int, seed: int = 1) -> dict[str, int]:
    """Submissions and return_rows for `facilities` × 3 survey types × `per_type` questionnaires of MONTH."""
    from metrics.satisfaction.questionnaire import load_questionnaires

    questionnaires = load_questionnaires()
    rng = np.random.default_rng(seed)
    fids = [f"F{k:05d}" for k in range(facilities)]
    subs = pd.DataFrame({"submission_id": [f"S-{f}" for f in fids], "facility_id": fids})
    con.register("subs", subs)
    con.execute("INSERT INTO submissions (submission_id, sha256, original_name, facility_id, period, template_id, "
                "received_at, received_source, status, parsed) SELECT submission_id, submission_id, "
                "submission_id || '.xlsx', facility_id, ?, 'JX-MY01', TIMESTAMP '2026-11-03 09:00:00', 'manifest', "
                "'accepted', TRUE FROM subs", [MONTH])
    con.unregister("subs")
    dates = np.array([f"{MONTH}-{d:02d}" for d in range(1, 29)] + ["2026-06-30"], dtype=object)
    modes = np.array(["现场", "电话", "网络", ""], dtype=object)
    cells = 0
    chunk = 100
    for start in range(0, facilities, chunk):
        sids = np.array([f"S-{f}" for f in fids[start:start + chunk]], dtype=object)
        frames = []
        for code, q in questionnaires.items():
            n = len(sids) * per_type
            sid = np.repeat(sids, per_type)
            row_no = np.tile(np.arange(4, 4 + per_type, dtype=np.int32), len(sids))
            ids = np.array([f"R{k:05d}" for k in range(per_type)], dtype=object)[row_no - 4]
            dup = rng.random(n) < 0.005                                  # a questionnaire entered twice
            ids[dup] = ids[np.maximum(np.flatnonzero(dup) - 1, 0)]
            date = dates[np.where(rng.random(n) < 0.01, len(dates) - 1, rng.integers(0, len(dates) - 1, n))]
            mode = modes[np.where(rng.random(n) < 0.005, 3, rng.integers(0, 3, n))]

            def block(field: str, value: np.ndarray | None, text: np.ndarray | None) -> pd.DataFrame:
                status = np.full(n, "ok", dtype=object)
                if value is not None:
                    u = rng.random(n)
                    value = value.copy()
                    value[u < 0.03] = np.nan
                    status[u < 0.03] = "blank"
                    status[(u >= 0.03) & (u < 0.033)] = "error"
                else:
                    status[text == ""] = "blank"
                return pd.DataFrame({"submission_id": sid, "tbl": code, "row_no": row_no, "field": field,
                                     "value": value if value is not None else np.full(n, np.nan),
                                     "text": text if text is not None else None, "status": status})

            frames += [block("respondent_id", None, ids), block("survey_date", None, date),
                       block("mode", None, mode)]
            frames += [block(c, v, None) for c, v in _answers(rng, q, n).items()]
        frame = pd.concat(frames, ignore_index=True)
        frame.loc[frame["text"] == "", "text"] = None
        con.register("cells", frame)
        con.execute("INSERT INTO return_rows SELECT submission_id, tbl, row_no, field, value, text, "
                    "coalesce(text, CAST(value AS VARCHAR)), tbl, field || row_no, status FROM cells")
        con.unregister("cells")
        cells += len(frame)
    return {"facilities": facilities, "questionnaires": facilities * per_type * len(questionnaires), "cells": cells}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--facilities", type=int, default=1000)
    ap.add_argument("--per-type", type=int, default=300, help="questionnaires per facility and survey type")
    ap.add_argument("--sample-every", type=int, default=30, help="the reference scores every k-th facility")
    ap.add_argument("--workdir", type=Path, default=None, help="keep the warehouse here (default: temp)")
    ap.add_argument("--record", action="store_true", help="append the figures to bench/RESULTS.md")
    args = ap.parse_args()

    from metrics.satisfaction.fast import score_columns, to_responses
    from metrics.satisfaction.questionnaire import load_questionnaires, load_settings
    from metrics.satisfaction.score import score_survey, t_quantile
    from warehouse.db import connect
    from warehouse.satisfaction import read_responses, scoring_window

    work = args.workdir or Path(tempfile.mkdtemp(prefix="jixiao-sat-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    con = connect(work / "warehouse.duckdb")
    con.execute("SET enable_progress_bar = false")
    questionnaires, settings = load_questionnaires(), load_settings()
    months = scoring_window(MONTH, settings)
    t_quantile(Decimal("0.975"), 2)                                      # imports scipy outside the timings
    try:
        t0 = time.perf_counter()
        sizes = generate(con, args.facilities, args.per_type)
        generate_s = time.perf_counter() - t0
        fids = [f"F{k:05d}" for k in range(args.facilities)]

        t0 = time.perf_counter()
        columns = read_responses(con, months, questionnaires, fids)
        read_s = time.perf_counter() - t0
        fast, score_s = {}, {}
        for code, q in questionnaires.items():
            t0 = time.perf_counter()
            fast[code] = score_columns(columns[code], q, settings, months)
            score_s[code] = time.perf_counter() - t0

        sample = fids[::args.sample_every]
        build_s, ref_s, n_sample, identical = 0.0, {}, 0, True
        for code, q in questionnaires.items():
            t0 = time.perf_counter()
            part = read_responses(con, months, {code: q}, sample)[code]
            responses = to_responses(part, q)
            build_s += time.perf_counter() - t0
            n_sample += len(part.facility)
            t0 = time.perf_counter()
            ref = {fid: score_survey(rs, q, settings, months=months) for fid, rs in responses.items()}
            ref_s[code] = time.perf_counter() - t0
            identical &= all(fast[code][fid] == s and repr(fast[code][fid]) == repr(s) for fid, s in ref.items())
    finally:
        con.close()
    scale = sizes["questionnaires"] / n_sample
    fast_score = sum(score_s.values())
    ref_scaled = sum(ref_s.values()) * scale
    result = {
        **sizes, "generate_and_insert_s": round(generate_s, 2),
        "fast": {"read_s": round(read_s, 2), "score_s": {k: round(v, 2) for k, v in score_s.items()},
                 "score_total_s": round(fast_score, 2), "read_and_score_s": round(read_s + fast_score, 2),
                 "us_per_questionnaire": round((read_s + fast_score) / sizes["questionnaires"] * 1e6, 1)},
        "reference": {"sample_questionnaires": n_sample, "scale": round(scale, 2),
                      "score_s_sample": {k: round(v, 2) for k, v in ref_s.items()},
                      "score_s_scaled": round(ref_scaled, 1),
                      "us_per_questionnaire": round(ref_scaled / sizes["questionnaires"] * 1e6, 1),
                      "build_responses_s_scaled": round(build_s * scale, 1)},
        "speedup_scoring": round(ref_scaled / fast_score, 1),
        "speedup_vs_read_and_score": round(ref_scaled / (read_s + fast_score), 1),
        "identical_on_sample": identical,
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, Python {platform.python_version()}",
    }
    print(json.dumps(result, ensure_ascii=False, indent=2))
    if args.record:
        path = REPO / "bench" / "RESULTS.md"
        text = path.read_text(encoding="utf-8")
        with path.open("a", encoding="utf-8") as fh:
            if HEADING not in text:
                fh.write(f"\n{HEADING}\n\n{METHOD}\n")
            fh.write(f"\n### {time.strftime('%Y-%m-%d %H:%M')} — {sizes['questionnaires']:,} questionnaires\n\n"
                     f"```json\n{json.dumps(result, ensure_ascii=False, indent=2)}\n```\n")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    if not identical:
        raise SystemExit("the fast path and the reference disagree on the sample")


if __name__ == "__main__":
    main()
