"""The matching engine's plain data: what an expert and a job look like to the scorer.

Both implementations (:mod:`app.matching.index`, vectorised, and
:mod:`app.matching.reference`, plain Python) consume these records; the few
per-*job* rules that do not depend on an expert (which terms are required,
weight normalisation, effort days) live here so that both apply them
identically. Everything per *expert* is computed separately by each
implementation, so that the reference stays an independent oracle.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from app.models.enums import ExpertiseLevel, LanguageProficiency

CRITERIA: tuple[str, ...] = ("title", "skills", "experience", "languages", "price", "availability", "text")

DEFAULT_WEIGHTS: dict[str, float] = {
    "title": 2.0,
    "skills": 4.0,
    "experience": 1.0,
    "languages": 1.0,
    "price": 2.0,
    "availability": 1.0,
    "text": 1.5,
}

# StrEnum members hash and compare like their values, so these also answer "senior" or "B2".
LEVELS: dict[str, int] = {
    ExpertiseLevel.JUNIOR: 1,
    ExpertiseLevel.INTERMEDIATE: 2,
    ExpertiseLevel.SENIOR: 3,
    ExpertiseLevel.PRINCIPAL: 4,
}
PROFICIENCY: dict[str, int] = {
    LanguageProficiency.A1: 1,
    LanguageProficiency.A2: 2,
    LanguageProficiency.B1: 3,
    LanguageProficiency.B2: 4,
    LanguageProficiency.C1: 5,
    LanguageProficiency.C2: 6,
    LanguageProficiency.NATIVE: 7,
}

#: Required level of the title when the job requires no terms (senior).
DEFAULT_TITLE_LEVEL = 3
#: Level at which the job's process and material terms are required when not listed explicitly.
PROCESS_MATERIAL_LEVEL = 2
#: Years of experience at which the years part of ``experience`` saturates.
YEARS_SATURATION = 20.0
#: Completed similar projects: part = 1 - exp(-n / PROJECTS_SCALE).
PROJECTS_SCALE = 3.0
#: Pseudo-count shrinking an average rating toward 0.5 (3 ratings weigh as much as the prior).
RATING_PRIOR_COUNT = 3.0
#: Effort days assumed when the job has no start or completion date.
DEFAULT_EFFORT_DAYS = 20
#: Job duration (calendar days) assumed for lateness when the job has no completion date.
DEFAULT_DURATION_DAYS = 28
#: Capacity (days per week) from which availability is not reduced.
FULL_CAPACITY_DAYS = 3.0
#: Scores closer than this are ties (broken by expert id), so both implementations order alike.
SCORE_QUANTUM = 1e-9

EXCLUSION_REASONS: tuple[str, ...] = ("suspended", "conflict", "language")


@dataclass(frozen=True, slots=True)
class ExpertRecord:
    """One expert as the scorer sees it (built by :func:`app.matching.loader.load_expert_records`)."""

    expert_id: int
    terms: Mapping[int, int]
    languages: Mapping[str, int]
    employers: tuple[tuple[str, str], ...]
    day_rate_minor: int | None
    currency: str
    available_from: date | None
    capacity_days_per_week: int
    years_experience: int
    text: str
    suspended: bool = False
    completed_by_category: Mapping[str, int] = field(default_factory=dict)
    completed_terms: Mapping[int, int] = field(default_factory=dict)
    rating: float | None = None
    rating_count: int = 0
    typical_price_minor: int | None = None


@dataclass(frozen=True, slots=True)
class JobQuery:
    """One job as the scorer sees it (built by :func:`app.matching.loader.job_query`)."""

    job_id: int
    category: str
    title_term_id: int | None
    required_terms: Mapping[int, int]
    languages: Mapping[str, int]
    budget_minor: int | None
    currency: str
    start_date: date | None
    completion_date: date | None
    text: str
    company_names: tuple[str, ...] = ()
    process_term_id: int | None = None
    material_term_id: int | None = None


@dataclass(frozen=True, slots=True)
class RankedExpert:
    """An expert in the ranking, with the per-criterion scores that explain the rank."""

    expert_id: int
    rank: int
    score: float
    breakdown: dict[str, float]
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ExcludedExpert:
    """An expert removed by a hard filter, with the reason and what they would have scored."""

    expert_id: int
    reason: str
    detail: str
    score: float


@dataclass(slots=True)
class Ranking:
    """The result of ranking every expert against one job."""

    ranked: list[RankedExpert]
    excluded: list[ExcludedExpert]
    excluded_counts: dict[str, int]
    considered: int
    elapsed_ms: float


# Per-job rules shared by both implementations ---------------------------------------------------


def normalise_weights(weights: Mapping[str, float] | None) -> dict[str, float]:
    """Weights summing to 1 over the criteria with a positive weight.

    Missing criteria take their :data:`DEFAULT_WEIGHTS` value; a zero weight
    drops the criterion (it is neither computed nor shown).

    :raises ValueError: unknown criterion, negative weight, or every weight zero.
    """
    merged = dict(DEFAULT_WEIGHTS)
    if weights is not None:
        unknown = set(weights) - set(CRITERIA)
        if unknown:
            raise ValueError(f"unknown matching criteria: {', '.join(sorted(unknown))}")
        merged.update({k: float(v) for k, v in weights.items()})
    if any(v < 0 or math.isnan(v) for v in merged.values()):
        raise ValueError("matching weights must be zero or positive")
    total = sum(merged.values())
    if total <= 0:
        raise ValueError("at least one matching weight must be positive")
    return {c: merged[c] / total for c in CRITERIA if merged[c] > 0}


def effective_required(query: JobQuery) -> dict[int, int]:
    """The job's required terms, plus its process and material terms (intermediate) when not listed."""
    required = {int(t): int(level) for t, level in query.required_terms.items()}
    for term_id in (query.process_term_id, query.material_term_id):
        if term_id is not None and term_id not in required:
            required[term_id] = PROCESS_MATERIAL_LEVEL
    return required


def title_required_level(required: Mapping[int, int]) -> int:
    """The level the title is expected at: the highest required level, senior when none."""
    return max(required.values()) if required else DEFAULT_TITLE_LEVEL


def working_days(start: date, end: date) -> int:
    """Monday–Friday days from ``start`` to ``end``, both included (0 when ``end`` < ``start``)."""
    if end < start:
        return 0
    days = (end - start).days + 1
    weeks, rest = divmod(days, 7)
    count = weeks * 5
    weekday = start.weekday()
    for i in range(rest):
        if (weekday + i) % 7 < 5:
            count += 1
    return count


def max_effort_days(query: JobQuery) -> int:
    """Upper bound of the effort estimate: the job's working days, or 20 without both dates."""
    if query.start_date is None or query.completion_date is None:
        return DEFAULT_EFFORT_DAYS
    return max(1, working_days(query.start_date, query.completion_date))


def effort_days(query: JobQuery, median_day_rate: float | None) -> float:
    """Days of work the budget buys at the population's median rate, clamped to [1, job working days].

    Without a median rate (nobody quotes a rate in the job's currency) the upper bound is used.
    """
    upper = float(max_effort_days(query))
    if query.budget_minor is None or not median_day_rate:
        return upper
    return min(max(query.budget_minor / median_day_rate, 1.0), upper)


def job_start(query: JobQuery, today: date) -> date:
    """The day the job starts: its start date, or ``today`` when it has none."""
    return query.start_date or today


def duration_days(query: JobQuery, today: date) -> int:
    """Calendar days from start to completion (at least 1); 28 without a completion date."""
    start = job_start(query, today)
    if query.completion_date is None:
        return DEFAULT_DURATION_DAYS
    return max(1, (query.completion_date - start).days)


def median(values: list[int]) -> float | None:
    """The median of ``values`` (None when empty), as numpy computes it."""
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[mid])
    return (ordered[mid - 1] + ordered[mid]) / 2.0


def quantise(score: float) -> int:
    """The integer ordering key of a score (see :data:`SCORE_QUANTUM`)."""
    return math.floor(score / SCORE_QUANTUM + 0.5)

