"""Step 4–5: the offer machine (WORKFLOW.md §4).

submitted -forward-> forwarded -accept-> accepted
submitted -decline_by_hub-> declined
forwarded -negotiate-> in_negotiation -revise (new version)-> revised -forward-> forwarded
forwarded | in_negotiation -reject (company)-> rejected
submitted | forwarded | in_negotiation | revised -withdraw (expert)-> withdrawn
any pending offer -(another offer of the job accepted)-> not_selected
"""

from __future__ import annotations

from app.models.offers import OfferStatus as O
from app.workflows.base import Workflow

OFFER_TRANSITIONS = {
    O.SUBMITTED: {O.FORWARDED, O.DECLINED, O.WITHDRAWN, O.NOT_SELECTED},
    O.FORWARDED: {O.ACCEPTED, O.IN_NEGOTIATION, O.REJECTED, O.WITHDRAWN, O.NOT_SELECTED},
    O.IN_NEGOTIATION: {O.REVISED, O.REJECTED, O.WITHDRAWN, O.NOT_SELECTED},
    O.REVISED: {O.FORWARDED, O.DECLINED, O.WITHDRAWN, O.NOT_SELECTED},
    O.ACCEPTED: set(),
    O.DECLINED: set(),
    O.REJECTED: set(),
    O.WITHDRAWN: set(),
    O.NOT_SELECTED: set(),
}

OFFER_WORKFLOW = Workflow("offer", OFFER_TRANSITIONS)
