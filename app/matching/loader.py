"""Read the matching inputs from the database: expert records, the fingerprint, one job's query.

Only this module touches the database. :func:`load_expert_records` uses
SQLAlchemy Core (seven queries in all, whatever the number of experts; no ORM
objects), so a 100k-expert index loads in seconds.

The track record comes from the hub's own history: *completed* projects (the
escrow was released, in full or in part) and the companies' ratings. A project
counts once in its job's category and once for each of its job's process and
material terms; the typical price is the median expert price of the completed
projects in the currency the expert quotes (the same basis as the day rate:
without the hub's fee).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, scoped_session

from app.matching.records import LEVELS, PROCESS_MATERIAL_LEVEL, PROFICIENCY, ExpertRecord, JobQuery, median
from app.models import (
    CatalogTerm,
    Contract,
    ExpertEmployer,
    ExpertLanguage,
    ExpertProfile,
    ExpertSkill,
    Job,
    JobCategory,
    LanguageProficiency,
    Project,
    ProjectStatus,
    Rating,
    Role,
    User,
    VerificationStatus,
)

logger = logging.getLogger(__name__)

#: Profiles the matching considers; suspended ones are kept (and filtered) so the admin sees them.
MATCHED_STATUSES = (VerificationStatus.APPROVED.value, VerificationStatus.SUSPENDED.value)
#: Minimum proficiency in the training language of a training job.
TRAINING_LANGUAGE_RANK = PROFICIENCY[LanguageProficiency.B2]

_profiles = ExpertProfile.__table__
_users = User.__table__
_skills = ExpertSkill.__table__
_languages = ExpertLanguage.__table__
_employers = ExpertEmployer.__table__
_terms = CatalogTerm.__table__
_projects = Project.__table__
_jobs = Job.__table__
_contracts = Contract.__table__
_ratings = Rating.__table__


def _raw(column: Any) -> Any:
    """The column without its enum result processing (plain strings are cheaper on 800k rows)."""
    return sa.type_coerce(column, sa.String())


def _matched_profile_ids() -> sa.Select[Any]:
    return sa.select(_profiles.c.id).where(_raw(_profiles.c.status).in_(MATCHED_STATUSES))


def load_expert_records(session: Session | scoped_session[Any]) -> list[ExpertRecord]:
    """Every approved or suspended expert as an :class:`ExpertRecord`, ordered by id.

    ``suspended`` is set when the profile is suspended or the account has
    ``suspended_at``. The text is the headline, the summary and the English and
    German names of the expert's terms. The track record (completed projects
    per category and per process/material term, the typical price, the average
    overall rating and its count) is read by :func:`_track_records`.
    """
    conn = session.connection()
    profiles = conn.execute(
        sa.select(
            _profiles.c.id,
            _profiles.c.headline,
            _profiles.c.summary,
            _profiles.c.years_experience,
            _profiles.c.day_rate_minor,
            _profiles.c.currency,
            _profiles.c.available_from,
            _profiles.c.capacity_days_per_week,
            _raw(_profiles.c.status),
            _users.c.suspended_at.isnot(None),
        )
        .select_from(_profiles.join(_users, _users.c.id == _profiles.c.user_id))
        .where(_raw(_profiles.c.status).in_(MATCHED_STATUSES))
        .order_by(_profiles.c.id)
    ).all()
    matched = _matched_profile_ids().scalar_subquery()

    term_names: dict[int, str] = {}
    for term_id, name, name_de in conn.execute(sa.select(_terms.c.id, _terms.c.name, _terms.c.name_de)):
        term_names[term_id] = f"{name} {name_de}" if name_de and name_de != name else name

    terms: dict[int, dict[int, int]] = {}
    level_rank = {str(k): v for k, v in LEVELS.items()}
    for expert_id, term_id, level in conn.execute(
        sa.select(_skills.c.expert_id, _skills.c.term_id, _raw(_skills.c.level)).where(
            _skills.c.expert_id.in_(matched)
        )
    ):
        terms.setdefault(expert_id, {})[term_id] = level_rank.get(level, 0)

    languages: dict[int, dict[str, int]] = {}
    proficiency_rank = {str(k): v for k, v in PROFICIENCY.items()}
    for expert_id, code, proficiency in conn.execute(
        sa.select(_languages.c.expert_id, _languages.c.code, _raw(_languages.c.proficiency)).where(
            _languages.c.expert_id.in_(matched)
        )
    ):
        languages.setdefault(expert_id, {})[code] = proficiency_rank.get(proficiency, 0)

    employers: dict[int, list[tuple[str, str]]] = {}
    for expert_id, name, relation in conn.execute(
        sa.select(_employers.c.expert_id, _employers.c.name, _raw(_employers.c.relation))
        .where(_employers.c.expert_id.in_(matched))
        .order_by(_employers.c.expert_id, _employers.c.id)
    ):
        employers.setdefault(expert_id, []).append((name, relation))

    currencies = {row[0]: row[5] or "" for row in profiles}  # expert id -> the currency the expert quotes
    track = _track_records(conn, matched, currencies)

    records: list[ExpertRecord] = []
    empty_terms: dict[int, int] = {}
    empty_languages: dict[str, int] = {}
    no_track = _TrackRecord()
    for (expert_id, headline, summary, years, rate, currency, available, capacity, status,
         account_suspended) in profiles:
        expert_terms = terms.get(expert_id, empty_terms)
        names = " ".join(term_names.get(t, "") for t in expert_terms)
        history = track.get(expert_id, no_track)
        records.append(
            ExpertRecord(
                expert_id=expert_id,
                terms=expert_terms,
                languages=languages.get(expert_id, empty_languages),
                employers=tuple(employers.get(expert_id, ())),
                day_rate_minor=rate,
                currency=currency or "",
                available_from=available if isinstance(available, date) else None,
                capacity_days_per_week=capacity if capacity is not None else 0,
                years_experience=years or 0,
                text=f"{headline or ''} {summary or ''} {names}",
                suspended=status == VerificationStatus.SUSPENDED.value or bool(account_suspended),
                completed_by_category=history.by_category,
                completed_terms=history.by_term,
                rating=history.rating,
                rating_count=history.rating_count,
                typical_price_minor=history.typical_price(),
            )
        )
    logger.info("Loaded %d expert records for matching", len(records))
    return records


@dataclass
class _TrackRecord:
    """What the hub's history says about one expert (filled by :func:`_track_records`)."""

    by_category: dict[str, int] = field(default_factory=dict)
    by_term: dict[int, int] = field(default_factory=dict)
    prices: list[int] = field(default_factory=list)
    rating: float | None = None
    rating_count: int = 0

    def typical_price(self) -> int | None:
        """The median expert price of the completed projects (in the expert's currency), rounded."""
        value = median(self.prices)
        return round(value) if value is not None else None


def _track_records(conn: Connection, matched: Any, currencies: dict[int, str]) -> dict[int, _TrackRecord]:
    """Completed projects and ratings of the matched experts, in two queries.

    One row per completed project (category, process and material terms, expert
    price and currency; the median price needs the values), and the ratings
    grouped per expert (average overall, count).
    """
    track: dict[int, _TrackRecord] = {}
    for expert_id, category, process_id, material_id, price, currency in conn.execute(
        sa.select(
            _projects.c.expert_id,
            _raw(_jobs.c.category),
            _jobs.c.process_term_id,
            _jobs.c.material_term_id,
            _contracts.c.expert_price_minor,
            _contracts.c.currency,
        )
        .select_from(
            _projects.join(_jobs, _jobs.c.id == _projects.c.job_id)
            .join(_contracts, _contracts.c.id == _projects.c.contract_id)
        )
        .where(_raw(_projects.c.status) == ProjectStatus.COMPLETED.value, _projects.c.expert_id.in_(matched))
    ):
        record = track.setdefault(expert_id, _TrackRecord())
        record.by_category[category] = record.by_category.get(category, 0) + 1
        for term_id in {t for t in (process_id, material_id) if t is not None}:
            record.by_term[term_id] = record.by_term.get(term_id, 0) + 1
        if price is not None and currency == currencies.get(expert_id):
            record.prices.append(int(price))
    for expert_id, average, count in conn.execute(
        sa.select(_ratings.c.expert_id, sa.func.avg(_ratings.c.overall), sa.func.count(_ratings.c.id))
        .where(_ratings.c.expert_id.in_(matched))
        .group_by(_ratings.c.expert_id)
    ):
        record = track.setdefault(expert_id, _TrackRecord())
        record.rating = float(average) if average is not None else None
        record.rating_count = int(count or 0)
    return track


def _stamp(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def fingerprint(session: Session | scoped_session[Any]) -> str:
    """A cheap version of the matching inputs: changes when any expert profile, account or term changes.

    Count and latest ``updated_at`` of the expert profiles (the expert services
    bump it when skills, languages or employers change), latest ``updated_at``
    of the expert accounts (suspension) and of the catalog terms (names in the
    text); the track record: count and latest ``updated_at`` of the completed
    projects, count and latest id of the ratings (never edited nor deleted).
    """
    conn = session.connection()
    count, profiles_at = conn.execute(
        sa.select(sa.func.count(_profiles.c.id), sa.func.max(_profiles.c.updated_at))
    ).one()
    users_at = conn.execute(
        sa.select(sa.func.max(_users.c.updated_at)).where(_raw(_users.c.role) == Role.EXPERT.value)
    ).scalar()
    terms_at = conn.execute(sa.select(sa.func.count(_terms.c.id), sa.func.max(_terms.c.updated_at))).one()
    completed = conn.execute(
        sa.select(sa.func.count(_projects.c.id), sa.func.max(_projects.c.updated_at))
        .where(_raw(_projects.c.status) == ProjectStatus.COMPLETED.value)
    ).one()
    rated = conn.execute(sa.select(sa.func.count(_ratings.c.id), sa.func.max(_ratings.c.id))).one()
    raw = "|".join([str(count), _stamp(profiles_at), _stamp(users_at), str(terms_at[0]), _stamp(terms_at[1]),
                    str(completed[0]), _stamp(completed[1]), str(rated[0]), _stamp(rated[1])])
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]


def job_query(job: Job) -> JobQuery:
    """The :class:`JobQuery` of an ORM ``job`` (reads its terms, languages and company).

    Required terms are the job's skills with their levels, plus its process and
    material terms at intermediate when not listed. Languages are the job's
    minimum proficiencies, plus the training language (at least B2) of a
    training job. The text is the title, the descriptions and the term names.
    """
    required: dict[int, int] = {s.term_id: LEVELS[s.level] for s in job.skills}
    for term_id in (job.process_term_id, job.material_term_id):
        if term_id is not None and term_id not in required:
            required[term_id] = PROCESS_MATERIAL_LEVEL
    languages: dict[str, int] = {lang.code.lower(): PROFICIENCY[lang.min_proficiency] for lang in job.languages}
    if job.category is JobCategory.TRAINING and job.training_language:
        code = job.training_language.strip().lower()
        languages[code] = max(languages.get(code, 0), TRAINING_LANGUAGE_RANK)
    names = [t.name for t in (job.title_term, job.process_term, job.material_term, job.defect_term) if t is not None]
    names += [s.term.name for s in job.skills if s.term is not None]
    text = " ".join(
        part
        for part in (
            job.title_term.name if job.title_term is not None else "",
            job.description,
            job.scope,
            job.part_description,
            job.machine_description,
            " ".join(names[1:] if job.title_term is not None else names),
        )
        if part
    )
    company = job.company
    company_names = tuple(dict.fromkeys(n for n in (company.name, company.legal_name) if n and n.strip()))
    return JobQuery(
        job_id=job.id,
        category=job.category.value,
        title_term_id=job.title_term_id,
        required_terms=required,
        languages=languages,
        budget_minor=job.budget_minor,
        currency=job.currency,
        start_date=job.start_date,
        completion_date=job.completion_date,
        text=text,
        company_names=company_names,
        process_term_id=job.process_term_id,
        material_term_id=job.material_term_id,
    )
