"""Step 4: a ranking run and an invitation (WORKFLOW.md §4).

Match run:   queued -start-> running -complete-> completed
                               └─fail-> failed        (a failed run is re-queued as a new run)
Invitation:  open -decline (expert, with a reason)-> declined
"""

from __future__ import annotations

from app.models.jobs import InvitationStatus as I
from app.models.matching import MatchRunStatus as R
from app.workflows.base import Workflow

MATCH_RUN_TRANSITIONS = {
    R.QUEUED: {R.RUNNING, R.FAILED},
    R.RUNNING: {R.COMPLETED, R.FAILED},
    R.COMPLETED: set(),
    R.FAILED: set(),
}
MATCH_RUN_WORKFLOW = Workflow("match_run", MATCH_RUN_TRANSITIONS)

INVITATION_TRANSITIONS = {
    I.OPEN: {I.DECLINED},
    I.DECLINED: set(),
}
INVITATION_WORKFLOW = Workflow("invitation", INVITATION_TRANSITIONS)
