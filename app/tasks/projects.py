"""Scheduled work of the project workspace: reminders about overdue milestones."""

from __future__ import annotations

import logging

from app.services import project_plan, uow
from app.tasks.context import with_app_context

logger = logging.getLogger(__name__)


@with_app_context
def remind_overdue_milestones() -> int:
    """Remind the expert and the hub of every milestone that became overdue; returns how many.

    Safe to run again (a milestone is reported once); a failure keeps nothing and is retried by the next sweep.
    """
    try:
        count = project_plan.remind_overdue()
        uow.commit()
    except Exception:
        uow.rollback()
        raise
    return count
