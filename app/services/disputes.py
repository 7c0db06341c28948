"""Disputes and cancellation: the hub decides where the held funds go (WORKFLOW.md §10, RELIABILITY.md §1).

    dispute: open -decide (release | refund | split)-> decided
    project: active | accepted (not released yet) -open_dispute-> disputed
             disputed -decide-> completed (something released) | cancelled (everything refunded)
             active -cancel_project (before any work)-> cancelled

The company's users or the project's expert open a dispute (:func:`open_dispute`),
optionally on a delivery; the project becomes DISPUTED, which freezes the release
(``app.services.release.release_escrow`` only releases an ACCEPTED project, and
:func:`release_frozen` says whether a dispute is open). Hub staff decide
(:func:`decide_dispute`): everything to the expert side as on acceptance
(RELEASE, ``release.default_parts``), everything back to the company (REFUND),
or a SPLIT whose parts — expert, QC expert, hub fee, refund — add up exactly to
what is held. One ledger transaction (key ``dispute:<id>``) empties the escrow;
payouts (``payouts.create_payouts``) and the refund (``refunds.create_refund``)
follow. Staff can also cancel a project before the work starts
(:func:`cancel_project`): everything held goes back to the company (key
``cancel:<contract id>``); the contract stays FUNDED, as history.

Every function works in the caller's transaction and never commits: views,
admin views and tasks call ``uow.commit()`` after it (``uow.rollback()`` on a
:class:`DomainError`). The project row is locked (``FOR UPDATE``) before any
check, so a dispute, an approval, a release and a decision never interleave.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app import policies
from app.exceptions import InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from app.extensions import db
from app.i18n import money
from app.models import (
    Delivery,
    Dispute,
    DisputeDecision,
    DisputeStatus,
    ExpertProfile,
    LedgerAccountKind,
    LedgerSide,
    LedgerTransaction,
    MilestoneStatus,
    Payout,
    ProgressUpdate,
    Project,
    ProjectMember,
    ProjectMilestone,
    ProjectRole,
    ProjectStatus,
    QcAssignment,
    Refund,
    User,
)
from app.models.mixins import utcnow
from app.services import audit, deliveries, ledger, notifications, payouts, projects, refunds, uow
from app.services import release as release_service
from app.services.projects import Side
from app.services.release import ReleaseParts
from app.services.transitions import transition
from app.workflows.contracts import PROJECT_WORKFLOW
from app.workflows.delivery import DISPUTE_WORKFLOW

logger = logging.getLogger(__name__)

MAX_REASON_CHARS = 5000
DISPUTABLE = (ProjectStatus.ACTIVE, ProjectStatus.ACCEPTED)
RELEASED_KIND = "escrow.released.split"
REFUNDED_KIND = "escrow.refunded"
CANCEL_KIND = "escrow.refunded.cancel"
ADMIN_DISPUTE_PATH = "/admin/disputes/{id}"
PROJECT_DISPUTES_PATH = "/projects/{id}/disputes"

_PROJECT_NOT_FOUND = _l("This project does not exist or you are not one of its members.")


def dispute_key(dispute_id: int) -> str:
    """The ledger idempotency key of a dispute's decision."""
    return f"dispute:{dispute_id}"


def cancel_key(contract_id: int) -> str:
    """The ledger idempotency key of a cancellation's full refund."""
    return f"cancel:{contract_id}"


# Reading ---------------------------------------------------------------------------------------


def held_minor(project: Project) -> int:
    """What the hub holds for the project now: its contract's escrow balance."""
    return release_service.held_minor(project)


def open_dispute_of(project: Project) -> Dispute | None:
    """The project's open dispute, if any (there is at most one)."""
    return db.session.scalar(
        sa.select(Dispute).where(Dispute.project_id == project.id, Dispute.status == DisputeStatus.OPEN)
        .order_by(Dispute.id.desc()).limit(1)
    )


def release_frozen(project: Project) -> bool:
    """Whether the release of the project's funds is frozen by an open dispute (``release_escrow`` asks)."""
    return project.status is ProjectStatus.DISPUTED or open_dispute_of(project) is not None


def active_qc(project: Project) -> QcAssignment | None:
    """The project's active quality-control assignment (the one a QC part is paid to)."""
    return release_service.active_qc(project)


def _lock_project(project_id: int) -> Project | None:
    """The project, locked until commit and re-read (:func:`uow.locked`)."""
    return uow.locked(Project, project_id)


def _reason(reason: str, *, missing: str) -> str:
    text = (reason or "").replace("\r\n", "\n").strip()
    if not text:
        raise ValidationFailed(missing)
    if len(text) > MAX_REASON_CHARS:
        raise ValidationFailed(_("Keep the reason under %(max)d characters; it has %(n)d.", max=MAX_REASON_CHARS,
                                 n=len(text)))
    return text


def _label(project: Project) -> str:
    return projects.project_label(project)


def _party_role(actor: User, project: Project) -> ProjectRole | None:
    """COMPANY or EXPERT when ``actor`` is a party who may dispute; None for the hub, QC and everyone else."""
    if actor.is_staff:
        return None
    role = projects.role_of(actor, project)
    return role if role in (ProjectRole.COMPANY, ProjectRole.EXPERT) else None


def why_not_disputable(project: Project, actor: User) -> str | None:
    """Why ``actor`` cannot open a dispute on ``project`` now, in words; None when they can."""
    if _party_role(actor, project) is None:
        return _("Only the company and the expert of a project can open a dispute.")
    if open_dispute_of(project) is not None or project.status is ProjectStatus.DISPUTED:
        return _("A dispute is already open on this project; Plasticonnect Hub is looking into it.")
    if project.released_at is not None:
        return _("The held funds of this project are already released; a dispute can no longer be opened.")
    if project.status not in DISPUTABLE:
        return _("This project is closed; a dispute can no longer be opened.")
    return None


# Opening ---------------------------------------------------------------------------------------


def open_dispute(project_id: int, *, actor: User, reason: str, delivery_id: int | None = None) -> Dispute:
    """Open a dispute on a project (optionally on one of its deliveries); the release freezes.

    Project ACTIVE | ACCEPTED (funds not released yet) -> DISPUTED, audited
    ``project.disputed``; the dispute is created OPEN (audited ``dispute.open``).
    Who: the project's company users and its expert (not the QC expert, not the
    hub). Checks run under the project's row lock, so a release that runs at the
    same time either happened first (refused here) or finds the project disputed.
    Effects: staff and the other members of both sides are told
    (``dispute.opened``); the channel announces it.

    :raises NotFound: no such project, or the actor is not on it (or no such delivery on it).
    :raises PermissionDenied: the actor is the hub or the QC expert.
    :raises ValidationFailed: no reason, or one that is too long.
    :raises InvalidTransition: a dispute is already open, the funds are released, or the project is closed.
    """
    project = _lock_project(project_id)
    if project is None or projects.side_of(actor, project) is None:
        raise NotFound(str(_PROJECT_NOT_FOUND))
    role = _party_role(actor, project)
    if role is None:
        raise PermissionDenied(_("Only the company and the expert of a project can open a dispute."))
    why = why_not_disputable(project, actor)
    if why is not None:
        raise InvalidTransition(PROJECT_WORKFLOW.name, project.status, ProjectStatus.DISPUTED, why)
    text = _reason(reason, missing=_("Explain what the dispute is about: Plasticonnect Hub reads it to decide."))
    delivery = None
    if delivery_id is not None:
        delivery = db.session.get(Delivery, delivery_id)
        company_blind = role is ProjectRole.COMPANY and delivery is not None and \
            delivery.status not in deliveries.COMPANY_VISIBLE  # not yet forwarded: it does not exist for them
        if delivery is None or delivery.project_id != project.id or company_blind:
            raise NotFound(_("This delivery does not exist on this project."))
    side = "company" if role is ProjectRole.COMPANY else "expert"
    dispute = Dispute(project_id=project.id, delivery_id=delivery.id if delivery else None, opened_by_id=actor.id,
                      opened_side=side, reason=text, opened_at=utcnow(), status=DisputeStatus.OPEN)
    db.session.add(dispute)
    db.session.flush()
    audit.record("dispute.open", actor=actor, entity=Dispute.__tablename__, entity_id=dispute.id,
                 to_state=DisputeStatus.OPEN.value,
                 data={"project_id": project.id, "delivery_id": dispute.delivery_id, "side": side})
    transition(project, PROJECT_WORKFLOW, ProjectStatus.DISPUTED, actor=actor, dispute_id=dispute.id)
    label = _label(project)
    notifications.notify_staff("dispute.opened", link=ADMIN_DISPUTE_PATH.format(id=dispute.id), project=label,
                               reason=text)
    for user in _parties(project):
        if user.id != actor.id:
            notifications.notify(user, "dispute.opened", link=PROJECT_DISPUTES_PATH.format(id=project.id),
                                 project=label, reason=text)
    projects.system_message(project, "dispute_opened")
    return dispute


def _parties(project: Project) -> list[User]:
    """The company's users and the expert on the project (the QC expert and the hub are not parties)."""
    rows = db.session.execute(
        sa.select(ProjectMember.role, User).join(User, User.id == ProjectMember.user_id)
        .where(ProjectMember.project_id == project.id, ProjectMember.removed_at.is_(None),
               ProjectMember.role.in_([ProjectRole.COMPANY, ProjectRole.EXPERT]), User.suspended_at.is_(None))
        .order_by(ProjectMember.id)
    ).all()
    return [user for _role, user in rows]


# Deciding --------------------------------------------------------------------------------------


def _hub_dispute(dispute_id: int, actor: User) -> Dispute:
    """The dispute for hub staff; NotFound for anyone not on its project, PermissionDenied for its members."""
    dispute = db.session.get(Dispute, dispute_id)
    if dispute is None:
        raise NotFound(_("This dispute does not exist."))
    if not policies.is_staff(actor):
        if projects.side_of(actor, dispute.project) is None:
            raise NotFound(_("This dispute does not exist."))
        raise PermissionDenied(_("Only Plasticonnect Hub decides a dispute."))
    return dispute


def _parts_for(decision: DisputeDecision, project: Project, held: int, release: ReleaseParts | None,
               refund_minor: int) -> tuple[ReleaseParts, int]:
    """The released parts and the refund of a decision, checked against what is held."""
    currency = project.contract.currency
    if decision is DisputeDecision.RELEASE:
        return release_service.default_parts(project), 0
    if decision is DisputeDecision.REFUND:
        return ReleaseParts(expert_minor=0, qc_minor=0, hub_minor=0), held
    if release is None:
        raise ValidationFailed(_("A split needs the amounts for the expert, the QC expert, the hub and the refund."))
    amounts = (release.expert_minor, release.qc_minor, release.hub_minor, refund_minor)
    if any(isinstance(a, bool) or not isinstance(a, int) for a in amounts):
        raise ValidationFailed(_("Amounts are whole minor units (cents)."))
    if any(a < 0 for a in amounts):
        raise ValidationFailed(_("No part of a split can be negative."))
    total = sum(amounts)
    if total != held:
        difference = total - held
        if difference > 0:
            raise ValidationFailed(_(
                "The parts must add up to the %(held)s held: they add up to %(total)s, %(diff)s too much.",
                held=money(held, currency), total=money(total, currency), diff=money(difference, currency)))
        raise ValidationFailed(_(
            "The parts must add up to the %(held)s held: they add up to %(total)s, %(diff)s too little.",
            held=money(held, currency), total=money(total, currency), diff=money(-difference, currency)))
    if release.qc_minor and active_qc(project) is None:
        raise ValidationFailed(_("This project has no active quality-control expert to pay a QC part to."))
    return ReleaseParts(expert_minor=release.expert_minor, qc_minor=release.qc_minor,
                                        hub_minor=release.hub_minor), refund_minor


def decide_dispute(dispute_id: int, *, actor: User, decision: DisputeDecision, reason: str,
                   release: ReleaseParts | None = None, refund_minor: int = 0) -> Dispute:
    """Decide an open dispute: where the held funds go, with the reason.

    Dispute OPEN -> DECIDED (audited ``dispute.decided``), project DISPUTED ->
    COMPLETED when any part is released, else CANCELLED (audited). Who: hub
    staff. RELEASE uses ``release.default_parts`` (expert price, the active QC
    fee, the rest to the hub); REFUND gives everything held back; SPLIT takes
    the given ``release`` parts and ``refund_minor``, which must add up exactly
    to what is held. Effects: one ledger transaction (key ``dispute:<id>``,
    kind ``escrow.released.split`` when anything is released, else
    ``escrow.refunded``) debits the escrow by everything held and credits
    expert_payable, qc_payable, hub_revenue and company_refunds with the parts;
    payouts are created for the expert and QC parts (``payouts.create_payouts``)
    and a refund for the refund part (``refunds.create_refund``, key
    ``refund-dispute-<id>``); the decision, amounts, reason, who and when are
    kept on the dispute; the parties are told (``dispute.decided``, the
    decision in words); the channel announces it.

    :raises NotFound: no such dispute, or the actor is not on its project.
    :raises PermissionDenied: the actor is a member but not hub staff.
    :raises ValidationFailed: no reason; a split that does not add up (the
        message gives the held amount and the difference), a negative part, a QC
        part without an active QC expert; or nothing is held.
    :raises InvalidTransition: the dispute is already decided.
    """
    project = _lock_project(_hub_dispute(dispute_id, actor).project_id)
    assert project is not None
    dispute = uow.locked(Dispute, dispute_id)
    assert dispute is not None  # disputes are never deleted
    text = _reason(reason, missing=_("Give the reason for the decision: both parties read it."))
    decision = DisputeDecision(decision)
    if dispute.status is not DisputeStatus.OPEN:
        raise InvalidTransition(DISPUTE_WORKFLOW.name, dispute.status, DisputeStatus.DECIDED,
                                _("This dispute is already decided."))
    if project.status is not ProjectStatus.DISPUTED:
        raise InvalidTransition(PROJECT_WORKFLOW.name, project.status, ProjectStatus.COMPLETED,
                                _("This project is not disputed any more."))
    held = held_minor(project)
    if held <= 0:
        raise ValidationFailed(_("Nothing is held for this project; there is nothing to decide."))
    parts, refund = _parts_for(decision, project, held, release, refund_minor)
    released = parts.expert_minor + parts.qc_minor + parts.hub_minor
    if min(parts.expert_minor, parts.qc_minor, parts.hub_minor, refund) < 0 or released + refund != held:
        # The default parts too must empty the escrow exactly, with nothing negative.
        raise ValidationFailed(_("The parts (%(released)s released, %(refund)s refunded) do not add up to the "
                                 "%(held)s held; decide a split instead.",
                                 released=money(released, project.contract.currency),
                                 refund=money(refund, project.contract.currency),
                                 held=money(held, project.contract.currency)))
    contract = project.contract
    currency = contract.currency
    qc = active_qc(project) if parts.qc_minor else None
    escrow_account = ledger.account(LedgerAccountKind.ESCROW, currency, contract.id)
    entries: list[ledger.Posting] = [(escrow_account, LedgerSide.DEBIT, held)]
    if parts.expert_minor:
        entries.append((ledger.account(LedgerAccountKind.EXPERT_PAYABLE, currency, contract.expert_id),
                        LedgerSide.CREDIT, parts.expert_minor))
    if parts.qc_minor:
        assert qc is not None
        entries.append((ledger.account(LedgerAccountKind.QC_PAYABLE, currency, qc.expert_id),
                        LedgerSide.CREDIT, parts.qc_minor))
    if parts.hub_minor:
        entries.append((ledger.account(LedgerAccountKind.HUB_REVENUE, currency), LedgerSide.CREDIT, parts.hub_minor))
    if refund:
        entries.append((ledger.account(LedgerAccountKind.COMPANY_REFUNDS, currency, contract.company_id),
                        LedgerSide.CREDIT, refund))
    ledger.post(dispute_key(dispute.id), RELEASED_KIND if released else REFUNDED_KIND, entries,
                description=f"Dispute {dispute.id} of contract {contract.reference} decided: {decision.value}",
                actor=actor)

    now = utcnow()
    amounts = {"expert_minor": parts.expert_minor, "qc_minor": parts.qc_minor, "hub_minor": parts.hub_minor,
               "refund_minor": refund, "held_minor": held}
    transition(dispute, DISPUTE_WORKFLOW, DisputeStatus.DECIDED, actor=actor, decision=decision.value,
               reason=text, **amounts)
    dispute.decision = decision
    dispute.released_minor = released
    dispute.refunded_minor = refund
    dispute.decision_reason = text
    dispute.decided_by_id = actor.id
    dispute.decided_at = now
    target = ProjectStatus.COMPLETED if released else ProjectStatus.CANCELLED
    transition(project, PROJECT_WORKFLOW, target, actor=actor, dispute_id=dispute.id, decision=decision.value,
               **amounts)
    if released:
        project.released_at = now
    project.closed_at = now
    project.status_note = text
    db.session.flush()

    if parts.expert_minor or parts.qc_minor:
        payouts.create_payouts(project, parts, actor=actor)
    if refund:
        refunds.create_refund(project, refund, reason=text, actor=actor, key=f"refund-dispute-{dispute.id}")
    _tell_decided(project, dispute, parts, refund, text)
    projects.system_message(project, "dispute_decided")
    return dispute


def decision_text(decision: DisputeDecision, parts: ReleaseParts, refund_minor: int, currency: str, *,
                  side: Side) -> str:
    """The decision in words for one side (the company never reads the expert's price, nor the expert the fee)."""
    released = parts.expert_minor + parts.qc_minor + parts.hub_minor
    if side is Side.COMPANY:
        if decision is DisputeDecision.RELEASE:
            return _("the held funds (%(amount)s) are released to the expert", amount=money(released, currency))
        if decision is DisputeDecision.REFUND:
            return _("everything held (%(amount)s) is refunded to your company", amount=money(refund_minor, currency))
        return _("%(refund)s is refunded to your company and %(released)s is released",
                 refund=money(refund_minor, currency), released=money(released, currency))
    if side is Side.EXPERT:
        if decision is DisputeDecision.REFUND:
            return _("the held funds are refunded to the company; nothing is paid out for this project")
        if not parts.expert_minor:
            return _("nothing is paid to you for this project")
        if decision is DisputeDecision.RELEASE:
            return _("the funds are released: you are paid %(amount)s", amount=money(parts.expert_minor, currency))
        return _("you are paid %(amount)s; the rest goes back to the company",
                 amount=money(parts.expert_minor, currency))
    return _("%(decision)s: expert %(expert)s, QC %(qc)s, hub %(hub)s, refund %(refund)s",
             decision=decision.value, expert=money(parts.expert_minor, currency),
             qc=money(parts.qc_minor, currency), hub=money(parts.hub_minor, currency),
             refund=money(refund_minor, currency))


def _tell_decided(project: Project, dispute: Dispute, parts: ReleaseParts, refund: int, reason: str) -> None:
    assert dispute.decision is not None
    currency = project.contract.currency
    label = _label(project)
    link = PROJECT_DISPUTES_PATH.format(id=project.id)
    for user in _parties(project):
        side = Side.COMPANY if projects.role_of(user, project) is ProjectRole.COMPANY else Side.EXPERT
        with force_locale(user.locale or "en"):
            text = decision_text(dispute.decision, parts, refund, currency, side=side)
        notifications.notify(user, "dispute.decided", link=link, project=label, decision=text, reason=reason)


# Cancelling ------------------------------------------------------------------------------------


def cancel_blockers(project: Project) -> list[str]:
    """Why the project cannot be cancelled with a full refund, in words (empty: it can)."""
    blockers: list[str] = []
    if project.status is not ProjectStatus.ACTIVE:
        blockers.append(_("The project is not active."))
    if db.session.scalar(sa.select(sa.exists().where(Delivery.project_id == project.id))):
        blockers.append(_("The expert has submitted a delivery."))
    if db.session.scalar(sa.select(sa.exists().where(ProgressUpdate.project_id == project.id))):
        blockers.append(_("The expert has posted progress."))
    if db.session.scalar(sa.select(sa.exists().where(ProjectMilestone.project_id == project.id,
                                                     ProjectMilestone.status != MilestoneStatus.PLANNED))):
        blockers.append(_("A milestone has started."))
    return blockers


def cancel_project(project_id: int, *, actor: User, reason: str) -> Project:
    """Cancel a project before the work starts and refund everything held to the company.

    ACTIVE -> CANCELLED, audited ``project.cancelled``. Who: hub staff. Only
    before any work: no delivery, no progress update, every milestone still
    planned. Effects: one ledger transaction escrow / company_refunds for the
    whole held amount (key ``cancel:<contract id>``, kind
    ``escrow.refunded.cancel``), a refund (``refunds.create_refund``, key
    ``refund-cancel-<contract id>``), ``closed_at`` and the reason on the
    project; the contract stays FUNDED (its history). Every member is told
    (``project.cancelled``); the channel announces it.

    :raises NotFound: no such project, or the actor is not on it.
    :raises PermissionDenied: the actor is a member but not hub staff.
    :raises ValidationFailed: no reason, work has started, or nothing is held.
    :raises InvalidTransition: the project is not active.
    """
    project = _lock_project(project_id)
    if project is None or projects.side_of(actor, project) is None:
        raise NotFound(str(_PROJECT_NOT_FOUND))
    if not policies.is_staff(actor):
        raise PermissionDenied(_("Only Plasticonnect Hub cancels a project."))
    text = _reason(reason, missing=_("Give the reason for the cancellation: the company and the expert read it."))
    if project.status is not ProjectStatus.ACTIVE:
        raise InvalidTransition(PROJECT_WORKFLOW.name, project.status, ProjectStatus.CANCELLED,
                                _("Only an active project can be cancelled; this one is %(status)s.",
                                  status=project.status.value))
    blockers = cancel_blockers(project)
    if blockers:
        raise ValidationFailed(_("The work has started, so the project cannot be cancelled with a full refund: "
                                 "%(why)s Open a dispute decision instead.", why=" ".join(blockers)))
    contract = project.contract
    held = held_minor(project)
    if held <= 0:
        raise ValidationFailed(_("Nothing is held for this project; there is nothing to refund."))
    ledger.post(
        cancel_key(contract.id), CANCEL_KIND,
        [(ledger.account(LedgerAccountKind.ESCROW, contract.currency, contract.id), LedgerSide.DEBIT, held),
         (ledger.account(LedgerAccountKind.COMPANY_REFUNDS, contract.currency, contract.company_id),
          LedgerSide.CREDIT, held)],
        description=f"Project of contract {contract.reference} cancelled before the work started",
        actor=actor,
    )
    transition(project, PROJECT_WORKFLOW, ProjectStatus.CANCELLED, actor=actor, reason=text, refund_minor=held)
    project.closed_at = utcnow()
    project.status_note = text
    db.session.flush()
    refunds.create_refund(project, held, reason=text, actor=actor, key=f"refund-cancel-{contract.id}")
    label = _label(project)
    for user in projects.member_users(project):
        if not user.is_staff:
            notifications.notify(user, "project.cancelled", link=PROJECT_DISPUTES_PATH.format(id=project.id),
                                 project=label, reason=text)
    projects.system_message(project, "project_cancelled")
    return project


# Queries for pages -----------------------------------------------------------------------------


def projects_without_work() -> sa.Select[Project]:
    """Active projects where no work has started (cancellable with a full refund), oldest first."""
    return (
        sa.select(Project)
        .where(
            Project.status == ProjectStatus.ACTIVE,
            ~sa.exists().where(Delivery.project_id == Project.id),
            ~sa.exists().where(ProgressUpdate.project_id == Project.id),
            ~sa.exists().where(ProjectMilestone.project_id == Project.id,
                               ProjectMilestone.status != MilestoneStatus.PLANNED),
        )
        .order_by(Project.created_at, Project.id)
    )


def dispute_list(*, status: DisputeStatus | None = None) -> sa.Select[Dispute]:
    """The back office's disputes: open ones first, oldest (longest waiting) first; then the latest decided."""
    order = sa.case((Dispute.status == DisputeStatus.OPEN, 0), else_=1)
    query = sa.select(Dispute).order_by(
        order, sa.case((Dispute.status == DisputeStatus.OPEN, Dispute.opened_at), else_=None),
        Dispute.decided_at.desc(), Dispute.id.desc())
    if status is not None:
        query = query.where(Dispute.status == status)
    return query


def decision_transaction(dispute: Dispute) -> LedgerTransaction | None:
    """The ledger transaction of a decided dispute."""
    return db.session.scalar(sa.select(LedgerTransaction).where(
        LedgerTransaction.idempotency_key == dispute_key(dispute.id)))


@dataclass(frozen=True)
class DisputeLine:
    """One dispute as a member of the project reads it."""

    dispute: Dispute
    opened_by: str  # "Expert <pseudonym>" or the company user's name
    mine: bool
    delivery_number: int | None
    paid_to_me_minor: int | None  # the expert side: what the decision pays the reader


@dataclass(frozen=True)
class DisputesPage:
    """The workspace's disputes page: the disputes, the refunds (company and hub) and whether one can be opened."""

    project: Project
    side: Side
    disputes: list[DisputeLine]
    refunds: list[Refund]
    deliveries: list[Delivery]
    can_open: bool
    why_not: str | None
    currency: str

    @property
    def open(self) -> DisputeLine | None:
        return next((d for d in self.disputes if d.dispute.status is DisputeStatus.OPEN), None)


def disputes_page(project_id: int, *, actor: User) -> DisputesPage:
    """What ``actor`` reads on the project's disputes page (newest dispute first).

    :raises NotFound: no such project, or the actor is not on it.
    """
    project, side = projects.load_project(project_id, actor=actor)
    rows = list(db.session.scalars(sa.select(Dispute).where(Dispute.project_id == project.id)
                                   .order_by(Dispute.id.desc())))
    labels = projects.author_labels(project, [d.opened_by_id for d in rows])
    numbers: dict[int, int] = {delivery_id: number for delivery_id, number in db.session.execute(
        sa.select(Delivery.id, Delivery.number).where(Delivery.project_id == project.id))}
    paid: int | None = None
    if side is Side.EXPERT:
        paid = int(db.session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(Payout.amount_minor), 0))
            .join(ExpertProfile, ExpertProfile.id == Payout.expert_id)
            .where(Payout.project_id == project.id, ExpertProfile.user_id == actor.id)
        ) or 0)
    lines = [DisputeLine(
        dispute=d, opened_by=labels.get(d.opened_by_id, ("", ""))[0], mine=d.opened_by_id == actor.id,
        delivery_number=numbers.get(d.delivery_id) if d.delivery_id is not None else None,
        paid_to_me_minor=paid if d.status is DisputeStatus.DECIDED else None,
    ) for d in rows]
    why = why_not_disputable(project, actor)
    query = sa.select(Delivery).where(Delivery.project_id == project.id).order_by(Delivery.number.desc())
    if side is Side.COMPANY:  # a delivery the hub has not forwarded does not exist for the company
        query = query.where(Delivery.status.in_(sorted(deliveries.COMPANY_VISIBLE)))
    shown = list(db.session.scalars(query))
    return DisputesPage(
        project=project, side=side, disputes=lines,
        refunds=refunds.refunds_of(project) if side is not Side.EXPERT else [],
        deliveries=shown, can_open=why is None, why_not=why, currency=project.contract.currency,
    )


def summary(dispute: Dispute) -> dict[str, Any]:
    """The figures of a decided dispute for the back office (from its ledger transaction)."""
    txn = decision_transaction(dispute)
    parts: dict[str, int] = {}
    if txn is not None:
        for entry in txn.entries:
            if entry.side is LedgerSide.CREDIT:
                kind = entry.account.kind.value
                parts[kind] = parts.get(kind, 0) + entry.amount_minor
    return {"transaction": txn, "parts": parts}
