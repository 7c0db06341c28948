"""Disputes and cancellation (app/services/disputes.py): who may open and decide, the frozen release, the money.

Amounts are EUR cents: the factory's contract holds 460000 (expert price 400000 + hub fee 60000), funded by
bank transfer. Every money test ends with the ledger invariants checked and the escrow emptied.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa

from app.exceptions import InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from app.extensions import db
from app.models import (
    AuditEvent,
    ContractStatus,
    Delivery,
    DeliveryStatus,
    Dispute,
    DisputeDecision,
    DisputeStatus,
    LedgerAccountKind,
    LedgerTransaction,
    MilestoneStatus,
    Notification,
    Payout,
    PayoutRole,
    ProgressUpdate,
    Project,
    ProjectMember,
    ProjectMessage,
    ProjectMilestone,
    ProjectRole,
    ProjectStatus,
    QcAssignment,
    QcStatus,
    Refund,
    RefundStatus,
    User,
)
from app.models.mixins import utcnow
from app.services import disputes, ledger, projects, release, uow
from app.services.projects import Side
from app.services.release import ReleaseParts, ReleaseRefused
from app.services.transitions import transition
from app.workflows.contracts import PROJECT_WORKFLOW
from tests import factories

HELD, EXPERT_PRICE, FEE = 460000, 400000, 60000


# Helpers (also used by the refund, page and back-office tests) ------------------------------------


@dataclass
class Scene:
    project: Project
    owner: User
    colleague: User
    expert: User
    hub: User


def make_scene(f: Any) -> Scene:
    """A funded, active project with two company users, the expert and the hub manager (committed)."""
    project = f.project(members=2)
    owner, colleague = projects.member_users(project, side=Side.COMPANY)[:2]
    (expert,) = projects.member_users(project, side=Side.EXPERT)
    (hub,) = projects.member_users(project, side=Side.HUB)
    uow.commit()
    return Scene(project, owner, colleague, expert, hub)


@pytest.fixture
def scene(f: Any) -> Scene:
    return make_scene(f)


def reload(obj: Any) -> Any:
    db.session.expire_all()
    return db.session.get(type(obj), obj.id)


def count(model: Any, *where: Any) -> int:
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where)) or 0)


def assert_ledger_sound() -> None:
    assert ledger.check_invariants(db.session) == []


def balance(kind: LedgerAccountKind, reference: int | None = None, currency: str = "EUR") -> int:
    return ledger.balance(ledger.account(kind, currency, reference))


def notes(user: User, kind: str) -> list[Notification]:
    return list(db.session.scalars(sa.select(Notification).where(Notification.user_id == user.id,
                                                                 Notification.kind == kind)))


def system_keys(project: Project) -> list[str]:
    bodies = db.session.scalars(sa.select(ProjectMessage.body).where(
        ProjectMessage.project_id == project.id, ProjectMessage.author_id.is_(None)).order_by(ProjectMessage.id))
    return [json.loads(b[1:])["key"] for b in bodies]


def actions(entity: str, entity_id: int) -> list[str]:
    return list(db.session.scalars(sa.select(AuditEvent.action).where(
        AuditEvent.entity == entity, AuditEvent.entity_id == entity_id).order_by(AuditEvent.id)))


def accept(project: Project, by: User) -> None:
    """The company's final acceptance as app/services/deliveries.py records it (ACTIVE -> ACCEPTED)."""
    transition(project, PROJECT_WORKFLOW, ProjectStatus.ACCEPTED, actor=by)
    project.accepted_at = utcnow()
    uow.commit()


def add_qc(project: Project, *, fee: int = 30000) -> QcAssignment:
    """An active QC expert on the project (what app/services/qc.py leaves after the NDA is signed)."""
    expert = factories.expert(pseudonym=f"Q{uuid.uuid4().hex[:5].upper()}")
    assignment = QcAssignment(project_id=project.id, expert_id=expert.id, status=QcStatus.ACTIVE, fee_minor=fee,
                              assigned_by_id=project.manager_id, nda_storage_key=f"qc-nda/{uuid.uuid4().hex}",
                              nda_sha256="0" * 64, signed_at=utcnow(), typed_name=expert.user.full_name)
    db.session.add(assignment)
    db.session.add(ProjectMember(project_id=project.id, user_id=expert.user_id, role=ProjectRole.QC))
    uow.commit()
    return assignment


def add_delivery(project: Project, by: User, number: int = 1,
                 status: DeliveryStatus = DeliveryStatus.FORWARDED) -> Delivery:
    delivery = Delivery(project_id=project.id, number=number, status=status, notes="The report",
                        checklist=[], submitted_by_id=by.id)
    db.session.add(delivery)
    uow.commit()
    return delivery


def open_one(s: Scene, *, by: User | None = None, reason: str = "The report misses the DOE results.",
             delivery_id: int | None = None) -> Dispute:
    dispute = disputes.open_dispute(s.project.id, actor=by or s.owner, reason=reason, delivery_id=delivery_id)
    uow.commit()
    return dispute


def decide(s: Scene, dispute: Dispute, decision: DisputeDecision, **kw: Any) -> Dispute:
    decided = disputes.decide_dispute(dispute.id, actor=kw.pop("actor", s.hub), decision=decision,
                                      reason=kw.pop("reason", "Both sides heard; see the channel."), **kw)
    uow.commit()
    return decided


def escrow_of(project: Project) -> int:
    return balance(LedgerAccountKind.ESCROW, project.contract_id)


# Opening -----------------------------------------------------------------------------------------


def test_a_company_user_opens_a_dispute_and_everyone_concerned_is_told(scene):
    delivery = add_delivery(scene.project, scene.expert)
    dispute = open_one(scene, delivery_id=delivery.id)

    project = reload(scene.project)
    assert project.status is ProjectStatus.DISPUTED
    dispute = reload(dispute)
    assert dispute.status is DisputeStatus.OPEN and dispute.opened_side == "company"
    assert dispute.opened_by_id == scene.owner.id and dispute.delivery_id == delivery.id
    assert dispute.reason == "The report misses the DOE results."
    assert actions("disputes", dispute.id) == ["dispute.open"]
    assert actions("projects", project.id)[-1] == "project.disputed"
    # Staff, the expert and the opener's colleague are told; the opener is not.
    assert [n.link for n in notes(scene.hub, "dispute.opened")] == [f"/admin/disputes/{dispute.id}"]
    [note] = notes(scene.expert, "dispute.opened")
    assert note.link == f"/projects/{project.id}/disputes"
    assert note.params["reason"] == dispute.reason and note.params["project"] == projects.project_label(project)
    assert len(notes(scene.colleague, "dispute.opened")) == 1 and notes(scene.owner, "dispute.opened") == []
    assert system_keys(project)[-1] == "dispute_opened"
    assert escrow_of(project) == HELD  # nothing moves until the hub decides
    assert_ledger_sound()


def test_the_expert_opens_one_and_the_company_users_are_told(scene):
    dispute = open_one(scene, by=scene.expert, reason="The company stopped answering.")
    assert reload(dispute).opened_side == "expert"
    assert len(notes(scene.owner, "dispute.opened")) == 1 and len(notes(scene.colleague, "dispute.opened")) == 1
    assert notes(scene.expert, "dispute.opened") == []


def test_the_hub_and_the_qc_expert_cannot_open_one_and_outsiders_learn_nothing(f, scene):
    qc = add_qc(scene.project)
    with pytest.raises(PermissionDenied):
        disputes.open_dispute(scene.project.id, actor=scene.hub, reason="x")
    uow.rollback()
    with pytest.raises(PermissionDenied):
        disputes.open_dispute(scene.project.id, actor=qc.expert.user, reason="x")
    uow.rollback()
    stranger = f.company_user(f.company())
    uow.commit()
    with pytest.raises(NotFound):
        disputes.open_dispute(scene.project.id, actor=stranger, reason="x")
    uow.rollback()
    with pytest.raises(NotFound):
        disputes.open_dispute(999999, actor=scene.owner, reason="x")
    uow.rollback()
    assert count(Dispute) == 0 and reload(scene.project).status is ProjectStatus.ACTIVE


@pytest.mark.parametrize("reason, message", [("   ", "Explain what the dispute is about"),
                                             ("x" * 5001, "under 5000 characters")])
def test_a_reason_is_required_and_bounded(scene, reason, message):
    with pytest.raises(ValidationFailed, match=message):
        disputes.open_dispute(scene.project.id, actor=scene.owner, reason=reason)
    uow.rollback()
    assert count(Dispute) == 0 and reload(scene.project).status is ProjectStatus.ACTIVE


def test_a_delivery_of_another_project_is_not_found(f, scene):
    other = make_scene(f)
    delivery = add_delivery(other.project, other.expert)
    with pytest.raises(NotFound, match="delivery"):
        disputes.open_dispute(scene.project.id, actor=scene.owner, reason="x", delivery_id=delivery.id)
    uow.rollback()
    assert count(Dispute) == 0


def test_the_company_neither_sees_nor_disputes_a_delivery_the_hub_has_not_forwarded(scene):
    forwarded = add_delivery(scene.project, scene.expert, number=1)
    waiting = add_delivery(scene.project, scene.expert, number=2, status=DeliveryStatus.SUBMITTED)
    assert [d.id for d in disputes.disputes_page(scene.project.id, actor=scene.owner).deliveries] == [forwarded.id]
    assert [d.id for d in disputes.disputes_page(scene.project.id, actor=scene.expert).deliveries] == \
        [waiting.id, forwarded.id]
    with pytest.raises(NotFound, match="delivery"):
        disputes.open_dispute(scene.project.id, actor=scene.owner, reason="x", delivery_id=waiting.id)
    uow.rollback()
    assert count(Dispute) == 0
    assert open_one(scene, by=scene.expert, delivery_id=waiting.id).delivery_id == waiting.id


def test_only_one_dispute_is_open_at_a_time(scene):
    open_one(scene)
    for who in (scene.colleague, scene.expert):
        with pytest.raises(InvalidTransition, match="already open"):
            disputes.open_dispute(scene.project.id, actor=who, reason="Me too")
        uow.rollback()
    assert count(Dispute) == 1
    assert disputes.why_not_disputable(reload(scene.project), scene.expert) is not None


def test_an_accepted_project_can_be_disputed_until_its_funds_are_released(f, scene):
    accept(scene.project, scene.owner)
    dispute = open_one(scene, by=scene.expert, reason="The company accepted but the invoice is wrong.")
    assert reload(scene.project).status is ProjectStatus.DISPUTED and reload(dispute).status is DisputeStatus.OPEN

    other = make_scene(f)
    accept(other.project, other.owner)
    release.release_escrow(other.project.id, actor=None)
    uow.commit()
    assert reload(other.project).status is ProjectStatus.COMPLETED
    with pytest.raises(InvalidTransition, match="already released"):
        disputes.open_dispute(other.project.id, actor=other.owner, reason="Too late")
    uow.rollback()
    assert count(Dispute, Dispute.project_id == other.project.id) == 0


def test_an_open_dispute_freezes_the_release(scene):
    accept(scene.project, scene.owner)
    assert not disputes.release_frozen(reload(scene.project))
    dispute = open_one(scene)
    assert disputes.release_frozen(reload(scene.project))
    with pytest.raises(ReleaseRefused, match="dispute"):
        release.release_escrow(scene.project.id, actor=None)
    uow.rollback()
    assert escrow_of(scene.project) == HELD and count(LedgerTransaction) == 1  # the funding only
    decide(scene, dispute, DisputeDecision.RELEASE)
    assert not disputes.release_frozen(reload(scene.project))
    assert_ledger_sound()


# Deciding ------------------------------------------------------------------------------------------


def _entries(dispute: Dispute) -> dict[str, tuple[str, int]]:
    txn = disputes.decision_transaction(dispute)
    assert txn is not None
    return {f"{e.account.kind.value}:{e.account.reference}": (e.side.value, e.amount_minor) for e in txn.entries}


def test_release_pays_the_expert_price_and_the_hub_fee_in_one_transaction(scene):
    dispute = open_one(scene)
    decide(scene, dispute, DisputeDecision.RELEASE, reason="The delivery matches the offer.")

    project, dispute = reload(scene.project), reload(dispute)
    contract = project.contract
    assert dispute.status is DisputeStatus.DECIDED and dispute.decision is DisputeDecision.RELEASE
    assert (dispute.released_minor, dispute.refunded_minor) == (HELD, 0)
    assert dispute.decided_by_id == scene.hub.id and dispute.decided_at is not None
    assert dispute.decision_reason == "The delivery matches the offer."
    assert project.status is ProjectStatus.COMPLETED and project.released_at and project.closed_at
    txn = disputes.decision_transaction(dispute)
    assert txn is not None and txn.kind == "escrow.released.split" and txn.idempotency_key == f"dispute:{dispute.id}"
    assert _entries(dispute) == {
        f"escrow:{contract.id}": ("debit", HELD),
        f"expert_payable:{contract.expert_id}": ("credit", EXPERT_PRICE),
        "hub_revenue:None": ("credit", FEE),
    }
    assert escrow_of(project) == 0
    [payout] = db.session.scalars(sa.select(Payout).where(Payout.project_id == project.id)).all()
    assert (payout.role, payout.amount_minor) == (PayoutRole.EXPERT, EXPERT_PRICE)
    assert count(Refund) == 0
    assert contract.status is ContractStatus.FUNDED
    [company_note] = notes(scene.owner, "dispute.decided")
    assert company_note.params["decision"] == "the held funds (€4,600.00) are released to the expert"
    assert company_note.params["reason"] == "The delivery matches the offer."
    [expert_note] = notes(scene.expert, "dispute.decided")
    assert "€4,000.00" in expert_note.params["decision"] and "4,600" not in expert_note.params["decision"]
    assert system_keys(project)[-1] == "dispute_decided"
    assert actions("disputes", dispute.id) == ["dispute.open", "dispute.decided"]
    assert_ledger_sound()


def test_refund_gives_everything_back_and_cancels_the_project(scene):
    dispute = open_one(scene)
    decide(scene, dispute, DisputeDecision.REFUND, reason="Nothing usable was delivered.")

    project, dispute = reload(scene.project), reload(dispute)
    assert project.status is ProjectStatus.CANCELLED and project.released_at is None and project.closed_at
    assert (dispute.released_minor, dispute.refunded_minor) == (0, HELD)
    txn = disputes.decision_transaction(dispute)
    assert txn is not None and txn.kind == "escrow.refunded"
    assert _entries(dispute) == {f"escrow:{project.contract_id}": ("debit", HELD),
                                 f"company_refunds:{project.company_id}": ("credit", HELD)}
    assert escrow_of(project) == 0 and balance(LedgerAccountKind.COMPANY_REFUNDS, project.company_id) == HELD
    assert count(Payout) == 0
    [refund] = db.session.scalars(sa.select(Refund)).all()
    assert refund.idempotency_key == f"refund-dispute-{dispute.id}" and refund.amount_minor == HELD
    assert refund.status is RefundStatus.PENDING and refund.reason == "Nothing usable was delivered."
    [expert_note] = notes(scene.expert, "dispute.decided")
    assert "refunded to the company" in expert_note.params["decision"]
    [company_note] = notes(scene.owner, "dispute.decided")
    assert "€4,600.00" in company_note.params["decision"]
    assert_ledger_sound()


@pytest.mark.parametrize("off, word", [(1, "€0.01 too much"), (-1, "€0.01 too little")])
def test_a_split_off_by_one_cent_is_refused_with_the_held_amount_and_the_difference(scene, off, word):
    dispute = open_one(scene)
    with pytest.raises(ValidationFailed) as caught:
        disputes.decide_dispute(dispute.id, actor=scene.hub, decision=DisputeDecision.SPLIT, reason="Half done",
                                release=ReleaseParts(expert_minor=200000, qc_minor=0, hub_minor=30000),
                                refund_minor=230000 + off)
    uow.rollback()
    assert "€4,600.00 held" in caught.value.message and word in caught.value.message
    assert reload(dispute).status is DisputeStatus.OPEN and reload(scene.project).status is ProjectStatus.DISPUTED
    assert escrow_of(scene.project) == HELD and count(Refund) == 0 and count(Payout) == 0
    assert_ledger_sound()


def test_an_exact_split_releases_and_refunds_in_one_transaction(scene):
    dispute = open_one(scene)
    decide(scene, dispute, DisputeDecision.SPLIT, reason="Half the work is usable.",
           release=ReleaseParts(expert_minor=200000, qc_minor=0, hub_minor=30000), refund_minor=230000)

    project, dispute = reload(scene.project), reload(dispute)
    contract = project.contract
    assert project.status is ProjectStatus.COMPLETED
    assert (dispute.released_minor, dispute.refunded_minor) == (230000, 230000)
    [txn] = db.session.scalars(sa.select(LedgerTransaction).where(
        LedgerTransaction.idempotency_key == f"dispute:{dispute.id}")).all()
    assert txn.kind == "escrow.released.split"
    assert _entries(dispute) == {
        f"escrow:{contract.id}": ("debit", HELD),
        f"expert_payable:{contract.expert_id}": ("credit", 200000),
        "hub_revenue:None": ("credit", 30000),
        f"company_refunds:{contract.company_id}": ("credit", 230000),
    }
    assert escrow_of(project) == 0
    assert [(p.role, p.amount_minor) for p in db.session.scalars(sa.select(Payout))] == [(PayoutRole.EXPERT, 200000)]
    [refund] = db.session.scalars(sa.select(Refund)).all()
    assert refund.amount_minor == 230000
    [company_note] = notes(scene.owner, "dispute.decided")
    assert "€2,300.00 is refunded" in company_note.params["decision"]
    [expert_note] = notes(scene.expert, "dispute.decided")
    assert "€2,000.00" in expert_note.params["decision"] and "2,300" not in expert_note.params["decision"]
    assert_ledger_sound()


def test_a_split_may_pay_the_active_qc_expert_but_not_a_missing_one(scene):
    dispute = open_one(scene)
    with pytest.raises(ValidationFailed, match="quality-control"):
        disputes.decide_dispute(dispute.id, actor=scene.hub, decision=DisputeDecision.SPLIT, reason="QC helped",
                                release=ReleaseParts(expert_minor=300000, qc_minor=20000, hub_minor=40000),
                                refund_minor=100000)
    uow.rollback()
    qc = add_qc(scene.project, fee=30000)
    decide(scene, dispute, DisputeDecision.SPLIT, reason="QC helped",
           release=ReleaseParts(expert_minor=300000, qc_minor=20000, hub_minor=40000), refund_minor=100000)
    assert _entries(reload(dispute))[f"qc_payable:{qc.expert_id}"] == ("credit", 20000)
    payouts = {p.role: p.amount_minor for p in db.session.scalars(sa.select(Payout))}
    assert payouts == {PayoutRole.EXPERT: 300000, PayoutRole.QC: 20000}
    assert escrow_of(scene.project) == 0
    assert_ledger_sound()


def test_release_with_an_active_qc_takes_the_qc_fee_from_the_hub_fee(scene):
    qc = add_qc(scene.project, fee=25000)
    dispute = open_one(scene)
    decide(scene, dispute, DisputeDecision.RELEASE)
    entries = _entries(reload(dispute))
    assert entries[f"qc_payable:{qc.expert_id}"] == ("credit", 25000)
    assert entries["hub_revenue:None"] == ("credit", FEE - 25000)
    assert escrow_of(scene.project) == 0
    assert_ledger_sound()


def test_only_the_hub_decides_once_with_a_reason(f, scene):
    dispute = open_one(scene)
    for member in (scene.owner, scene.expert):
        with pytest.raises(PermissionDenied):
            disputes.decide_dispute(dispute.id, actor=member, decision=DisputeDecision.REFUND, reason="Mine")
        uow.rollback()
    stranger = f.company_user(f.company())
    uow.commit()
    with pytest.raises(NotFound):
        disputes.decide_dispute(dispute.id, actor=stranger, decision=DisputeDecision.REFUND, reason="x")
    uow.rollback()
    with pytest.raises(NotFound):
        disputes.decide_dispute(999999, actor=scene.hub, decision=DisputeDecision.REFUND, reason="x")
    uow.rollback()
    with pytest.raises(ValidationFailed, match="reason"):
        disputes.decide_dispute(dispute.id, actor=scene.hub, decision=DisputeDecision.REFUND, reason=" ")
    uow.rollback()
    with pytest.raises(ValidationFailed, match="split needs"):
        disputes.decide_dispute(dispute.id, actor=scene.hub, decision=DisputeDecision.SPLIT, reason="x")
    uow.rollback()
    assert reload(dispute).status is DisputeStatus.OPEN and escrow_of(scene.project) == HELD

    other_admin = f.admin(totp_enabled_at=utcnow())  # any hub admin decides, not only the manager
    uow.commit()
    decide(scene, dispute, DisputeDecision.REFUND, actor=other_admin)
    with pytest.raises(InvalidTransition, match="already decided"):
        disputes.decide_dispute(dispute.id, actor=scene.hub, decision=DisputeDecision.RELEASE, reason="Again")
    uow.rollback()
    assert count(LedgerTransaction, LedgerTransaction.idempotency_key == f"dispute:{dispute.id}") == 1
    assert count(Refund) == 1 and escrow_of(scene.project) == 0
    with pytest.raises(InvalidTransition):  # a closed project is not disputed again
        disputes.open_dispute(scene.project.id, actor=scene.owner, reason="Once more")
    uow.rollback()
    assert_ledger_sound()


# Cancelling -----------------------------------------------------------------------------------------


def test_cancelling_before_work_refunds_everything_and_keeps_the_contract_funded(scene):
    disputes.cancel_project(scene.project.id, actor=scene.hub, reason="The company's plant closed.")
    uow.commit()

    project = reload(scene.project)
    assert project.status is ProjectStatus.CANCELLED and project.closed_at is not None
    assert project.status_note == "The company's plant closed."
    assert project.contract.status is ContractStatus.FUNDED
    [txn] = db.session.scalars(sa.select(LedgerTransaction).where(
        LedgerTransaction.idempotency_key == f"cancel:{project.contract_id}")).all()
    assert txn.kind == "escrow.refunded.cancel"
    assert escrow_of(project) == 0 and balance(LedgerAccountKind.COMPANY_REFUNDS, project.company_id) == HELD
    [refund] = db.session.scalars(sa.select(Refund)).all()
    assert refund.idempotency_key == f"refund-cancel-{project.contract_id}" and refund.amount_minor == HELD
    for user in (scene.owner, scene.colleague, scene.expert):
        [note] = notes(user, "project.cancelled")
        assert note.params == {"project": projects.project_label(project), "reason": "The company's plant closed."}
    assert notes(scene.hub, "project.cancelled") == []
    assert system_keys(project)[-1] == "project_cancelled"
    assert actions("projects", project.id)[-1] == "project.cancelled"
    assert_ledger_sound()


def _start_work(kind: str, s: Scene) -> None:
    milestone = db.session.scalars(sa.select(ProjectMilestone).where(
        ProjectMilestone.project_id == s.project.id).order_by(ProjectMilestone.position)).first()
    assert milestone is not None
    if kind == "delivery":
        add_delivery(s.project, s.expert, status=DeliveryStatus.SUBMITTED)
    elif kind == "progress":
        db.session.add(ProgressUpdate(project_id=s.project.id, milestone_id=milestone.id, author_id=s.expert.id,
                                      percent=10, text="Started the trials"))
    else:
        from app.workflows.projects import MILESTONE_WORKFLOW

        transition(milestone, MILESTONE_WORKFLOW, MilestoneStatus.IN_PROGRESS, actor=s.expert)
    uow.commit()


@pytest.mark.parametrize("work, message", [("delivery", "submitted a delivery"), ("progress", "posted progress"),
                                           ("milestone", "milestone has started")])
def test_once_work_has_started_the_project_cannot_be_cancelled(scene, work, message):
    _start_work(work, scene)
    assert db.session.scalars(disputes.projects_without_work()).all() == []
    with pytest.raises(ValidationFailed, match=message):
        disputes.cancel_project(scene.project.id, actor=scene.hub, reason="Changed our mind")
    uow.rollback()
    assert reload(scene.project).status is ProjectStatus.ACTIVE and escrow_of(scene.project) == HELD
    assert count(Refund) == 0
    assert_ledger_sound()


def test_only_the_hub_cancels_an_active_project_with_a_reason(scene):
    for member in (scene.owner, scene.expert):
        with pytest.raises(PermissionDenied):
            disputes.cancel_project(scene.project.id, actor=member, reason="We want out")
        uow.rollback()
    with pytest.raises(ValidationFailed, match="reason"):
        disputes.cancel_project(scene.project.id, actor=scene.hub, reason="")
    uow.rollback()
    open_one(scene)
    with pytest.raises(InvalidTransition, match="Only an active project"):
        disputes.cancel_project(scene.project.id, actor=scene.hub, reason="Disputed already")
    uow.rollback()
    assert count(Refund) == 0 and escrow_of(scene.project) == HELD


def test_projects_without_work_lists_only_untouched_active_projects(f, scene):
    busy = make_scene(f)
    _start_work("progress", busy)
    closed = make_scene(f)
    disputes.cancel_project(closed.project.id, actor=closed.hub, reason="Closed")
    uow.commit()
    assert [p.id for p in db.session.scalars(disputes.projects_without_work())] == [scene.project.id]
    assert disputes.cancel_blockers(reload(scene.project)) == []
    assert disputes.cancel_blockers(reload(closed.project)) == ["The project is not active."]


# The members' page ----------------------------------------------------------------------------------


def test_the_page_data_per_side(scene):
    page = disputes.disputes_page(scene.project.id, actor=scene.owner)
    assert page.can_open and page.disputes == [] and page.refunds == []
    assert not disputes.disputes_page(scene.project.id, actor=scene.hub).can_open
    dispute = open_one(scene, by=scene.expert)
    company = disputes.disputes_page(scene.project.id, actor=scene.owner)
    assert not company.can_open and company.open is not None and company.open.dispute.id == dispute.id
    assert company.open.opened_by == f"Expert {scene.project.contract.expert.pseudonym}"
    decide(scene, dispute, DisputeDecision.SPLIT, release=ReleaseParts(expert_minor=100000, qc_minor=0,
                                                                       hub_minor=20000), refund_minor=340000)
    company = disputes.disputes_page(scene.project.id, actor=scene.owner)
    assert [r.amount_minor for r in company.refunds] == [340000]
    expert = disputes.disputes_page(scene.project.id, actor=scene.expert)
    assert expert.refunds == [] and expert.disputes[0].paid_to_me_minor == 100000 and expert.disputes[0].mine
    with pytest.raises(NotFound):
        disputes.disputes_page(999999, actor=scene.owner)
