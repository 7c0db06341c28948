"""Tell people what concerns them: a bell notification and an e-mail, both from one call.

Services call :func:`notify` inside their transaction; the e-mail goes out through
the outbox after commit, rendered in the recipient's language.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from app import notification_kinds
from app.exceptions import NotFound
from app.extensions import db
from app.models import Notification, Role, User
from app.services import outbox, uow


def notify(user: User, kind: str, *, link: str = "", email: bool = True, **params: Any) -> Notification:
    """Create an in-app notification for ``user`` and queue its e-mail (never commits)."""
    if kind not in notification_kinds.KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    note = Notification(user_id=user.id, kind=kind, params=params, link=link)
    db.session.add(note)
    db.session.flush()
    if email:
        outbox.enqueue("email.notification", notification_id=note.id)
    return note


def notify_staff(kind: str, *, link: str = "", **params: Any) -> None:
    """Notify every active hub admin (never commits)."""
    admins = db.session.scalars(
        sa.select(User).where(User.role == Role.ADMIN, User.suspended_at.is_(None))
    ).all()
    for admin in admins:
        notify(admin, kind, link=link, **params)


def send_email(to: str, template: str, *, locale: str = "en", user_id: int | None = None, **params: Any) -> None:
    """Queue an e-mail that is not a bell notification (sign-up link, reset link; never commits)."""
    outbox.enqueue("email.direct", to=to, template=template, locale=locale, user_id=user_id, params=params)


def mark_read(notification_id: int, *, actor: User) -> Notification:
    """Mark one of the actor's notifications read.

    :raises NotFound: no such notification for this user.
    """
    note = db.session.get(Notification, notification_id)
    if note is None or note.user_id != actor.id:
        raise NotFound(_("This notification does not exist."))
    if note.read_at is None:
        note.read_at = datetime.now(UTC)
        uow.commit()
    return note


def mark_all_read(*, actor: User) -> int:
    """Mark every unread notification of the actor read; returns how many."""
    result = db.session.execute(
        sa.update(Notification)
        .where(Notification.user_id == actor.id, Notification.read_at.is_(None))
        .values(read_at=datetime.now(UTC))
    )
    uow.commit()
    return int(getattr(result, "rowcount", 0) or 0)


def unread_count(user: User) -> int:
    """How many notifications the user has not read."""
    return int(
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Notification)
            .where(Notification.user_id == user.id, Notification.read_at.is_(None))
        )
        or 0
    )
