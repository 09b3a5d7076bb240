"""Benchmark the monthly flow: `python bench/run.py --facilities N` (N returns of one month).

Generates N hospitals' returns (one month each, plus registry and baseline), then measures in this order:
  1. baseline loop: pandas.read_excel(engine="openpyxl") over the same files, in this process;
  2. our parse stage alone (python-calamine in sandboxed workers) over the same files, in this process;
  3. cold run: `jixiao run` in a fresh state dir (Prefect DB migration, GX context creation included);
  4. warm run: `jixiao run` on the same returns in a state dir that already exists (Prefect DB migrated,
     registry imported) but has never seen these files.
Each `jixiao run` is a subprocess; the peak RSS of its whole process tree (Prefect's server included) is
sampled from /proc every 0.1 s. Figures are written as JSON to stdout and appended to bench/RESULTS.md
with --record.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PERIOD = "2026-10"


def _tree_rss_kb(root: int) -> int:
    """Sum of VmRSS over a process and all its descendants."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/status") as fh:
                ppid, kb = 0, 0
                for line in fh:
                    if line.startswith("PPid:"):
                        ppid = int(line.split()[1])
                    elif line.startswith("VmRSS:"):
                        kb = int(line.split()[1])
        except OSError:
            continue
        children.setdefault(ppid, []).append(int(d))
        rss[int(d)] = kb
    total, stack = 0, [root]
    while stack:
        p = stack.pop()
        total += rss.get(p, 0)
        stack.extend(children.get(p, []))
    return total


def _timed_subprocess(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, int, str]:
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0]

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], _tree_rss_kb(proc.pid))
            time.sleep(0.1)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    th.join()
    if proc.returncode != 0:
        raise SystemExit(f"{cmd} failed ({proc.returncode}):\n{out}\n{err}")
    return wall, peak[0], out + err


def _env(home: Path, out: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(JIXIAO_HOME=str(home), JIXIAO_OUT=str(out))
    return env


def _stage_timings(home: Path) -> dict[str, float]:
    from warehouse.db import connect

    con = connect(home / "warehouse.duckdb")
    try:
        counts = con.execute("SELECT counts FROM runs WHERE status = 'completed' ORDER BY started_at DESC "
                             "LIMIT 1").fetchone()[0]
    finally:
        con.close()
    return json.loads(counts)["timings"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--facilities", type=int, default=1000, help="number of returns (hospitals) to generate")
    ap.add_argument("--workdir", type=Path, default=None, help="keep generated files here (default: temp)")
    ap.add_argument("--record", action="store_true", help="append the figures to bench/RESULTS.md")
    ap.add_argument("--rx", action="store_true",
                    help="rational-prescribing size: each hospital also files a 1,000-row 处方点评表 and a "
                         "300-product antibiotic consumption return")
    ap.add_argument("--sat", action="store_true",
                    help="satisfaction size: each hospital also files a survey return with 300 questionnaires per "
                         "survey type (门诊/住院/医务人员)")
    args = ap.parse_args()

    import pandas as pd

    from templates_xlsx.build import build_templates
    from templates_xlsx.demo import generate_region
    from templates_xlsx.sandbox import parse_many, shutdown_workers

    work = args.workdir or Path(tempfile.mkdtemp(prefix="jixiao-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    build_templates()
    t0 = time.perf_counter()
    # two-thirds of the demo registry are hospitals that file this return: size it to give ~N returns
    # only the returns the benchmark is about: the operations return, plus the rx or survey returns when asked
    templates = {"JX-YB01"} | ({"JX-YB02", "JX-YB03"} if args.rx else set()) | ({"JX-MY01"} if args.sat else set())
    region = generate_region(work / "region", facilities=max(3, round(args.facilities * 1.5)), period=PERIOD,
                             seed=1, months=1, templates=templates,
                             rx_sizes={"products": 300, "review_rows": 1000} if args.rx else None,
                             survey_months=1 if args.sat else 0,
                             sat_sizes={"questionnaires": 300} if args.sat else None)
    gen_s = time.perf_counter() - t0
    inbox = region.inbox_dir
    files = sorted((inbox / PERIOD).glob("*.xlsx"))
    n = len(files)
    if args.rx or args.sat:  # the baseline comparison and standalone parse are the operations returns' own figures
        files = [f for f in files if not f.stem.endswith(("_抗菌药物消耗", "_处方点评", "_满意度调查"))]

    t0 = time.perf_counter()
    for f in files:
        pd.read_excel(f, engine="openpyxl", sheet_name=None, header=None)
    baseline_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    parsed = parse_many([(f, f.name) for f in files], workers=2)
    parse_s = time.perf_counter() - t0
    shutdown_workers()
    assert len(parsed) == len(files)

    jixiao = [str(REPO / ".venv" / "bin" / "jixiao")]
    if not Path(jixiao[0]).exists():
        jixiao = [sys.executable, "-m", "flows.cli"]

    # cold: a fresh state dir
    cold_home, cold_out = work / "cold" / "var", work / "cold" / "out"
    env = _env(cold_home, cold_out)
    subprocess.run(jixiao + ["registry", "import", str(region.registry_path)], env=env, cwd=work, check=True,
                   capture_output=True)
    subprocess.run(jixiao + ["baseline", "import", str(region.baseline_path)], env=env, cwd=work, check=True,
                   capture_output=True)
    cold_s, cold_kb, _ = _timed_subprocess(jixiao + ["run", "--period", PERIOD, "--inbox", str(inbox)], env, work)
    cold_stages = _stage_timings(cold_home)

    # warm: the state dir exists (Prefect DB, GX context, registry) but these returns are new to it
    warm_home, warm_out = work / "warm" / "var", work / "warm" / "out"
    env = _env(warm_home, warm_out)
    empty = work / "empty_inbox"
    empty.mkdir(exist_ok=True)
    for cmd in (["registry", "import", str(region.registry_path)], ["baseline", "import", str(region.baseline_path)],
                ["run", "--period", PERIOD, "--inbox", str(empty)]):
        subprocess.run(jixiao + cmd, env=env, cwd=work, check=True, capture_output=True)
    warm_s, warm_kb, warm_out_text = _timed_subprocess(
        jixiao + ["run", "--period", PERIOD, "--inbox", str(inbox)], env, work)
    warm_stages = _stage_timings(warm_home)

    result = {
        "returns": n, "rx": args.rx, "sat": args.sat, "generate_s": round(gen_s, 2),
        "baseline_read_excel_openpyxl_s": round(baseline_s, 2), "parse_stage_s": round(parse_s, 2),
        "parse_speedup_vs_baseline": round(baseline_s / parse_s, 1),
        "cold_run_s": round(cold_s, 2), "cold_peak_rss_mb": round(cold_kb / 1024),
        "cold_stages_s": cold_stages,
        "warm_run_s": round(warm_s, 2), "warm_peak_rss_mb": round(warm_kb / 1024),
        "warm_stages_s": warm_stages,
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, Python {platform.python_version()}",
    }
    print(json.dumps(result, ensure_ascii=False, indent=2))
    if args.record:
        with (REPO / "bench" / "RESULTS.md").open("a", encoding="utf-8") as fh:
            fh.write(f"\n### {time.strftime('%Y-%m-%d %H:%M')} — N = {n}{' (rx size)' if args.rx else ''}{' (satisfaction size)' if args.sat else ''}\n\n```json\n"
                     f"{json.dumps(result, ensure_ascii=False, indent=2)}\n```\n")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
