"""The plan of a project: the milestone and task machines, progress updates, the plan page and the overdue sweep."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from freezegun import freeze_time

from app.exceptions import ConcurrentUpdate, InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from app.extensions import db
from app.models import (
    AuditEvent,
    MessageKind,
    MilestoneStatus,
    Notification,
    ProgressUpdate,
    Project,
    ProjectMember,
    ProjectMessage,
    ProjectMilestone,
    ProjectRole,
    ProjectStatus,
    ProjectTask,
    TaskStatus,
    User,
)
from app.services import project_plan, projects, uow
from app.services.projects import Side
from app.services.transitions import transition
from app.tasks.projects import remind_overdue_milestones
from app.workflows.contracts import PROJECT_WORKFLOW
from app.workflows.projects import MILESTONE_WORKFLOW, TASK_WORKFLOW

M = MilestoneStatus
T = TaskStatus
EMAIL = "write to jane.doe@example.com"


@dataclass
class Scene:
    project: Project
    owner: User
    colleague: User
    expert: User
    hub: User
    study: ProjectMilestone
    report: ProjectMilestone


@pytest.fixture
def scene(f: Any) -> Scene:
    project = f.project(members=2)
    company = projects.member_users(project, side=Side.COMPANY)
    (expert,) = projects.member_users(project, side=Side.EXPERT)
    (hub,) = projects.member_users(project, side=Side.HUB)
    study, report = db.session.scalars(sa.select(ProjectMilestone).where(ProjectMilestone.project_id == project.id)
                                       .order_by(ProjectMilestone.position)).all()
    uow.commit()
    return Scene(project, company[0], company[1], expert, hub, study, report)


def _qc(f: Any, project: Project) -> User:
    qc = f.expert().user
    db.session.add(ProjectMember(project_id=project.id, user_id=qc.id, role=ProjectRole.QC))
    uow.commit()
    return qc


def _audits(action: str, entity_id: int | None = None) -> list[AuditEvent]:
    query = sa.select(AuditEvent).where(AuditEvent.action == action)
    if entity_id is not None:
        query = query.where(AuditEvent.entity_id == entity_id)
    return list(db.session.scalars(query.order_by(AuditEvent.id)))


def _notes(user: User, kind: str) -> list[Notification]:
    return list(db.session.scalars(sa.select(Notification).where(Notification.user_id == user.id,
                                                                 Notification.kind == kind)
                                   .order_by(Notification.id)))


def _system(project: Project) -> list[str]:
    """The rendered platform messages of the channel, oldest first."""
    rows = db.session.scalars(sa.select(ProjectMessage).where(ProjectMessage.project_id == project.id,
                                                              ProjectMessage.author_id.is_(None))
                              .order_by(ProjectMessage.id))
    return [projects.render_system(m.body) for m in rows]


def _count(model: Any) -> int:
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def _close(project: Project, hub: User) -> None:
    transition(project, PROJECT_WORKFLOW, ProjectStatus.CANCELLED, actor=hub)
    uow.commit()


# The tables ---------------------------------------------------------------------------------

MILESTONE_PAIRS = {(M.PLANNED, M.IN_PROGRESS), (M.PLANNED, M.DONE), (M.IN_PROGRESS, M.DONE), (M.DONE, M.IN_PROGRESS)}
TASK_PAIRS = {(T.TODO, T.DOING), (T.TODO, T.DONE), (T.DOING, T.TODO), (T.DOING, T.DONE), (T.DONE, T.DOING)}


def test_milestone_table_is_the_design() -> None:
    assert MILESTONE_WORKFLOW.states == set(M)
    assert {(a, b) for a in M for b in M if MILESTONE_WORKFLOW.allows(a, b)} == MILESTONE_PAIRS
    assert not any(MILESTONE_WORKFLOW.is_terminal(s) for s in M)


def test_task_table_is_the_design() -> None:
    assert TASK_WORKFLOW.states == set(T)
    assert {(a, b) for a in T for b in T if TASK_WORKFLOW.allows(a, b)} == TASK_PAIRS
    with pytest.raises(InvalidTransition, match="done"):
        TASK_WORKFLOW.check(T.DONE, T.TODO)


# Milestones ---------------------------------------------------------------------------------


def test_the_expert_starts_and_completes_a_milestone(scene: Scene) -> None:
    project_plan.start_milestone(scene.study.id, actor=scene.expert)
    uow.commit()
    assert scene.study.status is M.IN_PROGRESS
    (event,) = _audits("milestone.in_progress", scene.study.id)
    assert (event.actor_id, event.from_state, event.to_state) == (scene.expert.id, "planned", "in_progress")

    project_plan.complete_milestone(scene.study.id, actor=scene.expert)
    uow.commit()
    assert scene.study.status is M.DONE
    assert scene.study.completed_at is not None and scene.study.progress_percent == 100
    assert len(_audits("milestone.done", scene.study.id)) == 1
    assert _system(scene.project)[-2:] == ["Milestone “Study” started.", "Milestone “Study” is done."]
    with pytest.raises(InvalidTransition):
        project_plan.complete_milestone(scene.study.id, actor=scene.expert)


def test_the_hub_completes_a_planned_milestone_directly(scene: Scene) -> None:
    project_plan.complete_milestone(scene.report.id, actor=scene.hub)
    uow.commit()
    (event,) = _audits("milestone.done", scene.report.id)
    assert (event.from_state, event.to_state, event.actor_id) == ("planned", "done", scene.hub.id)


def test_company_users_and_the_qc_expert_cannot_change_milestones(f: Any, scene: Scene) -> None:
    qc = _qc(f, scene.project)
    for user in (scene.owner, scene.colleague, qc):
        for change in (project_plan.start_milestone, project_plan.complete_milestone, project_plan.reopen_milestone):
            with pytest.raises(PermissionDenied):
                change(scene.study.id, actor=user)
    assert scene.study.status is M.PLANNED
    assert _audits("milestone.in_progress") == []


def test_outsiders_learn_nothing(f: Any, scene: Scene) -> None:
    stranger = f.expert().user
    other_company_user = f.company_user()
    for user in (stranger, other_company_user):
        with pytest.raises(NotFound):
            project_plan.start_milestone(scene.study.id, actor=user)
        with pytest.raises(NotFound):
            project_plan.plan_page(scene.project.id, actor=user)
    with pytest.raises(NotFound):
        project_plan.start_milestone(999_999, actor=scene.hub)


def test_only_the_hub_reopens(scene: Scene) -> None:
    project_plan.complete_milestone(scene.study.id, actor=scene.expert)
    uow.commit()
    with pytest.raises(PermissionDenied, match="Only the hub"):
        project_plan.reopen_milestone(scene.study.id, actor=scene.expert)
    project_plan.reopen_milestone(scene.study.id, actor=scene.hub)
    uow.commit()
    assert scene.study.status is M.IN_PROGRESS and scene.study.completed_at is None
    (event,) = _audits("milestone.in_progress", scene.study.id)
    assert (event.from_state, event.actor_id, event.data["reopened"]) == ("done", scene.hub.id, True)
    with pytest.raises(InvalidTransition):
        project_plan.reopen_milestone(scene.study.id, actor=scene.hub)


def test_a_closed_project_cannot_be_planned(scene: Scene) -> None:
    _close(scene.project, scene.hub)
    with pytest.raises(ValidationFailed, match="closed"):
        project_plan.start_milestone(scene.study.id, actor=scene.expert)
    with pytest.raises(ValidationFailed, match="closed"):
        project_plan.post_progress(scene.project.id, actor=scene.expert, milestone_id=scene.study.id, percent=5,
                                   text="x")
    page = project_plan.plan_page(scene.project.id, actor=scene.hub)
    assert not page.can_plan and not page.can_report
    assert not any(r.can_start or r.can_complete or r.can_add_task for r in page.milestones)


# Progress -----------------------------------------------------------------------------------


def test_the_expert_posts_progress(scene: Scene) -> None:
    update = project_plan.post_progress(scene.project.id, actor=scene.expert, milestone_id=scene.study.id,
                                        percent=40, text="  Mould flow analysis done; DOE next.  ")
    uow.commit()
    assert (update.percent, update.text, update.author_id) == (40, "Mould flow analysis done; DOE next.",
                                                               scene.expert.id)
    assert scene.study.progress_percent == 40
    assert scene.study.status is M.IN_PROGRESS  # a planned milestone starts
    message = db.session.scalar(sa.select(ProjectMessage).where(ProjectMessage.progress_id == update.id))
    assert message is not None
    assert (message.kind, message.author_id) == (MessageKind.PROGRESS, scene.expert.id)
    assert message.body == "40 % — Mould flow analysis done; DOE next."
    for user in (scene.owner, scene.colleague):
        (note,) = _notes(user, "project.progress")
        assert note.params["percent"] == 40 and note.params["milestone"] == "Study"
        assert note.params["text"] == "Mould flow analysis done; DOE next."
        assert note.link == f"/projects/{scene.project.id}/plan"
    assert _notes(scene.expert, "project.progress") == [] and _notes(scene.hub, "project.progress") == []
    (event,) = _audits("progress_update.posted", update.id)
    assert event.data["on_behalf_of_expert"] is False
    assert "Milestone “Study” started." in _system(scene.project)


def test_the_hub_posts_progress_on_the_experts_behalf(scene: Scene) -> None:
    project_plan.start_milestone(scene.study.id, actor=scene.expert)
    update = project_plan.post_progress(scene.project.id, actor=scene.hub, milestone_id=scene.study.id,
                                        percent=70, text="Reported by phone.")
    uow.commit()
    assert update.author_id == scene.expert.id
    message = db.session.scalar(sa.select(ProjectMessage).where(ProjectMessage.progress_id == update.id))
    assert message is not None and message.author_id == scene.expert.id
    (event,) = _audits("progress_update.posted", update.id)
    assert event.actor_id == scene.hub.id and event.data["on_behalf_of_expert"] is True
    view = projects.history(scene.project.id, actor=scene.owner).messages[-1]
    assert view.author.startswith("Expert ") and view.kind == "progress"


@pytest.mark.parametrize(("percent", "text", "match"), [
    (101, "ok", "between 0 and 100"),
    (-1, "ok", "between 0 and 100"),
    (50, "   ", "few words"),
    (50, "x" * 2001, "at most 2000"),
])
def test_progress_is_validated(scene: Scene, percent: int, text: str, match: str) -> None:
    with pytest.raises(ValidationFailed, match=match):
        project_plan.post_progress(scene.project.id, actor=scene.expert, milestone_id=scene.study.id,
                                   percent=percent, text=text)
    uow.rollback()
    assert _count(ProgressUpdate) == 0
    assert db.session.get(ProjectMilestone, scene.study.id).status is M.PLANNED


def test_progress_refusals(f: Any, scene: Scene) -> None:
    with pytest.raises(PermissionDenied):
        project_plan.post_progress(scene.project.id, actor=scene.owner, milestone_id=scene.study.id, percent=5,
                                   text="x")
    other = f.project()
    other_milestone = db.session.scalar(sa.select(ProjectMilestone).where(ProjectMilestone.project_id == other.id))
    uow.commit()
    with pytest.raises(NotFound):
        project_plan.post_progress(scene.project.id, actor=scene.expert, milestone_id=other_milestone.id,
                                   percent=5, text="x")
    project_plan.complete_milestone(scene.study.id, actor=scene.expert)
    uow.commit()
    with pytest.raises(ValidationFailed, match="reopen"):
        project_plan.post_progress(scene.project.id, actor=scene.expert, milestone_id=scene.study.id, percent=5,
                                   text="x")


def test_contact_details_in_progress_are_masked_for_the_company(scene: Scene) -> None:
    update = project_plan.post_progress(scene.project.id, actor=scene.expert, milestone_id=scene.study.id,
                                        percent=10, text=f"Started. {EMAIL}")
    uow.commit()
    company_view = projects.history(scene.project.id, actor=scene.owner).messages[-1]
    hub_view = projects.history(scene.project.id, actor=scene.hub).messages[-1]
    assert "jane.doe@example.com" not in company_view.text and company_view.masked
    assert "jane.doe@example.com" in hub_view.text
    (note,) = _notes(scene.owner, "project.progress")
    assert "jane.doe@example.com" not in note.params["text"]
    assert _audits("project_message.masked")
    assert _notes(scene.hub, "project.contact_masked")
    page = project_plan.plan_page(scene.project.id, actor=scene.owner)
    latest = page.milestones[0].latest_progress
    assert latest is not None and "jane.doe@example.com" not in latest.text
    hub_latest = project_plan.plan_page(scene.project.id, actor=scene.hub).milestones[0].latest_progress
    assert hub_latest is not None and "jane.doe@example.com" in hub_latest.text
    assert update.text.endswith("jane.doe@example.com")


# Tasks --------------------------------------------------------------------------------------


def _task(scene: Scene, **kw: Any) -> ProjectTask:
    values: dict[str, Any] = {"milestone_id": scene.study.id, "title": "Send 20 sample parts",
                              "assignee_id": scene.owner.id, "due_date": None}
    values.update(kw)
    actor = values.pop("actor", scene.expert)
    task = project_plan.add_task(scene.project.id, actor=actor, **values)
    uow.commit()
    return task


def test_the_expert_adds_a_task_for_a_company_user(scene: Scene) -> None:
    task = _task(scene)
    assert (task.status, task.assignee_id, task.created_by_id) == (T.TODO, scene.owner.id, scene.expert.id)
    (note,) = _notes(scene.owner, "project.task_assigned")
    assert note.params == {"project": projects.project_label(scene.project), "task": "Send 20 sample parts",
                           "milestone": "Study", "due": scene.study.due_date.isoformat()}
    assert _notes(scene.colleague, "project.task_assigned") == []
    assert _system(scene.project)[-1] == "New task “Send 20 sample parts” on “Study”."
    (event,) = _audits("task.created", task.id)
    assert event.actor_id == scene.expert.id and event.to_state == "todo"


def test_the_hub_adds_a_task_for_itself_without_a_notification(scene: Scene) -> None:
    due = date.today() + timedelta(days=3)
    task = _task(scene, actor=scene.hub, assignee_id=scene.hub.id, due_date=due)
    assert task.due_date == due
    assert _notes(scene.hub, "project.task_assigned") == []


def test_company_users_and_qc_do_not_add_tasks(f: Any, scene: Scene) -> None:
    qc = _qc(f, scene.project)
    for user in (scene.owner, qc):
        with pytest.raises(PermissionDenied, match="channel"):
            _task(scene, actor=user)
    assert _count(ProjectTask) == 0


@pytest.mark.parametrize(("changes", "match"), [
    ({"title": "  "}, "title"),
    ({"title": "x" * 201}, "at most 200"),
    ({"title": f"Call me, {EMAIL}"}, "contact details"),
    ({"due_date": date(2000, 1, 1)}, "in the past"),
])
def test_tasks_are_validated(scene: Scene, changes: dict[str, Any], match: str) -> None:
    with pytest.raises(ValidationFailed, match=match):
        _task(scene, **changes)
    uow.rollback()
    assert _count(ProjectTask) == 0


def test_the_assignee_must_be_an_active_member(f: Any, scene: Scene) -> None:
    outsider = f.company_user()
    qc = _qc(f, scene.project)
    with pytest.raises(ValidationFailed, match="member"):
        _task(scene, assignee_id=outsider.id)
    uow.rollback()
    db.session.execute(sa.update(ProjectMember).where(ProjectMember.user_id == qc.id)
                       .values(removed_at=datetime.now(UTC)))
    uow.commit()
    with pytest.raises(ValidationFailed, match="member"):
        _task(scene, assignee_id=qc.id)


def test_no_tasks_on_a_done_milestone(scene: Scene) -> None:
    project_plan.complete_milestone(scene.study.id, actor=scene.expert)
    uow.commit()
    with pytest.raises(ValidationFailed, match="done"):
        _task(scene)


def test_the_assignee_moves_the_task(scene: Scene) -> None:
    task = _task(scene)
    project_plan.set_task_status(task.id, actor=scene.owner, status="doing")
    uow.commit()
    assert task.status is T.DOING and task.completed_at is None
    project_plan.set_task_status(task.id, actor=scene.owner, status=T.DONE)
    uow.commit()
    assert task.status is T.DONE and task.completed_at is not None
    assert _system(scene.project)[-1] == "Task “Send 20 sample parts” is done."
    assert [e.to_state for e in _audits("task.doing", task.id) + _audits("task.done", task.id)] == ["doing", "done"]
    project_plan.set_task_status(task.id, actor=scene.owner, status=T.DONE)  # a double click changes nothing
    assert len(_audits("task.done", task.id)) == 1
    with pytest.raises(InvalidTransition):
        project_plan.set_task_status(task.id, actor=scene.expert, status=T.TODO)
    project_plan.set_task_status(task.id, actor=scene.hub, status=T.DOING)
    uow.commit()
    assert task.status is T.DOING and task.completed_at is None


def test_others_do_not_move_someone_elses_task(scene: Scene) -> None:
    task = _task(scene)
    with pytest.raises(PermissionDenied, match="assignee"):
        project_plan.set_task_status(task.id, actor=scene.colleague, status=T.DOING)
    with pytest.raises(ValidationFailed):
        project_plan.set_task_status(task.id, actor=scene.expert, status="finished")
    assert task.status is T.TODO


def test_editing_a_task_notifies_the_new_assignee(scene: Scene) -> None:
    task = _task(scene)
    due = date.today() + timedelta(days=2)
    project_plan.edit_task(task.id, actor=scene.hub, title="Send 30 sample parts", assignee_id=scene.colleague.id,
                           due_date=due, version=task.version)
    uow.commit()
    assert (task.title, task.assignee_id, task.due_date) == ("Send 30 sample parts", scene.colleague.id, due)
    (note,) = _notes(scene.colleague, "project.task_assigned")
    assert note.params["due"] == due.isoformat() and note.params["task"] == "Send 30 sample parts"
    (event,) = _audits("task.edited", task.id)
    assert event.data["changes"]["assignee_id"] == [scene.owner.id, scene.colleague.id]
    with pytest.raises(PermissionDenied):
        project_plan.edit_task(task.id, actor=scene.owner, title="Mine", assignee_id=None, due_date=None)


def test_a_stale_edit_changes_nothing(scene: Scene) -> None:
    task = _task(scene)
    seen = task.version
    project_plan.set_task_status(task.id, actor=scene.owner, status=T.DOING)
    uow.commit()
    with pytest.raises(ConcurrentUpdate):
        project_plan.edit_task(task.id, actor=scene.expert, title="Other", assignee_id=None, due_date=None,
                               version=seen)
    uow.rollback()
    assert db.session.get(ProjectTask, task.id).title == "Send 20 sample parts"


# The plan page ------------------------------------------------------------------------------


def test_the_plan_page_per_side(scene: Scene) -> None:
    task = _task(scene)
    project_plan.post_progress(scene.project.id, actor=scene.expert, milestone_id=scene.study.id, percent=50,
                               text="Half way.")
    uow.commit()
    company = project_plan.plan_page(scene.project.id, actor=scene.owner)
    expert = project_plan.plan_page(scene.project.id, actor=scene.expert)
    hub = project_plan.plan_page(scene.project.id, actor=scene.hub)
    assert [r.amount_minor for r in company.milestones] == [m.amount_minor for m in (scene.study, scene.report)]
    assert [r.amount_minor for r in hub.milestones] == [m.amount_minor for m in (scene.study, scene.report)]
    assert [r.amount_minor for r in expert.milestones] == [None, None]
    assert company.progress == expert.progress == 20  # 40 % share × 50 %
    assert company.next_due is not None and company.next_due.milestone.id == scene.study.id
    assert company.overdue == []
    assert not company.can_plan and expert.can_plan and hub.can_plan
    assert not company.can_report and expert.can_report
    owner_task = company.milestones[0].tasks[0]
    assert owner_task.task.id == task.id and owner_task.mine
    assert owner_task.targets == [T.DOING, T.DONE] and not owner_task.can_edit
    assert project_plan.plan_page(scene.project.id, actor=scene.colleague).milestones[0].tasks[0].targets == []
    assert expert.milestones[0].tasks[0].assignee == scene.owner.full_name
    assert {label for _id, label in company.assignees} >= {f"Expert {scene.project.contract.expert.pseudonym}"}
    assert not any(scene.expert.full_name in label for _id, label in company.assignees)
    assert [r.can_reopen for r in hub.milestones] == [False, False]


def test_the_timeline_spans_the_contract(scene: Scene) -> None:
    contract = scene.project.contract
    page = project_plan.plan_page(scene.project.id, actor=scene.hub)
    assert (page.span_start, page.span_end) == (contract.start_date, contract.end_date)
    days = (contract.end_date - contract.start_date).days
    study, report = page.milestones
    assert study.start == contract.start_date and report.start == scene.study.due_date
    assert study.left_percent == 0
    assert study.width_percent == pytest.approx((scene.study.due_date - contract.start_date).days / days * 100,
                                                abs=0.01)
    assert report.left_percent == pytest.approx(study.width_percent, abs=0.01)
    assert page.today_percent is None  # the work starts in ten days
    with freeze_time(datetime.combine(contract.start_date + timedelta(days=2), time(12), tzinfo=UTC)):
        later = project_plan.plan_page(scene.project.id, actor=scene.hub)
    assert later.today_percent == pytest.approx(2 / days * 100, abs=0.01)


def test_overdue_milestones_are_highlighted(scene: Scene) -> None:
    with freeze_time(datetime.combine(scene.study.due_date + timedelta(days=1), time(8), tzinfo=UTC)):
        page = project_plan.plan_page(scene.project.id, actor=scene.owner)
    assert [r.milestone.id for r in page.overdue] == [scene.study.id]
    assert page.milestones[0].overdue and not page.milestones[1].overdue


# The overdue sweep --------------------------------------------------------------------------


def _after_due(milestone: ProjectMilestone, days: int = 1) -> datetime:
    return datetime.combine(milestone.due_date + timedelta(days=days), time(6), tzinfo=UTC)


def test_remind_overdue_once(scene: Scene) -> None:
    assert project_plan.remind_overdue(now=datetime.combine(scene.study.due_date, time(23), tzinfo=UTC)) == 0
    moment = _after_due(scene.study)
    with freeze_time(moment):
        assert project_plan.remind_overdue() == 1
        uow.commit()
        assert project_plan.remind_overdue() == 0
    uow.commit()
    assert db.session.get(ProjectMilestone, scene.study.id).overdue_notified_at == moment
    (expert_note,) = _notes(scene.expert, "project.milestone_overdue_expert")
    assert expert_note.params == {"project": projects.project_label(scene.project), "milestone": "Study",
                                  "due": scene.study.due_date.isoformat()}
    assert len(_notes(scene.hub, "project.milestone_overdue_manager")) == 1
    assert _notes(scene.owner, "project.milestone_overdue_expert") == []
    assert _system(scene.project).count(f"Milestone “Study” is overdue (due {scene.study.due_date.isoformat()}).") == 1
    assert len(_audits("milestone.overdue_notified", scene.study.id)) == 1
    # Later, the second milestone too; the first is not reported again.
    assert project_plan.remind_overdue(now=_after_due(scene.report, 3)) == 1
    uow.commit()
    assert len(_notes(scene.expert, "project.milestone_overdue_expert")) == 2


def test_remind_overdue_skips_done_milestones_and_closed_projects(f: Any, scene: Scene) -> None:
    project_plan.complete_milestone(scene.study.id, actor=scene.expert)
    closed = f.project()
    uow.commit()
    _close(closed, scene.hub)
    assert project_plan.remind_overdue(now=_after_due(scene.report)) == 1  # only the open "Report"
    uow.commit()
    assert db.session.get(ProjectMilestone, scene.study.id).overdue_notified_at is None


def test_remind_overdue_without_a_manager_tells_every_admin(f: Any, scene: Scene) -> None:
    other_admin = f.admin()
    scene.project.manager_id = None
    uow.commit()
    assert project_plan.remind_overdue(now=_after_due(scene.study)) == 1
    uow.commit()
    assert len(_notes(other_admin, "project.milestone_overdue_manager")) == 1
    assert len(_notes(scene.hub, "project.milestone_overdue_manager")) == 1


def test_the_task_and_the_sweep_command_commit_the_reminders(app: Any, scene: Scene) -> None:
    study_id, first, second = scene.study.id, _after_due(scene.study), _after_due(scene.report)
    with freeze_time(first):
        assert remind_overdue_milestones() == 1
        db.session.remove()  # what was committed, read afresh
        assert db.session.get(ProjectMilestone, study_id).overdue_notified_at is not None
        result = app.test_cli_runner().invoke(args=["outbox", "sweep"])
    assert result.exit_code == 0, result.output
    assert "overdue" not in result.output  # nothing new to remind
    with freeze_time(second):
        result = app.test_cli_runner().invoke(args=["outbox", "sweep"])
    assert "reminded about 1 overdue milestone(s)" in result.output
