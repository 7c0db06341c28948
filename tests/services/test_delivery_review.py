"""Quality control of a delivery and the hub's check: who may review or decide, the verdicts, the queue, the page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from freezegun import freeze_time

from app.exceptions import InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from app.extensions import db
from app.models import (
    Audience,
    AuditEvent,
    Delivery,
    DeliveryStatus,
    Notification,
    Project,
    ProjectMessage,
    ProjectStatus,
    QcReview,
    QcVerdict,
    User,
)
from app.models.mixins import utcnow
from app.services import deliveries, delivery_review, projects, qc, uow
from app.services.projects import Side
from app.services.transitions import transition
from app.services.uploads import Upload
from app.workflows.contracts import PROJECT_WORKFLOW
from tests import factories
from tests.services.test_contracts import hub_seal, hub_seal_dir  # noqa: F401  (fixtures)
from tests.services.test_qc import QC_NAME, World, _assign, _sign, _world

QC_COMMENTS = "The process window misses the holding pressure; add the gate-freeze study."


def qc_world(f: Any) -> World:
    """The QC world of tests/services/test_qc.py with its QC expert signed in: deliveries go to QC first."""
    w = _world(f)
    _sign(w, _assign(w))
    return w


@pytest.fixture
def world(f: Any) -> World:
    return qc_world(f)


def deliver(project: Project, expert: User, *, notes: str = "Report and process window attached.",
            pdf: bool = True) -> Delivery:
    """Submit a delivery as the expert (app/services/deliveries.py) and commit."""
    checklist = [{"deliverable": d, "done": True, "comment": ""} for d in deliveries.deliverables_of(project)]
    uploads = [Upload("molding-study.pdf", factories.pdf_bytes(2))] if pdf else []
    delivery = deliveries.submit_delivery(project.id, actor=expert, notes=notes, checklist=checklist,
                                          uploads=uploads)
    uow.commit()
    return delivery


def review(delivery: Delivery, actor: User, *, verdict: QcVerdict = QcVerdict.APPROVE,
           scores: tuple[int, ...] = (4, 5, 3), comments: str = QC_COMMENTS) -> QcReview:
    completeness, correctness, clarity = scores
    done = delivery_review.qc_review(delivery.id, actor=actor, completeness=completeness, correctness=correctness,
                                     clarity=clarity, comments=comments, verdict=verdict)
    uow.commit()
    return done


def notes_of(user: User, prefix: str = "delivery.") -> list[Notification]:
    return list(db.session.scalars(sa.select(Notification).where(
        Notification.user_id == user.id, Notification.kind.startswith(prefix)).order_by(Notification.id)))


def company_reads(project: Project, user: User) -> list[str]:
    """The channel as a company user reads it."""
    return [m.text for m in projects.history(project.id, actor=user).messages]


def actions(delivery: Delivery) -> list[str]:
    return list(db.session.scalars(sa.select(AuditEvent.action).where(
        AuditEvent.entity == "deliveries", AuditEvent.entity_id == delivery.id).order_by(AuditEvent.id)))


def reload(delivery: Delivery) -> Delivery:
    db.session.expire_all()
    found = db.session.get(Delivery, delivery.id)
    assert found is not None
    return found


# The QC expert's review ------------------------------------------------------------------------


def test_a_delivery_of_a_project_with_qc_waits_for_the_qc_expert(world):
    delivery = deliver(world.project, world.expert)
    assert delivery.status is DeliveryStatus.QC_REVIEW
    assert delivery_review.is_qc_reviewer(world.qc_user, world.project)
    assert not delivery_review.is_qc_reviewer(world.expert, world.project)
    assert not delivery_review.is_qc_reviewer(world.staff, world.project)


def test_approval_sends_the_delivery_to_the_hub(world):
    delivery = deliver(world.project, world.expert)
    before_company = [len(notes_of(u, "")) for u in (world.owner, world.member)]

    done = review(delivery, world.qc_user, scores=(4, 5, 3))

    assert (done.completeness, done.correctness, done.clarity) == (4, 5, 3)
    assert done.verdict is QcVerdict.APPROVE and done.reviewer_id == world.qc_user.id and done.comments == QC_COMMENTS
    delivery = reload(delivery)
    assert delivery.status is DeliveryStatus.HUB_REVIEW
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "delivery.hub_review",
                                                          AuditEvent.entity_id == delivery.id))
    assert event is not None and event.actor_id == world.qc_user.id and event.from_state == "qc_review"
    assert event.data["verdict"] == "approve" and event.data["review_id"] == done.id
    assert (event.data["completeness"], event.data["correctness"], event.data["clarity"]) == (4, 5, 3)
    staff_notes = [n for n in notes_of(world.staff) if n.link == f"/admin/deliveries/{delivery.id}"]
    assert [n.kind for n in staff_notes] == ["delivery.submitted"]
    assert staff_notes[0].params["next"] == "the hub's check (quality control approved it)"
    assert staff_notes[0].params["number"] == delivery.number
    assert not [n for n in notes_of(world.expert) if n.kind == "delivery.changes_requested"]
    assert [len(notes_of(u, "")) for u in (world.owner, world.member)] == before_company  # nothing for the company


def test_requesting_changes_returns_it_to_the_expert_as_quality_control(world):
    delivery = deliver(world.project, world.expert)

    review(delivery, world.qc_user, verdict=QcVerdict.REQUEST_CHANGES, scores=(2, 3, 4))

    delivery = reload(delivery)
    assert delivery.status is DeliveryStatus.CHANGES_REQUESTED
    [note] = [n for n in notes_of(world.expert) if n.kind == "delivery.changes_requested"]
    assert note.params["comment"] == QC_COMMENTS and note.params["number"] == delivery.number
    assert note.link == f"/projects/{world.project.id}/delivery#delivery-{delivery.id}"
    assert "Q7QC" not in str(note.params) and QC_NAME not in str(note.params)
    assert any(n.kind == "delivery.changes_requested" for n in notes_of(world.staff))
    # The expert's delivery tab names the reviewer "Quality control", never the QC expert.
    [view] = deliveries.deliveries_for(world.project, Side.EXPERT)
    [seen] = view.reviews
    assert seen.reviewer == "Quality control" and seen.comments == QC_COMMENTS
    assert (seen.completeness, seen.correctness, seen.clarity, seen.verdict) == (2, 3, 4, "request_changes")
    assert "Q7QC" not in repr(view) and QC_NAME not in repr(view)
    # The company sees nothing of it.
    assert deliveries.deliveries_for(world.project, Side.COMPANY) == []
    assert notes_of(world.owner) == [] and notes_of(world.member) == []


@pytest.mark.parametrize("who", ["expert", "owner", "member", "stranger", "other_expert"])
def test_only_the_qc_expert_may_review_others_are_told_it_does_not_exist(f, world, who):
    delivery = deliver(world.project, world.expert)
    actor = {"expert": world.expert, "owner": world.owner, "member": world.member, "stranger": f.company_user(),
             "other_expert": world.other.user}[who]
    uow.commit()
    with pytest.raises(NotFound):
        review(delivery, actor)
    uow.rollback()
    assert reload(delivery).status is DeliveryStatus.QC_REVIEW
    assert db.session.scalar(sa.select(sa.func.count()).select_from(QcReview)) == 0


def test_the_hub_does_not_review_for_the_qc_expert(world):
    delivery = deliver(world.project, world.expert)
    with pytest.raises(PermissionDenied):
        review(delivery, world.staff)
    uow.rollback()
    assert reload(delivery).status is DeliveryStatus.QC_REVIEW


def test_a_removed_qc_expert_can_no_longer_review(world):
    delivery = deliver(world.project, world.expert)
    assignment = delivery_review.active_qc_assignment(world.project)
    assert assignment is not None
    qc.remove_qc(assignment.id, actor=world.staff, reason="Not available")
    uow.commit()
    with pytest.raises(NotFound):
        review(delivery, world.qc_user)
    uow.rollback()
    assert reload(delivery).status is DeliveryStatus.QC_REVIEW


def test_an_assigned_qc_expert_who_has_not_signed_cannot_review(f):
    w = _world(f)
    _assign(w)
    delivery = deliver(w.project, w.expert)
    assert delivery.status is DeliveryStatus.HUB_REVIEW  # no active QC: straight to the hub
    with pytest.raises(NotFound):
        review(delivery, w.qc_user)


@pytest.mark.parametrize("scores", [(0, 3, 3), (3, 6, 3), (3, 3, -1), (True, 3, 3)])
def test_scores_are_whole_numbers_from_one_to_five(world, scores):
    delivery = deliver(world.project, world.expert)
    with pytest.raises(ValidationFailed, match="from 1 to 5"):
        review(delivery, world.qc_user, scores=scores)
    uow.rollback()
    assert reload(delivery).status is DeliveryStatus.QC_REVIEW


@pytest.mark.parametrize(("comments", "message"), [("", "Write your comments"), (" \n ", "Write your comments"),
                                                   ("x" * 5001, "at most 5000 characters")])
def test_comments_are_required_and_limited(world, comments, message):
    delivery = deliver(world.project, world.expert)
    with pytest.raises(ValidationFailed, match=message):
        review(delivery, world.qc_user, comments=comments)
    uow.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(QcReview)) == 0


def test_comments_of_exactly_the_limit_are_kept_trimmed(world):
    delivery = deliver(world.project, world.expert)
    done = review(delivery, world.qc_user, comments="  " + "y" * 5000 + "\r\n")
    assert done.comments == "y" * 5000


def test_an_unknown_verdict_is_refused(world):
    delivery = deliver(world.project, world.expert)
    with pytest.raises(ValidationFailed, match="Choose a verdict"):
        delivery_review.qc_review(delivery.id, actor=world.qc_user, completeness=3, correctness=3, clarity=3,
                                  comments="ok", verdict="maybe")  # type: ignore[arg-type]


def test_a_delivery_is_reviewed_once(world):
    delivery = deliver(world.project, world.expert)
    review(delivery, world.qc_user)
    with pytest.raises(InvalidTransition, match="not waiting for a quality-control review"):
        review(delivery, world.qc_user, verdict=QcVerdict.REQUEST_CHANGES)
    uow.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(QcReview)) == 1
    assert reload(delivery).status is DeliveryStatus.HUB_REVIEW


def test_no_review_on_a_closed_project(world):
    delivery = deliver(world.project, world.expert)
    transition(world.project, PROJECT_WORKFLOW, ProjectStatus.CANCELLED, actor=world.staff)
    uow.commit()
    with pytest.raises(ValidationFailed, match="closed"):
        review(delivery, world.qc_user)


def test_an_unknown_delivery_does_not_exist(world):
    with pytest.raises(NotFound):
        review(Delivery(id=999_999), world.qc_user)


# The hub's check ---------------------------------------------------------------------------------


def hub_ready(w: World) -> Delivery:
    """A delivery the QC expert approved: it waits for the hub."""
    delivery = deliver(w.project, w.expert)
    review(delivery, w.qc_user)
    return reload(delivery)


def test_forwarding_shows_the_delivery_to_the_company(world):
    delivery = hub_ready(world)
    assert deliveries.deliveries_for(world.project, Side.COMPANY) == []
    assert notes_of(world.owner) == [] and notes_of(world.member) == []

    delivery_review.verify_and_forward(delivery.id, actor=world.staff, comment="  All deliverables checked.  ")
    uow.commit()

    delivery = reload(delivery)
    assert delivery.status is DeliveryStatus.FORWARDED
    assert delivery.verified_by_id == world.staff.id and delivery.forwarded_at is not None
    assert delivery.hub_comment == "All deliverables checked."
    assert actions(delivery)[-1] == "delivery.forwarded"
    for user in (world.owner, world.member):
        [note] = notes_of(user)
        assert note.kind == "delivery.forwarded" and note.params["number"] == delivery.number
        assert note.link == f"/projects/{world.project.id}/delivery#delivery-{delivery.id}"
    assert company_reads(world.project, world.owner)[-1] == (
        f"Delivery {delivery.number} was verified by Plasticonnect Hub and is ready for the company's review.")
    [view] = deliveries.deliveries_for(world.project, Side.COMPANY)
    assert view.id == delivery.id and view.reviews == []  # the company never reads the QC review


def test_forwarding_without_a_comment(f):
    w = _world(f, qc_requested=False)
    delivery = deliver(w.project, w.expert)
    assert delivery.status is DeliveryStatus.HUB_REVIEW
    delivery_review.verify_and_forward(delivery.id, actor=w.staff)
    uow.commit()
    delivery = reload(delivery)
    assert delivery.status is DeliveryStatus.FORWARDED and delivery.hub_comment == ""


def test_returning_it_to_the_expert_tells_only_the_expert(world):
    delivery = hub_ready(world)

    delivery_review.return_to_expert(delivery.id, actor=world.staff, comment="Add the cooling-time table.")
    uow.commit()

    delivery = reload(delivery)
    assert delivery.status is DeliveryStatus.CHANGES_REQUESTED and delivery.hub_comment == "Add the cooling-time table."
    assert delivery.forwarded_at is None and delivery.verified_by_id is None
    [note] = [n for n in notes_of(world.expert) if n.kind == "delivery.changes_requested"]
    assert note.params["comment"] == "Add the cooling-time table."
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "delivery.changes_requested",
                                                          AuditEvent.entity_id == delivery.id))
    assert event is not None and event.actor_id == world.staff.id and event.data["comment"] == delivery.hub_comment
    assert notes_of(world.owner) == [] and notes_of(world.member) == []
    assert deliveries.deliveries_for(world.project, Side.COMPANY) == []


@pytest.mark.parametrize("comment", ["", "   \n"])
def test_returning_needs_a_comment(world, comment):
    delivery = hub_ready(world)
    with pytest.raises(ValidationFailed, match="Say what the expert should change"):
        delivery_review.return_to_expert(delivery.id, actor=world.staff, comment=comment)
    uow.rollback()
    assert reload(delivery).status is DeliveryStatus.HUB_REVIEW


def test_hub_comments_are_limited(world):
    delivery = hub_ready(world)
    for call in (delivery_review.return_to_expert, delivery_review.verify_and_forward):
        with pytest.raises(ValidationFailed, match="at most 5000"):
            call(delivery.id, actor=world.staff, comment="z" * 5001)
        uow.rollback()
    assert reload(delivery).status is DeliveryStatus.HUB_REVIEW


@pytest.mark.parametrize("who", ["expert", "qc"])
def test_only_the_hub_decides(world, who):
    delivery = hub_ready(world)
    actor = {"expert": world.expert, "qc": world.qc_user}[who]
    for call in (delivery_review.verify_and_forward, delivery_review.return_to_expert):
        with pytest.raises(PermissionDenied):
            call(delivery.id, actor=actor, comment="Looks fine")
        uow.rollback()
    assert reload(delivery).status is DeliveryStatus.HUB_REVIEW


def test_the_company_and_strangers_are_told_it_does_not_exist(f, world):
    delivery = hub_ready(world)
    stranger = f.company_user()
    uow.commit()
    for actor in (world.owner, stranger):
        for call in (delivery_review.verify_and_forward, delivery_review.return_to_expert):
            with pytest.raises(NotFound):
                call(delivery.id, actor=actor, comment="ok")
            uow.rollback()
    assert reload(delivery).status is DeliveryStatus.HUB_REVIEW


def test_the_hub_decides_only_deliveries_waiting_for_it(world):
    delivery = deliver(world.project, world.expert)  # in quality control
    with pytest.raises(InvalidTransition, match="waiting for the hub"):
        delivery_review.verify_and_forward(delivery.id, actor=world.staff)
    uow.rollback()
    with pytest.raises(InvalidTransition, match="waiting for the hub"):
        delivery_review.return_to_expert(delivery.id, actor=world.staff, comment="No")
    uow.rollback()
    review(delivery, world.qc_user)
    delivery_review.verify_and_forward(delivery.id, actor=world.staff)
    uow.commit()
    with pytest.raises(InvalidTransition):
        delivery_review.verify_and_forward(delivery.id, actor=world.staff)
    uow.rollback()
    assert reload(delivery).status is DeliveryStatus.FORWARDED


def test_the_company_hears_of_nothing_until_a_delivery_is_forwarded(world):
    """Submit, QC changes, resubmit, QC approves, hub returns, resubmit, QC approves, hub forwards."""
    first = deliver(world.project, world.expert)
    review(first, world.qc_user, verdict=QcVerdict.REQUEST_CHANGES)
    second = deliver(world.project, world.expert, notes="Added the gate-freeze study.")
    review(second, world.qc_user)
    delivery_review.return_to_expert(second.id, actor=world.staff, comment="Label the axes.")
    uow.commit()
    third = deliver(world.project, world.expert, notes="Axes labelled.")
    review(third, world.qc_user)
    before = company_reads(world.project, world.owner)
    assert notes_of(world.owner) == [] and notes_of(world.member) == []
    assert deliveries.deliveries_for(world.project, Side.COMPANY) == []
    everyone = db.session.scalars(sa.select(ProjectMessage.body).where(
        ProjectMessage.project_id == world.project.id, ProjectMessage.audience == Audience.EVERYONE))
    assert not [b for b in everyone if "delivery" in b]

    delivery_review.verify_and_forward(third.id, actor=world.staff)
    uow.commit()

    assert [n.kind for n in notes_of(world.owner)] == ["delivery.forwarded"]
    assert len(company_reads(world.project, world.owner)) == len(before) + 1
    assert [v.number for v in deliveries.deliveries_for(world.project, Side.COMPANY)] == [3]


# The queue ---------------------------------------------------------------------------------------


def plain_project(f: Any) -> tuple[Project, User, User]:
    """A project without quality control: (project, its expert, the hub manager)."""
    project = f.project()
    (expert,) = projects.member_users(project, side=Side.EXPERT)
    staff = db.session.get(User, project.manager_id)
    assert staff is not None
    uow.commit()
    return project, expert, staff


def test_the_queue_puts_hub_review_first_then_the_oldest(f, world):
    with freeze_time(utcnow() - timedelta(days=3)):
        in_qc = deliver(world.project, world.expert)  # the oldest, but in quality control
    older_project, older_expert, staff = plain_project(f)
    with freeze_time(utcnow() - timedelta(days=2)):
        older = deliver(older_project, older_expert)
    newer_project, newer_expert, _staff = plain_project(f)
    newer = deliver(newer_project, newer_expert)
    done_project, done_expert, _staff = plain_project(f)
    done = deliver(done_project, done_expert)
    delivery_review.return_to_expert(done.id, actor=staff, comment="Redo")
    uow.commit()

    pagination, rows = delivery_review.checking_queue()

    assert [r.delivery.id for r in rows] == [older.id, newer.id, in_qc.id]  # changes_requested is not open
    assert pagination.total == 3
    assert rows[0].file_count == 1 and rows[0].qc_verdict == ""
    assert delivery_review.waiting_count() == 2
    assert [r.delivery.id for r in delivery_review.checking_queue(DeliveryStatus.CHANGES_REQUESTED)[1]] == [done.id]
    assert [r.delivery.id for r in delivery_review.checking_queue("qc_review")[1]] == [in_qc.id]
    assert {r.delivery.id for r in delivery_review.checking_queue("all")[1]} == {older.id, newer.id, in_qc.id,
                                                                               done.id}
    assert [r.delivery.id for r in delivery_review.checking_queue("bogus")[1]] == [older.id, newer.id, in_qc.id]


def test_the_queue_tells_how_long_each_delivery_has_waited_in_its_state(world):
    start = utcnow().replace(microsecond=0)
    with freeze_time(start - timedelta(days=4)):
        delivery = deliver(world.project, world.expert)
    with freeze_time(start - timedelta(days=1)):
        review(delivery, world.qc_user)
    [row] = delivery_review.checking_queue()[1]
    assert row.waiting_since.replace(microsecond=0) == start - timedelta(days=1)  # since the QC approval
    assert row.qc_verdict == "approve"


def test_the_queue_has_pages_of_twenty(f):
    made = []
    for _ in range(21):
        project, expert, _staff = plain_project(f)
        made.append(deliver(project, expert, pdf=False))
    first_page, first = delivery_review.checking_queue(page=1)
    _pagination, second = delivery_review.checking_queue(page=2)
    assert first_page.total == 21 and first_page.pages == 2
    assert len(first) == 20 and [r.delivery.id for r in second] == [made[-1].id]
    assert delivery_review.checking_queue(page=9)[1] == []


# The checking page -------------------------------------------------------------------------------


def test_the_checking_page_shows_every_version_side_by_side(world):
    first = deliver(world.project, world.expert)
    review(first, world.qc_user, verdict=QcVerdict.REQUEST_CHANGES, scores=(2, 2, 3))
    second = deliver(world.project, world.expert, notes="Version 2 with the gate-freeze study.")
    review(second, world.qc_user, scores=(5, 4, 4), comments="Complete now.")

    page = delivery_review.checking_page(second.id, actor=world.staff)

    assert [c.delivery.number for c in page.versions] == [1, 2]
    assert page.current.delivery.id == second.id and page.can_decide
    assert page.qc is not None and page.qc.expert.pseudonym == "Q7QC"
    old, new = page.versions
    [old_review] = old.reviews
    assert old_review.pseudonym == "Q7QC" and old_review.reviewer_name == QC_NAME
    assert old_review.review.verdict is QcVerdict.REQUEST_CHANGES
    assert [f.name for f in new.files] == ["molding-study.pdf"] and len(new.files[0].sha256) == 64
    assert new.files[0].size_bytes > 0 and new.total_bytes == new.files[0].size_bytes
    assert new.delivery.notes == "Version 2 with the gate-freeze study."
    assert [s.to_state for s in old.steps] == ["submitted", "qc_review", "changes_requested"]
    assert "Quality control · Expert Q7QC" in old.steps[-1].who
    assert new.submitted_by.startswith(f"Expert {world.project.contract.expert.pseudonym}")
    assert {e.action for e in page.history} >= {"delivery.submitted", "delivery.hub_review",
                                                "delivery.changes_requested"}


def test_the_checking_page_shows_the_hub_and_company_comments(world):
    delivery = hub_ready(world)
    delivery_review.verify_and_forward(delivery.id, actor=world.staff, comment="Checked.")
    uow.commit()
    page = delivery_review.checking_page(delivery.id, actor=world.staff)
    assert not page.can_decide
    assert page.current.delivery.hub_comment == "Checked." and page.current.verified_by == world.staff.full_name
    assert page.current.steps[-1].who == world.staff.full_name and page.current.steps[-1].to_state == "forwarded"


@pytest.mark.parametrize("who", ["expert", "qc", "owner"])
def test_only_staff_read_the_checking_page(world, who):
    delivery = hub_ready(world)
    actor = {"expert": world.expert, "qc": world.qc_user, "owner": world.owner}[who]
    with pytest.raises(NotFound):
        delivery_review.checking_page(delivery.id, actor=actor)
    with pytest.raises(NotFound):
        delivery_review.checking_page(999_999, actor=world.staff)


# The QC page -------------------------------------------------------------------------------------


def test_the_qc_page_has_the_form_only_while_the_delivery_waits_for_qc(world):
    delivery = deliver(world.project, world.expert)
    page = delivery_review.qc_review_page(delivery.id, actor=world.qc_user)
    assert page.can_review and page.refusal == "" and page.side is Side.EXPERT
    assert [f.name for f in page.files] == ["molding-study.pdf"]
    hub_page = delivery_review.qc_review_page(delivery.id, actor=world.staff)
    assert not hub_page.can_review and "Only the quality-control expert" in hub_page.refusal
    review(delivery, world.qc_user)
    page = delivery_review.qc_review_page(delivery.id, actor=world.qc_user)
    assert not page.can_review and [r.review.comments for r in page.reviews] == [QC_COMMENTS]
    with pytest.raises(NotFound):
        delivery_review.qc_review_page(delivery.id, actor=world.expert)
