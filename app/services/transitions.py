"""transition(): check + audit + assign. The only place that writes ``.status``."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Protocol, TypeVar

from app.models import AuditEvent, User
from app.services import audit
from app.workflows.base import Workflow

StateT = TypeVar("StateT", bound=StrEnum)


class Stateful(Protocol[StateT]):
    __tablename__: str
    id: int
    status: StateT


def transition(
    obj: Stateful[StateT], workflow: Workflow[StateT], target: StateT, *, actor: User | None, **data: Any
) -> AuditEvent:
    """Check, audit and apply one state change in the caller's transaction.

    :raises InvalidTransition: the workflow does not allow ``obj.status -> target``.
    """
    workflow.check(obj.status, target)
    event = audit.record(
        f"{workflow.name}.{target.value}",
        actor=actor,
        entity=obj.__tablename__,
        entity_id=obj.id,
        from_state=obj.status.value,
        to_state=target.value,
        data=data,
    )
    obj.status = target
    return event
