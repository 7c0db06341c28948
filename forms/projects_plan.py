"""Forms of the plan tab: milestone buttons, progress updates, tasks and their status.

Shape only (required, lengths, 0–100, dates): app/services/project_plan.py decides
who may change what, checks the assignee and the due date, and the workflow.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from app.models import MilestoneStatus, TaskStatus
from forms.jobs import PlainDateField

TITLE_MAX = 200
PROGRESS_TEXT_MAX = 2000

MILESTONE_STATUS_LABELS: dict[str, LazyString] = {
    MilestoneStatus.PLANNED.value: _l("Planned"),
    MilestoneStatus.IN_PROGRESS.value: _l("In progress"),
    MilestoneStatus.DONE.value: _l("Done"),
}
MILESTONE_STATUS_COLOURS = {"planned": "secondary", "in_progress": "primary", "done": "success"}
TASK_STATUS_LABELS: dict[str, LazyString] = {
    TaskStatus.TODO.value: _l("To do"),
    TaskStatus.DOING.value: _l("Doing"),
    TaskStatus.DONE.value: _l("Done"),
}
TASK_STATUS_COLOURS = {"todo": "light", "doing": "info", "done": "success"}
# The button that moves a task to each status.
TASK_STATUS_ACTIONS: dict[str, LazyString] = {
    TaskStatus.TODO.value: _l("Back to to do"),
    TaskStatus.DOING.value: _l("Start"),
    TaskStatus.DONE.value: _l("Mark done"),
}


class MilestoneActionForm(FlaskForm):
    """Start, complete or reopen a milestone: a button (the CSRF token only)."""


class ProgressForm(FlaskForm):
    """The expert's progress on one milestone: a percent and what was done."""

    milestone_id = SelectField(_l("Milestone"), coerce=int, choices=[],
                               validators=[InputRequired(message=_l("Choose a milestone."))])
    percent = IntegerField(
        _l("Progress (%)"),
        validators=[InputRequired(message=_l("Enter the progress as a percent, 0 to 100.")),
                    NumberRange(min=0, max=100, message=_l("Enter a whole percent between 0 and 100."))],
        render_kw={"min": 0, "max": 100, "step": 1, "inputmode": "numeric"},
    )
    text = TextAreaField(
        _l("What was done, what comes next"),
        validators=[DataRequired(message=_l("Describe the progress in a few words.")),
                    Length(max=PROGRESS_TEXT_MAX, message=_l("At most %(max)d characters."))],
        render_kw={"rows": 3, "maxlength": PROGRESS_TEXT_MAX},
        description=_l("Posted in the channel and sent to the company. Contact details are hidden from the company."),
    )

    def set_milestones(self, milestones: Iterable[tuple[int, str]]) -> None:
        """The milestones that can still get progress."""
        self.milestone_id.choices = [SelectChoice(mid, label) for mid, label in milestones]


class TaskForm(FlaskForm):
    """A task of a milestone: its title, who does it, and by when."""

    title = StringField(
        _l("Task"),
        validators=[DataRequired(message=_l("Give the task a title.")),
                    Length(max=TITLE_MAX, message=_l("At most %(max)d characters."))],
        render_kw={"maxlength": TITLE_MAX},
    )
    assignee = SelectField(_l("Assigned to"), choices=[], default="", validate_choice=True)
    due_date = PlainDateField(_l("Due (optional)"), validators=[Optional()])

    def set_assignees(self, members: Iterable[tuple[int, str]]) -> None:
        """The project's active members, and "no one"."""
        self.assignee.choices = [SelectChoice("", _l("No one")),
                                 *(SelectChoice(str(uid), label) for uid, label in members)]

    def assignee_id(self) -> int | None:
        """The chosen member's user id, or None."""
        value = self.assignee.data or ""
        return int(value) if value.isdigit() else None


class EditTaskForm(TaskForm):
    """A task's new title, assignee or due date; ``version`` is the task's version the editor saw."""

    version = HiddenField()

    def seen_version(self) -> int | None:
        """The version the editor saw, if the form carried one."""
        value = self.version.data or ""
        return int(value) if str(value).isdigit() else None


class TaskStatusForm(FlaskForm):
    """A task status button: ``status`` is the value of the button pressed."""

    status = SelectField(
        _l("Status"), choices=[SelectChoice(value, label) for value, label in TASK_STATUS_LABELS.items()],
        validators=[InputRequired(message=_l("Choose to do, doing or done."))],
    )
