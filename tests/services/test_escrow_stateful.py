"""Hypothesis stateful test of funding: random sequences of card and bank-transfer steps.

Rules: start checkout, pay (webhook), duplicate webhook, out-of-order webhook (an "expired"
the provider does not confirm, or a real expiry), bank transfer exact / under / over,
resolve, cancel (``app.services.contracts.cancel_contract``). After every step: the ledger
invariants hold (``check_invariants``), and funded ⇔ exactly one ``escrow.funded``
transaction ⇔ one project; a cancelled contract never becomes funded.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import requests
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from app.extensions import db
from app.models import BankTransfer, Contract, ContractStatus, LedgerTransaction, Project, User
from app.services import contracts as contract_services
from app.services import escrow, ledger, uow
from app.services.escrow import PaymentRefused
from tests import factories
from tests.fakes.stripe_server import FakeStripe
from tests.services.test_escrow import CANCEL, PRICE, SUCCESS, event_body, fake, stripe_server  # noqa: F401

SETTINGS = settings(max_examples=25, stateful_step_count=15, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def make_machine(app: Any, fake_stripe: FakeStripe) -> type[RuleBasedStateMachine]:
    class FundingMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            db.session.remove()  # no truncation per example (slow on PostgreSQL): a fresh contract each time
            fake_stripe.reset()
            fake_stripe.received.clear()  # type: ignore[attr-defined]
            contract = factories.signed_contract(client_price_minor=PRICE)
            self.staff = factories.admin()
            uow.commit()
            self.contract_id = contract.id
            self.owner_id = contract.company.users[0].id
            self.staff_id = self.staff.id
            self.urls: list[str] = []
            self.delivered: list[bytes] = []
            self.model = "signed"  # signed | funded | cancelled
            self.received = 0

        # Helpers ---------------------------------------------------------------------------

        def contract(self) -> Contract:
            db.session.expire_all()
            found = db.session.get(Contract, self.contract_id)
            assert found is not None
            return found

        def user(self, user_id: int) -> User:
            found = db.session.get(User, user_id)
            assert found is not None
            return found

        def deliver(self, body: bytes) -> str:
            return escrow.handle_provider_event(body, fake_stripe.sign(body))

        def open_session(self) -> str | None:
            if not self.urls:
                return None
            session_id = self.urls[-1].rsplit("/", 1)[1]
            return session_id if fake_stripe.sessions[session_id]["status"] == "open" else None

        def bank(self, amount: int) -> None:
            before = self.model
            try:
                escrow.record_bank_transfer(self.contract_id, actor=self.user(self.staff_id), amount_minor=amount,
                                            currency="EUR", received_on=date(2026, 12, 1), bank_reference="SEPA")
            except PaymentRefused as exc:
                uow.rollback()
                assert before != "signed", exc
                return
            assert before == "signed"
            self.received += amount
            if self.received == PRICE:
                self.model = "funded"

        # Rules -----------------------------------------------------------------------------

        @rule()
        def start_checkout(self) -> None:
            try:
                url = escrow.start_card_checkout(self.contract_id, actor=self.user(self.owner_id),
                                                 success_url=SUCCESS, cancel_url=CANCEL)
            except PaymentRefused as exc:
                uow.rollback()
                paid = any(fake_stripe.sessions[u.rsplit("/", 1)[1]]["status"] == "complete" for u in self.urls)
                assert self.model != "signed" or paid, exc
                return
            assert self.model == "signed"
            if url not in self.urls:
                self.urls.append(url)

        @precondition(lambda self: self.open_session() is not None)
        @rule()
        def pay(self) -> None:
            before = len(fake_stripe.received)  # type: ignore[attr-defined]
            assert requests.post(self.urls[-1], allow_redirects=False, timeout=5).status_code == 303
            body, _ = fake_stripe.received[before]  # type: ignore[attr-defined]
            result = self.deliver(body)
            self.delivered.append(body)
            if self.model == "signed" and self.received == 0:
                assert result == "applied: funded", result
                self.model = "funded"
            elif self.model == "signed":  # a partial bank transfer is already in: the card still funds
                assert result == "applied: funded", result
                self.model = "funded"
            else:
                assert result.startswith("rejected: contract"), result

        @precondition(lambda self: bool(self.delivered))
        @rule()
        def duplicate_webhook(self) -> None:
            assert self.deliver(self.delivered[-1]) == "duplicate"

        @precondition(lambda self: bool(self.urls))
        @rule()
        def out_of_order_expired(self) -> None:
            """An "expired" about the latest session that the provider does not confirm: no effect."""
            session = fake_stripe.sessions[self.urls[-1].rsplit("/", 1)[1]]
            if session["status"] == "expired":
                return
            obj = {k: v for k, v in session.items() if not k.startswith("_")} | {"status": "expired"}
            result = self.deliver(event_body(fake_stripe.make_event("checkout.session.expired", obj)))
            assert result.startswith("ignored"), result

        @precondition(lambda self: self.open_session() is not None)
        @rule()
        def session_expires(self) -> None:
            fake_stripe.expire(self.open_session() or "")
            body, _ = fake_stripe.received[-1]  # type: ignore[attr-defined]
            assert self.deliver(body) == "applied: session expired"
            self.delivered.append(body)

        @rule()
        def bank_exact(self) -> None:
            self.bank(max(PRICE - self.received, 1) if self.received < PRICE else PRICE)

        @precondition(lambda self: PRICE - self.received >= 2)
        @rule()
        def bank_under(self) -> None:
            self.bank((PRICE - self.received) // 2)

        @rule()
        def bank_over(self) -> None:
            self.bank(max(PRICE - self.received, 0) + 1000)

        @rule()
        def resolve(self) -> None:
            transfer = db.session.scalars(
                sa.select(BankTransfer).where(BankTransfer.contract_id == self.contract_id,
                                              BankTransfer.resolved_at.is_(None), BankTransfer.discrepancy_minor > 0)
            ).first()
            if transfer is None:
                return
            try:
                escrow.resolve_bank_transfer(transfer.id, actor=self.user(self.staff_id), note="Excess returned")
            except PaymentRefused as exc:
                uow.rollback()
                assert self.model != "signed", exc
                return
            assert self.model == "signed" and self.received > PRICE
            self.model = "funded"

        @rule()
        def cancel(self) -> None:
            try:
                contract_services.cancel_contract(self.contract_id, actor=self.user(self.staff_id),
                                                  reason="The company withdrew")
            except escrow.DomainError:
                uow.rollback()
                assert self.model != "signed"
                return
            assert self.model == "signed"
            self.model = "cancelled"

        # Invariants ------------------------------------------------------------------------

        @invariant()
        def ledger_and_funding_agree(self) -> None:
            assert ledger.check_invariants(db.session) == []
            contract = self.contract()
            funded = db.session.scalars(
                sa.select(LedgerTransaction).where(LedgerTransaction.kind == escrow.FUNDED_KIND,
                                                   LedgerTransaction.idempotency_key == escrow.funded_key(contract.id))
            ).all()
            projects = db.session.scalar(
                sa.select(sa.func.count()).select_from(Project).where(Project.contract_id == contract.id))
            assert self.model == {ContractStatus.SIGNED: "signed", ContractStatus.FUNDED: "funded",
                                  ContractStatus.CANCELLED: "cancelled"}[contract.status]
            if contract.status is ContractStatus.FUNDED:
                assert len(funded) == 1 and projects == 1
                assert funded[0].idempotency_key == escrow.funded_key(contract.id)
            else:
                assert funded == [] and projects == 0
            uow.rollback()

    return FundingMachine


def test_funding_state_machine(app, fake):  # noqa: F811
    run_state_machine_as_test(make_machine(app, fake), settings=SETTINGS)


def test_machine_runs_a_known_sequence(app, fake):  # noqa: F811
    machine = make_machine(app, fake)()
    machine.bank_under()
    machine.ledger_and_funding_agree()
    machine.start_checkout()
    machine.pay()
    machine.ledger_and_funding_agree()
    machine.duplicate_webhook()
    machine.bank_exact()
    machine.ledger_and_funding_agree()
    machine.teardown()
