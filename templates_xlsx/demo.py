"""Generate a demo region: facility registry, baseline workbook and an inbox of filled monthly returns.

Everything is a pure function of the seed (no wall clock, no global random state): each facility-month
draws its figures from its own `random.Random(f"{seed}:…")`, so a value does not depend on region size
or generation order, and two runs with the same arguments give byte-identical files.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import math
import os
import random
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill

from metrics.catalog import load_fields
from templates_xlsx.build import template_path
from templates_xlsx.determinism import save_deterministic
from templates_xlsx.fill import fill_bytes
from templates_xlsx.layout import Layout, LayoutVersion, load_layouts

CITY = "江州市"
CITY_DIVISION = "339900"  # fictional division code (no real 3399xx exists)
DISTRICTS = (("城东区", "339902"), ("城西区", "339903"), ("江北区", "339904"))
COUNTIES = (("青山县", "339921"), ("临河县", "339922"), ("白石县", "339923"), ("松阳县", "339924"))
DIVISIONS = dict(DISTRICTS + COUNTIES)
OPEN_DATE = dt.date(2012, 1, 1)  # validity start of facilities that existed before the demo's history

MISTAKE_KINDS = ("unknown-code", "required-blank", "sum-mismatch", "wrong-period", "text-in-number",
                 "yuan-not-wanyuan")
MISTAKE_LABELS_ZH = {
    "unknown-code": "机构编码填错", "required-blank": "必填项漏填", "sum-mismatch": "合计与分项不符",
    "wrong-period": "统计期填错（差一个月）", "text-in-number": "数值单元格填了文字",
    "yuan-not-wanyuan": "金额按元填写（应为万元）",
    "part-exceeds-total": "分项大于合计", "duplicate-id": "问卷编号重复",
}
GRASSROOTS_MISTAKE_KINDS = ("part-exceeds-total", "required-blank")  # JX-JC01, target month
GRASSROOTS_TYPES = ("乡镇卫生院", "社区卫生服务中心")
COUNTY_TIER, COUNTY_TYPE = "区县", "卫生健康行政部门"
# short stems of the new returns' file names: f"{facility_id}_{name}_{yyyymm}_{stem}.xlsx"
STEMS = {"JX-MY01": "满意度调查", "JX-MY02": "满意度平台数据", "JX-JC01": "基层月报", "JX-XY01": "县域月报"}
REGISTRY_HEADERS = ("机构编码", "机构名称", "统一社会信用代码", "级别", "等次", "类别", "专科", "所属区县",
                    "同组（覆盖）", "联系人", "联系电话", "生效日期", "失效日期")
MEMBERSHIP_HEADERS = ("机构编码", "组织编码", "组织名称", "组织类型", "角色", "生效日期", "失效日期")

# month-of-year volume factors: Spring Festival dip in Feb, National Day dip in Oct, winter peak
SEASON = {1: 1.02, 2: 0.82, 3: 1.06, 4: 1.01, 5: 0.99, 6: 1.00, 7: 1.04, 8: 1.03, 9: 1.00, 10: 0.94,
          11: 1.03, 12: 1.07}

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程魏苏吕丁任沈"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国文辉玲红燕鹏飞婷雪梅宇浩然晨欣怡"
_TOWN_A = "石梅龙西东南北新青白松长安永兴福金云桃柳双河马凤黄竹花枫"
_TOWN_B = "桥溪潭岭湖山口坪塘坝埠港林源田"
_ORG_CHARS = "0123456789"
_UNSAFE_NAME = re.compile(r'[\\/:*?"<>|\s]+')


@dataclass
class DemoRegion:
    registry_path: Path
    baseline_path: Path
    inbox_dir: Path
    manifest_path: Path
    files: list[Path] = field(default_factory=list)
    mistakes: list[dict] = field(default_factory=list)
    # questionnaires with a data-quality issue (incomplete, straight-line): facility_id, month, file, table,
    # row (worksheet row), kind; they come on top of the complete ones, so they never reduce a valid count
    survey_issues: list[dict] = field(default_factory=list)


@dataclass
class _Facility:
    facility_id: str
    rows: list[dict]                       # registry rows (effective-dated), oldest first
    params: dict[str, Any] = field(default_factory=dict)

    def row_for(self, month: str) -> dict | None:
        """The registry row that applies to a month (valid on its last day, else the latest overlapping)."""
        start, end = _month_bounds(month)
        hits = [r for r in self.rows if r["valid_from"] < end and (r["valid_to"] is None or r["valid_to"] > start)]
        if not hits:
            return None
        on_last = [r for r in hits if r["valid_to"] is None or r["valid_to"] >= end]
        return max(on_last or hits, key=lambda r: r["valid_from"])


# --- small helpers -----------------------------------------------------------------------------------

def _month_bounds(month: str) -> tuple[dt.date, dt.date]:
    y, m = int(month[:4]), int(month[5:7])
    return dt.date(y, m, 1), dt.date(y + m // 12, m % 12 + 1, 1)


def _add_months(month: str, n: int) -> str:
    k = int(month[:4]) * 12 + int(month[5:7]) - 1 + n
    return f"{k // 12:04d}-{k % 12 + 1:02d}"


def _month_text(month: str) -> str:
    return f"{month[:4]}年{month[5:7]}月"


def _first_day(month: str) -> dt.date:
    return _month_bounds(month)[0]


def safe_filename(text: str) -> str:
    """Text usable in a file name on every OS (path separators, wildcards and spaces → _)."""
    return _UNSAFE_NAME.sub("_", text).strip("._") or "_"


def _org_code(rng: random.Random) -> str:
    """A 9-character organisation code (GB 11714) with its check character: 8 digits starting with 4."""
    body = "4" + "".join(rng.choice(_ORG_CHARS) for _ in range(7))
    total = sum(int(c) * w for c, w in zip(body, (3, 7, 9, 10, 5, 8, 4, 2)))
    check = 11 - total % 11
    return body + {10: "X", 11: "0"}.get(check, str(check))


def _uscc(rng: random.Random, division: str, used: set[str]) -> str:
    """A USCC for a public institution (登记管理部门 1 = 机构编制, 类别 2 = 事业单位) with a valid check digit."""
    from warehouse.registry import uscc_check_char

    while True:
        first17 = "12" + division + _org_code(rng)
        code = first17 + uscc_check_char(first17)
        if code not in used:
            used.add(code)
            return code


def _person(rng: random.Random) -> str:
    return rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2))))


def _phone(rng: random.Random, mobile: bool) -> str:
    if mobile:
        return "1" + rng.choice("3589") + "".join(rng.choice("0123456789") for _ in range(9))
    return "0795-" + rng.choice("2345678") + "".join(rng.choice("0123456789") for _ in range(7))


# --- registry ----------------------------------------------------------------------------------------

def _tertiary_candidates() -> list[tuple[str, str, str | None, str]]:
    """(name, type, specialty, county) of tertiary hospitals, most typical first."""
    fixed = [
        (f"{CITY}第一人民医院", "综合", None, "城东区"),
        (f"{CITY}中医院", "中医", None, "城东区"),
        (f"{CITY}妇幼保健院", "妇幼保健院", None, "城西区"),
        (f"{CITY}中心医院", "综合", None, "城西区"),
        (f"{CITY}肿瘤医院", "专科", "肿瘤", "城东区"),
        (f"{CITY}第二人民医院", "综合", None, "江北区"),
        ("江州医学院附属医院", "综合", None, "城西区"),
        (f"{CITY}中西医结合医院", "中西医结合", None, "江北区"),
        (f"{CITY}儿童医院", "专科", "儿科", "城东区"),
        (f"{CITY}第三人民医院", "综合", None, "江北区"),
    ]
    extra = [(f"{CITY}{d}第{k}医院", "综合", None, d) for k in range(1, 2000) for d, _ in DISTRICTS]
    return fixed + extra


def _secondary_candidates() -> list[tuple[str, str, str | None, str]]:
    """Secondary hospitals: county hospitals (医共体 leads) and the new rehabilitation hospital first."""
    out: list[tuple[str, str, str | None, str]] = [(f"{c}人民医院", "综合", None, c) for c, _ in COUNTIES]
    out.append((f"{CITY}康复医院", "专科", "康复", "江北区"))
    out += [(f"{d}人民医院", "综合", None, d) for d, _ in DISTRICTS]
    out += [(f"{c}中医医院", "中医", None, c) for c, _ in COUNTIES]
    out += [(f"{CITY}精神卫生中心", "专科", "精神", "江北区"), (f"{CITY}传染病医院", "专科", "传染", "城西区")]
    out += [(f"{c}第二人民医院", "综合", None, c) for c, _ in COUNTIES]
    out += [(f"{c}妇幼保健院", "妇幼保健院", None, c) for c, _ in COUNTIES]
    out += [(f"{d}中医医院", "中医", None, d) for d, _ in DISTRICTS[:2]]
    out += [(f"{CITY}口腔医院", "专科", "口腔", "城东区"), (f"{CITY}眼科医院", "专科", "眼科", "城西区")]
    out += [(f"{CITY}第{n}人民医院", "综合", None, DISTRICTS[i % 3][0]) for i, n in enumerate("四五六七")]
    out += [(f"{c}第三人民医院", "综合", None, c) for c, _ in COUNTIES]
    out += [(f"{c}第{k}人民医院", "综合", None, c) for k in range(4, 2000) for c, _ in COUNTIES]
    return out


def _base_candidates(rng: random.Random, n: int) -> list[tuple[str, str, str | None, str]]:
    """Township health centres (4 in 5, round-robin over counties) and community health centres."""
    used: set[str] = set()
    out = []
    for i in range(n):
        if i % 5 == 4:
            d = DISTRICTS[(i // 5) % len(DISTRICTS)][0]
            while True:
                street = rng.choice(_TOWN_A) + rng.choice(_TOWN_B) + "街道"
                name = f"{d}{street}社区卫生服务中心"
                if name not in used:
                    break
            out.append((name, "社区卫生服务中心", None, d))
        else:
            c = COUNTIES[(i - i // 5) % len(COUNTIES)][0]
            while True:
                town = rng.choice(_TOWN_A) + rng.choice(_TOWN_B) + rng.choice("镇镇镇乡")
                name = f"{c}{town}卫生院"
                if name not in used:
                    break
            out.append((name, "乡镇卫生院", None, c))
        used.add(name)
    return out


def _build_registry(rng: random.Random, n_total: int, period: str) -> tuple[list[_Facility], list[dict]]:
    """Facilities (with effective-dated rows) and memberships of the region."""
    n3 = max(1, round(n_total * 10 / 60))
    n2 = max(1, round(n_total * 30 / 60))
    n_base = max(0, n_total - n3 - n2)
    upgrade_date = _first_day(_add_months(period, -3))      # a county hospital becomes 三级
    open_date = _first_day(_add_months(period, -5)) + dt.timedelta(days=17)  # opened mid-month
    rename_date = dt.date(int(period[:4]), 1, 1)
    close_date = _first_day(_add_months(period, -8))

    specs = ([("三级", s) for s in _tertiary_candidates()[:n3]] + [("二级", s) for s in _secondary_candidates()[:n2]]
             + [("基层", s) for s in _base_candidates(rng, n_base)])
    used_uscc: set[str] = set()
    facilities: list[_Facility] = []
    for i, (tier, (name, ftype, specialty, county)) in enumerate(specs, start=1):
        fid = f"JZ{i:04d}"
        base_tier = tier
        if tier == "三级":
            grade = "甲" if rng.random() < 0.85 else "乙"
        elif tier == "二级":
            grade = "甲" if rng.random() < 0.7 else "乙"
        else:
            grade = "未定级"
        division = DIVISIONS.get(county, CITY_DIVISION)
        contact = _person(rng)
        row = {"facility_id": fid, "name": name, "uscc": _uscc(rng, division, used_uscc), "tier": base_tier,
               "grade": grade, "ftype": ftype, "specialty": specialty, "county": county,
               "peer_group_override": None, "contact_name": contact,
               "contact_phone": _phone(rng, mobile=tier == "基层"), "valid_from": OPEN_DATE, "valid_to": None}
        rows = [row]
        if name == f"{COUNTIES[0][0]}人民医院":  # upgraded 二级甲等 → 三级乙等
            rows = [dict(row, grade="甲", valid_to=upgrade_date),
                    dict(row, tier="三级", grade="乙", valid_from=upgrade_date)]
        elif name == f"{CITY}康复医院":
            rows = [dict(row, grade="未定级", valid_from=open_date)]
        elif name == f"{DISTRICTS[0][0]}人民医院":  # renamed at the start of the year
            rows = [dict(row, valid_to=rename_date), dict(row, name=f"{CITY}城东医院", valid_from=rename_date)]
        facilities.append(_Facility(fid, rows))
    # one township centre merged into another: closes (the last one of the third county, if it has two)
    towns = [f for f in facilities if f.rows[0]["ftype"] == "乡镇卫生院" and f.rows[0]["county"] == COUNTIES[2][0]]
    if len(towns) >= 2:
        towns[-1].rows[-1]["valid_to"] = close_date
    return facilities, _build_memberships(facilities, period)


def _build_memberships(facilities: list[_Facility], period: str) -> list[dict]:
    """County 医共体 (one per county, the county hospital leads), a 医联体, a 专科联盟 and a 医院集团."""
    by_name = {f.rows[-1]["name"]: f for f in facilities} | {f.rows[0]["name"]: f for f in facilities}
    since = _first_day(_add_months(period, -30))  # alliances formed well before the returns start
    late_start = _first_day(_add_months(period, -3))  # the last county's 医共体 starts three months ago
    out: list[dict] = []

    def add(org_id: str, org_name: str, kind: str, lead: _Facility | None, members: list[_Facility],
            start: dt.date) -> None:
        if lead is None or not members:
            return
        for f, role in [(lead, "牵头")] + [(m, "成员") for m in members]:
            closes = f.rows[-1]["valid_to"]
            out.append({"facility_id": f.facility_id, "org_id": org_id, "org_name": org_name, "org_kind": kind,
                        "role": role, "valid_from": max(start, f.rows[0]["valid_from"]), "valid_to": closes})

    for k, (county, _) in enumerate(COUNTIES, start=1):
        members = [f for f in facilities if f.rows[0]["ftype"] == "乡镇卫生院" and f.rows[0]["county"] == county]
        add(f"YGT{k:02d}", f"{county}县域医共体", "医共体", by_name.get(f"{county}人民医院"), members,
            late_start if k == len(COUNTIES) else since)
    community = [f for f in facilities if f.rows[0]["ftype"] == "社区卫生服务中心"]
    add("YLT01", f"{CITY}第一人民医院医联体", "医联体", by_name.get(f"{CITY}第一人民医院"), community, since)
    county_hosp = [by_name[f"{c}人民医院"] for c, _ in COUNTIES if f"{c}人民医院" in by_name]
    lead = by_name.get(f"{CITY}中心医院") or by_name.get(f"{CITY}第一人民医院")
    add("ZKLM01", f"{CITY}胸痛专科联盟", "专科联盟", lead, county_hosp, _first_day(_add_months(period, -19)))
    tcm = [by_name[f"{c}中医医院"] for c, _ in COUNTIES if f"{c}中医医院" in by_name]
    add("YYJT01", f"{CITY}中医医院集团", "医院集团", by_name.get(f"{CITY}中医院"), tcm, since)
    return sorted(out, key=lambda r: (r["facility_id"], r["org_id"], r["valid_from"]))


def _write_registry(facilities: list[_Facility], memberships: list[dict], path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    ws.title = "机构"
    ws.append(list(REGISTRY_HEADERS))
    keys = ("facility_id", "name", "uscc", "tier", "grade", "ftype", "specialty", "county", "peer_group_override",
            "contact_name", "contact_phone", "valid_from", "valid_to")
    for f in facilities:
        for r in f.rows:
            ws.append([r[k] for k in keys])
    ws2 = wb.create_sheet("成员关系")
    ws2.append(list(MEMBERSHIP_HEADERS))
    for m in memberships:
        ws2.append([m[k] for k in ("facility_id", "org_id", "org_name", "org_kind", "role", "valid_from", "valid_to")])
    for sheet, widths in ((ws, (10, 30, 22, 6, 8, 18, 8, 10, 12, 8, 16, 12, 12)), (ws2, (10, 10, 26, 10, 6, 12, 12))):
        _style_sheet(sheet, widths)
        for row in sheet.iter_rows(min_row=2):
            for c in row:
                if isinstance(c.value, dt.date):
                    c.number_format = "yyyy-mm-dd"
    save_deterministic(wb, path)


def _style_sheet(ws: Any, widths: tuple[int, ...]) -> None:
    bold, fill = Font(bold=True), PatternFill("solid", fgColor="DDEBF7")
    for i, w in enumerate(widths, start=1):
        c = ws.cell(row=1, column=i)
        c.font, c.fill, c.alignment = bold, fill, Alignment(horizontal="center", vertical="center")
        ws.column_dimensions[c.column_letter].width = w
    ws.freeze_panes = "A2"


# --- figures -----------------------------------------------------------------------------------------

def _facility_params(seed: int, f: _Facility) -> dict[str, Any]:
    """Size and structure of a hospital, drawn once from its own generator."""
    rng = random.Random(f"{seed}:params:{f.facility_id}")
    first = f.rows[0]
    tier3 = any(r["tier"] == "三级" for r in f.rows)
    upgraded = first["tier"] == "二级" and tier3
    ftype = first["ftype"]
    tcm = ftype in ("中医", "中西医结合", "民族医")
    specialist = ftype in ("专科", "妇幼保健院")
    if tier3 and not upgraded:
        visits = rng.uniform(30_000, 150_000) * (0.6 if specialist else 1.0)
        per_visit, per_disc = rng.uniform(300, 420), rng.uniform(11_000, 17_000)
        alos, g4 = rng.uniform(7.0, 9.5), rng.uniform(0.08, 0.25)
    else:
        visits = rng.uniform(22_000, 30_000) if upgraded else rng.uniform(5_000, 30_000) * (0.7 if specialist else 1.0)
        per_visit, per_disc = rng.uniform(200, 320), rng.uniform(6_500, 10_500)
        alos, g4 = rng.uniform(6.0, 8.5), rng.uniform(0.02, 0.08)
    if tcm:
        per_visit *= 0.9
    disc_ratio = rng.uniform(0.03, 0.055)
    drug = rng.uniform(0.25, 0.38)
    cons, exam, svc = rng.uniform(0.10, 0.17), rng.uniform(0.15, 0.23), rng.uniform(0.20, 0.33)
    excess = drug + cons + exam + svc - 0.96  # the revenue structure cannot exceed the whole
    if excess > 0:
        svc = max(0.20, svc - excess)
        exam = max(0.12, exam - max(0.0, drug + cons + exam + svc - 0.96))
    occ = rng.uniform(0.85, 0.98)
    beds = round(visits * disc_ratio * alos / (30.4 * occ) / 10) * 10
    return {
        "visits": visits, "per_visit": per_visit, "per_disc": per_disc, "alos": alos, "disc_ratio": disc_ratio,
        "growth": rng.uniform(-0.08, 0.10), "cost_growth": rng.uniform(-0.03, 0.04),
        "drug": drug, "op_drug_boost": rng.uniform(1.05, 1.30), "cons": cons, "exam": exam, "svc": svc,
        "svc_weights": {"svc_registration": rng.uniform(1, 3), "svc_bed": rng.uniform(8, 12),
                        "svc_consultation": rng.uniform(8, 15), "svc_treatment": rng.uniform(25, 35),
                        "svc_surgery": rng.uniform(12, 25) * (0.5 if tcm else 1.0),
                        "svc_pharmacy": rng.uniform(0.5, 2) if rng.random() < 0.3 else 0.0,
                        "svc_nursing": rng.uniform(10, 16)},
        "herbal": rng.uniform(0.15, 0.30) if tcm else (0.0 if specialist else rng.uniform(0.01, 0.04)),
        "herbal_blank": specialist,
        "essential": rng.uniform(0.40, 0.70), "rx_ratio": rng.uniform(0.55, 0.85), "rx_ess": rng.uniform(0.5, 0.8),
        "vbp_per_visit": rng.uniform(6, 12), "vbp_share": rng.uniform(0.6, 0.9),
        "surgery": rng.uniform(0.20, 0.50) * (0.6 if tcm else 1.0), "g3": rng.uniform(0.30, 0.45), "g4": g4,
        "mis": rng.uniform(0.10, 0.40), "beds": max(beds, 50), "staff_per_bed": rng.uniform(1.3, 1.8),
        "opened": f.rows[0]["valid_from"] if f.rows[0]["valid_from"] > OPEN_DATE else None,
        "head": _person(rng), "stats_head": _person(rng),
    }


def _cents(x: float) -> int:
    return int(math.floor(x + 0.5))


def month_values(seed: int, f: _Facility, month: str, origin: str) -> dict[str, int | float]:
    """The true figures of one facility-month (counts as int, 万元 amounts with exactly 2 decimals)."""
    p = f.params
    rng = random.Random(f"{seed}:{f.facility_id}:{month}")
    t = (int(month[:4]) * 12 + int(month[5:7])) - (int(origin[:4]) * 12 + int(origin[5:7]))
    trend = (1 + p["growth"]) ** (t / 12)
    ramp = 1.0
    if p["opened"] is not None:  # a new hospital fills up over its first months
        age = (int(month[:4]) * 12 + int(month[5:7])) - (p["opened"].year * 12 + p["opened"].month)
        ramp = min(1.0, 0.45 + 0.15 * age)
    visits = round(p["visits"] * SEASON[int(month[5:7])] * trend * ramp * rng.uniform(0.97, 1.03))
    discharges = round(visits * p["disc_ratio"] * rng.uniform(0.96, 1.04))
    dbd = round(discharges * p["alos"] * rng.uniform(0.97, 1.03))
    obd = round(dbd * rng.uniform(0.96, 1.04))
    beds = round(p["beds"] * (1 + max(p["growth"], 0.0) * (t // 6) / 2) * min(1.0, ramp + 0.3) / 5) * 5
    staff = round(beds * p["staff_per_bed"])
    cost = (1 + p["cost_growth"]) ** (t / 12)
    op_c = _cents(visits * p["per_visit"] * cost * rng.uniform(0.98, 1.02) / 100)  # 元 → 万元 cents
    ip_c = _cents(discharges * p["per_disc"] * cost * rng.uniform(0.98, 1.02) / 100)
    med_c = op_c + ip_c
    drug_share = p["drug"] * rng.uniform(0.98, 1.02)
    op_drug_c = _cents(op_c * min(0.6, drug_share * p["op_drug_boost"]))
    ip_drug_c = min(max(_cents(med_c * drug_share) - op_drug_c, _cents(ip_c * 0.12)), _cents(ip_c * 0.55))
    drug_c = op_drug_c + ip_drug_c
    herbal_c = _cents(drug_c * p["herbal"] * rng.uniform(0.95, 1.05))
    cons_c = _cents(med_c * p["cons"] * rng.uniform(0.97, 1.03))
    exam_c = _cents(med_c * p["exam"] * rng.uniform(0.97, 1.03))
    svc_c = med_c * p["svc"] * rng.uniform(0.98, 1.02)
    wsum = sum(p["svc_weights"].values())
    svc = {k: _cents(svc_c * w / wsum) / 100 for k, w in p["svc_weights"].items()}
    rx = round(visits * p["rx_ratio"] * rng.uniform(0.98, 1.02))
    vbp_generic = round(visits * p["vbp_per_visit"] * rng.uniform(0.95, 1.05))
    surgery = round(discharges * p["surgery"] * rng.uniform(0.96, 1.04))
    out: dict[str, int | float] = {
        "oe_visits": visits, "discharges": discharges, "discharge_bed_days": dbd, "occupied_bed_days": obd,
        "open_beds": beds, "health_tech_staff": staff,
        "med_revenue": med_c / 100, "op_revenue": op_c / 100, "op_drug_revenue": op_drug_c / 100,
        "ip_revenue": ip_c / 100, "ip_drug_revenue": ip_drug_c / 100, "drug_revenue": drug_c / 100,
        "herbal_revenue": herbal_c / 100, "consumables_revenue": cons_c / 100, "exam_lab_revenue": exam_c / 100,
        **svc,
        "op_visits_essential": round(visits * p["essential"] * rng.uniform(0.97, 1.03)),
        "op_rx_total": rx, "op_rx_essential": round(rx * p["rx_ess"] * rng.uniform(0.97, 1.03)),
        "vbp_volume": round(vbp_generic * p["vbp_share"] * rng.uniform(0.98, 1.02)), "vbp_generic_volume": vbp_generic,
        "discharges_surgery": surgery, "discharges_grade3": round(surgery * p["g3"] * rng.uniform(0.95, 1.05)),
        "discharges_grade4": round(surgery * p["g4"] * rng.uniform(0.9, 1.1)),
        "discharges_mis": round(surgery * p["mis"] * rng.uniform(0.95, 1.05)),
    }
    if p["herbal_blank"]:
        out.pop("herbal_revenue")  # a blank "zero" item, as many specialist hospitals leave it
    return out


# --- returns -----------------------------------------------------------------------------------------

@dataclass
class _Return:
    facility: _Facility
    month: str
    rel: str                    # path relative to the inbox
    received: dt.datetime
    values: dict[str, Any]
    period_text: str
    facility_code: str
    formulas: dict[str, tuple[str, Any]] = field(default_factory=dict)
    mistake: dict | None = None


def _received_at(rng: random.Random, month: str, late: bool) -> dt.datetime:
    """Receipt time: on time = before the 10th of the next month (working hours), late = 10th–20th."""
    nxt = _month_bounds(month)[1]
    day = rng.randint(10, 20) if late else rng.randint(1, 9)
    return dt.datetime(nxt.year, nxt.month, day, rng.randint(8, 17), rng.randint(0, 59), rng.randint(0, 59))


def _apply_mistake(kind: str, r: _Return, lv: LayoutVersion, known_ids: set[str], rng: random.Random) -> dict:
    """Put one realistic error into a return; returns the record for `mistakes`."""
    v = r.values
    rec: dict[str, Any] = {"facility_id": r.facility.facility_id, "month": r.month, "file": r.rel,
                           "template_id": "JX-YB01", "sheet": lv.sheet, "kind": kind,
                           "kind_zh": MISTAKE_LABELS_ZH[kind], "field": None, "cell": None, "value": None,
                           "expected": None, "superseded_by": None}
    if kind == "unknown-code":
        fid = r.facility_code
        digits = fid[2:]
        candidates = ["JZ" + digits[:-2] + digits[-1] + digits[-2], "JZ0" + digits, "ZJ" + digits, "JZ" + digits[1:]]
        typo = next(c for c in candidates if c != fid and c not in known_ids)
        r.facility_code = typo
        rec.update(cell=lv.header["facility_code"].cell, value=typo, expected=fid)
    elif kind == "wrong-period":
        r.period_text = _month_text(_add_months(r.month, -1))
        rec.update(cell=lv.header["period"].cell, value=r.period_text, expected=_month_text(r.month))
    else:
        fld = {"required-blank": rng.choice(("discharge_bed_days", "op_rx_total", "discharges_surgery",
                                            "exam_lab_revenue", "health_tech_staff")),
               "sum-mismatch": "drug_revenue", "text-in-number": rng.choice(("op_rx_total", "discharges")),
               "yuan-not-wanyuan": "med_revenue"}[kind]
        good = v.get(fld)
        r.formulas.pop(fld, None)
        if kind == "required-blank":
            bad: Any = None
        elif kind == "sum-mismatch":  # a typo in the total: two digits swapped or one dropped
            cents = round(good * 100)
            delta = rng.choice((-1, 1)) * rng.randint(5, 60) * 100 + rng.randint(0, 99)
            bad = max(cents + delta, 1) / 100
        elif kind == "text-in-number":
            bad = f"约{round(good, -2) if good >= 1000 else good}"
        else:
            bad = round(good * 10_000, 2)
        v[fld] = bad
        rec.update(field=fld, cell=lv.field_cell(fld).cell, value=bad, expected=good)
    r.mistake = rec
    return rec


def _footer(f: _Facility, row: dict, received: dt.datetime) -> dict[str, str]:
    return {"head_of_unit": f.params["head"], "head_of_stats": f.params["stats_head"],
            "filled_by": row["contact_name"], "phone": row["contact_phone"],
            "report_date": f"{received.year}年{received.month:02d}月{received.day:02d}日"}


def generate_region(out_dir: Path, facilities: int = 60, period: str = "2026-10", seed: int = 42,
                    months: int = 13, rx_sizes: dict[str, int] | None = None, survey_months: int = 4,
                    sat_sizes: dict[str, int] | None = None, templates: set[str] | None = None) -> DemoRegion:
    """Write registry.xlsx, baseline.xlsx and inbox/ (`months` months of returns + manifest.csv) under out_dir.

    `facilities` counts hospitals and centres; the four county health bureaus come on top. Satisfaction surveys
    cover the last `survey_months` of the generated months; `sat_sizes={"questionnaires": n}` gives exactly n
    questionnaires per survey type per hospital-month (benchmark size). `templates` limits the returns written to those
    template ids (JX-YB01 is always written; e.g. {"JX-YB01"} for the benchmark of the operations return alone).
    """
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", period):
        raise ValueError(f"period must be YYYY-MM, got {period!r}")
    if facilities < 3:
        raise ValueError("facilities must be at least 3")
    if survey_months < 0:
        raise ValueError("survey_months must be 0 or more")
    if set(sat_sizes or {}) - {"questionnaires"}:
        raise ValueError(f"unknown sat_sizes key(s) {sorted(set(sat_sizes or {}) - {'questionnaires'})}")
    out_dir = Path(out_dir)
    inbox = out_dir / "inbox"
    if inbox.exists():
        if not (inbox / "manifest.csv").exists():
            raise FileExistsError(f"{inbox} exists and was not generated by the demo; refusing to overwrite")
        shutil.rmtree(inbox)
    manifest_path = inbox / "manifest.csv"
    inbox.mkdir(parents=True)
    manifest_path.write_text("file,received_at\n", encoding="utf-8")  # marks the folder as ours from the start
    rng = random.Random(seed)
    facs, memberships = _build_registry(rng, facilities, period)
    n_months = months
    months = [_add_months(period, k) for k in range(-(n_months - 1), 1)]
    base_months = [_add_months(months[0], k) for k in range(-12, 0)]
    for f in facs:
        f.params = _facility_params(seed, f)

    layouts = load_layouts()
    if templates is not None:  # the returns to write (the registry and the operations return are always written)
        layouts = {t: lay for t, lay in layouts.items() if t in templates or t == "JX-YB01"}
    layout: Layout = layouts["JX-YB01"]
    # the rational-prescribing returns, when their templates are published (JX-YB02 / JX-YB03)
    rx_layouts = [layouts[t] for t in ("JX-YB02", "JX-YB03") if t in layouts]
    tiers = set(layout.applies_to.get("tiers", ()))
    rx_ids = sorted(f.facility_id for f in facs if any(r["tier"] in tiers for r in f.rows))
    rx_rng = random.Random(f"{seed}:rx-quirks")
    mistyped_ids = set(rx_rng.sample(rx_ids, min(3, len(rx_ids))))
    targeted_id = rx_rng.choice(rx_ids) if rx_ids else None
    under_id = rx_rng.choice([x for x in rx_ids if x != targeted_id] or rx_ids) if rx_ids else None
    registry_path = out_dir / "registry.xlsx"
    units = _county_units(seed)
    _write_registry(facs + units, memberships, registry_path)
    baseline_path = out_dir / "baseline.xlsx"
    _write_baseline(seed, facs, base_months, tiers, base_months[0], baseline_path)

    known_ids = {f.facility_id for f in facs}
    # a few hospitals type formulas into total cells (Excel stores the cached result)
    filers = [f for f in facs if any(r["tier"] in tiers for r in f.rows)]
    formula_ids = {f.facility_id for f in rng.sample(filers, max(1, round(len(filers) * 0.08)))}
    returns: list[_Return] = []
    mistakes: list[dict] = []
    for month in months:
        lv = layout.latest_version_for(month)
        if lv is None:
            raise ValueError(f"no template version accepts {month}")
        active = [(f, row) for f in facs if (row := f.row_for(month)) is not None and row["tier"] in tiers]
        target = month == period
        # about 8 % arrive after the 10th; the month being assessed always has some late returns
        late_ids: set[str] = set()
        if target:
            late_ids = {f.facility_id for f, _ in rng.sample(active, max(1, round(0.08 * len(active))))}
        month_returns = []
        for f, row in active:
            mrng = random.Random(f"{seed}:receipt:{f.facility_id}:{month}")
            late = mrng.random() < 0.08 if not target else f.facility_id in late_ids
            values = month_values(seed, f, month, base_months[0])
            name = safe_filename(row["name"])
            rel = f"{month}/{f.facility_id}_{name}_{month.replace('-', '')}.xlsx"
            r = _Return(f, month, rel, _received_at(mrng, month, late), values, _month_text(month), f.facility_id)
            if f.facility_id in formula_ids:
                c = {k: lv.field_cell(k).cell for k in ("op_revenue", "ip_revenue", "op_drug_revenue",
                                                        "ip_drug_revenue")}
                r.formulas = {"med_revenue": (f"={c['op_revenue']}+{c['ip_revenue']}", values["med_revenue"]),
                              "drug_revenue": (f"={c['op_drug_revenue']}+{c['ip_drug_revenue']}",
                                               values["drug_revenue"])}
            month_returns.append(r)
        pool = [r for r in month_returns if r.facility.facility_id not in formula_ids] or month_returns
        if target:
            n_mist = max(round(0.05 * len(month_returns)), min(len(MISTAKE_KINDS), len(month_returns) // 5), 1)
            chosen = rng.sample(pool, min(n_mist, len(pool)))
            kinds = list(MISTAKE_KINDS) + [rng.choice(MISTAKE_KINDS) for _ in range(len(chosen))]
            for r, kind in zip(chosen, kinds):
                mistakes.append(_apply_mistake(kind, r, lv, known_ids, rng))
            rest = [r for r in pool if r.mistake is None]
            resub = rng.sample(rest, min(2, len(rest)))
        else:
            resub = [r for r in pool if rng.random() < 0.02]
            # a few past returns kept their mistake (nobody resubmitted): overall about 5 % of files are wrong
            kept = [r for r in pool if r not in resub and r.mistake is None]
            for r in rng.sample(kept, min(len(kept), round(0.03 * len(month_returns)))):
                mistakes.append(_apply_mistake(rng.choice(MISTAKE_KINDS), r, lv, known_ids, rng))
        corrections = []
        for r in resub:  # the first file carries an error; a corrected file follows a few days later
            fixed = _Return(r.facility, r.month, r.rel.removesuffix(".xlsx") + "_更正.xlsx",
                            r.received + dt.timedelta(days=rng.randint(1, 4), hours=rng.randint(0, 5)),
                            dict(r.values), r.period_text, r.facility_code, dict(r.formulas))
            rec = _apply_mistake(rng.choice(("sum-mismatch", "text-in-number", "required-blank",
                                             "yuan-not-wanyuan")), r, lv, known_ids, rng)
            rec["superseded_by"] = fixed.rel
            mistakes.append(rec)
            corrections.append(fixed)
        for r in month_returns + corrections:
            row = r.facility.row_for(month)
            data = fill_bytes(template_path(layout.template_id, lv.version), facility_name=row["name"],
                              facility_code=r.facility_code, period_text=r.period_text, values=r.values,
                              footer=_footer(r.facility, row, r.received), formulas=r.formulas)
            path = inbox / r.rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            ts = time.mktime(r.received.timetuple())  # local time, so mtime reads back as the manifest time
            os.utime(path, (ts, ts))
            returns.append(r)
        for r in month_returns:
            returns += _write_rx_returns(inbox, seed, r, rx_layouts, month_values(seed, r.facility, month, base_months[0]),
                                         mistyped=r.facility.facility_id in mistyped_ids,
                                         targeted=r.facility.facility_id == targeted_id,
                                         under_report=0.55 if r.facility.facility_id == under_id else 1.0,
                                         sizes=rx_sizes or {})

    # the returns added with the alliance and satisfaction templates: own generators only, after everything
    # above, so the operations and prescribing returns stay exactly as they were
    origin = base_months[0]
    new_returns, new_mistakes = _write_alliance_returns(inbox, seed, facs, units, months, period, origin, tiers,
                                                        layouts)
    returns += new_returns
    mistakes += new_mistakes
    sat_months = months[len(months) - min(survey_months, len(months)):] if survey_months else []
    sat_returns, sat_mistakes, survey_issues = _write_sat_returns(inbox, seed, facs, months, sat_months, period,
                                                                  layouts, (sat_sizes or {}).get("questionnaires"))
    returns += sat_returns
    mistakes += sat_mistakes

    returns.sort(key=lambda r: r.rel)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["file", "received_at"])
    for r in returns:
        w.writerow([r.rel, r.received.isoformat(timespec="seconds")])
    manifest_path.write_text(buf.getvalue(), encoding="utf-8")
    mistakes.sort(key=lambda m: (m["month"], m["facility_id"], m["file"]))
    return DemoRegion(registry_path, baseline_path, inbox, manifest_path,
                      [inbox / r.rel for r in returns], mistakes, survey_issues)


def _write_rx_returns(inbox: Path, seed: int, r: _Return, rx_layouts: list[Layout], ops: dict[str, Any], *,
                      mistyped: bool, targeted: bool, under_report: float, sizes: dict[str, int]) -> list[_Return]:
    """The month's antibiotic-consumption and prescription-review returns of the facility behind `r`."""
    from templates_xlsx.demo_rx import antibiotic_return, review_return

    out = []
    row = r.facility.row_for(r.month)
    fseed = f"{seed}:{r.facility.facility_id}"
    for lay in rx_layouts:
        lv = lay.latest_version_for(r.month)
        if lv is None:
            continue
        if lay.template_id == "JX-YB02":
            values, tables = antibiotic_return(fseed, r.month, ops, row["tier"], mistyped=mistyped,
                                               under_report=under_report, n_products=sizes.get("products"))
            choices: dict[str, str] = {}
            stem = "抗菌药物消耗"
        else:
            values, method, rows = review_return(fseed, r.month, ops, targeted=targeted,
                                                 n_rows=sizes.get("review_rows"))
            tables, choices, stem = {"review": rows}, {"sampling_method": method}, "处方点评"
        rel = r.rel.removesuffix(".xlsx") + f"_{stem}.xlsx"
        received = r.received + dt.timedelta(hours=1 + len(out))
        data = fill_bytes(template_path(lay.template_id, lv.version), facility_name=row["name"],
                          facility_code=r.facility.facility_id, period_text=_month_text(r.month), values=values,
                          choices=choices, tables=tables)
        path = inbox / rel
        path.write_bytes(data)
        ts = time.mktime(received.timetuple())
        os.utime(path, (ts, ts))
        out.append(_Return(r.facility, r.month, rel, received, values, _month_text(r.month), r.facility.facility_id))
    return out


# --- county bureaus, grassroots, county and satisfaction returns ---------------------------------------

def _county_units(seed: int) -> list[_Facility]:
    """The county health bureaus (级别 区县): they file the county return; 机构编码 = the division code."""
    from warehouse.registry import uscc_check_char

    out = []
    for county, code in COUNTIES:
        rng = random.Random(f"{seed}:county-unit:{code}")
        first17 = "11" + code + _org_code(rng)  # 登记管理部门 1 = 机构编制, 类别 1 = 机关
        row = {"facility_id": code, "name": f"{county}卫生健康局", "uscc": first17 + uscc_check_char(first17),
               "tier": COUNTY_TIER, "grade": "未定级", "ftype": COUNTY_TYPE, "specialty": None, "county": county,
               "peer_group_override": None, "contact_name": _person(rng), "contact_phone": _phone(rng, mobile=False),
               "valid_from": OPEN_DATE, "valid_to": None}
        out.append(_Facility(code, [row], {"head": _person(rng), "stats_head": _person(rng)}))
    return out


def _months_between(a: str, b: str) -> int:
    return (int(b[:4]) * 12 + int(b[5:7])) - (int(a[:4]) * 12 + int(a[5:7]))


def _rel(month: str, facility_id: str, name: str, template_id: str) -> str:
    return f"{month}/{facility_id}_{safe_filename(name)}_{month.replace('-', '')}_{STEMS[template_id]}.xlsx"


def _write_file(inbox: Path, r: _Return, lay: Layout, lv: LayoutVersion, *,
                tables: dict[str, list[dict]] | None = None) -> _Return:
    """Fill the template for `r`, write it under the inbox and date the file at its receipt time."""
    row = r.facility.row_for(r.month)
    footer = {k: v for k, v in _footer(r.facility, row, r.received).items() if k in lv.footer}
    data = fill_bytes(template_path(lay.template_id, lv.version), facility_name=row["name"],
                      facility_code=r.facility_code, period_text=r.period_text, values=r.values, footer=footer,
                      tables=tables)
    path = inbox / r.rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    ts = time.mktime(r.received.timetuple())  # local time, so mtime reads back as the manifest time
    os.utime(path, (ts, ts))
    return r


def _mistake_record(r: _Return, lv: LayoutVersion, kind: str, **kw: Any) -> dict:
    rec = {"facility_id": r.facility.facility_id, "month": r.month, "file": r.rel, "template_id": None,
           "sheet": lv.sheet, "kind": kind, "kind_zh": MISTAKE_LABELS_ZH[kind], "field": None, "cell": None,
           "value": None, "expected": None, "superseded_by": None}
    rec.update(kw)
    return rec


def _write_alliance_returns(inbox: Path, seed: int, facs: list[_Facility], units: list[_Facility], months: list[str],
                            period: str, origin: str, hospital_tiers: set[str], layouts: dict[str, Layout]
                            ) -> tuple[list[_Return], list[dict]]:
    """JX-JC01 for every township and community centre and JX-XY01 for every county, each month."""
    from templates_xlsx.demo_alliance import county_profiles, county_values, grassroots_values

    jc, xy = layouts.get("JX-JC01"), layouts.get("JX-XY01")
    profiles = county_profiles(seed, [u.facility_id for u in units])
    quirks = random.Random(f"{seed}:jc-quirks")
    out: list[_Return] = []
    mistakes: list[dict] = []
    for month in months:
        t, season = _months_between(origin, month), SEASON[int(month[5:7])]
        centres = [(f, row) for f in facs if (row := f.row_for(month)) is not None and row["ftype"] in GRASSROOTS_TYPES]
        truth = {f.facility_id: grassroots_values(f"{seed}:{f.facility_id}", month, row["ftype"], t, season)
                 for f, row in centres}
        lv = jc.latest_version_for(month) if jc is not None else None
        if lv is not None:
            wrong: dict[str, str] = {}
            if month == period and truth:  # a couple of realistic slips in the month being assessed
                picked = quirks.sample(sorted(truth), min(len(GRASSROOTS_MISTAKE_KINDS), len(truth)))
                wrong = dict(zip(picked, GRASSROOTS_MISTAKE_KINDS))
            for f, row in centres:
                fid = f.facility_id
                mrng = random.Random(f"{seed}:jc-receipt:{fid}:{month}")
                received = _received_at(mrng, month, mrng.random() < 0.06)
                r = _Return(f, month, _rel(month, fid, row["name"], "JX-JC01"), received, dict(truth[fid]),
                            _month_text(month), fid)
                kind = wrong.get(fid)
                if kind == "part-exceeds-total":  # 医疗收入 copied into the 基本药物 row
                    fld, bad = "jc_essential_drug_revenue", r.values["jc_med_revenue"]
                elif kind == "required-blank":
                    fld, bad = quirks.choice(("jc_med_revenue", "jc_drug_revenue")), None
                if kind is not None:
                    rec = _mistake_record(r, lv, kind, template_id="JX-JC01", field=fld,
                                          cell=lv.field_cell(fld).cell, value=bad, expected=r.values[fld])
                    r.values[fld] = bad
                    r.mistake = rec
                    mistakes.append(rec)
                out.append(_write_file(inbox, r, jc, lv))
        lv = xy.latest_version_for(month) if xy is not None else None
        if lv is None:
            continue
        for u in units:
            county = u.rows[0]["county"]
            sums = dict.fromkeys(("hosp_visits", "hosp_discharges", "hosp_revenue", "jc_visits", "jc_admissions",
                                  "jc_revenue"), 0.0)
            for f in facs:
                row = f.row_for(month)
                if row is None or row["county"] != county or row["tier"] not in hospital_tiers:
                    continue
                v = month_values(seed, f, month, origin)
                sums["hosp_visits"] += v["oe_visits"]
                sums["hosp_discharges"] += v["discharges"]
                sums["hosp_revenue"] += v["med_revenue"]
            for f, row in centres:
                if row["county"] == county:
                    v = truth[f.facility_id]
                    sums["jc_visits"] += v["jc_oe_visits"]
                    sums["jc_admissions"] += v["jc_admissions"]
                    sums["jc_revenue"] += v["jc_med_revenue"]
            values = county_values(f"{seed}:{u.facility_id}", month, profiles[u.facility_id], t, season, sums)
            mrng = random.Random(f"{seed}:xy-receipt:{u.facility_id}:{month}")
            received = _received_at(mrng, month, mrng.random() < 0.15)  # 医保 figures come late now and then
            r = _Return(u, month, _rel(month, u.facility_id, u.rows[0]["name"], "JX-XY01"), received, values,
                        _month_text(month), u.facility_id)
            out.append(_write_file(inbox, r, xy, lv))
    return out, mistakes


def _write_sat_returns(inbox: Path, seed: int, facs: list[_Facility], months: list[str], sat_months: list[str],
                       period: str, layouts: dict[str, Layout], exact: int | None
                       ) -> tuple[list[_Return], list[dict], list[dict]]:
    """JX-MY01 surveys for every hospital over `sat_months`; JX-MY02 platform summaries for a few hospitals.

    Quirks (deterministic): one hospital collects ~20 questionnaires per type a month (its rolling quarter stays
    below the minimum sample) unless `exact` is given; one duplicate 问卷编号 in the month assessed; 3–4 hospitals
    with platform figures for that month and the one before — the small-sample hospital (the platform has
    enough for it), two others, and one whose platform sample is below 100.
    """
    from templates_xlsx import demo_sat as ds

    survey, platform = layouts.get("JX-MY01"), layouts.get("JX-MY02")
    if survey is None:
        return [], [], []
    tiers = set(survey.applies_to.get("tiers", ()))
    plat_months = [m for m in months if m in (_add_months(period, -1), period)] if platform is not None else []
    filing = {m: [(f, row) for f in facs if (row := f.row_for(m)) is not None and row["tier"] in tiers]
              for m in sorted(set(sat_months) | set(plat_months) | {period})}
    always = sorted(set.intersection(*({f.facility_id for f, _ in filing[m]} for m in filing)))
    quirks = random.Random(f"{seed}:sat-quirks")
    small_id = quirks.choice(always) if always and exact is None else None
    others = [x for x in always if x != small_id]
    dup_id = quirks.choice(others or always) if always else None
    plat_ids = ([small_id] if small_id else []) + quirks.sample(others, min(4 - bool(small_id), len(others)))
    plat_small = plat_ids[-1] if len(plat_ids) > 1 else None
    out: list[_Return] = []
    mistakes: list[dict] = []
    issues: list[dict] = []
    for month in sat_months:
        lv = survey.latest_version_for(month)
        if lv is None:
            continue
        # questionnaire items: q01, q02, … with the answer scale's top (5, or 10 for the recommendation item)
        items = {t.name: [(c.field, int(c.max or 5)) for c in t.columns if re.fullmatch(r"q\d+", c.field)]
                 for t in lv.tables}
        for f, row in filing[month]:
            fid = f.facility_id
            fseed = f"{seed}:{fid}"
            lat = ds.latent_scores(fseed)
            counts = ds.survey_counts(fseed, month, small=fid == small_id)
            rel = _rel(month, fid, row["name"], "JX-MY01")
            tables: dict[str, list[dict]] = {}
            dup_rec: dict | None = None
            for name in ds.SURVEYS:
                dup = month == period and fid == dup_id and name == "op"
                rows, found = ds.survey_table(fseed, month, name, items[name], lat[name], n_valid=counts[name],
                                              exact=exact, duplicate=dup)
                tables[name] = rows
                first = lv.table(name).first_data_row
                issues += [{"facility_id": fid, "month": month, "file": rel, "table": name, "row": first + i,
                            "kind": kind} for i, kind in found]
                i = next((k for k in range(1, len(rows)) if rows[k]["respondent_id"] == rows[k - 1]["respondent_id"]),
                         None) if dup else None
                if i is not None:
                    spec = lv.table(name)
                    dup_rec = {"sheet": spec.sheet, "field": "respondent_id", "value": rows[i]["respondent_id"],
                               "cell": f"{spec.column('respondent_id').letter}{first + i}"}
            mrng = random.Random(f"{seed}:sat-receipt:{fid}:{month}")
            received = _received_at(mrng, month, mrng.random() < 0.08)
            r = _Return(f, month, rel, received, ds.distributed(fseed, month, {k: len(v) for k, v in tables.items()}),
                        _month_text(month), fid)
            if dup_rec is not None:
                r.mistake = _mistake_record(r, lv, "duplicate-id", template_id="JX-MY01", **dup_rec)
                mistakes.append(r.mistake)
            out.append(_write_file(inbox, r, survey, lv, tables=tables))
    for month in plat_months:
        lv = platform.latest_version_for(month)
        if lv is None:
            continue
        for f, row in filing[month]:
            fid = f.facility_id
            if fid in plat_ids:
                fseed = f"{seed}:{fid}"
                values = ds.platform_values(fseed, month, ds.latent_scores(fseed), small=fid == plat_small)
                mrng = random.Random(f"{seed}:plat-receipt:{fid}:{month}")
                received = _received_at(mrng, month, mrng.random() < 0.3)  # the bureau enters the platform export
                r = _Return(f, month, _rel(month, fid, row["name"], "JX-MY02"), received, values, _month_text(month),
                            fid)
                out.append(_write_file(inbox, r, platform, lv))
    return out, mistakes, issues


def _write_baseline(seed: int, facs: list[_Facility], months: list[str], tiers: set[str], origin: str,
                    path: Path) -> None:
    """baseline.xlsx: the 12 months before the first return month, for hospitals the return applies to."""
    from warehouse.baseline import FACILITY_HEADER, PERIOD_HEADER, SHEET, header_text

    fields = load_fields()
    wb = Workbook()
    ws = wb.active
    ws.title = SHEET
    ws.append([FACILITY_HEADER, PERIOD_HEADER] + [header_text(f) for f in fields])
    for f in facs:
        for month in months:
            row = f.row_for(month)
            if row is None or row["tier"] not in tiers:
                continue
            v = month_values(seed, f, month, origin)
            ws.append([f.facility_id, month] + [v.get(fd.code) for fd in fields])
    _style_sheet(ws, (10, 10) + tuple(14 for _ in fields))
    save_deterministic(wb, path)


def main() -> None:
    """Generate the default region into ./demo_region and print its size and timing."""
    t0 = time.perf_counter()
    region = generate_region(Path("demo_region"))
    print(f"{len(region.files)} returns, {len(region.mistakes)} mistakes, {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
