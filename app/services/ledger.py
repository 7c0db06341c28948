"""Ledger helpers for the money services (RELIABILITY.md §1): accounts, postings, balances, checks.

These are building blocks, not transitions: they ``flush()`` and never commit;
the public service that calls them commits once through ``uow.commit()``.

- ``account(kind, currency, reference)`` gets or creates one account of the chart
  (``app.models.ledger`` documents the chart and the sign convention).
- ``post(key, kind, entries, ...)`` writes one balanced transaction, once: the same
  idempotency key posted again returns the transaction already written and adds
  nothing (I6), also when two processes race on PostgreSQL (``INSERT … ON CONFLICT
  DO NOTHING`` on the key, then a re-read of the committed winner).
- ``balance(account)`` reads an account on its normal side.
- ``check_invariants(session)`` lists, in plain words, every violation of I1, I2,
  I3, I6 and I7 found in the stored rows (the tests call it after every step).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, scoped_session

from app.exceptions import DomainError
from app.extensions import db
from app.models import User
from app.models.ledger import (
    ESCROW_REFUND_PREFIX,
    ESCROW_RELEASE_PREFIX,
    NORMAL_SIDE,
    REFERENCE_KIND_OF,
    LedgerAccount,
    LedgerAccountKind,
    LedgerEntry,
    LedgerSide,
    LedgerTransaction,
)
from app.models.mixins import utcnow

logger = logging.getLogger(__name__)

# One posting: (account, "debit" | "credit", amount in minor units).
Posting = tuple[LedgerAccount, LedgerSide | str, int]

# Keeps every sum far inside a signed 64-bit integer (SQLite's SUM raises on overflow).
MAX_AMOUNT_MINOR = 10**15
MAX_KEY_LENGTH = 200


class LedgerError(DomainError):
    """A posting or an account request breaks a rule of the ledger; nothing was written."""

    status_code = 422


class UnbalancedTransaction(LedgerError):
    """Debits and credits of a transaction differ in some currency (I1)."""


class IdempotencyConflict(LedgerError):
    """The key (or the provider reference) was already posted with a different effect."""

    status_code = 409


@dataclass(frozen=True, order=True)
class _Line:
    account_id: int
    side: LedgerSide
    amount_minor: int
    currency: str


# Accounts -----------------------------------------------------------------------------------


def account(kind: LedgerAccountKind | str, currency: str, reference: int | None = None) -> LedgerAccount:
    """Get or create the account of ``kind`` in ``currency`` for ``reference``.

    ``reference`` is the owner's id, of the type ``REFERENCE_KIND_OF[kind]`` names
    (a contract for ``escrow``, an expert profile for ``expert_payable`` and
    ``qc_payable``, a company for ``company_funding`` and ``company_refunds``);
    hub-wide accounts (clearing, revenue) take none. The owner's existence is the
    caller's business. Safe under concurrency: a racing creator's row is reused.

    :raises LedgerError: unknown kind, bad currency code, or a missing or unexpected reference.
    """
    try:
        kind = LedgerAccountKind(kind)
    except ValueError as exc:
        raise LedgerError(f"unknown ledger account kind {kind!r}") from exc
    currency = _currency(currency)
    reference_kind = REFERENCE_KIND_OF[kind]
    if reference_kind is None:
        if reference is not None:
            raise LedgerError(f"a {kind.value} account is hub-wide and takes no reference (got {reference!r})")
    elif isinstance(reference, bool) or not isinstance(reference, int) or reference <= 0:
        raise LedgerError(f"a {kind.value} account needs the id of its {reference_kind.value} (got {reference!r})")

    def find() -> LedgerAccount | None:
        query = sa.select(LedgerAccount).where(LedgerAccount.kind == kind, LedgerAccount.currency == currency)
        if reference is None:
            query = query.where(LedgerAccount.reference.is_(None))
        else:
            query = query.where(LedgerAccount.reference_kind == reference_kind, LedgerAccount.reference == reference)
        return db.session.scalars(query).one_or_none()

    found = find()
    if found is not None:
        return found
    db.session.execute(
        _insert_ignoring_conflicts(LedgerAccount.__table__).values(
            kind=kind.value,
            currency=currency,
            reference_kind=reference_kind.value if reference_kind is not None else None,
            reference=reference,
            created_at=utcnow(),
        )
    )
    created = find()
    if created is None:  # pragma: no cover - the insert or the racing winner must be visible
        raise RuntimeError(f"ledger account {kind.value}/{currency}/{reference} vanished after insert")
    return created


# Postings -----------------------------------------------------------------------------------


def post(
    idempotency_key: str,
    kind: str,
    entries: Sequence[Posting],
    *,
    description: str,
    external_ref: str | None = None,
    actor: User | None = None,
) -> LedgerTransaction:
    """Write one balanced ledger transaction, exactly once per ``idempotency_key``.

    Every amount is a positive ``int`` of minor units (floats, ``Decimal`` and
    ``bool`` are refused, I7); debits equal credits in every currency (I1).
    Posting a key again with the same kind and entries returns the transaction
    already written and adds no rows (I6); ``external_ref`` (the provider's
    charge, transfer or refund id) maps to at most one transaction (I8). Flushes;
    the caller commits.

    :raises LedgerError: a bad amount, side, key or kind, or fewer than two entries.
    :raises UnbalancedTransaction: debits and credits differ in a currency.
    :raises IdempotencyConflict: the key, or the external reference, was already
        posted with a different effect.
    """
    key = _nonblank("idempotency key", idempotency_key, MAX_KEY_LENGTH)
    kind = _nonblank("transaction kind", kind, 64)
    if external_ref is not None:
        external_ref = _nonblank("external reference", external_ref, 255)
    lines = _lines(entries)

    existing = _transaction_by_key(key)
    if existing is not None:
        return _same_effect_or_conflict(existing, kind, lines, external_ref)
    if external_ref is not None:
        _refuse_foreign_external_ref(key, external_ref)

    new_id = db.session.execute(
        _insert_ignoring_conflicts(LedgerTransaction.__table__)
        .values(
            idempotency_key=key,
            kind=kind,
            description=description,
            external_ref=external_ref,
            created_at=utcnow(),
            created_by_id=actor.id if actor is not None else None,
        )
        .returning(LedgerTransaction.__table__.c.id)
    ).scalar_one_or_none()
    if new_id is None:
        # Another unit of work posted the key (or the reference) first and has committed.
        winner = _transaction_by_key(key)
        if winner is not None:
            logger.info("Ledger key %s was posted concurrently; returning transaction %s", key, winner.id)
            return _same_effect_or_conflict(winner, kind, lines, external_ref)
        if external_ref is not None:
            _refuse_foreign_external_ref(key, external_ref)
        raise RuntimeError(f"ledger transaction {key!r} was neither inserted nor found")  # pragma: no cover

    db.session.add_all(
        LedgerEntry(
            transaction_id=new_id,
            account_id=line.account_id,
            side=line.side,
            amount_minor=line.amount_minor,
            currency=line.currency,
        )
        for line in lines
    )
    db.session.flush()
    transaction = db.session.get(LedgerTransaction, new_id)
    assert transaction is not None
    return transaction


def _lines(entries: Sequence[Posting]) -> list[_Line]:
    if len(entries) < 2:
        raise LedgerError("a ledger transaction needs at least two entries (a debit and a credit)")
    lines: list[_Line] = []
    for position, entry in enumerate(entries, start=1):
        try:
            acct, side, amount = entry
        except (TypeError, ValueError) as exc:
            raise LedgerError(f"entry {position} must be (account, side, amount_minor)") from exc
        if not isinstance(acct, LedgerAccount):
            raise LedgerError(f"entry {position}: {acct!r} is not a ledger account")
        if acct.id is None:
            raise LedgerError(f"entry {position}: the account is not saved yet (use ledger.account())")
        try:
            side = LedgerSide(side)
        except ValueError as exc:
            raise LedgerError(f"entry {position}: side must be 'debit' or 'credit', not {side!r}") from exc
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise LedgerError(
                f"entry {position}: amounts are whole numbers of minor units (cents); "
                f"got {type(amount).__name__} {amount!r}"
            )
        if amount <= 0:
            raise LedgerError(
                f"entry {position}: amounts must be positive (got {amount}); use the other side to reverse"
            )
        if amount > MAX_AMOUNT_MINOR:
            raise LedgerError(f"entry {position}: {amount} minor units is beyond the ledger's limit")
        lines.append(_Line(acct.id, side, amount, acct.currency))

    net: Counter[str] = Counter()
    debits: Counter[str] = Counter()
    credits: Counter[str] = Counter()
    for line in lines:
        (debits if line.side is LedgerSide.DEBIT else credits)[line.currency] += line.amount_minor
        net[line.currency] += line.amount_minor if line.side is LedgerSide.DEBIT else -line.amount_minor
    unbalanced = sorted(currency for currency, value in net.items() if value != 0)
    if unbalanced:
        detail = "; ".join(f"{c}: debits {debits[c]}, credits {credits[c]}" for c in unbalanced)
        raise UnbalancedTransaction(f"debits must equal credits in every currency ({detail})")
    return lines


def _transaction_by_key(key: str) -> LedgerTransaction | None:
    return db.session.scalars(
        sa.select(LedgerTransaction)
        .where(LedgerTransaction.idempotency_key == key)
        .execution_options(populate_existing=True)
    ).one_or_none()


def _refuse_foreign_external_ref(key: str, external_ref: str) -> None:
    other = db.session.scalars(
        sa.select(LedgerTransaction).where(LedgerTransaction.external_ref == external_ref)
    ).one_or_none()
    if other is not None and other.idempotency_key != key:
        raise IdempotencyConflict(
            f"provider reference {external_ref!r} is already recorded by ledger transaction {other.id} "
            f"(key {other.idempotency_key!r}); one provider object maps to one transaction"
        )


def _same_effect_or_conflict(
    existing: LedgerTransaction, kind: str, lines: list[_Line], external_ref: str | None
) -> LedgerTransaction:
    stored = sorted(
        _Line(e.account_id, LedgerSide(e.side), e.amount_minor, e.currency)
        for e in db.session.scalars(sa.select(LedgerEntry).where(LedgerEntry.transaction_id == existing.id))
    )
    if existing.kind != kind or stored != sorted(lines):
        raise IdempotencyConflict(
            f"idempotency key {existing.idempotency_key!r} was already posted as {existing.kind} "
            f"(transaction {existing.id}) with different entries; use a new key for a new event"
        )
    if external_ref is not None and existing.external_ref != external_ref:
        raise IdempotencyConflict(
            f"idempotency key {existing.idempotency_key!r} was already posted with provider reference "
            f"{existing.external_ref!r}, not {external_ref!r}"
        )
    return existing


# Balances -----------------------------------------------------------------------------------

_SIGNED = sa.case((LedgerEntry.side == LedgerSide.DEBIT, LedgerEntry.amount_minor), else_=-LedgerEntry.amount_minor)


def balance(acct: LedgerAccount) -> int:
    """The account's balance on its normal side, in minor units.

    Debit-normal accounts (provider and bank clearing) give debits - credits;
    every other kind gives credits - debits, so a funded escrow is positive.
    """
    db.session.flush()
    net_debit = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(_SIGNED), 0)).where(LedgerEntry.account_id == acct.id)
    )
    net = int(net_debit or 0)
    return net if NORMAL_SIDE[acct.kind] is LedgerSide.DEBIT else -net


def balances_by_currency(kind: LedgerAccountKind | str | None = None) -> dict[str, int]:
    """Totals per currency, in minor units.

    With ``kind``: the sum of the balances of every account of that kind, on the
    kind's normal side (e.g. all money held in escrow). Without: Σ (debits -
    credits) over the whole ledger, which I2 says is 0 in every currency.
    """
    db.session.flush()
    query = sa.select(LedgerEntry.currency, sa.func.sum(_SIGNED)).group_by(LedgerEntry.currency)
    sign = 1
    if kind is not None:
        kind = LedgerAccountKind(kind)
        query = query.join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id).where(LedgerAccount.kind == kind)
        sign = 1 if NORMAL_SIDE[kind] is LedgerSide.DEBIT else -1
    return {currency: sign * int(total) for currency, total in db.session.execute(query).all()}


# Invariants ---------------------------------------------------------------------------------

# Plain SQL, so the checks also judge rows written around the ORM. Literal on purpose (no interpolation).
_SQL_UNBALANCED = """
SELECT t.id, t.idempotency_key, e.currency,
       SUM(CASE WHEN e.side = 'debit' THEN e.amount_minor ELSE 0 END),
       SUM(CASE WHEN e.side = 'credit' THEN e.amount_minor ELSE 0 END)
  FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
 GROUP BY t.id, t.idempotency_key, e.currency
HAVING SUM(CASE WHEN e.side = 'debit' THEN e.amount_minor ELSE -e.amount_minor END) <> 0
 ORDER BY t.id, e.currency
"""
_SQL_EMPTY_TRANSACTIONS = """
SELECT t.id, t.idempotency_key FROM ledger_transactions t
 WHERE NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.transaction_id = t.id)
 ORDER BY t.id
"""
_SQL_STRAY_ENTRIES = """
SELECT e.id, e.currency, e.account_id, a.currency, t.id
  FROM ledger_entries e
  LEFT JOIN ledger_accounts a ON a.id = e.account_id
  LEFT JOIN ledger_transactions t ON t.id = e.transaction_id
 WHERE a.id IS NULL OR t.id IS NULL OR a.currency <> e.currency
 ORDER BY e.id
"""
_SQL_LEDGER_TOTALS = """
SELECT e.currency, SUM(CASE WHEN e.side = 'debit' THEN e.amount_minor ELSE -e.amount_minor END)
  FROM ledger_entries e
 GROUP BY e.currency
HAVING SUM(CASE WHEN e.side = 'debit' THEN e.amount_minor ELSE -e.amount_minor END) <> 0
 ORDER BY e.currency
"""
# Outflows of an escrow account are classified by the transaction kind (models/ledger.py).
_SQL_ESCROW_TOTALS = """
SELECT a.id, a.reference, a.currency,
       SUM(CASE WHEN e.side = 'credit' THEN e.amount_minor ELSE 0 END),
       SUM(CASE WHEN e.side = 'debit' AND t.kind LIKE 'escrow.released%' THEN e.amount_minor ELSE 0 END),
       SUM(CASE WHEN e.side = 'debit' AND t.kind LIKE 'escrow.refunded%' THEN e.amount_minor ELSE 0 END),
       SUM(CASE WHEN e.side = 'debit' AND NOT (t.kind LIKE 'escrow.released%' OR t.kind LIKE 'escrow.refunded%')
                THEN e.amount_minor ELSE 0 END)
  FROM ledger_accounts a
  JOIN ledger_entries e ON e.account_id = a.id
  JOIN ledger_transactions t ON t.id = e.transaction_id
 WHERE a.kind = 'escrow'
 GROUP BY a.id, a.reference, a.currency
 ORDER BY a.id
"""
_SQL_ESCROW_DIPS = """
SELECT account_id, reference, currency, transaction_id, running FROM (
    SELECT a.id AS account_id, a.reference AS reference, a.currency AS currency,
           s.transaction_id AS transaction_id,
           SUM(s.net) OVER (PARTITION BY a.id ORDER BY s.transaction_id) AS running
      FROM ledger_accounts a
      JOIN (SELECT e.account_id AS account_id, e.transaction_id AS transaction_id,
                   SUM(CASE WHEN e.side = 'credit' THEN e.amount_minor ELSE -e.amount_minor END) AS net
              FROM ledger_entries e
             GROUP BY e.account_id, e.transaction_id) s ON s.account_id = a.id
     WHERE a.kind = 'escrow'
) r
 WHERE running < 0
 ORDER BY account_id, transaction_id
"""
_SQL_DUPLICATE_KEYS = """
SELECT idempotency_key, COUNT(*) FROM ledger_transactions
 GROUP BY idempotency_key HAVING COUNT(*) > 1 ORDER BY idempotency_key
"""
_SQL_DUPLICATE_REFS = """
SELECT external_ref, COUNT(*) FROM ledger_transactions WHERE external_ref IS NOT NULL
 GROUP BY external_ref HAVING COUNT(*) > 1 ORDER BY external_ref
"""
_SQL_BAD_AMOUNTS = """
SELECT id, amount_minor FROM ledger_entries
 WHERE amount_minor <= 0 OR CAST(amount_minor AS BIGINT) <> amount_minor
 ORDER BY id
"""
# SQLite stores whatever it is given: a REAL or TEXT amount is a violation too.
_SQL_BAD_AMOUNTS_SQLITE = """
SELECT id, amount_minor FROM ledger_entries
 WHERE typeof(amount_minor) <> 'integer' OR amount_minor <= 0
 ORDER BY id
"""
assert ESCROW_RELEASE_PREFIX in _SQL_ESCROW_TOTALS and ESCROW_REFUND_PREFIX in _SQL_ESCROW_TOTALS


def check_invariants(session: Session | scoped_session[Session]) -> list[str]:
    """Every violation of the ledger invariants I1, I2, I3, I6 and I7 in the stored rows.

    Reads the tables with plain SQL (so it also judges rows written around the
    ORM) and returns one human-readable line per problem; an empty list means
    the ledger is sound. Flushes the session first.
    """
    session.flush()
    problems: list[str] = []

    def rows(sql: str) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in session.execute(sa.text(sql))]

    # I1: every transaction balances per currency, has entries, and posts to real accounts.
    for txn_id, key, currency, debits, credits in rows(_SQL_UNBALANCED):
        problems.append(
            f"I1: ledger transaction {txn_id} (key {key!r}) is unbalanced in {currency}: "
            f"debits {debits}, credits {credits}"
        )
    for txn_id, key in rows(_SQL_EMPTY_TRANSACTIONS):
        problems.append(f"I1: ledger transaction {txn_id} (key {key!r}) has no entries")
    for entry_id, entry_currency, account_id, account_currency, txn_id in rows(_SQL_STRAY_ENTRIES):
        if txn_id is None:
            problems.append(f"I1: ledger entry {entry_id} belongs to no transaction")
        elif account_currency is None:
            problems.append(f"I1: ledger entry {entry_id} posts to a missing account {account_id}")
        else:
            problems.append(
                f"I1: ledger entry {entry_id} is in {entry_currency} but its account {account_id} "
                f"is in {account_currency}"
            )

    # I2: the whole ledger sums to zero per currency.
    for currency, net in rows(_SQL_LEDGER_TOTALS):
        problems.append(f"I2: the ledger does not sum to zero in {currency}: debits exceed credits by {net}")

    # I3: escrow = funded - released - refunded >= 0, now and after every transaction.
    for acct_id, contract, currency, funded, released, refunded, other in rows(_SQL_ESCROW_TOTALS):
        label = f"escrow account {acct_id} (contract {contract}, {currency})"
        if funded - released - refunded - other < 0:
            problems.append(f"I3: {label} is negative: funded {funded}, released {released}, refunded {refunded}")
        if released + refunded > funded:
            problems.append(
                f"I3: {label} gave out more than it received: released {released} + refunded {refunded} "
                f"> funded {funded}"
            )
        if other:
            problems.append(
                f"I3: {label} was debited {other} by transactions that are neither releases "
                f"({ESCROW_RELEASE_PREFIX}*) nor refunds ({ESCROW_REFUND_PREFIX}*)"
            )
    for acct_id, contract, currency, txn_id, running in rows(_SQL_ESCROW_DIPS):
        problems.append(
            f"I3: escrow account {acct_id} (contract {contract}, {currency}) went negative ({running}) "
            f"at ledger transaction {txn_id}"
        )

    # I6: one transaction per idempotency key (and per provider reference), enforced by the schema.
    for key, count in rows(_SQL_DUPLICATE_KEYS):
        problems.append(f"I6: idempotency key {key!r} was posted {count} times")
    for ref, count in rows(_SQL_DUPLICATE_REFS):
        problems.append(f"I6: provider reference {ref!r} is recorded by {count} ledger transactions")
    if not _has_unique(session, "ledger_transactions", "idempotency_key"):
        problems.append("I6: ledger_transactions.idempotency_key has no unique constraint; duplicates are possible")

    # I7: amounts are positive whole numbers.
    sqlite_db = session.get_bind().dialect.name == "sqlite"
    for entry_id, amount in rows(_SQL_BAD_AMOUNTS_SQLITE if sqlite_db else _SQL_BAD_AMOUNTS):
        problems.append(f"I7: ledger entry {entry_id} has amount {amount!r}; amounts are positive whole minor units")
    return problems


def _has_unique(session: Session | scoped_session[Session], table: str, column: str) -> bool:
    inspector = sa.inspect(session.connection())
    if any(uc["column_names"] == [column] for uc in inspector.get_unique_constraints(table)):
        return True
    return any(ix.get("unique") and ix["column_names"] == [column] for ix in inspector.get_indexes(table))


def _insert_ignoring_conflicts(table: Any) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING`` in the current dialect (PostgreSQL or SQLite)."""
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    raise RuntimeError(f"the ledger needs PostgreSQL or SQLite, not {dialect}")  # config refuses other databases


def _currency(value: str) -> str:
    if not isinstance(value, str) or len(value) != 3 or not value.isascii() or not value.isalpha():
        raise LedgerError(f"currency must be a three-letter ISO 4217 code, not {value!r}")
    return value.upper()


def _nonblank(what: str, value: str, max_length: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise LedgerError(f"the {what} must not be empty")
    if len(value) > max_length:
        raise LedgerError(f"the {what} is longer than {max_length} characters")
    return value
