"""Facility registry (机构名录): read the bureau's Excel list, validate it, store it effective-dated."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import duckdb
from python_calamine import CalamineWorkbook

from expectations.findings import Finding, make
from metrics.catalog import CATALOG_DIR, CatalogError, check_keys, load_yaml
from warehouse.db import sql_text, transaction
from warehouse.load import insert_findings

FACILITY_SHEET = "机构"
MEMBERSHIP_SHEET = "成员关系"

TIERS = ("三级", "二级", "一级", "基层", "区县")  # 区县: a county health bureau filing the county return
GRADES = ("甲", "乙", "丙", "未定级")
FTYPES = ("综合", "中医", "中西医结合", "民族医", "专科", "妇幼保健院", "乡镇卫生院", "社区卫生服务中心",
          "卫生健康行政部门")
ORG_KINDS = ("医共体", "专科联盟", "医院集团", "医联体")
ROLES = ("牵头", "成员")

# Header text → column key. Headers are matched after removing spaces and unifying brackets.
FACILITY_COLUMNS = {
    "机构编码": "facility_id", "机构名称": "name", "统一社会信用代码": "uscc", "级别": "tier",
    "等次": "grade", "类别": "ftype", "专科": "specialty", "所属区县": "county",
    "同组（覆盖）": "peer_group_override", "联系人": "contact_name", "联系电话": "contact_phone",
    "生效日期": "valid_from", "失效日期": "valid_to",
}
FACILITY_REQUIRED = ("机构编码", "机构名称", "级别", "类别", "生效日期")
MEMBERSHIP_COLUMNS = {
    "机构编码": "facility_id", "组织编码": "org_id", "组织名称": "org_name", "组织类型": "org_kind",
    "角色": "role", "生效日期": "valid_from", "失效日期": "valid_to",
}
MEMBERSHIP_REQUIRED = ("机构编码", "组织编码", "组织名称", "组织类型", "角色", "生效日期")

FACILITY_KEYS = ("facility_id", "valid_from", "valid_to", "name", "uscc", "tier", "grade", "ftype",
                 "specialty", "county", "peer_group_override", "contact_name", "contact_phone",
                 "source_file", "source_row")
MEMBERSHIP_KEYS = ("facility_id", "org_id", "org_name", "org_kind", "role", "valid_from", "valid_to")

# GB 32100-2015: 31-character set (no I, O, S, V, Z); weight of position i is 3**i mod 31.
USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


@dataclass
class RegistryImport:
    facilities: list[dict] = field(default_factory=list)
    memberships: list[dict] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


# --- USCC ------------------------------------------------------------------------------------------

def uscc_check_char(first17: str) -> str:
    """The GB 32100-2015 check character for the first 17 characters of a USCC."""
    total = sum(USCC_CHARSET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_CHARSET[(31 - total % 31) % 31]


def uscc_problem(code: str) -> str | None:
    """Why `code` is not a valid USCC (Chinese text), or None when it is valid."""
    if len(code) != 18:
        return f"应为 18 位，实为 {len(code)} 位"
    bad = sorted({c for c in code if c not in USCC_CHARSET})
    if bad:
        return f"含有不允许的字符 {'、'.join(bad)}"
    expected = uscc_check_char(code[:17])
    if code[17] != expected:
        return f"校验码应为 {expected}"
    return None


def uscc_valid(code: str) -> bool:
    """True when `code` is an 18-character USCC with a correct GB 32100-2015 check character."""
    return isinstance(code, str) and uscc_problem(code) is None


# --- peer groups -----------------------------------------------------------------------------------

@lru_cache(maxsize=2)
def _peer_groups(path: Path | None = None) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    path = Path(path or CATALOG_DIR / "peer_groups.yaml")
    doc = load_yaml(path)
    check_keys(doc, {"type_classes", "groups"}, {"type_classes", "groups"}, str(path))
    groups = {}
    for i, g in enumerate(doc["groups"]):
        check_keys(g, {"tier", "class", "peer_group"}, {"tier", "class", "peer_group"}, f"{path}: groups[{i}]")
        groups[(g["tier"], g["class"])] = g["peer_group"]
    return dict(doc["type_classes"]), groups


def peer_group(tier: str, ftype: str, override: str | None = None) -> str:
    """The peer group (同组) of a facility: the override when set, else tier × type class from the catalog."""
    if override:
        return override
    classes, groups = _peer_groups()
    try:
        return groups[(tier, classes[ftype])]
    except KeyError:
        raise CatalogError(f"peer_groups.yaml: no peer group for tier {tier!r} and type {ftype!r}") from None


def _has_peer_group(tier: str, ftype: str) -> bool:
    classes, groups = _peer_groups()
    return (tier, classes.get(ftype)) in groups


# --- reading ---------------------------------------------------------------------------------------

def col_letter(idx: int) -> str:
    """Excel column letters for a 0-based column index."""
    s = ""
    idx += 1
    while idx:
        idx, r = divmod(idx - 1, 26)
        s = chr(65 + r) + s
    return s


def _norm_header(v: Any) -> str:
    s = re.sub(r"\s+", "", str(v or ""))
    return s.replace("(", "（").replace(")", "）")


def _text(v: Any) -> str | None:
    """Cell value as stripped text; whole floats lose their '.0' (codes and phones typed as numbers)."""
    if v is None or v == "":
        return None
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, (dt.datetime, dt.date)):
        return v.isoformat()
    s = str(v).strip()
    return s or None


_DATE_RE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")
_EXCEL_EPOCH = dt.date(1899, 12, 30)


def parse_date(v: Any) -> dt.date:
    """A date from a date cell, an Excel serial number or text like 2026-07-01 / 2026年7月1日."""
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if 1 <= v < 2958466:
            return _EXCEL_EPOCH + dt.timedelta(days=int(v))
        raise ValueError("数值超出日期范围")
    m = _DATE_RE.match(str(v).strip())
    if not m:
        raise ValueError("格式应为 YYYY-MM-DD")
    try:
        return dt.date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        raise ValueError("日期不存在") from None


def _read_sheet(wb: CalamineWorkbook, sheet: str) -> list[list[Any]] | None:
    if sheet not in wb.sheet_names:
        return None
    # skip_empty_area=False keeps row/column indices aligned with cell addresses
    return wb.get_sheet_by_name(sheet).to_python(skip_empty_area=False)


def _header(rows: list[list[Any]], columns: dict[str, str]) -> tuple[int, dict[str, int]]:
    """Find the header row (first of the first 10 rows naming 机构编码) and map header text → column."""
    for r, row in enumerate(rows[:10]):
        names = [_norm_header(v) for v in row]
        if "机构编码" in names:
            return r, {h: names.index(h) for h in columns if h in names}
    return -1, {}


class _RowCheck:
    """Collects a row's values and its first problem; the row is imported only without a problem."""

    def __init__(self, sheet: str, file: str, row: list[Any], rnum: int, cols: dict[str, int]) -> None:
        self.sheet, self.file, self.row, self.rnum, self.cols = sheet, file, row, rnum, cols
        self.finding: Finding | None = None
        self.facility_id: str | None = None

    def cell(self, header: str) -> str:
        return f"{col_letter(self.cols[header])}{self.rnum}"

    def raw(self, header: str) -> Any:
        i = self.cols.get(header)
        if i is None or i >= len(self.row):
            return None
        v = self.row[i]
        return None if v == "" else v

    def fail(self, code: str, header: str, **kw: Any) -> None:
        if self.finding is None:
            self.finding = make(code, field_zh=header, file=self.file, sheet=self.sheet, cell=self.cell(header),
                                field=header, facility_id=self.facility_id, **kw)

    def text(self, header: str, required: bool = False) -> str | None:
        s = _text(self.raw(header))
        if s is None and required:
            self.fail("registry-missing-value", header)
        return s

    def choice(self, header: str, allowed: tuple[str, ...], required: bool = False,
               aliases: dict[str, str] | None = None) -> str | None:
        s = self.text(header, required)
        if s is None:
            return None
        s = (aliases or {}).get(s, s)
        if s not in allowed:
            self.fail("registry-bad-value", header, value=s, expected="、".join(allowed))
            return None
        return s

    def date(self, header: str, required: bool = False) -> dt.date | None:
        v = self.raw(header)
        if v is None or (isinstance(v, str) and not v.strip()):
            if required:
                self.fail("registry-missing-value", header)
            return None
        try:
            return parse_date(v)
        except ValueError as e:
            self.fail("registry-bad-date", header, value=_text(v), detail=str(e))
            return None

    def period(self) -> tuple[dt.date | None, dt.date | None]:
        start = self.date("生效日期", required=True)
        end = self.date("失效日期")
        if start and end and end <= start:
            self.fail("registry-bad-date", "失效日期", value=end.isoformat(),
                      detail=f"失效日期须晚于生效日期 {start.isoformat()}")
        return start, end


def _overlaps(a_from: dt.date, a_to: dt.date | None, b_from: dt.date, b_to: dt.date | None) -> bool:
    return (b_to is None or a_from < b_to) and (a_to is None or b_from < a_to)


def _check_overlap(chk: _RowCheck, accepted: list[dict], key: Callable[[dict], Any], rec: dict) -> None:
    """Flag `rec` when its validity overlaps an accepted row with the same key."""
    for other in accepted:
        if key(other) == key(rec) and _overlaps(rec["valid_from"], rec["valid_to"],
                                                other["valid_from"], other["valid_to"]):
            chk.fail("registry-overlap", "生效日期", value=rec["valid_from"].isoformat(),
                     expected=other["_row"])
            return


_GRADE_ALIASES = {"甲等": "甲", "乙等": "乙", "丙等": "丙"}


def _read_facilities(rows: list[list[Any]] | None, file: str, out: RegistryImport) -> None:
    sheet = FACILITY_SHEET
    if rows is None:
        out.findings.append(make("sheet-missing", file=file, sheet=sheet))
        return
    hr, cols = _header(rows, FACILITY_COLUMNS)
    missing = [h for h in FACILITY_REQUIRED if h not in cols] if hr >= 0 else ["机构编码"]
    if missing:
        for h in missing:
            out.findings.append(make("registry-column-missing", field_zh=h, file=file, sheet=sheet, field=h))
        return
    for r in range(hr + 1, len(rows)):
        row = rows[r]
        if all(v in ("", None) or (isinstance(v, str) and not v.strip()) for v in row):
            continue
        chk = _RowCheck(sheet, file, row, r + 1, cols)
        fid = chk.text("机构编码", required=True)
        chk.facility_id = fid.upper() if fid else None
        rec: dict[str, Any] = {"facility_id": chk.facility_id, "name": chk.text("机构名称", required=True)}
        uscc = chk.text("统一社会信用代码") if "统一社会信用代码" in cols else None
        if uscc is not None:
            uscc = re.sub(r"\s+", "", uscc).upper()
            problem = uscc_problem(uscc)
            if problem:
                chk.fail("registry-invalid-uscc", "统一社会信用代码", value=uscc, detail=problem)
        rec["uscc"] = uscc
        rec["tier"] = chk.choice("级别", TIERS, required=True)
        rec["grade"] = chk.choice("等次", GRADES, aliases=_GRADE_ALIASES) if "等次" in cols else None
        rec["ftype"] = chk.choice("类别", FTYPES, required=True)
        for h in ("专科", "所属区县", "同组（覆盖）", "联系人", "联系电话"):
            rec[FACILITY_COLUMNS[h]] = chk.text(h) if h in cols else None
        rec["valid_from"], rec["valid_to"] = chk.period()
        if chk.finding is None and not rec["peer_group_override"] and not _has_peer_group(rec["tier"], rec["ftype"]):
            chk.fail("registry-no-peer-group", "级别", value=rec["tier"], detail=rec["ftype"])
        if chk.finding is None:
            _check_overlap(chk, out.facilities, lambda d: d["facility_id"], rec)
        if chk.finding is not None:
            out.findings.append(chk.finding)
            continue
        rec.update(source_file=file, source_row=r + 1, _row=r + 1)
        out.facilities.append(rec)


def _read_memberships(rows: list[list[Any]] | None, file: str, out: RegistryImport) -> None:
    sheet = MEMBERSHIP_SHEET
    if rows is None:
        return  # a registry without alliances is fine
    hr, cols = _header(rows, MEMBERSHIP_COLUMNS)
    missing = [h for h in MEMBERSHIP_REQUIRED if h not in cols] if hr >= 0 else ["机构编码"]
    if missing:
        for h in missing:
            out.findings.append(make("registry-column-missing", field_zh=h, file=file, sheet=sheet, field=h))
        return
    known = {f["facility_id"] for f in out.facilities}
    for r in range(hr + 1, len(rows)):
        row = rows[r]
        if all(v in ("", None) or (isinstance(v, str) and not v.strip()) for v in row):
            continue
        chk = _RowCheck(sheet, file, row, r + 1, cols)
        fid = chk.text("机构编码", required=True)
        chk.facility_id = fid.upper() if fid else None
        if chk.facility_id and chk.facility_id not in known:
            chk.fail("registry-unknown-facility", "机构编码", value=fid)
        rec: dict[str, Any] = {"facility_id": chk.facility_id}
        oid = chk.text("组织编码", required=True)
        rec["org_id"] = oid.upper() if oid else None
        rec["org_name"] = chk.text("组织名称", required=True)
        rec["org_kind"] = chk.choice("组织类型", ORG_KINDS, required=True)
        rec["role"] = chk.choice("角色", ROLES, required=True)
        rec["valid_from"], rec["valid_to"] = chk.period()
        if chk.finding is None:
            _check_overlap(chk, out.memberships, lambda d: (d["facility_id"], d["org_id"]), rec)
        if chk.finding is not None:
            out.findings.append(chk.finding)
            continue
        rec["_row"] = r + 1
        out.memberships.append(rec)


def read_registry(path: Path) -> RegistryImport:
    """Read and validate the registry workbook; bad rows become findings and are skipped."""
    path = Path(path)
    out = RegistryImport()
    wb = CalamineWorkbook.from_path(str(path))
    try:
        fac_rows = _read_sheet(wb, FACILITY_SHEET)
        mem_rows = _read_sheet(wb, MEMBERSHIP_SHEET)
    finally:
        wb.close()
    _read_facilities(fac_rows, path.name, out)
    _read_memberships(mem_rows, path.name, out)
    for d in out.facilities + out.memberships:
        d.pop("_row", None)
    return out


# --- warehouse -------------------------------------------------------------------------------------

def import_registry(con: duckdb.DuckDBPyConnection, path: Path) -> RegistryImport:
    """Replace the facilities and memberships tables with the file's valid rows, in one transaction."""
    import pandas as pd

    imp = read_registry(path)
    fac = pd.DataFrame([[d[k] for k in FACILITY_KEYS] for d in imp.facilities], columns=list(FACILITY_KEYS))
    mem = pd.DataFrame([[d[k] for k in MEMBERSHIP_KEYS] for d in imp.memberships], columns=list(MEMBERSHIP_KEYS))
    for frame in (fac, mem):
        for c in ("valid_from", "valid_to"):
            frame[c] = pd.to_datetime(frame[c]).astype("datetime64[s]")
        for c in frame.columns:
            if c not in ("valid_from", "valid_to", "source_row"):
                frame[c] = frame[c].astype("object")
    fac["source_row"] = fac["source_row"].astype("int64")
    con.register("_reg_facilities_in", fac)
    con.register("_reg_memberships_in", mem)
    try:
        with transaction(con):
            con.execute(sql_text("reg_replace_facilities"))
            con.execute(sql_text("reg_replace_memberships"))
            # the registry's own findings are kept for auditors; a new import replaces the previous ones
            con.execute("DELETE FROM findings WHERE stage = 'registry'")
            insert_findings(con, imp.findings)
    finally:
        con.unregister("_reg_facilities_in")
        con.unregister("_reg_memberships_in")
    return imp


def month_bounds(month: str) -> tuple[dt.date, dt.date]:
    """First day of `month` (YYYY-MM) and first day of the next month."""
    m = re.fullmatch(r"(\d{4})-(\d{2})", month)
    if not m or not 1 <= int(m[2]) <= 12:
        raise ValueError(f"month must be YYYY-MM, got {month!r}")
    y, mo = int(m[1]), int(m[2])
    return dt.date(y, mo, 1), dt.date(y + mo // 12, mo % 12 + 1, 1)


def _rows(cur: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def facilities_for_period(con: duckdb.DuckDBPyConnection, month: str) -> list[dict[str, Any]]:
    """Facilities active in the month (one row each: the one valid on its last day), with peer_group."""
    start, end = month_bounds(month)
    rows = _rows(con.execute(sql_text("reg_facilities_for_period"), {"month_start": start, "month_end": end}))
    for r in rows:
        r["peer_group"] = peer_group(r["tier"], r["ftype"], r["peer_group_override"])
    return rows


def memberships_for_period(con: duckdb.DuckDBPyConnection, month: str) -> list[dict[str, Any]]:
    """Memberships active in the month (one row per facility + organisation)."""
    start, end = month_bounds(month)
    return _rows(con.execute(sql_text("reg_memberships_for_period"), {"month_start": start, "month_end": end}))
