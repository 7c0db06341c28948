"""The expert index: every expert scored against one job by column-oriented vector arithmetic.

Build once (:meth:`ExpertIndex.build`, seconds at 100k experts), share it
between processes (:meth:`ExpertIndex.to_bytes` / :meth:`ExpertIndex.from_bytes`),
then :meth:`ExpertIndex.rank` scores the whole population in milliseconds,
touching only the sparse columns of the job's terms and words (PERFORMANCE.md §1.3, §3).

Rules (the product's; :mod:`app.matching.reference` implements the same in plain Python)
-----------------------------------------------------------------------------------------

Levels are junior 1 … principal 4; languages A1 1 … C2 6, native 7. The job's
*required terms* are its skills, plus its process and material terms at
intermediate (2) when not listed. Each criterion scores 0..1:

* **title** – the expert has the job's title term: ``min(1, level / L)`` where
  ``L`` is the highest required level of the job's terms (senior 3 when none);
  0 without the title (and for everyone when the job has no title term).
* **skills** – ``Σ r·min(1, level/r) / Σ r`` over the required terms (required
  level ``r`` is also the term's weight; a missing term counts 0); 0 when the
  job requires no terms.
* **experience** – ``0.4·min(1, years/20) + 0.4·(1 − e^(−n/3)) + 0.2·rating``
  where ``n`` = completed projects in the job's category plus those with the
  job's process and material terms, and ``rating`` = ``(avg − 1)/4`` shrunk
  toward 0.5 by 3 pseudo-ratings (0.5 without ratings).
* **languages** – mean over the required languages of ``min(1, rank / minimum)``;
  1 when none is required.
* **price** – estimate = the expert's typical past price when known, else
  day rate × effort days, where effort days = budget / median day rate of the
  (non-suspended) population in the job's currency, clamped to [1, the job's
  Monday–Friday days from start to completion] (20 without both dates).
  ``ratio = estimate / budget``: 1 when ≤ 1, falling linearly to 0 at 2.
  0.5 when unknown (no budget, no rate) or in another currency (no FX).
* **availability** – timing 1 when available from the start (or no date), else
  ``max(0, 1 − days late / job duration days)``; times
  ``0.5 + 0.5·min(1, capacity/3)``; 0 at zero capacity. The start is the job's
  start date or today; the duration is start → completion (28 days without it).
* **text** – TF-IDF cosine between the job text and the expert's headline,
  summary and term names (:mod:`app.matching.text`).

The score is the weighted mean (weights normalised; a zero weight drops the
criterion). Hard filters remove an expert, with this precedence: a declared
employer or relation matching the company (**conflict**, :mod:`app.matching.conflicts`),
a **suspended** profile or account, a required **language** not spoken at all.
The ranking is the top ``top_n`` by score; scores within 1e-9 are ties, broken
by expert id ascending. ``excluded`` lists every conflict, and the suspended
and language exclusions that would have been in the top ``top_n`` had those
two filters been lifted; ``excluded_counts`` counts all of them.
"""

from __future__ import annotations

import io
import json
import math
import time
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp  # type: ignore[import-untyped]

from app.matching.conflicts import find_conflict, name_key, name_tokens, sub_runs
from app.matching.records import (
    EXCLUSION_REASONS,
    FULL_CAPACITY_DAYS,
    PROJECTS_SCALE,
    RATING_PRIOR_COUNT,
    SCORE_QUANTUM,
    YEARS_SATURATION,
    ExcludedExpert,
    ExpertRecord,
    JobQuery,
    RankedExpert,
    Ranking,
    duration_days,
    effective_required,
    effort_days,
    job_start,
    normalise_weights,
    title_required_level,
)
from app.matching.text import build_tfidf, query_vector

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_CEFR = {1: "A1", 2: "A2", 3: "B1", 4: "B2", 5: "C1", 6: "C2", 7: "native"}
_NO_DATE = -1
_FORMAT_VERSION = 1
_REASON_CODES = {"conflict": 1, "suspended": 2, "language": 3}
#: Words in at least this share of the texts also get a dense column (from this many experts on).
DENSE_WORD_SHARE = 0.25
DENSE_MIN_EXPERTS = 20_000


def _json_array(value: Any) -> npt.NDArray[np.uint8]:
    return np.frombuffer(json.dumps(value, ensure_ascii=False).encode("utf-8"), dtype=np.uint8)


def _from_json_array(array: npt.NDArray[Any]) -> Any:
    return json.loads(bytes(array.astype(np.uint8)).decode("utf-8"))


def _column(matrix: sp.csc_matrix, col: int) -> tuple[npt.NDArray[np.int32], npt.NDArray[Any]]:
    """Row indices and values of one CSC column (a view, no copy)."""
    start, end = matrix.indptr[col], matrix.indptr[col + 1]
    return matrix.indices[start:end], matrix.data[start:end]


class ExpertIndex:
    """Column-oriented arrays of every expert, ready to be scored against any job."""

    def __init__(self, arrays: dict[str, Any], meta: dict[str, Any]) -> None:
        self._arrays = arrays
        self.fingerprint: str = meta["fingerprint"]
        self.expert_ids: IntArray = arrays["expert_ids"]
        n = len(self.expert_ids)
        self.term_ids: list[int] = meta["term_ids"]
        self._term_col = {t: i for i, t in enumerate(self.term_ids)}
        self.terms: sp.csc_matrix = sp.csc_matrix(
            (arrays["terms_data"], arrays["terms_indices"], arrays["terms_indptr"]), shape=(n, len(self.term_ids))
        )
        self.vocabulary: dict[str, int] = {w: i for i, w in enumerate(meta["words"])}
        self.tfidf: sp.csc_matrix = sp.csc_matrix(
            (arrays["tfidf_data"], arrays["tfidf_indices"], arrays["tfidf_indptr"]),
            shape=(n, len(meta["words"])),
        )
        self.idf: FloatArray = arrays["idf"]
        self.languages: list[str] = meta["languages"]
        self._lang_col = {c: i for i, c in enumerate(self.languages)}
        self.language_ranks: npt.NDArray[np.int8] = arrays["language_ranks"]
        self.currencies: list[str] = meta["currencies"]
        self._currency_code = {c: i for i, c in enumerate(self.currencies)}
        self.currency: npt.NDArray[np.int16] = arrays["currency"]
        self.day_rate: FloatArray = arrays["day_rate"]
        self.typical_price: FloatArray = arrays["typical_price"]
        self.available_from: IntArray = arrays["available_from"]
        self.capacity: npt.NDArray[np.int8] = arrays["capacity"]
        self.years: npt.NDArray[np.int16] = arrays["years"]
        self.rating: FloatArray = arrays["rating"]
        self.rating_count: npt.NDArray[np.int32] = arrays["rating_count"]
        self.suspended: BoolArray = arrays["suspended"]
        self.categories: list[str] = meta["categories"]
        self._category_col = {c: i for i, c in enumerate(self.categories)}
        self.completed_by_category: npt.NDArray[np.int32] = arrays["completed_by_category"]
        self.completed_term_ids: list[int] = meta["completed_term_ids"]
        self._completed_col = {t: i for i, t in enumerate(self.completed_term_ids)}
        self.completed_terms: sp.csc_matrix = sp.csc_matrix(
            (arrays["completed_data"], arrays["completed_indices"], arrays["completed_indptr"]),
            shape=(n, len(self.completed_term_ids)),
        )
        self.median_rates: dict[str, float] = meta["median_rates"]
        # Derived, not serialised: static parts of experience and availability.
        years_part = 0.4 * np.minimum(1.0, self.years.astype(np.float64) / YEARS_SATURATION)
        rated = ~np.isnan(self.rating) & (self.rating_count > 0)
        counts = self.rating_count.astype(np.float64)
        rating_part = np.full(n, 0.5)
        value = (np.where(rated, self.rating, 1.0) - 1.0) / 4.0
        rating_part[rated] = ((counts * value + RATING_PRIOR_COUNT * 0.5) / (counts + RATING_PRIOR_COUNT))[rated]
        self._experience_static: FloatArray = years_part + 0.2 * rating_part
        cap = self.capacity.astype(np.float64)
        self._capacity_factor: FloatArray = np.where(
            cap <= 0, 0.0, 0.5 + 0.5 * np.minimum(1.0, cap / FULL_CAPACITY_DAYS)
        )
        # Availability as float days (-inf: no date, i.e. available now) for in-place arithmetic.
        self._available_days: FloatArray = np.where(
            self.available_from == _NO_DATE, -np.inf, self.available_from.astype(np.float64)
        )
        self._has_typical: BoolArray = ~np.isnan(self.typical_price)
        self._rate_or_zero: FloatArray = np.nan_to_num(self.day_rate, nan=0.0)
        self._has_estimate: BoolArray = self._has_typical | ~np.isnan(self.day_rate)
        # Words present in many texts get a dense column too: a contiguous axpy beats a scatter there.
        self._dense_text: dict[int, FloatArray] = {}
        if n >= DENSE_MIN_EXPERTS:
            lengths = np.diff(self.tfidf.indptr)
            for col in np.flatnonzero(lengths >= n * DENSE_WORD_SHARE).tolist():
                rows, vals = _column(self.tfidf, col)
                dense = np.zeros(n)
                dense[rows] = vals
                self._dense_text[col] = dense
        # Conflicts: declared employers per row, and inverted dicts by normalised name and sub-run.
        self.employers_by_row: dict[int, tuple[tuple[str, str], ...]] = {}
        for row, name, relation in meta["employers"]:
            self.employers_by_row.setdefault(row, ())
            self.employers_by_row[row] += ((name, relation),)
        self.employer_rows: dict[str, list[int]] = {}
        self._employer_runs: dict[str, set[str]] = {}
        for row, employers in self.employers_by_row.items():
            for name, _relation in employers:
                tokens = name_tokens(name)
                if not tokens:
                    continue
                key = name_key(tokens)
                key_rows = self.employer_rows.setdefault(key, [])
                if not key_rows or key_rows[-1] != row:
                    key_rows.append(row)
                for run in sub_runs(tokens):
                    self._employer_runs.setdefault(" ".join(run), set()).add(key)
        self._meta = meta

    # Construction -----------------------------------------------------------------------------

    @classmethod
    def build(cls, records: Sequence[ExpertRecord], *, fingerprint: str = "") -> ExpertIndex:
        """Build the index of ``records`` (rows ordered by expert id)."""
        ordered = sorted(records, key=lambda r: r.expert_id)
        n = len(ordered)
        ids = np.fromiter((r.expert_id for r in ordered), dtype=np.int64, count=n)
        if n and np.any(ids[1:] == ids[:-1]):
            raise ValueError("duplicate expert ids in the records")

        term_ids = sorted({t for r in ordered for t in r.terms})
        term_col = {t: i for i, t in enumerate(term_ids)}
        rows_list: list[int] = []
        cols_list: list[int] = []
        levels_list: list[int] = []
        for row, r in enumerate(ordered):
            for t, level in r.terms.items():
                if level > 0:
                    rows_list.append(row)
                    cols_list.append(term_col[t])
                    levels_list.append(level)
        terms = sp.csc_matrix(
            (np.asarray(levels_list, dtype=np.int8), (np.asarray(rows_list, dtype=np.int64),
                                                       np.asarray(cols_list, dtype=np.int64))),
            shape=(n, len(term_ids)),
        )
        terms.sort_indices()

        tfidf, vocabulary, idf = build_tfidf([r.text for r in ordered])
        words = sorted(vocabulary, key=vocabulary.__getitem__)

        languages = sorted({code for r in ordered for code in r.languages})
        lang_col = {c: i for i, c in enumerate(languages)}
        language_ranks = np.zeros((n, len(languages)), dtype=np.int8, order="F")
        for row, r in enumerate(ordered):
            for code, rank in r.languages.items():
                language_ranks[row, lang_col[code]] = rank

        currencies = sorted({r.currency for r in ordered})
        currency_code = {c: i for i, c in enumerate(currencies)}
        categories = sorted({c for r in ordered for c in r.completed_by_category})
        category_col = {c: i for i, c in enumerate(categories)}
        completed_by_category = np.zeros((n, len(categories)), dtype=np.int32, order="F")
        completed_term_ids = sorted({t for r in ordered for t in r.completed_terms})
        completed_col = {t: i for i, t in enumerate(completed_term_ids)}
        c_rows: list[int] = []
        c_cols: list[int] = []
        c_vals: list[int] = []
        employers: list[tuple[int, str, str]] = []
        for row, r in enumerate(ordered):
            for cat, count in r.completed_by_category.items():
                completed_by_category[row, category_col[cat]] = count
            for t, count in r.completed_terms.items():
                if count:
                    c_rows.append(row)
                    c_cols.append(completed_col[t])
                    c_vals.append(count)
            for name, relation in r.employers:
                employers.append((row, name, str(relation)))
        completed = sp.csc_matrix(
            (np.asarray(c_vals, dtype=np.int32), (np.asarray(c_rows, dtype=np.int64),
                                                   np.asarray(c_cols, dtype=np.int64))),
            shape=(n, len(completed_term_ids)),
        )
        completed.sort_indices()

        day_rate = np.array([np.nan if r.day_rate_minor is None else r.day_rate_minor for r in ordered],
                            dtype=np.float64)
        suspended = np.fromiter((r.suspended for r in ordered), dtype=np.bool_, count=n)
        currency = np.fromiter((currency_code[r.currency] for r in ordered), dtype=np.int16, count=n)
        median_rates: dict[str, float] = {}
        for cur, cur_code in currency_code.items():
            mask = (currency == cur_code) & ~suspended & ~np.isnan(day_rate)
            if mask.any():
                median_rates[cur] = float(np.median(day_rate[mask]))

        arrays: dict[str, Any] = {
            "expert_ids": ids,
            "terms_data": terms.data,
            "terms_indices": terms.indices,
            "terms_indptr": terms.indptr,
            "tfidf_data": tfidf.data,
            "tfidf_indices": tfidf.indices,
            "tfidf_indptr": tfidf.indptr,
            "idf": idf,
            "language_ranks": language_ranks,
            "currency": currency,
            "day_rate": day_rate,
            "typical_price": np.array(
                [np.nan if r.typical_price_minor is None else r.typical_price_minor for r in ordered],
                dtype=np.float64,
            ),
            "available_from": np.fromiter(
                (_NO_DATE if r.available_from is None else r.available_from.toordinal() for r in ordered),
                dtype=np.int64, count=n,
            ),
            "capacity": np.fromiter((r.capacity_days_per_week for r in ordered), dtype=np.int8, count=n),
            "years": np.fromiter((r.years_experience for r in ordered), dtype=np.int16, count=n),
            "rating": np.array([np.nan if r.rating is None else r.rating for r in ordered], dtype=np.float64),
            "rating_count": np.fromiter((r.rating_count for r in ordered), dtype=np.int32, count=n),
            "suspended": suspended,
            "completed_by_category": completed_by_category,
            "completed_data": completed.data,
            "completed_indices": completed.indices,
            "completed_indptr": completed.indptr,
        }
        meta: dict[str, Any] = {
            "version": _FORMAT_VERSION,
            "fingerprint": fingerprint,
            "term_ids": term_ids,
            "words": words,
            "languages": languages,
            "currencies": currencies,
            "categories": categories,
            "completed_term_ids": completed_term_ids,
            "median_rates": median_rates,
            "employers": employers,
        }
        return cls(arrays, meta)

    # Sharing between processes ------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The index as an ``.npz`` archive (no pickles; vocabularies as JSON arrays)."""
        buffer = io.BytesIO()
        payload = dict(self._arrays)
        payload["meta"] = _json_array(self._meta)
        np.savez(buffer, allow_pickle=False, **payload)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> ExpertIndex:
        """Rebuild an index from :meth:`to_bytes` output.

        :raises ValueError: not an index archive of this format version.
        """
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        meta = _from_json_array(arrays.pop("meta"))
        if not isinstance(meta, dict) or meta.get("version") != _FORMAT_VERSION:
            raise ValueError("not an expert index of a supported format version")
        arrays["language_ranks"] = np.asfortranarray(arrays["language_ranks"])
        arrays["completed_by_category"] = np.asfortranarray(arrays["completed_by_category"])
        return cls(arrays, meta)

    # Introspection ------------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """Number of experts in the index."""
        return len(self.expert_ids)

    @property
    def nbytes(self) -> int:
        """Memory held by the index's arrays (bytes)."""
        total = sum(int(a.nbytes) for a in self._arrays.values() if isinstance(a, np.ndarray))
        derived = (self._experience_static, self._capacity_factor, self._available_days, self._has_typical,
                   self._rate_or_zero, self._has_estimate, *self._dense_text.values())
        total += sum(int(a.nbytes) for a in derived)
        return total

    # Scoring --------------------------------------------------------------------------------------

    def _conflicts(self, company_names: Sequence[str]) -> dict[int, str]:
        """Rows whose declared employers match one of the company's names, with the detail text."""
        companies = tuple(c for c in company_names if c and c.strip())
        keys: set[str] = set()
        for company in companies:
            tokens = name_tokens(company)
            if not tokens:
                continue
            whole = name_key(tokens)
            keys.add(whole)
            keys.update(self._employer_runs.get(whole, ()))  # the company is part of an employer's name
            keys.update(" ".join(run) for run in sub_runs(tokens))  # an employer is part of the company's
        rows: set[int] = set()
        for key in keys:
            rows.update(self.employer_rows.get(key, ()))
        found: dict[int, str] = {}
        for row in rows:
            detail = find_conflict(self.employers_by_row[row], companies)
            if detail is not None:
                found[row] = detail
        return found

    def rank(
        self,
        query: JobQuery,
        weights: Mapping[str, float] | None = None,
        *,
        top_n: int = 50,
        today: date,
    ) -> Ranking:
        """Score every expert against ``query`` and return the top ``top_n`` (rules: module docstring)."""
        started = time.perf_counter()
        n = self.size
        w = normalise_weights(weights)
        required = effective_required(query)
        title_level = title_required_level(required)
        criteria: dict[str, FloatArray] = {}
        term_columns: dict[int, tuple[npt.NDArray[np.int32], npt.NDArray[Any]]] = {}
        for term_id in required:
            col = self._term_col.get(term_id)
            if col is not None:
                term_columns[term_id] = _column(self.terms, col)

        # Hard filters.
        conflicts = self._conflicts(query.company_names)
        lang_codes = sorted(query.languages)
        lang_ranks: dict[str, npt.NDArray[np.int8] | None] = {}
        lacks_language = np.zeros(n, dtype=np.bool_)
        for code in lang_codes:
            col = self._lang_col.get(code)
            if col is None:
                lang_ranks[code] = None
                lacks_language[:] = True
            else:
                ranks = self.language_ranks[:, col]
                lang_ranks[code] = ranks
                lacks_language |= ranks <= 0

        if "title" in w:
            title = np.zeros(n)
            col = self._term_col.get(query.title_term_id) if query.title_term_id is not None else None
            if col is not None:
                rows, levels = _column(self.terms, col)
                title[rows] = np.minimum(1.0, levels / title_level)
            criteria["title"] = title
        if "skills" in w:
            skills = np.zeros(n)
            total = float(sum(required.values()))
            for term_id, (rows, levels) in term_columns.items():
                req = required[term_id]
                skills[rows] += req * np.minimum(1.0, levels / req)
            criteria["skills"] = skills / total if total else skills
        if "experience" in w:
            projects = np.zeros(n)
            cat_col = self._category_col.get(query.category)
            if cat_col is not None:
                projects += self.completed_by_category[:, cat_col]
            for similar_term in (query.process_term_id, query.material_term_id):
                done_col = self._completed_col.get(similar_term) if similar_term is not None else None
                if done_col is not None:
                    rows, counts = _column(self.completed_terms, done_col)
                    projects[rows] += counts
            if projects.any():
                criteria["experience"] = self._experience_static + 0.4 * (1.0 - np.exp(-projects / PROJECTS_SCALE))
            else:
                criteria["experience"] = self._experience_static
        if "languages" in w:
            if lang_codes:
                lang_total = np.zeros(n)
                for lang in lang_codes:
                    lang_col = lang_ranks[lang]
                    if lang_col is not None:
                        lang_total += np.minimum(1.0, lang_col / query.languages[lang])
                criteria["languages"] = lang_total / len(lang_codes)
            else:
                criteria["languages"] = np.ones(n)
        median_rate = self.median_rates.get(query.currency)
        effort = effort_days(query, median_rate)
        if "price" in w:
            job_currency = self._currency_code.get(query.currency)
            if query.budget_minor is not None and job_currency is not None:
                estimate = self._rate_or_zero * effort
                if self._has_typical.any():
                    estimate[self._has_typical] = self.typical_price[self._has_typical]
                estimate /= -float(query.budget_minor)
                estimate += 2.0  # 2 - ratio, clipped to [0, 1] below
                np.clip(estimate, 0.0, 1.0, out=estimate)
                known = (self.currency == job_currency) & self._has_estimate
                criteria["price"] = np.where(known, estimate, 0.5)
            else:
                criteria["price"] = np.full(n, 0.5)
        start = job_start(query, today)
        if "availability" in w:
            late = self._available_days - float(start.toordinal())
            np.maximum(late, 0.0, out=late)
            late /= -float(duration_days(query, today))
            late += 1.0  # 1 - days late / duration
            np.maximum(late, 0.0, out=late)
            late *= self._capacity_factor
            criteria["availability"] = late
        if "text" in w:
            text = np.zeros(n)
            cols, qweights = query_vector(query.text, self.vocabulary, self.idf)
            for col, qv in zip(cols.tolist(), qweights.tolist(), strict=True):
                dense = self._dense_text.get(col)
                if dense is not None:
                    text += qv * dense
                else:
                    rows, vals = _column(self.tfidf, col)
                    text[rows] += qv * vals
            criteria["text"] = np.clip(text, 0.0, 1.0)

        score = np.zeros(n)
        for name, weight in w.items():
            score += weight * criteria[name]

        reason = np.zeros(n, dtype=np.int8)
        reason[lacks_language] = _REASON_CODES["language"]
        reason[self.suspended] = _REASON_CODES["suspended"]
        conflict_rows = np.fromiter(conflicts, dtype=np.int64, count=len(conflicts))
        reason[conflict_rows] = _REASON_CODES["conflict"]
        top_rows, shadow_rows = self._select(score, reason, top_n)
        listed = [int(r) for r in shadow_rows if reason[r] != 0] + conflict_rows.tolist()
        quantised = np.floor(score[listed] / SCORE_QUANTUM + 0.5) if listed else np.zeros(0)
        listed = [row for _q, row in sorted(zip((-quantised).tolist(), listed, strict=True))]

        ranked: list[RankedExpert] = []
        if top_rows.size:
            details = self._details(top_rows, query, required, term_columns, lang_ranks, effort, start)
            for i, row in enumerate(top_rows.tolist()):
                ranked.append(
                    RankedExpert(
                        expert_id=int(self.expert_ids[row]),
                        rank=i + 1,
                        score=float(score[row]),
                        breakdown={name: float(criteria[name][row]) for name in w},
                        details=details[i],
                    )
                )
        excluded = []
        for row in listed:
            why = int(reason[row])
            if why == _REASON_CODES["conflict"]:
                excluded.append(
                    ExcludedExpert(int(self.expert_ids[row]), "conflict", conflicts[row], float(score[row]))
                )
            elif why == _REASON_CODES["suspended"]:
                excluded.append(ExcludedExpert(int(self.expert_ids[row]), "suspended",
                                               "The expert's profile or account is suspended", float(score[row])))
            else:
                missing = [c for c in lang_codes if (lr := lang_ranks[c]) is None or lr[row] <= 0]
                detail = "Does not speak the required language(s): " + ", ".join(
                    f"{c} (at least {_CEFR.get(query.languages[c], str(query.languages[c]))})" for c in missing
                )
                excluded.append(ExcludedExpert(int(self.expert_ids[row]), "language", detail, float(score[row])))
        counts = np.bincount(reason, minlength=4)
        excluded_counts = {name: int(counts[_REASON_CODES[name]]) for name in EXCLUSION_REASONS}
        return Ranking(
            ranked=ranked,
            excluded=excluded,
            excluded_counts=excluded_counts,
            considered=n,
            elapsed_ms=(time.perf_counter() - started) * 1000.0,
        )

    def _select(self, score: FloatArray, reason: npt.NDArray[np.int8], top_n: int) -> tuple[IntArray, IntArray]:
        """Rows of the top ``top_n`` eligible experts, and of the top ``top_n`` non-conflicted ones.

        Order: quantised score descending, then row (= expert id) ascending. A
        partial sort of a few more than ``top_n`` candidates answers both unless
        ties straddle its boundary or too many candidates are excluded; then the
        exact full-population order is used.
        """
        n = score.size
        empty = np.zeros(0, dtype=np.int64)
        if top_n <= 0 or n == 0:
            return empty, empty
        shadow_pool = np.where(reason != _REASON_CODES["conflict"], score, -np.inf)
        k = min(n, 2 * top_n + 16)
        cand = np.argpartition(-shadow_pool, k - 1)[:k] if k < n else np.arange(n)
        cand = cand[np.isfinite(shadow_pool[cand])]
        q = np.floor(score[cand] / SCORE_QUANTUM + 0.5)
        order = np.lexsort((cand, -q))
        cand, q = cand[order], q[order]
        # Everything outside the candidates scores at most the lowest candidate.
        floor_q = q[-1] if cand.size else np.inf
        outside = k < n and cand.size == k
        shadow = cand[:top_n]
        eligible_mask = reason[cand] == 0
        top = cand[eligible_mask][:top_n]
        exact = True
        if outside:
            if shadow.size == top_n and q[top_n - 1] <= floor_q:
                exact = False
            eligible_q = q[eligible_mask][:top_n]
            if top.size < top_n or (top.size and eligible_q[-1] <= floor_q):
                exact = False
        if exact:
            return top, shadow
        keys = np.floor(score / SCORE_QUANTUM + 0.5).astype(np.int64) * n + (n - 1 - np.arange(n))
        return (
            self._top(keys, np.flatnonzero(reason == 0), top_n),
            self._top(keys, np.flatnonzero(reason != _REASON_CODES["conflict"]), top_n),
        )

    @staticmethod
    def _top(keys: IntArray, candidates: IntArray, top_n: int) -> IntArray:
        """The ``top_n`` candidate rows with the highest keys, best first."""
        if top_n <= 0 or candidates.size == 0:
            return np.zeros(0, dtype=np.int64)
        candidate_keys = keys[candidates]
        if candidates.size > top_n:
            part = np.argpartition(-candidate_keys, top_n - 1)[:top_n]
        else:
            part = np.arange(candidates.size)
        order = part[np.argsort(-candidate_keys[part], kind="stable")]
        return candidates[order]

    def _details(
        self,
        rows: IntArray,
        query: JobQuery,
        required: Mapping[int, int],
        term_columns: Mapping[int, tuple[npt.NDArray[np.int32], npt.NDArray[Any]]],
        lang_ranks: Mapping[str, npt.NDArray[np.int8] | None],
        effort: float,
        start: date,
    ) -> list[dict[str, Any]]:
        """The JSON-serialisable explanation of each ranked row."""
        levels: dict[int, list[int]] = {}
        for term_id in required:
            found = np.zeros(rows.size, dtype=np.int64)
            if term_id in term_columns:
                col_rows, col_levels = term_columns[term_id]
                pos = np.searchsorted(col_rows, rows)
                pos_clipped = np.minimum(pos, max(col_rows.size - 1, 0))
                if col_rows.size:
                    hit = col_rows[pos_clipped] == rows
                    found[hit] = col_levels[pos_clipped[hit]]
            levels[term_id] = found.tolist()
        title_levels = [0] * rows.size
        title_col = self._term_col.get(query.title_term_id) if query.title_term_id is not None else None
        if title_col is not None:
            col_rows, col_levels = _column(self.terms, title_col)
            if col_rows.size:
                pos = np.minimum(np.searchsorted(col_rows, rows), col_rows.size - 1)
                hit = col_rows[pos] == rows
                title_levels = np.where(hit, col_levels[pos], 0).astype(np.int64).tolist()
        code = self._currency_code.get(query.currency)
        start_day = start.toordinal()
        out: list[dict[str, Any]] = []
        for i, row in enumerate(rows.tolist()):
            term_levels = {t: levels[t][i] for t in required}
            typical = self.typical_price[row]
            rate = self.day_rate[row]
            estimate = typical if not math.isnan(typical) else (rate * effort if not math.isnan(rate) else None)
            available = int(self.available_from[row])
            gaps: dict[str, dict[str, str | None]] = {}
            for lang in sorted(query.languages):
                ranks = lang_ranks.get(lang)
                have = int(ranks[row]) if ranks is not None else 0
                need = query.languages[lang]
                if have < need:
                    gaps[lang] = {"level": _CEFR.get(have) if have else None, "required": _CEFR.get(need, str(need))}
            out.append(
                {
                    "matched_terms": sorted(t for t, lv in term_levels.items() if lv > 0),
                    "missing_terms": sorted(t for t, lv in term_levels.items() if lv <= 0),
                    "below_level_terms": sorted(t for t, lv in term_levels.items() if 0 < lv < required[t]),
                    "title_level": int(title_levels[i]),
                    "estimated_price_minor": round(estimate) if estimate is not None else None,
                    "effort_days": round(effort, 2),
                    "currency_mismatch": code is None or int(self.currency[row]) != code,
                    "days_late": max(0, available - start_day) if available != _NO_DATE else 0,
                    "language_gaps": gaps,
                }
            )
        return out
