"""Delivery checking in the back office (WORKFLOW.md §9): the queue, and one delivery next to its earlier versions.

The queue lists the open deliveries, those waiting for the hub's check first,
then the oldest first, with how long each has waited in its current state;
``?status=`` shows one state (or ``all``). The delivery page shows every
version of the project side by side (notes, checklist, files with size and
SHA-256, the QC reviews with their scores, verdict and the QC expert's
pseudonym, the hub's and the company's comments, who did what and when) with
the "Verify and forward to the company" and "Return to the expert" forms.
Every button calls app/services/delivery_review.py; nothing here writes a
status.

Registered in admin_views/__init__.py with endpoint ``admin_deliveries`` and url
``deliveries``, so notification links read /admin/deliveries/<id>.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import abort, current_app, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_admin import expose
from flask_babel import format_timedelta
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from admin_views.base import SecureBaseView, current_actor, form_error_flash
from app.exceptions import DomainError, NotFound
from app.models.mixins import utcnow
from app.services import delivery_review, uow
from forms.delivery_review import (
    DELIVERY_STATUS_COLOURS,
    DELIVERY_STATUS_LABELS,
    VERDICT_COLOURS,
    VERDICT_SHORT_LABELS,
    ForwardForm,
    ReturnForm,
)

FILTER_LABELS = {delivery_review.QUEUE_OPEN: _l("Open"), delivery_review.QUEUE_ALL: _l("All")}
LABELS: dict[str, Any] = {
    "delivery_status_labels": DELIVERY_STATUS_LABELS,
    "delivery_status_colours": DELIVERY_STATUS_COLOURS,
    "verdict_labels": VERDICT_SHORT_LABELS,
    "verdict_colours": VERDICT_COLOURS,
    "filter_labels": FILTER_LABELS,
}


def waited(since: Any) -> str:
    """How long ago ``since`` was, in words ("3 days")."""
    return str(format_timedelta(utcnow() - since, granularity="minute", threshold=1.0))


class DeliveriesView(SecureBaseView):
    """The checking queue and one delivery's page with the hub's two decisions."""

    @expose("/")
    def index(self) -> ResponseReturnValue:
        """The open deliveries (waiting for the hub first, then oldest first); ``?status=`` filters."""
        raw = request.args.get("status", "")
        status = raw if raw in delivery_review.queue_filters() else delivery_review.QUEUE_OPEN
        page = max(request.args.get("page", 1, type=int) or 1, 1)
        pagination, rows = delivery_review.checking_queue(status, page)
        args = {"status": status} if status != delivery_review.QUEUE_OPEN else {}
        return self.render("admin/deliveries/list.html", pagination=pagination, rows=rows, status=status,
                           filters=delivery_review.queue_filters(), pager_args=args, waited=waited,
                           waiting=delivery_review.waiting_count(), **LABELS)

    def _page(self, delivery_id: int) -> delivery_review.CheckingPage:
        try:
            return delivery_review.checking_page(delivery_id, actor=current_actor())
        except NotFound:
            abort(404)

    def render_delivery(self, delivery_id: int, *, forward_form: ForwardForm | None = None,
                        return_form: ReturnForm | None = None, status: int = 200) -> ResponseReturnValue:
        page = self._page(delivery_id)
        project = page.project
        workspace = "projects.channel" in current_app.view_functions
        html = self.render(
            "admin/deliveries/details.html", page=page, delivery=page.delivery, project=project,
            contract=project.contract,
            forward_form=forward_form or ForwardForm(formdata=None, prefix="forward"),
            return_form=return_form or ReturnForm(formdata=None, prefix="return"),
            waited=waited, history=page.history,
            project_url=url_for("admin_projects.details_view", project_id=project.id)
            if "admin_projects.details_view" in current_app.view_functions else None,
            workspace_url=url_for("projects.channel", project_id=project.id) if workspace else None,
            qc_page_url=url_for("projects.qc_review", delivery_id=page.delivery.id)
            if "projects.qc_review" in current_app.view_functions else None,
            **LABELS,
        )
        return html, status

    @expose("/<int:delivery_id>")
    def details_view(self, delivery_id: int) -> ResponseReturnValue:
        """One delivery: every version of its project side by side, and the hub's decision forms."""
        return self.render_delivery(delivery_id)

    def _decide(self, delivery_id: int, call: Callable[[], object], *, forms: dict[str, Any],
                success: str) -> ResponseReturnValue:
        """Call one service and commit; on refusal show the page again with what was typed."""
        try:
            call()
            uow.commit()
        except DomainError as exc:
            uow.rollback()
            flash(str(exc), "danger")
            return self.render_delivery(delivery_id, status=exc.status_code, **forms)
        flash(success, "success")
        return redirect(self.get_url(".details_view", delivery_id=delivery_id))

    @expose("/<int:delivery_id>/forward", methods=("POST",))
    def forward(self, delivery_id: int) -> ResponseReturnValue:
        """Verify the delivery and forward it to the company, with an optional note for them."""
        self._page(delivery_id)
        form = ForwardForm(prefix="forward")
        if not form.validate():
            form_error_flash()
            return self.render_delivery(delivery_id, forward_form=form, status=400)
        comment = form.comment.data or ""
        return self._decide(
            delivery_id,
            lambda: delivery_review.verify_and_forward(delivery_id, actor=current_actor(), comment=comment),
            forms={"forward_form": form},
            success=_("The delivery is forwarded: the company is told and can approve it or ask for a revision."),
        )

    @expose("/<int:delivery_id>/return", methods=("POST",))
    def return_to_expert(self, delivery_id: int) -> ResponseReturnValue:
        """Return the delivery to the expert with what to change; the company is not told."""
        self._page(delivery_id)
        form = ReturnForm(prefix="return")
        if not form.validate():
            form_error_flash()
            return self.render_delivery(delivery_id, return_form=form, status=400)
        comment = form.comment.data or ""
        return self._decide(
            delivery_id,
            lambda: delivery_review.return_to_expert(delivery_id, actor=current_actor(), comment=comment),
            forms={"return_form": form},
            success=_("The delivery is returned to the expert with your comment; they submit a new one."),
        )
