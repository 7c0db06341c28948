"""The unit of work's hooks (app/services/uow.py): before commit, after commit, nothing on rollback."""

from __future__ import annotations

from typing import Any

import pytest

from app.exceptions import ConcurrentUpdate
from app.services import uow


def test_before_commit_sees_the_final_state_and_may_register_after_commit(app: Any) -> None:
    calls: list[str] = []
    state = {"text": "first"}

    def prepare() -> None:
        calls.append(f"before:{state['text']}")
        uow.after_commit(lambda text: calls.append(f"after:{text}"), state["text"])

    uow.before_commit(prepare)
    state["text"] = "changed later in the unit of work"
    assert calls == []
    uow.commit()
    assert calls == ["before:changed later in the unit of work", "after:changed later in the unit of work"]
    uow.commit()  # a second commit runs nothing again
    assert len(calls) == 2


def test_a_rollback_discards_both_hooks(app: Any) -> None:
    calls: list[str] = []
    uow.before_commit(calls.append, "before")
    uow.after_commit(calls.append, "after")
    uow.rollback()
    uow.commit()
    assert calls == []


def test_a_failing_before_hook_commits_nothing_and_runs_no_after_hook(app: Any) -> None:
    calls: list[str] = []

    def fail() -> None:
        raise ConcurrentUpdate("stop")

    uow.before_commit(fail)
    uow.after_commit(calls.append, "after")
    with pytest.raises(ConcurrentUpdate):
        uow.commit()
    uow.rollback()
    assert calls == []
