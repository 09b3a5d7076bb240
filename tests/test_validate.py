"""GX validation of a batch of returns: each rule kind fails and passes, anchored on (sheet, cell, code)."""
from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from expectations.findings import make
from warehouse.db import connect

REPO = Path(__file__).resolve().parents[1]
_LAYOUT = yaml.safe_load((REPO / "templates_xlsx" / "layouts" / "op_monthly.yaml").read_text(encoding="utf-8"))
_V = _LAYOUT["versions"][0]
SHEET = _V["sheet"]
CELL = {f["field"]: f["cell"] for f in _V["fields"]} | {k: v["cell"] for k, v in _V["header"].items()}
PERIOD = "2026-09"

# A plausible, internally consistent return (万元 / 人次 / 张 …): every rule passes on it.
GOOD = {"oe_visits": 50000, "discharges": 2000, "discharge_bed_days": 18000, "occupied_bed_days": 19000,
        "open_beds": 600, "health_tech_staff": 900, "med_revenue": 5000.0, "op_revenue": 1800.0,
        "op_drug_revenue": 700.0, "ip_revenue": 3200.0, "ip_drug_revenue": 900.0, "drug_revenue": 1600.0,
        "herbal_revenue": 100.0, "consumables_revenue": 800.0, "exam_lab_revenue": 900.0,
        "svc_registration": 10.0, "svc_bed": 50.0, "svc_consultation": 40.0, "svc_treatment": 300.0,
        "svc_surgery": 200.0, "svc_pharmacy": 0.0, "svc_nursing": 60.0, "op_visits_essential": 30000,
        "op_rx_total": 40000, "op_rx_essential": 25000, "vbp_volume": 80000, "vbp_generic_volume": 100000,
        "discharges_surgery": 700, "discharges_grade3": 300, "discharges_grade4": 100, "discharges_mis": 150}
assert set(GOOD) == {f["field"] for f in _V["fields"]}

FACILITIES = [("F001", "市第一人民医院", "2020-01-01", None), ("F002", "市中医院", "2020-01-01", None),
              ("F003", "县人民医院", "2020-01-01", "2026-09-15"), ("F003", "县第一人民医院", "2026-09-15", None)]


def add_facility(con, fid: str, name: str, valid_from: str, valid_to: str | None) -> None:
    con.execute("INSERT INTO facilities (facility_id, valid_from, valid_to, name, tier, ftype) "
                "VALUES (?, ?, ?, ?, '三级', '综合')", [fid, valid_from, valid_to, name])


def add_return(con, sid: str, fid: str | None, *, name: str | None = None, code: str | None = None,
               period: str = PERIOD, inbox: str = PERIOD, status: str = "received",
               values: dict | None = None, statuses: dict | None = None) -> None:
    """Insert one return (submission + 31 return_values rows) as the loader would store it."""
    names = {f: n for f, n, *_ in FACILITIES}
    con.execute(
        "INSERT INTO submissions (submission_id, sha256, original_name, inbox_period, facility_id, period,"
        " template_id, template_version, received_at, received_source, status, header_name, header_code,"
        " header_period) VALUES (?, ?, ?, ?, ?, ?, 'JX-YB01', '2026.1', ?, 'manifest', ?, ?, ?, ?)",
        [sid, (sid * 64)[:64], f"{sid}.xlsx", inbox, fid, period, dt.datetime(2026, 10, 5, 9, 30), status,
         name if name is not None else names.get(fid), code or fid, period])
    vals = GOOD | (values or {})
    rows = []
    for field, cell in CELL.items():
        if field not in GOOD:
            continue
        st = (statuses or {}).get(field, "ok")
        v = None if st in ("blank", "error") else (None if st == "blank_zero" else vals[field])
        rows.append((sid, field, v, None if st in ("blank", "blank_zero") else str(vals[field]), SHEET, cell, st))
    con.executemany("INSERT INTO return_values VALUES (?, ?, ?, ?, ?, ?, ?)", rows)


# One return per quirk, named after it; `expected` is the exact set of validation findings it must get.
QUIRKS = {
    "clean": ({}, set()),
    "sum-mismatch": ({"values": {"drug_revenue": 1700.0}}, {(SHEET, CELL["drug_revenue"], "sum-mismatch")}),
    "sum-within-tolerance": ({"values": {"drug_revenue": 1601.5}}, set()),
    "part-exceeds-total": ({"values": {"op_drug_revenue": 2000.0, "drug_revenue": 2900.0}},
                           {(SHEET, CELL["op_drug_revenue"], "part-exceeds-total")}),
    "rx-essential-exceeds-total": ({"values": {"op_rx_essential": 45000}},
                                   {(SHEET, CELL["op_rx_essential"], "part-exceeds-total")}),
    # amounts allow the rounding tolerance (0.01 + 0.1 % of the total); counts allow none
    "part-within-tolerance": ({"values": {"herbal_revenue": 1601.0}}, set()),
    "count-part-exceeds-by-one": ({"values": {"op_rx_essential": 40001}},
                                  {(SHEET, CELL["op_rx_essential"], "part-exceeds-total")}),
    "negative": ({"values": {"svc_bed": -5.0}}, {(SHEET, CELL["svc_bed"], "negative-value")}),
    "fractional-count": ({"values": {"open_beds": 600.5}}, {(SHEET, CELL["open_beds"], "not-whole-number")}),
    "required-blank": ({"statuses": {"oe_visits": "blank"}}, {(SHEET, CELL["oe_visits"], "required-missing")}),
    "blank-zero-and-optional-blank": ({"statuses": {"discharges_grade3": "blank_zero", "herbal_revenue": "blank"}},
                                      set()),
    "error-cell": ({"statuses": {"op_revenue": "error"}, "values": {"op_revenue": 99999.0}}, set()),
    "unknown-facility": ({"fid": None, "code": "X999", "name": "未知医院"},
                         {(SHEET, CELL["facility_code"], "facility-unknown")}),
    "name-mismatch": ({"name": "市第一医院"}, {(SHEET, CELL["facility_name"], "facility-name-mismatch")}),
    "name-whitespace": ({"name": " 市第一 人民医院\u3000"}, set()),
    "name-before-rename": ({"fid": "F003", "name": "县人民医院"}, set()),
    "period-mismatch": ({"period": "2026-08"}, {(SHEET, CELL["period"], "period-mismatch")}),
    "unit-yuan": ({"values": {"med_revenue": 50_000_000.0}}, {(SHEET, CELL["med_revenue"], "unit-suspect")}),
    "magnitude-low": ({"values": {"op_drug_revenue": 1.0, "drug_revenue": 901.0}},
                      {(SHEET, CELL["op_drug_revenue"], "magnitude-low")}),
}


@pytest.fixture(scope="module")
def wh(tmp_path_factory):
    """A warehouse with the quirk returns of 2026-09 (+ bystanders), validated once."""
    from expectations.validate import validate

    root = tmp_path_factory.mktemp("validate")
    con = connect(root / "warehouse.duckdb")
    for f in FACILITIES:
        add_facility(con, *f)
    for quirk, (kw, _) in QUIRKS.items():
        kw = dict(kw)
        add_return(con, quirk, kw.pop("fid", "F001"), **kw)
    # the parser already reported the unreadable cell of "error-cell"
    parse = make("value-not-number", field_zh="门急诊收入", period=PERIOD, facility_id="F001",
                 submission_id="error-cell", file="error-cell.xlsx", sheet=SHEET, cell=CELL["op_revenue"],
                 field="op_revenue", value="约1800")
    row = parse.as_row()
    con.execute(f"INSERT INTO findings ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", list(row.values()))
    # bystanders: another month, a superseded and a held return — none may be touched
    add_return(con, "other-month", "F002", period="2026-07", inbox="2026-07", values={"svc_bed": -1.0})
    add_return(con, "picked-by-id", "F002", period="2026-06", inbox="2026-06", values={"svc_bed": -1.0})
    add_return(con, "superseded", "F002", status="superseded", values={"svc_bed": -1.0})
    add_return(con, "held", "F002", status="held", values={"svc_bed": -1.0})
    res = validate(con, root / "gx", root / "docs", period=PERIOD)
    yield con, root, res
    con.close()


def _found(con, sid: str, stage: str = "validate") -> set[tuple[str, str, str]]:
    return set(con.execute("SELECT sheet, cell, code FROM findings WHERE submission_id = ? AND stage = ?",
                           [sid, stage]).fetchall())


def _table(con) -> pd.DataFrame:
    return con.execute("SELECT * FROM findings ORDER BY finding_id").df()


@pytest.mark.parametrize("quirk", list(QUIRKS))
def test_rule_fails_and_passes(wh, quirk):
    con, _, _ = wh
    assert _found(con, quirk) == QUIRKS[quirk][1]


def test_error_cell_yields_only_the_parse_finding(wh):
    con, _, _ = wh
    rows = con.execute("SELECT stage, sheet, cell, code FROM findings WHERE submission_id = 'error-cell'").fetchall()
    assert rows == [("parse", SHEET, CELL["op_revenue"], "value-not-number")]


def test_finding_details(wh):
    con, _, res = wh
    by = {(f.submission_id, f.code): f for f in res.findings}
    s = by[("sum-mismatch", "sum-mismatch")]
    assert (s.severity, s.stage, s.value, s.expected, s.field, s.rule_id) == (
        "error", "validate", "1700", "1600", "drug_revenue", "drug_revenue_sum")
    assert (s.period, s.facility_id, s.file) == (PERIOD, "F001", "sum-mismatch.xlsx")
    assert "门急诊药品收入、住院药品收入" in s.message_zh and "E17" in s.fix_zh
    u = by[("unit-yuan", "unit-suspect")]
    assert (u.severity, u.value, u.expected) == ("warning", "50000000", "5000")  # corrected: value / 10000
    assert "疑似按「元」填写" in u.message_zh
    low = by[("magnitude-low", "magnitude-low")]
    assert (low.severity, low.expected) == ("warning", "25")  # 5 元/人次 × 50000 人次 = 25 万元
    p = by[("part-exceeds-total", "part-exceeds-total")]
    assert (p.value, p.expected, p.field) == ("2000", "1800", "op_drug_revenue")
    n = by[("name-mismatch", "facility-name-mismatch")]
    assert (n.value, n.expected, n.severity) == ("市第一医院", "市第一人民医院", "warning")
    m = by[("period-mismatch", "period-mismatch")]
    assert (m.value, m.expected, m.severity, m.stage) == ("2026-08", PERIOD, "warning", "validate")
    k = by[("unknown-facility", "facility-unknown")]
    assert (k.value, k.facility_id, k.severity) == ("X999", None, "error")


def test_statuses(wh):
    con, _, res = wh
    st = dict(con.execute("SELECT submission_id, status FROM submissions").fetchall())
    assert st["unknown-facility"] == "rejected"
    assert all(st[q] == "accepted" for q in QUIRKS if q != "unknown-facility")
    assert (st["other-month"], st["superseded"], st["held"]) == ("received", "superseded", "held")
    assert _found(con, "other-month") == _found(con, "superseded") == _found(con, "held") == set()
    n_suite = len(json.loads((REPO / "expectations" / "suites" / "op_monthly.json").read_text())["expectations"])
    assert res.n_expectations == n_suite and res.n_rows > 0 and res.success is False


def test_data_docs_written(wh):
    _, root, _ = wh
    assert (root / "docs" / "index.html").is_file()
    assert len(list((root / "docs" / "validations").rglob("*.html"))) == 1


def test_rerun_is_identical_and_silent(wh, capfd):
    """Validating again (fresh GX project too) leaves the findings table and statuses exactly as they were."""
    from expectations.validate import validate

    con, root, first = wh
    before = _table(con)
    status = con.execute("SELECT submission_id, status FROM submissions ORDER BY 1").fetchall()
    capfd.readouterr()
    again = validate(con, root / "gx-fresh", root / "docs", period=PERIOD)
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")
    pd.testing.assert_frame_equal(_table(con), before)
    assert con.execute("SELECT submission_id, status FROM submissions ORDER BY 1").fetchall() == status
    assert [f.as_row() for f in again.findings] == [f.as_row() for f in first.findings]
    assert len(list((root / "docs" / "validations").rglob("*.html"))) == 1  # the rerun replaced its result


def test_submission_ids_limit_the_scope(wh):
    from expectations.validate import validate

    con, root, _ = wh
    others = "SELECT * FROM findings WHERE submission_id <> 'picked-by-id' ORDER BY finding_id"
    before = con.execute(others).df()
    res = validate(con, root / "gx", None, submission_ids=["picked-by-id"])
    assert {(f.sheet, f.cell, f.code) for f in res.findings} == {(SHEET, CELL["svc_bed"], "negative-value")}
    assert con.execute("SELECT status FROM submissions WHERE submission_id = 'picked-by-id'").fetchone() == (
        "accepted",)
    pd.testing.assert_frame_equal(con.execute(others).df(), before)


def test_thousand_returns_validate_quickly(tmp_path):
    """1,000 returns × 31 fields in one batch (measured ≈1.0–1.5 s warm on 2 cores; bound kept loose)."""
    from expectations.validate import validate

    con = connect(tmp_path / "w.duckdb")
    n = 1000
    ids = [f"F{i:04d}" for i in range(n)]
    fac = pd.DataFrame({"facility_id": ids, "valid_from": pd.Timestamp("2020-01-01"),
                        "name": [f"医院{i}" for i in range(n)], "tier": "三级", "ftype": "综合"})
    subs = pd.DataFrame({"submission_id": [f"s{i:04d}" for i in range(n)], "sha256": "0" * 64,
                         "original_name": [f"r{i}.xlsx" for i in range(n)], "inbox_period": PERIOD,
                         "facility_id": ids, "period": PERIOD, "template_id": "JX-YB01", "template_version": "2026.1",
                         "received_at": pd.Timestamp("2026-10-01"), "received_source": "manifest",
                         "status": "received", "header_name": [f"医院{i}" for i in range(n)], "header_code": ids})
    vals = pd.DataFrame([(f"s{i:04d}", f, (-1.0 if i % 100 == 0 and f == "svc_bed" else float(v)), str(v), SHEET,
                          CELL[f], "ok") for i in range(n) for f, v in GOOD.items()],
                        columns=["submission_id", "field", "value", "raw_text", "sheet", "cell", "status"])
    con.register("fac", fac)
    con.register("subs", subs)
    con.register("vals", vals)
    con.execute("INSERT INTO facilities BY NAME SELECT * FROM fac")
    con.execute("INSERT INTO submissions BY NAME SELECT * FROM subs")
    con.execute("INSERT INTO return_values SELECT * FROM vals")
    validate(con, tmp_path / "gx", None, period=PERIOD)  # warms the GX project
    t = time.perf_counter()
    res = validate(con, tmp_path / "gx", tmp_path / "docs", period=PERIOD)
    elapsed = time.perf_counter() - t
    assert len(res.findings) == 10 and {f.code for f in res.findings} == {"negative-value"}
    assert res.n_rows > 90_000
    assert elapsed < 15, f"validation of 1,000 returns took {elapsed:.2f} s"
