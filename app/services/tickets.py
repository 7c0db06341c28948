"""Catalog tickets: a company cannot find a job title, skill or job type and asks the hub.

    open -start-> in_progress -resolve(new terms)-> resolved
                              -decline(reason)-> declined

One public function per transition or change; each loads and locks its row,
checks existence, then permission (``app.policies``), then state, writes,
notifies, and commits once. Resolving creates the new catalog terms in the
same transaction (slugs unique per kind) and links them to the ticket.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from app import policies
from app.exceptions import NotFound, PermissionDenied, ValidationFailed
from app.extensions import db
from app.models import (
    CatalogKind,
    CatalogTerm,
    CatalogTicket,
    CatalogTicketMessage,
    Company,
    CompanyRole,
    Job,
    Role,
    TicketKind,
    TicketStatus,
    User,
)
from app.services import audit, notifications, uow
from app.services.jobs import FieldErrors
from app.services.transitions import transition
from app.workflows.tickets import TICKET_WORKFLOW

T = TicketStatus

COMPANY_TICKET_PATH = "/company/tickets/{id}"
ADMIN_TICKET_PATH = "/admin/tickets/{id}"

MAX_TERM = 160
MAX_TEXT = 5000
MAX_NEW_TERMS = 10
SLUG_MAX = 80
OPEN_STATES = frozenset({T.OPEN, T.IN_PROGRESS})


# Reads -------------------------------------------------------------------------------------


def company_tickets_query(company_id: int) -> sa.Select[CatalogTicket]:
    """A company's tickets: open and in progress first, then newest first."""
    still_open = sa.case((CatalogTicket.status.in_(OPEN_STATES), 0), else_=1)
    return (
        sa.select(CatalogTicket)
        .where(CatalogTicket.company_id == company_id)
        .order_by(still_open, CatalogTicket.created_at.desc(), CatalogTicket.id.desc())
    )


def get_ticket(ticket_id: int, *, actor: User | None) -> CatalogTicket:
    """A ticket the actor may see.

    :raises NotFound: no such ticket, or the actor may not know it exists.
    """
    ticket = db.session.get(CatalogTicket, ticket_id)
    if ticket is None or not policies.can_view_ticket(actor, ticket):
        raise NotFound(_("This ticket does not exist."))
    return ticket


# Internals ---------------------------------------------------------------------------------


def _load(ticket_id: int, actor: User | None) -> CatalogTicket:
    ticket = db.session.get(CatalogTicket, ticket_id, with_for_update=True)
    if ticket is None or not policies.can_view_ticket(actor, ticket):
        raise NotFound(_("This ticket does not exist."))
    return ticket


def _load_for_staff(ticket_id: int, actor: User) -> CatalogTicket:
    ticket = _load(ticket_id, actor)
    if not policies.can_work_ticket(actor, ticket):
        raise PermissionDenied(_("Only hub staff can work on catalog tickets."))
    return ticket


def _company_recipients(ticket: CatalogTicket) -> list[User]:
    """Who hears about a ticket: whoever opened it and the company's active owners."""
    people: dict[int, User] = {}
    for user in ticket.company.users:
        if user.suspended_at is None and user.role is Role.COMPANY and (
            user.company_role is CompanyRole.OWNER or user.id == ticket.opened_by_id
        ):
            people[user.id] = user
    return list(people.values())


def _notify_company(ticket: CatalogTicket, kind: str, **params: Any) -> None:
    for user in _company_recipients(ticket):
        notifications.notify(user, kind, link=COMPANY_TICKET_PATH.format(id=ticket.id), term=ticket.term, **params)


def slugify(name: str) -> str:
    """A catalog slug from a name: ASCII lowercase words joined by single hyphens."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name).strip("-")
    return slug[: SLUG_MAX - 4].strip("-") or "term"


def _unique_slug(kind: CatalogKind, name: str, taken: set[tuple[CatalogKind, str]]) -> str:
    base = slugify(name)
    existing = set(
        db.session.scalars(
            sa.select(CatalogTerm.slug).where(
                CatalogTerm.kind == kind, sa.or_(CatalogTerm.slug == base, CatalogTerm.slug.like(f"{base}-%"))
            )
        )
    ) | {slug for k, slug in taken if k is kind}
    slug, n = base, 2
    while slug in existing:
        slug, n = f"{base}-{n}", n + 1
    return slug


def _clean_new_terms(new_terms: Sequence[tuple[Any, str, str]]) -> list[tuple[CatalogKind, str, str]]:
    """Check the terms to create; raise FieldErrors naming the row (``new_terms-<i>``)."""
    if len(new_terms) > MAX_NEW_TERMS:
        raise ValidationFailed(_("Add at most %(n)d terms per ticket.", n=MAX_NEW_TERMS))
    errors: dict[str, str] = {}
    clean: list[tuple[CatalogKind, str, str]] = []
    seen: set[tuple[CatalogKind, str]] = set()
    for index, (raw_kind, raw_name, raw_name_de) in enumerate(new_terms):
        key = f"new_terms-{index}"
        name = " ".join(str(raw_name or "").split())
        name_de = " ".join(str(raw_name_de or "").split())
        try:
            kind = CatalogKind(raw_kind)
        except ValueError:
            errors[key] = _("Choose the kind of catalog term.")
            continue
        if not name:
            errors[key] = _("Give the new term an English name.")
            continue
        if len(name) > MAX_TERM or len(name_de) > MAX_TERM:
            errors[key] = _("A term's name may have at most %(n)d characters.", n=MAX_TERM)
            continue
        if (kind, name.lower()) in seen:
            errors[key] = _("“%(name)s” is listed twice.", name=name)
            continue
        existing = db.session.scalar(
            sa.select(CatalogTerm).where(CatalogTerm.kind == kind, sa.func.lower(CatalogTerm.name) == name.lower())
        )
        if existing is not None:
            if existing.is_retired:
                errors[key] = _("“%(name)s” exists but is retired; restore it in the catalog instead.", name=name)
            else:
                errors[key] = _("“%(name)s” is already in the catalog; resolve without adding it and say so in the "
                                "note.", name=name)
            continue
        seen.add((kind, name.lower()))
        clean.append((kind, name, name_de))
    if errors:
        raise FieldErrors(errors)
    return clean


# Transitions and changes -------------------------------------------------------------------


def open_ticket(
    company_id: int, *, actor: User, kind: TicketKind | str, term: str, reason: str, job_id: int | None = None
) -> CatalogTicket:
    """Ask the hub for a catalog term the company cannot find (from a draft job or on its own).

    -> OPEN. Every active admin is notified (``ticket.opened``). Audited as ``ticket.opened``.

    :raises NotFound: no such company (or job) visible to ``actor``.
    :raises PermissionDenied: the actor is not a user of an approved company.
    :raises FieldErrors: ``kind``, ``term`` or ``reason`` is not acceptable (``errors`` names each field).
    """
    company = db.session.get(Company, company_id)
    if company is None or not policies.can_view_company(actor, company):
        raise NotFound(_("This company does not exist."))
    if not policies.can_open_ticket(actor, company):
        raise PermissionDenied(_("Only users of a verified company can open catalog tickets."))
    job: Job | None = None
    if job_id is not None:
        job = db.session.get(Job, job_id)
        if job is None or job.company_id != company.id:
            raise NotFound(_("This job does not exist."))
    errors: dict[str, str] = {}
    try:
        ticket_kind = TicketKind(kind)
    except ValueError:
        errors["kind"] = _("Choose what is missing from the list.")
    term_text = " ".join(str(term or "").split())
    if not term_text:
        errors["term"] = _("Say which term you are looking for.")
    elif len(term_text) > MAX_TERM:
        errors["term"] = _("This is too long (at most %(n)d characters).", n=MAX_TERM)
    reason_text = str(reason or "").strip()
    if not reason_text:
        errors["reason"] = _("Say why you need it, so the hub can add the right term.")
    elif len(reason_text) > MAX_TEXT:
        errors["reason"] = _("This is too long (at most %(n)d characters).", n=MAX_TEXT)
    if errors:
        raise FieldErrors(errors)
    ticket = CatalogTicket(
        company_id=company.id,
        job_id=job.id if job is not None else None,
        opened_by_id=actor.id,
        kind=ticket_kind,
        term=term_text,
        reason=reason_text,
        status=T.OPEN,
    )
    ticket.company = company
    db.session.add(ticket)
    db.session.flush()
    audit.record("ticket.opened", actor=actor, entity="catalog_tickets", entity_id=ticket.id, to_state=T.OPEN.value,
                 data={"company_id": company.id, "job_id": ticket.job_id, "kind": ticket_kind.value,
                       "term": term_text})
    notifications.notify_staff("ticket.opened", link=ADMIN_TICKET_PATH.format(id=ticket.id), term=term_text,
                               company=company.name)
    uow.commit()
    return ticket


def post_ticket_message(ticket_id: int, *, actor: User, body: str) -> CatalogTicketMessage:
    """Write in the ticket's thread (the company's users or hub staff) while it is open or in progress.

    The other side is notified. Audited as ``ticket.message_posted``.

    :raises NotFound: no such ticket visible to ``actor``.
    :raises PermissionDenied: the actor may not write here.
    :raises ValidationFailed: the ticket is closed, or the message is empty or too long.
    """
    ticket = _load(ticket_id, actor)
    if not policies.can_post_ticket_message(actor, ticket):
        raise PermissionDenied(_("You cannot write on this ticket."))
    if ticket.is_closed:
        raise ValidationFailed(_("This ticket is %(status)s; open a new ticket if something is still missing.",
                                 status=ticket.status.value.replace("_", " ")))
    text = str(body or "").strip()
    if not text:
        raise FieldErrors({"body": _("Write a message first.")})
    if len(text) > MAX_TEXT:
        raise FieldErrors({"body": _("This is too long (at most %(n)d characters).", n=MAX_TEXT)})
    staff = policies.is_staff(actor)
    message = CatalogTicketMessage(author_id=actor.id, from_staff=staff, body=text, created_at=datetime.now(UTC))
    ticket.messages.append(message)
    ticket.updated_at = datetime.now(UTC)
    db.session.flush()
    audit.record("ticket.message_posted", actor=actor, entity="catalog_tickets", entity_id=ticket.id,
                 data={"message_id": message.id, "from_staff": staff})
    excerpt = text if len(text) <= 300 else text[:299] + "…"
    if staff:
        _notify_company(ticket, "ticket.message_from_hub", body=excerpt)
    else:
        notifications.notify_staff("ticket.message_from_company", link=ADMIN_TICKET_PATH.format(id=ticket.id),
                                   term=ticket.term, company=ticket.company.name, body=excerpt)
    uow.commit()
    return message


def start_ticket(ticket_id: int, *, actor: User) -> CatalogTicket:
    """A hub admin takes the ticket on.

    OPEN -> IN_PROGRESS. The company is notified (``ticket.in_progress``).

    :raises NotFound: no such ticket.
    :raises PermissionDenied: the actor is not hub staff.
    :raises InvalidTransition: the ticket is not open.
    """
    ticket = _load_for_staff(ticket_id, actor)
    transition(ticket, TICKET_WORKFLOW, T.IN_PROGRESS, actor=actor)
    ticket.handled_by_id = actor.id
    _notify_company(ticket, "ticket.in_progress")
    uow.commit()
    return ticket


def resolve_ticket(
    ticket_id: int, *, actor: User, new_terms: Sequence[tuple[CatalogKind | str, str, str]], note: str = ""
) -> CatalogTicket:
    """Close the ticket by adding the missing catalog terms (or none, explained in the note).

    IN_PROGRESS -> RESOLVED. ``new_terms`` are ``(kind, English name, German name)``;
    each becomes a catalog term with a slug unique for its kind, audited as
    ``catalog_term.created`` and linked to the ticket. The company is notified
    (``ticket.resolved``) and finds the terms in its draft's lists.

    :raises NotFound: no such ticket.
    :raises PermissionDenied: the actor is not hub staff.
    :raises InvalidTransition: the ticket is not in progress.
    :raises FieldErrors: a term is not acceptable (``new_terms-<row>``) or no note when no term is added (``note``).
    """
    ticket = _load_for_staff(ticket_id, actor)
    TICKET_WORKFLOW.check(ticket.status, T.RESOLVED)
    clean = _clean_new_terms(new_terms)
    note_text = str(note or "").strip()
    if not clean and not note_text:
        raise FieldErrors({"note": _("Add a term, or explain in the note how the company can go on without one.")})
    if len(note_text) > MAX_TEXT:
        raise FieldErrors({"note": _("This is too long (at most %(n)d characters).", n=MAX_TEXT)})
    taken: set[tuple[CatalogKind, str]] = set()
    created: list[CatalogTerm] = []
    for kind, name, name_de in clean:
        slug = _unique_slug(kind, name, taken)
        taken.add((kind, slug))
        term = CatalogTerm(kind=kind, slug=slug, name=name, name_de=name_de, group="", description="")
        db.session.add(term)
        db.session.flush()
        audit.record("catalog_term.created", actor=actor, entity="catalog_terms", entity_id=term.id,
                     data={"kind": kind.value, "slug": slug, "name": name, "name_de": name_de, "ticket_id": ticket.id})
        created.append(term)
    ticket.terms.extend(created)
    transition(ticket, TICKET_WORKFLOW, T.RESOLVED, actor=actor, term_ids=[t.id for t in created], note=note_text)
    ticket.resolution_note = note_text
    ticket.handled_by_id = actor.id
    ticket.decided_at = datetime.now(UTC)
    _notify_company(ticket, "ticket.resolved", note=note_text or "—",
                    terms=", ".join(t.name for t in created) or "—")
    uow.commit()
    return ticket


def decline_ticket(ticket_id: int, *, actor: User, reason: str) -> CatalogTicket:
    """Close the ticket without adding a term; the company is told why.

    IN_PROGRESS -> DECLINED. The company is notified (``ticket.declined``).

    :raises NotFound: no such ticket.
    :raises PermissionDenied: the actor is not hub staff.
    :raises InvalidTransition: the ticket is not in progress.
    :raises FieldErrors: no reason given (``reason``).
    """
    ticket = _load_for_staff(ticket_id, actor)
    TICKET_WORKFLOW.check(ticket.status, T.DECLINED)
    reason_text = str(reason or "").strip()
    if not reason_text:
        raise FieldErrors({"reason": _("Give a reason: the company reads it and needs to know how to go on.")})
    if len(reason_text) > MAX_TEXT:
        raise FieldErrors({"reason": _("This is too long (at most %(n)d characters).", n=MAX_TEXT)})
    transition(ticket, TICKET_WORKFLOW, T.DECLINED, actor=actor, reason=reason_text)
    ticket.resolution_note = reason_text
    ticket.handled_by_id = actor.id
    ticket.decided_at = datetime.now(UTC)
    _notify_company(ticket, "ticket.declined", reason=reason_text)
    uow.commit()
    return ticket
