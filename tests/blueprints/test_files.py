"""files.download / files.preview: who may read which document, and how it is served."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import AuditEvent, DocumentKind
from tests import factories
from tests.conftest import login


@pytest.fixture
def world(app):
    company = factories.company()
    owner = factories.company_user(company)
    colleague = factories.company_user(company, owner=False)
    other_company = factories.company()
    stranger = factories.company_user(other_company)
    expert = factories.expert()
    other_expert = factories.expert()
    admin = factories.admin()
    company_doc = factories.document(company, uploaded_by=owner, name='Handelsregister "A".pdf',
                                     data=factories.pdf_bytes())
    image_doc = factories.document(company, uploaded_by=owner, kind=DocumentKind.OTHER_LEGAL, name="scan.png",
                                   content_type="image/png", data=factories.image_bytes("PNG"))
    expert_doc = factories.document(expert, uploaded_by=expert.user, name="cv.pdf")
    db.session.commit()
    return {
        "owner": owner, "colleague": colleague, "stranger": stranger, "expert": expert.user,
        "other_expert": other_expert.user, "admin": admin,
        "company_doc": company_doc, "image_doc": image_doc, "expert_doc": expert_doc,
    }


@pytest.mark.parametrize(
    ("who", "doc", "status"),
    [
        ("owner", "company_doc", 200),
        ("colleague", "company_doc", 200),
        ("admin", "company_doc", 200),
        ("stranger", "company_doc", 404),
        ("expert", "company_doc", 404),
        ("expert", "expert_doc", 200),
        ("admin", "expert_doc", 200),
        ("other_expert", "expert_doc", 404),
        ("owner", "expert_doc", 404),  # experts stay anonymous: companies never get their files
        ("colleague", "expert_doc", 404),
    ],
)
def test_download_authorization(client, world, who, doc, status):
    login(client, world[who])
    response = client.get(f"/files/{world[doc].id}")
    assert response.status_code == status
    if status == 404:
        assert b"%PDF" not in response.data
        assert "This document does not exist." in response.get_data(as_text=True)


def test_unknown_id_is_the_same_404(client, world):
    login(client, world["stranger"])
    foreign = client.get(f"/files/{world['company_doc'].id}")
    missing = client.get("/files/987654")
    assert foreign.status_code == missing.status_code == 404
    doc_id = world["company_doc"].id
    assert foreign.get_data(as_text=True).replace(f"/files/{doc_id}", "/files/X") == (
        missing.get_data(as_text=True).replace("/files/987654", "/files/X")
    )


def test_anonymous_must_log_in(client, world):
    response = client.get(f"/files/{world['company_doc'].id}")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert client.get(f"/files/{world['company_doc'].id}/preview").status_code == 302


def test_download_headers(client, world):
    login(client, world["colleague"])
    response = client.get(f"/files/{world['company_doc'].id}")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "\r" not in disposition and "\n" not in disposition
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"].startswith("sandbox")
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
    assert response.data.startswith(b"%PDF-")


def test_download_is_logged(client, world):
    login(client, world["admin"])
    client.get(f"/files/{world['company_doc'].id}")
    event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "document.downloaded")).one()
    assert event.entity_id == world["company_doc"].id and event.actor_id == world["admin"].id


def test_removed_document_is_gone_for_the_company_but_kept_for_staff(client, app, world):
    world["company_doc"].removed_at = datetime.now(UTC)
    db.session.commit()
    login(client, world["owner"])
    assert client.get(f"/files/{world['company_doc'].id}").status_code == 404
    admin_client = login(app.test_client(), world["admin"])
    assert admin_client.get(f"/files/{world['company_doc'].id}").status_code == 200


@pytest.mark.parametrize("who", ["owner", "colleague", "stranger", "expert"])
def test_preview_is_staff_only(client, world, who):
    login(client, world[who])
    assert client.get(f"/files/{world['company_doc'].id}/preview").status_code == 404
    assert client.get(f"/files/{world['expert_doc'].id}/preview").status_code == 404


@pytest.mark.parametrize(("doc", "mimetype"), [("company_doc", "application/pdf"), ("image_doc", "image/png")])
def test_admin_preview_is_inline_sandboxed_and_frameable_by_us_only(client, world, doc, mimetype):
    login(client, world["admin"])
    response = client.get(f"/files/{world[doc].id}/preview")
    assert response.status_code == 200
    assert response.mimetype == mimetype
    assert response.headers["Content-Disposition"].startswith("inline")
    csp = response.headers["Content-Security-Policy"]
    assert csp.startswith("sandbox") and "default-src 'none'" in csp and "frame-ancestors 'self'" in csp
    assert "script-src" not in csp
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert db.session.scalar(sa.select(AuditEvent.action).where(AuditEvent.action == "document.previewed"))


def test_unexpected_stored_type_is_served_as_octet_stream(client, world):
    doc = world["company_doc"]
    doc.content_type = "text/html"
    db.session.commit()
    login(client, world["owner"])
    response = client.get(f"/files/{doc.id}")
    assert response.mimetype == "application/octet-stream"
