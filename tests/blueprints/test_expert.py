"""The expert pages through HTTP: access per role, forms keep input, lists, uploads and submission."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import (
    CatalogKind,
    Document,
    EmployerRelation,
    ExpertiseLevel,
    ExpertLanguage,
    ExpertSkill,
    LanguageProficiency,
    Notification,
    VerificationStatus,
)
from tests import factories
from tests.conftest import login

S = VerificationStatus
PAGES = ["/expert/", "/expert/profile", "/expert/skills", "/expert/languages", "/expert/employers", "/expert/documents"]


def setup_expert(status: S = S.DRAFT, *, complete: bool = False):
    expert = factories.expert(status)
    if complete:
        skill = factories.term(CatalogKind.SKILL, name="Gas-assist molding")
        expert.skills.append(ExpertSkill(term_id=skill.id, level=ExpertiseLevel.SENIOR, term=skill))
        expert.languages.append(ExpertLanguage(code="en", proficiency=LanguageProficiency.C2))
        factories.document(expert, uploaded_by=expert.user, name="cv.pdf")
    db.session.commit()
    return expert


def profile_form(**changes: str) -> dict[str, str]:
    data = {
        "headline": "Extrusion specialist",
        "summary": "Blown film and sheet lines.",
        "years_experience": "15",
        "day_rate": "950.50",
        "currency": "EUR",
        "available_from": "2030-03-01",
        "capacity_days_per_week": "4",
        "country": "AT",
        "timezone": "Europe/Vienna",
    }
    data.update(changes)
    return data


def test_anonymous_is_sent_to_login(client):
    for page in PAGES:
        response = client.get(page)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_company_users_and_admins_are_refused(client):
    company = factories.company()
    for user in (factories.company_user(company), factories.company_user(company, owner=False), factories.admin()):
        db.session.commit()
        login(client, user)
        for page in PAGES:
            assert client.get(page).status_code == 403, (user.role, page)
        assert client.post("/expert/submit").status_code == 403


def test_expert_sees_every_page_with_the_pseudonym_only(client):
    expert = setup_expert()
    login(client, expert.user)
    for page in PAGES:
        response = client.get(page)
        assert response.status_code == 200, page
        assert f"Expert {expert.pseudonym}" in response.get_data(as_text=True)


def test_profile_save_and_invalid_input_kept(client):
    expert = setup_expert(S.DRAFT)
    login(client, expert.user)
    page = client.get("/expert/profile").get_data(as_text=True)
    assert "Europe/Berlin" in page and "900.00" in page
    bad = client.post("/expert/profile", data=profile_form(years_experience="200", headline="Typed headline"))
    assert bad.status_code == 400
    body = bad.get_data(as_text=True)
    assert 'value="Typed headline"' in body and 'data-testid="error-years_experience"' in body
    ok = client.post("/expert/profile", data=profile_form())
    assert ok.status_code == 302
    db.session.expire_all()
    assert expert.headline == "Extrusion specialist"
    assert expert.day_rate_minor == 95050 and expert.currency == "EUR"
    assert expert.country == "AT" and expert.timezone == "Europe/Vienna"
    assert expert.capacity_days_per_week == 4


def test_approved_expert_changes_availability_only(client):
    expert = setup_expert(S.APPROVED)
    login(client, expert.user)
    page = client.get("/expert/profile").get_data(as_text=True)
    assert "You can still update your availability" in page
    # Disabled inputs are not sent by a browser: only availability arrives.
    response = client.post("/expert/profile", data={"available_from": "2031-01-15", "capacity_days_per_week": "2"})
    assert response.status_code == 302
    db.session.expire_all()
    assert str(expert.available_from) == "2031-01-15" and expert.capacity_days_per_week == 2
    assert expert.headline == "Injection molding process engineer"


def test_profile_locked_under_review(client):
    expert = setup_expert(S.PENDING_VERIFICATION)
    login(client, expert.user)
    response = client.post("/expert/profile", data=profile_form(capacity_days_per_week="1"))
    assert response.status_code == 400
    assert "under review" in response.get_data(as_text=True)


def test_skills_page_lists_catalog_terms_grouped_and_saves(client):
    expert = setup_expert()
    title = factories.term(CatalogKind.JOB_TITLE, name="Tooling engineer")
    material = factories.term(CatalogKind.MATERIAL, name="Polycarbonate")
    factories.term(CatalogKind.INDUSTRY, name="Packaging industry")
    factories.term(CatalogKind.SKILL, name="Retired skill", retired_at=factories._now())
    db.session.commit()
    login(client, expert.user)
    page = client.get("/expert/skills").get_data(as_text=True)
    assert "Tooling engineer" in page and "Polycarbonate" in page
    assert 'optgroup label="Job titles"' in page
    assert "Packaging industry" not in page and "Retired skill" not in page
    response = client.post("/expert/skills", data={
        "rows-0-term_id": str(title.id), "rows-0-level": "principal",
        "rows-1-term_id": str(material.id), "rows-1-level": "junior",
        "rows-2-term_id": "0", "rows-2-level": "senior",
    })
    assert response.status_code == 302
    db.session.expire_all()
    assert {(s.term_id, s.level) for s in expert.skills} == {
        (title.id, ExpertiseLevel.PRINCIPAL), (material.id, ExpertiseLevel.JUNIOR)}
    page = client.get("/expert/skills").get_data(as_text=True)
    assert f'<option selected value="{title.id}">' in page


def test_skills_duplicate_is_a_form_error(client):
    expert = setup_expert()
    skill = factories.term(CatalogKind.SKILL)
    db.session.commit()
    login(client, expert.user)
    response = client.post("/expert/skills", data={
        "rows-0-term_id": str(skill.id), "rows-0-level": "senior",
        "rows-1-term_id": str(skill.id), "rows-1-level": "junior",
    })
    assert response.status_code == 400
    assert "only once" in response.get_data(as_text=True)
    assert expert.skills == []


def test_languages_page(client):
    expert = setup_expert()
    login(client, expert.user)
    page = client.get("/expert/languages").get_data(as_text=True)
    assert '<option value="de">German</option>' in page
    response = client.post("/expert/languages", data={
        "rows-0-code": "de", "rows-0-proficiency": "native",
        "rows-1-code": "fr", "rows-1-proficiency": "B1",
        "rows-2-code": "", "rows-2-proficiency": "A1",
    })
    assert response.status_code == 302
    db.session.expire_all()
    assert {(lang.code, lang.proficiency) for lang in expert.languages} == {
        ("de", LanguageProficiency.NATIVE), ("fr", LanguageProficiency.B1)}
    bad = client.post("/expert/languages", data={"rows-0-code": "zz", "rows-0-proficiency": "A1"})
    assert bad.status_code == 400 and "from the list" in bad.get_data(as_text=True)


def test_languages_are_named_in_the_readers_language(client):
    expert = setup_expert()
    expert.user.locale = "de"
    db.session.commit()
    login(client, expert.user)
    page = client.get("/expert/languages").get_data(as_text=True)
    assert '<option value="de">Deutsch</option>' in page
    assert '<option value="fr">Französisch</option>' in page


def test_employers_page(client):
    expert = setup_expert(S.APPROVED)
    login(client, expert.user)
    response = client.post("/expert/employers", data={
        "rows-0-name": "Acme Molding", "rows-0-relation": "current",
        "rows-1-name": "", "rows-1-relation": "former",
        "rows-2-name": "Big Resin Corp", "rows-2-relation": "supplier",
    })
    assert response.status_code == 302
    db.session.expire_all()
    assert [(e.name, e.relation) for e in expert.employers] == [
        ("Acme Molding", EmployerRelation.CURRENT), ("Big Resin Corp", EmployerRelation.SUPPLIER)]
    too_long = client.post("/expert/employers", data={"rows-0-name": "x" * 200, "rows-0-relation": "former"})
    assert too_long.status_code == 400


def test_documents_upload_states_limits_and_refuses_bad_files(client, storage_dir):
    expert = setup_expert()
    login(client, expert.user)
    page = client.get("/expert/documents").get_data(as_text=True)
    assert "CV and certificates: PDF, up to 10 MB" in page
    assert "Identity document: PDF, PNG or JPEG, up to 10 MB" in page
    ok = client.post("/expert/documents", data={"kind": "cv", "file": (io.BytesIO(factories.pdf_bytes()), "My CV.pdf")},
                     content_type="multipart/form-data")
    assert ok.status_code == 302
    bad = client.post(
        "/expert/documents",
        data={"kind": "cv", "file": (io.BytesIO(factories.image_bytes("JPEG")), "cv.jpg")},
        content_type="multipart/form-data",
    )
    assert bad.status_code == 400
    body = bad.get_data(as_text=True)
    assert "only PDF is accepted" in body and "My CV.pdf" in body
    doc = db.session.scalars(sa.select(Document).where(Document.expert_id == expert.id)).one()
    assert client.post(f"/expert/documents/{doc.id}/remove").status_code == 302
    db.session.expire_all()
    assert doc.removed_at is not None


def test_expert_cannot_remove_someone_elses_document(client):
    expert = setup_expert(complete=True)
    other = setup_expert()
    login(client, other.user)
    doc = db.session.scalars(sa.select(Document).where(Document.expert_id == expert.id)).one()
    assert client.post(f"/expert/documents/{doc.id}/remove").status_code == 404
    db.session.expire_all()
    assert doc.removed_at is None


def test_status_page_and_submit(client):
    expert = setup_expert(complete=True)
    admin = factories.admin()
    db.session.commit()
    login(client, expert.user)
    page = client.get("/expert/").get_data(as_text=True)
    assert 'class="status-steps' in page and 'data-testid="submit"' in page
    assert "Gas-assist molding" in page
    response = client.post("/expert/submit", follow_redirects=True)
    assert "Your profile is submitted" in response.get_data(as_text=True)
    db.session.expire_all()
    assert expert.status is S.PENDING_VERIFICATION
    assert db.session.scalar(sa.select(Notification.kind).where(Notification.user_id == admin.id)) == (
        "expert.submitted"
    )
    again = client.post("/expert/submit", follow_redirects=True)
    assert "already submitted" in again.get_data(as_text=True)


def test_incomplete_profile_cannot_submit(client):
    expert = setup_expert()
    login(client, expert.user)
    page = client.get("/expert/").get_data(as_text=True)
    assert 'data-testid="missing"' in page and 'data-testid="submit"' not in page
    response = client.post("/expert/submit", follow_redirects=True)
    assert "Before submitting, please complete" in response.get_data(as_text=True)


@pytest.mark.parametrize("status", [S.INFO_REQUESTED, S.REJECTED, S.SUSPENDED])
def test_status_page_shows_the_hubs_words(client, status):
    expert = setup_expert(status, complete=True)
    expert.status_note = "Please add your certificates from the SPE course."
    db.session.commit()
    login(client, expert.user)
    page = client.get("/expert/").get_data(as_text=True)
    assert "Please add your certificates from the SPE course." in page
