"""The start page, the role-aware dashboard redirect, notifications and the language switch."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from app import notification_kinds
from app.extensions import db
from app.models import Notification, User
from app.security import login_required, public, safe_next
from app.services import accounts, notifications

bp = Blueprint("portal", __name__)
PAGE_SIZE = 20


def _actor() -> User:
    user = current_user._get_current_object()
    if not isinstance(user, User):
        abort(401)
    return user


@bp.app_context_processor
def inject_unread() -> dict[str, object]:
    """The bell's unread count, on every page."""
    if current_user and current_user.is_authenticated:  # None outside a request (e-mails sent by jobs)
        return {"unread_notifications": notifications.unread_count(current_user)}
    return {"unread_notifications": 0}


@bp.get("/")
@public
def home() -> ResponseReturnValue:
    """The start page; logged-in users go to their own home."""
    if current_user.is_authenticated:
        return redirect(url_for("portal.dashboard"))
    return render_template("portal/home.html")


@bp.get("/dashboard")
@login_required
def dashboard() -> ResponseReturnValue:
    """Send each role to its home."""
    user = _actor()
    if user.is_staff:
        return redirect(url_for("admin.index"))
    if user.is_company_user:
        return redirect(url_for("company.home"))
    return redirect(url_for("expert.home"))


@bp.get("/notifications", endpoint="notifications")
@login_required
def notifications_page() -> ResponseReturnValue:
    """The user's notifications, newest first, paginated."""
    user = _actor()
    page = db.paginate(
        sa.select(Notification).where(Notification.user_id == user.id).order_by(Notification.id.desc()),
        page=request.args.get("page", 1, type=int),
        per_page=PAGE_SIZE,
        error_out=False,
    )
    return render_template("portal/notifications.html", page=page, render_note=render_note)


@bp.post("/notifications/<int:notification_id>/open")
@login_required
def open_notification(notification_id: int) -> ResponseReturnValue:
    """Mark a notification read and follow its link."""
    note = notifications.mark_read(notification_id, actor=_actor())
    return redirect(safe_next(note.link, url_for("portal.notifications")))


@bp.post("/notifications/read-all")
@login_required
def read_all() -> ResponseReturnValue:
    """Mark every notification read."""
    notifications.mark_all_read(actor=_actor())
    return redirect(url_for("portal.notifications"))


@bp.post("/language")
@public
def set_language() -> ResponseReturnValue:
    """Switch the language; saved on the account when logged in."""
    code = request.form.get("language", "")
    if code not in current_app.config["LANGUAGES"]:
        abort(400)
    session["locale"] = code
    if current_user.is_authenticated:
        accounts.set_preferences(_actor().id, actor=_actor(), locale=code)
    return redirect(safe_next(request.form.get("next"), url_for("portal.home")))


def render_note(note: Notification) -> tuple[str, str]:
    """The subject and message of a notification in the current language."""
    kind = notification_kinds.KINDS.get(note.kind)
    if kind is None:
        return note.kind, ""
    try:
        return str(kind.subject) % note.params, str(kind.message) % note.params
    except (KeyError, TypeError, ValueError):
        return str(kind.subject), _("(details unavailable)")
