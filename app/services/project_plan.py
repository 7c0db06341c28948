"""The plan of a project (WORKFLOW.md §7–8): milestones, their tasks and the expert's progress updates.

Who does what:

- the expert and the hub start and complete milestones, post progress (the
  hub on the expert's behalf: the update is the expert's), and add and edit
  tasks;
- only the hub reopens a milestone that is done;
- a task's assignee (any active member, a company user too: "send the sample
  parts") moves it between todo, doing and done, as do the expert and the hub;
- company users read the plan and comment in the channel; the QC expert reads.

Milestones and tasks change state only through :func:`transition` with the
tables of app/workflows/projects.py (audited); both carry optimistic version
columns. Announcements go to the channel as platform messages. Text the expert
types is checked for contact details like the channel does: a progress text is
masked for the company, a task title with contact details is refused.
Nothing here commits: the caller (view, task) calls ``uow.commit()``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from flask_babel import gettext as _

from app.exceptions import ConcurrentUpdate, NotFound, PermissionDenied, ValidationFailed
from app.extensions import db
from app.models import (
    MessageKind,
    MilestoneStatus,
    ProgressUpdate,
    Project,
    ProjectMember,
    ProjectMilestone,
    ProjectRole,
    ProjectStatus,
    ProjectTask,
    TaskStatus,
    User,
)
from app.models.mixins import utcnow
from app.services import audit, masking, notifications, projects
from app.services.projects import Side
from app.services.transitions import transition
from app.workflows.projects import MILESTONE_WORKFLOW, TASK_WORKFLOW

logger = logging.getLogger(__name__)

MAX_TASK_TITLE = 200
MAX_PROGRESS_TEXT = 2000
NOTIFICATION_TEXT_MAX = 500
TASK_ORDER = (TaskStatus.TODO, TaskStatus.DOING, TaskStatus.DONE)


# Who may do what ---------------------------------------------------------------------------


def is_planner(actor: User, project: Project, side: Side) -> bool:
    """The hub or the project's expert (not the QC expert): they run milestones and tasks."""
    return side is Side.HUB or projects.role_of(actor, project) is ProjectRole.EXPERT


def can_set_task_status(actor: User, project: Project, side: Side, task: ProjectTask) -> bool:
    """The task's assignee, the expert or the hub move a task between todo, doing and done."""
    return task.assignee_id == actor.id or is_planner(actor, project, side)


def _require_planner(actor: User, project: Project, side: Side, message: str) -> None:
    if not is_planner(actor, project, side):
        raise PermissionDenied(message)


def _project_link(project: Project) -> str:
    return f"/projects/{project.id}/plan"


def _expert_user(project: Project) -> User | None:
    """The project's expert (active member), for whom the hub may post progress."""
    return db.session.scalar(
        sa.select(User).join(ProjectMember, ProjectMember.user_id == User.id)
        .where(ProjectMember.project_id == project.id, ProjectMember.role == ProjectRole.EXPERT,
               ProjectMember.removed_at.is_(None), User.suspended_at.is_(None))
        .order_by(ProjectMember.id).limit(1)
    )


def _manager(project: Project) -> User | None:
    if project.manager_id is None:
        return None
    manager = db.session.get(User, project.manager_id)
    return manager if manager is not None and manager.is_staff else None


def _changed(project: Project, **data: object) -> None:
    projects.push_event(project.id, "plan.updated", dict(data))


# Loading -----------------------------------------------------------------------------------


def load_milestone(milestone_id: int, *, actor: User, lock: bool = False) -> tuple[ProjectMilestone, Project, Side]:
    """A milestone, its project and the actor's side.

    :raises NotFound: no such milestone, or the actor is not on its project.
    """
    milestone = db.session.get(ProjectMilestone, milestone_id, with_for_update=lock)
    if milestone is None:
        raise NotFound(_("This milestone does not exist or you are not a member of its project."))
    project, side = projects.load_project(milestone.project_id, actor=actor)
    return milestone, project, side


def _milestone_of(project: Project, milestone_id: int) -> ProjectMilestone:
    milestone = db.session.get(ProjectMilestone, milestone_id, with_for_update=True)
    if milestone is None or milestone.project_id != project.id:
        raise NotFound(_("This milestone does not exist or you are not a member of its project."))
    return milestone


def load_task(task_id: int, *, actor: User, lock: bool = False) -> tuple[ProjectTask, Project, Side]:
    """A task, its project and the actor's side.

    :raises NotFound: no such task, or the actor is not on its project.
    """
    task = db.session.get(ProjectTask, task_id, with_for_update=lock)
    if task is None:
        raise NotFound(_("This task does not exist or you are not a member of its project."))
    project, side = projects.load_project(task.project_id, actor=actor)
    return task, project, side


# Milestones --------------------------------------------------------------------------------


def _announce(project: Project, key: str, milestone: ProjectMilestone) -> None:
    """A platform message about a milestone (``key`` with its title and due date)."""
    projects.system_message(project, key, milestone=milestone.title, due=milestone.due_date.isoformat())


def start_milestone(milestone_id: int, *, actor: User) -> ProjectMilestone:
    """PLANNED -> IN_PROGRESS. The expert or the hub; announced in the channel.

    :raises NotFound: no such milestone, or the actor is not on its project.
    :raises PermissionDenied: the actor is a company user or the QC expert.
    :raises ValidationFailed: the project is closed.
    :raises InvalidTransition: the milestone is not planned.
    """
    milestone, project, side = load_milestone(milestone_id, actor=actor, lock=True)
    _require_planner(actor, project, side, _("Only the expert and the hub start a milestone."))
    projects.require_writable(project)
    transition(milestone, MILESTONE_WORKFLOW, MilestoneStatus.IN_PROGRESS, actor=actor, project_id=project.id)
    _announce(project, "milestone_started", milestone)
    _changed(project, milestone_id=milestone.id, status=milestone.status.value)
    return milestone


def complete_milestone(milestone_id: int, *, actor: User) -> ProjectMilestone:
    """PLANNED | IN_PROGRESS -> DONE (progress 100 %). The expert or the hub; announced in the channel.

    :raises NotFound: no such milestone, or the actor is not on its project.
    :raises PermissionDenied: the actor is a company user or the QC expert.
    :raises ValidationFailed: the project is closed.
    :raises InvalidTransition: the milestone is already done.
    """
    milestone, project, side = load_milestone(milestone_id, actor=actor, lock=True)
    _require_planner(actor, project, side, _("Only the expert and the hub complete a milestone."))
    projects.require_writable(project)
    open_tasks = sum(1 for t in milestone.tasks if t.status is not TaskStatus.DONE)
    transition(milestone, MILESTONE_WORKFLOW, MilestoneStatus.DONE, actor=actor, project_id=project.id,
               open_tasks=open_tasks)
    milestone.completed_at = utcnow()
    milestone.progress_percent = 100
    _announce(project, "milestone_done", milestone)
    _changed(project, milestone_id=milestone.id, status=milestone.status.value)
    return milestone


def reopen_milestone(milestone_id: int, *, actor: User) -> ProjectMilestone:
    """DONE -> IN_PROGRESS. The hub only; announced in the channel.

    :raises NotFound: no such milestone, or the actor is not on its project.
    :raises PermissionDenied: the actor is not the hub.
    :raises ValidationFailed: the project is closed.
    :raises InvalidTransition: the milestone is not done.
    """
    milestone, project, side = load_milestone(milestone_id, actor=actor, lock=True)
    if side is not Side.HUB:
        raise PermissionDenied(_("Only the hub reopens a milestone that is done."))
    projects.require_writable(project)
    transition(milestone, MILESTONE_WORKFLOW, MilestoneStatus.IN_PROGRESS, actor=actor, project_id=project.id,
               reopened=True)
    milestone.completed_at = None
    _announce(project, "milestone_reopened", milestone)
    _changed(project, milestone_id=milestone.id, status=milestone.status.value)
    return milestone


# Progress ----------------------------------------------------------------------------------


def _short(text: str, limit: int = NOTIFICATION_TEXT_MAX) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def post_progress(project_id: int, *, actor: User, milestone_id: int, percent: int, text: str) -> ProgressUpdate:
    """Report progress on a milestone: the expert, or the hub on the expert's behalf (the update is the expert's).

    Sets the milestone's progress (a planned milestone starts), posts a PROGRESS
    message by the expert to the channel ("<percent> % — <text>"; contact details
    the expert typed are masked for the company, as in the channel) and notifies
    the company's users.

    :raises NotFound: no such project or milestone for the actor.
    :raises PermissionDenied: the actor is a company user or the QC expert.
    :raises ValidationFailed: the project is closed, the milestone is done, the percent is not 0–100,
        the text is empty or longer than 2000 characters, or the project has no active expert.
    """
    project, side = projects.load_project(project_id, actor=actor)
    _require_planner(actor, project, side, _("Only the expert, or the hub on the expert's behalf, reports progress."))
    projects.require_writable(project)
    milestone = _milestone_of(project, milestone_id)
    if isinstance(percent, bool) or not isinstance(percent, int) or not 0 <= percent <= 100:
        raise ValidationFailed(_("Enter the progress as a whole percent between 0 and 100."))
    text = (text or "").replace("\r\n", "\n").strip()
    if not text:
        raise ValidationFailed(_("Describe the progress in a few words."))
    if len(text) > MAX_PROGRESS_TEXT:
        raise ValidationFailed(_("A progress update can have at most %(n)s characters; this one has %(m)s.",
                                 n=MAX_PROGRESS_TEXT, m=len(text)))
    if milestone.status is MilestoneStatus.DONE:
        raise ValidationFailed(_("This milestone is done. Ask the hub to reopen it to report more progress."))
    expert = actor if side is not Side.HUB else _expert_user(project)
    if expert is None:
        raise ValidationFailed(_("This project has no active expert to report progress for."))
    if milestone.status is MilestoneStatus.PLANNED:
        transition(milestone, MILESTONE_WORKFLOW, MilestoneStatus.IN_PROGRESS, actor=actor, project_id=project.id,
                   by_progress=True)
        _announce(project, "milestone_started", milestone)
    milestone.progress_percent = percent
    update = ProgressUpdate(project_id=project.id, milestone_id=milestone.id, author_id=expert.id, percent=percent,
                            text=text, created_at=utcnow())
    db.session.add(update)
    db.session.flush()
    audit.record("progress_update.posted", actor=actor, entity="progress_updates", entity_id=update.id,
                 data={"project_id": project.id, "milestone_id": milestone.id, "percent": percent,
                       "on_behalf_of_expert": side is Side.HUB})
    message = projects.post_message(project, expert, f"{percent} % — {text}", kind=MessageKind.PROGRESS,
                                    progress_id=update.id)
    company_text = text
    if side is not Side.HUB:  # the expert typed it: the company reads it masked, like a channel message
        result = masking.mask_contacts(text)
        if result.changed:
            company_text = result.text
            if message.body_masked is None:
                message.body_masked = f"{percent} % — {result.text}"
                message.masked_count = len(result.findings)
                db.session.flush()
                audit.record("project_message.masked", actor=actor, entity="project_messages", entity_id=message.id,
                             data={"project_id": project.id, "findings": len(result.findings),
                                   "kinds": sorted({f.kind for f in result.findings})})
                notifications.notify_staff("project.contact_masked", link=f"/projects/{project.id}#m{message.id}",
                                           project=projects.project_label(project), count=len(result.findings))
    for user in projects.member_users(project, side=Side.COMPANY):
        notifications.notify(user, "project.progress", link=_project_link(project),
                             project=projects.project_label(project), percent=percent, milestone=milestone.title,
                             text=_short(company_text))
    _changed(project, milestone_id=milestone.id, status=milestone.status.value, progress=percent)
    return update


# Tasks -------------------------------------------------------------------------------------


def _clean_title(title: str, *, side: Side) -> str:
    title = " ".join((title or "").split())
    if not title:
        raise ValidationFailed(_("Give the task a title."))
    if len(title) > MAX_TASK_TITLE:
        raise ValidationFailed(_("A task title can have at most %(n)s characters; this one has %(m)s.",
                                 n=MAX_TASK_TITLE, m=len(title)))
    if side is not Side.HUB and masking.mask_contacts(title).changed:
        raise ValidationFailed(_("A task title cannot contain contact details (e-mail addresses, phone numbers, "
                                 "links). Share them through the hub in the channel."))
    return title


def _assignee(project: Project, assignee_id: int | None) -> User | None:
    if assignee_id is None:
        return None
    user = db.session.get(User, assignee_id)
    if user is None or projects.membership(user, project) is None:
        raise ValidationFailed(_("Assign the task to a member of this project, or to no one."))
    return user


def _check_due(due_date: date | None, *, previous: date | None = None) -> None:
    if due_date is not None and due_date != previous and due_date < utcnow().date():
        raise ValidationFailed(_("The due date %(date)s is in the past; choose today or a later day.",
                                 date=due_date.isoformat()))


def _tell_assignee(task: ProjectTask, assignee: User | None, *, actor: User, project: Project,
                   milestone: ProjectMilestone) -> None:
    if assignee is None or assignee.id == actor.id:
        return
    notifications.notify(assignee, "project.task_assigned", link=_project_link(project),
                         project=projects.project_label(project), task=task.title, milestone=milestone.title,
                         due=(task.due_date or milestone.due_date).isoformat())


def add_task(project_id: int, *, actor: User, milestone_id: int, title: str, assignee_id: int | None,
             due_date: date | None) -> ProjectTask:
    """A new TODO task on a milestone. The expert or the hub (company users ask in the channel).

    The assignee, if any, must be an active member (a company user too) and is notified.

    :raises NotFound: no such project or milestone for the actor.
    :raises PermissionDenied: the actor is a company user or the QC expert.
    :raises ValidationFailed: the project is closed, the milestone is done, the title is empty, too long
        or holds contact details, the assignee is not a member, or the due date is in the past.
    """
    project, side = projects.load_project(project_id, actor=actor)
    _require_planner(actor, project, side, _("Only the expert and the hub add tasks; ask for one in the channel."))
    projects.require_writable(project)
    milestone = _milestone_of(project, milestone_id)
    if milestone.status is MilestoneStatus.DONE:
        raise ValidationFailed(_("This milestone is done; the hub can reopen it to add tasks."))
    title = _clean_title(title, side=side)
    assignee = _assignee(project, assignee_id)
    _check_due(due_date)
    task = ProjectTask(project_id=project.id, milestone_id=milestone.id, title=title,
                       assignee_id=assignee.id if assignee else None, due_date=due_date, status=TaskStatus.TODO,
                       created_by_id=actor.id, created_at=utcnow())
    db.session.add(task)
    db.session.flush()
    audit.record("task.created", actor=actor, entity="project_tasks", entity_id=task.id,
                 to_state=TaskStatus.TODO.value,
                 data={"project_id": project.id, "milestone_id": milestone.id, "assignee_id": task.assignee_id,
                       "due_date": due_date})
    projects.system_message(project, "task_added", task=title, milestone=milestone.title)
    _tell_assignee(task, assignee, actor=actor, project=project, milestone=milestone)
    _changed(project, milestone_id=milestone.id, task_id=task.id, status=task.status.value)
    return task


def set_task_status(task_id: int, *, actor: User, status: TaskStatus | str) -> ProjectTask:
    """TODO <-> DOING <-> DONE, TODO -> DONE. The assignee, the expert or the hub; a finished task is announced.

    Asking for the status the task already has changes nothing (a double click).

    :raises NotFound: no such task, or the actor is not on its project.
    :raises PermissionDenied: the actor is not the assignee, the expert or the hub.
    :raises ValidationFailed: the project is closed, or ``status`` is not a task status.
    :raises InvalidTransition: the workflow does not allow the change (done -> todo).
    """
    task, project, side = load_task(task_id, actor=actor, lock=True)
    if not can_set_task_status(actor, project, side, task):
        raise PermissionDenied(_("Only the task's assignee, the expert and the hub change a task's status."))
    projects.require_writable(project)
    try:
        target = TaskStatus(status)
    except ValueError:
        raise ValidationFailed(_("Choose to do, doing or done.")) from None
    if task.status is target:
        return task
    transition(task, TASK_WORKFLOW, target, actor=actor, project_id=project.id)
    task.completed_at = utcnow() if target is TaskStatus.DONE else None
    if target is TaskStatus.DONE:
        projects.system_message(project, "task_done", task=task.title)
    _changed(project, milestone_id=task.milestone_id, task_id=task.id, status=task.status.value)
    return task


def edit_task(task_id: int, *, actor: User, title: str, assignee_id: int | None, due_date: date | None,
              version: int | None = None) -> ProjectTask:
    """Change a task's title, assignee or due date. The expert or the hub; a new assignee is notified.

    ``version`` is the task's version the editor saw: when someone changed it since, nothing is changed.

    :raises NotFound: no such task, or the actor is not on its project.
    :raises PermissionDenied: the actor is a company user or the QC expert.
    :raises ConcurrentUpdate: the task changed since the editor loaded it.
    :raises ValidationFailed: the project is closed, or the title, assignee or due date is refused.
    """
    task, project, side = load_task(task_id, actor=actor, lock=True)
    _require_planner(actor, project, side,
                     _("Only the expert and the hub edit tasks; ask for a change in the channel."))
    projects.require_writable(project)
    if version is not None and version != task.version:
        raise ConcurrentUpdate(_("Someone else changed this task at the same time. Reload the page and try again."))
    title = _clean_title(title, side=side) if title != task.title else task.title
    new_assignee = _assignee(project, assignee_id) if assignee_id != task.assignee_id else None
    _check_due(due_date, previous=task.due_date)
    changes: dict[str, object] = {}
    if title != task.title:
        changes["title"] = [task.title, title]
        task.title = title
    if assignee_id != task.assignee_id:
        changes["assignee_id"] = [task.assignee_id, assignee_id]
        task.assignee_id = assignee_id
    if due_date != task.due_date:
        changes["due_date"] = [task.due_date, due_date]
        task.due_date = due_date
    if not changes:
        return task
    db.session.flush()
    audit.record("task.edited", actor=actor, entity="project_tasks", entity_id=task.id,
                 data={"project_id": project.id, "changes": changes})
    _tell_assignee(task, new_assignee, actor=actor, project=project, milestone=task.milestone)
    _changed(project, milestone_id=task.milestone_id, task_id=task.id, status=task.status.value)
    return task


# The plan page -----------------------------------------------------------------------------


def open_milestone_choices(project: Project) -> list[tuple[int, str]]:
    """(id, "<position>. <title>") of the milestones that are not done, in order (where progress can go)."""
    return [(m.id, f"{m.position}. {m.title}") for m in db.session.scalars(
        sa.select(ProjectMilestone).where(ProjectMilestone.project_id == project.id,
                                          ProjectMilestone.status != MilestoneStatus.DONE)
        .order_by(ProjectMilestone.position))]


def assignee_choices(project: Project) -> list[tuple[int, str]]:
    """(user id, label) of the active members a task may be assigned to, as the plan shows them."""
    members = projects.member_users(project)
    labels = projects.author_labels(project, [u.id for u in members])
    return [(u.id, labels[u.id][0]) for u in members if u.id in labels]


@dataclass(frozen=True)
class ProgressView:
    percent: int
    text: str  # masked for the company
    created_at: datetime


@dataclass(frozen=True)
class TaskRow:
    task: ProjectTask
    assignee: str  # "" when no one; experts by pseudonym, the hub as the hub
    mine: bool
    overdue: bool
    targets: list[TaskStatus]  # the statuses the reader may move it to, in order
    can_edit: bool


@dataclass(frozen=True)
class MilestoneRow:
    milestone: ProjectMilestone
    tasks: list[TaskRow]
    start: date  # the previous milestone's due date, or the contract's start date
    overdue: bool
    amount_minor: int | None  # the client price share: the company and the hub only, never the expert
    left_percent: float  # the timeline bar: where it starts, and how wide, in % of the project span
    width_percent: float
    latest_progress: ProgressView | None
    updates: int
    can_start: bool
    can_complete: bool
    can_reopen: bool
    can_add_task: bool


@dataclass(frozen=True)
class PlanPage:
    project: Project
    side: Side
    milestones: list[MilestoneRow]
    progress: int  # overall, weighted by the shares
    next_due: MilestoneRow | None
    overdue: list[MilestoneRow]
    span_start: date
    span_end: date
    today_percent: float | None  # where today sits on the timeline; None outside the span
    currency: str
    can_plan: bool  # add and edit tasks
    can_report: bool  # post progress
    assignees: list[tuple[int, str]]  # (user id, label) of the active members
    today: date


def _percent(start: date, end: date, moment: date) -> float:
    days = max((end - start).days, 1)
    return round(min(max((moment - start).days / days * 100, 0.0), 100.0), 2)


def _latest_updates(project: Project) -> tuple[dict[int, ProgressUpdate], dict[int, int]]:
    latest: dict[int, ProgressUpdate] = {}
    counts: dict[int, int] = {}
    for update in db.session.scalars(sa.select(ProgressUpdate).where(ProgressUpdate.project_id == project.id)
                                     .order_by(ProgressUpdate.id.desc())):
        latest.setdefault(update.milestone_id, update)
        counts[update.milestone_id] = counts.get(update.milestone_id, 0) + 1
    return latest, counts


def plan_page(project_id: int, *, actor: User) -> PlanPage:
    """Everything the plan tab shows to ``actor``: milestones with tasks and progress, the timeline, what is due.

    :raises NotFound: no such project for the actor.
    """
    project, side = projects.load_project(project_id, actor=actor)
    milestones: Sequence[ProjectMilestone] = list(db.session.scalars(
        sa.select(ProjectMilestone).where(ProjectMilestone.project_id == project.id)
        .order_by(ProjectMilestone.position)))
    tasks: dict[int, list[ProjectTask]] = {}
    for task in db.session.scalars(sa.select(ProjectTask).where(ProjectTask.project_id == project.id)
                                   .order_by(ProjectTask.id)):
        tasks.setdefault(task.milestone_id, []).append(task)
    members = projects.member_users(project)
    labels = projects.author_labels(project, [u.id for u in members] + [
        t.assignee_id for ts in tasks.values() for t in ts if t.assignee_id is not None])
    assignees = [(u.id, labels[u.id][0]) for u in members if u.id in labels]
    latest, counts = _latest_updates(project)
    today = utcnow().date()
    writable = projects.is_writable(project)
    planner = is_planner(actor, project, side)
    contract = project.contract
    span_start = min([contract.start_date, *(m.due_date for m in milestones)])
    span_end = max([contract.end_date, *(m.due_date for m in milestones)])
    rows: list[MilestoneRow] = []
    previous = contract.start_date
    for milestone in milestones:
        start = min(previous, milestone.due_date)
        left = _percent(span_start, span_end, start)
        width = max(round(_percent(span_start, span_end, milestone.due_date) - left, 2), 1.0)
        left = min(left, round(100 - width, 2))  # a bar of a milestone due on the last day stays visible
        done = milestone.status is MilestoneStatus.DONE
        task_rows = []
        for task in tasks.get(milestone.id, []):
            may_set = writable and can_set_task_status(actor, project, side, task)
            targets = TASK_WORKFLOW.targets(task.status) if may_set else frozenset()
            task_rows.append(TaskRow(
                task=task, assignee=labels[task.assignee_id][0] if task.assignee_id in labels else "",
                mine=task.assignee_id == actor.id,
                overdue=task.due_date is not None and task.due_date < today and task.status is not TaskStatus.DONE,
                targets=[s for s in TASK_ORDER if s in targets], can_edit=writable and planner,
            ))
        update = latest.get(milestone.id)
        progress_view = None
        if update is not None:
            text = update.text if side is not Side.COMPANY else masking.mask_contacts(update.text).text
            progress_view = ProgressView(percent=update.percent, text=text, created_at=update.created_at)
        rows.append(MilestoneRow(
            milestone=milestone, tasks=task_rows, start=start, overdue=not done and milestone.due_date < today,
            amount_minor=milestone.amount_minor if side is not Side.EXPERT else None,
            left_percent=left, width_percent=width,
            latest_progress=progress_view, updates=counts.get(milestone.id, 0),
            can_start=writable and planner and milestone.status is MilestoneStatus.PLANNED,
            can_complete=writable and planner and MILESTONE_WORKFLOW.allows(milestone.status, MilestoneStatus.DONE),
            can_reopen=writable and side is Side.HUB and done,
            can_add_task=writable and planner and not done,
        ))
        previous = milestone.due_date
    open_rows = sorted((r for r in rows if r.milestone.status is not MilestoneStatus.DONE),
                       key=lambda r: (r.milestone.due_date, r.milestone.position))
    in_span = span_start <= today <= span_end
    return PlanPage(
        project=project, side=side, milestones=rows, progress=projects.progress_percent(milestones),
        next_due=open_rows[0] if open_rows else None, overdue=[r for r in open_rows if r.overdue],
        span_start=span_start, span_end=span_end,
        today_percent=_percent(span_start, span_end, today) if in_span else None,
        currency=contract.currency, can_plan=writable and planner,
        can_report=writable and planner and any(r.milestone.status is not MilestoneStatus.DONE for r in rows),
        assignees=assignees, today=today,
    )


# The overdue sweep -------------------------------------------------------------------------


def remind_overdue(now: datetime | None = None) -> int:
    """Tell the expert and the project manager (all hub staff when there is none) about overdue milestones.

    A milestone of an active project whose due date has passed, that is not done
    and was not reported yet, gets one reminder: a notification to each, a
    platform message in the channel, ``overdue_notified_at`` set. Safe to run
    again: a reported milestone is never reported twice. The caller commits.
    Returns how many milestones were reported.
    """
    moment = now or utcnow()
    today = moment.date()
    rows = list(db.session.scalars(
        sa.select(ProjectMilestone).join(Project, Project.id == ProjectMilestone.project_id)
        .where(Project.status == ProjectStatus.ACTIVE, ProjectMilestone.due_date < today,
               ProjectMilestone.status != MilestoneStatus.DONE, ProjectMilestone.overdue_notified_at.is_(None))
        .order_by(ProjectMilestone.id)
        .with_for_update(of=ProjectMilestone, skip_locked=True)
    ))
    for milestone in rows:
        project = milestone.project
        label, link, due = projects.project_label(project), _project_link(project), milestone.due_date.isoformat()
        expert = _expert_user(project)
        if expert is not None:
            notifications.notify(expert, "project.milestone_overdue_expert", link=link, project=label,
                                 milestone=milestone.title, due=due)
        manager = _manager(project)
        if manager is not None:
            notifications.notify(manager, "project.milestone_overdue_manager", link=link, project=label,
                                 milestone=milestone.title, due=due)
        else:
            notifications.notify_staff("project.milestone_overdue_manager", link=link, project=label,
                                       milestone=milestone.title, due=due)
        _announce(project, "milestone_overdue", milestone)
        milestone.overdue_notified_at = moment
        audit.record("milestone.overdue_notified", actor=None, entity="project_milestones", entity_id=milestone.id,
                     data={"project_id": project.id, "due_date": milestone.due_date,
                           "manager_id": manager.id if manager else None})
        _changed(project, milestone_id=milestone.id, status=milestone.status.value, overdue=True)
    if rows:
        db.session.flush()
        logger.info("Reported %s overdue milestone(s)", len(rows))
    return len(rows)
