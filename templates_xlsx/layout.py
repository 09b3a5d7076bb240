"""Strict loader for the return layouts (templates_xlsx/layouts/*.yaml): cells, names, versions."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from metrics.catalog import CatalogError, check_keys, load_fields, load_yaml

LAYOUT_DIR = Path(__file__).with_name("layouts")

_CELL_RE = re.compile(r"^([A-Z]{1,3})([1-9][0-9]{0,6})$")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
_PERIOD_RE = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")
_VERSION_RE = re.compile(r"^[0-9]+(\.[0-9]+)*$")

_TOP_KEYS = {"template_id", "title_zh", "form_no", "authority_zh", "file_stem", "applies_to", "versions"}
_VERSION_KEYS = {"version", "accepted_periods", "sheet", "meta_sheet", "header", "footer", "table_header_row",
                 "fields"}
_CELL_KEYS = {"cell", "name", "label_zh"}
_FIELD_KEYS = {"field", "cell", "name"}
HEADER_KEYS = ("facility_name", "facility_code", "period")


class CellSpec(NamedTuple):
    """A labelled input cell of the header or footer."""

    cell: str
    name: str
    label_zh: str


class FieldCell(NamedTuple):
    """Where a data item's value sits: (field code, cell address, defined name)."""

    field: str
    cell: str
    name: str


@lru_cache(maxsize=4096)
def cell_sort_key(cell: str | None) -> tuple[int, int]:
    """(row, column) for ordering findings by position; anything that is not an address sorts first."""
    try:
        return split_cell(cell or "")
    except ValueError:
        return (0, 0)


def split_cell(cell: str) -> tuple[int, int]:
    """'E6' → (row 6, column 5), both 1-based."""
    m = _CELL_RE.match(cell)
    if not m:
        raise ValueError(f"bad cell address {cell!r}")
    col = 0
    for ch in m.group(1):
        col = col * 26 + ord(ch) - 64
    return int(m.group(2)), col


def version_key(version: str) -> tuple[int, ...]:
    """Sortable key of a dotted version string ('2026.1' → (2026, 1))."""
    return tuple(int(p) for p in version.split("."))


@dataclass(frozen=True)
class LayoutVersion:
    """One version of a template: the sheet, its input cells and the periods it may be used for."""

    version: str
    accepted_from: str
    accepted_to: str | None
    sheet: str
    meta_sheet: str
    header: dict[str, CellSpec]
    footer: dict[str, CellSpec]
    table_header_row: int
    fields: tuple[FieldCell, ...]

    def accepts(self, period: str) -> bool:
        """True when the month YYYY-MM lies in the accepted window."""
        month = period[:7]
        return month >= self.accepted_from and (self.accepted_to is None or month <= self.accepted_to)

    def inputs(self) -> dict[str, str]:
        """Every input's defined name → cell (header, fields, footer)."""
        out = {s.name: s.cell for s in self.header.values()}
        out.update({f.name: f.cell for f in self.fields})
        out.update({s.name: s.cell for s in self.footer.values()})
        return out

    def field_cell(self, field: str) -> FieldCell:
        """The FieldCell of a field code (KeyError if absent)."""
        for f in self.fields:
            if f.field == field:
                return f
        raise KeyError(field)


@dataclass(frozen=True)
class Layout:
    """A return template and all its versions."""

    template_id: str
    title_zh: str
    form_no: str
    authority_zh: str
    file_stem: str
    applies_to: dict[str, tuple[str, ...]]
    versions: tuple[LayoutVersion, ...]

    def version(self, version: str) -> LayoutVersion | None:
        """The LayoutVersion with that version string, or None."""
        for v in self.versions:
            if v.version == version:
                return v
        return None

    def accepts(self, version: str, period: str) -> bool:
        """True when template `version` may be used for month `period` (YYYY-MM)."""
        v = self.version(version)
        return v is not None and v.accepts(period)

    def latest_version_for(self, period: str) -> LayoutVersion | None:
        """The newest version accepted for the period, or None."""
        ok = [v for v in self.versions if v.accepts(period)]
        return max(ok, key=lambda v: version_key(v.version)) if ok else None

    def latest(self) -> LayoutVersion:
        """The newest version overall."""
        return max(self.versions, key=lambda v: version_key(v.version))

    def template_filename(self, version: str) -> str:
        """File name of the built template for a version: <file_stem>_v<version>.xlsx."""
        return f"{self.file_stem}_v{version}.xlsx"


def _cell(value: object, where: str) -> str:
    if not isinstance(value, str) or not _CELL_RE.match(value):
        raise CatalogError(f"{where}: bad cell address {value!r} (expected like E6)")
    return value


def _name(value: object, where: str) -> str:
    if not isinstance(value, str) or not _NAME_RE.match(value) or _CELL_RE.match(value.upper()):
        raise CatalogError(f"{where}: bad defined name {value!r}")
    return value


def _cellspecs(doc: object, where: str, required: tuple[str, ...] = ()) -> dict[str, CellSpec]:
    if not isinstance(doc, dict):
        raise CatalogError(f"{where}: expected a mapping")
    missing = set(required) - set(doc)
    if missing:
        raise CatalogError(f"{where}: missing key(s) {sorted(missing)}")
    out = {}
    for key, spec in doc.items():
        w = f"{where}.{key}"
        check_keys(spec, _CELL_KEYS, _CELL_KEYS, w)
        out[str(key)] = CellSpec(_cell(spec["cell"], w + ".cell"), _name(spec["name"], w + ".name"),
                                 str(spec["label_zh"]))
    return out


def _period(value: object, where: str, allow_none: bool) -> str | None:
    if value is None and allow_none:
        return None
    if not isinstance(value, str) or not _PERIOD_RE.match(value):
        raise CatalogError(f"{where}: expected a month YYYY-MM, got {value!r}")
    return value


def _parse_version(doc: object, where: str, field_codes: set[str]) -> LayoutVersion:
    check_keys(doc, _VERSION_KEYS, _VERSION_KEYS, where)
    version = doc["version"]
    if not isinstance(version, str) or not _VERSION_RE.match(version):
        raise CatalogError(f"{where}.version: expected a quoted dotted version like \"2026.1\", got {version!r}")
    ap = doc["accepted_periods"]
    check_keys(ap, {"from", "to"}, {"from", "to"}, f"{where}.accepted_periods")
    a_from = _period(ap["from"], f"{where}.accepted_periods.from", False)
    a_to = _period(ap["to"], f"{where}.accepted_periods.to", True)
    if a_to is not None and a_to < a_from:
        raise CatalogError(f"{where}.accepted_periods: 'to' is before 'from'")
    for key in ("sheet", "meta_sheet"):
        if not isinstance(doc[key], str) or not doc[key] or len(doc[key]) > 31:
            raise CatalogError(f"{where}.{key}: expected a sheet name (1–31 characters)")
    if doc["sheet"] == doc["meta_sheet"]:
        raise CatalogError(f"{where}.meta_sheet: must differ from sheet")
    header = _cellspecs(doc["header"], f"{where}.header", HEADER_KEYS)
    footer = _cellspecs(doc["footer"], f"{where}.footer")
    thr = doc["table_header_row"]
    if not isinstance(thr, int) or thr < 1:
        raise CatalogError(f"{where}.table_header_row: expected a positive row number")
    if not isinstance(doc["fields"], list) or not doc["fields"]:
        raise CatalogError(f"{where}.fields: expected a non-empty list")
    fields = []
    for i, f in enumerate(doc["fields"]):
        w = f"{where}.fields[{i}]"
        check_keys(f, _FIELD_KEYS, _FIELD_KEYS, w)
        if f["field"] not in field_codes:
            raise CatalogError(f"{w}.field: unknown field {f['field']!r} (not in metrics/catalog/fields.yaml)")
        fields.append(FieldCell(f["field"], _cell(f["cell"], w + ".cell"), _name(f["name"], w + ".name")))
    if len({f.field for f in fields}) != len(fields):
        raise CatalogError(f"{where}.fields: duplicate field")
    specs = list(header.values()) + list(footer.values())
    cells = [s.cell for s in specs] + [f.cell for f in fields]
    names = [s.name for s in specs] + [f.name for f in fields]
    if len(set(cells)) != len(cells):
        raise CatalogError(f"{where}: two inputs share a cell")
    if len({n.upper() for n in names}) != len(names):
        raise CatalogError(f"{where}: duplicate defined name")
    for f in fields:
        if split_cell(f.cell)[0] <= thr:
            raise CatalogError(f"{where}: field {f.field} cell {f.cell} is not below table_header_row {thr}")
    return LayoutVersion(version=version, accepted_from=a_from, accepted_to=a_to, sheet=doc["sheet"],
                         meta_sheet=doc["meta_sheet"], header=header, footer=footer, table_header_row=thr,
                         fields=tuple(fields))


def load_layout(path: Path) -> Layout:
    """Load and check one layout file."""
    path = Path(path)
    doc = load_yaml(path)
    where = str(path)
    check_keys(doc, _TOP_KEYS, _TOP_KEYS, where)
    for key in ("template_id", "title_zh", "form_no", "authority_zh", "file_stem"):
        if not isinstance(doc[key], str) or not doc[key]:
            raise CatalogError(f"{where}: {key}: expected non-empty text")
    applies = doc["applies_to"]
    if not isinstance(applies, dict):
        raise CatalogError(f"{where}: applies_to: expected a mapping")
    applies_to = {}
    for k, v in applies.items():
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise CatalogError(f"{where}: applies_to.{k}: expected a list of text")
        applies_to[str(k)] = tuple(v)
    if not isinstance(doc["versions"], list) or not doc["versions"]:
        raise CatalogError(f"{where}: versions: expected a non-empty list")
    codes = {f.code for f in load_fields()}
    versions = tuple(_parse_version(v, f"{where}: versions[{i}]", codes) for i, v in enumerate(doc["versions"]))
    if len({v.version for v in versions}) != len(versions):
        raise CatalogError(f"{where}: versions: duplicate version")
    return Layout(template_id=doc["template_id"], title_zh=doc["title_zh"], form_no=doc["form_no"],
                  authority_zh=doc["authority_zh"], file_stem=doc["file_stem"], applies_to=applies_to,
                  versions=versions)


def load_layouts(layout_dir: Path | None = None) -> dict[str, Layout]:
    """All layouts keyed by template id."""
    return dict(_load_layouts(Path(layout_dir or LAYOUT_DIR)))


@lru_cache(maxsize=4)
def _load_layouts(layout_dir: Path) -> dict[str, Layout]:
    out: dict[str, Layout] = {}
    for path in sorted(layout_dir.glob("*.yaml")):
        lay = load_layout(path)
        if lay.template_id in out:
            raise CatalogError(f"{path}: duplicate template_id {lay.template_id!r}")
        out[lay.template_id] = lay
    if not out:
        raise CatalogError(f"{layout_dir}: no layout files")
    return out


def files_a_return(facility: dict, layouts: dict[str, "Layout"] | None = None) -> bool:
    """Whether a registry facility (tier, ftype) is expected to file any template (each layout's applies_to)."""
    for layout in (layouts or load_layouts()).values():
        tiers = layout.applies_to.get("tiers")
        types = layout.applies_to.get("types")
        if (not tiers or facility["tier"] in tiers) and (not types or facility["ftype"] in types):
            return True
    return False
