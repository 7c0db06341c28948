"""The catalog ticket machine (WORKFLOW.md §2–3).

open -start-> in_progress -resolve-> resolved
                          -decline-> declined
"""

from __future__ import annotations

from app.models.tickets import TicketStatus as T
from app.workflows.base import Workflow

TICKET_TRANSITIONS = {
    T.OPEN: {T.IN_PROGRESS},
    T.IN_PROGRESS: {T.RESOLVED, T.DECLINED},
    T.RESOLVED: set(),
    T.DECLINED: set(),
}

TICKET_WORKFLOW = Workflow("ticket", TICKET_TRANSITIONS)
