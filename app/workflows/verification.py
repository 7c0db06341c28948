"""Step 1: the verification machine shared by companies and experts (WORKFLOW.md §1).

draft -submit-> pending_verification -approve-> approved -suspend-> suspended -reinstate-> approved
pending_verification -request_info-> info_requested -resubmit-> pending_verification
pending_verification -reject-> rejected
"""

from __future__ import annotations

from app.models.enums import VerificationStatus as S
from app.workflows.base import Workflow

VERIFICATION_TRANSITIONS = {
    S.DRAFT: {S.PENDING_VERIFICATION},
    S.PENDING_VERIFICATION: {S.APPROVED, S.INFO_REQUESTED, S.REJECTED},
    S.INFO_REQUESTED: {S.PENDING_VERIFICATION},
    S.APPROVED: {S.SUSPENDED},
    S.SUSPENDED: {S.APPROVED},
    S.REJECTED: set(),
}

COMPANY_WORKFLOW = Workflow("company", VERIFICATION_TRANSITIONS)
EXPERT_WORKFLOW = Workflow("expert", VERIFICATION_TRANSITIONS)
