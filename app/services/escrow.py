"""Step 6, funding: the company pays the client price upfront and the hub holds it (WORKFLOW.md §6).

    contract: signed -fund (card webhook | bank transfer recorded by staff)-> funded

"Escrow" is an internal word only: pages, e-mails and receipts say "the funds
are held by Plasticonnect until you accept the work" (INTEGRATIONS.md §4.6).

Two ways to pay, one way to fund:

- **Card**: :func:`start_card_checkout` opens (or reuses) a hosted Checkout page
  at the provider; the provider's signed ``checkout.session.completed`` webhook
  reaches :func:`handle_provider_event`, which checks amount and currency and funds.
- **Bank transfer**: the company quotes the contract's unique payment reference
  (:func:`bank_instructions`); staff record what arrived with
  :func:`record_bank_transfer` and settle an over-payment with
  :func:`resolve_bank_transfer`.

Funding (:func:`_fund`, private) happens exactly once per contract: the contract
row is locked (``SELECT … FOR UPDATE``), its status re-checked, and the ledger
posting carries the deterministic key ``escrow.funded:contract:<id>`` as the last
guard. It posts clearing (debit) / escrow[contract] (credit), moves the contract
SIGNED -> FUNDED, starts the project with its members, stores the receipt PDF
under ``receipts/contract-<id>`` and notifies the company, the expert and staff.

Bank-transfer semantics (amounts in the contract's currency only):

- ``received`` = Σ amounts of the contract's transfers; ``expected`` = client price.
- Each transfer stores ``discrepancy_minor`` = received (including it) − expected
  at the moment it is recorded.
- 0: the contract is funded now (earlier under-payments are marked resolved,
  "completed by transfer #n").
- < 0 (under-payment): recorded, not funded; the page says "waiting for X more".
  A later transfer that brings ``received`` to ``expected`` funds the contract.
- > 0 (over-payment): recorded and flagged, not funded. :func:`resolve_bank_transfer`
  (staff, with a note) records that the excess — received − expected at that
  moment — is returned to the company outside the platform, marks every open
  transfer of the contract resolved, and funds the contract (received only grows,
  so once over, the expected amount is always covered). The excess itself is not
  posted to the ledger (only the expected amount enters escrow).

Provider calls (create or look up a checkout session) are made outside any
database write; every public function commits once through ``uow.commit()``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date
from typing import Any, cast

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy.dialects import postgresql, sqlite

from app import policies
from app.documents import Party, ReceiptData, hub_party, render_receipt
from app.exceptions import DomainError, NotFound, PermissionDenied
from app.extensions import db
from app.i18n import money
from app.integrations.storage import BlobNotFound, get_storage
from app.integrations.stripe_gateway import InvalidWebhook, ProviderEventData, get_gateway
from app.models import (
    BankTransfer,
    CheckoutPurpose,
    CheckoutSession,
    Contract,
    ContractStatus,
    FundingMethod,
    LedgerAccount,
    LedgerAccountKind,
    LedgerEntry,
    LedgerSide,
    LedgerTransaction,
    Project,
    ProjectMember,
    ProjectRole,
    ProviderEvent,
    Role,
    User,
)
from app.models.mixins import utcnow
from app.services import audit, ledger, notifications, projects, uow
from app.services.transitions import transition
from app.workflows.contracts import CONTRACT_WORKFLOW

logger = logging.getLogger(__name__)

PROVIDER = "stripe"
FUNDED_KIND = "escrow.funded"
COMPLETED_TYPES = ("checkout.session.completed", "checkout.session.async_payment_succeeded")
EXPIRED_TYPE = "checkout.session.expired"


class PaymentRefused(DomainError):
    """The payment cannot be taken or recorded in the contract's current state."""

    status_code = 409


# Keys --------------------------------------------------------------------------------------


def funded_key(contract_id: int) -> str:
    """The ledger idempotency key of a contract's funding (one per contract, whatever the method)."""
    return f"escrow.funded:contract:{contract_id}"


def receipt_key(contract_id: int) -> str:
    """Where the receipt PDF of a funded contract is stored."""
    return f"receipts/contract-{contract_id}"


def checkout_reference(contract_id: int) -> str:
    """Our reference in the provider's metadata (``client_reference_id``)."""
    return f"contract:{contract_id}"


def checkout_key(contract_id: int, attempt: int) -> str:
    """The provider idempotency key of one checkout attempt (a retry reuses the same session)."""
    return f"fund:contract:{contract_id}:{attempt}"


# Card --------------------------------------------------------------------------------------


def start_card_checkout(contract_id: int, *, actor: User, success_url: str, cancel_url: str) -> str:
    """Open (or reuse) the provider's hosted payment page for the contract's client price.

    SIGNED (unchanged) -> the URL of the hosted page; the contract is funded later by the webhook.
    Who: a user (owner or member) of the contract's company.
    Effects: at most one open :class:`CheckoutSession` per contract; a session the provider
    says has expired is marked expired and the next attempt gets a new key
    (``fund:contract:<id>:<attempt>``). The description carries the contract reference and
    the job title only (never the expert's name). No provider script runs on our pages.

    :raises NotFound: no such contract, or another company's.
    :raises PaymentRefused: not signed yet, already paid, a card payment being confirmed,
        or card payments are not configured (pay by bank transfer).
    :raises PaymentGatewayError: the provider refused or failed (nothing stored).
    """
    contract = _contract_for_company(contract_id, actor)
    _require_payable(contract)
    gateway = get_gateway()
    if gateway is None:
        raise PaymentRefused(_("Card payment is not available. Please pay by bank transfer with the reference shown."))

    attempt = 1
    for session in _checkout_sessions(contract.id):
        attempt += 1
        if session.paid_at is not None:
            raise PaymentRefused(_("Your card payment was received and is being confirmed."))
        if session.expired_at is not None:
            continue
        info = gateway.retrieve_checkout_session(session.provider_session_id)
        if info.status == "open" and info.url:
            return info.url
        if info.paid or info.status == "complete":
            raise PaymentRefused(_("Your card payment was received and is being confirmed."))
        session.expired_at = utcnow()
        uow.commit()

    key = checkout_key(contract.id, attempt)
    result = gateway.create_checkout_session(
        reference=checkout_reference(contract.id),
        amount_minor=contract.client_price_minor,
        currency=contract.currency,
        description=_("Plasticonnect Hub contract %(reference)s: %(job)s", reference=contract.reference,
                      job=str(contract.job)),
        success_url=success_url,
        cancel_url=cancel_url,
        idempotency_key=key,
        customer_email=actor.email,
    )
    db.session.add(CheckoutSession(
        provider=PROVIDER, provider_session_id=result.session_id, idempotency_key=key,
        purpose=CheckoutPurpose.CONTRACT_FUNDING, reference_id=contract.id,
        amount_minor=contract.client_price_minor, currency=contract.currency.upper(), url=result.url,
        created_by_id=actor.id,
    ))
    try:
        uow.commit()
    except sa.exc.IntegrityError:  # a double click: the other request stored the same session
        uow.rollback()
    return result.url


def handle_provider_event(payload: bytes, signature_header: str) -> str:
    """Verify, store once and apply one webhook delivery; returns what happened.

    Who: the payment provider (the signature on the raw body is the credential).
    Effects: a :class:`ProviderEvent` row per event id (a redelivery is ``"duplicate"``
    with no effect, also when deliveries race); for a paid ``checkout.session.completed``
    (or ``async_payment_succeeded``) of one of our sessions whose amount and currency equal
    the contract's client price: the session is marked paid and the contract funded
    (SIGNED -> FUNDED). A mismatch, or a payment for a contract that is no longer waiting,
    is recorded as ``"rejected: …"`` and staff are notified; nothing is funded.
    ``checkout.session.expired`` marks the session expired only once the provider confirms
    it (so a late or reordered "expired" never hides a payment). Other types: ``"ignored"``.

    :raises InvalidWebhook: bad or missing signature, stale timestamp, malformed body, or
        card payments not configured; nothing is stored (the view answers 400).
    :raises PaymentGatewayError: the provider could not confirm an expiry (retry later).
    """
    gateway = get_gateway()
    if gateway is None:
        raise InvalidWebhook("not_configured", "card payments are not configured")
    event = gateway.parse_webhook(payload, signature_header)

    # The one provider call, made before any write: does an "expired" event still hold?
    provider_status: str | None = None
    if event.type == EXPIRED_TYPE:
        session = _our_session(event.object)
        if session is not None and session.paid_at is None and session.expired_at is None:
            provider_status = gateway.retrieve_checkout_session(session.provider_session_id).status
        db.session.rollback()  # end the read-only transaction before the writes

    row_id = _store_event(event)
    if row_id is None:
        uow.rollback()
        return "duplicate"
    if event.type in COMPLETED_TYPES:
        result = _apply_completed(event)
    elif event.type == EXPIRED_TYPE:
        result = _apply_expired(event, provider_status)
    else:
        result = "ignored: unknown type"
    db.session.execute(
        sa.update(ProviderEvent).where(ProviderEvent.id == row_id).values(processed_at=utcnow(), result=result[:255])
    )
    uow.commit()
    return result


def _store_event(event: ProviderEventData) -> int | None:
    """Insert the event once (``ON CONFLICT DO NOTHING``); ``None`` when it was already stored."""
    dialect = db.session.get_bind().dialect.name
    table = cast(sa.Table, ProviderEvent.__table__)
    insert: Any = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    stmt = (
        insert.values(provider=PROVIDER, event_id=event.event_id, type=event.type, payload=event.payload,
                      received_at=utcnow(), result="")
        .on_conflict_do_nothing()
        .returning(table.c.id)
    )
    return db.session.execute(stmt).scalar_one_or_none()


def _our_session(obj: dict[str, Any]) -> CheckoutSession | None:
    session_id = obj.get("id")
    if not isinstance(session_id, str):
        return None
    return db.session.scalars(
        sa.select(CheckoutSession)
        .where(CheckoutSession.provider == PROVIDER, CheckoutSession.provider_session_id == session_id)
        .execution_options(populate_existing=True)
    ).one_or_none()


def _apply_completed(event: ProviderEventData) -> str:
    obj = event.object
    session = _our_session(obj)
    if session is None or session.purpose is not CheckoutPurpose.CONTRACT_FUNDING:
        return "ignored: not our session"
    if obj.get("payment_status") != "paid":
        return "ignored: not paid yet"
    contract = _lock_contract(session.reference_id)
    if contract is None:
        return "ignored: no such contract"
    session = _our_session(obj)  # re-read under the lock
    assert session is not None
    intent = obj.get("payment_intent")
    intent = intent.get("id") if isinstance(intent, dict) else intent
    metadata = obj.get("metadata") or {}
    if metadata.get("reference") not in (None, checkout_reference(contract.id)):
        return _flag(contract, "rejected: reference mismatch",
                     _("a card payment names another reference (%(ref)s)", ref=str(metadata.get("reference"))))
    if session.paid_at is None and session.expired_at is None:
        session.paid_at = utcnow()
        session.payment_intent = intent if isinstance(intent, str) else None
    amount, currency = obj.get("amount_total"), str(obj.get("currency") or "").upper()
    if amount != contract.client_price_minor or currency != contract.currency.upper():
        got = money(amount, currency) if isinstance(amount, int) and len(currency) == 3 else f"{amount} {currency}"
        return _flag(contract, "rejected: amount mismatch",
                     _("a card payment of %(got)s does not match the client price %(expected)s; it was not "
                       "applied. Check it and refund it at the provider.", got=got,
                       expected=money(contract.client_price_minor, contract.currency)))
    if contract.status is ContractStatus.FUNDED:
        funding = _funding_transaction(contract.id)
        if funding is not None and intent and funding.external_ref == intent:
            return "already applied"
        return _flag(contract, "rejected: contract already funded",
                     _("a card payment arrived for a contract that is already funded; refund it at the provider."))
    if contract.status is not ContractStatus.SIGNED:
        return _flag(contract, f"rejected: contract {contract.status.value}",
                     _("a card payment arrived for a contract that is %(status)s; refund it at the provider.",
                       status=contract.status.value.replace("_", " ")))
    # A card payment has no admin at hand: the hub's project manager is who forwarded the accepted offer.
    _fund(contract, FundingMethod.CARD, actor=None, manager=_deal_manager(contract),
          external_ref=intent if isinstance(intent, str) else None)
    return "applied: funded"


def _apply_expired(event: ProviderEventData, provider_status: str | None) -> str:
    session = _our_session(event.object)
    if session is None:
        return "ignored: not our session"
    if session.paid_at is not None:
        return "ignored: session already paid"
    if session.expired_at is not None:
        return "ignored: session already expired"
    if provider_status != "expired":
        return f"ignored: the provider says the session is {provider_status}"
    session.expired_at = utcnow()
    return "applied: session expired"


# Bank transfer -----------------------------------------------------------------------------


def record_bank_transfer(
    contract_id: int, *, actor: User, amount_minor: int, currency: str, received_on: date, bank_reference: str
) -> BankTransfer:
    """Record a bank transfer the hub received for a contract, and fund it when the total is exact.

    SIGNED -> FUNDED when Σ received = client price; otherwise SIGNED (unchanged).
    Who: hub staff. The staff member who records the completing transfer becomes the
    project's manager. See the module docstring for under- and over-payments.

    :raises PermissionDenied: not staff.
    :raises NotFound: no such contract.
    :raises PaymentRefused: not signed, already funded (return the money), a currency other
        than the contract's, or an amount that is not a positive whole number of minor units.
    """
    if not policies.is_staff(actor):
        raise PermissionDenied(_("Only hub staff record bank transfers."))
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int) or amount_minor <= 0:
        raise PaymentRefused(_("The amount must be positive."))
    reference = (bank_reference or "").strip()
    if not reference:
        raise PaymentRefused(_("Enter the bank's reference of the transfer."))
    contract = _lock_contract(contract_id)
    if contract is None:
        raise NotFound(_("This contract does not exist."))
    _require_payable(contract)
    if (currency or "").upper() != contract.currency.upper():
        raise PaymentRefused(_("This contract is paid in %(currency)s; record the transfer in %(currency)s.",
                               currency=contract.currency))
    received = _received_minor(contract.id) + amount_minor
    transfer = BankTransfer(
        contract_id=contract.id, amount_minor=amount_minor, currency=contract.currency, received_on=received_on,
        bank_reference=reference[:140], discrepancy_minor=received - contract.client_price_minor,
        recorded_by_id=actor.id, recorded_at=utcnow(),
    )
    db.session.add(transfer)
    db.session.flush()
    audit.record("bank_transfer.recorded", actor=actor, entity="contracts", entity_id=contract.id,
                 data={"transfer_id": transfer.id, "amount_minor": amount_minor, "received_minor": received,
                       "discrepancy_minor": transfer.discrepancy_minor})
    if transfer.discrepancy_minor == 0:
        _settle_open_transfers(contract, actor, note=_("Completed by transfer #%(id)s.", id=transfer.id),
                               except_id=transfer.id)
        _fund(contract, FundingMethod.BANK_TRANSFER, actor=actor, manager=actor, external_ref=None)
    elif transfer.discrepancy_minor > 0:
        _flag(contract, "over-payment",
              _("%(received)s received for a client price of %(expected)s (%(excess)s too much); return the "
                "excess to the company and resolve the transfer.",
                received=money(received, contract.currency), expected=money(contract.client_price_minor,
                                                                             contract.currency),
                excess=money(transfer.discrepancy_minor, contract.currency)))
    uow.commit()
    return transfer


def resolve_bank_transfer(transfer_id: int, *, actor: User, note: str) -> BankTransfer:
    """Settle an over-payment: the excess goes back to the company outside the platform; then fund.

    SIGNED -> FUNDED (received − expected, at this moment, is the excess returned).
    Who: hub staff, with a note (how and when the excess is returned). Every open transfer
    of the contract is marked resolved with the note; the resolver becomes project manager.

    :raises PermissionDenied: not staff.
    :raises NotFound: no such transfer.
    :raises PaymentRefused: no note, the transfer is not an open over-payment, or the contract
        is not waiting for funding.
    """
    if not policies.is_staff(actor):
        raise PermissionDenied(_("Only hub staff resolve bank transfers."))
    note = (note or "").strip()
    if not note:
        raise PaymentRefused(_("Write how the excess is returned to the company."))
    found = db.session.get(BankTransfer, transfer_id)
    if found is None:
        raise NotFound(_("This bank transfer does not exist."))
    contract = _lock_contract(found.contract_id)
    assert contract is not None
    transfer = db.session.get(BankTransfer, transfer_id, populate_existing=True)
    assert transfer is not None
    if transfer.resolved_at is not None or transfer.discrepancy_minor <= 0:
        raise PaymentRefused(_("This transfer is not an open over-payment."))
    _require_payable(contract)
    received = _received_minor(contract.id)
    excess = received - contract.client_price_minor
    if excess < 0:  # pragma: no cover - received only grows
        raise PaymentRefused(_("The transfers do not cover the client price."))
    _settle_open_transfers(contract, actor, note=note, except_id=None)
    audit.record("bank_transfer.resolved", actor=actor, entity="contracts", entity_id=contract.id,
                 data={"transfer_id": transfer.id, "excess_returned_minor": excess, "note": note})
    _fund(contract, FundingMethod.BANK_TRANSFER, actor=actor, manager=actor, external_ref=None)
    uow.commit()
    return transfer


def _settle_open_transfers(contract: Contract, actor: User, *, note: str, except_id: int | None) -> None:
    now = utcnow()
    for t in db.session.scalars(
        sa.select(BankTransfer).where(BankTransfer.contract_id == contract.id, BankTransfer.resolved_at.is_(None))
    ):
        if t.id == except_id or t.discrepancy_minor == 0:
            continue
        t.resolved_at, t.resolved_by_id, t.resolution_note = now, actor.id, note


# Funding -----------------------------------------------------------------------------------


def _deal_manager(contract: Contract) -> User | None:
    """The admin who forwarded the accepted version, if still an active admin."""
    forwarded_by = contract.forward.forwarded_by if contract.forward is not None else None
    if forwarded_by is None or forwarded_by.role is not Role.ADMIN or forwarded_by.suspended_at is not None:
        return None
    return forwarded_by


def _fund(
    contract: Contract, method: FundingMethod, *, actor: User | None, manager: User | None, external_ref: str | None
) -> Project:
    """SIGNED -> FUNDED, once: ledger posting, project, receipt, notifications (the caller commits).

    The caller holds the contract's row lock and has checked that it is SIGNED.
    """
    clearing_kind = (LedgerAccountKind.PROVIDER_CLEARING if method is FundingMethod.CARD
                     else LedgerAccountKind.BANK_CLEARING)
    amount = contract.client_price_minor
    clearing = ledger.account(clearing_kind, contract.currency)
    held = ledger.account(LedgerAccountKind.ESCROW, contract.currency, contract.id)
    ledger.post(
        funded_key(contract.id), FUNDED_KIND,
        [(clearing, LedgerSide.DEBIT, amount), (held, LedgerSide.CREDIT, amount)],
        description=f"Contract {contract.reference} funded by {method.value}",
        external_ref=external_ref, actor=actor,
    )
    now = utcnow()
    transition(contract, CONTRACT_WORKFLOW, ContractStatus.FUNDED, actor=actor, method=method.value,
               amount_minor=amount, external_ref=external_ref)
    contract.funded_at = now
    contract.funding_method = method

    project = Project(contract_id=contract.id, job_id=contract.job_id, company_id=contract.company_id,
                      expert_id=contract.expert_id, manager_id=manager.id if manager else None)
    db.session.add(project)
    db.session.flush()
    company_users = db.session.scalars(
        sa.select(User).where(User.company_id == contract.company_id, User.role == Role.COMPANY,
                              User.suspended_at.is_(None)).order_by(User.id)
    ).all()
    members = [(u, ProjectRole.COMPANY) for u in company_users]
    members.append((contract.expert.user, ProjectRole.EXPERT))
    if manager is not None:
        members.append((manager, ProjectRole.MANAGER))
    seen: set[int] = set()
    for user, role in members:
        if user.id not in seen:
            seen.add(user.id)
            db.session.add(ProjectMember(project_id=project.id, user_id=user.id, role=role, added_at=now))
    db.session.flush()
    projects.start_workspace(project, contract.offer_version, client_price_minor=contract.client_price_minor)

    get_storage().put(receipt_key(contract.id), _render_receipt(contract), content_type="application/pdf")

    job, reference = str(contract.job), contract.reference
    amount_text = money(amount, contract.currency)
    link = f"/company/contracts/{contract.id}/paid"
    for user in company_users:
        notifications.notify(user, "contract.funded", link=link, reference=reference, job=job, amount=amount_text)
    notifications.notify(contract.expert.user, "contract.funded_expert", reference=reference, job=job)
    notifications.notify_staff("contract.funded_staff", link="/admin/escrow/", reference=reference,
                               method=method.value, amount=amount_text)
    return project


def _render_receipt(contract: Contract) -> bytes:
    assert contract.funded_at is not None and contract.funding_method is not None
    company = contract.company
    return render_receipt(ReceiptData(
        payment_reference=contract.payment_reference,
        contract_reference=contract.reference,
        amount_minor=contract.client_price_minor,
        currency=contract.currency,
        method="card" if contract.funding_method is FundingMethod.CARD else "bank_transfer",
        paid_at=contract.funded_at.astimezone(UTC),
        payer=Party(name=company.legal_name or company.name, address=company.address,
                    registration_number=company.registration_number, vat_id=company.vat_id),
        hub=hub_party(current_app.config),
        job_title=str(contract.job),
    ))


def receipt_pdf(contract_id: int, *, actor: User) -> tuple[Contract, bytes]:
    """The receipt of a funded contract, for its company's users and staff.

    :raises NotFound: no such contract, another company's, or not funded yet.
    """
    contract = db.session.get(Contract, contract_id)
    if contract is None or not policies.can_view_contract_funding(actor, contract):
        raise NotFound(_("This contract does not exist."))
    if contract.status is not ContractStatus.FUNDED:
        raise NotFound(_("There is no receipt until the payment is confirmed."))
    try:
        return contract, get_storage().get(receipt_key(contract.id))
    except BlobNotFound:  # stored in the funding transaction; rebuilt if the blob was lost
        pdf = _render_receipt(contract)
        get_storage().put(receipt_key(contract.id), pdf, content_type="application/pdf")
        return contract, pdf


def _flag(contract: Contract, result: str, problem: str) -> str:
    notifications.notify_staff("escrow.flagged", link="/admin/escrow/", reference=contract.reference,
                               problem=problem)
    logger.warning("Payment flagged for contract %s: %s", contract.reference, result)
    return result


# Helpers -----------------------------------------------------------------------------------


def _lock_contract(contract_id: int) -> Contract | None:
    """The contract, locked until commit and re-read (:func:`uow.locked`)."""
    return uow.locked(Contract, contract_id)


def _contract_for_company(contract_id: int, actor: User) -> Contract:
    contract = db.session.get(Contract, contract_id)
    if contract is None or not policies.can_pay_contract(actor, contract):
        raise NotFound(_("This contract does not exist."))
    return contract


def _require_payable(contract: Contract) -> None:
    if contract.status is ContractStatus.FUNDED:
        raise PaymentRefused(_("This contract is already paid."))
    if contract.status is ContractStatus.AWAITING_SIGNATURES:
        raise PaymentRefused(_("Sign the contract first; you can pay once every party has signed."))
    if contract.status is not ContractStatus.SIGNED:
        raise PaymentRefused(_("This contract is cancelled; it cannot be paid."))


def _checkout_sessions(contract_id: int) -> list[CheckoutSession]:
    return list(db.session.scalars(
        sa.select(CheckoutSession)
        .where(CheckoutSession.purpose == CheckoutPurpose.CONTRACT_FUNDING, CheckoutSession.reference_id == contract_id)
        .order_by(CheckoutSession.id)
    ))


def _received_minor(contract_id: int) -> int:
    return int(db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(BankTransfer.amount_minor), 0))
        .where(BankTransfer.contract_id == contract_id)
    ) or 0)


def _funding_transaction(contract_id: int) -> LedgerTransaction | None:
    return db.session.scalars(
        sa.select(LedgerTransaction).where(LedgerTransaction.idempotency_key == funded_key(contract_id))
    ).one_or_none()


# Queries for pages -------------------------------------------------------------------------


@dataclass(frozen=True)
class FundingStatus:
    """Where a contract's payment stands, for the company's page and the back office."""

    contract: Contract
    expected_minor: int
    received_minor: int  # by bank transfer
    transfers: list[BankTransfer]
    flagged: list[BankTransfer]  # open under- and over-payments
    open_checkout: CheckoutSession | None
    paid_checkout: CheckoutSession | None  # paid at the provider (maybe not confirmed yet)

    @property
    def funded(self) -> bool:
        return self.contract.status is ContractStatus.FUNDED

    @property
    def missing_minor(self) -> int:
        """How much more is needed by bank transfer (0 when covered or over)."""
        return max(self.expected_minor - self.received_minor, 0)

    @property
    def excess_minor(self) -> int:
        return max(self.received_minor - self.expected_minor, 0)

    @property
    def state(self) -> str:
        """``funded`` | ``confirming`` | ``over_paid`` | ``partly_paid`` | ``waiting`` | ``not_payable``."""
        if self.funded:
            return "funded"
        if self.contract.status is not ContractStatus.SIGNED:
            return "not_payable"
        if self.paid_checkout is not None:
            return "confirming"
        if self.excess_minor:
            return "over_paid"
        if self.received_minor:
            return "partly_paid"
        return "waiting"


def funding_status(contract: Contract) -> FundingStatus:
    """Expected and received amounts, the transfers (flagged ones apart) and the checkout sessions."""
    transfers = list(db.session.scalars(
        sa.select(BankTransfer).where(BankTransfer.contract_id == contract.id).order_by(BankTransfer.id)
    ))
    sessions = _checkout_sessions(contract.id)
    return FundingStatus(
        contract=contract,
        expected_minor=contract.client_price_minor,
        received_minor=sum(t.amount_minor for t in transfers),
        transfers=transfers,
        flagged=[t for t in transfers if t.resolved_at is None and t.discrepancy_minor != 0
                 and contract.status is ContractStatus.SIGNED],
        open_checkout=next((s for s in reversed(sessions) if s.paid_at is None and s.expired_at is None), None),
        paid_checkout=next((s for s in sessions if s.paid_at is not None), None),
    )


@dataclass(frozen=True)
class BankInstructions:
    """What the company needs to pay by bank transfer."""

    account_name: str
    iban: str
    bic: str
    amount_minor: int
    currency: str
    reference: str
    note: str = field(default="")


def bank_instructions(contract: Contract) -> BankInstructions:
    """The hub's bank account, the amount and the contract's unique reference (quote it exactly)."""
    config = current_app.config
    return BankInstructions(
        account_name=str(config["HUB_BANK_ACCOUNT_NAME"]),
        iban=str(config["HUB_BANK_IBAN"]),
        bic=str(config["HUB_BANK_BIC"]),
        amount_minor=contract.client_price_minor,
        currency=contract.currency,
        reference=contract.payment_reference,
        note=_("Quote the reference %(reference)s exactly, so that we can match your payment.",
               reference=contract.payment_reference),
    )


def contracts_awaiting_funding() -> list[Contract]:
    """Signed contracts waiting for the company's payment, oldest first."""
    return list(db.session.scalars(
        sa.select(Contract).where(Contract.status == ContractStatus.SIGNED)
        .order_by(sa.func.coalesce(Contract.signed_at, Contract.created_at), Contract.id)
    ))


def flagged_transfers() -> list[BankTransfer]:
    """Open over-payments of contracts still waiting (they need staff to resolve them), oldest first."""
    return list(db.session.scalars(
        sa.select(BankTransfer).join(Contract, Contract.id == BankTransfer.contract_id)
        .where(BankTransfer.resolved_at.is_(None), BankTransfer.discrepancy_minor > 0,
               Contract.status == ContractStatus.SIGNED)
        .order_by(BankTransfer.recorded_at, BankTransfer.id)
    ))


@dataclass(frozen=True)
class FundedContract:
    contract: Contract
    escrow_balance_minor: int
    transactions: list[tuple[LedgerTransaction, list[tuple[str, LedgerEntry]]]]


def funded_contracts(limit: int = 50) -> list[FundedContract]:
    """The latest funded contracts with their escrow balance and ledger transactions (entries per account)."""
    contracts = list(db.session.scalars(
        sa.select(Contract).where(Contract.status == ContractStatus.FUNDED)
        .order_by(Contract.funded_at.desc(), Contract.id.desc()).limit(limit)
    ))
    out: list[FundedContract] = []
    for contract in contracts:
        held = db.session.scalars(sa.select(LedgerAccount).where(
            LedgerAccount.kind == LedgerAccountKind.ESCROW, LedgerAccount.reference == contract.id,
            LedgerAccount.currency == contract.currency.upper())).one_or_none()
        if held is None:
            out.append(FundedContract(contract, 0, []))
            continue
        txn_ids = sa.select(LedgerEntry.transaction_id).where(LedgerEntry.account_id == held.id)
        txns: Sequence[LedgerTransaction] = db.session.scalars(
            sa.select(LedgerTransaction).where(LedgerTransaction.id.in_(txn_ids)).order_by(LedgerTransaction.id)
        ).all()
        rows = []
        for txn in txns:
            entries = []
            for entry in txn.entries:
                acct = db.session.get(LedgerAccount, entry.account_id)
                label = acct.kind.value if acct is not None else "?"
                if acct is not None and acct.reference is not None:
                    label += f" #{acct.reference}"
                entries.append((label, entry))
            rows.append((txn, entries))
        out.append(FundedContract(contract, ledger.balance(held), rows))
    return out


def ledger_health() -> list[str]:
    """Every ledger invariant violation (empty: all invariants hold)."""
    return ledger.check_invariants(db.session())
