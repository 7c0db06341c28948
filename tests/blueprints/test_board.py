"""The expert job board through HTTP: who sees which jobs, filters, pagination, the job page,
the confidentiality terms and file downloads, and a constant number of SQL queries per page."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import (
    AuditEvent,
    CatalogKind,
    ExpertiseLevel,
    JobCategory,
    JobConfidentialityAcceptance,
    JobLanguage,
    JobSkill,
    JobStatus,
    JobVisibility,
    LanguageProficiency,
    VerificationStatus,
)
from app.services import jobs as job_service
from app.services.uploads import Upload
from tests import factories
from tests.conftest import login

S = VerificationStatus
J = JobStatus


def published(company: Any = None, **overrides: Any) -> Any:
    """A published job (public unless ``visibility="private"``)."""
    return factories.job(company, status=J.PUBLISHED, **overrides)


def with_files(company: Any = None) -> tuple[Any, Any, Any]:
    """A published job with a STEP and a PDF file, uploaded through the service while it was a draft."""
    company = company or factories.company()
    owner = factories.company_user(company)
    job = factories.job(company, created_by=owner)
    db.session.commit()
    step = job_service.add_job_attachment(job.id, actor=owner, upload=Upload("bracket.step", factories.step_bytes()))
    pdf = job_service.add_job_attachment(job.id, actor=owner, upload=Upload("spec.pdf", factories.pdf_bytes()))
    job.status = J.PUBLISHED  # test set-up: the review itself is covered by the service tests
    job.visibility = JobVisibility.PUBLIC
    job.published_at = datetime.now(UTC)
    db.session.commit()
    return job, step, pdf


def page(client: Any, url: str) -> tuple[int, str]:
    response = client.get(url)
    return response.status_code, response.get_data(as_text=True)


def card_ids(html: str) -> set[int]:
    import re

    return {int(n) for n in re.findall(r'data-testid="job-card" data-job-id="(\d+)"', html)}


# Access -------------------------------------------------------------------------------------


def test_anonymous_is_sent_to_login(client):
    job, _step, pdf = with_files()
    for url in ("/jobs", f"/jobs/{job.id}", f"/jobs/attachments/{pdf.id}"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"], url
    assert client.post(f"/jobs/{job.id}/accept-terms", data={"accept": "y"}).status_code == 401
    assert db.session.scalar(sa.select(sa.func.count()).select_from(JobConfidentialityAcceptance)) == 0


def test_company_users_and_admins_are_refused(client):
    job, _step, pdf = with_files()
    owner = job.company.users[0]
    for user in (owner, factories.company_user(factories.company()), factories.admin()):
        db.session.commit()
        login(client, user)
        for url in ("/jobs", f"/jobs/{job.id}", f"/jobs/attachments/{pdf.id}"):
            assert client.get(url).status_code == 403, (user.role, url)
        assert client.post(f"/jobs/{job.id}/accept-terms", data={"accept": "y"}).status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(JobConfidentialityAcceptance)) == 0


@pytest.mark.parametrize("status", [S.DRAFT, S.PENDING_VERIFICATION, S.INFO_REQUESTED, S.REJECTED, S.SUSPENDED])
def test_unverified_experts_see_why_the_board_is_closed(client, status):
    job, _step, pdf = with_files()
    expert = factories.expert(status)
    db.session.commit()
    login(client, expert.user)
    code, html = page(client, "/jobs")
    assert code == 200
    assert 'data-testid="board-closed"' in html
    assert "opens once the hub has verified your expert profile" in html
    assert card_ids(html) == set()
    assert client.get(f"/jobs/{job.id}").status_code == 404
    assert client.post(f"/jobs/{job.id}/accept-terms", data={"accept": "y"}).status_code == 404
    assert client.get(f"/jobs/attachments/{pdf.id}").status_code == 404
    assert db.session.scalar(sa.select(sa.func.count()).select_from(JobConfidentialityAcceptance)) == 0


# The list -----------------------------------------------------------------------------------


def test_empty_board_explains_itself(client):
    expert = factories.expert()
    factories.job(status=J.PENDING_REVIEW)
    db.session.commit()
    login(client, expert.user)
    code, html = page(client, "/jobs")
    assert code == 200
    assert 'data-testid="no-jobs"' in html
    assert "There are no published jobs for you at the moment" in html


def test_expert_sees_public_jobs_and_private_ones_they_are_invited_to(client):
    expert, other = factories.expert(), factories.expert()
    public = published()
    invited = published(visibility="private")
    factories.job_invitation(invited, expert)
    not_invited = published(visibility="private")
    factories.job_invitation(not_invited, other)
    hidden = [factories.job(status=s) for s in (J.DRAFT, J.PENDING_REVIEW, J.CLARIFICATION_REQUESTED,
                                                J.REJECTED, J.CANCELLED, J.CLOSED)]
    db.session.commit()
    login(client, expert.user)
    code, html = page(client, "/jobs")
    assert code == 200
    assert card_ids(html) == {public.id, invited.id}
    assert html.count('data-testid="invited"') == 1
    for job in (not_invited, *hidden):
        assert client.get(f"/jobs/{job.id}").status_code == 404
    assert client.get("/jobs/999999").status_code == 404
    assert client.get(f"/jobs/{invited.id}").status_code == 200


def test_cards_hide_the_company_name_unless_shown(client):
    expert = factories.expert()
    industry = factories.term(CatalogKind.INDUSTRY, name="Automotive")
    anonymous = published(factories.company(name="Secret Molder GmbH", industry_id=industry.id, country="AT"))
    named = published(factories.company(name="Open Molder AG", country="CH"), show_company_name=True)
    db.session.commit()
    login(client, expert.user)
    code, html = page(client, "/jobs")
    assert code == 200
    assert "Secret Molder GmbH" not in html
    assert "Open Molder AG" in html
    assert "Automotive" in html and "Austria" in html and "Switzerland" in html
    assert str(anonymous.title_term) in html and str(named.title_term) in html
    assert "€5,000.00" in html  # the budget, formatted
    assert "Problem solving" in html
    _code, detail = page(client, f"/jobs/{anonymous.id}")
    assert "Secret Molder GmbH" not in detail and "Automotive" in detail


def test_filters_by_category_process_material_skill_language_budget_and_text(client):
    expert = factories.expert()
    process = factories.term(CatalogKind.PROCESS, name="Blow molding")
    material = factories.term(CatalogKind.MATERIAL, name="HDPE")
    skill = factories.term(CatalogKind.SKILL, name="Scientific molding")
    training = published(category=JobCategory.TRAINING, subtype="workshop", process_term_id=None,
                         material_term_id=None, description="Two-day workshop", budget_minor=100_000)
    blow = published(process_term_id=process.id, material_term_id=material.id, description="Bottles too thin",
                     budget_minor=900_000)
    blow.skills.append(JobSkill(term_id=skill.id, level=ExpertiseLevel.SENIOR))
    blow.languages.append(JobLanguage(code="de", min_proficiency=LanguageProficiency.B2))
    plain = published(description="Warpage on a lid", budget_minor=300_000)
    db.session.commit()
    login(client, expert.user)

    def ids(query: str) -> set[int]:
        code, html = page(client, "/jobs?" + query)
        assert code == 200, (query, html)
        return card_ids(html)

    assert ids("") == {training.id, blow.id, plain.id}
    assert ids("category=training") == {training.id}
    assert ids("category=problem_solving") == {blow.id, plain.id}
    assert ids(f"process_id={process.id}") == {blow.id}
    assert ids(f"material_id={material.id}") == {blow.id}
    assert ids(f"skill_id={skill.id}") == {blow.id}
    assert ids("language=de") == {blow.id}
    assert ids("budget_min=2000") == {blow.id, plain.id}
    assert ids("budget_max=3000") == {training.id, plain.id}
    assert ids("budget_min=2000&budget_max=3000") == {plain.id}
    assert ids("q=warpage") == {plain.id}
    assert ids("q=bottles+thin") == {blow.id}
    assert ids("q=nothing-like-this") == set()
    _code, html = page(client, "/jobs?q=nothing-like-this")
    assert "No job matches these filters" in html
    assert ids(f"category=problem_solving&process_id={process.id}&language=de&budget_min=1000&q=bottles") == {blow.id}


def test_invalid_filters_are_named_and_the_others_still_apply(client):
    expert = factories.expert()
    retired = factories.term(CatalogKind.PROCESS, name="Retired process", retired_at=datetime.now(UTC))
    cheap = published(budget_minor=100_000)
    dear = published(budget_minor=900_000)
    db.session.commit()
    login(client, expert.user)
    response = client.get("/jobs?budget_min=lots&budget_max=5000")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'data-testid="error-budget_min"' in html
    assert 'value="lots"' in html  # what was typed is kept
    assert card_ids(html) == {cheap.id}  # the valid maximum still applies
    response = client.get(f"/jobs?process_id={retired.id}&category=nonsense&language=xx")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Choose a process from the list." in html
    assert "Choose a category from the list." in html
    assert "Choose a language from the list." in html
    assert card_ids(html) == {cheap.id, dear.id}
    response = client.get("/jobs?budget_min=5000&budget_max=1000")
    assert response.status_code == 400
    assert "The maximum budget must not be below the minimum." in response.get_data(as_text=True)


def test_pagination_twenty_per_page_keeps_the_filters(client):
    expert = factories.expert()
    company = factories.company()
    made = [published(company, skills=0, description=f"Lot {n} warpage") for n in range(23)]
    other = published(company, skills=0, description="Something else")
    db.session.commit()
    login(client, expert.user)
    code, first = page(client, "/jobs?q=warpage")
    assert code == 200
    assert len(card_ids(first)) == 20
    assert "/jobs?page=2&amp;q=warpage" in first or "/jobs?q=warpage&amp;page=2" in first
    code, second = page(client, "/jobs?q=warpage&page=2")
    assert code == 200
    assert len(card_ids(second)) == 3
    assert card_ids(first) | card_ids(second) == {j.id for j in made}
    assert other.id not in card_ids(first) | card_ids(second)
    code, beyond = page(client, "/jobs?q=warpage&page=9")
    assert code == 200 and card_ids(beyond) == set()


def test_expert_pages_link_to_the_board(client):
    expert = factories.expert()
    db.session.commit()
    login(client, expert.user)
    _code, html = page(client, "/expert/")
    assert 'href="/jobs"' in html and "Job board" in html


# The job page, terms and files -------------------------------------------------------------------


def test_job_page_shows_the_job_and_locks_the_files_until_the_terms_are_accepted(client):
    job, step, pdf = with_files()
    expert = factories.expert()
    db.session.commit()
    login(client, expert.user)
    code, html = page(client, f"/jobs/{job.id}")
    assert code == 200
    assert "Short shots on a PA66 GF30 housing." in html  # description
    assert "Find the root cause and propose a process window." in html  # scope
    assert "Housing, 2 mm wall" in html
    assert job.skills[0].term.name in html and "Senior" in html
    assert 'data-testid="terms-text"' in html and 'data-testid="accept-terms"' in html
    assert "bracket.step" in html and "spec.pdf" in html
    assert f'data-testid="locked-{pdf.id}"' in html
    assert f"/jobs/attachments/{pdf.id}" not in html
    assert client.get(f"/jobs/attachments/{pdf.id}").status_code == 404
    assert client.get(f"/jobs/attachments/{step.id}").status_code == 404


def test_accepting_needs_the_box_ticked(client):
    job, _step, _pdf = with_files()
    expert = factories.expert()
    db.session.commit()
    login(client, expert.user)
    response = client.post(f"/jobs/{job.id}/accept-terms", data={})
    assert response.status_code == 400
    assert "Tick the box to accept the confidentiality terms." in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(JobConfidentialityAcceptance)) == 0


def test_accepting_the_terms_opens_the_files_and_every_download_is_logged(client):
    job, step, pdf = with_files()
    expert = factories.expert()
    db.session.commit()
    login(client, expert.user)
    response = client.post(f"/jobs/{job.id}/accept-terms", data={"accept": "y"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/jobs/{job.id}#files")
    acceptance = db.session.scalars(sa.select(JobConfidentialityAcceptance)).one()
    assert (acceptance.job_id, acceptance.expert_id) == (job.id, expert.id)
    assert acceptance.terms_version == job_service.CONFIDENTIALITY_TERMS_VERSION
    code, html = page(client, f"/jobs/{job.id}")
    assert 'data-testid="terms-accepted"' in html
    assert f'data-testid="download-{pdf.id}"' in html and f'data-testid="download-{step.id}"' in html
    # Accepting twice keeps the first record.
    assert client.post(f"/jobs/{job.id}/accept-terms", data={"accept": "y"}).status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(JobConfidentialityAcceptance)) == 1

    response = client.get(f"/jobs/attachments/{pdf.id}")
    assert response.status_code == 200
    assert response.data.startswith(b"%PDF")
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert "spec.pdf" in response.headers["Content-Disposition"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"].startswith("sandbox")
    assert response.headers["Cache-Control"] == "no-store"
    assert client.get(f"/jobs/attachments/{step.id}").status_code == 200
    logged = db.session.scalars(
        sa.select(AuditEvent.entity_id).where(AuditEvent.action == "job_attachment.downloaded")).all()
    assert sorted(logged) == sorted([pdf.id, step.id])
    assert db.session.scalar(sa.select(AuditEvent.id).where(AuditEvent.action == "job.confidentiality_accepted"))


def test_another_experts_acceptance_does_not_open_the_files(client):
    job, _step, pdf = with_files()
    first, second = factories.expert(), factories.expert()
    db.session.commit()
    login(client, first.user)
    assert client.post(f"/jobs/{job.id}/accept-terms", data={"accept": "y"}).status_code == 302
    login(client, second.user)
    assert client.get(f"/jobs/attachments/{pdf.id}").status_code == 404
    _code, html = page(client, f"/jobs/{job.id}")
    assert 'data-testid="accept-terms"' in html


def test_private_job_files_stay_closed_to_uninvited_experts(client):
    job, _step, pdf = with_files()
    job.visibility = JobVisibility.PRIVATE
    invited, outsider = factories.expert(), factories.expert()
    factories.job_invitation(job, invited)
    db.session.commit()
    login(client, outsider.user)
    assert client.get(f"/jobs/{job.id}").status_code == 404
    assert client.post(f"/jobs/{job.id}/accept-terms", data={"accept": "y"}).status_code == 404
    assert client.get(f"/jobs/attachments/{pdf.id}").status_code == 404
    login(client, invited.user)
    code, html = page(client, f"/jobs/{job.id}")
    assert code == 200 and 'data-testid="private-note"' in html
    assert client.post(f"/jobs/{job.id}/accept-terms", data={"accept": "y"}).status_code == 302
    assert client.get(f"/jobs/attachments/{pdf.id}").status_code == 200


def test_removed_files_and_closed_jobs_are_no_longer_served(client):
    job, step, pdf = with_files()
    expert = factories.expert()
    db.session.commit()
    login(client, expert.user)
    assert client.post(f"/jobs/{job.id}/accept-terms", data={"accept": "y"}).status_code == 302
    pdf.removed_at = datetime.now(UTC)
    db.session.commit()
    assert client.get(f"/jobs/attachments/{pdf.id}").status_code == 404
    _code, html = page(client, f"/jobs/{job.id}")
    assert "spec.pdf" not in html and "bracket.step" in html
    job.status = J.CLOSED
    db.session.commit()
    assert client.get(f"/jobs/{job.id}").status_code == 404
    assert client.get(f"/jobs/attachments/{step.id}").status_code == 404


# Query count ---------------------------------------------------------------------------------


@contextmanager
def count_queries() -> Iterator[list[str]]:
    statements: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", before)


def _add_jobs(n: int, expert: Any) -> None:
    industry = factories.term(CatalogKind.INDUSTRY, name="Packaging")
    companies = [factories.company(industry_id=industry.id) for _ in range(3)]
    for i in range(n):
        job = published(companies[i % 3], skills=2, visibility="private" if i % 5 == 0 else "public",
                        show_company_name=i % 2 == 0)
        job.languages.append(JobLanguage(code="en", min_proficiency=LanguageProficiency.C1))
        if i % 5 == 0:
            factories.job_invitation(job, expert)
    db.session.commit()


def _queries_for_board(client: Any, expert: Any, n: int, query: str = "") -> int:
    _add_jobs(n, expert)
    login(client, expert.user)
    client.get("/jobs" + query)  # warm-up: caches that fill once per process are not what we measure
    db.session.expire_all()
    with count_queries() as statements:
        response = client.get("/jobs" + query)
    assert response.status_code == 200
    assert len(card_ids(response.get_data(as_text=True))) == 20
    return len(statements)


@pytest.mark.parametrize("query", ["", "?category=problem_solving&language=en&budget_min=100&q=PA66"])
def test_board_issues_the_same_number_of_queries_for_20_and_200_jobs(app, query):
    from tests.conftest import _clear_tables

    expert = factories.expert()
    db.session.commit()
    small = _queries_for_board(app.test_client(), expert, 20, query)
    db.session.remove()
    _clear_tables(app)
    expert = factories.expert()
    db.session.commit()
    large = _queries_for_board(app.test_client(), expert, 200, query)
    assert small == large, (small, large)
    assert small <= 15
