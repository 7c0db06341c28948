"""Step 4: invitations and anonymous offers (WORKFLOW.md §4).

    invitation: open -decline (expert)-> declined
    offer:      (new) -> submitted ; submitted -(new version)-> submitted
                in_negotiation -revise (new version)-> revised
                submitted | forwarded | in_negotiation | revised -withdraw (expert)-> withdrawn

Offers reach the hub, never the company: the hub forwards them in the next step.
Every change of an offer is a new immutable :class:`OfferVersion`; the expert
accepts the versioned confidentiality and non-solicitation clauses with each one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from sqlalchemy.orm import joinedload, selectinload

from app import policies
from app.exceptions import InvalidTransition, NotFound, PermissionDenied
from app.extensions import db
from app.i18n import money
from app.models import (
    PENDING_OFFER_STATES,
    ExpertProfile,
    InvitationStatus,
    Job,
    JobInvitation,
    JobStatus,
    Offer,
    OfferMilestone,
    OfferProposal,
    OfferStatus,
    OfferVersion,
    ProposalDecision,
    Role,
    User,
)
from app.services import audit, notifications, uow
from app.services.jobs import FieldErrors, has_accepted_confidentiality
from app.services.transitions import transition
from app.services.validation import required_text
from app.workflows.matching import INVITATION_WORKFLOW
from app.workflows.offers import OFFER_WORKFLOW

O = OfferStatus  # noqa: E741

ADMIN_OFFER_PATH = "/admin/offers/{id}"
EXPERT_OFFER_PATH = "/offers/{id}"
MAX_SOLUTION = 20_000
MAX_DELIVERABLES = 30
MAX_MILESTONES = 20


@dataclass(frozen=True)
class Clauses:
    """One version of the clauses an expert accepts with an offer."""

    version: str
    confidentiality: LazyString
    non_solicitation: LazyString


# Versioned clause texts: a new wording is a new key; old versions stay, for the record.
CLAUSES: dict[str, Clauses] = {
    "2026-12": Clauses(
        version="2026-12",
        confidentiality=_l(
            "I keep everything I learn about this job and the company confidential: drawings, "
            "specifications, data and the company's identity. I use it only to prepare this offer "
            "and, if it is accepted, to do the work; I delete it when the hub asks."
        ),
        non_solicitation=_l(
            "I deal with the company only through Plasticonnect Hub. I do not share or ask for "
            "contact details, and for 24 months I do not work for the company on this subject "
            "outside the hub."
        ),
    ),
}
CURRENT_CLAUSES = CLAUSES["2026-12"]


@dataclass(frozen=True)
class MilestoneInput:
    """A milestone as typed by the expert."""

    title: str
    due_date: date | None
    share_percent: int | None


@dataclass(frozen=True)
class OfferInput:
    """What the expert typed in the offer form (already parsed: money in minor units)."""

    solution: str = ""
    price_minor: int | None = None
    start_date: date | None = None
    end_date: date | None = None
    deliverables: list[str] = field(default_factory=list)
    milestones: list[MilestoneInput] = field(default_factory=list)
    accept_clauses: bool = False
    clauses_version: str = ""
    change_note: str = ""


def _today() -> date:
    return datetime.now(UTC).date()


def _expert_of(actor: User) -> ExpertProfile | None:
    return actor.expert_profile if actor.role is Role.EXPERT else None


def _check_input(job: Job, data: OfferInput, *, first: bool) -> OfferInput:  # noqa: C901
    """Validate an offer against the rules; return it cleaned, or raise FieldErrors naming each field."""
    errors: dict[str, str] = {}
    solution = (data.solution or "").strip()
    if not solution:
        errors["solution"] = _("Describe the technical solution you propose.")
    elif len(solution) > MAX_SOLUTION:
        errors["solution"] = _("Please keep the solution under %(n)s characters.", n=f"{MAX_SOLUTION:,}")
    if data.price_minor is None:
        errors["price_minor"] = _("Enter your price.")
    elif data.price_minor <= 0:
        errors["price_minor"] = _("The price must be greater than zero.")
    elif data.price_minor > 10**12:
        errors["price_minor"] = _("This price is too large.")
    if data.start_date is None:
        errors["start_date"] = _("Enter the start date.")
    elif data.start_date < _today():
        errors["start_date"] = _("The start date cannot be in the past.")
    if data.end_date is None:
        errors["end_date"] = _("Enter the end date.")
    elif data.start_date is not None and data.end_date < data.start_date:
        errors["end_date"] = _("The end date must be on or after the start date.")
    deliverables = [d.strip() for d in data.deliverables if d and d.strip()]
    if not deliverables:
        errors["deliverables"] = _("List at least one deliverable.")
    elif len(deliverables) > MAX_DELIVERABLES:
        errors["deliverables"] = _("At most %(n)d deliverables.", n=MAX_DELIVERABLES)
    elif any(len(d) > 500 for d in deliverables):
        errors["deliverables"] = _("Keep each deliverable under 500 characters.")
    milestones = [m for m in data.milestones if (m.title or "").strip() or m.due_date or m.share_percent]
    if len(milestones) > MAX_MILESTONES:
        errors["milestones"] = _("At most %(n)d milestones.", n=MAX_MILESTONES)
    elif milestones:
        problems = []
        for n, m in enumerate(milestones, start=1):
            if not (m.title or "").strip():
                problems.append(_("milestone %(n)d needs a title", n=n))
            if m.due_date is None:
                problems.append(_("milestone %(n)d needs a due date", n=n))
            elif data.start_date and data.end_date and not data.start_date <= m.due_date <= data.end_date:
                problems.append(_("milestone %(n)d must be due between the start and the end date", n=n))
            if m.share_percent is None or not 0 < m.share_percent <= 100:
                problems.append(_("milestone %(n)d needs a share between 1 and 100 %%", n=n))
        total = sum(m.share_percent or 0 for m in milestones)
        if not problems and total != 100:
            problems.append(_("the shares add up to %(total)d %%, not 100 %%", total=total))
        if problems:
            errors["milestones"] = _("Milestones: %(problems)s.", problems="; ".join(problems))
    if not data.accept_clauses:
        errors["accept_clauses"] = _("Accept the confidentiality and non-solicitation clauses to send the offer.")
    elif data.clauses_version and data.clauses_version != CURRENT_CLAUSES.version:
        errors["accept_clauses"] = _("The clauses have changed since you opened the form; read and accept them again.")
    note = (data.change_note or "").strip()
    if not first and not note:
        errors["change_note"] = _("Say briefly what changed in this version.")
    if errors:
        raise FieldErrors(errors)
    return OfferInput(
        solution=solution,
        price_minor=data.price_minor,
        start_date=data.start_date,
        end_date=data.end_date,
        deliverables=deliverables,
        milestones=[MilestoneInput(m.title.strip(), m.due_date, m.share_percent) for m in milestones],
        accept_clauses=True,
        clauses_version=CURRENT_CLAUSES.version,
        change_note=note[:5000],
    )


def _add_version(offer: Offer, data: OfferInput, actor: User) -> OfferVersion:
    number = len(offer.versions) + 1
    assert data.price_minor is not None and data.start_date is not None and data.end_date is not None
    version = OfferVersion(
        offer_id=offer.id,
        number=number,
        solution=data.solution,
        price_minor=data.price_minor,
        currency=offer.job.currency,
        start_date=data.start_date,
        end_date=data.end_date,
        deliverables=list(data.deliverables),
        change_note=data.change_note,
        terms_version=CURRENT_CLAUSES.version,
        terms_accepted_at=datetime.now(UTC),
        terms_ip=audit.client_ip.get(),
        created_by_id=actor.id,
        milestones=[
            OfferMilestone(position=i, title=m.title[:200], due_date=m.due_date, share_percent=m.share_percent)
            for i, m in enumerate(data.milestones, start=1)
        ],
    )
    db.session.add(version)
    db.session.flush()
    offer.current_version_id = version.id
    offer.current_version = version
    return version


def _supersede_open_proposal(offer: Offer, version: OfferVersion, actor: User) -> None:
    """The expert's own version answers the hub's open proposal (WORKFLOW.md §5): it is closed as refused."""
    proposal = db.session.scalar(
        sa.select(OfferProposal).where(OfferProposal.offer_id == offer.id,
                                       OfferProposal.decision == ProposalDecision.OPEN.value)
        .with_for_update()
    )
    if proposal is None:
        return
    proposal.decision = ProposalDecision.REFUSED.value
    proposal.decided_at = datetime.now(UTC)
    proposal.decided_note = _("Superseded by the expert's own version %(n)d.", n=version.number)
    audit.record("offer_proposal.refused", actor=actor, entity="offer_proposals", entity_id=proposal.id,
                 data={"offer_id": offer.id, "superseded_by_version": version.number})


def _invitation(job: Job, expert: ExpertProfile) -> JobInvitation | None:
    return next((i for i in job.invitations if i.expert_id == expert.id), None)


def _pending_offer(job_id: int, expert_id: int) -> Offer | None:
    return db.session.scalar(
        sa.select(Offer).where(
            Offer.job_id == job_id, Offer.expert_id == expert_id, Offer.status.in_(PENDING_OFFER_STATES)
        )
    )


def offer_refusal(job: Job, actor: User) -> str:
    """Why ``actor`` cannot make an offer on ``job`` now (empty when they can); for pages and the service."""
    expert = _expert_of(actor)
    if expert is None or not policies.can_make_offer(actor, job):
        return _("Only verified experts who can see this job make offers.")
    if job.status is not JobStatus.PUBLISHED:
        return _("This job is no longer open for offers.")
    invitation = _invitation(job, expert)
    if invitation is not None and invitation.status is InvitationStatus.DECLINED:
        return _("You declined the invitation to this job.")
    if not has_accepted_confidentiality(job, actor):
        return _("Accept the job's confidentiality terms first.")
    pending = _pending_offer(job.id, expert.id)
    if pending is not None:
        return _("You already have an offer on this job waiting for the hub (offer %(id)d); change or "
                 "withdraw it instead of sending another.", id=pending.id)
    return ""


def submit_offer(job_id: int, *, actor: User, data: OfferInput) -> Offer:
    """Send a new offer on a published job to the hub.

    (new) -> SUBMITTED with version 1. The expert must be verified, see the job,
    have accepted its confidentiality terms, not have declined its invitation and
    have no other pending offer on it. Hub staff are notified.

    :raises NotFound: no such job, or the expert may not see it.
    :raises PermissionDenied: the job is closed, terms not accepted, invitation declined, offer pending.
    :raises FieldErrors: the offer breaks a rule (each field named).
    """
    job = db.session.get(Job, job_id, with_for_update=True)
    if job is None or not policies.can_make_offer(actor, job):
        raise NotFound(_("This job does not exist."))
    refusal = offer_refusal(job, actor)
    if refusal:
        raise PermissionDenied(refusal)
    clean = _check_input(job, data, first=True)
    expert = actor.expert_profile
    assert expert is not None
    offer = Offer(job_id=job.id, expert_id=expert.id, status=O.SUBMITTED, submitted_at=datetime.now(UTC))
    offer.job = job
    offer.expert = expert
    db.session.add(offer)
    db.session.flush()
    version = _add_version(offer, clean, actor)
    audit.record("offer.submitted", actor=actor, entity="offers", entity_id=offer.id, to_state=O.SUBMITTED.value,
                 data={"job_id": job.id, "version": version.number, "price_minor": version.price_minor,
                       "currency": version.currency, "clauses_version": version.terms_version})
    notifications.notify_staff("offer.submitted", link=ADMIN_OFFER_PATH.format(id=offer.id),
                               expert=str(expert), job=str(job), price=money(version.price_minor, version.currency))
    uow.commit()
    return offer


def _load_own_offer(offer_id: int, actor: User) -> Offer:
    offer = db.session.get(Offer, offer_id, with_for_update=True)
    if offer is None or not policies.can_view_offer(actor, offer):
        raise NotFound(_("This offer does not exist."))
    if not policies.can_change_offer(actor, offer):
        raise PermissionDenied(_("Only the expert who made the offer can change or withdraw it."))
    return offer


REVISABLE_STATES = (O.SUBMITTED, O.IN_NEGOTIATION)


def can_be_revised(offer: Offer) -> bool:
    """Whether the expert may add a version now: not yet forwarded, or in negotiation, on a published job."""
    return offer.status in REVISABLE_STATES and offer.job.status is JobStatus.PUBLISHED


def revise_offer(offer_id: int, *, actor: User, data: OfferInput) -> Offer:
    """Add a new version to the expert's own offer; the old versions stay as they were.

    SUBMITTED -> SUBMITTED (not forwarded yet) or IN_NEGOTIATION -> REVISED.
    Hub staff are notified.

    :raises NotFound: no such offer of this expert.
    :raises PermissionDenied: not the expert's offer.
    :raises InvalidTransition: the offer was forwarded, decided or withdrawn.
    :raises FieldErrors: the new version breaks a rule.
    """
    offer = _load_own_offer(offer_id, actor)
    if offer.status not in REVISABLE_STATES:
        raise InvalidTransition(
            OFFER_WORKFLOW.name, offer.status, O.REVISED,
            _("This offer is %(status)s; it cannot be changed now.", status=offer.status.value.replace("_", " ")),
        )
    if offer.job.status is not JobStatus.PUBLISHED:
        raise PermissionDenied(_("This job is no longer open for offers."))
    clean = _check_input(offer.job, data, first=False)
    if offer.status is O.IN_NEGOTIATION:
        transition(offer, OFFER_WORKFLOW, O.REVISED, actor=actor)
    version = _add_version(offer, clean, actor)
    _supersede_open_proposal(offer, version, actor)
    audit.record("offer.version_added", actor=actor, entity="offers", entity_id=offer.id,
                 data={"version": version.number, "price_minor": version.price_minor, "note": clean.change_note})
    notifications.notify_staff("offer.version_added", link=ADMIN_OFFER_PATH.format(id=offer.id),
                               expert=str(offer.expert), job=str(offer.job), number=version.number,
                               price=money(version.price_minor, version.currency))
    uow.commit()
    return offer


def withdraw_offer(offer_id: int, *, actor: User, reason: str = "") -> Offer:
    """The expert withdraws an offer before it is accepted.

    SUBMITTED | FORWARDED | IN_NEGOTIATION | REVISED -> WITHDRAWN. Hub staff are notified.

    :raises NotFound: no such offer of this expert.
    :raises PermissionDenied: not the expert's offer.
    :raises InvalidTransition: already accepted, declined, rejected or withdrawn.
    """
    offer = _load_own_offer(offer_id, actor)
    reason = (reason or "").strip()[:2000]
    transition(offer, OFFER_WORKFLOW, O.WITHDRAWN, actor=actor, reason=reason)
    offer.withdrawn_at = datetime.now(UTC)
    offer.status_note = reason
    notifications.notify_staff("offer.withdrawn", link=ADMIN_OFFER_PATH.format(id=offer.id),
                               expert=str(offer.expert), job=str(offer.job), reason=reason or "-")
    uow.commit()
    return offer


def decline_invitation(invitation_id: int, *, actor: User, reason: str) -> JobInvitation:
    """The expert declines an invitation (or a recommendation) with a reason for the hub.

    OPEN -> DECLINED. Refused while the expert has a pending offer on the job
    (withdraw it instead). Hub staff are notified.

    :raises NotFound: no such invitation of this expert.
    :raises InvalidTransition: already declined.
    :raises PermissionDenied: an offer of the expert on this job is pending.
    :raises ValidationFailed: no reason.
    """
    invitation = db.session.get(JobInvitation, invitation_id, with_for_update=True)
    if invitation is None or not policies.can_respond_to_invitation(actor, invitation):
        raise NotFound(_("This invitation does not exist."))
    INVITATION_WORKFLOW.check(invitation.status, InvitationStatus.DECLINED)
    if _pending_offer(invitation.job_id, invitation.expert_id) is not None:
        raise PermissionDenied(_("You have an offer on this job waiting; withdraw the offer instead."))
    reason = required_text(reason, _("Tell the hub briefly why you decline; it helps them invite the right experts."),
                           max_length=2000)
    transition(invitation, INVITATION_WORKFLOW, InvitationStatus.DECLINED, actor=actor, reason=reason,
               job_id=invitation.job_id)
    invitation.responded_at = datetime.now(UTC)
    invitation.decline_reason = reason
    notifications.notify_staff("invitation.declined", link=f"/admin/matching/{invitation.job_id}",
                               expert=str(invitation.expert), job=str(invitation.job), reason=reason)
    uow.commit()
    return invitation


# Queries --------------------------------------------------------------------------------


def load_offer(offer_id: int, *, actor: User) -> Offer:
    """The offer with its versions and milestones, for the expert who made it or the hub.

    :raises NotFound: no such offer visible to ``actor``.
    """
    offer = db.session.scalar(
        sa.select(Offer)
        .options(selectinload(Offer.versions).selectinload(OfferVersion.milestones), joinedload(Offer.job))
        .where(Offer.id == offer_id)
    )
    if offer is None or not policies.can_view_offer(actor, offer):
        raise NotFound(_("This offer does not exist."))
    return offer


def expert_offers_query(expert: ExpertProfile) -> sa.Select[Offer]:
    """The expert's offers, newest first (paginate the result)."""
    return (
        sa.select(Offer)
        .options(joinedload(Offer.job).joinedload(Job.title_term), joinedload(Offer.current_version))
        .where(Offer.expert_id == expert.id)
        .order_by(Offer.submitted_at.desc(), Offer.id.desc())
    )


def expert_invitations_query(expert: ExpertProfile) -> sa.Select[JobInvitation]:
    """The expert's invitations and recommendations, open ones first, newest first."""
    return (
        sa.select(JobInvitation)
        .options(joinedload(JobInvitation.job).joinedload(Job.title_term))
        .where(JobInvitation.expert_id == expert.id)
        .order_by((JobInvitation.status == InvitationStatus.OPEN).desc(), JobInvitation.created_at.desc(),
                  JobInvitation.id.desc())
    )


def offers_queue_query(statuses: tuple[OfferStatus, ...] = (O.SUBMITTED, O.REVISED)) -> sa.Select[Offer]:
    """Offers waiting for the hub, oldest first."""
    return (
        sa.select(Offer)
        .options(joinedload(Offer.job).joinedload(Job.title_term), joinedload(Offer.expert),
                 joinedload(Offer.current_version))
        .where(Offer.status.in_(statuses))
        .order_by(Offer.submitted_at.asc(), Offer.id.asc())
    )


def offers_count_for_job(job_id: int) -> int:
    """How many offers a job received that are still pending (the company sees only this number)."""
    return int(db.session.scalar(
        sa.select(sa.func.count()).select_from(Offer)
        .where(Offer.job_id == job_id, Offer.status.in_(PENDING_OFFER_STATES))
    ) or 0)


def version_changes(old: OfferVersion | None, new: OfferVersion) -> list[str]:
    """What changed from ``old`` to ``new``, named for people (``["price", "end date"]``)."""
    if old is None:
        return []
    changes: list[str] = []
    pairs = [
        (_("solution"), old.solution, new.solution),
        (_("price"), old.price_minor, new.price_minor),
        (_("start date"), old.start_date, new.start_date),
        (_("end date"), old.end_date, new.end_date),
        (_("deliverables"), old.deliverables, new.deliverables),
        (_("milestones"), [(m.title, m.due_date, m.share_percent) for m in old.milestones],
         [(m.title, m.due_date, m.share_percent) for m in new.milestones]),
    ]
    for label, before, after in pairs:
        if before != after:
            changes.append(label)
    return changes

