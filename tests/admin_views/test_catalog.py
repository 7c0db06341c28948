"""Catalog terms: created and edited through the admin forms (validated, audited), retired and restored."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.models import AuditEvent, CatalogKind, CatalogTerm
from tests.admin_views.conftest import flashes, list_table, reload, snapshot


def events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)))


def test_admin_creates_a_term_and_it_is_audited(admin_client: FlaskClient, admin: Any) -> None:
    resp = admin_client.post(
        "/admin/catalog/new/",
        data={
            "kind": "material",
            "slug": "pa66-gf30",
            "name": "PA66 GF30",
            "name_de": "PA66 GF30",
            "group": "polyamides",
            "description": "Glass-filled nylon",
        },
    )

    assert resp.status_code == 302
    term = db.session.scalar(sa.select(CatalogTerm).where(CatalogTerm.slug == "pa66-gf30"))
    assert term is not None
    assert (term.kind, term.name, term.group) == (CatalogKind.MATERIAL, "PA66 GF30", "polyamides")
    [event] = events("catalog_term.created")
    assert (event.entity, event.entity_id, event.actor_id) == ("catalog_terms", term.id, admin.id)
    assert event.data["slug"] == "pa66-gf30"


def test_a_bad_slug_is_a_field_error_and_nothing_is_saved(admin_client: FlaskClient, app: Flask) -> None:
    before = snapshot(app)

    resp = admin_client.post("/admin/catalog/new/", data={"kind": "material", "slug": "PA 66!", "name": "PA66"})

    assert resp.status_code == 200  # Flask-Admin re-renders the form
    html = resp.get_data(as_text=True)
    assert "Use only lowercase letters, digits and single hyphens" in html
    assert 'value="PA66"' in html  # what was typed is kept
    assert snapshot(app) == before


def test_a_taken_slug_is_refused_with_an_explanation(admin_client: FlaskClient, f: Any, app: Flask) -> None:
    f.term(kind=CatalogKind.MATERIAL, slug="pp", name="Polypropylene")
    db.session.commit()
    before = snapshot(app)

    resp = admin_client.post("/admin/catalog/new/", data={"kind": "material", "slug": "pp", "name": "PP again"})

    assert "already used by another term of this kind" in " ".join(flashes(resp.get_data(as_text=True)))
    assert snapshot(app) == before


def test_the_same_slug_is_fine_for_another_kind(admin_client: FlaskClient, f: Any) -> None:
    f.term(kind=CatalogKind.MATERIAL, slug="welding", name="Welding material")
    db.session.commit()
    resp = admin_client.post("/admin/catalog/new/", data={"kind": "process", "slug": "welding", "name": "Welding"})
    assert resp.status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CatalogTerm)) == 2


def test_admin_edits_a_term_and_the_change_is_audited(admin_client: FlaskClient, f: Any) -> None:
    term = f.term(kind=CatalogKind.SKILL, slug="dfm", name="DFM")
    db.session.commit()

    resp = admin_client.post(
        f"/admin/catalog/edit/?id={term.id}",
        data={
            "kind": "skill",
            "slug": "dfm",
            "name": "Design for manufacturing",
            "name_de": "Fertigungsgerechte Konstruktion",
            "group": "",
            "description": "",
        },
    )

    assert resp.status_code == 302
    term = reload(term)
    assert term.name == "Design for manufacturing"
    [event] = events("catalog_term.updated")
    assert event.data["name"] == {"from": "DFM", "to": "Design for manufacturing"}
    assert "slug" not in event.data  # only what changed


def test_retire_and_restore(admin_client: FlaskClient, f: Any) -> None:
    term = f.term(name="Gas-assist molding")
    db.session.commit()

    html = list_table(admin_client.get("/admin/catalog/").get_data(as_text=True))
    assert f'data-testid="retire-{term.id}"' in html

    resp = admin_client.post(f"/admin/catalog/{term.id}/retire", follow_redirects=True)
    assert any("Term retired" in m for m in flashes(resp.get_data(as_text=True)))
    assert reload(term).retired_at is not None
    assert f'data-testid="restore-{term.id}"' in list_table(resp.get_data(as_text=True))

    resp = admin_client.post(f"/admin/catalog/{term.id}/retire", follow_redirects=True)
    assert any("already retired" in m for m in flashes(resp.get_data(as_text=True)))

    resp = admin_client.post(f"/admin/catalog/{term.id}/restore", follow_redirects=True)
    assert any("Term restored" in m for m in flashes(resp.get_data(as_text=True)))
    assert reload(term).retired_at is None
    assert [
        e.action
        for e in db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.entity == "catalog_terms").order_by(AuditEvent.id)
        )
    ] == ["catalog_term.retired", "catalog_term.restored"]


def test_terms_are_never_deleted(admin_client: FlaskClient, f: Any, app: Flask) -> None:
    term = f.term()
    db.session.commit()
    before = snapshot(app)

    resp = admin_client.post("/admin/catalog/delete/", data={"id": str(term.id)})

    assert resp.status_code == 302
    assert snapshot(app) == before
    assert admin_client.post("/admin/catalog/99999/retire").status_code == 404


def test_kinds_are_shown_as_translated_labels(admin_client: FlaskClient, admin: Any, f: Any) -> None:
    f.term(kind=CatalogKind.JOB_TITLE, slug="process-engineer", name="Process engineer")
    f.term(kind=CatalogKind.TRAINING_TOPIC, slug="scientific-molding", name="Scientific molding")
    db.session.commit()
    html = list_table(admin_client.get("/admin/catalog/").get_data(as_text=True))
    assert "Job title" in html and "Training topic" in html and "job_title" not in html

    admin.locale = "de"
    db.session.commit()
    page = admin_client.get("/admin/catalog/").get_data(as_text=True)
    assert "Berufsbezeichnung" in list_table(page) and "Schulungsthema" in list_table(page)
    assert "Fehlerbild" in page  # the kind filter offers every kind by its label
    form = admin_client.get("/admin/catalog/new/").get_data(as_text=True)
    assert '<option value="job_title">Berufsbezeichnung</option>' in form
