"""The plan tab (WORKFLOW.md §7–8): milestones on a timeline, their tasks, progress updates.

Every form works without JavaScript: it posts, the view calls one service of
app/services/project_plan.py, commits and redirects back to the plan. A form
the service or the form itself refuses is shown again with what was typed
(422); a refused state change is flashed. Who may press which button is
decided by the service; the page only hides what the reader cannot use.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from app.blueprints.projects import actor, bp, load, members_only, perform, tabs_context
from app.exceptions import DomainError, PermissionDenied
from app.models import Project, ProjectMilestone, User
from app.services import project_plan
from app.services.projects import Side
from forms.projects_plan import (
    MILESTONE_STATUS_COLOURS,
    MILESTONE_STATUS_LABELS,
    TASK_STATUS_ACTIONS,
    TASK_STATUS_COLOURS,
    TASK_STATUS_LABELS,
    EditTaskForm,
    MilestoneActionForm,
    ProgressForm,
    TaskForm,
    TaskStatusForm,
)

LABELS = {
    "milestone_status_labels": MILESTONE_STATUS_LABELS,
    "milestone_status_colours": MILESTONE_STATUS_COLOURS,
    "task_status_labels": TASK_STATUS_LABELS,
    "task_status_colours": TASK_STATUS_COLOURS,
    "task_status_actions": TASK_STATUS_ACTIONS,
}
PROGRESS_PREFIX = "progress"


def _add_prefix(milestone_id: int) -> str:
    return f"add{milestone_id}"


def _edit_prefix(task_id: int) -> str:
    return f"edit{task_id}"


def _back(project_id: int, anchor: str = "") -> ResponseReturnValue:
    return redirect(url_for("projects.plan", project_id=project_id) + (f"#{anchor}" if anchor else ""))


def _render(project_id: int, *, progress_form: ProgressForm | None = None,
            add_forms: dict[int, TaskForm] | None = None, edit_forms: dict[int, EditTaskForm] | None = None,
            status: int = 200) -> ResponseReturnValue:
    page = project_plan.plan_page(project_id, actor=actor())
    progress = progress_form or ProgressForm(
        formdata=None, prefix=PROGRESS_PREFIX, milestone_id=page.next_due.milestone.id if page.next_due else None)
    progress.set_milestones(project_plan.open_milestone_choices(page.project))
    adds: dict[int, TaskForm] = {}
    edits: dict[int, EditTaskForm] = {}
    for row in page.milestones:
        if row.can_add_task:
            form = (add_forms or {}).get(row.milestone.id) or TaskForm(formdata=None,
                                                                        prefix=_add_prefix(row.milestone.id))
            form.set_assignees(page.assignees)
            adds[row.milestone.id] = form
        for task_row in row.tasks:
            if not task_row.can_edit:
                continue
            task = task_row.task
            edit = (edit_forms or {}).get(task.id) or EditTaskForm(
                formdata=None, prefix=_edit_prefix(task.id), title=task.title,
                assignee=str(task.assignee_id or ""), due_date=task.due_date, version=str(task.version))
            edit.set_assignees(_with_current(page.assignees, task.assignee_id, task_row.assignee))
            edits[task.id] = edit
    return render_template(
        "projects/plan.html", **tabs_context(page.project, page.side, "plan"), page=page,
        progress_form=progress, add_forms=adds, edit_forms=edits, action_form=MilestoneActionForm(formdata=None),
        status_form=TaskStatusForm(formdata=None), **LABELS,
    ), status


def _require_planner(project: Project, side: Side) -> None:
    """Refuse (403) before reading a form only the expert and the hub may send; the service decides again."""
    if not project_plan.is_planner(actor(), project, side):
        raise PermissionDenied(_("Only the expert and the hub change the plan; write in the channel to ask."))


def _with_current(choices: list[tuple[int, str]], current_id: int | None, label: str) -> list[tuple[int, str]]:
    """The members, plus a task's current assignee who has left the project (kept until changed)."""
    if current_id is None or any(uid == current_id for uid, _label in choices):
        return choices
    return [*choices, (current_id, label or _("Former member"))]


@bp.get("/<int:project_id>/plan")
@members_only
def plan(project_id: int) -> ResponseReturnValue:
    """The plan: overall progress, what is due next and what is overdue, the timeline, milestones and tasks."""
    load(project_id)
    return _render(project_id)


# Milestones ---------------------------------------------------------------------------------


def _milestone_action(milestone_id: int, change: Callable[..., ProjectMilestone], done: str, *,
                      hub_only: bool = False) -> ResponseReturnValue:
    user: User = actor()
    milestone, project, side = project_plan.load_milestone(milestone_id, actor=user)
    if hub_only and side is not Side.HUB:
        raise PermissionDenied(_("Only the hub reopens a milestone that is done."))
    _require_planner(project, side)
    if not MilestoneActionForm().validate():
        flash(_("The form had expired; please try again."), "danger")
        return _back(project.id, f"milestone-{milestone_id}")
    outcome = perform(lambda: change(milestone_id, actor=user))
    if isinstance(outcome, DomainError):
        flash(str(outcome), "danger")
        return _back(project.id, f"milestone-{milestone_id}")
    flash(done % {"title": milestone.title}, "success")
    return _back(project.id, f"milestone-{milestone_id}")


@bp.post("/milestones/<int:milestone_id>/start")
@members_only
def start_milestone(milestone_id: int) -> ResponseReturnValue:
    """Start a planned milestone (the expert or the hub)."""
    return _milestone_action(milestone_id, project_plan.start_milestone, _("“%(title)s” is in progress."))


@bp.post("/milestones/<int:milestone_id>/complete")
@members_only
def complete_milestone(milestone_id: int) -> ResponseReturnValue:
    """Mark a milestone done (the expert or the hub)."""
    return _milestone_action(milestone_id, project_plan.complete_milestone, _("“%(title)s” is done."))


@bp.post("/milestones/<int:milestone_id>/reopen")
@members_only
def reopen_milestone(milestone_id: int) -> ResponseReturnValue:
    """Reopen a milestone that is done (the hub)."""
    return _milestone_action(milestone_id, project_plan.reopen_milestone, _("“%(title)s” is open again."),
                             hub_only=True)


# Progress -----------------------------------------------------------------------------------


@bp.post("/<int:project_id>/progress")
@members_only
def progress(project_id: int) -> ResponseReturnValue:
    """Post a progress update on a milestone (the expert, or the hub on the expert's behalf)."""
    project, side = load(project_id)
    _require_planner(project, side)
    form = ProgressForm(prefix=PROGRESS_PREFIX)
    form.set_milestones(project_plan.open_milestone_choices(project))
    if not form.validate():
        return _render(project.id, progress_form=form, status=422)
    outcome = perform(lambda: project_plan.post_progress(project.id, actor=actor(), milestone_id=form.milestone_id.data,
                                                         percent=int(form.percent.data),
                                                         text=form.text.data or ""))
    if isinstance(outcome, DomainError):
        flash(str(outcome), "danger")
        return _render(project.id, progress_form=form, status=outcome.status_code)
    update = outcome
    flash(_("Progress posted: %(percent)d %% on “%(title)s”. The company has been told.", percent=update.percent,
            title=update.milestone.title), "success")
    return _back(project.id, f"milestone-{update.milestone_id}")


# Tasks --------------------------------------------------------------------------------------


@bp.post("/milestones/<int:milestone_id>/tasks")
@members_only
def add_task(milestone_id: int) -> ResponseReturnValue:
    """Add a task to a milestone (the expert or the hub)."""
    user = actor()
    milestone, project, side = project_plan.load_milestone(milestone_id, actor=user)
    _require_planner(project, side)
    form = TaskForm(prefix=_add_prefix(milestone_id))
    form.set_assignees(project_plan.assignee_choices(project))
    if not form.validate():
        return _render(project.id, add_forms={milestone_id: form}, status=422)
    outcome = perform(lambda: project_plan.add_task(project.id, actor=user, milestone_id=milestone_id,
                                                    title=form.title.data or "", assignee_id=form.assignee_id(),
                                                    due_date=form.due_date.data))
    if isinstance(outcome, DomainError):
        form.title.errors = [*form.title.errors, str(outcome)]
        return _render(project.id, add_forms={milestone_id: form}, status=outcome.status_code)
    task = outcome
    flash(_("Task “%(title)s” added to “%(milestone)s”.", title=task.title, milestone=milestone.title), "success")
    return _back(project.id, f"task-{task.id}")


@bp.post("/tasks/<int:task_id>/status")
@members_only
def task_status(task_id: int) -> ResponseReturnValue:
    """Move a task to todo, doing or done (its assignee, the expert or the hub)."""
    user = actor()
    task, project, side = project_plan.load_task(task_id, actor=user)
    if not project_plan.can_set_task_status(user, project, side, task):
        raise PermissionDenied(_("Only the task's assignee, the expert and the hub change a task's status."))
    form = TaskStatusForm()
    if not form.validate():
        flash(_("Choose to do, doing or done."), "danger")
        return _back(project.id, f"task-{task_id}")
    outcome = perform(lambda: project_plan.set_task_status(task_id, actor=user, status=form.status.data or ""))
    if isinstance(outcome, DomainError):
        flash(str(outcome), "danger")
        return _back(project.id, f"task-{task_id}")
    flash(_("“%(title)s”: %(status)s.", title=task.title, status=TASK_STATUS_LABELS[task.status.value]), "success")
    return _back(project.id, f"task-{task_id}")


@bp.post("/tasks/<int:task_id>")
@members_only
def edit_task(task_id: int) -> ResponseReturnValue:
    """Change a task's title, assignee or due date (the expert or the hub)."""
    user = actor()
    task, project, side = project_plan.load_task(task_id, actor=user)
    _require_planner(project, side)
    form = EditTaskForm(prefix=_edit_prefix(task_id))
    labels = dict(project_plan.assignee_choices(project))
    form.set_assignees(_with_current(list(labels.items()), task.assignee_id, ""))
    if not form.validate():
        return _render(project.id, edit_forms={task_id: form}, status=422)
    outcome = perform(lambda: project_plan.edit_task(task_id, actor=user, title=form.title.data or "",
                                                     assignee_id=form.assignee_id(), due_date=form.due_date.data,
                                                     version=form.seen_version()))
    if isinstance(outcome, DomainError):
        form.title.errors = [*form.title.errors, str(outcome)]
        return _render(project.id, edit_forms={task_id: form}, status=outcome.status_code)
    flash(_("Task “%(title)s” saved.", title=task.title), "success")
    return _back(project.id, f"task-{task_id}")

