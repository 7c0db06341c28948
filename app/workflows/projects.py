"""Steps 7–8: the machines of a project's plan (WORKFLOW.md §7–8).

milestone: planned -start-> in_progress -complete-> done ; planned -complete-> done
           done -reopen-> in_progress (the hub only: app/services/project_plan.py checks who)
task:      todo <-> doing <-> done ; todo -> done
"""

from __future__ import annotations

from app.models.projects import MilestoneStatus as M
from app.models.projects import TaskStatus as T
from app.workflows.base import Workflow

MILESTONE_TRANSITIONS = {
    M.PLANNED: {M.IN_PROGRESS, M.DONE},
    M.IN_PROGRESS: {M.DONE},
    M.DONE: {M.IN_PROGRESS},
}
MILESTONE_WORKFLOW = Workflow("milestone", MILESTONE_TRANSITIONS)

TASK_TRANSITIONS = {
    T.TODO: {T.DOING, T.DONE},
    T.DOING: {T.TODO, T.DONE},
    T.DONE: {T.DOING},
}
TASK_WORKFLOW = Workflow("task", TASK_TRANSITIONS)
