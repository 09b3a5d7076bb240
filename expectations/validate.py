"""Validate a batch of returns with GX: one frame, one checkpoint; failures become findings with their cells."""
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
import pandas as pd

from expectations.compile import (CONTEXT_COLUMNS, INDEX_COLUMNS, SUBMISSION_KINDS, Layout, Rule, batch_sql,
                                  load_layout, load_rules, suite_path)
from expectations.findings import FINDING_COLUMNS, Finding, make
from metrics.catalog import fields_by_code
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


def _suite(ctx):
    """The committed suite JSON, added to (or refreshed in) the context."""
    import great_expectations as gx

    doc = json.loads(suite_path().read_text(encoding="utf-8"))
    suite = gx.ExpectationSuite(name=doc["name"], expectations=doc["expectations"], meta=doc.get("meta"))
    if len(suite.expectations) != len(doc["expectations"]):
        raise ValueError(f"{suite_path()}: some expectations are not valid GX configurations")
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


def _forget_results(ctx, label: str) -> None:
    # a rerun replaces the stored result of its label, so the store (and the docs index) stays one per period
    store = ctx.validation_results_store
    for key in store.list_keys():
        run_id = getattr(key, "run_id", None)
        if run_id is not None and run_id.run_name == label:
            store.remove_key(key)


def _run_gx(gx_dir: Path, docs_dir: Path | None, label: str, frame: pd.DataFrame):
    """One checkpoint run over the frame; returns the suite validation result."""
    import great_expectations as gx
    from great_expectations.checkpoint import UpdateDataDocsAction
    from great_expectations.core.run_identifier import RunIdentifier

    ctx = _context(Path(gx_dir))
    bd = _batch_definition(ctx)
    suite = _suite(ctx)
    name = suite.name
    vd = ctx.validation_definitions.add_or_update(gx.ValidationDefinition(name=f"vd_{name}", data=bd, suite=suite))
    sites = _docs_site(ctx, docs_dir, label)
    actions = [UpdateDataDocsAction(name="data_docs", site_names=sites)] if sites else []
    cp = ctx.checkpoints.add_or_update(gx.Checkpoint(name=f"cp_{name}", validation_definitions=[vd],
                                                     actions=actions, result_format=RESULT_FORMAT))
    _forget_results(ctx, label)
    run_id = RunIdentifier(run_name=label, run_time=dt.datetime.now(dt.UTC))
    res = cp.run(batch_parameters={"dataframe": frame}, run_id=run_id)
    return next(iter(res.run_results.values()))


def _scope_params(period: str | None, submission_ids: list[str] | None, reject_codes: list[str],
                  layout: Layout) -> dict[str, Any]:
    return {"any_period": period is None, "periods": [period] if period else [],
            "any_id": submission_ids is None, "ids": list(submission_ids or []),
            "reject_codes": reject_codes, "default_version": layout.default_version,
            "template_id": layout.template_id}


class _Mapper:
    """Turns one unexpected row of one expectation into a Finding."""

    def __init__(self, rules: tuple[Rule, ...], layout: Layout, scope: dict[str, dict[str, Any]]) -> None:
        self.rules = {r.id: r for r in rules}
        self.labels = {f.code: f.label_zh for f in fields_by_code().values()} | layout.header_labels
        self.scope = scope

    @staticmethod
    def context(frame: pd.DataFrame, hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The context columns (value_num, other_num, value_text, other_text) of each unexpected row."""
        if not hits:
            return []
        key = ["submission_id", "rule_id", "field", "cell"]
        wanted = pd.DataFrame([{k: h[k] for k in key} for h in hits]).astype(object)
        wanted["_hit"] = range(len(hits))
        got = wanted.merge(frame[key + CONTEXT_COLUMNS].astype({k: object for k in key}), on=key, how="left")
        got = got.drop_duplicates("_hit").sort_values("_hit")
        got = got.astype(object).where(got.notna(), None)
        return got[CONTEXT_COLUMNS].to_dict("records")

    def finding(self, meta: dict[str, Any], hit: dict[str, Any], ctx: dict[str, Any]) -> Finding:
        """The Finding for one unexpected row (hit) of the expectation described by meta."""
        rule = self.rules[meta["rule_id"]]
        sid, field, cell = hit["submission_id"], hit["field"], hit["cell"]
        v, other = ctx["value_num"], ctx["other_num"]
        value = expected = detail = None
        if rule.kind == "non_negative":
            value, expected = _fmt(v), "≥0"
        elif rule.kind == "whole_number":
            value, expected = _fmt(v, 6), "整数"
        elif rule.kind == "sum_equals":
            value, expected = _fmt(v), _fmt(other)
            detail = "、".join(self.labels[f] for f, _ in rule.right)
        elif rule.kind == "part_le_total":
            total = next(t for p, t in rule.pairs if p == field)
            value, expected, detail = _fmt(v), _fmt(other), self.labels[total]
        elif rule.kind == "ratio_between":
            value = _fmt(v)
            detail = "、".join(self.labels[f] for f, _ in rule.right)
            if meta.get("side") == "below":
                expected = _fmt(rule.min * other / rule.scale, 2)   # least plausible value of the field
            else:
                expected = _fmt(v / rule.scale, 2)                  # the value if it was typed in 元
        elif rule.kind in SUBMISSION_KINDS:
            value, expected = _text(ctx["value_text"]), _text(ctx["other_text"])
        sub = self.scope[sid]
        f = make(meta["code"], severity=meta["severity"], field_zh=self.labels.get(field, field), detail=detail,
                 period=sub["finding_period"], facility_id=_text(sub["facility_id"]), submission_id=sid,
                 file=_text(sub["original_name"]), sheet=hit["sheet"], cell=cell, field=field, value=value,
                 expected=expected, rule_id=rule.id)
        f = dataclasses.replace(f, stage=STAGE)
        if rule.message:
            loc = _Blank({k: ("" if x is None else x) for k, x in dataclasses.asdict(f).items()})
            loc["field_zh"] = self.labels.get(field, field)
            loc["detail"] = detail or ""
            f = dataclasses.replace(f, message_zh=string.Formatter().vformat(rule.message, (), loc))
        return f


def _write(con: duckdb.DuckDBPyConnection, findings: list[Finding], reject_codes: list[str]) -> None:
    """Replace the scope's validation findings and settle its statuses, in one transaction."""
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


def build_frame(con: duckdb.DuckDBPyConnection, period: str | None = None,
                submission_ids: list[str] | None = None) -> pd.DataFrame:
    """The validation frame of the scope (leaves the val_* temp tables in place for the caller)."""
    rules, layout = load_rules(), load_layout()
    reject = sorted({r.code for r in rules if r.kind in SUBMISSION_KINDS and r.severity == "error"})
    run_sql(con, "val_layout", **layout.rows())
    run_sql(con, "val_scope", **_scope_params(period, submission_ids, reject, layout))
    run_sql(con, "val_values")
    return con.execute(batch_sql(rules)).df()


def validate(con: duckdb.DuckDBPyConnection, gx_dir: Path, docs_dir: Path | None, period: str | None = None,
             submission_ids: list[str] | None = None) -> ValidationResult:
    """Validate the current returns of a period (and/or the listed ids) and store their findings."""
    rules, layout = load_rules(), load_layout()
    reject = sorted({r.code for r in rules if r.kind in SUBMISSION_KINDS and r.severity == "error"})
    n_exp = len(json.loads(suite_path().read_text(encoding="utf-8"))["expectations"])
    try:
        frame = build_frame(con, period, submission_ids)
        cols = ("submission_id", "facility_id", "original_name", "finding_period")
        scope = {r[0]: dict(zip(cols, r)) for r in con.execute(
            f"SELECT {', '.join(cols)} FROM val_scope ORDER BY submission_id").fetchall()}
        if not scope:
            return ValidationResult([], 0, n_exp, True)
        label = period or "+".join(sorted({s["finding_period"] or "none" for s in scope.values()}))
        result = _run_gx(gx_dir, docs_dir, label, frame)
        mapper = _Mapper(rules, layout, scope)
        hits = [(r.expectation_config.meta, hit) for r in result.results if not r.success
                for hit in r.result.get("unexpected_index_list") or []]
        found: dict[str, Finding] = {}
        for (meta, hit), ctx in zip(hits, mapper.context(frame, [h for _, h in hits])):
            f = mapper.finding(meta, hit, ctx)
            found.setdefault(f.as_row()["finding_id"], f)
        # a mistake another stage already reported at the same cell is not reported twice
        seen = {tuple(x) for x in run_sql(con, "val_existing_findings")}
        findings = [f for f in found.values() if (f.submission_id, f.code, f.sheet, f.cell) not in seen]
        findings.sort(key=lambda f: (f.submission_id or "", f.sheet or "", cell_sort_key(f.cell), f.rule_id or "",
                                     f.code))
        _write(con, findings, reject)
        return ValidationResult(findings, len(frame), n_exp, bool(result.success))
    finally:
        run_sql(con, "val_drop")

