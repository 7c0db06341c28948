"""The hub's double-entry ledger (RELIABILITY.md §1, invariants I1-I8).

Chart of accounts. Every account holds one currency; its balance is read on its
*normal side* (``NORMAL_SIDE``): debit-normal accounts (assets: money the hub
holds at the payment provider or in its bank) show debits - credits, all the
others (what the hub owes, and its revenue) show credits - debits.

=================  ======  ==========  ==================================================
kind               normal  reference   meaning
=================  ======  ==========  ==================================================
provider_clearing  debit   -           money at the payment provider (Stripe balance)
bank_clearing      debit   -           money received on the hub's bank account
company_funding    credit  company     received from a company, not yet allocated to an
                                       engagement (over-payment, unmatched bank transfer)
escrow             credit  contract    held for one engagement until the company accepts
expert_payable     credit  expert      released to an expert, not yet paid out
qc_payable         credit  expert      released to the QC expert, not yet paid out
hub_revenue        credit  -           the hub's fee
company_refunds    credit  company     owed back to a company, not yet refunded
=================  ======  ==========  ==================================================

Typical postings (debit / credit):

- card funding: provider_clearing / escrow[contract]  (``escrow.funded``)
- bank funding: bank_clearing / escrow[contract]      (``escrow.funded``)
- release: escrow / expert_payable + qc_payable + hub_revenue  (``escrow.released``)
- refund decided: escrow / company_refunds             (``escrow.refunded``)
- payout sent: expert_payable / provider_clearing     (``payout.sent``)
- refund sent: company_refunds / provider_clearing    (``refund.sent``)

Only transactions whose kind starts with ``escrow.released`` or ``escrow.refunded``
may take money out of an escrow account (I3, checked by ``services.ledger``).

References. An account points at its owner with ``reference_kind`` + ``reference``
(a plain integer) instead of one foreign key per owner type: contracts do not exist
yet, and one pair keeps the uniqueness rule to one constraint. The kind of
reference each account kind needs is fixed by ``REFERENCE_KIND_OF`` and checked
by the database. Accounts without an owner (hub revenue, clearing) have both NULL
and are unique per (kind, currency) through a partial index.

Immutability (I5). Transactions and entries are never updated or deleted: an ORM
guard raises ``ImmutableLedgerError`` in every dialect, and on PostgreSQL triggers
raise on UPDATE and DELETE, and a deferred constraint trigger refuses, at commit,
any ledger transaction that does not balance per currency (I1) or has no entries.
The same DDL lives in the migration (migration code may not import the app).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Mapped, ORMExecuteState, Session, mapped_column, relationship

from app.models.base import Model
from app.models.enums import enum_column
from app.models.mixins import UTCDateTime, utcnow

if TYPE_CHECKING:
    from app.models.users import User


class LedgerAccountKind(enum.StrEnum):
    PROVIDER_CLEARING = "provider_clearing"
    BANK_CLEARING = "bank_clearing"
    COMPANY_FUNDING = "company_funding"
    ESCROW = "escrow"
    EXPERT_PAYABLE = "expert_payable"
    QC_PAYABLE = "qc_payable"
    HUB_REVENUE = "hub_revenue"
    COMPANY_REFUNDS = "company_refunds"


class LedgerReferenceKind(enum.StrEnum):
    COMPANY = "company"  # companies.id
    EXPERT = "expert"  # expert_profiles.id
    CONTRACT = "contract"  # contracts.id (the table comes later)


class LedgerSide(enum.StrEnum):
    DEBIT = "debit"
    CREDIT = "credit"


REFERENCE_KIND_OF: dict[LedgerAccountKind, LedgerReferenceKind | None] = {
    LedgerAccountKind.PROVIDER_CLEARING: None,
    LedgerAccountKind.BANK_CLEARING: None,
    LedgerAccountKind.COMPANY_FUNDING: LedgerReferenceKind.COMPANY,
    LedgerAccountKind.ESCROW: LedgerReferenceKind.CONTRACT,
    LedgerAccountKind.EXPERT_PAYABLE: LedgerReferenceKind.EXPERT,
    LedgerAccountKind.QC_PAYABLE: LedgerReferenceKind.EXPERT,
    LedgerAccountKind.HUB_REVENUE: None,
    LedgerAccountKind.COMPANY_REFUNDS: LedgerReferenceKind.COMPANY,
}

NORMAL_SIDE: dict[LedgerAccountKind, LedgerSide] = {
    kind: LedgerSide.DEBIT
    if kind in {LedgerAccountKind.PROVIDER_CLEARING, LedgerAccountKind.BANK_CLEARING}
    else LedgerSide.CREDIT
    for kind in LedgerAccountKind
}

ESCROW_RELEASE_PREFIX = "escrow.released"
ESCROW_REFUND_PREFIX = "escrow.refunded"


def _reference_rule_sql() -> str:
    clauses = []
    for kind, ref in REFERENCE_KIND_OF.items():
        if ref is None:
            clauses.append(f"(kind = '{kind.value}' AND reference_kind IS NULL)")
        else:
            clauses.append(f"(kind = '{kind.value}' AND reference_kind = '{ref.value}')")
    return " OR ".join(clauses)


_CURRENCY_SQL = "length(currency) = 3 AND upper(currency) = currency"


class LedgerAccount(Model):
    """One account of the chart: a kind, a currency and (for most kinds) an owner."""

    __tablename__ = "ledger_accounts"
    __table_args__ = (
        sa.UniqueConstraint("kind", "reference_kind", "reference", "currency", name="uq_ledger_accounts_owner"),
        sa.Index(
            "uq_ledger_accounts_system",
            "kind",
            "currency",
            unique=True,
            sqlite_where=sa.text("reference IS NULL"),
            postgresql_where=sa.text("reference IS NULL"),
        ),
        # The target of the entries' composite foreign key (an entry's currency is its account's).
        sa.UniqueConstraint("id", "currency", name="uq_ledger_accounts_id_currency"),
        sa.CheckConstraint("(reference IS NULL) = (reference_kind IS NULL)", name="reference_pair"),
        sa.CheckConstraint(_reference_rule_sql(), name="reference_kind_matches"),
        sa.CheckConstraint(_CURRENCY_SQL, name="currency_code"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[LedgerAccountKind] = mapped_column(enum_column(LedgerAccountKind))
    currency: Mapped[str] = mapped_column(sa.String(3))
    reference_kind: Mapped[LedgerReferenceKind | None] = mapped_column(enum_column(LedgerReferenceKind, length=16))
    reference: Mapped[int | None] = mapped_column(sa.BigInteger())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @property
    def normal_side(self) -> LedgerSide:
        return NORMAL_SIDE[self.kind]

    def __repr__(self) -> str:
        owner = f" {self.reference_kind}:{self.reference}" if self.reference is not None else ""
        return f"<LedgerAccount {self.id} {self.kind}{owner} {self.currency}>"


class LedgerTransaction(Model):
    """One business event, posted once (``idempotency_key``), as balanced entries."""

    __tablename__ = "ledger_transactions"

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(64), index=True)  # "escrow.funded", "escrow.released", ...
    description: Mapped[str] = mapped_column(sa.Text(), default="")
    # The provider's charge / transfer / refund id: each maps to exactly one transaction (I8).
    external_ref: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    created_by: Mapped[User | None] = relationship()
    entries: Mapped[list[LedgerEntry]] = relationship(back_populates="transaction", order_by="LedgerEntry.id")

    def __repr__(self) -> str:
        return f"<LedgerTransaction {self.id} {self.kind} {self.idempotency_key!r}>"


class LedgerEntry(Model):
    """One posting: an amount (minor units, > 0) on one side of one account."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        sa.CheckConstraint("amount_minor > 0", name="amount_positive"),
        sa.ForeignKeyConstraint(
            ["account_id", "currency"],
            ["ledger_accounts.id", "ledger_accounts.currency"],
            name="fk_ledger_entries_account_id_ledger_accounts",
        ),
        sa.Index("ix_ledger_entries_account_id", "account_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    transaction_id: Mapped[int] = mapped_column(sa.ForeignKey("ledger_transactions.id"), index=True)
    account_id: Mapped[int] = mapped_column()
    side: Mapped[LedgerSide] = mapped_column(enum_column(LedgerSide, length=8))
    amount_minor: Mapped[int] = mapped_column(sa.BigInteger())
    currency: Mapped[str] = mapped_column(sa.String(3))

    transaction: Mapped[LedgerTransaction] = relationship(back_populates="entries")
    account: Mapped[LedgerAccount] = relationship()

    @property
    def signed_amount(self) -> int:
        """Debits positive, credits negative (Σ per transaction and currency is 0: I1)."""
        return self.amount_minor if self.side is LedgerSide.DEBIT else -self.amount_minor

    def __repr__(self) -> str:
        return f"<LedgerEntry {self.id} {self.side} {self.amount_minor} {self.currency} acct={self.account_id}>"


class ImmutableLedgerError(RuntimeError):
    """A ledger transaction, entry or account was about to be changed or deleted (I5)."""


_IMMUTABLE = (LedgerAccount, LedgerTransaction, LedgerEntry)
_IMMUTABLE_TABLES = frozenset(cls.__tablename__ for cls in _IMMUTABLE)


@event.listens_for(Session, "before_flush")
def _ledger_is_append_only(session: Session, flush_context: Any, instances: Any) -> None:
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, _IMMUTABLE) and (
            obj in session.deleted or session.is_modified(obj, include_collections=False)
        ):
            raise ImmutableLedgerError(
                f"{type(obj).__name__} {obj.id} is immutable; post a correcting transaction instead"
            )


@event.listens_for(Session, "do_orm_execute")
def _no_bulk_ledger_changes(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    if table is not None and getattr(table, "name", None) in _IMMUTABLE_TABLES:
        raise ImmutableLedgerError(f"{table.name} is append-only; post a correcting transaction instead")


# PostgreSQL: the database itself refuses changes and unbalanced transactions. ------------------
# Keep in sync with the migration "ledger and payment events" (which may not import this module).

PG_FORBID_CHANGE_FUNCTION = """
CREATE OR REPLACE FUNCTION ledger_forbid_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = 'restrict_violation',
        MESSAGE = 'ledger rows are append-only: ' || TG_OP || ' on ' || TG_TABLE_NAME || ' refused';
END;
$$
"""

PG_CHECK_BALANCED_FUNCTION = """
CREATE OR REPLACE FUNCTION ledger_check_balanced() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    txn_id bigint;
    bad record;
BEGIN
    IF TG_TABLE_NAME = 'ledger_transactions' THEN
        txn_id := NEW.id;
    ELSE
        txn_id := NEW.transaction_id;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM ledger_entries WHERE transaction_id = txn_id) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'check_violation',
            MESSAGE = 'ledger transaction ' || txn_id || ' has no entries';
    END IF;
    SELECT currency,
           sum(CASE WHEN side = 'debit' THEN amount_minor ELSE 0 END) AS debits,
           sum(CASE WHEN side = 'credit' THEN amount_minor ELSE 0 END) AS credits
      INTO bad
      FROM ledger_entries
     WHERE transaction_id = txn_id
     GROUP BY currency
    HAVING sum(CASE WHEN side = 'debit' THEN amount_minor ELSE -amount_minor END) <> 0
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'check_violation',
            MESSAGE = 'ledger transaction ' || txn_id || ' is unbalanced in ' || bad.currency
                || ': debits ' || bad.debits || ', credits ' || bad.credits;
    END IF;
    RETURN NULL;
END;
$$
"""

PG_TRIGGERS = (
    "CREATE TRIGGER ledger_transactions_append_only BEFORE UPDATE OR DELETE ON ledger_transactions"
    " FOR EACH ROW EXECUTE FUNCTION ledger_forbid_change()",
    "CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries"
    " FOR EACH ROW EXECUTE FUNCTION ledger_forbid_change()",
    "CREATE CONSTRAINT TRIGGER ledger_entries_balanced AFTER INSERT ON ledger_entries"
    " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_balanced()",
    "CREATE CONSTRAINT TRIGGER ledger_transactions_have_entries AFTER INSERT ON ledger_transactions"
    " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_balanced()",
)


def _on_postgresql(ddl: str) -> sa.DDL:
    return sa.DDL(ddl).execute_if(dialect="postgresql")


# Functions first (before the tables exist), triggers once both tables exist.
event.listen(LedgerTransaction.__table__, "before_create", _on_postgresql(PG_FORBID_CHANGE_FUNCTION))
event.listen(LedgerTransaction.__table__, "before_create", _on_postgresql(PG_CHECK_BALANCED_FUNCTION))
event.listen(LedgerTransaction.__table__, "after_create", _on_postgresql(PG_TRIGGERS[0]))
for _ddl in PG_TRIGGERS[1:3]:
    event.listen(LedgerEntry.__table__, "after_create", _on_postgresql(_ddl))
event.listen(LedgerEntry.__table__, "after_create", _on_postgresql(PG_TRIGGERS[3]))
# ledger_transactions is dropped after ledger_entries: no trigger uses the functions any more.
for _ddl in ("DROP FUNCTION IF EXISTS ledger_check_balanced()", "DROP FUNCTION IF EXISTS ledger_forbid_change()"):
    event.listen(LedgerTransaction.__table__, "after_drop", _on_postgresql(_ddl))
