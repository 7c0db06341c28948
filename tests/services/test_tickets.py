"""Catalog tickets: every transition of the ticket machine, per actor, with its notifications and audit."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from app.exceptions import InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from app.extensions import db
from app.models import (
    AuditEvent,
    CatalogKind,
    CatalogTerm,
    CatalogTicket,
    Notification,
    TicketKind,
    TicketStatus,
    VerificationStatus,
)
from app.services import tickets
from app.services.jobs import FieldErrors
from app.workflows.tickets import TICKET_TRANSITIONS, TICKET_WORKFLOW

T = TicketStatus


@pytest.fixture
def world(f: Any) -> dict[str, Any]:
    company = f.company()
    owner = f.company_user(company, full_name="Olga Owner")
    member = f.company_user(company, owner=False, full_name="Max Member")
    other_company = f.company()
    stranger = f.company_user(other_company)
    admin = f.admin()
    expert = f.expert()
    job = f.job(company, created_by=member)
    db.session.commit()
    return {"company": company, "owner": owner, "member": member, "stranger": stranger, "admin": admin,
            "expert_user": expert.user, "job": job, "other_company": other_company}


def _open(w: dict[str, Any], **kw: Any) -> CatalogTicket:
    values: dict[str, Any] = {"kind": "skill", "term": "Gas-assisted molding", "reason": "Our part needs it.",
                              "job_id": w["job"].id}
    values.update(kw)
    actor = values.pop("actor", w["member"])
    return tickets.open_ticket(w["company"].id, actor=actor, **values)


def _started(w: dict[str, Any]) -> CatalogTicket:
    ticket = _open(w)
    return tickets.start_ticket(ticket.id, actor=w["admin"])


def _kinds(user: Any) -> list[str]:
    return list(db.session.scalars(sa.select(Notification.kind).where(Notification.user_id == user.id)))


def test_the_table_is_open_in_progress_then_resolved_or_declined() -> None:
    assert TICKET_TRANSITIONS[T.OPEN] == {T.IN_PROGRESS}
    assert TICKET_TRANSITIONS[T.IN_PROGRESS] == {T.RESOLVED, T.DECLINED}
    assert TICKET_WORKFLOW.is_terminal(T.RESOLVED) and TICKET_WORKFLOW.is_terminal(T.DECLINED)


# open ----------------------------------------------------------------------------------------


def test_a_member_opens_a_ticket_from_a_draft_and_the_hub_is_told(world: dict[str, Any]) -> None:
    ticket = _open(world)

    assert ticket.status is T.OPEN
    assert (ticket.kind, ticket.term, ticket.job_id) == (TicketKind.SKILL, "Gas-assisted molding", world["job"].id)
    assert ticket.opened_by_id == world["member"].id
    assert _kinds(world["admin"]) == ["ticket.opened"]
    note = db.session.scalar(sa.select(Notification).where(Notification.user_id == world["admin"].id))
    assert note is not None and note.link == f"/admin/tickets/{ticket.id}"
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "ticket.opened"))
    assert event is not None and event.entity_id == ticket.id and event.to_state == "open"


def test_open_without_a_job(world: dict[str, Any]) -> None:
    ticket = _open(world, job_id=None, kind="job_type", term="Mold flow simulation")
    assert ticket.job_id is None and ticket.kind is TicketKind.JOB_TYPE


def test_open_names_each_bad_field(world: dict[str, Any]) -> None:
    with pytest.raises(FieldErrors) as exc:
        _open(world, kind="colour", term="  ", reason="")
    assert set(exc.value.errors) == {"kind", "term", "reason"}
    with pytest.raises(FieldErrors) as exc:
        _open(world, term="x" * 161)
    assert set(exc.value.errors) == {"term"}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CatalogTicket)) == 0


def test_another_companys_job_is_not_found(world: dict[str, Any], f: Any) -> None:
    foreign_job = f.job(world["other_company"])
    db.session.commit()
    with pytest.raises(NotFound):
        _open(world, job_id=foreign_job.id)


@pytest.mark.parametrize("who", ["stranger", "expert_user", "admin"])
def test_only_the_companys_users_open_tickets(world: dict[str, Any], who: str) -> None:
    with pytest.raises((NotFound, PermissionDenied)):
        _open(world, actor=world[who])


def test_an_unverified_company_cannot_open_tickets(world: dict[str, Any], f: Any) -> None:
    company = f.company(status=VerificationStatus.PENDING_VERIFICATION)
    owner = f.company_user(company)
    db.session.commit()
    with pytest.raises(PermissionDenied):
        tickets.open_ticket(company.id, actor=owner, kind="skill", term="X", reason="Y")


# messages ------------------------------------------------------------------------------------


def test_company_and_hub_talk_in_the_thread(world: dict[str, Any]) -> None:
    ticket = _open(world)
    tickets.post_ticket_message(ticket.id, actor=world["admin"], body="Is this the same as GIT?")
    tickets.post_ticket_message(ticket.id, actor=world["owner"], body="Yes, gas injection technology.")

    db.session.expire_all()
    ticket = db.session.get(CatalogTicket, ticket.id)
    assert [(m.from_staff, m.body) for m in ticket.messages] == [
        (True, "Is this the same as GIT?"), (False, "Yes, gas injection technology.")]
    assert "ticket.message_from_hub" in _kinds(world["member"])  # the opener
    assert "ticket.message_from_hub" in _kinds(world["owner"])  # an owner
    assert "ticket.message_from_company" in _kinds(world["admin"])
    assert ticket.status is T.OPEN  # talking does not change the state


def test_strangers_cannot_write_and_empty_messages_are_refused(world: dict[str, Any]) -> None:
    ticket = _open(world)
    with pytest.raises(NotFound):
        tickets.post_ticket_message(ticket.id, actor=world["stranger"], body="Hello")
    with pytest.raises(NotFound):
        tickets.post_ticket_message(ticket.id, actor=world["expert_user"], body="Hello")
    with pytest.raises(FieldErrors) as exc:
        tickets.post_ticket_message(ticket.id, actor=world["member"], body="   ")
    assert set(exc.value.errors) == {"body"}


def test_no_messages_on_a_closed_ticket(world: dict[str, Any]) -> None:
    ticket = _started(world)
    tickets.decline_ticket(ticket.id, actor=world["admin"], reason="Exists as “Gas injection”.")
    with pytest.raises(ValidationFailed, match="declined"):
        tickets.post_ticket_message(ticket.id, actor=world["member"], body="But…")


# start ---------------------------------------------------------------------------------------


def test_staff_start_an_open_ticket(world: dict[str, Any]) -> None:
    ticket = _started(world)
    assert ticket.status is T.IN_PROGRESS and ticket.handled_by_id == world["admin"].id
    assert "ticket.in_progress" in _kinds(world["member"])
    assert db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "ticket.in_progress")) is not None


@pytest.mark.parametrize("who", ["owner", "member"])
def test_the_company_cannot_start_its_ticket(world: dict[str, Any], who: str) -> None:
    ticket = _open(world)
    with pytest.raises(PermissionDenied):
        tickets.start_ticket(ticket.id, actor=world[who])


def test_a_ticket_is_started_once(world: dict[str, Any]) -> None:
    ticket = _started(world)
    with pytest.raises(InvalidTransition):
        tickets.start_ticket(ticket.id, actor=world["admin"])


# resolve -------------------------------------------------------------------------------------


def test_resolve_creates_the_terms_and_tells_the_company(world: dict[str, Any], f: Any) -> None:
    f.term(CatalogKind.SKILL, slug="gas-assisted-molding", name="Gas assisted molding (old)")
    db.session.commit()
    ticket = _started(world)

    tickets.resolve_ticket(
        ticket.id,
        actor=world["admin"],
        new_terms=[("skill", "Gas-assisted molding", "Gasinnendruck"), (CatalogKind.PROCESS, "GIT", "")],
        note="Both added.",
    )

    db.session.expire_all()
    ticket = db.session.get(CatalogTicket, ticket.id)
    assert ticket.status is T.RESOLVED and ticket.resolution_note == "Both added."
    assert ticket.decided_at is not None
    assert [(t.kind, t.slug, t.name, t.name_de) for t in ticket.terms] == [
        (CatalogKind.SKILL, "gas-assisted-molding-2", "Gas-assisted molding", "Gasinnendruck"),
        (CatalogKind.PROCESS, "git", "GIT", ""),
    ]
    note = db.session.scalar(sa.select(Notification).where(
        Notification.user_id == world["member"].id, Notification.kind == "ticket.resolved"))
    assert note is not None and note.params["terms"] == "Gas-assisted molding, GIT"
    assert note.link == f"/company/tickets/{ticket.id}"
    created = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "catalog_term.created")).all()
    assert [e.data["ticket_id"] for e in created] == [ticket.id, ticket.id]


def test_resolve_without_terms_needs_a_note(world: dict[str, Any]) -> None:
    ticket = _started(world)
    with pytest.raises(FieldErrors) as exc:
        tickets.resolve_ticket(ticket.id, actor=world["admin"], new_terms=[], note="")
    assert set(exc.value.errors) == {"note"}
    tickets.resolve_ticket(ticket.id, actor=world["admin"], new_terms=[], note="Use “Injection molding”.")
    assert db.session.get(CatalogTicket, ticket.id).status is T.RESOLVED


def test_resolve_refuses_bad_or_existing_terms_and_changes_nothing(world: dict[str, Any], f: Any) -> None:
    f.term(CatalogKind.SKILL, name="Hot runner balancing")
    db.session.commit()
    ticket = _started(world)
    before = db.session.scalar(sa.select(sa.func.count()).select_from(CatalogTerm))
    with pytest.raises(FieldErrors) as exc:
        tickets.resolve_ticket(
            ticket.id, actor=world["admin"],
            new_terms=[("skill", "New one", ""), ("skill", "hot runner balancing", ""), ("colour", "Red", ""),
                       ("process", "", "")],
        )
    assert set(exc.value.errors) == {"new_terms-1", "new_terms-2", "new_terms-3"}
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CatalogTerm)) == before
    assert db.session.get(CatalogTicket, ticket.id).status is T.IN_PROGRESS


def test_resolve_needs_staff_and_an_started_ticket(world: dict[str, Any]) -> None:
    ticket = _open(world)
    with pytest.raises(InvalidTransition):
        tickets.resolve_ticket(ticket.id, actor=world["admin"], new_terms=[("skill", "X", "")])
    tickets.start_ticket(ticket.id, actor=world["admin"])
    with pytest.raises(PermissionDenied):
        tickets.resolve_ticket(ticket.id, actor=world["owner"], new_terms=[("skill", "X", "")])
    with pytest.raises(NotFound):
        tickets.resolve_ticket(ticket.id, actor=world["stranger"], new_terms=[("skill", "X", "")])


# decline -------------------------------------------------------------------------------------


def test_decline_with_a_reason(world: dict[str, Any]) -> None:
    ticket = _started(world)
    with pytest.raises(FieldErrors):
        tickets.decline_ticket(ticket.id, actor=world["admin"], reason=" ")
    tickets.decline_ticket(ticket.id, actor=world["admin"], reason="Already listed as “GIT”.")
    ticket = db.session.get(CatalogTicket, ticket.id)
    assert ticket.status is T.DECLINED and ticket.resolution_note == "Already listed as “GIT”."
    assert "ticket.declined" in _kinds(world["owner"])
    with pytest.raises(InvalidTransition):
        tickets.resolve_ticket(ticket.id, actor=world["admin"], new_terms=[], note="Changed my mind")


def test_decline_refused_for_the_company_and_from_open(world: dict[str, Any]) -> None:
    ticket = _open(world)
    with pytest.raises(InvalidTransition):
        tickets.decline_ticket(ticket.id, actor=world["admin"], reason="No")
    tickets.start_ticket(ticket.id, actor=world["admin"])
    with pytest.raises(PermissionDenied):
        tickets.decline_ticket(ticket.id, actor=world["member"], reason="No")


def test_slugify() -> None:
    assert tickets.slugify("Polyamid 6.6 – glasfaserverstärkt") == "polyamid-6-6-glasfaserverstarkt"
    assert tickets.slugify("***") == "term"
