"""The plain-Python reference scorer: the same rules as :class:`app.matching.index.ExpertIndex`.

Dicts, sets and loops only (no numpy). It is the correctness oracle of the
vectorised index (same top order, scores within 1e-9) and the baseline of its
speed-up. It shares the tokenizer, the conflict rule and the per-job helpers of
:mod:`app.matching.records`; every per-expert figure is computed here
independently. The text statistics of the population (document frequencies,
norms) are memoised per records list, the way an index would keep them, so a
call measures the per-job loop.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from app.matching.conflicts import find_conflict
from app.matching.records import (
    EXCLUSION_REASONS,
    FULL_CAPACITY_DAYS,
    PROJECTS_SCALE,
    RATING_PRIOR_COUNT,
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
    median,
    normalise_weights,
    quantise,
    title_required_level,
)
from app.matching.text import document_frequencies, idf_value, tokenize


@dataclass
class _Prep:
    records: Sequence[ExpertRecord]
    counts: list[Counter[str]]
    norms: list[float]
    idf: dict[str, float]
    median_rates: dict[str, float | None]


_prep_cache: list[_Prep] = []


def _prepare(records: Sequence[ExpertRecord]) -> _Prep:
    for prep in _prep_cache:
        if prep.records is records and len(prep.records) == len(records):
            return prep
    token_lists = [tokenize(r.text) for r in records]
    df = document_frequencies(token_lists)
    n = len(records)
    idf = {word: idf_value(count, n) for word, count in df.items()}
    counts = [Counter(tokens) for tokens in token_lists]
    norms = []
    for counter in counts:
        sq = sum((c * idf[w]) ** 2 for w, c in counter.items())
        norms.append(math.sqrt(sq) if sq > 0 else 1.0)
    rates: dict[str, list[int]] = {}
    for r in records:
        if r.day_rate_minor is not None and not r.suspended:
            rates.setdefault(r.currency, []).append(r.day_rate_minor)
    prep = _Prep(records, counts, norms, idf, {c: median(v) for c, v in rates.items()})
    _prep_cache[:] = [prep]
    return prep


def _rating_part(rating: float | None, count: int) -> float:
    if rating is None or count <= 0:
        return 0.5
    value = (rating - 1.0) / 4.0
    return (count * value + RATING_PRIOR_COUNT * 0.5) / (count + RATING_PRIOR_COUNT)


def rank_reference(
    records: Sequence[ExpertRecord],
    query: JobQuery,
    weights: Mapping[str, float] | None = None,
    *,
    top_n: int = 50,
    today: date,
) -> Ranking:
    """Rank ``records`` against ``query`` with plain Python (see :mod:`app.matching.index` for the rules)."""
    started = time.perf_counter()
    prep = _prepare(records)
    w = normalise_weights(weights)
    required = effective_required(query)
    required_total = float(sum(required.values()))
    title_level = title_required_level(required)
    median_rate = prep.median_rates.get(query.currency)
    effort = effort_days(query, median_rate)
    start = job_start(query, today)
    duration = duration_days(query, today)
    q_counts = Counter(t for t in tokenize(query.text) if t in prep.idf)
    q_weights = {word: c * prep.idf[word] for word, c in q_counts.items()}
    q_norm = math.sqrt(sum(v * v for v in q_weights.values()))
    if q_norm:
        q_weights = {word: v / q_norm for word, v in q_weights.items()}
    companies = tuple(c for c in query.company_names if c and c.strip())

    scored: list[tuple[int, int, float, dict[str, float], str | None, str, ExpertRecord]] = []
    for i, rec in enumerate(records):
        breakdown: dict[str, float] = {}
        # Hard filters (precedence: conflict, suspended, language).
        reason: str | None = None
        detail = ""
        conflict = find_conflict(rec.employers, companies) if companies and rec.employers else None
        missing_languages = [code for code in sorted(query.languages) if rec.languages.get(code, 0) <= 0]
        if conflict is not None:
            reason, detail = "conflict", conflict
        elif rec.suspended:
            reason, detail = "suspended", "The expert's profile or account is suspended"
        elif missing_languages:
            reason = "language"
            detail = "Does not speak the required language(s): " + ", ".join(
                f"{code} (at least {_cefr(query.languages[code])})" for code in missing_languages
            )

        if "title" in w:
            level = rec.terms.get(query.title_term_id, 0) if query.title_term_id is not None else 0
            breakdown["title"] = min(1.0, level / title_level) if level > 0 else 0.0
        if "skills" in w:
            total = 0.0
            for term_id, req in required.items():
                level = rec.terms.get(term_id, 0)
                if level > 0:
                    total += req * min(1.0, level / req)
            breakdown["skills"] = total / required_total if required_total else 0.0
        if "experience" in w:
            projects = rec.completed_by_category.get(query.category, 0)
            for similar_term in (query.process_term_id, query.material_term_id):
                if similar_term is not None:
                    projects += rec.completed_terms.get(similar_term, 0)
            breakdown["experience"] = (
                0.4 * min(1.0, rec.years_experience / YEARS_SATURATION)
                + 0.4 * (1.0 - math.exp(-projects / PROJECTS_SCALE))
                + 0.2 * _rating_part(rec.rating, rec.rating_count)
            )
        if "languages" in w:
            if query.languages:
                parts = [min(1.0, rec.languages.get(code, 0) / need) for code, need in query.languages.items()]
                breakdown["languages"] = sum(parts) / len(parts)
            else:
                breakdown["languages"] = 1.0
        if "price" in w:
            estimate = _estimate(rec, effort)
            if query.budget_minor is None or estimate is None or rec.currency != query.currency:
                breakdown["price"] = 0.5
            else:
                ratio = estimate / query.budget_minor
                breakdown["price"] = 1.0 if ratio <= 1.0 else max(0.0, 2.0 - ratio)
        if "availability" in w:
            if rec.available_from is None or rec.available_from <= start:
                timing = 1.0
            else:
                timing = max(0.0, 1.0 - (rec.available_from - start).days / duration)
            capacity = rec.capacity_days_per_week
            breakdown["availability"] = (
                0.0 if capacity <= 0 else timing * (0.5 + 0.5 * min(1.0, capacity / FULL_CAPACITY_DAYS))
            )
        if "text" in w:
            counter = prep.counts[i]
            norm = prep.norms[i]
            dot = 0.0
            for word, qv in q_weights.items():
                c = counter.get(word)
                if c:
                    dot += qv * (c * prep.idf[word] / norm)
            breakdown["text"] = min(1.0, max(0.0, dot))
        score = sum(w[c] * breakdown[c] for c in w)
        scored.append((-quantise(score), rec.expert_id, score, breakdown, reason, detail, rec))

    scored.sort(key=lambda item: (item[0], item[1]))
    ranked: list[RankedExpert] = []
    shadow = 0  # position among everyone but conflicts: who would have reached the top_n
    excluded: list[ExcludedExpert] = []
    counts = dict.fromkeys(EXCLUSION_REASONS, 0)
    for _key, expert_id, score, breakdown, reason, detail, rec in scored:
        if reason is not None:
            counts[reason] += 1
        if reason == "conflict":
            excluded.append(ExcludedExpert(expert_id, reason, detail, score))
            continue
        shadow += 1
        if reason is None:
            if len(ranked) < top_n:
                ranked.append(
                    RankedExpert(
                        expert_id, len(ranked) + 1, score, breakdown,
                        _details(rec, query, required, effort, start),
                    )
                )
        elif shadow <= top_n:
            excluded.append(ExcludedExpert(expert_id, reason, detail, score))
    return Ranking(
        ranked=ranked,
        excluded=excluded,
        excluded_counts=counts,
        considered=len(records),
        elapsed_ms=(time.perf_counter() - started) * 1000.0,
    )


def _estimate(rec: ExpertRecord, effort: float) -> float | None:
    if rec.typical_price_minor is not None:
        return float(rec.typical_price_minor)
    if rec.day_rate_minor is not None:
        return rec.day_rate_minor * effort
    return None


_CEFR = {1: "A1", 2: "A2", 3: "B1", 4: "B2", 5: "C1", 6: "C2", 7: "native"}


def _cefr(rank: int) -> str:
    return _CEFR.get(rank, str(rank))


def _details(
    rec: ExpertRecord, query: JobQuery, required: Mapping[int, int], effort: float, start: date
) -> dict[str, Any]:
    levels = {t: rec.terms.get(t, 0) for t in required}
    estimate = _estimate(rec, effort)
    days_late = max(0, (rec.available_from - start).days) if rec.available_from is not None else 0
    gaps = {
        code: {"level": _cefr(rank) if rank else None, "required": _cefr(need)}
        for code, need in sorted(query.languages.items())
        if (rank := rec.languages.get(code, 0)) < need
    }
    return {
        "matched_terms": sorted(t for t, lv in levels.items() if lv > 0),
        "missing_terms": sorted(t for t, lv in levels.items() if lv <= 0),
        "below_level_terms": sorted(t for t, lv in levels.items() if 0 < lv < required[t]),
        "title_level": rec.terms.get(query.title_term_id, 0) if query.title_term_id is not None else 0,
        "estimated_price_minor": round(estimate) if estimate is not None else None,
        "effort_days": round(effort, 2),
        "currency_mismatch": rec.currency != query.currency,
        "days_late": days_late,
        "language_gaps": gaps,
    }
