"""The double-entry ledger: postings, idempotency, immutability and the invariant checks (RELIABILITY.md §1).

The default tier runs on SQLite (and on PostgreSQL with TEST_DATABASE_URL); the
``postgres`` tests build their own fresh database to prove the triggers: UPDATE and
DELETE refused, and an unbalanced transaction refused at commit by the deferred
constraint trigger, plus concurrent posting of one key.
"""

from __future__ import annotations

import importlib.util
import secrets
import threading
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import flask_migrate
import pytest
import sqlalchemy as sa
from flask import Flask, current_app
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from app.extensions import db
from app.models import (
    ImmutableLedgerError,
    LedgerAccount,
    LedgerAccountKind,
    LedgerEntry,
    LedgerSide,
    LedgerTransaction,
)
from app.services import ledger, uow
from app.services.ledger import IdempotencyConflict, LedgerError, UnbalancedTransaction
from tests.conftest import _clear_tables, _to_sqlalchemy_url, make_app, postgres_url

K = LedgerAccountKind
DEBIT, CREDIT = LedgerSide.DEBIT, LedgerSide.CREDIT


def counts() -> tuple[int, int, int]:
    """Rows in (accounts, transactions, entries)."""
    return tuple(  # type: ignore[return-value]
        db.session.scalar(sa.select(sa.func.count()).select_from(model))
        for model in (LedgerAccount, LedgerTransaction, LedgerEntry)
    )


def fund(contract: int = 7, amount: int = 100_00, currency: str = "EUR", key: str | None = None) -> LedgerTransaction:
    clearing = ledger.account(K.PROVIDER_CLEARING, currency)
    escrow = ledger.account(K.ESCROW, currency, contract)
    return ledger.post(
        key or f"fund:{contract}:1",
        "escrow.funded",
        [(clearing, DEBIT, amount), (escrow, CREDIT, amount)],
        description=f"contract {contract} funded",
        external_ref=f"pi_{contract}_{key or 1}",
    )


def is_sqlite() -> bool:
    return db.engine.dialect.name == "sqlite"


# Accounts -------------------------------------------------------------------------------------


def test_account_is_get_or_create_and_checks_its_reference(app: Flask) -> None:
    escrow = ledger.account(K.ESCROW, "eur", 7)
    assert escrow.currency == "EUR" and escrow.reference == 7 and escrow.reference_kind == "contract"
    assert ledger.account("escrow", "EUR", 7).id == escrow.id
    assert ledger.account(K.ESCROW, "EUR", 8).id != escrow.id
    assert ledger.account(K.ESCROW, "USD", 7).id != escrow.id
    revenue = ledger.account(K.HUB_REVENUE, "EUR")
    assert ledger.account(K.HUB_REVENUE, "EUR").id == revenue.id
    assert ledger.account(K.EXPERT_PAYABLE, "EUR", 3).reference_kind == "expert"
    assert ledger.account(K.COMPANY_REFUNDS, "EUR", 3).reference_kind == "company"
    assert counts() == (6, 0, 0)

    with pytest.raises(LedgerError, match="needs the id of its contract"):
        ledger.account(K.ESCROW, "EUR")
    with pytest.raises(LedgerError, match="hub-wide and takes no reference"):
        ledger.account(K.HUB_REVENUE, "EUR", 1)
    with pytest.raises(LedgerError, match="three-letter"):
        ledger.account(K.HUB_REVENUE, "EURO")
    with pytest.raises(LedgerError, match="unknown ledger account kind"):
        ledger.account("petty_cash", "EUR")
    assert counts() == (6, 0, 0)


def test_database_refuses_an_account_with_the_wrong_reference_kind(app: Flask) -> None:
    with pytest.raises(sa.exc.IntegrityError):
        db.session.add(LedgerAccount(kind=K.ESCROW, currency="EUR", reference_kind="company", reference=1))
        db.session.flush()
    db.session.rollback()


# Postings -------------------------------------------------------------------------------------


def test_balanced_postings_fund_and_release_an_escrow(app: Flask) -> None:
    funded = fund(contract=7, amount=100_00)
    escrow = ledger.account(K.ESCROW, "EUR", 7)
    expert = ledger.account(K.EXPERT_PAYABLE, "EUR", 11)
    qc = ledger.account(K.QC_PAYABLE, "EUR", 12)
    revenue = ledger.account(K.HUB_REVENUE, "EUR")
    released = ledger.post(
        "release:7:1",
        "escrow.released",
        [(escrow, DEBIT, 100_00), (expert, CREDIT, 75_00), (qc, CREDIT, 10_00), (revenue, CREDIT, 15_00)],
        description="milestone 1 accepted",
    )
    uow.commit()

    assert funded.id != released.id
    assert [(e.side, e.amount_minor) for e in released.entries] == [
        (DEBIT, 100_00),
        (CREDIT, 75_00),
        (CREDIT, 10_00),
        (CREDIT, 15_00),
    ]
    assert ledger.balance(ledger.account(K.PROVIDER_CLEARING, "EUR")) == 100_00  # debit-normal asset
    assert ledger.balance(escrow) == 0
    assert (ledger.balance(expert), ledger.balance(qc), ledger.balance(revenue)) == (75_00, 10_00, 15_00)
    assert ledger.balances_by_currency() == {"EUR": 0}
    assert ledger.balances_by_currency(K.EXPERT_PAYABLE) == {"EUR": 75_00}
    assert ledger.check_invariants(db.session) == []


def test_a_transaction_may_span_currencies_if_each_balances(app: Flask) -> None:
    eur_in, eur_out = ledger.account(K.PROVIDER_CLEARING, "EUR"), ledger.account(K.COMPANY_FUNDING, "EUR", 1)
    usd_in, usd_out = ledger.account(K.PROVIDER_CLEARING, "USD"), ledger.account(K.COMPANY_FUNDING, "USD", 1)
    ledger.post(
        "multi:1",
        "funding.received",
        [(eur_in, DEBIT, 500), (eur_out, CREDIT, 500), (usd_in, DEBIT, 700), (usd_out, CREDIT, 700)],
        description="two currencies",
    )
    with pytest.raises(UnbalancedTransaction, match=r"EUR: debits 100, credits 0; USD: debits 0, credits 100"):
        ledger.post(
            "multi:2",
            "funding.received",
            [(eur_in, DEBIT, 100), (usd_out, CREDIT, 100)],
            description="same total, different currencies",
        )
    assert ledger.balances_by_currency() == {"EUR": 0, "USD": 0}
    assert ledger.check_invariants(db.session) == []


@pytest.mark.parametrize(
    ("amounts", "error", "message"),
    [
        (
            (100, 90),
            UnbalancedTransaction,
            r"debits must equal credits in every currency \(EUR: debits 100, credits 90\)",
        ),
        ((0, 0), LedgerError, r"amounts must be positive \(got 0\)"),
        ((-100, -100), LedgerError, r"amounts must be positive \(got -100\)"),
        ((12.5, 12.5), LedgerError, r"whole numbers of minor units \(cents\); got float 12.5"),
        ((Decimal("10"), Decimal("10")), LedgerError, r"got Decimal"),
        ((True, True), LedgerError, r"got bool True"),
        ((10**16, 10**16), LedgerError, r"beyond the ledger's limit"),
    ],
)
def test_bad_amounts_are_refused_and_nothing_is_written(app: Flask, amounts: Any, error: type, message: str) -> None:
    clearing, escrow = ledger.account(K.PROVIDER_CLEARING, "EUR"), ledger.account(K.ESCROW, "EUR", 1)
    before = counts()
    with pytest.raises(error, match=message):
        ledger.post(
            "bad:1",
            "escrow.funded",
            [(clearing, DEBIT, amounts[0]), (escrow, CREDIT, amounts[1])],
            description="refused",
        )
    assert counts() == before


def test_malformed_postings_are_refused(app: Flask) -> None:
    clearing = ledger.account(K.PROVIDER_CLEARING, "EUR")
    with pytest.raises(LedgerError, match="at least two entries"):
        ledger.post("one:1", "x", [(clearing, DEBIT, 1)], description="")
    with pytest.raises(LedgerError, match="side must be 'debit' or 'credit'"):
        ledger.post("side:1", "x", [(clearing, "up", 1), (clearing, CREDIT, 1)], description="")
    with pytest.raises(LedgerError, match="not a ledger account"):
        ledger.post("acct:1", "x", [("cash", DEBIT, 1), (clearing, CREDIT, 1)], description="")  # type: ignore[list-item]
    with pytest.raises(LedgerError, match="idempotency key must not be empty"):
        ledger.post("  ", "x", [(clearing, DEBIT, 1), (clearing, CREDIT, 1)], description="")
    assert counts() == (1, 0, 0)


def test_reposting_a_key_returns_the_same_transaction_and_adds_nothing(app: Flask) -> None:
    first = fund(contract=7, amount=100_00, key="fund:7:1")
    uow.commit()
    before = counts()
    again = fund(contract=7, amount=100_00, key="fund:7:1")
    uow.commit()
    assert again.id == first.id
    assert counts() == before == (2, 1, 2)
    # Entry order does not matter for "the same effect".
    clearing, escrow = ledger.account(K.PROVIDER_CLEARING, "EUR"), ledger.account(K.ESCROW, "EUR", 7)
    swapped = ledger.post(
        "fund:7:1",
        "escrow.funded",
        [(escrow, CREDIT, 100_00), (clearing, DEBIT, 100_00)],
        description="replayed by a retried job",
    )
    assert swapped.id == first.id
    assert ledger.balance(escrow) == 100_00
    assert ledger.check_invariants(db.session) == []


def test_reposting_a_key_with_another_effect_is_a_conflict(app: Flask) -> None:
    fund(contract=7, amount=100_00, key="fund:7:1")
    uow.commit()
    before = counts()
    with pytest.raises(
        IdempotencyConflict, match=r"'fund:7:1' was already posted as escrow.funded .* different entries"
    ):
        fund(contract=7, amount=99_00, key="fund:7:1")
    clearing, escrow = ledger.account(K.PROVIDER_CLEARING, "EUR"), ledger.account(K.ESCROW, "EUR", 8)
    with pytest.raises(IdempotencyConflict, match=r"provider reference 'pi_7_fund:7:1' is already recorded"):
        ledger.post(
            "fund:8:1",
            "escrow.funded",
            [(clearing, DEBIT, 5), (escrow, CREDIT, 5)],
            description="same charge id twice",
            external_ref="pi_7_fund:7:1",
        )
    assert counts()[1:] == before[1:]


def test_committed_ledger_rows_cannot_be_changed_through_the_orm(app: Flask) -> None:
    txn = fund()
    uow.commit()
    entry = txn.entries[0]
    entry.amount_minor = 1
    with pytest.raises(ImmutableLedgerError, match="LedgerEntry .* is immutable"):
        db.session.flush()
    db.session.rollback()
    db.session.delete(db.session.get(LedgerTransaction, txn.id))
    with pytest.raises(ImmutableLedgerError, match="LedgerTransaction .* is immutable"):
        db.session.flush()
    db.session.rollback()
    with pytest.raises(ImmutableLedgerError, match="ledger_entries is append-only"):
        db.session.execute(sa.update(LedgerEntry).values(amount_minor=1))
    with pytest.raises(ImmutableLedgerError, match="ledger_transactions is append-only"):
        db.session.execute(sa.delete(LedgerTransaction))
    db.session.rollback()
    assert [e.amount_minor for e in db.session.get(LedgerTransaction, txn.id).entries] == [100_00, 100_00]


# check_invariants on a ledger broken around the ORM (SQLite: no triggers stop the raw SQL) ------


def _raw_transaction(conn: sa.Connection, key: str, kind: str, entries: list[tuple[int, str, Any, str]]) -> int:
    txn_id = conn.execute(
        sa.text(
            "INSERT INTO ledger_transactions (idempotency_key, kind, description, created_at)"
            " VALUES (:k, :kind, 'raw', '2026-01-01 00:00:00') RETURNING id"
        ),
        {"k": key, "kind": kind},
    ).scalar_one()
    for account_id, side, amount, currency in entries:
        conn.execute(
            sa.text(
                "INSERT INTO ledger_entries (transaction_id, account_id, side, amount_minor, currency)"
                " VALUES (:t, :a, :s, :amt, :c)"
            ),
            {"t": txn_id, "a": account_id, "s": side, "amt": amount, "c": currency},
        )
    return txn_id


@pytest.fixture
def sqlite_app(storage_dir: str) -> Iterator[Flask]:
    """Always SQLite, on every tier: PostgreSQL's triggers would refuse the broken rows (tested below)."""
    from tests.conftest import make_app

    application = make_app(storage_dir, SQLALCHEMY_DATABASE_URI="sqlite://", REDIS_URL="")
    with application.app_context():
        db.create_all()
        yield application
        db.session.remove()
        db.engine.dispose()


def test_check_invariants_reports_a_deliberately_broken_ledger(sqlite_app: Flask) -> None:
    assert is_sqlite()
    fund(contract=7, amount=100_00)
    clearing = ledger.account(K.PROVIDER_CLEARING, "EUR").id
    escrow7 = ledger.account(K.ESCROW, "EUR", 7).id
    escrow8 = ledger.account(K.ESCROW, "EUR", 8).id
    revenue = ledger.account(K.HUB_REVENUE, "EUR").id
    usd = ledger.account(K.HUB_REVENUE, "USD").id
    expert = ledger.account(K.EXPERT_PAYABLE, "EUR", 3).id
    uow.commit()
    assert ledger.check_invariants(db.session) == []

    with db.engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA ignore_check_constraints = ON")
        unbalanced = _raw_transaction(
            conn, "raw:unbalanced", "fee.charged", [(clearing, "debit", 500, "EUR"), (revenue, "credit", 400, "EUR")]
        )
        _raw_transaction(conn, "raw:empty", "fee.charged", [])
        # Money out of escrow 7 by a kind that is neither release nor refund, and more than it holds.
        _raw_transaction(
            conn, "raw:leak", "fee.charged", [(escrow7, "debit", 150_00, "EUR"), (revenue, "credit", 150_00, "EUR")]
        )
        # Escrow 8 released without ever being funded.
        _raw_transaction(
            conn, "raw:release", "escrow.released", [(escrow8, "debit", 50, "EUR"), (expert, "credit", 50, "EUR")]
        )
        _raw_transaction(
            conn, "raw:currency", "fee.charged", [(usd, "debit", 10, "EUR"), (revenue, "credit", 10, "EUR")]
        )
        _raw_transaction(
            conn,
            "raw:amounts",
            "fee.charged",
            [
                (clearing, "debit", -5, "EUR"),
                (revenue, "credit", -5, "EUR"),
                (clearing, "debit", 2.5, "EUR"),
                (revenue, "credit", 2.5, "EUR"),
            ],
        )
        conn.exec_driver_sql("PRAGMA ignore_check_constraints = OFF")

    problems = ledger.check_invariants(db.session)
    text = "\n".join(problems)
    assert (
        f"I1: ledger transaction {unbalanced} (key 'raw:unbalanced') is unbalanced in EUR: debits 500, credits 400"
        in problems
    )
    assert "(key 'raw:empty') has no entries" in text
    assert f"but its account {usd} is in USD" in text
    assert "I2: the ledger does not sum to zero in EUR: debits exceed credits by 100" in text  # 100.0: a REAL crept in
    assert f"I3: escrow account {escrow7} (contract 7, EUR) is negative" in text
    assert f"I3: escrow account {escrow7} (contract 7, EUR) was debited 15000 by transactions that are neither" in text
    assert f"I3: escrow account {escrow8} (contract 8, EUR) gave out more than it received: released 50" in text
    assert f"I3: escrow account {escrow8} (contract 8, EUR) went negative (-50)" in text
    assert sum(p.startswith("I7: ledger entry") for p in problems) == 4
    assert "has amount -5" in text and "has amount 2.5" in text


def test_check_invariants_reports_duplicate_keys_when_the_schema_lost_its_constraint() -> None:
    engine = sa.create_engine("sqlite://")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE ledger_accounts (id INTEGER PRIMARY KEY, kind TEXT, reference INTEGER, currency TEXT)"
        )
        conn.exec_driver_sql(
            "CREATE TABLE ledger_transactions (id INTEGER PRIMARY KEY, idempotency_key TEXT, kind TEXT,"
            " description TEXT, external_ref TEXT, created_at TEXT)"
        )
        conn.exec_driver_sql(
            "CREATE TABLE ledger_entries (id INTEGER PRIMARY KEY, transaction_id INTEGER, account_id INTEGER,"
            " side TEXT, amount_minor INTEGER, currency TEXT)"
        )
        conn.exec_driver_sql("INSERT INTO ledger_accounts VALUES (1, 'hub_revenue', NULL, 'EUR')")
        for txn_id in (1, 2):
            conn.exec_driver_sql(
                f"INSERT INTO ledger_transactions VALUES ({txn_id}, 'same-key', 'x', '', 'tr_1', '2026-01-01')"
            )
            conn.exec_driver_sql(f"INSERT INTO ledger_entries VALUES ({2 * txn_id}, {txn_id}, 1, 'debit', 5, 'EUR')")
            conn.exec_driver_sql(
                f"INSERT INTO ledger_entries VALUES ({2 * txn_id + 1}, {txn_id}, 1, 'credit', 5, 'EUR')"
            )
    with sa.orm.Session(engine) as session:
        problems = ledger.check_invariants(session)
    assert problems == [
        "I6: idempotency key 'same-key' was posted 2 times",
        "I6: provider reference 'tr_1' is recorded by 2 ledger transactions",
        "I6: ledger_transactions.idempotency_key has no unique constraint; duplicates are possible",
    ]


# Hypothesis: random balanced multi-currency postings and replays -------------------------------

CURRENCIES = ("EUR", "USD", "CHF")
# Escrow is left out: random postings would take money out of it by kinds I3 rightly rejects.
ACCOUNT_CHOICES = [
    (K.PROVIDER_CLEARING, None),
    (K.BANK_CLEARING, None),
    (K.HUB_REVENUE, None),
    *[(K.EXPERT_PAYABLE, ref) for ref in (1, 2)],
    *[(K.QC_PAYABLE, ref) for ref in (1, 2)],
    *[(K.COMPANY_FUNDING, ref) for ref in (1, 2)],
    *[(K.COMPANY_REFUNDS, ref) for ref in (1, 2)],
]


@st.composite
def split(draw: st.DrawFn, total: int) -> list[int]:
    """``total`` as 1-3 positive parts."""
    parts = draw(st.integers(1, min(3, total)))
    cuts = sorted(draw(st.sets(st.integers(1, total - 1), min_size=parts - 1, max_size=parts - 1))) if parts > 1 else []
    bounds = [0, *cuts, total]
    return [b - a for a, b in zip(bounds, bounds[1:], strict=False)]


@st.composite
def balanced_postings(draw: st.DrawFn) -> list[tuple[int, str | None, str, int]]:
    """[(account choice, currency, side, amount)], balanced per currency."""
    postings: list[tuple[int, str | None, str, int]] = []
    for currency in draw(st.sets(st.sampled_from(CURRENCIES), min_size=1, max_size=2)):
        debits = draw(st.lists(st.integers(1, 10**9), min_size=1, max_size=3))
        for side, amounts in (("debit", debits), ("credit", draw(split(sum(debits))))):
            for amount in amounts:
                choice = draw(st.integers(0, len(ACCOUNT_CHOICES) - 1))
                postings.append((choice, currency, side, amount))
    return draw(st.permutations(postings))


def _resolve(postings: list[tuple[int, str | None, str, int]]) -> list[ledger.Posting]:
    resolved: list[ledger.Posting] = []
    for choice, currency, side, amount in postings:
        kind, ref = ACCOUNT_CHOICES[choice]
        assert currency is not None
        resolved.append((ledger.account(kind, currency, ref), side, amount))
    return resolved


class LedgerMachine(RuleBasedStateMachine):
    """Posts random balanced transactions, replays some, and checks the invariants after every step."""

    def __init__(self) -> None:
        super().__init__()
        self.posted: dict[str, tuple[int, list[tuple[int, str | None, str, int]]]] = {}
        self.expected: Counter[int] = Counter()  # account id -> debits - credits

    @initialize()
    def empty_ledger(self) -> None:
        db.session.remove()
        _clear_tables(current_app._get_current_object())  # type: ignore[attr-defined]

    @rule(postings=balanced_postings())
    def post_new(self, postings: list[tuple[int, str | None, str, int]]) -> None:
        key = f"event:{len(self.posted)}"
        entries = _resolve(postings)
        txn = ledger.post(key, "test.event", entries, description="random", external_ref=f"ref_{key}")
        uow.commit()
        self.posted[key] = (txn.id, postings)
        for acct, side, amount in entries:
            self.expected[acct.id] += amount if side == "debit" else -amount

    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        if not self.posted:
            return
        key = data.draw(st.sampled_from(sorted(self.posted)))
        txn_id, postings = self.posted[key]
        before = counts()
        again = ledger.post(key, "test.event", _resolve(data.draw(st.permutations(postings))), description="replay")
        uow.commit()
        assert again.id == txn_id
        assert counts() == before

    @rule(data=st.data())
    def replay_with_another_amount(self, data: st.DataObject) -> None:
        if not self.posted:
            return
        key = data.draw(st.sampled_from(sorted(self.posted)))
        _, postings = self.posted[key]
        # Still balanced (the first debit and the first credit of a currency both grow), but not the same event.
        currency = postings[0][1]
        changed, bumped = [], {"debit": False, "credit": False}
        for choice, cur, side, amount in postings:
            if cur == currency and not bumped[side]:
                bumped[side] = True
                amount += 1
            changed.append((choice, cur, side, amount))
        before = counts()
        with pytest.raises(IdempotencyConflict):
            ledger.post(key, "test.event", _resolve(changed), description="conflicting replay")
        uow.rollback()
        assert counts()[1:] == before[1:]

    @rule(postings=balanced_postings(), extra=st.integers(1, 1000))
    def unbalanced_is_refused(self, postings: list[tuple[int, str | None, str, int]], extra: int) -> None:
        choice, currency, side, amount = postings[0]
        broken = [(choice, currency, side, amount + extra), *postings[1:]]
        before = counts()
        with pytest.raises(UnbalancedTransaction):
            ledger.post(f"unbalanced:{len(self.posted)}", "test.event", _resolve(broken), description="refused")
        uow.rollback()
        assert counts()[1:] == before[1:]

    @invariant()
    def ledger_is_sound(self) -> None:
        assert ledger.check_invariants(db.session) == []
        assert all(value == 0 for value in ledger.balances_by_currency().values())
        for account_id, net in self.expected.items():
            acct = db.session.get(LedgerAccount, account_id)
            assert acct is not None
            assert ledger.balance(acct) == (net if acct.normal_side is DEBIT else -net)


def test_random_postings_and_replays_keep_the_invariants(app: Flask) -> None:
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )


# PostgreSQL: the database enforces I1 and I5 itself ------------------------------------------


@pytest.fixture(scope="module")
def pg_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """An app on a fresh PostgreSQL database whose schema comes from ``db.create_all()``."""
    admin_url = sa.make_url(_to_sqlalchemy_url(postgres_url())).set(database="postgres")
    name = f"pc_ledger_{secrets.token_hex(4)}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        application = make_app(
            str(tmp_path_factory.mktemp("uploads")),
            SQLALCHEMY_DATABASE_URI=admin_url.set(database=name).render_as_string(hide_password=False),
        )
        with application.app_context():
            db.create_all()
        yield application
        with application.app_context():
            db.session.remove()
            db.engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def pg(pg_app: Flask) -> Iterator[Flask]:
    with pg_app.app_context():
        yield pg_app
        db.session.remove()
        _clear_tables(pg_app)


@pytest.mark.postgres
def test_postgres_has_the_ledger_triggers(pg: Flask) -> None:
    names = set(db.session.scalars(sa.text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")))
    assert {
        "ledger_transactions_append_only",
        "ledger_entries_append_only",
        "ledger_entries_balanced",
        "ledger_transactions_have_entries",
    } <= names


@pytest.mark.postgres
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE ledger_entries SET amount_minor = amount_minor + 1",
        "DELETE FROM ledger_entries",
        "UPDATE ledger_transactions SET description = 'edited'",
        "DELETE FROM ledger_transactions",
    ],
)
def test_postgres_refuses_update_and_delete_of_ledger_rows(pg: Flask, sql: str) -> None:
    fund()
    uow.commit()
    with pytest.raises(sa.exc.IntegrityError, match=r"ledger rows are append-only: (UPDATE|DELETE) on ledger_"):
        with db.engine.begin() as conn:
            conn.execute(sa.text(sql))
    assert counts() == (2, 1, 2)
    assert ledger.check_invariants(db.session) == []


@pytest.mark.postgres
def test_postgres_refuses_an_unbalanced_transaction_at_commit(pg: Flask) -> None:
    clearing, escrow = ledger.account(K.PROVIDER_CLEARING, "EUR"), ledger.account(K.ESCROW, "EUR", 7)
    uow.commit()
    # Written around post() on purpose: only the deferred constraint trigger stands in the way.
    txn = LedgerTransaction(idempotency_key="raw:1", kind="escrow.funded", description="unbalanced")
    db.session.add(txn)
    db.session.flush()
    db.session.add_all(
        [
            LedgerEntry(transaction_id=txn.id, account_id=clearing.id, side=DEBIT, amount_minor=100, currency="EUR"),
            LedgerEntry(transaction_id=txn.id, account_id=escrow.id, side=CREDIT, amount_minor=90, currency="EUR"),
        ]
    )
    db.session.flush()  # deferred: the statement itself is accepted
    with pytest.raises(
        sa.exc.IntegrityError, match=r"ledger transaction \d+ is unbalanced in EUR: debits 100, credits 90"
    ):
        uow.commit()
    uow.rollback()
    assert counts() == (2, 0, 0)

    # A header with no entries is refused too.
    db.session.add(LedgerTransaction(idempotency_key="raw:2", kind="escrow.funded", description="empty"))
    with pytest.raises(sa.exc.IntegrityError, match=r"ledger transaction \d+ has no entries"):
        uow.commit()
    uow.rollback()
    # And an entry whose currency is not its account's is refused by the composite foreign key.
    fund(contract=7)
    uow.commit()
    with pytest.raises(sa.exc.IntegrityError, match="fk_ledger_entries_account_id_ledger_accounts"):
        with db.engine.begin() as conn:
            txn_id = db.session.scalar(sa.select(LedgerTransaction.id))
            conn.execute(
                sa.text(
                    "INSERT INTO ledger_entries (transaction_id, account_id, side, amount_minor, currency)"
                    " VALUES (:t, :a, 'debit', 5, 'USD'), (:t, :a, 'credit', 5, 'USD')"
                ),
                {"t": txn_id, "a": clearing.id},
            )
    assert ledger.check_invariants(db.session) == []


@pytest.mark.postgres
def test_postgres_concurrent_posts_of_one_key_make_one_transaction(pg_app: Flask) -> None:
    threads_count, rounds = 8, 5
    for round_no in range(rounds):
        barrier = threading.Barrier(threads_count)
        results: list[int] = []
        errors: list[BaseException] = []

        def worker(
            round_no: int = round_no,
            barrier: threading.Barrier = barrier,
            results: list[int] = results,
            errors: list[BaseException] = errors,
        ) -> None:
            with pg_app.app_context():
                try:
                    barrier.wait(timeout=10)
                    # Accounts are created concurrently too (one row each must win).
                    txn = fund(contract=100 + round_no, amount=10_00 + round_no, key=f"fund:{round_no}")
                    uow.commit()
                    results.append(txn.id)
                except BaseException as exc:  # noqa: BLE001  (reported below)
                    errors.append(exc)
                finally:
                    db.session.remove()

        threads = [threading.Thread(target=worker) for _ in range(threads_count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert errors == []
        assert len(results) == threads_count and len(set(results)) == 1
    with pg_app.app_context():
        try:
            assert counts() == (1 + rounds, rounds, 2 * rounds)
            assert ledger.check_invariants(db.session) == []
        finally:
            db.session.remove()
            _clear_tables(pg_app)


# The migration carries the same DDL as the models ---------------------------------------------

MIGRATION = (
    Path(__file__).resolve().parents[2] / "migrations" / "versions" / "1d97ccbb671e_ledger_and_payment_events.py"
)


def _migration_module() -> Any:
    spec = importlib.util.spec_from_file_location("ledger_migration", MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_migration_creates_the_same_triggers_as_the_models() -> None:
    from app.models import ledger as models

    migration = _migration_module()
    assert migration.FORBID_CHANGE_FUNCTION == models.PG_FORBID_CHANGE_FUNCTION
    assert migration.CHECK_BALANCED_FUNCTION == models.PG_CHECK_BALANCED_FUNCTION
    assert migration.TRIGGERS == models.PG_TRIGGERS


@pytest.mark.postgres
def test_postgres_migration_installs_and_removes_the_triggers(tmp_path: Path) -> None:
    admin_url = sa.make_url(_to_sqlalchemy_url(postgres_url())).set(database="postgres")
    name = f"pc_ledger_mig_{secrets.token_hex(4)}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        application = make_app(
            str(tmp_path), SQLALCHEMY_DATABASE_URI=admin_url.set(database=name).render_as_string(hide_password=False)
        )
        with application.app_context():
            flask_migrate.upgrade()
            triggers = "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgname LIKE 'ledger%'"
            assert len(db.session.scalars(sa.text(triggers)).all()) == 4
            clearing, escrow = ledger.account(K.PROVIDER_CLEARING, "EUR"), ledger.account(K.ESCROW, "EUR", 1)
            uow.commit()
            txn = LedgerTransaction(idempotency_key="raw:1", kind="escrow.funded", description="")
            db.session.add(txn)
            db.session.flush()
            db.session.add(
                LedgerEntry(transaction_id=txn.id, account_id=clearing.id, side=DEBIT, amount_minor=5, currency="EUR")
            )
            with pytest.raises(sa.exc.IntegrityError, match="is unbalanced in EUR"):
                uow.commit()
            uow.rollback()
            fund(contract=1)
            uow.commit()
            with pytest.raises(sa.exc.IntegrityError, match="append-only"), db.engine.begin() as conn:
                conn.execute(sa.text("DELETE FROM ledger_entries"))
            assert escrow.id
            db.session.remove()
            flask_migrate.downgrade(revision="a139b579711f")
            functions = "SELECT proname FROM pg_proc WHERE proname LIKE 'ledger%'"
            assert db.session.scalars(sa.text(functions)).all() == []
            db.session.remove()
            db.engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
