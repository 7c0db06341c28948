"""Steps 2–3: job posting, review and publication (WORKFLOW.md §2–3).

    draft -submit-> pending_review -publish(visibility)-> published -award-> awarded
    pending_review -request_clarification-> clarification_requested -answer-> pending_review
    pending_review -reject-> rejected;  published -close-> closed
    draft | pending_review | clarification_requested | published -cancel-> cancelled

One public function per transition or change; each loads and locks its row,
checks existence, then permission (``app.policies``), then state, writes,
notifies, and commits once. Read-only queries for the job board and the
review queue are at the end.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy.orm import joinedload, selectinload

from app import policies
from app.exceptions import InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from app.extensions import db
from app.integrations import reference
from app.integrations.storage import BlobNotFound, get_storage
from app.models import (
    JOB_SUBTYPES,
    AttachmentKind,
    CatalogKind,
    CatalogTerm,
    Company,
    CompanyRole,
    ExpertiseLevel,
    ExpertProfile,
    InvitationKind,
    InvitationStatus,
    Job,
    JobAttachment,
    JobCategory,
    JobClarification,
    JobConfidentialityAcceptance,
    JobInvitation,
    JobLanguage,
    JobSkill,
    JobStatus,
    JobVisibility,
    LanguageProficiency,
    Role,
    TrainingDelivery,
    User,
    VerificationStatus,
)
from app.models.jobs import PAYMENT_UPFRONT_ESCROW
from app.services import audit, notifications, uow, uploads
from app.services.transitions import transition
from app.services.validation import required_text
from app.workflows.jobs import JOB_WORKFLOW

J = JobStatus

# Portal paths notifications link to (the job pages are built in the UI pass).
COMPANY_JOB_PATH = "/company/jobs/{id}"
EXPERT_JOB_PATH = "/jobs/{id}"
ADMIN_JOB_PATH = "/admin/jobs/{id}"

EDITABLE_STATES = frozenset({J.DRAFT, J.CLARIFICATION_REQUESTED})
CONFIDENTIALITY_TERMS_VERSION = "2025-01"
MAX_SKILLS = 30
MAX_LANGUAGES = 10
MAX_TEXT = 10_000

SKILL_KINDS = frozenset({CatalogKind.SKILL, CatalogKind.PROCESS, CatalogKind.MATERIAL})
TERM_FIELDS: dict[str, CatalogKind] = {
    "title_term_id": CatalogKind.JOB_TITLE,
    "process_term_id": CatalogKind.PROCESS,
    "material_term_id": CatalogKind.MATERIAL,
    "defect_term_id": CatalogKind.DEFECT,
}
# Text fields with their maximum length.
TEXT_FIELDS: dict[str, int] = {
    "description": MAX_TEXT,
    "scope": MAX_TEXT,
    "audience": 200,
    "location": 200,
    "machine_description": MAX_TEXT,
    "part_description": MAX_TEXT,
    "data_available": MAX_TEXT,
}
OTHER_FIELDS = (
    "category",
    "subtype",
    "headcount",
    "delivery",
    "training_language",
    "budget_minor",
    "currency",
    "payment_terms",
    "start_date",
    "completion_date",
    "qc_requested",
    "show_company_name",
)
JOB_FIELDS = frozenset(TEXT_FIELDS) | frozenset(TERM_FIELDS) | frozenset(OTHER_FIELDS)

ATTACHMENT_KINDS: dict[str, AttachmentKind] = {
    "step": AttachmentKind.CAD,
    "iges": AttachmentKind.CAD,
    "stl": AttachmentKind.CAD,
    "dxf": AttachmentKind.CAD,
    "dwg": AttachmentKind.CAD,
    "pdf": AttachmentKind.PDF,
    "png": AttachmentKind.IMAGE,
    "jpeg": AttachmentKind.IMAGE,
    "xlsx": AttachmentKind.SPREADSHEET,
    "csv": AttachmentKind.SPREADSHEET,
}


class FieldErrors(ValidationFailed):
    """Several fields were refused; ``errors`` maps each field name to its message (for forms)."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__(" ".join(self.errors.values()))


# Settings -------------------------------------------------------------------------------


def attachment_max_bytes() -> int:
    """The size limit of one job attachment (JOB_ATTACHMENT_MAX_MB)."""
    return int(current_app.config.get("JOB_ATTACHMENT_MAX_MB", 100)) * 1024 * 1024


def max_attachments() -> int:
    """How many attachments one job may have (JOB_MAX_ATTACHMENTS)."""
    return int(current_app.config.get("JOB_MAX_ATTACHMENTS", 20))


def qc_fee_minor(job: Job) -> int | None:
    """The quality-control fee for ``job`` in minor units (QC_FEE_PERCENT of the budget), or None."""
    if job.budget_minor is None:
        return None
    percent = int(current_app.config.get("QC_FEE_PERCENT", 15))
    return (job.budget_minor * percent + 50) // 100


# Read helpers ---------------------------------------------------------------------------


def missing_for_submit(job: Job) -> list[str]:
    """What is still missing before ``job`` can be submitted for review (empty: ready)."""
    missing: list[str] = []

    def need(ok: object, label: str) -> None:
        if not ok:
            missing.append(label)

    need(job.title_term_id, _("Job title"))
    need(job.subtype, _("Type of job"))
    need(job.description.strip(), _("Description"))
    need(job.scope.strip(), _("Scope"))
    if job.category is JobCategory.TRAINING:
        need(job.audience.strip(), _("Audience"))
        need(job.headcount, _("Number of participants"))
        need(job.delivery, _("On-site or remote"))
        if job.delivery is TrainingDelivery.ON_SITE:
            need(job.location.strip(), _("Location"))
        need(job.training_language, _("Training language"))
    else:
        need(job.process_term_id, _("Process"))
        need(job.part_description.strip(), _("Part description"))
    need(job.skills, _("At least one required skill"))
    need(job.budget_minor, _("Budget"))
    need(job.start_date, _("Start date"))
    need(job.completion_date, _("Completion date"))
    today = _today()
    if job.start_date is not None and job.start_date < today:
        missing.append(_("A start date that is not in the past"))
    return missing


def edit_refusal(job: Job) -> str:
    """Why the job cannot be changed now (empty when it can)."""
    if job.status in EDITABLE_STATES:
        return ""
    if job.status is J.PENDING_REVIEW:
        return _("The job is under review; you can change it again if the hub asks a question.")
    return _("The job is %(status)s; it cannot be changed any more.", status=_human(job.status))


def _human(status: JobStatus) -> str:
    return status.value.replace("_", " ")


def _today() -> date:
    return datetime.now(UTC).date()


# Internals ------------------------------------------------------------------------------


def _load_job(job_id: int, actor: User | None) -> Job:
    job = db.session.get(Job, job_id, with_for_update=True)
    if job is None or not policies.can_view_job(actor, job):
        raise NotFound(_("This job does not exist."))
    return job


def _touch(job: Job) -> None:
    """Bump the job's version when only child rows change (optimistic locking)."""
    job.updated_at = datetime.now(UTC)


def _require_editable(job: Job) -> None:
    refusal = edit_refusal(job)
    if refusal:
        raise PermissionDenied(refusal)


def _company_recipients(job: Job) -> list[User]:
    """Who hears about a job's review: the company's active owners and the job's author."""
    people: dict[int, User] = {}
    for user in job.company.users:
        if user.suspended_at is None and user.role is Role.COMPANY and (
            user.company_role is CompanyRole.OWNER or user.id == job.created_by_id
        ):
            people[user.id] = user
    return list(people.values())


def _notify_company(job: Job, kind: str, **params: Any) -> None:
    for user in _company_recipients(job):
        notifications.notify(user, kind, link=COMPANY_JOB_PATH.format(id=job.id), job=str(job), **params)


def _parse_date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value).strip())


def _parse_int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not text.lstrip("-").isdigit():
        raise ValueError(text)
    return int(text)


def _clean_fields(job: Job | None, fields: dict[str, Any]) -> dict[str, Any]:  # noqa: C901
    """Validate every field (the service is the authority); raise FieldErrors naming each bad field."""
    unknown = set(fields) - JOB_FIELDS
    if unknown:
        raise ValueError(f"unknown job fields: {', '.join(sorted(unknown))}")
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    today = _today()
    for name, limit in TEXT_FIELDS.items():
        if name in fields:
            text = str(fields[name] or "").strip()
            if name in {"audience", "location"}:
                text = " ".join(text.split())
            if len(text) > limit:
                errors[name] = _("This is too long (at most %(n)d characters).", n=limit)
            clean[name] = text
    if "category" in fields:
        try:
            clean["category"] = JobCategory(fields["category"])
        except ValueError:
            errors["category"] = _("Choose Training or Problem Solving.")
    category = clean.get("category", job.category if job is not None else None)
    if "subtype" in fields or "category" in clean:
        subtype = str(fields.get("subtype", job.subtype if job is not None else "") or "").strip()
        if subtype and category in JOB_SUBTYPES and subtype not in JOB_SUBTYPES[category]:
            if "subtype" in fields:
                errors["subtype"] = _("Choose a type of job from the list.")
            else:
                subtype = ""  # the category changed: the old sub-type no longer applies
        clean["subtype"] = subtype
    for name, kind in TERM_FIELDS.items():
        if name not in fields:
            continue
        raw = fields[name]
        if raw is None or raw == "":
            clean[name] = None
            continue
        try:
            term_id = _parse_int(raw)
        except ValueError:
            term_id = None
        term = db.session.get(CatalogTerm, term_id) if term_id is not None else None
        if term is None or term.kind is not kind:
            errors[name] = _("Choose an entry from the list (the one given is not in the catalog).")
        elif term.is_retired and (job is None or getattr(job, name) != term.id):
            errors[name] = _("“%(term)s” is no longer offered; choose another one.", term=term.name)
        else:
            clean[name] = term.id
    if "headcount" in fields:
        try:
            headcount = _parse_int(fields["headcount"])
            if headcount is not None and not 0 < headcount <= 10_000:
                raise ValueError(headcount)
            clean["headcount"] = headcount
        except ValueError:
            errors["headcount"] = _("Enter the number of participants as a whole number from 1 to 10,000.")
    if "delivery" in fields:
        if fields["delivery"] in (None, ""):
            clean["delivery"] = None
        else:
            try:
                clean["delivery"] = TrainingDelivery(fields["delivery"])
            except ValueError:
                errors["delivery"] = _("Choose on-site or remote.")
    if "training_language" in fields:
        code = str(fields["training_language"] or "").strip().lower()
        if code and code not in reference.language_codes():
            errors["training_language"] = _("Choose a language from the list.")
        clean["training_language"] = code
    if "budget_minor" in fields:
        try:
            budget = _parse_int(fields["budget_minor"])
            if budget is not None and budget <= 0:
                raise ValueError(budget)
            clean["budget_minor"] = budget
        except ValueError:
            errors["budget_minor"] = _("Enter the budget as an amount greater than zero.")
    if "currency" in fields:
        currency = str(fields["currency"] or "").strip().upper()
        if currency not in reference.CURRENCIES:
            errors["currency"] = _("Choose a currency from the list.")
        clean["currency"] = currency
    if "payment_terms" in fields:
        if fields["payment_terms"] not in (None, "", PAYMENT_UPFRONT_ESCROW):
            errors["payment_terms"] = _("Jobs are paid 100% upfront into escrow, released on acceptance.")
        clean["payment_terms"] = PAYMENT_UPFRONT_ESCROW
    for name in ("start_date", "completion_date"):
        if name not in fields:
            continue
        try:
            value = _parse_date(fields[name])
        except (TypeError, ValueError):
            errors[name] = _("Enter a valid date (YYYY-MM-DD).")
            continue
        if value is not None and value < today and (job is None or getattr(job, name) != value):
            errors[name] = _("The date %(date)s is in the past; choose today or a later date.", date=value.isoformat())
        clean[name] = value
    start = clean.get("start_date", job.start_date if job is not None else None)
    end = clean.get("completion_date", job.completion_date if job is not None else None)
    if start is not None and end is not None and end < start and "completion_date" not in errors \
            and "start_date" not in errors:
        errors["completion_date"] = _("The completion date must be on or after the start date.")
    for name in ("qc_requested", "show_company_name"):
        if name in fields:
            clean[name] = bool(fields[name])
    if errors:
        raise FieldErrors(errors)
    return clean


def _apply(job: Job, clean: dict[str, Any]) -> list[str]:
    changed = sorted(name for name, value in clean.items() if getattr(job, name) != value)
    for name in changed:
        setattr(job, name, clean[name])
    return changed


# Drafting -------------------------------------------------------------------------------


def create_job(company_id: int, *, actor: User, **fields: Any) -> Job:
    """Start a job as a draft for an approved company (a draft may be incomplete).

    -> DRAFT. ``category`` is required; every other field may come later.
    Allowed for the company's users (owner or member) while it is approved.
    Audited as ``job.created``.

    :raises NotFound: no such company visible to ``actor``.
    :raises PermissionDenied: the actor is not a user of an approved company.
    :raises FieldErrors: a field is not acceptable (``errors`` names each field).
    """
    company = db.session.get(Company, company_id)
    if company is None or not policies.can_view_company(actor, company):
        raise NotFound(_("This company does not exist."))
    if not policies.can_post_jobs(actor, company):
        raise PermissionDenied(_("Only users of a verified company can post jobs."))
    if fields.get("category") in (None, ""):
        raise FieldErrors({"category": _("Choose Training or Problem Solving.")})
    clean = _clean_fields(None, fields)
    job = Job(
        company_id=company.id,
        created_by_id=actor.id,
        category=clean.pop("category"),
        status=J.DRAFT,
        show_company_name=company.show_name_to_experts,
    )
    job.company = company
    for name, value in clean.items():
        setattr(job, name, value)
    db.session.add(job)
    db.session.flush()
    audit.record("job.created", actor=actor, entity="jobs", entity_id=job.id,
                 data={"company_id": company.id, "fields": sorted(clean)})
    uow.commit()
    return job


def update_job(job_id: int, *, actor: User, **fields: Any) -> Job:
    """Save changes to a job in ``draft`` or ``clarification_requested``.

    Dates may not be in the past, the completion not before the start, the
    budget must be above zero, catalog entries must exist, be of the right kind
    and still be offered. Audited as ``job.updated`` with the changed fields.

    :raises NotFound: no such job visible to ``actor``.
    :raises PermissionDenied: not a user of the job's approved company, or the job is not editable now.
    :raises FieldErrors: a field is not acceptable (``errors`` names each field).
    """
    job = _load_job(job_id, actor)
    if not policies.can_edit_job(actor, job):
        raise PermissionDenied(_("Only users of the job's verified company can change it."))
    _require_editable(job)
    clean = _clean_fields(job, fields)
    changed = _apply(job, clean)
    if changed:
        audit.record("job.updated", actor=actor, entity="jobs", entity_id=job.id, data={"fields": changed})
        uow.commit()
    return job


def set_job_skills(job_id: int, *, actor: User, items: list[tuple[int, ExpertiseLevel]]) -> Job:
    """Replace the job's required skills, processes and materials, each with the level needed.

    :raises NotFound: no such job visible to ``actor``.
    :raises PermissionDenied: not a user of the job's company, or the job is not editable now.
    :raises FieldErrors: unknown, retired or duplicate terms, too many (field ``skills``).
    """
    job = _load_job(job_id, actor)
    if not policies.can_edit_job(actor, job):
        raise PermissionDenied(_("Only users of the job's verified company can change it."))
    _require_editable(job)
    if len(items) > MAX_SKILLS:
        raise FieldErrors({"skills": _("List at most %(n)d skills.", n=MAX_SKILLS)})
    wanted: dict[int, ExpertiseLevel] = {}
    for term_id, level in items:
        if int(term_id) in wanted:
            raise FieldErrors({"skills": _("Each skill can be listed only once.")})
        try:
            wanted[int(term_id)] = ExpertiseLevel(level)
        except ValueError:
            raise FieldErrors({"skills": _("Choose an expertise level from the list.")}) from None
    current = {s.term_id: s for s in job.skills}
    terms = {t.id: t for t in db.session.scalars(sa.select(CatalogTerm).where(CatalogTerm.id.in_(list(wanted))))}
    for term_id in wanted:
        term = terms.get(term_id)
        if term is None or term.kind not in SKILL_KINDS:
            raise FieldErrors({"skills": _("Choose skills, processes and materials from the list.")})
        if term.is_retired and term_id not in current:
            raise FieldErrors({"skills": _("“%(term)s” is no longer offered; choose another one.", term=term.name)})
    for term_id, skill in list(current.items()):
        if term_id not in wanted:
            job.skills.remove(skill)
        elif skill.level is not wanted[term_id]:
            skill.level = wanted[term_id]
    for term_id, level in wanted.items():
        if term_id not in current:
            job.skills.append(JobSkill(term_id=term_id, level=level, term=terms[term_id]))
    _touch(job)
    audit.record("job.skills_changed", actor=actor, entity="jobs", entity_id=job.id,
                 data={"skills": [[t, lv.value] for t, lv in wanted.items()]})
    uow.commit()
    return job


def set_job_languages(job_id: int, *, actor: User, items: list[tuple[str, LanguageProficiency]]) -> Job:
    """Replace the languages the expert must speak (ISO 639-1) with the minimum level.

    :raises NotFound: no such job visible to ``actor``.
    :raises PermissionDenied: not a user of the job's company, or the job is not editable now.
    :raises FieldErrors: unknown or duplicate languages, too many (field ``languages``).
    """
    job = _load_job(job_id, actor)
    if not policies.can_edit_job(actor, job):
        raise PermissionDenied(_("Only users of the job's verified company can change it."))
    _require_editable(job)
    if len(items) > MAX_LANGUAGES:
        raise FieldErrors({"languages": _("List at most %(n)d languages.", n=MAX_LANGUAGES)})
    wanted: dict[str, LanguageProficiency] = {}
    for code, proficiency in items:
        code = (code or "").strip().lower()
        if code not in reference.language_codes():
            raise FieldErrors({"languages": _("Choose languages from the list.")})
        if code in wanted:
            raise FieldErrors({"languages": _("Each language can be listed only once.")})
        try:
            wanted[code] = LanguageProficiency(proficiency)
        except ValueError:
            raise FieldErrors({"languages": _("Choose a language level from the list.")}) from None
    current = {lang.code: lang for lang in job.languages}
    for code, lang in list(current.items()):
        if code not in wanted:
            job.languages.remove(lang)
        elif lang.min_proficiency is not wanted[code]:
            lang.min_proficiency = wanted[code]
    for code, proficiency in wanted.items():
        if code not in current:
            job.languages.append(JobLanguage(code=code, min_proficiency=proficiency))
    _touch(job)
    audit.record("job.languages_changed", actor=actor, entity="jobs", entity_id=job.id,
                 data={"languages": [[c, p.value] for c, p in wanted.items()]})
    uow.commit()
    return job


def add_job_attachment(job_id: int, *, actor: User, upload: uploads.Upload) -> JobAttachment:
    """Check, clean and store a supporting file (CAD, PDF, image, spreadsheet) for the job.

    At most JOB_MAX_ATTACHMENTS files of JOB_ATTACHMENT_MAX_MB each. The blob is
    stored first and deleted again if the transaction fails; the files already
    uploaded are kept when one is refused.

    :raises NotFound: no such job visible to ``actor``.
    :raises PermissionDenied: not a user of the job's company, or the job is not editable now.
    :raises FieldErrors: too many attachments (field ``attachment``).
    :raises uploads.UploadRejected: the file itself is refused (the message says why).
    """
    job = _load_job(job_id, actor)
    if not policies.can_edit_job(actor, job):
        raise PermissionDenied(_("Only users of the job's verified company can add files to it."))
    _require_editable(job)
    limit = max_attachments()
    if len(job.active_attachments) >= limit:
        raise FieldErrors({"attachment": _("A job can have at most %(n)d files; remove one before adding another.",
                                           n=limit)})
    clean = uploads.check_job_file(upload, max_bytes=attachment_max_bytes())
    with uploads.stored(clean, prefix=f"jobs/{job.id}/files") as key:
        attachment = JobAttachment(
            job_id=job.id,
            kind=ATTACHMENT_KINDS[clean.file_type.code],
            storage_key=key,
            original_name=clean.name,
            content_type=clean.content_type,
            size_bytes=clean.size,
            sha256=clean.sha256,
            uploaded_by_id=actor.id,
        )
        job.attachments.append(attachment)
        db.session.flush()
        _touch(job)
        audit.record("job_attachment.uploaded", actor=actor, entity="job_attachments", entity_id=attachment.id,
                     data={"job_id": job.id, "kind": attachment.kind.value, "sha256": clean.sha256,
                           "size": clean.size})
        uow.commit()
    return attachment


def remove_job_attachment(attachment_id: int, *, actor: User) -> JobAttachment:
    """Remove a file from a job while it is editable (the row is kept for the record).

    :raises NotFound: no such attachment visible to ``actor``, or already removed.
    :raises PermissionDenied: not a user of the job's company, or the job is not editable now.
    """
    attachment = db.session.get(JobAttachment, attachment_id, with_for_update=True)
    if attachment is None or attachment.removed_at is not None or not policies.can_view_job(actor, attachment.job):
        raise NotFound(_("This file does not exist."))
    job = attachment.job
    if not policies.can_edit_job(actor, job):
        raise PermissionDenied(_("Only users of the job's verified company can remove its files."))
    _require_editable(job)
    attachment.removed_at = datetime.now(UTC)
    _touch(job)
    audit.record("job_attachment.removed", actor=actor, entity="job_attachments", entity_id=attachment.id,
                 data={"job_id": job.id})
    uow.commit()
    return attachment


# Review ---------------------------------------------------------------------------------


def submit_job(job_id: int, *, actor: User) -> Job:
    """Send a complete draft to the hub's review queue.

    DRAFT -> PENDING_REVIEW. Every active admin is notified (``job.submitted``).

    :raises NotFound: no such job visible to ``actor``.
    :raises PermissionDenied: not a user of the job's approved company.
    :raises InvalidTransition: the job is not a draft.
    :raises ValidationFailed: something is missing (the message lists it).
    """
    job = _load_job(job_id, actor)
    if not policies.can_submit_job(actor, job):
        raise PermissionDenied(_("Only users of the job's verified company can submit it."))
    JOB_WORKFLOW.check(job.status, J.PENDING_REVIEW)
    if job.status is not J.DRAFT:  # clarification_requested -> pending_review is answer, not submit
        raise InvalidTransition(JOB_WORKFLOW.name, job.status, J.PENDING_REVIEW,
                                _("Answer the hub's question to send the job back to review."))
    missing = missing_for_submit(job)
    if missing:
        raise ValidationFailed(_("Before submitting, please complete: %(items)s.", items=", ".join(missing)))
    transition(job, JOB_WORKFLOW, J.PENDING_REVIEW, actor=actor)
    job.submitted_at = datetime.now(UTC)
    notifications.notify_staff("job.submitted", link=ADMIN_JOB_PATH.format(id=job.id), job=str(job),
                               company=job.company.name)
    uow.commit()
    return job


def _load_for_staff(job_id: int, actor: User) -> Job:
    job = _load_job(job_id, actor)
    if not policies.can_review_job(actor, job):
        raise PermissionDenied(_("Only hub staff can review jobs."))
    return job


def request_job_clarification(job_id: int, *, actor: User, question: str) -> JobClarification:
    """Ask the company a question about a job under review; it answers and the job returns to review.

    PENDING_REVIEW -> CLARIFICATION_REQUESTED. The question starts a thread entry
    kept after publication; the company's owners and the job's author are notified.

    :raises NotFound: no such job.
    :raises PermissionDenied: ``actor`` is not hub staff.
    :raises InvalidTransition: the job is not pending review.
    :raises ValidationFailed: no question given.
    """
    job = _load_for_staff(job_id, actor)
    JOB_WORKFLOW.check(job.status, J.CLARIFICATION_REQUESTED)
    question = required_text(question, _("Write the question the company should answer."))
    transition(job, JOB_WORKFLOW, J.CLARIFICATION_REQUESTED, actor=actor, question=question)
    item = JobClarification(question=question, asked_by_id=actor.id, asked_at=datetime.now(UTC))
    job.clarifications.append(item)
    job.decided_by_id = actor.id
    job.status_note = question
    _notify_company(job, "job.clarification_requested", question=question)
    uow.commit()
    return item


def answer_job_clarification(job_id: int, *, actor: User, answer: str) -> Job:
    """Answer the hub's open question; the job goes back to the review queue.

    CLARIFICATION_REQUESTED -> PENDING_REVIEW. The job must still be complete.
    Every active admin is notified (``job.clarification_answered``).

    :raises NotFound: no such job visible to ``actor``.
    :raises PermissionDenied: not a user of the job's approved company.
    :raises InvalidTransition: no question is open.
    :raises ValidationFailed: no answer, or the job is incomplete.
    """
    job = _load_job(job_id, actor)
    if not policies.can_submit_job(actor, job):
        raise PermissionDenied(_("Only users of the job's verified company can answer the hub."))
    if job.status is not J.CLARIFICATION_REQUESTED:
        raise InvalidTransition(JOB_WORKFLOW.name, job.status, J.PENDING_REVIEW,
                                _("There is no open question from the hub on this job."))
    answer = required_text(answer, _("Write your answer to the hub's question."))
    missing = missing_for_submit(job)
    if missing:
        raise ValidationFailed(_("Before submitting, please complete: %(items)s.", items=", ".join(missing)))
    item = job.open_clarification
    now = datetime.now(UTC)
    if item is not None:
        item.answer = answer
        item.answered_by_id = actor.id
        item.answered_at = now
    transition(job, JOB_WORKFLOW, J.PENDING_REVIEW, actor=actor, answer=answer)
    job.status_note = ""
    notifications.notify_staff("job.clarification_answered", link=ADMIN_JOB_PATH.format(id=job.id), job=str(job),
                               company=job.company.name)
    uow.commit()
    return job


def _approved_experts(expert_ids: Iterable[int]) -> list[ExpertProfile]:
    ids = list(dict.fromkeys(int(i) for i in expert_ids))
    if not ids:
        return []
    experts = {e.id: e for e in db.session.scalars(sa.select(ExpertProfile).where(ExpertProfile.id.in_(ids)))}
    for expert_id in ids:
        expert = experts.get(expert_id)
        if expert is None or expert.status is not VerificationStatus.APPROVED or expert.user.suspended_at is not None:
            raise FieldErrors({"invite_expert_ids": _("Only verified experts can be invited (expert %(id)d is not).",
                                                      id=expert_id)})
    return [experts[i] for i in ids]


def _invite(job: Job, expert: ExpertProfile, actor: User) -> JobInvitation:
    invitation = JobInvitation(expert_id=expert.id, invited_by_id=actor.id, created_at=datetime.now(UTC))
    invitation.expert = expert
    job.invitations.append(invitation)
    db.session.flush()
    audit.record("job.expert_invited", actor=actor, entity="job_invitations", entity_id=invitation.id,
                 data={"job_id": job.id, "expert_id": expert.id})
    notifications.notify(expert.user, "job.invited", link=EXPERT_JOB_PATH.format(id=job.id), job=str(job))
    return invitation


def publish_job(
    job_id: int, *, actor: User, visibility: JobVisibility | str, invite_expert_ids: Iterable[int] = ()
) -> Job:
    """Publish a reviewed job: public (on the job board) or private (invited experts only).

    PENDING_REVIEW -> PUBLISHED. A private job needs at least one invited,
    verified expert. The company and each newly invited expert are notified, and
    the ranking of the experts is queued (public jobs: its top matches are told).

    :raises NotFound: no such job.
    :raises PermissionDenied: ``actor`` is not hub staff.
    :raises InvalidTransition: the job is not pending review.
    :raises FieldErrors: bad visibility, unknown or unverified experts, a private job without invitations.
    """
    job = _load_for_staff(job_id, actor)
    JOB_WORKFLOW.check(job.status, J.PUBLISHED)
    try:
        chosen = JobVisibility(visibility)
    except ValueError:
        raise FieldErrors({"visibility": _("Choose public or private.")}) from None
    experts = _approved_experts(invite_expert_ids)
    already = {i.expert_id for i in job.invitations}
    new = [e for e in experts if e.id not in already]
    if chosen is JobVisibility.PRIVATE and not (already or new):
        raise FieldErrors({"invite_expert_ids": _("A private job needs at least one invited expert.")})
    transition(job, JOB_WORKFLOW, J.PUBLISHED, actor=actor, visibility=chosen.value,
               invited=[e.id for e in new])
    job.visibility = chosen
    job.published_at = datetime.now(UTC)
    job.decided_by_id = actor.id
    job.status_note = ""
    for expert in new:
        _invite(job, expert, actor)
    _notify_company(job, "job.published", visibility=chosen.value)
    from app.services.matching import queue_ranking_for_publish  # matching imports this module

    queue_ranking_for_publish(job, actor=actor)
    uow.commit()
    return job


def reject_job(job_id: int, *, actor: User, reason: str) -> Job:
    """Reject a job under review; the reason is kept and sent to the company.

    PENDING_REVIEW -> REJECTED (final).

    :raises NotFound: no such job.
    :raises PermissionDenied: ``actor`` is not hub staff.
    :raises InvalidTransition: the job is not pending review.
    :raises ValidationFailed: no reason given.
    """
    job = _load_for_staff(job_id, actor)
    JOB_WORKFLOW.check(job.status, J.REJECTED)
    reason = required_text(reason, _("Give the reason for the rejection; the company will read it."))
    transition(job, JOB_WORKFLOW, J.REJECTED, actor=actor, reason=reason)
    job.decided_by_id = actor.id
    job.status_note = reason
    _notify_company(job, "job.rejected", reason=reason)
    uow.commit()
    return job


def cancel_job(job_id: int, *, actor: User, reason: str = "") -> Job:
    """Withdraw a job before it is awarded.

    DRAFT | PENDING_REVIEW | CLARIFICATION_REQUESTED | PUBLISHED -> CANCELLED.
    By an owner of the company or hub staff; when staff cancel, the company is
    notified; invited experts of a published job are told it was withdrawn.

    :raises NotFound: no such job visible to ``actor``.
    :raises PermissionDenied: neither an owner of the company nor staff.
    :raises InvalidTransition: the job is already awarded, closed, rejected or cancelled.
    """
    job = _load_job(job_id, actor)
    if not policies.can_cancel_job(actor, job):
        raise PermissionDenied(_("Only an owner of the company or the hub can cancel a job."))
    was_published = job.status is J.PUBLISHED
    reason = (reason or "").strip()[:5000]
    transition(job, JOB_WORKFLOW, J.CANCELLED, actor=actor, reason=reason)
    job.status_note = reason
    if policies.is_staff(actor):
        _notify_company(job, "job.cancelled", reason=reason or "-")
    if was_published:
        for invitation in job.invitations:
            notifications.notify(invitation.expert.user, "job.withdrawn", link=EXPERT_JOB_PATH.format(id=job.id),
                                 job=str(job))
    uow.commit()
    return job


def close_job(job_id: int, *, actor: User, reason: str = "") -> Job:
    """Close a published job without awarding it.

    PUBLISHED -> CLOSED. By an owner of the company or hub staff.

    :raises NotFound: no such job visible to ``actor``.
    :raises PermissionDenied: neither an owner of the company nor staff.
    :raises InvalidTransition: the job is not published.
    """
    job = _load_job(job_id, actor)
    if not policies.can_close_job(actor, job):
        raise PermissionDenied(_("Only an owner of the company or the hub can close a job."))
    reason = (reason or "").strip()[:5000]
    transition(job, JOB_WORKFLOW, J.CLOSED, actor=actor, reason=reason)
    job.status_note = reason
    if policies.is_staff(actor):
        _notify_company(job, "job.closed", reason=reason or "-")
    uow.commit()
    return job


def invite_expert_to_job(job_id: int, *, actor: User, expert_id: int) -> JobInvitation:
    """Invite a verified expert to a published job (publish_job invites at publication).

    No state change; audited as ``job.expert_invited``; the expert is notified.

    :raises NotFound: no such job.
    :raises PermissionDenied: ``actor`` is not hub staff.
    :raises InvalidTransition: the job is not published.
    :raises FieldErrors: unknown or unverified expert, or already invited.
    """
    job = _load_for_staff(job_id, actor)
    if job.status is not J.PUBLISHED:
        raise InvalidTransition(JOB_WORKFLOW.name, job.status, J.PUBLISHED,
                                _("Experts are invited to published jobs, or when publishing."))
    (expert,) = _approved_experts([expert_id])
    existing = next((i for i in job.invitations if i.expert_id == expert.id), None)
    if existing is not None and existing.kind is InvitationKind.INVITED:
        raise FieldErrors({"expert_id": _("This expert is already invited.")})
    if existing is not None and existing.status is InvitationStatus.DECLINED:
        raise FieldErrors({"expert_id": _("This expert already declined this job.")})
    if existing is not None:  # a top match told about the public job becomes invited
        existing.kind = InvitationKind.INVITED
        existing.invited_by_id = actor.id
        db.session.flush()
        audit.record("job.expert_invited", actor=actor, entity="job_invitations", entity_id=existing.id,
                     data={"job_id": job.id, "expert_id": expert.id})
        notifications.notify(expert.user, "job.invited", link=EXPERT_JOB_PATH.format(id=job.id), job=str(job))
        invitation = existing
    else:
        invitation = _invite(job, expert, actor)
    _touch(job)
    uow.commit()
    return invitation


def _acceptance(job: Job, expert: ExpertProfile) -> JobConfidentialityAcceptance | None:
    return db.session.scalar(
        sa.select(JobConfidentialityAcceptance).where(
            JobConfidentialityAcceptance.job_id == job.id, JobConfidentialityAcceptance.expert_id == expert.id
        )
    )


def has_accepted_confidentiality(job: Job, actor: User | None) -> bool:
    """Whether ``actor`` is an expert who accepted ``job``'s confidentiality terms."""
    if actor is None or actor.role is not Role.EXPERT or actor.expert_profile is None:
        return False
    return _acceptance(job, actor.expert_profile) is not None


def accept_job_confidentiality(job_id: int, *, actor: User) -> JobConfidentialityAcceptance:
    """Record that an expert accepts the job's confidentiality terms (time, IP, terms version).

    No state change; accepting twice returns the first record. Audited as
    ``job.confidentiality_accepted``.

    :raises NotFound: no such job visible to ``actor``.
    :raises PermissionDenied: ``actor`` is not a verified expert who can see the job.
    """
    job = _load_job(job_id, actor)
    if not policies.can_accept_job_confidentiality(actor, job) or actor.expert_profile is None:
        raise PermissionDenied(_("Only verified experts who can see this job accept its confidentiality terms."))
    expert = actor.expert_profile
    existing = _acceptance(job, expert)
    if existing is not None:
        return existing
    acceptance = JobConfidentialityAcceptance(
        job_id=job.id,
        expert_id=expert.id,
        accepted_at=datetime.now(UTC),
        ip_address=audit.client_ip.get(),
        terms_version=CONFIDENTIALITY_TERMS_VERSION,
    )
    db.session.add(acceptance)
    db.session.flush()
    audit.record("job.confidentiality_accepted", actor=actor, entity="jobs", entity_id=job.id,
                 data={"expert_id": expert.id, "terms_version": CONFIDENTIALITY_TERMS_VERSION})
    uow.commit()
    return acceptance


def open_job_attachment(attachment_id: int, *, actor: User) -> tuple[JobAttachment, bytes]:
    """Read a job's file for ``actor`` and log the download (``job_attachment.downloaded``).

    Staff; the company's users; an expert who can see the job and accepted its
    confidentiality terms. Anyone else learns nothing: the file "does not exist".

    :raises NotFound: no such file, not visible to ``actor``, or its blob is gone.
    """
    attachment = db.session.get(JobAttachment, attachment_id)
    allowed = attachment is not None and policies.can_open_job_attachment(
        actor, attachment, confidentiality_accepted=has_accepted_confidentiality(attachment.job, actor)
    )
    if attachment is None or not allowed:
        raise NotFound(_("This file does not exist."))
    try:
        data = get_storage().get(attachment.storage_key)
    except BlobNotFound as exc:
        raise NotFound(_("This file is no longer available. Please contact the hub.")) from exc
    audit.record("job_attachment.downloaded", actor=actor, entity="job_attachments", entity_id=attachment.id,
                 data={"job_id": attachment.job_id, "sha256": attachment.sha256})
    uow.commit()
    return attachment, data


# Queries --------------------------------------------------------------------------------


def expert_can_see_job(expert: ExpertProfile | None, job: Job) -> bool:
    """An approved expert sees a published public job, or a private one they are invited to."""
    return policies.expert_can_see_job(expert, job)


@dataclass(frozen=True)
class JobFilters:
    """The job board's filters (all optional)."""

    category: JobCategory | None = None
    process_id: int | None = None
    material_id: int | None = None
    skill_id: int | None = None
    language: str | None = None
    budget_min: int | None = None
    budget_max: int | None = None
    text: str = ""


def _board_options() -> list[Any]:
    return [
        joinedload(Job.title_term),
        joinedload(Job.process_term),
        joinedload(Job.material_term),
        joinedload(Job.defect_term),
        joinedload(Job.company).joinedload(Company.industry),
        selectinload(Job.skills).joinedload(JobSkill.term),
        selectinload(Job.languages),
    ]


def visible_jobs_query(expert: ExpertProfile | None, filters: JobFilters | None = None) -> sa.Select[Job]:
    """Published jobs ``expert`` may see, newest first, filtered; related rows load eagerly.

    Paginate the result (``.limit``/``db.paginate``): a page costs a constant number of queries.
    """
    query = sa.select(Job).options(*_board_options()).order_by(Job.published_at.desc(), Job.id.desc())
    if expert is None or expert.status is not VerificationStatus.APPROVED:
        return query.where(sa.false())
    invited = sa.exists().where(JobInvitation.job_id == Job.id, JobInvitation.expert_id == expert.id)
    query = query.where(Job.status == J.PUBLISHED,
                        sa.or_(Job.visibility == JobVisibility.PUBLIC, invited))
    f = filters or JobFilters()
    if f.category is not None:
        query = query.where(Job.category == JobCategory(f.category))

    def requires(term_id: int) -> sa.ColumnElement[bool]:
        return sa.exists().where(JobSkill.job_id == Job.id, JobSkill.term_id == term_id)

    if f.process_id is not None:
        query = query.where(sa.or_(Job.process_term_id == f.process_id, requires(f.process_id)))
    if f.material_id is not None:
        query = query.where(sa.or_(Job.material_term_id == f.material_id, requires(f.material_id)))
    if f.skill_id is not None:
        query = query.where(requires(f.skill_id))
    if f.language:
        code = f.language.strip().lower()
        query = query.where(sa.or_(
            Job.training_language == code,
            sa.exists().where(JobLanguage.job_id == Job.id, JobLanguage.code == code),
        ))
    if f.budget_min is not None:
        query = query.where(Job.budget_minor >= f.budget_min)
    if f.budget_max is not None:
        query = query.where(Job.budget_minor <= f.budget_max)
    words = f.text.split()[:8]
    for word in words:
        pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        title_match = sa.exists().where(CatalogTerm.id == Job.title_term_id,
                                        CatalogTerm.name.ilike(pattern, escape="\\"))
        query = query.where(sa.or_(
            Job.description.ilike(pattern, escape="\\"),
            Job.scope.ilike(pattern, escape="\\"),
            title_match,
        ))
    return query


def review_queue_query() -> sa.Select[Job]:
    """Jobs waiting for the hub (pending review or clarification), oldest submitted first."""
    return (
        sa.select(Job)
        .options(*_board_options())
        .where(Job.status.in_([J.PENDING_REVIEW, J.CLARIFICATION_REQUESTED]))
        .order_by(Job.submitted_at.asc(), Job.id.asc())
    )


@dataclass(frozen=True)
class JobPublicView:
    """What an expert may see of a job: never the company's name unless it chose to show it."""

    id: int
    title: str
    category: JobCategory
    subtype: str
    description: str
    scope: str
    company_name: str | None
    company_industry: str | None
    company_country: str
    budget_minor: int | None
    currency: str
    start_date: date | None
    completion_date: date | None
    qc_requested: bool
    process: str | None
    material: str | None
    defect: str | None
    skills: list[tuple[str, ExpertiseLevel]] = field(default_factory=list)
    languages: list[tuple[str, LanguageProficiency]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


def job_public_view(job: Job, viewer: User | None) -> JobPublicView:
    """The job as ``viewer`` may see it: the company name only for its own users, staff, or if shown."""
    company = job.company
    name_allowed = job.show_company_name or policies.is_staff(viewer) or policies.belongs_to_company(viewer, company)
    if job.category is JobCategory.TRAINING:
        details: dict[str, Any] = {
            "audience": job.audience,
            "headcount": job.headcount,
            "delivery": job.delivery,
            "location": job.location,
            "training_language": job.training_language,
        }
    else:
        details = {
            "machine_description": job.machine_description,
            "part_description": job.part_description,
            "data_available": job.data_available,
        }
    return JobPublicView(
        id=job.id,
        title=str(job),
        category=job.category,
        subtype=job.subtype,
        description=job.description,
        scope=job.scope,
        company_name=company.name if name_allowed else None,
        company_industry=company.industry.name if company.industry is not None else None,
        company_country=company.country,
        budget_minor=job.budget_minor,
        currency=job.currency,
        start_date=job.start_date,
        completion_date=job.completion_date,
        qc_requested=job.qc_requested,
        process=job.process_term.name if job.process_term is not None else None,
        material=job.material_term.name if job.material_term is not None else None,
        defect=job.defect_term.name if job.defect_term is not None else None,
        skills=[(s.term.name, s.level) for s in job.skills],
        languages=[(lang.code, lang.min_proficiency) for lang in job.languages],
        details=details,
    )
