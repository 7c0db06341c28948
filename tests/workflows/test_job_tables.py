"""The job transition table is exactly WORKFLOW.md §2–3."""

import pytest

from app.exceptions import InvalidTransition
from app.models import JobStatus as J
from app.workflows.jobs import JOB_WORKFLOW

EXPECTED = {
    (J.DRAFT, J.PENDING_REVIEW),
    (J.PENDING_REVIEW, J.PUBLISHED),
    (J.PENDING_REVIEW, J.CLARIFICATION_REQUESTED),
    (J.PENDING_REVIEW, J.REJECTED),
    (J.CLARIFICATION_REQUESTED, J.PENDING_REVIEW),
    (J.PUBLISHED, J.AWARDED),
    (J.PUBLISHED, J.CLOSED),
    (J.DRAFT, J.CANCELLED),
    (J.PENDING_REVIEW, J.CANCELLED),
    (J.CLARIFICATION_REQUESTED, J.CANCELLED),
    (J.PUBLISHED, J.CANCELLED),
}


def test_every_state_is_a_key():
    assert JOB_WORKFLOW.states == set(J)


@pytest.mark.parametrize("current", list(J))
@pytest.mark.parametrize("target", list(J))
def test_allowed_pairs_are_exactly_the_design(current, target):
    assert JOB_WORKFLOW.allows(current, target) == ((current, target) in EXPECTED)
    if (current, target) not in EXPECTED:
        with pytest.raises(InvalidTransition) as info:
            JOB_WORKFLOW.check(current, target)
        assert current.value.replace("_", " ") in str(info.value)


def test_terminal_states():
    assert {s for s in J if JOB_WORKFLOW.is_terminal(s)} == {J.AWARDED, J.CLOSED, J.REJECTED, J.CANCELLED}
