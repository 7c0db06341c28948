"""The disputes tab (WORKFLOW.md §10): the project's disputes and refunds, and "Open a dispute".

The company's users and the project's expert open a dispute here, on the
project or one of its deliveries; the page then shows it as open (release
frozen), who opened it and, once the hub decided, the decision with its reason.
The company also reads the project's refunds. Hub staff read the same page with
a link to the case in the back office (where disputes are decided); the QC
expert reads it without the form. Everything is decided in
app/services/disputes.py.
"""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from wtforms import SelectChoice

from app.blueprints.projects import actor, bp, load, members_only, perform, tabs_context
from app.exceptions import DomainError
from app.services import disputes as dispute_service
from forms.disputes import DECISION_NAMES, OpenDisputeForm


def _form(page: dispute_service.DisputesPage, *, bound: OpenDisputeForm | None = None) -> OpenDisputeForm:
    form = bound or OpenDisputeForm(formdata=None)
    form.delivery_id.choices = [SelectChoice(0, _("The project as a whole"))] + [
        SelectChoice(d.id, _("Delivery %(number)s", number=d.number)) for d in page.deliveries
    ]
    if bound is None:
        form.delivery_id.data = page.deliveries[0].id if page.deliveries else 0
    return form


def _render(project_id: int, *, form: OpenDisputeForm | None = None, status: int = 200) -> ResponseReturnValue:
    page = dispute_service.disputes_page(project_id, actor=actor())
    admin_url = None
    if page.side.value == "hub" and "admin_disputes.index" in current_app.view_functions:
        current = page.open
        admin_url = (url_for("admin_disputes.details_view", dispute_id=current.dispute.id) if current is not None
                     else url_for("admin_disputes.index"))
    return render_template(
        "projects/disputes.html", **tabs_context(page.project, page.side, "disputes"), page=page,
        form=_form(page, bound=form) if page.can_open else None, admin_url=admin_url,
        decision_names=DECISION_NAMES,
    ), status


@bp.get("/<int:project_id>/disputes")
@members_only
def disputes(project_id: int) -> ResponseReturnValue:
    """The project's disputes (newest first), its refunds, and the form to open one."""
    load(project_id)
    return _render(project_id)


@bp.post("/<int:project_id>/disputes")
@members_only
def open_dispute(project_id: int) -> ResponseReturnValue:
    """Open a dispute (the company's users or the expert): the release is frozen until the hub decides."""
    load(project_id)
    page = dispute_service.disputes_page(project_id, actor=actor())
    form = _form(page, bound=OpenDisputeForm())
    delivery_id: int | None = None
    if page.can_open:  # otherwise the service says why not (403 for the hub, 409 when closed or already open)
        if not form.validate():
            return _render(project_id, form=form, status=422)
        delivery_id = int(form.delivery_id.data or 0) or None
    outcome = perform(lambda: dispute_service.open_dispute(project_id, actor=actor(), reason=form.reason.data or "",
                                                           delivery_id=delivery_id))
    if isinstance(outcome, DomainError):
        flash(str(outcome), "danger")
        return _render(project_id, form=form, status=outcome.status_code)
    flash(_("The dispute is open. The release of the held funds is frozen until Plasticonnect Hub decides; both "
            "sides have been told."), "success")
    return redirect(url_for("projects.disputes", project_id=project_id))
