"""The generic transition table."""

from __future__ import annotations

from collections.abc import Mapping, Set
from enum import StrEnum
from typing import Generic, TypeVar

from app.exceptions import InvalidTransition

StateT = TypeVar("StateT", bound=StrEnum)


class Workflow(Generic[StateT]):
    """A named table of allowed ``state -> {next states}``."""

    def __init__(self, name: str, transitions: Mapping[StateT, Set[StateT]]) -> None:
        self.name = name
        self._next: dict[StateT, frozenset[StateT]] = {s: frozenset(t) for s, t in transitions.items()}

    @property
    def states(self) -> frozenset[StateT]:
        """Every state the table knows."""
        return frozenset(self._next)

    def allows(self, current: StateT, target: StateT) -> bool:
        """Whether ``current -> target`` is in the table."""
        return target in self._next.get(current, frozenset())

    def check(self, current: StateT, target: StateT) -> None:
        """Raise :class:`InvalidTransition` unless the change is allowed."""
        if not self.allows(current, target):
            raise InvalidTransition(self.name, current, target)

    def targets(self, current: StateT) -> frozenset[StateT]:
        """The states reachable in one step."""
        return self._next.get(current, frozenset())

    def is_terminal(self, state: StateT) -> bool:
        """A state with no way out."""
        return not self._next.get(state)
