"""The catalog ticket queue through HTTP: order, details, thread, every decision (allowed and refused), access.

Until the lead registers ``CatalogTicketView`` in admin_views/__init__.py, the
fixture builds an app of its own with the view added (before its first request).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import lazy_gettext as _l

from admin_views.tickets import CatalogTicketView
from app.extensions import db
from app.models import (
    AuditEvent,
    CatalogKind,
    CatalogTerm,
    CatalogTicket,
    CatalogTicketMessage,
    Notification,
    TicketStatus,
    User,
)
from app.services import tickets, uow
from tests import factories
from tests.admin_views.conftest import flashes, list_table, reload, snapshot
from tests.conftest import _clear_tables, _create_schema, login, make_app

T = TicketStatus
ENDPOINT = "catalog_tickets"


@pytest.fixture(scope="module")
def _ticket_app(tmp_path_factory: pytest.TempPathFactory, shared_app: Flask) -> Iterator[Flask]:
    if ENDPOINT in shared_app.extensions.get("admin_blueprints", ()):
        yield shared_app  # registered for real: test that app
        return
    application = make_app(str(tmp_path_factory.mktemp("ticket-uploads")))
    admin = application.extensions["admin"][0]
    admin.add_view(CatalogTicketView(CatalogTicket, db, name=_l("Tickets"), category=_l("Catalog"),
                                     endpoint=ENDPOINT, url="tickets"))
    application.extensions["admin_blueprints"] = set(application.extensions["admin_blueprints"]) | {ENDPOINT}
    with application.app_context():
        _create_schema(application)
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.fixture
def tapp(app: Flask, _ticket_app: Flask) -> Iterator[Flask]:
    if _ticket_app is app:
        yield app
        return
    with _ticket_app.app_context():
        try:
            yield _ticket_app
        finally:
            db.session.remove()
            _clear_tables(_ticket_app)


@pytest.fixture
def world(tapp: Flask) -> dict[str, Any]:
    company = factories.company(name="Kunststoff Weber GmbH")
    owner = factories.company_user(company)
    member = factories.company_user(company, owner=False)
    admin = factories.admin(email="ticket-admin@example.test", totp_enabled_at=datetime.now(UTC))
    expert = factories.expert()
    job = factories.job(company, created_by=member)
    uow.commit()
    return {"company": company, "owner": owner, "member": member, "admin": admin,
            "expert_user": db.session.get(User, expert.user_id), "job": job}


@pytest.fixture
def admin_client(tapp: Flask, world: dict[str, Any]) -> FlaskClient:
    return login(tapp.test_client(), world["admin"])


def _open(w: dict[str, Any], term: str = "Gas-assisted molding", kind: str = "skill") -> CatalogTicket:
    return tickets.open_ticket(w["company"].id, actor=w["member"], kind=kind, term=term,
                               reason="The housing has thick ribs.", job_id=w["job"].id)


def _started(w: dict[str, Any], **kw: Any) -> CatalogTicket:
    ticket = _open(w, **kw)
    return tickets.start_ticket(ticket.id, actor=w["admin"])


def _details(client: FlaskClient, ticket: CatalogTicket) -> str:
    resp = client.get(f"/admin/tickets/details/?id={ticket.id}")
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


# Queue ---------------------------------------------------------------------------------------


def test_queue_lists_open_then_in_progress_then_closed_oldest_first(
    admin_client: FlaskClient, world: dict[str, Any]
) -> None:
    closed = _started(world, term="Closed one")
    tickets.decline_ticket(closed.id, actor=world["admin"], reason="Duplicate")
    working = _started(world, term="Working one")
    newer_open = _open(world, term="Newer open")
    older_open = _open(world, term="Older open")
    older_open.created_at = datetime.now(UTC) - timedelta(days=3)
    uow.commit()

    html = list_table(admin_client.get("/admin/tickets/").get_data(as_text=True))

    order = [html.index(t) for t in ("Older open", "Newer open", "Working one", "Closed one")]
    assert order == sorted(order)
    assert "Kunststoff Weber GmbH" in html
    assert working.id and newer_open.id  # both listed above


def test_search_by_company_name_and_filter_by_status(admin_client: FlaskClient, world: dict[str, Any]) -> None:
    _open(world, term="Laser welding")
    _started(world, term="Ultrasonic welding")
    html = list_table(admin_client.get("/admin/tickets/?search=Weber").get_data(as_text=True))
    assert "Laser welding" in html and "Ultrasonic welding" in html
    html = list_table(admin_client.get("/admin/tickets/?search=nobody-matches").get_data(as_text=True))
    assert "Laser welding" not in html


def test_notification_link_redirects_to_the_details(admin_client: FlaskClient, world: dict[str, Any]) -> None:
    ticket = _open(world)
    resp = admin_client.get(f"/admin/tickets/{ticket.id}")
    assert resp.status_code == 302 and f"/admin/tickets/details/?id={ticket.id}" in resp.headers["Location"]
    assert admin_client.get("/admin/tickets/9999").status_code == 404
    assert admin_client.get("/admin/tickets/details/?id=9999").status_code == 404


def test_details_show_the_request_thread_and_only_allowed_decisions(
    admin_client: FlaskClient, world: dict[str, Any]
) -> None:
    ticket = _open(world)
    tickets.post_ticket_message(ticket.id, actor=world["owner"], body="Also PA66 GF30.")
    html = _details(admin_client, ticket)
    assert "The housing has thick ribs." in html and "Also PA66 GF30." in html
    assert f"/admin/jobs/{world['job'].id}" in html  # the draft it came from
    assert 'data-testid="start"' in html
    assert 'data-testid="resolve"' not in html and 'data-testid="decline"' not in html
    assert "ticket.opened" in html  # history

    tickets.start_ticket(ticket.id, actor=world["admin"])
    html = _details(admin_client, ticket)
    assert 'data-testid="start"' not in html
    assert 'data-testid="resolve"' in html and 'data-testid="decline"' in html
    # The resolve form suggests the term asked for, as a skill.
    assert 'value="Gas-assisted molding"' in html
    assert html.count('data-testid="new-term-row"') == 3


# Decisions -----------------------------------------------------------------------------------


def test_reply_goes_to_the_company(admin_client: FlaskClient, world: dict[str, Any]) -> None:
    ticket = _open(world)
    resp = admin_client.post(f"/admin/tickets/{ticket.id}/reply", data={"reply-body": "Which grade?"},
                             follow_redirects=True)
    assert "Message sent. The company was notified." in flashes(resp.get_data(as_text=True))
    message = db.session.scalar(sa.select(CatalogTicketMessage))
    assert message is not None and message.from_staff and message.body == "Which grade?"
    kinds = db.session.scalars(sa.select(Notification.kind).where(Notification.user_id == world["member"].id)).all()
    assert "ticket.message_from_hub" in kinds


def test_empty_reply_is_refused_and_names_the_field(admin_client: FlaskClient, world: dict[str, Any]) -> None:
    ticket = _open(world)
    resp = admin_client.post(f"/admin/tickets/{ticket.id}/reply", data={"reply-body": ""})
    assert resp.status_code == 400
    assert 'data-testid="error-reply-body"' in resp.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CatalogTicketMessage)) == 0


def test_start(admin_client: FlaskClient, world: dict[str, Any]) -> None:
    ticket = _open(world)
    resp = admin_client.post(f"/admin/tickets/{ticket.id}/start", follow_redirects=True)
    assert "The ticket is in progress. The company was notified." in flashes(resp.get_data(as_text=True))
    assert reload(ticket).status is T.IN_PROGRESS
    # Twice: the workflow refuses, nothing changes.
    resp = admin_client.post(f"/admin/tickets/{ticket.id}/start", follow_redirects=True)
    assert any("cannot become" in m for m in flashes(resp.get_data(as_text=True)))


def test_resolve_adds_terms_and_notifies(admin_client: FlaskClient, world: dict[str, Any]) -> None:
    ticket = _started(world)
    data = {
        "resolve-new_terms-0-kind": "skill", "resolve-new_terms-0-name": "Gas-assisted molding",
        "resolve-new_terms-0-name_de": "Gasinjektionstechnik",
        "resolve-new_terms-1-kind": "", "resolve-new_terms-1-name": "", "resolve-new_terms-1-name_de": "",
        "resolve-new_terms-2-kind": "process", "resolve-new_terms-2-name": "GIT", "resolve-new_terms-2-name_de": "",
        "resolve-note": "Both are in the lists now.",
    }
    resp = admin_client.post(f"/admin/tickets/{ticket.id}/resolve", data=data, follow_redirects=True)

    html = resp.get_data(as_text=True)
    assert "Resolved: 2 new catalog term(s) added. The company was notified." in flashes(html)
    ticket = reload(ticket)
    assert ticket.status is T.RESOLVED
    assert [(t.kind, t.name, t.name_de) for t in ticket.terms] == [
        (CatalogKind.SKILL, "Gas-assisted molding", "Gasinjektionstechnik"), (CatalogKind.PROCESS, "GIT", "")]
    assert 'data-testid="created-terms"' in html and 'data-testid="no-decision"' in html
    note = db.session.scalar(sa.select(Notification).where(Notification.kind == "ticket.resolved",
                                                           Notification.user_id == world["member"].id))
    assert note is not None and note.link == f"/company/tickets/{ticket.id}"


def test_resolve_with_a_row_missing_its_kind_keeps_input(admin_client: FlaskClient, world: dict[str, Any]) -> None:
    ticket = _started(world)
    resp = admin_client.post(f"/admin/tickets/{ticket.id}/resolve", data={
        "resolve-new_terms-0-kind": "", "resolve-new_terms-0-name": "Laser marking", "resolve-note": ""})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert "Choose the kind of the new term." in html and 'value="Laser marking"' in html
    assert reload(ticket).status is T.IN_PROGRESS


def test_resolve_refuses_a_term_that_exists(admin_client: FlaskClient, world: dict[str, Any]) -> None:
    factories.term(CatalogKind.SKILL, name="Laser marking")
    uow.commit()
    ticket = _started(world)
    before = snapshot(admin_client.application)
    resp = admin_client.post(f"/admin/tickets/{ticket.id}/resolve", data={
        "resolve-new_terms-0-kind": "skill", "resolve-new_terms-0-name": "laser marking", "resolve-note": ""})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert "is already in the catalog" in html
    assert snapshot(admin_client.application) == before


def test_resolve_and_decline_are_refused_on_an_open_ticket(admin_client: FlaskClient, world: dict[str, Any]) -> None:
    ticket = _open(world)
    resp = admin_client.post(f"/admin/tickets/{ticket.id}/resolve", data={
        "resolve-new_terms-0-kind": "skill", "resolve-new_terms-0-name": "X", "resolve-note": "n"},
        follow_redirects=True)
    assert any("cannot become" in m for m in flashes(resp.get_data(as_text=True)))
    resp = admin_client.post(f"/admin/tickets/{ticket.id}/decline", data={"decline-reason": "No"},
                             follow_redirects=True)
    assert any("cannot become" in m for m in flashes(resp.get_data(as_text=True)))
    assert reload(ticket).status is T.OPEN
    assert db.session.scalar(sa.select(CatalogTerm).where(CatalogTerm.name == "X")) is None


def test_decline_needs_a_reason(admin_client: FlaskClient, world: dict[str, Any]) -> None:
    ticket = _started(world)
    resp = admin_client.post(f"/admin/tickets/{ticket.id}/decline", data={"decline-reason": ""})
    assert resp.status_code == 400 and 'data-testid="error-decline-reason"' in resp.get_data(as_text=True)
    resp = admin_client.post(f"/admin/tickets/{ticket.id}/decline", data={"decline-reason": "Listed as GIT."},
                             follow_redirects=True)
    assert "Declined. The company was told why." in flashes(resp.get_data(as_text=True))
    ticket = reload(ticket)
    assert ticket.status is T.DECLINED and ticket.resolution_note == "Listed as GIT."
    assert db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "ticket.declined")) is not None


# Access --------------------------------------------------------------------------------------


def _urls(ticket_id: int) -> list[tuple[str, str]]:
    return [
        ("GET", "/admin/tickets/"),
        ("GET", f"/admin/tickets/details/?id={ticket_id}"),
        ("GET", f"/admin/tickets/{ticket_id}"),
        ("POST", f"/admin/tickets/{ticket_id}/reply"),
        ("POST", f"/admin/tickets/{ticket_id}/start"),
        ("POST", f"/admin/tickets/{ticket_id}/resolve"),
        ("POST", f"/admin/tickets/{ticket_id}/decline"),
    ]


@pytest.mark.parametrize("who", ["anonymous", "owner", "member", "expert_user"])
def test_non_admins_cannot_use_the_queue(tapp: Flask, world: dict[str, Any], who: str) -> None:
    ticket = _open(world)
    client = tapp.test_client()
    if who != "anonymous":
        login(client, world[who])
    before = snapshot(tapp)
    for method, url in _urls(ticket.id):
        resp = client.open(url, method=method, data={"reply-body": "x", "decline-reason": "x",
                                                     "resolve-new_terms-0-kind": "skill",
                                                     "resolve-new_terms-0-name": "Hack", "resolve-note": "x"})
        if who == "anonymous":
            assert resp.status_code in (302, 401), f"{method} {url}"
            if resp.status_code == 302:
                assert "/login" in resp.headers["Location"]
        else:
            assert resp.status_code == 403, f"{who} {method} {url} -> {resp.status_code}"
    assert snapshot(tapp) == before


def test_an_admin_without_two_factor_is_sent_to_enrol(tapp: Flask, world: dict[str, Any]) -> None:
    admin = factories.admin(email="no-2fa@example.test")
    uow.commit()
    client = login(tapp.test_client(), admin)
    resp = client.get("/admin/tickets/")
    assert resp.status_code == 302 and re.search(r"/totp|two-factor|2fa", resp.headers["Location"])
