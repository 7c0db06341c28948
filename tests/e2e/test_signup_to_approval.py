"""The first journey in a real browser: a company signs up with a document, a hub admin approves it.

Screenshots of every page land in test-artifacts/e2e/<test name>/.
"""

from __future__ import annotations

import io
import re

import pyotp
import pytest
import sqlalchemy as sa
from pypdf import PdfWriter

from app.extensions import db
from app.models import Company, EmailMessage, VerificationStatus

pytestmark = pytest.mark.browser

OWNER_EMAIL = "anna.berger@formteile.example"
OWNER_PASSWORD = "granulate dryer runs at eighty degrees"  # noqa: S105
ADMIN_EMAIL = "ops@plasticonnect.example"
ADMIN_PASSWORD = "hub admin checks every document twice"  # noqa: S105
COMPANY = "Formteile Berger GmbH"


def _pdf_bytes() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def _mail_link(app, to: str, pattern: str) -> str:
    with app.app_context():
        body = db.session.scalars(
            sa.select(EmailMessage.body_text).where(EmailMessage.to_address == to).order_by(EmailMessage.id.desc())
        ).first()
    assert body, f"no e-mail to {to} in the outbox"
    match = re.search(pattern, body)
    assert match, body
    return match.group(0)


def test_company_signs_up_and_admin_approves(live_app, live_server, browser, shots, tmp_path):
    base = live_server.url
    result = live_app.test_cli_runner().invoke(
        args=["create-admin", "--email", ADMIN_EMAIL, "--name", "Olivia Hub"],
        input=f"{ADMIN_PASSWORD}\n{ADMIN_PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output

    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    errors: list[str] = []
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)

    # 1. The start page, then the company sign-up form.
    page.goto(base + "/")
    shots(page, "home")
    page.click("[data-testid=signup-company]")
    page.fill("#full_name", "Anna Berger")
    page.fill("#email", OWNER_EMAIL)
    page.fill("#password", OWNER_PASSWORD)
    if page.locator("#confirm").count():
        page.fill("#confirm", OWNER_PASSWORD)
    page.fill("#company_name", COMPANY)
    shots(page, "signup-form")
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    assert "e-mail" in page.inner_text("main").lower()
    shots(page, "check-your-email")

    # 2. The verification link from the e-mail (the embedded outbox).
    link = _mail_link(live_app, OWNER_EMAIL, r"https?://\S+/verify-email/\S+")
    page.goto(base + link[link.index("/verify-email/") :])
    shots(page, "confirm-email")
    page.click("[data-testid=verify-submit]")
    page.wait_for_load_state()

    # 3. Log in.
    if "/login" not in page.url:
        page.goto(base + "/login")
    page.fill("#email", OWNER_EMAIL)
    page.fill("#password", OWNER_PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url(re.compile(r".*/company/?$"))
    shots(page, "company-status-draft")

    # 4. The company profile (saved as a draft).
    page.goto(base + "/company/profile")
    page.fill("#legal_name", COMPANY)
    page.fill("#registration_number", "HRB 723451")
    page.fill("#vat_id", "DE298765432")
    page.select_option("#country", "DE")
    page.fill("#address", "Industriestraße 12\n73033 Göppingen")
    page.select_option("#industry_id", index=1)
    page.fill("#website", "https://formteile-berger.example")
    page.fill("#contact_person", "Anna Berger")
    page.fill("#contact_email", OWNER_EMAIL)
    page.fill("#phone", "+49 7161 123456")
    page.check("input[name=payment_method][value=bank_transfer]")
    shots(page, "company-profile")
    page.click("[data-testid=save-profile]")
    page.wait_for_load_state()
    assert not page.locator(".invalid-feedback").count(), page.inner_text("main")

    # 5. The registration certificate.
    pdf = tmp_path / "Handelsregisterauszug.pdf"
    pdf.write_bytes(_pdf_bytes())
    page.goto(base + "/company/documents")
    page.select_option("#kind", "registration_certificate")
    page.set_input_files("#file", str(pdf))
    page.click("[data-testid=upload]")
    page.wait_for_load_state()
    assert "Handelsregisterauszug.pdf" in page.inner_text("[data-testid=documents]")
    shots(page, "company-documents")

    # 6. Submit for verification.
    page.goto(base + "/company/")
    page.click("[data-testid=submit]")
    page.wait_for_load_state()
    assert "pending" in page.inner_text("[data-testid=status]").lower()
    shots(page, "company-submitted")
    page.click("nav form[action$='/logout'] button")  # log out
    page.wait_for_load_state()

    # 7. The hub admin logs in and must enrol two-factor authentication first.
    page.goto(base + "/login")
    page.fill("#email", ADMIN_EMAIL)
    page.fill("#password", ADMIN_PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_selector("[data-testid=totp-secret]")
    shots(page, "admin-totp-setup")
    secret = page.inner_text("[data-testid=totp-secret]").replace(" ", "")
    page.fill("#code", pyotp.TOTP(secret).now())
    page.click("[data-testid=totp-confirm]")
    page.wait_for_url(re.compile(r".*/admin/?.*"))
    shots(page, "admin-dashboard")
    assert "Companies to verify" in page.inner_text("body")

    # 8. The verification queue, the case, approve.
    page.goto(base + "/admin/companies/")
    shots(page, "admin-company-queue")
    page.get_by_role("link", name=COMPANY).first.click()
    page.wait_for_selector("[data-testid=document]")
    shots(page, "admin-company-case")
    page.click("[data-testid=approve]")
    page.wait_for_load_state()
    assert "approved" in page.inner_text("[data-testid=case-title]").lower()
    shots(page, "admin-company-approved")
    page.click("form[action$='/logout'] button")
    page.wait_for_load_state()

    with live_app.app_context():
        company = db.session.scalar(sa.select(Company).where(Company.name == COMPANY))
        assert company is not None and company.status is VerificationStatus.APPROVED

    # 9. The owner sees the decision and the notification.
    owner = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    owner.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    owner.goto(base + "/login")
    owner.fill("#email", OWNER_EMAIL)
    owner.fill("#password", OWNER_PASSWORD)
    owner.click("main form button[type=submit]")
    owner.wait_for_url(re.compile(r".*/company/?$"))
    assert "approved" in owner.inner_text("[data-testid=status]").lower()
    assert owner.inner_text("[data-testid=unread-count]").strip() != "0"
    shots(owner, "company-approved")
    owner.click("[data-testid=bell]")
    owner.wait_for_load_state()
    assert "verified" in owner.inner_text("[data-testid=notifications]").lower()
    shots(owner, "company-notifications")
    assert errors == [], errors
