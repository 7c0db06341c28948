"""Step 6: the contract machine, and the project's (WORKFLOW.md §6–7).

contract: awaiting_signatures -sign (the last signature)-> signed -fund-> funded
          awaiting_signatures | signed -cancel-> cancelled
project:  active -approve-> accepted -release-> completed ; active -cancel (refund)-> cancelled
          accepted -dispute-> disputed (before the release ran)
          active -dispute-> disputed -decide-> completed (release, split) | cancelled (refund) | active (withdrawn)
"""

from __future__ import annotations

from app.models.contracts import ContractStatus as C
from app.models.contracts import ProjectStatus as P
from app.workflows.base import Workflow

CONTRACT_TRANSITIONS = {
    C.AWAITING_SIGNATURES: {C.SIGNED, C.CANCELLED},
    C.SIGNED: {C.FUNDED, C.CANCELLED},
    C.FUNDED: set(),
    C.CANCELLED: set(),
}
CONTRACT_WORKFLOW = Workflow("contract", CONTRACT_TRANSITIONS)

PROJECT_TRANSITIONS = {
    P.ACTIVE: {P.ACCEPTED, P.DISPUTED, P.CANCELLED},  # approve; open a dispute; cancel before work starts
    P.ACCEPTED: {P.COMPLETED, P.DISPUTED},  # the escrow is released; or disputed before the release ran
    P.DISPUTED: {P.ACTIVE, P.COMPLETED, P.CANCELLED},  # withdrawn; release or split; refund
    P.COMPLETED: set(),
    P.CANCELLED: set(),
}
PROJECT_WORKFLOW = Workflow("project", PROJECT_TRANSITIONS)
