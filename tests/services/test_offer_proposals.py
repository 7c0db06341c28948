"""Revised versions the hub proposes on the expert's behalf (WORKFLOW.md §5): proposing, the expert's
confirmation (a new version by the expert, IN_NEGOTIATION -> REVISED) or refusal, and every refusal
with nothing changed."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from app.exceptions import InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from app.extensions import db
from app.models import AuditEvent, JobStatus, Notification, Offer, OfferProposal, OfferStatus, OfferVersion
from app.services import negotiations, offers, uow
from app.services.jobs import FieldErrors
from app.services.offers import CURRENT_CLAUSES, MilestoneInput, OfferInput

O = OfferStatus  # noqa: E741


def kinds(user: Any) -> list[str]:
    return list(db.session.scalars(sa.select(Notification.kind).where(Notification.user_id == user.id)
                                   .order_by(Notification.id)))


def actions(entity: str, entity_id: int) -> list[str]:
    return list(db.session.scalars(
        sa.select(AuditEvent.action).where(AuditEvent.entity == entity, AuditEvent.entity_id == entity_id)
        .order_by(AuditEvent.id)
    ))


def count(model: Any) -> int:
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def snapshot(offer: Offer) -> tuple[Any, ...]:
    db.session.expire_all()
    fresh = db.session.get(Offer, offer.id)
    return (fresh.status, fresh.current_version_id, count(OfferVersion), count(OfferProposal), count(AuditEvent),
            count(Notification))


@pytest.fixture
def w(f: Any) -> dict[str, Any]:
    """An offer of €4,200.00 in negotiation (version 1, two milestones), its expert, an admin, another expert."""
    company = f.company()
    owner = f.company_user(company)
    job = f.job(company, status=JobStatus.PUBLISHED, created_by=owner)
    expert = f.expert()
    offer = f.offer(job, expert, status=O.IN_NEGOTIATION, milestones=(("Trial", 40), ("Report", 60)))
    f.forward(offer)
    admin = f.admin()
    other = f.expert()
    uow.commit()
    return {"owner": owner, "job": job, "expert": expert, "offer": offer, "admin": admin, "other": other}


def proposal_input(offer: Offer, **changes: Any) -> OfferInput:
    v = offer.current_version
    assert v is not None
    data = OfferInput(
        solution=v.solution,
        price_minor=390_000,
        start_date=v.start_date - timedelta(days=7),
        end_date=v.end_date,
        deliverables=list(v.deliverables),
        milestones=[MilestoneInput(m.title, m.due_date, m.share_percent) for m in v.milestones],
    )
    return replace(data, **changes)


def propose(w: dict[str, Any], note: str = "The company asks to start a week earlier, for €3,900.") -> OfferProposal:
    return negotiations.propose_revision(w["offer"].id, actor=w["admin"], data=proposal_input(w["offer"]), note=note)


def test_the_hub_proposes_without_changing_the_offer(w: dict[str, Any]) -> None:
    offer = w["offer"]
    before_version = offer.current_version_id
    proposal = propose(w)
    db.session.expire_all()
    fresh = db.session.get(Offer, offer.id)
    assert fresh.status is O.IN_NEGOTIATION and fresh.current_version_id == before_version
    assert count(OfferVersion) == 1
    assert proposal.is_open and proposal.based_on_version_id == before_version
    assert (proposal.price_minor, proposal.currency, proposal.proposed_by_id) == (390_000, "EUR", w["admin"].id)
    assert [m["share_percent"] for m in proposal.milestones] == [40, 60]
    assert proposal.milestone_rows[0][1] == offer.current_version.milestones[0].due_date
    assert actions("offer_proposals", proposal.id) == ["offer_proposal.proposed"]
    assert kinds(w["expert"].user) == ["offer.revision_proposed"]
    note = db.session.scalars(sa.select(Notification).where(Notification.user_id == w["expert"].user_id)).one()
    assert set(note.params) == {"job", "note"}  # never the client price, the fee or the company's name
    assert w["job"].company.name not in str(note.params)
    assert negotiations.proposal_changes(offer.current_version, proposal) == ["price", "start date"]


def test_confirming_makes_a_version_by_the_expert(w: dict[str, Any]) -> None:
    offer, expert_user = w["offer"], w["expert"].user
    proposal = propose(w)
    version = negotiations.confirm_proposal(proposal.id, actor=expert_user, accept_clauses=True,
                                            clauses_version=CURRENT_CLAUSES.version)
    db.session.expire_all()
    fresh = db.session.get(Offer, offer.id)
    assert fresh.status is O.REVISED and fresh.current_version_id == version.id
    assert (version.number, version.created_by_id, version.price_minor) == (2, expert_user.id, 390_000)
    assert version.terms_version == CURRENT_CLAUSES.version
    assert version.change_note == "Proposed by the hub: The company asks to start a week earlier, for €3,900."
    assert [(m.title, m.share_percent) for m in version.milestones] == [("Trial", 40), ("Report", 60)]
    proposal = db.session.get(OfferProposal, proposal.id)
    assert (proposal.decision, proposal.resulting_version_id) == ("confirmed", version.id)
    assert proposal.decided_at is not None
    assert actions("offer_proposals", proposal.id) == ["offer_proposal.proposed", "offer_proposal.confirmed"]
    assert "offer.revised" in actions("offers", offer.id)
    assert kinds(w["admin"]) == ["offer.proposal_confirmed"]
    # The hub can now forward the confirmed version.
    negotiations.forward_offer(offer.id, actor=w["admin"])
    assert db.session.get(Offer, offer.id).status is O.FORWARDED


def test_refusing_keeps_the_offer_in_negotiation(w: dict[str, Any]) -> None:
    proposal = propose(w)
    negotiations.refuse_proposal(proposal.id, actor=w["expert"].user, reason="Too early for me.")
    db.session.expire_all()
    fresh = db.session.get(Offer, w["offer"].id)
    assert fresh.status is O.IN_NEGOTIATION and count(OfferVersion) == 1
    proposal = db.session.get(OfferProposal, proposal.id)
    assert (proposal.decision, proposal.decided_note, proposal.resulting_version_id) == (
        "refused", "Too early for me.", None)
    assert actions("offer_proposals", proposal.id)[-1] == "offer_proposal.refused"
    assert kinds(w["admin"]) == ["offer.proposal_refused"]
    # Refused: the hub may propose again.
    assert propose(w, note="Second try").is_open


def test_the_experts_own_version_supersedes_an_open_proposal(w: dict[str, Any]) -> None:
    proposal = propose(w)
    offers.revise_offer(w["offer"].id, actor=w["expert"].user,
                        data=replace(proposal_input(w["offer"], price_minor=400_000), accept_clauses=True,
                                     change_note="My own counter"))
    proposal = db.session.get(OfferProposal, proposal.id)
    assert proposal.decision == "refused" and "version 2" in proposal.decided_note


def test_only_staff_propose(w: dict[str, Any]) -> None:
    before = snapshot(w["offer"])
    with pytest.raises(PermissionDenied):
        negotiations.propose_revision(w["offer"].id, actor=w["expert"].user, data=proposal_input(w["offer"]),
                                      note="x")
    with pytest.raises(PermissionDenied):  # the company sees the offer in negotiation, but does not propose
        negotiations.propose_revision(w["offer"].id, actor=w["owner"], data=proposal_input(w["offer"]), note="x")
    with pytest.raises(NotFound):
        negotiations.propose_revision(w["offer"].id, actor=w["other"].user, data=proposal_input(w["offer"]),
                                      note="x")
    uow.rollback()
    assert snapshot(w["offer"]) == before


@pytest.mark.parametrize("status", [O.SUBMITTED, O.FORWARDED, O.REVISED, O.WITHDRAWN])
def test_proposing_needs_an_offer_in_negotiation(f: Any, w: dict[str, Any], status: OfferStatus) -> None:
    offer = f.offer(w["job"], f.expert(), status=status)
    uow.commit()
    before = snapshot(offer)
    with pytest.raises(InvalidTransition):
        negotiations.propose_revision(offer.id, actor=w["admin"], data=proposal_input(offer), note="x")
    uow.rollback()
    assert snapshot(offer) == before


def test_a_second_open_proposal_is_refused(w: dict[str, Any]) -> None:
    propose(w)
    before = snapshot(w["offer"])
    with pytest.raises(InvalidTransition, match="already waits"):
        propose(w, note="Another one")
    uow.rollback()
    assert snapshot(w["offer"]) == before


def test_bad_data_is_refused_field_by_field(w: dict[str, Any]) -> None:
    before = snapshot(w["offer"])
    bad = proposal_input(w["offer"], price_minor=0, milestones=[MilestoneInput("Only", None, 50)], deliverables=[])
    with pytest.raises(FieldErrors) as exc:
        negotiations.propose_revision(w["offer"].id, actor=w["admin"], data=bad, note="  ")
    assert set(exc.value.errors) == {"price_minor", "deliverables", "milestones", "note"}
    uow.rollback()
    assert snapshot(w["offer"]) == before


def test_another_expert_cannot_see_the_proposal(w: dict[str, Any]) -> None:
    proposal = propose(w)
    before = snapshot(w["offer"])
    with pytest.raises(NotFound):
        negotiations.confirm_proposal(proposal.id, actor=w["other"].user, accept_clauses=True,
                                      clauses_version=CURRENT_CLAUSES.version)
    with pytest.raises(NotFound):
        negotiations.refuse_proposal(proposal.id, actor=w["owner"], reason="no")
    with pytest.raises(NotFound):
        negotiations.confirm_proposal(999_999, actor=w["expert"].user, accept_clauses=True,
                                      clauses_version=CURRENT_CLAUSES.version)
    with pytest.raises(PermissionDenied):  # the hub cannot confirm on the expert's behalf
        negotiations.confirm_proposal(proposal.id, actor=w["admin"], accept_clauses=True,
                                      clauses_version=CURRENT_CLAUSES.version)
    uow.rollback()
    assert snapshot(w["offer"]) == before


def test_confirming_twice_is_refused(w: dict[str, Any]) -> None:
    proposal = propose(w)
    negotiations.confirm_proposal(proposal.id, actor=w["expert"].user, accept_clauses=True,
                                  clauses_version=CURRENT_CLAUSES.version)
    before = snapshot(w["offer"])
    with pytest.raises(InvalidTransition, match="already confirmed"):
        negotiations.confirm_proposal(proposal.id, actor=w["expert"].user, accept_clauses=True,
                                      clauses_version=CURRENT_CLAUSES.version)
    with pytest.raises(InvalidTransition):
        negotiations.refuse_proposal(proposal.id, actor=w["expert"].user, reason="changed my mind")
    uow.rollback()
    assert snapshot(w["offer"]) == before


def test_the_clauses_must_be_accepted(w: dict[str, Any]) -> None:
    proposal = propose(w)
    before = snapshot(w["offer"])
    with pytest.raises(FieldErrors) as exc:
        negotiations.confirm_proposal(proposal.id, actor=w["expert"].user, accept_clauses=False,
                                      clauses_version=CURRENT_CLAUSES.version)
    assert set(exc.value.errors) == {"accept_clauses"}
    with pytest.raises(FieldErrors):
        negotiations.confirm_proposal(proposal.id, actor=w["expert"].user, accept_clauses=True,
                                      clauses_version="1999-01")
    uow.rollback()
    assert snapshot(w["offer"]) == before
    assert db.session.get(OfferProposal, proposal.id).is_open


def test_refusing_needs_a_reason(w: dict[str, Any]) -> None:
    proposal = propose(w)
    before = snapshot(w["offer"])
    with pytest.raises(ValidationFailed):
        negotiations.refuse_proposal(proposal.id, actor=w["expert"].user, reason="   ")
    uow.rollback()
    assert snapshot(w["offer"]) == before


def test_confirming_after_the_offer_left_negotiation_is_refused(w: dict[str, Any]) -> None:
    proposal = propose(w)
    offers.withdraw_offer(w["offer"].id, actor=w["expert"].user)
    before = snapshot(w["offer"])
    with pytest.raises(InvalidTransition):
        negotiations.confirm_proposal(proposal.id, actor=w["expert"].user, accept_clauses=True,
                                      clauses_version=CURRENT_CLAUSES.version)
    uow.rollback()
    assert snapshot(w["offer"]) == before
