"""Reconcile the ledger with the payment provider (RELIABILITY.md §1, invariant I8).

Two checks, both read-only at the provider:

1. **Completeness, both ways.** Every succeeded payment intent, every transfer
   and every succeeded or pending refund at the provider maps to exactly one
   ledger transaction (``LedgerTransaction.external_ref``: card funding records
   the payment intent id, a payout the transfer id, a card refund the refund
   id), and every ledger transaction that moves money on the
   ``provider_clearing`` account names a provider object that exists. The
   matched pair must agree on currency, amount and direction: a payment brings
   money in (provider clearing debited), transfers and refunds take it out
   (credited).
2. **Cash.** Per currency, the ledger's provider clearing balance equals the
   provider's balance (available + pending). Some real differences are expected
   and are reported all the same, never netted away: money funded by bank
   transfer but paid out by provider transfer (the ledger takes it out of
   provider clearing, the provider was topped up from the bank), top-ups,
   provider fees and transfer reversals, none of which the ledger posts to
   provider clearing.

:func:`reconcile` writes one audit event ``ledger.reconciled`` (actor None;
counts, balances and the mismatches in plain words) and, when anything does not
match, notifies staff (``ledger.reconciliation_failed``). It never commits: the
task or the CLI command calls ``uow.commit()``. ``since`` limits the check to
objects created from then on; the cash check always covers everything.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from babel.numbers import get_currency_precision

from app.extensions import db
from app.integrations.stripe_gateway import PaymentGateway
from app.models import AuditEvent
from app.models.ledger import LedgerAccount, LedgerAccountKind, LedgerEntry, LedgerSide, LedgerTransaction
from app.models.mixins import utcnow
from app.services import audit, ledger, notifications

logger = logging.getLogger(__name__)

AUDIT_ACTION = "ledger.reconciled"
NOTIFICATION_KIND = "ledger.reconciliation_failed"
ADMIN_AUDIT_PATH = "/admin/audit/"
# Provider objects this much older than ``since`` are still fetched, so that a ledger
# transaction written after ``since`` for an object made before it (Stripe retries webhooks for days) is matched.
SINCE_MARGIN = timedelta(days=7)
# The audit event keeps at most this many mismatches (the count is always complete).
MAX_AUDITED_MISMATCHES = 200
_REF_CHUNK = 500


class MismatchKind(enum.StrEnum):
    NOT_IN_LEDGER = "not_in_ledger"  # a provider object no ledger transaction records
    NOT_AT_PROVIDER = "not_at_provider"  # a ledger transaction naming a provider object that does not exist
    AMOUNT_DIFFERS = "amount_differs"  # matched, but the amount, currency or direction differs
    NO_PROVIDER_REFERENCE = "no_provider_reference"  # provider clearing moved without a provider id
    BALANCE_DIFFERS = "balance_differs"  # the ledger's provider clearing differs from the provider's balance


@dataclass(frozen=True)
class Mismatch:
    """One thing that does not match, in plain words (``message``) and as data."""

    kind: MismatchKind
    message: str
    provider_id: str | None = None
    ledger_transaction_id: int | None = None
    currency: str | None = None
    provider_amount_minor: int | None = None
    ledger_amount_minor: int | None = None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = self.kind.value
        return data


@dataclass(frozen=True)
class CashBalance:
    """One currency of the cash check: the ledger's provider clearing against the provider's balance."""

    currency: str
    ledger_minor: int
    provider_minor: int

    @property
    def difference_minor(self) -> int:
        """Provider minus ledger: positive when the provider holds more than the ledger says."""
        return self.provider_minor - self.ledger_minor

    @property
    def equal(self) -> bool:
        return self.difference_minor == 0


@dataclass(frozen=True)
class ReconciliationReport:
    """What :func:`reconcile` compared and found; ``ok`` when nothing differs."""

    checked_at: datetime
    since: datetime | None
    payments: int  # provider objects checked (created since ``since``)
    transfers: int
    refunds: int
    ledger_transactions: int  # ledger transactions on provider clearing checked
    matched: int
    balances: tuple[CashBalance, ...]
    mismatches: tuple[Mismatch, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.mismatches

    @property
    def counts(self) -> dict[str, int]:
        return {
            "payments": self.payments,
            "transfers": self.transfers,
            "refunds": self.refunds,
            "ledger_transactions": self.ledger_transactions,
            "matched": self.matched,
            "mismatches": len(self.mismatches),
        }

    def lines(self) -> list[str]:
        """The report as readable lines (the CLI prints them)."""
        scope = f"since {self.since:%Y-%m-%d %H:%M} UTC" if self.since else "all history"
        out = [
            f"Ledger reconciliation with the payment provider, {self.checked_at:%Y-%m-%d %H:%M} UTC ({scope})",
            f"  provider: {self.payments} payment(s), {self.transfers} transfer(s), {self.refunds} refund(s)",
            f"  ledger:   {self.ledger_transactions} transaction(s) on provider clearing; {self.matched} matched",
        ]
        for cash in self.balances:
            verdict = "equal" if cash.equal else f"difference {format_minor(cash.difference_minor, cash.currency)}"
            out.append(
                f"  cash {cash.currency}: ledger {format_minor(cash.ledger_minor, cash.currency)}, "
                f"provider {format_minor(cash.provider_minor, cash.currency)} ({verdict})"
            )
        if self.ok:
            out.append("OK: every provider object maps to one ledger transaction and the cash agrees.")
        else:
            out.append(f"{len(self.mismatches)} mismatch(es):")
            out.extend(f"  - [{m.kind.value}] {m.message}" for m in self.mismatches)
        return out


@dataclass(frozen=True)
class _ProviderObject:
    label: str  # "payment", "transfer", "refund"
    id: str
    amount_minor: int
    currency: str
    created: int

    @property
    def signed_minor(self) -> int:
        """The expected movement on provider clearing: payments in (+), transfers and refunds out (-)."""
        return self.amount_minor if self.label == "payment" else -self.amount_minor


@dataclass(frozen=True)
class _LedgerMovement:
    transaction_id: int
    kind: str
    external_ref: str | None
    created_at: datetime
    by_currency: tuple[tuple[str, int], ...]  # (currency, debits - credits on provider clearing)


def reconcile(gateway: PaymentGateway, *, since: datetime | None = None) -> ReconciliationReport:
    """Compare the ledger with the provider's payments, transfers, refunds and balance (I8).

    Read-only at the provider. Records the audit event ``ledger.reconciled``
    (actor None) with the counts, the cash per currency and the mismatches, and
    notifies every active admin (``ledger.reconciliation_failed``) when there is
    any mismatch. Never commits; the caller does.

    :raises PaymentGatewayError: (a subclass) the provider could not be read;
        nothing is recorded.
    """
    since = _aware(since)
    fetch_from = since - SINCE_MARGIN if since is not None else None
    fetched = [
        *(_ProviderObject("payment", p.id, p.amount_minor, p.currency, p.created)
          for p in gateway.list_payments(since=fetch_from)),
        *(_ProviderObject("transfer", t.id, t.amount_minor, t.currency, t.created)
          for t in gateway.list_transfers(since=fetch_from)),
        *(_ProviderObject("refund", r.id, r.amount_minor, r.currency, r.created)
          for r in gateway.list_refunds(since=fetch_from)),
    ]
    provider_cash = gateway.balance()
    in_window = [obj for obj in fetched if since is None or obj.created >= int(since.timestamp())]
    by_id = {obj.id: obj for obj in fetched}

    movements = _provider_clearing_movements()
    checked = [m for m in movements if since is None or m.created_at >= since]
    by_ref = {m.external_ref: m for m in movements if m.external_ref}
    others = _other_transactions_by_ref([obj.id for obj in in_window if obj.id not in by_ref])

    mismatches: list[Mismatch] = []
    matched = 0
    for obj in in_window:
        movement = by_ref.get(obj.id)
        if movement is None:
            mismatches.append(_not_in_ledger(obj, others.get(obj.id)))
            continue
        problem = _compare(obj, movement)
        if problem is None:
            matched += 1
        else:
            mismatches.append(problem)
    for movement in checked:
        if movement.external_ref is None:
            mismatches.append(_without_reference(movement))
        elif movement.external_ref not in by_id:
            mismatches.append(_not_at_provider(movement))

    balances = _cash(ledger.balances_by_currency(LedgerAccountKind.PROVIDER_CLEARING),
                     {c: b.total_minor for c, b in provider_cash.items()})
    mismatches.extend(_cash_difference(cash) for cash in balances if not cash.equal)

    report = ReconciliationReport(
        checked_at=utcnow(),
        since=since,
        payments=sum(obj.label == "payment" for obj in in_window),
        transfers=sum(obj.label == "transfer" for obj in in_window),
        refunds=sum(obj.label == "refund" for obj in in_window),
        ledger_transactions=len(checked),
        matched=matched,
        balances=tuple(balances),
        mismatches=tuple(mismatches),
    )
    _record(report)
    return report


def last_run_at() -> datetime | None:
    """When the ledger was last reconciled (the newest ``ledger.reconciled`` audit event), or None."""
    latest = db.session.scalar(
        sa.select(AuditEvent.created_at).where(AuditEvent.action == AUDIT_ACTION)
        .order_by(AuditEvent.created_at.desc()).limit(1)
    )
    return _aware(latest)


def format_minor(amount_minor: int, currency: str) -> str:
    """``-123456, "EUR"`` -> ``"EUR -1234.56"``: exact integer arithmetic with the currency's decimals."""
    digits = get_currency_precision(currency) if len(currency) == 3 else 2
    sign = "-" if amount_minor < 0 else ""
    whole, part = divmod(abs(amount_minor), 10**digits)
    return f"{currency} {sign}{whole}.{part:0{digits}d}" if digits else f"{currency} {sign}{whole}"


# The ledger side ----------------------------------------------------------------------------------

_SIGNED = sa.case((LedgerEntry.side == LedgerSide.DEBIT, LedgerEntry.amount_minor), else_=-LedgerEntry.amount_minor)


def _provider_clearing_movements() -> list[_LedgerMovement]:
    """Every ledger transaction with entries on provider clearing, with its net movement there per currency."""
    db.session.flush()
    rows = db.session.execute(
        sa.select(LedgerTransaction.id, LedgerTransaction.kind, LedgerTransaction.external_ref,
                  LedgerTransaction.created_at, LedgerEntry.currency, sa.func.sum(_SIGNED))
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(LedgerAccount.kind == LedgerAccountKind.PROVIDER_CLEARING)
        .group_by(LedgerTransaction.id, LedgerTransaction.kind, LedgerTransaction.external_ref,
                  LedgerTransaction.created_at, LedgerEntry.currency)
        .order_by(LedgerTransaction.id, LedgerEntry.currency)
    ).all()
    grouped: dict[int, list[Any]] = {}
    for txn_id, kind, ref, created_at, currency, net in rows:
        grouped.setdefault(txn_id, [kind, ref, created_at, []])[3].append((currency, int(net)))
    return [
        _LedgerMovement(txn_id, kind, ref, _aware(created_at) or utcnow(), tuple(nets))
        for txn_id, (kind, ref, created_at, nets) in grouped.items()
    ]


def _other_transactions_by_ref(refs: Sequence[str]) -> dict[str, tuple[int, str]]:
    """Ledger transactions (id, kind) that record one of ``refs`` but never touch provider clearing."""
    found: dict[str, tuple[int, str]] = {}
    for start in range(0, len(refs), _REF_CHUNK):
        chunk = refs[start:start + _REF_CHUNK]
        for txn_id, kind, ref in db.session.execute(
            sa.select(LedgerTransaction.id, LedgerTransaction.kind, LedgerTransaction.external_ref)
            .where(LedgerTransaction.external_ref.in_(chunk))
        ):
            found[str(ref)] = (int(txn_id), str(kind))
    return found


# Comparisons, in words ----------------------------------------------------------------------------


def _describe(obj: _ProviderObject) -> str:
    when = datetime.fromtimestamp(obj.created, UTC).strftime("%Y-%m-%d %H:%M UTC") if obj.created else "unknown time"
    return f"provider {obj.label} {obj.id} of {format_minor(obj.amount_minor, obj.currency)} (created {when})"


def _movement_words(nets: Iterable[tuple[str, int]]) -> str:
    parts = [f"{'in' if net > 0 else 'out'} {format_minor(abs(net), currency)}" if net else f"0 {currency}"
             for currency, net in nets]
    return ", ".join(parts) or "nothing"


def _not_in_ledger(obj: _ProviderObject, other: tuple[int, str] | None) -> Mismatch:
    if other is not None:
        txn_id, kind = other
        return Mismatch(
            MismatchKind.AMOUNT_DIFFERS,
            f"{_describe(obj)} is recorded by ledger transaction {txn_id} ({kind}), which does not move "
            "money on provider clearing.",
            provider_id=obj.id, ledger_transaction_id=txn_id, currency=obj.currency,
            provider_amount_minor=obj.amount_minor, ledger_amount_minor=0,
        )
    return Mismatch(
        MismatchKind.NOT_IN_LEDGER,
        f"{_describe(obj)} has no ledger transaction: the hub never recorded it.",
        provider_id=obj.id, currency=obj.currency, provider_amount_minor=obj.amount_minor,
    )


def _compare(obj: _ProviderObject, movement: _LedgerMovement) -> Mismatch | None:
    nets = dict(movement.by_currency)
    if set(nets) == {obj.currency} and nets[obj.currency] == obj.signed_minor:
        return None
    ledger_net = nets.get(obj.currency)
    expected = f"{'in' if obj.signed_minor > 0 else 'out'} {format_minor(obj.amount_minor, obj.currency)}"
    return Mismatch(
        MismatchKind.AMOUNT_DIFFERS,
        f"{_describe(obj)} should move provider clearing {expected}, but ledger transaction "
        f"{movement.transaction_id} ({movement.kind}) moves it {_movement_words(movement.by_currency)}.",
        provider_id=obj.id, ledger_transaction_id=movement.transaction_id, currency=obj.currency,
        provider_amount_minor=obj.amount_minor,
        ledger_amount_minor=abs(ledger_net) if ledger_net is not None else None,
    )


def _not_at_provider(movement: _LedgerMovement) -> Mismatch:
    currency, net = movement.by_currency[0]
    return Mismatch(
        MismatchKind.NOT_AT_PROVIDER,
        f"Ledger transaction {movement.transaction_id} ({movement.kind}) records provider object "
        f"{movement.external_ref} (provider clearing {_movement_words(movement.by_currency)}), but the provider "
        "has no such payment, transfer or refund.",
        provider_id=movement.external_ref, ledger_transaction_id=movement.transaction_id, currency=currency,
        ledger_amount_minor=abs(net),
    )


def _without_reference(movement: _LedgerMovement) -> Mismatch:
    currency, net = movement.by_currency[0]
    return Mismatch(
        MismatchKind.NO_PROVIDER_REFERENCE,
        f"Ledger transaction {movement.transaction_id} ({movement.kind}) moves provider clearing "
        f"{_movement_words(movement.by_currency)} but names no provider object, so it cannot be checked.",
        ledger_transaction_id=movement.transaction_id, currency=currency, ledger_amount_minor=abs(net),
    )


def _cash(ledger_cash: dict[str, int], provider_cash: dict[str, int]) -> list[CashBalance]:
    currencies = sorted(set(ledger_cash) | set(provider_cash))
    return [CashBalance(c, ledger_cash.get(c, 0), provider_cash.get(c, 0)) for c in currencies]


def _cash_difference(cash: CashBalance) -> Mismatch:
    more = "more" if cash.difference_minor > 0 else "less"
    return Mismatch(
        MismatchKind.BALANCE_DIFFERS,
        f"Cash in {cash.currency}: the ledger's provider clearing is {format_minor(cash.ledger_minor, cash.currency)} "
        f"but the provider's balance is {format_minor(cash.provider_minor, cash.currency)}; the provider holds "
        f"{format_minor(abs(cash.difference_minor), cash.currency)} {more} than the ledger says. Money funded by "
        "bank transfer but paid out through the provider, top-ups from the bank, provider fees and transfer "
        "reversals are not posted to provider clearing and show up here.",
        currency=cash.currency, provider_amount_minor=cash.provider_minor, ledger_amount_minor=cash.ledger_minor,
    )


# Recording ----------------------------------------------------------------------------------------


def _record(report: ReconciliationReport) -> None:
    audit.record(
        AUDIT_ACTION, actor=None, entity="ledger", entity_id=None,
        data={
            "ok": report.ok,
            "since": report.since.isoformat() if report.since else None,
            "counts": report.counts,
            "balances": [
                {"currency": c.currency, "ledger_minor": c.ledger_minor, "provider_minor": c.provider_minor,
                 "difference_minor": c.difference_minor}
                for c in report.balances
            ],
            "mismatches": [m.as_dict() for m in report.mismatches[:MAX_AUDITED_MISMATCHES]],
        },
    )
    if report.ok:
        logger.info("Ledger reconciled: %s", report.counts)
        return
    logger.warning("Ledger reconciliation found %s mismatch(es)", len(report.mismatches))
    notifications.notify_staff(NOTIFICATION_KIND, link=ADMIN_AUDIT_PATH, count=str(len(report.mismatches)),
                               checked=report.checked_at.strftime("%Y-%m-%d %H:%M"))


def _aware(value: datetime | None) -> datetime | None:
    """UTC-aware (SQLite hands back naive datetimes; naive input means UTC)."""
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
