"""Messages: the mail outbox (every e-mail the hub sent or would send) and the delivery queue.

An e-mail's HTML body is shown in a sandboxed iframe, served by its own route
with a CSP that forbids scripts, plugins, forms and any outside request, so a
hostile body can do nothing but show itself.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import sqlalchemy as sa
from flask import abort, flash, make_response, redirect, request
from flask.typing import ResponseReturnValue
from flask_admin import expose
from flask_admin.contrib.sqla.filters import FilterEqual
from flask_admin.helpers import get_redirect_target
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from admin_views.base import (
    ReadOnlyModelView,
    current_actor,
    dynamic_options,
    form_error_flash,
    json_formatter,
    run_decision,
)
from admin_views.queries import entity_history
from app.extensions import db
from app.models import EmailMessage, OutboxMessage
from app.security import allow_same_origin_framing
from app.services import outbox_admin
from app.tasks import outbox as outbox_tasks
from forms.admin import ConfirmForm

logger = logging.getLogger(__name__)

# The HTML body may only show itself: no script, no plugin, no form, nothing fetched.
MAIL_HTML_CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'"


class EmailMessageView(ReadOnlyModelView):
    """The mail outbox: read every e-mail as its recipient got it."""

    details_template = "admin/messages/email.html"
    column_list = ("id", "created_at", "to_address", "subject", "transport", "sent_at")
    column_sortable_list = ("id", "created_at", "to_address", "sent_at")
    column_default_sort = ("id", True)
    column_searchable_list = ("to_address", "subject")
    column_filters = ("transport", "sent_at", "created_at", "to_address")
    column_labels: ClassVar[dict[str, Any]] = {
        "id": _l("ID"),
        "created_at": _l("Written"),
        "to_address": _l("Recipient"),
        "subject": _l("Subject"),
        "transport": _l("Transport"),
        "sent_at": _l("Sent"),
    }

    def load(self, message_id: int) -> EmailMessage:
        message = db.session.get(EmailMessage, message_id)
        if message is None:
            abort(404)
        return message

    @expose("/details/")
    def details_view(self) -> ResponseReturnValue:
        message_id = request.args.get("id", type=int)
        if message_id is None:
            return redirect(self.get_url(".index_view"))
        return self.render(
            self.details_template,
            model=self.load(message_id),
            return_url=get_redirect_target() or self.get_url(".index_view"),
        )

    @expose("/<int:message_id>/html")
    def html_body(self, message_id: int) -> ResponseReturnValue:
        message = self.load(message_id)
        allow_same_origin_framing()
        response = make_response(message.body_html or "")
        response.headers["Content-Type"] = "text/html; charset=utf-8"
        response.headers["Content-Security-Policy"] = MAIL_HTML_CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def _delivery_state(view: Any, context: Any, model: OutboxMessage, name: str) -> Markup:
    if model.delivered_at is not None:
        return Markup('<span class="badge badge-success">{}</span>').format(_("Delivered"))
    if model.failed_at is not None:
        return Markup('<span class="badge badge-danger">{}</span>').format(_("Failed"))
    if model.attempts:
        return Markup('<span class="badge badge-warning">{}</span>').format(_("Retrying"))
    return Markup('<span class="badge badge-secondary">{}</span>').format(_("Waiting"))


def _error(view: Any, context: Any, model: OutboxMessage, name: str) -> Markup:
    text = model.last_error or ""
    short = text if len(text) <= 160 else text[:159] + "…"
    return Markup('<span class="small" title="{}">{}</span>').format(text, short)


class OutboxMessageView(ReadOnlyModelView):
    """Side effects not yet delivered (by default) with their attempts and last error."""

    list_template = "admin/messages/outbox_list.html"
    details_template = "admin/messages/outbox.html"
    column_list = ("id", "topic", "state", "created_at", "attempts", "next_attempt_at", "last_error", "failed_at")
    column_sortable_list = ("id", "topic", "created_at", "attempts", "next_attempt_at", "failed_at")
    column_default_sort = ("id", True)
    column_searchable_list = ("topic", "last_error")
    column_filters = (
        FilterEqual(OutboxMessage.topic, _l("Topic"), options=dynamic_options(lambda: _topics())),
        "delivered_at",
        "failed_at",
        "attempts",
        "created_at",
    )
    column_formatters: ClassVar[dict[str, Any]] = {
        "state": _delivery_state,
        "last_error": _error,
        "payload": json_formatter,
    }
    column_labels: ClassVar[dict[str, Any]] = {
        "id": _l("ID"),
        "topic": _l("Topic"),
        "state": _l("State"),
        "created_at": _l("Created"),
        "attempts": _l("Attempts"),
        "next_attempt_at": _l("Next attempt"),
        "last_error": _l("Last error"),
        "failed_at": _l("Given up"),
        "delivered_at": _l("Delivered"),
    }

    def show_all(self) -> bool:
        return request.args.get("all") == "1"

    def get_query(self) -> Any:
        query = super().get_query()
        if self.show_all():
            return query
        return query.filter(OutboxMessage.delivered_at.is_(None))

    def get_count_query(self) -> Any:
        query = super().get_count_query()
        if self.show_all():
            return query
        return query.filter(OutboxMessage.delivered_at.is_(None))

    def render(self, template: str, **kwargs: Any) -> str:
        kwargs.setdefault("retry_form", ConfirmForm(formdata=None, prefix="retry"))
        kwargs.setdefault("showing_all", self.show_all())
        return super().render(template, **kwargs)

    @expose("/details/")
    def details_view(self) -> ResponseReturnValue:
        message_id = request.args.get("id", type=int)
        if message_id is None:
            return redirect(self.get_url(".index_view"))
        message = db.session.get(OutboxMessage, message_id)
        if message is None:
            abort(404)
        email = db.session.scalar(sa.select(EmailMessage).where(EmailMessage.outbox_message_id == message.id))
        return self.render(
            self.details_template,
            model=message,
            email=email,
            history=entity_history("outbox_messages", message.id),
            return_url=get_redirect_target() or self.get_url(".index_view"),
        )

    @expose("/<int:message_id>/retry", methods=("POST",))
    def retry(self, message_id: int) -> ResponseReturnValue:
        if db.session.get(OutboxMessage, message_id) is None:
            abort(404)
        back = get_redirect_target() or self.get_url(".details_view", id=message_id)
        form = ConfirmForm(prefix="retry")
        if not form.validate():
            form_error_flash()
            return redirect(back)
        if not run_decision(
            lambda: outbox_admin.retry_message(message_id, actor=current_actor()),
            None,
        ):
            return redirect(back)
        try:
            delivered = outbox_tasks.deliver(message_id)
        except Exception as exc:  # the task recorded the failure; the admin sees why
            logger.info("Retry of outbox message %s failed: %s", message_id, exc)
            flash(_("Delivery failed again: %(error)s", error=f"{type(exc).__name__}: {exc}"), "danger")
        else:
            if delivered:
                flash(_("Message #%(id)d delivered.", id=message_id), "success")
            else:
                flash(_("Message #%(id)d was not delivered; see its last error.", id=message_id), "warning")
        return redirect(back)


def _topics() -> list[tuple[str, str]]:
    values = db.session.scalars(sa.select(OutboxMessage.topic).distinct().order_by(OutboxMessage.topic))
    return [(v, v) for v in values]
