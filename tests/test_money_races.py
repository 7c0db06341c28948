"""PostgreSQL: money moves exactly once however many callers race (RELIABILITY.md §3.5, goal G4).

1. Release: 32 threads on one ACCEPTED project, half through ``release.release_escrow`` and half
   through the task ``app.tasks.release.release_project``, 50 rounds (a fresh project each round,
   every other one with a QC expert): one ``escrow.released`` transaction, the project COMPLETED,
   one payout per role. The provider is down while the release commits, so the send queued after
   it fails once; then 32 threads send the same provider payout against FakeStripe (half the
   service ``payouts.send_payout``, half the task): one call and one transfer at the fake for the
   payout's idempotency key, one ``payout.sent`` transaction recording that transfer.
2. The race matrix, each thread acting as its view does (the dispute page, the back office's
   dispute are read first and kept): on a FORWARDED delivery, 20 rounds per pair, approve ×
   dispute, approve × revision, dispute × revision; on the hub's side, 10 rounds each, two
   decisions of one dispute, a split × the company's approval, a refund decision × the release
   task, the hub's forward × a dispute. One side of a pair may start a little late (alternating,
   0–800 ms) so that every order happens. Each final state must be one of the combinations
   written down in ``ALLOWED``; every loser fails with a DomainError; the ledger invariants hold;
   no money moves twice.

Each thread has its own app context (its own session and connection) and waits at a Barrier
before its call. ``pytest -s`` shows the figures (rounds, attempts, winners, durations).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse
from uuid import uuid4

import pytest
import sqlalchemy as sa
from flask import Flask

from app.exceptions import DomainError
from app.extensions import db
from app.models import (
    Delivery,
    DeliveryStatus,
    Dispute,
    DisputeDecision,
    DisputeStatus,
    LedgerAccountKind,
    LedgerEntry,
    LedgerSide,
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
    Refund,
    User,
)
from app.models.mixins import utcnow
from app.services import deliveries, delivery_review, disputes, ledger, payouts, release, uow
from app.services.release import ReleaseParts
from app.services.transitions import transition
from app.tasks import release as release_tasks
from app.workflows.contracts import PROJECT_WORKFLOW
from tests import factories
from tests.conftest import _clear_tables, _create_schema, _to_sqlalchemy_url, make_app, postgres_url
from tests.fakes.stripe_server import FakeStripe

pytestmark = pytest.mark.postgres

CONTENDERS = 32
RELEASE_ROUNDS = 50
PAIR_ROUNDS = 20  # the three company-side pairs
HUB_ROUNDS = 10  # the hub-side pairs
PER_SIDE = 4  # contenders of each action in a pair race
HEAD_STARTS = (0.0, 0.01, 0.05, 0.8)  # seconds one side of a pair waits after the barrier, per round
QC_FEE = 20000
TRANSFERS = "/v1/transfers"
REASON = "The report misses the DOE results."


# The app and the race ----------------------------------------------------------------------------


def _own_database(url: str) -> str:
    """A database of this file's own (``<name>_money_races``): other runs truncating theirs cannot block it."""
    parsed = urlparse(url)
    name = f"{parsed.path.lstrip('/') or 'test'}_money_races"
    engine = sa.create_engine(_to_sqlalchemy_url(url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            if not conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first():
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return parsed._replace(path=f"/{name}").geturl()


@contextmanager
def race_app(storage_dir: str, **overrides: Any) -> Iterator[Flask]:
    """An app on this file's PostgreSQL database, its pool big enough for every contender; emptied before and after."""
    app = make_app(storage_dir, SQLALCHEMY_DATABASE_URI=_to_sqlalchemy_url(_own_database(postgres_url())),
                   SQLALCHEMY_ENGINE_OPTIONS={"pool_size": CONTENDERS + 4, "max_overflow": 4, "pool_timeout": 60},
                   **overrides)
    with app.app_context():
        _create_schema(app)
        _clear_tables(app)
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            _clear_tables(app)
            db.engine.dispose()


@dataclass(frozen=True)
class Outcome:
    """What one contender got: ``won`` (its change committed), ``no-op``, ``refused`` (a DomainError) or ``error``."""

    kind: str
    result: str
    error: str = ""
    detail: str = ""


Action = Callable[[], str]  # does the call and commits; returns "won" or "no-op"
Contender = tuple[str, Callable[[], Action]]  # (kind, prepare): prepare runs before the barrier


def race(app: Flask, contenders: list[Contender], *, late: str = "", delay: float = 0.0) -> tuple[list[Outcome], float]:
    """Run the contenders in threads released together by a Barrier; their outcomes and the wall time.

    The contenders of kind ``late`` wait ``delay`` seconds after the barrier (a head start for the others).
    """
    barrier = threading.Barrier(len(contenders))
    outcomes: list[Outcome] = []
    lock = threading.Lock()

    def run(kind: str, prepare: Callable[[], Action]) -> None:
        with app.app_context():
            try:
                action = prepare()
                barrier.wait(timeout=60)
                if kind == late:
                    time.sleep(delay)
                outcome = Outcome(kind, action())
            except DomainError as exc:
                uow.rollback()
                outcome = Outcome(kind, "refused", type(exc).__name__, str(exc))
            except Exception as exc:  # noqa: BLE001 - reported by the assertions
                uow.rollback()
                outcome = Outcome(kind, "error", type(exc).__name__, str(exc)[:300])
            finally:
                db.session.remove()
            with lock:
                outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=c, name=f"contender-{c[0]}-{i}") for i, c in enumerate(contenders)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    elapsed = time.monotonic() - started
    assert len(outcomes) == len(contenders), f"{len(contenders) - len(outcomes)} contender(s) hung"
    return outcomes, elapsed


def _errors(outcomes: list[Outcome]) -> list[Outcome]:
    return [o for o in outcomes if o.result == "error"]


def _user(user_id: int) -> User:
    found = db.session.get(User, user_id)
    assert found is not None
    return found


def _count(model: Any, *where: Any) -> int:
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where)) or 0)


def _balance(kind: LedgerAccountKind, reference: int | None = None) -> int:
    return ledger.balance(ledger.account(kind, "EUR", reference))


def _escrow_out(contract_id: int) -> list[str]:
    """The kinds of the ledger transactions that took money out of the contract's escrow account."""
    escrow = ledger.account(LedgerAccountKind.ESCROW, "EUR", contract_id)
    return sorted(db.session.scalars(
        sa.select(LedgerTransaction.kind).join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .where(LedgerEntry.account_id == escrow.id, LedgerEntry.side == LedgerSide.DEBIT)))


# Building the projects (before any race) ---------------------------------------------------------


def _member(project: Project, role: ProjectRole, index: int = 0) -> User:
    return [m.user for m in project.members if m.role is role][index]


def _add_qc(project: Project, *, account: str | None) -> QcAssignment:
    """An active QC expert who signed the NDA (what app/services/qc.py leaves behind), paid ``QC_FEE``."""
    expert = factories.expert(pseudonym=f"Q{uuid4().hex[:6].upper()}", payout_account_id=account or "")
    assignment = QcAssignment(project_id=project.id, expert_id=expert.id, status=QcStatus.ACTIVE, fee_minor=QC_FEE,
                              assigned_by_id=project.manager_id, nda_storage_key=f"qc-nda/{uuid4().hex}",
                              nda_sha256="0" * 64, signed_at=utcnow(), typed_name=expert.user.full_name)
    db.session.add_all([assignment, ProjectMember(project_id=project.id, user_id=expert.user_id, role=ProjectRole.QC)])
    db.session.flush()
    return assignment


def _accept_by_hand(project: Project) -> None:
    """ACTIVE -> ACCEPTED as the company's approval records it, without queueing the release."""
    transition(project, PROJECT_WORKFLOW, ProjectStatus.ACCEPTED, actor=_member(project, ProjectRole.COMPANY))
    project.accepted_at = utcnow()


def _submitted(project: Project) -> Delivery:
    """A delivery (notes and the checklist, no files) waiting for the hub's check."""
    checklist = [{"deliverable": d, "done": True, "comment": ""} for d in deliveries.deliverables_of(project)]
    delivery = deliveries.submit_delivery(project.id, actor=_member(project, ProjectRole.EXPERT),
                                          notes="Report and process window.", checklist=checklist, uploads=[])
    uow.commit()
    assert delivery.status is DeliveryStatus.HUB_REVIEW
    return delivery


def _forwarded(project: Project) -> Delivery:
    delivery = delivery_review.verify_and_forward(_submitted(project).id, actor=_member(project, ProjectRole.MANAGER))
    uow.commit()
    return delivery


# 1. Release and payout -------------------------------------------------------------------------------


def _release_contenders(project_id: int) -> list[Contender]:
    def service() -> Action:
        def act() -> str:
            txn = release.release_escrow(project_id, actor=None)
            uow.commit()
            return "won" if txn is not None else "no-op"
        return act

    def task() -> Action:
        return lambda: "won" if release_tasks.release_project(project_id) else "no-op"

    half = CONTENDERS // 2
    return [("service", service)] * half + [("task", task)] * (CONTENDERS - half)


def _send_contenders(payout_id: int) -> list[Contender]:
    def service() -> Action:
        def act() -> str:
            payout = payouts.send_payout(payout_id)
            status = payout.status
            uow.commit()
            return "sent" if status is PayoutStatus.SENT else f"not sent ({status.value})"
        return act

    def task() -> Action:
        def act() -> str:
            try:
                return "sent" if release_tasks.send_payout(payout_id) else "not sent"
            except release_tasks.PayoutNotSentYet as exc:
                return f"not sent ({exc})"
        return act

    half = CONTENDERS // 2
    return [("service", service)] * half + [("task", task)] * (CONTENDERS - half)


def test_32_releases_then_32_sends_move_the_money_once(storage_dir: str) -> None:
    with FakeStripe() as fake, race_app(storage_dir, STRIPE_SECRET_KEY=fake.api_key,
                                        STRIPE_WEBHOOK_SECRET=fake.webhook_secret,
                                        STRIPE_API_BASE=fake.base_url) as app:
        started = time.monotonic()
        with app.app_context():
            rounds: list[tuple[int, int, bool]] = []  # (project, contract, with QC)
            for n in range(RELEASE_ROUNDS):
                project = factories.project(members=1)
                project.contract.expert.payout_account_id = f"acct_race{n}"
                with_qc = n % 2 == 0
                if with_qc:
                    _add_qc(project, account=f"acct_raceqc{n}")
                _accept_by_hand(project)
                rounds.append((project.id, project.contract_id, with_qc))
                uow.commit()
                db.session.remove()  # a small session: flushing a big one is slow
        setup = time.monotonic() - started

        release_times: list[float] = []
        send_times: list[float] = []
        release_winners: Counter[str] = Counter()
        for n, (project_id, contract_id, with_qc) in enumerate(rounds):
            roles = {PayoutRole.EXPERT, PayoutRole.QC} if with_qc else {PayoutRole.EXPERT}
            # The provider is down while the release commits: the inline send of each payout fails
            # once and the payout stays pending for the senders' race below.
            fake.fail_next(503, path=TRANSFERS, times=len(roles))
            before = len(fake.requests)
            outcomes, elapsed = race(app, _release_contenders(project_id))
            release_times.append(elapsed)
            assert _errors(outcomes) == [], outcomes
            won = [o for o in outcomes if o.result == "won"]
            assert len(won) == 1, outcomes
            assert all(o.result == "no-op" for o in outcomes if o.result != "won"), outcomes
            release_winners[won[0].kind] += 1
            inline = [r for r in fake.requests[before:] if r.path == TRANSFERS]
            assert [r.status for r in inline] == [503] * len(roles), "one failed inline attempt per payout"

            with app.app_context():
                project = db.session.get(Project, project_id)
                assert project is not None and project.status is ProjectStatus.COMPLETED
                assert project.released_at is not None
                assert _count(LedgerTransaction, LedgerTransaction.kind == release.RELEASE_KIND) == n + 1
                key_is = LedgerTransaction.idempotency_key == release.release_key(contract_id)
                assert _count(LedgerTransaction, key_is) == 1
                assert _escrow_out(contract_id) == [release.RELEASE_KIND]
                assert _balance(LedgerAccountKind.ESCROW, contract_id) == 0
                rows = list(db.session.scalars(sa.select(Payout).where(Payout.project_id == project_id)))
                assert {p.role for p in rows} == roles and len(rows) == len(roles)
                assert all(p.method is PayoutMethod.PROVIDER and p.status is PayoutStatus.PENDING and p.attempts == 1
                           for p in rows)
                by_role = {p.role: p for p in rows}
                expert_payout = by_role[PayoutRole.EXPERT]
                payout_id, key, expert_id = expert_payout.id, expert_payout.idempotency_key, expert_payout.expert_id
                qc_payout_id = by_role[PayoutRole.QC].id if with_qc else None
                assert ledger.check_invariants(db.session) == []
                db.session.remove()

            before = len(fake.requests)
            outcomes, elapsed = race(app, _send_contenders(payout_id))
            send_times.append(elapsed)
            assert _errors(outcomes) == [], outcomes
            assert {o.result for o in outcomes} == {"sent"}, Counter(o.result for o in outcomes)
            calls = [r for r in fake.requests[before:] if r.method == "POST" and r.path == TRANSFERS]
            assert {r.idempotency_key for r in calls} == {key}, "every call carried the payout's key"
            assert len(calls) == 1, f"the row lock lets one sender call the provider, not {len(calls)}"
            made = [t for t in fake.transfers.values()
                    if t["metadata"] == {"project": str(project_id), "role": PayoutRole.EXPERT.value}]
            assert len(made) == 1, made

            with app.app_context():
                payout = db.session.get(Payout, payout_id)
                assert payout is not None and payout.status is PayoutStatus.SENT and payout.attempts == 1
                assert payout.provider_transfer_id == made[0]["id"]
                sent = list(db.session.scalars(sa.select(LedgerTransaction).where(
                    LedgerTransaction.idempotency_key == payouts.sent_key(payout_id))))
                assert len(sent) == 1 and sent[0].kind == payouts.SENT_KIND and sent[0].external_ref == made[0]["id"]
                assert _balance(LedgerAccountKind.EXPERT_PAYABLE, expert_id) == 0  # I4: a settled payout clears
                if qc_payout_id is not None:
                    qc_payout = payouts.send_payout(qc_payout_id)
                    uow.commit()
                    assert qc_payout.status is PayoutStatus.SENT
                    assert _balance(LedgerAccountKind.QC_PAYABLE, qc_payout.expert_id) == 0
                assert ledger.check_invariants(db.session) == []
                db.session.remove()

        with app.app_context():
            assert _count(LedgerTransaction, LedgerTransaction.kind == payouts.SENT_KIND) == RELEASE_ROUNDS * 3 // 2
            assert _count(Payout, Payout.status == PayoutStatus.SENT) == RELEASE_ROUNDS * 3 // 2
            db.session.remove()
    attempts = RELEASE_ROUNDS * CONTENDERS
    print(f"\nrelease: {RELEASE_ROUNDS} rounds x {CONTENDERS} contenders = {attempts} attempts, "
          f"{RELEASE_ROUNDS} winners ({dict(release_winners)}), {attempts - RELEASE_ROUNDS} no-ops; "
          f"race {sum(release_times):.1f}s (max {max(release_times):.2f}s/round), setup {setup:.1f}s")
    print(f"payout: {RELEASE_ROUNDS} rounds x {CONTENDERS} senders = {attempts} attempts, "
          f"{RELEASE_ROUNDS} transfers at the fake (one per key); race {sum(send_times):.1f}s "
          f"(max {max(send_times):.2f}s/round)")


# 2. The race matrix ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Final:
    """One round's end: the delivery, the project, open disputes, what left the escrow, the winning kinds."""

    delivery: DeliveryStatus | None
    project: ProjectStatus
    open_disputes: int
    escrow_out: tuple[str, ...]
    payouts: int
    refunds: int
    winners: tuple[str, ...]  # the kinds that won, sorted (each at most once)


@dataclass
class Round:
    """The ids one round's contenders need."""

    project_id: int
    contract_id: int
    delivery_id: int | None
    dispute_id: int | None
    company_ids: list[int]
    expert_id: int


D, P = DeliveryStatus, ProjectStatus
RELEASED, SPLIT, REFUNDED = release.RELEASE_KIND, disputes.RELEASED_KIND, disputes.REFUNDED_KIND

# Every final state each pair may end in; anything else is a failure.
ALLOWED: dict[str, set[Final]] = {
    "approve x dispute": {
        # The approval committed and its release ran before any dispute: the disputes are refused.
        Final(D.APPROVED, P.COMPLETED, 0, (RELEASED,), 1, 0, ("approve",)),
        # The approval committed, then a dispute came in before the release ran: the release is frozen.
        Final(D.APPROVED, P.DISPUTED, 1, (), 0, 0, ("approve", "dispute")),
        # A dispute committed first: the approvals are refused.
        Final(D.FORWARDED, P.DISPUTED, 1, (), 0, 0, ("dispute",)),
    },
    "approve x revision": {
        Final(D.APPROVED, P.COMPLETED, 0, (RELEASED,), 1, 0, ("approve",)),
        Final(D.REVISION_REQUESTED, P.ACTIVE, 0, (), 0, 0, ("revision",)),
    },
    "dispute x revision": {
        # A dispute first: the revision requests are refused.
        Final(D.FORWARDED, P.DISPUTED, 1, (), 0, 0, ("dispute",)),
        # A revision request first, then a dispute of the still active project.
        Final(D.REVISION_REQUESTED, P.DISPUTED, 1, (), 0, 0, ("dispute", "revision")),
    },
    "decide release x decide refund": {
        Final(None, P.COMPLETED, 0, (SPLIT,), 1, 0, ("release",)),
        Final(None, P.CANCELLED, 0, (REFUNDED,), 0, 1, ("refund",)),
    },
    "split x approve": {
        # The approval is refused whatever the order: a dispute is open, then the project is closed.
        Final(D.FORWARDED, P.COMPLETED, 0, (SPLIT,), 1, 1, ("split",)),
    },
    "refund x release task": {
        # The release task refuses a disputed project, and later a cancelled one.
        Final(None, P.CANCELLED, 0, (REFUNDED,), 0, 1, ("refund",)),
    },
    "forward x dispute": {
        # The hub may forward a delivery of a disputed project (it decides the dispute later): both apply.
        Final(D.FORWARDED, P.DISPUTED, 1, (), 0, 0, ("dispute", "forward")),
    },
}


def _round(project: Project, delivery: Delivery | None = None, dispute: Dispute | None = None) -> Round:
    return Round(project.id, project.contract_id, delivery.id if delivery else None, dispute.id if dispute else None,
                 [m.user_id for m in project.members if m.role is ProjectRole.COMPANY],
                 _member(project, ProjectRole.EXPERT).id)


def _build_forwarded() -> Round:
    project = factories.project(members=2)
    return _round(project, _forwarded(project))


def _build_submitted() -> Round:
    project = factories.project(members=2)
    return _round(project, _submitted(project))


def _disputed(project: Project, delivery: Delivery | None = None) -> Round:
    dispute = disputes.open_dispute(project.id, actor=_member(project, ProjectRole.COMPANY), reason=REASON,
                                    delivery_id=delivery.id if delivery else None)
    uow.commit()
    return _round(project, delivery, dispute)


def _build_disputed() -> Round:
    return _disputed(factories.project(members=2))


def _build_forwarded_disputed() -> Round:
    project = factories.project(members=2)
    return _disputed(project, _forwarded(project))


def _build_accepted_disputed() -> Round:
    project = factories.project(members=2)
    _accept_by_hand(project)
    uow.commit()
    return _disputed(project)


def _committed(call: Callable[[], object]) -> Action:
    """An action that makes the call, commits and reports a win (a DomainError is the race's to record)."""
    def act() -> str:
        call()
        uow.commit()
        return "won"
    return act


def _actions(r: Round, staff_ids: list[int]) -> dict[str, Callable[[int], Callable[[], Action]]]:
    """Per kind: the n-th contender's prepare step (loads who acts, before the barrier), returning its action."""
    delivery_id, dispute_id = r.delivery_id or 0, r.dispute_id or 0

    def company(n: int) -> User:
        return _user(r.company_ids[n % len(r.company_ids)])

    def staff(n: int) -> User:
        return _user(staff_ids[n % len(staff_ids)])

    def approve(n: int) -> Callable[[], Action]:
        def prepare() -> Action:
            actor = company(n)
            return _committed(lambda: deliveries.approve_delivery(delivery_id, actor=actor))
        return prepare

    def revision(n: int) -> Callable[[], Action]:
        def prepare() -> Action:
            actor = company(n + 1)
            return _committed(lambda: deliveries.request_revision(delivery_id, actor=actor, comment="Move the gate."))
        return prepare

    def dispute(n: int) -> Callable[[], Action]:
        def prepare() -> Action:
            actor = _user(r.expert_id) if n % 2 else company(n)
            page = disputes.disputes_page(r.project_id, actor=actor)  # the view reads the page first, and keeps it
            return _committed(lambda: (page, disputes.open_dispute(r.project_id, actor=actor, reason=REASON,
                                                                   delivery_id=r.delivery_id)))
        return prepare

    def decide(decision: DisputeDecision, **kw: Any) -> Callable[[int], Callable[[], Action]]:
        def contender(n: int) -> Callable[[], Action]:
            def prepare() -> Action:
                actor = staff(n)
                shown = db.session.get(Dispute, dispute_id)  # the back office reads the dispute first, and keeps it
                assert shown is not None and shown.project.contract.currency == "EUR"
                return _committed(lambda: (shown, disputes.decide_dispute(
                    dispute_id, actor=actor, decision=decision, reason="Decided after reading both sides.", **kw)))
            return prepare
        return contender

    def release_task(n: int) -> Callable[[], Action]:
        return lambda: (lambda: "won" if release_tasks.release_project(r.project_id) else "no-op")

    def forward(n: int) -> Callable[[], Action]:
        def prepare() -> Action:
            actor = staff(n)
            return _committed(lambda: delivery_review.verify_and_forward(delivery_id, actor=actor))
        return prepare

    parts = ReleaseParts(expert_minor=200000, qc_minor=0, hub_minor=30000)  # + 230000 refunded = the 460000 held
    return {
        "approve": approve, "revision": revision, "dispute": dispute, "forward": forward,
        "release": decide(DisputeDecision.RELEASE), "refund": decide(DisputeDecision.REFUND),
        "split": decide(DisputeDecision.SPLIT, release=parts, refund_minor=230000),
        "release task": release_task,
    }


@dataclass
class Pair:
    name: str
    kinds: tuple[str, str]
    build: Callable[[], Round]
    rounds: int
    finals: Counter[Final] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)
    durations: list[float] = field(default_factory=list)


PAIRS = [
    Pair("approve x dispute", ("approve", "dispute"), _build_forwarded, PAIR_ROUNDS),
    Pair("approve x revision", ("approve", "revision"), _build_forwarded, PAIR_ROUNDS),
    Pair("dispute x revision", ("dispute", "revision"), _build_forwarded, PAIR_ROUNDS),
    Pair("decide release x decide refund", ("release", "refund"), _build_disputed, HUB_ROUNDS),
    Pair("split x approve", ("split", "approve"), _build_forwarded_disputed, HUB_ROUNDS),
    Pair("refund x release task", ("refund", "release task"), _build_accepted_disputed, HUB_ROUNDS),
    Pair("forward x dispute", ("forward", "dispute"), _build_submitted, HUB_ROUNDS),
]


def _final(r: Round, outcomes: list[Outcome]) -> Final:
    won = Counter(o.kind for o in outcomes if o.result == "won")
    assert all(n == 1 for n in won.values()), f"a kind won more than once: {won}"
    delivery = db.session.get(Delivery, r.delivery_id) if r.delivery_id is not None else None
    project = db.session.get(Project, r.project_id)
    assert project is not None
    return Final(
        delivery=delivery.status if delivery is not None else None, project=project.status,
        open_disputes=_count(Dispute, Dispute.project_id == r.project_id, Dispute.status == DisputeStatus.OPEN),
        escrow_out=tuple(_escrow_out(r.contract_id)), payouts=_count(Payout, Payout.project_id == r.project_id),
        refunds=_count(Refund, Refund.project_id == r.project_id), winners=tuple(sorted(won)),
    )


@pytest.mark.parametrize("pair", PAIRS, ids=[p.name for p in PAIRS])
def test_the_race_matrix_ends_in_an_allowed_state(storage_dir: str, pair: Pair) -> None:
    with race_app(storage_dir) as app:
        started = time.monotonic()
        with app.app_context():
            staff_ids = [factories.admin(totp_enabled_at=utcnow()).id for _ in range(PER_SIDE)]
            uow.commit()
            db.session.remove()
            rounds = []
            for _ in range(pair.rounds):
                rounds.append(pair.build())
                uow.commit()
                db.session.remove()
        setup = time.monotonic() - started
        errors: list[Outcome] = []
        for i, r in enumerate(rounds):
            with app.app_context():
                actions = _actions(r, staff_ids)
                contenders: list[Contender] = [(kind, actions[kind](n)) for n in range(PER_SIDE) for kind in pair.kinds]
                db.session.remove()
            # Both sides at once, or one side a little late (alternating), so that every order happens.
            delay = HEAD_STARTS[i // 2 % len(HEAD_STARTS)]
            outcomes, elapsed = race(app, contenders, late=pair.kinds[i % 2], delay=delay)
            pair.durations.append(elapsed)
            errors += _errors(outcomes)
            pair.refusals.update(f"{o.kind}: {o.error}" for o in outcomes if o.result == "refused")
            with app.app_context():
                final = _final(r, outcomes)
                pair.finals[final] += 1
                assert ledger.check_invariants(db.session) == []
                moved = release.escrow_movements(db.session.get(Project, r.project_id))
                assert moved.released_minor + moved.refunded_minor <= moved.funded_minor
                if final.project in (P.COMPLETED, P.CANCELLED):
                    assert _balance(LedgerAccountKind.ESCROW, r.contract_id) == 0
                db.session.remove()
        print(f"\n{pair.name}: {pair.rounds} rounds x {2 * PER_SIDE} contenders = {pair.rounds * 2 * PER_SIDE} "
              f"attempts in {sum(pair.durations):.1f}s (max {max(pair.durations):.2f}s/round, setup {setup:.1f}s)")
        for final, n in pair.finals.most_common():
            print(f"  {n:2d} x winners {'+'.join(final.winners) or 'none'}: delivery "
                  f"{final.delivery.value if final.delivery else '-'}, project {final.project.value}, "
                  f"escrow out {list(final.escrow_out)}, open disputes {final.open_disputes}")
        print(f"  losers: {dict(pair.refusals)}")
        for e in errors:
            print(f"  ERROR {e.kind}: {e.error}: {e.detail}")
        assert errors == [], "a loser failed with something else than a DomainError"
        assert set(pair.finals) <= ALLOWED[pair.name], set(pair.finals) - ALLOWED[pair.name]
