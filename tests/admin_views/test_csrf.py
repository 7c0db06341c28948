"""With CSRF on (as in production), every back-office POST needs the page's token, and works with it.

Flask-Admin's own forms carry the same Flask-WTF token as the rest of the site
(``HubAdminForm``), so the global ``CSRFProtect`` accepts them.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.models import CatalogTerm, VerificationStatus
from tests.admin_views.conftest import CompanyCase, reload, snapshot


@pytest.fixture
def csrf_on(app: Flask) -> None:
    app.config["WTF_CSRF_ENABLED"] = True


def token(html: str, name: str = "csrf_token") -> str:
    match = re.search(rf'name="{re.escape(name)}" type="hidden" value="([^"]+)"', html)
    assert match, f"no {name} on the page"
    return match.group(1)


@pytest.mark.usefixtures("csrf_on")
def test_a_decision_without_the_token_is_refused(
    admin_client: FlaskClient, pending_company: CompanyCase, app: Flask
) -> None:
    before = snapshot(app)
    resp = admin_client.post(f"/admin/companies/{pending_company.company.id}/decide/approve", data={})
    assert resp.status_code == 400
    assert snapshot(app) == before


@pytest.mark.usefixtures("csrf_on")
def test_a_decision_with_the_pages_token_goes_through(admin_client: FlaskClient, pending_company: CompanyCase) -> None:
    page = admin_client.get(f"/admin/companies/details/?id={pending_company.company.id}").get_data(as_text=True)

    resp = admin_client.post(
        f"/admin/companies/{pending_company.company.id}/decide/approve",
        data={"approve-csrf_token": token(page, "approve-csrf_token"), "approve-note": ""},
    )

    assert resp.status_code == 302
    assert reload(pending_company.company).status is VerificationStatus.APPROVED


@pytest.mark.usefixtures("csrf_on")
def test_flask_admin_forms_carry_a_token_the_site_accepts(admin_client: FlaskClient, app: Flask) -> None:
    data = {"kind": "material", "slug": "pom", "name": "POM"}
    before = snapshot(app)
    assert admin_client.post("/admin/catalog/new/", data=data).status_code == 400
    assert snapshot(app) == before

    page = admin_client.get("/admin/catalog/new/").get_data(as_text=True)
    resp = admin_client.post("/admin/catalog/new/", data={**data, "csrf_token": token(page)})

    assert resp.status_code == 302
    assert db.session.scalar(sa.select(CatalogTerm).where(CatalogTerm.slug == "pom")) is not None


@pytest.mark.usefixtures("csrf_on")
def test_list_page_buttons_carry_tokens(admin_client: FlaskClient, f: Any) -> None:
    term = f.term()
    db.session.commit()
    page = admin_client.get("/admin/catalog/").get_data(as_text=True)

    resp = admin_client.post(
        f"/admin/catalog/{term.id}/retire", data={"state-csrf_token": token(page, "state-csrf_token")}
    )

    assert resp.status_code == 302
    assert reload(term).retired_at is not None
    audit_page = admin_client.get("/admin/audit/").get_data(as_text=True)
    resp = admin_client.post("/admin/audit/verify", data={"verify-csrf_token": token(audit_page, "verify-csrf_token")})
    assert resp.status_code == 302
