"""The company's job pages through HTTP: access, list, drafting, files, submission, the hub's questions, cancel."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from app.extensions import db
from app.models import (
    AuditEvent,
    CatalogKind,
    ExpertiseLevel,
    Job,
    JobAttachment,
    JobCategory,
    JobClarification,
    JobStatus,
    LanguageProficiency,
    VerificationStatus,
)
from tests import factories
from tests.conftest import login

J = JobStatus
TODAY = datetime.now(UTC).date()


def setup(status: VerificationStatus = VerificationStatus.APPROVED) -> tuple[Any, Any, Any]:
    company = factories.company(status=status)
    owner = factories.company_user(company)
    member = factories.company_user(company, owner=False)
    db.session.commit()
    return company, owner, member


def make_job(company: Any, **overrides: Any) -> Job:
    job = factories.job(company, **overrides)
    db.session.commit()
    return job


def reload(job_id: int) -> Job:
    db.session.expire_all()
    job = db.session.get(Job, job_id)
    assert job is not None
    return job


def job_form(job: Job, **changes: Any) -> dict[str, Any]:
    """What the edit page posts for ``job`` as it is, with ``changes``."""
    data: dict[str, Any] = {
        "title_term_id": str(job.title_term_id or 0),
        "category": job.category.value,
        "subtype": job.subtype,
        "description": job.description,
        "scope": job.scope,
        "audience": job.audience,
        "headcount": str(job.headcount or ""),
        "delivery": job.delivery.value if job.delivery else "",
        "location": job.location,
        "training_language": job.training_language,
        "process_term_id": str(job.process_term_id or 0),
        "material_term_id": str(job.material_term_id or 0),
        "defect_term_id": str(job.defect_term_id or 0),
        "machine_description": job.machine_description,
        "part_description": job.part_description,
        "data_available": job.data_available,
        "budget": "" if job.budget_minor is None else f"{job.budget_minor / 100:.2f}",
        "currency": job.currency,
        "start_date": job.start_date.isoformat() if job.start_date else "",
        "completion_date": job.completion_date.isoformat() if job.completion_date else "",
    }
    for i, skill in enumerate(job.skills):
        data[f"skills-{i}-term_id"] = str(skill.term_id)
        data[f"skills-{i}-level"] = skill.level.value
    for i in range(len(job.skills), len(job.skills) + 8):
        data[f"skills-{i}-term_id"] = "0"
        data[f"skills-{i}-level"] = "senior"
    for i in range(4):
        data[f"languages-{i}-code"] = ""
        data[f"languages-{i}-proficiency"] = "B2"
    data.update(changes)
    return data


# access -------------------------------------------------------------------------------------------


def test_anonymous_is_sent_to_login_and_posts_are_refused(client, app):
    company, _, _ = setup()
    job = make_job(company)
    for page in ["/company/jobs", "/company/jobs/new", f"/company/jobs/{job.id}", f"/company/jobs/{job.id}/edit"]:
        response = client.get(page)
        assert response.status_code == 302 and "/login" in response.headers["Location"], page
    for path in [f"/company/jobs/{job.id}/submit", f"/company/jobs/{job.id}/cancel", f"/company/jobs/{job.id}/answer",
                 f"/company/jobs/{job.id}/attachments", "/company/jobs/attachments/1/remove"]:
        assert client.post(path).status_code == 401, path


def test_experts_and_admins_are_refused(client, app):
    company, _, _ = setup()
    job = make_job(company)
    expert = factories.expert()
    admin = factories.admin()
    db.session.commit()
    for user in (expert.user, admin):
        login(client, user)
        assert client.get("/company/jobs").status_code == 403
        assert client.get(f"/company/jobs/{job.id}").status_code == 403
        assert client.post(f"/company/jobs/{job.id}/submit").status_code == 403
    assert reload(job.id).status is J.DRAFT


def test_another_companys_job_is_not_found_on_every_route(client, app, storage_dir):
    company, owner, _ = setup()
    job = make_job(company)
    other_company, other_owner, _ = setup()
    login(client, owner)
    client.post(f"/company/jobs/{job.id}/attachments",
                data={"file": (io.BytesIO(factories.step_bytes()), "part.step")}, content_type="multipart/form-data")
    attachment = db.session.scalars(sa.select(JobAttachment)).one()

    login(client, other_owner)
    assert client.get(f"/company/jobs/{job.id}").status_code == 404
    assert client.get(f"/company/jobs/{job.id}/edit").status_code == 404
    assert client.post(f"/company/jobs/{job.id}/edit", data=job_form(job, description="hijack")).status_code == 404
    assert client.post(f"/company/jobs/{job.id}/submit").status_code == 404
    assert client.post(f"/company/jobs/{job.id}/answer", data={"answer": "x"}).status_code == 404
    assert client.post(f"/company/jobs/{job.id}/cancel").status_code == 404
    upload = client.post(f"/company/jobs/{job.id}/attachments",
                         data={"file": (io.BytesIO(factories.step_bytes()), "x.step")},
                         content_type="multipart/form-data")
    assert upload.status_code == 404
    assert client.get(f"/company/jobs/attachments/{attachment.id}").status_code == 404
    assert client.post(f"/company/jobs/attachments/{attachment.id}/remove").status_code == 404
    assert client.get("/company/jobs/999999").status_code == 404
    job = reload(job.id)
    assert job.status is J.DRAFT and job.description != "hijack" and len(job.active_attachments) == 1


# list -----------------------------------------------------------------------------------------------


def test_index_empty_state_with_post_button_for_an_approved_company(client, app):
    _, owner, _ = setup()
    login(client, owner)
    html = client.get("/company/jobs").get_data(as_text=True)
    assert 'data-testid="no-jobs"' in html
    assert 'data-testid="post-job"' in html
    assert 'data-testid="cannot-post"' not in html
    assert 'data-testid="nav-jobs"' in html


def test_index_explains_why_an_unverified_company_cannot_post(client, app):
    _, owner, _ = setup(VerificationStatus.PENDING_VERIFICATION)
    login(client, owner)
    html = client.get("/company/jobs").get_data(as_text=True)
    assert 'data-testid="post-job"' not in html
    assert 'data-testid="cannot-post"' in html and "verified your company" in html


def test_index_lists_own_jobs_with_badges_and_paginates(client, app):
    company, owner, _ = setup()
    for _ in range(22):
        factories.job(company, skills=0)
    published = factories.job(company, status=J.PUBLISHED, skills=0)
    other = factories.job(factories.company(), skills=0)
    db.session.commit()
    login(client, owner)
    first = client.get("/company/jobs").get_data(as_text=True)
    second = client.get("/company/jobs?page=2").get_data(as_text=True)
    rows = re.findall(r'data-testid="job-row-(\d+)"', first) + re.findall(r'data-testid="job-row-(\d+)"', second)
    assert len(rows) == 23 and len(set(rows)) == 23
    assert str(other.id) not in rows
    assert 'class="pagination"' in first
    assert f'data-testid="job-status-{published.id}">Published<' in first + second
    assert "€5,000.00" in first


# new ------------------------------------------------------------------------------------------------


def test_new_creates_a_draft_and_goes_to_the_form(client, app):
    company, _, member = setup()
    login(client, member)
    assert client.get("/company/jobs/new").status_code == 200
    response = client.post("/company/jobs/new", data={"category": "training"})
    job = db.session.scalars(sa.select(Job)).one()
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/company/jobs/{job.id}/edit")
    assert job.status is J.DRAFT and job.category is JobCategory.TRAINING and job.company_id == company.id
    assert job.created_by_id == member.id


def test_new_without_a_category_is_refused_with_the_field_named(client, app):
    _, owner, _ = setup()
    login(client, owner)
    response = client.post("/company/jobs/new", data={"category": "gardening"})
    assert response.status_code == 400
    assert 'data-testid="error-category"' in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Job)) == 0


def test_new_is_refused_for_an_unverified_company(client, app):
    _, owner, _ = setup(VerificationStatus.DRAFT)
    login(client, owner)
    response = client.post("/company/jobs/new", data={"category": "training"}, follow_redirects=True)
    assert response.request.path == "/company/jobs"
    assert "Complete the company profile" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Job)) == 0


# edit -----------------------------------------------------------------------------------------------


def test_edit_page_offers_catalog_terms_blank_rows_and_no_retired_terms(client, app):
    company, owner, _ = setup()
    job = make_job(company)
    factories.term(CatalogKind.SKILL, name="Scientific molding")
    factories.term(CatalogKind.SKILL, name="Old skill", retired_at=datetime.now(UTC))
    factories.term(CatalogKind.DEFECT, name="Sink marks", group="Injection molding")
    db.session.commit()
    login(client, owner)
    html = client.get(f"/company/jobs/{job.id}/edit").get_data(as_text=True)
    assert "Scientific molding" in html and "Sink marks" in html
    assert "Old skill" not in html
    rows = re.findall(r'name="skills-(\d+)-term_id"', html)
    assert len(rows) >= len(job.skills) + 8
    assert 'data-testid="qc-fee"' in html and "€750.00" in html  # 15% of €5,000
    has_tickets = "tickets.new" in app.view_functions
    assert ('data-testid="ticket-link"' in html) is has_tickets
    if has_tickets:
        assert f"/company/tickets/new?job_id={job.id}" in html


def test_edit_saves_every_part_of_the_job(client, app):
    company, owner, _ = setup()
    job = make_job(company, skills=0)
    skill = factories.term(CatalogKind.SKILL, name="DOE")
    process = factories.term(CatalogKind.PROCESS, name="Extrusion")
    db.session.commit()
    login(client, owner)
    start, end = TODAY + timedelta(days=10), TODAY + timedelta(days=40)
    data = job_form(job, description="Warpage on a lid.", budget="4,500.50", currency="CHF",
                    start_date=start.isoformat(), completion_date=end.isoformat(), qc_requested="y",
                    show_company_name="y", process_term_id=str(process.id))
    data.update({"skills-0-term_id": str(skill.id), "skills-0-level": "principal",
                 "languages-0-code": "de", "languages-0-proficiency": "C1"})
    response = client.post(f"/company/jobs/{job.id}/edit", data=data)
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/company/jobs/{job.id}")
    job = reload(job.id)
    assert job.description == "Warpage on a lid."
    assert job.budget_minor == 450050 and job.currency == "CHF"
    assert job.start_date == start and job.completion_date == end
    assert job.qc_requested and job.show_company_name and job.process_term_id == process.id
    assert [(s.term_id, s.level) for s in job.skills] == [(skill.id, ExpertiseLevel.PRINCIPAL)]
    assert [(lang.code, lang.min_proficiency) for lang in job.languages] == [("de", LanguageProficiency.C1)]
    html = client.get(f"/company/jobs/{job.id}").get_data(as_text=True)
    assert "CHF" in html and "4,500.50" in html
    assert "675.08" in html  # the QC fee: 15% of 4,500.50
    assert 'data-testid="checklist-complete"' in html


def test_edit_refuses_bad_input_naming_each_field_and_keeps_what_was_typed(client, app):
    company, owner, _ = setup()
    job = make_job(company)
    before = (job.description, job.budget_minor, job.start_date)
    login(client, owner)
    past = (TODAY - timedelta(days=3)).isoformat()
    response = client.post(f"/company/jobs/{job.id}/edit",
                           data=job_form(job, description="Typed text stays", budget="0", start_date=past))
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'data-testid="error-budget"' in html
    assert 'data-testid="error-start_date"' in html and "in the past" in html
    assert "Typed text stays" in html
    job = reload(job.id)
    assert (job.description, job.budget_minor, job.start_date) == before


def test_edit_refuses_a_budget_that_is_not_a_number_and_a_completion_before_the_start(client, app):
    company, owner, _ = setup()
    job = make_job(company)
    login(client, owner)
    response = client.post(f"/company/jobs/{job.id}/edit", data=job_form(job, budget="a lot"))
    assert response.status_code == 400 and "Enter the budget as a number" in response.get_data(as_text=True)
    start, end = (TODAY + timedelta(days=20)).isoformat(), (TODAY + timedelta(days=5)).isoformat()
    response = client.post(f"/company/jobs/{job.id}/edit", data=job_form(job, start_date=start, completion_date=end))
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'data-testid="error-completion_date"' in html and "on or after the start date" in html


def test_edit_refuses_unknown_catalog_ids_and_duplicate_skills(client, app):
    company, owner, _ = setup()
    job = make_job(company)
    skill_id = job.skills[0].term_id
    login(client, owner)
    response = client.post(f"/company/jobs/{job.id}/edit", data=job_form(job, title_term_id="987654"))
    assert response.status_code == 400 and 'data-testid="error-title_term_id"' in response.get_data(as_text=True)
    response = client.post(f"/company/jobs/{job.id}/edit",
                           data=job_form(job, **{"skills-1-term_id": str(skill_id)}))
    assert response.status_code == 400 and 'data-testid="error-skills"' in response.get_data(as_text=True)


def test_edit_is_locked_while_the_job_is_under_review(client, app):
    company, owner, _ = setup()
    job = make_job(company, status=J.PENDING_REVIEW)
    login(client, owner)
    assert 'data-testid="locked"' in client.get(f"/company/jobs/{job.id}/edit").get_data(as_text=True)
    response = client.post(f"/company/jobs/{job.id}/edit", data=job_form(job, description="changed"),
                           follow_redirects=True)
    assert response.request.path == f"/company/jobs/{job.id}"
    assert "under review" in response.get_data(as_text=True)
    assert reload(job.id).description != "changed"


# detail ---------------------------------------------------------------------------------------------


def test_detail_shows_the_checklist_of_what_is_missing(client, app):
    company, owner, _ = setup()
    job = make_job(company, description="", budget_minor=None, skills=0)
    login(client, owner)
    html = client.get(f"/company/jobs/{job.id}").get_data(as_text=True)
    checklist = html[html.index('data-testid="checklist"'):]
    assert "Description" in checklist and "Budget" in checklist and "At least one required skill" in checklist
    assert 'data-testid="submit-disabled"' in html and 'data-testid="submit-job"' not in html
    assert 'data-testid="status-explained"' in html and 'data-testid="no-attachments"' in html


# files ----------------------------------------------------------------------------------------------


def test_upload_download_and_remove_a_file(client, app):
    company, owner, member = setup()
    job = make_job(company)
    login(client, member)
    page = client.get(f"/company/jobs/{job.id}").get_data(as_text=True)
    assert 'data-testid="upload-hint"' in page and "100 MB" in page and "20 files" in page
    response = client.post(f"/company/jobs/{job.id}/attachments",
                           data={"file": (io.BytesIO(factories.step_bytes()), "housing.step")},
                           content_type="multipart/form-data")
    assert response.status_code == 302
    attachment = db.session.scalars(sa.select(JobAttachment)).one()
    assert attachment.original_name == "housing.step" and attachment.job_id == job.id

    download = client.get(f"/company/jobs/attachments/{attachment.id}")
    assert download.status_code == 200 and download.data == factories.step_bytes()
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in download.headers["Content-Security-Policy"]
    logged = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "job_attachment.downloaded")).all()
    assert len(logged) == 1 and logged[0].entity_id == attachment.id

    assert client.post(f"/company/jobs/attachments/{attachment.id}/remove").status_code == 302
    db.session.expire_all()
    assert db.session.get(JobAttachment, attachment.id).removed_at is not None
    assert client.get(f"/company/jobs/attachments/{attachment.id}").status_code == 404


def test_a_file_whose_content_does_not_match_is_refused_and_earlier_files_kept(client, app):
    company, owner, _ = setup()
    job = make_job(company)
    login(client, owner)
    client.post(f"/company/jobs/{job.id}/attachments",
                data={"file": (io.BytesIO(factories.pdf_bytes()), "drawing.pdf")}, content_type="multipart/form-data")
    response = client.post(f"/company/jobs/{job.id}/attachments",
                           data={"file": (io.BytesIO(b"MZ\x90\x00 not a step file"), "part.step")},
                           content_type="multipart/form-data")
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and 'data-testid="error-file"' in html and "part.step" in html
    assert [a.original_name for a in reload(job.id).active_attachments] == ["drawing.pdf"]
    response = client.post(f"/company/jobs/{job.id}/attachments", data={}, content_type="multipart/form-data")
    assert response.status_code == 400 and "Choose a file" in response.get_data(as_text=True)


def test_job_files_may_exceed_the_app_wide_limit_but_not_the_job_limit(client, app):
    company, owner, _ = setup()
    job = make_job(company)
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    app.config["JOB_ATTACHMENT_MAX_MB"] = 1
    login(client, owner)
    csv = b"time;pressure\n" + b"0.1;850\n" * 20_000  # ~160 kB: over the app-wide limit, under the job limit
    response = client.post(f"/company/jobs/{job.id}/attachments",
                           data={"file": (io.BytesIO(csv), "pressure.csv")}, content_type="multipart/form-data")
    assert response.status_code == 302
    huge = b"time;pressure\n" + b"0.1;850\n" * 400_000  # ~3 MB: over the job limit and its form allowance
    response = client.post(f"/company/jobs/{job.id}/attachments",
                           data={"file": (io.BytesIO(huge), "huge.csv")}, content_type="multipart/form-data")
    html = response.get_data(as_text=True)
    assert response.status_code == 413 and "the limit is 1 MB per file" in html and 'data-testid="error-file"' in html
    assert [a.original_name for a in reload(job.id).active_attachments] == ["pressure.csv"]
    # The app-wide limit still holds elsewhere.
    assert client.post("/company/documents", data={"file": (io.BytesIO(csv), "x.pdf")},
                       content_type="multipart/form-data").status_code == 413


# submit, answer, cancel ----------------------------------------------------------------------------


def test_submit_a_complete_draft(client, app):
    company, _, member = setup()
    job = make_job(company)
    login(client, member)
    assert 'data-testid="submit-job"' in client.get(f"/company/jobs/{job.id}").get_data(as_text=True)
    response = client.post(f"/company/jobs/{job.id}/submit", follow_redirects=True)
    assert "The job is submitted" in response.get_data(as_text=True)
    assert reload(job.id).status is J.PENDING_REVIEW


def test_submit_an_incomplete_draft_is_refused_with_what_is_missing(client, app):
    company, owner, _ = setup()
    job = make_job(company, scope="")
    login(client, owner)
    response = client.post(f"/company/jobs/{job.id}/submit", follow_redirects=True)
    assert "Before submitting, please complete: Scope" in response.get_data(as_text=True)
    assert reload(job.id).status is J.DRAFT
    job = make_job(company, status=J.PENDING_REVIEW)
    response = client.post(f"/company/jobs/{job.id}/submit", follow_redirects=True)
    assert response.status_code == 200 and reload(job.id).status is J.PENDING_REVIEW


def _with_question(company: Any) -> Job:
    job = factories.job(company, status=J.CLARIFICATION_REQUESTED)
    job.clarifications.append(JobClarification(question="Which cavity shows the short shot?",
                                               asked_by_id=factories.admin().id))
    db.session.commit()
    return job


def test_answer_the_hubs_question_returns_the_job_to_review(client, app):
    company, owner, _ = setup()
    job = _with_question(company)
    login(client, owner)
    html = client.get(f"/company/jobs/{job.id}").get_data(as_text=True)
    assert "Which cavity shows the short shot?" in html and 'data-testid="answer-form"' in html
    assert 'data-testid="edit-job"' in html
    response = client.post(f"/company/jobs/{job.id}/answer", data={"answer": "Cavity 3 of 4."})
    assert response.status_code == 302
    job = reload(job.id)
    assert job.status is J.PENDING_REVIEW and job.clarifications[0].answer == "Cavity 3 of 4."
    html = client.get(f"/company/jobs/{job.id}").get_data(as_text=True)
    assert "Cavity 3 of 4." in html and 'data-testid="answer-form"' not in html


def test_an_empty_answer_or_one_without_a_question_is_refused(client, app):
    company, owner, _ = setup()
    job = _with_question(company)
    login(client, owner)
    response = client.post(f"/company/jobs/{job.id}/answer", data={"answer": "  "})
    assert response.status_code == 400 and "Write your answer" in response.get_data(as_text=True)
    assert reload(job.id).status is J.CLARIFICATION_REQUESTED
    draft = make_job(company)
    response = client.post(f"/company/jobs/{draft.id}/answer", data={"answer": "hello"}, follow_redirects=True)
    assert response.request.path == f"/company/jobs/{draft.id}"
    assert "no open question" in response.get_data(as_text=True)
    assert reload(draft.id).status is J.DRAFT


def test_owner_cancels_a_job_and_a_member_cannot(client, app):
    company, owner, member = setup()
    job = make_job(company)
    login(client, member)
    assert 'data-testid="cancel-job"' not in client.get(f"/company/jobs/{job.id}").get_data(as_text=True)
    assert client.post(f"/company/jobs/{job.id}/cancel", data={"reason": "no"}).status_code == 403
    assert reload(job.id).status is J.DRAFT
    login(client, owner)
    assert 'data-testid="cancel-job"' in client.get(f"/company/jobs/{job.id}").get_data(as_text=True)
    response = client.post(f"/company/jobs/{job.id}/cancel", data={"reason": "Solved in-house."}, follow_redirects=True)
    assert "The job is cancelled." in response.get_data(as_text=True)
    job = reload(job.id)
    assert job.status is J.CANCELLED and job.status_note == "Solved in-house."
    response = client.post(f"/company/jobs/{job.id}/cancel", follow_redirects=True)
    assert response.status_code == 200 and reload(job.id).status is J.CANCELLED


def test_parse_amount_understands_common_ways_of_typing_money():
    from decimal import Decimal

    import pytest

    from forms.jobs import parse_amount

    assert parse_amount("4500") == Decimal("4500")
    assert parse_amount("4,500.50") == Decimal("4500.50")
    assert parse_amount("4.500,50") == Decimal("4500.50")
    assert parse_amount("4500,5") == Decimal("4500.5")
    assert parse_amount(" 12 000 ") == Decimal("12000")
    for bad in ("abc", "1e5x", "NaN", "Infinity", ""):
        with pytest.raises(ValueError):
            parse_amount(bad)


def test_a_service_refusal_is_shown_under_its_field(client, app):
    company, owner, _ = setup()
    job = make_job(company)
    login(client, owner)
    data = job_form(job, category="training", subtype="root_cause")
    response = client.post(f"/company/jobs/{job.id}/edit", data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and 'data-testid="error-subtype"' in html
    assert reload(job.id).category is JobCategory.PROBLEM_SOLVING


def test_a_saved_date_that_has_passed_may_stay(client, app):
    company, owner, _ = setup()
    past = TODAY - timedelta(days=2)
    job = make_job(company, start_date=past)
    login(client, owner)
    response = client.post(f"/company/jobs/{job.id}/edit", data=job_form(job, description="Still fine"))
    assert response.status_code == 302
    job = reload(job.id)
    assert job.description == "Still fine" and job.start_date == past


def test_the_larger_job_file_limit_applies_before_csrf_protection_reads_the_form(client, app):
    company, owner, _ = setup()
    job = make_job(company)
    app.config.update(MAX_CONTENT_LENGTH=64 * 1024, JOB_ATTACHMENT_MAX_MB=1, WTF_CSRF_ENABLED=True)
    login(client, owner)
    csv = b"time;pressure\n" + b"0.1;850\n" * 20_000
    response = client.post(f"/company/jobs/{job.id}/attachments",
                           data={"file": (io.BytesIO(csv), "pressure.csv")}, content_type="multipart/form-data")
    assert response.status_code == 400 and "CSRF" in response.get_data(as_text=True)  # read, not refused as too large
    assert reload(job.id).active_attachments == []
