"""Socket.IO events of the project channel (INTEGRATIONS.md §2.3).

A connection is authenticated from the login session (Flask-Login) and its
``Origin`` must be this site or one listed in ``SOCKETIO_ALLOWED_ORIGINS``.
Every event re-checks that the user is still active and on the project:

- ``join {project_id, after_id?}`` → ack ``{ok, side, messages}``: enters the
  room of the user's side and returns what was missed since ``after_id``;
- ``send {project_id, body, audience?}`` → ack ``{ok, id}`` or ``{ok: false, error}``:
  stores the message (app/services/projects.py), which is then pushed to the rooms;
- ``read {project_id, last_id}``: the unread mark;
- ``leave {project_id}``.

Connections are registered per user (in Redis, or the in-process fake when
embedded) so that :func:`disconnect_user` ends every connection of a user whose
access ended (log-out, suspension, removal from a project), on any process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import Flask, current_app, g, request
from flask_login import current_user
from flask_socketio import disconnect, join_room, leave_room

from app.exceptions import DomainError, NotFound
from app.extensions import socketio
from app.models import Audience, User
from app.services import projects, uow
from app.tasks import queue

logger = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])
SID_TTL = 24 * 3600


def _sids_key(user_id: int) -> str:
    return f"sio:user:{user_id}:sids"


def _origin_allowed() -> bool:
    origin = request.headers.get("Origin")
    if not origin:
        return True  # not a browser (server-side clients); the session cookie still decides
    allowed = {o.rstrip("/") for o in current_app.config.get("SOCKETIO_ALLOWED_ORIGINS", ())}
    own = urlsplit(request.host_url)
    allowed.add(f"{own.scheme}://{own.netloc}")
    return origin.rstrip("/") in allowed


def _forget_user() -> None:
    """Load the user afresh for this event.

    Flask-Login caches the user on ``g``; an event normally gets a new app context, but
    one held open around many events (tests, a worker) would otherwise keep the user of
    an earlier event or request, and a suspension would go unnoticed.
    """
    g.pop("_login_user", None)


def _user() -> User | None:
    user = current_user._get_current_object() if current_user else None
    if not isinstance(user, User) or not user.is_authenticated or user.suspended_at is not None:
        return None
    return user


def authenticated_only(handler: F) -> F:
    """Refuse (and disconnect) an event from a connection whose user is gone or suspended."""

    @wraps(handler)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        _forget_user()
        if _user() is None:
            disconnect()
            return {"ok": False, "error": "unauthorized"}
        return handler(*args, **kwargs)

    return cast(F, wrapped)


def _project_id(data: Any) -> int | None:
    try:
        value = int(data["project_id"]) if isinstance(data, dict) and data.get("project_id") is not None else None
    except (TypeError, ValueError):
        return None
    return value if value and value > 0 else None


def _int(data: dict[str, Any], name: str) -> int | None:
    try:
        value = data.get(name)
        return int(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None


def on_connect(auth: Any = None) -> bool:
    """Accept a logged-in, active user from an allowed origin; register the connection."""
    _forget_user()
    user = _user()
    if user is None or not _origin_allowed():
        return False
    sid = request.sid  # type: ignore[attr-defined]
    join_room(projects.user_room(user.id))
    try:
        conn = queue.connection()
        conn.sadd(_sids_key(user.id), sid)
        conn.expire(_sids_key(user.id), SID_TTL)
    except Exception:
        logger.warning("Could not register socket %s", sid, exc_info=True)
    return True


def on_disconnect(reason: Any = None) -> None:
    """Forget the connection."""
    _forget_user()
    user = _user()
    if user is None:
        return
    try:
        queue.connection().srem(_sids_key(user.id), request.sid)  # type: ignore[attr-defined]
    except Exception:
        logger.debug("Could not unregister a socket", exc_info=True)


@authenticated_only
def on_join(data: Any) -> dict[str, Any]:
    """Enter the room of the user's side of a project; ack with the messages missed since ``after_id``."""
    user = _user()
    project_id = _project_id(data)
    if user is None or project_id is None:
        return {"ok": False, "error": "not_found"}
    try:
        project, side = projects.load_project(project_id, actor=user)
        page = projects.history(project.id, actor=user, after_id=_int(data, "after_id"))
    except DomainError:
        uow.rollback()
        return {"ok": False, "error": "not_found"}
    try:
        for other in projects.Side:
            if other is not side:
                leave_room(projects.room(project.id, other))
        join_room(projects.room(project.id, side))
    except (KeyError, ValueError):  # the client went away between connecting and joining
        return {"ok": False, "error": "disconnected"}
    return {"ok": True, "side": side.value, "messages": [m.as_dict() for m in page.messages],
            "truncated": page.has_older}


def _leave_project(project_id: int) -> None:
    for side in projects.Side:
        leave_room(projects.room(project_id, side))


@authenticated_only
def on_leave(data: Any) -> dict[str, Any]:
    """Leave every room of a project."""
    project_id = _project_id(data)
    if project_id is not None:
        _leave_project(project_id)
    return {"ok": True}


@authenticated_only
def on_send(data: Any) -> dict[str, Any]:
    """Store a message (pushed to the rooms after commit); ack ``{ok, id}`` or ``{ok: false, error}``."""
    user = _user()
    project_id = _project_id(data)
    if user is None or project_id is None or not isinstance(data, dict):
        return {"ok": False, "error": "not_found"}
    try:
        audience = Audience(str(data.get("audience") or Audience.EVERYONE.value))
    except ValueError:
        return {"ok": False, "error": "bad_audience"}
    try:
        project, side = projects.load_project(project_id, actor=user)
        message = projects.post_message(project, user, str(data.get("body") or ""), audience=audience, side=side)
        message_id = message.id
        uow.commit()
    except NotFound:
        # Removed from the project (or never on it): stop its pushes to this connection and end it.
        uow.rollback()
        _leave_project(project_id)
        disconnect()
        return {"ok": False, "error": "not_found", "status": 404}
    except DomainError as exc:
        uow.rollback()
        return {"ok": False, "error": str(exc), "status": exc.status_code}
    return {"ok": True, "id": message_id}


@authenticated_only
def on_read(data: Any) -> dict[str, Any]:
    """Move the user's unread mark; ack ``{ok, last_id}``."""
    user = _user()
    project_id = _project_id(data)
    last_id = _int(data, "last_id") if isinstance(data, dict) else None
    if user is None or project_id is None or last_id is None:
        return {"ok": False, "error": "not_found"}
    try:
        value = projects.mark_read(project_id, actor=user, last_id=last_id)
        uow.commit()
    except DomainError:
        uow.rollback()
        _leave_project(project_id)
        return {"ok": False, "error": "not_found"}
    return {"ok": True, "last_id": value}


def disconnect_user(user_id: int) -> None:
    """End every Socket.IO connection of a user, on every process (through the message queue)."""
    try:
        conn = queue.connection()
        sids = [s.decode() if isinstance(s, bytes) else str(s) for s in conn.smembers(_sids_key(user_id))]
        conn.delete(_sids_key(user_id))
    except Exception:
        logger.warning("Could not list the sockets of user %s", user_id, exc_info=True)
        return
    for sid in sids:
        try:
            socketio.server.disconnect(sid, namespace="/")
        except Exception:
            logger.debug("Socket %s already gone", sid, exc_info=True)


EVENTS: tuple[tuple[str, Callable[..., Any]], ...] = (
    ("connect", on_connect),
    ("disconnect", on_disconnect),
    ("join", on_join),
    ("leave", on_leave),
    ("send", on_send),
    ("read", on_read),
)


def init_app(app: Flask) -> None:
    """Attach the event handlers to the Socket.IO server that ``socketio.init_app`` just built for ``app``.

    Flask-SocketIO keeps a handler registered after ``init_app`` on that one server only, so every
    app attaches them again (tests and the e2e live server build several apps in one process; a
    server without them would accept anonymous connections). On one server a second registration
    replaces the first.
    """
    for event, handler in EVENTS:
        socketio.on_event(event, handler)
