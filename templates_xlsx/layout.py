"""Strict loader for the return layouts (templates_xlsx/layouts/*.yaml): cells, names, versions, tables."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from metrics.catalog import CATALOG_DIR, CatalogError, FieldDef, check_keys, load_fields, load_yaml

LAYOUT_DIR = Path(__file__).with_name("layouts")
DEFAULT_FIELD_CATALOG = "fields.yaml"

_CELL_RE = re.compile(r"^([A-Z]{1,3})([1-9][0-9]{0,6})$")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
_PERIOD_RE = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")
_VERSION_RE = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_COL_RE = re.compile(r"^[A-Z]{1,3}$")
_CODE_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_CATALOG_RE = re.compile(r"^fields(_[a-z0-9_]+)?\.yaml$")

_TOP_KEYS = {"template_id", "title_zh", "form_no", "authority_zh", "file_stem", "applies_to", "versions"}
_TOP_OPTIONAL = {"field_catalog", "notes_zh"}
_VERSION_KEYS = {"version", "accepted_periods", "sheet", "meta_sheet", "header", "footer", "table_header_row",
                 "fields"}
_VERSION_OPTIONAL = {"choices", "tables"}
_CELL_KEYS = {"cell", "name", "label_zh"}
_FIELD_KEYS = {"field", "cell", "name"}
_CHOICE_KEYS = {"cell", "name", "label_zh", "options", "required"}
_TABLE_KEYS = {"name", "sheet", "title_zh", "header_row", "first_data_row", "max_rows", "range_name", "columns"}
_TABLE_OPTIONAL = {"note_zh", "total_labels", "total_columns", "summary_pattern"}
_COLUMN_KEYS = {"field", "label_zh", "kind"}
_COLUMN_OPTIONAL = {"required", "unit", "blank", "pii", "width", "max_len", "min", "max"}
HEADER_KEYS = ("facility_name", "facility_code", "period")
COLUMN_KINDS = ("seq", "text", "codes", "date", "count", "amount", "flag")
PII_MARKS = ("pseudonymise", "warehouse_only")
DEFAULT_TOTAL_LABELS = ("合计", "总计", "小计", "共计")
MAX_TABLE_ROWS = 4000


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


class ChoiceSpec(NamedTuple):
    """A labelled input cell with a dropdown of allowed texts (e.g. 抽样方式: 随机/定向)."""

    cell: str
    name: str
    label_zh: str
    options: tuple[str, ...]
    required: bool


class TableColumn(NamedTuple):
    """One column of a multi-row table: letter, field code, label, kind and reading/privacy hints."""

    letter: str
    field: str
    label_zh: str
    kind: str                 # seq | text | codes | date | count | amount | flag
    required: bool = False
    unit: str = ""            # stripped from typed numbers ("45岁", "12.5元")
    blank: str = "missing"    # missing | zero (a blank number cell reads as 0)
    pii: str | None = None    # pseudonymise (loader hashes it) | warehouse_only (never in bureau-wide outputs)
    width: float | None = None
    max_len: int | None = None
    min: float | None = None  # data-validation bounds in the template only (the reader does not judge)
    max: float | None = None


@dataclass(frozen=True)
class TableSpec:
    """A multi-row table on its own sheet: header row, data rows, row cap, range name, total-row labels."""

    name: str
    sheet: str
    title_zh: str
    header_row: int
    first_data_row: int
    max_rows: int
    range_name: str
    columns: tuple[TableColumn, ...]
    note_zh: str | None = None
    total_labels: tuple[str, ...] = DEFAULT_TOTAL_LABELS
    total_columns: tuple[str, ...] = ()
    summary_pattern: str | None = None  # regex: a row with a text cell matching it is a summary row ("A=123")

    @property
    def last_data_row(self) -> int:
        """The last row of the template's data area (first_data_row + max_rows - 1)."""
        return self.first_data_row + self.max_rows - 1

    @property
    def first_col(self) -> int:
        """1-based number of the first column."""
        return split_cell(self.columns[0].letter + "1")[1]

    @property
    def last_col(self) -> int:
        """1-based number of the last column."""
        return split_cell(self.columns[-1].letter + "1")[1]

    def data_ref(self) -> str:
        """The data area as an A1 range ('A4:H503')."""
        return f"{self.columns[0].letter}{self.first_data_row}:{self.columns[-1].letter}{self.last_data_row}"

    def column(self, field: str) -> TableColumn:
        """The column of a field code (KeyError if absent)."""
        for c in self.columns:
            if c.field == field:
                return c
        raise KeyError(field)

    def field_codes(self) -> tuple[str, ...]:
        """Field codes in column order."""
        return tuple(c.field for c in self.columns)

    def pii_fields(self, mark: str) -> tuple[str, ...]:
        """Field codes whose columns carry the privacy mark ('pseudonymise' or 'warehouse_only')."""
        return tuple(c.field for c in self.columns if c.pii == mark)


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
    choices: dict[str, ChoiceSpec] = field(default_factory=dict)
    tables: tuple[TableSpec, ...] = ()

    def accepts(self, period: str) -> bool:
        """True when the month YYYY-MM lies in the accepted window."""
        month = period[:7]
        return month >= self.accepted_from and (self.accepted_to is None or month <= self.accepted_to)

    def inputs(self) -> dict[str, str]:
        """Every input's defined name → cell (header, fields, footer)."""
        out = {s.name: s.cell for s in self.header.values()}
        out.update({f.name: f.cell for f in self.fields})
        out.update({s.name: s.cell for s in self.footer.values()})
        out.update({s.name: s.cell for s in self.choices.values()})
        return out

    def table(self, name: str) -> TableSpec:
        """The TableSpec of a table name (KeyError if absent)."""
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(name)

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
    field_catalog: str = DEFAULT_FIELD_CATALOG
    notes_zh: tuple[str, ...] | None = None

    def field_defs(self) -> dict[str, FieldDef]:
        """The field catalog this layout's fixed cells refer to (metrics/catalog/<field_catalog>), by code."""
        return dict(_field_defs(self.field_catalog))

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


def _text(value: object, where: str, max_len: int = 200) -> str:
    """Non-empty text of bounded length."""
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise CatalogError(f"{where}: expected non-empty text (at most {max_len} characters), got {value!r}")
    return value


def _sheet_name(value: object, where: str) -> str:
    """A legal Excel sheet name."""
    if not isinstance(value, str) or not value or len(value) > 31 or any(ch in value for ch in "[]:*?/\\'"):
        raise CatalogError(f"{where}: expected a sheet name (1–31 characters, none of []:*?/\\')")
    return value


def _positive_int(value: object, where: str, upper: int | None = None) -> int:
    """A whole number ≥ 1 (and ≤ upper)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or (upper is not None and value > upper):
        raise CatalogError(f"{where}: expected a whole number 1–{upper or '∞'}, got {value!r}")
    return value


def _choices(doc: object, where: str) -> dict[str, ChoiceSpec]:
    """The `choices:` mapping of a version (dropdown inputs)."""
    if not isinstance(doc, dict):
        raise CatalogError(f"{where}: expected a mapping")
    out = {}
    for key, spec in doc.items():
        w = f"{where}.{key}"
        if not isinstance(key, str) or not _CODE_RE.match(key) or key in HEADER_KEYS + ("period_text",):
            raise CatalogError(f"{w}: bad choice key (lower_snake_case, not a header key)")
        check_keys(spec, _CHOICE_KEYS, {"cell", "name", "label_zh", "options"}, w)
        opts = spec["options"]
        if (not isinstance(opts, list) or not opts or len(set(opts)) != len(opts)
                or not all(isinstance(o, str) and o.strip() and "," not in o for o in opts)):
            raise CatalogError(f"{w}.options: expected a list of distinct texts without commas")
        req = spec.get("required", False)
        if not isinstance(req, bool):
            raise CatalogError(f"{w}.required: expected true or false")
        out[key] = ChoiceSpec(_cell(spec["cell"], w + ".cell"), _name(spec["name"], w + ".name"),
                              _text(spec["label_zh"], w + ".label_zh", 32), tuple(opts), req)
    return out


def _number_or_none(value: object, where: str) -> float | None:
    """An optional number."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CatalogError(f"{where}: expected a number, got {value!r}")
    return float(value)


def _column(letter: object, spec: object, where: str) -> TableColumn:
    """One table column (letter → field, label, kind, hints)."""
    if not isinstance(letter, str) or not _COL_RE.match(letter):
        raise CatalogError(f"{where}: bad column letter {letter!r} (expected like B)")
    w = f"{where}.{letter}"
    check_keys(spec, _COLUMN_KEYS | _COLUMN_OPTIONAL, _COLUMN_KEYS, w)
    code = spec["field"]
    if not isinstance(code, str) or not _CODE_RE.match(code):
        raise CatalogError(f"{w}.field: expected a lower_snake_case code, got {code!r}")
    kind = spec["kind"]
    if kind not in COLUMN_KINDS:
        raise CatalogError(f"{w}.kind: must be one of {list(COLUMN_KINDS)}, got {kind!r}")
    required = spec.get("required", False)
    if not isinstance(required, bool):
        raise CatalogError(f"{w}.required: expected true or false")
    blank = spec.get("blank", "missing")
    if blank not in ("missing", "zero") or (blank == "zero" and kind not in ("count", "amount")):
        raise CatalogError(f"{w}.blank: missing, or zero for count/amount columns only, got {blank!r}")
    pii = spec.get("pii")
    if pii is not None and (pii not in PII_MARKS or kind not in ("text", "codes")):
        raise CatalogError(f"{w}.pii: one of {list(PII_MARKS)} on a text column, got {pii!r}")
    unit = spec.get("unit", "")
    if not isinstance(unit, str):
        raise CatalogError(f"{w}.unit: expected text")
    width = _number_or_none(spec.get("width"), w + ".width")
    max_len = spec.get("max_len")
    if max_len is not None:
        max_len = _positive_int(max_len, w + ".max_len", 32767)
    lo, hi = _number_or_none(spec.get("min"), w + ".min"), _number_or_none(spec.get("max"), w + ".max")
    if lo is not None and hi is not None and hi < lo:
        raise CatalogError(f"{w}: max is below min")
    return TableColumn(letter, code, _text(spec["label_zh"], w + ".label_zh", 40), kind, required, unit, blank,
                       pii, width, max_len, lo, hi)


def _table(doc: object, where: str) -> TableSpec:
    """One entry of a version's `tables:` list."""
    check_keys(doc, _TABLE_KEYS | _TABLE_OPTIONAL, _TABLE_KEYS, where)
    name = doc["name"]
    if not isinstance(name, str) or not _CODE_RE.match(name):
        raise CatalogError(f"{where}.name: expected a lower_snake_case table name, got {name!r}")
    header_row = _positive_int(doc["header_row"], where + ".header_row", 50)
    first = _positive_int(doc["first_data_row"], where + ".first_data_row", 60)
    if first <= header_row:
        raise CatalogError(f"{where}.first_data_row: must be below header_row {header_row}")
    max_rows = _positive_int(doc["max_rows"], where + ".max_rows", MAX_TABLE_ROWS)
    cols_doc = doc["columns"]
    if not isinstance(cols_doc, dict) or not cols_doc:
        raise CatalogError(f"{where}.columns: expected a mapping of column letter → column")
    columns = tuple(_column(k, v, f"{where}.columns") for k, v in cols_doc.items())
    numbers = [split_cell(c.letter + "1")[1] for c in columns]
    if numbers != list(range(numbers[0], numbers[0] + len(numbers))):
        raise CatalogError(f"{where}.columns: letters must be contiguous and in order (A, B, C…)")
    codes = [c.field for c in columns]
    if len(set(codes)) != len(codes):
        raise CatalogError(f"{where}.columns: duplicate field")
    if all(c.kind == "seq" for c in columns):
        raise CatalogError(f"{where}.columns: needs a column other than seq")
    labels = doc.get("total_labels", list(DEFAULT_TOTAL_LABELS))
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) and x.strip() for x in labels):
        raise CatalogError(f"{where}.total_labels: expected a list of texts")
    letters = [c.letter for c in columns]
    default_total = [c.letter for c in columns if c.kind in ("seq", "text")][:2]
    total_cols = doc.get("total_columns", default_total)
    if not isinstance(total_cols, list) or not all(x in letters for x in total_cols):
        raise CatalogError(f"{where}.total_columns: expected column letters of this table, got {total_cols!r}")
    note = doc.get("note_zh")
    if note is not None:
        note = _text(note, where + ".note_zh", 300)
    pattern = doc.get("summary_pattern")
    if pattern is not None:
        try:
            re.compile(_text(pattern, where + ".summary_pattern", 100))
        except re.error as e:
            raise CatalogError(f"{where}.summary_pattern: not a regular expression ({e})") from e
    return TableSpec(name=name, sheet=_sheet_name(doc["sheet"], where + ".sheet"),
                     title_zh=_text(doc["title_zh"], where + ".title_zh", 60), header_row=header_row,
                     first_data_row=first, max_rows=max_rows,
                     range_name=_name(doc["range_name"], where + ".range_name"),
                     columns=columns, note_zh=note, total_labels=tuple(labels), total_columns=tuple(total_cols),
                     summary_pattern=pattern)


def _parse_version(doc: object, where: str, field_codes: set[str], catalog: str = DEFAULT_FIELD_CATALOG
                   ) -> LayoutVersion:
    check_keys(doc, _VERSION_KEYS | _VERSION_OPTIONAL, _VERSION_KEYS, where)
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
            raise CatalogError(f"{w}.field: unknown field {f['field']!r} (not in metrics/catalog/{catalog})")
        fields.append(FieldCell(f["field"], _cell(f["cell"], w + ".cell"), _name(f["name"], w + ".name")))
    if len({f.field for f in fields}) != len(fields):
        raise CatalogError(f"{where}.fields: duplicate field")
    choices = _choices(doc.get("choices", {}), f"{where}.choices")
    if set(choices) & (set(header) | set(footer)):
        raise CatalogError(f"{where}.choices: a key is also a header/footer key")
    tables_doc = doc.get("tables", [])
    if not isinstance(tables_doc, list):
        raise CatalogError(f"{where}.tables: expected a list")
    tables = tuple(_table(t, f"{where}.tables[{i}]") for i, t in enumerate(tables_doc))
    specs = list(header.values()) + list(footer.values()) + list(choices.values())
    cells = [s.cell for s in specs] + [f.cell for f in fields]
    names = [s.name for s in specs] + [f.name for f in fields] + [t.range_name for t in tables]
    if len(set(cells)) != len(cells):
        raise CatalogError(f"{where}: two inputs share a cell")
    if len({n.upper() for n in names}) != len(names):
        raise CatalogError(f"{where}: duplicate defined name")
    for f in fields:
        if split_cell(f.cell)[0] <= thr:
            raise CatalogError(f"{where}: field {f.field} cell {f.cell} is not below table_header_row {thr}")
    sheets = [doc["sheet"], doc["meta_sheet"]] + [t.sheet for t in tables]
    if len(set(sheets)) != len(sheets):
        raise CatalogError(f"{where}.tables: each table needs a sheet of its own (not the main or meta sheet)")
    if len({t.name for t in tables}) != len(tables):
        raise CatalogError(f"{where}.tables: duplicate table name")
    return LayoutVersion(version=version, accepted_from=a_from, accepted_to=a_to, sheet=doc["sheet"],
                         meta_sheet=doc["meta_sheet"], header=header, footer=footer, table_header_row=thr,
                         fields=tuple(fields), choices=choices, tables=tables)


def load_layout(path: Path) -> Layout:
    """Load and check one layout file."""
    path = Path(path)
    doc = load_yaml(path)
    where = str(path)
    check_keys(doc, _TOP_KEYS | _TOP_OPTIONAL, _TOP_KEYS, where)
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
    catalog = doc.get("field_catalog", DEFAULT_FIELD_CATALOG)
    if not isinstance(catalog, str) or not _CATALOG_RE.match(catalog) or not (CATALOG_DIR / catalog).is_file():
        raise CatalogError(f"{where}: field_catalog: expected a file name like fields_xxx.yaml in metrics/catalog/, "
                           f"got {catalog!r}")
    notes = doc.get("notes_zh")
    if notes is not None:
        if not isinstance(notes, list) or not notes or not all(isinstance(n, str) and n for n in notes):
            raise CatalogError(f"{where}: notes_zh: expected a list of texts")
        notes = tuple(notes)
    codes = set(_field_defs(catalog))
    versions = tuple(_parse_version(v, f"{where}: versions[{i}]", codes, catalog)
                     for i, v in enumerate(doc["versions"]))
    if len({v.version for v in versions}) != len(versions):
        raise CatalogError(f"{where}: versions: duplicate version")
    return Layout(template_id=doc["template_id"], title_zh=doc["title_zh"], form_no=doc["form_no"],
                  authority_zh=doc["authority_zh"], file_stem=doc["file_stem"], applies_to=applies_to,
                  versions=versions, field_catalog=catalog, notes_zh=notes)


@lru_cache(maxsize=16)
def _field_defs(catalog: str) -> dict[str, FieldDef]:
    """Field definitions of a catalog file in metrics/catalog/, by code (the default file via load_fields())."""
    fields = load_fields() if catalog == DEFAULT_FIELD_CATALOG else load_fields(CATALOG_DIR / catalog)
    return {f.code: f for f in fields}


def load_layouts(layout_dir: Path | None = None) -> dict[str, Layout]:
    """All layouts keyed by template id, in form-number order (卫健绩效01表, 02表, …)."""
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
    return dict(sorted(out.items(), key=lambda kv: (kv[1].form_no, kv[0])))


def files_a_return(facility: dict, layouts: dict[str, "Layout"] | None = None) -> bool:
    """Whether a registry facility (tier, ftype) is expected to file any template (each layout's applies_to)."""
    for layout in (layouts or load_layouts()).values():
        tiers = layout.applies_to.get("tiers")
        types = layout.applies_to.get("types")
        if (not tiers or facility["tier"] in tiers) and (not types or facility["ftype"] in types):
            return True
    return False
