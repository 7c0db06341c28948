"""The expert's deliveries and the company's answer (WORKFLOW.md §9).

    delivery: (submit) submitted -> qc_review (an active QC expert) | hub_review
              forwarded -approve-> approved (project: active -> accepted)
              forwarded -request_revision-> revision_requested
    (qc_review / hub_review / forwarded are decided in app/services/delivery_review.py)

Each delivery is a new numbered version with its files, notes and a checklist
against the deliverables of the accepted offer version; nothing of an earlier
delivery is ever changed. The expert's files pass the checks of project files
(app/services/uploads.py, ``PROJECT_FILE_MAX_MB``) and lose the author and
company metadata CAD and office files carry (app/services/file_metadata.py);
the SHA-256 is that of the stored bytes.

The company sees a delivery only once the hub has verified and forwarded it
(:data:`COMPANY_VISIBLE`); before that it "does not exist" for them. The expert
side reads every delivery with the hub's and the quality-control comments, the
QC reviewer shown as "Quality control" only. The company's approval records
who approved which files (their SHA-256) and when, in an acceptance
certificate sealed by the hub, and moves the project to ``accepted``; the
release of the held funds then runs in the background
(app/tasks/release.py). Texts one side typed are shown to the other side with
contact details masked, as in the channel.

The functions never commit: views and tasks call ``uow.commit()`` after them
(``uow.rollback()`` on a :class:`DomainError`). Blobs stored for a transaction
that is rolled back are deleted again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from reportlab.lib.units import mm
from reportlab.platypus import Flowable, Paragraph, Spacer, Table, TableStyle
from sqlalchemy.orm import selectinload

from app.documents import render as pdf
from app.exceptions import (
    ConcurrentUpdate,
    DomainError,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from app.extensions import db
from app.integrations import sealing
from app.integrations.storage import BlobNotFound, StorageError, get_storage
from app.models import (
    Audience,
    Delivery,
    DeliveryFile,
    DeliveryStatus,
    Dispute,
    DisputeStatus,
    ExpertProfile,
    Project,
    ProjectMember,
    ProjectRole,
    ProjectStatus,
    QcAssignment,
    QcStatus,
    User,
)
from app.models.delivery import OPEN_DELIVERY_STATES
from app.models.mixins import utcnow
from app.services import audit, contracts, file_metadata, masking, notifications, project_files, projects, uow, uploads
from app.services.projects import Side
from app.services.transitions import transition
from app.services.uploads import CleanFile, Upload, human_size
from app.tasks import queue
from app.tasks.release import release_project
from app.workflows.contracts import PROJECT_WORKFLOW
from app.workflows.delivery import DELIVERY_WORKFLOW

logger = logging.getLogger(__name__)

NOTES_MAX = 5000
CHECK_COMMENT_MAX = 1000
COMMENT_MAX = 5000
MAX_FILES = 20
DEFAULT_REMINDER_DAYS = 5
DEFAULT_TOTAL_MB = 500
# What the company reads: deliveries the hub verified and forwarded, and its own answers to them.
COMPANY_VISIBLE = frozenset({DeliveryStatus.FORWARDED, DeliveryStatus.APPROVED, DeliveryStatus.REVISION_REQUESTED})
DELIVERY_PATH = "/projects/{id}/delivery"

def _not_found() -> NotFound:
    return NotFound(_("This delivery does not exist or you are not a member of its project."))


def _file_not_found() -> NotFound:
    return NotFound(_("This file does not exist or you are not a member of its project."))


def _link(project: Project, delivery: Delivery | None = None) -> str:
    return DELIVERY_PATH.format(id=project.id) + (f"#delivery-{delivery.id}" if delivery is not None else "")


# Limits -----------------------------------------------------------------------------------


def max_total_bytes() -> int:
    """The size limit of all the files of one delivery together (DELIVERY_MAX_TOTAL_MB, default 500 MB)."""
    return int(current_app.config.get("DELIVERY_MAX_TOTAL_MB", DEFAULT_TOTAL_MB)) * 1024 * 1024


def reminder_days() -> int:
    """After how many days a forwarded delivery the company has not answered is reminded (and again)."""
    return max(1, int(current_app.config.get("DELIVERY_REVIEW_REMINDER_DAYS", DEFAULT_REMINDER_DAYS)))


def upload_hint() -> str:
    """The sentence under the delivery's file field."""
    return _("Up to %(n)d files: STEP, IGES, STL, DXF, DWG, PDF, PNG, JPEG, XLSX or CSV, up to %(limit)s each and "
             "%(total)s together. The content is checked; your name and employer are removed from the files.",
             n=MAX_FILES, limit=uploads.human_size(project_files.max_bytes()),
             total=uploads.human_size(max_total_bytes()))


# Reading helpers --------------------------------------------------------------------------


def deliverables_of(project: Project) -> list[str]:
    """The deliverables of the accepted offer version, in the offer's order."""
    return [str(d).strip() for d in project.contract.offer_version.deliverables if str(d).strip()]


def current_delivery(project: Project) -> Delivery | None:
    """The newest delivery of the project (whatever its status), or None before the first."""
    return db.session.scalar(
        sa.select(Delivery).where(Delivery.project_id == project.id).order_by(Delivery.number.desc()).limit(1))


def _open_delivery(project: Project) -> Delivery | None:
    return db.session.scalar(
        sa.select(Delivery).where(Delivery.project_id == project.id, Delivery.status.in_(sorted(OPEN_DELIVERY_STATES)))
        .order_by(Delivery.number.desc()).limit(1))


def has_open_dispute(project: Project) -> bool:
    """Whether a dispute of the project waits for the hub's decision."""
    return db.session.scalar(sa.select(Dispute.id).where(
        Dispute.project_id == project.id, Dispute.status == DisputeStatus.OPEN).limit(1)) is not None


def _active_qc(project: Project) -> QcAssignment | None:
    return db.session.scalar(sa.select(QcAssignment).where(
        QcAssignment.project_id == project.id, QcAssignment.status == QcStatus.ACTIVE).limit(1))


def _expert_user(project: Project) -> User | None:
    """The project's own expert (not the QC expert), while an active member."""
    return db.session.scalar(
        sa.select(User).join(ProjectMember, ProjectMember.user_id == User.id)
        .where(ProjectMember.project_id == project.id, ProjectMember.role == ProjectRole.EXPERT,
               ProjectMember.removed_at.is_(None), User.suspended_at.is_(None)).limit(1))


def _masked(text: str) -> str:
    if not text:
        return text
    result = masking.mask_contacts(text)
    return result.text if result.changed else text


def _shown(text: str, author: Side, reader: Side) -> str:
    """What ``reader`` sees of a text ``author`` typed: contact details masked between company and expert."""
    if reader is Side.HUB or author is Side.HUB or author is reader:
        return text
    return _masked(text)


def _shown_name(name: str, author: Side, reader: Side) -> str:
    """A file name as ``reader`` sees it: the stem masked like any text, the extension kept."""
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    shown = _shown(stem, author, reader)
    return name if shown == stem else uploads.sanitize_filename(f"{shown}{dot}{ext}")


def _visible_to(delivery: Delivery, side: Side) -> bool:
    return side is not Side.COMPANY or delivery.status in COMPANY_VISIBLE


def _load(delivery_id: int, actor: User, *, lock: bool = False) -> tuple[Delivery, Project, Side]:
    """The delivery, its project and the actor's side; NotFound when the actor may not know it exists."""
    delivery = db.session.get(Delivery, delivery_id)
    if delivery is None:
        raise _not_found()
    try:
        project, side = projects.load_project(delivery.project_id, actor=actor)
    except NotFound:
        raise _not_found() from None
    if not _visible_to(delivery, side):
        raise _not_found()
    if lock:
        project = _lock_project(project.id)
        db.session.execute(sa.select(Delivery.id).where(Delivery.id == delivery_id).with_for_update())
        again = db.session.get(Delivery, delivery_id, populate_existing=True)
        if again is None:
            raise _not_found()
        delivery = again
    return delivery, project, side


def _lock_project(project_id: int) -> Project:
    """Lock the project's row and re-read it (:func:`uow.locked`)."""
    project = uow.locked(Project, project_id)
    if project is None:
        raise _not_found()
    return project


def load_delivery(delivery_id: int, *, actor: User) -> tuple[Delivery, Project, Side]:
    """A delivery ``actor`` may see, its project and the actor's side.

    :raises NotFound: no such delivery, ``actor`` is not on its project, or (the company) it was not forwarded.
    """
    return _load(delivery_id, actor)


# Submitting -------------------------------------------------------------------------------


def _clean_text(text: str, limit: int, what: str) -> str:
    text = (text or "").replace("\r\n", "\n").strip()
    if len(text) > limit:
        raise ValidationFailed(_("%(what)s can have at most %(n)d characters; this one has %(m)d.",
                                 what=what, n=limit, m=len(text)))
    return text


def _clean_checklist(project: Project, checklist: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The checklist in the offer's order: one row per deliverable, ``done`` true or false, a comment when not done.

    :raises ValidationFailed: a deliverable is missing or unknown, a row has no answer, a comment is missing.
    """
    wanted = deliverables_of(project)
    rows: dict[str, list[dict[str, Any]]] = {}
    for row in checklist:
        name = str(row.get("deliverable") or "").strip()
        rows.setdefault(name, []).append(row)
    unknown = sorted(set(rows) - set(wanted))
    if unknown:
        raise ValidationFailed(_("“%(name)s” is not a deliverable of the accepted offer. Reload the page and fill in "
                                 "the checklist again.", name=unknown[0]))
    missing = Counter(wanted) - Counter({name: len(found) for name, found in rows.items()})
    if missing:
        raise ValidationFailed(_("The checklist must say for every deliverable of the offer whether it is done; "
                                 "“%(name)s” is missing.", name=next(iter(missing))))
    extra = Counter({name: len(found) for name, found in rows.items()}) - Counter(wanted)
    if extra:
        raise ValidationFailed(_("“%(name)s” is in the checklist more than once.", name=next(iter(extra))))
    out = []
    for name in wanted:
        row = rows[name].pop(0)
        done = row.get("done")
        if not isinstance(done, bool):
            raise ValidationFailed(_("Say whether “%(name)s” is done.", name=name))
        comment = _clean_text(str(row.get("comment") or ""), CHECK_COMMENT_MAX, _("A checklist comment"))
        if not done and not comment:
            raise ValidationFailed(_("“%(name)s” is not done: say in its comment what is missing and when it "
                                     "follows.", name=name))
        out.append({"deliverable": name, "done": done, "comment": comment})
    return out


def _checked(upload: Upload) -> tuple[CleanFile, str]:
    """A file checked as a project file, then stripped of its author; the SHA-256 is of the bytes stored."""
    clean = uploads.check_job_file(upload, max_bytes=project_files.max_bytes())
    stripped = file_metadata.strip_metadata(clean.data, clean.file_type.code)
    if stripped.data != clean.data:
        clean = dataclasses.replace(clean, data=stripped.data, sha256=hashlib.sha256(stripped.data).hexdigest())
    return clean, ", ".join(stripped.removed)


def _submit_refusal(project: Project) -> str | None:
    """Why the expert cannot deliver now (None: they can)."""
    if project.status is ProjectStatus.DISPUTED or has_open_dispute(project):
        return _("A dispute is open on this project; Plasticonnect Hub decides it before anything else is delivered.")
    if project.status is not ProjectStatus.ACTIVE:
        return _("This project is no longer active; nothing more can be delivered.")
    pending = _open_delivery(project)
    if pending is not None:
        return _("Delivery %(n)d is still being reviewed; you can deliver again once it is answered.", n=pending.number)
    return None


def _store(cleaned: Sequence[tuple[CleanFile, str]], prefix: str) -> list[str]:
    """Store every blob; if one fails, delete those already stored (nothing is left behind)."""
    storage = get_storage()
    keys: list[str] = []
    try:
        for clean, _removed in cleaned:
            key = uploads.new_storage_key(prefix)
            storage.put(key, clean.data, content_type=clean.content_type)
            keys.append(key)
    except StorageError as exc:
        logger.error("Storing a delivery file failed: %s", exc)
        _delete_quietly(keys)
        raise uploads.UploadRejected(_("The files could not be stored just now. Nothing was saved; please try again "
                                       "in a minute.")) from exc
    return keys


def _delete_quietly(keys: Sequence[str]) -> None:
    storage = get_storage()
    for key in keys:
        try:
            storage.delete(key)
        except StorageError:
            logger.warning("Could not delete blob %s of a failed delivery", key, exc_info=True)


def submit_delivery(project_id: int, *, actor: User, notes: str, checklist: list[dict[str, Any]],
                    uploads: list[Upload]) -> Delivery:
    """The expert delivers a new version of the work: files, notes and the checklist of deliverables.

    (new) -> SUBMITTED -> QC_REVIEW when the project has an active quality-control expert, else
    HUB_REVIEW (audited ``delivery.submitted`` then ``delivery.qc_review`` / ``delivery.hub_review``).
    Who: the project's assigned expert (not the QC expert), on an active project without an open
    dispute or another open delivery. Needs at least one file or a note, and a checklist row
    ``{"deliverable", "done", "comment"}`` for every deliverable of the accepted offer (a comment
    when not done). Earlier deliveries stay untouched; ``number`` is the previous one + 1.
    Effects: the files are stored (author metadata removed); hub staff are notified
    (``delivery.submitted``) and the QC expert (``delivery.qc_review``); the expert side's channel
    says so. The caller commits.

    :raises NotFound: no such project, or ``actor`` is not on it.
    :raises PermissionDenied: ``actor`` is not the project's expert.
    :raises ValidationFailed: the project does not take a delivery now; the checklist, notes or files are wrong.
    :raises uploads.UploadRejected: a file is refused (the message says which and why).
    """
    project, _side = projects.load_project(project_id, actor=actor)
    if projects.role_of(actor, project) is not ProjectRole.EXPERT:
        raise PermissionDenied(_("Only the project's expert submits deliveries."))
    refusal = _submit_refusal(project)
    if refusal:
        raise ValidationFailed(refusal)
    notes = _clean_text(notes, NOTES_MAX, _("The notes"))
    rows = _clean_checklist(project, checklist)
    if not uploads and not notes:
        raise ValidationFailed(_("Attach at least one file, or write a note that describes the delivery."))
    if len(uploads) > MAX_FILES:
        raise ValidationFailed(_("A delivery can have at most %(n)d files; you chose %(m)d. Combine drawings in one "
                                 "PDF, or deliver the rest in the project's files.", n=MAX_FILES, m=len(uploads)))
    cleaned = [_checked(u) for u in uploads]  # before the lock: checking large files takes a while
    total = sum(c.size for c, _removed in cleaned)
    if total > max_total_bytes():
        raise ValidationFailed(_("The files are %(size)s together; the limit of one delivery is %(limit)s.",
                                 size=human_size(total), limit=human_size(max_total_bytes())))

    project = _lock_project(project.id)
    refusal = _submit_refusal(project)
    if refusal:
        raise ValidationFailed(refusal)
    number = (db.session.scalar(sa.select(sa.func.max(Delivery.number)).where(Delivery.project_id == project.id))
              or 0) + 1
    keys = _store(cleaned, f"projects/{project.id}/deliveries")
    for key in keys:
        project_files.delete_if_rolled_back(key)  # the files tab's clean-up of blobs of a rolled-back transaction
    now = utcnow()
    delivery = Delivery(project_id=project.id, number=number, status=DeliveryStatus.SUBMITTED, notes=notes,
                        checklist=rows, submitted_by_id=actor.id, submitted_at=now)
    db.session.add(delivery)
    try:
        db.session.flush()
    except sa.exc.IntegrityError as exc:  # two submissions at once on a database without row locks
        raise ConcurrentUpdate(_("Another delivery was submitted at the same time. Reload the page.")) from exc
    for (clean, removed), key in zip(cleaned, keys, strict=True):
        db.session.add(DeliveryFile(
            delivery_id=delivery.id, storage_key=key, original_name=clean.name, file_type=clean.file_type.code,
            content_type=clean.content_type, size_bytes=clean.size, sha256=clean.sha256, metadata_removed=removed,
        ))
    db.session.flush()
    files = [{"name": c.name, "sha256": c.sha256, "size": c.size, "metadata_removed": r} for c, r in cleaned]
    audit.record("delivery.submitted", actor=actor, entity="deliveries", entity_id=delivery.id, to_state="submitted",
                 data={"project_id": project.id, "number": number, "files": files, "checklist": rows})
    _audit_masked(project, delivery, actor, [notes, *(r["comment"] for r in rows), *(c.name for c, _r in cleaned)])

    qc = _active_qc(project)
    target = DeliveryStatus.QC_REVIEW if qc is not None else DeliveryStatus.HUB_REVIEW
    transition(delivery, DELIVERY_WORKFLOW, target, actor=actor, project_id=project.id, number=number)
    label, link = projects.project_label(project), _link(project, delivery)
    notifications.notify_staff("delivery.submitted", link=link, number=number, project=label,
                               next="quality control" if qc is not None else "hub verification")
    if qc is not None:
        reviewer = db.session.get(ExpertProfile, qc.expert_id)
        if reviewer is not None and reviewer.user.suspended_at is None:
            notifications.notify(reviewer.user, "delivery.qc_review", link=link, number=number, project=label)
    projects.system_message(project, "delivery_submitted", audience=Audience.EXPERT, number=number)
    _changed(project, delivery)
    return delivery


def _audit_masked(project: Project, delivery: Delivery, actor: User, texts: Sequence[str]) -> None:
    """Alert the hub when the expert typed contact details the company will see masked."""
    findings = sum(len(masking.mask_contacts(t).findings) for t in texts if t)
    if not findings:
        return
    audit.record("delivery.masked", actor=actor, entity="deliveries", entity_id=delivery.id,
                 data={"project_id": project.id, "findings": findings})
    notifications.notify_staff("project.contact_masked", link=_link(project, delivery),
                               project=projects.project_label(project), count=findings)


def _changed(project: Project, delivery: Delivery) -> None:
    """Tell the open workspace pages of the sides that read this delivery (after commit)."""
    sides = [Side.EXPERT, Side.HUB] + ([Side.COMPANY] if delivery.status in COMPANY_VISIBLE else [])
    projects.push_event(project.id, "delivery.changed",
                        {"delivery_id": delivery.id, "number": delivery.number, "status": delivery.status.value},
                        sides=sides)


# The company's answer -----------------------------------------------------------------------


def _require_company_decision(delivery: Delivery, project: Project, side: Side, target: DeliveryStatus) -> None:
    if side is not Side.COMPANY:
        raise PermissionDenied(_("Only the company approves a delivery or asks for a revision."))
    if delivery.status is not DeliveryStatus.FORWARDED:
        message = {
            DeliveryStatus.APPROVED: _("You already approved this delivery."),
            DeliveryStatus.REVISION_REQUESTED: _("You already asked for a revision of this delivery."),
        }.get(delivery.status)
        raise InvalidTransition(DELIVERY_WORKFLOW.name, delivery.status, target, message)
    if project.status is ProjectStatus.DISPUTED or has_open_dispute(project):
        raise ValidationFailed(_("A dispute is open on this project; Plasticonnect Hub decides it first."))
    if project.status is not ProjectStatus.ACTIVE:
        raise ValidationFailed(_("This project is no longer active."))


def approve_delivery(delivery_id: int, *, actor: User) -> Delivery:
    """The company accepts a forwarded delivery as final: the project is accepted and the funds are released.

    FORWARDED -> APPROVED, and the project ACTIVE -> ACCEPTED (``accepted_at``), in one transaction.
    Who: a user of the project's company, while no dispute is open.
    Effects: ``decided_by``/``decided_at`` and ``accepted_hashes`` (name, SHA-256, size of every
    file) are recorded; an acceptance certificate is rendered, sealed by the hub and stored
    (``certificate_storage_key``, ``certificate_sha256``); the expert and hub staff are notified
    (``delivery.approved``); the channel says so. After commit the release of the held funds
    is queued (``app.tasks.release.release_project``). The caller commits.

    :raises NotFound: no such delivery, not forwarded yet, or ``actor`` is not on its project.
    :raises PermissionDenied: ``actor`` is not a company user of the project.
    :raises InvalidTransition: the delivery was already answered.
    :raises ValidationFailed: a dispute is open, or the project is no longer active.
    :raises DomainError: a file is missing from storage, or the certificate could not be sealed.
    """
    delivery, project, side = _load(delivery_id, actor, lock=True)
    _require_company_decision(delivery, project, side, DeliveryStatus.APPROVED)
    storage = get_storage()
    for file in delivery.files:
        if not storage.exists(file.storage_key):
            logger.error("Delivery file %s has no blob at %s", file.id, file.storage_key)
            raise DomainError(_("A file of this delivery is missing from storage; nothing was approved. Please "
                                "contact the hub."))
    now = utcnow()
    delivery.decided_by_id = actor.id
    delivery.decided_at = now
    delivery.accepted_hashes = [{"name": f.original_name, "sha256": f.sha256, "size": f.size_bytes}
                                for f in delivery.files]
    key, sha = _seal_certificate(delivery, project, actor, now)
    delivery.certificate_storage_key = key
    delivery.certificate_sha256 = sha
    transition(delivery, DELIVERY_WORKFLOW, DeliveryStatus.APPROVED, actor=actor, project_id=project.id,
               number=delivery.number, accepted_hashes=delivery.accepted_hashes, certificate_sha256=sha)
    transition(project, PROJECT_WORKFLOW, ProjectStatus.ACCEPTED, actor=actor, delivery_id=delivery.id,
               number=delivery.number)
    project.accepted_at = now
    label, link = projects.project_label(project), _link(project, delivery)
    expert = _expert_user(project)
    if expert is not None:
        notifications.notify(expert, "delivery.approved", link=link, number=delivery.number, project=label)
    notifications.notify_staff("delivery.approved", link=link, number=delivery.number, project=label)
    projects.system_message(project, "delivery_approved", number=delivery.number)
    _changed(project, delivery)
    uow.after_commit(queue.enqueue_quietly, release_project, project.id, queue_name="high")
    return delivery


def request_revision(delivery_id: int, *, actor: User, comment: str) -> Delivery:
    """The company asks the expert for a revision of a forwarded delivery.

    FORWARDED -> REVISION_REQUESTED. Who: a user of the project's company, while no dispute is open.
    ``comment`` (what to change) is required. Effects: ``company_comment``, ``decided_by`` and
    ``decided_at`` are recorded; the expert (the comment with contact details masked) and hub staff
    are notified (``delivery.revision_requested``); the channel says so. The expert then submits a
    new delivery. The caller commits.

    :raises NotFound: no such delivery, not forwarded yet, or ``actor`` is not on its project.
    :raises PermissionDenied: ``actor`` is not a company user of the project.
    :raises InvalidTransition: the delivery was already answered.
    :raises ValidationFailed: no comment, a comment too long, a dispute is open, or the project is not active.
    """
    delivery, project, side = _load(delivery_id, actor, lock=True)
    _require_company_decision(delivery, project, side, DeliveryStatus.REVISION_REQUESTED)
    comment = _clean_text(comment, COMMENT_MAX, _("The comment"))
    if not comment:
        raise ValidationFailed(_("Say what the expert should change."))
    delivery.company_comment = comment
    delivery.decided_by_id = actor.id
    delivery.decided_at = utcnow()
    transition(delivery, DELIVERY_WORKFLOW, DeliveryStatus.REVISION_REQUESTED, actor=actor, project_id=project.id,
               number=delivery.number, comment=comment)
    label, link = projects.project_label(project), _link(project, delivery)
    expert = _expert_user(project)
    if expert is not None:
        notifications.notify(expert, "delivery.revision_requested", link=link, number=delivery.number, project=label,
                             comment=_masked(comment))
    notifications.notify_staff("delivery.revision_requested", link=link, number=delivery.number, project=label,
                               comment=comment)
    projects.system_message(project, "revision_requested", number=delivery.number)
    _changed(project, delivery)
    return delivery


# The acceptance certificate -----------------------------------------------------------------


@dataclass(frozen=True)
class CertificateFile:
    name: str
    size_bytes: int
    sha256: str


@dataclass(frozen=True)
class AcceptanceCertificate:
    """What the acceptance certificate states: who accepted which exact files of which project, and when."""

    contract_reference: str
    job_title: str
    company_name: str
    approved_by: str
    approved_at: datetime
    expert_pseudonym: str
    delivery_number: int
    submitted_at: datetime
    files: Sequence[CertificateFile]
    notes_included: bool


def render_acceptance_certificate(data: AcceptanceCertificate) -> bytes:
    """The acceptance certificate as PDF (deterministic: the same data gives the same bytes)."""
    s = pdf.styles()
    reference = f"{data.contract_reference} · delivery {data.delivery_number}"
    story: list[Flowable] = [
        Paragraph("Certificate of acceptance", s.title),
        Paragraph(escape(f"Contract {data.contract_reference} · Delivery {data.delivery_number} · "
                         f"issued by {pdf.HUB_NAME}"), s.subtitle),
        Paragraph(escape(f"{data.company_name} accepted the delivery below as final. The SHA-256 fingerprint of "
                         "each file identifies the exact bytes accepted: any other file, however similar, has a "
                         "different fingerprint."), s.body),
        Paragraph("Acceptance", s.heading),
        pdf.key_value_table([
            ("Accepted by", f"<b>{escape(data.approved_by)}</b>, {escape(data.company_name)}"),
            ("Accepted at", escape(pdf.format_utc(data.approved_at))),
            ("Contract reference", escape(data.contract_reference)),
            ("Job", escape(data.job_title)),
            ("Expert", escape(f"Expert {data.expert_pseudonym}")),
            ("Delivery", escape(f"Version {data.delivery_number}, submitted {pdf.format_utc(data.submitted_at)}")),
        ]),
        Paragraph("Files accepted", s.heading),
    ]
    if data.files:
        hash_width = 112 * mm
        rows: list[list[Any]] = [[Paragraph("File", s.cell_bold), Paragraph("SHA-256", s.cell_bold)]]
        for file in data.files:
            rows.append([
                [Paragraph(escape(file.name), s.cell), Paragraph(escape(f"{file.size_bytes:,} bytes"), s.label)],
                Paragraph(file.sha256, s.mono),
            ])
        table = Table(rows, colWidths=[pdf.CONTENT_WIDTH - hash_width, hash_width], hAlign="LEFT", repeatRows=1)
        table.setStyle(TableStyle([
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LINEBELOW", (0, 0), (-1, -1), 0.25, pdf.RULE),
            ("BACKGROUND", (0, 0), (-1, 0), pdf.SHADE),
            ("TOPPADDING", (0, 0), (-1, -1), 4),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
        ]))
        story.append(table)
    else:
        story.append(Paragraph("This delivery has no files; it consists of the expert's notes.", s.body))
    if data.notes_included and data.files:
        story.append(Paragraph("The delivery also includes the expert's notes, kept by the hub.", s.small))
    story += [
        Spacer(1, 6 * mm),
        Paragraph(escape(f"{pdf.HUB_NAME} seals this certificate electronically. Its seal shows that the "
                         "certificate was issued by the hub and has not been changed since."), s.small),
    ]
    return pdf.build_pdf(story, title=f"Certificate of acceptance {reference}", subject=data.job_title,
                      footer=f"{reference} · Certificate of acceptance · {pdf.HUB_NAME}", created=data.approved_at)


def _seal_certificate(delivery: Delivery, project: Project, actor: User, now: datetime) -> tuple[str, str]:
    """Render, seal and store the acceptance certificate; its (storage key, SHA-256). Never commits.

    :raises DomainError: the hub cannot seal documents now (nothing is saved).
    """
    contract = project.contract
    data = AcceptanceCertificate(
        contract_reference=contract.reference, job_title=str(project.job),
        company_name=contract.company.legal_name or contract.company.name, approved_by=actor.full_name,
        approved_at=now.replace(tzinfo=now.tzinfo or UTC), expert_pseudonym=contract.expert.pseudonym,
        delivery_number=delivery.number,
        submitted_at=delivery.submitted_at.replace(tzinfo=delivery.submitted_at.tzinfo or UTC),
        files=[CertificateFile(_shown_name(f.original_name, Side.EXPERT, Side.COMPANY), f.size_bytes, f.sha256)
               for f in delivery.files],
        notes_included=bool(delivery.notes),
    )
    key_path, cert_path = contracts.hub_key_paths()  # one hub seal for every document
    try:
        sealed = sealing.seal_pdf(
            render_acceptance_certificate(data),
            reason=f"Acceptance of delivery {delivery.number} of {contract.reference} sealed by Plasticonnect Hub",
            key_path=key_path, cert_path=cert_path,
        )
    except sealing.SealingError as exc:
        logger.error("Sealing the acceptance certificate of delivery %s failed: %s", delivery.id, exc)
        raise DomainError(_("The acceptance certificate could not be sealed; nothing was approved. Please try "
                            "again or contact the hub.")) from exc
    key = f"projects/{project.id}/deliveries/acceptance-{delivery.number}-{uuid.uuid4().hex}"
    try:
        get_storage().put(key, sealed, content_type="application/pdf")
    except StorageError as exc:
        logger.error("Storing the acceptance certificate of delivery %s failed: %s", delivery.id, exc)
        raise DomainError(_("The acceptance certificate could not be stored; nothing was approved. Please try "
                            "again in a minute.")) from exc
    project_files.delete_if_rolled_back(key)
    sha = pdf.sha256_hex(sealed)
    audit.record("delivery.certificate_sealed", actor=actor, entity="deliveries", entity_id=delivery.id,
                 data={"project_id": project.id, "certificate_sha256": sha,
                       "certificate_fingerprint": sealing.certificate_fingerprint(cert_path)})
    return key, sha


# Reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileView:
    id: int
    name: str
    type_label: str
    size: str
    size_bytes: int
    sha256: str
    metadata_removed: str  # the hub only


@dataclass(frozen=True)
class CheckView:
    deliverable: str
    done: bool
    comment: str


@dataclass(frozen=True)
class ReviewView:
    """A quality-control review as the expert side or the hub reads it."""

    reviewer: str  # "Quality control" for the expert side
    completeness: int
    correctness: int
    clarity: int
    comments: str
    verdict: str
    created_at: datetime


@dataclass(frozen=True)
class DeliveryView:
    """One delivery as a side reads it."""

    id: int
    number: int
    status: str
    submitted_by: str
    submitted_at: datetime
    notes: str
    checklist: list[CheckView]
    files: list[FileView]
    hub_comment: str
    verified_by: str
    forwarded_at: datetime | None
    company_comment: str
    decided_by: str
    decided_at: datetime | None
    reviews: list[ReviewView]
    accepted_hashes: list[dict[str, Any]]
    has_certificate: bool
    certificate_sha256: str

    @property
    def is_open(self) -> bool:
        return DeliveryStatus(self.status) in OPEN_DELIVERY_STATES

    @property
    def missing(self) -> list[CheckView]:
        """The deliverables the expert marked as not done."""
        return [c for c in self.checklist if not c.done]


def deliveries_for(project: Project, side: Side) -> list[DeliveryView]:
    """The project's deliveries as ``side`` reads them, newest first.

    The company: only what the hub forwarded (and its own answers), without the hub's internal
    checks or the QC reviews; texts the expert typed are masked. The expert side: every delivery,
    with the hub's comments and the QC reviews by "Quality control" (never the QC expert's name
    or pseudonym); texts the company typed are masked. The hub: everything as written.
    """
    query = (sa.select(Delivery).where(Delivery.project_id == project.id)
             .options(selectinload(Delivery.files), selectinload(Delivery.qc_reviews))
             .order_by(Delivery.number.desc()))
    if side is Side.COMPANY:
        query = query.where(Delivery.status.in_(sorted(COMPANY_VISIBLE)))
    rows = list(db.session.scalars(query))
    people = {uid for d in rows for uid in (d.submitted_by_id, d.verified_by_id, d.decided_by_id) if uid}
    people |= {r.reviewer_id for d in rows for r in d.qc_reviews}
    labels = projects.author_labels(project, people)

    def who(user_id: int | None) -> str:
        return labels.get(user_id, (_("Former member"), "platform"))[0] if user_id else ""

    hub = side is Side.HUB
    out = []
    for d in rows:
        reviews = [] if side is Side.COMPANY else [ReviewView(
            reviewer=who(r.reviewer_id) if hub else _("Quality control"), completeness=r.completeness,
            correctness=r.correctness, clarity=r.clarity, comments=r.comments, verdict=r.verdict.value,
            created_at=r.created_at) for r in d.qc_reviews]
        out.append(DeliveryView(
            id=d.id, number=d.number, status=d.status.value, submitted_by=who(d.submitted_by_id),
            submitted_at=d.submitted_at, notes=_shown(d.notes, Side.EXPERT, side),
            checklist=[CheckView(str(c.get("deliverable", "")), bool(c.get("done")),
                                 _shown(str(c.get("comment") or ""), Side.EXPERT, side)) for c in d.checklist],
            files=[_file_view(f, side) for f in d.files],
            hub_comment=d.hub_comment, verified_by=who(d.verified_by_id), forwarded_at=d.forwarded_at,
            company_comment=_shown(d.company_comment, Side.COMPANY, side), decided_by=who(d.decided_by_id),
            decided_at=d.decided_at, reviews=reviews, accepted_hashes=list(d.accepted_hashes or []),
            has_certificate=bool(d.certificate_storage_key), certificate_sha256=d.certificate_sha256 or "",
        ))
    return out


def _file_view(file: DeliveryFile, side: Side) -> FileView:
    file_type = uploads.FILE_TYPES.get(file.file_type)
    return FileView(id=file.id, name=_shown_name(file.original_name, Side.EXPERT, side),
                    type_label=file_type.label if file_type else file.file_type.upper(),
                    size=uploads.human_size(file.size_bytes), size_bytes=file.size_bytes, sha256=file.sha256,
                    metadata_removed=file.metadata_removed if side is Side.HUB else "")


@dataclass(frozen=True)
class DeliveryPage:
    """The delivery tab of one reader."""

    project: Project
    side: Side
    role: ProjectRole | None
    deliverables: list[str]
    deliveries: list[DeliveryView]
    can_submit: bool
    submit_refusal: str  # why the expert cannot deliver now ("" when they can, or are not the expert)
    next_number: int
    awaiting: DeliveryView | None  # the company: the forwarded delivery waiting for its answer
    can_decide: bool
    decide_refusal: str
    approved: DeliveryView | None
    has_open_dispute: bool

    @property
    def is_expert(self) -> bool:
        return self.role is ProjectRole.EXPERT

    @property
    def is_qc(self) -> bool:
        return self.role is ProjectRole.QC

    @property
    def open_delivery(self) -> DeliveryView | None:
        return next((d for d in self.deliveries if d.is_open), None)


def delivery_page(project_id: int, *, actor: User) -> DeliveryPage:
    """Everything the delivery tab shows ``actor``.

    :raises NotFound: no such project, or ``actor`` is not on it.
    """
    project, side = projects.load_project(project_id, actor=actor)
    role = projects.role_of(actor, project)
    views = deliveries_for(project, side)
    is_expert = role is ProjectRole.EXPERT and side is Side.EXPERT
    refusal = (_submit_refusal(project) or "") if is_expert else ""
    awaiting = next((d for d in views if d.status == DeliveryStatus.FORWARDED.value), None)
    dispute = has_open_dispute(project)
    decide_refusal = ""
    if dispute or project.status is ProjectStatus.DISPUTED:
        decide_refusal = _("A dispute is open on this project; Plasticonnect Hub decides it first.")
    elif project.status is not ProjectStatus.ACTIVE:
        decide_refusal = _("This project is no longer active.")
    latest = current_delivery(project)
    return DeliveryPage(
        project=project, side=side, role=role, deliverables=deliverables_of(project), deliveries=views,
        can_submit=is_expert and not refusal, submit_refusal=refusal,
        next_number=(latest.number if latest is not None else 0) + 1,
        awaiting=awaiting if side is Side.COMPANY else None,
        can_decide=side is Side.COMPANY and awaiting is not None and not decide_refusal,
        decide_refusal=decide_refusal,
        approved=next((d for d in views if d.status == DeliveryStatus.APPROVED.value), None),
        has_open_dispute=dispute,
    )


def open_delivery_file(file_id: int, *, actor: User) -> tuple[str, str, bytes]:
    """Read a delivery file for ``actor``: ``(download name, content type, bytes)``; every read is audited.

    Who: the members who may see its delivery (the company once it was forwarded), also after the
    project closed. Effects: ``delivery_file.downloaded`` is audited. The caller commits.

    :raises NotFound: no such file, ``actor`` may not see its delivery, or the blob is gone.
    """
    file = db.session.get(DeliveryFile, file_id)
    if file is None:
        raise _file_not_found()
    try:
        delivery, project, side = _load(file.delivery_id, actor)
    except NotFound:
        raise _file_not_found() from None
    try:
        data = get_storage().get(file.storage_key)
    except BlobNotFound as exc:
        logger.error("Delivery file %s has no blob at %s", file.id, file.storage_key)
        raise NotFound(_("This file is no longer available. Please contact the hub.")) from exc
    audit.record("delivery_file.downloaded", actor=actor, entity="delivery_files", entity_id=file.id,
                 data={"project_id": project.id, "delivery_id": delivery.id, "number": delivery.number,
                       "side": side.value, "sha256": file.sha256})
    return _shown_name(file.original_name, Side.EXPERT, side), file.content_type, data


def open_certificate(delivery_id: int, *, actor: User) -> tuple[str, bytes]:
    """Read the sealed acceptance certificate of an approved delivery: ``(download name, bytes)``; audited.

    Who: every member of the project (company, expert side, hub), also after it closed.
    Effects: ``delivery_certificate.downloaded`` is audited. The caller commits.

    :raises NotFound: no such delivery or no certificate yet, ``actor`` is not on its project, or the blob is gone.
    """
    delivery, project, side = _load(delivery_id, actor)
    if not delivery.certificate_storage_key:
        raise NotFound(_("This delivery has no acceptance certificate: it was not approved."))
    try:
        data = get_storage().get(delivery.certificate_storage_key)
    except BlobNotFound as exc:
        logger.error("Acceptance certificate of delivery %s has no blob", delivery.id)
        raise NotFound(_("The certificate is no longer available. Please contact the hub.")) from exc
    audit.record("delivery_certificate.downloaded", actor=actor, entity="deliveries", entity_id=delivery.id,
                 data={"project_id": project.id, "side": side.value, "sha256": delivery.certificate_sha256})
    name = f"acceptance-{project.contract.reference}-delivery-{delivery.number}.pdf"
    return uploads.sanitize_filename(name), data


# Reminders ------------------------------------------------------------------------------------


def remind_pending_reviews(now: datetime | None = None) -> int:
    """Remind the company (and the hub) of forwarded deliveries it has not answered; returns how many.

    A delivery FORWARDED more than DELIVERY_REVIEW_REMINDER_DAYS days ago (default 5), on an active
    project, not reminded in the last such days, gets ``delivery.review_reminder`` to each company
    user of the project and to hub staff, and ``review_reminded_at``. Safe to run again: one reminder
    per window. The caller commits.
    """
    moment = now or utcnow()
    days = reminder_days()
    cutoff = moment - timedelta(days=days)
    rows = list(db.session.scalars(
        sa.select(Delivery).join(Project, Project.id == Delivery.project_id)
        .where(Delivery.status == DeliveryStatus.FORWARDED, Project.status == ProjectStatus.ACTIVE,
               Delivery.forwarded_at.is_not(None), Delivery.forwarded_at < cutoff,
               sa.or_(Delivery.review_reminded_at.is_(None), Delivery.review_reminded_at < cutoff))
        .order_by(Delivery.id)
        .with_for_update(of=Delivery, skip_locked=True)
    ))
    for delivery in rows:
        project = delivery.project
        forwarded = delivery.forwarded_at
        assert forwarded is not None  # the query
        waited = (moment - forwarded.replace(tzinfo=forwarded.tzinfo or UTC)).days
        label, link = projects.project_label(project), _link(project, delivery)
        for user in projects.member_users(project, side=Side.COMPANY):
            notifications.notify(user, "delivery.review_reminder", link=link, number=delivery.number, project=label,
                                 days=waited)
        notifications.notify_staff("delivery.review_reminder", link=link, number=delivery.number, project=label,
                                   days=waited)
        delivery.review_reminded_at = moment
        audit.record("delivery.review_reminded", actor=None, entity="deliveries", entity_id=delivery.id,
                     data={"project_id": project.id, "number": delivery.number, "days": waited})
    if rows:
        db.session.flush()
        logger.info("Reminded companies of %s forwarded delivery(ies)", len(rows))
    return len(rows)
