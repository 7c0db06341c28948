"""Job review in the back office through the HTTP layer: the queue, the job page, every decision
(allowed and refused), the file previews, the invitations list and who may use any of it."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.integrations.storage import get_storage
from app.models import (
    AttachmentKind,
    AuditEvent,
    Company,
    ExpertProfile,
    Job,
    JobAttachment,
    JobClarification,
    JobInvitation,
    JobStatus,
    JobVisibility,
    Notification,
    User,
    VerificationStatus,
)
from app.services import audit, uow
from tests import factories
from tests.admin_views.conftest import flashes, list_table, reload, snapshot
from tests.conftest import login

J = JobStatus


def make_job_attachment(
    job: Job,
    *,
    data: bytes | None = None,
    name: str = "drawing.pdf",
    content_type: str = "application/pdf",
    kind: AttachmentKind = AttachmentKind.PDF,
) -> JobAttachment:
    """A stored job file (blob in the app's storage + row)."""
    data = data if data is not None else factories.pdf_bytes()
    key = f"jobs/{job.id}/files/{uuid.uuid4().hex}"
    get_storage().put(key, data, content_type=content_type)
    attachment = JobAttachment(
        job_id=job.id,
        kind=kind,
        storage_key=key,
        original_name=name,
        content_type=content_type,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        uploaded_by_id=job.created_by_id,
    )
    db.session.add(attachment)
    db.session.flush()
    return attachment


class World:
    """An approved company with its owner, and helpers to make jobs in any state."""

    def __init__(self, f: Any) -> None:
        self.f = f
        self.company: Company = f.company(name="Kunststoffwerk Süd GmbH")
        self.owner: User = f.company_user(self.company, full_name="Olga Owner")
        uow.commit()

    def job(self, status: JobStatus = J.PENDING_REVIEW, **kw: Any) -> Job:
        job = self.f.job(self.company, status=status, created_by=self.owner, **kw)
        uow.commit()
        return job


@pytest.fixture
def world(f: Any) -> World:
    return World(f)


def decide(client: FlaskClient, job: Job, decision: str, data: dict[str, Any] | None = None) -> Any:
    payload = {f"{decision}-{name}": value for name, value in (data or {}).items()}
    return client.post(f"/admin/jobs/{job.id}/decide/{decision}", data=payload, follow_redirects=True)


def page(client: FlaskClient, job: Job) -> str:
    resp = client.get(f"/admin/jobs/details/?id={job.id}")
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


def notifications_of(user: User) -> list[Notification]:
    return list(db.session.scalars(
        sa.select(Notification).where(Notification.user_id == user.id).order_by(Notification.id)))


def events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)))


# The notification link and the queue ------------------------------------------------------


def test_the_notification_link_opens_the_job_page(admin_client: FlaskClient, world: World) -> None:
    job = world.job()

    resp = admin_client.get(f"/admin/jobs/{job.id}")

    assert resp.status_code == 302
    assert resp.headers["Location"].endswith(f"/admin/jobs/details/?id={job.id}")
    assert admin_client.get("/admin/jobs/999999").status_code == 404
    assert admin_client.get("/admin/jobs/details/?id=999999").status_code == 404


def test_the_queue_lists_waiting_jobs_first_oldest_submission_first(admin_client: FlaskClient, world: World) -> None:
    now = datetime.now(UTC)
    published = world.job(J.PUBLISHED, submitted_at=now - timedelta(days=30), description="published-one")
    newer = world.job(J.PENDING_REVIEW, submitted_at=now - timedelta(days=1))
    waiting_answer = world.job(J.CLARIFICATION_REQUESTED, submitted_at=now - timedelta(days=5))
    older = world.job(J.PENDING_REVIEW, submitted_at=now - timedelta(days=3))
    draft = world.job(J.DRAFT)

    resp = admin_client.get("/admin/jobs/")

    assert resp.status_code == 200
    table = list_table(resp.get_data(as_text=True))
    order = [int(i) for i in re.findall(r'/admin/jobs/details/\?id=(\d+)[^"]*" data-testid="open-job"', table)]
    assert order[:3] == [older.id, newer.id, waiting_answer.id]
    assert set(order[3:]) == {published.id, draft.id}
    assert "Kunststoffwerk Süd GmbH" in table
    assert "5.000,00" in table or "5,000.00" in table  # the budget, formatted


def test_the_list_is_empty_before_any_job(admin_client: FlaskClient) -> None:
    resp = admin_client.get("/admin/jobs/")
    assert resp.status_code == 200
    assert list_table(resp.get_data(as_text=True)) == "" or "open-job" not in resp.get_data(as_text=True)


def test_the_list_filters_by_status_and_category_and_searches_title_and_company(
    admin_client: FlaskClient, world: World, f: Any
) -> None:
    pending = world.job(J.PENDING_REVIEW)
    published = world.job(J.PUBLISHED)
    other_company = f.company(name="Zeta Plastics Ltd")
    f.company_user(other_company)
    other = f.job(other_company, status=J.PENDING_REVIEW)
    other.title_term.name = "Hot runner specialist"
    uow.commit()

    admin_client.get("/admin/jobs/")  # builds the filter list
    view = next(v for v in admin_client.application.extensions["admin"][0]._views if v.endpoint == "jobs")
    index = {(str(flt.name), str(flt.operation())): i for i, flt in enumerate(view._filters)}

    status_eq = index[("Status", "equals")]
    table = list_table(admin_client.get(f"/admin/jobs/?flt0_{status_eq}=published").get_data(as_text=True))
    assert f"id={published.id}&" in table or f'id={published.id}"' in table
    assert f"id={pending.id}&" not in table and f'id={pending.id}"' not in table

    category_eq = index[("Category", "equals")]
    table = list_table(admin_client.get(f"/admin/jobs/?flt0_{category_eq}=training").get_data(as_text=True))
    assert "open-job" not in table

    table = list_table(admin_client.get("/admin/jobs/?search=Zeta").get_data(as_text=True))
    assert "Zeta Plastics Ltd" in table and "Kunststoffwerk" not in table
    table = list_table(admin_client.get("/admin/jobs/?search=runner").get_data(as_text=True))
    assert f"id={other.id}" in table and "Kunststoffwerk" not in table


def test_the_queue_page_costs_the_same_queries_for_20_and_200_jobs(
    app: Flask, admin_client: FlaskClient, world: World, f: Any
) -> None:
    def make(n: int) -> None:
        for _ in range(n):
            f.job(world.company, status=J.PENDING_REVIEW, created_by=world.owner, skills=2)
        uow.commit()

    def count() -> int:
        statements: list[str] = []

        def listener(*args: Any) -> None:
            statements.append(args[2])

        sa.event.listen(db.engine, "before_cursor_execute", listener)
        try:
            resp = admin_client.get("/admin/jobs/?page_size=20")
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", listener)
        assert resp.status_code == 200
        return len(statements)

    make(20)
    with_20 = count()
    make(180)
    with_200 = count()

    assert with_20 == with_200


def test_the_dashboard_shows_the_jobs_queue_with_its_oldest_waiting_time(
    admin_client: FlaskClient, world: World
) -> None:
    world.job(J.PENDING_REVIEW, submitted_at=datetime.now(UTC) - timedelta(days=3))
    world.job(J.PENDING_REVIEW)
    world.job(J.CLARIFICATION_REQUESTED)  # waits for the company, not the hub

    html = admin_client.get("/admin/").get_data(as_text=True)

    card = re.search(r'data-testid="queue-jobs".*?</div>\s*</div>\s*</div>', html, re.S)
    assert card is not None
    assert re.search(r'data-testid="queue-count">2<', card.group(0))
    assert "3 days" in card.group(0)
    assert "/admin/jobs/" in card.group(0)


# The job page -------------------------------------------------------------------------------


def test_the_job_page_shows_the_whole_job_company_files_thread_and_history(
    admin_client: FlaskClient, admin: User, world: World
) -> None:
    job = world.job(J.PENDING_REVIEW, qc_requested=True)
    pdf = make_job_attachment(job, name="drawing.pdf")
    png = make_job_attachment(
        job, data=factories.image_bytes(), name="photo.png", content_type="image/png", kind=AttachmentKind.IMAGE
    )
    step = make_job_attachment(
        job, data=factories.step_bytes(), name="housing.step", content_type="model/step", kind=AttachmentKind.CAD
    )
    db.session.add(
        JobClarification(
            job_id=job.id,
            question="Which machine?",
            asked_by_id=admin.id,
            answer="Engel 200 t",
            answered_by_id=world.owner.id,
            answered_at=datetime.now(UTC),
        )
    )
    audit.record(
        "job.submitted",
        actor=world.owner,
        entity="jobs",
        entity_id=job.id,
        from_state="draft",
        to_state="pending_review",
    )
    uow.commit()

    html = page(admin_client, job)

    assert job.description in html and job.scope in html and job.part_description in html
    assert "Kunststoffwerk Süd GmbH" in html
    assert f"/admin/companies/details/?id={world.company.id}" in html
    assert "Approved" in html  # the company's verification status
    assert "750,00" in html or "750.00" in html  # the QC fee (15 % of 5,000.00)
    assert f'src="/admin/jobs/attachments/{pdf.id}/preview"' in html
    assert 'data-testid="preview-pdf"' in html
    assert f'src="/admin/jobs/attachments/{png.id}/preview"' in html
    assert f"/admin/jobs/attachments/{step.id}/preview" not in html
    assert f'href="/admin/jobs/attachments/{step.id}"' in html
    assert "Which machine?" in html and "Engel 200 t" in html
    assert "job.submitted" in html
    # The decisions a job under review allows, and none other.
    for testid in ("publish", "clarify", "reject", "cancel"):
        assert f'data-testid="{testid}"' in html
    for testid in ("close", "invite"):
        assert f'data-testid="{testid}"' not in html


def test_the_job_page_shows_what_changed_since_the_last_question(
    admin_client: FlaskClient, admin: User, world: World
) -> None:
    job = world.job(J.PENDING_REVIEW)
    asked = datetime.now(UTC) - timedelta(hours=2)
    db.session.add(
        JobClarification(
            job_id=job.id,
            question="Budget?",
            asked_by_id=admin.id,
            asked_at=asked,
            answer="Raised",
            answered_by_id=world.owner.id,
            answered_at=datetime.now(UTC),
        )
    )
    audit.record(
        "job.clarification_requested",
        actor=admin,
        entity="jobs",
        entity_id=job.id,
        from_state="pending_review",
        to_state="clarification_requested",
    )
    audit.record(
        "job.updated", actor=world.owner, entity="jobs", entity_id=job.id, data={"fields": ["budget_minor", "scope"]}
    )
    uow.commit()

    html = page(admin_client, job)

    changes = re.search(r'data-testid="changes">(.*?)</ul>', html, re.S)
    assert changes is not None
    assert "budget_minor, scope" in changes.group(1)


# Decisions: ask a question -------------------------------------------------------------------


def test_admin_asks_the_company_a_question(admin_client: FlaskClient, admin: User, world: World) -> None:
    job = world.job(J.PENDING_REVIEW)

    resp = decide(admin_client, job, "clarify", {"question": "Which cavity shows the short shots?"})

    assert resp.status_code == 200
    assert any("Question sent" in m for m in flashes(resp.get_data(as_text=True)))
    job = reload(job)
    assert job.status is J.CLARIFICATION_REQUESTED
    assert [c.question for c in job.clarifications] == ["Which cavity shows the short shots?"]
    assert [n.kind for n in notifications_of(world.owner)] == ["job.clarification_requested"]
    assert notifications_of(world.owner)[0].link == f"/company/jobs/{job.id}"
    html = resp.get_data(as_text=True)
    assert 'data-testid="no-decision"' not in html  # cancel stays possible
    assert 'data-testid="publish"' not in html


def test_an_empty_question_is_refused_next_to_the_field(app: Flask, admin_client: FlaskClient, world: World) -> None:
    job = world.job(J.PENDING_REVIEW)
    before = snapshot(app)

    resp = admin_client.post(f"/admin/jobs/{job.id}/decide/clarify", data={"clarify-question": "  "})

    assert resp.status_code == 400
    assert 'data-testid="error-clarify-question"' in resp.get_data(as_text=True)
    assert snapshot(app) == before


def test_a_question_on_a_published_job_is_refused(app: Flask, admin_client: FlaskClient, world: World) -> None:
    job = world.job(J.PUBLISHED)
    before = snapshot(app)

    resp = decide(admin_client, job, "clarify", {"question": "Too late?"})

    assert resp.status_code == 200
    assert any("not possible while the job is Published" in m for m in flashes(resp.get_data(as_text=True)))
    assert snapshot(app) == before


def test_an_unknown_decision_is_not_found(admin_client: FlaskClient, world: World) -> None:
    job = world.job(J.PENDING_REVIEW)
    assert admin_client.post(f"/admin/jobs/{job.id}/decide/approve").status_code == 404
    assert admin_client.post("/admin/jobs/999999/decide/reject", data={"reject-reason": "x"}).status_code == 404


# Decisions: publish -------------------------------------------------------------------------


def test_admin_publishes_a_job_publicly(admin_client: FlaskClient, admin: User, world: World, f: Any) -> None:
    job = world.job(J.PENDING_REVIEW)
    f.expert()
    uow.commit()

    resp = decide(admin_client, job, "publish", {"visibility": "public"})

    assert any("Published" in m for m in flashes(resp.get_data(as_text=True)))
    job = reload(job)
    assert (job.status, job.visibility, job.decided_by_id) == (J.PUBLISHED, JobVisibility.PUBLIC, admin.id)
    assert job.published_at is not None
    assert [n.kind for n in notifications_of(world.owner)] == ["job.published"]
    html = resp.get_data(as_text=True)
    assert 'data-testid="close"' in html and 'data-testid="invite"' in html


def test_admin_publishes_a_private_job_to_invited_experts(admin_client: FlaskClient, world: World, f: Any) -> None:
    job = world.job(J.PENDING_REVIEW)
    invited = f.expert()
    other = f.expert()
    uow.commit()
    html = page(admin_client, job)
    assert f'value="{invited.id}"' in html and invited.pseudonym in html

    resp = decide(admin_client, job, "publish", {"visibility": "private", "invite_expert_ids": [str(invited.id)]})

    assert resp.status_code == 200
    job = reload(job)
    assert (job.status, job.visibility) == (J.PUBLISHED, JobVisibility.PRIVATE)
    assert [i.expert_id for i in job.invitations] == [invited.id]
    invited_user = db.session.get(User, invited.user_id)
    other_user = db.session.get(User, other.user_id)
    assert [n.kind for n in notifications_of(invited_user)] == ["job.invited"]
    assert notifications_of(invited_user)[0].link == f"/jobs/{job.id}"
    assert notifications_of(other_user) == []


def test_a_private_job_without_experts_is_refused_next_to_the_field(
    app: Flask, admin_client: FlaskClient, world: World, f: Any
) -> None:
    job = world.job(J.PENDING_REVIEW)
    f.expert()
    uow.commit()
    before = snapshot(app)

    resp = admin_client.post(f"/admin/jobs/{job.id}/decide/publish", data={"publish-visibility": "private"})

    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert 'data-testid="error-publish-invite_expert_ids"' in html
    assert "at least one invited expert" in html
    assert snapshot(app) == before


def test_an_unverified_expert_cannot_be_invited(app: Flask, admin_client: FlaskClient, world: World, f: Any) -> None:
    job = world.job(J.PENDING_REVIEW)
    pending = f.expert(status=VerificationStatus.PENDING_VERIFICATION)
    uow.commit()
    assert f'value="{pending.id}"' not in page(admin_client, job)
    before = snapshot(app)

    resp = admin_client.post(
        f"/admin/jobs/{job.id}/decide/publish",
        data={"publish-visibility": "private", "publish-invite_expert_ids": str(pending.id)},
    )

    assert resp.status_code == 400
    assert 'data-testid="error-publish-invite_expert_ids"' in resp.get_data(as_text=True)
    assert snapshot(app) == before


def test_publishing_a_draft_is_refused(app: Flask, admin_client: FlaskClient, world: World) -> None:
    job = world.job(J.DRAFT)
    assert 'data-testid="publish"' not in page(admin_client, job)
    before = snapshot(app)

    resp = decide(admin_client, job, "publish", {"visibility": "public"})

    assert any("not possible while the job is Draft" in m for m in flashes(resp.get_data(as_text=True)))
    assert snapshot(app) == before


# Decisions: reject --------------------------------------------------------------------------


def test_admin_rejects_a_job_with_a_reason(admin_client: FlaskClient, world: World) -> None:
    job = world.job(J.PENDING_REVIEW)

    resp = decide(admin_client, job, "reject", {"reason": "This is recruitment, not a project."})

    assert any("Rejected" in m for m in flashes(resp.get_data(as_text=True)))
    job = reload(job)
    assert (job.status, job.status_note) == (J.REJECTED, "This is recruitment, not a project.")
    assert [n.kind for n in notifications_of(world.owner)] == ["job.rejected"]
    assert 'data-testid="status-note"' in resp.get_data(as_text=True)
    assert 'data-testid="no-decision"' in resp.get_data(as_text=True)


def test_a_rejection_without_reason_is_refused(app: Flask, admin_client: FlaskClient, world: World) -> None:
    job = world.job(J.PENDING_REVIEW)
    before = snapshot(app)

    resp = admin_client.post(f"/admin/jobs/{job.id}/decide/reject", data={"reject-reason": ""})

    assert resp.status_code == 400
    assert 'data-testid="error-reject-reason"' in resp.get_data(as_text=True)
    assert snapshot(app) == before


def test_rejecting_a_published_job_is_refused(app: Flask, admin_client: FlaskClient, world: World) -> None:
    job = world.job(J.PUBLISHED)
    before = snapshot(app)

    resp = decide(admin_client, job, "reject", {"reason": "Changed our mind"})

    assert any("not possible" in m for m in flashes(resp.get_data(as_text=True)))
    assert snapshot(app) == before


# Decisions: close, cancel, invite another expert ------------------------------------------


def test_admin_closes_a_published_job(admin_client: FlaskClient, world: World) -> None:
    job = world.job(J.PUBLISHED)

    resp = decide(admin_client, job, "close", {"reason": "Filled elsewhere"})

    assert any("Closed" in m for m in flashes(resp.get_data(as_text=True)))
    assert reload(job).status is J.CLOSED
    assert [n.kind for n in notifications_of(world.owner)] == ["job.closed"]


def test_closing_a_job_under_review_is_refused(app: Flask, admin_client: FlaskClient, world: World) -> None:
    job = world.job(J.PENDING_REVIEW)
    before = snapshot(app)

    resp = decide(admin_client, job, "close")

    assert any("not possible" in m for m in flashes(resp.get_data(as_text=True)))
    assert snapshot(app) == before


def test_admin_cancels_a_job_and_invited_experts_are_told(admin_client: FlaskClient, world: World, f: Any) -> None:
    job = world.job(J.PUBLISHED, visibility="private")
    expert = f.expert()
    f.job_invitation(job, expert)
    uow.commit()

    resp = decide(admin_client, job, "cancel", {"reason": "Duplicate posting"})

    assert any("Cancelled" in m for m in flashes(resp.get_data(as_text=True)))
    assert reload(job).status is J.CANCELLED
    assert [n.kind for n in notifications_of(world.owner)] == ["job.cancelled"]
    assert [n.kind for n in notifications_of(db.session.get(User, expert.user_id))] == ["job.withdrawn"]


def test_cancelling_a_rejected_job_is_refused(app: Flask, admin_client: FlaskClient, world: World) -> None:
    job = world.job(J.REJECTED)
    before = snapshot(app)

    resp = decide(admin_client, job, "cancel")

    assert any("not possible" in m for m in flashes(resp.get_data(as_text=True)))
    assert snapshot(app) == before


def test_admin_invites_another_expert_to_a_published_job(
    admin_client: FlaskClient, admin: User, world: World, f: Any
) -> None:
    job = world.job(J.PUBLISHED, visibility="private")
    first = f.expert()
    second = f.expert()
    f.job_invitation(job, first, invited_by=admin)
    uow.commit()
    html = page(admin_client, job)
    invite_form = re.search(r'data-testid="form-invite".*?</form>', html, re.S)
    assert invite_form is not None
    assert f'value="{second.id}"' in invite_form.group(0)
    assert f'value="{first.id}"' not in invite_form.group(0)  # already invited

    resp = decide(admin_client, job, "invite", {"expert_id": str(second.id)})

    assert any("Expert invited" in m for m in flashes(resp.get_data(as_text=True)))
    assert sorted(i.expert_id for i in reload(job).invitations) == sorted([first.id, second.id])
    assert [n.kind for n in notifications_of(db.session.get(User, second.user_id))] == ["job.invited"]
    assert len(events("job.expert_invited")) == 1


def test_inviting_to_a_job_under_review_or_twice_is_refused(
    app: Flask, admin_client: FlaskClient, world: World, f: Any
) -> None:
    pending = world.job(J.PENDING_REVIEW)
    published = world.job(J.PUBLISHED, visibility="private")
    expert = f.expert()
    f.job_invitation(published, expert)
    uow.commit()
    before = snapshot(app)

    resp = decide(admin_client, pending, "invite", {"expert_id": str(expert.id)})
    assert any("not possible" in m for m in flashes(resp.get_data(as_text=True)))
    resp = admin_client.post(f"/admin/jobs/{published.id}/decide/invite", data={"invite-expert_id": str(expert.id)})
    assert resp.status_code == 400  # no longer a choice
    assert snapshot(app) == before


# Files ------------------------------------------------------------------------------------


def test_pdf_and_images_are_previewed_inline_in_a_sandbox(admin_client: FlaskClient, world: World) -> None:
    job = world.job(J.PENDING_REVIEW)
    pdf_data = factories.pdf_bytes()
    pdf = make_job_attachment(job, data=pdf_data)
    png = make_job_attachment(
        job, data=factories.image_bytes(), name="photo.png", content_type="image/png", kind=AttachmentKind.IMAGE
    )
    uow.commit()

    resp = admin_client.get(f"/admin/jobs/attachments/{pdf.id}/preview")

    assert resp.status_code == 200
    assert resp.data == pdf_data
    assert resp.mimetype == "application/pdf"
    assert "attachment" not in resp.headers.get("Content-Disposition", "")
    csp = resp.headers["Content-Security-Policy"]
    assert csp.startswith("sandbox") and "frame-ancestors 'self'" in csp
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers.get("X-Frame-Options", "SAMEORIGIN") == "SAMEORIGIN"
    assert admin_client.get(f"/admin/jobs/attachments/{png.id}/preview").mimetype == "image/png"
    logged = events("job_attachment.downloaded")
    assert [e.entity_id for e in logged] == [pdf.id, png.id]


def test_cad_files_are_downloaded_not_previewed(admin_client: FlaskClient, world: World) -> None:
    job = world.job(J.PENDING_REVIEW)
    step = make_job_attachment(
        job, data=factories.step_bytes(), name="housing.step", content_type="model/step", kind=AttachmentKind.CAD
    )
    uow.commit()

    assert admin_client.get(f"/admin/jobs/attachments/{step.id}/preview").status_code == 404
    resp = admin_client.get(f"/admin/jobs/attachments/{step.id}")

    assert resp.status_code == 200
    assert resp.data == factories.step_bytes()
    assert resp.headers["Content-Disposition"].startswith("attachment")
    assert "housing.step" in resp.headers["Content-Disposition"]
    assert resp.headers["Content-Security-Policy"].startswith("sandbox")
    assert resp.headers["Cache-Control"] == "no-store"
    assert admin_client.get("/admin/jobs/attachments/999999").status_code == 404


# The invitations list -------------------------------------------------------------------------


def test_the_invitations_view_is_read_only(admin_client: FlaskClient, admin: User, world: World, f: Any) -> None:
    job = world.job(J.PUBLISHED, visibility="private")
    expert = f.expert()
    invitation = f.job_invitation(job, expert, invited_by=admin)
    uow.commit()

    table = list_table(admin_client.get("/admin/job-invitations/").get_data(as_text=True))

    assert expert.pseudonym in table and "Hub Admin" in table
    assert f"/admin/jobs/details/?id={job.id}" in table
    details = admin_client.get(f"/admin/job-invitations/details/?id={invitation.id}")
    assert details.status_code == 200
    assert admin_client.get("/admin/job-invitations/new/").status_code in (302, 404)
    assert admin_client.post("/admin/job-invitations/delete/", data={"id": str(invitation.id)}).status_code in (
        302,
        404,
    )
    assert db.session.get(JobInvitation, invitation.id) is not None


# Access --------------------------------------------------------------------------------------

JOB_URLS = (
    ("GET", "/admin/jobs/"),
    ("GET", "/admin/jobs/{job}"),
    ("GET", "/admin/jobs/details/?id={job}"),
    ("GET", "/admin/jobs/attachments/{attachment}"),
    ("GET", "/admin/jobs/attachments/{attachment}/preview"),
    ("GET", "/admin/job-invitations/"),
    ("POST", "/admin/jobs/{job}/decide/publish"),
    ("POST", "/admin/jobs/{job}/decide/reject"),
    ("POST", "/admin/jobs/{job}/decide/clarify"),
    ("POST", "/admin/jobs/{job}/decide/cancel"),
)
POST_DATA = {
    "publish-visibility": "public",
    "reject-reason": "No",
    "clarify-question": "Why?",
    "cancel-reason": "",
}


@pytest.mark.parametrize("who", ["anonymous", "company_owner", "expert", "admin_without_2fa"])
def test_only_hub_admins_reach_job_review(app: Flask, world: World, f: Any, who: str) -> None:
    job = world.job(J.PENDING_REVIEW)
    attachment = make_job_attachment(job)
    principals: dict[str, User | None] = {
        "anonymous": None,
        "company_owner": world.owner,
        "expert": db.session.get(User, f.expert().user_id),
        "admin_without_2fa": f.admin(email="no2fa@example.test"),
    }
    uow.commit()
    client = app.test_client()
    user = principals[who]
    if user is not None:
        login(client, user)
    before = snapshot(app)

    for method, template in JOB_URLS:
        url = template.format(job=job.id, attachment=attachment.id)
        resp = client.open(url, method=method, data=POST_DATA if method == "POST" else None)
        if who == "anonymous":
            assert resp.status_code == 302 and "/login" in resp.headers["Location"], url
        elif who == "admin_without_2fa":
            assert resp.status_code == 302 and resp.headers["Location"].endswith("/two-factor/setup"), url
        else:
            assert resp.status_code == 403, f"{who} {method} {url} -> {resp.status_code}"
    assert snapshot(app) == before
    assert reload(job).status is J.PENDING_REVIEW
    assert events("job_attachment.downloaded") == []


def test_expert_profile_listed_for_invitation_shows_real_name_to_admin_only(
    admin_client: FlaskClient, world: World, f: Any
) -> None:
    job = world.job(J.PENDING_REVIEW)
    expert: ExpertProfile = f.expert(headline="Hot runner balancing")
    uow.commit()
    html = page(admin_client, job)
    option = re.search(rf'<option[^>]*value="{expert.id}"[^>]*>([^<]*)</option>', html)
    assert option is not None
    assert expert.pseudonym in option.group(1) and "Hot runner balancing" in option.group(1)


def test_every_sortable_column_sorts(admin_client: FlaskClient, world: World) -> None:
    world.job(J.PENDING_REVIEW)
    world.job(J.PUBLISHED)
    view = next(v for v in admin_client.application.extensions["admin"][0]._views if v.endpoint == "jobs")
    sortable = [name for name, _label in view._list_columns if name in view._sortable_columns]
    assert "company.name" in sortable and "status" in sortable
    for index in range(len(view._list_columns)):
        for desc in ("0", "1"):
            resp = admin_client.get(f"/admin/jobs/?sort={index}&desc={desc}")
            assert resp.status_code == 200, (index, desc)
            assert list_table(resp.get_data(as_text=True)).count('data-testid="open-job"') == 2
