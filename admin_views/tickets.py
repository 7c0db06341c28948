"""Catalog tickets in the back office: the queue (open and in progress first, oldest first),
the details page with the thread, and the buttons that call app/services/tickets.py.

Register in admin_views/__init__.py (endpoint ``catalog_tickets``: the portal blueprint is ``tickets``)::

    admin.add_view(CatalogTicketView(CatalogTicket, db, name=_l("Tickets"), category=catalog,
                                     endpoint="catalog_tickets", url="tickets"))
"""

from __future__ import annotations

from typing import Any, ClassVar

import sqlalchemy as sa
from flask import abort, flash, redirect, request
from flask.typing import ResponseReturnValue
from flask_admin import expose
from flask_admin.helpers import get_redirect_target
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from markupsafe import Markup

from admin_views.base import SecureModelView, current_actor, details_link, form_error_flash, run_decision
from admin_views.labels import enum_filters, label_formatter
from admin_views.queries import entity_history
from app.exceptions import DomainError
from app.extensions import db
from app.models import CatalogTicket, TicketKind, TicketStatus
from app.services import tickets, uow
from app.services.jobs import FieldErrors
from app.workflows.tickets import TICKET_WORKFLOW
from forms.tickets import (
    KIND_LABELS,
    STATUS_COLOURS,
    STATUS_LABELS,
    SUGGESTED_TERM_KIND,
    DeclineForm,
    MessageForm,
    ResolveForm,
    StartForm,
)

T = TicketStatus
WAITING = (T.OPEN, T.IN_PROGRESS)


def _status_badge(view: Any, context: Any, model: CatalogTicket, name: str) -> Markup:
    status = model.status
    return Markup('<span class="badge badge-{}" data-testid="status">{}</span>').format(
        STATUS_COLOURS.get(status.value, "secondary"), STATUS_LABELS.get(status.value, status.value)
    )


class CatalogTicketView(SecureModelView):
    """The queue of catalog tickets and the page that works one."""

    can_create = False
    can_edit = False
    can_delete = False
    details_template = "admin/tickets/details.html"
    list_template = "admin/tickets/list.html"
    column_select_related_list = (CatalogTicket.company,)
    column_list = ("id", "term", "kind", "company.name", "status", "created_at", "decided_at")
    column_sortable_list = ("id", "term", "kind", "status", "created_at", "decided_at")
    column_searchable_list = ("term", "reason", "company.name")
    column_filters = (
        *enum_filters(CatalogTicket.status, _l("Status"), STATUS_LABELS),
        *enum_filters(CatalogTicket.kind, _l("Missing"), KIND_LABELS),
        "created_at",
    )
    column_labels: ClassVar[dict[str, Any]] = {
        "id": _l("ID"),
        "term": _l("Term wanted"),
        "kind": _l("Missing"),
        "company.name": _l("Company"),
        "status": _l("Status"),
        "created_at": _l("Opened"),
        "decided_at": _l("Decided"),
        "reason": _l("Why"),
    }
    column_formatters: ClassVar[dict[str, Any]] = {
        "status": _status_badge,
        "kind": label_formatter(KIND_LABELS),
        "term": details_link,
    }

    # Queue order: open first, then in progress, then the rest; oldest first --------------
    def _apply_sorting(self, query: Any, joins: Any, sort_column: Any, sort_desc: bool) -> tuple[Any, Any]:
        if sort_column is not None:
            return super()._apply_sorting(query, joins, sort_column, sort_desc)
        order = sa.case((CatalogTicket.status == T.OPEN, 0), (CatalogTicket.status == T.IN_PROGRESS, 1), else_=2)
        return query.order_by(order, CatalogTicket.created_at.asc(), CatalogTicket.id.asc()), joins

    # Pages -------------------------------------------------------------------------------
    def load(self, ticket_id: int) -> CatalogTicket:
        ticket = db.session.get(CatalogTicket, ticket_id)
        if ticket is None:
            abort(404)
        return ticket

    @expose("/<int:ticket_id>")
    def ticket_redirect(self, ticket_id: int) -> ResponseReturnValue:
        """The link in notifications: /admin/tickets/<id>."""
        self.load(ticket_id)
        return redirect(self.get_url(".details_view", id=ticket_id))

    @expose("/details/")
    def details_view(self) -> ResponseReturnValue:
        ticket_id = request.args.get("id", type=int)
        if ticket_id is None:
            return redirect(self.get_url(".index_view"))
        return self.render_ticket(self.load(ticket_id))

    def _resolve_form(self, ticket: CatalogTicket) -> ResolveForm:
        form = ResolveForm(formdata=None, prefix="resolve")
        suggested = SUGGESTED_TERM_KIND.get(ticket.kind)
        if suggested is not None:
            first = form.new_terms[0].form
            first.kind.data = suggested.value
            first.name.data = ticket.term
        return form

    def render_ticket(
        self, ticket: CatalogTicket, *, bound: dict[str, FlaskForm] | None = None, status: int = 200
    ) -> ResponseReturnValue:
        bound = bound or {}
        allowed = TICKET_WORKFLOW.targets(ticket.status)
        html = self.render(
            self.details_template,
            model=ticket,
            reply_form=bound.get("reply") or MessageForm(formdata=None, prefix="reply"),
            start_form=bound.get("start") or StartForm(formdata=None, prefix="start"),
            resolve_form=bound.get("resolve") or self._resolve_form(ticket),
            decline_form=bound.get("decline") or DeclineForm(formdata=None, prefix="decline"),
            can_start=T.IN_PROGRESS in allowed,
            can_resolve=T.RESOLVED in allowed,
            can_decline=T.DECLINED in allowed,
            history=entity_history("catalog_tickets", ticket.id),
            return_url=get_redirect_target() or self.get_url(".index_view"),
            ticket_kinds=TicketKind,
        )
        return html, status

    def _back(self, ticket_id: int, anchor: str = "") -> ResponseReturnValue:
        return redirect(self.get_url(".details_view", id=ticket_id) + anchor)

    # Decisions ---------------------------------------------------------------------------
    @expose("/<int:ticket_id>/reply", methods=("POST",))
    def reply(self, ticket_id: int) -> ResponseReturnValue:
        ticket = self.load(ticket_id)
        form = MessageForm(prefix="reply")
        if not form.validate():
            form_error_flash()
            return self.render_ticket(ticket, bound={"reply": form}, status=400)
        body = (form.body.data or "").strip()
        run_decision(
            lambda: tickets.post_ticket_message(ticket_id, actor=current_actor(), body=body),
            _("Message sent. The company was notified."),
        )
        return self._back(ticket_id, "#thread")

    @expose("/<int:ticket_id>/start", methods=("POST",))
    def start(self, ticket_id: int) -> ResponseReturnValue:
        self.load(ticket_id)
        form = StartForm(prefix="start")
        if not form.validate():
            abort(400)
        run_decision(
            lambda: tickets.start_ticket(ticket_id, actor=current_actor()),
            _("The ticket is in progress. The company was notified."),
        )
        return self._back(ticket_id)

    @expose("/<int:ticket_id>/resolve", methods=("POST",))
    def resolve(self, ticket_id: int) -> ResponseReturnValue:
        ticket = self.load(ticket_id)
        form = ResolveForm(prefix="resolve")
        if not form.validate():
            form_error_flash()
            return self.render_ticket(ticket, bound={"resolve": form}, status=400)
        rows = form.term_rows()
        try:
            tickets.resolve_ticket(ticket_id, actor=current_actor(), new_terms=rows, note=form.note.data or "")
        except FieldErrors as exc:
            uow.rollback()
            for key, message in exc.errors.items():
                if key.startswith("new_terms-"):
                    entry = form.new_terms[form.row_index(int(key.split("-", 1)[1]))].form
                    entry.name.errors = [*entry.name.errors, message]
                elif key == "note":
                    form.note.errors = [*form.note.errors, message]
            form_error_flash()
            return self.render_ticket(self.load(ticket_id), bound={"resolve": form}, status=400)
        except DomainError as exc:
            uow.rollback()
            flash(str(exc), "danger")
            return self._back(ticket_id)
        if rows:
            flash(_("Resolved: %(n)d new catalog term(s) added. The company was notified.", n=len(rows)), "success")
        else:
            flash(_("Resolved without a new term. The company was notified."), "success")
        return self._back(ticket_id)

    @expose("/<int:ticket_id>/decline", methods=("POST",))
    def decline(self, ticket_id: int) -> ResponseReturnValue:
        ticket = self.load(ticket_id)
        form = DeclineForm(prefix="decline")
        if not form.validate():
            form_error_flash()
            return self.render_ticket(ticket, bound={"decline": form}, status=400)
        reason = (form.reason.data or "").strip()
        run_decision(
            lambda: tickets.decline_ticket(ticket_id, actor=current_actor(), reason=reason),
            _("Declined. The company was told why."),
        )
        return self._back(ticket_id)
