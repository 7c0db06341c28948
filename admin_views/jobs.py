"""Job review (WORKFLOW.md §2–3): the queue, the whole job, and the hub's decisions.

The list shows the jobs waiting for the hub first (pending review or waiting
for the company's answer, oldest submission first), then every other job.
The details page shows the job, its company, its files (PDF and images
previewed inline through an admin-only route), the clarification thread, what
changed since the last question, the history and one small POST form per
decision the job workflow allows. Each decision calls one service in
``app.services.jobs``; nothing here writes a status.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import sqlalchemy as sa
from flask import Response, abort, flash, redirect, request, send_file
from flask.typing import ResponseReturnValue
from flask_admin import expose
from flask_admin.helpers import get_redirect_target
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from flask_wtf import FlaskForm
from markupsafe import Markup
from sqlalchemy.orm import joinedload
from wtforms import SelectChoice

from admin_views.base import (
    ReadOnlyModelView,
    SecureModelView,
    current_actor,
    form_error_flash,
)
from admin_views.labels import enum_filters, label, label_formatter
from app.exceptions import DomainError, NotFound
from app.extensions import db
from app.i18n import money
from app.models import (
    AuditEvent,
    ExpertProfile,
    InvitationKind,
    Job,
    JobAttachment,
    JobCategory,
    JobInvitation,
    JobStatus,
    User,
    VerificationStatus,
)
from app.security import allow_same_origin_framing
from app.services import jobs, uow, uploads
from app.workflows.jobs import JOB_WORKFLOW
from forms.admin import (
    InviteExpertForm,
    JobEndForm,
    JobQuestionForm,
    JobRejectForm,
    PublishJobForm,
)
from forms.experts import LEVEL_LABELS, PROFICIENCY_LABELS

J = JobStatus
# The hub acts on these (or waits for the company's answer); they come first in the list.
WAITING = (J.PENDING_REVIEW, J.CLARIFICATION_REQUESTED)

JOB_STATUS_LABELS: dict[str, LazyString] = {
    J.DRAFT.value: _l("Draft"),
    J.PENDING_REVIEW.value: _l("Pending review"),
    J.CLARIFICATION_REQUESTED.value: _l("Clarification requested"),
    J.PUBLISHED.value: _l("Published"),
    J.AWARDED.value: _l("Awarded"),
    J.CLOSED.value: _l("Closed"),
    J.REJECTED.value: _l("Rejected"),
    J.CANCELLED.value: _l("Cancelled"),
}
JOB_STATUS_COLOURS = {
    J.DRAFT.value: "secondary",
    J.PENDING_REVIEW.value: "warning",
    J.CLARIFICATION_REQUESTED.value: "info",
    J.PUBLISHED.value: "success",
    J.AWARDED.value: "primary",
    J.CLOSED.value: "dark",
    J.REJECTED.value: "danger",
    J.CANCELLED.value: "light",
}
CATEGORY_LABELS: dict[str, LazyString] = {
    JobCategory.TRAINING.value: _l("Training"),
    JobCategory.PROBLEM_SOLVING.value: _l("Problem Solving"),
}
VISIBILITY_LABELS: dict[str, LazyString] = {
    "public": _l("Public"),
    "private": _l("Private (invited experts only)"),
}
DELIVERY_LABELS: dict[str, LazyString] = {"on_site": _l("On site"), "remote": _l("Remote")}
ATTACHMENT_KIND_LABELS: dict[str, LazyString] = {
    "cad": _l("CAD"),
    "pdf": _l("PDF"),
    "image": _l("Image"),
    "spreadsheet": _l("Spreadsheet"),
}
# Audit actions that change what the hub reviews (shown as "changed since the last question").
CHANGE_ACTIONS = frozenset(
    {"job.updated", "job.skills_changed", "job.languages_changed", "job_attachment.uploaded", "job_attachment.removed"}
)

# The same headers as files.download / files.preview: a hostile file cannot run script in our origin.
SAFE_TYPES = {t.content_type for t in uploads.FILE_TYPES.values()}
DOWNLOAD_CSP = "sandbox; default-src 'none'; frame-ancestors 'none'"
PREVIEW_CSP = (
    "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; "
    "object-src 'self'; plugin-types application/pdf; frame-ancestors 'self'"
)


def job_badge(value: JobStatus | str | None) -> Markup:
    """A coloured badge with the translated job status."""
    if value is None:
        return Markup("")
    raw = value.value if isinstance(value, JobStatus) else str(value)
    return Markup('<span class="badge badge-{}" data-testid="status">{}</span>').format(
        JOB_STATUS_COLOURS.get(raw, "secondary"), label(JOB_STATUS_LABELS, raw)
    )


def _status_formatter(view: Any, context: Any, model: Job, name: str) -> Markup:
    return job_badge(model.status)


def _title_formatter(view: Any, context: Any, model: Job, name: str) -> Markup:
    return Markup('<a href="{}" data-testid="open-job">{}</a>').format(
        view.get_url(".details_view", id=model.id), str(model)
    )


def _budget_formatter(view: Any, context: Any, model: Job, name: str) -> str:
    return money(model.budget_minor, model.currency) if model.budget_minor is not None else ""


def _job_link_formatter(view: Any, context: Any, model: JobInvitation, name: str) -> Markup:
    return Markup('<a href="{}">{}</a>').format(view.get_url("jobs.details_view", id=model.job_id), str(model.job))


def _expert_formatter(view: Any, context: Any, model: JobInvitation, name: str) -> Markup:
    expert = model.expert
    return Markup('<a href="{}">{}</a> <small class="text-muted">{}</small>').format(
        view.get_url("expert_verification.details_view", id=expert.id), expert.pseudonym, expert.user.full_name
    )


@dataclass(frozen=True)
class JobDecision:
    """A button on the job page: the transition it asks for, its form and the service it calls."""

    name: str
    label: LazyString
    target: JobStatus | None  # None: no state change (inviting another expert)
    form: type[FlaskForm]
    style: str
    done: LazyString
    service: Callable[..., Any]

    def offered(self, status: JobStatus) -> bool:
        """Whether the job workflow allows this decision from ``status``."""
        if self.target is None:
            return status is J.PUBLISHED
        return JOB_WORKFLOW.allows(status, self.target)

    def make_form(self, *, bound: bool = False) -> FlaskForm:
        """The decision's form; unbound forms never pick up another form's POST data."""
        if bound:
            return self.form(prefix=self.name)
        return self.form(formdata=None, prefix=self.name)


DECISIONS: tuple[JobDecision, ...] = (
    JobDecision(
        "publish",
        _l("Publish"),
        J.PUBLISHED,
        PublishJobForm,
        "success",
        _l("Published. The company and the invited experts were notified."),
        jobs.publish_job,
    ),
    JobDecision(
        "clarify",
        _l("Ask the company"),
        J.CLARIFICATION_REQUESTED,
        JobQuestionForm,
        "info",
        _l("Question sent. The company was notified; the job returns to the queue when it answers."),
        jobs.request_job_clarification,
    ),
    JobDecision(
        "reject",
        _l("Reject"),
        J.REJECTED,
        JobRejectForm,
        "danger",
        _l("Rejected. The company was told why."),
        jobs.reject_job,
    ),
    JobDecision(
        "invite",
        _l("Invite expert"),
        None,
        InviteExpertForm,
        "primary",
        _l("Expert invited and notified."),
        jobs.invite_expert_to_job,
    ),
    JobDecision(
        "close",
        _l("Close the job"),
        J.CLOSED,
        JobEndForm,
        "secondary",
        _l("Closed. The company was notified."),
        jobs.close_job,
    ),
    JobDecision(
        "cancel",
        _l("Cancel the job"),
        J.CANCELLED,
        JobEndForm,
        "outline-danger",
        _l("Cancelled. The company was notified."),
        jobs.cancel_job,
    ),
)
DECISIONS_BY_NAME = {d.name: d for d in DECISIONS}


def approved_experts() -> list[ExpertProfile]:
    """Verified experts with an active account (who may be invited), by pseudonym (one statement)."""
    return list(
        db.session.scalars(
            sa.select(ExpertProfile)
            .join(User, ExpertProfile.user_id == User.id)
            .options(joinedload(ExpertProfile.user))
            .where(ExpertProfile.status == VerificationStatus.APPROVED, User.suspended_at.is_(None))
            .order_by(ExpertProfile.pseudonym, ExpertProfile.id)
        )
    )


def _expert_choice(expert: ExpertProfile) -> SelectChoice:
    extra = ", ".join(part for part in (expert.user.full_name, expert.country, expert.headline) if part)
    return SelectChoice(expert.id, f"{expert.pseudonym} ({extra})" if extra else expert.pseudonym)


def job_history(job: Job, limit: int = 300) -> list[AuditEvent]:
    """The job's audit events, its files' and its invitations', newest first (one statement)."""
    condition = sa.and_(AuditEvent.entity == "jobs", AuditEvent.entity_id == job.id)
    attachment_ids = [a.id for a in job.attachments]
    invitation_ids = [i.id for i in job.invitations]
    if attachment_ids:
        condition = sa.or_(
            condition, sa.and_(AuditEvent.entity == "job_attachments", AuditEvent.entity_id.in_(attachment_ids))
        )
    if invitation_ids:
        condition = sa.or_(
            condition, sa.and_(AuditEvent.entity == "job_invitations", AuditEvent.entity_id.in_(invitation_ids))
        )
    return list(
        db.session.scalars(
            sa.select(AuditEvent)
            .options(joinedload(AuditEvent.actor))
            .where(condition)
            .order_by(AuditEvent.id.desc())
            .limit(limit)
        )
    )


def changes_since_last_question(job: Job, history: list[AuditEvent]) -> list[AuditEvent] | None:
    """The company's changes after the hub's latest question (oldest first); None if no question was asked."""
    if not job.clarifications:
        return None
    asked_at = job.clarifications[-1].asked_at
    asked = [e for e in history if e.to_state == J.CLARIFICATION_REQUESTED.value]
    since_id = asked[0].id if asked else None
    changes = [
        e
        for e in history
        if e.action in CHANGE_ACTIONS and (e.id > since_id if since_id is not None else e.created_at >= asked_at)
    ]
    return list(reversed(changes))


def _send(attachment: JobAttachment, data: bytes, *, as_attachment: bool) -> Response:
    mimetype = attachment.content_type if attachment.content_type in SAFE_TYPES else "application/octet-stream"
    response = send_file(
        io.BytesIO(data),
        mimetype=mimetype,
        as_attachment=as_attachment,
        download_name=attachment.original_name,
        conditional=False,
        etag=False,
        max_age=0,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    return response


class JobReviewView(SecureModelView):
    """The review queue and every job; decisions go through ``app.services.jobs``."""

    can_create = False
    can_edit = False
    can_delete = False
    column_editable_list: ClassVar[list[str]] = []
    details_template = "admin/jobs/details.html"
    list_template = "admin/jobs/list.html"

    column_list = ("id", "title", "company.name", "category", "status", "visibility", "budget", "submitted_at")
    column_sortable_list = ("id", "category", "status", "submitted_at", "published_at", "company.name")
    column_searchable_list = ("title_term.name", "company.name")
    column_select_related_list = (Job.title_term, Job.company)
    column_labels: ClassVar[dict[str, Any]] = {
        "id": _l("ID"),
        "title": _l("Job"),
        "title_term.name": _l("Job title"),
        "company.name": _l("Company"),
        "category": _l("Category"),
        "status": _l("Status"),
        "visibility": _l("Visibility"),
        "budget": _l("Budget"),
        "submitted_at": _l("Submitted"),
        "published_at": _l("Published"),
    }
    column_filters = (
        *enum_filters(Job.status, _l("Status"), JOB_STATUS_LABELS),
        *enum_filters(Job.category, _l("Category"), CATEGORY_LABELS),
        "submitted_at",
    )
    column_formatters: ClassVar[dict[str, Any]] = {
        "status": _status_formatter,
        "title": _title_formatter,
        "category": label_formatter(CATEGORY_LABELS),
        "visibility": label_formatter(VISIBILITY_LABELS),
        "budget": _budget_formatter,
    }

    # Queue order: waiting jobs first (pending review before those waiting for the company),
    # oldest submission first, then every other job, newest first.
    def _apply_sorting(self, query: Any, joins: Any, sort_column: Any, sort_desc: bool) -> tuple[Any, Any]:
        if sort_column is not None:
            return super()._apply_sorting(query, joins, sort_column, sort_desc)
        waiting_first = sa.case((Job.status.in_(WAITING), 0), else_=1)
        pending_first = sa.case((Job.status == J.PENDING_REVIEW, 0), else_=1)
        waiting_oldest = sa.case((Job.status.in_(WAITING), Job.submitted_at), else_=None)
        query = query.order_by(waiting_first, pending_first, waiting_oldest.asc(), Job.id.desc())
        return query, joins

    # Pages -----------------------------------------------------------------------------
    def load(self, job_id: int) -> Job:
        job = db.session.get(Job, job_id)
        if job is None:
            abort(404)
        return job

    @expose("/<int:job_id>")
    def job_redirect(self, job_id: int) -> ResponseReturnValue:
        """The link in notifications (/admin/jobs/<id>) opens the job's page."""
        self.load(job_id)
        return redirect(self.get_url(".details_view", id=job_id))

    @expose("/details/")
    def details_view(self) -> ResponseReturnValue:
        job_id = request.args.get("id", type=int)
        if job_id is None:
            return redirect(self.get_url(".index_view"))
        return self.render_details(self.load(job_id))

    def _forms(self, job: Job, bound: dict[str, FlaskForm]) -> dict[str, FlaskForm]:
        decisions = [d for d in DECISIONS if d.offered(job.status)]
        forms = {d.name: bound.get(d.name) or d.make_form() for d in decisions}
        needs_experts = {"publish", "invite"} & set(forms)
        if needs_experts:
            experts = approved_experts()
            invited = {i.expert_id for i in job.invitations if i.kind is InvitationKind.INVITED}
            if "publish" in forms:
                forms["publish"].invite_expert_ids.choices = [_expert_choice(e) for e in experts]
            if "invite" in forms:
                forms["invite"].expert_id.choices = [_expert_choice(e) for e in experts if e.id not in invited]
        return forms

    def render_details(
        self, job: Job, *, bound: dict[str, FlaskForm] | None = None, status: int = 200
    ) -> ResponseReturnValue:
        forms = self._forms(job, bound or {})
        decisions = [d for d in DECISIONS if d.name in forms]
        history = job_history(job)
        attachments = list(job.attachments)
        html = self.render(
            self.details_template,
            model=job,
            job=job,
            decisions=decisions,
            forms=forms,
            attachments=[a for a in attachments if a.removed_at is None],
            removed_attachments=[a for a in attachments if a.removed_at is not None],
            history=history,
            changes=changes_since_last_question(job, history),
            missing=jobs.missing_for_submit(job) if job.status in WAITING else [],
            qc_fee=jobs.qc_fee_minor(job) if job.qc_requested else None,
            return_url=get_redirect_target() or self.get_url(".index_view"),
            job_badge=job_badge,
            category_label=lambda v: label(CATEGORY_LABELS, v),
            visibility_label=lambda v: label(VISIBILITY_LABELS, v),
            delivery_label=lambda v: label(DELIVERY_LABELS, v),
            attachment_kind_label=lambda v: label(ATTACHMENT_KIND_LABELS, v),
            level_labels=LEVEL_LABELS,
            proficiency_labels=PROFICIENCY_LABELS,
        )
        return html, status

    # Decisions -------------------------------------------------------------------------
    @expose("/<int:job_id>/decide/<decision>", methods=("POST",))
    def decide(self, job_id: int, decision: str) -> ResponseReturnValue:
        spec = DECISIONS_BY_NAME.get(decision)
        if spec is None:
            abort(404)
        job = self.load(job_id)
        if not spec.offered(job.status):
            flash(self._not_offered(job), "danger")
            return redirect(self.get_url(".details_view", id=job_id))
        forms = self._forms(job, {spec.name: spec.make_form(bound=True)})
        form = forms[spec.name]
        if not form.validate():
            form_error_flash()
            return self.render_details(job, bound={spec.name: form}, status=400)
        try:
            spec.service(job_id, actor=current_actor(), **self._arguments(spec, form))
        except jobs.FieldErrors as exc:
            uow.rollback()
            job = self.load(job_id)
            unplaced = [msg for name, msg in exc.errors.items() if not self._place_error(form, name, msg)]
            for msg in unplaced:
                flash(msg, "danger")
            if not unplaced:
                form_error_flash()
            return self.render_details(job, bound={spec.name: form}, status=400)
        except DomainError as exc:
            uow.rollback()
            flash(str(exc), "danger")
            return redirect(self.get_url(".details_view", id=job_id))
        flash(str(spec.done), "success")
        return redirect(self.get_url(".details_view", id=job_id))

    @staticmethod
    def _arguments(spec: JobDecision, form: Any) -> dict[str, Any]:
        if spec.name == "publish":
            return {"visibility": form.visibility.data, "invite_expert_ids": list(form.invite_expert_ids.data or [])}
        if spec.name == "invite":
            return {"expert_id": form.expert_id.data}
        return {name: (field.data or "").strip() for name, field in form._fields.items() if name != "csrf_token"}

    @staticmethod
    def _place_error(form: Any, name: str, message: str) -> bool:
        """Put a service's field error on the form field it names (invite: the one expert field)."""
        aliases = {"invite_expert_ids": "expert_id"} if "expert_id" in form._fields else {}
        field = form._fields.get(name) or form._fields.get(aliases.get(name, ""))
        if field is None:
            return False
        field.errors = [*list(field.errors), message]
        return True

    @staticmethod
    def _not_offered(job: Job) -> str:
        return _(
            "This decision is not possible while the job is %(status)s. The page now shows what can be done.",
            status=label(JOB_STATUS_LABELS, job.status),
        )

    # Files -----------------------------------------------------------------------------
    def _open(self, attachment_id: int, *, previewable: bool = False) -> tuple[JobAttachment, bytes]:
        attachment = db.session.get(JobAttachment, attachment_id)
        if attachment is None or (previewable and not attachment.is_previewable):
            abort(404)
        try:
            return jobs.open_job_attachment(attachment_id, actor=current_actor())
        except NotFound:
            abort(404)

    @expose("/attachments/<int:attachment_id>")
    def attachment_download(self, attachment_id: int) -> ResponseReturnValue:
        """Download a job's file as an attachment (logged as ``job_attachment.downloaded``)."""
        attachment, data = self._open(attachment_id)
        response = _send(attachment, data, as_attachment=True)
        response.headers["Content-Security-Policy"] = DOWNLOAD_CSP
        return response

    @expose("/attachments/<int:attachment_id>/preview")
    def attachment_preview(self, attachment_id: int) -> ResponseReturnValue:
        """Show a PDF/PNG/JPEG inline for this page's iframe or img (sandboxed, framed by us only)."""
        attachment, data = self._open(attachment_id, previewable=True)
        allow_same_origin_framing()
        response = _send(attachment, data, as_attachment=False)
        response.headers["Content-Security-Policy"] = PREVIEW_CSP
        return response


class JobInvitationView(ReadOnlyModelView):
    """Who was invited to which job, by whom and when (read only; invite from the job's page)."""

    column_list = ("id", "job", "expert", "invited_by.full_name", "created_at")
    column_details_list = column_list
    column_sortable_list = ("id", "created_at")
    column_default_sort = ("id", True)
    column_searchable_list = ("expert.pseudonym",)
    column_select_related_list = (JobInvitation.job, JobInvitation.expert, JobInvitation.invited_by)
    column_labels: ClassVar[dict[str, Any]] = {
        "id": _l("ID"),
        "job": _l("Job"),
        "expert": _l("Expert"),
        "expert.pseudonym": _l("Expert pseudonym"),
        "invited_by.full_name": _l("Invited by"),
        "created_at": _l("Invited"),
    }
    column_filters = ("created_at",)
    column_formatters: ClassVar[dict[str, Any]] = {"job": _job_link_formatter, "expert": _expert_formatter}
    column_formatters_detail = column_formatters

    def get_query(self) -> Any:
        return (
            super()
            .get_query()
            .options(
                joinedload(JobInvitation.job).joinedload(Job.title_term),
                joinedload(JobInvitation.expert).joinedload(ExpertProfile.user),
                joinedload(JobInvitation.invited_by),
            )
        )
