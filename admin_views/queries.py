"""Read-only queries behind the back-office pages (dashboard cards, history panels).

Every function here runs a fixed number of SQL statements, however many rows
or queues there are: the dashboard is one statement for all queue cards and one
for the latest events.

To add a queue (deliveries, payouts), add one ``QueueSpec``
line to ``QUEUES``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import url_for
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models import (
    AuditEvent,
    CatalogTerm,
    CatalogTicket,
    Company,
    ExpertProfile,
    Job,
    JobSkill,
    JobStatus,
    MatchResult,
    MatchRun,
    MatchRunStatus,
    Offer,
    OfferStatus,
    OfferVersion,
    OutboxMessage,
    TicketStatus,
    VerificationStatus,
)

#: Offers waiting for the hub (the offers queue and its dashboard card).
OFFERS_WAITING: tuple[OfferStatus, ...] = (OfferStatus.SUBMITTED, OfferStatus.REVISED)


@dataclass(frozen=True)
class QueueSpec:
    """One queue of work waiting for a hub admin.

    ``waiting`` selects the rows in the queue; ``since`` is the column that says
    since when each row has been waiting; ``endpoint`` is the list that works it.
    """

    key: str
    label: LazyString
    model: type[Any]
    waiting: sa.ColumnElement[bool]
    since: Any
    endpoint: str
    warn_after: timedelta = timedelta(days=2)


# fmt: off
QUEUES: tuple[QueueSpec, ...] = (
    QueueSpec(
        "companies", _l("Companies to verify"), Company,
        Company.status == VerificationStatus.PENDING_VERIFICATION, Company.submitted_at,
        "company_verification.index_view",
    ),
    QueueSpec(
        "experts", _l("Experts to verify"), ExpertProfile,
        ExpertProfile.status == VerificationStatus.PENDING_VERIFICATION, ExpertProfile.submitted_at,
        "expert_verification.index_view",
    ),
    QueueSpec("jobs", _l("Jobs to review"), Job, Job.status == JobStatus.PENDING_REVIEW, Job.submitted_at,
              "jobs.index_view"),
    QueueSpec("offers", _l("Offers to review"), Offer, Offer.status.in_(OFFERS_WAITING), Offer.submitted_at,
              "offers.index"),
    QueueSpec("tickets", _l("Catalog tickets to work on"), CatalogTicket, CatalogTicket.status == TicketStatus.OPEN,
              CatalogTicket.created_at, "catalog_tickets.index_view"),
    QueueSpec(
        "outbox_failed", _l("Messages that failed"), OutboxMessage,
        sa.and_(OutboxMessage.delivered_at.is_(None), OutboxMessage.failed_at.is_not(None)),
        OutboxMessage.created_at, "outbox.index_view", timedelta(0),
    ),
    QueueSpec(
        "outbox_waiting", _l("Messages not yet delivered"), OutboxMessage,
        sa.and_(OutboxMessage.delivered_at.is_(None), OutboxMessage.failed_at.is_(None)),
        OutboxMessage.created_at, "outbox.index_view", timedelta(minutes=15),
    ),
)
# fmt: on


@dataclass(frozen=True)
class QueueStat:
    """A queue's card: how many wait, and since when the oldest one waits."""

    spec: QueueSpec
    count: int
    oldest: datetime | None
    now: datetime

    @property
    def waiting_for(self) -> timedelta | None:
        return None if self.oldest is None else max(self.now - self.oldest, timedelta(0))

    @property
    def overdue(self) -> bool:
        waited = self.waiting_for
        return self.count > 0 and waited is not None and waited >= self.spec.warn_after

    @property
    def url(self) -> str:
        return url_for(self.spec.endpoint)


def queue_stats(queues: Sequence[QueueSpec] = QUEUES, *, now: datetime | None = None) -> list[QueueStat]:
    """Count and oldest waiting time of every queue, in one SQL statement."""
    now = now or datetime.now(UTC)
    if not queues:
        return []
    parts = [
        sa.select(
            sa.literal(index).label("queue"),
            sa.func.count().label("n"),
            sa.func.min(spec.since).label("oldest"),
        )
        .select_from(spec.model)
        .where(spec.waiting)
        for index, spec in enumerate(queues)
    ]
    rows = db.session.execute(sa.union_all(*parts)).all()
    found = {int(row.queue): (int(row.n), _aware(row.oldest)) for row in rows}
    return [QueueStat(spec, *found.get(index, (0, None)), now=now) for index, spec in enumerate(queues)]


def latest_events(limit: int = 15) -> list[AuditEvent]:
    """The newest audit events with their actors (one statement)."""
    return list(
        db.session.scalars(
            sa.select(AuditEvent).options(joinedload(AuditEvent.actor)).order_by(AuditEvent.id.desc()).limit(limit)
        )
    )


def entity_history(
    entity: str, entity_id: int, *, document_ids: Sequence[int] = (), limit: int = 200
) -> list[AuditEvent]:
    """An object's audit events, newest first, including those of its documents (one statement)."""
    condition = sa.and_(AuditEvent.entity == entity, AuditEvent.entity_id == entity_id)
    if document_ids:
        condition = sa.or_(
            condition, sa.and_(AuditEvent.entity == "documents", AuditEvent.entity_id.in_(list(document_ids)))
        )
    return list(
        db.session.scalars(
            sa.select(AuditEvent)
            .options(joinedload(AuditEvent.actor))
            .where(condition)
            .order_by(AuditEvent.id.desc())
            .limit(limit)
        )
    )


# Where an audited object is worked on in the back office.
ENTITY_ENDPOINTS = {
    "companies": "company_verification.details_view",
    "expert_profiles": "expert_verification.details_view",
    "users": "users.details_view",
    "catalog_terms": "catalog.edit_view",
    "outbox_messages": "outbox.details_view",
    "jobs": "jobs.details_view",
    "job_invitations": "job_invitations.details_view",
    "catalog_tickets": "catalog_tickets.details_view",
    "offers": "offers.details_view",
}
# The URL argument naming the object, when it is not ``id``.
ENTITY_ARGUMENTS = {"offers": "offer_id"}


def event_links(event: AuditEvent) -> str | None:
    """The back-office page of the object an audit event is about, if it has one."""
    endpoint = ENTITY_ENDPOINTS.get(event.entity)
    if endpoint is None or event.entity_id is None:
        return None
    values: dict[str, Any] = {ENTITY_ARGUMENTS.get(event.entity, "id"): event.entity_id}
    return url_for(endpoint, **values)


# Matching and offers (issue 4) ----------------------------------------------------------------


def job_skills(job_id: int) -> list[JobSkill]:
    """A job's required skills with their catalog terms (one statement)."""
    return list(
        db.session.scalars(
            sa.select(JobSkill)
            .options(joinedload(JobSkill.term))
            .where(JobSkill.job_id == job_id)
            .order_by(JobSkill.id)
        )
    )


def term_names(term_ids: Iterable[int]) -> dict[int, str]:
    """Catalog term names by id, for explaining a ranking (one statement; none when no ids)."""
    ids = sorted({int(i) for i in term_ids})
    if not ids:
        return {}
    rows = db.session.execute(sa.select(CatalogTerm.id, CatalogTerm.name).where(CatalogTerm.id.in_(ids)))
    return {int(row.id): str(row.name) for row in rows}


def recent_runs(limit: int = 50) -> list[MatchRun]:
    """The newest ranking runs with their jobs and companies (one statement)."""
    return list(
        db.session.scalars(
            sa.select(MatchRun)
            .options(
                joinedload(MatchRun.job).joinedload(Job.title_term), joinedload(MatchRun.job).joinedload(Job.company)
            )
            .order_by(MatchRun.id.desc())
            .limit(limit)
        )
    )


def latest_match_result(job_id: int, expert_id: int) -> tuple[MatchRun, MatchResult] | None:
    """The expert's line in the job's latest completed ranking (ranked or excluded), if there is one."""
    run = db.session.scalar(
        sa.select(MatchRun)
        .where(MatchRun.job_id == job_id, MatchRun.status == MatchRunStatus.COMPLETED)
        .order_by(MatchRun.id.desc())
        .limit(1)
    )
    if run is None:
        return None
    result = db.session.scalar(
        sa.select(MatchResult).where(MatchResult.run_id == run.id, MatchResult.expert_id == expert_id)
    )
    return None if result is None else (run, result)


def offer_version_counts(offer_ids: Sequence[int]) -> dict[int, int]:
    """How many versions each offer has (one grouped statement; none when no ids)."""
    if not offer_ids:
        return {}
    rows = db.session.execute(
        sa.select(OfferVersion.offer_id, sa.func.count())
        .where(OfferVersion.offer_id.in_(list(offer_ids)))
        .group_by(OfferVersion.offer_id)
    )
    return {int(offer_id): int(n) for offer_id, n in rows}


def _aware(value: Any) -> datetime | None:
    """min() over a union can come back naive or as text on SQLite; make it an aware datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return None
