"""Step 1 for experts: every transition and change, allowed and refused, per actor."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from app import policies
from app.exceptions import InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from app.extensions import db
from app.models import (
    AuditEvent,
    CatalogKind,
    DocumentKind,
    DocumentReview,
    EmployerRelation,
    ExpertiseLevel,
    ExpertLanguage,
    ExpertSkill,
    LanguageProficiency,
    Notification,
    User,
    VerificationStatus,
)
from app.services import experts, uploads
from tests import factories

S = VerificationStatus


def ready_expert(status: S = S.DRAFT, *, with_cv: bool = True):
    """An expert with every required field, a skill, a language and (optionally) a CV."""
    expert = factories.expert(status)
    skill = factories.term(CatalogKind.SKILL, name="Scientific molding")
    expert.skills.append(ExpertSkill(term_id=skill.id, level=ExpertiseLevel.SENIOR, term=skill))
    expert.languages.append(ExpertLanguage(code="de", proficiency=LanguageProficiency.NATIVE))
    db.session.flush()
    if with_cv:
        factories.document(expert, uploaded_by=expert.user, name="cv.pdf")
    return expert


def notes(user: User) -> list[Notification]:
    return list(db.session.scalars(
        sa.select(Notification).where(Notification.user_id == user.id).order_by(Notification.id)))


def others() -> list[User]:
    """Actors who are not the expert and not staff."""
    company = factories.company()
    return [factories.company_user(company), factories.company_user(company, owner=False), factories.expert().user]


def pdf(name: str = "cv.pdf") -> uploads.Upload:
    return uploads.Upload(name, factories.pdf_bytes(metadata={"/Author": "Real Name CANARY"}))


# profile ----------------------------------------------------------------------------------------


def test_expert_saves_a_draft_profile(app):
    expert = factories.expert(S.DRAFT, headline="", summary="")
    experts.update_expert(expert.id, actor=expert.user, headline="  Mold   flow expert ", years_experience=12,
                          day_rate_minor=85000, currency="chf", country="ch", timezone="Europe/Zurich",
                          available_from=date(2030, 1, 1), capacity_days_per_week=3)
    assert expert.headline == "Mold flow expert"
    assert (expert.currency, expert.country, expert.timezone) == ("CHF", "CH", "Europe/Zurich")
    assert expert.day_rate_minor == 85000 and expert.capacity_days_per_week == 3
    event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "expert.updated")).one()
    assert "headline" in event.data["fields"] and "currency" in event.data["fields"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"years_experience": 71}, "between 0 and 70"),
        ({"capacity_days_per_week": 8}, "0 and 7"),
        ({"day_rate_minor": 0}, "above zero"),
        ({"currency": "XYZ"}, "currency"),
        ({"country": "QQ"}, "country"),
        ({"timezone": "Mars/Olympus"}, "time zone"),
        ({"headline": "x" * 161}, "too long"),
    ],
)
def test_profile_values_are_validated(app, fields, message):
    expert = factories.expert(S.DRAFT)
    with pytest.raises(ValidationFailed, match=message):
        experts.update_expert(expert.id, actor=expert.user, **fields)


def test_profile_refused_for_others(app):
    expert = factories.expert(S.DRAFT)
    for actor in others():
        with pytest.raises(NotFound):
            experts.update_expert(expert.id, actor=actor, headline="Hijacked")
    with pytest.raises(PermissionDenied, match="Only the expert"):
        experts.update_expert(expert.id, actor=factories.admin(), headline="Hijacked")
    assert expert.headline != "Hijacked"


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (S.PENDING_VERIFICATION, "under review; you can edit it again if the hub asks for more information"),
        (S.REJECTED, "could not be verified"),
        (S.SUSPENDED, "suspended"),
    ],
)
def test_profile_locked_outside_draft_and_info_requested(app, status, message):
    expert = factories.expert(status)
    with pytest.raises(PermissionDenied, match=message):
        experts.update_expert(expert.id, actor=expert.user, headline="Changed")
    with pytest.raises(PermissionDenied, match=message):
        experts.update_expert(expert.id, actor=expert.user, capacity_days_per_week=1)


def test_approved_expert_updates_availability_only(app):
    expert = factories.expert(S.APPROVED)
    experts.update_expert(expert.id, actor=expert.user, available_from=date(2031, 5, 1), capacity_days_per_week=2,
                          headline=expert.headline)  # unchanged values are fine
    assert expert.available_from == date(2031, 5, 1) and expert.capacity_days_per_week == 2
    with pytest.raises(PermissionDenied, match="verified"):
        experts.update_expert(expert.id, actor=expert.user, day_rate_minor=1)


# skills, languages, employers ------------------------------------------------------------------


def test_set_skills_replaces_and_updates_levels(app):
    expert = factories.expert(S.DRAFT)
    title = factories.term(CatalogKind.JOB_TITLE, name="Process engineer")
    skill = factories.term(CatalogKind.SKILL, name="DOE")
    material = factories.term(CatalogKind.MATERIAL, name="PEEK")
    experts.set_expert_skills(expert.id, actor=expert.user,
                              items=[(title.id, ExpertiseLevel.SENIOR), (skill.id, ExpertiseLevel.JUNIOR)])
    assert {(s.term_id, s.level) for s in expert.skills} == {(title.id, ExpertiseLevel.SENIOR),
                                                             (skill.id, ExpertiseLevel.JUNIOR)}
    experts.set_expert_skills(expert.id, actor=expert.user,
                              items=[(skill.id, ExpertiseLevel.PRINCIPAL), (material.id, ExpertiseLevel.SENIOR)])
    db.session.expire_all()
    assert {(s.term_id, s.level) for s in expert.skills} == {(skill.id, ExpertiseLevel.PRINCIPAL),
                                                             (material.id, ExpertiseLevel.SENIOR)}


def test_set_skills_refusals(app):
    expert = factories.expert(S.DRAFT)
    industry = factories.term(CatalogKind.INDUSTRY)
    skill = factories.term(CatalogKind.SKILL)
    retired = factories.term(CatalogKind.SKILL, retired_at=datetime.now(UTC))
    with pytest.raises(ValidationFailed, match="from the list"):
        experts.set_expert_skills(expert.id, actor=expert.user, items=[(industry.id, ExpertiseLevel.SENIOR)])
    with pytest.raises(ValidationFailed, match="from the list"):
        experts.set_expert_skills(expert.id, actor=expert.user, items=[(999_999, ExpertiseLevel.SENIOR)])
    with pytest.raises(ValidationFailed, match="only once"):
        experts.set_expert_skills(expert.id, actor=expert.user,
                                  items=[(skill.id, ExpertiseLevel.SENIOR), (skill.id, ExpertiseLevel.JUNIOR)])
    with pytest.raises(ValidationFailed, match="no longer offered"):
        experts.set_expert_skills(expert.id, actor=expert.user, items=[(retired.id, ExpertiseLevel.SENIOR)])
    for actor in others():
        with pytest.raises(NotFound):
            experts.set_expert_skills(expert.id, actor=actor, items=[(skill.id, ExpertiseLevel.SENIOR)])
    pending = factories.expert(S.PENDING_VERIFICATION)
    with pytest.raises(PermissionDenied, match="under review"):
        experts.set_expert_skills(pending.id, actor=pending.user, items=[(skill.id, ExpertiseLevel.SENIOR)])
    assert expert.skills == []


def test_set_languages(app):
    expert = factories.expert(S.DRAFT)
    experts.set_expert_languages(expert.id, actor=expert.user,
                                 items=[("de", LanguageProficiency.NATIVE), ("EN", LanguageProficiency.C1)])
    assert {(lang.code, lang.proficiency) for lang in expert.languages} == {
        ("de", LanguageProficiency.NATIVE), ("en", LanguageProficiency.C1)}
    experts.set_expert_languages(expert.id, actor=expert.user, items=[("en", LanguageProficiency.C2)])
    db.session.expire_all()
    assert [(lang.code, lang.proficiency) for lang in expert.languages] == [("en", LanguageProficiency.C2)]
    with pytest.raises(ValidationFailed, match="from the list"):
        experts.set_expert_languages(expert.id, actor=expert.user, items=[("xx", LanguageProficiency.A1)])
    with pytest.raises(ValidationFailed, match="only once"):
        experts.set_expert_languages(expert.id, actor=expert.user,
                                     items=[("fr", LanguageProficiency.A1), ("fr", LanguageProficiency.B1)])
    with pytest.raises(PermissionDenied):
        experts.set_expert_languages(expert.id, actor=factories.admin(), items=[])


def test_set_employers_stays_open_after_approval(app):
    expert = factories.expert(S.APPROVED)
    experts.set_expert_employers(
        expert.id, actor=expert.user,
        items=[(" Acme  Molding ", EmployerRelation.CURRENT), ("acme molding", EmployerRelation.CURRENT),
               ("Polymer AG", EmployerRelation.FORMER)],
    )
    assert [(e.name, e.relation) for e in expert.employers] == [
        ("Acme Molding", EmployerRelation.CURRENT), ("Polymer AG", EmployerRelation.FORMER)]
    with pytest.raises(ValidationFailed, match="name"):
        experts.set_expert_employers(expert.id, actor=expert.user, items=[("  ", EmployerRelation.FORMER)])
    rejected = factories.expert(S.REJECTED)
    with pytest.raises(PermissionDenied):
        experts.set_expert_employers(rejected.id, actor=rejected.user, items=[("X", EmployerRelation.FORMER)])
    for actor in others():
        with pytest.raises(NotFound):
            experts.set_expert_employers(expert.id, actor=actor, items=[])


# documents ------------------------------------------------------------------------------------------


def test_expert_uploads_a_cv_and_metadata_is_stripped(app):
    from app.integrations.storage import get_storage

    expert = factories.expert(S.DRAFT)
    doc = experts.add_expert_document(expert.id, actor=expert.user, kind=DocumentKind.CV, upload=pdf())
    assert doc.expert_id == expert.id and doc.company_id is None
    assert doc.storage_key.startswith(f"experts/{expert.id}/docs/")
    assert b"CANARY" not in get_storage().get(doc.storage_key)


def test_cv_must_be_a_pdf_but_identity_may_be_an_image(app):
    expert = factories.expert(S.DRAFT)
    image = uploads.Upload("id.png", factories.image_bytes("PNG"))
    with pytest.raises(uploads.UploadRejected, match="only PDF is accepted"):
        experts.add_expert_document(expert.id, actor=expert.user, kind=DocumentKind.CV, upload=image)
    doc = experts.add_expert_document(expert.id, actor=expert.user, kind=DocumentKind.IDENTITY, upload=image)
    assert doc.content_type == "image/png"
    with pytest.raises(ValidationFailed, match="kind of document"):
        experts.add_expert_document(expert.id, actor=expert.user, kind=DocumentKind.VAT_CERTIFICATE, upload=pdf())


def test_document_upload_and_removal_refusals(app):
    expert = ready_expert(S.DRAFT)
    doc = experts.active_documents(expert)[0]
    for actor in others():
        with pytest.raises(NotFound):
            experts.add_expert_document(expert.id, actor=actor, kind=DocumentKind.CV, upload=pdf())
        with pytest.raises(NotFound):
            experts.remove_expert_document(doc.id, actor=actor)
    with pytest.raises(NotFound):  # staff do not remove experts' documents
        experts.remove_expert_document(doc.id, actor=factories.admin())
    experts.remove_expert_document(doc.id, actor=expert.user)
    assert doc.removed_at is not None and experts.active_documents(expert) == []
    pending = ready_expert(S.PENDING_VERIFICATION)
    with pytest.raises(PermissionDenied, match="under review"):
        experts.remove_expert_document(experts.active_documents(pending)[0].id, actor=pending.user)
    with pytest.raises(PermissionDenied, match="under review"):
        experts.add_expert_document(pending.id, actor=pending.user, kind=DocumentKind.CV, upload=pdf())


# submit and staff decisions ----------------------------------------------------------------------


def test_expert_submits_and_staff_are_notified(app):
    expert = ready_expert()
    admin = factories.admin()
    experts.submit_expert(expert.id, actor=expert.user)
    assert expert.status is S.PENDING_VERIFICATION and expert.submitted_at is not None
    (note,) = notes(admin)
    assert note.kind == "expert.submitted" and note.params == {"pseudonym": expert.pseudonym}
    assert expert.user.full_name not in str(note.params)


def test_submit_lists_what_is_missing(app):
    expert = factories.expert(S.DRAFT, headline="", day_rate_minor=None, country="")
    with pytest.raises(ValidationFailed) as exc:
        experts.submit_expert(expert.id, actor=expert.user)
    for missing in ("Headline", "Day rate and currency", "Country", "job title or skill", "language", "CV (PDF)"):
        assert missing in str(exc.value)
    assert expert.status is S.DRAFT


def test_a_process_alone_is_not_enough(app):
    expert = ready_expert()
    expert.skills.clear()
    process = factories.term(CatalogKind.PROCESS)
    expert.skills.append(ExpertSkill(term_id=process.id, level=ExpertiseLevel.SENIOR, term=process))
    db.session.flush()
    with pytest.raises(ValidationFailed, match="job title or skill"):
        experts.submit_expert(expert.id, actor=expert.user)


def test_submit_refused_for_others(app):
    expert = ready_expert()
    for actor in others():
        with pytest.raises(NotFound):
            experts.submit_expert(expert.id, actor=actor)
    with pytest.raises(PermissionDenied):
        experts.submit_expert(expert.id, actor=factories.admin())
    assert expert.status is S.DRAFT


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (S.PENDING_VERIFICATION, "already submitted"),
        (S.APPROVED, "already verified"),
        (S.REJECTED, "cannot be submitted again"),
        (S.SUSPENDED, "suspended"),
    ],
)
def test_submit_refused_from_other_states(app, status, message):
    expert = ready_expert(status)
    with pytest.raises(InvalidTransition, match=message):
        experts.submit_expert(expert.id, actor=expert.user)


def test_full_cycle_with_information_request(app):
    expert = ready_expert()
    admin = factories.admin()
    experts.submit_expert(expert.id, actor=expert.user)
    experts.request_expert_info(expert.id, actor=admin, question="Which resins have you processed?")
    assert expert.status is S.INFO_REQUESTED and expert.status_note == "Which resins have you processed?"
    experts.update_expert(expert.id, actor=expert.user, summary="PA66, PEEK and LCP, mostly medical.")
    experts.submit_expert(expert.id, actor=expert.user, answer="Added to my summary.")
    experts.approve_expert(expert.id, actor=admin, note="Strong profile")
    assert expert.status is S.APPROVED
    assert expert.decided_by_id == admin.id and expert.status_note == "Strong profile"
    assert experts.active_documents(expert)[0].review is DocumentReview.ACCEPTED
    assert policies.can_make_offers(expert.user, expert)
    assert [n.kind for n in notes(expert.user)] == ["expert.info_requested", "expert.approved"]
    actions = list(db.session.scalars(
        sa.select(AuditEvent.action).where(AuditEvent.entity == "expert_profiles", AuditEvent.entity_id == expert.id,
                                           AuditEvent.to_state.is_not(None)).order_by(AuditEvent.id)))
    assert actions == ["expert.pending_verification", "expert.info_requested", "expert.pending_verification",
                       "expert.approved"]


def test_reject_needs_a_reason_and_notifies(app):
    expert = ready_expert(S.PENDING_VERIFICATION)
    admin = factories.admin()
    with pytest.raises(ValidationFailed, match="reason"):
        experts.reject_expert(expert.id, actor=admin, reason="")
    experts.reject_expert(expert.id, actor=admin, reason="CV does not show molding experience")
    assert expert.status is S.REJECTED
    (note,) = notes(expert.user)
    assert note.kind == "expert.rejected" and note.params["reason"] == "CV does not show molding experience"


def test_approve_needs_a_cv(app):
    expert = ready_expert(S.PENDING_VERIFICATION, with_cv=False)
    with pytest.raises(ValidationFailed, match="CV is missing"):
        experts.approve_expert(expert.id, actor=factories.admin())


@pytest.mark.parametrize(
    ("func", "kwargs"),
    [
        (experts.approve_expert, {}),
        (experts.reject_expert, {"reason": "No"}),
        (experts.request_expert_info, {"question": "Why?"}),
        (experts.suspend_expert, {"reason": "No"}),
        (experts.reinstate_expert, {}),
    ],
)
def test_only_staff_decide(app, func, kwargs):
    expert = ready_expert(S.PENDING_VERIFICATION)
    for actor in [expert.user, *others()]:
        with pytest.raises(PermissionDenied, match="hub staff"):
            func(expert.id, actor=actor, **kwargs)
    with pytest.raises(NotFound):
        func(888_888, actor=factories.admin(), **kwargs)
    assert expert.status is S.PENDING_VERIFICATION


@pytest.mark.parametrize("status", [S.DRAFT, S.INFO_REQUESTED, S.APPROVED, S.REJECTED, S.SUSPENDED])
def test_decisions_only_while_pending(app, status):
    expert = ready_expert(status)
    admin = factories.admin()
    with pytest.raises(InvalidTransition):
        experts.approve_expert(expert.id, actor=admin)
    with pytest.raises(InvalidTransition):
        experts.reject_expert(expert.id, actor=admin, reason="No")
    with pytest.raises(InvalidTransition):
        experts.request_expert_info(expert.id, actor=admin, question="Why?")
    assert expert.status is status


def test_suspend_and_reinstate(app):
    expert = ready_expert(S.APPROVED)
    admin = factories.admin()
    experts.suspend_expert(expert.id, actor=admin, reason="Complaint under review")
    assert expert.status is S.SUSPENDED and not policies.can_make_offers(expert.user, expert)
    assert expert.user.suspended_at is None
    with pytest.raises(InvalidTransition):
        experts.suspend_expert(expert.id, actor=admin, reason="again")
    experts.reinstate_expert(expert.id, actor=admin)
    assert expert.status is S.APPROVED
    assert [n.kind for n in notes(expert.user)] == ["expert.suspended", "expert.reinstated"]
    with pytest.raises(InvalidTransition, match="Only a suspended expert"):
        experts.reinstate_expert(expert.id, actor=admin)


@pytest.mark.parametrize("status", [S.DRAFT, S.PENDING_VERIFICATION, S.INFO_REQUESTED, S.REJECTED])
def test_suspend_only_approved(app, status):
    expert = ready_expert(status)
    with pytest.raises(InvalidTransition):
        experts.suspend_expert(expert.id, actor=factories.admin(), reason="x")


def test_checklist(app):
    expert = ready_expert(with_cv=False)
    assert [i.done for i in experts.checklist(expert)] == [True, True, True, False, False, False]
    experts.add_expert_document(expert.id, actor=expert.user, kind=DocumentKind.CV, upload=pdf())
    assert experts.missing_for_submit(expert) == []
