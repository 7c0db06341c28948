"""Step 6: the contract machine, and the project's (WORKFLOW.md §6–7).

contract: awaiting_signatures -sign (the last signature)-> signed -fund-> funded
          awaiting_signatures | signed -cancel-> cancelled
project:  active -complete-> completed ; active -cancel-> cancelled
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
    P.ACTIVE: {P.COMPLETED, P.CANCELLED},
    P.COMPLETED: set(),
    P.CANCELLED: set(),
}
PROJECT_WORKFLOW = Workflow("project", PROJECT_TRANSITIONS)
