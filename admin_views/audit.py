"""The audit log: read-only, newest first, with a check of the hash chain."""

from __future__ import annotations

from typing import Any, ClassVar

import sqlalchemy as sa
from flask import flash, redirect
from flask.typing import ResponseReturnValue
from flask_admin import expose
from flask_admin.contrib.sqla.filters import FilterEqual
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from admin_views.base import ReadOnlyModelView, dynamic_options, form_error_flash, json_formatter
from admin_views.queries import event_links
from app.extensions import db
from app.models import AuditEvent
from app.services import audit
from forms.admin import ConfirmForm


def _distinct(column: Any) -> Any:
    def options() -> list[tuple[str, str]]:
        values = db.session.scalars(sa.select(column).distinct().order_by(column))
        return [(v, v) for v in values if v]

    return dynamic_options(options)


def _actor(view: Any, context: Any, model: AuditEvent, name: str) -> Markup | str:
    if model.actor is None:
        return Markup('<span class="text-muted">{}</span>').format(_("system"))
    return Markup('{}<br><small class="text-muted">{}</small>').format(model.actor.full_name, model.actor.email)


def _entity(view: Any, context: Any, model: AuditEvent, name: str) -> Markup | str:
    label = f"{model.entity} #{model.entity_id}" if model.entity_id is not None else model.entity
    link = event_links(model)
    if link is None:
        return label
    return Markup('<a href="{}">{}</a>').format(link, label)


def _short_hash(view: Any, context: Any, model: AuditEvent, name: str) -> Markup:
    value = getattr(model, name) or ""
    return Markup('<code title="{}">{}…</code>').format(value, value[:12])


class AuditLogView(ReadOnlyModelView):
    """Who did what, when: the append-only, hash-chained event log."""

    list_template = "admin/audit/list.html"
    page_size = 100
    column_list = ("id", "created_at", "actor", "action", "entity", "from_state", "to_state", "data", "ip_address")
    column_details_list = (
        "id",
        "created_at",
        "actor",
        "action",
        "entity",
        "from_state",
        "to_state",
        "data",
        "ip_address",
        "prev_hash",
        "hash",
    )
    column_sortable_list = ("id", "created_at", "action")
    column_default_sort = ("id", True)
    column_searchable_list = ("action", "entity", "actor.email")
    column_select_related_list = (AuditEvent.actor,)
    column_filters = (
        FilterEqual(AuditEvent.action, _l("Action"), options=_distinct(AuditEvent.action)),
        FilterEqual(AuditEvent.entity, _l("Entity"), options=_distinct(AuditEvent.entity)),
        "entity_id",
        "actor.email",
        "created_at",
    )
    column_formatters: ClassVar[dict[str, Any]] = {
        "actor": _actor,
        "entity": _entity,
        "data": json_formatter,
        "prev_hash": _short_hash,
        "hash": _short_hash,
    }
    column_formatters_detail: ClassVar[dict[str, Any]] = {
        "actor": _actor,
        "entity": _entity,
        "data": json_formatter,
    }
    column_labels: ClassVar[dict[str, Any]] = {
        "id": _l("ID"),
        "created_at": _l("When"),
        "actor": _l("Who"),
        "actor.email": _l("Actor e-mail"),
        "action": _l("Action"),
        "entity": _l("Object"),
        "entity_id": _l("Object ID"),
        "from_state": _l("Previous state"),
        "to_state": _l("New state"),
        "data": _l("Data"),
        "ip_address": _l("IP address"),
        "prev_hash": _l("Previous hash"),
        "hash": _l("Hash"),
    }

    def render(self, template: str, **kwargs: Any) -> str:
        kwargs.setdefault("verify_form", ConfirmForm(formdata=None, prefix="verify"))
        return super().render(template, **kwargs)

    @expose("/verify", methods=("POST",))
    def verify(self) -> ResponseReturnValue:
        form = ConfirmForm(prefix="verify")
        if not form.validate():
            form_error_flash()
            return redirect(self.get_url(".index_view"))
        report = audit.verify_chain()
        if report.ok:
            flash(_("The audit chain is intact: %(n)d events checked.", n=report.checked), "success")
        else:
            flash(
                _(
                    "The audit chain is broken at event #%(id)d: %(reason)s. %(n)d events before it are intact.",
                    id=report.broken_at or 0,
                    reason=report.reason,
                    n=report.checked,
                ),
                "danger",
            )
        return redirect(self.get_url(".index_view"))
