"""Quality control of a project: candidates, assignment rules, the NDA signature, removal, the manager."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from app.documents import sha256_hex
from app.exceptions import InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from app.extensions import db
from app.integrations import sealing
from app.integrations.storage import get_storage
from app.models import (
    AuditEvent,
    EmployerRelation,
    ExpertEmployer,
    ExpertProfile,
    Notification,
    Project,
    ProjectMember,
    ProjectMessage,
    ProjectRole,
    QcAssignment,
    QcStatus,
    Role,
    User,
    VerificationStatus,
)
from app.models.mixins import utcnow
from app.realtime import _sids_key
from app.services import projects, qc, uow
from app.services.projects import Side
from app.tasks.queue import connection
from app.workflows.qc import QC_WORKFLOW
from tests.services.test_contracts import hub_seal, hub_seal_dir  # noqa: F401  (fixtures)

QC_NAME = "Quinn Müller-Castro"


@dataclass
class World:
    project: Project
    staff: User
    owner: User
    member: User
    expert: User  # the project's own expert
    candidate: ExpertProfile  # the expert the hub will pick
    other: ExpertProfile  # a second selectable expert

    @property
    def qc_user(self) -> User:
        return self.candidate.user


def _world(f: Any, *, qc_requested: bool = True, ranked: bool = True) -> World:
    project = f.project(members=2)
    project.job.qc_requested = qc_requested
    staff = db.session.get(User, project.manager_id)
    company_users = [m.user for m in project.members if m.role is ProjectRole.COMPANY]
    candidate = f.expert(user=f.user(role=Role.EXPERT, full_name=QC_NAME), pseudonym="Q7QC")
    other = f.expert(pseudonym="O8TH")
    if ranked:
        f.match_run(project.job, ranked=(project.contract.expert, candidate, other))
    uow.commit()
    return World(project, staff, company_users[0], company_users[1], project.contract.expert.user, candidate, other)


@pytest.fixture
def world(f: Any) -> World:
    return _world(f)


def _assign(w: World, expert: ExpertProfile | None = None, *, fee: int = 30000) -> QcAssignment:
    assignment = qc.assign_qc(w.project.id, actor=w.staff, expert_id=(expert or w.candidate).id, fee_minor=fee)
    uow.commit()
    return assignment


def _sign(w: World, assignment: QcAssignment, **overrides: Any) -> QcAssignment:
    values: dict[str, Any] = {"typed_name": "  quinn  MULLER-castro ", "document_sha256": assignment.nda_sha256,
                              "ip": "203.0.113.7", "user_agent": "QCBrowser/1.0"}
    values.update(overrides)
    signed = qc.sign_qc_nda(assignment.id, actor=w.qc_user, **values)
    uow.commit()
    return signed


def _actions(entity: str, entity_id: int) -> list[str]:
    return list(db.session.scalars(sa.select(AuditEvent.action).where(
        AuditEvent.entity == entity, AuditEvent.entity_id == entity_id).order_by(AuditEvent.id)))


def _notes(user: User, kind: str) -> list[Notification]:
    return list(db.session.scalars(sa.select(Notification).where(Notification.user_id == user.id,
                                                                 Notification.kind == kind)))


def _system_keys(project: Project) -> list[str]:
    bodies = db.session.scalars(sa.select(ProjectMessage.body).where(
        ProjectMessage.project_id == project.id, ProjectMessage.author_id.is_(None)).order_by(ProjectMessage.id))
    return [b for b in bodies if '"qc_' in b]


# The workflow --------------------------------------------------------------------------------


def test_the_qc_table_covers_every_state_and_ends_in_removed():
    assert QC_WORKFLOW.states == frozenset(QcStatus)
    assert QC_WORKFLOW.targets(QcStatus.NDA_PENDING) == {QcStatus.ACTIVE, QcStatus.REMOVED}
    assert QC_WORKFLOW.targets(QcStatus.ACTIVE) == {QcStatus.REMOVED}
    assert {s for s in QcStatus if QC_WORKFLOW.is_terminal(s)} == {QcStatus.REMOVED}


# Candidates -----------------------------------------------------------------------------------


def test_candidates_come_from_the_ranking_best_first_with_reasons(f, world):
    conflicted = f.expert(pseudonym="C9NF")
    suspended = f.expert(pseudonym="S5US")
    suspended.user.suspended_at = utcnow()
    f.match_run(world.project.job, ranked=(world.project.contract.expert, world.other, world.candidate, suspended),
                excluded=((conflicted, "conflict", "Declared former employer “Molder” matches the company"),))
    uow.commit()

    candidates = qc.qc_candidates(world.project.id, actor=world.staff)

    by_pseudonym = {c.pseudonym: c for c in candidates}
    assert [c.pseudonym for c in candidates if c.selectable] == ["O8TH", "Q7QC"]  # the latest run's order
    assert by_pseudonym["O8TH"].rank == 2 and by_pseudonym["O8TH"].score > by_pseudonym["Q7QC"].score
    own = by_pseudonym[world.project.contract.expert.pseudonym]
    assert not own.selectable and own.reason == "the project's own expert"
    assert by_pseudonym["C9NF"].reason == "conflict of interest with the company"
    assert "former employer" in by_pseudonym["C9NF"].detail and by_pseudonym["C9NF"].rank is None
    assert by_pseudonym["S5US"].reason == "not a verified, active expert"
    assert [c.selectable for c in candidates][:2] == [True, True]  # selectable ones come first


def test_candidates_mark_a_declared_conflict_and_the_current_qc(f, world):
    db.session.add(ExpertEmployer(expert_id=world.other.id, name=world.project.job.company.name,
                                  relation=EmployerRelation.SUPPLIER))
    uow.commit()
    _assign(world)

    candidates = {c.pseudonym: c for c in qc.qc_candidates(world.project.id, actor=world.staff)}

    assert candidates["O8TH"].reason == "conflict of interest with the company"
    assert "supplier relation" in candidates["O8TH"].detail
    assert candidates["Q7QC"].reason == "already the quality-control expert of this project"


def test_no_ranking_means_no_candidates(f):
    w = _world(f, ranked=False)
    assert qc.qc_candidates(w.project.id, actor=w.staff) == []
    assert qc.latest_ranking(w.project) is None


@pytest.mark.parametrize("who", ["owner", "expert", "stranger"])
def test_only_the_hub_sees_candidates(f, world, who):
    actor = {"owner": world.owner, "expert": world.expert, "stranger": f.expert().user}[who]
    with pytest.raises(PermissionDenied if who != "stranger" else NotFound):
        qc.qc_candidates(world.project.id, actor=actor)


# Assigning ------------------------------------------------------------------------------------


def test_assign_issues_the_nda_and_notifies_the_expert(world):
    assignment = _assign(world, fee=45000)

    assert assignment.status is QcStatus.NDA_PENDING and assignment.fee_minor == 45000
    assert assignment.assigned_by_id == world.staff.id
    pdf = get_storage().get(assignment.nda_storage_key)
    assert sha256_hex(pdf) == assignment.nda_sha256
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "Expert Q7QC" in text and world.project.contract.reference in text
    assert QC_NAME not in text and "4,600.00" not in text and "€" not in text  # no real name, no price
    [note] = _notes(world.qc_user, "qc.assigned")
    assert note.link == f"/projects/qc/{assignment.id}"
    assert note.params["project"] == f"{world.project.contract.reference} · {world.project.job}"
    assert _actions("qc_assignments", assignment.id) == ["qc_assignment.nda_pending"]
    assert projects.side_of(world.qc_user, world.project) is None  # not on the project before signing


@pytest.mark.parametrize("who", ["owner", "member", "expert"])
def test_members_other_than_the_hub_cannot_assign(world, who):
    actor = getattr(world, who)
    with pytest.raises(PermissionDenied):
        qc.assign_qc(world.project.id, actor=actor, expert_id=world.candidate.id, fee_minor=0)
    uow.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(QcAssignment)) == 0


def test_someone_not_on_the_project_is_told_it_does_not_exist(f, world):
    with pytest.raises(NotFound):
        qc.assign_qc(world.project.id, actor=world.candidate.user, expert_id=world.other.id, fee_minor=0)
    with pytest.raises(NotFound):
        qc.assign_qc(999_999, actor=world.staff, expert_id=world.other.id, fee_minor=0)


def test_no_qc_when_the_company_did_not_ask_for_it(f):
    w = _world(f, qc_requested=False)
    with pytest.raises(ValidationFailed, match="did not ask for quality control"):
        qc.assign_qc(w.project.id, actor=w.staff, expert_id=w.candidate.id, fee_minor=0)


def test_the_assigned_expert_cannot_review_their_own_work(world):
    with pytest.raises(ValidationFailed, match="the project's own expert"):
        qc.assign_qc(world.project.id, actor=world.staff, expert_id=world.project.expert_id, fee_minor=0)


def test_a_conflicted_expert_is_refused(world):
    db.session.add(ExpertEmployer(expert_id=world.candidate.id, name=world.project.job.company.name,
                                  relation=EmployerRelation.FORMER))
    uow.commit()
    with pytest.raises(ValidationFailed, match="conflict of interest") as caught:
        qc.assign_qc(world.project.id, actor=world.staff, expert_id=world.candidate.id, fee_minor=0)
    assert "former employer" in str(caught.value)


def test_an_expert_the_ranking_excluded_for_a_conflict_is_refused(f, world):
    f.match_run(world.project.job, ranked=(world.other,),
                excluded=((world.candidate, "conflict", "Declared competitor relation “Rival” matches the company"),))
    uow.commit()
    with pytest.raises(ValidationFailed, match="conflict of interest"):
        qc.assign_qc(world.project.id, actor=world.staff, expert_id=world.candidate.id, fee_minor=0)


@pytest.mark.parametrize("status", [VerificationStatus.PENDING_VERIFICATION, VerificationStatus.SUSPENDED])
def test_an_unverified_or_suspended_expert_is_refused(world, status):
    world.candidate.status = status
    uow.commit()
    with pytest.raises(ValidationFailed, match="not a verified, active expert"):
        qc.assign_qc(world.project.id, actor=world.staff, expert_id=world.candidate.id, fee_minor=0)


def test_a_second_qc_is_refused_until_the_first_is_removed(world):
    first = _assign(world)
    with pytest.raises(ValidationFailed, match="already has a quality-control expert"):
        qc.assign_qc(world.project.id, actor=world.staff, expert_id=world.other.id, fee_minor=0)
    uow.rollback()
    qc.remove_qc(first.id, actor=world.staff, reason="Not available after all.")
    uow.commit()
    second = _assign(world, world.other)
    assert second.status is QcStatus.NDA_PENDING


@pytest.mark.parametrize(("fee", "ok"), [(-1, False), (0, True), (60000, True), (60001, False)])
def test_the_fee_lies_between_zero_and_the_hubs_fee(world, fee, ok):
    assert world.project.contract.fee_minor == 60000
    if ok:
        assert _assign(world, fee=fee).fee_minor == fee
    else:
        with pytest.raises(ValidationFailed, match="paid out of the hub's fee"):
            qc.assign_qc(world.project.id, actor=world.staff, expert_id=world.candidate.id, fee_minor=fee)


def test_no_qc_on_a_closed_project(world):
    from app.models import ProjectStatus
    from app.services.transitions import transition
    from app.workflows.contracts import PROJECT_WORKFLOW

    transition(world.project, PROJECT_WORKFLOW, ProjectStatus.CANCELLED, actor=world.staff)
    uow.commit()
    with pytest.raises(ValidationFailed, match="active project"):
        qc.assign_qc(world.project.id, actor=world.staff, expert_id=world.candidate.id, fee_minor=0)


def test_default_fee_is_the_configured_share_of_the_expert_price(app, world):
    contract = world.project.contract
    app.config["QC_FEE_PERCENT"] = 1
    assert qc.default_qc_fee(world.project) == contract.expert_price_minor // 100
    app.config["QC_FEE_PERCENT"] = 90
    assert qc.default_qc_fee(world.project) == contract.fee_minor // 2  # the hub keeps at least half its fee


# Signing the NDA ------------------------------------------------------------------------------


@pytest.mark.parametrize(("overrides", "message"), [
    ({"typed_name": "Quinn Somebody"}, "not the name of your account"),
    ({"typed_name": ""}, "not the name of your account"),
    ({"document_sha256": "a" * 64}, "changed since you opened it"),
])
def test_a_wrong_name_or_fingerprint_changes_nothing(world, overrides, message):
    assignment = _assign(world)
    with pytest.raises(ValidationFailed, match=message):
        _sign(world, assignment, **overrides)
    uow.rollback()
    assignment = db.session.get(QcAssignment, assignment.id)
    assert assignment.status is QcStatus.NDA_PENDING and assignment.signed_at is None
    assert assignment.sealed_storage_key is None
    assert projects.side_of(world.qc_user, world.project) is None


def test_signing_seals_the_nda_and_makes_a_qc_member(world):
    assignment = _assign(world)
    _sign(world, assignment)

    assignment = db.session.get(QcAssignment, assignment.id)
    assert assignment.status is QcStatus.ACTIVE and assignment.signed_at is not None
    assert assignment.typed_name == "quinn MULLER-castro"
    assert assignment.signer_ip == "203.0.113.7" and assignment.signer_user_agent == "QCBrowser/1.0"
    sealed = get_storage().get(assignment.sealed_storage_key)
    assert sha256_hex(sealed) == assignment.sealed_sha256
    check = sealing.verify_sealed_pdf(sealed, cert_path=qc.contracts.hub_key_paths()[1])
    assert check.ok
    verdict = qc.contracts.verify_upload(sealed)  # the public /verify page knows it
    assert verdict.verdict == "on_record" and "quality-control NDA" in verdict.message
    assert verdict.reference == world.project.contract.reference
    member = db.session.scalar(sa.select(ProjectMember).where(ProjectMember.project_id == world.project.id,
                                                              ProjectMember.user_id == world.qc_user.id))
    assert member.role is ProjectRole.QC and member.removed_at is None
    project, side = projects.load_project(world.project.id, actor=world.qc_user)
    assert side is Side.EXPERT and projects.side_of(world.qc_user, world.project) is Side.EXPERT
    page = projects.history(world.project.id, actor=world.qc_user)
    assert page.messages  # reads the channel, from the welcome message on
    assert _system_keys(world.project) == ['§{"key": "qc_joined"}']
    [note] = _notes(world.staff, "qc.joined")
    assert note.params["pseudonym"] == "Q7QC" and note.link == f"/admin/projects/{world.project.id}"
    assert _actions("qc_assignments", assignment.id) == ["qc_assignment.nda_pending", "qc_assignment.active"]
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "qc_assignment.active"))
    assert event.actor_id == world.qc_user.id and event.from_state == "nda_pending"
    assert event.data["typed_name"] == "quinn MULLER-castro" and event.data["ip"] == "203.0.113.7"
    assert event.data["sha256"] == assignment.nda_sha256 and event.data["consent"]


def test_only_the_chosen_expert_signs_and_only_once(f, world):
    assignment = _assign(world)
    with pytest.raises(PermissionDenied):
        qc.sign_qc_nda(assignment.id, actor=world.staff, typed_name=world.staff.full_name,
                       document_sha256=assignment.nda_sha256, ip=None)
    for stranger in (world.other.user, world.owner, world.expert):
        with pytest.raises(NotFound):
            qc.sign_qc_nda(assignment.id, actor=stranger, typed_name=stranger.full_name,
                           document_sha256=assignment.nda_sha256, ip=None)
    _sign(world, assignment)
    with pytest.raises(InvalidTransition, match="already signed"):
        _sign(world, assignment)


def test_a_withdrawn_nda_cannot_be_signed(world):
    assignment = _assign(world)
    qc.remove_qc(assignment.id, actor=world.staff, reason="Chose someone else.")
    uow.commit()
    with pytest.raises(InvalidTransition, match="withdrew"):
        _sign(world, assignment)


def test_the_company_reads_the_qc_expert_by_pseudonym_only(world):
    _sign(world, _assign(world))
    projects.post_message(world.project, world.qc_user, "The wall thickness study looks sound.")
    uow.commit()

    for reader in (world.owner, world.member):
        [view] = [m for m in projects.history(world.project.id, actor=reader).messages if m.author_side == "qc"]
        assert view.author == "Quality control · Expert Q7QC"
        assert QC_NAME not in view.author and world.qc_user.email not in view.author
    staff_view = [m for m in projects.history(world.project.id, actor=world.staff).messages
                  if m.author_side == "qc"]
    assert staff_view[0].text == "The wall thickness study looks sound."


# Removing -------------------------------------------------------------------------------------


def test_removal_ends_membership_and_disconnects_after_commit(world):
    assignment = _assign(world)
    _sign(world, assignment)
    redis = connection()
    redis.sadd(_sids_key(world.qc_user.id), "sid-of-the-qc-expert")

    qc.remove_qc(assignment.id, actor=world.staff, reason="The review is complete.")
    assert redis.exists(_sids_key(world.qc_user.id))  # nothing happens before the commit
    uow.commit()

    assert not redis.exists(_sids_key(world.qc_user.id))  # realtime.disconnect_user ran
    assignment = db.session.get(QcAssignment, assignment.id)
    assert assignment.status is QcStatus.REMOVED and assignment.removed_at is not None
    assert assignment.status_note == "The review is complete."
    member = db.session.scalar(sa.select(ProjectMember).where(ProjectMember.user_id == world.qc_user.id))
    assert member.removed_at is not None
    with pytest.raises(NotFound):
        projects.load_project(world.project.id, actor=world.qc_user)
    with pytest.raises(NotFound):
        projects.history(world.project.id, actor=world.qc_user)
    assert _system_keys(world.project) == ['§{"key": "qc_joined"}', '§{"key": "qc_left"}']
    [note] = _notes(world.qc_user, "qc.removed")
    assert note.params["reason"] == "The review is complete."
    assert _actions("qc_assignments", assignment.id)[-1] == "qc_assignment.removed"
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "qc_assignment.removed"))
    assert event.from_state == "active" and event.data["reason"] == "The review is complete."


def test_a_rolled_back_removal_disconnects_nobody(world):
    assignment = _assign(world)
    _sign(world, assignment)
    redis = connection()
    redis.sadd(_sids_key(world.qc_user.id), "still-connected")
    qc.remove_qc(assignment.id, actor=world.staff, reason="Oops.")
    uow.rollback()
    uow.commit()
    assert redis.exists(_sids_key(world.qc_user.id))
    assert projects.side_of(world.qc_user, world.project) is Side.EXPERT
    redis.delete(_sids_key(world.qc_user.id))


def test_withdrawing_a_pending_nda_tells_only_the_expert(world):
    assignment = _assign(world)
    qc.remove_qc(assignment.id, actor=world.staff, reason="Chose someone else.")
    uow.commit()
    assert db.session.get(QcAssignment, assignment.id).status is QcStatus.REMOVED
    assert _system_keys(world.project) == []  # the company never heard of this expert
    assert _notes(world.qc_user, "qc.removed")


def test_removal_needs_the_hub_and_a_reason(world):
    assignment = _assign(world)
    _sign(world, assignment)
    with pytest.raises(ValidationFailed, match="Give a reason"):
        qc.remove_qc(assignment.id, actor=world.staff, reason="   ")
    with pytest.raises(PermissionDenied):
        qc.remove_qc(assignment.id, actor=world.qc_user, reason="I quit.")
    with pytest.raises(NotFound):
        qc.remove_qc(assignment.id, actor=world.owner, reason="We do not want QC.")
    qc.remove_qc(assignment.id, actor=world.staff, reason="Done.")
    uow.commit()
    with pytest.raises(InvalidTransition):
        qc.remove_qc(assignment.id, actor=world.staff, reason="Again.")


def test_a_removed_expert_can_be_chosen_again_and_rejoin(world):
    first = _assign(world)
    _sign(world, first)
    qc.remove_qc(first.id, actor=world.staff, reason="Paused.")
    uow.commit()
    second = _assign(world)
    _sign(world, second)
    rows = db.session.scalars(sa.select(ProjectMember).where(ProjectMember.user_id == world.qc_user.id)).all()
    assert len(rows) == 1 and rows[0].removed_at is None and rows[0].role is ProjectRole.QC
    assert projects.side_of(world.qc_user, world.project) is Side.EXPERT


# Reading the NDA, the expert's list ------------------------------------------------------------


def test_the_nda_is_read_by_the_qc_expert_and_the_hub_only(f, world):
    assignment = _assign(world)
    name, data = qc.open_qc_nda(assignment.id, actor=world.qc_user)
    uow.commit()
    assert name == f"{world.project.contract.reference}-qc-nda.pdf" and data.startswith(b"%PDF")
    with pytest.raises(NotFound):
        qc.open_qc_nda(assignment.id, actor=world.qc_user, sealed=True)  # not signed yet
    for stranger in (world.owner, world.expert, world.other.user):
        with pytest.raises(NotFound):
            qc.open_qc_nda(assignment.id, actor=stranger)
    _sign(world, assignment)
    name, sealed = qc.open_qc_nda(assignment.id, actor=world.staff, sealed=True)
    uow.commit()
    assert name.endswith("-qc-nda-sealed.pdf") and sha256_hex(sealed) == assignment.sealed_sha256
    assert _actions("qc_assignments", assignment.id).count("qc_assignment.nda_downloaded") == 2


def test_qc_for_expert_lists_pending_and_active_assignments(f, world):
    assert qc.qc_for_expert(world.qc_user) == []
    assignment = _assign(world)
    assert qc.qc_for_expert(world.qc_user) == [assignment]
    _sign(world, assignment)
    assert qc.qc_for_expert(world.qc_user) == [assignment]
    qc.remove_qc(assignment.id, actor=world.staff, reason="Done.")
    uow.commit()
    assert qc.qc_for_expert(world.qc_user) == []
    assert qc.qc_for_expert(world.owner) == [] and qc.qc_for_expert(world.staff) == []


def test_the_nda_page_shows_no_price(world):
    assignment = _assign(world)
    page = qc.qc_nda_page(assignment.id, actor=world.qc_user)
    assert page.can_sign and page.name_to_type == QC_NAME and page.fee_minor == 30000
    assert [title for title, _due in page.milestones] == ["Study", "Report"]
    assert not hasattr(page, "client_price_minor")
    staff_page = qc.qc_nda_page(assignment.id, actor=world.staff)
    assert not staff_page.can_sign and staff_page.name_to_type == ""


# The project manager ----------------------------------------------------------------------------


def test_set_manager_replaces_the_manager_row(f, world):
    new = f.admin(full_name="Nora Newman", totp_enabled_at=utcnow())
    uow.commit()
    qc.set_manager(world.project.id, actor=world.staff, manager_id=new.id)
    uow.commit()

    project = db.session.get(Project, world.project.id)
    assert project.manager_id == new.id
    managers = db.session.scalars(sa.select(ProjectMember).where(
        ProjectMember.project_id == project.id, ProjectMember.role == ProjectRole.MANAGER)).all()
    assert {(m.user_id, m.removed_at is None) for m in managers} == {(world.staff.id, False), (new.id, True)}
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "project.manager_changed"))
    assert event.data == {"from": world.staff.id, "to": new.id} and event.actor_id == world.staff.id
    # the old manager comes back: their row is reused
    qc.set_manager(world.project.id, actor=new, manager_id=world.staff.id)
    uow.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ProjectMember).where(
        ProjectMember.user_id == world.staff.id)) == 1


def test_set_manager_refusals(f, world):
    no_2fa = f.admin(full_name="No Factor")
    suspended = f.admin(full_name="Gone", totp_enabled_at=utcnow(), suspended_at=utcnow())
    uow.commit()
    for candidate in (no_2fa, suspended, world.expert, world.owner):
        with pytest.raises(ValidationFailed, match="two-factor"):
            qc.set_manager(world.project.id, actor=world.staff, manager_id=candidate.id)
    with pytest.raises(ValidationFailed, match="already manages"):
        qc.set_manager(world.project.id, actor=world.staff, manager_id=world.staff.id)
    with pytest.raises(PermissionDenied):
        qc.set_manager(world.project.id, actor=world.owner, manager_id=world.staff.id)
    assert [u.id for u in qc.manager_choices()] == [world.staff.id]
