"""The QC expert's review of a delivery (WORKFLOW.md §9): read the delivery, score it, give a verdict.

``/projects/deliveries/<delivery_id>/qc`` is the link of the ``delivery.qc_review``
notification. The project's active QC expert reads the delivery's files,
checklist and notes and, while it waits for quality control, fills in the
rubric (three scores from 1 to 5, comments, verdict); the POST calls
:func:`app.services.delivery_review.qc_review`. Hub staff read the page without
the form. Anyone else gets 404.
"""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from app.blueprints.projects import actor, bp, members_only, tabs_context
from app.exceptions import DomainError, NotFound
from app.models import QcVerdict
from app.services import delivery_review, uow
from app.services.projects import Side
from forms.delivery_review import (
    DELIVERY_STATUS_COLOURS,
    DELIVERY_STATUS_LABELS,
    RUBRIC,
    VERDICT_COLOURS,
    VERDICT_SHORT_LABELS,
    QcReviewForm,
)

FILE_ENDPOINT = "projects.delivery_file"  # the delivery's files are downloaded through the delivery tab's route

LABELS = {
    "delivery_status_labels": DELIVERY_STATUS_LABELS,
    "delivery_status_colours": DELIVERY_STATUS_COLOURS,
    "verdict_labels": VERDICT_SHORT_LABELS,
    "verdict_colours": VERDICT_COLOURS,
    "rubric": RUBRIC,
}


def _page(delivery_id: int) -> delivery_review.QcReviewPage:
    try:
        return delivery_review.qc_review_page(delivery_id, actor=actor())
    except NotFound:
        abort(404)


def _render(page: delivery_review.QcReviewPage, *, form: QcReviewForm | None = None,
            status: int = 200) -> ResponseReturnValue:
    if form is None and page.can_review:
        form = QcReviewForm(formdata=None)
    return render_template(
        "projects/qc_review.html", **tabs_context(page.project, page.side, "delivery"), page=page,
        delivery=page.delivery, form=form if page.can_review else None,
        can_download=FILE_ENDPOINT in current_app.view_functions, file_endpoint=FILE_ENDPOINT, **LABELS,
    ), status


@bp.get("/deliveries/<int:delivery_id>/qc")
@members_only
def qc_review(delivery_id: int) -> ResponseReturnValue:
    """The delivery as the QC expert reviews it: files, checklist, notes, the reviews so far, the rubric form."""
    return _render(_page(delivery_id))


@bp.post("/deliveries/<int:delivery_id>/qc")
@members_only
def qc_submit(delivery_id: int) -> ResponseReturnValue:
    """Send the QC review (scores, comments, verdict): to the hub's check, or back to the expert."""
    page = _page(delivery_id)
    if not page.can_review:
        flash(page.refusal, "warning")
        return _render(page, status=403 if page.side is Side.HUB else 409)
    form = QcReviewForm()
    if not form.validate():
        return _render(page, form=form, status=422)
    verdict = QcVerdict(form.verdict.data)
    try:
        delivery_review.qc_review(
            delivery_id, actor=actor(), completeness=int(form.completeness.data or 0),
            correctness=int(form.correctness.data or 0), clarity=int(form.clarity.data or 0),
            comments=form.comments.data or "", verdict=verdict,
        )
        uow.commit()
    except DomainError as exc:
        uow.rollback()
        flash(str(exc), "danger")
        return _render(_page(delivery_id), form=form, status=exc.status_code)
    if verdict is QcVerdict.APPROVE:
        flash(_("Thank you: your review is sent. The hub checks the delivery next, then forwards it to the "
                "company."), "success")
    else:
        flash(_("Thank you: your review is sent. The expert reads your comments and submits a new delivery."),
              "success")
    return redirect(url_for("projects.qc_review", delivery_id=delivery_id))
