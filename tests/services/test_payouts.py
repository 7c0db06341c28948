"""Payouts (app/services/payouts.py): the real StripeGateway against the local FakeStripe, and bank payouts.

One transfer per idempotency key whatever happens (a second send, a lost response, a retry after
errors); 402/500 failures count attempts until FAILED; bank payouts are confirmed by an admin with
their reference; the expert's earnings add up. Every test ends with the ledger invariants checked.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app.exceptions import NotFound, PermissionDenied, ValidationFailed
from app.extensions import db
from app.integrations.stripe_gateway import StripeGateway
from app.models import (
    AuditEvent,
    ExpertProfile,
    LedgerAccountKind,
    LedgerTransaction,
    OfferStatus,
    Payout,
    PayoutMethod,
    PayoutRole,
    PayoutStatus,
    Project,
    User,
)
from app.services import payouts, release, uow
from app.services.release import ReleaseParts
from app.tasks import release as release_tasks
from tests.fakes.stripe_server import FakeStripe
from tests.services.test_release import (
    EXPERT_PRICE,
    accept,
    accepted_project,
    add_qc,
    assert_ledger_sound,
    balance,
    company_users,
    count,
    notes,
    released,
    reload,
    staff_of,
)

ACCOUNT = "acct_1HubExpertTEST"
TRANSFERS = "/v1/transfers"


@pytest.fixture(scope="module")
def stripe_server() -> Iterator[FakeStripe]:
    with FakeStripe() as fake:
        yield fake


def use_provider(app: Flask, fake: FakeStripe, *, sdk_retries: int | None = None) -> None:
    """Point the app at the fake provider; ``sdk_retries`` replaces the SDK's own network retries."""
    app.config.update(STRIPE_SECRET_KEY=fake.api_key, STRIPE_WEBHOOK_SECRET=fake.webhook_secret,
                      STRIPE_API_BASE=fake.base_url)
    app.extensions.pop("hub_payment_gateway", None)
    if sdk_retries is not None:
        app.extensions["hub_payment_gateway"] = StripeGateway(
            fake.api_key, webhook_secret=fake.webhook_secret, api_base=fake.base_url,
            max_network_retries=sdk_retries)


@pytest.fixture
def fake(app: Flask, stripe_server: FakeStripe) -> Iterator[FakeStripe]:
    stripe_server.reset()
    use_provider(app, stripe_server)
    yield stripe_server
    stripe_server.reset()


def connected(project: Project, account: str = ACCOUNT) -> ExpertProfile:
    expert = project.contract.expert
    expert.payout_account_id = account
    uow.commit()
    return expert


def provider_project(f: Any, **kw: Any) -> Project:
    project = f.project(members=kw.pop("members", 1))
    uow.commit()
    connected(project)
    if "qc_fee" in kw:
        add_qc(project, fee=kw.pop("qc_fee"))
    return accept(project)


def the_payout(role: PayoutRole = PayoutRole.EXPERT) -> Payout:
    db.session.expire_all()
    return db.session.scalars(sa.select(Payout).where(Payout.role == role)).one()


def sent_txns(payout: Payout | None = None) -> list[LedgerTransaction]:
    query = sa.select(LedgerTransaction).where(LedgerTransaction.kind == payouts.SENT_KIND)
    if payout is not None:
        query = query.where(LedgerTransaction.idempotency_key == payouts.sent_key(payout.id))
    return list(db.session.scalars(query))


def transfer_requests(fake: FakeStripe) -> list[Any]:
    return [r for r in fake.request_log(TRANSFERS) if r.method == "POST"]


def run_send(payout_id: int) -> bool | str:
    """The task as a worker runs it: True/False, or "retry" when it raises for RQ to retry."""
    try:
        return release_tasks.send_payout(payout_id)
    except release_tasks.PayoutNotSentYet:
        return "retry"


# The provider ---------------------------------------------------------------------------------


def test_a_provider_payout_is_sent_after_the_release_commits(f, fake):
    project = provider_project(f)
    released(project)  # the commit queues send_payout, which runs inline in the embedded mode

    payout = the_payout()
    assert payout.method is PayoutMethod.PROVIDER and payout.status is PayoutStatus.SENT
    (transfer,) = fake.transfers.values()
    assert payout.provider_transfer_id == transfer["id"] and payout.sent_at is not None
    assert (transfer["amount"], transfer["currency"], transfer["destination"]) == (EXPERT_PRICE, "eur", ACCOUNT)
    assert transfer["metadata"] == {"project": str(project.id), "role": "expert"}
    (request,) = transfer_requests(fake)
    assert request.idempotency_key == payout.idempotency_key == f"payout-{project.id}-expert"

    (txn,) = sent_txns(payout)
    assert txn.external_ref == transfer["id"] and txn.idempotency_key == f"payout.sent:{payout.id}"
    entries = sorted((e.account.kind.value, e.side.value, e.amount_minor) for e in txn.entries)
    assert entries == [("expert_payable", "debit", EXPERT_PRICE), ("provider_clearing", "credit", EXPERT_PRICE)]
    assert balance(LedgerAccountKind.EXPERT_PAYABLE, reference=payout.expert_id) == 0  # I4: settled
    (note,) = notes(project.contract.expert.user, "payout.sent")
    assert note.params == {"amount": "€4,000.00", "project": note.params["project"], "reference": transfer["id"]}
    assert not notes(staff_of(project), "payout.attention")
    assert_ledger_sound()


def test_sending_twice_makes_one_transfer_and_one_ledger_transaction(f, fake):
    project = provider_project(f)
    released(project)
    payout = the_payout()
    assert run_send(payout.id) is True
    assert payouts.send_payout(payout.id).status is PayoutStatus.SENT
    uow.commit()
    assert len(fake.transfers) == 1 and len(transfer_requests(fake)) == 1
    assert len(sent_txns()) == 1
    assert_ledger_sound()


def test_qc_payout_goes_to_the_qc_experts_own_account(f, fake):
    project = provider_project(f, qc_fee=30000)
    qc = release.active_qc(project)
    assert qc is not None
    qc.expert.payout_account_id = "acct_QcExpert42"
    uow.commit()
    released(project)
    qc_payout = the_payout(PayoutRole.QC)
    assert qc_payout.status is PayoutStatus.SENT
    by_destination = {t["destination"]: t for t in fake.transfers.values()}
    assert by_destination["acct_QcExpert42"]["amount"] == 30000
    assert by_destination["acct_QcExpert42"]["metadata"]["role"] == "qc"
    assert balance(LedgerAccountKind.QC_PAYABLE, reference=qc.expert_id) == 0
    assert len(sent_txns()) == 2
    assert_ledger_sound()


def test_a_lost_response_is_healed_by_the_sdk_retry_with_the_same_key(f, fake):
    project = provider_project(f)
    fake.lose_next_response(TRANSFERS)
    released(project)
    payout = the_payout()
    assert payout.status is PayoutStatus.SENT and payout.attempts == 0
    requests = transfer_requests(fake)
    assert len(requests) == 2 and {r.idempotency_key for r in requests} == {payout.idempotency_key}
    assert len(fake.transfers) == 1 and payout.provider_transfer_id in fake.transfers
    assert len(sent_txns()) == 1
    assert_ledger_sound()


def test_a_lost_response_then_our_retry_records_the_transfer_made_the_first_time(app, f, fake):
    use_provider(app, fake, sdk_retries=0)  # the ambiguous failure reaches our code
    project = provider_project(f)
    fake.lose_next_response(TRANSFERS)
    released(project)

    payout = the_payout()
    assert payout.status is PayoutStatus.PENDING and payout.attempts == 1
    assert "PaymentProviderUnavailable" in payout.last_error
    (created,) = fake.transfers  # the provider made it; we did not hear
    assert sent_txns() == [] and balance(LedgerAccountKind.EXPERT_PAYABLE, reference=payout.expert_id) == EXPERT_PRICE

    assert run_send(payout.id) is True
    payout = the_payout()
    assert payout.status is PayoutStatus.SENT and payout.provider_transfer_id == created
    assert len(fake.transfers) == 1
    (txn,) = sent_txns()
    assert txn.external_ref == created
    assert_ledger_sound()


def test_provider_failures_count_attempts_and_fail_after_five(app, f, fake):
    project = provider_project(f)
    fake.fail_next(402, path=TRANSFERS, times=2)
    fake.fail_next(500, path=TRANSFERS, times=3)
    released(project)  # attempt 1 (402), inline
    payout = the_payout()
    assert (payout.status, payout.attempts) == (PayoutStatus.PENDING, 1)
    assert "PaymentDeclined" in payout.last_error

    assert [run_send(payout.id) for _ in range(3)] == ["retry"] * 3  # 402, 500, 500
    payout = the_payout()
    assert (payout.status, payout.attempts) == (PayoutStatus.PENDING, 4)
    assert not notes(staff_of(project), "payout.attention")

    assert run_send(payout.id) is False  # the fifth: 500 again
    payout = the_payout()
    assert (payout.status, payout.attempts) == (PayoutStatus.FAILED, payout.attempts)
    assert payout.attempts == payouts.MAX_ATTEMPTS and "PaymentProviderUnavailable" in payout.last_error
    (attention,) = notes(staff_of(project), "payout.attention")
    assert "5 times" in attention.params["reason"] and attention.link == "/admin/payouts/?show=failed"
    assert run_send(payout.id) is False  # a failed payout waits for an admin
    assert fake.transfers == {} and len(transfer_requests(fake)) == 5
    assert sent_txns() == [] and balance(LedgerAccountKind.EXPERT_PAYABLE, reference=payout.expert_id) == EXPERT_PRICE
    assert_ledger_sound()

    admin = staff_of(project)
    payouts.retry_payout(payout.id, actor=admin)
    uow.commit()  # queues send_payout again, inline here
    payout = the_payout()
    assert payout.status is PayoutStatus.SENT and payout.attempts == 0
    assert len(fake.transfers) == 1 and len(sent_txns()) == 1
    actions = list(db.session.scalars(sa.select(AuditEvent.action).where(
        AuditEvent.entity == "payouts", AuditEvent.entity_id == payout.id).order_by(AuditEvent.id)))
    assert actions == ["payout.pending", "payout.failed", "payout.pending", "payout.sent"]
    assert_ledger_sound()


def test_a_changed_destination_cannot_duplicate_an_ambiguous_transfer(app, f, fake):
    use_provider(app, fake, sdk_retries=0)
    project = provider_project(f)
    fake.lose_next_response(TRANSFERS)
    released(project)
    payout = the_payout()
    expert = payout.expert
    payouts.set_payout_details(expert.id, actor=expert.user, account_id="acct_SomewhereElse", account_name="",
                               iban="")
    uow.commit()
    assert run_send(payout.id) == "retry"  # the provider refuses the key with other parameters
    payout = the_payout()
    assert payout.attempts == 2 and "PaymentRequestRejected" in payout.last_error
    assert len(fake.transfers) == 1 and sent_txns() == []
    assert_ledger_sound()


def test_without_a_configured_provider_the_payout_is_a_bank_transfer(app, f):
    app.config["STRIPE_SECRET_KEY"] = ""
    app.extensions.pop("hub_payment_gateway", None)
    project = f.project()
    uow.commit()
    connected(project)
    accept(project)
    released(project)
    assert the_payout().method is PayoutMethod.BANK


def test_create_payouts_is_idempotent_per_project_and_role(f):
    project = accepted_project(f, qc_fee=10000)
    released(project)
    first = {p.id for p in db.session.scalars(sa.select(Payout))}
    again = payouts.create_payouts(reload(project), ReleaseParts(EXPERT_PRICE, 10000, 50000), actor=None)
    uow.commit()
    assert {p.id for p in again} == first and count(Payout) == 2


# Bank payouts ---------------------------------------------------------------------------------


def test_an_admin_marks_a_bank_payout_paid_with_its_reference(f):
    project = accepted_project(f)
    released(project)
    payout = the_payout()
    assert payout.method is PayoutMethod.BANK and payout.status is PayoutStatus.PENDING
    admin = staff_of(project)

    with pytest.raises(ValidationFailed, match="reference"):
        payouts.mark_bank_payout_sent(payout.id, actor=admin, reference="   ")
    with pytest.raises(PermissionDenied):
        payouts.mark_bank_payout_sent(payout.id, actor=company_users(project)[0], reference="SEPA-1")
    with pytest.raises(NotFound):
        payouts.mark_bank_payout_sent(999_999, actor=admin, reference="SEPA-1")
    uow.rollback()

    payouts.mark_bank_payout_sent(payout.id, actor=admin, reference=" SEPA-2026-0042 ")
    uow.commit()
    payout = the_payout()
    assert payout.status is PayoutStatus.SENT and payout.bank_reference == "SEPA-2026-0042"
    assert payout.confirmed_by_id == admin.id and payout.sent_at is not None
    (txn,) = sent_txns(payout)
    assert txn.created_by_id == admin.id and txn.external_ref is None
    entries = sorted((e.account.kind.value, e.side.value, e.amount_minor) for e in txn.entries)
    assert entries == [("bank_clearing", "credit", EXPERT_PRICE), ("expert_payable", "debit", EXPERT_PRICE)]
    assert balance(LedgerAccountKind.EXPERT_PAYABLE, reference=payout.expert_id) == 0
    (note,) = notes(project.contract.expert.user, "payout.sent")
    assert note.params["reference"] == "SEPA-2026-0042"

    with pytest.raises(ValidationFailed, match="already"):
        payouts.mark_bank_payout_sent(payout.id, actor=admin, reference="SEPA-again")
    uow.rollback()
    assert len(sent_txns()) == 1
    assert_ledger_sound()


def test_provider_and_bank_actions_do_not_mix(f, fake):
    project = provider_project(f)
    released(project)
    provider_payout = the_payout()
    admin = staff_of(project)
    with pytest.raises(ValidationFailed, match="payment provider"):
        payouts.mark_bank_payout_sent(provider_payout.id, actor=admin, reference="SEPA-1")
    with pytest.raises(ValidationFailed, match="already sent"):
        payouts.retry_payout(provider_payout.id, actor=admin)
    uow.rollback()

    other = accepted_project(f)
    db.session.get(ExpertProfile, other.contract.expert_id).payout_account_id = ""
    uow.commit()
    fake.reset()
    released(other)
    bank = db.session.scalars(sa.select(Payout).where(Payout.project_id == other.id)).one()
    with pytest.raises(ValidationFailed, match="bank payout"):
        payouts.retry_payout(bank.id, actor=admin)
    with pytest.raises(PermissionDenied):
        payouts.retry_payout(bank.id, actor=other.contract.expert.user)
    uow.rollback()


def test_a_stuck_pending_provider_payout_can_be_requeued(app, f, fake):
    project = provider_project(f)
    fake.fail_next(500, path=TRANSFERS)
    released(project)
    payout = the_payout()
    assert (payout.status, payout.attempts) == (PayoutStatus.PENDING, 1)
    payouts.retry_payout(payout.id, actor=staff_of(project))
    uow.commit()
    payout = the_payout()
    assert payout.status is PayoutStatus.SENT and payout.attempts == 1
    assert "payout.retried" in db.session.scalars(sa.select(AuditEvent.action)).all()
    assert_ledger_sound()


# Payout settings ------------------------------------------------------------------------------


@pytest.mark.parametrize(("iban", "valid"), [
    ("DE89 3704 0044 0532 0130 00", True),
    ("GB82WEST12345698765432", True),
    ("NO9386011117947", True),
    ("de89-3704-0044-0532-0130-00", True),
    ("DE89 3704 0044 0532 0130 01", False),
    ("GB82WEST12345698765431", False),
    ("DE89", False),
    ("1234567890123456", False),
])
def test_iban_checksum(iban, valid):
    assert payouts.iban_is_valid(payouts.normalize_iban(iban)) is valid


def test_payout_details_are_validated_and_saved_by_the_expert_only(f):
    expert = f.expert()
    user = expert.user
    uow.commit()
    for kwargs, message in [
        ({"account_id": "", "account_name": "", "iban": ""}, "Enter your connected payment account"),
        ({"account_id": "acct-123", "account_name": "", "iban": ""}, "acct_"),
        ({"account_id": "", "account_name": "Eva Expert", "iban": "DE89 3704 0044 0532 0130 01"}, "not valid"),
        ({"account_id": "", "account_name": " ", "iban": "DE89 3704 0044 0532 0130 00"}, "account holder"),
    ]:
        with pytest.raises(ValidationFailed, match=message):
            payouts.set_payout_details(expert.id, actor=user, **kwargs)
    with pytest.raises(NotFound):
        payouts.set_payout_details(expert.id, actor=f.user(), account_id="acct_X1", account_name="", iban="")
    uow.rollback()

    payouts.set_payout_details(expert.id, actor=user, account_id="", account_name="  Eva   Expert ",
                               iban="de89 3704 0044 0532 0130 00")
    uow.commit()
    expert = reload(expert)
    assert (expert.payout_account_id, expert.payout_account_name, expert.payout_iban) == (
        "", "Eva Expert", "DE89370400440532013000")
    event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "expert.payout_details")).one()
    assert event.data == {"provider_account": False, "iban_last4": "3000"}
    assert "DE89370400440532013000" not in str(event.data)


# Earnings -------------------------------------------------------------------------------------


def test_earnings_add_up_per_currency_with_the_history_newest_first(f):
    first = accepted_project(f)
    expert = first.contract.expert
    released(first)
    payouts.mark_bank_payout_sent(the_payout().id, actor=staff_of(first), reference="SEPA-1")
    uow.commit()
    second = f.project(f.signed_contract(f.offer(expert_obj=expert, status=OfferStatus.ACCEPTED),
                                         actor=staff_of(first)))
    uow.commit()
    accept(second)
    released(second)
    reviewed = f.project()
    uow.commit()
    add_qc(reviewed, fee=20000, pseudonym="QX42")
    accept(reviewed)
    released(reviewed)

    earnings = payouts.earnings_for(expert)
    assert earnings.released_total == {"EUR": 2 * EXPERT_PRICE}
    assert earnings.paid_total == {"EUR": EXPERT_PRICE}
    assert earnings.pending_total == {"EUR": EXPERT_PRICE}
    assert [r.payout.project_id for r in earnings.rows] == [second.id, first.id]
    assert earnings.rows[0].project_label.startswith(second.contract.reference)

    page2 = payouts.earnings_for(expert, page=2, per_page=1)
    assert (page2.pagination.pages, [p.project_id for p in page2.payouts]) == (2, [first.id])
    qc_expert = db.session.scalars(sa.select(ExpertProfile).where(ExpertProfile.pseudonym == "QX42")).one()
    qc_earnings = payouts.earnings_for(qc_expert)
    assert qc_earnings.released_total == {"EUR": 20000} and qc_earnings.pending_total == {"EUR": 20000}
    assert qc_earnings.rows[0].payout.role is PayoutRole.QC
    assert payouts.earnings_for(f.expert()).released_total == {}


def test_back_office_lists_and_counts(f, fake):
    provider = provider_project(f)
    fake.fail_next(500, path=TRANSFERS, times=payouts.MAX_ATTEMPTS)
    released(provider)
    for _ in range(payouts.MAX_ATTEMPTS - 1):
        run_send(the_payout().id)
    bank = accepted_project(f)
    released(bank)
    counts = payouts.payout_counts()
    assert counts[payouts.PayoutFilter.FAILED] == 1 and counts[payouts.PayoutFilter.PENDING_BANK] == 1
    assert counts[payouts.PayoutFilter.ALL] == 2 and counts[payouts.PayoutFilter.SENT] == 0
    failed = db.session.scalars(payouts.payouts_query(payouts.PayoutFilter.FAILED)).all()
    assert [p.project_id for p in failed] == [provider.id]
    pending_bank = db.session.scalars(payouts.payouts_query(payouts.PayoutFilter.PENDING_BANK)).all()
    assert [p.project_id for p in pending_bank] == [bank.id]
    assert db.session.get(User, bank.manager_id) is not None
