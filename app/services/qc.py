"""Quality control of a project, and the hub's management of its projects (WORKFLOW.md §7–9).

    qc assignment: nda_pending -sign-> active -remove-> removed
                   nda_pending -withdraw-> removed

When the company asked for quality control (``Job.qc_requested``), the hub
picks a second expert from the job's ranking (:func:`qc_candidates`,
:func:`assign_qc`). The expert reads an NDA with the hub, rendered for them by
pseudonym, and signs it by typing their name (:func:`sign_qc_nda`); the hub
seals it, and the expert joins the project as a member with the QC role, reading
it from the expert's side. The hub can end the assignment at any time
(:func:`remove_qc`): the membership ends and the expert's live connections are
closed after commit. :func:`set_manager` changes the hub's project manager.

Every function works in the caller's transaction and never commits: views,
admin views and tasks call ``uow.commit()`` after it (``uow.rollback()`` on a
:class:`DomainError`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import joinedload, selectinload

from app import policies, realtime
from app.documents import hub_party, sha256_hex
from app.documents.render import render_qc_nda
from app.documents.templates import QcNdaData
from app.exceptions import DomainError, InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from app.extensions import db
from app.i18n import money
from app.integrations import sealing
from app.integrations.storage import BlobNotFound, get_storage
from app.models import (
    ExpertProfile,
    MatchResult,
    MatchRun,
    MatchRunStatus,
    Project,
    ProjectMember,
    ProjectMilestone,
    ProjectRole,
    ProjectStatus,
    QcAssignment,
    QcStatus,
    Role,
    User,
    VerificationStatus,
)
from app.models.mixins import utcnow
from app.services import audit, contracts, matching, notifications, projects, uow
from app.services.projects import Side
from app.services.transitions import transition
from app.workflows.qc import QC_WORKFLOW

logger = logging.getLogger(__name__)

QC_NDA_PATH = "/projects/qc/{id}"
ADMIN_PROJECT_PATH = "/admin/projects/{id}"
OPEN_STATES = (QcStatus.NDA_PENDING, QcStatus.ACTIVE)
CANDIDATE_LIMIT = 50
MAX_REASON_CHARS = 2000
# The sentence the QC expert confirms next to the typed name (kept in the audit log with the signature).
CONSENT_SENTENCE = _l("I have read this non-disclosure agreement and sign it electronically")

_NOT_FOUND = _l("This quality-control assignment does not exist.")
_PROJECT_NOT_FOUND = _l("This project does not exist or you are not one of its members.")


def _label(project: Project) -> str:
    """The project as notifications name it: contract reference and job."""
    return f"{project.contract.reference} · {project.job}"


def _hub_project(project_id: int, *, actor: User, lock: bool = False) -> Project:
    """A project the hub acts on; 404 for anyone not on it, 403 for its other members."""
    project = db.session.get(Project, project_id, with_for_update=lock)
    side = projects.side_of(actor, project) if project is not None else None
    if project is None or side is None:
        raise NotFound(str(_PROJECT_NOT_FOUND))
    if side is not Side.HUB or not policies.is_staff(actor):
        raise PermissionDenied(_("Only Plasticonnect Hub manages the quality control and the manager of a project."))
    return project


def _open_assignment(project: Project) -> QcAssignment | None:
    return db.session.scalar(
        sa.select(QcAssignment).options(joinedload(QcAssignment.expert).joinedload(ExpertProfile.user))
        .where(QcAssignment.project_id == project.id, QcAssignment.status.in_(OPEN_STATES))
        .order_by(QcAssignment.id.desc()).limit(1)
    )


def _active_expert(expert: ExpertProfile) -> bool:
    return (expert.status is VerificationStatus.APPROVED and expert.user is not None
            and expert.user.suspended_at is None)


# Candidates ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QcCandidate:
    """An expert of the job's ranking, as the QC panel lists them."""

    expert: ExpertProfile
    rank: int | None  # None: excluded by a hard filter of the ranking
    score: float
    reason: str  # why the expert cannot be chosen; "" when they can
    detail: str = ""  # the ranking's (English) wording of an exclusion or conflict

    @property
    def selectable(self) -> bool:
        """Whether the hub may assign this expert."""
        return not self.reason

    @property
    def pseudonym(self) -> str:
        return self.expert.pseudonym


def latest_ranking(project: Project) -> MatchRun | None:
    """The job's latest completed ranking run (what the QC candidates come from), if any."""
    return db.session.scalar(
        sa.select(MatchRun).where(MatchRun.job_id == project.job_id, MatchRun.status == MatchRunStatus.COMPLETED)
        .order_by(MatchRun.id.desc()).limit(1)
    )


def _unavailable(expert: ExpertProfile, project: Project, result: MatchResult | None,
                 taken: set[int]) -> tuple[str, str]:
    """(reason, detail) why ``expert`` cannot be the project's QC expert; ("", "") when they can."""
    if expert.id == project.expert_id:
        return _("the project's own expert"), ""
    if expert.id in taken:
        return _("already the quality-control expert of this project"), ""
    if result is not None and result.exclusion_reason == "conflict":
        return _("conflict of interest with the company"), result.exclusion_detail
    conflict = matching.conflict_with(expert, project.job)
    if conflict:
        return _("conflict of interest with the company"), conflict
    if not _active_expert(expert):
        return _("not a verified, active expert"), ""
    if result is not None and result.exclusion_reason == "language":
        return _("does not speak the job's language"), result.exclusion_detail
    if result is not None and result.exclusion_reason and result.exclusion_reason != "suspended":
        return _("excluded from the ranking"), result.exclusion_detail
    return "", ""


def qc_candidates(project_id: int, *, actor: User, limit: int = CANDIDATE_LIMIT) -> list[QcCandidate]:
    """The experts the hub may choose as the project's QC expert, from the job's latest completed ranking.

    Who: hub staff. The best ranked first (at most ``limit``); then, not
    selectable and each with the reason, the project's own expert, experts
    already QC on the project, experts with a conflict of interest (the
    ranking's or a declared relation found now), unverified or suspended
    experts and the other exclusions of the ranking. Empty when the job has no
    completed ranking: the hub runs one first. Changes nothing.

    :raises NotFound: no such project.
    :raises PermissionDenied: ``actor`` is not hub staff.
    """
    project = _hub_project(project_id, actor=actor)
    run = latest_ranking(project)
    if run is None:
        return []
    results = db.session.scalars(
        sa.select(MatchResult)
        .options(joinedload(MatchResult.expert).joinedload(ExpertProfile.user),
                 joinedload(MatchResult.expert).selectinload(ExpertProfile.employers))
        .where(MatchResult.run_id == run.id)
        .order_by(MatchResult.rank.is_(None), MatchResult.rank, MatchResult.score.desc(), MatchResult.expert_id)
    ).unique().all()
    taken = {e for e in db.session.scalars(sa.select(QcAssignment.expert_id).where(
        QcAssignment.project_id == project.id, QcAssignment.status.in_(OPEN_STATES)))}
    selectable: list[QcCandidate] = []
    others: list[QcCandidate] = []
    for result in results:
        reason, detail = _unavailable(result.expert, project, result, taken)
        candidate = QcCandidate(result.expert, result.rank, float(result.score), reason, detail)
        if candidate.selectable:
            if len(selectable) < limit:
                selectable.append(candidate)
        else:
            others.append(candidate)
    return selectable + others


def default_qc_fee(project: Project) -> int:
    """The QC fee the hub starts from: QC_FEE_PERCENT of the expert price, at most half the hub's fee
    (the QC expert is paid from the hub's fee; the hub keeps the rest). The admin may change it."""
    percent = int(current_app.config.get("QC_FEE_PERCENT", 15))
    contract = project.contract
    return min((contract.expert_price_minor * percent + 50) // 100, contract.fee_minor // 2)


# Assigning -------------------------------------------------------------------------------------


def _nda_pdf(project: Project, expert: ExpertProfile, issued_at: datetime) -> bytes:
    return render_qc_nda(QcNdaData(
        reference=project.contract.reference,
        job_title=str(project.job),
        hub=hub_party(current_app.config),
        expert_pseudonym=expert.pseudonym,
        issued_at=issued_at,
    ))


def assign_qc(project_id: int, *, actor: User, expert_id: int, fee_minor: int) -> QcAssignment:
    """Choose the project's quality-control expert and issue the NDA they sign to join.

    (new) -> NDA_PENDING, audited ``qc_assignment.nda_pending``. Who: hub staff,
    on an active project whose job asked for quality control. The expert must be
    verified and active, not the project's own expert, without a conflict of
    interest with the company (declared relation, or excluded for one by the
    latest ranking); the project may have one open (pending or active) QC
    expert. ``fee_minor`` is paid out of the hub's fee when the funds are
    released, so it lies between 0 and the contract's fee. Effects: the NDA PDF
    (hub and expert by pseudonym, job title and contract reference, no price) is
    stored with its SHA-256; the expert is notified (``qc.assigned``).

    :raises NotFound: no such project.
    :raises PermissionDenied: ``actor`` is not hub staff.
    :raises ValidationFailed: the project is closed, quality control was not requested, or the expert or fee
        cannot be accepted.
    """
    project = _hub_project(project_id, actor=actor, lock=True)
    if project.status is not ProjectStatus.ACTIVE:
        raise ValidationFailed(_("Quality control can only be added to an active project."))
    job = project.job
    if not job.qc_requested:
        raise ValidationFailed(_("The company did not ask for quality control on this job, so no QC expert can be "
                                 "added."))
    expert = db.session.scalar(
        sa.select(ExpertProfile).options(joinedload(ExpertProfile.user), selectinload(ExpertProfile.employers))
        .where(ExpertProfile.id == expert_id)
    )
    if expert is None:
        raise ValidationFailed(_("Choose an expert from the list."))
    current = _open_assignment(project)
    if current is not None:
        raise ValidationFailed(_("This project already has a quality-control expert (Expert %(pseudonym)s). Remove "
                                 "them first to choose another one.", pseudonym=current.expert.pseudonym))
    run = latest_ranking(project)
    result = db.session.scalar(sa.select(MatchResult).where(
        MatchResult.run_id == run.id, MatchResult.expert_id == expert.id)) if run is not None else None
    reason, detail = _unavailable(expert, project, result, set())
    if reason:
        message = _("Expert %(pseudonym)s cannot review this project: %(reason)s.", pseudonym=expert.pseudonym,
                    reason=reason)
        raise ValidationFailed(f"{message} {detail}".strip() if detail else message)
    contract = project.contract
    if fee_minor < 0 or fee_minor > contract.fee_minor:
        raise ValidationFailed(_(
            "The QC fee is paid out of the hub's fee when the funds are released, so it must be between %(low)s and "
            "%(high)s.", low=money(0, contract.currency), high=money(contract.fee_minor, contract.currency)))
    now = utcnow().replace(microsecond=0)
    pdf = _nda_pdf(project, expert, now)
    key = f"projects/{project.id}/qc-nda-{uuid.uuid4().hex}"
    get_storage().put(key, pdf, content_type="application/pdf")
    assignment = QcAssignment(
        project_id=project.id, expert_id=expert.id, status=QcStatus.NDA_PENDING, fee_minor=fee_minor,
        assigned_by_id=actor.id, assigned_at=now, nda_storage_key=key, nda_sha256=sha256_hex(pdf),
    )
    assignment.project = project
    assignment.expert = expert
    db.session.add(assignment)
    db.session.flush()
    audit.record("qc_assignment.nda_pending", actor=actor, entity="qc_assignments", entity_id=assignment.id,
                 to_state=QcStatus.NDA_PENDING.value,
                 data={"project_id": project.id, "expert_id": expert.id, "fee_minor": fee_minor,
                       "nda_sha256": assignment.nda_sha256})
    notifications.notify(expert.user, "qc.assigned", link=QC_NDA_PATH.format(id=assignment.id),
                         project=_label(project))
    return assignment


# The QC expert's side --------------------------------------------------------------------------


def _assignment(assignment_id: int, *, lock: bool = False) -> QcAssignment:
    assignment = db.session.get(QcAssignment, assignment_id, with_for_update=lock)
    if assignment is None:
        raise NotFound(str(_NOT_FOUND))
    return assignment


def _readable(assignment: QcAssignment, actor: User) -> bool:
    """The assignment's expert and hub staff read an assignment; nobody else knows it exists."""
    return policies.is_staff(actor) or policies.owns_expert_profile(actor, assignment.expert)


def load_qc_assignment(assignment_id: int, *, actor: User) -> QcAssignment:
    """An assignment for its QC expert or hub staff.

    :raises NotFound: no such assignment, or ``actor`` is someone else.
    """
    assignment = _assignment(assignment_id)
    if not _readable(assignment, actor):
        raise NotFound(str(_NOT_FOUND))
    return assignment


@dataclass(frozen=True)
class QcNdaPage:
    """What the QC expert reads before signing: the project without any price, the NDA, their fee."""

    assignment: QcAssignment
    reference: str
    job_title: str
    scope: str
    start_date: date
    end_date: date
    milestones: tuple[tuple[str, date], ...]  # (title, due date): no amounts
    fee_minor: int
    currency: str
    can_sign: bool  # the reader is the QC expert and the NDA waits for their signature
    name_to_type: str  # the reader's account name, when they can sign
    project_id: int
    is_member: bool  # the NDA is signed and the assignment is active: the workspace is open


def qc_nda_page(assignment_id: int, *, actor: User) -> QcNdaPage:
    """The QC NDA page for its expert (or hub staff, who read it without the signing form).

    :raises NotFound: no such assignment, or ``actor`` is someone else.
    """
    assignment = load_qc_assignment(assignment_id, actor=actor)
    project = assignment.project
    contract = project.contract
    milestones = db.session.scalars(sa.select(ProjectMilestone).where(ProjectMilestone.project_id == project.id)
                                    .order_by(ProjectMilestone.position)).all()
    mine = policies.owns_expert_profile(actor, assignment.expert)
    can_sign = (mine and assignment.status is QcStatus.NDA_PENDING
                and project.status is ProjectStatus.ACTIVE)
    return QcNdaPage(
        assignment=assignment,
        reference=contract.reference,
        job_title=str(project.job),
        scope=project.job.scope,
        start_date=contract.start_date,
        end_date=contract.end_date,
        milestones=tuple((m.title, m.due_date) for m in milestones),
        fee_minor=assignment.fee_minor,
        currency=contract.currency,
        can_sign=can_sign,
        name_to_type=actor.full_name if can_sign else "",
        project_id=project.id,
        is_member=assignment.status is QcStatus.ACTIVE,
    )


def qc_for_expert(actor: User) -> list[QcAssignment]:
    """The actor's pending and active QC assignments, newest first (empty for anyone but an expert)."""
    expert = actor.expert_profile if actor.role is Role.EXPERT and actor.suspended_at is None else None
    if expert is None:
        return []
    return list(db.session.scalars(
        sa.select(QcAssignment)
        .options(joinedload(QcAssignment.project).joinedload(Project.contract),
                 joinedload(QcAssignment.project).joinedload(Project.job))
        .where(QcAssignment.expert_id == expert.id, QcAssignment.status.in_(OPEN_STATES))
        .order_by(QcAssignment.assigned_at.desc(), QcAssignment.id.desc())
    ).unique())


def _seal(assignment: QcAssignment) -> tuple[str, str]:
    """Seal the stored NDA with the hub's key; the sealed copy's (storage key, SHA-256). Never commits.

    :raises DomainError: the stored NDA is missing or changed, or sealing failed.
    """
    storage = get_storage()
    try:
        original = storage.get(assignment.nda_storage_key)
    except BlobNotFound as exc:
        raise DomainError(_("The NDA is missing from storage; nothing was saved. Please contact the hub.")) from exc
    if sha256_hex(original) != assignment.nda_sha256:
        logger.error("QC NDA of assignment %s does not match its SHA-256", assignment.id)
        raise DomainError(_("The stored NDA does not match what you read; nothing was saved. Please contact the "
                            "hub."))
    key_path, cert_path = contracts.hub_key_paths()  # the contracts' seal: one hub key for every document
    try:
        sealed = sealing.seal_pdf(
            original, reason=f"QC NDA {assignment.project.contract.reference} sealed by Plasticonnect Hub",
            key_path=key_path, cert_path=cert_path,
        )
    except sealing.SealingError as exc:
        logger.error("Sealing the QC NDA of assignment %s failed: %s", assignment.id, exc)
        raise DomainError(_("The NDA could not be sealed; nothing was saved. Please try again or contact the "
                            "hub.")) from exc
    key = f"projects/{assignment.project_id}/qc-nda-sealed-{uuid.uuid4().hex}"
    storage.put(key, sealed, content_type="application/pdf")
    return key, sha256_hex(sealed)


def _join(project: Project, user: User, role: ProjectRole, now: datetime) -> ProjectMember:
    """Make ``user`` an active member with ``role`` (reusing the row of an earlier membership)."""
    member = db.session.scalar(sa.select(ProjectMember).where(
        ProjectMember.project_id == project.id, ProjectMember.user_id == user.id))
    if member is None:
        member = ProjectMember(project_id=project.id, user_id=user.id, role=role, added_at=now)
        db.session.add(member)
    else:
        member.role = role
        member.removed_at = None
        member.added_at = now
    db.session.flush()
    return member


def sign_qc_nda(assignment_id: int, *, actor: User, typed_name: str, document_sha256: str, ip: str | None,
                user_agent: str = "") -> QcAssignment:
    """The QC expert signs the NDA by typing their name (click-wrap) and joins the project.

    NDA_PENDING -> ACTIVE, audited ``qc_assignment.active`` with the signature
    (typed name, IP, user agent, SHA-256, consent). Who: the assignment's expert,
    on an active project. The typed name must be the expert's account name
    (case, accents and repeated spaces ignored) and ``document_sha256`` the
    fingerprint of the NDA they read. Effects: the hub seals the NDA and stores
    the sealed copy; the expert becomes a member with the QC role (reading the
    project from the expert's side); the channel announces ``qc_joined``; hub
    staff are notified (``qc.joined``). ``ip`` comes from the web layer.

    :raises NotFound: no such assignment, or ``actor`` is neither its expert nor hub staff.
    :raises PermissionDenied: ``actor`` is hub staff (only the expert signs).
    :raises InvalidTransition: the NDA is already signed, or the assignment was withdrawn.
    :raises ValidationFailed: the project is closed; an outdated document; the typed name does not match.
    :raises DomainError: the NDA could not be sealed (nothing is saved).
    """
    assignment = _assignment(assignment_id, lock=True)
    if not _readable(assignment, actor):
        raise NotFound(str(_NOT_FOUND))
    expert = assignment.expert
    if not policies.owns_expert_profile(actor, expert):
        raise PermissionDenied(_("Only the quality-control expert signs this NDA."))
    if assignment.status is not QcStatus.NDA_PENDING:
        message = (_("You already signed this NDA.") if assignment.status is QcStatus.ACTIVE
                   else _("Plasticonnect Hub withdrew this assignment; the NDA can no longer be signed."))
        raise InvalidTransition(QC_WORKFLOW.name, assignment.status, QcStatus.ACTIVE, message)
    project = db.session.get(Project, assignment.project_id, with_for_update=True)
    assert project is not None  # a foreign key
    if project.status is not ProjectStatus.ACTIVE:
        raise ValidationFailed(_("This project is closed; the NDA can no longer be signed."))
    if expert.status is not VerificationStatus.APPROVED:
        raise ValidationFailed(_("Your expert profile is not verified at the moment, so you cannot join the "
                                 "project. Please contact the hub."))
    if (document_sha256 or "").strip().lower() != assignment.nda_sha256:
        raise ValidationFailed(_("This document changed since you opened it; read the current version and sign "
                                 "again."))
    if not contracts.normalized_name(typed_name) or \
            contracts.normalized_name(typed_name) != contracts.normalized_name(actor.full_name):
        raise ValidationFailed(_("The name you typed is not the name of your account. Type your full name as "
                                 "shown above the field (capitals and accents do not matter)."))
    now = utcnow()
    sealed_key, sealed_sha = _seal(assignment)
    assignment.signed_at = now
    assignment.typed_name = " ".join(typed_name.split())[:160]
    assignment.signer_ip = ip[:45] if ip else None
    assignment.signer_user_agent = (user_agent or "")[:255]
    assignment.sealed_storage_key = sealed_key
    assignment.sealed_sha256 = sealed_sha
    transition(assignment, QC_WORKFLOW, QcStatus.ACTIVE, actor=actor, project_id=project.id,
               sha256=assignment.nda_sha256, sealed_sha256=sealed_sha, typed_name=assignment.typed_name,
               ip=assignment.signer_ip, user_agent=assignment.signer_user_agent, consent=str(CONSENT_SENTENCE))
    _join(project, actor, ProjectRole.QC, now)
    projects.system_message(project, "qc_joined")
    notifications.notify_staff("qc.joined", link=ADMIN_PROJECT_PATH.format(id=project.id), project=_label(project),
                               pseudonym=expert.pseudonym)
    return assignment


def open_qc_nda(assignment_id: int, *, actor: User, sealed: bool = False, inline: bool = False) -> tuple[str, bytes]:
    """The NDA as issued, or its sealed copy, for the QC expert or hub staff; the read is audited.

    Audited ``qc_assignment.nda_downloaded`` (``qc_assignment.nda_viewed`` for an inline preview).

    :raises NotFound: no such assignment, someone else's, no sealed copy yet, or the file is gone.
    """
    assignment = load_qc_assignment(assignment_id, actor=actor)
    key = assignment.sealed_storage_key if sealed else assignment.nda_storage_key
    if key is None:
        raise NotFound(_("The sealed NDA exists once the quality-control expert has signed."))
    try:
        data = get_storage().get(key)
    except BlobNotFound as exc:
        raise NotFound(_("This file is no longer available. Please contact the hub.")) from exc
    audit.record("qc_assignment.nda_viewed" if inline else "qc_assignment.nda_downloaded", actor=actor,
                 entity="qc_assignments", entity_id=assignment.id,
                 data={"project_id": assignment.project_id, "which": "sealed" if sealed else "original",
                       "sha256": sha256_hex(data)})
    reference = assignment.project.contract.reference
    return f"{reference}-qc-nda{'-sealed' if sealed else ''}.pdf", data


# The hub ends an assignment, changes the manager ----------------------------------------------


def remove_qc(assignment_id: int, *, actor: User, reason: str) -> QcAssignment:
    """End a QC assignment: withdraw a pending NDA, or take an active QC expert off the project.

    NDA_PENDING | ACTIVE -> REMOVED, audited ``qc_assignment.removed`` with the
    reason. Who: hub staff; a reason is required (the expert reads it). Effects:
    ``removed_at`` and the reason are kept; an active expert's membership ends
    (``removed_at``), the channel announces ``qc_left`` and, after commit, every
    live connection of the expert is closed; the expert is notified
    (``qc.removed``).

    :raises NotFound: no such assignment (or not one ``actor`` may know).
    :raises PermissionDenied: ``actor`` is not hub staff.
    :raises ValidationFailed: no reason given.
    :raises InvalidTransition: the assignment is already removed.
    """
    assignment = _assignment(assignment_id, lock=True)
    if not _readable(assignment, actor):
        raise NotFound(str(_NOT_FOUND))
    if not policies.is_staff(actor):
        raise PermissionDenied(_("Only Plasticonnect Hub ends a quality-control assignment."))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("Give a reason: the quality-control expert reads it."))
    if len(reason) > MAX_REASON_CHARS:
        raise ValidationFailed(_("Keep the reason under %(max)d characters.", max=MAX_REASON_CHARS))
    if assignment.status is QcStatus.REMOVED:
        raise InvalidTransition(QC_WORKFLOW.name, assignment.status, QcStatus.REMOVED,
                                _("This quality-control assignment has already ended."))
    project = assignment.project
    was_member = assignment.status is QcStatus.ACTIVE
    now = utcnow()
    transition(assignment, QC_WORKFLOW, QcStatus.REMOVED, actor=actor, project_id=project.id, reason=reason)
    assignment.removed_at = now
    assignment.status_note = reason
    user = assignment.expert.user
    if was_member:
        member = db.session.scalar(sa.select(ProjectMember).where(
            ProjectMember.project_id == project.id, ProjectMember.user_id == user.id,
            ProjectMember.role == ProjectRole.QC, ProjectMember.removed_at.is_(None)))
        if member is not None:
            member.removed_at = now
        db.session.flush()
        projects.system_message(project, "qc_left")
        uow.after_commit(realtime.disconnect_user, user.id)
    notifications.notify(user, "qc.removed", link=QC_NDA_PATH.format(id=assignment.id), project=_label(project),
                         reason=reason)
    return assignment


def manager_choices() -> list[User]:
    """The staff who may manage a project: active hub admins with two-factor authentication, by name."""
    return list(db.session.scalars(
        sa.select(User).where(User.role == Role.ADMIN, User.suspended_at.is_(None),
                              User.totp_enabled_at.is_not(None))
        .order_by(User.full_name, User.id)
    ))


def set_manager(project_id: int, *, actor: User, manager_id: int) -> Project:
    """Make another hub admin the project's manager (the MANAGER member row is replaced).

    No state change; audited ``project.manager_changed`` (from, to). Who: hub
    staff. The new manager must be an active hub admin with two-factor
    authentication, other than the current one. The previous manager's
    membership ends (as staff they still read every project).

    :raises NotFound: no such project.
    :raises PermissionDenied: ``actor`` is not hub staff.
    :raises ValidationFailed: the chosen user cannot manage projects, or already manages this one.
    """
    project = _hub_project(project_id, actor=actor, lock=True)
    manager = db.session.get(User, manager_id)
    if manager is None or manager.role is not Role.ADMIN or manager.suspended_at is not None \
            or not manager.totp_enabled:
        raise ValidationFailed(_("Choose an active hub admin with two-factor authentication."))
    if project.manager_id == manager.id:
        raise ValidationFailed(_("%(name)s already manages this project.", name=manager.full_name))
    now = utcnow()
    previous = project.manager_id
    old_rows: Sequence[ProjectMember] = db.session.scalars(sa.select(ProjectMember).where(
        ProjectMember.project_id == project.id, ProjectMember.role == ProjectRole.MANAGER,
        ProjectMember.removed_at.is_(None), ProjectMember.user_id != manager.id)).all()
    for row in old_rows:
        row.removed_at = now
    _join(project, manager, ProjectRole.MANAGER, now)
    project.manager_id = manager.id
    audit.record("project.manager_changed", actor=actor, entity="projects", entity_id=project.id,
                 data={"from": previous, "to": manager.id})
    return project
