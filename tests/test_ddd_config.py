"""DDD data files: strict loaders, bureau overrides/extensions, dictionary coverage, scope, table provenance."""
from __future__ import annotations

import csv
from decimal import Decimal as D
from pathlib import Path

import pytest

from metrics.ddd import (
    OK, OUT_OF_SCOPE, ConsumptionRow, DDDConfigError, ddd_units, in_scope, load_ddd_config, load_scope,
)
from metrics.ddd.files import DATA_DIR

REFERENCE = Path(__file__).resolve().parent / "fixtures" / "ddd" / "J01_WHO_ATC-DDD_2026-04-25.csv"  # copy of ../shared/reference/ddd (CC BY-NC-SA 4.0, fabkury/atcd)


@pytest.fixture(scope="module")
def cfg():
    return load_ddd_config()


def _write(folder: Path, name: str, text: str) -> Path:
    p = folder / name
    p.write_text(text, encoding="utf-8")
    return p


def _copy_with(folder: Path, name: str, old: str, new: str) -> None:
    text = (DATA_DIR / name).read_text(encoding="utf-8")
    assert old in text, (name, old)
    _write(folder, name, text.replace(old, new, 1))


# ------------------------------------------------------------------------------------ strict loaders

@pytest.mark.parametrize("name,old,new,key", [
    ("scope.yaml", "version: 1\n", "version: 1\ninclude_all: true\n", "include_all"),
    ("scope.yaml", "{atc_prefix: J02, label_zh: 全身用抗真菌药}", "{atc_prefix: J02, label: x}", "label"),
    ("routes.yaml", "{contains: 注射, route: P}", "{contains: 注射, route: P, weight: 2}", "weight"),
    ("tables.yaml", "national: national.csv", "national: national.csv\nnationals: x.csv", "nationals"),
    ("tables.yaml", "file: ddd_2026.csv", "file: ddd_2026.csv\n    year: 2026", "year"),
    ("potency.yaml", "    units_per_mg: 1670\n", "    units_per_mg: 1670\n    unit_per_mg: 1\n", "unit_per_mg"),
    ("combinations.yaml", "    default_ratio: \"8:1\"\n", "    default_ratio: \"8:1\"\n    ratio: 8\n", "ratio"),
    ("generic_names.csv", "name,atc,routes", "name,atc,salt,routes", "salt"),
    ("national.csv", "atc_code,atc_name,ddd", "atc_code,atc_name,dose,ddd", "dose"),
    ("ddd_2026.csv", "atc_code,atc_name,ddd", "atc_code,atc_name,who,ddd", "who"),
])
def test_loaders_reject_unknown_keys_naming_file_and_key(tmp_path: Path, name: str, old: str, new: str,
                                                         key: str) -> None:
    if name.endswith(".csv"):        # an extra column: add it to the header and an empty value to every row
        with open(DATA_DIR / name, encoding="utf-8", newline="") as fh:
            table = list(csv.reader(fh))
        header = new.split(",")
        col = header.index(key)
        with open(tmp_path / name, "w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(table[0][:col] + [key] + table[0][col:])
            w.writerows(line[:col] + [""] + line[col:] for line in table[1:])
    else:
        _copy_with(tmp_path, name, old, new)
    with pytest.raises(DDDConfigError) as e:
        load_ddd_config(tmp_path)
    assert name in str(e.value) and key in str(e.value)


@pytest.mark.parametrize("name,old,new,needle", [
    ("ddd_2026.csv", "J01DH02,meropenem,3,g,P", "J01DH02,meropenem,0,g,P", "ddd"),
    ("ddd_2026.csv", "J01DH02,meropenem,3,g,P", "J01DH02,meropenem,3,kg,P", "uom"),
    ("ddd_2026.csv", "J01DH02,meropenem,3,g,P", "J01DH02,meropenem,3,g,IV", "adm_r"),
    ("ddd_2026.csv", "J01DH03,ertapenem,1,g,P", "J01DH02,meropenem,1,g,P", "duplicate"),
    ("generic_names.csv", "美罗培南,J01DH02,,P", "美罗培南,J01DH02,,Q", "unknown route"),
    ("generic_names.csv", "庆大霉素,J01GB03,,P,gentamicin", "庆大霉素,J01GB03,,P,gentamycin", "potency"),
    ("combinations.yaml", "    refers_to: 哌拉西林\n    default_ratio: \"8:1\"",
     "    refers_to: 他巴唑\n    default_ratio: \"8:1\"", "refers_to"),
    ("tables.yaml", "- {from: 2019, table: ddd_2026}", "- {from: 2018, table: ddd_2026}", "overlap"),
])
def test_loaders_reject_bad_values(tmp_path: Path, name: str, old: str, new: str, needle: str) -> None:
    _copy_with(tmp_path, name, old, new)
    with pytest.raises(DDDConfigError) as e:
        load_ddd_config(tmp_path)
    assert name in str(e.value) and needle in str(e.value)


# ------------------------------------------------------------------------------------ bureau folder

def test_bureau_folder_replaces_and_extends_files(tmp_path: Path) -> None:
    # national.csv replaced: etimicin 0.2 g instead of 0.3 g; generic names extended with a local product;
    # potency extended; the other files come from the defaults
    rows = (DATA_DIR / "national.csv").read_text(encoding="utf-8").replace(
        "J01GB-etimicin,etimicin (依替米星),0.3,", "J01GB-etimicin,etimicin (依替米星),0.2,")
    _write(tmp_path, "national.csv", rows)
    _write(tmp_path, "generic_names.extend.csv",
           "name,atc,routes,default_route,potency,combination,ddd_variant,ddd_source,note\n"
           "头孢新素,J01DD04,,P,ceftriaxone_units,,,who,本地商品名\n")
    _write(tmp_path, "potency.extend.yaml",
           "factors:\n  ceftriaxone_units:\n    atc: J01DD04\n    units_per_mg: 1000\n    source: test\n")
    cfg = load_ddd_config(tmp_path)
    eti = ddd_units(ConsumptionRow("依替米星注射液", "0.1g", "注射液", "支", 10), 2026, cfg)
    assert eti.ddd == D("0.2") and eti.ddds == D("5")             # 10 × 0.1 g / 0.2 g
    new = ddd_units(ConsumptionRow("注射用头孢新素", "100万单位", "注射用", "支", 4), 2026, cfg)
    assert new.status == OK and new.ddds == D("2")                 # 4 × 1 g (1000 U/mg) / 2 g
    assert load_ddd_config().names.lookup("头孢新素") is None       # the default is untouched


def test_bureau_scope_extension_adds_an_exclusion(tmp_path: Path) -> None:
    _write(tmp_path, "scope.extend.yaml",
           "exclude:\n  - {atc_prefix: J01XX01, reason_zh: 本省目录不含磷霉素}\n")
    cfg = load_ddd_config(tmp_path)
    ln = ddd_units(ConsumptionRow("磷霉素氨丁三醇散", "3g", "散剂", "袋", 2), 2026, cfg)
    assert ln.status == OUT_OF_SCOPE and "磷霉素" in ln.reason


# ------------------------------------------------------------------------------------ content

def test_every_generic_name_maps_to_a_ddd_or_is_flagged(cfg) -> None:
    table = cfg.table_for_year(2026)
    problems = []
    for e in cfg.names.all_entries():
        comb = cfg.combination_for(e, e.atc)
        code = comb.ddd_code if comb else e.atc
        origins = {r.origin for k, r in table.rows.items() if k[0] == code}
        routes = {k[1] for k in table.rows if k[0] == code}
        if e.ddd_source == "none":
            if origins:
                problems.append((e.name, code, "flagged none but has a DDD"))
            continue
        if {"who": "who", "national": "national"}[e.ddd_source] not in origins:
            problems.append((e.name, code, f"no {e.ddd_source} DDD in the default table"))
        wanted = set(e.routes) | ({e.default_route} if e.default_route else set())
        if not wanted <= routes:
            problems.append((e.name, code, f"no DDD for routes {sorted(wanted - routes)}"))
    assert problems == []
    substances = {(e.atc, e.combination) for e in cfg.names.all_entries()}
    assert len(substances) >= 80


@pytest.mark.parametrize("name,atc", [
    ("头孢唑林", "J01DB04"), ("头孢呋辛", "J01DC02"), ("头孢曲松", "J01DD04"), ("头孢他啶", "J01DD02"),
    ("头孢哌酮舒巴坦", "J01DD62"), ("头孢吡肟", "J01DE01"), ("青霉素G", "J01CE01"), ("阿莫西林", "J01CA04"),
    ("阿莫西林克拉维酸钾", "J01CR02"), ("哌拉西林他唑巴坦", "J01CR05"), ("氨苄西林舒巴坦", "J01CR01"),
    ("美罗培南", "J01DH02"), ("亚胺培南西司他丁", "J01DH51"), ("厄他培南", "J01DH03"), ("比阿培南", "J01DH05"),
    ("左氧氟沙星", "J01MA12"), ("莫西沙星", "J01MA14"), ("环丙沙星", "J01MA02"), ("阿奇霉素", "J01FA10"),
    ("克拉霉素", "J01FA09"), ("红霉素", "J01FA01"), ("庆大霉素", "J01GB03"), ("阿米卡星", "J01GB06"),
    ("依替米星", "J01GB-etimicin"), ("万古霉素", "J01XA01"), ("去甲万古霉素", "J01XA-norvancomycin"),
    ("替考拉宁", "J01XA02"), ("利奈唑胺", "J01XX08"), ("替加环素", "J01AA12"), ("多西环素", "J01AA02"),
    ("米诺环素", "J01AA08"), ("克林霉素", "J01FF01"), ("磷霉素", "J01XX01"), ("呋喃妥因", "J01XE01"),
    ("复方磺胺甲恶唑", "J01EE01"), ("多粘菌素B", "J01XB02"), ("粘菌素", "J01XB01"), ("氟康唑", "J02AC01"),
    ("伏立康唑", "J02AC03"), ("卡泊芬净", "J02AX04"), ("米卡芬净", "J02AX05"), ("替硝唑", "P01AB02"),
    ("盐酸莫西沙星氯化钠注射液", "J01MA14"), ("注射用头孢呋辛钠", "J01DC02"), ("头孢呋辛酯片", "J01DC02"),
    ("克林霉素磷酸酯注射液", "J01FF01"), ("注射用醋酸卡泊芬净", "J02AX04"), ("乳酸左氧氟沙星片", "J01MA12"),
])
def test_common_names_are_matched(cfg, name: str, atc: str) -> None:
    m = cfg.names.lookup(name)
    assert m is not None, name
    assert atc in {e.atc for e in m.entries}


def test_scope_excludes_tb_drugs_and_topical_forms() -> None:
    scope = load_scope()
    assert in_scope("J01DD04", "注射用无菌粉末") == (True, None)
    assert in_scope("J02AC01", "片剂")[0] and in_scope("P01AB01", "片剂")[0]
    for code in ("J04AB02", "J04AC01", "J04AK01"):
        ok, why = in_scope(code, "胶囊")
        assert not ok and "抗" in why and code in why
    ok, why = in_scope("J01GB03", "注射液", generic_name="利福平胶囊")
    assert not ok and "利福平" in why
    for form in ("滴眼液", "眼膏", "软膏", "乳膏", "凝胶", "外用", "滴耳液", "栓剂(阴道)", "阴道泡腾片",
                 "外用散", "眼用凝胶"):
        ok, why = in_scope("J01FA01", form, scope)
        assert not ok and why, form
    ok, why = in_scope("A07AA09", "胶囊")
    assert not ok and "A07AA09" in why
    assert in_scope(None, "注射液") == (True, None)               # no ATC: decided by the form alone
    assert in_scope("J01CE01", "栓剂")[0]                           # rectal route stays in scope


def test_table_years_are_configured(cfg) -> None:
    assert cfg.tables.table_id_for_year(2018) == "ddd_2018"
    assert cfg.tables.table_id_for_year(2019) == "ddd_2026"
    assert cfg.tables.table_id_for_year(2026) == "ddd_2026"
    with pytest.raises(KeyError):
        cfg.tables.table_id_for_year(1999)
    t18, t26 = cfg.table_for_year(2018), cfg.table_for_year(2026)
    changed = {(k[0], k[1]): (t18.rows[k].ddd, t26.rows[k].ddd) for k in t26.rows
               if k in t18.rows and t18.rows[k].ddd != t26.rows[k].ddd}
    assert changed == {
        ("J01CA04", "O"): (D("1"), D("1.5")), ("J01CA04", "P"): (D("1"), D("3")),
        ("J01CR02", "O"): (D("1"), D("1.5")), ("J01CA01", "P"): (D("2"), D("6")),
        ("J01DE01", "P"): (D("2"), D("4")), ("J01MA02", "P"): (D("0.5"), D("0.8")),
        ("J01XB01", "P"): (D("3"), D("9")), ("J01DH02", "P"): (D("2"), D("3")),
    }


@pytest.mark.skipif(not REFERENCE.exists(), reason="shared reference data not available")
def test_default_j01_rows_are_the_who_rows_with_a_ddd(cfg) -> None:
    with open(REFERENCE, encoding="utf-8", newline="") as fh:
        ref = {(r["atc_code"], r["adm_r"], D(r["ddd"]), r["uom"]) for r in csv.DictReader(fh) if r["ddd"] != "NA"}
    table = cfg.table_for_year(2026)
    ours = {(r.atc, r.route, r.ddd, r.uom) for r in table.rows.values()
            if r.atc.startswith("J01") and r.origin == "who"}
    assert ours == ref
    assert all("CC BY-NC-SA" in r.source for r in table.rows.values() if r.origin == "who")
