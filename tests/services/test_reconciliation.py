"""Reconciliation (app/services/reconciliation.py, app/tasks/reconciliation.py, ``flask ledger reconcile``): I8.

Everything goes through the real StripeGateway against FakeStripe: card funding through the hosted page and
its signed webhook, payouts and refunds through the services. Where a test needs the ledger and the provider
to disagree it changes one side the way reality would (a charge nobody recorded, a top-up from the bank) or
posts a ledger transaction itself with ``ledger.post``; none of our functions is patched.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.integrations.stripe_gateway import PaymentProviderUnavailable, StripeGateway, get_gateway
from app.models import AuditEvent, LedgerAccountKind, LedgerSide, Notification, PayoutStatus, User
from app.services import ledger, reconciliation, uow
from app.services.reconciliation import MismatchKind, ReconciliationReport
from app.tasks import reconciliation as reconciliation_tasks
from tests import factories
from tests.fakes.stripe_server import FakeStripe
from tests.services.test_escrow import configure_card_payments
from tests.services.test_payouts import connected, the_payout
from tests.services.test_refunds import cancel, card_scene
from tests.services.test_release import EXPERT_PRICE, accept, assert_ledger_sound, count, released

HELD = 460000  # a card scene's client price, EUR cents


@pytest.fixture(scope="module")
def stripe_server() -> Iterator[FakeStripe]:
    with FakeStripe() as fake:
        yield fake


@pytest.fixture
def fake(app: Flask, stripe_server: FakeStripe) -> Iterator[FakeStripe]:
    configure_card_payments(app, stripe_server)
    yield stripe_server
    stripe_server.reset()
    stripe_server.webhook_sink = None


@pytest.fixture
def admin(app: Flask) -> User:
    user = factories.admin()
    uow.commit()
    return user


def gateway(app: Flask) -> StripeGateway:
    found = get_gateway()
    assert isinstance(found, StripeGateway)
    return found


def run(app: Flask, since: datetime | None = None) -> ReconciliationReport:
    report = reconciliation.reconcile(gateway(app), since=since)
    uow.commit()
    return report


def kinds(report: ReconciliationReport) -> list[MismatchKind]:
    return [m.kind for m in report.mismatches]


def audits() -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "ledger.reconciled")
                                   .order_by(AuditEvent.id)))


def staff_notes(user: User) -> list[Notification]:
    return list(db.session.scalars(sa.select(Notification).where(
        Notification.user_id == user.id, Notification.kind == "ledger.reconciliation_failed")))


def post_provider_txn(key: str, kind: str, *, amount: int, side: LedgerSide, ref: str | None,
                      currency: str = "EUR") -> int:
    """A ledger transaction on provider clearing, against an escrow account (what the services post)."""
    clearing = ledger.account(LedgerAccountKind.PROVIDER_CLEARING, currency)
    held = ledger.account(LedgerAccountKind.ESCROW, currency, 900000 + len(key))
    other = LedgerSide.CREDIT if side is LedgerSide.DEBIT else LedgerSide.DEBIT
    txn = ledger.post(key, kind, [(clearing, side, amount), (held, other, amount)], description=key,
                      external_ref=ref)
    uow.commit()
    return txn.id


# The clean world ----------------------------------------------------------------------------------


def test_a_card_funded_payout_and_a_refund_reconcile_with_the_balance_equal(app, f, fake, admin):
    paid_out = card_scene(f, app, fake)
    connected(paid_out.project)
    accept(paid_out.project)
    released(paid_out.project)
    assert the_payout().status is PayoutStatus.SENT
    refunded = card_scene(f, app, fake)
    cancel(refunded)
    assert len(fake.payment_intents) == 2 and len(fake.transfers) == 1 and len(fake.refunds) == 1

    report = run(app)

    assert report.ok, report.lines()
    assert (report.payments, report.transfers, report.refunds) == (2, 1, 1)
    assert report.ledger_transactions == 4 and report.matched == 4
    [cash] = report.balances
    # Two payments in, the expert's share and one refund out: the hub's fee stays.
    assert (cash.currency, cash.ledger_minor, cash.provider_minor) == ("EUR", HELD - EXPERT_PRICE, HELD - EXPERT_PRICE)
    assert cash.equal
    assert report.lines()[-1].startswith("OK:")
    [event] = audits()
    assert event.actor_id is None and event.entity == "ledger"
    assert event.data["ok"] is True and event.data["mismatches"] == []
    assert event.data["counts"] == {"payments": 2, "transfers": 1, "refunds": 1, "ledger_transactions": 4,
                                    "matched": 4, "mismatches": 0}
    assert staff_notes(admin) == []
    assert_ledger_sound()


# Mismatches, each in words --------------------------------------------------------------------------


def test_a_stray_provider_charge_is_reported_audited_and_staff_are_told(app, fake, admin):
    stray = fake.add_payment(12345)

    report = run(app)

    assert not report.ok
    assert kinds(report) == [MismatchKind.NOT_IN_LEDGER, MismatchKind.BALANCE_DIFFERS]
    missing, cash = report.mismatches
    assert missing.provider_id == stray and missing.provider_amount_minor == 12345
    assert f"provider payment {stray} of EUR 123.45" in missing.message
    assert "has no ledger transaction" in missing.message
    assert cash.message.startswith("Cash in EUR: the ledger's provider clearing is EUR 0.00 but the provider's "
                                   "balance is EUR 123.45; the provider holds EUR 123.45 more")
    [event] = audits()
    assert event.data["ok"] is False and event.data["counts"]["mismatches"] == 2
    assert event.data["mismatches"][0]["kind"] == "not_in_ledger"
    assert event.data["mismatches"][0]["provider_id"] == stray
    assert event.data["balances"] == [{"currency": "EUR", "ledger_minor": 0, "provider_minor": 12345,
                                       "difference_minor": 12345}]
    [note] = staff_notes(admin)
    assert note.params["count"] == "2" and note.link == "/admin/audit/"


def test_a_ledger_transaction_whose_provider_object_is_missing_is_reported(app, fake, admin):
    txn_id = post_provider_txn("test:ghost-payout", "payout.sent", amount=5000, side=LedgerSide.CREDIT,
                               ref="tr_ghost")

    report = run(app)

    assert kinds(report) == [MismatchKind.NOT_AT_PROVIDER, MismatchKind.BALANCE_DIFFERS]
    ghost = report.mismatches[0]
    assert (ghost.provider_id, ghost.ledger_transaction_id, ghost.ledger_amount_minor) == ("tr_ghost", txn_id, 5000)
    assert ghost.message == (f"Ledger transaction {txn_id} (payout.sent) records provider object tr_ghost "
                             "(provider clearing out EUR 50.00), but the provider has no such payment, transfer "
                             "or refund.")
    assert len(staff_notes(admin)) == 1


def test_a_ledger_transaction_without_a_provider_id_on_provider_clearing_is_reported(app, fake):
    txn_id = post_provider_txn("test:unnamed", "escrow.funded", amount=700, side=LedgerSide.DEBIT, ref=None)
    report = run(app)
    assert kinds(report) == [MismatchKind.NO_PROVIDER_REFERENCE, MismatchKind.BALANCE_DIFFERS]
    assert report.mismatches[0].ledger_transaction_id == txn_id
    assert "names no provider object" in report.mismatches[0].message


def test_an_amount_that_differs_is_reported_with_both_amounts(app, fake):
    intent = fake.add_payment(5000)
    txn_id = post_provider_txn("test:short-funding", "escrow.funded", amount=4000, side=LedgerSide.DEBIT,
                               ref=intent)

    report = run(app)

    assert kinds(report) == [MismatchKind.AMOUNT_DIFFERS, MismatchKind.BALANCE_DIFFERS]
    differs = report.mismatches[0]
    assert (differs.provider_id, differs.ledger_transaction_id) == (intent, txn_id)
    assert (differs.provider_amount_minor, differs.ledger_amount_minor) == (5000, 4000)
    assert f"provider payment {intent} of EUR 50.00" in differs.message
    assert f"should move provider clearing in EUR 50.00, but ledger transaction {txn_id} (escrow.funded) " \
           "moves it in EUR 40.00" in differs.message
    assert report.matched == 0


def test_a_provider_id_recorded_in_the_wrong_direction_or_currency_is_reported(app, fake):
    transfer = gateway(app).create_transfer(amount_minor=300, currency="EUR", destination="acct_X",
                                            idempotency_key="t1", metadata={})
    post_provider_txn("test:backwards", "payout.sent", amount=300, side=LedgerSide.DEBIT, ref=transfer)
    intent = fake.add_payment(800, "usd")
    post_provider_txn("test:currency", "escrow.funded", amount=800, side=LedgerSide.DEBIT, ref=intent)

    report = run(app)

    by_id = {m.provider_id: m for m in report.mismatches if m.kind is MismatchKind.AMOUNT_DIFFERS}
    assert "should move provider clearing out EUR 3.00" in by_id[transfer].message
    assert "moves it in EUR 3.00" in by_id[transfer].message
    assert "should move provider clearing in USD 8.00" in by_id[intent].message
    assert "moves it in EUR 8.00" in by_id[intent].message


def test_a_bank_funded_contract_paid_out_by_transfer_shows_as_a_plain_cash_difference(app, f, fake):
    project = f.project()
    uow.commit()
    connected(project)
    accept(project)
    fake.add_topup(EXPERT_PRICE)  # the hub moved the money from its bank to the provider for the payout
    released(project)
    assert the_payout().status is PayoutStatus.SENT

    report = run(app)

    assert (report.transfers, report.matched) == (1, 1)  # the transfer itself is recorded
    assert kinds(report) == [MismatchKind.BALANCE_DIFFERS]
    [cash] = report.balances
    assert (cash.ledger_minor, cash.provider_minor, cash.difference_minor) == (-EXPERT_PRICE, 0, EXPERT_PRICE)
    message = report.mismatches[0].message
    assert "the ledger's provider clearing is EUR -4000.00 but the provider's balance is EUR 0.00" in message
    assert "the provider holds EUR 4000.00 more than the ledger says" in message
    assert "funded by bank transfer but paid out through the provider" in message
    assert_ledger_sound()


# Pagination and since ---------------------------------------------------------------------------------


def test_every_page_is_read_when_there_are_more_objects_than_one_page(app, fake):
    app.extensions["hub_payment_gateway"] = StripeGateway(
        fake.api_key, webhook_secret=fake.webhook_secret, api_base=fake.base_url, list_page_size=2)
    intents = [fake.add_payment(1000 + n) for n in range(5)]
    for n, intent in enumerate(intents):
        post_provider_txn(f"test:paged-{n}", "escrow.funded", amount=1000 + n, side=LedgerSide.DEBIT, ref=intent)
    stray = fake.add_payment(1)  # the newest: on the first page

    report = run(app)

    assert report.payments == 6 and report.matched == 5
    assert [m.provider_id for m in report.mismatches if m.kind is MismatchKind.NOT_IN_LEDGER] == [stray]
    pages = [r for r in fake.request_log("/v1/payment_intents") if r.method == "GET"]
    assert [r.params.get("limit") for r in pages] == ["2", "2", "2"]
    assert "starting_after" not in pages[0].params
    assert all(r.params.get("starting_after") for r in pages[1:])


def test_since_leaves_older_objects_out_but_still_matches_across_the_boundary(app, fake):
    since = datetime.now(UTC) - timedelta(days=3)
    old = int((since - timedelta(days=30)).timestamp())
    fake.add_payment(111, created=old)  # a stray from long ago: outside the check (and the margin)
    near = fake.add_payment(222, created=int((since - timedelta(hours=2)).timestamp()))
    post_provider_txn("test:near", "escrow.funded", amount=222, side=LedgerSide.DEBIT, ref=near)  # written now
    fresh = fake.add_payment(333)

    report = run(app, since=since)

    assert report.payments == 1 and report.ledger_transactions == 1
    assert [(m.kind, m.provider_id) for m in report.mismatches if m.provider_id] == [
        (MismatchKind.NOT_IN_LEDGER, fresh)]
    listed = [r for r in fake.request_log("/v1/payment_intents") if r.method == "GET"]
    assert listed[0].params["created"] == {"gte": str(int((since - reconciliation.SINCE_MARGIN).timestamp()))}


# The task, the CLI and the daily sweep ------------------------------------------------------------------


def test_without_payment_settings_nothing_is_reconciled(app):
    app.config.update(STRIPE_SECRET_KEY="")
    app.extensions.pop("hub_payment_gateway", None)
    assert reconciliation_tasks.reconcile_ledger() is None
    assert reconciliation_tasks.reconcile_ledger_if_due() is None
    result = app.test_cli_runner().invoke(args=["ledger", "reconcile"])
    assert result.exit_code == 0 and "nothing to reconcile" in result.output
    assert audits() == []


def test_the_cli_prints_the_report_and_exits_1_on_mismatches(app, fake):
    runner = app.test_cli_runner()
    clean = runner.invoke(args=["ledger", "reconcile"])
    assert clean.exit_code == 0, clean.output
    assert "OK: every provider object maps to one ledger transaction" in clean.output

    stray = fake.add_payment(4200)
    dirty = runner.invoke(args=["ledger", "reconcile", "--since", "2020-01-01"])
    assert dirty.exit_code == 1
    assert "since 2020-01-01 00:00 UTC" in dirty.output
    assert f"[not_in_ledger] provider payment {stray} of EUR 42.00" in dirty.output
    assert "cash EUR: ledger EUR 0.00, provider EUR 42.00 (difference EUR 42.00)" in dirty.output
    assert len(audits()) == 2

    bad = runner.invoke(args=["ledger", "reconcile", "--since", "yesterday"])
    assert bad.exit_code == 2 and len(audits()) == 2


def test_the_sweep_reconciles_at_most_once_a_day(app, fake):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["outbox", "sweep"])
    assert first.exit_code == 0, first.output
    assert "reconciled the ledger: ok" in first.output
    second = runner.invoke(args=["outbox", "sweep"])
    assert second.exit_code == 0 and "reconciled the ledger" not in second.output
    assert len(audits()) == 1
    assert len(fake.request_log("/v1/balance")) == 1

    later = datetime.now(UTC) + reconciliation_tasks.INTERVAL + timedelta(minutes=1)
    assert reconciliation_tasks.reconcile_ledger_if_due(now=later) is not None
    assert len(audits()) == 2
    assert reconciliation_tasks.reconcile_ledger_if_due() is None  # the new run counts from its own time


def test_a_failing_reconciliation_is_logged_and_the_other_sweeps_still_run(app, fake, caplog):
    fake.fail_next(500, path="/v1/payment_intents", times=5)
    result = app.test_cli_runner().invoke(args=["outbox", "sweep"])
    assert result.exit_code == 0
    assert "delivered" in result.output and "ledger reconciliation failed" in result.output
    assert "Ledger reconciliation failed" in caplog.text
    assert audits() == [] and count(AuditEvent, AuditEvent.action == "ledger.reconciled") == 0
    # The provider is not asked again on every sweep after a failure (it backs off in this process).
    before = len(fake.request_log())
    assert reconciliation_tasks.reconcile_ledger_if_due() is None
    assert len(fake.request_log()) == before


def test_a_provider_failure_raises_and_records_nothing(app, fake, admin):
    fake.add_payment(10)
    fake.fail_next(500, path="/v1/balance")
    with pytest.raises(PaymentProviderUnavailable):
        reconciliation_tasks.reconcile_ledger()
    assert audits() == [] and staff_notes(admin) == []
