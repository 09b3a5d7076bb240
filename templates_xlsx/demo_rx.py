"""Demo content of the rational-prescribing returns: antibiotic consumption (JX-YB02) and 处方点评表 (JX-YB03).

Plain data for templates_xlsx.demo: per facility-month, the counts behind the antibiotic use rates, a product mix
whose DDDs give a plausible AUD (with a few products the engine cannot count: a topical form, a drug without a
DDD, a mistyped name), the supply catalogue, and a sample of reviewed outpatient prescriptions. Deterministic for
the same seed; names of prescribers and pharmacists are invented.
"""
from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

# (通用名, 剂型/给药途径, 规格, 包装单位, DDD units per pack under the 2026 table (checked in tests), share weight)
PRODUCTS: tuple[tuple[str, str, str, str, float, int], ...] = (
    ("注射用头孢呋辛钠", "注射剂", "1.5g", "支", 0.5, 9),
    ("注射用头孢曲松钠", "注射剂", "1g", "支", 0.5, 8),
    ("注射用头孢他啶", "注射剂", "1g", "支", 0.25, 5),
    ("注射用头孢哌酮钠舒巴坦钠", "注射剂", "2.0g(1.0g:1.0g)", "支", 0.25, 6),
    ("注射用哌拉西林钠他唑巴坦钠", "注射剂", "4.5g(4.0g:0.5g)", "支", 4 / 14, 7),
    ("注射用美罗培南", "注射剂", "0.5g", "支", 1 / 6, 3),
    ("注射用亚胺培南西司他丁钠", "注射剂", "1g(0.5g:0.5g)", "支", 0.25, 2),
    ("左氧氟沙星氯化钠注射液", "注射液", "0.5g:100ml", "袋", 1.0, 7),
    ("盐酸莫西沙星片", "片剂", "0.4g×3片", "盒", 3.0, 3),
    ("注射用阿奇霉素", "注射剂", "0.5g", "支", 1.0, 4),
    ("阿莫西林胶囊", "胶囊", "0.25g×24粒", "盒", 4.0, 2),
    ("头孢呋辛酯片", "片剂", "0.25g×12片", "盒", 6.0, 2),
    ("硫酸庆大霉素注射液", "注射液", "8万U", "支", 1 / 3, 2),
    ("注射用青霉素钠", "注射剂", "80万U", "支", 0.13307, 3),
    ("注射用盐酸万古霉素", "注射剂", "0.5g", "支", 0.25, 2),
    ("利奈唑胺葡萄糖注射液", "注射液", "0.6g:300ml", "袋", 0.5, 1),
    ("甲硝唑氯化钠注射液", "注射液", "0.5g:100ml", "瓶", 1 / 3, 4),
    ("氟康唑胶囊", "胶囊", "50mg×6粒", "盒", 1.5, 1),
    ("注射用头孢唑林钠", "注射剂", "1g", "支", 1 / 3, 5),
)
# products the engine cannot count: excluded as topical, no DDD configured, a mistyped name
UNCOUNTED = (("红霉素眼膏", "眼膏", "2g:10mg", "支"), ("注射用头孢硫脒", "注射剂", "1g", "支"),
             ("头孢曲松纳", "注射剂", "1g", "支"))
# further 品种 a supply catalogue may hold (oral forms, and a few the count must leave out: J04, topical)
CATALOGUE_EXTRA = (("头孢克洛", "胶囊"), ("头孢地尼", "胶囊"), ("克拉霉素", "片剂"), ("罗红霉素", "片剂"),
                   ("多西环素", "片剂"), ("米诺环素", "胶囊"), ("呋喃妥因", "肠溶片"), ("磷霉素氨丁三醇", "颗粒剂"),
                   ("复方磺胺甲噁唑", "片剂"), ("诺氟沙星", "胶囊"), ("环丙沙星", "片剂"), ("头孢丙烯", "片剂"),
                   ("头孢克肟", "胶囊"), ("阿莫西林克拉维酸钾", "片剂"), ("替硝唑", "片剂"), ("奥硝唑", "片剂"),
                   ("伏立康唑", "片剂"), ("伊曲康唑", "胶囊"), ("利福平", "胶囊"), ("异烟肼", "片剂"),
                   ("莫匹罗星", "软膏"), ("克林霉素", "胶囊"), ("红霉素", "肠溶片"), ("阿奇霉素", "颗粒剂"),
                   ("头孢泊肟酯", "片剂"), ("法罗培南", "片剂"), ("左氧氟沙星", "片剂"), ("莫西沙星", "注射液"),
                   ("头孢西丁", "注射剂"), ("头孢吡肟", "注射剂"), ("厄他培南", "注射剂"), ("替加环素", "注射剂"),
                   ("阿米卡星", "注射液"), ("依替米星", "注射液"), ("去甲万古霉素", "注射剂"), ("替考拉宁", "注射剂"),
                   ("卡泊芬净", "注射剂"), ("氟康唑", "注射液"), ("氨曲南", "注射剂"), ("头孢美唑", "注射剂"))
DIAGNOSES = ("高血压", "2型糖尿病", "急性上呼吸道感染", "慢性胃炎", "冠心病", "支气管炎", "腰椎间盘突出",
             "急性肠胃炎", "过敏性鼻炎", "泌尿道感染", "失眠", "高脂血症", "类风湿关节炎", "皮炎")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"
IRRATIONAL_CODES = ("1-7", "1-10", "2-5", "2-2", "1-8", "2-7", "1-7、2-5", "1-10,2-2", "3-2", "1-14")


def outpatient_abx_rate(seed: str) -> float:
    """The facility's true share of outpatient prescriptions with an antibiotic (shared by both returns)."""
    return random.Random(f"{seed}:abx-rate").uniform(0.08, 0.24)


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def antibiotic_return(seed: str, month: str, ops: dict[str, Any], tier: str, *, mistyped: bool = False,
                      under_report: float = 1.0, n_products: int | None = None
                      ) -> tuple[dict[str, int], dict[str, list[dict[str, Any]]]]:
    """Fixed counts and the consumption + catalogue tables of one facility-month.

    `under_report` < 1 makes the hospital claim fewer antibiotic prescriptions than its sample shows.
    """
    rng = random.Random(f"{seed}:abx:{month}")
    frng = random.Random(f"{seed}:abx-profile")           # the facility's own habits, stable over months
    op_total = int(ops.get("op_rx_total") or 0)
    em_total = max(1, round(op_total * frng.uniform(0.06, 0.12) * rng.uniform(0.95, 1.05)))
    disch = int(ops.get("discharges") or 0)
    clean = max(1, round(int(ops.get("discharges_surgery") or 0) * frng.uniform(0.15, 0.3)))
    counts = {
        "abx_op_rx_total": op_total,
        "abx_op_rx_with_abx": round(op_total * outpatient_abx_rate(seed) * under_report * rng.uniform(0.97, 1.03)),
        "abx_em_rx_total": em_total,
        "abx_em_rx_with_abx": round(em_total * frng.uniform(0.2, 0.45) * rng.uniform(0.95, 1.05)),
        "abx_discharges": disch,
        "abx_discharges_with_abx": round(disch * frng.uniform(0.3, 0.62) * rng.uniform(0.97, 1.03)),
        "abx_clean_ops": clean,
        "abx_clean_ops_prophylaxis": round(clean * frng.uniform(0.15, 0.38)),
    }
    # AUD target of the facility (some above 40) → DDDs to spread over its product mix
    aud = frng.uniform(26, 48) * rng.uniform(0.93, 1.07)
    total_ddds = aud * float(ops.get("discharge_bed_days") or 0) / 100
    k = frng.randint(12, len(PRODUCTS))
    mix = sorted(frng.sample(range(len(PRODUCTS)), k))
    if n_products is not None:  # bench size: every product in several pack sizes (same DDD per smallest unit)
        mix = [i % len(PRODUCTS) for i in range(n_products)]
    weight = sum(PRODUCTS[i][5] for i in mix)
    rows = []
    for i in mix:
        name, form, strength, unit, ddd_per_pack, w = PRODUCTS[i]
        packs = round(total_ddds * w / weight / ddd_per_pack * rng.uniform(0.9, 1.1))
        rows.append({"generic_name": name, "form_route": form, "strength": strength, "pack_unit": unit,
                     "qty_inpatient": packs, "qty_outpatient": round(packs * rng.uniform(0.05, 0.3))})
    for name, form, strength, unit in UNCOUNTED[:2] if frng.random() < 0.5 else UNCOUNTED[:1]:
        rows.append({"generic_name": name, "form_route": form, "strength": strength, "pack_unit": unit,
                     "qty_inpatient": rng.randint(5, 60), "qty_outpatient": rng.randint(0, 20)})
    if mistyped:
        name, form, strength, unit = UNCOUNTED[2]
        rows.append({"generic_name": name, "form_route": form, "strength": strength, "pack_unit": unit,
                     "qty_inpatient": rng.randint(50, 200), "qty_outpatient": 0})
    for n, r in enumerate(rows, start=1):
        r["seq"] = n
    cap = 50 if tier == "三级" else 35
    catalogue = [{"seq": n, "generic_name": p[0], "dosage_form": p[1], "strength": p[2]}
                 for n, p in enumerate((PRODUCTS[i] for i in mix), start=1)]
    extra = frng.randint(cap - 22, cap + 6) - len(catalogue)  # a few hospitals keep more 品种 than allowed
    for name, form in frng.sample(CATALOGUE_EXTRA, max(0, min(extra, len(CATALOGUE_EXTRA)))):
        catalogue.append({"seq": len(catalogue) + 1, "generic_name": name, "dosage_form": form, "strength": ""})
    return counts, {"consumption": rows, "catalogue": catalogue}


def review_return(seed: str, month: str, ops: dict[str, Any], *, targeted: bool = False,
                  n_rows: int | None = None) -> tuple[dict[str, Any], str, list[dict[str, Any]]]:
    """The month's total prescriptions, the sampling method and the sampled prescriptions."""
    rng = random.Random(f"{seed}:rx:{month}")
    frng = random.Random(f"{seed}:rx-profile")
    total = int(ops.get("op_rx_total") or 0)
    n = n_rows or max(100, min(220, round(total * 0.0012 * rng.uniform(1.0, 1.3))))
    abx_rate = outpatient_abx_rate(seed) * (1.6 if targeted else 1.0)  # a targeted sample over-represents them
    y, m = int(month[:4]), int(month[5:7])
    days = (dt.date(y + m // 12, m % 12 + 1, 1) - dt.date(y, m, 1)).days
    doctors = [_name(frng) for _ in range(12)]
    pharmacists = [_name(frng) for _ in range(5)]
    rows = []
    for i in range(n):
        n_drugs = rng.choices((1, 2, 3, 4, 5, 6), (30, 32, 20, 10, 6, 2))[0]
        rational = rng.random() < frng.uniform(0.88, 0.97)
        d = dt.date(y, m, rng.randint(1, days))
        rows.append({
            "seq": i + 1, "rx_date": d, "age": rng.randint(18, 88), "diagnosis": rng.choice(DIAGNOSES),
            "n_drugs": n_drugs, "has_antibiotic": int(rng.random() < abx_rate),
            "has_injection": int(rng.random() < 0.12), "n_essential": rng.randint(max(0, n_drugs - 2), n_drugs),
            "n_generic": n_drugs if rng.random() < 0.97 else n_drugs - 1,
            "amount": float(Decimal(str(round(rng.uniform(15, 320), 2)))), "prescriber": rng.choice(doctors),
            "pharmacist_review": rng.choice(pharmacists), "pharmacist_dispense": rng.choice(pharmacists),
            "rational": int(rational), "problem_codes": "" if rational else rng.choice(IRRATIONAL_CODES)})
    return {"rxr_op_rx_total": total}, ("定向" if targeted else "随机"), rows
