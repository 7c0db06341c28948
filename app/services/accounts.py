"""Accounts: sign-up, e-mail verification, passwords, second factor, preferences, suspension."""

from __future__ import annotations

from app.exceptions import NotFound, PermissionDenied
from app.extensions import db
from app.models import User
from app.services import audit, uow


def set_preferences(user_id: int, *, actor: User, locale: str | None = None, timezone: str | None = None) -> User:
    """Save the user's language and time zone.

    :raises NotFound: no such user.
    :raises PermissionDenied: users change only their own preferences.
    """
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("This account does not exist.")
    if actor.id != user.id:
        raise PermissionDenied("You can only change your own preferences.")
    changes: dict[str, str] = {}
    if locale is not None and locale != user.locale:
        user.locale = changes["locale"] = locale
    if timezone is not None and timezone != user.timezone:
        user.timezone = changes["timezone"] = timezone
    if changes:
        audit.record("user.preferences_changed", actor=actor, entity="users", entity_id=user.id, data=changes)
        uow.commit()
    return user
