"""The transition tables themselves: complete, and exactly WORKFLOW.md §1."""

import pytest

from app.exceptions import InvalidTransition
from app.models import VerificationStatus as S
from app.workflows.verification import COMPANY_WORKFLOW, EXPERT_WORKFLOW

EXPECTED = {
    (S.DRAFT, S.PENDING_VERIFICATION),
    (S.PENDING_VERIFICATION, S.APPROVED),
    (S.PENDING_VERIFICATION, S.INFO_REQUESTED),
    (S.PENDING_VERIFICATION, S.REJECTED),
    (S.INFO_REQUESTED, S.PENDING_VERIFICATION),
    (S.APPROVED, S.SUSPENDED),
    (S.SUSPENDED, S.APPROVED),
}


@pytest.mark.parametrize("workflow", [COMPANY_WORKFLOW, EXPERT_WORKFLOW], ids=lambda w: w.name)
def test_every_state_is_a_key(workflow):
    assert workflow.states == set(S)


@pytest.mark.parametrize("workflow", [COMPANY_WORKFLOW, EXPERT_WORKFLOW], ids=lambda w: w.name)
@pytest.mark.parametrize("current", list(S))
@pytest.mark.parametrize("target", list(S))
def test_allowed_pairs_are_exactly_the_design(workflow, current, target):
    assert workflow.allows(current, target) == ((current, target) in EXPECTED)
    if (current, target) not in EXPECTED:
        with pytest.raises(InvalidTransition) as info:
            workflow.check(current, target)
        assert current.value.replace("_", " ") in str(info.value)


def test_only_rejected_is_terminal():
    assert {s for s in S if COMPANY_WORKFLOW.is_terminal(s)} == {S.REJECTED}
