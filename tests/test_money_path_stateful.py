"""Hypothesis stateful test of the whole money path (RELIABILITY.md §3.4, goal G5).

Each example starts with a small pool of deals (1–3 signed contracts): each is funded by bank
transfer or by card (the fake provider's hosted page, then its signed webhook), some get a
quality-control expert, some experts have a connected provider account (provider payouts, else
bank payouts). Random sequences of rules then drive the real services: fund (again: duplicate
webhooks, fresh events of the same payment, a second bank transfer), submit a delivery, the QC
review, the hub's forward or return, the company's approval or revision request, open and decide
disputes (release, refund, or a split with random parts that add up to what is held — or are off
by a cent), cancel before the work, release (also twice, also by the task), send payouts and
refunds (also twice, by the service or the task), mark bank payouts and refunds as sent, retry
failed ones, and provider trouble (503s, lost responses) at the fake.

Every rule commits on success and rolls back on a DomainError (an expected refusal, counted with
``event()``); any other exception fails the test. Each rule also knows from the stored state whether
the call must go through or be refused, and checks that it did. Invariants after every step:

- ``ledger.check_invariants(db.session) == []`` (I1–I3, I6, I7 as implemented);
- per deal: funded exactly once; released + refunded ≤ funded; nothing leaves the escrow before
  the project is terminal, and a terminal project (completed / cancelled) holds 0 (I4); a
  terminal state never changes; payables and company refunds owed equal the payouts and refunds
  not sent yet, so they are zero once those are SENT (I4);
- each transfer and refund the fake created maps to at most one ledger transaction, and to exactly
  one once its payout or refund is SENT; one object per idempotency key; a card payment's intent
  maps to exactly one ``escrow.funded`` transaction (I8, first half).

Runs on the default SQLite tier and on PostgreSQL (TEST_DATABASE_URL). The environment variables
``MONEY_PATH_EXAMPLES`` and ``MONEY_PATH_STEPS`` raise the counts (defaults 25 and 30).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from flask import Flask, current_app
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from app.exceptions import DomainError
from app.extensions import db
from app.models import (
    OPEN_DELIVERY_STATES,
    Contract,
    Delivery,
    DeliveryStatus,
    Dispute,
    DisputeDecision,
    DisputeStatus,
    LedgerAccountKind,
    LedgerTransaction,
    Payout,
    PayoutMethod,
    PayoutRole,
    PayoutStatus,
    Project,
    ProjectMember,
    ProjectRole,
    ProjectStatus,
    QcAssignment,
    QcStatus,
    QcVerdict,
    Refund,
    RefundStatus,
    User,
)
from app.models.mixins import utcnow
from app.services import deliveries, delivery_review, disputes, escrow, ledger, payouts, projects, refunds, release, uow
from app.services.release import ReleaseParts
from app.services.uploads import Upload
from app.tasks import refunds as refund_tasks
from app.tasks import release as release_tasks
from tests import factories
from tests.conftest import _clear_tables
from tests.fakes.stripe_server import FakeStripe

PRICE = 460000  # the factories' client price: expert 400000 + hub fee 60000 (EUR cents)
QC_FEE = 20000  # paid out of the hub's fee
TRANSFERS, REFUNDS = "/v1/transfers", "/v1/refunds"
SUCCESS = "http://hub.test/company/contracts/paid?session_id={CHECKOUT_SESSION_ID}"
CANCEL = "http://hub.test/company/contracts/pay"
CSV = b"temp;pressure\n230;800\n"
TERMINAL = (ProjectStatus.COMPLETED, ProjectStatus.CANCELLED)
DEAL = st.integers(0, 1)  # which deal of the pool (modulo its size)
CLEAR_EVERY = 10  # examples add rows (truncating each time is slow on PostgreSQL): empty the tables every 10

SETTINGS = settings(
    max_examples=int(os.environ.get("MONEY_PATH_EXAMPLES", "25")),
    stateful_step_count=int(os.environ.get("MONEY_PATH_STEPS", "30")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much],
)


OUTCOMES: Counter[str] = Counter()  # every outcome of every step of the run, printed at the end (pytest -s)


def _event(text: str) -> None:
    """Count an outcome, also in Hypothesis' statistics (outside Hypothesis, for a known sequence, only here)."""
    OUTCOMES[text] += 1
    try:
        event(text)
    except InvalidArgument:
        pass


@dataclass
class Deal:
    """One contract of the pool and what the machine knows of it."""

    contract_id: int
    method: str  # "bank" | "card"
    qc: bool
    connected: bool
    owner_id: int
    expert_user_id: int
    expert_id: int
    company_id: int
    project_id: int | None = None
    qc_user_id: int | None = None
    qc_expert_id: int | None = None
    webhooks: list[bytes] = field(default_factory=list)
    session_id: str | None = None
    terminal: ProjectStatus | None = None  # once completed or cancelled, never anything else


@pytest.fixture
def fake(app: Flask) -> Iterator[FakeStripe]:
    """The fake provider with card payments, transfers and refunds configured; webhooks are collected."""
    with FakeStripe() as server:
        server.webhook_sink = lambda body, headers: server.received.append(body) or 200  # type: ignore[attr-defined]
        server.received = []  # type: ignore[attr-defined]
        app.config.update(STRIPE_SECRET_KEY=server.api_key, STRIPE_WEBHOOK_SECRET=server.webhook_secret,
                          STRIPE_API_BASE=server.base_url)
        app.extensions.pop("hub_payment_gateway", None)
        yield server
        app.extensions.pop("hub_payment_gateway", None)


def make_machine(fake_stripe: FakeStripe) -> type[RuleBasedStateMachine]:
    class MoneyPath(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            db.session.remove()
            if OUTCOMES["(examples)"] % CLEAR_EVERY == CLEAR_EVERY - 1:
                _clear_tables(current_app)  # every few examples, so that the checks' cost stays flat
            fake_stripe.reset()
            fake_stripe.received.clear()  # type: ignore[attr-defined]
            OUTCOMES["(examples)"] += 1
            self.staff_id = factories.admin(totp_enabled_at=utcnow()).id
            uow.commit()
            self.deals: list[Deal] = []
            self.touched: set[int] = set()  # contract ids of the deals acted on since the last check

        # Helpers -------------------------------------------------------------------------------

        def user(self, user_id: int) -> User:
            found = db.session.get(User, user_id)
            assert found is not None
            return found

        @property
        def staff(self) -> User:
            return self.user(self.staff_id)

        def deal(self, i: int, *, where: Callable[[Deal], bool] = lambda d: d.project_id is not None) -> Deal | None:
            pool = [d for d in self.deals if where(d)]
            return self.touch(pool[i % len(pool)]) if pool else None

        def touch(self, deal: Deal) -> Deal:
            """The deal this step acts on: the invariants check it (the others cannot change meanwhile)."""
            self.touched.add(deal.contract_id)
            return deal

        def project(self, deal: Deal) -> Project:
            assert deal.project_id is not None
            found = db.session.get(Project, deal.project_id)
            assert found is not None
            return found

        def current(self, deal: Deal) -> Delivery | None:
            return deliveries.current_delivery(self.project(deal))

        def open_dispute(self, deal: Deal) -> Dispute | None:
            return disputes.open_dispute_of(self.project(deal))

        def payouts_of(self, deal: Deal) -> list[Payout]:
            return list(db.session.scalars(sa.select(Payout).where(Payout.project_id == deal.project_id)
                                           .order_by(Payout.id)))

        def refunds_of(self, deal: Deal) -> list[Refund]:
            return list(db.session.scalars(sa.select(Refund).where(Refund.project_id == deal.project_id)
                                           .order_by(Refund.id)))

        def attempt(self, name: str, expected: bool | None, call: Callable[[], Any]) -> bool:
            """Make the call and commit; roll back on a DomainError. Whether it went through must match ``expected``."""
            try:
                call()
                uow.commit()
            except DomainError as exc:
                uow.rollback()
                _event(f"{name}: refused ({type(exc).__name__})")
                assert expected is not True, f"{name} was refused although allowed: {type(exc).__name__}: {exc}"
                return False
            _event(f"{name}: done")
            assert expected is not False, f"{name} went through although it must be refused"
            return True

        def deliver(self, body: bytes) -> str:
            return escrow.handle_provider_event(body, fake_stripe.sign(body))

        # Setting up the pool ---------------------------------------------------------------------

        @initialize(specs=st.lists(st.tuples(st.sampled_from(["bank", "card"]), st.booleans(), st.booleans()),
                                   min_size=1, max_size=2))
        def signed_contracts(self, specs: list[tuple[str, bool, bool]]) -> None:
            for method, qc, connected in specs:
                contract = factories.signed_contract(client_price_minor=PRICE)
                if connected:
                    contract.expert.payout_account_id = f"acct_{uuid.uuid4().hex[:12]}"
                self.touched.add(contract.id)
                self.deals.append(Deal(
                    contract_id=contract.id, method=method, qc=qc, connected=connected,
                    owner_id=contract.company.users[0].id, expert_user_id=contract.expert.user_id,
                    expert_id=contract.expert_id, company_id=contract.company_id,
                ))
            uow.commit()

        # Picking the deal a step acts on ----------------------------------------------------------------

        def pick(self, i: int, aim: bool, fits: Callable[[Deal], bool]) -> Deal | None:
            """A funded deal; with ``aim``, one the step ``fits`` if there is one (else any: a refusal to check)."""
            funded = [d for d in self.deals if d.project_id is not None]
            if aim and any(fits(d) for d in funded):
                funded = [d for d in funded if fits(d)]
            return self.touch(funded[i % len(funded)]) if funded else None

        def delivery_in(self, deal: Deal, *states: DeliveryStatus) -> bool:
            current = self.current(deal)
            return current is not None and current.status in states

        def can_submit(self, deal: Deal) -> bool:
            current = self.current(deal)
            return (self.project(deal).status is ProjectStatus.ACTIVE and self.open_dispute(deal) is None
                    and (current is None or current.status not in OPEN_DELIVERY_STATES))

        def can_answer(self, deal: Deal) -> bool:
            return (self.delivery_in(deal, DeliveryStatus.FORWARDED) and self.open_dispute(deal) is None
                    and self.project(deal).status is ProjectStatus.ACTIVE)

        def can_dispute(self, deal: Deal) -> bool:
            project = self.project(deal)
            return ((project.status is ProjectStatus.ACTIVE
                     or (project.status is ProjectStatus.ACCEPTED and project.released_at is None))
                    and self.open_dispute(deal) is None)

        def can_cancel(self, deal: Deal) -> bool:
            return self.project(deal).status is ProjectStatus.ACTIVE and self.current(deal) is None

        def has_payout(self, deal: Deal, method: PayoutMethod, *states: PayoutStatus) -> bool:
            return any(p.method is method and p.status in states for p in self.payouts_of(deal))

        def has_refund(self, deal: Deal, method: PayoutMethod | None, *states: RefundStatus) -> bool:
            return any((method is None or r.method is method) and r.status in states for r in self.refunds_of(deal))

        # Funding -----------------------------------------------------------------------------------

        @rule(i=DEAL, duplicate=st.booleans(), aim=st.booleans())
        def fund(self, i: int, duplicate: bool, aim: bool = True) -> None:
            unfunded = aim and any(d.project_id is None for d in self.deals)
            deal = self.deal(i, where=lambda d: d.project_id is None or not unfunded)
            assert deal is not None
            self.do_fund(deal, duplicate)

        def do_fund(self, deal: Deal, duplicate: bool) -> None:
            if deal.project_id is not None:  # paid again: a redelivery, or a second bank transfer refused
                if deal.method == "card":
                    assert self.deliver(deal.webhooks[-1]) == "duplicate"
                    _event("fund: webhook redelivered")
                else:
                    self.attempt("fund: second bank transfer", False, lambda: escrow.record_bank_transfer(
                        deal.contract_id, actor=self.staff, amount_minor=PRICE, currency="EUR",
                        received_on=date(2026, 12, 1), bank_reference="SEPA again"))
                return
            if deal.method == "bank":
                escrow.record_bank_transfer(deal.contract_id, actor=self.staff, amount_minor=PRICE, currency="EUR",
                                            received_on=date(2026, 12, 1), bank_reference=f"SEPA {deal.contract_id}")
            else:
                owner = self.user(deal.owner_id)
                url = escrow.start_card_checkout(deal.contract_id, actor=owner, success_url=SUCCESS,
                                                 cancel_url=CANCEL)
                before = len(fake_stripe.received)  # type: ignore[attr-defined]
                assert requests.post(url, allow_redirects=False, timeout=10).status_code == 303
                body = fake_stripe.received[before]  # type: ignore[attr-defined]
                assert self.deliver(body) == "applied: funded"
                deal.webhooks.append(body)
                deal.session_id = url.rsplit("/", 1)[1]
                if duplicate:
                    assert self.deliver(body) == "duplicate"
            _event(f"fund: by {deal.method}")
            project = db.session.scalars(sa.select(Project).where(Project.contract_id == deal.contract_id)).one()
            deal.project_id = project.id
            if deal.qc:
                account = f"acct_{uuid.uuid4().hex[:12]}" if deal.connected else ""
                qc_expert = factories.expert(pseudonym=f"Q{uuid.uuid4().hex[:6].upper()}", payout_account_id=account)
                db.session.add_all([
                    QcAssignment(project_id=project.id, expert_id=qc_expert.id, status=QcStatus.ACTIVE,
                                 fee_minor=QC_FEE, assigned_by_id=self.staff_id,
                                 nda_storage_key=f"qc-nda/{uuid.uuid4().hex}", nda_sha256="0" * 64,
                                 signed_at=utcnow(), typed_name=qc_expert.user.full_name),
                    ProjectMember(project_id=project.id, user_id=qc_expert.user_id, role=ProjectRole.QC),
                ])
                deal.qc_user_id, deal.qc_expert_id = qc_expert.user_id, qc_expert.id
            uow.commit()

        @precondition(lambda self: any(d.webhooks for d in self.deals))
        @rule(i=DEAL, fresh=st.booleans())
        def card_event_again(self, i: int, fresh: bool) -> None:
            """The provider sends the payment again: the same delivery, or a new event about the same session."""
            deal = self.deal(i, where=lambda d: bool(d.webhooks))
            assert deal is not None and deal.session_id is not None
            if not fresh:
                assert self.deliver(deal.webhooks[0]) == "duplicate"
                return
            obj = {k: v for k, v in fake_stripe.sessions[deal.session_id].items() if not k.startswith("_")}
            body = json.dumps(fake_stripe.make_event("checkout.session.completed", obj), separators=(",", ":")).encode()
            assert self.deliver(body) == "already applied"
            _event("fund: a fresh event of the same payment")

        # The happy path, one step at a time -----------------------------------------------------------

        @rule(i=DEAL, decision=st.sampled_from(list(DisputeDecision)))
        def advance(self, i: int, decision: DisputeDecision = DisputeDecision.RELEASE) -> None:
            """The next step of the happy path for one deal, so that random runs also reach the end of the path."""
            deal = self.deal(i, where=lambda d: True)
            assert deal is not None
            if deal.project_id is None:
                return self.do_fund(deal, duplicate=False)
            project, current = self.project(deal), self.current(deal)
            status = current.status if current is not None else None
            if self.open_dispute(deal) is not None:
                self.do_decide(deal, decision, (2, 1, 1, 1), 0)
            elif self.can_submit(deal):
                self.do_submit(deal, with_file=False)
            elif status is DeliveryStatus.QC_REVIEW and projects.is_writable(project):
                self.do_qc_review(deal, QcVerdict.APPROVE, 5)
            elif status is DeliveryStatus.HUB_REVIEW and projects.is_writable(project):
                self.do_hub_check(deal, forward=True)
            elif self.can_answer(deal):
                self.do_company_answer(deal, approve=True)
            elif self.has_payout(deal, PayoutMethod.PROVIDER, PayoutStatus.PENDING):
                self.do_send_payouts(deal, by_task=False, twice=False)
            elif self.has_payout(deal, PayoutMethod.BANK, PayoutStatus.PENDING):
                self.do_mark_bank_payouts_sent(deal)
            elif self.has_refund(deal, PayoutMethod.PROVIDER, RefundStatus.PENDING):
                self.do_send_refunds(deal, by_task=False, twice=False)
            elif self.has_refund(deal, PayoutMethod.BANK, RefundStatus.PENDING):
                self.do_mark_bank_refunds_sent(deal)
            elif self.has_payout(deal, PayoutMethod.PROVIDER, PayoutStatus.FAILED) or self.has_refund(
                    deal, None, RefundStatus.FAILED):
                self.do_retry(deal)
            return None

        # The delivery --------------------------------------------------------------------------------

        @precondition(lambda self: any(d.project_id for d in self.deals))
        @rule(i=DEAL, with_file=st.booleans(), aim=st.booleans())
        def submit(self, i: int, with_file: bool, aim: bool = True) -> None:
            deal = self.pick(i, aim, self.can_submit)
            assert deal is not None
            self.do_submit(deal, with_file)

        def do_submit(self, deal: Deal, with_file: bool) -> None:
            project = self.project(deal)
            allowed = self.can_submit(deal)
            checklist = [{"deliverable": d, "done": True, "comment": ""} for d in deliveries.deliverables_of(project)]
            expert = self.user(deal.expert_user_id)
            if self.attempt("submit", allowed, lambda: deliveries.submit_delivery(
                    project.id, actor=expert, notes="Report and process window.", checklist=checklist,
                    uploads=[Upload("data.csv", CSV)] if with_file else [])):
                delivered = self.current(deal)
                assert delivered is not None
                assert delivered.status is (DeliveryStatus.QC_REVIEW if deal.qc else DeliveryStatus.HUB_REVIEW)

        @precondition(lambda self: any(d.project_id and d.qc for d in self.deals))
        @rule(i=DEAL, verdict=st.sampled_from(list(QcVerdict)), score=st.integers(1, 5), aim=st.booleans())
        def qc_review(self, i: int, verdict: QcVerdict, score: int, aim: bool = True) -> None:
            deal = self.pick(i, aim, lambda d: d.qc and self.delivery_in(d, DeliveryStatus.QC_REVIEW))
            assert deal is not None
            if deal.qc:
                self.do_qc_review(deal, verdict, score)

        def do_qc_review(self, deal: Deal, verdict: QcVerdict, score: int) -> None:
            assert deal.qc_user_id is not None
            current = self.current(deal)
            if current is None:
                return
            allowed = current.status is DeliveryStatus.QC_REVIEW and projects.is_writable(self.project(deal))
            reviewer = self.user(deal.qc_user_id)
            if self.attempt(f"qc {verdict.value}", allowed, lambda: delivery_review.qc_review(
                    current.id, actor=reviewer, completeness=score, correctness=score, clarity=score,
                    comments="Checked against the offer.", verdict=verdict)):
                assert self.current(deal).status is (  # type: ignore[union-attr]
                    DeliveryStatus.HUB_REVIEW if verdict is QcVerdict.APPROVE else DeliveryStatus.CHANGES_REQUESTED)

        @precondition(lambda self: any(d.project_id for d in self.deals))
        @rule(i=DEAL, forward=st.booleans(), aim=st.booleans())
        def hub_check(self, i: int, forward: bool, aim: bool = True) -> None:
            deal = self.pick(i, aim, lambda d: self.delivery_in(d, DeliveryStatus.HUB_REVIEW))
            assert deal is not None
            self.do_hub_check(deal, forward)

        def do_hub_check(self, deal: Deal, forward: bool) -> None:
            current = self.current(deal)
            if current is None:
                return
            allowed = current.status is DeliveryStatus.HUB_REVIEW and projects.is_writable(self.project(deal))
            if forward:
                self.attempt("hub forward", allowed,
                             lambda: delivery_review.verify_and_forward(current.id, actor=self.staff))
            else:
                self.attempt("hub return", allowed, lambda: delivery_review.return_to_expert(
                    current.id, actor=self.staff, comment="Add the cooling analysis."))

        @precondition(lambda self: any(d.project_id for d in self.deals))
        @rule(i=DEAL, approve=st.booleans(), aim=st.booleans())
        def company_answer(self, i: int, approve: bool, aim: bool = True) -> None:
            deal = self.pick(i, aim, self.can_answer)
            assert deal is not None
            self.do_company_answer(deal, approve)

        def do_company_answer(self, deal: Deal, approve: bool) -> None:
            current = self.current(deal)
            if current is None:
                return
            allowed = self.can_answer(deal)
            owner = self.user(deal.owner_id)
            if approve:
                if self.attempt("company approve", allowed,
                                lambda: deliveries.approve_delivery(current.id, actor=owner)):
                    # The release ran right after the commit (the embedded queue runs tasks inline).
                    assert self.project(deal).status is ProjectStatus.COMPLETED
                    assert self.current(deal).status is DeliveryStatus.APPROVED  # type: ignore[union-attr]
            else:
                self.attempt("company revision", allowed, lambda: deliveries.request_revision(
                    current.id, actor=owner, comment="Move the gate."))

        # Disputes and cancellation --------------------------------------------------------------------

        @precondition(lambda self: any(d.project_id for d in self.deals))
        @rule(i=DEAL, by_expert=st.booleans(), on_delivery=st.booleans(), aim=st.booleans())
        def open_dispute_rule(self, i: int, by_expert: bool, on_delivery: bool, aim: bool = True) -> None:
            deal = self.pick(i, aim, self.can_dispute)
            assert deal is not None
            allowed = self.can_dispute(deal)
            actor = self.user(deal.expert_user_id if by_expert else deal.owner_id)
            current = self.current(deal)
            visible = current is not None and (by_expert or current.status in deliveries.COMPANY_VISIBLE)
            delivery_id = current.id if on_delivery and visible and current is not None else None
            project_id = deal.project_id
            assert project_id is not None
            if self.attempt("open dispute", allowed, lambda: disputes.open_dispute(
                    project_id, actor=actor, reason="The report misses the DOE results.", delivery_id=delivery_id)):
                assert self.project(deal).status is ProjectStatus.DISPUTED

        @precondition(lambda self: any(d.project_id for d in self.deals))
        @rule(i=DEAL, decision=st.sampled_from(list(DisputeDecision)),
              shares=st.tuples(st.integers(0, 4), st.integers(0, 4), st.integers(0, 4), st.integers(0, 4)),
              off=st.sampled_from([0, 0, 0, 0, 0, 1, -1]), aim=st.booleans())
        def decide(self, i: int, decision: DisputeDecision, shares: tuple[int, int, int, int], off: int,
                   aim: bool = True) -> None:
            deal = self.pick(i, aim, lambda d: self.open_dispute(d) is not None)
            assert deal is not None
            self.do_decide(deal, decision, shares, off)

        def do_decide(self, deal: Deal, decision: DisputeDecision, shares: tuple[int, int, int, int], off: int) -> None:
            project = self.project(deal)
            dispute = self.open_dispute(deal)
            if dispute is None:
                return
            held = release.held_minor(project)
            weight = sum(shares) or 1
            expert, qc, hub = (held * shares[0] // weight, held * shares[1] // weight if deal.qc else 0,
                               held * shares[2] // weight)
            refund = held - expert - qc - hub + off
            adds_up = off == 0 and refund >= 0
            allowed = project.status is ProjectStatus.DISPUTED and (decision is not DisputeDecision.SPLIT or adds_up)
            kw: dict[str, Any] = {}
            if decision is DisputeDecision.SPLIT:
                kw = {"release": ReleaseParts(expert_minor=expert, qc_minor=qc, hub_minor=hub), "refund_minor": refund}
            if self.attempt(f"decide {decision.value}", allowed, lambda: disputes.decide_dispute(
                    dispute.id, actor=self.staff, decision=decision, reason="Decided after reading both sides.", **kw)):
                released = {DisputeDecision.RELEASE: held, DisputeDecision.REFUND: 0,
                            DisputeDecision.SPLIT: expert + qc + hub}[decision]
                assert self.project(deal).status is (ProjectStatus.COMPLETED if released else ProjectStatus.CANCELLED)
                moved = release.escrow_movements(self.project(deal))
                assert (moved.released_minor, moved.refunded_minor) == (released, held - released)

        @precondition(lambda self: any(d.project_id for d in self.deals))
        @rule(i=DEAL, aim=st.booleans())
        def cancel(self, i: int, aim: bool = True) -> None:
            deal = self.pick(i, aim, self.can_cancel)
            assert deal is not None and deal.project_id is not None
            project_id = deal.project_id
            if self.attempt("cancel before work", self.can_cancel(deal),
                            lambda: disputes.cancel_project(project_id, actor=self.staff, reason="The plant closed.")):
                assert self.project(deal).status is ProjectStatus.CANCELLED

        # Release ---------------------------------------------------------------------------------------

        @precondition(lambda self: any(d.project_id for d in self.deals))
        @rule(i=DEAL, how=st.sampled_from(["platform", "staff", "task"]), twice=st.booleans())
        def release_rule(self, i: int, how: str, twice: bool) -> None:
            deal = self.deal(i)
            assert deal is not None
            project = self.project(deal)
            releasable = project.status is ProjectStatus.ACCEPTED and self.open_dispute(deal) is None
            allowed = releasable or project.status is ProjectStatus.COMPLETED  # completed: a no-op, not an error
            before = self.escrow_out(deal)
            for n in range(2 if twice else 1):
                if how == "task":
                    assert release_tasks.release_project(project.id) is (releasable and n == 0)
                    continue
                actor = self.staff if how == "staff" else None
                results: list[Any] = []
                self.attempt(f"release ({how})", allowed, lambda actor=actor, results=results: results.append(
                    release.release_escrow(project.id, actor=actor)))
                if results:
                    assert (results[0] is not None) is (releasable and n == 0)
            if not releasable:
                assert self.escrow_out(deal) == before, "a refused or repeated release moved money"

        def escrow_out(self, deal: Deal) -> tuple[int, int]:
            moved = release.escrow_movements(self.project(deal))
            return moved.released_minor, moved.refunded_minor

        # Money leaving the hub ----------------------------------------------------------------------------

        @precondition(lambda self: any(d.project_id for d in self.deals))
        @rule(i=DEAL, by_task=st.booleans(), twice=st.booleans(), aim=st.booleans())
        def send_payouts(self, i: int, by_task: bool, twice: bool, aim: bool = True) -> None:
            deal = self.pick(i, aim, lambda d: self.has_payout(d, PayoutMethod.PROVIDER, PayoutStatus.PENDING))
            assert deal is not None
            self.do_send_payouts(deal, by_task, twice)

        def do_send_payouts(self, deal: Deal, by_task: bool, twice: bool) -> None:
            for payout in self.payouts_of(deal):
                for _n in range(2 if twice else 1):
                    before = (payout.status, payout.attempts)
                    payout_id = payout.id
                    if by_task:
                        try:
                            release_tasks.send_payout(payout_id)
                        except release_tasks.PayoutNotSentYet:
                            _event("send payout: the provider failed (task retries)")
                    else:
                        payouts.send_payout(payout_id)
                        uow.commit()
                    payout = db.session.get(Payout, payout_id)  # type: ignore[assignment]
                    assert payout is not None
                    if before[0] is not PayoutStatus.PENDING or payout.method is PayoutMethod.BANK:
                        assert (payout.status, payout.attempts) == before, "only a pending provider payout is sent"
                    elif payout.status is not PayoutStatus.SENT:
                        assert payout.attempts == before[1] + 1 and payout.last_error, "a failure counts an attempt"
                    _event(f"send payout: {payout.method.value} {before[0].value} -> {payout.status.value}")

        @precondition(lambda self: any(d.project_id for d in self.deals))
        @rule(i=DEAL, by_task=st.booleans(), twice=st.booleans(), aim=st.booleans())
        def send_refunds(self, i: int, by_task: bool, twice: bool, aim: bool = True) -> None:
            deal = self.pick(i, aim, lambda d: self.has_refund(d, PayoutMethod.PROVIDER, RefundStatus.PENDING))
            assert deal is not None
            self.do_send_refunds(deal, by_task, twice)

        def do_send_refunds(self, deal: Deal, by_task: bool, twice: bool) -> None:
            for refund in self.refunds_of(deal):
                for _n in range(2 if twice else 1):
                    before = refund.status
                    refund_id = refund.id
                    if by_task:
                        try:
                            refund_tasks.send_refund(refund_id)
                        except refund_tasks.RefundNotSentYet:
                            _event("send refund: the provider failed (task retries)")
                    else:
                        refunds.send_refund(refund_id)
                        uow.commit()
                    refund = db.session.get(Refund, refund_id)  # type: ignore[assignment]
                    assert refund is not None
                    if before is not RefundStatus.PENDING or refund.method is PayoutMethod.BANK:
                        assert refund.status is before, "only a pending provider refund is sent"
                    _event(f"send refund: {refund.method.value} {before.value} -> {refund.status.value}")

        @precondition(lambda self: any(d.project_id for d in self.deals))
        @rule(i=DEAL, aim=st.booleans())
        def mark_bank_payouts_sent(self, i: int, aim: bool = True) -> None:
            deal = self.pick(i, aim, lambda d: self.has_payout(d, PayoutMethod.BANK, PayoutStatus.PENDING))
            assert deal is not None
            self.do_mark_bank_payouts_sent(deal)

        def do_mark_bank_payouts_sent(self, deal: Deal) -> None:
            for payout in self.payouts_of(deal):
                allowed = payout.method is PayoutMethod.BANK and payout.status is not PayoutStatus.SENT
                payout_id = payout.id
                if self.attempt("mark bank payout sent", allowed, lambda payout_id=payout_id: (
                        payouts.mark_bank_payout_sent(payout_id, actor=self.staff, reference=f"SEPA-OUT-{payout_id}"))):
                    assert db.session.get(Payout, payout_id).status is PayoutStatus.SENT  # type: ignore[union-attr]

        @precondition(lambda self: any(d.project_id for d in self.deals))
        @rule(i=DEAL, aim=st.booleans())
        def mark_bank_refunds_sent(self, i: int, aim: bool = True) -> None:
            deal = self.pick(i, aim, lambda d: self.has_refund(d, PayoutMethod.BANK, RefundStatus.PENDING))
            assert deal is not None
            self.do_mark_bank_refunds_sent(deal)

        def do_mark_bank_refunds_sent(self, deal: Deal) -> None:
            for refund in self.refunds_of(deal):
                allowed = refund.method is PayoutMethod.BANK and refund.status is RefundStatus.PENDING
                refund_id = refund.id
                if self.attempt("mark bank refund sent", allowed, lambda refund_id=refund_id: (
                        refunds.mark_bank_refund_sent(refund_id, actor=self.staff, reference=f"BACK-{refund_id}"))):
                    assert db.session.get(Refund, refund_id).status is RefundStatus.SENT  # type: ignore[union-attr]

        @precondition(lambda self: any(d.project_id for d in self.deals))
        @rule(i=DEAL, aim=st.booleans())
        def retry(self, i: int, aim: bool = True) -> None:
            """An admin's "Retry" of provider payouts and refunds (the send runs after the commit)."""
            deal = self.pick(i, aim, lambda d: self.has_payout(d, PayoutMethod.PROVIDER, PayoutStatus.FAILED)
                             or self.has_refund(d, None, RefundStatus.FAILED))
            assert deal is not None
            self.do_retry(deal)

        def do_retry(self, deal: Deal) -> None:
            for payout in self.payouts_of(deal):
                allowed = payout.method is PayoutMethod.PROVIDER and payout.status is not PayoutStatus.SENT
                payout_id = payout.id
                self.attempt(f"retry payout ({payout.status.value})", allowed,
                             lambda payout_id=payout_id: payouts.retry_payout(payout_id, actor=self.staff))
            for refund in self.refunds_of(deal):
                allowed = refund.status is RefundStatus.FAILED
                refund_id = refund.id
                self.attempt(f"retry refund ({refund.status.value})", allowed,
                             lambda refund_id=refund_id: refunds.retry_refund(refund_id, actor=self.staff))

        @rule(path=st.sampled_from([TRANSFERS, REFUNDS]), lose=st.booleans(), times=st.integers(1, 3))
        def provider_trouble(self, path: str, lose: bool, times: int) -> None:
            """The next calls fail (503), or the next one is made but its answer is lost (the SDK retries)."""
            if lose:
                fake_stripe.lose_next_response(path)
            else:
                fake_stripe.fail_next(503, path=path, times=times)

        # Invariants ---------------------------------------------------------------------------------------

        @invariant()
        def the_ledger_is_sound(self) -> None:
            OUTCOMES["(steps checked)"] += 1
            assert ledger.check_invariants(db.session) == []

        @invariant()
        def each_deal_adds_up(self) -> None:
            """Every deal acted on since the last check adds up (an untouched deal cannot have changed)."""
            created = self.provider_objects()
            for deal in self.deals:
                if deal.contract_id not in self.touched:
                    continue
                if deal.project_id is None:
                    contract = db.session.get(Contract, deal.contract_id)
                    assert contract is not None and contract.funded_at is None
                    continue
                self.check_deal(deal, created)
            self.touched.clear()

        def provider_objects(self) -> dict[str, list[str]]:
            """Idempotency key -> the transfers and refunds the fake made under it (I8: never more than one)."""
            created: dict[str, list[str]] = {}
            for r in fake_stripe.requests:
                if r.method == "POST" and r.path in (TRANSFERS, REFUNDS) and r.object_id and not r.replayed:
                    created.setdefault(r.idempotency_key or "", []).append(r.object_id)
            assert all(len(ids) == 1 for ids in created.values()), created
            return created

        def check_deal(self, deal: Deal, created: dict[str, list[str]]) -> None:
            project = self.project(deal)
            if deal.terminal is not None:
                assert project.status is deal.terminal, "a terminal state changed"
            elif project.status in TERMINAL:
                deal.terminal = project.status
            funded = self.txns(escrow.funded_key(deal.contract_id))
            assert len(funded) == 1
            moved = release.escrow_movements(project)
            held = release.held_minor(project)
            assert moved.funded_minor == PRICE and held == PRICE - moved.released_minor - moved.refunded_minor
            assert moved.released_minor + moved.refunded_minor <= moved.funded_minor
            if project.status in TERMINAL:
                assert held == 0, "I4: a terminal project still holds money"
                assert (moved.released_minor > 0) is (project.status is ProjectStatus.COMPLETED)
            else:
                assert held == PRICE, "money left the escrow of a project that is not terminal"
            statuses = list(db.session.scalars(sa.select(Delivery.status).where(Delivery.project_id == project.id)))
            assert len([s for s in statuses if s in OPEN_DELIVERY_STATES]) <= 1
            assert int(db.session.scalar(sa.select(sa.func.count()).select_from(Dispute).where(
                Dispute.project_id == project.id, Dispute.status == DisputeStatus.OPEN)) or 0) <= 1

            rows = self.payouts_of(deal)
            refund_rows = self.refunds_of(deal)
            assert sum(p.amount_minor for p in rows) <= moved.released_minor
            assert sum(r.amount_minor for r in refund_rows) == moved.refunded_minor
            for role, kind, expert_id in ((PayoutRole.EXPERT, LedgerAccountKind.EXPERT_PAYABLE, deal.expert_id),
                                          (PayoutRole.QC, LedgerAccountKind.QC_PAYABLE, deal.qc_expert_id)):
                if expert_id is None:
                    continue
                unsent = sum(p.amount_minor for p in rows if p.role is role and p.status is not PayoutStatus.SENT)
                assert ledger.balance(ledger.account(kind, "EUR", expert_id)) == unsent, f"I4: {kind.value}"
            owed = ledger.balance(ledger.account(LedgerAccountKind.COMPANY_REFUNDS, "EUR", deal.company_id))
            assert owed == sum(r.amount_minor for r in refund_rows if r.status is not RefundStatus.SENT)
            for key, sent, provider_id, txn_key in (
                    *((p.idempotency_key, p.status is PayoutStatus.SENT, p.provider_transfer_id,
                       payouts.sent_key(p.id)) for p in rows),
                    *((r.idempotency_key, r.status is RefundStatus.SENT, r.provider_refund_id,
                       refunds.sent_key(r.id)) for r in refund_rows)):
                txns = self.txns(txn_key)
                assert len(txns) == (1 if sent else 0)
                made = created.get(key, [])
                if provider_id is not None:  # I8: the provider's object, in the ledger exactly once
                    assert sent and made == [provider_id] and txns[0].external_ref == provider_id
                    assert len(self.txns_with_ref(provider_id)) == 1
                else:  # not sent through the provider (yet): its object, if made, is not in the ledger
                    assert all(not self.txns_with_ref(object_id) for object_id in made)
            if deal.method == "card":
                assert deal.session_id is not None
                intent = fake_stripe.sessions[deal.session_id]["payment_intent"]
                assert funded[0].external_ref == intent
                assert len(self.txns_with_ref(intent)) == 1

        def txns(self, key: str) -> list[LedgerTransaction]:
            return list(db.session.scalars(sa.select(LedgerTransaction).where(
                LedgerTransaction.idempotency_key == key)))

        def txns_with_ref(self, ref: str) -> list[LedgerTransaction]:
            return list(db.session.scalars(sa.select(LedgerTransaction).where(LedgerTransaction.external_ref == ref)))

        def teardown(self) -> None:
            uow.rollback()
            db.session.remove()

    return MoneyPath


def test_money_path_state_machine(app: Flask, fake: FakeStripe) -> None:
    OUTCOMES.clear()
    started = time.monotonic()
    run_state_machine_as_test(make_machine(fake), settings=SETTINGS)
    print(f"\nmoney path: {SETTINGS.max_examples} examples x up to {SETTINGS.stateful_step_count} steps, "
          f"{sum(OUTCOMES.values())} outcomes in {time.monotonic() - started:.1f}s")
    for outcome, n in sorted(OUTCOMES.items()):
        print(f"  {n:5d}  {outcome}")


def _machine(fake: FakeStripe, *specs: tuple[str, bool, bool]) -> Any:
    machine = make_machine(fake)()
    machine.signed_contracts(list(specs))
    return machine


def _check(machine: Any) -> None:
    machine.touched |= {d.contract_id for d in machine.deals}
    machine.the_ledger_is_sound()
    machine.each_deal_adds_up()


def test_a_card_deal_with_qc_goes_from_payment_to_payouts(app: Flask, fake: FakeStripe) -> None:
    """A known sequence through the happy path: the provider fails the first transfers, the retries pay once."""
    m = _machine(fake, ("card", True, True))
    m.fund(0, duplicate=True)
    m.card_event_again(0, fresh=True)
    m.submit(0, with_file=True)
    m.qc_review(0, QcVerdict.APPROVE, 4)
    m.hub_check(0, forward=True)
    m.provider_trouble(TRANSFERS, lose=False, times=2)
    m.company_answer(0, approve=True)
    _check(m)
    deal = m.deals[0]
    assert {(p.role, p.method, p.status, p.attempts) for p in m.payouts_of(deal)} == {
        (PayoutRole.EXPERT, PayoutMethod.PROVIDER, PayoutStatus.PENDING, 1),
        (PayoutRole.QC, PayoutMethod.PROVIDER, PayoutStatus.PENDING, 1)}
    m.provider_trouble(TRANSFERS, lose=True, times=1)
    m.send_payouts(0, by_task=True, twice=True)
    m.release_rule(0, "task", twice=True)
    _check(m)
    assert {p.status for p in m.payouts_of(deal)} == {PayoutStatus.SENT}
    assert len([t for t in fake.transfers.values()]) == 2
    m.teardown()


def test_a_bank_deal_is_disputed_split_and_settled_by_hand(app: Flask, fake: FakeStripe) -> None:
    m = _machine(fake, ("bank", False, False), ("card", False, False))
    m.fund(0, duplicate=False)
    m.fund(0, duplicate=False)  # a second bank transfer is refused
    m.submit(0, with_file=False)
    m.hub_check(0, forward=True)
    m.open_dispute_rule(0, by_expert=True, on_delivery=True)
    m.company_answer(0, approve=True)  # refused: the dispute is open
    m.decide(0, DisputeDecision.SPLIT, (2, 0, 1, 1), off=1)  # off by a cent: refused
    m.decide(0, DisputeDecision.SPLIT, (2, 0, 1, 1), off=0)
    _check(m)
    m.mark_bank_payouts_sent(0)
    m.mark_bank_refunds_sent(0)
    m.send_payouts(0, by_task=False, twice=True)
    _check(m)
    deal = m.deals[0]
    assert [p.status for p in m.payouts_of(deal)] == [PayoutStatus.SENT]
    assert [r.status for r in m.refunds_of(deal)] == [RefundStatus.SENT]
    # The card deal is cancelled before any work: its refund goes back to the card, once.
    m.fund(1, duplicate=False)
    m.provider_trouble(REFUNDS, lose=False, times=1)
    m.cancel(1)
    m.send_refunds(1, by_task=False, twice=True)
    m.cancel(1)  # refused: already cancelled
    _check(m)
    [refund] = m.refunds_of(m.deals[1])
    assert refund.method is PayoutMethod.PROVIDER and refund.status is RefundStatus.SENT
    assert len(fake.refunds) == 1
    m.teardown()
