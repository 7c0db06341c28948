"""The verification queues through the HTTP layer: every decision button, as an admin uses it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.models import (
    AuditEvent,
    DocumentReview,
    EmailMessage,
    Notification,
    VerificationStatus,
)
from tests.admin_views.conftest import (
    CompanyCase,
    ExpertCase,
    company_case,
    filter_index,
    flashes,
    list_table,
    reload,
    snapshot,
)

S = VerificationStatus


def decide(client: FlaskClient, case_url: str, decision: str, **fields: str) -> Any:
    data = {f"{decision}-{name}": value for name, value in fields.items()}
    return client.post(f"{case_url}/decide/{decision}", data=data, follow_redirects=True)


def company_url(case: CompanyCase) -> str:
    return f"/admin/companies/{case.company.id}"


def details(client: FlaskClient, case: CompanyCase) -> str:
    resp = client.get(f"/admin/companies/details/?id={case.company.id}")
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


# Approve --------------------------------------------------------------------------------


def test_admin_approves_a_pending_company(admin_client: FlaskClient, admin: Any, pending_company: CompanyCase) -> None:
    resp = decide(admin_client, company_url(pending_company), "approve", note="Registry checked")

    assert resp.status_code == 200
    assert "Approved. The applicant was notified." in flashes(resp.get_data(as_text=True))
    company = reload(pending_company.company)
    assert company.status is S.APPROVED
    assert company.decided_by_id == admin.id
    event = db.session.scalar(
        sa.select(AuditEvent).where(AuditEvent.entity == "companies", AuditEvent.action == "company.approved")
    )
    assert event is not None
    assert (event.entity_id, event.actor_id, event.from_state, event.to_state) == (
        company.id,
        admin.id,
        "pending_verification",
        "approved",
    )
    assert event.data.get("note") == "Registry checked"
    note = db.session.scalar(sa.select(Notification).where(Notification.user_id == pending_company.owner.id))
    assert note is not None and note.kind == "company.approved"
    mail = db.session.scalar(sa.select(EmailMessage).where(EmailMessage.user_id == pending_company.owner.id))
    assert mail is not None
    assert mail.to_address == pending_company.owner.email
    assert "verified" in mail.subject.lower()
    # The page now offers what an approved company allows: suspend, not approve again.
    html = resp.get_data(as_text=True)
    assert 'data-testid="suspend"' in html
    assert 'data-testid="approve"' not in html


def test_approve_is_refused_when_the_registration_certificate_was_rejected(
    admin_client: FlaskClient, pending_company: CompanyCase, app: Flask
) -> None:
    pending_company.document.review = DocumentReview.REJECTED
    db.session.commit()
    before = snapshot(app)

    resp = decide(admin_client, company_url(pending_company), "approve")

    assert any("request information instead" in m for m in flashes(resp.get_data(as_text=True)))
    assert snapshot(app) == before


# Reject ---------------------------------------------------------------------------------


def test_reject_without_a_reason_shows_a_field_error_and_changes_nothing(
    admin_client: FlaskClient, pending_company: CompanyCase, app: Flask
) -> None:
    before = snapshot(app)

    resp = admin_client.post(f"{company_url(pending_company)}/decide/reject", data={"reject-reason": "   "})

    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert 'data-testid="error-reject-reason"' in html
    assert "Give a reason" in html
    assert snapshot(app) == before
    assert reload(pending_company.company).status is S.PENDING_VERIFICATION


def test_reject_with_a_reason_tells_the_owner(admin_client: FlaskClient, pending_company: CompanyCase) -> None:
    resp = decide(admin_client, company_url(pending_company), "reject", reason="The registry has no such company.")

    assert "Rejected. The applicant was told why." in flashes(resp.get_data(as_text=True))
    company = reload(pending_company.company)
    assert company.status is S.REJECTED
    assert company.status_note == "The registry has no such company."
    note = db.session.scalar(sa.select(Notification).where(Notification.user_id == pending_company.owner.id))
    assert note is not None and note.kind == "company.rejected"
    assert note.params["reason"] == "The registry has no such company."
    html = resp.get_data(as_text=True)
    assert 'data-testid="no-decision"' in html  # rejected is final: no buttons at all


def test_a_reason_that_is_too_long_keeps_what_was_typed(
    admin_client: FlaskClient, pending_company: CompanyCase
) -> None:
    text = "x" * 2001
    resp = admin_client.post(f"{company_url(pending_company)}/decide/reject", data={"reject-reason": text})

    assert resp.status_code == 400
    assert text in resp.get_data(as_text=True)
    assert reload(pending_company.company).status is S.PENDING_VERIFICATION


# Request information ----------------------------------------------------------------------


def test_request_information_needs_a_question(admin_client: FlaskClient, pending_company: CompanyCase) -> None:
    resp = admin_client.post(f"{company_url(pending_company)}/decide/request_info", data={})
    assert resp.status_code == 400
    assert 'data-testid="error-request_info-question"' in resp.get_data(as_text=True)
    assert reload(pending_company.company).status is S.PENDING_VERIFICATION


def test_request_information_asks_the_owner(admin_client: FlaskClient, pending_company: CompanyCase) -> None:
    resp = decide(admin_client, company_url(pending_company), "request_info", question="Which plant is yours?")

    company = reload(pending_company.company)
    assert company.status is S.INFO_REQUESTED
    assert company.status_note == "Which plant is yours?"
    html = resp.get_data(as_text=True)
    assert 'data-testid="status-note"' in html and "Which plant is yours?" in html
    note = db.session.scalar(sa.select(Notification).where(Notification.user_id == pending_company.owner.id))
    assert note is not None and note.kind == "company.info_requested"


# Not allowed from the current state ---------------------------------------------------------


def test_a_transition_not_allowed_from_the_state_is_explained_and_changes_nothing(
    admin_client: FlaskClient, f: Any, app: Flask
) -> None:
    case = company_case(f, status=S.DRAFT)
    before = snapshot(app)

    resp = decide(admin_client, company_url(case), "approve")

    messages = flashes(resp.get_data(as_text=True))
    assert any("is draft; it cannot become approved" in m for m in messages), messages
    assert snapshot(app) == before


def test_suspend_and_reinstate_an_approved_company(admin_client: FlaskClient, f: Any) -> None:
    case = company_case(f, status=S.APPROVED)

    resp = admin_client.post(f"{company_url(case)}/decide/suspend", data={})
    assert resp.status_code == 400
    assert reload(case.company).status is S.APPROVED

    decide(admin_client, company_url(case), "suspend", reason="Unpaid invoices")
    assert reload(case.company).status is S.SUSPENDED

    resp = decide(admin_client, company_url(case), "reinstate", note="Paid")
    assert reload(case.company).status is S.APPROVED
    assert "Reinstated." in " ".join(flashes(resp.get_data(as_text=True)))


def test_an_unknown_decision_or_company_is_404(admin_client: FlaskClient, pending_company: CompanyCase) -> None:
    assert admin_client.post(f"{company_url(pending_company)}/decide/delete").status_code == 404
    assert admin_client.post("/admin/companies/999999/decide/approve").status_code == 404
    assert admin_client.get("/admin/companies/details/?id=999999").status_code == 404


# Only the buttons the workflow allows --------------------------------------------------------


def test_details_page_offers_only_the_allowed_decisions(admin_client: FlaskClient, f: Any) -> None:
    expected = {
        S.DRAFT: set(),
        S.PENDING_VERIFICATION: {"approve", "request_info", "reject"},
        S.INFO_REQUESTED: set(),
        S.APPROVED: {"suspend"},
        S.SUSPENDED: {"reinstate"},
        S.REJECTED: set(),
    }
    for status, buttons in expected.items():
        case = company_case(f, status=status)
        html = details(admin_client, case)
        shown = {
            name
            for name in ("approve", "request_info", "reject", "suspend", "reinstate")
            if f'data-testid="{name}"' in html
        }
        assert shown == buttons, status
        assert html.count('name="csrf_token"') >= 1  # the layout's logout form at least


def test_details_page_shows_fields_documents_and_history(
    admin_client: FlaskClient, pending_company: CompanyCase, f: Any
) -> None:
    from tests.admin_views.conftest import make_document

    image = make_document(
        pending_company.company, uploaded_by=pending_company.owner, content_type="image/png", original_name="vat.png"
    )
    db.session.commit()
    decide(admin_client, company_url(pending_company), "request_info", question="Send the VAT certificate")

    html = details(admin_client, pending_company)
    company = pending_company.company
    for value in (company.name, company.vat_id, company.registration_number, company.address, "Olga Owner"):
        assert value in html
    assert f'src="/files/{pending_company.document.id}/preview"' in html and "<iframe" in html
    assert f'<img class="doc-preview-img" src="/files/{image.id}/preview"' in html
    assert f'href="/files/{image.id}"' in html  # download link
    assert 'data-testid="history"' in html and "company.info_requested" in html


# Documents -----------------------------------------------------------------------------------


def test_admin_rejects_and_accepts_a_document(admin_client: FlaskClient, pending_company: CompanyCase) -> None:
    doc = pending_company.document
    resp = admin_client.post(f"/admin/companies/documents/{doc.id}/reject", data={})
    assert resp.status_code == 400
    assert reload(doc).review is DocumentReview.PENDING

    resp = admin_client.post(
        f"/admin/companies/documents/{doc.id}/reject",
        data={f"doc{doc.id}-note": "Unreadable scan"},
        follow_redirects=True,
    )
    assert "Document rejected." in " ".join(flashes(resp.get_data(as_text=True)))
    doc = reload(doc)
    assert doc.review is DocumentReview.REJECTED and doc.review_note == "Unreadable scan"
    note = db.session.scalar(sa.select(Notification).where(Notification.user_id == pending_company.owner.id))
    assert note is not None and note.kind == "document.rejected"

    admin_client.post(f"/admin/companies/documents/{doc.id}/accept", data={}, follow_redirects=True)
    assert reload(doc).review is DocumentReview.ACCEPTED


def test_a_document_is_reviewed_only_through_its_owners_queue(
    admin_client: FlaskClient, pending_company: CompanyCase, pending_expert: ExpertCase
) -> None:
    # A company document through the expert queue (and the reverse) is not found.
    assert admin_client.post(f"/admin/experts/documents/{pending_company.document.id}/accept").status_code == 404
    assert admin_client.post(f"/admin/companies/documents/{pending_expert.document.id}/accept").status_code == 404
    assert reload(pending_company.document).review is DocumentReview.PENDING


# Experts -------------------------------------------------------------------------------------


def test_admin_approves_a_pending_expert(admin_client: FlaskClient, pending_expert: ExpertCase) -> None:
    resp = admin_client.post(
        f"/admin/experts/{pending_expert.expert.id}/decide/approve", data={}, follow_redirects=True
    )
    assert "Approved. The applicant was notified." in flashes(resp.get_data(as_text=True))
    assert reload(pending_expert.expert).status is S.APPROVED
    note = db.session.scalar(sa.select(Notification).where(Notification.user_id == pending_expert.user.id))
    assert note is not None and note.kind == "expert.approved"


def test_expert_details_show_identity_to_admins(admin_client: FlaskClient, pending_expert: ExpertCase) -> None:
    html = admin_client.get(f"/admin/experts/details/?id={pending_expert.expert.id}").get_data(as_text=True)
    assert pending_expert.expert.pseudonym in html
    assert pending_expert.user.full_name in html and pending_expert.user.email in html


def test_expert_reject_without_reason_is_refused(admin_client: FlaskClient, pending_expert: ExpertCase) -> None:
    resp = admin_client.post(f"/admin/experts/{pending_expert.expert.id}/decide/reject", data={})
    assert resp.status_code == 400
    assert reload(pending_expert.expert).status is S.PENDING_VERIFICATION


# The queue -----------------------------------------------------------------------------------


def test_queue_lists_waiting_cases_first_oldest_first(admin_client: FlaskClient, f: Any) -> None:
    now = datetime.now(UTC)
    approved = company_case(f, status=S.APPROVED, name="Approved Old", submitted_at=now - timedelta(days=30))
    newer = company_case(f, name="Pending New", submitted_at=now - timedelta(days=1))
    older = company_case(f, name="Pending Old", submitted_at=now - timedelta(days=5))
    asked = company_case(f, status=S.INFO_REQUESTED, name="Asked Older", submitted_at=now - timedelta(days=9))

    html = list_table(admin_client.get("/admin/companies/").get_data(as_text=True))

    positions = [html.index(c.company.name) for c in (older, newer, asked, approved)]
    assert positions == sorted(positions)


def test_queue_search_and_filters(admin_client: FlaskClient, f: Any) -> None:
    french = company_case(f, name="Plastiques Lyon", country="FR", vat_id="FR12345678901")
    german = company_case(f, name="Spritzguss Ulm", country="DE")

    def rows(url: str) -> str:
        return list_table(admin_client.get(url).get_data(as_text=True))

    html = rows("/admin/companies/?search=FR12345678901")
    assert french.company.name in html and german.company.name not in html

    html = admin_client.get("/admin/companies/").get_data(as_text=True)
    assert "FR" in html  # the country filter offers the countries in the data
    # Filter by status and by country through Flask-Admin's filter arguments (flt<n>_<filter index>).
    index = filter_index(admin_client, "companies")
    status_eq, country_eq = index[("Status", "equals")], index[("Country", "equals")]

    html = rows(f"/admin/companies/?flt0_{status_eq}=approved")
    assert french.company.name not in html and german.company.name not in html
    html = rows(f"/admin/companies/?flt0_{status_eq}=pending_verification")
    assert french.company.name in html and german.company.name in html
    html = rows(f"/admin/companies/?flt0_{country_eq}=DE")
    assert german.company.name in html and french.company.name not in html
    assert 'data-testid="status"' in html  # the status badge formatter


def test_date_filters_compare_aware_times(admin_client: FlaskClient, f: Any) -> None:
    now = datetime.now(UTC)
    old = company_case(f, name="Submitted Long Ago", submitted_at=now - timedelta(days=40))
    new = company_case(f, name="Submitted Recently", submitted_at=now - timedelta(days=1))
    index = filter_index(admin_client, "companies")
    since = (now - timedelta(days=10)).strftime("%Y-%m-%d %H:%M:%S")
    until = (now + timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")

    def rows(query: str) -> str:
        return list_table(admin_client.get(f"/admin/companies/?{query}").get_data(as_text=True))

    after = rows(f"flt0_{index[('Submitted', 'greater than')]}={since}")
    between = rows(f"flt0_{index[('Submitted', 'between')]}={since} to {until}")

    for html in (after, between):
        assert new.company.name in html and old.company.name not in html
