"""Unit of work: the single commit point, plus post-commit callbacks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.orm.exc import StaleDataError

from app.exceptions import ConcurrentUpdate
from app.extensions import db

M = TypeVar("M")
_PENDING = "after_commit"
_BEFORE = "before_commit"


def before_commit(func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
    """Run ``func`` at :func:`commit`, just before the commit, on the transaction's final state.

    For work that must see what the rest of the unit of work did after it was
    registered (a message's payloads, say); it may register :func:`after_commit`
    callbacks. Keep it cheap.
    """
    db.session.info.setdefault(_BEFORE, []).append((func, args, kwargs))


def after_commit(func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
    """Run ``func`` only if the current transaction commits. Keep it cheap."""
    db.session.info.setdefault(_PENDING, []).append((func, args, kwargs))


def commit() -> None:
    """Commit the session (the only ``db.session.commit()`` in app/), then run callbacks.

    :raises ConcurrentUpdate: another transaction changed a versioned row first
        (optimistic locking); nothing of this unit of work is kept.
    """
    for func, args, kwargs in db.session.info.pop(_BEFORE, []):
        func(*args, **kwargs)
    callbacks = db.session.info.pop(_PENDING, [])
    try:
        db.session.commit()
    except StaleDataError as exc:
        rollback()
        raise ConcurrentUpdate(_("Someone else changed this at the same time. Reload the page and try again.")) from exc
    for func, args, kwargs in callbacks:
        func(*args, **kwargs)


def rollback() -> None:
    """Discard the unit of work and its callbacks."""
    db.session.info.pop(_BEFORE, None)
    db.session.info.pop(_PENDING, None)
    db.session.rollback()


@sa.event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, previous: SessionTransaction) -> None:
    if previous.parent is None:  # outermost rollback: the callbacks must never fire
        session.info.pop(_BEFORE, None)
        session.info.pop(_PENDING, None)


def locked(model: type[M], row_id: int) -> M | None:
    """One row, locked until commit (``SELECT … FOR UPDATE``; SQLite ignores it) and re-read.

    The lock is taken with a plain SELECT of the id, then the row is re-read: an ORM load
    FOR UPDATE of a row this session already holds (the page a view rendered first) would
    fail its version check instead of reading what a concurrent transaction committed.
    """
    column = model.id  # type: ignore[attr-defined]
    db.session.execute(sa.select(column).where(column == row_id).with_for_update())
    return db.session.get(model, row_id, populate_existing=True)
