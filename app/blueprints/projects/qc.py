"""The quality-control expert's NDA (WORKFLOW.md §7–9): read the project without its price, sign, download.

``/projects/qc/<assignment_id>`` is the link of the ``qc.assigned``
notification. Only the assignment's expert signs; hub staff read the page
without the form. Anyone else gets 404. Signing calls
:func:`app.services.qc.sign_qc_nda`, then the expert is a member of the project
and lands on its channel.
"""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from app.blueprints.projects import actor, bp, members_only
from app.exceptions import DomainError, NotFound
from app.security import send_inert
from app.services import qc, uow
from forms.qc import QC_STATUS_COLOURS, QC_STATUS_LABELS, QcNdaSignForm


def _page(assignment_id: int) -> qc.QcNdaPage:
    try:
        return qc.qc_nda_page(assignment_id, actor=actor())
    except NotFound:
        abort(404)


def _render(page: qc.QcNdaPage, *, form: QcNdaSignForm | None = None, status: int = 200) -> ResponseReturnValue:
    if form is None and page.can_sign:
        form = QcNdaSignForm(formdata=None)
        form.document_sha256.data = page.assignment.nda_sha256
    channel_url = None
    if page.is_member and "projects.channel" in current_app.view_functions:
        channel_url = url_for("projects.channel", project_id=page.project_id)
    return render_template("projects/qc_nda.html", page=page, assignment=page.assignment, form=form,
                           channel_url=channel_url, qc_status_labels=QC_STATUS_LABELS,
                           qc_status_colours=QC_STATUS_COLOURS), status


@bp.get("/qc/<int:assignment_id>")
@members_only
def qc_nda(assignment_id: int) -> ResponseReturnValue:
    """The QC assignment: the project (no price), the NDA to read and the signing form."""
    return _render(_page(assignment_id))


@bp.post("/qc/<int:assignment_id>/sign")
@members_only
def qc_sign(assignment_id: int) -> ResponseReturnValue:
    """Sign the QC NDA (typed name, consent, the SHA-256 read) and join the project."""
    page = _page(assignment_id)
    form = QcNdaSignForm()
    if not page.can_sign:
        flash(_("There is nothing to sign here."), "warning")
        return _render(page, status=409)
    if not form.validate():
        return _render(page, form=form, status=400)
    try:
        assignment = qc.sign_qc_nda(
            assignment_id, actor=actor(), typed_name=form.typed_name.data or "",
            document_sha256=form.document_sha256.data or "", ip=request.remote_addr,
            user_agent=request.headers.get("User-Agent", ""),
        )
        project_id = assignment.project_id
        uow.commit()
    except DomainError as exc:
        uow.rollback()
        flash(str(exc), "danger")
        return _render(_page(assignment_id), form=form, status=exc.status_code)
    flash(_("Thank you: the NDA is signed and sealed. You are now on the project as its quality-control expert."),
          "success")
    if "projects.channel" in current_app.view_functions:
        return redirect(url_for("projects.channel", project_id=project_id))
    return redirect(url_for("projects.qc_nda", assignment_id=assignment_id))


@bp.get("/qc/<int:assignment_id>/nda.pdf")
@members_only
def qc_download(assignment_id: int) -> ResponseReturnValue:
    """The NDA as issued, or ``?sealed=1`` its sealed copy; ``?inline=1`` for the page's preview (logged)."""
    sealed = request.args.get("sealed") == "1"
    inline = request.args.get("inline") == "1" and not sealed
    try:
        name, data = qc.open_qc_nda(assignment_id, actor=actor(), sealed=sealed, inline=inline)
        uow.commit()
    except NotFound:
        uow.rollback()
        abort(404)
    return send_inert(data, name, "application/pdf", safe_types={"application/pdf"}, inline=inline)
