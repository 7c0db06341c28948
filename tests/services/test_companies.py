"""Step 1 for companies: every transition and change, allowed and refused, per actor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.exceptions import InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from app.extensions import db
from app.models import (
    AuditEvent,
    CatalogKind,
    CompanyInvitation,
    CompanyRole,
    Document,
    DocumentKind,
    DocumentReview,
    EmailMessage,
    Notification,
    OutboxMessage,
    PaymentMethod,
    Role,
    User,
    VerificationStatus,
)
from app.services import companies, uploads
from tests import factories

S = VerificationStatus


def ready_company(status: S = S.DRAFT, *, with_document: bool = True):
    """A company with every required field, an owner, and (optionally) a registration certificate."""
    industry = factories.term(CatalogKind.INDUSTRY, name="Injection molding")
    company = factories.company(status=status, industry_id=industry.id, payment_method=PaymentMethod.BANK_TRANSFER)
    owner = factories.company_user(company)
    member = factories.company_user(company, owner=False)
    if with_document:
        factories.document(company, uploaded_by=owner)
    return company, owner, member


def actions(entity_id: int, prefix: str = "company.") -> list[str]:
    return list(
        db.session.scalars(
            sa.select(AuditEvent.action)
            .where(AuditEvent.entity_id == entity_id, AuditEvent.action.startswith(prefix))
            .order_by(AuditEvent.id)
        )
    )


def notes(user: User) -> list[Notification]:
    return list(db.session.scalars(
        sa.select(Notification).where(Notification.user_id == user.id).order_by(Notification.id)))


def upload(name: str = "register.pdf", data: bytes | None = None) -> uploads.Upload:
    return uploads.Upload(name, data if data is not None else factories.pdf_bytes())


# update_company ------------------------------------------------------------------------------


def test_owner_saves_a_draft_and_the_change_is_audited(app):
    company, owner, _ = ready_company()
    companies.update_company(company.id, actor=owner, name="  Acme   Plastics ", phone="+49 30 123")
    assert company.name == "Acme Plastics"
    assert company.phone == "+49 30 123"
    event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "company.updated")).one()
    assert event.data == {"fields": ["name", "phone"]}


def test_draft_may_be_saved_incomplete(app):
    company, owner, _ = ready_company()
    companies.update_company(company.id, actor=owner, legal_name="", address="")
    assert company.legal_name == "" and "Legal name" in companies.missing_for_submit(company)


def test_update_refused_for_member_admin_and_strangers(app):
    company, _owner, member = ready_company()
    with pytest.raises(PermissionDenied, match="Only an owner"):
        companies.update_company(company.id, actor=member, name="X")
    with pytest.raises(PermissionDenied):
        companies.update_company(company.id, actor=factories.admin(), name="X")
    with pytest.raises(NotFound):
        companies.update_company(company.id, actor=factories.company_user(factories.company()), name="X")
    with pytest.raises(NotFound):
        companies.update_company(company.id, actor=factories.expert().user, name="X")
    with pytest.raises(NotFound):
        companies.update_company(123_456, actor=factories.admin(), name="X")
    assert company.name != "X"


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (S.PENDING_VERIFICATION, "under review; you can edit it again if the hub asks for more information"),
        (S.APPROVED, "is verified"),
        (S.REJECTED, "could not be verified"),
        (S.SUSPENDED, "is suspended"),
    ],
)
def test_update_refused_outside_draft_and_info_requested(app, status, message):
    company, owner, _ = ready_company(status)
    with pytest.raises(PermissionDenied, match=message):
        companies.update_company(company.id, actor=owner, name="Changed")
    assert company.name != "Changed"


def test_update_allowed_when_info_requested(app):
    company, owner, _ = ready_company(S.INFO_REQUESTED)
    companies.update_company(company.id, actor=owner, vat_id="DE999")
    assert company.vat_id == "DE999"


def test_update_validates_values(app):
    company, owner, _ = ready_company()
    with pytest.raises(ValidationFailed, match="country"):
        companies.update_company(company.id, actor=owner, country="XX")
    with pytest.raises(ValidationFailed, match="name cannot be empty"):
        companies.update_company(company.id, actor=owner, name="  ")
    skill = factories.term(CatalogKind.SKILL)
    with pytest.raises(ValidationFailed, match="industry"):
        companies.update_company(company.id, actor=owner, industry_id=skill.id)
    retired = factories.term(CatalogKind.INDUSTRY, retired_at=datetime.now(UTC))
    with pytest.raises(ValidationFailed, match="no longer offered"):
        companies.update_company(company.id, actor=owner, industry_id=retired.id)
    with pytest.raises(ValidationFailed, match="too long"):
        companies.update_company(company.id, actor=owner, phone="1" * 41)
    companies.update_company(company.id, actor=owner, country="at", website="molder.example")
    assert company.country == "AT" and company.website == "https://molder.example"


# documents ---------------------------------------------------------------------------------


def test_owner_uploads_a_document(app, storage_dir):
    company, owner, _ = ready_company(with_document=False)
    doc = companies.add_company_document(
        company.id, actor=owner, kind=DocumentKind.REGISTRATION_CERTIFICATE, upload=upload("../HRB 123.pdf")
    )
    assert doc.original_name == "HRB 123.pdf"
    assert doc.company_id == company.id and doc.review is DocumentReview.PENDING
    assert doc.storage_key.startswith(f"companies/{company.id}/kyc/")
    assert (Path(storage_dir) / doc.storage_key).is_file()
    assert "document.uploaded" in actions(doc.id, "document.")
    assert companies.missing_for_submit(company) == []


def test_upload_refused_for_member_strangers_and_wrong_state(app, storage_dir):
    company, _owner, member = ready_company(with_document=False)
    with pytest.raises(PermissionDenied):
        companies.add_company_document(company.id, actor=member, kind=DocumentKind.VAT_CERTIFICATE, upload=upload())
    with pytest.raises(NotFound):
        companies.add_company_document(
            company.id, actor=factories.company_user(factories.company()), kind=DocumentKind.VAT_CERTIFICATE,
            upload=upload(),
        )
    with pytest.raises(ValidationFailed, match="kind of document"):
        companies.add_company_document(company.id, actor=_owner, kind=DocumentKind.CV, upload=upload())
    pending, pending_owner, _ = ready_company(S.PENDING_VERIFICATION, with_document=False)
    with pytest.raises(PermissionDenied, match="under review"):
        companies.add_company_document(
            pending.id, actor=pending_owner, kind=DocumentKind.VAT_CERTIFICATE, upload=upload()
        )
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Document)) == 0
    assert [p for p in Path(storage_dir).rglob("*") if p.is_file()] == []


def test_bad_upload_keeps_what_was_saved(app, storage_dir):
    company, owner, _ = ready_company(with_document=False)
    good = companies.add_company_document(
        company.id, actor=owner, kind=DocumentKind.REGISTRATION_CERTIFICATE, upload=upload()
    )
    with pytest.raises(uploads.UploadRejected):
        companies.add_company_document(
            company.id, actor=owner, kind=DocumentKind.VAT_CERTIFICATE, upload=upload("vat.pdf", b"<html></html>")
        )
    db.session.expire_all()
    assert [d.id for d in companies.active_documents(company)] == [good.id]
    assert len([p for p in Path(storage_dir).rglob("*") if p.is_file()]) == 1


def test_failed_transaction_leaves_no_blob_and_no_row(app, storage_dir):
    company, owner, _ = ready_company(with_document=False)

    def fail_commit(session):
        raise RuntimeError("database went away")

    sa.event.listen(Session, "before_commit", fail_commit)
    try:
        with pytest.raises(RuntimeError, match="database went away"):
            companies.add_company_document(
                company.id, actor=owner, kind=DocumentKind.REGISTRATION_CERTIFICATE, upload=upload()
            )
    finally:
        sa.event.remove(Session, "before_commit", fail_commit)
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Document)) == 0
    assert [p for p in Path(storage_dir).rglob("*") if p.is_file()] == []


def test_owner_removes_a_document_but_the_row_stays(app):
    company, owner, member = ready_company()
    doc = companies.active_documents(company)[0]
    with pytest.raises(PermissionDenied):
        companies.remove_document(doc.id, actor=member)
    with pytest.raises(NotFound):
        companies.remove_document(doc.id, actor=factories.company_user(factories.company()))
    companies.remove_document(doc.id, actor=owner)
    assert doc.removed_at is not None
    assert companies.active_documents(company) == []
    assert db.session.get(Document, doc.id) is not None
    with pytest.raises(NotFound):
        companies.remove_document(doc.id, actor=owner)
    assert "Registration certificate (certificate of incorporation)" in companies.missing_for_submit(company)[-1]


def test_accepted_document_cannot_be_removed(app):
    company, owner, _ = ready_company(S.INFO_REQUESTED)
    doc = companies.active_documents(company)[0]
    doc.review = DocumentReview.ACCEPTED
    with pytest.raises(PermissionDenied, match="already accepted"):
        companies.remove_document(doc.id, actor=owner)


def test_remove_refused_while_under_review(app):
    company, owner, _ = ready_company(S.PENDING_VERIFICATION)
    with pytest.raises(PermissionDenied, match="under review"):
        companies.remove_document(companies.active_documents(company)[0].id, actor=owner)


# submit ------------------------------------------------------------------------------------------


def test_owner_submits_a_complete_company_and_staff_are_notified(app):
    company, owner, _ = ready_company()
    admin = factories.admin()
    other_admin = factories.admin()
    companies.submit_company(company.id, actor=owner)
    assert company.status is S.PENDING_VERIFICATION
    assert company.submitted_at is not None
    assert actions(company.id) == ["company.pending_verification"]
    for staff in (admin, other_admin):
        assert [n.kind for n in notes(staff)] == ["company.submitted"]
        assert notes(staff)[0].params == {"company": company.name}
    assert notes(owner) == []


def test_submit_lists_what_is_missing(app):
    company, owner, _ = ready_company(with_document=False)
    company.legal_name = ""
    company.industry_id = None
    company.payment_method = None
    with pytest.raises(ValidationFailed) as exc:
        companies.submit_company(company.id, actor=owner)
    message = str(exc.value)
    for missing in ("Legal name", "Industry", "Preferred payment method", "Registration certificate"):
        assert missing in message
    assert company.status is S.DRAFT
    assert actions(company.id) == []


def test_rejected_document_does_not_count(app):
    company, owner, _ = ready_company()
    companies.active_documents(company)[0].review = DocumentReview.REJECTED
    with pytest.raises(ValidationFailed, match="Registration certificate"):
        companies.submit_company(company.id, actor=owner)


def test_submit_refused_for_member_admin_and_strangers(app):
    company, _owner, member = ready_company()
    with pytest.raises(PermissionDenied, match="Only an owner"):
        companies.submit_company(company.id, actor=member)
    with pytest.raises(PermissionDenied):
        companies.submit_company(company.id, actor=factories.admin())
    with pytest.raises(NotFound):
        companies.submit_company(company.id, actor=factories.company_user(factories.company()))
    with pytest.raises(NotFound):
        companies.submit_company(company.id, actor=factories.expert().user)
    assert company.status is S.DRAFT


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (S.PENDING_VERIFICATION, "already submitted and is waiting"),
        (S.APPROVED, "already verified"),
        (S.REJECTED, "cannot be submitted again"),
        (S.SUSPENDED, "suspended"),
    ],
)
def test_submit_refused_from_other_states(app, status, message):
    company, owner, _ = ready_company(status)
    with pytest.raises(InvalidTransition, match=message):
        companies.submit_company(company.id, actor=owner)
    assert company.status is status


def test_resubmit_after_info_request_keeps_the_answer(app):
    company, owner, _ = ready_company(S.INFO_REQUESTED)
    companies.submit_company(company.id, actor=owner, answer="  The VAT certificate is attached now. ")
    assert company.status is S.PENDING_VERIFICATION
    event = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "company.pending_verification")
    ).one()
    assert event.from_state == "info_requested"
    assert event.data == {"resubmission": True, "answer": "The VAT certificate is attached now."}


# staff decisions ------------------------------------------------------------------------------


def test_admin_approves_and_pending_documents_are_accepted(app):
    company, owner, member = ready_company(S.PENDING_VERIFICATION)
    admin = factories.admin()
    companies.approve_company(company.id, actor=admin, note="All good")
    assert company.status is S.APPROVED
    assert company.decided_by_id == admin.id and company.decided_at is not None
    assert company.status_note == "All good"
    doc = companies.active_documents(company)[0]
    assert doc.review is DocumentReview.ACCEPTED and doc.reviewed_by_id == admin.id
    assert [n.kind for n in notes(owner)] == ["company.approved"]
    assert notes(member) == []  # verification news goes to the owners
    assert actions(company.id) == ["company.approved"]
    assert "document.accepted" in actions(doc.id, "document.")


def test_approve_needs_an_acceptable_registration_certificate(app):
    company, _owner, _ = ready_company(S.PENDING_VERIFICATION, with_document=False)
    with pytest.raises(ValidationFailed, match="missing or was rejected"):
        companies.approve_company(company.id, actor=factories.admin())
    assert company.status is S.PENDING_VERIFICATION


@pytest.mark.parametrize(
    ("func", "kwargs"),
    [
        (companies.approve_company, {}),
        (companies.reject_company, {"reason": "Fake papers"}),
        (companies.request_company_info, {"question": "Send the VAT certificate"}),
    ],
)
def test_only_staff_decide(app, func, kwargs):
    company, owner, member = ready_company(S.PENDING_VERIFICATION)
    for actor in (owner, member, factories.company_user(factories.company()), factories.expert().user):
        with pytest.raises(PermissionDenied, match="hub staff"):
            func(company.id, actor=actor, **kwargs)
    suspended_admin = factories.admin(suspended_at=datetime.now(UTC))
    with pytest.raises(PermissionDenied):
        func(company.id, actor=suspended_admin, **kwargs)
    with pytest.raises(NotFound):
        func(987_654, actor=factories.admin(), **kwargs)
    assert company.status is S.PENDING_VERIFICATION


@pytest.mark.parametrize("status", [S.DRAFT, S.INFO_REQUESTED, S.APPROVED, S.REJECTED, S.SUSPENDED])
def test_decisions_only_while_pending(app, status):
    company, _owner, _ = ready_company(status)
    admin = factories.admin()
    with pytest.raises(InvalidTransition):
        companies.approve_company(company.id, actor=admin)
    with pytest.raises(InvalidTransition):
        companies.reject_company(company.id, actor=admin, reason="No")
    with pytest.raises(InvalidTransition):
        companies.request_company_info(company.id, actor=admin, question="Why?")
    assert company.status is status


def test_admin_rejects_with_a_reason(app):
    company, owner, _ = ready_company(S.PENDING_VERIFICATION)
    admin = factories.admin()
    with pytest.raises(ValidationFailed, match="reason"):
        companies.reject_company(company.id, actor=admin, reason="   ")
    companies.reject_company(company.id, actor=admin, reason="The register extract is for another company.")
    assert company.status is S.REJECTED
    assert company.status_note == "The register extract is for another company."
    (note,) = notes(owner)
    assert note.kind == "company.rejected"
    assert note.params["reason"] == "The register extract is for another company."


def test_admin_requests_information_and_the_company_can_edit_again(app):
    company, owner, _ = ready_company(S.PENDING_VERIFICATION)
    admin = factories.admin()
    with pytest.raises(ValidationFailed, match="question"):
        companies.request_company_info(company.id, actor=admin, question="")
    companies.request_company_info(company.id, actor=admin, question="Please upload the VAT certificate.")
    assert company.status is S.INFO_REQUESTED
    assert company.status_note == "Please upload the VAT certificate."
    assert [n.kind for n in notes(owner)] == ["company.info_requested"]
    companies.add_company_document(company.id, actor=owner, kind=DocumentKind.VAT_CERTIFICATE, upload=upload())
    companies.submit_company(company.id, actor=owner)
    assert company.status is S.PENDING_VERIFICATION


def test_suspend_and_reinstate(app):
    company, owner, member = ready_company(S.APPROVED)
    admin = factories.admin()
    with pytest.raises(PermissionDenied):
        companies.suspend_company(company.id, actor=owner, reason="x")
    with pytest.raises(ValidationFailed):
        companies.suspend_company(company.id, actor=admin, reason="")
    companies.suspend_company(company.id, actor=admin, reason="Unpaid invoices")
    assert company.status is S.SUSPENDED and company.status_note == "Unpaid invoices"
    assert owner.suspended_at is None and member.suspended_at is None  # nothing else is suspended
    from app import policies

    assert not policies.can_post_jobs(owner, company)
    with pytest.raises(InvalidTransition):
        companies.suspend_company(company.id, actor=admin, reason="again")
    with pytest.raises(PermissionDenied):
        companies.reinstate_company(company.id, actor=member)
    companies.reinstate_company(company.id, actor=admin, note="Paid")
    assert company.status is S.APPROVED
    assert policies.can_post_jobs(owner, company)
    assert [n.kind for n in notes(owner)] == ["company.suspended", "company.reinstated"]
    assert actions(company.id) == ["company.suspended", "company.approved"]
    with pytest.raises(InvalidTransition):
        companies.reinstate_company(company.id, actor=admin)


@pytest.mark.parametrize("status", [S.DRAFT, S.PENDING_VERIFICATION, S.INFO_REQUESTED, S.REJECTED])
def test_suspend_only_approved(app, status):
    company, _owner, _ = ready_company(status)
    with pytest.raises(InvalidTransition):
        companies.suspend_company(company.id, actor=factories.admin(), reason="x")


# document review -------------------------------------------------------------------------------


def test_admin_accepts_one_document(app):
    company, owner, _ = ready_company(S.PENDING_VERIFICATION)
    doc = companies.active_documents(company)[0]
    admin = factories.admin()
    companies.review_document(doc.id, actor=admin, accepted=True, note="Matches the register")
    assert doc.review is DocumentReview.ACCEPTED
    assert doc.reviewed_by_id == admin.id and doc.reviewed_at is not None
    assert doc.review_note == "Matches the register"
    assert notes(owner) == []


def test_admin_rejects_one_document_with_a_note_and_the_owner_is_told(app):
    company, owner, _ = ready_company(S.PENDING_VERIFICATION)
    doc = companies.active_documents(company)[0]
    admin = factories.admin()
    with pytest.raises(ValidationFailed, match="why"):
        companies.review_document(doc.id, actor=admin, accepted=False)
    companies.review_document(doc.id, actor=admin, accepted=False, note="Unreadable scan")
    assert doc.review is DocumentReview.REJECTED and doc.review_note == "Unreadable scan"
    (note,) = notes(owner)
    assert note.kind == "document.rejected"
    assert note.params == {"name": doc.original_name, "reason": "Unreadable scan"}
    event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "document.rejected")).one()
    assert (event.from_state, event.to_state, event.actor_id) == ("pending", "rejected", admin.id)


def test_review_refused_for_non_staff_and_outside_review(app):
    company, owner, _ = ready_company(S.PENDING_VERIFICATION)
    doc = companies.active_documents(company)[0]
    with pytest.raises(PermissionDenied):
        companies.review_document(doc.id, actor=owner, accepted=True)
    draft, _draft_owner, _ = ready_company(S.DRAFT)
    with pytest.raises(PermissionDenied, match="under verification"):
        companies.review_document(companies.active_documents(draft)[0].id, actor=factories.admin(), accepted=True)
    with pytest.raises(NotFound):
        companies.review_document(424_242, actor=factories.admin(), accepted=True)


def test_review_of_an_expert_document_notifies_the_expert(app):
    expert = factories.expert(S.PENDING_VERIFICATION)
    doc = factories.document(expert, uploaded_by=expert.user)
    companies.review_document(doc.id, actor=factories.admin(), accepted=False, note="Please send a newer CV")
    assert [n.kind for n in notes(expert.user)] == ["document.rejected"]


# invitations -------------------------------------------------------------------------------------


def invitation_link(email: str) -> str:
    message = db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.topic == "email.direct").order_by(OutboxMessage.id.desc())
    ).first()
    assert message is not None and message.payload["to"] == email
    return str(message.payload["params"]["link"])


def test_owner_invites_a_colleague_by_email(app):
    company, owner, _ = ready_company()
    invitation = companies.invite_member(company.id, actor=owner, email=" Colleague@Molder.example ")
    assert invitation.email == "colleague@molder.example"
    assert invitation.expires_at - datetime.now(UTC) > timedelta(days=6, hours=23)
    link = invitation_link("colleague@molder.example")
    assert link.startswith("/company/invitations/")
    token = link.rsplit("/", 1)[1]
    assert invitation.token_hash != token and len(invitation.token_hash) == 64  # only the hash is stored
    assert companies.find_invitation(token).id == invitation.id
    email = db.session.scalars(sa.select(EmailMessage).where(EmailMessage.to_address == invitation.email)).one()
    assert company.name in email.subject and owner.full_name in email.subject
    assert "http://localhost/company/invitations/" + token in email.body_text
    assert "7 days" in email.body_text


def test_invitation_refusals(app):
    company, owner, member = ready_company()
    with pytest.raises(PermissionDenied, match="Only an owner"):
        companies.invite_member(company.id, actor=member, email="x@example.test")
    with pytest.raises(NotFound):
        companies.invite_member(company.id, actor=factories.company_user(factories.company()), email="x@e.test")
    with pytest.raises(ValidationFailed, match="valid e-mail"):
        companies.invite_member(company.id, actor=owner, email="not an email")
    with pytest.raises(ValidationFailed, match="already has an account"):
        companies.invite_member(company.id, actor=owner, email=member.email.upper())
    suspended, suspended_owner, _ = ready_company(S.SUSPENDED)
    with pytest.raises(PermissionDenied, match="suspended"):
        companies.invite_member(suspended.id, actor=suspended_owner, email="y@example.test")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CompanyInvitation)) == 0


def test_inviting_again_replaces_the_open_invitation(app):
    company, owner, _ = ready_company()
    first = companies.invite_member(company.id, actor=owner, email="c@example.test")
    old_token = invitation_link("c@example.test").rsplit("/", 1)[1]
    second = companies.invite_member(company.id, actor=owner, email="c@example.test")
    assert first.revoked_at is not None and second.revoked_at is None
    assert companies.find_invitation(old_token) is None
    assert [i.id for i in companies.open_invitations(company)] == [second.id]


def test_accepting_creates_a_verified_member_and_tells_the_owner(app):
    company, owner, _ = ready_company()
    companies.invite_member(company.id, actor=owner, email="new@example.test")
    token = invitation_link("new@example.test").rsplit("/", 1)[1]
    user = companies.accept_invitation(token, full_name=" Nina  Neu ", password="granite ladder sunrise kettle")
    assert user.role is Role.COMPANY and user.company_id == company.id
    assert user.company_role is CompanyRole.MEMBER
    assert user.full_name == "Nina Neu"
    assert user.email_verified_at is not None
    assert user.password_hash.startswith("$argon2id$")
    (note,) = notes(owner)
    assert note.kind == "member.joined" and note.params == {"name": "Nina Neu", "company": company.name}
    with pytest.raises(NotFound, match="not valid any more"):
        companies.accept_invitation(token, full_name="Again", password="granite ladder sunrise kettle")


def test_accept_refusals(app):
    company, owner, _ = ready_company()
    invitation = companies.invite_member(company.id, actor=owner, email="new@example.test")
    token = invitation_link("new@example.test").rsplit("/", 1)[1]
    with pytest.raises(ValidationFailed, match="12 characters"):
        companies.accept_invitation(token, full_name="Nina", password="short")
    with pytest.raises(ValidationFailed, match="name"):
        companies.accept_invitation(token, full_name="  ", password="granite ladder sunrise kettle")
    with pytest.raises(NotFound):
        companies.accept_invitation("wrong-token", full_name="Nina", password="granite ladder sunrise kettle")
    invitation.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    with pytest.raises(NotFound):
        companies.accept_invitation(token, full_name="Nina", password="granite ladder sunrise kettle")
    assert db.session.scalar(sa.select(User).where(User.email == "new@example.test")) is None


def test_revoke(app):
    company, owner, member = ready_company()
    invitation = companies.invite_member(company.id, actor=owner, email="new@example.test")
    token = invitation_link("new@example.test").rsplit("/", 1)[1]
    with pytest.raises(PermissionDenied):
        companies.revoke_invitation(invitation.id, actor=member)
    with pytest.raises(NotFound):
        companies.revoke_invitation(invitation.id, actor=factories.company_user(factories.company()))
    with pytest.raises(NotFound):
        companies.revoke_invitation(invitation.id, actor=factories.expert().user)
    companies.revoke_invitation(invitation.id, actor=owner)
    assert invitation.revoked_at is not None
    with pytest.raises(ValidationFailed, match="already revoked"):
        companies.revoke_invitation(invitation.id, actor=owner)
    with pytest.raises(NotFound):
        companies.accept_invitation(token, full_name="Nina", password="granite ladder sunrise kettle")


def test_checklist_follows_progress(app):
    company, owner, _ = ready_company(with_document=False)
    items = companies.checklist(company)
    assert [i.done for i in items] == [True, False, False, False]
    companies.add_company_document(
        company.id, actor=owner, kind=DocumentKind.REGISTRATION_CERTIFICATE, upload=upload()
    )
    companies.submit_company(company.id, actor=owner)
    assert [i.done for i in companies.checklist(company)] == [True, True, True, False]


def test_link_paths_match_the_routes(app):
    from flask import url_for

    with app.test_request_context():
        assert url_for("company.home") == companies.COMPANY_HOME_PATH
        assert url_for("company.documents") == companies.COMPANY_DOCUMENTS_PATH
        assert url_for("company.members") == companies.COMPANY_MEMBERS_PATH
        assert url_for("expert.home") == companies.EXPERT_HOME_PATH
        assert url_for("expert.documents") == companies.EXPERT_DOCUMENTS_PATH
        assert url_for("admin.index") == companies.ADMIN_HOME_PATH
        assert url_for("company.accept_invitation", token="abc") == companies.INVITATION_PATH.format(token="abc")


@pytest.mark.parametrize("status", [S.DRAFT, S.PENDING_VERIFICATION, S.INFO_REQUESTED, S.APPROVED, S.REJECTED])
def test_reinstate_only_suspended(app, status):
    company, _owner, _ = ready_company(status)
    with pytest.raises(InvalidTransition, match="Only a suspended company can be reinstated"):
        companies.reinstate_company(company.id, actor=factories.admin())
    assert company.status is status
