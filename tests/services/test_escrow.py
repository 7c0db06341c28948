"""Funding a signed contract (app/services/escrow.py): the real StripeGateway against FakeStripe, bank transfers.

Each test ends with the ledger invariants checked; amounts are minor units (EUR cents).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader

from app.extensions import db
from app.integrations.storage import get_storage
from app.models import (
    BankTransfer,
    CheckoutSession,
    Contract,
    ContractStatus,
    FundingMethod,
    LedgerAccountKind,
    LedgerTransaction,
    Notification,
    Project,
    ProjectRole,
    ProviderEvent,
)
from app.services import escrow, ledger, uow
from app.services.escrow import PaymentRefused
from tests.fakes.stripe_server import FakeStripe

PRICE = 460000
SUCCESS = "http://hub.test/company/contracts/paid?session_id={CHECKOUT_SESSION_ID}"
CANCEL = "http://hub.test/company/contracts/pay"


# Fixtures and helpers (also used by the page, race and stateful tests) ---------------------------


@pytest.fixture(scope="module")
def stripe_server() -> Iterator[FakeStripe]:
    with FakeStripe() as fake:
        yield fake


def configure_card_payments(app: Flask, fake: FakeStripe) -> list[tuple[bytes, dict[str, str]]]:
    """Point the app at the fake provider; webhooks are collected for the test to deliver."""
    received: list[tuple[bytes, dict[str, str]]] = []
    fake.reset()
    fake.webhook_url = None
    fake.webhook_sink = lambda body, headers: received.append((body, headers)) or 200
    app.config.update(STRIPE_SECRET_KEY=fake.api_key, STRIPE_WEBHOOK_SECRET=fake.webhook_secret,
                      STRIPE_API_BASE=fake.base_url)
    app.extensions.pop("hub_payment_gateway", None)
    fake.received = received  # type: ignore[attr-defined]
    return received


@pytest.fixture
def fake(app: Flask, stripe_server: FakeStripe) -> Iterator[FakeStripe]:
    configure_card_payments(app, stripe_server)
    yield stripe_server
    stripe_server.reset()
    stripe_server.webhook_sink = None


def post_webhook(client: FlaskClient, body: bytes, signature: str) -> Any:
    return client.post("/webhooks/stripe", data=body, headers={"Stripe-Signature": signature},
                       content_type="application/json")


def signed(f: Any, **kw: Any) -> Contract:
    contract = f.signed_contract(**kw)
    uow.commit()
    return contract


def owner_of(contract: Contract) -> Any:
    return contract.company.users[0]


def reload(contract: Contract) -> Contract:
    db.session.expire_all()
    found = db.session.get(Contract, contract.id)
    assert found is not None
    return found


def funded_txns(contract_id: int | None = None) -> list[LedgerTransaction]:
    query = sa.select(LedgerTransaction).where(LedgerTransaction.kind == escrow.FUNDED_KIND)
    if contract_id is not None:
        query = query.where(LedgerTransaction.idempotency_key == escrow.funded_key(contract_id))
    return list(db.session.scalars(query))


def count(model: Any, *where: Any) -> int:
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where)) or 0)


def assert_ledger_sound() -> None:
    assert ledger.check_invariants(db.session) == []


def escrow_balance(contract: Contract) -> int:
    return ledger.balance(ledger.account(LedgerAccountKind.ESCROW, contract.currency, contract.id))


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def pay_on_hosted_page(fake: FakeStripe, url: str) -> tuple[bytes, str]:
    """Click "Pay" on the fake hosted page; the signed webhook it sends."""
    before = len(fake.received)  # type: ignore[attr-defined]
    assert requests.post(url, allow_redirects=False, timeout=5).status_code == 303
    body, headers = fake.received[before]  # type: ignore[attr-defined]
    return body, headers["Stripe-Signature"]


def completed_event(fake: FakeStripe, session_id: str, **changes: Any) -> dict[str, Any]:
    obj = dict(fake.sessions[session_id])
    obj = {k: v for k, v in obj.items() if not k.startswith("_")}
    obj.update(changes)
    return fake.make_event("checkout.session.completed", obj)


def event_body(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()


# Card ------------------------------------------------------------------------------------


def test_card_flow_funds_once_starts_the_project_and_stores_the_receipt(app, client, f, fake):
    contract = signed(f)
    contract.expert.user.full_name = "Dr Renate Realname"
    member = f.company_user(contract.company, owner=False)
    uow.commit()
    owner = owner_of(contract)

    url = escrow.start_card_checkout(contract.id, actor=owner, success_url=SUCCESS, cancel_url=CANCEL)
    assert url.startswith(fake.base_url + "/pay/")
    assert escrow.start_card_checkout(contract.id, actor=member, success_url=SUCCESS, cancel_url=CANCEL) == url
    [session] = db.session.scalars(sa.select(CheckoutSession)).all()
    assert (session.amount_minor, session.currency) == (PRICE, "EUR")
    assert session.idempotency_key == f"fund:contract:{contract.id}:1"
    page = requests.get(url, timeout=5).text
    assert contract.reference in page and str(contract.job) in page and "Realname" not in page
    assert "<script" not in page

    body, signature = pay_on_hosted_page(fake, url)
    resp = post_webhook(client, body, signature)
    assert resp.status_code == 200 and resp.get_json() == {"result": "applied: funded"}

    contract = reload(contract)
    assert contract.status is ContractStatus.FUNDED and contract.funding_method is FundingMethod.CARD
    assert contract.funded_at is not None
    [txn] = funded_txns()
    assert txn.idempotency_key == f"escrow.funded:contract:{contract.id}"
    intent = fake.sessions[session.provider_session_id]["payment_intent"]
    assert txn.external_ref == intent
    sides = sorted((e.side.value, e.amount_minor) for e in txn.entries)
    assert sides == [("credit", PRICE), ("debit", PRICE)]
    assert escrow_balance(contract) == PRICE
    assert ledger.balance(ledger.account(LedgerAccountKind.PROVIDER_CLEARING, "EUR")) == PRICE
    [project] = db.session.scalars(sa.select(Project)).all()
    roles = sorted((m.user_id, m.role) for m in project.members)
    hub = contract.forward.forwarded_by_id  # the admin who forwarded the accepted offer manages the project
    assert roles == sorted([(owner.id, ProjectRole.COMPANY), (member.id, ProjectRole.COMPANY),
                            (contract.expert.user_id, ProjectRole.EXPERT), (hub, ProjectRole.MANAGER)])
    assert project.manager_id == hub
    receipt = pdf_text(get_storage().get(escrow.receipt_key(contract.id)))
    assert "held by Plasticonnect until you accept the work" in receipt.replace("\n", " ")
    assert contract.payment_reference in receipt and "Realname" not in receipt
    kinds = {(n.user_id, n.kind) for n in db.session.scalars(sa.select(Notification))}
    assert {(owner.id, "contract.funded"), (member.id, "contract.funded"),
            (contract.expert.user_id, "contract.funded_expert")} <= kinds
    event = db.session.scalars(sa.select(ProviderEvent)).one()
    assert event.result == "applied: funded" and event.processed_at is not None
    assert_ledger_sound()

    # The same delivery again, and paying twice, change nothing.
    assert post_webhook(client, body, fake.sign(body)).get_json() == {"result": "duplicate"}
    with pytest.raises(PaymentRefused, match="already paid"):
        escrow.start_card_checkout(contract.id, actor=owner, success_url=SUCCESS, cancel_url=CANCEL)
    assert len(funded_txns()) == 1 and count(Project) == 1 and count(ProviderEvent) == 1
    assert_ledger_sound()


@pytest.mark.parametrize("case", ["other_secret", "tampered", "reserialised", "stale", "missing"])
def test_untrustworthy_webhook_is_400_and_stores_nothing(app, client, f, fake, case):
    contract = signed(f)
    url = escrow.start_card_checkout(contract.id, actor=owner_of(contract), success_url=SUCCESS, cancel_url=CANCEL)
    body, signature = pay_on_hosted_page(fake, url)
    if case == "other_secret":
        signature = fake.sign(body, secret="whsec_other")
    elif case == "tampered":
        body = body.replace(b'"paid"', b'"PAID"')
    elif case == "reserialised":
        body = json.dumps(json.loads(body), indent=1).encode()
    elif case == "stale":
        signature = fake.sign(body, timestamp=1)
    else:
        signature = ""
    resp = post_webhook(client, body, signature)
    assert resp.status_code == 400
    assert count(ProviderEvent) == 0 and funded_txns() == []
    assert reload(contract).status is ContractStatus.SIGNED
    assert_ledger_sound()


def test_unknown_event_type_is_ignored_with_200(app, client, f, fake):
    event = fake.make_event("customer.created", {"id": "cus_1", "object": "customer"})
    body = event_body(event)
    resp = post_webhook(client, body, fake.sign(body))
    assert resp.status_code == 200 and resp.get_json() == {"result": "ignored: unknown type"}
    assert db.session.scalars(sa.select(ProviderEvent.result)).all() == ["ignored: unknown type"]


def test_duplicate_and_out_of_order_deliveries_have_one_effect(app, client, f, fake):
    contract = signed(f)
    url = escrow.start_card_checkout(contract.id, actor=owner_of(contract), success_url=SUCCESS, cancel_url=CANCEL)
    session_id = url.rsplit("/", 1)[1]
    body, signature = pay_on_hosted_page(fake, url)
    # An "expired" about the same session arrives first (it is paid at the provider: ignored).
    expired = fake.make_event("checkout.session.expired", {**json.loads(body)["data"]["object"], "status": "expired"})
    late = event_body(expired)
    assert post_webhook(client, late, fake.sign(late)).get_json()["result"].startswith("ignored: the provider says")
    # Then the completed event, three times, and a second event id about the same payment.
    results = [post_webhook(client, body, fake.sign(body)).get_json()["result"] for _ in range(3)]
    assert results == ["applied: funded", "duplicate", "duplicate"]
    other = event_body(completed_event(fake, session_id))
    assert post_webhook(client, other, fake.sign(other)).get_json() == {"result": "already applied"}
    assert post_webhook(client, late, fake.sign(late)).get_json() == {"result": "duplicate"}
    session = db.session.scalars(sa.select(CheckoutSession)).one()
    assert session.paid_at is not None and session.expired_at is None
    assert len(funded_txns()) == 1 and count(Project) == 1 and count(ProviderEvent) == 3
    assert reload(contract).status is ContractStatus.FUNDED
    assert_ledger_sound()


def test_an_expired_session_is_replaced_by_a_new_attempt(app, client, f, fake):
    contract = signed(f)
    owner = owner_of(contract)
    url = escrow.start_card_checkout(contract.id, actor=owner, success_url=SUCCESS, cancel_url=CANCEL)
    fake.expire(url.rsplit("/", 1)[1])
    body, headers = fake.received[-1]
    assert post_webhook(client, body, headers["Stripe-Signature"]).get_json() == {"result": "applied: session expired"}
    second = escrow.start_card_checkout(contract.id, actor=owner, success_url=SUCCESS, cancel_url=CANCEL)
    assert second != url
    keys = db.session.scalars(sa.select(CheckoutSession.idempotency_key).order_by(CheckoutSession.id)).all()
    assert keys == [f"fund:contract:{contract.id}:1", f"fund:contract:{contract.id}:2"]
    body, signature = pay_on_hosted_page(fake, second)
    assert post_webhook(client, body, signature).get_json() == {"result": "applied: funded"}
    assert_ledger_sound()


@pytest.mark.parametrize("changes", [{"amount_total": PRICE - 1}, {"currency": "usd"}])
def test_amount_mismatch_is_flagged_and_not_funded(app, client, f, fake, changes):
    contract = signed(f)
    staff = f.admin()
    uow.commit()
    url = escrow.start_card_checkout(contract.id, actor=owner_of(contract), success_url=SUCCESS, cancel_url=CANCEL)
    body = event_body(completed_event(fake, url.rsplit("/", 1)[1], status="complete", payment_status="paid",
                                      **changes))
    assert post_webhook(client, body, fake.sign(body)).get_json() == {"result": "rejected: amount mismatch"}
    assert reload(contract).status is ContractStatus.SIGNED
    assert funded_txns() == [] and count(Project) == 0
    assert db.session.scalars(sa.select(ProviderEvent.result)).one() == "rejected: amount mismatch"
    flagged = db.session.scalars(sa.select(Notification).where(Notification.user_id == staff.id)).all()
    assert [n.kind for n in flagged] == ["escrow.flagged"]
    assert_ledger_sound()


def test_paying_an_unsigned_contract_is_refused_and_changes_nothing(app, f, fake):
    contract = signed(f)
    db.session.execute(sa.update(Contract).where(Contract.id == contract.id)
                       .values(status=ContractStatus.AWAITING_SIGNATURES, signed_at=None))
    uow.commit()
    contract = reload(contract)
    with pytest.raises(PaymentRefused, match="Sign the contract first"):
        escrow.start_card_checkout(contract.id, actor=owner_of(contract), success_url=SUCCESS, cancel_url=CANCEL)
    with pytest.raises(PaymentRefused, match="Sign the contract first"):
        escrow.record_bank_transfer(contract.id, actor=f.admin(), amount_minor=PRICE, currency="EUR",
                                    received_on=date(2026, 12, 1), bank_reference="x")
    assert count(CheckoutSession) == 0 and count(BankTransfer) == 0 and fake.request_log() == []
    assert_ledger_sound()


def test_another_company_cannot_start_a_checkout(app, f, fake):
    contract = signed(f)
    stranger = f.company_user()
    with pytest.raises(escrow.NotFound):
        escrow.start_card_checkout(contract.id, actor=stranger, success_url=SUCCESS, cancel_url=CANCEL)
    with pytest.raises(escrow.NotFound):
        escrow.start_card_checkout(contract.id, actor=contract.expert.user, success_url=SUCCESS, cancel_url=CANCEL)
    assert fake.request_log() == []


def test_without_card_configuration_the_company_is_sent_to_bank_transfer(app, f):
    app.extensions.pop("hub_payment_gateway", None)
    contract = signed(f)
    with pytest.raises(PaymentRefused, match="bank transfer"):
        escrow.start_card_checkout(contract.id, actor=owner_of(contract), success_url=SUCCESS, cancel_url=CANCEL)
    assert count(CheckoutSession) == 0


# Bank transfer ---------------------------------------------------------------------------


def record(contract: Contract, staff: Any, amount: int, ref: str = "SEPA 1") -> BankTransfer:
    return escrow.record_bank_transfer(contract.id, actor=staff, amount_minor=amount, currency="EUR",
                                       received_on=date(2026, 12, 1), bank_reference=ref)


def test_exact_bank_transfer_funds_with_the_recording_admin_as_manager(app, f):
    contract = signed(f)
    staff = f.admin()
    uow.commit()
    transfer = record(contract, staff, PRICE)
    assert transfer.discrepancy_minor == 0
    contract = reload(contract)
    assert contract.status is ContractStatus.FUNDED and contract.funding_method is FundingMethod.BANK_TRANSFER
    [txn] = funded_txns(contract.id)
    assert txn.external_ref is None and txn.created_by_id == staff.id
    assert ledger.balance(ledger.account(LedgerAccountKind.BANK_CLEARING, "EUR")) == PRICE
    assert escrow_balance(contract) == PRICE
    project = db.session.scalars(sa.select(Project)).one()
    assert project.manager_id == staff.id
    assert (staff.id, ProjectRole.MANAGER) in {(m.user_id, m.role) for m in project.members}
    assert "held by Plasticonnect" in pdf_text(get_storage().get(escrow.receipt_key(contract.id))).replace("\n", " ")
    with pytest.raises(PaymentRefused, match="already paid"):
        record(contract, staff, PRICE, "again")
    assert count(BankTransfer) == 1 and len(funded_txns()) == 1
    assert_ledger_sound()


def test_under_payment_waits_then_a_second_transfer_completes_it(app, f):
    contract = signed(f)
    staff = f.admin()
    uow.commit()
    first = record(contract, staff, 400000, "part 1")
    assert first.discrepancy_minor == -60000
    status = escrow.funding_status(reload(contract))
    assert (status.state, status.received_minor, status.missing_minor) == ("partly_paid", 400000, 60000)
    assert [t.id for t in status.flagged] == [first.id]
    assert funded_txns() == [] and reload(contract).status is ContractStatus.SIGNED
    assert_ledger_sound()

    second = record(contract, staff, 60000, "part 2")
    assert second.discrepancy_minor == 0
    contract = reload(contract)
    assert contract.status is ContractStatus.FUNDED and len(funded_txns()) == 1
    assert escrow_balance(contract) == PRICE
    first = db.session.get(BankTransfer, first.id)
    assert first.resolved_at is not None and f"#{second.id}" in first.resolution_note
    assert_ledger_sound()


def test_over_payment_is_flagged_then_resolved_and_funded(app, f):
    contract = signed(f)
    staff, other_staff = f.admin(), f.admin()
    uow.commit()
    transfer = record(contract, staff, 470000)
    assert transfer.discrepancy_minor == 10000
    assert reload(contract).status is ContractStatus.SIGNED and funded_txns() == []
    assert [t.id for t in escrow.flagged_transfers()] == [transfer.id]
    assert {n.kind for n in db.session.scalars(sa.select(Notification))} == {"escrow.flagged"}
    assert escrow.funding_status(reload(contract)).state == "over_paid"
    assert_ledger_sound()

    with pytest.raises(PaymentRefused, match="Write how"):
        escrow.resolve_bank_transfer(transfer.id, actor=other_staff, note="  ")
    with pytest.raises(escrow.PermissionDenied):
        escrow.resolve_bank_transfer(transfer.id, actor=owner_of(contract), note="x")
    escrow.resolve_bank_transfer(transfer.id, actor=other_staff, note="€100 returned by SEPA on 2 Dec")
    contract = reload(contract)
    assert contract.status is ContractStatus.FUNDED and escrow_balance(contract) == PRICE
    transfer = db.session.get(BankTransfer, transfer.id)
    assert transfer.resolved_by_id == other_staff.id and transfer.resolution_note.startswith("€100")
    assert db.session.scalars(sa.select(Project.manager_id)).one() == other_staff.id
    assert escrow.flagged_transfers() == []
    with pytest.raises(PaymentRefused, match="not an open over-payment"):
        escrow.resolve_bank_transfer(transfer.id, actor=other_staff, note="again")
    assert len(funded_txns()) == 1
    assert_ledger_sound()


def test_bank_transfer_rules(app, f):
    contract = signed(f)
    staff = f.admin()
    uow.commit()
    with pytest.raises(escrow.PermissionDenied):
        record(contract, owner_of(contract), PRICE)
    with pytest.raises(PaymentRefused, match="EUR"):
        escrow.record_bank_transfer(contract.id, actor=staff, amount_minor=PRICE, currency="USD",
                                    received_on=date(2026, 12, 1), bank_reference="x")
    with pytest.raises(PaymentRefused, match="positive"):
        record(contract, staff, 0)
    assert count(BankTransfer) == 0


def test_card_payment_for_a_contract_funded_by_bank_is_flagged(app, client, f, fake):
    contract = signed(f)
    staff = f.admin()
    uow.commit()
    url = escrow.start_card_checkout(contract.id, actor=owner_of(contract), success_url=SUCCESS, cancel_url=CANCEL)
    record(contract, staff, PRICE)
    body, signature = pay_on_hosted_page(fake, url)
    assert post_webhook(client, body, signature).get_json() == {"result": "rejected: contract already funded"}
    [txn] = funded_txns()
    assert txn.external_ref is None
    assert reload(contract).funding_method is FundingMethod.BANK_TRANSFER
    assert_ledger_sound()


def test_page_queries(app, f):
    contract = signed(f)
    instructions = escrow.bank_instructions(contract)
    assert instructions.reference == contract.payment_reference
    assert instructions.amount_minor == PRICE and instructions.iban == app.config["HUB_BANK_IBAN"]
    assert "exactly" in instructions.note
    assert [c.id for c in escrow.contracts_awaiting_funding()] == [contract.id]
    record(contract, f.admin(), PRICE)
    [funded] = escrow.funded_contracts()
    assert funded.escrow_balance_minor == PRICE and len(funded.transactions) == 1
    assert {label.split(" ")[0] for label, _ in funded.transactions[0][1]} == {"bank_clearing", "escrow"}
    assert escrow.ledger_health() == []
