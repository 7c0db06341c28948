"""Steps 9–10: the delivery machine and the money after it (WORKFLOW.md §9–10).

delivery: submitted -> qc_review | hub_review ; qc_review -> hub_review | changes_requested
          hub_review -> forwarded | changes_requested ; forwarded -> approved | revision_requested
payout:   pending -> sent | failed ; failed -> pending (retried by an admin)
refund:   pending -> sent | failed ; failed -> pending
dispute:  open -> decided
"""

from __future__ import annotations

from app.models.delivery import DeliveryStatus as D
from app.models.delivery import DisputeStatus as S
from app.models.delivery import PayoutStatus as P
from app.models.delivery import RefundStatus as R
from app.workflows.base import Workflow

DELIVERY_TRANSITIONS = {
    D.SUBMITTED: {D.QC_REVIEW, D.HUB_REVIEW},
    D.QC_REVIEW: {D.HUB_REVIEW, D.CHANGES_REQUESTED},
    D.HUB_REVIEW: {D.FORWARDED, D.CHANGES_REQUESTED},
    D.FORWARDED: {D.APPROVED, D.REVISION_REQUESTED},
    D.CHANGES_REQUESTED: set(),  # the expert submits a new delivery
    D.REVISION_REQUESTED: set(),
    D.APPROVED: set(),
}
DELIVERY_WORKFLOW = Workflow("delivery", DELIVERY_TRANSITIONS)

PAYOUT_TRANSITIONS = {P.PENDING: {P.SENT, P.FAILED}, P.FAILED: {P.PENDING}, P.SENT: set()}
PAYOUT_WORKFLOW = Workflow("payout", PAYOUT_TRANSITIONS)

REFUND_TRANSITIONS = {R.PENDING: {R.SENT, R.FAILED}, R.FAILED: {R.PENDING}, R.SENT: set()}
REFUND_WORKFLOW = Workflow("refund", REFUND_TRANSITIONS)

DISPUTE_TRANSITIONS = {S.OPEN: {S.DECIDED}, S.DECIDED: set()}
DISPUTE_WORKFLOW = Workflow("dispute", DISPUTE_TRANSITIONS)
