"""Step 10, release: the held funds go to the expert side once the company accepted the work (WORKFLOW.md §10).

    project: accepted -release-> completed

:func:`release_escrow` runs exactly once per project, whoever calls it (the
``release_project`` task after the company's approval, a retry of that task,
or an admin's "Release now"), thanks to three guards in this order:

1. the project row is locked (``SELECT … FOR UPDATE``) and re-read, so a
   concurrent caller waits for the first one's commit and then sees COMPLETED;
2. the state is checked: only an ACCEPTED project without an open dispute is
   released; a COMPLETED one returns ``None`` (already done), without error;
3. the ledger posting carries the deterministic key ``release:<contract id>``
   (UNIQUE in the ledger), the last line of defence.

One ledger transaction (kind ``escrow.released``) empties the escrow account:
escrow[contract] DEBIT held / expert_payable[expert] CREDIT expert price,
qc_payable[QC expert] CREDIT the QC fee (taken from the hub's share, when a QC
expert is active), hub_revenue CREDIT the rest. The parts always add up to
exactly what is held, and the release is refused when what is held is not the
contract's client price (an earlier partial movement needs a hub decision,
app/services/disputes.py). The payouts that follow are app/services/payouts.py.

Also here: the company's final invoice (:func:`invoice_pdf`) and the back
office's list of accepted projects still waiting for their release.

Every function works in the caller's transaction and never commits: tasks,
views and admin views call ``uow.commit()`` after it (``uow.rollback()`` on a
:class:`DomainError`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.documents import Party, hub_party
from app.documents.invoice import InvoiceData, render_invoice
from app.exceptions import NotFound, PermissionDenied, ValidationFailed
from app.extensions import db
from app.i18n import money
from app.models import (
    Contract,
    Dispute,
    DisputeStatus,
    LedgerAccount,
    LedgerAccountKind,
    LedgerEntry,
    LedgerReferenceKind,
    LedgerSide,
    LedgerTransaction,
    Project,
    ProjectStatus,
    QcAssignment,
    QcStatus,
    User,
)
from app.models.ledger import ESCROW_REFUND_PREFIX, ESCROW_RELEASE_PREFIX
from app.models.mixins import utcnow
from app.services import ledger, notifications, projects, uow
from app.services.ledger import Posting
from app.services.projects import Side
from app.services.transitions import transition
from app.workflows.contracts import PROJECT_WORKFLOW

logger = logging.getLogger(__name__)

RELEASE_KIND = "escrow.released"
EARNINGS_PATH = "/expert/earnings"
_NOT_FOUND = _l("This project does not exist or you are not one of its members.")


class ReleaseRefused(ValidationFailed):
    """The project cannot be released in its current state (not accepted yet, disputed, cancelled)."""

    status_code = 409


def release_key(contract_id: int) -> str:
    """The ledger idempotency key of a contract's release on acceptance (one per contract)."""
    return f"release:{contract_id}"


# The parts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReleaseParts:
    """How released money is split, in minor units of the contract's currency."""

    expert_minor: int
    qc_minor: int
    hub_minor: int

    def __post_init__(self) -> None:
        for name in ("expert_minor", "qc_minor", "hub_minor"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValidationFailed(_("Each part of a release is a whole, non-negative amount."))

    @property
    def total(self) -> int:
        """Everything released: expert + QC + hub."""
        return self.expert_minor + self.qc_minor + self.hub_minor


def active_qc(project: Project) -> QcAssignment | None:
    """The project's active quality-control assignment (the QC expert who is paid on release), if any."""
    return db.session.scalars(
        sa.select(QcAssignment)
        .where(QcAssignment.project_id == project.id, QcAssignment.status == QcStatus.ACTIVE)
        .order_by(QcAssignment.id.desc())
        .limit(1)
    ).first()


def escrow_account(contract: Contract) -> LedgerAccount | None:
    """The contract's escrow account, if it was ever funded (read only: nothing is created)."""
    return db.session.scalars(
        sa.select(LedgerAccount).where(
            LedgerAccount.kind == LedgerAccountKind.ESCROW,
            LedgerAccount.reference_kind == LedgerReferenceKind.CONTRACT,
            LedgerAccount.reference == contract.id,
            LedgerAccount.currency == contract.currency.upper(),
        )
    ).one_or_none()


def held_minor(project: Project) -> int:
    """What the hub holds for the project right now: the balance of the contract's escrow account."""
    acct = escrow_account(project.contract)
    return ledger.balance(acct) if acct is not None else 0


def default_parts(project: Project) -> ReleaseParts:
    """The split on acceptance: the expert price, the active QC expert's fee, the hub keeps the rest.

    The QC fee comes out of the hub's share (what is held minus the expert price).

    :raises ValidationFailed: what is held does not cover the expert price, or the QC fee is more
        than the hub's share.
    """
    contract = project.contract
    held = held_minor(project)
    expert = contract.expert_price_minor
    hub_share = held - expert
    if hub_share < 0:
        raise ValidationFailed(_(
            "The funds held (%(held)s) do not cover the expert price (%(expert)s); the hub must decide the split.",
            held=money(held, contract.currency), expert=money(expert, contract.currency)))
    qc = active_qc(project)
    qc_fee = qc.fee_minor if qc is not None else 0
    if qc_fee > hub_share:
        raise ValidationFailed(_(
            "The quality-control fee (%(qc)s) is more than the hub's share (%(hub)s); lower the fee first.",
            qc=money(qc_fee, contract.currency), hub=money(hub_share, contract.currency)))
    return ReleaseParts(expert_minor=expert, qc_minor=qc_fee, hub_minor=hub_share - qc_fee)


def release_entries(project: Project, parts: ReleaseParts) -> list[Posting]:
    """The ledger entries releasing ``parts``: escrow DEBIT the total; payables and hub revenue CREDIT.

    Zero parts get no entry. A QC part needs an active QC assignment (its expert is credited).

    :raises ValidationFailed: nothing to release, or a QC part without an active QC expert.
    """
    contract = project.contract
    currency = contract.currency
    if parts.total <= 0:
        raise ValidationFailed(_("There is nothing to release."))
    entries: list[Posting] = [
        (ledger.account(LedgerAccountKind.ESCROW, currency, contract.id), LedgerSide.DEBIT, parts.total),
    ]
    if parts.expert_minor:
        entries.append((ledger.account(LedgerAccountKind.EXPERT_PAYABLE, currency, contract.expert_id),
                        LedgerSide.CREDIT, parts.expert_minor))
    if parts.qc_minor:
        qc = active_qc(project)
        if qc is None:
            raise ValidationFailed(_("A quality-control part needs an active quality-control expert."))
        entries.append((ledger.account(LedgerAccountKind.QC_PAYABLE, currency, qc.expert_id),
                        LedgerSide.CREDIT, parts.qc_minor))
    if parts.hub_minor:
        entries.append((ledger.account(LedgerAccountKind.HUB_REVENUE, currency), LedgerSide.CREDIT, parts.hub_minor))
    return entries


# Releasing ----------------------------------------------------------------------------------


def _lock_project(project_id: int) -> Project | None:
    """The project, locked until commit and re-read (:func:`uow.locked`)."""
    return uow.locked(Project, project_id)


def _authorize(actor: User | None, project: Project) -> None:
    """The platform (``None``: the release task) and hub staff release; members learn 403, others 404."""
    if actor is None or actor.is_staff:
        return
    if projects.side_of(actor, project) is None:
        raise NotFound(str(_NOT_FOUND))
    raise PermissionDenied(_("Only Plasticonnect Hub releases the funds held."))


def open_dispute(project: Project) -> Dispute | None:
    """The project's open dispute, if any (the release is frozen while there is one)."""
    return db.session.scalars(
        sa.select(Dispute).where(Dispute.project_id == project.id, Dispute.status == DisputeStatus.OPEN).limit(1)
    ).first()


def release_escrow(project_id: int, *, actor: User | None) -> LedgerTransaction | None:
    """Release the held funds of an accepted project, exactly once.

    ACCEPTED -> COMPLETED. Who: the platform (``actor=None``, the ``release_project`` task) or hub staff.
    Effects: one ledger transaction ``release:<contract id>`` (kind ``escrow.released``) splitting
    what is held into the expert price, the QC fee and the hub's fee (:func:`default_parts`); the
    project completed with ``released_at`` and ``closed_at``; one payout per paid role
    (``payouts.create_payouts``, provider transfers queued after commit, bank transfers flagged to
    staff); the company's users, the expert and the QC expert notified (``escrow.released``, each
    with their own amount). A project already COMPLETED gives ``None`` and changes nothing.

    :raises NotFound: no such project, or the actor is not on it.
    :raises PermissionDenied: a member who is not hub staff.
    :raises ReleaseRefused: not accepted yet, disputed (or with an open dispute), or cancelled.
    :raises ValidationFailed: what is held differs from the client price, or the QC fee is more
        than the hub's share.
    """
    project = _lock_project(project_id)
    if project is None:
        raise NotFound(str(_NOT_FOUND))
    _authorize(actor, project)
    if project.status is ProjectStatus.COMPLETED:
        logger.info("Project %s is already completed; nothing to release", project.id)
        return None
    if project.status is ProjectStatus.DISPUTED or open_dispute(project) is not None:
        raise ReleaseRefused(_("A dispute is open on this project: the release waits for the hub's decision."))
    if project.status is not ProjectStatus.ACCEPTED:
        raise ReleaseRefused(_("The funds are released only after the company accepted the work (the project is "
                               "%(status)s).", status=project.status.value))
    contract = project.contract
    held = held_minor(project)
    if held != contract.client_price_minor:
        raise ValidationFailed(_(
            "The funds held (%(held)s) differ from the client price (%(price)s) after an earlier movement; "
            "the hub must decide how to release them.",
            held=money(held, contract.currency), price=money(contract.client_price_minor, contract.currency)))
    parts = default_parts(project)
    assert parts.total == held, "the release parts must add up to what is held"

    txn = ledger.post(
        release_key(contract.id), RELEASE_KIND, release_entries(project, parts),
        description=f"Contract {contract.reference} released", actor=actor,
    )
    now = utcnow()
    transition(project, PROJECT_WORKFLOW, ProjectStatus.COMPLETED, actor=actor, ledger_transaction=txn.id,
               expert_minor=parts.expert_minor, qc_minor=parts.qc_minor, hub_minor=parts.hub_minor)
    project.released_at = now
    project.closed_at = now

    from app.services import payouts

    payouts.create_payouts(project, parts, actor=actor)
    _notify_released(project, parts)
    projects.push_event(project.id, "project.status", {"status": ProjectStatus.COMPLETED.value})
    logger.info("Project %s released: expert %s, qc %s, hub %s (%s)", project.id, parts.expert_minor,
                parts.qc_minor, parts.hub_minor, contract.currency)
    return txn


def _notify_released(project: Project, parts: ReleaseParts) -> None:
    """Each side learns its own figure: the company what was held, each expert their own part."""
    contract = project.contract
    label = projects.project_label(project)
    for user in projects.member_users(project, side=Side.COMPANY):
        notifications.notify(user, "escrow.released", link=f"/projects/{project.id}", project=label,
                             amount=money(parts.total, contract.currency))
    notifications.notify(contract.expert.user, "escrow.released", link=EARNINGS_PATH, project=label,
                         amount=money(parts.expert_minor, contract.currency))
    qc = active_qc(project) if parts.qc_minor else None
    if qc is not None:
        notifications.notify(qc.expert.user, "escrow.released", link=EARNINGS_PATH, project=label,
                             amount=money(parts.qc_minor, contract.currency))


def awaiting_release(limit: int = 100) -> list[Project]:
    """Accepted projects whose release has not happened (yet), oldest acceptance first."""
    return list(db.session.scalars(
        sa.select(Project).where(Project.status == ProjectStatus.ACCEPTED)
        .order_by(sa.func.coalesce(Project.accepted_at, Project.updated_at), Project.id).limit(limit)
    ))


# The final invoice ----------------------------------------------------------------------------


@dataclass(frozen=True)
class EscrowMovements:
    """What went through a contract's escrow account, in minor units."""

    funded_minor: int
    released_minor: int
    refunded_minor: int
    released_at: datetime | None  # the last release posting


def escrow_movements(project: Project) -> EscrowMovements:
    """Funded, released and refunded totals of the project's escrow account (from the ledger)."""
    acct = escrow_account(project.contract)
    if acct is None:
        return EscrowMovements(0, 0, 0, None)
    debit = LedgerEntry.side == LedgerSide.DEBIT
    released = sa.and_(debit, LedgerTransaction.kind.like(ESCROW_RELEASE_PREFIX + "%"))
    refunded = sa.and_(debit, LedgerTransaction.kind.like(ESCROW_REFUND_PREFIX + "%"))
    row = db.session.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(sa.case((LedgerEntry.side == LedgerSide.CREDIT, LedgerEntry.amount_minor),
                                                 else_=0)), 0),
            sa.func.coalesce(sa.func.sum(sa.case((released, LedgerEntry.amount_minor), else_=0)), 0),
            sa.func.coalesce(sa.func.sum(sa.case((refunded, LedgerEntry.amount_minor), else_=0)), 0),
            sa.func.max(sa.case((released, LedgerTransaction.created_at), else_=None)),
        )
        .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
        .where(LedgerEntry.account_id == acct.id)
    ).one()
    released_at = row[3]
    if isinstance(released_at, str):  # SQLite returns MAX() over a CASE as text
        released_at = datetime.fromisoformat(released_at)
    if released_at is not None and released_at.tzinfo is None:
        released_at = released_at.replace(tzinfo=UTC)
    # A dispute's split is one "escrow.released.split" transaction that also credits the company's
    # refund (company_refunds): that part of its debit was refunded, not released.
    releases = (
        sa.select(LedgerEntry.transaction_id)
        .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
        .where(LedgerEntry.account_id == acct.id, released)
    )
    split_refund = int(db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.amount_minor), 0))
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(LedgerEntry.transaction_id.in_(releases), LedgerEntry.side == LedgerSide.CREDIT,
               LedgerAccount.kind == LedgerAccountKind.COMPANY_REFUNDS)
    ) or 0)
    return EscrowMovements(int(row[0]), int(row[1]) - split_refund, int(row[2]) + split_refund, released_at)


def invoice_pdf(project_id: int, *, actor: User) -> tuple[str, bytes]:
    """The company's final invoice of a completed project: (file name, PDF).

    Who: the company's users on the project. The hub sells, the company buys; the expert appears
    as "Expert <pseudonym>" and neither the expert price nor the fee split is shown.

    :raises NotFound: no such project, not the actor's company's, or nothing released yet.
    """
    project = db.session.get(Project, project_id)
    if project is None or projects.side_of(actor, project) is not Side.COMPANY:
        raise NotFound(str(_NOT_FOUND))
    moved = escrow_movements(project)
    if project.status is not ProjectStatus.COMPLETED or not moved.released_minor:
        raise NotFound(_("There is no invoice until the funds held are released."))
    contract = project.contract
    company = contract.company
    issued = project.released_at or moved.released_at or project.closed_at or utcnow()
    data = InvoiceData(
        invoice_number=f"INV-{contract.reference}",
        contract_reference=contract.reference,
        issued_at=issued.astimezone(UTC),
        seller=hub_party(current_app.config),
        buyer=Party(name=company.legal_name or company.name, address=company.address,
                    registration_number=company.registration_number, vat_id=company.vat_id),
        expert_pseudonym=contract.expert.pseudonym,
        job_title=str(contract.job),
        currency=contract.currency,
        client_price_minor=contract.client_price_minor,
        paid_minor=moved.funded_minor,
        released_minor=moved.released_minor,
        refunded_minor=moved.refunded_minor,
        accepted_at=project.accepted_at.astimezone(UTC) if project.accepted_at is not None else None,
    )
    return f"invoice-{contract.reference}.pdf", render_invoice(data)
