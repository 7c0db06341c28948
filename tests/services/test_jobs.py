"""Job services: every transition per actor, state refusals, field validation, attachments,
the confidentiality gate, notifications, and the constant query count of the board and queue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from app.exceptions import InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from app.extensions import db
from app.models import (
    AuditEvent,
    CatalogKind,
    ExpertiseLevel,
    Job,
    JobAttachment,
    JobCategory,
    JobConfidentialityAcceptance,
    JobStatus,
    JobVisibility,
    LanguageProficiency,
    Notification,
    VerificationStatus,
)
from app.services import audit, jobs
from app.services.uploads import Upload, UploadRejected

J = JobStatus


def _kinds(user: Any) -> list[str]:
    return list(db.session.scalars(sa.select(Notification.kind).where(Notification.user_id == user.id)))


def _actions(job_id: int) -> list[str]:
    return list(db.session.scalars(
        sa.select(AuditEvent.action).where(AuditEvent.entity == "jobs", AuditEvent.entity_id == job_id)
        .order_by(AuditEvent.id)
    ))


@pytest.fixture
def world(f: Any) -> dict[str, Any]:
    """Company A (owner, member), company B, admin, experts (approved, pending)."""
    company = f.company()
    other = f.company()
    expert_user = f.user()
    return {
        "company": company,
        "owner": f.company_user(company, owner=True),
        "member": f.company_user(company, owner=False),
        "other_owner": f.company_user(other, owner=True),
        "admin": f.admin(),
        "expert": f.expert(),
        "expert2": f.expert(),
        "pending_expert": f.expert(status=VerificationStatus.PENDING_VERIFICATION, user=expert_user),
    }


# Drafting ---------------------------------------------------------------------------------------


def test_create_job_by_member_of_approved_company(world: dict[str, Any], f: Any) -> None:
    title = f.term(CatalogKind.JOB_TITLE)
    job = jobs.create_job(world["company"].id, actor=world["member"], category="training",
                          title_term_id=title.id, subtype="workshop", headcount="12")
    assert job.status is J.DRAFT
    assert job.category is JobCategory.TRAINING
    assert job.headcount == 12
    assert job.created_by_id == world["member"].id
    assert job.payment_terms == "upfront_escrow"
    assert _actions(job.id) == ["job.created"]


@pytest.mark.parametrize("who", ["other_owner", "admin", "expert"])
def test_create_job_refused_for_outsiders(world: dict[str, Any], who: str) -> None:
    actor = world[who].user if who == "expert" else world[who]
    with pytest.raises((NotFound, PermissionDenied)):
        jobs.create_job(world["company"].id, actor=actor, category="training")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Job)) == 0


@pytest.mark.parametrize("status", [VerificationStatus.PENDING_VERIFICATION, VerificationStatus.SUSPENDED])
def test_create_job_refused_for_unapproved_company(f: Any, status: VerificationStatus) -> None:
    company = f.company(status=status)
    owner = f.company_user(company)
    with pytest.raises(PermissionDenied, match="verified company"):
        jobs.create_job(company.id, actor=owner, category="training")


def test_create_job_needs_category(world: dict[str, Any]) -> None:
    with pytest.raises(jobs.FieldErrors) as info:
        jobs.create_job(world["company"].id, actor=world["owner"])
    assert set(info.value.errors) == {"category"}


def test_update_job_field_errors_name_each_field(world: dict[str, Any], f: Any) -> None:
    job = f.job(world["company"])
    retired = f.term(CatalogKind.JOB_TITLE, retired_at=datetime.now(UTC))
    skill = f.term(CatalogKind.SKILL)
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date()
    with pytest.raises(jobs.FieldErrors) as info:
        jobs.update_job(job.id, actor=world["owner"], budget_minor="0", start_date=yesterday.isoformat(),
                        title_term_id=retired.id, process_term_id=skill.id, material_term_id=999999,
                        currency="XXX", subtype="workshop")
    errors = info.value.errors
    assert set(errors) == {"budget_minor", "start_date", "title_term_id", "process_term_id", "material_term_id",
                           "currency", "subtype"}
    assert "past" in errors["start_date"]
    assert "no longer offered" in errors["title_term_id"]
    assert "catalog" in errors["material_term_id"]
    db.session.refresh(job)
    assert job.budget_minor == 500000  # nothing was saved


@pytest.mark.parametrize("budget", ["abc", "-5", "12.50", True])
def test_budget_must_be_a_positive_number(world: dict[str, Any], f: Any, budget: Any) -> None:
    job = f.job(world["company"])
    with pytest.raises(jobs.FieldErrors) as info:
        jobs.update_job(job.id, actor=world["owner"], budget_minor=budget)
    assert "budget_minor" in info.value.errors


def test_completion_before_start_is_refused(world: dict[str, Any], f: Any) -> None:
    job = f.job(world["company"])
    today = datetime.now(UTC).date()
    with pytest.raises(jobs.FieldErrors) as info:
        jobs.update_job(job.id, actor=world["owner"], start_date=today + timedelta(days=10),
                        completion_date=today + timedelta(days=5))
    assert set(info.value.errors) == {"completion_date"}
    jobs.update_job(job.id, actor=world["owner"], start_date=today, completion_date=today)
    assert job.start_date == job.completion_date == today


def test_update_job_saves_and_audits(world: dict[str, Any], f: Any) -> None:
    job = f.job(world["company"])
    jobs.update_job(job.id, actor=world["member"], description="  New text ", budget_minor="750000",
                    qc_requested=True)
    assert job.description == "New text"
    assert job.budget_minor == 750000
    assert jobs.qc_fee_minor(job) == 112500
    assert _actions(job.id)[-1] == "job.updated"


@pytest.mark.parametrize("status", [J.PENDING_REVIEW, J.PUBLISHED, J.REJECTED, J.CANCELLED])
def test_update_job_refused_outside_editable_states(world: dict[str, Any], f: Any, status: JobStatus) -> None:
    job = f.job(world["company"], status=status)
    with pytest.raises(PermissionDenied):
        jobs.update_job(job.id, actor=world["owner"], description="x")


def test_update_job_allowed_while_clarification_requested(world: dict[str, Any], f: Any) -> None:
    job = f.job(world["company"], status=J.CLARIFICATION_REQUESTED)
    jobs.update_job(job.id, actor=world["owner"], scope="Clarified scope")
    assert job.scope == "Clarified scope"


def test_other_company_cannot_see_job(world: dict[str, Any], f: Any) -> None:
    job = f.job(world["company"])
    with pytest.raises(NotFound):
        jobs.update_job(job.id, actor=world["other_owner"], description="x")
    with pytest.raises(NotFound):
        jobs.submit_job(job.id, actor=world["other_owner"])


def test_set_skills_and_languages(world: dict[str, Any], f: Any) -> None:
    job = f.job(world["company"], skills=0)
    skill, process = f.term(CatalogKind.SKILL), f.term(CatalogKind.PROCESS)
    jobs.set_job_skills(job.id, actor=world["owner"],
                        items=[(skill.id, ExpertiseLevel.SENIOR), (process.id, ExpertiseLevel.PRINCIPAL)])
    assert {(s.term_id, s.level) for s in job.skills} == {(skill.id, ExpertiseLevel.SENIOR),
                                                          (process.id, ExpertiseLevel.PRINCIPAL)}
    with pytest.raises(jobs.FieldErrors) as info:
        jobs.set_job_skills(job.id, actor=world["owner"], items=[(f.term(CatalogKind.DEFECT).id, "senior")])
    assert set(info.value.errors) == {"skills"}
    with pytest.raises(jobs.FieldErrors):
        jobs.set_job_skills(job.id, actor=world["owner"], items=[(skill.id, "senior"), (skill.id, "junior")])
    jobs.set_job_languages(job.id, actor=world["owner"], items=[("de", LanguageProficiency.B2), ("EN", "C1")])
    assert {(lang.code, lang.min_proficiency) for lang in job.languages} == {
        ("de", LanguageProficiency.B2), ("en", LanguageProficiency.C1)}
    with pytest.raises(jobs.FieldErrors) as info:
        jobs.set_job_languages(job.id, actor=world["owner"], items=[("xx", "B1")])
    assert set(info.value.errors) == {"languages"}


# Attachments ------------------------------------------------------------------------------------


def test_attachment_added_and_limits(world: dict[str, Any], f: Any, app: Any) -> None:
    job = f.job(world["company"])
    attachment = jobs.add_job_attachment(job.id, actor=world["member"],
                                         upload=Upload("housing.step", f.step_bytes()))
    assert attachment.kind.value == "cad"
    assert attachment.content_type == "model/step"
    app.config["JOB_MAX_ATTACHMENTS"] = 2
    jobs.add_job_attachment(job.id, actor=world["owner"], upload=Upload("drawing.pdf", f.pdf_bytes()))
    with pytest.raises(jobs.FieldErrors) as info:
        jobs.add_job_attachment(job.id, actor=world["owner"], upload=Upload("more.pdf", f.pdf_bytes()))
    assert "at most 2" in info.value.errors["attachment"]
    jobs.remove_job_attachment(attachment.id, actor=world["owner"])
    jobs.add_job_attachment(job.id, actor=world["owner"], upload=Upload("again.stp", f.step_bytes()))
    assert len(job.active_attachments) == 2


def test_attachment_too_large_is_refused_and_existing_files_kept(world: dict[str, Any], f: Any, app: Any) -> None:
    job = f.job(world["company"])
    jobs.add_job_attachment(job.id, actor=world["owner"], upload=Upload("a.step", f.step_bytes()))
    app.config["JOB_ATTACHMENT_MAX_MB"] = 1
    big = f.step_bytes().replace(b"DATA;\n", b"DATA;\n" + b"/* pad */\n" * 120_000)
    with pytest.raises(UploadRejected, match="the limit is 1 MB"):
        jobs.add_job_attachment(job.id, actor=world["owner"], upload=Upload("big.step", big))
    with pytest.raises(UploadRejected, match="STEP"):
        jobs.add_job_attachment(job.id, actor=world["owner"], upload=Upload("fake.step", b"MZ\x90\x00" * 10))
    assert len(job.active_attachments) == 1


def test_attachment_refused_for_other_actors_and_states(world: dict[str, Any], f: Any) -> None:
    job = f.job(world["company"], status=J.PENDING_REVIEW)
    with pytest.raises(PermissionDenied):
        jobs.add_job_attachment(job.id, actor=world["owner"], upload=Upload("a.step", f.step_bytes()))
    with pytest.raises(PermissionDenied):
        jobs.add_job_attachment(job.id, actor=world["admin"], upload=Upload("a.step", f.step_bytes()))
    with pytest.raises(NotFound):
        jobs.add_job_attachment(job.id, actor=world["other_owner"], upload=Upload("a.step", f.step_bytes()))


# Submit and review ------------------------------------------------------------------------------


def test_submit_lists_what_is_missing(world: dict[str, Any], f: Any) -> None:
    job = f.job(world["company"], skills=0, budget_minor=None, title_term_id=None)
    with pytest.raises(ValidationFailed) as info:
        jobs.submit_job(job.id, actor=world["owner"])
    for label in ("Job title", "At least one required skill", "Budget"):
        assert label in str(info.value)
    assert job.status is J.DRAFT


def test_submit_notifies_staff(world: dict[str, Any], f: Any) -> None:
    job = f.job(world["company"])
    jobs.submit_job(job.id, actor=world["member"])
    assert job.status is J.PENDING_REVIEW
    assert job.submitted_at is not None
    assert _kinds(world["admin"]) == ["job.submitted"]
    assert _actions(job.id)[-1] == "job.pending_review"


def test_submit_refused_per_actor_and_state(world: dict[str, Any], f: Any) -> None:
    job = f.job(world["company"])
    with pytest.raises(PermissionDenied):
        jobs.submit_job(job.id, actor=world["admin"])
    with pytest.raises(NotFound):
        jobs.submit_job(job.id, actor=world["expert"].user)
    pending = f.job(world["company"], status=J.PENDING_REVIEW)
    with pytest.raises(InvalidTransition):
        jobs.submit_job(pending.id, actor=world["owner"])


def test_clarification_round_trip(world: dict[str, Any], f: Any) -> None:
    job = f.job(world["company"], status=J.PENDING_REVIEW)
    with pytest.raises(PermissionDenied):
        jobs.request_job_clarification(job.id, actor=world["owner"], question="?")
    with pytest.raises(ValidationFailed):
        jobs.request_job_clarification(job.id, actor=world["admin"], question="  ")
    item = jobs.request_job_clarification(job.id, actor=world["admin"], question="Which machine?")
    assert job.status is J.CLARIFICATION_REQUESTED
    assert job.open_clarification is item
    assert _kinds(world["owner"]) == ["job.clarification_requested"]
    assert "job.clarification_requested" not in _kinds(world["member"])  # member did not author it
    with pytest.raises(InvalidTransition):
        jobs.request_job_clarification(job.id, actor=world["admin"], question="Again?")
    with pytest.raises(NotFound):
        jobs.answer_job_clarification(job.id, actor=world["other_owner"], answer="x")
    jobs.answer_job_clarification(job.id, actor=world["member"], answer="An Engel 200 t")
    assert job.status is J.PENDING_REVIEW
    assert item.answer == "An Engel 200 t" and item.answered_by_id == world["member"].id
    assert job.open_clarification is None
    assert "job.clarification_answered" in _kinds(world["admin"])
    with pytest.raises(InvalidTransition):
        jobs.answer_job_clarification(job.id, actor=world["owner"], answer="again")


def test_publish_public_and_private(world: dict[str, Any], f: Any) -> None:
    public = f.job(world["company"], status=J.PENDING_REVIEW)
    with pytest.raises(PermissionDenied):
        jobs.publish_job(public.id, actor=world["owner"], visibility="public")
    jobs.publish_job(public.id, actor=world["admin"], visibility="public")
    assert public.status is J.PUBLISHED and public.visibility is JobVisibility.PUBLIC
    assert public.published_at is not None
    assert "job.published" in _kinds(world["owner"])

    private = f.job(world["company"], status=J.PENDING_REVIEW)
    with pytest.raises(jobs.FieldErrors) as info:
        jobs.publish_job(private.id, actor=world["admin"], visibility="private")
    assert "invite_expert_ids" in info.value.errors
    with pytest.raises(jobs.FieldErrors):
        jobs.publish_job(private.id, actor=world["admin"], visibility="private",
                         invite_expert_ids=[world["pending_expert"].id])
    jobs.publish_job(private.id, actor=world["admin"], visibility="private", invite_expert_ids=[world["expert"].id])
    assert private.visibility is JobVisibility.PRIVATE
    assert [i.expert_id for i in private.invitations] == [world["expert"].id]
    # The public job's ranking told the approved expert about it; the private one invited them.
    assert _kinds(world["expert"].user) == ["job.recommended", "job.invited"]
    with pytest.raises(InvalidTransition):
        jobs.publish_job(private.id, actor=world["admin"], visibility="public")


def test_reject_job(world: dict[str, Any], f: Any) -> None:
    job = f.job(world["company"], status=J.PENDING_REVIEW)
    with pytest.raises(PermissionDenied):
        jobs.reject_job(job.id, actor=world["owner"], reason="no")
    with pytest.raises(ValidationFailed):
        jobs.reject_job(job.id, actor=world["admin"], reason="")
    jobs.reject_job(job.id, actor=world["admin"], reason="Not a plastics job")
    assert job.status is J.REJECTED and job.status_note == "Not a plastics job"
    assert "job.rejected" in _kinds(world["owner"])
    with pytest.raises(InvalidTransition):
        jobs.reject_job(job.id, actor=world["admin"], reason="again")


@pytest.mark.parametrize("status", [J.DRAFT, J.PENDING_REVIEW, J.CLARIFICATION_REQUESTED, J.PUBLISHED])
def test_cancel_by_owner_from_every_open_state(world: dict[str, Any], f: Any, status: JobStatus) -> None:
    job = f.job(world["company"], status=status)
    with pytest.raises(PermissionDenied):
        jobs.cancel_job(job.id, actor=world["member"])
    jobs.cancel_job(job.id, actor=world["owner"], reason="Solved in-house")
    assert job.status is J.CANCELLED


@pytest.mark.parametrize("status", [J.AWARDED, J.CLOSED, J.REJECTED, J.CANCELLED])
def test_cancel_refused_after_the_end(world: dict[str, Any], f: Any, status: JobStatus) -> None:
    job = f.job(world["company"], status=status)
    with pytest.raises(InvalidTransition):
        jobs.cancel_job(job.id, actor=world["admin"])


def test_cancel_by_staff_notifies_company_and_invited_experts(world: dict[str, Any], f: Any) -> None:
    job = f.job(world["company"], status=J.PUBLISHED, visibility="private")
    f.job_invitation(job, world["expert"])
    jobs.cancel_job(job.id, actor=world["admin"], reason="Duplicate")
    assert "job.cancelled" in _kinds(world["owner"])
    assert "job.withdrawn" in _kinds(world["expert"].user)


def test_close_job(world: dict[str, Any], f: Any) -> None:
    draft = f.job(world["company"])
    with pytest.raises(InvalidTransition):
        jobs.close_job(draft.id, actor=world["owner"])
    job = f.job(world["company"], status=J.PUBLISHED)
    with pytest.raises(PermissionDenied):
        jobs.close_job(job.id, actor=world["member"])
    with pytest.raises(PermissionDenied):
        jobs.close_job(job.id, actor=world["expert"].user)  # sees the public job, may not close it
    jobs.close_job(job.id, actor=world["owner"])
    assert job.status is J.CLOSED


def test_invite_expert_to_published_job(world: dict[str, Any], f: Any) -> None:
    job = f.job(world["company"], status=J.PUBLISHED, visibility="private")
    f.job_invitation(job, world["expert"])
    with pytest.raises(PermissionDenied):
        jobs.invite_expert_to_job(job.id, actor=world["owner"], expert_id=world["expert2"].id)
    with pytest.raises(jobs.FieldErrors):
        jobs.invite_expert_to_job(job.id, actor=world["admin"], expert_id=world["expert"].id)
    with pytest.raises(jobs.FieldErrors):
        jobs.invite_expert_to_job(job.id, actor=world["admin"], expert_id=world["pending_expert"].id)
    jobs.invite_expert_to_job(job.id, actor=world["admin"], expert_id=world["expert2"].id)
    assert jobs.expert_can_see_job(world["expert2"], job)
    assert _kinds(world["expert2"].user) == ["job.invited"]
    draft = f.job(world["company"])
    with pytest.raises(InvalidTransition):
        jobs.invite_expert_to_job(draft.id, actor=world["admin"], expert_id=world["expert2"].id)


# Visibility and confidentiality -----------------------------------------------------------------


def test_private_job_visible_only_to_invited_expert(world: dict[str, Any], f: Any) -> None:
    job = f.job(world["company"], status=J.PUBLISHED, visibility="private")
    f.job_invitation(job, world["expert"])
    assert jobs.expert_can_see_job(world["expert"], job)
    assert not jobs.expert_can_see_job(world["expert2"], job)
    assert not jobs.expert_can_see_job(world["pending_expert"], job)
    ids = lambda expert: [j.id for j in db.session.scalars(jobs.visible_jobs_query(expert))]  # noqa: E731
    assert ids(world["expert"]) == [job.id]
    assert ids(world["expert2"]) == []
    assert ids(world["pending_expert"]) == []
    with pytest.raises(NotFound):
        jobs.accept_job_confidentiality(job.id, actor=world["expert2"].user)


def test_confidentiality_gate_on_downloads(world: dict[str, Any], f: Any) -> None:
    job = f.job(world["company"])
    attachment = jobs.add_job_attachment(job.id, actor=world["owner"], upload=Upload("part.step", f.step_bytes()))
    attachment_id = attachment.id
    db.session.execute(sa.update(Job).where(Job.id == job.id).values(
        status=J.PUBLISHED, visibility=JobVisibility.PUBLIC, published_at=datetime.now(UTC)))
    db.session.expire_all()
    expert_user = world["expert"].user
    with pytest.raises(NotFound):
        jobs.open_job_attachment(attachment_id, actor=expert_user)
    with pytest.raises(NotFound):
        jobs.open_job_attachment(attachment_id, actor=world["other_owner"])
    _, data = jobs.open_job_attachment(attachment_id, actor=world["member"])
    assert data == f.step_bytes()
    jobs.open_job_attachment(attachment_id, actor=world["admin"])
    token = audit.client_ip.set("203.0.113.9")
    try:
        acceptance = jobs.accept_job_confidentiality(job.id, actor=expert_user)
    finally:
        audit.client_ip.reset(token)
    assert acceptance.ip_address == "203.0.113.9"
    assert acceptance.terms_version == jobs.CONFIDENTIALITY_TERMS_VERSION
    assert jobs.accept_job_confidentiality(job.id, actor=expert_user).id == acceptance.id  # idempotent
    assert db.session.scalar(sa.select(sa.func.count()).select_from(JobConfidentialityAcceptance)) == 1
    attachment_row, data = jobs.open_job_attachment(attachment_id, actor=expert_user)
    assert data == f.step_bytes() and attachment_row.id == attachment_id
    downloads = db.session.scalars(sa.select(AuditEvent.actor_id).where(
        AuditEvent.action == "job_attachment.downloaded", AuditEvent.entity_id == attachment_id)).all()
    assert downloads == [world["member"].id, world["admin"].id, expert_user.id]
    with pytest.raises(PermissionDenied):
        jobs.accept_job_confidentiality(job.id, actor=world["owner"])


def test_removed_attachment_not_downloadable_by_company(world: dict[str, Any], f: Any) -> None:
    job = f.job(world["company"])
    attachment = jobs.add_job_attachment(job.id, actor=world["owner"], upload=Upload("p.pdf", f.pdf_bytes()))
    jobs.remove_job_attachment(attachment.id, actor=world["owner"])
    with pytest.raises(NotFound):
        jobs.open_job_attachment(attachment.id, actor=world["owner"])
    assert db.session.get(JobAttachment, attachment.id) is not None


def test_public_view_hides_company_name(world: dict[str, Any], f: Any) -> None:
    industry = f.term(CatalogKind.INDUSTRY, name="Automotive")
    world["company"].industry_id = industry.id
    hidden = f.job(world["company"], status=J.PUBLISHED)
    shown = f.job(world["company"], status=J.PUBLISHED, show_company_name=True)
    view = jobs.job_public_view(hidden, world["expert"].user)
    assert view.company_name is None
    assert view.company_industry == "Automotive" and view.company_country == "DE"
    assert world["company"].name not in repr(view)
    assert jobs.job_public_view(shown, world["expert"].user).company_name == world["company"].name
    assert jobs.job_public_view(hidden, world["admin"]).company_name == world["company"].name


def test_board_filters(world: dict[str, Any], f: Any) -> None:
    process = f.term(CatalogKind.PROCESS)
    a = f.job(world["company"], status=J.PUBLISHED, process_term_id=process.id, budget_minor=100_000,
              description="Warpage on a lid")
    b = f.job(world["company"], status=J.PUBLISHED, category=JobCategory.TRAINING, subtype="course",
              training_language="de", budget_minor=900_000)
    f.job(world["company"], status=J.PENDING_REVIEW)

    def ids(**kw: Any) -> set[int]:
        return {j.id for j in db.session.scalars(jobs.visible_jobs_query(world["expert"], jobs.JobFilters(**kw)))}

    assert ids() == {a.id, b.id}
    assert ids(process_id=process.id) == {a.id}
    assert ids(category=JobCategory.TRAINING) == {b.id}
    assert ids(language="de") == {b.id}
    assert ids(budget_min=500_000) == {b.id}
    assert ids(budget_max=500_000) == {a.id}
    assert ids(text="warpage") == {a.id}
    assert ids(skill_id=a.skills[0].term_id) == {a.id}


def test_review_queue_oldest_first(world: dict[str, Any], f: Any) -> None:
    now = datetime.now(UTC)
    newer = f.job(world["company"], status=J.PENDING_REVIEW, submitted_at=now)
    older = f.job(world["company"], status=J.CLARIFICATION_REQUESTED, submitted_at=now - timedelta(days=2))
    f.job(world["company"], status=J.PUBLISHED)
    assert [j.id for j in db.session.scalars(jobs.review_queue_query())] == [older.id, newer.id]


# Query counts -----------------------------------------------------------------------------------


def _bulk_jobs(company_id: int, author_id: int, n: int, *, status: JobStatus, terms: dict[str, int]) -> None:
    from app.models import ExpertiseLevel as L
    from app.models import JobLanguage, JobSkill

    today = datetime.now(UTC).date()
    now = datetime.now(UTC)
    first_new = (db.session.scalar(sa.select(sa.func.max(Job.id))) or 0) + 1
    rows = [
        {"company_id": company_id, "created_by_id": author_id, "title_term_id": terms["title"],
         "category": JobCategory.PROBLEM_SOLVING, "subtype": "root_cause", "description": f"Job {i}",
         "scope": "s", "process_term_id": terms["process"], "material_term_id": terms["material"],
         "budget_minor": 1000 + i, "currency": "EUR", "start_date": today, "completion_date": today,
         "status": status, "visibility": JobVisibility.PUBLIC if status is J.PUBLISHED else None,
         "submitted_at": now - timedelta(minutes=i), "published_at": now if status is J.PUBLISHED else None,
         "version": 1, "created_at": now, "updated_at": now}
        for i in range(n)
    ]
    db.session.execute(sa.insert(Job), rows)
    job_ids = db.session.scalars(sa.select(Job.id).where(Job.id >= first_new)).all()
    db.session.execute(sa.insert(JobSkill), [{"job_id": j, "term_id": terms["skill"], "level": L.SENIOR}
                                             for j in job_ids])
    db.session.execute(sa.insert(JobLanguage), [{"job_id": j, "code": "en", "min_proficiency": "B2"}
                                                for j in job_ids])
    db.session.flush()


def _count_queries(func: Any) -> int:
    count = 0

    def before(*_args: Any, **_kwargs: Any) -> None:
        nonlocal count
        count += 1

    engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", before)
    try:
        func()
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)
    return count


def _render_board(expert: Any, viewer: Any) -> None:
    db.session.expire_all()
    page = db.session.scalars(jobs.visible_jobs_query(expert).limit(50)).unique().all()
    views = [jobs.job_public_view(job, viewer) for job in page]
    assert views and all(v.skills and v.languages and v.process for v in views)


def _render_queue() -> None:
    db.session.expire_all()
    page = db.session.scalars(jobs.review_queue_query().limit(50)).unique().all()
    assert page and all(str(job) and job.company.name and job.skills for job in page)


def test_board_and_queue_issue_constant_queries(world: dict[str, Any], f: Any) -> None:
    terms = {"title": f.term(CatalogKind.JOB_TITLE).id, "process": f.term(CatalogKind.PROCESS).id,
             "material": f.term(CatalogKind.MATERIAL).id, "skill": f.term(CatalogKind.SKILL).id}
    company_id, author_id = world["company"].id, world["owner"].id
    expert, viewer = world["expert"], world["expert"].user
    counts: dict[int, tuple[int, int]] = {}
    done = 0
    for total in (20, 2000):
        _bulk_jobs(company_id, author_id, total - done, status=J.PUBLISHED, terms=terms)
        _bulk_jobs(company_id, author_id, total - done, status=J.PENDING_REVIEW, terms=terms)
        done = total
        db.session.flush()
        counts[total] = (_count_queries(lambda: _render_board(expert, viewer)),  # noqa: B023
                         _count_queries(_render_queue))
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Job)) == 4000
    assert counts[20] == counts[2000], counts
    assert counts[20][0] <= 6
