"""Validate a batch of returns with GX: per template one frame and one checkpoint; failures become findings with
their cells."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import math
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from expectations import compare, lookups
from expectations.compile import (CONTEXT_COLUMNS, INDEX_COLUMNS, SUBMISSION_KINDS, Layout, Rule, Suite, batch_sql,
                                  drop_sql, load_suite, load_suites, prep_sql, row_fields, scale_label)
from expectations.findings import FINDING_COLUMNS, Finding, make
from metrics.catalog import all_fields_by_code
from templates_xlsx.layout import cell_sort_key
from warehouse.db import run_sql, transaction

STAGE = "validate"
DATASOURCE = "jixiao_pandas"
ASSET = "validation_rows"
BATCH_DEFINITION = "whole_batch"
DOCS_SITE = "period_docs"
RESULT_FORMAT = {"result_format": "COMPLETE", "unexpected_index_column_names": INDEX_COLUMNS}



@dataclass
class ValidationResult:
    """What one validation run found, over how many frame rows and expectations, and whether all passed."""

    findings: list[Finding]
    n_rows: int
    n_expectations: int
    success: bool


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


def _fmt(x: Any, digits: int = 4) -> str | None:
    """A number as a person would write it: no trailing zeros, no float noise."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    x = float(x)
    if not math.isfinite(x):
        return str(x)
    r = round(x, digits)
    if r == int(r):
        return str(int(r))
    return f"{r:.{digits}f}".rstrip("0").rstrip(".")


def _text(x: Any) -> str | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else str(x)


def _quiet_gx() -> None:
    # GX logs recoverable issues at WARNING; with no handler configured Python would print them to stderr
    logging.getLogger("great_expectations").addHandler(logging.NullHandler())
    logging.getLogger("great_expectations").propagate = False


def _context(gx_dir: Path):
    """The GX file context under gx_dir (created on first use), progress bars off."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    _quiet_gx()
    gx_dir.mkdir(parents=True, exist_ok=True)
    ctx = gx.get_context(mode="file", project_root_dir=str(gx_dir))
    bars = ctx.variables.progress_bars
    globally = bars.get("globally") if isinstance(bars, dict) else getattr(bars, "globally", None)
    if globally is not False:
        ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
        ctx.variables.save()
    return ctx


def _batch_definition(ctx):
    try:
        ds = ctx.data_sources.get(DATASOURCE)
    except (KeyError, ValueError):
        ds = ctx.data_sources.add_pandas(name=DATASOURCE)
    try:
        asset = ds.get_asset(ASSET)
    except LookupError:
        asset = ds.add_dataframe_asset(name=ASSET)
    try:
        return asset.get_batch_definition(BATCH_DEFINITION)
    except (KeyError, LookupError):
        return asset.add_batch_definition_whole_dataframe(BATCH_DEFINITION)


def _suite(ctx, spec: Suite | None = None):
    """A committed suite JSON (default: the operations suite), added to (or refreshed in) the context."""
    import great_expectations as gx

    path = (spec or load_suite()).path()
    doc = json.loads(path.read_text(encoding="utf-8"))
    suite = gx.ExpectationSuite(name=doc["name"], expectations=doc["expectations"], meta=doc.get("meta"))
    if len(suite.expectations) != len(doc["expectations"]):
        raise ValueError(f"{path}: some expectations are not valid GX configurations")
    return ctx.suites.add_or_update(suite)


def _docs_site(ctx, docs_dir: Path | None, label: str) -> list[str]:
    """Point the period site at docs_dir, showing only this run's label; returns the sites to update."""
    if docs_dir is None:
        sites = ctx.variables.data_docs_sites or {}
        return ["local_site"] if "local_site" in sites else []
    config = {
        "class_name": "SiteBuilder",
        "show_how_to_buttons": False,
        "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                          "base_directory": str(Path(docs_dir).resolve())},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        "site_section_builders": {"validations": {"run_name_filter": {"equals": label}}},
    }
    sites = dict(ctx.variables.data_docs_sites or {})
    if sites.get(DOCS_SITE) != config:
        sites[DOCS_SITE] = config
        ctx.variables.data_docs_sites = sites
        ctx.variables.save()
    return [DOCS_SITE]


def _forget_results(ctx, label: str, suite_name: str | None = None) -> None:
    # a rerun replaces the stored result of its label (per suite), so the store and the docs index stay one per
    # period and template
    store = ctx.validation_results_store
    for key in store.list_keys():
        run_id = getattr(key, "run_id", None)
        if run_id is None or run_id.run_name != label:
            continue
        ident = getattr(key, "expectation_suite_identifier", None)
        if suite_name is None or ident is None or ident.name == suite_name:
            store.remove_key(key)


def _rule_of(config) -> str | None:
    return (config.meta or {}).get("rule_id")


def _run_suite(ctx, spec: Suite, docs_dir: Path | None, label: str, frame: pd.DataFrame):
    """A template's suite over its frame, stored under the run's label; returns (suite validation result, its
    result identifier, the Data Docs sites to update).

    A shared-column frame holds every rule's rows (≈ 25 per table row) and each expectation keeps only its rule's
    rows through its row_condition, which GX evaluates by filtering the whole frame — once per expectation. So the
    frame is split by rule_id once and each rule's expectations run over their own rows (the row_condition still
    applies, now to a small frame): the same results at about half the time. The parts' results are joined in the
    suite's order into one result, stored like a checkpoint's, so Data Docs show one page per template.
    """
    import great_expectations as gx
    from great_expectations.constants import DATAFRAME_REPLACEMENT_STR
    from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResult
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (ExpectationSuiteIdentifier,
                                                                            ValidationResultIdentifier)
    from great_expectations.validator.v1_validator import Validator
    from great_expectations.validator.validator import calc_validation_statistics

    bd = _batch_definition(ctx)
    suite = _suite(ctx, spec)
    configs = suite.expectation_configurations
    if spec.shared and "rule_id" in frame.columns and all(_rule_of(c) for c in configs):
        groups: dict[str | None, list[int]] = {}
        for i, c in enumerate(configs):
            groups.setdefault(_rule_of(c), []).append(i)
        where = frame.groupby("rule_id", observed=True, sort=False).indices
    else:
        groups, where = {None: list(range(len(configs)))}, {}
    results: list[Any] = [None] * len(configs)
    meta: dict[str, Any] = {}
    batch_id = None
    for rule_id, idx in groups.items():
        if rule_id is None:
            part = frame
        else:
            part = frame.take(where[rule_id]) if rule_id in where else frame.iloc[:0]
        validator = Validator(batch_definition=bd, batch_parameters={"dataframe": part}, result_format=RESULT_FORMAT)
        sub = gx.ExpectationSuite(name=suite.name, expectations=[configs[i].to_json_dict() for i in idx])
        res = validator.validate_expectation_suite(sub)
        for i, r in zip(idx, res.results):
            results[i] = r
        meta = meta or dict(res.meta)
        batch_id = batch_id or res.batch_id
        del part, validator
    stats = calc_validation_statistics(results)
    run_id = RunIdentifier(run_name=label, run_time=dt.datetime.now(dt.UTC))
    meta.update(run_id=run_id, validation_time=run_id.run_time, batch_parameters={"dataframe": DATAFRAME_REPLACEMENT_STR},
                checkpoint_id=None)
    result = ExpectationSuiteValidationResult(
        results=results, success=stats.success, suite_name=suite.name, meta=meta, batch_id=batch_id,
        statistics={"evaluated_expectations": stats.evaluated_expectations,
                    "successful_expectations": stats.successful_expectations,
                    "unsuccessful_expectations": stats.unsuccessful_expectations,
                    "success_percent": stats.success_percent})
    _forget_results(ctx, label, suite.name)
    suite_key = ExpectationSuiteIdentifier(name=suite.name)
    key = ValidationResultIdentifier(expectation_suite_identifier=suite_key, run_id=run_id, batch_identifier=batch_id)
    ctx.validation_results_store.store_validation_results(
        suite_validation_result=result, suite_validation_result_identifier=key,
        expectation_suite_identifier=suite_key)
    return result, key


def _build_docs(ctx, docs_dir: Path | None, label: str, keys: list[Any]) -> None:
    """Render this run's result pages and the site index (once per validation run, not per template)."""
    sites = _docs_site(ctx, docs_dir, label)
    if sites and keys:
        ctx.build_data_docs(site_names=sites, resource_identifiers=keys)


def _run_gx(gx_dir: Path, docs_dir: Path | None, label: str, frame: pd.DataFrame, spec: Suite | None = None):
    """One run of a suite (default: the operations suite) over the frame, its Data Docs page built."""
    ctx = _context(Path(gx_dir))
    result, key = _run_suite(ctx, spec or load_suite(), docs_dir, label, frame)
    _build_docs(ctx, docs_dir, label, [key])
    return result


def _scope_params(period: str | None, submission_ids: list[str] | None, reject_codes: list[str],
                  layout: Layout) -> dict[str, Any]:
    return {"any_period": period is None, "periods": [period] if period else [],
            "any_id": submission_ids is None, "ids": list(submission_ids or []),
            "reject_codes": reject_codes, "default_version": layout.default_version,
            "template_id": layout.template_id}


def _pct(share: float) -> str:
    return f"{_fmt(share * 100, 1)}%"


def _questionnaire(respondent_id: str | None) -> str:
    return f"问卷编号「{respondent_id}」" if respondent_id else "未填问卷编号"


def _range(lo: float | None, hi: float | None) -> str:
    if lo is not None and hi is not None:
        return f"{_fmt(lo)}–{_fmt(hi)}"
    return f"≥{_fmt(lo)}" if lo is not None else f"≤{_fmt(hi)}"


class _Mapper:
    """Turns one unexpected row of one expectation into a Finding."""

    def __init__(self, rules: tuple[Rule, ...], layout: Layout, scope: dict[str, dict[str, Any]]) -> None:
        self.rules = {r.id: r for r in rules}
        self.labels = {f.code: f.label_zh for f in all_fields_by_code().values()} | layout.header_labels
        tables = layout.tables.get(layout.default_version, {})
        self.columns = {(t.name, c.field): c.label_zh for t in tables.values() for c in t.columns.values()}
        self.scope = scope

    def label(self, rule: Rule, field: str) -> str:
        """The Chinese label of a field or (for table rules) a column of the rule's table."""
        if rule.table is not None and (rule.table, field) in self.columns:
            return self.columns[(rule.table, field)]
        return self.labels.get(field, field)

    @staticmethod
    def context(frame: pd.DataFrame, hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The context columns (value_num, other_num, value_text, other_text) of each unexpected row."""
        if not hits:
            return []
        key = ["submission_id", "rule_id", "field", "cell"]
        wanted = pd.DataFrame([{k: h[k] for k in key} for h in hits]).astype(object)
        wanted["_hit"] = range(len(hits))
        # only the frame rows of the failing rules and returns take part in the merge (a frame may be large)
        mask = frame["rule_id"].isin(set(wanted["rule_id"])) & frame["submission_id"].isin(set(wanted["submission_id"]))
        part = frame.loc[mask, key + CONTEXT_COLUMNS]
        got = wanted.merge(part.astype({k: object for k in key}), on=key, how="left")
        got = got.drop_duplicates("_hit").sort_values("_hit")
        got = got.astype(object).where(got.notna(), None)
        return got[CONTEXT_COLUMNS].to_dict("records")

    def finding(self, meta: dict[str, Any], hit: dict[str, Any], ctx: dict[str, Any]) -> Finding:
        """The Finding for one unexpected row (hit) of the expectation described by meta."""
        rule = self.rules[meta["rule_id"]]
        sid, field, cell = hit["submission_id"], hit["field"], hit["cell"]
        v, other = ctx["value_num"], ctx["other_num"]
        value = expected = detail = None
        if rule.kind == "compare":   # wording, companion rows and the message/fix overrides: expectations/compare.py
            units = {c: f.unit for c, f in all_fields_by_code().items()}
            return compare.finding(rule, meta, hit, ctx, self.scope[sid], lambda c: self.label(rule, c),
                                   lambda c: units.get(c, ""))
        if rule.kind == "non_negative":
            value, expected = _fmt(v), "≥0"
        elif rule.kind == "whole_number":
            value, expected = _fmt(v, 6), "整数"
        elif rule.kind == "between":
            value, expected = _fmt(v), _range(rule.min, rule.max)
        elif rule.kind == "in_set":
            value, expected = _fmt(v), "、".join(_fmt(x) or "" for x in rule.values)
        elif rule.kind == "sum_equals":
            value, expected = _fmt(v), _fmt(other)
            detail = "、".join(self.label(rule, f) for f, _ in rule.right)
        elif rule.kind == "part_le_total":
            total = next(t for p, t in rule.pairs if p == field)
            value, expected, detail = _fmt(v), _fmt(other), self.label(rule, total)
        elif rule.kind == "ratio_between":
            value = _fmt(v)
            detail = "、".join(self.label(rule, f) for f, _ in rule.right)
            if meta.get("side") == "below":
                expected = _fmt(rule.min * other / rule.scale, 2)   # least plausible value of the field
            else:
                expected = _fmt(v / rule.scale, 2)                  # the value if it was typed in 元
        elif rule.kind in SUBMISSION_KINDS or rule.kind == "date_in_period":
            value, expected = _text(ctx["value_text"]), _text(ctx["other_text"])
        elif rule.kind in ("codes_known", "route_known"):
            value = _text(ctx["value_text"])
        elif rule.kind == "flag_matches_codes":
            codes = _text(ctx["value_text"])
            value = _fmt(v)
            detail = f"本行填写了问题代码「{codes}」" if codes else "本行未填写问题代码"
        elif rule.kind == "unique_rows":
            value, expected = _fmt(v), _fmt(other)
            detail = "、".join(self.label(rule, f) for f in rule.fields)
        elif rule.kind in ("in_scope", "ddd_covered"):
            value, detail = _text(ctx["value_text"]), _text(ctx["other_text"])
        elif rule.kind == "sample_adequacy":
            value, expected, detail = _fmt(v), _fmt(other), _text(ctx["other_text"])
        elif rule.kind == "in_scale":
            lo, hi = next((lo, hi) for c, lo, hi in rule.bounds if c == field)
            value, expected = _fmt(v), scale_label(lo, hi)
        elif rule.kind == "text_in_set":
            value, expected = _text(ctx["value_text"]), "、".join(rule.texts)
        elif rule.kind == "incomplete_row":
            value, expected = _text(ctx["value_text"]), _pct(rule.max_share or 0)
            detail = (f"{_questionnaire(value)}，{_fmt(other)} 题中 {_fmt(v)} 题未作答或超出计分范围，"
                      f"占 {_pct(v / other)}")
        elif rule.kind == "straight_lining":
            value = _text(ctx["value_text"])
            then = "该问卷不计入满意度得分" if rule.exclude else "该问卷已标记，仍计入满意度得分"
            detail = (f"{_questionnaire(value)}的 {_fmt(other)} 道 {_text(ctx['other_text'])} 分题全部答 {_fmt(v)}，"
                      f"{then}")
        elif rule.kind == "both_or_neither":
            detail = self.label(rule, _text(ctx["other_text"]) or "")
        sub = self.scope[sid]
        field_zh = self.label(rule, field)
        f = make(meta["code"], severity=meta["severity"], field_zh=field_zh, detail=detail,
                 period=sub["finding_period"], facility_id=_text(sub["facility_id"]), submission_id=sid,
                 file=_text(sub["original_name"]), sheet=hit["sheet"], cell=cell, field=field, value=value,
                 expected=expected, rule_id=rule.id)
        f = dataclasses.replace(f, stage=STAGE)
        if rule.message:
            loc = _Blank({k: ("" if x is None else x) for k, x in dataclasses.asdict(f).items()})
            loc["field_zh"] = field_zh
            loc["detail"] = detail or ""
            f = dataclasses.replace(f, message_zh=string.Formatter().vformat(rule.message, (), loc))
        return f


def _write(con: duckdb.DuckDBPyConnection, findings: list[Finding], reject_codes: list[str]) -> None:
    """Replace the validation findings of every return in scope and settle their statuses, in one transaction."""
    rows = pd.DataFrame([f.as_row() for f in findings], columns=FINDING_COLUMNS).astype(object)
    rows = rows.where(rows.notna(), None)
    with transaction(con):
        run_sql(con, "val_delete_findings")
        if len(rows):
            con.register("val_new_findings", rows)
            try:
                run_sql(con, "val_insert_findings")
            finally:
                con.unregister("val_new_findings")
        run_sql(con, "val_set_status", reject_codes=reject_codes)


def _reject_codes(rules: tuple[Rule, ...]) -> list[str]:
    """Codes that reject a return: submission-level rules of severity error (facility-unknown)."""
    return sorted({r.code for r in rules if r.kind in SUBMISSION_KINDS and r.severity == "error"})


def _scope(con: duckdb.DuckDBPyConnection, spec: Suite, period: str | None,
           submission_ids: list[str] | None) -> None:
    """val_layout and val_scope of a template's suite."""
    layout = spec.layout()
    run_sql(con, "val_layout", **layout.rows())
    run_sql(con, "val_scope", **_scope_params(period, submission_ids, _reject_codes(spec.rules()), layout))


def build_frame(con: duckdb.DuckDBPyConnection, period: str | None = None,
                submission_ids: list[str] | None = None, suite: Suite | None = None) -> pd.DataFrame:
    """The validation frame of a suite's scope (default: the operations suite; leaves the val_* temp tables in
    place for the caller).

    Table rules read val_rows (the scope's table cells), val_pivot_<table> (a table row's cells side by side)
    and the Python-evaluated lookups; a shared-column suite's frame carries its text columns as categoricals.
    """
    spec = suite or load_suite()
    rules = spec.rules()
    _scope(con, spec, period, submission_ids)
    run_sql(con, "val_values")
    tbls, fields = row_fields(rules)
    if tbls:
        run_sql(con, "val_wanted", tbls=tbls, fields=fields)
        run_sql(con, "val_rows")
        for stmt in prep_sql(rules):
            con.execute(stmt)
        lookups.fill(con, rules)
    if not spec.shared:
        return con.execute(batch_sql(rules)).df()
    return _categorical_frame(con, batch_sql(rules, shared=True), INDEX_COLUMNS + ["value_text", "other_text"])


def _categorical_frame(con: duckdb.DuckDBPyConnection, sql: str, text_columns: list[str]) -> pd.DataFrame:
    """The query's result with its text columns as categoricals.

    A table return yields ~25 frame rows per table row (25 million for 1,000 returns of 1,000 rows), so the
    text columns never become millions of Python strings: one pass collects each column's distinct values
    (GROUPING SETS), each column is cast to an ENUM of them and fetched as codes.
    """
    sets = ", ".join(f"({c})" for c in text_columns)
    which = "CASE " + " ".join(f"WHEN GROUPING({c}) = 0 THEN '{c}'" for c in text_columns) + " END"
    con.execute(f"CREATE OR REPLACE TEMP TABLE val_vocab AS SELECT {which} AS col, coalesce({', '.join(text_columns)})"
                f" AS x FROM ({sql}) GROUP BY GROUPING SETS ({sets})")
    try:
        for c in text_columns:
            con.execute(f"CREATE OR REPLACE TEMP TYPE val_enum_{c} AS ENUM "
                        f"(SELECT x FROM val_vocab WHERE col = '{c}' AND x IS NOT NULL ORDER BY x)")
        cols = [d[0] for d in con.execute(f"SELECT * FROM ({sql}) LIMIT 0").description]
        select = [f"CAST({c} AS val_enum_{c}) AS {c}" if c in text_columns else c for c in cols]
        frame = con.execute(f"SELECT {', '.join(select)} FROM ({sql})").df()
    finally:
        con.execute("DROP TABLE IF EXISTS val_vocab")
        for c in text_columns:
            con.execute(f"DROP TYPE IF EXISTS val_enum_{c}")
    for c in text_columns:  # an all-NULL column comes back as plain objects
        if not isinstance(frame[c].dtype, pd.CategoricalDtype):
            frame[c] = frame[c].astype("str").astype("category")
    # GX filters the frame by rule (row_condition → DataFrame.query), which copies the index several times per
    # expectation: a 32-bit index halves that cost
    if len(frame) < 2**31:
        frame.index = pd.Index(np.arange(len(frame), dtype=np.int32))
    return frame


def _release(con: duckdb.DuckDBPyConnection, rules: tuple[Rule, ...]) -> None:
    """Drop a template's table-cell temp tables once its frame is built (they may hold millions of rows)."""
    for stmt in drop_sql(rules):
        con.execute(stmt)
    con.execute("DROP VIEW IF EXISTS val_rows")
    con.execute("DROP TABLE IF EXISTS val_wanted")


_SCOPE_COLUMNS = ("submission_id", "facility_id", "original_name", "finding_period")


def validate(con: duckdb.DuckDBPyConnection, gx_dir: Path, docs_dir: Path | None, period: str | None = None,
             submission_ids: list[str] | None = None) -> ValidationResult:
    """Validate the current returns of a period (and/or the listed ids) and store their findings.

    Every template's returns in scope are validated by that template's suite (one GX checkpoint run each, Data
    Docs for all into docs_dir); their findings are replaced and statuses settled in one transaction.
    """
    suites = load_suites()
    reject = sorted({c for s in suites for c in _reject_codes(s.rules())})
    try:
        con.execute("DROP TABLE IF EXISTS val_batch")
        scopes: dict[str, dict[str, dict[str, Any]]] = {}
        for spec in suites:  # the scope of every template first: the run's label names all their periods
            _scope(con, spec, period, submission_ids)
            rows = con.execute(f"SELECT {', '.join(_SCOPE_COLUMNS)} FROM val_scope ORDER BY submission_id").fetchall()
            if rows:
                scopes[spec.name] = {r[0]: dict(zip(_SCOPE_COLUMNS, r)) for r in rows}
                run_sql(con, "val_batch", template_id=spec.layout().template_id)
        if not scopes:
            return ValidationResult([], 0, 0, True)
        everyone = {sid: s for scope in scopes.values() for sid, s in scope.items()}
        label = period or "+".join(sorted({s["finding_period"] or "none" for s in everyone.values()}))
        ctx = _context(Path(gx_dir))
        found: dict[str, Finding] = {}
        n_rows = n_exp = 0
        success = True
        keys: list[Any] = []
        for spec in suites:
            if spec.name not in scopes:
                continue
            rules = spec.rules()
            try:
                frame = build_frame(con, period, submission_ids, spec)
                _release(con, rules)
                result, key = _run_suite(ctx, spec, docs_dir, label, frame)
                keys.append(key)
                mapper = _Mapper(rules, spec.layout(), scopes[spec.name])
                hits = [(r.expectation_config.meta, hit) for r in result.results if not r.success
                        for hit in r.result.get("unexpected_index_list") or []]
                for (meta, hit), hit_ctx in zip(hits, mapper.context(frame, [h for _, h in hits])):
                    f = mapper.finding(meta, hit, hit_ctx)
                    found.setdefault(f.as_row()["finding_id"], f)
                n_rows += len(frame)
                n_exp += len(result.results)
                success &= bool(result.success)
                del frame
            finally:
                _release(con, rules)
        _build_docs(ctx, docs_dir, label, keys)
        # a mistake another stage already reported at the same cell is not reported twice
        seen = {tuple(x) for x in run_sql(con, "val_existing_findings")}
        findings = [f for f in found.values() if (f.submission_id, f.code, f.sheet, f.cell) not in seen]
        findings.sort(key=lambda f: (f.submission_id or "", f.sheet or "", cell_sort_key(f.cell), f.rule_id or "",
                                     f.code))
        _write(con, findings, reject)
        return ValidationResult(findings, n_rows, n_exp, success)
    finally:
        run_sql(con, "val_drop")
