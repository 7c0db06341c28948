"""Refunds: money owed back to a company leaving the hub (WORKFLOW.md §10, RELIABILITY.md §1).

    refund: pending -send (provider refund | bank transfer confirmed by an admin)-> sent
            pending -fail (five failed attempts, or a refusal no retry can fix)-> failed -retry-> pending

A refund is *decided* elsewhere — a dispute decided for the company, or a
project cancelled before the work started (app/services/disputes.py) — by a
ledger transaction escrow / company_refunds[company]. :func:`create_refund`
then records what must leave the hub, once per business event (the caller's
deterministic ``key``, also the provider's idempotency key):

- **PROVIDER** when the contract was paid by card, the payment intent is known
  and the provider is configured: after commit the task
  ``app.tasks.refunds.send_refund`` refunds the payment intent
  (:func:`send_refund`), posting company_refunds / provider_clearing
  (``refund.sent``, the provider's refund id as external reference).
- **BANK** otherwise: staff are told (``payout.attention``) and an admin confirms
  the transfer with its bank reference (:func:`mark_bank_refund_sent`),
  posting company_refunds / bank_clearing.

Every function works in the caller's transaction and never commits: views,
admin views and tasks call ``uow.commit()`` after it (``uow.rollback()`` on a
:class:`DomainError`). :func:`send_refund` is the exception to "raise on
failure": a provider error is recorded on the refund (attempts, last error) and
returned, so that the task can commit the attempt.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from flask_babel import force_locale
from flask_babel import gettext as _

from app import policies
from app.exceptions import InvalidTransition, NotFound, ValidationFailed
from app.extensions import db
from app.i18n import money
from app.integrations.stripe_gateway import PaymentGatewayError, get_gateway
from app.models import (
    CheckoutPurpose,
    CheckoutSession,
    Contract,
    FundingMethod,
    LedgerAccountKind,
    LedgerSide,
    LedgerTransaction,
    PayoutMethod,
    Project,
    Refund,
    RefundStatus,
    User,
)
from app.models.mixins import utcnow
from app.services import audit, ledger, notifications, projects, uow
from app.services.projects import Side
from app.services.transitions import transition
from app.workflows.delivery import REFUND_WORKFLOW

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
MAX_REFERENCE_CHARS = 140
SENT_KIND = "refund.sent"
ADMIN_REFUNDS_PATH = "/admin/disputes/refunds"
PROJECT_DISPUTES_PATH = "/projects/{id}/disputes"
OUTSTANDING = (RefundStatus.PENDING, RefundStatus.FAILED)


def sent_key(refund_id: int) -> str:
    """The ledger idempotency key of a refund leaving the hub (one per refund, whatever the method)."""
    return f"refund.sent:{refund_id}"


def payment_intent_of(contract: Contract) -> str | None:
    """The provider's payment intent that funded ``contract`` by card, if any.

    Read from the paid checkout session, or from the funding ledger transaction's
    external reference (the webhook stores the intent in both).
    """
    intent = db.session.scalar(
        sa.select(CheckoutSession.payment_intent).where(
            CheckoutSession.purpose == CheckoutPurpose.CONTRACT_FUNDING,
            CheckoutSession.reference_id == contract.id,
            CheckoutSession.paid_at.is_not(None),
            CheckoutSession.payment_intent.is_not(None),
        ).order_by(CheckoutSession.id.desc()).limit(1)
    )
    if intent:
        return str(intent)
    from app.services.escrow import funded_key

    ref = db.session.scalar(
        sa.select(LedgerTransaction.external_ref).where(LedgerTransaction.idempotency_key == funded_key(contract.id))
    )
    return str(ref) if ref and str(ref).startswith("pi_") else None


def outstanding_minor(company_id: int, currency: str, *, excluding: int | None = None) -> int:
    """What the company's pending and failed refunds in ``currency`` still have to pay out."""
    query = sa.select(sa.func.coalesce(sa.func.sum(Refund.amount_minor), 0)).where(
        Refund.company_id == company_id, Refund.currency == currency.upper(), Refund.status.in_(OUTSTANDING))
    if excluding is not None:
        query = query.where(Refund.id != excluding)
    return int(db.session.scalar(query) or 0)


def _owed_minor(company_id: int, currency: str) -> int:
    """The company_refunds balance: refunds decided and not yet sent."""
    return ledger.balance(ledger.account(LedgerAccountKind.COMPANY_REFUNDS, currency, company_id))


def _label(project: Project) -> str:
    return projects.project_label(project)


def create_refund(project: Project, amount_minor: int, *, reason: str, actor: User | None,
                  key: str | None = None) -> Refund:
    """Record a refund the company is owed (the caller has posted escrow / company_refunds).

    -> PENDING, audited ``refund.pending``. Who: the dispute and cancellation
    services, on the hub's decision (``actor``). ``key`` names the business
    event (``refund-dispute-<id>``, ``refund-cancel-<contract id>``; default
    ``refund-<project id>-<n>``); the same key again returns the refund already
    recorded. Method PROVIDER when the contract was paid by card with a known
    payment intent and the provider is configured (the refund is sent after
    commit by ``app.tasks.refunds.send_refund``), else BANK (staff are told,
    ``payout.attention``, to make the transfer and confirm it).

    :raises ValidationFailed: a non-positive amount, more than the company is
        owed (company_refunds minus the refunds not sent yet), or the key already
        used for another amount or project.
    """
    contract = project.contract
    currency = contract.currency.upper()
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int) or amount_minor <= 0:
        raise ValidationFailed(_("A refund must be a positive amount."))
    if key is None:
        count = db.session.scalar(sa.select(sa.func.count()).select_from(Refund).where(
            Refund.project_id == project.id)) or 0
        key = f"refund-{project.id}-{count + 1}"
    existing = db.session.scalar(sa.select(Refund).where(Refund.idempotency_key == key))
    if existing is not None:
        if existing.project_id != project.id or existing.amount_minor != amount_minor:
            raise ValidationFailed(_("This refund was already recorded with another amount."))
        return existing
    owed = _owed_minor(project.company_id, currency)
    pending = outstanding_minor(project.company_id, currency)
    if amount_minor > owed - pending:
        raise ValidationFailed(_("The company is owed %(owed)s that is not being refunded yet; a refund of "
                                 "%(amount)s is more than that.", owed=money(max(owed - pending, 0), currency),
                                 amount=money(amount_minor, currency)))
    intent = payment_intent_of(contract) if contract.funding_method is FundingMethod.CARD else None
    method = PayoutMethod.PROVIDER if intent and get_gateway() is not None else PayoutMethod.BANK
    refund = Refund(
        project_id=project.id, company_id=project.company_id, amount_minor=amount_minor, currency=currency,
        method=method, status=RefundStatus.PENDING, reason=(reason or "").strip(), idempotency_key=key,
        created_at=utcnow(),
    )
    db.session.add(refund)
    db.session.flush()
    audit.record("refund.pending", actor=actor, entity=Refund.__tablename__, entity_id=refund.id,
                 to_state=RefundStatus.PENDING.value,
                 data={"project_id": project.id, "amount_minor": amount_minor, "currency": currency,
                       "method": method.value, "key": key})
    if method is PayoutMethod.PROVIDER:
        _enqueue_after_commit(refund.id)
    else:
        notifications.notify_staff("payout.attention", link=ADMIN_REFUNDS_PATH, amount=money(amount_minor, currency),
                                   project=_label(project), reason=_("bank refund to make"))
    return refund


def _enqueue_after_commit(refund_id: int) -> None:
    from app.tasks.refunds import enqueue_send

    uow.after_commit(enqueue_send, refund_id)


def _lock(refund_id: int) -> Refund | None:
    return uow.locked(Refund, refund_id)


def send_refund(refund_id: int) -> Refund:
    """Refund a PROVIDER refund at the payment provider, exactly once (task-safe).

    PENDING -> SENT, audited ``refund.sent``. Who: the task (no actor). The row
    is locked; a refund already sent, failed, or to be made by bank is returned
    unchanged. The provider is called with the refund's idempotency key, so a
    retry after an ambiguous failure gets the same provider refund. On success:
    ledger company_refunds / provider_clearing (key ``refund.sent:<id>``,
    the provider's refund id as external reference), the company's users are
    told (``refund.sent``). On a provider error the attempt is recorded
    (``attempts``, ``last_error``); after MAX_ATTEMPTS attempts, or at once
    when no retry can help, the refund becomes FAILED and staff are told
    (``payout.attention``). The caller commits either way.

    :raises NotFound: no such refund.
    """
    refund = _lock(refund_id)
    if refund is None:
        raise NotFound(_("This refund does not exist."))
    if refund.status is not RefundStatus.PENDING or refund.method is not PayoutMethod.PROVIDER:
        return refund
    project = refund.project
    contract = project.contract
    refund.attempts += 1
    gateway = get_gateway()
    intent = payment_intent_of(contract)
    try:
        if gateway is None:
            raise PaymentGatewayError("card payments are not configured; the refund cannot be sent")
        if intent is None:
            raise PaymentGatewayError("the card payment of this contract is not known")
        provider_id = gateway.create_refund(payment_intent=intent, amount_minor=refund.amount_minor,
                                            idempotency_key=refund.idempotency_key)
    except PaymentGatewayError as exc:
        retryable = bool(exc.retryable)
        refund.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        logger.warning("Refund %s attempt %s failed: %s", refund.id, refund.attempts, refund.last_error)
        if refund.attempts >= MAX_ATTEMPTS or not retryable:
            transition(refund, REFUND_WORKFLOW, RefundStatus.FAILED, actor=None, attempts=refund.attempts,
                       error=refund.last_error)
            notifications.notify_staff("payout.attention", link=ADMIN_REFUNDS_PATH,
                                       amount=money(refund.amount_minor, refund.currency), project=_label(project),
                                       reason=refund.last_error)
        return refund
    _settle(refund, clearing=LedgerAccountKind.PROVIDER_CLEARING, actor=None, external_ref=provider_id,
            reference=provider_id)
    refund.provider_refund_id = provider_id
    refund.last_error = ""
    return refund


def _settle(refund: Refund, *, clearing: LedgerAccountKind, actor: User | None, external_ref: str | None,
            reference: str) -> None:
    """Post the refund's ledger transaction, mark it SENT and tell the company's users."""
    project = refund.project
    owed = ledger.account(LedgerAccountKind.COMPANY_REFUNDS, refund.currency, refund.company_id)
    cash = ledger.account(clearing, refund.currency)
    ledger.post(
        sent_key(refund.id), SENT_KIND,
        [(owed, LedgerSide.DEBIT, refund.amount_minor), (cash, LedgerSide.CREDIT, refund.amount_minor)],
        description=f"Refund {refund.id} of project {project.id} sent ({refund.method.value})",
        external_ref=external_ref, actor=actor,
    )
    transition(refund, REFUND_WORKFLOW, RefundStatus.SENT, actor=actor, method=refund.method.value,
               reference=reference, amount_minor=refund.amount_minor)
    refund.sent_at = utcnow()
    for user in projects.member_users(project, side=Side.COMPANY):
        with force_locale(user.locale or "en"):
            amount = money(refund.amount_minor, refund.currency)
        notifications.notify(user, "refund.sent", link=PROJECT_DISPUTES_PATH.format(id=project.id), amount=amount,
                             project=_label(project), reference=reference)


def _hub_refund(refund_id: int, actor: User) -> Refund:
    """The refund, locked, for hub staff only (anyone else: it does not exist)."""
    if not policies.is_staff(actor):
        raise NotFound(_("This refund does not exist."))
    refund = _lock(refund_id)
    if refund is None:
        raise NotFound(_("This refund does not exist."))
    return refund


def mark_bank_refund_sent(refund_id: int, *, actor: User, reference: str) -> Refund:
    """Confirm that the hub made a BANK refund, with the bank's reference.

    PENDING -> SENT, audited ``refund.sent``. Who: hub staff. Effects: ledger
    company_refunds / bank_clearing (key ``refund.sent:<id>``), the reference and
    the confirming admin are kept, the company's users are told (``refund.sent``).

    :raises NotFound: no such refund (or the actor is not hub staff).
    :raises ValidationFailed: no reference, or a refund the provider sends.
    :raises InvalidTransition: the refund is not pending.
    """
    refund = _hub_refund(refund_id, actor)
    reference = (reference or "").strip()
    if not reference:
        raise ValidationFailed(_("Enter the bank reference of the refund transfer."))
    if len(reference) > MAX_REFERENCE_CHARS:
        raise ValidationFailed(_("Keep the bank reference under %(max)d characters.", max=MAX_REFERENCE_CHARS))
    if refund.method is not PayoutMethod.BANK:
        raise ValidationFailed(_("This refund goes back to the company's card through the payment provider; it "
                                 "is not made by bank transfer."))
    if refund.status is not RefundStatus.PENDING:
        raise InvalidTransition(REFUND_WORKFLOW.name, refund.status, RefundStatus.SENT,
                                _("This refund is %(status)s; only a pending refund can be marked as refunded.",
                                  status=refund.status.value))
    refund.bank_reference = reference
    refund.confirmed_by_id = actor.id
    refund.attempts += 1
    _settle(refund, clearing=LedgerAccountKind.BANK_CLEARING, actor=actor, external_ref=None, reference=reference)
    return refund


def retry_refund(refund_id: int, *, actor: User) -> Refund:
    """Send a FAILED provider refund again (same idempotency key: never twice at the provider).

    FAILED -> PENDING, audited ``refund.pending``. Who: hub staff. Effects: the
    attempts start again from 0 (the last error is kept until the next attempt)
    and the task sends it after commit.

    :raises NotFound: no such refund (or the actor is not hub staff).
    :raises InvalidTransition: the refund has not failed.
    """
    refund = _hub_refund(refund_id, actor)
    if refund.status is not RefundStatus.FAILED:
        raise InvalidTransition(REFUND_WORKFLOW.name, refund.status, RefundStatus.PENDING,
                                _("Only a failed refund can be sent again."))
    transition(refund, REFUND_WORKFLOW, RefundStatus.PENDING, actor=actor, previous_error=refund.last_error)
    refund.attempts = 0
    if refund.method is PayoutMethod.PROVIDER:
        _enqueue_after_commit(refund.id)
    return refund


# Queries for pages ---------------------------------------------------------------------------


def refunds_of(project: Project) -> list[Refund]:
    """A project's refunds, oldest first."""
    return list(db.session.scalars(sa.select(Refund).where(Refund.project_id == project.id).order_by(Refund.id)))


def pending_provider_refund_ids(limit: int = 200) -> list[int]:
    """PENDING provider refunds (their task may have been lost), oldest first."""
    return list(db.session.scalars(
        sa.select(Refund.id).where(Refund.status == RefundStatus.PENDING, Refund.method == PayoutMethod.PROVIDER)
        .order_by(Refund.id).limit(limit)
    ))


def refund_list(*, status: RefundStatus | None = None) -> sa.Select[Any]:
    """The back office's refunds: outstanding first (failed, then pending), then the newest."""
    order = sa.case((Refund.status == RefundStatus.FAILED, 0), (Refund.status == RefundStatus.PENDING, 1), else_=2)
    query = sa.select(Refund).order_by(order, Refund.id.desc())
    if status is not None:
        query = query.where(Refund.status == status)
    return query
