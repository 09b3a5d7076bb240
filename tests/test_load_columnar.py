"""Table returns through the columnar path: sandbox wire → ParsedTable → loader → return_rows, cell for cell."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from templates_xlsx import sandbox
from templates_xlsx.build import template_path
from templates_xlsx.fill import fill_return
from templates_xlsx.layout import load_layouts
from templates_xlsx.read import STATUS_CODES, ParsedReturn, ParsedTable, read_return
from warehouse import load
from warehouse.db import connect
from warehouse.pseudonym import pseudonymise

KEY = b"k" * 32
CODE = "H0001"  # not in the (empty) registry: pseudonyms are keyed by the code as typed, upper-cased
REVIEW, CONSUMPTION = "处方评价表", "抗菌药物消耗"


def _review(i: int) -> dict[str, object]:
    return {"seq": i + 1, "rx_date": dt.date(2026, 10, 1 + i % 31), "age": 20 + i % 60, "diagnosis": "高血压",
            "n_drugs": 1 + i % 5, "has_antibiotic": i % 2, "has_injection": 0, "n_essential": 1, "n_generic": 1,
            "amount": round(12.5 + i * 1.37, 2), "prescriber": f"医师{i % 9}", "pharmacist_review": "药师甲",
            "pharmacist_dispense": "药师乙", "rational": 1, "problem_codes": None}


def _quirky_review() -> list[dict[str, object] | None]:
    """Worksheet rows 4-10: what people type, one quirk or more a row (row 6 blank, row 10 a total row)."""
    rows: list[dict[str, object] | None] = [_review(i) for i in range(7)]
    rows[1].update(prescriber=" 王  五 ", rx_date="2026/10/5", has_antibiotic="是")            # row 5
    rows[2] = None                                                                             # row 6: blank
    rows[3].update(rx_date="十月五日", amount="1,234.5", pharmacist_review=("=NA()", "#N/A"),    # row 7
                   problem_codes="1-7、2-5", rational=0)
    rows[4].update(seq="4a", age=None, prescriber=None, pharmacist_dispense=("=B1", "赵六"))     # row 8
    rows[5].update(has_injection=2, diagnosis="  ")                                            # row 9
    rows[6] = {"seq": "合计", "amount": 999}                                                    # row 10: total
    return rows + [_review(i) for i in range(7, 60)]                                           # rows 11-63


def _files(tmp: Path) -> Path:
    inbox = tmp / "inbox" / "2026-10"
    inbox.mkdir(parents=True)
    fill_return(template_path("JX-YB03"), inbox / "rx.xlsx", facility_name="市第一人民医院", facility_code=CODE.lower(),
                period_text="2026年10月", values={"rxr_op_rx_total": 60000}, choices={"sampling_method": "随机"},
                tables={"review": _quirky_review()})
    cons = [{"seq": i + 1, "generic_name": "阿莫西林胶囊", "atc_code": None if i % 3 else "J01CA04",
             "form_route": "胶囊/口服", "strength": "0.25g×24粒", "pack_unit": "盒", "qty_inpatient": 100 + i,
             "qty_outpatient": "12.5" if i == 1 else 12.5 + i} for i in range(12)]
    fill_return(template_path("JX-YB02"), inbox / "abx.xlsx", facility_name="市第一人民医院", facility_code=CODE,
                period_text="2026年10月", values={}, tables={"consumption": cons})
    return tmp / "inbox"


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """The two returns parsed in the sandbox (over the wire) and loaded; also read directly for reference."""
    tmp = tmp_path_factory.mktemp("columnar")
    inbox = _files(tmp)
    con = connect(tmp / "w.duckdb")
    regs, _ = load.archive_and_register(con, tmp / "archive", load.discover(inbox), "2026-10")
    parsed = sandbox.parse_many([(r.stored_path, r.item.rel_name) for r in regs], workers=1)
    load.load_batch(con, list(zip(regs, parsed)), pseudonym_key=KEY)
    direct = [read_return(r.stored_path, r.item.rel_name) for r in regs]
    yield con, regs, parsed, direct
    con.close()


def _rows(con, where: str = "TRUE", params: list | None = None) -> list[tuple]:
    return con.execute(f"SELECT tbl, row_no, field, value, text, raw_text, sheet, cell, status FROM return_rows "
                       f"WHERE {where} ORDER BY submission_id, tbl, row_no, field", params or []).fetchall()


def P(name: str) -> str:
    return pseudonymise(KEY, CODE, name)


def test_hand_checked_cells(loaded):
    con, regs, parsed, _ = loaded
    got = {(r[1], r[2]): r for r in _rows(con, "tbl = 'review'")}
    assert sorted({row for row, _ in got}) == [4, 5, 7, 8, 9] + list(range(11, 64))  # blank and total rows out
    assert len(got) == 58 * 15
    want = [
        ("review", 4, "seq", 1.0, None, None, REVIEW, "A4", "ok"),
        ("review", 4, "rx_date", None, "2026-10-01", None, REVIEW, "B4", "ok"),
        ("review", 4, "prescriber", None, P("医师0"), P("医师0"), REVIEW, "K4", "ok"),
        ("review", 4, "problem_codes", None, None, None, REVIEW, "O4", "blank"),
        ("review", 5, "prescriber", None, P("王 五"), P("王 五"), REVIEW, "K5", "ok"),  # spaces do not matter
        ("review", 5, "rx_date", None, "2026-10-05", "2026/10/5", REVIEW, "B5", "ok"),
        ("review", 5, "has_antibiotic", 1.0, None, "是", REVIEW, "F5", "ok"),
        ("review", 7, "rx_date", None, None, "十月五日", REVIEW, "B7", "error"),
        ("review", 7, "amount", 1234.5, None, "1,234.5", REVIEW, "J7", "ok"),
        ("review", 7, "pharmacist_review", None, P("#N/A"), P("#N/A"), REVIEW, "L7", "error"),  # masked all the same
        ("review", 7, "problem_codes", None, "1-7、2-5", "1-7、2-5", REVIEW, "O7", "ok"),
        ("review", 8, "seq", None, "4a", "4a", REVIEW, "A8", "ok"),
        ("review", 8, "age", None, None, None, REVIEW, "C8", "blank"),
        ("review", 8, "prescriber", None, None, None, REVIEW, "K8", "blank"),
        ("review", 8, "pharmacist_dispense", None, P("赵六"), P("赵六"), REVIEW, "M8", "ok"),
        ("review", 9, "has_injection", None, None, "2", REVIEW, "G9", "error"),
        ("review", 9, "diagnosis", None, None, None, REVIEW, "D9", "blank"),
        ("review", 63, "amount", 93.33, None, None, REVIEW, "J63", "ok"),  # 12.5 + 59 × 1.37
    ]
    assert [got[(w[1], w[2])] for w in want] == want
    findings = con.execute("SELECT sheet, cell, code, value FROM findings WHERE sheet = ? ORDER BY cell",
                           [REVIEW]).fetchall()
    assert findings == [(REVIEW, "B7", "date-unparseable", "十月五日"),
                        (REVIEW, "G9", "flag-not-01", "2"),
                        (REVIEW, "L7", "formula-error-value", "（已脱敏）")]
    cons = {(r[1], r[2]): r for r in _rows(con, "tbl = 'consumption'")}
    assert len(cons) == 12 * 8
    assert cons[(4, "atc_code")] == ("consumption", 4, "atc_code", None, "J01CA04", "J01CA04", CONSUMPTION, "C4", "ok")
    assert cons[(5, "atc_code")] == ("consumption", 5, "atc_code", None, None, None, CONSUMPTION, "C5", "blank")
    assert cons[(5, "qty_outpatient")] == ("consumption", 5, "qty_outpatient", 12.5, None, "12.5", CONSUMPTION,
                                           "H5", "ok")
    types = con.execute("SELECT DISTINCT typeof(row_no), typeof(value), typeof(cell) FROM return_rows").fetchall()
    assert types == [("INTEGER", "DOUBLE", "VARCHAR")]


def _reference(parsed: ParsedReturn, sid: str, owner: str) -> list[tuple]:
    """return_rows of one return, cell by cell through the ParsedRow view (the loader's rules spelled out)."""
    lv = load_layouts()[parsed.template_id].version(parsed.template_version)
    specs = {t.name: t for t in lv.tables}
    out = []
    for name, rows in parsed.tables.items():
        pii = set(specs[name].pii_fields("pseudonymise"))
        for r in rows:
            for f, c in r.cells.items():
                value, raw = c.value, c.raw_text
                if f in pii:
                    value = raw = pseudonymise(KEY, owner, value if value is not None else raw)
                out.append((name, r.row, f, value if isinstance(value, float) else None,
                            value if isinstance(value, str) else None, raw, c.sheet, c.cell, c.status))
    return sorted(out, key=lambda t: (t[0], t[1], t[2]))


def test_loaded_rows_equal_the_cell_by_cell_reference(loaded):
    con, regs, parsed, direct = loaded
    for reg, pr, d in zip(regs, parsed, direct):
        # the wire changes nothing (findings aside: the loader has annotated those)
        assert (pr.tables, pr.table_totals, pr.values) == (d.tables, d.table_totals, d.values)
        assert [sandbox._table_to_wire(t) for t in pr.tables.values()] == \
            [sandbox._table_to_wire(t) for t in d.tables.values()]
        got = _rows(con, "submission_id = ?", [reg.submission_id])
        assert got == _reference(d, reg.submission_id, CODE) and got


def test_lists_of_rows_load_like_tables(tmp_path, loaded):
    """A caller that still hands the loader lists of ParsedRow gets the same rows."""
    con0, regs, parsed, _ = loaded
    inbox = _files(tmp_path)
    con = connect(tmp_path / "w2.duckdb")
    regs2, _ = load.archive_and_register(con, tmp_path / "archive", load.discover(inbox), "2026-10")
    as_lists = []
    for pr in parsed:
        copy = ParsedReturn(**{k: getattr(pr, k) for k in pr.__dataclass_fields__})
        copy.findings = [type(f)(**vars(f)) for f in pr.findings]
        copy.tables = {k: list(t) for k, t in pr.tables.items()}
        as_lists.append(copy)
    load.load_batch(con, list(zip(regs2, as_lists)), pseudonym_key=KEY)
    assert _rows(con) == _rows(con0)
    con.close()


def test_parsed_table_is_a_sequence_of_rows(loaded):
    t = next(p for p in loaded[3] if "review" in p.tables).tables["review"]
    assert isinstance(t, ParsedTable) and len(t) == 58 and t[0].row == 4 and t[-1].row == 63
    assert [r.row for r in t[1:3]] == [5, 7] and t == list(t) and t.error_rows() == [2, 4]
    assert t.take([1]).merged(t.take([0]))[0].row == 4
    assert ParsedTable.empty(REVIEW, ("seq",), ("A",)) == [] and not ParsedTable.empty(REVIEW, ("seq",), ("A",))
    assert ParsedTable.from_rows(list(t)) == t
    assert load._STATUS_LETTERS == set(STATUS_CODES.values())


def test_wire_is_columnar_and_checked(loaded):
    pr = next(p for p in loaded[2] if "review" in p.tables)
    wire = json.loads(json.dumps(sandbox.to_wire(pr), ensure_ascii=False))
    sheet, fields, columns, rows, values, raws, codes = wire["tables"]["review"]
    i = fields.index("diagnosis")
    assert raws[i] == sandbox.SAME_AS_TEXT_VALUE and raws[fields.index("age")] is None
    assert codes[fields.index("rx_date")][:4] == "ooeo"
    assert sandbox.from_wire(wire) == pr
    for path, bad in [((3, 0), 0), ((3, 0), 2 ** 31), ((3, 0), "4"), ((6, 0), "ooxo" + codes[0][4:]),
                      ((6, 0), codes[0][:-1]), ((5, i), ["x"]), ((5, i), "same"), ((4, 0, 0), [1.0]),
                      ((2,), columns[:-1])]:
        w = json.loads(json.dumps(wire, ensure_ascii=False))
        target = w["tables"]["review"]
        for k in path[:-1]:
            target = target[k]
        target[path[-1]] = bad
        with pytest.raises(ValueError):
            sandbox.from_wire(w)
