"""Issue 4 in a real browser: the hub publishes a job and opens its ranking (breakdown per criterion,
a conflicted expert excluded with the reason), invites two experts; one declines, the other accepts
the confidentiality terms, downloads the drawing and sends an offer with milestones (after a refused
first try), and the hub finds it in the offers queue.

Screenshots of every step land in test-artifacts/e2e/<test name>/.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import (
    AttachmentKind,
    CatalogKind,
    CatalogTerm,
    EmployerRelation,
    ExpertEmployer,
    ExpertiseLevel,
    ExpertLanguage,
    ExpertSkill,
    InvitationStatus,
    Job,
    JobAttachment,
    JobInvitation,
    JobLanguage,
    JobSkill,
    JobStatus,
    LanguageProficiency,
    Offer,
    OfferStatus,
)
from tests import factories
from tests.e2e.test_job_posting_journey import Watch, _log_in

pytestmark = pytest.mark.browser

COMPANY = "Spritzguss Brandt GmbH"
ADMIN_EMAIL = "matching@plasticonnect.example"
ADMIN_PASSWORD = "rank the experts before lunch"  # noqa: S105
EXPERTS = {
    "best": ("ines.best@experts.example", "gate freeze studies every monday", "Ines Best", "E-BEST"),
    "good": ("olaf.good@experts.example", "cooling channels and coffee", "Olaf Good", "E-GOOD"),
    "conflicted": ("carl.conflict@experts.example", "used to work at brandt molding", "Carl Conflict", "E-CONFL"),
}
DECLINE_REASON = "Fully booked with a customer audit until the end of the quarter."


@pytest.fixture
def scene(live_app, tmp_path):
    """A company's job under review (skills, German, a PDF drawing) and three approved experts."""
    with live_app.app_context():
        company = factories.company(name=COMPANY, legal_name=COMPANY)
        owner = factories.company_user(company, owner=True, full_name="Berta Brandt")
        terms = {(t.kind, t.slug): t for t in db.session.scalars(sa.select(CatalogTerm))}
        title = terms[CatalogKind.JOB_TITLE, "injection-molding-process-engineer"]
        skills = [terms[CatalogKind.SKILL, "scientific-molding"], terms[CatalogKind.SKILL, "root-cause-analysis"]]
        process, material = terms[CatalogKind.PROCESS, "injection-molding"], terms[CatalogKind.MATERIAL, "pa66"]
        today = datetime.now(UTC).date()
        job = Job(company_id=company.id, created_by_id=owner.id, title_term_id=title.id,
                  category="problem_solving", subtype="root_cause", status=JobStatus.PENDING_REVIEW,
                  description="Sink marks above the ribs of a PA66 GF30 housing after a resin change.",
                  scope="Root cause and a robust process window.", process_term_id=process.id,
                  material_term_id=material.id, part_description="Housing, 2.2 mm wall.",
                  budget_minor=900000, currency="EUR", start_date=today + timedelta(days=7),
                  completion_date=today + timedelta(days=40), submitted_at=datetime.now(UTC))
        job.skills = [JobSkill(term_id=s.id, level=ExpertiseLevel.SENIOR) for s in skills]
        job.languages = [JobLanguage(code="de", min_proficiency=LanguageProficiency.B2)]
        db.session.add(job)
        db.session.flush()
        from app.integrations.storage import get_storage

        drawing = factories.pdf_bytes(pages=1)
        get_storage().put("e2e-drawing", drawing, content_type="application/pdf")
        db.session.add(JobAttachment(job_id=job.id, kind=AttachmentKind.PDF, storage_key="e2e-drawing",
                                     original_name="housing-drawing.pdf", content_type="application/pdf",
                                     size_bytes=len(drawing), sha256="0" * 64, uploaded_by_id=owner.id))
        ids = {"job": job.id}
        for key, (email, password, name, pseudonym) in EXPERTS.items():
            expert = factories.expert(user=factories.user(email=email, password=password, full_name=name),
                                      pseudonym=pseudonym, day_rate_minor=90000)
            level = ExpertiseLevel.SENIOR if key == "good" else ExpertiseLevel.PRINCIPAL
            for term in [title, *skills, process, material][: 5 if key != "good" else 3]:
                db.session.add(ExpertSkill(expert_id=expert.id, term_id=term.id, level=level))
            db.session.add(ExpertLanguage(expert_id=expert.id, code="de", proficiency=LanguageProficiency.NATIVE))
            if key == "conflicted":
                db.session.add(ExpertEmployer(expert_id=expert.id, name="Brandt Spritzguss",
                                              relation=EmployerRelation.FORMER))
            ids[key] = expert.id
        db.session.commit()
    result = live_app.test_cli_runner().invoke(
        args=["create-admin", "--email", ADMIN_EMAIL, "--name", "Mia Matching"],
        input=f"{ADMIN_PASSWORD}\n{ADMIN_PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    return ids


def test_ranking_invitations_and_an_offer(live_app, live_server, browser, shots, tmp_path, scene):
    base = live_server.url
    watch = Watch()
    job_id = scene["job"]
    today = datetime.now(UTC).date()

    # 1. The admin logs in (enrolling 2FA) and publishes the job publicly: the ranking runs.
    admin = watch.page(browser)
    _log_in(admin, base, ADMIN_EMAIL, ADMIN_PASSWORD)
    admin.wait_for_selector("[data-testid=totp-secret]")
    secret = admin.inner_text("[data-testid=totp-secret]").replace(" ", "")
    admin.fill("#code", pyotp.TOTP(secret).now())
    admin.click("[data-testid=totp-confirm]")
    admin.wait_for_url(re.compile(r".*/admin/?.*"))
    admin.goto(f"{base}/admin/jobs/{job_id}")
    admin.wait_for_selector("[data-testid=form-publish]")
    admin.check("input[name=publish-visibility][value=public]")
    admin.click("[data-testid=publish]")
    admin.wait_for_load_state()
    assert "published" in admin.inner_text("[data-testid=job-title]").lower()
    shots(admin, "admin-job-published")

    # 2. The matching screen: two ranked with a breakdown, the conflicted one excluded with the reason.
    admin.click("[data-testid=matching-link]")
    admin.wait_for_selector("[data-testid=ranking]")
    ranking = admin.locator("[data-testid=ranking]")
    assert ranking.locator(f"[data-testid=ranked-{scene['best']}]").count() == 1
    assert ranking.locator(f"[data-testid=ranked-{scene['good']}]").count() == 1
    rows = ranking.locator("[data-testid^=ranked-]")
    assert rows.first.get_attribute("data-testid") == f"ranked-{scene['best']}"  # the full profile ranks first
    assert ranking.locator("[data-testid=criterion-skills]").count() == 1  # the heading, with its weight
    best_skills = ranking.locator(f"[data-testid=ranked-{scene['best']}] [data-testid=bar-skills]")
    assert best_skills.get_attribute("data-value") == "1.0"  # every required skill at the level asked
    excluded = admin.locator(f"[data-testid=excluded-{scene['conflicted']}]")
    assert excluded.count() == 1
    reason = excluded.inner_text().lower()
    assert "conflict" in reason and "brandt spritzguss" in reason and "former" in reason
    assert admin.locator(f"[data-testid=invite-{scene['conflicted']}]").count() == 0
    shots(admin, "admin-matching")

    # 3. The admin invites the two ranked experts.
    admin.check(f"[data-testid=invite-{scene['best']}]")
    admin.check(f"[data-testid=invite-{scene['good']}]")
    admin.click("[data-testid=invite-selected]")
    admin.wait_for_load_state()
    assert "invited" in admin.inner_text("body").lower()
    shots(admin, "admin-matching-invited")

    # 4. Expert "good" declines the invitation with a reason.
    good = watch.page(browser)
    _log_in(good, base, EXPERTS["good"][0], EXPERTS["good"][1])
    good.goto(base + "/invitations")
    card = good.locator("[data-testid=invitation]").first
    assert "invited" in card.inner_text().lower()
    shots(good, "good-invitations")
    invitation_id = card.get_attribute("data-invitation-id")
    good.click(f"[data-testid=decline-{invitation_id}] summary")
    good.fill(f"[data-testid=decline-form-{invitation_id}] textarea[name=reason]", DECLINE_REASON)
    good.click(f"[data-testid=decline-submit-{invitation_id}]")
    good.wait_for_load_state()
    assert DECLINE_REASON in good.inner_text("[data-testid=decline-reason]")
    shots(good, "good-declined")

    # 5. Expert "best" opens the job, accepts the confidentiality terms and downloads the drawing.
    best = watch.page(browser)
    _log_in(best, base, EXPERTS["best"][0], EXPERTS["best"][1])
    best.goto(base + "/invitations")
    best.locator("[data-testid=invitation] [data-testid=job-link]").first.click()
    best.wait_for_url(re.compile(rf".*/jobs/{job_id}$"))
    assert COMPANY not in best.inner_text("main")
    assert best.locator("[data-testid=offer-locked]").count() == 1
    shots(best, "best-job-locked")
    best.check("[data-testid=accept-terms-form] input[type=checkbox]")
    best.click("[data-testid=accept-terms]")
    best.wait_for_selector("[data-testid=terms-accepted]")
    link = best.locator("[data-testid^=download-]").first
    with best.expect_download() as info:
        link.click()
    download = info.value
    assert download.suggested_filename == "housing-drawing.pdf"
    assert download.path() is not None and open(download.path(), "rb").read(5) == b"%PDF-"
    shots(best, "best-job-open")

    # 6. The offer: a first try whose milestone shares add up to 90 % is refused, nothing typed is lost.
    best.click("[data-testid=make-offer]")
    best.wait_for_selector("[data-testid=offer-form]")
    start, end = today + timedelta(days=10), today + timedelta(days=35)
    best.fill("#solution", "Gate-freeze and viscosity studies, then a DOE on holding pressure and mould temperature.")
    best.fill("#price", "7.800,00")
    best.fill("#start_date", start.isoformat())
    best.fill("#end_date", end.isoformat())
    best.fill("#deliverables", "Study report\nValidated process window\nSetter training")
    best.fill("#milestones-0-title", "Studies on the machine")
    best.fill("#milestones-0-due_date", (start + timedelta(days=7)).isoformat())
    best.fill("#milestones-0-share_percent", "40")
    best.get_by_role("button", name="Add another milestone").click()
    best.fill("#milestones-1-title", "Report and training")
    best.fill("#milestones-1-due_date", end.isoformat())
    best.fill("#milestones-1-share_percent", "50")
    best.check("#accept_clauses")
    shots(best, "best-offer-form")
    best.click("[data-testid=send-offer]")
    best.wait_for_selector("[data-testid=error-milestones]")
    assert "90" in best.inner_text("[data-testid=error-milestones]")
    assert best.input_value("#milestones-1-title") == "Report and training"
    assert "Setter training" in best.input_value("#deliverables")
    shots(best, "best-offer-refused")
    best.fill("#milestones-1-share_percent", "60")
    if not best.is_checked("#accept_clauses"):
        best.check("#accept_clauses")
    best.click("[data-testid=send-offer]")
    best.wait_for_url(re.compile(r".*/offers/\d+$"))
    offer_id = int(re.search(r"/offers/(\d+)$", best.url).group(1))
    assert "submitted" in best.inner_text("[data-testid=offer-status]").lower()
    assert "7,800.00" in best.inner_text("[data-testid=price]")
    assert best.locator("[data-testid=milestones] tbody tr").count() == 2
    shots(best, "best-offer-sent")

    # 7. The hub finds the offer in its queue and opens it.
    admin.goto(base + "/admin/offers/")
    row = admin.locator(f"[data-testid=offer-{offer_id}]")
    assert row.count() == 1
    assert "E-BEST" in row.inner_text() and "7,800.00" in row.inner_text()
    shots(admin, "admin-offers-queue")
    row.locator("[data-testid=open-offer]").click()
    admin.wait_for_selector("[data-testid=versions]")
    assert "Report and training" in admin.inner_text("[data-testid=milestones]")
    assert admin.locator("[data-testid=breakdown]").count() == 1
    shots(admin, "admin-offer")
    admin.goto(f"{base}/admin/matching/{job_id}")
    assert DECLINE_REASON in admin.inner_text(f"[data-testid=ranked-{scene['good']}]")
    shots(admin, "admin-matching-after")

    with live_app.app_context():
        offer = db.session.get(Offer, offer_id)
        assert offer.status is OfferStatus.SUBMITTED and offer.expert_id == scene["best"]
        assert offer.current_version.price_minor == 780000
        assert [m.share_percent for m in offer.current_version.milestones] == [40, 60]
        declined = db.session.scalar(sa.select(JobInvitation).where(JobInvitation.expert_id == scene["good"]))
        assert declined.status is InvitationStatus.DECLINED and declined.decline_reason == DECLINE_REASON
    # The refused first try answered 400 on purpose (the form shown again with its errors).
    refused = {f"400 {base}/jobs/{job_id}/offer", "Failed to load resource: the server responded with a status of 400 "
               "(BAD REQUEST)"}
    assert [e for e in watch.errors if e not in refused] == [], watch.errors
    assert f"400 {base}/jobs/{job_id}/offer" in watch.errors
