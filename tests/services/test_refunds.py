"""Refunds (app/services/refunds.py, app/tasks/refunds.py): card refunds through the real StripeGateway against
FakeStripe, exactly once whatever fails; bank refunds confirmed by an admin.

The card-funded project is paid the way a company pays: a hosted checkout at the fake, then its signed
``checkout.session.completed`` webhook posted to our endpoint. Amounts are EUR cents (460000 held).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app.exceptions import InvalidTransition, NotFound, ValidationFailed
from app.extensions import db
from app.models import (
    Contract,
    DisputeDecision,
    FundingMethod,
    LedgerAccountKind,
    LedgerTransaction,
    PayoutMethod,
    Project,
    Refund,
    RefundStatus,
)
from app.models.mixins import utcnow
from app.services import disputes, escrow, refunds, uow
from app.services.release import ReleaseParts
from app.tasks import refunds as refund_tasks
from tests.fakes.stripe_server import FakeStripe
from tests.services.test_disputes import (
    HELD,
    Scene,
    assert_ledger_sound,
    balance,
    count,
    escrow_of,
    make_scene,
    notes,
    open_one,
    reload,
)
from tests.services.test_escrow import CANCEL, SUCCESS, configure_card_payments, pay_on_hosted_page, post_webhook


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


def card_scene(f: Any, app: Flask, fake: FakeStripe) -> Scene:
    """A project funded by card: checkout at the fake, "Pay", and the signed webhook to our endpoint."""
    contract: Contract = f.signed_contract()
    owner = contract.company.users[0]
    colleague = f.company_user(contract.company, owner=False)
    uow.commit()
    url = escrow.start_card_checkout(contract.id, actor=owner, success_url=SUCCESS, cancel_url=CANCEL)
    body, signature = pay_on_hosted_page(fake, url)
    assert post_webhook(app.test_client(), body, signature).get_json() == {"result": "applied: funded"}
    project = db.session.scalars(sa.select(Project).where(Project.contract_id == contract.id)).one()
    assert project.contract.funding_method is FundingMethod.CARD
    hub = db.session.get(type(owner), project.manager_id)
    assert hub is not None
    hub.totp_enabled_at = utcnow()  # the back office and the workspace need two-factor authentication
    uow.commit()
    return Scene(project, owner, colleague, project.contract.expert.user, hub)


def the_intent(fake: FakeStripe) -> str:
    [intent] = fake.payment_intents
    return intent


def refund_requests(fake: FakeStripe) -> list[Any]:
    return [r for r in fake.request_log("/v1/refunds") if r.method == "POST"]


def cancel(s: Scene) -> Refund:
    disputes.cancel_project(s.project.id, actor=s.hub, reason="The plant closed before the start.")
    uow.commit()
    return db.session.scalars(sa.select(Refund).where(Refund.project_id == s.project.id)).one()


# Card refunds -------------------------------------------------------------------------------------


def test_a_cancelled_card_project_is_refunded_at_the_provider_exactly_once(app, f, fake):
    s = card_scene(f, app, fake)
    intent = the_intent(fake)
    refund = reload(cancel(s))

    assert refund.method is PayoutMethod.PROVIDER and refund.status is RefundStatus.SENT
    [provider_refund] = fake.refunds.values()
    assert provider_refund["payment_intent"] == intent and provider_refund["amount"] == HELD
    assert refund.provider_refund_id == provider_refund["id"] and refund.sent_at is not None
    [request] = refund_requests(fake)
    assert request.idempotency_key == refund.idempotency_key == f"refund-cancel-{s.project.contract_id}"
    [txn] = db.session.scalars(sa.select(LedgerTransaction).where(
        LedgerTransaction.idempotency_key == f"refund.sent:{refund.id}")).all()
    assert txn.kind == "refund.sent" and txn.external_ref == provider_refund["id"]
    assert balance(LedgerAccountKind.COMPANY_REFUNDS, s.project.company_id) == 0
    assert balance(LedgerAccountKind.PROVIDER_CLEARING) == 0  # what came in by card went back out
    assert escrow_of(s.project) == 0
    for user in (s.owner, s.colleague):
        [note] = notes(user, "refund.sent")
        assert note.params["reference"] == provider_refund["id"] and note.params["amount"] == "€4,600.00"
    assert notes(s.expert, "refund.sent") == []

    # Sending again (a duplicated task, a retry) changes nothing.
    assert refund_tasks.send_refund(refund.id) is True
    assert refund_tasks.send_refund(refund.id) is True
    assert len(fake.refunds) == 1 and len(refund_requests(fake)) == 1
    assert count(LedgerTransaction, LedgerTransaction.kind == "refund.sent") == 1
    assert_ledger_sound()


def test_a_lost_provider_response_is_retried_with_the_same_key_and_refunds_once(app, f, fake):
    s = card_scene(f, app, fake)
    fake.lose_next_response("/v1/refunds")
    refund = reload(cancel(s))
    assert refund.status is RefundStatus.SENT
    assert len(fake.refunds) == 1
    keys = {r.idempotency_key for r in refund_requests(fake)}
    assert len(refund_requests(fake)) == 2 and keys == {refund.idempotency_key}
    assert refund.provider_refund_id == next(iter(fake.refunds))
    assert_ledger_sound()


def test_a_crash_after_the_provider_call_is_healed_by_the_next_run(app, f, fake):
    s = card_scene(f, app, fake)
    fake.fail_next(503, path="/v1/refunds")  # the task run after the commit fails: the refund waits
    refund = reload(cancel(s))
    assert refund.status is RefundStatus.PENDING and refund.attempts == 1 and "Unavailable" in refund.last_error
    assert fake.refunds == {}

    refunds.send_refund(refund.id)  # the provider refunds, then the worker dies before its commit
    uow.rollback()
    assert len(fake.refunds) == 1 and reload(refund).status is RefundStatus.PENDING

    assert refund_tasks.send_refund(refund.id) is True  # same key: the provider replays its refund
    refund = reload(refund)
    assert refund.status is RefundStatus.SENT and refund.provider_refund_id == next(iter(fake.refunds))
    assert len(fake.refunds) == 1
    assert count(LedgerTransaction, LedgerTransaction.kind == "refund.sent") == 1
    assert_ledger_sound()


def test_five_failed_attempts_fail_the_refund_until_an_admin_retries(app, f, fake):
    s = card_scene(f, app, fake)
    fake.fail_next(503, path="/v1/refunds", times=5)
    refund = cancel(s)
    for _ in range(3):
        with pytest.raises(refund_tasks.RefundNotSentYet):
            refund_tasks.send_refund(refund.id)
    assert reload(refund).status is RefundStatus.PENDING and reload(refund).attempts == 4
    assert refund_tasks.send_refund(refund.id) is False  # the fifth failure: no more retries
    refund = reload(refund)
    assert refund.status is RefundStatus.FAILED and refund.attempts == 5
    [attention] = [n for n in notes(s.hub, "payout.attention") if n.params["reason"] == refund.last_error]
    assert attention.link == "/admin/disputes/refunds"
    assert fake.refunds == {} and balance(LedgerAccountKind.COMPANY_REFUNDS, s.project.company_id) == HELD

    with pytest.raises(NotFound):
        refunds.retry_refund(refund.id, actor=s.owner)
    uow.rollback()
    refunds.retry_refund(refund.id, actor=s.hub)
    uow.commit()  # the task runs after the commit
    refund = reload(refund)
    assert refund.status is RefundStatus.SENT and len(fake.refunds) == 1
    with pytest.raises(InvalidTransition, match="failed"):
        refunds.retry_refund(refund.id, actor=s.hub)
    uow.rollback()
    assert_ledger_sound()


def test_a_refusal_no_retry_can_fix_fails_at_once(app, f, fake):
    s = card_scene(f, app, fake)
    fake.fail_next(400, code="charge_disputed", message="The charge is disputed at the bank.", path="/v1/refunds")
    refund = reload(cancel(s))
    assert refund.status is RefundStatus.FAILED and refund.attempts == 1
    assert "charge is disputed" in refund.last_error
    with pytest.raises(ValidationFailed, match="card"):  # a card refund is not confirmed by hand
        refunds.mark_bank_refund_sent(refund.id, actor=s.hub, reference="SEPA-1")
    uow.rollback()
    assert_ledger_sound()


def test_a_dispute_split_refunds_its_part_to_the_card(app, f, fake):
    s = card_scene(f, app, fake)
    dispute = open_one(s)
    disputes.decide_dispute(dispute.id, actor=s.hub, decision=DisputeDecision.SPLIT, reason="Half of it is usable.",
                            release=ReleaseParts(expert_minor=200000, qc_minor=0, hub_minor=30000),
                            refund_minor=230000)
    uow.commit()
    [refund] = db.session.scalars(sa.select(Refund)).all()
    assert refund.idempotency_key == f"refund-dispute-{dispute.id}" and refund.status is RefundStatus.SENT
    [provider_refund] = fake.refunds.values()
    assert provider_refund["amount"] == 230000
    assert fake.payment_intents[the_intent(fake)]["amount_refunded"] == 230000
    assert balance(LedgerAccountKind.PROVIDER_CLEARING) == HELD - 230000
    assert escrow_of(s.project) == 0
    assert_ledger_sound()


def test_without_the_provider_a_card_project_is_refunded_by_bank(app, f, fake):
    s = card_scene(f, app, fake)
    app.config["STRIPE_SECRET_KEY"] = ""
    app.extensions.pop("hub_payment_gateway", None)
    refund = reload(cancel(s))
    assert refund.method is PayoutMethod.BANK and refund.status is RefundStatus.PENDING
    assert fake.refunds == {}


def test_a_pending_refund_whose_task_was_lost_is_sent_by_the_sweep(app, f, fake):
    s = card_scene(f, app, fake)
    fake.fail_next(503, path="/v1/refunds")
    refund = cancel(s)
    assert reload(refund).status is RefundStatus.PENDING
    assert refund_tasks.sweep_pending_refunds() == 1
    assert reload(refund).status is RefundStatus.SENT and len(fake.refunds) == 1
    assert refund_tasks.sweep_pending_refunds() == 0


# Bank refunds ----------------------------------------------------------------------------------------


def test_a_bank_refund_waits_for_an_admin_who_confirms_it_with_the_reference(f):
    s = make_scene(f)
    refund = cancel(s)
    assert refund.method is PayoutMethod.BANK and refund.status is RefundStatus.PENDING
    [attention] = [n for n in notes(s.hub, "payout.attention") if n.params["reason"] == "bank refund to make"]
    assert attention.link == "/admin/disputes/refunds" and attention.params["amount"] == "€4,600.00"
    assert refunds.send_refund(refund.id).status is RefundStatus.PENDING  # nothing to send at the provider
    uow.commit()

    for bad, error in (("  ", ValidationFailed), ("x" * 141, ValidationFailed)):
        with pytest.raises(error):
            refunds.mark_bank_refund_sent(refund.id, actor=s.hub, reference=bad)
        uow.rollback()
    with pytest.raises(NotFound):
        refunds.mark_bank_refund_sent(refund.id, actor=s.owner, reference="SEPA-77")
    uow.rollback()
    refunds.mark_bank_refund_sent(refund.id, actor=s.hub, reference=" SEPA-77 ")
    uow.commit()

    refund = reload(refund)
    assert refund.status is RefundStatus.SENT and refund.bank_reference == "SEPA-77"
    assert refund.confirmed_by_id == s.hub.id and refund.sent_at is not None
    [txn] = db.session.scalars(sa.select(LedgerTransaction).where(
        LedgerTransaction.idempotency_key == f"refund.sent:{refund.id}")).all()
    sides = {(e.account.kind.value, e.side.value, e.amount_minor) for e in txn.entries}
    assert sides == {("company_refunds", "debit", HELD), ("bank_clearing", "credit", HELD)}
    assert balance(LedgerAccountKind.BANK_CLEARING) == 0 and escrow_of(s.project) == 0
    [note] = notes(s.owner, "refund.sent")
    assert note.params["reference"] == "SEPA-77" and note.link == f"/projects/{s.project.id}/disputes"
    with pytest.raises(InvalidTransition, match="only a pending refund"):
        refunds.mark_bank_refund_sent(refund.id, actor=s.hub, reference="SEPA-78")
    uow.rollback()
    assert_ledger_sound()


def test_a_refund_is_recorded_once_per_key_and_never_beyond_what_is_owed(f):
    s = make_scene(f)
    dispute = open_one(s)
    disputes.decide_dispute(dispute.id, actor=s.hub, decision=DisputeDecision.REFUND, reason="Refund all")
    uow.commit()
    project = reload(s.project)
    [refund] = db.session.scalars(sa.select(Refund)).all()
    again = refunds.create_refund(project, HELD, reason="again", actor=s.hub, key=f"refund-dispute-{dispute.id}")
    assert again.id == refund.id
    with pytest.raises(ValidationFailed, match="another amount"):
        refunds.create_refund(project, 1, reason="again", actor=s.hub, key=f"refund-dispute-{dispute.id}")
    uow.rollback()
    with pytest.raises(ValidationFailed, match="more than that"):  # everything owed is already being refunded
        refunds.create_refund(reload(s.project), 1, reason="extra", actor=s.hub)
    uow.rollback()
    with pytest.raises(ValidationFailed, match="positive"):
        refunds.create_refund(reload(s.project), 0, reason="none", actor=s.hub)
    uow.rollback()
    assert count(Refund) == 1
    assert_ledger_sound()
