"""Payouts: money released to an expert leaving the hub (WORKFLOW.md §10).

    payout: pending -send (provider transfer | bank transfer confirmed by an admin)-> sent
            pending -fail (after MAX_ATTEMPTS provider errors)-> failed -retry (admin)-> pending

A release (app/services/release.py) or a dispute decision credits the expert's
(and the QC expert's) payable account; :func:`create_payouts` then records one
:class:`Payout` per project and role, exactly once (UNIQUE project + role, and
the deterministic key ``payout-<project>-<role>``, which is also the provider's
Idempotency-Key). The method is chosen then:

- **provider** when the expert has a connected account (``acct_…``) and the
  payment provider is configured: :func:`send_payout` runs from a task queued
  after commit;
- **bank** otherwise: staff are told (``payout.attention``), make the transfer
  and confirm it with its reference (:func:`mark_bank_payout_sent`).

Either way the money leaving is one ledger transaction ``payout.sent:<payout id>``:
payable DEBIT / provider_clearing or bank_clearing CREDIT.

Sending to the provider holds the payout's row lock (``SELECT … FOR UPDATE``)
across the provider call. That is deliberate: the lock is what stops two
senders (a retry and an admin's "Retry", two workers) from both recording the
transfer, and holding it while the provider answers is harmless because the
provider call itself is idempotent: the same key always yields the same
transfer, so a sender killed after the provider acted (lock released by the
database when its connection dies) is simply replayed by the next one, which
gets the same transfer id back and records it once. No audit row is written
before the provider call, so the audit log's global append lock is never held
while waiting for the provider. A provider error counts an attempt and keeps
the payout pending (the task raises so that RQ retries); after
:data:`MAX_ATTEMPTS` the payout is FAILED and staff are alerted. Every error
counts, a 402 included: on a transfer it means the hub's provider balance is
short (funds not settled yet), which a later attempt can cure.

Also here: the expert's payout settings (connected account, or holder + IBAN,
checked with the ISO 13616 mod-97 checksum), the expert's earnings and the
back office's payout lists.

Every function works in the caller's transaction and never commits.
"""

from __future__ import annotations

import enum
import logging
import re
from collections import defaultdict
from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy.orm import joinedload

from app.exceptions import NotFound, PermissionDenied, ValidationFailed
from app.extensions import db
from app.i18n import money
from app.integrations.stripe_gateway import PaymentGatewayError, PaymentRequestRejected, get_gateway
from app.models import (
    ExpertProfile,
    LedgerAccountKind,
    LedgerSide,
    Payout,
    PayoutMethod,
    PayoutRole,
    PayoutStatus,
    Project,
    User,
)
from app.models.mixins import utcnow
from app.services import audit, ledger, notifications, projects, uow
from app.services.release import ReleaseParts, active_qc
from app.services.transitions import transition
from app.services.validation import required_text
from app.workflows.delivery import PAYOUT_WORKFLOW

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
SENT_KIND = "payout.sent"
ADMIN_PATH = "/admin/payouts/"
EARNINGS_PATH = "/expert/earnings"
MAX_REFERENCE = 140
ACCOUNT_ID_RE = re.compile(r"acct_[A-Za-z0-9]+")
_IBAN_RE = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}")
_NOT_FOUND = _l("This payout does not exist.")
PAYABLE_KIND = {PayoutRole.EXPERT: LedgerAccountKind.EXPERT_PAYABLE, PayoutRole.QC: LedgerAccountKind.QC_PAYABLE}


def payout_key(project_id: int, role: PayoutRole) -> str:
    """The payout's idempotency key (also the provider's Idempotency-Key): one per project and role."""
    return f"payout-{project_id}-{role.value}"


def sent_key(payout_id: int) -> str:
    """The ledger idempotency key of the money leaving for one payout."""
    return f"payout.sent:{payout_id}"


# Payout details -------------------------------------------------------------------------------


def normalize_iban(value: str) -> str:
    """``de89 3704-0044 …`` → ``DE8937040044…`` (spaces and dashes dropped, upper case)."""
    return re.sub(r"[\s-]", "", value or "").upper()


def iban_is_valid(iban: str) -> bool:
    """Whether a normalized IBAN has the right shape and passes the ISO 13616 mod-97 checksum."""
    if not _IBAN_RE.fullmatch(iban):
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def account_id_is_valid(value: str) -> bool:
    """Whether ``value`` looks like a connected payment-provider account id (``acct_…``)."""
    return ACCOUNT_ID_RE.fullmatch(value or "") is not None


def set_payout_details(expert_id: int, *, actor: User, account_id: str, account_name: str,
                       iban: str) -> ExpertProfile:
    """Save where the expert is paid: a connected provider account, or an account holder and IBAN (or both).

    Who: the expert themselves. Effects: the three payout fields, an audit event (with the last
    four IBAN characters only). Payouts already created keep their method; a pending provider
    payout uses the new account on its next attempt (the provider refuses a changed destination
    under the same idempotency key, so an earlier transfer can never be duplicated elsewhere).

    :raises NotFound: not the actor's own profile.
    :raises ValidationFailed: nothing entered, a malformed account id, an IBAN failing its
        checksum, or an IBAN without the account holder.
    """
    expert = db.session.get(ExpertProfile, expert_id)
    if expert is None or expert.user_id != actor.id:
        raise NotFound(_("This expert profile does not exist."))
    account_id = (account_id or "").strip()
    account_name = " ".join((account_name or "").split())
    iban = normalize_iban(iban)
    if not account_id and not iban:
        raise ValidationFailed(_("Enter your connected payment account, or the account holder and the IBAN."))
    if account_id and not account_id_is_valid(account_id):
        raise ValidationFailed(_("A connected account id starts with acct_ followed by letters and digits."))
    if iban and not iban_is_valid(iban):
        raise ValidationFailed(_("This IBAN is not valid: check it for a typing error."))
    if iban and not account_name:
        raise ValidationFailed(_("Enter the name of the account holder."))
    if len(account_name) > MAX_REFERENCE or len(account_id) > 64:
        raise ValidationFailed(_("Please keep it under %(n)s characters.", n=MAX_REFERENCE))
    expert.payout_account_id = account_id
    expert.payout_account_name = account_name if iban else ""
    expert.payout_iban = iban
    audit.record("expert.payout_details", actor=actor, entity="expert_profiles", entity_id=expert.id,
                 data={"provider_account": bool(account_id), "iban_last4": iban[-4:] if iban else ""})
    db.session.flush()
    return expert


def provider_ready(expert: ExpertProfile) -> bool:
    """Whether a payout to ``expert`` can go through the payment provider now."""
    return account_id_is_valid(expert.payout_account_id) and get_gateway() is not None


# Creating payouts -----------------------------------------------------------------------------


def _existing(project_id: int, role: PayoutRole) -> Payout | None:
    return db.session.scalars(
        sa.select(Payout).where(Payout.project_id == project_id, Payout.role == role)
    ).one_or_none()


def create_payouts(project: Project, parts: ReleaseParts, *, actor: User | None) -> list[Payout]:
    """One payout per role with an amount > 0, once per project and role (called in the release's transaction).

    -> PENDING. Who: the release or a dispute decision, which hold the project's lock.
    Effects: provider payouts are sent by ``app.tasks.release.send_payout`` queued after commit;
    bank payouts wait for an admin (staff notified: ``payout.attention``, "bank transfer to make").
    Calling again for the same project returns the payouts already created.

    :raises ValidationFailed: a QC part without an active QC expert.
    """
    contract = project.contract
    wanted: list[tuple[PayoutRole, int, int]] = [(PayoutRole.EXPERT, contract.expert_id, parts.expert_minor)]
    if parts.qc_minor > 0:
        qc = active_qc(project)
        if qc is None:
            raise ValidationFailed(_("A quality-control part needs an active quality-control expert."))
        wanted.append((PayoutRole.QC, qc.expert_id, parts.qc_minor))
    label = projects.project_label(project)
    created: list[Payout] = []
    for role, expert_id, amount in wanted:
        if amount <= 0:
            continue
        found = _existing(project.id, role)
        if found is not None:
            created.append(found)
            continue
        expert = db.session.get(ExpertProfile, expert_id)
        assert expert is not None
        method = PayoutMethod.PROVIDER if provider_ready(expert) else PayoutMethod.BANK
        payout = Payout(project_id=project.id, expert_id=expert_id, role=role, amount_minor=amount,
                        currency=contract.currency, method=method, idempotency_key=payout_key(project.id, role),
                        created_at=utcnow())
        db.session.add(payout)
        db.session.flush()
        audit.record("payout.pending", actor=actor, entity="payouts", entity_id=payout.id, to_state="pending",
                     data={"project_id": project.id, "role": role.value, "amount_minor": amount,
                           "currency": contract.currency, "method": method.value})
        if method is PayoutMethod.PROVIDER:
            uow.after_commit(_enqueue_send, payout.id)
        else:
            notifications.notify_staff("payout.attention", link=ADMIN_PATH, amount=money(amount, contract.currency),
                                       project=label, reason=_("bank transfer to make"))
        created.append(payout)
    return created


def _enqueue_send(payout_id: int) -> None:
    """After commit: queue the provider transfer (a failed enqueue is re-driven by an admin's "Retry")."""
    from app.tasks import queue
    from app.tasks import release as release_tasks

    queue.enqueue_quietly(release_tasks.send_payout, payout_id, queue_name="high")


# Sending --------------------------------------------------------------------------------------


def _lock_payout(payout_id: int) -> Payout | None:
    """The payout, locked until commit and re-read (:func:`uow.locked`)."""
    return uow.locked(Payout, payout_id)


def send_payout(payout_id: int) -> Payout:
    """Transfer a pending provider payout to the expert's connected account, once (safe to run again).

    PENDING -> SENT, or stays PENDING with one more attempt recorded, or -> FAILED after
    :data:`MAX_ATTEMPTS`. Who: the platform (the ``send_payout`` task). A payout already sent or
    failed, or a bank payout, is returned unchanged. On success: ledger ``payout.sent:<id>``
    (payable DEBIT / provider_clearing CREDIT, the transfer id as external reference), the
    transfer id and ``sent_at`` stored, the expert notified (``payout.sent``). On the last failed
    attempt staff are alerted (``payout.attention``). The row lock is held across the provider
    call (see the module docstring).

    :raises NotFound: no such payout.
    """
    payout = _lock_payout(payout_id)
    if payout is None:
        raise NotFound(str(_NOT_FOUND))
    if payout.status is not PayoutStatus.PENDING or payout.method is not PayoutMethod.PROVIDER:
        return payout
    destination = payout.expert.payout_account_id
    gateway = get_gateway()
    try:
        if gateway is None:
            raise PaymentRequestRejected("the payment provider is not configured")
        if not account_id_is_valid(destination):
            raise PaymentRequestRejected("the expert has no connected payment-provider account")
        transfer_id = gateway.create_transfer(
            amount_minor=payout.amount_minor, currency=payout.currency, destination=destination,
            idempotency_key=payout.idempotency_key,
            metadata={"project": str(payout.project_id), "role": payout.role.value},
        )
    except PaymentGatewayError as exc:
        _record_failure(payout, exc)
        return payout
    _record_sent(payout, LedgerAccountKind.PROVIDER_CLEARING, actor=None, external_ref=transfer_id,
                 reference=transfer_id)
    payout.provider_transfer_id = transfer_id
    return payout


def _record_failure(payout: Payout, exc: PaymentGatewayError) -> None:
    payout.attempts += 1
    payout.last_error = f"{type(exc).__name__}: {exc}"[:2000]
    logger.warning("Payout %s attempt %s failed: %s", payout.id, payout.attempts, payout.last_error)
    if payout.attempts >= MAX_ATTEMPTS:
        transition(payout, PAYOUT_WORKFLOW, PayoutStatus.FAILED, actor=None, attempts=payout.attempts,
                   error=payout.last_error)
        notifications.notify_staff(
            "payout.attention", link=ADMIN_PATH + "?show=failed", amount=money(payout.amount_minor, payout.currency),
            project=projects.project_label(payout.project),
            reason=_("the transfer failed %(n)s times (%(error)s)", n=payout.attempts, error=payout.last_error),
        )
    db.session.flush()


def _record_sent(payout: Payout, clearing_kind: LedgerAccountKind, *, actor: User | None,
                 external_ref: str | None, reference: str) -> None:
    """Post the money leaving, mark the payout sent and tell the expert (the caller holds the row lock)."""
    project = payout.project
    payable = ledger.account(PAYABLE_KIND[payout.role], payout.currency, payout.expert_id)
    clearing = ledger.account(clearing_kind, payout.currency)
    ledger.post(
        sent_key(payout.id), SENT_KIND,
        [(payable, LedgerSide.DEBIT, payout.amount_minor), (clearing, LedgerSide.CREDIT, payout.amount_minor)],
        description=f"Payout {payout.role.value} for contract {project.contract.reference} ({reference})",
        external_ref=external_ref, actor=actor,
    )
    transition(payout, PAYOUT_WORKFLOW, PayoutStatus.SENT, actor=actor, method=payout.method.value,
               reference=reference)
    payout.sent_at = utcnow()
    notifications.notify(payout.expert.user, "payout.sent", link=EARNINGS_PATH,
                         amount=money(payout.amount_minor, payout.currency),
                         project=projects.project_label(project), reference=reference)
    db.session.flush()


def _require_staff(actor: User) -> None:
    if not actor.is_staff:
        raise PermissionDenied(_("Only Plasticonnect Hub manages payouts."))


def mark_bank_payout_sent(payout_id: int, *, actor: User, reference: str) -> Payout:
    """Record that the hub made a bank payout's transfer, with the bank's reference.

    PENDING | FAILED -> SENT (a failed one through PENDING, both audited). Who: hub staff.
    Effects: ledger ``payout.sent:<id>`` (payable DEBIT / bank_clearing CREDIT), the reference,
    who confirmed and when, the expert notified (``payout.sent``).

    :raises PermissionDenied: not hub staff.
    :raises NotFound: no such payout.
    :raises ValidationFailed: no reference, a provider payout, or already paid.
    """
    _require_staff(actor)
    reference = required_text(reference, _("Enter the reference of the bank transfer."), max_length=MAX_REFERENCE)
    payout = _lock_payout(payout_id)
    if payout is None:
        raise NotFound(str(_NOT_FOUND))
    if payout.method is not PayoutMethod.BANK:
        raise ValidationFailed(_("This payout goes through the payment provider; it is not marked as paid by hand."))
    if payout.status is PayoutStatus.SENT:
        raise ValidationFailed(_("This payout is already marked as paid."))
    if payout.status is PayoutStatus.FAILED:
        transition(payout, PAYOUT_WORKFLOW, PayoutStatus.PENDING, actor=actor, reason="bank transfer confirmed")
    payout.bank_reference = reference
    payout.confirmed_by_id = actor.id
    _record_sent(payout, LedgerAccountKind.BANK_CLEARING, actor=actor, external_ref=None, reference=reference)
    return payout


def retry_payout(payout_id: int, *, actor: User) -> Payout:
    """Send a provider payout again: a failed one becomes pending with its attempts reset; a stuck one is re-queued.

    FAILED -> PENDING (or PENDING, unchanged). Who: hub staff. Effects: the ``send_payout`` task
    queued after commit (the same idempotency key: a transfer the provider already made is not
    made twice); an audit event.

    :raises PermissionDenied: not hub staff.
    :raises NotFound: no such payout.
    :raises ValidationFailed: a bank payout, or one already sent.
    """
    _require_staff(actor)
    payout = _lock_payout(payout_id)
    if payout is None:
        raise NotFound(str(_NOT_FOUND))
    if payout.method is not PayoutMethod.PROVIDER:
        raise ValidationFailed(_("A bank payout is confirmed with its reference once the hub made the transfer."))
    if payout.status is PayoutStatus.SENT:
        raise ValidationFailed(_("This payout was already sent."))
    if payout.status is PayoutStatus.FAILED:
        transition(payout, PAYOUT_WORKFLOW, PayoutStatus.PENDING, actor=actor, previous_attempts=payout.attempts)
        payout.attempts = 0
    else:
        audit.record("payout.retried", actor=actor, entity="payouts", entity_id=payout.id,
                     data={"attempts": payout.attempts})
    db.session.flush()
    uow.after_commit(_enqueue_send, payout.id)
    return payout


# Earnings -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EarningsRow:
    """One payout on the expert's earnings page: which project, which role, where it stands."""

    payout: Payout
    project_label: str


@dataclass(frozen=True)
class Earnings:
    """An expert's earnings, per currency (minor units), and a page of their payouts, newest first.

    ``released_total`` is everything released to them, ``paid_total`` what left the hub,
    ``pending_total`` what is still on its way (pending or failed payouts).
    """

    released_total: dict[str, int]
    paid_total: dict[str, int]
    pending_total: dict[str, int]
    rows: list[EarningsRow]
    pagination: Pagination

    @property
    def payouts(self) -> list[Payout]:
        return [row.payout for row in self.rows]

    @property
    def currencies(self) -> list[str]:
        return sorted(self.released_total)


def earnings_for(expert: ExpertProfile, *, page: int = 1, per_page: int = 20) -> Earnings:
    """Released, paid and pending totals per currency, and one page of the expert's payouts (newest first)."""
    released: dict[str, int] = defaultdict(int)
    paid: dict[str, int] = defaultdict(int)
    pending: dict[str, int] = defaultdict(int)
    for currency, status, total in db.session.execute(
        sa.select(Payout.currency, Payout.status, sa.func.sum(Payout.amount_minor))
        .where(Payout.expert_id == expert.id).group_by(Payout.currency, Payout.status)
    ):
        amount = int(total or 0)
        released[currency] += amount
        (paid if status == PayoutStatus.SENT else pending)[currency] += amount
    for currency in released:
        paid.setdefault(currency, 0)
        pending.setdefault(currency, 0)
    pagination = db.paginate(
        sa.select(Payout).options(joinedload(Payout.project).joinedload(Project.contract))
        .where(Payout.expert_id == expert.id)
        .order_by(Payout.created_at.desc(), Payout.id.desc()),
        page=max(page, 1), per_page=per_page, error_out=False,
    )
    rows = [EarningsRow(p, projects.project_label(p.project)) for p in pagination.items]
    return Earnings(dict(released), dict(paid), dict(pending), rows=rows, pagination=pagination)


# The back office ------------------------------------------------------------------------------


class PayoutFilter(enum.StrEnum):
    """The back office's payout lists."""

    PENDING_BANK = "pending_bank"  # bank transfers the hub must make
    FAILED = "failed"
    PENDING_PROVIDER = "pending_provider"  # provider transfers on their way (or stuck)
    SENT = "sent"
    ALL = "all"


def payouts_query(show: PayoutFilter) -> sa.Select[Payout]:
    """The payouts of one back-office list: oldest first while waiting, newest first once sent."""
    query = sa.select(Payout).options(
        joinedload(Payout.expert).joinedload(ExpertProfile.user),
        joinedload(Payout.project).joinedload(Project.contract),
    )
    if show is PayoutFilter.PENDING_BANK:
        query = query.where(Payout.method == PayoutMethod.BANK, Payout.status == PayoutStatus.PENDING)
    elif show is PayoutFilter.FAILED:
        query = query.where(Payout.status == PayoutStatus.FAILED)
    elif show is PayoutFilter.PENDING_PROVIDER:
        query = query.where(Payout.method == PayoutMethod.PROVIDER, Payout.status == PayoutStatus.PENDING)
    elif show is PayoutFilter.SENT:
        query = query.where(Payout.status == PayoutStatus.SENT)
    if show in (PayoutFilter.SENT, PayoutFilter.ALL):
        return query.order_by(Payout.id.desc())
    return query.order_by(Payout.created_at, Payout.id)


def payout_counts() -> dict[PayoutFilter, int]:
    """How many payouts each waiting list holds (the back office's tab badges)."""
    counts = {f: 0 for f in PayoutFilter}
    for method, status, n in db.session.execute(
        sa.select(Payout.method, Payout.status, sa.func.count()).group_by(Payout.method, Payout.status)
    ):
        if status == PayoutStatus.FAILED:
            counts[PayoutFilter.FAILED] += n
        elif status == PayoutStatus.PENDING:
            key = PayoutFilter.PENDING_BANK if method == PayoutMethod.BANK else PayoutFilter.PENDING_PROVIDER
            counts[key] += n
        else:
            counts[PayoutFilter.SENT] += n
        counts[PayoutFilter.ALL] += n
    return counts
