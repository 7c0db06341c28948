"""Flask glue for server-side sessions: the user loader, log in, log out."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, current_app, g, request, session
from flask_login import login_user, logout_user

from app.extensions import login_manager
from app.models import User
from app.services import audit, sessions

SESSION_KEY = "sid"


def log_in(user: User) -> None:
    """Open a fresh server-side session for ``user`` (the old cookie content is dropped)."""
    session.clear()  # no fixation: a planted cookie never becomes authenticated
    token = sessions.open_session(user, ip=request.remote_addr, user_agent=request.user_agent.string)
    session[SESSION_KEY] = token
    session.permanent = False
    login_user(user)


def log_out() -> None:
    """Revoke the current session and clear the cookie."""
    sessions.revoke(session.get(SESSION_KEY))
    logout_user()
    session.clear()


def current_token() -> str | None:
    """The current session's token (to keep it when revoking the others)."""
    token = session.get(SESSION_KEY)
    return str(token) if token else None


def _load_user(user_id: str) -> User | None:
    cfg = current_app.config
    user = sessions.resolve(
        session.get(SESSION_KEY),
        idle=timedelta(minutes=cfg["SESSION_IDLE_MINUTES"]),
        absolute=timedelta(hours=cfg["SESSION_ABSOLUTE_HOURS"]),
    )
    if user is None or str(user.id) != user_id:
        session.clear()
        return None
    return user


def _remember_ip() -> None:
    audit.client_ip.set(request.remote_addr)


def _fresh_request_globals() -> None:
    """Start every request with an empty ``g``.

    In production each request gets its own app context, so this changes nothing.
    Tests hold one app context around many requests; without this they would share
    ``g``, and with it Flask-Login's cached user (a logged-out or foreign cookie would
    still look logged in), Flask-Babel's locale and the CSP settings, across requests
    and even across test clients.
    """
    for key in list(g):
        g.pop(key, None)


def init_app(app: Flask) -> None:
    """Install the user loader."""
    # First of all before_request hooks: nothing may read a previous request's user.
    app.before_request_funcs.setdefault(None, []).insert(0, _fresh_request_globals)
    login_manager.user_loader(_load_user)
    login_manager.session_protection = None  # the server-side session is the protection
    login_manager.login_message = None
    app.before_request(_remember_ip)
