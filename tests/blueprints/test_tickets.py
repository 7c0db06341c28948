"""The company's catalog ticket pages through HTTP: access per role, forms keep input, the thread."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from app.extensions import db
from app.models import CatalogTicket, CatalogTicketMessage, TicketStatus, VerificationStatus
from app.services import tickets
from tests.conftest import login


@pytest.fixture
def world(f: Any) -> dict[str, Any]:
    company = f.company()
    owner = f.company_user(company)
    member = f.company_user(company, owner=False)
    other = f.company()
    stranger = f.company_user(other)
    admin = f.admin()
    expert = f.expert()
    job = f.job(company, created_by=member)
    foreign_job = f.job(other, created_by=stranger)
    db.session.commit()
    return {"company": company, "owner": owner, "member": member, "stranger": stranger, "admin": admin,
            "expert_user": expert.user, "job": job, "foreign_job": foreign_job}


def _ticket(w: dict[str, Any], **kw: Any) -> CatalogTicket:
    values: dict[str, Any] = {"kind": "skill", "term": "Gas-assisted molding", "reason": "Needed for the housing.",
                              "job_id": w["job"].id}
    values.update(kw)
    return tickets.open_ticket(w["company"].id, actor=w["member"], **values)


def _html(resp: Any) -> str:
    return resp.get_data(as_text=True)


# Access --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/company/tickets", "/company/tickets/new", "/company/tickets/1"])
def test_anonymous_is_sent_to_login(client: FlaskClient, world: dict[str, Any], path: str) -> None:
    _ticket(world)
    resp = client.get(path)
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    assert client.post("/company/tickets/1/reply", data={"body": "hi"}).status_code == 401


@pytest.mark.parametrize("who", ["expert_user", "admin"])
def test_other_roles_are_refused(client: FlaskClient, world: dict[str, Any], who: str) -> None:
    ticket = _ticket(world)
    login(client, world[who])
    for path in ("/company/tickets", "/company/tickets/new", f"/company/tickets/{ticket.id}"):
        assert client.get(path).status_code == 403
    assert client.post(f"/company/tickets/{ticket.id}/reply", data={"body": "hi"}).status_code == 403


def test_another_companys_ticket_and_job_are_not_found(client: FlaskClient, world: dict[str, Any]) -> None:
    ticket = _ticket(world)
    login(client, world["stranger"])
    assert client.get(f"/company/tickets/{ticket.id}").status_code == 404
    assert client.post(f"/company/tickets/{ticket.id}/reply", data={"body": "hi"}).status_code == 404
    assert client.get(f"/company/tickets/new?job_id={world['job'].id}").status_code == 404
    resp = client.post("/company/tickets/new", data={"kind": "skill", "term": "X", "reason": "Y",
                                                     "job_id": str(world["job"].id)})
    assert resp.status_code == 404
    assert client.get("/company/tickets/new?job_id=abc").status_code == 404
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CatalogTicket)) == 1


# List ----------------------------------------------------------------------------------------


def test_empty_list_explains_what_tickets_are(client: FlaskClient, world: dict[str, Any]) -> None:
    login(client, world["owner"])
    html = _html(client.get("/company/tickets"))
    assert 'data-testid="empty"' in html and 'data-testid="new-ticket"' in html


def test_list_shows_the_companys_tickets_only(client: FlaskClient, world: dict[str, Any]) -> None:
    _ticket(world, term="Gas-assisted molding")
    tickets.open_ticket(world["stranger"].company_id, actor=world["stranger"], kind="skill", term="Secret other",
                        reason="x")
    login(client, world["owner"])
    html = _html(client.get("/company/tickets"))
    assert "Gas-assisted molding" in html and "Secret other" not in html
    assert html.count('data-testid="ticket-row"') == 1


def test_list_paginates(client: FlaskClient, world: dict[str, Any]) -> None:
    for n in range(23):
        _ticket(world, term=f"Term {n:02d}")
    login(client, world["member"])
    first = _html(client.get("/company/tickets"))
    second = _html(client.get("/company/tickets?page=2"))
    assert first.count('data-testid="ticket-row"') == 20
    assert second.count('data-testid="ticket-row"') == 3


def test_unverified_company_sees_why_it_cannot_open(client: FlaskClient, f: Any) -> None:
    company = f.company(status=VerificationStatus.PENDING_VERIFICATION)
    owner = f.company_user(company)
    db.session.commit()
    login(client, owner)
    html = _html(client.get("/company/tickets"))
    assert 'data-testid="cannot-open"' in html and 'data-testid="new-ticket"' not in html
    resp = client.post("/company/tickets/new", data={"kind": "skill", "term": "X", "reason": "Y"})
    assert resp.status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CatalogTicket)) == 0


# New -----------------------------------------------------------------------------------------


def test_open_a_ticket_from_a_draft(client: FlaskClient, world: dict[str, Any]) -> None:
    login(client, world["member"])
    form = _html(client.get(f"/company/tickets/new?job_id={world['job'].id}&kind=process"))
    assert 'data-testid="from-job"' in form
    assert f'value="{world["job"].id}"' in form
    assert '<option selected value="process">' in form

    resp = client.post("/company/tickets/new", data={
        "kind": "process", "term": "Gas-assisted injection molding", "reason": "Our part is thick-walled.",
        "job_id": str(world["job"].id)})

    ticket = db.session.scalar(sa.select(CatalogTicket))
    assert ticket is not None
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/company/tickets/{ticket.id}")
    assert (ticket.job_id, ticket.kind.value, ticket.term) == (world["job"].id, "process",
                                                               "Gas-assisted injection molding")
    page = _html(client.get(resp.headers["Location"]))
    assert "Your ticket is sent." in page
    assert f"/company/jobs/{world['job'].id}/edit" in page  # back to the draft


def test_invalid_form_keeps_input_and_names_the_field(client: FlaskClient, world: dict[str, Any]) -> None:
    login(client, world["owner"])
    resp = client.post("/company/tickets/new", data={"kind": "skill", "term": "Laser welding", "reason": ""})
    html = _html(resp)
    assert resp.status_code == 400
    assert 'data-testid="error-reason"' in html
    assert 'value="Laser welding"' in html
    resp = client.post("/company/tickets/new", data={"kind": "colour", "term": "X", "reason": "Y"})
    assert resp.status_code == 400 and 'data-testid="error-kind"' in _html(resp)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CatalogTicket)) == 0


# Detail and reply ----------------------------------------------------------------------------


def test_detail_shows_status_thread_and_resolution(client: FlaskClient, world: dict[str, Any]) -> None:
    ticket = _ticket(world)
    tickets.start_ticket(ticket.id, actor=world["admin"])
    tickets.post_ticket_message(ticket.id, actor=world["admin"], body="Which process exactly?")
    login(client, world["owner"])
    html = _html(client.get(f"/company/tickets/{ticket.id}"))
    assert "Which process exactly?" in html and 'data-testid="reply-form"' in html
    assert "In progress" in html

    tickets.resolve_ticket(ticket.id, actor=world["admin"], new_terms=[("skill", "Gas-assisted molding", "")],
                           note="Added.")
    html = _html(client.get(f"/company/tickets/{ticket.id}"))
    assert 'data-testid="new-terms"' in html and "Added." in html
    assert 'data-testid="reply-form"' not in html


def test_reply_goes_into_the_thread(client: FlaskClient, world: dict[str, Any]) -> None:
    ticket = _ticket(world)
    login(client, world["owner"])
    resp = client.post(f"/company/tickets/{ticket.id}/reply", data={"body": "Also needed for PA66."})
    assert resp.status_code == 302
    message = db.session.scalar(sa.select(CatalogTicketMessage))
    assert message is not None and message.body == "Also needed for PA66." and not message.from_staff
    assert message.author_id == world["owner"].id


def test_empty_reply_is_refused_with_the_field_named(client: FlaskClient, world: dict[str, Any]) -> None:
    ticket = _ticket(world)
    login(client, world["member"])
    resp = client.post(f"/company/tickets/{ticket.id}/reply", data={"body": ""})
    assert resp.status_code == 400 and 'data-testid="error-body"' in _html(resp)


def test_reply_on_a_closed_ticket_is_explained(client: FlaskClient, world: dict[str, Any]) -> None:
    ticket = _ticket(world)
    tickets.start_ticket(ticket.id, actor=world["admin"])
    tickets.decline_ticket(ticket.id, actor=world["admin"], reason="Exists already.")
    login(client, world["member"])
    resp = client.post(f"/company/tickets/{ticket.id}/reply", data={"body": "Why?"}, follow_redirects=True)
    assert "open a new ticket" in _html(resp)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CatalogTicketMessage)) == 0
    assert db.session.get(CatalogTicket, ticket.id).status is TicketStatus.DECLINED
