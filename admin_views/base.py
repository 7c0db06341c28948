"""Base classes: every back-office view is staff-only and CSRF-protected."""

from __future__ import annotations

from typing import Any

from flask import abort, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_admin import AdminIndexView, BaseView, expose
from flask_admin.contrib.sqla import ModelView
from flask_admin.form import SecureForm
from flask_login import current_user

from app.models import User


def current_actor() -> User:
    """The logged-in staff user, unwrapped from the Flask-Login proxy."""
    user = current_user._get_current_object()
    if not isinstance(user, User):
        abort(401)
    return user


class StaffOnly:
    """Mixin: refuse everyone but active hub admins, on every view and endpoint."""

    def is_accessible(self) -> bool:
        return bool(current_user.is_authenticated and current_user.is_staff)

    def inaccessible_callback(self, name: str, **kwargs: Any) -> ResponseReturnValue:
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        abort(403)


class HubIndexView(StaffOnly, AdminIndexView):
    """The dashboard (the back office's home)."""

    @expose("/")
    def index(self) -> ResponseReturnValue:
        return self.render("admin/dashboard.html")


class SecureModelView(StaffOnly, ModelView):
    """Read-mostly list/details views; workflow columns are never editable."""

    form_base_class = SecureForm
    can_delete = False
    can_view_details = True
    page_size = 50
    can_set_page_size = True


class SecureBaseView(StaffOnly, BaseView):
    """A custom back-office page."""
