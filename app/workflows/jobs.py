"""Steps 2–3: the job machine (WORKFLOW.md §2–3).

draft -submit-> pending_review -publish-> published -award-> awarded
pending_review -request_clarification-> clarification_requested -answer-> pending_review
pending_review -reject-> rejected
published -close-> closed
draft | pending_review | clarification_requested | published -cancel-> cancelled
"""

from __future__ import annotations

from app.models.jobs import JobStatus as J
from app.workflows.base import Workflow

JOB_TRANSITIONS = {
    J.DRAFT: {J.PENDING_REVIEW, J.CANCELLED},
    J.PENDING_REVIEW: {J.PUBLISHED, J.CLARIFICATION_REQUESTED, J.REJECTED, J.CANCELLED},
    J.CLARIFICATION_REQUESTED: {J.PENDING_REVIEW, J.CANCELLED},
    J.PUBLISHED: {J.AWARDED, J.CLOSED, J.CANCELLED},
    J.AWARDED: set(),
    J.CLOSED: set(),
    J.REJECTED: set(),
    J.CANCELLED: set(),
}

JOB_WORKFLOW = Workflow("job", JOB_TRANSITIONS)
