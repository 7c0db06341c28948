"""The expert job board: published jobs an approved expert may see, a job's page, its
confidentiality terms and its files.

Experts see published public jobs and the private jobs they are invited to
(``app.services.jobs.visible_jobs_query``); a job they may not see "does not
exist" (404). The company's name shows only when it chose to show it
(``job_public_view``). Files open only after the expert accepted the job's
confidentiality terms, and every download is logged by the service.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import format_date
from flask_babel import gettext as _
from flask_login import current_user

from app.blueprints.offers import board_offer_context
from app.exceptions import DomainError, NotFound
from app.extensions import db
from app.models import CatalogKind, CatalogTerm, ExpertProfile, Job, JobAttachment, Role, User, VerificationStatus
from app.models.jobs import PAYMENT_UPFRONT_ESCROW, JobVisibility
from app.security import roles_required, send_inert
from app.services import jobs, uploads
from forms.board import (
    ATTACHMENT_KIND_LABELS,
    CATEGORY_LABELS,
    DELIVERY_LABELS,
    SUBTYPE_LABELS,
    AcceptTermsForm,
    BoardFilterForm,
)
from forms.experts import LEVEL_LABELS, PROFICIENCY_LABELS

bp = Blueprint("board", __name__)

PER_PAGE = 20
FILTER_KINDS = (CatalogKind.PROCESS, CatalogKind.MATERIAL, CatalogKind.SKILL)
SAFE_TYPES = {t.content_type for t in uploads.FILE_TYPES.values()}
LABELS: dict[str, Any] = {
    "category_labels": CATEGORY_LABELS,
    "subtype_labels": SUBTYPE_LABELS,
    "delivery_labels": DELIVERY_LABELS,
    "level_labels": LEVEL_LABELS,
    "proficiency_labels": PROFICIENCY_LABELS,
    "attachment_kind_labels": ATTACHMENT_KIND_LABELS,
}


@bp.app_template_filter("board_day")
def board_day(value: date | None) -> str:
    """A date in the reader's language (``12 Mar 2030``)."""
    return format_date(value, "medium") if value is not None else ""


def _actor() -> User:
    user = current_user._get_current_object()
    if not isinstance(user, User):
        abort(401)
    return user


def _approved_expert(actor: User) -> ExpertProfile | None:
    expert = actor.expert_profile
    if expert is None or expert.status is not VerificationStatus.APPROVED:
        return None
    return expert


def _filter_terms() -> list[CatalogTerm]:
    """Processes, materials and skills offered as filters (not retired), in one query."""
    return list(db.session.scalars(
        sa.select(CatalogTerm)
        .where(CatalogTerm.kind.in_(FILTER_KINDS), CatalogTerm.retired_at.is_(None))
        .order_by(CatalogTerm.name, CatalogTerm.id)
    ))


def _visible_job(job_id: int, actor: User) -> Job:
    """The job if ``actor`` is an expert who may see it; otherwise it "does not exist"."""
    job = db.session.get(Job, job_id)
    if job is None or not jobs.expert_can_see_job(actor.expert_profile, job):
        abort(404)
    return job


@bp.get("/jobs")
@roles_required(Role.EXPERT)
def index() -> ResponseReturnValue:
    """Published jobs the expert may see, filtered and paginated (20 per page)."""
    actor = _actor()
    expert = _approved_expert(actor)
    if expert is None:
        return render_template("expert/board/closed.html", expert=actor.expert_profile)
    form = BoardFilterForm(request.args)
    form.set_choices(_filter_terms())
    valid = form.validate() if any(name in request.args for name in form.data) else True
    page = request.args.get("page", 1, type=int) or 1
    pagination = db.paginate(
        jobs.visible_jobs_query(expert, form.filters()),
        page=max(page, 1), per_page=PER_PAGE, error_out=False, count=True,
    )
    cards = [(jobs.job_public_view(job, actor), job.visibility is JobVisibility.PRIVATE) for job in pagination.items]
    filter_args = form.active_args()
    return render_template(
        "expert/board/index.html",
        form=form,
        cards=cards,
        pagination=pagination,
        filter_args=filter_args,
        filtered=bool(filter_args),
        **LABELS,
    ), (200 if valid else 400)


def _render_detail(job: Job, actor: User, form: AcceptTermsForm, status: int = 200) -> ResponseReturnValue:
    return render_template(
        "expert/board/detail.html",
        job=job,
        view=jobs.job_public_view(job, actor),
        invited=job.visibility is JobVisibility.PRIVATE,
        accepted=jobs.has_accepted_confidentiality(job, actor),
        attachments=job.active_attachments,
        qc_fee=jobs.qc_fee_minor(job) if job.qc_requested else None,
        upfront_escrow=job.payment_terms == PAYMENT_UPFRONT_ESCROW,
        terms_version=jobs.CONFIDENTIALITY_TERMS_VERSION,
        form=form,
        **LABELS,
        **board_offer_context(job, actor),
    ), status


@bp.get("/jobs/<int:job_id>")
@roles_required(Role.EXPERT)
def detail(job_id: int) -> ResponseReturnValue:
    """The whole job as an expert may see it, its confidentiality terms and its files."""
    actor = _actor()
    job = _visible_job(job_id, actor)
    return _render_detail(job, actor, AcceptTermsForm(formdata=None))


@bp.post("/jobs/<int:job_id>/accept-terms")
@roles_required(Role.EXPERT)
def accept_terms(job_id: int) -> ResponseReturnValue:
    """Record the expert's acceptance of the job's confidentiality terms; then the files open."""
    actor = _actor()
    job = _visible_job(job_id, actor)
    form = AcceptTermsForm()
    if not form.validate():
        return _render_detail(job, actor, form, 400)
    try:
        jobs.accept_job_confidentiality(job.id, actor=actor)
    except NotFound:
        raise
    except DomainError as exc:
        flash(str(exc), "danger")
        return redirect(url_for("board.detail", job_id=job.id))
    flash(_("You accepted the confidentiality terms of this job. Its files are now available to you."), "success")
    return redirect(url_for("board.detail", job_id=job.id) + "#files")


def _send(attachment: JobAttachment, data: bytes) -> Response:
    return send_inert(data, attachment.original_name, attachment.content_type, safe_types=SAFE_TYPES)


@bp.get("/jobs/attachments/<int:attachment_id>")
@roles_required(Role.EXPERT)
def download(attachment_id: int) -> ResponseReturnValue:
    """Download a job's file as an attachment: only after accepting the job's terms (logged)."""
    attachment, data = jobs.open_job_attachment(attachment_id, actor=_actor())
    return _send(attachment, data)
