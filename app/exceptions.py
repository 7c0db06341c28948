"""Domain errors. Services raise them; app/errors.py turns them into responses."""

from __future__ import annotations

from enum import StrEnum


class DomainError(Exception):
    """A rule of the domain refused the operation; the message is for people."""

    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class NotFound(DomainError):
    """The object does not exist, or the actor may not know that it does."""

    status_code = 404


class PermissionDenied(DomainError):
    """The actor may not do this."""

    status_code = 403


class InvalidTransition(DomainError):
    """The workflow does not allow this change from the current state."""

    status_code = 409

    def __init__(self, workflow: str, current: StrEnum, target: StrEnum, message: str | None = None) -> None:
        self.workflow = workflow
        self.current = current
        self.target = target
        super().__init__(
            message
            or f"This {workflow.replace('_', ' ')} is {_human(current)}; it cannot become {_human(target)}."
        )


class ConcurrentUpdate(DomainError):
    """Someone else changed the object first; reload and try again."""

    status_code = 409


class ValidationFailed(DomainError):
    """The input is well-formed but breaks a business rule (e.g. documents missing)."""

    status_code = 422


def _human(state: StrEnum) -> str:
    return str(state.value).replace("_", " ")
