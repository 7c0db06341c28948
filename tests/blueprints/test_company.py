"""The company pages through HTTP: access per role, forms keep input, uploads, submission, invitations."""

from __future__ import annotations

import io
import re

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import (
    CatalogKind,
    CompanyInvitation,
    CompanyRole,
    Document,
    DocumentKind,
    Notification,
    OutboxMessage,
    PaymentMethod,
    User,
    VerificationStatus,
)
from app.services import companies
from tests import factories
from tests.conftest import login

S = VerificationStatus

PASSWORD = "quartz meadow lantern orbit"
PAGES = ["/company/", "/company/profile", "/company/documents", "/company/members"]


def setup_company(status: S = S.DRAFT, *, with_document: bool = False):
    industry = factories.term(CatalogKind.INDUSTRY, name="Automotive")
    company = factories.company(status=status, industry_id=industry.id, payment_method=PaymentMethod.CARD)
    owner = factories.company_user(company)
    member = factories.company_user(company, owner=False)
    if with_document:
        factories.document(company, uploaded_by=owner, name="HRB extract.pdf")
    db.session.commit()
    return company, owner, member


def profile_form(company, **changes) -> dict[str, str]:
    data = {
        "name": company.name,
        "legal_name": company.legal_name,
        "registration_number": company.registration_number,
        "vat_id": company.vat_id,
        "country": company.country,
        "address": company.address,
        "industry_id": str(company.industry_id or 0),
        "website": company.website,
        "contact_person": company.contact_person,
        "contact_email": company.contact_email,
        "phone": company.phone,
        "payment_method": company.payment_method.value if company.payment_method else "",
    }
    data.update(changes)
    return data


def files_on_disk(storage_dir) -> int:
    from pathlib import Path

    return len([p for p in Path(storage_dir).rglob("*") if p.is_file()])


# access -------------------------------------------------------------------------------------------


def test_anonymous_is_sent_to_login(client):
    for page in PAGES:
        response = client.get(page)
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert client.post("/company/submit").status_code == 401


def test_experts_and_admins_are_refused(client, app):
    setup_company()
    for user in (factories.expert().user, factories.admin()):
        db.session.commit()
        login(client, user)
        for page in PAGES:
            assert client.get(page).status_code == 403, (user.role, page)


def test_owner_sees_every_page(client):
    company, owner, _ = setup_company()
    login(client, owner)
    for page in PAGES:
        response = client.get(page)
        assert response.status_code == 200, page
        assert company.name in response.get_data(as_text=True)


def test_member_sees_status_and_documents_but_not_owner_pages(client):
    company, _owner, member = setup_company(with_document=True)
    login(client, member)
    home = client.get("/company/")
    assert home.status_code == 200
    assert 'data-testid="submit-card"' not in home.get_data(as_text=True)
    documents = client.get("/company/documents")
    assert documents.status_code == 200
    body = documents.get_data(as_text=True)
    assert "HRB extract.pdf" in body and 'data-testid="upload"' not in body
    assert client.get("/company/profile").status_code == 403
    assert client.get("/company/members").status_code == 403
    assert client.post("/company/submit").status_code == 403


def test_pages_show_only_the_users_own_company(client):
    company, owner, _ = setup_company(with_document=True)
    other, other_owner, _ = setup_company(with_document=True)
    login(client, other_owner)
    body = client.get("/company/documents").get_data(as_text=True)
    assert other.name in body and company.name not in body
    doc = db.session.scalars(sa.select(Document).where(Document.company_id == company.id)).one()
    assert client.post(f"/company/documents/{doc.id}/remove").status_code == 404
    assert db.session.get(Document, doc.id).removed_at is None


# status page ------------------------------------------------------------------------------------


def test_status_page_shows_checklist_and_disabled_submit_when_incomplete(client):
    _company, owner, _ = setup_company()
    login(client, owner)
    body = client.get("/company/").get_data(as_text=True)
    assert 'class="status-steps' in body
    assert re.search(r'<li class="done">\s*Company profile complete', body)
    assert re.search(r'<li class="todo">\s*Registration certificate', body)
    assert 'data-testid="missing"' in body and "disabled" in body
    assert 'data-testid="submit"' not in body


def test_status_page_shows_the_admins_question(client):
    company, owner, _ = setup_company(S.INFO_REQUESTED, with_document=True)
    company.status_note = "Please upload a VAT certificate <b>signed</b>."
    db.session.commit()
    login(client, owner)
    body = client.get("/company/").get_data(as_text=True)
    assert 'data-testid="admin-question"' in body
    assert "Please upload a VAT certificate &lt;b&gt;signed&lt;/b&gt;." in body
    assert 'data-testid="submit"' in body and 'name="answer"' in body
    assert 'data-testid="status">Information requested' in body


@pytest.mark.parametrize(
    ("status", "text"),
    [
        (S.PENDING_VERIFICATION, "under review"),
        (S.APPROVED, "is verified"),
        (S.REJECTED, "could not be verified"),
        (S.SUSPENDED, "suspended"),
    ],
)
def test_status_page_explains_each_state(client, status, text):
    _company, owner, _ = setup_company(status, with_document=True)
    login(client, owner)
    body = client.get("/company/").get_data(as_text=True)
    assert text in body
    assert 'data-testid="submit"' not in body


# profile -----------------------------------------------------------------------------------------


def test_profile_saves_a_draft(client):
    company, owner, _ = setup_company()
    login(client, owner)
    page = client.get("/company/profile").get_data(as_text=True)
    assert "Automotive" in page and 'selected value="DE"' in page
    form = profile_form(company, name="Neue Molder GmbH", website="neu.example")
    response = client.post("/company/profile", data=form)
    assert response.status_code == 302 and response.headers["Location"].endswith("/company/")
    db.session.expire_all()
    assert company.name == "Neue Molder GmbH"
    assert company.website == "https://neu.example"


def test_invalid_profile_is_rerendered_with_errors_and_what_was_typed(client):
    company, owner, _ = setup_company()
    login(client, owner)
    response = client.post(
        "/company/profile",
        data=profile_form(company, name="Typed Name", contact_email="not-an-email", phone="call me", country="XX"),
    )
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert 'value="Typed Name"' in body
    assert 'value="not-an-email"' in body
    assert 'data-testid="error-contact_email"' in body and 'data-testid="error-phone"' in body
    assert 'data-testid="error-country"' in body
    db.session.expire_all()
    assert company.name != "Typed Name"


def test_profile_locked_under_review(client):
    company, owner, _ = setup_company(S.PENDING_VERIFICATION, with_document=True)
    login(client, owner)
    page = client.get("/company/profile").get_data(as_text=True)
    assert "under review; you can edit it again if the hub asks for more information" in page
    response = client.post("/company/profile", data=profile_form(company, name="Sneaky"))
    assert response.status_code == 400
    assert "under review" in response.get_data(as_text=True)
    db.session.expire_all()
    assert company.name != "Sneaky"


# documents ----------------------------------------------------------------------------------------


def test_upload_form_states_types_and_limit(client):
    _company, owner, _ = setup_company()
    login(client, owner)
    body = client.get("/company/documents").get_data(as_text=True)
    assert "PDF, PNG or JPEG, up to 10 MB" in body
    assert 'accept=".pdf,.png,.jpg,.jpeg' in body
    assert 'data-testid="no-documents"' in body


def test_owner_uploads_and_removes_a_document(client, storage_dir):
    company, owner, _ = setup_company()
    login(client, owner)
    response = client.post(
        "/company/documents",
        data={"kind": "registration_certificate", "file": (io.BytesIO(factories.pdf_bytes()), "../HRB 99.pdf")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    doc = db.session.scalars(sa.select(Document).where(Document.company_id == company.id)).one()
    assert doc.original_name == "HRB 99.pdf" and doc.kind is DocumentKind.REGISTRATION_CERTIFICATE
    body = client.get("/company/documents").get_data(as_text=True)
    assert "HRB 99.pdf" in body and f"/files/{doc.id}" in body
    assert client.post(f"/company/documents/{doc.id}/remove").status_code == 302
    db.session.expire_all()
    assert doc.removed_at is not None
    assert files_on_disk(storage_dir) == 1  # kept for the record, no longer listed
    page = client.get("/company/documents").get_data(as_text=True)
    assert "“HRB 99.pdf” is removed." in page  # the message; the list itself is empty
    assert 'data-testid="documents"' not in page and 'data-testid="no-documents"' in page


@pytest.mark.parametrize(
    ("filename", "data", "message"),
    [
        ("evil.pdf", b"<html><script>alert(1)</script></html>", "web page"),
        ("evil.pdf", b"MZ\x90\x00" + b"\x00" * 60, "program or script"),
        ("empty.pdf", b"", None),
        ("scan.pdf", b"\x89PNG\r\n\x1a\n" + b"\x00" * 30, "contains a PNG file"),
        ("scan.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 30, "damaged or incomplete"),
    ],
)
def test_bad_upload_is_refused_and_nothing_saved_is_lost(client, storage_dir, filename, data, message):
    company, owner, _ = setup_company(with_document=True)
    before = files_on_disk(storage_dir)
    login(client, owner)
    response = client.post(
        "/company/documents",
        data={"kind": "vat_certificate", "file": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert 'data-testid="error-file"' in body
    if message:
        assert message in body
    assert "HRB extract.pdf" in body  # the saved document is still listed
    assert files_on_disk(storage_dir) == before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Document)) == 1


def test_too_large_upload_states_the_limit(client, app, storage_dir):
    _company, owner, _ = setup_company()
    app.config["DOCUMENT_MAX_BYTES"] = 2048
    login(client, owner)
    big = factories.pdf_bytes() + b"%" + b"x" * 4096
    response = client.post(
        "/company/documents",
        data={"kind": "registration_certificate", "file": (io.BytesIO(big), "big.pdf")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "the limit is 2 kB" in response.get_data(as_text=True)
    assert files_on_disk(storage_dir) == 0


def test_request_over_max_content_length_gets_413_with_the_limit(client, app, storage_dir):
    _company, owner, _ = setup_company()
    app.config["MAX_CONTENT_LENGTH"] = 4096
    login(client, owner)
    response = client.post(
        "/company/documents",
        data={"kind": "registration_certificate", "file": (io.BytesIO(b"%PDF-" + b"x" * 8192), "big.pdf")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 413
    body = response.get_data(as_text=True)
    assert "too large; the limit is 10 MB" in body
    assert files_on_disk(storage_dir) == 0


def test_missing_file_is_a_field_error(client):
    _company, owner, _ = setup_company()
    login(client, owner)
    response = client.post("/company/documents", data={"kind": "registration_certificate"},
                           content_type="multipart/form-data")
    assert response.status_code == 400
    assert "Choose a file to upload." in response.get_data(as_text=True)


# submission --------------------------------------------------------------------------------------


def test_owner_submits_and_admins_are_notified(client):
    company, owner, _ = setup_company(with_document=True)
    admin = factories.admin()
    db.session.commit()
    login(client, owner)
    body = client.get("/company/").get_data(as_text=True)
    assert 'data-testid="submit"' in body
    response = client.post("/company/submit", follow_redirects=True)
    assert response.status_code == 200
    assert "Your company is submitted" in response.get_data(as_text=True)
    db.session.expire_all()
    assert company.status is S.PENDING_VERIFICATION
    assert db.session.scalar(sa.select(Notification.kind).where(Notification.user_id == admin.id)) == (
        "company.submitted"
    )


def test_incomplete_submit_explains_what_is_missing(client):
    company, owner, _ = setup_company()
    login(client, owner)
    response = client.post("/company/submit", follow_redirects=True)
    assert "Before submitting, please complete: Registration certificate" in response.get_data(as_text=True)
    db.session.expire_all()
    assert company.status is S.DRAFT


def test_submit_twice_explains_the_state(client):
    _company, owner, _ = setup_company(S.PENDING_VERIFICATION, with_document=True)
    login(client, owner)
    response = client.post("/company/submit", follow_redirects=True)
    assert "already submitted and is waiting for verification" in response.get_data(as_text=True)


# members and invitations --------------------------------------------------------------------------


def _token_from_outbox() -> str:
    message = db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.topic == "email.direct").order_by(OutboxMessage.id.desc())
    ).first()
    return str(message.payload["params"]["link"]).rsplit("/", 1)[1]


def test_invitation_end_to_end(client, app):
    company, owner, member = setup_company()
    login(client, owner)
    page = client.get("/company/members").get_data(as_text=True)
    assert owner.email in page and member.email in page
    response = client.post("/company/members", data={"email": "new.colleague@molder-partner.com"})
    assert response.status_code == 302
    page = client.get("/company/members").get_data(as_text=True)
    assert "new.colleague@molder-partner.com" in page and "An invitation was sent" in page
    token = _token_from_outbox()

    guest = app.test_client()
    form = guest.get(f"/company/invitations/{token}")
    assert form.status_code == 200
    assert form.headers["Cache-Control"] == "no-store"
    body = form.get_data(as_text=True)
    assert owner.full_name in body and company.name in body and "new.colleague@molder-partner.com" in body

    weak = guest.post(f"/company/invitations/{token}",
                      data={"full_name": "Nora Neu", "password": "password", "confirm": "password"})
    assert weak.status_code == 400
    assert 'value="Nora Neu"' in weak.get_data(as_text=True)

    joined = guest.post(
        f"/company/invitations/{token}",
        data={"full_name": "Nora Neu", "password": PASSWORD, "confirm": PASSWORD},
    )
    assert joined.status_code == 302 and joined.headers["Location"].endswith("/company/")
    user = db.session.scalar(sa.select(User).where(User.email == "new.colleague@molder-partner.com"))
    assert user.company_id == company.id and user.company_role is CompanyRole.MEMBER
    assert user.email_verified_at is not None
    assert guest.get("/company/").status_code == 200  # logged in as the new member
    assert db.session.scalar(
        sa.select(Notification.kind).where(Notification.user_id == owner.id)
    ) == "member.joined"
    again = app.test_client().get(f"/company/invitations/{token}")
    assert again.status_code == 404
    assert 'data-testid="invitation-invalid"' in again.get_data(as_text=True)


def test_invite_errors_stay_on_the_form(client):
    company, owner, _member = setup_company()
    member = factories.company_user(company, owner=False, email="colleague@molder-partner.com")
    db.session.commit()
    login(client, owner)
    response = client.post("/company/members", data={"email": member.email})
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "already has an account" in body and f'value="{member.email}"' in body
    response = client.post("/company/members", data={"email": "nope"})
    assert response.status_code == 400
    assert 'data-testid="error-email"' in response.get_data(as_text=True)


def test_revoke_from_the_page(client, app):
    company, owner, _ = setup_company()
    login(client, owner)
    client.post("/company/members", data={"email": "x@molder-partner.com"})
    token = _token_from_outbox()
    invitation = db.session.scalars(sa.select(CompanyInvitation)).one()
    other_owner = setup_company()[1]
    intruder = login(app.test_client(), other_owner)
    assert intruder.post(f"/company/invitations/{invitation.id}/revoke").status_code == 404
    response = client.post(f"/company/invitations/{invitation.id}/revoke", follow_redirects=True)
    assert "is revoked" in response.get_data(as_text=True)
    assert app.test_client().get(f"/company/invitations/{token}").status_code == 404
    assert company.id == invitation.company_id


def test_logged_in_user_cannot_accept_someone_elses_invitation(client, app):
    company, owner, member = setup_company()
    companies.invite_member(company.id, actor=owner, email="guest@example.test")
    token = _token_from_outbox()
    login(client, member)
    response = client.get(f"/company/invitations/{token}")
    assert response.status_code == 200
    assert 'data-testid="logged-in"' in response.get_data(as_text=True)
    assert client.post(f"/company/invitations/{token}", data={"full_name": "X"}).status_code == 200
    assert db.session.scalar(sa.select(User).where(User.email == "guest@example.test")) is None


def test_unknown_invitation_token(client):
    response = client.get("/company/invitations/not-a-real-token")
    assert response.status_code == 404
    assert "not valid any more" in response.get_data(as_text=True)
