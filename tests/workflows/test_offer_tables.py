"""The offer, match-run and invitation transition tables are exactly WORKFLOW.md §4."""

import pytest

from app.exceptions import InvalidTransition
from app.models import InvitationStatus as I
from app.models import MatchRunStatus as R
from app.models import OfferStatus as O
from app.workflows.matching import INVITATION_WORKFLOW, MATCH_RUN_WORKFLOW
from app.workflows.offers import OFFER_WORKFLOW

PENDING = (O.SUBMITTED, O.FORWARDED, O.IN_NEGOTIATION, O.REVISED)
OFFER_EXPECTED = {
    (O.SUBMITTED, O.FORWARDED),
    (O.SUBMITTED, O.DECLINED),
    (O.FORWARDED, O.ACCEPTED),
    (O.FORWARDED, O.IN_NEGOTIATION),
    (O.FORWARDED, O.REJECTED),
    (O.IN_NEGOTIATION, O.REVISED),
    (O.IN_NEGOTIATION, O.REJECTED),
    (O.REVISED, O.FORWARDED),
    (O.REVISED, O.DECLINED),
    *((s, O.WITHDRAWN) for s in PENDING),
    *((s, O.NOT_SELECTED) for s in PENDING),
}
RUN_EXPECTED = {(R.QUEUED, R.RUNNING), (R.QUEUED, R.FAILED), (R.RUNNING, R.COMPLETED), (R.RUNNING, R.FAILED)}


def test_every_state_is_a_key():
    assert OFFER_WORKFLOW.states == set(O)
    assert MATCH_RUN_WORKFLOW.states == set(R)
    assert INVITATION_WORKFLOW.states == set(I)


@pytest.mark.parametrize("current", list(O))
@pytest.mark.parametrize("target", list(O))
def test_offer_pairs_are_exactly_the_design(current, target):
    assert OFFER_WORKFLOW.allows(current, target) == ((current, target) in OFFER_EXPECTED)
    if (current, target) not in OFFER_EXPECTED:
        with pytest.raises(InvalidTransition):
            OFFER_WORKFLOW.check(current, target)


@pytest.mark.parametrize("current", list(R))
@pytest.mark.parametrize("target", list(R))
def test_run_pairs_are_exactly_the_design(current, target):
    assert MATCH_RUN_WORKFLOW.allows(current, target) == ((current, target) in RUN_EXPECTED)


def test_terminal_states():
    assert {s for s in O if OFFER_WORKFLOW.is_terminal(s)} == {
        O.ACCEPTED, O.DECLINED, O.REJECTED, O.WITHDRAWN, O.NOT_SELECTED,
    }
    assert {s for s in R if MATCH_RUN_WORKFLOW.is_terminal(s)} == {R.COMPLETED, R.FAILED}
    assert INVITATION_WORKFLOW.allows(I.OPEN, I.DECLINED)
    assert INVITATION_WORKFLOW.is_terminal(I.DECLINED)
