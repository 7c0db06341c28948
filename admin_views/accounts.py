"""Accounts: users (read-only, with suspend and reinstate) and member invitations (read-only).

Secrets never reach a page: password hashes, TOTP secrets and invitation token
hashes are left out of every list and details column.
"""

from __future__ import annotations

from typing import Any, ClassVar

import sqlalchemy as sa
from flask import abort, redirect, request
from flask.typing import ResponseReturnValue
from flask_admin import expose
from flask_admin.helpers import get_redirect_target
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from admin_views.base import ReadOnlyModelView, current_actor, form_error_flash, run_decision
from admin_views.labels import COMPANY_ROLE_LABELS, ROLE_LABELS, enum_filters, label_formatter
from admin_views.queries import entity_history
from app.extensions import db
from app.models import CompanyInvitation, Role, User, UserSession
from app.services import accounts
from forms.admin import ConfirmForm, ReasonForm


def _account_state(view: Any, context: Any, model: User, name: str) -> Markup:
    if model.suspended_at is not None:
        return Markup('<span class="badge badge-dark">{}</span>').format(_("Suspended"))
    if model.email_verified_at is None:
        return Markup('<span class="badge badge-secondary">{}</span>').format(_("E-mail not verified"))
    return Markup('<span class="badge badge-success">{}</span>').format(_("Active"))


class UserView(ReadOnlyModelView):
    """Every account; an admin can suspend one (with a reason) and reinstate it."""

    details_template = "admin/accounts/user.html"
    column_list = (
        "id",
        "email",
        "full_name",
        "role",
        "company",
        "company_role",
        "state",
        "last_login_at",
        "created_at",
    )
    column_sortable_list = ("id", "email", "full_name", "role", "last_login_at", "created_at")
    column_default_sort = ("id", True)
    column_searchable_list = ("email", "full_name")
    column_filters = (
        *enum_filters(User.role, _l("Role"), ROLE_LABELS),
        *enum_filters(User.company_role, _l("Company role"), COMPANY_ROLE_LABELS),
        "suspended_at",
        "email_verified_at",
        "created_at",
    )
    column_select_related_list = (User.company,)
    column_formatters: ClassVar[dict[str, Any]] = {
        "state": _account_state,
        "role": label_formatter(ROLE_LABELS),
        "company_role": label_formatter(COMPANY_ROLE_LABELS),
    }
    column_labels: ClassVar[dict[str, Any]] = {
        "id": _l("ID"),
        "email": _l("E-mail"),
        "full_name": _l("Name"),
        "role": _l("Role"),
        "company": _l("Company"),
        "company_role": _l("Company role"),
        "state": _l("Account"),
        "last_login_at": _l("Last login"),
        "created_at": _l("Created"),
        "suspended_at": _l("Suspended"),
        "email_verified_at": _l("E-mail verified"),
    }

    def load(self, user_id: int) -> User:
        user = db.session.get(User, user_id)
        if user is None:
            abort(404)
        return user

    @expose("/details/")
    def details_view(self) -> ResponseReturnValue:
        user_id = request.args.get("id", type=int)
        if user_id is None:
            return redirect(self.get_url(".index_view"))
        return self.render_details(self.load(user_id))

    def render_details(
        self, user: User, *, suspend_form: ReasonForm | None = None, status: int = 200
    ) -> ResponseReturnValue:
        live_sessions = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(UserSession)
            .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
        )
        html = self.render(
            self.details_template,
            model=user,
            suspend_form=suspend_form or ReasonForm(formdata=None, prefix="suspend"),
            reinstate_form=ConfirmForm(formdata=None, prefix="reinstate"),
            live_sessions=live_sessions or 0,
            history=entity_history("users", user.id),
            is_self=user.id == current_actor().id,
            # Mirrors the service's rule (another admin only by a super-admin), to hide useless buttons.
            needs_superadmin=user.role is Role.ADMIN and not current_actor().is_superadmin,
            return_url=get_redirect_target() or self.get_url(".index_view"),
        )
        return html, status

    @expose("/<int:user_id>/suspend", methods=("POST",))
    def suspend(self, user_id: int) -> ResponseReturnValue:
        user = self.load(user_id)
        form = ReasonForm(prefix="suspend")
        if not form.validate():
            form_error_flash()
            return self.render_details(user, suspend_form=form, status=400)
        run_decision(
            lambda: accounts.suspend_user(user_id, actor=current_actor(), reason=form.reason.data.strip()),
            _("Account suspended: its sessions are ended and it cannot log in."),
        )
        return redirect(self.get_url(".details_view", id=user_id))

    @expose("/<int:user_id>/reinstate", methods=("POST",))
    def reinstate(self, user_id: int) -> ResponseReturnValue:
        self.load(user_id)
        form = ConfirmForm(prefix="reinstate")
        if not form.validate():
            form_error_flash()
            return redirect(self.get_url(".details_view", id=user_id))
        run_decision(
            lambda: accounts.reinstate_user(user_id, actor=current_actor()),
            _("Account reinstated: the person can log in again."),
        )
        return redirect(self.get_url(".details_view", id=user_id))


def _invitation_state(view: Any, context: Any, model: CompanyInvitation, name: str) -> Markup:
    from app.models.mixins import utcnow

    if model.accepted_at is not None:
        return Markup('<span class="badge badge-success">{}</span>').format(_("Accepted"))
    if model.revoked_at is not None:
        return Markup('<span class="badge badge-dark">{}</span>').format(_("Revoked"))
    if model.expires_at <= utcnow():
        return Markup('<span class="badge badge-secondary">{}</span>').format(_("Expired"))
    return Markup('<span class="badge badge-warning">{}</span>').format(_("Open"))


class InvitationView(ReadOnlyModelView):
    """Invitations of colleagues by company owners (read-only)."""

    column_list = (
        "id",
        "company",
        "email",
        "invited_by",
        "state",
        "created_at",
        "expires_at",
        "accepted_at",
        "revoked_at",
    )
    column_details_list = (
        "id",
        "company",
        "email",
        "invited_by",
        "state",
        "created_at",
        "expires_at",
        "accepted_at",
        "revoked_at",
        "accepted_user_id",
    )
    column_sortable_list = ("id", "email", "created_at", "expires_at", "accepted_at")
    column_default_sort = ("id", True)
    column_searchable_list = ("email", "company.name")
    column_filters = ("company.name", "accepted_at", "revoked_at", "expires_at")
    column_select_related_list = (CompanyInvitation.company, CompanyInvitation.invited_by)
    column_formatters: ClassVar[dict[str, Any]] = {
        "state": _invitation_state,
        "invited_by": lambda v, c, m, n: m.invited_by.email if m.invited_by else "",
    }
    column_formatters_detail = column_formatters
    column_labels: ClassVar[dict[str, Any]] = {
        "id": _l("ID"),
        "company": _l("Company"),
        "company.name": _l("Company"),
        "email": _l("E-mail"),
        "invited_by": _l("Invited by"),
        "state": _l("State"),
        "created_at": _l("Sent"),
        "expires_at": _l("Expires"),
        "accepted_at": _l("Accepted"),
        "revoked_at": _l("Revoked"),
        "accepted_user_id": _l("Joined as user #"),
    }
