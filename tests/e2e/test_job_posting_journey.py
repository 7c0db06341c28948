"""Issue 3 in a real browser: a company drafts a job, asks for a missing skill, the hub adds it,
reviews the job with a question and publishes it privately for one invited expert.

Screenshots of every step land in test-artifacts/e2e/<test name>/.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import CatalogKind, CatalogTerm, Job, JobStatus, JobVisibility
from tests import factories

pytestmark = pytest.mark.browser

OWNER_EMAIL = "jonas.keller@kunststoff-keller.example"
OWNER_PASSWORD = "the hot runner drips at cavity four"  # noqa: S105
COMPANY = "Kunststofftechnik Keller GmbH"
ADMIN_EMAIL = "review@plasticonnect.example"
ADMIN_PASSWORD = "hub admin reads every job twice"  # noqa: S105
EXPERT1_EMAIL = "maria.invited@experts.example"
EXPERT1_PASSWORD = "decoupled molding since nineteen ninety"  # noqa: S105
EXPERT2_EMAIL = "tom.notinvited@experts.example"
EXPERT2_PASSWORD = "viscosity curves before breakfast"  # noqa: S105
NEW_SKILL = "Variotherm mould temperature control"
NEW_SKILL_DE = "Variotherme Werkzeugtemperierung"
QUESTION = "Which machine and clamping force is the part molded on?"
ANSWER = "An Arburg 470 with 1000 kN clamping force; 2-cavity hot-runner mould."


@pytest.fixture
def actors(live_app):
    """The approved company with its owner and two approved experts, seeded through the app's context."""
    with live_app.app_context():
        company = factories.company(name=COMPANY, legal_name=COMPANY)
        factories.company_user(company, owner=True, email=OWNER_EMAIL, password=OWNER_PASSWORD,
                               full_name="Jonas Keller")
        invited = factories.expert(
            user=factories.user(email=EXPERT1_EMAIL, password=EXPERT1_PASSWORD, full_name="Maria Invited"),
            pseudonym="E-INVITED",
        )
        other = factories.expert(
            user=factories.user(email=EXPERT2_EMAIL, password=EXPERT2_PASSWORD, full_name="Tom Notinvited"),
            pseudonym="E-OTHER",
        )
        db.session.commit()
        ids = {"company": company.id, "expert1": invited.id, "expert2": other.id}
    result = live_app.test_cli_runner().invoke(
        args=["create-admin", "--email", ADMIN_EMAIL, "--name", "Rita Review"],
        input=f"{ADMIN_PASSWORD}\n{ADMIN_PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    return ids


class Watch:
    """Console errors and responses >= 400 of every page, except the 404s a step expects."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.expected_404: set[str] = set()

    def _response(self, r) -> None:
        if r.status >= 400 and not (r.status == 404 and r.url in self.expected_404):
            self.errors.append(f"{r.status} {r.url}")

    def _console(self, msg) -> None:
        if msg.type != "error":
            return
        url = (msg.location or {}).get("url", "")
        if url in self.expected_404 and "404" in msg.text:
            return
        self.errors.append(msg.text)

    def page(self, browser):
        page = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB").new_page()
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("console", self._console)
        page.on("response", self._response)
        return page


def _log_in(page, base: str, email: str, password: str) -> None:
    page.goto(base + "/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("main form button[type=submit]")
    page.wait_for_load_state()


def _no_field_errors(page) -> None:
    assert not page.locator(".invalid-feedback").count(), page.inner_text("main")


def test_job_posting_review_and_private_publication(live_app, live_server, browser, shots, tmp_path, actors):
    base = live_server.url
    watch = Watch()
    today = datetime.now(UTC).date()

    # 1. The company owner logs in and starts a Problem Solving draft.
    company = watch.page(browser)
    _log_in(company, base, OWNER_EMAIL, OWNER_PASSWORD)
    company.wait_for_url(re.compile(r".*/company/?$"))
    shots(company, "company-home")
    company.goto(base + "/company/jobs")
    shots(company, "company-jobs-empty")
    company.click("[data-testid=post-job]")
    company.wait_for_selector("[data-testid=new-job-form]")
    company.check("input[name=category][value=problem_solving]")
    shots(company, "company-new-job")
    company.click("[data-testid=start-job]")
    company.wait_for_selector("[data-testid=job-form]")
    job_id = int(re.search(r"/company/jobs/(\d+)/edit", company.url).group(1))

    # 2. The draft: what the company knows so far, no skill yet.
    assert company.input_value("#category") == "problem_solving"
    company.select_option("#title_term_id", index=1)
    company.select_option("#subtype", "root_cause")
    company.fill("#description", "Short shots and sink marks on a PA66 GF30 housing since the material change.")
    company.fill("#scope", "Find the root cause and deliver a validated process window.")
    company.select_option("#process_term_id", index=1)
    company.select_option("#material_term_id", index=1)
    company.select_option("#defect_term_id", index=1)
    company.fill("#part_description", "Pump housing, 2.5 mm wall, 180 g, 2 cavities.")
    company.fill("#data_available", "Process sheets, CMM reports, the STEP model.")
    company.fill("#budget", "4500.00")
    company.select_option("#currency", "EUR")
    company.fill("#start_date", (today + timedelta(days=14)).isoformat())
    company.fill("#completion_date", (today + timedelta(days=45)).isoformat())
    company.select_option("#languages-0-code", "en")
    shots(company, "company-job-form-draft")
    company.click("[data-testid=save-job]")
    company.wait_for_url(re.compile(rf".*/company/jobs/{job_id}$"))
    assert "skill" in company.inner_text("[data-testid=checklist]").lower()
    shots(company, "company-draft-saved")

    # 3. The supporting files: a STEP model and a PDF.
    step = tmp_path / "pump-housing.step"
    step.write_bytes(factories.step_bytes())
    pdf = tmp_path / "cmm-report.pdf"
    pdf.write_bytes(factories.pdf_bytes(pages=2))
    for path in (step, pdf):
        company.set_input_files("[data-testid=upload-form] input[type=file]", str(path))
        company.click("[data-testid=upload]")
        company.wait_for_load_state()
        assert not company.locator("[data-testid=error-file]").count(), company.inner_text("main")
        assert path.name in company.inner_text("[data-testid=attachments]")
    shots(company, "company-draft-files")

    # 4. The skill is not in the catalog: a ticket from the job form's link.
    company.click("[data-testid=edit-job]")
    company.wait_for_selector("[data-testid=job-form]")
    offered = company.locator("#skills-0-term_id option").all_inner_texts()
    assert NEW_SKILL not in offered
    company.click("[data-testid=job-form] [data-testid=ticket-link]")
    company.wait_for_selector("[data-testid=ticket-form]")
    assert f"#{job_id}" in company.inner_text("[data-testid=from-job]")
    company.select_option("#kind", "skill")
    company.fill("#term", NEW_SKILL)
    company.fill("#reason", "The sink marks need a variotherm mould; the expert must know how to run it.")
    shots(company, "company-ticket-form")
    company.click("[data-testid=open-ticket]")
    company.wait_for_url(re.compile(r".*/company/tickets/\d+$"))
    ticket_id = int(re.search(r"/company/tickets/(\d+)$", company.url).group(1))
    assert "open" in company.inner_text("[data-testid=status]").lower()
    shots(company, "company-ticket-open")

    # 5. The hub admin logs in (enrolling two-factor authentication) and works the ticket.
    admin = watch.page(browser)
    _log_in(admin, base, ADMIN_EMAIL, ADMIN_PASSWORD)
    admin.wait_for_selector("[data-testid=totp-secret]")
    shots(admin, "admin-totp-setup")
    secret = admin.inner_text("[data-testid=totp-secret]").replace(" ", "")
    admin.fill("#code", pyotp.TOTP(secret).now())
    admin.click("[data-testid=totp-confirm]")
    admin.wait_for_url(re.compile(r".*/admin/?.*"))
    shots(admin, "admin-dashboard")
    admin.goto(base + "/admin/tickets/")
    shots(admin, "admin-ticket-queue")
    admin.get_by_role("link", name=NEW_SKILL).first.click()
    admin.wait_for_selector("[data-testid=form-start]")
    assert f"Job #{job_id}" in admin.inner_text("body")
    shots(admin, "admin-ticket")
    admin.click("[data-testid=start]")
    admin.wait_for_selector("[data-testid=form-resolve]")
    assert "in progress" in admin.inner_text("[data-testid=case-title]").lower()
    shots(admin, "admin-ticket-in-progress")
    assert admin.input_value("#resolve-new_terms-0-kind") == "skill"
    admin.fill("#resolve-new_terms-0-name", NEW_SKILL)
    admin.fill("#resolve-new_terms-0-name_de", NEW_SKILL_DE)
    admin.fill("#resolve-note", "Added as a skill; pick it in your job's required skills.")
    shots(admin, "admin-ticket-resolve-form")
    admin.click("[data-testid=resolve]")
    admin.wait_for_selector("[data-testid=created-terms]")
    assert "resolved" in admin.inner_text("[data-testid=case-title]").lower()
    assert NEW_SKILL in admin.inner_text("[data-testid=created-terms]")
    shots(admin, "admin-ticket-resolved")

    # 6. The company sees the resolution and completes the job with the new skill.
    company.goto(f"{base}/company/tickets/{ticket_id}")
    assert "resolved" in company.inner_text("[data-testid=status]").lower()
    assert NEW_SKILL in company.inner_text("[data-testid=new-terms]")
    shots(company, "company-ticket-resolved")
    company.click("[data-testid=back-to-job]")
    company.wait_for_selector("[data-testid=job-form]")
    company.select_option("#skills-0-term_id", label=NEW_SKILL)
    company.select_option("#skills-0-level", "senior")
    company.select_option("#skills-1-term_id", index=1)
    company.select_option("#skills-1-level", "intermediate")
    shots(company, "company-job-form-complete")
    company.click("[data-testid=save-job]")
    company.wait_for_url(re.compile(rf".*/company/jobs/{job_id}$"))
    company.wait_for_selector("[data-testid=checklist-complete]")
    assert NEW_SKILL in company.inner_text("[data-testid=skills]")
    shots(company, "company-job-complete")
    company.click("[data-testid=submit-job]")
    company.wait_for_load_state()
    assert "review" in company.inner_text(f"[data-testid=job-status-{job_id}]").lower()
    shots(company, "company-job-submitted")

    # 7. The admin reviews the job and asks a question.
    admin.goto(base + "/admin/jobs/")
    shots(admin, "admin-job-queue")
    admin.click(f"[data-testid=open-job][href*='id={job_id}']")
    admin.wait_for_selector("[data-testid=form-clarify]")
    assert NEW_SKILL in admin.inner_text("[data-testid=skills]")
    names = admin.inner_text("#attachments")
    assert "pump-housing.step" in names and "cmm-report.pdf" in names
    assert admin.locator("[data-testid=preview-pdf]").count() == 1
    shots(admin, "admin-job-review")
    admin.fill("#clarify-question", QUESTION)
    admin.click("[data-testid=clarify]")
    admin.wait_for_selector("[data-testid=status-note]")
    assert "clarification" in admin.inner_text("[data-testid=job-title]").lower()
    shots(admin, "admin-job-question-sent")

    # 8. The company answers on the job page; the job returns to review.
    company.goto(f"{base}/company/jobs/{job_id}")
    assert QUESTION in company.inner_text("[data-testid=clarifications]")
    company.fill("#answer", ANSWER)
    shots(company, "company-job-question")
    company.click("[data-testid=send-answer]")
    company.wait_for_load_state()
    assert ANSWER in company.inner_text("[data-testid=clarifications]")
    assert "review" in company.inner_text(f"[data-testid=job-status-{job_id}]").lower()
    shots(company, "company-job-answered")

    # 9. The admin publishes the job as private, inviting expert 1 only.
    admin.goto(f"{base}/admin/jobs/{job_id}")
    admin.wait_for_selector("[data-testid=form-publish]")
    assert ANSWER in admin.inner_text("#clarifications")
    admin.check("input[name=publish-visibility][value=private]")
    admin.select_option("#publish-invite_expert_ids", str(actors["expert1"]))
    shots(admin, "admin-job-publish-form")
    admin.click("[data-testid=publish]")
    admin.wait_for_load_state()
    assert "published" in admin.inner_text("[data-testid=job-title]").lower()
    assert "E-INVITED" in admin.inner_text("[data-testid=invitations]")
    assert "E-OTHER" not in admin.inner_text("[data-testid=invitations]")
    shots(admin, "admin-job-published")

    with live_app.app_context():
        job = db.session.get(Job, job_id)
        assert job.status is JobStatus.PUBLISHED and job.visibility is JobVisibility.PRIVATE
        assert [i.expert_id for i in job.invitations] == [actors["expert1"]]
        skill = db.session.scalar(sa.select(CatalogTerm).where(CatalogTerm.name == NEW_SKILL))
        assert skill is not None and skill.kind is CatalogKind.SKILL
        assert skill.id in {s.term_id for s in job.skills}
        assert sorted(a.original_name for a in job.active_attachments) == ["cmm-report.pdf", "pump-housing.step"]

    # 10. Expert 1 (invited) sees the job on the board and opens it.
    expert1 = watch.page(browser)
    _log_in(expert1, base, EXPERT1_EMAIL, EXPERT1_PASSWORD)
    expert1.goto(base + "/jobs")
    card = expert1.locator(f"[data-testid=job-card][data-job-id='{job_id}']")
    assert card.count() == 1, expert1.inner_text("main")
    assert card.locator("[data-testid=invited]").count() == 1
    shots(expert1, "expert1-board")
    card.locator("[data-testid=job-link]").click()
    expert1.wait_for_url(re.compile(rf".*/jobs/{job_id}$"))
    assert expert1.locator("[data-testid=private-note]").count() == 1
    assert NEW_SKILL in expert1.inner_text("[data-testid=skills]")
    assert COMPANY not in expert1.inner_text("main")  # the company chose not to show its name
    shots(expert1, "expert1-job")

    # 11. Expert 2 (approved, not invited) does not see it, and its page "does not exist".
    expert2 = watch.page(browser)
    _log_in(expert2, base, EXPERT2_EMAIL, EXPERT2_PASSWORD)
    expert2.goto(base + "/jobs")
    assert expert2.locator(f"[data-testid=job-card][data-job-id='{job_id}']").count() == 0
    shots(expert2, "expert2-board")
    private_url = f"{base}/jobs/{job_id}"
    watch.expected_404.add(private_url)
    response = expert2.goto(private_url)
    assert response is not None and response.status == 404
    shots(expert2, "expert2-job-404")

    assert watch.errors == [], watch.errors
