"""Server-side login sessions: the cookie carries a random token, the database its hash.

Logout revokes one session; a password change or a suspension revokes them all,
so a replayed cookie is refused on its next request.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from app.extensions import db
from app.models import User, UserSession
from app.services import uow

TOUCH_EVERY = timedelta(seconds=60)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(user: User, *, ip: str | None, user_agent: str | None) -> str:
    """Start a session for ``user`` and return the token for the cookie (commits)."""
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    db.session.add(
        UserSession(
            token_hash=_hash(token),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            ip_address=(ip or "")[:64] or None,
            user_agent=(user_agent or "")[:255] or None,
        )
    )
    user.last_login_at = now
    uow.commit()
    return token


def resolve(token: str | None, *, idle: timedelta, absolute: timedelta) -> User | None:
    """The user of a live session, or None when the token is unknown, revoked or expired."""
    if not token:
        return None
    # One query for the session and its user: every request and every Socket.IO event comes here
    # (two entities of one join cost less to load than a joined eager load).
    found = db.session.execute(sa.select(UserSession, User).join(User, User.id == UserSession.user_id)
                               .where(UserSession.token_hash == _hash(token))).first()
    if found is None:
        return None
    row, user = found
    if row.revoked_at is not None:
        return None
    now = datetime.now(UTC)
    if now - row.last_seen_at > idle or now - row.created_at > absolute:
        row.revoked_at = now
        uow.commit()
        return None
    if user.suspended_at is not None:
        return None
    if now - row.last_seen_at > TOUCH_EVERY:
        row.last_seen_at = now
        uow.commit()
    return user


def revoke(token: str | None) -> None:
    """End one session (logout). Unknown tokens are ignored."""
    if not token:
        return
    db.session.execute(
        sa.update(UserSession)
        .where(UserSession.token_hash == _hash(token), UserSession.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
    uow.commit()


def revoke_all(user: User, *, keep_token: str | None = None) -> None:
    """End every session of ``user`` except ``keep_token``'s, in the caller's transaction."""
    stmt = sa.update(UserSession).where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
    if keep_token:
        stmt = stmt.where(UserSession.token_hash != _hash(keep_token))
    db.session.execute(stmt.values(revoked_at=datetime.now(UTC)))
