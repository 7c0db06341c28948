"""Offer services: submitting, revising (new immutable versions), withdrawing, declining
invitations, every refusal, the audit events and the staff notifications, and the queries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from app.exceptions import InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from app.extensions import db
from app.models import (
    AuditEvent,
    ImmutableRowError,
    InvitationKind,
    InvitationStatus,
    JobConfidentialityAcceptance,
    JobStatus,
    Notification,
    Offer,
    OfferMilestone,
    OfferStatus,
    OfferVersion,
    VerificationStatus,
)
from app.services import offers
from app.services.jobs import FieldErrors
from app.services.offers import MilestoneInput, OfferInput

O = OfferStatus  # noqa: E741
TODAY = datetime.now(UTC).date()
START = TODAY + timedelta(days=5)
END = START + timedelta(days=30)


def draft(**overrides: Any) -> OfferInput:
    """A valid offer input; override any field."""
    values: dict[str, Any] = {
        "solution": "DOE on holding pressure and mould temperature.",
        "price_minor": 450_050,
        "start_date": START,
        "end_date": END,
        "deliverables": ["Root-cause report", "Validated process window"],
        "milestones": [],
        "accept_clauses": True,
        "clauses_version": offers.CURRENT_CLAUSES.version,
    }
    values.update(overrides)
    return OfferInput(**values)


def accept_terms(job: Any, expert: Any) -> None:
    db.session.add(JobConfidentialityAcceptance(job_id=job.id, expert_id=expert.id, terms_version="2025-01"))
    db.session.flush()


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


@pytest.fixture
def world(f: Any) -> dict[str, Any]:
    """A published public job whose terms the expert accepted, a second expert, an admin."""
    job = f.job(status=JobStatus.PUBLISHED)
    expert = f.expert()
    accept_terms(job, expert)
    admin = f.admin()
    other = f.expert()
    db.session.commit()
    return {"job": job, "expert": expert, "actor": expert.user, "admin": admin, "other": other}


# submit_offer ---------------------------------------------------------------------------------------


def test_submit_offer_creates_version_one_audits_and_notifies_staff(world: dict[str, Any]) -> None:
    data = draft(milestones=[MilestoneInput("DOE plan", START + timedelta(days=5), 30),
                             MilestoneInput(" Final report ", END, 70)])
    offer = offers.submit_offer(world["job"].id, actor=world["actor"], data=data)

    assert offer.status is O.SUBMITTED
    assert offer.expert_id == world["expert"].id
    version = offer.current_version
    assert version is not None and version.number == 1
    assert version.price_minor == 450_050 and version.currency == "EUR"
    assert version.deliverables == ["Root-cause report", "Validated process window"]
    assert [(m.position, m.title, m.share_percent) for m in version.milestones] == [
        (1, "DOE plan", 30), (2, "Final report", 70)]
    assert version.terms_version == offers.CURRENT_CLAUSES.version
    assert version.terms_accepted_at is not None
    assert actions("offers", offer.id) == ["offer.submitted"]
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "offer.submitted"))
    assert event is not None and event.data["price_minor"] == 450_050 and event.data["version"] == 1
    assert kinds(world["admin"]) == ["offer.submitted"]
    note = db.session.scalar(sa.select(Notification).where(Notification.user_id == world["admin"].id))
    assert note is not None and note.link == f"/admin/offers/{offer.id}"


def test_submit_offer_strips_blank_deliverables_and_blank_milestone_rows(world: dict[str, Any]) -> None:
    data = draft(deliverables=["  Report  ", "", "   "], milestones=[MilestoneInput("", None, None)] * 3)
    offer = offers.submit_offer(world["job"].id, actor=world["actor"], data=data)
    assert offer.current_version is not None
    assert offer.current_version.deliverables == ["Report"]
    assert offer.current_version.milestones == []


@pytest.mark.parametrize(("overrides", "field", "message"), [
    ({"price_minor": 0}, "price_minor", "greater than zero"),
    ({"price_minor": None}, "price_minor", "Enter your price"),
    ({"price_minor": 10**12 + 1}, "price_minor", "too large"),
    ({"solution": "   "}, "solution", "Describe the technical solution"),
    ({"solution": "x" * (offers.MAX_SOLUTION + 1)}, "solution", "under 20,000 characters"),
    ({"start_date": TODAY - timedelta(days=1)}, "start_date", "cannot be in the past"),
    ({"start_date": None}, "start_date", "Enter the start date"),
    ({"end_date": START - timedelta(days=1)}, "end_date", "on or after the start date"),
    ({"end_date": None}, "end_date", "Enter the end date"),
    ({"deliverables": [" "]}, "deliverables", "at least one deliverable"),
    ({"deliverables": ["d"] * (offers.MAX_DELIVERABLES + 1)}, "deliverables", "At most 30"),
    ({"deliverables": ["x" * 501]}, "deliverables", "under 500 characters"),
    ({"milestones": [MilestoneInput("A", START, 40), MilestoneInput("B", END, 50)]}, "milestones",
     "the shares add up to 90 %, not 100 %"),
    ({"milestones": [MilestoneInput("A", END + timedelta(days=1), 100)]}, "milestones",
     "milestone 1 must be due between the start and the end date"),
    ({"milestones": [MilestoneInput("", START, 100)]}, "milestones", "milestone 1 needs a title"),
    ({"milestones": [MilestoneInput("A", None, 100)]}, "milestones", "milestone 1 needs a due date"),
    ({"milestones": [MilestoneInput("A", START, 0), MilestoneInput("B", END, 100)]}, "milestones",
     "milestone 1 needs a share between 1 and 100 %"),
    ({"milestones": [MilestoneInput(f"M{n}", START, 5) for n in range(21)]}, "milestones", "At most 20"),
    ({"accept_clauses": False}, "accept_clauses", "Accept the confidentiality"),
    ({"clauses_version": "2001-01"}, "accept_clauses", "The clauses have changed"),
])
def test_submit_offer_refuses_bad_input_naming_the_field(world: dict[str, Any], overrides: dict[str, Any],
                                                         field: str, message: str) -> None:
    with pytest.raises(FieldErrors) as caught:
        offers.submit_offer(world["job"].id, actor=world["actor"], data=draft(**overrides))
    assert message in caught.value.errors[field]
    db.session.rollback()
    assert count(Offer) == 0 and count(OfferVersion) == 0
    assert kinds(world["admin"]) == []


def test_submit_offer_reports_every_bad_field_at_once(world: dict[str, Any]) -> None:
    with pytest.raises(FieldErrors) as caught:
        offers.submit_offer(world["job"].id, actor=world["actor"],
                            data=OfferInput(price_minor=0, start_date=START, end_date=START - timedelta(days=1)))
    assert set(caught.value.errors) == {"solution", "price_minor", "end_date", "deliverables", "accept_clauses"}


def test_submit_offer_on_a_job_the_expert_cannot_see_is_not_found(world: dict[str, Any], f: Any) -> None:
    private = f.job(status=JobStatus.PUBLISHED, visibility="private")
    accept_terms(private, world["expert"])
    db.session.commit()
    with pytest.raises(NotFound):
        offers.submit_offer(private.id, actor=world["actor"], data=draft())
    with pytest.raises(NotFound):
        offers.submit_offer(999_999, actor=world["actor"], data=draft())
    assert count(Offer) == 0


def test_submit_offer_on_a_private_job_the_expert_is_invited_to(world: dict[str, Any], f: Any) -> None:
    private = f.job(status=JobStatus.PUBLISHED, visibility="private")
    f.job_invitation(private, world["expert"])
    accept_terms(private, world["expert"])
    db.session.commit()
    offer = offers.submit_offer(private.id, actor=world["actor"], data=draft())
    assert offer.job_id == private.id and offer.status is O.SUBMITTED


@pytest.mark.parametrize("status", [JobStatus.CLOSED, JobStatus.CANCELLED, JobStatus.AWARDED])
def test_submit_offer_on_a_closed_job_is_refused(world: dict[str, Any], status: JobStatus) -> None:
    world["job"].status = status  # test set-up: closing is covered by the job service tests
    db.session.commit()
    assert offers.offer_refusal(world["job"], world["actor"]) != ""
    with pytest.raises(NotFound):  # a closed job is no longer visible to experts
        offers.submit_offer(world["job"].id, actor=world["actor"], data=draft())
    assert count(Offer) == 0


def test_submit_offer_without_accepted_terms_is_refused(world: dict[str, Any], f: Any) -> None:
    fresh = f.expert()
    db.session.commit()
    assert offers.offer_refusal(world["job"], fresh.user) == "Accept the job's confidentiality terms first."
    with pytest.raises(PermissionDenied, match="confidentiality terms"):
        offers.submit_offer(world["job"].id, actor=fresh.user, data=draft())
    assert count(Offer) == 0


def test_submit_offer_by_unverified_experts_and_others_is_not_found(world: dict[str, Any], f: Any) -> None:
    pending = f.expert(VerificationStatus.PENDING_VERIFICATION)
    accept_terms(world["job"], pending)
    owner = world["job"].company.users[0]
    db.session.commit()
    for actor in (pending.user, owner, world["admin"]):
        with pytest.raises(NotFound):
            offers.submit_offer(world["job"].id, actor=actor, data=draft())
    assert count(Offer) == 0


def test_a_second_offer_while_one_is_pending_is_refused(world: dict[str, Any]) -> None:
    first = offers.submit_offer(world["job"].id, actor=world["actor"], data=draft())
    assert "already have an offer" in offers.offer_refusal(world["job"], world["actor"])
    with pytest.raises(PermissionDenied, match=f"offer {first.id}"):
        offers.submit_offer(world["job"].id, actor=world["actor"], data=draft())
    assert count(Offer) == 1


def test_a_new_offer_after_withdrawing_is_allowed(world: dict[str, Any]) -> None:
    first = offers.submit_offer(world["job"].id, actor=world["actor"], data=draft())
    offers.withdraw_offer(first.id, actor=world["actor"])
    assert offers.offer_refusal(world["job"], world["actor"]) == ""
    second = offers.submit_offer(world["job"].id, actor=world["actor"], data=draft(price_minor=300_000))
    assert second.id != first.id and second.status is O.SUBMITTED


def test_submit_offer_after_declining_the_invitation_is_refused(world: dict[str, Any], f: Any) -> None:
    invitation = f.job_invitation(world["job"], world["expert"])
    db.session.commit()
    offers.decline_invitation(invitation.id, actor=world["actor"], reason="Not available")
    assert offers.offer_refusal(world["job"], world["actor"]) == "You declined the invitation to this job."
    with pytest.raises(PermissionDenied, match="declined"):
        offers.submit_offer(world["job"].id, actor=world["actor"], data=draft())


# revise_offer ---------------------------------------------------------------------------------------


def test_revise_offer_adds_a_new_version_and_keeps_the_old_one(world: dict[str, Any]) -> None:
    offer = offers.submit_offer(world["job"].id, actor=world["actor"], data=draft())
    first = offer.current_version
    assert first is not None
    offers.revise_offer(offer.id, actor=world["actor"], data=draft(price_minor=400_000, change_note=" Cheaper "))

    db.session.expire_all()
    offer = db.session.get(Offer, offer.id)
    assert offer is not None and offer.status is O.SUBMITTED
    assert [v.number for v in offer.versions] == [1, 2]
    assert offer.current_version is not None and offer.current_version.number == 2
    assert offer.current_version.price_minor == 400_000 and offer.current_version.change_note == "Cheaper"
    assert offer.versions[0].price_minor == 450_050 and offer.versions[0].change_note == ""
    assert offers.version_changes(offer.versions[0], offer.versions[1]) == ["price"]
    assert actions("offers", offer.id) == ["offer.submitted", "offer.version_added"]
    assert kinds(world["admin"]) == ["offer.submitted", "offer.version_added"]


def test_revise_offer_in_negotiation_becomes_revised(world: dict[str, Any], f: Any) -> None:
    offer = f.offer(world["job"], world["expert"], status=O.IN_NEGOTIATION)
    db.session.commit()
    offers.revise_offer(offer.id, actor=world["actor"], data=draft(change_note="New timeline"))
    assert offer.status is O.REVISED
    assert len(offer.versions) == 2
    assert actions("offers", offer.id) == ["offer.revised", "offer.version_added"]


def test_revise_offer_requires_a_change_note(world: dict[str, Any]) -> None:
    offer = offers.submit_offer(world["job"].id, actor=world["actor"], data=draft())
    with pytest.raises(FieldErrors) as caught:
        offers.revise_offer(offer.id, actor=world["actor"], data=draft(change_note="  "))
    assert caught.value.errors == {"change_note": "Say briefly what changed in this version."}
    db.session.rollback()
    assert count(OfferVersion) == 1


@pytest.mark.parametrize("status", [O.FORWARDED, O.REVISED, O.ACCEPTED, O.DECLINED, O.REJECTED, O.WITHDRAWN,
                                    O.NOT_SELECTED])
def test_revise_offer_refused_unless_submitted_or_in_negotiation(world: dict[str, Any], f: Any,
                                                                 status: OfferStatus) -> None:
    offer = f.offer(world["job"], world["expert"], status=status)
    db.session.commit()
    with pytest.raises(InvalidTransition):
        offers.revise_offer(offer.id, actor=world["actor"], data=draft(change_note="x"))
    assert count(OfferVersion) == 1


def test_revise_offer_on_a_closed_job_is_refused(world: dict[str, Any], f: Any) -> None:
    offer = f.offer(world["job"], world["expert"])
    world["job"].status = JobStatus.CLOSED
    db.session.commit()
    with pytest.raises(PermissionDenied, match="no longer open"):
        offers.revise_offer(offer.id, actor=world["actor"], data=draft(change_note="x"))


def test_another_experts_offer_is_not_found(world: dict[str, Any], f: Any) -> None:
    offer = f.offer(world["job"], world["other"])
    db.session.commit()
    with pytest.raises(NotFound):
        offers.revise_offer(offer.id, actor=world["actor"], data=draft(change_note="x"))
    with pytest.raises(NotFound):
        offers.withdraw_offer(offer.id, actor=world["actor"])
    with pytest.raises(NotFound):
        offers.load_offer(offer.id, actor=world["actor"])
    with pytest.raises(NotFound):
        offers.load_offer(999_999, actor=world["actor"])
    assert offer.status is O.SUBMITTED


def test_a_suspended_expert_sees_but_cannot_change_their_offer(world: dict[str, Any], f: Any) -> None:
    offer = f.offer(world["job"], world["expert"])
    world["expert"].status = VerificationStatus.SUSPENDED
    db.session.commit()
    assert offers.load_offer(offer.id, actor=world["actor"]).id == offer.id
    with pytest.raises(PermissionDenied):
        offers.withdraw_offer(offer.id, actor=world["actor"])


def test_offer_versions_and_milestones_are_immutable(world: dict[str, Any], f: Any) -> None:
    offer = f.offer(world["job"], world["expert"], milestones=(("Plan", 40), ("Report", 60)))
    db.session.commit()
    version = offer.current_version
    version.price_minor = 1
    with pytest.raises(ImmutableRowError):
        db.session.flush()
    db.session.rollback()
    milestone = db.session.scalars(sa.select(OfferMilestone)).first()
    milestone.share_percent = 10
    with pytest.raises(ImmutableRowError):
        db.session.flush()
    db.session.rollback()
    db.session.delete(db.session.get(OfferVersion, version.id))
    with pytest.raises(ImmutableRowError):
        db.session.flush()
    db.session.rollback()
    assert db.session.get(OfferVersion, version.id).price_minor == 420_000


# withdraw_offer -------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [O.SUBMITTED, O.FORWARDED, O.IN_NEGOTIATION, O.REVISED])
def test_withdraw_a_pending_offer(world: dict[str, Any], f: Any, status: OfferStatus) -> None:
    offer = f.offer(world["job"], world["expert"], status=status)
    db.session.commit()
    offers.withdraw_offer(offer.id, actor=world["actor"], reason="  Booked elsewhere  ")
    assert offer.status is O.WITHDRAWN
    assert offer.withdrawn_at is not None and offer.status_note == "Booked elsewhere"
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "offer.withdrawn"))
    assert event is not None and event.from_state == status.value and event.data == {"reason": "Booked elsewhere"}
    assert kinds(world["admin"]) == ["offer.withdrawn"]


def test_withdraw_twice_is_refused(world: dict[str, Any]) -> None:
    offer = offers.submit_offer(world["job"].id, actor=world["actor"], data=draft())
    offers.withdraw_offer(offer.id, actor=world["actor"])
    with pytest.raises(InvalidTransition):
        offers.withdraw_offer(offer.id, actor=world["actor"])
    assert actions("offers", offer.id) == ["offer.submitted", "offer.withdrawn"]


@pytest.mark.parametrize("status", [O.ACCEPTED, O.DECLINED, O.REJECTED, O.NOT_SELECTED])
def test_withdraw_a_decided_offer_is_refused(world: dict[str, Any], f: Any, status: OfferStatus) -> None:
    offer = f.offer(world["job"], world["expert"], status=status)
    db.session.commit()
    with pytest.raises(InvalidTransition):
        offers.withdraw_offer(offer.id, actor=world["actor"])
    assert kinds(world["admin"]) == []


# decline_invitation ---------------------------------------------------------------------------------


def test_decline_invitation_records_the_reason_audits_and_notifies(world: dict[str, Any], f: Any) -> None:
    invitation = f.job_invitation(world["job"], world["expert"], invited_by=world["admin"])
    invitation.kind = InvitationKind.RECOMMENDED
    db.session.commit()
    offers.decline_invitation(invitation.id, actor=world["actor"], reason="  Not available in May  ")
    assert invitation.status is InvitationStatus.DECLINED
    assert invitation.decline_reason == "Not available in May"
    assert invitation.responded_at is not None
    assert actions("job_invitations", invitation.id) == ["invitation.declined"]
    assert kinds(world["admin"]) == ["invitation.declined"]


def test_decline_invitation_without_a_reason_is_refused(world: dict[str, Any], f: Any) -> None:
    invitation = f.job_invitation(world["job"], world["expert"])
    db.session.commit()
    with pytest.raises(ValidationFailed, match="why you decline"):
        offers.decline_invitation(invitation.id, actor=world["actor"], reason="   ")
    db.session.rollback()
    assert db.session.get(type(invitation), invitation.id).status is InvitationStatus.OPEN


def test_decline_twice_is_refused(world: dict[str, Any], f: Any) -> None:
    invitation = f.job_invitation(world["job"], world["expert"])
    db.session.commit()
    offers.decline_invitation(invitation.id, actor=world["actor"], reason="No time")
    with pytest.raises(InvalidTransition):
        offers.decline_invitation(invitation.id, actor=world["actor"], reason="Still no time")
    assert invitation.decline_reason == "No time"


def test_decline_with_a_pending_offer_is_refused(world: dict[str, Any], f: Any) -> None:
    invitation = f.job_invitation(world["job"], world["expert"])
    db.session.commit()
    offers.submit_offer(world["job"].id, actor=world["actor"], data=draft())
    with pytest.raises(PermissionDenied, match="withdraw the offer"):
        offers.decline_invitation(invitation.id, actor=world["actor"], reason="Changed my mind")
    assert invitation.status is InvitationStatus.OPEN


def test_decline_another_experts_invitation_is_not_found(world: dict[str, Any], f: Any) -> None:
    invitation = f.job_invitation(world["job"], world["other"])
    db.session.commit()
    with pytest.raises(NotFound):
        offers.decline_invitation(invitation.id, actor=world["actor"], reason="Not mine")
    with pytest.raises(NotFound):
        offers.decline_invitation(999_999, actor=world["actor"], reason="Nothing")
    assert invitation.status is InvitationStatus.OPEN


# Queries --------------------------------------------------------------------------------------------


def test_expert_offers_query_lists_own_offers_newest_first(world: dict[str, Any], f: Any) -> None:
    old = f.offer(f.job(status=JobStatus.PUBLISHED), world["expert"], status=O.WITHDRAWN,
                  submitted_at=datetime.now(UTC) - timedelta(days=3))
    new = f.offer(world["job"], world["expert"])
    f.offer(world["job"], world["other"])
    db.session.commit()
    assert list(db.session.scalars(offers.expert_offers_query(world["expert"]))) == [new, old]


def test_expert_invitations_query_lists_open_ones_first(world: dict[str, Any], f: Any) -> None:
    declined = f.job_invitation(world["job"], world["expert"])
    db.session.commit()
    offers.decline_invitation(declined.id, actor=world["actor"], reason="No")
    open_one = f.job_invitation(f.job(status=JobStatus.PUBLISHED), world["expert"])
    open_one.created_at = datetime.now(UTC) - timedelta(days=10)
    f.job_invitation(world["job"], world["other"])
    db.session.commit()
    assert list(db.session.scalars(offers.expert_invitations_query(world["expert"]))) == [open_one, declined]


def test_version_changes_names_what_changed(world: dict[str, Any], f: Any) -> None:
    offer = f.offer(world["job"], world["expert"], versions=2, milestones=(("Plan", 100),))
    first, second = offer.versions
    assert offers.version_changes(None, first) == []
    assert offers.version_changes(first, second) == ["solution", "price"]
    assert offers.version_changes(first, first) == []


def test_offers_count_and_queue(world: dict[str, Any], f: Any) -> None:
    waiting = f.offer(world["job"], world["expert"])
    f.offer(world["job"], world["other"], status=O.WITHDRAWN)
    revised = f.offer(f.job(status=JobStatus.PUBLISHED), world["other"], status=O.REVISED)
    db.session.commit()
    assert offers.offers_count_for_job(world["job"].id) == 1
    assert list(db.session.scalars(offers.offers_queue_query())) == [waiting, revised]
