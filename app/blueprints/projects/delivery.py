"""The delivery tab (WORKFLOW.md §9): the expert delivers, the company approves or asks for a revision.

Everything is decided in app/services/deliveries.py: who may submit or answer,
what each side reads (the company nothing before the hub forwarded a
delivery), the checks of the files. The forms work without JavaScript; a
refused form is shown again with what was typed (422). Files and the
acceptance certificate are served like project files: as attachments, with
``nosniff``, a sandboxing CSP and ``no-store``. Someone who is not on the
project gets 404.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from app.blueprints import documents as documents_flow
from app.blueprints.projects import actor, bp, load, members_only, perform, tabs_context
from app.blueprints.projects.files import FORM_OVERHEAD, SAFE_TYPES
from app.exceptions import DomainError, PermissionDenied
from app.models import ProjectRole
from app.security import send_inert
from app.services import deliveries, project_files, projects, uow
from app.services.projects import Side
from app.services.uploads import UploadRejected
from forms.deliveries import (
    COMPANY_STATUS_LABELS,
    STATUS_COLOURS,
    STATUS_LABELS,
    VERDICT_LABELS,
    ApproveDeliveryForm,
    RevisionForm,
    SubmitDeliveryForm,
)

SUBMIT_ENDPOINT = "projects.submit_delivery"
ADMIN_DETAILS_ENDPOINT = "admin_deliveries.details_view"
QC_REVIEW_ENDPOINT = "projects.qc_review"


def _allow_large_deliveries() -> None:
    """A delivery may carry several large files: raise the request limit for the submission route."""
    if request.endpoint == SUBMIT_ENDPOINT:
        request.max_content_length = deliveries.max_total_bytes() + FORM_OVERHEAD


@bp.record_once
def _install_upload_limit(state: Any) -> None:
    """Run before every other hook: CSRF protection reads the form (and so the body) in its own hook."""
    state.app.before_request_funcs.setdefault(None, []).insert(0, _allow_large_deliveries)


def _render(project_id: int, *, submit_form: SubmitDeliveryForm | None = None,
            approve_form: ApproveDeliveryForm | None = None, revision_form: RevisionForm | None = None,
            refusal: str = "", status: int = 200) -> ResponseReturnValue:
    page = deliveries.delivery_page(project_id, actor=actor())
    form = submit_form or SubmitDeliveryForm(formdata=None)
    form.set_rows(len(page.deliverables))
    labels = COMPANY_STATUS_LABELS if page.side is Side.COMPANY else STATUS_LABELS
    return render_template(
        "projects/delivery.html", **tabs_context(page.project, page.side, "delivery"), page=page,
        submit_form=form, approve_form=approve_form or ApproveDeliveryForm(formdata=None),
        revision_form=revision_form or RevisionForm(formdata=None), refusal=refusal,
        status_labels=labels, status_colours=STATUS_COLOURS, verdict_labels=VERDICT_LABELS,
        upload_hint=deliveries.upload_hint(), accept=project_files.accept_attribute(),
        admin_endpoint=ADMIN_DETAILS_ENDPOINT if ADMIN_DETAILS_ENDPOINT in current_app.view_functions else "",
        qc_endpoint=QC_REVIEW_ENDPOINT if QC_REVIEW_ENDPOINT in current_app.view_functions else "",
    ), status


def _back(project_id: int, delivery_id: int | None = None) -> ResponseReturnValue:
    anchor = f"#delivery-{delivery_id}" if delivery_id is not None else ""
    return redirect(url_for("projects.delivery", project_id=project_id) + anchor)


@bp.get("/<int:project_id>/delivery")
@members_only
def delivery(project_id: int) -> ResponseReturnValue:
    """The delivery tab: the expert's form and history, the company's review, the hub's summary."""
    load(project_id)
    return _render(project_id)


@bp.post("/<int:project_id>/delivery")
@members_only
def submit_delivery(project_id: int) -> ResponseReturnValue:
    """The expert submits a new delivery (files, notes, checklist)."""
    project, _side = load(project_id)
    if projects.role_of(actor(), project) is not ProjectRole.EXPERT:
        raise PermissionDenied(_("Only the project's expert submits deliveries."))
    names = deliveries.deliverables_of(project)
    form = SubmitDeliveryForm()
    form.set_rows(len(names))
    if not form.validate():
        return _render(project.id, submit_form=form, status=422)
    outcome = perform(lambda: deliveries.submit_delivery(
        project.id, actor=actor(), notes=form.notes.data or "",
        checklist=form.checklist_data(names),
        uploads=[documents_flow.received(f) for f in form.chosen_files()],
    ))
    if isinstance(outcome, DomainError):
        if isinstance(outcome, UploadRejected):
            form.files.errors = [str(outcome)]
        return _render(project.id, submit_form=form, refusal=str(outcome), status=outcome.status_code)
    created = outcome
    flash(_("Delivery %(n)d is submitted. Plasticonnect Hub checks it before the company sees it; you are told "
            "what happens next.", n=created.number), "success")
    return _back(project.id, created.id)


def _decision_page(delivery_id: int) -> tuple[int, Side]:
    """The project of a delivery the actor may see, and the actor's side (404 otherwise)."""
    _delivery, project, side = deliveries.load_delivery(delivery_id, actor=actor())
    return project.id, side


@bp.post("/deliveries/<int:delivery_id>/approve")
@members_only
def approve_delivery(delivery_id: int) -> ResponseReturnValue:
    """The company accepts the forwarded delivery as final (the held funds are then released)."""
    project_id, side = _decision_page(delivery_id)
    if side is not Side.COMPANY:
        raise PermissionDenied(_("Only the company approves a delivery or asks for a revision."))
    form = ApproveDeliveryForm()
    if not form.validate():
        return _render(project_id, approve_form=form, status=422)
    outcome = perform(lambda: deliveries.approve_delivery(delivery_id, actor=actor()))
    if isinstance(outcome, DomainError):
        return _render(project_id, approve_form=form, refusal=str(outcome), status=outcome.status_code)
    approved = outcome
    flash(_("You approved delivery %(n)d. The acceptance certificate is ready below, and the held funds are being "
            "released to the expert.", n=approved.number), "success")
    return _back(project_id, approved.id)


@bp.post("/deliveries/<int:delivery_id>/revision")
@members_only
def request_revision(delivery_id: int) -> ResponseReturnValue:
    """The company asks the expert for a revision of the forwarded delivery."""
    project_id, side = _decision_page(delivery_id)
    if side is not Side.COMPANY:
        raise PermissionDenied(_("Only the company approves a delivery or asks for a revision."))
    form = RevisionForm()
    if not form.validate():
        return _render(project_id, revision_form=form, status=422)
    outcome = perform(lambda: deliveries.request_revision(delivery_id, actor=actor(), comment=form.comment.data or ""))
    if isinstance(outcome, DomainError):
        return _render(project_id, revision_form=form, refusal=str(outcome), status=outcome.status_code)
    revised = outcome
    flash(_("You asked for a revision of delivery %(n)d. The expert is told and delivers a new version.",
            n=revised.number), "success")
    return _back(project_id, revised.id)


# Files ---------------------------------------------------------------------------------------


@bp.get("/deliveries/files/<int:file_id>")
@members_only
def delivery_file(file_id: int) -> ResponseReturnValue:
    """Download a file of a delivery (every download is logged)."""
    try:
        name, content_type, data = deliveries.open_delivery_file(file_id, actor=actor())
        uow.commit()
    except DomainError:
        uow.rollback()
        raise
    return send_inert(data, name, content_type, safe_types=SAFE_TYPES)


@bp.get("/deliveries/<int:delivery_id>/certificate.pdf")
@members_only
def acceptance_certificate(delivery_id: int) -> ResponseReturnValue:
    """Download the sealed acceptance certificate of an approved delivery (logged)."""
    try:
        name, data = deliveries.open_certificate(delivery_id, actor=actor())
        uow.commit()
    except DomainError:
        uow.rollback()
        raise
    return send_inert(data, name, "application/pdf", safe_types=SAFE_TYPES)
