"""The project workspace pages (WORKFLOW.md §7–8), the same URLs for every member.

One blueprint ``projects`` over several modules, one per tab: ``channel``
(the list of projects, the channel and its HTTP fallback), ``files``, ``plan``
(milestones, tasks, progress), ``calls`` and ``qc`` (the quality-control
expert's NDA). Everything is decided in the services; a project someone is
not on "does not exist" (404). Hub admins need two-factor authentication, as
in the back office.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, abort, current_app, flash, redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from app.exceptions import DomainError, NotFound, PermissionDenied
from app.models import Project, Role, User
from app.security import roles_required
from app.services import projects, uow

T = TypeVar("T")

bp = Blueprint("projects", __name__, url_prefix="/projects")

MEMBERS = (Role.COMPANY, Role.EXPERT, Role.ADMIN)
members_only = roles_required(*MEMBERS)


class NeedsTwoFactor(Exception):
    """A hub admin without two-factor authentication opened a workspace page."""


def actor() -> User:
    """The logged-in user; a hub admin without two-factor authentication is sent to enrol."""
    user = current_user._get_current_object()
    if not isinstance(user, User):
        abort(401)
    if user.is_staff and not user.totp_enabled:
        raise NeedsTwoFactor()
    return user


def load(project_id: int) -> tuple[Project, projects.Side]:
    """The project and the reader's side, or 404."""
    try:
        return projects.load_project(project_id, actor=actor())
    except NotFound:
        abort(404)


def perform(action: Callable[[], T]) -> T | DomainError:
    """Run one service transition and commit (the view's single commit point).

    NotFound and PermissionDenied are rolled back and re-raised (the blueprint's 404/403 pages);
    any other DomainError is rolled back and returned, for the view to show next to what was typed.
    """
    try:
        result = action()
        uow.commit()
    except (NotFound, PermissionDenied):
        uow.rollback()
        raise
    except DomainError as exc:
        uow.rollback()
        return exc
    return result


def tabs_context(project: Project, side: projects.Side, tab: str) -> dict[str, Any]:
    """What the workspace layout needs: the project, the reader's side, the active tab."""
    tabs = [(key, endpoint) for key, endpoint in TABS if endpoint in current_app.view_functions]
    return {"project": project, "side": side.value, "tab": tab, "writable": projects.is_writable(project),
            "project_tabs": tabs}


TABS = (("channel", "projects.channel"), ("files", "projects.files"), ("plan", "projects.plan"),
        ("calls", "projects.calls"), ("delivery", "projects.delivery"), ("disputes", "projects.disputes"),
        ("rating", "projects.rate"))


@bp.errorhandler(NeedsTwoFactor)
def _two_factor(_exc: NeedsTwoFactor) -> Response:
    flash(_("Turn on two-factor authentication to open project workspaces."), "warning")
    return redirect(url_for("auth.totp_setup"))


# The tab modules attach their routes to ``bp``.
from app.blueprints.projects import calls, channel, delivery, disputes, files, plan, qc, qc_review, ratings  # noqa: E402,F401
