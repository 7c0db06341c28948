"""Releasing the held funds of an accepted project (app/services/release.py), exactly once.

Amounts are EUR cents: the factory's contract holds 460000 (expert price 400000 + hub fee 60000),
funded by bank transfer. Every test ends with the ledger invariants checked.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any
from urllib.parse import urlparse

import pytest
import sqlalchemy as sa

from app.exceptions import DomainError, NotFound, PermissionDenied, ValidationFailed
from app.extensions import db
from app.models import (
    AuditEvent,
    Dispute,
    DisputeStatus,
    ExpertProfile,
    LedgerAccountKind,
    LedgerSide,
    LedgerTransaction,
    Notification,
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
    User,
)
from app.models.mixins import utcnow
from app.services import ledger, release, uow
from app.services.release import ReleaseParts, ReleaseRefused
from app.services.transitions import transition
from app.workflows.contracts import PROJECT_WORKFLOW
from tests import factories
from tests.conftest import _clear_tables, _create_schema, _to_sqlalchemy_url, make_app, postgres_url

CLIENT_PRICE, EXPERT_PRICE, FEE = 460000, 400000, 60000


# Helpers (also used by the payout, task, page and back-office tests) -------------------------------


def count(model: Any, *where: Any) -> int:
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where)) or 0)


def assert_ledger_sound() -> None:
    assert ledger.check_invariants(db.session) == []


def balance(kind: LedgerAccountKind, currency: str = "EUR", reference: int | None = None) -> int:
    return ledger.balance(ledger.account(kind, currency, reference))


def reload(obj: Any) -> Any:
    db.session.expire_all()
    return db.session.get(type(obj), obj.id)


def company_users(project: Project) -> list[User]:
    return [m.user for m in project.members if m.role is ProjectRole.COMPANY]


def staff_of(project: Project) -> User:
    user = db.session.get(User, project.manager_id)
    assert user is not None
    return user


def accept(project: Project) -> Project:
    """The company's final acceptance, as app/services/deliveries.py records it (ACTIVE -> ACCEPTED)."""
    transition(project, PROJECT_WORKFLOW, ProjectStatus.ACCEPTED, actor=company_users(project)[0])
    project.accepted_at = utcnow()
    uow.commit()
    return project


def add_qc(project: Project, *, fee: int = 30000, pseudonym: str | None = None,
           status: QcStatus = QcStatus.ACTIVE) -> QcAssignment:
    """A QC expert who signed the NDA and joined (what app/services/qc.py leaves behind)."""
    expert = factories.expert(pseudonym=pseudonym or f"Q{uuid.uuid4().hex[:5].upper()}")
    assignment = QcAssignment(
        project_id=project.id, expert_id=expert.id, status=status, fee_minor=fee,
        assigned_by_id=project.manager_id, nda_storage_key=f"qc-nda/{uuid.uuid4().hex}",
        nda_sha256="0" * 64, signed_at=utcnow(), typed_name=expert.user.full_name,
    )
    db.session.add(assignment)
    db.session.add(ProjectMember(project_id=project.id, user_id=expert.user_id, role=ProjectRole.QC))
    uow.commit()
    return assignment


def accepted_project(f: Any, *, qc_fee: int | None = None, members: int = 2) -> Project:
    project = f.project(members=members)
    uow.commit()
    if qc_fee is not None:
        add_qc(project, fee=qc_fee)
    return accept(project)


def release_txns(project: Project | None = None) -> list[LedgerTransaction]:
    query = sa.select(LedgerTransaction).where(LedgerTransaction.kind == release.RELEASE_KIND)
    if project is not None:
        query = query.where(LedgerTransaction.idempotency_key == release.release_key(project.contract_id))
    return list(db.session.scalars(query))


def notes(user: User, kind: str) -> list[Notification]:
    return list(db.session.scalars(sa.select(Notification).where(Notification.user_id == user.id,
                                                                 Notification.kind == kind)))


def released(project: Project) -> Any:
    txn = release.release_escrow(project.id, actor=None)
    uow.commit()
    return txn


# The split ----------------------------------------------------------------------------------


def test_parts_add_up_and_refuse_negative_values():
    parts = ReleaseParts(expert_minor=400000, qc_minor=30000, hub_minor=30000)
    assert parts.total == CLIENT_PRICE
    for bad in (-1, 1.5, True):
        with pytest.raises(ValidationFailed):
            ReleaseParts(expert_minor=400000, qc_minor=bad, hub_minor=0)  # type: ignore[arg-type]


def test_default_parts_take_the_qc_fee_from_the_hubs_share(f):
    project = accepted_project(f, qc_fee=25000)
    assert release.held_minor(project) == CLIENT_PRICE
    assert release.default_parts(project) == ReleaseParts(EXPERT_PRICE, 25000, FEE - 25000)
    plain = accepted_project(f)
    assert release.default_parts(plain) == ReleaseParts(EXPERT_PRICE, 0, FEE)


def test_a_removed_qc_expert_is_not_paid(f):
    project = f.project()
    uow.commit()
    add_qc(project, fee=20000, status=QcStatus.REMOVED)
    accept(project)
    assert release.default_parts(project) == ReleaseParts(EXPERT_PRICE, 0, FEE)


# Releasing ----------------------------------------------------------------------------------


def test_release_without_qc_empties_the_escrow_into_expert_and_hub(f):
    project = accepted_project(f)
    contract = project.contract
    txn = released(project)

    assert txn is not None and txn.kind == "escrow.released"
    assert txn.idempotency_key == f"release:{contract.id}"
    assert txn.description == f"Contract {contract.reference} released"
    entries = sorted((e.account.kind.value, e.side.value, e.amount_minor) for e in txn.entries)
    assert entries == [("escrow", "debit", CLIENT_PRICE), ("expert_payable", "credit", EXPERT_PRICE),
                       ("hub_revenue", "credit", FEE)]
    assert balance(LedgerAccountKind.ESCROW, reference=contract.id) == 0
    assert balance(LedgerAccountKind.EXPERT_PAYABLE, reference=contract.expert_id) == EXPERT_PRICE
    assert balance(LedgerAccountKind.HUB_REVENUE) == FEE
    assert count(LedgerTransaction, LedgerTransaction.kind.like("escrow.released%")) == 1
    assert db.session.get(ExpertProfile, contract.expert_id).user_id == project.contract.expert.user_id

    project = reload(project)
    assert project.status is ProjectStatus.COMPLETED
    assert project.released_at is not None and project.closed_at == project.released_at
    audit = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.entity == "projects",
                                                           AuditEvent.entity_id == project.id,
                                                           AuditEvent.action == "project.completed")).one()
    assert audit.actor_id is None and audit.data["hub_minor"] == FEE and audit.data["ledger_transaction"] == txn.id

    (payout,) = db.session.scalars(sa.select(Payout)).all()
    assert (payout.role, payout.amount_minor, payout.currency) == (PayoutRole.EXPERT, EXPERT_PRICE, "EUR")
    assert payout.method is PayoutMethod.BANK and payout.status is PayoutStatus.PENDING  # no connected account
    assert payout.idempotency_key == f"payout-{project.id}-expert"
    assert_ledger_sound()


def test_release_with_qc_pays_the_qc_fee_from_the_hubs_share(f):
    project = accepted_project(f, qc_fee=30000)
    qc = release.active_qc(project)
    assert qc is not None
    txn = released(project)

    entries = sorted((e.account.kind.value, e.account.reference, e.amount_minor) for e in txn.entries)
    assert entries == sorted([("escrow", project.contract_id, CLIENT_PRICE),
                              ("expert_payable", project.contract.expert_id, EXPERT_PRICE),
                              ("qc_payable", qc.expert_id, 30000), ("hub_revenue", None, 30000)])
    assert balance(LedgerAccountKind.QC_PAYABLE, reference=qc.expert_id) == 30000
    assert balance(LedgerAccountKind.ESCROW, reference=project.contract_id) == 0
    payouts = {p.role: p for p in db.session.scalars(sa.select(Payout))}
    assert set(payouts) == {PayoutRole.EXPERT, PayoutRole.QC}
    assert (payouts[PayoutRole.QC].expert_id, payouts[PayoutRole.QC].amount_minor) == (qc.expert_id, 30000)
    assert_ledger_sound()


def test_everyone_hears_their_own_figure_and_staff_hear_of_the_bank_transfer(f):
    project = accepted_project(f, qc_fee=30000)
    qc = release.active_qc(project)
    assert qc is not None
    released(project)
    for user in company_users(project):
        (note,) = notes(user, "escrow.released")
        assert note.params["amount"] == "€4,600.00" and note.link == f"/projects/{project.id}"
        assert project.contract.reference in note.params["project"]
    (expert_note,) = notes(project.contract.expert.user, "escrow.released")
    assert expert_note.params["amount"] == "€4,000.00" and expert_note.link == "/expert/earnings"
    (qc_note,) = notes(qc.expert.user, "escrow.released")
    assert qc_note.params["amount"] == "€300.00"
    attention = notes(staff_of(project), "payout.attention")
    assert sorted(n.params["amount"] for n in attention) == ["€300.00", "€4,000.00"]
    assert {n.params["reason"] for n in attention} == {"bank transfer to make"}


def test_releasing_twice_posts_one_transaction_and_returns_none(f):
    project = accepted_project(f, qc_fee=10000)
    first = released(project)
    assert first is not None
    assert released(project) is None
    staff = staff_of(project)
    assert release.release_escrow(project.id, actor=staff) is None
    uow.commit()
    assert len(release_txns(project)) == 1
    assert count(Payout) == 2
    assert len(notes(project.contract.expert.user, "escrow.released")) == 1
    assert_ledger_sound()


def test_hub_staff_may_release_and_members_may_not(f):
    project = accepted_project(f)
    owner = company_users(project)[0]
    with pytest.raises(PermissionDenied):
        release.release_escrow(project.id, actor=owner)
    with pytest.raises(PermissionDenied):
        release.release_escrow(project.id, actor=project.contract.expert.user)
    outsider = f.company_user()
    with pytest.raises(NotFound):
        release.release_escrow(project.id, actor=outsider)
    with pytest.raises(NotFound):
        release.release_escrow(999_999, actor=None)
    uow.rollback()
    assert release_txns() == []
    txn = release.release_escrow(project.id, actor=staff_of(project))
    uow.commit()
    assert txn is not None and txn.created_by_id == project.manager_id


# Refusals ------------------------------------------------------------------------------------


def _refused(project: Project, error: type[DomainError] = ReleaseRefused) -> str:
    with pytest.raises(error) as info:
        release.release_escrow(project.id, actor=None)
    uow.rollback()
    assert release_txns() == [] and count(Payout) == 0
    assert balance(LedgerAccountKind.ESCROW, reference=project.contract_id) == CLIENT_PRICE
    assert_ledger_sound()
    return str(info.value)


def test_an_active_project_is_not_released(f):
    project = f.project()
    uow.commit()
    assert "accepted the work" in _refused(project)
    assert reload(project).status is ProjectStatus.ACTIVE


def test_a_disputed_project_is_frozen(f):
    project = f.project()
    uow.commit()
    transition(project, PROJECT_WORKFLOW, ProjectStatus.DISPUTED, actor=None)
    uow.commit()
    assert "dispute" in _refused(project)


def test_an_open_dispute_freezes_an_accepted_project(f):
    project = accepted_project(f)
    owner = company_users(project)[0]
    db.session.add(Dispute(project_id=project.id, opened_by_id=owner.id, opened_side="company",
                           reason="The report is missing a chapter."))
    uow.commit()
    assert "dispute" in _refused(project)
    dispute = db.session.scalars(sa.select(Dispute)).one()
    assert dispute.status is DisputeStatus.OPEN
    assert reload(project).status is ProjectStatus.ACCEPTED


def test_a_cancelled_project_is_not_released(f):
    project = f.project()
    uow.commit()
    transition(project, PROJECT_WORKFLOW, ProjectStatus.CANCELLED, actor=None)
    uow.commit()
    _refused(project)


def test_a_qc_fee_above_the_hubs_share_is_refused(f):
    project = accepted_project(f, qc_fee=FEE + 1)
    message = _refused(project, ValidationFailed)
    assert "quality-control fee" in message and "€600.00" in message


def test_an_earlier_partial_movement_needs_a_hub_decision(f):
    project = accepted_project(f)
    contract = project.contract
    ledger.post(f"test-refund:{contract.id}", "escrow.refunded.partial", [
        (ledger.account(LedgerAccountKind.ESCROW, "EUR", contract.id), LedgerSide.DEBIT, 10000),
        (ledger.account(LedgerAccountKind.COMPANY_REFUNDS, "EUR", contract.company_id), LedgerSide.CREDIT, 10000),
    ], description="partial refund")
    uow.commit()
    assert release.held_minor(project) == CLIENT_PRICE - 10000
    with pytest.raises(ValidationFailed, match="differ from the client price"):
        release.release_escrow(project.id, actor=None)
    uow.rollback()
    assert release_txns() == [] and count(Payout) == 0
    assert_ledger_sound()


def test_awaiting_release_lists_accepted_projects_only(f):
    waiting = accepted_project(f)
    done = accepted_project(f)
    released(done)
    active = f.project()
    uow.commit()
    ids = [p.id for p in release.awaiting_release()]
    assert ids == [waiting.id] and active.id not in ids


# PostgreSQL: exactly one release wins (RELIABILITY.md §3.5) ---------------------------------------

CONTENDERS = 16
ROUNDS = 5


def _own_database(url: str) -> str:
    """A database of this test's own, so that other runs truncating theirs cannot deadlock it."""
    parsed = urlparse(url)
    name = f"{parsed.path.lstrip('/') or 'test'}_release_races"
    engine = sa.create_engine(_to_sqlalchemy_url(url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            if not conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first():
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return parsed._replace(path=f"/{name}").geturl()


@pytest.mark.postgres
def test_concurrent_releases_post_exactly_one_transaction(storage_dir):
    app = make_app(storage_dir, SQLALCHEMY_DATABASE_URI=_to_sqlalchemy_url(_own_database(postgres_url())),
                   SQLALCHEMY_ENGINE_OPTIONS={"pool_size": CONTENDERS + 4, "max_overflow": 0, "pool_timeout": 30})
    with app.app_context():
        _create_schema(app)
    try:
        for _ in range(ROUNDS):
            with app.app_context():
                _clear_tables(app)
                project = factories.project(members=1)
                uow.commit()
                add_qc(project, fee=20000)
                accept(project)
                admins = [factories.admin(totp_enabled_at=utcnow()) for _ in range(CONTENDERS // 2)]
                uow.commit()
                project_id, admin_ids = project.id, [a.id for a in admins]
                db.session.remove()
            barrier = threading.Barrier(CONTENDERS)
            outcomes: list[str] = []
            lock = threading.Lock()

            def run(actor_id: int | None, barrier: threading.Barrier = barrier, outcomes: list[str] = outcomes,
                    lock: threading.Lock = lock, project_id: int = project_id) -> None:
                with app.app_context():
                    try:
                        actor = db.session.get(User, actor_id) if actor_id is not None else None
                        barrier.wait()
                        txn = release.release_escrow(project_id, actor=actor)
                        uow.commit()
                        outcome = "released" if txn is not None else "none"
                    except DomainError as exc:
                        outcome = f"refused: {exc}"
                    except Exception as exc:  # noqa: BLE001 - the assertion names it
                        outcome = f"ERROR {type(exc).__name__}: {exc}"
                    finally:
                        db.session.remove()
                    with lock:
                        outcomes.append(outcome)

            callers: list[int | None] = [None] * (CONTENDERS - len(admin_ids)) + list(admin_ids)
            threads = [threading.Thread(target=run, args=(c,)) for c in callers]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
            assert sorted(outcomes) == ["none"] * (CONTENDERS - 1) + ["released"], outcomes
            with app.app_context():
                assert count(LedgerTransaction, LedgerTransaction.kind == "escrow.released") == 1
                assert count(Payout) == 2
                project = db.session.get(Project, project_id)
                assert project is not None and project.status is ProjectStatus.COMPLETED
                assert balance(LedgerAccountKind.ESCROW, reference=project.contract_id) == 0
                assert_ledger_sound()
                db.session.remove()
    finally:
        with app.app_context():
            db.engine.dispose()

