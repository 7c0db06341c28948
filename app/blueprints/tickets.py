"""The company's catalog tickets: list, open (from a job draft), read the thread, reply.

Each view parses a form, calls one service in app/services/tickets.py and
either redirects with a message or re-renders the form with its errors (400),
keeping what was typed. Another company's ticket or job is a 404.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm

from app import policies
from app.exceptions import DomainError, NotFound
from app.extensions import db
from app.models import CatalogTicket, Company, Job, Role, User
from app.security import roles_required
from app.services import tickets
from app.services.jobs import FieldErrors
from forms.tickets import KIND_LABELS, STATUS_COLOURS, MessageForm, TicketForm, kind_label, ticket_status_label

bp = Blueprint("tickets", __name__)
PER_PAGE = 20


@bp.app_template_global()
def ticket_kind_label(kind: str) -> str:
    """What a ticket asks for, shown to people."""
    return kind_label(kind)


@bp.app_template_global()
def ticket_status(status: str) -> str:
    """A ticket's status, shown to people."""
    return ticket_status_label(status)


@bp.app_template_global()
def ticket_status_colour(status: object) -> str:
    """The Bootstrap colour of a ticket status badge."""
    value = getattr(status, "value", status)
    return STATUS_COLOURS.get(str(value), "secondary")


def _actor() -> User:
    user = current_user._get_current_object()
    if not isinstance(user, User):
        abort(401)
    return user


def _company() -> Company:
    company = _actor().company
    if company is None:
        abort(404)
    return company


def _ticket(ticket_id: int) -> CatalogTicket:
    try:
        return tickets.get_ticket(ticket_id, actor=_actor())
    except NotFound:
        abort(404)


def _job_edit_url(job_id: int | None) -> str:
    """The draft's edit page (built by the jobs pages; the path is fixed by the notifications)."""
    if job_id is None:
        return ""
    if "company_jobs.edit" in current_app.view_functions:
        return url_for("company_jobs.edit", job_id=job_id)
    return f"/company/jobs/{job_id}/edit"


def _apply_errors(form: FlaskForm, exc: FieldErrors) -> None:
    for name, message in exc.errors.items():
        target = getattr(form, name, None)
        if target is not None:
            target.errors = [*target.errors, message]
        else:
            flash(message, "danger")


@bp.get("/company/tickets")
@roles_required(Role.COMPANY)
def index() -> ResponseReturnValue:
    """The company's tickets: open ones first, then newest first."""
    actor, company = _actor(), _company()
    page = db.paginate(tickets.company_tickets_query(company.id), per_page=PER_PAGE, error_out=False)
    return render_template(
        "company/tickets/index.html",
        company=company,
        page=page,
        can_open=policies.can_open_ticket(actor, company),
    )


def _render_new(form: TicketForm, company: Company, job: Job | None, status: int = 200) -> ResponseReturnValue:
    return render_template(
        "company/tickets/new.html",
        form=form,
        company=company,
        job=job,
        job_edit_url=_job_edit_url(job.id if job else None),
        can_open=policies.can_open_ticket(_actor(), company),
    ), status


@bp.route("/company/tickets/new", methods=["GET", "POST"])
@roles_required(Role.COMPANY)
def new() -> ResponseReturnValue:
    """Open a ticket: what is missing, the term, why; linked to the draft it came from."""
    actor, company = _actor(), _company()
    form = TicketForm()
    raw = (request.args.get("job_id", "") if request.method == "GET" else form.job_id.data or "").strip()
    job: Job | None = None
    if raw:
        job = db.session.get(Job, int(raw)) if raw.isdigit() else None
        if job is None or job.company_id != company.id:
            abort(404)
        form.job_id.data = str(job.id)
    if request.method == "GET":
        kind = request.args.get("kind", "")
        if kind in KIND_LABELS:
            form.kind.data = kind
        return _render_new(form, company, job)
    if not form.validate():
        return _render_new(form, company, job, 400)
    try:
        ticket = tickets.open_ticket(
            company.id,
            actor=actor,
            kind=form.kind.data or "",
            term=form.term.data or "",
            reason=form.reason.data or "",
            job_id=job.id if job else None,
        )
    except FieldErrors as exc:
        _apply_errors(form, exc)
        return _render_new(form, company, job, 400)
    except NotFound:
        abort(404)
    except DomainError as exc:
        flash(str(exc), "danger")
        return _render_new(form, company, job, 403)
    flash(_("Your ticket is sent. The hub will add the term or answer you here; we will let you know."), "success")
    return redirect(url_for("tickets.detail", ticket_id=ticket.id))


def _render_detail(ticket: CatalogTicket, form: MessageForm, status: int = 200) -> ResponseReturnValue:
    return render_template(
        "company/tickets/detail.html",
        ticket=ticket,
        form=form,
        job_edit_url=_job_edit_url(ticket.job_id),
    ), status


@bp.get("/company/tickets/<int:ticket_id>")
@roles_required(Role.COMPANY)
def detail(ticket_id: int) -> ResponseReturnValue:
    """A ticket: status, what the hub decided, the thread and a reply form."""
    return _render_detail(_ticket(ticket_id), MessageForm(formdata=None))


@bp.post("/company/tickets/<int:ticket_id>/reply")
@roles_required(Role.COMPANY)
def reply(ticket_id: int) -> ResponseReturnValue:
    """Write to the hub in the ticket's thread."""
    ticket = _ticket(ticket_id)
    form = MessageForm()
    if not form.validate():
        return _render_detail(ticket, form, 400)
    try:
        tickets.post_ticket_message(ticket.id, actor=_actor(), body=form.body.data or "")
    except FieldErrors as exc:
        _apply_errors(form, exc)
        return _render_detail(ticket, form, 400)
    except NotFound:
        abort(404)
    except DomainError as exc:
        flash(str(exc), "danger")
        return redirect(url_for("tickets.detail", ticket_id=ticket.id))
    flash(_("Your message is sent to the hub."), "success")
    return redirect(url_for("tickets.detail", ticket_id=ticket.id) + "#thread")
