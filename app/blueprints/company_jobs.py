"""The company's job pages: list, start, the job form, files, submission, the hub's questions, cancel.

Each view parses a form, calls the services in app/services/jobs.py and either
redirects with a message or re-renders the page with its errors (400), keeping
what was typed. A job of another company is "not found" (404). The paths are
those the services put in notifications: /company/jobs/<id>.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import joinedload
from werkzeug.exceptions import RequestEntityTooLarge

from app import policies
from app.blueprints import documents as documents_flow
from app.exceptions import DomainError, NotFound, ValidationFailed
from app.extensions import db
from app.integrations import reference
from app.models import Company, Job, JobAttachment, JobStatus, Role, User, VerificationStatus
from app.security import company_owner_required, roles_required, send_inert
from app.services import jobs, uploads
from forms.experts import LEVEL_LABELS, PROFICIENCY_LABELS
from forms.jobs import (
    CATEGORY_LABELS,
    DELIVERY_LABELS,
    JOB_STATUS_LABELS,
    AnswerForm,
    AttachmentForm,
    ButtonForm,
    CancelForm,
    JobForm,
    NewJobForm,
    add_errors,
    offered_terms,
    same_rows,
    subtype_label,
)

bp = Blueprint("company_jobs", __name__)

PER_PAGE = 20
UPLOAD_ENDPOINT = "company_jobs.upload"
FORM_OVERHEAD = 1024 * 1024  # multipart boundaries and the CSRF token around the file
SAFE_TYPES = {t.content_type for t in uploads.FILE_TYPES.values()}
EDITABLE = (JobStatus.DRAFT, JobStatus.CLARIFICATION_REQUESTED)
CANCELLABLE = (JobStatus.DRAFT, JobStatus.PENDING_REVIEW, JobStatus.CLARIFICATION_REQUESTED, JobStatus.PUBLISHED)


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


def _job(job_id: int) -> Job:
    """The job if it belongs to the actor's company; anything else is 404."""
    job = db.session.get(Job, job_id)
    if job is None or not policies.belongs_to_company(_actor(), job.company):
        abort(404)
    return job


def _attachment(attachment_id: int) -> JobAttachment:
    attachment = db.session.get(JobAttachment, attachment_id)
    if attachment is None or attachment.removed_at is not None \
            or not policies.belongs_to_company(_actor(), attachment.job.company):
        abort(404)
    return attachment


def _labels() -> dict[str, Any]:
    return {
        "job_status_labels": JOB_STATUS_LABELS,
        "category_labels": CATEGORY_LABELS,
        "delivery_labels": DELIVERY_LABELS,
        "subtype_label": subtype_label,
        "level_labels": LEVEL_LABELS,
        "proficiency_labels": PROFICIENCY_LABELS,
        "language_label": _language_label,
    }


def _language_label(code: str) -> str:
    return reference.language_name(code, str(get_locale() or "en"))


def _why_no_posting(company: Company) -> str:
    """Why the company cannot post jobs (empty when it can)."""
    status = company.status
    if status is VerificationStatus.APPROVED:
        return ""
    if status is VerificationStatus.SUSPENDED:
        return _("Your company is suspended, so it cannot post jobs until the hub lifts the suspension.")
    if status is VerificationStatus.REJECTED:
        return _("Your company could not be verified, so it cannot post jobs. Contact the hub if you think this is "
                 "a mistake.")
    if status is VerificationStatus.DRAFT:
        return _("Jobs can be posted once your company is verified. Complete the company profile and submit it "
                 "for verification first.")
    return _("Jobs can be posted once the hub has verified your company. The verification is under way; we will "
             "let you know.")


def _ticket_url(job: Job) -> str | None:
    """The catalog-ticket page for this draft, if that page exists in this build."""
    if "tickets.new" not in current_app.view_functions:
        return None
    return url_for("tickets.new", job_id=job.id)


# Uploads larger than the app-wide limit -------------------------------------------------


def _allow_large_job_files() -> None:
    """Job files may be larger than the app-wide MAX_CONTENT_LENGTH: raise the limit for that one route."""
    if request.endpoint == UPLOAD_ENDPOINT:
        request.max_content_length = jobs.attachment_max_bytes() + FORM_OVERHEAD


@bp.record_once
def _install_upload_limit(state: Any) -> None:
    """Run before every other hook: CSRF protection reads the form (and so the body) in its own hook."""
    state.app.before_request_funcs.setdefault(None, []).insert(0, _allow_large_job_files)


@bp.errorhandler(RequestEntityTooLarge)
def too_large(exc: RequestEntityTooLarge) -> ResponseReturnValue:
    """A request over the upload limit: say the limit instead of a bare 413."""
    limit = uploads.human_size(jobs.attachment_max_bytes())
    message = _("The file is too large; the limit is %(limit)s per file. Nothing was saved.", limit=limit)
    job_id = (request.view_args or {}).get("job_id")
    job = db.session.get(Job, job_id) if request.endpoint == UPLOAD_ENDPOINT and isinstance(job_id, int) else None
    if job is not None and current_user.is_authenticated and policies.belongs_to_company(_actor(), job.company):
        form = AttachmentForm(formdata=None)
        form.file.errors = [message]
        return _render_detail(job, upload_form=form), 413
    return render_template("errors/error.html", code=413, title=_("Too large"), message=message), 413


# Pages ----------------------------------------------------------------------------------


@bp.get("/company/jobs")
@roles_required(Role.COMPANY)
def index() -> ResponseReturnValue:
    """The company's jobs, newest first, with their status."""
    actor, company = _actor(), _company()
    page = request.args.get("page", 1, type=int) or 1
    query = (
        sa.select(Job)
        .options(joinedload(Job.title_term))
        .where(Job.company_id == company.id)
        .order_by(Job.updated_at.desc(), Job.id.desc())
    )
    pagination = db.paginate(query, page=max(page, 1), per_page=PER_PAGE, error_out=False)
    return render_template(
        "company/jobs/index.html",
        company=company,
        pagination=pagination,
        jobs=pagination.items,
        can_post=policies.can_post_jobs(actor, company),
        why_not=_why_no_posting(company),
        **_labels(),
    )


@bp.route("/company/jobs/new", methods=["GET", "POST"])
@roles_required(Role.COMPANY)
def new() -> ResponseReturnValue:
    """Start a job as a draft (category first), then continue on the job form."""
    actor, company = _actor(), _company()
    if not policies.can_post_jobs(actor, company):
        flash(_why_no_posting(company) or _("Only users of a verified company can post jobs."), "warning")
        return redirect(url_for("company_jobs.index"))
    form = NewJobForm()
    if request.method == "POST":
        if not form.validate():
            return render_template("company/jobs/new.html", form=form, company=company), 400
        try:
            job = jobs.create_job(company.id, actor=actor, category=form.category.data)
        except jobs.FieldErrors as exc:
            form.category.errors = [*form.category.errors, *exc.errors.values()]
            return render_template("company/jobs/new.html", form=form, company=company), 400
        except DomainError as exc:
            flash(str(exc), "danger")
            return redirect(url_for("company_jobs.index"))
        flash(_("Your draft is started. Fill in what you know; you can save and come back at any time."), "success")
        return redirect(url_for("company_jobs.edit", job_id=job.id))
    return render_template("company/jobs/new.html", form=form, company=company)


def _render_detail(job: Job, *, upload_form: AttachmentForm | None = None, answer_form: AnswerForm | None = None,
                   ) -> str:
    actor = _actor()
    editable = job.status in EDITABLE and policies.can_edit_job(actor, job)
    attachments = job.active_attachments
    return render_template(
        "company/jobs/detail.html",
        job=job,
        company=job.company,
        view=jobs.job_public_view(job, actor),
        missing=jobs.missing_for_submit(job) if job.status in EDITABLE else [],
        refusal=jobs.edit_refusal(job),
        editable=editable,
        can_submit=job.status is JobStatus.DRAFT and policies.can_submit_job(actor, job),
        can_answer=job.status is JobStatus.CLARIFICATION_REQUESTED and policies.can_submit_job(actor, job),
        can_cancel=job.status in CANCELLABLE and policies.can_cancel_job(actor, job),
        qc_fee=jobs.qc_fee_minor(job),
        attachments=attachments,
        max_attachments=jobs.max_attachments(),
        upload_form=upload_form or AttachmentForm(formdata=None),
        answer_form=answer_form or AnswerForm(formdata=None),
        button_form=ButtonForm(formdata=None),
        cancel_form=CancelForm(formdata=None),
        upload_hint=_("%(types)s, up to %(limit)s per file, at most %(n)d files per job. The content is checked, "
                      "and hidden metadata is removed where the format allows.",
                      types=uploads.types_label(uploads.JOB_TYPES),
                      limit=uploads.human_size(jobs.attachment_max_bytes()), n=jobs.max_attachments()),
        accept=uploads.accept_attribute(uploads.JOB_TYPES),
        ticket_url=_ticket_url(job) if editable else None,
        **_labels(),
    )


@bp.get("/company/jobs/<int:job_id>")
@roles_required(Role.COMPANY)
def detail(job_id: int) -> ResponseReturnValue:
    """Where the job stands: status, what is missing, the hub's questions, files, and the next step."""
    return _render_detail(_job(job_id))


def _job_form_page(job: Job, form: JobForm, status: int = 200) -> ResponseReturnValue:
    return render_template(
        "company/jobs/edit.html",
        job=job,
        company=job.company,
        form=form,
        refusal=jobs.edit_refusal(job),
        qc_percent=int(current_app.config.get("QC_FEE_PERCENT", 15)),
        qc_fee=jobs.qc_fee_minor(job),
        ticket_url=_ticket_url(job),
        **_labels(),
    ), status


@bp.route("/company/jobs/<int:job_id>/edit", methods=["GET", "POST"])
@roles_required(Role.COMPANY)
def edit(job_id: int) -> ResponseReturnValue:
    """The whole job form; a draft may be saved incomplete."""
    actor, job = _actor(), _job(job_id)
    terms = offered_terms(job)
    if request.method == "GET":
        form = JobForm(formdata=None, data=JobForm.initial_data(job))
        form.set_choices(terms)
        return _job_form_page(job, form)
    refusal = jobs.edit_refusal(job)
    if refusal or not policies.can_edit_job(actor, job):
        flash(refusal or _("Only users of the job's verified company can change it."), "danger")
        return redirect(url_for("company_jobs.detail", job_id=job.id))
    form = JobForm()
    form.set_choices(terms)
    form.set_current(job)
    if not form.validate():
        return _job_form_page(job, form, 400)
    try:
        jobs.update_job(job.id, actor=actor, **form.service_fields())
        skills = form.skill_items()
        if not same_rows([(s.term_id, s.level.value) for s in job.skills], [(t, lv.value) for t, lv in skills]):
            jobs.set_job_skills(job.id, actor=actor, items=skills)
        languages = form.language_items()
        if not same_rows([(lang.code, lang.min_proficiency.value) for lang in job.languages],
                         [(c, p.value) for c, p in languages]):
            jobs.set_job_languages(job.id, actor=actor, items=languages)
    except jobs.FieldErrors as exc:
        for message in add_errors(form, exc.errors):
            flash(message, "danger")
        return _job_form_page(job, form, 400)
    except NotFound:
        raise
    except DomainError as exc:
        flash(str(exc), "danger")
        return _job_form_page(job, form, 400)
    missing = jobs.missing_for_submit(job)
    if missing:
        flash(_("Your draft is saved. Still to complete before you can submit: %(items)s.",
                items="; ".join(missing)), "success")
    else:
        flash(_("The job is saved and complete. Add files if you have any, then submit it for review."), "success")
    return redirect(url_for("company_jobs.detail", job_id=job.id))


@bp.post("/company/jobs/<int:job_id>/attachments")
@roles_required(Role.COMPANY)
def upload(job_id: int) -> ResponseReturnValue:
    """Add a supporting file (CAD, PDF, image, spreadsheet) to the job."""
    actor, job = _actor(), _job(job_id)
    form = AttachmentForm()
    if not form.validate():
        return _render_detail(job, upload_form=form), 400
    storage = form.file.data
    try:
        attachment = jobs.add_job_attachment(
            job.id, actor=actor, upload=documents_flow.received(storage)
        )
    except uploads.UploadRejected as exc:
        form.file.errors = [str(exc)]
        return _render_detail(job, upload_form=form), 400
    except jobs.FieldErrors as exc:
        form.file.errors = list(exc.errors.values())
        return _render_detail(job, upload_form=form), 400
    except NotFound:
        raise
    except DomainError as exc:
        flash(str(exc), "danger")
        return redirect(url_for("company_jobs.detail", job_id=job.id))
    flash(_("“%(name)s” is uploaded.", name=attachment.original_name), "success")
    return redirect(url_for("company_jobs.detail", job_id=job.id) + "#files")


@bp.post("/company/jobs/attachments/<int:attachment_id>/remove")
@roles_required(Role.COMPANY)
def remove_attachment(attachment_id: int) -> ResponseReturnValue:
    """Remove a file from the job while it can be changed (the hub keeps it on record)."""
    attachment = _attachment(attachment_id)
    form = ButtonForm()
    if not form.validate():
        abort(400)
    try:
        jobs.remove_job_attachment(attachment.id, actor=_actor())
    except NotFound:
        raise
    except DomainError as exc:
        flash(str(exc), "danger")
    else:
        flash(_("“%(name)s” is removed.", name=attachment.original_name), "success")
    return redirect(url_for("company_jobs.detail", job_id=attachment.job_id) + "#files")


@bp.get("/company/jobs/attachments/<int:attachment_id>")
@roles_required(Role.COMPANY)
def download(attachment_id: int) -> ResponseReturnValue:
    """Download one of the job's files as an attachment (the download is logged)."""
    _attachment(attachment_id)
    attachment, data = jobs.open_job_attachment(attachment_id, actor=_actor())
    return send_inert(data, attachment.original_name, attachment.content_type, safe_types=SAFE_TYPES)


@bp.post("/company/jobs/<int:job_id>/submit")
@roles_required(Role.COMPANY)
def submit(job_id: int) -> ResponseReturnValue:
    """Send the complete draft to the hub's review queue."""
    job = _job(job_id)
    if not ButtonForm().validate():
        abort(400)
    try:
        jobs.submit_job(job.id, actor=_actor())
    except NotFound:
        raise
    except DomainError as exc:
        flash(str(exc), "danger")
    else:
        flash(_("Thank you. The job is submitted; the hub reviews it and lets you know, usually within two working "
                "days."), "success")
    return redirect(url_for("company_jobs.detail", job_id=job.id))


@bp.post("/company/jobs/<int:job_id>/answer")
@roles_required(Role.COMPANY)
def answer(job_id: int) -> ResponseReturnValue:
    """Answer the hub's question; the job goes back to review."""
    job = _job(job_id)
    form = AnswerForm()
    if job.status is not JobStatus.CLARIFICATION_REQUESTED:
        flash(_("There is no open question from the hub on this job."), "danger")
        return redirect(url_for("company_jobs.detail", job_id=job.id))
    if not form.validate():
        return _render_detail(job, answer_form=form), 400
    try:
        jobs.answer_job_clarification(job.id, actor=_actor(), answer=form.answer.data or "")
    except NotFound:
        raise
    except ValidationFailed as exc:
        form.answer.errors = [*form.answer.errors, str(exc)]
        return _render_detail(job, answer_form=form), 400
    except DomainError as exc:
        flash(str(exc), "danger")
        return redirect(url_for("company_jobs.detail", job_id=job.id))
    flash(_("Your answer is sent; the job is back in the hub's review."), "success")
    return redirect(url_for("company_jobs.detail", job_id=job.id))


@bp.post("/company/jobs/<int:job_id>/cancel")
@company_owner_required
def cancel(job_id: int) -> ResponseReturnValue:
    """Withdraw the job (owners of the company)."""
    job = _job(job_id)
    form = CancelForm()
    if not form.validate():
        flash(" ".join(str(e) for errors in form.errors.values() for e in errors), "danger")
        return redirect(url_for("company_jobs.detail", job_id=job.id))
    try:
        jobs.cancel_job(job.id, actor=_actor(), reason=form.reason.data or "")
    except NotFound:
        raise
    except DomainError as exc:
        flash(str(exc), "danger")
    else:
        flash(_("The job is cancelled."), "success")
    return redirect(url_for("company_jobs.detail", job_id=job.id))
