"""The channel tab (WORKFLOW.md §7–8): the reader's projects, the channel page and its HTTP fallback.

The page works without JavaScript (history rendered on the server, a plain
form that posts and redirects back); app/static/js/channel.js makes it live
over Socket.IO (app/realtime.py) and uses the JSON routes here when the socket
cannot connect. What each reader sees (masking, audiences, pseudonyms) is
decided in app/services/projects.py.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from flask import current_app, flash, g, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy.exc import SQLAlchemyError
from wtforms import SelectChoice, SelectField, TextAreaField
from wtforms.validators import DataRequired, Length

from app.blueprints.projects import actor, bp, load, members_only, tabs_context
from app.errors import wants_json
from app.exceptions import DomainError
from app.models import Audience, Project, ProjectStatus, User
from app.models.mixins import utcnow
from app.pagination import Pager
from app.services import projects, uow

logger = logging.getLogger(__name__)

PER_PAGE = 20
STATUS_FILTERS: dict[str, ProjectStatus | None] = {
    "active": ProjectStatus.ACTIVE,
    "completed": ProjectStatus.COMPLETED,
    "cancelled": ProjectStatus.CANCELLED,
    "all": None,
}
AUDIENCE_CHOICES = [
    SelectChoice(Audience.EVERYONE.value, _l("Everyone on the project")),
    SelectChoice(Audience.COMPANY.value, _l("The company only (and the hub)")),
    SelectChoice(Audience.EXPERT.value, _l("The expert only (and the hub)")),
]
# Where a message about a file, a call or a progress update leads (when that tab exists).
KIND_TABS = {"file": "projects.files", "call": "projects.calls", "progress": "projects.plan"}


class MessageForm(FlaskForm):
    """One channel message; the hub also picks who reads it (the service refuses that to anyone else)."""

    body = TextAreaField(
        _l("Message"),
        validators=[
            DataRequired(message=_l("Write a message first.")),
            Length(max=projects.MAX_MESSAGE_CHARS,
                   message=_l("A message can have at most %(max)d characters.")),
        ],
        render_kw={"rows": 3, "maxlength": projects.MAX_MESSAGE_CHARS},
    )
    audience = SelectField(_l("Who reads it"), choices=AUDIENCE_CHOICES, default=Audience.EVERYONE.value)


@bp.app_context_processor
def inject_projects_unread() -> dict[str, Any]:
    """``projects_unread_total()`` for the navigation badge, computed only when a page calls it."""

    def total() -> int:
        if "projects_unread_total" not in g:
            g.projects_unread_total = _unread_total()
        return int(g.projects_unread_total)

    return {"projects_unread_total": total}


def _unread_total() -> int:
    user = current_user._get_current_object() if current_user else None  # None outside a request
    if not isinstance(user, User) or not user.is_authenticated:
        return 0
    if not (user.is_staff or user.is_company_user or user.is_expert):
        return 0
    try:
        return projects.unread_total(user)
    except SQLAlchemyError:  # an error page after a failed transaction still renders its navigation
        logger.warning("Could not count unread project messages", exc_info=True)
        return 0


def _message_time(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


def _kind_links(project: Project) -> dict[str, str]:
    return {kind: url_for(endpoint, project_id=project.id) for kind, endpoint in KIND_TABS.items()
            if endpoint in current_app.view_functions}


def _i18n() -> dict[str, str]:
    """The texts channel.js shows, in the reader's language."""
    return {
        "everyone": _("Everyone"),
        "company": _("Company and hub"),
        "expert": _("Expert and hub"),
        "masked": _("Contact details hidden by Plasticonnect Hub"),
        "masked_for_others": _("The other side saw this masked"),
        "live": _("Live"),
        "connecting": _("Connecting…"),
        "reconnecting": _("Reconnecting…"),
        "offline": _("Offline – refreshing every few seconds"),
        "sending": _("Sending…"),
        "send": _("Send"),
        "empty": _("Write a message first."),
        "send_failed": _("The message could not be sent. Check your connection and try again."),
        "load_failed": _("Older messages could not be loaded. Try again."),
        "no_older": _("This is the beginning of the channel."),
        "open_tab": _("Open"),
    }


def _render_channel(project_id: int, *, form: MessageForm | None = None, before: int | None = None,
                    status: int = 200) -> ResponseReturnValue:
    """The channel page; the latest page of history also moves the reader's unread mark."""
    user = actor()
    project, side = load(project_id)
    page = projects.history(project.id, actor=user, before_id=before)
    latest = before is None
    if latest and status == 200 and page.last_id:
        projects.mark_read(project.id, actor=user, last_id=page.last_id)
        uow.commit()
        project, side = load(project_id)
    form = form or MessageForm(formdata=None)
    return render_template(
        "projects/channel.html", **tabs_context(project, side, "channel"), page=page, form=form, latest=latest,
        author_ref=projects.author_ref(project.id, user.id), message_time=_message_time,
        kind_links=_kind_links(project), i18n=_i18n(), search_query=None, results=None,
    ), status


def _first_error(form: MessageForm) -> str:
    for errors in form.errors.values():
        for error in errors:
            return str(error)
    return _("The message could not be sent.")


# The list of projects ---------------------------------------------------------------------


@bp.get("/")
@members_only
def index() -> ResponseReturnValue:
    """The reader's projects: unread messages, progress, next due date, overdue milestones; by status."""
    user = actor()
    key = request.args.get("status", "active")
    if key not in STATUS_FILTERS:
        key = "active"
    page = max(1, request.args.get("page", 1, type=int) or 1)
    cards, total = projects.projects_for(user, status=STATUS_FILTERS[key], page=page, per_page=PER_PAGE)
    return render_template("projects/index.html", cards=cards, status_key=key, pagination=Pager(page, PER_PAGE, total),
                           today=utcnow().date())


# The channel --------------------------------------------------------------------------------


@bp.get("/<int:project_id>")
@members_only
def channel(project_id: int) -> ResponseReturnValue:
    """The channel: the latest messages (``?before=<id>`` for older ones) and the send form; marks them read."""
    return _render_channel(project_id, before=request.args.get("before", type=int))


@bp.get("/<int:project_id>/messages.json")
@members_only
def messages(project_id: int) -> ResponseReturnValue:
    """A page of history as JSON: the newest before ``before``, or everything after ``after`` (catch-up)."""
    user = actor()
    project, _side = load(project_id)
    page = projects.history(project.id, actor=user, before_id=request.args.get("before", type=int),
                            after_id=request.args.get("after", type=int))
    return jsonify(messages=[m.as_dict() for m in page.messages], has_older=page.has_older, last_id=page.last_id)


@bp.post("/<int:project_id>/messages")
@members_only
def post_message(project_id: int) -> ResponseReturnValue:
    """Send a message (the form without JavaScript, or JSON for channel.js when the socket is down)."""
    user = actor()
    project, _side = load(project_id)
    as_json = wants_json()
    form = MessageForm()
    if not form.validate():
        if as_json:
            return jsonify(ok=False, error=_first_error(form), errors=form.errors), 422
        flash(_("Your message was not sent: %(error)s What you typed is kept below.", error=_first_error(form)),
              "danger")
        return _render_channel(project_id, form=form, status=422)
    try:
        message = projects.post_message(project, user, form.body.data or "",
                                        audience=Audience(form.audience.data or Audience.EVERYONE.value))
        message_id = message.id
        uow.commit()
    except DomainError as exc:
        uow.rollback()
        if as_json:
            return jsonify(ok=False, error=str(exc)), exc.status_code
        flash(str(exc), "danger")
        return _render_channel(project_id, form=form, status=exc.status_code)
    if as_json:
        return jsonify(ok=True, id=message_id), 201
    return redirect(url_for("projects.channel", project_id=project_id, _anchor=f"m{message_id}"))


@bp.post("/<int:project_id>/read")
@members_only
def mark_read(project_id: int) -> ResponseReturnValue:
    """Move the reader's unread mark up to ``last_id`` (it never goes back); answers ``{last_id}``."""
    user = actor()
    project, _side = load(project_id)
    data = request.get_json(silent=True) if request.is_json else None
    raw = data.get("last_id") if isinstance(data, dict) else request.form.get("last_id")
    try:
        last_id = int(raw) if raw is not None and raw != "" else None
    except (TypeError, ValueError):
        last_id = None
    if last_id is None:
        return jsonify(error=_("Say up to which message you have read (last_id).")), 400
    value = projects.mark_read(project.id, actor=user, last_id=last_id)
    uow.commit()
    return jsonify(last_id=value)


@bp.get("/<int:project_id>/search")
@members_only
def search(project_id: int) -> ResponseReturnValue:
    """Messages containing ``q`` that the reader can read, newest first."""
    user = actor()
    project, side = load(project_id)
    query = (request.args.get("q") or "").strip()[:200]
    results = projects.search(project.id, actor=user, text=query) if query else []
    return render_template(
        "projects/channel.html", **tabs_context(project, side, "channel"), page=None, form=None, latest=False,
        author_ref=projects.author_ref(project.id, user.id), message_time=_message_time,
        kind_links=_kind_links(project), i18n=_i18n(), search_query=query, results=results,
    )
