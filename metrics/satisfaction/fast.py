"""Score every facility's questionnaires of one survey type at once from columns: the same SurveyScore as
score.score_survey, field by field (counts, refs, unrounded and published Decimals, status, reason).

Why not integer sums over respondents: score_survey computes in Decimal under the current context (28 significant
digits by default), so a dimension score such as 200/3, each product and partial sum of a respondent index, the
facility's running sum, its mean and its SD are rounded at the 28th digit along the way. The exact rational mean
(integers scaled by a common K, divided once) differs from that result in the last digits for most facilities
(150 of 200 random outpatient samples), and a value on a half-up boundary can even publish differently. "The same
Decimal" therefore means the reference's Decimal steps, in the reference's order, on the same operands:

1. everything that is not arithmetic — window, duplicates, blank and out-of-scale answers, incomplete and
   straight-lined questionnaires, modes — is decided with numpy for all rows at once (what made score_survey cost
   ~300 µs a questionnaire);
2. a dimension score depends only on the answers to that dimension's items, and a respondent index only on the
   dimension scores: the reference's own item_score/weighted_mean run once per distinct answer pattern of a
   dimension and once per distinct combination of dimension scores, and the Decimals are spread back by index;
3. each facility's lists, in received order, go to score.summarise_survey — the tail of score_survey itself
   (mean_ci, dimension means, counts, status, reason).
"""
from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from metrics.satisfaction.questionnaire import Questionnaire, SatisfactionSettings
from metrics.satisfaction.score import (DUPLICATE, INCOMPLETE, NO_MODE_ZH, OUT_OF_WINDOW, STRAIGHT_LINED, Response,
                                        SurveyScore, item_score, score_survey, summarise_survey, weighted_mean)

# Scale bounds beyond ±2**30 (a "scale" of a billion points) would not fit the int64 pattern codes below next to a
# million rows; such a questionnaire is scored by the reference function instead (same result, reference speed).
_MAX_BOUND = 2 ** 30
_REASONS = ("", OUT_OF_WINDOW, DUPLICATE, INCOMPLETE, STRAIGHT_LINED)   # index = reason code below


@dataclass(frozen=True)
class SurveyColumns:
    """Questionnaires of one survey type as columns, one row per questionnaire; a facility's rows in received order.

    answers: item code → a float column (NaN = blank or unreadable; any other value that is not a whole number
    inside the item's scale, ±inf included, is out of scale) or an int column; an absent item is blank throughout.
    ref is only read for the rows a SurveyScore lists (excluded, flagged, out of scale, unknown mode).
    """
    facility: np.ndarray                    # facility label per row (ids or int codes)
    respondent_id: np.ndarray               # object: str | None
    survey_date: np.ndarray                 # datetime64[D]; NaT when not stated
    mode: np.ndarray                        # object: str | None
    answers: Mapping[str, np.ndarray]
    ref: Sequence[Any]


def score_columns(cols: SurveyColumns, questionnaire: Questionnaire, settings: SatisfactionSettings,
                  months: Sequence[str] | None = None) -> dict[Any, SurveyScore]:
    """Per facility with at least one row: exactly score_survey(its rows in order, questionnaire, settings, months)."""
    unknown = sorted(set(cols.answers) - {i.code for i in questionnaire.items})
    if unknown:
        raise ValueError(f"survey {questionnaire.code}: unknown item code(s) {unknown}")
    if len(cols.facility) == 0:
        return {}
    if not _fits(questionnaire):
        return {fid: score_survey(rs, questionnaire, settings, months=months)
                for fid, rs in to_responses(cols, questionnaire).items()}
    return _Scorer(cols, questionnaire, settings, months).run()


def to_responses(cols: SurveyColumns, questionnaire: Questionnaire) -> dict[Any, list[Response]]:
    """The same rows as Response objects per facility (the reference's input; used for the fallback and benchmarks)."""
    items = [i.code for i in questionnaire.items]
    answers = {c: _python_values(cols.answers[c]) for c in items if c in cols.answers}
    dates = np.asarray(cols.survey_date, dtype="datetime64[D]").tolist()
    facility = np.asarray(cols.facility).tolist()
    out: dict[Any, list[Response]] = {}
    for k, fid in enumerate(facility):
        out.setdefault(fid, []).append(Response(
            cols.respondent_id[k], dates[k] if isinstance(dates[k], dt.date) else None, cols.mode[k],
            {c: answers[c][k] if c in answers else None for c in items}, cols.ref[k]))
    return out


def _python_values(column: np.ndarray) -> list[Any]:
    a = np.asarray(column)
    if a.dtype.kind == "f":
        return [None if math.isnan(x) else x for x in a.tolist()]
    return a.tolist()


def _fits(q: Questionnaire) -> bool:
    return all(abs(math.ceil(s.min)) <= _MAX_BOUND and abs(math.floor(s.max)) <= _MAX_BOUND
               for s in (q.scales[i.scale] for i in q.items))


def _combine(parts: list[np.ndarray], radices: list[int], n: int) -> np.ndarray:
    """Mixed-radix int64 code of small non-negative int columns, renumbered densely before it could overflow."""
    key, span = np.zeros(n, np.int64), 1
    for part, radix in zip(parts, radices):
        if span * radix >= 2 ** 62:
            uniq, key = np.unique(key, return_inverse=True)
            key, span = key.astype(np.int64).reshape(-1), len(uniq)
        key = key * radix + part
        span *= radix
    return key


def _bounds(sorted_codes: np.ndarray, n_groups: int) -> list[int]:
    """Start offsets of groups 0..n_groups-1 (plus the end) in an array of sorted group codes."""
    return np.searchsorted(sorted_codes, np.arange(n_groups + 1)).tolist()


class _Scorer:
    """One call of score_columns; attributes are per-row arrays in facility-grouped, received order."""

    def __init__(self, cols: SurveyColumns, q: Questionnaire, settings: SatisfactionSettings,
                 months: Sequence[str] | None) -> None:
        self.cols, self.q, self.settings, self.months = cols, q, settings, months
        codes, labels = pd.factorize(np.asarray(cols.facility))
        if (codes < 0).any():
            raise ValueError(f"survey {q.code}: a questionnaire row has no facility")
        self.labels = list(np.asarray(labels).tolist())
        # factorize numbers facilities by first appearance, so rows already grouped by facility need no reordering
        self.order = None if (np.diff(codes) >= 0).all() else np.argsort(codes, kind="stable")
        self.fac = codes if self.order is None else codes[self.order]
        self.n, self.n_fac = len(codes), len(self.labels)

    def _take(self, a: Any, dtype: Any = None) -> np.ndarray:
        a = np.asarray(a, dtype=dtype)
        return a if self.order is None else a[self.order]

    def run(self) -> dict[Any, SurveyScore]:
        q, settings, n = self.q, self.settings, self.n
        oow = self._out_of_window()
        rid = self._respondent_codes()
        eligible = ~oow & (rid >= 0)
        dup = np.zeros(n, bool)
        if eligible.any():
            # a facility's first copy of an id is the record; ids are only looked up among in-window rows
            key = self.fac[eligible].astype(np.int64) * (int(rid.max()) + 1) + rid[eligible]
            dup[eligible] = pd.Series(key).duplicated(keep="first").to_numpy()
        considered = ~oow & ~dup
        x, is_int, inscale = self._answers()
        oos = considered[:, None] & ~np.isnan(x) & ~inscale
        n_items = len(q.items)
        n_answered = inscale.sum(axis=1)
        too_blank = np.array([k > settings.max_blank_share * n_items for k in range(n_items + 1)])
        incomplete = (n_answered == 0) | too_blank[n_items - n_answered]
        straight = self._straight_lined(x, inscale)
        mode_label, unknown_mode, mode_names = self._modes()
        excl_straight = straight & settings.straight_line_exclude
        valid = considered & ~incomplete & ~excl_straight
        flagged = considered & ~incomplete & straight
        reason = np.zeros(n, np.int8)
        reason[oow], reason[dup] = 1, 2
        reason[considered & incomplete] = 3
        reason[considered & ~incomplete & excl_straight] = 4

        rows = np.flatnonzero(valid)
        dim_ids, dim_tables, index_of_row = self._decimals(rows, x, is_int, inscale)

        # per-facility slices of every list, in received order
        f_valid = self.fac[rows]
        vb = _bounds(f_valid, self.n_fac)
        indices = index_of_row.tolist()
        dims = []
        for ids, table in zip(dim_ids, dim_tables):
            answered = ids >= 0
            dims.append((table[ids[answered]].tolist(), _bounds(f_valid[answered], self.n_fac)))
        ex_rows = np.flatnonzero(reason)
        ex_refs, ex_b = self._refs(ex_rows), _bounds(self.fac[ex_rows], self.n_fac)
        ex_reasons = [_REASONS[r] for r in reason[ex_rows].tolist()]
        fl_rows = np.flatnonzero(flagged)
        fl_refs, fl_b = self._refs(fl_rows), _bounds(self.fac[fl_rows], self.n_fac)
        od_rows = np.flatnonzero(valid & unknown_mode)
        od_refs, od_b = self._refs(od_rows), _bounds(self.fac[od_rows], self.n_fac)
        oo_rows, oo_items = np.nonzero(oos)                 # row-major: by questionnaire, then item order
        oo_refs, oo_b = self._refs(oo_rows), _bounds(self.fac[oo_rows], self.n_fac)
        codes = [i.code for i in q.items]
        oo_codes = [codes[j] for j in oo_items.tolist()]
        by_mode = self._by_mode(f_valid, mode_label[rows], mode_names)
        received = np.bincount(self.fac, minlength=self.n_fac).tolist()

        out: dict[Any, SurveyScore] = {}
        dim_codes = [d.code for d in q.dimensions]
        for g, label in enumerate(self.labels):
            out[label] = summarise_survey(
                q, settings, received[g],
                list(zip(ex_refs[ex_b[g]:ex_b[g + 1]], ex_reasons[ex_b[g]:ex_b[g + 1]])),
                fl_refs[fl_b[g]:fl_b[g + 1]],
                list(zip(oo_refs[oo_b[g]:oo_b[g + 1]], oo_codes[oo_b[g]:oo_b[g + 1]])),
                od_refs[od_b[g]:od_b[g + 1]], by_mode[g], indices[vb[g]:vb[g + 1]],
                {code: vals[b[g]:b[g + 1]] for code, (vals, b) in zip(dim_codes, dims)})
        return out

    def _refs(self, rows: np.ndarray) -> list[Any]:
        ref = self.cols.ref
        src = rows if self.order is None else self.order[rows]
        return [ref[i] for i in src.tolist()]

    def _out_of_window(self) -> np.ndarray:
        if self.months is None:
            return np.zeros(self.n, bool)
        window = set(self.months)
        dates = self._take(self.cols.survey_date, "datetime64[D]")
        dated = ~np.isnat(dates)
        uniq, inv = np.unique(dates[dated].astype("datetime64[M]"), return_inverse=True)
        # the reference's own test on each distinct month: date.strftime("%Y-%m") in the window
        firsts = [u.astype("datetime64[D]").item() for u in uniq]
        inside = np.array([isinstance(d, dt.date) and d.strftime("%Y-%m") in window for d in firsts], bool)
        oow = np.zeros(self.n, bool)
        oow[dated] = ~inside[inv.reshape(-1)]
        return oow

    def _respondent_codes(self) -> np.ndarray:
        """Per row: a code of the trimmed respondent id, or -1 when it has none (None, blank)."""
        codes, uniq = pd.factorize(self._take(self.cols.respondent_id, object))
        trimmed = [u.strip() if isinstance(u, str) else u for u in uniq]
        if not trimmed:
            return np.full(self.n, -1, np.int64)
        again, _ = pd.factorize(np.array(trimmed + [None], dtype=object))
        keep = np.array([bool(t) for t in trimmed] + [False])
        mapping = np.where(keep, again, -1)
        return mapping[codes].astype(np.int64)             # code -1 (None) picks the appended "no id" entry

    def _answers(self) -> tuple[np.ndarray, list[bool], np.ndarray]:
        q = self.q
        x = np.full((self.n, len(q.items)), np.nan)
        is_int = []
        for j, item in enumerate(q.items):
            col = self.cols.answers.get(item.code)
            kind = "f" if col is None else np.asarray(col).dtype.kind
            if kind not in "iuf":
                raise TypeError(f"survey {q.code}: answers to {item.code} must be an int or float column, "
                                f"got dtype {np.asarray(col).dtype}")
            is_int.append(kind in "iu")
            if col is not None:
                x[:, j] = self._take(col)
        self.lo = np.array([math.ceil(q.scales[i.scale].min) for i in q.items], np.float64)
        self.hi = np.array([math.floor(q.scales[i.scale].max) for i in q.items], np.float64)
        with np.errstate(invalid="ignore"):
            inscale = (np.floor(x) == x) & (x >= self.lo) & (x <= self.hi)
        return x, is_int, inscale

    def _straight_lined(self, x: np.ndarray, inscale: np.ndarray) -> np.ndarray:
        """Some scale has ≥ min_items answers (inside the scale), all the same raw answer."""
        out = np.zeros(self.n, bool)
        least = self.settings.straight_line_min_items
        for scale in dict.fromkeys(i.scale for i in self.q.items):
            cols = [j for j, i in enumerate(self.q.items) if i.scale == scale]
            if len(cols) < least:
                continue
            sub, ok = x[:, cols], inscale[:, cols]
            same = np.where(ok, sub, np.inf).min(axis=1) == np.where(ok, sub, -np.inf).max(axis=1)
            out |= (ok.sum(axis=1) >= least) & same
        return out

    def _modes(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Per row: the code of its by_mode key and whether the stated mode is unknown; the key names."""
        codes, uniq = pd.factorize(self._take(self.cols.mode, object))
        raw = list(uniq) + [None]                            # code -1 (None) picks the appended entry
        names = [m.strip() if m and m.strip() else NO_MODE_ZH for m in raw]
        stripped = [m.strip() if isinstance(m, str) else None for m in raw]
        unknown = np.array([bool(m) and m not in self.settings.modes for m in stripped])
        name_codes, name_list = pd.factorize(np.array(names, dtype=object))
        return name_codes[codes], unknown[codes], list(name_list)

    def _by_mode(self, f_valid: np.ndarray, label: np.ndarray, names: list[str]) -> list[dict[str, int]]:
        """Per facility: valid questionnaires per mode, keys in order of first appearance (as the reference)."""
        out: list[dict[str, int]] = [{} for _ in range(self.n_fac)]
        if not len(label):
            return out
        key = f_valid.astype(np.int64) * len(names) + label
        uniq, first, count = np.unique(key, return_index=True, return_counts=True)
        for k in np.argsort(first, kind="stable").tolist():
            g, m = divmod(int(uniq[k]), len(names))
            out[g][names[m]] = int(count[k])
        return out

    def _decimals(self, rows: np.ndarray, x: np.ndarray, is_int: list[bool], inscale: np.ndarray
                  ) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
        """For the valid rows: per dimension the id of its score in a table of Decimals (−1 unanswered), the tables,
        and each row's respondent index — all computed by the reference's item_score / weighted_mean."""
        q, n = self.q, len(rows)
        ok = inscale[rows]
        xv = x[rows]
        radix = (self.hi - self.lo + 2).astype(np.int64)
        code = np.where(ok, np.nan_to_num(xv - self.lo + 1, nan=0, posinf=0, neginf=0), 0).astype(np.int64)
        item_cols = {d.code: [j for j, i in enumerate(q.items) if i.dimension == d.code] for d in q.dimensions}
        dim_ids, dim_tables = [], []
        for d in q.dimensions:
            cols = item_cols[d.code]
            key = _combine([code[:, j] for j in cols], [int(radix[j]) for j in cols], n)
            uniq, first, inv = np.unique(key, return_index=True, return_inverse=True)
            table: dict[Any, tuple[int, Any]] = {}
            ids = np.empty(len(uniq), np.int64)
            for u, r in enumerate(first.tolist()):
                pairs = [(item_score(int(xv[r, j]) if is_int[j] else float(xv[r, j]), q.items[j], q.scales),
                          q.items[j].weight) for j in cols if ok[r, j]]
                v = weighted_mean(pairs)
                # keyed by the Decimal's exact form (sign, digits, exponent): 75 and 75.0 stay apart
                ids[u] = -1 if v is None else table.setdefault(v.as_tuple(), (len(table), v))[0]
            values = np.empty(len(table), object)
            for i, v in table.values():
                values[i] = v
            dim_ids.append(ids[inv.reshape(-1)])
            dim_tables.append(values)
        index = np.empty(n, object)
        if n:
            key = _combine([ids + 1 for ids in dim_ids], [len(t) + 1 for t in dim_tables], n)
            uniq, first, inv = np.unique(key, return_index=True, return_inverse=True)
            weights = [d.weight for d in q.dimensions]
            tables = [t.tolist() for t in dim_tables]
            combos = np.column_stack(dim_ids)[first].tolist()
            per = np.empty(len(uniq), object)
            for u, combo in enumerate(combos):
                per[u] = weighted_mean((tables[k][i], weights[k]) for k, i in enumerate(combo) if i >= 0)
            index = per[inv.reshape(-1)]
        return dim_ids, dim_tables, index
