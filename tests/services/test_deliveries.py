"""app/services/deliveries.py: submitting, routing, what each side reads, approval and its certificate, reminders."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from pypdf import PdfReader

from app.exceptions import DomainError, InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from app.extensions import db
from app.integrations import sealing
from app.integrations.storage import get_storage
from app.models import (
    Audience,
    AuditEvent,
    Delivery,
    DeliveryFile,
    DeliveryStatus,
    Dispute,
    LedgerTransaction,
    Notification,
    Project,
    ProjectMessage,
    ProjectRole,
    ProjectStatus,
    QcVerdict,
    Role,
    User,
)
from app.models.mixins import utcnow
from app.services import contracts, deliveries, delivery_review, projects, qc, uow
from app.services.projects import Side
from app.services.release import release_key
from app.services.transitions import transition
from app.services.uploads import Upload, UploadRejected
from app.workflows.contracts import PROJECT_WORKFLOW
from tests import factories
from tests.services.test_project_files import CSV, JANE_STEP

QC_NAME = "Quinn Delivery-Checker"
CHECKLIST = [{"deliverable": "Report", "done": True, "comment": ""},
             {"deliverable": "Process window", "done": False, "comment": "The DOE runs follow on Friday."}]


@dataclass
class World:
    project: Project
    owner: User
    colleague: User
    expert: User
    staff: User
    outsider: User
    other_expert: User

    @property
    def pseudonym(self) -> str:
        return self.project.contract.expert.pseudonym


def member(project: Project, role: ProjectRole, index: int = 0) -> User:
    return [m.user for m in project.members if m.role is role][index]


def make_world() -> World:
    """A funded project with two company users, the expert and the hub manager; an outsider of each kind."""
    project = factories.project(members=2)
    w = World(project=project, owner=member(project, ProjectRole.COMPANY, 0),
              colleague=member(project, ProjectRole.COMPANY, 1), expert=member(project, ProjectRole.EXPERT),
              staff=member(project, ProjectRole.MANAGER), outsider=factories.company_user(),
              other_expert=factories.expert().user)
    db.session.commit()
    return w


@pytest.fixture
def world(app: Flask) -> World:
    return make_world()


def submit(w: World, *, files: tuple[tuple[str, bytes], ...] = (("housing.step", JANE_STEP),),
           notes: str = "Report and the first process window.", checklist: list[dict[str, Any]] | None = None,
           actor: User | None = None) -> Delivery:
    delivery = deliveries.submit_delivery(
        w.project.id, actor=actor or w.expert, notes=notes,
        checklist=CHECKLIST if checklist is None else checklist, uploads=[Upload(n, d) for n, d in files])
    uow.commit()
    return delivery


def forward(w: World, delivery: Delivery, comment: str = "Checked by the hub.") -> Delivery:
    """The hub's check of a delivery waiting for it (app/services/delivery_review.py)."""
    forwarded = delivery_review.verify_and_forward(delivery.id, actor=w.staff, comment=comment)
    uow.commit()
    return forwarded


def approve(w: World, delivery: Delivery, actor: User | None = None) -> Delivery:
    approved = deliveries.approve_delivery(delivery.id, actor=actor or w.owner)
    uow.commit()
    return approved


def revise(w: World, delivery: Delivery, comment: str = "Add the cooling analysis.") -> Delivery:
    revised = deliveries.request_revision(delivery.id, actor=w.owner, comment=comment)
    uow.commit()
    return revised


def actions(entity: str, entity_id: int) -> list[str]:
    return list(db.session.scalars(sa.select(AuditEvent.action).where(
        AuditEvent.entity == entity, AuditEvent.entity_id == entity_id).order_by(AuditEvent.id)))


def notes_of(user: User, kind: str) -> list[Notification]:
    return list(db.session.scalars(sa.select(Notification).where(
        Notification.user_id == user.id, Notification.kind == kind).order_by(Notification.id)))


def system(project: Project, key: str) -> list[ProjectMessage]:
    rows = db.session.scalars(sa.select(ProjectMessage).where(ProjectMessage.project_id == project.id,
                                                              ProjectMessage.author_id.is_(None)))
    return [m for m in rows if f'"key": "{key}"' in m.body]


def open_dispute(w: World, delivery: Delivery | None = None) -> Dispute:
    """An open dispute, as opening one leaves the project (app/services/disputes.py)."""
    dispute = Dispute(project_id=w.project.id, delivery_id=delivery.id if delivery else None,
                      opened_by_id=w.owner.id, opened_side="company", reason="The report is incomplete.")
    db.session.add(dispute)
    transition(w.project, PROJECT_WORKFLOW, ProjectStatus.DISPUTED, actor=w.owner)
    uow.commit()
    return dispute


def with_qc(w: World) -> User:
    """The project with an active quality-control expert (assigned by the hub, NDA signed)."""
    w.project.job.qc_requested = True
    candidate = factories.expert(user=factories.user(role=Role.EXPERT, full_name=QC_NAME), pseudonym="Q9DL")
    factories.match_run(w.project.job, ranked=(w.project.contract.expert, candidate))
    uow.commit()
    assignment = qc.assign_qc(w.project.id, actor=w.staff, expert_id=candidate.id, fee_minor=20000)
    uow.commit()
    qc.sign_qc_nda(assignment.id, actor=candidate.user, typed_name=QC_NAME, document_sha256=assignment.nda_sha256,
                   ip="203.0.113.9")
    uow.commit()
    return candidate.user


def blobs(storage_dir: str) -> list[Path]:
    root = Path(storage_dir) / "projects"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


# Submitting ---------------------------------------------------------------------------------


def test_the_expert_submits_and_the_hub_checks_when_there_is_no_qc(world: World) -> None:
    delivery = submit(world, files=(("housing.step", JANE_STEP), ("data.csv", CSV)))
    assert delivery.number == 1 and delivery.status is DeliveryStatus.HUB_REVIEW
    assert delivery.notes == "Report and the first process window."
    assert delivery.checklist == CHECKLIST
    assert actions("deliveries", delivery.id) == ["delivery.submitted", "delivery.hub_review"]
    step = next(f for f in delivery.files if f.original_name == "housing.step")
    stored = get_storage().get(step.storage_key)
    assert b"Jane Doe" not in stored and b"Acme Molding" not in stored  # the author is removed
    assert step.sha256 == hashlib.sha256(stored).hexdigest() and step.size_bytes == len(stored)
    assert step.metadata_removed
    staff_note = notes_of(world.staff, "delivery.submitted")[0]
    assert staff_note.params == {"number": 1, "project": projects.project_label(world.project),
                                 "next": "hub verification"}
    (message,) = system(world.project, "delivery_submitted")
    assert message.audience is Audience.EXPERT  # the company learns nothing before the hub forwards it
    assert notes_of(world.owner, "delivery.submitted") == []


def test_with_an_active_qc_expert_the_delivery_goes_to_quality_control(world: World) -> None:
    qc_user = with_qc(world)
    delivery = submit(world)
    assert delivery.status is DeliveryStatus.QC_REVIEW
    assert actions("deliveries", delivery.id) == ["delivery.submitted", "delivery.qc_review"]
    (note,) = notes_of(qc_user, "delivery.qc_review")
    assert note.params == {"number": 1, "project": projects.project_label(world.project)}
    assert notes_of(world.staff, "delivery.submitted")[0].params["next"] == "quality control"


def test_a_qc_assignment_without_a_signed_nda_does_not_route_to_qc(world: World) -> None:
    world.project.job.qc_requested = True
    candidate = factories.expert(pseudonym="Q1PD")
    factories.match_run(world.project.job, ranked=(world.project.contract.expert, candidate))
    uow.commit()
    qc.assign_qc(world.project.id, actor=world.staff, expert_id=candidate.id, fee_minor=20000)
    uow.commit()
    assert submit(world).status is DeliveryStatus.HUB_REVIEW


@pytest.mark.parametrize("who", ["owner", "staff"])
def test_only_the_projects_expert_submits(world: World, who: str) -> None:
    with pytest.raises(PermissionDenied):
        submit(world, actor=getattr(world, who))
    assert db.session.scalar(sa.select(sa.func.count(Delivery.id))) == 0


def test_the_qc_expert_cannot_submit(world: World) -> None:
    qc_user = with_qc(world)
    with pytest.raises(PermissionDenied):
        submit(world, actor=qc_user)


@pytest.mark.parametrize("who", ["outsider", "other_expert"])
def test_someone_not_on_the_project_is_told_it_does_not_exist(world: World, who: str) -> None:
    with pytest.raises(NotFound):
        submit(world, actor=getattr(world, who))


@pytest.mark.parametrize(("checklist", "message"), [
    ([CHECKLIST[0]], "“Process window” is missing"),
    ([*CHECKLIST, {"deliverable": "Cooling study", "done": True, "comment": ""}], "“Cooling study” is not a "),
    ([CHECKLIST[0], CHECKLIST[0], CHECKLIST[1]], "more than once"),
    ([CHECKLIST[0], {"deliverable": "Process window", "done": False, "comment": "  "}], "is not done"),
    ([CHECKLIST[0], {"deliverable": "Process window", "done": "yes", "comment": ""}], "Say whether"),
])
def test_the_checklist_covers_every_deliverable(world: World, checklist: list[dict[str, Any]],
                                                message: str) -> None:
    with pytest.raises(ValidationFailed, match=message):
        submit(world, checklist=checklist)
    assert db.session.scalar(sa.select(sa.func.count(Delivery.id))) == 0


def test_the_checklist_may_come_in_any_order_and_is_kept_in_the_offers(world: World) -> None:
    delivery = submit(world, checklist=list(reversed(CHECKLIST)))
    assert [row["deliverable"] for row in delivery.checklist] == ["Report", "Process window"]


def test_a_delivery_needs_a_file_or_a_note(world: World) -> None:
    with pytest.raises(ValidationFailed, match="at least one file"):
        submit(world, files=(), notes="   ")
    notes_only = submit(world, files=(), notes="The report is in the project files, version 3.")
    assert notes_only.files == [] and notes_only.status is DeliveryStatus.HUB_REVIEW


def test_a_refused_file_stores_nothing(world: World, storage_dir: str) -> None:
    with pytest.raises(UploadRejected, match="program"):
        submit(world, files=(("data.csv", CSV), ("setup.step", b"MZ\x90\x00" + b"\x00" * 200)))
    uow.rollback()
    assert db.session.scalar(sa.select(sa.func.count(Delivery.id))) == 0
    assert db.session.scalar(sa.select(sa.func.count(DeliveryFile.id))) == 0
    assert blobs(storage_dir) == []


def test_a_rolled_back_submission_leaves_no_blob(world: World, storage_dir: str) -> None:
    deliveries.submit_delivery(world.project.id, actor=world.expert, notes="n", checklist=CHECKLIST,
                               uploads=[Upload("data.csv", CSV)])
    assert len(blobs(storage_dir)) == 1
    uow.rollback()
    assert blobs(storage_dir) == []


def test_no_second_delivery_while_one_is_open(world: World) -> None:
    first = submit(world)
    with pytest.raises(ValidationFailed, match="Delivery 1 is still being reviewed"):
        submit(world)
    forward(world, first)
    with pytest.raises(ValidationFailed, match="Delivery 1 is still being reviewed"):
        submit(world)


def test_no_delivery_while_a_dispute_is_open(world: World) -> None:
    open_dispute(world)
    with pytest.raises(ValidationFailed, match="dispute is open"):
        submit(world)


def test_a_returned_delivery_stays_as_it_was_and_the_next_is_number_two(world: World) -> None:
    first = submit(world)
    delivery_review.return_to_expert(first.id, actor=world.staff, comment="The report lacks the gate study.")
    uow.commit()
    first_files = [(f.storage_key, f.sha256) for f in first.files]
    second = submit(world, files=(("data.csv", CSV),), notes="Now with the gate study.")
    db.session.expire_all()
    first = db.session.get(Delivery, first.id)
    assert second.number == 2 and second.status is DeliveryStatus.HUB_REVIEW
    assert first.status is DeliveryStatus.CHANGES_REQUESTED and first.notes == "Report and the first process window."
    assert [(f.storage_key, f.sha256) for f in first.files] == first_files
    assert [d.number for d in deliveries.deliveries_for(world.project, Side.EXPERT)] == [2, 1]
    assert deliveries.current_delivery(world.project).id == second.id


# What each side reads -------------------------------------------------------------------------


def test_the_company_sees_nothing_before_the_hub_forwards(world: World) -> None:
    delivery = submit(world)
    file_id = delivery.files[0].id
    assert deliveries.deliveries_for(world.project, Side.COMPANY) == []
    with pytest.raises(NotFound):
        deliveries.open_delivery_file(file_id, actor=world.owner)
    with pytest.raises(NotFound):
        deliveries.load_delivery(delivery.id, actor=world.colleague)
    forward(world, delivery)
    (seen,) = deliveries.deliveries_for(world.project, Side.COMPANY)
    assert seen.status == "forwarded" and seen.hub_comment == "Checked by the hub."
    name, content_type, data = deliveries.open_delivery_file(file_id, actor=world.owner)
    uow.commit()
    assert name == "housing.step" and content_type == "model/step" and data.startswith(b"ISO-10303-21;")
    (event,) = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "delivery_file.downloaded"))
    assert event.actor_id == world.owner.id and event.data["side"] == "company"


@pytest.mark.parametrize("who", ["outsider", "other_expert"])
def test_outsiders_cannot_read_a_delivery_file(world: World, who: str) -> None:
    delivery = forward(world, submit(world))
    with pytest.raises(NotFound):
        deliveries.open_delivery_file(delivery.files[0].id, actor=getattr(world, who))


def test_the_expert_reads_quality_control_without_the_reviewers_identity(world: World) -> None:
    qc_user = with_qc(world)
    delivery = submit(world)
    delivery_review.qc_review(delivery.id, actor=qc_user, completeness=4, correctness=3, clarity=5,
                              comments="Add the cooling time to the report.", verdict=QcVerdict.REQUEST_CHANGES)
    uow.commit()
    (seen,) = deliveries.deliveries_for(world.project, Side.EXPERT)
    (review,) = seen.reviews
    assert review.reviewer == "Quality control" and review.comments == "Add the cooling time to the report."
    assert (review.completeness, review.correctness, review.clarity, review.verdict) == (4, 3, 5, "request_changes")
    shown = repr(seen)
    assert "Q9DL" not in shown and QC_NAME not in shown
    (hub_view,) = deliveries.deliveries_for(world.project, Side.HUB)
    assert "Q9DL" in hub_view.reviews[0].reviewer
    assert deliveries.deliveries_for(world.project, Side.COMPANY) == []


def test_contact_details_the_expert_typed_are_masked_for_the_company(world: World) -> None:
    delivery = submit(world, notes="Questions? Write to jane.doe@example.com or call +49 170 1234567.")
    assert "delivery.masked" in actions("deliveries", delivery.id)
    assert notes_of(world.staff, "project.contact_masked")
    forward(world, delivery)
    (company_view,) = deliveries.deliveries_for(world.project, Side.COMPANY)
    assert "jane.doe@example.com" not in company_view.notes and "1234567" not in company_view.notes
    (hub_view,) = deliveries.deliveries_for(world.project, Side.HUB)
    assert "jane.doe@example.com" in hub_view.notes


def test_the_company_reads_the_expert_by_pseudonym(world: World) -> None:
    delivery = forward(world, submit(world))
    (seen,) = deliveries.deliveries_for(world.project, Side.COMPANY)
    assert seen.submitted_by == f"Expert {world.pseudonym}"
    assert world.expert.full_name not in repr(seen)
    assert seen.files[0].metadata_removed == ""  # only the hub reads what was removed
    assert deliveries.deliveries_for(world.project, Side.HUB)[0].files[0].metadata_removed
    assert delivery.files[0].metadata_removed


# Approval -------------------------------------------------------------------------------------


def pdf_text(data: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages).replace("\n", " ")


def test_approval_records_the_hashes_seals_a_certificate_and_releases(app: Flask, world: World) -> None:
    delivery = forward(world, submit(world, files=(("housing.step", JANE_STEP), ("data.csv", CSV))))
    approved = approve(world, delivery, actor=world.colleague)
    db.session.expire_all()
    approved = db.session.get(Delivery, delivery.id)
    project = db.session.get(Project, world.project.id)
    assert approved.status is DeliveryStatus.APPROVED
    assert approved.decided_by_id == world.colleague.id and approved.decided_at is not None
    assert approved.accepted_hashes == [{"name": f.original_name, "sha256": f.sha256, "size": f.size_bytes}
                                        for f in approved.files]
    assert project.accepted_at is not None
    assert "project.accepted" in actions("projects", project.id)
    assert actions("deliveries", delivery.id)[-2:] == ["delivery.certificate_sealed", "delivery.approved"]

    name, data = deliveries.open_certificate(delivery.id, actor=world.expert)
    uow.commit()
    assert name.endswith(".pdf") and hashlib.sha256(data).hexdigest() == approved.certificate_sha256
    verdict = contracts.verify_upload(data)  # the public /verify page knows it
    assert verdict.verdict == "on_record" and f"acceptance certificate of delivery {approved.number}" in verdict.message
    text = pdf_text(data)
    for file in approved.files:
        assert file.sha256 in text and file.original_name in text
    assert world.colleague.full_name in text and f"Expert {world.pseudonym}" in text
    assert world.project.contract.reference in text and "UTC" in text
    assert world.expert.full_name not in text
    check = sealing.verify_sealed_pdf(data, cert_path=app.config["HUB_SIGNING_CERT_PATH"])
    assert check.ok, check.summary
    assert db.session.scalar(sa.select(sa.func.count(AuditEvent.id)).where(
        AuditEvent.action == "delivery_certificate.downloaded")) == 1

    (expert_note,) = notes_of(world.expert, "delivery.approved")
    assert expert_note.params == {"number": 1, "project": projects.project_label(project)}
    assert notes_of(world.staff, "delivery.approved")
    assert system(project, "delivery_approved")[0].audience is Audience.EVERYONE
    # After the commit the release ran (inline without Redis): the held funds were released once.
    assert project.status is ProjectStatus.COMPLETED and project.released_at is not None
    assert db.session.scalar(sa.select(sa.func.count(LedgerTransaction.id)).where(
        LedgerTransaction.idempotency_key == release_key(project.contract_id))) == 1


def test_approving_twice_or_after_a_revision_request_is_refused(world: World) -> None:
    delivery = forward(world, submit(world))
    approve(world, delivery)
    with pytest.raises(InvalidTransition, match="already approved"):
        deliveries.approve_delivery(delivery.id, actor=world.colleague)
    uow.rollback()
    with pytest.raises(InvalidTransition, match="already approved"):
        deliveries.request_revision(delivery.id, actor=world.owner, comment="More")


@pytest.mark.parametrize("who", ["expert", "staff"])
def test_only_the_company_approves_or_asks_for_a_revision(world: World, who: str) -> None:
    delivery = forward(world, submit(world))
    with pytest.raises(PermissionDenied):
        deliveries.approve_delivery(delivery.id, actor=getattr(world, who))
    with pytest.raises(PermissionDenied):
        deliveries.request_revision(delivery.id, actor=getattr(world, who), comment="More")
    db.session.expire_all()
    assert db.session.get(Delivery, delivery.id).status is DeliveryStatus.FORWARDED


def test_the_company_cannot_approve_a_delivery_it_cannot_see(world: World) -> None:
    delivery = submit(world)
    with pytest.raises(NotFound):
        deliveries.approve_delivery(delivery.id, actor=world.owner)
    with pytest.raises(NotFound):
        deliveries.approve_delivery(delivery.id, actor=world.outsider)


def test_no_approval_while_a_dispute_is_open(world: World, storage_dir: str) -> None:
    delivery = forward(world, submit(world))
    open_dispute(world, delivery)
    before = blobs(storage_dir)
    with pytest.raises(ValidationFailed, match="dispute is open"):
        deliveries.approve_delivery(delivery.id, actor=world.owner)
    uow.rollback()
    with pytest.raises(ValidationFailed, match="dispute is open"):
        deliveries.request_revision(delivery.id, actor=world.owner, comment="More")
    uow.rollback()
    db.session.expire_all()
    assert db.session.get(Delivery, delivery.id).status is DeliveryStatus.FORWARDED
    assert db.session.get(Project, world.project.id).status is ProjectStatus.DISPUTED
    assert blobs(storage_dir) == before  # no certificate was left behind


def test_a_missing_file_blocks_the_approval(world: World) -> None:
    delivery = forward(world, submit(world))
    get_storage().delete(delivery.files[0].storage_key)
    with pytest.raises(DomainError, match="missing from storage"):
        deliveries.approve_delivery(delivery.id, actor=world.owner)
    uow.rollback()
    db.session.expire_all()
    assert db.session.get(Delivery, delivery.id).status is DeliveryStatus.FORWARDED


def test_the_certificate_exists_only_once_approved(world: World) -> None:
    delivery = forward(world, submit(world))
    with pytest.raises(NotFound):
        deliveries.open_certificate(delivery.id, actor=world.owner)


# The revision loop ------------------------------------------------------------------------------


def test_revision_then_a_new_version_then_approval(world: World) -> None:
    first = forward(world, submit(world))
    with pytest.raises(ValidationFailed, match="Say what the expert should change"):
        deliveries.request_revision(first.id, actor=world.owner, comment="  ")
    uow.rollback()
    revise(world, first, comment="Add the cooling analysis; mail me at boss@example.com")
    db.session.expire_all()
    first = db.session.get(Delivery, first.id)
    assert first.status is DeliveryStatus.REVISION_REQUESTED and first.decided_by_id == world.owner.id
    (note,) = notes_of(world.expert, "delivery.revision_requested")
    assert "boss@example.com" not in note.params["comment"] and "cooling analysis" in note.params["comment"]
    assert "boss@example.com" in notes_of(world.staff, "delivery.revision_requested")[0].params["comment"]
    assert system(world.project, "revision_requested")
    expert_view = deliveries.deliveries_for(world.project, Side.EXPERT)[0]
    assert "boss@example.com" not in expert_view.company_comment

    second = submit(world, files=(("data.csv", CSV),), notes="With the cooling analysis.")
    assert second.number == 2
    forward(world, second)
    approve(world, second)
    db.session.expire_all()
    statuses = [d.status for d in deliveries.deliveries_for(world.project, Side.COMPANY)]
    assert statuses == ["approved", "revision_requested"]
    assert db.session.get(Delivery, first.id).status is DeliveryStatus.REVISION_REQUESTED
    assert db.session.get(Project, world.project.id).accepted_at is not None


def test_the_page_tells_each_side_what_it_can_do(world: World) -> None:
    page = deliveries.delivery_page(world.project.id, actor=world.expert)
    assert page.can_submit and page.deliverables == ["Report", "Process window"] and page.next_number == 1
    delivery = submit(world)
    page = deliveries.delivery_page(world.project.id, actor=world.expert)
    assert not page.can_submit and "still being reviewed" in page.submit_refusal
    assert not deliveries.delivery_page(world.project.id, actor=world.owner).deliveries
    forward(world, delivery)
    company = deliveries.delivery_page(world.project.id, actor=world.owner)
    assert company.can_decide and company.awaiting is not None and company.awaiting.id == delivery.id
    hub = deliveries.delivery_page(world.project.id, actor=world.staff)
    assert not hub.can_decide and not hub.can_submit and len(hub.deliveries) == 1


# Reminders ----------------------------------------------------------------------------------------


def test_reminders_once_per_window(app: Flask, world: World) -> None:
    delivery = forward(world, submit(world))
    forwarded_at = utcnow() - timedelta(days=6)
    db.session.execute(sa.update(Delivery).where(Delivery.id == delivery.id).values(forwarded_at=forwarded_at))
    uow.commit()
    now = utcnow()
    assert deliveries.remind_pending_reviews(now=now) == 1
    uow.commit()
    for user in (world.owner, world.colleague, world.staff):
        (note,) = notes_of(user, "delivery.review_reminder")
        assert note.params == {"number": 1, "project": projects.project_label(world.project), "days": 6}
    assert notes_of(world.expert, "delivery.review_reminder") == []
    assert deliveries.remind_pending_reviews(now=now + timedelta(days=1)) == 0  # within the window
    assert deliveries.remind_pending_reviews(now=now + timedelta(days=6)) == 1  # the next window
    uow.commit()
    assert len(notes_of(world.owner, "delivery.review_reminder")) == 2
    assert actions("deliveries", delivery.id).count("delivery.review_reminded") == 2


def test_the_outbox_sweep_sends_the_reminders(app: Flask, world: World) -> None:
    delivery = forward(world, submit(world))
    db.session.execute(sa.update(Delivery).where(Delivery.id == delivery.id)
                       .values(forwarded_at=utcnow() - timedelta(days=8)))
    uow.commit()
    result = app.test_cli_runner().invoke(args=["outbox", "sweep"])
    assert result.exit_code == 0, result.output
    assert "reminded companies of 1 delivery(ies)" in result.output
    assert notes_of(world.owner, "delivery.review_reminder")[0].params["days"] == 8
    again = app.test_cli_runner().invoke(args=["outbox", "sweep"])
    assert "reminded companies" not in again.output
    assert len(notes_of(world.owner, "delivery.review_reminder")) == 1


def test_no_reminder_for_a_fresh_or_answered_delivery(app: Flask, world: World) -> None:
    app.config["DELIVERY_REVIEW_REMINDER_DAYS"] = 3
    delivery = forward(world, submit(world))
    assert deliveries.remind_pending_reviews(now=utcnow() + timedelta(days=2)) == 0
    assert deliveries.remind_pending_reviews(now=utcnow() + timedelta(days=4)) == 1
    uow.commit()
    revise(world, delivery)
    assert deliveries.remind_pending_reviews(now=utcnow() + timedelta(days=30)) == 0


# Races (PostgreSQL: SQLite has no row locks) ------------------------------------------------------

RACE_ROUNDS = 3
CONTENDERS = 6


@pytest.mark.postgres
def test_approve_and_revision_at_the_same_time_exactly_one_wins(storage_dir: str) -> None:
    import threading

    from tests.conftest import _clear_tables, _create_schema, _to_sqlalchemy_url, make_app, postgres_url

    race_app = make_app(storage_dir, SQLALCHEMY_DATABASE_URI=_to_sqlalchemy_url(postgres_url()))
    try:
        for _ in range(RACE_ROUNDS):
            with race_app.app_context():
                _create_schema(race_app)
                _clear_tables(race_app)
                w = make_world()
                delivery_id = forward(w, submit(w)).id
                users = [w.owner.id, w.colleague.id]
                project_id, contract_id = w.project.id, w.project.contract_id
            barrier = threading.Barrier(CONTENDERS)
            outcomes: list[str] = []

            def contender(n: int, barrier: threading.Barrier = barrier, outcomes: list[str] = outcomes,
                          users: list[int] = users, delivery_id: int = delivery_id) -> None:
                with race_app.app_context():
                    actor = db.session.get(User, users[n % 2])
                    barrier.wait()
                    try:
                        if n % 2:
                            deliveries.request_revision(delivery_id, actor=actor, comment="Change the gate.")
                        else:
                            deliveries.approve_delivery(delivery_id, actor=actor)
                        uow.commit()
                        outcomes.append("revised" if n % 2 else "approved")
                    except (InvalidTransition, ValidationFailed) as exc:
                        uow.rollback()
                        outcomes.append(f"refused: {exc}")
                    finally:
                        db.session.remove()

            threads = [threading.Thread(target=contender, args=(n,)) for n in range(CONTENDERS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
            winners = [o for o in outcomes if not o.startswith("refused")]
            assert len(outcomes) == CONTENDERS and len(winners) == 1, outcomes
            with race_app.app_context():
                delivery = db.session.get(Delivery, delivery_id)
                project = db.session.get(Project, project_id)
                releases = db.session.scalar(sa.select(sa.func.count(LedgerTransaction.id)).where(
                    LedgerTransaction.idempotency_key == release_key(contract_id)))
                if winners == ["approved"]:
                    assert delivery.status is DeliveryStatus.APPROVED and project.status is ProjectStatus.COMPLETED
                    assert releases == 1
                else:
                    assert delivery.status is DeliveryStatus.REVISION_REQUESTED
                    assert project.status is ProjectStatus.ACTIVE and releases == 0
                assert db.session.scalar(sa.select(sa.func.count(AuditEvent.id)).where(
                    AuditEvent.entity == "deliveries", AuditEvent.entity_id == delivery_id,
                    AuditEvent.action.in_(["delivery.approved", "delivery.revision_requested"]))) == 1
                db.session.remove()
    finally:
        with race_app.app_context():
            db.session.remove()
            _clear_tables(race_app)
            db.engine.dispose()


@pytest.mark.postgres
def test_a_double_submission_makes_one_delivery(storage_dir: str) -> None:
    import threading

    from tests.conftest import _clear_tables, _create_schema, _to_sqlalchemy_url, make_app, postgres_url

    race_app = make_app(storage_dir, SQLALCHEMY_DATABASE_URI=_to_sqlalchemy_url(postgres_url()))
    try:
        with race_app.app_context():
            _create_schema(race_app)
            _clear_tables(race_app)
            w = make_world()
            project_id, expert_id = w.project.id, w.expert.id
        barrier = threading.Barrier(CONTENDERS)
        outcomes: list[str] = []

        def contender() -> None:
            with race_app.app_context():
                actor = db.session.get(User, expert_id)
                barrier.wait()
                try:
                    deliveries.submit_delivery(project_id, actor=actor, notes="Twice", checklist=CHECKLIST,
                                               uploads=[Upload("data.csv", CSV)])
                    uow.commit()
                    outcomes.append("ok")
                except ValidationFailed as exc:
                    uow.rollback()
                    outcomes.append(f"refused: {exc}")
                finally:
                    db.session.remove()

        threads = [threading.Thread(target=contender) for _ in range(CONTENDERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert outcomes.count("ok") == 1 and len(outcomes) == CONTENDERS, outcomes
        assert all(o == "ok" or "still being reviewed" in o for o in outcomes), outcomes
        with race_app.app_context():
            assert db.session.scalar(sa.select(sa.func.count(Delivery.id))) == 1
            assert db.session.scalar(sa.select(sa.func.count(DeliveryFile.id))) == 1
            db.session.remove()
        assert len(blobs(storage_dir)) == 1  # the refused submissions left no file behind
    finally:
        with race_app.app_context():
            db.session.remove()
            _clear_tables(race_app)
            db.engine.dispose()
